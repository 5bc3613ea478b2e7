#!/usr/bin/env bash
# The TypeScript client's checks against real `palisade serve` processes: types not stale, tsc,
# node --test on the embedded default and on PostgreSQL + Redis, and the Express example.
#
#   clients/typescript/scripts/check.sh               # what CI runs (scripts/test calls it)
#   clients/typescript/scripts/check.sh --regenerate  # rewrite src/generated/ from the server
#
# Under CI=true a missing node/npm, PostgreSQL or Redis fails the run; elsewhere it is skipped
# loudly. PALISADE_BIN names a prebuilt binary (default: cargo build -p palisade-server).
set -euo pipefail
cd "$(dirname "$0")/.."
CLIENT=$(pwd)
ROOT=$(cd ../.. && pwd)
EXAMPLE="$ROOT/examples/express-app"
REGENERATE=${1:-}

log() { echo "ts-check: $*" >&2; }
missing() {
  if [ "${CI:-}" = "true" ]; then log "$* under CI=true: failing"; exit 1; fi
  log "WARNING: $*: SKIPPED"
}

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  missing "node/npm not found"
  exit 0
fi
if [ "$(node -p 'Number(process.versions.node.split(".")[0])')" -lt 20 ]; then
  missing "node $(node --version) is older than 20"
  exit 0
fi

npm_install() { # dir
  if [ ! -f "$1/node_modules/.package-lock.json" ] || [ "$1/package-lock.json" -nt "$1/node_modules/.package-lock.json" ]; then
    (cd "$1" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}
npm_install "$CLIENT"

if [ -z "${PALISADE_BIN:-}" ]; then
  (cd "$ROOT" && cargo build -p palisade-server --locked --quiet)
  PALISADE_BIN="$ROOT/target/debug/palisade"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/palisade-ts.XXXXXX")
PIDS=()
SCHEMA="ts_client_$(date +%s)_$$"
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ -n "${SHARED_URL:-}" ]; then
    psql -q -h 127.0.0.1 -U postgres -d test -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

OPERATOR_KEY=$(node -p 'require("node:crypto").randomBytes(24).toString("hex")')

# start NAME [VAR=value ...]: `palisade serve` on a free port in $WORK/NAME; sets URL.
start() {
  local name=$1; shift
  local dir="$WORK/$name"
  mkdir -p "$dir"
  (cd "$dir" && exec env -u RUST_LOG $(env | grep -o '^PALISADE_[A-Za-z0-9_]*' | grep -v '^PALISADE_TEST_' | sed 's/^/-u /') \
    PALISADE_OPERATOR_KEY="$OPERATOR_KEY" PALISADE_IDEMPOTENCY__LOCK_TIMEOUT=2s PALISADE_JOBS__RESCUE_INTERVAL=100ms "$@" \
    "$PALISADE_BIN" serve --listen 127.0.0.1:0 >"$dir/stdout" 2>"$dir/stderr") &
  PIDS+=($!)
  URL=""
  for _ in $(seq 1 300); do
    URL=$(grep -o 'http://[0-9.:]*' "$dir/stdout" 2>/dev/null | head -1 || true)
    [ -n "$URL" ] && break
    sleep 0.1
  done
  if [ -z "$URL" ]; then log "palisade ($name) did not start:"; cat "$dir/stderr" >&2; exit 1; fi
  log "palisade ($name) on $URL"
}

run_tests() { # label url
  log "node --test against $1"
  if ! (cd "$CLIENT" && PALISADE_TEST_URL="$2" PALISADE_TEST_OPERATOR_KEY="$OPERATOR_KEY" \
    node --test --test-concurrency=1 build/test/*.test.js); then
    # what the servers logged (no secrets: Palisade never logs keys), to tell why
    for f in "$WORK"/*/stderr; do
      log "errors, warnings and 5xx answers in $f:"
      grep -E '"level":"(ERROR|WARN)"|"status":5[0-9][0-9]|panicked' "$f" | tail -n 40 >&2 || true
      log "last lines of $f:"; tail -n 20 "$f" >&2
    done
    return 1
  fi
}

start embedded
EMBEDDED_URL=$URL

# 1. The checked-in types are those of this server.
if [ "$REGENERATE" = "--regenerate" ]; then
  node scripts/generate.mjs "$EMBEDDED_URL" src/generated
  log "src/generated/ regenerated"
else
  node scripts/generate.mjs "$EMBEDDED_URL" "$WORK/generated"
  if ! diff -ru src/generated "$WORK/generated" >&2; then
    log "src/generated/ is stale against the server's /openapi.json: run scripts/check.sh --regenerate and commit"
    exit 1
  fi
fi

# 2. Compile the package and the tests.
npm run --silent build
npm run --silent build:test

# 3. Tests on the embedded default, then on PostgreSQL + Redis.
run_tests "the embedded default" "$EMBEDDED_URL"

if pg_isready -q -h 127.0.0.1 -p 5432 -U postgres 2>/dev/null && [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = "PONG" ]; then
  start shared PALISADE_STORAGE__URL=postgres://postgres@127.0.0.1:5432/test PALISADE_STORAGE__SCHEMA="$SCHEMA" \
    PALISADE_STORAGE__POOL_SIZE=4 PALISADE_STORAGE__REDIS_URL=redis://127.0.0.1:6379
  SHARED_URL=$URL
  run_tests "PostgreSQL + Redis" "$SHARED_URL"
else
  missing "PostgreSQL (127.0.0.1:5432) or Redis (127.0.0.1:6379) unavailable: the shared-store run"
fi

# 4. The Express example, against the embedded server.
npm_install "$EXAMPLE"
log "examples/express-app against $EMBEDDED_URL"
(cd "$EXAMPLE" && PALISADE_TEST_URL="$EMBEDDED_URL" PALISADE_TEST_OPERATOR_KEY="$OPERATOR_KEY" node --test test/*.test.mjs)
log "ok"
