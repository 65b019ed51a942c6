//! `--format json`: one object `{"version", "findings", "skipped", "problems", "notes", "summary"}`.
//! Field order is fixed and the input is sorted, so the output is byte-identical across runs and
//! thread counts. The schema is documented in the README.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;

use super::{Emitter, Summary};
use crate::finding::Provenance;
use crate::rules::Registry;
use crate::scan::ScanReport;
use crate::source::{Problem, Skipped};

/// The JSON emitter.
pub struct Json;

#[derive(Serialize)]
struct Report<'a> {
    version: &'static str,
    findings: Vec<JsonFinding<'a>>,
    skipped: &'a [Skipped],
    problems: &'a [Problem],
    notes: &'a [String],
    summary: Summary,
}

#[derive(Serialize)]
struct JsonFinding<'a> {
    rule: &'a str,
    severity: &'static str,
    title: &'a str,
    path: &'a str,
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
    byte_start: usize,
    byte_end: usize,
    message: &'a str,
    snippet: &'a str,
    fingerprint: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    provenance: Option<&'a Provenance>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    properties: &'a BTreeMap<String, serde_json::Value>,
}

impl Emitter for Json {
    fn emit(&self, out: &mut dyn Write, report: &ScanReport, registry: &Registry) -> io::Result<()> {
        let findings = report
            .findings
            .iter()
            .map(|f| JsonFinding {
                rule: &f.rule,
                severity: f.severity.as_str(),
                title: registry.get(&f.rule).map_or("", |r| r.title.as_str()),
                path: &f.path,
                line: f.location.line,
                column: f.location.column,
                end_line: f.location.end_line,
                end_column: f.location.end_column,
                byte_start: f.location.byte_start,
                byte_end: f.location.byte_end,
                message: &f.message,
                snippet: &f.snippet,
                fingerprint: &f.fingerprint,
                provenance: f.provenance.as_ref(),
                properties: &f.properties,
            })
            .collect();
        let doc = Report {
            version: env!("CARGO_PKG_VERSION"),
            findings,
            skipped: &report.skipped,
            problems: &report.problems,
            notes: &report.notes,
            summary: Summary::of(report),
        };
        let text = crate::textsafe::to_json_pretty(&doc).map_err(io::Error::other)?;
        out.write_all(text.as_bytes())?;
        out.write_all(b"\n")
    }
}
