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

/// What a scan reads. Derived once from the git flags of [`ScanArgs`] ([`ScanMode::of`], or
/// [`pre_commit`] from the hook context) and passed on; nothing else looks at those flags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScanMode {
    /// The given files and directories (no git flag).
    Files,
    /// One of the git modes.
    Git(GitMode),
}

/// The git modes (clap lets at most one of their flags through).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GitMode {
    /// `--staged`: the blobs of the index.
    Staged,
    /// `--range BASE..HEAD`, or `--since REV` (the same as `REV..HEAD`): the spec as given.
    Range(String),
    /// `--history`; `all_objects` with `--all-objects`.
    History {
        /// Also the objects no ref reaches.
        all_objects: bool,
    },
}

impl ScanMode {
    /// The mode the command line asks for.
    pub fn of(args: &ScanArgs) -> ScanMode {
        if args.staged {
            ScanMode::Git(GitMode::Staged)
        } else if let Some(spec) = args.range.as_ref().or(args.since.as_ref()) {
            ScanMode::Git(GitMode::Range(spec.clone()))
        } else if args.history {
            ScanMode::Git(GitMode::History { all_objects: args.all_objects })
        } else {
            ScanMode::Files
        }
    }
}

/// The root of the repository containing `start` (git sources report paths relative to it), or
/// `start` itself outside a repository.
pub fn repository_root(start: &Path) -> PathBuf {
    let abs = std::fs::canonicalize(start).unwrap_or_else(|_| start.to_path_buf());
    abs.ancestors().find(|d| d.join(".git").exists()).map_or(abs.clone(), Path::to_path_buf)
}

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

/// `sopsguard pre-commit`: turns the hook context into the scan to run (`None`: nothing to scan).
pub fn pre_commit(mut args: ScanArgs) -> miette::Result<Option<(ScanArgs, ScanMode)>> {
    let parent = hook::parent_args();
    let hook_scan = hook::resolve(|k| std::env::var(k).ok(), parent.as_deref(), hook::has_unstaged_changes);
    if ScanMode::of(&args) != ScanMode::Files || !args.paths.is_empty() {
        return Err(miette::miette!(
            "`sopsguard pre-commit` chooses what to scan itself; use `sopsguard scan` for paths, --staged, --range or --history"
        ));
    }
    let mode = match hook_scan {
        HookScan::Staged => ScanMode::Git(GitMode::Staged),
        HookScan::Range { from, to } => ScanMode::Git(GitMode::Range(format!("{from}..{to}"))),
        // A branch whose whole history is new to the remote: everything it (and the rest of the
        // repository) reaches.
        HookScan::Reachable(_) => ScanMode::Git(GitMode::History { all_objects: false }),
        HookScan::AllFiles => {
            args.paths = vec![PathBuf::from(".")];
            ScanMode::Files
        }
        HookScan::Files(files) => {
            // pre-commit drops names that do not exist (deleted files); so do we.
            args.paths = files.into_iter().filter(|f| f.symlink_metadata().is_ok()).collect();
            if args.paths.is_empty() {
                return Ok(None);
            }
            ScanMode::Files
        }
    };
    Ok(Some((args, mode)))
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

    #[test]
    fn scan_mode_of_flags() {
        use super::{GitMode, ScanMode};
        use clap::Parser;
        let mode = |argv: &[&str]| {
            let cli =
                crate::cli::Cli::try_parse_from([&["sopsguard", "scan"], argv].concat()).expect("parses");
            match cli.command {
                crate::cli::Command::Scan(args) => ScanMode::of(&args),
                _ => unreachable!("a scan"),
            }
        };
        assert_eq!(mode(&[]), ScanMode::Files);
        assert_eq!(mode(&["dir"]), ScanMode::Files);
        assert_eq!(mode(&["--staged"]), ScanMode::Git(GitMode::Staged));
        assert_eq!(mode(&["--range", "a..b"]), ScanMode::Git(GitMode::Range("a..b".into())));
        assert_eq!(mode(&["--since", "v1"]), ScanMode::Git(GitMode::Range("v1".into())));
        assert_eq!(mode(&["--history"]), ScanMode::Git(GitMode::History { all_objects: false }));
        assert_eq!(
            mode(&["--history", "--all-objects"]),
            ScanMode::Git(GitMode::History { all_objects: true })
        );
    }
}
