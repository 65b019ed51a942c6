//! Plaintext Kubernetes Secrets and Kustomize secret literals.
//!
//! Every YAML document is checked (multi-document files, `kind: List` items, JSON manifests, which
//! are YAML flow syntax), whatever the order of `kind` and `data`. A value is reported when it is
//! non-empty, not a SOPS `ENC[…]` value, not a mere reference to a secret held elsewhere (a Flux
//! post-build substitution `${VAR}`, a Helm/Go template `{{ … }}`, or a whole secret-manager
//! reference such as 1Password's `op://vault/item/field`) and not public material (certificates,
//! public keys). Files with sops metadata are left to the SOPS engine.

use std::ops::Range;

use base64::Engine as _;

use crate::finding::Hit;
use crate::rules::id;
use crate::yaml::{self, Node};

/// Rule for Secret values.
pub const SECRET_RULE: &str = id::K8S_PLAINTEXT_SECRET;
/// Rule for Kustomize literals.
pub const LITERAL_RULE: &str = id::K8S_KUSTOMIZE_LITERAL;

/// Cheap test: could this file hold something this detector reports? Parsing YAML is by far the
/// most expensive step of a scan (tens of MB/s against GB/s for everything else), so this test
/// must turn away the manifests that only *mention* Secrets (`existingSecret`, `secretKeyRef`, a
/// HelmRelease's `valuesFrom: [{kind: Secret}]`, a Flux Kustomization's `substituteFrom`) while
/// never turning away a file that [`check`] would report on. It is exact for every file the
/// parser accepts (see [`document_may_hit`]); it only turns away some files the parser would
/// reject, whose syntax errors then go unreported, as for any other non-candidate file.
pub fn is_candidate(path: &str, data: &[u8]) -> bool {
    is_manifest_name(path) && mentions_secret(data) && documents(data).any(document_may_hit)
}

/// Whether the file name is one the manifest checks read (`.yaml`, `.yml`, `.json`).
pub(crate) fn is_manifest_name(path: &str) -> bool {
    let name = crate::source::file_name(path).as_bytes();
    [&b".yaml"[..], b".yml", b".json"]
        .iter()
        .any(|ext| name.len() >= ext.len() && name[name.len() - ext.len()..].eq_ignore_ascii_case(ext))
}

/// Whether the file name is a Kustomization's (`kustomization.yaml`, …), which the manifest
/// checks treat specially.
pub(crate) fn is_kustomization_name(path: &str) -> bool {
    let name = crate::source::file_name(path);
    ["kustomization.yaml", "kustomization.yml", "kustomization"].iter().any(|k| name.eq_ignore_ascii_case(k))
}

/// Whether the bytes contain `Secret` as a whole word (so not `existingSecret`, `SealedSecret`,
/// `SecretStore`) or `secretGenerator`. A scalar whose value is exactly `Secret` is always
/// written with `Secret` between non-word bytes (quotes, spaces, flow indicators, line ends); the
/// only way around it is an escape sequence in a double-quoted scalar, which was never detected.
fn mentions_secret(data: &[u8]) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/');
    memchr::memmem::find_iter(data, b"Secret").any(|at| {
        let before = at.checked_sub(1).map(|i| data[i]);
        let after = data.get(at + 6).copied();
        !before.is_some_and(word) && !after.is_some_and(word)
    }) || memchr::memmem::find(data, b"secretGenerator").is_some()
}

/// The documents of a YAML stream, as byte slices. A line starting with `---` or `...` followed
/// by white space (or the end) always ends a document, even inside a block scalar. A marker line
/// with content after it (`--- {kind: Secret}`) starts a document that begins on that line.
fn documents(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut starts = vec![0usize];
    for marker in [&b"\n---"[..], b"\n..."] {
        for at in memchr::memmem::find_iter(data, marker) {
            if data.get(at + 4).is_none_or(|b| b.is_ascii_whitespace()) {
                starts.push(at + 1);
            }
        }
    }
    starts.sort_unstable();
    let ends: Vec<usize> = starts.iter().skip(1).copied().chain([data.len()]).collect();
    starts.into_iter().zip(ends).map(move |(s, e)| &data[s..e])
}

/// Whether one document could produce a finding: it mentions a Secret or a secret generator and
/// its root `kind` is not known to be something else. [`check`] only looks at the root mapping
/// (and at `items` of a `kind: …List`): its first `kind` entry decides. The root `kind` is known
/// from a line `kind: Word` at column 0 when every column-0 line before it is a comment, a blank
/// line or another plain key: then the parser (which rejects under-indented continuation lines of
/// quoted scalars and flow collections) sees the same root mapping with the same first `kind`.
/// Anything else (flow or JSON documents, quoted or complex keys, anchors, tags, a root sequence,
/// `kind:` with its value elsewhere, a document indented as a whole) counts as unknown.
fn document_may_hit(doc: &[u8]) -> bool {
    if !mentions_secret(doc) {
        return false;
    }
    match root_kind(doc) {
        Some(kind) => kind == b"Secret" || kind.ends_with(b"List") || kind == b"Kustomization",
        None => true,
    }
}

/// Whether every document of a YAML stream is plainly a Kubernetes object other than a
/// `Secret` (a root `kind: Word` and `apiVersion: word`, as [`root_kind`] reads them) or holds
/// nothing but comments. The sops checks skip such objects when looking for values a creation
/// rule wants encrypted, so such a file needs no parse for them.
pub(crate) fn only_other_manifests(data: &[u8]) -> bool {
    // yaml.v3 reads these words as booleans or null, not strings.
    const NOT_TEXT: [&[u8]; 9] =
        [b"true", b"True", b"TRUE", b"false", b"False", b"FALSE", b"null", b"Null", b"NULL"];
    documents(data).all(|doc| {
        if is_blank_document(doc) {
            return true;
        }
        let text = |w: &[u8]| !NOT_TEXT.contains(&w);
        matches!(root_kind(doc), Some(kind) if kind != b"Secret" && text(kind))
            && matches!(root_value(doc, b"apiVersion", |b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'/' | b'-')), Some(v) if text(v))
    })
}

/// Whether a document has only blank lines, comments, directives and its marker.
fn is_blank_document(doc: &[u8]) -> bool {
    doc.split(|&b| b == b'\n').enumerate().all(|(i, line)| {
        let t = line.trim_ascii();
        if i == 0 && (t.starts_with(b"---") || t.starts_with(b"...")) {
            let rest = t[3..].trim_ascii_start();
            return rest.is_empty() || rest.starts_with(b"#");
        }
        t.is_empty() || t.starts_with(b"#") || line.starts_with(b"%")
    })
}

/// The value of a root key written plainly at column 0 (`apiVersion: apps/v1`): the first such
/// line, when every column-0 line before it is a comment, a blank line or another plain key,
/// and its value a plain word of `word_byte`s starting with a letter, followed by nothing or a
/// comment. `None` otherwise (see [`document_may_hit`] for why this is the parser's reading).
fn root_value<'d>(doc: &'d [u8], key: &[u8], word_byte: impl Fn(u8) -> bool) -> Option<&'d [u8]> {
    let key_byte = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/');
    let mut first = true;
    for line in doc.split(|&b| b == b'\n') {
        let is_marker = first && (line.starts_with(b"---") || line.starts_with(b"..."));
        first = false;
        if is_marker {
            let rest = line[3..].trim_ascii();
            if !rest.is_empty() && !rest.starts_with(b"#") {
                return None;
            }
            continue;
        }
        match line.first() {
            None | Some(b' ' | b'\t' | b'\r' | b'#' | b'%') => continue,
            Some(b) if b.is_ascii_alphanumeric() || *b == b'_' => {}
            Some(_) => return None,
        }
        let Some(rest) = line.strip_prefix(key) else { continue };
        if rest.first().is_some_and(|&b| key_byte(b)) {
            continue;
        }
        let rest = rest.strip_prefix(b":")?;
        let value = rest.trim_ascii_start();
        if value.len() == rest.len() {
            return None;
        }
        let end = value.iter().position(|&b| !word_byte(b)).unwrap_or(value.len());
        let (word, tail) = value.split_at(end);
        let tail_trimmed = tail.trim_ascii_start();
        let tail_ok =
            tail_trimmed.is_empty() || (tail_trimmed.starts_with(b"#") && tail_trimmed.len() < tail.len());
        return (!word.is_empty() && word[0].is_ascii_alphabetic() && tail_ok).then_some(word);
    }
    None
}

/// The document's root `kind` when it is plain to see (see [`document_may_hit`]): a word of
/// ASCII letters and digits.
fn root_kind(doc: &[u8]) -> Option<&[u8]> {
    root_value(doc, b"kind", |b| b.is_ascii_alphanumeric())
}

/// Checks one text file. A YAML syntax error is returned (with its byte span) so the caller can
/// report it as a problem, unless the file is a template (contains `{{`), which is not YAML.
pub fn check(path: &str, text: &str, hits: &mut Vec<Hit>) -> Result<(), yaml::YamlError> {
    let stream = match yaml::parse(text) {
        Ok(s) => s,
        Err(_) if text.contains("{{") => return Ok(()),
        Err(e) => return Err(e),
    };
    let is_kustomization_file = is_kustomization_name(path);
    for doc in &stream.documents {
        let root = &doc.root;
        // A sops file: its values are checked too, as the sops engine only checks what the
        // file's own rule encrypts; what that rule left in clear is reported here.
        let in_sops = root.get("sops").is_some_and(|s| s.as_map().is_some());
        let mut objects: Vec<&Node> = vec![root];
        if root.get("kind").and_then(Node::as_str).is_some_and(|k| k.ends_with("List")) {
            if let Some(items) = root.get("items").and_then(Node::as_seq) {
                objects.extend(items.iter());
            }
        }
        for obj in objects {
            if obj.as_map().is_none() {
                continue;
            }
            let kind = obj.get("kind").and_then(Node::as_str);
            if kind == Some("Secret") {
                let api = obj.get("apiVersion").and_then(Node::as_str).unwrap_or("v1");
                if api == "v1" {
                    check_secret(text, obj, in_sops, hits);
                }
            }
            if in_sops {
                continue;
            }
            if kind == Some("Kustomization") || (kind.is_none() && is_kustomization_file) {
                check_kustomization(text, obj, hits);
            }
        }
    }
    Ok(())
}

fn check_secret(text: &str, obj: &Node, in_sops: bool, hits: &mut Vec<Hit>) {
    let meta = obj.get("metadata");
    let name = meta.and_then(|m| m.get("name")).and_then(Node::as_str).unwrap_or("");
    let namespace = meta.and_then(|m| m.get("namespace")).and_then(Node::as_str).unwrap_or("");
    let secret_type = obj.get("type").and_then(Node::as_str).unwrap_or("");
    let argocd_type = meta
        .and_then(|m| m.get("labels"))
        .and_then(|l| l.get("argocd.argoproj.io/secret-type"))
        .and_then(Node::as_str)
        .unwrap_or("");
    for field in ["data", "stringData"] {
        let Some(entries) = obj.get(field).and_then(Node::as_map) else {
            continue;
        };
        for (k, v) in entries {
            let Some(value) = v.scalar() else { continue };
            let key = k.as_str().unwrap_or("");
            if v.is_null() || !is_plaintext(&value.value, field == "data") {
                continue;
            }
            let shown = readable(&value.value, field == "data");
            if is_non_credential_field(key, shown.as_deref(), secret_type, argocd_type) {
                continue;
            }
            let placeholder = shown.as_deref().is_some_and(is_placeholder_value);
            let what = if name.is_empty() { "a Secret".to_owned() } else { format!("Secret `{name}`") };
            let mut message = format!("{what} holds a plaintext value in `{field}.{key}`");
            if in_sops {
                message.push_str(super::schema::LEFT_IN_CLEAR);
            }
            let mut hit = Hit::new(SECRET_RULE, k.span.clone(), message)
                .with_secret(inner(text, v.span.clone()))
                .with_property("secret_name", name)
                .with_property("namespace", namespace)
                .with_property("key", key)
                .with_property("field", field);
            if in_sops {
                hit = hit.with_property("left_in_clear_by_sops", true);
            }
            if let Some(kind) =
                shown.as_deref().and_then(super::credential::not_a_credential).filter(|_| !placeholder)
            {
                hit.message = format!("{what} holds {kind} in `{field}.{key}`, not a credential");
                hit =
                    hit.with_severity(crate::finding::Severity::Note).with_property("not_a_credential", kind);
            }
            if placeholder {
                hit.message = format!(
                    "{what} holds a placeholder in `{field}.{key}` (not a credential; replace it before use)"
                );
                hit = hit.with_severity(crate::finding::Severity::Note).with_property("placeholder", true);
            }
            hits.push(hit);
        }
    }
}

/// The value as text: `stringData` as written, `data` base64-decoded (when it decodes to UTF-8).
fn readable(value: &str, base64_field: bool) -> Option<String> {
    let v = value.trim();
    if !base64_field {
        return Some(v.to_owned());
    }
    let compact: Vec<u8> = v.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let decoded = zeroize::Zeroizing::new(base64::engine::general_purpose::STANDARD.decode(&compact).ok()?);
    std::str::from_utf8(&decoded).ok().map(str::to_owned)
}

/// Fields of well-known Secret types that hold no credential: an Argo CD repository, repo-creds
/// or cluster Secret's `url`, `type`, `name`, `project` (and a cluster Secret's `server`,
/// `namespaces`, `clusterResources`, and a `config` without `bearerToken`, `password` or
/// `keyData`); `kubernetes.io/basic-auth`'s `username`; Ceph CSI's `clusterID`, `fsName`,
/// `userID`, `adminID`; and everywhere, connection settings that name rather than open
/// (`host`, `hostname`, `port`, `database`, `username`, `user`, `region`, `bucket`, an `endpoint`
/// or `url` without a password in it), booleans and LDAP distinguished names.
fn is_non_credential_field(key: &str, value: Option<&str>, secret_type: &str, argocd_type: &str) -> bool {
    let v = value.map(str::trim);
    if matches!(key, "clusterID" | "fsName" | "userID" | "adminID") {
        return true;
    }
    if secret_type == "kubernetes.io/basic-auth" && key == "username" {
        return true;
    }
    if matches!(argocd_type, "repository" | "repo-creds" | "cluster") {
        if matches!(
            key,
            "url"
                | "type"
                | "name"
                | "project"
                | "server"
                | "namespaces"
                | "clusterResources"
                | "enableLfs"
                | "insecure"
                | "proxy"
                | "noProxy"
                | "forceHttpBasicAuth"
                | "githubAppID"
                | "githubAppInstallationID"
                | "githubAppEnterpriseBaseUrl"
        ) {
            return true;
        }
        if key == "config" && argocd_type == "cluster" {
            if let Some(c) = v {
                return !(c.contains("bearerToken") || c.contains("password") || c.contains("keyData"));
            }
        }
    }
    let Some(v) = v else { return false };
    if matches!(v.to_ascii_lowercase().as_str(), "true" | "false" | "yes" | "no" | "on" | "off" | "null") {
        return true;
    }
    let k = key.to_ascii_lowercase().replace(['-', '.'], "_");
    let settings = [
        "host",
        "hostname",
        "port",
        "database",
        "db",
        "dbname",
        "db_name",
        "username",
        "user",
        "user_name",
        "region",
        "bucket",
        "bucket_name",
        "namespace",
        "email",
        "endpoint",
        "url",
        "server",
        "db_host",
        "db_port",
        "db_user",
        "db_username",
        "database_host",
        "database_port",
        "database_user",
        "database_name",
        "postgres_user",
        "postgres_db",
        "mysql_user",
        "mysql_database",
        "smtp_host",
        "smtp_port",
        "smtp_user",
        "s3_endpoint",
        "s3_region",
        "s3_bucket",
        "aws_region",
        "aws_default_region",
    ];
    if settings.contains(&k.as_str()) {
        // A URL with a password in its user info is a credential.
        let userinfo_password = v.split_once("://").is_some_and(|(_, rest)| {
            rest.split('/').next().is_some_and(|auth| {
                auth.contains('@') && auth.split('@').next().is_some_and(|u| u.contains(':'))
            })
        });
        return !userinfo_password;
    }
    // LDAP distinguished names (`cn=admin,dc=example,dc=org`).
    let dn = v.split(',').all(|rdn| {
        rdn.trim().split_once('=').is_some_and(|(a, b)| {
            matches!(
                a.trim().to_ascii_lowercase().as_str(),
                "cn" | "uid" | "ou" | "dc" | "o" | "c" | "l" | "st"
            ) && !b.is_empty()
        })
    });
    dn && v.contains(',')
}

/// Whether a Secret value is a documentation placeholder (`REPLACE_ME`, `YOUR_TOKEN`, `changeme`,
/// `<password>`, `‹token›`, `xxx`, `example`, `TODO`, `MyDatabasePassword`, a whole `abc123` or
/// `foobar`).
fn is_placeholder_value(v: &str) -> bool {
    let t = v.trim();
    let lower = t.to_ascii_lowercase();
    if (t.starts_with('<') && t.ends_with('>')) || (t.starts_with('‹') && t.ends_with('›')) {
        return true;
    }
    const WORDS: &[&str] = &[
        "replace_me",
        "replace-me",
        "replaceme",
        "your_",
        "your-",
        "changeme",
        "change_me",
        "change-me",
        "xxx",
        "example",
        "todo",
        "fixme",
        "placeholder",
        "dummy",
        "redacted",
        "password",
        "passwd",
        "mysecret",
        "my-secret",
        "my_secret",
        "secret123",
        "insert_",
        "goes_here",
        "goeshere",
    ];
    // The dummy values of tutorials and samples, whole.
    const DUMMIES: &[&str] = &[
        "secret", "token", "abc123", "abc1234", "abcd1234", "123abc", "foobar", "foo", "bar", "test", "asdf",
    ];
    WORDS.iter().any(|w| lower.contains(w)) || DUMMIES.contains(&lower.as_str())
}

fn check_kustomization(text: &str, obj: &Node, hits: &mut Vec<Hit>) {
    let Some(generators) = obj.get("secretGenerator").and_then(Node::as_seq) else {
        return;
    };
    for g in generators {
        let name = g.get("name").and_then(Node::as_str).unwrap_or("");
        let Some(literals) = g.get("literals").and_then(Node::as_seq) else {
            continue;
        };
        for lit in literals {
            let Some(s) = lit.as_str() else { continue };
            let Some((key, value)) = s.split_once('=') else {
                continue;
            };
            if !is_plaintext(value, false) {
                continue;
            }
            let span = inner(text, lit.span.clone());
            // The value part: after the first `=` in the source text, when it is written plainly.
            let secret = text
                .get(span.clone())
                .and_then(|src| src.find('='))
                .map_or(span.clone(), |eq| span.start + eq + 1..span.end);
            hits.push(
                Hit::new(
                    LITERAL_RULE,
                    lit.span.clone(),
                    format!("secretGenerator `{name}` has a literal value for `{key}`"),
                )
                .with_secret(secret)
                .with_property("secret_name", name)
                .with_property("key", key),
            );
        }
    }
}

/// Whether a value is a real plaintext secret value: not empty, not a SOPS `ENC[…]` value, not a
/// reference to a value held elsewhere, and not public material (certificates, public keys), as
/// written or, in `data`, once base64-decoded.
/// Whether a plaintext value can itself be a credential: not empty, a boolean, null or a number
/// (`secret.create: false`), a placeholder (`REPLACE_ME`, `<password>`), a template expression or
/// variable (`{{ .Values.x }}`, `${DB_PASSWORD}`), a secret-manager reference or public PEM
/// material. Used where a key's name alone (`password`, `token`) would otherwise make a value a
/// candidate.
pub(crate) fn is_literal_credential(value: &str) -> bool {
    let v = value.trim().trim_matches(|c| c == '"' || c == '\'');
    let lower = v.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "~" | "none" | "[]" | "{}"
    ) || v.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'_'))
    {
        return false;
    }
    // A whole `${VAR}` is a substitution (Flux postBuild, envsubst), not a literal.
    let substitution = v.starts_with("${") && v.ends_with('}') && !v[2..].contains("${");
    if substitution
        || v.contains("{%")
        || v.contains("{{")
        || v.contains("$(")
        || v.starts_with('*')
        || v.starts_with('&')
    {
        return false;
    }
    is_plaintext(v, false) && !is_placeholder_value(v)
}

fn is_plaintext(value: &str, base64_field: bool) -> bool {
    let v = value.trim();
    if v.is_empty() || v.starts_with("ENC[") || is_reference(v) || is_secret_manager_reference(v) {
        return false;
    }
    if is_public_pem(v.as_bytes()) {
        return false;
    }
    if base64_field {
        let compact: Vec<u8> = v.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        if let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(&compact) {
            if decoded.iter().all(|b| b.is_ascii_whitespace()) || is_public_pem(&decoded) {
                return false;
            }
        }
    }
    true
}

/// A whole value that names a secret held in a secret manager, which a tool swaps in at deploy
/// time: a 1Password secret reference (`op://vault/item/field`, for `op inject`), a vals reference
/// (`ref+vault://…`, `ref+sops://…`, used by helmfile), an argocd-vault-plugin placeholder
/// (`<path:secret/data/app#password>`, `<password>`) or a bank-vaults reference
/// (`vault:secret/data/app#password`). Only the whole value counts, so a reference never hides a
/// secret written next to it.
fn is_secret_manager_reference(v: &str) -> bool {
    let no_space = !v.bytes().any(|b| b.is_ascii_whitespace());
    let word = |s: &str| {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    };
    if let Some(rest) = v.strip_prefix("op://") {
        // vault/item/[section/]field
        let parts: Vec<&str> = rest.split('/').collect();
        return no_space && (3..=4).contains(&parts.len()) && parts.iter().all(|p| !p.is_empty());
    }
    if let Some(rest) = v.strip_prefix("ref+") {
        return no_space
            && rest.split_once("://").is_some_and(|(scheme, path)| word(scheme) && !path.is_empty());
    }
    if let Some(rest) = v.strip_prefix("vault:") {
        return no_space
            && rest.split_once('#').is_some_and(|(path, key)| !path.is_empty() && !key.is_empty());
    }
    if let Some(inside) = v.strip_prefix('<').and_then(|r| r.strip_suffix('>')) {
        if inside.contains('\n') || inside.contains(['<', '>']) {
            return false;
        }
        // `<path:secret/data/app#key>`, optionally with modifiers (`| base64encode`).
        if let Some(path) = inside.strip_prefix("path:") {
            return path.split_once('#').is_some_and(|(p, k)| !p.is_empty() && !k.trim().is_empty());
        }
        // `<key>` or `<key | modifier>`.
        let key = inside.split('|').next().unwrap_or("").trim();
        return word(key);
    }
    false
}

/// Whether bytes are only PEM blocks of public material (certificates, certificate requests,
/// CRLs, public keys) with nothing but base64 inside them. A `tls.crt` or `ca.crt` is not secret;
/// a value that also holds a private key, or anything else, is not public.
fn is_public_pem(b: &[u8]) -> bool {
    const PUBLIC: &[&[u8]] = &[
        b"CERTIFICATE",
        b"TRUSTED CERTIFICATE",
        b"X509 CRL",
        b"CERTIFICATE REQUEST",
        b"NEW CERTIFICATE REQUEST",
        b"PUBLIC KEY",
        b"RSA PUBLIC KEY",
    ];
    let mut rest = b.trim_ascii();
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let Some(after) = rest.strip_prefix(b"-----BEGIN ") else { return false };
        let Some(label_end) = memchr::memmem::find(after, b"-----") else { return false };
        let label = &after[..label_end];
        if !PUBLIC.contains(&label) {
            return false;
        }
        let mut end_marker = b"-----END ".to_vec();
        end_marker.extend_from_slice(label);
        end_marker.extend_from_slice(b"-----");
        let body_start = label_end + 5;
        let Some(body_len) = memchr::memmem::find(&after[body_start..], &end_marker) else { return false };
        let body = &after[body_start..body_start + body_len];
        if !body
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=') || c.is_ascii_whitespace())
        {
            return false;
        }
        rest = after[body_start + body_len + end_marker.len()..].trim_ascii_start();
    }
    true
}

/// `${VAR}` substitutions (Flux post-build) and `{{ … }}` templates refer to values held elsewhere.
fn is_reference(v: &str) -> bool {
    if v.contains("{{") && v.contains("}}") {
        return true;
    }
    let mut rest = v;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) if end > 0 => {
                let name = &after[..end];
                let var = name.split([':', '-', '=']).next().unwrap_or("");
                if !var.is_empty() && var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                    return true;
                }
                rest = &after[end..];
            }
            _ => break,
        }
    }
    false
}

/// Shrinks a quoted scalar's span to its content.
fn inner(text: &str, span: Range<usize>) -> Range<usize> {
    let b = text.as_bytes();
    if span.end >= span.start + 2 {
        let (f, l) = (b[span.start], b[span.end - 1]);
        if (f == b'"' && l == b'"') || (f == b'\'' && l == b'\'') {
            return span.start + 1..span.end - 1;
        }
    }
    span
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_other_manifests_reads_root_kind_and_api_version() {
        let yes: [&str; 5] = [
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  k: v\n",
            "# header\n---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease # c\nspec:\n  values:\n    data: x\n",
            "---\napiVersion: apps/v1\nkind: Deployment\n---\n# only a comment\n---\nkind: Service\napiVersion: v1\n",
            "",
            "# nothing\n",
        ];
        for y in yes {
            assert!(only_other_manifests(y.as_bytes()), "{y:?}");
        }
        let no: [&str; 10] = [
            "apiVersion: v1\nkind: Secret\ndata:\n  k: dg==\n",
            "apiVersion: v1\nkind: ConfigMap\n---\ndata:\n  k: v\n",
            "kind: ConfigMap\ndata: {}\n",
            "apiVersion: 1\nkind: ConfigMap\n",
            "apiVersion: true\nkind: ConfigMap\n",
            "apiVersion: v1\nkind: Null\n",
            "apiVersion: \"v1\"\nkind: ConfigMap\n",
            "{apiVersion: v1, kind: ConfigMap, data: {k: v}}\n",
            "apiVersion: v1\n\"kind\": Secret\nkind: ConfigMap\n",
            "--- {kind: Secret}\napiVersion: v1\n",
        ];
        for n in no {
            assert!(!only_other_manifests(n.as_bytes()), "{n:?}");
        }
    }

    fn run(path: &str, text: &str) -> Vec<Hit> {
        let mut hits = Vec::new();
        check(path, text, &mut hits).unwrap();
        hits
    }

    #[test]
    fn one_hit_per_key_on_the_key() {
        let text = "data:\n  a: YQ==\n  b: \"Yg==\"\nkind: Secret\nmetadata: {name: s, namespace: n}\n";
        let hits = run("s.yaml", text);
        assert_eq!(hits.len(), 2);
        assert_eq!(&text[hits[0].span.clone()], "a");
        assert_eq!(&text[hits[1].secret.clone().unwrap()], "Yg==");
    }

    #[test]
    fn references() {
        assert!(is_reference("${DB_PASSWORD}"));
        assert!(is_reference("postgres://${USER:=x}@h"));
        assert!(is_reference("{{ .Values.x }}"));
        assert!(!is_reference("hunter2"));
        assert!(!is_reference("${}"));
    }

    /// The candidate test may turn a file away only if `check` would find nothing in it.
    fn assert_candidate_is_sound(path: &str, text: &str) -> bool {
        let candidate = is_candidate(path, text.as_bytes());
        if !candidate {
            let mut hits = Vec::new();
            let _ = check(path, text, &mut hits);
            assert!(hits.is_empty(), "{path}: turned away but has findings:\n{text}");
        }
        candidate
    }

    #[test]
    fn candidates_need_a_secret_that_can_be_the_root_kind() {
        let secret = "apiVersion: v1\nkind: Secret\nstringData:\n  password: hunter22\n";
        let helm = "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nspec:\n  valuesFrom:\n    - kind: Secret\n      name: v\n  values:\n    existingSecret: x\n";
        let flux_ks = "---\n# comment\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: a\nspec:\n  postBuild:\n    substituteFrom:\n      - kind: Secret\n        name: cluster-secrets\n";
        // Turned away: only mentions.
        for (path, text) in [
            ("a.yaml", helm),
            (
                "a.yaml",
                "kind: Deployment\nspec:\n  env:\n    - valueFrom:\n        secretKeyRef: {name: x}\n",
            ),
            ("a.yaml", "kind: SealedSecret\nspec:\n  encryptedData:\n    a: AgB\n"),
            ("a.yaml", "kind: ExternalSecret\nspec:\n  secretStoreRef: {kind: ClusterSecretStore}\n"),
            ("a.yml", "existingSecret: foo\n"),
            ("a.yaml", "kind: ConfigMap # a comment about a Secret\ndata: {a: b}\n"),
        ] {
            assert!(!assert_candidate_is_sound(path, text), "{text}");
        }
        // Only manifests by name.
        assert!(!is_candidate("a.txt", secret.as_bytes()));
        // Kept: a Secret (or a List, a Kustomization, an unknown root kind) in any document.
        for (path, text) in [
            ("a.yaml", secret.to_owned()),
            ("a.YML", secret.to_owned()),
            ("a.yaml", format!("{helm}---\n{secret}")),
            ("a.yaml", format!("{flux_ks}...\n---\n{secret}")),
            ("a.yaml", format!("{secret}---\n{helm}")),
            ("a.yaml", "kind: List\nitems:\n  - kind: Secret\n    stringData: {a: hunter22}\n".to_owned()),
            ("a.yaml", "kind: SecretList\nitems:\n  - kind: Secret\n    data: {a: YQ==}\n".to_owned()),
            ("a.json", "{\"kind\": \"Secret\", \"data\": {\"a\": \"aHVudGVy\"}}".to_owned()),
            ("a.yaml", "\"kind\": HelmRelease\nkind: Secret\nstringData:\n  a: b\n".to_owned()),
            ("a.yaml", "kind: \"HelmRelease\"\nstringData:\n  a: b\nx: Secret\n".to_owned()),
            ("a.yaml", "kind: &k Secret\nstringData:\n  a: b\n".to_owned()),
            ("a.yaml", "kind:\n  Secret\nstringData:\n  a: b\n".to_owned()),
            ("a.yaml", "kind : Secret\nstringData:\n  a: b\n".to_owned()),
            ("a.yaml", "  kind: Secret\n  stringData:\n    a: b\n".to_owned()),
            ("a.yaml", "--- {kind: Secret, stringData: {a: b}}\n".to_owned()),
            ("a.yaml", "kind: Secret#x\nstringData:\n  a: b\n".to_owned()),
            ("a.yaml", "kind: Secret # the real kind\nstringData:\n  a: b\n".to_owned()),
            ("kustomization.yaml", "secretGenerator:\n  - name: a\n    literals: [A=hunter22]\n".to_owned()),
            (
                "a.yaml",
                "kind: Kustomization\nsecretGenerator:\n  - name: a\n    literals: [A=hunter22]\n".to_owned(),
            ),
        ] {
            assert!(assert_candidate_is_sound(path, &text), "{text}");
        }
    }

    #[test]
    fn the_first_root_kind_decides_as_in_the_parser() {
        // Duplicate keys: the parser's `get` takes the first, and so does the candidate test.
        let text = "kind: HelmRelease\nkind: Secret\nstringData:\n  a: hunter22\n";
        assert!(run("a.yaml", text).is_empty());
        assert!(!is_candidate("a.yaml", text.as_bytes()));
        // A block scalar cannot hide a root key at column 0.
        let text = "a: |\nkind: HelmRelease\nkind: Secret\nstringData:\n  a: hunter22\n";
        assert!(!assert_candidate_is_sound("a.yaml", text));
        // Under-indented quoted or flow continuation lines are errors for the parser.
        for text in [
            "a: \"x\nkind: HelmRelease\n\"\nkind: Secret\nstringData:\n  a: b\n",
            "a: [x,\nkind: HelmRelease\n]\nkind: Secret\nstringData:\n  a: b\n",
        ] {
            assert!(yaml::parse(text).is_err());
        }
    }

    #[test]
    fn secret_manager_references_are_not_plaintext() {
        for v in [
            "op://kubernetes/1password/OP_CONNECT_TOKEN",
            "op://vault/item/section/field",
            "ref+vault://secret/app#/password",
            "ref+sops://secrets.yaml#/db/password",
            "<path:secret/data/app#password>",
            "<path:secret/data/app#password | base64encode>",
            "<password>",
            "<db-password | base64encode>",
            "vault:secret/data/accounts/aws#AWS_SECRET_ACCESS_KEY",
        ] {
            assert!(is_secret_manager_reference(v), "{v}");
            assert!(!is_plaintext(v, false), "{v}");
        }
        for v in [
            "op://",
            "op://just-one",
            "op://a/b/c hunter22",
            "hunter22 op://a/b/c",
            "ref+://x",
            "vault:nokey",
            "<not a placeholder>",
            "<a><b>",
            "s3cr3t-value",
        ] {
            assert!(!is_secret_manager_reference(v), "{v}");
            assert!(is_plaintext(v, false), "{v}");
        }
    }

    #[test]
    fn certificates_and_public_keys_are_not_plaintext() {
        use base64::Engine as _;
        // Synthetic blocks; the BEGIN lines are assembled so that this file holds no key block.
        let pem =
            |label: &str, body: &str| format!("-----BEGIN {label}-----\n{body}\n-----END {label}-----\n");
        let cert = &pem("CERTIFICATE", "MIIBpTyGJMuHbEL31IeL2HPcHyGcFRl1SPnXNYvMIHa/2o76umfXfKm/r5kJP1Vr\nT+1FJors/6ILi8IHn5kxsC7tVO/HbkQfyy/KV5zjR3j1twdTKWTddB+XhkAS1voQ");
        let key = &pem(
            &["RSA", "PRIVATE KEY"].join(" "),
            "MIIEG6yyzyN9zHYIa4UOrGNATMuDJawTgsu8PO+799nKSNrh9UCauSDmLhuVtcqc",
        );
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        assert!(!is_plaintext(cert, false));
        assert!(!is_plaintext(&format!("{cert}\n{cert}"), false));
        assert!(!is_plaintext(&b64(cert), true));
        assert!(!is_plaintext(&b64(&format!("{cert}{cert}")), true));
        let pubkey = &pem("PUBLIC KEY", "MIIBIjANYezdZ/tDDj8hYs5suKcNd8Zra9A9sKPxZ9W3qLy7zKUVQDT7S8sTQCBN");
        assert!(!is_plaintext(&b64(pubkey), true));
        // A private key, a certificate bundled with a key, or text around a certificate is secret.
        assert!(is_plaintext(&b64(key), true));
        assert!(is_plaintext(&b64(&format!("{cert}{key}")), true));
        assert!(is_plaintext(&format!("password: x\n{cert}"), false));
        assert!(is_plaintext("-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----", false));
        assert!(is_plaintext("-----BEGIN CERTIFICATE-----\nMIIB\n", false));
        // The whole check on a Secret: only the key is reported.
        let text = format!(
            "apiVersion: v1\nkind: Secret\ntype: kubernetes.io/tls\nmetadata:\n  name: t\ndata:\n  ca.crt: {}\n  tls.crt: {}\n  tls.key: {}\n",
            b64(cert),
            b64(cert),
            b64(key)
        );
        let hits = run("tls.yaml", &text);
        assert_eq!(hits.len(), 1);
        assert_eq!(&text[hits[0].span.clone()], "tls.key");
    }

    #[test]
    fn templates_that_are_not_yaml_are_skipped() {
        let text = "kind: Secret\ndata:\n{{- range .Values.x }}\n  {{ .k }}: {{ .v }}\n{{- end }}\n";
        assert!(run("templates/s.yaml", text).is_empty());
    }
}
