//! `.sops.yaml`: creation rules and key groups (`config/config.go`), and which config governs a
//! file.
//!
//! **Which config governs a file.** sops itself looks for `.sops.yaml` from the *working directory*
//! upwards. A repository scan has no working directory per file, so sopsguard uses the convention
//! of tools built on sops (Flux, editors, `sops` run from the file's directory): each file is
//! governed by the nearest `.sops.yaml` in its own directory or above, up to the scan root. An
//! explicit `--sops-config` governs every file. Only the name `.sops.yaml` counts (sops ignores
//! `.sops.yml`).
//!
//! **Matching.** `path_regex` is a Go RE2 unanchored search over the file's path relative to the
//! config's directory (sops ≥ 3.7); a file outside that directory is matched by its path relative
//! to the scan root. Rules are tried in order and the first match wins; an empty `path_regex`
//! matches everything. A rule reached with an invalid `path_regex` makes sops fail, so the file's
//! config-dependent checks are skipped (the config itself is reported).

use std::collections::BTreeMap;

use regex::Regex;

use super::metadata::{kms_id, KeyKind};
use super::re2;
use super::tree::{EncryptionRule, RuleKind, Span};
use crate::finding::Hit;
use crate::rules::id;
use crate::yaml::{self, Kind, Node};

/// The largest file sopsguard reads as a `.sops.yaml`, whatever `--max-file-size` says: a config
/// governs other files, so skipping it would let them pass unchecked. Generous: real ones are a
/// few KiB.
pub const MAX_CONFIG_SIZE: u64 = 64 << 20;

/// The file name sops looks for, in the file's directory and above.
pub const CONFIG_NAME: &str = ".sops.yaml";

/// Whether a `/`-separated path names a `.sops.yaml` (its last component is exactly
/// [`CONFIG_NAME`]). The one place that decides it, for every source and the engine.
pub fn is_sops_config(path: &str) -> bool {
    path.strip_suffix(CONFIG_NAME).is_some_and(|dir| dir.is_empty() || dir.ends_with('/'))
}

/// One `.sops.yaml` as a source sees it.
#[derive(Clone, Debug)]
pub struct ConfigFile {
    /// Path of the config file itself, relative to the scan root (`.sops.yaml`, `apps/.sops.yaml`).
    pub path: String,
    /// Its bytes.
    pub data: Vec<u8>,
}

/// A key a creation rule asks for: its type and sops' identity string for it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct WantedKey {
    pub kind: KeyKind,
    pub id: String,
}

/// One creation rule.
#[derive(Debug)]
pub(crate) struct CreationRule {
    /// 1-based position in `creation_rules`.
    pub number: usize,
    pub path_regex: Option<Regex>,
    /// Whether `path_regex` is set (non-empty).
    pub has_path_regex: bool,
    /// Whether the regex failed to compile (sops fails when it reaches this rule).
    pub regex_broken: bool,
    /// The encryption rule it sets, if any.
    pub rule: Option<EncryptionRule>,
    /// More than one encryption rule: sops refuses to encrypt with it.
    pub rule_conflict: bool,
    pub mac_only_encrypted: bool,
    pub shamir_threshold: i64,
    pub groups: Vec<Vec<WantedKey>>,
}

impl CreationRule {
    /// Whether two rules (say of two versions of a `.sops.yaml`) say the same thing: every field
    /// the checks read is equal.
    pub(super) fn same_as(&self, other: &CreationRule) -> bool {
        self.number == other.number
            && self.path_regex.as_ref().map(Regex::as_str) == other.path_regex.as_ref().map(Regex::as_str)
            && self.has_path_regex == other.has_path_regex
            && self.regex_broken == other.regex_broken
            && self.rule.as_ref().map(|r| (r.kind, r.value.as_str()))
                == other.rule.as_ref().map(|r| (r.kind, r.value.as_str()))
            && self.rule_conflict == other.rule_conflict
            && self.mac_only_encrypted == other.mac_only_encrypted
            && self.shamir_threshold == other.shamir_threshold
            && self.groups == other.groups
    }

    /// The encryption rule sops would apply (`_unencrypted` suffix when none is set).
    pub(crate) fn effective_rule(&self) -> EncryptionRule {
        self.rule.clone().unwrap_or_else(EncryptionRule::default_rule)
    }
}

/// A parsed config.
#[derive(Debug)]
pub(crate) struct ParsedConfig {
    pub path: String,
    /// Directory of the config relative to the scan root (`""` for the root).
    pub dir: String,
    /// `None` when the file has no `creation_rules` (sops: "no config") or could not be parsed.
    pub rules: Option<Vec<CreationRule>>,
    /// Whether YAML parsing failed (then nothing is known about its rules).
    pub unreadable: bool,
    /// Why the file could not even be read (too large, a link out of the repository, an I/O
    /// error): every file it governs is then a problem, never silently unchecked.
    pub unread: Option<String>,
    pub problems: Vec<Hit>,
}

/// Every `.sops.yaml` of one source, parsed once. Each file is governed by the nearest `.sops.yaml`
/// in its directory or above, up to the scan root; an explicit override (`--sops-config`) governs
/// every file.
#[derive(Debug, Default)]
pub struct ConfigSet {
    by_dir: BTreeMap<String, ParsedConfig>,
    override_config: Option<ParsedConfig>,
}

/// Which creation rule applies to a file.
#[derive(Clone, Copy)]
pub(crate) enum Selection<'a> {
    /// No `.sops.yaml` governs the file (or it has no `creation_rules`).
    NoConfig,
    /// The governing config cannot be used (unparsable, or a reached rule has an invalid regex).
    Broken,
    /// A config governs the file but no rule matches.
    NoMatch(&'a ParsedConfig),
    /// The first matching rule.
    Rule(&'a ParsedConfig, &'a CreationRule),
}

fn dir_of(path: &str) -> String {
    match path.rfind('/') {
        Some(i) => path[..i].to_owned(),
        None => String::new(),
    }
}

impl ConfigSet {
    /// Parses every config. Broken configs are kept as diagnostics (see [`ConfigSet::problems`]).
    /// Files not named `.sops.yaml` are ignored, as sops ignores them.
    pub fn new(files: Vec<ConfigFile>, override_config: Option<ConfigFile>) -> ConfigSet {
        let mut by_dir = BTreeMap::new();
        for f in files {
            if !is_sops_config(&f.path) {
                continue;
            }
            let parsed = parse_config(&f);
            by_dir.insert(parsed.dir.clone(), parsed);
        }
        ConfigSet { by_dir, override_config: override_config.map(|f| parse_config(&f)) }
    }

    /// Records a `.sops.yaml` that exists but could not be read (`reason` names no content).
    pub fn add_unreadable(&mut self, path: &str, reason: String) {
        let dir = dir_of(path);
        let parsed = ParsedConfig {
            path: path.to_owned(),
            dir: dir.clone(),
            rules: None,
            unreadable: true,
            unread: Some(reason),
            problems: Vec::new(),
        };
        self.by_dir.insert(dir, parsed);
    }

    /// When the config governing `path` could not be read: its path and why.
    pub fn unread_governing(&self, path: &str) -> Option<(&str, &str)> {
        let c = self.governing(path)?;
        Some((c.path.as_str(), c.unread.as_deref()?))
    }

    /// Diagnostics for broken configs, as `(config path, hits into that file)`.
    pub fn problems(&self) -> Vec<(String, Vec<Hit>)> {
        self.by_dir
            .values()
            .chain(self.override_config.iter())
            .filter(|c| !c.problems.is_empty())
            .map(|c| (c.path.clone(), c.problems.clone()))
            .collect()
    }

    /// Whether no config is known.
    pub fn is_empty(&self) -> bool {
        self.by_dir.is_empty() && self.override_config.is_none()
    }

    /// Whether `path` is one of the configs (never checked as data).
    pub fn is_config(&self, path: &str) -> bool {
        self.by_dir.values().chain(self.override_config.iter()).any(|c| c.path == path)
    }

    /// The config governing `path`, if any.
    pub(crate) fn governing(&self, path: &str) -> Option<&ParsedConfig> {
        if let Some(o) = &self.override_config {
            return Some(o);
        }
        let mut dir = path;
        loop {
            dir = dir.rfind('/').map_or("", |i| &dir[..i]);
            if let Some(c) = self.by_dir.get(dir) {
                return Some(c);
            }
            if dir.is_empty() {
                return None;
            }
        }
    }

    /// Whether a verdict treats `path` as a config of this set: every config but the override
    /// is named `.sops.yaml` (see `ConfigSet::new`).
    pub(super) fn judges_as_config(&self, path: &str) -> bool {
        is_sops_config(path) || self.override_config.as_ref().is_some_and(|c| c.path == path)
    }

    /// `parseCreationRuleForFile` (scans get it through [`ConfigSet::verdict`]).
    pub(crate) fn select(&self, path: &str) -> Selection<'_> {
        select_in(self.governing(path), path)
    }
}

/// `parseCreationRuleForFile`, given the config that governs `path`.
fn select_in<'a>(cfg: Option<&'a ParsedConfig>, path: &str) -> Selection<'a> {
    let Some(cfg) = cfg else { return Selection::NoConfig };
    if cfg.unreadable {
        return Selection::Broken;
    }
    let Some(rules) = &cfg.rules else { return Selection::NoConfig };
    let rel = if cfg.dir.is_empty() {
        path
    } else {
        path.strip_prefix(cfg.dir.as_str()).and_then(|p| p.strip_prefix('/')).unwrap_or(path)
    };
    for r in rules {
        if r.regex_broken {
            return Selection::Broken;
        }
        match &r.path_regex {
            None => return Selection::Rule(cfg, r),
            Some(re) if re.is_match(rel) => return Selection::Rule(cfg, r),
            Some(_) => {}
        }
    }
    Selection::NoMatch(cfg)
}

fn problem(cfg: &str, span: Span, message: impl Into<String>, what: &str) -> Hit {
    Hit::new(id::SOPS_CONFIG_INVALID, span, message)
        .with_identity(format!("config-invalid:{what}"))
        .with_property("config", cfg)
}

fn scalar_text(n: &Node) -> Option<&str> {
    match &n.kind {
        Kind::Scalar(s) if !n.is_null() => Some(s.value.as_str()),
        _ => None,
    }
}

/// yaml.v3 decoding into a Go `bool` accepts YAML 1.1 forms too.
fn yaml_bool(n: &Node) -> Option<bool> {
    match scalar_text(n)? {
        "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "y" | "Y" => Some(true),
        "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "n" | "N" => Some(false),
        _ => None,
    }
}

struct Ctx<'a> {
    path: &'a str,
    problems: Vec<Hit>,
}

impl Ctx<'_> {
    fn bad(&mut self, span: Span, message: impl Into<String>, what: &str) {
        let h = problem(self.path, span, message, what);
        self.problems.push(h);
    }
}

fn check_duplicate_keys(n: &Node, ctx: &mut Ctx<'_>, depth: usize) {
    if depth > 64 {
        return;
    }
    match &n.kind {
        Kind::Map(entries) => {
            let mut seen = std::collections::HashSet::new();
            for (k, v) in entries {
                if let Some(s) = k.as_str() {
                    if !seen.insert(s) {
                        ctx.bad(
                            k.span.clone(),
                            format!("mapping key `{s}` is defined twice"),
                            "duplicate-key",
                        );
                    }
                }
                check_duplicate_keys(v, ctx, depth + 1);
            }
        }
        Kind::Seq(items) => items.iter().for_each(|i| check_duplicate_keys(i, ctx, depth + 1)),
        Kind::Scalar(_) => {}
    }
}

fn parse_config(f: &ConfigFile) -> ParsedConfig {
    let mut ctx = Ctx { path: &f.path, problems: Vec::new() };
    let dir = dir_of(&f.path);
    let mut out = ParsedConfig {
        path: f.path.clone(),
        dir,
        rules: None,
        unreadable: false,
        unread: None,
        problems: Vec::new(),
    };
    let text = match std::str::from_utf8(&f.data) {
        Ok(t) => t,
        Err(e) => {
            let at = e.valid_up_to();
            ctx.bad(at..at + 1, "`.sops.yaml` is not valid UTF-8", "utf8");
            out.unreadable = true;
            out.problems = ctx.problems;
            return out;
        }
    };
    let stream = match yaml::parse(text) {
        Ok(s) => s,
        Err(e) => {
            ctx.bad(e.span.clone(), format!("`.sops.yaml` is not valid YAML: {}", e.message), "yaml");
            out.unreadable = true;
            out.problems = ctx.problems;
            return out;
        }
    };
    let Some(doc) = stream.documents.first() else {
        out.problems = ctx.problems;
        return out;
    };
    // sops reads its config with go-yaml v3, which resolves merge keys (`<<: *defaults`).
    let merged = yaml::resolve_merge_keys(&doc.root);
    let root = &merged;
    if root.is_null() {
        out.problems = ctx.problems;
        return out;
    }
    if root.as_map().is_none() {
        ctx.bad(root.span.clone(), "`.sops.yaml` must be a mapping", "not-mapping");
        out.unreadable = true;
        out.problems = ctx.problems;
        return out;
    }
    check_duplicate_keys(root, &mut ctx, 0);
    if let Some(cr) = root.get("creation_rules") {
        if cr.is_null() {
            // sops: no creation rules, "no config"
        } else if let Some(items) = cr.as_seq() {
            let mut rules = Vec::new();
            for (i, r) in items.iter().enumerate() {
                rules.push(parse_rule(i + 1, r, &mut ctx));
            }
            out.rules = Some(rules);
        } else {
            ctx.bad(cr.span.clone(), "`creation_rules` must be a list", "creation-rules");
            out.unreadable = true;
        }
    }
    out.problems = ctx.problems;
    out
}

fn string_of(n: &Node, ctx: &mut Ctx<'_>, name: &str) -> Option<String> {
    if n.is_null() {
        return None;
    }
    match scalar_text(n) {
        Some(s) => Some(s.to_owned()),
        None => {
            ctx.bad(n.span.clone(), format!("`{name}` must be a string"), name);
            None
        }
    }
}

/// `parseKeyField`: a comma-separated string or a list of strings, joined with `,`.
fn key_field(n: &Node, ctx: &mut Ctx<'_>, name: &str) -> Option<(String, bool)> {
    if n.is_null() {
        return None;
    }
    if let Some(items) = n.as_seq() {
        let mut parts = Vec::new();
        for i in items {
            match scalar_text(i) {
                Some(s) => parts.push(s.to_owned()),
                None if i.is_null() => parts.push(String::new()),
                None => ctx.bad(i.span.clone(), format!("`{name}` entries must be strings"), name),
            }
        }
        return Some((parts.join(","), true));
    }
    match scalar_text(n) {
        Some(s) => {
            let parts: Vec<&str> = s.split(',').map(str::trim).filter(|p| !p.is_empty()).collect();
            Some((parts.join(","), false))
        }
        None => {
            ctx.bad(n.span.clone(), format!("`{name}` must be a string or a list of strings"), name);
            None
        }
    }
}

/// Validates an age recipient the way `age.parseRecipient` dispatches.
fn age_recipient_ok(r: &str) -> bool {
    if r.starts_with("age1pq1") {
        return r.len() > 20;
    }
    if r.starts_with("ssh-") {
        return r.split_whitespace().count() >= 2;
    }
    if r.starts_with("age1") && r.matches('1').count() > 1 && r.parse::<age::x25519::Recipient>().is_err() {
        // a plugin recipient (age1<name>1…)
        return true;
    }
    r.parse::<age::x25519::Recipient>().is_ok()
}

fn add_age(list: &str, from_list: bool, span: &Span, out: &mut Vec<WantedKey>, ctx: &mut Ctx<'_>) {
    for r in list.split(',') {
        let r = r.trim();
        if r.is_empty() {
            if from_list {
                ctx.bad(span.clone(), "an empty age recipient", "age-recipient");
            }
            continue;
        }
        if !age_recipient_ok(r) {
            // The value is never quoted: a hand-edited config may hold an identity or a token
            // where a recipient belongs.
            if r.to_ascii_uppercase().starts_with("AGE-SECRET-KEY-") {
                ctx.bad(
                    span.clone(),
                    "an age identity (private key) is where an age recipient belongs: it is leaked, rotate it and put its public recipient here",
                    "age-recipient",
                );
            } else if r.starts_with("${") && r.ends_with('}') || r.starts_with("{{") && r.ends_with("}}") {
                // A template of a `.sops.yaml` (filled in by a bootstrap script): sops cannot use
                // it as it is, but nothing is wrong with the file as a template.
                let h = problem(
                    ctx.path,
                    span.clone(),
                    "a template placeholder is where an age recipient belongs: sops cannot use this config until it is filled in",
                    "age-recipient-template",
                )
                .with_severity(crate::finding::Severity::Note);
                ctx.problems.push(h);
            } else {
                ctx.bad(
                    span.clone(),
                    format!(
                        "an age recipient ({} characters) is not one: recipients are `age1…` bech32 strings",
                        r.chars().count()
                    ),
                    "age-recipient",
                );
            }
            continue;
        }
        out.push(WantedKey { kind: KeyKind::Age, id: r.to_owned() });
    }
}

fn no_spaces(s: &str) -> String {
    s.chars().filter(|c| *c != ' ').collect()
}

fn azure_id(url: &str, ctx: &mut Ctx<'_>, span: &Span) -> Option<String> {
    // https://<vault>/keys/<name>[/<version>]
    let Some((vault, rest)) = url.split_once("/keys/") else {
        ctx.bad(span.clone(), format!("`{url}` is not an Azure Key Vault key URL"), "azure");
        return None;
    };
    let mut it = rest.splitn(2, '/');
    let name = it.next().unwrap_or("");
    let version = it.next().unwrap_or("").trim_end_matches('/');
    Some(format!("{vault}/keys/{name}/{version}"))
}

/// The keys sops 3.11–3.13 reads in a creation rule (`config.go`, `creationRule`), besides the
/// encryption-rule keys ([`RuleKind::ALL`]).
const CREATION_RULE_KEYS: &[&str] = &[
    "path_regex",
    "age",
    "pgp",
    "kms",
    "aws_profile",
    "gcp_kms",
    "hckms",
    "azure_keyvault",
    "hc_vault_transit_uri",
    "key_groups",
    "shamir_threshold",
    "mac_only_encrypted",
];

/// Every key sops reads in a creation rule.
fn creation_rule_keys() -> impl Iterator<Item = &'static str> {
    CREATION_RULE_KEYS.iter().copied().chain(RuleKind::ALL.iter().map(|k| k.key()))
}

/// sops silently ignores keys it does not know (yaml.v3 into a struct): say so, as a warning, since
/// the rule then does something else than it reads. The removed `filename_regex` (gone since
/// sops 3.4.0) is the dangerous case: a rule with no `path_regex` matches every file.
fn unread_keys(number: usize, r: &Node, ctx: &mut Ctx<'_>) {
    let Some(entries) = r.as_map() else { return };
    for (k, _) in entries {
        let Some(key) = scalar_text(k) else { continue };
        if key == "<<" || creation_rule_keys().any(|k| k == key) {
            continue;
        }
        let message = if key == "filename_regex" {
            if r.get("path_regex").is_some() {
                format!("creation rule {number}: sops ignores `filename_regex` (removed in sops 3.4.0); only `path_regex` selects files")
            } else {
                format!("creation rule {number}: sops ignores `filename_regex` (removed in sops 3.4.0), so this rule has no `path_regex` and matches every file; rename the key to `path_regex`")
            }
        } else {
            // Quoted only when it looks like a key name: never echo arbitrary text of the file.
            let shown = if key.len() <= 40
                && key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                format!("`{key}`")
            } else {
                "this key".to_owned()
            };
            format!(
                "creation rule {number}: sops does not read {shown} and ignores it (known keys: {})",
                creation_rule_keys().collect::<Vec<_>>().join(", ")
            )
        };
        let hit = problem(
            ctx.path,
            k.span.clone(),
            message,
            // The key's digest, not the key (it may be any text of the file), and not the
            // per-process `secret_id`: the fingerprint must be the same on every run.
            &format!(
                "unread-key:{}",
                hex::encode(&<sha2::Sha256 as sha2::Digest>::digest(key.as_bytes())[..16])
            ),
        )
        .with_severity(crate::finding::Severity::Warning);
        ctx.problems.push(hit);
    }
}

fn parse_rule(number: usize, r: &Node, ctx: &mut Ctx<'_>) -> CreationRule {
    let mut rule = CreationRule {
        number,
        path_regex: None,
        has_path_regex: false,
        regex_broken: false,
        rule: None,
        rule_conflict: false,
        mac_only_encrypted: false,
        shamir_threshold: 0,
        groups: Vec::new(),
    };
    if r.as_map().is_none() {
        ctx.bad(r.span.clone(), format!("creation rule {number} must be a mapping"), "rule");
        rule.regex_broken = true;
        return rule;
    }
    unread_keys(number, r, ctx);
    if let Some(n) = r.get("path_regex") {
        if let Some(p) = string_of(n, ctx, "path_regex") {
            if !p.is_empty() {
                rule.has_path_regex = true;
                match re2::compile(&p) {
                    Ok(re) => rule.path_regex = Some(re),
                    Err(e) => {
                        ctx.bad(
                            n.span.clone(),
                            format!("creation rule {number}: invalid path_regex: {e}"),
                            "path-regex",
                        );
                        rule.regex_broken = true;
                    }
                }
            }
        }
    }
    let mut set = Vec::new();
    for kind in RuleKind::ALL {
        if let Some(n) = r.get(kind.key()) {
            if let Some(v) = string_of(n, ctx, kind.key()) {
                if !v.is_empty() {
                    if !matches!(kind, RuleKind::UnencryptedSuffix | RuleKind::EncryptedSuffix) {
                        if let Err(e) = re2::compile(&v) {
                            ctx.bad(
                                n.span.clone(),
                                format!("creation rule {number}: invalid {}: {e}", kind.key()),
                                kind.key(),
                            );
                        }
                    }
                    set.push((kind, v, n.span.clone()));
                }
            }
        }
    }
    if set.len() > 1 {
        let names: Vec<&str> = set.iter().map(|s| s.0.key()).collect();
        ctx.bad(
            set[1].2.clone(),
            format!("creation rule {number} sets more than one encryption rule ({})", names.join(", ")),
            "two-rules",
        );
        rule.rule_conflict = true;
    }
    if let Some((kind, v, _)) = set.into_iter().next() {
        rule.rule = Some(EncryptionRule::new(kind, &v));
    }
    if let Some(n) = r.get("mac_only_encrypted") {
        if !n.is_null() {
            match yaml_bool(n) {
                Some(b) => rule.mac_only_encrypted = b,
                None => ctx.bad(n.span.clone(), "`mac_only_encrypted` must be a boolean", "mac-only"),
            }
        }
    }
    if let Some(n) = r.get("shamir_threshold") {
        if !n.is_null() {
            match scalar_text(n).and_then(|s| s.parse::<i64>().ok()) {
                Some(t) => rule.shamir_threshold = t,
                None => ctx.bad(n.span.clone(), "`shamir_threshold` must be an integer", "shamir"),
            }
        }
    }
    match r.get("key_groups").filter(|n| !n.is_null()) {
        Some(kg) if kg.as_seq().is_some_and(|s| !s.is_empty()) => {
            for g in kg.as_seq().unwrap_or(&[]) {
                let mut keys = Vec::new();
                parse_group(g, ctx, &mut keys, 0);
                // dedup by (type, id), keeping the first
                let mut seen = std::collections::HashSet::new();
                keys.retain(|k| seen.insert((k.kind, k.id.clone())));
                rule.groups.push(keys);
            }
        }
        Some(kg) if kg.as_seq().is_none() => {
            ctx.bad(kg.span.clone(), "`key_groups` must be a list", "key-groups");
        }
        _ => {
            let mut keys = Vec::new();
            let profile = r.get("aws_profile").and_then(scalar_text).unwrap_or("").to_owned();
            if let Some(n) = r.get("age") {
                if let Some((v, from_list)) = key_field(n, ctx, "age") {
                    add_age(&v, from_list, &n.span, &mut keys, ctx);
                }
            }
            if let Some(n) = r.get("pgp") {
                if let Some((v, _)) = key_field(n, ctx, "pgp") {
                    for fp in v.split(',').filter(|s| !s.is_empty()) {
                        keys.push(WantedKey { kind: KeyKind::Pgp, id: no_spaces(fp) });
                    }
                }
            }
            if let Some(n) = r.get("kms") {
                if let Some((v, _)) = key_field(n, ctx, "kms") {
                    for k in v.split(',').map(no_spaces).filter(|s| !s.is_empty()) {
                        let (arn, role) = match k.split_once('+') {
                            Some((a, r)) => (a.to_owned(), r.to_owned()),
                            None => (k.clone(), String::new()),
                        };
                        keys.push(WantedKey { kind: KeyKind::Kms, id: kms_id(&arn, &role, &[], &profile) });
                    }
                }
            }
            if let Some(n) = r.get("gcp_kms") {
                if let Some((v, _)) = key_field(n, ctx, "gcp_kms") {
                    for k in v.split(',').map(no_spaces).filter(|s| !s.is_empty()) {
                        keys.push(WantedKey { kind: KeyKind::GcpKms, id: k });
                    }
                }
            }
            if let Some(n) = r.get("hckms") {
                if let Some(items) = n.as_seq() {
                    for i in items {
                        if let Some(s) = scalar_text(i) {
                            keys.push(WantedKey { kind: KeyKind::HcKms, id: s.to_owned() });
                        }
                    }
                } else if !n.is_null() {
                    ctx.bad(n.span.clone(), "`hckms` must be a list", "hckms");
                }
            }
            if let Some(n) = r.get("azure_keyvault") {
                if let Some((v, _)) = key_field(n, ctx, "azure_keyvault") {
                    for u in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                        if let Some(id) = azure_id(u, ctx, &n.span) {
                            keys.push(WantedKey { kind: KeyKind::AzureKv, id });
                        }
                    }
                }
            }
            if let Some(n) = r.get("hc_vault_transit_uri") {
                if let Some((v, _)) = key_field(n, ctx, "hc_vault_transit_uri") {
                    for u in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                        keys.push(WantedKey { kind: KeyKind::HcVault, id: u.to_owned() });
                    }
                }
            }
            rule.groups.push(keys);
        }
    }
    rule
}

fn parse_group(g: &Node, ctx: &mut Ctx<'_>, keys: &mut Vec<WantedKey>, depth: usize) {
    if depth > 16 {
        ctx.bad(g.span.clone(), "key group `merge` nested too deep", "merge");
        return;
    }
    if g.as_map().is_none() {
        ctx.bad(g.span.clone(), "a key group must be a mapping", "key-group");
        return;
    }
    let list = |name: &str| g.get(name).and_then(|n| n.as_seq()).unwrap_or(&[]);
    for m in list("merge") {
        parse_group(m, ctx, keys, depth + 1);
    }
    for a in list("age") {
        if let Some(s) = scalar_text(a) {
            add_age(s, false, &a.span, keys, ctx);
        }
    }
    for p in list("pgp") {
        if let Some(s) = scalar_text(p) {
            keys.push(WantedKey { kind: KeyKind::Pgp, id: no_spaces(s) });
        }
    }
    for k in list("kms") {
        let f = |n: &str| k.get(n).and_then(scalar_text).unwrap_or("").to_owned();
        let mut ctxs = Vec::new();
        if let Some(c) = k.get("context").and_then(|c| c.as_map()) {
            for (ck, cv) in c {
                if let (Some(a), Some(b)) = (scalar_text(ck), scalar_text(cv)) {
                    ctxs.push((a.to_owned(), b.to_owned()));
                }
            }
        }
        keys.push(WantedKey {
            kind: KeyKind::Kms,
            id: kms_id(&f("arn"), &f("role"), &ctxs, &f("aws_profile")),
        });
    }
    for k in list("gcp_kms") {
        if let Some(s) = k.get("resource_id").and_then(scalar_text) {
            keys.push(WantedKey { kind: KeyKind::GcpKms, id: s.to_owned() });
        }
    }
    for k in list("hckms") {
        if let Some(s) = k.get("key_id").and_then(scalar_text) {
            keys.push(WantedKey { kind: KeyKind::HcKms, id: s.to_owned() });
        }
    }
    for k in list("azure_keyvault") {
        let f = |n: &str| k.get(n).and_then(scalar_text).unwrap_or("").to_owned();
        keys.push(WantedKey {
            kind: KeyKind::AzureKv,
            id: format!("{}/keys/{}/{}", f("vaultUrl"), f("key"), f("version")),
        });
    }
    for u in list("hc_vault") {
        if let Some(s) = scalar_text(u) {
            keys.push(WantedKey { kind: KeyKind::HcVault, id: s.to_owned() });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(files: &[(&str, &str)]) -> ConfigSet {
        ConfigSet::new(
            files
                .iter()
                .map(|(p, d)| ConfigFile { path: (*p).to_owned(), data: d.as_bytes().to_vec() })
                .collect(),
            None,
        )
    }

    #[test]
    fn sops_config_paths() {
        for p in [".sops.yaml", "a/.sops.yaml", "a/b/.sops.yaml"] {
            assert!(is_sops_config(p), "{p}");
        }
        for p in ["x.sops.yaml", "a/x.sops.yaml", ".sops.yaml/x", ".sops.yml", "", "a/.sops.yaml.bak"] {
            assert!(!is_sops_config(p), "{p}");
        }
    }

    const R1: &str = "age1lzd99uklcjnc0e7d860axevet2cz99ce9pq6tzuzd05l5nr28ams36nvun";
    const R2: &str = "age1afnrdrkyvy0sl5e08t9ffs4c7g5e5npc8luf7hjc77syewg5gajsls4r90";

    #[test]
    fn nearest_config_and_relative_paths() {
        let root = format!("creation_rules:\n  - path_regex: ^apps/\n    age: {R1}\n");
        let apps = format!("creation_rules:\n  - path_regex: ^secret\\.yaml$\n    age: [{R2}]\n");
        let s = set(&[(".sops.yaml", &root), ("apps/.sops.yaml", &apps)]);
        match s.select("apps/secret.yaml") {
            Selection::Rule(c, r) => {
                assert_eq!(c.path, "apps/.sops.yaml");
                assert_eq!(r.groups, vec![vec![WantedKey { kind: KeyKind::Age, id: R2.into() }]]);
            }
            _ => panic!("expected a rule"),
        }
        assert!(matches!(s.select("apps/x/other.yaml"), Selection::NoMatch(_)));
        assert!(matches!(s.select("other.yaml"), Selection::NoMatch(_)));
        assert!(s.problems().is_empty());
    }

    #[test]
    fn broken_configs_are_diagnosed() {
        let two = format!("creation_rules:\n  - path_regex: x\n    encrypted_regex: a\n    unencrypted_suffix: b\n    age: {R1}\n");
        let s = set(&[(".sops.yaml", &two)]);
        let p = s.problems();
        assert_eq!(p.len(), 1);
        assert!(p[0].1[0].message.contains("more than one"));
        let bad_re = "creation_rules:\n  - path_regex: '('\n";
        let s = set(&[(".sops.yaml", bad_re)]);
        assert!(matches!(s.select("a"), Selection::Broken));
        let bad_yaml = "creation_rules: [\n";
        let s = set(&[(".sops.yaml", bad_yaml)]);
        assert_eq!(s.problems().len(), 1);
        let bad_key = "creation_rules:\n  - age: notakey\n";
        let s = set(&[(".sops.yaml", bad_key)]);
        let m = &s.problems()[0].1[0].message;
        assert!(m.contains("is not one") && !m.contains("notakey"), "{m}");
        // a pasted identity is never quoted; a template placeholder is a note
        let key = "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ";
        let s = set(&[(".sops.yaml", &format!("creation_rules:\n  - age: {key}\n"))]);
        let h = &s.problems()[0].1[0];
        assert!(h.message.contains("private key") && !h.message.contains("QQQQ"), "{}", h.message);
        assert_eq!(h.severity, None);
        let s = set(&[(".sops.yaml", "creation_rules:\n  - age: ${BOOTSTRAP_AGE_PUBLIC_KEY}\n")]);
        let h = &s.problems()[0].1[0];
        assert_eq!(h.severity, Some(crate::finding::Severity::Note));
        assert!(!h.message.contains("BOOTSTRAP"), "{}", h.message);
    }

    #[test]
    fn yaml_merge_keys_are_resolved_as_sops_does() {
        // Issue 14, class 1: the keys live in an anchor merged into each rule.
        let cfg = format!(
            "x-defaults: &defaults\n  key_groups:\n    - age: [{R1}]\n  encrypted_regex: ^(data|stringData)$\nx-other: &other\n  age: {R2}\ncreation_rules:\n  - <<: *defaults\n    path_regex: ^apps/\n  - <<: [*other, *defaults]\n    path_regex: ^infra/\n  - path_regex: ^own/\n    <<: *defaults\n    encrypted_regex: ^password$\n"
        );
        let s = set(&[(".sops.yaml", &cfg)]);
        assert!(s.problems().is_empty(), "{:?}", s.problems());
        let ids = |path: &str| -> Vec<Vec<String>> {
            let Selection::Rule(_, r) = s.select(path) else { panic!("{path}") };
            r.groups.iter().map(|g| g.iter().map(|k| k.id.clone()).collect()).collect()
        };
        assert_eq!(ids("apps/a.yaml"), vec![vec![R1.to_owned()]]);
        // a mapping's own keys win over merged ones; earlier merges win over later ones
        let Selection::Rule(_, r) = s.select("own/a.yaml") else { panic!() };
        assert_eq!(r.rule.as_ref().map(|e| e.value.as_str()), Some("^password$"));
        // both merged: `key_groups` (from the second) takes precedence over `age`, as in sops
        assert_eq!(ids("infra/a.yaml"), vec![vec![R1.to_owned()]]);
        // a quoted "<<" is an ordinary key
        let quoted = format!("creation_rules:\n  - '<<': {{age: {R1}}}\n    age: {R2}\n");
        let s2 = set(&[(".sops.yaml", &quoted)]);
        let Selection::Rule(_, r) = s2.select("x") else { panic!() };
        assert_eq!(r.groups.iter().flatten().map(|k| k.id.as_str()).collect::<Vec<_>>(), [R2]);
    }

    #[test]
    fn key_groups_merge_and_dedup() {
        let cfg = format!(
            "creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n      - age: ['{R1}, {R2}']\n        merge:\n          - age: [{R2}]\n      - pgp: ['AB CD']\n        age: [{R1}]\n"
        );
        let s = set(&[(".sops.yaml", &cfg)]);
        let Selection::Rule(_, r) = s.select("x") else { panic!() };
        assert_eq!(r.shamir_threshold, 2);
        let ids: Vec<Vec<&str>> =
            r.groups.iter().map(|g| g.iter().map(|k| k.id.as_str()).collect()).collect();
        assert_eq!(ids, vec![vec![R2, R1], vec![R1, "ABCD"]]);
    }
}
