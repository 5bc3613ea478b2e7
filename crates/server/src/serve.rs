//! Starting and stopping the server: stores, migrations, operator key, listener, drain.

use crate::config::Config;
use crate::state::AppState;
use crate::stores::Stores;
use palisade_core::Supervisor;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// A started server.
pub struct Running {
    /// The bound address (useful with port 0).
    pub addr: SocketAddr,
    /// The metrics listener's bound address, when `metrics.listen` is set.
    pub metrics_addr: Option<SocketAddr>,
    /// The handlers' state (tests reach the stores through it).
    pub state: AppState,
    stop: watch::Sender<bool>,
    server: crate::lifecycle::Server,
    maintenance: Supervisor,
}

/// Opens stores, migrates, resolves the operator key, binds and starts serving.
pub async fn start(cfg: Config) -> Result<Running, String> {
    let cfg = Arc::new(cfg);
    // The recorder first, so what opening the stores records (pool size) is kept.
    let metrics = crate::metrics::handle();
    let stores = Stores::open(&cfg).await?;
    let applied = stores
        .migrate()
        .await
        .map_err(|e| format!("migrating: {e}"))?;
    tracing::info!(applied = applied.len(), migrations = %applied.join(","), "migrations");
    let (operator_key_hash, source) = crate::operator_key::resolve(&cfg)?;
    tracing::info!(source = ?source, "operator key ready");
    let hashes = [
        Some(operator_key_hash),
        crate::operator_key::resolve_next(&cfg)?,
    ];
    let hashes: Arc<[String]> = hashes.into_iter().flatten().collect();
    let state = crate::app::state(cfg.clone(), stores, hashes, metrics).await?;
    let listener = tokio::net::TcpListener::bind(cfg.listen_addr())
        .await
        .map_err(|e| format!("binding {}: {e}", cfg.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let (stop, _) = watch::channel(false);
    let mut maintenance = Supervisor::new(CancellationToken::new());
    maintenance.spawn_all(crate::app::maintenance(&state));
    let metrics_addr = match cfg.metrics.listen_addr() {
        Some(a) => Some(crate::metrics::listen(a, state.metrics.clone(), stop.subscribe()).await?),
        None => None,
    };
    let app = crate::http::router(state.clone());
    // Lifecycle (lame duck, stop accepting, drain): crate::lifecycle.
    let server = crate::lifecycle::serve(listener, app, state.lifecycle.clone());
    Ok(Running {
        addr,
        metrics_addr,
        state,
        stop,
        server,
        maintenance,
    })
}

impl Running {
    /// Ends lock waits early (each waiting acquire answers with one last attempt) and realtime
    /// streams (each with a final `close` event), runs the
    /// listener's shutdown (lame duck, stop accepting, drain up to `shutdown_timeout`: see
    /// [`crate::lifecycle`]) while stopping every maintenance task within the same deadline,
    /// writes every queued audit event, closes the pools. True when every request finished in
    /// time.
    pub async fn shutdown(self) -> bool {
        let _ = self.stop.send(true);
        self.state.locks.end_waits();
        self.state.realtime.shutdown();
        let http = &self.state.config.http;
        let (deadline, lame_duck) = (http.shutdown_timeout, http.lame_duck);
        let times = crate::lifecycle::ShutdownTimes {
            lame_duck,
            drain: deadline,
        };
        let (drained, _) = tokio::join!(
            self.server.shutdown(times),
            self.maintenance.shutdown(deadline)
        );
        if !drained {
            tracing::warn!(
                ?deadline,
                "drain deadline passed; closing with requests in flight"
            );
        }
        self.state.audit.close().await;
        self.state.stores.close().await;
        drained
    }
}

/// Installs the SIGTERM and SIGINT handlers now; the future resolves when one arrives.
/// Call it before announcing readiness, so an early signal is never lost.
pub fn signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    async move {
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
    }
}
