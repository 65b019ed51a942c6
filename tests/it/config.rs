//! `.sopsguard.toml`: discovery, precedence, every key, and diagnostics that point into the file
//! (an unknown key, a bad value, a bad regex in the rules directory).

use std::path::Path;

use crate::sarif::{age_identity, age_identity_bad_checksum, run};

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn findings(dir: &Path, args: &[&str]) -> (i32, Vec<String>, serde_json::Value) {
    let mut all = vec!["scan", "--format", "json"];
    all.extend_from_slice(args);
    let (code, out, err) = run(dir, &all);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    let list = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{} {} {}",
                f["severity"].as_str().unwrap(),
                f["rule"].as_str().unwrap(),
                f["path"].as_str().unwrap()
            )
        })
        .collect();
    (code, list, v)
}

/// A repository with an age key, a malformed one, a decrypted copy and a vendored key.
fn repo() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::create_dir(d.join(".git")).unwrap();
    write(d, "keys.txt", &age_identity("config"));
    write(d, "notes.md", &format!("old: {}\n", age_identity_bad_checksum("config")));
    write(d, "app.dec.yaml", "a: b\n");
    write(d, "vendor/lib/keys.txt", &age_identity("vendor"));
    write(d, "apps/legacy/keys.txt", &age_identity("legacy"));
    tmp
}

#[test]
fn every_key_takes_effect() {
    let tmp = repo();
    let d = tmp.path();
    write(
        d,
        ".sopsguard.toml",
        r#"exclude = ["vendor/", "apps/legacy/**", "ci/rules/"]
max-file-size = "1K"
rules-dir = "ci/rules"

[rules]
"age/identity-malformed" = "error"
"file/decrypted-copy" = "off"
"corp/token" = "note"
"#,
    );
    write(
        d,
        "ci/rules/corp.yaml",
        r#"rules:
  - id: corp/token
    title: Corp API token
    severity: error
    keywords: ["corp-"]
    regex: '\bCORP-([A-Z0-9]{20})\b'
    docs: {what: a corp token, why: it grants access, fix: rotate it}
    examples: {hit: ["CORP-ABCDEFGHIJ0123456789"]}
"#,
    );
    write(d, "token.env", "TOKEN=CORP-ABCDEFGHIJ0123456789\n");
    write(d, "big.txt", &"x".repeat(2048));
    let (code, list, v) = findings(d, &[]);
    assert_eq!(code, 1);
    assert_eq!(
        list,
        ["error age/identity keys.txt", "error age/identity-malformed notes.md", "note corp/token token.env"]
    );
    let skipped: Vec<&str> =
        v["skipped"].as_array().unwrap().iter().map(|s| s["path"].as_str().unwrap()).collect();
    assert_eq!(skipped, ["big.txt"]);

    // Flags beat the file; --isolated ignores it.
    let (_, _, v) = findings(d, &["--max-file-size", "1M"]);
    assert_eq!(v["skipped"].as_array().unwrap().len(), 0);
    let (_, list, _) = findings(d, &["--isolated"]);
    assert!(list.contains(&"warning file/decrypted-copy app.dec.yaml".to_owned()), "{list:?}");
    // A vendored key: still reported, as a note (a fixture).
    assert!(list.contains(&"note age/identity vendor/lib/keys.txt".to_owned()), "{list:?}");

    // A scan of a subdirectory finds the file above it and still applies the excludes.
    let (_, list, _) = findings(d, &["apps"]);
    assert_eq!(list, Vec::<String>::new());
    let (_, list, _) = findings(&d.join("apps"), &["."]);
    assert_eq!(list, Vec::<String>::new(), "discovered from a subdirectory, excludes relative to the file");

    // SARIF lists the disabled rule as disabled.
    let (_, out, _) = run(d, &["scan", "--format", "sarif"]);
    let sarif: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rules = sarif["runs"][0]["tool"]["driver"]["rules"].as_array().unwrap();
    let copy = rules.iter().find(|r| r["id"] == "file/decrypted-copy").unwrap();
    assert_eq!(copy["defaultConfiguration"]["enabled"], false);
    let corp = rules.iter().find(|r| r["id"] == "corp/token").unwrap();
    assert_eq!(corp["defaultConfiguration"]["level"], "note");
}

#[test]
fn explicit_config_and_discovery_boundary() {
    let tmp = tempfile::tempdir().unwrap();
    let outer = tmp.path();
    // A config above the repository root is not used.
    write(outer, ".sopsguard.toml", "[rules]\n\"age/identity\" = \"off\"\n");
    let repo = outer.join("repo");
    std::fs::create_dir_all(repo.join(".git")).unwrap();
    write(&repo, "keys.txt", &age_identity("boundary"));
    let (_, list, _) = findings(&repo, &[]);
    assert_eq!(list, ["error age/identity keys.txt"]);
    // --config names it explicitly.
    let (code, list, _) = findings(&repo, &["--config", "../.sopsguard.toml"]);
    assert_eq!((code, list), (0, Vec::new()));
    // --config and --isolated conflict.
    let (code, _, err) = run(&repo, &["scan", "--config", "x.toml", "--isolated"]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot be used with"), "{err}");
}

#[test]
fn unknown_key_and_bad_values_point_into_the_file() {
    let tmp = repo();
    let d = tmp.path();
    write(d, ".sopsguard.toml", "exclude = [\"vendor/\"]\ncolour = \"red\"\nmax-file-size = \"huge\"\n\n[rules]\n\"age/identiti\" = \"note\"\n\"age/identity\" = \"loud\"\n");
    let (code, out, err) = run(d, &["scan"]);
    assert_eq!(code, 2, "{out}");
    assert!(err.contains("3 problems in the configuration"), "{err}");
    for expected in [
        "unknown key `…`",
        "[.sopsguard.toml:2:1]",
        "`…` is not a size",
        "[.sopsguard.toml:3:17]",
        "invalid setting for rule `age/identity`",
        "[.sopsguard.toml:7:18]",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
    // Once the values are valid, the unknown rule id is reported with a suggestion.
    write(d, ".sopsguard.toml", "[rules]\n\"age/identiti\" = \"note\"\n");
    let (code, _, err) = run(d, &["scan"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("unknown rule `age/identiti`") && err.contains("did you mean `age/identity`?"),
        "{err}"
    );
    assert!(err.contains("[.sopsguard.toml:2:1]"), "{err}");
    // A TOML syntax error is a diagnostic too.
    write(d, ".sopsguard.toml", "exclude = [\"a\"\n");
    let (code, _, err) = run(d, &["scan"]);
    assert_eq!(code, 2);
    assert!(err.contains("invalid TOML") && err.contains(".sopsguard.toml:"), "{err}");
}

#[test]
fn bad_regex_in_the_rules_directory_points_into_the_rule_file() {
    let tmp = repo();
    let d = tmp.path();
    write(d, ".sopsguard.toml", "rules-dir = \"rules\"\n");
    write(
        d,
        "rules/bad.yaml",
        "rules:\n  - id: corp/bad\n    title: Bad\n    keywords: [\"corp-\"]\n    regex: 'CORP-(unclosed'\n    docs: {what: a, why: b, fix: c}\n    examples: {hit: [\"CORP-x\"]}\n",
    );
    let (code, _, err) = run(d, &["scan"]);
    assert_eq!(code, 2);
    assert!(err.contains("1 problem in the rule files"), "{err}");
    assert!(err.contains("invalid regex"), "{err}");
    assert!(err.contains("rules/bad.yaml"), "{err}");
    // The line is shown with the file's own words masked: a rule file is never quoted.
    assert!(err.contains("5 │     regex: '**************'"), "shows the masked line: {err}");
    // A missing directory points at the setting.
    write(d, ".sopsguard.toml", "rules-dir = \"nope\"\n");
    let (code, _, err) = run(d, &["scan"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("rules directory `…` does not exist") && err.contains(".sopsguard.toml:1:13"),
        "{err}"
    );
}

#[test]
fn sops_yaml_merge_keys_give_creation_rules_their_keys() {
    use sopsguard::sops::testkit::{self, Options, Rule};
    use sopsguard::sops::StoreKind;
    // Issue 14, class 1: the recipients live in an anchor merged into each creation rule, as
    // sops (go-yaml v3) resolves it.
    let (_, r1) = testkit::generate_identity();
    let (_, r2) = testkit::generate_identity();
    let dir = repo();
    write(
        dir.path(),
        ".sops.yaml",
        &format!(
            "x-defaults: &defaults\n  encrypted_regex: ^(data|stringData)$\n  key_groups:\n    - age: [{r1}]\ncreation_rules:\n  - <<: *defaults\n    path_regex: ^apps/\n"
        ),
    );
    let secret =
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: merge-Keys-Value-77\n";
    let enc = |r: &str| {
        let opts = Options::age(&[r]).with_rule(Rule::EncryptedRegex("^(data|stringData)$".into()));
        String::from_utf8(testkit::encrypt(StoreKind::Yaml, secret.as_bytes(), &opts).expect("encrypt"))
            .expect("utf8")
    };
    write(dir.path(), "apps/good.sops.yaml", &enc(&r1.to_string()));
    write(dir.path(), "apps/stale.sops.yaml", &enc(&r2.to_string()));
    let (_, rules, v) = findings(dir.path(), &[]);
    let at = |path: &str| {
        v["findings"]
            .as_array()
            .map(|a| a.iter().filter(|f| f["path"] == path && f["rule"] == "sops/recipients").count())
            .unwrap_or(0)
    };
    assert_eq!(at("apps/good.sops.yaml"), 0, "{rules:?}");
    assert!(at("apps/stale.sops.yaml") > 0, "the check runs: {rules:?}");
}
