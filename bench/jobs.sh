#!/bin/sh
# Durable jobs throughput (issue 17, item 14), every figure next to its peers in one run:
# 20,000 trivial jobs enqueued in bulk, then drained; jobs/s and enqueue-to-start latency.
# Palisade's in-process worker on PostgreSQL and SQLite, graphile-worker on the same
# PostgreSQL (its own database), BullMQ on the same Redis. graphile-worker and BullMQ are
# installed from the npm registry at their current versions into a scratch directory ($NODE_DIR,
# not committed). Needs: PostgreSQL at $PG_BASE (+ database name), Redis, node + npm.
set -e
cd "$(dirname "$0")/.."
PG_BASE=${PG_BASE:-postgres://postgres@127.0.0.1:5432}
REDIS_HOST=${REDIS_HOST:-127.0.0.1}
REDIS_PORT=${REDIS_PORT:-6379}
N=${N:-20000}
NODE_DIR=${NODE_DIR:-/tmp/jobs-bench-node}
T=${CARGO_TARGET_DIR:-target}

mkdir -p "$NODE_DIR"
[ -d "$NODE_DIR/node_modules/ioredis" ] || (cd "$NODE_DIR" && npm init -y >/dev/null && npm install graphile-worker bullmq ioredis >/dev/null)
cp bench/jobs/graphile.js bench/jobs/bullmq.js "$NODE_DIR/"
cargo build -q --release -p palisade-jobs-harness --bin palisade-job-bench
B=$T/release/palisade-job-bench
SQLITE_DIR=$(mktemp -d)

psql -q "$PG_BASE/test" -c "DROP DATABASE IF EXISTS jobs_bench_graphile" -c "CREATE DATABASE jobs_bench_graphile"
for C in ${CS:-24 50}; do
  $B --backend postgres --url "$PG_BASE/test" --schema "jobs_bench_$$_$C" --jobs "$N" --concurrency "$C"
  psql -q "$PG_BASE/test" -c "DROP SCHEMA jobs_bench_$$_$C CASCADE"
  $B --backend sqlite --url "sqlite://$SQLITE_DIR/jobs_$C.db" --jobs "$N" --concurrency "$C" --pool 8
  (cd "$NODE_DIR" && node graphile.js "$PG_BASE/jobs_bench_graphile" "$N" "$C")
  psql -q "$PG_BASE/jobs_bench_graphile" -c "DROP SCHEMA graphile_worker CASCADE" 2>/dev/null || true
  (cd "$NODE_DIR" && node bullmq.js "$REDIS_HOST" "$REDIS_PORT" "$N" "$C")
done
psql -q "$PG_BASE/test" -c "DROP DATABASE IF EXISTS jobs_bench_graphile"
rm -rf "$SQLITE_DIR"
