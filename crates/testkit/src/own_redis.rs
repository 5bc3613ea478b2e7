//! A redis-server a test owns (free port, no persistence), to stop and restart at will.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A private redis-server child process; killed on drop. Never touches the shared Redis.
pub struct OwnRedis {
    child: Child,
    port: u16,
}

impl OwnRedis {
    /// Starts redis-server on `port`; without a `redis-server` binary it skips loudly
    /// (`None`) or, under CI, panics.
    pub fn start_or_skip(test: &str, port: u16) -> Option<Self> {
        let spawned = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        match spawned {
            Ok(child) => Some(Self { child, port }),
            Err(e) if crate::backends::in_ci() => {
                panic!("{test}: cannot start redis-server ({e}) and CI=true")
            }
            Err(e) => {
                eprintln!("\n!!!!! SKIPPED {test}: cannot start redis-server ({e}) !!!!!\n");
                None
            }
        }
    }

    /// A free TCP port on 127.0.0.1 (for [`OwnRedis::start_or_skip`]).
    pub fn free_port() -> u16 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0");
        l.local_addr().expect("local addr").port()
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Waits (up to 4 s) until the server accepts connections.
    pub async fn wait_ready(&self) {
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("redis-server on {} did not start", self.port);
    }

    /// Kills the server (SIGKILL) and reaps it.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}
