//! helpcrunch-import: move contacts from CSV and NDJSON files into HelpCrunch through
//! `POST /v1/customers`, at the API's rate limit, without losing or duplicating one.
//!
//! # Layout
//!
//! - [`cli`]: command-line flags, typed but unresolved.
//! - [`config`]: flags, the TOML config and the environment resolved once into a [`config::Config`].
//! - [`source`]: streaming readers (CSV, NDJSON, stdin, gzip) yielding [`record::Record`]s.
//! - [`mapping`] and [`validate`]: pure functions from a record to a [`payload::CreateCustomer`].
//! - [`client`]: one HTTP call to the API and the classification of its answer.
//! - [`limiter`]: the one shared pacing limiter, with the pause every worker honours.
//! - [`pipeline`]: wires reader → mapper → workers → results, and shutdown.
//! - [`report`]: `created.csv`, `failed.csv`, `summary.json` and the final summary.
//! - [`sandbox`]: the built-in HelpCrunch emulator used by `sandbox`, rehearsals and tests.

pub mod dates;
pub mod locale;
pub mod mapping;
pub mod payload;
pub mod rate;
pub mod record;
pub mod sandbox;
pub mod validate;
