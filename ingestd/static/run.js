// One run: its record at the top, its logs below as a timeline, live while it runs.

import { ApiError, getJSON } from "./api.js";
import {
  FINAL, LEVELS, ago, fmtDuration, fmtNumber, fmtTime, h, href, json,
  levelBadge, message, NO_PROGRESS, progressBar, replaceKeepingFocus, statusBadge,
} from "./dom.js";
import { shownStatus } from "./jobs.js";
import { runLogs } from "./runlogs.js";

export function mount(root, ctx) {
  const runId = ctx.arg;
  ctx.title(`Run ${runId.slice(0, 8)}`);
  const head = h("section", { class: "run-head", "aria-label": "Run" });
  // What changed since the job's last success: asked once the run has ended.
  const changes = h("section", { class: "run-part run-changes", "aria-labelledby": "changes-title",
    hidden: true });
  const logs = runLogs(runId, ctx);
  root.append(
    head,
    changes,
    logs.section,
  );

  let run = null;
  let stuck = null; // /v1/jobs' verdict on this run while it runs: { reason, text, ... }
  let shownRun = "";

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
    run = fresh;
    // A stuck run still reads "running": say so here too, as the Jobs page does (its
    // verdict lives in /v1/jobs only, judged at request time).
    stuck = FINAL.has(run.status) ? null : await getJSON("v1/jobs", { recent: 0 })
      .then(({ items }) => items.find((j) => j.stuck?.run_id === run.run_id)?.stuck ?? null)
      .catch(() => null);
    logs.setRun(run);
    const key = JSON.stringify([run, stuck]);
    if (key !== shownRun) {
      shownRun = key;
      renderHead();
      // The run page stands without the comparison: its failure is reported, not fatal.
      // A missed slot never ran: there is nothing to compare.
      if (FINAL.has(run.status) && shownStatus(run) !== "missed") await loadChanges().catch(ctx.report);
    }
    if (FINAL.has(run.status)) {
      logs.stopTail();
      // The tail may have missed the last lines between its end and the run's.
      if (wasLive) await logs.catchUp();
    } else {
      logs.startTail();
    }
    ctx.loaded();
  }

  function renderHead() {
    if (shownStatus(run) === "missed") {
      renderMissed();
      return;
    }
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
        typeof run.progress === "number" ? `${Math.round(run.progress)} %` : NO_PROGRESS)]);
    }
    replaceKeepingFocus(head,
      h("p", { class: "crumbs" }, h("a", { href: href("runs", "", { job: run.job }) }, `← ${run.job ?? "all"} runs`)),
      h("h1", {}, run.job ?? "(no job)", " ", statusBadge(run.status)),
      stuck ? h("p", { class: "notice stuck-run", role: "status" }, "This run looks stuck: ",
        stuck.text, ". It is still marked running; nothing is written to it.") : null,
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

  // The monitor records a missed slot as a failed 0 ms run: shown as what it is, a slot
  // that came and went with no run, and when it was due.
  function renderMissed() {
    ctx.title(`${run.job ?? "Run"} · missed`);
    const due = run.started_at;
    replaceKeepingFocus(head,
      h("p", { class: "crumbs" }, h("a", { href: href("runs", "", { job: run.job }) }, `← ${run.job ?? "all"} runs`)),
      h("h1", {}, run.job ?? "(no job)", " ", statusBadge("missed")),
      h("p", { class: "notice missed-slot", role: "status" },
        "This slot was missed: no run started in time. It was due ", fmtTime(due), " (", ago(due),
        "). Missed slots are left out of the job's success rate and durations."),
      h("dl", { class: "meta" }, [
        ["Run", h("code", {}, run.run_id)],
        ["Status", statusBadge("missed")],
        ["Due", [fmtTime(due), " (", ago(due), ")"]],
        ["Trigger", run.trigger ?? "–"],
        ["Duration", "did not run"],
      ].map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
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

  Promise.all([refresh(), logs.load()]).catch(ctx.report);
  return { refresh, destroy: logs.stopTail };
}

function section(title, content) {
  if (!content) return null;
  return h("section", { class: "run-part" }, h("h2", {}, title), content);
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
