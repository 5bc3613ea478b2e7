-- Realtime: one row per open stream (its slot), counted against realtime.max_streams_per_principal
-- and realtime.max_streams_per_tenant across every instance. Its instance renews the lease while
-- the stream lives; a row whose lease ended (its instance died) no longer counts and is deleted
-- by the next take of its tenant.
CREATE TABLE realtime_stream_slots (
    tenant_id      TEXT NOT NULL,
    slot_id        TEXT NOT NULL,
    principal      TEXT NOT NULL,
    lease_until_ms INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, slot_id)
) WITHOUT ROWID;
CREATE INDEX realtime_stream_slots_principal ON realtime_stream_slots (tenant_id, principal);

-- One row per tenant that ever opened a stream: a take writes it while it counts and inserts
-- (its transaction holds SQLite's write lock), so concurrent takes never pass a cap together.
CREATE TABLE realtime_slot_tenants (
    tenant_id TEXT NOT NULL PRIMARY KEY,
    takes     INTEGER NOT NULL
) WITHOUT ROWID;
