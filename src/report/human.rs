//! Human output: each finding as a miette diagnostic with its (redacted) source line, a label at
//! the exact span and help from the rule's docs; then skipped files, problems and notes.
//!
//! The source shown is the finding's [`Context`](crate::finding::Context): the original line with
//! every secret on it already replaced by its redaction, presented to miette at its real line
//! number through a small [`SourceCode`] implementation.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Write};

use miette::{
    Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteError, MietteSpanContents,
    Severity as MSeverity, SourceCode, SourceSpan, SpanContents,
};

use super::Emitter;
use crate::finding::{Finding, Severity};
use crate::rules::id;
use crate::rules::Registry;
use crate::scan::ScanReport;

/// The human emitter.
pub struct Human {
    /// Use colours.
    pub color: bool,
    /// Wrap width.
    pub width: usize,
    /// Only findings (no skipped list, no notes).
    pub quiet: bool,
}

struct LineSource {
    name: String,
    text: String,
    line0: usize,
    column0: usize,
}

impl SourceCode for LineSource {
    fn read_span<'a>(
        &'a self,
        _span: &SourceSpan,
        _before: usize,
        _after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            self.text.as_bytes(),
            (0, self.text.len()).into(),
            self.line0,
            self.column0,
            1,
        )))
    }
}

struct FindingDiag<'a> {
    finding: &'a Finding,
    help: String,
    source: Option<LineSource>,
    message: String,
}

impl fmt::Debug for FindingDiag<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Display for FindingDiag<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FindingDiag<'_> {}

impl Diagnostic for FindingDiag<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(&self.finding.rule))
    }

    fn severity(&self) -> Option<MSeverity> {
        Some(match self.finding.severity {
            Severity::Error => MSeverity::Error,
            Severity::Warning => MSeverity::Warning,
            Severity::Note => MSeverity::Advice,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(&self.help))
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.source.as_ref().map(|s| s as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let ctx = self.finding.context.as_ref()?;
        // A label that only repeats the source text under it (`sops` under `sops`) says nothing.
        let under = ctx.text.get(ctx.label_start..ctx.label_start + ctx.label_len).unwrap_or("");
        let snippet = self.finding.snippet.trim();
        let repeats = snippet == under.trim() || snippet.trim_matches('"') == under.trim().trim_matches('"');
        let label = if snippet.is_empty() || repeats { None } else { Some(esc(&self.finding.snippet)) };
        Some(Box::new(std::iter::once(LabeledSpan::new(label, ctx.label_start, ctx.label_len.max(1)))))
    }
}

/// A tool problem or note, rendered like a diagnostic without source.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("{message}")]
struct Plain {
    message: String,
    #[diagnostic(severity)]
    severity: MSeverity,
    #[help]
    help: Option<String>,
}

/// Text from the repository, escaped for a terminal (see [`crate::textsafe`]).
fn esc(s: &str) -> String {
    crate::textsafe::escape(s).into_owned()
}

const RECIPIENTS_RULE: &str = id::SOPS_RECIPIENTS;

/// A recipient finding's file and blob, which its diagnostic is grouped by.
fn recipients_of(f: &Finding) -> Option<(&str, Option<&str>)> {
    (f.rule == RECIPIENTS_RULE)
        .then(|| (f.path.as_str(), f.provenance.as_ref().and_then(|p| p.blob.as_deref())))
}

/// Advice for the recipient changes of one file: `sops updatekeys`, and rotation only when a
/// recipient the rule no longer lists can still decrypt the file.
fn recipients_help(group: &[&Finding]) -> String {
    let extra =
        group.iter().any(|f| f.properties.get("change").and_then(serde_json::Value::as_str) == Some("extra"));
    if extra {
        "Run `sops updatekeys FILE`, then rotate the data key (`sops --rotate --in-place FILE`) and the secret values: a removed recipient could read them.".to_owned()
    } else {
        "Run `sops updatekeys FILE`: it re-encrypts the data key to the recipients the creation rule lists."
            .to_owned()
    }
}

fn first_paragraph(s: &str) -> String {
    s.split("\n\n").next().unwrap_or("").split_whitespace().collect::<Vec<_>>().join(" ")
}

fn provenance_text(f: &Finding) -> Option<String> {
    let p = f.provenance.as_ref()?;
    let mut parts = Vec::new();
    match (&p.commit, p.source.as_str()) {
        (Some(c), _) => {
            let short = c.get(..12).unwrap_or(c);
            let mut s = format!("introduced in commit {}", esc(short));
            if let Some(a) = &p.author {
                s.push_str(&format!(" by {}", esc(a)));
            }
            if let Some(d) = &p.date {
                s.push_str(&format!(" on {}", esc(d)));
            }
            parts.push(s);
        }
        (None, "index") => parts.push("staged in the index".to_owned()),
        _ => {}
    }
    if let Some(v) = f.properties.get("versions").and_then(serde_json::Value::as_u64).filter(|&v| v > 1) {
        parts.push(format!("in {v} versions of the file"));
    }
    if let Some(n) = p.commits {
        parts.push(format!("present in {n} commit{}", if n == 1 { "" } else { "s" }));
    }
    if !p.refs.is_empty() {
        parts.push(format!("still reachable from {}", esc(&p.refs.join(", "))));
    }
    if let Some(h) = p.at_head {
        parts.push(if h { "still at HEAD".to_owned() } else { "not at HEAD".to_owned() });
    }
    if parts.is_empty() {
        None
    } else {
        Some(parts.join("; "))
    }
}

impl Human {
    fn handler(&self) -> GraphicalReportHandler {
        let theme = if self.color { GraphicalTheme::unicode() } else { GraphicalTheme::unicode_nocolor() };
        GraphicalReportHandler::new_themed(theme).with_width(self.width).with_context_lines(0)
    }

    fn render(
        &self,
        handler: &GraphicalReportHandler,
        out: &mut dyn Write,
        diag: &dyn Diagnostic,
    ) -> io::Result<()> {
        let mut s = String::new();
        handler.render_report(&mut s, diag).map_err(io::Error::other)?;
        out.write_all(s.as_bytes())?;
        out.write_all(b"\n")
    }
}

impl Emitter for Human {
    fn emit(&self, out: &mut dyn Write, report: &ScanReport, registry: &Registry) -> io::Result<()> {
        let handler = self.handler();
        // The recipient changes of one file (one blob) are one diagnostic.
        let mut grouped: BTreeMap<(&str, Option<&str>), Vec<&Finding>> = BTreeMap::new();
        for f in &report.findings {
            if let Some(k) = recipients_of(f) {
                grouped.entry(k).or_default().push(f);
            }
        }
        for f in &report.findings {
            let rule = registry.get(&f.rule);
            let group = recipients_of(f).and_then(|k| grouped.get(&k));
            if let Some(g) = group {
                if !std::ptr::eq(g[0], f) {
                    continue;
                }
            }
            let mut help = match group {
                Some(g) => recipients_help(g),
                None => rule.map(|r| first_paragraph(&r.docs.fix)).unwrap_or_default(),
            };
            if !help.is_empty() {
                help.push(' ');
            }
            help.push_str(&format!("(`sopsguard explain {}`)", f.rule));
            if let Some(p) = provenance_text(f) {
                help = format!("{p}\n{help}");
            }
            let path = esc(&f.path);
            let name = format!("{path}:{}:{}", f.location.line, f.location.column);
            let source = f.context.as_ref().map(|c| LineSource {
                name: path.clone(),
                text: c.text.clone(),
                line0: f.location.line.saturating_sub(1),
                column0: f.location.column.saturating_sub(1),
            });
            let text = match group {
                Some(g) if g.len() > 1 => {
                    let each: Vec<&str> = g.iter().map(|x| x.message.as_str()).collect();
                    format!("{} recipient changes for this file: {}", g.len(), each.join("; "))
                }
                _ => f.message.clone(),
            };
            let message = if source.is_some() { esc(&text) } else { format!("{} ({name})", esc(&text)) };
            let diag = FindingDiag { finding: f, help, source, message };
            self.render(&handler, out, &diag)?;
        }
        for p in &report.problems {
            let diag = Plain {
                message: format!("{}: {}", esc(&p.path), esc(&p.message)),
                severity: MSeverity::Error,
                help: Some(
                    "sopsguard could not check this completely; the exit code is 2 unless findings make it 1"
                        .into(),
                ),
            };
            self.render(&handler, out, &diag)?;
        }
        if !self.quiet {
            for s in &report.skipped {
                let size = s.size.map(|n| format!(", {}", super::human_bytes(n))).unwrap_or_default();
                writeln!(out, "skipped {}: {}{}", esc(&s.path), esc(&s.reason), size)?;
            }
            for n in &report.notes {
                writeln!(out, "note: {}", esc(n))?;
            }
        }
        Ok(())
    }
}
