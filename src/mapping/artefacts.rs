//! What exports leave in a value besides the value, caught before it is converted:
//! invisible characters, text a wrong decoding already lost (U+FFFD), and long numbers
//! Excel shortened to scientific notation.
//!
//! What happens depends on what the value is for:
//! - `userId` is sent exactly, since it is the contact's key: an invisible character or
//!   scientific notation fails the row, naming what was found.
//! - `email`, `phone`, `locale`, dates, booleans, `referer`, `lastPage`, `createdFrom`,
//!   `integrationId` and typed customData lose every format character, with a warning:
//!   none belongs in an address, a number, a code or a URL.
//! - Tag names lose them too, except joiners between visible characters (an emoji tag).
//! - Free text (`name`, `company`, `notes`, `source`, text customData) loses only what
//!   carries nothing in any script; joiners between letters or emoji and bidi marks are
//!   text, and stay.
//! - U+FFFD fails the row wherever it is: what it replaced is gone, and the API would
//!   store `Zo� Ng`.
//! - A phone in scientific notation is sent as it is, with a warning.
//!
//! Only a value with a byte that may start a format character (or U+FFFD) is looked at
//! character by character: not ASCII, nor the accented letters of most names.

use std::borrow::Cow;

use crate::invisible::{
    REPLACEMENT, describe, describe_all, is_format, is_joiner, is_junk, is_stray_joiner, may_hide,
    strip,
};
use crate::record::Warnings;

use super::field::Field;

/// What a value is for, which decides what it may keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Field(Field),
    /// One tags cell, before it is split.
    Tags,
    /// A customData value; `text` when its type is `string`.
    Custom {
        text: bool,
    },
}

impl Target {
    /// A value whose digits Excel may have shortened: a userId or a phone.
    pub(crate) fn counts_digits(self) -> bool {
        matches!(self, Target::Field(Field::UserId | Field::Phone))
    }

    /// How warnings name the values of this target, for their kind.
    fn key(self) -> &'static str {
        match self {
            Target::Field(field) => field.key(),
            Target::Tags => "tags",
            Target::Custom { .. } => "customData",
        }
    }
}

/// `text` as it may be converted and sent, trimmed again if characters were removed
/// (empty when nothing else was there), or why the row cannot be sent. `subject` puts
/// the field or column in front of a message (`email `, `column "Work Email": `).
///
/// Every mapped cell of every row comes here, and nearly all are clean: that answer is
/// given inline, from two passes over the bytes, and the rest is out of line.
#[inline]
pub(crate) fn inspect<'a>(
    target: Target,
    subject: impl Fn() -> String,
    text: Cow<'a, str>,
    warnings: &mut Warnings,
) -> Result<Cow<'a, str>, String> {
    let suspect = may_hide(&text) || (target.counts_digits() && may_be_scientific(&text));
    if !suspect {
        return Ok(text);
    }
    inspect_closely(target, &subject, text, warnings)
}

/// A number Excel may have written in scientific notation: an `E` or `e`, and a `+`.
fn may_be_scientific(text: &str) -> bool {
    // By hand: these values are a dozen bytes, too few for memchr to pay its way.
    let bytes = text.as_bytes();
    bytes.len() >= 4 && bytes.iter().any(|&b| b | 0x20 == b'e') && bytes.contains(&b'+')
}

/// [`inspect`] for a value that may hold something.
#[cold]
fn inspect_closely<'a>(
    target: Target,
    subject: &dyn Fn() -> String,
    text: Cow<'a, str>,
    warnings: &mut Warnings,
) -> Result<Cow<'a, str>, String> {
    if let Target::Field(field @ (Field::UserId | Field::Phone)) = target
        && is_scientific(&text)
    {
        let problem = format!(
            "{}{text:?} is a number in scientific notation: its last digits were lost \
                 (Excel shortens long numbers; format the column as text before saving)",
            subject()
        );
        if field == Field::UserId {
            return Err(problem);
        }
        warnings.push(
            format!("{} in scientific notation", target.key()),
            format!("{problem}; sent as it is"),
        );
    }
    if !may_hide(&text) {
        return Ok(text);
    }
    if text.contains(REPLACEMENT) {
        return Err(format!(
            "{}{text:?} contains {}: its text was lost when the file was read in the wrong \
             encoding (export it again, or try --encoding windows-1252 on the original)",
            subject(),
            describe(REPLACEMENT)
        ));
    }
    let stripped = match target {
        Target::Field(Field::UserId) => {
            if let Some(c) = text.chars().find(|&c| is_format(c)) {
                return Err(format!(
                    "{}{text:?} contains {}, an invisible character: an identifier is sent \
                     exactly as it is, so remove it from the file",
                    subject(),
                    describe(c)
                ));
            }
            None
        }
        Target::Field(Field::Name | Field::Company | Field::Notes | Field::Source)
        | Target::Custom { text: true } => strip(&text, |before, c, after| {
            is_junk(c) || is_stray_joiner(before, c, after)
        }),
        Target::Tags => strip(&text, |before, c, after| {
            is_format(c) && (!is_joiner(c) || is_stray_joiner(before, c, after))
        }),
        Target::Field(_) | Target::Custom { text: false } => strip(&text, |_, c, _| is_format(c)),
    };
    let Some((kept, removed)) = stripped else {
        return Ok(text);
    };
    warnings.push(
        format!(
            "{}: invisible {} removed",
            target.key(),
            removed.first().map(|&c| describe(c)).unwrap_or_default()
        ),
        format!(
            "{}{text:?}: removed the invisible {}",
            subject(),
            describe_all(&removed)
        ),
    );
    Ok(Cow::Owned(kept.trim().to_owned()))
}

/// `4.47712E+11`: how Excel writes a number of more than 11 digits in a cell formatted
/// as General, keeping 6 significant digits. The `+` is what tells it from an id such as
/// `12e4` (hex digits), which Excel never writes.
fn is_scientific(text: &str) -> bool {
    let bytes = text.as_bytes();
    let Some(e) = bytes.iter().position(|b| matches!(b, b'E' | b'e')) else {
        return false;
    };
    let (mantissa, exponent) = (&bytes[..e], &bytes[e + 1..]);
    let mantissa = mantissa.strip_prefix(b"-").unwrap_or(mantissa);
    let (whole, fraction) = match mantissa.iter().position(|&b| b == b'.') {
        Some(dot) => (&mantissa[..dot], Some(&mantissa[dot + 1..])),
        None => (mantissa, None),
    };
    let digits = |part: &[u8]| !part.is_empty() && part.iter().all(u8::is_ascii_digit);
    digits(whole)
        && fraction.is_none_or(digits)
        && exponent.first() == Some(&b'+')
        && digits(&exponent[1..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(target: Target, text: &str) -> (Result<String, String>, Vec<(String, String)>) {
        let mut warnings = Warnings::default();
        let result = inspect(
            target,
            || format!("{} ", target.key()),
            text.into(),
            &mut warnings,
        )
        .map(Cow::into_owned);
        let warnings = warnings
            .iter()
            .map(|w| (w.kind.clone(), w.message.clone()))
            .collect();
        (result, warnings)
    }

    #[test]
    fn ascii_values_pass_untouched() {
        for target in [
            Target::Field(Field::Email),
            Target::Field(Field::UserId),
            Target::Tags,
            Target::Custom { text: true },
        ] {
            assert_eq!(
                run(target, "ann@example.com"),
                (Ok("ann@example.com".into()), vec![])
            );
        }
    }

    #[test]
    fn identifiers_lose_invisible_characters_with_a_warning() {
        let (value, warnings) = run(Target::Field(Field::Email), "\u{200B}z@example.com");
        assert_eq!(value, Ok("z@example.com".into()));
        assert_eq!(
            warnings,
            [(
                "email: invisible U+200B ZERO WIDTH SPACE removed".to_string(),
                r#"email "\u{200b}z@example.com": removed the invisible U+200B ZERO WIDTH SPACE"#
                    .to_string()
            )]
        );
        let (value, _) = run(Target::Field(Field::Email), "z@exa\u{200B}mple.com\u{FEFF}");
        assert_eq!(value, Ok("z@example.com".into()));
        let (value, _) = run(Target::Field(Field::Locale), "\u{200E}en-US");
        assert_eq!(value, Ok("en-US".into()));
        let (value, warnings) = run(
            Target::Field(Field::Phone),
            "\u{202A}+1 202 555 0143\u{202C}",
        );
        assert_eq!(value, Ok("+1 202 555 0143".into()));
        assert_eq!(warnings.len(), 1);
        // Nothing but an invisible character: nothing is left to send.
        assert_eq!(
            run(Target::Field(Field::Email), "\u{FEFF}").0,
            Ok(String::new())
        );
    }

    #[test]
    fn a_user_id_with_an_invisible_character_fails_naming_it() {
        assert_eq!(
            run(Target::Field(Field::UserId), "u\u{200B}1").0,
            Err(r#"userId "u\u{200b}1" contains U+200B ZERO WIDTH SPACE, an invisible character: an identifier is sent exactly as it is, so remove it from the file"#.into())
        );
        assert!(run(Target::Field(Field::UserId), "\u{FEFF}u1").0.is_err());
        assert_eq!(
            run(Target::Field(Field::UserId), "usuário-1").0,
            Ok("usuário-1".into())
        );
    }

    #[test]
    fn free_text_keeps_joiners_and_bidi_marks() {
        for text in [
            "👩\u{200D}💻 Ann",
            "می\u{200C}خواهم",
            "\u{200F}שלום\u{200F} Lee",
            "Zoë",
        ] {
            for target in [Target::Field(Field::Name), Target::Custom { text: true }] {
                assert_eq!(
                    run(target, text),
                    (Ok(text.to_string()), vec![]),
                    "{text:?}"
                );
            }
        }
        let (value, warnings) = run(Target::Field(Field::Notes), "Zoë\u{200B} Ng\u{AD}");
        assert_eq!(value, Ok("Zoë Ng".into()));
        assert_eq!(
            warnings[0].0,
            "notes: invisible U+200B ZERO WIDTH SPACE removed"
        );
        assert!(
            warnings[0]
                .1
                .ends_with("U+200B ZERO WIDTH SPACE and U+00AD SOFT HYPHEN")
        );
        let (value, _) = run(Target::Field(Field::Company), "Acme\u{200D}");
        assert_eq!(value, Ok("Acme".into()));
    }

    #[test]
    fn tag_names_keep_emoji_joiners_only() {
        assert_eq!(
            run(Target::Tags, "🏳\u{FE0F}\u{200D}🌈;vip").0,
            Ok("🏳\u{FE0F}\u{200D}🌈;vip".into())
        );
        assert_eq!(
            run(Target::Tags, "vip\u{200B};new\u{200E}").0,
            Ok("vip;new".into())
        );
    }

    #[test]
    fn replacement_characters_fail_the_row_anywhere() {
        for target in [
            Target::Field(Field::Name),
            Target::Field(Field::Email),
            Target::Tags,
            Target::Custom { text: true },
        ] {
            let (value, _) = run(target, "Zo\u{FFFD} Ng");
            let error = value.unwrap_err();
            assert!(
                error.contains("contains U+FFFD REPLACEMENT CHARACTER"),
                "{error}"
            );
        }
    }

    #[test]
    fn scientific_notation() {
        for text in ["4.47712E+11", "4E+11", "1.23457e+14", "-1.5E+10"] {
            assert!(is_scientific(text), "{text}");
        }
        for text in [
            "12e4",
            "1E5",
            "4.47712E-11",
            "E+11",
            "4.E+11",
            "4.4E+",
            "+44 7712 345678",
            "e+1",
        ] {
            assert!(!is_scientific(text), "{text}");
        }
        let (value, warnings) = run(Target::Field(Field::Phone), "4.47712E+11");
        assert_eq!(value, Ok("4.47712E+11".into()));
        assert_eq!(warnings[0].0, "phone in scientific notation");
        let (value, _) = run(Target::Field(Field::UserId), "1.23457E+14");
        assert!(
            value
                .unwrap_err()
                .starts_with(r#"userId "1.23457E+14" is a number in scientific notation"#)
        );
        assert_eq!(run(Target::Field(Field::Name), "4.47712E+11").1, vec![]);
    }
}
