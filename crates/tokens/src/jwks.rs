//! JWKS documents: parsing (bounded, per-key tolerant) and the per-tenant cache with TTL, cooldown and stale bound.
//!
//! A document is fetched through [`JwksFetch`] (the server's is the safe-fetch client),
//! parsed by [`jwks_parse`] and cached per tenant and URL for `tokens.jwks_ttl`. A key lookup
//! that misses (an unknown `kid`), an expired document and a failed fetch all lead to a
//! refetch, but never more than one fetch per `tokens.unknown_kid_cooldown` per document:
//! concurrent lookups queue on the document's one fetch lock and see what the first fetched.
//! While fetches fail, the last keys are served until `jwks_ttl + jwks_stale_max` after they
//! were fetched, never later.

use crate::error::TokenError;
use crate::model::{Alg, KeyFamily};
use crate::settings::TokenSettings;
use jsonwebtoken::DecodingKey;
use palisade_core::{SharedClock, TenantId};
use parking_lot::RwLock;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;

/// The most keys a JWKS may hold.
pub const MAX_KEYS: usize = 100;

/// One usable verification key of a JWKS.
#[derive(Clone)]
pub struct Key {
    /// Its `kid`.
    pub kid: Option<String>,
    /// Its type (and curve).
    pub family: KeyFamily,
    /// Its `alg`, when the JWK names one (a token's alg must then be exactly it).
    pub alg: Option<String>,
    /// The key.
    pub decoding: DecodingKey,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("family", &self.family)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl Key {
    /// True when a token signed with `alg` may be verified with this key.
    pub fn fits(&self, alg: Alg) -> bool {
        self.family == alg.family() && self.alg.as_deref().is_none_or(|a| a == alg.as_str())
        // ct-ok: algorithm names are public
    }
}

#[derive(Deserialize)]
struct Doc {
    keys: Vec<serde_json::Value>,
}

/// The usable keys of a JWKS document: `{"keys": [...]}` with at most [`MAX_KEYS`] keys. A
/// key that is not a signature key Palisade verifies with (`oct`, an unknown `kty` or curve,
/// `use` other than `sig`, bad components) is skipped; a document that is not JSON, not that
/// shape, or has no usable key is [`TokenError::JwksInvalid`].
pub fn jwks_parse(body: &[u8]) -> Result<Vec<Key>, TokenError> {
    let doc: Doc = serde_json::from_slice(body).map_err(|_| TokenError::JwksInvalid)?;
    if doc.keys.len() > MAX_KEYS {
        return Err(TokenError::JwksInvalid);
    }
    let keys: Vec<Key> = doc.keys.iter().filter_map(key_parse).collect();
    match keys.is_empty() {
        true => Err(TokenError::JwksInvalid),
        false => Ok(keys),
    }
}

fn key_parse(v: &serde_json::Value) -> Option<Key> {
    let o = v.as_object()?;
    let text = |k: &str| o.get(k).and_then(|x| x.as_str());
    if o.get("use").is_some_and(|u| u.as_str() != Some("sig")) {
        return None;
    }
    let family = match (text("kty")?, text("crv")) {
        ("RSA", _) => KeyFamily::Rsa,
        ("EC", Some("P-256")) => KeyFamily::Ec("P-256"),
        ("EC", Some("P-384")) => KeyFamily::Ec("P-384"),
        ("OKP", Some("Ed25519")) => KeyFamily::Okp,
        _ => return None,
    };
    let kid = match o.get("kid") {
        None => None,
        Some(k) => Some(k.as_str()?.to_owned()),
    };
    let alg = match o.get("alg") {
        None => None,
        Some(a) => Some(a.as_str()?.to_owned()),
    };
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(v.clone()).ok()?;
    let decoding = DecodingKey::from_jwk(&jwk).ok()?;
    Some(Key {
        kid,
        family,
        alg,
        decoding,
    })
}

/// A fetched document's keys and when they were fetched.
#[derive(Debug)]
pub struct KeySet {
    /// The keys.
    pub keys: Vec<Key>,
    /// When they were fetched (ms, the cache's clock).
    pub fetched_at_ms: i64,
}

/// Which key of a set verifies a token.
enum Pick {
    Found(usize),
    /// The `kid` names a key of another family or algorithm (confusion).
    Mismatch,
    Missing,
}

impl KeySet {
    fn pick(&self, kid: Option<&str>, alg: Alg) -> Pick {
        match kid {
            Some(kid) => {
                let mut named = self
                    .keys
                    .iter()
                    .enumerate()
                    .filter(|(_, k)| k.kid.as_deref() == Some(kid)); // ct-ok: key ids are public
                let mut seen = false;
                for (i, k) in named.by_ref() {
                    if k.fits(alg) {
                        return Pick::Found(i);
                    }
                    seen = true;
                }
                if seen {
                    Pick::Mismatch
                } else {
                    Pick::Missing
                }
            }
            None => {
                let mut fit = self.keys.iter().enumerate().filter(|(_, k)| k.fits(alg));
                match (fit.next(), fit.next()) {
                    (Some((i, _)), None) => Pick::Found(i),
                    _ => Pick::Missing,
                }
            }
        }
    }
}

/// How a JWKS document is fetched: the body, at most `max_bytes`.
#[async_trait::async_trait]
pub trait JwksFetch: Send + Sync + std::fmt::Debug {
    /// The document at `url`, fetched on behalf of `tenant`. A fetch that fails is
    /// [`TokenError::JwksUnavailable`]; a body over `max_bytes` is [`TokenError::JwksInvalid`].
    async fn jwks_fetch(
        &self,
        tenant: &TenantId,
        url: &str,
        max_bytes: u64,
    ) -> Result<bytes::Bytes, TokenError>;
}

/// [`JwksFetch`] through the safe-fetch client: the tenant's allowlist applies, every address
/// is checked, the body is capped.
pub struct SafeFetchJwks(pub palisade_fetch::Fetcher);

impl std::fmt::Debug for SafeFetchJwks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SafeFetchJwks")
    }
}

#[async_trait::async_trait]
impl JwksFetch for SafeFetchJwks {
    async fn jwks_fetch(
        &self,
        tenant: &TenantId,
        url: &str,
        max_bytes: u64,
    ) -> Result<bytes::Bytes, TokenError> {
        let mut req = palisade_fetch::FetchRequest::get(url)
            .for_tenant(tenant.clone())
            .on_behalf("jwks", None);
        req.max_body = Some(max_bytes);
        match self.0.fetch(req).await {
            Ok(r) if r.status.is_success() => Ok(r.body),
            Ok(r) => {
                tracing::warn!(
                    status = r.status.as_u16(),
                    "JWKS fetch answered an error status"
                );
                Err(TokenError::JwksUnavailable)
            }
            Err(palisade_fetch::FetchError::TooLarge { .. }) => Err(TokenError::JwksInvalid),
            Err(e) => {
                tracing::warn!(code = e.code(), "JWKS fetch failed");
                Err(TokenError::JwksUnavailable)
            }
        }
    }
}

/// The last fetch of a document: when, and its error if it failed.
#[derive(Debug, Default)]
struct Attempt {
    at_ms: Option<i64>,
    error: Option<TokenError>,
}

#[derive(Debug)]
struct Entry {
    keys: RwLock<Option<Arc<KeySet>>>,
    fetch: tokio::sync::Mutex<Attempt>,
    /// When the last fetch started (ms; `i64::MIN` before any): read without the fetch lock,
    /// so verifies within the cooldown never queue on it.
    last_attempt_ms: std::sync::atomic::AtomicI64,
}

impl Default for Entry {
    fn default() -> Self {
        Self {
            keys: RwLock::default(),
            fetch: tokio::sync::Mutex::default(),
            last_attempt_ms: std::sync::atomic::AtomicI64::new(i64::MIN),
        }
    }
}

/// The JWKS cache: one entry per tenant and URL, bounded by `tokens.jwks_cache_entries`.
#[derive(Debug)]
pub struct JwksCache {
    fetcher: Arc<dyn JwksFetch>,
    clock: SharedClock,
    ttl_ms: i64,
    cooldown_ms: i64,
    stale_ms: i64,
    max_bytes: u64,
    max_entries: usize,
    entries: RwLock<HashMap<(TenantId, String), Arc<Entry>>>,
}

fn fetched(result: &'static str) {
    metrics::counter!("palisade_tokens_jwks_fetches_total", "result" => result).increment(1);
}

impl JwksCache {
    /// A cache fetching with `fetcher`, timed by `clock`, under `settings`.
    pub fn new(fetcher: Arc<dyn JwksFetch>, clock: SharedClock, settings: &TokenSettings) -> Self {
        Self {
            fetcher,
            clock,
            ttl_ms: settings.jwks_ttl.as_millis() as i64,
            cooldown_ms: settings.unknown_kid_cooldown.as_millis() as i64,
            stale_ms: settings.jwks_stale_max.as_millis() as i64,
            max_bytes: settings.jwks_max_bytes,
            max_entries: settings.jwks_cache_entries,
            entries: RwLock::default(),
        }
    }

    fn entry(&self, tenant: &TenantId, url: &str) -> Arc<Entry> {
        let key = (tenant.clone(), url.to_owned());
        if let Some(e) = self.entries.read().get(&key) {
            return e.clone();
        }
        let mut all = self.entries.write();
        if all.len() >= self.max_entries && !all.contains_key(&key) {
            // Bounded: drop one arbitrary document (it is fetched again when next needed).
            if let Some(k) = all.keys().next().cloned() {
                all.remove(&k);
            }
        }
        all.entry(key).or_default().clone()
    }

    /// The key of `kid` (or the one usable key when `kid` is `None`) for a token signed with
    /// `alg`, from the document at `url` of `tenant`: the set and the key's index in it.
    pub async fn key(
        &self,
        tenant: &TenantId,
        url: &str,
        kid: Option<&str>,
        alg: Alg,
    ) -> Result<(Arc<KeySet>, usize), TokenError> {
        let entry = self.entry(tenant, url);
        let current = entry.keys.read().clone();
        if let Some(set) = &current {
            // Fast path, no lock: fresh keys; or, while no fetch may start (cooldown), the
            // keys within the stale bound, exactly as the slow path would answer.
            let now = self.clock.now_ms();
            let age = now - set.fetched_at_ms;
            let last = entry
                .last_attempt_ms
                .load(std::sync::atomic::Ordering::Acquire);
            let cooling = now.saturating_sub(last) < self.cooldown_ms;
            if age < self.ttl_ms || (cooling && age < self.ttl_ms + self.stale_ms) {
                match set.pick(kid, alg) {
                    Pick::Found(i) => return Ok((set.clone(), i)),
                    Pick::Mismatch => return Err(TokenError::AlgNotAllowed),
                    Pick::Missing if cooling => return Err(TokenError::UnknownKey),
                    Pick::Missing => {}
                }
            }
        }
        // Slow path: one fetch at a time per document; a waiter sees what the fetch before it got.
        let mut attempt = entry.fetch.lock().await;
        let now = self.clock.now_ms();
        let current = entry.keys.read().clone();
        if let Some(set) = &current {
            if now - set.fetched_at_ms < self.ttl_ms {
                match set.pick(kid, alg) {
                    Pick::Found(i) => return Ok((set.clone(), i)),
                    Pick::Mismatch => return Err(TokenError::AlgNotAllowed),
                    Pick::Missing => {}
                }
            }
        }
        if attempt.at_ms.is_none_or(|at| now - at >= self.cooldown_ms) {
            attempt.at_ms = Some(now);
            entry
                .last_attempt_ms
                .store(now, std::sync::atomic::Ordering::Release);
            let got = self
                .fetcher
                .jwks_fetch(tenant, url, self.max_bytes)
                .await
                .and_then(|body| jwks_parse(&body));
            match got {
                Ok(keys) => {
                    fetched("ok");
                    attempt.error = None;
                    let set = Arc::new(KeySet {
                        keys,
                        fetched_at_ms: self.clock.now_ms(),
                    });
                    *entry.keys.write() = Some(set.clone());
                    return match set.pick(kid, alg) {
                        Pick::Found(i) => Ok((set, i)),
                        Pick::Mismatch => Err(TokenError::AlgNotAllowed),
                        Pick::Missing => Err(TokenError::UnknownKey),
                    };
                }
                Err(e) => {
                    fetched(match e {
                        TokenError::JwksInvalid => "invalid",
                        _ => "unavailable",
                    });
                    attempt.error = Some(e);
                }
            }
        }
        // No fetch now (cooldown) or it failed: the last keys, within the stale bound.
        match current {
            Some(set) if now - set.fetched_at_ms < self.ttl_ms + self.stale_ms => {
                match set.pick(kid, alg) {
                    Pick::Found(i) => Ok((set, i)),
                    Pick::Mismatch => Err(TokenError::AlgNotAllowed),
                    Pick::Missing => Err(TokenError::UnknownKey),
                }
            }
            _ => Err(attempt.error.clone().unwrap_or(TokenError::JwksUnavailable)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_that_are_not_a_jwks_are_invalid() {
        for bad in [
            &b"not json"[..],
            b"{}",
            b"[]",
            b"{\"keys\": 3}",
            b"{\"keys\": []}",
            b"{\"keys\": [{\"kty\": \"oct\", \"k\": \"c2VjcmV0\"}]}",
            b"{\"keys\": [{\"kty\": \"EC\", \"crv\": \"P-256\", \"x\": 1}]}",
        ] {
            assert!(
                matches!(jwks_parse(bad), Err(TokenError::JwksInvalid)),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let many = format!(
            "{{\"keys\": [{}]}}",
            vec!["{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}"; MAX_KEYS + 1].join(",")
        );
        assert!(matches!(
            jwks_parse(many.as_bytes()),
            Err(TokenError::JwksInvalid)
        ));
    }

    #[test]
    fn unusable_keys_are_skipped_and_usable_ones_kept() {
        let doc = br#"{"keys": [
            {"kty": "oct", "k": "c2VjcmV0", "kid": "h"},
            {"kty": "OKP", "crv": "X25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
            {"kty": "OKP", "crv": "Ed25519", "use": "enc", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
            {"kty": "OKP", "crv": "Ed25519", "kid": "e", "alg": "EdDSA", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
        ]}"#;
        let keys = jwks_parse(doc).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].kid.as_deref(), Some("e"));
        assert!(keys[0].fits(Alg::EdDSA));
        assert!(!keys[0].fits(Alg::ES256));
        assert!(!keys[0].fits(Alg::RS256));
    }
}
