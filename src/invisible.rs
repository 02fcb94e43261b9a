//! Invisible characters: Unicode format characters (general category Cf) and the few
//! other code points that show as nothing.
//!
//! Exports carry them without anyone seeing them: a byte-order mark at the start of a
//! pasted cell, a zero-width space copied from a web page, a bidi mark from a
//! right-to-left interface. In a header name they make `email` another column; in an
//! address, an address no mail reaches. Some are text, though: a zero-width joiner makes
//! one emoji of several (👩‍💻) and shapes Indic and Persian words, and bidi marks order
//! mixed right-to-left text. So a header name loses every one of them, an identifier
//! every one too, and free text only those that carry nothing in any script ([`is_junk`]).
//!
//! Every function here is meant for text that has a non-ASCII byte: ASCII has no
//! invisible character, and callers skip it with `str::is_ascii`.

use std::borrow::Cow;

use unicode_general_category::{GeneralCategory, get_general_category};

/// U+FFFD, what a decoder writes for bytes it could not read: the text it stands for is
/// gone.
pub const REPLACEMENT: char = '\u{FFFD}';

/// Whether `text` may hold a format character or U+FFFD: whether it has a byte that
/// starts one's UTF-8 form (U+00AD, U+0600–U+08FF, U+1800–U+2FFF, U+F000–U+FFFF, and
/// beyond U+FFFF). One pass over the bytes, and no for the accented Latin, Cyrillic,
/// Greek or CJK text of most names, which then need no look at their characters.
pub fn may_hide(text: &str) -> bool {
    // ASCII first, word by word; then 32 bytes at a time, each chunk folded without
    // stopping early, in comparisons the compiler turns into vector instructions.
    let suspect = |b: u8| b == 0xC2 || b.wrapping_sub(0xD8) <= 0xE2 - 0xD8 || b >= 0xEF;
    !text.is_ascii()
        && text
            .as_bytes()
            .chunks(32)
            .any(|chunk| chunk.iter().fold(false, |found, &b| found | suspect(b)))
}

/// A format character (Cf): invisible, and meaning something only to text layout.
pub fn is_format(c: char) -> bool {
    // Below U+0600 (Latin, Greek, Cyrillic, the common accented letters) the one format
    // character is the soft hyphen: spare those the table lookup.
    if c < '\u{0600}' {
        c == '\u{AD}'
    } else {
        get_general_category(c) == GeneralCategory::Format
    }
}

/// A format character that carries nothing in any script, so free text loses it too:
/// zero-width spaces, word joiners, byte-order marks, soft hyphens, invisible operators.
/// (Joiners are [`is_stray_joiner`] only where they join nothing.)
pub fn is_junk(c: char) -> bool {
    matches!(
        c,
        '\u{AD}'
            | '\u{180E}'
            | '\u{200B}'
            | '\u{2060}'..='\u{2064}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{E0001}'
    )
}

/// A zero-width joiner or non-joiner.
pub fn is_joiner(c: char) -> bool {
    matches!(c, '\u{200C}' | '\u{200D}')
}

/// A zero-width joiner or non-joiner that has no visible non-ASCII character on both
/// sides, so it joins nothing: in `vip\u{200D}` it is a stray, in 👩‍💻 or in a Persian
/// word it is text.
pub fn is_stray_joiner(before: Option<char>, c: char, after: Option<char>) -> bool {
    let visible =
        |c: Option<char>| c.is_some_and(|c| !c.is_ascii() && !c.is_whitespace() && !is_format(c));
    is_joiner(c) && !(visible(before) && visible(after))
}

/// Code points that are not format characters but show as nothing (Unicode's
/// Default_Ignorable_Code_Point outside Cf, and the blank Braille pattern): a header
/// name made of one of these and `email` looks like `email`.
fn is_blank_lookalike(c: char) -> bool {
    matches!(
        c,
        '\u{034F}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{2800}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FFA0}'
            | '\u{E0100}'..='\u{E01EF}'
    )
}

/// `U+200B ZERO WIDTH SPACE`: how messages name a code point that cannot be seen.
pub fn describe(c: char) -> String {
    let name = match c {
        '\u{A0}' => "NO-BREAK SPACE",
        '\u{AD}' => "SOFT HYPHEN",
        '\u{034F}' => "COMBINING GRAPHEME JOINER",
        '\u{061C}' => "ARABIC LETTER MARK",
        '\u{115F}' => "HANGUL CHOSEONG FILLER",
        '\u{1160}' => "HANGUL JUNGSEONG FILLER",
        '\u{180E}' => "MONGOLIAN VOWEL SEPARATOR",
        '\u{200B}' => "ZERO WIDTH SPACE",
        '\u{200C}' => "ZERO WIDTH NON-JOINER",
        '\u{200D}' => "ZERO WIDTH JOINER",
        '\u{200E}' => "LEFT-TO-RIGHT MARK",
        '\u{200F}' => "RIGHT-TO-LEFT MARK",
        '\u{202A}' => "LEFT-TO-RIGHT EMBEDDING",
        '\u{202B}' => "RIGHT-TO-LEFT EMBEDDING",
        '\u{202C}' => "POP DIRECTIONAL FORMATTING",
        '\u{202D}' => "LEFT-TO-RIGHT OVERRIDE",
        '\u{202E}' => "RIGHT-TO-LEFT OVERRIDE",
        '\u{2060}' => "WORD JOINER",
        '\u{2061}' => "FUNCTION APPLICATION",
        '\u{2062}' => "INVISIBLE TIMES",
        '\u{2063}' => "INVISIBLE SEPARATOR",
        '\u{2064}' => "INVISIBLE PLUS",
        '\u{2066}' => "LEFT-TO-RIGHT ISOLATE",
        '\u{2067}' => "RIGHT-TO-LEFT ISOLATE",
        '\u{2068}' => "FIRST STRONG ISOLATE",
        '\u{2069}' => "POP DIRECTIONAL ISOLATE",
        '\u{2800}' => "BRAILLE PATTERN BLANK",
        '\u{3164}' => "HANGUL FILLER",
        '\u{FEFF}' => "ZERO WIDTH NO-BREAK SPACE (a byte-order mark)",
        '\u{FFA0}' => "HALFWIDTH HANGUL FILLER",
        REPLACEMENT => "REPLACEMENT CHARACTER",
        c if is_format(c) => "(a format character)",
        c if is_blank_lookalike(c) => "(an invisible character)",
        _ => "",
    };
    let code = format!("U+{:04X}", u32::from(c));
    if name.is_empty() {
        code
    } else {
        format!("{code} {name}")
    }
}

/// `text` without the characters `drop` picks (given the characters kept before and
/// the one after), and those it dropped, each once, in order; None when it drops none.
pub fn strip(
    text: &str,
    drop: impl Fn(Option<char>, char, Option<char>) -> bool,
) -> Option<(String, Vec<char>)> {
    let mut kept: Option<String> = None;
    let mut dropped: Vec<char> = Vec::new();
    let mut before = None;
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        let after = chars.peek().map(|&(_, c)| c);
        if drop(before, c, after) {
            kept.get_or_insert_with(|| {
                let mut kept = String::with_capacity(text.len());
                kept.push_str(text.get(..at).unwrap_or_default());
                kept
            });
            if !dropped.contains(&c) {
                dropped.push(c);
            }
        } else {
            if let Some(kept) = &mut kept {
                kept.push(c);
            }
            before = Some(c);
        }
    }
    kept.map(|kept| (kept, dropped))
}

/// A header name as columns are matched by: format characters removed, runs of
/// whitespace (no-break spaces too) made one space, trimmed.
pub fn clean_name(name: &str) -> Cow<'_, str> {
    let clean = name.is_ascii() && !name.contains("  ") && name.trim() == name;
    if clean && !name.contains(['\t', '\n', '\r']) {
        return Cow::Borrowed(name);
    }
    let without: String = name.chars().filter(|&c| !is_format(c)).collect();
    Cow::Owned(without.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// A header name with everything that shows as nothing removed as well (Hangul fillers,
/// the combining grapheme joiner, variation selectors), in lowercase: two names equal
/// this way look the same in a spreadsheet.
pub fn lookalike_name(name: &str) -> String {
    clean_name(name)
        .chars()
        .filter(|&c| !is_blank_lookalike(c))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The invisible characters of a header name that [`clean_name`] removes or
/// [`lookalike_name`] looks through, each once: for a message.
pub fn hidden_in_name(name: &str) -> Vec<char> {
    let mut hidden = Vec::new();
    for c in name.chars() {
        let invisible = is_format(c) || is_blank_lookalike(c) || (c.is_whitespace() && c != ' ');
        if invisible && !hidden.contains(&c) {
            hidden.push(c);
        }
    }
    hidden
}

/// `text` in quotes as `{:?}` writes it, but with every character that shows as
/// nothing escaped too (`"e\u{3164}mail"`, `"Phone\u{a0}1"`): how messages quote header
/// names, so that two names that look alike do not read alike.
pub fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\'' => out.push('\''),
            c if c.is_control() => out.extend(c.escape_debug()),
            c if is_format(c) || is_blank_lookalike(c) || (c.is_whitespace() && c != ' ') => {
                out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
            }
            c => out.extend(c.escape_debug()),
        }
    }
    out.push('"');
    out
}

/// `U+200B ZERO WIDTH SPACE and U+FEFF ...`: the code points of a message, the first
/// three named.
pub fn describe_all(chars: &[char]) -> String {
    let mut named: Vec<String> = chars.iter().take(3).map(|&c| describe(c)).collect();
    if chars.len() > 3 {
        named.push(format!("{} more", chars.len() - 3));
    }
    match named.len() {
        0 => String::new(),
        1 => named.remove(0),
        n => {
            let last = named.remove(n - 1);
            format!("{} and {last}", named.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn format_characters_are_cf() {
        for c in [
            '\u{AD}',
            '\u{061C}',
            '\u{180E}',
            '\u{200B}',
            '\u{200D}',
            '\u{200E}',
            '\u{202E}',
            '\u{2060}',
            '\u{2066}',
            '\u{FEFF}',
            '\u{E0001}',
            '\u{E0067}',
        ] {
            assert!(is_format(c), "{}", describe(c));
        }
        for c in [
            'a', 'é', 'Ж', 'ß', '\u{A0}', '\u{3164}', '😀', '\u{FFFD}', ' ',
        ] {
            assert!(!is_format(c), "{}", describe(c));
        }
    }

    proptest! {
        /// The byte test never misses a character the checks look for.
        #[test]
        fn may_hide_misses_nothing(c in any::<char>()) {
            if is_format(c) || c == REPLACEMENT {
                prop_assert!(may_hide(&c.to_string()), "{}", describe(c));
            }
        }
    }

    #[test]
    fn code_points_are_named() {
        assert_eq!(describe('\u{200B}'), "U+200B ZERO WIDTH SPACE");
        assert_eq!(
            describe('\u{FEFF}'),
            "U+FEFF ZERO WIDTH NO-BREAK SPACE (a byte-order mark)"
        );
        assert_eq!(describe('\u{E0001}'), "U+E0001 (a format character)");
        assert_eq!(describe('x'), "U+0078");
        assert_eq!(describe_all(&['\u{200B}']), "U+200B ZERO WIDTH SPACE");
        assert_eq!(
            describe_all(&['\u{200B}', '\u{AD}']),
            "U+200B ZERO WIDTH SPACE and U+00AD SOFT HYPHEN"
        );
        assert_eq!(
            describe_all(&['\u{200B}', '\u{AD}', '\u{2060}', '\u{FEFF}', '\u{200E}']),
            "U+200B ZERO WIDTH SPACE, U+00AD SOFT HYPHEN, U+2060 WORD JOINER and 2 more"
        );
    }

    #[test]
    fn quoting_shows_what_cannot_be_seen() {
        assert_eq!(quoted("email"), r#""email""#);
        assert_eq!(quoted("\u{200B}email"), r#""\u{200b}email""#);
        assert_eq!(quoted("e\u{3164}mail"), r#""e\u{3164}mail""#);
        assert_eq!(quoted("Web\u{2800}site"), r#""Web\u{2800}site""#);
        assert_eq!(quoted("Phone\u{A0}1"), r#""Phone\u{a0}1""#);
        assert_eq!(quoted("a\tb \"c\" d's é"), r#""a\tb \"c\" d's é""#);
        for text in ["plain", "Zoë", "say \"hi\"", "tab\there"] {
            assert_eq!(quoted(text), format!("{text:?}"));
        }
    }

    #[test]
    fn header_names_lose_format_characters_and_extra_whitespace() {
        for (name, clean) in [
            ("email", "email"),
            ("\u{200B}email", "email"),
            ("e\u{200B}mail\u{FEFF}", "email"),
            ("First\u{A0}\u{A0}Name", "First Name"),
            (" Last\tName ", "Last Name"),
            ("\u{200E}Phone\u{200F}", "Phone"),
            ("\u{3164}", "\u{3164}"),
            ("Café", "Café"),
        ] {
            assert_eq!(clean_name(name), clean, "{name:?}");
        }
        assert!(matches!(clean_name("Customer Id"), Cow::Borrowed(_)));
        assert_eq!(lookalike_name("E\u{3164}mail"), "email");
        assert_eq!(lookalike_name("User\u{034F}Id"), "userid");
        assert_eq!(
            hidden_in_name("e\u{3164}ma\u{200B}il\u{200B}"),
            ['\u{3164}', '\u{200B}']
        );
    }

    #[test]
    fn stripping_keeps_what_it_does_not_drop() {
        let junk = |_: Option<char>, c: char, _: Option<char>| is_junk(c);
        assert_eq!(strip("plain", junk), None);
        assert_eq!(strip("Zoë", junk), None);
        assert_eq!(
            strip("\u{200B}z@exämple.com\u{FEFF}", junk),
            Some(("z@exämple.com".to_string(), vec!['\u{200B}', '\u{FEFF}']))
        );
        assert_eq!(
            strip("a\u{200B}b\u{200B}c", junk),
            Some(("abc".to_string(), vec!['\u{200B}']))
        );
        // Joiners: text between visible non-ASCII characters, strays elsewhere.
        let stray = |before, c, after| is_junk(c) || is_stray_joiner(before, c, after);
        assert_eq!(strip("👩\u{200D}💻", stray), None);
        assert_eq!(strip("می\u{200C}خواهم", stray), None);
        assert_eq!(
            strip("vip\u{200D}", stray),
            Some(("vip".to_string(), vec!['\u{200D}']))
        );
        assert_eq!(
            strip("a\u{200D}é", stray),
            Some(("aé".to_string(), vec!['\u{200D}']))
        );
    }

    proptest! {
        #[test]
        fn stripping_drops_exactly_the_chosen_characters(
            text in "[a-zé😀 \u{200B}\u{200D}\u{FEFF}\u{AD}]{0,24}",
        ) {
            let junk = |_: Option<char>, c: char, _: Option<char>| is_junk(c);
            let expected: String = text.chars().filter(|&c| !is_junk(c)).collect();
            match strip(&text, junk) {
                None => prop_assert_eq!(&expected, &text),
                Some((kept, dropped)) => {
                    prop_assert_eq!(kept, expected);
                    prop_assert!(dropped.iter().all(|&c| is_junk(c)));
                }
            }
        }

        #[test]
        fn clean_names_are_stable(name in "\\PC{0,16}") {
            let once = clean_name(&name).into_owned();
            prop_assert_eq!(clean_name(&once), once.as_str());
            prop_assert!(!once.chars().any(is_format));
        }
    }
}
