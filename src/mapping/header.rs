//! A CSV header as columns are matched against it: names cleaned of invisible
//! characters, Excel's unnamed columns at the end set aside, repeated names found.
//!
//! Names are compared after [`clean_name`]: `\u{200B}email` is the column `email`, with a
//! note saying so. Columns with no name at the end of the header are what Excel writes
//! when cells beyond the data were once touched: they are ignored while they are empty
//! (a row with a value there fails). A name that occurs twice is an error only if the
//! mapping reads it, which [`super::Mapper::plan`] decides.

use std::borrow::Cow;

use crate::invisible::{clean_name, describe_all, hidden_in_name, quoted};
use crate::record::{CsvValues, Header, Warning};

use super::ColumnIndex;
use super::error::MappingError;

/// Names read without invisible characters noted one by one, at most.
const NAMES_NOTED: usize = 10;
/// Names listed in a note at most; the log has the note too.
const NAMES_LISTED: usize = 10;

/// A header read for matching.
pub(crate) struct Columns {
    /// The cleaned names of the named columns: all but the unnamed ones at the end.
    pub(crate) names: Vec<String>,
    /// Cleaned name → position, for the names that occur once.
    pub(crate) index: ColumnIndex,
    /// Cleaned names that occur more than once, with their positions.
    pub(crate) repeated: Vec<(String, Vec<usize>)>,
    /// What the header's reading changed: names with invisible characters, unnamed
    /// columns set aside.
    pub(crate) notes: Vec<Warning>,
}

impl Columns {
    /// Reads `header`. An unnamed column between named ones is refused (its cells could
    /// hold anything); so is a header with no named column.
    pub(crate) fn read(header: &Header) -> Result<Columns, MappingError> {
        let cleaned: Vec<Cow<str>> = header.iter().map(|name| clean_name(name)).collect();
        let named = cleaned
            .iter()
            .rposition(|name| !name.is_empty())
            .map_or(0, |last| last + 1);
        if let Some(position) = cleaned[..named].iter().position(|name| name.is_empty()) {
            return Err(MappingError::EmptyColumnName {
                position: position + 1,
            });
        }
        if named == 0 {
            return Err(MappingError::EmptyColumnName { position: 1 });
        }
        let mut notes = Vec::new();
        let mut index = ColumnIndex::default();
        let mut repeated: Vec<(String, Vec<usize>)> = Vec::new();
        // Bounded: a header of ten thousand such names is one story, not ten thousand.
        let mut cleaned_names = 0;
        for (position, (raw, name)) in header.iter().zip(&cleaned).take(named).enumerate() {
            if raw != name && cleaned_names < NAMES_NOTED {
                cleaned_names += 1;
                notes.push(Warning {
                    kind: "header names with invisible characters, matched without them".into(),
                    message: format!(
                        "column {} {} is read as {}, ignoring {}",
                        position + 1,
                        quoted(raw),
                        quoted(name),
                        describe_all(&hidden_in_name(raw))
                    ),
                });
            }
            if let Some(first) = index.insert(name.to_string(), position) {
                match repeated.iter_mut().find(|(known, _)| known == name) {
                    Some((_, positions)) => positions.push(position),
                    None => repeated.push((name.to_string(), vec![first, position])),
                }
            }
        }
        for (name, _) in &repeated {
            index.remove(name);
        }
        if named < header.len() {
            let columns = if named + 1 == header.len() {
                format!("column {} has", header.len())
            } else {
                format!("columns {}-{} have", named + 1, header.len())
            };
            notes.push(Warning {
                kind: "unnamed columns at the end of the header, ignored".into(),
                message: format!(
                    "{columns} no name (Excel adds them): ignored while empty; a row with a \
                     value there fails"
                ),
            });
        }
        Ok(Columns {
            names: cleaned
                .into_iter()
                .take(named)
                .map(Cow::into_owned)
                .collect(),
            index,
            repeated,
            notes,
        })
    }

    /// The notes for the repeated names (which nothing reads, or the plan was refused):
    /// the columns of each are neither imported nor dropped from failed.csv. The
    /// importer's own `_` columns repeat when a failed.csv's failed.csv is read: no note.
    pub(crate) fn repeated_notes(self) -> Vec<Warning> {
        let mut notes = self.notes;
        for (name, positions) in self
            .repeated
            .iter()
            .filter(|(name, _)| !name.starts_with('_'))
        {
            let mut places: Vec<String> = positions.iter().map(|p| (p + 1).to_string()).collect();
            let last = places.pop().unwrap_or_default();
            let (both, none) = if places.len() == 1 {
                ("both", "neither")
            } else {
                ("all", "none")
            };
            notes.push(Warning {
                kind: "columns with a repeated name, not imported".into(),
                message: format!(
                    "columns {} and {last} are {both} named {}: {none} is imported (nothing \
                     reads them), and failed.csv keeps them as they are",
                    places.join(", "),
                    quoted(name)
                ),
            });
        }
        notes
    }

    /// The error for a repeated name a rule reads: the name as the header has it, or, when
    /// the columns differ only by invisible characters, both.
    pub(crate) fn ambiguous(&self, header: &Header, name: &str) -> MappingError {
        let positions = self
            .repeated
            .iter()
            .find(|(known, _)| known == name)
            .map(|(_, positions)| positions.as_slice())
            .unwrap_or_default();
        let raw = |i: usize| positions.get(i).and_then(|&p| header.get(p)).cloned();
        match (raw(0), raw(1)) {
            (Some(first), Some(second)) if first != second => MappingError::LookAlikeColumns {
                first,
                second,
                name: name.to_owned(),
            },
            _ => MappingError::DuplicateColumn {
                name: name.to_owned(),
            },
        }
    }
}

/// The note listing the columns not imported (as the header names them, quoted so that
/// invisible characters show), with `hint` on what to do; None when there is none.
pub(crate) fn not_imported(unmapped: &[String], hint: &str) -> Option<Warning> {
    if unmapped.is_empty() {
        return None;
    }
    let mut listed: Vec<String> = unmapped
        .iter()
        .take(NAMES_LISTED)
        .map(|name| quoted(name))
        .collect();
    if unmapped.len() > NAMES_LISTED {
        listed.push(format!("and {} more", unmapped.len() - NAMES_LISTED));
    }
    let kind = format!("columns not imported: {}", listed.join(", "));
    Some(Warning {
        message: format!("{kind} ({hint})"),
        kind,
    })
}

/// The cells of a row beyond `named`, in Excel's unnamed columns: the first that holds a
/// value, with its column (1-based).
pub(crate) fn unnamed_value(named: usize, values: &CsvValues) -> Option<(usize, &str)> {
    (named..values.len())
        .filter_map(|i| Some((i + 1, values.get(i)?)))
        .find(|(_, value)| !value.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(names: &[&str]) -> Result<Columns, String> {
        let header: Header = names.iter().map(|name| name.to_string()).collect();
        Columns::read(&header).map_err(|error| error.to_string())
    }

    fn messages(columns: &Columns) -> Vec<&str> {
        columns
            .notes
            .iter()
            .map(|note| note.message.as_str())
            .collect()
    }

    #[test]
    fn names_are_matched_without_invisible_characters() {
        let columns = read(&["name", "\u{200B}email", "Phone\u{A0}1"]).unwrap();
        assert_eq!(columns.names, ["name", "email", "Phone 1"]);
        assert_eq!(columns.index.get("email"), Some(&1));
        assert_eq!(
            messages(&columns),
            [
                r#"column 2 "\u{200b}email" is read as "email", ignoring U+200B ZERO WIDTH SPACE"#,
                r#"column 3 "Phone\u{a0}1" is read as "Phone 1", ignoring U+00A0 NO-BREAK SPACE"#,
            ]
        );
    }

    #[test]
    fn unnamed_columns_at_the_end_are_set_aside() {
        let columns = read(&["name", "email", "", ""]).unwrap();
        assert_eq!(columns.names, ["name", "email"]);
        assert_eq!(
            messages(&columns),
            [
                "columns 3-4 have no name (Excel adds them): ignored while empty; a row with a value there fails"
            ]
        );
        let one = read(&["name", "\u{FEFF}"]).unwrap();
        assert!(
            messages(&one)[0].starts_with("column 2 has no name"),
            "{:?}",
            messages(&one)
        );
        assert_eq!(
            read(&["name", "", "email"]).err().as_deref(),
            Some("header column 2 has no name")
        );
        assert_eq!(
            read(&["", ""]).err().as_deref(),
            Some("header column 1 has no name")
        );
        let values: CsvValues = ["a", "b", " ", "x"].into_iter().collect();
        assert_eq!(unnamed_value(2, &values), Some((4, "x")));
        let values: CsvValues = ["a", "b", "", " "].into_iter().collect();
        assert_eq!(unnamed_value(2, &values), None);
        assert_eq!(unnamed_value(4, &values), None);
    }

    #[test]
    fn repeated_names_are_found_and_left_out_of_the_index() {
        let header: Header = ["Name", "Phone", "Phone", "email", "\u{200B}email"]
            .iter()
            .map(|name| name.to_string())
            .collect();
        let columns = Columns::read(&header).unwrap();
        assert_eq!(
            columns.repeated,
            [
                ("Phone".to_string(), vec![1, 2]),
                ("email".to_string(), vec![3, 4])
            ]
        );
        assert_eq!(columns.index.get("Phone"), None);
        assert_eq!(
            columns.ambiguous(&header, "Phone").to_string(),
            r#"the header has two columns named "Phone""#
        );
        assert_eq!(
            columns.ambiguous(&header, "email").to_string(),
            r#"columns "email" and "\u{200b}email" are both "email" once invisible characters are removed"#
        );
    }
}
