-- Watching the jobs (issue 6): job settings and the monitor's view of each job, alerts and
-- their deliveries, and the monitor's place in the stream of finished runs.

-- One row per job that has settings; a job without a row gets the defaults. Small and read
-- by every monitor tick, joined to runs by job name: under Citus a reference table
-- (create_reference_table('jobs')), copied to every node, so those joins stay local.
CREATE TABLE jobs (
    job               text        PRIMARY KEY,
    every             interval,
    cron              text,
    timezone          text,
    grace             interval    NOT NULL,
    max_duration      interval,
    heartbeat_timeout interval,
    alerts            jsonb       NOT NULL DEFAULT '{}',
    anomaly           jsonb       NOT NULL DEFAULT '{}',
    -- A schedule is judged from its latest start, but never from before it was set: a job
    -- moved from daily to hourly is not late the moment it is changed.
    schedule_set_at   timestamptz NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    -- Kept current by the monitor: late and missed exist only where it can see a schedule.
    health            text        NOT NULL DEFAULT 'unknown'
                      CHECK (health IN ('ok', 'failing', 'late', 'missed', 'unknown')),
    health_since      timestamptz,
    due_at            timestamptz,
    CHECK (every IS NULL OR cron IS NULL)
);

-- One alert per occurrence: the key names the rule and what it is about (a run, or a job's
-- missed slot), so a second monitor, or the same one again, cannot raise it twice. Under
-- Citus: a reference table too (few rows, written by one monitor at a time).
CREATE TABLE alerts (
    id         bigserial   PRIMARY KEY,
    key        text        NOT NULL UNIQUE,
    rule       text        NOT NULL,
    job        text,
    run_id     uuid,
    created_at timestamptz NOT NULL,
    text       text        NOT NULL,
    details    jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX alerts_job_idx ON alerts (job, id DESC);
CREATE INDEX alerts_created_idx ON alerts (created_at);

-- Each alert to each of its webhooks, retried with backoff. A delivery is claimed for a
-- while before it is sent, so two replicas never send the same one at once.
CREATE TABLE alert_deliveries (
    alert_id        bigint      NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    target          text        NOT NULL,
    format          text        NOT NULL DEFAULT 'json' CHECK (format IN ('json', 'slack')),
    status          text        NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    claimed_until   timestamptz,
    last_error      text,
    sent_at         timestamptz,
    PRIMARY KEY (alert_id, target)
);
CREATE INDEX alert_deliveries_due_idx ON alert_deliveries (next_attempt_at)
    WHERE status = 'pending';

-- Finished runs in the order they were last changed, for the monitor's rules: the partial
-- index holds only runs with a final status, so heartbeats of running runs never touch it.
CREATE INDEX runs_finished_changed_idx ON runs (updated_at, run_id)
    WHERE status IN ('success', 'warning', 'failed', 'cancelled', 'timed_out');

-- Small named values the monitor keeps across restarts and replicas (its cursor in runs).
CREATE TABLE monitor_state (
    name       text        PRIMARY KEY,
    value      timestamptz NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
