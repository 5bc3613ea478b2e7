-- Inbound webhooks (palisade-webhooks). Sources hold their secrets sealed (JSON of
-- {key_id, nonce, data}); `version` is compared and set by every update. Timestamps are ms
-- since the epoch.
CREATE TABLE webhook_sources (
    tenant_id       TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    provider        TEXT    NOT NULL,                 -- JSON
    secrets         TEXT    NOT NULL,                 -- JSON array of sealed secrets
    tolerance_secs  INTEGER NOT NULL,
    max_body_bytes  INTEGER NOT NULL,
    event_id        TEXT    NOT NULL,                 -- JSON
    target          TEXT,                             -- JSON; NULL: the app pulls
    delivery_secret TEXT    NOT NULL,                 -- JSON, sealed
    last_claim_ms   INTEGER,                          -- the last delivery attempt granted
    created_at_ms   INTEGER NOT NULL,
    updated_at_ms   INTEGER NOT NULL,
    version         INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

-- The inbox. `seq` is the arrival order (never reused); the unique constraint is the
-- replay guard.
CREATE TABLE webhook_events (
    seq                INTEGER PRIMARY KEY AUTOINCREMENT,
    id                 TEXT    NOT NULL UNIQUE,
    tenant_id          TEXT    NOT NULL,
    source             TEXT    NOT NULL,
    event_key          TEXT    NOT NULL,
    content_type       TEXT,
    body               BLOB    NOT NULL,
    status             TEXT    NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts           INTEGER NOT NULL,
    next_attempt_at_ms INTEGER NOT NULL,
    last_error         TEXT,
    last_status        INTEGER,
    claim_token        TEXT,
    claimed_until_ms   INTEGER,
    received_at_ms     INTEGER NOT NULL,
    delivered_at_ms    INTEGER,
    UNIQUE (tenant_id, source, event_key)
);

CREATE INDEX webhook_events_source ON webhook_events (tenant_id, source, status, seq);
CREATE INDEX webhook_events_tenant ON webhook_events (tenant_id, seq);
CREATE INDEX webhook_events_settled ON webhook_events (received_at_ms) WHERE status <> 'pending';
-- Pending events by due time, for the resume sweep.
CREATE INDEX webhook_events_due ON webhook_events (next_attempt_at_ms) WHERE status = 'pending';
