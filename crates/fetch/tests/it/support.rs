//! Local HTTP servers on 127.0.0.x port 0 that count their connections, and a DNS stub.

use palisade_fetch::{FetchSettings, Fetcher, Resolver};
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What a test server does with one request.
pub enum Reply {
    /// Writes these bytes, then closes.
    Raw(Vec<u8>),
    /// Writes this head, then chunks of zeros until the peer goes away.
    Endless(String),
    /// Writes these bytes (maybe nothing), then keeps the connection open without writing.
    Stall(Vec<u8>),
}

/// A handler from the request path to a reply.
pub type Handler = Arc<dyn Fn(&str) -> Reply + Send + Sync>;

/// A running local server.
pub struct Server {
    pub addr: SocketAddr,
    pub connections: Arc<AtomicUsize>,
}

impl Server {
    /// Starts a server on `ip`, port 0.
    pub async fn start(ip: &str, handler: Handler) -> Server {
        let listener = TcpListener::bind((ip.parse::<IpAddr>().unwrap(), 0))
            .await
            .unwrap();
        Self::serve_on(listener, handler)
    }

    fn serve_on(listener: TcpListener, handler: Handler) -> Server {
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let count = connections.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(sock, handler.clone()));
            }
        });
        Server { addr, connections }
    }

    /// Starts a server on exactly `addr` (e.g. the port of another server on another address).
    pub async fn start_on(addr: String, handler: Handler) -> std::io::Result<Server> {
        let listener = TcpListener::bind(addr.parse::<SocketAddr>().unwrap()).await?;
        Ok(Self::serve_on(listener, handler))
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn hits(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

async fn serve(mut sock: TcpStream, handler: Handler) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let head = String::from_utf8_lossy(&buf);
    let path = head.split(' ').nth(1).unwrap_or("/").to_owned();
    match handler(&path) {
        Reply::Raw(bytes) => {
            let _ = sock.write_all(&bytes).await;
            let _ = sock.shutdown().await;
        }
        Reply::Endless(head) => {
            if sock.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let block = vec![0u8; 16 * 1024];
            let mut frame = format!("{:x}\r\n", block.len()).into_bytes();
            frame.extend_from_slice(&block);
            frame.extend_from_slice(b"\r\n");
            while sock.write_all(&frame).await.is_ok() {}
        }
        Reply::Stall(bytes) => {
            let _ = sock.write_all(&bytes).await;
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
    }
}

/// A complete HTTP/1.1 response with a Content-Length.
pub fn ok(content_type: &str, body: &[u8]) -> Reply {
    let mut r = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    Reply::Raw(r)
}

/// A redirect with this status to `location`.
pub fn redirect(status: u16, location: &str) -> Reply {
    Reply::Raw(
        format!("HTTP/1.1 {status} Moved\r\nlocation: {location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .into_bytes(),
    )
}

/// A DNS stub: each name answers its queued answers in turn, the last one again and again.
#[derive(Default)]
pub struct StubResolver {
    answers: Mutex<HashMap<String, VecDeque<Vec<IpAddr>>>>,
    calls: AtomicUsize,
    slow: HashSet<String>,
}

impl StubResolver {
    pub fn new(slow: &[&str]) -> Self {
        Self {
            slow: slow.iter().map(|s| s.to_string()).collect(),
            ..Self::default()
        }
    }

    /// Adds a name with its answers in order.
    pub fn name(&self, host: &str, answers: &[&[&str]]) {
        let q = answers
            .iter()
            .map(|a| a.iter().map(|ip| ip.parse().unwrap()).collect())
            .collect();
        self.answers.lock().unwrap().insert(host.to_owned(), q);
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl Resolver for StubResolver {
    async fn resolve(&self, host: &str) -> std::io::Result<Vec<IpAddr>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.slow.contains(host) {
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
        let mut map = self.answers.lock().unwrap();
        let q = map
            .get_mut(host)
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such name"))?;
        Ok(if q.len() > 1 {
            q.pop_front().unwrap()
        } else {
            q[0].clone()
        })
    }
}

/// Test settings: 127.0.0.1 plays the public site; these ports are allowed besides 80/443.
pub fn settings(ports: &[u16]) -> FetchSettings {
    let mut s = FetchSettings {
        connect_timeout: Duration::from_secs(2),
        first_byte_timeout: Duration::from_secs(3),
        total_timeout: Duration::from_secs(5),
        ..FetchSettings::default()
    };
    s.allow_ports.extend_from_slice(ports);
    s.allow.cidrs = vec!["127.0.0.1/32".into()];
    s
}

/// A fetcher over `settings` and `resolver`, with no host address of its own besides `own`.
pub fn fetcher(settings: FetchSettings, resolver: Arc<StubResolver>, own: &[&str]) -> Fetcher {
    Fetcher::builder(settings)
        .resolver(resolver)
        .host_addresses(own.iter().map(|s| s.parse().unwrap()).collect())
        .build()
        .unwrap()
}
