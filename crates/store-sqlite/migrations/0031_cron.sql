-- Cron schedules (palisade-jobs cron). One row per (tenant, name); `cursor_ms` is advanced
-- with a compare-and-set in the transaction that enqueues the fired slots' jobs (each with the
-- unique key `cron:<name>@<slot ms>`), so each slot fires once across instances.
CREATE TABLE cron_schedules (
    tenant_id          TEXT    NOT NULL,
    name               TEXT    NOT NULL,
    cron               TEXT    NOT NULL,
    timezone           TEXT    NOT NULL,
    queue              TEXT    NOT NULL,
    kind               TEXT    NOT NULL,
    payload            TEXT    NOT NULL,              -- JSON
    priority           INTEGER NOT NULL,
    enabled            INTEGER NOT NULL,
    missed             TEXT    NOT NULL CHECK (missed IN ('skip', 'latest', 'all')),
    max_catch_up       INTEGER NOT NULL,
    cursor_ms          INTEGER NOT NULL,              -- slots after it are due
    next_slot_ms       INTEGER,                       -- the first slot after cursor_ms
    last_fired_slot_ms INTEGER,
    created_at_ms      INTEGER NOT NULL,
    updated_at_ms      INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

-- The due lookup of the cron task: enabled schedules by next slot.
CREATE INDEX cron_schedules_due ON cron_schedules (next_slot_ms) WHERE enabled = TRUE;
