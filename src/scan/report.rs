//! What a scan returns: one blob's [`FileResult`], the whole [`ScanReport`] and its [`Stats`],
//! with the one deterministic order and the folding of a secret's versions.

use std::collections::HashMap;

use crate::finding::Finding;
use crate::sops::MacStatus;
use crate::source::{Problem, Skipped};

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
