//! `sopsguard baseline` and `scan --baseline`: exactly the recorded findings are suppressed, across
//! moved lines and reformatting; with a fingerprint key, a new secret on the same line is reported;
//! stale entries are noted.

use std::path::Path;

use crate::sarif::{age_identity, run};

fn secret_yaml(value: &str) -> String {
    format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ndata:\n  password: {value}\n")
}

fn setup() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("secret.yaml"), secret_yaml("aHVudGVyMg==")).unwrap();
    std::fs::write(tmp.path().join("keys.txt"), format!("# key\n{}\n", age_identity("baseline"))).unwrap();
    tmp
}

fn json(dir: &Path, extra: &[&str]) -> (i32, serde_json::Value) {
    json_keyed(dir, extra, None)
}

/// The CI secret of the keyed-fingerprint tests (not a real secret).
const KEY: &str = "test-fingerprint-key-0123456789";

fn json_keyed(dir: &Path, extra: &[&str], key: Option<&str>) -> (i32, serde_json::Value) {
    let mut args = vec!["scan", "--isolated", "--format", "json"];
    args.extend_from_slice(extra);
    let mut cmd = crate::sarif::sopsguard(dir);
    cmd.args(&args);
    if let Some(k) = key {
        cmd.env("SOPSGUARD_FINGERPRINT_KEY", k);
    }
    let out = cmd.output().expect("run sopsguard");
    let (code, stdout) = (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned());
    (code, serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}")))
}

fn rules_of(v: &serde_json::Value) -> Vec<String> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("{} {}", f["rule"].as_str().unwrap(), f["path"].as_str().unwrap()))
        .collect()
}

#[test]
fn baseline_suppresses_exactly_the_recorded_findings() {
    let tmp = setup();
    let dir = tmp.path();
    let (code, _, err) = run(dir, &["baseline", "--isolated", "--output", "base.json"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("recorded 2 findings in base.json"), "{err}");
    let text = std::fs::read_to_string(dir.join("base.json")).unwrap();
    let file: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(file["version"], 1);
    let entries = file["findings"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    for e in entries {
        let keys: Vec<&str> = e.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["path", "rule", "fingerprint"], "no line numbers, no snippets");
    }
    assert!(
        !text.contains(&age_identity("baseline")[16..]) && !text.contains("aHVudGVyMg"),
        "no secret in the baseline"
    );

    // Unchanged: everything suppressed, counted, exit 0.
    let (code, v) = json(dir, &["--baseline", "base.json"]);
    assert_eq!(code, 0);
    assert_eq!(rules_of(&v), Vec::<String>::new());
    assert_eq!(v["summary"]["suppressed"], 2);

    // Moved lines and reformatting: still suppressed.
    std::fs::write(
        dir.join("secret.yaml"),
        "# moved down\napiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n\n\ndata:\n    password:   \"aHVudGVyMg==\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("keys.txt"),
        format!("\n\n# key, indented now\n    {}\n", age_identity("baseline")),
    )
    .unwrap();
    let (code, v) = json(dir, &["--baseline", "base.json"]);
    assert_eq!((code, rules_of(&v)), (0, Vec::new()));
    assert_eq!(v["summary"]["suppressed"], 2);

    // Without a fingerprint key, a fingerprint holds no secret material (see the README): a new
    // value under the same key of the same Secret is the same finding.
    std::fs::write(dir.join("secret.yaml"), secret_yaml("bmV3LXNlY3JldA==")).unwrap();
    let (code, v) = json(dir, &["--baseline", "base.json"]);
    assert_eq!((code, rules_of(&v)), (0, Vec::new()));

    // With a key (a CI secret), the value is part of the fingerprint: a baseline made with the key
    // suppresses the old value, and a new secret on the same line is reported, the old entry stale.
    std::fs::write(dir.join("secret.yaml"), secret_yaml("aHVudGVyMg==")).unwrap();
    let mut cmd = crate::sarif::sopsguard(dir);
    let status = cmd
        .args(["baseline", "--isolated", "--output", "base.json"])
        .env("SOPSGUARD_FINGERPRINT_KEY", KEY)
        .status()
        .unwrap();
    assert!(status.success());
    let (code, v) = json_keyed(dir, &["--baseline", "base.json"], Some(KEY));
    assert_eq!((code, rules_of(&v)), (0, Vec::new()));
    std::fs::write(dir.join("secret.yaml"), secret_yaml("bmV3LXNlY3JldA==")).unwrap();
    let (code, v) = json_keyed(dir, &["--baseline", "base.json"], Some(KEY));
    assert_eq!(code, 1);
    assert_eq!(rules_of(&v), ["k8s/plaintext-secret secret.yaml"]);
    assert_eq!(v["summary"]["suppressed"], 1);
    let notes: Vec<&str> = v["notes"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].starts_with("baseline entry matches nothing any more: k8s/plaintext-secret in secret.yaml"),
        "{notes:?}"
    );

    // A second finding of another rule in a new file is reported too.
    std::fs::write(dir.join("more.txt"), age_identity("another")).unwrap();
    let (_, v) = json_keyed(dir, &["--baseline", "base.json"], Some(KEY));
    assert_eq!(rules_of(&v), ["age/identity more.txt", "k8s/plaintext-secret secret.yaml"]);
}

#[test]
fn stale_entries_are_reported_only_for_files_the_scan_covered() {
    let tmp = setup();
    let dir = tmp.path();
    std::fs::create_dir(dir.join("apps")).unwrap();
    std::fs::write(dir.join("apps/keys.txt"), age_identity("apps")).unwrap();
    assert_eq!(run(dir, &["baseline", "--isolated", "-o", "b.json"]).0, 0);
    std::fs::remove_file(dir.join("keys.txt")).unwrap();
    // Scanning only apps/: the entry for keys.txt is outside the scan, not stale.
    let (code, v) = json(dir, &["--baseline", "b.json", "apps"]);
    assert_eq!(code, 0);
    assert_eq!(v["notes"].as_array().unwrap().len(), 0, "{v}");
    // Scanning everything: it is stale.
    let (_, v) = json(dir, &["--baseline", "b.json"]);
    let notes = v["notes"].as_array().unwrap();
    assert_eq!(notes.len(), 1);
    assert!(notes[0].as_str().unwrap().contains("age/identity in keys.txt"));
}

#[test]
fn config_names_the_default_baseline_and_human_summary_counts_suppressed() {
    let tmp = setup();
    let dir = tmp.path();
    std::fs::write(dir.join(".sopsguard.toml"), "baseline = \"ci/baseline.json\"\n").unwrap();
    let (code, _, err) = run(dir, &["baseline"]);
    assert_eq!(code, 0, "{err}");
    assert!(dir.join("ci/baseline.json").is_file());
    let (code, _, err) = run(dir, &["scan"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("2 suppressed"), "{err}");
}

#[test]
fn a_broken_baseline_is_a_diagnostic_pointing_into_it() {
    let tmp = setup();
    let dir = tmp.path();
    std::fs::write(
        dir.join("b.json"),
        "{\n  \"version\": 1,\n  \"findings\": [\n    {\"path\": \"x\", \"rule\": \"r\"}\n  ]\n}\n",
    )
    .unwrap();
    let (code, _, err) = run(dir, &["scan", "--isolated", "--baseline", "b.json"]);
    assert_eq!(code, 2);
    assert!(err.contains("not a sopsguard baseline"), "{err}");
    assert!(err.contains("b.json:4:"), "points at line 4: {err}");
    let (code, _, err) = run(dir, &["scan", "--isolated", "--baseline", "missing.json"]);
    assert_eq!(code, 2);
    assert!(err.contains("missing.json") && err.contains("sopsguard baseline --output"), "{err}");
}
