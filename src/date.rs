//! Time as HTTP and the log show it: the `Date` value (IMF-fixdate,
//! RFC 9110 §5.6.7), formatted at most once a second, and the ISO 8601
//! time of a log line.
//!
//! Pure but for `HttpDate::now`/`update`, which read the wall clock; the
//! formatting itself takes seconds as a parameter so tests fix the time.

use std::time::{SystemTime, UNIX_EPOCH};

/// The current `Date` value, formatted once per second.
#[derive(Debug, Clone)]
pub struct HttpDate {
    secs: u64,
    text: [u8; 29],
}

impl Default for HttpDate {
    fn default() -> HttpDate {
        HttpDate::at(0)
    }
}

impl HttpDate {
    pub fn now() -> HttpDate {
        HttpDate::at(unix_now())
    }

    /// Brings the value up to `SystemTime::now()`; cheap when the second
    /// has not changed.
    pub fn update(&mut self) {
        let now = unix_now();
        if now != self.secs {
            *self = HttpDate::at(now);
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.text
    }

    /// `Sun, 06 Nov 1994 08:49:37 GMT` for `secs` after the Unix epoch.
    pub fn at(secs: u64) -> HttpDate {
        const DAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
        const MONTHS: [&[u8; 3]; 12] =
            [b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec"];
        let days = secs / 86_400;
        let rem = secs % 86_400;
        let (year, month, day) = civil_from_days(days as i64);
        let y = year.clamp(0, 9999) as u64;
        let mut t = Vec::with_capacity(29);
        t.extend_from_slice(DAYS[(days % 7) as usize]);
        t.extend_from_slice(b", ");
        two(&mut t, u64::from(day));
        t.push(b' ');
        t.extend_from_slice(MONTHS[(month.clamp(1, 12) - 1) as usize]);
        t.push(b' ');
        two(&mut t, y / 100);
        two(&mut t, y % 100);
        t.push(b' ');
        two(&mut t, rem / 3600);
        t.push(b':');
        two(&mut t, rem / 60 % 60);
        t.push(b':');
        two(&mut t, rem % 60);
        t.extend_from_slice(b" GMT");
        let mut text = [b' '; 29];
        text.copy_from_slice(&t);
        HttpDate { secs, text }
    }
}

/// `2026-11-23T20:07:17.657Z`: the time of a log line.
pub fn iso8601(secs: u64, millis: u32) -> String {
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z", rem / 3600, rem / 60 % 60, rem % 60)
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn two(out: &mut Vec<u8>, n: u64) {
    out.push(b'0' + (n / 10 % 10) as u8);
    out.push(b'0' + (n % 10) as u8);
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian
/// calendar (Howard Hinnant's `civil_from_days`).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        let s = |secs| String::from_utf8(HttpDate::at(secs).as_bytes().to_vec()).unwrap();
        assert_eq!(s(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(s(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(s(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(s(1_795_478_399), "Mon, 23 Nov 2026 23:59:59 GMT");
    }

    #[test]
    fn log_times() {
        assert_eq!(iso8601(1_795_478_399, 7), "2026-11-23T23:59:59.007Z");
        assert_eq!(iso8601(0, 0), "1970-01-01T00:00:00.000Z");
    }
}
