//! The readable summary `palisade check-config` prints: every section, no credential.

use super::Config;
use std::fmt::Write as _;
use std::path::Path;

/// What `check-config` prints for a valid `cfg` loaded from `file` (none: defaults and
/// environment only). URLs appear as scheme and host; keys only as where they come from.
pub fn summary(cfg: &Config, file: Option<&Path>) -> String {
    let mut s = String::from("configuration OK\n");
    let file = file.map_or_else(
        || "none (defaults and PALISADE_* environment)".to_owned(),
        |f| f.display().to_string(),
    );
    line(&mut s, "file", file);
    line(&mut s, "env", format!("{:?}", cfg.env).to_lowercase());
    line(&mut s, "listen", &cfg.listen);
    line(&mut s, "data_dir", cfg.data_dir.display());
    line(&mut s, "operator key", operator_key(cfg));
    line(&mut s, "storage", storage(cfg));
    line(&mut s, "redis", redis(cfg));
    line(&mut s, "http", http(cfg));
    line(&mut s, "ratelimit", ratelimit(cfg));
    line(&mut s, "idempotency", idempotency(cfg));
    line(&mut s, "jobs", jobs(cfg));
    line(&mut s, "realtime", realtime(cfg));
    line(&mut s, "otp", otp(cfg));
    line(&mut s, "webhooks", webhooks(cfg));
    line(&mut s, "metrics", metrics(cfg));
    line(
        &mut s,
        "log",
        format!("level {}, format {:?}", cfg.log.level, cfg.log.format).to_lowercase(),
    );
    s
}

/// The declared sources by count and where their secrets come from (never a secret).
fn webhooks(cfg: &Config) -> String {
    let w = &cfg.webhooks;
    let (mut inline, mut env, mut file) = (0, 0, 0);
    for x in w
        .sources
        .iter()
        .flat_map(|s| s.secrets.iter().chain(&s.delivery_secret))
    {
        inline += usize::from(x.secret.is_some());
        env += usize::from(x.secret_env.is_some());
        file += usize::from(x.secret_file.is_some());
    }
    let base = w
        .public_base_url
        .as_deref()
        .map_or("the request's Host".to_owned(), str::to_owned);
    format!(
        "{} declared sources (secrets: {inline} inline, {env} from the environment, {file} \
         from files), public URL from {base}",
        w.sources.len()
    )
}

fn line(s: &mut String, name: &str, value: impl std::fmt::Display) {
    let _ = writeln!(s, "  {name:<13} {value}");
}

fn operator_key(cfg: &Config) -> String {
    let next = match (&cfg.operator_key_next, &cfg.operator_key_next_file) {
        (Some(_), _) => "; also PALISADE_OPERATOR_KEY_NEXT (rotation)".to_owned(),
        (None, Some(f)) => format!("; also file {} (rotation)", f.display()),
        (None, None) => String::new(),
    };
    first_operator_key(cfg) + &next
}

fn first_operator_key(cfg: &Config) -> String {
    match (&cfg.operator_key, &cfg.operator_key_file) {
        (Some(_), _) => "from PALISADE_OPERATOR_KEY".into(),
        (None, Some(f)) => format!("from file {}", f.display()),
        (None, None) => format!(
            "{}/operator.key (generated on first start outside production)",
            cfg.data_dir.display()
        ),
    }
}

fn storage(cfg: &Config) -> String {
    let url = cfg.storage_url();
    if !cfg.is_postgres() {
        return format!("sqlite {}", url.redacted().trim_start_matches("sqlite://"));
    }
    let host = url.host().unwrap_or_else(|| "(local socket)".into());
    let schema = cfg.storage.schema.as_deref().unwrap_or("(search path)");
    let pool = cfg
        .storage
        .pool_size
        .map_or_else(|| "computed".to_owned(), |n| n.to_string());
    format!(
        "postgres at {host}, schema {schema}, pool {pool}, expected instances {}",
        cfg.storage.expected_instances
    )
}

fn redis(cfg: &Config) -> String {
    match &cfg.storage.redis_url {
        None => "none".into(),
        Some(u) => format!(
            "{} at {}",
            u.scheme().unwrap_or_else(|| "redis".into()),
            u.host().unwrap_or_else(|| "(unknown host)".into())
        ),
    }
}

fn http(cfg: &Config) -> String {
    let h = &cfg.http;
    format!(
        "body limit {}, request timeout {}, shutdown timeout {}",
        h.body_limit,
        humantime::format_duration(h.request_timeout),
        humantime::format_duration(h.shutdown_timeout)
    )
}

fn ratelimit(cfg: &Config) -> String {
    let r = &cfg.ratelimit;
    format!(
        "store {:?}, fallback after {}, {} configured policies, change retention {}, \
         max policies per tenant {}, max overrides per tenant {}",
        r.store,
        humantime::format_duration(r.fallback_deadline),
        r.policies.len(),
        humantime::format_duration(r.change_retention),
        r.max_policies_per_tenant,
        r.max_overrides_per_tenant
    )
    .to_lowercase()
}

fn jobs(cfg: &Config) -> String {
    let j = &cfg.jobs;
    let d = humantime::format_duration;
    format!(
        "default lease {}, rescue every {}, payload up to {} bytes, long-poll up to {}",
        d(j.default_lease),
        d(j.rescue_interval),
        j.max_payload_bytes,
        d(j.max_lease_wait)
    )
}

/// The signing keys by id (never their secrets), token lifetimes, history bounds, stream caps.
fn realtime(cfg: &Config) -> String {
    let r = &cfg.realtime;
    let d = humantime::format_duration;
    let keys = match r.signing_keys.first() {
        Some(k) => format!("signing key {} of {}", k.id, r.signing_keys.len()),
        None => "random key per process (tokens valid on this instance only)".into(),
    };
    format!(
        "{keys}, tokens {} (max {}), history {} events / {}, heartbeat {}, idle {}, \
         streams ≤ {} per principal / {} per tenant",
        d(r.token_default_ttl),
        d(r.token_max_ttl),
        r.history_max_events,
        d(r.history_max_age),
        d(r.heartbeat_interval),
        d(r.idle_timeout),
        r.max_streams_per_principal,
        r.max_streams_per_tenant
    )
}

fn otp(cfg: &Config) -> String {
    let o = &cfg.otp;
    let d = humantime::format_duration;
    let key = match o.hash_key {
        Some(_) => "configured",
        None => "kept in the durable store",
    };
    format!(
        "{} {:?} symbols valid {}, {} verifies per identity per {}, lockout after {} for {}, delay after {} failures {} doubling up to {}, hash key {key}",
        o.code_length,
        o.alphabet,
        d(o.code_ttl),
        o.verify_limit,
        d(o.verify_window),
        o.lockout_after,
        d(o.lockout_cooldown),
        o.delay_after,
        d(o.delay_base),
        d(o.delay_max)
    )
    .to_lowercase()
}

fn idempotency(cfg: &Config) -> String {
    let i = &cfg.idempotency;
    format!(
        "store {:?}, ttl {}, lock timeout {}",
        i.store,
        humantime::format_duration(i.ttl),
        humantime::format_duration(i.lock_timeout)
    )
    .to_lowercase()
}

fn metrics(cfg: &Config) -> String {
    match &cfg.metrics.listen {
        None => "/metrics on the main listener (operator key required)".into(),
        Some(l) => format!(
            "/metrics on {l} (no authentication) and on the main listener (operator key required)"
        ),
    }
}
