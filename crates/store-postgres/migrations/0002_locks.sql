-- Lock leases with fencing tokens. One row per (tenant, lock name) ever used: a release clears
-- the holder but keeps the row, so the next grant's token is still greater than every earlier one.
CREATE TABLE locks (
    tenant_id         TEXT COLLATE "C" NOT NULL,
    name              TEXT COLLATE "C" NOT NULL,
    holder            TEXT COLLATE "C",          -- NULL once released
    token             BIGINT NOT NULL,           -- the latest grant's token; never decreases
    expires_at_ms     BIGINT NOT NULL,           -- live while the store clock is before this
    took_over_expired BOOLEAN NOT NULL DEFAULT FALSE, -- the latest grant replaced an expired lease
    PRIMARY KEY (tenant_id, name)
);
