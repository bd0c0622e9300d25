// The shell: hash router (#/view/arg?filters), navigation, auto-refresh, alerts.
// Filters live in the URL's hash, so any view can be bookmarked or shared as it is.

import { forgetToken, token } from "./api.js";
import * as alertsView from "./alerts.js";
import { h, href, updateTimes } from "./dom.js";
import * as errors from "./errors.js";
import * as job from "./job.js";
import * as jobs from "./jobs.js";
import * as logs from "./logs.js";
import * as run from "./run.js";
import * as runs from "./runs.js";
import * as stats from "./stats.js";

const VIEWS = { jobs, runs, run, errors, stats, alerts: alertsView, logs, job };
// Views that show one thing: without their argument the address means the jobs page.
const NEEDS_ARG = new Set(["run", "job"]);
// A view of one thing keeps its list's link highlighted in the navigation.
const NAV_OF = { run: "runs", job: "jobs" };
const main = document.getElementById("main");
const alerts = document.getElementById("alerts");
const pauseButton = document.getElementById("pause");
const updated = document.getElementById("updated");

// ?refresh=<seconds> in the page's query string (not the hash) overrides the 10 s default.
const REFRESH_MS = (() => {
  const asked = Number(new URLSearchParams(location.search).get("refresh"));
  return asked > 0 ? Math.max(200, asked * 1000) : 10_000;
})();

let current = null; // { name, view, hash }
let paused = sessionStorage.getItem("ingestd.paused") === "1";
let busy = false;
let generation = 0;

function parseHash(hash = location.hash) {
  const raw = hash.replace(/^#\/?/, "");
  const cut = raw.indexOf("?");
  const path = cut < 0 ? raw : raw.slice(0, cut);
  const [name, ...rest] = path.split("/").filter(Boolean);
  const arg = decodeURIComponent(rest.join("/"));
  return {
    name: VIEWS[name] && (!NEEDS_ARG.has(name) || arg) ? name : "jobs",
    arg,
    params: new URLSearchParams(cut < 0 ? "" : raw.slice(cut + 1)),
  };
}

function context(name, arg, params) {
  return {
    arg,
    params,
    href,
    // A view changes its own filters: the URL follows (shareable, back button works),
    // the view does not get rebuilt.
    setParams(values, { replace = false } = {}) {
      const next = href(name, arg, values);
      if (next === location.hash) return;
      history[replace ? "replaceState" : "pushState"](null, "", next);
      current.hash = location.hash;
    },
    title(text) {
      document.title = `${text} · ingestd`;
    },
    report,
    loaded,
  };
}

function route() {
  if (current && current.hash === location.hash) return;
  const { name, arg, params } = parseHash();
  current?.view?.destroy?.();
  generation += 1;
  report(null);
  for (const link of document.querySelectorAll("nav a")) {
    if (link.dataset.view === (NAV_OF[name] || name)) {
      link.setAttribute("aria-current", "page");
    } else {
      link.removeAttribute("aria-current");
    }
  }
  main.replaceChildren();
  main.dataset.view = name;
  main.dataset.state = "loading";
  current = { name, hash: location.hash, view: null };
  current.view = VIEWS[name].mount(main, context(name, arg, params));
}

function report(error) {
  if (!error) {
    alerts.replaceChildren();
    return;
  }
  if (error.name === "AbortError") return;
  alerts.replaceChildren(h("p", { class: "notice error" }, `Could not load: ${error.message}`));
  main.dataset.state = "error";
  updated.textContent = "update failed";
}

// Views call this after each successful load; tests wait on data-state and data-loads.
function loaded() {
  report(null);
  main.dataset.state = "ready";
  main.dataset.loads = String(Number(main.dataset.loads || 0) + 1);
  const now = new Date();
  updated.textContent = `updated ${now.toLocaleTimeString()}`;
  updated.setAttribute("title", now.toString());
  document.getElementById("forget-token").hidden = !token();
}

async function refreshNow() {
  const mine = generation;
  if (paused || busy || document.hidden || !current?.view?.refresh) return;
  busy = true;
  try {
    await current.view.refresh();
    if (mine === generation) updateTimes(main);
  } catch (error) {
    if (mine === generation) report(error);
  } finally {
    busy = false;
  }
}

async function tick() {
  await refreshNow();
  setTimeout(tick, REFRESH_MS);
}

function showPause() {
  pauseButton.setAttribute("aria-pressed", String(paused));
  pauseButton.textContent = paused ? "Resume auto-refresh" : "Pause auto-refresh";
  document.body.classList.toggle("paused", paused);
}

pauseButton.addEventListener("click", () => {
  paused = !paused;
  sessionStorage.setItem("ingestd.paused", paused ? "1" : "0");
  showPause();
  if (!paused) refreshNow();
});
document.getElementById("skip").addEventListener("click", () => main.focus());
document.getElementById("forget-token").addEventListener("click", () => {
  forgetToken();
  location.reload();
});
// The header's search box leads to the log search, which runs it over the last 24 hours.
document.getElementById("quick-search").addEventListener("submit", (event) => {
  event.preventDefault();
  const q = event.target.querySelector("input").value.trim();
  if (q) location.hash = href("logs", "", { q });
});
document.addEventListener("visibilitychange", refreshNow);
// Without a token there is nothing to show: Escape does not dismiss the token question.
document.getElementById("token-dialog").addEventListener("cancel", (e) => e.preventDefault());
window.addEventListener("hashchange", route);
window.addEventListener("popstate", route);

document.body.dataset.refreshMs = String(REFRESH_MS);
showPause();
route();
setTimeout(tick, REFRESH_MS);
