// Stats: summary figures, per-day charts (runs, success rate, durations, logs), per-job table.

import { getJSON } from "./api.js";
import { lineChart, stackedBars } from "./charts.js";
import {
  LEVELS, STATUSES, field, fmtDuration, fmtDurationShort, fmtNumber, fmtPercent, h, href, message,
  replaceKeepingFocus, select,
} from "./dom.js";
import { fillJobSelect } from "./jobs.js";

const DAYS = [["7", "Last 7 days"], ["14", "Last 14 days"], ["30", "Last 30 days"], ["90", "Last 90 days"]];
const FINISHED = ["success", "warning", "failed", "cancelled", "timed_out"];

export function mount(root, ctx) {
  ctx.title("Stats");
  const state = { days: ctx.params.get("days") || "7", job: ctx.params.get("job") || "" };
  const daysSelect = select("days", DAYS, state.days, () => change());
  const jobSelect = select("job", [["", "All jobs"]], state.job, () => change());
  const tiles = h("div", { class: "tiles" });
  const charts = h("div", { class: "charts" });
  const perJob = h("div", { class: "table-wrap" });
  root.append(
    h("div", { class: "view-head" }, h("h1", {}, "Stats")),
    h("form", { class: "filters", onsubmit: (e) => e.preventDefault() },
      field("Period", daysSelect), field("Job", jobSelect)),
    tiles, charts,
    h("section", {}, h("h2", {}, "Per job"), perJob),
  );
  let data = null;
  let shown = "";
  let jobsLoaded = false;

  function change() {
    state.days = daysSelect.value;
    state.job = jobSelect.value;
    ctx.setParams(state);
    refresh().catch(ctx.report);
  }

  async function refresh() {
    const [summary, series, jobs] = await Promise.all([
      getJSON("v1/stats/summary", { days: state.days, job: state.job }),
      getJSON("v1/stats/timeseries", { days: state.days, bucket: "day", job: state.job }),
      getJSON("v1/stats/jobs", { days: state.days }),
    ]);
    if (!jobsLoaded) {
      await fillJobSelect(jobSelect, state.job);
      jobsLoaded = true;
    }
    data = { summary, series, jobs };
    const key = JSON.stringify(data);
    if (key !== shown) {
      shown = key;
      render();
    }
    ctx.loaded();
  }

  function render() {
    const { summary, series, jobs } = data;
    const logs = Object.values(summary.log_counts || {}).reduce((a, b) => a + b, 0);
    tiles.replaceChildren(...[
      ["Runs", fmtNumber(summary.total_runs)],
      ["Success rate", fmtPercent(summary.success_rate),
        `of finished runs, warnings included${missedText(summary.missed_count, "; ")}`],
      ["Failed", fmtNumber(summary.failure_count)],
      ["Warnings", fmtNumber(summary.warning_count)],
      ["Running", fmtNumber(summary.running_count)],
      ["Avg duration", fmtDuration(summary.avg_duration_ms)],
      ["p50 duration", fmtDuration(summary.p50_duration_ms)],
      ["p95 duration", fmtDuration(summary.p95_duration_ms)],
      ["Log lines", fmtNumber(logs)],
    ].map(([label, value, note]) => h("div", { class: "tile", dataset: { tile: label.toLowerCase().replaceAll(" ", "-") } },
      h("span", { class: "tile-label" }, label), h("span", { class: "tile-value" }, value),
      note ? h("span", { class: "tile-note muted" }, note) : null)));
    renderCharts(series.items || []);
    replaceKeepingFocus(perJob, jobTable(jobs.items || []));
  }

  function renderCharts(items) {
    const buckets = days(items, Number(state.days));
    const wide = charts.clientWidth >= 900;
    const width = Math.max(280, Math.floor(wide ? (charts.clientWidth - 24) / 2 : charts.clientWidth));
    const hasDurations = items.some((i) => typeof i.p50_duration_ms === "number");
    charts.replaceChildren(
      stackedBars({
        title: "Runs per day, by status", width,
        buckets: buckets.map((b) => ({ label: b.label, values: b.item?.runs_by_status || {} })),
        series: STATUSES.map((s) => ({ key: s, label: s.replace("_", " "), cls: `fill-${s}` })),
      }),
      lineChart({
        title: "Success rate per day (% of finished runs)", width, yMax: 100,
        yFormat: (v) => `${Math.round(v)} %`,
        buckets: buckets.map((b) => ({ label: b.label, values: { rate: successRate(b.item) } })),
        series: [{ key: "rate", label: "success rate", cls: "fill-success" }],
      }),
      hasDurations
        ? lineChart({
          title: "Duration per day, p50 and p95", width, yFormat: fmtDuration, axisFormat: fmtDurationShort,
          buckets: buckets.map((b) => ({ label: b.label,
            values: { p50: b.item?.p50_duration_ms, p95: b.item?.p95_duration_ms } })),
          series: [{ key: "p50", label: "p50", cls: "fill-running" },
            { key: "p95", label: "p95", cls: "fill-warning" }],
        })
        : h("figure", { class: "chart-box" }, h("figcaption", {}, "Duration per day, p50 and p95"),
          message("info", "This ingestd's /v1/stats/timeseries gives no durations per day.")),
      stackedBars({
        title: "Log lines per day, by level", width,
        buckets: buckets.map((b) => ({ label: b.label, values: b.item?.logs_by_level || {} })),
        series: LEVELS.map((l) => ({ key: l, label: l, cls: `fill-level-${l}` })),
      }),
    );
  }

  let resizing;
  const onResize = () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => data && renderCharts(data.series.items || []), 200);
  };
  window.addEventListener("resize", onResize);

  refresh().catch(ctx.report);
  return { refresh, destroy: () => window.removeEventListener("resize", onResize) };
}

// Missed slots are left out of success rates (a slot that never ran did not fail): the
// rate must not pass for the whole story, so their count stands beside it.
function missedText(count, sep) {
  if (!count) return "";
  return `${sep}${fmtNumber(count)} missed slot${count === 1 ? "" : "s"} not counted`;
}

function successRate(item) {
  const runs = item?.runs_by_status || {};
  const finished = FINISHED.reduce((sum, s) => sum + (runs[s] || 0), 0);
  return finished ? (100 * (runs.success || 0)) / finished : null;
}

// One entry per UTC day of the period, oldest first, whether or not the API had data for it.
function days(items, count) {
  const byDay = new Map(items.map((i) => [new Date(i.bucket).toISOString().slice(0, 10), i]));
  const today = new Date();
  const out = [];
  for (let back = count - 1; back >= 0; back--) {
    const d = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() - back));
    const key = d.toISOString().slice(0, 10);
    out.push({ label: key.slice(5), item: byDay.get(key) });
  }
  return out;
}

function jobTable(items) {
  if (!items.length) return h("p", { class: "muted" }, "No runs in this period.");
  return h("table", { class: "cards" },
    h("thead", {}, h("tr", {}, ["Job", "Runs", "Success rate", "Failed", "Avg duration", "p50", "p95"]
      .map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, items.map((j) => h("tr", {},
      h("th", { scope: "row", "data-label": "Job" },
        h("a", { href: href("job", j.job), dataset: { focusKey: `job:${j.job}` } }, j.job ?? "(no job)")),
      h("td", { "data-label": "Runs" }, fmtNumber(j.total_runs)),
      h("td", { "data-label": "Success rate" }, fmtPercent(j.success_rate),
        j.missed_count ? h("span", { class: "missed-note muted" }, missedText(j.missed_count, " · ")) : null),
      h("td", { "data-label": "Failed" }, fmtNumber(j.failure_count)),
      h("td", { "data-label": "Avg duration" }, fmtDuration(j.avg_duration_ms)),
      h("td", { "data-label": "p50" }, fmtDuration(j.p50_duration_ms)),
      h("td", { "data-label": "p95" }, fmtDuration(j.p95_duration_ms))))));
}
