//! A fresh migrated SQLite store in a temporary file per test.

use palisade_store_sqlite::{SqliteOptions, SqliteStore};

/// A fresh, migrated store in its own temporary database file.
pub async fn store() -> SqliteStore {
    let dir = std::env::temp_dir().join(palisade_testkit::backends::unique("palisade_sqlite"));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("test.db").display());
    let s = SqliteStore::connect(&SqliteOptions::new(url))
        .await
        .unwrap();
    s.migrate().await.unwrap();
    s
}
