//! The pipeline of one blob: classify it (archive, UTF-16, binary, Kubernetes manifest, sops
//! file), run the rules, let general rules give way to specific ones, and turn hits into
//! findings (severity, position, suppression, redaction, fingerprint).

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::panic::AssertUnwindSafe;

use super::redact::{label_text, line_col, redact, LineIndex};
use super::report::{FileResult, MAX_FINDINGS_PER_FILE};
use super::{inventory, suppress};
use crate::detect;
use crate::finding::{Finding, Hit, Location, Severity};
use crate::fingerprint;
use crate::rules::engine::Matcher;
use crate::rules::id;
use crate::rules::Registry;
use crate::sops::{ConfigSet, Identities, SopsContext};
use crate::source::Problem;

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

/// The scan engine. Cheap to share between threads (`&Engine` is `Sync`).
pub struct Engine {
    /// Every rule (built-in plus user rules, with config overrides applied).
    pub registry: Registry,
    matcher: Matcher,
    /// Options.
    pub options: ScanOptions,
    /// Identities for MAC verification.
    pub identities: Identities,
    /// Incident mode: also report every SOPS file with its recipients (rule [`super::INVENTORY_RULE`]),
    /// so the blast radius of a leaked key can be computed from the same scan.
    pub inventory: bool,
}

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
            hits.extend(inventory::hit(path, data));
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
            if suppress::is_suppressed(&lines, data, span.start, &hit.rule) {
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
