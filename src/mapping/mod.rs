//! Record → create-contact payload (pure).
//!
//! A [`Mapper`] is built once from the `[mapping]` config (or from nothing: the
//! column-name conventions), plans each CSV header once, then maps every record to a
//! validated [`CreateCustomer`] or to all the problems in its row.

mod apply;
mod artefacts;
mod config;
mod conventions;
mod error;
mod field;
mod header;
mod json;
mod rules;

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use serde_json::{Map, Value};

use crate::invisible::{clean_name, lookalike_name};
use crate::payload::CreateCustomer;
use crate::record::{Cells, CsvValues, Header, Record, RowError, Warning, Warnings};
use crate::validate::validate;

use apply::{CsvRow, JsonRow, apply_into};
pub use config::{CustomDataSpec, FieldSpec, FieldTable, MappingConfig, TagsSpec};
pub use error::{MappingError, MissingColumn};
pub(crate) use field::parse_boolean;
use header::Columns;
use rules::Rules;

/// Column name → position, looked up for every mapped cell of every row: hashed with
/// FNV-1a, several times faster than SipHash on short names (a header is the file's own,
/// and a few thousand names at most, so flooding is no concern).
pub(crate) type ColumnIndex = HashMap<String, usize, BuildHasherDefault<Fnv>>;

/// A file's first rows, mapped before a run to warn of contacts that cannot be
/// identified.
pub const SURVEYED_ROWS: usize = 1000;
/// The share of valid rows with neither email nor userId that is worth a warning before
/// a run: one in ten.
const UNIDENTIFIED_SHARE: u64 = 10;

#[derive(Default)]
pub(crate) struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut hash = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &byte in bytes {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = hash;
    }
}

#[derive(Debug, Clone)]
pub struct Mapper {
    /// `None`: the conventions, which depend on each header.
    rules: Option<Rules>,
}

/// A CSV header resolved against the mapping.
#[derive(Debug, Clone)]
pub struct HeaderPlan {
    header: Header,
    /// The rules with every column's position in `header`.
    rules: Rules,
    /// Columns with a name: those after them are Excel's unnamed ones, which must stay
    /// empty.
    named: usize,
    unmapped: Vec<String>,
    notes: Vec<Warning>,
}

impl HeaderPlan {
    /// A copy for one batch of rows: see [`Mapper::detached`].
    pub fn detached(&self) -> HeaderPlan {
        HeaderPlan {
            header: self.header.clone(),
            rules: self.rules.detached(),
            named: self.named,
            unmapped: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Whether this plan is the one made for `header` (the same file's header).
    pub fn is_for(&self, header: &Header) -> bool {
        self.header.ptr_eq(header)
    }

    /// Columns this plan ignores, as the header names them; `_`-prefixed columns are not
    /// listed.
    pub fn unmapped_columns(&self) -> &[String] {
        &self.unmapped
    }

    /// What reading the header changed or leaves out, each a warning about the header's
    /// line: names read without invisible characters, unnamed or repeated columns set
    /// aside, the columns not imported, no column for email or userId.
    pub fn notes(&self) -> &[Warning] {
        &self.notes
    }

    /// The header's line, where its notes point.
    pub fn line(&self) -> u64 {
        self.header.line()
    }
}

impl Mapper {
    /// `None` uses the conventions: columns named like the API's fields.
    pub fn new(config: Option<&MappingConfig>) -> Result<Mapper, MappingError> {
        let rules = config.map(Rules::from_config).transpose()?;
        Ok(Mapper { rules })
    }

    /// A copy for one batch of rows, sharing no reference count with this one, so that
    /// batches mapped on different threads at once never contend for one.
    pub fn detached(&self) -> Mapper {
        Mapper {
            rules: self.rules.as_ref().map(Rules::detached),
        }
    }

    /// Once per CSV file: resolve column names to indices. Names are compared without
    /// invisible characters. Refuses an unnamed column between named ones, a repeated
    /// name the mapping reads, and columns the mapping names that the header lacks
    /// (naming them); without a mapping, also a column that only invisible characters
    /// keep from being a field's.
    pub fn plan(&self, header: &Header) -> Result<HeaderPlan, MappingError> {
        let columns = Columns::read(header)?;
        let is_repeated = |name: &str| columns.repeated.iter().any(|(known, _)| known == name);
        let mut rules = match &self.rules {
            None => {
                if let Some((name, _)) = columns
                    .repeated
                    .iter()
                    .find(|(name, _)| conventions::reads(name))
                {
                    return Err(columns.ambiguous(header, name));
                }
                let unique: Vec<String> = columns
                    .names
                    .iter()
                    .filter(|name| !is_repeated(name))
                    .cloned()
                    .collect();
                conventions::conventions(&unique)?
            }
            Some(rules) => {
                let read = rules.columns();
                if let Some((column, _)) = read
                    .iter()
                    .find(|(column, _)| is_repeated(&clean_name(column)))
                {
                    return Err(columns.ambiguous(header, &clean_name(column)));
                }
                let missing: Vec<MissingColumn> = read
                    .iter()
                    .filter(|(column, _)| !columns.index.contains_key(&*clean_name(column)))
                    .map(|(column, key)| MissingColumn {
                        column: (*column).to_owned(),
                        key: key.clone(),
                        similar: header
                            .iter()
                            .find(|name| lookalike_name(name) == lookalike_name(column))
                            .cloned(),
                    })
                    .collect();
                if !missing.is_empty() {
                    return Err(MappingError::MissingColumns(missing));
                }
                rules.clone()
            }
        };
        rules.resolve(&|name| columns.index.get(&*clean_name(name)).copied());
        let mut read = vec![false; columns.names.len()];
        for position in rules.positions() {
            if let Some(slot) = read.get_mut(position) {
                *slot = true;
            }
        }
        let mut unmapped = Vec::new();
        for (position, name) in columns.names.iter().enumerate() {
            if read[position] || name.starts_with('_') || is_repeated(name) {
                continue;
            }
            let raw = header.get(position).cloned().unwrap_or_default();
            if self.rules.is_none()
                && let Some(field) = conventions::looks_like(name)
            {
                return Err(MappingError::HiddenName {
                    hidden: crate::invisible::describe_all(&crate::invisible::hidden_in_name(&raw)),
                    column: raw,
                    name: field,
                });
            }
            unmapped.push(raw);
        }
        let named = columns.names.len();
        let mut notes = columns.repeated_notes();
        let hint = match self.rules {
            None => {
                "name them like the API's fields, call them customData.NAME, or map them in [mapping]"
            }
            Some(_) => "the [mapping] does not name them",
        };
        notes.extend(header::not_imported(&unmapped, hint));
        if !rules.identifies() {
            notes.push(no_identifier("no column gives email or userId"));
        }
        Ok(HeaderPlan {
            header: header.clone(),
            rules,
            named,
            unmapped,
            notes,
        })
    }

    /// One record → a validated payload, or every problem found in the row; `warnings`
    /// gets what the row is sent with anyway (an invisible character removed, a phone in
    /// scientific notation). `plan` is the one for the record's header (`Cells::Csv`);
    /// without it, or for another header, the header is planned here. Ignored for JSON
    /// and unreadable cells.
    pub fn map(
        &self,
        plan: Option<&HeaderPlan>,
        record: &Record,
        warnings: &mut Warnings,
    ) -> Result<CreateCustomer, Vec<RowError>> {
        let mut payload = CreateCustomer::default();
        self.map_into(plan, record, &mut payload, warnings)
            .map(|()| payload)
    }

    /// [`Mapper::map`] into `payload`, reusing its buffers (a dry run maps every row
    /// into one). On success `payload` is the row's, exactly; on failure, anything.
    /// `warnings` is cleared first.
    pub fn map_into(
        &self,
        plan: Option<&HeaderPlan>,
        record: &Record,
        payload: &mut CreateCustomer,
        warnings: &mut Warnings,
    ) -> Result<(), Vec<RowError>> {
        warnings.clear();
        let mut errors = self
            .convert_into(plan, record, payload, warnings)
            .map_err(|error| vec![error])?;
        errors.extend(validate(payload));
        if !errors.is_empty() {
            self.name_cells(plan, record, &mut errors);
            return Err(errors);
        }
        if payload.email.is_none() && payload.user_id.is_none() {
            let warning = no_identifier("the contact has neither email nor userId");
            warnings.push(warning.kind, warning.message);
        }
        Ok(())
    }

    /// In a workbook's row, starts each error about a field read from one column with
    /// the cell's name (`Sheet1!C7: email "x" is not ...`), so the message points at the
    /// cell to fix.
    fn name_cells(&self, plan: Option<&HeaderPlan>, record: &Record, errors: &mut [RowError]) {
        let Cells::Csv { header, .. } = &record.cells else {
            return;
        };
        if header.sheet().is_none() {
            return;
        }
        let planned;
        let plan = match plan {
            Some(plan) if plan.is_for(header) || plan.header == *header => plan,
            _ => match self.plan(header) {
                Ok(plan) => {
                    planned = plan;
                    &planned
                }
                Err(_) => return,
            },
        };
        for error in errors {
            let Some(field) = &error.field else { continue };
            let cell = plan
                .rules
                .column_of(field)
                .and_then(|index| header.cell(index, record.origin.line));
            if let Some(cell) = cell {
                error.message = format!("{cell}: {}", error.message);
            }
        }
    }

    /// [`Mapper::map`] before [`validate`]: the payload made of the values that converted,
    /// with the problems of those that did not (left out of the payload), or a row-level
    /// failure (unreadable, ragged, empty).
    pub fn convert(
        &self,
        plan: Option<&HeaderPlan>,
        record: &Record,
        warnings: &mut Warnings,
    ) -> Result<(CreateCustomer, Vec<RowError>), RowError> {
        let mut payload = CreateCustomer::default();
        let errors = self.convert_into(plan, record, &mut payload, warnings)?;
        Ok((payload, errors))
    }

    /// [`Mapper::convert`] into `payload`.
    fn convert_into(
        &self,
        plan: Option<&HeaderPlan>,
        record: &Record,
        payload: &mut CreateCustomer,
        warnings: &mut Warnings,
    ) -> Result<Vec<RowError>, RowError> {
        match &record.cells {
            Cells::Unreadable { error, .. } => Err(RowError::row(error.clone())),
            Cells::Csv { header, values } => self.map_csv(plan, header, values, payload, warnings),
            Cells::Json(object) => self.map_json(object, payload, warnings),
        }
    }

    /// A row-level failure, or the problems of the row's fields.
    fn map_csv(
        &self,
        plan: Option<&HeaderPlan>,
        header: &Header,
        values: &CsvValues,
        payload: &mut CreateCustomer,
        warnings: &mut Warnings,
    ) -> Result<Vec<RowError>, RowError> {
        if values.len() != header.len() {
            let message = format!("expected {} fields, found {}", header.len(), values.len());
            return Err(RowError::row(message));
        }
        let is_blank = header
            .iter()
            .zip(values.iter())
            .all(|(name, value)| name.starts_with('_') || apply::present(value).is_none());
        if is_blank {
            return Err(RowError::row("the row is empty"));
        }
        let planned;
        let plan = match plan {
            Some(plan) if plan.header.ptr_eq(header) || plan.header == *header => plan,
            _ => {
                planned = self
                    .plan(header)
                    .map_err(|error| RowError::row(error.to_string()))?;
                &planned
            }
        };
        if let Some((column, value)) = header::unnamed_value(plan.named, values) {
            return Err(RowError::new(
                format!("column {column}"),
                format!(
                    "column {column} has no name in the header but holds {value:?} (name \
                     the column, or empty its cells)"
                ),
            ));
        }
        let row = CsvRow::new(values);
        Ok(apply_into(&plan.rules, &row, payload, warnings))
    }

    fn map_json(
        &self,
        object: &Map<String, Value>,
        payload: &mut CreateCustomer,
        warnings: &mut Warnings,
    ) -> Result<Vec<RowError>, RowError> {
        let is_blank = object.iter().all(|(key, value)| {
            key.starts_with('_')
                || value.is_null()
                || value.as_str().is_some_and(|text| text.trim().is_empty())
        });
        if is_blank {
            return Err(RowError::row("the row is empty"));
        }
        Ok(match &self.rules {
            Some(rules) => apply_into(rules, &JsonRow(object), payload, warnings),
            None => {
                let errors;
                (*payload, errors) = json::passthrough(object, warnings);
                errors
            }
        })
    }
}

impl Mapper {
    /// A warning when many of `records` (a file's first rows) map to contacts with
    /// neither email nor userId, for before the run: such contacts cannot be looked up,
    /// de-duplicated, updated later or settled when in doubt. None when the header has
    /// no column for either (its note says so already).
    pub fn survey(&self, plan: Option<&HeaderPlan>, records: &[Record]) -> Option<String> {
        if plan.is_some_and(|plan| !plan.rules.identifies()) {
            return None;
        }
        let (mut valid, mut unidentified) = (0u64, 0u64);
        let mut payload = CreateCustomer::default();
        for record in records {
            if self
                .map_into(plan, record, &mut payload, &mut Warnings::default())
                .is_ok()
            {
                valid += 1;
                unidentified += u64::from(payload.email.is_none() && payload.user_id.is_none());
            }
        }
        (unidentified > 0 && unidentified * UNIDENTIFIED_SHARE >= valid).then(|| {
            format!(
                "{unidentified} of the first {valid} valid rows have neither email nor userId: \
                 such contacts cannot be looked up, de-duplicated or updated later, nor settled \
                 if a request is in doubt"
            )
        })
    }
}

/// A warning that contacts cannot be identified: `what` says why (a header with no
/// column for either, or one row with neither).
fn no_identifier(what: &str) -> Warning {
    Warning {
        kind: what.to_owned(),
        message: format!(
            "{what}: such contacts cannot be looked up, de-duplicated or updated later, nor \
             settled if a request is in doubt"
        ),
    }
}

#[cfg(test)]
mod tests;
