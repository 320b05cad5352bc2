//! The one reading of a number of seconds a person types: `--listen 2.5`,
//! `--timeout 10`, the `@12.5` of a learn mark. A decimal from 0 to a day,
//! fractions allowed; longer values are typos, and deadlines computed from
//! them must stay far from overflow. The CLI's argument errors and learn's
//! mark errors wrap [`SecondsError`] with the text they were given.

use std::time::Duration;

/// The most seconds any value may say: one day.
pub const MAX: f64 = 86_400.0;

/// Why a text is not a number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecondsError {
    #[error("not a number of seconds")]
    NotANumber,
    #[error("expected seconds from 0 to {MAX}")]
    OutOfRange,
}

/// The value in seconds, checked to lie in 0..=[`MAX`].
fn value(s: &str) -> Result<f64, SecondsError> {
    let v: f64 = s.trim().parse().map_err(|_| SecondsError::NotANumber)?;
    if !(0.0..=MAX).contains(&v) {
        return Err(SecondsError::OutOfRange);
    }
    Ok(v)
}

/// Seconds as a [`Duration`].
pub fn parse(s: &str) -> Result<Duration, SecondsError> {
    Duration::try_from_secs_f64(value(s)?).map_err(|_| SecondsError::OutOfRange)
}

/// Seconds as whole microseconds (rounded), the unit of every frame time.
pub fn parse_us(s: &str) -> Result<u64, SecondsError> {
    Ok((value(s)? * 1e6).round() as u64)
}

/// Whole microseconds of a duration, saturating: the one conversion of a
/// `Duration` to the frames' time unit.
pub fn us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fractions_and_refuses_the_rest() {
        assert_eq!(parse("2.5"), Ok(Duration::from_millis(2500)));
        assert_eq!(parse_us(" 0.211 "), Ok(211_000));
        assert_eq!(parse_us("86400"), Ok(86_400_000_000));
        assert_eq!(parse("86400.5"), Err(SecondsError::OutOfRange));
        assert_eq!(parse("-1"), Err(SecondsError::OutOfRange));
        assert_eq!(parse("NaN"), Err(SecondsError::OutOfRange));
        assert_eq!(parse("inf"), Err(SecondsError::OutOfRange));
        assert_eq!(parse_us("ten"), Err(SecondsError::NotANumber));
        assert_eq!(parse(""), Err(SecondsError::NotANumber));
    }
}
