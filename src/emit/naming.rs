//! Versions for new migrations in the project's own convention, and the
//! small pieces of text every tool's names need (slugs, class names, UTC
//! dates without a date library).

use crate::detect::{cmp_numeric, Naming, TimestampFormat};

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// UTC date and time parts of Unix seconds.
pub struct Utc {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

pub fn utc(secs: u64) -> Utc {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    Utc {
        year,
        month,
        day,
        hour: (rem / 3600) as u32,
        minute: (rem % 3600 / 60) as u32,
        second: (rem % 60) as u32,
    }
}

/// `2026-01-02 15:30:00` (Alembic's Create Date).
pub fn iso(secs: u64) -> String {
    let t = utc(secs);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

/// `%Y%m%d%H%M%S` back to Unix seconds.
fn parse_compact(v: &str) -> Option<u64> {
    if v.len() != 14 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |a: usize, b: usize| v[a..b].parse::<u32>().ok();
    let (y, mo, d, h, mi, s) = (
        n(0, 4)?,
        n(4, 6)?,
        n(6, 8)?,
        n(8, 10)?,
        n(10, 12)?,
        n(12, 14)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let days = days_from_civil(y as i64, mo, d);
    u64::try_from(days * 86_400 + (h * 3600 + mi * 60 + s) as i64).ok()
}

fn format_ts(format: TimestampFormat, value: u64) -> String {
    match format {
        TimestampFormat::UnixSeconds | TimestampFormat::UnixMillis => value.to_string(),
        TimestampFormat::Compact | TimestampFormat::Dashed => {
            let t = utc(value);
            let date = if format == TimestampFormat::Compact {
                format!("{:04}{:02}{:02}", t.year, t.month, t.day)
            } else {
                format!("{:04}-{:02}-{:02}-", t.year, t.month, t.day)
            };
            format!("{date}{:02}{:02}{:02}", t.hour, t.minute, t.second)
        }
    }
}

/// Hands out the versions of new migrations: strictly increasing, after the
/// newest existing one, in its format.
pub struct Versioner {
    kind: Kind,
}

enum Kind {
    Timestamp {
        format: TimestampFormat,
        next: u64,
        step: u64,
    },
    Sequence {
        next: u128,
        width: usize,
    },
    Dotted {
        prefix: String,
        next: u128,
        separator: String,
    },
    Revision {
        seed: u64,
        count: u64,
    },
}

impl Versioner {
    /// `latest` is the newest existing version (digits for timestamps and
    /// sequences, Flyway's dotted version); `now` is Unix seconds; `seed`
    /// makes Alembic revision ids differ between plans.
    pub fn new(naming: &Naming, latest: Option<&str>, now: u64, seed: &str) -> Versioner {
        let kind = match naming {
            Naming::Timestamp { format } => {
                let (now, step) = match format {
                    TimestampFormat::UnixMillis => (now * 1000, 1000),
                    _ => (now, 1),
                };
                let after = latest.and_then(|l| {
                    let digits: String = l.chars().filter(char::is_ascii_digit).collect();
                    match format {
                        TimestampFormat::Compact | TimestampFormat::Dashed => {
                            parse_compact(&digits)
                        }
                        _ => digits.parse::<u64>().ok(),
                    }
                });
                Kind::Timestamp {
                    format: *format,
                    next: match after {
                        Some(a) if a >= now => a + step,
                        _ => now,
                    },
                    step,
                }
            }
            Naming::Sequence { width } => Kind::Sequence {
                next: latest
                    .and_then(|l| l.trim_start_matches('0').parse::<u128>().ok().or(Some(0)))
                    .map_or(1, |n| n + 1),
                width: *width,
            },
            Naming::Dotted { separator } => {
                let l = latest.unwrap_or("1");
                let (prefix, last) = match l.rfind(['.', '_']) {
                    Some(i) => (&l[..=i], &l[i + 1..]),
                    None => ("", l),
                };
                Kind::Dotted {
                    prefix: prefix.to_string(),
                    next: last.parse::<u128>().map_or(1, |n| n + 1),
                    separator: separator.clone(),
                }
            }
            Naming::Revision { .. } => Kind::Revision {
                seed: fnv(&format!("{seed}\u{0}{now}")),
                count: 0,
            },
        };
        Versioner { kind }
    }

    pub fn next_version(&mut self) -> String {
        match &mut self.kind {
            Kind::Timestamp { format, next, step } => {
                let v = format_ts(*format, *next);
                *next += *step;
                v
            }
            Kind::Sequence { next, width } => {
                let v = format!("{:0w$}", next, w = *width);
                *next += 1;
                v
            }
            Kind::Dotted {
                prefix,
                next,
                separator,
            } => {
                let p = if prefix.is_empty() {
                    String::new()
                } else {
                    format!("{}{}", &prefix[..prefix.len() - 1], separator)
                };
                let v = format!("{p}{next}");
                *next += 1;
                v
            }
            Kind::Revision { seed, count } => {
                *count += 1;
                let h = mix(fnv(&format!("{seed:016x}:{count}")));
                format!("{:012x}", h & 0xffff_ffff_ffff)
            }
        }
    }
}

/// FNV-1a, 64 bits: stable across Rust versions (unlike `DefaultHasher`).
pub fn fnv(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// splitmix64's finaliser: nearby inputs give unrelated outputs.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `Add users.handle` -> `add_users_handle` (ASCII letters, digits and `_`,
/// at most `max` characters, cut at a word boundary).
pub fn slug(text: &str, max: usize) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
    let mut out = out.trim_end_matches('_').to_string();
    if out.len() > max {
        let cut = out[..max]
            .rfind('_')
            .filter(|&i| i > max / 2)
            .unwrap_or(max);
        out.truncate(cut);
    }
    if out.is_empty() {
        out.push_str("schemashift");
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "m_");
    }
    out
}

/// `add_users_handle` -> `AddUsersHandle`.
pub fn camel(slug: &str) -> String {
    slug.split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// Compares versions the way the tool orders them.
pub fn cmp_versions(naming: &Naming, a: &str, b: &str) -> std::cmp::Ordering {
    match naming {
        Naming::Dotted { .. } => crate::detect::cmp_flyway(a, b),
        Naming::Revision { .. } => std::cmp::Ordering::Equal,
        _ => {
            let da: String = a.chars().filter(char::is_ascii_digit).collect();
            let db: String = b.chars().filter(char::is_ascii_digit).collect();
            cmp_numeric(&da, &db)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        assert_eq!(
            format_ts(TimestampFormat::Compact, 1_767_225_600),
            "20260101000000"
        );
        assert_eq!(
            format_ts(TimestampFormat::Dashed, 1_709_210_096),
            "2024-02-29-123456"
        );
        assert_eq!(parse_compact("20240229123456"), Some(1_709_210_096));
        assert_eq!(iso(0), "1970-01-01 00:00:00");
    }

    #[test]
    fn versions_follow_the_latest() {
        let ts = Naming::Timestamp {
            format: TimestampFormat::Compact,
        };
        // The clock is behind the newest migration: go on after it.
        let mut v = Versioner::new(&ts, Some("20991231235959"), 1_767_225_600, "");
        assert_eq!(v.next_version(), "21000101000000");
        assert_eq!(v.next_version(), "21000101000001");
        let mut v = Versioner::new(&ts, Some("20240101000000"), 1_767_225_600, "");
        assert_eq!(v.next_version(), "20260101000000");

        let mut v = Versioner::new(&Naming::Sequence { width: 6 }, Some("000009"), 0, "");
        assert_eq!(v.next_version(), "000010");
        let mut v = Versioner::new(&Naming::Sequence { width: 0 }, None, 0, "");
        assert_eq!(v.next_version(), "1");
        let mut v = Versioner::new(
            &Naming::Dotted {
                separator: ".".into(),
            },
            Some("1.9"),
            0,
            "",
        );
        assert_eq!(v.next_version(), "1.10");
        assert_eq!(v.next_version(), "1.11");
        let ms = Naming::Timestamp {
            format: TimestampFormat::UnixMillis,
        };
        let mut v = Versioner::new(&ms, Some("1700000000000"), 1_767_225_600, "");
        assert_eq!(v.next_version(), "1767225600000");
        assert_eq!(v.next_version(), "1767225601000");
    }

    #[test]
    fn slugs_and_camel_case() {
        assert_eq!(slug("Add users.handle", 60), "add_users_handle");
        assert_eq!(
            slug("Build index users_email_idx concurrently", 60),
            "build_index_users_email_idx_concurrently"
        );
        assert_eq!(
            slug("Release v2, which may write 'refunded'", 20),
            "release_v2_which"
        );
        assert_eq!(camel("add_users_handle"), "AddUsersHandle");
    }
}
