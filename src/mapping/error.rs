//! Problems with the mapping or a file's header: fatal for the run, so each names the
//! config key or the column to fix.

use std::fmt;

use crate::invisible::quoted;

const TYPES: &str = "string, integer, float, boolean or date";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    #[error("the [mapping] table maps nothing; remove it to use the column-name conventions")]
    NothingMapped,
    #[error("{key} needs one of column, template or value")]
    NoSource { key: String },
    #[error("{key} has more than one of column, template and value; keep exactly one")]
    SeveralSources { key: String },
    #[error("{key} is empty")]
    Empty { key: String },
    #[error("{key}: template {template:?} {problem}")]
    Template {
        key: String,
        template: String,
        problem: String,
    },
    #[error("{key}: unknown type {name:?} (expected {TYPES})")]
    UnknownType { key: String, name: String },
    #[error(
        "{key}: format applies only to dates (firstSeen, lastSeen, or customData with type = \"date\")"
    )]
    FormatNotDate { key: String },
    #[error("{key}: {problem}")]
    BadFormat { key: String, problem: String },
    #[error("{key}: value {problem}")]
    BadValue { key: String, problem: String },
    #[error("mapping.customData names property {property:?} more than once")]
    DuplicateProperty { property: String },
    #[error("mapping.tags needs a column or static tags")]
    NoTags,
    #[error("header column {position} has no name")]
    EmptyColumnName { position: usize },
    #[error("the header has two columns named {}", quoted(.name))]
    DuplicateColumn { name: String },
    #[error(
        "columns {} and {} are both {} once invisible characters are removed",
        quoted(.first),
        quoted(.second),
        quoted(.name)
    )]
    LookAlikeColumns {
        first: String,
        second: String,
        name: String,
    },
    #[error(
        "column {} looks like {name:?} but holds invisible characters ({hidden}), so it \
         would not be imported: rename it {name:?}",
        quoted(.column)
    )]
    HiddenName {
        column: String,
        name: String,
        hidden: String,
    },
    #[error("the header lacks {}", MissingList(.0))]
    MissingColumns(Vec<MissingColumn>),
    #[error("columns {first:?} and {second:?} both map to {target}")]
    ConflictingColumns {
        first: String,
        second: String,
        target: String,
    },
    #[error("column {column:?}: unknown type {name:?} (expected {TYPES})")]
    UnknownColumnType { column: String, name: String },
    #[error("column {column:?} names no customData property")]
    EmptyProperty { column: String },
    #[error(
        "column {column:?} names a customData property with U+FFFD REPLACEMENT CHARACTER in \
         it: text lost to a wrong decoding would be sent"
    )]
    LostProperty { column: String },
}

/// A column the mapping names that a header lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingColumn {
    pub column: String,
    /// The mapping key that names it.
    pub key: String,
    /// A header column equal to it but for case, the likely intended one.
    pub similar: Option<String>,
}

struct MissingList<'a>(&'a [MissingColumn]);

impl fmt::Display for MissingList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, missing) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "column {:?} (named by {}", missing.column, missing.key)?;
            if let Some(similar) = &missing.similar {
                write!(f, "; the header has {similar:?}")?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}
