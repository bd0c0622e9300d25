// A non-Python client: Node.js >= 18 (global fetch), no packages. Posts one run and its
// logs as NDJSON to /v1/events, the way a JavaScript cron job (seed 002) would.
//
//   INGESTD_URL=http://127.0.0.1:8080 INGESTD_TOKEN=... node examples/node_client.mjs
//
// Events are sent in one request with an Idempotency-Key, so retrying after a timeout can
// never store them twice. A failure to log is reported and ignored: the job goes on.
import { randomUUID } from "node:crypto";

const URL_BASE = (process.env.INGESTD_URL || "http://127.0.0.1:8080").replace(/\/$/, "");
const TOKEN = process.env.INGESTD_TOKEN || "";

async function send(events, attempts = 3) {
  const key = randomUUID();
  const body = events.map((e) => JSON.stringify(e)).join("\n") + "\n";
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      const res = await fetch(`${URL_BASE}/v1/events`, {
        method: "POST",
        headers: {
          "Content-Type": "application/x-ndjson",
          Authorization: `Bearer ${TOKEN}`,
          "Idempotency-Key": key,
        },
        body,
        signal: AbortSignal.timeout(5000),
      });
      if (res.ok) return await res.json();
      if (![408, 429, 500, 502, 503, 504].includes(res.status)) {
        console.error(`ingestd refused the events: ${res.status} ${await res.text()}`);
        return null;
      }
      const wait = Number(res.headers.get("Retry-After") || attempt * 0.5);
      await new Promise((r) => setTimeout(r, Math.min(wait, 5) * 1000));
    } catch (err) {
      if (attempt === attempts) console.error(`ingestd unreachable: ${err.message}`);
      else await new Promise((r) => setTimeout(r, attempt * 500));
    }
  }
  return null;
}

const runId = randomUUID();
const job = "assistant-sync";
const events = [];
const now = () => Date.now() / 1000;
const log = (level, step, message, attrs) =>
  events.push({ kind: "log", ts: now(), level, run_id: runId, job, step, message, attrs,
                source: { logger: "node_client", host: process.env.HOSTNAME || "node", pid: process.pid } });

events.push({ kind: "run", run_id: runId, job, status: "running", trigger: "cron", started_at: now(),
              attrs: { runtime: `node ${process.version}` } });
log("info", "START", "Starting assistant synchronization");
const assistants = Array.from({ length: 12 }, (_, i) => ({ id: `asst-${i}` }));
log("info", "FETCH", `Fetched ${assistants.length} assistants`, { count: assistants.length });
events.push({ kind: "run", run_id: runId, job, step: "SAVE", progress: 50,
              counters: { records_fetched: assistants.length } });
log("warning", "SAVE", "assistant asst-3 has no voice configured", { assistant_id: "asst-3" });
log("info", "END", "Sync completed");
events.push({ kind: "run", run_id: runId, job, status: "success", finished_at: now(),
              counters: { records_fetched: assistants.length, records_inserted: assistants.length },
              result: { assistants: assistants.length } });

const answer = await send(events);
console.log(JSON.stringify({ run_id: runId, answer }));
