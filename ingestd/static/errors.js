// Errors (logs at level error and above), grouped by step, by fingerprint and by job and step,
// optionally for one job; each group's latest runs are listed once each, with their count.

import { getJSON } from "./api.js";
import { ago, field, fmtNumber, fmtTime, h, href, replaceKeepingFocus, select, statusBadge } from "./dom.js";
import { fillJobSelect } from "./jobs.js";

const DAYS = [["1", "Last 24 hours"], ["7", "Last 7 days"], ["30", "Last 30 days"], ["90", "Last 90 days"]];
// By job and step replaces a by-job table: it says which job too, and still reads well with
// the job filter on (one job's steps), where a by-job table would be a single row.
const GROUPS = [
  ["step", "By step", "Step"],
  ["fingerprint", "By fingerprint (the same error, wherever it came from)", "Error"],
  ["job,step", "By job and step", "Job / step"],
];

export function mount(root, ctx) {
  ctx.title("Errors");
  const state = { days: ctx.params.get("days") || "7", job: ctx.params.get("job") || "" };
  const daysSelect = select("days", DAYS, state.days, () => change({ days: daysSelect.value }));
  const jobSelect = select("job", [["", "All jobs"]], state.job, () => change({ job: jobSelect.value }));
  const parts = Object.fromEntries(GROUPS.map(([by]) => [by, h("div", { class: "table-wrap" })]));
  root.append(
    h("div", { class: "view-head" }, h("h1", {}, "Errors"),
      h("p", { class: "muted" }, "Log lines at level error or critical, grouped three ways.")),
    h("form", { class: "filters", onsubmit: (e) => e.preventDefault() },
      field("Job", jobSelect), field("Period", daysSelect)),
    ...GROUPS.map(([by, title]) => h("section", { class: "group", dataset: { by } },
      h("h2", {}, title), parts[by])),
  );
  const shown = {};

  function change(values) {
    Object.assign(state, values);
    ctx.setParams({ days: state.days === "7" ? "" : state.days, job: state.job });
    refresh().catch(ctx.report);
  }

  let jobsLoaded = false;
  async function loadJobs() {
    await fillJobSelect(jobSelect, state.job);
    jobsLoaded = true;
  }

  async function refresh() {
    const filters = { days: state.days, job: state.job };
    const answers = await Promise.all(GROUPS.map(([by]) => getJSON("v1/stats/errors", { ...filters, by })));
    if (!jobsLoaded) await loadJobs();
    GROUPS.forEach(([by, , column], i) => {
      const key = JSON.stringify([filters, answers[i]]);
      if (key === shown[by]) return;
      shown[by] = key;
      replaceKeepingFocus(parts[by], table(by, column, answers[i].items, filters));
    });
    ctx.loaded();
  }

  refresh().catch(ctx.report);
  return { refresh };
}

function table(by, column, items, filters) {
  if (!items.length) return h("p", { class: "muted" }, "No errors in this period.");
  const max = Math.max(...items.map((i) => i.error_count));
  return h("table", { class: "errors-table cards" },
    h("thead", {}, h("tr", {}, [column, "Errors", "Runs affected", "Failed runs", "First seen", "Last seen", "Example"]
      .map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, items.map((item) => {
      const sample = typeof item.sample === "object" && item.sample ? item.sample : { message: item.sample };
      const bar = h("span", { class: "count-bar" });
      bar.style.width = `${Math.max(2, (item.error_count / max) * 100)}%`;
      let label = item.key ?? `(no ${by})`;
      if (by === "fingerprint") {
        label = [h("span", {}, errorTitle(sample) || "(no message)"), h("code", { class: "muted small" }, item.key ?? "")];
      } else if (by === "job,step") {
        label = [item.job ? h("a", { href: href("job", item.job) }, item.job) : "(no job)",
          " / ", item.key ?? "(no step)"];
      }
      const focusKey = `${by}:${item.job ?? ""}:${item.key}`;
      return h("tr", { dataset: { key: item.key ?? "", job: item.job ?? "" } },
        h("th", { scope: "row", "data-label": column }, label),
        h("td", { "data-label": "Errors", class: "count-cell" }, h("span", {}, fmtNumber(item.error_count)),
          h("span", { class: "count-track", "aria-hidden": "true" }, bar)),
        h("td", { "data-label": "Runs affected" }, fmtNumber(item.affected_runs)),
        h("td", { "data-label": "Failed runs", class: "failed-runs" }, fmtNumber(item.failed_runs ?? 0)),
        h("td", { "data-label": "First seen" }, ago(item.first_seen)),
        h("td", { "data-label": "Last seen" }, ago(item.last_seen)),
        h("td", { "data-label": "Example", class: "sample" },
          sample.run_id
            ? h("a", { href: href("run", sample.run_id, { level: "error" }), dataset: { focusKey } },
              sample.message ?? "open the run")
            : h("span", {}, sample.message ?? "–"),
          by === "job,step" && !item.job ? null : latestRuns(by, item, filters)));
    })));
}

function errorTitle(sample) {
  const e = sample.error;
  if (e && typeof e === "object" && (e.type || e.message)) return [e.type, e.message].filter(Boolean).join(": ");
  return sample.message;
}

// The group's latest runs, each once with how many of its errors it holds: fetched when opened.
function latestRuns(by, item, filters) {
  const job = by === "job,step" ? item.job : filters.job;
  return groupRuns({ days: filters.days, by, key: item.key, job, limit: 10 });
}

// The runs of an error group (GET /v1/stats/errors/runs), newest first, each once with its
// status and how many of the group's lines it holds; read when the box is opened. A job's
// page uses it for its errors by step.
export function groupRuns(params, { label = "Latest runs with it", linkParams = { level: "error" } } = {}) {
  const list = h("ul", { class: "occurrences" });
  const box = h("details", { class: "recent" }, h("summary", {}, label), list);
  box.addEventListener("toggle", async () => {
    if (!box.open || list.dataset.loaded) return;
    list.dataset.loaded = "1";
    try {
      const { items } = await getJSON("v1/stats/errors/runs", params);
      list.replaceChildren(...items.map((run) => h("li", { dataset: { runId: run.run_id } },
        statusBadge(run.status), " ",
        h("a", { href: href("run", run.run_id, linkParams) }, `${run.job ?? "run"} · ${fmtTime(run.started_at)}`),
        " ",
        h("span", { class: "muted error-count" }, `${fmtNumber(run.error_count)} error${run.error_count === 1 ? "" : "s"}`))));
      if (!items.length) list.replaceChildren(h("li", { class: "muted" }, "none left"));
    } catch (error) {
      list.replaceChildren(h("li", { class: "notice error" }, String(error.message)));
    }
  });
  return box;
}
