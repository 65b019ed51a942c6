//! Reports: one [`Emitter`] per output format, each given the sorted report and the registry.
//!
//! Emitters only format what they are given: findings hold no secret bytes by construction
//! (see [`crate::finding`]).

pub mod human;
pub mod json;
pub mod sarif;

use std::io::{self, Write};

use crate::rules::Registry;
use crate::scan::ScanReport;

/// Writes a whole report in one format.
pub trait Emitter {
    /// Writes `report` (already sorted) to `out`.
    fn emit(&self, out: &mut dyn Write, report: &ScanReport, registry: &Registry) -> io::Result<()>;
}

/// Counts for the summary, derived from a report.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// Files (blobs) scanned.
    pub files: u64,
    /// Bytes scanned.
    pub bytes: u64,
    /// All findings.
    pub findings: usize,
    /// Findings of severity error.
    pub errors: usize,
    /// Findings of severity warning.
    pub warnings: usize,
    /// Findings of severity note.
    pub notes: usize,
    /// Suppressed findings (inline comments and baseline).
    pub suppressed: u64,
    /// Files not scanned.
    pub skipped: usize,
    /// Problems (the tool could not do part of its job).
    pub problems: usize,
    /// SOPS files whose MAC was recomputed.
    pub macs_verified: u64,
    /// SOPS files whose MAC could not be checked (no identity).
    pub macs_unverified: u64,
}

impl Summary {
    /// Counts a report.
    pub fn of(report: &ScanReport) -> Summary {
        use crate::finding::Severity;
        let count = |s: Severity| report.findings.iter().filter(|f| f.severity == s).count();
        Summary {
            files: report.stats.files,
            bytes: report.stats.bytes,
            findings: report.findings.len(),
            errors: count(Severity::Error),
            warnings: count(Severity::Warning),
            notes: count(Severity::Note),
            suppressed: report.stats.suppressed,
            skipped: report.skipped.len(),
            problems: report.problems.len(),
            macs_verified: report.stats.macs_verified,
            macs_unverified: report.stats.macs_unverified,
        }
    }

    /// The one-line summary for people (without the elapsed time, which the binary adds).
    pub fn line(&self) -> String {
        let plural = |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let mut s = format!(
            "scanned {} ({}): {}, {}, {}",
            plural(self.files as usize, "file", "files"),
            human_bytes(self.bytes),
            plural(self.errors, "error", "errors"),
            plural(self.warnings, "warning", "warnings"),
            plural(self.notes, "note", "notes"),
        );
        s.push_str(&format!("; {} suppressed; {} skipped", self.suppressed, self.skipped));
        if self.problems > 0 {
            s.push_str(&format!("; {}", plural(self.problems, "problem", "problems")));
        }
        if self.macs_verified + self.macs_unverified > 0 {
            s.push_str(&format!(
                "; MACs: {} verified, {} not verified",
                self.macs_verified, self.macs_unverified
            ));
        }
        s
    }
}

/// `1.5 MiB`-style sizes.
pub fn human_bytes(n: u64) -> String {
    const UNITS: &[&str] = &["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}
