//! The run: reader → mapper → workers → results, joined by bounded channels.
//!
//! ```text
//! reader (blocking thread) ─records─► mapper ─jobs─► workers ×N ─┐
//!                                     │   └─── invalid rows ──────┴─outcomes─► results task
//!                                     └─ batches mapped on the blocking pool, one a core,
//!                                        taken back in input order
//! ```
//!
//! Rows travel between the reader, the mapper and the results task in batches (a wake-up
//! per batch, not per row); the mapper maps and validates batches in parallel and then,
//! in input order, checks each row against the repeat detector.
//!
//! Completion is signalled by channels closing: the reader ends, the mapper drains and
//! drops the job sender, workers drain and drop their outcome senders, and the results
//! task ends when the last one is gone. Stopping (a signal, or a fatal answer) goes
//! through the run's [`Shutdown`]: the reader stops reading, and every row already read
//! still reaches the results task, as `not_sent` if it was not sent, so every row read is
//! in exactly one result file.
//!
//! The ledger: a worker asks it first what to do with a row (a resumed run keeps the
//! result of a row an earlier pass finished, and looks up one left in doubt), and the
//! row's intent is on disk before its request leaves (see [`crate::deliver`]). The results
//! task records every outcome in the ledger as it writes the result files, and the run
//! checks at the end that the two agree.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::dedupe::{Keyer, Keys, Names, Seen};
use crate::deliver::Courier;
use crate::error::{Ending, RunError};
use crate::ledger::{Ledger, LedgerError};
use crate::mapping::{HeaderPlan, Mapper, SURVEYED_ROWS};
use crate::outcome::{FailStatus, RowOutcome, RowResult};
use crate::payload::CreateCustomer;
use crate::planning::{PLAN_FILE, Planner};
use crate::progress::{Counters, Goal};
use crate::record::{Cells, Origin, Record, RowError, Warning, Warnings};
use crate::report::{Outputs, ResultFiles, RunEnd, RunFacts, RunKind, Summary};
use crate::shutdown::Shutdown;
use crate::source::{Input, Rows, SourceError};

/// Valid rows buffered between the mapper and the workers. Small: it bounds memory, and
/// a slow API must slow the reader, not fill memory.
const CHANNEL_CAPACITY: usize = 256;
/// Records the reader hands the mapper at once, at most: every batch costs a wake-up
/// of another thread or two, which would cost more than the rows in a small one.
const BATCH: usize = 256;
/// Batches waiting in a channel between two stages.
const BATCHES_QUEUED: usize = 2;
/// How long a stopped run waits for the reader to hand over the rows it has read.
const READER_GRACE: Duration = Duration::from_secs(2);
/// How often buffered result rows are written through to disk.
const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// Failed rows logged one by one before the log says "see failed.csv" instead.
const FAILURES_LOGGED: u64 = 20;

/// A row ready to send.
pub struct Job {
    pub record: Record,
    pub payload: CreateCustomer,
    pub warnings: Warnings,
}

/// How the run shows itself while it goes.
#[derive(Debug, Clone, Copy)]
pub struct Display {
    pub bar: bool,
    pub log_every: Duration,
    /// Whether its closing lines are printed (not for the plan an import makes first).
    pub print: bool,
    /// The requests the run is planned to spend, for the progress bar (None: not planned).
    pub planned_requests: Option<u64>,
}

/// What becomes of each valid row.
#[derive(Clone)]
pub enum Sink {
    /// `validate`: it is counted valid; nothing is sent.
    Check,
    /// `plan`: what a run would do with it, and cost; nothing is sent.
    Plan(Arc<Planner>),
    /// `import`: it is sent.
    Send(Arc<Courier>),
}

impl Sink {
    /// The result files it writes; `planned`: an import that made its plan first.
    fn outputs(&self, planned: bool) -> Outputs {
        match self {
            Sink::Check => Outputs::Check,
            Sink::Plan(_) => Outputs::Plan,
            Sink::Send(_) => Outputs::Send { planned },
        }
    }

    /// Rows handled at once.
    fn workers(&self) -> usize {
        match self {
            Sink::Check => 0,
            Sink::Plan(_) => crate::planning::CONCURRENCY,
            Sink::Send(courier) => courier.concurrency,
        }
    }

    /// What becomes of one valid row.
    async fn handle(&self, record: &Record, payload: &CreateCustomer) -> RowResult {
        match self {
            Sink::Check => RowResult::Valid,
            Sink::Plan(planner) => planner
                .plan(payload)
                .await
                .unwrap_or_else(|error| RowResult::failed(FailStatus::Invalid, error.to_string())),
            Sink::Send(courier) => courier.deliver(record, payload).await,
        }
    }
}

/// Everything a run needs besides its inputs.
pub struct Run {
    pub inputs: Vec<Input>,
    pub out_dir: std::path::PathBuf,
    pub mapper: Mapper,
    /// What becomes of each valid row.
    pub sink: Sink,
    pub counters: Arc<Counters>,
    /// Observed by every task: the caller's signal stops the run, and so does a fatal
    /// error, which it records.
    pub shutdown: Shutdown,
    pub display: Display,
    /// Every row's state; None in a dry run, which records nothing.
    pub ledger: Option<Ledger>,
    /// The command that goes on with the run, shown if it stops before the end.
    pub resume_command: Option<String>,
    /// Failed rows that still make a finished run a success.
    pub max_failures: crate::error::FailureLimit,
    /// What came of the account index (None: no state, or a dry run).
    pub index: Option<crate::deliver::IndexReport>,
    /// What the run was planned to do and cost, for its summary to compare with.
    pub plan: Option<crate::planning::PlanSummary>,
    /// When the run began: its summary's time counts from here (an account listing or a
    /// plan before the rows are read is part of the run).
    pub started: Instant,
}

impl Run {
    /// A run of `config`'s inputs into its `--out`, `sink` saying what becomes of each
    /// valid row: no ledger, no index, no plan, and any failed row fails it, until the
    /// caller says otherwise.
    pub fn new(
        config: crate::config::Config,
        mapper: Mapper,
        sink: Sink,
        counters: Arc<Counters>,
        shutdown: Shutdown,
        display: Display,
    ) -> Run {
        Run {
            inputs: config.inputs,
            out_dir: config.out_dir,
            mapper,
            sink,
            counters,
            shutdown,
            display,
            ledger: None,
            resume_command: None,
            max_failures: crate::error::FailureLimit::default(),
            index: None,
            plan: None,
            started: Instant::now(),
        }
    }
}

/// Checks every file's header against the mapping before anything is sent: a column
/// the mapping needs but a file lacks stops the run here, not halfway through. Warns of
/// what each header leaves out, and of files whose first rows are contacts that cannot
/// be identified; refuses a file that cannot be read as rows (a JSON document).
pub fn preflight(inputs: &[Input], mapper: &Mapper) -> Result<(), RunError> {
    for input in inputs.iter().filter(|i| i.path.is_some()) {
        let mut rows = Rows::open(input, Arc::default())?;
        let plan = match rows.header() {
            Some(header) => {
                let plan = mapper.plan(header).map_err(|error| RunError::Header {
                    file: input.name.clone(),
                    line: header.line(),
                    error,
                })?;
                log_notes(&input.name, &plan);
                Some(plan)
            }
            None => None,
        };
        let sample = rows.sample(SURVEYED_ROWS)?;
        if let Some(warning) = mapper.survey(plan.as_ref(), &sample) {
            tracing::warn!("{}: {warning}", input.name);
        }
    }
    Ok(())
}

impl Run {
    pub async fn execute(self, kind: RunKind) -> Result<Ending, RunError> {
        let Run {
            inputs,
            out_dir,
            mapper,
            sink,
            counters,
            shutdown,
            display,
            ledger,
            resume_command,
            max_failures,
            index,
            plan,
            started,
        } = self;
        let outputs = sink.outputs(plan.is_some());
        let files =
            ResultFiles::create(&out_dir, outputs, &inputs).map_err(|source| RunError::Output {
                dir: out_dir.clone(),
                source,
            })?;
        let total_bytes = inputs.iter().map(Input::size_bytes).sum::<Option<u64>>();

        let (record_tx, record_rx) = mpsc::channel::<Vec<Record>>(BATCHES_QUEUED);
        // Records the results are done with go back to the reader, which reuses their
        // buffers: freed where they were allocated, and allocated once.
        let (recycled_tx, recycled_rx) = mpsc::channel::<Vec<Record>>(BATCHES_QUEUED);
        let (job_tx, job_rx) = mpsc::channel::<Job>(CHANNEL_CAPACITY);
        // Outcomes travel in batches too: a mapped batch's rows at once, a worker's one
        // by one.
        let (outcome_tx, outcome_rx) = mpsc::channel::<Vec<RowOutcome>>(BATCHES_QUEUED);

        let tracker = TaskTracker::new();
        let progress_done = CancellationToken::new();
        let goal = match (display.planned_requests, total_bytes) {
            (Some(planned), _) => Goal::Requests(planned),
            (None, Some(bytes)) => Goal::Bytes(bytes),
            (None, None) => Goal::Unknown,
        };
        tracker.spawn(crate::progress::report(
            counters.clone(),
            goal,
            display.bar,
            display.log_every,
            progress_done.clone(),
        ));
        let reader = {
            let (inputs, shutdown, counters) = (inputs.clone(), shutdown.clone(), counters.clone());
            let channels = (record_tx, recycled_rx);
            tokio::task::spawn_blocking(move || {
                read_inputs(&inputs, channels, &shutdown, &counters)
            })
        };
        let jobs = (sink.workers() > 0).then_some(job_tx);
        let mapper = tracker.spawn(map_rows(
            mapper,
            total_bytes,
            record_rx,
            jobs,
            outcome_tx.clone(),
            shutdown.clone(),
        ));
        let job_rx = Arc::new(tokio::sync::Mutex::new(job_rx));
        for _ in 0..sink.workers() {
            tracker.spawn(work(sink.clone(), job_rx.clone(), outcome_tx.clone()));
        }
        drop(outcome_tx);
        let collector = tokio::spawn(collect(
            outcome_rx,
            recycled_tx,
            files,
            ledger.clone(),
            counters.clone(),
            shutdown.clone(),
        ));
        tracker.close();

        await_reader(reader, &shutdown).await;
        let (repeated_emails, notes) = mapper.await.map_or((0, Vec::new()), |(seen, notes)| {
            (seen.repeated_emails(), notes)
        });
        let (mut files, written) = collector
            .await
            .map_err(|e| RunError::Internal(format!("the results task failed: {e}")))?;
        for (origin, notes) in &notes {
            files.count_notes(origin, notes);
        }
        progress_done.cancel();
        tracker.wait().await;

        let flushed = files.flush();
        let end = if shutdown.has_failed() {
            RunEnd::Stopped
        } else if shutdown.is_stopping() {
            RunEnd::Interrupted
        } else {
            RunEnd::Finished
        };
        let stopped_by = shutdown.describe();
        let pass = ledger.as_ref().map(Ledger::pass);
        if let Some(ledger) = ledger
            && let Err(error) = close_ledger(ledger, end, files.tally()).await
        {
            shutdown.fail(RunError::Ledger(error));
        }
        let summary = Summary::new(RunFacts {
            kind,
            inputs: &inputs,
            out_dir: &out_dir,
            files: &files,
            end,
            stopped_by,
            repeated_emails,
            counters: &counters,
            limiter: match &sink {
                Sink::Send(courier) => Some(courier.limiter.report()),
                _ => None,
            },
            elapsed: started.elapsed(),
            pass,
            resume_command,
            index,
            plan,
        });
        let output_error = |source| RunError::Output {
            dir: out_dir.clone(),
            source,
        };
        if let Sink::Plan(planner) = &sink {
            let plan = planner.summary(files.tally());
            written
                .and(flushed)
                .and_then(|()| plan.write(&out_dir))
                .map_err(output_error)?;
            if display.print {
                print!("{}", plan.human());
                println!("plan in {}: plan.csv, {PLAN_FILE}", out_dir.display());
            }
        } else {
            written
                .and(flushed)
                .and_then(|()| summary.write(&out_dir))
                .map_err(output_error)?;
            print!("{}", summary.human());
            tracing::debug!(summary = %serde_json::to_string(&summary).unwrap_or_default(), "run summary");
        }

        if let Some(error) = shutdown.take_error() {
            return Err(error);
        }
        Ok(if end == RunEnd::Interrupted {
            Ending::Interrupted
        } else if max_failures.exceeded(summary.tally.failed, summary.tally.rows_read) {
            Ending::SomeFailed
        } else {
            Ending::AllSucceeded
        })
    }
}

/// Records how the pass ended, closes the ledger, and checks that it and the result files
/// tell the same story.
async fn close_ledger(
    ledger: Ledger,
    end: RunEnd,
    tally: &crate::report::Tally,
) -> Result<(), LedgerError> {
    ledger.end_pass(end.as_str()).await?;
    let counts = ledger.counts().await?;
    ledger.close().await?;
    match tally.disagreement(&counts) {
        None => Ok(()),
        Some(difference) => Err(LedgerError::Disagreement(difference)),
    }
}

/// Waits for the reader. Once stopped, a reader blocked on stdin may never return:
/// it is left behind after a short grace.
async fn await_reader(
    reader: tokio::task::JoinHandle<Result<(), SourceError>>,
    shutdown: &Shutdown,
) {
    let result = tokio::select! {
        result = reader => result,
        () = async { shutdown.stopped().await; tokio::time::sleep(READER_GRACE).await } => return,
    };
    match result {
        Ok(Ok(())) => {}
        Ok(Err(error)) => shutdown.fail(RunError::Input(error)),
        Err(join) => shutdown.fail(RunError::Internal(format!("the reader failed: {join}"))),
    }
}

/// What reading a header changed or left out (columns not imported, …), in the log.
fn log_notes(file: &str, plan: &HeaderPlan) {
    for note in plan.notes() {
        tracing::warn!("{file}:{}: {}", plan.line(), note.message);
    }
}

/// Reads every input in turn into `records`, until the end or `stop`. Records travel in
/// batches, so that the reader and the mapper do not wake each other for every row: a
/// batch leaves when full, or at once when the mapper waits for one. Whatever was read
/// is sent, even when reading fails.
fn read_inputs(
    inputs: &[Input],
    (records, mut recycled): (mpsc::Sender<Vec<Record>>, mpsc::Receiver<Vec<Record>>),
    shutdown: &Shutdown,
    counters: &Counters,
) -> Result<(), SourceError> {
    let mut batch = Vec::with_capacity(BATCH);
    // False once the run stops or the mapper is gone: reading ends. Checked once a
    // batch, not once a row: asking the stop token takes a lock.
    let send = |batch: &mut Vec<Record>| {
        let full = std::mem::replace(batch, Vec::with_capacity(BATCH));
        counters.rows_read.fetch_add(full.len() as u64, Relaxed);
        records.blocking_send(full).is_ok() && !shutdown.is_stopping()
    };
    let mut read = || -> Result<(), SourceError> {
        for input in inputs {
            let mut rows = Rows::open(input, counters.bytes_read.clone())?;
            loop {
                if batch.is_empty() {
                    while let Ok(done) = recycled.try_recv() {
                        done.into_iter().for_each(|record| rows.recycle(record));
                    }
                }
                let Some(row) = rows.next() else { break };
                batch.push(row?);
                let waiting = records.capacity() == records.max_capacity();
                if (batch.len() >= BATCH || waiting) && !send(&mut batch) {
                    return Ok(());
                }
            }
            // A batch holds one file's records: its rows share one header plan.
            if !batch.is_empty() && !send(&mut batch) {
                return Ok(());
            }
        }
        Ok(())
    };
    let result = read();
    // Whatever was read is sent, even when reading failed.
    if !batch.is_empty() {
        send(&mut batch);
    }
    result
}

/// Maps and validates the records, batch by batch, on as many threads as there are
/// cores, then settles each batch in input order: a repeated `userId` is found against
/// the rows before it, valid rows go on as jobs (or, in a dry run, straight to the
/// results as valid), invalid ones to the results as failed.
async fn map_rows(
    mapper: Mapper,
    mut total_bytes: Option<u64>,
    mut records: mpsc::Receiver<Vec<Record>>,
    jobs: Option<mpsc::Sender<Job>>,
    outcomes: mpsc::Sender<Vec<RowOutcome>>,
    shutdown: Shutdown,
) -> (Seen, Vec<(Origin, Vec<Warning>)>) {
    let mapper = Arc::new(mapper);
    let mut plan: Option<Arc<HeaderPlan>> = None;
    // Each header's notes, for the report.
    let mut notes = Vec::new();
    let mut seen = Seen::default();
    let keyer = seen.keyer();
    // Batches being mapped, oldest first: settled in this order, so results keep the
    // input's order and the first of two repeated rows is the one that goes on.
    let mut mapping: VecDeque<JoinHandle<MappedBatch>> = VecDeque::new();
    let mut reader_done = false;
    let mut closed = false;
    // Once stopped, the reader sends what it has read (a batch) and ends; it is waited
    // for this long, so that no row read is lost, before new rows are refused (a reader
    // blocked on stdin never ends).
    let mut refuse_at = None;
    let ahead = mapping_threads();
    while !(reader_done && mapping.is_empty()) {
        tokio::select! {
            biased;
            () = shutdown.stopped(), if refuse_at.is_none() => {
                refuse_at = Some(tokio::time::Instant::now() + READER_GRACE);
            }
            () = tokio::time::sleep_until(refuse_at.unwrap_or_else(tokio::time::Instant::now)),
                if refuse_at.is_some() && !closed => {
                // Refuse new rows; the ones already buffered are still mapped.
                records.close();
                closed = true;
            }
            mapped = oldest(&mut mapping) => {
                mapping.pop_front();
                let batch = match mapped {
                    Ok(batch) => batch,
                    Err(error) => {
                        shutdown.fail(RunError::Internal(format!("mapping failed: {error}")));
                        continue;
                    }
                };
                // A dry run keeps only a row's keys: a repeat's message maps it again.
                let names = |record: &Record| {
                    mapper.map(plan.as_deref(), record, &mut Warnings::default()).map_or_else(
                        |_| (None, None),
                        |payload| (payload.user_id, payload.email),
                    )
                };
                if !settle_batch(batch, &mut seen, names, jobs.as_ref(), &outcomes, &shutdown).await {
                    break;
                }
            }
            next = records.recv(), if !reader_done && mapping.len() < ahead => {
                let Some(batch) = next else {
                    reader_done = true;
                    continue;
                };
                if !shutdown.is_stopping() {
                    replan(&mapper, &mut plan, &batch, &shutdown, &mut notes);
                }
                let expected = total_bytes.take().and_then(|bytes| rows_in(bytes, &batch));
                let (mapper, plan, keyer) = (mapper.clone(), plan.clone(), keyer.clone());
                let sending = jobs.is_some();
                mapping.push_back(tokio::task::spawn_blocking(move || {
                    map_batch(&mapper, plan.as_deref(), &keyer, batch, sending)
                }));
                // Once the first batch is being mapped: clearing the tables' memory takes
                // a few milliseconds.
                if let Some(rows) = expected {
                    seen.expect(rows);
                }
            }
        }
    }
    (seen, notes)
}

/// About how many rows `bytes` of input hold, judged by the first batch's CSV records;
/// None for NDJSON.
fn rows_in(bytes: u64, batch: &[Record]) -> Option<usize> {
    let (rows, sizes) = batch
        .iter()
        .filter_map(|record| match &record.cells {
            // A cell's text and its delimiter (the last one's: the line end).
            Cells::Csv { values, .. } => Some(values.iter().map(|cell| cell.len() + 1).sum()),
            _ => None,
        })
        .fold((0, 0), |(rows, sizes), size: usize| {
            (rows + 1, sizes + size)
        });
    let average = u64::try_from(sizes.checked_div(rows)?).ok()?;
    usize::try_from(bytes.checked_div(average)?).ok()
}

/// Batches mapped at once, at most: one a core. More only crowd out the reader and
/// the in-order stage, which cannot be spread (measured: 0.20 s with two on two cores,
/// 0.22 s with three or four); and each mapping thread keeps its own allocator arena.
pub fn mapping_threads() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

/// A row whose mapping panicked: a bug, never the row's fault.
const MAPPING_PANICKED: &str = "the importer failed on this row (a bug: please report it)";

/// Records with what mapping made of each.
type MappedBatch = Vec<(Record, Result<Valid, Invalid>)>;

/// A row that could not be mapped or validated: why, and whom it names as far as it was
/// read (a contact whose row is invalid tonight has not left the export).
struct Invalid {
    errors: Vec<RowError>,
    names: Names,
}

impl From<Vec<RowError>> for Invalid {
    fn from(errors: Vec<RowError>) -> Invalid {
        Invalid {
            errors,
            names: (None, None),
        }
    }
}

/// A valid row as mapped: the hashes the repeat detector looks it up by, computed off
/// the detector's thread, and the payload to send.
struct Valid {
    keys: Keys,
    /// Boxed, so that it moves cheaply from stage to stage. None when nothing is sent:
    /// a dry run frees it where it was made, which costs far less than on another thread.
    payload: Option<Box<CreateCustomer>>,
    warnings: Warnings,
}

/// Pure work, run on the blocking pool so that a batch never holds up the runtime.
/// Unless the rows are `sending`, a valid row keeps only its keys.
fn map_batch(
    mapper: &Mapper,
    plan: Option<&HeaderPlan>,
    keyer: &Keyer,
    batch: Vec<Record>,
    sending: bool,
) -> MappedBatch {
    let mapper = mapper.detached();
    let plan = plan.map(HeaderPlan::detached);
    let plan = plan.as_ref();
    let keys =
        |payload: &CreateCustomer| keyer.keys(payload.user_id.as_deref(), payload.email.as_deref());
    // What a dry run maps every row into, reusing its buffers.
    let mut checked = CreateCustomer::default();
    batch
        .into_iter()
        .map(|record| {
            let map = || {
                let mut warnings = Warnings::default();
                if sending {
                    let mut payload = CreateCustomer::default();
                    match mapper.map_into(plan, &record, &mut payload, &mut warnings) {
                        Ok(()) => Ok(Valid {
                            keys: keys(&payload),
                            payload: Some(Box::new(payload)),
                            warnings,
                        }),
                        // What it read of the row before it failed still names the contact.
                        Err(errors) => Err(Invalid {
                            errors,
                            names: (payload.user_id, payload.email),
                        }),
                    }
                } else {
                    let mapped = mapper.map_into(plan, &record, &mut checked, &mut warnings);
                    mapped.map_err(Invalid::from).map(|()| Valid {
                        keys: keys(&checked),
                        payload: None,
                        warnings,
                    })
                }
            };
            // A bug in mapping fails its row, and only that row: the batch's other rows
            // must still reach the results.
            let mapped = std::panic::catch_unwind(AssertUnwindSafe(map))
                .unwrap_or_else(|_| Err(vec![RowError::row(MAPPING_PANICKED)].into()));
            (record, mapped)
        })
        .collect()
}

/// The oldest batch being mapped, once mapped; never, when there is none.
async fn oldest(
    mapping: &mut VecDeque<JoinHandle<MappedBatch>>,
) -> Result<MappedBatch, tokio::task::JoinError> {
    match mapping.front_mut() {
        Some(handle) => handle.await,
        None => std::future::pending().await,
    }
}

/// Plans a new CSV header (a batch holds one file's records). A header the mapping
/// cannot use stops the run: its rows then end as not sent.
fn replan(
    mapper: &Mapper,
    plan: &mut Option<Arc<HeaderPlan>>,
    batch: &[Record],
    shutdown: &Shutdown,
    notes: &mut Vec<(Origin, Vec<Warning>)>,
) {
    let first_csv = batch.iter().find_map(|record| match &record.cells {
        Cells::Csv { header, .. } => Some((record, header)),
        _ => None,
    });
    let Some((record, header)) = first_csv else {
        return;
    };
    if plan.as_ref().is_some_and(|plan| plan.is_for(header)) {
        return;
    }
    match mapper.plan(header) {
        Ok(new_plan) => {
            warn_on_stdin(record, &new_plan);
            let origin = Origin {
                file: record.origin.file.clone(),
                line: new_plan.line(),
            };
            notes.push((origin, new_plan.notes().to_vec()));
            *plan = Some(Arc::new(new_plan));
        }
        Err(error) => {
            let file = record.origin.file.clone();
            let line = header.line();
            shutdown.fail(RunError::Header { file, line, error });
        }
    }
}

/// Sends on one mapped batch's rows, in order; false once nobody listens any more.
/// `names` gives a row's `userId` and email when its payload was not kept.
async fn settle_batch(
    batch: MappedBatch,
    seen: &mut Seen,
    names: impl Fn(&Record) -> Names,
    jobs: Option<&mpsc::Sender<Job>>,
    outcomes: &mpsc::Sender<Vec<RowOutcome>>,
    shutdown: &Shutdown,
) -> bool {
    // Looking a row up waits for memory: the whole batch's slots are fetched at once.
    for valid in batch.iter().filter_map(|(_, mapped)| mapped.as_ref().ok()) {
        seen.touch(&valid.keys);
    }
    let mut settled = Vec::with_capacity(batch.len());
    for (record, mapped) in batch {
        if shutdown.is_stopping() {
            settled.push(not_sent(record));
            continue;
        }
        let checked = mapped.and_then(
            |Valid {
                 keys,
                 payload,
                 warnings,
             }| {
                let names = || match &payload {
                    Some(payload) => (payload.user_id.clone(), payload.email.clone()),
                    None => names(&record),
                };
                match seen.check(&record.origin, &keys, names) {
                    Ok(()) => Ok((payload, warnings)),
                    Err(repeat) => Err(Invalid {
                        errors: vec![repeat],
                        names: payload.map_or((None, None), |p| (p.user_id, p.email)),
                    }),
                }
            },
        );
        match (checked, jobs) {
            (Ok((Some(payload), warnings)), Some(jobs)) => {
                let payload = *payload;
                let job = Job {
                    record,
                    payload,
                    warnings,
                };
                if jobs.send(job).await.is_err() {
                    return false;
                }
            }
            (Ok((_, warnings)), None) => settled.push(RowOutcome {
                user_id: None,
                email: None,
                record,
                result: RowResult::Valid,
                warnings,
            }),
            // Never: a row to send keeps its payload (see `map_batch`).
            (Ok((None, _)), Some(_)) => settled.push(not_sent(record)),
            (
                Err(Invalid {
                    errors,
                    names: (user_id, email),
                }),
                _,
            ) => settled.push(RowOutcome {
                record,
                user_id,
                email,
                result: RowResult::Failed {
                    status: FailStatus::Invalid,
                    errors: errors.into_iter().map(|e| e.message).collect(),
                },
                warnings: Warnings::default(),
            }),
        }
    }
    settled.is_empty() || outcomes.send(settled).await.is_ok()
}

/// Stdin's header is first seen here (files were checked in preflight).
fn warn_on_stdin(record: &Record, plan: &HeaderPlan) {
    if &*record.origin.file == "<stdin>" {
        log_notes(&record.origin.file, plan);
    }
}

/// A row the run stopped before sending.
fn not_sent(record: Record) -> RowOutcome {
    RowOutcome {
        record,
        user_id: None,
        email: None,
        result: crate::deliver::stopped(0),
        warnings: Warnings::default(),
    }
}

/// One worker: takes jobs until there are none, delivers each, reports each outcome.
async fn work(
    sink: Sink,
    jobs: Arc<tokio::sync::Mutex<mpsc::Receiver<Job>>>,
    outcomes: mpsc::Sender<Vec<RowOutcome>>,
) {
    loop {
        let job = jobs.lock().await.recv().await;
        let Some(Job {
            record,
            payload,
            warnings,
        }) = job
        else {
            return;
        };
        let result = sink.handle(&record, &payload).await;
        let outcome = RowOutcome {
            record,
            user_id: payload.user_id,
            email: payload.email,
            result,
            warnings,
        };
        if outcomes.send(vec![outcome]).await.is_err() {
            return;
        }
    }
}

/// The results task: the only owner of the result files. A write error stops the run
/// (the rest is still counted), since results that cannot be recorded must not be sent.
/// With a ledger, every outcome is recorded there too, before its result row is written.
async fn collect(
    mut outcomes: mpsc::Receiver<Vec<RowOutcome>>,
    recycled: mpsc::Sender<Vec<Record>>,
    mut files: ResultFiles,
    ledger: Option<Ledger>,
    counters: Arc<Counters>,
    shutdown: Shutdown,
) -> (ResultFiles, std::io::Result<()>) {
    let mut written = Ok(());
    let mut last_flush = Instant::now();
    let mut failures_logged = 0u64;
    while let Some(batch) = outcomes.recv().await {
        // By reference: an outcome is large, and moving each out of the batch costs more
        // than counting it.
        let mut failed = 0;
        for outcome in &batch {
            failed += u64::from(is_failure(outcome, &mut failures_logged));
            if written.is_ok()
                && let Some(ledger) = &ledger
            {
                written = record(ledger, outcome).await.map_err(std::io::Error::other);
            }
            if written.is_ok() {
                written = files.write(outcome);
            }
        }
        // Once a batch: the progress display's counters, and the clock (reading it for
        // every row would cost more than the writing).
        counters.failed.fetch_add(failed, Relaxed);
        counters
            .succeeded
            .fetch_add(batch.len() as u64 - failed, Relaxed);
        if written.is_ok() && last_flush.elapsed() >= FLUSH_EVERY {
            written = files.flush();
            last_flush = Instant::now();
        }
        if written.is_err() {
            // Results that cannot be recorded must not be sent; the error itself is the
            // run's, returned with the files.
            shutdown.stop();
        }
        // Back to the reader, unless it is busy or gone: then they are dropped here.
        let _ = recycled.try_send(batch.into_iter().map(|outcome| outcome.record).collect());
    }
    (files, written)
}

/// Whether an outcome is a failure; the first failures are logged.
fn is_failure(outcome: &RowOutcome, failures_logged: &mut u64) -> bool {
    match &outcome.result {
        RowResult::Failed { status, errors } => {
            if *status != FailStatus::NotSent {
                *failures_logged += 1;
                if *failures_logged <= FAILURES_LOGGED {
                    tracing::warn!(
                        "{}: {}: {}",
                        outcome.record.origin,
                        status.as_str(),
                        errors.join("; ")
                    );
                } else if *failures_logged == FAILURES_LOGGED + 1 {
                    tracing::warn!(
                        "more failed rows: see the failed files in the results directory"
                    );
                }
            }
            true
        }
        RowResult::Created { .. }
        | RowResult::Exists { .. }
        | RowResult::Updated { .. }
        | RowResult::Unchanged { .. }
        | RowResult::Valid
        | RowResult::Planned { .. } => false,
    }
}

async fn record(ledger: &Ledger, outcome: &RowOutcome) -> Result<(), LedgerError> {
    let key = ledger.key(&outcome.record.origin)?;
    ledger
        .record(
            key,
            &outcome.result,
            outcome.user_id.as_deref(),
            outcome.email.as_deref(),
        )
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Origin;

    fn record(cells: Cells) -> Record {
        let origin = Origin {
            file: "a.csv".into(),
            line: 2,
        };
        Record { origin, cells }
    }

    #[test]
    fn rows_are_estimated_from_the_first_csv_records() {
        let header: crate::record::Header = vec!["a".to_string(), "b".to_string()].into();
        let csv = |a: &str, b: &str| {
            record(Cells::Csv {
                header: header.clone(),
                values: [a, b].iter().collect(),
            })
        };
        // "abc,de\n" and "a,b\n": 7 and 4 bytes, 5.5 on average, taken as 5.
        let batch = [csv("abc", "de"), csv("a", "b")];
        assert_eq!(rows_in(1_000, &batch), Some(200));
        let json = record(Cells::Json(serde_json::Map::new()));
        assert_eq!(rows_in(1_000, &[json]), None);
        assert_eq!(rows_in(1_000, &[]), None);
    }
}
