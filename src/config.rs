//! Flags, the TOML config file and the environment, resolved once into the [`Config`]
//! the run uses. Precedence: flag, then environment, then config file, then default.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::cli::{ImportArgs, InputArgs, PlanArgs, UndoArgs};
use crate::client::{ApiKey, Timeouts};
use crate::deliver::{IndexPolicy, RetryPolicy, Verify};
use crate::error::{FailureLimit, RunError};
use crate::ledger::Begin;
use crate::mapping::MappingConfig;
use crate::missing::Missing;
use crate::rate::Rate;
use crate::readback::Collections;
use crate::source::{Delimiter, Format, Input, SheetChoice, TextEncoding, TextOptions};
use crate::state::Mode;

pub const DEFAULT_BASE_URL: &str = "https://api.helpcrunch.com/v1";
/// Workers, and so requests in flight at most. Pacing keeps the requests actually in flight
/// to what the rate needs (rate × latency); this only caps them.
pub const DEFAULT_CONCURRENCY: usize = 16;
pub const API_KEY_ENV: &str = "HELPCRUNCH_API_KEY";
/// The base URL when no `--base-url` is given; a config file's `base_url` comes after it.
/// Read here rather than by clap, so that `--sandbox` (which names no URL) simply wins
/// over it instead of conflicting with it.
pub const BASE_URL_ENV: &str = "HELPCRUNCH_BASE_URL";
/// The first rows sent that, all refused for one reason, stop the run.
pub const DEFAULT_FAIL_FAST: u64 = 20;
/// The longest `retry.settle_secs`: seconds, not minutes.
const MAX_SETTLE: Duration = Duration::from_secs(120);
/// The config file, as written. Every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub base_url: Option<String>,
    pub api_key_file: Option<PathBuf>,
    pub rate: Option<String>,
    pub concurrency: Option<usize>,
    pub out: Option<PathBuf>,
    pub format: Option<Format>,
    pub mode: Option<Mode>,
    pub state: Option<PathBuf>,
    pub max_failures: Option<CountOrText>,
    pub delimiter: Option<Delimiter>,
    pub encoding: Option<TextEncoding>,
    /// A workbook's sheet: its name, or its position from 1.
    pub sheet: Option<SheetChoice>,
    pub verify: Option<String>,
    pub fail_fast: Option<u64>,
    pub index: Option<IndexPolicy>,
    pub missing: Option<String>,
    pub max_missing: Option<CountOrText>,
    #[serde(default)]
    pub update: UpdateSection,
    #[serde(default)]
    pub http: HttpSection,
    #[serde(default)]
    pub retry: RetrySection,
    pub mapping: Option<MappingConfig>,
}

/// A config value written as a number (`10`) or as text (`"10"`, `"0.5%"`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum CountOrText {
    Count(u64),
    Text(String),
}

/// `[update]`: how updates treat the collections a row does not list.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateSection {
    pub tags: Option<TagsUpdate>,
    pub custom_data: Option<CustomDataUpdate>,
}

/// `[update] tags`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TagsUpdate {
    /// Added through `PUT /customers/{id}/tags`, which never removes a tag (the default).
    Add,
    /// Sent in the PATCH, which may replace the contact's tags (the docs leave it open).
    Replace,
}

/// `[update] custom_data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CustomDataUpdate {
    /// The first update is read back: a PATCH that removed properties the row does not
    /// name stops the run (the default).
    Check,
    /// A PATCH may replace the contact's customData: accepted.
    Replace,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSection {
    pub connect_timeout_secs: Option<u64>,
    pub timeout_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrySection {
    pub max_attempts: Option<usize>,
    pub max_rate_limited: Option<usize>,
    pub initial_delay_ms: Option<u64>,
    pub max_delay_secs: Option<u64>,
    pub max_total_secs: Option<u64>,
    pub max_retry_after_secs: Option<u64>,
    pub settle_secs: Option<u64>,
    pub unreachable_secs: Option<u64>,
}

/// Where requests go.
#[derive(Debug, Clone)]
pub enum Target {
    Api {
        base_url: String,
        key: ApiKey,
    },
    /// The built-in emulator, started in-process for this run, holding the contacts of
    /// `seed` (NDJSON) first.
    Sandbox {
        seed: Option<PathBuf>,
    },
    /// `plan` without listing: the API it plans for, sent nothing.
    Offline {
        base_url: String,
    },
}

/// Everything needed to send: absent in a dry run.
#[derive(Debug, Clone)]
pub struct SendConfig {
    pub target: Target,
    pub rate: Rate,
    pub concurrency: usize,
    pub retry: RetryPolicy,
    pub timeouts: Timeouts,
    /// A new run, or `--resume` of the one in the results directory.
    pub begin: Begin,
    pub mode: Mode,
    /// The sync state's file; None with `--mode create` unless one is given for the
    /// account index.
    pub state: Option<PathBuf>,
    /// Whether to list the account into the state's index before sending (`--index`).
    pub index: IndexPolicy,
    pub max_failures: FailureLimit,
    /// Which written contacts are read back (`--verify`).
    pub verify: Verify,
    /// The first rows sent that, all refused for one reason, stop the run (0: never).
    pub fail_fast: u64,
    /// How updates treat tags and customData (`[update]`).
    pub collections: Collections,
    /// What becomes of contacts that left the export (`--missing`); None with `--mode
    /// create`, which keeps no sync.
    pub missing: Option<Missing>,
    /// Most contacts that may be missing before nothing is done about them.
    pub max_missing: FailureLimit,
}

impl Target {
    /// How the ledger names the target, so a resume can check it sends to the same place.
    /// Never the key.
    pub fn label(&self) -> String {
        match self {
            Target::Api { base_url, .. } | Target::Offline { base_url } => {
                base_url.trim_end_matches('/').to_string()
            }
            Target::Sandbox { .. } => "the built-in sandbox (--sandbox)".to_string(),
        }
    }
}

/// The resolved run configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub inputs: Vec<Input>,
    pub out_dir: PathBuf,
    pub mapping: Option<MappingConfig>,
    /// None: read, map and validate only.
    pub send: Option<SendConfig>,
}

/// What the environment gives (injected, so resolution is testable).
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Config {
    /// `validate FILE...` (and `import --dry-run`).
    pub fn for_validate(args: &InputArgs) -> Result<Config, RunError> {
        let file = load_file_config(args.config.as_deref())?;
        resolve_inputs(args, file, None)
    }

    /// `import FILE...`.
    pub fn for_import(args: &ImportArgs, env: &dyn Env) -> Result<Config, RunError> {
        Config::resolve(args, env, true)
    }

    /// `plan FILE...`: an import's config, sending nothing unless it lists the account
    /// (`--index always`), so the API key is needed only then. Its `--out` may hold an
    /// earlier plan (a plan writes no result files).
    pub fn for_plan(args: &PlanArgs, env: &dyn Env) -> Result<Config, RunError> {
        let lists = args.index == Some(IndexPolicy::Always);
        let mut import = args.import();
        import.input.overwrite = true;
        Config::resolve(&import, env, lists)
    }

    fn resolve(args: &ImportArgs, env: &dyn Env, sends: bool) -> Result<Config, RunError> {
        let file = load_file_config(args.input.config.as_deref())?;
        if args.dry_run {
            return resolve_inputs(&args.input, file, None);
        }
        let rate = resolve_rate(args.rate, file.rate.as_deref())?;
        let concurrency = args
            .concurrency
            .or(file.concurrency)
            .unwrap_or(DEFAULT_CONCURRENCY);
        if !(1..=256).contains(&concurrency) {
            return Err(RunError::Config(format!(
                "concurrency must be between 1 and 256, not {concurrency}"
            )));
        }
        let mode = args.mode.or(file.mode).unwrap_or_default();
        let index = args.index.or(file.index).unwrap_or_default();
        let state = match mode {
            // A create run keeps a state only to hold the account index, where one is given.
            Mode::Create => args.state.clone().or(file.state.clone()),
            _ => Some(crate::state::path_or_default(
                args.state.clone().or(file.state.clone()),
            )),
        };
        if mode == Mode::Create && state.is_none() && index == IndexPolicy::Always {
            return Err(RunError::Config(
                "--index always needs a --state to hold the account index (--mode create keeps none of its own)".into(),
            ));
        }
        let limit =
            |flag: Option<FailureLimit>, file: &Option<CountOrText>, name: &str| match (flag, file)
            {
                (Some(limit), _) => Ok(Some(limit)),
                (None, Some(CountOrText::Count(count))) => Ok(Some(FailureLimit::Count(*count))),
                (None, Some(CountOrText::Text(text))) => text
                    .parse()
                    .map(Some)
                    .map_err(|e| RunError::Config(format!("config: {name}: {e}"))),
                (None, None) => Ok(None),
            };
        let max_failures =
            limit(args.max_failures, &file.max_failures, "max_failures")?.unwrap_or_default();
        let max_missing = limit(args.max_missing, &file.max_missing, "max_missing")?
            .unwrap_or(crate::missing::DEFAULT_LIMIT);
        let missing = match (&args.missing, &file.missing) {
            (Some(missing), _) => Some(missing.clone()),
            (None, Some(text)) => Some(
                text.parse()
                    .map_err(|e| RunError::Config(format!("config: missing: {e}")))?,
            ),
            (None, None) => None,
        };
        if mode == Mode::Create && args.missing.is_some() {
            return Err(RunError::Config(
                "--missing is for --mode upsert or update: a create run knows no contacts to miss"
                    .into(),
            ));
        }
        let missing = (mode != Mode::Create).then(|| missing.unwrap_or_default());
        let verify = match (args.verify, &file.verify) {
            (Some(verify), _) => verify,
            (None, Some(text)) => text
                .parse()
                .map_err(|e| RunError::Config(format!("config: verify: {e}")))?,
            (None, None) => Verify::default(),
        };
        let collections = Collections {
            replace_tags: file.update.tags == Some(TagsUpdate::Replace),
            replace_custom_data: file.update.custom_data == Some(CustomDataUpdate::Replace),
        };
        let target = if args.sandbox {
            Target::Sandbox {
                seed: args.seed_contacts.clone(),
            }
        } else {
            // Flag, then environment (an empty variable is unset), then file, then default.
            let base_url = args
                .base_url
                .clone()
                .or_else(|| env.var(BASE_URL_ENV).filter(|url| !url.trim().is_empty()))
                .or_else(|| file.base_url.clone())
                .unwrap_or_else(|| DEFAULT_BASE_URL.to_string());
            if !(base_url.starts_with("https://") || base_url.starts_with("http://")) {
                return Err(RunError::Config(format!(
                    "base URL {base_url:?} must start with https:// or http://"
                )));
            }
            if sends {
                let key = resolve_key(
                    env,
                    file.api_key_file.as_deref(),
                    args.input.config.as_deref(),
                )?;
                Target::Api { base_url, key }
            } else {
                Target::Offline { base_url }
            }
        };
        let send = SendConfig {
            target,
            rate,
            concurrency,
            retry: resolve_retry(&file.retry)?,
            timeouts: timeouts(&file.http),
            begin: if args.resume {
                Begin::Resume { force: args.force }
            } else {
                Begin::Fresh
            },
            mode,
            state,
            index,
            max_failures,
            verify,
            fail_fast: args
                .fail_fast
                .or(file.fail_fast)
                .unwrap_or(DEFAULT_FAIL_FAST),
            collections,
            missing,
            max_missing,
        };
        resolve_inputs(&args.input, file, Some(send))
    }
}

/// `undo`: how to reach the API again, and at what pace.
#[derive(Debug, Clone)]
pub struct UndoConfig {
    pub out_dir: PathBuf,
    pub yes: bool,
    pub rate: Rate,
    pub retry: RetryPolicy,
    pub timeouts: Timeouts,
    /// The key, unless none is set (a plan of the undo needs none).
    pub key: Option<ApiKey>,
    /// `--base-url`: the API to send to instead of the one the ledger recorded.
    pub base_url: Option<String>,
    pub force: bool,
}

impl UndoConfig {
    pub fn resolve(args: &UndoArgs, env: &dyn Env) -> Result<UndoConfig, RunError> {
        let file = load_file_config(args.config.as_deref())?;
        let rate = resolve_rate(args.rate, file.rate.as_deref())?;
        let key = match resolve_key(env, file.api_key_file.as_deref(), args.config.as_deref()) {
            Ok(key) => Some(key),
            // Planning the undo needs no key; doing it does.
            Err(_) if !args.yes => None,
            Err(error) => return Err(error),
        };
        Ok(UndoConfig {
            out_dir: args.out.clone(),
            yes: args.yes,
            rate,
            retry: resolve_retry(&file.retry)?,
            timeouts: timeouts(&file.http),
            key,
            base_url: args.base_url.clone().or(file.base_url),
            force: args.force,
        })
    }
}

fn timeouts(http: &HttpSection) -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(http.connect_timeout_secs.unwrap_or(10)),
        request: Duration::from_secs(http.timeout_secs.unwrap_or(30)),
    }
}

fn resolve_inputs(
    args: &InputArgs,
    file: FileConfig,
    send: Option<SendConfig>,
) -> Result<Config, RunError> {
    let format = args.text.format.or(file.format);
    let text = TextOptions {
        delimiter: args.text.delimiter.or(file.delimiter),
        encoding: args.text.encoding.or(file.encoding),
        sheet: args.text.sheet.clone().or(file.sheet),
    };
    let inputs = args
        .files
        .iter()
        .map(|arg| Input::resolve(arg, format, text.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    if inputs.iter().filter(|i| i.path.is_none()).count() > 1 {
        return Err(RunError::Config("stdin (-) can be read only once".into()));
    }
    // The ledger keys rows by input, so an input named twice would be one input read twice.
    for (index, input) in inputs.iter().enumerate() {
        if inputs[..index].iter().any(|i| i.name == input.name) {
            return Err(RunError::Config(format!(
                "{} is named twice: name each input once",
                input.name
            )));
        }
    }
    let resume = matches!(send.as_ref().map(|s| s.begin), Some(Begin::Resume { .. }));
    let out_dir = match args.out.clone().or(file.out) {
        Some(dir) => {
            if !args.overwrite && !resume {
                refuse_used_out_dir(&dir)?;
            }
            dir
        }
        None if resume => {
            return Err(RunError::Config(
                "--resume needs --out DIR: the results directory of the run to resume".into(),
            ));
        }
        None => default_out_dir(),
    };
    Ok(Config {
        inputs,
        out_dir,
        mapping: file.mapping,
        send,
    })
}

/// A fresh directory per run, so no run overwrites another's results.
fn default_out_dir() -> PathBuf {
    let stamp = chrono::Local::now().format("%Y-%m-%dT%H-%M-%S");
    PathBuf::from("helpcrunch-import-out").join(stamp.to_string())
}

fn refuse_used_out_dir(dir: &Path) -> Result<(), RunError> {
    if let Some(found) = crate::report::results_in(dir) {
        return Err(RunError::Config(format!(
            "{} already holds results of a run ({found}): resume it with --resume, choose another --out, or pass --overwrite to start it again",
            dir.display()
        )));
    }
    Ok(())
}

fn load_file_config(path: Option<&Path>) -> Result<FileConfig, RunError> {
    let Some(path) = path else {
        return Ok(FileConfig::default());
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| RunError::Config(format!("cannot read config {}: {e}", path.display())))?;
    parse_file_config(&text)
        .map_err(|e| RunError::Config(format!("config {}: {e}", path.display())))
}

pub fn parse_file_config(text: &str) -> Result<FileConfig, String> {
    toml::from_str(text).map_err(|e| e.to_string().trim_end().to_string())
}

/// The key from HELPCRUNCH_API_KEY, else from `api_key_file` (relative to the config file).
fn resolve_key(
    env: &dyn Env,
    key_file: Option<&Path>,
    config_path: Option<&Path>,
) -> Result<ApiKey, RunError> {
    if let Some(key) = env.var(API_KEY_ENV).filter(|k| !k.trim().is_empty()) {
        return ApiKey::new(&key).map_err(|e| RunError::Config(format!("{API_KEY_ENV}: {e}")));
    }
    let Some(key_file) = key_file else {
        return Err(RunError::Config(format!(
            "no API key: set {API_KEY_ENV} (or api_key_file in the config); to rehearse without one, use --sandbox"
        )));
    };
    let path = match config_path.and_then(Path::parent) {
        Some(dir) if key_file.is_relative() => dir.join(key_file),
        _ => key_file.to_path_buf(),
    };
    let text = std::fs::read_to_string(&path).map_err(|e| {
        RunError::Config(format!("cannot read api_key_file {}: {e}", path.display()))
    })?;
    ApiKey::new(&text)
        .map_err(|e| RunError::Config(format!("api_key_file {}: {e}", path.display())))
}

/// The rate from the flag, else the config file's `rate`, else HelpCrunch's documented
/// 120 requests per minute.
fn resolve_rate(flag: Option<Rate>, file: Option<&str>) -> Result<Rate, RunError> {
    match (flag, file) {
        (Some(rate), _) => Ok(rate),
        (None, Some(text)) => text
            .parse()
            .map_err(|e| RunError::Config(format!("config: rate: {e}"))),
        (None, None) => Ok(Rate::HELPCRUNCH_DEFAULT),
    }
}

fn resolve_retry(section: &RetrySection) -> Result<RetryPolicy, RunError> {
    let default = RetryPolicy::default();
    let policy = RetryPolicy {
        max_attempts: section.max_attempts.unwrap_or(default.max_attempts),
        max_rate_limited: section.max_rate_limited.unwrap_or(default.max_rate_limited),
        initial_delay: section
            .initial_delay_ms
            .map_or(default.initial_delay, Duration::from_millis),
        max_delay: section
            .max_delay_secs
            .map_or(default.max_delay, Duration::from_secs),
        max_total: section
            .max_total_secs
            .map_or(default.max_total, Duration::from_secs),
        max_retry_after: section
            .max_retry_after_secs
            .map_or(default.max_retry_after, Duration::from_secs),
        settle: section
            .settle_secs
            .map_or(default.settle, Duration::from_secs),
        unreachable: section
            .unreachable_secs
            .map_or(default.unreachable, Duration::from_secs),
    };
    if policy.settle > MAX_SETTLE {
        return Err(RunError::Config(format!(
            "retry.settle_secs must be at most {}, not {}: a row waits that long before it is sent again",
            MAX_SETTLE.as_secs(),
            policy.settle.as_secs()
        )));
    }
    if !(1..=100).contains(&policy.max_attempts) {
        return Err(RunError::Config(format!(
            "retry.max_attempts must be between 1 and 100, not {}",
            policy.max_attempts
        )));
    }
    Ok(policy)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    struct FakeEnv(HashMap<&'static str, &'static str>);

    impl Env for FakeEnv {
        fn var(&self, name: &str) -> Option<String> {
            self.0.get(name).map(|v| v.to_string())
        }
    }

    fn import_args(args: &[&str]) -> ImportArgs {
        let mut argv = vec!["helpcrunch-import", "import"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv).map(|cli| cli.command) {
            Ok(Command::Import(args)) => args,
            other => panic!("not an import: {other:?}"),
        }
    }

    fn temp_file(dir: &Path, name: &str, text: &str) -> String {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write temp file");
        path.to_string_lossy().into_owned()
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let dir = tempfile::tempdir().expect("tempdir");
        let input = temp_file(dir.path(), "a.csv", "email\n");
        let env = FakeEnv(HashMap::from([(API_KEY_ENV, "k1")]));
        let config = Config::for_import(&import_args(&[&input]), &env).expect("resolves");
        let send = config.send.expect("import sends");
        assert_eq!(send.rate, Rate::HELPCRUNCH_DEFAULT);
        assert_eq!(send.concurrency, DEFAULT_CONCURRENCY);
        assert!(
            matches!(send.target, Target::Api { ref base_url, .. } if base_url == DEFAULT_BASE_URL)
        );
        assert_eq!(config.inputs[0].format, Format::Csv);
        assert!(config.out_dir.starts_with("helpcrunch-import-out"));
    }

    #[test]
    fn flags_win_over_the_config_file_and_the_key_file_is_relative_to_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let input = temp_file(dir.path(), "a.csv", "email\n");
        temp_file(dir.path(), "key.txt", "  from-file \n");
        let config_path = temp_file(
            dir.path(),
            "c.toml",
            "rate = \"2/s\"\nconcurrency = 2\nbase_url = \"http://127.0.0.1:1/v1\"\napi_key_file = \"key.txt\"\n[retry]\nmax_attempts = 3\n",
        );
        let env = FakeEnv(HashMap::new());
        let config = Config::for_import(
            &import_args(&[&input, "--config", &config_path, "--rate", "5/s"]),
            &env,
        )
        .expect("resolves");
        let send = config.send.expect("import sends");
        assert_eq!(send.rate.to_string(), "5/s");
        assert_eq!(send.concurrency, 2);
        assert_eq!(send.retry.max_attempts, 3);
        assert!(
            matches!(send.target, Target::Api { ref base_url, .. } if base_url == "http://127.0.0.1:1/v1")
        );
    }

    #[test]
    fn verify_fail_fast_and_update_rules_come_from_flags_then_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let input = temp_file(dir.path(), "a.csv", "email\n");
        let config_path = temp_file(
            dir.path(),
            "c.toml",
            "verify = \"sample:10\"\nfail_fast = 5\n[update]\ntags = \"replace\"\n",
        );
        let env = FakeEnv(HashMap::from([(API_KEY_ENV, "k")]));
        let resolve = |extra: &[&str]| {
            let mut args = vec![input.as_str(), "--config", config_path.as_str()];
            args.extend_from_slice(extra);
            Config::for_import(&import_args(&args), &env)
                .expect("resolves")
                .send
                .expect("import sends")
        };
        let from_file = resolve(&[]);
        assert_eq!(
            from_file.verify,
            Verify::Sample(std::num::NonZeroU64::new(10).expect("not zero"))
        );
        assert_eq!(from_file.fail_fast, 5);
        assert!(from_file.collections.replace_tags);
        assert!(!from_file.collections.replace_custom_data);
        let flags = resolve(&["--verify", "off", "--fail-fast", "0"]);
        assert_eq!((flags.verify, flags.fail_fast), (Verify::Off, 0));
        let defaults = Config::for_import(&import_args(&[&input]), &env)
            .expect("resolves")
            .send
            .expect("import sends");
        assert_eq!(
            (defaults.verify, defaults.fail_fast),
            (Verify::First, DEFAULT_FAIL_FAST)
        );
        assert_eq!(defaults.collections, Collections::default());
    }

    #[test]
    fn a_missing_key_names_the_variable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let input = temp_file(dir.path(), "a.csv", "email\n");
        let err = Config::for_import(&import_args(&[&input]), &FakeEnv(HashMap::new())).err();
        let message = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains(API_KEY_ENV), "{message}");
    }

    #[test]
    fn the_sandbox_and_a_dry_run_need_no_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let input = temp_file(dir.path(), "a.csv", "email\n");
        let env = FakeEnv(HashMap::new());
        let sandbox =
            Config::for_import(&import_args(&[&input, "--sandbox"]), &env).expect("resolves");
        assert!(matches!(
            sandbox.send.map(|s| s.target),
            Some(Target::Sandbox { .. })
        ));
        let dry = Config::for_import(&import_args(&[&input, "--dry-run"]), &env).expect("resolves");
        assert!(dry.send.is_none());
    }

    #[test]
    fn the_example_config_parses_with_every_commented_key_enabled() {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.toml"))
                .expect("config.example.toml is shipped");
        assert!(parse_file_config(&text).is_ok_and(|c| c.mapping.is_some()));
        // Uncomment the settings (not the prose) above [mapping]: each key must be real.
        let settings: String = text
            .split("[mapping]")
            .next()
            .unwrap_or_default()
            .lines()
            .map(|line| match line.strip_prefix("# ") {
                Some(rest) if rest.starts_with('[') || rest.contains(" = ") => rest,
                _ => line,
            })
            .collect::<Vec<_>>()
            .join("\n");
        let config = parse_file_config(&settings).unwrap_or_else(|e| panic!("{e}\n{settings}"));
        assert_eq!(config.rate.as_deref(), Some("120/min"));
        assert_eq!(config.concurrency, Some(16));
        assert_eq!(config.retry.max_retry_after_secs, Some(300));
        assert_eq!(config.http.timeout_secs, Some(30));
        assert!(config.api_key_file.is_some() && config.base_url.is_some() && config.out.is_some());
        assert_eq!(config.mode, Some(Mode::Create));
        assert!(config.state.is_some());
        assert_eq!(config.max_failures, Some(CountOrText::Count(0)));
        assert_eq!(config.verify.as_deref(), Some("first"));
        assert_eq!(config.fail_fast, Some(DEFAULT_FAIL_FAST));
        assert_eq!(config.update.tags, Some(TagsUpdate::Add));
        assert_eq!(config.update.custom_data, Some(CustomDataUpdate::Check));
        assert_eq!(config.retry.settle_secs, Some(15));
        assert_eq!(config.index, Some(IndexPolicy::Auto));
        assert_eq!(config.missing.as_deref(), Some("report"));
        assert_eq!(config.max_missing, Some(CountOrText::Text("5%".into())));
        for (text, limit) in [
            ("max_failures = 10", CountOrText::Count(10)),
            ("max_failures = \"1.5%\"", CountOrText::Text("1.5%".into())),
        ] {
            let config = parse_file_config(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(config.max_failures, Some(limit));
        }
    }

    #[test]
    fn unknown_config_keys_and_bad_values_are_refused() {
        assert!(parse_file_config("rat = \"2/s\"").is_err());
        assert!(parse_file_config("[retry]\nmax_attempt = 2").is_err());
        let dir = tempfile::tempdir().expect("tempdir");
        let input = temp_file(dir.path(), "a.csv", "email\n");
        let env = FakeEnv(HashMap::from([(API_KEY_ENV, "k1")]));
        for bad in [
            &["--concurrency", "0"][..],
            &["--base-url", "ftp://x"][..],
            &["--mode", "create", "--index", "always"][..],
        ] {
            let mut args = vec![input.as_str()];
            args.extend_from_slice(bad);
            assert!(
                Config::for_import(&import_args(&args), &env).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn only_upsert_and_update_keep_a_state_at_the_default_path_unless_told() {
        let dir = tempfile::tempdir().expect("tempdir");
        let input = temp_file(dir.path(), "a.csv", "email\n");
        let env = FakeEnv(HashMap::from([(API_KEY_ENV, "k1")]));
        let send = |extra: &[&str]| {
            let mut args = vec![input.as_str()];
            args.extend_from_slice(extra);
            Config::for_import(&import_args(&args), &env)
                .expect("resolves")
                .send
                .expect("sends")
        };
        let create = send(&[]);
        assert_eq!((create.mode, create.state), (Mode::Create, None));
        assert_eq!(create.max_failures, FailureLimit::Count(0));
        let upsert = send(&["--mode", "upsert", "--max-failures", "2%"]);
        assert_eq!(
            upsert.state.as_deref(),
            Some(std::path::Path::new(crate::state::DEFAULT_PATH))
        );
        assert_eq!(upsert.max_failures, FailureLimit::Percent(2.0));
        let update = send(&["--mode", "update", "--state", "s.db"]);
        assert_eq!(update.state.as_deref(), Some(std::path::Path::new("s.db")));
    }

    #[test]
    fn an_out_dir_holding_results_is_refused_unless_overwrite() {
        let dir = tempfile::tempdir().expect("tempdir");
        let input = temp_file(dir.path(), "a.csv", "email\n");
        let out = dir.path().join("out");
        std::fs::create_dir(&out).expect("mkdir");
        temp_file(&out, "summary.json", "{}");
        let out = out.to_string_lossy().into_owned();
        let env = FakeEnv(HashMap::from([(API_KEY_ENV, "k1")]));
        let refused = Config::for_import(&import_args(&[&input, "--out", &out]), &env).err();
        assert!(
            refused
                .map(|e| e.to_string())
                .unwrap_or_default()
                .contains("--overwrite")
        );
        assert!(
            Config::for_import(&import_args(&[&input, "--out", &out, "--overwrite"]), &env).is_ok()
        );
        let resumed = Config::for_import(&import_args(&[&input, "--out", &out, "--resume"]), &env)
            .expect("a resume goes on in a used directory");
        assert_eq!(
            resumed.send.map(|s| s.begin),
            Some(Begin::Resume { force: false })
        );
    }

    #[test]
    fn a_resume_needs_its_directory_and_inputs_are_named_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let input = temp_file(dir.path(), "a.csv", "email\n");
        let env = FakeEnv(HashMap::from([(API_KEY_ENV, "k1")]));
        let message = |args: &[&str]| {
            Config::for_import(&import_args(args), &env)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(message(&[&input, "--resume"]).contains("--out"));
        assert!(message(&[&input, &input]).contains("named twice"));
        let fresh = Config::for_import(&import_args(&[&input]), &env).expect("resolves");
        assert_eq!(fresh.send.map(|s| s.begin), Some(Begin::Fresh));
    }
}
