//! Age identities and data-key recovery (`sops.go:GetDataKeyWithKeyServices`, `shamir/shamir.go`).
//!
//! Identities come from the places sops reads them (`age/keysource.go:loadIdentities`): every
//! `--identity FILE`, `SOPS_AGE_KEY_FILE`, `SOPS_AGE_KEY` (several keys per line allowed), and the
//! default `keys.txt` (`$XDG_CONFIG_HOME/sops/age/keys.txt`, else `~/.config/sops/age/keys.txt`;
//! on macOS `~/Library/Application Support/sops/age/keys.txt` unless `XDG_CONFIG_HOME` is set).
//! `SOPS_AGE_KEY_CMD` is not run: a linter does not execute commands from the environment.
//! Post-quantum (`AGE-SECRET-KEY-PQ-1…`) and plugin identities are recognised and skipped: the
//! `age` crate this build uses cannot unwrap them.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::cipher::DataKey;
use super::metadata::{KeyKind, MasterKey};

/// One usable age identity.
struct AgeIdentity {
    identity: age::x25519::Identity,
    recipient: String,
}

/// Age identities available for MAC verification. Key material is zeroized on drop (the `age`
/// crate's identity type does so), and neither `Debug` nor any error shows it.
#[derive(Default)]
pub struct Identities {
    keys: Vec<AgeIdentity>,
    skipped: usize,
}

impl fmt::Debug for Identities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identities").field("count", &self.keys.len()).field("skipped", &self.skipped).finish()
    }
}

/// Why identities could not be loaded. Never contains key material, only where and which line.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// A file could not be read.
    #[error("cannot read age identity file {path}: {reason}")]
    Read {
        /// The file (or environment variable naming it).
        path: String,
        /// The I/O error kind.
        reason: String,
    },
    /// A line is not an age identity.
    #[error("{source_name}, line {line}: not an age identity (AGE-SECRET-KEY-1…)")]
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

impl Identities {
    /// No identities: MACs are counted as unverified.
    pub fn none() -> Identities {
        Identities::default()
    }

    /// Whether any identity is loaded.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// How many identities are loaded.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// How many recognised but unsupported identities (post-quantum, plugin) were skipped.
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// The recipients (`age1…`) of the loaded identities, for display.
    pub fn recipients(&self) -> Vec<String> {
        self.keys.iter().map(|k| k.recipient.clone()).collect()
    }

    /// Loads identities from `files` (`--identity`, repeatable) and from what sops reads: the
    /// environment (`SOPS_AGE_KEY_FILE`, `SOPS_AGE_KEY`; `env` is injected so tests control it) and
    /// the default `keys.txt` location (silently skipped when absent).
    pub fn load(
        files: &[PathBuf],
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Identities, IdentityError> {
        let mut ids = Identities::default();
        for f in files {
            ids.add_file(f, &f.display().to_string())?;
        }
        if let Some(path) = env("SOPS_AGE_KEY_FILE").filter(|p| !p.is_empty()) {
            ids.add_file(Path::new(&path), &format!("SOPS_AGE_KEY_FILE ({path})"))?;
        }
        if let Some(text) = env("SOPS_AGE_KEY") {
            let text = Zeroizing::new(text);
            ids.add_text("SOPS_AGE_KEY", &text, true)?;
        }
        if let Some(path) = default_keys_path(&env) {
            if path.is_file() {
                ids.add_file(&path, &path.display().to_string())?;
            }
        }
        Ok(ids)
    }

    /// Parses identities from text (an identity file's content).
    pub fn from_text(source_name: &str, text: &str) -> Result<Identities, IdentityError> {
        let mut ids = Identities::default();
        ids.add_text(source_name, text, false)?;
        Ok(ids)
    }

    fn add_file(&mut self, path: &Path, name: &str) -> Result<(), IdentityError> {
        let mut buf = Zeroizing::new(Vec::new());
        // Never blocks on a FIFO; at most 16 MiB.
        let f = crate::fsread::open_regular(path)
            .map_err(|e| IdentityError::Read { path: name.to_owned(), reason: e.to_string() })?;
        f.take(16 << 20)
            .read_to_end(&mut buf)
            .map_err(|e| IdentityError::Read { path: name.to_owned(), reason: e.kind().to_string() })?;
        let text = Zeroizing::new(String::from_utf8_lossy(&buf).into_owned());
        self.add_text(name, &text, false)
    }

    fn add_text(&mut self, name: &str, text: &str, many_per_line: bool) -> Result<(), IdentityError> {
        if text.trim_start().starts_with("age-encryption.org/")
            || text.contains("-----BEGIN AGE ENCRYPTED FILE-----")
        {
            return Err(IdentityError::Encrypted { source_name: name.to_owned() });
        }
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let words: Vec<&str> = if many_per_line { line.split_whitespace().collect() } else { vec![line] };
            for w in words {
                if w.starts_with("AGE-SECRET-KEY-PQ-1") || w.starts_with("AGE-PLUGIN-") {
                    self.skipped += 1;
                    continue;
                }
                match w.parse::<age::x25519::Identity>() {
                    Ok(identity) => {
                        let recipient = identity.to_public().to_string();
                        if !self.keys.iter().any(|k| k.recipient == recipient) {
                            self.keys.push(AgeIdentity { identity, recipient });
                        }
                    }
                    Err(_) => return Err(IdentityError::Parse { source_name: name.to_owned(), line: n + 1 }),
                }
            }
        }
        Ok(())
    }

    /// Unwraps one age `enc` block (an armored age file) to its plaintext (a data key or a Shamir
    /// share). The identity whose recipient matches `recipient_hint` is tried first; the label is
    /// only a hint, as in sops.
    pub(crate) fn unwrap_age(&self, enc: &str, recipient_hint: &str) -> Option<Zeroizing<Vec<u8>>> {
        if self.keys.is_empty() || enc.len() > 64 * 1024 {
            return None;
        }
        let mut order: Vec<&AgeIdentity> =
            self.keys.iter().filter(|k| k.recipient == recipient_hint).collect();
        order.extend(self.keys.iter().filter(|k| k.recipient != recipient_hint));
        let reader = age::armor::ArmoredReader::new(enc.trim().as_bytes());
        let decryptor = age::Decryptor::new_buffered(reader).ok()?;
        if decryptor.is_scrypt() {
            return None;
        }
        let mut r = decryptor.decrypt(order.iter().map(|k| &k.identity as &dyn age::Identity)).ok()?;
        let mut out = Zeroizing::new(Vec::with_capacity(64));
        // A sops payload is a short key; refuse anything large.
        let mut limited = (&mut r).take(4096);
        limited.read_to_end(&mut out).ok()?;
        Some(out)
    }
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

/// `GetDataKeyWithKeyServices`: one part per group (age keys tried first, in order), then Shamir
/// over every recovered part when there are several groups.
pub(crate) fn recover_data_key(groups: &[Vec<MasterKey>], threshold: i64, ids: &Identities) -> KeyOutcome {
    let mut parts: Vec<Zeroizing<Vec<u8>>> = Vec::new();
    for g in groups {
        let part = g.iter().filter(|k| k.kind == KeyKind::Age).find_map(|k| ids.unwrap_age(&k.enc, &k.id));
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
