//! Baselines: applying `--baseline FILE` (or the config's `baseline`) and writing one
//! (`sopsguard baseline`).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use sopsguard::baseline::{Baseline, Scope};
use sopsguard::config::Settings;
use sopsguard::scan::ScanReport;

use super::{scan_paths, GitMode, ScanMode};
use crate::cli::ScanArgs;

/// Which files the scan covered, for stale baseline entries.
fn scope(args: &ScanArgs, mode: &ScanMode) -> Scope {
    match mode {
        ScanMode::Git(GitMode::History { .. }) => return Scope::Everything,
        ScanMode::Git(_) => return Scope::FilesWithFindings,
        ScanMode::Files => {}
    }
    let paths = scan_paths(args);
    Scope::Under(
        paths
            .iter()
            .map(|p| sopsguard::source::normalize_rel(p))
            .map(|p| if p.is_empty() { ".".into() } else { p })
            .collect(),
    )
}

/// Applies `--baseline FILE` (or the config's `baseline`): suppresses the recorded findings and
/// notes stale entries.
pub fn apply_baseline(
    args: &ScanArgs,
    mode: &ScanMode,
    settings: &Settings,
    report: &mut ScanReport,
) -> miette::Result<()> {
    let (path, confine) = match (&args.baseline, &settings.baseline) {
        (Some(p), _) => (p.clone(), None),
        (None, Some(p)) => (p.clone(), Some(sopsguard::fsread::repository_of(&settings.dir))),
        (None, None) => return Ok(()),
    };
    let baseline = Baseline::load(&path, confine.as_deref())?;
    baseline.apply(report, &scope(args, mode));
    report.notes.sort();
    Ok(())
}

/// `sopsguard baseline`: writes the fingerprints of the report's findings.
pub fn write_baseline(args: &ScanArgs, settings: &Settings, report: &ScanReport) -> miette::Result<ExitCode> {
    let path = args
        .output
        .clone()
        .or_else(|| settings.baseline.clone())
        .unwrap_or_else(|| PathBuf::from(sopsguard::baseline::DEFAULT_FILE));
    let baseline = Baseline::from_report(report);
    baseline.write(&path)?;
    let mut err = std::io::stderr().lock();
    let n = baseline.findings.len();
    let _ = writeln!(
        err,
        "sopsguard: recorded {n} finding{} in {}; scan with `--baseline {}` to report only new ones",
        if n == 1 { "" } else { "s" },
        path.display(),
        path.display()
    );
    for p in &report.problems {
        let _ = writeln!(err, "sopsguard: {}: {} (the baseline may be incomplete)", p.path, p.message);
    }
    Ok(if report.problems.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(2) })
}
