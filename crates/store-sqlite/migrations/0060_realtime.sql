-- Realtime: each topic's latest event id, its bounded history, and stream-token revocations.
CREATE TABLE realtime_topics (
    tenant_id TEXT NOT NULL,
    topic     TEXT NOT NULL,
    last_seq  INTEGER NOT NULL,                 -- the latest event's id; ids are 1, 2, ...
    PRIMARY KEY (tenant_id, topic)
) WITHOUT ROWID;

-- The kept events of each topic (the newest realtime.history_max_events, younger than
-- realtime.history_max_age); a publish prunes its topic.
CREATE TABLE realtime_events (
    tenant_id TEXT NOT NULL,
    topic     TEXT NOT NULL,
    seq       INTEGER NOT NULL,
    at_ms     INTEGER NOT NULL,
    data      TEXT NOT NULL,                   -- the published JSON
    PRIMARY KEY (tenant_id, topic, seq)
) WITHOUT ROWID;

-- Revoked tokens (kind 'token', subject: the token id) and principals (kind 'principal':
-- every token minted at or before revoked_at_ms), kept until every token they match expired.
CREATE TABLE realtime_revocations (
    tenant_id     TEXT NOT NULL,
    kind          TEXT NOT NULL,
    subject       TEXT NOT NULL,
    revoked_at_ms INTEGER NOT NULL,
    keep_until_ms INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, kind, subject)
) WITHOUT ROWID;
CREATE INDEX realtime_revocations_keep ON realtime_revocations (keep_until_ms);
