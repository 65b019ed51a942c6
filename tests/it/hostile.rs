//! Hostile input: each gets a clear result, the scan goes on, nothing panics.

use crate::util::{age_identity, Dir};

fn scan_json(dir: &Dir) -> (i32, serde_json::Value, String) {
    let run = dir.run(&["scan", "--format", "json"]);
    assert!(!run.stderr.contains("internal error"), "panic: {}", run.stderr);
    (run.code, run.json(), run.stderr)
}

#[test]
fn invalid_utf8_manifest_is_a_problem_and_the_scan_goes_on() {
    let dir = Dir::new();
    let mut bytes = b"apiVersion: v1\nkind: Secret\nstringData:\n  a: \xff\xfe\n".to_vec();
    bytes.extend_from_slice(b"\n");
    dir.write("bad.yaml", bytes);
    dir.write("k.txt", age_identity());
    let (code, json, _) = scan_json(&dir);
    assert_eq!(code, 1);
    assert_eq!(json["problems"][0]["path"], "bad.yaml");
    assert!(json["problems"][0]["message"].as_str().unwrap().contains("UTF-8"));
    assert_eq!(json["findings"][0]["path"], "k.txt");
}

#[test]
fn one_gib_file_is_skipped_and_listed() {
    let dir = Dir::new();
    let f = std::fs::File::create(dir.path().join("huge.bin")).unwrap();
    f.set_len(1 << 30).unwrap();
    dir.write("ok.txt", "fine\n");
    let (code, json, _) = scan_json(&dir);
    assert_eq!(code, 0);
    assert_eq!(json["skipped"][0]["path"], "huge.bin");
    assert_eq!(json["skipped"][0]["size"], 1u64 << 30);
    assert_eq!(json["summary"]["files"], 1);
}

#[test]
fn billion_laughs_is_refused_quickly() {
    let dir = Dir::new();
    let mut text = String::from(
        "kind: Secret\na: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    let mut prev = "a".to_owned();
    for n in ["b", "c", "d", "e", "f", "g", "h", "i"] {
        text.push_str(&format!(
            "{n}: &{n} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"
        ));
        prev = n.to_owned();
    }
    dir.write("lol.yaml", text);
    let (code, json, _) = scan_json(&dir);
    assert_eq!(code, 2);
    assert!(json["problems"][0]["message"].as_str().unwrap().contains("alias expansion"));
}

#[test]
fn deep_nesting_is_refused() {
    let dir = Dir::new();
    let text = format!("kind: Secret\ndata: {}{}\n", "[".repeat(10_000), "]".repeat(10_000));
    dir.write("deep.yaml", text);
    let flow_map = format!("kind: Secret\ndata: {}1{}\n", "{a: ".repeat(10_000), "}".repeat(10_000));
    dir.write("deep2.yaml", flow_map);
    let (code, json, _) = scan_json(&dir);
    assert_eq!(code, 2);
    assert_eq!(json["problems"].as_array().unwrap().len(), 2);
}

#[test]
fn binary_file_with_an_identity_is_found() {
    let dir = Dir::new();
    let mut bytes = vec![0u8, 1, 2, 3, 255, 0];
    bytes.extend_from_slice(age_identity().as_bytes());
    bytes.extend_from_slice(&[0, 0, 7]);
    dir.write("blob.bin", &bytes);
    let mut noise = vec![0u8; 4096];
    noise.extend_from_slice(b"AGE-SECRET-KEY-1");
    dir.write("noise.bin", noise);
    let (code, json, _) = scan_json(&dir);
    assert_eq!(code, 1);
    let f = &json["findings"];
    assert_eq!(f.as_array().unwrap().len(), 1);
    assert_eq!(f[0]["path"], "blob.bin");
    assert_eq!(f[0]["rule"], "age/identity");
}

#[test]
#[cfg(unix)]
fn broken_symlink_is_listed_as_skipped() {
    let dir = Dir::new();
    std::os::unix::fs::symlink("nowhere", dir.path().join("dangling")).unwrap();
    dir.write("ok.txt", "fine\n");
    let (code, json, _) = scan_json(&dir);
    assert_eq!(code, 0);
    assert_eq!(json["skipped"][0]["path"], "dangling");
}

#[test]
#[cfg(unix)]
fn unreadable_file_is_a_problem() {
    use std::os::unix::fs::PermissionsExt;
    let dir = Dir::new();
    let p = dir.write("secret.yaml", "kind: Secret\n");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o000)).unwrap();
    if std::fs::read(&p).is_ok() {
        // Running as root: permissions do not stop reads, nothing to test.
        return;
    }
    let (code, json, _) = scan_json(&dir);
    assert_eq!(code, 2);
    assert_eq!(json["problems"][0]["path"], "secret.yaml");
}

#[test]
#[cfg(unix)]
fn fifo_does_not_hang_the_scan() {
    let dir = Dir::new();
    let status = std::process::Command::new("mkfifo").arg(dir.path().join("pipe")).status();
    if !status.is_ok_and(|s| s.success()) {
        return;
    }
    dir.write("ok.txt", "fine\n");
    let (code, _, _) = scan_json(&dir);
    assert_eq!(code, 0);
}

// ---- A hostile repository (issue: symlinks, fail-open, bombs, injection, fingerprints) ----

/// A file outside the repository holding "CI secrets": what a symlink planted in the repository
/// would make a careless tool print.
fn outside_secret() -> (tempfile::TempDir, std::path::PathBuf, String) {
    let out = tempfile::tempdir().unwrap();
    let key = age_identity();
    let path = out.path().join("id_ed25519");
    std::fs::write(&path, format!("{key}\nGITHUB_TOKEN=\"ghp_{}\"\n", "x".repeat(36))).unwrap();
    (out, path, key)
}

fn assert_silent_about(run: &crate::util::Run, key: &str) {
    for (name, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        assert!(!text.contains(key), "{name} quotes the key:\n{text}");
        assert!(!text.contains(&key[20..40]), "{name} quotes part of the key:\n{text}");
        assert!(!text.contains("ghp_xxxx"), "{name} quotes the token:\n{text}");
    }
}

#[test]
#[cfg(unix)]
fn symlinked_config_rules_and_baseline_are_never_read_out_of_the_repository() {
    let (_out, secret, key) = outside_secret();
    let dir = Dir::new();
    dir.git(&["init", "-q"]);
    dir.write("ok.txt", "fine\n");
    std::os::unix::fs::symlink(&secret, dir.path().join(".sopsguard.toml")).unwrap();
    let run = dir.run(&["scan"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("symbolic link that points"), "{}", run.stderr);
    assert_silent_about(&run, &key);

    // A rules directory whose rule file links out.
    std::fs::remove_file(dir.path().join(".sopsguard.toml")).unwrap();
    dir.write(".sopsguard.toml", "rules-dir = \"rules\"\n");
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    std::os::unix::fs::symlink(&secret, dir.path().join("rules/corp.yaml")).unwrap();
    let run = dir.run(&["scan"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("symbolic link that points"), "{}", run.stderr);
    assert_silent_about(&run, &key);

    // A baseline named by the repository's configuration that links out.
    dir.write(".sopsguard.toml", "baseline = \"base.json\"\n");
    std::os::unix::fs::symlink(&secret, dir.path().join("base.json")).unwrap();
    let run = dir.run(&["scan"]);
    assert_eq!(run.code, 2);
    assert_silent_about(&run, &key);

    // Named on the command line, a key file is read (the user's own) but never quoted.
    std::fs::remove_file(dir.path().join(".sopsguard.toml")).unwrap();
    let secret = secret.to_str().unwrap();
    for args in [
        vec!["scan", "--config", secret],
        vec!["scan", "--isolated", "--baseline", secret],
        vec!["scan", "--isolated", "--format", "json", "--config", secret],
    ] {
        let run = dir.run(&args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert_silent_about(&run, &key);
    }
}

#[test]
#[cfg(unix)]
fn an_unreadable_sops_config_is_a_problem_for_every_file_it_governs() {
    let dir = Dir::new();
    dir.write("secrets/.keep", "");
    dir.write("secrets/app.yaml", "password: hunter-plaintext\n");
    let (_out, secret, key) = outside_secret();
    std::os::unix::fs::symlink(&secret, dir.path().join(".sops.yaml")).unwrap();
    let (code, json, _) = scan_json(&dir);
    assert_eq!(code, 2);
    let problems = json["problems"].to_string();
    assert!(problems.contains("secrets/app.yaml") && problems.contains("could not be read"), "{problems}");
    assert!(!json.to_string().contains(&key[20..40]));

    // A large one (an 11 MB comment) is read past --max-file-size, and its rule still applies.
    std::fs::remove_file(dir.path().join(".sops.yaml")).unwrap();
    let mut cfg = String::from("creation_rules:\n  - path_regex: secrets/.*\\.yaml$\n    age: age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq\n");
    for _ in 0..110_000 {
        cfg.push_str("# padding padding padding padding padding padding padding padding padding pad\n");
    }
    dir.write(".sops.yaml", cfg);
    let (code, json, _) = scan_json(&dir);
    assert_eq!(code, 1, "{json}");
    let rules: Vec<String> =
        json["findings"].as_array().unwrap().iter().map(|f| f["rule"].to_string()).collect();
    assert!(rules.iter().any(|r| r.contains("sops/not-encrypted")), "{rules:?}");
}

/// A 1 MiB scalar behind an anchor and 100,000 aliases to it (1.7 MB of YAML).
fn alias_bomb() -> String {
    let mut s = format!("apiVersion: v1\nkind: Secret\nx: &a \"{}\"\ny: [", "A".repeat(1 << 20));
    for i in 0..100_000 {
        s.push_str(if i == 0 { "*a" } else { ",*a" });
    }
    s.push_str("]\n");
    s
}

#[test]
fn an_alias_bomb_is_a_problem_in_every_mode_and_the_scan_goes_on() {
    let dir = Dir::new();
    dir.git(&["init", "-q"]);
    dir.write("README", "base\n");
    dir.git(&["add", "."]);
    dir.git(&["commit", "-qm", "base"]);
    dir.write("bomb.yaml", alias_bomb());
    dir.write("k.txt", age_identity());
    dir.write(".sops.yaml", alias_bomb());
    let run = dir.run(&["scan", "--format", "json"]);
    assert!(run.code == 1 || run.code == 2, "{}", run.stderr);
    let json = run.json();
    assert!(
        json["problems"].to_string().contains("bomb.yaml")
            || json["findings"].to_string().contains("bomb.yaml")
    );
    assert!(json["findings"].to_string().contains("k.txt"), "the scan went on: {json}");
    dir.git(&["add", "."]);
    let run = dir.run(&["scan", "--staged", "--format", "json"]);
    assert!(run.json()["findings"].to_string().contains("k.txt"), "{}", run.stderr);
    dir.git(&["commit", "-qm", "bomb"]);
    for args in [
        &["scan", "--history", "--format", "json"][..],
        &["scan", "--range", "HEAD~1..HEAD", "--format", "json"][..],
    ] {
        let run = dir.run(args);
        assert!(!run.stderr.contains("memory allocation"), "{}", run.stderr);
        assert!(run.code == 1 || run.code == 2, "{args:?}: {}", run.stderr);
    }
    let run = dir.run(&["incident", "--format", "json"]);
    assert!(run.code <= 2 && run.code >= 0, "{}", run.stderr);
}

#[test]
#[cfg(unix)]
fn fifos_named_anywhere_never_hang_and_threads_are_capped() {
    let dir = Dir::new();
    let fifo = dir.path().join("pipe");
    if !std::process::Command::new("mkfifo").arg(&fifo).status().is_ok_and(|s| s.success()) {
        return;
    }
    dir.write("ok.txt", "fine\n");
    // Inside a scanned directory: listed, not silently left out.
    let (code, json, _) = scan_json(&dir);
    assert_eq!(code, 0);
    assert!(json["skipped"].to_string().contains("not a regular file (a FIFO)"), "{json}");
    // Named on the command line.
    let run = dir.run(&["scan", "--format", "json", "pipe"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for args in [["scan", "-i", "pipe"], ["scan", "--sops-config", "pipe"]] {
        let run = dir.run(&args);
        assert_eq!(run.code, 2, "{args:?}");
    }
    for n in ["99999999999", "1000", "40000"] {
        let run = dir.run(&["scan", "-j", n]);
        assert_eq!(run.code, 2, "-j {n}");
        assert!(run.stderr.contains("at most 256 threads"), "{}", run.stderr);
    }
}

#[test]
fn a_zlib_bomb_in_history_is_skipped_without_being_inflated() {
    let dir = Dir::new();
    dir.git(&["init", "-q"]);
    // 64 MiB of zeros: a few KiB in git, far above the limit given below.
    let f = std::fs::File::create(dir.path().join("zeros.bin")).unwrap();
    f.set_len(64 << 20).unwrap();
    dir.write("k.txt", age_identity());
    dir.git(&["add", "."]);
    dir.git(&["commit", "-qm", "bomb"]);
    for pack in [false, true] {
        if pack {
            dir.git(&["repack", "-adq"]);
        }
        let run = dir.run(&["scan", "--history", "--max-file-size", "1M", "--format", "json"]);
        assert_eq!(run.code, 1, "{}", run.stderr);
        let json = run.json();
        assert!(json["skipped"].to_string().contains("zeros.bin"), "{json}");
        assert!(json["findings"].to_string().contains("k.txt"));
    }
}

#[test]
fn findings_per_file_are_budgeted_and_counted() {
    let dir = Dir::new();
    let mut s = String::from("apiVersion: v1\nkind: Secret\nmetadata:\n  name: big\nstringData:\n");
    for i in 0..20_000 {
        s.push_str(&format!("  key{i}: value-{i}-plaintext\n"));
    }
    dir.write("big.yaml", s);
    let mut pem = String::new();
    for _ in 0..2_000 {
        pem.push_str("-----BEGIN RSA PRIVATE KEY-----\n");
    }
    pem.push_str(
        "MIIEowIBAAKCAQEAv0dHjm1lTEl6q2Gqz2Rr0yqWb8YtGkC1JxQ1n9m5N2zxk8Hk\n-----END RSA PRIVATE KEY-----\n",
    );
    dir.write("begins.pem", pem);
    let (code, json, _) = scan_json(&dir);
    assert_eq!(code, 1);
    let n = json["findings"].as_array().unwrap().iter().filter(|f| f["path"] == "big.yaml").count();
    assert_eq!(n, 1000);
    assert!(
        json["notes"].to_string().contains("big.yaml: 19000 more findings not listed"),
        "{}",
        json["notes"]
    );
    // Only the last BEGIN line is followed by key data and its END line.
    let pems = json["findings"].as_array().unwrap().iter().filter(|f| f["path"] == "begins.pem").count();
    assert_eq!(pems, 1);
}

#[test]
fn a_utf16_secret_is_found() {
    let dir = Dir::new();
    let text =
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: hunter2-plaintext\n";
    let mut le = vec![0xFF, 0xFE];
    le.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    let mut be = vec![0xFE, 0xFF];
    be.extend(text.encode_utf16().flat_map(u16::to_be_bytes));
    dir.write("le.yaml", le);
    dir.write("be.yaml", be);
    let (code, json, _) = scan_json(&dir);
    assert_eq!(code, 1);
    let paths: Vec<String> =
        json["findings"].as_array().unwrap().iter().map(|f| f["path"].to_string()).collect();
    assert_eq!(paths, ["\"be.yaml\"", "\"le.yaml\""]);
}

#[test]
fn replace_refs_cannot_hide_a_commit() {
    let dir = Dir::new();
    dir.git(&["init", "-q"]);
    dir.write("README", "base\n");
    dir.git(&["add", "."]);
    dir.git(&["commit", "-qm", "base"]);
    dir.write("k.txt", age_identity());
    dir.git(&["add", "."]);
    dir.git(&["commit", "-qm", "leak"]);
    let leak = dir.git(&["rev-parse", "HEAD"]).trim().to_owned();
    // A commit that looks innocent, and a replace ref that stands it in for the leak.
    let tree = dir.git(&["rev-parse", "HEAD~1^{tree}"]).trim().to_owned();
    let parent = dir.git(&["rev-parse", "HEAD~1"]).trim().to_owned();
    let fake = dir.git(&["commit-tree", &tree, "-p", &parent, "-m", "leak"]).trim().to_owned();
    dir.git(&["replace", &leak, &fake]);
    for args in [
        &["scan", "--range", "HEAD~1..HEAD", "--format", "json"][..],
        &["scan", "--history", "--format", "json"][..],
    ] {
        let run = dir.run(args);
        assert_eq!(run.code, 1, "{args:?}: {}", run.stdout);
        assert!(run.json()["findings"].to_string().contains("k.txt"), "{args:?}");
    }
}

#[test]
#[cfg(unix)]
fn control_characters_from_the_repository_are_escaped_in_human_output() {
    let dir = Dir::new();
    dir.git(&["init", "-q"]);
    let evil = "evil\u{1b}[2J\u{1b}]52;c;aGk=\u{7}\u{202e}lmay.\nerror: forged";
    dir.write(&format!("{evil}.txt"), age_identity());
    dir.write(
        "s.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: \"db\\u202e\\e[31m\"\nstringData:\n  \"pa\\u001bss\": hunter2-plaintext\n",
    );
    dir.git(&["add", "."]);
    std::process::Command::new("git")
        .args(["-c", "user.name=Mallory\u{1b}[2J", "-c", "user.email=m@example.com", "commit", "-qm", "x"])
        .current_dir(dir.path())
        .status()
        .unwrap();
    for args in [
        &["scan"][..],
        &["scan", "--history"][..],
        &["incident"][..],
        &["incident", "--format", "markdown"][..],
    ] {
        let run = dir.run(args);
        for text in [&run.stdout, &run.stderr] {
            assert!(!text.contains('\u{1b}'), "{args:?} printed ESC:\n{text}");
            assert!(!text.contains('\u{7}'), "{args:?} printed BEL");
            assert!(!text.contains('\u{202e}'), "{args:?} printed U+202E");
            assert!(!text.contains("\nerror: forged"), "{args:?}: a newline in a path started a line");
        }
    }
    let run = dir.run(&["scan"]);
    assert!(run.stdout.contains("evil\\x1b[2J"), "{}", run.stdout);
    let run = dir.run(&["scan", "--format", "json"]);
    assert!(!run.stdout.contains('\u{202e}'), "JSON passes U+202E raw");
}

#[test]
fn markdown_paths_stay_in_their_code_span() {
    let dir = Dir::new();
    dir.git(&["init", "-q"]);
    dir.write("a`b|c[x](e)<i>.txt", age_identity());
    dir.git(&["add", "."]);
    dir.git(&["commit", "-qm", "x", "--author", "A <a@example.com>"]);
    let run = dir.run(&["incident", "--format", "markdown"]);
    assert!(run.stdout.contains("| ``a`b\\|c[x](e)<i>.txt`` |"), "{}", run.stdout);
}

#[test]
fn the_source_line_shows_only_the_key_and_the_redacted_value() {
    let dir = Dir::new();
    dir.write(
        "s.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: Com9pl3xPassw0rd  # other: NotDetectedSecretValue\n  cfg: {user: admin, token: Zm9vYmFyYmF6cXV4, note: AlsoNotDetected}\n",
    );
    let run = dir.run(&["scan"]);
    assert_eq!(run.code, 1);
    for leak in ["NotDetectedSecretValue", "AlsoNotDetected", "Com9pl3x", "Zm9vYmFy", "admin"] {
        assert!(!run.stdout.contains(leak), "printed {leak}:\n{}", run.stdout);
    }
}

#[test]
fn fingerprints_hold_no_secret_unless_keyed() {
    let dir = Dir::new();
    let secret = |v: &str| {
        format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  pin: \"{v}\"\n")
    };
    let fp = |dir: &Dir, env: &[(&str, &str)]| -> String {
        let run = dir.run_env(&["scan", "--format", "sarif"], env);
        let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        v["runs"][0]["results"][0]["partialFingerprints"].to_string()
    };
    dir.write("s.yaml", secret("1234"));
    let a = fp(&dir, &[]);
    dir.write("s.yaml", secret("9876"));
    let b = fp(&dir, &[]);
    assert_eq!(a, b, "without a key the value must not enter the fingerprint (it could be brute-forced)");
    let key = [("SOPSGUARD_FINGERPRINT_KEY", "0123456789abcdef-ci-secret")];
    let c = fp(&dir, &key);
    dir.write("s.yaml", secret("1234"));
    let d = fp(&dir, &key);
    assert_ne!(c, d, "with a key, a new value is a new finding");
    assert_ne!(a, d);
    let run = dir.run_env(&["scan"], &[("SOPSGUARD_FINGERPRINT_KEY", "short")]);
    assert_eq!(run.code, 2);
}
