-- One-time CSRF synchronizer tokens: only SHA-256 hashes of the token and of the session id.
CREATE TABLE csrf_tokens (
    tenant_id     TEXT NOT NULL,
    token_hash    TEXT NOT NULL,   -- SHA-256 (hex) of the token
    session_hash  TEXT NOT NULL,   -- SHA-256 (hex) of the tenant and the app's session id
    expires_at_ms INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, token_hash)
) WITHOUT ROWID;
CREATE INDEX csrf_tokens_expiry ON csrf_tokens (expires_at_ms);
