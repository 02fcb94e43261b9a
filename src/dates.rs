//! Dates as exports write them → the UNIX timestamp (seconds) the API wants.

use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, NaiveDate, NaiveDateTime};

/// 2100-12-31T23:59:59Z. Anything later is a typo, or milliseconds taken for seconds.
const LATEST: i64 = 4_133_980_799;

const ISO_HINT: &str = "UNIX seconds or ISO 8601 such as 2021-03-04 or 2021-03-04T05:06:07Z";

/// `format = "excel"`: a serial day of Excel's 1900 date system, its fraction the time of
/// day (44197 is 2021-01-01, 44197.5 noon that day).
pub const EXCEL: &str = "excel";
/// `format = "unix"`: UNIX seconds, whatever their size (1970-01-01T12:16:37Z is 44197).
pub const UNIX: &str = "unix";
/// `format = "unix_ms"`: UNIX milliseconds, rounded down to the second.
pub const UNIX_MS: &str = "unix_ms";

/// 1970-01-01 as an Excel serial day. Excel counts 1900-02-29, a day that never was, so
/// from serial 61 (1900-03-01) on its days are those since 1899-12-30.
const EXCEL_1970: i64 = 25_569;
/// The serial Excel gives its phantom 1900-02-29.
const EXCEL_PHANTOM: i64 = 60;
/// Bare numbers below this are less than a day of UNIX seconds, which no contact's date
/// is, and Excel serial days up to 2100-12-31: such a number is never taken as seconds
/// without `format = "unix"`.
const SERIAL_DAYS_END: i64 = 73_416;

const SECONDS_PER_DAY: i64 = 86_400;

/// Reads a date into UNIX seconds.
///
/// Without `format`: UNIX seconds (digits only), or ISO 8601 (`2021-03-04` is midnight UTC;
/// `T` or a space before the time; optional fractional seconds; `Z`, `+02:00`, `+0200`, or
/// no zone meaning UTC). A bare number from 1 to 73415, which as seconds would fall on
/// 1970-01-01 and as an Excel serial day is a date up to 2100, is refused naming the date
/// it is as a serial, and so is a number with a fraction. With `format`: [`EXCEL`],
/// [`UNIX`], [`UNIX_MS`], or a chrono strftime format: when it has no time part the date
/// is midnight, when it has no zone the time is UTC.
///
/// Refuses impossible dates, dates before 1970 and years after 2100. The error is a clause
/// that starts with the quoted text (`"2021-13-45" is not a date (...)`); callers put the
/// field or column in front of it.
pub fn parse_timestamp(text: &str, format: Option<&str>) -> Result<i64, String> {
    let text = text.trim();
    let seconds = match format {
        Some(EXCEL) => excel_serial(text).ok_or_else(|| {
            format!("{text:?} is not a date (expected an Excel serial day such as 44197)")
        })??,
        Some(UNIX) => unix_seconds(text)
            .ok_or_else(|| format!("{text:?} is not a date (expected UNIX seconds)"))?,
        Some(UNIX_MS) => unix_seconds(text)
            .map(|ms| ms / 1000)
            .ok_or_else(|| format!("{text:?} is not a date (expected UNIX milliseconds)"))?,
        Some(format) => with_format(text, format)
            .ok_or_else(|| format!("{text:?} is not a date (expected format {format})"))?,
        None => match unix_seconds(text) {
            Some(seconds) if (1..SERIAL_DAYS_END).contains(&seconds) => {
                return Err(serial_not_seconds(text));
            }
            Some(seconds) => seconds,
            None => match iso_8601(text) {
                Some(seconds) => seconds,
                None if excel_serial(text).is_some() => return Err(serial_not_seconds(text)),
                None => return Err(format!("{text:?} is not a date (expected {ISO_HINT})")),
            },
        },
    };
    in_range(seconds, text)
}

/// `seconds` when it is a date from 1970 to 2100, else why not (`text` is the date as the
/// file shows it): what every date the importer sends must be.
pub fn in_range(seconds: i64, text: &str) -> Result<i64, String> {
    if seconds < 0 {
        Err(format!(
            "{text:?} is before 1970, which a UNIX timestamp cannot hold"
        ))
    } else if seconds > LATEST {
        Err(format!("{text:?} is after the year 2100"))
    } else {
        Ok(seconds)
    }
}

/// Checks a format once, at config time, so a typo is a config error and not a failure
/// of every row.
pub fn check_format(format: &str) -> Result<(), String> {
    if [EXCEL, UNIX, UNIX_MS].contains(&format) {
        Ok(())
    } else if StrftimeItems::new(format).any(|item| matches!(item, Item::Error)) {
        Err(format!(
            "{format:?} is not a valid chrono strftime format (nor \"excel\", \"unix\" or \
             \"unix_ms\")"
        ))
    } else {
        Ok(())
    }
}

/// The refusal of a bare number that reads better as an Excel serial day than as UNIX
/// seconds, naming the date it would be.
fn serial_not_seconds(text: &str) -> String {
    let as_serial = match excel_serial(text) {
        Some(Ok(seconds)) => DateTime::from_timestamp(seconds, 0).map(|at| {
            if seconds % SECONDS_PER_DAY == 0 {
                at.format("%Y-%m-%d").to_string()
            } else {
                at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
            }
        }),
        // Serial 60, Excel's phantom day.
        Some(Err(_)) => Some("1900-02-29".to_owned()),
        None => None,
    };
    format!(
        "{text:?} is not a date: too small for UNIX seconds; as an Excel serial day it is {:?} \
         (to read it so, map the column with format = \"excel\"; format = \"unix\" takes it as \
         seconds)",
        as_serial.unwrap_or_default()
    )
}

/// An Excel serial day (1900 date system): days and a fraction of a day, the decimal
/// separator a point or a comma. None when `text` is no such number; an error for
/// Excel's phantom 1900-02-29 (serial 60). Dates before 1970 come out negative, for the
/// caller to refuse.
fn excel_serial(text: &str) -> Option<Result<i64, String>> {
    let (whole, fraction) = match text.find(['.', ',']) {
        Some(at) => (&text[..at], Some(&text[at + 1..])),
        None => (text, None),
    };
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !fraction.is_none_or(digits) || whole.len() > 7 {
        return None;
    }
    let days: i64 = whole.parse().ok()?;
    let fraction: f64 = match fraction {
        Some(fraction) => format!("0.{fraction}").parse().ok()?,
        None => 0.0,
    };
    if days == EXCEL_PHANTOM {
        return Some(Err(format!(
            "{text:?} is Excel's 1900-02-29, a day that never was (Excel counts it by mistake)"
        )));
    }
    // Up to serial 59, Excel's days are those since 1899-12-31; after its phantom day,
    // those since 1899-12-30, which is 25569 days before 1970-01-01.
    let days = if days < EXCEL_PHANTOM { days + 1 } else { days };
    let seconds = (fraction * SECONDS_PER_DAY as f64).round() as i64;
    Some(Ok((days - EXCEL_1970) * SECONDS_PER_DAY + seconds))
}

fn unix_seconds(text: &str) -> Option<i64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Too many digits for an i64 is still a number, just far past 2100.
    Some(text.parse().unwrap_or(i64::MAX))
}

fn iso_8601(text: &str) -> Option<i64> {
    iso_8601_fast(text.as_bytes()).or_else(|| iso_8601_chrono(text))
}

/// The common shapes without chrono's format interpreter, which costs a microsecond a
/// date: `YYYY-MM-DD`, then optionally `T` (or `t`, or a space) `HH:MM[:SS[.fraction]]`
/// and `Z`, `±HH:MM` or `±HHMM`. None for anything else, or out of range, which
/// [`iso_8601_chrono`] then decides (so the two never disagree on what they both read).
fn iso_8601_fast(text: &[u8]) -> Option<i64> {
    fn number(bytes: &[u8]) -> Option<u32> {
        bytes.iter().try_fold(0u32, |n, &b| {
            b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
        })
    }
    let field = |from: usize, len: usize| number(text.get(from..from + len)?);
    if text.get(4) != Some(&b'-') || text.get(7) != Some(&b'-') {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(
        i32::try_from(field(0, 4)?).ok()?,
        field(5, 2)?,
        field(8, 2)?,
    )?;
    if text.len() == 10 {
        return Some(midnight(date));
    }
    if !matches!(text.get(10), Some(b'T' | b't' | b' ')) || text.get(13) != Some(&b':') {
        return None;
    }
    let (hour, minute) = (field(11, 2)?, field(14, 2)?);
    let mut at = 16;
    let mut second = 0;
    if text.get(at) == Some(&b':') {
        second = field(17, 2)?;
        at = 19;
        if text.get(at) == Some(&b'.') {
            let digits = text[at + 1..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
            if digits == 0 || digits > 9 {
                return None;
            }
            at += 1 + digits;
        }
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let offset = match text.get(at..)? {
        [] | [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] | [sign @ (b'+' | b'-'), h1, h2, m1, m2] => {
            let (hours, minutes) = (number(&[*h1, *h2])?, number(&[*m1, *m2])?);
            if hours > 23 || minutes > 59 {
                return None;
            }
            let seconds = i64::from(hours * 3600 + minutes * 60);
            if *sign == b'-' { -seconds } else { seconds }
        }
        _ => return None,
    };
    let local = midnight(date) + i64::from(hour * 3600 + minute * 60 + second);
    Some(local - offset)
}

fn iso_8601_chrono(text: &str) -> Option<i64> {
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Some(midnight(date));
    }
    let mut text = text.to_owned();
    // chrono's `%z` takes neither `Z` nor a lowercase `t`/`z`; spell them its way.
    if matches!(text.get(10..11), Some(" " | "t")) {
        text.replace_range(10..11, "T");
    }
    if text.ends_with(['Z', 'z']) {
        text.pop();
        text.push_str("+00:00");
    }
    ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M%z"]
        .iter()
        .find_map(|format| DateTime::parse_from_str(&text, format).ok())
        .map(|datetime| datetime.timestamp())
        .or_else(|| {
            ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"]
                .iter()
                .find_map(|format| NaiveDateTime::parse_from_str(&text, format).ok())
                .map(|datetime| datetime.and_utc().timestamp())
        })
}

fn with_format(text: &str, format: &str) -> Option<i64> {
    // Most specific first: the naive parsers succeed while ignoring a zone or a time
    // the format has, which would shift the result.
    if let Ok(datetime) = DateTime::parse_from_str(text, format) {
        return Some(datetime.timestamp());
    }
    if let Ok(datetime) = NaiveDateTime::parse_from_str(text, format) {
        return Some(datetime.and_utc().timestamp());
    }
    NaiveDate::parse_from_str(text, format).ok().map(midnight)
}

fn midnight(date: NaiveDate) -> i64 {
    date.and_time(chrono::NaiveTime::MIN).and_utc().timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{FixedOffset, NaiveTime, TimeZone, Utc};
    use proptest::prelude::*;

    #[test]
    fn unix_seconds_pass_through() {
        assert_eq!(parse_timestamp("1603885746", None), Ok(1_603_885_746));
        assert_eq!(parse_timestamp(" 0 ", None), Ok(0));
    }

    #[test]
    fn iso_forms() {
        let utc = Utc
            .with_ymd_and_hms(2021, 3, 4, 5, 6, 7)
            .unwrap()
            .timestamp();
        for text in [
            "2021-03-04T05:06:07Z",
            "2021-03-04t05:06:07z",
            "2021-03-04 05:06:07Z",
            "2021-03-04T05:06:07",
            "2021-03-04 05:06:07",
            "2021-03-04T05:06:07.250Z",
            "2021-03-04T07:06:07+02:00",
            "2021-03-04T07:06:07.999+0200",
            "2021-03-04T00:06:07-05:00",
        ] {
            assert_eq!(parse_timestamp(text, None), Ok(utc), "{text}");
        }
        assert_eq!(parse_timestamp("2021-03-04T05:06", None), Ok(utc - 7));
        let midnight = Utc
            .with_ymd_and_hms(2021, 3, 4, 0, 0, 0)
            .unwrap()
            .timestamp();
        assert_eq!(parse_timestamp("2021-03-04", None), Ok(midnight));
    }

    #[test]
    fn explicit_formats() {
        let date = Utc
            .with_ymd_and_hms(2021, 3, 4, 0, 0, 0)
            .unwrap()
            .timestamp();
        assert_eq!(parse_timestamp("04/03/2021", Some("%d/%m/%Y")), Ok(date));
        assert_eq!(
            parse_timestamp("04/03/2021 10:30", Some("%d/%m/%Y %H:%M")),
            Ok(date + 10 * 3600 + 30 * 60)
        );
        assert_eq!(
            parse_timestamp("04/03/2021 10:30 +0100", Some("%d/%m/%Y %H:%M %z")),
            Ok(date + 9 * 3600 + 30 * 60)
        );
        assert_eq!(
            parse_timestamp("2021-03-04", Some("%d/%m/%Y")),
            Err(r#""2021-03-04" is not a date (expected format %d/%m/%Y)"#.into())
        );
    }

    #[test]
    fn refusals() {
        assert_eq!(
            parse_timestamp("2021-13-45", Some("%Y-%m-%d")),
            Err(r#""2021-13-45" is not a date (expected format %Y-%m-%d)"#.into())
        );
        assert_eq!(
            parse_timestamp("2021-13-45", None),
            Err(format!(
                r#""2021-13-45" is not a date (expected {ISO_HINT})"#
            ))
        );
        assert_eq!(
            parse_timestamp("-5", None),
            Err(format!(r#""-5" is not a date (expected {ISO_HINT})"#))
        );
        assert_eq!(
            parse_timestamp("1969-12-31", None),
            Err(r#""1969-12-31" is before 1970, which a UNIX timestamp cannot hold"#.into())
        );
        assert_eq!(
            parse_timestamp("2101-01-01", None),
            Err(r#""2101-01-01" is after the year 2100"#.into())
        );
        assert_eq!(parse_timestamp("2100-12-31T23:59:59Z", None), Ok(LATEST));
        assert_eq!(
            parse_timestamp("1603885746000", None),
            Err(r#""1603885746000" is after the year 2100"#.into())
        );
        assert!(parse_timestamp("99999999999999999999999", None).is_err());
        for text in ["", "yesterday", "2021-03-04T", "2021-03-04Z", "2021-02-29"] {
            assert!(parse_timestamp(text, None).is_err(), "{text}");
        }
    }

    #[test]
    fn excel_serial_days() {
        let day = |y, m, d| Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap().timestamp();
        let excel = Some(EXCEL);
        assert_eq!(parse_timestamp("44197", excel), Ok(day(2021, 1, 1)));
        assert_eq!(parse_timestamp("45383", excel), Ok(day(2024, 4, 1)));
        assert_eq!(parse_timestamp("25569", excel), Ok(0));
        assert_eq!(
            parse_timestamp("44197.5", excel),
            Ok(day(2021, 1, 1) + 12 * 3600)
        );
        assert_eq!(
            parse_timestamp("44197,25", excel),
            Ok(day(2021, 1, 1) + 6 * 3600)
        );
        assert_eq!(parse_timestamp("73415", excel), Ok(day(2100, 12, 31)));
        assert_eq!(
            parse_timestamp("73416", excel),
            Err(r#""73416" is after the year 2100"#.into())
        );
        assert_eq!(
            parse_timestamp("25568", excel),
            Err(r#""25568" is before 1970, which a UNIX timestamp cannot hold"#.into())
        );
        assert_eq!(
            parse_timestamp("60", excel),
            Err(
                r#""60" is Excel's 1900-02-29, a day that never was (Excel counts it by mistake)"#
                    .into()
            )
        );
        for text in ["2021-01-01", "", "1e4", "-5", "44197.", ".5"] {
            assert_eq!(
                parse_timestamp(text, excel),
                Err(format!(
                    "{text:?} is not a date (expected an Excel serial day such as 44197)"
                )),
            );
        }
    }

    #[test]
    fn early_serials_count_from_1900_as_excel_does() {
        // Excel's own table: 1 is 1900-01-01, 59 is 1900-02-28, 61 is 1900-03-01.
        for (serial, date) in [(1, "1900-01-01"), (59, "1900-02-28"), (61, "1900-03-01")] {
            let seconds = excel_serial(&serial.to_string()).unwrap().unwrap();
            let at = DateTime::from_timestamp(seconds, 0).unwrap();
            assert_eq!(at.format("%Y-%m-%d").to_string(), date, "{serial}");
        }
    }

    #[test]
    fn a_small_bare_number_is_never_taken_as_seconds_in_silence() {
        assert_eq!(
            parse_timestamp("44197", None),
            Err(r#""44197" is not a date: too small for UNIX seconds; as an Excel serial day it is "2021-01-01" (to read it so, map the column with format = "excel"; format = "unix" takes it as seconds)"#.into())
        );
        let error = parse_timestamp("44197.5", None).unwrap_err();
        assert!(
            error.contains(r#"as an Excel serial day it is "2021-01-01T12:00:00Z""#),
            "{error}"
        );
        let error = parse_timestamp("60", None).unwrap_err();
        assert!(error.contains(r#"it is "1900-02-29""#), "{error}");
        let error = parse_timestamp("21916", None).unwrap_err();
        assert!(error.contains(r#"it is "1960-01-01""#), "{error}");
        // Zero (the epoch, a common placeholder) and real UNIX seconds read as before.
        assert_eq!(parse_timestamp("0", None), Ok(0));
        assert_eq!(parse_timestamp("73416", None), Ok(73_416));
        assert_eq!(parse_timestamp("1609459200", None), Ok(1_609_459_200));
        // Said explicitly, a small number is seconds, or milliseconds.
        assert_eq!(parse_timestamp("44197", Some(UNIX)), Ok(44_197));
        assert_eq!(
            parse_timestamp("1609459200999", Some(UNIX_MS)),
            Ok(1_609_459_200)
        );
        assert_eq!(parse_timestamp("1609459200", Some(UNIX_MS)), Ok(1_609_459));
        assert!(parse_timestamp("2021-01-01", Some(UNIX)).is_err());
        assert!(parse_timestamp("99999999999999", Some(UNIX)).is_err());
    }

    #[test]
    fn format_check() {
        assert_eq!(check_format("%d/%m/%Y %H:%M"), Ok(()));
        assert_eq!(
            check_format("%Q"),
            Err(
                r#""%Q" is not a valid chrono strftime format (nor "excel", "unix" or "unix_ms")"#
                    .into()
            )
        );
        for format in [EXCEL, UNIX, UNIX_MS] {
            assert_eq!(check_format(format), Ok(()));
        }
    }

    fn datetimes() -> impl Strategy<Value = NaiveDateTime> {
        (0..=LATEST, 0u32..1_000_000_000).prop_map(|(seconds, nanos)| {
            DateTime::from_timestamp(seconds, nanos)
                .unwrap()
                .naive_utc()
        })
    }

    proptest! {
        #[test]
        fn iso_round_trip(datetime in datetimes(), offset_minutes in -14 * 60..=14 * 60i32) {
            let expected = datetime.and_utc().timestamp();
            let mut in_utc = vec![
                datetime.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                datetime.format("%Y-%m-%d %H:%M:%S").to_string(),
                datetime.format("%Y-%m-%dT%H:%M:%S%.fZ").to_string(),
                datetime.format("%Y-%m-%dT%H:%M:%S%.3f").to_string(),
            ];
            // Seconds within 1970-01-01 are refused as likely Excel serial days.
            if expected >= SERIAL_DAYS_END {
                in_utc.push(expected.to_string());
            }
            for text in in_utc {
                prop_assert_eq!(parse_timestamp(&text, None), Ok(expected), "{}", text);
            }
            let zone = FixedOffset::east_opt(offset_minutes * 60).unwrap();
            let local = zone.from_utc_datetime(&datetime);
            for format in ["%Y-%m-%dT%H:%M:%S%:z", "%Y-%m-%d %H:%M:%S%.f%z"] {
                let text = local.format(format).to_string();
                prop_assert_eq!(parse_timestamp(&text, None), Ok(expected), "{}", text);
            }
            let date = datetime.date();
            let day = date.and_time(NaiveTime::MIN).and_utc().timestamp();
            prop_assert_eq!(parse_timestamp(&date.format("%Y-%m-%d").to_string(), None), Ok(day));
            prop_assert_eq!(parse_timestamp(&date.format("%d.%m.%Y").to_string(), Some("%d.%m.%Y")), Ok(day));
        }

        #[test]
        fn the_fast_path_agrees_with_chrono(
            date in "(19[0-9]{2}|20[0-9]{2}|2100)-(0[1-9]|1[0-2]|[0-9]{2})-([0-2][0-9]|3[01])",
            time in proptest::option::of("[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]{1,10})?)?"),
            zone in proptest::option::of("Z|z|[+-]([01][0-9]|2[0-3]):?[0-5][0-9]|[+-][0-9]{2}:?[0-9]{2}"),
        ) {
            let text = format!("{date}{}{}", time.unwrap_or_default(), zone.unwrap_or_default());
            if let Some(fast) = iso_8601_fast(text.as_bytes()) {
                prop_assert_eq!(Some(fast), iso_8601_chrono(&text), "{}", text);
            }
        }

        #[test]
        fn the_fast_path_reads_the_usual_forms(datetime in datetimes(), offset_minutes in -1439i32..=1439) {
            let zone = FixedOffset::east_opt(offset_minutes * 60).unwrap();
            let local = zone.from_utc_datetime(&datetime);
            for format in ["%Y-%m-%dT%H:%M:%S%:z", "%Y-%m-%d %H:%M:%S%.f%z", "%Y-%m-%dt%H:%M%:z", "%Y-%m-%d"] {
                let text = local.format(format).to_string();
                prop_assert!(iso_8601_fast(text.as_bytes()).is_some(), "{}", text);
                prop_assert_eq!(iso_8601_fast(text.as_bytes()), iso_8601_chrono(&text), "{}", text);
            }
        }

        /// Rows without these artefacts read as before: every date from 1970 on, as UNIX
        /// seconds of more than a day, is still seconds.
        #[test]
        fn seconds_past_the_first_day_read_as_before(seconds in SERIAL_DAYS_END..=LATEST) {
            prop_assert_eq!(parse_timestamp(&seconds.to_string(), None), Ok(seconds));
        }

        #[test]
        fn excel_serials_round_trip(datetime in datetimes()) {
            let seconds = datetime.and_utc().timestamp();
            let serial = seconds as f64 / SECONDS_PER_DAY as f64 + EXCEL_1970 as f64;
            let text = format!("{serial:.6}");
            prop_assume!(seconds < LATEST);
            let read = parse_timestamp(&text, Some(EXCEL));
            // Six decimals of a day are within a tenth of a second.
            prop_assert!(read.as_ref().is_ok_and(|read| (read - seconds).abs() <= 1), "{} {:?}", text, read);
        }

        #[test]
        fn never_panics(text in "\\PC{0,40}", format in proptest::option::of("[%a-zA-Z:/ .-]{0,12}")) {
            let _ = parse_timestamp(&text, format.as_deref());
        }
    }
}
