//! `--format sarif`: SARIF 2.1.0 for GitHub code scanning (`github/codeql-action/upload-sarif`).
//!
//! A small typed model of our own rather than `serde-sarif`: the generated crate makes every one of
//! SARIF's hundreds of fields optional, so nothing would stop us from leaving out what GitHub
//! requires; here every field GitHub needs is a plain (non-optional) field, the field order is fixed,
//! and the output is byte-identical across runs.
//!
//! What GitHub needs and where it comes from:
//! - `tool.driver` names sopsguard and lists every rule, sorted by id, with short and full
//!   descriptions, help (text and markdown, from the rule docs), the default level, `tags` (always
//!   including `security`) and `security-severity` (a string, as GitHub reads it).
//! - One result per finding: `ruleId`, `ruleIndex`, `level`, a message, exactly one location with a
//!   full region, the redacted snippet (never the secret), and the content fingerprint in
//!   `partialFingerprints["sopsguard/v1"]`.
//! - Findings that carry a commit (range and history scans) go in their own run, with their commit,
//!   author and date in `properties` and their own `automationDetails.id` ([`CATEGORY_RANGE`],
//!   [`CATEGORY_HISTORY`]): `upload-sarif` hashes the *checked-out* file to fingerprint a result, which
//!   is the wrong content (or no file at all) for a blob seen in an older commit, so those results also
//!   carry the content fingerprint as `primaryLocationLineHash` and GitHub de-duplicates them by
//!   content. A run for a category is written only when the scan covers that category or it has
//!   results, so a push-range upload never closes the alerts of a scheduled history upload.
//! - Problems, skipped files and notes become `invocations[0].toolExecutionNotifications`;
//!   `executionSuccessful` is false when there were problems.
//! - GitHub's hard limits are never exceeded: at most 25,000 results per run and 10 MB gzipped per
//!   file (the least severe results are left out, and a notification says how many), at most 20 tags
//!   per rule, at most 25,000 rules (only the rules with results are listed beyond that), one
//!   location per result (limit 1,000), and at most 3 runs (limit 20).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::Emitter;
use crate::finding::{Finding, Severity};
use crate::rules::{Registry, Rule};
use crate::scan::ScanReport;

/// `automationDetails.id` of the run for the working tree and the staged index.
pub const CATEGORY_FILES: &str = "sopsguard/";
/// `automationDetails.id` of the run for findings of `scan --range` (each in some commit).
pub const CATEGORY_RANGE: &str = "sopsguard/range/";
/// `automationDetails.id` of the run for findings of `scan --history`.
pub const CATEGORY_HISTORY: &str = "sopsguard/history/";

/// The partial fingerprint key that carries the content fingerprint.
pub const FINGERPRINT_KEY: &str = "sopsguard/v1";

/// GitHub rejects a run with more results than this.
pub const GITHUB_MAX_RESULTS_PER_RUN: usize = 25_000;
/// GitHub rejects a file whose gzip exceeds 10 MB; we stay under this, leaving room for differences
/// between gzip implementations.
pub const GITHUB_MAX_GZIP_BYTES: usize = 9_500_000;
/// GitHub rejects a run with more rules than this.
pub const GITHUB_MAX_RULES: usize = 25_000;
/// GitHub rejects a rule with more tags than this.
pub const GITHUB_MAX_TAGS: usize = 20;

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// Which kind of scan produced the report. It decides which runs are always written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ScanKind {
    /// Files in the working tree, or the staged index.
    #[default]
    Files,
    /// A commit range.
    Range,
    /// The whole history.
    History,
}

impl ScanKind {
    fn git_category(self) -> &'static str {
        match self {
            ScanKind::Range => CATEGORY_RANGE,
            ScanKind::Files | ScanKind::History => CATEGORY_HISTORY,
        }
    }

    fn primary_category(self) -> &'static str {
        match self {
            ScanKind::Files => CATEGORY_FILES,
            ScanKind::Range => CATEGORY_RANGE,
            ScanKind::History => CATEGORY_HISTORY,
        }
    }
}

/// The SARIF emitter.
#[derive(Clone, Debug)]
pub struct Sarif {
    /// What was scanned.
    pub scan: ScanKind,
    /// The directory relative paths are relative to. Absolute paths under it are made relative; other
    /// absolute paths become `file://` URIs and the directory is given as the invocation's
    /// `workingDirectory` (GitHub needs one of the two).
    pub working_directory: Option<PathBuf>,
    /// Results per run (GitHub's limit unless a test lowers it).
    pub max_results_per_run: usize,
    /// Gzipped bytes per file (GitHub's limit unless a test lowers it).
    pub max_gzip_bytes: usize,
}

impl Default for Sarif {
    fn default() -> Self {
        Sarif {
            scan: ScanKind::Files,
            working_directory: None,
            max_results_per_run: GITHUB_MAX_RESULTS_PER_RUN,
            max_gzip_bytes: GITHUB_MAX_GZIP_BYTES,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The model. Field order is the output order.

#[derive(Serialize)]
struct Log<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: Vec<Run<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Run<'a> {
    tool: Tool<'a>,
    automation_details: AutomationDetails,
    invocations: Vec<Invocation>,
    column_kind: &'static str,
    results: Vec<SarifResult<'a>>,
}

#[derive(Serialize)]
struct Tool<'a> {
    driver: Driver<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Driver<'a> {
    name: &'static str,
    version: &'static str,
    semantic_version: &'static str,
    information_uri: &'static str,
    rules: Vec<ReportingDescriptor<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReportingDescriptor<'a> {
    id: &'a str,
    name: String,
    short_description: Text,
    full_description: Text,
    help: Help,
    default_configuration: Configuration,
    properties: RuleProperties,
}

#[derive(Serialize)]
struct Text {
    text: String,
}

#[derive(Serialize)]
struct Help {
    text: String,
    markdown: String,
}

#[derive(Serialize)]
struct Configuration {
    #[serde(skip_serializing_if = "is_true")]
    enabled: bool,
    level: &'static str,
}

#[derive(Serialize)]
struct RuleProperties {
    tags: Vec<String>,
    precision: &'static str,
    #[serde(rename = "security-severity")]
    security_severity: String,
}

#[derive(Serialize)]
struct AutomationDetails {
    id: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Invocation {
    execution_successful: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    working_directory: Option<ArtifactLocation>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_execution_notifications: Vec<Notification>,
}

#[derive(Serialize)]
struct Notification {
    level: &'static str,
    message: Text,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    locations: Vec<NotificationLocation>,
    descriptor: DescriptorReference,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NotificationLocation {
    physical_location: NotificationPhysical,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NotificationPhysical {
    artifact_location: ArtifactLocation,
}

#[derive(Serialize)]
struct DescriptorReference {
    id: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult<'a> {
    rule_id: &'a str,
    rule_index: usize,
    level: &'static str,
    message: Text,
    locations: [Location<'a>; 1],
    partial_fingerprints: BTreeMap<&'static str, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    properties: BTreeMap<&'static str, serde_json::Value>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Location<'a> {
    physical_location: PhysicalLocation<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation<'a> {
    artifact_location: ArtifactLocation,
    region: Region<'a>,
}

#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct ArtifactLocation {
    uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    uri_base_id: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Region<'a> {
    start_line: usize,
    start_column: usize,
    end_line: usize,
    end_column: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    snippet: Option<Snippet<'a>>,
}

#[derive(Serialize)]
struct Snippet<'a> {
    text: &'a str,
}

// ---------------------------------------------------------------------------------------------

fn is_true(b: &bool) -> bool {
    *b
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Note => "note",
    }
}

/// `age/identity-malformed` → `AgeIdentityMalformed`.
fn pascal_name(id: &str) -> String {
    id.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut cs = p.chars();
            match cs.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + cs.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// Paragraphs of a doc string joined into lines without hard wraps.
fn unwrap_paragraphs(s: &str) -> String {
    s.split("\n\n")
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// A sentence for a SARIF message: one line, ending with a period.
fn sentence(s: &str) -> String {
    let mut out = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

fn descriptor<'a>(rule: &'a Rule, disabled: bool) -> ReportingDescriptor<'a> {
    let what = unwrap_paragraphs(&rule.docs.what);
    let why = unwrap_paragraphs(&rule.docs.why);
    let fix = unwrap_paragraphs(&rule.docs.fix);
    let mut tags: Vec<String> = vec!["security".to_owned()];
    for t in &rule.tags {
        if !tags.contains(t) {
            tags.push(t.clone());
        }
    }
    tags.truncate(GITHUB_MAX_TAGS);
    let first_paragraph = what.split("\n\n").next().unwrap_or("").to_owned();
    ReportingDescriptor {
        id: &rule.id,
        name: pascal_name(&rule.id),
        short_description: Text { text: sentence(&rule.title) },
        full_description: Text {
            text: if first_paragraph.is_empty() { sentence(&rule.title) } else { sentence(&first_paragraph) },
        },
        help: Help {
            text: format!("What it finds: {what}\n\nWhy it matters: {why}\n\nHow to fix it: {fix}\n"),
            markdown: format!(
                "## What it finds\n\n{what}\n\n## Why it matters\n\n{why}\n\n## How to fix it\n\n{fix}\n\n\
                 Suppress one occurrence with a `sopsguard:allow {id}` comment on the line or the line \
                 above, or record it in a baseline (`sopsguard baseline`).\n",
                id = rule.id
            ),
        },
        default_configuration: Configuration { enabled: !disabled, level: level(rule.severity) },
        properties: RuleProperties {
            tags,
            precision: "high",
            security_severity: format!("{:.1}", rule.security_severity),
        },
    }
}

/// Percent-encodes a `/`-separated path for a URI: unreserved characters, sub-delimiters, `@` and
/// `/` stay; everything else (including `:`, `%`, spaces and non-ASCII bytes) is encoded.
fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b'@'
                    | b'/'
            );
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn is_absolute(path: &str) -> bool {
    let b = path.as_bytes();
    path.starts_with('/') || (b.len() > 2 && b[0].is_ascii_alphabetic() && b[1] == b':' && b[2] == b'/')
}

/// The artifact location of a report path.
fn artifact(path: &str, working_directory: Option<&Path>) -> ArtifactLocation {
    if is_absolute(path) {
        if let Some(wd) = working_directory {
            let wd = wd.to_string_lossy().replace('\\', "/");
            let wd = wd.trim_end_matches('/');
            if let Some(rel) = path.strip_prefix(wd).and_then(|r| r.strip_prefix('/')) {
                if !rel.is_empty() {
                    return ArtifactLocation { uri: encode_path(rel), uri_base_id: Some("%SRCROOT%") };
                }
            }
        }
        return ArtifactLocation { uri: file_uri(path), uri_base_id: None };
    }
    let rel = path.strip_prefix("./").unwrap_or(path);
    ArtifactLocation { uri: encode_path(rel), uri_base_id: Some("%SRCROOT%") }
}

/// `file:///abs/path`, or `file:///C:/path` for a Windows drive path.
fn file_uri(path: &str) -> String {
    match path.strip_prefix('/') {
        Some(_) => format!("file://{}", encode_path(path)),
        None => format!("file:///{}:{}", &path[..1], encode_path(&path[2..])),
    }
}

fn directory_uri(dir: &Path) -> ArtifactLocation {
    let mut s = dir.to_string_lossy().replace('\\', "/");
    if !s.ends_with('/') {
        s.push('/');
    }
    ArtifactLocation { uri: file_uri(&s), uri_base_id: None }
}

fn properties(f: &Finding) -> BTreeMap<&'static str, serde_json::Value> {
    use serde_json::Value;
    let mut props = BTreeMap::new();
    if let Some(p) = &f.provenance {
        if !p.source.is_empty() {
            props.insert("source", Value::from(p.source.clone()));
        }
        let mut put = |k: &'static str, v: &Option<String>| {
            if let Some(v) = v {
                props.insert(k, Value::from(v.clone()));
            }
        };
        put("blob", &p.blob);
        put("commit", &p.commit);
        put("author", &p.author);
        put("date", &p.date);
        if let Some(n) = p.commits {
            props.insert("commits", Value::from(n));
        }
        if !p.refs.is_empty() {
            props.insert("refs", Value::from(p.refs.clone()));
        }
        if let Some(h) = p.at_head {
            props.insert("atHead", Value::from(h));
        }
    }
    if !f.properties.is_empty() {
        let details: serde_json::Map<String, Value> =
            f.properties.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        props.insert("details", Value::Object(details));
    }
    props
}

fn has_commit(f: &Finding) -> bool {
    f.provenance.as_ref().is_some_and(|p| p.commit.is_some())
}

/// One run before serialisation: which findings it holds and what it has to say about the scan.
struct RunPlan<'r> {
    category: &'static str,
    findings: Vec<&'r Finding>,
    /// Indices into `findings` that are written (all unless truncated).
    kept: Vec<usize>,
    primary: bool,
}

impl RunPlan<'_> {
    /// Keeps the `n` most severe findings (ties: report order), in report order.
    fn keep_most_severe(&mut self, n: usize) {
        if self.kept.len() <= n {
            return;
        }
        let mut ranked = self.kept.clone();
        ranked.sort_by_key(|&i| (std::cmp::Reverse(self.findings[i].severity), i));
        ranked.truncate(n);
        ranked.sort_unstable();
        self.kept = ranked;
    }

    fn omitted(&self) -> usize {
        self.findings.len() - self.kept.len()
    }
}

impl Sarif {
    fn plan<'r>(&self, report: &'r ScanReport) -> Vec<RunPlan<'r>> {
        let git_category = self.scan.git_category();
        let primary = self.scan.primary_category();
        let mut by_category: BTreeMap<&'static str, Vec<&'r Finding>> = BTreeMap::new();
        by_category.entry(primary).or_default();
        for f in &report.findings {
            let c = if has_commit(f) { git_category } else { CATEGORY_FILES };
            by_category.entry(c).or_default().push(f);
        }
        let mut plans: Vec<RunPlan<'r>> = [CATEGORY_FILES, CATEGORY_RANGE, CATEGORY_HISTORY]
            .into_iter()
            .filter_map(|c| {
                let findings = by_category.remove(c)?;
                let kept = (0..findings.len()).collect();
                Some(RunPlan { category: c, findings, kept, primary: c == primary })
            })
            .collect();
        for p in &mut plans {
            p.keep_most_severe(self.max_results_per_run);
        }
        plans
    }

    fn notifications(&self, report: &ScanReport, plan: &RunPlan<'_>, by_size: bool) -> Vec<Notification> {
        let mut out = Vec::new();
        let omitted = plan.omitted();
        if omitted > 0 {
            let why = if by_size {
                "to keep the file under GitHub's size limit (10 MB gzipped) and results limit (25,000 per run)"
            } else {
                "because GitHub accepts at most 25,000 results per run"
            };
            out.push(Notification {
                level: "warning",
                message: Text {
                    text: format!(
                        "{} of {} results are in this run; the {omitted} least severe were left out {why}. \
                         Run sopsguard locally (or with --format json) for the full list.",
                        plan.kept.len(),
                        plan.findings.len()
                    ),
                },
                locations: Vec::new(),
                descriptor: DescriptorReference { id: "sopsguard/results-truncated" },
            });
        }
        if !plan.primary {
            return out;
        }
        let wd = self.working_directory.as_deref();
        let at = |path: &str| {
            vec![NotificationLocation {
                physical_location: NotificationPhysical { artifact_location: artifact(path, wd) },
            }]
        };
        for p in &report.problems {
            out.push(Notification {
                level: "error",
                message: Text { text: sentence(&format!("{}: {}", p.path, p.message)) },
                locations: at(&p.path),
                descriptor: DescriptorReference { id: "sopsguard/problem" },
            });
        }
        for s in &report.skipped {
            out.push(Notification {
                level: "warning",
                message: Text { text: sentence(&format!("{} was not scanned: {}", s.path, s.reason)) },
                locations: at(&s.path),
                descriptor: DescriptorReference { id: "sopsguard/skipped" },
            });
        }
        for n in &report.notes {
            out.push(Notification {
                level: "note",
                message: Text { text: sentence(n) },
                locations: Vec::new(),
                descriptor: DescriptorReference { id: "sopsguard/note" },
            });
        }
        out
    }

    fn build<'a>(
        &self,
        report: &'a ScanReport,
        registry: &'a Registry,
        plans: &[RunPlan<'a>],
        by_size: bool,
    ) -> Log<'a> {
        let wd = self.working_directory.as_deref();
        let any_absolute = report.findings.iter().any(|f| artifact(&f.path, wd).uri.starts_with("file:"))
            || report.problems.iter().any(|p| artifact(&p.path, wd).uri.starts_with("file:"))
            || report.skipped.iter().any(|s| artifact(&s.path, wd).uri.starts_with("file:"));
        let working_directory = if any_absolute { wd.map(directory_uri) } else { None };
        let all_rules = registry.rules();
        // The rules listed: all of them, unless that is more than GitHub accepts; then only those
        // with results (at most 25,000 results per run, so this always fits).
        let listed: Vec<&Rule> = if all_rules.len() <= GITHUB_MAX_RULES {
            all_rules.iter().collect()
        } else {
            let used: BTreeSet<&str> = report.findings.iter().map(|f| f.rule.as_str()).collect();
            all_rules.iter().filter(|r| used.contains(r.id.as_str())).take(GITHUB_MAX_RULES).collect()
        };
        let index: BTreeMap<&str, usize> =
            listed.iter().enumerate().map(|(i, r)| (r.id.as_str(), i)).collect();
        let runs = plans
            .iter()
            .map(|plan| {
                let results = plan
                    .kept
                    .iter()
                    .filter_map(|&i| {
                        let f = plan.findings[i];
                        let rule_index = *index.get(f.rule.as_str())?;
                        let mut fingerprints = BTreeMap::new();
                        fingerprints.insert(FINGERPRINT_KEY, f.fingerprint.clone());
                        if has_commit(f) {
                            fingerprints.insert("primaryLocationLineHash", format!("{}:1", f.fingerprint));
                        }
                        let l = &f.location;
                        Some(SarifResult {
                            rule_id: &f.rule,
                            rule_index,
                            level: level(f.severity),
                            message: Text { text: sentence(&f.message) },
                            locations: [Location {
                                physical_location: PhysicalLocation {
                                    artifact_location: artifact(&f.path, wd),
                                    region: Region {
                                        start_line: l.line.max(1),
                                        start_column: l.column.max(1),
                                        end_line: l.end_line.max(l.line).max(1),
                                        end_column: if l.end_line > l.line {
                                            l.end_column.max(1)
                                        } else {
                                            l.end_column.max(l.column).max(1)
                                        },
                                        snippet: (!f.snippet.is_empty())
                                            .then_some(Snippet { text: &f.snippet }),
                                    },
                                },
                            }],
                            partial_fingerprints: fingerprints,
                            properties: properties(f),
                        })
                    })
                    .collect();
                Run {
                    tool: Tool {
                        driver: Driver {
                            name: "sopsguard",
                            version: env!("CARGO_PKG_VERSION"),
                            semantic_version: env!("CARGO_PKG_VERSION"),
                            information_uri: env!("CARGO_PKG_REPOSITORY"),
                            rules: listed.iter().map(|r| descriptor(r, registry.is_off(&r.id))).collect(),
                        },
                    },
                    automation_details: AutomationDetails { id: plan.category },
                    invocations: vec![Invocation {
                        execution_successful: report.problems.is_empty(),
                        working_directory: if plan.primary { working_directory.clone() } else { None },
                        tool_execution_notifications: self.notifications(report, plan, by_size),
                    }],
                    column_kind: "unicodeCodePoints",
                    results,
                }
            })
            .collect();
        Log { schema: SCHEMA, version: "2.1.0", runs }
    }
}

fn gzip_len(bytes: &[u8]) -> usize {
    use flate2::write::GzEncoder;
    let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::default());
    match enc.write_all(bytes).and_then(|()| enc.finish()) {
        Ok(v) => v.len(),
        Err(_) => bytes.len(),
    }
}

impl Emitter for Sarif {
    fn emit(&self, out: &mut dyn Write, report: &ScanReport, registry: &Registry) -> io::Result<()> {
        let mut plans = self.plan(report);
        let mut by_size = false;
        let bytes = loop {
            let log = self.build(report, registry, &plans, by_size);
            let mut bytes = crate::textsafe::to_json_pretty(&log).map_err(io::Error::other)?.into_bytes();
            bytes.push(b'\n');
            // gzip adds only a few header bytes to data it cannot compress, so a file this small fits
            // without measuring (the limit has a margin).
            if bytes.len() <= self.max_gzip_bytes {
                break bytes;
            }
            let compressed = gzip_len(&bytes);
            let total: usize = plans.iter().map(|p| p.kept.len()).sum();
            if compressed <= self.max_gzip_bytes || total == 0 {
                break bytes;
            }
            // Shrink every run in proportion, with a margin, and try again.
            by_size = true;
            let ratio = self.max_gzip_bytes as f64 / compressed as f64 * 0.9;
            for p in &mut plans {
                let n = (p.kept.len() as f64 * ratio).floor() as usize;
                p.keep_most_severe(n.min(p.kept.len().saturating_sub(1)));
            }
        };
        out.write_all(&bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_sentences() {
        assert_eq!(pascal_name("age/identity-malformed"), "AgeIdentityMalformed");
        assert_eq!(sentence("a  finding\nhere"), "a finding here.");
        assert_eq!(sentence("done."), "done.");
    }

    #[test]
    fn uris() {
        assert_eq!(artifact("a b/c#d.yaml", None).uri, "a%20b/c%23d.yaml");
        assert_eq!(artifact("./x.yaml", None).uri, "x.yaml");
        assert_eq!(artifact("k:v/ü.yaml", None).uri, "k%3Av/%C3%BC.yaml");
        let wd = Path::new("/repo");
        let a = artifact("/repo/apps/s.yaml", Some(wd));
        assert_eq!((a.uri.as_str(), a.uri_base_id), ("apps/s.yaml", Some("%SRCROOT%")));
        let b = artifact("/elsewhere/s.yaml", Some(wd));
        assert_eq!((b.uri.as_str(), b.uri_base_id), ("file:///elsewhere/s.yaml", None));
        assert_eq!(artifact("C:/x/y.yaml", None).uri, "file:///C:/x/y.yaml");
    }
}
