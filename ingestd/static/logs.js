// Search across all logs: text (ignoring case), job, minimum level, step, time range.
// The API scans the messages of the range (no index; docs/read-api.md "Searching messages"),
// so a search is always bounded in time and sent on submit, not on every keystroke.

import { getJSON } from "./api.js";
import {
  LEVELS, RANGES, field, fmtNumber, fmtTime, h, href, levelBadge, messageOf, rangeSince, select,
} from "./dom.js";
import { fillJobSelect } from "./jobs.js";

const PAGE = 100;
const DEFAULT_RANGE = "24h";
// Any time is not offered: without a bound the scan reads back through every day kept.
const PERIODS = RANGES.filter(([value]) => value !== "" && value !== "custom");

export function mount(root, ctx) {
  ctx.title("Logs");
  const state = {
    q: ctx.params.get("q") || "", job: ctx.params.get("job") || "",
    min_level: ctx.params.get("min_level") || "", step: ctx.params.get("step") || "",
    range: PERIODS.some(([v]) => v === ctx.params.get("range")) ? ctx.params.get("range") : DEFAULT_RANGE,
  };
  const search = h("input", { type: "search", name: "q", value: state.q, placeholder: "Text in any message",
    "aria-describedby": "logs-bound" });
  const jobSelect = select("job", [["", "All jobs"]], state.job, () => submit());
  const levelSelect = select("min_level", [["", "All levels"],
    ...LEVELS.slice(1).map((l) => [l, `${l} and above`])], state.min_level, () => submit());
  const stepInput = h("input", { type: "text", name: "step", value: state.step, placeholder: "Any step",
    size: 10 });
  const rangeSelect = select("range", PERIODS, state.range, () => submit());
  const count = h("p", { class: "muted", "aria-live": "polite" });
  const timeline = h("ol", { class: "timeline search-results" });
  const more = h("div", { class: "pager" });
  root.append(
    h("div", { class: "view-head" }, h("h1", {}, "Logs"),
      h("p", { class: "muted", id: "logs-bound" }, "Searches every job's log lines, ignoring case. " +
        "The search reads every line in the time range (there is no index for it), so it is limited " +
        "to a range: the last 24 hours unless you pick another.")),
    h("form", { class: "filters log-search", role: "search", onsubmit: (e) => {
      e.preventDefault();
      submit();
    } },
    field("Search", search), field("Job", jobSelect), field("Level", levelSelect),
    field("Step", stepInput), field("Time", rangeSelect),
    h("button", { type: "submit", class: "primary" }, "Search")),
    count, timeline, more,
  );

  let ids = new Set(); // the lines shown, by id
  let newest = null; // the newest shown line's time: a refresh scans only from there
  let nextCursor = null;
  let loading = 0; // the latest load; older answers are dropped
  let paging = null;

  function submit() {
    Object.assign(state, { q: search.value.trim(), job: jobSelect.value, min_level: levelSelect.value,
      step: stepInput.value.trim(), range: rangeSelect.value });
    ctx.setParams(state);
    load().catch(ctx.report);
  }

  const query = (params) => getJSON("v1/logs", { q: state.q, job: state.job, min_level: state.min_level,
    step: state.step, since: rangeSince(state.range), limit: PAGE, ...params });

  let jobsLoaded = false;
  async function loadJobs() {
    await fillJobSelect(jobSelect, state.job);
    jobsLoaded = true;
  }

  // The newest page, drawn afresh: on opening and on each search.
  async function load() {
    const mine = ++loading;
    const answer = await query({});
    if (mine !== loading) return;
    if (!jobsLoaded) await loadJobs();
    ids = new Set();
    newest = null;
    timeline.replaceChildren(...answer.items.map(remember));
    nextCursor = answer.next_cursor;
    renderCount();
    ctx.loaded();
  }

  // Auto-refresh: lines newer than those shown go on top; what was paged stays.
  async function refresh() {
    if (!ids.size) {
      await load();
      return;
    }
    const mine = loading;
    const answer = await query(newest ? { since: newest } : {});
    if (mine !== loading) return;
    const fresh = answer.items.filter((log) => !ids.has(log.id));
    if (fresh.length === answer.items.length && answer.next_cursor) {
      await load(); // more than a page is new: the gap cannot be shown, start again
      return;
    }
    timeline.prepend(...fresh.map(remember));
    renderCount();
    ctx.loaded();
  }

  function older() {
    if (!paging) {
      paging = (async () => {
        const mine = loading;
        const answer = await query({ cursor: nextCursor });
        if (mine !== loading) return;
        timeline.append(...answer.items.filter((log) => !ids.has(log.id)).map(remember));
        nextCursor = answer.next_cursor;
        renderCount();
      })().finally(() => { paging = null; });
    }
    return paging;
  }

  function remember(log) {
    ids.add(log.id);
    if (!newest || log.ts > newest) newest = log.ts;
    return logLine(log, state.q);
  }

  function renderCount() {
    const n = ids.size;
    const period = PERIODS.find(([v]) => v === state.range)?.[1].toLowerCase() ?? "";
    count.textContent = n
      ? `${fmtNumber(n)} line${n === 1 ? "" : "s"}${nextCursor ? " shown" : ""} in the ${period}, newest first`
      : `No log line matches in the ${period}.`;
    more.replaceChildren(nextCursor ? h("button", { type: "button", class: "older",
      onclick: () => older().catch(ctx.report) }, "Older →") : "");
  }

  load().catch(ctx.report);
  return { refresh };
}

function logLine(log, q) {
  return h("li", { class: `log level-${log.level}`, dataset: { level: log.level, logId: log.id ?? "",
    job: log.job ?? "", step: log.step ?? "" } },
    h("div", { class: "log-time" },
      h("time", { datetime: log.ts, title: fmtTime(log.ts, { ms: true }) }, fmtTime(log.ts))),
    h("div", { class: "log-body" },
      h("div", { class: "log-head" },
        levelBadge(log.level),
        log.job ? h("a", { class: "job", href: href("job", log.job) }, log.job) : null,
        log.step ? h("span", { class: "step" }, log.step) : null,
        messageOf(String(log.message), q)),
      log.run_id
        ? h("a", { class: "run-link small", href: href("run", log.run_id, { q }) }, "open its run")
        : h("span", { class: "muted small" }, "no run")));
}
