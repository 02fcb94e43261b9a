//! End-to-end: workbooks (xlsx written here with rust_xlsxwriter, ods written here as the
//! XML LibreOffice saves, and a committed xls fixture) imported into the sandbox, with
//! typed cells, cell positions, `--sheet`, `init`, and resume.

mod common;

use std::io::Write;

use common::{Dir, KEY, import, run, sandbox};
use helpcrunch_import::sandbox::SandboxConfig;
use rust_xlsxwriter::{ExcelDateTime, Format, Formula, Workbook};
use serde_json::{Value, json};

/// The columns every workbook here has; the last has a blank header and no values (an
/// empty trailing column, as formatted sheets carry).
const HEADER: [&str; 11] = [
    "userId",
    "name",
    "email",
    "customData.zip",
    "customData.seats:integer",
    "customData.amount:float",
    "customData.paid:boolean",
    "firstSeen",
    "customData.renewal:date",
    "unsubscribed",
    "phone",
];

/// A cell of the test workbooks.
enum Cell {
    Text(&'static str),
    Number(f64),
    Bool(bool),
    /// ISO 8601: a date, or a date and time (`T`).
    Date(&'static str),
    /// A formula that failed, by the error's name.
    Error(&'static str),
    Empty,
}

/// The "Contacts" sheet of every workbook here: u1 and u2 valid, u3 with `#N/A` in its
/// email cell, and a last column with no header and no value (formatted in the xlsx).
fn contacts() -> Vec<Vec<Cell>> {
    use Cell::*;
    vec![
        HEADER
            .iter()
            .map(|name| Text(name))
            .chain([Empty])
            .collect(),
        vec![
            Text("u1"),
            Text("Ann Lee"),
            Text("ann@example.com"),
            Text("01234"),
            Number(15.0),
            Number(15.99),
            Bool(true),
            Date("2021-03-04T05:06:07"),
            Date("2021-03-04"),
            Bool(true),
            Number(4477123456789.0),
            Empty,
        ],
        vec![
            Text("u2"),
            Text("Bob"),
            Text("bob@example.com"),
            Text("00501"),
            Number(3.0),
            Number(0.5),
            Bool(false),
            Date("2020-10-28T11:49:06"),
            Date("2020-10-28"),
            Bool(false),
            Text("+10233456781"),
            Empty,
        ],
        vec![
            Text("u3"),
            Text("Cid"),
            Error("#N/A"),
            Empty,
            Empty,
            Empty,
            Empty,
            Date("2021-03-04T05:06:07"),
        ],
    ]
}

/// `contacts.xlsx`: [`contacts`], and a sheet "Notes" that holds data.
fn write_xlsx(path: &str) {
    let mut book = Workbook::new();
    let date = Format::new().set_num_format("yyyy-mm-dd");
    let date_time = Format::new().set_num_format("yyyy-mm-dd hh:mm:ss");
    let filled = Format::new().set_background_color("#FFFF00");
    let sheet = book.add_worksheet();
    sheet.set_name("Contacts").expect("name");
    for (row, cells) in contacts().iter().enumerate() {
        let row = row as u32;
        for (column, cell) in cells.iter().enumerate() {
            let column = column as u16;
            let written = match cell {
                Cell::Text(text) => sheet.write_string(row, column, *text),
                Cell::Number(n) => sheet.write_number(row, column, *n),
                Cell::Bool(b) => sheet.write_boolean(row, column, *b),
                Cell::Date(iso) => {
                    let at = ExcelDateTime::parse_from_str(iso).expect("a date");
                    let format = if iso.contains('T') { &date_time } else { &date };
                    sheet.write_datetime_with_format(row, column, at, format)
                }
                Cell::Error(name) => {
                    sheet.write_formula(row, column, Formula::new("=NA()").set_result(*name))
                }
                Cell::Empty => sheet.write_blank(row, column, &filled),
            };
            written.expect("a cell");
        }
    }
    let notes = book.add_worksheet();
    notes.set_name("Notes").expect("name");
    notes.write_string(0, 0, "userId").expect("cell");
    notes.write_string(1, 0, "n1").expect("cell");
    book.save(path).expect("the workbook is written");
}

/// One `table:table-cell` of an .ods, as LibreOffice writes it.
fn ods_cell(cell: &Cell) -> String {
    match cell {
        Cell::Text(text) => format!(
            r#"<table:table-cell office:value-type="string" calcext:value-type="string"><text:p>{text}</text:p></table:table-cell>"#
        ),
        Cell::Number(n) => format!(
            r#"<table:table-cell office:value-type="float" office:value="{n}" calcext:value-type="float"><text:p>{n}</text:p></table:table-cell>"#
        ),
        Cell::Bool(b) => format!(
            r#"<table:table-cell office:value-type="boolean" office:boolean-value="{b}" calcext:value-type="boolean"><text:p>{}</text:p></table:table-cell>"#,
            if *b { "TRUE" } else { "FALSE" }
        ),
        Cell::Date(iso) => format!(
            r#"<table:table-cell office:value-type="date" office:date-value="{iso}" calcext:value-type="date"><text:p>{iso}</text:p></table:table-cell>"#
        ),
        // How LibreOffice saves a formula that failed.
        Cell::Error(name) => format!(
            r#"<table:table-cell table:formula="of:=NA()" office:value-type="string" office:string-value="" calcext:value-type="error"><text:p>{name}</text:p></table:table-cell>"#
        ),
        Cell::Empty => "<table:table-cell/>".to_owned(),
    }
}

/// `contacts.ods`: [`contacts`] as LibreOffice saves it, and a sheet "Notes" that holds
/// data.
fn write_ods(path: &str) {
    let table: String = contacts()
        .iter()
        .map(|row| {
            let cells: String = row.iter().map(ods_cell).collect();
            format!("<table:table-row>{cells}</table:table-row>")
        })
        .collect();
    let content = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" xmlns:calcext="urn:org:documentfoundation:names:experimental:calc:xmlns:calcext:1.0" office:version="1.3"><office:body><office:spreadsheet><table:table table:name="Contacts">{table}</table:table><table:table table:name="Notes"><table:table-row>{}</table:table-row></table:table></office:spreadsheet></office:body></office:document-content>"#,
        ods_cell(&Cell::Text("kept apart"))
    );
    let manifest = r#"<?xml version="1.0" encoding="UTF-8"?>
<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.3"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>"#;
    let file = std::fs::File::create(path).expect("create the ods");
    let mut zip = zip::ZipWriter::new(file);
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, body) in [
        ("mimetype", "application/vnd.oasis.opendocument.spreadsheet"),
        ("content.xml", content.as_str()),
        ("META-INF/manifest.xml", manifest),
    ] {
        zip.start_file(name, stored).expect("a part");
        zip.write_all(body.as_bytes()).expect("a part");
    }
    zip.finish().expect("the ods is written");
}

fn customer<'a>(customers: &'a [Value], user_id: &str) -> &'a Value {
    customers
        .iter()
        .find(|c| c["userId"] == user_id)
        .unwrap_or_else(|| panic!("no customer {user_id} in {customers:?}"))
}

/// What u1 and u2 of every workbook here must be stored as: text kept (zips with their
/// zeros), numbers as numbers, booleans as booleans, dates as timestamp strings.
fn assert_stored_exactly(customers: &[Value]) {
    let u1 = customer(customers, "u1");
    assert_eq!(u1["name"], "Ann Lee");
    assert_eq!(u1["email"], "ann@example.com");
    assert_eq!(u1["firstSeen"], "1614834367", "2021-03-04 05:06:07 as UTC");
    assert_eq!(u1["unsubscribed"], true);
    assert_eq!(u1["phone"], "4477123456789", "a number, written whole");
    assert_eq!(
        u1["customData"],
        json!({"zip": "01234", "seats": 15, "amount": 15.99, "paid": true, "renewal": "1614816000"})
    );
    let u2 = customer(customers, "u2");
    assert_eq!(u2["firstSeen"], "1603885746");
    assert_eq!(u2["unsubscribed"], false);
    assert_eq!(u2["phone"], "+10233456781");
    assert_eq!(
        u2["customData"],
        json!({"zip": "00501", "seats": 3, "amount": 0.5, "paid": false, "renewal": "1603843200"})
    );
}

/// Imports `file` (a workbook of [`write_xlsx`]'s content) and checks every payload, the
/// failed row's place and cells, and that `failed.csv` imports again once fixed.
async fn imports_exactly(name: &str, write: fn(&str)) {
    let sandbox = sandbox(SandboxConfig::default()).await;
    let dir = Dir::new();
    let file = dir.path().join(name).to_string_lossy().into_owned();
    write(&file);
    let result = import(&sandbox, &dir, &file, &["--rate", "50/s"]).await;
    assert_eq!(result.code, 1, "u3 fails: {}", result.all_output());
    let customers = sandbox.customers();
    assert_eq!(customers.len(), 2, "{customers:?}");
    assert_stored_exactly(&customers);
    assert!(
        result
            .stderr
            .contains("reading sheet \"Contacts\" only; \"Notes\" holds data too"),
        "{}",
        result.stderr
    );

    // The failed row: its sheet row, the cell, and its cells as text under the header.
    let failed = dir.csv_rows("failed.csv");
    assert_eq!(failed.len(), 1);
    let row = &failed[0];
    assert_eq!(row["_line"], "4");
    assert!(
        row["_errors"].starts_with("Contacts!C4: column \"email\" holds the error #N/A"),
        "{row:?}"
    );
    assert_eq!(row["email"], "#N/A");
    assert_eq!(row["firstSeen"], "2021-03-04 05:06:07");
    let kinds = dir.summary()["errors_by_kind"].to_string();
    assert!(
        kinds.contains(&format!("{name}: Contacts!C4: column"))
            && kinds.contains("holds the error #N/A"),
        "{kinds}"
    );
    dir.assert_results_agree();

    // failed.csv imports again as it is, once its cell is fixed.
    let fixed = dir.write(
        "fixed.csv",
        dir.read_out("failed.csv")
            .replace("#N/A", "cid@example.com"),
    );
    let out2 = dir.path().join("out2").to_string_lossy().into_owned();
    let base_url = sandbox.base_url();
    let args = [
        "import",
        &fixed,
        "--base-url",
        &base_url,
        "--out",
        &out2,
        "--rate",
        "50/s",
    ];
    let again = run(&args, Some(KEY)).await;
    assert_eq!(again.code, 0, "{}", again.all_output());
    let customers = sandbox.customers();
    let u3 = customer(&customers, "u3");
    assert_eq!(u3["email"], "cid@example.com");
    assert_eq!(u3["firstSeen"], "1614834367");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_xlsx_imports_its_typed_cells_exactly_and_names_the_failed_cell() {
    imports_exactly("contacts.xlsx", write_xlsx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ods_imports_its_typed_cells_exactly_and_names_the_failed_cell() {
    imports_exactly("contacts.ods", write_ods).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_xls_fixture_is_read_with_its_types() {
    let sandbox = sandbox(SandboxConfig::default()).await;
    let dir = Dir::new();
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/contacts.xls");
    let result = import(&sandbox, &dir, file, &["--rate", "50/s"]).await;
    assert_eq!(result.code, 1, "x3 fails: {}", result.all_output());
    let customers = sandbox.customers();
    let x1 = customer(&customers, "x1");
    assert_eq!(x1["firstSeen"], "1614834367");
    assert_eq!(
        x1["customData"],
        json!({"zip": "01234", "seats": 15, "paid": true, "renewal": "1614816000"})
    );
    let x2 = customer(&customers, "x2");
    assert_eq!(x2["customData"]["paid"], false);
    let failed = dir.csv_rows("failed.csv");
    assert_eq!(failed[0]["_line"], "4");
    assert!(
        failed[0]["_errors"].starts_with("Contacts!C4: email \"not an address\""),
        "{failed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sheet_chooses_by_name_or_position_and_a_missing_one_is_named() {
    let dir = Dir::new();
    let file = dir
        .path()
        .join("contacts.xlsx")
        .to_string_lossy()
        .into_owned();
    write_xlsx(&file);
    let out = dir.out().to_string_lossy().into_owned();
    for sheet in ["Notes", "2"] {
        let args = [
            "validate",
            &file,
            "--out",
            &out,
            "--overwrite",
            "--sheet",
            sheet,
        ];
        let result = run(&args, None).await;
        assert_eq!(result.code, 0, "{}", result.all_output());
        assert_eq!(dir.summary()["rows_read"], 1, "--sheet {sheet}");
    }
    let args = [
        "validate",
        &file,
        "--out",
        &out,
        "--overwrite",
        "--sheet",
        "Leads",
    ];
    let result = run(&args, None).await;
    assert_eq!(result.code, 2, "{}", result.all_output());
    assert!(
        result
            .stderr
            .contains("contacts.xlsx: --sheet Leads: the workbook has no such sheet (its sheets: \"Contacts\", \"Notes\""),
        "{}",
        result.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_guesses_a_workbook_from_its_typed_cells() {
    let dir = Dir::new();
    let path = dir.path().join("crm.xlsx").to_string_lossy().into_owned();
    let mut book = Workbook::new();
    let date = Format::new().set_num_format("dd/mm/yyyy");
    let sheet = book.add_worksheet();
    for (column, name) in [
        "Customer Id",
        "Email",
        "Signed Up",
        "Email Opt Out",
        "Zip",
        "Visits",
    ]
    .iter()
    .enumerate()
    {
        sheet.write_string(0, column as u16, *name).expect("header");
    }
    for row in 1..4u32 {
        let day = ExcelDateTime::from_ymd(2021, 3, row as u8).expect("a date");
        sheet.write_string(row, 0, format!("c{row}")).expect("cell");
        sheet
            .write_string(row, 1, format!("c{row}@example.com"))
            .expect("cell");
        sheet
            .write_datetime_with_format(row, 2, &day, &date)
            .expect("cell");
        sheet.write_boolean(row, 3, row == 2).expect("cell");
        sheet.write_string(row, 4, "01234").expect("cell");
        sheet.write_number(row, 5, f64::from(row)).expect("cell");
    }
    book.save(&path).expect("written");
    let result = run(&["init", &path], None).await;
    assert_eq!(result.code, 0, "{}", result.all_output());
    let config = &result.stdout;
    // A date cell needs no format, whatever the sheet shows it as.
    assert!(config.contains("firstSeen = \"Signed Up\"\n"), "{config}");
    // A workbook's bytes are not text in some encoding.
    assert!(!config.contains("encoding"), "{config}");
    assert!(config.contains("date cells"), "{config}");
    assert!(
        config.contains("unsubscribed = \"Email Opt Out\"\n"),
        "{config}"
    );
    assert!(
        config.contains("property = \"zip\"\ncolumn = \"Zip\"\n\n"),
        "{config}"
    );
    assert!(
        config.contains("property = \"visits\"\ncolumn = \"Visits\"\ntype = \"integer\""),
        "{config}"
    );
    let toml = dir.write("crm.toml", config);
    let out = dir.out().to_string_lossy().into_owned();
    let result = run(&["validate", &path, "--config", &toml, "--out", &out], None).await;
    assert_eq!(result.code, 0, "{}", result.all_output());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workbook_run_resumes_and_another_sheet_is_not_taken_for_it() {
    let sandbox = sandbox(SandboxConfig::default()).await;
    let dir = Dir::new();
    let file = dir
        .path()
        .join("contacts.xlsx")
        .to_string_lossy()
        .into_owned();
    write_xlsx(&file);
    let result = import(&sandbox, &dir, &file, &["--rate", "50/s"]).await;
    assert_eq!(result.code, 1, "{}", result.all_output());
    let requests = sandbox.stats().requests;
    // The same workbook again: every row keeps its result, nothing is sent.
    let again = import(&sandbox, &dir, &file, &["--rate", "50/s", "--resume"]).await;
    assert_eq!(again.code, 1, "{}", again.all_output());
    assert_eq!(sandbox.stats().requests, requests);
    assert_eq!(sandbox.customers().len(), 2);
    // Rows are matched by line: another sheet is another input.
    let other = import(
        &sandbox,
        &dir,
        &file,
        &["--rate", "50/s", "--resume", "--sheet", "Notes"],
    )
    .await;
    assert_eq!(other.code, 2, "{}", other.all_output());
    assert!(
        other.stderr.contains("changed since the run began"),
        "{}",
        other.stderr
    );
    assert_eq!(sandbox.stats().requests, requests);
}
