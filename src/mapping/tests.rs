//! Records through `Mapper::map`, end to end: exact payloads and every message.

use std::sync::Arc;

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::record::{Origin, Warnings};

fn origin() -> Origin {
    Origin {
        file: Arc::from("test.csv"),
        line: 2,
    }
}

fn header(names: &[&str]) -> Header {
    names.iter().map(|name| name.to_string()).collect()
}

fn csv(names: &[&str], values: &[&str]) -> Record {
    Record {
        origin: origin(),
        cells: Cells::Csv {
            header: header(names),
            values: values.iter().map(|v| v.to_string()).collect(),
        },
    }
}

fn ndjson(value: Value) -> Record {
    let Value::Object(object) = value else {
        panic!("not an object: {value}")
    };
    Record {
        origin: origin(),
        cells: Cells::Json(object),
    }
}

fn config(text: &str) -> MappingConfig {
    let mut table: toml::Table = toml::from_str(text).unwrap();
    table.remove("mapping").unwrap().try_into().unwrap()
}

fn mapper(text: &str) -> Mapper {
    Mapper::new(Some(&config(text))).unwrap()
}

fn conventions() -> Mapper {
    Mapper::new(None).unwrap()
}

/// The payload JSON of a record that must map.
fn ok(mapper: &Mapper, record: &Record) -> Value {
    match mapper.map(None, record, &mut Warnings::default()) {
        Ok(payload) => serde_json::to_value(payload).unwrap(),
        Err(errors) => panic!("unexpected errors: {errors:?}"),
    }
}

/// The (field, message) pairs of a record that must fail.
fn errors(mapper: &Mapper, record: &Record) -> Vec<(Option<String>, String)> {
    match mapper.map(None, record, &mut Warnings::default()) {
        Ok(payload) => panic!("unexpected payload: {payload:?}"),
        Err(errors) => errors.into_iter().map(|e| (e.field, e.message)).collect(),
    }
}

fn error(field: Option<&str>, message: &str) -> (Option<String>, String) {
    (field.map(str::to_owned), message.to_owned())
}

// --- Conventions, CSV -------------------------------------------------------------------

#[test]
fn conventional_csv_row() {
    let names = [
        "Name",
        "EMAIL",
        "userid",
        "company",
        "phone",
        "firstSeen",
        "source",
        "locale",
        "notes",
        "tags",
        "customData.zip",
        "customData.orders:integer",
        "customData.paid:boolean",
        "customData.since:DATE",
        "customData.amount:float",
    ];
    let values = [
        "  Ana   García ",
        "ana@example.com",
        "u-1",
        "Smith, Jones",
        "+351 21 000 0000",
        "2021-03-04T05:06:07Z",
        "crm",
        "en-US",
        "line one\nline two",
        " vip; ;new ;vip",
        "01234",
        "15",
        "Yes",
        "2021-03-04",
        "15.99",
    ];
    assert_eq!(
        ok(&conventions(), &csv(&names, &values)),
        json!({
            "name": "Ana   García",
            "email": "ana@example.com",
            "userId": "u-1",
            "company": "Smith, Jones",
            "phone": "+351 21 000 0000",
            "firstSeen": "1614834367",
            "source": "crm",
            "locale": "en",
            "notes": "line one\nline two",
            "tags": [{"name": "vip"}, {"name": "new"}],
            "customData": [
                {"property": "zip", "value": "01234"},
                {"property": "orders", "value": 15},
                {"property": "paid", "value": true},
                {"property": "since", "value": "1614816000"},
                {"property": "amount", "value": 15.99},
            ],
        })
    );
}

#[test]
fn every_writable_field_has_a_conventional_column() {
    let names = [
        "email",
        "Unsubscribed",
        "BLOCKED",
        "lastSeen",
        "referer",
        "lastpage",
        "createdFrom",
        "integrationId",
    ];
    let values = [
        "a@example.com",
        "Yes",
        "0",
        "2021-03-04T05:06:07Z",
        "https://ref.example/?q=1",
        "/pricing",
        "crm",
        "int-7",
    ];
    assert_eq!(
        ok(&conventions(), &csv(&names, &values)),
        json!({
            "email": "a@example.com",
            "unsubscribed": true,
            "blocked": false,
            "lastSeen": "1614834367",
            "referer": "https://ref.example/?q=1",
            "lastPage": "/pricing",
            "createdFrom": "crm",
            "integrationId": "int-7",
        })
    );
}

#[test]
fn unsubscribed_and_blocked_read_booleans_like_typed_custom_data() {
    for (text, flag) in [
        ("true", true),
        ("TRUE", true),
        ("yes", true),
        ("Yes", true),
        ("1", true),
        ("false", false),
        ("False", false),
        ("NO", false),
        ("0", false),
    ] {
        let record = csv(&["unsubscribed", "blocked"], &[text, text]);
        assert_eq!(
            ok(&conventions(), &record),
            json!({"unsubscribed": flag, "blocked": flag}),
            "{text}"
        );
    }
    // Nothing in the cell: nothing sent, never false.
    assert_eq!(
        ok(
            &conventions(),
            &csv(&["email", "unsubscribed"], &["a@example.com", " "])
        ),
        json!({"email": "a@example.com"})
    );
    let record = csv(&["unsubscribed", "blocked"], &["maybe", "2"]);
    assert_eq!(
        errors(&conventions(), &record),
        [
            error(
                Some("unsubscribed"),
                r#"unsubscribed "maybe" is not a boolean (expected true/false, yes/no or 1/0)"#
            ),
            error(
                Some("blocked"),
                r#"blocked "2" is not a boolean (expected true/false, yes/no or 1/0)"#
            ),
        ]
    );
    let mapper = mapper("[mapping]\nemail = \"Email\"\nunsubscribed = \"Email Opt Out\"\n");
    let record = csv(&["Email", "Email Opt Out"], &["a@example.com", "opted out"]);
    assert_eq!(
        errors(&mapper, &record),
        [error(
            Some("unsubscribed"),
            r#"column "Email Opt Out": "opted out" is not a boolean (expected true/false, yes/no or 1/0)"#
        )]
    );
}

#[test]
fn last_seen_reads_dates_like_first_seen() {
    let record = csv(
        &["firstSeen", "lastSeen"],
        &["2021-03-04", "2021-03-05 10:00:00+02:00"],
    );
    assert_eq!(
        ok(&conventions(), &record),
        json!({"firstSeen": "1614816000", "lastSeen": "1614931200"})
    );
    // A serial day is never taken as seconds, for lastSeen as for firstSeen.
    let record = csv(&["lastSeen"], &["44197"]);
    assert_eq!(
        errors(&conventions(), &record),
        [error(
            Some("lastSeen"),
            "lastSeen \"44197\" is not a date: too small for UNIX seconds; as an Excel serial day \
             it is \"2021-01-01\" (to read it so, map the column with format = \"excel\"; format = \
             \"unix\" takes it as seconds)"
        )]
    );
    for (format, cell, seconds) in [
        ("excel", "44197.5", "1609502400"),
        ("unix", "44197", "44197"),
        ("unix_ms", "1609459200999", "1609459200"),
        ("%d/%m/%Y", "01/02/2021", "1612137600"),
    ] {
        let mapper = mapper(&format!(
            "[mapping]\nlastSeen = {{ column = \"Last Activity\", format = \"{format}\" }}\n"
        ));
        assert_eq!(
            ok(&mapper, &csv(&["Last Activity"], &[cell])),
            json!({"lastSeen": seconds}),
            "{format}"
        );
    }
    let record = csv(&["lastSeen"], &["2101-01-01"]);
    assert_eq!(
        errors(&conventions(), &record),
        [error(
            Some("lastSeen"),
            r#"lastSeen "2101-01-01" is after the year 2100"#
        )]
    );
}

#[test]
fn every_writable_field_has_a_mapping_key() {
    let mapper = mapper(
        r#"
        [mapping]
        email = "Email"
        unsubscribed = "Email Opt Out"
        blocked = { value = true }
        lastSeen = { column = "Last Activity", format = "%d/%m/%Y" }
        referer = "Referrer URL"
        lastPage = { template = "https://example.com{Path}" }
        createdFrom = { value = "crm-export" }
        integrationId = "Integration"
        "#,
    );
    let record = csv(
        &[
            "Email",
            "Email Opt Out",
            "Last Activity",
            "Referrer URL",
            "Path",
            "Integration",
        ],
        &[
            "a@example.com",
            "no",
            "31/12/2020",
            "https://ref.example",
            "/pricing",
            "42",
        ],
    );
    assert_eq!(
        ok(&mapper, &record),
        json!({
            "email": "a@example.com",
            "unsubscribed": false,
            "blocked": true,
            "lastSeen": "1609372800",
            "referer": "https://ref.example",
            "lastPage": "https://example.com/pricing",
            "createdFrom": "crm-export",
            "integrationId": "42",
        })
    );
    // A constant is checked once, when the config is read.
    let bad = config("[mapping]\nblocked = { value = \"sometimes\" }\n");
    assert_eq!(
        Mapper::new(Some(&bad)).unwrap_err().to_string(),
        r#"mapping.blocked: value "sometimes" is not a boolean (expected true/false, yes/no or 1/0)"#
    );
    let bad = config("[mapping]\nunsubscribed = { column = \"X\", format = \"excel\" }\n");
    assert!(Mapper::new(Some(&bad)).is_err());
}

#[test]
fn json_objects_carry_every_writable_field() {
    let body = json!({
        "email": "a@example.com",
        "unsubscribed": true,
        "blocked": false,
        "lastSeen": "1603885800",
        "referer": "https://ref.example",
        "lastPage": "/pricing",
        "createdFrom": "crm",
        "integrationId": "int-7",
    });
    assert_eq!(ok(&conventions(), &ndjson(body.clone())), body);
    // Text and numbers are read as a cell would be.
    let record = ndjson(json!({"unsubscribed": "Yes", "blocked": 0, "lastSeen": 1603885800}));
    assert_eq!(
        ok(&conventions(), &record),
        json!({"unsubscribed": true, "blocked": false, "lastSeen": "1603885800"})
    );
    let record = ndjson(json!({"unsubscribed": "maybe", "blocked": [true], "lastSeen": "44197"}));
    let fields: Vec<Option<String>> = errors(&conventions(), &record)
        .into_iter()
        .map(|(field, _)| field)
        .collect();
    assert_eq!(
        fields,
        ["blocked", "lastSeen", "unsubscribed"].map(|f| Some(f.to_owned()))
    );
    assert_eq!(
        errors(&conventions(), &ndjson(json!({"blocked": {"x": 1}}))),
        [error(
            Some("blocked"),
            "blocked must be a boolean, not an object"
        )]
    );
    // Through a mapping, a JSON boolean is a cell like any other.
    let mapper = mapper("[mapping]\nunsubscribed = \"optedOut\"\n");
    assert_eq!(
        ok(&mapper, &ndjson(json!({"optedOut": true}))),
        json!({"unsubscribed": true})
    );
}

#[test]
fn empty_cells_are_left_out() {
    let record = csv(
        &["name", "email", "phone", "tags", "customData.city"],
        &["Ann", " ", "", " ; ", ""],
    );
    assert_eq!(ok(&conventions(), &record), json!({"name": "Ann"}));
}

#[test]
fn a_blank_row_fails() {
    let record = csv(&["_line", "name", "email"], &["7", " ", ""]);
    assert_eq!(
        errors(&conventions(), &record),
        [error(None, "the row is empty")]
    );
    assert_eq!(
        errors(&conventions(), &ndjson(json!({"name": null, "_line": 7}))),
        [error(None, "the row is empty")]
    );
}

#[test]
fn failed_csv_reimports_as_it_is() {
    let names = header(&["_line", "_status", "_errors", "name", "email"]);
    let plan = conventions().plan(&names).unwrap();
    assert!(plan.unmapped_columns().is_empty());
    let record = csv(
        &["_line", "_status", "_errors", "name", "email"],
        &["12", "failed", "email is bad", "Ann", "ann@example.com"],
    );
    assert_eq!(
        conventions()
            .map(Some(&plan), &record, &mut Warnings::default())
            .map(|p| serde_json::to_value(p).unwrap()),
        Ok(json!({"name": "Ann", "email": "ann@example.com"}))
    );
}

#[test]
fn unknown_columns_are_unmapped() {
    let plan = conventions()
        .plan(&header(&["email", "Website", "_note", "Fax"]))
        .unwrap();
    assert_eq!(plan.unmapped_columns(), ["Website", "Fax"]);
    let record = csv(
        &["email", "Website", "_note", "Fax"],
        &["a@example.com", "https://x.example", "n", "1"],
    );
    assert_eq!(
        ok(&conventions(), &record),
        json!({"email": "a@example.com"})
    );
}

#[test]
fn every_problem_in_a_row_is_reported() {
    let names = [
        "email",
        "firstSeen",
        "locale",
        "customData.n:integer",
        "customData.ok:boolean",
        "customData.at:date",
        "customData.x:float",
        "name",
    ];
    let values = [
        "two@@example.com",
        "2021-13-45",
        "xx",
        "1.5",
        "maybe",
        "-1",
        "NaN",
        "Ann",
    ];
    assert_eq!(
        errors(&conventions(), &csv(&names, &values)),
        [
            error(
                Some("firstSeen"),
                r#"firstSeen "2021-13-45" is not a date (expected UNIX seconds or ISO 8601 such as 2021-03-04 or 2021-03-04T05:06:07Z)"#
            ),
            error(
                Some("locale"),
                r#"locale "xx" is not an ISO 639-1 language code"#
            ),
            error(
                Some("customData.n"),
                r#"column "customData.n:integer": "1.5" is not an integer"#
            ),
            error(
                Some("customData.ok"),
                r#"column "customData.ok:boolean": "maybe" is not a boolean (expected true/false, yes/no or 1/0)"#
            ),
            error(
                Some("customData.at"),
                r#"column "customData.at:date": "-1" is not a date (expected UNIX seconds or ISO 8601 such as 2021-03-04 or 2021-03-04T05:06:07Z)"#
            ),
            error(
                Some("customData.x"),
                r#"column "customData.x:float": "NaN" is not a finite number"#
            ),
            error(
                Some("email"),
                r#"email "two@@example.com" is not a valid email address"#
            ),
        ]
    );
}

#[test]
fn ragged_and_unreadable_rows() {
    assert_eq!(
        errors(
            &conventions(),
            &csv(&["name", "email", "phone"], &["a", "b", "c", "d"])
        ),
        [error(None, "expected 3 fields, found 4")]
    );
    assert_eq!(
        errors(&conventions(), &csv(&["name", "email"], &["a"])),
        [error(None, "expected 2 fields, found 1")]
    );
    let unreadable = Record {
        origin: origin(),
        cells: Cells::Unreadable {
            header: None,
            raw: vec![b"{oops".to_vec()],
            error: "the line is not a JSON object".into(),
        },
    };
    assert_eq!(
        errors(&conventions(), &unreadable),
        [error(None, "the line is not a JSON object")]
    );
}

#[test]
fn header_problems_are_fatal_and_named() {
    let cases: [(&[&str], &str); 4] = [
        (&["name", "", "email"], "header column 2 has no name"),
        (
            &["name", "email", "name"],
            r#"the header has two columns named "name""#,
        ),
        (
            &["Email", "email"],
            r#"columns "Email" and "email" both map to email"#,
        ),
        (
            &["customData.n:number"],
            r#"column "customData.n:number": unknown type "number" (expected string, integer, float, boolean or date)"#,
        ),
    ];
    for (names, message) in cases {
        assert_eq!(
            conventions().plan(&header(names)).unwrap_err().to_string(),
            message
        );
    }
    // Without a usable plan the row fails with the same sentence, rather than panicking.
    assert_eq!(
        errors(&conventions(), &csv(&["name", "name"], &["a", "b"])),
        [error(None, r#"the header has two columns named "name""#)]
    );
}

#[test]
fn a_plan_for_another_header_is_not_used() {
    let mapper = conventions();
    let plan = mapper.plan(&header(&["email", "name"])).unwrap();
    let record = csv(&["name", "email"], &["Ann", "ann@example.com"]);
    let payload = mapper
        .map(Some(&plan), &record, &mut Warnings::default())
        .unwrap();
    assert_eq!(payload.email.as_deref(), Some("ann@example.com"));
}

// --- With a mapping, CSV ------------------------------------------------------------------

const CRM: &str = r##"
[mapping]
userId = { column = "Customer Id" }
name = "{First Name} {Last Name}"
email = "E-mail"
phone = { template = "+{Code} {Phone}" }
source = { value = "crm-export" }
locale = { value = "English" }
firstSeen = { column = "Subscription Date", format = "%d/%m/%Y" }
[mapping.tags]
column = "Segments"
separator = "|"
static = ["imported", "vip"]
color = "#ff0000"
[[mapping.customData]]
property = "zip"
column = "Zip"
[[mapping.customData]]
property = "orders"
column = "Orders"
type = "integer"
[[mapping.customData]]
property = "renewal"
template = "{Renewal} 12:00"
type = "date"
format = "%Y-%m-%d %H:%M"
[[mapping.customData]]
property = "plan"
value = 3
type = "integer"
"##;

const CRM_HEADER: [&str; 12] = [
    "Customer Id",
    "First Name",
    "Last Name",
    "E-mail",
    "Code",
    "Phone",
    "Subscription Date",
    "Segments",
    "Zip",
    "Orders",
    "Renewal",
    "Notes",
];

#[test]
fn mapped_csv_row() {
    let record = csv(
        &CRM_HEADER,
        &[
            "c1",
            " Zoë ",
            " Müller  Lüdenscheidt",
            "zoe@example.com",
            "49",
            "30 1234",
            "31/12/2022",
            "vip| b2b ||",
            "01234",
            "7",
            "2023-01-31",
            "n",
        ],
    );
    assert_eq!(
        ok(&mapper(CRM), &record),
        json!({
            "name": "Zoë Müller Lüdenscheidt",
            "email": "zoe@example.com",
            "userId": "c1",
            "phone": "+49 30 1234",
            "firstSeen": "1672444800",
            "source": "crm-export",
            "locale": "en",
            "tags": [
                {"name": "vip", "color": "#ff0000"},
                {"name": "b2b", "color": "#ff0000"},
                {"name": "imported", "color": "#ff0000"},
            ],
            "customData": [
                {"property": "zip", "value": "01234"},
                {"property": "orders", "value": 7},
                {"property": "renewal", "value": "1675166400"},
                {"property": "plan", "value": 3},
            ],
        })
    );
}

#[test]
fn templates_with_empty_columns() {
    let record = csv(
        &CRM_HEADER,
        &["c1", "", "Lee", "", "", "", "", "", "", "", "", ""],
    );
    assert_eq!(
        ok(&mapper(CRM), &record),
        json!({
            "name": "Lee",
            "userId": "c1",
            "source": "crm-export",
            "locale": "en",
            "tags": [{"name": "imported", "color": "#ff0000"}, {"name": "vip", "color": "#ff0000"}],
            "customData": [{"property": "plan", "value": 3}],
        })
    );
}

#[test]
fn mapped_errors_name_the_column() {
    let record = csv(
        &CRM_HEADER,
        &[
            "c1",
            "A",
            "B",
            "a@example.com",
            "1",
            "2",
            "2021-13-45",
            "",
            "",
            "x",
            "2023-02-30",
            "",
        ],
    );
    assert_eq!(
        errors(&mapper(CRM), &record),
        [
            error(
                Some("firstSeen"),
                r#"column "Subscription Date": "2021-13-45" is not a date (expected format %d/%m/%Y)"#
            ),
            error(
                Some("customData.orders"),
                r#"column "Orders": "x" is not an integer"#
            ),
            error(
                Some("customData.renewal"),
                r#"customData.renewal "2023-02-30 12:00" is not a date (expected format %Y-%m-%d %H:%M)"#
            ),
        ]
    );
}

#[test]
fn mapped_plan() {
    let mut names = CRM_HEADER.to_vec();
    names.push("_line");
    let plan = mapper(CRM).plan(&header(&names)).unwrap();
    assert_eq!(plan.unmapped_columns(), ["Notes"]);
    let error = mapper(CRM)
        .plan(&header(&["customer id", "First Name", "Last Name"]))
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        concat!(
            r#"the header lacks column "E-mail" (named by mapping.email), "#,
            r#"column "Customer Id" (named by mapping.userId; the header has "customer id"), "#,
            r#"column "Code" (named by mapping.phone), "#,
            r#"column "Phone" (named by mapping.phone), column "Subscription Date" (named by mapping.firstSeen), "#,
            r#"column "Segments" (named by mapping.tags.column), column "Zip" (named by mapping.customData "zip"), "#,
            r#"column "Orders" (named by mapping.customData "orders"), "#,
            r#"column "Renewal" (named by mapping.customData "renewal")"#,
        )
    );
    let MappingError::MissingColumns(missing) = error else {
        panic!("{error:?}")
    };
    assert_eq!(missing[1].similar.as_deref(), Some("customer id"));
}

#[test]
fn mapper_refuses_bad_configs() {
    let cases = [
        (
            "[mapping]\nphone = {}",
            "mapping.phone needs one of column, template or value",
        ),
        (
            "[mapping]\nphone = { column = \"P\", template = \"{P}\" }",
            "mapping.phone has more than one of column, template and value; keep exactly one",
        ),
        (
            "[mapping]\nname = \"{First} {Last\"",
            r#"mapping.name: template "{First} {Last" has an unclosed "{""#,
        ),
        (
            "[[mapping.customData]]\nproperty = \"a\"\ncolumn = \"A\"\ntype = \"number\"",
            r#"mapping.customData "a".type: unknown type "number" (expected string, integer, float, boolean or date)"#,
        ),
        (
            "[[mapping.customData]]\nproperty = \"a\"\ncolumn = \"A\"\nformat = \"%Y\"",
            r#"mapping.customData "a": format applies only to dates (firstSeen, lastSeen, or customData with type = "date")"#,
        ),
        (
            "[mapping]\nemail = { column = \"E\", format = \"%Y\" }",
            r#"mapping.email: format applies only to dates (firstSeen, lastSeen, or customData with type = "date")"#,
        ),
        (
            "[mapping]",
            "the [mapping] table maps nothing; remove it to use the column-name conventions",
        ),
    ];
    for (text, message) in cases {
        assert_eq!(
            Mapper::new(Some(&config(text))).unwrap_err().to_string(),
            message,
            "{text}"
        );
    }
}

// --- NDJSON -------------------------------------------------------------------------------

#[test]
fn documented_shape_passes_through() {
    let body = json!({
        "name": "John Doe",
        "email": "john@example.com",
        "userId": "user_1234567890",
        "company": "Example Inc.",
        "phone": "+10233456781",
        "firstSeen": "1603885746",
        "source": "https://example.com",
        "locale": "uk",
        "notes": "Lorem ipsum",
        "tags": [{ "name": "vip", "color": "#ff0000" }],
        "customData": [
            { "property": "subscription_status", "value": "active" },
            { "property": "number_of_payments", "value": 15 },
            { "property": "last_paid_amount", "value": 15.99 },
            { "property": "last_payment_date", "value": "1603885746" },
            { "property": "last_payment_was_successful", "value": true }
        ]
    });
    assert_eq!(ok(&conventions(), &ndjson(body.clone())), body);
}

#[test]
fn json_is_normalised() {
    let record = ndjson(json!({
        "userId": 123,
        "name": "  Ann  ",
        "email": "",
        "phone": null,
        "firstSeen": "2021-03-04T05:06:07+02:00",
        "locale": "EN_gb",
        "tags": ["vip", " ", {"name": "b2b", "color": "#00ff00"}, "vip", null],
        "customData": {"zip": "01234", "orders": 3, "ratio": 0.5, "gone": null, "empty": " "},
        "_line": 5,
    }));
    assert_eq!(
        ok(&conventions(), &record),
        json!({
            "name": "Ann",
            "userId": "123",
            "firstSeen": "1614827167",
            "locale": "en",
            "tags": [{"name": "vip"}, {"name": "b2b", "color": "#00ff00"}],
            "customData": [
                {"property": "orders", "value": 3},
                {"property": "ratio", "value": 0.5},
                {"property": "zip", "value": "01234"},
            ],
        })
    );
    let record =
        ndjson(json!({"email": "a@example.com", "firstSeen": 1603885746, "tags": "a; b;"}));
    assert_eq!(
        ok(&conventions(), &record),
        json!({"email": "a@example.com", "firstSeen": "1603885746", "tags": [{"name": "a"}, {"name": "b"}]})
    );
}

#[test]
fn json_errors() {
    let record = ndjson(json!({
        "name": true,
        "email": "nope",
        "firstSeen": -5,
        "foo": 1,
        "tags": [{"name": "a", "colour": "red"}],
        "customData": [{"property": "a", "value": {"x": 1}}, {"value": 1}, 5, {"property": "n", "value": 18446744073709551615u64}],
    }));
    assert_eq!(
        errors(&conventions(), &record),
        [
            error(Some("customData"), "customData[1] has no property name"),
            error(
                Some("customData"),
                "customData[2] must be an object with property and value, not a number"
            ),
            error(
                Some("customData.a"),
                "customData.a must be a single value, not an object"
            ),
            error(
                Some("customData.n"),
                "customData.n 18446744073709551615 is too large for an integer"
            ),
            error(
                Some("firstSeen"),
                r#"firstSeen "-5" is not a date (expected UNIX seconds or ISO 8601 such as 2021-03-04 or 2021-03-04T05:06:07Z)"#
            ),
            error(Some("foo"), r#"unknown field "foo""#),
            error(
                Some("name"),
                "name must be a string or a number, not a boolean"
            ),
            error(Some("tags"), r#"tags[0] has an unknown field "colour""#),
            error(
                Some("email"),
                r#"email "nope" is not a valid email address"#
            ),
        ]
    );
    let cases = [
        (
            json!({"tags": 5}),
            error(
                Some("tags"),
                r#"tags must be an array or a ";"-separated string, not a number"#,
            ),
        ),
        (
            json!({"tags": [{"color": "red"}]}),
            error(Some("tags"), "tags[0] has no name"),
        ),
        (
            json!({"tags": [true]}),
            error(
                Some("tags"),
                "tags[0] must be a name or a {name, color} object, not a boolean",
            ),
        ),
        (
            json!({"customData": "x"}),
            error(
                Some("customData"),
                "customData must be an array of {property, value} objects or an object, not a string",
            ),
        ),
        (
            json!({"customData": [{"property": "a", "value": 1, "type": "x"}]}),
            error(
                Some("customData"),
                r#"customData[0] has an unknown field "type""#,
            ),
        ),
        (
            json!({"customData": {"a": [1]}}),
            error(
                Some("customData.a"),
                "customData.a must be a single value, not an array",
            ),
        ),
        (
            json!({"locale": "Klingonese"}),
            error(
                Some("locale"),
                r#"locale "Klingonese" is not an ISO 639-1 language code"#,
            ),
        ),
    ];
    for (value, expected) in cases {
        assert_eq!(errors(&conventions(), &ndjson(value)), [expected]);
    }
}

#[test]
fn mapped_json() {
    let mapper = mapper(
        r#"
        [mapping]
        userId = "id"
        name = "{first} {last}"
        email = "mail"
        [mapping.tags]
        column = "groups"
        [[mapping.customData]]
        property = "active"
        column = "active"
        type = "boolean"
        [[mapping.customData]]
        property = "score"
        column = "score"
        type = "float"
        "#,
    );
    let record = ndjson(
        json!({"id": 42, "first": "Ann", "mail": "ann@example.com", "active": true, "score": 2, "extra": {"x": 1}}),
    );
    assert_eq!(
        ok(&mapper, &record),
        json!({
            "name": "Ann",
            "email": "ann@example.com",
            "userId": "42",
            "customData": [{"property": "active", "value": true}, {"property": "score", "value": 2.0}],
        })
    );
    let record = ndjson(json!({"id": [1], "groups": {"a": 1}, "mail": "ann@example.com"}));
    assert_eq!(
        errors(&mapper, &record),
        [
            error(
                Some("userId"),
                r#"column "id" holds an array, not a single value"#
            ),
            error(
                Some("tags"),
                r#"column "groups" holds an object, not a single value"#
            ),
        ]
    );
}

// --- The example config and the fixture ---------------------------------------------------

#[test]
fn example_config_maps_every_fixture_row() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.toml"))
        .unwrap();
    let mapper = mapper(&text);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/customers.csv");
    let mut reader = csv::Reader::from_path(path).unwrap();
    let names: Header = reader
        .headers()
        .unwrap()
        .iter()
        .map(|name| name.trim().to_owned())
        .collect();
    let plan = mapper.plan(&names).unwrap();
    assert!(
        plan.unmapped_columns().is_empty(),
        "unmapped: {:?}",
        plan.unmapped_columns()
    );
    let mut payloads = Vec::new();
    for (i, row) in reader.records().enumerate() {
        let record = Record {
            origin: Origin {
                file: Arc::from(path),
                line: i as u64 + 2,
            },
            cells: Cells::Csv {
                header: names.clone(),
                values: row.unwrap().iter().map(str::to_owned).collect(),
            },
        };
        match mapper.map(Some(&plan), &record, &mut Warnings::default()) {
            Ok(payload) => payloads.push(serde_json::to_value(payload).unwrap()),
            Err(errors) => panic!("{}: {errors:?}", record.origin),
        }
    }
    assert_eq!(payloads.len(), 100);
    assert_eq!(
        payloads[0],
        json!({
            "name": "Lucía Silva",
            "email": "lucia47@harborpine.example.com",
            "userId": "9D31db9FD25306a",
            "company": "Harbor & Pine",
            "phone": "+55 344 663 795",
            "firstSeen": "1587254400",
            "source": "crm-export",
            "tags": [{"name": "imported"}],
            "customData": [
                {"property": "city", "value": "São Paulo"},
                {"property": "country", "value": "Brazil"},
                {"property": "website", "value": "https://harborpine.example.com/about"},
            ],
        })
    );
    let with_comma = payloads
        .iter()
        .filter(|p| p["company"] == "Smith, Jones and Partners")
        .count();
    assert!(with_comma > 0);
}

// --- Robustness ---------------------------------------------------------------------------

fn column_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "name",
            "EMAIL",
            "userId",
            "firstSeen",
            "locale",
            "tags",
            "customData.a",
            "customData.b:integer",
            "customData.c:date",
            "customData.d:boolean",
            "customData.e:float",
            "customData.",
            "_line",
            "First Name",
            "Last Name",
            "Customer Id",
            "Subscription Date",
            "",
        ])
        .prop_map(str::to_owned),
        "\\PC{0,12}",
    ]
}

fn cell() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "",
            " ",
            "2021-03-04",
            "2021-13-45",
            "1603885746",
            "-1",
            "yes",
            "1.5",
            "en-US",
            "a@b.co",
            "x;y; ;",
            "99999999999999999999",
            "NaN",
        ])
        .prop_map(str::to_owned),
        "\\PC{0,16}",
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        cell().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(json_key(), inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

fn json_key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "name",
            "email",
            "userId",
            "firstSeen",
            "locale",
            "tags",
            "customData",
            "property",
            "value",
            "color",
            "_x",
            "First Name",
            "Subscription Date",
        ])
        .prop_map(str::to_owned),
        "\\PC{0,8}",
    ]
}

fn mappers() -> Vec<Mapper> {
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.toml"))
            .unwrap();
    vec![conventions(), mapper(CRM), mapper(&example)]
}

proptest! {
    #[test]
    fn map_never_panics_on_csv(
        names in prop::collection::vec(column_name(), 0..8),
        values in prop::collection::vec(cell(), 0..9),
    ) {
        let record = csv(&names.iter().map(String::as_str).collect::<Vec<_>>(), &values.iter().map(String::as_str).collect::<Vec<_>>());
        let Cells::Csv { header, .. } = &record.cells else { unreachable!() };
        for mapper in mappers() {
            let plan = mapper.plan(header).ok();
            if let Err(errors) = mapper.map(plan.as_ref(), &record, &mut Warnings::default()) {
                prop_assert!(!errors.is_empty());
                prop_assert!(errors.iter().all(|e| !e.message.is_empty()));
            }
        }
    }

    #[test]
    fn map_never_panics_on_json(object in prop::collection::btree_map(json_key(), json_value(), 0..8)) {
        let record = ndjson(Value::Object(object.into_iter().collect()));
        for mapper in mappers() {
            if let Err(errors) = mapper.map(None, &record, &mut Warnings::default()) {
                prop_assert!(!errors.is_empty());
            }
        }
    }

    #[test]
    fn payloads_hold_no_empty_or_untrimmed_text(values in prop::collection::vec(cell(), 6)) {
        let names = ["name", "email", "firstSeen", "locale", "tags", "customData.c"];
        let record = csv(&names, &values.iter().map(String::as_str).collect::<Vec<_>>());
        if let Ok(payload) = conventions().map(None, &record, &mut Warnings::default()) {
            let json = serde_json::to_value(&payload).unwrap();
            let mut texts = Vec::new();
            collect_strings(&json, &mut texts);
            prop_assert!(texts.iter().all(|t| !t.is_empty() && t.trim() == t.as_str()), "{}", json);
        }
    }
}

proptest! {
    /// A dry run maps every row of a batch into one payload: whatever rows came before,
    /// the outcome is the one mapping the row afresh gives.
    #[test]
    fn mapping_into_a_used_payload_is_mapping_afresh(
        names in prop::sample::subsequence(
            vec![
                "name", "EMAIL", "userId", "firstSeen", "locale", "tags", "customData.a",
                "unsubscribed", "lastSeen", "Blocked",
                "customData.b:integer", "customData.c:date", "customData.d:boolean",
                "customData.e:float", "First Name", "Customer Id",
            ],
            1..9,
        ).prop_shuffle(),
        rows in prop::collection::vec(
            prop_oneof![
                3 => prop::collection::vec(cell(), 1..9).prop_map(Ok),
                1 => prop::collection::btree_map(json_key(), json_value(), 0..6).prop_map(Err),
            ],
            1..8,
        ),
    ) {
        // Every row with the header's length but for a few: ragged rows fail early.
        let records: Vec<Record> = rows
            .into_iter()
            .map(|row| match row {
                Ok(mut values) => {
                    if values.len() % 4 != 0 {
                        values.resize(names.len(), String::new());
                    }
                    csv(&names, &values.iter().map(String::as_str).collect::<Vec<_>>())
                }
                Err(object) => ndjson(Value::Object(object.into_iter().collect())),
            })
            .collect();
        let header = header(&names);
        for mapper in mappers() {
            let plan = mapper.plan(&header).ok();
            let mut reused = CreateCustomer::default();
            let mut reused_warnings = Warnings::default();
            for record in &records {
                let mut warnings = Warnings::default();
                let fresh = mapper.map(plan.as_ref(), record, &mut warnings);
                let into = mapper.map_into(plan.as_ref(), record, &mut reused, &mut reused_warnings);
                prop_assert_eq!(&warnings, &reused_warnings);
                match (fresh, into) {
                    (Ok(fresh), Ok(())) => prop_assert_eq!(&fresh, &reused),
                    (Err(fresh), Err(into)) => prop_assert_eq!(fresh, into),
                    (fresh, into) => prop_assert!(false, "afresh {:?}, into a used one {:?}", fresh, into),
                }
            }
        }
    }
}

fn collect_strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(text) => out.push(text.clone()),
        Value::Array(items) => items.iter().for_each(|item| collect_strings(item, out)),
        Value::Object(map) => map.values().for_each(|item| collect_strings(item, out)),
        _ => {}
    }
}

// --- Export artefacts (issue 11) ---------------------------------------------------------

/// The payload JSON and the warnings' kinds of a record that must map.
fn ok_warned(mapper: &Mapper, record: &Record) -> (Value, Vec<String>) {
    let mut warnings = Warnings::default();
    match mapper.map(None, record, &mut warnings) {
        Ok(payload) => (
            serde_json::to_value(payload).unwrap(),
            warnings.iter().map(|w| w.kind.clone()).collect(),
        ),
        Err(errors) => panic!("unexpected errors: {errors:?}"),
    }
}

fn notes(mapper: &Mapper, names: &[&str]) -> Vec<String> {
    let plan = mapper.plan(&header(names)).unwrap();
    plan.notes()
        .iter()
        .map(|note| note.message.clone())
        .collect()
}

#[test]
fn invisible_characters_header_names_match_without_them() {
    let record = csv(
        &["\u{FEFF}userId", "E\u{200B}mail", "first\u{200B}Seen\u{A0}"],
        &["u1", "a@example.com", "2021-03-04"],
    );
    let (payload, _) = ok_warned(&conventions(), &record);
    assert_eq!(
        payload,
        json!({"userId": "u1", "email": "a@example.com", "firstSeen": "1614816000"})
    );
    // A mapping names the columns as they look.
    let mapper = mapper("[mapping]\nemail = \"E-mail\"\nuserId = \"Customer Id\"\n");
    let record = csv(
        &["Customer\u{200E} Id", "\u{200B}E-mail"],
        &["c1", "a@example.com"],
    );
    assert_eq!(
        ok_warned(&mapper, &record).0,
        json!({"userId": "c1", "email": "a@example.com"})
    );
    assert_eq!(
        notes(&conventions(), &["\u{200B}email", "name"]),
        [r#"column 1 "\u{200b}email" is read as "email", ignoring U+200B ZERO WIDTH SPACE"#]
    );
}

#[test]
fn invisible_characters_hidden_field_names_and_look_alike_columns_are_refused() {
    let error = |names: &[&str]| conventions().plan(&header(names)).unwrap_err().to_string();
    assert_eq!(
        error(&["name", "e\u{3164}mail"]),
        r#"column "e\u{3164}mail" looks like "email" but holds invisible characters (U+3164 HANGUL FILLER), so it would not be imported: rename it "email""#
    );
    assert!(error(&["user\u{034F}Id"]).contains(r#"looks like "userId""#));
    assert!(error(&["\u{3164}customData.plan"]).contains(r#"looks like "customdata.plan""#));
    assert_eq!(
        error(&["email", "\u{200B}email"]),
        r#"columns "email" and "\u{200b}email" are both "email" once invisible characters are removed"#
    );
    // With a mapping, such a column is only not imported; a missing one is named with it.
    let mapped = mapper("[mapping]\nname = \"Name\"\n");
    assert!(mapped.plan(&header(&["Name", "e\u{3164}mail"])).is_ok());
    let mapped = mapper("[mapping]\nemail = \"Email\"\n");
    let missing = mapped
        .plan(&header(&["E\u{3164}mail"]))
        .unwrap_err()
        .to_string();
    assert!(
        missing.contains("the header has \"E\u{3164}mail\""),
        "{missing}"
    );
}

#[test]
fn columns_not_imported_are_a_note_with_their_names_quoted() {
    assert_eq!(
        notes(&conventions(), &["email", "Web\u{2800}site", "_x", "Fax"]),
        [
            r#"columns not imported: "Web\u{2800}site", "Fax" (name them like the API's fields, call them customData.NAME, or map them in [mapping])"#
        ]
    );
    let many: Vec<String> = (1..=12).map(|i| format!("c{i}")).collect();
    let mut names: Vec<&str> = many.iter().map(String::as_str).collect();
    names.push("email");
    let listed = notes(&conventions(), &names);
    assert!(listed[0].contains(r#""c10", and 2 more ("#), "{listed:?}");
    assert_eq!(
        notes(&mapper("[mapping]\nemail = \"email\"\n"), &["email", "Fax"]),
        [r#"columns not imported: "Fax" (the [mapping] does not name them)"#]
    );
}

#[test]
fn excel_csv_artefacts_unnamed_trailing_columns_and_repeated_names() {
    let record = csv(&["name", "email", "", ""], &["A", "a@example.com", "", " "]);
    assert_eq!(
        ok(&conventions(), &record),
        json!({"name": "A", "email": "a@example.com"})
    );
    let record = csv(&["name", "email", "", ""], &["A", "a@example.com", "", "x"]);
    assert_eq!(
        errors(&conventions(), &record),
        [error(
            Some("column 4"),
            r#"column 4 has no name in the header but holds "x" (name the column, or empty its cells)"#
        )]
    );
    // A repeated name nobody reads is a note; the columns stay in the row as they are.
    let mapper = mapper("[mapping]\nname = \"Name\"\nemail = \"Email\"\n");
    let names = ["Name", "Email", "Phone", "Phone", "Phone"];
    assert_eq!(
        notes(&mapper, &names),
        [
            r#"columns 3, 4 and 5 are all named "Phone": none is imported (nothing reads them), and failed.csv keeps them as they are"#
        ]
    );
    let plan = mapper.plan(&header(&names)).unwrap();
    assert!(plan.unmapped_columns().is_empty());
    // The importer's own columns repeat in a failed.csv's failed.csv: no note.
    assert!(notes(&conventions(), &["_file", "email", "_file"]).is_empty());
}

#[test]
fn contacts_that_cannot_be_identified_warn() {
    let record = csv(&["name", "phone"], &["Ann", "+1 202 555 0143"]);
    let (_, kinds) = ok_warned(&conventions(), &record);
    assert_eq!(kinds, ["the contact has neither email nor userId"]);
    assert_eq!(
        notes(&conventions(), &["name", "phone"]),
        [
            "no column gives email or userId: such contacts cannot be looked up, de-duplicated or updated later, nor settled if a request is in doubt"
        ]
    );
    // A userId alone, or an email alone, identifies.
    assert!(
        ok_warned(&conventions(), &csv(&["userId"], &["u1"]))
            .1
            .is_empty()
    );
    assert!(
        ok_warned(&conventions(), &ndjson(json!({"email": "a@example.com"})))
            .1
            .is_empty()
    );
    // Before a run: a file's first rows.
    let mapper = conventions();
    let names = ["name", "email"];
    let plan = mapper.plan(&header(&names)).unwrap();
    let rows: Vec<Record> = [("A", "a@example.com"), ("B", ""), ("C", "")]
        .iter()
        .map(|(name, email)| csv(&names, &[name, email]))
        .collect();
    assert_eq!(
        mapper.survey(Some(&plan), &rows).as_deref(),
        Some(
            "2 of the first 3 valid rows have neither email nor userId: such contacts cannot be looked up, de-duplicated or updated later, nor settled if a request is in doubt"
        )
    );
    assert_eq!(mapper.survey(Some(&plan), &rows[..1]), None);
    let anonymous = mapper.plan(&header(&["name"])).unwrap();
    assert_eq!(
        mapper.survey(Some(&anonymous), &rows),
        None,
        "the header's note says it"
    );
}

#[test]
fn tags_split_on_the_wrong_character_warn() {
    let kinds = |record: &Record, mapper: &Mapper| ok_warned(mapper, record).1;
    let record = csv(&["email", "tags"], &["a@example.com", "vip, newsletter"]);
    assert_eq!(
        kinds(&record, &conventions()),
        [r#"tags hold "," but are split on ";""#]
    );
    let record = csv(&["email", "tags"], &["a@example.com", "vip; news, letter"]);
    assert!(kinds(&record, &conventions()).is_empty());
    let commas = mapper(
        "[mapping]\nemail = \"email\"\n[mapping.tags]\ncolumn = \"tags\"\nseparator = \",\"\n",
    );
    let record = csv(&["email", "tags"], &["a@example.com", "vip;news"]);
    assert_eq!(
        kinds(&record, &commas),
        [r#"tags hold ";" but are split on ",""#]
    );
    let record = ndjson(json!({"email": "a@example.com", "tags": "a|b"}));
    assert_eq!(
        kinds(&record, &conventions()),
        [r#"tags hold "|" but are split on ";""#]
    );
    // An array of tags has no separator to get wrong.
    let record = ndjson(json!({"email": "a@example.com", "tags": ["a, b"]}));
    assert!(kinds(&record, &conventions()).is_empty());
}

#[test]
fn json_keys_and_values_lose_invisible_characters_like_cells() {
    let record = ndjson(json!({
        "\u{200B}email": "\u{FEFF}a@example.com",
        "userId": "u1",
        "tags": ["vip\u{200B}", {"name": "\u{200E}new"}],
        "customData": {"\u{200B}plan": "pro\u{2060}", "n": 3},
    }));
    let (payload, kinds) = ok_warned(&conventions(), &record);
    assert_eq!(
        payload,
        json!({
            "email": "a@example.com",
            "userId": "u1",
            "tags": [{"name": "vip"}, {"name": "new"}],
            "customData": [{"property": "n", "value": 3}, {"property": "plan", "value": "pro"}],
        })
    );
    assert_eq!(kinds.len(), 6, "{kinds:?}");
    assert_eq!(
        errors(&conventions(), &ndjson(json!({"userId": "u\u{200B}1"}))),
        [error(
            Some("userId"),
            r#"userId "u\u{200b}1" contains U+200B ZERO WIDTH SPACE, an invisible character: an identifier is sent exactly as it is, so remove it from the file"#
        )]
    );
    assert_eq!(
        errors(&conventions(), &ndjson(json!({"\u{200B}mail": "x"}))),
        [error(
            Some("\u{200B}mail"),
            r#"unknown field "\u{200b}mail""#
        )]
    );
}

/// Cells an export may hold that carry none of issue 11's artefacts: accented and
/// non-Latin letters, emoji joined by ZWJ, Persian joined by ZWNJ, right-to-left text
/// with its marks, digits and punctuation.
fn clean_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        "[ a-zA-Z0-9.'()/&+-]{1,8}",
        prop::sample::select(vec![
            "Zoë",
            "José",
            "Müller",
            "São Paulo",
            "Łódź",
            "Ærø",
            "İstanbul",
            "Владимир",
            "李雷",
            "山田太郎",
            "👩\u{200D}💻",
            "🏳\u{FE0F}\u{200D}🌈",
            "می\u{200C}خواهم",
            "\u{200F}שלום\u{200F}",
            "नमस्ते",
            "Ω≈ç√",
        ])
        .prop_map(str::to_owned),
    ];
    prop::collection::vec(piece, 1..4).prop_map(|pieces| pieces.join(" "))
}

fn clean_email() -> impl Strategy<Value = String> {
    (
        "[a-z][a-z0-9.+_-]{0,10}[a-z0-9]",
        "[a-z]{1,8}\\.(com|org|de|co\\.uk)",
    )
        .prop_map(|(local, domain)| format!("{local}@{domain}"))
        .prop_filter("no double dots", |email| !email.contains(".."))
}

proptest! {
    /// Rows without these artefacts map as they did before them: valid, with no
    /// warning, every value as its cell holds it (trimmed), nothing removed or refused.
    #[test]
    fn rows_without_artefacts_map_as_they_read(
        name in clean_text(),
        email in clean_email(),
        user_id in "[A-Za-z0-9_-]{1,12}|[0-9]{1,15}",
        company in clean_text(),
        phone in "\\+?[0-9][0-9 ()-]{5,14}[0-9]",
        notes_text in clean_text(),
        // A tag name is an identifier: bidi marks are not its text (joiners in emoji are).
        tags in prop::collection::vec(
            clean_text().prop_filter("one tag, no bidi mark", |t| {
                !t.contains([';', ',', '|'])
                    && !t.chars().any(|c| crate::invisible::is_format(c) && !crate::invisible::is_joiner(c))
            }),
            1..3,
        ),
        city in clean_text(),
        seconds in 86_400i64..4_133_980_799,
    ) {
        let names = [
            "name", "email", "userId", "company", "phone", "notes", "tags", "customData.city",
            "firstSeen",
        ];
        let tag_cell = tags.join(";");
        let seconds_text = seconds.to_string();
        let values = [
            name.as_str(), &email, &user_id, &company, &phone, &notes_text, &tag_cell, &city,
            &seconds_text,
        ];
        let record = csv(&names, &values);
        let mut warnings = Warnings::default();
        let payload = conventions().map(None, &record, &mut warnings);
        prop_assert!(payload.is_ok(), "{:?}: {:?}", values, payload);
        prop_assert!(warnings.is_empty(), "{:?}: {:?}", values, warnings);
        let payload = payload.unwrap_or_default();
        let trimmed = |text: &str| Some(text.trim().to_string()).filter(|text| !text.is_empty());
        prop_assert_eq!(payload.name, trimmed(&name));
        prop_assert_eq!(payload.email, trimmed(&email));
        prop_assert_eq!(payload.user_id, trimmed(&user_id));
        prop_assert_eq!(payload.company, trimmed(&company));
        prop_assert_eq!(payload.phone, trimmed(&phone));
        prop_assert_eq!(payload.notes, trimmed(&notes_text));
        prop_assert_eq!(payload.first_seen, Some(seconds_text));
        let tag_names: Vec<String> = payload.tags.iter().map(|t| t.name.clone()).collect();
        let mut expected: Vec<String> = Vec::new();
        for tag in &tags {
            let tag = tag.trim().to_string();
            if !tag.is_empty() && !expected.contains(&tag) {
                expected.push(tag);
            }
        }
        prop_assert_eq!(tag_names, expected);
    }
}

// --- Workbook rows ------------------------------------------------------------------------

/// A workbook row on the sheet's row 7: `cells` are (text, type) under `names`, whose
/// first column is the sheet's B.
fn sheet_row(names: &[&str], cells: &[(&str, Option<crate::record::CellType>)]) -> Record {
    let header = Header::in_sheet(
        names.iter().map(|name| name.to_string()).collect(),
        1,
        crate::record::Sheet {
            name: "Leads".into(),
            first_column: 1,
        },
    );
    let mut values = CsvValues::default();
    for (text, kind) in cells {
        match kind {
            Some(kind) => values.push_typed(text, *kind),
            None => values.push(text),
        }
    }
    Record {
        origin: Origin {
            file: Arc::from("contacts.xlsx"),
            line: 7,
        },
        cells: Cells::Csv { header, values },
    }
}

#[test]
fn a_date_cell_is_its_time_whatever_the_format_for_text() {
    use crate::record::CellType::{Date, Time};
    let mapper = mapper(
        r#"
        [mapping]
        email = "Email"
        firstSeen = { column = "Since", format = "%d/%m/%Y" }
        [[mapping.customData]]
        property = "renewal"
        column = "Renewal"
        type = "date"
        format = "excel"
        [[mapping.customData]]
        property = "note"
        column = "Renewal"
        "#,
    );
    let names = ["Email", "Since", "Renewal"];
    let record = sheet_row(
        &names,
        &[
            ("a@example.com", None),
            ("2021-03-04 05:06:07", Some(Date(1_614_834_367))),
            ("2021-03-04", Some(Date(1_614_816_000))),
        ],
    );
    assert_eq!(
        ok(&mapper, &record),
        json!({
            "email": "a@example.com",
            "firstSeen": "1614834367",
            "customData": [
                {"property": "renewal", "value": "1614816000"},
                {"property": "note", "value": "2021-03-04"},
            ],
        })
    );
    // Text in the same column still follows its format.
    let record = sheet_row(
        &names,
        &[("a@example.com", None), ("04/03/2021", None), ("", None)],
    );
    assert_eq!(ok(&mapper, &record)["firstSeen"], "1614816000");
    // A time of day is no date; a date out of range is refused as text would be.
    let record = sheet_row(
        &names,
        &[
            ("a@example.com", None),
            ("6:00:00", Some(Time)),
            ("1900-02-29", Some(Date(i64::MIN))),
        ],
    );
    assert_eq!(
        errors(&mapper, &record),
        [
            error(
                Some("firstSeen"),
                r#"Leads!C7: column "Since": "6:00:00" is a time of day or a duration, not a date"#
            ),
            error(
                Some("customData.renewal"),
                r#"Leads!D7: column "Renewal": "1900-02-29" is before 1970, which a UNIX timestamp cannot hold"#
            ),
        ]
    );
}

#[test]
fn error_cells_and_inexact_numbers_fail_their_row_naming_the_cell() {
    use crate::record::CellType::{Error, Inexact};
    let names = ["userId", "email", "phone", "Website"];
    let record = sheet_row(
        &names,
        &[
            ("9007199254740993", Some(Inexact)),
            ("#N/A", Some(Error)),
            ("4477123456789", None),
            ("#REF!", Some(Error)),
        ],
    );
    assert_eq!(
        errors(&conventions(), &record),
        [
            error(
                Some("userId"),
                "Leads!B7: column \"userId\" holds the number 9007199254740993, too long for a \
                 spreadsheet cell to hold exactly (its last digits are not the ones typed): \
                 format the column as text in the workbook"
            ),
            error(
                Some("email"),
                "Leads!C7: column \"email\" holds the error #N/A (a formula that failed in the \
                 workbook: fix it there)"
            ),
        ]
    );
    // An error in a column nothing reads loses nothing: the row goes on.
    let record = sheet_row(
        &names,
        &[
            ("u1", None),
            ("a@example.com", None),
            ("", None),
            ("#REF!", Some(Error)),
        ],
    );
    assert_eq!(
        ok(&conventions(), &record),
        json!({"userId": "u1", "email": "a@example.com"})
    );
}
