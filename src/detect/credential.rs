//! Whether a plaintext value can be a credential, judged from its key's name and its shape:
//! shared by the sops checks (a value a creation rule wants encrypted, a file sops would encrypt
//! whole) and the Kubernetes checks (a configuration file held in a Secret).

use std::ops::Range;

/// Parts of a key name that say its value is a credential.
pub const CREDENTIAL_KEY_WORDS: &[&str] = &[
    "pass",
    "pwd",
    "secret",
    "token",
    "key",
    "auth",
    "cred",
    "private",
    "cert",
    "pin",
    "salt",
    "seed",
    "sign",
    "webhook",
    "dsn",
    "connection",
    "bearer",
    "cookie",
    "session",
    "otp",
    "hash",
];

/// Last words of a key name that make it a setting about a credential, not the credential:
/// `secretName`, `passwordFile`, `tokenUrl`, `authType`, `sessionAffinity`, `keyLength`.
const SETTING_TAIL_WORDS: &[&str] = &[
    "name",
    "names",
    "ref",
    "file",
    "files",
    "path",
    "dir",
    "type",
    "mode",
    "policy",
    "enabled",
    "length",
    "size",
    "timeout",
    "ttl",
    "url",
    "uri",
    "endpoint",
    "format",
    "algorithm",
    "version",
    "count",
    "interval",
    "duration",
    "affinity",
    "selector",
    "namespace",
    "method",
    "issuer",
    "field",
    "env",
    "header",
    "provider",
    "backend",
    "store",
    "template",
    "class",
    "kind",
    "label",
    "labels",
];

/// Keys whose value is a name or a type (`kind: CiliumL2AnnouncementPolicy`, `name:
/// go2rtc-configmap`, `image: ghcr.io/x/y`): never a credential, however random it looks.
const IDENTIFIER_KEYS: &[&str] = &[
    "kind",
    "apiVersion",
    "name",
    "namespace",
    "generateName",
    "image",
    "repository",
    "tag",
    "uses",
    "runs-on",
    "app",
    "component",
    "type",
    "schedule",
    "cron",
    "host",
    "hostname",
    "domain",
    "chart",
    "version",
    "ref",
    "branch",
    "mode",
    "class",
    "storageClassName",
    "serviceName",
    "secretName",
    "configMapName",
    "serviceAccountName",
    "priorityClassName",
    "ingressClassName",
    "container",
];

/// Words that contain a credential word but name something else.
const NOT_CREDENTIAL_WORDS: &[&str] = &[
    "author",
    "authors",
    "authority",
    "bypass",
    "passthrough",
    "passive",
    "compass",
    "keyboard",
    "keyspace",
    "signal",
    "signals",
    "design",
    "assign",
    "assignment",
    "pinned",
    "hashing",
];

/// The words of a key name: split at `-`, `_`, `.`, spaces and camelCase humps, lower-cased.
fn key_words(key: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for ch in key.chars() {
        if !ch.is_ascii_alphanumeric() {
            if !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if ch.is_ascii_uppercase() && prev_lower && !cur.is_empty() {
            words.push(std::mem::take(&mut cur));
        }
        prev_lower = ch.is_ascii_lowercase() || ch.is_ascii_digit();
        cur.push(ch.to_ascii_lowercase());
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

/// How strongly a key name says its value is a credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyHint {
    /// `password`, `apiKey`, `db_pass`, `clientSecret`, `tls.key`: a literal there is one.
    Credential,
    /// A bare `key` (a toleration's or a selector's, a `secretKeyRef`'s) or a setting about a
    /// credential (`secretName`, `passwordFile`): only a random-looking literal is one.
    Weak,
    /// Nothing in the name.
    None,
}

/// How strongly `key` names a credential, judged by the `words` of a credential's name.
pub fn key_hint(key: &str, words: &[&str]) -> KeyHint {
    // An annotation or label key (`secret.reloader.stakater.com/reload`) is named by its last part.
    let key = key.rsplit('/').next().unwrap_or(key);
    let parts = key_words(key);
    let Some(last) = parts.last() else { return KeyHint::None };
    let named = parts.iter().any(|p| {
        !NOT_CREDENTIAL_WORDS.contains(&p.as_str())
            && words.iter().any(|w| if w.len() <= 3 { p == w } else { p.starts_with(w) || p.ends_with(w) })
    });
    if !named {
        return KeyHint::None;
    }
    if SETTING_TAIL_WORDS.contains(&last.as_str())
        // `existingSecret`, `existingClaim`: the name of an object that holds it.
        || parts.first().is_some_and(|p| p == "existing")
        || parts.iter().any(|p| matches!(p.as_str(), "placeholder" | "example" | "dummy" | "sample" | "fake"))
        || (parts.len() == 1 && matches!(last.as_str(), "key" | "keys"))
        || (last == "key" && parts.iter().any(|p| matches!(p.as_str(), "topology" | "label" | "node")))
    {
        return KeyHint::Weak;
    }
    KeyHint::Credential
}

/// Whether a plaintext value under key `leaf` can be a credential: a literal under a
/// credential-like key, or a random-looking literal, a private key or a URL with a password under
/// any key. Template expressions, placeholders, booleans and numbers never are.
pub fn value_may_be_secret(leaf: &str, v: &str, words: &[&str]) -> bool {
    let v = v.trim().trim_matches(|ch| ch == '"' || ch == '\'');
    if !super::k8s::is_literal_credential(v)
        || super::public::is_public_material(v)
        || plain_setting(v).is_some()
    {
        return false;
    }
    if key_hint(leaf, words) == KeyHint::Credential {
        // `userKey: adminUser`, `passwordKey: admin-password`: the name of a key in a Secret
        // (words, no digits), not a key.
        let parts = key_words(leaf);
        let names_a_key = parts.len() >= 2
            && parts.last().is_some_and(|p| p == "key")
            && v.bytes().all(|b| b.is_ascii_alphabetic() || matches!(b, b'-' | b'_' | b'.'));
        return !names_a_key;
    }
    let identifier = IDENTIFIER_KEYS.iter().any(|k| leaf.eq_ignore_ascii_case(k));
    // Tokens have no spaces (`TLSv1.3 TLSv1.2`, `-y -n -r 1280x720` are settings).
    (!identifier && !v.contains(char::is_whitespace) && super::tokens::looks_random(v, 12))
        || v.contains("PRIVATE KEY-----")
        || (v.contains("://")
            && v.split("://").nth(1).is_some_and(|rest| {
                rest.split('/').next().is_some_and(|h| h.contains(':') && h.contains('@'))
            }))
}

/// Where a file sops would encrypt whole (the binary store: a template such as `secret.yaml.j2`,
/// a `kustomization.yaml.bak`, a `.txt`) can hold a credential: the first such value, or the
/// whole file. A text with no `key: value` or `key=value` structure may be a bare secret (a
/// password file, a key) and can, whole; one with structure can where one of its values can (a
/// literal under a credential-like key, a random-looking token), or where it holds a private key.
/// Template lines (`{% … %}`, `{{ … }}`), comments and the lines of a certificate are structure,
/// not values; template expressions are no literals. `None`: nothing in it can be a credential.
pub fn whole_text_secret_span(data: &[u8]) -> Option<Range<usize>> {
    let Ok(text) = std::str::from_utf8(data) else {
        return Some(0..data.len());
    };
    let offset = |sub: &str| sub.as_ptr() as usize - text.as_ptr() as usize;
    // Certificates, public keys, `known_hosts`, age recipients: public, whatever rule covers them.
    if super::public::is_public_material(text) {
        return None;
    }
    if let Some(at) = text.find("PRIVATE KEY-----") {
        let start = text[..at].rfind("-----BEGIN").unwrap_or(at);
        let end = text[at..].find("-----END").map_or(text.len(), |e| {
            let e = at + e;
            text[e..].find('\n').map_or(text.len(), |n| e + n)
        });
        return Some(start..end);
    }
    let mut structured = false;
    let mut in_certificate = false;
    let mut prose_lines = 0;
    for line in text.lines().take(100_000) {
        let t = line.trim();
        if t.starts_with("-----BEGIN ") {
            in_certificate = true;
            continue;
        }
        if t.starts_with("-----END ") {
            in_certificate = false;
            continue;
        }
        if ["{%", "{{", "{#"].iter().any(|p| t.starts_with(p)) {
            structured = true;
            continue;
        }
        if in_certificate
            || t.is_empty()
            || t == "---"
            || ["#", "//", ";", "<!--"].iter().any(|p| t.starts_with(p))
        {
            continue;
        }
        let item = t.strip_prefix("- ").unwrap_or(t).trim_start();
        let pair = item.split_once(": ").or_else(|| item.strip_suffix(':').map(|k| (k, ""))).or_else(|| {
            item.split_once('=').filter(|(k, _)| !k.is_empty() && !k.contains(' ') && !k.contains('"'))
        });
        match pair {
            Some((key, value)) if key_like(key) => {
                structured = true;
                let key = key.trim().trim_matches(|c| c == '"' || c == '\'');
                let value = value.trim().trim_end_matches(',');
                if !value.is_empty()
                    && !matches!(value, "|" | "|-" | ">" | ">-" | "{" | "[")
                    && value_may_be_secret(key, value, CREDENTIAL_KEY_WORDS)
                {
                    let at = offset(value);
                    return Some(at..at + value.len());
                }
            }
            _ if item.split_whitespace().nth(2).is_some() => {
                // Prose (three words or more: a README, notes): no bare secret, but a token in
                // it can be one. Two prose lines, or one with punctuation, make the text
                // documentation; a lone line of plain words may still be a passphrase.
                // An OpenSSH public key or `known_hosts` line is public.
                let ssh_public = ["ssh-ed25519 ", "ssh-rsa ", "ecdsa-sha2-", "sk-ssh-ed25519"]
                    .iter()
                    .any(|k| item.contains(k));
                for word in item.split_whitespace().filter(|_| !ssh_public) {
                    let w = word.trim_matches(|c: char| "`'\"()[]{}<>,;:.!?*".contains(c));
                    if is_bare_token(w) {
                        let at = offset(w);
                        return Some(at..at + w.len());
                    }
                }
                prose_lines += 1;
                let punctuated =
                    item.bytes().any(|b| matches!(b, b'`' | b'.' | b',' | b'(' | b'[' | b'?' | b'!'));
                if prose_lines >= 2 || punctuated {
                    structured = true;
                }
            }
            _ => {
                let bare = item.trim_matches(|c| c == '"' || c == '\'');
                if is_bare_token(bare) {
                    let at = offset(bare);
                    return Some(at..at + bare.len());
                }
            }
        }
    }
    (!structured).then_some(0..data.len())
}

/// A token standing alone: only the characters of base64, hex and provider tokens, random-looking
/// and a literal (no reference or template).
fn is_bare_token(w: &str) -> bool {
    w.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'_' | b'-' | b'.'))
        && super::tokens::looks_random(w, 20)
        && super::k8s::is_literal_credential(w)
}

/// A key of a YAML, JSON, dotenv or INI line: a name, quoted or not, without spaces inside.
fn key_like(key: &str) -> bool {
    let k = key.trim().trim_matches(|c| c == '"' || c == '\'');
    !k.is_empty()
        && k.len() <= 128
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/' | b'@' | b'$'))
}

/// What a plaintext value is when it is plainly no credential, for messages: a domain name, an
/// e-mail address, an IP address or network, or (several lines) a configuration none of whose
/// values can be a credential (a Prometheus scrape config or an Alertmanager routing tree held
/// in a Secret). `None`: it can be one.
pub fn not_a_credential(v: &str) -> Option<&'static str> {
    let t = v.trim();
    if t.contains('\n') {
        return whole_text_secret_span(t.as_bytes())
            .is_none()
            .then_some("a configuration with no credential in it");
    }
    plain_setting(t)
}

/// A single value that is a domain name, an e-mail address or an IPv4 address or network.
pub fn plain_setting(v: &str) -> Option<&'static str> {
    let v = v.trim().trim_matches(|c| c == '"' || c == '\'');
    let labels_ok = |host: &str| {
        let labels: Vec<&str> = host.split('.').collect();
        labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            })
            && labels.last().is_some_and(|tld| {
                (2..=24).contains(&tld.len()) && tld.bytes().all(|b| b.is_ascii_lowercase())
            })
    };
    if let Some((user, host)) = v.split_once('@') {
        let user_ok = !user.is_empty()
            && user.len() <= 64
            && user.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+'));
        return (user_ok && labels_ok(&host.to_ascii_lowercase())).then_some("an e-mail address");
    }
    // A list of addresses or networks (`10.0.0.0/8,fd00::/8`).
    if v.contains(',') {
        let all = v.split(',').map(str::trim).all(|item| plain_setting(item) == Some("an IP address"));
        return all.then_some("an IP address");
    }
    if is_ipv6(v) {
        return Some("an IP address");
    }
    let (addr, prefix) = v.split_once('/').map_or((v, None), |(a, p)| (a, Some(p)));
    let octets: Vec<&str> = addr.split('.').collect();
    if octets.len() == 4
        && octets.iter().all(|o| !o.is_empty() && o.len() <= 3 && o.parse::<u8>().is_ok())
        && prefix.is_none_or(|p| p.parse::<u8>().is_ok_and(|n| n <= 32))
    {
        return Some("an IP address");
    }
    (prefix.is_none() && labels_ok(v)).then_some("a domain name")
}

/// An IPv6 address or network: hex groups of up to four digits separated by `:`, at most one
/// `::`, an optional `/prefix`.
fn is_ipv6(v: &str) -> bool {
    let (addr, prefix) = v.split_once('/').map_or((v, None), |(a, p)| (a, Some(p)));
    if prefix.is_some_and(|p| p.parse::<u8>().map_or(true, |n| n > 128)) || !addr.contains(':') {
        return false;
    }
    let groups: Vec<&str> = addr.split(':').collect();
    let empties = groups.iter().filter(|g| g.is_empty()).count();
    (3..=8).contains(&groups.len())
        && empties <= 3
        && (addr.contains("::") || groups.len() == 8)
        && groups.iter().all(|g| g.len() <= 4 && g.bytes().all(|b| b.is_ascii_hexdigit()))
        && groups.iter().any(|g| !g.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_settings_are_no_credentials() {
        assert_eq!(plain_setting("example.com"), Some("a domain name"));
        assert_eq!(plain_setting("home.example.co.uk"), Some("a domain name"));
        assert_eq!(plain_setting("admin@example.com"), Some("an e-mail address"));
        assert_eq!(plain_setting("10.0.0.0/16"), Some("an IP address"));
        assert_eq!(plain_setting("192.168.1.10"), Some("an IP address"));
        assert_eq!(plain_setting("173.245.48.0/20,2400:cb00::/32,fd00::/8"), Some("an IP address"));
        assert_eq!(plain_setting("::1"), Some("an IP address"));
        assert_eq!(plain_setting("dead:beef"), None);
        for v in [
            "hunter2",
            "Zk3q8Zt3kP0vX2mR7bN1",
            "a.b",
            "x.Y7zQ",
            "user:pass@host.com",
            "1.2.3.4/40",
            "300.1.1.1",
        ] {
            assert_eq!(plain_setting(v), None, "{v}");
        }
        let config = "global:\n  resolve_timeout: 5m\nroute:\n  receiver: pushover\n  group_by: [alertname]\nreceivers:\n  - name: pushover\n    pushover_configs:\n      - user_key: ${SECRET_PUSHOVER_USER}\n        token: ${SECRET_PUSHOVER_TOKEN}\n";
        assert_eq!(not_a_credential(config), Some("a configuration with no credential in it"));
        let leaky = config.replace("${SECRET_PUSHOVER_TOKEN}", "aZ8kq2Lm4Pn6Rs8Tv0Wx2Yz4Bc6");
        assert_eq!(not_a_credential(&leaky), None);
    }
}
