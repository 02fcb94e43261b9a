//! The config text `init` prints for its guess, every line with a comment saying why.

use std::collections::HashSet;

use crate::source::{Delimiter, TextOptions};

use super::guess::{Column, Kind, Role};

/// A TOML string literal.
fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

/// A column reference: a plain string, or `{ column = ... }` when the name has braces
/// (which would make the string a template).
fn column_ref(name: &str) -> String {
    if name.contains(['{', '}']) {
        format!("{{ column = {} }}", toml_string(name))
    } else {
        toml_string(name)
    }
}

/// `Phone 2` → `phone2`, `Subscription Date` → `subscriptionDate`.
pub fn property_name(column: &str) -> String {
    let mut property = String::new();
    for (i, word) in column
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .enumerate()
    {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            if i == 0 {
                property.extend(first.to_lowercase());
            } else {
                property.extend(first.to_uppercase());
            }
            property.push_str(chars.as_str());
        }
    }
    if property.is_empty() {
        column.trim().to_string()
    } else {
        property
    }
}

/// The config text for `columns` of `file`. `sniffed`: why the encoding was guessed,
/// when the user did not give it.
pub fn render(
    file: &str,
    sampled: usize,
    text: &TextOptions,
    sniffed: Option<&str>,
    columns: &[Column],
) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "# Mapping for {file}, guessed by `helpcrunch-import init` from its header and\n\
         # first {sampled} rows. Check every line, then try it with\n\
         #   helpcrunch-import validate {file} --config THIS_FILE\n\
         # Keys are documented in config.example.toml.\n"
    ));
    if let Some(delimiter) = text.delimiter.filter(|d| *d != Delimiter(b',')) {
        out.push_str(&format!(
            "delimiter = {}   # the file's field separator\n",
            toml_string(&delimiter.to_string())
        ));
    }
    if let Some(sheet) = &text.sheet {
        out.push_str(&format!(
            "sheet = {}   # the workbook's sheet to read\n",
            toml_string(&sheet.to_string())
        ));
    }
    if let Some(encoding) = text.encoding {
        let name = match encoding {
            crate::source::TextEncoding::Windows1252 => "windows-1252",
            crate::source::TextEncoding::Latin1 => "latin1",
        };
        out.push_str(&format!("encoding = \"{name}\"\n"));
        if let Some(why) = sniffed {
            out.push_str(&format!(
                "# The file is not UTF-8 ({why}): it seems to be Windows-1252, what Excel\n\
                 # writes for \"CSV\" in western locales. Check the examples below read right.\n"
            ));
        }
    }
    out.push_str("\n[mapping]\n");
    let identifies = columns.iter().any(|column| {
        matches!(
            column.role,
            Role::Field {
                key: "email" | "userId",
                ..
            }
        )
    });
    if !identifies {
        out.push_str(
            "# CHECK: no column was recognised as email or userId. Contacts without either\n\
             # cannot be looked up, de-duplicated, updated later or settled when a request\n\
             # is in doubt: map one if the file has it.\n",
        );
    }
    let comment = |column: &Column| {
        let examples = if column.examples.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = column.examples.iter().map(|e| format!("{e:?}")).collect();
            format!(", e.g. {}", quoted.join(", "))
        };
        format!("# {:?}: {}{examples}\n", column.name, column.reason)
    };
    let first = columns.iter().find(|c| c.role == Role::FirstName);
    let last = columns.iter().find(|c| c.role == Role::LastName);
    if let (Some(first), Some(last)) = (first, last) {
        out.push_str(&comment(first));
        out.push_str(&comment(last));
        if first.name.contains(['{', '}']) || last.name.contains(['{', '}']) {
            out.push_str("# (a name template cannot name columns with braces: map it by hand)\n");
        } else {
            let template = format!("{{{}}} {{{}}}", first.name, last.name);
            out.push_str(&format!("name = {}\n", toml_string(&template)));
        }
    }
    for column in columns {
        if let Role::Field { key, format } = &column.role {
            out.push_str(&comment(column));
            match format {
                None => out.push_str(&format!("{key} = {}\n", column_ref(&column.name))),
                Some(format) => out.push_str(&format!(
                    "{key} = {{ column = {}, format = {} }}\n",
                    toml_string(&column.name),
                    toml_string(format)
                )),
            }
        }
    }
    let mut unmapped = Vec::new();
    if let Some(column) = columns.iter().find(|c| matches!(c.role, Role::Tags { .. }))
        && let Role::Tags { separator } = &column.role
    {
        out.push_str(&format!(
            "\n[mapping.tags]\n{}column = {}\nseparator = {}\n",
            comment(column),
            toml_string(&column.name),
            toml_string(separator)
        ));
    }
    let mut properties = HashSet::new();
    for column in columns {
        let Role::Custom { kind, format } = &column.role else {
            continue;
        };
        if column.name.starts_with('_') {
            unmapped.push(column.name.clone());
            continue;
        }
        let base = property_name(&column.name);
        let mut property = base.clone();
        let mut n = 2;
        while !properties.insert(property.clone()) {
            property = format!("{base}{n}");
            n += 1;
        }
        out.push_str(&format!(
            "\n[[mapping.customData]]\n{}property = {}\ncolumn = {}\n",
            comment(column),
            toml_string(&property),
            toml_string(&column.name)
        ));
        if *kind != Kind::String {
            out.push_str(&format!("type = \"{}\"\n", kind.name()));
        }
        if let Some(format) = format {
            out.push_str(&format!("format = {}\n", toml_string(format)));
        }
    }
    if !unmapped.is_empty() {
        out.push_str(&format!(
            "\n# Not imported (columns starting with \"_\"): {}\n",
            unmapped.join(", ")
        ));
    }
    for column in columns.iter().filter(|c| c.role == Role::Skip) {
        out.push_str(&format!(
            "\n# Not imported: {:?} {}\n",
            column.name, column.reason
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::guess::guess;
    use crate::source::TextEncoding;

    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| v.to_string()).collect()
    }

    #[test]
    fn the_config_says_what_the_guess_rests_on() {
        let columns = guess(&strings(&["Name", "Phone"]), &[vec![], vec![]]);
        let text = TextOptions {
            delimiter: None,
            encoding: Some(TextEncoding::Windows1252),
            sheet: None,
        };
        let config = render(
            "x.csv",
            2,
            &text,
            Some("line 3 has the byte 0xEB"),
            &columns,
        );
        assert!(
            config.contains(
                "encoding = \"windows-1252\"\n# The file is not UTF-8 (line 3 has the byte 0xEB)"
            ),
            "{config}"
        );
        assert!(
            config.contains("# CHECK: no column was recognised as email or userId."),
            "{config}"
        );
        let parsed = crate::config::parse_file_config(&config).expect("the config parses");
        assert!(parsed.mapping.is_some());
    }

    #[test]
    fn property_names_are_camel_case() {
        assert_eq!(property_name("Phone 2"), "phone2");
        assert_eq!(property_name("Subscription Date"), "subscriptionDate");
        assert_eq!(property_name("city"), "city");
        assert_eq!(property_name("Ville (FR)"), "villeFR");
        assert_eq!(property_name("¿?"), "¿?");
    }

    #[test]
    fn a_whole_guess_renders_a_config_that_parses() {
        let header = strings(&[
            "Customer Id",
            "First Name",
            "Last Name",
            "E-mail",
            "Signed Up",
            "Segments",
            "Visits",
            "Zip {code}",
            "_line",
        ]);
        let samples = vec![
            strings(&["c1"]),
            strings(&["Ann"]),
            strings(&["Lee"]),
            strings(&["ann@example.com"]),
            strings(&["31/12/2020"]),
            strings(&["vip, new"]),
            strings(&["3"]),
            strings(&["01234"]),
            strings(&["2"]),
        ];
        let columns = guess(&header, &samples);
        let text = TextOptions {
            delimiter: Some(Delimiter(b';')),
            encoding: None,
            sheet: None,
        };
        let config = render("crm.csv", 1, &text, None, &columns);
        assert!(
            config.contains("name = \"{First Name} {Last Name}\"\n"),
            "{config}"
        );
        assert!(config.contains("userId = \"Customer Id\"\n"), "{config}");
        assert!(config.contains("email = \"E-mail\"\n"), "{config}");
        assert!(
            config.contains("firstSeen = { column = \"Signed Up\", format = \"%d/%m/%Y\" }"),
            "{config}"
        );
        assert!(config.contains("separator = \",\""), "{config}");
        assert!(config.contains("delimiter = \";\""), "{config}");
        let parsed = crate::config::parse_file_config(&config).expect("the config parses");
        let mapping = parsed.mapping.expect("a [mapping]");
        assert_eq!(mapping.custom_data.len(), 2);
        assert_eq!(mapping.custom_data[0].kind.as_deref(), Some("integer"));
        assert_eq!(mapping.custom_data[1].property, "zipCode");
        crate::mapping::Mapper::new(Some(&mapping)).expect("the mapping is valid");
    }

    #[test]
    fn skipped_columns_are_only_a_comment() {
        let columns = vec![Column {
            name: "meta".into(),
            role: Role::Skip,
            reason: "holds objects".into(),
            examples: vec![],
        }];
        let config = render("x.ndjson", 1, &TextOptions::default(), None, &columns);
        assert!(
            config.ends_with("\n# Not imported: \"meta\" holds objects\n"),
            "{config}"
        );
    }
}
