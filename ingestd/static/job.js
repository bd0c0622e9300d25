// One job: its health and why, schedule, figures over a period, a history chart of durations
// with outliers marked, its alerts and alert settings, its errors by step.

import { ApiError, getJSON } from "./api.js";
import { durationHistory } from "./charts.js";
import { groupRuns } from "./errors.js";
import {
  ago, dueIn, field, fmtDuration, fmtNumber, fmtPercent, fmtTime, h, healthBadge, href,
  replaceKeepingFocus, select, statusBadge,
} from "./dom.js";
import { shownStatus } from "./jobs.js";

const DAYS = [["7", "Last 7 days"], ["14", "Last 14 days"], ["30", "Last 30 days"], ["90", "Last 90 days"]];
const HISTORY = 100; // runs in the chart: the newest of the period
const SUCCEEDED = new Set(["success", "warning"]);
const FENCE_LABEL = "usual range top (Q3 + 1.5·IQR of the successful runs shown)";
const MIN_FOR_FENCE = 4;

export function mount(root, ctx) {
  const job = ctx.arg;
  ctx.title(job);
  const state = { days: ctx.params.get("days") || "30" };
  const daysSelect = select("days", DAYS, state.days, () => {
    state.days = daysSelect.value;
    ctx.setParams(state);
    refresh().catch(ctx.report);
  });
  const head = h("div", { class: "job-health" });
  const tiles = h("div", { class: "tiles" });
  const history = h("div", { class: "job-history" });
  const alerts = h("div", { class: "table-wrap" });
  const settings = h("div", { class: "alert-settings" });
  const errors = h("div", { class: "table-wrap" });
  const body = h("div", {},
    h("form", { class: "filters", onsubmit: (e) => e.preventDefault() }, field("Period", daysSelect)),
    tiles,
    h("section", { dataset: { part: "history" } }, h("h2", {}, "History"), history),
    h("section", { dataset: { part: "alerts" } }, h("h2", {}, "Alerts"), alerts,
      h("h3", {}, "Alert settings"), settings),
    h("section", { dataset: { part: "errors" } }, h("h2", {}, "Errors by step"), errors));
  const unknown = h("div", {});
  root.append(
    h("div", { class: "view-head" },
      h("h1", {}, job),
      h("p", {}, h("a", { href: href("runs", "", { job }) }, "All runs of this job"), " · ",
        h("a", { href: href("jobs") }, "All jobs"))),
    head, unknown, body,
  );
  let data = null;
  let shown = "";

  async function refresh() {
    const days = state.days;
    const [list, figures, runs, raised, steps] = await Promise.all([
      getJSON("v1/jobs", { days }),
      getJSON("v1/stats/jobs", { days, job }),
      getJSON("v1/runs", { job, since: `${days}d`, limit: HISTORY }),
      getJSON("v1/alerts", { job, limit: 10 }),
      getJSON("v1/stats/errors", { days, by: "step", job }),
    ]);
    // /v1/jobs lists every job with runs or settings: one it does not list has no document
    // (asking would be a 404, which the browser logs as an error).
    const row = list.items.find((j) => j.job === job) || null;
    const doc = row && await getJSON(`v1/jobs/${encodeURIComponent(job)}`).catch((e) => {
      if (e instanceof ApiError && e.status === 404) return null; // deleted meanwhile
      throw e;
    });
    data = {
      row, doc, figures: figures.items.find((j) => j.job === job) || null,
      runs: runs.items, alerts: raised.items, steps: steps.items, days,
    };
    const key = JSON.stringify(data);
    if (key !== shown) {
      shown = key;
      render();
    }
    ctx.loaded();
  }

  function render() {
    const { row, doc } = data;
    if (!row && !doc) {
      head.replaceChildren();
      body.hidden = true;
      unknown.replaceChildren(h("div", { class: "empty", dataset: { unknown: "true" } },
        h("h2", {}, "No such job"),
        h("p", {}, `ingestd knows no job named “${job}”: it has no runs and no settings.`),
        h("p", {}, h("a", { href: href("jobs") }, "See every job"))));
      return;
    }
    unknown.replaceChildren();
    body.hidden = false;
    const health = row?.health || doc?.health || "unknown";
    head.replaceChildren(healthBadge(health), " ", why(row, health));
    renderTiles(row, doc);
    renderHistory();
    replaceKeepingFocus(alerts, alertTable(data.alerts));
    settings.replaceChildren(alertSettings(doc));
    replaceKeepingFocus(errors, errorTable(job, data.steps, data.days));
  }

  function renderTiles(row, doc) {
    const d = `(${data.days} d)`;
    const f = data.figures;
    const missed = f?.missed_count ?? 0;
    const runs = f ? fmtNumber(f.total_runs - missed) : "0";
    tiles.replaceChildren(...[
      ["Schedule", schedule(row, doc)],
      ["Next due", row?.due_at || doc?.due_at ? dueIn(row?.due_at || doc?.due_at) : "–"],
      ["Late by", row?.late_by_ms != null ? fmtDuration(row.late_by_ms) : "–"],
      [`Success rate ${d}`, fmtPercent(f?.success_rate), "of finished runs, missed slots left out"],
      [`Runs ${d}`, missed ? `${runs} + ${fmtNumber(missed)} missed` : runs],
      [`Failed ${d}`, fmtNumber(f?.failure_count ?? 0)],
      [`p50 duration ${d}`, fmtDuration(f?.p50_duration_ms)],
      [`p95 duration ${d}`, fmtDuration(f?.p95_duration_ms)],
    ].map(([label, value, note]) => h("div", { class: "tile", dataset: { tile: label.split(" (")[0].toLowerCase().replaceAll(" ", "-") } },
      h("span", { class: "tile-label" }, label), h("span", { class: "tile-value" }, value),
      note ? h("span", { class: "tile-note muted" }, note) : null)));
  }

  function renderHistory() {
    const runs = data.runs.slice().reverse().map((r) => ({ ...r, status: shownStatus(r) }));
    if (!runs.length) {
      history.replaceChildren(h("p", { class: "muted" },
        data.row?.health === "waiting" ? "Waiting for the first run." : `No runs in the last ${data.days} days.`));
      return;
    }
    const fence = usualTop(runs);
    for (const r of runs) {
      r.outlier = fence !== null && r.status !== "missed" && typeof r.duration_ms === "number" && r.duration_ms > fence;
    }
    const width = Math.max(280, Math.floor(history.clientWidth || 640));
    const count = runs.length === HISTORY ? `the last ${HISTORY} runs`
      : `${runs.length} run${runs.length === 1 ? "" : "s"}`;
    history.replaceChildren(durationHistory({
      title: `Duration of ${count}, oldest left (${data.days} d)`,
      runs, fence, width,
      fenceLabel: fence === null ? `no outliers marked: fewer than ${MIN_FOR_FENCE} successful runs` : FENCE_LABEL,
    }));
  }

  let resizing;
  const onResize = () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => data && !body.hidden && renderHistory(), 200);
  };
  window.addEventListener("resize", onResize);

  refresh().catch(ctx.report);
  return { refresh, destroy: () => window.removeEventListener("resize", onResize) };
}

// Tukey's upper fence over the successful runs shown: Q3 + 1.5·IQR, the IQR taken as at least
// a tenth of the median, so runs that are all alike are not flagged for a second of wobble.
export function usualTop(runs) {
  const took = runs.filter((r) => SUCCEEDED.has(r.status) && typeof r.duration_ms === "number")
    .map((r) => r.duration_ms).sort((a, b) => a - b);
  if (took.length < MIN_FOR_FENCE) return null;
  const q = (p) => {
    const at = (took.length - 1) * p;
    const lo = Math.floor(at);
    return took[lo] + (took[Math.min(lo + 1, took.length - 1)] - took[lo]) * (at - lo);
  };
  const iqr = Math.max(q(0.75) - q(0.25), q(0.5) / 10);
  return q(0.75) + 1.5 * iqr;
}

function why(row, health) {
  if (health === "stuck" && row?.stuck) return h("span", { class: "note" }, row.stuck.text);
  if (row?.late_by_ms != null) return h("span", { class: "note" }, `late by ${fmtDuration(row.late_by_ms)}`);
  if (health === "waiting") return h("span", { class: "note" }, "waiting for first run");
  const last = row?.last_run;
  if (!last) return "";
  return h("span", { class: "note" }, "last run ",
    h("a", { href: href("run", last.run_id) }, statusBadge(shownStatus(last))), " ", ago(last.started_at));
}

function schedule(row, doc) {
  const s = row?.schedule || (doc?.every ? { every: doc.every } : doc?.cron ? { cron: doc.cron, timezone: doc.timezone } : null);
  if (!s) return "none";
  return s.every ? `every ${s.every}` : `cron ${s.cron}${s.timezone && s.timezone !== "UTC" ? ` (${s.timezone})` : ""}`;
}

function alertTable(items) {
  if (!items.length) return h("p", { class: "muted" }, "No alerts for this job.");
  return h("table", { class: "alerts-table cards" },
    h("thead", {}, h("tr", {}, ["When", "Rule", "Alert", "Delivery", "Run"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, items.map((a) => h("tr", { dataset: { rule: a.rule, alertId: String(a.id) } },
      h("td", { "data-label": "When" }, ago(a.created_at)),
      h("th", { scope: "row", "data-label": "Rule" }, a.rule.replaceAll("_", " ")),
      h("td", { "data-label": "Alert", class: "alert-text" }, a.text),
      h("td", { "data-label": "Delivery" }, delivery(a)),
      h("td", { "data-label": "Run" }, a.run_id
        ? h("a", { href: href("run", a.run_id), dataset: { focusKey: `alert:${a.id}` } }, "open the run")
        : "–")))));
}

function delivery(alert) {
  const targets = (alert.deliveries || []).map((d) =>
    `${d.target}: ${d.status}${d.last_error ? ` (${d.last_error})` : ""}`);
  return [h("span", { class: "delivery", dataset: { delivery: alert.status } },
    alert.status === "none" ? "no target" : alert.status),
  targets.length ? h("div", { class: "note" }, targets.join("; ")) : null];
}

// What GET /v1/jobs/{job} says (targets redacted for read tokens by the API itself).
function alertSettings(doc) {
  if (!doc) return h("p", { class: "muted" }, "No settings.");
  const a = doc.alerts || {};
  const url = (t) => (typeof t === "string" ? t : `${t.url} (${t.format})`);
  const targets = [...(a.webhooks || []).map(url), ...(a.apprise || [])];
  return h("dl", { class: "settings" },
    h("dt", {}, "Settings"), h("dd", {}, doc.configured ? "saved" : "the defaults (none saved for this job)"),
    h("dt", {}, "Rules"), h("dd", {}, (a.rules || []).join(", ") || "none"),
    h("dt", {}, "Failures in a row"), h("dd", {}, String(a.failures_in_a_row ?? "–")),
    h("dt", {}, "Targets"), h("dd", { class: "targets" }, targets.length
      ? h("ul", {}, targets.map((t) => h("li", {}, h("code", {}, t))))
      : "none of its own"),
    h("dt", {}, "Global targets"), h("dd", {}, a.global_webhooks === false ? "not used" : "also used"),
    h("dt", {}, "Time limits"), h("dd", {}, [
      doc.grace ? `grace ${doc.grace}` : null,
      doc.max_duration ? `max duration ${doc.max_duration}` : null,
      doc.heartbeat_timeout ? `heartbeat timeout ${doc.heartbeat_timeout}` : null,
    ].filter(Boolean).join(" · ") || "none"));
}

function errorTable(job, items, days) {
  if (!items.length) return h("p", { class: "muted" }, `No errors in the last ${days} days.`);
  return h("table", { class: "errors-table cards" },
    h("thead", {}, h("tr", {}, ["Step", "Errors", "Runs affected", "Last seen", "Example", "Runs with it"]
      .map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, items.map((item) => {
      const sample = item.sample && typeof item.sample === "object" ? item.sample : { message: item.sample };
      return h("tr", { dataset: { step: item.key ?? "" } },
        h("th", { scope: "row", "data-label": "Step" }, item.key ?? "(no step)"),
        h("td", { "data-label": "Errors" }, fmtNumber(item.error_count)),
        h("td", { "data-label": "Runs affected" }, fmtNumber(item.affected_runs)),
        h("td", { "data-label": "Last seen" }, ago(item.last_seen)),
        h("td", { "data-label": "Example", class: "sample" }, sample.run_id
          ? h("a", { href: href("run", sample.run_id, { level: "error" }), dataset: { focusKey: `step:${item.key}` } },
            sample.message ?? "open the run")
          : sample.message ?? "–"),
        h("td", { "data-label": "Runs with it" }, item.key === null || item.key === undefined
          ? "–" : runsWith(job, item.key, days)));
    })));
}

// The runs that had errors in this step, newest first, each once with its error count.
function runsWith(job, step, days) {
  return groupRuns({ days, by: "step", key: step, job, limit: 10 },
    { label: "Show the runs", linkParams: { level: "error", step } });
}
