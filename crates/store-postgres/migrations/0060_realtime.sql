-- Realtime: each topic's latest event id, its bounded history, and stream-token revocations.
CREATE TABLE realtime_topics (
    tenant_id TEXT COLLATE "C" NOT NULL,
    topic     TEXT COLLATE "C" NOT NULL,
    last_seq  BIGINT NOT NULL,                 -- the latest event's id; ids are 1, 2, ...
    PRIMARY KEY (tenant_id, topic)
);

-- The kept events of each topic (the newest realtime.history_max_events, younger than
-- realtime.history_max_age); a publish prunes its topic.
CREATE TABLE realtime_events (
    tenant_id TEXT COLLATE "C" NOT NULL,
    topic     TEXT COLLATE "C" NOT NULL,
    seq       BIGINT NOT NULL,
    at_ms     BIGINT NOT NULL,
    data      TEXT NOT NULL,                   -- the published JSON
    PRIMARY KEY (tenant_id, topic, seq)
);

-- Revoked tokens (kind 'token', subject: the token id) and principals (kind 'principal':
-- every token minted at or before revoked_at_ms), kept until every token they match expired.
CREATE TABLE realtime_revocations (
    tenant_id     TEXT COLLATE "C" NOT NULL,
    kind          TEXT COLLATE "C" NOT NULL,
    subject       TEXT COLLATE "C" NOT NULL,
    revoked_at_ms BIGINT NOT NULL,
    keep_until_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, kind, subject)
);
CREATE INDEX realtime_revocations_keep ON realtime_revocations (keep_until_ms);
