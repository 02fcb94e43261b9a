//! The command line, parsed into types and nothing more: resolving it against the config
//! file and the environment happens once, in [`crate::config`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::rate::Rate;
use crate::sandbox::{PatchCollections, RetryAfterMode, SearchEmpty, UnknownAttribute};
use crate::source::{Delimiter, Format, SheetChoice, TextEncoding, TextOptions};

/// Import contacts from CSV, NDJSON, JSON-array and spreadsheet (xlsx, xlsm, xlsb, xls, ods)
/// files into HelpCrunch, at the API's rate limit, without losing or duplicating one.
///
/// The API key is read from HELPCRUNCH_API_KEY (or `api_key_file` in the config), never
/// from a flag. Exit codes: 0 every row succeeded (or no more failed than --max-failures
/// allows), 1 more rows failed, or more contacts left the export than --max-missing allows,
/// or one could not be tagged or deleted; 2 the run could not start or was stopped (config,
/// input, a refused API key, a failed read-back, fail-fast, a --state in use, a refused
/// --resume); 130 interrupted (resume it with the command it prints; a second Ctrl-C exits
/// at once).
#[derive(Debug, Parser)]
#[command(name = "helpcrunch-import", version, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// More detail in the log: -v for debug, -vv for trace.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Log as human text or as one JSON object per line (for cron and log collectors).
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a HelpCrunch contact for every row of FILE...
    Import(ImportArgs),
    /// Read, map and check every row, with no network; report what the API would refuse.
    ///
    /// Exit codes: 0 every row is valid (or the file has a header and no rows), 1 some rows
    /// are invalid (see failed.csv), 2 the config is wrong or a file cannot be read: missing,
    /// empty, binary, an unterminated quote, a JSON document that is not an array (an object
    /// wrapping the array, or one object spread over several lines), a JSON array broken
    /// partway, a header with an unnamed column between named ones, or a column the mapping
    /// reads that is missing or named twice. Warnings (values changed or doubted, columns not
    /// imported) are counted in the report and summary.json.
    Validate(InputArgs),
    /// What an import would do with every row and what it would cost, sending nothing:
    /// rows by action (create, update, unchanged, exists, invalid), the requests, and how
    /// long they take at the rate. Writes plan.json and plan.csv into --out.
    ///
    /// It compares every row with the --state and the account index it holds; with
    /// `--index always` it lists the account first (that needs the API key). Exit codes as
    /// validate's.
    Plan(PlanArgs),
    /// Take back the run whose results are in --out: delete the contacts it created, and
    /// put back the values of those it updated where it knew them.
    ///
    /// A contact found only by a lookup after a lost create answer is left (it may have
    /// been there before the run), listed as not_deleted. The sync state the run used is
    /// told what was taken back, so the next sync sends it again. Without --yes it only says what it would do (and what that costs) and writes
    /// undo-plan.csv; a terminal is asked to confirm. A stopped undo goes on where it
    /// stopped; a second one does nothing. Exit codes: 0 done (or only planned), 1 some
    /// contacts could not be taken back (undone.csv says why), 2 it could not start or was
    /// stopped, 130 interrupted.
    Undo(UndoArgs),
    /// Run the built-in HelpCrunch emulator in the foreground, until Ctrl-C or SIGTERM.
    ///
    /// It prints the URL it listens on (on stdout), serves the API's customers endpoints as
    /// documented, and counts what it saw at /sandbox/stats. Unlike `import --sandbox`
    /// (120/min), it has no rate limit unless --rate sets one. Besides injected faults
    /// (--error-rate, --drop-rate, --latency-ms), its switches emulate each answer the API's
    /// docs leave open, and another client spending the same limit.
    Sandbox(SandboxArgs),
    /// Print a commented mapping config guessed from FILE's header and first rows, to
    /// edit and pass as --config.
    Init(InitArgs),
}

#[derive(Debug, Clone, Args)]
pub struct InitArgs {
    /// The file to guess from (CSV, NDJSON, a JSON array or a workbook, optionally .gz).
    #[arg(value_name = "FILE")]
    pub file: String,

    #[command(flatten)]
    pub text: TextArgs,

    /// Rows read to guess types and date formats.
    #[arg(long, value_name = "N", default_value_t = crate::init::DEFAULT_SAMPLE_ROWS)]
    pub rows: usize,
}

/// What to read and where to write results: shared by `import` and `validate`.
#[derive(Debug, Clone, Args)]
pub struct InputArgs {
    /// Input files (CSV, NDJSON, a JSON array, or a workbook: xlsx, xlsm, xlsb, xls, ods;
    /// optionally .gz); `-` reads stdin.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<String>,

    /// TOML config: connection settings and the `[mapping]` (see config.example.toml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Directory for the results: an import's created.csv, failed.csv, summary.json and
    /// ledger.sqlite; validate's failed.csv and summary.json; plan's plan.json and plan.csv
    /// [default: helpcrunch-import-out/<date-time>].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Write into an --out directory that already holds results of a run (an import starts
    /// that run again from scratch, forgetting its ledger).
    #[arg(long)]
    pub overwrite: bool,

    #[command(flatten)]
    pub text: TextArgs,
}

/// How to read an input's text: shared by `import`, `validate` and `init`.
#[derive(Debug, Clone, Args)]
pub struct TextArgs {
    /// Input format [default: a workbook by its content (a ZIP or OLE file), whatever its
    /// name; else from the extension; else from the first byte: `{` or `[` JSON, else CSV.
    /// Stdin is CSV].
    #[arg(long, value_enum)]
    pub format: Option<Format>,

    /// CSV field delimiter: one character, or "tab" [default: Excel's first line `sep=;`
    /// if the file has one, else from the header line: ",", or ";" or tab when the header
    /// has more of them].
    #[arg(long, value_name = "CHAR")]
    pub delimiter: Option<Delimiter>,

    /// Read the input in this encoding instead of UTF-8 (UTF-16 with a byte-order mark is
    /// detected by itself). Without it, `init` takes a file that is not UTF-8 for
    /// windows-1252 and says so.
    #[arg(long, value_enum, value_name = "ENCODING")]
    pub encoding: Option<TextEncoding>,

    /// The sheet of a workbook to read: its name, or its position (1 is the first)
    /// [default: the first visible sheet; the log names others that hold data].
    #[arg(long, value_name = "NAME|N")]
    pub sheet: Option<SheetChoice>,
}

impl TextArgs {
    /// The options as given on the command line.
    pub fn options(&self) -> TextOptions {
        TextOptions {
            delimiter: self.delimiter,
            encoding: self.encoding,
            sheet: self.sheet.clone(),
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub input: InputArgs,

    /// Requests per time unit: 120/min, 2/s, 7200/h [default: 120/min, the documented
    /// limit]. A ceiling: on 429s the rate adapts down to what the server accepts, then
    /// probes back up.
    #[arg(long, value_name = "RATE")]
    pub rate: Option<Rate>,

    /// Requests in flight at once at most [default: 16]. Pacing keeps the requests in
    /// flight to what the rate needs (rate × latency); this only caps them.
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,

    /// API base URL; without it, HELPCRUNCH_BASE_URL, then `base_url` in the config
    /// [default: https://api.helpcrunch.com/v1]. Not with --sandbox, which ignores the
    /// variable and the config's URL.
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,

    /// Same as `validate`: read, map and check every row, send nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Import into a built-in emulator started on a free loopback port, with the API's
    /// documented limit of 120/min: a rehearsal that needs no account and no key.
    /// HELPCRUNCH_BASE_URL and a config's `base_url` are ignored.
    #[arg(long, conflicts_with = "base_url")]
    pub sandbox: bool,

    /// With --sandbox: contacts the emulator holds before the rehearsal starts, as NDJSON
    /// (one customer a line), so a first sync into a used account can be rehearsed.
    #[arg(long, value_name = "FILE", requires = "sandbox")]
    pub seed_contacts: Option<PathBuf>,

    /// Go on with the stopped run whose results are in --out: rows it finished are kept,
    /// rows it may have sent without an answer are looked up before anything is re-sent.
    /// Refused if an input changed since the run began.
    #[arg(long, conflicts_with_all = ["overwrite", "dry_run"])]
    pub resume: bool,

    /// With --resume: go on even though an input (or the base URL) changed since the run
    /// began. Rows are matched by file and line.
    #[arg(long, requires = "resume")]
    pub force: bool,
    /// How rows meet contacts that exist already; upsert and update keep a --state
    /// [default: create].
    #[arg(long, value_enum, value_name = "MODE")]
    pub mode: Option<crate::state::Mode>,

    /// The state kept across runs (each contact's id and the hash of the last payload sent
    /// to it, and the account index), locked while a run uses it. With --mode create, only
    /// where given, for the account index [default with upsert|update:
    /// .helpcrunch-import/state.db].
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,

    /// Failed rows a finished run may have and still exit 0: a count (10) or a share of
    /// the rows read (0.5%) [default: 0].
    #[arg(long, value_name = "N|N%")]
    pub max_failures: Option<crate::error::FailureLimit>,

    /// Read written contacts back to prove every field stuck: the first created and the
    /// first updated (first), one in N of each (sample:N), or none (off). A field that did
    /// not stick stops the run (exit 2) [default: first].
    #[arg(long, value_name = "first|sample:N|off")]
    pub verify: Option<crate::deliver::Verify>,

    /// Stop (exit 2) when the first N rows sent are all refused for one reason: the rest
    /// would be too; 0 never stops [default: 20].
    #[arg(long, value_name = "N")]
    pub fail_fast: Option<u64>,

    /// List the account's contacts into the --state (100 a request) before sending, so a
    /// row HelpCrunch already holds costs no lookup, and one it holds as it is no request
    /// at all: auto when the state has no index yet and listing is cheaper than the lookups
    /// it replaces; always; never [default: auto].
    #[arg(long, value_enum, value_name = "WHEN")]
    pub index: Option<crate::deliver::IndexPolicy>,

    /// With --mode upsert|update: contacts the --state knows that this run's rows did not
    /// name, when it finishes: listed in missing.csv (report), given a tag (tag:NAME), or
    /// deleted (delete). Only contacts the state knows are touched [default: report].
    #[arg(long, value_name = "report|tag:NAME|delete")]
    pub missing: Option<crate::missing::Missing>,

    /// Most contacts that may be missing before nothing is tagged or deleted and the run
    /// exits 1 (a truncated export must not wipe an account): a count or a share of the
    /// contacts this sync has met [default: 5%].
    #[arg(long, value_name = "N|N%")]
    pub max_missing: Option<crate::error::FailureLimit>,
}

/// `plan`: the import flags that decide what a run does with a row, and costs.
#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub input: InputArgs,

    /// How rows meet contacts that exist already, as for import [default: create].
    #[arg(long, value_enum, value_name = "MODE")]
    pub mode: Option<crate::state::Mode>,

    /// The state an import would use [default with upsert|update:
    /// .helpcrunch-import/state.db].
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,

    /// Use the account index the state holds (auto, the default), list the account into it
    /// first (always: needs the API key, and spends its requests now), or neither (never).
    #[arg(long, value_enum, value_name = "WHEN")]
    pub index: Option<crate::deliver::IndexPolicy>,

    /// The rate the import would send at, for how long it takes [default: 120/min].
    #[arg(long, value_name = "RATE")]
    pub rate: Option<Rate>,

    /// API base URL the import would send to (the --state records the one it was made for);
    /// without it, HELPCRUNCH_BASE_URL, then `base_url` in the config [default:
    /// https://api.helpcrunch.com/v1].
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,

    /// Read-backs the import would make (first|sample:N|off) [default: first].
    #[arg(long, value_name = "first|sample:N|off")]
    pub verify: Option<crate::deliver::Verify>,
}

impl PlanArgs {
    /// The import these flags plan.
    pub fn import(&self) -> ImportArgs {
        ImportArgs {
            input: self.input.clone(),
            rate: self.rate,
            concurrency: None,
            base_url: self.base_url.clone(),
            dry_run: false,
            sandbox: false,
            seed_contacts: None,
            resume: false,
            force: false,
            mode: self.mode,
            state: self.state.clone(),
            max_failures: None,
            verify: self.verify,
            fail_fast: None,
            index: self.index,
            missing: None,
            max_missing: None,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct UndoArgs {
    /// The results directory of the run to take back (its ledger.sqlite says what it did).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// Do it: without, only say what it would do and write undo-plan.csv.
    #[arg(long)]
    pub yes: bool,

    /// TOML config: rate, retries, timeouts and the API key file, as for import.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Requests per time unit [default: 120/min, the documented limit].
    #[arg(long, value_name = "RATE")]
    pub rate: Option<Rate>,

    /// The API to send to, when it is not the one the run's ledger recorded: refused unless
    /// --force, since the contacts' ids are that account's. A `base_url` in the config
    /// counts too, and is refused the same way when it differs (--force needs this flag);
    /// HELPCRUNCH_BASE_URL is not read.
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,

    /// With --base-url: send there all the same.
    #[arg(long, requires = "base_url")]
    pub force: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LimitKind {
    /// A bucket of --burst tokens refilled at --rate.
    TokenBucket,
    /// At most the --rate count in each window of the --rate period (e.g. 100/5s).
    FixedWindow,
}

#[derive(Debug, Clone, Args)]
pub struct SandboxArgs {
    /// Port on 127.0.0.1 (0 picks a free one: the line printed at start names it).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,

    /// Rate limit, e.g. 120/min or 100/5s; no limit when not given (`import --sandbox`
    /// starts its own with 120/min).
    #[arg(long, value_name = "RATE")]
    pub rate: Option<Rate>,

    /// How the rate limit counts.
    #[arg(long, value_enum, default_value_t = LimitKind::TokenBucket)]
    pub limit: LimitKind,

    /// Token bucket size (requests that may arrive at once); for --limit token-bucket.
    #[arg(long, default_value_t = 1)]
    pub burst: u32,

    /// How 429 and injected 503 answers carry Retry-After: whole seconds, an HTTP date, or
    /// no header at all, as the documented API.
    #[arg(long, value_enum, ignore_case = true, default_value_t = RetryAfterMode::None)]
    pub retry_after: RetryAfterMode,

    /// Share of requests answered with an injected 503 (0 to 1).
    #[arg(long, default_value_t = 0.0, value_name = "SHARE")]
    pub error_rate: f64,

    /// Share of creates whose connection is dropped after the contact is stored (0 to 1).
    #[arg(long, default_value_t = 0.0, value_name = "SHARE")]
    pub drop_rate: f64,

    /// Milliseconds added to every answer.
    #[arg(long, default_value_t = 0, value_name = "MS")]
    pub latency_ms: u64,

    /// The key the emulator accepts (a test key, not a real one); any key when not given.
    #[arg(long, value_name = "KEY")]
    pub api_key: Option<String>,

    /// Seed for the injected faults, so a rehearsal can be repeated.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// The customData attributes the emulated account has (Settings → Contacts → Custom
    /// attributes), comma-separated [default: every attribute exists].
    #[arg(long, value_name = "A,B,...", value_delimiter = ',')]
    pub custom_attributes: Option<Vec<String>>,

    /// What a customData property not in --custom-attributes meets: accept (stored), reject
    /// (a 400 naming it) or drop (left out in silence, the answer a success).
    #[arg(long, value_enum, default_value_t = UnknownAttribute::Accept)]
    pub unknown_attribute: UnknownAttribute,

    /// How a search that matches no customer answers: 200 with an empty page, or 404
    /// not_found (as one public client met).
    #[arg(long, value_enum, value_name = "STATUS", default_value_t = SearchEmpty::EmptyPage)]
    pub search_empty: SearchEmpty,

    /// What PATCH does with the tags and customData it is sent: replace the contact's whole
    /// list and map, or merge into them (tags by name, customData by property).
    #[arg(long, value_enum, default_value_t = PatchCollections::Replace)]
    pub patch_collections: PatchCollections,

    /// Milliseconds (up to a day) before a contact created or changed shows up in search
    /// results as it now is (GET by id, the list and the duplicate-userId check on create are
    /// immediate).
    #[arg(long, default_value_t = 0, value_name = "MS")]
    pub search_delay_ms: u64,

    /// Requests per second (0 to 1000, fractions allowed) a background client inside the
    /// emulator spends from the same rate limit, as other integrations of the organization
    /// do; counted apart in the stats (other_client_*).
    #[arg(long, default_value_t = 0.0, value_name = "RPS")]
    pub other_client_rps: f64,

    /// Customers the emulator holds from its start: NDJSON, one create body a line
    /// (customData as the documented array or a {property: value} object), given ids in
    /// order like created ones.
    #[arg(long, value_name = "FILE")]
    pub seed_contacts: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn force_needs_resume_and_resume_never_overwrites() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(["helpcrunch-import", "import", "a.csv"].iter().chain(args))
        };
        assert!(parse(&["--out", "o", "--resume", "--force"]).is_ok());
        assert!(parse(&["--force"]).is_err());
        assert!(parse(&["--resume", "--overwrite"]).is_err());
        assert!(parse(&["--resume", "--dry-run"]).is_err());
    }

    fn sandbox_args(args: &[&str]) -> Option<SandboxArgs> {
        let all = ["helpcrunch-import", "sandbox"].iter().chain(args);
        match Cli::try_parse_from(all).ok()?.command {
            Command::Sandbox(args) => Some(args),
            _ => None,
        }
    }

    #[test]
    fn sandbox_retry_after_defaults_to_none_and_parses_in_any_case() {
        let mode = |args: &[&str]| sandbox_args(args).map(|a| a.retry_after);
        assert_eq!(mode(&[]), Some(RetryAfterMode::None));
        assert_eq!(
            mode(&["--retry-after", "seconds"]),
            Some(RetryAfterMode::Seconds)
        );
        assert_eq!(mode(&["--retry-after", "Date"]), Some(RetryAfterMode::Date));
        assert_eq!(mode(&["--retry-after", "minutes"]), None);
    }

    #[test]
    fn sandbox_custom_attributes_are_a_comma_list() {
        let args = sandbox_args(&[
            "--custom-attributes",
            "plan,Seats Used",
            "--unknown-attribute",
            "reject",
        ]);
        let parsed = args.map(|a| (a.custom_attributes, a.unknown_attribute));
        assert_eq!(
            parsed,
            Some((
                Some(vec!["plan".to_string(), "Seats Used".to_string()]),
                UnknownAttribute::Reject
            ))
        );
        let defaults = sandbox_args(&[]).map(|a| (a.custom_attributes, a.unknown_attribute));
        assert_eq!(defaults, Some((None, UnknownAttribute::Accept)));
    }

    #[test]
    fn sandbox_search_empty_takes_a_status() {
        let status = |args: &[&str]| sandbox_args(args).map(|a| a.search_empty);
        assert_eq!(status(&[]), Some(SearchEmpty::EmptyPage));
        assert_eq!(
            status(&["--search-empty", "200"]),
            Some(SearchEmpty::EmptyPage)
        );
        assert_eq!(
            status(&["--search-empty", "404"]),
            Some(SearchEmpty::NotFound)
        );
        assert_eq!(status(&["--search-empty", "500"]), None);
    }

    #[test]
    fn sandbox_patch_collections_replace_by_default() {
        let mode = |args: &[&str]| sandbox_args(args).map(|a| a.patch_collections);
        assert_eq!(mode(&[]), Some(PatchCollections::Replace));
        assert_eq!(
            mode(&["--patch-collections", "merge"]),
            Some(PatchCollections::Merge)
        );
    }

    #[test]
    fn there_is_no_flag_for_the_api_key_on_import() {
        let parsed =
            Cli::try_parse_from(["helpcrunch-import", "import", "a.csv", "--api-key", "k"]);
        assert!(parsed.is_err());
    }
}
