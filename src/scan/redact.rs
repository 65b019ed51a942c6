//! What a finding shows of its file: a secret's first characters ([`redact`]), a label's own
//! text, and the source line cut to the key and the redacted span, every secret on it redacted.

use std::ops::Range;

use crate::finding::Context;

/// The first few characters of a secret, then `…`. Never more than 3 characters, and never more
/// than a sixth of the secret.
pub fn redact(secret: &[u8]) -> String {
    match std::str::from_utf8(secret) {
        Ok(s) => {
            let s = s.trim();
            let n = (s.chars().count() / 6).min(3);
            let mut out: String = s.chars().take(n).filter(|c| !c.is_control()).collect();
            out.push('…');
            out
        }
        Err(_) => "…".to_owned(),
    }
}

/// A label's own text (for findings without secret material), one line, short, and never
/// overlapping a secret.
pub(super) fn label_text(data: &[u8], span: &Range<usize>, secrets: &[Range<usize>]) -> String {
    if secrets.iter().any(|s| s.start < span.end && span.start < s.end) {
        return "…".to_owned();
    }
    let raw = String::from_utf8_lossy(&data[span.clone()]);
    let first = raw.lines().next().unwrap_or("");
    let mut out: String = first.chars().take(80).filter(|c| !c.is_control()).collect();
    if first.chars().count() > 80 || raw.lines().nth(1).is_some() {
        out.push('…');
    }
    out
}

pub(super) fn line_col(data: &[u8], pos: usize) -> (usize, usize) {
    LineIndex::new(data).line_col(data, pos)
}

/// Line starts of one file.
pub(super) struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub(super) fn new(data: &[u8]) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(memchr::memchr_iter(b'\n', data).map(|p| p + 1));
        LineIndex { starts }
    }

    pub(super) fn line_of(&self, pos: usize) -> usize {
        self.starts.partition_point(|&s| s <= pos).max(1) - 1
    }

    pub(super) fn line_bounds(&self, data: &[u8], line: usize) -> Range<usize> {
        let start = self.starts[line];
        let mut end = self.starts.get(line + 1).map_or(data.len(), |&e| e - 1);
        if end > start && data[end - 1] == b'\r' {
            end -= 1;
        }
        start..end.max(start)
    }

    /// 1-based line and column (characters).
    pub(super) fn line_col(&self, data: &[u8], pos: usize) -> (usize, usize) {
        let line = self.line_of(pos);
        let start = self.starts[line];
        let prefix = &data[start..pos.max(start).min(data.len())];
        let col = match std::str::from_utf8(prefix) {
            Ok(s) => s.chars().count(),
            Err(_) => prefix.len(),
        };
        (line + 1, col + 1)
    }

    /// What the source line shows of a finding: the line's indentation, the key the span belongs
    /// to (the word and separator just before it), the span itself and the hit's own secret, every
    /// secret redacted. Nothing else of the line is shown, so a neighbouring value (another secret,
    /// or one no rule recognised) never reaches the output.
    pub(super) fn context(
        &self,
        data: &[u8],
        span: &Range<usize>,
        own: Option<&Range<usize>>,
        secrets: &[Range<usize>],
    ) -> Option<Context> {
        let line = self.line_of(span.start);
        let bounds = self.line_bounds(data, line);
        let start = span.start.clamp(bounds.start, bounds.end);
        let mut stop = span.end.clamp(start, bounds.end);
        if let Some(own) = own.filter(|o| o.start >= bounds.start && o.start <= bounds.end) {
            stop = stop.max(own.end.min(bounds.end));
        }
        let prefix = &data[bounds.start..start];
        let indent = prefix.iter().take_while(|&&b| b == b' ' || b == b'\t').count();
        let mut key_from = key_tail(prefix).max(indent);
        let overlaps = |a: usize, b: usize| secrets.iter().any(|s| s.start < b && a < s.end);
        if overlaps(bounds.start + key_from, start) {
            key_from = prefix.len();
        }
        let mut text = String::new();
        text.push_str(&" ".repeat(indent));
        if key_from > indent {
            // Words between the indentation and the key are left out; a YAML list marker stays.
            let between = &prefix[indent..key_from];
            if between.iter().all(|&b| b == b'-' || b == b' ' || b == b'\t') {
                push_visible(&mut text, between);
            } else {
                text.push_str("… ");
            }
        }
        push_visible(&mut text, &data[bounds.start + key_from..start]);
        let label_start = text.len();
        let span_end = span.end.clamp(start, bounds.end);
        let mut label_end = None;
        let mut pos = start;
        let mut cut = false;
        while pos < stop {
            if pos >= span_end && label_end.is_none() {
                label_end = Some(text.len());
            }
            if let Some(sec) = secrets.iter().find(|s| s.start <= pos && pos < s.end) {
                text.push_str(&redact(&data[sec.clone()]));
                pos = sec.end.min(bounds.end).max(pos + 1);
                continue;
            }
            let mut next =
                secrets.iter().filter(|s| s.start > pos).map(|s| s.start).min().unwrap_or(stop).min(stop);
            if pos < span_end {
                next = next.min(span_end);
            }
            push_visible(&mut text, &data[pos..next]);
            pos = next;
            if text.len() - label_start > 160 {
                cut = true;
                break;
            }
        }
        if cut {
            text.push('…');
        }
        let label_end = label_end.unwrap_or(text.len()).max(label_start);
        let (text, label_start, label_end) = window(text, label_start, label_end);
        Some(Context { text, label_start, label_len: label_end - label_start })
    }
}

/// Where the key of a value at the end of `prefix` starts: `key: `, `"key": "`, `key=` (the
/// word, its quotes and the separator). `prefix.len()` when there is none.
fn key_tail(prefix: &[u8]) -> usize {
    let mut i = prefix.len();
    let skip = |i: &mut usize, f: &dyn Fn(u8) -> bool, max: usize| {
        let mut n = 0;
        while *i > 0 && n < max && f(prefix[*i - 1]) {
            *i -= 1;
            n += 1;
        }
    };
    let space = |b: u8| b == b' ' || b == b'\t';
    let quote = |b: u8| b == b'"' || b == b'\'';
    skip(&mut i, &space, usize::MAX);
    skip(&mut i, &quote, 1);
    skip(&mut i, &space, usize::MAX);
    let before_sep = i;
    skip(&mut i, &|b| b == b':' || b == b'=', 1);
    if i == before_sep {
        return prefix.len();
    }
    skip(&mut i, &space, usize::MAX);
    skip(&mut i, &quote, 1);
    let word_end = i;
    skip(&mut i, &|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'/' | b'@'), 64);
    if i == word_end {
        return prefix.len();
    }
    skip(&mut i, &quote, 1);
    skip(&mut i, &|b| b == b'-', 1);
    i
}

/// Appends bytes as text, with invalid UTF-8 as U+FFFD and unsafe characters escaped visibly.
fn push_visible(text: &mut String, bytes: &[u8]) {
    let s = String::from_utf8_lossy(bytes);
    text.push_str(&crate::textsafe::escape(&s));
}

/// Cuts a long line to at most ~240 characters around the label.
fn window(text: String, start: usize, end: usize) -> (String, usize, usize) {
    const MAX: usize = 240;
    if text.len() <= MAX {
        return (text, start, end);
    }
    let mut from = start.saturating_sub(80);
    while !text.is_char_boundary(from) {
        from -= 1;
    }
    let mut to = (end.max(start + 1) + 80).min(text.len()).max(from);
    while !text.is_char_boundary(to) {
        to += 1;
    }
    let mut out = String::new();
    let mut shift = 0usize;
    if from > 0 {
        out.push('…');
        shift = '…'.len_utf8();
    }
    out.push_str(&text[from..to]);
    if to < text.len() {
        out.push('…');
    }
    let ns = start - from + shift;
    let ne = (end.min(to) - from + shift).max(ns);
    (out, ns, ne)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_is_short() {
        assert_eq!(redact(b"hunter2"), "h…");
        assert_eq!(redact(b"abc"), "…");
        assert_eq!(redact(&[0xff, 0xfe]), "…");
        assert_eq!(redact("QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7LQPZRY9X8GF2TVDW0S3JN54KHCE".as_bytes()), "QPZ…");
    }

    #[test]
    fn context_redacts_every_secret_on_the_line() {
        let data = b"a: 1\npassword: hunter2222 # and AGE-XYZ\n";
        let lines = LineIndex::new(data);
        let span = 5..13;
        let secrets = vec![15..25, 32..39];
        let ctx = lines.context(data, &span, None, &secrets).unwrap();
        assert_eq!(ctx.text, "password");
        assert_eq!(&ctx.text[ctx.label_start..ctx.label_start + ctx.label_len], "password");
        // The value is shown redacted with its key, and nothing after it on the line.
        let ctx = lines.context(data, &(15..25), Some(&(15..25)), &secrets).unwrap();
        assert_eq!(ctx.text, "password: h…");
        assert_eq!(lines.line_col(data, 15), (2, 11));
        let data = b"  db: {user: admin, password: hunter2222, other: NotDetected}\n";
        let lines = LineIndex::new(data);
        let at = 30;
        let secrets: Vec<Range<usize>> = std::iter::once(at..at + 10).collect();
        let ctx = lines.context(data, &(at..at + 10), Some(&(at..at + 10)), &secrets).unwrap();
        assert_eq!(ctx.text, "  … password: h…");
        assert!(!ctx.text.contains("admin") && !ctx.text.contains("NotDetected"));
    }
}
