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

/// Most base64 text read after a `LS0tLS1CRUdJTi` (base64 of `-----BEGIN `) match: enough for any
/// key block, and the decode stays bounded whatever the file holds.
const B64_WINDOW: usize = 96 * 1024;

/// The validator for base64-wrapped PEM blocks (a kubeconfig's `client-key-data`, a Talos
/// `ca.key`, a Secret's `tls.key`, a Helm value): decodes the base64 run that starts at the match
/// (one level only; line breaks, indentation and `\n` escapes inside the run are skipped) and
/// reports it when what it decodes to holds a private key block with key data, as [`validate`]
/// judges it. The location is the encoded text; the message names the decoded block type.
pub fn validate_base64(rule: &str, data: &[u8], m: Range<usize>) -> Option<Hit> {
    let (decoded, end) = decode_run(data, m.start);
    let decoded = zeroize::Zeroizing::new(decoded);
    let mut at = 0;
    while let Some(rel) = memchr::memmem::find(&decoded[at..], b"-----BEGIN ") {
        let start = at + rel;
        let line_end = decoded[start..].iter().position(|&b| b == b'\n').map_or(decoded.len(), |p| start + p);
        let line = &decoded[start..line_end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.ends_with(b"PRIVATE KEY-----") {
            if let Some(inner) = validate(rule, &decoded, start..start + line.len()) {
                let kind =
                    inner.properties.get("block_type").and_then(|v| v.as_str()).unwrap_or("").to_owned();
                return Some(
                    Hit::new(
                        rule,
                        m.start..end,
                        format!("base64-encoded private key block `{kind}` with key data"),
                    )
                    .with_secret(m.start..end)
                    .with_property("block_type", kind)
                    .with_property("encoding", "base64"),
                );
            }
        }
        at = start + 11;
    }
    None
}

/// Decodes the base64 run starting at `start`, four characters at a time, until a character that
/// is not base64 (or a padded group) ends it. Returns the bytes and where the run ends.
fn decode_run(data: &[u8], start: usize) -> (Vec<u8>, usize) {
    fn val(c: u8) -> Option<u8> {
        match c {
            b'A'..=b'Z' => Some(c - b'A'),
            b'a'..=b'z' => Some(c - b'a' + 26),
            b'0'..=b'9' => Some(c - b'0' + 52),
            b'+' | b'-' => Some(62),
            b'/' | b'_' => Some(63),
            _ => None,
        }
    }
    let limit = (start + B64_WINDOW).min(data.len());
    let mut out = Vec::new();
    let mut group = [0u8; 4];
    let mut n = 0;
    let mut i = start;
    let mut end = start;
    while i < limit {
        let c = data[i];
        if let Some(v) = val(c) {
            group[n] = v;
            n += 1;
            i += 1;
            if n == 4 {
                out.push(group[0] << 2 | group[1] >> 4);
                out.push(group[1] << 4 | group[2] >> 2);
                out.push(group[2] << 6 | group[3]);
                n = 0;
                end = i;
            }
        } else if c == b'=' {
            // Padding ends the run.
            if n >= 2 {
                out.push(group[0] << 2 | group[1] >> 4);
                if n == 3 {
                    out.push(group[1] << 4 | group[2] >> 2);
                }
            }
            while i < limit && data[i] == b'=' {
                i += 1;
            }
            end = i;
            break;
        } else if matches!(c, b'\n' | b'\r' | b' ' | b'\t') {
            i += 1;
        } else if c == b'\\' && matches!(data.get(i + 1), Some(b'n' | b'r')) {
            i += 2;
        } else {
            break;
        }
    }
    (out, end.max(start))
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
