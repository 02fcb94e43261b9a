//! Request rates as people write them: `120/min`, `2/s`, `7200/h`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// `count` requests per `per`. Both are non-zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub per: Duration,
}

impl Rate {
    /// The documented HelpCrunch limit: 120 requests per minute per organization.
    pub const HELPCRUNCH_DEFAULT: Rate = Rate {
        count: 120,
        per: Duration::from_secs(60),
    };

    /// Time between two requests when paced evenly.
    pub fn interval(&self) -> Duration {
        self.per / self.count
    }

    pub fn per_second(&self) -> f64 {
        f64::from(self.count) / self.per.as_secs_f64()
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.per.as_secs() {
            1 => "s".to_string(),
            60 => "min".to_string(),
            3600 => "h".to_string(),
            n => format!("{n}s"),
        };
        write!(f, "{}/{}", self.count, unit)
    }
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let expected =
            || format!("invalid rate {text:?}: expected COUNT/UNIT such as 120/min, 2/s or 7200/h");
        let (count, unit) = text.trim().split_once('/').ok_or_else(expected)?;
        let count: u32 = count.trim().parse().map_err(|_| expected())?;
        if count == 0 {
            return Err(format!(
                "invalid rate {text:?}: the count must be at least 1"
            ));
        }
        // The unit may carry a multiple: `100/5s` is 100 per 5 seconds.
        let unit = unit.trim();
        let digits = unit.len() - unit.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let (multiple, unit) = unit.split_at(digits);
        let multiple: u32 = match multiple {
            "" => 1,
            n => n.parse().ok().filter(|&n| n > 0).ok_or_else(expected)?,
        };
        let unit = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            _ => return Err(expected()),
        };
        Ok(Rate {
            count,
            per: unit * multiple,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        assert_eq!("120/min".parse(), Ok(Rate::HELPCRUNCH_DEFAULT));
        assert_eq!("2/s".parse::<Rate>().map(|r| r.per_second()), Ok(2.0));
        assert_eq!("7200/h".parse::<Rate>().map(|r| r.per_second()), Ok(2.0));
        assert_eq!(" 100 / s ".parse::<Rate>().map(|r| r.count), Ok(100));
        assert_eq!(
            "100/5s".parse(),
            Ok(Rate {
                count: 100,
                per: Duration::from_secs(5)
            })
        );
        assert_eq!(
            "100/5s".parse::<Rate>().map(|r| r.to_string()),
            Ok("100/5s".to_string())
        );
    }

    #[test]
    fn refuses_zero_missing_and_unknown_units() {
        for bad in [
            "0/s", "120", "/min", "x/min", "10/day", "-1/s", "", "1/0s", "1/5",
        ] {
            assert!(bad.parse::<Rate>().is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn interval_and_display_round_trip() {
        let rate: Rate = "120/min".parse().unwrap_or(Rate::HELPCRUNCH_DEFAULT);
        assert_eq!(rate.interval(), Duration::from_millis(500));
        assert_eq!(rate.to_string(), "120/min");
        assert_eq!(
            "2/s".parse::<Rate>().map(|r| r.to_string()),
            Ok("2/s".to_string())
        );
    }
}
