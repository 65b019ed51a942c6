//! Fingerprints: a stable identity for each finding, that cannot be turned back into the secret.
//!
//! A fingerprint identifies a finding across runs and machines (baselines and SARIF
//! `partialFingerprints` match on it): it stays the same when lines move or a file is reformatted
//! (line numbers are not part of it) and is the same on every machine.
//!
//! **What a published fingerprint reveals.** A fingerprint appears in SARIF uploads, JSON reports
//! and baseline files, which are often public. If it were computed from the secret with a key that
//! ships in the binary, anyone holding a fingerprint could test guesses of the secret offline, at
//! whatever rate the hash allows (a memory-hard hash only slows that down; a short password or PIN
//! still falls). So by default a fingerprint holds **no secret material at all**: it is a SHA-256
//! of the rule id, the path and the finding's *structural* identity (the Secret name and key, the
//! public recipient of an age identity, the config key a problem is about, …), plus the ordinal of
//! the finding among those with the same identity in the file. Nothing can be learnt from it that
//! the report does not already say.
//!
//! **Keyed mode.** With `SOPSGUARD_FINGERPRINT_KEY` set (a CI secret, at least 16 bytes), the
//! normalised secret is mixed in with HMAC-SHA256 under that key instead of the ordinal, so a new
//! secret at the same place gets a new fingerprint (a baseline then no longer hides a rotated and
//! re-leaked value). Guessing the secret from such a fingerprint needs the key. Baselines are
//! stable across machines that use the same key; a baseline written in one mode does not match in
//! the other (the two modes are separated by their domain strings).
//!
//! Cost: one SHA-256 or HMAC per finding, microseconds; no cache is needed.

use std::sync::OnceLock;

use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// The environment variable holding the fingerprint key (read by `main.rs` only).
pub const KEY_ENV: &str = "SOPSGUARD_FINGERPRINT_KEY";

/// Shortest key accepted, in bytes.
pub const MIN_KEY_LEN: usize = 16;

const DOMAIN_PUBLIC: &[u8] = b"sopsguard-fingerprint-v2-structural";
const DOMAIN_KEYED: &[u8] = b"sopsguard-fingerprint-v2-keyed";

static KEY: OnceLock<Zeroizing<Vec<u8>>> = OnceLock::new();

/// Sets the key for keyed fingerprints, once per process. Returns `false` when a key was already
/// set (the first one stays).
pub fn set_key(key: &[u8]) -> bool {
    KEY.set(Zeroizing::new(key.to_vec())).is_ok()
}

/// Whether fingerprints are keyed in this process.
pub fn is_keyed() -> bool {
    KEY.get().is_some()
}

/// The key of [`secret_id`]: drawn at random once per process (from the seeds the standard
/// library's `RandomState` takes from the operating system), never stored or printed.
static SESSION_KEY: OnceLock<Zeroizing<Vec<u8>>> = OnceLock::new();

fn session_key() -> &'static [u8] {
    SESSION_KEY.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        let mut key = Zeroizing::new(Vec::with_capacity(32));
        for i in 0u8..4 {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u8(i);
            key.extend_from_slice(&h.finish().to_le_bytes());
        }
        key
    })
}

/// Which secret this is, within this process only: an HMAC of the normalised secret under a key
/// drawn at random when the process starts. Two findings with equal ids hold the same secret; the
/// id means nothing outside the process, so it is never written anywhere.
pub fn secret_id(secret: &[u8]) -> [u8; 16] {
    let normalized = normalize_secret(secret);
    let mut out = [0u8; 16];
    if let Ok(mut mac) = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(session_key()) {
        mac.update(&normalized);
        out.copy_from_slice(&mac.finalize().into_bytes()[..16]);
    }
    out
}

/// Removes what reformatting changes: ASCII white space, quotes, `\n` escapes.
pub fn normalize_secret(secret: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(secret.len()));
    let mut i = 0;
    while i < secret.len() {
        let c = secret[i];
        if c == b'\\' && i + 1 < secret.len() && matches!(secret[i + 1], b'n' | b'r' | b't') {
            i += 2;
            continue;
        }
        if !c.is_ascii_whitespace() && c != b'"' && c != b'\'' {
            out.push(c);
        }
        i += 1;
    }
    out
}

fn field(h: &mut impl FnMut(&[u8]), bytes: &[u8]) {
    h(&(bytes.len() as u64).to_le_bytes());
    h(bytes);
}

/// Fingerprint of a finding with secret material. `structural` is the finding's public identity
/// within the file and `ordinal` its position among the findings of the same rule and identity
/// there; the secret itself is used only in keyed mode.
pub fn of_secret(rule: &str, path: &str, structural: &str, ordinal: usize, secret: &[u8]) -> String {
    match KEY.get() {
        Some(key) => {
            let normalized = normalize_secret(secret);
            let Ok(mut mac) = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(key) else {
                return of_public(rule, path, structural, ordinal);
            };
            let mut put = |b: &[u8]| mac.update(b);
            field(&mut put, DOMAIN_KEYED);
            field(&mut put, rule.as_bytes());
            field(&mut put, path.as_bytes());
            field(&mut put, structural.as_bytes());
            field(&mut put, &normalized);
            hex::encode(&mac.finalize().into_bytes()[..16])
        }
        None => of_public(rule, path, structural, ordinal),
    }
}

fn of_public(rule: &str, path: &str, structural: &str, ordinal: usize) -> String {
    let mut h = Sha256::new();
    let mut put = |b: &[u8]| h.update(b);
    field(&mut put, DOMAIN_PUBLIC);
    field(&mut put, rule.as_bytes());
    field(&mut put, path.as_bytes());
    field(&mut put, structural.as_bytes());
    put(&(ordinal as u64).to_le_bytes());
    hex::encode(&h.finalize()[..16])
}

/// Fingerprint of a finding without secret material (a missing recipient, a bad MAC): its public
/// identity. The same in both modes.
pub fn of_identity(rule: &str, path: &str, identity: &str) -> String {
    of_public(rule, path, identity, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structural_fingerprints_hold_no_secret_and_are_stable() {
        // Without a key (the unit tests never set one), the secret does not enter at all.
        let a = of_secret("k8s/plaintext-secret", "s.yaml", "data.password", 0, b"\"hunter2\"");
        let b = of_secret("k8s/plaintext-secret", "s.yaml", "data.password", 0, b"hunter3");
        let c = of_secret("k8s/plaintext-secret", "s.yaml", "data.password", 1, b"hunter2");
        let d = of_secret("k8s/plaintext-secret", "t.yaml", "data.password", 0, b"hunter2");
        let e = of_secret("k8s/plaintext-secret", "s.yaml", "data.user", 0, b"hunter2");
        assert_eq!(a, b, "the value must not change a structural fingerprint");
        assert_ne!(a, c);
        assert_ne!(a, d);
        assert_ne!(a, e);
        assert_eq!(a.len(), 32);
        assert_eq!(of_identity("r", "p", "x"), of_public("r", "p", "x", 0));
    }

    #[test]
    fn fields_cannot_run_into_each_other() {
        assert_ne!(of_identity("a/b", "cd", ""), of_identity("a/bc", "d", ""));
    }

    #[test]
    fn normalisation_removes_quotes_and_white_space() {
        assert_eq!(&normalize_secret(b" \"a b\\n\" ")[..], b"ab");
    }
}
