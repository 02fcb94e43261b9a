//! The binary: parse the command line, set up logging and signals, run, exit with the
//! code that says how it went.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use helpcrunch_import::cli::{Cli, LogFormat};
use helpcrunch_import::error::{EXIT_INTERRUPTED, EXIT_STOPPED, exit_code};
use helpcrunch_import::resume::ResumeHint;
use helpcrunch_import::{logging, progress};
use tokio_util::sync::CancellationToken;

/// A row's values are allocated on one thread and freed on another, a dozen a row:
/// mimalloc does that with less contention than the system allocator (validate of
/// 200,000 rows: 0.22 s against 0.26 s). Its v2 (see Cargo.toml), because v3 kept freed
/// pages and peaked at 91 MB on two million rows, against 46 MiB now.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    let resume = ResumeHint::new(std::env::args_os());
    let result = runtime.block_on(async {
        let shutdown = CancellationToken::new();
        let writes = !matches!(cli.command, helpcrunch_import::cli::Command::Sandbox(_));
        tokio::spawn(on_signals(shutdown.clone(), resume.clone(), writes));
        helpcrunch_import::run(&cli, bar, shutdown, &resume).await
    });
    if let Err(error) = &result {
        tracing::error!("{error}");
    }
    // A reader blocked on stdin must not hold the exit.
    runtime.shutdown_timeout(Duration::from_secs(1));
    ExitCode::from(exit_code(&result))
}

/// The first SIGINT or SIGTERM cancels `shutdown`, which every task watches: requests in
/// flight get a few seconds, then results are written. A second one exits at once: the
/// ledger already holds every row's intent, so the run can still be resumed.
async fn on_signals(shutdown: CancellationToken, resume: ResumeHint, writes_results: bool) {
    let Some(mut signals) = Signals::new() else {
        tracing::warn!("cannot watch for Ctrl-C: stopping it will not write results");
        return;
    };
    signals.next().await;
    if writes_results {
        tracing::warn!(
            "stopping: letting requests in flight finish, then writing results (again to exit at once)"
        );
    } else {
        tracing::info!("stopping (again to exit at once)");
    }
    shutdown.cancel();
    signals.next().await;
    match resume.command() {
        Some(command) => eprintln!(
            "helpcrunch-import: stopped at once; rows in flight are in doubt and are looked up on resume. To resume:\n  {command}"
        ),
        None => eprintln!("helpcrunch-import: stopped at once"),
    }
    std::process::exit(i32::from(EXIT_INTERRUPTED));
}

/// SIGINT and SIGTERM, watched from the start to the end, so none is missed between two.
#[cfg(unix)]
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn new() -> Option<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Some(Signals {
            interrupt: signal(SignalKind::interrupt()).ok()?,
            terminate: signal(SignalKind::terminate()).ok()?,
        })
    }

    async fn next(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

/// Ctrl-C alone where there are no Unix signals.
#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn new() -> Option<Signals> {
        Some(Signals)
    }

    async fn next(&mut self) {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
