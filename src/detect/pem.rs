//! PEM and OpenSSH private key blocks, and armoured PGP secret keys.
//!
//! The regex finds the BEGIN line; this validator requires the matching END line, as the next
//! armour line, within 64 KiB
//! with real base64 content between (indented, in a YAML block, or with `\n` escapes inside a JSON
//! string), so prose that mentions a BEGIN line, or `...` placeholders, are not findings. Key data
//! means: every line between BEGIN and END (lines also split at `\n` escapes, indentation, quotes
//! and trailing commas removed) is either an armour header (`Proc-Type: …`) or pure base64, with at
//! least 40 base64 characters in all.

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
    // The END line must be the next armour line: key data holds no `-----`. Stopping at the next
    // one keeps the cost linear however many BEGIN lines a file holds (each search ends where the
    // next block starts).
    let end_rel = memchr::memmem::find(rest, b"-----")?;
    if !rest[end_rel..].starts_with(end_marker.as_bytes()) {
        return None;
    }
    let body = &rest[..end_rel];
    if !looks_like_key_data(body) {
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

/// Whether the text between BEGIN and END is armour headers and base64 lines only.
fn looks_like_key_data(body: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(body) else { return false };
    let text = text.replace("\\r\\n", "\n").replace("\\n", "\n");
    let mut b64 = 0usize;
    for raw in text.split('\n') {
        let line = raw.trim().trim_end_matches(['"', '\'', ',']).trim_start_matches(['"', '\'']).trim();
        if line.is_empty() {
            continue;
        }
        if let Some((k, _)) = line.split_once(": ") {
            if !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                continue;
            }
        }
        if !line.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=') {
            return false;
        }
        b64 += line.len();
    }
    b64 >= 40
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_data_shapes() {
        assert!(looks_like_key_data(b"\nMIIEowIBAAKCAQEAv0dHjm1lTEl6q2Gqz2Rr0yqWb8YtGkC1JxQ1n9m5N2zxk8Hk\n"));
        assert!(looks_like_key_data(
            b"\\nMHcCAQEEIIrYSSNQFaA2Hwf1duRSxKtLYX5CB04fSeQ6tF1aY/PuoAoGCCqGSM49\\nAwEHoUQDQgAE\\n"
        ));
        assert!(looks_like_key_data(b"\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,1234\n\nMIIEowIBAAKCAQEAv0dHjm1lTEl6q2Gqz2Rr0yqWb8YtGkC1JxQ1\n"));
        assert!(!looks_like_key_data(b"`) followed by the key data and the END line (`"));
        assert!(!looks_like_key_data(b"\n...\n"));
    }
}
