//! TLS to PostgreSQL (rustls).

#[tokio::test]
async fn sslmode_require_gives_an_encrypted_connection() {
    use palisade_store_postgres::{PgOptions, PgStore};
    let Some(url) = palisade_testkit::backends::postgres_or_skip("sslmode_require").await else {
        return;
    };
    let plain = PgStore::connect(&PgOptions {
        max_connections: Some(1),
        ..PgOptions::new(&url)
    })
    .await
    .unwrap();
    let ssl: String = sqlx::query_scalar("SHOW ssl")
        .fetch_one(plain.pool())
        .await
        .unwrap();
    if ssl != "on" {
        eprintln!("\n!!!!! SKIPPED sslmode_require: this PostgreSQL server has ssl = off !!!!!\n");
        return;
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    let tls = PgOptions {
        max_connections: Some(1),
        ..PgOptions::new(format!("{url}{sep}sslmode=require"))
    };
    let store = PgStore::connect(&tls)
        .await
        .expect("TLS connection (rustls)");
    let encrypted: bool =
        sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert!(encrypted, "sslmode=require must encrypt the connection");
}
