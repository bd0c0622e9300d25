-- ingestd schema, version 1.
--
-- Citus-ready: runs and logs share one distribution key, run_id. Every unique constraint
-- includes it, and there is no foreign key between the two (a log may arrive before its
-- run). Logs that belong to no run carry a per-job name-based key (see events.loose_key).

CREATE TABLE runs (
    run_id        uuid        NOT NULL PRIMARY KEY,
    job           text,
    status        text        NOT NULL DEFAULT 'running'
                  CHECK (status IN ('pending', 'running', 'success', 'warning', 'failed',
                                    'cancelled', 'timed_out')),
    trigger       text,
    started_at    timestamptz NOT NULL,
    finished_at   timestamptz,
    -- Derived, so it can never disagree with the two times it comes from.
    duration_ms   bigint GENERATED ALWAYS AS (
                      CASE WHEN finished_at IS NOT NULL THEN
                          GREATEST(0, (EXTRACT(EPOCH FROM (finished_at - started_at)) * 1000)::bigint)
                      END) STORED,
    progress      real,
    step          text,
    counters      jsonb       NOT NULL DEFAULT '{}',
    result        jsonb,
    error         jsonb,
    attrs         jsonb       NOT NULL DEFAULT '{}',
    -- Logs per level, kept current by the writer so a run's counts never scan logs.
    n_trace       integer     NOT NULL DEFAULT 0,
    n_debug       integer     NOT NULL DEFAULT 0,
    n_info        integer     NOT NULL DEFAULT 0,
    n_success     integer     NOT NULL DEFAULT 0,
    n_warning     integer     NOT NULL DEFAULT 0,
    n_error       integer     NOT NULL DEFAULT 0,
    n_critical    integer     NOT NULL DEFAULT 0,
    last_event_at timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX runs_started_idx ON runs (started_at DESC, run_id DESC);
CREATE INDEX runs_job_started_idx ON runs (job, started_at DESC, run_id DESC);

-- Logs, one partition per UTC day on ts. The daemon creates partitions ahead of time; the
-- default partition catches stray times (backfills, skewed clocks) so no insert ever fails
-- for want of a partition.
CREATE SEQUENCE logs_id_seq AS bigint;

CREATE TABLE logs (
    id          bigint      NOT NULL DEFAULT nextval('logs_id_seq'),
    ts          timestamptz NOT NULL,
    received_at timestamptz NOT NULL,
    levelno     smallint    NOT NULL,
    job         text,
    run_id      uuid        NOT NULL,
    step        text,
    message     text        NOT NULL,
    attrs       jsonb,
    source      jsonb,
    error       jsonb,
    event_id    text,
    fingerprint text,
    PRIMARY KEY (run_id, ts, id)
) PARTITION BY RANGE (ts);

ALTER SEQUENCE logs_id_seq OWNED BY logs.id;

CREATE TABLE logs_default PARTITION OF logs DEFAULT;

-- Events that were accepted but could not be written (the writer isolates them one by one),
-- kept with the reason so nothing accepted disappears silently.
CREATE TABLE dead_letters (
    id          bigserial   PRIMARY KEY,
    received_at timestamptz NOT NULL,
    failed_at   timestamptz NOT NULL DEFAULT now(),
    reason      text        NOT NULL,
    event       jsonb       NOT NULL
);

-- Idempotency-Key of each request, written in the same transaction as its rows.
CREATE TABLE idempotency_keys (
    key        text        PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now(),
    response   jsonb       NOT NULL
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

-- Client event ids already stored, so the same event_id is stored once across batches.
CREATE TABLE event_ids (
    run_id     uuid        NOT NULL,
    event_id   text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, event_id)
);
CREATE INDEX event_ids_created_idx ON event_ids (created_at);
