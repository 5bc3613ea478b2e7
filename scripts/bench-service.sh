#!/bin/sh
# Service-mode benchmark (BENCHMARKS.md, "Service mode"): /healthz, authenticated /v1/me and
# POST /v1/ratelimit/check through real HTTP with wrk -c64, on the embedded default, on
# PostgreSQL and on Redis (rate-limit store), in one run; prints requests/s and the ratio of
# each to /healthz on the same server.
# Needs: wrk, curl, jq, a release build (cargo build --release -p palisade-server),
# PostgreSQL at $PG and Redis at $REDIS.
set -eu
cd "$(dirname "$0")/.."
BIN=${CARGO_TARGET_DIR:-target}/release/palisade
PG=${PG:-postgres://postgres@127.0.0.1:5432/test}
REDIS=${REDIS:-redis://127.0.0.1:6379}
DUR=${DUR:-10s}
CONN=${CONN:-64}
PORT=${PORT:-18480}
OP=pal_op_bench_service_0123456789abcdefghijklmnop
URL=http://127.0.0.1:$PORT
LUA=$(mktemp)
cat >"$LUA" <<'LUA'
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.body = '{"checks":[{"policy":"bench","key":"user-42"}]}'
LUA

rps() { # url [extra wrk args…] -> requests/s
  wrk -t2 -c"$CONN" -d"$DUR" --latency "$@" | awk '/^Requests\/sec/ {print $2}'
}

case_run() { # name, then env assignments for palisade
  name=$1; shift
  dir=$(mktemp -d)
  (cd "$dir" && env "$@" PALISADE_OPERATOR_KEY=$OP PALISADE_LOG__LEVEL=warn \
     "$OLDPWD/$BIN" serve --listen 127.0.0.1:$PORT >"$dir/out" 2>"$dir/err") &
  pid=$!
  i=0; until curl -fs "$URL/healthz" >/dev/null 2>&1; do
    i=$((i+1)); [ $i -lt 200 ] || { cat "$dir/err"; exit 1; }; sleep 0.05; done
  ten=$(curl -fs -X POST "$URL/v1/tenants" -H "Authorization: Bearer $OP" \
        -H 'content-type: application/json' -d "{\"external_id\":\"bench-$$\",\"name\":\"Bench\"}" | jq -r .id)
  key=$(curl -fs -X POST "$URL/v1/tenants/$ten/keys" -H "Authorization: Bearer $OP" \
        -H 'content-type: application/json' -d '{"name":"bench"}' | jq -r .secret)
  curl -fs -X PUT "$URL/v1/ratelimit/policies/bench" -H "Authorization: Bearer $key" \
       -H 'content-type: application/json' \
       -d '{"algorithm":"gcra","quota":1000000,"window":"1s","key":["principal"]}' >/dev/null
  h=$(rps "$URL/healthz")
  m=$(rps -H "Authorization: Bearer $key" "$URL/v1/me")
  c=$(rps -H "Authorization: Bearer $key" -s "$LUA" "$URL/v1/ratelimit/check")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$dir"
  awk -v n="$name" -v h="$h" -v m="$m" -v c="$c" 'BEGIN {
    printf "| %s | %.0f | %.0f (%.2f×) | %.0f (%.2f×) |\n", n, h, m, m/h, c, c/h }'
}

echo "| store | /healthz req/s | /v1/me req/s (ratio) | /v1/ratelimit/check req/s (ratio) |"
echo "|---|---:|---:|---:|"
case_run "embedded default (SQLite, memory limits)"
schema=bench_service_$$
case_run "PostgreSQL" PALISADE_STORAGE__URL="$PG" PALISADE_STORAGE__SCHEMA="$schema"
psql "$PG" -qc "DROP SCHEMA $schema CASCADE" 2>/dev/null || true
case_run "Redis (limits; SQLite durable)" PALISADE_STORAGE__REDIS_URL="$REDIS" PALISADE_RATELIMIT__STORE=redis
rm -f "$LUA"
