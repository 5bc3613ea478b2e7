//! Semantic checks of a loaded configuration, collecting every error.

use super::{Config, Environment, IdempotencyStoreKind, RateLimitStoreKind};
use std::net::SocketAddr;
use std::time::Duration;

const MIN_OPERATOR_KEY: usize = 32;

/// Every semantic problem of `cfg`.
pub(super) fn errors(cfg: &Config) -> Vec<String> {
    let mut e = Vec::new();
    if cfg.listen.parse::<SocketAddr>().is_err() {
        e.push("listen: must be an address like 127.0.0.1:8080".into());
    }
    let url = cfg.storage_url();
    let url = url.expose();
    if !(url.starts_with("sqlite:")
        || url.starts_with("postgres://")
        || url.starts_with("postgresql://"))
    {
        e.push("storage.url: must start with sqlite: or postgres://".into());
    }
    if let Some(s) = &cfg.storage.schema {
        if s.is_empty()
            || s.len() > 63
            || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            e.push("storage.schema: 1 to 63 characters of A-Z a-z 0-9 _".into());
        }
    }
    if let Some(r) = &cfg.storage.redis_url {
        let r = r.expose();
        if !(r.starts_with("redis://") || r.starts_with("rediss://")) {
            e.push("storage.redis_url: must start with redis:// or rediss://".into());
        }
    }
    let prefix = &cfg.storage.redis_prefix;
    if prefix.is_empty()
        || prefix.len() > 64
        || !prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
    {
        e.push("storage.redis_prefix: 1 to 64 characters of A-Z a-z 0-9 _ - .".into());
    }
    if cfg.storage.pool_size == Some(0) || cfg.storage.pool_size.is_some_and(|n| n > 1000) {
        e.push("storage.pool_size: must be 1..=1000".into());
    }
    if !(1..=1000).contains(&cfg.storage.expected_instances) {
        e.push("storage.expected_instances: must be 1..=1000".into());
    }
    range(
        &mut e,
        "storage.acquire_timeout",
        cfg.storage.acquire_timeout,
        1,
        60_000,
    );
    range(
        &mut e,
        "http.request_timeout",
        cfg.http.request_timeout,
        100,
        3_600_000,
    );
    range(
        &mut e,
        "http.shutdown_timeout",
        cfg.http.shutdown_timeout,
        0,
        600_000,
    );
    range(&mut e, "http.lame_duck", cfg.http.lame_duck, 0, 60_000);
    let body = cfg.http.body_limit.as_u64();
    if !(1024..=1024 * 1024 * 1024).contains(&body) {
        e.push("http.body_limit: must be between 1KiB and 1GiB".into());
    }
    e.extend(hot_store_errors(cfg));
    e.extend(cfg.idempotency.errors("idempotency"));
    e.extend(cfg.audit.errors());
    if !is_log_filter(&cfg.log.level) {
        e.push(
            "log.level: must be a level (error, warn, info, debug, trace, off) or a list such \
             as info,palisade=debug"
                .into(),
        );
    }
    for (name, k) in [
        ("operator_key", &cfg.operator_key),
        ("operator_key_next", &cfg.operator_key_next),
    ] {
        if k.as_ref()
            .is_some_and(|k| k.expose().trim().len() < MIN_OPERATOR_KEY)
        {
            e.push(format!(
                "{name}: must be at least {MIN_OPERATOR_KEY} characters"
            ));
        }
    }
    if cfg.env == Environment::Production
        && cfg.operator_key.is_none()
        && cfg.operator_key_file.is_none()
    {
        e.push(
            "operator_key: in production set PALISADE_OPERATOR_KEY or operator_key_file; \
             Palisade will not generate one"
                .into(),
        );
    }
    e.extend(cfg.ratelimit.errors("ratelimit"));
    e.extend(cfg.metrics.errors(&cfg.listen));
    e.extend(super::previews::fetch_errors(&cfg.fetch));
    e.extend(cfg.previews.errors());
    e.extend(cfg.cron.errors("cron"));
    e.extend(cfg.jobs.errors("jobs"));
    e.extend(cfg.realtime.errors("realtime"));
    e.extend(cfg.otp.errors("otp"));
    e.extend(cfg.csrf.errors("csrf"));
    e.extend(cfg.tokens.errors("tokens"));
    e.extend(
        cfg.webhooks
            .check()
            .into_iter()
            .map(|f| format!("{}: {}", f.field, f.message)),
    );
    e
}

/// A capability told to use Redis when no `storage.redis_url` is set.
fn hot_store_errors(cfg: &Config) -> Vec<String> {
    if cfg.storage.redis_url.is_some() {
        return Vec::new();
    }
    let mut e = Vec::new();
    if cfg.idempotency.store == IdempotencyStoreKind::Redis {
        e.push("idempotency.store: `redis` needs storage.redis_url".into());
    }
    if cfg.ratelimit.store == RateLimitStoreKind::Redis {
        e.push("ratelimit.store: `redis` needs storage.redis_url".into());
    }
    e
}

fn range(e: &mut Vec<String>, name: &str, d: Duration, min_ms: u128, max_ms: u128) {
    if !(min_ms..=max_ms).contains(&d.as_millis()) {
        e.push(format!("{name}: must be between {min_ms}ms and {max_ms}ms"));
    }
}

/// A level, or comma-separated `level` / `target=level` directives.
fn is_log_filter(f: &str) -> bool {
    const LEVELS: [&str; 6] = ["error", "warn", "info", "debug", "trace", "off"];
    let level = |l: &str| LEVELS.iter().any(|x| x.eq_ignore_ascii_case(l.trim()));
    let target = |t: &str| {
        !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_:-".contains(&b))
    };
    !f.trim().is_empty()
        && f.split(',').all(|d| match d.split_once('=') {
            Some((t, l)) => target(t.trim()) && level(l),
            None => level(d),
        })
}
