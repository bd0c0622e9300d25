// A run's log lines, newest first: the page opens at the newest line, live lines go on top
// whatever has been paged, older pages go at the bottom, and nothing shown is drawn again
// (a 5,500-line run used to be redrawn whole on every "Load more").

import { eventSource, getJSON } from "./api.js";
import {
  LEVELNO, LEVELS, field, fmtDuration, fmtNumber, fmtTime, h, json, levelBadge, messageOf, select,
} from "./dom.js";

const PAGE = 500;
const JUMP_PAGE = 1000; // the API's largest page: fewer round trips on the way to an old error

// Lines from the tail carry no id: a line is known by its time, level, step and message.
const keyOf = (log) => `${Date.parse(log.ts)}|${log.levelno}|${log.step ?? ""}|${log.message}`;

export function runLogs(runId, ctx) {
  const state = { level: ctx.params.get("level") || "", step: ctx.params.get("step") || "",
    q: ctx.params.get("q") || "" };
  const levelSelect = select("level", [["", "All levels"],
    ...LEVELS.slice(1).map((l) => [l, `${l} and above`])], state.level, () => change());
  const stepSelect = select("step", [["", "All steps"]], state.step, () => change());
  let typing;
  const search = h("input", { type: "search", name: "q", value: state.q, placeholder: "Text in message",
    oninput: () => { clearTimeout(typing); typing = setTimeout(() => change({ replace: true }), 300); } });
  const live = h("span", { class: "live", hidden: true, "aria-live": "polite" });
  const count = h("p", { class: "muted" });
  const jump = h("button", { type: "button", class: "jump-error", hidden: true,
    onclick: () => jumpToFirstError().catch(ctx.report) }, "Jump to first error");
  const timeline = h("ol", { class: "timeline" });
  const more = h("div", { class: "pager" });
  const section = h("section", { class: "run-logs", "aria-labelledby": "logs-title" },
    h("div", { class: "logs-head" }, h("h2", { id: "logs-title" }, "Logs"), live),
    h("form", { class: "filters", onsubmit: (e) => e.preventDefault() },
      field("Level", levelSelect), field("Step", stepSelect), field("Search", search)),
    h("div", { class: "logs-bar" }, count, jump), timeline, more);

  let runStart = null;
  let nextCursor = null;
  let nodes = new Map(); // keyOf(line) -> its <li>
  let loading = 0; // the latest load() call; older answers are dropped
  let early = []; // tail lines that arrived while a first page was loading
  let catchUpAfterLoad = false;
  let paging = null; // the older page being read, so two clicks read it once
  let tail = null;
  const steps = new Set(state.step ? [state.step] : []);
  const url = (path, params) => getJSON(path, {
    min_level: state.level, step: state.step, q: state.q, ...params });
  const newest = (params) => url("v1/logs", { run_id: runId, ...params });

  function change({ replace = false } = {}) {
    state.level = levelSelect.value;
    state.step = stepSelect.value;
    state.q = search.value.trim();
    ctx.setParams(state, { replace });
    load().catch(ctx.report);
  }

  // The newest page, drawn afresh: on opening and when a filter changes.
  async function load() {
    const mine = ++loading;
    let answer;
    try {
      answer = await newest({ limit: PAGE });
    } catch (error) {
      if (mine === loading) loading = 0;
      throw error;
    }
    if (mine !== loading) return;
    loading = 0;
    nodes = new Map();
    timeline.replaceChildren(...answer.items.map(remember));
    nextCursor = answer.next_cursor;
    const arrived = early;
    early = [];
    for (const log of arrived) place(log);
    renderCount();
    if (catchUpAfterLoad) {
      catchUpAfterLoad = false;
      await catchUp();
    }
    ctx.loaded();
  }

  // Lines written while the tail was not listening (before it opened, between reconnects, at
  // the run's end) are in the database: the newest page is merged in, nothing is redrawn.
  async function catchUp() {
    if (loading) {
      catchUpAfterLoad = true;
      return;
    }
    const answer = await newest({ limit: PAGE });
    if (loading) return;
    const known = answer.items.some((log) => nodes.has(keyOf(log)));
    if (!known && answer.next_cursor && nodes.size) {
      await load(); // more than a page was missed: a gap cannot be shown, start again
      return;
    }
    for (const log of answer.items) place(log);
    renderCount();
  }

  async function older(limit = PAGE) {
    if (!paging) {
      paging = (async () => {
        const answer = await newest({ limit, cursor: nextCursor });
        for (const log of answer.items) if (!nodes.has(keyOf(log))) timeline.append(remember(log));
        nextCursor = answer.next_cursor;
        renderCount();
      })().finally(() => { paging = null; });
    }
    return paging;
  }

  async function jumpToFirstError() {
    const min = (LEVELNO[state.level] ?? 0) > LEVELNO.error ? state.level : "error";
    const answer = await url(`v1/runs/${encodeURIComponent(runId)}/logs`, { min_level: min, limit: 1 });
    const first = answer.items[0];
    if (!first) return;
    const key = keyOf(first);
    while (!nodes.has(key) && nextCursor) await older(JUMP_PAGE);
    const li = nodes.get(key);
    if (!li) return;
    for (const old of timeline.querySelectorAll(".jumped")) old.classList.remove("jumped");
    li.classList.add("jumped");
    li.tabIndex = -1;
    li.focus({ preventScroll: true });
    li.scrollIntoView({ block: "center" });
  }

  // A line from the tail or a catch-up, put where its time says; the newest goes on top.
  function place(log) {
    if (nodes.has(keyOf(log)) || !matches(log)) return;
    const at = Date.parse(log.ts);
    let next = timeline.firstElementChild;
    while (next && Number(next.dataset.t) > at) next = next.nextElementSibling;
    if (!next && nextCursor) return; // older than all shown: its page will bring it
    timeline.insertBefore(remember(log), next);
  }

  function remember(log) {
    const li = logItem(log, runStart, state.q);
    nodes.set(keyOf(log), li);
    if (log.step && !steps.has(log.step)) {
      steps.add(log.step);
      const current = stepSelect.value;
      stepSelect.replaceChildren(...[["", "All steps"], ...[...steps].map((s) => [s, s])].map(([v, t]) =>
        h("option", { value: v, selected: v === current }, t)));
    }
    return li;
  }

  function renderCount() {
    const n = nodes.size;
    const filtered = state.level || state.step || state.q;
    count.textContent = n
      ? `${fmtNumber(n)} line${n === 1 ? "" : "s"}${nextCursor ? " shown" : ""}, newest first`
      : filtered ? "No log line matches these filters." : "No log lines for this run.";
    more.replaceChildren(nextCursor ? h("button", { type: "button", onclick: () =>
      older().catch(ctx.report) }, "Load older lines") : "");
  }

  function matches(log) {
    if (state.level && (log.levelno ?? 0) < LEVELNO[state.level]) return false;
    if (state.step && log.step !== state.step) return false;
    return !state.q || String(log.message).toLowerCase().includes(state.q.toLowerCase());
  }

  // The run's record: its start gives each line its offset; its counts say whether to offer
  // the jump to the first error.
  function setRun(run) {
    const errors = (run.log_counts?.error ?? 0) + (run.log_counts?.critical ?? 0);
    jump.hidden = errors === 0;
    if (runStart || !run.started_at) return;
    runStart = run.started_at;
    for (const li of timeline.children) {
      li.querySelector(".log-time").append(offsetOf(li.dataset.ts, runStart) ?? "");
    }
  }

  function startTail() {
    if (tail) return;
    tail = eventSource("v1/tail", { run_id: runId });
    live.hidden = false;
    live.textContent = "● live";
    const receive = (event) => {
      live.textContent = "● live";
      let data;
      try {
        data = JSON.parse(event.data);
      } catch {
        return; // a comment or keep-alive
      }
      const lines = [data].flat().filter((log) => log && typeof log.message === "string");
      if (loading) early.push(...lines);
      else {
        for (const log of lines) place(log);
        if (lines.length) renderCount();
      }
    };
    tail.addEventListener("message", receive);
    tail.addEventListener("log", receive);
    tail.addEventListener("open", () => catchUp().catch(ctx.report));
    tail.addEventListener("error", () => {
      live.textContent = "live tail reconnecting…";
    });
  }

  function stopTail() {
    if (!tail) return;
    tail.close();
    tail = null;
    live.hidden = true;
  }

  return { section, load, catchUp, setRun, startTail, stopTail };
}

function stackOf(log) {
  if (log.error?.stack) return log.error.stack;
  return typeof log.attrs?.stack === "string" ? log.attrs.stack : null;
}

function offsetOf(ts, runStart) {
  const offset = runStart ? new Date(ts) - new Date(runStart) : null;
  return offset !== null && offset >= 0 ? h("span", { class: "muted offset" }, `+${fmtDuration(offset)}`) : null;
}

function logItem(log, runStart, q) {
  const stack = stackOf(log);
  const attrs = { ...(log.attrs || {}) };
  if (attrs.stack === stack) delete attrs.stack;
  const src = log.source || {};
  const where = [src.module || src.logger || src.file, src.function, src.line]
    .filter((v) => v !== undefined && v !== null && v !== "").join(":");
  const serious = (log.levelno ?? 0) >= LEVELNO.error;
  return h("li", { class: `log level-${log.level}`, dataset: { level: log.level, step: log.step || "",
    t: Date.parse(log.ts), ts: log.ts, logId: log.id ?? "" } },
    h("div", { class: "log-time" },
      h("time", { datetime: log.ts, title: fmtTime(log.ts, { ms: true }) }, fmtTime(log.ts, { ms: true }).slice(11)),
      offsetOf(log.ts, runStart)),
    h("div", { class: "log-body" },
      h("div", { class: "log-head" },
        levelBadge(log.level),
        log.step ? h("span", { class: "step" }, log.step) : null,
        messageOf(String(log.message), q)),
      log.error || stack ? h("details", { class: "stack", open: serious },
        h("summary", {}, [log.error?.type, log.error?.message].filter(Boolean).join(": ") || "Stack trace"),
        stack ? h("pre", {}, stack) : null) : null,
      Object.keys(attrs).length ? h("details", { class: "attrs" }, h("summary", {}, "details"), json(attrs)) : null,
      where || src.host ? h("p", { class: "source muted" },
        [where, src.host, src.pid ? `pid ${src.pid}` : ""].filter(Boolean).join(" · ")) : null));
}
