//! Starting and stopping the server: stores, migrations, operator key, listener, drain.

use crate::config::Config;
use crate::state::AppState;
use crate::stores::Stores;
use palisade_core::Supervisor;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A started server.
pub struct Running {
    /// The bound address (useful with port 0).
    pub addr: SocketAddr,
    /// The handlers' state (tests reach the stores through it).
    pub state: AppState,
    stop: watch::Sender<bool>,
    task: JoinHandle<std::io::Result<()>>,
    maintenance: Supervisor,
}

/// Opens stores, migrates, resolves the operator key, binds and starts serving.
pub async fn start(cfg: Config) -> Result<Running, String> {
    let cfg = Arc::new(cfg);
    // The recorder first, so what opening the stores records (pool size) is kept.
    let metrics = crate::metrics::handle();
    let stores = Stores::open(&cfg)
        .await
        .map_err(|e| format!("opening stores: {e}"))?;
    stores
        .migrate()
        .await
        .map_err(|e| format!("migrating: {e}"))?;
    let (operator_key_hash, source) = crate::operator_key::resolve(&cfg)?;
    tracing::info!(source = ?source, "operator key ready");
    let state = crate::app::state(cfg.clone(), stores, operator_key_hash.into(), metrics).await?;
    let listener = tokio::net::TcpListener::bind(cfg.listen_addr())
        .await
        .map_err(|e| format!("binding {}: {e}", cfg.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let (stop, mut stopped) = watch::channel(false);
    let mut maintenance = Supervisor::new(CancellationToken::new());
    maintenance.spawn_all(crate::app::maintenance(&state));
    let app = crate::http::router(state.clone());
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = stopped.wait_for(|s| *s).await;
        })
        .await
    });
    Ok(Running {
        addr,
        state,
        stop,
        task,
        maintenance,
    })
}

impl Running {
    /// Stops accepting, ends lock waits early (each waiting acquire answers with one last
    /// attempt), drains in-flight requests and stops every maintenance task, both up to
    /// `shutdown_timeout`, closes the pools. True when every request finished within the
    /// deadline.
    pub async fn shutdown(self) -> bool {
        let _ = self.stop.send(true);
        self.state.locks.end_waits();
        let deadline = self.state.config.http.shutdown_timeout;
        let (drained, _) = tokio::join!(
            tokio::time::timeout(deadline, self.task),
            self.maintenance.shutdown(deadline)
        );
        let drained = drained.is_ok();
        if !drained {
            tracing::warn!(
                ?deadline,
                "drain deadline passed; closing with requests in flight"
            );
        }
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
