-- JWT verification: a tenant's trusted issuers and its revocations (by jti, by subject).
CREATE TABLE token_issuers (
    tenant_id     TEXT NOT NULL,
    id            TEXT NOT NULL,
    issuer        TEXT NOT NULL,   -- the iss claim; unique per tenant
    jwks_url      TEXT NOT NULL,
    audiences     TEXT NOT NULL,               -- JSON array of strings
    algorithms    TEXT NOT NULL,               -- JSON array of JOSE alg names
    leeway_secs   INTEGER,                      -- NULL: the deployment's default
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX token_issuers_iss ON token_issuers (tenant_id, issuer);

-- One token by jti, refused until its exp; purged after.
CREATE TABLE token_revoked_jtis (
    tenant_id     TEXT NOT NULL,
    jti           TEXT NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, jti)
) WITHOUT ROWID;
CREATE INDEX token_revoked_jtis_expiry ON token_revoked_jtis (expires_at_ms);

-- Every token of a subject issued at or before not_before_ms.
CREATE TABLE token_revoked_subjects (
    tenant_id     TEXT NOT NULL,
    subject       TEXT NOT NULL,
    not_before_ms INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, subject)
) WITHOUT ROWID;
