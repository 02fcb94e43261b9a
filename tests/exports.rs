//! End-to-end: files shaped like what CRMs, Excel and Google Sheets really export
//! (issue 11, "Real exports, exactly"). The importer may refuse a row or a file, or
//! normalise a value in a way it documents and reports; it never sends something other
//! than what the user meant without saying so.
//!
//! Each kind of fault has a test named after it holding the issue's own example, and
//! variants of it (other characters, other columns, other commands). Imports go to the
//! sandbox over loopback; `validate` needs no network.

mod common;

use common::{Dir, Run, import, run, sandbox, stored};
use helpcrunch_import::sandbox::{Sandbox, SandboxConfig};
use serde_json::{Value, json};

/// `validate FILE --out DIR/out --overwrite` plus `extra`.
async fn validate(dir: &Dir, file: &str, extra: &[&str]) -> Run {
    let out = dir.out().to_string_lossy().into_owned();
    let mut args = vec!["validate", file, "--out", &out, "--overwrite"];
    args.extend_from_slice(extra);
    run(&args, None).await
}

/// `import` into `sandbox`, fast, starting the results afresh.
async fn import_into(sandbox: &Sandbox, dir: &Dir, file: &str, extra: &[&str]) -> Run {
    let mut args = vec!["--rate", "50/s", "--overwrite"];
    args.extend_from_slice(extra);
    import(sandbox, dir, file, &args).await
}

/// summary.json's `warnings_by_kind`, as kind → (count, first example).
fn warnings(dir: &Dir) -> Vec<(String, u64, String)> {
    let summary = dir.summary();
    summary["warnings_by_kind"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(kind, count)| {
            (
                kind.clone(),
                count["warnings"].as_u64().unwrap_or_default(),
                count["first"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// The `_line` and `_errors` of each row of failed.csv.
fn failures(dir: &Dir) -> Vec<(String, String)> {
    dir.csv_rows("failed.csv")
        .into_iter()
        .map(|row| (row["_line"].clone(), row["_errors"].clone()))
        .collect()
}

fn config(dir: &Dir, text: &str) -> String {
    dir.write("map.toml", text)
}

// --- 1. Invisible characters -------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invisible_characters_example_a_zero_width_space_before_an_email() {
    let dir = Dir::new();
    let file = dir.write("k.csv", b"name,email\nZ,\xe2\x80\x8bz@example.com\n");
    let result = validate(&dir, &file, &[]).await;
    assert_eq!(result.code, 0, "{}", result.all_output());
    let kind = "email: invisible U+200B ZERO WIDTH SPACE removed";
    let first = format!(
        r#"{file}:2: email "\u{{200b}}z@example.com": removed the invisible U+200B ZERO WIDTH SPACE"#
    );
    assert_eq!(warnings(&dir), [(kind.to_string(), 1, first.clone())]);
    // In the report and in the log, as well as in summary.json.
    assert!(
        result.stdout.contains(&format!("1 × {kind}")),
        "{}",
        result.stdout
    );
    assert!(result.stdout.contains(&first), "{}", result.stdout);
    assert!(result.stderr.contains(&first), "{}", result.stderr);

    let sandbox = sandbox(SandboxConfig::default()).await;
    let result = import_into(&sandbox, &dir, &file, &[]).await;
    assert_eq!(result.code, 0, "{}", result.all_output());
    assert_eq!(stored(&sandbox, "email"), ["z@example.com"]);
    assert_eq!(warnings(&dir).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invisible_characters_inside_an_address_at_the_start_of_a_cell_and_in_other_identifiers() {
    let sandbox = sandbox(SandboxConfig::default()).await;
    let dir = Dir::new();
    let file = dir.write(
        "ids.csv",
        "userId,email,locale,tags,phone\n\
         u1,z\u{200B}@example.com,\u{200E}en-GB,vip\u{200B};new,\u{202A}+1 202 555 0143\u{202C}\n\
         u2,\u{FEFF}y@example.com,de,,\n\
         u3,x@exam\u{2060}ple.com\u{AD},,,\n",
    );
    let result = import_into(&sandbox, &dir, &file, &[]).await;
    assert_eq!(result.code, 0, "{}", result.all_output());
    assert_eq!(
        stored(&sandbox, "email"),
        ["x@example.com", "y@example.com", "z@example.com"]
    );
    let customers = sandbox.customers();
    let u1 = customers.iter().find(|c| c["userId"] == "u1").expect("u1");
    assert_eq!(u1["locale"], "en");
    assert_eq!(u1["phone"], "+1 202 555 0143");
    assert_eq!(
        u1["tags"],
        json!([{"name": "vip", "color": "#c377e0"}, {"name": "new", "color": "#c377e0"}])
    );
    let kinds: Vec<String> = warnings(&dir).into_iter().map(|(kind, ..)| kind).collect();
    for kind in [
        "email: invisible U+200B ZERO WIDTH SPACE removed",
        "email: invisible U+FEFF ZERO WIDTH NO-BREAK SPACE (a byte-order mark) removed",
        "email: invisible U+2060 WORD JOINER removed",
        "locale: invisible U+200E LEFT-TO-RIGHT MARK removed",
        "tags: invisible U+200B ZERO WIDTH SPACE removed",
        "phone: invisible U+202A LEFT-TO-RIGHT EMBEDDING removed",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "{kind}: {kinds:#?}");
    }
    dir.assert_results_agree();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invisible_characters_in_a_user_id_fail_the_row_naming_the_code_point() {
    let dir = Dir::new();
    let file = dir.write(
        "ids.csv",
        "userId,email\n\u{FEFF}u1,a@example.com\nu\u{200B}2,b@example.com\nu3,c@example.com\n",
    );
    let result = validate(&dir, &file, &[]).await;
    assert_eq!(result.code, 1, "{}", result.all_output());
    assert_eq!(
        failures(&dir),
        [
            (
                "2".to_string(),
                r#"userId "\u{feff}u1" contains U+FEFF ZERO WIDTH NO-BREAK SPACE (a byte-order mark), an invisible character: an identifier is sent exactly as it is, so remove it from the file"#.to_string()
            ),
            (
                "3".to_string(),
                r#"userId "u\u{200b}2" contains U+200B ZERO WIDTH SPACE, an invisible character: an identifier is sent exactly as it is, so remove it from the file"#.to_string()
            ),
        ]
    );
    // The same from NDJSON, under a mapping.
    let file = dir.write(
        "ids.ndjson",
        "{\"id\":\"u\u{2060}9\",\"mail\":\"a@example.com\"}\n",
    );
    let map = config(&dir, "[mapping]\nuserId = \"id\"\nemail = \"mail\"\n");
    let result = validate(&dir, &file, &["--config", &map]).await;
    assert_eq!(result.code, 1, "{}", result.all_output());
    let failed = dir.read_out("failed.ndjson");
    assert!(failed.contains("contains U+2060 WORD JOINER"), "{failed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invisible_characters_in_free_text_a_joiner_stays_and_a_stray_goes() {
    let sandbox = sandbox(SandboxConfig::default()).await;
    let dir = Dir::new();
    let file = dir.write(
        "text.ndjson",
        "{\"userId\":\"u1\",\"name\":\"Ada 👩\u{200D}💻\",\"notes\":\"می\u{200C}خواهم\",\"company\":\"Acme\u{200B}\",\"customData\":{\"motto\":\"\u{200F}שלום\"}}\n",
    );
    let result = import_into(&sandbox, &dir, &file, &[]).await;
    assert_eq!(result.code, 0, "{}", result.all_output());
    let customer = &sandbox.customers()[0];
    assert_eq!(customer["name"], "Ada 👩\u{200D}💻");
    assert_eq!(customer["notes"], "می\u{200C}خواهم");
    assert_eq!(customer["company"], "Acme");
    assert_eq!(customer["customData"]["motto"], "\u{200F}שלום");
    let kinds: Vec<String> = warnings(&dir).into_iter().map(|(kind, ..)| kind).collect();
    assert_eq!(
        kinds,
        ["company: invisible U+200B ZERO WIDTH SPACE removed"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invisible_characters_example_in_a_header_name() {
    let sandbox = sandbox(SandboxConfig::default()).await;
    let dir = Dir::new();
    let file = dir.write("k.csv", b"name,\xe2\x80\x8bemail\nA,a@example.com\n");
    let result = import_into(&sandbox, &dir, &file, &[]).await;
    assert_eq!(result.code, 0, "{}", result.all_output());
    // The email column is imported, not silently dropped.
    assert_eq!(stored(&sandbox, "email"), ["a@example.com"]);
    let first = format!(
        r#"{file}:1: column 2 "\u{{200b}}email" is read as "email", ignoring U+200B ZERO WIDTH SPACE"#
    );
    assert_eq!(
        warnings(&dir),
        [(
            "header names with invisible characters, matched without them".to_string(),
            1,
            first.clone()
        )]
    );
    assert!(result.stdout.contains(&first), "{}", result.stdout);

    // A mapping's column names match the same way, and so do NDJSON keys.
    let file = dir.write(
        "crm.csv",
        "Customer\u{A0}Id,E-mail\u{FEFF}\nc1,c1@example.com\n",
    );
    let map = config(
        &dir,
        "[mapping]\nuserId = \"Customer Id\"\nemail = \"E-mail\"\n",
    );
    let result = validate(&dir, &file, &["--config", &map]).await;
    assert_eq!(result.code, 0, "{}", result.all_output());
    assert_eq!(warnings(&dir).len(), 1, "{:?}", warnings(&dir));
    let file = dir.write("keys.ndjson", "{\"\u{200B}email\":\"k@example.com\"}\n");
    let result = import_into(&sandbox, &dir, &file, &[]).await;
    assert_eq!(result.code, 0, "{}", result.all_output());
    assert!(stored(&sandbox, "email").contains(&"k@example.com".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invisible_characters_columns_not_imported_are_in_the_report_escaped() {
    let dir = Dir::new();
    let file = dir.write(
        "cols.csv",
        "email,Web\u{2800}site,Fax\na@example.com,x.example,1\n",
    );
    let result = validate(&dir, &file, &[]).await;
    assert_eq!(result.code, 0, "{}", result.all_output());
    let kind = r#"columns not imported: "Web\u{2800}site", "Fax""#;
    assert!(result.stdout.contains(kind), "{}", result.stdout);
    assert!(
        warnings(&dir).iter().any(|(k, ..)| k == kind),
        "{:?}",
        warnings(&dir)
    );

    // One that only an invisible character keeps from being a field is an error.
    let file = dir.write("hidden.csv", "name,e\u{3164}mail\nA,a@example.com\n");
    let result = validate(&dir, &file, &[]).await;
    assert_eq!(result.code, 2, "{}", result.all_output());
    assert!(
        result.stderr.contains(
            r#"line 1: column "e\u{3164}mail" looks like "email" but holds invisible characters (U+3164 HANGUL FILLER)"#
        ),
        "{}",
        result.stderr
    );
    // And two columns that are one once cleaned.
    let file = dir.write(
        "twice.csv",
        "email,\u{200B}email\na@example.com,b@example.com\n",
    );
    let result = validate(&dir, &file, &[]).await;
    assert_eq!(result.code, 2, "{}", result.all_output());
    assert!(
        result.stderr.contains(
            r#"columns "email" and "\u{200b}email" are both "email" once invisible characters are removed"#
        ),
        "{}",
        result.stderr
    );
}

// --- 2. Excel serial dates ---------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn excel_serial_dates_example_are_refused_naming_the_date() {
    let dir = Dir::new();
    let file = dir.write("k.csv", "email,firstSeen\na@example.com,44197\n");
    let result = validate(&dir, &file, &[]).await;
    assert_eq!(result.code, 1, "{}", result.all_output());
    assert_eq!(
        failures(&dir),
        [(
            "2".to_string(),
            r#"firstSeen "44197" is not a date: too small for UNIX seconds; as an Excel serial day it is "2021-01-01" (to read it so, map the column with format = "excel"; format = "unix" takes it as seconds)"#.to_string()
        )]
    );
    // The same for customData dates, and for a serial with a time of day.
    let file = dir.write(
        "custom.csv",
        "email,customData.renewal:date\na@example.com,45383.75\n",
    );
    let result = validate(&dir, &file, &[]).await;
    assert_eq!(result.code, 1, "{}", result.all_output());
    assert!(
        failures(&dir)[0]
            .1
            .contains(r#"as an Excel serial day it is "2024-04-01T18:00:00Z""#),
        "{:?}",
        failures(&dir)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn excel_serial_dates_are_read_with_format_excel_unix_or_unix_ms() {
    let sandbox = sandbox(SandboxConfig::default()).await;
    let dir = Dir::new();
    let file = dir.write(
        "crm.csv",
        "Id,Email,Created Date,Renewal,Last Login,Boot\n\
         c1,c1@example.com,44197,45383.5,1711929600000,44197\n",
    );
    let map = config(
        &dir,
        "[mapping]\nuserId = \"Id\"\nemail = \"Email\"\n\
         firstSeen = { column = \"Created Date\", format = \"excel\" }\n\
         [[mapping.customData]]\nproperty = \"renewal\"\ncolumn = \"Renewal\"\ntype = \"date\"\nformat = \"excel\"\n\
         [[mapping.customData]]\nproperty = \"lastLogin\"\ncolumn = \"Last Login\"\ntype = \"date\"\nformat = \"unix_ms\"\n\
         [[mapping.customData]]\nproperty = \"boot\"\ncolumn = \"Boot\"\ntype = \"date\"\nformat = \"unix\"\n",
    );
    let result = import_into(&sandbox, &dir, &file, &["--config", &map]).await;
    assert_eq!(result.code, 0, "{}", result.all_output());
    let customer = &sandbox.customers()[0];
    assert_eq!(customer["firstSeen"], "1609459200");
    assert_eq!(
        customer["customData"],
        json!({"renewal": "1711972800", "lastLogin": "1711929600", "boot": "44197"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn excel_serial_dates_example_init_proposes_format_excel() {
    let dir = Dir::new();
    let file = dir.write(
        "export.csv",
        "Email,Created Date,Renewal Date,Visits\na@example.com,44197,45383,3\nb@example.com,45383,45400.25,12\n",
    );
    let result = run(&["init", &file], None).await;
    assert_eq!(result.code, 0, "{}", result.all_output());
    assert!(
        result
            .stdout
            .contains("firstSeen = { column = \"Created Date\", format = \"excel\" }"),
        "{}",
        result.stdout
    );
    assert!(
        result.stdout.contains(
            "property = \"renewalDate\"\ncolumn = \"Renewal Date\"\ntype = \"date\"\nformat = \"excel\""
        ),
        "{}",
        result.stdout
    );
    // A count stays a count.
    assert!(
        result
            .stdout
            .contains("property = \"visits\"\ncolumn = \"Visits\"\ntype = \"integer\""),
        "{}",
        result.stdout
    );
    let config = dir.write("guessed.toml", &result.stdout);
    let checked = validate(&dir, &file, &["--config", &config]).await;
    assert_eq!(checked.code, 0, "{}", checked.all_output());
}

// --- 3. Numbers Excel shortened ----------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbers_excel_shortened_example_a_phone_warns_and_a_user_id_fails() {
    let sandbox = sandbox(SandboxConfig::default()).await;
    let dir = Dir::new();
    let file = dir.write(
        "k.csv",
        "userId,email,phone\nu1,a@example.com,4.47712E+11\n1.23457E+14,b@example.com,+44 7712 345678\n",
    );
    let result = import_into(&sandbox, &dir, &file, &[]).await;
    assert_eq!(result.code, 1, "{}", result.all_output());
    // The phone is sent as it is, with a warning; the userId, whose digits are gone, is not.
    assert_eq!(stored(&sandbox, "phone"), ["4.47712E+11"]);
    assert_eq!(
        warnings(&dir),
        [(
            "phone in scientific notation".to_string(),
            1,
            format!(
                r#"{file}:2: phone "4.47712E+11" is a number in scientific notation: its last digits were lost (Excel shortens long numbers; format the column as text before saving); sent as it is"#
            )
        )]
    );
    assert_eq!(
        failures(&dir),
        [(
            "3".to_string(),
            r#"userId "1.23457E+14" is a number in scientific notation: its last digits were lost (Excel shortens long numbers; format the column as text before saving)"#.to_string()
        )]
    );
    // Mapped columns and NDJSON alike; an id that merely has an `e` is not a number.
    let file = dir.write(
        "crm.ndjson",
        "{\"Customer\":\"2E+15\",\"Mobile\":\"1E+11\"}\n{\"Customer\":\"12e4\",\"Mobile\":\"1\"}\n",
    );
    let map = config(
        &dir,
        "[mapping]\nuserId = \"Customer\"\nphone = \"Mobile\"\n",
    );
    let result = validate(&dir, &file, &["--config", &map]).await;
    assert_eq!(result.code, 1, "{}", result.all_output());
    let failed = dir.read_out("failed.ndjson");
    assert_eq!(failed.lines().count(), 1, "{failed}");
    assert!(
        failed.contains(r#"column \"Customer\": \"2E+15\" is a number in scientific notation"#),
        "{failed}"
    );
}

// --- 4. Excel's CSV artefacts ------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn excel_csv_artefacts_example_a_sep_line() {
    let dir = Dir::new();
    let file = dir.write("k.csv", "sep=;\nname;email\nA;a@example.com\n");
    for extra in [&[][..], &["--delimiter", ";"]] {
        let result = validate(&dir, &file, extra).await;
        assert_eq!(result.code, 0, "{extra:?}: {}", result.all_output());
        assert_eq!(dir.summary()["valid"], 1);
    }
    // Line numbers stay those of the file; the import reads it the same way.
    let file = dir.write(
        "excel.csv",
        "sep=,\r\nname,email\r\nA,a@example.com\r\nB,b@@example.com\r\n",
    );
    let result = validate(&dir, &file, &[]).await;
    assert_eq!(result.code, 1, "{}", result.all_output());
    assert_eq!(failures(&dir)[0].0, "4");
    let sandbox = sandbox(SandboxConfig::default()).await;
    let result = import_into(&sandbox, &dir, &file, &[]).await;
    assert_eq!(result.code, 1, "{}", result.all_output());
    assert_eq!(stored(&sandbox, "email"), ["a@example.com"]);
    // A bad header below the sep line is named on its own line.
    let file = dir.write("hole.csv", "sep=;\nname;;email\nA;;a@example.com\n");
    let result = validate(&dir, &file, &[]).await;
    assert_eq!(result.code, 2, "{}", result.all_output());
    assert!(
        result
            .stderr
            .contains("hole.csv: line 2: header column 2 has no name"),
        "{}",
        result.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn excel_csv_artefacts_example_unnamed_columns_at_the_end() {
    let dir = Dir::new();
    let file = dir.write("k.csv", "name,email,,\nA,a@example.com,,\n");
    let result = validate(&dir, &file, &[]).await;
    assert_eq!(result.code, 0, "{}", result.all_output());
    assert_eq!(
        warnings(&dir),
        [(
            "unnamed columns at the end of the header, ignored".to_string(),
            1,
            format!(
                "{file}:1: columns 3-4 have no name (Excel adds them): ignored while empty; a row with a value there fails"
            )
        )]
    );
    // An unnamed column that holds data is still refused: in the row that holds it...
    let file = dir.write(
        "data.csv",
        "name,email,\nA,a@example.com,\nB,b@example.com,note\n",
    );
    let result = validate(&dir, &file, &[]).await;
    assert_eq!(result.code, 1, "{}", result.all_output());
    assert_eq!(
        failures(&dir),
        [(
            "3".to_string(),
            r#"column 3 has no name in the header but holds "note" (name the column, or empty its cells)"#.to_string()
        )]
    );
    // ...and between named columns, in the header.
    let file = dir.write("hole.csv", "name,,email\nA,,a@example.com\n");
    let result = validate(&dir, &file, &[]).await;
    assert_eq!(result.code, 2, "{}", result.all_output());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn excel_csv_artefacts_example_a_repeated_header_name_nobody_reads() {
    let dir = Dir::new();
    let file = dir.write(
        "k.csv",
        "Name,Email,Phone,Phone\nAnn,ann@example.com,1,2\nBob,bob@@example.com,3,4\n",
    );
    let map = config(&dir, "[mapping]\nname = \"Name\"\nemail = \"Email\"\n");
    let result = validate(&dir, &file, &["--config", &map]).await;
    assert_eq!(result.code, 1, "{}", result.all_output());
    assert!(
        result.stdout.contains(
            r#"k.csv:1: columns 3 and 4 are both named "Phone": neither is imported (nothing reads them), and failed.csv keeps them as they are"#
        ),
        "{}",
        result.stdout
    );
    // failed.csv keeps every column as it was.
    let failed = dir.read_out("failed.csv");
    assert!(
        failed.starts_with("_file,_line,_status,_errors,Name,Email,Phone,Phone\n"),
        "{failed}"
    );
    assert!(failed.contains(",Bob,bob@@example.com,3,4\n"), "{failed}");

    // Read by the mapping, or by the conventions, a repeated name is refused.
    let map = config(&dir, "[mapping]\nname = \"Name\"\nphone = \"Phone\"\n");
    let result = validate(&dir, &file, &["--config", &map]).await;
    assert_eq!(result.code, 2, "{}", result.all_output());
    assert!(
        result
            .stderr
            .contains(r#"line 1: the header has two columns named "Phone""#),
        "{}",
        result.stderr
    );
    let result = validate(&dir, &file, &[]).await;
    assert_eq!(result.code, 2, "{}", result.all_output());
    // Without a mapping, a repeated name the conventions do not read is only a note.
    let file = dir.write("notes.csv", "email,Note,Note\na@example.com,x,y\n");
    let result = validate(&dir, &file, &[]).await;
    assert_eq!(result.code, 0, "{}", result.all_output());
}

// --- 5. Encodings in the result files ----------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encodings_in_result_files_example_failed_csv_keeps_the_header_and_the_bytes() {
    let dir = Dir::new();
    let file = dir.write("k.csv", b"name,email\nZo\xeb Ng,zoe@example.com\n");
    let result = validate(&dir, &file, &[]).await;
    assert_eq!(result.code, 1, "{}", result.all_output());
    let failed = dir.read_out_bytes("failed.csv");
    // The full original header, though the first failed row could not be read...
    assert!(
        failed.starts_with(b"_file,_line,_status,_errors,name,email\n"),
        "{}",
        String::from_utf8_lossy(&failed)
    );
    // ...and the row's own bytes, not U+FFFD.
    assert!(
        failed.ends_with(b",Zo\xeb Ng,zoe@example.com\n"),
        "{failed:?}"
    );
    assert!(!String::from_utf8_lossy(&failed).contains("\u{FFFD}\u{FFFD}"));

    // Read again as it was read, it fails the same way; read as what it is, it is the
    // original text, and that is what is sent.
    let again = dir.path().join("again.csv");
    std::fs::copy(dir.out().join("failed.csv"), &again).expect("copy");
    let again = again.to_string_lossy().into_owned();
    let result = validate(&dir, &again, &[]).await;
    assert_eq!(result.code, 1, "{}", result.all_output());
    assert!(
        failures(&dir)[0].1.contains("is not valid UTF-8"),
        "{:?}",
        failures(&dir)
    );
    let sandbox = sandbox(SandboxConfig::default()).await;
    let result = import_into(&sandbox, &dir, &again, &["--encoding", "windows-1252"]).await;
    assert_eq!(result.code, 0, "{}", result.all_output());
    assert_eq!(stored(&sandbox, "name"), ["Zoë Ng"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encodings_in_result_files_a_transcoded_run_reads_back_with_the_same_encoding() {
    let dir = Dir::new();
    let file = dir.write(
        "excel.csv",
        b"name;email\r\nZo\xeb Ng;zoe@@example.com\r\nJos\xe9;jose@example.com\r\n",
    );
    let result = validate(&dir, &file, &["--encoding", "windows-1252"]).await;
    assert_eq!(result.code, 1, "{}", result.all_output());
    let failed = dir.read_out_bytes("failed.csv");
    assert!(
        failed.starts_with(b"\xEF\xBB\xBF_file,_line,_status,_errors,name,email\n"),
        "{failed:?}"
    );
    // Fixed, and imported again with the flag the first run had: the text is the original.
    let fixed = String::from_utf8(failed)
        .expect("UTF-8")
        .replace("zoe@@", "zoe@");
    let fixed = dir.write("fixed.csv", fixed);
    let sandbox = sandbox(SandboxConfig::default()).await;
    let result = import_into(&sandbox, &dir, &fixed, &["--encoding", "windows-1252"]).await;
    assert_eq!(result.code, 0, "{}", result.all_output());
    assert_eq!(stored(&sandbox, "name"), ["Zoë Ng"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encodings_in_result_files_a_replacement_character_is_never_sent() {
    let sandbox = sandbox(SandboxConfig::default()).await;
    let dir = Dir::new();
    // A file that went through a lossy conversion before; and UTF-16 with a lone
    // surrogate, which decoding turns into U+FFFD.
    let file = dir.write(
        "lossy.csv",
        "name,email\nZo\u{FFFD} Ng,zoe@example.com\nAnn,ann@example.com\n",
    );
    let mut utf16 = b"\xFF\xFE".to_vec();
    for unit in "name,email\nZo".encode_utf16() {
        utf16.extend(unit.to_le_bytes());
    }
    utf16.extend(0xD800u16.to_le_bytes());
    for unit in " Ng,zoe2@example.com\n".encode_utf16() {
        utf16.extend(unit.to_le_bytes());
    }
    let utf16 = dir.write("utf16.csv", utf16);
    let ndjson = dir.write(
        "lossy.ndjson",
        "{\"email\":\"n@example.com\",\"notes\":\"x\u{FFFD}\"}\n",
    );
    for input in [&file, &utf16, &ndjson] {
        let result = import_into(&sandbox, &dir, input, &[]).await;
        assert_eq!(result.code, 1, "{input}: {}", result.all_output());
        assert!(
            result
                .stdout
                .contains("contains U+FFFD REPLACEMENT CHARACTER"),
            "{input}: {}",
            result.stdout
        );
    }
    assert_eq!(stored(&sandbox, "email"), ["ann@example.com"]);
    assert!(
        sandbox
            .customers()
            .iter()
            .all(|c| !c.to_string().contains('\u{FFFD}')),
        "{:?}",
        sandbox.customers()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encodings_in_result_files_an_ndjson_line_keeps_its_bytes_recoverable() {
    let dir = Dir::new();
    let file = dir.write(
        "k.ndjson",
        b"{\"name\":\"Zo\xeb Ng\",\"email\":\"zoe@example.com\"}\n",
    );
    let result = validate(&dir, &file, &[]).await;
    assert_eq!(result.code, 1, "{}", result.all_output());
    let failed: Value = serde_json::from_str(dir.read_out("failed.ndjson").trim()).expect("JSON");
    // Read as Windows-1252, which maps every byte to one character and back.
    assert_eq!(
        failed["_raw"],
        "{\"name\":\"Zoë Ng\",\"email\":\"zoe@example.com\"}"
    );
}

// --- 6. JSON documents that are not NDJSON -----------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_documents_arrays_are_read_in_every_form_and_other_documents_refused_whole() {
    let sandbox = sandbox(SandboxConfig::default()).await;
    let dir = Dir::new();
    let file = dir.write(
        "k.json",
        "[\n {\"name\":\"A\",\"email\":\"a@example.com\"},\n {\"name\":\"B\",\"email\":\"b@example.com\"}\n]\n",
    );
    let result = import_into(&sandbox, &dir, &file, &[]).await;
    assert_eq!(result.code, 0, "{}", result.all_output());
    assert_eq!(
        stored(&sandbox, "email"),
        ["a@example.com", "b@example.com"]
    );

    // The same on one line, and without an extension.
    let one_line = dir.write("one.json", "[{\"name\":\"A\"},{\"name\":\"B\"}]\n");
    let bare = dir.write("export", "\n[\n{\"name\":\"A\"}\n]\n");
    for (file, rows) in [(&one_line, 2), (&bare, 1)] {
        let result = validate(&dir, file, &[]).await;
        assert_eq!(result.code, 0, "{file}: {}", result.all_output());
        assert_eq!(dir.summary()["rows_read"], rows, "{file}");
    }

    // One pretty-printed object is refused as a whole: never a partial import of it.
    let sandbox = self::sandbox(SandboxConfig::default()).await;
    let object = dir.write(
        "object.json",
        "{\n  \"name\": \"A\",\n  \"email\": \"a@example.com\"\n}\n",
    );
    let result = import_into(&sandbox, &dir, &object, &[]).await;
    assert_eq!(result.code, 2, "{}", result.all_output());
    assert!(
        result
            .stderr
            .contains("one JSON object spread over several lines"),
        "{}",
        result.stderr
    );
    assert!(
        !result.all_output().contains("EOF while parsing"),
        "{}",
        result.all_output()
    );
    assert_eq!(sandbox.stats().requests, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_documents_that_are_not_ndjson_example_a_trailing_comma() {
    let dir = Dir::new();
    let file = dir.write(
        "k.ndjson",
        "{\"name\":\"Ann Lee\",\"email\":\"ann@example.com\",\"company\":\"Acme\"},\n{\"name\":\"B\"}\n",
    );
    let result = validate(&dir, &file, &[]).await;
    assert_eq!(result.code, 1, "{}", result.all_output());
    let failed: Value = serde_json::from_str(dir.read_out("failed.ndjson").trim()).expect("JSON");
    assert_eq!(
        failed["_errors"],
        "a trailing comma after the object (NDJSON holds one object per line, no commas)"
    );
    assert_eq!(dir.summary()["valid"], 1);
}

// --- 7. Contacts that cannot be identified -----------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_that_cannot_be_identified_example_init_maps_email_1() {
    let dir = Dir::new();
    let file = dir.write(
        "k.csv",
        "First Name,Last Name,Email 1,Phone 1\nLara,Mendes,lara@example.com,+1 202 555 0143\n",
    );
    let result = run(&["init", &file], None).await;
    assert_eq!(result.code, 0, "{}", result.all_output());
    assert!(
        result.stdout.contains("email = \"Email 1\"\n"),
        "{}",
        result.stdout
    );
    assert!(
        result.stdout.contains("phone = \"Phone 1\"\n"),
        "{}",
        result.stdout
    );
    let guessed = dir.write("guessed.toml", &result.stdout);
    let sandbox = sandbox(SandboxConfig::default()).await;
    let result = import_into(&sandbox, &dir, &file, &["--config", &guessed]).await;
    assert_eq!(result.code, 0, "{}", result.all_output());
    assert_eq!(stored(&sandbox, "email"), ["lara@example.com"]);
    assert!(warnings(&dir).is_empty(), "{:?}", warnings(&dir));

    // Prefixed and numbered forms: the surest is the email, the others customData.
    let file = dir.write(
        "emails.csv",
        "Work Email,Primary Email,E-mail Address 2\nw@example.com,p@example.com,e2@example.com\n",
    );
    let result = run(&["init", &file], None).await;
    assert_eq!(result.code, 0, "{}", result.all_output());
    assert!(
        result.stdout.contains("email = \"Primary Email\"\n"),
        "{}",
        result.stdout
    );
    assert!(
        result.stdout.contains(
            "# \"Work Email\": text (another email column; the contact's email is \"Primary Email\")"
        ),
        "{}",
        result.stdout
    );
    assert!(
        result.stdout.contains("column = \"E-mail Address 2\""),
        "{}",
        result.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_that_cannot_be_identified_are_warned_of_before_sending() {
    let sandbox = sandbox(SandboxConfig::default()).await;
    let dir = Dir::new();
    // The issue's file without a config: nothing gives email or userId.
    let file = dir.write(
        "k.csv",
        "First Name,Last Name,Email 1,Phone 1\nLara,Mendes,lara@example.com,+1 202 555 0143\n",
    );
    let result = import_into(&sandbox, &dir, &file, &[]).await;
    assert_eq!(result.code, 0, "{}", result.all_output());
    let warning = "no column gives email or userId: such contacts cannot be looked up";
    let warned = result.stderr.find(warning).expect("warned in the log");
    // Before the run sent anything: before the row's own warning, logged once it was sent.
    let sent = result.stderr.find("k.csv:2: the contact has neither");
    assert!(sent.is_some_and(|sent| warned < sent), "{}", result.stderr);
    let kinds: Vec<(String, u64)> = warnings(&dir).into_iter().map(|(k, n, _)| (k, n)).collect();
    assert!(
        kinds.contains(&("no column gives email or userId".to_string(), 1)),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&("the contact has neither email nor userId".to_string(), 1)),
        "{kinds:?}"
    );

    // A mapping with an email column, but most rows without one.
    let file = dir.write("sparse.csv", "name,email\nA,a@example.com\nB,\nC,\nD,\n");
    let result = validate(&dir, &file, &[]).await;
    assert_eq!(result.code, 0, "{}", result.all_output());
    assert!(
        result
            .stderr
            .contains("3 of the first 4 valid rows have neither email nor userId"),
        "{}",
        result.stderr
    );
    let kinds: Vec<(String, u64)> = warnings(&dir).into_iter().map(|(k, n, _)| (k, n)).collect();
    assert_eq!(
        kinds,
        [("the contact has neither email nor userId".to_string(), 3)]
    );
}

// --- 8. Tags split on the wrong character ------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_split_on_the_wrong_character_example() {
    let sandbox = sandbox(SandboxConfig::default()).await;
    let dir = Dir::new();
    let file = dir.write(
        "k.csv",
        "email,tags\na@example.com,\"vip, newsletter\"\nb@example.com,vip;new\nc@example.com,a|b\n",
    );
    let result = import_into(&sandbox, &dir, &file, &[]).await;
    assert_eq!(result.code, 0, "{}", result.all_output());
    let found = warnings(&dir);
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(
        found[0],
        (
            r#"tags hold "," but are split on ";""#.to_string(),
            1,
            format!(
                r#"{file}:2: tags "vip, newsletter" hold "," but no ";", the separator: sent as one tag (to split on ",", set separator = "," in [mapping.tags])"#
            )
        )
    );
    assert_eq!(found[1].0, r#"tags hold "|" but are split on ";""#);
    // Said so, and sent as the file has it.
    let customers = sandbox.customers();
    let a = customers
        .iter()
        .find(|c| c["email"] == "a@example.com")
        .expect("a");
    assert_eq!(a["tags"][0]["name"], "vip, newsletter");

    // With the separator set, no warning; NDJSON tag strings are checked too.
    let map = config(
        &dir,
        "[mapping]\nemail = \"email\"\n[mapping.tags]\ncolumn = \"tags\"\nseparator = \",\"\n",
    );
    let file = dir.write(
        "commas.csv",
        "email,tags\nd@example.com,\"vip, newsletter\"\n",
    );
    let result = validate(&dir, &file, &["--config", &map]).await;
    assert_eq!(result.code, 0, "{}", result.all_output());
    assert!(warnings(&dir).is_empty(), "{:?}", warnings(&dir));
    let file = dir.write(
        "tags.ndjson",
        "{\"email\":\"e@example.com\",\"tags\":\"vip, new\"}\n",
    );
    let result = validate(&dir, &file, &[]).await;
    assert_eq!(result.code, 0, "{}", result.all_output());
    assert_eq!(warnings(&dir)[0].0, r#"tags hold "," but are split on ";""#);
}

// --- 9. init on a file that is not UTF-8 -------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_on_a_file_that_is_not_utf8_example() {
    let dir = Dir::new();
    // ASCII first, then a row in Windows-1252.
    let file = dir.write(
        "k.csv",
        b"Email,Name,City\r\nann@example.com,Ann,Berlin\r\nzoe@example.com,Zo\xeb Ng,K\xf6ln\r\n",
    );
    let result = run(&["init", &file], None).await;
    assert_eq!(result.code, 0, "{}", result.all_output());
    assert!(
        result.stdout.contains("encoding = \"windows-1252\"\n"),
        "{}",
        result.stdout
    );
    assert!(
        result
            .stdout
            .contains("# The file is not UTF-8 (line 3 has the byte 0xEB)"),
        "{}",
        result.stdout
    );
    assert!(result.stderr.contains("not UTF-8"), "{}", result.stderr);
    // Examples from every sampled row, read right.
    assert!(
        result.stdout.contains("e.g. \"Ann\", \"Zoë Ng\""),
        "{}",
        result.stdout
    );
    assert!(
        result.stdout.contains("e.g. \"Berlin\", \"Köln\""),
        "{}",
        result.stdout
    );
    let guessed = dir.write("guessed.toml", &result.stdout);
    let checked = validate(&dir, &file, &["--config", &guessed]).await;
    assert_eq!(checked.code, 0, "{}", checked.all_output());
    assert_eq!(dir.summary()["valid"], 2);
    // A UTF-8 file gets no encoding line; one given the flag keeps it without a guess.
    let utf8 = dir.write("utf8.csv", "Email,Name\nzoe@example.com,Zoë\n");
    let result = run(&["init", &utf8], None).await;
    assert!(!result.stdout.contains("encoding"), "{}", result.stdout);
    let result = run(&["init", &file, "--encoding", "latin1"], None).await;
    assert!(
        result.stdout.contains("encoding = \"latin1\"\n"),
        "{}",
        result.stdout
    );
    assert!(!result.stdout.contains("not UTF-8"), "{}", result.stdout);
}

// --- 10. Error kinds mask values, not the words around them ------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_kinds_mask_values_not_words_example() {
    let dir = Dir::new();
    let file = dir.write(
        "k.csv",
        "email,locale\na@example.com,xx\nb@example.com,yy\nc@example.com,e1\n",
    );
    let result = validate(&dir, &file, &[]).await;
    assert_eq!(result.code, 1, "{}", result.all_output());
    let kind = r#"locale "…" is not an ISO 639-1 language code"#;
    assert!(
        result.stdout.contains(&format!("3 × {kind}")),
        "{}",
        result.stdout
    );
    assert_eq!(dir.summary()["errors_by_kind"][kind]["errors"], 3);
}

/// The look before a run (kind 7) reads a file's first rows; a file that stops at a bad
/// quote still has the rows before it in the results, as the README promises.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_look_before_a_run_keeps_the_rows_before_an_unterminated_quote() {
    let dir = Dir::new();
    let file = dir.write(
        "quote.csv",
        "email,name\na@example.com,Ann\nb@example.com,\"Bob\nc@example.com,Cy\n",
    );
    let result = validate(&dir, &file, &[]).await;
    assert_eq!(result.code, 2, "{}", result.all_output());
    assert_eq!(dir.summary()["rows_read"], 1);
    assert_eq!(failures(&dir)[0].0, "2");
}
