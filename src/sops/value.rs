//! Typed scalar values as sops sees them, and their canonical byte forms.
//!
//! The MAC covers `ToBytes(v)` of the *typed* value (`sops.go:ToBytes`), so every store must reproduce
//! Go's typing and Go's formatting: `strconv.FormatFloat(v, 'f', -1, 64)`, `True`/`False`, `Itoa`,
//! and `time.Time.MarshalText`.

use std::fmt;

/// A leaf value of the tree.
#[derive(Clone, PartialEq)]
pub(crate) enum Scalar {
    /// A string (arbitrary bytes: the binary store need not be UTF-8).
    Str(Vec<u8>),
    /// A Go `int`.
    Int(i64),
    /// A Go `float64`.
    Float(f64),
    /// A Go `bool`.
    Bool(bool),
    /// A `time.Time`, kept as its canonical `MarshalText` form.
    Time(String),
    /// `nil`: never encrypted, never hashed.
    Null,
}

impl fmt::Debug for Scalar {
    // Values may be secrets: Debug shows only their type and size.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scalar::Str(s) => write!(f, "Str(<{} bytes>)", s.len()),
            Scalar::Int(_) => f.write_str("Int(<redacted>)"),
            Scalar::Float(_) => f.write_str("Float(<redacted>)"),
            Scalar::Bool(_) => f.write_str("Bool(<redacted>)"),
            Scalar::Time(_) => f.write_str("Time(<redacted>)"),
            Scalar::Null => f.write_str("Null"),
        }
    }
}

impl Scalar {
    /// `sops.go:ToBytes`: the bytes the MAC covers. `Null` yields nothing.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        match self {
            Scalar::Str(s) => s.clone(),
            Scalar::Int(i) => i.to_string().into_bytes(),
            Scalar::Float(v) => format_float(*v).into_bytes(),
            Scalar::Bool(b) => format_bool(*b).as_bytes().to_vec(),
            Scalar::Time(t) => t.as_bytes().to_vec(),
            Scalar::Null => Vec::new(),
        }
    }

    /// Whether sops would leave this value alone when encrypting (`isEmpty`: only `""`), or skip it
    /// entirely (`nil`).
    pub(crate) fn is_empty_or_null(&self) -> bool {
        matches!(self, Scalar::Null) || matches!(self, Scalar::Str(s) if s.is_empty())
    }
}

/// Go `strings.Title(strconv.FormatBool(b))`.
pub(crate) fn format_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

/// Go `strconv.FormatFloat(v, 'f', -1, 64)`. Rust's `Display` for `f64` prints the shortest
/// round-trip digits without an exponent, like Go; only the non-finite values are spelt differently.
pub(crate) fn format_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{v}")
    }
}

/// Go `strconv.ParseBool`.
pub(crate) fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Go `strconv.Atoi` (base 10, optional sign, 64-bit).
pub(crate) fn parse_go_int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Go `strconv.ParseFloat(s, 64)` for the forms sops writes and a little more (no hex floats, no `_`).
pub(crate) fn parse_go_float(s: &str) -> Option<f64> {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let lower = body.to_ascii_lowercase();
    if lower == "inf" || lower == "infinity" || lower == "nan" {
        return s.parse::<f64>().ok();
    }
    if body.is_empty()
        || !body.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    // Go rejects values out of range (ErrRange) where Rust returns infinity.
    let v: f64 = s.parse().ok()?;
    if v.is_infinite() {
        return None;
    }
    Some(v)
}

/// A parsed Go `time.Time` (wall clock fields plus offset).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct GoTime {
    year: i32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    nanos: u32,
    /// Offset east of UTC in seconds.
    offset: i32,
}

impl GoTime {
    /// `time.Format(time.RFC3339)`: no fraction, `Z` for a zero offset.
    pub(crate) fn format_rfc3339(&self) -> String {
        let mut s = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        );
        self.push_offset(&mut s);
        s
    }

    /// `time.MarshalText` (RFC 3339 with nanoseconds, trailing zeros dropped).
    pub(crate) fn marshal_text(&self) -> String {
        let mut s = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        );
        if self.nanos != 0 {
            let frac = format!("{:09}", self.nanos);
            s.push('.');
            s.push_str(frac.trim_end_matches('0'));
        }
        self.push_offset(&mut s);
        s
    }

    fn push_offset(&self, s: &mut String) {
        if self.offset == 0 {
            s.push('Z');
        } else {
            let sign = if self.offset < 0 { '-' } else { '+' };
            let abs = self.offset.unsigned_abs();
            s.push_str(&format!("{sign}{:02}:{:02}", abs / 3600, (abs / 60) % 60));
        }
    }
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// A tiny cursor over ASCII text for the time parsers.
struct Cur<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cur<'_> {
    fn digits(&mut self, min: usize, max: usize) -> Option<u32> {
        let start = self.i;
        while self.i < self.b.len() && self.i - start < max && self.b[self.i].is_ascii_digit() {
            self.i += 1;
        }
        if self.i - start < min {
            return None;
        }
        let mut v: u32 = 0;
        for &c in &self.b[start..self.i] {
            v = v * 10 + u32::from(c - b'0');
        }
        Some(v)
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn done(&self) -> bool {
        self.i == self.b.len()
    }
}

/// How strictly to read a timestamp.
#[derive(Clone, Copy, PartialEq, Eq)]
enum TimeLayout {
    /// `time.RFC3339` (two-digit fields, `T`, a zone).
    Rfc3339,
    /// yaml.v3's timestamp layouts (1–2 digit fields; `T`, `t` or space; zone optional with space).
    Yaml,
}

fn parse_time(s: &str, layout: TimeLayout) -> Option<GoTime> {
    let mut c = Cur { b: s.as_bytes(), i: 0 };
    let (lo, hi) = if layout == TimeLayout::Rfc3339 { (2, 2) } else { (1, 2) };
    let year = c.digits(4, 4)? as i32;
    if !c.eat(b'-') {
        return None;
    }
    let month = c.digits(lo, hi)?;
    if !c.eat(b'-') {
        return None;
    }
    let day = c.digits(lo, hi)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let mut t = GoTime { year, month, day, hour: 0, minute: 0, second: 0, nanos: 0, offset: 0 };
    if layout == TimeLayout::Yaml && c.done() {
        return Some(t);
    }
    let sep = *c.b.get(c.i)?;
    let with_zone = match (layout, sep) {
        (_, b'T') => true,
        (TimeLayout::Yaml, b't') => true,
        (TimeLayout::Yaml, b' ') => false,
        _ => return None,
    };
    c.i += 1;
    t.hour = c.digits(lo, hi)?;
    if !c.eat(b':') {
        return None;
    }
    t.minute = c.digits(lo, hi)?;
    if !c.eat(b':') {
        return None;
    }
    t.second = c.digits(lo, hi)?;
    if t.hour > 23 || t.minute > 59 || t.second > 59 {
        return None;
    }
    if c.eat(b'.') {
        let start = c.i;
        while c.i < c.b.len() && c.b[c.i].is_ascii_digit() {
            c.i += 1;
        }
        let frac = &s[start..c.i];
        if frac.is_empty() {
            return None;
        }
        let mut nanos: u32 = 0;
        for (k, d) in frac.bytes().take(9).enumerate() {
            let _ = k;
            nanos = nanos * 10 + u32::from(d - b'0');
        }
        for _ in frac.len().min(9)..9 {
            nanos *= 10;
        }
        t.nanos = nanos;
    }
    if !with_zone {
        return c.done().then_some(t);
    }
    if c.eat(b'Z') {
        return c.done().then_some(t);
    }
    let sign = match c.b.get(c.i) {
        Some(b'+') => 1,
        Some(b'-') => -1,
        _ => return None,
    };
    c.i += 1;
    let oh = c.digits(2, 2)?;
    if !c.eat(b':') {
        return None;
    }
    let om = c.digits(2, 2)?;
    if oh > 23 || om > 59 || !c.done() {
        return None;
    }
    t.offset = sign * (oh as i32 * 3600 + om as i32 * 60);
    Some(t)
}

/// Go `time.Parse(time.RFC3339, s)` and `time.Time.UnmarshalText` (fraction allowed).
pub(crate) fn parse_rfc3339_nano(s: &str) -> Option<GoTime> {
    parse_time(s, TimeLayout::Rfc3339)
}

/// yaml.v3 `parseTimestamp`: exactly four leading digits and a `-`, then one of its layouts.
pub(crate) fn parse_yaml_timestamp(s: &str) -> Option<GoTime> {
    let b = s.as_bytes();
    let lead = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if lead != 4 || b.get(4) != Some(&b'-') {
        return None;
    }
    parse_time(s, TimeLayout::Yaml)
}

/// The `(major, minor, patch)` of a sops `version` string (an optional `v`, a pre-release or
/// build suffix ignored, missing parts 0: Python sops wrote `1.13`).
pub(crate) fn parse_version(v: &str) -> Option<(u64, u64, u64)> {
    let v = v.strip_prefix('v').unwrap_or(v);
    let core = v.split(['-', '+']).next().unwrap_or("");
    let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
    let major = parts.next()??;
    let minor = parts.next().unwrap_or(Some(0))?;
    let patch = parts.next().unwrap_or(Some(0))?;
    parts.next().is_none().then_some((major, minor, patch))
}

/// The loosely checked semver of a sops `version` string (after an optional `v`), as
/// `version.AIsNewerThanB` needs it; versions starting with `1.` (Python sops) are accepted too.
pub(crate) fn is_acceptable_version(v: &str) -> bool {
    if v.starts_with("1.") {
        return true;
    }
    let v = v.strip_prefix('v').unwrap_or(v);
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    // blang/semver requires MAJOR.MINOR.PATCH with no leading zeros.
    parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && (p.len() == 1 || !p.starts_with('0'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_format_like_go() {
        assert_eq!(format_float(1e21), "1000000000000000000000");
        assert_eq!(format_float(1.5), "1.5");
        assert_eq!(format_float(1.0), "1");
        assert_eq!(format_float(-0.0), "-0");
        assert_eq!(format_float(f64::INFINITY), "+Inf");
        assert_eq!(format_float(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_float(f64::NAN), "NaN");
        assert_eq!(format_float(1e-7), "0.0000001");
    }

    #[test]
    fn times_marshal_like_go() {
        let t = |s| parse_yaml_timestamp(s).map(|t| t.marshal_text());
        assert_eq!(t("2024-01-01").as_deref(), Some("2024-01-01T00:00:00Z"));
        assert_eq!(t("2001-12-14 21:59:43.10").as_deref(), Some("2001-12-14T21:59:43.1Z"));
        assert_eq!(t("2006-01-02T15:04:05+07:06").as_deref(), Some("2006-01-02T15:04:05+07:06"));
        assert_eq!(t("2006-01-02T15:04:05+00:00").as_deref(), Some("2006-01-02T15:04:05Z"));
        assert_eq!(t("2006-1-2t1:4:5Z").as_deref(), Some("2006-01-02T01:04:05Z"));
        assert_eq!(t("2006-02-30"), None);
        assert_eq!(t("12006-01-01"), None);
        let r = parse_rfc3339_nano("2024-05-06T07:08:09.123+00:00").map(|t| t.format_rfc3339());
        assert_eq!(r.as_deref(), Some("2024-05-06T07:08:09Z"));
        assert!(parse_rfc3339_nano("2024-05-06 07:08:09Z").is_none());
    }

    #[test]
    fn versions() {
        assert!(is_acceptable_version("3.13.2"));
        assert!(is_acceptable_version("v3.7.0"));
        assert!(is_acceptable_version("1.13"));
        assert!(!is_acceptable_version("3.7"));
        assert!(!is_acceptable_version(""));
        assert!(!is_acceptable_version("latest"));
    }

    #[test]
    fn go_scalars() {
        assert_eq!(parse_go_bool("True"), Some(true));
        assert_eq!(parse_go_bool("yes"), None);
        assert_eq!(parse_go_int("+5"), Some(5));
        assert_eq!(parse_go_int("5.0"), None);
        assert_eq!(parse_go_float("1.50"), Some(1.5));
        assert_eq!(parse_go_float("1e400"), None);
    }
}
