//! Test helpers: a temporary directory and a way to run the built binary in it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use age::secrecy::ExposeSecret;

pub struct Dir {
    pub tmp: tempfile::TempDir,
}

impl Dir {
    pub fn new() -> Dir {
        Dir { tmp: tempfile::tempdir().expect("temp dir") }
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let p = self.tmp.path().join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&p, content).expect("write");
        p
    }

    /// Runs `sopsguard ARGS` in this directory with a clean environment.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_env(args, &[])
    }

    /// [`Dir::run`] with extra environment variables.
    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let out = Command::new(env!("CARGO_BIN_EXE_sopsguard"))
            .args(args)
            .current_dir(self.path())
            .env_remove("SOPS_AGE_KEY")
            .env_remove("SOPS_AGE_KEY_FILE")
            .env_remove("SOPSGUARD_FINGERPRINT_KEY")
            .env("XDG_CONFIG_HOME", self.path().join(".no-config"))
            .env("HOME", self.path().join(".no-home"))
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .output()
            .expect("run sopsguard");
        Run::from(out)
    }

    /// Runs `git ARGS` in this directory.
    #[allow(dead_code)]
    pub fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(args)
            .current_dir(self.path())
            .env("GIT_AUTHOR_NAME", "Test Author")
            .env("GIT_AUTHOR_EMAIL", "author@example.com")
            .env("GIT_COMMITTER_NAME", "Test Author")
            .env("GIT_COMMITTER_EMAIL", "author@example.com")
            .env("GIT_AUTHOR_DATE", "2024-01-01T00:00:00Z")
            .env("GIT_COMMITTER_DATE", "2024-01-01T00:00:00Z")
            .output()
            .expect("run git");
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("bad JSON ({e}):\n{}", self.stdout))
    }

    /// Every finding of the JSON output, projected by `f`.
    pub fn each_finding<T>(&self, f: impl Fn(&serde_json::Value) -> T) -> Vec<T> {
        self.json()["findings"].as_array().expect("findings").iter().map(f).collect()
    }

    /// `(rule, path, line)` of every finding, from JSON output.
    pub fn hits(&self) -> Vec<(String, String, u64)> {
        self.each_finding(|f| (text(&f["rule"]), text(&f["path"]), f["line"].as_u64().unwrap_or(0)))
    }
}

/// A fresh age identity (the secret string).
pub fn age_identity() -> String {
    age::x25519::Identity::generate().to_string().expose_secret().to_string()
}

/// Expands the generator placeholders that rule examples may use.
pub fn expand_placeholders(s: &str) -> String {
    let mut out = s.to_owned();
    while let Some(i) = out.find("{{age-") {
        let Some(end) = out[i..].find("}}") else { break };
        let name = out[i + 2..i + end].to_owned();
        let value = match name.as_str() {
            "age-identity" => age_identity(),
            "age-identity-lowercase" => age_identity().to_ascii_lowercase(),
            "age-pq-identity" => pq_identity(),
            "age-identity-bad-checksum" => {
                let id = age_identity();
                let mut b = id.into_bytes();
                let k = b.len() - 2;
                b[k] = if b[k] == b'Q' { b'P' } else { b'Q' };
                String::from_utf8(b).expect("ascii")
            }
            other => panic!("unknown placeholder {other}"),
        };
        out.replace_range(i..i + end + 2, &value);
    }
    out
}

/// A post-quantum identity string: Bech32 of a random 32-byte seed under `AGE-SECRET-KEY-PQ-`.
pub fn pq_identity() -> String {
    use bech32::{Bech32, Hrp};
    let mut seed = [0u8; 32];
    for (i, b) in seed.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(97).wrapping_add(std::process::id() as u8) ^ 0x5a;
    }
    let hrp = Hrp::parse("age-secret-key-pq-").expect("hrp");
    bech32::encode::<Bech32>(hrp, &seed).expect("encode").to_ascii_uppercase()
}

/// A JSON string's text (empty when absent).
pub fn text(v: &serde_json::Value) -> String {
    v.as_str().unwrap_or("").to_owned()
}
