//! The `palisade` command line: serve, migrate, check-config, version.

use clap::{Parser, Subcommand};
use palisade_server::config::{Config, Overrides};
use std::path::PathBuf;
use std::process::ExitCode;

/// Palisade: the security and reliability layer of a multi-tenant SaaS backend.
#[derive(Parser)]
#[command(name = "palisade", version)]
struct Cli {
    /// Configuration file (default: ./palisade.toml when present).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Directory of the embedded default's files [env: PALISADE_DATA_DIR] [default: ./palisade-data].
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API.
    Serve {
        /// Address to listen on [env: PALISADE_LISTEN] [default: 127.0.0.1:8080].
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Validate the configuration, printing every error at once.
    CheckConfig,
    /// Print the version.
    Version,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let listen = match &cli.command {
        Command::Serve { listen } => listen.clone(),
        _ => None,
    };
    let overrides = Overrides {
        listen,
        data_dir: cli.data_dir.clone(),
    };
    if let Command::Version = cli.command {
        println!("palisade {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let cfg = match Config::load(cli.config.as_deref(), &overrides) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("palisade: {e}");
            return ExitCode::from(2);
        }
    };
    let file = Config::file_loaded(cli.config.as_deref());
    if let Command::CheckConfig = cli.command {
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
            tracing::error!(error = %e, "palisade stopped");
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
    let stores = palisade_server::stores::Stores::open(&cfg)
        .await
        .map_err(|e| format!("opening stores: {e}"))?;
    stores
        .migrate()
        .await
        .map_err(|e| format!("migrating: {e}"))?;
    stores.close().await;
    println!("migrations applied");
    Ok(())
}
