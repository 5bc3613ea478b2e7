//! The listener's lifecycle: serve connections, then lame duck, stop accepting, drain.
//!
//! Shutdown runs in phases, so that no request whose bytes reached the server goes unanswered:
//! 1. **Lame duck** (`http.lame_duck`): still accepting and serving, but `/readyz` fails (load
//!    balancers stop sending) and every answer carries `Connection: close`, so keep-alive
//!    clients finish the request they sent and open a new connection for the next one.
//! 2. **Stop accepting**: the connections already waiting in the listen queue are taken and
//!    served, then the listener closes; later connection attempts are refused (the client
//!    knows nothing was sent).
//! 3. **Drain**: connections finish their request (each answer closes its connection). After
//!    another `http.lame_duck` (time for a just-accepted connection's request to arrive), the
//!    connections still open are shut down gracefully: an idle one closes, a busy one closes
//!    after its answer. Past `http.shutdown_timeout` whatever is left is dropped.

use axum::extract::ConnectInfo;
use axum::http::{header, HeaderValue, Request};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tower::ServiceExt;

use crate::linger::Lingering;
use crate::rewind::Rewind;
use crate::stream_conn::{self, First};

/// Shared lame-duck state: handlers and the connection layer read it.
#[derive(Debug, Default)]
pub struct Lifecycle {
    lame_duck: AtomicBool,
}

impl Lifecycle {
    /// A serving lifecycle (not in lame duck).
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// True once shutdown began: `/readyz` fails and answers close their connection.
    pub fn is_lame_duck(&self) -> bool {
        self.lame_duck.load(Ordering::Acquire)
    }

    fn enter_lame_duck(&self) {
        self.lame_duck.store(true, Ordering::Release);
    }
}

/// How far shutdown went (each phase includes the earlier ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Serving,
    StopAccepting,
    CloseIdle,
}

/// The running accept loop and its connections.
pub struct Server {
    lifecycle: Arc<Lifecycle>,
    phase: watch::Sender<Phase>,
    task: JoinHandle<()>,
}

/// How long each shutdown phase may take.
#[derive(Debug, Clone, Copy)]
pub struct ShutdownTimes {
    /// Lame duck before the listener closes, and grace before idle connections close.
    pub lame_duck: Duration,
    /// Longest drain after the listener closed.
    pub drain: Duration,
}

/// Serves `app` on `listener` until [`Server::shutdown`].
pub fn serve(listener: TcpListener, app: Router, lifecycle: Arc<Lifecycle>) -> Server {
    let (phase, phase_rx) = watch::channel(Phase::Serving);
    let task = tokio::spawn(accept_loop(listener, app, lifecycle.clone(), phase_rx));
    Server {
        lifecycle,
        phase,
        task,
    }
}

impl Server {
    /// Runs the shutdown phases (see the module documentation); true when every connection
    /// finished within `times.drain`.
    pub async fn shutdown(self, times: ShutdownTimes) -> bool {
        self.lifecycle.enter_lame_duck();
        tracing::info!(lame_duck = ?times.lame_duck, "lame duck: readyz fails, answers close their connections");
        tokio::time::sleep(times.lame_duck).await;
        let _ = self.phase.send(Phase::StopAccepting);
        let mut task = self.task;
        let deadline = tokio::time::Instant::now() + times.drain;
        let grace = tokio::time::timeout(times.lame_duck.min(times.drain), &mut task).await;
        if grace.is_ok() {
            return true;
        }
        let _ = self.phase.send(Phase::CloseIdle);
        match tokio::time::timeout_at(deadline, &mut task).await {
            Ok(_) => true,
            Err(_) => {
                task.abort();
                false
            }
        }
    }
}

/// Resolves once shutdown reached `p` (or the server is gone).
async fn reached(phase: &mut watch::Receiver<Phase>, p: Phase) {
    let _ = phase.wait_for(|now| *now >= p).await;
}

async fn accept_loop(
    listener: TcpListener,
    app: Router,
    lifecycle: Arc<Lifecycle>,
    mut phase: watch::Receiver<Phase>,
) {
    let mut conns = JoinSet::new();
    let conn_phase = phase.clone();
    let serve = |conns: &mut JoinSet<()>, io: TcpStream, addr: SocketAddr| {
        let c = connection(io, addr, app.clone(), lifecycle.clone(), conn_phase.clone());
        conns.spawn(c);
    };
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((io, addr)) => serve(&mut conns, io, addr),
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            _ = reached(&mut phase, Phase::StopAccepting) => break,
        }
    }
    // Connections the kernel completed but not yet accepted would be reset on close: take
    // them with real accept calls until the queue is empty (tokio's readiness may be stale).
    if let Ok(std) = listener.into_std() {
        while let Ok((io, addr)) = std.accept() {
            let io = io
                .set_nonblocking(true)
                .and_then(|()| TcpStream::from_std(io));
            if let Ok(io) = io {
                serve(&mut conns, io, addr);
            }
        }
    }
    while conns.join_next().await.is_some() {}
}

/// Serves one connection: its first request on the lean stream connection when it opens a
/// stream ([`stream_conn`]), else with hyper. A connection that sent nothing when shutdown
/// reaches [`Phase::CloseIdle`] is closed.
async fn connection(
    io: TcpStream,
    addr: SocketAddr,
    app: Router,
    lifecycle: Arc<Lifecycle>,
    mut phase: watch::Receiver<Phase>,
) {
    let first = tokio::select! {
        first = stream_conn::first(io) => first,
        _ = reached(&mut phase, Phase::CloseIdle) => return,
    };
    match first {
        First::Stream(io, req) => stream_conn::serve(io, *req, addr, app).await,
        // Boxed: hyper's connection is large and must not size every connection's task.
        First::Other(io) => Box::pin(http1(io, addr, app, lifecycle, phase)).await,
    }
}

/// Serves `io` with hyper's HTTP/1; once shutdown reaches [`Phase::CloseIdle`], shuts it down
/// gracefully.
async fn http1(
    io: Rewind<TcpStream>,
    addr: SocketAddr,
    app: Router,
    lifecycle: Arc<Lifecycle>,
    mut phase: watch::Receiver<Phase>,
) {
    let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(addr));
        let (app, lifecycle) = (app.clone(), lifecycle.clone());
        async move {
            let mut res = app.oneshot(req).await?;
            if lifecycle.is_lame_duck() {
                res.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            Ok::<_, Infallible>(res)
        }
    });
    // hyper answers a bare 431 past its own header limit: parse more, so that Palisade's
    // limit (`refuse_bad_head`) answers problem+json first.
    let conn = hyper::server::conn::http1::Builder::new()
        .max_headers(crate::http::middleware::MAX_HEADERS * 10)
        .serve_connection(TokioIo::new(Lingering::new(io)), service)
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        _ = reached(&mut phase, Phase::CloseIdle) => conn.as_mut().graceful_shutdown(),
    }
    let _ = conn.await;
}
