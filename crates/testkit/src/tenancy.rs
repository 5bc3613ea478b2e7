//! Conformance suite of the tenancy stores: each check runs on an empty store
//! ([`conformance!`](crate::conformance)`(tenancy, ..)`).

use palisade_core::{PageRequest, TenantId};
use palisade_tenancy::{ApiKey, ApiKeyToken, KeyRecord, KeyStatus, TenantCreate, TenantStore};
use std::sync::Arc;

fn req(ext: &str) -> TenantCreate {
    TenantCreate::new(ext, "Acme").unwrap()
}

/// A second create with one external id returns the first tenant and creates nothing.
pub async fn create_is_idempotent_by_external_id(store: Arc<dyn TenantStore>) {
    let s = &*store;
    let (a, created) = s
        .tenant_create(TenantId::generate(), &req("idem"), 1)
        .await
        .unwrap();
    assert!(created);
    let (b, created) = s
        .tenant_create(TenantId::generate(), &req("idem"), 2)
        .await
        .unwrap();
    assert!(
        !created,
        "second create with one external id must not create"
    );
    assert_eq!(a, b);
    assert_eq!(s.tenant_get(&a.id).await.unwrap(), Some(a));
    assert_eq!(s.tenant_get(&TenantId::generate()).await.unwrap(), None);
}

/// 16 concurrent creates with one external id make one tenant, and one caller created it.
pub async fn concurrent_creates_make_one_tenant(s: Arc<dyn TenantStore>) {
    let tasks = (0..16).map(|_| {
        let s = s.clone();
        tokio::spawn(async move { s.tenant_create(TenantId::generate(), &req("race"), 1).await })
    });
    let results = futures::future::join_all(tasks).await;
    let mut ids = Vec::new();
    let mut created = 0;
    for r in results {
        let (t, c) = r.unwrap().expect("concurrent create must not fail");
        ids.push(t.id);
        created += c as usize;
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "all callers see one tenant");
    assert_eq!(created, 1, "exactly one caller created it");
}

/// Pages by cursor list every tenant once, in order.
pub async fn list_pages_by_cursor(store: Arc<dyn TenantStore>) {
    let s = &*store;
    for i in 0..5 {
        s.tenant_create(TenantId::generate(), &req(&format!("page-{i}")), 1)
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut page = PageRequest::first(3);
    loop {
        let p = s.tenant_list(&page).await.unwrap();
        assert!(p.items.len() <= 3);
        seen.extend(p.items.iter().map(|t| t.id.clone()));
        match p.next {
            Some(n) => {
                page = PageRequest {
                    after: Some(n),
                    limit: 3,
                }
            }
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seen, sorted, "pages are ordered and never repeat");
    assert_eq!(seen.len(), 5, "every tenant is listed once");
}

fn record(tenant: &TenantId, tok: &ApiKeyToken) -> KeyRecord {
    KeyRecord {
        key: ApiKey {
            id: tok.id.clone(),
            tenant_id: tenant.clone(),
            name: "ci".into(),
            created_at_ms: 10,
            last_used_at_ms: None,
            revoked_at_ms: None,
        },
        secret_hash: tok.secret_hash(),
    }
}

/// Keys are found by id, listed and revoked only within their tenant, and touched.
pub async fn keys_are_scoped_and_revocable(store: Arc<dyn TenantStore>) {
    let s = &*store;
    let (a, _) = s
        .tenant_create(TenantId::generate(), &req("keys-a"), 1)
        .await
        .unwrap();
    let (b, _) = s
        .tenant_create(TenantId::generate(), &req("keys-b"), 1)
        .await
        .unwrap();
    let tok = ApiKeyToken::generate();
    s.key_create(&a.id, &record(&a.id, &tok)).await.unwrap();

    let found = s
        .key_find(&tok.id)
        .await
        .unwrap()
        .expect("key is found by id");
    assert_eq!(found.key.tenant_id, a.id);
    assert!(tok.matches(&found.secret_hash));

    assert_eq!(count(s, &a.id, KeyStatus::Active).await, 1);
    assert_eq!(
        count(s, &b.id, KeyStatus::All).await,
        0,
        "keys are scoped by tenant"
    );

    s.key_touch(&a.id, &tok.id, 50).await.unwrap();
    let touched = s.key_find(&tok.id).await.unwrap().unwrap();
    assert_eq!(touched.key.last_used_at_ms, Some(50));

    assert!(
        !s.key_revoke(&b.id, &tok.id, 60).await.unwrap(),
        "another tenant cannot revoke"
    );
    assert!(s
        .key_find(&tok.id)
        .await
        .unwrap()
        .unwrap()
        .key
        .revoked_at_ms
        .is_none());
    assert!(s.key_revoke(&a.id, &tok.id, 70).await.unwrap());
    assert_eq!(
        s.key_find(&tok.id)
            .await
            .unwrap()
            .unwrap()
            .key
            .revoked_at_ms,
        Some(70)
    );
    assert!(!s.key_revoke(&a.id, "key_missing", 80).await.unwrap());
    assert_eq!(count(s, &a.id, KeyStatus::Active).await, 0);
    assert_eq!(count(s, &a.id, KeyStatus::Revoked).await, 1);
    assert_eq!(count(s, &a.id, KeyStatus::All).await, 1);
}

async fn count(s: &dyn TenantStore, t: &TenantId, status: KeyStatus) -> usize {
    let page = s
        .key_list(t, status, &PageRequest::first(10))
        .await
        .unwrap();
    page.items.len()
}

/// A revocation, a rename and a deletion are each one change of the feed, in order, with
/// contiguous versions; a failed write records nothing; a deleted tenant's keys are gone.
pub async fn writes_that_stop_keys_are_in_the_change_feed(store: Arc<dyn TenantStore>) {
    use palisade_tenancy::topics;
    let s = &*store;
    let head = s.change_head().await.unwrap();
    let (a, _) = s
        .tenant_create(TenantId::generate(), &req("feed-a"), 1)
        .await
        .unwrap();
    let tok = ApiKeyToken::generate();
    s.key_create(&a.id, &record(&a.id, &tok)).await.unwrap();
    assert_eq!(
        s.change_head().await.unwrap(),
        head,
        "creations are not changes"
    );
    assert!(s.key_revoke(&a.id, &tok.id, 5).await.unwrap());
    assert!(!s.key_revoke(&a.id, "key_missing", 5).await.unwrap());
    let renamed = s.tenant_rename(&a.id, "Renamed", 6).await.unwrap().unwrap();
    assert_eq!(renamed.name, "Renamed");
    assert_eq!(s.tenant_get(&a.id).await.unwrap().unwrap().name, "Renamed");
    let nobody = TenantId::generate();
    assert!(s.tenant_rename(&nobody, "x", 6).await.unwrap().is_none());
    assert!(s.tenant_delete(&a.id, 7).await.unwrap());
    assert!(!s.tenant_delete(&a.id, 7).await.unwrap(), "deleted once");
    assert!(s.tenant_get(&a.id).await.unwrap().is_none());
    assert!(
        s.key_find(&tok.id).await.unwrap().is_none(),
        "its keys are gone"
    );

    let changes = s.change_read(head, 10).await.unwrap();
    let got: Vec<_> = changes
        .iter()
        .map(|c| (c.version, c.topic.as_str(), &c.tenant, c.subject.as_deref()))
        .collect();
    let want = vec![
        (head + 1, topics::KEY_REVOKED, &a.id, Some(tok.id.as_str())),
        (head + 2, topics::TENANT_CHANGED, &a.id, None),
        (head + 3, topics::TENANT_DELETED, &a.id, None),
    ];
    assert_eq!(got, want);
    assert_eq!(s.change_head().await.unwrap(), head + 3);
    assert_eq!(
        s.change_read(head + 1, 1).await.unwrap()[0].version,
        head + 2
    );
    s.change_prune(i64::MAX, 100).await.unwrap();
    let left = s.change_read(0, 10).await.unwrap();
    assert_eq!(left.len(), 1, "the newest change survives a prune");
    assert_eq!(
        s.change_head().await.unwrap(),
        head + 3,
        "versions are never reused"
    );
}
