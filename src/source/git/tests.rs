//! Tests of the git sources over repositories built with the real `git` in temporary directories.

use std::cell::Cell;
use std::path::Path;
use std::process::Command;

use age::secrecy::ExposeSecret;

use super::*;
use crate::finding::Finding;
use crate::scan::{Engine, ScanOptions, ScanReport};
use crate::sops::Identities;

pub(super) struct Repo {
    dir: tempfile::TempDir,
    clock: Cell<u32>,
}

impl Repo {
    pub(super) fn new() -> Repo {
        let repo = Repo { dir: tempfile::tempdir().expect("temp dir"), clock: Cell::new(0) };
        repo.git(&["init", "-q", "-b", "main"]);
        repo
    }

    pub(super) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs git with a clean, fixed environment; returns trimmed stdout.
    pub(super) fn git(&self, args: &[&str]) -> String {
        self.git_in(self.path(), args)
    }

    pub(super) fn git_in(&self, dir: &Path, args: &[&str]) -> String {
        let out = self.run(dir, args);
        assert!(
            out.status.success(),
            "git {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Runs git and reports whether it succeeded.
    pub(super) fn git_ok(&self, args: &[&str]) -> bool {
        self.run(self.path(), args).status.success()
    }

    fn run(&self, dir: &Path, args: &[&str]) -> std::process::Output {
        let t = self.clock.get() + 1;
        self.clock.set(t);
        let date = format!("2024-01-01T00:{:02}:{:02}Z", t / 60, t % 60);
        Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("HOME", self.path())
            .env("GIT_AUTHOR_NAME", "Alice")
            .env("GIT_AUTHOR_EMAIL", "alice@example.com")
            .env("GIT_COMMITTER_NAME", "Alice")
            .env("GIT_COMMITTER_EMAIL", "alice@example.com")
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date)
            .env_remove("GIT_DIR")
            .env_remove("GIT_INDEX_FILE")
            .env_remove("GIT_WORK_TREE")
            .output()
            .expect("git runs")
    }

    pub(super) fn write(&self, path: &str, content: impl AsRef<[u8]>) {
        let p = self.path().join(path);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(p, content).expect("write");
    }

    pub(super) fn rm(&self, path: &str) {
        std::fs::remove_file(self.path().join(path)).expect("rm");
    }

    /// Stages everything and commits; returns the commit id.
    pub(super) fn commit(&self, msg: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", msg]);
        self.git(&["rev-parse", "HEAD"])
    }
}

pub(super) fn engine() -> Engine {
    Engine::builtin(ScanOptions::default(), Identities::none())
}

pub(super) fn age_key() -> String {
    age::x25519::Identity::generate().to_string().expose_secret().to_owned()
}

pub(super) fn opts(threads: usize) -> GitOptions {
    GitOptions { threads, ..GitOptions::default() }
}

fn with_rule<'a>(report: &'a ScanReport, rule: &str) -> Vec<&'a Finding> {
    report.findings.iter().filter(|f| f.rule == rule).collect()
}

fn prov(f: &Finding) -> &crate::finding::Provenance {
    f.provenance.as_ref().expect("git findings have provenance")
}

/// Everything a report says, for comparing runs.
fn canonical(report: &ScanReport) -> String {
    format!(
        "{}\n{:?}\n{:?}\n{:?}\n{:?}",
        serde_json::to_string_pretty(&report.findings).expect("json"),
        report.skipped,
        report.problems,
        report.notes,
        report.stats
    )
}

#[test]
fn history_finds_a_secret_removed_two_commits_later() {
    let r = Repo::new();
    r.write("README.md", "hello\n");
    r.commit("init");
    r.write("config/secret.txt", format!("key: {}\n", age_key()));
    let introduced = r.commit("add a key");
    r.write("README.md", "hello again\n");
    r.commit("unrelated");
    r.rm("config/secret.txt");
    r.commit("remove the key");

    let report = scan_history(&engine(), r.path(), &opts(0), None).expect("history");
    let found = with_rule(&report, "age/identity");
    assert_eq!(found.len(), 1, "{report:#?}");
    let f = found[0];
    assert_eq!(f.path, "config/secret.txt");
    let p = prov(f);
    assert_eq!(p.source, "commit");
    assert_eq!(p.commit.as_deref(), Some(introduced.as_str()));
    assert_eq!(p.author.as_deref(), Some("Alice <alice@example.com>"));
    let seconds: i64 = r.git(&["log", "-1", "--format=%at", &introduced]).parse().expect("seconds");
    assert_eq!(p.date.as_deref(), Some(super::util::rfc3339(seconds).as_str()));
    assert_eq!(p.commits, Some(2));
    assert_eq!(p.refs, vec!["refs/heads/main".to_owned()]);
    assert_eq!(p.at_head, Some(false));
    assert!(report.problems.is_empty(), "{:?}", report.problems);

    // The working tree no longer has it.
    let wt = crate::source::worktree::scan_paths(
        &engine(),
        &[r.path().to_owned()],
        &crate::source::worktree::WalkOptions { max_file_size: 1 << 20, ..Default::default() },
    )
    .expect("worktree");
    assert!(with_rule(&wt, "age/identity").is_empty());
}

#[test]
fn history_is_the_same_loose_and_packed_and_whatever_the_threads() {
    let r = Repo::new();
    for i in 0..6 {
        r.write(&format!("dir{}/file{i}.txt", i % 2), format!("line {i}\n"));
        if i == 2 {
            r.write("keys/a.txt", format!("{}\n", age_key()));
        }
        r.commit(&format!("c{i}"));
    }
    r.git(&["checkout", "-q", "-b", "side", "HEAD~2"]);
    r.write("side.txt", format!("{}\n", age_key()));
    r.commit("side");
    r.git(&["checkout", "-q", "main"]);
    let loose1 = scan_history(&engine(), r.path(), &opts(1), None).expect("history");
    let loose4 = scan_history(&engine(), r.path(), &opts(4), None).expect("history");
    assert_eq!(canonical(&loose1), canonical(&loose4));
    r.git(&["gc", "-q", "--aggressive"]);
    let packed = scan_history(&engine(), r.path(), &opts(2), None).expect("history");
    assert_eq!(canonical(&loose1), canonical(&packed));
    let found = with_rule(&packed, "age/identity");
    assert_eq!(found.len(), 2, "{:#?}", packed.findings);
    let side = found.iter().find(|f| f.path == "side.txt").expect("side branch secret");
    assert_eq!(prov(side).refs, vec!["refs/heads/side".to_owned()]);
    assert_eq!(prov(side).at_head, Some(false));
    let main = found.iter().find(|f| f.path == "keys/a.txt").expect("main secret");
    assert_eq!(prov(main).refs, vec!["refs/heads/main".to_owned(), "refs/heads/side".to_owned()]);
    assert_eq!(prov(main).at_head, Some(true));
    assert_eq!(prov(main).commits, Some(5));
}

#[test]
fn staged_reads_the_index_not_the_working_tree() {
    let r = Repo::new();
    r.write("app/values.yaml", "replicas: 1\n");
    r.commit("init");
    // Staged, then removed from the working tree without unstaging: still what gets committed.
    let key = age_key();
    r.write("app/values.yaml", format!("replicas: 1\nkey: {key}\n"));
    r.git(&["add", "app/values.yaml"]);
    r.write("app/values.yaml", "replicas: 1\n");
    // Only in the working tree: never committed by `git commit`.
    r.write("notes.txt", format!("{}\n", age_key()));
    r.write("untracked/other.txt", format!("{}\n", age_key()));

    let report = scan_staged(&engine(), r.path(), &opts(0)).expect("staged");
    let found = with_rule(&report, "age/identity");
    assert_eq!(found.len(), 1, "{report:#?}");
    assert_eq!(found[0].path, "app/values.yaml");
    let p = prov(found[0]);
    assert_eq!(p.source, "index");
    assert!(p.commit.is_none());
    assert_eq!(report.stats.files, 1, "only the staged file is scanned");
}

#[test]
fn staged_works_before_the_first_commit() {
    let r = Repo::new();
    r.write("a.txt", format!("{}\n", age_key()));
    r.write("b.txt", "clean\n");
    r.git(&["add", "a.txt", "b.txt"]);
    let report = scan_staged(&engine(), r.path(), &opts(0)).expect("staged");
    assert_eq!(with_rule(&report, "age/identity").len(), 1);
    assert_eq!(report.stats.files, 2);
}

#[test]
fn staged_renames_deletions_and_unchanged_files() {
    let r = Repo::new();
    r.write("old/key.txt", format!("{}\n", age_key()));
    r.write("gone.txt", format!("{}\n", age_key()));
    for i in 0..50 {
        r.write(&format!("many/f{i}.txt"), format!("{i}\n"));
    }
    r.commit("init");
    // Committed and unchanged: not the business of --staged.
    let report = scan_staged(&engine(), r.path(), &opts(0)).expect("staged");
    assert!(report.findings.is_empty() && report.stats.files == 0, "{report:#?}");

    std::fs::create_dir_all(r.path().join("new")).expect("mkdir");
    r.git(&["mv", "old/key.txt", "new/key.txt"]);
    r.git(&["rm", "-q", "gone.txt"]);
    let report = scan_staged(&engine(), r.path(), &opts(0)).expect("staged");
    let found = with_rule(&report, "age/identity");
    assert_eq!(found.len(), 1, "{report:#?}");
    assert_eq!(found[0].path, "new/key.txt");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

#[test]
fn staged_skips_submodules_with_a_note() {
    let r = Repo::new();
    r.write("a.txt", "a\n");
    let c = r.commit("init");
    r.git(&["update-index", "--add", "--cacheinfo", &format!("160000,{c},vendor/lib")]);
    let report = scan_staged(&engine(), r.path(), &opts(0)).expect("staged");
    assert!(report.notes.iter().any(|n| n.contains("submodule `vendor/lib`")), "{:?}", report.notes);
    assert!(report.problems.is_empty());
}

/// A merge whose conflict resolution brings a secret neither parent had.
fn merge_repo() -> (Repo, String, String) {
    let r = Repo::new();
    r.write("app/config.txt", "value: base\n");
    let base = r.commit("base");
    r.git(&["checkout", "-q", "-b", "feature"]);
    r.write("app/config.txt", "value: feature\n");
    r.commit("feature");
    r.git(&["checkout", "-q", "main"]);
    r.write("app/config.txt", "value: main\n");
    r.commit("main");
    assert!(!r.git_ok(&["merge", "-q", "feature"]), "the merge must conflict");
    assert!(r.path().join(".git/MERGE_HEAD").exists());
    r.write("app/config.txt", format!("value: both\nkey: {}\n", age_key()));
    let merge = r.commit("merge feature");
    (r, base, merge)
}

#[test]
fn range_and_history_find_a_secret_only_in_a_merge_resolution() {
    let (r, base, merge) = merge_repo();
    let range = scan_range(&engine(), r.path(), &format!("{base}..HEAD"), &opts(0), None).expect("range");
    let found = with_rule(&range, "age/identity");
    assert_eq!(found.len(), 1, "{range:#?}");
    assert_eq!(found[0].path, "app/config.txt");
    assert_eq!(prov(found[0]).commit.as_deref(), Some(merge.as_str()));
    assert_eq!(prov(found[0]).author.as_deref(), Some("Alice <alice@example.com>"));
    // Each blob once: base..HEAD has three versions of the file (feature, main, merge).
    assert_eq!(range.stats.files, 3, "{range:#?}");

    let history = scan_history(&engine(), r.path(), &opts(0), None).expect("history");
    let found = with_rule(&history, "age/identity");
    assert_eq!(found.len(), 1);
    assert_eq!(prov(found[0]).commit.as_deref(), Some(merge.as_str()));
    assert_eq!(prov(found[0]).at_head, Some(true));

    // `--since REV` is REV..HEAD.
    let since = scan_range(&engine(), r.path(), &base, &opts(0), None).expect("since");
    assert_eq!(canonical(&since), canonical(&range));
    // A range that excludes the merge does not see it.
    let before = scan_range(&engine(), r.path(), &format!("{base}..HEAD^1"), &opts(0), None).expect("range");
    assert!(with_rule(&before, "age/identity").is_empty());
}

#[test]
fn a_merge_that_takes_one_side_unchanged_scans_nothing_new() {
    let r = Repo::new();
    r.write("a.txt", "a\n");
    let base = r.commit("base");
    r.git(&["checkout", "-q", "-b", "feature"]);
    r.write("b.txt", format!("{}\n", age_key()));
    r.commit("feature adds a key");
    r.git(&["checkout", "-q", "main"]);
    r.write("c.txt", "c\n");
    r.commit("main");
    r.git(&["merge", "-q", "--no-edit", "feature"]);
    let report = scan_range(&engine(), r.path(), &format!("{base}..main"), &opts(0), None).expect("range");
    let found = with_rule(&report, "age/identity");
    assert_eq!(found.len(), 1);
    let feature = r.git(&["rev-parse", "feature"]);
    assert_eq!(prov(found[0]).commit.as_deref(), Some(feature.as_str()), "attributed where it was committed");
    assert_eq!(report.stats.files, 2, "b.txt and c.txt, each once");
}

#[test]
fn history_follows_renames_and_binary_blobs() {
    let r = Repo::new();
    let key = age_key();
    r.write("a.txt", format!("{key}\n"));
    let c1 = r.commit("add");
    r.git(&["mv", "a.txt", "b.txt"]);
    let c2 = r.commit("rename");
    let mut binary = vec![0u8, 1, 2, 3, 0, 255];
    binary.extend_from_slice(key.as_bytes());
    binary.extend_from_slice(&[0, 0, 7]);
    r.write("blob.bin", &binary);
    r.commit("binary");
    let report = scan_history(&engine(), r.path(), &opts(0), None).expect("history");
    let found = with_rule(&report, "age/identity");
    let a = found.iter().find(|f| f.path == "a.txt").expect("old name");
    let b = found.iter().find(|f| f.path == "b.txt").expect("new name");
    assert_eq!(prov(a).commit.as_deref(), Some(c1.as_str()));
    assert_eq!(prov(a).at_head, Some(false));
    assert_eq!(prov(b).commit.as_deref(), Some(c2.as_str()));
    assert_eq!(prov(b).at_head, Some(true));
    assert_eq!(prov(a).blob, prov(b).blob);
    // The binary blob is read and handed to the engine like any other.
    assert!(report.stats.files >= 3);
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

#[test]
fn coverage_uses_the_configs_of_each_commit() {
    let r = Repo::new();
    r.write("README.md", "docs\n");
    r.write("secrets/db.yaml", "password: hunter2\n");
    let c1 = r.commit("plaintext before any rule");
    r.write(".sops.yaml", "creation_rules:\n  - path_regex: ^secrets/.*\\.yaml$\n    age: age1example\n");
    let c2 = r.commit("add a creation rule");
    // History: README and db.yaml under no config and under the new one, plus .sops.yaml itself.
    let history = scan_history(&engine(), r.path(), &opts(0), None).expect("history");
    assert_eq!(history.stats.files, 5, "{history:#?}");
    // The range of the commit that adds the rule judges the existing files again.
    let range = scan_range(&engine(), r.path(), &format!("{c1}..{c2}"), &opts(0), None).expect("range");
    assert_eq!(range.stats.files, 3, "{range:#?}");
    // Staging a .sops.yaml change re-judges the files it governs.
    r.write(".sops.yaml", "creation_rules:\n  - path_regex: .*\\.yaml$\n    age: age1example\n");
    r.git(&["add", ".sops.yaml"]);
    let staged = scan_staged(&engine(), r.path(), &opts(0)).expect("staged");
    assert_eq!(staged.stats.files, 3, "{staged:#?}");
}

#[test]
fn all_objects_adds_dangling_blobs() {
    let r = Repo::new();
    r.write("a.txt", "a\n");
    r.commit("init");
    let path = r.path().join("dangling.txt");
    std::fs::write(&path, format!("{}\n", age_key())).expect("write");
    let id = r.git(&["hash-object", "-w", "dangling.txt"]);
    std::fs::remove_file(&path).expect("rm");
    let reachable = scan_history(&engine(), r.path(), &opts(0), None).expect("history");
    assert!(with_rule(&reachable, "age/identity").is_empty());
    let all =
        scan_history(&engine(), r.path(), &GitOptions { all_objects: true, ..opts(0) }, None).expect("all");
    let found = with_rule(&all, "age/identity");
    assert_eq!(found.len(), 1, "{all:#?}");
    assert_eq!(found[0].path, id);
    assert_eq!(prov(found[0]).source, "object");
}

#[test]
fn oversize_blobs_are_listed_as_skipped() {
    let r = Repo::new();
    r.write("big.txt", "x".repeat(5000));
    r.write("small.txt", "x\n");
    r.commit("init");
    let o = GitOptions { max_file_size: 1000, ..opts(0) };
    let history = scan_history(&engine(), r.path(), &o, None).expect("history");
    assert_eq!(history.skipped.len(), 1, "{history:#?}");
    assert_eq!(history.skipped[0].path, "big.txt");
    assert_eq!(history.skipped[0].size, Some(5000));
    r.write("big2.txt", "y".repeat(5000));
    r.git(&["add", "big2.txt"]);
    let staged = scan_staged(&engine(), r.path(), &o).expect("staged");
    assert_eq!(staged.skipped.len(), 1);
    assert_eq!(staged.skipped[0].path, "big2.txt");
}

#[test]
fn not_a_repository_is_an_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    // A ceiling keeps discovery from finding a repository above the temp dir.
    let err = scan_history(&engine(), dir.path(), &opts(0), None);
    match err {
        Err(GitError::NotARepository { .. }) => {}
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) if dir.path().ancestors().any(|a| a.join(".git").exists()) => {}
        Ok(_) => panic!("a plain directory is not a repository"),
    }
    assert!(scan_staged(&engine(), Path::new("/nonexistent/x"), &opts(0)).is_err());
}

#[test]
fn missing_blobs_are_problems_and_the_scan_goes_on() {
    let r = Repo::new();
    r.write("a.txt", "harmless\n");
    r.write("b.txt", format!("{}\n", age_key()));
    r.commit("init");
    let id = r.git(&["rev-parse", "HEAD:a.txt"]);
    std::fs::remove_file(r.path().join(".git/objects").join(&id[..2]).join(&id[2..])).expect("delete object");
    let report = scan_history(&engine(), r.path(), &opts(0), None).expect("history");
    assert_eq!(with_rule(&report, "age/identity").len(), 1, "the rest is still scanned");
    assert!(
        report.problems.iter().any(|p| p.path == "a.txt" && p.message.contains("missing")),
        "{:?}",
        report.problems
    );
}

#[test]
fn shallow_clones_scan_what_is_there_and_say_so() {
    let r = Repo::new();
    r.write("old.txt", format!("{}\n", age_key()));
    r.commit("old");
    r.rm("old.txt");
    r.write("new.txt", format!("{}\n", age_key()));
    r.commit("new");
    let clone = tempfile::tempdir().expect("temp dir");
    let url = format!("file://{}", r.path().display());
    r.git_in(clone.path(), &["clone", "-q", "--depth", "1", &url, "c"]);
    let report = scan_history(&engine(), &clone.path().join("c"), &opts(0), None).expect("history");
    let found = with_rule(&report, "age/identity");
    assert_eq!(found.len(), 1, "{report:#?}");
    assert_eq!(found[0].path, "new.txt");
    assert!(report.notes.iter().any(|n| n.contains("shallow")), "{:?}", report.notes);
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

#[test]
fn progress_is_reported() {
    use std::sync::atomic::{AtomicU64, Ordering};
    #[derive(Default)]
    struct P {
        total: AtomicU64,
        objects: AtomicU64,
    }
    impl Progress for P {
        fn set_total(&self, objects: u64) {
            self.total.store(objects, Ordering::Relaxed);
        }
        fn inc(&self, objects: u64, _bytes: u64) {
            self.objects.fetch_add(objects, Ordering::Relaxed);
        }
    }
    let r = Repo::new();
    r.write("a.txt", "a\n");
    r.commit("init");
    let p = P::default();
    scan_history(&engine(), r.path(), &opts(0), Some(&p)).expect("history");
    assert!(p.total.load(Ordering::Relaxed) >= 3);
    assert!(p.objects.load(Ordering::Relaxed) >= 3);
}

#[test]
fn a_plaintext_file_becomes_an_error_when_a_creation_rule_covers_it() {
    let r = Repo::new();
    r.write("README.md", "docs\n");
    let c0 = r.commit("init");
    r.write("secrets/db.yaml", "password: hunter2\n");
    let c1 = r.commit("plaintext before any rule");
    let recipient = age::x25519::Identity::generate().to_public().to_string();
    r.write(
        ".sops.yaml",
        format!("creation_rules:\n  - path_regex: ^secrets/.*\\.yaml$\n    age: {recipient}\n"),
    );
    let c2 = r.commit("add a creation rule");
    r.write("README.md", "docs, more\n");
    r.commit("unrelated");

    let history = scan_history(&engine(), r.path(), &opts(0), None).expect("history");
    let found = with_rule(&history, "sops/not-encrypted");
    assert_eq!(found.len(), 1, "{history:#?}");
    assert_eq!(found[0].path, "secrets/db.yaml");
    let p = prov(found[0]);
    assert_eq!(p.commit.as_deref(), Some(c2.as_str()), "an error from the commit that added the rule on");
    assert_eq!(p.commits, Some(2));
    assert_eq!(p.at_head, Some(true));

    let before = scan_range(&engine(), r.path(), &format!("{c0}..{c1}"), &opts(0), None).expect("range");
    assert!(with_rule(&before, "sops/not-encrypted").is_empty(), "{before:#?}");
    let after = scan_range(&engine(), r.path(), &format!("{c1}..{c2}"), &opts(0), None).expect("range");
    let found = with_rule(&after, "sops/not-encrypted");
    assert_eq!(found.len(), 1, "{after:#?}");
    assert_eq!(prov(found[0]).commit.as_deref(), Some(c2.as_str()));
}

#[test]
fn files_are_scanned_once_per_governing_config_not_per_config_edit() {
    let r = Repo::new();
    r.write("a/x.txt", "x\n");
    r.write("b/y.yaml", "y: 1\n");
    r.write("b/.sops.yaml", "creation_rules:\n  - path_regex: nothing$\n    age: age1a\n");
    r.commit("c1");
    r.write("b/.sops.yaml", "creation_rules:\n  - path_regex: still-nothing$\n    age: age1a\n");
    r.commit("c2");
    let history = scan_history(&engine(), r.path(), &opts(0), None).expect("history");
    // a/x.txt once (no config governs it in either commit); b/y.yaml and b/.sops.yaml once per
    // version of b/.sops.yaml.
    assert_eq!(history.stats.files, 5, "{history:#?}");
}

#[test]
fn history_is_the_same_across_several_packs_holding_the_same_objects() {
    let r = Repo::new();
    for i in 0..4 {
        r.write(&format!("d/f{i}.txt"), format!("{i}\n"));
        if i == 1 {
            r.write("k.txt", format!("{}\n", age_key()));
        }
        r.commit(&format!("c{i}"));
    }
    // One pack of the loose objects (which stay), one more commit, then a second copy of
    // everything in another pack, the first one kept: most objects are loose and in two packs.
    r.git(&["repack", "-q"]);
    r.write("d/late.txt", "late\n");
    r.commit("late");
    let loose = scan_history(&engine(), r.path(), &opts(2), None).expect("history");
    r.git(&["repack", "-q", "-a"]);
    let packs = std::fs::read_dir(r.path().join(".git/objects/pack"))
        .expect("pack dir")
        .filter(|e| e.as_ref().is_ok_and(|e| e.path().extension().is_some_and(|x| x == "idx")))
        .count();
    assert!(packs >= 2, "{packs} packs");
    let packed = scan_history(&engine(), r.path(), &opts(2), None).expect("history");
    assert_eq!(canonical(&loose), canonical(&packed));
    assert_eq!(with_rule(&packed, "age/identity").len(), 1);
}

#[test]
fn annotated_tags_are_peeled_to_the_commits_they_hold() {
    let r = Repo::new();
    r.write("README.md", "hello\n");
    r.commit("init");
    r.git(&["checkout", "-q", "-b", "release"]);
    r.write("deploy/key.txt", format!("{}\n", age_key()));
    let tagged = r.commit("release with a key");
    // An annotated tag, and a tag of that tag, are then the only refs holding the commit.
    r.git(&["tag", "-a", "-m", "v1", "v1", &tagged]);
    r.git(&["tag", "-a", "-m", "again", "v1-again", "v1"]);
    r.git(&["checkout", "-q", "main"]);
    r.git(&["branch", "-q", "-D", "release"]);
    for packed in [false, true] {
        if packed {
            r.git(&["pack-refs", "--all"]);
            r.git(&["gc", "-q"]);
        }
        let report = scan_history(&engine(), r.path(), &opts(0), None).expect("history");
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        let found = with_rule(&report, "age/identity");
        assert_eq!(found.len(), 1, "{report:#?}");
        let p = prov(found[0]);
        assert_eq!(p.commit.as_deref(), Some(tagged.as_str()));
        assert_eq!(p.refs, vec!["refs/tags/v1".to_owned(), "refs/tags/v1-again".to_owned()]);
        assert_eq!(p.at_head, Some(false));
    }
}
