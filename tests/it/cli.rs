//! The CLI surface: detectors end to end, exit codes, suppression, determinism, no leaks,
//! snapshots of what users see.

use crate::util::{age_identity, Dir};

const SECRET_YAML: &str = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: prod\ndata:\n  password: aHVudGVyMjIyMg==\nstringData:\n  token: \"s3cr3t-t0ken-value\"\n";

#[test]
fn clean_tree_exits_0() {
    let dir = Dir::new();
    dir.write("app/deploy.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: a\n");
    dir.write("README.md", "Use AGE-SECRET-KEY-1... from your keys.txt\n");
    let run = dir.run(&["scan"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("scanned 2 files"), "{}", run.stderr);
}

#[test]
fn findings_exit_1_and_fail_on() {
    let dir = Dir::new();
    dir.write("x.dec.yaml", "a: b\n");
    assert_eq!(dir.run(&["scan"]).code, 1);
    assert_eq!(dir.run(&["scan", "--fail-on", "error"]).code, 0);
    assert_eq!(dir.run(&["scan", "--fail-on", "never"]).code, 0);
}

#[test]
fn problems_exit_2_unless_findings() {
    let dir = Dir::new();
    dir.write("broken.yaml", "kind: Secret\ndata: [unclosed\n");
    let run = dir.run(&["scan", "--format", "json"]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    let problems = run.json()["problems"].clone();
    assert_eq!(problems[0]["path"], "broken.yaml");
    dir.write("k.yaml", format!("key: {}\n", age_identity()));
    assert_eq!(dir.run(&["scan"]).code, 1);
}

#[test]
fn missing_path_is_a_tool_error() {
    let dir = Dir::new();
    let run = dir.run(&["scan", "does-not-exist"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("does-not-exist"), "{}", run.stderr);
}

#[test]
fn every_detector_end_to_end() {
    let dir = Dir::new();
    dir.write("secret.yaml", SECRET_YAML);
    dir.write("keys.txt", format!("# public key: age1...\n{}\n", age_identity()));
    dir.write(
        "kustomization.yaml",
        "secretGenerator:\n  - name: app\n    literals:\n      - PASSWORD=hunter22\n",
    );
    dir.write("app.dec.yaml", "a: b\n");
    dir.write("sub/id_rsa", "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAv0dHjm1lTEl6q2Gqz2Rr0yqWb8YtGkC1JxQ1n9m5N2zxk8Hk\n-----END RSA PRIVATE KEY-----\n");
    let run = dir.run(&["scan", "--format", "json"]);
    assert_eq!(run.code, 1);
    let hits = run.hits();
    let expect = [
        ("age/identity", "keys.txt", 2),
        ("file/decrypted-copy", "app.dec.yaml", 1),
        ("k8s/kustomize-literal", "kustomization.yaml", 4),
        ("k8s/plaintext-secret", "secret.yaml", 7),
        ("k8s/plaintext-secret", "secret.yaml", 9),
        ("key/private-key", "sub/id_rsa", 1),
    ];
    for (rule, path, line) in expect {
        assert!(
            hits.iter().any(|(r, p, l)| r == rule && p == path && *l == line),
            "missing {rule} {path}:{line} in {hits:?}"
        );
    }
    assert_eq!(hits.len(), expect.len(), "{hits:?}");
}

#[test]
fn gitignored_files_are_not_scanned_hidden_files_are() {
    let dir = Dir::new();
    dir.write(".gitignore", "ignored/\n");
    dir.write("ignored/k.txt", age_identity());
    dir.write(".env", format!("SOPS_AGE_KEY={}\n", age_identity()));
    let run = dir.run(&["scan", "--format", "json"]);
    let hits = run.hits();
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0].1, ".env");
}

#[test]
fn inline_suppression_on_the_line_or_above() {
    let dir = Dir::new();
    dir.write(
        "k.txt",
        format!(
            "a: {} # sopsguard:allow age/identity\n# sopsguard:allow age/identity\nb: {}\nc: {}\n",
            age_identity(),
            age_identity(),
            age_identity()
        ),
    );
    let run = dir.run(&["scan", "--format", "json"]);
    let hits = run.hits();
    assert_eq!(hits, vec![("age/identity".into(), "k.txt".into(), 4)]);
    assert_eq!(run.json()["summary"]["suppressed"], 2);
}

#[test]
fn output_is_identical_whatever_the_thread_count() {
    let dir = Dir::new();
    for i in 0..300 {
        let body = match i % 5 {
            0 => format!("k: {}\n", age_identity()),
            1 => SECRET_YAML.to_owned(),
            2 => "apiVersion: v1\nkind: ConfigMap\ndata:\n  a: b\n".to_owned(),
            3 => "plain text\n".repeat(20),
            _ => format!("x{i}.dec.yaml"),
        };
        let name =
            if i % 5 == 4 { format!("d{}/f{i}.dec.yaml", i % 7) } else { format!("d{}/f{i}.yaml", i % 7) };
        dir.write(&name, body);
    }
    let one = dir.run(&["scan", "--format", "json", "--threads", "1"]);
    let eight = dir.run(&["scan", "--format", "json", "--threads", "8"]);
    assert_eq!(one.code, 1);
    assert!(one.stdout == eight.stdout, "JSON differs between --threads 1 and 8");
    let h1 = dir.run(&["scan", "--threads", "1", "--quiet"]);
    let h8 = dir.run(&["scan", "--threads", "8", "--quiet"]);
    assert!(h1.stdout == h8.stdout, "human output differs between --threads 1 and 8");
}

#[test]
fn planted_secrets_never_appear_in_any_output() {
    let dir = Dir::new();
    let id = age_identity();
    let password = "Zq8!unique-plaintext-password-7731";
    let b64 = "WnE4IXVuaXF1ZS1wbGFpbnRleHQtcGFzc3dvcmQtNzczMQ==";
    dir.write("keys.txt", format!("{id}\n"));
    dir.write(
        "mixed.yaml",
        format!(
            "apiVersion: v1\nkind: Secret\nstringData:\n  password: {password} # {id}\ndata:\n  b: {b64}\n"
        ),
    );
    dir.write(
        "s.json",
        format!(
            "{{\"kind\": \"Secret\", \"apiVersion\": \"v1\", \"stringData\": {{\"p\": \"{password}\"}}}}"
        ),
    );
    let payload = &id["AGE-SECRET-KEY-1".len()..];
    let needles = [
        id.as_str(),
        &id.to_ascii_lowercase(),
        payload,
        &payload[..20],
        password,
        &password[..12],
        b64,
        &b64[..16],
    ];
    // Committed too, then deleted: history scans render the same secrets with provenance.
    dir.git(&["init", "-q", "-b", "main"]);
    dir.git(&["add", "-A"]);
    dir.git(&["commit", "-q", "-m", "secrets"]);
    let mut outputs = Vec::new();
    for args in [
        vec!["scan"],
        vec!["scan", "--format", "json"],
        vec!["scan", "--format", "sarif"],
        vec!["scan", "--format", "human", "--color", "always"],
        vec!["scan", "--quiet"],
        vec!["scan", "--history", "--format", "json"],
        vec!["scan", "--history", "--format", "sarif"],
        vec!["scan", "--history", "--format", "human"],
    ] {
        let run = dir.run(&args);
        assert_eq!(run.code, 1, "{args:?}: {}", run.stderr);
        outputs.push((args.join(" "), run.stdout, run.stderr));
    }
    let out_file = dir.path().join("out.json");
    dir.run(&["scan", "--format", "json", "-o", out_file.to_str().unwrap()]);
    outputs.push(("file".into(), std::fs::read_to_string(&out_file).unwrap(), String::new()));
    for (what, stdout, stderr) in outputs {
        for n in needles {
            assert!(!stdout.contains(n), "{what}: stdout contains secret bytes");
            assert!(!stderr.contains(n), "{what}: stderr contains secret bytes");
        }
    }
}

#[test]
fn version_rules_and_explain() {
    let dir = Dir::new();
    let v = dir.run(&["--version"]);
    assert_eq!(v.code, 0);
    assert!(v.stdout.starts_with("sopsguard "));
    let rules = dir.run(&["rules"]);
    assert_eq!(rules.code, 0);
    insta::assert_snapshot!("rules_list", rules.stdout);
    let explain = dir.run(&["explain", "age/identity"]);
    assert_eq!(explain.code, 0);
    assert!(explain.stdout.contains("## Why it matters"));
    assert!(explain.stdout.contains("are fixtures: still reported"), "{}", explain.stdout);
    let unknown = dir.run(&["explain", "age/nope"]);
    assert_eq!(unknown.code, 2);
    assert!(unknown.stderr.contains("did you mean age/identity"), "{}", unknown.stderr);
}

/// Findings without secret bytes in them, so the snapshot is stable.
fn snapshot_tree() -> Dir {
    let dir = Dir::new();
    dir.write("secret.yaml", SECRET_YAML);
    dir.write("app.dec.yaml", "a: b\n");
    dir.write(
        "kustomization.yaml",
        "secretGenerator:\n  - name: app\n    literals:\n      - PASSWORD=hunter22\n",
    );
    dir
}

#[test]
fn snapshot_human() {
    let dir = snapshot_tree();
    let run = dir.run(&["scan", "--color", "never"]);
    assert_eq!(run.code, 1);
    insta::assert_snapshot!("human", run.stdout);
}

#[test]
fn snapshot_json() {
    let dir = snapshot_tree();
    let run = dir.run(&["scan", "--format", "json"]);
    insta::assert_snapshot!("json", run.stdout);
}

/// `--identity` with an armored OpenPGP secret key and an OpenSSH key: the MACs of files
/// encrypted to them are verified, a tampered one is caught, and unusable identities are notes
/// that never stop the scan nor show key material.
#[test]
fn pgp_and_ssh_identities_verify_macs() {
    use sopsguard::sops::testkit::{self, Options, PgpKeyKind, SshKeyKind};
    use sopsguard::sops::StoreKind;
    let dir = Dir::new();
    // Keys live outside the scanned directory (a scan would rightly report them as leaks).
    let (pgp, fp) = testkit::generate_pgp_key(PgpKeyKind::Curve25519, None);
    let (ssh, ssh_pub) = testkit::generate_ssh_key(SshKeyKind::Ed25519);
    let ssh_recipient: String = ssh_pub.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    dir.write("keys/pgp.asc", pgp.as_bytes());
    dir.write("keys/id_ed25519", ssh.as_bytes());
    let plain = "apiVersion: v1\nkind: Secret\nmetadata:\n    name: db\nstringData:\n    password: hunter2-but-longer\n";
    let enc = |o: &Options| {
        String::from_utf8(testkit::encrypt(StoreKind::Yaml, plain.as_bytes(), o).unwrap()).unwrap()
    };
    let by_pgp = enc(&Options::pgp(&[&pgp]));
    let by_ssh = enc(&Options::age(&[&ssh_recipient]));
    assert!(by_pgp.contains(&fp) && by_pgp.contains("BEGIN PGP MESSAGE"));
    dir.write("repo/pgp.sops.yaml", &by_pgp);
    dir.write("repo/ssh.sops.yaml", &by_ssh);
    let args = ["scan", "repo", "--format", "json", "-i", "keys/pgp.asc", "-i", "keys/id_ed25519"];
    let run = dir.run(&args);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["summary"]["macs_verified"], 2, "{json}");
    assert_eq!(json["summary"]["macs_unverified"], 0, "{json}");
    assert!(run.stderr.is_empty() || !run.stderr.contains("note:"), "{}", run.stderr);
    // A flipped byte in the PGP-keyed file's value: caught.
    let at = by_pgp.find("ENC[AES256_GCM,data:").unwrap() + 20;
    let mut tampered = by_pgp.clone().into_bytes();
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
    dir.write("repo/pgp.sops.yaml", &tampered);
    let run = dir.run(&args);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let rules: Vec<&str> =
        json["findings"].as_array().unwrap().iter().filter_map(|f| f["rule"].as_str()).collect();
    assert_eq!(rules, ["sops/value-tampered"], "{json}");
    // (Recomputed, and found wrong.)
    assert_eq!(json["summary"]["macs_unverified"], 0);
    // Unusable identities beside the good ones: notes naming the files, and the scan goes on.
    dir.write("repo/pgp.sops.yaml", &by_pgp);
    let (protected, _) = testkit::generate_pgp_key(PgpKeyKind::Curve25519, Some("a passphrase"));
    dir.write("keys/protected.asc", protected.as_bytes());
    dir.write("keys/notes.txt", "just some notes\n");
    let mut more = args.to_vec();
    more.extend(["-i", "keys/protected.asc", "-i", "keys/notes.txt"]);
    let run = dir.run_env(&more, &[("SOPS_AGE_KEY_CMD", "pass show age")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for want in [
        "keys/protected.asc: OpenPGP key",
        "SOPSGUARD_PGP_PASSPHRASE is not set",
        "keys/notes.txt, line 1",
        "SOPS_AGE_KEY_CMD is set but was not run",
    ] {
        assert!(run.stderr.contains(want), "{want}: {}", run.stderr);
    }
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["summary"]["macs_verified"], 2);
    // The right passphrase unlocks it; nothing secret is in any output.
    let run = dir.run_env(&more, &[("SOPSGUARD_PGP_PASSPHRASE", "a passphrase")]);
    assert!(!run.stderr.contains("protected.asc"), "{}", run.stderr);
    for out in [&run.stdout, &run.stderr] {
        assert!(!out.contains("a passphrase") && !out.contains("hunter2") && !out.contains("PRIVATE KEY"));
    }
    // An identity file that cannot be read at all still stops the scan.
    let run = dir.run(&["scan", "repo", "-i", "keys/missing.asc"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
}
