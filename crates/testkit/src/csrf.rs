//! Conformance suite of the CSRF token stores: one public check per guarantee, on a manual clock.

use palisade_core::{ManualClock, TenantId};
use palisade_csrf::{token_hash, CsrfConsume, CsrfIssue, CsrfStore, SessionHash, Token};
use std::sync::Arc;
use std::time::Duration;

/// The store under test.
pub type Store = Arc<dyn CsrfStore>;

const TTL_MS: i64 = 300_000;

fn session(name: &str) -> SessionHash {
    SessionHash(palisade_core::secret::sha256_hex(name.as_bytes()))
}

/// Issues a fresh token of `session` in `tenant`.
async fn issue(s: &Store, tenant: &TenantId, session: &SessionHash) -> Token {
    let t = Token::generate();
    let req = CsrfIssue {
        token: token_hash(&t),
        session: session.clone(),
        ttl_ms: TTL_MS,
    };
    s.csrf_issue(tenant, &req).await.unwrap();
    t
}

async fn consume(s: &Store, tenant: &TenantId, session: &SessionHash, t: &Token) -> bool {
    let req = CsrfConsume {
        token: token_hash(t),
        session: session.clone(),
    };
    s.csrf_consume(tenant, &req).await.unwrap()
}

/// A token is consumed by its first use only; issue reports its expiry.
pub async fn issue_then_consume_once(s: &Store, clock: &Arc<ManualClock>) {
    use palisade_core::Clock;
    let (t, a) = (TenantId::generate(), session("a"));
    let tok = Token::generate();
    let req = CsrfIssue {
        token: token_hash(&tok),
        session: a.clone(),
        ttl_ms: TTL_MS,
    };
    assert_eq!(
        s.csrf_issue(&t, &req).await.unwrap(),
        clock.now_ms() + TTL_MS
    );
    assert!(consume(s, &t, &a, &tok).await);
    assert!(!consume(s, &t, &a, &tok).await);
    assert!(
        !consume(s, &t, &a, &Token::generate()).await,
        "an unknown token"
    );
}

/// A token presented with another session fails and stays usable by its own session.
pub async fn another_session_cannot_use_it(s: &Store, _clock: &Arc<ManualClock>) {
    let t = TenantId::generate();
    let tok = issue(s, &t, &session("a")).await;
    assert!(!consume(s, &t, &session("b"), &tok).await);
    assert!(consume(s, &t, &session("a"), &tok).await);
}

/// A token is refused from its expiry on.
pub async fn expired_token_is_refused(s: &Store, clock: &Arc<ManualClock>) {
    let (t, a) = (TenantId::generate(), session("a"));
    let tok = issue(s, &t, &a).await;
    let early = issue(s, &t, &a).await;
    clock.advance(Duration::from_millis(TTL_MS as u64 - 1));
    assert!(consume(s, &t, &a, &early).await);
    clock.advance(Duration::from_millis(1));
    assert!(!consume(s, &t, &a, &tok).await);
}

/// One tenant's token is unknown to another tenant.
pub async fn tenants_are_isolated(s: &Store, _clock: &Arc<ManualClock>) {
    let a = session("a");
    let (t1, t2) = (TenantId::generate(), TenantId::generate());
    let tok = issue(s, &t1, &a).await;
    assert!(!consume(s, &t2, &a, &tok).await);
    assert!(consume(s, &t1, &a, &tok).await);
}

/// Many concurrent uses of one token: exactly one succeeds.
pub async fn concurrent_consumes_succeed_once(s: &Store, _clock: &Arc<ManualClock>) {
    let (t, a) = (TenantId::generate(), session("a"));
    let tok = issue(s, &t, &a).await;
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (s, t, a, tok) = (s.clone(), t.clone(), a.clone(), tok.clone());
            tokio::spawn(async move { consume(&s, &t, &a, &tok).await })
        })
        .collect();
    let wins = futures::future::join_all(tasks)
        .await
        .into_iter()
        .filter(|r| *r.as_ref().unwrap())
        .count();
    assert_eq!(wins, 1);
}

/// Purge deletes expired tokens and keeps live ones.
pub async fn purge_deletes_only_expired(s: &Store, clock: &Arc<ManualClock>) {
    let (t, a) = (TenantId::generate(), session("a"));
    issue(s, &t, &a).await;
    issue(s, &t, &a).await;
    clock.advance(Duration::from_millis(TTL_MS as u64));
    let live = issue(s, &t, &a).await;
    assert_eq!(s.csrf_purge(1_000).await.unwrap(), 2);
    assert_eq!(s.csrf_purge(1_000).await.unwrap(), 0);
    assert!(consume(s, &t, &a, &live).await);
}
