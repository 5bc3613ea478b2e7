//! JWT verifies/s through the runtime (cached JWKS, lookups from the cache that follows the
//! change feed) against the bare crypto (`jsonwebtoken::decode` with the same key and
//! validation) in the same run, and PostgreSQL with the cache off (one store read per verify).
//!
//! ```text
//! cargo build --release -p palisade-tokens --example verify_bench
//! target/release/examples/verify_bench [postgres://postgres@127.0.0.1:5432/test] [seconds] [concurrency]
//! ```
//!
//! Rounds alternate bare → memory → SQLite → PostgreSQL → PostgreSQL without cache (twice),
//! each `seconds` long with `concurrency` tasks on a 2-thread runtime; 1,000 distinct
//! pre-signed RS256 tokens are cycled. Each runtime's cache follows its store's feed every
//! 200 ms, as the server's `tokens_cache_sync` task does.

#[path = "../tests/support/mod.rs"]
mod support;

use palisade_core::feed_cache::SYNC_INTERVAL;
use palisade_core::{Maintenance, NoAudit, TenantId};
use palisade_fetch::{AllowList, FetchSettings, Fetcher};
use palisade_tokens::{Alg, IssuerInput, SafeFetchJwks, TokenSettings, TokenStore, Tokens};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{claims, JwksServer, TestKey};

const ISS: &str = "https://idp.bench";

async fn runtime(
    store: Arc<dyn TokenStore>,
    port: u16,
    url: &str,
    settings: TokenSettings,
) -> (Tokens, TenantId) {
    let fetch = FetchSettings {
        allow_ports: vec![80, 443, port],
        allow: AllowList {
            hosts: vec![],
            cidrs: vec!["127.0.0.1/32".into()],
        },
        ..FetchSettings::default()
    };
    let t = Tokens::new(
        store,
        Arc::new(SafeFetchJwks(Fetcher::new(fetch).unwrap())),
        settings,
        Arc::new(NoAudit),
    );
    let sync = t.cache_sync();
    sync.step().await.unwrap();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(SYNC_INTERVAL).await;
            let _ = sync.step().await;
        }
    });
    let tenant = TenantId::generate();
    t.issuer_create(
        &tenant,
        IssuerInput {
            issuer: Some(ISS.into()),
            jwks_url: Some(url.into()),
            audiences: Some(vec!["api".into()]),
            algorithms: Some(vec!["RS256".into()]),
            leeway_secs: None,
        },
    )
    .await
    .unwrap();
    (t, tenant)
}

/// Runs `f(i)` from `conc` tasks for `secs`; operations per second.
async fn rate<F, Fut>(secs: u64, conc: usize, f: F) -> f64
where
    F: Fn(usize) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let end = start + Duration::from_secs(secs);
    let tasks: Vec<_> = (0..conc)
        .map(|c| {
            let (f, done) = (f.clone(), done.clone());
            tokio::spawn(async move {
                let mut i = c;
                while Instant::now() < end {
                    assert!(f(i).await, "a verify failed");
                    done.fetch_add(1, Ordering::Relaxed);
                    i += conc;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let pg = args.get(1).cloned();
    let secs: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5);
    let conc: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(8);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(run(pg, secs, conc));
}

async fn run(pg: Option<String>, secs: u64, conc: usize) {
    let key = TestKey::rsa("a", "k1", Alg::RS256);
    let jwks = JwksServer::start(&[&key]).await;
    let tokens: Arc<Vec<String>> =
        Arc::new((0..1_000).map(|_| key.sign(&claims(ISS, "api"))).collect());

    let mut stores: Vec<(&str, Arc<dyn TokenStore>)> = vec![(
        "memory",
        Arc::new(palisade_tokens::MemoryTokenStore::default()),
    )];
    let dir = std::env::temp_dir().join(format!("verify_bench_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let o = palisade_store_sqlite::SqliteOptions::new(format!("sqlite://{}/b.db", dir.display()));
    let s = palisade_store_sqlite::SqliteStore::connect(&o)
        .await
        .unwrap();
    s.migrate().await.unwrap();
    stores.push(("sqlite", Arc::new(s)));
    if let Some(url) = &pg {
        let mut o = palisade_store_postgres::PgOptions::new(url.clone());
        o.schema = Some(format!("verify_bench_{}", std::process::id()));
        let s = palisade_store_postgres::PgStore::connect(&o).await.unwrap();
        s.migrate().await.unwrap();
        let s = Arc::new(s);
        stores.push(("postgres", s.clone()));
        stores.push(("postgres, cache off", s));
    }
    let mut runtimes = Vec::new();
    for (name, store) in stores {
        let settings = TokenSettings {
            cache_entries: if name.ends_with("off") { 0 } else { 100_000 },
            ..TokenSettings::default()
        };
        let (t, tenant) = runtime(store, jwks.port, &jwks.url(), settings).await;
        assert!(t.token_verify(&tenant, &tokens[0]).await.is_ok()); // warm the JWKS cache
        runtimes.push((name, t, tenant));
    }

    // The bare crypto: the same key, algorithm and claim checks, nothing else.
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(key.jwk.clone()).unwrap();
    let dk = Arc::new(jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap());
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_audience(&["api"]);
    v.set_issuer(&[ISS]);
    let v = Arc::new(v);

    println!("seconds per round {secs}, concurrency {conc}, 2 worker threads, RS256 (2048-bit)");
    for round in 1..=2 {
        let (toks, dk, v) = (tokens.clone(), dk.clone(), v.clone());
        let bare = rate(secs, conc, move |i| {
            let (toks, dk, v) = (toks.clone(), dk.clone(), v.clone());
            async move {
                jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
                    &toks[i % toks.len()],
                    &dk,
                    &v,
                )
                .is_ok()
            }
        })
        .await;
        println!("round {round} bare jsonwebtoken::decode: {bare:.0}/s");
        for (name, t, tenant) in &runtimes {
            let (toks, t, tenant) = (tokens.clone(), t.clone(), tenant.clone());
            let r = rate(secs, conc, move |i| {
                let (toks, t, tenant) = (toks.clone(), t.clone(), tenant.clone());
                async move { t.token_verify(&tenant, &toks[i % toks.len()]).await.is_ok() }
            })
            .await;
            println!(
                "round {round} runtime ({name}): {r:.0}/s = {:.2} x bare",
                r / bare
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    if let Some(url) = &pg {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let drop = format!("DROP SCHEMA verify_bench_{} CASCADE", std::process::id());
        sqlx::query(&drop).execute(&pool).await.unwrap();
    }
}
