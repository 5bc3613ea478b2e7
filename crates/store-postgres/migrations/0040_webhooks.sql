-- Inbound webhooks (palisade-webhooks). Sources hold their secrets sealed (JSON of
-- {key_id, nonce, data}); `version` is compared and set by every update. Timestamps are ms
-- since the epoch.
CREATE TABLE webhook_sources (
    tenant_id       TEXT COLLATE "C" NOT NULL,
    name            TEXT COLLATE "C" NOT NULL,
    provider        TEXT   NOT NULL,                  -- JSON
    secrets         TEXT   NOT NULL,                  -- JSON array of sealed secrets
    tolerance_secs  BIGINT NOT NULL,
    max_body_bytes  BIGINT NOT NULL,
    event_id        TEXT   NOT NULL,                  -- JSON
    target          TEXT,                             -- JSON; NULL: the app pulls
    delivery_secret TEXT   NOT NULL,                  -- JSON, sealed
    last_claim_ms   BIGINT,                           -- the last delivery attempt granted
    created_at_ms   BIGINT NOT NULL,
    updated_at_ms   BIGINT NOT NULL,
    version         BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

-- The inbox. `seq` is the arrival order; the unique constraint is the replay guard.
CREATE TABLE webhook_events (
    seq                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                 TEXT COLLATE "C" NOT NULL UNIQUE,
    tenant_id          TEXT COLLATE "C" NOT NULL,
    source             TEXT COLLATE "C" NOT NULL,
    event_key          TEXT COLLATE "C" NOT NULL,
    content_type       TEXT,
    body               BYTEA  NOT NULL,
    status             TEXT   NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts           BIGINT NOT NULL,
    next_attempt_at_ms BIGINT NOT NULL,
    last_error         TEXT,
    last_status        BIGINT,
    claim_token        TEXT,
    claimed_until_ms   BIGINT,
    received_at_ms     BIGINT NOT NULL,
    delivered_at_ms    BIGINT,
    CONSTRAINT webhook_events_guard UNIQUE (tenant_id, source, event_key)
);

-- A source's pending events in order (claims, ordering) and a tenant's listing.
CREATE INDEX webhook_events_source ON webhook_events (tenant_id, source, status, seq);
CREATE INDEX webhook_events_tenant ON webhook_events (tenant_id, seq);
-- Settled events by age, for retention.
CREATE INDEX webhook_events_settled ON webhook_events (received_at_ms) WHERE status <> 'pending';
-- Pending events by due time, for the resume sweep.
CREATE INDEX webhook_events_due ON webhook_events (next_attempt_at_ms) WHERE status = 'pending';
