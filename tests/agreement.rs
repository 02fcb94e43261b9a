//! The property that makes `validate` worth running: every row it accepts, the sandbox
//! (an independent reading of the API's rules) accepts, and every row it rejects, the
//! sandbox rejects for the same field. Payloads go to a real sandbox over HTTP on
//! loopback, for a bounded number of generated rows.
//!
//! For a rejected row, what is sent for each field `validate` names is what the importer
//! would have sent without the check: the field's converted value when it converted
//! (an email that is not an address), else the value as the file has it (a locale that
//! is no language).
//!
//! Rules that are the importer's own, with nothing for the API to refuse, are outside the
//! property: customData types in CSV (the API has no types: "many" is a fine string),
//! integers that do not fit 64 bits (refused rather than rounded), a userId repeated
//! within the input, and empty or ragged rows.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};

use helpcrunch_import::mapping::{HeaderPlan, Mapper};
use helpcrunch_import::record::{Cells, Header, Origin, Record, RowError, Warnings};
use helpcrunch_import::sandbox::{Sandbox, SandboxConfig};
use helpcrunch_import::validate::validate;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Map, Value, json};

/// Generated rows per property: enough to meet every pool value many times, few enough
/// for seconds over loopback.
const CASES: u32 = 1000;

fn pick<T: Clone + std::fmt::Debug + 'static>(values: Vec<T>) -> prop::sample::Select<T> {
    prop::sample::select(values)
}

fn emails() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => pick(vec![
            "ann@example.com",
            "first.last+tag@sub.example.org",
            "UPPER@EXAMPLE.COM",
            "a@b.co",
            "\"quoted local\"@example.com",
        ])
        .prop_map(Value::from),
        3 => pick(vec![
            "two@@example.com",
            "plain",
            "ann@localhost",
            "Ann <ann@example.com>",
            "ann@[10.0.0.1]",
            "ann lee@example.com",
            "a..b@example.com",
            ".a@example.com",
            "ünï@example.com",
            "ann@exa_mple.com",
            "ann@-example.com",
            "ann@example.c",
            "@example.com",
            "ann@",
            "  ",
        ])
        .prop_map(Value::from),
        1 => "[a-z.+@-]{1,12}".prop_map(Value::from),
        1 => Just(json!(5)),
        1 => Just(json!(true)),
    ]
}

fn locales() -> impl Strategy<Value = Value> {
    prop_oneof![
        pick(vec![
            "en",
            "EN",
            "en-US",
            "pt_BR",
            "zh-Hant-TW",
            "English",
            "eng",
            "deu",
            "Swahili",
            "xx",
            "tlh",
            "e",
            "",
            "  ",
            "-en",
            "en-",
            "klingon",
        ])
        .prop_map(Value::from),
        "[a-zA-Z_-]{0,6}".prop_map(Value::from),
        Just(json!(7)),
        Just(json!(["en"])),
    ]
}

fn dates() -> impl Strategy<Value = Value> {
    prop_oneof![
        pick(vec![
            "1603885746",
            "0",
            "4133980799",
            "4133980800",
            "9999999999",
            "1603885746000",
            "2021-03-04",
            "2021-03-04T05:06:07Z",
            "2021-03-04 05:06:07+02:00",
            "2021-13-45",
            "2021-02-29",
            "1969-12-31",
            "2101-01-01",
            "-5",
            "yesterday",
            "",
        ])
        .prop_map(Value::from),
        // From the second day of 1970: smaller bare numbers are refused as likely Excel
        // serial days, the importer's own rule (the API takes any seconds).
        (86_400i64..5_000_000_000).prop_map(|n| Value::from(n.to_string())),
        Just(json!(1603885746)),
        Just(json!(1.5)),
        Just(json!(false)),
    ]
}

/// Colors in every form the grammar has, valid or not.
fn colors() -> impl Strategy<Value = String> {
    let number = prop_oneof![
        "[0-9]{1,3}",
        "[0-9]{0,2}\\.[0-9]{1,2}",
        "[+-][0-9]{1,2}",
        "[0-9]e[+-]?[0-9]",
        Just(".".to_string()),
        Just("1e".to_string()),
        Just(String::new()),
    ];
    let unit = pick(vec!["", "", "%", "deg", "turn", "rad", "grad", "px"]);
    let token = (number, unit).prop_map(|(n, u)| format!("{n}{u}"));
    let function = (
        pick(vec!["rgb", "rgba", "hsl", "hsla", "RGB", "lab", "hwb"]),
        prop::collection::vec(token, 2..=5),
        pick(vec![", ", ",", " ", "  "]),
        prop::option::of(pick(vec![" / ", "/", " /"])),
    )
        .prop_map(|(name, tokens, separator, slash)| {
            let mut args = tokens.join(separator);
            if let (Some(slash), Some(last)) = (slash, tokens.last())
                && tokens.len() > 1
            {
                let body = tokens[..tokens.len() - 1].join(" ");
                args = format!("{body}{slash}{last}");
            }
            format!("{name}({args})")
        });
    prop_oneof![
        pick(vec![
            "#c377e0",
            "#FFF",
            "#ffff",
            "#12345678",
            "#12345",
            "#ggg",
            "c377e0",
            "red",
            "RebeccaPurple",
            "transparent",
            "currentcolor",
            "blurple",
            "",
        ])
        .prop_map(String::from),
        "#[0-9a-fA-Fg]{0,9}",
        "[a-z]{3,12}",
        function,
    ]
}

fn tags() -> impl Strategy<Value = Value> {
    let name = pick(vec![
        "vip",
        "new",
        "  ",
        "",
        " padded ",
        "vip",
        "café",
        "🏳\u{FE0F}\u{200D}🌈",
    ]);
    let tag = prop_oneof![
        name.clone().prop_map(Value::from),
        name.clone().prop_map(|n| json!({ "name": n })),
        (name.clone(), colors()).prop_map(|(n, c)| json!({ "name": n, "color": c })),
        (name, Just(json!(3))).prop_map(|(n, c)| json!({ "name": n, "color": c })),
        Just(json!({ "color": "#fff" })),
        Just(json!({ "name": "a", "size": 1 })),
        Just(json!(5)),
        Just(json!(true)),
        Just(Value::Null),
    ];
    prop_oneof![
        prop::collection::vec(tag, 0..4).prop_map(Value::Array),
        pick(vec!["a;b", ";;", "vip"]).prop_map(Value::from),
        Just(json!({ "name": "vip" })),
    ]
}

fn custom_data() -> impl Strategy<Value = Value> {
    let property = pick(vec!["plan", "seats", "plan", " plan", "", "  ", "é"]);
    let value = prop_oneof![
        pick(vec!["pro", "", "  "]).prop_map(Value::from),
        any::<i32>().prop_map(Value::from),
        Just(json!(15.99)),
        any::<bool>().prop_map(Value::from),
        Just(Value::Null),
        Just(json!({ "x": 1 })),
        Just(json!([1])),
    ];
    let entry = prop_oneof![
        (property.clone(), value.clone()).prop_map(|(p, v)| json!({ "property": p, "value": v })),
        property.clone().prop_map(|p| json!({ "property": p })),
        Just(json!({ "property": "a", "value": 1, "type": "x" })),
        Just(json!("plan")),
    ];
    prop_oneof![
        prop::collection::vec(entry, 0..4).prop_map(Value::Array),
        prop::collection::vec((property, value), 0..3).prop_map(|pairs| Value::Object(
            pairs.into_iter().map(|(p, v)| (p.to_string(), v)).collect()
        )),
        Just(json!("plan=pro")),
    ]
}

/// Booleans as JSON has them, and as exports write them: text the importer reads as a
/// boolean (`"yes"`), or refuses (`"maybe"`).
fn flags() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<bool>().prop_map(Value::from),
        pick(vec![
            "true", "FALSE", "yes", "No", "1", "0", "maybe", "2", "on", "", "  ",
        ])
        .prop_map(Value::from),
        Just(json!(1)),
        Just(json!(0)),
        Just(json!(2)),
        Just(json!([true])),
        Just(json!({ "x": true })),
        Just(Value::Null),
    ]
}

fn texts() -> impl Strategy<Value = Value> {
    prop_oneof![
        "[ a-zA-Z0-9+()-]{0,12}".prop_map(Value::from),
        // Text as exports hold it, with no artefact of issue 11: validate must take it
        // as it did before those checks, and the sandbox agrees.
        pick(vec![
            "Zoë Ng",
            "José Müller",
            "李雷",
            "Ada 👩\u{200D}💻",
            "می\u{200C}خواهم",
            "\u{200F}שלום\u{200F}",
            "Łódź, Ærø",
        ])
        .prop_map(Value::from),
        any::<i16>().prop_map(Value::from),
        Just(json!(true)),
        Just(json!(["x"])),
        Just(json!({ "x": 1 })),
        Just(Value::Null),
    ]
}

/// An NDJSON object with any subset of the API's fields, and sometimes a stranger.
fn objects() -> impl Strategy<Value = Map<String, Value>> {
    let maybe = |value: BoxedStrategy<Value>| prop::option::weighted(0.35, value);
    let documented = (
        maybe(texts().boxed()),
        maybe(emails().boxed()),
        maybe(texts().boxed()),
        maybe(texts().boxed()),
        maybe(dates().boxed()),
        maybe(locales().boxed()),
        maybe(tags().boxed()),
        maybe(custom_data().boxed()),
    );
    let writable = (
        maybe(dates().boxed()),
        maybe(flags().boxed()),
        maybe(flags().boxed()),
        maybe(texts().boxed()),
        maybe(texts().boxed()),
        maybe(texts().boxed()),
        maybe(texts().boxed()),
    );
    let stranger = prop::option::weighted(0.1, pick(vec!["mail", "id", "_line", "Email"]));
    (documented, writable, stranger).prop_map(
        |(
            (name, email, company, phone, first_seen, locale, tags, custom),
            (last_seen, unsubscribed, blocked, referer, last_page, created_from, integration),
            stranger,
        )| {
            let mut object = Map::new();
            let fields = [
                ("name", name),
                ("email", email),
                ("company", company),
                ("phone", phone),
                ("firstSeen", first_seen),
                ("locale", locale),
                ("tags", tags),
                ("customData", custom),
                ("lastSeen", last_seen),
                ("unsubscribed", unsubscribed),
                ("blocked", blocked),
                ("referer", referer),
                ("lastPage", last_page),
                ("createdFrom", created_from),
                ("integrationId", integration),
            ];
            for (key, value) in fields {
                if let Some(value) = value {
                    object.insert(key.to_string(), value);
                }
            }
            if let Some(key) = stranger {
                object.insert(key.to_string(), json!("x"));
            }
            object
        },
    )
}

/// A CSV row under the column-name conventions. Typed customData columns are left out:
/// "many" is not an integer is the importer's own rule (the API has no types), so the
/// sandbox has nothing to refuse there.
fn csv_rows() -> impl Strategy<Value = Vec<String>> {
    let text = |value: Value| match value {
        Value::String(text) => text,
        other => other.to_string(),
    };
    let maybe = |cell: BoxedStrategy<String>| {
        prop::option::weighted(0.6, cell).prop_map(Option::unwrap_or_default)
    };
    (
        maybe(emails().prop_map(text).boxed()),
        maybe(locales().prop_map(text).boxed()),
        maybe(dates().prop_map(text).boxed()),
        maybe(
            pick(vec!["vip;new", " ; ", "a;b;a"])
                .prop_map(String::from)
                .boxed(),
        ),
        prop_oneof![
            "[ a-z0-9]{0,6}",
            pick(vec!["São Paulo", "Köln", "東京"]).prop_map(String::from)
        ],
        maybe(pick(vec!["3", "x", "1.5"]).prop_map(String::from).boxed()),
        (
            maybe(flags().prop_map(text).boxed()),
            maybe(flags().prop_map(text).boxed()),
            maybe(dates().prop_map(text).boxed()),
            maybe(texts().prop_map(text).boxed()),
        ),
    )
        .prop_map(
            |(
                email,
                locale,
                date,
                tags,
                city,
                seats,
                (unsubscribed, blocked, last_seen, referer),
            )| {
                vec![
                    email,
                    locale,
                    date,
                    tags,
                    city,
                    seats,
                    unsubscribed,
                    blocked,
                    last_seen,
                    referer,
                ]
            },
        )
}

const CSV_HEADER: [&str; 10] = [
    "email",
    "LOCALE",
    "firstSeen",
    "tags",
    "customData.city",
    "customData.seats",
    "Unsubscribed",
    "blocked",
    "lastSeen",
    "Referer",
];

/// `customData.plan` → `customData`, `tags[0].name` → `tags`.
fn top_level(field: &str) -> &str {
    field.split(['.', '[']).next().unwrap_or(field)
}

struct Checker {
    runtime: tokio::runtime::Runtime,
    sandbox: Sandbox,
    client: reqwest::Client,
    mapper: Mapper,
    next_id: AtomicU64,
}

impl Checker {
    fn new() -> Checker {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let sandbox = runtime
            .block_on(Sandbox::start(
                SandboxConfig::default(),
                SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            ))
            .expect("the sandbox starts");
        Checker {
            runtime,
            sandbox,
            client: reqwest::Client::new(),
            mapper: Mapper::new(None).expect("the conventions"),
            next_id: AtomicU64::new(0),
        }
    }

    /// POSTs `body`; the status and the top-level fields the errors name.
    fn post(&self, body: &Value) -> (u16, Vec<String>) {
        let url = format!("{}/customers", self.sandbox.base_url());
        self.runtime.block_on(async {
            let response = self
                .client
                .post(&url)
                .bearer_auth("test")
                .json(body)
                .send()
                .await
                .expect("the sandbox answers");
            let status = response.status().as_u16();
            let answer: Value = response.json().await.unwrap_or(Value::Null);
            let fields = answer["errors"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e["code"].as_str())
                .map(|code| top_level(code).to_string())
                .collect();
            (status, fields)
        })
    }

    /// Checks one record; `raw` gives a field's value as the file has it.
    fn check(
        &self,
        record: &Record,
        plan: Option<&HeaderPlan>,
        raw: impl Fn(&str) -> Option<Value>,
    ) -> Result<(), TestCaseError> {
        let (payload, mut errors) =
            match self.mapper.convert(plan, record, &mut Warnings::default()) {
                Ok(converted) => converted,
                // A row-level failure ("the row is empty") is the importer's own rule.
                Err(_) => return Ok(()),
            };
        let converted = serde_json::to_value(&payload).expect("a payload serialises");
        let conversion_failed: Vec<String> = errors
            .iter()
            .filter_map(|e| e.field.as_deref().map(|f| top_level(f).to_string()))
            .collect();
        errors.extend(validate(&payload));
        if errors.is_empty() {
            let (status, fields) = self.post(&converted);
            prop_assert_eq!(
                status,
                201,
                "validate accepted {:?} as {}, the sandbox refused {:?}",
                record.cells,
                converted,
                fields
            );
            return Ok(());
        }
        for RowError { field, message } in &errors {
            let Some(field) = field.as_deref().map(top_level) else {
                return Err(TestCaseError::fail(format!(
                    "an error with no field: {message} ({:?})",
                    record.cells
                )));
            };
            let value = if conversion_failed.iter().any(|f| f == field) {
                raw(field)
            } else {
                converted.get(field).cloned()
            };
            let Some(value) = value else {
                return Err(TestCaseError::fail(format!(
                    "{field}: no value to send for {message:?} ({:?})",
                    record.cells
                )));
            };
            let body = json!({ field: value });
            let (status, fields) = self.post(&body);
            prop_assert!(
                status == 400 && fields.iter().any(|f| f == field),
                "validate refused {field} ({message}), the sandbox answered {status} {fields:?} to {body}"
            );
        }
        Ok(())
    }

    /// A userId no earlier case used, so the sandbox never answers "duplicate".
    fn unique(&self, object: &mut Map<String, Value>) {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        object.insert("userId".into(), Value::from(format!("case-{n}")));
    }
}

fn origin() -> Origin {
    Origin {
        file: "generated".into(),
        line: 2,
    }
}

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    })
}

#[test]
fn ndjson_rows_validate_accepts_the_sandbox_accepts_and_refusals_agree_by_field() {
    let checker = Checker::new();
    let result = runner().run(&objects(), |mut object| {
        checker.unique(&mut object);
        let record = Record {
            origin: origin(),
            cells: Cells::Json(object.clone()),
        };
        checker.check(&record, None, |field| object.get(field).cloned())
    });
    if let Err(error) = result {
        panic!("{error}");
    }
    let stats = checker.sandbox.stats();
    assert!(stats.created > 20 && stats.rejected > 20, "{stats:?}");
}

#[test]
fn csv_rows_validate_accepts_the_sandbox_accepts_and_refusals_agree_by_field() {
    let checker = Checker::new();
    let header: Header = CSV_HEADER
        .iter()
        .map(|h| h.to_string())
        .collect::<Vec<_>>()
        .into();
    let plan = checker.mapper.plan(&header).expect("a conventional header");
    let result = runner().run(&csv_rows(), |values| {
        let record = Record {
            origin: origin(),
            cells: Cells::Csv {
                header: header.clone(),
                values: values.iter().collect(),
            },
        };
        checker.check(&record, Some(&plan), |field| {
            // The cell the field comes from, as text.
            let column = CSV_HEADER.iter().position(|h| {
                h.eq_ignore_ascii_case(field) || h.starts_with(&format!("{field}."))
            })?;
            let cell = values[column].trim().to_string();
            Some(match field {
                "customData" => json!([{ "property": "seats", "value": cell }]),
                _ => Value::from(cell),
            })
        })
    });
    if let Err(error) = result {
        panic!("{error}");
    }
    let stats = checker.sandbox.stats();
    assert!(stats.created > 20 && stats.rejected > 20, "{stats:?}");
}
