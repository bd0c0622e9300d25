// Errors (logs at level error and above), grouped by step, by fingerprint and by job.

import { getJSON } from "./api.js";
import { ago, field, fmtNumber, fmtTime, h, href, rangeSince, replaceKeepingFocus, select } from "./dom.js";

const DAYS = [["1", "Last 24 hours"], ["7", "Last 7 days"], ["30", "Last 30 days"], ["90", "Last 90 days"]];
const GROUPS = [
  ["step", "By step", "Step"],
  ["fingerprint", "By fingerprint (the same error, wherever it came from)", "Error"],
  ["job", "By job", "Job"],
];

export function mount(root, ctx) {
  ctx.title("Errors");
  const days = ctx.params.get("days") || "7";
  const daysSelect = select("days", DAYS, days, () => {
    ctx.setParams({ days: daysSelect.value });
    refresh().catch(ctx.report);
  });
  const parts = Object.fromEntries(GROUPS.map(([by]) => [by, h("div", { class: "table-wrap" })]));
  root.append(
    h("div", { class: "view-head" }, h("h1", {}, "Errors"),
      h("p", { class: "muted" }, "Log lines at level error or critical, grouped three ways.")),
    h("form", { class: "filters", onsubmit: (e) => e.preventDefault() }, field("Period", daysSelect)),
    ...GROUPS.map(([by, title]) => h("section", { class: "group", dataset: { by } },
      h("h2", {}, title), parts[by])),
  );
  const shown = {};

  async function refresh() {
    const answers = await Promise.all(GROUPS.map(([by]) =>
      getJSON("v1/stats/errors", { days: daysSelect.value, by })));
    GROUPS.forEach(([by, , column], i) => {
      const key = JSON.stringify(answers[i]);
      if (key === shown[by]) return;
      shown[by] = key;
      replaceKeepingFocus(parts[by], table(by, column, answers[i].items, daysSelect.value));
    });
    ctx.loaded();
  }

  refresh().catch(ctx.report);
  return { refresh };
}

function table(by, column, items, days) {
  if (!items.length) return h("p", { class: "muted" }, "No errors in this period.");
  const max = Math.max(...items.map((i) => i.error_count));
  return h("table", { class: "errors-table cards" },
    h("thead", {}, h("tr", {}, [column, "Errors", "Runs affected", "First seen", "Last seen", "Example"]
      .map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, items.map((item) => {
      const sample = typeof item.sample === "object" && item.sample ? item.sample : { message: item.sample };
      const bar = h("span", { class: "count-bar" });
      bar.style.width = `${Math.max(2, (item.error_count / max) * 100)}%`;
      let label = item.key ?? `(no ${by})`;
      if (by === "fingerprint") {
        label = [h("span", {}, errorTitle(sample) || "(no message)"), h("code", { class: "muted small" }, item.key ?? "")];
      } else if (by === "job" && item.key) {
        label = h("a", { href: href("runs", "", { job: item.key }) }, item.key);
      }
      return h("tr", {},
        h("th", { scope: "row", "data-label": column }, label),
        h("td", { "data-label": "Errors", class: "count-cell" }, h("span", {}, fmtNumber(item.error_count)),
          h("span", { class: "count-track", "aria-hidden": "true" }, bar)),
        h("td", { "data-label": "Runs affected" }, fmtNumber(item.affected_runs)),
        h("td", { "data-label": "First seen" }, ago(item.first_seen)),
        h("td", { "data-label": "Last seen" }, ago(item.last_seen)),
        h("td", { "data-label": "Example", class: "sample" },
          sample.run_id
            ? h("a", { href: href("run", sample.run_id, { level: "error" }), dataset: { focusKey: `${by}:${item.key}` } },
              sample.message ?? "open the run")
            : h("span", {}, sample.message ?? "–"),
          item.key === null || item.key === undefined ? null : occurrences(by, item.key, days)));
    })));
}

function errorTitle(sample) {
  const e = sample.error;
  if (e && typeof e === "object" && (e.type || e.message)) return [e.type, e.message].filter(Boolean).join(": ");
  return sample.message;
}

// The latest error lines of a group, with links to their runs: fetched when opened.
function occurrences(by, key, days) {
  const list = h("ul", { class: "occurrences" });
  const box = h("details", { class: "recent" }, h("summary", {}, "Latest runs with it"), list);
  box.addEventListener("toggle", async () => {
    if (!box.open || list.dataset.loaded) return;
    list.dataset.loaded = "1";
    const params = { since: rangeSince(`${days}d`), limit: 10 };
    if (by === "fingerprint") params.fingerprint = key;
    else Object.assign(params, { [by]: key, min_level: "error" });
    try {
      const { items } = await getJSON("v1/logs", params);
      list.replaceChildren(...items.map((log) => h("li", {},
        log.run_id
          ? h("a", { href: href("run", log.run_id, { level: "error" }) }, `${log.job ?? "run"} · ${fmtTime(log.ts)}`)
          : `${log.job ?? "no job"} · ${fmtTime(log.ts)}`)));
      if (!items.length) list.replaceChildren(h("li", { class: "muted" }, "none left"));
    } catch (error) {
      list.replaceChildren(h("li", { class: "notice error" }, String(error.message)));
    }
  });
  return box;
}
