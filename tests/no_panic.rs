//! No input may panic: arbitrary bytes (mostly CSV-, NDJSON- and JSON-array-shaped, some
//! pure noise)
//! go through the readers, the mapping (conventions and a config), validation, the
//! repeat detector and the result files. Every row read must end in exactly one result.

use std::io::BufRead;

use helpcrunch_import::dedupe::Seen;
use helpcrunch_import::mapping::{Mapper, MappingConfig};
use helpcrunch_import::outcome::{FailStatus, RowOutcome, RowResult};
use helpcrunch_import::record::Warnings;
use helpcrunch_import::report::{Outputs, ResultFiles, error_kind};
use helpcrunch_import::source::{Delimiter, Format, Input, Rows, TextEncoding, TextOptions};
use proptest::prelude::*;

/// Pieces that make the readers and the mapper take their rarer paths.
const TOKENS: [&[u8]; 45] = [
    b",",
    b";",
    b"\t",
    b"\"",
    b"\"\"",
    b"\r",
    b"\n",
    b"\r\n",
    b"\0",
    b"\xFF",
    b"\xE9",
    b"\xEF\xBB\xBF",
    b"\xFF\xFE",
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b"email",
    b"userId",
    b"tags",
    b"locale",
    b"firstSeen",
    b"customData.n:integer",
    b"customData.d:date",
    b"customData.b:boolean",
    b"a@example.com",
    b"2021-13-45",
    b"en-US",
    b"{\"email\":",
    b"\"customData\":{\"a\":[1]}",
    b"\"tags\":[{\"name\":\"\"}]",
    b"_line",
    b"9999999999",
    // Issue 11's artefacts: invisible characters, U+FFFD, Excel's lines and numbers.
    b"\xE2\x80\x8B",
    b"\xE2\x80\x8D",
    b"\xEF\xBF\xBD",
    b"\xE3\x85\xA4",
    b"sep=;\n",
    b"4.47712E+11",
    b"44197",
    b"},",
    // JSON documents: arrays of objects, and objects wrapping them.
    b"{\"email\":\"a@example.com\"},\n",
    b"{\"customers\":[",
    b"1e999",
];

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        3 => prop::sample::select(TOKENS.to_vec()).prop_map(<[u8]>::to_vec),
        2 => "[a-zA-Z0-9 .@-]{1,8}".prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 1..8),
    ];
    prop_oneof![
        4 => prop::collection::vec(piece.clone(), 0..60).prop_map(|pieces| pieces.concat()),
        // A JSON array's first byte sends the rest down its reader.
        2 => prop::collection::vec(piece, 0..60).prop_map(|pieces| [&b"[\n"[..], &pieces.concat()].concat()),
        1 => prop::collection::vec(any::<u8>(), 0..400),
    ]
}

fn options() -> impl Strategy<Value = (Format, TextOptions)> {
    (
        prop::sample::select(vec![Format::Csv, Format::Ndjson]),
        prop::option::of(prop::sample::select(vec![b',', b';', b'\t', b'|'])),
        prop::option::of(prop::sample::select(vec![
            TextEncoding::Windows1252,
            TextEncoding::Latin1,
        ])),
    )
        .prop_map(|(format, delimiter, encoding)| {
            (
                format,
                TextOptions {
                    delimiter: delimiter.map(Delimiter),
                    encoding,
                    sheet: None,
                },
            )
        })
}

fn configured_mapper() -> Mapper {
    let config: MappingConfig = toml::from_str(
        r##"
        email = "email"
        userId = { template = "{userId}-{locale}" }
        locale = "locale"
        firstSeen = { column = "firstSeen", format = "%d/%m/%Y" }
        [tags]
        column = "tags"
        color = "#c377e0"
        [[customData]]
        property = "n"
        column = "customData.n:integer"
        type = "integer"
        "##,
    )
    .expect("the config parses");
    Mapper::new(Some(&config)).expect("the config is valid")
}

/// Reads `bytes` to the end (or the first fatal error) and writes every row's result.
fn run(bytes: Vec<u8>, format: Format, text: TextOptions, mapper: &Mapper, out: &std::path::Path) {
    let reader: Box<dyn BufRead + Send> = Box::new(std::io::Cursor::new(bytes));
    let Ok(rows) = Rows::from_bytes("fuzz".into(), format, text.clone(), reader) else {
        return;
    };
    let header_plan = rows.header().and_then(|header| mapper.plan(header).ok());
    if rows.header().is_some() && header_plan.is_none() {
        return; // refused up front, as the run does
    }
    let input = Input {
        name: "fuzz".into(),
        path: None,
        format,
        text,
    };
    let mut files = ResultFiles::create(out, Outputs::Check, &[input]).expect("result files");
    let mut seen = Seen::default();
    let mut read = 0u64;
    for row in rows {
        let Ok(record) = row else { break };
        read += 1;
        let keyer = seen.keyer();
        let mut warnings = Warnings::default();
        let mapped = mapper
            .map(header_plan.as_ref(), &record, &mut warnings)
            .and_then(|payload| {
                let (user_id, email) = (payload.user_id.as_deref(), payload.email.as_deref());
                let keys = keyer.keys(user_id, email);
                seen.touch(&keys);
                let names = || (payload.user_id.clone(), payload.email.clone());
                match seen.check(&record.origin, &keys, names) {
                    Ok(()) => Ok(payload),
                    Err(repeat) => Err(vec![repeat]),
                }
            });
        let result = match mapped {
            Ok(_) => RowResult::Valid,
            Err(errors) => {
                for error in &errors {
                    let _ = error_kind(&error.message);
                }
                RowResult::Failed {
                    status: FailStatus::Invalid,
                    errors: errors.into_iter().map(|e| e.message).collect(),
                }
            }
        };
        let outcome = RowOutcome {
            record,
            user_id: None,
            email: None,
            result,
            warnings,
        };
        files.write(&outcome).expect("a result is written");
    }
    files.flush().expect("results flushed");
    let tally = files.tally();
    assert_eq!(tally.rows_read, read);
    assert_eq!(tally.valid + tally.failed, read);
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_bytes_never_panic((format, text) in options(), bytes in bytes()) {
        let dir = tempfile::tempdir().expect("tempdir");
        run(bytes.clone(), format, text.clone(), &Mapper::new(None).expect("conventions"), dir.path());
        run(bytes, format, text, &configured_mapper(), dir.path());
    }
}

/// A cell of a generated workbook: any type a sheet holds, including failed formulas.
#[derive(Debug, Clone)]
enum SheetCell {
    Text(String),
    Number(f64),
    Bool(bool),
    Date(u16, u8, u8, f64),
    Error(&'static str),
    Blank,
}

fn sheet_cell() -> impl Strategy<Value = SheetCell> {
    let text = prop_oneof![
        prop::sample::select(TOKENS.to_vec())
            .prop_map(|token| String::from_utf8_lossy(token).into_owned()),
        "[a-zA-Z0-9 .@#!/-]{0,12}",
    ];
    prop_oneof![
        3 => text.prop_map(SheetCell::Text),
        1 => any::<f64>().prop_map(SheetCell::Number),
        1 => prop::sample::select(vec![0.0, 15.0, -0.5, 1e21, 9_007_199_254_740_993.0, 44197.0])
            .prop_map(SheetCell::Number),
        1 => any::<bool>().prop_map(SheetCell::Bool),
        1 => (1900u16..2200, 1u8..13, 1u8..29, 0.0..86_399.0).prop_map(|(y, m, d, s)| SheetCell::Date(y, m, d, s)),
        1 => prop::sample::select(vec!["#N/A", "#REF!", "#DIV/0!", "#VALUE!"]).prop_map(SheetCell::Error),
        1 => Just(SheetCell::Blank),
    ]
}

/// An xlsx of `rows` (written by rust_xlsxwriter), its cells at random columns.
fn xlsx(rows: &[Vec<(u16, SheetCell)>]) -> Vec<u8> {
    use rust_xlsxwriter::{ExcelDateTime, Format as CellFormat, Formula, Workbook};
    let mut book = Workbook::new();
    let date = CellFormat::new().set_num_format("yyyy-mm-dd hh:mm:ss");
    let sheet = book.add_worksheet();
    for (row, cells) in rows.iter().enumerate() {
        let row = row as u32;
        for (column, cell) in cells {
            let column = *column;
            // A value the writer refuses (a NaN) is left out, as no sheet can hold it.
            let _ = match cell {
                SheetCell::Text(text) => sheet.write_string(row, column, text).map(|_| ()),
                SheetCell::Number(n) => sheet.write_number(row, column, *n).map(|_| ()),
                SheetCell::Bool(b) => sheet.write_boolean(row, column, *b).map(|_| ()),
                SheetCell::Date(y, m, d, s) => ExcelDateTime::from_ymd(*y, *m, *d)
                    .and_then(|day| day.and_hms(0, 0, *s))
                    .and_then(|at| sheet.write_datetime_with_format(row, column, &at, &date))
                    .map(|_| ()),
                SheetCell::Error(name) => sheet
                    .write_formula(row, column, Formula::new("=NA()").set_result(*name))
                    .map(|_| ()),
                SheetCell::Blank => sheet.write_blank(row, column, &date).map(|_| ()),
            };
        }
    }
    book.save_to_buffer().unwrap_or_default()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Workbooks of any typed cells, and bytes that only start like one, go through the
    /// sheet reader, the mapping and the result files.
    #[test]
    fn arbitrary_workbooks_never_panic(
        rows in prop::collection::vec(prop::collection::vec((0u16..8, sheet_cell()), 0..8), 0..12),
        junk in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let workbook = xlsx(&rows);
        let mapper = Mapper::new(None).expect("conventions");
        let text = TextOptions::default();
        run(workbook.clone(), Format::Workbook, text.clone(), &mapper, dir.path());
        run(workbook.clone(), Format::Workbook, text.clone(), &configured_mapper(), dir.path());
        // A workbook cut short, and junk behind a ZIP's and an OLE file's first bytes.
        let cut = workbook[..workbook.len() / 2].to_vec();
        run(cut, Format::Workbook, text.clone(), &mapper, dir.path());
        for magic in [&b"PK\x03\x04"[..], b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1"] {
            let bytes = [magic, &junk].concat();
            run(bytes, Format::Workbook, text.clone(), &mapper, dir.path());
        }
    }
}
