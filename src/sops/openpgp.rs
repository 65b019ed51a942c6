//! OpenPGP secret keys and the data key inside a `sops.pgp[].enc` message (`pgp/keysource.go`).
//!
//! sops writes the data key (or a Shamir share) as an armored `PGP MESSAGE` encrypted to the
//! key's encryption subkey (Go's openpgp, or the `gpg` binary, which also compresses it). Here it
//! is opened in process with **rPGP** (the `pgp` crate): pure Rust and MIT/Apache-2.0 like this
//! project. Sequoia was the other candidate, but it is LGPL-2.0+ and its pure-Rust crypto backend
//! is marked experimental (its default backend links Nettle, a C library). The crate's
//! `malformed-artifact-compat` feature accepts the slightly malformed packets some old gpg and Go
//! openpgp versions wrote, as gpg itself does.
//!
//! Keys come from armored (`gpg --export-secret-keys --armor`) or binary exports, several keys
//! and several armor blocks per file; public-key blocks beside them are ignored. A
//! passphrase-protected key is unlocked once, at load time, with `SOPSGUARD_PGP_PASSPHRASE`
//! (sopsguard never prompts); without it, or with a wrong one, the key is skipped with a note.
//! The GnuPG keyring (`~/.gnupg`) is not read: its private keys are not OpenPGP packets.
//!
//! Secrets: the unlocked key material lives in rPGP's zeroizing types and is never shown (no
//! `Debug`); data keys come back in [`Zeroizing`] buffers. rPGP is asked only inside
//! `catch_unwind`, so a panic on hostile input is a failed unwrap, not a crash.

use std::io::Read;
use std::panic::{catch_unwind, AssertUnwindSafe};

use pgp::composed::{Message, PublicOrSecret, SignedSecretKey};
use pgp::types::{KeyDetails, Password};
use zeroize::Zeroizing;

/// One usable (unlocked) OpenPGP secret key.
pub(crate) struct PgpKey {
    key: SignedSecretKey,
    /// The primary key's fingerprint, upper-case hex (what sops writes as `fp`).
    pub(crate) fingerprint: String,
}

/// What one key source held.
#[derive(Default)]
pub(crate) struct Loaded {
    pub keys: Vec<PgpKey>,
    /// Problems worth telling (never key material): a protected key without or with a wrong
    /// passphrase, an unreadable block.
    pub notes: Vec<String>,
    /// How many public-only keys were seen (not usable, not a problem by themselves).
    pub public_only: usize,
}

/// Whether `data` looks like an OpenPGP key export (armored, or binary packets of a secret key).
pub(crate) fn looks_like_keys(data: &[u8]) -> bool {
    if memchr::memmem::find(data, b"-----BEGIN PGP PRIVATE KEY BLOCK-----").is_some()
        || memchr::memmem::find(data, b"-----BEGIN PGP PUBLIC KEY BLOCK-----").is_some()
    {
        return true;
    }
    // Binary: a secret-key packet (tag 5) first, in the old or the new packet format.
    matches!(data.first(), Some(b) if *b == 0x95 || *b == 0x94 || *b == 0x97 || *b == 0xc5)
}

/// The armor blocks of a text, each from `-----BEGIN PGP` to its `-----END PGP …-----` line.
fn armor_blocks(text: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(b) = memchr::memmem::find(&text[at..], b"-----BEGIN PGP ") {
        let start = at + b;
        let Some(e) = memchr::memmem::find(&text[start..], b"-----END PGP ") else { break };
        let end_line = start + e;
        let end = memchr::memchr(b'\n', &text[end_line..]).map_or(text.len(), |i| end_line + i + 1);
        out.push(&text[start..end]);
        at = end;
    }
    out
}

/// Parses every secret key in `data`, unlocking protected ones with `passphrase`. `name` is the
/// file (or variable) for the notes.
pub(crate) fn load(name: &str, data: &[u8], passphrase: Option<&str>) -> Loaded {
    let mut out = Loaded::default();
    let mut parsed: Vec<PublicOrSecret> = Vec::new();
    let mut broken = 0usize;
    let parse = |bytes: &[u8], parsed: &mut Vec<PublicOrSecret>| -> bool {
        let r = catch_unwind(AssertUnwindSafe(|| {
            // `&[u8]` is already buffered: no unzeroized `BufReader` copy of the key.
            let (iter, _) = PublicOrSecret::from_reader_many_buf(bytes)?;
            iter.collect::<pgp::errors::Result<Vec<_>>>()
        }));
        match r {
            Ok(Ok(keys)) => {
                parsed.extend(keys);
                true
            }
            _ => false,
        }
    };
    let blocks = armor_blocks(data);
    if blocks.is_empty() {
        if !parse(data, &mut parsed) {
            broken += 1;
        }
    } else {
        for b in blocks {
            if !parse(b, &mut parsed) {
                broken += 1;
            }
        }
    }
    if broken > 0 {
        out.notes.push(format!(
            "{name}: {broken} OpenPGP block(s) could not be read as keys (corrupt or not a key export): skipped"
        ));
    }
    for k in parsed {
        match k {
            PublicOrSecret::Public(_) => out.public_only += 1,
            PublicOrSecret::Secret(mut key) => {
                let fingerprint = format!("{:X}", key.primary_key.fingerprint());
                match unlock(&mut key, passphrase) {
                    Unlock::Ready => out.keys.push(PgpKey { key, fingerprint }),
                    Unlock::NoPassphrase => out.notes.push(format!(
                        "{name}: OpenPGP key {fingerprint} is passphrase-protected and SOPSGUARD_PGP_PASSPHRASE is not set: skipped"
                    )),
                    Unlock::WrongPassphrase => out.notes.push(format!(
                        "{name}: SOPSGUARD_PGP_PASSPHRASE does not unlock OpenPGP key {fingerprint}: skipped"
                    )),
                }
            }
        }
    }
    if out.keys.is_empty() && out.notes.is_empty() {
        out.notes.push(if out.public_only > 0 {
            format!("{name}: holds only public OpenPGP keys, which cannot decrypt: export the secret key with `gpg --export-secret-keys --armor`")
        } else {
            format!("{name}: no OpenPGP secret key found")
        });
    }
    out
}

enum Unlock {
    Ready,
    NoPassphrase,
    WrongPassphrase,
}

/// Removes the passphrase protection of every component of `key` that has one, so that
/// decryption needs no passphrase (and no repeated key derivation) later. A component that
/// cannot be unlocked (a GnuPG stub of an offline primary key) is left locked, as long as some
/// component was unlocked or none needed it.
fn unlock(key: &mut SignedSecretKey, passphrase: Option<&str>) -> Unlock {
    let locked = key.primary_key.secret_params().is_encrypted()
        || key.secret_subkeys.iter().any(|s| s.key.secret_params().is_encrypted());
    if !locked {
        return Unlock::Ready;
    }
    let Some(pw) = passphrase else { return Unlock::NoPassphrase };
    let pw = Password::from(pw);
    let r = catch_unwind(AssertUnwindSafe(|| {
        let mut unlocked = 0usize;
        if key.primary_key.secret_params().is_encrypted() && key.primary_key.remove_password(&pw).is_ok() {
            unlocked += 1;
        }
        for s in &mut key.secret_subkeys {
            if s.key.secret_params().is_encrypted() && s.key.remove_password(&pw).is_ok() {
                unlocked += 1;
            }
        }
        unlocked
    }));
    match r {
        Ok(n) if n > 0 => Unlock::Ready,
        _ => Unlock::WrongPassphrase,
    }
}

/// Opens one armored `PGP MESSAGE` with any of `keys` and returns its literal data (a data key
/// or a Shamir share). `None` when no key opens it or it is not a well-formed message. Keys whose
/// fingerprint matches `fp_hint` are tried first; which key opens it is decided by the message's
/// recipient key ids, as in gpg.
pub(crate) fn unwrap(keys: &[PgpKey], enc: &str, fp_hint: &str) -> Option<Zeroizing<Vec<u8>>> {
    if keys.is_empty() || enc.len() > 64 * 1024 {
        return None;
    }
    let mut order: Vec<&SignedSecretKey> =
        keys.iter().filter(|k| fingerprint_matches(fp_hint, &k.fingerprint)).map(|k| &k.key).collect();
    order.extend(keys.iter().filter(|k| !fingerprint_matches(fp_hint, &k.fingerprint)).map(|k| &k.key));
    catch_unwind(AssertUnwindSafe(|| {
        let (msg, _) = Message::from_armor(enc.trim().as_bytes()).ok()?;
        let mut msg = msg.decrypt_with_keys(Vec::new(), order).ok()?;
        // gpg compresses (ZIP or ZLIB) by default; Go's openpgp does not. One layer at most.
        if msg.is_compressed() {
            msg = msg.decompress().ok()?;
        }
        let mut out = Zeroizing::new(Vec::with_capacity(64));
        // A sops payload is a short key: refuse anything large. Reading to the end checks the
        // modification-detection code.
        (&mut msg).take(4097).read_to_end(&mut out).ok()?;
        (out.len() <= 4096).then_some(out)
    }))
    .ok()
    .flatten()
}

/// Whether two PGP key designations name the same key, as sops compares them: spaces are
/// ignored, case is not significant, and a 16-hex-digit key id (or an 8-digit short id) matches
/// the fingerprint it ends.
pub(crate) fn fingerprint_matches(a: &str, b: &str) -> bool {
    let norm = |s: &str| -> String {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        let s = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")).map(str::to_owned).unwrap_or(s);
        s.to_ascii_uppercase()
    };
    let (a, b) = (norm(a), norm(b));
    if a.is_empty() || b.is_empty() {
        return false;
    }
    if a == b {
        return true;
    }
    let (short, long) = if a.len() <= b.len() { (&a, &b) } else { (&b, &a) };
    (short.len() == 16 || short.len() == 8)
        && long.len() >= 32
        && short.bytes().all(|c| c.is_ascii_hexdigit())
        && long.ends_with(short.as_str())
}

// ---------------------------------------------------------------------------------------------
// Test encryptor support

/// The kinds of throwaway OpenPGP keys the test encryptor makes.
#[cfg(any(test, feature = "testkit"))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PgpKeyKind {
    /// EdDSA primary with a Curve25519 ECDH encryption subkey (what `gpg --quick-gen-key` makes).
    Curve25519,
    /// RSA primary with an RSA encryption subkey, of this many bits.
    Rsa(u32),
}

/// A fresh OpenPGP key: `(armored secret key, primary fingerprint)`. With `passphrase`, every
/// secret component is protected with it (as gpg does).
#[cfg(any(test, feature = "testkit"))]
pub fn generate_key(kind: PgpKeyKind, passphrase: Option<&str>) -> (Zeroizing<String>, String) {
    use pgp::composed::{ArmorOptions, EncryptionCaps, KeyType, SecretKeyParamsBuilder, SubkeyParamsBuilder};
    use pgp::crypto::ecc_curve::ECCCurve;
    let (primary, sub) = match kind {
        PgpKeyKind::Curve25519 => (KeyType::Ed25519Legacy, KeyType::ECDH(ECCCurve::Curve25519Legacy)),
        PgpKeyKind::Rsa(bits) => (KeyType::Rsa(bits), KeyType::Rsa(bits)),
    };
    let mut enc = SubkeyParamsBuilder::default();
    enc.key_type(sub).can_sign(false).can_encrypt(EncryptionCaps::All).can_authenticate(false);
    let mut params = SecretKeyParamsBuilder::default();
    params
        .key_type(primary)
        .can_certify(true)
        .can_sign(true)
        .can_encrypt(EncryptionCaps::None)
        .primary_user_id("sopsguard test key <test@example.invalid>".into())
        .subkeys(vec![enc.build().expect("subkey params")]);
    let mut rng = rand::thread_rng();
    let mut key = params.build().expect("key params").generate(&mut rng).expect("key generation");
    if let Some(pw) = passphrase {
        let pw = Password::from(pw);
        key.primary_key.set_password(&mut rng, &pw).expect("protect primary");
        for s in &mut key.secret_subkeys {
            s.key.set_password(&mut rng, &pw).expect("protect subkey");
        }
    }
    let fp = format!("{:X}", key.primary_key.fingerprint());
    let armored = key.to_armored_string(ArmorOptions::default()).expect("armor");
    (Zeroizing::new(armored), fp)
}

/// Encrypts `plain` to the encryption subkey of an armored key (secret or public), as sops' gpg
/// path does: SEIPD v1 with AES-256 and ZLIB compression, armored. Returns the message and the
/// key's primary fingerprint.
#[cfg(any(test, feature = "testkit"))]
pub(crate) fn encrypt_to(armored_key: &str, plain: &[u8]) -> Result<(String, String), String> {
    use pgp::composed::{ArmorOptions, MessageBuilder, SignedPublicKey};
    use pgp::crypto::sym::SymmetricKeyAlgorithm;
    use pgp::types::CompressionAlgorithm;
    let (key, _) = PublicOrSecret::from_reader_many(armored_key.as_bytes()).map_err(|e| e.to_string())?;
    let key = key.into_iter().next().ok_or("no key")?.map_err(|e| e.to_string())?;
    let public: SignedPublicKey = match key {
        PublicOrSecret::Public(p) => p,
        PublicOrSecret::Secret(s) => SignedPublicKey::from(s),
    };
    let sub =
        public.public_subkeys.iter().find(|s| s.algorithm().can_encrypt()).ok_or("no encryption subkey")?;
    let mut rng = rand::thread_rng();
    let mut b =
        MessageBuilder::from_bytes("", plain.to_vec()).seipd_v1(&mut rng, SymmetricKeyAlgorithm::AES256);
    b.compression(CompressionAlgorithm::ZLIB);
    b.encrypt_to_key(&mut rng, &sub).map_err(|e| e.to_string())?;
    let fp = format!("{:X}", public.primary_key.fingerprint());
    Ok((b.to_armored_string(&mut rng, ArmorOptions::default()).map_err(|e| e.to_string())?, fp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_match_the_fingerprint_they_end() {
        let fp = "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4";
        assert!(fingerprint_matches(fp, "3D16CEE4A27381B4"));
        assert!(fingerprint_matches("3d16cee4a27381b4", fp));
        assert!(fingerprint_matches(fp, "fbc7 b9e2 a4f9 289a c0c1  d484 3d16 cee4 a273 81b4"));
        assert!(fingerprint_matches(fp, "0x3D16CEE4A27381B4"));
        assert!(fingerprint_matches("A27381B4", fp));
        // A key id that is not the fingerprint's tail, a prefix, another fingerprint.
        assert!(!fingerprint_matches(fp, "FBC7B9E2A4F9289A"));
        assert!(!fingerprint_matches(fp, "3D16CEE4A27381B5"));
        assert!(!fingerprint_matches(fp, "D7229043384BCC60326C6FB9D8720D957C3D3074"));
        assert!(!fingerprint_matches(fp, ""));
        // Two key ids are compared as they are.
        assert!(fingerprint_matches("3D16CEE4A27381B4", "3d16cee4a27381b4"));
        assert!(!fingerprint_matches("3D16CEE4A27381B4", "CEE4A27381B4"));
    }

    #[test]
    fn round_trip_curve25519_and_rsa() {
        for kind in [PgpKeyKind::Curve25519, PgpKeyKind::Rsa(2048)] {
            let (armored, fp) = generate_key(kind, None);
            let loaded = load("k.asc", armored.as_bytes(), None);
            assert!(loaded.notes.is_empty(), "{:?}", loaded.notes);
            assert_eq!(loaded.keys.len(), 1);
            assert_eq!(loaded.keys[0].fingerprint, fp);
            let secret = [7u8; 32];
            let (msg, mfp) = encrypt_to(&armored, &secret).unwrap();
            assert_eq!(mfp, fp);
            assert!(msg.starts_with("-----BEGIN PGP MESSAGE-----"));
            let got = unwrap(&loaded.keys, &msg, &fp).expect("unwraps");
            assert_eq!(&got[..], &secret);
            // The hint is only a hint.
            assert!(unwrap(&loaded.keys, &msg, "0000000000000000").is_some());
            // A flipped byte inside the armor: no key, no panic.
            let mut bad = msg.clone().into_bytes();
            let at = bad.len() / 2;
            bad[at] = if bad[at] == b'A' { b'B' } else { b'A' };
            assert!(unwrap(&loaded.keys, &String::from_utf8(bad).unwrap(), &fp).is_none());
            assert!(unwrap(
                &loaded.keys,
                "-----BEGIN PGP MESSAGE-----\ngarbage\n-----END PGP MESSAGE-----\n",
                &fp
            )
            .is_none());
        }
    }

    #[test]
    fn protected_key_needs_the_passphrase() {
        let (armored, fp) = generate_key(PgpKeyKind::Curve25519, Some("correct horse"));
        assert!(!armored.contains("correct horse"));
        let none = load("k.asc", armored.as_bytes(), None);
        assert!(none.keys.is_empty());
        assert!(none.notes[0].contains("SOPSGUARD_PGP_PASSPHRASE is not set"), "{:?}", none.notes);
        assert!(none.notes[0].contains(&fp));
        let wrong = load("k.asc", armored.as_bytes(), Some("wrong"));
        assert!(wrong.keys.is_empty());
        assert!(wrong.notes[0].contains("does not unlock"), "{:?}", wrong.notes);
        assert!(!wrong.notes[0].contains("wrong\"") && !wrong.notes.join(" ").contains("correct horse"));
        let right = load("k.asc", armored.as_bytes(), Some("correct horse"));
        assert!(right.notes.is_empty(), "{:?}", right.notes);
        let (msg, _) = encrypt_to(&armored, b"0123456789abcdef0123456789abcdef").unwrap();
        assert_eq!(&unwrap(&right.keys, &msg, &fp).unwrap()[..], b"0123456789abcdef0123456789abcdef");
    }

    #[test]
    fn several_keys_per_file_and_bad_input() {
        let (a, fa) = generate_key(PgpKeyKind::Curve25519, None);
        let (b, fb) = generate_key(PgpKeyKind::Curve25519, None);
        let both = format!("some text before\n{}\n{}", a.as_str(), b.as_str());
        let loaded = load("both.asc", both.as_bytes(), None);
        let fps: Vec<&str> = loaded.keys.iter().map(|k| k.fingerprint.as_str()).collect();
        assert_eq!(fps, [fa.as_str(), fb.as_str()]);
        let (msg, _) = encrypt_to(&b, b"k").unwrap();
        assert_eq!(&unwrap(&loaded.keys, &msg, &fa).unwrap()[..], b"k");
        // A corrupt block: a note naming the file, the good block still loads.
        let mut corrupt = a.to_string();
        let mid = corrupt.len() / 2;
        corrupt.replace_range(mid..mid + 8, "!!!!!!!!");
        let mixed = format!("{corrupt}\n{}", b.as_str());
        let l = load("mixed.asc", mixed.as_bytes(), None);
        assert_eq!(l.keys.len(), 1);
        assert!(l.notes[0].starts_with("mixed.asc: 1 OpenPGP block"), "{:?}", l.notes);
        // Not a key at all.
        let l = load(
            "notes.txt",
            b"-----BEGIN PGP PRIVATE KEY BLOCK-----\nhello\n-----END PGP PRIVATE KEY BLOCK-----\n",
            None,
        );
        assert!(l.keys.is_empty() && l.notes[0].contains("notes.txt"), "{:?}", l.notes);
        let l = load("bin", &[0x95, 0x01, 0x02, 0xff, 0x00], None);
        assert!(l.keys.is_empty() && !l.notes.is_empty());
    }
}
