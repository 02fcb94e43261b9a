//! The binary: parse the command line, set up logging and signals, run, exit with the
//! code that says how it went.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use helpcrunch_import::cli::{Cli, LogFormat};
use helpcrunch_import::error::{EXIT_STOPPED, exit_code};
use helpcrunch_import::{logging, progress};
use tokio_util::sync::CancellationToken;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let bar = progress::use_bar(cli.log_format == LogFormat::Json);
    logging::init(cli.verbose, cli.log_format, bar);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("helpcrunch-import: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_STOPPED);
        }
    };
    let result = runtime.block_on(async {
        let shutdown = CancellationToken::new();
        tokio::spawn(cancel_on_signal(shutdown.clone()));
        helpcrunch_import::run(&cli, bar, shutdown).await
    });
    if let Err(error) = &result {
        tracing::error!("{error}");
    }
    // A reader blocked on stdin must not hold the exit.
    runtime.shutdown_timeout(Duration::from_secs(1));
    ExitCode::from(exit_code(&result))
}

/// Cancels `shutdown` on SIGINT or SIGTERM; every task watches it.
async fn cancel_on_signal(shutdown: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut term) = signal(SignalKind::terminate()) else {
            return;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::warn!("stopping: letting requests in flight finish, then writing results");
    shutdown.cancel();
}
