//! Seeded contacts: customers the sandbox holds from its start, so a first sync into an
//! account that already has contacts can be rehearsed and benchmarked.

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;
use std::time::Duration;

use serde_json::{Map, Value};

use super::store::{Store, StoreError};
use super::validate::{self, Attributes};

/// Reads seed contacts from an NDJSON file: one customer object a line, as a create body
/// (with `customData` as the documented array or as a `{property: value}` map). Blank lines
/// are skipped; an error names the file and the line.
pub fn read_seed(path: &Path) -> io::Result<Vec<Map<String, Value>>> {
    let at = |line: usize, error: &dyn std::fmt::Display| {
        format!("{} line {line}: {error}", path.display())
    };
    let file = File::open(path)
        .map_err(|error| io::Error::new(error.kind(), format!("{}: {error}", path.display())))?;
    let mut seeds = Vec::new();
    for (index, line) in BufReader::new(file).lines().enumerate() {
        let number = index + 1;
        let line = line.map_err(|error| io::Error::new(error.kind(), at(number, &error)))?;
        let text = line.trim_start_matches('\u{feff}');
        if text.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(object)) => seeds.push(object),
            Ok(_) => return Err(invalid_data(at(number, &"not a JSON object"))),
            Err(error) => return Err(invalid_data(at(number, &error))),
        }
    }
    Ok(seeds)
}

fn invalid_data(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// A store holding `seeds`, in order, with ids given as to created customers, each checked as
/// a create body against `attributes`; then writes show up in search `search_delay` later (the
/// seeds at once). A seed that would be refused is `InvalidInput`, naming it by its place
/// (from 1: a seed file's non-blank lines).
pub(crate) fn seeded_store(
    seeds: &[Map<String, Value>],
    attributes: &Attributes,
    search_delay: Duration,
) -> io::Result<Store> {
    let mut store = Store::default();
    for (index, seed) in seeds.iter().enumerate() {
        let refused = |problem: String| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("seed contact {}: {problem}", index + 1),
            )
        };
        let fields = validate::customer_object(&custom_data_as_array(seed), "", attributes)
            .map_err(|errors| {
                let problems: Vec<String> = errors
                    .iter()
                    .map(|e| format!("{} {}", e.code, e.message))
                    .collect();
                refused(problems.join("; "))
            })?;
        store.create(fields).map_err(|error| match error {
            StoreError::DuplicateUserId => refused(format!(
                "userId {} is an earlier seed contact's",
                seed.get("userId").unwrap_or(&Value::Null)
            )),
            StoreError::NotFound(id) => refused(format!("customer {id} not found")),
        })?;
    }
    store.lag_search(search_delay);
    Ok(store)
}

/// `seed` with a `customData` map (`{"plan": "pro"}`) written as the documented array
/// (`[{"property": "plan", "value": "pro"}]`); anything else as it is.
fn custom_data_as_array(seed: &Map<String, Value>) -> Cow<'_, Map<String, Value>> {
    let Some(Value::Object(data)) = seed.get("customData") else {
        return Cow::Borrowed(seed);
    };
    let items = data
        .iter()
        .map(|(property, value)| serde_json::json!({"property": property, "value": value}))
        .collect();
    let mut seed = seed.clone();
    seed.insert("customData".into(), Value::Array(items));
    Cow::Owned(seed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::UnknownAttribute;
    use serde_json::json;

    fn objects(values: &[Value]) -> Vec<Map<String, Value>> {
        values
            .iter()
            .filter_map(|v| v.as_object().cloned())
            .collect()
    }

    fn seed(values: &[Value]) -> io::Result<Store> {
        seeded_store(&objects(values), &Attributes::default(), Duration::ZERO)
    }

    #[test]
    fn seeds_are_stored_in_order_with_created_ids_and_either_custom_data_form() {
        let store = seed(&[
            json!({"userId": "u1", "customData": {"plan": "pro", "seats": 3}}),
            json!({"email": "b@x.com", "customData": [{"property": "plan", "value": "free"}],
                "tags": [{"name": "vip"}], "unsubscribed": true}),
        ])
        .expect("valid seeds");
        let all = store.all();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0]["id"], json!(1_000_001));
        assert_eq!(all[0]["customData"], json!({"plan": "pro", "seats": 3}));
        assert_eq!(all[0]["createdFrom"], json!("api"));
        assert_eq!(all[1]["id"], json!(1_000_002));
        assert_eq!(all[1]["customData"], json!({"plan": "free"}));
        assert_eq!(all[1]["tags"], json!([{"name": "vip", "color": "#c377e0"}]));
        assert_eq!(all[1]["unsubscribed"], json!(true));
    }

    #[test]
    fn a_bad_seed_is_refused_by_its_place() {
        let message = |values: &[Value]| seed(values).err().map(|e| (e.kind(), e.to_string()));
        let (kind, text) =
            message(&[json!({"name": "a"}), json!({"email": "nope", "id": 7})]).expect("refused");
        assert_eq!(kind, io::ErrorKind::InvalidInput);
        assert!(text.starts_with("seed contact 2: "), "{text}");
        assert!(
            text.contains("email is not a valid email address"),
            "{text}"
        );
        assert!(text.contains("id unknown field"), "{text}");
        let (_, text) =
            message(&[json!({"userId": "u1"}), json!({"userId": "u1"})]).expect("refused");
        assert_eq!(
            text,
            "seed contact 2: userId \"u1\" is an earlier seed contact's"
        );
        let (_, text) = message(&[json!({"customData": {"a": [1]}})]).expect("refused");
        assert!(text.contains("customData[0].value"), "{text}");
    }

    #[test]
    fn seeds_meet_the_attribute_rule_like_a_create() {
        let seeds = objects(&[json!({"customData": {"plan": "pro", "ghost": 1}})]);
        let rule = |unknown| Attributes::new(Some(&["plan".to_string()]), unknown);
        let dropped = seeded_store(&seeds, &rule(UnknownAttribute::Drop), Duration::ZERO)
            .expect("dropped in silence");
        assert_eq!(dropped.all()[0]["customData"], json!({"plan": "pro"}));
        let refused = seeded_store(&seeds, &rule(UnknownAttribute::Reject), Duration::ZERO);
        assert!(refused.is_err());
    }

    #[test]
    fn read_seed_skips_blank_lines_and_names_a_bad_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("seed.ndjson");
        std::fs::write(
            &path,
            "\u{feff}{\"userId\": \"u1\"}\n\n  \r\n{\"userId\": \"u2\"}\r\n",
        )
        .expect("write");
        let seeds = read_seed(&path).expect("read");
        assert_eq!(
            seeds,
            objects(&[json!({"userId": "u1"}), json!({"userId": "u2"})])
        );
        for (text, line, what) in [
            ("{\"a\": 1}\n\n[1]\n", 3, "not a JSON object"),
            ("{\"a\": 1}\n{\"a\": \n", 2, "EOF while parsing"),
        ] {
            std::fs::write(&path, text).expect("write");
            let error = read_seed(&path).expect_err("refused");
            assert_eq!(error.kind(), io::ErrorKind::InvalidData);
            let message = error.to_string();
            assert!(
                message.contains(&format!("line {line}: {what}")),
                "{message}"
            );
        }
        let missing = read_seed(&dir.path().join("none.ndjson")).expect_err("missing");
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
        assert!(missing.to_string().contains("none.ndjson"), "{missing}");
    }
}
