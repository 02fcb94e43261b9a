//! Logs on stderr: human text (beside a progress bar that they must not tear) or one
//! JSON object per line for cron and log collectors.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::cli::LogFormat;

/// Installs the global subscriber. `bar`: route log lines through the progress bar's
/// writer so they print above it. `RUST_LOG` overrides the level from `-v`.
pub fn init(verbose: u8, format: LogFormat, bar: bool) {
    let level = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    // Our own crate at `level`; dependencies stay at warn unless RUST_LOG says otherwise.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("warn,helpcrunch_import={level}")));
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr),
            )
            .try_init(),
        LogFormat::Text if bar => {
            let indicatif = tracing_indicatif::IndicatifLayer::new();
            registry
                .with(
                    tracing_subscriber::fmt::layer()
                        .with_target(false)
                        .without_time()
                        .with_writer(indicatif.get_stderr_writer()),
                )
                .with(indicatif)
                .try_init()
        }
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_target(false)
                    .with_ansi(std::io::stderr().is_terminal())
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
    // A second init (tests) keeps the first subscriber.
    drop(result);
}
