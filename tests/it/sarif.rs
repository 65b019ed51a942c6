//! `--format sarif`: a snapshot over a fixture with a finding of every rule, GitHub's required
//! fields, the separate run for git findings, and GitHub's limits.
//!
//! The fixture is also what `tests/e2e/sarif-multitool.sh` validates with Microsoft's SARIF
//! Multitool: `SOPSGUARD_FIXTURE_DIR=DIR cargo test --test it write_every_rule_fixture -- --ignored`.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

use sha2::{Digest, Sha256};
use sopsguard::finding::{Provenance, Severity};
use sopsguard::report::sarif::{Sarif, ScanKind};
use sopsguard::report::Emitter;
use sopsguard::rules::Registry;
use sopsguard::scan::{Engine, ScanOptions, ScanReport};
use sopsguard::sops::{ConfigSet, Identities};
use sopsguard::source::Problem;

/// The binary, with an environment that does not depend on the caller's.
pub fn sopsguard(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sopsguard"));
    c.current_dir(dir)
        .env_remove("PRE_COMMIT")
        .env_remove("SOPSGUARD_FINGERPRINT_KEY")
        .env_remove("SOPS_AGE_SSH_PRIVATE_KEY_FILE")
        .env_remove("SOPSGUARD_PGP_PASSPHRASE")
        .env("NO_COLOR", "1");
    c
}

/// Runs the binary and returns (exit code, stdout, stderr).
pub fn run(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let Output { status, stdout, stderr } = sopsguard(dir).args(args).output().expect("run sopsguard");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

/// A valid age identity derived from `seed` (deterministic, so fingerprints are stable).
pub fn age_identity(seed: &str) -> String {
    let bytes = Sha256::digest(seed.as_bytes());
    let hrp = bech32::Hrp::parse("age-secret-key-").expect("valid hrp");
    bech32::encode_upper::<bech32::Bech32>(hrp, &bytes).expect("32 bytes encode")
}

/// The same identity with one payload character changed: a bad checksum.
pub fn age_identity_bad_checksum(seed: &str) -> String {
    let mut b = age_identity(seed).into_bytes();
    let i = b.len() - 3;
    b[i] = if b[i] == b'Q' { b'P' } else { b'Q' };
    String::from_utf8(b).expect("ascii")
}

/// Expands the age placeholders of rule examples; `None` for examples with other placeholders.
fn expand(content: &str, seed: &str) -> Option<String> {
    let s = content
        .replace("{{age-identity}}", &age_identity(seed))
        .replace("{{age-identity-lowercase}}", &age_identity(seed).to_ascii_lowercase())
        .replace("{{age-identity-bad-checksum}}", &age_identity_bad_checksum(seed));
    let s = crate::util::expand_placeholders(&s);
    let generator_placeholder = s.match_indices("{{").any(|(i, _)| {
        s[i + 2..].split("}}").next().is_some_and(|inner| {
            !inner.is_empty()
                && inner.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
    });
    (!generator_placeholder).then_some(s)
}

/// The committed SOPS fixtures (made with the SOPS engine's test encryptor).
fn sops_fixture(rel: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sops").join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The recipients of the committed fixture identities, in `keys.txt` order.
fn fixture_recipients() -> Vec<String> {
    sops_fixture("keys.txt")
        .lines()
        .filter_map(|l| l.strip_prefix("# public key: "))
        .map(|l| l.split_whitespace().next().unwrap_or("").to_owned())
        .collect()
}

/// Files for the SOPS rules that need more than one file or an identity: `(path, content)`.
/// With the identity of the second fixture key, `default.sops.yaml` (encrypted to the first key
/// only) cannot be opened and `k8s-secret.sops.yaml` (both keys) can.
fn sops_cases() -> Vec<(String, String)> {
    let r = fixture_recipients();
    let default = sops_fixture("yaml/default.sops.yaml");
    let k8s = sops_fixture("yaml/k8s-secret.sops.yaml");
    let k8s_rule = format!(
        "creation_rules:\n  - path_regex: k8s-secret\\.sops\\.yaml$\n    encrypted_regex: '^(data|stringData)$'\n    age: {},{}\n",
        r[0], r[1]
    );
    let rule = |regex: &str, extra: &str, recipient: &str| {
        format!("creation_rules:\n  - path_regex: {regex}\n{extra}    age: {recipient}\n")
    };
    // Two ENC values swapped: each fails to decrypt under its new path.
    let enc = |line: &str| line.split_once(": ").map(|(_, v)| v.to_owned()).unwrap_or_default();
    let username =
        k8s.lines().find(|l| l.trim_start().starts_with("username: ")).map(enc).unwrap_or_default();
    let password =
        k8s.lines().find(|l| l.trim_start().starts_with("password: ")).map(enc).unwrap_or_default();
    let swapped =
        k8s.replace(&username, "@USERNAME@").replace(&password, &username).replace("@USERNAME@", &password);
    let relabelled =
        k8s.replace("lastmodified: \"2026-01-02T03:04:05Z\"", "lastmodified: \"2026-01-02T03:04:06Z\"");
    assert_ne!(relabelled, k8s, "the fixture's lastmodified changed: update this recipe");
    vec![
        ("sops-not-encrypted/.sops.yaml".into(), rule("secret\\.yaml$", "", &r[0])),
        ("sops-not-encrypted/secret.yaml".into(), "database:\n  password: hunter2-plain\n".into()),
        ("sops-config-invalid/.sops.yaml".into(), "creation_rules: 5\n".into()),
        ("sops-orphan/.sops.yaml".into(), rule("^nothing-matches$", "", &r[0])),
        ("sops-orphan/default.sops.yaml".into(), default.clone()),
        ("sops-recipients/.sops.yaml".into(), rule("default\\.sops\\.yaml$", "", &r[2])),
        ("sops-recipients/default.sops.yaml".into(), default.clone()),
        // The rule now also wants `metadata` encrypted, which the file leaves in clear.
        (
            "sops-rule-drift/.sops.yaml".into(),
            k8s_rule.replace("^(data|stringData)$", "^(data|stringData|metadata)$"),
        ),
        ("sops-rule-drift/k8s-secret.sops.yaml".into(), k8s.clone()),
        ("sops-mac-mismatch/.sops.yaml".into(), k8s_rule.clone()),
        ("sops-mac-mismatch/k8s-secret.sops.yaml".into(), relabelled),
        ("sops-value-tampered/.sops.yaml".into(), k8s_rule),
        ("sops-value-tampered/k8s-secret.sops.yaml".into(), swapped),
    ]
}

/// The identity file written next to the fixture (the second fixture key, its line allowed).
pub const FIXTURE_IDENTITY: &str = ".identity.txt";

/// Writes a directory with a finding of every rule: each rule's first usable `examples.hit` in
/// `dir/<group>-<name>/<path>`, plus [`sops_cases`] and the identity file [`FIXTURE_IDENTITY`]
/// (scan with `--identity .identity.txt`). Checks that a scan of the whole directory reports every
/// rule. Returns the files written.
pub fn write_every_rule_fixture(dir: &Path) -> Vec<String> {
    let registry = Registry::builtin();
    let engine = Engine::builtin(ScanOptions::default(), Identities::none());
    let configs = ConfigSet::new(Vec::new(), None);
    let mut written = Vec::new();
    let mut put = |rel: &str, content: &str| {
        let file = dir.join(rel);
        std::fs::create_dir_all(file.parent().expect("has a parent")).expect("mkdir");
        std::fs::write(&file, content).expect("write fixture");
        written.push(rel.to_owned());
    };
    for rule in registry.rules() {
        let found = rule.hit_examples.iter().find_map(|ex| {
            let content = expand(&ex.content, &rule.id)?;
            let r = engine.scan_blob(&ex.path, content.as_bytes(), &configs);
            r.findings.iter().any(|f| f.rule == rule.id).then_some((ex.path.clone(), content))
        });
        if let Some((path, content)) = found {
            put(&format!("{}/{}", rule.id.replace('/', "-"), path), &content);
        }
    }
    for (path, content) in sops_cases() {
        put(&path, &content);
    }
    let keys = sops_fixture("keys.txt");
    let second: Vec<&str> = keys.lines().filter(|l| !l.is_empty()).skip(3).take(2).collect();
    assert!(second[0].contains("sopsguard:allow age/identity"), "keys.txt layout changed: {second:?}");
    put(FIXTURE_IDENTITY, &format!("# test-only identity of tests/fixtures/sops\n{}\n", second.join("\n")));

    let (_, out, err) = run(dir, &["scan", "--isolated", "--format", "json", "--identity", FIXTURE_IDENTITY]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {err}"));
    let found: BTreeSet<&str> =
        v["findings"].as_array().unwrap().iter().map(|f| f["rule"].as_str().unwrap()).collect();
    let missing: Vec<&str> =
        registry.rules().iter().map(|r| r.id.as_str()).filter(|id| !found.contains(id)).collect();
    assert!(missing.is_empty(), "rules without a finding in the fixture: {missing:?}");
    written
}

fn sarif_of(dir: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["scan", "--format", "sarif", "--isolated", "--identity", FIXTURE_IDENTITY];
    args.extend_from_slice(extra);
    let (code, out, err) = run(dir, &args);
    assert_eq!(code, 1, "findings exit 1; stderr: {err}");
    serde_json::from_str(&out).expect("SARIF is JSON")
}

#[test]
fn snapshot_of_every_rule() {
    let tmp = tempfile::tempdir().unwrap();
    write_every_rule_fixture(tmp.path());
    let mut sarif = sarif_of(tmp.path(), &[]);
    for run in sarif["runs"].as_array_mut().unwrap() {
        run["tool"]["driver"]["version"] = "[version]".into();
        run["tool"]["driver"]["semanticVersion"] = "[version]".into();
    }
    insta::assert_json_snapshot!(sarif);
}

#[test]
fn github_required_fields_and_no_secret() {
    let tmp = tempfile::tempdir().unwrap();
    write_every_rule_fixture(tmp.path());
    let sarif = sarif_of(tmp.path(), &[]);
    let text = sarif.to_string();
    for seed in Registry::builtin().rules().iter().map(|r| r.id.clone()) {
        let key = age_identity(&seed);
        assert!(
            !text.contains(&key[16..]) && !text.contains(&key[16..].to_ascii_lowercase()),
            "secret in SARIF"
        );
    }
    assert!(!text.contains("hunter22"), "secret in SARIF");
    assert_eq!(sarif["version"], "2.1.0");
    let runs = sarif["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "a working-tree scan has one run");
    let run = &runs[0];
    assert_eq!(run["automationDetails"]["id"], "sopsguard/");
    assert_eq!(run["invocations"][0]["executionSuccessful"], true);
    let driver = &run["tool"]["driver"];
    assert_eq!(driver["name"], "sopsguard");
    assert!(driver["informationUri"].as_str().unwrap().starts_with("https://"));
    let rules = driver["rules"].as_array().unwrap();
    let ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "rules are sorted");
    for r in rules {
        for field in ["/shortDescription/text", "/fullDescription/text", "/help/text", "/help/markdown"] {
            assert!(
                !r.pointer(field).and_then(|v| v.as_str()).unwrap_or("").is_empty(),
                "{field} of {}",
                r["id"]
            );
        }
        assert!(["error", "warning", "note"].contains(&r["defaultConfiguration"]["level"].as_str().unwrap()));
        let tags = r["properties"]["tags"].as_array().unwrap();
        assert!(tags.iter().any(|t| t == "security") && tags.len() <= 20);
        let sev: f64 = r["properties"]["security-severity"].as_str().expect("a string").parse().unwrap();
        assert!((0.0..=10.0).contains(&sev));
    }
    let results = run["results"].as_array().unwrap();
    let with_results: BTreeSet<&str> = results.iter().map(|r| r["ruleId"].as_str().unwrap()).collect();
    assert_eq!(with_results, ids.iter().copied().collect(), "a result for every rule");
    for r in results {
        let i = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[i]["id"], r["ruleId"]);
        assert!(r["message"]["text"].as_str().unwrap().ends_with('.'));
        let locs = r["locations"].as_array().unwrap();
        assert_eq!(locs.len(), 1);
        let region = &locs[0]["physicalLocation"]["region"];
        for k in ["startLine", "startColumn", "endLine", "endColumn"] {
            assert!(region[k].as_u64().unwrap() >= 1, "{k}");
        }
        let uri = locs[0]["physicalLocation"]["artifactLocation"]["uri"].as_str().unwrap();
        assert!(!uri.starts_with('/') && !uri.contains("://"), "relative URI: {uri}");
        assert_eq!(r["partialFingerprints"]["sopsguard/v1"].as_str().unwrap().len(), 32);
        assert!(
            r["partialFingerprints"].get("primaryLocationLineHash").is_none(),
            "upload-sarif computes it"
        );
    }
}

/// The engine's findings for `files`, with `provenance` on every finding.
fn report_of(files: &[(&str, String)], provenance: Option<Provenance>) -> ScanReport {
    let engine = Engine::builtin(ScanOptions::default(), Identities::none());
    let configs = ConfigSet::new(Vec::new(), None);
    let mut report = ScanReport::default();
    for (path, content) in files {
        let mut r = engine.scan_blob(path, content.as_bytes(), &configs);
        for f in &mut r.findings {
            f.provenance = provenance.clone();
        }
        report.add(content.len() as u64, r);
    }
    report.sort();
    report
}

fn emit(sarif: &Sarif, report: &ScanReport) -> serde_json::Value {
    let mut buf = Vec::new();
    sarif.emit(&mut buf, report, &Registry::builtin()).unwrap();
    serde_json::from_slice(&buf).unwrap()
}

fn commit() -> Provenance {
    Provenance {
        source: "commit".into(),
        blob: Some("b".repeat(40)),
        commit: Some("c".repeat(40)),
        author: Some("Ada <ada@example.com>".into()),
        date: Some("2024-05-01T10:00:00Z".into()),
        ..Provenance::default()
    }
}

#[test]
fn git_findings_have_their_own_run_and_category() {
    let key = age_identity("git");
    let mut report = report_of(&[("old/keys.txt", key.clone())], Some(commit()));
    let current = report_of(&[("keys.txt", key)], None);
    report.findings.extend(current.findings);
    report.sort();

    let files = emit(&Sarif::default(), &report);
    let ids: Vec<&str> = files["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["automationDetails"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["sopsguard/", "sopsguard/history/"]);
    let git = &files["runs"][1]["results"][0];
    assert_eq!(git["properties"]["commit"], "c".repeat(40));
    assert_eq!(git["properties"]["author"], "Ada <ada@example.com>");
    assert_eq!(git["properties"]["date"], "2024-05-01T10:00:00Z");
    let fp = git["partialFingerprints"]["sopsguard/v1"].as_str().unwrap();
    assert_eq!(git["partialFingerprints"]["primaryLocationLineHash"], format!("{fp}:1"));
    assert!(files["runs"][0]["results"][0]["properties"].get("commit").is_none());

    // A range scan writes only its own run when it has no working-tree findings: an empty
    // `sopsguard/` run would close the alerts of the last working-tree upload.
    let range_only = report_of(&[("old/keys.txt", age_identity("range"))], Some(commit()));
    let range = emit(&Sarif { scan: ScanKind::Range, ..Sarif::default() }, &range_only);
    let ids: Vec<&str> = range["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["automationDetails"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["sopsguard/range/"]);
    // A clean history scan still writes its run, so fixed alerts close.
    let clean = emit(&Sarif { scan: ScanKind::History, ..Sarif::default() }, &ScanReport::default());
    assert_eq!(clean["runs"][0]["automationDetails"]["id"], "sopsguard/history/");
    assert_eq!(clean["runs"][0]["results"].as_array().unwrap().len(), 0);
}

#[test]
fn results_beyond_the_limit_are_left_out_with_a_notification() {
    let files: Vec<(String, String)> = (0..5)
        .map(|i| {
            (
                format!("k{i}.txt"),
                format!(
                    "{}\n{}\n",
                    age_identity(&format!("v{i}")),
                    age_identity_bad_checksum(&format!("b{i}"))
                ),
            )
        })
        .collect();
    let refs: Vec<(&str, String)> = files.iter().map(|(p, c)| (p.as_str(), c.clone())).collect();
    let report = report_of(&refs, None);
    assert_eq!(report.findings.len(), 10);
    let sarif = emit(&Sarif { max_results_per_run: 4, ..Sarif::default() }, &report);
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    assert!(results.iter().all(|r| r["level"] == "error"), "the most severe are kept");
    let paths: Vec<&str> = results
        .iter()
        .map(|r| r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].as_str().unwrap())
        .collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted, "kept results stay in report order");
    let notes = sarif["runs"][0]["invocations"][0]["toolExecutionNotifications"].as_array().unwrap();
    assert!(notes.iter().any(|n| n["descriptor"]["id"] == "sopsguard/results-truncated"
        && n["message"]["text"].as_str().unwrap().starts_with("4 of 10 results")));

    // The size limit: shrink until the gzipped file fits.
    let gz = |r: &ScanReport| {
        let mut buf = Vec::new();
        Sarif::default().emit(&mut buf, r, &Registry::builtin()).unwrap();
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut enc, &buf).unwrap();
        enc.finish().unwrap().len()
    };
    let (full, empty) = (gz(&report), gz(&ScanReport::default()));
    let limit = empty + (full - empty) / 2;
    let mut buf = Vec::new();
    Sarif { max_gzip_bytes: limit, ..Sarif::default() }
        .emit(&mut buf, &report, &Registry::builtin())
        .unwrap();
    let small: serde_json::Value = serde_json::from_slice(&buf).unwrap();
    let kept = small["runs"][0]["results"].as_array().unwrap().len();
    assert!(kept < 10, "kept {kept}");
    let notes = small["runs"][0]["invocations"][0]["toolExecutionNotifications"].as_array().unwrap();
    assert!(notes.iter().any(|n| n["message"]["text"].as_str().unwrap().contains("size limit")));
}

#[test]
fn problems_skips_and_notes_become_notifications() {
    let mut report = report_of(&[("s.txt", age_identity("p"))], None);
    report
        .problems
        .push(Problem { path: "broken.yaml".into(), message: "cannot read: permission denied".into() });
    report.notes.push("shallow clone: history before 2024-01-01 was not scanned".into());
    let sarif = emit(&Sarif::default(), &report);
    let inv = &sarif["runs"][0]["invocations"][0];
    assert_eq!(inv["executionSuccessful"], false);
    let notes = inv["toolExecutionNotifications"].as_array().unwrap();
    assert_eq!(notes[0]["level"], "error");
    assert_eq!(notes[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], "broken.yaml");
    assert_eq!(notes[1]["level"], "note");
    assert_eq!(report.findings[0].severity, Severity::Error);
}

#[test]
fn absolute_paths_outside_the_working_directory_get_a_checkout_path() {
    let report = report_of(&[("/elsewhere/keys.txt", age_identity("abs"))], None);
    let sarif = emit(&Sarif { working_directory: Some("/work/repo".into()), ..Sarif::default() }, &report);
    let run = &sarif["runs"][0];
    assert_eq!(
        run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "file:///elsewhere/keys.txt"
    );
    assert_eq!(run["invocations"][0]["workingDirectory"]["uri"], "file:///work/repo/");
}

/// Not a test: writes the every-rule fixture for `tests/e2e/sarif-multitool.sh`.
#[test]
#[ignore = "writes a fixture for the e2e scripts; run with SOPSGUARD_FIXTURE_DIR"]
fn write_every_rule_fixture_for_e2e() {
    let dir = std::env::var_os("SOPSGUARD_FIXTURE_DIR").expect("set SOPSGUARD_FIXTURE_DIR");
    let files = write_every_rule_fixture(Path::new(&dir));
    assert!(!files.is_empty());
}
