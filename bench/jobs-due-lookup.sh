#!/bin/sh
# The lease's due-job lookup with 1,000,000 jobs in the table (issue 17, item 12): fills a
# fresh schema with generate_series, then times the lease statement (EXPLAIN ANALYZE, the
# statement of palisade_store_sql::job_lease_sql for all tenants, limit 50) in a rolled-back
# transaction. DUE sets how many of the 1,000,000 jobs are due (the rest are finished,
# running or scheduled). Needs psql and PostgreSQL at $PG.
set -e
cd "$(dirname "$0")/.."
PG=${PG:-postgres://postgres@127.0.0.1:5432/test}
DUE=${DUE:-10000}
S=bench_due_$$
psql -q "$PG" -v ON_ERROR_STOP=1 <<SQL
CREATE SCHEMA $S; SET search_path = $S;
\i crates/store-postgres/migrations/0030_jobs.sql
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
VACUUM ANALYZE jobs;
SELECT state, count(*) FROM jobs GROUP BY state ORDER BY state;
-- three runs: the first reads cold pages, the others are the steady state
BEGIN;
EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, SUMMARY ON)
WITH running AS (
    SELECT tenant_id, count(*) AS n FROM jobs
    WHERE queue = 'q1' AND state = 'running' GROUP BY tenant_id),
due AS (
    SELECT id, tenant_id, priority, run_at_ms,
           row_number() OVER (PARTITION BY tenant_id ORDER BY priority, run_at_ms, id) AS k
    FROM jobs
    WHERE queue = 'q1' AND state IN ('queued', 'scheduled', 'retrying') AND run_at_ms <= 3000000000000),
pick AS (
    SELECT due.id FROM due LEFT JOIN running ON running.tenant_id = due.tenant_id
    WHERE coalesce(running.n, 0) + due.k <= 9223372036854775807
    ORDER BY coalesce(running.n, 0) + due.k, due.priority, due.run_at_ms, due.id
    LIMIT 50)
SELECT * FROM jobs
WHERE id IN (SELECT id FROM pick) AND state IN ('queued', 'scheduled', 'retrying')
  AND run_at_ms <= 3000000000000 FOR UPDATE OF jobs SKIP LOCKED;
ROLLBACK;
BEGIN;
EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, SUMMARY ON)
WITH running AS (
    SELECT tenant_id, count(*) AS n FROM jobs
    WHERE queue = 'q1' AND state = 'running' GROUP BY tenant_id),
due AS (
    SELECT id, tenant_id, priority, run_at_ms,
           row_number() OVER (PARTITION BY tenant_id ORDER BY priority, run_at_ms, id) AS k
    FROM jobs
    WHERE queue = 'q1' AND state IN ('queued', 'scheduled', 'retrying') AND run_at_ms <= 3000000000000),
pick AS (
    SELECT due.id FROM due LEFT JOIN running ON running.tenant_id = due.tenant_id
    WHERE coalesce(running.n, 0) + due.k <= 9223372036854775807
    ORDER BY coalesce(running.n, 0) + due.k, due.priority, due.run_at_ms, due.id
    LIMIT 50)
SELECT * FROM jobs
WHERE id IN (SELECT id FROM pick) AND state IN ('queued', 'scheduled', 'retrying')
  AND run_at_ms <= 3000000000000 FOR UPDATE OF jobs SKIP LOCKED;
ROLLBACK;
BEGIN;
EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, SUMMARY ON)
WITH running AS (
    SELECT tenant_id, count(*) AS n FROM jobs
    WHERE queue = 'q1' AND state = 'running' GROUP BY tenant_id),
due AS (
    SELECT id, tenant_id, priority, run_at_ms,
           row_number() OVER (PARTITION BY tenant_id ORDER BY priority, run_at_ms, id) AS k
    FROM jobs
    WHERE queue = 'q1' AND state IN ('queued', 'scheduled', 'retrying') AND run_at_ms <= 3000000000000),
pick AS (
    SELECT due.id FROM due LEFT JOIN running ON running.tenant_id = due.tenant_id
    WHERE coalesce(running.n, 0) + due.k <= 9223372036854775807
    ORDER BY coalesce(running.n, 0) + due.k, due.priority, due.run_at_ms, due.id
    LIMIT 50)
SELECT * FROM jobs
WHERE id IN (SELECT id FROM pick) AND state IN ('queued', 'scheduled', 'retrying')
  AND run_at_ms <= 3000000000000 FOR UPDATE OF jobs SKIP LOCKED;
ROLLBACK;
DROP SCHEMA $S CASCADE;
SQL
