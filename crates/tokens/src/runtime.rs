//! [`Tokens`]: issuers, verification (JWKS cache + lookup cache or store) and revocation, with audit and metrics.

use crate::cache::{Cached, Found, LookupCache};
use crate::error::TokenError;
use crate::jwks::{JwksCache, JwksFetch};
use crate::model::{Alg, Issuer, IssuerId, IssuerInput, IssuerSpec, Revocation, VerifiedToken};
use crate::settings::TokenSettings;
use crate::store::TokenStore;
use crate::verify::{subject_revoked, token_check, token_parse};
use palisade_core::feed_cache::{FeedSync, Ticket};
use palisade_core::{
    AuditEvent, AuditEventType, ChangeFeed, Page, PageRequest, SharedAuditSink, SharedClock,
    StoreError, SystemClock, TenantId,
};
use std::sync::Arc;

/// The token runtime: cheap to clone.
#[derive(Debug, Clone)]
pub struct Tokens {
    store: Arc<dyn TokenStore>,
    jwks: Arc<JwksCache>,
    cache: Arc<LookupCache>,
    settings: Arc<TokenSettings>,
    audit: SharedAuditSink,
    clock: SharedClock,
}

fn counted(outcome: &'static str) {
    metrics::counter!("palisade_tokens_verifies_total", "outcome" => outcome).increment(1);
}

fn cache_counted(result: &'static str) {
    metrics::counter!("palisade_tokens_cache_total", "result" => result).increment(1);
}

fn conflict(e: StoreError) -> TokenError {
    match e.is_conflict() {
        true => TokenError::IssuerExists,
        false => TokenError::Store(e),
    }
}

impl Tokens {
    /// The runtime over `store`, fetching JWKS documents with `fetcher`, on the system clock.
    pub fn new(
        store: Arc<dyn TokenStore>,
        fetcher: Arc<dyn JwksFetch>,
        settings: TokenSettings,
        audit: SharedAuditSink,
    ) -> Self {
        Self::with_clock(store, fetcher, settings, audit, SystemClock::shared())
    }

    /// As [`Self::new`], with the JWKS cache timed by `clock` (tests drive a manual one).
    pub fn with_clock(
        store: Arc<dyn TokenStore>,
        fetcher: Arc<dyn JwksFetch>,
        settings: TokenSettings,
        audit: SharedAuditSink,
        clock: SharedClock,
    ) -> Self {
        Self {
            jwks: Arc::new(JwksCache::new(fetcher, clock.clone(), &settings)),
            cache: Arc::new(LookupCache::new(settings.cache_entries)),
            store,
            settings: Arc::new(settings),
            audit,
            clock,
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn TokenStore> {
        &self.store
    }

    /// The lookup cache.
    pub fn cache(&self) -> &Arc<LookupCache> {
        &self.cache
    }

    /// The task that keeps the lookup cache following the store's change feed (until it
    /// runs, every verify reads the store).
    pub fn cache_sync(&self) -> FeedSync {
        let feed: Arc<dyn ChangeFeed> = self.store.clone();
        FeedSync::new("tokens_cache_sync", feed, self.cache.clone())
    }

    /// The settings.
    pub fn settings(&self) -> &TokenSettings {
        &self.settings
    }

    /// Creates an issuer from `input` (every bad field named).
    pub async fn issuer_create(
        &self,
        tenant: &TenantId,
        input: IssuerInput,
    ) -> Result<Issuer, TokenError> {
        let spec = IssuerSpec::parse(input).map_err(TokenError::Invalid)?;
        let now = self.clock.now_ms();
        let issuer = Issuer {
            id: IssuerId::generate(),
            spec,
            created_at_ms: now,
            updated_at_ms: now,
        };
        self.store
            .issuer_create(tenant, &issuer)
            .await
            .map_err(conflict)?;
        self.cache.evict_issuers(tenant);
        Ok(issuer)
    }

    /// The tenant's issuer `id` (an unknown or malformed id is [`TokenError::IssuerNotFound`]).
    pub async fn issuer_get(&self, tenant: &TenantId, id: &str) -> Result<Issuer, TokenError> {
        let Some(id) = IssuerId::parse(id) else {
            return Err(TokenError::IssuerNotFound);
        };
        self.store
            .issuer_get(tenant, &id)
            .await?
            .ok_or(TokenError::IssuerNotFound)
    }

    /// The tenant's issuers, a page at a time.
    pub async fn issuer_list(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<Issuer>, TokenError> {
        Ok(self.store.issuer_list(tenant, page).await?)
    }

    /// Replaces the settings of the tenant's issuer `id`.
    pub async fn issuer_update(
        &self,
        tenant: &TenantId,
        id: &str,
        input: IssuerInput,
    ) -> Result<Issuer, TokenError> {
        let mut issuer = self.issuer_get(tenant, id).await?;
        issuer.spec = IssuerSpec::parse(input).map_err(TokenError::Invalid)?;
        issuer.updated_at_ms = self.clock.now_ms();
        match self
            .store
            .issuer_update(tenant, &issuer)
            .await
            .map_err(conflict)?
        {
            true => {
                self.cache.evict_issuers(tenant);
                Ok(issuer)
            }
            false => Err(TokenError::IssuerNotFound),
        }
    }

    /// Deletes the tenant's issuer `id`: its tokens are refused from now on.
    pub async fn issuer_delete(&self, tenant: &TenantId, id: &str) -> Result<(), TokenError> {
        let Some(id) = IssuerId::parse(id) else {
            return Err(TokenError::IssuerNotFound);
        };
        match self.store.issuer_delete(tenant, &id).await? {
            true => {
                self.cache.evict_issuers(tenant);
                Ok(())
            }
            false => Err(TokenError::IssuerNotFound),
        }
    }

    /// Verifies `token` for `tenant`: shape and size, its issuer (by `iss`), the algorithm
    /// (allowed by the issuer, of the key's family), the key (by `kid`, from the issuer's
    /// cached JWKS), signature, `iss`, `aud`, `exp`, `nbf`, then revocations (by `jti`, by
    /// subject). The issuer and both revocations come from the lookup cache while it follows
    /// the change feed, else from one store read.
    pub async fn token_verify(
        &self,
        tenant: &TenantId,
        token: &str,
    ) -> Result<VerifiedToken, TokenError> {
        let out = self.verify_inner(tenant, token).await;
        match &out {
            Ok(_) => counted("valid"),
            Err(e) => counted(e.code()),
        }
        out
    }

    async fn verify_inner(
        &self,
        tenant: &TenantId,
        token: &str,
    ) -> Result<VerifiedToken, TokenError> {
        let u = token_parse(token, self.settings.max_token_bytes)?;
        let alg = Alg::parse(&u.alg).ok_or(TokenError::AlgNotAllowed)?;
        let iss = u.iss.as_deref().ok_or(TokenError::UnknownIssuer)?;
        let (jti, sub) = (u.jti.as_deref(), u.sub.as_deref());
        let (found, fill) = self.lookup(tenant, iss, jti, sub).await?;
        let spec = &found.issuer.spec;
        if !spec.algorithms.contains(&alg) {
            return Err(TokenError::AlgNotAllowed);
        }
        let (set, i) = self
            .jwks
            .key(tenant, &spec.jwks_url, u.kid.as_deref(), alg)
            .await?;
        let leeway = spec
            .leeway_secs
            .map_or(self.settings.default_leeway.as_secs(), u64::from);
        let claims = token_check(token, &set.keys[i].decoding, alg, spec, leeway)?;
        if let Some(ticket) = fill {
            let exp_ms = claims.get("exp").and_then(serde_json::Value::as_f64);
            let exp_ms = exp_ms.map_or(0, |e| (e * 1000.0) as i64);
            let key = (u.jti.clone(), u.sub.clone());
            let now = self.clock.now_ms();
            self.cache.insert(ticket, tenant, key, &found, exp_ms, now);
        }
        if found.revoked.jti {
            return Err(TokenError::Revoked);
        }
        if found
            .revoked
            .subject_not_before_ms
            .is_some_and(|nb| subject_revoked(&claims, nb))
        {
            return Err(TokenError::Revoked);
        }
        Ok(VerifiedToken {
            claims,
            issuer: found.issuer.id.clone(),
            kid: set.keys[i].kid.clone(),
            alg,
        })
    }

    /// The token's issuer and revocations: from the cache, else from the store with the
    /// ticket to cache them under once the token passed its checks.
    async fn lookup(
        &self,
        tenant: &TenantId,
        iss: &str,
        jti: Option<&str>,
        sub: Option<&str>,
    ) -> Result<(Found, Option<Ticket>), TokenError> {
        match self.cache.get(tenant, iss, jti, sub, self.clock.now_ms()) {
            Cached::Hit(f) => {
                cache_counted("hit");
                return Ok((f, None));
            }
            Cached::Miss => cache_counted("miss"),
            Cached::Stale => cache_counted("stale"),
        }
        let ticket = self.cache.ticket();
        let found = self
            .store
            .token_lookup(tenant, iss, jti, sub)
            .await?
            .ok_or(TokenError::UnknownIssuer)?;
        Ok((found.into(), Some(ticket)))
    }

    /// Records a revocation (effective on this instance at once, on every other within
    /// [`palisade_core::feed_cache::MAX_STALENESS`]: their lookup caches follow the change
    /// feed) and an audit event `token.revoked` naming its kind, never the jti or subject.
    pub async fn revocation_create(
        &self,
        tenant: &TenantId,
        r: &Revocation,
        actor: Option<String>,
    ) -> Result<(), TokenError> {
        let (field, value) = match r {
            Revocation::Jti { jti, .. } => ("jti", jti),
            Revocation::Subject { subject, .. } => ("subject", subject),
        };
        crate::model::name_check(value, field).map_err(|e| TokenError::Invalid(vec![e]))?;
        self.store.revocation_put(tenant, r).await?;
        match r {
            Revocation::Jti { jti, .. } => self.cache.evict_jti(tenant, jti),
            Revocation::Subject { subject, .. } => self.cache.evict_subject(tenant, subject),
        }
        let mut event = AuditEvent::new(AuditEventType::TokenRevoked)
            .tenant(tenant)
            .detail(serde_json::json!({ "by": field }));
        if let Some(a) = actor {
            event = event.actor(a);
        }
        self.audit.audit_record(event);
        Ok(())
    }

    /// A revocation of the whole subject as of now (store time is the revocation's).
    pub fn subject_revocation_now(&self, subject: String) -> Revocation {
        Revocation::Subject {
            subject,
            not_before_ms: self.clock.now_ms(),
        }
    }
}
