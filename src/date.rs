//! Civil (proleptic Gregorian, UTC) date arithmetic without external crates.
//!
//! Flow log partitions (`year=/month=/day=/hour=`) and the S3 key layout need nothing more than
//! "Unix seconds → year, month, day, hour" and "date → day number", so this module provides exactly
//! that, using Howard Hinnant's `days_from_civil` / `civil_from_days` algorithms
//! (<https://howardhinnant.github.io/date_algorithms.html>). Day numbers count days since
//! 1970-01-01 (negative before it). Results are exact for every year that fits in an `i32`.

use std::fmt;
use std::str::FromStr;

/// Seconds in one day.
pub const SECS_PER_DAY: i64 = 86_400;

/// Seconds in one hour.
pub const SECS_PER_HOUR: i64 = 3_600;

/// Days in a 400-year Gregorian era.
const DAYS_PER_ERA: i64 = 146_097;

/// Day number of 0000-03-01 relative to 1970-01-01 (shifts the epoch to a March-based year).
const EPOCH_SHIFT: i64 = 719_468;

/// Days since 1970-01-01 of the date `y-m-d` (proleptic Gregorian calendar).
///
/// The date is not validated: out-of-range months or days are computed arithmetically
/// (use [`is_valid_date`] first if that matters). Never panics.
/// A calendar day (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day {
    pub year: i32,
    pub month: u8,
    pub day: u8,
}

impl Day {
    /// A valid day, or `None`.
    pub fn new(year: i32, month: u32, day: u32) -> Option<Day> {
        is_valid_date(year, month, day).then_some(Day {
            year,
            month: month as u8,
            day: day as u8,
        })
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// A text that is not a `YYYY-MM-DD` date (of the proleptic Gregorian calendar).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a date (YYYY-MM-DD)")]
pub struct NotADate(pub String);

/// A day is stored as its `YYYY-MM-DD` text (a plan's `from` and `to`).
impl serde::Serialize for Day {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Day {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Day, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl FromStr for Day {
    type Err = NotADate;
    fn from_str(s: &str) -> std::result::Result<Day, NotADate> {
        parse_date(s)
            .and_then(|(y, m, d)| Day::new(y, m, d))
            .ok_or_else(|| NotADate(s.to_string()))
    }
}

/// Checks a `--from`/`--to` range; the error names both flags.
pub fn check_range(from: Option<Day>, to: Option<Day>) -> crate::error::Result<()> {
    match (from, to) {
        (Some(from), Some(to)) if from > to => Err(crate::error::Error::Config(format!(
            "--from {from} is after --to {to}"
        ))),
        _ => Ok(()),
    }
}

pub fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let (m, d) = (i64::from(m), i64::from(d));
    let y = i64::from(y) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // [0, 399]
    let mp = (m + 9).rem_euclid(12); // March = 0 … February = 11
    let doy = (153 * mp + 2) / 5 + d - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * DAYS_PER_ERA + doe - EPOCH_SHIFT
}

/// The date `(year, month, day)` of day number `z` (days since 1970-01-01).
///
/// Exact for every `z` whose year fits in an `i32` (about ±7.8 × 10¹¹ days); never panics.
pub fn civil_from_days(z: i64) -> (i32, u32, u32) {
    let z = z.saturating_add(EPOCH_SHIFT);
    let era = z.div_euclid(DAYS_PER_ERA);
    let doe = z - era * DAYS_PER_ERA; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let d = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let m = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y as i32, m as u32, d as u32)
}

/// Whether `y` is a leap year in the proleptic Gregorian calendar.
pub fn is_leap_year(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// Number of days in month `m` (1–12) of year `y`; 0 for an invalid month.
pub fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(y) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Whether `y-m-d` is a real date (month 1–12, day within the month, leap years honoured).
pub fn is_valid_date(y: i32, m: u32, d: u32) -> bool {
    d >= 1 && d <= days_in_month(y, m)
}

/// Parses a strict `YYYY-MM-DD` date (exactly 10 ASCII characters, zero-padded) and validates it.
///
/// Returns `None` for anything else: other lengths, signs, spaces, `2024-2-1`, `2023-02-29`, …
pub fn parse_date(s: &str) -> Option<(i32, u32, u32)> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y = parse_digits(&b[0..4])?;
    let m = parse_digits(&b[5..7])?;
    let d = parse_digits(&b[8..10])?;
    let y = i32::try_from(y).ok()?;
    is_valid_date(y, m, d).then_some((y, m, d))
}

/// Parses a non-empty run of ASCII digits (at most 4 here, so it cannot overflow).
fn parse_digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0, |acc, &c| acc * 10 + u32::from(c - b'0')))
}

/// UTC `(year, month, day, hour)` of a Unix timestamp in seconds (negative = before 1970).
pub fn unix_to_civil_hour(secs: i64) -> (i32, u32, u32, u32) {
    let days = secs.div_euclid(SECS_PER_DAY);
    let hour = secs.rem_euclid(SECS_PER_DAY) / SECS_PER_HOUR;
    let (y, m, d) = civil_from_days(days);
    (y, m, d, hour as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_day_numbers() {
        let cases = [
            ((1970, 1, 1), 0),
            ((1970, 1, 2), 1),
            ((1969, 12, 31), -1),
            ((2000, 1, 1), 10_957),
            ((2000, 3, 1), 11_017),
            ((2024, 1, 15), 19_737),
            ((2024, 2, 29), 19_782),
            ((2024, 3, 1), 19_783),
            ((2014, 12, 14), 16_418),
            ((1900, 3, 1), -25_508),
            ((1600, 1, 1), -135_140),
            ((0, 3, 1), -719_468),
            ((9999, 12, 31), 2_932_896),
        ];
        for ((y, m, d), z) in cases {
            assert_eq!(days_from_civil(y, m, d), z, "{y}-{m}-{d}");
            assert_eq!(civil_from_days(z), (y, m, d), "{z}");
        }
    }

    #[test]
    fn round_trip_over_a_wide_range() {
        let mut prev = civil_from_days(-800_000);
        for z in -799_999..800_000 {
            let (y, m, d) = civil_from_days(z);
            assert!(is_valid_date(y, m, d), "{y}-{m}-{d}");
            assert_eq!(days_from_civil(y, m, d), z);
            // Consecutive day numbers are consecutive dates.
            let next_of_prev = if prev.2 < days_in_month(prev.0, prev.1) {
                (prev.0, prev.1, prev.2 + 1)
            } else if prev.1 < 12 {
                (prev.0, prev.1 + 1, 1)
            } else {
                (prev.0 + 1, 1, 1)
            };
            assert_eq!((y, m, d), next_of_prev);
            prev = (y, m, d);
        }
    }

    #[test]
    fn validity() {
        assert!(is_valid_date(2024, 2, 29));
        assert!(is_valid_date(2000, 2, 29));
        assert!(!is_valid_date(1900, 2, 29));
        assert!(!is_valid_date(2023, 2, 29));
        assert!(!is_valid_date(2023, 4, 31));
        assert!(is_valid_date(2023, 12, 31));
        assert!(!is_valid_date(2023, 13, 1));
        assert!(!is_valid_date(2023, 0, 1));
        assert!(!is_valid_date(2023, 1, 0));
        assert!(!is_valid_date(2023, u32::MAX, u32::MAX));
    }

    #[test]
    fn parse_strict_dates() {
        assert_eq!(parse_date("2024-02-29"), Some((2024, 2, 29)));
        assert_eq!(parse_date("1970-01-01"), Some((1970, 1, 1)));
        assert_eq!(parse_date("0000-01-01"), Some((0, 1, 1)));
        for bad in [
            "",
            "2023-02-29",
            "2024-2-29",
            "2024-02-9",
            "24-02-29",
            "2024/02/29",
            "2024-02-29 ",
            " 2024-02-29",
            "+024-02-29",
            "2024-13-01",
            "2024-00-10",
            "2024-01-00",
            "2024-01-32",
            "20240-1-01",
            "2024-0a-01",
            "２０２４-01-01",
        ] {
            assert_eq!(parse_date(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn unix_seconds_to_hour() {
        // AWS's example record: start 1418530010 = 2014-12-14T04:06:50Z.
        assert_eq!(unix_to_civil_hour(1_418_530_010), (2014, 12, 14, 4));
        assert_eq!(unix_to_civil_hour(0), (1970, 1, 1, 0));
        assert_eq!(unix_to_civil_hour(-1), (1969, 12, 31, 23));
        assert_eq!(unix_to_civil_hour(1_709_164_800), (2024, 2, 29, 0));
        assert_eq!(unix_to_civil_hour(1_709_251_199), (2024, 2, 29, 23));
        assert_eq!(unix_to_civil_hour(1_709_251_200), (2024, 3, 1, 0));
        // Extremes must not panic.
        let _ = unix_to_civil_hour(i64::MIN);
        let _ = unix_to_civil_hour(i64::MAX);
        let _ = civil_from_days(i64::MIN);
        let _ = civil_from_days(i64::MAX);
        let _ = days_from_civil(i32::MIN, u32::MAX, u32::MAX);
        let _ = days_from_civil(i32::MAX, 0, 0);
    }
}
