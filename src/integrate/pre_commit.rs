//! `sopsguard pre-commit`: the hook context (pre-commit's environment, the parent git command)
//! turned into the scan to run.

use std::path::PathBuf;

use sopsguard::hook::{self, HookScan};

use super::{GitMode, ScanMode};
use crate::cli::ScanArgs;

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
