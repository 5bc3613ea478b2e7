-- Realtime: one row per open stream (its slot), counted against realtime.max_streams_per_principal
-- and realtime.max_streams_per_tenant across every instance. Its instance renews the lease while
-- the stream lives; a row whose lease ended (its instance died) no longer counts and is deleted
-- by the next take of its tenant.
CREATE TABLE realtime_stream_slots (
    tenant_id      TEXT COLLATE "C" NOT NULL,
    slot_id        TEXT COLLATE "C" NOT NULL,
    principal      TEXT COLLATE "C" NOT NULL,
    lease_until_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, slot_id)
);
CREATE INDEX realtime_stream_slots_principal ON realtime_stream_slots (tenant_id, principal);

-- One row per tenant that ever opened a stream: a take row-locks it (an upsert) while it
-- counts and inserts, so concurrent takes of one tenant never pass a cap together.
CREATE TABLE realtime_slot_tenants (
    tenant_id TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    takes     BIGINT NOT NULL
);
