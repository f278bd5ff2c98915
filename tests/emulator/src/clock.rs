//! Wall-clock helpers: milliseconds since the epoch and IMF-fixdate formatting.
//!
//! The emulator's own clock is the system time plus a configurable skew; the skew lives in
//! [`crate::state::Shared`], this module only does the calendar arithmetic.

use std::time::{SystemTime, UNIX_EPOCH};

/// System time in milliseconds since the Unix epoch (negative before 1970).
pub fn system_now_ms() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

/// Converts days since 1970-01-01 to a proleptic Gregorian (year, month, day).
///
/// Howard Hinnant's `civil_from_days` algorithm.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32; // [1, 12]
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Converts a proleptic Gregorian date to days since 1970-01-01 (inverse of
/// [`civil_from_days`]; Howard Hinnant's `days_from_civil`).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400); // [0, 399]
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 }; // [0, 11]
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// (year, month, day, hour, minute, second) of Unix seconds.
fn civil_time(unix_secs: i64) -> (i64, u32, u32, i64, i64, i64) {
    let (year, month, day) = civil_from_days(unix_secs.div_euclid(86_400));
    let secs = unix_secs.rem_euclid(86_400);
    (year, month, day, secs / 3600, secs / 60 % 60, secs % 60)
}

/// ISO 8601 UTC with milliseconds, e.g. `2019-11-04T06:21:54.607Z`.
pub fn iso8601_ms(unix_ms: i64) -> String {
    let (y, mo, d, h, mi, s) = civil_time(unix_ms.div_euclid(1000));
    let ms = unix_ms.rem_euclid(1000);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z")
}

/// ISO 8601 UTC to the second, e.g. `2016-02-23T12:46:24Z` (the Alibaba RPC `Timestamp`).
#[cfg_attr(not(test), allow(dead_code))]
pub fn iso8601_secs(unix_secs: i64) -> String {
    let (y, mo, d, h, mi, s) = civil_time(unix_secs);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// The SigV4 `x-amz-date` form, e.g. `20130524T000000Z`.
pub fn amz_date(unix_secs: i64) -> String {
    let (y, mo, d, h, mi, s) = civil_time(unix_secs);
    format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
}

fn digits(s: &[u8]) -> Option<i64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// Parses `YYYY-MM-DDThh:mm:ssZ`, optionally with `.f` to `.fffffffff` before the `Z`;
/// returns Unix milliseconds. With `fraction` false only the exact seconds form is accepted.
pub fn parse_iso8601(text: &str, fraction: bool) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' {
        return None;
    }
    if b[13] != b':' || b[16] != b':' || *b.last()? != b'Z' {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = u32::try_from(digits(&b[5..7])?).ok()?;
    let day = u32::try_from(digits(&b[8..10])?).ok()?;
    let (hour, minute, second) = (
        digits(&b[11..13])?,
        digits(&b[14..16])?,
        digits(&b[17..19])?,
    );
    let mut ms = 0;
    let rest = &b[19..b.len() - 1];
    if !rest.is_empty() {
        let frac = rest.strip_prefix(b".")?;
        if !fraction || frac.is_empty() || frac.len() > 9 {
            return None;
        }
        digits(frac)?;
        let mut padded = frac.to_vec();
        padded.resize(3, b'0');
        ms = digits(&padded[..3])?;
    }
    let month_days = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if !(1..=12).contains(&month) || day == 0 || day > month_days[(month - 1) as usize] {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    // Rejects 30 February and the like: the round trip must give the same date.
    if civil_from_days(days) != (year, month, day) {
        return None;
    }
    Some(((days * 86_400 + hour * 3600 + minute * 60 + second) * 1000) + ms)
}

/// Formats Unix seconds as an HTTP IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn imf_fixdate(unix_secs: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix_secs.div_euclid(86_400);
    let secs = unix_secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS[days.rem_euclid(7) as usize],
        day,
        MONTHS[(month - 1) as usize],
        year,
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_example_date() {
        assert_eq!(imf_fixdate(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(imf_fixdate(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(imf_fixdate(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(imf_fixdate(-1), "Wed, 31 Dec 1969 23:59:59 GMT");
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        for days in [-800_000, -1, 0, 59, 19_723, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn iso_dates() {
        assert_eq!(iso8601_ms(1_572_848_514_607), "2019-11-04T06:21:54.607Z");
        assert_eq!(iso8601_secs(1_456_231_584), "2016-02-23T12:46:24Z");
        assert_eq!(amz_date(1_369_353_600), "20130524T000000Z");
        assert_eq!(
            parse_iso8601("2016-02-23T12:46:24Z", false),
            Some(1_456_231_584_000)
        );
        assert_eq!(
            parse_iso8601("2019-11-04T06:21:54.607Z", true),
            Some(1_572_848_514_607)
        );
        assert_eq!(parse_iso8601("2019-11-04T06:21:54.607Z", false), None);
        assert_eq!(parse_iso8601("2019-02-30T06:21:54Z", false), None);
        assert_eq!(parse_iso8601("2019-11-04 06:21:54Z", false), None);
        assert_eq!(parse_iso8601("2019-11-04T06:21:54", false), None);
        assert_eq!(parse_iso8601("2019-11-04T24:21:54Z", false), None);
    }
}
