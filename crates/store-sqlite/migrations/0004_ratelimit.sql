-- Rate limiting: per-key state, tenant policies and overrides, and the change feed.
-- A state row whose expires_at_ms has passed decides like no row, so cleanup may delete it.
CREATE TABLE ratelimit_state (
    tenant_id        TEXT NOT NULL,
    policy           TEXT NOT NULL,
    key              TEXT NOT NULL,
    state            TEXT,
    blocked_until_ms INTEGER NOT NULL DEFAULT 0,
    expires_at_ms    INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, policy, key)
) WITHOUT ROWID;
CREATE INDEX ratelimit_state_expiry ON ratelimit_state(expires_at_ms);

CREATE TABLE ratelimit_policies (
    tenant_id     TEXT NOT NULL,
    name          TEXT NOT NULL,
    policy        TEXT NOT NULL,
    version       INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

-- key is '' for a tenant-wide override (real keys are never empty).
CREATE TABLE ratelimit_overrides (
    tenant_id     TEXT NOT NULL,
    policy        TEXT NOT NULL,
    key           TEXT NOT NULL,
    body          TEXT NOT NULL,
    version       INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, policy, key)
);

CREATE TABLE ratelimit_changes (
    version   INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id TEXT NOT NULL,
    change    TEXT NOT NULL,
    at_ms     INTEGER NOT NULL
);
-- Each change records when it was written (at_ms), for pruning; ratelimit_feed remembers the
-- highest version ever pruned: a poller whose cursor is below it may have missed changes and
-- reloads every policy and override instead of following the feed.
CREATE INDEX ratelimit_changes_at ON ratelimit_changes(at_ms);

CREATE TABLE ratelimit_feed (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    pruned_through INTEGER NOT NULL
);
INSERT INTO ratelimit_feed (id, pruned_through) VALUES (1, 0);
