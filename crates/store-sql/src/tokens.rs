//! JWT issuers and revocations: plain rows, conditional upserts, one read per verify.
//!
//! An issuer's `iss` is unique per tenant (a unique index: a second create is a conflict,
//! SQLSTATE 23505 / SQLite's constraint code). A revocation is an `INSERT … ON CONFLICT DO
//! UPDATE` keeping the later expiry (jti) or not-before (subject), so a repeat never weakens
//! it. [`TokenStore::token_lookup`] reads the issuer and both revocations in one statement.
//! Every write records its change-feed entry ([`palisade_tokens::topics`]) in its own
//! transaction. Time is the store clock.

use crate::{ChangeDialect, Dialect, SqlStore, Value};
use async_trait::async_trait;
use palisade_core::{ChangeRecord, Page, PageRequest, StoreError, TenantId};
use palisade_tokens::{
    topics, Alg, Issuer, IssuerId, IssuerSpec, Revocation, TokenLookup, TokenStore,
};
use sqlx::{ColumnIndex, Encode, Executor, IntoArguments, Type};

const COLS: &str =
    "id, issuer, jwks_url, audiences, algorithms, leeway_secs, created_at_ms, updated_at_ms";

const LOOKUP: &str = "
SELECT id, issuer, jwks_url, audiences, algorithms, leeway_secs, created_at_ms, updated_at_ms,
    (SELECT COUNT(*) FROM token_revoked_jtis j
      WHERE j.tenant_id = $1 AND j.jti = $3 AND j.expires_at_ms > $5) AS jti_revoked,
    (SELECT s.not_before_ms FROM token_revoked_subjects s
      WHERE s.tenant_id = $1 AND s.subject = $4) AS subject_not_before_ms
FROM token_issuers WHERE tenant_id = $1 AND issuer = $2";

const JTI_PUT: &str = "
INSERT INTO token_revoked_jtis (tenant_id, jti, expires_at_ms) VALUES ($1, $2, $3)
ON CONFLICT (tenant_id, jti) DO UPDATE SET expires_at_ms = CASE
    WHEN excluded.expires_at_ms > token_revoked_jtis.expires_at_ms THEN excluded.expires_at_ms
    ELSE token_revoked_jtis.expires_at_ms END";

const SUBJECT_PUT: &str = "
INSERT INTO token_revoked_subjects (tenant_id, subject, not_before_ms) VALUES ($1, $2, $3)
ON CONFLICT (tenant_id, subject) DO UPDATE SET not_before_ms = CASE
    WHEN excluded.not_before_ms > token_revoked_subjects.not_before_ms THEN excluded.not_before_ms
    ELSE token_revoked_subjects.not_before_ms END";

impl<D, B> SqlStore<D, B>
where
    D: Dialect,
    for<'a> &'a str: ColumnIndex<D::Row>,
    i64: Value<D>,
    String: Value<D>,
    Option<i64>: Value<D>,
{
    fn issuer_row(r: &D::Row) -> Result<Issuer, StoreError> {
        let corrupt = |c: &str| StoreError::Corrupt(format!("token_issuers.{c}"));
        let audiences: Vec<String> = serde_json::from_str(&Self::col::<String>(r, "audiences")?)
            .map_err(|_| corrupt("audiences"))?;
        let names: Vec<String> = serde_json::from_str(&Self::col::<String>(r, "algorithms")?)
            .map_err(|_| corrupt("algorithms"))?;
        let algorithms = names
            .iter()
            .map(|n| Alg::parse(n).ok_or_else(|| corrupt("algorithms")))
            .collect::<Result<Vec<_>, _>>()?;
        let leeway_secs = Self::col::<Option<i64>>(r, "leeway_secs")?
            .map(|l| u32::try_from(l).map_err(|_| corrupt("leeway_secs")))
            .transpose()?;
        Ok(Issuer {
            id: IssuerId::from_stored(Self::col(r, "id")?),
            spec: IssuerSpec {
                issuer: Self::col(r, "issuer")?,
                jwks_url: Self::col(r, "jwks_url")?,
                audiences,
                algorithms,
                leeway_secs,
            },
            created_at_ms: Self::col(r, "created_at_ms")?,
            updated_at_ms: Self::col(r, "updated_at_ms")?,
        })
    }
}

impl<D: ChangeDialect, B> SqlStore<D, B> {
    /// Records the change of a write in its transaction `tx`, then commits.
    async fn changed(
        &self,
        mut tx: sqlx::Transaction<'static, D>,
        topic: &'static str,
        tenant: &TenantId,
        subject: Option<&str>,
    ) -> Result<(), StoreError> {
        let rec = ChangeRecord {
            topic,
            tenant,
            subject,
        };
        D::change_record(&mut tx, rec, self.now_ms()).await?;
        tx.commit().await.map_err(D::map_err)
    }
}

fn json_list<T: AsRef<str>>(items: impl IntoIterator<Item = T>) -> String {
    let v: Vec<String> = items.into_iter().map(|s| s.as_ref().to_owned()).collect();
    serde_json::Value::from(v).to_string()
}

#[async_trait]
impl<D, B> TokenStore for SqlStore<D, B>
where
    D: ChangeDialect,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    for<'q> D::Arguments<'q>: IntoArguments<'q, D>,
    for<'a> &'a str: Encode<'a, D> + Type<D> + ColumnIndex<D::Row>,
    usize: ColumnIndex<D::Row>,
    i64: Value<D>,
    String: Value<D>,
    Option<i64>: Value<D>,
    B: Send + Sync + std::fmt::Debug,
{
    async fn issuer_create(&self, tenant: &TenantId, i: &Issuer) -> Result<(), StoreError> {
        let mut tx = self.begin(D::BEGIN_WRITE).await?;
        sqlx::query(
            "INSERT INTO token_issuers (tenant_id, id, issuer, jwks_url, audiences, algorithms,
                 leeway_secs, created_at_ms, updated_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(tenant.as_str())
        .bind(i.id.as_str())
        .bind(i.spec.issuer.as_str())
        .bind(i.spec.jwks_url.as_str())
        .bind(json_list(&i.spec.audiences))
        .bind(json_list(i.spec.algorithms.iter().map(|a| a.as_str())))
        .bind(i.spec.leeway_secs.map(i64::from))
        .bind(i.created_at_ms)
        .bind(i.updated_at_ms)
        .execute(&mut *tx)
        .await
        .map_err(D::map_err)?;
        self.changed(tx, topics::ISSUERS_CHANGED, tenant, None)
            .await
    }

    async fn issuer_get(
        &self,
        tenant: &TenantId,
        id: &IssuerId,
    ) -> Result<Option<Issuer>, StoreError> {
        let sql = format!("SELECT {COLS} FROM token_issuers WHERE tenant_id = $1 AND id = $2");
        let row = sqlx::query(&sql)
            .bind(tenant.as_str())
            .bind(id.as_str())
            .fetch_optional(self.pool())
            .await
            .map_err(D::map_err)?;
        row.as_ref().map(Self::issuer_row).transpose()
    }

    async fn issuer_list(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<Issuer>, StoreError> {
        let sql = format!(
            "SELECT {COLS} FROM token_issuers WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(tenant.as_str())
            .bind(page.after.clone().unwrap_or_default())
            .bind(i64::from(page.limit) + 1)
            .fetch_all(self.pool())
            .await
            .map_err(D::map_err)?;
        let rows = rows
            .iter()
            .map(Self::issuer_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(rows, page.limit, |i| {
            i.id.as_str().to_owned()
        }))
    }

    async fn issuer_update(&self, tenant: &TenantId, i: &Issuer) -> Result<bool, StoreError> {
        let mut tx = self.begin(D::BEGIN_WRITE).await?;
        let done = sqlx::query(
            "UPDATE token_issuers SET issuer = $3, jwks_url = $4, audiences = $5, algorithms = $6,
                 leeway_secs = $7, updated_at_ms = $8
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.as_str())
        .bind(i.id.as_str())
        .bind(i.spec.issuer.as_str())
        .bind(i.spec.jwks_url.as_str())
        .bind(json_list(&i.spec.audiences))
        .bind(json_list(i.spec.algorithms.iter().map(|a| a.as_str())))
        .bind(i.spec.leeway_secs.map(i64::from))
        .bind(i.updated_at_ms)
        .execute(&mut *tx)
        .await
        .map_err(D::map_err)?;
        if D::rows_affected(&done) != 1 {
            return Ok(false);
        }
        self.changed(tx, topics::ISSUERS_CHANGED, tenant, None)
            .await?;
        Ok(true)
    }

    async fn issuer_delete(&self, tenant: &TenantId, id: &IssuerId) -> Result<bool, StoreError> {
        let mut tx = self.begin(D::BEGIN_WRITE).await?;
        let done = sqlx::query("DELETE FROM token_issuers WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(D::map_err)?;
        if D::rows_affected(&done) != 1 {
            return Ok(false);
        }
        self.changed(tx, topics::ISSUERS_CHANGED, tenant, None)
            .await?;
        Ok(true)
    }

    async fn token_lookup(
        &self,
        tenant: &TenantId,
        iss: &str,
        jti: Option<&str>,
        sub: Option<&str>,
    ) -> Result<Option<TokenLookup>, StoreError> {
        // An absent jti or sub is looked up as "", which no revocation has (both are 1+ bytes).
        let row = sqlx::query(LOOKUP)
            .bind(tenant.as_str())
            .bind(iss)
            .bind(jti.unwrap_or_default())
            .bind(sub.unwrap_or_default())
            .bind(self.now_ms())
            .fetch_optional(self.pool())
            .await
            .map_err(D::map_err)?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(TokenLookup {
            issuer: Self::issuer_row(&r)?,
            jti_revoked: Self::col::<i64>(&r, "jti_revoked")? > 0,
            subject_not_before_ms: Self::col(&r, "subject_not_before_ms")?,
        }))
    }

    async fn revocation_put(&self, tenant: &TenantId, r: &Revocation) -> Result<(), StoreError> {
        let (sql, key, v, topic) = match r {
            Revocation::Jti { jti, expires_at_ms } => {
                (JTI_PUT, jti, *expires_at_ms, topics::JTI_REVOKED)
            }
            Revocation::Subject {
                subject,
                not_before_ms,
            } => (
                SUBJECT_PUT,
                subject,
                *not_before_ms,
                topics::SUBJECT_REVOKED,
            ),
        };
        let mut tx = self.begin(D::BEGIN_WRITE).await?;
        sqlx::query(sql)
            .bind(tenant.as_str())
            .bind(key.as_str())
            .bind(v)
            .execute(&mut *tx)
            .await
            .map_err(D::map_err)?;
        self.changed(tx, topic, tenant, Some(key)).await
    }

    async fn revocation_purge(&self, limit: u32) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM token_revoked_jtis WHERE expires_at_ms <= $1 AND (tenant_id, jti) IN
               (SELECT tenant_id, jti FROM token_revoked_jtis WHERE expires_at_ms <= $1 LIMIT $2)",
        )
        .bind(self.now_ms())
        .bind(limit as i64)
        .execute(self.pool())
        .await
        .map_err(D::map_err)?;
        Ok(D::rows_affected(&done))
    }
}
