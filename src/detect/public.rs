//! Material that is public by construction, so never a secret whatever rule covers it: X.509
//! certificates, certificate requests and CRLs, PEM and OpenPGP public keys, OpenSSH public keys
//! and `known_hosts` lines, and age recipients (`age1…`, the post-quantum `age1pq1…`).
//!
//! A value or file is public only when *every* line of it is: comment lines, blank lines and the
//! indicator of a YAML block scalar aside. One private key, token or password line anywhere makes
//! it something else, and the callers treat it as they would any other value.

/// PEM labels of public material.
const PUBLIC_PEM_LABELS: &[&str] = &[
    "CERTIFICATE",
    "TRUSTED CERTIFICATE",
    "X509 CERTIFICATE",
    "CERTIFICATE REQUEST",
    "NEW CERTIFICATE REQUEST",
    "X509 CRL",
    "PUBLIC KEY",
    "RSA PUBLIC KEY",
    "DH PARAMETERS",
    "EC PARAMETERS",
    "PGP PUBLIC KEY BLOCK",
    "PGP SIGNATURE",
    "SSH2 PUBLIC KEY",
];

/// OpenSSH public key types.
const SSH_KEY_TYPES: &[&str] = &[
    "ssh-ed25519",
    "ssh-rsa",
    "ssh-dss",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

/// Whether `text` (a whole file, or one value as written in its file) is nothing but public
/// material. Text with nothing in it is not: there is nothing to call public.
pub fn is_public_material(text: &str) -> bool {
    // A JSON or double-quoted YAML string keeps its newlines as `\n`.
    let unescaped;
    let text = if text.contains("\\n") {
        unescaped = text.replace("\\r\\n", "\n").replace("\\n", "\n");
        unescaped.as_str()
    } else {
        text
    };
    let mut seen = false;
    let mut pem: Option<&str> = None;
    for line in text.lines() {
        let t = line.trim().trim_matches(|c| c == '"' || c == '\'').trim();
        if let Some(label) = pem {
            if let Some(end) = t.strip_prefix("-----END ").and_then(|r| r.strip_suffix("-----")) {
                if end != label {
                    return false;
                }
                pem = None;
                seen = true;
            } else if !(is_base64_line(t) || is_armor_header(t)) {
                return false;
            }
            continue;
        }
        if t.is_empty() || t.starts_with('#') || matches!(t, "|" | "|-" | "|+" | ">" | ">-" | ">+") {
            continue;
        }
        if let Some(label) = t.strip_prefix("-----BEGIN ").and_then(|r| r.strip_suffix("-----")) {
            if !PUBLIC_PEM_LABELS.contains(&label) {
                return false;
            }
            pem = Some(label);
            continue;
        }
        if is_ssh_public_key_line(t) || is_age_recipient(t) {
            seen = true;
            continue;
        }
        return false;
    }
    seen && pem.is_none()
}

/// A line of a PEM body.
fn is_base64_line(t: &str) -> bool {
    !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
}

/// An OpenPGP armor header (`Version: …`, `Comment: …`) or the CRC line (`=abcd`), or the blank
/// line after the headers (handled by the caller as a non-base64 line, so accepted here).
fn is_armor_header(t: &str) -> bool {
    t.is_empty()
        || t.split_once(": ")
            .is_some_and(|(k, _)| !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

/// `[options] type AAAA… [comment]` (an `authorized_keys` or `.pub` line) or
/// `hosts type AAAA… [comment]` (a `known_hosts` line): some word is a key type and the next one
/// a base64 blob that starts as every OpenSSH key blob does (its length field, `AAAA`).
fn is_ssh_public_key_line(t: &str) -> bool {
    let words: Vec<&str> = t.split_whitespace().collect();
    words.windows(2).take(3).any(|w| {
        SSH_KEY_TYPES.contains(&w[0]) && w[1].len() >= 68 && w[1].starts_with("AAAA") && is_base64_line(w[1])
    })
}

/// Age recipients, comma-separated (as a `.sops.yaml` writes them), optionally followed by a
/// comment: each a Bech32 string whose checksum verifies and whose human-readable part is `age`
/// (or `age1pq`, `age1` + a plugin name).
fn is_age_recipient(t: &str) -> bool {
    let t = t.strip_prefix("- ").unwrap_or(t);
    let t = t.split_once(" #").map_or(t, |(before, _)| before);
    let mut parts = t.split(',').map(str::trim).filter(|p| !p.is_empty()).peekable();
    parts.peek().is_some()
        && parts.all(|word| {
            word.len() >= 62
                && word.starts_with("age1")
                && !word.bytes().any(|b| b.is_ascii_uppercase())
                && bech32::primitives::decode::CheckedHrpstring::new::<bech32::Bech32>(word)
                    .is_ok_and(|c| c.hrp().as_str().starts_with("age"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CERT: &str = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUY2VydGlmaWNhdGUtYm9keS1mb3ItdGVzdHMwCgYIKoZI\nzj0EAwIwEjEQMA4GA1UEAwwHdGVzdC1jYTAeFw0yNDAxMDEwMDAwMDBaFw0zNDAx\n-----END CERTIFICATE-----\n";

    #[test]
    fn public_material_is_recognised() {
        assert!(is_public_material(CERT));
        assert!(is_public_material(&format!("|\n  {}", CERT.replace('\n', "\n  "))));
        assert!(is_public_material(&CERT.replace('\n', "\\n")));
        assert!(is_public_material(&format!("# the CA\n{CERT}{CERT}")));
        let blob = format!("AAAAC3NzaC1lZDI1NTE5AAAAI{}", "A".repeat(43));
        assert!(is_public_material(&format!("ssh-ed25519 {blob} me@laptop\n")));
        assert!(is_public_material(&format!("github.com,140.82.112.3 ssh-ed25519 {blob}\n")));
        assert!(is_public_material(&format!("restrict,command=\"x\" ssh-ed25519 {blob}\n")));
        let age = "age1lzd99uklcjnc0e7d860axevet2cz99ce9pq6tzuzd05l5nr28ams36nvun";
        assert!(is_public_material(&format!("# alice\n{age}\n# bob\n{age}\n")));
        assert!(is_public_material(&format!("{age},{age}")));
        assert!(is_public_material(
            "-----BEGIN PGP PUBLIC KEY BLOCK-----\nVersion: GnuPG v2\n\nmQENBF0000000000\n=AbCd\n-----END PGP PUBLIC KEY BLOCK-----\n"
        ));
    }

    #[test]
    fn anything_else_is_not() {
        assert!(!is_public_material(""));
        assert!(!is_public_material("# only a comment\n"));
        assert!(!is_public_material("-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n"));
        assert!(!is_public_material(&format!(
            "{CERT}-----BEGIN EC PRIVATE KEY-----\nMHcC\n-----END EC PRIVATE KEY-----\n"
        )));
        assert!(!is_public_material(&format!("{CERT}password: hunter2-hunter2\n")));
        // An unterminated block, a mismatched END, a body that is not base64.
        assert!(!is_public_material("-----BEGIN CERTIFICATE-----\nMIIB\n"));
        assert!(!is_public_material("-----BEGIN CERTIFICATE-----\nMIIB\n-----END PUBLIC KEY-----\n"));
        assert!(!is_public_material(
            "-----BEGIN CERTIFICATE-----\nnot base64 here!\n-----END CERTIFICATE-----\n"
        ));
        // Not an ssh key blob; an age identity is no recipient.
        assert!(!is_public_material("ssh-ed25519 hunter2\n"));
        assert!(!is_public_material(&format!("AGE-SECRET-KEY-1{}", "Q".repeat(58))));
        // One character changed: the checksum fails.
        assert!(!is_public_material("age1lzd99uklcjnc0e7d860axevet2cz99ce9pq6tzuzd05l5nr28ams36nvuq"));
        assert!(!is_public_material(&format!("age1{}", "q".repeat(58))));
        assert!(!is_public_material("ghp_0123456789abcdefghijABCDEFGHIJ012345"));
    }
}
