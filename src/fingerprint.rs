//! Content-based fingerprints.
//!
//! A fingerprint identifies a finding across runs: it is stable when lines move or a file is
//! reformatted (white space and quotes are normalised away, line numbers are not part of it), and it
//! changes when the secret changes. It must not let anyone recover the secret: for findings that
//! carry secret material the fingerprint is Argon2id (memory-hard, keyed with a product-wide secret
//! and salted with the rule id and path), so even a short password cannot be brute-forced back at
//! any useful rate. Findings without secret material (a missing recipient, a bad MAC) hash their
//! public identity with SHA-256.
//!
//! Cost: Argon2id with 4 MiB and one pass, about 3 ms per distinct (rule, path, secret); results are
//! cached in memory for the run.

use std::collections::HashMap;
use std::sync::Mutex;

use argon2::{Algorithm, Argon2, Params, Version};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

const DOMAIN: &[u8] = b"sopsguard-fingerprint-v1";
/// The Argon2 "secret" (pepper). Public, but it separates our hashes from any other Argon2 use.
const PEPPER: &[u8] = b"sopsguard fingerprint pepper v1: not a password hash";

fn salt(rule: &str, path: &str) -> [u8; 16] {
    let mut h = Sha256::new();
    h.update(DOMAIN);
    h.update([0]);
    h.update(rule.as_bytes());
    h.update([0]);
    h.update(path.as_bytes());
    let d = h.finalize();
    let mut s = [0u8; 16];
    s.copy_from_slice(&d[..16]);
    s
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

/// In-memory cache: the same secret at the same path is met again and again in a history scan
/// (every version of a file that kept it). Keyed by a SHA-256 of rule, path and secret; lives only
/// in this process and is never written anywhere.
static CACHE: Mutex<Option<HashMap<[u8; 32], String>>> = Mutex::new(None);
const CACHE_MAX: usize = 100_000;

/// Fingerprint of a finding with secret material.
pub fn of_secret(rule: &str, path: &str, secret: &[u8]) -> String {
    let normalized = normalize_secret(secret);
    let mut h = Sha256::new();
    h.update(PEPPER);
    h.update(salt(rule, path));
    h.update(&normalized[..]);
    let key: [u8; 32] = h.finalize().into();
    if let Some(hit) = CACHE.lock().ok().and_then(|c| c.as_ref().and_then(|m| m.get(&key).cloned())) {
        return hit;
    }
    let fp = compute(rule, path, &normalized);
    if let Ok(mut c) = CACHE.lock() {
        let map = c.get_or_insert_with(HashMap::new);
        if map.len() >= CACHE_MAX {
            map.clear();
        }
        map.insert(key, fp.clone());
    }
    fp
}

fn compute(rule: &str, path: &str, normalized: &[u8]) -> String {
    let params = Params::new(4096, 1, 1, Some(16)).expect("constant Argon2 parameters are valid");
    let mut out = [0u8; 16];
    let ok = Argon2::new_with_secret(PEPPER, Algorithm::Argon2id, Version::V0x13, params)
        .and_then(|a| a.hash_password_into(normalized, &salt(rule, path), &mut out));
    if ok.is_err() {
        // Only possible for absurd lengths; fall back to a keyed SHA-256 of the salt and length.
        let mut h = Sha256::new();
        h.update(PEPPER);
        h.update(salt(rule, path));
        h.update((normalized.len() as u64).to_le_bytes());
        out.copy_from_slice(&h.finalize()[..16]);
    }
    hex::encode(out)
}

/// Fingerprint of a finding without secret material.
pub fn of_identity(rule: &str, path: &str, identity: &str) -> String {
    let mut h = Sha256::new();
    h.update(DOMAIN);
    h.update(salt(rule, path));
    h.update(identity.as_bytes());
    hex::encode(&h.finalize()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_under_reformatting_and_distinct_otherwise() {
        let a = of_secret("k8s/plaintext-secret", "s.yaml", b"\"hunter2\"");
        let b = of_secret("k8s/plaintext-secret", "s.yaml", b"hunter2");
        let c = of_secret("k8s/plaintext-secret", "s.yaml", b"hunter3");
        let d = of_secret("k8s/plaintext-secret", "t.yaml", b"hunter2");
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
        assert_eq!(a.len(), 32);
        assert!(!a.contains("hunter"));
    }
}
