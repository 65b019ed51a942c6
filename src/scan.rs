//! The scan engine: one blob in, findings out.
//!
//! [`Engine::scan_blob`] is the single entry point every source uses (working tree, index, commit
//! range, history), so the same bytes give the same findings wherever they come from. It runs the
//! data rules (one aho-corasick prefilter, then each rule's regex and validator), the structural
//! detectors and the SOPS engine, then turns hits into redacted, fingerprinted [`Finding`]s.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::panic::AssertUnwindSafe;

use crate::detect;
use crate::finding::{Context, Finding, Hit, Location, Severity};
use crate::fingerprint;
use crate::rules::engine::Matcher;
use crate::rules::id;
use crate::rules::Registry;
use crate::sops::{ConfigSet, Identities, MacStatus, SopsContext};
use crate::source::{Problem, Skipped};

/// Knobs of a scan that do not depend on the source.
#[derive(Clone, Debug)]
pub struct ScanOptions {
    /// Files larger than this are listed as skipped.
    pub max_file_size: u64,
    /// SOPS strict mode (see `sops/not-encrypted`).
    pub strict: bool,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions { max_file_size: crate::config::DEFAULT_MAX_FILE_SIZE, strict: false }
    }
}

/// What scanning one blob produced.
#[derive(Clone, Debug, Default)]
pub struct FileResult {
    /// Findings, without provenance (the source adds it).
    pub findings: Vec<Finding>,
    /// Problems that kept part of the file from being checked.
    pub problems: Vec<Problem>,
    /// MAC status, for the summary.
    pub mac: MacStatus,
    /// Inline-suppressed findings.
    pub suppressed: usize,
    /// Findings left out past [`MAX_FINDINGS_PER_FILE`] (counted in a note).
    pub omitted: usize,
    /// Notes for people about this file (an archive cut at the size limit).
    pub notes: Vec<String>,
}

/// Most findings reported for one file: past this, a hostile or generated file (a `Secret` with a
/// million keys, a file of 100,000 PEM blocks) costs only the counting of the rest.
pub const MAX_FINDINGS_PER_FILE: usize = 1000;

impl FileResult {
    /// Nothing found, nothing suppressed, no problem, not a sops file.
    pub(crate) fn is_clean(&self) -> bool {
        self.findings.is_empty()
            && self.problems.is_empty()
            && self.suppressed == 0
            && self.mac == crate::sops::MacStatus::NotSops
            && self.notes.is_empty()
    }
}

/// Counters for the summary line.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// Files (blobs) scanned.
    pub files: u64,
    /// Bytes scanned.
    pub bytes: u64,
    /// Findings suppressed inline or by the baseline.
    pub suppressed: u64,
    /// SOPS files whose MAC was recomputed and matched or failed.
    pub macs_verified: u64,
    /// SOPS files whose MAC could not be checked.
    pub macs_unverified: u64,
}

/// The whole result of a scan, before sorting and rendering.
#[derive(Debug, Default)]
pub struct ScanReport {
    /// Every finding.
    pub findings: Vec<Finding>,
    /// Files not scanned, and why.
    pub skipped: Vec<Skipped>,
    /// Problems (exit code 2).
    pub problems: Vec<Problem>,
    /// Counters.
    pub stats: Stats,
    /// Notes for people about the scan as a whole (for example "shallow clone").
    pub notes: Vec<String>,
}

impl ScanReport {
    /// Adds one blob's result.
    pub fn add(&mut self, path_bytes: u64, result: FileResult) {
        self.stats.files += 1;
        self.stats.bytes += path_bytes;
        self.stats.suppressed += result.suppressed as u64;
        match result.mac {
            MacStatus::Verified | MacStatus::Failed => self.stats.macs_verified += 1,
            MacStatus::Unverified => self.stats.macs_unverified += 1,
            MacStatus::NotSops => {}
        }
        if result.omitted > 0 {
            if let Some(f) = result.findings.first() {
                self.notes.push(format!(
                    "{}: {} more findings not listed (at most {MAX_FINDINGS_PER_FILE} per file)",
                    f.path, result.omitted
                ));
            }
        }
        self.findings.extend(result.findings);
        self.problems.extend(result.problems);
        self.notes.extend(result.notes);
    }

    /// Sorts everything into the one deterministic order.
    pub fn sort(&mut self) {
        crate::finding::sort_findings(&mut self.findings);
        self.skipped.sort();
        self.skipped.dedup();
        self.problems.sort();
        self.problems.dedup();
        self.notes.sort();
        self.notes.dedup();
    }

    /// Folds the findings of one secret across the versions of a file into one finding (history
    /// and range scans): the same rule, path and fingerprint, and the same secret, found in several
    /// blobs of that path. The finding kept is the earliest version's; it counts the versions
    /// (`versions`) and the commits, lists the blobs (`blobs`, the first 100) and joins the refs. A rotated secret at the same place is a
    /// different secret and stays a finding of its own. Returns how many findings were folded.
    pub fn group_versions(&mut self) -> usize {
        self.sort();
        let mut first: HashMap<(String, String, String, [u8; 16]), usize> = HashMap::new();
        let mut kept: Vec<Finding> = Vec::with_capacity(self.findings.len());
        let mut folded = 0;
        for f in std::mem::take(&mut self.findings) {
            let from_commit = f.provenance.as_ref().is_some_and(|p| p.source == "commit");
            let Some(id) = f.secret_id.filter(|_| from_commit) else {
                kept.push(f);
                continue;
            };
            let key = (f.path.clone(), f.rule.clone(), f.fingerprint.clone(), id);
            match first.get(&key) {
                Some(&i) => {
                    let blob = f.provenance.as_ref().and_then(|p| p.blob.clone());
                    crate::finding::merge_version(&mut kept[i], f);
                    if let Some(b) = blob {
                        push_blob(&mut kept[i], b);
                    }
                    folded += 1;
                }
                None => {
                    first.insert(key, kept.len());
                    kept.push(f);
                }
            }
        }
        self.findings = kept;
        self.sort();
        folded
    }
}

/// Most blob ids a folded finding lists (`blobs`); `versions` still counts them all.
const MAX_LISTED_BLOBS: usize = 100;

/// Adds `blob` to the blobs a folded finding lists, its own blob first.
fn push_blob(f: &mut Finding, blob: String) {
    let own = f.provenance.as_ref().and_then(|p| p.blob.clone());
    let list = f
        .properties
        .entry("blobs".to_owned())
        .or_insert_with(|| serde_json::Value::Array(own.into_iter().map(serde_json::Value::from).collect()));
    if let serde_json::Value::Array(a) = list {
        if a.len() < MAX_LISTED_BLOBS {
            a.push(serde_json::Value::from(blob));
        }
    }
}

/// The scan engine. Cheap to share between threads (`&Engine` is `Sync`).
pub struct Engine {
    /// Every rule (built-in plus user rules, with config overrides applied).
    pub registry: Registry,
    matcher: Matcher,
    /// Options.
    pub options: ScanOptions,
    /// Identities for MAC verification.
    pub identities: Identities,
    /// Incident mode: also report every SOPS file with its recipients (rule [`INVENTORY_RULE`]),
    /// so the blast radius of a leaked key can be computed from the same scan.
    pub inventory: bool,
}

/// The pseudo-rule of [`Engine::inventory`]: not in the registry, never in a normal scan.
pub const INVENTORY_RULE: &str = id::INCIDENT_SOPS_FILE;

impl Engine {
    /// An engine over `registry`.
    pub fn new(registry: Registry, options: ScanOptions, identities: Identities) -> Engine {
        let matcher = Matcher::new(&registry);
        Engine { registry, matcher, options, identities, inventory: false }
    }

    /// An engine with the built-in rules.
    pub fn builtin(options: ScanOptions, identities: Identities) -> Engine {
        Engine::new(Registry::builtin(), options, identities)
    }

    /// Scans one whole file. `path` is relative to the scan root, `/`-separated; `configs` are the
    /// `.sops.yaml` files of the same source. Never panics: a bug in a detector becomes a problem
    /// for this file and the scan goes on.
    pub fn scan_blob(&self, path: &str, data: &[u8], configs: &ConfigSet) -> FileResult {
        self.scan_blob_judged(path, data, configs, None)
    }

    /// Whether a blob that gave a clean result (see [`FileResult::is_clean`]) under the name
    /// `seen`, with no sops check applying, gives the same under `path` when no sops check applies
    /// there either: the checks that read the name (manifest and kustomization file names, the
    /// SOPS inventory, names of decrypted copies) see no difference.
    pub(crate) fn same_when_clean(&self, seen: &str, path: &str) -> bool {
        if self.inventory {
            return false;
        }
        let class = |p: &str| (detect::k8s::is_manifest_name(p), detect::k8s::is_kustomization_name(p));
        if class(seen) != class(path) {
            return false;
        }
        let mut hits = Vec::new();
        detect::names::check(path, &mut hits);
        hits.is_empty()
    }

    /// [`Engine::scan_blob`] with the verdict of `configs` on this file, when the caller already
    /// worked it out.
    pub(crate) fn scan_blob_judged(
        &self,
        path: &str,
        data: &[u8],
        configs: &ConfigSet,
        verdict: Option<crate::sops::Verdict<'_>>,
    ) -> FileResult {
        match std::panic::catch_unwind(AssertUnwindSafe(|| {
            self.scan_blob_inner(path, data, configs, verdict, false)
        })) {
            Ok(r) => r,
            Err(_) => FileResult {
                problems: vec![Problem {
                    path: path.to_owned(),
                    message: "internal error while scanning this file (a bug in sopsguard; please report it)"
                        .into(),
                }],
                ..FileResult::default()
            },
        }
    }

    fn scan_blob_inner(
        &self,
        path: &str,
        data: &[u8],
        configs: &ConfigSet,
        verdict: Option<crate::sops::Verdict<'_>>,
        in_archive: bool,
    ) -> FileResult {
        // An archive: its members are scanned as files of their own (`archive!member`), without
        // the sops checks (a `.sops.yaml` governs files in the tree, not inside archives); an
        // archive inside an archive is scanned as the bytes it is.
        if !in_archive && crate::archive::is_archive(path, data) {
            if let Some(unpacked) = crate::archive::unpack(path, data, self.options.max_file_size) {
                return self.scan_members(path, unpacked);
            }
        }
        // UTF-16 with a byte-order mark (what some Windows editors save): scanned as the text it
        // holds; positions are those of the decoded UTF-8 text.
        if let Some(decoded) = decode_utf16(data) {
            return match decoded {
                Ok(text) => self.scan_blob_inner(path, text.as_bytes(), configs, None, in_archive),
                Err(at) => FileResult {
                    problems: vec![Problem {
                        path: path.to_owned(),
                        message: format!(
                            "starts with a UTF-16 byte-order mark but is not valid UTF-16 (at byte {at}); not scanned"
                        ),
                    }],
                    ..FileResult::default()
                },
            };
        }
        let mut hits = Vec::new();
        let mut problems = Vec::new();
        if let Some((config, why)) = configs.unread_governing(path) {
            problems.push(Problem {
                path: path.to_owned(),
                message: format!(
                    "its governing {config} could not be read ({why}); the sops checks did not run on this file"
                ),
            });
        }
        self.matcher.scan(&self.registry, data, &mut hits);
        detect::names::check(path, &mut hits);
        let binary = is_binary(data);
        // UTF-8 validation only where it is needed (a manifest to parse, findings to show).
        let mut text: Option<Option<&str>> = None;
        let mut text_of =
            |data| *text.get_or_insert_with(|| if binary { None } else { std::str::from_utf8(data).ok() });
        if detect::k8s::is_candidate(path, data) {
            match text_of(data) {
                Some(t) => {
                    if let Err(e) = detect::k8s::check(path, t, &mut hits) {
                        let (line, col) = line_col(data, e.span.start);
                        problems.push(Problem {
                            path: path.to_owned(),
                            message: format!("{line}:{col}: {}; Kubernetes checks skipped for this file", e.message),
                        });
                    }
                }
                None if !binary => problems.push(Problem {
                    path: path.to_owned(),
                    message: format!(
                        "not valid UTF-8 (first bad byte at offset {}); Kubernetes checks skipped for this file",
                        std::str::from_utf8(data).err().map_or(0, |e| e.valid_up_to())
                    ),
                }),
                None => {}
            }
        }
        if detect::schema::is_candidate(data) {
            if let Some(t) = text_of(data) {
                detect::schema::check(t, &mut hits);
            }
        }
        let ctx = SopsContext { configs, identities: &self.identities, strict: self.options.strict };
        let sops = match verdict {
            Some(v) => crate::sops::check_judged(path, data, &ctx, v),
            None => crate::sops::check_file(path, data, &ctx),
        };
        hits.extend(sops.hits);
        if self.inventory {
            if let Some(info) = crate::sops::inspect(path, data) {
                let recipients: Vec<String> = info
                    .recipients
                    .iter()
                    .filter(|r| r.kind == crate::sops::KeyKind::Age)
                    .map(|r| r.id.clone())
                    .collect();
                hits.push(
                    Hit::new(INVENTORY_RULE, 0..0, "SOPS file")
                        .with_identity("sops-file")
                        .with_severity(Severity::Note)
                        .with_property("recipients", recipients),
                );
            }
        }
        if crate::sops::is_sops_config(path) {
            for (config_path, config_hits) in configs.problems() {
                if config_path == path {
                    hits.extend(config_hits);
                }
            }
        }
        yield_to_specific(&mut hits);
        let is_text = !hits.is_empty() && text_of(data).is_some();
        let mut omitted = 0;
        if hits.len() > MAX_FINDINGS_PER_FILE {
            hits.sort_by_key(|h| (h.span.start, h.span.end));
            omitted = hits.len() - MAX_FINDINGS_PER_FILE;
            hits.truncate(MAX_FINDINGS_PER_FILE);
        }
        let (findings, suppressed) = self.finalize(path, data, is_text, hits);
        FileResult { findings, problems, mac: sops.mac, suppressed, omitted, notes: Vec::new() }
    }

    /// The members of an unpacked archive, each scanned as `archive!member`.
    fn scan_members(&self, path: &str, unpacked: crate::archive::Unpacked) -> FileResult {
        let none = ConfigSet::default();
        let mut out = FileResult::default();
        for m in &unpacked.members {
            let r = self.scan_blob_inner(&format!("{path}!{}", m.name), &m.data, &none, None, true);
            out.findings.extend(r.findings);
            out.problems.extend(r.problems);
            out.suppressed += r.suppressed;
            out.omitted += r.omitted;
            out.notes.extend(r.notes);
        }
        if unpacked.truncated {
            out.notes.push(format!(
                "{path}: archive scanned only up to {} inflated bytes or {} members",
                self.options.max_file_size,
                crate::archive::MAX_MEMBERS
            ));
        }
        out
    }

    /// Turns hits into findings: severity, position, suppression, redaction, fingerprint.
    pub fn finalize(&self, path: &str, data: &[u8], is_text: bool, hits: Vec<Hit>) -> (Vec<Finding>, usize) {
        if hits.is_empty() {
            return (Vec::new(), 0);
        }
        let lines = LineIndex::new(data);
        let secrets: Vec<Range<usize>> = hits.iter().filter_map(|h| h.secret.clone()).collect();
        let ordinals = ordinals(&hits);
        let mut out = Vec::with_capacity(hits.len());
        let mut suppressed = 0;
        for (hit, (structural, ordinal)) in hits.into_iter().zip(ordinals) {
            // The one decision on severity and disabling (`[rules]` of the configuration).
            let Some(severity) = self.registry.decide(&hit.rule, hit.severity) else {
                continue;
            };
            let span = clamp(&hit.span, data.len());
            let secret = hit.secret.as_ref().map(|s| clamp(s, data.len()));
            if lines.is_suppressed(data, span.start, &hit.rule) {
                suppressed += 1;
                continue;
            }
            let (line, column) = lines.line_col(data, span.start);
            let last = if span.end > span.start { span.end - 1 } else { span.start };
            let (end_line, end_col_last) = lines.line_col(data, last);
            let end_column = if span.end > span.start { end_col_last + 1 } else { column };
            let snippet = match &secret {
                Some(sec) => {
                    let inside = sec.start >= span.start && sec.end <= span.end;
                    let prefix = if inside && sec.start - span.start <= 24 {
                        std::str::from_utf8(&data[span.start..sec.start]).unwrap_or("")
                    } else {
                        ""
                    };
                    format!("{}{}", prefix.trim_start(), redact(&data[sec.clone()]))
                }
                None => label_text(data, &span, &secrets),
            };
            let fingerprint = match &secret {
                Some(sec) => {
                    fingerprint::of_secret(&hit.rule, path, &structural, ordinal, &data[sec.clone()])
                }
                None => {
                    fingerprint::of_identity(&hit.rule, path, hit.identity.as_deref().unwrap_or(&hit.message))
                }
            };
            let secret_id = secret.as_ref().map(|sec| fingerprint::secret_id(&data[sec.clone()]));
            // File-level findings (empty span) show no source: the file may be all secrets.
            let context = if is_text && !span.is_empty() {
                lines.context(data, &span, secret.as_ref(), &secrets)
            } else {
                None
            };
            out.push(Finding {
                rule: hit.rule,
                severity,
                path: path.to_owned(),
                location: Location {
                    line,
                    column,
                    end_line,
                    end_column,
                    byte_start: span.start,
                    byte_end: span.end,
                },
                message: hit.message,
                snippet,
                fingerprint,
                context,
                provenance: None,
                properties: hit.properties,
                secret_id,
            });
        }
        (out, suppressed)
    }
}

/// Rules that give way to a more specific one on the same value: a random literal under a
/// `password:` key that is also a Secret's `data` value, a provider token or a Talos secret is
/// reported once, by the rule that knows what it is.
const YIELDING_RULES: &[&str] = &[id::GENERIC_CREDENTIAL, id::KEY_PRIVATE_KEY_BASE64];

/// Schema detectors name the field a credential sits in (`cluster.secret` of a Talos bundle, a
/// kubeconfig user's `token`): a provider-format token rule on the same value gives way to them.
fn is_schema_rule(rule: &str) -> bool {
    rule.starts_with("talos/") || rule == id::KUBE_KUBECONFIG_CREDENTIAL || rule == id::DOCKER_REGISTRY_AUTH
}

fn yield_to_specific(hits: &mut Vec<Hit>) {
    // Strength: the first yielding rule is the weakest; every other rule is stronger than all.
    let rank = |h: &Hit| YIELDING_RULES.iter().position(|r| *r == h.rule).map_or(usize::MAX, |p| p + 1);
    let left_in_clear = |h: &Hit| h.properties.contains_key("left_in_clear_by_sops");
    let token = |h: &Hit| h.rule.starts_with("token/");
    if hits.iter().all(|h| rank(h) == usize::MAX && !left_in_clear(h) && !token(h)) {
        return;
    }
    let covered = |h: &Hit| h.secret.clone().unwrap_or_else(|| h.span.clone());
    let overlaps = |a: &Range<usize>, b: &Range<usize>| a.start < b.end && b.start < a.end;
    let strong: Vec<(Range<usize>, usize, bool)> = hits
        .iter()
        .filter(|h| h.severity != Some(Severity::Note))
        .map(|h| (covered(h), rank(h), h.rule.starts_with("sops/")))
        .collect();
    let schema: Vec<Range<usize>> = hits
        .iter()
        .filter(|h| h.severity != Some(Severity::Note) && is_schema_rule(&h.rule))
        .map(covered)
        .collect();
    hits.retain(|h| {
        let r = covered(h);
        // A value a sops file's own rule left in clear, found by a manifest or schema check,
        // gives way to the sops engine's own finding on it.
        if left_in_clear(h) && strong.iter().any(|(o, _, sops)| *sops && overlaps(o, &r)) {
            return false;
        }
        if token(h) && schema.iter().any(|o| overlaps(o, &r)) {
            return false;
        }
        let mine = rank(h);
        mine == usize::MAX || !strong.iter().any(|(o, theirs, _)| *theirs > mine && overlaps(o, &r))
    });
}

/// Properties that count or list what a finding covers (how many values a file leaves in clear, which
/// ones): left out of its identity, so that a baseline entry survives one more plaintext value.
const COUNTING_PROPERTIES: &[&str] = &["values", "key_paths", "versions"];

/// The public identity of each hit with secret material within its file (its properties, which
/// name the Secret, key or recipient and never hold a value) and its ordinal among the hits of the
/// same rule and identity, in file order: what a structural fingerprint is made of.
fn ordinals(hits: &[Hit]) -> Vec<(String, usize)> {
    let ids: Vec<String> = hits
        .iter()
        .map(|h| {
            // Counts and lists grow as a file changes; they do not name the finding.
            let id: BTreeMap<&String, &serde_json::Value> =
                h.properties.iter().filter(|(k, _)| !COUNTING_PROPERTIES.contains(&k.as_str())).collect();
            if id.is_empty() {
                String::new()
            } else {
                serde_json::to_string(&id).unwrap_or_default()
            }
        })
        .collect();
    let mut order: Vec<usize> = (0..hits.len()).collect();
    order.sort_by_key(|&i| (hits[i].span.start, hits[i].span.end, i));
    let mut seen: HashMap<(&str, &str), usize> = HashMap::new();
    let mut out = vec![0; hits.len()];
    for i in order {
        let n = seen.entry((hits[i].rule.as_str(), ids[i].as_str())).or_insert(0);
        out[i] = *n;
        *n += 1;
    }
    ids.into_iter().zip(out).collect()
}

/// The text of a file that starts with a UTF-16 byte-order mark (little or big endian), without
/// the mark; `Err(offset)` when the rest is not valid UTF-16. `None` without such a mark.
fn decode_utf16(data: &[u8]) -> Option<Result<zeroize::Zeroizing<String>, usize>> {
    let le = match data {
        [0xFF, 0xFE, ..] => true,
        [0xFE, 0xFF, ..] => false,
        _ => return None,
    };
    let body = &data[2..];
    if !body.len().is_multiple_of(2) {
        return Some(Err(data.len() - 1));
    }
    let units = body.chunks_exact(2).map(|c| {
        if le {
            u16::from_le_bytes([c[0], c[1]])
        } else {
            u16::from_be_bytes([c[0], c[1]])
        }
    });
    let mut out = zeroize::Zeroizing::new(String::with_capacity(body.len() / 2));
    for (i, c) in char::decode_utf16(units).enumerate() {
        match c {
            Ok(c) => out.push(c),
            Err(_) => return Some(Err(2 + 2 * i)),
        }
    }
    Some(Ok(out))
}

/// Whether bytes look binary (a NUL in the first 8 KiB, as git and ripgrep decide).
pub fn is_binary(data: &[u8]) -> bool {
    memchr::memchr(0, &data[..data.len().min(8192)]).is_some()
}

fn clamp(r: &Range<usize>, len: usize) -> Range<usize> {
    let s = r.start.min(len);
    s..r.end.clamp(s, len)
}

/// The first few characters of a secret, then `…`. Never more than 3 characters, and never more
/// than a sixth of the secret.
pub fn redact(secret: &[u8]) -> String {
    match std::str::from_utf8(secret) {
        Ok(s) => {
            let s = s.trim();
            let n = (s.chars().count() / 6).min(3);
            let mut out: String = s.chars().take(n).filter(|c| !c.is_control()).collect();
            out.push('…');
            out
        }
        Err(_) => "…".to_owned(),
    }
}

/// A label's own text (for findings without secret material), one line, short, and never
/// overlapping a secret.
fn label_text(data: &[u8], span: &Range<usize>, secrets: &[Range<usize>]) -> String {
    if secrets.iter().any(|s| s.start < span.end && span.start < s.end) {
        return "…".to_owned();
    }
    let raw = String::from_utf8_lossy(&data[span.clone()]);
    let first = raw.lines().next().unwrap_or("");
    let mut out: String = first.chars().take(80).filter(|c| !c.is_control()).collect();
    if first.chars().count() > 80 || raw.lines().nth(1).is_some() {
        out.push('…');
    }
    out
}

fn line_col(data: &[u8], pos: usize) -> (usize, usize) {
    LineIndex::new(data).line_col(data, pos)
}

/// Line starts of one file.
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(data: &[u8]) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(memchr::memchr_iter(b'\n', data).map(|p| p + 1));
        LineIndex { starts }
    }

    fn line_of(&self, pos: usize) -> usize {
        self.starts.partition_point(|&s| s <= pos).max(1) - 1
    }

    fn line_bounds(&self, data: &[u8], line: usize) -> Range<usize> {
        let start = self.starts[line];
        let mut end = self.starts.get(line + 1).map_or(data.len(), |&e| e - 1);
        if end > start && data[end - 1] == b'\r' {
            end -= 1;
        }
        start..end.max(start)
    }

    /// 1-based line and column (characters).
    fn line_col(&self, data: &[u8], pos: usize) -> (usize, usize) {
        let line = self.line_of(pos);
        let start = self.starts[line];
        let prefix = &data[start..pos.max(start).min(data.len())];
        let col = match std::str::from_utf8(prefix) {
            Ok(s) => s.chars().count(),
            Err(_) => prefix.len(),
        };
        (line + 1, col + 1)
    }

    /// Whether `sopsguard:allow RULE` is on the line of `pos` or the line above.
    fn is_suppressed(&self, data: &[u8], pos: usize, rule: &str) -> bool {
        let line = self.line_of(pos);
        let first = line.saturating_sub(1);
        (first..=line).any(|l| allows(&data[self.line_bounds(data, l)], rule))
    }

    /// What the source line shows of a finding: the line's indentation, the key the span belongs
    /// to (the word and separator just before it), the span itself and the hit's own secret, every
    /// secret redacted. Nothing else of the line is shown, so a neighbouring value (another secret,
    /// or one no rule recognised) never reaches the output.
    fn context(
        &self,
        data: &[u8],
        span: &Range<usize>,
        own: Option<&Range<usize>>,
        secrets: &[Range<usize>],
    ) -> Option<Context> {
        let line = self.line_of(span.start);
        let bounds = self.line_bounds(data, line);
        let start = span.start.clamp(bounds.start, bounds.end);
        let mut stop = span.end.clamp(start, bounds.end);
        if let Some(own) = own.filter(|o| o.start >= bounds.start && o.start <= bounds.end) {
            stop = stop.max(own.end.min(bounds.end));
        }
        let prefix = &data[bounds.start..start];
        let indent = prefix.iter().take_while(|&&b| b == b' ' || b == b'\t').count();
        let mut key_from = key_tail(prefix).max(indent);
        let overlaps = |a: usize, b: usize| secrets.iter().any(|s| s.start < b && a < s.end);
        if overlaps(bounds.start + key_from, start) {
            key_from = prefix.len();
        }
        let mut text = String::new();
        text.push_str(&" ".repeat(indent));
        if key_from > indent {
            // Words between the indentation and the key are left out; a YAML list marker stays.
            let between = &prefix[indent..key_from];
            if between.iter().all(|&b| b == b'-' || b == b' ' || b == b'\t') {
                push_visible(&mut text, between);
            } else {
                text.push_str("… ");
            }
        }
        push_visible(&mut text, &data[bounds.start + key_from..start]);
        let label_start = text.len();
        let span_end = span.end.clamp(start, bounds.end);
        let mut label_end = None;
        let mut pos = start;
        let mut cut = false;
        while pos < stop {
            if pos >= span_end && label_end.is_none() {
                label_end = Some(text.len());
            }
            if let Some(sec) = secrets.iter().find(|s| s.start <= pos && pos < s.end) {
                text.push_str(&redact(&data[sec.clone()]));
                pos = sec.end.min(bounds.end).max(pos + 1);
                continue;
            }
            let mut next =
                secrets.iter().filter(|s| s.start > pos).map(|s| s.start).min().unwrap_or(stop).min(stop);
            if pos < span_end {
                next = next.min(span_end);
            }
            push_visible(&mut text, &data[pos..next]);
            pos = next;
            if text.len() - label_start > 160 {
                cut = true;
                break;
            }
        }
        if cut {
            text.push('…');
        }
        let label_end = label_end.unwrap_or(text.len()).max(label_start);
        let (text, label_start, label_end) = window(text, label_start, label_end);
        Some(Context { text, label_start, label_len: label_end - label_start })
    }
}

/// Where the key of a value at the end of `prefix` starts: `key: `, `"key": "`, `key=` (the
/// word, its quotes and the separator). `prefix.len()` when there is none.
fn key_tail(prefix: &[u8]) -> usize {
    let mut i = prefix.len();
    let skip = |i: &mut usize, f: &dyn Fn(u8) -> bool, max: usize| {
        let mut n = 0;
        while *i > 0 && n < max && f(prefix[*i - 1]) {
            *i -= 1;
            n += 1;
        }
    };
    let space = |b: u8| b == b' ' || b == b'\t';
    let quote = |b: u8| b == b'"' || b == b'\'';
    skip(&mut i, &space, usize::MAX);
    skip(&mut i, &quote, 1);
    skip(&mut i, &space, usize::MAX);
    let before_sep = i;
    skip(&mut i, &|b| b == b':' || b == b'=', 1);
    if i == before_sep {
        return prefix.len();
    }
    skip(&mut i, &space, usize::MAX);
    skip(&mut i, &quote, 1);
    let word_end = i;
    skip(&mut i, &|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'/' | b'@'), 64);
    if i == word_end {
        return prefix.len();
    }
    skip(&mut i, &quote, 1);
    skip(&mut i, &|b| b == b'-', 1);
    i
}

/// Appends bytes as text, with invalid UTF-8 as U+FFFD and unsafe characters escaped visibly.
fn push_visible(text: &mut String, bytes: &[u8]) {
    let s = String::from_utf8_lossy(bytes);
    text.push_str(&crate::textsafe::escape(&s));
}

/// Cuts a long line to at most ~240 characters around the label.
fn window(text: String, start: usize, end: usize) -> (String, usize, usize) {
    const MAX: usize = 240;
    if text.len() <= MAX {
        return (text, start, end);
    }
    let mut from = start.saturating_sub(80);
    while !text.is_char_boundary(from) {
        from -= 1;
    }
    let mut to = (end.max(start + 1) + 80).min(text.len()).max(from);
    while !text.is_char_boundary(to) {
        to += 1;
    }
    let mut out = String::new();
    let mut shift = 0usize;
    if from > 0 {
        out.push('…');
        shift = '…'.len_utf8();
    }
    out.push_str(&text[from..to]);
    if to < text.len() {
        out.push('…');
    }
    let ns = start - from + shift;
    let ne = (end.min(to) - from + shift).max(ns);
    (out, ns, ne)
}

/// Whether a line carries `sopsguard:allow` naming `rule` (or `all`).
fn allows(line: &[u8], rule: &str) -> bool {
    let Some(at) = memchr::memmem::find(line, b"sopsguard:allow") else {
        return false;
    };
    let rest = String::from_utf8_lossy(&line[at + "sopsguard:allow".len()..]);
    rest.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
        .take_while(|t| t.contains('/') || *t == "all")
        .any(|t| t == rule || t == "all")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_is_short() {
        assert_eq!(redact(b"hunter2"), "h…");
        assert_eq!(redact(b"abc"), "…");
        assert_eq!(redact(&[0xff, 0xfe]), "…");
        assert_eq!(redact("QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7LQPZRY9X8GF2TVDW0S3JN54KHCE".as_bytes()), "QPZ…");
    }

    #[test]
    fn allow_comments() {
        assert!(allows(b"x # sopsguard:allow age/identity", "age/identity"));
        assert!(allows(b"# sopsguard:allow k8s/plaintext-secret, age/identity", "age/identity"));
        assert!(!allows(
            b"# sopsguard:allow k8s/plaintext-secret because reasons age/identity",
            "age/identity"
        ));
        assert!(!allows(b"# nothing", "age/identity"));
    }

    #[test]
    fn context_redacts_every_secret_on_the_line() {
        let data = b"a: 1\npassword: hunter2222 # and AGE-XYZ\n";
        let lines = LineIndex::new(data);
        let span = 5..13;
        let secrets = vec![15..25, 32..39];
        let ctx = lines.context(data, &span, None, &secrets).unwrap();
        assert_eq!(ctx.text, "password");
        assert_eq!(&ctx.text[ctx.label_start..ctx.label_start + ctx.label_len], "password");
        // The value is shown redacted with its key, and nothing after it on the line.
        let ctx = lines.context(data, &(15..25), Some(&(15..25)), &secrets).unwrap();
        assert_eq!(ctx.text, "password: h…");
        assert_eq!(lines.line_col(data, 15), (2, 11));
        let data = b"  db: {user: admin, password: hunter2222, other: NotDetected}\n";
        let lines = LineIndex::new(data);
        let at = 30;
        let secrets: Vec<Range<usize>> = std::iter::once(at..at + 10).collect();
        let ctx = lines.context(data, &(at..at + 10), Some(&(at..at + 10)), &secrets).unwrap();
        assert_eq!(ctx.text, "  … password: h…");
        assert!(!ctx.text.contains("admin") && !ctx.text.contains("NotDetected"));
    }
}
