//! Identities and data-key recovery (`sops.go:GetDataKeyWithKeyServices`, `shamir/shamir.go`).
//!
//! Identities come from the places sops reads them (`age/keysource.go:loadIdentities`): every
//! `--identity FILE`, `SOPS_AGE_KEY_FILE`, `SOPS_AGE_KEY` (several keys per line allowed), the
//! default `keys.txt` (`$XDG_CONFIG_HOME/sops/age/keys.txt`, else `~/.config/sops/age/keys.txt`;
//! on macOS `~/Library/Application Support/sops/age/keys.txt` unless `XDG_CONFIG_HOME` is set),
//! and one SSH key as sops 3.10+ reads it: `SOPS_AGE_SSH_PRIVATE_KEY_FILE`, else
//! `~/.ssh/id_ed25519`, else `~/.ssh/id_rsa`.
//!
//! What a file given with `--identity` (or `SOPS_AGE_KEY_FILE`) may hold, told apart by content:
//!
//! * age identities (`AGE-SECRET-KEY-1…`, one per line, `#` comments);
//! * an OpenSSH `ssh-ed25519` or `ssh-rsa` private key (age's SSH recipients, `ssh-… AAAA…`);
//! * OpenPGP secret keys, armored (`gpg --export-secret-keys --armor`) or binary, several per
//!   file; protected ones are unlocked with `SOPSGUARD_PGP_PASSPHRASE` (see [`super::openpgp`]).
//!
//! A file that cannot be read is an error (the scan stops, exit 2). Content that holds no usable
//! key (a corrupt key, a passphrase-protected SSH key or age identity file, a file that is no key
//! at all) is a note naming the file, and the scan goes on with the other identities. Unusable SSH
//! keys at the default `~/.ssh` paths are skipped silently, as most are passphrase-protected.
//! `SOPS_AGE_KEY_CMD` and `SOPS_AGE_SSH_PRIVATE_KEY_CMD` are never run (a linter does not execute
//! commands from the environment): a note says so. Post-quantum (`AGE-SECRET-KEY-PQ-1…`) and
//! plugin identities are recognised and skipped with a note: the `age` crate this build uses
//! (0.12) cannot unwrap them.
//!
//! Each distinct PGP message (`enc`) is unwrapped once per run and the result kept in memory
//! (zeroized on drop): an RSA-4096 decryption costs milliseconds, and a history scan meets the
//! same `enc` in every version of a file. age stanzas are not cached: one X25519 exchange costs
//! less than a cache shared by the scan's threads (the parallel MAC bench lost 15% with one).

use std::collections::HashMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::cipher::DataKey;
use super::metadata::{KeyKind, MasterKey};
use super::openpgp::{self, PgpKey};

/// One usable age identity.
struct AgeIdentity {
    identity: age::x25519::Identity,
    recipient: String,
}

/// One usable (unencrypted) SSH key, as an age identity.
struct SshIdentity {
    identity: age::ssh::Identity,
    /// `ssh-ed25519 AAAA…` (type and key, no comment).
    recipient: String,
}

/// At most this many unwrapped keys are remembered (about 100 bytes each).
const CACHE_LIMIT: usize = 1 << 16;

/// SHA-256 of a PGP `enc` → what it unwrapped to (`None`: no key opened it).
type UnwrapCache = Mutex<HashMap<[u8; 32], Option<Zeroizing<Vec<u8>>>>>;

/// Identities available for MAC verification: age (X25519 and SSH) and OpenPGP. Key material is
/// zeroized on drop (the `age` and `pgp` crates' key types do so), and neither `Debug` nor any
/// error or note shows it.
#[derive(Default)]
pub struct Identities {
    keys: Vec<AgeIdentity>,
    ssh: Vec<SshIdentity>,
    pgp: Vec<PgpKey>,
    skipped: usize,
    notes: Vec<String>,
    cache: UnwrapCache,
}

impl fmt::Debug for Identities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identities")
            .field("age", &self.keys.len())
            .field("ssh", &self.ssh.len())
            .field("pgp", &self.pgp.len())
            .field("skipped", &self.skipped)
            .finish()
    }
}

/// Why identities could not be loaded. Never contains key material, only where and which line.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// A file could not be read.
    #[error("cannot read identity file {path}: {reason}")]
    Read {
        /// The file (or environment variable naming it).
        path: String,
        /// The I/O error kind.
        reason: String,
    },
    /// A line is not an age identity.
    #[error("{source_name}, line {line}: not an age identity (AGE-SECRET-KEY-1…), an OpenSSH private key or an OpenPGP secret key")]
    Parse {
        /// File path or environment variable.
        source_name: String,
        /// 1-based line number.
        line: usize,
    },
    /// The file is itself age-encrypted (passphrase-protected), which is not supported.
    #[error("{source_name}: passphrase-protected identity files are not supported")]
    Encrypted {
        /// File path or environment variable.
        source_name: String,
    },
}

/// Where an identity source comes from: named by the user, or a default location that may hold
/// anything (unusable keys there are skipped without a note).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Origin {
    Named,
    Default,
}

impl Identities {
    /// No identities: MACs are counted as unverified.
    pub fn none() -> Identities {
        Identities::default()
    }

    /// Whether any identity is loaded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many identities are loaded (age, SSH and OpenPGP).
    pub fn len(&self) -> usize {
        self.keys.len() + self.ssh.len() + self.pgp.len()
    }

    /// How many recognised but unusable identities (post-quantum, plugin, protected, broken) were
    /// skipped.
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// What was skipped and why, one line each (file names, fingerprints; never key material).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// The recipients (`age1…`, `ssh-ed25519 AAAA…`) of the loaded age and SSH identities, for
    /// display.
    pub fn recipients(&self) -> Vec<String> {
        self.keys
            .iter()
            .map(|k| k.recipient.clone())
            .chain(self.ssh.iter().map(|k| k.recipient.clone()))
            .collect()
    }

    /// The primary-key fingerprints of the loaded OpenPGP keys (upper-case hex).
    pub fn pgp_fingerprints(&self) -> Vec<String> {
        self.pgp.iter().map(|k| k.fingerprint.clone()).collect()
    }

    /// Forgets every unwrapped data key (benchmarks measure the unwrap itself with it).
    pub fn clear_cache(&self) {
        if let Ok(mut c) = self.cache.lock() {
            c.clear();
        }
    }

    /// How many distinct PGP `enc` blobs were unwrapped (or tried).
    #[cfg(test)]
    pub(crate) fn cached(&self) -> usize {
        self.cache.lock().map_or(0, |c| c.len())
    }

    /// Adds another set's identities (as several `--identity` files would).
    #[cfg(test)]
    pub(crate) fn merge(&mut self, other: Identities) {
        self.keys.extend(other.keys);
        self.ssh.extend(other.ssh);
        self.pgp.extend(other.pgp);
    }

    /// Loads identities from `files` (`--identity`, repeatable) and from what sops reads: the
    /// environment (`SOPS_AGE_KEY_FILE`, `SOPS_AGE_KEY`, `SOPS_AGE_SSH_PRIVATE_KEY_FILE`; `env` is
    /// injected so tests control it), the default `keys.txt` location and the default SSH key
    /// (silently skipped when absent). `SOPSGUARD_PGP_PASSPHRASE` unlocks protected OpenPGP keys.
    /// Only an unreadable file is an error; content without a usable key is a [`note`](Self::notes).
    pub fn load(
        files: &[PathBuf],
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Identities, IdentityError> {
        let mut ids = Identities::default();
        let passphrase = env("SOPSGUARD_PGP_PASSPHRASE").map(Zeroizing::new);
        let pw = passphrase.as_ref().map(|p| p.as_str());
        for f in files {
            ids.add_file(f, &f.display().to_string(), pw, Origin::Named)?;
        }
        if let Some(path) = env("SOPS_AGE_KEY_FILE").filter(|p| !p.is_empty()) {
            ids.add_file(Path::new(&path), &format!("SOPS_AGE_KEY_FILE ({path})"), pw, Origin::Named)?;
        }
        if let Some(text) = env("SOPS_AGE_KEY") {
            let text = Zeroizing::new(text);
            let r = ids.add_text("SOPS_AGE_KEY", &text, true);
            ids.soften(r);
        }
        for var in ["SOPS_AGE_KEY_CMD", "SOPS_AGE_SSH_PRIVATE_KEY_CMD"] {
            if env(var).is_some_and(|v| !v.trim().is_empty()) {
                ids.note(format!(
                    "{var} is set but was not run: sopsguard never executes commands from the environment; pass the identities it prints with --identity or SOPS_AGE_KEY"
                ));
            }
        }
        if let Some(path) = default_keys_path(&env) {
            if path.is_file() {
                ids.add_file(&path, &path.display().to_string(), pw, Origin::Named)?;
            }
        }
        match env("SOPS_AGE_SSH_PRIVATE_KEY_FILE").filter(|p| !p.is_empty()) {
            Some(path) => ids.add_file(
                Path::new(&path),
                &format!("SOPS_AGE_SSH_PRIVATE_KEY_FILE ({path})"),
                pw,
                Origin::Named,
            )?,
            None => {
                if let Some(path) = default_ssh_key(&env) {
                    // Errors here (unreadable, encrypted, unsupported) are nobody's request.
                    let _ = ids.add_file(&path, &path.display().to_string(), pw, Origin::Default);
                }
            }
        }
        Ok(ids)
    }

    /// Parses identities from text (an identity file's content: age identities, an OpenSSH
    /// private key or OpenPGP secret keys). Strict: a line that is not an age identity is an
    /// error.
    pub fn from_text(source_name: &str, text: &str) -> Result<Identities, IdentityError> {
        let mut ids = Identities::default();
        ids.add_data(source_name, text.as_bytes(), None, Origin::Named)?;
        Ok(ids)
    }

    fn note(&mut self, n: String) {
        if !self.notes.contains(&n) {
            self.notes.push(n);
        }
    }

    /// A content problem becomes a note; the scan goes on with the other identities.
    fn soften(&mut self, r: Result<(), IdentityError>) {
        if let Err(e) = r {
            self.skipped += 1;
            self.note(format!("{e}: skipped"));
        }
    }

    fn add_file(
        &mut self,
        path: &Path,
        name: &str,
        passphrase: Option<&str>,
        origin: Origin,
    ) -> Result<(), IdentityError> {
        let mut buf = Zeroizing::new(Vec::new());
        // Never blocks on a FIFO; at most 16 MiB.
        let f = crate::fsread::open_regular(path)
            .map_err(|e| IdentityError::Read { path: name.to_owned(), reason: e.to_string() })?;
        f.take(16 << 20)
            .read_to_end(&mut buf)
            .map_err(|e| IdentityError::Read { path: name.to_owned(), reason: e.kind().to_string() })?;
        let r = self.add_data(name, &buf, passphrase, origin);
        self.soften(r);
        Ok(())
    }

    /// One source's content, by what it holds.
    fn add_data(
        &mut self,
        name: &str,
        data: &[u8],
        passphrase: Option<&str>,
        origin: Origin,
    ) -> Result<(), IdentityError> {
        let text = Zeroizing::new(String::from_utf8_lossy(data).into_owned());
        if is_ssh_private_key(&text) {
            self.add_ssh(name, &text, origin);
            return Ok(());
        }
        if openpgp::looks_like_keys(data) {
            let loaded = openpgp::load(name, data, passphrase);
            self.skipped += loaded.notes.len();
            for n in loaded.notes {
                self.note(n);
            }
            for k in loaded.keys {
                if !self.pgp.iter().any(|p| p.fingerprint == k.fingerprint) {
                    self.pgp.push(k);
                }
            }
            return Ok(());
        }
        if origin == Origin::Default {
            return Ok(());
        }
        self.add_text(name, &text, false)
    }

    fn add_ssh(&mut self, name: &str, text: &str, origin: Origin) {
        let parsed = age::ssh::Identity::from_buffer(text.as_bytes(), None);
        let problem = match parsed {
            Ok(id @ age::ssh::Identity::Unencrypted(_)) => {
                match age::ssh::Recipient::try_from(id.clone()) {
                    Ok(r) => {
                        let recipient = r.to_string();
                        if !self.ssh.iter().any(|k| k.recipient == recipient) {
                            self.ssh.push(SshIdentity { identity: id, recipient });
                        }
                        return;
                    }
                    Err(_) => "an SSH key whose public key cannot be derived".to_owned(),
                }
            }
            Ok(age::ssh::Identity::Encrypted(_)) => "a passphrase-protected SSH key (sopsguard never prompts; decrypt a copy with `ssh-keygen -p` and pass that)".to_owned(),
            Ok(age::ssh::Identity::Unsupported(k)) => match k {
                age::ssh::UnsupportedKey::Type(t) | age::ssh::UnsupportedKey::Hardware(t) => {
                    // The key type name only (`ecdsa-sha2-nistp256`, `sk-ssh-ed25519@openssh.com`).
                    let t: String = t.chars().filter(|c| c.is_ascii_graphic()).take(64).collect();
                    format!("an SSH key of type {t}, which age cannot use (only ssh-ed25519 and ssh-rsa)")
                }
                age::ssh::UnsupportedKey::EncryptedSsh(_) | age::ssh::UnsupportedKey::EncryptedPem => {
                    "a passphrase-protected SSH key in a format age cannot decrypt".to_owned()
                }
            },
            Err(_) => "a corrupt or unsupported SSH private key".to_owned(),
        };
        self.skipped += 1;
        if origin == Origin::Named {
            self.note(format!("{name}: {problem}: skipped"));
        }
    }

    fn add_text(&mut self, name: &str, text: &str, many_per_line: bool) -> Result<(), IdentityError> {
        if text.trim_start().starts_with("age-encryption.org/")
            || text.contains("-----BEGIN AGE ENCRYPTED FILE-----")
        {
            return Err(IdentityError::Encrypted { source_name: name.to_owned() });
        }
        let (mut pq, mut plugin) = (0usize, 0usize);
        let mut first_error = None;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let words: Vec<&str> = if many_per_line { line.split_whitespace().collect() } else { vec![line] };
            for w in words {
                if w.starts_with("AGE-SECRET-KEY-PQ-1") {
                    pq += 1;
                    continue;
                }
                if w.starts_with("AGE-PLUGIN-") {
                    plugin += 1;
                    continue;
                }
                match w.parse::<age::x25519::Identity>() {
                    Ok(identity) => {
                        let recipient = identity.to_public().to_string();
                        if !self.keys.iter().any(|k| k.recipient == recipient) {
                            self.keys.push(AgeIdentity { identity, recipient });
                        }
                    }
                    Err(_) => {
                        // Keep the keys on the other lines; report the first bad one.
                        first_error.get_or_insert(IdentityError::Parse {
                            source_name: name.to_owned(),
                            line: n + 1,
                        });
                    }
                }
            }
        }
        self.skipped += pq + plugin;
        if pq > 0 {
            self.note(format!("{name}: {pq} post-quantum age identity(ies) (AGE-SECRET-KEY-PQ-1…) skipped: the age crate of this build (0.12) cannot unwrap hybrid ML-KEM stanzas"));
        }
        if plugin > 0 {
            self.note(format!(
                "{name}: {plugin} age plugin identity(ies) (AGE-PLUGIN-…) skipped: sopsguard does not run age plugins"
            ));
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Unwraps one master key's `enc` (an age file or a PGP message) to its plaintext (a data
    /// key or a Shamir share); a PGP message once per distinct `enc`.
    pub(crate) fn unwrap_key(&self, k: &MasterKey) -> Option<Zeroizing<Vec<u8>>> {
        match k.kind {
            // One X25519 exchange: cheaper than sharing a cache between the scan's threads.
            KeyKind::Age => return self.unwrap_age(&k.enc, &k.id),
            KeyKind::Pgp if !self.pgp.is_empty() => {}
            _ => return None,
        }
        let mut h = Sha256::new();
        h.update([b'p']);
        h.update(k.enc.as_bytes());
        let digest: [u8; 32] = h.finalize().into();
        if let Some(hit) = self.cache.lock().ok().and_then(|c| c.get(&digest).cloned()) {
            return hit;
        }
        let out = openpgp::unwrap(&self.pgp, &k.enc, &k.id);
        if let Ok(mut c) = self.cache.lock() {
            if c.len() < CACHE_LIMIT {
                c.insert(digest, out.clone());
            }
        }
        out
    }

    /// Unwraps one age `enc` block (an armored age file) to its plaintext (a data key or a Shamir
    /// share). The identity whose recipient matches `recipient_hint` is tried first; the label is
    /// only a hint, as in sops.
    pub(crate) fn unwrap_age(&self, enc: &str, recipient_hint: &str) -> Option<Zeroizing<Vec<u8>>> {
        if (self.keys.is_empty() && self.ssh.is_empty()) || enc.len() > 64 * 1024 {
            return None;
        }
        let mut order: Vec<&dyn age::Identity> = Vec::new();
        order.extend(
            self.keys
                .iter()
                .filter(|k| k.recipient == recipient_hint)
                .map(|k| &k.identity as &dyn age::Identity),
        );
        order.extend(
            self.ssh
                .iter()
                .filter(|k| same_ssh_key(&k.recipient, recipient_hint))
                .map(|k| &k.identity as &dyn age::Identity),
        );
        order.extend(
            self.keys
                .iter()
                .filter(|k| k.recipient != recipient_hint)
                .map(|k| &k.identity as &dyn age::Identity),
        );
        order.extend(
            self.ssh
                .iter()
                .filter(|k| !same_ssh_key(&k.recipient, recipient_hint))
                .map(|k| &k.identity as &dyn age::Identity),
        );
        let reader = age::armor::ArmoredReader::new(enc.trim().as_bytes());
        let decryptor = age::Decryptor::new_buffered(reader).ok()?;
        if decryptor.is_scrypt() {
            return None;
        }
        let mut r = decryptor.decrypt(order.into_iter()).ok()?;
        let mut out = Zeroizing::new(Vec::with_capacity(64));
        // A sops payload is a short key; refuse anything large.
        let mut limited = (&mut r).take(4096);
        limited.read_to_end(&mut out).ok()?;
        Some(out)
    }
}

/// Whether a text is an SSH private key age knows how to read (OpenSSH, or PEM RSA).
fn is_ssh_private_key(text: &str) -> bool {
    let t = text.trim_start();
    t.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----") || t.starts_with("-----BEGIN RSA PRIVATE KEY-----")
}

/// Whether two SSH public keys (`ssh-ed25519 AAAA… comment`) are the same key: the same type and
/// key body, whatever the comment and spacing.
pub(crate) fn same_ssh_key(a: &str, b: &str) -> bool {
    let parts = |s: &str| {
        let mut it = s.split_whitespace();
        (it.next().map(str::to_owned), it.next().map(str::to_owned))
    };
    match (parts(a), parts(b)) {
        ((Some(ta), Some(ka)), (Some(tb), Some(kb))) => ta.starts_with("ssh-") && ta == tb && ka == kb,
        _ => false,
    }
}

/// The SSH key sops 3.10+ reads when `SOPS_AGE_SSH_PRIVATE_KEY_FILE` is unset:
/// `~/.ssh/id_ed25519` if it exists, else `~/.ssh/id_rsa`.
fn default_ssh_key(env: &impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let home = env("HOME").or_else(|| if cfg!(windows) { env("USERPROFILE") } else { None });
    let ssh = Path::new(&home.filter(|h| !h.is_empty())?).join(".ssh");
    ["id_ed25519", "id_rsa"].iter().map(|n| ssh.join(n)).find(|p| p.is_file())
}

fn default_keys_path(env: &impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let xdg = env("XDG_CONFIG_HOME").filter(|s| !s.is_empty());
    let home = env("HOME").filter(|s| !s.is_empty());
    let base = if cfg!(target_os = "macos") {
        xdg.map(PathBuf::from).or_else(|| home.map(|h| Path::new(&h).join("Library/Application Support")))
    } else if cfg!(windows) {
        env("APPDATA").filter(|s| !s.is_empty()).map(PathBuf::from)
    } else {
        xdg.filter(|x| Path::new(x).is_absolute())
            .map(PathBuf::from)
            .or_else(|| home.map(|h| Path::new(&h).join(".config")))
    }?;
    Some(base.join("sops").join("age").join("keys.txt"))
}

/// The result of trying to recover a file's data key.
pub(crate) enum KeyOutcome {
    /// The data key.
    Key(DataKey),
    /// No identity opened enough groups. `opened` of `groups` groups were opened.
    NotOpened { opened: usize, needed: usize },
    /// Shares were recovered but could not be combined (inconsistent shares).
    Broken(&'static str),
}

/// `GetDataKeyWithKeyServices`: one part per group, trying its keys in sops'
/// `DefaultDecryptionOrder` (age, then PGP; each in metadata order; other types cannot be opened
/// here), then Shamir over every recovered part when there are several groups.
pub(crate) fn recover_data_key(groups: &[Vec<MasterKey>], threshold: i64, ids: &Identities) -> KeyOutcome {
    let mut parts: Vec<Zeroizing<Vec<u8>>> = Vec::new();
    for g in groups {
        let part = [KeyKind::Age, KeyKind::Pgp]
            .iter()
            .flat_map(|kind| g.iter().filter(move |k| k.kind == *kind))
            .find_map(|k| ids.unwrap_key(k));
        if let Some(p) = part {
            parts.push(p);
        }
    }
    if groups.len() <= 1 {
        return match parts.pop() {
            Some(p) => KeyOutcome::Key(DataKey(p)),
            None => KeyOutcome::NotOpened { opened: 0, needed: 1 },
        };
    }
    let needed = usize::try_from(threshold).unwrap_or(0).max(2);
    if parts.len() < needed {
        return KeyOutcome::NotOpened { opened: parts.len(), needed };
    }
    match combine(&parts) {
        Ok(k) => KeyOutcome::Key(DataKey(k)),
        Err(e) => KeyOutcome::Broken(e),
    }
}

fn gf_mul(mut a: u8, mut b: u8) -> u8 {
    let mut r = 0u8;
    while b != 0 {
        if b & 1 != 0 {
            r ^= a;
        }
        let hi = a & 0x80;
        a <<= 1;
        if hi != 0 {
            a ^= 0x1b;
        }
        b >>= 1;
    }
    r
}

fn gf_inv(a: u8) -> u8 {
    // a^254
    let mut r = 1u8;
    let mut base = a;
    let mut e = 254u32;
    while e > 0 {
        if e & 1 == 1 {
            r = gf_mul(r, base);
        }
        base = gf_mul(base, base);
        e >>= 1;
    }
    r
}

fn gf_div(a: u8, b: u8) -> u8 {
    if a == 0 {
        0
    } else {
        gf_mul(a, gf_inv(b))
    }
}

/// `shamir.Combine`: Lagrange interpolation at 0, byte by byte; each part's last byte is its x.
pub(crate) fn combine(parts: &[Zeroizing<Vec<u8>>]) -> Result<Zeroizing<Vec<u8>>, &'static str> {
    if parts.len() < 2 {
        return Err("less than two parts cannot be used to reconstruct the secret");
    }
    let len = parts[0].len();
    if len < 2 {
        return Err("parts must be at least two bytes");
    }
    if parts.iter().any(|p| p.len() != len) {
        return Err("all parts must be the same length");
    }
    let xs: Vec<u8> = parts.iter().map(|p| p[len - 1]).collect();
    for (i, x) in xs.iter().enumerate() {
        if xs[..i].contains(x) {
            return Err("duplicate part detected");
        }
    }
    let mut secret = Zeroizing::new(vec![0u8; len - 1]);
    for (idx, out) in secret.iter_mut().enumerate() {
        let mut result = 0u8;
        for i in 0..parts.len() {
            let mut basis = 1u8;
            for j in 0..parts.len() {
                if i == j {
                    continue;
                }
                let term = gf_div(xs[j], xs[i] ^ xs[j]);
                basis = gf_mul(basis, term);
            }
            result ^= gf_mul(parts[i][idx], basis);
        }
        *out = result;
    }
    Ok(secret)
}

/// `shamir.Split` (test encryptor only): shares `[y…, x]` with x = 1..=n, random coefficients from
/// `rand`.
#[cfg(any(test, feature = "testkit"))]
pub(crate) fn split(
    secret: &[u8],
    parts: usize,
    threshold: usize,
    rand: &mut dyn FnMut() -> u8,
) -> Vec<Zeroizing<Vec<u8>>> {
    let mut out: Vec<Zeroizing<Vec<u8>>> =
        (0..parts).map(|_| Zeroizing::new(vec![0u8; secret.len() + 1])).collect();
    for (i, share) in out.iter_mut().enumerate() {
        share[secret.len()] = (i + 1) as u8;
    }
    for (idx, &byte) in secret.iter().enumerate() {
        let coeffs: Vec<u8> = std::iter::once(byte).chain((1..threshold).map(|_| rand())).collect();
        for share in out.iter_mut() {
            let x = share[secret.len()];
            // Horner evaluation
            let mut y = 0u8;
            for c in coeffs.iter().rev() {
                y = gf_mul(y, x) ^ c;
            }
            share[idx] = y;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shamir_round_trip() {
        let secret: Vec<u8> = (0..32).collect();
        let mut state = 7u8;
        let mut rand = || {
            state = state.wrapping_mul(31).wrapping_add(17);
            state
        };
        let shares = split(&secret, 3, 2, &mut rand);
        for (a, b) in [(0, 1), (1, 2), (0, 2)] {
            let k = combine(&[shares[a].clone(), shares[b].clone()]).unwrap();
            assert_eq!(&k[..], &secret[..]);
        }
        assert_eq!(&combine(&shares).unwrap()[..], &secret[..]);
        assert!(combine(&shares[..1]).is_err());
    }

    #[test]
    fn identity_errors_hide_keys() {
        let e = Identities::from_text("keys.txt", "# c\nAGE-SECRET-KEY-1NOTAKEY\n").err().unwrap();
        let msg = e.to_string();
        assert!(msg.contains("line 2"));
        assert!(!msg.contains("NOTAKEY"));
        let id = age::x25519::Identity::generate();
        use age::secrecy::ExposeSecret;
        let text = id.to_string();
        let ids = Identities::from_text("k", text.expose_secret()).unwrap();
        assert_eq!(ids.len(), 1);
        assert!(!format!("{ids:?}").contains("AGE-SECRET"));
        let pq = Identities::from_text("k", "AGE-SECRET-KEY-PQ-1XYZ\n").unwrap();
        assert_eq!((pq.len(), pq.skipped()), (0, 1));
    }

    #[test]
    fn load_uses_env() {
        let dir = std::env::temp_dir().join(format!("sopsguard-ids-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sops/age")).unwrap();
        let a = age::x25519::Identity::generate();
        let b = age::x25519::Identity::generate();
        use age::secrecy::ExposeSecret;
        std::fs::write(dir.join("sops/age/keys.txt"), format!("{}\n", a.to_string().expose_secret()))
            .unwrap();
        let b_text = b.to_string().expose_secret().to_owned();
        let d = dir.display().to_string();
        let ids = Identities::load(&[], |k| match k {
            "XDG_CONFIG_HOME" => Some(d.clone()),
            "SOPS_AGE_KEY" => Some(format!("{b_text} {b_text}")),
            _ => None,
        })
        .unwrap();
        assert_eq!(ids.len(), 2);
        let missing = Identities::load(&[dir.join("nope")], |_| None).err().unwrap();
        assert!(missing.to_string().contains("nope"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
