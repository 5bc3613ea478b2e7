//! OTP on Redis after Redis loses its data (a private redis-server restarted without
//! persistence): an active lockout holds, the hash key stays, and what is lost is bounded.

use crate::common::{otp_retention, store_at, wait_answering};
use palisade_core::TenantId;
use palisade_otp::{
    IdentityHash, IssueOutcome, MemoryOtpStore, OtpIssue, OtpKey, OtpLimits, OtpStore, OtpVerify,
    VerifyOutcome,
};
use palisade_store_redis::RedisOtp;
use palisade_testkit::own_redis::OwnRedis;
use std::sync::Arc;

const LIMITS: OtpLimits = OtpLimits {
    verify_limit: 100,
    window_ms: 3_600_000,
    lockout_after: 3,
    cooldown_ms: 3_600_000,
    delay_after: 100,
    delay_base_ms: 0,
    delay_max_ms: 0,
};

/// A private Redis, an OTP store on it over a memory durable store, and one identity.
struct Subject {
    redis: OwnRedis,
    port: u16,
    durable: Arc<MemoryOtpStore>,
    otp: RedisOtp,
    key: OtpKey,
    tenant: TenantId,
    id: IdentityHash,
}

impl Subject {
    async fn start(test: &str) -> Option<Self> {
        let port = OwnRedis::free_port();
        let redis = OwnRedis::start_or_skip(test, port)?;
        redis.wait_ready().await;
        let durable = Arc::new(MemoryOtpStore::default());
        let otp = store_at(&redis.url())
            .await
            .otp(durable.clone(), otp_retention());
        let (key, tenant) = (OtpKey::generate(), TenantId::generate());
        let id = key.identity_hash(&tenant, "a@example.com");
        Some(Self {
            redis,
            port,
            durable,
            otp,
            key,
            tenant,
            id,
        })
    }

    /// Restarts the private Redis empty (no persistence) and waits until the store answers.
    async fn wipe(&mut self, test: &str) {
        self.redis.stop();
        self.redis = OwnRedis::start_or_skip(test, self.port).expect("restart");
        self.redis.wait_ready().await;
        wait_answering(&store_at(&self.redis.url()).await).await;
        // The store's own connection reconnects on its next call.
        let start = std::time::Instant::now();
        while self.otp.otp_lockout(&self.tenant, &self.id).await.is_err() {
            assert!(
                start.elapsed().as_secs() < 10,
                "the store never reconnected"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    async fn issue(&self, code: &str) -> IssueOutcome {
        let req = OtpIssue {
            identity: self.id.clone(),
            code: self.key.code_hash(&self.id, code),
            ttl_ms: 600_000,
        };
        self.otp.otp_issue(&self.tenant, &req).await.unwrap()
    }

    async fn verify(&self, code: &str) -> VerifyOutcome {
        let req = OtpVerify {
            identity: self.id.clone(),
            code: self.key.code_hash(&self.id, code),
            limits: LIMITS,
        };
        self.otp.otp_verify(&self.tenant, &req).await.unwrap()
    }

    /// Locks the identity out by `lockout_after` wrong codes; the lockout's end.
    async fn lock_out(&self) -> i64 {
        for _ in 1..LIMITS.lockout_after {
            assert_eq!(self.verify("2222222222").await, VerifyOutcome::Invalid);
        }
        match self.verify("2222222222").await {
            VerifyOutcome::Locked {
                until_ms,
                now: true,
            } => until_ms,
            other => panic!("expected the lockout, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_wiped_redis_keeps_an_active_lockout() {
    let test = "otp_wipe_keeps_lockout";
    let Some(mut s) = Subject::start(test).await else {
        return;
    };
    s.issue("1111111111").await;
    let until_ms = s.lock_out().await;
    s.wipe(test).await;
    let locked = VerifyOutcome::Locked {
        until_ms,
        now: false,
    };
    assert_eq!(
        s.verify("1111111111").await,
        locked,
        "verify after the wipe"
    );
    assert_eq!(
        s.issue("3333333333").await,
        IssueOutcome::Locked { until_ms }
    );
    assert_eq!(s.verify("3333333333").await, locked, "nothing was issued");
}

#[tokio::test]
async fn a_wipe_forgets_at_most_the_failures_since_the_last_lockout() {
    let test = "otp_wipe_bound";
    let Some(mut s) = Subject::start(test).await else {
        return;
    };
    s.issue("1111111111").await;
    for _ in 1..LIMITS.lockout_after {
        assert_eq!(s.verify("2222222222").await, VerifyOutcome::Invalid);
    }
    s.wipe(test).await;
    // The documented cost: the live code is gone and the count restarts (had it survived,
    // this third failure would lock); the limit still locks `lockout_after` failures later.
    assert_eq!(s.verify("1111111111").await, VerifyOutcome::Invalid);
    assert_eq!(s.verify("2222222222").await, VerifyOutcome::Invalid);
    assert!(matches!(
        s.verify("2222222222").await,
        VerifyOutcome::Locked { now: true, .. }
    ));
}

#[tokio::test]
async fn an_unlock_ends_the_written_through_lockout_too() {
    let test = "otp_wipe_after_unlock";
    let Some(mut s) = Subject::start(test).await else {
        return;
    };
    let until_ms = s.lock_out().await;
    assert_eq!(
        s.durable.otp_lockout(&s.tenant, &s.id).await.unwrap(),
        until_ms
    );
    assert!(s.otp.otp_unlock(&s.tenant, &s.id).await.unwrap());
    s.wipe(test).await;
    assert!(matches!(
        s.issue("1111111111").await,
        IssueOutcome::Issued { .. }
    ));
    assert_eq!(s.verify("1111111111").await, VerifyOutcome::Valid);
}

#[tokio::test]
async fn the_hash_key_lives_in_the_durable_store() {
    let test = "otp_wipe_key";
    let Some(mut s) = Subject::start(test).await else {
        return;
    };
    let first = s.otp.otp_key(&[7; 32]).await.unwrap();
    assert_eq!(s.durable.otp_key(&[9; 32]).await.unwrap(), first);
    s.wipe(test).await;
    assert_eq!(s.otp.otp_key(&[8; 32]).await.unwrap(), first);
}
