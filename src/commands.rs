//! The subcommands: resolve the config, set up the parts, run.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::cli::{Cli, Command, LimitKind, SandboxArgs};
use crate::client::{ApiKey, Client};
use crate::config::{Config, ProcessEnv, SendConfig, Target};
use crate::deliver::{Courier, IndexPolicy, IndexReport, Outage, Refusals, Sync, Verifier};
use crate::error::{Ending, RunError};
use crate::ledger::{Begin, Ledger};
use crate::limiter::Limiter;
use crate::mapping::Mapper;
use crate::pipeline::{Display, Run, Sink, preflight};
use crate::planning::{PlanSummary, Planner, human_duration};
use crate::progress::Counters;
use crate::rate::Rate;
use crate::report::RunKind;
use crate::resume::ResumeHint;
use crate::sandbox::{Limit, Sandbox, SandboxConfig};
use crate::shutdown::Shutdown;
use crate::source::{Input, count_rows};
use crate::state::{IndexStatus, State};

/// How often progress is logged when there is no bar.
const LOG_EVERY: Duration = Duration::from_secs(10);
/// The limit of the emulator that `import --sandbox` starts: the documented 120/min, with a
/// little burst so network jitter alone never trips it.
const REHEARSAL_LIMIT: Limit = Limit::TokenBucket {
    rate: Rate::HELPCRUNCH_DEFAULT,
    burst: 5,
};

/// Runs `cli`'s command until it ends or `shutdown` is cancelled. `bar`: draw a progress
/// bar (stderr is a terminal and logs are text). `resume` learns how to resume the run
/// once it has a ledger, for `main` to print if a second signal ends it at once.
pub async fn run(
    cli: &Cli,
    bar: bool,
    shutdown: CancellationToken,
    resume: &ResumeHint,
) -> Result<Ending, RunError> {
    let display = Display {
        bar,
        log_every: LOG_EVERY,
        print: true,
        planned_requests: None,
    };
    match &cli.command {
        Command::Import(args) => {
            let config = Config::for_import(args, &ProcessEnv)?;
            if config.send.is_some() {
                import(config, display, shutdown, RunKind::Import, resume).await
            } else {
                dry_run(config, display, shutdown).await
            }
        }
        Command::Validate(args) => dry_run(Config::for_validate(args)?, display, shutdown).await,
        Command::Plan(args) => plan(Config::for_plan(args, &ProcessEnv)?, display, shutdown).await,
        Command::Undo(args) => {
            let config = crate::config::UndoConfig::resolve(args, &ProcessEnv)?;
            crate::undo::undo(config, Shutdown::new(&shutdown)).await
        }
        Command::Sandbox(args) => sandbox(args, shutdown).await,
        Command::Init(args) => {
            let input = Input::resolve(&args.file, args.text.format, args.text.options())?;
            print!("{}", crate::init::init(&input, args.rows.max(1))?);
            Ok(Ending::AllSucceeded)
        }
    }
}

/// `validate` (and `import --dry-run`): CPU-bound. Its in-order stages (the repeat check
/// and the results) share one thread, where handing a batch on wakes no other thread;
/// the reader and the mapping threads are its blocking pool, bounded to one a core.
async fn dry_run(
    config: Config,
    display: Display,
    shutdown: CancellationToken,
) -> Result<Ending, RunError> {
    let on_one_thread = move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            // The reader, and the threads that map rows.
            .max_blocking_threads(crate::pipeline::mapping_threads() + 1)
            .enable_all()
            .build()
            .map_err(|e| RunError::Internal(format!("cannot start the runtime: {e}")))?;
        // A dry run keeps no ledger, so there is nothing to resume.
        let resume = ResumeHint::default();
        let ending = runtime.block_on(import(
            config,
            display,
            shutdown,
            RunKind::Validate,
            &resume,
        ));
        // A reader blocked on stdin must not hold the exit.
        runtime.shutdown_timeout(Duration::from_secs(1));
        ending
    };
    tokio::task::spawn_blocking(on_one_thread)
        .await
        .map_err(|e| RunError::Internal(format!("the dry run failed: {e}")))?
}

async fn import(
    config: Config,
    display: Display,
    signal: CancellationToken,
    kind: RunKind,
    resume: &ResumeHint,
) -> Result<Ending, RunError> {
    let started = std::time::Instant::now();
    let counters = Arc::new(Counters::default());
    let shutdown = Shutdown::new(&signal);
    let mapper = Mapper::new(config.mapping.as_ref())?;
    preflight(&config.inputs, &mapper)?;
    let Some(send) = config.send.clone() else {
        return Run::new(config, mapper, Sink::Check, counters, shutdown, display)
            .execute(kind)
            .await;
    };
    let send = &send;
    // The state first: a run that finds it locked stops before it touches anything.
    let mut sync = open_state(send).await?;
    let ledger = open_ledger(&config, send).await?;
    if let (Some(_), Some(path)) = (&sync, &send.state) {
        let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
        ledger.uses_state(path.display().to_string()).await?;
    }
    if let (Some(sync), Some(_)) = (&mut sync, &send.missing) {
        // The directory as the ledger made it, so `out` and `./out/` are one run.
        let out = std::fs::canonicalize(&config.out_dir)
            .unwrap_or_else(|_| config.out_dir.clone())
            .display()
            .to_string();
        let resume = matches!(send.begin, Begin::Resume { .. });
        sync.run = Some(sync.state.begin_run(out, resume).await?);
    }
    resume.set(&config.out_dir);
    let (target, rehearsal) = connect(&send.target).await?;
    let mut courier = courier(
        send,
        &target,
        counters.clone(),
        shutdown.clone(),
        Some(ledger.clone()),
        sync,
    )?;
    let index = prepare_index(&mut courier, send, &config.inputs).await?;
    // What the run will do and cost, for the progress bar and the summary: made when the
    // inputs can be read twice, and the run is not a resume (which skips finished rows).
    let plannable = send.begin == Begin::Fresh && config.inputs.iter().all(|i| i.path.is_some());
    let plan = if plannable && !shutdown.is_stopping() {
        plan_first(
            &config,
            send,
            &mapper,
            // A plan marks no contact met: the run does.
            courier.sync.clone().map(|sync| Sync { run: None, ..sync }),
            &shutdown,
        )
        .await?
    } else {
        None
    };
    let display = Display {
        planned_requests: plan.as_ref().map(|plan| plan.requests),
        ..display
    };
    let courier = Arc::new(courier);
    let out_dir = config.out_dir.clone();
    let mut run = Run::new(
        config,
        mapper,
        Sink::Send(courier.clone()),
        counters,
        shutdown,
        display,
    );
    run.ledger = Some(ledger);
    run.resume_command = resume.command().map(String::from);
    run.max_failures = send.max_failures;
    run.index = index;
    run.plan = plan;
    run.started = started;
    let mut ending = run.execute(kind).await;
    // A finished run knows which contacts left the export.
    if let (Ok(finished @ (Ending::AllSucceeded | Ending::SomeFailed)), Some(policy)) =
        (&ending, &send.missing)
    {
        let finished = *finished;
        ending = match contacts_that_left(&courier, policy, send, &out_dir).await? {
            Some(Ending::Interrupted) => match courier.shutdown.take_error() {
                Some(error) => Err(error),
                None => Ok(Ending::Interrupted),
            },
            Some(Ending::SomeFailed) => Ok(Ending::SomeFailed),
            _ => Ok(finished),
        };
    }
    if let Some(sandbox) = rehearsal {
        sandbox.shutdown().await;
    }
    ending
}

/// After a finished sync: the contacts that left the export, handled as `--missing`
/// says; how that ended, when it changes the run's ending (see
/// [`crate::missing::MissingReport::ending`]).
async fn contacts_that_left(
    courier: &Courier,
    policy: &crate::missing::Missing,
    send: &SendConfig,
    out_dir: &std::path::Path,
) -> Result<Option<Ending>, RunError> {
    let Some(sync) = &courier.sync else {
        return Ok(None);
    };
    let Some(run) = sync.run else {
        return Ok(None);
    };
    let invalid = crate::ledger::invalid_rows(out_dir)?;
    let report = crate::missing::handle(
        courier,
        sync,
        run,
        &invalid,
        policy,
        send.max_missing,
        out_dir,
    )
    .await?;
    crate::missing::add_to_summary(out_dir, &report).map_err(|source| RunError::Output {
        dir: out_dir.to_path_buf(),
        source,
    })?;
    Ok(report.ending())
}

/// The plan an import makes before it sends: every row compared with the state, nothing
/// sent. Written as `plan.json` and `plan.csv` into the run's directory.
async fn plan_first(
    config: &Config,
    send: &SendConfig,
    mapper: &Mapper,
    sync: Option<Sync>,
    shutdown: &Shutdown,
) -> Result<Option<PlanSummary>, RunError> {
    let planner = Planner {
        mode: send.mode,
        sync,
        verify: send.verify,
        rate: send.rate,
        index_requests: 0,
    };
    let display = Display {
        bar: false,
        log_every: LOG_EVERY,
        print: false,
        planned_requests: None,
    };
    let planning = Run::new(
        config.clone(),
        mapper.clone(),
        Sink::Plan(Arc::new(planner)),
        Arc::new(Counters::default()),
        shutdown.clone(),
        display,
    );
    planning.execute(RunKind::Plan).await?;
    let plan = PlanSummary::read(&config.out_dir);
    if let Some(plan) = &plan {
        tracing::info!(
            "plan: {}, {} at {}",
            crate::planning::count(plan.requests, "request"),
            human_duration(plan.duration_secs),
            plan.rate
        );
    }
    Ok(plan)
}

/// `plan`: what an import would do with every row, and cost, sending nothing (unless
/// `--index always` lists the account first).
async fn plan(
    config: Config,
    display: Display,
    signal: CancellationToken,
) -> Result<Ending, RunError> {
    let shutdown = Shutdown::new(&signal);
    let mapper = Mapper::new(config.mapping.as_ref())?;
    preflight(&config.inputs, &mapper)?;
    let Some(send) = &config.send else {
        return Err(RunError::Internal("a plan needs an import's config".into()));
    };
    let mut sync = open_state(send).await?;
    let mut index_requests = 0;
    if let Some(sync) = &mut sync {
        match send.index {
            IndexPolicy::Never => {}
            IndexPolicy::Always => {
                let (target, rehearsal) = connect(&send.target).await?;
                let counters = Arc::new(Counters::default());
                let courier = courier(send, &target, counters, shutdown.clone(), None, None)?;
                let report = courier
                    .prepare_index(&sync.state, IndexPolicy::Always, None)
                    .await?;
                if let Some(sandbox) = rehearsal {
                    sandbox.shutdown().await;
                }
                // Asked for, and not had: a plan without it would answer another question.
                if report.index != "listed" {
                    if shutdown.is_stopping() && !shutdown.has_failed() {
                        return Ok(Ending::Interrupted);
                    }
                    return Err(shutdown.take_error().unwrap_or_else(|| {
                        RunError::Config(
                            "the account could not be listed (--index always): nothing planned; the log says why, and the next listing goes on where this one stopped".into(),
                        )
                    }));
                }
                sync.index = true;
                index_requests = report.requests;
            }
            IndexPolicy::Auto => match sync.state.index_status().await? {
                IndexStatus::Complete { .. } => sync.index = true,
                _ => tracing::info!(
                    "the state holds no account index: an import (--index auto) may list the account first, and find rows HelpCrunch holds already; plan --index always lists it now"
                ),
            },
        }
    }
    let planner = Planner {
        mode: send.mode,
        sync,
        verify: send.verify,
        rate: send.rate,
        index_requests,
    };
    let counters = Arc::new(Counters::default());
    Run::new(
        config,
        mapper,
        Sink::Plan(Arc::new(planner)),
        counters,
        shutdown,
        display,
    )
    .execute(RunKind::Plan)
    .await
}

/// Where requests go: the API, or a rehearsal's emulator started now (returned, to be
/// shut down at the end).
async fn connect(target: &Target) -> Result<((String, ApiKey), Option<Sandbox>), RunError> {
    match target {
        Target::Api { base_url, key } => Ok(((base_url.clone(), key.clone()), None)),
        Target::Sandbox { seed } => {
            let sandbox = start_rehearsal(seed.as_deref()).await?;
            let url = sandbox.base_url();
            let key = ApiKey::new("sandbox").map_err(RunError::Config)?;
            Ok(((url, key), Some(sandbox)))
        }
        Target::Offline { .. } => Err(RunError::Internal(
            "an offline plan sends nothing (a bug: please report it)".into(),
        )),
    }
}

/// Opens the run's ledger (fingerprinting every input, which reads them once) off the
/// async threads.
async fn open_ledger(config: &Config, send: &SendConfig) -> Result<Ledger, RunError> {
    let (dir, inputs, target, begin) = (
        config.out_dir.clone(),
        config.inputs.clone(),
        send.target.label(),
        send.begin,
    );
    let (ledger, warnings) =
        tokio::task::spawn_blocking(move || Ledger::open(&dir, &inputs, &target, begin))
            .await
            .map_err(|e| RunError::Internal(format!("opening the ledger failed: {e}")))??;
    for warning in warnings {
        tracing::warn!("{warning}");
    }
    if let Begin::Resume { .. } = send.begin {
        tracing::info!(
            "resuming the run in {} (pass {})",
            config.out_dir.display(),
            ledger.pass()
        );
    }
    Ok(ledger)
}

fn courier(
    send: &SendConfig,
    (base_url, key): &(String, ApiKey),
    counters: Arc<Counters>,
    shutdown: Shutdown,
    ledger: Option<Ledger>,
    sync: Option<Sync>,
) -> Result<Courier, RunError> {
    counters.set_rate(send.rate.per_second());
    Ok(Courier {
        client: Client::new(base_url, key, send.timeouts, send.concurrency)
            .map_err(RunError::Config)?,
        limiter: Limiter::new(send.rate),
        retry: send.retry,
        concurrency: send.concurrency,
        counters,
        shutdown,
        ledger,
        verifier: Verifier::new(send.verify),
        refusals: Refusals::new(send.fail_fast),
        outage: Outage::new(send.retry.unreachable, base_url),
        sync,
    })
}

/// Lists the account into the state's index, or takes the one it holds, as `--index`
/// says; the courier's sync then uses it. None without a state.
async fn prepare_index(
    courier: &mut Courier,
    send: &SendConfig,
    inputs: &[Input],
) -> Result<Option<IndexReport>, RunError> {
    let Some(sync) = &courier.sync else {
        return Ok(None);
    };
    let unknown_rows = if send.index == IndexPolicy::Auto {
        let counted = inputs.to_vec();
        let rows = tokio::task::spawn_blocking(move || count_rows(&counted))
            .await
            .map_err(|e| RunError::Internal(format!("counting the rows failed: {e}")))?;
        let known = sync.state.contacts().await?;
        rows.map(|rows| rows.saturating_sub(known))
    } else {
        None
    };
    let report = courier
        .prepare_index(&sync.state, send.index, unknown_rows)
        .await?;
    if let Some(sync) = &mut courier.sync {
        sync.index = matches!(report.index, "listed" | "used");
    }
    Ok(Some(report))
}

/// Opens and locks the sync state of `--mode upsert|update`, off the async threads.
async fn open_state(send: &SendConfig) -> Result<Option<Sync>, RunError> {
    let Some(path) = send.state.clone() else {
        return Ok(None);
    };
    let state = State::open_async(path, send.target.label()).await?;
    Ok(Some(Sync {
        mode: send.mode,
        state,
        collections: send.collections,
        index: false,
        run: None,
    }))
}

async fn start_rehearsal(seed: Option<&std::path::Path>) -> Result<Sandbox, RunError> {
    let seed_contacts = match seed {
        Some(path) => crate::sandbox::read_seed(path).map_err(RunError::Sandbox)?,
        None => Vec::new(),
    };
    let config = SandboxConfig {
        limit: Some(REHEARSAL_LIMIT),
        seed_contacts,
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
    // Started (its config and seed contacts checked) before a line says it listens.
    let sandbox = Sandbox::start(config, addr)
        .await
        .map_err(RunError::Sandbox)?;
    let local = sandbox.addr();
    // Printed on stdout so a script can read the port it got with --port 0.
    println!("sandbox listening on http://{local}/v1 (stats: http://{local}/sandbox/stats)");
    shutdown.cancelled().await;
    sandbox.shutdown().await;
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
        retry_after: args.retry_after,
        error_rate: share("error-rate", args.error_rate)?,
        drop_rate: share("drop-rate", args.drop_rate)?,
        latency: Duration::from_millis(args.latency_ms),
        seed: args.seed,
        custom_attributes: args.custom_attributes.as_ref().map(|names| {
            names
                .iter()
                .map(|name| name.trim())
                .filter(|name| !name.is_empty())
                .map(String::from)
                .collect()
        }),
        unknown_attribute: args.unknown_attribute,
        search_empty: args.search_empty,
        patch_collections: args.patch_collections,
        search_delay: Duration::from_millis(args.search_delay_ms),
        other_client_rps: args.other_client_rps,
        seed_contacts: match &args.seed_contacts {
            Some(path) => crate::sandbox::read_seed(path)
                .map_err(|e| RunError::Config(format!("--seed-contacts: {e}")))?,
            None => Vec::new(),
        },
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::sandbox::{PatchCollections, RetryAfterMode, SearchEmpty, UnknownAttribute};

    fn config(args: &[&str]) -> SandboxConfig {
        let all = ["helpcrunch-import", "sandbox"].iter().chain(args);
        let cli = Cli::try_parse_from(all).expect("valid flags");
        let Command::Sandbox(args) = &cli.command else {
            panic!("not the sandbox command");
        };
        sandbox_config(args).expect("a valid config")
    }

    #[test]
    fn sandbox_flags_become_the_config() {
        let config = config(&[
            "--custom-attributes",
            "plan, Seats Used,,",
            "--unknown-attribute",
            "drop",
            "--search-empty",
            "404",
            "--patch-collections",
            "merge",
            "--search-delay-ms",
            "2000",
            "--other-client-rps",
            "0.5",
            "--retry-after",
            "seconds",
        ]);
        assert_eq!(
            config.custom_attributes,
            Some(vec!["plan".to_string(), "Seats Used".to_string()])
        );
        assert_eq!(config.unknown_attribute, UnknownAttribute::Drop);
        assert_eq!(config.search_empty, SearchEmpty::NotFound);
        assert_eq!(config.patch_collections, PatchCollections::Merge);
        assert_eq!(config.search_delay, Duration::from_secs(2));
        assert_eq!(config.other_client_rps, 0.5);
        assert_eq!(config.retry_after, RetryAfterMode::Seconds);
    }

    #[test]
    fn sandbox_seed_contacts_are_read_from_the_file_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("seed.ndjson");
        std::fs::write(&path, "{\"userId\": \"s1\"}\n\n{\"userId\": \"s2\"}\n").expect("write");
        let file = path.to_string_lossy().into_owned();
        assert_eq!(config(&["--seed-contacts", &file]).seed_contacts.len(), 2);
        std::fs::write(&path, "{\"userId\": \"s1\"}\nnot json\n").expect("write");
        let cli = Cli::try_parse_from(["helpcrunch-import", "sandbox", "--seed-contacts", &file])
            .expect("valid flags");
        let Command::Sandbox(args) = &cli.command else {
            panic!("not the sandbox command");
        };
        let error = sandbox_config(args).err().map(|e| e.to_string());
        assert!(
            error
                .as_deref()
                .is_some_and(|e| e.starts_with("--seed-contacts: ") && e.contains("line 2")),
            "{error:?}"
        );
    }

    #[test]
    fn sandbox_defaults_are_the_config_defaults() {
        let flags = config(&[]);
        let defaults = SandboxConfig::default();
        assert_eq!(format!("{flags:?}"), format!("{defaults:?}"));
    }
}
