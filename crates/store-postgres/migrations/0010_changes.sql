-- The change feed (palisade_core::ChangeFeed): writes that invalidate what instances cache
-- (a revoked key, a renamed or deleted tenant), in commit order. A writer bumps the one
-- change_version row first and holds its lock to commit, so versions commit in order and a
-- reader never sees version n before n - 1.
CREATE TABLE changes (
    version   BIGINT PRIMARY KEY,
    topic     TEXT NOT NULL,
    tenant_id TEXT COLLATE "C" NOT NULL,
    subject   TEXT,
    at_ms     BIGINT NOT NULL
);
CREATE INDEX changes_at ON changes (at_ms);

CREATE TABLE change_version (
    id BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (id),
    v  BIGINT NOT NULL
);
INSERT INTO change_version (v) VALUES (0);
