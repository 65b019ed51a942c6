//! `sopsguard pre-commit`: what a hook run should scan.
//!
//! pre-commit runs the hooks of `.pre-commit-hooks.yaml` with `pass_filenames: false`, so the hook
//! has to find out for itself what it is being asked to check (gitleaks PR#1918 shows the trap of not
//! doing so: `pre-commit run --all-files` then passes without scanning anything):
//!
//! 1. `PRE_COMMIT_FROM_REF` and `PRE_COMMIT_TO_REF` set (the pre-push stage, or `pre-commit run
//!    --from-ref A --to-ref B`): the commits in `FROM..TO`.
//! 2. `PRE_COMMIT_LOCAL_BRANCH` set without a range (pre-push of a branch whose whole history is
//!    new to the remote, which pre-commit runs as "all files"): everything reachable from the branch.
//! 3. pre-commit itself was started as `pre-commit run --all-files` (`-a`) or `--files F…` (read from
//!    the parent process's arguments): the working tree, or those files in it. pre-commit does not
//!    stash unstaged changes in these modes, so an unstaged edit of a tracked file is scanned.
//! 4. Otherwise (a `git commit`, `pre-commit run` without file arguments, or not under pre-commit
//!    at all, `PRE_COMMIT` unset): the staged index, exactly what will be committed. If the parent's arguments cannot be read, unstaged changes in
//!    the working tree mean pre-commit did not stash them, so it was `--all-files`/`--files`: the
//!    working tree is scanned.

use std::path::PathBuf;

/// What a hook run scans.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HookScan {
    /// The staged index.
    Staged,
    /// The commits in `from..to`.
    Range {
        /// Excluded end (the remote's commit).
        from: String,
        /// Included end (the commit being pushed).
        to: String,
    },
    /// Everything reachable from a ref (a push of a branch new to the remote).
    Reachable(String),
    /// The whole working tree.
    AllFiles,
    /// These files in the working tree.
    Files(Vec<PathBuf>),
}

/// What pre-commit was asked to do, read from its command line.
#[derive(Clone, Debug, PartialEq, Eq)]
enum ParentMode {
    AllFiles,
    Files(Vec<PathBuf>),
    Other,
}

/// Reads `run --all-files` / `run --files …` out of pre-commit's arguments.
fn parse_parent(args: &[String]) -> ParentMode {
    let Some(run) = args.iter().position(|a| a == "run" || a == "try-repo") else {
        return ParentMode::Other;
    };
    let mut files = None::<Vec<PathBuf>>;
    let mut all = false;
    let mut i = run + 1;
    while i < args.len() {
        let a = &args[i];
        if a == "--all-files" {
            all = true;
        } else if a == "--files" {
            let mut list = files.take().unwrap_or_default();
            while i + 1 < args.len() && !args[i + 1].starts_with('-') {
                i += 1;
                list.push(PathBuf::from(&args[i]));
            }
            files = Some(list);
        } else if let Some(f) = a.strip_prefix("--files=") {
            files.get_or_insert_with(Vec::new).push(PathBuf::from(f));
        } else if a.starts_with('-')
            && !a.starts_with("--")
            && a.len() > 1
            && a[1..].chars().all(|c| c == 'a' || c == 'v')
            && a.contains('a')
        {
            all = true;
        }
        i += 1;
    }
    match (all, files) {
        (true, _) => ParentMode::AllFiles,
        (false, Some(f)) => ParentMode::Files(f),
        (false, None) => ParentMode::Other,
    }
}

/// The command line of the parent process (pre-commit, when run as a hook), if it can be read.
pub fn parent_args() -> Option<Vec<String>> {
    #[cfg(unix)]
    {
        let ppid = std::os::unix::process::parent_id();
        if let Ok(raw) = std::fs::read(format!("/proc/{ppid}/cmdline")) {
            let args: Vec<String> = raw
                .split(|&b| b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            if !args.is_empty() {
                return Some(args);
            }
        }
        // No /proc (macOS, BSD): ask ps. Arguments with spaces are split, which only matters for
        // `--files` with such names.
        let out =
            std::process::Command::new("ps").args(["-o", "args=", "-p", &ppid.to_string()]).output().ok()?;
        if !out.status.success() {
            return None;
        }
        let line = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if line.is_empty() {
            return None;
        }
        Some(line.split_whitespace().map(str::to_owned).collect())
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Whether tracked files in the working tree differ from the index (`git diff --quiet` fails).
pub fn has_unstaged_changes() -> bool {
    std::process::Command::new("git")
        .args(["diff", "--quiet", "--ignore-submodules", "--"])
        .status()
        .map(|s| s.code() == Some(1))
        .unwrap_or(false)
}

/// Decides what to scan from pre-commit's environment (`env`), its arguments (`parent`, `None` if
/// unreadable) and, only when those are unreadable, whether there are unstaged changes.
pub fn resolve(
    env: impl Fn(&str) -> Option<String>,
    parent: Option<&[String]>,
    unstaged: impl FnOnce() -> bool,
) -> HookScan {
    let var = |k: &str| env(k).filter(|v| !v.is_empty());
    if let (Some(from), Some(to)) = (var("PRE_COMMIT_FROM_REF"), var("PRE_COMMIT_TO_REF")) {
        return HookScan::Range { from, to };
    }
    if let Some(branch) = var("PRE_COMMIT_LOCAL_BRANCH") {
        return HookScan::Reachable(branch);
    }
    // Outside pre-commit (a plain git hook, a script) there are no pre-commit arguments to read.
    if var("PRE_COMMIT").is_none() {
        return HookScan::Staged;
    }
    match parent.map(parse_parent) {
        Some(ParentMode::AllFiles) => HookScan::AllFiles,
        Some(ParentMode::Files(f)) => HookScan::Files(f),
        Some(ParentMode::Other) => HookScan::Staged,
        None if unstaged() => HookScan::AllFiles,
        None => HookScan::Staged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned())
    }

    #[test]
    fn modes() {
        let pc = [("PRE_COMMIT", "1")];
        let r = |e: &[(&str, &str)], a: &str| resolve(env(e), Some(&args(a)), || panic!("not asked"));
        assert_eq!(r(&pc, "/venv/bin/python /venv/bin/pre-commit run --all-files"), HookScan::AllFiles);
        assert_eq!(r(&pc, "python -m pre_commit run -a sopsguard"), HookScan::AllFiles);
        assert_eq!(r(&pc, "pre-commit run -va"), HookScan::AllFiles);
        assert_eq!(
            r(&pc, "pre-commit run sopsguard --files a.yaml b/c.yaml --verbose"),
            HookScan::Files(vec!["a.yaml".into(), "b/c.yaml".into()])
        );
        assert_eq!(r(&pc, "pre-commit run"), HookScan::Staged);
        assert_eq!(
            r(&pc, "python -mpre_commit hook-impl --config=.pre-commit-config.yaml --hook-type=pre-commit"),
            HookScan::Staged
        );
        let push = [("PRE_COMMIT", "1"), ("PRE_COMMIT_FROM_REF", "abc"), ("PRE_COMMIT_TO_REF", "def")];
        assert_eq!(
            r(&push, "pre-commit hook-impl --hook-type=pre-push"),
            HookScan::Range { from: "abc".into(), to: "def".into() }
        );
        let new_branch = [("PRE_COMMIT", "1"), ("PRE_COMMIT_LOCAL_BRANCH", "refs/heads/main")];
        assert_eq!(r(&new_branch, "pre-commit hook-impl"), HookScan::Reachable("refs/heads/main".into()));
    }

    #[test]
    fn unreadable_parent_falls_back_to_unstaged_changes() {
        let pc = [("PRE_COMMIT", "1")];
        assert_eq!(resolve(env(&pc), None, || true), HookScan::AllFiles);
        assert_eq!(resolve(env(&pc), None, || false), HookScan::Staged);
        assert_eq!(resolve(env(&[]), None, || panic!("not asked outside pre-commit")), HookScan::Staged);
        let outside = args("make run --all-files");
        assert_eq!(resolve(env(&[]), Some(&outside), || panic!("not asked")), HookScan::Staged);
    }
}
