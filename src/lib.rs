//! helpcrunch-import: move contacts from CSV, NDJSON, JSON and spreadsheet files into
//! HelpCrunch through `POST /v1/customers` (and `PATCH /v1/customers/{id}` for a nightly
//! sync), at the API's rate limit, without losing or duplicating one.
//!
//! # Layout
//!
//! - [`cli`]: command-line flags, typed but unresolved.
//! - [`config`]: flags, the TOML config and the environment resolved once into a [`config::Config`].
//! - [`source`]: streaming readers (CSV, NDJSON, JSON arrays, workbooks; stdin, gzip)
//!   yielding [`record::Record`]s.
//! - [`mapping`] and [`validate`]: pure functions from a record to a [`payload::CreateCustomer`].
//! - [`dedupe`]: a userId repeated within the run's input fails; a repeated email warns.
//! - [`client`]: one HTTP call per [`client::Request`] (create, search, list, update, tag,
//!   delete) and the classification of its answer.
//! - [`limiter`]: the one shared pacing limiter, with the pause every worker honours;
//!   [`adaptive`]: the rate it paces at, learned from 429s (bucket or fixed window).
//! - [`deliver`]: sending one row, a file per API operation (create, update, delete, list the
//!   account) over one attempt loop (pacing, retries with backoff, stopping), pure reactions
//!   to answers, read-back verification and the fail-fast on a systematic refusal.
//! - [`readback`]: what the API stored compared with what was sent; [`restore`]: a contact as
//!   it was before an update, so an undo can put it back.
//! - [`planning`]: what a run would do with each row and cost, from the state alone.
//! - [`pipeline`]: wires reader → mapper → workers → results; [`shutdown`]: the one stop
//!   signal every task observes, and why the run stopped.
//! - [`ledger`]: every row's state in SQLite, so a stopped run resumes without skipping or
//!   duplicating a row; [`resume`]: the command that resumes a run; [`undo`]: the command
//!   that takes one back.
//! - [`state`]: the sync state kept across runs (contact ids, payload hashes, the account
//!   index) and the mode's pure decision per row; [`missing`]: contacts that left the export.
//! - [`report`]: the result files (`created.csv`, `failed.csv`, `summary.json`, …), their
//!   names, and the final summary.
//! - [`progress`]: counters, the progress bar and periodic progress lines.
//! - [`init`]: `init FILE`, a mapping config guessed from a file's header and rows.
//! - [`invisible`]: invisible characters (Unicode format characters) in names and values.
//! - [`sandbox`]: the built-in HelpCrunch emulator used by `sandbox`, rehearsals and tests.
//! - [`error`]: run-level errors and the one place they become exit codes.
//! - Small pieces: [`outcome`] (what became of a row), [`rate`] (`120/min` parsed),
//!   [`dates`], [`locale`] and [`color`] (dates and locales normalised, tag colors checked),
//!   [`logging`] (text or JSON lines on stderr).

pub mod adaptive;
pub mod cli;
pub mod client;
pub mod color;
pub mod config;
pub mod dates;
pub mod dedupe;
pub mod deliver;
pub mod error;
pub mod init;
pub mod invisible;
pub mod ledger;
pub mod limiter;
pub mod locale;
pub mod logging;
pub mod mapping;
pub mod missing;
pub mod outcome;
pub mod payload;
pub mod pipeline;
pub mod planning;
pub mod progress;
pub mod rate;
pub mod readback;
pub mod record;
pub mod report;
pub mod restore;
pub mod resume;
pub mod sandbox;
pub mod shutdown;
pub mod source;
pub mod state;
pub mod undo;
pub mod validate;

mod commands;

pub use commands::run;
