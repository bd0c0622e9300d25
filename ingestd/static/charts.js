// Small SVG charts drawn from API figures. Colours come from CSS classes (themes), and
// every chart has its numbers in a table beside it for screen readers and the curious.

import { h, fmtDuration, fmtDurationShort, fmtTime } from "./dom.js";

const NS = "http://www.w3.org/2000/svg";

export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined) el.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) el.append(child);
  }
  return el;
}

const tip = (text) => s("title", {}, text);

// Recent runs of one job, oldest left: height is duration, colour is outcome.
export function runBars(runs, { slots = 20, width = 160, height = 32 } = {}) {
  const recent = runs.slice(0, slots).reverse();
  const max = Math.max(1, ...recent.filter((r) => !r.missed).map((r) => r.duration_ms || 0));
  const slot = width / slots;
  const svg = s("svg", {
    class: "runbars",
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": summary(recent),
  });
  recent.forEach((run, i) => {
    const missed = run.missed === true;
    const status = missed ? "missed" : run.status;
    const finished = typeof run.duration_ms === "number";
    // A missed slot never ran: a full-height bar in its own colour, not a 0 ms failure.
    const barHeight = finished && !missed ? Math.max(3, (run.duration_ms / max) * (height - 2)) : height - 2;
    const took = missed ? "did not run" : finished ? fmtDuration(run.duration_ms) : "running";
    const what = `${status.replaceAll("_", " ")} · ${took} · ${fmtTime(run.started_at)}`;
    const link = s("a", { href: `#/run/${run.run_id}`, tabindex: "-1" },
      s("rect", {
        class: `bar fill-${status}${finished ? "" : " unfinished"}`,
        x: (i * slot + 1).toFixed(1),
        y: (height - barHeight).toFixed(1),
        width: Math.max(1, slot - 2).toFixed(1),
        height: barHeight.toFixed(1),
        rx: 1,
      }, tip(what)));
    svg.append(link);
  });
  return svg;
}

function summary(runs) {
  const counts = {};
  for (const run of runs) counts[run.status] = (counts[run.status] || 0) + 1;
  const parts = Object.entries(counts).map(([k, n]) => `${n} ${k.replaceAll("_", " ")}`);
  return `Last ${runs.length} runs: ${parts.join(", ") || "none"}`;
}

// The top of the y axis: four round ticks (whole numbers for counts).
function niceMax(value, whole = false) {
  const raw = Math.max(value, whole ? 4 : 1e-9) / 4;
  const power = 10 ** Math.floor(Math.log10(raw));
  const ticks = [1, 2, 2.5, 3, 4, 5, 6, 8, 10].map((m) => m * power)
    .filter((t) => !whole || Number.isInteger(t));
  return (ticks.find((t) => t >= raw) ?? Math.ceil(raw)) * 4;
}

// Frame shared by both charts: y grid with labels, x labels (thinned to fit).
function frame({ width, height, labels, yMax, yFormat, title }) {
  const pad = { left: 52, right: 8, top: 10, bottom: 22 };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const svg = s("svg", {
    class: "chart",
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": title,
  });
  for (let i = 0; i <= 4; i++) {
    const y = pad.top + plotH - (plotH * i) / 4;
    svg.append(s("line", { class: "grid", x1: pad.left, x2: width - pad.right, y1: y, y2: y }));
    svg.append(s("text", { class: "axis", x: pad.left - 6, y: y + 4, "text-anchor": "end" },
      yFormat((yMax * i) / 4)));
  }
  const band = plotW / Math.max(1, labels.length);
  const every = Math.max(1, Math.ceil(labels.length / Math.max(1, Math.floor(plotW / 64))));
  labels.forEach((text, i) => {
    if (i % every !== 0) return;
    svg.append(s("text", {
      class: "axis", x: pad.left + band * (i + 0.5), y: height - 6, "text-anchor": "middle",
    }, text));
  });
  const x = (i) => pad.left + band * i;
  const y = (v) => pad.top + plotH - (plotH * v) / yMax;
  return { svg, band, x, y, plotH, pad };
}

function legend(series) {
  return h("ul", { class: "legend" },
    series.map(({ label, cls }) => h("li", {}, h("span", { class: `swatch ${cls}` }), label)));
}

function dataTable(caption, labels, series, format, first = "Bucket") {
  const head = h("tr", {}, h("th", { scope: "col" }, first),
    series.map((se) => h("th", { scope: "col" }, se.label)));
  const rows = labels.map((label, i) => h("tr", {}, h("th", { scope: "row" }, label),
    series.map((se) => h("td", {}, format(se.values[i])))));
  const table = h("table", {}, h("caption", {}, caption), h("thead", {}, head), h("tbody", {}, rows));
  return h("details", { class: "chart-data" },
    h("summary", {}, "Show the numbers"), h("div", { class: "table-wrap" }, table));
}

// buckets: [{label, values: {key: n}}]; series: [{key, label, cls}]
export function stackedBars({ title, buckets, series, width = 640, height = 200 }) {
  const totals = buckets.map((b) => series.reduce((sum, se) => sum + (b.values[se.key] || 0), 0));
  const yMax = niceMax(Math.max(0, ...totals), true);
  const labels = buckets.map((b) => b.label);
  const { svg, band, x, y } = frame({
    width, height, labels, yMax, title, yFormat: (v) => formatCount(v),
  });
  buckets.forEach((bucket, i) => {
    let base = 0;
    for (const se of series) {
      const n = bucket.values[se.key] || 0;
      if (!n) continue;
      const top = y(base + n);
      svg.append(s("rect", {
        class: `bar ${se.cls}`,
        x: (x(i) + band * 0.15).toFixed(1),
        y: top.toFixed(1),
        width: (band * 0.7).toFixed(1),
        height: Math.max(0.5, y(base) - top).toFixed(1),
      }, tip(`${bucket.label} · ${se.label}: ${n}`)));
      base += n;
    }
  });
  const rows = series.map((se) => ({ label: se.label, values: buckets.map((b) => b.values[se.key] || 0) }));
  return h("figure", { class: "chart-box" },
    h("figcaption", {}, title), svg, legend(series),
    dataTable(title, labels, rows, formatCount));
}

// series: [{key, label, cls}]; values may be null (no point that bucket).
export function lineChart({
  title, buckets, series, yFormat, axisFormat = yFormat, yMax: fixedMax, width = 640, height = 200,
}) {
  const all = buckets.flatMap((b) => series.map((se) => b.values[se.key])).filter((v) => typeof v === "number");
  const yMax = fixedMax ?? niceMax(Math.max(0, ...all));
  const labels = buckets.map((b) => b.label);
  const { svg, band, x, y } = frame({ width, height, labels, yMax, title, yFormat: axisFormat });
  for (const se of series) {
    let path = "";
    let pen = false;
    buckets.forEach((bucket, i) => {
      const v = bucket.values[se.key];
      if (typeof v !== "number") { pen = false; return; }
      const px = x(i) + band / 2;
      path += `${pen ? "L" : "M"}${px.toFixed(1)},${y(v).toFixed(1)} `;
      pen = true;
      svg.append(s("circle", { class: `dot ${se.cls}`, cx: px.toFixed(1), cy: y(v).toFixed(1), r: 3.5 },
        tip(`${bucket.label} · ${se.label}: ${yFormat(v)}`)));
    });
    if (path) svg.prepend(s("path", { class: `line ${se.cls}`, d: path.trim() }));
  }
  // Grid lines first, lines over them: move the grid back to the front of the list.
  for (const el of [...svg.querySelectorAll(".grid, .axis")].reverse()) svg.prepend(el);
  const rows = series.map((se) => ({ label: se.label, values: buckets.map((b) => b.values[se.key]) }));
  return h("figure", { class: "chart-box" },
    h("figcaption", {}, title), svg, legend(series),
    dataTable(title, labels, rows, (v) => (typeof v === "number" ? yFormat(v) : "–")));
}

// One job's runs, oldest left, one mark per run (each a link to it): height is duration, colour
// is outcome; a missed slot is a pale full-height bar (it never ran: not a 0 ms failure); runs
// above `fence` (the top of the job's usual range) get a ring over their bar.
// runs: [{run_id, status (as shown), started_at, duration_ms, outlier}], oldest first.
const MAX_MARK = 28; // px: the widest a run's mark is drawn in a duration history

export function durationHistory({ title, runs, fence, fenceLabel, width = 640, height = 220 }) {
  const took = runs.filter((r) => r.status !== "missed" && typeof r.duration_ms === "number");
  const yMax = niceMax(Math.max(1, fence ?? 0, ...took.map((r) => r.duration_ms)));
  const labels = runs.map((r) => fmtTime(r.started_at).slice(5, 16));
  const { svg, band, x, y, plotH, pad } = frame({
    width, height, labels, yMax, title, yFormat: fmtDurationShort,
  });
  svg.classList.add("history");
  runs.forEach((run, i) => {
    const missed = run.status === "missed";
    const finished = typeof run.duration_ms === "number";
    const top = missed || !finished ? pad.top : Math.min(y(run.duration_ms), pad.top + plotH - 2);
    const what = missed ? "did not run" : finished ? fmtDuration(run.duration_ms) : "not finished";
    const note = run.outlier ? ` · outlier (above ${fmtDuration(fence)})` : "";
    // A few runs do not make wide slabs: a mark is at most MAX_MARK px, centred in its band.
    const markW = Math.max(1, Math.min(band * 0.7, MAX_MARK));
    const left = x(i) + (band - markW) / 2;
    svg.append(s("a", { href: `#/run/${run.run_id}`, class: "mark" },
      s("rect", {
        class: `bar fill-${run.status}${finished || missed ? "" : " unfinished"}`,
        x: left.toFixed(1),
        y: top.toFixed(1),
        width: markW.toFixed(1),
        height: (pad.top + plotH - top).toFixed(1),
        "data-status": run.status,
        "data-outlier": run.outlier ? "true" : null,
      }, tip(`${run.status.replaceAll("_", " ")} · ${what} · ${fmtTime(run.started_at)}${note}`)),
      run.outlier
        ? s("circle", { class: "outlier-mark", cx: (left + markW / 2).toFixed(1),
          cy: Math.max(5, top - 6).toFixed(1), r: Math.max(2.5, Math.min(5, markW / 2)).toFixed(1) })
        : null));
  });
  if (typeof fence === "number") {
    svg.append(s("line", { class: "fence", x1: pad.left, x2: width - 8, y1: y(fence), y2: y(fence) },
      tip(`${fenceLabel}: ${fmtDuration(fence)}`)));
  }
  const shown = [...new Set(runs.map((r) => r.status))];
  const keys = [
    ...shown.map((st) => ({ label: st.replaceAll("_", " "), cls: `fill-${st}` })),
    ...(typeof fence === "number"
      ? [{ label: `${fenceLabel}: ${fmtDuration(fence)}`, cls: "swatch-fence" },
        { label: "outlier: above it", cls: "swatch-outlier" }]
      : [{ label: fenceLabel, cls: "swatch-none" }]),
  ];
  const rows = [
    { label: "Status", values: runs.map((r) => r.status.replaceAll("_", " ")) },
    { label: "Duration", values: runs.map((r) => (r.status === "missed" ? "did not run" : fmtDuration(r.duration_ms))) },
    { label: "Outlier", values: runs.map((r) => (r.outlier ? "outlier" : "")) },
  ];
  return h("figure", { class: "chart-box" },
    h("figcaption", {}, title), svg, legend(keys),
    dataTable(title, labels, rows, (v) => v, "Run started"));
}

function formatCount(v) {
  if (v >= 1e6) return `${(v / 1e6).toFixed(1).replace(/\.0$/, "")}M`;
  if (v >= 1e4) return `${(v / 1e3).toFixed(0)}k`;
  return String(Math.round(v * 100) / 100);
}
