//! [`check_file`]: every sops rule for one file.

use sha2::{Digest, Sha256, Sha512};
use zeroize::Zeroize;

use super::cipher::{self, ValueCipher};
use super::config::{CreationRule, ParsedConfig, Selection, WantedKey};
use super::keys::{recover_data_key, KeyOutcome};
use super::metadata::{self, KeyKind, Metadata};
use super::store::{self, Loaded, StoreKind};
use super::tree::{self, EncryptionRule, Item, Span, Tree, Value};
use super::value::Scalar;
use super::verdict::{is_sops_named, may_hold_metadata, ContentMemo, Verdict};
use super::{MacStatus, SopsContext, SopsOutcome};
use crate::finding::Hit;
use crate::rules::id;

/// One recipient of a sops file, as its metadata lists it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Recipient {
    /// 0-based key group.
    pub group: usize,
    /// Key type.
    pub kind: KeyKind,
    /// sops' identity string for the key (age recipient, PGP fingerprint, KMS ARN…).
    pub id: String,
}

/// What the metadata of a sops file says, for reports and tests.
#[derive(Clone, Debug)]
pub struct FileInfo {
    /// The store that read the file.
    pub store: StoreKind,
    /// Recipients, group by group, in metadata order.
    pub recipients: Vec<Recipient>,
    /// The `version` field.
    pub version: Option<String>,
    /// Whether the MAC covers only encrypted values.
    pub mac_only_encrypted: bool,
    /// The encryption rule written in the file (`encrypted_regex: ^data$`), if any.
    pub rule: Option<String>,
}

/// Reads a file's sops metadata without checking anything. `None` if it is not a sops file.
pub fn inspect(path: &str, data: &[u8]) -> Option<FileInfo> {
    if !may_hold_metadata(data) {
        return None;
    }
    let (kind, loaded) = load_any(StoreKind::for_path(path), data);
    let src = loaded.ok()?.metadata?;
    let md = metadata::decode(&src.node);
    Some(FileInfo {
        store: kind,
        recipients: recipients_of(&md),
        version: md.version.clone(),
        mac_only_encrypted: md.mac_only_encrypted,
        rule: md.explicit_rule.as_ref().map(|(k, v, _)| format!("{}: {v}", k.key())),
    })
}

fn recipients_of(md: &Metadata) -> Vec<Recipient> {
    md.groups
        .iter()
        .enumerate()
        .flat_map(|(g, keys)| {
            keys.iter().map(move |k| Recipient { group: g, kind: k.kind, id: k.id.clone() })
        })
        .collect()
}

/// Loads with the store the file name selects; when that finds no sops metadata, tries the JSON
/// and YAML stores too, so files encrypted with `--input-type` under another name (`secret`,
/// `hidden-yaml.json`) are still recognised.
pub(crate) fn load_any(kind: StoreKind, data: &[u8]) -> (StoreKind, Result<Loaded, store::StoreError>) {
    if !may_hold_metadata(data) {
        return (kind, store::load(kind, data));
    }
    let first = store::load(kind, data).map(drop_foreign_metadata);
    if matches!(&first, Ok(l) if l.metadata.is_some()) {
        return (kind, first);
    }
    for alt in [StoreKind::Json, StoreKind::Yaml, StoreKind::Dotenv, StoreKind::Ini] {
        if alt == kind || (alt == StoreKind::Json && kind == StoreKind::Binary) {
            continue;
        }
        if let Ok(l) = store::load(alt, data).map(drop_foreign_metadata) {
            if l.metadata.is_some() {
                return (alt, Ok(l));
            }
        }
    }
    (kind, first)
}

/// A top-level `sops` entry that holds none of sops' metadata fields (say `sops: {enabled: true}`
/// in some application's config) is not sops metadata: such a file is checked as a plain file.
fn drop_foreign_metadata(mut l: Loaded) -> Loaded {
    const FIELDS: [&str; 12] = [
        "lastmodified",
        "mac",
        "version",
        "age",
        "pgp",
        "kms",
        "gcp_kms",
        "azure_kv",
        "hc_vault",
        "hckms",
        "key_groups",
        "encrypted_regex",
    ];
    let foreign = match &l.metadata {
        Some(m) if m.problem.is_none() || !matches!(m.node.value, Value::Map(_)) => match &m.node.value {
            Value::Map(items) => {
                !items.iter().any(|i| matches!(i, Item::Pair { key, .. } if FIELDS.contains(&key.as_str())))
            }
            _ => true,
        },
        _ => false,
    };
    if foreign {
        l.metadata = None;
    }
    l
}

fn display_path(path: &[&str]) -> String {
    if path.is_empty() {
        "(top level)".to_owned()
    } else {
        path.join(".")
    }
}

/// Checks one file against the sops rules.
pub fn check_file(path: &str, data: &[u8], ctx: &SopsContext<'_>) -> SopsOutcome {
    check_judged(path, data, ctx, ctx.configs.verdict(path, data, ctx.strict, &mut ContentMemo::default()))
}

/// [`check_file`] with the verdict of `ctx.configs` on this file (under `ctx.strict`) already
/// worked out.
pub(crate) fn check_judged(
    path: &str,
    data: &[u8],
    ctx: &SopsContext<'_>,
    verdict: Verdict<'_>,
) -> SopsOutcome {
    let selection = match verdict {
        Verdict::Config | Verdict::Inert => return SopsOutcome::default(),
        Verdict::Selected(s) => s,
    };
    // The verdict settled everything that needs no parse (see `is_inert`).
    let name_kind = StoreKind::for_path(path);
    let named = is_sops_named(path);
    let mentions_sops = may_hold_metadata(data);
    let (kind, loaded) =
        if mentions_sops { load_any(name_kind, data) } else { (name_kind, store::load(name_kind, data)) };
    let loaded = match loaded {
        Ok(l) => l,
        Err(e) => {
            // Unparsable: only a finding when it clearly was meant to be a sops file.
            let looks_sops = memchr::memmem::find(data, b"ENC[AES256_GCM,").is_some()
                && memchr::memmem::find(data, b"lastmodified").is_some();
            if looks_sops {
                let hit = Hit::new(
                    id::SOPS_MALFORMED,
                    clamp(&e.span, data.len()),
                    format!("sops file cannot be read by the {} store: {}", kind.as_str(), e.message),
                )
                .with_identity("malformed:unparsable");
                return SopsOutcome { hits: vec![hit], mac: MacStatus::Failed };
            }
            return SopsOutcome::default();
        }
    };
    match loaded.metadata {
        Some(_) => check_sops_file(path, kind, data, loaded, &selection, ctx),
        None => SopsOutcome {
            hits: check_plain_file(path, kind, data, &loaded, &selection, named, ctx),
            mac: MacStatus::NotSops,
        },
    }
}

/// One `sops/malformed` finding for all the encrypted values of a file that do not parse (a
/// broken edit or tool run usually breaks every value at once): the first, with the count and
/// the first few key paths.
fn collapse_malformed_values(hits: &mut Vec<Hit>) {
    let is_value = |h: &Hit| h.identity.as_deref().is_some_and(|i| i.starts_with("malformed-value:"));
    let at: Vec<usize> = (0..hits.len()).filter(|&i| is_value(&hits[i])).collect();
    let Some((&first, rest)) = at.split_first() else { return };
    if rest.is_empty() {
        return;
    }
    let paths: Vec<String> = rest
        .iter()
        .take(3)
        .filter_map(|&i| {
            hits[i]
                .identity
                .as_deref()
                .and_then(|id| id.strip_prefix("malformed-value:"))
                .map(|p| format!("`{p}`"))
        })
        .collect();
    let more = if rest.len() > paths.len() { ", …" } else { "" };
    let note =
        format!(" (and {} more encrypted values that do not parse: {}{more})", rest.len(), paths.join(", "));
    hits[first].message.push_str(&note);
    hits[first].properties.insert("values".into(), serde_json::Value::from(at.len()));
    let mut i = 0;
    hits.retain(|h| {
        let keep = i == first || !is_value(h);
        i += 1;
        keep
    });
}

fn clamp(span: &Span, len: usize) -> Span {
    let s = span.start.min(len);
    s..span.end.clamp(s, len)
}

// ---------------------------------------------------------------------------------------------
// Files without metadata

use crate::detect::credential;

#[cfg(test)]
pub(super) use credential::KeyHint as KeyHintForTests;

#[cfg(test)]
pub(super) fn key_hint_for_tests(key: &str) -> credential::KeyHint {
    credential::key_hint(key, credential::CREDENTIAL_KEY_WORDS)
}

/// A value sops would encrypt: where it is and its key path.
pub(super) struct Candidate {
    span: Span,
    path: String,
}

/// Whether a plaintext value a rule wants encrypted can be a credential: its key names one
/// (`password`, `token`, `apiKey`, `tls.key`, …), or the value looks random, carries a key block
/// or a URL with a password. Names, flags and ordinary settings (`runs-on: ubuntu-latest`) cannot.
fn may_hold_secret(c: &Candidate, data: &[u8]) -> bool {
    let raw = data.get(c.span.clone()).unwrap_or_default();
    let v = String::from_utf8_lossy(raw);
    let leaf = c.path.rsplit('.').next().unwrap_or(&c.path);
    credential::value_may_be_secret(leaf, &v, credential::CREDENTIAL_KEY_WORDS)
}

/// Whether a branch is a Kubernetes manifest, and if so whether it is a `kind: Secret`.
fn k8s_kind(branch: &[Item]) -> Option<bool> {
    let get = |k: &str| {
        branch.iter().find_map(|i| match i {
            Item::Pair { key, value, .. } if key == k => Some(value),
            _ => None,
        })
    };
    let api = get("apiVersion")?;
    let kind = get("kind")?;
    let s = |n: &tree::Node| match &n.value {
        Value::Scalar(Scalar::Str(s)) => Some(s.clone()),
        _ => None,
    };
    s(api)?;
    Some(s(kind)? == b"Secret")
}

pub(super) fn candidates(tree: &Tree, rule: &EncryptionRule, k8s_filter: bool) -> Vec<Candidate> {
    let mut out = Vec::new();
    for branch in &tree.branches {
        if k8s_filter && k8s_kind(branch) == Some(false) {
            continue;
        }
        tree::walk_branch(branch, rule, &mut |leaf| {
            if !leaf.encrypt || leaf.comment.is_some() {
                return;
            }
            let Some(s) = leaf.scalar else { return };
            if s.is_empty_or_null() {
                return;
            }
            if let Scalar::Str(b) = s {
                if cipher::looks_encrypted(b) {
                    return;
                }
            }
            out.push(Candidate { span: leaf.span.clone(), path: display_path(leaf.path) });
        });
    }
    out
}

/// Whether raw bytes (binary store) are ciphertext of another tool or not text at all: then they
/// are not a plaintext secret.
fn is_opaque_binary(data: &[u8]) -> bool {
    const MARKERS: [&[u8]; 5] = [
        b"-----BEGIN PGP MESSAGE-----",
        b"-----BEGIN AGE ENCRYPTED FILE-----",
        b"age-encryption.org/v1",
        b"Salted__",
        b"$ANSIBLE_VAULT;",
    ];
    let head = data.trim_ascii_start();
    MARKERS.iter().any(|m| head.starts_with(m)) || data.contains(&0) || std::str::from_utf8(data).is_err()
}

/// The first plaintext candidate that can be a credential (its index), and for a whole-file
/// (binary store) candidate the span of that value inside the file, so the finding points there
/// and not at line 1. `(None, None)`: no value can be a credential.
fn first_credential(kind: StoreKind, cands: &[Candidate], data: &[u8]) -> (Option<usize>, Option<Span>) {
    if kind == StoreKind::Binary {
        let inner = if cands.is_empty() { None } else { credential::whole_text_secret_span(data) };
        (inner.as_ref().map(|_| 0), inner)
    } else {
        (cands.iter().position(|c| may_hold_secret(c, data)), None)
    }
}

fn check_plain_file(
    path: &str,
    kind: StoreKind,
    data: &[u8],
    loaded: &Loaded,
    selection: &Selection<'_>,
    named: bool,
    ctx: &SopsContext<'_>,
) -> Vec<Hit> {
    let mut hits = Vec::new();
    if kind == StoreKind::Binary && is_opaque_binary(data) {
        return hits;
    }
    let rule_for = |r: Option<&CreationRule>| -> EncryptionRule {
        // Since 3.11 the binary store ignores encryption rules.
        if kind == StoreKind::Binary {
            return EncryptionRule::new(tree::RuleKind::UnencryptedSuffix, "");
        }
        r.map_or_else(EncryptionRule::default_rule, CreationRule::effective_rule)
    };
    let matched = match selection {
        Selection::Rule(cfg, r) => Some((*cfg, *r)),
        _ => None,
    };
    if named {
        let rule = rule_for(matched.map(|m| m.1));
        let cands = candidates(&loaded.tree, &rule, false);
        // As for sops/not-encrypted: at the first value that can be a credential; a file whose
        // values are all references, templates or settings gets a note.
        let (secretish, inner) = first_credential(kind, &cands, data);
        if let Some(first) = secretish.map(|i| &cands[i]).or(cands.first()) {
            let span = clamp(inner.as_ref().unwrap_or(&first.span), data.len());
            let by_rule = match matched {
                Some((cfg, r)) => format!(" (creation rule {} of {} matches it)", r.number, cfg.path),
                None => " (no creation rule matches it)".to_owned(),
            };
            let mut hit = Hit::new(
                id::SOPS_NAMED_BUT_PLAIN,
                span.clone(),
                if kind == StoreKind::Binary {
                    format!("{path} is named like sops output but has no sops metadata: the whole file is in plaintext{by_rule}")
                } else {
                    format!(
                        "{path} is named like sops output but has no sops metadata: {} value(s) are in plaintext, starting at `{}`{by_rule}",
                        cands.len(),
                        first.path
                    )
                },
            )
            .with_secret(span)
            .with_property("values", cands.len())
            .with_property("key_paths", cands.iter().take(50).map(|c| c.path.clone()).collect::<Vec<_>>());
            if let Some((cfg, r)) = matched {
                hit = hit.with_property("config", cfg.path.clone()).with_property("creation_rule", r.number);
            }
            if secretish.is_none() {
                hit = hit
                    .with_severity(crate::finding::Severity::Note)
                    .with_property("no_credential_like_value", true);
            }
            hits.push(hit);
            return hits;
        }
    }
    if let Some((cfg, r)) = matched {
        // A rule without path_regex is a default for files encrypted by hand; it does not by
        // itself demand that every file be encrypted.
        if !r.has_path_regex {
            return hits;
        }
        let rule = rule_for(Some(r));
        let k8s_filter = !ctx.strict && matches!(kind, StoreKind::Yaml | StoreKind::Json);
        let cands = candidates(&loaded.tree, &rule, k8s_filter);
        // One finding per file: at the first value that can be a credential, with the count;
        // a file whose plaintext values are all settings (names, flags, numbers) gets a note.
        let (secretish, inner) = first_credential(kind, &cands, data);
        if let Some(first) = secretish.map(|i| &cands[i]).or(cands.first()) {
            let span = clamp(inner.as_ref().unwrap_or(&first.span), data.len());
            let rule_desc = match &r.rule {
                Some(er) if kind != StoreKind::Binary => format!(" ({}: {})", er.kind.key(), er.value),
                _ => String::new(),
            };
            let what = if kind == StoreKind::Binary {
                match &inner {
                    Some(i) if i.start > 0 || i.end < data.len() => {
                        "the whole file is in plaintext (here, a value that can be a credential)".to_owned()
                    }
                    _ => "the whole file is in plaintext".to_owned(),
                }
            } else if cands.len() == 1 {
                format!("`{}` is in plaintext", first.path)
            } else {
                format!("{} values are in plaintext, starting at `{}`", cands.len(), first.path)
            };
            let mut hit = Hit::new(
                id::SOPS_NOT_ENCRYPTED,
                span.clone(),
                format!(
                    "{what}, but creation rule {} of {}{rule_desc} says sops must encrypt it",
                    r.number, cfg.path
                ),
            )
            .with_secret(span)
            .with_property("key_path", first.path.clone())
            .with_property("values", cands.len())
            .with_property("key_paths", cands.iter().take(50).map(|c| c.path.clone()).collect::<Vec<_>>())
            .with_property("config", cfg.path.clone())
            .with_property("creation_rule", r.number);
            if secretish.is_none() {
                hit = hit
                    .with_severity(crate::finding::Severity::Note)
                    .with_property("no_credential_like_value", true);
            }
            hits.push(hit);
        }
    }
    hits
}

// ---------------------------------------------------------------------------------------------
// Files with metadata

fn check_sops_file(
    path: &str,
    kind: StoreKind,
    data: &[u8],
    loaded: Loaded,
    selection: &Selection<'_>,
    ctx: &SopsContext<'_>,
) -> SopsOutcome {
    let _ = path;
    let mut hits = Vec::new();
    let Loaded { mut tree, metadata, rejected } = loaded;
    let src = metadata.expect("checked by the caller");
    let key_span = clamp(&src.key_span, data.len());
    let mut fatal = false;
    if let Some(p) = &rejected {
        hits.push(
            Hit::new(
                id::SOPS_MALFORMED,
                clamp(&p.span, data.len()),
                format!("sops cannot read this file: {}", p.message),
            )
            .with_identity(format!("malformed:{}", p.message)),
        );
        fatal = true;
    }
    if let Some(p) = &src.problem {
        hits.push(
            Hit::new(id::SOPS_MALFORMED, clamp(&p.span, data.len()), format!("sops metadata: {}", p.message))
                .with_identity(format!("malformed:{}", p.message)),
        );
        fatal = true;
    }
    let md = metadata::decode(&src.node);
    for p in &md.problems {
        hits.push(
            Hit::new(id::SOPS_MALFORMED, clamp(&p.span, data.len()), format!("sops metadata: {}", p.message))
                .with_identity(format!("malformed:{}", p.message)),
        );
    }
    fatal |= !md.loadable();
    // The MAC covers clear numbers as the version that wrote the file typed them.
    if matches!(kind, StoreKind::Json | StoreKind::Binary)
        && store::json::numbers_are_floats(md.version.as_deref())
    {
        store::json::retype_numbers_as_floats(&mut tree, data);
    }
    // sops compares the decrypted MAC with a string: any other type never matches, and
    // `type:bytes` makes sops 3 crash (its IV stash cannot hash a byte slice).
    if let Some((mac, span)) = &md.mac {
        if let Ok(e) = cipher::parse_enc(mac) {
            if e.ty != cipher::EncType::Str {
                hits.push(
                    Hit::new(
                        id::SOPS_MALFORMED,
                        clamp(span, data.len()),
                        format!(
                            "the stored MAC is typed `{}`, but sops accepts only a `type:str` MAC: the metadata was edited",
                            e.ty.as_str()
                        ),
                    )
                    .with_identity("malformed:mac-type"),
                );
                fatal = true;
            }
        }
    }
    if kind == StoreKind::Binary && md.loadable() {
        binary_data_key(&tree, data, &key_span, &mut hits, &mut fatal);
    }
    if md.mac.is_none() && md.loadable() {
        hits.push(
            Hit::new(
                id::SOPS_MALFORMED,
                key_span.clone(),
                "sops metadata has no `mac`: sops refuses to decrypt the file",
            )
            .with_identity("malformed:no-mac"),
        );
    }

    // Structure of the values under the file's own rule. The parsed ENC values are kept, in walk
    // order, for the verification walk.
    let mut structural = false;
    let mut parsed: Vec<Option<cipher::EncValue>> = Vec::new();
    tree::walk(&tree, &md.rule, &mut |leaf| {
        if !leaf.encrypt {
            return;
        }
        if let Some(text) = leaf.comment {
            plaintext_comment(text, leaf, &md.rule, data, &mut hits);
            return;
        }
        let Some(s) = leaf.scalar else { return };
        let span = clamp(&leaf.span, data.len());
        let p = display_path(leaf.path);
        match s {
            Scalar::Str(b) if b.is_empty() => {}
            Scalar::Str(b) if cipher::looks_encrypted(b) => {
                let text = match std::str::from_utf8(b) {
                    Ok(t) => std::borrow::Cow::Borrowed(t),
                    Err(_) => String::from_utf8_lossy(b),
                };
                match cipher::parse_enc(&text) {
                    Ok(v) if v.ty == cipher::EncType::Bytes => {
                        // Legacy Python sops wrote `bytes`; sops 3 crashes decrypting it.
                        parsed.push(None);
                        structural = true;
                        hits.push(
                            Hit::new(
                                id::SOPS_MALFORMED,
                                span,
                                format!("the encrypted value at `{p}` is typed `bytes`, which sops 3 cannot decrypt (it crashes)"),
                            )
                            .with_identity(format!("malformed-value:{p}"))
                            .with_property("key_path", p),
                        );
                    }
                    Ok(v) => parsed.push(Some(v)),
                    Err(e) => {
                        parsed.push(None);
                        structural = true;
                        hits.push(
                            Hit::new(id::SOPS_MALFORMED, span, format!("the encrypted value at `{p}` {e}"))
                                .with_identity(format!("malformed-value:{p}"))
                                .with_property("key_path", p),
                        );
                    }
                }
            }
            _ => {
                if matches!(s, Scalar::Str(_)) {
                    parsed.push(None);
                }
                structural = true;
                hits.push(
                    Hit::new(
                        id::SOPS_PLAINTEXT_VALUE,
                        span.clone(),
                        format!(
                            "`{p}` must be encrypted under this file's rule ({}) but is in plaintext",
                            rule_text(&md.rule)
                        ),
                    )
                    .with_secret(span)
                    .with_property("key_path", p),
                );
            }
        }
    });
    collapse_malformed_values(&mut hits);

    // Against the creation rule that matches the file now.
    match selection {
        Selection::Rule(cfg, r) => {
            if md.loadable() {
                let k8s_filter = !ctx.strict && matches!(kind, StoreKind::Yaml | StoreKind::Json);
                drift(kind, &tree, k8s_filter, &md, cfg, r, &key_span, data.len(), &mut hits);
                recipients(&md, cfg, r, &key_span, data.len(), &mut hits);
            }
        }
        Selection::NoMatch(cfg) => {
            hits.push(
                Hit::new(
                    id::SOPS_ORPHAN,
                    key_span.clone(),
                    format!(
                        "no creation rule of {} matches this sops file: `sops updatekeys` cannot re-key it",
                        cfg.path
                    ),
                )
                .with_identity("orphan")
                .with_property("config", cfg.path.clone()),
            );
        }
        Selection::NoConfig | Selection::Broken => {}
    }

    let mac = if fatal || md.mac.is_none() {
        MacStatus::Failed
    } else if ctx.identities.is_empty() {
        MacStatus::Unverified
    } else {
        verify(&tree, &md, data, &key_span, structural, parsed, ctx, &mut hits)
    };
    SopsOutcome { hits, mac }
}

/// A comment the file's rule encrypts that is not `ENC[…]`: sops keeps it and only warns ("Found
/// possibly unencrypted comment"), as files written before 3.0 have them, but it is plaintext
/// that sops would have encrypted. Comments that are empty or only white space say nothing.
fn plaintext_comment(
    text: &str,
    leaf: &tree::Leaf<'_>,
    rule: &EncryptionRule,
    data: &[u8],
    hits: &mut Vec<Hit>,
) {
    let t = text.trim();
    if t.is_empty() || cipher::looks_encrypted(t.as_bytes()) {
        return;
    }
    let span = clamp(&leaf.span, data.len());
    let p = display_path(leaf.path);
    hits.push(
        Hit::new(
            id::SOPS_PLAINTEXT_VALUE,
            span.clone(),
            format!(
                "a comment at `{p}` must be encrypted under this file's rule ({}) but is in plaintext (sops decrypts the file and only warns)",
                rule_text(rule)
            ),
        )
        .with_severity(crate::finding::Severity::Warning)
        .with_secret(span)
        .with_property("key_path", p)
        .with_property("comment", true),
    );
}

/// The binary store emits the string under the first `data` key: sops fails when there is none
/// or it holds no string (`BinaryStore.EmitPlainFile`), or when that string is encrypted with
/// another type. Only files of at most one key are judged so: one with several keys is JSON
/// encrypted with `--input-type json` under a name without `.json` (`hidden-json`), which sops
/// decrypts when told the type again.
fn binary_data_key(tree: &Tree, data: &[u8], key_span: &Span, hits: &mut Vec<Hit>, fatal: &mut bool) {
    if tree
        .branches
        .first()
        .is_some_and(|b| b.iter().filter(|i| !matches!(i, Item::Comment { .. })).count() > 1)
    {
        return;
    }
    let first = tree.branches.first().and_then(|b| {
        b.iter().find_map(|i| match i {
            Item::Pair { key, value, .. } if key == "data" => Some(value),
            _ => None,
        })
    });
    let problem = match first {
        None => "has no `data` key",
        Some(n) => match &n.value {
            Value::Scalar(Scalar::Str(b)) => match cipher::parse_enc(&String::from_utf8_lossy(b)) {
                Ok(e) if e.ty != cipher::EncType::Str => {
                    "holds a `data` value that does not decrypt to a string"
                }
                _ => return,
            },
            _ => "holds a `data` value that is not a string",
        },
    };
    let span = first.map_or_else(|| key_span.clone(), |n| clamp(&n.span, data.len()));
    hits.push(
        Hit::new(
            id::SOPS_MALFORMED,
            span,
            format!("this sops file is read by the binary store but {problem}: sops cannot decrypt it"),
        )
        .with_identity("malformed:binary-data"),
    );
    *fatal = true;
}

fn rule_text(r: &EncryptionRule) -> String {
    format!("{}: {}", r.kind.key(), r.value)
}

/// A file encrypted under another rule than the one that matches it now matters only when it
/// leaves in clear a value the rule now asks sops to encrypt (a file that encrypts more than the
/// rule asks, say fully encrypted under an `encrypted_regex` rule, exposes nothing). Under the
/// Kubernetes filter, manifests of other kinds than `Secret` are not judged (as for files without
/// metadata).
#[allow(clippy::too_many_arguments)]
fn drift(
    kind: StoreKind,
    tree: &Tree,
    k8s_filter: bool,
    md: &Metadata,
    cfg: &ParsedConfig,
    r: &CreationRule,
    key_span: &Span,
    len: usize,
    hits: &mut Vec<Hit>,
) {
    if kind == StoreKind::Binary || r.rule_conflict {
        return;
    }
    let want = r.effective_rule();
    let exposed = if want == md.rule { Vec::new() } else { candidates(tree, &want, k8s_filter) };
    if let Some(first) = exposed.first() {
        let span = md.explicit_rule.as_ref().map_or_else(|| key_span.clone(), |(_, _, s)| clamp(s, len));
        let default = if r.rule.is_none() { " (the sops default: the rule sets no option)" } else { "" };
        hits.push(
            Hit::new(
                id::SOPS_RULE_DRIFT,
                span,
                format!(
                    "this file was encrypted with `{}`, but creation rule {} of {} now says `{}`{default}: {} value(s) it would encrypt are in clear, starting at `{}`",
                    rule_text(&md.rule),
                    r.number,
                    cfg.path,
                    rule_text(&want),
                    exposed.len(),
                    first.path
                ),
            )
            .with_identity(format!("rule-drift:{}->{}", rule_text(&md.rule), rule_text(&want)))
            .with_property("file_rule", rule_text(&md.rule))
            .with_property("config_rule", rule_text(&want))
            .with_property("config", cfg.path.clone())
            .with_property("creation_rule", r.number)
            .with_property("values", exposed.len())
            .with_property("key_paths", exposed.iter().take(50).map(|c| c.path.clone()).collect::<Vec<_>>()),
        );
    }
    if r.mac_only_encrypted != md.mac_only_encrypted {
        hits.push(
            Hit::new(
                id::SOPS_RULE_DRIFT,
                key_span.clone(),
                format!(
                    "this file has mac_only_encrypted: {}, but creation rule {} of {} says {}",
                    md.mac_only_encrypted, r.number, cfg.path, r.mac_only_encrypted
                ),
            )
            .with_identity(format!("rule-drift:mac_only_encrypted:{}", r.mac_only_encrypted))
            .with_property("config", cfg.path.clone())
            .with_property("creation_rule", r.number),
        );
    }
}

fn norm(k: KeyKind, id: &str) -> String {
    match k {
        KeyKind::Age | KeyKind::Pgp => id.to_ascii_lowercase(),
        _ => id.to_owned(),
    }
}

fn same_key(want: &WantedKey, have: &metadata::MasterKey) -> bool {
    if want.kind != have.kind {
        return false;
    }
    if want.kind == KeyKind::AzureKv && want.id.ends_with('/') {
        // No version in the config: sops would use the latest one.
        return have.id.starts_with(&want.id);
    }
    if want.kind == KeyKind::Pgp {
        // A key id (16 hex digits) in either place names the key whose fingerprint it ends.
        return super::openpgp::fingerprint_matches(&want.id, &have.id);
    }
    if want.kind == KeyKind::Age && want.id.starts_with("ssh-") {
        // An SSH recipient: the same key type and body, whatever the comment.
        return super::keys::same_ssh_key(&want.id, &have.id);
    }
    norm(want.kind, &want.id) == norm(have.kind, &have.id)
}

fn recipients(
    md: &Metadata,
    cfg: &ParsedConfig,
    r: &CreationRule,
    key_span: &Span,
    len: usize,
    hits: &mut Vec<Hit>,
) {
    let groups = md.groups.len().max(r.groups.len());
    for g in 0..groups {
        let want: &[WantedKey] = r.groups.get(g).map_or(&[], |v| v.as_slice());
        let have: &[metadata::MasterKey] = md.groups.get(g).map_or(&[], |v| v.as_slice());
        for w in want {
            if !have.iter().any(|h| same_key(w, h)) {
                hits.push(
                    Hit::new(
                        id::SOPS_RECIPIENTS,
                        key_span.clone(),
                        format!(
                            "missing recipient {} {} (key group {}): creation rule {} of {} requires it, but it cannot decrypt this file; run `sops updatekeys`",
                            w.kind.as_str(), w.id, g + 1, r.number, cfg.path
                        ),
                    )
                    .with_identity(format!("missing-recipient:{}:{}:{}", g, w.kind.as_str(), w.id))
                    .with_property("recipient", w.id.clone())
                    .with_property("key_type", w.kind.as_str())
                    .with_property("key_group", g + 1)
                    .with_property("change", "missing")
                    .with_property("config", cfg.path.clone())
                    .with_property("creation_rule", r.number),
                );
            }
        }
        for h in have {
            if !want.iter().any(|w| same_key(w, h)) {
                hits.push(
                    Hit::new(
                        id::SOPS_RECIPIENTS,
                        clamp(&h.span, len),
                        format!(
                            "extra recipient {} {} (key group {}) can still decrypt this file, but creation rule {} of {} no longer lists it; run `sops updatekeys` and rotate the data key",
                            h.kind.as_str(), h.id, g + 1, r.number, cfg.path
                        ),
                    )
                    .with_identity(format!("extra-recipient:{}:{}:{}", g, h.kind.as_str(), h.id))
                    .with_property("recipient", h.id.clone())
                    .with_property("key_type", h.kind.as_str())
                    .with_property("key_group", g + 1)
                    .with_property("change", "extra")
                    .with_property("config", cfg.path.clone())
                    .with_property("creation_rule", r.number),
                );
            }
        }
    }
    // updatekeys also compares the threshold, as min(threshold, groups).
    if md.groups.len() > 1 || r.groups.len() > 1 {
        let eff = |t: i64, n: usize| {
            let t = if t <= 0 { n as i64 } else { t };
            t.min(n as i64)
        };
        let have = eff(md.shamir_threshold, md.groups.len());
        let want = eff(r.shamir_threshold, r.groups.len());
        if have != want {
            hits.push(
                Hit::new(
                    id::SOPS_RECIPIENTS,
                    key_span.clone(),
                    format!(
                        "this file needs {have} key group(s) to decrypt, but creation rule {} of {} says {want}",
                        r.number, cfg.path
                    ),
                )
                .with_identity(format!("shamir-threshold:{have}->{want}"))
                .with_property("change", "threshold")
                .with_property("config", cfg.path.clone())
                .with_property("creation_rule", r.number),
            );
        }
    }
}

fn hash_scalar(h: &mut Sha512, s: &Scalar) {
    match s {
        Scalar::Str(b) => h.update(b),
        Scalar::Time(t) => h.update(t.as_bytes()),
        Scalar::Null => {}
        other => {
            let mut b = other.to_bytes();
            h.update(&b);
            b.zeroize();
        }
    }
}

/// Recovers the data key, decrypts every value and recomputes the MAC.
#[allow(clippy::too_many_arguments)]
fn verify(
    tree: &Tree,
    md: &Metadata,
    data: &[u8],
    key_span: &Span,
    structural: bool,
    parsed: Vec<Option<cipher::EncValue>>,
    ctx: &SopsContext<'_>,
    hits: &mut Vec<Hit>,
) -> MacStatus {
    let mut parsed = parsed.into_iter();
    let key = match recover_data_key(&md.groups, md.shamir_threshold, ctx.identities) {
        KeyOutcome::Key(k) => k,
        KeyOutcome::NotOpened { opened, needed } => {
            let detail = if md.groups.len() > 1 {
                format!(" ({opened} of the {needed} key groups needed were opened)")
            } else {
                String::new()
            };
            hits.push(
                Hit::new(
                    id::SOPS_NO_IDENTITY,
                    key_span.clone(),
                    format!("none of the {} loaded identities can decrypt this file{detail}; its MAC is unverified", ctx.identities.len()),
                )
                .with_identity("no-identity"),
            );
            return MacStatus::Unverified;
        }
        KeyOutcome::Broken(why) => {
            hits.push(
                Hit::new(
                    id::SOPS_MALFORMED,
                    key_span.clone(),
                    format!("the key-group shares do not combine into a data key: {why}"),
                )
                .with_identity("malformed:shamir"),
            );
            return MacStatus::Failed;
        }
    };
    let Ok(cipher) = ValueCipher::new(&key) else {
        hits.push(
            Hit::new(id::SOPS_MALFORMED, key_span.clone(), "the recovered data key is not 32 bytes long")
                .with_identity("malformed:key-length"),
        );
        return MacStatus::Failed;
    };
    drop(key);
    let mut h = Sha512::new();
    if md.mac_only_encrypted {
        h.update(Sha256::digest(b"sops"));
    }
    let mut failed = structural;
    let mut aad = String::new();
    tree::walk(tree, &md.rule, &mut |leaf| {
        if let Some(text) = leaf.comment {
            // A comment the rule encrypts is decrypted; one that does not decrypt (or whose
            // plaintext does not parse as its type) is kept as it is, with a warning. One that
            // decrypts to a `comment` stays out of the MAC, but sops hashes whatever else it
            // decrypts to: a comment retyped to `str` or `int` becomes a value in the MAC.
            if !leaf.encrypt {
                return;
            }
            let Ok(enc) = cipher::parse_enc(text) else { return };
            tree::aad_into(&mut aad, leaf.path);
            match cipher.decrypt(&enc, aad.as_bytes()) {
                Ok(_) if enc.ty == cipher::EncType::Comment => {}
                Ok(_) if enc.ty == cipher::EncType::Bytes => {
                    failed = true;
                    let p = display_path(leaf.path);
                    hits.push(
                        Hit::new(
                            id::SOPS_MALFORMED,
                            clamp(&leaf.span, data.len()),
                            format!("an encrypted comment at `{p}` is typed `bytes`, which sops 3 cannot decrypt (it crashes)"),
                        )
                        .with_identity(format!("malformed-comment:{p}"))
                        .with_property("key_path", p),
                    );
                }
                Ok(plain) => hash_scalar(&mut h, &plain),
                Err(_) => {}
            }
            return;
        }
        let Some(s) = leaf.scalar else { return };
        if !leaf.encrypt {
            if !md.mac_only_encrypted {
                hash_scalar(&mut h, s);
            }
            return;
        }
        let Scalar::Str(b) = s else { return }; // plaintext-value already reported
        if b.is_empty() {
            return;
        }
        // Same walk, same order as the structure walk: its parsed value (or None when it was
        // malformed or plaintext, already reported).
        let Some(Some(enc)) = parsed.next() else { return };
        tree::aad_into(&mut aad, leaf.path);
        match cipher.decrypt(&enc, aad.as_bytes()) {
            // A `type:comment` value is a comment (sops 3.11 writes a comment inside a list as a
            // list item `- ENC[…,type:comment]`): sops turns it back into a comment and leaves it
            // out of the MAC. So a value retyped to `comment` no longer counts, as for sops.
            Ok(_) if enc.ty == cipher::EncType::Comment => {}
            Ok(plain) => hash_scalar(&mut h, &plain),
            Err(e) => {
                failed = true;
                let p = display_path(leaf.path);
                hits.push(
                    Hit::new(
                        id::SOPS_VALUE_TAMPERED,
                        clamp(&leaf.span, data.len()),
                        format!("the encrypted value at `{p}` does not decrypt under this file's data key ({e}): it was edited, moved or pasted from elsewhere"),
                    )
                    .with_identity(format!("value-tampered:{p}"))
                    .with_property("key_path", p),
                );
            }
        }
    });
    if failed {
        return MacStatus::Failed;
    }
    let computed = hex::encode_upper(h.finalize());
    let Some((stored, mac_span)) = &md.mac else { return MacStatus::Failed };
    let mac_span = clamp(mac_span, data.len());
    let Some(lm) = &md.lastmodified_aad else { return MacStatus::Failed };
    let stored_plain = cipher::parse_enc(stored).ok().and_then(|e| cipher.decrypt(&e, lm.as_bytes()).ok());
    match stored_plain {
        None => {
            hits.push(
                Hit::new(
                    id::SOPS_MAC_MISMATCH,
                    mac_span,
                    "the stored MAC does not authenticate under this file's data key and `lastmodified`: the metadata was edited",
                )
                .with_identity("mac-mismatch:mac-unreadable"),
            );
            MacStatus::Failed
        }
        Some(p) => {
            let ok = matches!(&*p, Scalar::Str(b) if b.as_slice() == computed.as_bytes());
            if ok {
                MacStatus::Verified
            } else {
                hits.push(
                    Hit::new(
                        id::SOPS_MAC_MISMATCH,
                        mac_span,
                        "the MAC does not match the file's values: values were edited, reordered, added or removed outside sops",
                    )
                    .with_identity("mac-mismatch"),
                );
                MacStatus::Failed
            }
        }
    }
}
