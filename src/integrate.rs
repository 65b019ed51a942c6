//! Glue between the command line and the integrations: configuration, baseline, SARIF and the
//! pre-commit hook. Kept out of `main.rs` so each piece is one call there.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use sopsguard::baseline::{Baseline, Scope};
use sopsguard::config::Settings;
use sopsguard::hook::{self, HookScan};
use sopsguard::report::sarif::{Sarif, ScanKind};
use sopsguard::report::Emitter;
use sopsguard::scan::{Engine, ScanReport};

use crate::cli::ScanArgs;

/// The paths a working-tree scan covers (default: the current directory).
pub fn scan_paths(args: &ScanArgs) -> Vec<PathBuf> {
    if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    }
}

/// The configuration for this scan: `--config`, else the nearest `.sopsguard.toml` from the scan
/// root (the first path), unless `--isolated`.
pub fn settings(args: &ScanArgs) -> miette::Result<Settings> {
    let paths = scan_paths(args);
    let start = paths.first().map_or(Path::new("."), PathBuf::as_path);
    Ok(Settings::load(args.config.as_deref(), args.isolated, start)?)
}

/// Whether the scan reads git (`--staged`, `--range`, `--since`, `--history`) rather than files.
pub fn is_git_mode(args: &ScanArgs) -> bool {
    args.staged || args.range.is_some() || args.since.is_some() || args.history
}

/// The root of the repository containing `start` (git sources report paths relative to it), or
/// `start` itself outside a repository.
pub fn repository_root(start: &Path) -> PathBuf {
    let abs = std::fs::canonicalize(start).unwrap_or_else(|_| start.to_path_buf());
    abs.ancestors().find(|d| d.join(".git").exists()).map_or(abs.clone(), Path::to_path_buf)
}

/// What the scan kind is, for SARIF run categories.
pub fn scan_kind(args: &ScanArgs) -> ScanKind {
    if args.history {
        ScanKind::History
    } else if args.range.is_some() || args.since.is_some() {
        ScanKind::Range
    } else {
        ScanKind::Files
    }
}

/// The SARIF emitter for this scan.
pub fn sarif(args: &ScanArgs, engine: &Engine) -> Sarif {
    Sarif {
        scan: scan_kind(args),
        working_directory: std::env::current_dir().ok(),
        disabled: engine.disabled.clone(),
        ..Sarif::default()
    }
}

/// Writes the `--sarif FILE` report, if asked for.
pub fn write_extra_sarif(args: &ScanArgs, engine: &Engine, report: &ScanReport) -> miette::Result<()> {
    let Some(path) = &args.sarif else { return Ok(()) };
    let mut buf = Vec::new();
    sarif(args, engine).emit(&mut buf, report, &engine.registry).map_err(|e| miette::miette!("{e}"))?;
    std::fs::write(path, &buf).map_err(|e| miette::miette!("cannot write {}: {}", path.display(), e.kind()))
}

/// Which files the scan covered, for stale baseline entries.
fn scope(args: &ScanArgs) -> Scope {
    if args.history {
        return Scope::Everything;
    }
    if is_git_mode(args) {
        return Scope::FilesWithFindings;
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
pub fn apply_baseline(args: &ScanArgs, settings: &Settings, report: &mut ScanReport) -> miette::Result<()> {
    let (path, confine) = match (&args.baseline, &settings.baseline) {
        (Some(p), _) => (p.clone(), None),
        (None, Some(p)) => (p.clone(), Some(sopsguard::fsread::repository_of(&settings.dir))),
        (None, None) => return Ok(()),
    };
    let baseline = Baseline::load(&path, confine.as_deref())?;
    baseline.apply(report, &scope(args));
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

/// `sopsguard pre-commit`: turns the hook context into the scan to run (`None`: nothing to scan).
pub fn pre_commit(mut args: ScanArgs) -> miette::Result<Option<ScanArgs>> {
    let parent = hook::parent_args();
    let mode = hook::resolve(|k| std::env::var(k).ok(), parent.as_deref(), hook::has_unstaged_changes);
    if is_git_mode(&args) || !args.paths.is_empty() {
        return Err(miette::miette!(
            "`sopsguard pre-commit` chooses what to scan itself; use `sopsguard scan` for paths, --staged, --range or --history"
        ));
    }
    match mode {
        HookScan::Staged => args.staged = true,
        HookScan::Range { from, to } => args.range = Some(format!("{from}..{to}")),
        // A branch whose whole history is new to the remote: everything it (and the rest of the
        // repository) reaches.
        HookScan::Reachable(_) => args.history = true,
        HookScan::AllFiles => args.paths = vec![PathBuf::from(".")],
        HookScan::Files(files) => {
            // pre-commit drops names that do not exist (deleted files); so do we.
            args.paths = files.into_iter().filter(|f| f.symlink_metadata().is_ok()).collect();
            if args.paths.is_empty() {
                return Ok(None);
            }
        }
    }
    Ok(Some(args))
}

#[cfg(test)]
mod tests {
    /// `incident --max-file-size` spells its default for `--help`; it must be the library's.
    #[test]
    fn incident_default_max_file_size() {
        use clap::CommandFactory;
        let cli = crate::cli::Cli::command();
        let incident = cli.find_subcommand("incident").expect("incident subcommand");
        let arg = incident.get_arguments().find(|a| a.get_id() == "max_file_size").expect("--max-file-size");
        let default: Vec<_> =
            arg.get_default_values().iter().map(|v| v.to_string_lossy().into_owned()).collect();
        assert_eq!(default.len(), 1);
        assert_eq!(crate::cli::parse_size(&default[0]), Ok(sopsguard::config::DEFAULT_MAX_FILE_SIZE));
    }
}
