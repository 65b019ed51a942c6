//! What a scan reads: its paths, its mode (files or one of the git modes) and, for git modes,
//! the repository root reported paths are relative to.

use std::path::{Path, PathBuf};

use crate::cli::ScanArgs;

/// The paths a working-tree scan covers (default: the current directory).
pub fn scan_paths(args: &ScanArgs) -> Vec<PathBuf> {
    if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    }
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

#[cfg(test)]
mod tests {
    use super::{GitMode, ScanMode};

    #[test]
    fn scan_mode_of_flags() {
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
