-- JWT verification: a tenant's trusted issuers and its revocations (by jti, by subject).
CREATE TABLE token_issuers (
    tenant_id     TEXT COLLATE "C" NOT NULL,
    id            TEXT COLLATE "C" NOT NULL,
    issuer        TEXT COLLATE "C" NOT NULL,   -- the iss claim; unique per tenant
    jwks_url      TEXT NOT NULL,
    audiences     TEXT NOT NULL,               -- JSON array of strings
    algorithms    TEXT NOT NULL,               -- JSON array of JOSE alg names
    leeway_secs   BIGINT,                      -- NULL: the deployment's default
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX token_issuers_iss ON token_issuers (tenant_id, issuer);

-- One token by jti, refused until its exp; purged after.
CREATE TABLE token_revoked_jtis (
    tenant_id     TEXT COLLATE "C" NOT NULL,
    jti           TEXT COLLATE "C" NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, jti)
);
CREATE INDEX token_revoked_jtis_expiry ON token_revoked_jtis (expires_at_ms);

-- Every token of a subject issued at or before not_before_ms.
CREATE TABLE token_revoked_subjects (
    tenant_id     TEXT COLLATE "C" NOT NULL,
    subject       TEXT COLLATE "C" NOT NULL,
    not_before_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, subject)
);
