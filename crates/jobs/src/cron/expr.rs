//! Cron expressions and IANA time zones: parsing with field-and-position errors, and slots.

use chrono::{DateTime, TimeZone};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;
use palisade_core::FieldError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest expression (characters).
pub const MAX_EXPR: usize = 200;

/// The fields of a 6-field expression, in order (a 5-field one has no seconds).
const FIELDS: [(&str, &str); 6] = [
    ("second", "0-59"),
    ("minute", "0-59"),
    ("hour", "0-23"),
    ("day-of-month", "1-31, L or W"),
    ("month", "1-12 or JAN-DEC"),
    ("day-of-week", "0-7 or SUN-SAT, L or #"),
];

/// A parsed cron expression: 5 fields (minute hour day-of-month month day-of-week) or 6
/// with seconds first; `*`, lists, ranges and steps; `@hourly`, `@daily`, `@weekly`,
/// `@monthly`, `@yearly`. Day-of-month and day-of-week combine with OR, as in Vixie cron.
#[derive(Clone)]
pub struct CronExpr {
    text: String,
    cron: Cron,
}

impl CronExpr {
    /// Parses `s`; an error names the field `cron`, which cron field failed and at which
    /// character, and never repeats the input.
    pub fn parse(s: &str) -> Result<Self, FieldError> {
        let text = s.trim();
        if text.is_empty() || text.chars().count() > MAX_EXPR || text.chars().any(char::is_control)
        {
            return Err(err("1 to 200 characters without control characters"));
        }
        match parser().parse(text) {
            Ok(cron) => Ok(Self {
                text: text.to_owned(),
                cron,
            }),
            Err(_) => Err(locate(s)),
        }
    }

    /// The expression as given (trimmed).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The first slot (ms) strictly after `after_ms` in `zone`, or `None` when there is none.
    pub fn next_after(&self, zone: Zone, after_ms: i64) -> Option<i64> {
        let at = instant(zone, after_ms.div_euclid(1_000) * 1_000)?;
        let next = self.cron.find_next_occurrence(&at, false).ok()?;
        Some(next.timestamp_millis())
    }

    /// The last slot (ms) at or before `at_ms` in `zone`, or `None` when there is none.
    pub fn latest_at_or_before(&self, zone: Zone, at_ms: i64) -> Option<i64> {
        let at = instant(zone, at_ms.div_euclid(1_000) * 1_000)?;
        let prev = self.cron.find_previous_occurrence(&at, true).ok()?;
        Some(prev.timestamp_millis())
    }

    /// The last slot (ms) strictly before `before_ms` in `zone`.
    pub fn previous_before(&self, zone: Zone, before_ms: i64) -> Option<i64> {
        self.latest_at_or_before(zone, before_ms - 1)
    }
}

fn parser() -> CronParser {
    CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .build()
}

fn instant(zone: Zone, ms: i64) -> Option<DateTime<Tz>> {
    zone.0.timestamp_millis_opt(ms).single()
}

fn err(expected: &str) -> FieldError {
    FieldError::new("cron", expected)
}

/// The error of an expression the parser refused: which field (by position and character
/// offset) is wrong and what it expects.
fn locate(s: &str) -> FieldError {
    let fields: Vec<(usize, &str)> = s
        .char_indices()
        .filter(|&(i, c)| !c.is_whitespace() && (i == 0 || s[..i].ends_with(char::is_whitespace)))
        .map(|(i, _)| (i, s[i..].split_whitespace().next().unwrap_or_default()))
        .collect();
    if fields.len() == 1 && fields[0].1.starts_with('@') {
        return err("one of @yearly, @monthly, @weekly, @daily, @hourly");
    }
    if !(5..=6).contains(&fields.len()) {
        return err(&format!(
            "5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first, \
             separated by spaces; found {} fields",
            fields.len()
        ));
    }
    let names = &FIELDS[6 - fields.len()..];
    for (k, (offset, _)) in fields.iter().enumerate() {
        let alone: Vec<&str> = fields
            .iter()
            .enumerate()
            .map(|(j, (_, f))| if j == k { *f } else { "*" })
            .collect();
        if parser().parse(&alone.join(" ")).is_err() {
            let (name, range) = names[k];
            let at = s[..*offset].chars().count() + 1;
            return err(&format!(
                "field {} ({name}) at character {at}: expected {range}, *, a list, a range or a step",
                k + 1
            ));
        }
    }
    err("a combination of fields that a cron expression allows")
}

impl PartialEq for CronExpr {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for CronExpr {}

impl fmt::Debug for CronExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CronExpr").field(&self.text).finish()
    }
}

impl Serialize for CronExpr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for CronExpr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(|e| serde::de::Error::custom(e.message))
    }
}

/// An IANA time zone (`UTC`, `Europe/Berlin`): slots are local times of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Zone(pub Tz);

impl Zone {
    /// UTC.
    pub const UTC: Zone = Zone(Tz::UTC);

    /// Parses an IANA name; the error names the field `timezone` and never repeats the input.
    pub fn parse(s: &str) -> Result<Self, FieldError> {
        s.parse::<Tz>().map(Zone).map_err(|_| {
            FieldError::new(
                "timezone",
                "an IANA time zone name, e.g. UTC or Europe/Berlin",
            )
        })
    }

    /// The IANA name.
    pub fn name(&self) -> &'static str {
        self.0.name()
    }
}

impl Default for Zone {
    fn default() -> Self {
        Self::UTC
    }
}

impl Serialize for Zone {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Zone {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(|e| serde::de::Error::custom(e.message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ms of a UTC date-time.
    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> i64 {
        chrono::Utc
            .with_ymd_and_hms(y, mo, d, h, mi, s)
            .single()
            .unwrap()
            .timestamp_millis()
    }

    /// Every slot in (from, to].
    fn slots(e: &CronExpr, z: Zone, from: i64, to: i64) -> Vec<i64> {
        let mut out = Vec::new();
        let mut at = from;
        while let Some(n) = e.next_after(z, at).filter(|n| *n <= to) {
            out.push(n);
            at = n;
        }
        out
    }

    #[test]
    fn five_and_six_fields() {
        let e = CronExpr::parse("*/15 * * * *").unwrap();
        let z = Zone::UTC;
        let t = utc(2026, 1, 1, 10, 7, 30);
        assert_eq!(e.next_after(z, t), Some(utc(2026, 1, 1, 10, 15, 0)));
        assert_eq!(e.latest_at_or_before(z, t), Some(utc(2026, 1, 1, 10, 0, 0)));
        let s = CronExpr::parse("* * * * * *").unwrap();
        assert_eq!(s.next_after(z, t + 400), Some(t + 1_000));
        assert_eq!(s.latest_at_or_before(z, t + 400), Some(t));
        assert_eq!(s.previous_before(z, t), Some(t - 1_000));
        assert!(CronExpr::parse("@daily").is_ok());
    }

    #[test]
    fn errors_name_field_and_position_never_the_value() {
        let e = CronExpr::parse("0 25 * * *").unwrap_err();
        assert_eq!(e.field, "cron");
        assert!(
            e.message.contains("field 2 (hour) at character 3"),
            "{}",
            e.message
        );
        assert!(!e.message.contains("25"), "{}", e.message);
        let e = CronExpr::parse("61 * * * * *").unwrap_err();
        assert!(
            e.message.contains("field 1 (second) at character 1"),
            "{}",
            e.message
        );
        let e = CronExpr::parse("* * * *").unwrap_err();
        assert!(e.message.contains("found 4 fields"), "{}", e.message);
        let e = CronExpr::parse("* * * FOO *").unwrap_err();
        assert!(
            e.message.contains("field 4 (month) at character 7"),
            "{}",
            e.message
        );
        assert!(!e.message.contains("FOO"));
        assert!(CronExpr::parse("").is_err());
        assert!(CronExpr::parse("@sometimes").is_err());
        let z = Zone::parse("Mars/Olympus").unwrap_err();
        assert_eq!(z.field, "timezone");
        assert!(!z.message.contains("Mars"));
        assert_eq!(
            Zone::parse("Europe/Berlin").unwrap().name(),
            "Europe/Berlin"
        );
    }

    #[test]
    fn an_expression_without_slots_has_no_next() {
        let e = CronExpr::parse("0 0 30 2 *").unwrap();
        assert_eq!(e.next_after(Zone::UTC, 0), None);
        assert_eq!(e.latest_at_or_before(Zone::UTC, 1_767_225_600_000), None);
    }

    #[test]
    fn skipped_local_time_fires_once() {
        // Europe/Berlin springs forward on 2025-03-30: 02:00 CET becomes 03:00 CEST, so
        // 02:30 does not exist that day; the slot fires once, at the first instant after.
        let e = CronExpr::parse("30 2 * * *").unwrap();
        let z = Zone::parse("Europe/Berlin").unwrap();
        let got = slots(&e, z, utc(2025, 3, 28, 12, 0, 0), utc(2025, 4, 1, 0, 0, 0));
        assert_eq!(
            got,
            vec![
                utc(2025, 3, 29, 1, 30, 0), // 02:30 CET
                utc(2025, 3, 30, 1, 0, 0),  // the gap: 03:00 CEST, once
                utc(2025, 3, 31, 0, 30, 0), // 02:30 CEST
            ]
        );
    }

    #[test]
    fn repeated_local_hour_fires_once() {
        // Europe/Berlin falls back on 2025-10-26: 02:00-03:00 happens twice; a 02:30 slot
        // fires once, at the first (CEST) 02:30.
        let e = CronExpr::parse("30 2 * * *").unwrap();
        let z = Zone::parse("Europe/Berlin").unwrap();
        let got = slots(
            &e,
            z,
            utc(2025, 10, 24, 12, 0, 0),
            utc(2025, 10, 28, 0, 0, 0),
        );
        assert_eq!(
            got,
            vec![
                utc(2025, 10, 25, 0, 30, 0), // 02:30 CEST
                utc(2025, 10, 26, 0, 30, 0), // 02:30 CEST, and not again at 02:30 CET
                utc(2025, 10, 27, 1, 30, 0), // 02:30 CET
            ]
        );
    }
}
