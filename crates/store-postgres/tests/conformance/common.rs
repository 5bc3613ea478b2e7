//! A fresh migrated PostgreSQL store in its own schema per test.

use palisade_store_postgres::{PgOptions, PgStore};

/// A fresh, migrated store in its own schema, or `None` when PostgreSQL is absent outside CI.
pub async fn store(test: &str) -> Option<PgStore> {
    let url = palisade_testkit::backends::postgres_or_skip(test).await?;
    let mut opts = PgOptions::new(url);
    opts.schema = Some(palisade_testkit::backends::unique("t"));
    opts.max_connections = Some(8);
    let s = PgStore::connect(&opts).await.unwrap();
    s.migrate().await.unwrap();
    Some(s)
}
