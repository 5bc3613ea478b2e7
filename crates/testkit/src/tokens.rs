//! Conformance suite of the token stores (issuers, revocations, the verify lookup): one public check per guarantee, on a manual clock.

use palisade_core::{ManualClock, PageRequest, TenantId};
use palisade_tokens::{Alg, Issuer, IssuerId, IssuerSpec, Revocation, TokenStore};
use std::sync::Arc;
use std::time::Duration;

/// The store under test.
pub type Store = Arc<dyn TokenStore>;

fn issuer(iss: &str) -> Issuer {
    Issuer {
        id: IssuerId::generate(),
        spec: IssuerSpec {
            issuer: iss.into(),
            jwks_url: "https://idp.example/jwks.json".into(),
            audiences: vec!["api".into(), "web".into()],
            algorithms: vec![Alg::RS256, Alg::EdDSA],
            leeway_secs: Some(7),
        },
        created_at_ms: 1,
        updated_at_ms: 2,
    }
}

/// An issuer reads back exactly as created, by id and by `iss` in the lookup.
pub async fn issuer_round_trip(s: &Store, _clock: &Arc<ManualClock>) {
    let t = TenantId::generate();
    let mut i = issuer("https://a.example");
    s.issuer_create(&t, &i).await.unwrap();
    assert_eq!(s.issuer_get(&t, &i.id).await.unwrap(), Some(i.clone()));
    let l = s
        .token_lookup(&t, "https://a.example", None, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(l.issuer, i);
    assert!(!l.jti_revoked);
    assert_eq!(l.subject_not_before_ms, None);
    assert!(s
        .token_lookup(&t, "https://b.example", None, None)
        .await
        .unwrap()
        .is_none());
    i.spec.leeway_secs = None;
    i.spec.algorithms = vec![Alg::ES384];
    i.updated_at_ms = 9;
    assert!(s.issuer_update(&t, &i).await.unwrap());
    assert_eq!(s.issuer_get(&t, &i.id).await.unwrap(), Some(i.clone()));
}

/// A second issuer of the same `iss` in a tenant is a conflict (create or update); another
/// tenant may use it.
pub async fn iss_is_unique_per_tenant(s: &Store, _clock: &Arc<ManualClock>) {
    let t = TenantId::generate();
    s.issuer_create(&t, &issuer("https://a.example"))
        .await
        .unwrap();
    let e = s
        .issuer_create(&t, &issuer("https://a.example"))
        .await
        .unwrap_err();
    assert!(e.is_conflict(), "{e:?}");
    let mut b = issuer("https://b.example");
    s.issuer_create(&t, &b).await.unwrap();
    b.spec.issuer = "https://a.example".into();
    assert!(s.issuer_update(&t, &b).await.unwrap_err().is_conflict());
    s.issuer_create(&TenantId::generate(), &issuer("https://a.example"))
        .await
        .unwrap();
}

/// Another tenant's issuer is never found, listed, updated, deleted or looked up.
pub async fn tenants_are_isolated(s: &Store, _clock: &Arc<ManualClock>) {
    let (t, other) = (TenantId::generate(), TenantId::generate());
    let i = issuer("https://a.example");
    s.issuer_create(&t, &i).await.unwrap();
    assert_eq!(s.issuer_get(&other, &i.id).await.unwrap(), None);
    assert!(s
        .issuer_list(&other, &PageRequest::first(10))
        .await
        .unwrap()
        .items
        .is_empty());
    assert!(!s.issuer_update(&other, &i).await.unwrap());
    assert!(!s.issuer_delete(&other, &i.id).await.unwrap());
    assert!(s
        .token_lookup(&other, "https://a.example", None, None)
        .await
        .unwrap()
        .is_none());
    // Revocations too.
    let r = Revocation::Jti {
        jti: "j1".into(),
        expires_at_ms: i64::MAX / 2,
    };
    s.revocation_put(&other, &r).await.unwrap();
    let l = s
        .token_lookup(&t, "https://a.example", Some("j1"), None)
        .await
        .unwrap()
        .unwrap();
    assert!(!l.jti_revoked);
    assert!(s.issuer_get(&t, &i.id).await.unwrap().is_some());
}

/// Issuers list by id, a page at a time, and a deleted issuer is gone.
pub async fn list_pages_and_delete(s: &Store, _clock: &Arc<ManualClock>) {
    let t = TenantId::generate();
    let mut ids = Vec::new();
    for n in 0..5 {
        let i = issuer(&format!("https://{n}.example"));
        s.issuer_create(&t, &i).await.unwrap();
        ids.push(i.id);
    }
    ids.sort();
    let mut seen = Vec::new();
    let mut page = PageRequest::first(2);
    loop {
        let p = s.issuer_list(&t, &page).await.unwrap();
        seen.extend(p.items.into_iter().map(|i| i.id));
        match p.next {
            Some(n) => page.after = Some(n),
            None => break,
        }
    }
    assert_eq!(seen, ids);
    assert!(s.issuer_delete(&t, &ids[0]).await.unwrap());
    assert!(!s.issuer_delete(&t, &ids[0]).await.unwrap());
    assert_eq!(s.issuer_get(&t, &ids[0]).await.unwrap(), None);
}

/// A jti revocation counts until its expiry (store clock), then no longer; a repeat with an
/// earlier expiry does not shorten it.
pub async fn jti_revocation_lasts_until_its_expiry(s: &Store, clock: &Arc<ManualClock>) {
    use palisade_core::Clock;
    let t = TenantId::generate();
    s.issuer_create(&t, &issuer("https://a.example"))
        .await
        .unwrap();
    let exp = clock.now_ms() + 60_000;
    s.revocation_put(
        &t,
        &Revocation::Jti {
            jti: "j1".into(),
            expires_at_ms: exp,
        },
    )
    .await
    .unwrap();
    s.revocation_put(
        &t,
        &Revocation::Jti {
            jti: "j1".into(),
            expires_at_ms: exp - 50_000,
        },
    )
    .await
    .unwrap();
    let revoked = async |jti: &str| {
        s.token_lookup(&t, "https://a.example", Some(jti), Some("u"))
            .await
            .unwrap()
            .unwrap()
            .jti_revoked
    };
    assert!(revoked("j1").await);
    assert!(!revoked("j2").await);
    clock.advance(Duration::from_millis(59_999));
    assert!(revoked("j1").await);
    clock.advance(Duration::from_millis(1));
    assert!(!revoked("j1").await);
}

/// A subject revocation keeps the latest not-before of several.
pub async fn subject_revocation_keeps_the_latest(s: &Store, _clock: &Arc<ManualClock>) {
    let t = TenantId::generate();
    s.issuer_create(&t, &issuer("https://a.example"))
        .await
        .unwrap();
    for nb in [5_000, 9_000, 7_000] {
        let r = Revocation::Subject {
            subject: "user-1".into(),
            not_before_ms: nb,
        };
        s.revocation_put(&t, &r).await.unwrap();
    }
    let nb = async |sub: &str| {
        s.token_lookup(&t, "https://a.example", Some("j"), Some(sub))
            .await
            .unwrap()
            .unwrap()
            .subject_not_before_ms
    };
    assert_eq!(nb("user-1").await, Some(9_000));
    assert_eq!(nb("user-2").await, None);
}

/// Purge deletes jti revocations whose expiry passed, and only those.
pub async fn purge_deletes_only_expired(s: &Store, clock: &Arc<ManualClock>) {
    use palisade_core::Clock;
    let t = TenantId::generate();
    s.issuer_create(&t, &issuer("https://a.example"))
        .await
        .unwrap();
    let now = clock.now_ms();
    for (jti, exp) in [
        ("old1", now + 10),
        ("old2", now + 20),
        ("live", now + 60_000),
    ] {
        let r = Revocation::Jti {
            jti: jti.into(),
            expires_at_ms: exp,
        };
        s.revocation_put(&t, &r).await.unwrap();
    }
    clock.advance(Duration::from_millis(20));
    assert_eq!(s.revocation_purge(1).await.unwrap(), 1);
    assert_eq!(s.revocation_purge(100).await.unwrap(), 1);
    assert_eq!(s.revocation_purge(100).await.unwrap(), 0);
    let l = s
        .token_lookup(&t, "https://a.example", Some("live"), None)
        .await
        .unwrap()
        .unwrap();
    assert!(l.jti_revoked);
}

/// Every write records its change in the feed, naming what a lookup cache must drop: issuer
/// create, update and delete the tenant; a revocation its jti or subject.
pub async fn writes_record_their_changes(s: &Store, _clock: &Arc<ManualClock>) {
    use palisade_tokens::topics;
    let t = TenantId::generate();
    let head = s.change_head().await.unwrap();
    let mut i = issuer("https://a.example");
    s.issuer_create(&t, &i).await.unwrap();
    i.spec.leeway_secs = Some(1);
    assert!(s.issuer_update(&t, &i).await.unwrap());
    let jti = Revocation::Jti {
        jti: "j1".into(),
        expires_at_ms: i64::MAX / 2,
    };
    s.revocation_put(&t, &jti).await.unwrap();
    let sub = Revocation::Subject {
        subject: "user-1".into(),
        not_before_ms: 5,
    };
    s.revocation_put(&t, &sub).await.unwrap();
    assert!(s.issuer_delete(&t, &i.id).await.unwrap());
    assert!(
        !s.issuer_delete(&t, &i.id).await.unwrap(),
        "nothing deleted"
    );
    let seen: Vec<_> = s
        .change_read(head, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|c| c.tenant == t)
        .map(|c| (c.topic, c.subject))
        .collect();
    let changed = (topics::ISSUERS_CHANGED.to_owned(), None);
    assert_eq!(
        seen,
        [
            changed.clone(),
            changed.clone(),
            (topics::JTI_REVOKED.into(), Some("j1".into())),
            (topics::SUBJECT_REVOKED.into(), Some("user-1".into())),
            changed,
        ]
    );
}
