//! PEM and OpenSSH private key blocks, and armoured PGP secret keys.
//!
//! The regex finds the BEGIN line; this validator requires the matching END line within 64 KiB
//! with real base64 content between (indented, in a YAML block, or with `\n` escapes inside a JSON
//! string), so prose that mentions a BEGIN line, or `...` placeholders, are not findings.

use std::ops::Range;

use crate::finding::Hit;

const WINDOW: usize = 64 * 1024;

/// The validator for PEM-like blocks. Capture group 1 of the rule's regex is the block type.
pub fn validate(rule: &str, data: &[u8], m: Range<usize>) -> Option<Hit> {
    let begin = std::str::from_utf8(&data[m.clone()]).ok()?;
    let kind = begin.strip_prefix("-----BEGIN ")?.strip_suffix("-----")?;
    let end_marker = format!("-----END {kind}-----");
    let window_end = (m.end + WINDOW).min(data.len());
    let rest = &data[m.end..window_end];
    let end_rel = memchr::memmem::find(rest, end_marker.as_bytes())?;
    let body = &rest[..end_rel];
    let mut b64 = 0usize;
    let mut i = 0usize;
    while i < body.len() {
        let c = body[i];
        if c == b'\\' && i + 1 < body.len() && matches!(body[i + 1], b'n' | b'r' | b't') {
            i += 2;
            continue;
        }
        if c.is_ascii_alphanumeric() || c == b'+' || c == b'/' || c == b'=' {
            b64 += 1;
        }
        i += 1;
    }
    if b64 < 40 || (memchr::memmem::find(body, b"...").is_some() && b64 < 200) {
        return None;
    }
    let body_start = m.end;
    let body_end = m.end + end_rel;
    Some(
        Hit::new(rule, m, format!("private key block `{kind}` with key data"))
            .with_secret(body_start..body_end)
            .with_property("block_type", kind),
    )
}
