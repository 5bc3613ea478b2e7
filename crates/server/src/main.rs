//! The `palisade` command line: serve, migrate, check-config, version.

use clap::{Args, Parser, Subcommand};
use palisade_server::config::{Config, Overrides};
use std::path::PathBuf;
use std::process::ExitCode;

/// mimalloc instead of the system allocator: a request allocates many small objects, and
/// glibc's malloc/free took ~20 % of a rate-limit check's CPU in a profile.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Where every setting is described.
const SETTINGS: &str = "Settings: every key of docs/configuration.md, from defaults, then \
    --config FILE (or ./palisade.toml in the working directory), then PALISADE_* environment \
    variables (`__` between sections: PALISADE_STORAGE__URL), then the flags above.";

/// Palisade: the security and reliability layer of a multi-tenant SaaS backend.
#[derive(Parser)]
#[command(name = "palisade", version, after_help = SETTINGS)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the configuration comes from.
#[derive(Args, Clone)]
struct ConfigArgs {
    /// Configuration file (default: ./palisade.toml when present).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Directory of the embedded default's files [env: PALISADE_DATA_DIR] [default: ./palisade-data].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API.
    #[command(after_help = SETTINGS)]
    Serve {
        /// Address to listen on [env: PALISADE_LISTEN] [default: 127.0.0.1:8080].
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
        #[command(flatten)]
        source: ConfigArgs,
    },
    /// Apply database migrations, say which, and exit.
    #[command(after_help = SETTINGS)]
    Migrate {
        #[command(flatten)]
        source: ConfigArgs,
    },
    /// Validate the configuration, printing every error at once.
    #[command(
        after_help = "Exit status: 0 when the configuration is valid (its summary is \
        printed, without credentials), 2 when any error is found (each printed on stderr).\n\n\
        Settings: every key of docs/configuration.md."
    )]
    CheckConfig {
        #[command(flatten)]
        source: ConfigArgs,
    },
    /// Print the version.
    Version,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (source, listen) = match &cli.command {
        Command::Serve { listen, source } => (source.clone(), listen.clone()),
        Command::Migrate { source } | Command::CheckConfig { source } => (source.clone(), None),
        Command::Version => {
            println!("palisade {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
    };
    let overrides = Overrides {
        listen,
        data_dir: source.data_dir.clone(),
    };
    let cfg = match Config::load(source.config.as_deref(), &overrides) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("palisade: {e}");
            return ExitCode::from(2);
        }
    };
    let file = Config::file_loaded(source.config.as_deref());
    if let Command::CheckConfig { .. } = cli.command {
        print!(
            "{}",
            palisade_server::config::summary(&cfg, file.as_deref())
        );
        return ExitCode::SUCCESS;
    }
    match &file {
        Some(f) => eprintln!("palisade: configuration file {}", f.display()),
        None => eprintln!("palisade: no configuration file (defaults and PALISADE_* environment)"),
    }
    palisade_server::telemetry::init(&cfg.log.level, cfg.log.format);
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let result = rt.block_on(async {
        match cli.command {
            Command::Serve { .. } => serve(cfg).await,
            _ => migrate(cfg).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Once, for people; the log line above it (if any) is the cause in context.
            eprintln!("palisade: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(cfg: Config) -> Result<(), String> {
    let stop = palisade_server::serve::signal();
    let running = palisade_server::serve::start(cfg).await?;
    let url = format!("http://{}", running.addr);
    let metrics = match running.metrics_addr {
        Some(a) => format!("http://{a}/metrics"),
        None => format!("{url}/metrics with the operator key"),
    };
    tracing::info!(api = %format!("{url}/v1"), metrics = %metrics,
        openapi = %format!("{url}/openapi.json"), "palisade ready");
    println!(
        "palisade ready on {url} (api {url}/v1, metrics {metrics}, openapi {url}/openapi.json)"
    );
    stop.await;
    tracing::info!("shutdown requested; draining");
    let drained = running.shutdown().await;
    tracing::info!(drained, "shutdown complete");
    Ok(())
}

async fn migrate(cfg: Config) -> Result<(), String> {
    let stores = palisade_server::stores::Stores::open(&cfg).await?;
    let applied = stores
        .migrate()
        .await
        .map_err(|e| format!("migrating: {e}"))?;
    stores.close().await;
    match applied.len() {
        0 => println!("migrations: up to date (nothing to apply)"),
        n => println!("migrations: applied {n}: {}", applied.join(", ")),
    }
    Ok(())
}
