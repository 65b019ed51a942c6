//! File-name rules: decrypted sops output and exported age identities.

use crate::finding::Hit;

/// The rule id.
pub const RULE: &str = "file/decrypted-copy";

/// Whether a path's file name says it holds decrypted sops output or an age key.
pub fn is_decrypted_copy(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
    if name.ends_with(".agekey") || name.ends_with(".decrypted") || name.contains(".decrypted.") {
        return true;
    }
    const DEC_EXT: &[&str] = &["yaml", "yml", "json", "env", "ini", "txt", "toml"];
    DEC_EXT.iter().any(|ext| name.ends_with(&format!(".dec.{ext}")))
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
        for p in ["a/b.dec.yaml", "x.decrypted.json", "k/cluster.agekey", "secret.DEC.YML", "a.decrypted"] {
            assert!(is_decrypted_copy(p), "{p}");
        }
        for p in ["a/b.sops.yaml", "decoder.yaml", "dec.yaml", "agekey.md"] {
            assert!(!is_decrypted_copy(p), "{p}");
        }
    }
}
