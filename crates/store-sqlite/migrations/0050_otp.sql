-- One-time passcodes: per (tenant, identity hash) the live code's hash, the verify window and
-- the failure count and lockout. Identities and codes are stored only as keyed hashes.
CREATE TABLE otp_state (
    tenant_id          TEXT NOT NULL,
    identity           TEXT NOT NULL,              -- HMAC-SHA256 (hex) of the identity
    code_hash          TEXT,                       -- HMAC-SHA256 (hex) of the live code; NULL when none
    code_expires_at_ms INTEGER NOT NULL DEFAULT 0,
    window_start_ms    INTEGER NOT NULL DEFAULT 0,
    window_attempts    INTEGER NOT NULL DEFAULT 0,
    failures           INTEGER NOT NULL DEFAULT 0, -- consecutive failed verifies
    locked_until_ms    INTEGER NOT NULL DEFAULT 0,
    updated_at_ms      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, identity)
) WITHOUT ROWID;
CREATE INDEX otp_state_updated ON otp_state (updated_at_ms);

-- The server key of the OTP hashes when none is configured: one row, written once.
CREATE TABLE otp_key (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    key TEXT NOT NULL                              -- hex
);
