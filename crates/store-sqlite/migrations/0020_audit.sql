-- The audit trail (docs/audit.md): append-only security events. tenant_id is NULL for operator
-- and unauthenticated events; detail is a redacted JSON object. Listings read newest first by
-- (at_ms, id), per tenant or across tenants; retention deletes by at_ms. Rows are never updated.
CREATE TABLE audit_events (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT,
    kind       TEXT NOT NULL,
    actor      TEXT,
    request_id TEXT,
    at_ms      INTEGER NOT NULL,
    detail     TEXT NOT NULL
);
CREATE INDEX audit_events_tenant_time ON audit_events(tenant_id, at_ms, id);
CREATE INDEX audit_events_time ON audit_events(at_ms, id);

CREATE TRIGGER audit_events_append_only BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
