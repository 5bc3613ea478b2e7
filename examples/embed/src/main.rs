//! Serves the embedded example on 127.0.0.1:3000 until Ctrl-C.
#![forbid(unsafe_code)]

use palisade_core::Supervisor;
use std::net::SocketAddr;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> Result<(), String> {
    let embedded = palisade_example_embed::app(Supervisor::new(CancellationToken::new())).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000")
        .await
        .map_err(|e| e.to_string())?;
    println!("try: curl -i -X POST -H 'x-tenant: acme' -H 'Idempotency-Key: \"k1\"' http://127.0.0.1:3000/charges");
    let app = embedded
        .router
        .into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| e.to_string())?;
    embedded.maintenance.shutdown(Duration::from_secs(5)).await;
    Ok(())
}
