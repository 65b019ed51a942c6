//! `sopsguard pre-commit`: the scan chosen from pre-commit's environment (the parent process of a
//! test is the test harness, which reads as a plain `git commit`: the staged index).

use crate::sarif::age_identity;
use crate::util::Dir;

fn repo() -> Dir {
    let d = Dir::new();
    d.git(&["init", "-q", "-b", "main"]);
    d.write("README.md", "# app\n");
    d.git(&["add", "-A"]);
    d.git(&["commit", "-qm", "c1"]);
    d
}

fn pre_commit(d: &Dir, env: &[(&str, &str)]) -> (i32, String) {
    let mut c = crate::sarif::sopsguard(d.path());
    c.args(["pre-commit", "--isolated", "--format", "json"]);
    for k in ["PRE_COMMIT_FROM_REF", "PRE_COMMIT_TO_REF", "PRE_COMMIT_LOCAL_BRANCH"] {
        c.env_remove(k);
    }
    c.envs(env.iter().copied());
    let out = c.output().expect("run sopsguard");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn commit_scans_the_index_and_push_scans_the_range() {
    let d = repo();
    // Staged: the index, not the working tree.
    d.write("keys.txt", age_identity("hook-staged"));
    assert_eq!(pre_commit(&d, &[("PRE_COMMIT", "1")]).0, 0, "untracked, not staged: nothing to scan");
    d.git(&["add", "keys.txt"]);
    let (code, out) = pre_commit(&d, &[("PRE_COMMIT", "1")]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("\"source\": \"index\""), "{out}");
    d.git(&["rm", "-q", "--cached", "-f", "keys.txt"]);

    // Pre-push: FROM..TO.
    let base = d.git(&["rev-parse", "HEAD"]).trim().to_owned();
    d.write("secret.yaml", "apiVersion: v1\nkind: Secret\ndata:\n  password: aHVudGVyMjI=\n");
    d.git(&["add", "secret.yaml"]);
    d.git(&["commit", "-qm", "c2"]);
    let head = d.git(&["rev-parse", "HEAD"]).trim().to_owned();
    let (code, out) =
        pre_commit(&d, &[("PRE_COMMIT", "1"), ("PRE_COMMIT_FROM_REF", &base), ("PRE_COMMIT_TO_REF", &head)]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("\"commit\": \"{head}\"")), "{out}");
    let (code, out) =
        pre_commit(&d, &[("PRE_COMMIT", "1"), ("PRE_COMMIT_FROM_REF", &head), ("PRE_COMMIT_TO_REF", &head)]);
    assert_eq!(code, 0, "an empty range: {out}");
}

#[test]
fn the_hook_chooses_the_scan_itself() {
    let d = repo();
    let (code, out) = pre_commit(&d, &[]);
    assert_eq!(code, 0, "{out}");
    let mut c = crate::sarif::sopsguard(d.path());
    let out = c.args(["pre-commit", "--history"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("chooses what to scan itself"));
}
