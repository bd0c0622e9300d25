// Runs: filters (job, status, time range) in the URL, a colour-coded table, pagination.

import { getJSON } from "./api.js";
import {
  FINAL, RANGES, STATUSES, ago, field, fmtDuration, fmtNumber, h, href, localToISO,
  progressBar, rangeSince, replaceKeepingFocus, select, statusBadge,
} from "./dom.js";
import { fillJobSelect, shownStatus } from "./jobs.js";

const FILTERS = ["job", "status", "range", "since", "until", "trigger"];

export function mount(root, ctx) {
  ctx.title("Runs");
  // Filters from the URL; attr.<key>=<value> filters pass through to the API untouched.
  const state = {};
  for (const [key, value] of ctx.params) state[key] = value;
  const cursors = []; // cursors of the pages before this one, for "Newer"

  const jobSelect = select("job", [["", "All jobs"]], state.job || "", () => change({ job: jobSelect.value }));
  const statusBoxes = STATUSES.map((s) => h("input", {
    type: "checkbox", name: "status", value: s,
    checked: (state.status || "").split(",").includes(s),
    onchange: () => change({
      status: statusBoxes.filter((b) => b.checked).map((b) => b.value).join(","),
    }),
  }));
  const rangeSelect = select("range", RANGES, state.range || (state.since ? "custom" : ""), () =>
    change({ range: rangeSelect.value, since: "", until: "" }));
  const since = h("input", { type: "datetime-local", name: "since", value: toLocal(state.since),
    onchange: () => change({ since: localToISO(since.value) || "" }) });
  const until = h("input", { type: "datetime-local", name: "until", value: toLocal(state.until),
    onchange: () => change({ until: localToISO(until.value) || "" }) });
  const custom = h("div", { class: "custom-range" }, field("From", since), field("To", until));
  const clear = h("button", { type: "button", onclick: () => {
    for (const key of Object.keys(state)) delete state[key];
    for (const box of statusBoxes) box.checked = false;
    jobSelect.value = "";
    rangeSelect.value = "";
    change({});
  } }, "Clear filters");

  const summary = h("p", { class: "muted", "aria-live": "polite" });
  const table = h("div", { class: "table-wrap" });
  const pager = h("nav", { class: "pager", "aria-label": "Pages" });
  root.append(
    h("div", { class: "view-head" }, h("h1", {}, "Runs")),
    h("form", { class: "filters", onsubmit: (e) => e.preventDefault() },
      field("Job", jobSelect),
      h("fieldset", { class: "statuses" }, h("legend", {}, "Status"),
        statusBoxes.map((box) => h("label", { class: `check status-${box.value}` }, box,
          box.value.replaceAll("_", " ")))),
      field("Time", rangeSelect),
      custom,
      clear),
    summary, table, pager,
  );
  showCustom();

  function showCustom() {
    custom.hidden = rangeSelect.value !== "custom";
  }

  function change(values) {
    Object.assign(state, values);
    delete state.cursor;
    cursors.length = 0;
    showCustom();
    ctx.setParams(urlState());
    load().catch(ctx.report);
  }

  function urlState() {
    const out = {};
    for (const [key, value] of Object.entries(state)) if (value) out[key] = value;
    return out;
  }

  function apiParams() {
    const params = { limit: 50 };
    for (const [key, value] of Object.entries(state)) {
      if (key === "range") continue;
      if (FILTERS.includes(key) || key.startsWith("attr.") || key === "cursor" || key === "limit") {
        params[key] = value;
      }
    }
    if (state.range && state.range !== "custom") {
      params.since = rangeSince(state.range);
      delete params.until;
    }
    return params;
  }

  let jobsLoaded = false;
  async function loadJobs() {
    await fillJobSelect(jobSelect, state.job);
    jobsLoaded = true;
  }

  let shown = "";
  async function load() {
    const answer = await getJSON("v1/runs", apiParams());
    if (!jobsLoaded) await loadJobs();
    const key = JSON.stringify(answer);
    if (key !== shown) {
      shown = key;
      render(answer);
    }
    ctx.loaded();
  }

  function render({ items, next_cursor: next }) {
    const filtered = Object.keys(urlState()).some((k) => k !== "cursor");
    summary.textContent = items.length
      ? `${items.length} run${items.length === 1 ? "" : "s"}${next ? " on this page" : ""}, newest first`
      : filtered ? "No run matches these filters." : "No runs yet.";
    replaceKeepingFocus(table, items.length ? h("table", { class: "runs-table cards" },
      h("caption", { class: "visually-hidden" }, "Runs, newest first"),
      h("thead", {}, h("tr", {}, ["Status", "Job", "Started", "Duration", "Trigger", "Progress / step",
        "Counters", "Logs", "Error"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, items.map(runRow))) : []);
    const buttons = [];
    if (state.cursor) {
      buttons.push(h("button", { type: "button", onclick: () => page(cursors.pop() || "") },
        cursors.length ? "← Newer" : "← Newest"));
    }
    if (next) {
      buttons.push(h("button", { type: "button", onclick: () => {
        cursors.push(state.cursor || "");
        page(next);
      } }, "Older →"));
    }
    pager.replaceChildren(...buttons);
  }

  function page(cursor) {
    state.cursor = cursor;
    if (!cursor) delete state.cursor;
    ctx.setParams(urlState());
    load().catch(ctx.report);
  }

  load().catch(ctx.report);
  return { refresh: load };
}

export function runRow(run) {
  const final = FINAL.has(run.status);
  const shown = shownStatus(run);
  return h("tr", { class: `status-row status-${shown}`, dataset: { runId: run.run_id, status: run.status } },
    h("td", { "data-label": "Status" },
      h("a", { href: href("run", run.run_id), dataset: { focusKey: `run:${run.run_id}` },
        "aria-label": `${run.job ?? "run"} ${shown.replaceAll("_", " ")}, open run` },
      statusBadge(shown))),
    h("th", { scope: "row", "data-label": "Job" },
      run.job == null ? "(no job)" : h("a", { href: href("job", run.job) }, run.job)),
    h("td", { "data-label": "Started" }, ago(run.started_at)),
    h("td", { "data-label": "Duration" }, shown === "missed" ? "did not run" : final ? fmtDuration(run.duration_ms)
      : h("span", { class: "muted" }, `${fmtDuration(Date.now() - new Date(run.started_at))} so far`)),
    h("td", { "data-label": "Trigger" }, run.trigger ?? "–"),
    h("td", { "data-label": "Progress / step", class: final ? null : "wide" }, final
      ? h("span", { class: "muted" }, run.step ?? "–")
      : h("div", { class: "progress-cell" },
        progressBar(run.progress, `${run.job} progress`),
        h("span", {}, [typeof run.progress === "number" ? `${Math.round(run.progress)} %` : "",
          run.step].filter(Boolean).join(" · ")))),
    h("td", { "data-label": "Counters", class: "counters" }, counters(run.counters)),
    h("td", { "data-label": "Logs" }, logCounts(run.log_counts)),
    errorCell(run.error));
}

// The run's error, shortened to a line; the whole text in the title. Empty without one.
const ERROR_CHARS = 80;
function errorCell(error) {
  const text = error && typeof error === "object"
    ? [error.type, error.message].filter(Boolean).join(": ")
    : error ? String(error) : "";
  if (!text) return h("td", { "data-label": "Error", class: "run-error" });
  const short = text.length > ERROR_CHARS ? `${text.slice(0, ERROR_CHARS - 1)}…` : text;
  return h("td", { "data-label": "Error", class: "run-error", title: text }, short);
}

function counters(values) {
  const entries = Object.entries(values || {});
  if (!entries.length) return "–";
  return entries.slice(0, 3).map(([k, v]) => `${k} ${fmtNumber(v)}`).join(" · ") +
    (entries.length > 3 ? " …" : "");
}

export function logCounts(counts) {
  const c = counts || {};
  const errs = (c.error || 0) + (c.critical || 0);
  const parts = [];
  if (errs) parts.push(h("span", { class: "badge level-error" }, `${errs} error${errs > 1 ? "s" : ""}`));
  if (c.warning) parts.push(h("span", { class: "badge level-warning" }, `${c.warning} warning${c.warning > 1 ? "s" : ""}`));
  const total = Object.values(c).reduce((a, b) => a + (b || 0), 0);
  if (!parts.length) parts.push(h("span", { class: "muted" }, String(total)));
  return parts;
}

function toLocal(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const off = d.getTimezoneOffset() * 60000;
  return new Date(d.getTime() - off).toISOString().slice(0, 16);
}
