#!/bin/sh
# Rate limiting benchmarks, every figure next to its peer in the same run (see BENCHMARKS.md).
# Needs: release build, Redis on $REDIS (default 127.0.0.1:6379), PostgreSQL at $PG, node + npm ci in bench/node.
set -e
cd "$(dirname "$0")/.."
REDIS_HOST=${REDIS_HOST:-127.0.0.1}
REDIS_PORT=${REDIS_PORT:-6379}
PG=${PG:-postgres://postgres@127.0.0.1:5432/test}
SECS=${SECS:-5}
T=${CARGO_TARGET_DIR:-target}

echo "== in-process (ns/decision)"
cargo bench -q -p palisade-ratelimit --bench inprocess

cargo build -q --release -p palisade-server --example ratelimit_stores
EX=$T/release/examples/ratelimit_stores

echo "== Redis (decisions/s, 64 callers)"
SHA=$(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" SCRIPT LOAD "$(cat crates/store-redis/src/ratelimit.lua)")
KEY='bench:rl:{bench}:bench:user:__rand_int__'
# One decision per call (redis-benchmark sends fixed arguments): the script's per-call cost.
# Palisade batches concurrent decisions, several per call (see BENCHMARKS.md).
for P in 16 1; do
  printf 'redis-benchmark EVALSHA -P %s: ' "$P"
  redis-benchmark -h "$REDIS_HOST" -p "$REDIS_PORT" -c 64 -n 400000 -r 10000 -P "$P" -q \
    EVALSHA "$SHA" 1 "$KEY" "" 1 g 1000000 1000 1000000 0 0 1 1 1 | tr '\r' '\n' | grep -v '^$' | tail -1
done
$EX redis "redis://$REDIS_HOST:$REDIS_PORT" "$SECS"
(cd bench/node && node rlflex.js redis "redis://$REDIS_HOST:$REDIS_PORT" "$SECS")

echo "== PostgreSQL (decisions/s, 64 callers, 16 connections; PgStore batches: PG_IN_FLIGHT, PG_MAX_BATCH tune it)"
$EX postgres "$PG" "$SECS"
(cd bench/node && node rlflex.js postgres "$PG" "$SECS")
