//! Record → create-contact payload (pure).
//!
//! A [`Mapper`] is built once from the `[mapping]` config (or from nothing: the
//! column-name conventions), plans each CSV header once, then maps every record to a
//! validated [`CreateCustomer`] or to all the problems in its row.

mod apply;
mod config;
mod conventions;
mod error;
mod field;
mod json;
mod rules;

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::payload::CreateCustomer;
use crate::record::{Cells, CsvValues, Header, Record, RowError};
use crate::validate::validate;

use apply::{CsvRow, JsonRow, apply_into};
pub use config::{CustomDataSpec, FieldSpec, FieldTable, MappingConfig, TagsSpec};
pub use error::{MappingError, MissingColumn};
use rules::Rules;

/// Column name → position, looked up for every mapped cell of every row: hashed with
/// FNV-1a, several times faster than SipHash on short names (a header is the file's own,
/// and a few thousand names at most, so flooding is no concern).
type ColumnIndex = HashMap<String, usize, BuildHasherDefault<Fnv>>;

#[derive(Default)]
struct Fnv(u64);

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
    unmapped: Vec<String>,
}

impl HeaderPlan {
    /// A copy for one batch of rows: see [`Mapper::detached`].
    pub fn detached(&self) -> HeaderPlan {
        HeaderPlan {
            header: self.header.clone(),
            rules: self.rules.detached(),
            unmapped: Vec::new(),
        }
    }

    /// Whether this plan is the one made for `header` (the same file's header).
    pub fn is_for(&self, header: &Header) -> bool {
        Arc::ptr_eq(&self.header, header)
    }

    /// Columns this plan ignores, for a one-time warning; `_`-prefixed columns are not listed.
    pub fn unmapped_columns(&self) -> &[String] {
        &self.unmapped
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

    /// Once per CSV file: resolve column names to indices. Refuses duplicate or empty
    /// header names and columns the mapping names that the header lacks (naming them).
    pub fn plan(&self, header: &Header) -> Result<HeaderPlan, MappingError> {
        let mut index = ColumnIndex::default();
        for (position, name) in header.iter().enumerate() {
            if name.trim().is_empty() {
                return Err(MappingError::EmptyColumnName {
                    position: position + 1,
                });
            }
            if index.insert(name.clone(), position).is_some() {
                return Err(MappingError::DuplicateColumn { name: name.clone() });
            }
        }
        let (rules, unmapped) = match &self.rules {
            None => conventions::conventions(header)?,
            Some(rules) => {
                let columns = rules.columns();
                let missing: Vec<MissingColumn> = columns
                    .iter()
                    .filter(|(column, _)| !index.contains_key(*column))
                    .map(|(column, key)| MissingColumn {
                        column: (*column).to_owned(),
                        key: key.clone(),
                        similar: header
                            .iter()
                            .find(|name| name.eq_ignore_ascii_case(column))
                            .cloned(),
                    })
                    .collect();
                if !missing.is_empty() {
                    return Err(MappingError::MissingColumns(missing));
                }
                let unmapped = header
                    .iter()
                    .filter(|name| {
                        !name.starts_with('_') && !columns.iter().any(|(column, _)| column == name)
                    })
                    .cloned()
                    .collect();
                (rules.clone(), unmapped)
            }
        };
        let mut rules = rules;
        rules.resolve(&|name| index.get(name).copied());
        Ok(HeaderPlan {
            header: header.clone(),
            rules,
            unmapped,
        })
    }

    /// One record → a validated payload, or every problem found in the row.
    /// `plan` is the one for the record's header (`Cells::Csv`); without it, or for another
    /// header, the header is planned here. Ignored for JSON and unreadable cells.
    pub fn map(
        &self,
        plan: Option<&HeaderPlan>,
        record: &Record,
    ) -> Result<CreateCustomer, Vec<RowError>> {
        let mut payload = CreateCustomer::default();
        self.map_into(plan, record, &mut payload).map(|()| payload)
    }

    /// [`Mapper::map`] into `payload`, reusing its buffers (a dry run maps every row
    /// into one). On success `payload` is the row's, exactly; on failure, anything.
    pub fn map_into(
        &self,
        plan: Option<&HeaderPlan>,
        record: &Record,
        payload: &mut CreateCustomer,
    ) -> Result<(), Vec<RowError>> {
        let mut errors = self
            .convert_into(plan, record, payload)
            .map_err(|error| vec![error])?;
        errors.extend(validate(payload));
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// [`Mapper::map`] before [`validate`]: the payload made of the values that converted,
    /// with the problems of those that did not (left out of the payload), or a row-level
    /// failure (unreadable, ragged, empty).
    pub fn convert(
        &self,
        plan: Option<&HeaderPlan>,
        record: &Record,
    ) -> Result<(CreateCustomer, Vec<RowError>), RowError> {
        let mut payload = CreateCustomer::default();
        let errors = self.convert_into(plan, record, &mut payload)?;
        Ok((payload, errors))
    }

    /// [`Mapper::convert`] into `payload`.
    fn convert_into(
        &self,
        plan: Option<&HeaderPlan>,
        record: &Record,
        payload: &mut CreateCustomer,
    ) -> Result<Vec<RowError>, RowError> {
        match &record.cells {
            Cells::Unreadable { error, .. } => Err(RowError::row(error.clone())),
            Cells::Csv { header, values } => self.map_csv(plan, header, values, payload),
            Cells::Json(object) => self.map_json(object, payload),
        }
    }

    /// A row-level failure, or the problems of the row's fields.
    fn map_csv(
        &self,
        plan: Option<&HeaderPlan>,
        header: &Header,
        values: &CsvValues,
        payload: &mut CreateCustomer,
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
            Some(plan) if Arc::ptr_eq(&plan.header, header) || plan.header == *header => plan,
            _ => {
                planned = self
                    .plan(header)
                    .map_err(|error| RowError::row(error.to_string()))?;
                &planned
            }
        };
        let row = CsvRow { values };
        Ok(apply_into(&plan.rules, &row, payload))
    }

    fn map_json(
        &self,
        object: &Map<String, Value>,
        payload: &mut CreateCustomer,
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
            Some(rules) => apply_into(rules, &JsonRow(object), payload),
            None => {
                let errors;
                (*payload, errors) = json::passthrough(object);
                errors
            }
        })
    }
}

#[cfg(test)]
mod tests;
