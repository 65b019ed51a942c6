//! A test-only SOPS encryptor: turns plaintext into sops files for every store, encryption rule and
//! key-group layout, so the verifier can be tested without the `sops` binary. Compiled only for
//! tests and with the `testkit` feature (benchmarks, fuzzing); never part of the shipped linter.
//!
//! It follows sops' encrypt path (`sops.go:Tree.Encrypt`, `common.EncryptTree`): the same walk and
//! rule decision as the verifier, typed plaintext encoding, the MAC over the plaintext, the MAC
//! encrypted with `lastmodified` as AAD, the data key wrapped with age for each recipient and with
//! OpenPGP for each PGP key (as sops' gpg path writes it: SEIPD with AES-256, ZLIB-compressed,
//! armored), or split with Shamir across key groups. Values are replaced in place, so the layout of the input is kept.
//! Randomness (data key, IVs, Shamir coefficients) comes from a seeded generator, so output is
//! reproducible except for age's own ephemeral keys. Inputs must use block style for encrypted
//! values (sops re-emits every file in block style; this encryptor keeps the input's layout).

use std::io::Write;

use sha2::{Digest, Sha256, Sha512};
use zeroize::Zeroizing;

use super::cipher::{DataKey, ValueCipher};
use super::keys;
use super::store::{self, StoreKind};
use super::tree::{self, EncryptionRule, Item, RuleKind, Span, Value};
use super::value::{self, Scalar};

/// An encryption rule as `.sops.yaml` spells it.
#[derive(Clone, Debug)]
pub enum Rule {
    /// `unencrypted_suffix`
    UnencryptedSuffix(String),
    /// `encrypted_suffix`
    EncryptedSuffix(String),
    /// `unencrypted_regex`
    UnencryptedRegex(String),
    /// `encrypted_regex`
    EncryptedRegex(String),
    /// `unencrypted_comment_regex`
    UnencryptedCommentRegex(String),
    /// `encrypted_comment_regex`
    EncryptedCommentRegex(String),
}

impl Rule {
    fn parts(&self) -> (RuleKind, &str) {
        match self {
            Rule::UnencryptedSuffix(v) => (RuleKind::UnencryptedSuffix, v),
            Rule::EncryptedSuffix(v) => (RuleKind::EncryptedSuffix, v),
            Rule::UnencryptedRegex(v) => (RuleKind::UnencryptedRegex, v),
            Rule::EncryptedRegex(v) => (RuleKind::EncryptedRegex, v),
            Rule::UnencryptedCommentRegex(v) => (RuleKind::UnencryptedCommentRegex, v),
            Rule::EncryptedCommentRegex(v) => (RuleKind::EncryptedCommentRegex, v),
        }
    }

    /// The metadata / `.sops.yaml` key.
    pub fn key(&self) -> &'static str {
        self.parts().0.key()
    }

    /// The value.
    pub fn value(&self) -> &str {
        self.parts().1
    }
}

/// How to encrypt.
#[derive(Clone, Debug)]
pub struct Options {
    /// age recipients per key group (one group: flat `age` list; several: `key_groups` + Shamir).
    pub groups: Vec<Vec<String>>,
    /// Armored OpenPGP keys (public or secret) per key group, beside the age recipients of the
    /// same group (`pgp[i]` goes with `groups[i]`; either list may be shorter).
    pub pgp: Vec<Vec<String>>,
    /// Shamir threshold for several groups (0 = number of groups).
    pub shamir_threshold: usize,
    /// The encryption rule (`None`: sops' default `_unencrypted` suffix). Ignored for binary.
    pub rule: Option<Rule>,
    /// `mac_only_encrypted`.
    pub mac_only_encrypted: bool,
    /// `lastmodified` (RFC 3339).
    pub lastmodified: String,
    /// `version`.
    pub version: String,
    /// Seed for the data key, IVs and Shamir coefficients.
    pub seed: u64,
    /// Write each encrypted comment as a list item `- ENC[…,type:comment]`, as sops 3.11 writes a
    /// comment that sits inside a YAML list (for test files whose comments all do).
    pub comments_as_list_items: bool,
}

impl Options {
    /// One key group with the given age recipients, default rule.
    pub fn age(recipients: &[&str]) -> Options {
        Options {
            groups: vec![recipients.iter().map(|r| (*r).to_owned()).collect()],
            pgp: Vec::new(),
            shamir_threshold: 0,
            rule: None,
            mac_only_encrypted: false,
            lastmodified: "2026-01-02T03:04:05Z".to_owned(),
            version: "3.13.2".to_owned(),
            seed: 1,
            comments_as_list_items: false,
        }
    }

    /// One key group with the given armored OpenPGP keys, default rule.
    pub fn pgp(keys: &[&str]) -> Options {
        let mut o = Options::age(&[]);
        o.pgp = vec![keys.iter().map(|k| (*k).to_owned()).collect()];
        o
    }

    /// The number of key groups.
    fn group_count(&self) -> usize {
        self.groups.len().max(self.pgp.len())
    }

    /// Sets the rule.
    pub fn with_rule(mut self, rule: Rule) -> Options {
        self.rule = Some(rule);
        self
    }
}

/// A fresh age identity: `(AGE-SECRET-KEY-1…, age1…)`.
pub fn generate_identity() -> (Zeroizing<String>, String) {
    use age::secrecy::ExposeSecret;
    let id = age::x25519::Identity::generate();
    (Zeroizing::new(id.to_string().expose_secret().to_owned()), id.to_public().to_string())
}

pub use super::openpgp::{generate_key as generate_pgp_key, PgpKeyKind};

/// The kinds of throwaway SSH keys the test encryptor makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SshKeyKind {
    /// `ssh-ed25519`, in the OpenSSH format (`ssh-keygen -t ed25519`).
    Ed25519,
    /// `ssh-rsa` (2048 bits), PEM PKCS#1 (`ssh-keygen -t rsa -m PEM`).
    Rsa,
}

/// A fresh unencrypted SSH key: `(private key file, public key line "ssh-… AAAA… comment")`.
pub fn generate_ssh_key(kind: SshKeyKind) -> (Zeroizing<String>, String) {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    fn string(out: &mut Vec<u8>, s: &[u8]) {
        out.extend_from_slice(&(s.len() as u32).to_be_bytes());
        out.extend_from_slice(s);
    }
    match kind {
        SshKeyKind::Ed25519 => {
            let mut seed = Zeroizing::new([0u8; 32]);
            rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut seed[..]);
            let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key().to_bytes();
            let mut blob = Vec::new();
            string(&mut blob, b"ssh-ed25519");
            string(&mut blob, &public);
            let mut private = Zeroizing::new(Vec::new());
            private.extend_from_slice(&[0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a]);
            string(&mut private, b"ssh-ed25519");
            string(&mut private, &public);
            let mut both = Zeroizing::new(seed.to_vec());
            both.extend_from_slice(&public);
            string(&mut private, &both);
            string(&mut private, b"test@sopsguard");
            let mut pad = 1u8;
            while private.len() % 8 != 0 {
                private.push(pad);
                pad += 1;
            }
            let mut file = Zeroizing::new(b"openssh-key-v1\0".to_vec());
            string(&mut file, b"none");
            string(&mut file, b"none");
            string(&mut file, b"");
            file.extend_from_slice(&1u32.to_be_bytes());
            string(&mut file, &blob);
            string(&mut file, &private);
            let body = Zeroizing::new(b64.encode(&file[..]));
            let mut pem = Zeroizing::new(String::from("-----BEGIN OPENSSH PRIVATE KEY-----\n"));
            for chunk in body.as_bytes().chunks(70) {
                pem.push_str(std::str::from_utf8(chunk).unwrap_or_default());
                pem.push('\n');
            }
            pem.push_str("-----END OPENSSH PRIVATE KEY-----\n");
            (pem, format!("ssh-ed25519 {} test@sopsguard", b64.encode(&blob)))
        }
        SshKeyKind::Rsa => {
            use rsa::pkcs1::EncodeRsaPrivateKey;
            use rsa::traits::PublicKeyParts;
            let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("RSA key generation");
            let pem = key.to_pkcs1_pem(rsa::pkcs1::LineEnding::LF).expect("PKCS#1 PEM");
            let mpint = |out: &mut Vec<u8>, n: &rsa::BigUint| {
                let mut b = n.to_bytes_be();
                if b.first().is_some_and(|x| x & 0x80 != 0) {
                    b.insert(0, 0);
                }
                string(out, &b);
            };
            let mut blob = Vec::new();
            string(&mut blob, b"ssh-rsa");
            mpint(&mut blob, key.e());
            mpint(&mut blob, key.n());
            (Zeroizing::new(pem.to_string()), format!("ssh-rsa {} test@sopsguard", b64.encode(&blob)))
        }
    }
}

/// A seeded byte generator (SHA-256 in counter mode).
struct Rng {
    seed: u64,
    counter: u64,
    buf: Vec<u8>,
}

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng { seed, counter: 0, buf: Vec::new() }
    }
    fn byte(&mut self) -> u8 {
        if self.buf.is_empty() {
            let mut h = Sha256::new();
            h.update(self.seed.to_le_bytes());
            h.update(self.counter.to_le_bytes());
            self.counter += 1;
            self.buf = h.finalize().to_vec();
        }
        self.buf.pop().unwrap_or(0)
    }
    fn fill<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        for b in &mut out {
            *b = self.byte();
        }
        out
    }
}

fn age_wrap(recipient: &str, plain: &[u8]) -> Result<String, String> {
    let r: Box<dyn age::Recipient> = if recipient.starts_with("ssh-") {
        Box::new(
            recipient
                .parse::<age::ssh::Recipient>()
                .map_err(|_| format!("not an SSH recipient: {recipient}"))?,
        )
    } else {
        Box::new(
            recipient
                .parse::<age::x25519::Recipient>()
                .map_err(|_| format!("not an age recipient: {recipient}"))?,
        )
    };
    let enc = age::Encryptor::with_recipients(std::iter::once(r.as_ref())).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let armor = age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor)
        .map_err(|e| e.to_string())?;
    let mut w = enc.wrap_output(armor).map_err(|e| e.to_string())?;
    w.write_all(plain).map_err(|e| e.to_string())?;
    w.finish().and_then(|a| a.finish()).map_err(|e| e.to_string())?;
    let mut s = String::from_utf8(out).map_err(|e| e.to_string())?;
    if !s.ends_with('\n') {
        s.push('\n');
    }
    Ok(s)
}

/// Metadata values, in a store-independent shape.
enum Meta {
    Str(String),
    Bool(bool),
    Int(i64),
    List(Vec<Vec<(String, Meta)>>),
}

fn build_metadata(
    opts: &Options,
    key: &[u8],
    mac: String,
    store: StoreKind,
    rng: &mut Rng,
) -> Result<Vec<(String, Meta)>, String> {
    let mut md: Vec<(String, Meta)> = Vec::new();
    let empty = Vec::new();
    // One group's entries: `age` and `pgp` lists (empty ones left out, as sops 3.10+ does).
    let group_entries = |g: usize, part: &[u8]| -> Result<Vec<(String, Meta)>, String> {
        let mut out = Vec::new();
        let recips = opts.groups.get(g).unwrap_or(&empty);
        if !recips.is_empty() {
            let mut list = Vec::new();
            for r in recips {
                list.push(vec![
                    ("enc".to_owned(), Meta::Str(age_wrap(r, part)?)),
                    ("recipient".to_owned(), Meta::Str(r.clone())),
                ]);
            }
            out.push(("age".to_owned(), Meta::List(list)));
        }
        let pgp = opts.pgp.get(g).unwrap_or(&empty);
        if !pgp.is_empty() {
            let mut list = Vec::new();
            for k in pgp {
                let (mut msg, fp) = super::openpgp::encrypt_to(k, part)?;
                if !msg.ends_with('\n') {
                    msg.push('\n');
                }
                list.push(vec![
                    ("created_at".to_owned(), Meta::Str(opts.lastmodified.clone())),
                    ("enc".to_owned(), Meta::Str(msg)),
                    ("fp".to_owned(), Meta::Str(fp)),
                ]);
            }
            out.push(("pgp".to_owned(), Meta::List(list)));
        }
        Ok(out)
    };
    let n = opts.group_count();
    if n == 1 {
        md.extend(group_entries(0, key)?);
    } else {
        let threshold = if opts.shamir_threshold == 0 { n } else { opts.shamir_threshold };
        let shares = keys::split(key, n, threshold, &mut || rng.byte());
        let mut groups = Vec::new();
        for (g, share) in shares.iter().enumerate() {
            groups.push(group_entries(g, share)?);
        }
        md.push(("key_groups".to_owned(), Meta::List(groups)));
        md.push(("shamir_threshold".to_owned(), Meta::Int(threshold as i64)));
    }
    md.push(("lastmodified".to_owned(), Meta::Str(opts.lastmodified.clone())));
    md.push(("mac".to_owned(), Meta::Str(mac)));
    if opts.mac_only_encrypted && store != StoreKind::Binary {
        md.push(("mac_only_encrypted".to_owned(), Meta::Bool(true)));
    }
    match (&opts.rule, store) {
        (_, StoreKind::Binary) => {}
        (Some(r), _) => md.push((r.key().to_owned(), Meta::Str(r.value().to_owned()))),
        (None, _) => md.push(("unencrypted_suffix".to_owned(), Meta::Str("_unencrypted".to_owned()))),
    }
    md.push(("version".to_owned(), Meta::Str(opts.version.clone())));
    md.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(md)
}

fn json_meta(m: &Meta) -> serde_json::Value {
    match m {
        Meta::Str(s) => serde_json::Value::String(s.clone()),
        Meta::Bool(b) => serde_json::Value::Bool(*b),
        Meta::Int(i) => serde_json::Value::from(*i),
        Meta::List(items) => serde_json::Value::Array(
            items
                .iter()
                .map(|e| {
                    serde_json::Value::Object(e.iter().map(|(k, v)| (k.clone(), json_meta(v))).collect())
                })
                .collect(),
        ),
    }
}

fn yaml_meta(out: &mut String, entries: &[(String, Meta)], indent: usize, first_prefix: Option<&str>) {
    for (i, (k, v)) in entries.iter().enumerate() {
        let pad = match (i, first_prefix) {
            (0, Some(p)) => p.to_owned(),
            _ => " ".repeat(indent),
        };
        match v {
            Meta::Str(s) if s.contains('\n') => {
                out.push_str(&format!("{pad}{k}: |\n"));
                for line in s.lines() {
                    out.push_str(&format!("{}{line}\n", " ".repeat(indent + 4)));
                }
            }
            Meta::Str(s) if s.starts_with("ENC[") => out.push_str(&format!("{pad}{k}: {s}\n")),
            Meta::Str(s) => out.push_str(&format!("{pad}{k}: {}\n", serde_json::Value::String(s.clone()))),
            Meta::Bool(b) => out.push_str(&format!("{pad}{k}: {b}\n")),
            Meta::Int(n) => out.push_str(&format!("{pad}{k}: {n}\n")),
            Meta::List(items) => {
                out.push_str(&format!("{pad}{k}:\n"));
                for e in items {
                    let dash = format!("{}- ", " ".repeat(indent + 4));
                    yaml_meta(out, e, indent + 6, Some(&dash));
                }
            }
        }
    }
}

fn flat_meta(out: &mut Vec<(String, String)>, prefix: &str, entries: &[(String, Meta)]) {
    for (k, v) in entries {
        let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}__map_{k}") };
        match v {
            Meta::Str(s) => out.push((key, s.replace('\n', "\\n"))),
            Meta::Bool(b) => out.push((key, b.to_string())),
            Meta::Int(n) => out.push((key, n.to_string())),
            Meta::List(items) => {
                for (i, e) in items.iter().enumerate() {
                    flat_meta(out, &format!("{key}__list_{i}"), e);
                }
            }
        }
    }
}

/// Encrypts `plain` as sops would with the given store and options.
pub fn encrypt(kind: StoreKind, plain: &[u8], opts: &Options) -> Result<Vec<u8>, String> {
    let n = opts.group_count();
    let group_empty =
        |g: usize| opts.groups.get(g).is_none_or(Vec::is_empty) && opts.pgp.get(g).is_none_or(Vec::is_empty);
    if n == 0 || (0..n).any(group_empty) {
        return Err("empty key group provided".to_owned());
    }
    let mut rng = Rng::new(opts.seed);
    let key = DataKey(Zeroizing::new(rng.fill::<32>().to_vec()));
    let cipher = ValueCipher::new(&key).map_err(|e| e.to_string())?;
    let loaded = if kind == StoreKind::Binary {
        store::Loaded { tree: store::plain_binary(plain), metadata: None, rejected: None }
    } else {
        store::load(kind, plain).map_err(|e| e.message)?
    };
    let mut loaded = loaded;
    // The MAC covers the values as the version written in the metadata types them.
    if kind == StoreKind::Json && store::json::numbers_are_floats(Some(&opts.version)) {
        store::json::retype_numbers_as_floats(&mut loaded.tree, plain);
    }
    if loaded.metadata.is_some() {
        return Err("already encrypted".to_owned());
    }
    let rule = match (&opts.rule, kind) {
        (_, StoreKind::Binary) | (None, _) => EncryptionRule::default_rule(),
        (Some(r), _) => {
            let (k, v) = r.parts();
            EncryptionRule::new(k, v)
        }
    };
    let mac_only = opts.mac_only_encrypted && kind != StoreKind::Binary;
    let mut h = Sha512::new();
    if mac_only {
        h.update(Sha256::digest(b"sops"));
    }
    let mut repl: Vec<(Span, String)> = Vec::new();
    tree::walk(&loaded.tree, &rule, &mut |leaf| {
        let aad = tree::aad(leaf.path);
        if let Some(text) = leaf.comment {
            if leaf.encrypt && !text.is_empty() {
                let iv = rng.fill::<32>();
                let enc = cipher.seal(text.as_bytes(), &iv, aad.as_bytes(), "comment");
                let r = match kind {
                    StoreKind::Ini => format!("; {enc}"),
                    StoreKind::Yaml if opts.comments_as_list_items => format!("- {enc}"),
                    _ => format!("#{enc}"),
                };
                repl.push((leaf.span.clone(), r));
            }
            return;
        }
        let Some(s) = leaf.scalar else { return };
        let bytes = Zeroizing::new(s.to_bytes());
        if !mac_only || leaf.encrypt {
            h.update(&bytes[..]);
        }
        if !leaf.encrypt || s.is_empty_or_null() {
            return;
        }
        let iv = rng.fill::<32>();
        let ty = match s {
            Scalar::Str(_) | Scalar::Null => "str",
            Scalar::Int(_) => "int",
            Scalar::Float(_) => "float",
            Scalar::Bool(_) => "bool",
            Scalar::Time(_) => "time",
        };
        let enc = cipher.seal(&bytes, &iv, aad.as_bytes(), ty);
        let r = match kind {
            StoreKind::Json => format!("\"{enc}\""),
            _ => enc,
        };
        repl.push((leaf.span.clone(), r));
    });
    let mac_hex = hex::encode_upper(h.finalize());
    let lm = value::parse_rfc3339_nano(&opts.lastmodified).ok_or("bad lastmodified")?.format_rfc3339();
    let iv = rng.fill::<32>();
    let mac = cipher.seal(mac_hex.as_bytes(), &iv, lm.as_bytes(), "str");
    let md = build_metadata(opts, &key.0, mac, kind, &mut rng)?;

    if kind == StoreKind::Binary {
        let data = repl.pop().map(|r| r.1).unwrap_or_default();
        let mut obj = serde_json::Map::new();
        obj.insert("data".to_owned(), serde_json::Value::String(data));
        obj.insert(
            "sops".to_owned(),
            serde_json::Value::Object(md.iter().map(|(k, v)| (k.clone(), json_meta(v))).collect()),
        );
        return serde_json::to_vec_pretty(&serde_json::Value::Object(obj)).map_err(|e| e.to_string());
    }
    let mut text = String::from_utf8(plain.to_vec()).map_err(|e| e.to_string())?;
    repl.sort_by_key(|r| std::cmp::Reverse(r.0.start));
    for (span, r) in &repl {
        text.replace_range(span.clone(), r);
    }
    match kind {
        StoreKind::Yaml => {
            let mut block = String::from("sops:\n");
            yaml_meta(&mut block, &md, 4, None);
            let stream = crate::yaml::parse(&text).map_err(|e| e.message)?;
            // The end of each document's content: the last non-blank byte before its root ends.
            let mut ends: Vec<usize> = stream
                .documents
                .iter()
                .map(|d| text[..d.root.span.end.min(text.len())].trim_end().len().saturating_sub(1))
                .collect();
            if ends.is_empty() {
                ends.push(text.len());
            }
            for end in ends.into_iter().rev() {
                // The metadata goes at the end of each document, on a line of its own.
                let line_end = text[end..].find('\n').map_or(text.len(), |i| end + i + 1);
                let mut ins = String::new();
                if line_end == text.len() && !text.ends_with('\n') && !text.is_empty() {
                    ins.push('\n');
                }
                ins.push_str(&block);
                text.insert_str(line_end, &ins);
            }
        }
        StoreKind::Json => {
            let close = text.rfind('}').ok_or("no closing brace")?;
            let has_items = !loaded.tree.branches[0].is_empty();
            let body = serde_json::to_string_pretty(&serde_json::Value::Object(
                md.iter().map(|(k, v)| (k.clone(), json_meta(v))).collect(),
            ))
            .map_err(|e| e.to_string())?;
            let ins =
                format!("{}\n\t\"sops\": {}\n", if has_items { "," } else { "" }, body.replace('\n', "\n\t"));
            let trimmed = text[..close].trim_end().len();
            text.replace_range(trimmed..close, &ins);
        }
        StoreKind::Dotenv => {
            let mut flat = Vec::new();
            flat_meta(&mut flat, "", &md);
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            for (k, v) in flat {
                text.push_str(&format!("sops_{k}={v}\n"));
            }
        }
        StoreKind::Ini => {
            let mut flat = Vec::new();
            flat_meta(&mut flat, "", &md);
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str("\n[sops]\n");
            for (k, v) in flat {
                text.push_str(&format!("{k} = {v}\n"));
            }
        }
        StoreKind::Binary => unreachable!("handled above"),
    }
    let _ = Item::Elem;
    let _ = Value::List(Vec::new());
    Ok(text.into_bytes())
}
