//! `sopsguard incident` over a scenario repository: a key committed on a feature branch and removed
//! two commits later, a tag that still holds it, SOPS files encrypted to its recipient at different
//! points (one re-encrypted without it later), a plaintext Secret committed and reverted.

use sopsguard::sops::testkit::{self, Options, Rule};
use sopsguard::sops::StoreKind;

use crate::util::Dir;

struct Scenario {
    dir: Dir,
    key: String,
    recipient: String,
    commits: std::collections::BTreeMap<&'static str, String>,
    values: Vec<String>,
}

fn encrypt(kind: StoreKind, plain: &str, recipients: &[&str], seed: u64) -> Vec<u8> {
    let mut opts = Options::age(recipients);
    opts.seed = seed;
    if kind == StoreKind::Yaml {
        opts = opts.with_rule(Rule::EncryptedRegex("^(data|stringData)$".into()));
    }
    testkit::encrypt(kind, plain.as_bytes(), &opts).expect("encrypt")
}

fn scenario() -> Scenario {
    let dir = Dir::new();
    let (key, recipient) = testkit::generate_identity();
    let key = key.to_string();
    let (_, other) = testkit::generate_identity();
    let mut commits = std::collections::BTreeMap::new();
    let head = |dir: &Dir| dir.git(&["rev-parse", "HEAD"]).trim().to_owned();
    let db_password = "db-pass-Unique-4411";
    let api_token = "api-token-Unique-8812";
    let redis_password = "redis-pass-Unique-9013";
    let cache_token = "cache-token-Unique-1314";

    dir.git(&["init", "-q", "-b", "main"]);
    dir.write(".sops.yaml", format!("creation_rules:\n  - path_regex: apps/.*\n    encrypted_regex: ^(data|stringData)$\n    age: {recipient}\n"));
    let db = format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: prod\nstringData:\n  password: {db_password}\n  username: admin\n");
    dir.write("apps/db.sops.yaml", encrypt(StoreKind::Yaml, &db, &[&recipient], 1));
    dir.git(&["add", "-A"]);
    dir.git(&["commit", "-q", "-m", "db secret"]);
    commits.insert("db", head(&dir));

    let api = format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: api\n  namespace: prod\nstringData:\n  token: {api_token}\n");
    dir.write("apps/api.sops.yaml", encrypt(StoreKind::Yaml, &api, &[&recipient, &other], 2));
    dir.git(&["add", "-A"]);
    dir.git(&["commit", "-q", "-m", "api secret"]);
    commits.insert("api", head(&dir));

    dir.git(&["checkout", "-q", "-b", "feature/x"]);
    dir.write("keys.txt", format!("# public key: {recipient}\n{key}\n"));
    dir.git(&["add", "-A"]);
    dir.git(&["commit", "-q", "-m", "add key by mistake"]);
    commits.insert("key", head(&dir));
    dir.write("notes.md", "unrelated\n");
    dir.git(&["add", "-A"]);
    dir.git(&["commit", "-q", "-m", "unrelated"]);
    dir.git(&["tag", "v1.0"]);
    dir.git(&["rm", "-q", "keys.txt"]);
    dir.git(&["commit", "-q", "-m", "remove key"]);
    commits.insert("unkey", head(&dir));
    dir.git(&["checkout", "-q", "main"]);
    dir.git(&["merge", "-q", "--no-ff", "-m", "merge feature/x", "feature/x"]);

    dir.write("apps/api.sops.yaml", encrypt(StoreKind::Yaml, &api, &[&other], 3));
    dir.write(
        "apps/redis.sops.env",
        encrypt(StoreKind::Dotenv, &format!("REDIS_PASSWORD={redis_password}\n"), &[&recipient], 4),
    );
    dir.git(&["add", "-A"]);
    dir.git(&["commit", "-q", "-m", "re-key api without the old key; add redis"]);
    commits.insert("rekey", head(&dir));

    dir.write("cache.yaml", format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: cache\n  namespace: prod\nstringData:\n  token: {cache_token}\n"));
    dir.git(&["add", "-A"]);
    dir.git(&["commit", "-q", "-m", "cache secret"]);
    commits.insert("plain", head(&dir));
    dir.git(&["revert", "--no-edit", "HEAD"]);
    commits.insert("revert", head(&dir));

    let values = vec![
        key.clone(),
        key.to_ascii_lowercase(),
        key["AGE-SECRET-KEY-1".len()..].to_owned(),
        db_password.into(),
        api_token.into(),
        redis_password.into(),
        cache_token.into(),
    ];
    Scenario { dir, key, recipient, commits, values }
}

#[test]
fn incident_report_lists_exactly_what_leaked() {
    let s = scenario();
    let run = s.dir.run(&["incident", "--format", "json"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let j = run.json();
    let ids = j["identities"].as_array().unwrap();
    assert_eq!(ids.len(), 1, "{j:#}");
    let id = &ids[0];
    assert_eq!(id["recipient"], s.recipient.as_str());
    assert_eq!(id["still_present"], true, "the tag v1.0 still holds it");
    let exp = &id["exposures"][0];
    assert_eq!(exp["path"], "keys.txt");
    assert_eq!(exp["introduced_in"][0]["id"], s.commits["key"].as_str());
    assert_eq!(exp["introduced_in"].as_array().unwrap().len(), 1);
    assert_eq!(exp["removed_in"][0]["id"], s.commits["unkey"].as_str());
    assert_eq!(exp["removed_in"].as_array().unwrap().len(), 1);
    assert_eq!(exp["commits"], 2);
    assert_eq!(exp["refs"], serde_json::json!(["refs/heads/feature/x", "refs/heads/main", "refs/tags/v1.0"]));
    assert_eq!(exp["ref_tips"], serde_json::json!(["refs/tags/v1.0"]));
    assert_eq!(exp["in_worktree"], false);
    assert_eq!(id["authors"], serde_json::json!(["Test Author <author@example.com>"]));

    let files: Vec<(String, bool, bool, bool)> = id["exposed_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_owned(),
                f["encrypted_to_it_at_head"].as_bool().unwrap(),
                f["exists_at_head"].as_bool().unwrap(),
                f["proven"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        files,
        vec![
            ("apps/api.sops.yaml".into(), false, true, true),
            ("apps/db.sops.yaml".into(), true, true, true),
            ("apps/redis.sops.env".into(), true, true, true),
        ]
    );
    let db = &id["exposed_files"][1];
    assert_eq!(
        db["secrets"][0],
        serde_json::json!({"name": "db", "namespace": "prod", "keys": ["password", "username"]})
    );
    let api = &id["exposed_files"][0];
    assert_eq!(api["secrets"][0]["keys"], serde_json::json!(["token"]));
    assert_eq!(api["versions"], 1, "only the version encrypted to the leaked key");
    let redis = &id["exposed_files"][2];
    assert_eq!(redis["secrets"][0]["keys"], serde_json::json!(["REDIS_PASSWORD"]));
    assert_eq!(id["config_files"], serde_json::json!([".sops.yaml"]));

    let plain = j["plaintext_secrets"].as_array().unwrap();
    assert_eq!(plain.len(), 1, "{plain:#?}");
    assert_eq!(
        plain[0]["secret"],
        serde_json::json!({"name": "cache", "namespace": "prod", "keys": ["token"]})
    );
    assert_eq!(plain[0]["exposure"]["introduced_in"][0]["id"], s.commits["plain"].as_str());
    assert_eq!(plain[0]["exposure"]["removed_in"][0]["id"], s.commits["revert"].as_str());

    let titles: Vec<&str> =
        j["plan"].as_array().unwrap().iter().map(|p| p["title"].as_str().unwrap()).collect();
    assert_eq!(
        titles,
        vec![
            "Generate a new age identity",
            "Add the new recipient to .sops.yaml beside the old one",
            "Re-key every exposed file with sops updatekeys",
            "Install the new private key where decryption happens",
            "Confirm reconciliation with the new key",
            "Remove the leaked recipient and re-key again",
            "Delete the old key everywhere",
            "Rotate every exposed secret value",
            "Purge history",
            "Expire exposed CI logs and artifacts",
        ]
    );
    assert_eq!(
        j["plan"][2]["items"],
        serde_json::json!(["apps/db.sops.yaml", "apps/redis.sops.env"]),
        "updatekeys runs on the files still encrypted to the leaked key"
    );
    let rotate = j["plan"][7]["items"].as_array().unwrap();
    assert!(rotate.iter().any(|i| i == "Secret prod/cache (cache.yaml): token"), "{rotate:?}");
    assert!(
        rotate.iter().any(|i| i == "Secret prod/db (apps/db.sops.yaml): password, username"),
        "{rotate:?}"
    );
}

#[test]
fn incident_report_formats_hold_no_secret() {
    let s = scenario();
    let human = s.dir.run(&["incident"]);
    let md = s.dir.run(&["incident", "--format", "markdown"]);
    let json = s.dir.run(&["incident", "--format", "json"]);
    assert!(human.stdout.contains("git revert` is not remediation"));
    assert!(human.stdout.contains(&s.recipient));
    assert!(md.stdout.starts_with("# Secret leak: incident report"));
    assert!(md.stdout.contains("| `apps/db.sops.yaml` | encrypted to it |"), "{}", md.stdout);
    assert!(md.stdout.contains(&s.commits["key"][..12]));
    for run in [&human, &md, &json] {
        assert_eq!(run.code, 1);
        for v in &s.values {
            assert!(!run.stdout.contains(v.as_str()), "secret bytes in stdout");
            assert!(!run.stderr.contains(v.as_str()), "secret bytes in stderr");
        }
    }
}

#[test]
fn replacements_file_is_written_only_on_request_with_mode_0600() {
    let s = scenario();
    let out = s.dir.path().join("..").join(format!("repl-{}.txt", std::process::id()));
    let run = s.dir.run(&["incident", "--format", "json", "--write-replacements", out.to_str().unwrap()]);
    assert_eq!(run.code, 1);
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains(&format!("{}==>", s.key)));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o600);
    }
    std::fs::remove_file(&out).unwrap();
    assert!(!run.stdout.contains(&s.key) && !run.stderr.contains(&s.key));
}

#[test]
fn clean_repository_has_a_clean_report() {
    let dir = Dir::new();
    dir.git(&["init", "-q", "-b", "main"]);
    dir.write("a.txt", "hello\n");
    dir.git(&["add", "-A"]);
    dir.git(&["commit", "-q", "-m", "a"]);
    let run = dir.run(&["incident"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("No leaked identity"));
}
