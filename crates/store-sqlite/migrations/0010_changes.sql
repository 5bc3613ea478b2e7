-- The change feed (palisade_core::ChangeFeed): writes that invalidate what instances cache
-- (a revoked key, a renamed or deleted tenant), in commit order. Writers append inside their
-- BEGIN IMMEDIATE transaction; AUTOINCREMENT never reuses a version, even after pruning.
CREATE TABLE changes (
    version   INTEGER PRIMARY KEY AUTOINCREMENT,
    topic     TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    subject   TEXT,
    at_ms     INTEGER NOT NULL
);
CREATE INDEX changes_at ON changes(at_ms);
