//! Test backends: where PostgreSQL and Redis are, unique names, and skip-or-fail when absent.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// True under CI (`CI=true`), where a missing backend fails the test instead of skipping it.
pub fn in_ci() -> bool {
    std::env::var("CI")
        .map(|v| v == "true" || v == "1")
        .unwrap_or(false)
}

/// `PALISADE_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`.
pub fn postgres_url() -> String {
    std::env::var("PALISADE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// `PALISADE_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`.
pub fn redis_url() -> String {
    std::env::var("PALISADE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A name unique to this process and call, usable as a schema name or key prefix
/// (`[a-z0-9_]`, starts with `prefix`).
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let r: u32 = rand::random();
    format!("{prefix}_{}_{n}_{r:08x}", std::process::id())
}

/// The PostgreSQL URL when its server accepts TCP connections; otherwise skips loudly
/// (returns `None`) or, under CI, panics.
pub async fn postgres_or_skip(test: &str) -> Option<String> {
    reachable_or_skip(test, "PostgreSQL", &postgres_url()).await
}

/// The Redis URL when its server accepts TCP connections; otherwise skips loudly
/// (returns `None`) or, under CI, panics.
pub async fn redis_or_skip(test: &str) -> Option<String> {
    reachable_or_skip(test, "Redis", &redis_url()).await
}

async fn reachable_or_skip(test: &str, what: &str, url: &str) -> Option<String> {
    let addr = host_port(url);
    let ok = tokio::time::timeout(
        Duration::from_secs(2),
        tokio::net::TcpStream::connect(&addr),
    )
    .await
    .map(|r| r.is_ok())
    .unwrap_or(false);
    if ok {
        return Some(url.to_owned());
    }
    if in_ci() {
        panic!("{what} at {addr} is unreachable and CI=true: {test} cannot be skipped");
    }
    eprintln!("\n!!!!! SKIPPED {test}: {what} at {addr} is unreachable (set CI=true to fail instead) !!!!!\n");
    None
}

/// `host:port` of a `scheme://[user@]host:port/...` URL.
fn host_port(url: &str) -> String {
    let rest = url.split("://").nth(1).unwrap_or(url);
    let authority = rest.split('/').next().unwrap_or(rest);
    let hostport = authority.rsplit('@').next().unwrap_or(authority);
    hostport.split('?').next().unwrap_or(hostport).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_host_port() {
        assert_eq!(
            host_port("postgres://postgres@127.0.0.1:5432/test"),
            "127.0.0.1:5432"
        );
        assert_eq!(host_port("redis://127.0.0.1:6379"), "127.0.0.1:6379");
        assert_eq!(host_port("redis://:pw@h:1/0"), "h:1");
    }

    #[test]
    fn unique_names_differ() {
        let a = unique("t");
        assert_ne!(a, unique("t"));
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
    }
}
