// Jobs: one row per job, problems first, with its recent runs as a small chart.

import { getJSON } from "./api.js";
import { runBars } from "./charts.js";
import {
  ago, dueIn, fmtDuration, fmtNumber, fmtPercent, h, healthBadge, href, replaceKeepingFocus,
  statusBadge,
} from "./dom.js";

const SEVERITY = { failing: 0, stuck: 1, missed: 2, late: 3, waiting: 4, unknown: 5, ok: 6 };
const RECENT_RUNS = 20;

// /v1/jobs answers every job at once (it takes no limit or cursor).
export async function jobList() {
  return (await getJSON("v1/jobs")).items;
}

// A job filter's options: "All jobs", then every job by name; the one chosen is kept even
// when no longer listed (a link to a job whose runs are gone).
export async function fillJobSelect(select, chosen) {
  const names = (await jobList()).map((j) => j.job).filter(Boolean);
  if (chosen && !names.includes(chosen)) names.push(chosen);
  names.sort((a, b) => a.localeCompare(b));
  select.replaceChildren(...[["", "All jobs"], ...names.map((n) => [n, n])].map(([v, t]) =>
    h("option", { value: v, selected: v === (chosen || "") }, t)));
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
    const answer = await getJSON("v1/jobs", { recent: RECENT_RUNS });
    const key = JSON.stringify(answer);
    if (key !== shown) {
      shown = key;
      render(answer.items, answer.days);
    }
    ctx.loaded();
  }

  function render(jobs, days) {
    if (!jobs.length) {
      counts.replaceChildren();
      body.replaceChildren(empty());
      return;
    }
    jobs.sort((a, b) =>
      (SEVERITY[a.health] ?? 5) - (SEVERITY[b.health] ?? 5) || String(a.job).localeCompare(b.job));
    const tally = {};
    for (const job of jobs) tally[job.health || "unknown"] = (tally[job.health || "unknown"] || 0) + 1;
    counts.replaceChildren(...Object.keys(SEVERITY).filter((k) => tally[k]).map((k) =>
      h("span", { class: "count" }, healthBadge(k), ` ${tally[k]}`)));
    replaceKeepingFocus(body, h("table", { class: "jobs-table cards" },
      h("caption", { class: "visually-hidden" }, "Jobs and their health"),
      h("thead", {}, h("tr", {}, ["Health", "Job", "Schedule", "Last run", ...windowed(days),
        "Recent runs"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, jobs.map((job) => row(job, job.recent_runs || [], days)))));
  }

  function row(job, runs, days) {
    const [rate, avg, total] = windowed(days);
    const last = runs[0] || (typeof job.last_run === "object" ? job.last_run : null);
    const lastAt = last?.started_at || (typeof job.last_run === "string" ? job.last_run : null);
    return h("tr", { class: `health-row health-${job.health || "unknown"}`, dataset: { job: job.job } },
      h("td", { "data-label": "Health" }, healthBadge(job.health), healthNote(job)),
      h("th", { scope: "row", "data-label": "Job" },
        h("a", { href: href("job", job.job), dataset: { focusKey: `job:${job.job}` } },
          job.job ?? "(no job)")),
      h("td", { "data-label": "Schedule", class: "schedule" }, scheduleCell(job)),
      h("td", { "data-label": "Last run" },
        last
          ? h("a", { href: href("run", last.run_id), class: "last-run", dataset: { focusKey: `last:${job.job}` } },
            statusBadge(shownStatus(last)), " ", ago(lastAt))
          : job.health === "waiting" ? "waiting for first run" : ago(lastAt)),
      h("td", { "data-label": rate, title: "Missed slots left out" }, fmtPercent(job.success_rate)),
      h("td", { "data-label": avg, title: "Missed slots left out" }, fmtDuration(job.avg_duration_ms)),
      h("td", { "data-label": total },
        job.missed_count
          ? `${fmtNumber(job.runs_total - job.missed_count)} + ${fmtNumber(job.missed_count)} missed`
          : fmtNumber(job.runs_total)),
      h("td", { "data-label": "Recent runs", class: "spark" }, runs.length ? runBars(runs) : "–"));
  }

  refresh().catch(ctx.report);
  return { refresh };
}

// The figures are over the answer's window (?days=, 7 by default): the labels say so.
function windowed(days) {
  const d = `${days ?? 7} d`;
  return [`Success rate (${d})`, `Avg duration (${d})`, `Runs (${d})`];
}

// A missed slot is recorded as a failed 0 ms run; it is shown as what it is.
export function shownStatus(run) {
  return run.missed || run.attrs?.missed === true ? "missed" : run.status;
}

function healthNote(job) {
  if (job.health === "stuck" && job.stuck) return h("div", { class: "note" }, job.stuck.text);
  if (job.late_by_ms != null) return h("div", { class: "note" }, `late by ${fmtDuration(job.late_by_ms)}`);
  if (job.health === "waiting") return h("div", { class: "note" }, "waiting for first run");
  return "";
}

function scheduleCell(job) {
  const s = job.schedule;
  if (!s) return h("span", { class: "muted" }, "none");
  const what = s.every ? `every ${s.every}` : `cron ${s.cron}${s.timezone && s.timezone !== "UTC" ? ` (${s.timezone})` : ""}`;
  return [h("code", {}, what),
    job.due_at ? h("div", { class: "note due" }, dueLabel(job.due_at), dueIn(job.due_at)) : ""];
}

// "next due in 25 min"; a slot already past (late, missed) is "due 10 min ago".
export function dueLabel(iso) {
  return new Date(iso).getTime() > Date.now() ? "next due " : "due ";
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
