-- Cleanup finds expired rows through an index again, without costing the decisions their HOT
-- updates (0006 dropped the index on expires_at_ms because every decision rewrites that column).
-- expires_minute is expires_at_ms / 60 000, a STORED generated column: PostgreSQL decides HOT by
-- comparing the indexed values, and a decision moves expires_at_ms forward by milliseconds, so
-- the minute (and the index entry) changes at most once a minute per active key.
ALTER TABLE ratelimit_state
    ADD COLUMN expires_minute BIGINT GENERATED ALWAYS AS (expires_at_ms / 60000) STORED;
CREATE INDEX ratelimit_state_expiry_minute ON ratelimit_state (expires_minute);
