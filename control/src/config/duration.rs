//! Durations as operators write them: `360s`, `15m`, `1h30m`, `500ms`, or a bare integer of seconds.
//!
//! A hand-written parser rather than a crate (humantime and friends accept far more than we want to
//! document, such as `2 weeks` or fractional values). The grammar is one or more `<digits><unit>` terms,
//! units `h`, `m`, `s`, `ms`, each at most once and from the largest down, so `1h30m` reads as it looks
//! and `30m1h` is refused. A bare integer means seconds, like ipvsadm's `-p 360` and `--set 900 120 300`.

use std::time::Duration;

use serde::{de, Deserializer, Serializer};

/// Units from the largest down, with their length in milliseconds; the index is the required order.
const UNITS: [(&str, u64); 4] = [("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)];

/// Parses a duration; the error says what was wrong, without the value (callers add it).
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration".into());
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        let secs = text.parse::<u64>().map_err(|_| "number too large".to_string())?;
        return Ok(Duration::from_secs(secs));
    }
    let mut rest = text;
    let mut total_ms: u64 = 0;
    let mut last_rank: Option<usize> = None;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!("expected a number at \"{rest}\""));
        }
        let value: u64 = rest[..digits].parse().map_err(|_| "number too large".to_string())?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let (unit, tail) = rest.split_at(unit_len);
        let Some((r, &(unit, unit_ms))) = UNITS.iter().enumerate().find(|(_, (known, _))| *known == unit)
        else {
            return Err(match (unit, tail.chars().next()) {
                ("", None) => "missing unit after number (use h, m, s or ms)".to_string(),
                ("", Some(c)) => format!("unexpected \"{c}\" (use whole numbers with h, m, s or ms)"),
                (unit, _) => format!("unknown unit \"{unit}\" (use h, m, s or ms)"),
            });
        };
        rest = tail;
        if last_rank.is_some_and(|last| r <= last) {
            return Err(format!("unit \"{unit}\" repeated or out of order (write e.g. 1h30m)"));
        }
        last_rank = Some(r);
        let term = value.checked_mul(unit_ms).ok_or_else(|| "duration too large".to_string())?;
        total_ms = total_ms.checked_add(term).ok_or_else(|| "duration too large".to_string())?;
    }
    Ok(Duration::from_millis(total_ms))
}

/// Formats a duration so that [`parse`] reads it back: whole seconds as `360s`, else milliseconds.
/// Seconds rather than `6m` because ipvsadm and the LVS sysctls speak seconds.
pub fn format(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// `#[serde(with = "duration")]` support.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    deserializer.deserialize_any(DurationVisitor)
}

/// `#[serde(with = "duration")]` support.
pub fn serialize<S: Serializer>(d: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format(*d))
}

struct DurationVisitor;

impl de::Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a duration such as 360s, 15m, 1h30m, 500ms or a number of seconds")
    }

    fn visit_u64<E: de::Error>(self, secs: u64) -> Result<Duration, E> {
        Ok(Duration::from_secs(secs))
    }

    fn visit_i64<E: de::Error>(self, secs: i64) -> Result<Duration, E> {
        u64::try_from(secs)
            .map(Duration::from_secs)
            .map_err(|_| E::custom(format!("invalid duration {secs}: negative")))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Duration, E> {
        parse(text).map_err(|why| E::custom(format!("invalid duration \"{text}\": {why}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_unit_and_combinations() {
        assert_eq!(parse("360s"), Ok(Duration::from_secs(360)));
        assert_eq!(parse("15m"), Ok(Duration::from_secs(15 * 60)));
        assert_eq!(parse("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("1m30s250ms"), Ok(Duration::from_millis(90_250)));
        assert_eq!(parse("900"), Ok(Duration::from_secs(900)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert!(parse("").unwrap_err().contains("empty"));
        assert!(parse("5x").unwrap_err().contains("unknown unit \"x\""));
        assert!(parse("5min").unwrap_err().contains("unknown unit \"min\""));
        assert!(parse("5").is_ok());
        assert!(parse("h").unwrap_err().contains("expected a number"));
        assert!(parse("30m1h").unwrap_err().contains("out of order"));
        assert!(parse("1s1s").unwrap_err().contains("repeated"));
        assert!(parse("1.5s").unwrap_err().contains("unexpected \".\""));
        assert!(parse("99999999999999999999h").unwrap_err().contains("too large"));
        assert!(parse("9999999999999999h").unwrap_err().contains("too large"));
    }

    #[test]
    fn format_round_trips() {
        for d in [Duration::from_secs(360), Duration::from_millis(1500), Duration::ZERO] {
            assert_eq!(parse(&format(d)), Ok(d));
        }
        assert_eq!(format(Duration::from_secs(5400)), "5400s");
    }
}
