// One run: its record at the top, its logs below as a timeline, live while it runs.

import { ApiError, eventSource, getJSON } from "./api.js";
import {
  FINAL, LEVELNO, LEVELS, ago, field, fmtDuration, fmtNumber, fmtTime, h, href, json,
  levelBadge, message, progressBar, replaceKeepingFocus, select, statusBadge,
} from "./dom.js";

const PAGE = 500;

export function mount(root, ctx) {
  const runId = ctx.arg;
  ctx.title(`Run ${runId.slice(0, 8)}`);
  const state = { level: ctx.params.get("level") || "", step: ctx.params.get("step") || "",
    q: ctx.params.get("q") || "" };

  const head = h("section", { class: "run-head", "aria-label": "Run" });
  // What changed since the job's last success: asked once the run has ended.
  const changes = h("section", { class: "run-part run-changes", "aria-labelledby": "changes-title",
    hidden: true });
  const levelSelect = select("level", [["", "All levels"],
    ...LEVELS.slice(1).map((l) => [l, `${l} and above`])], state.level, () => change());
  const stepSelect = select("step", [["", "All steps"]], state.step, () => change());
  let typing;
  const search = h("input", { type: "search", name: "q", value: state.q, placeholder: "Text in message",
    oninput: () => { clearTimeout(typing); typing = setTimeout(() => change({ replace: true }), 300); } });
  const live = h("span", { class: "live", hidden: true, "aria-live": "polite" });
  const count = h("p", { class: "muted" });
  const timeline = h("ol", { class: "timeline" });
  const more = h("div", { class: "pager" });
  root.append(
    head,
    changes,
    h("section", { class: "run-logs", "aria-labelledby": "logs-title" },
      h("div", { class: "logs-head" }, h("h2", { id: "logs-title" }, "Logs"), live),
      h("form", { class: "filters", onsubmit: (e) => e.preventDefault() },
        field("Level", levelSelect), field("Step", stepSelect), field("Search", search)),
      count, timeline, more),
  );

  let run = null;
  let shownRun = "";
  let logs = [];
  let nextCursor = null;
  let tail = null;
  const steps = new Set(state.step ? [state.step] : []);

  function change({ replace = false } = {}) {
    state.level = levelSelect.value;
    state.step = stepSelect.value;
    state.q = search.value.trim();
    ctx.setParams(state, { replace });
    loadLogs().catch(ctx.report);
  }

  async function refresh() {
    let fresh;
    try {
      fresh = await getJSON(`v1/runs/${encodeURIComponent(runId)}`);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        head.replaceChildren(h("h1", {}, "Run not found"), message("error", `No run has the id ${runId}.`));
        ctx.loaded();
        return;
      }
      throw error;
    }
    const wasLive = run && !FINAL.has(run.status);
    const first = !run;
    run = fresh;
    const key = JSON.stringify(run);
    if (key !== shownRun) {
      shownRun = key;
      renderHead();
      if (first && logs.length) renderLogs();
      // The run page stands without the comparison: its failure is reported, not fatal.
      if (FINAL.has(run.status)) await loadChanges().catch(ctx.report);
    }
    if (FINAL.has(run.status)) {
      stopTail();
      // The tail may have missed the last lines between its end and the run's.
      if (wasLive) await loadLogs();
    } else {
      startTail();
    }
    ctx.loaded();
  }

  function renderHead() {
    ctx.title(`${run.job ?? "Run"} · ${run.status.replaceAll("_", " ")}`);
    const final = FINAL.has(run.status);
    const meta = [
      ["Run", h("code", {}, run.run_id)],
      ["Status", statusBadge(run.status)],
      ["Trigger", run.trigger ?? "–"],
      ["Started", [fmtTime(run.started_at), " (", ago(run.started_at), ")"]],
      ["Finished", run.finished_at ? fmtTime(run.finished_at) : "–"],
      ["Duration", final ? fmtDuration(run.duration_ms)
        : `${fmtDuration(Date.now() - new Date(run.started_at))} so far`],
      ["Step", run.step ?? "–"],
      ["Last event", run.last_event_at ? ago(run.last_event_at) : "–"],
      ["Log lines", completeness(run.log_completeness)],
    ];
    if (!final || typeof run.progress === "number") {
      meta.splice(6, 0, ["Progress", h("div", { class: "progress-cell" },
        progressBar(run.progress, "run progress"),
        typeof run.progress === "number" ? `${Math.round(run.progress)} %` : "unknown")]);
    }
    replaceKeepingFocus(head,
      h("p", { class: "crumbs" }, h("a", { href: href("runs", "", { job: run.job }) }, `← ${run.job ?? "all"} runs`)),
      h("h1", {}, run.job ?? "(no job)", " ", statusBadge(run.status)),
      h("dl", { class: "meta" }, meta.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
      run.error ? errorBox(run.error, "Error", true) : null,
      section("Counters", Object.keys(run.counters || {}).length ? h("dl", { class: "meta counters" },
        Object.entries(run.counters).map(([k, v]) => [h("dt", {}, k), h("dd", {}, fmtNumber(v))])) : null),
      section("Result", run.result == null ? null : json(run.result)),
      section("Log lines", h("p", { class: "level-counts" }, LEVELS.filter((l) => run.log_counts?.[l])
        .map((l) => h("span", { class: "count" }, levelBadge(l), ` ${run.log_counts[l]}`)))),
      Object.keys(run.attrs || {}).length
        ? h("details", { class: "attrs" }, h("summary", {}, "Attributes"), json(run.attrs)) : null,
    );
  }

  async function loadChanges() {
    const answer = await getJSON(`v1/runs/${encodeURIComponent(runId)}/compare`);
    const other = answer.with;
    if (!answer.summary.length) {
      changes.hidden = true;
      return;
    }
    const title = !other ? "Against the job's usual runs"
      : answer.with_reason === "last_success" ? "Since the last success" : "Compared with another run";
    changes.replaceChildren(
      h("h2", { id: "changes-title" }, title),
      other ? h("p", { class: "muted" }, h("a", { href: href("run", other.run_id) },
        `${other.job ?? "run"} ${other.run_id.slice(0, 8)}`), `, started ${fmtTime(other.started_at)}`) : null,
      h("ul", { class: "changes" }, answer.summary.map((line) => h("li", {}, line))),
    );
    changes.hidden = false;
  }

  // Lines from the tail carry no id: a line is known by its time, level, step and message.
  const keyOf = (log) => `${Date.parse(log.ts)}|${log.levelno}|${log.step ?? ""}|${log.message}`;
  let keys = new Set();
  let loading = 0; // the latest loadLogs call; older answers are dropped
  let early = []; // tail lines that arrived while a first page was loading

  async function loadLogs(cursor = null) {
    const mine = ++loading;
    let answer;
    try {
      answer = await getJSON(`v1/runs/${encodeURIComponent(runId)}/logs`, {
        min_level: state.level, step: state.step, q: state.q, limit: PAGE, cursor,
      });
    } catch (error) {
      if (mine === loading) loading = 0;
      throw error;
    }
    if (mine !== loading) return;
    loading = 0;
    if (!cursor) {
      logs = [];
      keys = new Set();
    }
    for (const log of answer.items) add(log);
    nextCursor = answer.next_cursor;
    const arrived = early;
    early = [];
    if (!nextCursor) for (const log of arrived) if (matches(log) && !keys.has(keyOf(log))) add(log);
    renderLogs();
    ctx.loaded();
  }

  function add(log) {
    keys.add(keyOf(log));
    logs.push(log);
    if (log.step && !steps.has(log.step)) {
      steps.add(log.step);
      const current = stepSelect.value;
      stepSelect.replaceChildren(...[["", "All steps"], ...[...steps].map((s) => [s, s])].map(([v, t]) =>
        h("option", { value: v, selected: v === current }, t)));
    }
  }

  function renderLogs() {
    const filtered = state.level || state.step || state.q;
    count.textContent = logs.length
      ? `${logs.length} line${logs.length === 1 ? "" : "s"}${nextCursor ? " so far" : ""}, oldest first`
      : filtered ? "No log line matches these filters." : "No log lines for this run.";
    timeline.replaceChildren(...logs.map((log) => logItem(log, run?.started_at, state.q)));
    more.replaceChildren(nextCursor ? h("button", { type: "button", onclick: () =>
      loadLogs(nextCursor).catch(ctx.report) }, "Load more") : "");
  }

  function matches(log) {
    if (state.level && (log.levelno ?? 0) < LEVELNO[state.level]) return false;
    if (state.step && log.step !== state.step) return false;
    return !state.q || String(log.message).toLowerCase().includes(state.q.toLowerCase());
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
      if (loading) {
        early.push(...lines);
        return;
      }
      // At the end of the list only: otherwise "Load more" brings these in order.
      if (nextCursor) return;
      const fresh = lines.filter((log) => matches(log) && !keys.has(keyOf(log)));
      for (const log of fresh) {
        add(log);
        timeline.append(logItem(log, run?.started_at, state.q));
      }
      if (fresh.length) count.textContent = `${logs.length} line${logs.length === 1 ? "" : "s"}, oldest first`;
    };
    tail.addEventListener("message", receive);
    tail.addEventListener("log", receive);
    // (Re)connected: whatever was written while the tail was not listening is in the database.
    tail.addEventListener("open", () => loadLogs().catch(ctx.report));
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

  Promise.all([refresh(), loadLogs()]).catch(ctx.report);
  return { refresh, destroy: stopTail };
}

function section(title, content) {
  if (!content) return null;
  return h("section", { class: "run-part" }, h("h2", {}, title), content);
}

function stackOf(log) {
  if (log.error?.stack) return log.error.stack;
  return typeof log.attrs?.stack === "string" ? log.attrs.stack : null;
}

// An error object {type, message, stack}: the stack folded out (open) when asked.
function errorBox(error, title, open) {
  const err = typeof error === "object" && error ? error : { message: String(error) };
  const headline = [err.type, err.message].filter(Boolean).join(": ") || "error";
  return h("section", { class: "error-box", "aria-label": title },
    h("h2", {}, title),
    h("p", { class: "error-headline" }, headline),
    err.stack ? h("details", { class: "stack", open },
      h("summary", {}, "Stack trace"), h("pre", {}, err.stack)) : null);
}

function highlight(text, q) {
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

function logItem(log, runStart, q) {
  const stack = stackOf(log);
  const attrs = { ...(log.attrs || {}) };
  if (attrs.stack === stack) delete attrs.stack;
  const offset = runStart ? new Date(log.ts) - new Date(runStart) : null;
  const src = log.source || {};
  const where = [src.module || src.logger || src.file, src.function, src.line]
    .filter((v) => v !== undefined && v !== null && v !== "").join(":");
  const serious = (log.levelno ?? 0) >= LEVELNO.error;
  return h("li", { class: `log level-${log.level}`, dataset: { level: log.level, step: log.step || "" } },
    h("div", { class: "log-time" },
      h("time", { datetime: log.ts, title: fmtTime(log.ts, { ms: true }) }, fmtTime(log.ts, { ms: true }).slice(11)),
      offset !== null && offset >= 0 ? h("span", { class: "muted offset" }, `+${fmtDuration(offset)}`) : null),
    h("div", { class: "log-body" },
      h("div", { class: "log-head" },
        levelBadge(log.level),
        log.step ? h("span", { class: "step" }, log.step) : null,
        h("span", { class: "log-message" }, highlight(String(log.message), q))),
      log.error || stack ? h("details", { class: "stack", open: serious },
        h("summary", {}, [log.error?.type, log.error?.message].filter(Boolean).join(": ") || "Stack trace"),
        stack ? h("pre", {}, stack) : null) : null,
      Object.keys(attrs).length ? h("details", { class: "attrs" }, h("summary", {}, "details"), json(attrs)) : null,
      where || src.host ? h("p", { class: "source muted" },
        [where, src.host, src.pid ? `pid ${src.pid}` : ""].filter(Boolean).join(" · ")) : null));
}

// "complete", "N lines missing (seq a–b, …)", "none missing so far", or "unknown" (no seq).
function completeness(c) {
  if (!c || c.state === "unknown") return "unknown";
  if (c.state === "complete") return `complete (${fmtNumber(c.received)})`;
  if (c.state === "receiving") return `none missing so far (${fmtNumber(c.received)})`;
  const ranges = (c.gaps || []).map(([a, b]) => (a === b ? `${a}` : `${a}–${b}`)).join(", ");
  const more = c.gaps && c.gaps.length >= 10 ? ", …" : "";
  return `${fmtNumber(c.missing)} of ${fmtNumber(c.expected)} lines missing`
    + (ranges ? ` (seq ${ranges}${more})` : "");
}
