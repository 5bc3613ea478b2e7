-- Lock leases with fencing tokens. One row per (tenant, lock name) ever used: a release clears
-- the holder but keeps the row, so the next grant's token is still greater than every earlier one.
CREATE TABLE locks (
    tenant_id         TEXT NOT NULL,
    name              TEXT NOT NULL,
    holder            TEXT,                       -- NULL once released
    token             INTEGER NOT NULL,           -- the latest grant's token; never decreases
    expires_at_ms     INTEGER NOT NULL,           -- live while the store clock is before this
    took_over_expired INTEGER NOT NULL DEFAULT 0, -- the latest grant replaced an expired lease
    PRIMARY KEY (tenant_id, name)
) WITHOUT ROWID;
