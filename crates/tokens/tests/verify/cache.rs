//! The lookup cache over a real shared store (one SQLite file, two runtimes as two instances):
//! a revocation on one reaches the other's cache through the change feed within the bound, and
//! a cache whose feed stops steps aside after the bound instead of serving a revoked token.

use super::support::{claims, JwksServer, TestKey};
use super::{issuer, ISS};
use palisade_core::feed_cache::{MAX_STALENESS, SYNC_INTERVAL};
use palisade_core::{Maintenance, NoAudit, SystemClock, TenantId};
use palisade_fetch::{AllowList, FetchSettings, Fetcher};
use palisade_store_sqlite::{SqliteOptions, SqliteStore};
use palisade_tokens::{Alg, Revocation, SafeFetchJwks, TokenSettings, Tokens};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One "instance": its own connection pool on the shared file, and its own runtime.
async fn instance(db: &Path, port: u16) -> Tokens {
    let o = SqliteOptions::new(format!("sqlite://{}", db.display()));
    let store = SqliteStore::connect(&o).await.unwrap();
    store.migrate().await.unwrap();
    let fetch = FetchSettings {
        allow_ports: vec![80, 443, port],
        allow: AllowList {
            hosts: vec![],
            cidrs: vec!["127.0.0.1/32".into()],
        },
        ..FetchSettings::default()
    };
    Tokens::with_clock(
        Arc::new(store),
        Arc::new(SafeFetchJwks(Fetcher::new(fetch).unwrap())),
        TokenSettings::default(),
        Arc::new(NoAudit),
        SystemClock::shared(),
    )
}

struct Pair {
    a: Tokens,
    b: Tokens,
    tenant: TenantId,
    key: TestKey,
    _jwks: JwksServer,
    _dir: Dir,
}

/// A temporary directory, removed on drop.
struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn pair() -> Pair {
    let key = TestKey::ec("k1");
    let jwks = JwksServer::start(&[&key]).await;
    let dir = std::env::temp_dir().join(format!("tokens_cache_{}", TenantId::generate()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("shared.db");
    let a = instance(&db, jwks.port).await;
    let b = instance(&db, jwks.port).await;
    let tenant = TenantId::generate();
    issuer(&a, &tenant, &jwks.url(), &[Alg::ES256]).await;
    Pair {
        a,
        b,
        tenant,
        key,
        _jwks: jwks,
        _dir: Dir(dir),
    }
}

/// Verifies `tok` on `t` twice: the second answer comes from the cache.
async fn warm(t: &Tokens, tenant: &TenantId, tok: &str) {
    for _ in 0..2 {
        assert!(t.token_verify(tenant, tok).await.is_ok());
    }
    assert!(!t.cache().is_empty(), "the lookup is cached");
}

/// Polls `t` until `tok` is refused as revoked; panics if that takes past the bound.
async fn refused_within_bound(t: &Tokens, tenant: &TenantId, tok: &str, t0: Instant) {
    loop {
        let sent = t0.elapsed();
        match t.token_verify(tenant, tok).await {
            Err(e) if e.code() == "token-revoked" => return,
            r => assert!(sent < MAX_STALENESS, "valid {sent:?} after: {:?}", r.err()),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_revocation_reaches_another_instances_cache_within_the_bound() {
    let p = pair().await;
    let sync = p.b.cache_sync();
    sync.step().await.unwrap();
    let follower = tokio::spawn(async move {
        loop {
            tokio::time::sleep(SYNC_INTERVAL).await;
            let _ = sync.step().await;
        }
    });
    let (c1, c2) = (claims(ISS, "api"), claims(ISS, "api"));
    let (t1, t2) = (p.key.sign(&c1), p.key.sign(&c2));
    warm(&p.b, &p.tenant, &t1).await;
    warm(&p.b, &p.tenant, &t2).await;
    let jti = Revocation::Jti {
        jti: c1["jti"].as_str().unwrap().into(),
        expires_at_ms: c1["exp"].as_i64().unwrap() * 1000,
    };
    p.a.revocation_create(&p.tenant, &jti, None).await.unwrap();
    refused_within_bound(&p.b, &p.tenant, &t1, Instant::now()).await;
    assert!(
        p.b.token_verify(&p.tenant, &t2).await.is_ok(),
        "another jti"
    );
    let sub = p.a.subject_revocation_now("user-1".into());
    p.a.revocation_create(&p.tenant, &sub, None).await.unwrap();
    refused_within_bound(&p.b, &p.tenant, &t2, Instant::now()).await;
    follower.abort();
}

#[tokio::test]
async fn a_cache_whose_feed_stops_is_not_trusted_after_the_bound() {
    let p = pair().await;
    let c = claims(ISS, "api");
    let tok = p.key.sign(&c);
    p.b.cache_sync().step().await.unwrap();
    let synced = Instant::now();
    warm(&p.b, &p.tenant, &tok).await;
    // B stops following the feed; A revokes. Within the bound B may still answer from memory…
    let sub = p.a.subject_revocation_now("user-1".into());
    p.a.revocation_create(&p.tenant, &sub, None).await.unwrap();
    if synced.elapsed() < MAX_STALENESS - Duration::from_millis(300) {
        assert!(
            p.b.token_verify(&p.tenant, &tok).await.is_ok(),
            "served from the cache inside the bound"
        );
    }
    // …but once its last feed read is a bound old, it reads the store and refuses.
    tokio::time::sleep(MAX_STALENESS.saturating_sub(synced.elapsed())).await;
    let r = p.b.token_verify(&p.tenant, &tok).await;
    assert_eq!(r.err().map(|e| e.code()), Some("token-revoked"));
    // Following again, the cache applies the change and serves the refusal itself.
    p.b.cache_sync().step().await.unwrap();
    let r = p.b.token_verify(&p.tenant, &tok).await;
    assert_eq!(r.err().map(|e| e.code()), Some("token-revoked"));
}
