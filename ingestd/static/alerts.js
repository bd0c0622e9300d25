// Alerts: what the monitor raised, newest first, with how each delivery went.
// Filters (job, rule, range) and the page (cursor) live in the URL, like the runs'.

import { getJSON } from "./api.js";
import {
  RANGES, ago, field, fmtTime, h, href, rangeSince, replaceKeepingFocus, select,
} from "./dom.js";
import { fillJobSelect } from "./jobs.js";

// The rules of GET /v1/alerts (docs/monitoring.md "Alert rules"), in words.
export const RULE_WORDS = {
  failed: "failed",
  timed_out: "timed out",
  missed: "missed (late)",
  failures_in_a_row: "failed in a row",
  recovered: "recovered",
  anomaly: "unusual run",
  stuck: "stuck",
};
// Colours of the badge, borrowed from the run statuses the rules are about.
const RULE_TONE = {
  failed: "failed", timed_out: "timed_out", missed: "warning", failures_in_a_row: "failed",
  recovered: "success", anomaly: "warning", stuck: "warning",
};
const PERIODS = RANGES.filter(([value]) => value !== "custom");

export function mount(root, ctx) {
  ctx.title("Alerts");
  const state = { job: ctx.params.get("job") || "", rule: ctx.params.get("rule") || "",
    range: ctx.params.get("range") || "", cursor: ctx.params.get("cursor") || "" };
  const cursors = []; // the pages before this one, for "Newer"

  const jobSelect = select("job", [["", "All jobs"]], state.job, () => change({ job: jobSelect.value }));
  const ruleSelect = select("rule", [["", "All rules"], ...Object.entries(RULE_WORDS)], state.rule,
    () => change({ rule: ruleSelect.value }));
  const rangeSelect = select("range", PERIODS, state.range, () => change({ range: rangeSelect.value }));
  const summary = h("p", { class: "muted", "aria-live": "polite" });
  const list = h("div", { class: "table-wrap" });
  const pager = h("nav", { class: "pager", "aria-label": "Pages" });
  root.append(
    h("div", { class: "view-head" }, h("h1", {}, "Alerts"),
      h("p", { class: "muted" }, "The alerts the monitor raised, newest first, and how each was delivered.")),
    h("form", { class: "filters", onsubmit: (e) => e.preventDefault() },
      field("Job", jobSelect), field("Rule", ruleSelect), field("Time", rangeSelect)),
    summary, list, pager,
  );

  function change(values) {
    Object.assign(state, values, { cursor: "" });
    cursors.length = 0;
    ctx.setParams(state);
    load().catch(ctx.report);
  }

  function page(cursor) {
    state.cursor = cursor;
    ctx.setParams(state);
    load().catch(ctx.report);
  }

  let jobsLoaded = false;
  async function loadJobs() {
    await fillJobSelect(jobSelect, state.job);
    jobsLoaded = true;
  }

  let shown = "";
  async function load() {
    const answer = await getJSON("v1/alerts", { job: state.job, rule: state.rule,
      since: rangeSince(state.range), cursor: state.cursor, limit: 50 });
    if (!jobsLoaded) await loadJobs();
    const key = JSON.stringify(answer);
    if (key !== shown) {
      shown = key;
      render(answer);
    }
    ctx.loaded();
  }

  function render({ items, next_cursor: next }) {
    const filtered = state.job || state.rule || state.range;
    summary.textContent = items.length
      ? `${items.length} alert${items.length === 1 ? "" : "s"}${next || state.cursor ? " on this page" : ""}, newest first`
      : filtered ? "No alert matches these filters." : "";
    replaceKeepingFocus(list, items.length ? h("table", { class: "alerts-table cards" },
      h("caption", { class: "visually-hidden" }, "Alerts, newest first"),
      h("thead", {}, h("tr", {}, ["When", "Rule", "Job", "What happened", "Run", "Delivery"]
        .map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, items.map(alertRow))) : filtered || state.cursor ? [] : emptyState());
    const buttons = [];
    if (state.cursor) {
      buttons.push(h("button", { type: "button", onclick: () => page(cursors.pop() || "") },
        cursors.length ? "← Newer" : "← Newest"));
    }
    if (next) {
      buttons.push(h("button", { type: "button", onclick: () => {
        cursors.push(state.cursor);
        page(next);
      } }, "Older →"));
    }
    pager.replaceChildren(...buttons);
  }

  load().catch(ctx.report);
  return { refresh: load };
}

function emptyState() {
  return h("div", { class: "notice info empty-alerts" },
    h("p", {}, "No alerts have been raised yet."),
    h("p", {}, "Alerts are raised by the monitor's rules (a run failed, timed out, is stuck, a job " +
      "missed its schedule …) and sent to webhooks or Apprise URLs: set ", h("code", {}, "INGESTD_ALERT_WEBHOOKS"),
      " or ", h("code", {}, "INGESTD_ALERT_APPRISE_URLS"), " for every job, or a job's own ",
      h("code", {}, "alerts"), " with ", h("code", {}, "PUT /v1/jobs/{job}"), ". See “Alert rules” and " +
      "“Deliveries” in ", h("code", {}, "docs/monitoring.md"), "."));
}

function alertRow(alert) {
  return h("tr", { class: "alert-row", dataset: { alertId: alert.id, rule: alert.rule, job: alert.job ?? "" } },
    h("td", { "data-label": "When" }, ago(alert.created_at),
      h("span", { class: "muted small exact" }, fmtTime(alert.created_at))),
    h("td", { "data-label": "Rule" }, ruleBadge(alert.rule)),
    h("th", { scope: "row", "data-label": "Job" },
      alert.job ? h("a", { href: href("job", alert.job) }, alert.job) : "(no job)"),
    // Multi-line "what changed" summaries are kept as they were written.
    h("td", { "data-label": "What happened", class: "wide" }, h("p", { class: "alert-text" }, alert.text)),
    h("td", { "data-label": "Run" }, alert.run_id
      ? [h("a", { href: href("run", alert.run_id), dataset: { focusKey: `alert:${alert.id}` } },
        `run ${alert.run_id.slice(0, 8)}`), ended(alert.details)]
      : h("span", { class: "muted" }, "–")),
    h("td", { "data-label": "Delivery", class: "wide" }, deliveries(alert.deliveries || [])));
}

// When the run ended, beside when the alert was raised: a run that reached ingestd late
// (a replayed spool) is raised about now, and this says how old the news is.
function ended(details) {
  const at = details && typeof details === "object" ? details.finished_at : null;
  return at ? h("span", { class: "muted small exact run-ended" }, "ended ", ago(at)) : null;
}

export function ruleBadge(rule) {
  const tone = RULE_TONE[rule] || "unknown";
  return h("span", { class: `badge status-${tone}`, dataset: { rule } }, RULE_WORDS[rule] ?? rule);
}

function deliveries(list) {
  if (!list.length) return h("span", { class: "muted" }, "no target");
  return h("ul", { class: "deliveries" }, list.map((d) => {
    const state = deliveryState(d);
    return h("li", { dataset: { delivery: state } },
      h("span", { class: `badge delivery-${state}` }, state),
      " ", h("code", { class: "target" }, d.target),
      state === "sent" && d.sent_at ? h("span", { class: "muted" }, " ", ago(d.sent_at)) : null,
      state === "retrying" ? h("span", { class: "muted" },
        ` after attempt ${d.attempts}, next at ${fmtTime(d.next_attempt_at)}`) : null,
      d.last_error && state !== "sent" ? h("span", { class: "last-error" }, d.last_error) : null);
  }));
}

// "pending" is either not tried yet or waiting for its next try after a failure.
function deliveryState(d) {
  if (d.status === "pending") return d.attempts > 0 ? "retrying" : "sending";
  return d.status;
}
