//! Locales as exports write them → the ISO 639-1 code the API wants.

use std::collections::HashMap;
use std::sync::LazyLock;

use isolang::Language;

/// Reduces a locale to its ISO 639-1 language code: `en-US`, `en_US.UTF-8`, `EN` and ` en `
/// all give `en`. A known three-letter code (ISO 639-3, which includes 639-2/T: `eng`) or
/// an English language name (`English`, any case) is accepted too.
///
/// The error is a clause that starts with the quoted text
/// (`"xx" is not an ISO 639-1 language code`); callers put the field in front of it.
pub fn normalize_locale(text: &str) -> Result<String, String> {
    let mut code = String::new();
    normalize_locale_into(text, &mut code).map(|()| code)
}

/// [`normalize_locale`] appending the code to `code`, so that its buffer is reused.
pub fn normalize_locale_into(text: &str, code: &mut String) -> Result<(), String> {
    let text = text.trim();
    let primary = text.split(['-', '_', '.', '@']).next().unwrap_or_default();
    // Lowercased on the stack: a code is two or three ASCII letters.
    let mut lower = [0u8; 3];
    let lowered = match primary.as_bytes() {
        bytes @ ([_, _] | [_, _, _]) if bytes.is_ascii() => {
            let lower = &mut lower[..bytes.len()];
            lower.copy_from_slice(bytes);
            lower.make_ascii_lowercase();
            std::str::from_utf8(lower).ok()
        }
        _ => None,
    };
    let language = match lowered {
        // The common case, answered without isolang's hashed lookup.
        Some(lowered) if lowered.len() == 2 && is_639_1(lowered) => {
            code.push_str(lowered);
            return Ok(());
        }
        Some(lowered) if lowered.len() == 2 => None,
        Some(lowered) => Language::from_639_3(lowered),
        None => None,
    }
    .or_else(|| by_english_name(text));
    match language {
        Some(language) => language
            .to_639_1()
            .map(|found| code.push_str(found))
            .ok_or_else(|| format!("{text:?} ({}) has no ISO 639-1 code", language.to_name())),
        None => Err(format!("{text:?} is not an ISO 639-1 language code")),
    }
}

/// Whether `code` is a lowercase ISO 639-1 code isolang knows. Asked of every row's
/// locale, twice (normalising, then validating): a bit in a 26×26 table built once from
/// isolang is a few instructions, where isolang's own lookup hashes the code.
pub fn is_639_1(code: &str) -> bool {
    static KNOWN: LazyLock<[u32; 26]> = LazyLock::new(|| {
        let mut known = [0u32; 26];
        for (first, row) in (b'a'..=b'z').zip(&mut known) {
            for second in b'a'..=b'z' {
                let code = [first, second];
                let code = std::str::from_utf8(&code).unwrap_or_default();
                if Language::from_639_1(code).is_some() {
                    *row |= 1 << (second - b'a');
                }
            }
        }
        known
    });
    match code.as_bytes() {
        [first @ b'a'..=b'z', second @ b'a'..=b'z'] => {
            KNOWN[usize::from(first - b'a')] & (1 << (second - b'a')) != 0
        }
        _ => false,
    }
}

/// The language with this English name (ASCII case ignored). A macrolanguage and its
/// main member can share a name ("Swahili"): the one with a 639-1 code is preferred.
fn by_english_name(text: &str) -> Option<Language> {
    // isolang can only search its ~8,000 names one by one: index them once.
    static BY_NAME: LazyLock<HashMap<String, Language>> = LazyLock::new(|| {
        let mut by_name: HashMap<String, Language> = HashMap::new();
        for language in Language::match_names(|_| true) {
            let name = language.to_name().to_ascii_lowercase();
            match by_name.get(&name) {
                Some(first) if first.to_639_1().is_some() || language.to_639_1().is_none() => {}
                _ => {
                    by_name.insert(name, language);
                }
            }
        }
        by_name
    });
    BY_NAME.get(&text.to_ascii_lowercase()).copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every 639-1 code isolang knows: all two-letter strings it accepts.
    fn all_639_1() -> Vec<String> {
        let letters = b'a'..=b'z';
        letters
            .clone()
            .flat_map(|a| {
                letters
                    .clone()
                    .map(move |b| String::from_utf8(vec![a, b]).unwrap())
            })
            .filter(|code| Language::from_639_1(code).is_some())
            .collect()
    }

    #[test]
    fn the_code_table_agrees_with_isolang() {
        // Every string of up to three bytes from a set that has the edges of the ranges.
        let bytes = b"`az{AZ@0 \xc3";
        let mut strings = vec![String::new()];
        for a in bytes {
            strings.push(String::from_utf8_lossy(&[*a]).into_owned());
            for b in bytes {
                strings.push(String::from_utf8_lossy(&[*a, *b]).into_owned());
                for c in bytes {
                    strings.push(String::from_utf8_lossy(&[*a, *b, *c]).into_owned());
                }
            }
        }
        strings.extend(all_639_1());
        for code in strings {
            let isolang = code.len() == 2
                && code.bytes().all(|b| b.is_ascii_lowercase())
                && Language::from_639_1(&code).is_some();
            assert_eq!(is_639_1(&code), isolang, "{code:?}");
        }
        assert!(is_639_1("en") && is_639_1("uk") && is_639_1("zu"));
        assert!(!is_639_1("xx") && !is_639_1("EN") && !is_639_1("eng"));
    }

    #[test]
    fn common_spellings() {
        for text in [
            "en",
            "EN",
            " en ",
            "en-US",
            "en_US",
            "en_US.UTF-8",
            "eng",
            "English",
            "ENGLISH",
        ] {
            assert_eq!(normalize_locale(text), Ok("en".to_owned()), "{text}");
        }
        assert_eq!(normalize_locale("uk"), Ok("uk".to_owned()));
        assert_eq!(normalize_locale("pt-BR"), Ok("pt".to_owned()));
        assert_eq!(normalize_locale("zh-Hant-TW"), Ok("zh".to_owned()));
        assert_eq!(normalize_locale("Swahili"), Ok("sw".to_owned()));
        assert_eq!(normalize_locale("deu"), Ok("de".to_owned()));
    }

    #[test]
    fn the_name_index_agrees_with_a_search_of_every_name() {
        // Every 7th name: all of them take long in a debug build.
        for language in Language::match_names(|_| true).step_by(7) {
            let name = language.to_name().to_ascii_uppercase();
            let needle = name.clone();
            let mut matches =
                Language::match_names(move |candidate| candidate.eq_ignore_ascii_case(&needle));
            let first = matches.next().expect("its own name matches");
            let searched = if first.to_639_1().is_some() {
                first
            } else {
                matches.find(|l| l.to_639_1().is_some()).unwrap_or(first)
            };
            assert_eq!(by_english_name(&name), Some(searched), "{name}");
        }
    }

    #[test]
    fn refusals() {
        assert_eq!(
            normalize_locale("xx"),
            Err(r#""xx" is not an ISO 639-1 language code"#.to_owned())
        );
        assert_eq!(
            normalize_locale("Klingonese"),
            Err(r#""Klingonese" is not an ISO 639-1 language code"#.to_owned())
        );
        assert_eq!(
            normalize_locale("tlh"),
            Err(r#""tlh" (Klingon) has no ISO 639-1 code"#.to_owned())
        );
        assert!(normalize_locale("").is_err());
        assert!(normalize_locale("-en").is_err());
    }

    #[test]
    fn accepts_every_639_1_code_in_every_form() {
        let codes = all_639_1();
        assert!(codes.len() > 180, "isolang lists {} codes", codes.len());
        for code in codes {
            let upper = code.to_ascii_uppercase();
            for text in [
                code.clone(),
                upper.clone(),
                format!("{code}-US"),
                format!("{code}_us"),
                format!("{upper}-GB"),
            ] {
                assert_eq!(normalize_locale(&text), Ok(code.clone()), "{text}");
            }
        }
    }

    proptest! {
        #[test]
        fn accepts_any_region(
            index in any::<prop::sample::Index>(),
            region in "[A-Za-z]{2}",
            separator in prop::sample::select(vec!["-", "_"]),
        ) {
            let codes = all_639_1();
            let code = index.get(&codes);
            for text in [
                code.clone(),
                code.to_ascii_uppercase(),
                format!(" {code} "),
                format!("{code}{separator}{region}"),
                format!("{}{separator}{region}", code.to_ascii_uppercase()),
            ] {
                prop_assert_eq!(normalize_locale(&text), Ok(code.clone()), "{}", text);
            }
        }

        #[test]
        fn never_panics(text in "\\PC{0,20}") {
            let _ = normalize_locale(&text);
        }
    }
}
