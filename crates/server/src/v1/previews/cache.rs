//! The in-memory preview cache: per tenant and URL, with a TTL and a bound on entries.

use palisade_core::TenantId;
use palisade_fetch::Preview;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Built previews by (tenant, URL as asked); a tenant never reads another tenant's entry.
#[derive(Debug)]
pub struct PreviewCache {
    ttl: Duration,
    max: usize,
    entries: Mutex<HashMap<(TenantId, String), (Instant, Preview)>>,
}

impl PreviewCache {
    /// A cache keeping each preview for `ttl` (zero: nothing is kept), at most `max` in all.
    pub fn new(ttl: Duration, max: usize) -> Self {
        Self {
            ttl,
            max: max.max(1),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The tenant's live preview of `url`, if any.
    pub fn preview_get(&self, tenant: &TenantId, url: &str) -> Option<Preview> {
        let map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let (expires, p) = map.get(&(tenant.clone(), url.to_owned()))?;
        (*expires > Instant::now()).then(|| p.clone())
    }

    /// Keeps the tenant's preview of `url` for the cache's TTL, or less when the page's
    /// `Cache-Control` says so (`no-store`: not at all); when full, drops expired entries, then
    /// the one closest to expiry.
    pub fn preview_put(&self, tenant: &TenantId, url: &str, preview: Preview) {
        let ttl = preview.cache_for.map_or(self.ttl, |c| c.min(self.ttl));
        if ttl.is_zero() {
            return;
        }
        let now = Instant::now();
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let key = (tenant.clone(), url.to_owned());
        if map.len() >= self.max && !map.contains_key(&key) {
            map.retain(|_, (exp, _)| *exp > now);
            if map.len() >= self.max {
                let oldest = map
                    .iter()
                    .min_by_key(|(_, (e, _))| *e)
                    .map(|(k, _)| k.clone());
                oldest.map(|k| map.remove(&k));
            }
        }
        map.insert(key, (now + ttl, preview));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(title: &str) -> Preview {
        Preview {
            title: Some(title.into()),
            ..Preview::default()
        }
    }

    #[test]
    fn scoped_by_tenant_and_bounded() {
        let c = PreviewCache::new(Duration::from_secs(60), 2);
        let a = TenantId::parse("a").unwrap();
        let b = TenantId::parse("b").unwrap();
        c.preview_put(&a, "u1", p("1"));
        assert_eq!(c.preview_get(&a, "u1"), Some(p("1")));
        assert_eq!(c.preview_get(&b, "u1"), None, "another tenant's entry");
        c.preview_put(&a, "u2", p("2"));
        c.preview_put(&a, "u3", p("3"));
        assert_eq!(c.entries.lock().unwrap().len(), 2, "bounded");
        assert_eq!(c.preview_get(&a, "u1"), None, "the oldest was evicted");
        assert_eq!(c.preview_get(&a, "u3"), Some(p("3")));
    }

    #[test]
    fn the_pages_cache_control_shortens_the_ttl_never_lengthens_it() {
        let c = PreviewCache::new(Duration::from_secs(60), 10);
        let a = TenantId::parse("a").unwrap();
        let with = |title: &str, secs: u64| Preview {
            cache_for: Some(Duration::from_secs(secs)),
            ..p(title)
        };
        c.preview_put(&a, "no-store", with("n", 0));
        assert_eq!(c.preview_get(&a, "no-store"), None, "no-store is not kept");
        c.preview_put(&a, "short", with("s", 5));
        c.preview_put(&a, "long", with("l", 86_400));
        let map = c.entries.lock().unwrap();
        let left = |u: &str| map[&(a.clone(), u.to_owned())].0 - Instant::now();
        assert!(left("short") <= Duration::from_secs(5));
        assert!(
            left("long") <= Duration::from_secs(60),
            "capped at the cache's TTL"
        );
        assert!(left("long") > Duration::from_secs(50));
    }

    #[test]
    fn zero_ttl_keeps_nothing() {
        let c = PreviewCache::new(Duration::ZERO, 10);
        let a = TenantId::parse("a").unwrap();
        c.preview_put(&a, "u", p("x"));
        assert_eq!(c.preview_get(&a, "u"), None);
    }
}
