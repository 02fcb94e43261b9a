//! End-to-end `validate`: every check names file, line and field; hostile files lose
//! nothing and never panic; `validate` agrees with a real import; `init` writes a config
//! that maps its file.

mod common;

use common::{Dir, Run, import, run, sandbox, user_ids};
use helpcrunch_import::sandbox::SandboxConfig;

/// `validate FILE --out DIR/out` plus `extra`, with no key and no network.
async fn validate(dir: &Dir, file: &str, extra: &[&str]) -> Run {
    let out = dir.out().to_string_lossy().into_owned();
    let mut args = vec!["validate", file, "--out", &out, "--overwrite"];
    args.extend_from_slice(extra);
    run(&args, None).await
}

/// The `_line` and `_errors` of each row of failed.csv.
fn failures(dir: &Dir) -> Vec<(String, String)> {
    dir.csv_rows("failed.csv")
        .into_iter()
        .map(|row| (row["_line"].clone(), row["_errors"].clone()))
        .collect()
}

fn assert_no_panic(result: &Run) {
    assert!(
        !result.all_output().contains("panicked"),
        "{}",
        result.all_output()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_check_names_the_line_the_field_and_what_was_expected() {
    let dir = Dir::new();
    let file = dir.write(
        "customers.csv",
        "userId,email,locale,firstSeen,customData.seats:integer,customData.score:float,customData.vip:boolean,customData.renewal:date,tags\n\
         u1,ann@example.com,en-US,2021-03-04,3,1.5,YES,2022-01-01,vip;new\n\
         u2,two@@example.com,en,,,,,,\n\
         u3,c@example.com,xx,,,,,,\n\
         u4,d@example.com,,2021-13-45,,,,,\n\
         u5,e@example.com,,-5,,,,,\n\
         u6,f@example.com,,9999999999,,,,,\n\
         u7,g@example.com,,,many,,,,\n\
         u8,h@example.com,,,,1,5,,,\n\
         u9,i@example.com,,,,,maybe,,\n\
         u10,j@example.com,,,,,,2021-02-30,\n\
         u1,k@example.com,,,,,,,\n\
         u12,ann@example.com,fr,,,,No,,\n",
    );
    let result = validate(&dir, &file, &[]).await;
    assert_eq!(result.code, 1, "{}", result.all_output());
    let expected = [
        (
            "3",
            r#"email "two@@example.com" is not a valid email address"#,
        ),
        ("4", r#"locale "xx" is not an ISO 639-1 language code"#),
        ("5", r#"firstSeen "2021-13-45" is not a date"#),
        ("6", r#"firstSeen "-5" is not a date"#),
        ("7", r#"firstSeen "9999999999" is after the year 2100"#),
        (
            "8",
            r#"column "customData.seats:integer": "many" is not an integer"#,
        ),
        ("9", "expected 9 fields, found 10"),
        (
            "10",
            r#""maybe" is not a boolean (expected true/false, yes/no or 1/0)"#,
        ),
        ("11", r#""2021-02-30" is not a date"#),
        ("12", r#"userId "u1" is a duplicate of "#),
    ];
    let failed = failures(&dir);
    assert_eq!(failed.len(), expected.len(), "{failed:#?}");
    for ((line, errors), (expected_line, expected_error)) in failed.iter().zip(expected) {
        assert_eq!(line, expected_line, "{errors}");
        assert!(errors.contains(expected_error), "line {line}: {errors}");
    }
    assert!(failed[9].1.ends_with("customers.csv:2"), "{:?}", failed[9]);
    // The log names file and line, the way the issue spells it.
    assert!(
        result.stderr.contains(
            r#"customers.csv:3: invalid: email "two@@example.com" is not a valid email address"#
        ),
        "{}",
        result.stderr
    );
    // A repeated email is a warning: line 13 is valid.
    assert!(
        result
            .stderr
            .contains(r#"customers.csv:13: email "ann@example.com" is in an earlier row too"#),
        "{}",
        result.stderr
    );
    let summary = dir.summary();
    assert_eq!(summary["rows_read"], 12);
    assert_eq!(summary["valid"], 2);
    assert_eq!(summary["failed"], 10);
    assert_eq!(summary["repeated_emails"], 1);
    assert!(
        result
            .stdout
            .starts_with("12 rows read: 2 valid, 10 failed (10 invalid)\n"),
        "{}",
        result.stdout
    );
    assert!(
        result
            .stdout
            .contains("customers.csv:3: email \"two@@example.com\" is not a valid email address"),
        "{}",
        result.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ndjson_checks_name_unknown_fields_non_objects_and_bad_values() {
    let dir = Dir::new();
    let file = dir.write(
        "contacts.ndjson",
        "{\"userId\":\"u1\",\"email\":\"a@example.com\",\"tags\":[{\"name\":\"vip\",\"color\":\"#ff0000\"}]}\n\
         [1,2]\n\
         \"text\"\n\
         {\"userId\":\"u4\",\"mail\":\"x@example.com\"}\n\
         {\"userId\":\"u5\",\"customData\":{\"plan\":{\"tier\":1}}}\n\
         {\"userId\":\"u6\",\"customData\":[{\"property\":\"seats\",\"value\":[1]}]}\n\
         {\"userId\":\"u7\",\"tags\":[{\"name\":\"\"}]}\n\
         {\"userId\":\"u8\",\"tags\":[{\"name\":\"vip\",\"color\":\"blurple\"}]}\n\
         {oops\n\
         \n\
         {\"userId\":\"u1\"}\n",
    );
    let result = validate(&dir, &file, &[]).await;
    assert_eq!(result.code, 1, "{}", result.all_output());
    let failed: Vec<serde_json::Value> = dir
        .read_out("failed.ndjson")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    let got: Vec<(String, String)> = failed
        .iter()
        .map(|row| {
            (
                row["_line"].as_str().unwrap_or_default().to_string(),
                row["_errors"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let expected = [
        ("2", "expected a JSON object, found an array"),
        ("3", "expected a JSON object, found a string"),
        ("4", r#"unknown field "mail""#),
        ("5", "customData.plan must be a single value, not an object"),
        ("6", "customData.seats must be a single value, not an array"),
        ("7", "tags[0] has no name"),
        ("8", r#"tag "vip": color "blurple" is not a CSS color"#),
        ("9", "invalid JSON at column 2"),
        ("11", r#"userId "u1" is a duplicate of "#),
    ];
    assert_eq!(got.len(), expected.len(), "{got:#?}");
    for ((line, errors), (expected_line, expected_error)) in got.iter().zip(expected) {
        assert_eq!(line, expected_line, "{errors}");
        assert!(errors.contains(expected_error), "line {line}: {errors}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn line_endings_bom_and_delimiters_read_alike() {
    let dir = Dir::new();
    let rows = [
        "userId,email,name",
        "u1,a@example.com,\"Lee, Ann\"",
        "u2,b@@example.com,Bob",
        "u3,c@example.com,Cy",
    ];
    for (name, text) in [
        ("lf.csv", rows.join("\n")),
        ("crlf.csv", rows.join("\r\n") + "\r\n"),
        ("cr.csv", rows.join("\r") + "\r"),
        ("bom.csv", format!("\u{FEFF}{}", rows.join("\r\n"))),
        (
            "semicolon.csv",
            rows.join("\n")
                .replace(',', ";")
                .replace("\"Lee; Ann\"", "\"Lee, Ann\""),
        ),
        (
            "tab.tsv",
            rows.join("\n")
                .replace(',', "\t")
                .replace("\"Lee\t Ann\"", "\"Lee, Ann\""),
        ),
    ] {
        let file = dir.write(name, text);
        let result = validate(&dir, &file, &[]).await;
        assert_eq!(result.code, 1, "{name}: {}", result.all_output());
        assert_eq!(
            failures(&dir),
            [(
                "3".to_string(),
                r#"email "b@@example.com" is not a valid email address"#.to_string()
            )],
            "{name}"
        );
        assert_eq!(dir.summary()["valid"], 2, "{name}");
    }
    // --delimiter overrides the guess: with "," this is one unmapped column.
    let file = dir.write("pipes.csv", "email|name\na@@example.com|Ann\n");
    let result = validate(&dir, &file, &[]).await;
    assert_eq!(result.code, 0, "{}", result.all_output());
    let result = validate(&dir, &file, &["--delimiter", "|"]).await;
    assert_eq!(result.code, 1, "{}", result.all_output());
    assert_eq!(
        failures(&dir),
        [(
            "2".to_string(),
            r#"email "a@@example.com" is not a valid email address"#.to_string()
        )]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_utf8_text_fails_its_row_unless_the_encoding_is_given() {
    let dir = Dir::new();
    let file = dir.write(
        "excel.csv",
        b"email,name\r\na@example.com,Ann\r\nb@example.com,Jos\xE9\r\n".as_slice(),
    );
    let result = validate(&dir, &file, &[]).await;
    assert_eq!(result.code, 1, "{}", result.all_output());
    assert_eq!(
        failures(&dir),
        [(
            "3".to_string(),
            "column 2 (\"name\") is not valid UTF-8 (is the file in another encoding? try \
             --encoding windows-1252)"
                .to_string()
        )]
    );
    for encoding in ["windows-1252", "latin1"] {
        let result = validate(&dir, &file, &["--encoding", encoding]).await;
        assert_eq!(result.code, 0, "{encoding}: {}", result.all_output());
        assert_eq!(dir.summary()["valid"], 2);
    }
    // The config file can say it too.
    let config = dir.write(
        "excel.toml",
        "encoding = \"windows-1252\"\ndelimiter = \",\"\n",
    );
    let result = validate(&dir, &file, &["--config", &config]).await;
    assert_eq!(result.code, 0, "{}", result.all_output());
    // And what is sent is the text, not mojibake.
    let sandbox = sandbox(SandboxConfig::default()).await;
    let named = dir.write(
        "named.csv",
        b"userId,name\r\nu1,Jos\xE9 M\xFCller\r\n".as_slice(),
    );
    let result = import(
        &sandbox,
        &dir,
        &named,
        &[
            "--encoding",
            "windows-1252",
            "--rate",
            "50/s",
            "--overwrite",
        ],
    )
    .await;
    assert_eq!(result.code, 0, "{}", result.all_output());
    assert_eq!(sandbox.customers()[0]["name"], "José Müller");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ragged_rows_fail_with_their_counts_and_nothing_is_padded_or_cut() {
    let dir = Dir::new();
    let file = dir.write(
        "ragged.csv",
        "userId,email,name\nu1,a@example.com,Ann\nu2,b@example.com,Bob,extra\nu3,c@example.com\nu4,d@example.com,Dee\n",
    );
    let result = validate(&dir, &file, &[]).await;
    assert_eq!(result.code, 1, "{}", result.all_output());
    assert_eq!(
        failures(&dir),
        [
            ("3".to_string(), "expected 3 fields, found 4".to_string()),
            ("4".to_string(), "expected 3 fields, found 2".to_string()),
        ]
    );
    // Every cell is kept in failed.csv, the extra one too.
    let raw = dir.read_out("failed.csv");
    assert!(
        raw.contains(
            "ragged.csv,3,invalid,\"expected 3 fields, found 4\",u2,b@example.com,Bob,extra\n"
        ),
        "{raw}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_that_cannot_be_read_exit_2_with_a_clear_message() {
    let dir = Dir::new();
    let mut garbage = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    garbage.extend((0..4000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8));
    let mut xlsx = b"PK\x03\x04".to_vec();
    xlsx.extend_from_slice(&[0; 100]);
    let cases: [(&str, Vec<u8>, &str); 8] = [
        (
            "empty.csv",
            vec![],
            "empty.csv: the file is empty: expected a header line",
        ),
        (
            "blank.csv",
            b"\r\n\n".to_vec(),
            "blank.csv: the file is empty",
        ),
        (
            "empty.ndjson",
            vec![],
            "empty.ndjson: the file is empty: expected one JSON object per line",
        ),
        (
            "image.csv",
            garbage,
            "image.csv: this is a PNG image, not CSV or NDJSON text",
        ),
        (
            "book.csv",
            xlsx,
            // A workbook is known by its content, whatever its name: this one is broken.
            "book.csv: not a workbook that can be read (invalid Zip archive",
        ),
        (
            "quote.csv",
            b"email,name\na@example.com,Ann\nb@example.com,\"Bob\nc@example.com,Cy\n".to_vec(),
            "quote.csv: line 3: a quote opens a field here and is never closed",
        ),
        (
            "dup.csv",
            b"email,name,email\na,b,c\n".to_vec(),
            "dup.csv: line 1: the header has two columns named \"email\"",
        ),
        (
            "hole.csv",
            b"email,,name\na,b,c\n".to_vec(),
            "hole.csv: line 1: header column 2 has no name",
        ),
    ];
    for (name, bytes, message) in cases {
        let file = dir.write(name, bytes);
        let result = validate(&dir, &file, &[]).await;
        assert_no_panic(&result);
        assert_eq!(result.code, 2, "{name}: {}", result.all_output());
        assert!(result.stderr.contains(message), "{name}: {}", result.stderr);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_only_file_is_valid_and_says_so() {
    let dir = Dir::new();
    let file = dir.write("header.csv", "userId,email\r\n");
    let result = validate(&dir, &file, &[]).await;
    assert_eq!(result.code, 0, "{}", result.all_output());
    assert!(
        result
            .stderr
            .contains("header.csv: the file has a header and no rows"),
        "{}",
        result.stderr
    );
    assert!(
        result.stdout.starts_with("0 rows read: 0 valid, 0 failed"),
        "{}",
        result.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_bytes_fail_their_row() {
    let dir = Dir::new();
    let file = dir.write(
        "nul.csv",
        b"email,name\na@example.com,A\0nn\nb@example.com,Bob\n".as_slice(),
    );
    let result = validate(&dir, &file, &[]).await;
    assert_eq!(result.code, 1, "{}", result.all_output());
    assert_eq!(
        failures(&dir),
        [(
            "2".to_string(),
            "column 2 (\"name\") holds a NUL byte (binary data in a text file?)".to_string()
        )]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_reports_exactly_the_rows_a_real_import_cannot_create() {
    let dir = Dir::new();
    let mut text = String::from("userId,email,locale,firstSeen,tags,customData.seats:integer\n");
    let mut valid = Vec::new();
    let mut invalid_lines = Vec::new();
    for i in 1..=60 {
        let line = i + 1;
        let row = match i % 6 {
            0 => format!("u{i},bad{i}@@example.com,en,,,\n"),
            1 => format!("u{i},ok{i}@example.com,English,2021-03-04T05:06:07+02:00,vip;new,{i}\n"),
            2 => format!("u{i},ok{i}@example.com,xx,,,\n"),
            3 => format!("u{i},OK{i}@Example.com,pt-BR,1603885746,,\n"),
            4 => format!("u{},dup@example.com,,,,\n", if i == 4 { 4 } else { i - 3 }),
            _ => format!("u{i},ok{i}@example.com,,2021-13-45,,\n"),
        };
        let fails = matches!(i % 6, 0 | 2 | 5) || (i % 6 == 4 && i != 4);
        if fails {
            invalid_lines.push(line.to_string());
        } else {
            valid.push(format!("u{}", if i % 6 == 4 { 4 } else { i }));
        }
        text.push_str(&row);
    }
    let file = dir.write("mixed.csv", &text);
    let result = validate(&dir, &file, &[]).await;
    assert_eq!(result.code, 1, "{}", result.all_output());
    let reported: Vec<String> = failures(&dir).into_iter().map(|(line, _)| line).collect();
    assert_eq!(reported, invalid_lines);

    let sandbox = sandbox(SandboxConfig::default()).await;
    let result = import(&sandbox, &dir, &file, &["--rate", "100/s", "--overwrite"]).await;
    assert_eq!(result.code, 1, "{}", result.all_output());
    let stats = sandbox.stats();
    // One create per valid row, and the first contact read back.
    assert_eq!(stats.requests as usize, valid.len() + 1, "{stats:?}");
    assert_eq!(stats.rejected, 0, "no 400s: {stats:?}");
    valid.sort();
    assert_eq!(user_ids(&sandbox), valid);
    let reported: Vec<String> = dir
        .csv_rows("failed.csv")
        .into_iter()
        .map(|row| row["_line"].clone())
        .collect();
    assert_eq!(reported, invalid_lines, "import fails the same rows");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_writes_a_config_that_maps_its_file_without_errors() {
    let dir = Dir::new();
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/customers.csv");
    let result = run(&["init", sample], None).await;
    assert_eq!(result.code, 0, "{}", result.all_output());
    assert!(
        result
            .stdout
            .contains("name = \"{First Name} {Last Name}\""),
        "{}",
        result.stdout
    );
    assert!(
        result.stdout.contains("userId = \"Customer Id\""),
        "{}",
        result.stdout
    );
    assert!(
        result.stdout.contains("email = \"Email\""),
        "{}",
        result.stdout
    );
    let config = dir.write("guessed.toml", &result.stdout);
    let checked = validate(&dir, sample, &["--config", &config]).await;
    assert_eq!(checked.code, 0, "{}", checked.all_output());
    assert_eq!(dir.summary()["valid"], 100);

    // A semicolon file in Windows-1252 with day-first dates and a typed column.
    let file = dir.write(
        "export.csv",
        b"E-mail;Vorname;First Name;Last Name;Created;Visits;Newsletter\r\n\
          a@example.com;x;Ann;Lee;31/12/2020;3;yes\r\n\
          b@example.com;y;Jos\xE9;M\xFCller;04/03/2021;12;no\r\n"
            .as_slice(),
    );
    let result = run(&["init", &file, "--encoding", "windows-1252"], None).await;
    assert_eq!(result.code, 0, "{}", result.all_output());
    for line in [
        "delimiter = \";\"",
        "encoding = \"windows-1252\"",
        "email = \"E-mail\"",
        "firstSeen = { column = \"Created\", format = \"%d/%m/%Y\" }",
        "type = \"integer\"",
        "type = \"boolean\"",
    ] {
        assert!(result.stdout.contains(line), "{line}: {}", result.stdout);
    }
    let config = dir.write("export.toml", &result.stdout);
    let checked = validate(&dir, &file, &["--config", &config]).await;
    assert_eq!(checked.code, 0, "{}", checked.all_output());
    assert_eq!(dir.summary()["valid"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_id_repeated_in_another_file_fails_naming_the_first() {
    let dir = Dir::new();
    let first = dir.write(
        "a.csv",
        "userId,email\nu1,a@example.com\nu2,b@example.com\n",
    );
    let second = dir.write(
        "b.ndjson",
        "{\"userId\":\"u3\"}\n{\"userId\":\"u2\",\"email\":\"c@example.com\"}\n",
    );
    let out = dir.out().to_string_lossy().into_owned();
    let result = run(&["validate", &first, &second, "--out", &out], None).await;
    assert_eq!(result.code, 1, "{}", result.all_output());
    let failed: serde_json::Value = serde_json::from_str(
        dir.read_out("failed.ndjson")
            .lines()
            .next()
            .expect("one failed row"),
    )
    .expect("JSON");
    assert_eq!(failed["_line"], "2");
    assert_eq!(
        failed["_errors"],
        format!("userId \"u2\" is a duplicate of {first}:3")
    );
    assert_eq!(dir.summary()["valid"], 3);
}
