//! Issue 13's recall classes, each reproduced through the CLI with generated material (no real
//! secret is committed): base64-wrapped keys, every PEM label, credential files by schema,
//! provider tokens, values a sops file's own rule left in clear, and files the scan must reach.

use crate::util::{generated_token as tok, Dir};

fn rules_at(dir: &Dir, args: &[&str]) -> Vec<(String, String)> {
    let mut full = vec!["scan", "--format", "json", "--threads", "1"];
    full.extend_from_slice(args);
    let run = dir.run(&full);
    assert!(run.code == 0 || run.code == 1, "exit {}: {}", run.code, run.stderr);
    run.hits().into_iter().map(|(r, p, _)| (r, p)).collect()
}

fn has(hits: &[(String, String)], rule: &str, path: &str) -> bool {
    hits.iter().any(|(r, p)| r == rule && p == path)
}

const FAKE_SOPS: &str = "sops:\n  age:\n  - recipient: age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p\n    enc: |\n      -----BEGIN AGE ENCRYPTED FILE-----\n      YWdl\n      -----END AGE ENCRYPTED FILE-----\n  lastmodified: \"2024-01-01T00:00:00Z\"\n  mac: ENC[AES256_GCM,data:Zm9v,iv:YmFy,tag:YmF6,type:str]\n  version: 3.8.1\n";

#[test]
fn class1_base64_wrapped_keys_are_decoded() {
    let dir = Dir::new();
    dir.write(
        "kubeconfig.yaml",
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    certificate-authority-data: {}\nusers:\n- name: admin\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n",
            tok("b64-cert"),
            tok("b64-cert"),
            tok("b64-ec-key")
        ),
    );
    dir.write(
        "clusterconfig/talosconfig",
        format!(
            "context: c\ncontexts:\n  c:\n    endpoints: [10.0.0.1]\n    key: {}\n",
            tok("b64-ed25519-key")
        ),
    );
    dir.write("values.yaml", format!("server:\n  tokenSigningKey: {}\n", tok("b64-rsa-key")));
    dir.write("ca.yaml", format!("ca: {}\n", tok("b64-cert")));
    let hits = rules_at(&dir, &[]);
    assert!(has(&hits, "kube/kubeconfig-credential", "kubeconfig.yaml"), "{hits:?}");
    assert!(has(&hits, "talos/talosconfig", "clusterconfig/talosconfig"), "{hits:?}");
    assert!(has(&hits, "key/private-key-base64", "values.yaml"), "{hits:?}");
    // Certificates decode to public material: nothing, and the kubeconfig has one finding only.
    assert!(!hits.iter().any(|(_, p)| p == "ca.yaml"), "{hits:?}");
    assert_eq!(hits.iter().filter(|(_, p)| p == "kubeconfig.yaml").count(), 1, "{hits:?}");
}

#[test]
fn class2_every_private_key_label() {
    let dir = Dir::new();
    dir.write("talos.key", tok("pem-ed25519-key"));
    let escaped = tok("pem-ed25519-key").replace('\n', "\\n");
    dir.write(".github_app_config.json", format!("{{\"id\": 1, \"pem\": \"{escaped}\"}}"));
    let hits = rules_at(&dir, &[]);
    assert!(has(&hits, "key/private-key", "talos.key"), "{hits:?}");
    assert!(has(&hits, "key/private-key", ".github_app_config.json"), "{hits:?}");
}

#[test]
fn class3_credential_files_by_schema_whatever_their_name() {
    let dir = Dir::new();
    let bundle = format!(
        "cluster:\n  id: {}\n  secret: {}\nsecrets:\n  bootstraptoken: {}\n  secretboxencryptionsecret: {}\ntrustdinfo:\n  token: {}\ncerts:\n  etcd:\n    crt: {}\n    key: {}\n",
        tok("secret32"),
        tok("secret32"),
        tok("bootstrap"),
        tok("secret32"),
        tok("bootstrap"),
        tok("b64-cert"),
        tok("b64-ec-key")
    );
    for name in ["secrets.yaml_", "talsecret.yaml.bak", "talsecret.orig", "archive/old/talsecret.yaml"] {
        dir.write(name, &bundle);
    }
    dir.write(
        "clusterconfig/home-cp1.yaml",
        format!(
            "version: v1alpha1\nmachine:\n  type: controlplane\n  token: {}\n  ca:\n    crt: {}\n    key: {}\ncluster:\n  secret: {}\n  token: {}\n  aescbcEncryptionSecret: {}\n  serviceAccount:\n    key: {}\n",
            tok("bootstrap"),
            tok("b64-cert"),
            tok("b64-ed25519-key"),
            tok("secret32"),
            tok("bootstrap"),
            tok("secret32"),
            tok("b64-rsa-key")
        ),
    );
    dir.write(
        "docker/config.json",
        format!("{{\"auths\": {{\"ghcr.io\": {{\"auth\": \"{}\"}}}}}}", tok("secret32")),
    );
    let pem = tok("pem-ed25519-key").replace("ED25519 PRIVATE KEY", "PRIVATE KEY").replace('\n', "\\n");
    dir.write("gcp/sa.json", format!("{{\"type\": \"service_account\", \"project_id\": \"p\", \"private_key_id\": \"1\", \"private_key\": \"{pem}\"}}"));
    dir.write(
        "argocd/repo.yaml",
        format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: repo\n  labels:\n    argocd.argoproj.io/secret-type: repository\nstringData:\n  url: https://github.com/example/private.git\n  password: {}\n", tok("random32")),
    );
    let hits = rules_at(&dir, &[]);
    for name in ["secrets.yaml_", "talsecret.yaml.bak", "talsecret.orig", "archive/old/talsecret.yaml"] {
        assert!(has(&hits, "talos/secrets-bundle", name), "{name}: {hits:?}");
    }
    assert!(has(&hits, "talos/machine-config", "clusterconfig/home-cp1.yaml"), "{hits:?}");
    assert!(has(&hits, "docker/registry-auth", "docker/config.json"), "{hits:?}");
    assert!(has(&hits, "key/private-key", "gcp/sa.json"), "{hits:?}");
    assert!(has(&hits, "k8s/plaintext-secret", "argocd/repo.yaml"), "{hits:?}");
}

#[test]
fn class4_provider_tokens_and_generic_credentials() {
    let dir = Dir::new();
    dir.write(
        ".env",
        format!(
            "GITHUB_TOKEN={}\nCLOUDFLARE_API_TOKEN={}\nTS_AUTHKEY={}\nRESTIC_PASSWORD={}\nDB_HOST=db.internal\n",
            tok("github"),
            tok("cf-token"),
            tok("tailscale"),
            tok("random32")
        ),
    );
    dir.write("bootstrap.yaml", format!("token: {}\n", tok("bootstrap")));
    let hits = rules_at(&dir, &[]);
    for rule in ["token/github", "token/cloudflare", "token/tailscale", "generic/credential"] {
        assert!(has(&hits, rule, ".env"), "{rule}: {hits:?}");
    }
    assert!(has(&hits, "token/kube-bootstrap", "bootstrap.yaml"), "{hits:?}");
    // One finding per value: the provider rules win over the generic one.
    assert_eq!(hits.iter().filter(|(_, p)| p == ".env").count(), 4, "{hits:?}");
}

#[test]
fn class5_values_a_sops_file_left_in_clear_are_checked() {
    let dir = Dir::new();
    dir.write(
        "terraform/secrets.sops.yaml",
        format!(
            "cloudflare_api_token: {}\ndb_password: ENC[AES256_GCM,data:Zm9v,iv:YmFy,tag:YmF6,type:str]\n{FAKE_SOPS}  encrypted_regex: ^(data|stringData|.*secret$|.*password$)$\n",
            tok("cf-token")
        ),
    );
    dir.write(
        "apps/backup/secret.sops.yaml",
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: restic\nstringData:\n  B2_APPLICATION_KEY: {}\n  RESTIC_PASSWORD: {}\n{FAKE_SOPS}  encrypted_regex: ^(data)$\n",
            tok("b2"),
            tok("random32")
        ),
    );
    let run = dir.run(&["scan", "--format", "json", "--threads", "1"]);
    let v = run.json();
    let findings = v["findings"].as_array().unwrap();
    let tf: Vec<&serde_json::Value> = findings
        .iter()
        .filter(|f| f["path"] == "terraform/secrets.sops.yaml" && f["rule"] == "token/cloudflare")
        .collect();
    assert_eq!(tf.len(), 1, "{findings:?}");
    let k8s: Vec<&serde_json::Value> = findings
        .iter()
        .filter(|f| f["path"] == "apps/backup/secret.sops.yaml" && f["rule"] == "k8s/plaintext-secret")
        .collect();
    assert_eq!(k8s.len(), 2, "{findings:?}");
    for f in k8s {
        assert!(f["message"].as_str().unwrap().contains("own sops encryption rule left it readable"), "{f}");
    }
}

#[test]
fn class6_tracked_ignored_files_and_parent_configs() {
    let dir = Dir::new();
    dir.git(&["init", "-q"]);
    dir.write(".gitignore", "archive/\n");
    dir.write(
        "archive/old-secret.yaml",
        format!("apiVersion: v1\nkind: Secret\nstringData:\n  token: {}\n", tok("random32")),
    );
    dir.write(
        "archive/untracked.yaml",
        format!("apiVersion: v1\nkind: Secret\nstringData:\n  token: {}\n", tok("random32")),
    );
    dir.write(".sops.yaml", "creation_rules:\n  - path_regex: secrets/.*\\.yaml$\n    age: age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p\n");
    dir.write("secrets/app.yaml", "database:\n  password: hunter-plaintext\n");
    dir.git(&["add", ".gitignore", ".sops.yaml", "secrets/app.yaml"]);
    dir.git(&["add", "-f", "archive/old-secret.yaml"]);
    dir.git(&["commit", "-qm", "init"]);
    let hits = rules_at(&dir, &[]);
    assert!(has(&hits, "k8s/plaintext-secret", "archive/old-secret.yaml"), "{hits:?}");
    // An ignored, untracked file is still ignored.
    assert!(!hits.iter().any(|(_, p)| p == "archive/untracked.yaml"), "{hits:?}");
    // A subdirectory or a single file is governed by the .sops.yaml above it.
    let full = rules_at(&dir, &[]);
    assert!(has(&full, "sops/not-encrypted", "secrets/app.yaml"), "{full:?}");
    for arg in ["secrets", "secrets/", "secrets/app.yaml"] {
        let hits = rules_at(&dir, &[arg]);
        assert!(
            hits.iter().any(|(r, p)| r == "sops/not-encrypted" && p.ends_with("secrets/app.yaml")),
            "{arg}: {hits:?}"
        );
    }
    let sub = rules_at(&dir, &["archive"]);
    assert!(
        sub.iter().any(|(r, p)| r == "k8s/plaintext-secret" && p.ends_with("archive/old-secret.yaml")),
        "{sub:?}"
    );
}

fn tar_gz(files: &[(&str, String)]) -> Vec<u8> {
    use std::io::Write;
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, data.as_bytes()).expect("append");
    }
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(&b.into_inner().expect("tar")).expect("gz");
    e.finish().expect("gz")
}

#[test]
fn class3_archives_are_unpacked_and_bombs_cost_the_size_limit() {
    let dir = Dir::new();
    let talosconfig = format!(
        "context: c\ncontexts:\n  c:\n    endpoints: [10.0.0.1]\n    key: {}\n",
        tok("b64-ed25519-key")
    );
    dir.write(
        "bootstrap/talos.tar.gz",
        tar_gz(&[("./clusterconfig/talosconfig", talosconfig.clone()), ("README", "generated\n".into())]),
    );
    dir.write("kubeconfig.gz", {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(format!("key.pem: |\n{}", tok("pem-ed25519-key")).as_bytes()).expect("gz");
        e.finish().expect("gz")
    });
    let hits = rules_at(&dir, &[]);
    assert!(has(&hits, "talos/talosconfig", "bootstrap/talos.tar.gz!clusterconfig/talosconfig"), "{hits:?}");
    assert!(has(&hits, "key/private-key", "kubeconfig.gz!kubeconfig"), "{hits:?}");
    assert!(!hits.iter().any(|(_, p)| p.ends_with("!README")), "{hits:?}");

    // In history too, the same way.
    dir.git(&["init", "-q", "-b", "main"]);
    dir.git(&["add", "-A"]);
    dir.git(&["-c", "commit.gpgsign=false", "commit", "-q", "-m", "archives"]);
    let hist = rules_at(&dir, &["--history"]);
    assert!(has(&hist, "talos/talosconfig", "bootstrap/talos.tar.gz!clusterconfig/talosconfig"), "{hist:?}");

    // A gzip bomb (64 MiB of zeros in a few kB) is inflated only up to --max-file-size: a note,
    // no problem, and the scan stays clean.
    let bomb = Dir::new();
    bomb.write("zeros.gz", {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let chunk = vec![0u8; 1 << 20];
        for _ in 0..64 {
            e.write_all(&chunk).expect("gz");
        }
        e.finish().expect("gz")
    });
    let run = bomb.run(&["scan", "--format", "json", "--max-file-size", "1048576"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.json()["notes"].to_string().contains("zeros.gz: archive scanned only up to"),
        "{}",
        run.stdout
    );
}
