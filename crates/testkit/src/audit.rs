//! Conformance checks of the audit stores: one `pub async fn` per check, each on a fresh store.

use palisade_audit::{
    AuditCursor, AuditEvent, AuditEventType, AuditQuery, AuditRecord, AuditStore,
};
use palisade_core::TenantId;
use serde_json::json;

/// A record of `kind` for `tenant` at `at_ms`, through the model's own constructor.
fn rec(tenant: Option<&TenantId>, kind: AuditEventType, at_ms: i64) -> AuditRecord {
    let mut e = AuditEvent::new(kind)
        .at(at_ms)
        .actor("key_abc")
        .detail(json!({"n": at_ms}));
    e.tenant = tenant.cloned();
    e.request_id = Some(format!("req_{at_ms}"));
    AuditRecord::from_event(e)
}

fn query(limit: u32) -> AuditQuery {
    AuditQuery {
        limit,
        ..Default::default()
    }
}

/// Newest first: by `at_ms` descending, then `id` descending.
fn newest_first(mut v: Vec<AuditRecord>) -> Vec<AuditRecord> {
    v.sort_by(|a, b| (b.at_ms, &b.id).cmp(&(a.at_ms, &a.id)));
    v
}

/// Every page of `tenant`'s records with `q`'s filters, following `next`.
async fn all_pages(s: &dyn AuditStore, tenant: &TenantId, mut q: AuditQuery) -> Vec<AuditRecord> {
    let mut seen = Vec::new();
    for _ in 0..100 {
        let page = s.audit_list(tenant, &q).await.unwrap();
        assert!(
            page.items.len() <= q.limit as usize,
            "a page holds at most limit"
        );
        seen.extend(page.items);
        match page.next {
            Some(n) => q.after = Some(AuditCursor::decode(&n).expect("next is a valid cursor")),
            None => return seen,
        }
    }
    panic!("pagination did not end");
}

/// Appended records (in one batch and alone) list back newest first, every field intact; an
/// empty batch is accepted.
pub async fn append_and_list_back_in_order(s: &dyn AuditStore) {
    let t = TenantId::generate();
    let batch: Vec<_> = [2_000, 1_000, 3_000]
        .map(|at| rec(Some(&t), AuditEventType::KeyCreated, at))
        .into();
    s.audit_append(&batch).await.unwrap();
    let alone = rec(Some(&t), AuditEventType::AuthFailure, 4_000);
    s.audit_append(std::slice::from_ref(&alone)).await.unwrap();
    s.audit_append(&[]).await.unwrap();
    let page = s.audit_list(&t, &query(50)).await.unwrap();
    let mut want = batch.clone();
    want.push(alone);
    assert_eq!(
        page.items,
        newest_first(want),
        "every field round-trips, newest first"
    );
    assert_eq!(page.next, None);
}

/// Pages follow the cursor without gaps or repeats, also across records of the same time.
pub async fn cursor_pagination(s: &dyn AuditStore) {
    let t = TenantId::generate();
    let recs: Vec<_> = [10, 20, 20, 20, 30, 40, 40]
        .into_iter()
        .map(|at| rec(Some(&t), AuditEventType::ConfigChanged, at))
        .collect();
    s.audit_append(&recs).await.unwrap();
    let first = s.audit_list(&t, &query(3)).await.unwrap();
    assert_eq!(first.items.len(), 3);
    assert!(
        first.next.is_some(),
        "a full page with more left has a cursor"
    );
    let seen = all_pages(s, &t, query(3)).await;
    assert_eq!(
        seen,
        newest_first(recs),
        "pages are ordered and never repeat"
    );
    let exact = all_pages(s, &t, query(7)).await;
    assert_eq!(
        exact.len(),
        7,
        "a last page that is exactly full ends the listing"
    );
}

/// `kind` keeps only records of that type.
pub async fn filter_by_type(s: &dyn AuditStore) {
    let t = TenantId::generate();
    let recs = vec![
        rec(Some(&t), AuditEventType::KeyCreated, 1),
        rec(Some(&t), AuditEventType::KeyRevoked, 2),
        rec(Some(&t), AuditEventType::KeyCreated, 3),
    ];
    s.audit_append(&recs).await.unwrap();
    let q = AuditQuery {
        kind: Some(AuditEventType::KeyCreated),
        ..query(50)
    };
    let got = s.audit_list(&t, &q).await.unwrap().items;
    assert_eq!(got, vec![recs[2].clone(), recs[0].clone()]);
    let none = AuditQuery {
        kind: Some(AuditEventType::OtpLockout),
        ..query(50)
    };
    assert!(s.audit_list(&t, &none).await.unwrap().items.is_empty());
}

/// `since_ms` is inclusive, `until_ms` exclusive, and they combine with paging.
pub async fn filter_by_time(s: &dyn AuditStore) {
    let t = TenantId::generate();
    let recs: Vec<_> = (1..=6)
        .map(|i| rec(Some(&t), AuditEventType::AuthFailure, i * 100))
        .collect();
    s.audit_append(&recs).await.unwrap();
    let q = AuditQuery {
        since_ms: Some(200),
        until_ms: Some(500),
        ..query(2)
    };
    let times: Vec<i64> = all_pages(s, &t, q).await.iter().map(|r| r.at_ms).collect();
    assert_eq!(times, [400, 300, 200]);
    let since = AuditQuery {
        since_ms: Some(600),
        ..query(50)
    };
    assert_eq!(s.audit_list(&t, &since).await.unwrap().items.len(), 1);
}

/// A tenant lists only its own records: never another tenant's, never those without a tenant.
pub async fn tenant_isolation(s: &dyn AuditStore) {
    let (a, b) = (TenantId::generate(), TenantId::generate());
    let recs = vec![
        rec(Some(&a), AuditEventType::KeyCreated, 1),
        rec(Some(&b), AuditEventType::KeyCreated, 2),
        rec(None, AuditEventType::AuthFailure, 3),
    ];
    s.audit_append(&recs).await.unwrap();
    let only = |t: &TenantId, want: &AuditRecord| {
        let (t, want) = (t.clone(), want.clone());
        async move {
            let got = s.audit_list(&t, &query(50)).await.unwrap().items;
            assert_eq!(got, vec![want], "a tenant sees exactly its own records");
        }
    };
    only(&a, &recs[0]).await;
    only(&b, &recs[1]).await;
    let stranger = s
        .audit_list(&TenantId::generate(), &query(50))
        .await
        .unwrap();
    assert!(stranger.items.is_empty());
}

/// The operator lists every tenant's records and those without a tenant, or one tenant's.
pub async fn operator_list_across_tenants(s: &dyn AuditStore) {
    let (a, b) = (TenantId::generate(), TenantId::generate());
    let recs = vec![
        rec(Some(&a), AuditEventType::KeyCreated, 1),
        rec(Some(&b), AuditEventType::KeyRevoked, 2),
        rec(None, AuditEventType::AuthFailure, 3),
    ];
    s.audit_append(&recs).await.unwrap();
    let all = s.audit_list_all(None, &query(50)).await.unwrap().items;
    assert_eq!(all, newest_first(recs.clone()));
    let one = s.audit_list_all(Some(&b), &query(50)).await.unwrap().items;
    assert_eq!(one, vec![recs[1].clone()]);
    let q = AuditQuery {
        kind: Some(AuditEventType::AuthFailure),
        ..query(1)
    };
    let page = s.audit_list_all(None, &q).await.unwrap();
    assert_eq!((page.items, page.next), (vec![recs[2].clone()], None));
}

/// Pruning deletes only records older than the bound, at most `batch` per call.
pub async fn prune_deletes_only_older(s: &dyn AuditStore) {
    let t = TenantId::generate();
    let recs: Vec<_> = [100, 150, 199, 200, 300]
        .into_iter()
        .map(|at| rec(Some(&t), AuditEventType::AuthFailure, at))
        .collect();
    s.audit_append(&recs).await.unwrap();
    assert_eq!(s.audit_prune(200, 2).await.unwrap(), 2, "at most batch");
    assert_eq!(s.audit_prune(200, 10).await.unwrap(), 1);
    assert_eq!(s.audit_prune(200, 10).await.unwrap(), 0);
    let left: Vec<i64> = s
        .audit_list(&t, &query(50))
        .await
        .unwrap()
        .items
        .iter()
        .map(|r| r.at_ms)
        .collect();
    assert_eq!(left, [300, 200], "records at or after the bound stay");
}

/// Secrets in an event's detail, actor or request id never reach the store.
pub async fn redaction_of_secrets_in_detail(s: &dyn AuditStore) {
    let t = TenantId::generate();
    let key = "pal_key_AbCdEfGh12345678_0123456789abcdefghij0123456789ABCDEFGHIJ";
    let event = AuditEvent::new(AuditEventType::AuthFailure)
        .tenant(&t)
        .at(1)
        .actor(format!("Bearer {key}"))
        .detail(json!({
            "authorization": "Basic dXNlcjpwYXNz",
            "client_secret": "hunter2hunter2",
            "note": format!("presented {key} from bob@example.com"),
            "nested": {"api_key": "k-123", "route": "/v1/me"},
        }));
    s.audit_append(&[AuditRecord::from_event(event)])
        .await
        .unwrap();
    let got = s.audit_list(&t, &query(50)).await.unwrap().items;
    let text = serde_json::to_string(&got).unwrap();
    for secret in [
        key,
        "dXNlcjpwYXNz",
        "hunter2hunter2",
        "k-123",
        "bob@example.com",
    ] {
        assert!(
            !text.contains(secret),
            "stored record holds a secret: {text}"
        );
    }
    assert_eq!(
        got[0].detail["nested"]["route"], "/v1/me",
        "plain values stay"
    );
}
