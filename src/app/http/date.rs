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

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) formatted in place: no allocation, so
/// the server can produce Date and Last-Modified per response for the price of a copy.
#[derive(Clone, Copy)]
pub(crate) struct HttpDate {
    /// 29 bytes for years 1970-9999; room for the digits of any year a u64 can reach.
    buf: [u8; 40],
    len: u8,
}

impl HttpDate {
    /// The IMF-fixdate of `unix` (seconds since 1970-01-01 00:00:00 UTC).
    #[must_use]
    pub(crate) fn new(unix: u64) -> HttpDate {
        let days = (unix / 86_400) as i64;
        let secs = unix % 86_400;
        let (y, m, d) = civil_from_days(days);
        let mut out = HttpDate {
            buf: [0; 40],
            len: 0,
        };
        out.push(DAYS[(days % 7) as usize].as_bytes());
        out.push(b", ");
        out.push(&two(d));
        out.push(b" ");
        out.push(MONTHS[(m - 1) as usize].as_bytes());
        out.push(b" ");
        // `{y:04}`: at least four digits (the year is never negative here).
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        let mut rest = y as u64;
        while i > digits.len() - 4 || rest > 0 {
            i -= 1;
            digits[i] = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        out.push(&digits[i..]);
        out.push(b" ");
        out.push(&two((secs / 3600) as u32));
        out.push(b":");
        out.push(&two((secs / 60 % 60) as u32));
        out.push(b":");
        out.push(&two((secs % 60) as u32));
        out.push(b" GMT");
        out
    }

    fn push(&mut self, bytes: &[u8]) {
        let at = self.len as usize;
        self.buf[at..at + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len() as u8;
    }

    /// The date as ASCII bytes, ready for a header line.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len as usize]
    }

    /// The date as text.
    pub(crate) fn as_str(&self) -> &str {
        // Only ASCII is ever pushed.
        std::str::from_utf8(self.as_bytes()).unwrap_or("")
    }
}

fn two(n: u32) -> [u8; 2] {
    [b'0' + (n / 10 % 10) as u8, b'0' + (n % 10) as u8]
}

/// The Date field of the current second, formatted once per second rather than per
/// response.
#[derive(Default)]
pub struct DateCache {
    last: std::cell::Cell<Option<(u64, HttpDate)>>,
}

impl DateCache {
    /// The IMF-fixdate of `unix` (Unix seconds), formatted again only when the second changed.
    pub(crate) fn get(&self, unix: u64) -> HttpDate {
        match self.last.get() {
            Some((at, date)) if at == unix => date,
            _ => {
                let date = HttpDate::new(unix);
                self.last.set(Some((unix, date)));
                date
            }
        }
    }
}

/// The IMF-fixdate of `unix` (Unix seconds), e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn format(unix: u64) -> String {
    HttpDate::new(unix).as_str().to_string()
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
    // RFC 9110 §5.6.7: a four-digit year (the RFC 850 form's two digits are widened before).
    // A longer one is no date: the field is ignored, never an overflow (fuzz target `http`,
    // campaign of session 6: year 959138385325 overflowed the seconds).
    if !(1..=31).contains(&d) || !(1970..=9999).contains(&y) {
        return None;
    }
    let days = days_from_civil(y, m, d);
    (days as u64).checked_mul(86_400)?.checked_add(secs)
}

/// Parses IMF-fixdate, the obsolete RFC 850 form and asctime (RFC 9110 §5.6.7). `None` for
/// anything else: the caller then ignores the header, as the RFC requires.
pub fn parse(s: &str) -> Option<u64> {
    // At most six words in any of the forms: split into a fixed array, no allocation.
    let mut words = [""; 7];
    let mut n = 0;
    for w in s.split_ascii_whitespace() {
        if n == words.len() {
            return None;
        }
        words[n] = w;
        n += 1;
    }
    match words[..n] {
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

    /// The in-place formatter agrees with `format!` over the whole range, years past 9999
    /// included, and the per-second cache returns the second asked for.
    #[test]
    fn formats_like_format_macro() {
        let reference = |unix: u64| {
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
        };
        let mut rng = fastrand::Rng::with_seed(7);
        for t in [
            0,
            59,
            86_399,
            1_700_000_000,
            253_402_300_799,
            253_402_300_800,
        ]
        .into_iter()
        .chain((0..2000).map(|_| rng.u64(..1 << 40)))
        .chain([u64::MAX / 2, u64::MAX])
        {
            assert_eq!(format(t), reference(t), "{t}");
        }
        let cache = DateCache::default();
        assert_eq!(
            cache.get(784_111_777).as_str(),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
        assert_eq!(
            cache.get(784_111_777).as_str(),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
        assert_eq!(
            cache.get(784_111_778).as_str(),
            "Sun, 06 Nov 1994 08:49:38 GMT"
        );
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

    /// RFC 9110 §5.6.7: the year is four digits. Longer ones (the fuzzer's 959138385325
    /// overflowed the seconds) are no date, in each form.
    #[test]
    fn years_past_four_digits_are_no_date() {
        assert_eq!(
            parse("Fri, 31 Dec 9999 23:59:59 GMT"),
            Some(253_402_300_799)
        );
        for s in [
            "Tue, 01 Nov 10000 22:13:20 GMT",
            "Tu;, 1 Nov 000000959138385325 22:13:20 GMT",
            "Tue, 01 Nov 9223372036854775807 22:13:20 GMT",
            "Sun Nov  6 08:49:37 959138385325",
        ] {
            assert_eq!(parse(s), None, "{s}");
        }
    }
}
