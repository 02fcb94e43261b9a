//! Payload checks mirroring what the API rejects (pure).

use email_address::{EmailAddress, Options};

use crate::color::is_css_color;
use crate::dates::parse_timestamp;
use crate::payload::{CreateCustomer, CustomValue};
use crate::record::RowError;

/// The end of the message for a tag color that is not a CSS color.
pub const NOT_A_COLOR: &str =
    "is not a CSS color (expected #rrggbb, #rgb, a color name, rgb() or hsl())";

/// Every problem in a payload the API would refuse, or the importer must not send:
/// empty strings (absent fields are left out instead), an invalid email, a `firstSeen` or
/// `lastSeen` that is not a UNIX timestamp string, a locale that is not a lowercase ISO 639-1 code,
/// unnamed tags or tag colors that are not CSS colors, and customData with an empty or repeated property or a non-finite number.
pub fn validate(payload: &CreateCustomer) -> Vec<RowError> {
    let mut errors = Vec::new();
    let texts = [
        ("name", &payload.name),
        ("email", &payload.email),
        ("userId", &payload.user_id),
        ("company", &payload.company),
        ("phone", &payload.phone),
        ("firstSeen", &payload.first_seen),
        ("lastSeen", &payload.last_seen),
        ("source", &payload.source),
        ("locale", &payload.locale),
        ("notes", &payload.notes),
        ("referer", &payload.referer),
        ("lastPage", &payload.last_page),
        ("createdFrom", &payload.created_from),
        ("integrationId", &payload.integration_id),
    ];
    for (field, value) in texts {
        if value.as_deref().is_some_and(is_blank) {
            errors.push(RowError::new(field, format!("{field} is empty")));
        }
    }
    if let Some(email) = non_empty(&payload.email)
        && !is_email(email)
    {
        errors.push(RowError::new(
            "email",
            format!("email {email:?} is not a valid email address"),
        ));
    }
    for (field, date) in [
        ("firstSeen", &payload.first_seen),
        ("lastSeen", &payload.last_seen),
    ] {
        if let Some(date) = non_empty(date)
            && let Err(problem) = timestamp_string(date)
        {
            errors.push(RowError::new(field, format!("{field} {problem}")));
        }
    }
    if let Some(locale) = non_empty(&payload.locale) {
        // What `normalize_locale` gives: two lowercase letters of a known code.
        if !crate::locale::is_639_1(locale) {
            errors.push(RowError::new(
                "locale",
                format!("locale {locale:?} is not an ISO 639-1 language code"),
            ));
        }
    }
    for tag in &payload.tags {
        if is_blank(&tag.name) {
            errors.push(RowError::new("tags", "a tag has an empty name"));
        }
        match tag.color.as_deref() {
            Some(color) if is_blank(color) => errors.push(RowError::new(
                "tags",
                format!("tag {:?} has an empty color", tag.name),
            )),
            Some(color) if !is_css_color(color) => errors.push(RowError::new(
                "tags",
                format!("tag {:?}: color {color:?} {NOT_A_COLOR}", tag.name),
            )),
            _ => {}
        }
    }
    // Allocation-free when all is well: a row has a few properties, compared pairwise.
    for (i, datum) in payload.custom_data.iter().enumerate() {
        let field = || format!("customData.{}", datum.property);
        if is_blank(&datum.property) {
            errors.push(RowError::new(
                "customData",
                "a customData entry has an empty property",
            ));
        } else if payload.custom_data[..i]
            .iter()
            // Byte by byte: names are short, and equal lengths would cost a call to memcmp.
            .any(|earlier| earlier.property.bytes().eq(datum.property.bytes()))
        {
            errors.push(RowError::new(
                field(),
                format!("customData property {:?} is given twice", datum.property),
            ));
        }
        match &datum.value {
            CustomValue::Text(text) if is_blank(text) => {
                errors.push(RowError::new(field(), format!("{} is empty", field())));
            }
            CustomValue::Float(number) if !number.is_finite() => {
                errors.push(RowError::new(
                    field(),
                    format!("{} {number} is not a finite number", field()),
                ));
            }
            _ => {}
        }
    }
    errors
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|text| !is_blank(text))
}

/// Empty or only whitespace: `trim().is_empty()` without walking in from both ends.
fn is_blank(text: &str) -> bool {
    text.chars().all(char::is_whitespace)
}

/// Plain `local@domain.tld` only: the API stores an address, not a display name
/// (`Ann <ann@x.com>`) or an IP literal.
fn is_email(text: &str) -> bool {
    is_plain_email(text) || email_address_accepts(text)
}

/// What decides: email_address, strict.
fn email_address_accepts(text: &str) -> bool {
    let options = Options::default()
        .with_required_tld()
        .without_display_text()
        .without_domain_literal();
    EmailAddress::parse_with_options(text, options).is_ok()
}

/// The ASCII characters an atom may hold (RFC 5322 `atext`), by byte: one load per
/// byte instead of a chain of comparisons.
static ATEXT: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'/'
                    | b'='
                    | b'?'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'{'
                    | b'|'
                    | b'}'
                    | b'~'
            );
        b += 1;
    }
    table
};

/// The shape nearly every address has, checked byte by byte: ASCII, one `@`, a local
/// part of at most 64 bytes made of dot-separated atoms, and a domain of at most 254
/// bytes in two or more labels of at most 63 letters, digits and inner hyphens.
/// email_address accepts every such address (a property test holds this to it) and
/// decides about the rest; asking it first cost a walk by `char` and a copy per row.
fn is_plain_email(text: &str) -> bool {
    // Bytes, and slices split by a closure: a `char` pattern's searcher costs more to
    // set up than these few bytes cost to scan.
    let bytes = text.as_bytes();
    let Some(at) = bytes.iter().position(|&b| b == b'@') else {
        return false;
    };
    let (local, domain) = (&bytes[..at], &bytes[at + 1..]);
    let atext = |b: &u8| ATEXT[usize::from(*b)];
    let atom = |atom: &[u8]| !atom.is_empty() && atom.iter().all(atext);
    let label = |label: &[u8]| match label {
        [first, .., last] if label.len() <= 63 => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && label
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        }
        [only] => only.is_ascii_alphanumeric(),
        _ => false,
    };
    let dot = |b: &u8| *b == b'.';
    let mut labels = 0;
    local.len() <= 64
        && local.split(dot).all(atom)
        && domain.len() <= 254
        && domain.split(dot).all(|part| {
            labels += 1;
            label(part)
        })
        && labels >= 2
}

fn timestamp_string(text: &str) -> Result<(), String> {
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{text:?} is not a UNIX timestamp"));
    }
    // Seconds already: a small number here was read so on purpose (`format = "unix"`).
    parse_timestamp(text, Some(crate::dates::UNIX)).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::{CustomDatum, Tag};
    use proptest::prelude::*;

    #[test]
    fn common_addresses_take_the_plain_path() {
        for email in [
            "ann@example.com",
            "bob.lee1@example.com",
            "ann.lee+crm@mail.example.co.uk",
            "o'brien@x-y.io",
            "a@b.c",
            "1@2.3",
        ] {
            assert!(is_plain_email(email), "{email}");
            assert!(email_address_accepts(email), "{email}");
        }
        for email in [
            "two@@example.com",
            "ann@example",
            ".ann@example.com",
            "ann.@example.com",
            "ann..lee@example.com",
            "ann@-example.com",
            "ann@example-.com",
            "ann@example..com",
            "ann@example.com.",
            "Ann <ann@example.com>",
            "ann@[127.0.0.1]",
            "\"ann lee\"@example.com",
            "jos\u{e9}@example.com",
            "ann@ex_ample.com",
        ] {
            assert!(!is_plain_email(email), "{email}");
        }
        let longest_local = format!("{}@example.com", "a".repeat(64));
        assert!(is_plain_email(&longest_local));
        assert!(!is_plain_email(&format!("a{longest_local}")));
        let longest_label = format!("ann@{}.com", "b".repeat(63));
        assert!(is_plain_email(&longest_label));
        assert!(!is_plain_email(&longest_label.replace("@b", "@bb")));
        let longest_domain = format!("ann@{0}.{0}.{0}.{1}", "b".repeat(63), "c".repeat(62));
        assert!(is_plain_email(&longest_domain) && email_address_accepts(&longest_domain));
        assert!(!is_plain_email(&format!("{longest_domain}c")));
    }

    proptest! {
        // Cheap cases, and a limit is one length among dozens: many of them.
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// The plain path only ever says yes where email_address does, so the two
        /// together decide exactly as email_address alone.
        #[test]
        fn the_plain_path_agrees_with_email_address(
            text in r#"[a-zA-Z0-9.@_+'\- <>"\\\[\]\u{e9}!~]{0,80}"#,
        ) {
            prop_assert_eq!(is_email(&text), email_address_accepts(&text), "{:?}", text);
        }

        /// Addresses that are nearly plain: around the length limits, with an odd
        /// character or a stray dot, `@` or hyphen somewhere.
        #[test]
        fn the_plain_path_agrees_with_email_address_near_its_edges(
            local in "[a-z0-9+_'.-]{1,70}",
            labels in prop::collection::vec("[a-zA-Z0-9-]{1,66}", 1..5),
            stray in prop::option::of(("[-.@ \u{e9}<\"]", any::<prop::sample::Index>())),
        ) {
            let mut text = format!("{local}@{}", labels.join("."));
            if let Some((stray, at)) = stray {
                let at = at.index(text.len() + 1);
                text.insert_str(at, &stray);
            }
            prop_assert_eq!(is_email(&text), email_address_accepts(&text), "{:?}", text);
        }
    }

    fn messages(payload: &CreateCustomer) -> Vec<String> {
        validate(payload).into_iter().map(|e| e.message).collect()
    }

    fn fields(payload: &CreateCustomer) -> Vec<Option<String>> {
        validate(payload).into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn a_complete_payload_passes() {
        let payload = CreateCustomer {
            name: Some("Ann Lee".into()),
            email: Some("ann.lee+crm@example.co.uk".into()),
            user_id: Some("u1".into()),
            first_seen: Some("1603885746".into()),
            locale: Some("uk".into()),
            tags: vec![Tag {
                name: "vip".into(),
                color: Some("#ff0000".into()),
            }],
            custom_data: vec![
                CustomDatum {
                    property: "paid".into(),
                    value: CustomValue::Float(15.99),
                },
                CustomDatum {
                    property: "since".into(),
                    value: CustomValue::Text("1603885746".into()),
                },
            ],
            ..CreateCustomer::default()
        };
        assert_eq!(messages(&payload), Vec::<String>::new());
        assert_eq!(messages(&CreateCustomer::default()), Vec::<String>::new());
    }

    #[test]
    fn emails() {
        for bad in [
            "two@@example.com",
            "plain",
            "ann@localhost",
            "Ann <ann@example.com>",
            "ann@[10.0.0.1]",
            "ann lee@example.com",
        ] {
            let payload = CreateCustomer {
                email: Some(bad.into()),
                ..CreateCustomer::default()
            };
            assert_eq!(
                messages(&payload),
                vec![format!("email {bad:?} is not a valid email address")]
            );
            assert_eq!(fields(&payload), vec![Some("email".to_owned())]);
        }
    }

    #[test]
    fn empty_strings_are_refused() {
        let payload = CreateCustomer {
            name: Some(String::new()),
            notes: Some("  ".into()),
            ..CreateCustomer::default()
        };
        assert_eq!(messages(&payload), vec!["name is empty", "notes is empty"]);
    }

    #[test]
    fn first_seen_must_be_a_timestamp_string() {
        let payload = CreateCustomer {
            first_seen: Some("2021-03-04".into()),
            ..CreateCustomer::default()
        };
        assert_eq!(
            messages(&payload),
            vec![r#"firstSeen "2021-03-04" is not a UNIX timestamp"#]
        );
        let payload = CreateCustomer {
            first_seen: Some("9999999999".into()),
            ..CreateCustomer::default()
        };
        assert_eq!(
            messages(&payload),
            vec![r#"firstSeen "9999999999" is after the year 2100"#]
        );
    }

    #[test]
    fn last_seen_must_be_a_timestamp_string_like_first_seen() {
        for (last_seen, message) in [
            (
                "2021-03-04",
                r#"lastSeen "2021-03-04" is not a UNIX timestamp"#,
            ),
            (
                "9999999999",
                r#"lastSeen "9999999999" is after the year 2100"#,
            ),
            ("", "lastSeen is empty"),
        ] {
            let payload = CreateCustomer {
                last_seen: Some(last_seen.into()),
                ..CreateCustomer::default()
            };
            assert_eq!(messages(&payload), vec![message]);
            assert_eq!(fields(&payload), vec![Some("lastSeen".to_owned())]);
        }
        let payload = CreateCustomer {
            last_seen: Some("1603885800".into()),
            unsubscribed: Some(true),
            blocked: Some(false),
            ..CreateCustomer::default()
        };
        assert_eq!(messages(&payload), Vec::<String>::new());
    }

    #[test]
    fn the_other_text_fields_are_never_sent_empty() {
        let payload = CreateCustomer {
            referer: Some(String::new()),
            last_page: Some(" ".into()),
            created_from: Some("\t".into()),
            integration_id: Some(String::new()),
            ..CreateCustomer::default()
        };
        assert_eq!(
            messages(&payload),
            vec![
                "referer is empty",
                "lastPage is empty",
                "createdFrom is empty",
                "integrationId is empty"
            ]
        );
    }

    #[test]
    fn locale_must_be_normalised() {
        for bad in ["en-US", "EN", "xx", "eng"] {
            let payload = CreateCustomer {
                locale: Some(bad.into()),
                ..CreateCustomer::default()
            };
            assert_eq!(
                messages(&payload),
                vec![format!("locale {bad:?} is not an ISO 639-1 language code")]
            );
        }
    }

    #[test]
    fn tags_and_custom_data() {
        let payload = CreateCustomer {
            tags: vec![
                Tag::named(" "),
                Tag {
                    name: "vip".into(),
                    color: Some(String::new()),
                },
                Tag {
                    name: "new".into(),
                    color: Some("blurple".into()),
                },
                Tag {
                    name: "ok".into(),
                    color: Some("hsl(120deg 50% 50% / 0.5)".into()),
                },
            ],
            custom_data: vec![
                CustomDatum {
                    property: "a".into(),
                    value: CustomValue::Integer(1),
                },
                CustomDatum {
                    property: "a".into(),
                    value: CustomValue::Bool(true),
                },
                CustomDatum {
                    property: "".into(),
                    value: CustomValue::Integer(1),
                },
                CustomDatum {
                    property: "b".into(),
                    value: CustomValue::Text(String::new()),
                },
                CustomDatum {
                    property: "c".into(),
                    value: CustomValue::Float(f64::NAN),
                },
            ],
            ..CreateCustomer::default()
        };
        assert_eq!(
            messages(&payload),
            vec![
                "a tag has an empty name",
                r#"tag "vip" has an empty color"#,
                r#"tag "new": color "blurple" is not a CSS color (expected #rrggbb, #rgb, a color name, rgb() or hsl())"#,
                r#"customData property "a" is given twice"#,
                "a customData entry has an empty property",
                "customData.b is empty",
                "customData.c NaN is not a finite number",
            ]
        );
        assert_eq!(
            fields(&payload)[3..].to_vec(),
            ["customData.a", "customData", "customData.b", "customData.c"]
                .map(|f| Some(f.to_owned()))
                .to_vec()
        );
    }
}
