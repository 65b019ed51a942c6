//! Precision (issue 14): what a maintainer would not call a finding stays out of the errors.

use crate::util::{text, Dir};

fn recipient() -> String {
    age::x25519::Identity::generate().to_public().to_string()
}

/// A syntactically valid PEM body of random base64 (no real certificate or key).
fn pem_block(label: &str) -> String {
    let body: String = (0..3).map(|i| format!("{}\n", format!("MIIB{i}").repeat(13))).collect();
    format!("-----BEGIN {label}-----\n{body}-----END {label}-----\n")
}

/// Class 2: a directory-wide creation rule covers public material too; certificates, public
/// keys, `known_hosts` and age recipients are public, so at most a note. A bare secret beside
/// them stays an error.
#[test]
fn public_material_under_a_directory_rule_is_no_error() {
    let dir = Dir::new();
    let r = recipient();
    dir.write(".sops.yaml", format!("creation_rules:\n  - path_regex: secrets/.*\n    age: {r}\n"));
    let blob = format!("AAAAC3NzaC1lZDI1NTE5AAAAI{}", "Qx7".repeat(15));
    dir.write("secrets/id_ed25519.pub", format!("ssh-ed25519 {blob} ops@example\n"));
    dir.write("secrets/known_hosts", format!("github.com,140.82.112.3 ssh-ed25519 {blob}\n"));
    dir.write("secrets/ca.crt", pem_block("CERTIFICATE"));
    dir.write("secrets/signing.pem", pem_block("PUBLIC KEY"));
    dir.write("secrets/recipients.txt", format!("# alice\n{r}\n# bob\n{}\n", recipient()));
    dir.write(
        "secrets/ca.yaml",
        format!("caBundle: |\n  {}", pem_block("CERTIFICATE").replace('\n', "\n  ")),
    );
    // Not public: a private key after a certificate, and a bare random secret.
    dir.write(
        "secrets/tls-bundle.pem",
        format!("{}{}", pem_block("CERTIFICATE"), pem_block("EC PRIVATE KEY")),
    );
    dir.write("secrets/db-password.txt", "Zk3q8Zt3kP0vX2mR7bN1cY6wLs9\n");
    let run = dir.run(&["scan", "--format", "json"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let mut errors: Vec<(String, String)> = run.each_finding(|f| (text(&f["path"]), text(&f["severity"])));
    errors.retain(|(_, s)| s != "note");
    errors.sort();
    let paths: Vec<&str> = errors.iter().map(|(p, _)| p.as_str()).collect();
    assert!(paths.contains(&"secrets/db-password.txt"), "{errors:?}");
    assert!(paths.contains(&"secrets/tls-bundle.pem"), "{errors:?}");
    for public in ["id_ed25519.pub", "known_hosts", "ca.crt", "signing.pem", "recipients.txt", "ca.yaml"] {
        assert!(!paths.contains(&format!("secrets/{public}").as_str()), "{public}: {errors:?}");
    }
}

/// Class 5: keys in vendored code and test fixtures are still reported, marked as fixtures, as
/// notes by default (below `--fail-on warning`); `fixtures = "error"` reports them like any other.
#[test]
fn fixtures_are_marked_and_lowered_never_dropped() {
    let dir = Dir::new();
    let key = crate::util::age_identity();
    dir.write("ansible_collections/acme/sops/tests/unit/keys.txt", format!("{key}\n"));
    dir.write("vendor/github.com/x/y/testdata/key.txt", format!("{key}\n"));
    dir.write("cluster/keys.txt", format!("{key}\n"));
    let run = dir.run(&["scan", "--format", "json"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let found: Vec<(String, String, bool)> = run.each_finding(|f| {
        (text(&f["path"]), text(&f["severity"]), f["properties"]["fixture"].as_bool().unwrap_or(false))
    });
    assert_eq!(found.len(), 3, "{found:?}");
    for (path, severity, fixture) in &found {
        let expect_fixture = !path.starts_with("cluster/");
        assert_eq!(*fixture, expect_fixture, "{path}");
        assert_eq!(severity, if expect_fixture { "note" } else { "error" }, "{path}");
    }
    // Only fixtures: exit 0 under the default --fail-on warning, but the findings are listed.
    std::fs::remove_file(dir.path().join("cluster/keys.txt")).expect("remove");
    let run = dir.run(&["scan"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("a fixture") || run.stderr.contains("a fixture"),
        "{}{}",
        run.stdout,
        run.stderr
    );
    // The switch.
    dir.write(".sopsguard.toml", "fixtures = \"error\"\n");
    let run = dir.run(&["scan", "--format", "json"]);
    assert_eq!(run.code, 1);
    assert!(run.each_finding(|f| text(&f["severity"])).iter().all(|s| s == "error"));
    dir.write(".sopsguard.toml", "fixtures = \"loud\"\n");
    assert_eq!(dir.run(&["scan"]).code, 2);
}

fn sops_file(plain: &str, recipients: &[&str]) -> Vec<u8> {
    use sopsguard::sops::testkit::{self, Options};
    testkit::encrypt(sopsguard::sops::StoreKind::Yaml, plain.as_bytes(), &Options::age(recipients))
        .expect("encrypt")
}

/// Class 8: the recipient changes of one file are one diagnostic; rotation advice only when a
/// recipient the rule dropped can still decrypt; a labelled span does not repeat its source.
#[test]
fn human_output_groups_recipients_and_advises_per_case() {
    let dir = Dir::new();
    let (a, b, c) = (recipient(), recipient(), recipient());
    dir.write(".sops.yaml", format!("creation_rules:\n  - path_regex: apps/.*\n    age: {a},{b}\n"));
    // Encrypted to a and c: b is missing, c is extra.
    dir.write("apps/both.yaml", sops_file("password: hunter2-hunter2\n", &[&a, &c]));
    // Encrypted to a only: b is missing, nothing to rotate.
    dir.write("apps/missing.yaml", sops_file("password: hunter2-hunter2\n", &[&a]));
    let run = dir.run(&["scan", "--color", "never"]);
    let out = format!("{}{}", run.stdout, run.stderr);
    assert_eq!(out.lines().filter(|l| l.trim() == "sops/recipients").count(), 2, "{out}");
    assert!(out.contains("2 recipient changes for this file"), "{out}");
    // Diagnostics in path order: both.yaml (missing and extra), then missing.yaml (missing only).
    let (both, missing) = out.split_at(out.find("apps/missing.yaml").expect("missing.yaml"));
    assert!(both.contains("then rotate the data key"), "{out}");
    assert!(!missing.contains("rotate"), "{missing}");
    assert!(missing.contains("it re-encrypts the data key"), "{missing}");
    // The label under `sops` does not say `sops` again.
    assert!(!out.contains("── sops"), "{out}");
    // JSON keeps one finding per change.
    let json = dir.run(&["scan", "--format", "json"]);
    let changes: Vec<String> =
        json.each_finding(|f| text(&f["rule"])).into_iter().filter(|r| r == "sops/recipients").collect();
    assert_eq!(changes.len(), 3, "{}", json.stdout);
}

/// Class 8: a file sops reads with the binary store is in plaintext as a whole, not "`data`".
#[test]
fn binary_store_files_are_plaintext_as_a_whole() {
    let dir = Dir::new();
    dir.write("creds.sops.txt", "Zk3q8Zt3kP0vX2mR7bN1cY6wLs9\n");
    let run = dir.run(&["scan", "--format", "json"]);
    let messages = run.each_finding(|f| (text(&f["rule"]), text(&f["message"])));
    let named: Vec<&String> =
        messages.iter().filter(|(r, _)| r == "sops/named-but-plain").map(|(_, m)| m).collect();
    assert_eq!(named.len(), 1, "{messages:?}");
    assert!(named[0].contains("the whole file is in plaintext"), "{named:?}");
    assert!(!named[0].contains("`data`"), "{named:?}");
}

/// Issue 15, disagreement 7: keys sops ignores in a creation rule are warnings, and rules are
/// selected as sops selects them (a rule with only `filename_regex` has no `path_regex`).
#[test]
fn keys_sops_ignores_in_a_creation_rule_are_warnings() {
    let dir = Dir::new();
    let r = recipient();
    dir.write(
        ".sops.yaml",
        format!("creation_rules:\n  - filename_regex: secrets/.*\n    age: {r}\n    hc_vault_uris: x\n    AGE-SECRET-KEY-NOT-A-KEY: 1\n"),
    );
    let run = dir.run(&["scan", "--format", "json"]);
    let found = run.each_finding(|f| (text(&f["rule"]), text(&f["severity"]), text(&f["message"])));
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(found.iter().all(|(r, s, _)| r == "sops/config-invalid" && s == "warning"), "{found:?}");
    assert!(found[0].2.contains("`filename_regex` (removed in sops 3.4.0), so this rule has no `path_regex` and matches every file"), "{found:?}");
    assert!(found[1].2.contains("does not read `hc_vault_uris`"), "{found:?}");
    // A key that is no key name is not quoted in the message.
    assert!(found[2].2.contains("does not read this key") && !found[2].2.contains("NOT-A-KEY"), "{found:?}");
}

/// Class 3: prose under a directory-wide rule (a README beside the encrypted files) is
/// documentation, not a bare secret; a token inside it, or a lone passphrase line, still is.
#[test]
fn prose_under_a_directory_rule_is_no_error() {
    let dir = Dir::new();
    let r = recipient();
    dir.write(".sops.yaml", format!("creation_rules:\n  - path_regex: .*/secrets/.*\n    age: {r}\n"));
    dir.write(
        "hubs/a/secrets/README.md",
        "# Secrets\n\nRun `sops --decrypt enc-deployer.secret.json` with access to the KMS key.\nAsk the on-call engineer for access.\n",
    );
    dir.write("hubs/a/secrets/NOTES.txt", "rotated by the platform team every quarter\nsee the runbook\n");
    let token = format!("{}{}", "Zk3q8Zt3kP0vX2mR7bN1cY6wLs9", "Qa4Te7Ub");
    dir.write("hubs/b/secrets/README.md", format!("# Access\n\nUse the token {token} to log in.\n"));
    dir.write("hubs/c/secrets/passphrase.txt", "correct horse battery staple\n");
    let run = dir.run(&["scan", "--format", "json"]);
    let mut errors: Vec<String> = run
        .each_finding(|f| (text(&f["severity"]) != "note").then(|| text(&f["path"])))
        .into_iter()
        .flatten()
        .collect();
    errors.sort();
    assert_eq!(errors, ["hubs/b/secrets/README.md", "hubs/c/secrets/passphrase.txt"], "{}", run.stdout);
}

/// Class 6: a tool run that broke every encrypted value of a file (each one an empty `ENC[]`)
/// is one `sops/malformed` finding with the count, not one per value.
#[test]
fn every_value_broken_is_one_malformed_finding() {
    let dir = Dir::new();
    let r = recipient();
    dir.write(".sops.yaml", format!("creation_rules:\n  - path_regex: talos/.*\n    age: {r}\n"));
    let good = String::from_utf8(sops_file("a: x1\nb: x2\nc: x3\nd: x4\ne: x5\n", &[&r])).unwrap();
    let broken: String = good
        .lines()
        .map(|l| match (l.find("ENC["), l.starts_with("    mac:")) {
            (Some(at), false) if !l.trim_start().starts_with("mac") => format!("{}ENC[]\n", &l[..at]),
            _ => format!("{l}\n"),
        })
        .collect();
    dir.write("talos/talenv.sops.yaml", broken);
    let run = dir.run(&["scan", "--format", "json"]);
    let malformed: Vec<String> = run
        .each_finding(|f| (text(&f["rule"]) == "sops/malformed").then(|| text(&f["message"])))
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(malformed.len(), 1, "{}", run.stdout);
    assert!(malformed[0].contains("and 4 more encrypted values that do not parse"), "{malformed:?}");
}

/// Class 4: a file named like sops output but left in clear whose values are a tutorial's dummy
/// value and a URL is a note (worth knowing, nothing to rotate); one with a real-looking
/// password stays an error.
#[test]
fn a_sops_named_file_with_only_dummy_values_is_a_note() {
    let dir = Dir::new();
    let r = recipient();
    dir.write(".sops.yaml", format!("creation_rules:\n  - path_regex: .*\\.enc\\.yaml$\n    encrypted_regex: ^(data|stringData)$\n    age: {r}\n"));
    let secret = |body: &str| {
        format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: hook\ntype: Opaque\nstringData:\n{body}")
    };
    dir.write(
        "a/secret.enc.yaml",
        secret(
            "  DISCORD_WEBHOOKURL: \"abc123\"\n  WEBUI_URL: http://ui.monitoring.svc.cluster.local:2802\n",
        ),
    );
    let password = format!("{}{}", "Tq8vZ2kLp0", "Xr7mN3");
    dir.write("b/secret.enc.yaml", secret(&format!("  DB_PASSWORD: {password}\n")));
    let run = dir.run(&["scan", "--format", "json"]);
    let got = run.each_finding(|f| (text(&f["path"]), text(&f["rule"]), text(&f["severity"])));
    assert!(
        got.contains(&("a/secret.enc.yaml".into(), "sops/named-but-plain".into(), "note".into())),
        "{got:?}"
    );
    assert!(
        got.contains(&("b/secret.enc.yaml".into(), "sops/named-but-plain".into(), "error".into())),
        "{got:?}"
    );
}

/// Class 3: under a broad or unanchored `path_regex`, templates whose values are template
/// expressions, JSON Schema files, Terraform code reading sops and Markdown pages are not
/// `sops/not-encrypted` errors; a plain manifest with a password under the same rule is, once
/// per file, however many values it holds.
#[test]
fn templates_schemas_code_and_docs_under_a_broad_rule_are_no_error() {
    let dir = Dir::new();
    let r = recipient();
    dir.write(".sops.yaml", format!("creation_rules:\n  - path_regex: .*secret.*\n    age: {r}\n"));
    dir.write(
        "bootstrap/github-secret.yaml.j2",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: github\nstringData:\n  token: \"{{ ENV.GITHUB_TOKEN }}\"\n  key: \"{{ ENV.SOPS_PRIVATE_KEY }}\"\n",
    );
    dir.write(
        "schemas/secret.schema.json",
        "{\"$schema\": \"http://json-schema.org/draft-07/schema#\", \"type\": \"object\", \"properties\": {\"password\": {\"type\": \"string\", \"description\": \"The password\"}}}\n",
    );
    dir.write(
        "terraform/secrets.sops.tf",
        "data \"sops_file\" \"secrets\" {\n  source_file = \"secrets.sops.yaml\"\n}\n",
    );
    dir.write(
        "docs/secrets.md",
        "# Secrets\n\nEvery secret is encrypted with sops before it is committed.\n",
    );
    let a = format!("{}{}", "Lw9xQ2vT7pK3", "mZ8rN5");
    let b = format!("{}{}", "Hq4sV8cJ1yB6", "tR2nX7");
    dir.write("apps/db-secret.yaml", format!("user: app\npassword: {a}\ntoken: {b}\n"));
    let run = dir.run(&["scan", "--format", "json"]);
    let errors =
        run.each_finding(|f| (text(&f["severity"]) != "note").then(|| (text(&f["path"]), text(&f["rule"]))));
    let errors: Vec<_> = errors.into_iter().flatten().collect();
    assert!(errors.iter().all(|e| e.0 == "apps/db-secret.yaml"), "{}", run.stdout);
    let not_encrypted = errors.iter().filter(|e| e.1 == "sops/not-encrypted").count();
    assert_eq!(not_encrypted, 1, "{}", run.stdout);
}

/// Class 7: `sops/rule-drift` is a warning when the file leaves in clear a value its creation
/// rule would encrypt (naming it and what the rule says), and no finding when the file encrypts
/// more than the rule asks.
#[test]
fn rule_drift_is_a_warning_only_when_a_value_the_rule_encrypts_is_in_clear() {
    use sopsguard::sops::testkit::{self, Options, Rule};
    let dir = Dir::new();
    let r = recipient();
    dir.write(
        ".sops.yaml",
        format!("creation_rules:\n  - path_regex: \\.sops\\.yaml$\n    encrypted_regex: ^(data|stringData)$\n    age: {r}\n"),
    );
    let secret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: app\nstringData:\n  password: drift-Value-81x\n  session: another-Value-22y\n";
    let enc = |opts: &Options| {
        String::from_utf8(
            testkit::encrypt(sopsguard::sops::StoreKind::Yaml, secret.as_bytes(), opts).expect("encrypt"),
        )
        .unwrap()
    };
    // Encrypted under an older, narrower rule: `stringData.session` stays in clear.
    dir.write(
        "narrow.sops.yaml",
        enc(&Options::age(&[&r]).with_rule(Rule::EncryptedRegex("^password$".into()))),
    );
    // Encrypted whole (sops' default): more than the rule asks.
    dir.write("whole.sops.yaml", enc(&Options::age(&[&r])));
    let run = dir.run(&["scan", "--format", "json"]);
    let drift = run.each_finding(|f| {
        (text(&f["rule"]) == "sops/rule-drift")
            .then(|| (text(&f["path"]), text(&f["severity"]), text(&f["message"])))
    });
    let drift: Vec<_> = drift.into_iter().flatten().collect();
    assert_eq!(drift.len(), 1, "{}", run.stdout);
    assert_eq!((drift[0].0.as_str(), drift[0].1.as_str()), ("narrow.sops.yaml", "warning"));
    assert!(drift[0].2.contains("stringData.session"), "{}", drift[0].2);
    assert!(
        drift[0].2.contains("^(data|stringData)$") && !drift[0].2.contains("_unencrypted"),
        "{}",
        drift[0].2
    );
}

/// What already held keeps holding: a broad `path_regex` with `encrypted_regex:
/// ^(data|stringData)$` over hundreds of plain manifests that are not Secrets gives no finding.
#[test]
fn a_broad_rule_over_hundreds_of_plain_manifests_gives_no_finding() {
    let dir = Dir::new();
    let r = recipient();
    dir.write(
        ".sops.yaml",
        format!("creation_rules:\n  - path_regex: .*\\.ya?ml$\n    encrypted_regex: ^(data|stringData)$\n    age: {r}\n"),
    );
    for i in 0..300 {
        let body = match i % 4 {
            0 => format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app{i}\nspec:\n  replicas: 2\n  template:\n    spec:\n      containers:\n        - name: app\n          image: ghcr.io/example/app:1.{i}.0\n          env:\n            - name: PASSWORD\n              valueFrom:\n                secretKeyRef:\n                  name: app{i}\n                  key: password\n"),
            1 => format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg{i}\ndata:\n  LOG_LEVEL: info\n  TZ: Europe/Paris\n  URL: https://app{i}.example.com\n"),
            2 => format!("apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: rel{i}\nspec:\n  chart:\n    spec:\n      chart: app\n      version: 1.2.{i}\n  values:\n    existingSecret: rel{i}-secret\n    auth:\n      existingSecretPasswordKey: password\n"),
            _ => format!("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - app{i}.yaml\n"),
        };
        dir.write(&format!("apps/a{}/f{i}.yaml", i % 9), body);
    }
    let run = dir.run(&["scan", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.json()["findings"].as_array().map(Vec::len), Some(0), "{}", run.stdout);
}
