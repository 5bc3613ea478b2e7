//! OTP state and CSRF tokens on the Redis server's clock: answers in Redis time, and keys that
//! expire by themselves (purge deletes nothing, nothing lives forever).

use palisade_core::TenantId;
use palisade_csrf::{token_hash, CsrfConsume, CsrfIssue, CsrfStore, SessionHash, Token};
use palisade_otp::{IssueOutcome, MemoryOtpStore, OtpIssue, OtpKey, OtpStore};
use palisade_store_redis::{RedisOptions, RedisStore};
use std::sync::Arc;
use std::time::Duration;

/// A fresh store on the shared Redis, and its key prefix.
async fn store(test: &str) -> Option<(RedisStore, String)> {
    let url = palisade_testkit::backends::redis_or_skip(test).await?;
    let mut opts = RedisOptions::new(url);
    opts.prefix = palisade_testkit::backends::unique("t");
    Some((RedisStore::connect(&opts).await.unwrap(), opts.prefix))
}

/// The keys under `prefix`.
async fn keys(s: &RedisStore, prefix: &str) -> Vec<String> {
    let mut c = s.conn();
    redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut c)
        .await
        .unwrap()
}

async fn redis_now_ms(s: &RedisStore) -> i64 {
    let mut c = s.conn();
    let (secs, micros): (i64, i64) = redis::cmd("TIME").query_async(&mut c).await.unwrap();
    secs * 1000 + micros / 1000
}

#[tokio::test]
async fn csrf_tokens_answer_in_redis_time_and_expire_by_themselves() {
    let Some((s, prefix)) = store("csrf_redis_expiry").await else {
        return;
    };
    let (t, session) = (TenantId::generate(), SessionHash("a".repeat(64)));
    let (used, left) = (Token::generate(), Token::generate());
    let before = redis_now_ms(&s).await;
    for tok in [&used, &left] {
        let req = CsrfIssue {
            token: token_hash(tok),
            session: session.clone(),
            ttl_ms: 300,
        };
        let exp = s.csrf_issue(&t, &req).await.unwrap();
        assert!((before + 300..before + 1_300).contains(&exp), "Redis time");
    }
    let consume = |tok: &Token| CsrfConsume {
        token: token_hash(tok),
        session: session.clone(),
    };
    assert!(s.csrf_consume(&t, &consume(&used)).await.unwrap());
    assert_eq!(keys(&s, &prefix).await.len(), 1, "the used token is gone");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(!s.csrf_consume(&t, &consume(&left)).await.unwrap());
    assert!(keys(&s, &prefix).await.is_empty(), "expired by Redis");
    assert_eq!(s.csrf_purge(1_000).await.unwrap(), 0);
}

#[tokio::test]
async fn otp_state_answers_in_redis_time_and_expires_by_itself() {
    let Some((s, prefix)) = store("otp_redis_expiry").await else {
        return;
    };
    let durable = Arc::new(MemoryOtpStore::default());
    let otp = s.otp(durable, Duration::from_millis(200));
    let (key, t) = (OtpKey::generate(), TenantId::generate());
    let id = key.identity_hash(&t, "a");
    let req = OtpIssue {
        identity: id.clone(),
        code: key.code_hash(&id, "1111111111"),
        ttl_ms: 1_000,
    };
    let before = redis_now_ms(&s).await;
    let IssueOutcome::Issued { expires_at_ms } = otp.otp_issue(&t, &req).await.unwrap() else {
        panic!("not issued");
    };
    assert!(
        (before + 1_000..before + 2_000).contains(&expires_at_ms),
        "Redis time"
    );
    assert_eq!(keys(&s, &prefix).await.len(), 1);
    // Kept until the code's expiry (the latest end here), then gone by itself.
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    assert!(keys(&s, &prefix).await.is_empty(), "expired by Redis");
}
