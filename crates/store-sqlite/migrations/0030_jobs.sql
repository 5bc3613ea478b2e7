-- Durable jobs (palisade-jobs). One row per job; `lease_token` is the current (or last)
-- attempt's fencing token. Timestamps are ms since the epoch on the store clock.
CREATE TABLE jobs (
    id                  TEXT PRIMARY KEY,
    tenant_id           TEXT NOT NULL,
    queue               TEXT NOT NULL,
    kind                TEXT    NOT NULL,
    payload             TEXT    NOT NULL,             -- JSON
    owner               TEXT,
    priority            INTEGER NOT NULL,             -- lower runs first
    state               TEXT    NOT NULL CHECK (state IN
        ('queued', 'scheduled', 'running', 'retrying', 'completed', 'dead', 'cancelled')),
    run_at_ms           INTEGER NOT NULL,
    attempt             INTEGER NOT NULL,
    max_attempts        INTEGER NOT NULL,
    timeout_ms          INTEGER NOT NULL,
    lease_ms            INTEGER NOT NULL,
    backoff             TEXT    NOT NULL,             -- JSON
    tags                TEXT    NOT NULL,             -- JSON array of strings
    unique_key          TEXT,
    unique_states       INTEGER NOT NULL,             -- bit mask, see jobs_unique
    lease_token         INTEGER NOT NULL,
    lease_expires_at_ms INTEGER,
    worker              TEXT,
    cancel_requested    INTEGER NOT NULL,
    checkpoint          TEXT,                         -- JSON
    progress            TEXT,                         -- JSON
    last_error          TEXT,
    created_at_ms       INTEGER NOT NULL,
    updated_at_ms       INTEGER NOT NULL,
    finished_at_ms      INTEGER,
    events              INTEGER NOT NULL              -- the next event's offset
);

-- The due-job lookup of a lease: waiting jobs of a queue, per tenant in lease order.
CREATE INDEX jobs_due ON jobs (queue, tenant_id, priority, run_at_ms, id)
    WHERE state IN ('queued', 'scheduled', 'retrying');
-- Running jobs per (queue, tenant), for the lease's fairness and caps.
CREATE INDEX jobs_running ON jobs (queue, tenant_id) WHERE state = 'running';
-- Expired leases, for the rescuer.
CREATE INDEX jobs_lease_expiry ON jobs (lease_expires_at_ms) WHERE state = 'running';
-- Finished jobs, for retention.
CREATE INDEX jobs_finished ON jobs (finished_at_ms) WHERE state IN ('completed', 'dead', 'cancelled');
-- A tenant's listing, newest first.
CREATE INDEX jobs_tenant ON jobs (tenant_id, id);
-- One job per (tenant, unique key) among the jobs whose state is in their key's states: an
-- enqueue that would make a second one does nothing (INSERT … ON CONFLICT DO NOTHING).
CREATE UNIQUE INDEX jobs_unique ON jobs (tenant_id, unique_key)
    WHERE unique_key IS NOT NULL AND (unique_states & (CASE state
        WHEN 'queued' THEN 1 WHEN 'scheduled' THEN 2 WHEN 'running' THEN 4
        WHEN 'retrying' THEN 8 WHEN 'completed' THEN 16 WHEN 'dead' THEN 32 ELSE 0 END)) <> 0;

-- Each job's log: state changes, attempts, progress, checkpoints. Kept as long as the job.
CREATE TABLE job_events (
    job_id    TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq       INTEGER NOT NULL,
    tenant_id TEXT NOT NULL,
    at_ms     INTEGER NOT NULL,
    kind      TEXT   NOT NULL,
    data      TEXT   NOT NULL,                        -- JSON
    PRIMARY KEY (job_id, seq)
);
