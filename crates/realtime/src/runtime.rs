//! [`Realtime`]: the capability's runtime: mint and verify tokens, publish, revoke, open streams.

use crate::error::RealtimeError;
use crate::fanout::{Fanout, Signal};
use crate::feed::{Feed, TopicFeed};
use crate::hub::Hub;
use crate::life::{drive, Close, Frame, Life, OpenStream, StreamKind};
use crate::model::{Event, Revocation, TopicName, MAX_TOPICS_PER_TOKEN};
use crate::settings::RealtimeSettings;
use crate::slots::{SlotTake, Slots, StreamSlotStore};
use crate::store::RealtimeStore;
use crate::token::{Claims, Keyring, MintRequest, Minted};
use futures::Stream;
use palisade_core::{FieldError, Maintenance, StoreError, TenantId};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The realtime runtime of one process.
#[derive(Debug, Clone)]
pub struct Realtime {
    /// Topic history and revocations.
    pub store: Arc<dyn RealtimeStore>,
    /// This process's hub.
    pub hub: Arc<Hub>,
    /// How signals reach every instance.
    pub fanout: Arc<dyn Fanout>,
    /// The settings.
    pub settings: Arc<RealtimeSettings>,
    /// This process's stream slots (the cluster-wide caps).
    pub slots: Arc<Slots>,
    keys: Keyring,
    shutdown: CancellationToken,
}

impl Realtime {
    /// The runtime over `store`, `hub` and `fanout` (which must deliver to `hub`), counting
    /// open streams in `slots` (the store every instance shares).
    pub fn new(
        store: Arc<dyn RealtimeStore>,
        hub: Arc<Hub>,
        fanout: Arc<dyn Fanout>,
        slots: Arc<dyn StreamSlotStore>,
        settings: RealtimeSettings,
    ) -> Self {
        let keys = settings
            .signing_keys
            .iter()
            .map(|k| (k.id.clone(), k.secret.expose().as_bytes().to_vec()));
        let keys = Keyring::new(keys).unwrap_or_else(|| {
            tracing::warn!(
                "realtime.signing_keys is empty: stream tokens are signed by a random key of \
                 this process, valid on this instance only"
            );
            Keyring::ephemeral()
        });
        let slots = Slots::new(slots, settings.caps(), settings.slot_lease());
        Self {
            store,
            hub,
            fanout,
            slots,
            settings: Arc::new(settings),
            keys,
            shutdown: CancellationToken::new(),
        }
    }

    /// Mints a token for `tenant`, or a 400 naming every invalid field.
    pub fn token_mint(&self, tenant: &TenantId, req: MintRequest) -> Result<Minted, RealtimeError> {
        let mut errors = Vec::new();
        let p = &req.principal;
        if !(1..=200).contains(&p.len()) || p.chars().any(char::is_control) {
            errors.push(FieldError::new(
                "principal",
                "required: 1 to 200 characters, no control characters",
            ));
        }
        if req.topics.is_empty() && req.jobs.is_empty() {
            errors.push(FieldError::new("topics", "name at least one topic or job"));
        }
        if req.topics.len() > MAX_TOPICS_PER_TOKEN {
            errors.push(FieldError::new("topics", "at most 32 topics"));
        }
        if req.jobs.len() > MAX_TOPICS_PER_TOKEN {
            errors.push(FieldError::new("jobs", "at most 32 jobs"));
        }
        let max = self.settings.token_max_ttl;
        let ttl = req.ttl.unwrap_or(self.settings.token_default_ttl);
        if ttl < Duration::from_secs(1) || ttl > max {
            let msg = format!("must be between 1000 and {} milliseconds", max.as_millis());
            errors.push(FieldError::new("ttl_ms", msg));
        }
        if !errors.is_empty() {
            return Err(RealtimeError::Invalid(errors));
        }
        let now = self.store.realtime_now_ms();
        let claims = Claims {
            token_id: format!("stok_{}", palisade_core::secret::random_token(20)),
            tenant: tenant.clone(),
            principal: req.principal,
            key_id: req.key_id,
            topics: req.topics,
            jobs: req.jobs,
            iat_ms: now,
            exp_ms: now + ttl.as_millis() as i64,
        };
        let token = self.keys.sign(&claims);
        if token.len() > crate::token::MAX_TOKEN_BYTES {
            return Err(RealtimeError::Invalid(vec![FieldError::new(
                "topics",
                "the topics, jobs and principal are too long together: the token would exceed \
                 6144 bytes; mint several tokens",
            )]));
        }
        Ok(Minted { token, claims })
    }

    /// The claims of a valid, unexpired, unrevoked token.
    pub async fn token_verify(&self, token: &str) -> Result<Claims, RealtimeError> {
        let claims = self.keys.verify(token, self.store.realtime_now_ms())?;
        let revoked = self.store.revocation_check(&claims).await?;
        if revoked {
            return Err(crate::TokenRejection::Revoked.into());
        }
        Ok(claims)
    }

    /// Publishes `data` (JSON text) to `topic`: stored, then fanned out. A failed fan-out is
    /// logged; streams still get the event from the history at the next one.
    pub async fn topic_publish(
        &self,
        tenant: &TenantId,
        topic: &TopicName,
        data: &str,
    ) -> Result<Event, RealtimeError> {
        if data.len() > self.settings.max_event_bytes {
            return Err(RealtimeError::TooLarge {
                limit: self.settings.max_event_bytes,
            });
        }
        let bounds = self.settings.history();
        let event = self
            .store
            .topic_publish(tenant, topic, data, bounds)
            .await?;
        crate::metrics::published();
        let signal = Signal::Event {
            tenant: tenant.clone(),
            topic: topic.clone(),
            event: event.clone(),
            sent_at_ms: palisade_core::Clock::now_ms(&palisade_core::SystemClock),
        };
        if let Err(e) = self.fanout.fanout_send(signal).await {
            tracing::warn!(error = %e, fanout = self.fanout.name(), "realtime: fan-out failed");
        }
        Ok(event)
    }

    /// Deletes `topic`'s history and closes its streams on every instance; false when the
    /// topic never had an event.
    pub async fn topic_delete(
        &self,
        tenant: &TenantId,
        topic: &TopicName,
    ) -> Result<bool, RealtimeError> {
        if !self.store.topic_delete(tenant, topic).await? {
            return Ok(false);
        }
        let signal = Signal::TopicDeleted {
            tenant: tenant.clone(),
            topic: topic.clone(),
        };
        self.fanout.fanout_send(signal).await?;
        Ok(true)
    }

    /// Records `rev` and closes every stream it covers, on every instance.
    pub async fn revoke(&self, rev: Revocation) -> Result<(), RealtimeError> {
        let keep = self.store.realtime_now_ms() + self.settings.token_max_ttl.as_millis() as i64;
        self.store.revocation_add(&rev, keep).await?;
        self.fanout
            .fanout_send(Signal::Revoked { revocation: rev })
            .await?;
        Ok(())
    }

    /// A topic stream for `claims`, resuming after `after`; 404 when the token does not
    /// cover the topic.
    pub async fn topic_stream(
        &self,
        claims: Claims,
        topic: TopicName,
        after: Option<u64>,
    ) -> Result<impl Stream<Item = Frame> + Send + 'static, RealtimeError> {
        if !claims.covers_topic(&topic) {
            return Err(RealtimeError::NotFound);
        }
        let slot = self.slot_take(&claims).await?;
        let tenant = claims.tenant.clone();
        let bounds = self.settings.history();
        let (feed, first) =
            TopicFeed::open(&self.hub, self.store.clone(), tenant, topic, bounds, after).await?;
        Ok(self.stream_in(slot, StreamKind::Topic, claims, feed, first))
    }

    /// A slot for one more stream of `claims`' principal, or 429 when the principal or the
    /// tenant holds as many as its cap across the cluster.
    async fn slot_take(&self, claims: &Claims) -> Result<crate::slots::SlotGuard, RealtimeError> {
        match self.slots.take(&claims.tenant, &claims.principal).await? {
            Ok(guard) => Ok(guard),
            Err(SlotTake::Full {
                scope,
                retry_after_ms,
            }) => Err(RealtimeError::TooManyStreams {
                scope,
                retry_after_ms,
            }),
            Err(SlotTake::Taken) => unreachable!("a taken slot comes with its guard"),
        }
    }

    /// The stream of `feed` for `claims`: `first`, then the feed, until the token expires,
    /// is revoked, the lifetime passes, it idles, or the server shuts down; 429 when a cap
    /// on open streams is reached.
    pub async fn stream<F: Feed>(
        &self,
        kind: StreamKind,
        claims: Claims,
        feed: F,
        first: Vec<Frame>,
    ) -> Result<impl Stream<Item = Frame> + Send + 'static, RealtimeError> {
        let slot = self.slot_take(&claims).await?;
        Ok(self.stream_in(slot, kind, claims, feed, first))
    }

    fn stream_in<F: Feed>(
        &self,
        slot: crate::slots::SlotGuard,
        kind: StreamKind,
        claims: Claims,
        feed: F,
        first: Vec<Frame>,
    ) -> impl Stream<Item = Frame> + Send + 'static {
        let guard = OpenStream::new(kind);
        let now = self.store.realtime_now_ms();
        let to_expiry = Duration::from_millis((claims.exp_ms - now).max(0) as u64);
        let lifetime = self.settings.max_stream_lifetime;
        let (ends_in, on_end) = if to_expiry <= lifetime {
            (to_expiry, Close::TokenExpired)
        } else {
            (lifetime, Close::MaxLifetime)
        };
        let life = Life {
            claims,
            revocations: self.hub.revocations(),
            resync: self.hub.resyncs(),
            ends_at: tokio::time::Instant::now() + ends_in,
            on_end,
            shutdown: self.shutdown.clone(),
            store: self.store.clone(),
            idle: self.settings.idle_timeout,
            _slot: Some(slot),
        };
        drive(feed, life, guard, first)
    }

    /// Resolves when the server starts shutting down (every stream then closes).
    pub fn shutting_down(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let t = self.shutdown.clone();
        async move { t.cancelled().await }
    }

    /// Ends every stream of this process with a `close` frame (`shutdown`).
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }

    /// The background tasks: pruning revocations kept past every token they could match, and
    /// renewing the leases of this process's stream slots.
    pub fn maintenance(&self) -> Vec<Arc<dyn Maintenance>> {
        vec![
            Arc::new(RevocationPrune {
                store: self.store.clone(),
            }),
            self.slots.maintenance(),
        ]
    }
}

/// Deletes revocations kept past their time, every minute.
#[derive(Debug)]
pub struct RevocationPrune {
    store: Arc<dyn RealtimeStore>,
}

#[async_trait::async_trait]
impl Maintenance for RevocationPrune {
    fn name(&self) -> &'static str {
        "realtime_revocation_prune"
    }

    fn interval(&self) -> Duration {
        Duration::from_secs(60)
    }

    async fn step(&self) -> Result<u64, StoreError> {
        self.store.revocation_prune().await
    }
}
