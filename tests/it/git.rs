//! `sopsguard scan --staged | --range | --since | --history | --all-objects` on repositories built
//! with the real `git`.

use std::process::Command;

use crate::util::{age_identity, text, Dir, Run};

fn repo() -> Dir {
    let d = Dir::new();
    d.git(&["init", "-q", "-b", "main"]);
    d.git(&["config", "commit.gpgsign", "false"]);
    d
}

fn commit(d: &Dir, msg: &str) -> String {
    d.git(&["add", "-A"]);
    d.git(&["commit", "-q", "--allow-empty", "-m", msg]);
    d.git(&["rev-parse", "HEAD"]).trim().to_owned()
}

/// `(rule, path, provenance commit)` of every finding.
fn found(run: &Run) -> Vec<(String, String, String)> {
    run.each_finding(|f| (text(&f["rule"]), text(&f["path"]), text(&f["provenance"]["commit"])))
}

#[test]
fn history_finds_a_removed_secret_with_its_introducing_commit() {
    let d = repo();
    d.write("README.md", "hello\n");
    commit(&d, "init");
    d.write("deploy/key.txt", format!("{}\n", age_identity()));
    let introduced = commit(&d, "add a key");
    d.write("README.md", "more\n");
    commit(&d, "unrelated");
    std::fs::remove_file(d.path().join("deploy/key.txt")).expect("rm");
    commit(&d, "remove the key");

    let run = d.run(&["scan", "--history", "--format", "json"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert_eq!(found(&run), vec![("age/identity".into(), "deploy/key.txt".into(), introduced.clone())]);
    let f = &run.json()["findings"][0]["provenance"];
    assert_eq!(f["source"], "commit");
    assert_eq!(f["author"], "Test Author <author@example.com>");
    assert_eq!(f["commits"], 2);
    assert_eq!(f["refs"], serde_json::json!(["refs/heads/main"]));
    assert_eq!(f["at_head"], false);

    // The working tree no longer has it; the same threads or not, history output is identical.
    let wt = d.run(&["scan", "--format", "json", "."]);
    assert!(found(&wt).iter().all(|f| f.0 != "age/identity"), "{}", wt.stdout);
    let one = d.run(&["scan", "--history", "--format", "json", "--threads", "1"]);
    let two = d.run(&["scan", "--history", "--format", "json", "--threads", "2"]);
    assert_eq!(one.json()["findings"], two.json()["findings"]);
}

#[test]
fn history_lists_one_secret_once_however_many_versions_held_it() {
    let d = repo();
    let key = age_identity();
    d.write("deploy/key.txt", format!("# v1\n{key}\n"));
    commit(&d, "add a key");
    d.write("deploy/key.txt", format!("# v2\n{key}\n"));
    commit(&d, "edit a comment");
    d.write("deploy/key.txt", format!("# v3\n{key}\n"));
    commit(&d, "edit it again");
    // A rotation: a new secret at the same place is a new finding.
    d.write("deploy/key.txt", format!("# v4\n{}\n", age_identity()));
    let rotated = commit(&d, "rotate");

    let run = d.run(&["scan", "--history", "--format", "json"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let findings = run.json()["findings"].as_array().cloned().unwrap_or_default();
    assert_eq!(findings.len(), 2, "{}", run.stdout);
    assert!(findings.iter().all(|f| f["rule"] == "age/identity" && f["path"] == "deploy/key.txt"));
    // The test's commits share one date, so which of the three introduced the old key is not
    // asserted; that the rotated key is its own finding, at HEAD, is.
    let old = findings.iter().find(|f| f["provenance"]["at_head"] == false).expect("old key");
    assert_eq!(old["properties"]["versions"], 3, "{old}");
    let blobs = old["properties"]["blobs"].as_array().cloned().unwrap_or_default();
    assert_eq!(blobs.len(), 3, "every exposing version is listed: {old}");
    assert_eq!(blobs[0], old["provenance"]["blob"]);
    assert_eq!(old["provenance"]["commits"], 3, "{old}");
    assert_ne!(old["provenance"]["commit"], rotated.as_str(), "{old}");
    let new = findings.iter().find(|f| f["provenance"]["at_head"] == true).expect("new key");
    assert!(new["properties"].get("versions").is_none(), "{new}");
    assert_eq!(new["provenance"]["commit"], rotated.as_str(), "{new}");
    assert_ne!(old["message"], new["message"]);

    let human = d.run(&["scan", "--history", "--color", "never"]);
    assert!(
        human.stderr.contains("in 3 versions of the file")
            || human.stdout.contains("in 3 versions of the file"),
        "{}{}",
        human.stdout,
        human.stderr
    );
    let one = d.run(&["scan", "--history", "--format", "json", "--threads", "1"]);
    let two = d.run(&["scan", "--history", "--format", "json", "--threads", "2"]);
    assert_eq!(one.json()["findings"], two.json()["findings"]);
    // --every-version: one finding per exposing blob
    let every = d.run(&["scan", "--history", "--every-version", "--format", "json"]);
    assert_eq!(found(&every).len(), 4, "{}", every.stdout);
}

#[test]
fn staged_scans_what_will_be_committed() {
    let d = repo();
    d.write("app/values.yaml", "replicas: 1\n");
    commit(&d, "init");
    d.write("app/values.yaml", format!("replicas: 1\nkey: {}\n", age_identity()));
    d.git(&["add", "app/values.yaml"]);
    // Removed from the working tree but still staged, and a secret only in the working tree.
    d.write("app/values.yaml", "replicas: 1\n");
    d.write("local-notes.txt", format!("{}\n", age_identity()));

    let run = d.run(&["scan", "--staged", "--format", "json"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let hits = found(&run);
    assert_eq!(hits.len(), 1, "{}", run.stdout);
    assert_eq!((hits[0].0.as_str(), hits[0].1.as_str()), ("age/identity", "app/values.yaml"));
    assert_eq!(run.json()["findings"][0]["provenance"]["source"], "index");

    // Unstaged: nothing left to report.
    d.git(&["reset", "-q"]);
    let run = d.run(&["scan", "--staged", "--format", "json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
}

#[test]
fn range_and_since_see_a_secret_that_only_a_merge_resolution_has() {
    let d = repo();
    d.write("app/config.txt", "value: base\n");
    let base = commit(&d, "base");
    d.git(&["checkout", "-q", "-b", "feature"]);
    d.write("app/config.txt", "value: feature\n");
    commit(&d, "feature");
    d.git(&["checkout", "-q", "main"]);
    d.write("app/config.txt", "value: main\n");
    commit(&d, "main");
    let merge = Command::new("git")
        .args(["merge", "-q", "feature"])
        .current_dir(d.path())
        .env("GIT_AUTHOR_NAME", "Test Author")
        .env("GIT_AUTHOR_EMAIL", "author@example.com")
        .env("GIT_COMMITTER_NAME", "Test Author")
        .env("GIT_COMMITTER_EMAIL", "author@example.com")
        .output()
        .expect("git merge");
    assert!(!merge.status.success(), "the merge must conflict");
    d.write("app/config.txt", format!("value: both\nkey: {}\n", age_identity()));
    let resolved = commit(&d, "merge feature");

    let expected = vec![("age/identity".to_owned(), "app/config.txt".to_owned(), resolved)];
    let range = d.run(&["scan", "--range", &format!("{base}..HEAD"), "--format", "json"]);
    assert_eq!(range.code, 1, "{}{}", range.stdout, range.stderr);
    assert_eq!(found(&range), expected);
    let since = d.run(&["scan", "--since", &base, "--format", "json"]);
    assert_eq!(found(&since), expected);
    let history = d.run(&["scan", "--history", "--format", "json"]);
    assert_eq!(found(&history), expected);
    let before = d.run(&["scan", "--range", &format!("{base}..HEAD^1"), "--format", "json"]);
    assert_eq!(before.code, 0, "{}{}", before.stdout, before.stderr);
}

#[test]
fn all_objects_adds_what_no_ref_reaches() {
    let d = repo();
    d.write("a.txt", "a\n");
    commit(&d, "init");
    d.write("dangling.txt", format!("{}\n", age_identity()));
    let id = d.git(&["hash-object", "-w", "dangling.txt"]).trim().to_owned();
    std::fs::remove_file(d.path().join("dangling.txt")).expect("rm");
    let reachable = d.run(&["scan", "--history", "--format", "json"]);
    assert_eq!(reachable.code, 0, "{}{}", reachable.stdout, reachable.stderr);
    let all = d.run(&["scan", "--history", "--all-objects", "--format", "json"]);
    assert_eq!(all.code, 1, "{}{}", all.stdout, all.stderr);
    assert_eq!(found(&all), vec![("age/identity".into(), id, String::new())]);
}

#[test]
fn a_missing_object_is_a_problem_the_scan_goes_on_and_exits_2() {
    let d = repo();
    d.write("a.txt", "harmless\n");
    d.write("b.txt", "also harmless\n");
    commit(&d, "init");
    let id = d.git(&["rev-parse", "HEAD:a.txt"]).trim().to_owned();
    std::fs::remove_file(d.path().join(".git/objects").join(&id[..2]).join(&id[2..])).expect("rm object");
    let run = d.run(&["scan", "--history", "--format", "json"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    let json = run.json();
    assert_eq!(json["summary"]["files"], 1, "the rest is still scanned: {}", run.stdout);
    let problems = json["problems"].to_string();
    assert!(problems.contains("a.txt") && problems.contains("missing"), "{problems}");
}

#[test]
fn a_git_mode_outside_a_repository_is_a_clear_error() {
    let d = Dir::new();
    if d.path().ancestors().skip(1).any(|a| a.join(".git").exists()) {
        return; // the temporary directory is inside a repository on this machine
    }
    for mode in [&["--history"][..], &["--staged"], &["--range", "a..b"]] {
        let mut args = vec!["scan"];
        args.extend_from_slice(mode);
        let run = d.run(&args);
        assert_eq!(run.code, 2, "{mode:?}: {}{}", run.stdout, run.stderr);
        assert!(run.stderr.contains("not inside a git repository"), "{}", run.stderr);
    }
}

#[test]
fn an_unknown_revision_is_a_clear_error() {
    let d = repo();
    d.write("a.txt", "a\n");
    commit(&d, "init");
    let run = d.run(&["scan", "--range", "nosuchbranch..HEAD"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("nosuchbranch"), "{}", run.stderr);
}

/// Issue 14, class 6: a config-state finding (here `sops/orphan`) on a version no ref tip holds
/// cannot be acted on: counted in a note, not listed. Versions held by several tips are one
/// finding with their number; a leak stays one finding per exposing version.
/// The first `sops/orphan` finding of a JSON report.
fn first_orphan(run: &Run) -> serde_json::Value {
    run.json()["findings"].as_array().unwrap().iter().find(|f| f["rule"] == "sops/orphan").cloned().unwrap()
}

#[test]
fn history_lists_config_state_findings_only_where_a_ref_tip_holds_the_file() {
    let fixture = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sops/yaml/default.sops.yaml"),
    )
    .expect("fixture");
    let d = repo();
    let recipient = "age1lzd99uklcjnc0e7d860axevet2cz99ce9pq6tzuzd05l5nr28ams36nvun";
    d.write(
        ".sops.yaml",
        format!("creation_rules:\n  - path_regex: ^nothing-matches$\n    age: {recipient}\n"),
    );
    d.write("app/a.sops.yaml", &fixture);
    commit(&d, "v1");
    d.write("app/a.sops.yaml", format!("{fixture}# v2\n"));
    commit(&d, "v2");
    d.write("app/a.sops.yaml", format!("{fixture}# v3\n"));
    d.write("leak/key.txt", format!("{}\n", age_identity()));
    commit(&d, "v3 and a leak");
    d.write("leak/key.txt", format!("{}\n", age_identity()));
    commit(&d, "another leaked key");

    let orphans = |run: &Run| run.each_finding(|f| (text(&f["rule"]), f["properties"]["versions"].clone()));
    let run = d.run(&["scan", "--history", "--format", "json"]);
    let got: Vec<_> = orphans(&run).into_iter().filter(|f| f.0 == "sops/orphan").collect();
    assert_eq!(got, [("sops/orphan".to_owned(), serde_json::Value::Null)], "{}", run.stdout);
    let notes = run.json()["notes"].to_string();
    assert!(notes.contains("2 findings about the state of file versions no ref tip holds"), "{notes}");
    // Both leaked keys are listed: each version exposed one.
    assert_eq!(found(&run).iter().filter(|f| f.0 == "age/identity").count(), 2, "{}", run.stdout);

    // A branch at v1 makes that version actionable too: one finding for two versions.
    d.git(&["branch", "old", "HEAD~3"]);
    let run = d.run(&["scan", "--history", "--format", "json"]);
    let got: Vec<_> = orphans(&run).into_iter().filter(|f| f.0 == "sops/orphan").collect();
    assert_eq!(got, [("sops/orphan".to_owned(), serde_json::json!(2))], "{}", run.stdout);
    let f = first_orphan(&run);
    assert_eq!(f["provenance"]["refs"], serde_json::json!(["refs/heads/main", "refs/heads/old"]));
    assert_eq!(f["severity"], "warning", "HEAD holds one of the versions: {f}");

    // Only a stale branch's tip holds the state: a note, not an error.
    d.write("app/a.sops.yaml", "plain: settings\n");
    commit(&d, "v4: no longer a sops file");
    let run = d.run(&["scan", "--history", "--format", "json"]);
    let f = first_orphan(&run);
    assert_eq!(f["severity"], "note", "{f}");
    assert_eq!(f["properties"]["not_at_head"], true, "{f}");

    // A severity the configuration sets is the rule's severity there too.
    d.write(".sopsguard.toml", "[rules]\n\"sops/orphan\" = \"error\"\n");
    let run = d.run(&["scan", "--history", "--format", "json"]);
    let f = first_orphan(&run);
    assert_eq!(f["severity"], "error", "{f}");
    assert_eq!(f["properties"]["not_at_head"], true, "{f}");
}

#[test]
fn history_output_is_the_same_bytes_on_every_run() {
    // A `.sops.yaml` finding (an unread key) in several versions, each held by many tags: its
    // fingerprint must not depend on the process, and the joined refs name one count.
    let d = repo();
    for v in 0..3 {
        d.write(
            ".sops.yaml",
            format!("# v{v}\ncreation_rules:\n  - path_regex: \\.sops\\.yaml$\n    input_type: yaml\n    age: age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq\n"),
        );
        commit(&d, &format!("v{v}"));
        for t in 0..20 {
            d.git(&["tag", &format!("v{v}.{t:02}")]);
        }
    }
    d.write(".sops.yaml", "creation_rules:\n  - path_regex: \\.sops\\.yaml$\n    age: age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq\n");
    commit(&d, "fixed");
    let runs: Vec<Run> =
        (0..3).map(|_| d.run(&["scan", "--history", "--format", "json", "--fail-on", "note"])).collect();
    let json = runs[0].json();
    let findings = json["findings"].as_array().expect("findings");
    assert!(
        findings.iter().any(|f| f["rule"] == "sops/config-invalid"),
        "{}{}",
        runs[0].stdout,
        runs[0].stderr
    );
    for f in findings {
        let refs = f["provenance"]["refs"]
            .as_array()
            .map_or(0, |r| r.iter().filter(|r| r.as_str().is_some_and(|r| r.starts_with('…'))).count());
        assert!(refs <= 1, "{f}");
    }
    for r in &runs[1..] {
        assert!(r.stdout == runs[0].stdout, "history JSON differs between two runs");
    }
    let sarif: Vec<Run> = (0..2).map(|_| d.run(&["scan", "--history", "--format", "sarif"])).collect();
    assert!(sarif[0].stdout == sarif[1].stdout, "history SARIF differs between two runs");
}

/// A sops file broken by one commit and fixed by the next, before any ref pointed at it, needs
/// no repair: its integrity findings are counted, not listed. Kept at a tag, the broken version
/// is a note (not at HEAD).
#[test]
fn history_lists_a_broken_sops_version_only_where_a_ref_tip_holds_it() {
    let fixture = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sops/yaml/default.sops.yaml"),
    )
    .expect("fixture");
    let broken: String =
        fixture.lines().filter(|l| !l.trim_start().starts_with("mac:")).map(|l| format!("{l}\n")).collect();
    assert_ne!(broken, fixture);
    let d = repo();
    d.write("app/a.sops.yaml", &fixture);
    commit(&d, "v1");
    d.write("app/a.sops.yaml", &broken);
    commit(&d, "a bot breaks it");
    d.write("app/a.sops.yaml", format!("{fixture}# v3\n"));
    commit(&d, "fixed");
    let malformed = |run: &Run| {
        run.each_finding(|f| (text(&f["rule"]), text(&f["severity"])))
            .into_iter()
            .filter(|f| f.0 == "sops/malformed")
            .collect::<Vec<_>>()
    };
    let run = d.run(&["scan", "--history", "--format", "json", "--fail-on", "note"]);
    assert_eq!(malformed(&run), [], "{}", run.stdout);
    let notes = run.json()["notes"].to_string();
    assert!(notes.contains("findings about the state of file versions no ref tip holds"), "{notes}");

    d.git(&["tag", "broken", "HEAD~1"]);
    let run = d.run(&["scan", "--history", "--format", "json", "--fail-on", "note"]);
    assert_eq!(malformed(&run), [("sops/malformed".to_owned(), "note".to_owned())], "{}", run.stdout);
}
