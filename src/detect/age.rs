//! Age identities: `AGE-SECRET-KEY-1…` and the post-quantum `AGE-SECRET-KEY-PQ-1…`.
//!
//! The regex finds candidates; this validator decodes them with the `bech32` crate. A valid
//! checksum with a 32-byte payload is a real key (`age/identity`, error). A checksum failure on a
//! string of exactly the right shape is reported as `age/identity-malformed` (warning): most often a
//! real key with a character changed, which is trivial to brute-force back. Documentation
//! placeholders (`EXAMPLE`, long runs of one character, characters outside the Bech32 alphabet,
//! mixed case) are dropped: this is what keeps the false-positive rate at zero.

use std::ops::Range;

use bech32::primitives::decode::CheckedHrpstring;
use bech32::Bech32;

use crate::finding::Hit;
use crate::rules::id;

/// The rule for checksum failures.
pub const MALFORMED_RULE: &str = id::AGE_IDENTITY_MALFORMED;

const CHARSET: &[u8] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";

/// What a candidate string is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A valid identity (checksum and length).
    Valid,
    /// The right shape but a bad checksum.
    BadChecksum,
    /// Not an identity (placeholder, wrong alphabet, wrong length).
    NotAKey,
}

/// Classifies a candidate identity string.
pub fn classify(s: &str) -> Verdict {
    let has_upper = s.bytes().any(|b| b.is_ascii_uppercase());
    let has_lower = s.bytes().any(|b| b.is_ascii_lowercase());
    if has_upper && has_lower {
        return Verdict::NotAKey;
    }
    let Some(sep) = s.rfind('1') else {
        return Verdict::NotAKey;
    };
    let hrp = s[..sep].to_ascii_lowercase();
    if hrp != "age-secret-key-" && hrp != "age-secret-key-pq-" {
        return Verdict::NotAKey;
    }
    let payload = s[sep + 1..].to_ascii_lowercase();
    if payload.len() != 58 || !payload.bytes().all(|b| CHARSET.contains(&b)) || is_placeholder(&payload) {
        return Verdict::NotAKey;
    }
    match CheckedHrpstring::new::<Bech32>(s) {
        Ok(checked) => {
            if checked.byte_iter().count() == 32 {
                Verdict::Valid
            } else {
                Verdict::NotAKey
            }
        }
        Err(_) => Verdict::BadChecksum,
    }
}

fn is_placeholder(payload: &str) -> bool {
    const WORDS: &[&str] = &["example", "xxxxxx", "placeholder", "redacted", "changeme", "dummy"];
    if WORDS.iter().any(|w| payload.contains(w)) {
        return true;
    }
    // Ten identical characters in a row: probability ~2^-45 per position for a real key.
    let b = payload.as_bytes();
    b.windows(10).any(|w| w.iter().all(|&c| c == w[0]))
}

/// The public recipient (`age1…`) of an X25519 identity string. Public information: it names the
/// key that leaked without revealing it. `None` for post-quantum identities.
pub fn recipient_of(identity: &str) -> Option<String> {
    let upper = zeroize::Zeroizing::new(identity.to_ascii_uppercase());
    let id: age::x25519::Identity = upper.parse().ok()?;
    Some(id.to_public().to_string())
}

/// The validator for `age/identity`.
pub fn validate(rule: &str, data: &[u8], m: Range<usize>) -> Option<Hit> {
    let s = std::str::from_utf8(&data[m.clone()]).ok()?;
    let sep = s.rfind('1')?;
    let secret = m.start + sep + 1..m.end;
    let pq = s.len() > 18 && s[..18].eq_ignore_ascii_case("age-secret-key-pq-");
    let kind = if pq { "post-quantum age identity" } else { "age identity" };
    match classify(s) {
        Verdict::Valid => {
            let mut hit = Hit::new(rule, m, format!("{kind} (private key) with a valid checksum"))
                .with_secret(secret)
                .with_property("post_quantum", pq);
            if let Some(r) = recipient_of(s) {
                hit.message = format!("{kind} (private key) for recipient {r}");
                hit = hit.with_property("recipient", r);
            }
            Some(hit)
        }
        Verdict::BadChecksum => Some(
            Hit::new(MALFORMED_RULE, m, format!("malformed {kind}: the Bech32 checksum does not verify"))
                .with_secret(secret)
                .with_property("post_quantum", pq),
        ),
        Verdict::NotAKey => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use age::secrecy::ExposeSecret;

    #[test]
    fn fresh_identities_are_valid_and_corruptions_are_not() {
        let id = age::x25519::Identity::generate();
        let s = id.to_string();
        let s = s.expose_secret();
        assert_eq!(classify(s), Verdict::Valid);
        assert_eq!(classify(&s.to_ascii_lowercase()), Verdict::Valid);
        assert_eq!(recipient_of(&s.to_ascii_lowercase()), Some(id.to_public().to_string()));
        // Change one payload character to another alphabet character.
        let mut b = s.as_bytes().to_vec();
        let last = b.len() - 3;
        b[last] = if b[last] == b'Q' { b'P' } else { b'Q' };
        let bad = String::from_utf8(b).unwrap();
        assert_eq!(classify(&bad), Verdict::BadChecksum);
    }

    #[test]
    fn placeholders_are_not_keys() {
        for p in [
            "AGE-SECRET-KEY-1EXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMPLE",
            "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ",
            "AGE-SECRET-KEY-1short",
            "Age-Secret-Key-1QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7LQPZRY9X8GF2TVDW0S3JN54KHCE",
        ] {
            assert_eq!(classify(p), Verdict::NotAKey, "{p}");
        }
    }
}
