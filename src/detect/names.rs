//! File-name rules: decrypted sops output and exported age identities.

use crate::finding::Hit;
use crate::rules::id;

/// The rule id.
pub const RULE: &str = id::FILE_DECRYPTED_COPY;

/// Whether a path's file name says it holds decrypted sops output or an age key.
pub fn is_decrypted_copy(path: &str) -> bool {
    // Called for every file: byte comparisons, no allocation.
    let name = crate::source::file_name(path).as_bytes();
    let ends_with = |suffix: &[u8]| {
        name.len() >= suffix.len() && name[name.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
    };
    if ends_with(b".agekey") || ends_with(b".decrypted") {
        return true;
    }
    if name.windows(11).any(|w| w.eq_ignore_ascii_case(b".decrypted.")) {
        return true;
    }
    const DEC_EXT: &[&[u8]] =
        &[b".dec.yaml", b".dec.yml", b".dec.json", b".dec.env", b".dec.ini", b".dec.txt", b".dec.toml"];
    DEC_EXT.iter().any(|ext| ends_with(ext))
}

/// Reports a decrypted copy.
pub fn check(path: &str, hits: &mut Vec<Hit>) {
    if is_decrypted_copy(path) {
        hits.push(
            Hit::new(RULE, 0..0, "file name says it holds decrypted sops output or an age key")
                .with_identity(format!("name:{path}")),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for p in [
            "a/b.dec.yaml",
            "x.decrypted.json",
            "k/cluster.agekey",
            "secret.DEC.YML",
            "a.decrypted",
            "x.DECRYPTED.Y",
        ] {
            assert!(is_decrypted_copy(p), "{p}");
        }
        for p in ["a/b.sops.yaml", "decoder.yaml", "dec.yaml", "agekey.md", "a.dec.yaml/b"] {
            assert!(!is_decrypted_copy(p), "{p}");
        }
    }
}
