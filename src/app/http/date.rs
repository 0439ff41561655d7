//! HTTP-date (RFC 9110 §5.6.7): formatting as IMF-fixdate and parsing of the three formats a
//! recipient must accept. Times are Unix seconds; the library never reads a clock, the
//! server computes them as the Unix time of the loop's epoch plus `now`.

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Days since 1970-01-01 → (year, month 1..=12, day 1..=31) (H. Hinnant's civil_from_days).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// (year, month, day) → days since 1970-01-01.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn format(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{}, {d:02} {} {y:04} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        MONTHS[(m - 1) as usize],
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

fn month(name: &str) -> Option<u32> {
    MONTHS.iter().position(|m| *m == name).map(|i| i as u32 + 1)
}

fn hms(s: &str) -> Option<u64> {
    let mut it = s.split(':').map(|p| {
        if p.len() == 2 {
            p.parse::<u64>().ok()
        } else {
            None
        }
    });
    let (h, m, s) = (it.next()??, it.next()??, it.next()??);
    if it.next().is_some() || h > 23 || m > 59 || s > 60 {
        return None;
    }
    Some(h * 3600 + m * 60 + s.min(59))
}

fn to_unix(y: i64, m: u32, d: u32, secs: u64) -> Option<u64> {
    if !(1..=31).contains(&d) || y < 1970 {
        return None;
    }
    let days = days_from_civil(y, m, d);
    Some(days as u64 * 86_400 + secs)
}

/// Parses IMF-fixdate, the obsolete RFC 850 form and asctime (RFC 9110 §5.6.7). `None` for
/// anything else: the caller then ignores the header, as the RFC requires.
pub fn parse(s: &str) -> Option<u64> {
    let parts: Vec<&str> = s.split_ascii_whitespace().collect();
    match parts[..] {
        // Sun, 06 Nov 1994 08:49:37 GMT
        [_day, d, mon, y, t, "GMT"] if _day.ends_with(',') => {
            to_unix(y.parse().ok()?, month(mon)?, d.parse().ok()?, hms(t)?)
        }
        // Sunday, 06-Nov-94 08:49:37 GMT
        [_day, date, t, "GMT"] if _day.ends_with(',') => {
            let mut it = date.split('-');
            let (d, mon, y) = (it.next()?, it.next()?, it.next()?);
            let y: i64 = y.parse().ok()?;
            // RFC 9110: a two-digit year more than 50 years in the future is in the past.
            let y = if y < 70 { 2000 + y } else { 1900 + y };
            to_unix(y, month(mon)?, d.parse().ok()?, hms(t)?)
        }
        // Sun Nov  6 08:49:37 1994
        [_day, mon, d, t, y] => to_unix(y.parse().ok()?, month(mon)?, d.parse().ok()?, hms(t)?),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_the_rfc_example() {
        assert_eq!(format(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(format(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(format(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
    }

    #[test]
    fn parses_all_three_formats_and_rejects_junk() {
        for s in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(parse(s), Some(784_111_777), "{s}");
        }
        for s in [
            "",
            "yesterday",
            "Sun, 06 Nov 1994 25:49:37 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse(s), None, "{s}");
        }
        for t in [0, 1, 86_399, 1_700_000_000, 4_102_444_800] {
            assert_eq!(parse(&format(t)), Some(t));
        }
    }
}
