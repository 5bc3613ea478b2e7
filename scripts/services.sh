#!/usr/bin/env bash
# Makes sure PostgreSQL (127.0.0.1:5432, user postgres, database test, trust) and Redis
# (127.0.0.1:6379) are up, and Chromium is installed (headless, for the browser example test): starts them when installed but stopped; when missing and running as
# root, installs them with apt-get and sets PostgreSQL's local authentication to `trust` in
# pg_hba.conf — under CI=true, or with PALISADE_INSTALL_SERVICES=yes, or after asking on a
# terminal (never silently). Exits non-zero, loudly, when they cannot be had.
set -uo pipefail

log() { echo "services: $*" >&2; }

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 -U postgres 2>/dev/null; }
redis_up() { [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = "PONG" ]; }

# Installing packages and rewriting pg_hba.conf changes the machine: only with consent.
install_allowed() {
  [ "${CI:-}" = "true" ] || [ "${PALISADE_INSTALL_SERVICES:-}" = "yes" ] && return 0
  if [ -t 0 ]; then
    read -r -p "services: install $* with apt-get (PostgreSQL: local auth set to trust)? [y/N] " a
    [ "$a" = y ] || [ "$a" = Y ] && return 0
  fi
  log "not installing $* without consent: install it yourself, or rerun with PALISADE_INSTALL_SERVICES=yes"
  return 1
}

apt_install() {
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    log "cannot install $* (not root or no apt-get)"; return 1
  fi
  install_allowed "$@" || return 1
  [ -n "${APT_UPDATED:-}" ] || { DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2; APT_UPDATED=1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

ensure_postgres() {
  pg_up && return 0
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    log "PostgreSQL not installed; installing"
    apt_install postgresql postgresql-client || return 1
    local hba; hba=$(ls /etc/postgresql/*/main/pg_hba.conf | head -1)
    sed -i -E 's/(peer|md5|scram-sha-256)$/trust/' "$hba"
  fi
  local ver; ver=$(ls /etc/postgresql | sort -V | tail -1)
  log "starting PostgreSQL $ver"
  pg_ctlcluster --skip-systemctl-redirect "$ver" main start >&2 || true
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
  pg_up || return 1
  psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='test'" | grep -q 1 \
    || psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE test" >&2
}

ensure_redis() {
  redis_up && return 0
  if ! command -v redis-server >/dev/null; then
    log "Redis not installed; installing"
    apt_install redis-server || return 1
  fi
  log "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log >&2 \
    || redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >&2
  for _ in $(seq 1 30); do redis_up && break; sleep 0.5; done
  redis_up
}

# Chromium (headless) drives the browser example's test (crates/server/tests/it/realtime/browser.rs).
ensure_chromium() {
  command -v chromium >/dev/null && return 0
  log "Chromium not installed; installing"
  apt_install --no-install-recommends chromium
}

ok=0
ensure_postgres || { log "ERROR: PostgreSQL is not available at 127.0.0.1:5432"; ok=1; }
ensure_redis || { log "ERROR: Redis is not available at 127.0.0.1:6379"; ok=1; }
[ $ok = 0 ] && log "PostgreSQL and Redis are up"
if ! ensure_chromium; then
  if [ "${CI:-}" = "true" ]; then log "ERROR: chromium is not available (the browser example test needs it)"; ok=1
  else log "WARNING: chromium is not available: the browser example test will be skipped"; fi
fi
exit $ok
