//! SARIF: the emitter for `--format sarif` and the extra report of `--sarif FILE`.

use sopsguard::report::sarif::{Sarif, ScanKind};
use sopsguard::report::Emitter;
use sopsguard::scan::{Engine, ScanReport};

use super::{GitMode, ScanMode};
use crate::cli::ScanArgs;

/// What the scan kind is, for SARIF run categories.
pub fn scan_kind(mode: &ScanMode) -> ScanKind {
    match mode {
        ScanMode::Git(GitMode::History { .. }) => ScanKind::History,
        ScanMode::Git(GitMode::Range(_)) => ScanKind::Range,
        ScanMode::Git(GitMode::Staged) | ScanMode::Files => ScanKind::Files,
    }
}

/// The SARIF emitter for this scan.
pub fn sarif(mode: &ScanMode) -> Sarif {
    Sarif { scan: scan_kind(mode), working_directory: std::env::current_dir().ok(), ..Sarif::default() }
}

/// Writes the `--sarif FILE` report, if asked for.
pub fn write_extra_sarif(
    args: &ScanArgs,
    mode: &ScanMode,
    engine: &Engine,
    report: &ScanReport,
) -> miette::Result<()> {
    let Some(path) = &args.sarif else { return Ok(()) };
    let mut buf = Vec::new();
    sarif(mode).emit(&mut buf, report, &engine.registry).map_err(|e| miette::miette!("{e}"))?;
    std::fs::write(path, &buf).map_err(|e| miette::miette!("cannot write {}: {}", path.display(), e.kind()))
}
