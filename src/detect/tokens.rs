//! Validators for provider tokens and credential-named values (`rules/tokens.yaml`).
//!
//! A format rule's regex already pins the token's exact shape; these validators add what a regex
//! cannot check: the CRC-32 checksum GitHub and npm tokens carry, that a value is random rather
//! than a placeholder (`xxxx`, `EXAMPLE`, `0000`, `your-token-here`), which service a JSON Web
//! Token belongs to, and that an AWS access key id has its secret key beside it. The generic rule
//! for values under credential-named keys (`password:`, `api_key =`, `SECRET_KEY=`) is the
//! strictest: only a literal that looks random, never a reference, template, path or word.

use std::ops::Range;

use base64::Engine as _;

use crate::finding::{Hit, Severity};

/// Rule for a Kubernetes service-account token (a JWT issued by the API server).
pub const KUBE_SA_TOKEN_RULE: &str = crate::rules::id::KUBE_SERVICE_ACCOUNT_TOKEN;
/// Rule for a 1Password Connect token.
pub const OP_CONNECT_RULE: &str = crate::rules::id::TOKEN_ONEPASSWORD_CONNECT;

fn text<'d>(data: &'d [u8], r: &Range<usize>) -> Option<&'d str> {
    std::str::from_utf8(data.get(r.clone())?).ok()
}

/// GitHub classic tokens (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`) and npm tokens (`npm_`): 30
/// random base62 characters and their CRC-32 in 6 base62 digits. A placeholder or a made-up
/// string fails the checksum.
pub fn validate_checksum(rule: &str, data: &[u8], m: Range<usize>, secret: Range<usize>) -> Option<Hit> {
    let token = text(data, &secret)?;
    let (_, rest) = token.split_once('_')?;
    if rest.len() != 36 || !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let (body, check) = rest.split_at(30);
    if base62_crc32(body.as_bytes()) != check {
        return None;
    }
    Some(Hit::new(rule, m, "token with a valid checksum").with_secret(secret))
}

/// The 6-digit base62 (`0-9A-Za-z`) CRC-32 that GitHub and npm append to their tokens.
pub fn base62_crc32(body: &[u8]) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut n = crc32fast::hash(body) as u64;
    let mut out = [b'0'; 6];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Shannon entropy of a string in bits per character.
pub fn entropy(s: &[u8]) -> f64 {
    if s.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in s {
        counts[b as usize] += 1;
    }
    let n = s.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

/// Words that mark a documentation placeholder rather than a credential.
const PLACEHOLDER_WORDS: &[&str] = &[
    "example",
    "sample",
    "placeholder",
    "changeme",
    "change_me",
    "change-me",
    "replace",
    "your_",
    "your-",
    "yourtoken",
    "xxxx",
    "todo",
    "fixme",
    "dummy",
    "redacted",
    "insert",
    "secret_here",
    "token_here",
    "key_here",
    "goes_here",
    "goeshere",
    "notreal",
    "fake",
    "abcdef123",
    "123456789",
    "abcdefghij",
    "0123456789",
    // A value that spells out what it is (`MyDatabasePassword`, `admin_password_456`) is a sample.
    "password",
    "passwd",
    "secret",
    "apikey",
    "api_key",
    "mytest",
    "demo",
    "admin",
    "secure",
    "<",
    ">",
    "‹",
    "›",
];

/// Whether a value is a documentation placeholder: a marker word, a run of one character, or a
/// value built of very few distinct characters.
pub fn is_placeholder(v: &str) -> bool {
    let lower = v.to_ascii_lowercase();
    if PLACEHOLDER_WORDS.iter().any(|w| lower.contains(w)) {
        return true;
    }
    let b = lower.as_bytes();
    if b.windows(5).any(|w| w.iter().all(|&c| c == w[0])) {
        return true;
    }
    let mut distinct = [false; 256];
    for &c in b {
        distinct[c as usize] = true;
    }
    distinct.iter().filter(|&&d| d).count() < 6
}

/// Format rules whose shape is exact but which placeholders imitate (`glpat-xxxxxxxxxxxxxxxxxxxx`):
/// the captured token must not be a placeholder.
pub fn validate_random(rule: &str, data: &[u8], m: Range<usize>, secret: Range<usize>) -> Option<Hit> {
    let token = text(data, &secret)?;
    if is_placeholder(token) || entropy(token.as_bytes()) < 3.0 {
        return None;
    }
    Some(Hit::new(rule, m, "token in a provider's fixed format").with_secret(secret))
}

/// An AWS access key id is an error when a 40-character secret access key sits within a few
/// lines of it, a note when it stands alone (an id alone does not authenticate).
pub fn validate_aws(rule: &str, data: &[u8], m: Range<usize>, secret: Range<usize>) -> Option<Hit> {
    let id = text(data, &secret)?;
    if is_placeholder(id) {
        return None;
    }
    let from = m.start.saturating_sub(600);
    let to = (m.end + 600).min(data.len());
    let near = &data[from..to];
    let re = aws_secret_regex();
    let pair = re.captures_iter(near).find_map(|c| {
        let g = c.get(1)?;
        let v = std::str::from_utf8(g.as_bytes()).ok()?;
        (!is_placeholder(v) && entropy(v.as_bytes()) > 4.0).then(|| from + g.start()..from + g.end())
    });
    match pair {
        Some(s) => Some(
            Hit::new(rule, m, "AWS access key id with its secret access key beside it")
                .with_secret(s)
                .with_property("paired", true),
        ),
        None => Some(
            Hit::new(rule, m, "AWS access key id (no secret access key found beside it)")
                .with_secret(secret)
                .with_severity(Severity::Note)
                .with_property("paired", false),
        ),
    }
}

fn aws_secret_regex() -> &'static regex::bytes::Regex {
    static RE: std::sync::OnceLock<regex::bytes::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        regex::bytes::Regex::new(
            r#"(?i)secret[a-z0-9_.-]*["']?\s*[:=]\s*["']?([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)"#,
        )
        .expect("valid regex")
    })
}

/// JSON Web Tokens: a Kubernetes service-account token (`iss` is `kubernetes/serviceaccount`,
/// or the token carries the `kubernetes.io` claim) or a 1Password Connect token (audience
/// `com.1password.connect`) is an error under its own rule; other JWTs are left to the generic
/// rule, which sees their key name.
pub fn validate_jwt(_rule: &str, data: &[u8], m: Range<usize>, secret: Range<usize>) -> Option<Hit> {
    let token = text(data, &secret)?;
    let mut parts = token.split('.');
    let (_header, payload, sig) = (parts.next()?, parts.next()?, parts.next()?);
    if sig.len() < 16 {
        return None;
    }
    let decoded = zeroize::Zeroizing::new(
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?,
    );
    let claims = std::str::from_utf8(&decoded).ok()?;
    if claims.contains("\"kubernetes/serviceaccount\"") || claims.contains("\"kubernetes.io\"") {
        return Some(
            Hit::new(
                KUBE_SA_TOKEN_RULE,
                m,
                "Kubernetes service-account token (a bearer token for the API server)",
            )
            .with_secret(secret),
        );
    }
    if claims.contains("com.1password.connect") {
        return Some(Hit::new(OP_CONNECT_RULE, m, "1Password Connect server token").with_secret(secret));
    }
    None
}

/// Key names that hold a secret's *name* or *location*, not the secret itself
/// (`existingSecret`, `secretName`, `passwordSecretRef`, `tokenFile`, `secretKeyRef`).
fn is_reference_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase().replace(['-', '_', '.'], "");
    const SUFFIXES: &[&str] = &[
        "name",
        "ref",
        "file",
        "path",
        "secretname",
        "keyref",
        "selector",
        "env",
        "envvar",
        "var",
        "arn",
        "id",
        "ids",
        "url",
        "uri",
        "endpoint",
        "type",
        "length",
        "policy",
        "mode",
        "enabled",
        "required",
        "regex",
        "template",
        "format",
        "source",
        "store",
        "provider",
        "field",
        "key",
        "header",
        "method",
        "duration",
        "ttl",
        "expiry",
        "expiration",
        "version",
        "prefix",
        "namespace",
        "location",
        "dir",
        "command",
        "cmd",
        "hash",
        "algorithm",
        "issuer",
        "audience",
    ];
    // `secret_key`, `api_key`, `masterkey`, `license_key` are credential names ending in `key`.
    const CREDENTIAL_KEYS: &[&str] = &[
        "secretkey",
        "apikey",
        "masterkey",
        "licensekey",
        "accesskey",
        "privatekey",
        "secretaccesskey",
        "encryptionkey",
        "signingkey",
        "clientsecret",
        "appkey",
        "applicationkey",
        "authkey",
        "webhooksecret",
        "jwtsecret",
        "sharedsecret",
        "cookiesecret",
        "sessionsecret",
        "cryptokey",
    ];
    if CREDENTIAL_KEYS.iter().any(|c| k.ends_with(c)) {
        return false;
    }
    k.starts_with("existing") || SUFFIXES.iter().any(|s| k.ends_with(s) && k.len() > s.len())
}

/// The longest value `generic/credential` reports, in bytes.
const MAX_GENERIC_VALUE: usize = 512;

/// The generic rule: a literal under a credential-named key. The regex captures the key name and
/// the value; this keeps only values that look random: at least 16 characters (8 for a key that
/// says `password`), letters and digits mixed, high entropy, and not a reference, template,
/// placeholder, path, URL without credentials, version, date, identifier or SOPS value.
pub fn validate_generic(rule: &str, data: &[u8], m: Range<usize>, secret: Range<usize>) -> Option<Hit> {
    let value = text(data, &secret)?;
    // The regex takes any length (a bounded repetition slows it down); a credential is shorter.
    if value.len() > MAX_GENERIC_VALUE {
        return None;
    }
    let key_text = std::str::from_utf8(data.get(m.start..secret.start)?).ok()?;
    let key: String = key_text
        .trim_end_matches(|c: char| c.is_whitespace() || matches!(c, ':' | '=' | '"' | '\''))
        .chars()
        .rev()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        .collect::<Vec<char>>()
        .into_iter()
        .rev()
        .collect();
    if key.is_empty() || is_reference_key(&key) {
        return None;
    }
    let trimmed =
        key_text.trim_end_matches(|c: char| c.is_whitespace() || matches!(c, ':' | '=' | '"' | '\''));
    let key_start = m.start + trimmed.len() - key.len();
    // A segment of a path or an image reference (`jupyterhub/k8s-secret-sync:2.0.1`,
    // `user@host`), not a key.
    if key_start > 0 && matches!(data[key_start - 1], b'/' | b'@') {
        return None;
    }
    let lower_key = key.to_ascii_lowercase();
    let password_key = lower_key.contains("passw") || lower_key.ends_with("pwd");
    let random = looks_random(value, if password_key { 10 } else { 16 });
    // A password a person chose (`Proxmox123`): letters with digits or symbols, under a key that
    // says `password`, is one even though it does not look random.
    // Not in a comment, nor inside a string literal opened earlier on the line (a document
    // written into source code: `b"password: hunter2222\n"`): there it is most often an example
    // or a test fixture.
    let chosen = password_key
        && !random
        && !on_comment_line(data, key_start)
        && !in_string_literal(data, key_start)
        && is_chosen_password(value);
    if !random && !chosen {
        return None;
    }
    // Sealed Secrets ciphertext sits under the original key names.
    if value.len() > 200 && value.starts_with("Ag") || mentions(data, b"kind: SealedSecret") {
        return None;
    }
    // Renovate's encrypted secrets (`hostRules: [{encrypted: {password: …}}]`): ciphertext for
    // the Renovate app's key, meant to be committed.
    if value.len() >= 200 && encrypted_block_before(data, key_start) {
        return None;
    }
    // Inside a template expression on its line (`{{ printf "…?password=%s…" .x }}`): filled in
    // when the template renders, not a literal.
    if in_template_expression(data, key_start, secret.end)
        || ["%s", "%v", "%d", "%q"].iter().any(|f| value.contains(f))
    {
        return None;
    }
    let what = if chosen { "literal password" } else { "random-looking literal value" };
    Some(
        Hit::new(rule, m.start..secret.end, format!("{what} under `{key}`"))
            .with_secret(secret)
            .with_property("key", key),
    )
}

/// Whether a value refers to a secret held elsewhere or is no literal: a SOPS value, a
/// substitution or template, a secret-manager reference, a path, a URL, a digest, age material
/// or a PEM armor line.
fn refers_elsewhere(v: &str) -> bool {
    v.starts_with("ENC[")
        || v.contains("${")
        || v.contains("{{")
        || v.contains("$(")
        || v.starts_with('<')
        || v.starts_with("op://")
        || v.starts_with("ref+")
        || v.starts_with("vault:")
        || v.starts_with('/')
        || v.starts_with("./")
        || v.starts_with("~/")
        || v.contains("://")
        || v.starts_with("sha256:")
        || v.starts_with("age1")
        || v.starts_with("AGE-SECRET-KEY-")
        || v.starts_with("-----")
}

/// Whether `p` is camelCase words without digits: a lower-case word, then capitalised ones.
fn camel_words(p: &str) -> bool {
    let b = p.as_bytes();
    if b.len() < 4 || !b[0].is_ascii_lowercase() || !b.iter().all(u8::is_ascii_alphabetic) {
        return false;
    }
    // Every capital starts a word of at least two letters.
    let humps: Vec<usize> = (0..b.len()).filter(|&i| b[i].is_ascii_uppercase()).collect();
    !humps.is_empty() && humps.iter().all(|&i| b.get(i + 1).is_some_and(u8::is_ascii_lowercase))
}

/// A password a person chose: 8 to 64 bytes without spaces, at least three letters and a digit
/// or a symbol, and not a placeholder, reference, template, version or setting.
fn is_chosen_password(v: &str) -> bool {
    let b = v.as_bytes();
    if !(8..=64).contains(&b.len()) || b.iter().any(|c| c.is_ascii_whitespace() || !c.is_ascii_graphic()) {
        return false;
    }
    let letters = b.iter().filter(|c| c.is_ascii_alphabetic()).count();
    // Digits or symbols other than word separators: `home-assistant` and `db_user` are names.
    let others = b.iter().filter(|c| !c.is_ascii_alphabetic() && !matches!(c, b'-' | b'_' | b'.')).count();
    if letters < 3 || others == 0 {
        return false;
    }
    // Well-known defaults of charts, images and tutorials: public, not leaked.
    const DEFAULTS: &[&str] = &[
        "minio123",
        "passw0rd",
        "p@ssw0rd",
        "p@ssword",
        "pa55word",
        "pa$$word",
        "letmein1",
        "qwerty123",
        "welcome1",
        "postgres123",
        "mysql123",
        "root1234",
        "admin1234",
        "test1234",
        "prom-operator",
    ];
    let lower = v.to_ascii_lowercase();
    if DEFAULTS.iter().any(|d| lower == *d) {
        return false;
    }
    // Beyond `refers_elsewhere`: a printf verb, SOPS or URL text anywhere, a path, flag, YAML
    // alias or tag first.
    let referential = refers_elsewhere(v)
        || ["%s", "ENC[", "://", "ref+", "vault:", "sha256:"].iter().any(|p| v.contains(p))
        || v.starts_with(['.', '~', '-', '*', '&', '!']);
    !referential
        && !is_placeholder(v)
        && !is_code_reference(v)
        && !is_yaml_alias(v)
        && !is_code_expression(v)
        && super::credential::plain_setting(v).is_none()
        // A version, a size, a date or a number with a unit (`1.2.3`, `512Mi`, `2024-01-01`).
        && !b.iter().all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'-' | b':' | b'v'))
        && !(b.last().is_some_and(u8::is_ascii_alphabetic) && b[..b.len() - 2].iter().all(u8::is_ascii_digit))
}

/// Whether the line holding `at` is a comment (`#` or `//` first) up to `at`.
fn on_comment_line(data: &[u8], at: usize) -> bool {
    let line_start = memchr::memrchr(b'\n', &data[..at]).map_or(0, |i| i + 1);
    let lead =
        data[line_start..at].iter().position(|c| !c.is_ascii_whitespace()).map(|i| &data[line_start + i..at]);
    lead.is_some_and(|l| l.starts_with(b"#") || l.starts_with(b"//") || l.starts_with(b";"))
}

/// Whether the key at `at` sits inside a double-quoted string opened earlier on its line, or
/// right after a backslash escape (`\npassword`): a key written inside a string literal.
fn in_string_literal(data: &[u8], at: usize) -> bool {
    let line_start = memchr::memrchr(b'\n', &data[..at]).map_or(0, |i| i + 1);
    let mut before = &data[line_start..at];
    if before.last() == Some(&b'\\') {
        return true;
    }
    // A quoted key's own opening quote (`"password": …`).
    if let Some(rest) = before.strip_suffix(b"\"") {
        before = rest;
    }
    let mut open = false;
    let mut escaped = false;
    for &c in before {
        match c {
            _ if escaped => escaped = false,
            b'\\' => escaped = true,
            b'"' => open = !open,
            _ => {}
        }
    }
    open
}

/// Whether an `encrypted` mapping key opens shortly before `at` (Renovate's `encrypted:` or
/// `"encrypted": {`).
fn encrypted_block_before(data: &[u8], at: usize) -> bool {
    let from = at.saturating_sub(600);
    let window = &data[from..at];
    memchr::memmem::rfind_iter(window, b"encrypted").any(|i| {
        let after = &window[i + 9..];
        let after = after.strip_prefix(b"\"").or_else(|| after.strip_prefix(b"'")).unwrap_or(after);
        after.iter().find(|c| !c.is_ascii_whitespace()) == Some(&b':')
    })
}

/// Whether `start..end` sits inside a `{{ … }}` expression that opens and closes on its line.
fn in_template_expression(data: &[u8], start: usize, end: usize) -> bool {
    let line_start = memchr::memrchr(b'\n', &data[..start]).map_or(0, |i| i + 1);
    let line_end = memchr::memchr(b'\n', &data[end..]).map_or(data.len(), |i| end + i);
    let before = &data[line_start..start];
    let after = &data[end.min(line_end)..line_end];
    let open = memchr::memmem::rfind(before, b"{{");
    let closed_before = memchr::memmem::rfind(before, b"}}");
    open.is_some_and(|o| closed_before.is_none_or(|c| c < o)) && memchr::memmem::find(after, b"}}").is_some()
}

fn mentions(data: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(data, needle).is_some()
}

/// Whether a value names a variable, setting or file rather than holding a secret: Terraform
/// references (`var.x`, `local.x`, `data.x.y`, `module.x`), LiteLLM and similar environment
/// references (`os.environ/NAME`, `env.NAME`, `process.env.NAME`), and slash-separated names
/// whose parts are words (`vault/app/db-password`).
fn is_code_reference(v: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "var.",
        "local.",
        "data.",
        "module.",
        "each.",
        "self.",
        "os.environ",
        "env.",
        "process.env.",
        "secrets.",
        "vars.",
        "inputs.",
        "steps.",
        "needs.",
        "matrix.",
        "values.",
        ".values.",
    ];
    let lower = v.to_ascii_lowercase();
    if PREFIXES.iter().any(|p| lower.starts_with(p)) {
        return true;
    }
    // Dotted identifiers: `queryParams.token`, `random_bytes.tunnel_secret.base64`.
    let ident = |p: &str| {
        p.bytes().next().is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
            && p.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
    };
    let dotted: Vec<&str> = v.split('.').collect();
    if dotted.len() >= 2 && dotted.iter().all(|p| ident(p)) {
        let digits = v.bytes().filter(u8::is_ascii_digit).count();
        if digits == 0 || (dotted.len() >= 3 && v.bytes().all(|c| !c.is_ascii_uppercase())) {
            return true;
        }
    }
    // An action or image reference with a tag or version (`actions/checkout@v4`,
    // `ghcr.io/org/app:1.2.3`): the name before it decides.
    if let Some((name, tag)) = v.rsplit_once(['@', ':']) {
        let last = name.rsplit('/').next().unwrap_or(name);
        let tag_ok = !tag.is_empty()
            && tag.len() <= 64
            && tag
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'.' | b'-' | b'_'))
            && (tag.bytes().any(|c| c.is_ascii_digit()) || tag.len() <= 12);
        if name.contains('/') && !last.is_empty() && tag_ok && is_code_reference(name) {
            return true;
        }
    }
    if v.contains('/') {
        let word = |p: &str| {
            !p.is_empty() && p.bytes().all(|c| c.is_ascii_alphabetic() || matches!(c, b'_' | b'-' | b'.'))
        };
        if v.split('/').filter(|p| !p.is_empty()).all(word) {
            return true;
        }
        // Lower-case names with a digit here and there (`zigbee2mqtt/client-auth-ca`): base64
        // with a slash has upper-case letters.
        let lower_name = |p: &str| {
            !p.is_empty()
                && p.bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'-' | b'.'))
        };
        let parts: Vec<&str> = v.split('/').filter(|p| !p.is_empty()).collect();
        if parts.len() >= 2 && parts.iter().all(|p| lower_name(p)) && parts.iter().any(|p| word(p)) {
            return true;
        }
    }
    false
}

/// A YAML alias (`*dbRootPass`) or anchor names a node, it is not a value.
fn is_yaml_alias(v: &str) -> bool {
    v.strip_prefix('*').or_else(|| v.strip_prefix('&')).is_some_and(|n| {
        !n.is_empty() && n.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'))
    })
}

/// Program text under a credential-named key (`hasToken: !!this.currentToken,` in a JavaScript
/// config): member access on `this`, boolean operators, arrow functions, optional chaining.
fn is_code_expression(v: &str) -> bool {
    ["this.", "&&", "||", "=>", "?."].iter().any(|t| v.contains(t))
}

/// Whether a literal looks like a random credential rather than a word, name, path, template or
/// reference.
pub fn looks_random(v: &str, min_len: usize) -> bool {
    let b = v.as_bytes();
    if b.len() < min_len || b.len() > 512 {
        return false;
    }
    if refers_elsewhere(v) {
        return false;
    }
    if is_placeholder(v) || is_code_reference(v) || is_yaml_alias(v) || is_code_expression(v) {
        return false;
    }
    let lower = b.iter().filter(|c| c.is_ascii_lowercase()).count();
    let upper = b.iter().filter(|c| c.is_ascii_uppercase()).count();
    let digits = b.iter().filter(|c| c.is_ascii_digit()).count();
    let letters = lower + upper;
    // Identifiers: all upper-case with underscores (an environment variable's name), dotted or
    // dashed words, camelCase words without digits.
    if digits == 0 && (upper == 0 || lower == 0) {
        return false;
    }
    if digits == 0 && letters == b.len() {
        // Only letters, mixed case: random if entropy is high and it is not camelCase words.
        let humps = b.windows(2).filter(|w| w[0].is_ascii_lowercase() && w[1].is_ascii_uppercase()).count();
        if humps * 5 >= b.len() / 2 || entropy(b) < 4.0 {
            return false;
        }
    }
    if letters == 0 {
        // Only digits and punctuation: a number, a date, an IP address, a phone number.
        return false;
    }
    // Words joined by separators (`my-app-secret`, `cluster.local`): every part a short word.
    // Words joined by separators (`my-app-secret`, `llama-strix-v4`, `cluster.local`): mostly
    // words, the rest numbers or word-and-number (`base64`); a UUID's hex groups are not words.
    let parts: Vec<&str> = v.split(['-', '_', '.', ' ']).filter(|p| !p.is_empty()).collect();
    if parts.len() >= 2 {
        // A word is all lower case, all upper case (`BOUNCER_KEY_nginx`) or capitalised
        // (`Schedule - Update Flux`).
        let word = |p: &&str| {
            let b = p.as_bytes();
            p.len() >= 2
                && (b.iter().all(u8::is_ascii_lowercase)
                    || b.iter().all(u8::is_ascii_uppercase)
                    || (b[0].is_ascii_uppercase() && b[1..].iter().all(u8::is_ascii_lowercase)))
        };
        let wordish = |p: &&str| {
            let letters = p.bytes().take_while(|c| c.is_ascii_lowercase()).count();
            let digits = p.bytes().take_while(u8::is_ascii_digit).count();
            p.bytes().all(|c| c.is_ascii_digit())
                || (letters >= 2 && p.bytes().skip(letters).all(|c| c.is_ascii_digit()))
                // a size or version suffix: `6b`, `70b`, `4k`
                || (digits >= 1 && p.len() - digits == 1 && p.as_bytes()[digits].is_ascii_lowercase())
                // camelCase words (`vpnConfig`)
                || camel_words(p)
                // a name with a digit or two in it (`zigbee2mqtt`, `ipv6`)
                || (p.as_bytes()[0].is_ascii_lowercase()
                    && p.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                    && p.bytes().filter(u8::is_ascii_digit).count() <= 2
                    && p.bytes().filter(u8::is_ascii_lowercase).count() >= 4)
        };
        let words = parts.iter().filter(|p| word(p)).count();
        if words * 2 > parts.len() && parts.iter().all(|p| p.len() <= 16) {
            return false;
        }
        if words >= 1 && parts.iter().all(|p| word(p) || wordish(p)) {
            return false;
        }
    }
    // An environment variable's name (`CONTEXT7_API_KEY`, `DB_PASSWORD_2`): upper case, digits
    // and underscores only, with at least one underscore.
    if lower == 0
        && v.contains('_')
        && b.iter().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == b'_')
    {
        return false;
    }
    // A Kubernetes API version (`kustomize.config.k8s.io/v1beta1`, `apps/v1`).
    if let Some((group, version)) = v.split_once('/') {
        let version_ok = version.strip_prefix('v').is_some_and(|r| {
            let r = r.trim_start_matches(|c: char| c.is_ascii_digit());
            r.len() < version.len() - 1
                && (r.is_empty()
                    || ["alpha", "beta"]
                        .iter()
                        .any(|w| r.strip_prefix(w).is_some_and(|n| n.bytes().all(|c| c.is_ascii_digit()))))
        });
        if version_ok
            && group.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-')
        {
            return false;
        }
    }
    // A version (`v1.2.3`), a semver with a pre-release or build suffix (`2.0.1-0.dev.git.59.h65c5`).
    if v.trim_start_matches('v').split('.').all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit())) {
        return false;
    }
    let core_end = v.find(['-', '+']).unwrap_or(v.len());
    let core: Vec<&str> = v[..core_end].trim_start_matches('v').split('.').collect();
    if core_end < v.len()
        && core.len() == 3
        && core.iter().all(|p| !p.is_empty() && p.len() <= 6 && p.bytes().all(|c| c.is_ascii_digit()))
    {
        return false;
    }
    let e = entropy(b);
    let needed = if b.len() >= 32 {
        3.5
    } else if b.len() >= 20 {
        3.3
    } else {
        3.0
    };
    e >= needed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_round_trip() {
        let body = b"aBcDeFgHiJkLmNoPqRsTuVwXyZ0123";
        let check = base62_crc32(body);
        assert_eq!(check.len(), 6);
        let token = format!("ghp_{}{}", std::str::from_utf8(body).unwrap(), check);
        let data = token.as_bytes();
        assert!(validate_checksum("r", data, 0..data.len(), 0..data.len()).is_some());
        let mut bad = token.clone().into_bytes();
        bad[10] = if bad[10] == b'x' { b'y' } else { b'x' };
        assert!(validate_checksum("r", &bad, 0..bad.len(), 0..bad.len()).is_none());
    }

    #[test]
    fn a_chosen_password_inside_a_string_literal_is_a_fixture() {
        let hit = |text: &str| {
            let data = text.as_bytes();
            let at = text.find("Summer2024").unwrap();
            validate_generic("generic/credential", data, 0..at + 10, at..at + 10).is_some()
        };
        assert!(hit("password: Summer2024\n"));
        assert!(hit("{\"password\": \"Summer2024\"}\n"));
        assert!(hit("  db_password = \"Summer2024\"\n"));
        assert!(!hit("let data = b\"a: 1\\npassword: Summer2024\\n\";\n"));
        assert!(!hit("let data = b\"db: {user: admin, password: Summer2024}\";\n"));
    }

    #[test]
    fn random_values() {
        assert!(looks_random("q8Zt3kP0vX2mR7bN1cY6wLs9", 16));
        assert!(looks_random("3f9a1c0b7e6d5a4f2b8c9d0e1f2a3b4c5d6e7f8a9", 16));
        assert!(looks_random("123e4567-e89b-12d3-a456-426614174000", 16));
        assert!(looks_random("Zk3/q8Zt3kP0vX2mR7bN+1cY6wLs9", 16));
        for v in [
            "my-application-secret-name",
            "REPLACE_WITH_YOUR_TOKEN",
            "${CLOUDFLARE_API_TOKEN}",
            "{{ .Values.token }}",
            "xxxxxxxxxxxxxxxxxxxxxxxx",
            "/var/run/secrets/token",
            "https://example.com/hook",
            "2024-01-01T00:00:00Z",
            "existingSecretName",
            "ENC[AES256_GCM,data:Zm9v,iv:YmFy,tag:YmF6,type:str]",
            "MY_SECRET_ENV_VARIABLE",
            "kubernetes.default.svc",
            "v1.28.3",
            "os.environ/OPENCODE_API_KEY",
            "CONTEXT7_API_KEY",
            "var.onepassword_connect_token",
            "llama-strix-dsv4f",
            "super_secure_mqtt_password_123",
            "MyRootPassword123!",
            "random_bytes.tunnel_secret.base64",
            "queryParams.token",
            "BOUNCER_KEY_nginx",
            "zigbee2mqtt/client-auth-ca",
            "qwen3-embedding-0-6b",
            "*dbRootPass",
            "!!this.currentToken,",
            "Schedule - Update Flux",
            "kustomize.config.k8s.io/v1beta1",
            "external-secrets.io/v1alpha1",
            "actions/checkout@v4",
            "ghcr.io/onedr0p/home-assistant:2024.1.5",
            "ubuntu-latest",
        ] {
            assert!(!looks_random(v, 16), "{v}");
        }
    }

    #[test]
    fn reference_keys() {
        for k in
            ["existingSecret", "secretName", "passwordSecretRef", "tokenFile", "secretKeyRef", "passwordFile"]
        {
            assert!(is_reference_key(k), "{k}");
        }
        for k in ["password", "api_key", "SECRET_KEY", "masterkey", "webhookSecret", "token", "clientSecret"]
        {
            assert!(!is_reference_key(k), "{k}");
        }
    }
}
