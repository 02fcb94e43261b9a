//! The subcommands: resolve the config, set up the parts, run.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::cli::{Cli, Command, LimitKind, SandboxArgs};
use crate::client::{ApiKey, Client};
use crate::config::{Config, ProcessEnv, SendConfig, Target};
use crate::deliver::Sender;
use crate::error::{Ending, Fatal, RunError};
use crate::limiter::Limiter;
use crate::mapping::Mapper;
use crate::pipeline::{Display, Run};
use crate::progress::Counters;
use crate::rate::Rate;
use crate::sandbox::{Limit, Sandbox, SandboxConfig};
use crate::source::{Input, TextOptions};

/// How often progress is logged when there is no bar.
const LOG_EVERY: Duration = Duration::from_secs(10);
/// The limit of the emulator that `import --sandbox` starts: the documented 120/min, with a
/// little burst so network jitter alone never trips it.
const REHEARSAL_LIMIT: Limit = Limit::TokenBucket {
    rate: Rate::HELPCRUNCH_DEFAULT,
    burst: 5,
};

/// Runs `cli`'s command until it ends or `shutdown` is cancelled. `bar`: draw a progress
/// bar (stderr is a terminal and logs are text).
pub async fn run(cli: &Cli, bar: bool, shutdown: CancellationToken) -> Result<Ending, RunError> {
    let display = Display {
        bar,
        log_every: LOG_EVERY,
    };
    match &cli.command {
        Command::Import(args) => {
            let config = Config::for_import(args, &ProcessEnv)?;
            if config.send.is_some() {
                import(config, display, shutdown, "import").await
            } else {
                dry_run(config, display, shutdown).await
            }
        }
        Command::Validate(args) => dry_run(Config::for_validate(args)?, display, shutdown).await,
        Command::Sandbox(args) => sandbox(args, shutdown).await,
        Command::Init(args) => {
            let text = TextOptions {
                delimiter: args.delimiter,
                encoding: args.encoding,
            };
            let input = Input::resolve(&args.file, args.format, text)?;
            print!("{}", crate::init::init(&input, args.rows.max(1))?);
            Ok(Ending::AllSucceeded)
        }
    }
}

/// `validate` (and `import --dry-run`): CPU-bound, so its stages share one thread (the
/// reader has its own), where handing a row from one stage to the next wakes no other
/// thread: twice as fast as on the multi-threaded runtime.
async fn dry_run(
    config: Config,
    display: Display,
    shutdown: CancellationToken,
) -> Result<Ending, RunError> {
    let on_one_thread = move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| RunError::Config(format!("cannot start the runtime: {e}")))?;
        let ending = runtime.block_on(import(config, display, shutdown, "validate"));
        // A reader blocked on stdin must not hold the exit.
        runtime.shutdown_timeout(Duration::from_secs(1));
        ending
    };
    tokio::task::spawn_blocking(on_one_thread)
        .await
        .map_err(|e| RunError::Config(format!("the dry run failed: {e}")))?
}

async fn import(
    config: Config,
    display: Display,
    shutdown: CancellationToken,
    command: &'static str,
) -> Result<Ending, RunError> {
    let counters = Arc::new(Counters::default());
    let stop = shutdown.child_token();
    let fatal = Fatal::default();
    let mut rehearsal = None;
    let sender = match &config.send {
        None => None,
        Some(send) => {
            let (base_url, key) = match &send.target {
                Target::Api { base_url, key } => (base_url.clone(), key.clone()),
                Target::Sandbox => {
                    let sandbox = start_rehearsal().await?;
                    let url = sandbox.base_url();
                    rehearsal = Some(sandbox);
                    (url, ApiKey::new("sandbox").map_err(RunError::Config)?)
                }
            };
            Some(Arc::new(sender(
                send,
                &base_url,
                &key,
                counters.clone(),
                stop.clone(),
                fatal.clone(),
            )?))
        }
    };
    let run = Run {
        mapper: Mapper::new(config.mapping.as_ref())?,
        inputs: config.inputs,
        out_dir: config.out_dir,
        sender,
        counters,
        stop,
        fatal,
        display,
    };
    run.preflight()?;
    let ending = run.execute(command).await;
    if let Some(sandbox) = rehearsal {
        sandbox.shutdown().await;
    }
    ending
}

fn sender(
    send: &SendConfig,
    base_url: &str,
    key: &ApiKey,
    counters: Arc<Counters>,
    stop: CancellationToken,
    fatal: Fatal,
) -> Result<Sender, RunError> {
    Ok(Sender {
        client: Client::new(base_url, key, send.timeouts, send.concurrency)
            .map_err(RunError::Config)?,
        limiter: Limiter::new(send.rate),
        retry: send.retry,
        concurrency: send.concurrency,
        counters,
        stop,
        fatal,
    })
}

async fn start_rehearsal() -> Result<Sandbox, RunError> {
    let config = SandboxConfig {
        limit: Some(REHEARSAL_LIMIT),
        ..SandboxConfig::default()
    };
    let sandbox = Sandbox::start(config, SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .map_err(RunError::Sandbox)?;
    tracing::info!(
        "rehearsal: importing into the built-in sandbox at {} (limit 120/min)",
        sandbox.base_url()
    );
    Ok(sandbox)
}

async fn sandbox(args: &SandboxArgs, shutdown: CancellationToken) -> Result<Ending, RunError> {
    let config = sandbox_config(args)?;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, args.port));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(RunError::Sandbox)?;
    let local = listener.local_addr().map_err(RunError::Sandbox)?;
    // Printed on stdout so a script can read the port it got with --port 0.
    println!("sandbox listening on http://{local}/v1 (stats: http://{local}/sandbox/stats)");
    crate::sandbox::serve(listener, config, shutdown)
        .await
        .map_err(RunError::Sandbox)?;
    Ok(Ending::AllSucceeded)
}

fn sandbox_config(args: &SandboxArgs) -> Result<SandboxConfig, RunError> {
    let share = |name: &str, value: f64| {
        if (0.0..=1.0).contains(&value) {
            Ok(value)
        } else {
            Err(RunError::Config(format!(
                "--{name} must be between 0 and 1, not {value}"
            )))
        }
    };
    let limit = args.rate.map(|rate| match args.limit {
        LimitKind::TokenBucket => Limit::TokenBucket {
            rate,
            burst: args.burst.max(1),
        },
        LimitKind::FixedWindow => Limit::FixedWindow {
            max: rate.count,
            window: rate.per,
        },
    });
    Ok(SandboxConfig {
        api_key: args.api_key.clone(),
        limit,
        retry_after: args.retry_after.parse().map_err(|_| {
            RunError::Config(format!(
                "--retry-after must be seconds, date or none, not {:?}",
                args.retry_after
            ))
        })?,
        error_rate: share("error-rate", args.error_rate)?,
        drop_rate: share("drop-rate", args.drop_rate)?,
        latency: Duration::from_millis(args.latency_ms),
        seed: args.seed,
    })
}
