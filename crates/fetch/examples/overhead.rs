//! Measures the fetcher's added latency per request against a plain reqwest client fetching the
//! same local page in the same run (alternating rounds; keep-alive on both).
//!
//! `cargo run --release -p palisade-fetch --example overhead [requests-per-round] [rounds]`

use palisade_fetch::{FetchRequest, FetchSettings, Fetcher};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const PAGE: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: 1024\r\n\r\n";

async fn serve(listener: TcpListener) {
    while let Ok((mut sock, _)) = listener.accept().await {
        tokio::spawn(async move {
            let mut buf = vec![0u8; 8192];
            let mut have = Vec::new();
            let mut resp = PAGE.to_vec();
            resp.extend_from_slice(&[b'x'; 1024]);
            loop {
                while let Some(end) = have.windows(4).position(|w| w == b"\r\n\r\n") {
                    have.drain(..end + 4);
                    if sock.write_all(&resp).await.is_err() {
                        return;
                    }
                }
                match sock.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => have.extend_from_slice(&buf[..n]),
                }
            }
        });
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args()
        .skip(1)
        .map(|a| a.parse::<usize>().unwrap());
    let (n, rounds) = (args.next().unwrap_or(2000), args.next().unwrap_or(5));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(serve(listener));
    let url = format!("http://127.0.0.1:{port}/page");

    let plain = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut s = FetchSettings::default();
    s.allow_ports.push(port);
    s.allow.cidrs = vec!["127.0.0.1/32".into()];
    let fetcher = Fetcher::new(s).unwrap();

    let (mut p_times, mut f_times) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let t = Instant::now();
        for _ in 0..n {
            let body = plain.get(&url).send().await.unwrap().bytes().await.unwrap();
            assert_eq!(body.len(), 1024);
        }
        p_times.push(t.elapsed() / n as u32);
        let t = Instant::now();
        for _ in 0..n {
            let r = fetcher.fetch(FetchRequest::get(url.clone())).await.unwrap();
            assert_eq!(r.body.len(), 1024);
        }
        f_times.push(t.elapsed() / n as u32);
    }
    let (p, f) = (median(p_times), median(f_times));
    println!("requests/round {n}, rounds {rounds}");
    println!("plain reqwest: {p:?}/request (median of rounds)");
    println!("fetcher:       {f:?}/request (median of rounds)");
    println!(
        "added:         {:?}/request, ratio {:.2}",
        f.saturating_sub(p),
        f.as_secs_f64() / p.as_secs_f64()
    );
}
