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
            .env_remove("SOPS_AGE_KEY_CMD")
            .env_remove("SOPS_AGE_SSH_PRIVATE_KEY_FILE")
            .env_remove("SOPSGUARD_PGP_PASSPHRASE")
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
    expand_placeholders_with_values(s).0
}

/// [`expand_placeholders`], also returning every generated value (so a test can check that no
/// output repeats one).
pub fn expand_placeholders_with_values(s: &str) -> (String, Vec<String>) {
    let mut out = s.to_owned();
    let mut values = Vec::new();
    let mut from = 0;
    while let Some(rel) = out[from..].find("{{") {
        let i = from + rel;
        let Some(end) = out[i..].find("}}") else { break };
        let name = out[i + 2..i + end].to_owned();
        let value = if let Some(tok) = name.strip_prefix("tok-") {
            generated_token(tok)
        } else {
            match name.as_str() {
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
                // Not a placeholder (a template expression in an example): left as it is.
                _ => {
                    from = i + 2;
                    continue;
                }
            }
        };
        // Identifiers (an AWS access key id) are shown in findings; every other value is secret.
        if !name.ends_with("-id") {
            values.push(value.clone());
        }
        out.replace_range(i..i + end + 2, &value);
        from = i + value.len();
    }
    (out, values)
}

/// A deterministic generator (xorshift, seeded by the placeholder's name): tokens are made when
/// the test runs, never committed, and the same on every run.
struct Gen(u64);

impl Gen {
    fn new(name: &str) -> Gen {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in name.bytes() {
            h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
        }
        Gen(h | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn from(&mut self, alphabet: &str, n: usize) -> String {
        let a = alphabet.as_bytes();
        (0..n).map(|_| a[(self.next() % a.len() as u64) as usize] as char).collect()
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

const ALNUM: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const URLSAFE: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_";
const HEX: &str = "0123456789abcdef";
const LOWER_DIGITS: &str = "0123456789abcdefghijklmnopqrstuvwxyz";

fn b64(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}

fn b64url(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

fn pem(label: &str, g: &mut Gen, len: usize) -> String {
    let body = b64(&g.bytes(len));
    let lines: Vec<String> =
        body.as_bytes().chunks(64).map(|c| String::from_utf8_lossy(c).into_owned()).collect();
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
}

fn jwt(g: &mut Gen, claims: &str) -> String {
    format!(
        "{}.{}.{}",
        b64url(br#"{"alg":"RS256","typ":"JWT"}"#),
        b64url(claims.as_bytes()),
        g.from(URLSAFE, 86)
    )
}

/// The token a `{{tok-NAME}}` placeholder stands for.
pub fn generated_token(name: &str) -> String {
    let mut g = Gen::new(name);
    let crc = |prefix: &str, g: &mut Gen| {
        let body = g.from(ALNUM, 30);
        format!("{prefix}{body}{}", sopsguard::detect::tokens::base62_crc32(body.as_bytes()))
    };
    match name {
        "github" => crc("ghp_", &mut g),
        "github-badsum" => {
            let t = crc("ghp_", &mut g);
            let last = if t.ends_with('A') { 'B' } else { 'A' };
            format!("{}{last}", &t[..t.len() - 1])
        }
        "npm" => crc("npm_", &mut g),
        "github-pat" => format!("github_pat_{}_{}", g.from(ALNUM, 22), g.from(ALNUM, 59)),
        "gitlab" => format!("glpat-{}", g.from(URLSAFE, 20)),
        "slack-webhook" => format!(
            "https://hooks.slack.com/services/T{}/B{}/{}",
            g.from("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 8),
            g.from("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 10),
            g.from(ALNUM, 24)
        ),
        "slack-bot" => {
            format!("xoxb-{}-{}-{}", g.from("0123456789", 12), g.from("0123456789", 13), g.from(ALNUM, 24))
        }
        "discord-webhook" => {
            format!("https://discord.com/api/webhooks/{}/{}", g.from("0123456789", 18), g.from(URLSAFE, 68))
        }
        "aws-id" => format!("AKIA{}", g.from("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)),
        "aws-secret" => g.from("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz/+", 40),
        "google" => format!("AIza{}", g.from(URLSAFE, 35)),
        "stripe" => format!("sk_live_{}", g.from(ALNUM, 32)),
        "cf-token" => g.from(URLSAFE, 40),
        "cf-global" | "hex37" => g.from(HEX, 37),
        "hex32" => g.from(HEX, 32),
        "jwt-op" => jwt(&mut g, r#"{"aud":["com.1password.connect"],"sub":"x","iss":"com.1password.b5"}"#),
        "jwt-k8s" => jwt(
            &mut g,
            r#"{"iss":"kubernetes/serviceaccount","kubernetes.io/serviceaccount/namespace":"default"}"#,
        ),
        "jwt-other" => jwt(&mut g, r#"{"iss":"https://issuer.test","sub":"user"}"#),
        "tailscale" => format!("tskey-auth-{}-{}", g.from(ALNUM, 11), g.from(ALNUM, 30)),
        "b2" => format!("K005{}", g.from(ALNUM, 27)),
        "openai" => format!("sk-proj-{}T3BlbkFJ{}", g.from(URLSAFE, 40), g.from(URLSAFE, 40)),
        "anthropic" => format!("sk-ant-api03-{}AA", g.from(URLSAFE, 93)),
        "pypi" => format!("pypi-AgEIcHlwaS5vcmc{}", g.from(URLSAFE, 70)),
        "telegram" => format!("{}:AA{}", g.from("123456789", 10), g.from(URLSAFE, 33)),
        "discord" => format!("M{}.{}.{}", g.from(URLSAFE, 25), g.from(URLSAFE, 6), g.from(URLSAFE, 30)),
        "bootstrap" => format!("{}.{}", g.from(LOWER_DIGITS, 6), g.from(LOWER_DIGITS, 16)),
        "wg" => b64(&g.bytes(32)),
        "bcrypt" => format!(
            "$2y$10${}",
            g.from("./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", 53)
        ),
        "random32" => g.from(ALNUM, 32),
        "random16" => g.from(ALNUM, 16),
        "b64-ec-key" => b64(pem("EC PRIVATE KEY", &mut g, 121).as_bytes()),
        "b64-rsa-key" => b64(pem("RSA PRIVATE KEY", &mut g, 600).as_bytes()),
        "b64-ed25519-key" => b64(pem("ED25519 PRIVATE KEY", &mut g, 48).as_bytes()),
        "b64-cert" => b64(pem("CERTIFICATE", &mut g, 400).as_bytes()),
        "pem-ed25519-key" => pem("ED25519 PRIVATE KEY", &mut g, 48),
        "secret32" => b64(&g.bytes(32)),
        // Ciphertext of RSA-2048's size, as Renovate's encrypted secrets are.
        "b64-344" => b64(&g.bytes(258)),
        other => panic!("unknown placeholder tok-{other}"),
    }
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
