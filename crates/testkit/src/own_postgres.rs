//! A PostgreSQL cluster a test owns (initdb into a temporary directory, a free port), to stop
//! and restart at will without touching the shared server.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Where the PostgreSQL server binaries are (`PALISADE_TEST_PG_BIN`, default
/// `/usr/lib/postgresql/15/bin`).
fn bin(name: &str) -> PathBuf {
    let dir = std::env::var("PALISADE_TEST_PG_BIN")
        .unwrap_or_else(|_| "/usr/lib/postgresql/15/bin".into());
    PathBuf::from(dir).join(name)
}

/// A private PostgreSQL cluster (trust auth, user `postgres`, fsync on); stopped and deleted
/// on drop. Run as root it runs the server as the `postgres` system user (PostgreSQL refuses
/// root).
pub struct OwnPostgres {
    dir: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl OwnPostgres {
    /// Initialises and starts a cluster on a free port; without the binaries it skips loudly
    /// (`None`) or, under CI, panics.
    pub fn start_or_skip(test: &str) -> Option<Self> {
        if !bin("initdb").exists() {
            let why = format!("no {}", bin("initdb").display());
            if crate::backends::in_ci() {
                panic!("{test}: cannot start PostgreSQL ({why}) and CI=true");
            }
            eprintln!("\n!!!!! SKIPPED {test}: cannot start PostgreSQL ({why}) !!!!!\n");
            return None;
        }
        let dir = std::env::temp_dir().join(crate::backends::unique("own_pg"));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let as_postgres = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout == b"0\n");
        let pg = Self {
            dir,
            port: crate::own_redis::OwnRedis::free_port(),
            as_postgres,
        };
        if as_postgres {
            let ok = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&pg.dir)
                .status();
            assert!(
                ok.is_ok_and(|s| s.success()),
                "chown of the cluster directory"
            );
        }
        let data = pg.data();
        pg.run(
            "initdb",
            &["-D", &data, "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        );
        pg.start();
        Some(pg)
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    /// Runs a server binary (as `postgres` when root), asserting it succeeds.
    fn run(&self, name: &str, args: &[&str]) {
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(bin(name));
            c
        } else {
            Command::new(bin(name))
        };
        let out = cmd
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .expect("run a PostgreSQL binary");
        assert!(
            out.status.success(),
            "{name} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts the server and waits until it accepts connections.
    pub fn start(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=100",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("log").display().to_string();
        self.run(
            "pg_ctl",
            &["-D", &self.data(), "-o", &opts, "-l", &log, "-w", "start"],
        );
    }

    /// Stops the server: `fast` (rolls back open transactions, like a restart) or
    /// `immediate` (like a crash: recovery from the WAL at the next start).
    pub fn stop(&self, mode: &str) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", mode, "-w", "stop"]);
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Waits (up to `within`) until the port accepts connections again.
    pub async fn wait_ready(&self, within: Duration) {
        let end = std::time::Instant::now() + within;
        while std::time::Instant::now() < end {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("PostgreSQL on {} did not start", self.port);
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(bin("pg_ctl"));
            c
        } else {
            Command::new(bin("pg_ctl"))
        };
        let _ = cmd
            .args(["-D", &self.data(), "-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
