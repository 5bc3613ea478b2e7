-- Rate limiting: per-key state, tenant policies and overrides, and the change feed.
--
-- ratelimit_state is UNLOGGED: counters are hot, rewritten on every request, and worth less
-- than WAL traffic; after a crash PostgreSQL empties it and limits start afresh.
-- A row whose expires_at_ms has passed decides like no row; cleanup deletes such rows in
-- batches through ratelimit_state_expiry.
CREATE UNLOGGED TABLE ratelimit_state (
    tenant_id        TEXT COLLATE "C" NOT NULL,
    policy           TEXT COLLATE "C" NOT NULL,
    key              TEXT COLLATE "C" NOT NULL,
    state            TEXT,
    blocked_until_ms BIGINT NOT NULL DEFAULT 0,
    expires_at_ms    BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, policy, key)
);
CREATE INDEX ratelimit_state_expiry ON ratelimit_state (expires_at_ms);

CREATE TABLE ratelimit_policies (
    tenant_id     TEXT COLLATE "C" NOT NULL,
    name          TEXT COLLATE "C" NOT NULL,
    policy        TEXT NOT NULL,
    version       BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

-- key is '' for a tenant-wide override (real keys are never empty).
CREATE TABLE ratelimit_overrides (
    tenant_id     TEXT COLLATE "C" NOT NULL,
    policy        TEXT COLLATE "C" NOT NULL,
    key           TEXT COLLATE "C" NOT NULL,
    body          TEXT NOT NULL,
    version       BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, policy, key)
);

-- One row holding the last version. Config writes bump it inside their transaction, so
-- versions commit in order and a poller reading "version > last seen" never skips one
-- (a sequence could commit 7 before 6).
CREATE TABLE ratelimit_version (
    id BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (id),
    v  BIGINT NOT NULL
);
INSERT INTO ratelimit_version (v) VALUES (0);

CREATE TABLE ratelimit_changes (
    version   BIGINT PRIMARY KEY,
    tenant_id TEXT COLLATE "C" NOT NULL,
    change    TEXT NOT NULL
);
