-- Idempotency entries keyed by tenant + principal + key. Only a SHA-256 hash of the holder's
-- token is stored. `expires_at_ms` drives the expiry sweep.
CREATE TABLE idempotency_entries (
    tenant_id        TEXT    NOT NULL,
    principal        TEXT    NOT NULL,
    idem_key         TEXT    NOT NULL,
    fingerprint      TEXT    NOT NULL,
    token_hash       TEXT    NOT NULL,
    attempt          INTEGER NOT NULL,
    state            TEXT    NOT NULL CHECK (state IN ('in_flight', 'completed')),
    locked_until_ms  INTEGER NOT NULL,
    expires_at_ms    INTEGER NOT NULL,
    recovery_name    TEXT,
    recovery_data    TEXT,
    response_status  INTEGER,
    response_headers TEXT,
    response_body    BLOB,
    created_at_ms    INTEGER NOT NULL,
    updated_at_ms    INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, principal, idem_key)
);
CREATE INDEX idempotency_entries_expiry ON idempotency_entries(expires_at_ms);
