//! Graceful shutdown on SIGTERM.

use crate::common::{eventually, spawn};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[tokio::test]
async fn sigterm_stops_accepting_and_exits_cleanly() {
    let mut p = spawn(&[]);
    let pid = p.child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let mut status = None;
    let exited = eventually(Duration::from_secs(10), || {
        status = p.child.try_wait().unwrap();
        status.is_some()
    })
    .await;
    assert!(exited, "palisade did not exit after SIGTERM");
    assert!(status.unwrap().success());
    assert!(p.stderr().contains("shutdown complete"));
    assert!(
        reqwest::get(p.at("/healthz")).await.is_err(),
        "no longer accepting"
    );
}

/// What became of one request a client sent (or tried to send).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// A whole answer: its status, whether it said `Connection: close`, and whether the
    /// request started well after SIGTERM (by then the server is in lame duck).
    Answered {
        status: u16,
        close: bool,
        late: bool,
    },
    /// The connection was refused: nothing was sent.
    Refused,
    /// Bytes were sent on a fresh connection and no whole answer came.
    LostOnFresh,
    /// Bytes were sent on a reused (keep-alive) connection and no whole answer came.
    LostOnReused,
}

/// Long enough after SIGTERM for the server to be in lame duck, well inside it (300 ms).
const LATE: Duration = Duration::from_millis(150);

/// One POST on `conn`: the whole answer's (status, `Connection: close`), or `None`.
async fn post(conn: &mut tokio::net::TcpStream, key: &str, n: u64) -> Option<(u16, bool)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = format!(r#"{{"external_id":"sd-{n}","name":"n"}}"#);
    let req = format!(
        "POST /v1/tenants HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {key}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    conn.write_all(req.as_bytes()).await.ok()?;
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 4096];
        match conn.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(k) => buf.extend_from_slice(&chunk[..k]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let status = head.get(9..12)?.parse().ok()?;
    let header = |name: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
    };
    let len: usize = header("content-length:")?.parse().ok()?;
    while buf.len() < head_end + len {
        let mut chunk = [0u8; 4096];
        match conn.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(k) => buf.extend_from_slice(&chunk[..k]),
        }
    }
    Some((status, header("connection:").as_deref() == Some("close")))
}

/// True when the server already closed `conn` (a keep-alive client checks before reuse).
fn closed_by_server(conn: &tokio::net::TcpStream) -> bool {
    let mut b = [0u8; 1];
    conn.try_read(&mut b).is_ok()
}

/// A keep-alive client sending POSTs back to back until the server refuses connections.
async fn client(
    addr: String,
    key: String,
    id: u64,
    signal: Arc<std::sync::OnceLock<Instant>>,
) -> Vec<Fate> {
    let mut fates = Vec::new();
    let mut conn: Option<tokio::net::TcpStream> = None;
    for n in 0.. {
        if conn.as_ref().is_some_and(closed_by_server) {
            conn = None;
        }
        let fresh = conn.is_none();
        if fresh {
            match tokio::net::TcpStream::connect(&addr).await {
                Ok(c) => conn = Some(c),
                Err(_) => {
                    fates.push(Fate::Refused);
                    return fates;
                }
            }
        }
        let late = signal.get().is_some_and(|t| t.elapsed() > LATE);
        let c = conn.as_mut().unwrap();
        match post(c, &key, id * 1_000_000 + n).await {
            Some((status, close)) => {
                fates.push(Fate::Answered {
                    status,
                    close,
                    late,
                });
                if close {
                    conn = None;
                }
            }
            None => {
                fates.push(if fresh {
                    Fate::LostOnFresh
                } else {
                    Fate::LostOnReused
                });
                conn = None;
            }
        }
    }
    fates
}

/// Ten keep-alive clients under load, SIGTERM, twenty times: every request sent is answered
/// (or its connection refused before anything was sent), and every answer during the lame
/// duck says `Connection: close`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_under_keep_alive_load_answers_every_request_it_received() {
    let mut all = Vec::new();
    for round in 0..20u64 {
        let mut p = spawn(&[("PALISADE_HTTP__LAME_DUCK", "300ms")]);
        let key = p.operator_key();
        let addr = p.url.trim_start_matches("http://").to_owned();
        let signal = Arc::new(std::sync::OnceLock::new());
        let clients: Vec<_> = (0..10)
            .map(|i| {
                let c = client(addr.clone(), key.clone(), round * 100 + i, signal.clone());
                tokio::spawn(c)
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(50 + 13 * round)).await;
        let pid = p.child.id().to_string();
        let _ = signal.set(Instant::now());
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(killed.success());
        let mut fates = Vec::new();
        for c in clients {
            let f = tokio::time::timeout(Duration::from_secs(20), c)
                .await
                .expect("a client hung: a request got neither an answer nor a close")
                .unwrap();
            fates.extend(f);
        }
        let status = tokio::task::spawn_blocking(move || {
            let s = p.child.wait().unwrap();
            (s, p)
        })
        .await
        .unwrap();
        assert!(status.0.success(), "round {round}: exit {:?}", status.0);
        let lost: Vec<_> = fates
            .iter()
            .filter(|f| matches!(f, Fate::LostOnReused))
            .collect();
        assert!(
            lost.is_empty(),
            "round {round}: unanswered requests {lost:?}"
        );
        // Known gap: a connection that reaches the listen queue in the microseconds between
        // the last accept and the listener's close is reset by the kernel.
        let fresh = fates.iter().filter(|f| **f == Fate::LostOnFresh).count();
        if fresh > 0 {
            eprintln!("round {round}: {fresh} request(s) lost on a fresh connection");
        }
        all.extend(fates);
    }
    let answers: Vec<_> = all
        .iter()
        .filter_map(|f| match f {
            Fate::Answered {
                status,
                close,
                late,
            } => Some((*status, *close, *late)),
            _ => None,
        })
        .collect();
    assert!(
        answers.iter().all(|(s, _, _)| *s == 200 || *s == 201),
        "every answer a success"
    );
    let late: Vec<_> = answers.iter().filter(|(_, _, late)| *late).collect();
    assert!(
        late.len() >= 20,
        "load went on during the lame duck: {late:?}"
    );
    assert!(
        late.iter().all(|(_, close, _)| *close),
        "every answer in the lame duck carries Connection: close"
    );
    eprintln!("{} answers, {} in the lame duck", answers.len(), late.len());
}
