//! Baselines: the findings a team has accepted (or not fixed yet), recorded by fingerprint so that
//! only new findings fail a scan.
//!
//! The file holds each finding's rule, path and content fingerprint, and nothing else: no line
//! numbers, so moving lines or reformatting a file changes nothing (the fingerprint is computed from
//! the normalised secret, see [`crate::fingerprint`]), and no snippet. A different secret on the
//! same line has a different fingerprint and is reported. Entries that match no finding of a scan
//! that covered their file are *stale* and reported as notes, so the file does not silently keep
//! suppressions for secrets that are gone (and could come back).
//!
//! ```json
//! {
//!   "version": 1,
//!   "findings": [
//!     { "path": "apps/db.yaml", "rule": "k8s/plaintext-secret", "fingerprint": "4c1f…" }
//!   ]
//! }
//! ```

use std::collections::BTreeSet;
use std::io;
use std::ops::Range;
use std::path::Path;

use miette::{Diagnostic, NamedSource};
use serde::{Deserialize, Serialize};

use crate::scan::ScanReport;

/// The file name `sopsguard baseline` writes by default.
pub const DEFAULT_FILE: &str = ".sopsguard-baseline.json";

/// How many stale entries are listed one by one; the rest are counted.
const MAX_STALE_LISTED: usize = 20;

/// One accepted finding.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Path as reported (relative to the scan root or repository root).
    pub path: String,
    /// Rule id.
    pub rule: String,
    /// The finding's content fingerprint.
    pub fingerprint: String,
}

/// A baseline file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    /// Format version (1).
    pub version: u32,
    /// Entries, sorted and unique.
    pub findings: Vec<Entry>,
}

/// A baseline file that cannot be used. Fatal: exit code 2.
#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum BaselineError {
    /// The file could not be read or written.
    #[error("{path}: {message}")]
    #[diagnostic(code(sopsguard::baseline), help("create one with `sopsguard baseline --output {path}`"))]
    Io {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// The file is not a baseline.
    #[error("not a valid baseline: {message}")]
    #[diagnostic(code(sopsguard::baseline), help("regenerate it with `sopsguard baseline --output FILE`"))]
    Invalid {
        /// Why.
        message: String,
        /// Where.
        #[label("here")]
        span: Range<usize>,
        /// The text.
        #[source_code]
        source_code: NamedSource<String>,
    },
}

/// Which files a scan covered, to tell stale entries from entries for files it did not look at.
#[derive(Clone, Debug)]
pub enum Scope {
    /// Every file (a history scan, or a working-tree scan of the whole root).
    Everything,
    /// Files under these paths (as reported: `apps`, `apps/db.yaml`; `.` for everything).
    Under(Vec<String>),
    /// Only files that had at least one finding (staged and range scans, which see only some files).
    FilesWithFindings,
}

/// What applying a baseline did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Findings suppressed.
    pub suppressed: usize,
    /// Entries that matched nothing in files the scan covered.
    pub stale: Vec<Entry>,
}

fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let start: usize = text.split_inclusive('\n').take(line.saturating_sub(1)).map(str::len).sum();
    (start + column.saturating_sub(1)).min(text.len())
}

impl Baseline {
    /// The baseline of a report: every finding, once.
    pub fn from_report(report: &ScanReport) -> Baseline {
        let set: BTreeSet<Entry> = report
            .findings
            .iter()
            .map(|f| Entry { path: f.path.clone(), rule: f.rule.clone(), fingerprint: f.fingerprint.clone() })
            .collect();
        Baseline { version: 1, findings: set.into_iter().collect() }
    }

    /// The file's text: pretty JSON, one entry per line group, sorted, with a final newline.
    pub fn to_json(&self) -> String {
        let mut s = crate::textsafe::to_json_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Parses a baseline file's text.
    pub fn parse(name: &str, text: &str) -> Result<Baseline, BaselineError> {
        // The file may be anything (a key file passed by mistake): diagnostics never quote it.
        let vocabulary =
            |w: &str| matches!(w, "version" | "findings" | "path" | "rule" | "fingerprint" | "1" | "null");
        let invalid = |message: String, span: Range<usize>| BaselineError::Invalid {
            message,
            span,
            source_code: NamedSource::new(name, crate::masked::mask_source(text, &vocabulary)),
        };
        let mut b: Baseline = serde_json::from_str(text).map_err(|e| {
            let at = offset_of(text, e.line(), e.column());
            // serde_json's own messages quote the offending value; say only what kind of problem.
            let msg = match e.classify() {
                serde_json::error::Category::Syntax => "not valid JSON",
                serde_json::error::Category::Eof => "the file ends too early",
                serde_json::error::Category::Data => {
                    "not a sopsguard baseline (expected `version` and a list of `findings` with `path`, `rule` and `fingerprint`)"
                }
                serde_json::error::Category::Io => "cannot be read",
            };
            invalid(msg.to_owned(), at..at)
        })?;
        if b.version != 1 {
            let at = text.find("\"version\"").unwrap_or(0);
            return Err(invalid(
                format!("unsupported version {} (this sopsguard reads version 1)", b.version),
                at..at + 9,
            ));
        }
        b.findings.sort();
        b.findings.dedup();
        Ok(b)
    }

    /// Reads a baseline file. `confine`: the repository it was found in (named by the repository's
    /// configuration), which it may not leave through a symbolic link; `None` for a file named on
    /// the command line.
    pub fn load(path: &Path, confine: Option<&Path>) -> Result<Baseline, BaselineError> {
        let name = path.display().to_string();
        let limit = crate::config::MAX_CONFIG_SIZE;
        let read = match confine {
            Some(root) => crate::fsread::read_confined(path, root, limit),
            None => crate::fsread::read_regular(path, limit),
        };
        let bytes = read.map_err(|e| BaselineError::Io { path: name.clone(), message: e.to_string() })?;
        let text = String::from_utf8(bytes)
            .map_err(|_| BaselineError::Io { path: name.clone(), message: "not valid UTF-8".into() })?;
        Baseline::parse(&name, &text)
    }

    /// Writes the file.
    pub fn write(&self, path: &Path) -> Result<(), BaselineError> {
        let io_err = |e: io::Error| BaselineError::Io {
            path: path.display().to_string(),
            message: e.kind().to_string(),
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(io_err)?;
        }
        std::fs::write(path, self.to_json()).map_err(io_err)
    }

    /// Removes the findings this baseline accepts from `report` (counting them as suppressed), and
    /// adds a note for each stale entry within `scope`.
    pub fn apply(&self, report: &mut ScanReport, scope: &Scope) -> Applied {
        let fingerprints: BTreeSet<&str> = self.findings.iter().map(|e| e.fingerprint.as_str()).collect();
        let seen_files: BTreeSet<String> = report.findings.iter().map(|f| f.path.clone()).collect();
        let matched: BTreeSet<String> = report
            .findings
            .iter()
            .filter(|f| fingerprints.contains(f.fingerprint.as_str()))
            .map(|f| f.fingerprint.clone())
            .collect();
        let before = report.findings.len();
        report.findings.retain(|f| !fingerprints.contains(f.fingerprint.as_str()));
        let suppressed = before - report.findings.len();
        report.stats.suppressed += suppressed as u64;

        let skipped: BTreeSet<&str> = report.skipped.iter().map(|s| s.path.as_str()).collect();
        let covered = |path: &str| -> bool {
            if skipped.contains(path) {
                return false;
            }
            match scope {
                Scope::Everything => true,
                Scope::Under(roots) => roots.iter().any(|r| {
                    let r = r.trim_end_matches('/');
                    r == "."
                        || r.is_empty()
                        || path == r
                        || path.strip_prefix(r).is_some_and(|rest| rest.starts_with('/'))
                }),
                Scope::FilesWithFindings => seen_files.contains(path),
            }
        };
        let stale: Vec<Entry> = self
            .findings
            .iter()
            .filter(|e| !matched.contains(&e.fingerprint) && covered(&e.path))
            .cloned()
            .collect();
        for e in stale.iter().take(MAX_STALE_LISTED) {
            report.notes.push(format!(
                "baseline entry matches nothing any more: {} in {} (fingerprint {}); run `sopsguard baseline` to refresh the baseline",
                e.rule,
                e.path,
                e.fingerprint.get(..12).unwrap_or(&e.fingerprint)
            ));
        }
        if stale.len() > MAX_STALE_LISTED {
            report.notes.push(format!(
                "baseline: {} more entries match nothing any more; run `sopsguard baseline` to refresh the baseline",
                stale.len() - MAX_STALE_LISTED
            ));
        }
        Applied { suppressed, stale }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_errors_point_into_the_file() {
        let text = "{\n  \"version\": 1,\n  \"findings\": [ {\"path\": \"a\", \"rule\": \"r\"} ]\n}\n";
        let Err(BaselineError::Invalid { message, span, .. }) = Baseline::parse("b.json", text) else {
            panic!("accepted a baseline without a fingerprint")
        };
        assert!(message.contains("fingerprint"), "{message}");
        assert_eq!(text[..span.start].lines().count(), 3);
        let Err(BaselineError::Invalid { message, .. }) =
            Baseline::parse("b.json", "{\"version\": 2, \"findings\": []}")
        else {
            panic!("accepted version 2")
        };
        assert!(message.contains("unsupported version 2"));
    }

    #[test]
    fn round_trip_is_sorted() {
        let b = Baseline {
            version: 1,
            findings: vec![
                Entry { path: "b".into(), rule: "r".into(), fingerprint: "2".into() },
                Entry { path: "a".into(), rule: "r".into(), fingerprint: "1".into() },
            ],
        };
        let parsed = Baseline::parse("x", &b.to_json()).unwrap();
        assert_eq!(parsed.findings[0].path, "a");
    }
}
