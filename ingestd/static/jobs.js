// Jobs: one row per job, problems first, with its recent runs as a small chart.

import { getJSON } from "./api.js";
import { runBars } from "./charts.js";
import {
  ago, fmtDuration, fmtNumber, fmtPercent, h, healthBadge, href, replaceKeepingFocus, statusBadge,
} from "./dom.js";

const SEVERITY = { failing: 0, missed: 1, late: 2, unknown: 3, ok: 4 };
const RECENT_RUNS = 20;

// /v1/jobs answers every job at once (it takes no limit or cursor).
export async function jobList() {
  return (await getJSON("v1/jobs")).items;
}

export function mount(root, ctx) {
  ctx.title("Jobs");
  const counts = h("p", { class: "health-counts" });
  const body = h("div", { class: "table-wrap" });
  root.append(
    h("div", { class: "view-head" },
      h("h1", {}, "Jobs"),
      h("p", { class: "muted" },
        "Problems first. Bars: the last runs, oldest left; height is duration, colour is outcome.")),
    counts,
    body,
  );
  let shown = "";

  async function refresh() {
    // Each job's newest runs come in the same answer (?recent=), for the sparklines.
    const jobs = (await getJSON("v1/jobs", { recent: RECENT_RUNS })).items;
    const key = JSON.stringify(jobs);
    if (key !== shown) {
      shown = key;
      render(jobs);
    }
    ctx.loaded();
  }

  function render(jobs) {
    if (!jobs.length) {
      counts.replaceChildren();
      body.replaceChildren(empty());
      return;
    }
    jobs.sort((a, b) =>
      (SEVERITY[a.health] ?? 3) - (SEVERITY[b.health] ?? 3) || String(a.job).localeCompare(b.job));
    const tally = {};
    for (const job of jobs) tally[job.health || "unknown"] = (tally[job.health || "unknown"] || 0) + 1;
    counts.replaceChildren(...Object.keys(SEVERITY).filter((k) => tally[k]).map((k) =>
      h("span", { class: "count" }, healthBadge(k), ` ${tally[k]}`)));
    replaceKeepingFocus(body, h("table", { class: "jobs-table cards" },
      h("caption", { class: "visually-hidden" }, "Jobs and their health"),
      h("thead", {}, h("tr", {}, ["Health", "Job", "Last run", "Success rate", "Avg duration",
        "Runs", "Recent runs"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, jobs.map((job) => row(job, job.recent_runs || [])))));
  }

  function row(job, runs) {
    const last = runs[0] || (typeof job.last_run === "object" ? job.last_run : null);
    const lastAt = last?.started_at || (typeof job.last_run === "string" ? job.last_run : null);
    return h("tr", { class: `health-row health-${job.health || "unknown"}`, dataset: { job: job.job } },
      h("td", { "data-label": "Health" }, healthBadge(job.health)),
      h("th", { scope: "row", "data-label": "Job" },
        h("a", { href: href("runs", "", { job: job.job }), dataset: { focusKey: `job:${job.job}` } },
          job.job ?? "(no job)")),
      h("td", { "data-label": "Last run" },
        last
          ? h("a", { href: href("run", last.run_id), class: "last-run", dataset: { focusKey: `last:${job.job}` } },
            statusBadge(last.status), " ", ago(lastAt))
          : ago(lastAt)),
      h("td", { "data-label": "Success rate" }, fmtPercent(job.success_rate)),
      h("td", { "data-label": "Avg duration" }, fmtDuration(job.avg_duration_ms)),
      h("td", { "data-label": "Runs" }, fmtNumber(job.runs_total)),
      h("td", { "data-label": "Recent runs", class: "spark" }, runs.length ? runBars(runs) : "–"));
  }

  refresh().catch(ctx.report);
  return { refresh };
}

function empty() {
  const origin = new URL(".", document.baseURI).href.replace(/\/$/, "");
  return h("div", { class: "empty" },
    h("h2", {}, "No jobs yet"),
    h("p", {}, "Start a run and it shows up here within seconds, no reload needed:"),
    h("pre", { class: "json" },
      `curl -s ${origin}/v1/runs -d '{"job": "hello", "trigger": "manual"}'`),
    h("p", { class: "muted" }, "With tokens on, add -H 'Authorization: Bearer <ingest token>'."));
}
