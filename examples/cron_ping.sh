#!/usr/bin/env bash
# A cron line reporting to ingestd with curl pings alone: no client library needed.
#
#   */15 * * * * INGESTD_URL=https://ingestd.example INGESTD_TOKEN=... /opt/jobs/cron_ping.sh
#
# /ping/{job}/start opens a run and answers its id; /ping/{job}/{exit code} closes it
# (0 = success, anything else = failed) and stores the request body as the run's log lines.
# Pings never make the job fail: curl gets a short timeout and its errors are ignored.
# curl retries (--retry) with the same Idempotency-Key, so a ping that got through before
# a timeout is not stored twice.
set -u

JOB="${JOB:-disk-cleanup}"
URL="${INGESTD_URL:-http://127.0.0.1:8080}"
AUTH=(-H "Authorization: Bearer ${INGESTD_TOKEN:-}")
PING=(curl -fsS -m 5 --retry 3 "${AUTH[@]}")
KEY="$JOB-$(date +%s)-$$"

# Start: ingestd answers with the run id, which pairs the end with this start.
RID="$("${PING[@]}" -H "Idempotency-Key: $KEY-start" -X POST "$URL/ping/$JOB/start" \
    2>/dev/null || true)"

# The job itself; its output is kept to send along.
OUTPUT="$(
    {
        echo "cleaning /tmp older than 7 days"
        find /tmp -maxdepth 1 -name 'ingestd-example-*' -mmin +10080 -print 2>&1 | head -n 20
        echo "done"
    } 2>&1
)"
STATUS=$?
printf '%s\n' "$OUTPUT"

# End: the exit code decides the status; the output becomes the run's log lines.
"${PING[@]}" -H "Idempotency-Key: $KEY-end" -X POST --data-binary "$OUTPUT" \
    -H "Content-Type: text/plain" "$URL/ping/$JOB/$STATUS${RID:+?rid=$RID}" >/dev/null 2>&1 || true

exit "$STATUS"
