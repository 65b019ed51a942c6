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
