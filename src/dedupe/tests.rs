use super::table::Sharded;
use super::*;

fn origin(file: &str, line: u64) -> Origin {
    Origin {
        file: file.into(),
        line,
    }
}

fn row(user_id: Option<&str>, email: Option<&str>) -> Result<CreateCustomer, Vec<RowError>> {
    Ok(CreateCustomer {
        user_id: user_id.map(Into::into),
        email: email.map(Into::into),
        ..CreateCustomer::default()
    })
}

fn messages(result: Result<CreateCustomer, Vec<RowError>>) -> Vec<String> {
    result
        .err()
        .unwrap_or_default()
        .into_iter()
        .map(|e| e.message)
        .collect()
}

#[test]
fn a_repeated_user_id_fails_naming_the_first_place_across_files() {
    let mut seen = Seen::default();
    assert!(
        seen.check(&origin("a.csv", 2), row(Some("u1"), None))
            .is_ok()
    );
    assert!(
        seen.check(&origin("a.csv", 3), row(Some("u2"), None))
            .is_ok()
    );
    assert!(seen.check(&origin("a.csv", 4), row(None, None)).is_ok());
    assert!(seen.check(&origin("a.csv", 5), row(None, None)).is_ok());
    assert_eq!(
        messages(seen.check(&origin("a.csv", 9), row(Some("u1"), None))),
        [r#"userId "u1" is a duplicate of a.csv:2"#]
    );
    assert_eq!(
        messages(seen.check(&origin("b.ndjson", 1), row(Some("u2"), None))),
        [r#"userId "u2" is a duplicate of a.csv:3"#]
    );
    // userIds are compared exactly: the API tells "U1" from "u1".
    assert!(
        seen.check(&origin("b.ndjson", 2), row(Some("U1"), None))
            .is_ok()
    );
    assert_eq!(
        seen.check(&origin("b.ndjson", 3), row(Some("U1"), None))
            .unwrap_err()[0]
            .field
            .as_deref(),
        Some("userId")
    );
}

#[test]
fn failed_rows_are_not_remembered() {
    let mut seen = Seen::default();
    let failed = Err(vec![RowError::new("email", "bad")]);
    assert_eq!(messages(seen.check(&origin("a.csv", 2), failed)), ["bad"]);
    assert!(
        seen.check(&origin("a.csv", 3), row(Some("u1"), None))
            .is_ok()
    );
}

#[test]
fn a_repeated_email_is_only_counted() {
    let mut seen = Seen::default();
    for (line, email) in [(2, "a@x.io"), (3, "A@X.io"), (4, "b@x.io"), (5, "a@x.io")] {
        let user_id = format!("u{line}");
        assert!(
            seen.check(&origin("a.csv", line), row(Some(&user_id), Some(email)))
                .is_ok()
        );
    }
    assert_eq!(seen.repeated_emails(), 2);
}

proptest::proptest! {
    #[test]
    fn the_open_table_is_a_set(hashes in proptest::collection::vec(1u64..400, 0..300)) {
        let mut table = Sharded::<u64>::default();
        let mut known = std::collections::HashSet::new();
        for hash in hashes {
            // Spread the small values over the shard and slot bits.
            let spread = hash.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            proptest::prop_assert_eq!(table.get_or_insert(spread).is_some(), !known.insert(spread));
        }
    }
}

#[test]
fn slots_stay_compact() {
    assert_eq!(std::mem::size_of::<Place>(), 14);
    let mut seen = Seen::default();
    for i in 0..200_000u64 {
        let user_id = format!("user-{i}");
        assert!(
            seen.check(&origin("big.csv", i + 2), row(Some(&user_id), None))
                .is_ok()
        );
    }
    let bytes = seen.user_ids.bytes();
    assert!(
        bytes < 200_000 * 14 * 2,
        "{bytes} bytes for 200,000 userIds"
    );
    assert_eq!(seen.emails.bytes(), 0, "no emails yet");
    assert_eq!(
        messages(seen.check(&origin("big.csv", 1), row(Some("user-199999"), None))),
        [r#"userId "user-199999" is a duplicate of big.csv:200001"#]
    );
}
