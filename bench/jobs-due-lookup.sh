#!/bin/sh
# The lease's due-job lookup with 1,000,000 jobs in the table (issue 17, item 12): fills a
# fresh schema with generate_series, then times the lease statement (EXPLAIN ANALYZE of the
# statement of palisade_store_sql::job_lease_sql for PostgreSQL, printed by
# palisade-job-lease-sql: all tenants, no cap, limit 50) in a rolled-back transaction. DUE sets how many of the 1,000,000 jobs are due (the rest are finished,
# running or scheduled). Needs psql and PostgreSQL at $PG.
set -e
cd "$(dirname "$0")/.."
PG=${PG:-postgres://postgres@127.0.0.1:5432/test}
DUE=${DUE:-10000}
S=bench_due_$$
cargo build -q --release -p palisade-jobs-harness --bin palisade-job-lease-sql
LEASE_SQL=$("${CARGO_TARGET_DIR:-target}/release/palisade-job-lease-sql")
psql -q "$PG" -v ON_ERROR_STOP=1 <<SQL
CREATE SCHEMA $S; SET search_path = $S;
\i crates/store-postgres/migrations/0030_jobs.sql
\i crates/store-postgres/migrations/0033_jobs_limit_key.sql
INSERT INTO jobs (id, tenant_id, queue, kind, payload, priority, state, run_at_ms, attempt,
    max_attempts, timeout_ms, lease_ms, backoff, tags, unique_states, lease_token,
    lease_expires_at_ms, cancel_requested, created_at_ms, updated_at_ms, finished_at_ms, events)
SELECT 'job_' || lpad(to_hex(g), 24, '0'), 'ten_' || (g % 1000), 'q' || (g % 4), 'k', '{}', 5,
    CASE WHEN g <= $DUE THEN 'queued' WHEN g % 20 = 1 THEN 'running'
         WHEN g % 20 = 2 THEN 'scheduled' ELSE 'completed' END,
    CASE WHEN g % 20 = 2 AND g > $DUE THEN 4000000000000 ELSE g END,
    1, 5, 1000, 30000, '{}', '[]', 63, 1,
    CASE WHEN g % 20 = 1 AND g > $DUE THEN 4000000000000 END, false, g, g,
    CASE WHEN g > $DUE AND g % 20 > 2 THEN g END, 0
FROM generate_series(1, 1000000) g;
-- the running counts, filled from the running jobs as a migration of a live table does
BEGIN;
\i crates/store-postgres/migrations/0034_jobs_running_counts.sql
COMMIT;
VACUUM ANALYZE jobs;
VACUUM ANALYZE job_running_tenants;
SELECT state, count(*) FROM jobs GROUP BY state ORDER BY state;
PREPARE lease(text, bigint, bigint, bigint) AS $LEASE_SQL;
-- three runs: the first reads cold pages, the others are the steady state
BEGIN;
EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, SUMMARY ON)
EXECUTE lease('q1', 3000000000000, 9223372036854775807, 50);
ROLLBACK;
BEGIN;
EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, SUMMARY ON)
EXECUTE lease('q1', 3000000000000, 9223372036854775807, 50);
ROLLBACK;
BEGIN;
EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, SUMMARY ON)
EXECUTE lease('q1', 3000000000000, 9223372036854775807, 50);
ROLLBACK;
DROP SCHEMA $S CASCADE;
SQL
