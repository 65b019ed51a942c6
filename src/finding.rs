//! Findings: the plain data that flows from the rules to the reports.
//!
//! Detectors produce [`Hit`]s, which still point into the scanned bytes. The scanner turns every hit
//! into a [`Finding`] in one place ([`crate::scan`]): line and column, a redacted snippet, a redacted
//! context line for human output, and a content-based fingerprint. After that step no finding holds a
//! single byte of secret material, so every renderer can print what it is given.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use serde::Serialize;

/// How bad a finding is. Ordered from least to most severe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; never fails a scan on its own.
    Note,
    /// Probably a problem.
    Warning,
    /// A leak or a file that will break at deploy time.
    Error,
}

impl Severity {
    /// The lowercase name used in every output format.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Note => "note",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }

    /// Parses the lowercase name.
    pub fn parse(s: &str) -> Option<Severity> {
        match s {
            "note" | "info" => Some(Severity::Note),
            "warning" | "warn" => Some(Severity::Warning),
            "error" => Some(Severity::Error),
            _ => None,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a detector reports: positions into the scanned bytes, never copies of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hit {
    /// The rule id, as listed in the registry (`age/identity`, `sops/mac-mismatch`, …).
    pub rule: String,
    /// The byte range the diagnostic label points at.
    pub span: Range<usize>,
    /// The byte range of secret material, if any. It is redacted in every output and is what the
    /// fingerprint is computed from.
    pub secret: Option<Range<usize>>,
    /// One sentence for people. Must not contain secret bytes.
    pub message: String,
    /// For findings without secret material: what identifies this finding across runs (for example
    /// `missing:age1…` for a recipient check). Ignored when `secret` is set.
    pub identity: Option<String>,
    /// Overrides the rule's default severity for this one hit.
    pub severity: Option<Severity>,
    /// Extra structured facts (recipient names, Secret names…). Never secret values.
    pub properties: BTreeMap<String, serde_json::Value>,
}

impl Hit {
    /// A hit with a label span and a message.
    pub fn new(rule: impl Into<String>, span: Range<usize>, message: impl Into<String>) -> Hit {
        Hit {
            rule: rule.into(),
            span,
            secret: None,
            message: message.into(),
            identity: None,
            severity: None,
            properties: BTreeMap::new(),
        }
    }

    /// Marks `secret` as secret material (redacted, fingerprinted).
    pub fn with_secret(mut self, secret: Range<usize>) -> Hit {
        self.secret = Some(secret);
        self
    }

    /// Sets the stable identity of a finding without secret material.
    pub fn with_identity(mut self, identity: impl Into<String>) -> Hit {
        self.identity = Some(identity.into());
        self
    }

    /// Overrides the severity of this hit.
    pub fn with_severity(mut self, severity: Severity) -> Hit {
        self.severity = Some(severity);
        self
    }

    /// Adds a structured property.
    pub fn with_property(mut self, key: &str, value: impl Into<serde_json::Value>) -> Hit {
        self.properties.insert(key.to_owned(), value.into());
        self
    }
}

/// Where a finding is, in 1-based lines and columns (columns count characters) plus byte offsets.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Location {
    /// 1-based line of the start.
    pub line: usize,
    /// 1-based column (in characters) of the start.
    pub column: usize,
    /// 1-based line of the end (inclusive line of the last byte).
    pub end_line: usize,
    /// 1-based column just past the end, in characters.
    pub end_column: usize,
    /// Byte offset of the start.
    pub byte_start: usize,
    /// Byte offset just past the end.
    pub byte_end: usize,
}

/// One line of source text with every secret on it redacted, for human output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Context {
    /// The line, secrets redacted, at most a few hundred characters.
    pub text: String,
    /// Byte offset of the label inside `text`.
    pub label_start: usize,
    /// Byte length of the label inside `text`.
    pub label_len: usize,
}

/// Where in git a finding's blob was seen. Empty for working-tree scans.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Provenance {
    /// Where the blob came from: `worktree`, `index` or `commit`.
    pub source: String,
    /// The blob id (hex), for git sources.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blob: Option<String>,
    /// The commit that introduced the blob at this path (hex).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// Author of that commit, `Name <email>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Commit date, RFC 3339 in UTC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// How many commits contain this blob at this path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commits: Option<usize>,
    /// The refs whose history still contains the blob at this path, sorted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refs: Vec<String>,
    /// Whether HEAD's tree holds the blob at this path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_head: Option<bool>,
}

/// A finding as every renderer sees it. Holds no secret bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Rule id.
    pub rule: String,
    /// Effective severity (after per-hit and config overrides).
    pub severity: Severity,
    /// Path relative to the scan root (or repository root), `/`-separated.
    pub path: String,
    /// Position in the file.
    pub location: Location,
    /// The message for people.
    pub message: String,
    /// A redacted snippet: the first few characters then `…`.
    pub snippet: String,
    /// Content-based, keyed, irreversible fingerprint (hex).
    pub fingerprint: String,
    /// The redacted source line, when the blob is text.
    #[serde(skip_serializing)]
    pub context: Option<Context>,
    /// Git provenance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
    /// Structured extras copied from the hit.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, serde_json::Value>,
    /// Which secret the finding is about, as a keyed hash under a key drawn at random for this
    /// process ([`crate::fingerprint::secret_id`]): tells whether two versions of a file hold the
    /// same secret. Never serialized, printed or compared across processes.
    #[serde(skip)]
    pub secret_id: Option<[u8; 16]>,
}

impl Finding {
    /// The total order every output uses: path, provenance (commit), position, rule, fingerprint.
    pub fn sort_key(&self) -> impl Ord + '_ {
        (
            &self.path,
            self.provenance.as_ref().map(|p| (&p.source, &p.date, &p.commit)),
            self.location.byte_start,
            self.location.byte_end,
            &self.rule,
            &self.fingerprint,
            &self.message,
        )
    }
}

/// Folds `other`, a finding of the same issue in another version of the same file, into `into`:
/// the versions are counted, the earliest introducing commit is kept, the commits are added up
/// (each commit holds one version of a path, so the sets are disjoint) and the refs joined.
pub(crate) fn merge_version(into: &mut Finding, other: Finding) {
    let count = |f: &Finding| f.properties.get("versions").and_then(serde_json::Value::as_u64).unwrap_or(1);
    let n = count(into) + count(&other);
    into.properties.insert("versions".into(), serde_json::Value::from(n));
    if other.severity > into.severity {
        into.severity = other.severity;
        into.properties.remove("not_at_head");
    }
    let (Some(a), Some(b)) = (into.provenance.as_mut(), other.provenance) else { return };
    if b.date < a.date || (b.date == a.date && b.commit < a.commit) {
        a.commit = b.commit;
        a.author = b.author;
        a.date = b.date;
    }
    a.commits = match (a.commits, b.commits) {
        (None, None) => None,
        (x, y) => Some(x.unwrap_or(0) + y.unwrap_or(0)),
    };
    merge_refs(&mut a.refs, b.refs);
    a.at_head = match (a.at_head, b.at_head) {
        (None, None) => None,
        (x, y) => Some(x.unwrap_or(false) || y.unwrap_or(false)),
    };
}

/// How many refs a finding names at most; the rest are counted.
pub(crate) const MAX_REFS: usize = 16;

/// The order refs are named in: HEAD, branches, remote branches, tags, then anything else
/// (pull-request refs of a mirror, notes, stash), each alphabetical.
pub(crate) fn ref_class(name: &str) -> u8 {
    match name {
        "HEAD" => 0,
        _ if name.starts_with("refs/heads/") => 1,
        _ if name.starts_with("refs/remotes/") => 2,
        _ if name.starts_with("refs/tags/") => 3,
        _ => 4,
    }
}

/// Joins the refs of two versions of a finding. Each list names at most [`MAX_REFS`] refs and
/// may end with `… and N more`; the union is named in ref order, and what is left unnamed is
/// counted as at least the larger of the two lists' totals allows (the unnamed refs of the two
/// lists may overlap).
fn merge_refs(into: &mut Vec<String>, other: Vec<String>) {
    let split = |refs: Vec<String>| {
        let mut more = 0usize;
        let mut named = Vec::with_capacity(refs.len());
        for r in refs {
            match r.strip_prefix("… and ").map(|t| t.trim_start_matches("at least ")) {
                Some(t) => more = t.split(' ').next().and_then(|n| n.parse().ok()).unwrap_or(0),
                None => named.push(r),
            }
        }
        (named, more)
    };
    let (mut named, more_a) = split(std::mem::take(into));
    let total_a = named.len() + more_a;
    let (other, more_b) = split(other);
    let total_b = other.len() + more_b;
    for r in other {
        if !named.contains(&r) {
            named.push(r);
        }
    }
    named.sort_by(|x, y| (ref_class(x), x).cmp(&(ref_class(y), y)));
    let total = named.len().max(total_a).max(total_b);
    if total > MAX_REFS {
        named.truncate(MAX_REFS);
        let exact = more_a == 0 && more_b == 0;
        let at_least = if exact { "" } else { "at least " };
        named.push(format!("… and {at_least}{} more", total - MAX_REFS));
    }
    *into = named;
}

/// Sorts findings into the one order every output uses, and removes exact duplicates.
pub fn sort_findings(findings: &mut Vec<Finding>) {
    findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    findings.dedup_by(|a, b| a.sort_key() == b.sort_key());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_refs_keep_the_order_and_count_what_is_unnamed() {
        let names = |n: std::ops::Range<usize>| n.map(|i| format!("refs/tags/v{i:02}")).collect::<Vec<_>>();
        // Two short lists: the union, HEAD and branches first, nothing counted.
        let mut a = vec!["refs/tags/a".to_owned(), "refs/heads/main".to_owned()];
        merge_refs(&mut a, vec!["HEAD".to_owned(), "refs/heads/main".to_owned()]);
        assert_eq!(a, ["HEAD", "refs/heads/main", "refs/tags/a"]);
        // Two truncated lists: one marker, never two, and a count no larger than is known.
        let mut a = names(0..16);
        a.push("… and 20 more".to_owned());
        let mut b = names(0..16);
        b.push("… and 16 more".to_owned());
        merge_refs(&mut a, b);
        assert_eq!(a.len(), MAX_REFS + 1);
        assert_eq!(a.last().unwrap(), "… and at least 20 more");
        assert_eq!(a.iter().filter(|r| r.starts_with('…')).count(), 1);
        // Named lists that grow past the limit together are counted exactly.
        let mut a = names(0..10);
        merge_refs(&mut a, names(5..20));
        assert_eq!(a.last().unwrap(), "… and 4 more");
    }
}
