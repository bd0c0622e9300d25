// Building DOM nodes and formatting values. Text always goes in as text, never as HTML.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

export function setAttrs(el, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "text") el.textContent = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

// "#/runs?job=x": a view's address, with empty filters left out.
export function href(name, arg = "", params = {}) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") query.set(key, value);
  }
  const q = query.toString();
  return `#/${name}${arg ? `/${encodeURIComponent(arg)}` : ""}${q ? `?${q}` : ""}`;
}

export function field(label, control) {
  return h("label", { class: "field" }, h("span", { class: "field-label" }, label), control);
}

export function select(name, options, value, onchange) {
  return h(
    "select",
    { name, onchange },
    options.map(([v, text]) => h("option", { value: v, selected: v === value }, text)),
  );
}

// Replace a container's children, keeping keyboard focus on the "same" control afterwards
// (auto-refresh rebuilds tables; focus must not jump to the top of the page).
export function replaceKeepingFocus(container, ...children) {
  const active = document.activeElement;
  const key = active && container.contains(active) ? active.dataset.focusKey : undefined;
  container.replaceChildren(
    ...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false),
  );
  if (key) {
    const again = container.querySelector(`[data-focus-key="${CSS.escape(key)}"]`);
    if (again) again.focus();
  }
}

export const STATUSES = [
  "pending", "running", "success", "warning", "failed", "cancelled", "timed_out",
];
export const FINAL = new Set(["success", "warning", "failed", "cancelled", "timed_out"]);
export const LEVELS = ["trace", "debug", "info", "success", "warning", "error", "critical"];
export const LEVELNO = { trace: 5, debug: 10, info: 20, success: 25, warning: 30, error: 40, critical: 50 };

const label = (text) => String(text ?? "unknown").replaceAll("_", " ");

export function statusBadge(status) {
  const s = status || "unknown";
  return h("span", { class: `badge status-${s}`, dataset: { status: s } }, label(s));
}

export function healthBadge(health) {
  const s = health || "unknown";
  return h("span", { class: `badge health-${s}`, dataset: { health: s } }, label(s));
}

export function levelBadge(level) {
  const s = level || "info";
  return h("span", { class: `badge level-${s}`, dataset: { level: s } }, s);
}

// Rounded to what is shown before it is split, so 299.6 s reads "5 min 0 s", never "4 min 60 s".
export function fmtDuration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "–";
  if (Math.round(ms) < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 9.995) return `${s.toFixed(2)} s`;
  if (s < 59.95) return `${s.toFixed(1)} s`;
  const seconds = Math.round(s);
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
  const minutes = Math.round(s / 60);
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

// Durations in few characters, for chart axes: "850ms", "40s", "1m40s", "2h05m".
export function fmtDurationShort(ms) {
  if (!ms) return "0";
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60 ? `${String(s % 60).padStart(2, "0")}s` : ""}`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

export function fmtPercent(value) {
  if (value === null || value === undefined) return "–";
  return `${Number(value).toFixed(1).replace(/\.0$/, "")} %`;
}

export function fmtNumber(value) {
  if (typeof value !== "number") return String(value ?? "–");
  return value.toLocaleString(undefined, { maximumFractionDigits: 3 });
}

const pad = (n, w = 2) => String(n).padStart(w, "0");

export function fmtTime(iso, { ms = false } = {}) {
  if (!iso) return "–";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const date = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return `${date} ${time}${ms ? `.${pad(d.getMilliseconds(), 3)}` : ""}`;
}

// Minute precision and the zone, for a time due: "2025-03-01 04:26 GMT+1".
export function fmtMinute(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const zone = new Intl.DateTimeFormat(undefined, { timeZoneName: "short" })
    .formatToParts(d).find((p) => p.type === "timeZoneName")?.value;
  return `${fmtTime(iso).slice(0, 16)}${zone ? ` ${zone}` : ""}`;
}

// "25 min", "3 h", "2 d": how far a time is, either way.
function span(s) {
  if (s < 90 * 60) return `${Math.max(1, Math.round(s / 60))} min`;
  if (s < 36 * 3600) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}

// "3 min ago", "just now", or "in 25 min" for a time ahead (a slot due).
export function fmtAgo(iso, now = Date.now()) {
  if (!iso) return "never";
  const s = (now - new Date(iso).getTime()) / 1000;
  if (Number.isNaN(s)) return String(iso);
  if (s < -30) return `in ${span(-s)}`;
  if (s < 45) return "just now";
  return `${span(s)} ago`;
}

// A <time> showing "3 min ago", the exact local time on hover; updateTimes() keeps it current.
export function ago(iso) {
  return h(
    "time",
    { datetime: iso || "", title: fmtTime(iso), dataset: { ago: iso || "" } },
    fmtAgo(iso),
  );
}

// A time ahead (a job's next slot): "in 25 min", the local time to the minute and its zone on
// hover. Seconds would be noise: slots fall on whole minutes.
export function dueIn(iso) {
  return h(
    "time",
    { datetime: iso || "", title: fmtMinute(iso), dataset: { ago: iso || "" } },
    fmtAgo(iso),
  );
}

export function updateTimes(root) {
  for (const el of root.querySelectorAll("time[data-ago]")) {
    el.textContent = fmtAgo(el.dataset.ago);
  }
}

// Progress of a running run: a bar when a number is known, else an indeterminate stripe
// (hatched, never a full bar: a run that reports no progress must not look done).
export const NO_PROGRESS = "no progress reported";

export function progressBar(progress, text) {
  const known = typeof progress === "number";
  const bar = h("div", { class: "progress-fill" });
  if (known) bar.style.width = `${Math.max(0, Math.min(100, progress))}%`;
  return h(
    "div",
    {
      class: known ? "progress" : "progress indeterminate",
      role: "progressbar",
      "aria-valuemin": "0",
      "aria-valuemax": "100",
      "aria-valuenow": known ? String(Math.round(progress)) : null,
      "aria-valuetext": known ? null : NO_PROGRESS,
      "aria-label": text || "progress",
    },
    bar,
  );
}

export function json(value) {
  return h("pre", { class: "json" }, JSON.stringify(value, null, 2));
}

export function message(kind, text) {
  return h("p", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

// Relative time ranges for filters: "24h" -> an RFC 3339 time that far back.
export const RANGES = [
  ["", "Any time"], ["1h", "Last hour"], ["24h", "Last 24 hours"],
  ["7d", "Last 7 days"], ["30d", "Last 30 days"], ["custom", "Custom…"],
];

export function rangeSince(range, now = Date.now()) {
  const m = /^(\d+)([hd])$/.exec(range || "");
  if (!m) return null;
  const seconds = Number(m[1]) * (m[2] === "h" ? 3600 : 86400);
  return new Date(now - seconds * 1000).toISOString();
}

// <input type=datetime-local> speaks local time without a zone; the API wants one.
export function localToISO(value) {
  if (!value) return null;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

// A message longer than this is shortened, with a button to show all of it.
const LONG_CHARS = 400;
const LONG_LINES = 6;

// Matches of q in text, ignoring case, wrapped in <mark> (as text nodes, never as HTML).
export function highlight(text, q) {
  if (!q) return text;
  const parts = [];
  const lower = text.toLowerCase();
  const needle = q.toLowerCase();
  let at = 0;
  for (let i = lower.indexOf(needle); i >= 0; i = lower.indexOf(needle, at)) {
    parts.push(text.slice(at, i), h("mark", {}, text.slice(i, i + q.length)));
    at = i + q.length;
  }
  parts.push(text.slice(at));
  return parts;
}

// A long message shows its start; "Show all" folds out the rest, and folds it back.
export function messageOf(text, q) {
  const lines = text.split("\n");
  const span = h("span", { class: "log-message" }, highlight(text, q));
  if (text.length <= LONG_CHARS && lines.length <= LONG_LINES) return span;
  const short = `${lines.slice(0, LONG_LINES).join("\n").slice(0, LONG_CHARS)}…`;
  span.replaceChildren(...[highlight(short, q)].flat());
  const button = h("button", { type: "button", class: "expand", "aria-expanded": "false" },
    `Show all ${fmtNumber(text.length)} characters`);
  button.addEventListener("click", () => {
    const open = button.getAttribute("aria-expanded") !== "true";
    span.replaceChildren(...[highlight(open ? text : short, q)].flat());
    button.setAttribute("aria-expanded", String(open));
    button.textContent = open ? "Show less" : `Show all ${fmtNumber(text.length)} characters`;
  });
  return [span, button];
}
