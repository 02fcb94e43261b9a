//! Turns a CSV of `scripts/gen_contacts.py` into an .xlsx with typed cells, for the
//! workbook benchmark (`scripts/bench-validate-xlsx.sh`): `firstSeen` a date-time cell
//! where it is a date, seat counts numbers where they are integers, `paid` booleans,
//! everything else text (a zip or a phone keeps its characters).
//!
//!     cargo run --release --example gen_workbook -- contacts.csv contacts.xlsx

use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(input), Some(output)) = (args.get(1), args.get(2)) else {
        return Err("usage: gen_workbook CONTACTS.csv OUT.xlsx".into());
    };
    let mut reader = csv::Reader::from_path(input)?;
    let header = reader.headers()?.clone();
    let column = |name: &str| header.iter().position(|h| h == name);
    let (first_seen, seats, paid) = (
        column("firstSeen"),
        column("customData.seats:integer"),
        column("customData.paid:boolean"),
    );
    let mut book = Workbook::new();
    let date_time = Format::new().set_num_format("yyyy-mm-dd hh:mm:ss");
    // Strings go to the shared string table, as Excel writes them (and as calamine must
    // then hold them).
    let sheet = book.add_worksheet();
    sheet.set_name("Contacts")?;
    for (i, name) in header.iter().enumerate() {
        sheet.write_string(0, i as u16, name)?;
    }
    for (row, record) in reader.records().enumerate() {
        let record = record?;
        let row = row as u32 + 1;
        for (i, cell) in record.iter().enumerate() {
            let col = i as u16;
            if cell.is_empty() {
                continue;
            }
            let date = (Some(i) == first_seen)
                .then(|| ExcelDateTime::parse_from_str(cell.trim_end_matches('Z')).ok())
                .flatten();
            if let Some(at) = date {
                sheet.write_datetime_with_format(row, col, at, &date_time)?;
            } else if Some(i) == seats && cell.parse::<i64>().is_ok() {
                sheet.write_number(row, col, cell.parse::<f64>()?)?;
            } else if Some(i) == paid {
                let truth = matches!(cell.to_ascii_lowercase().as_str(), "yes" | "true" | "1");
                sheet.write_boolean(row, col, truth)?;
            } else {
                sheet.write_string(row, col, cell)?;
            }
        }
    }
    book.save(output)?;
    Ok(())
}
