-- How far each writer's numbered parcels are committed, updated in the same transaction as
-- their rows. A retry after an unknown commit outcome, or a replay of the spool after a
-- crash, skips what is already in: no duplicates. A writer is a process (memory parcels) or
-- a spool (spooled parcels, numbered by their position in it).
CREATE TABLE writer_checkpoints (
    writer_id  text        PRIMARY KEY,
    position   bigint      NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX writer_checkpoints_updated_idx ON writer_checkpoints (updated_at);
