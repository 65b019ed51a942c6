//! The SOPS engine: `.sops.yaml` creation rules, the five stores, metadata, the value cipher, data-key
//! recovery and the MAC. It knows nothing of git or of output formats: it takes bytes and returns
//! [`Hit`]s, decided exactly as sops would (the README's "SOPS" and "Differences from sops"
//! sections say what that covers and where sopsguard departs from it on purpose).
//!
//! Which `.sops.yaml` governs a file: the nearest one in the file's directory or above, up to the
//! scan root; `--sops-config` overrides it for every file (details in [`ConfigSet`]).
//!
//! Pipeline for one file ([`check_file`]): pick the store by file name → parse → take out the
//! metadata → structural checks (`sops/malformed`, `sops/plaintext-value`) → checks against the
//! creation rule that matches the file now (`sops/rule-drift`, `sops/recipients`, `sops/orphan`) →
//! with identities, recover the data key, decrypt every value and recompute the MAC
//! (`sops/value-tampered`, `sops/mac-mismatch`, `sops/no-identity`). Files without metadata are
//! checked for `sops/not-encrypted` and `sops/named-but-plain`.
//!
//! Identities ([`Identities`], `keys.rs`): age X25519 identities, age SSH identities (`ssh-ed25519`,
//! `ssh-rsa`) and OpenPGP secret keys (`openpgp.rs`, with rPGP), from `--identity`,
//! `SOPS_AGE_KEY_FILE`, `SOPS_AGE_KEY`, sops' default `keys.txt`, `SOPS_AGE_SSH_PRIVATE_KEY_FILE`
//! (else `~/.ssh/id_ed25519`, else `~/.ssh/id_rsa`); `SOPSGUARD_PGP_PASSPHRASE` unlocks protected
//! PGP keys, and `SOPS_AGE_KEY_CMD` is never run. Key groups may mix age and PGP keys, with a Shamir
//! threshold across them, as in sops.
//!
//! Secrets: data keys and decrypted values live only in [`zeroize::Zeroizing`] buffers, are hashed
//! and dropped; no message, `Debug` output or error carries them.
//!
//! # Facts checked against the real sops
//!
//! Where sops' documentation of its file format is silent or wrong, these were established with
//! the sops 3.11.0 binary (and the sources of 3.11.0 and 3.13.2); the differential test
//! (`tests/it/differential.rs`) keeps checking them:
//!
//! * **JSON numbers**: every sops before 3.13.2 decodes each JSON number as a `float64`
//!   (`json.Decoder` without `UseNumber`), so the MAC covers `FormatFloat(v, 'f', -1, 64)`: `-0`
//!   → `-0`, `1e5` → `100000`, `1.0` → `1`, `9007199254740993` → `9007199254740992`,
//!   `12345678901234567890` → `12345678901234567000`; on output sops writes them back in that
//!   rounded form (`1e+23` for larger ones). 3.13.2 reads an integer that fits in 64 bits as an
//!   `int` (so `-0` → `0`). The store types numbers by the file's `version` field.
//! * **Data after a JSON object and a byte-order mark**: sops up to 3.12 reads the metadata with
//!   `json.Unmarshal` over the whole file, so any non-white-space byte after the object fails
//!   ("invalid character '{' after top-level value"); 3.13 reads with a token decoder and ignores
//!   it. A UTF-8 byte-order mark fails in every version. Both hold for the binary store, whose
//!   encrypted form is the JSON store's.
//! * **Binary store output**: `BinaryStore.EmitPlainFile` needs the first `data` key of the tree to
//!   hold a Go string after decryption; a file without one (an empty file's `"data": ""` renamed,
//!   so nothing fails authentication) or with `data` typed other than `str` is refused ("no binary
//!   data found in tree").
//! * **`type:bytes`** (a legacy type): sops 3 panics decrypting any `bytes` value, comment or MAC
//!   ("hash of unhashable type []uint8": its IV stash is a map keyed by the plaintext). A MAC of any type but `str` never equals the computed hex string.
//! * **Comments**: a comment the rule encrypts that is not `ENC[…]`, or does not decrypt,
//!   or whose plaintext does not parse as its type, is kept with a warning ("Found possibly
//!   unencrypted comment"); one that decrypts to anything but a `comment` is hashed into the MAC
//!   like a value (a `#ENC[…,type:comment]` retyped to `str` is a MAC mismatch).
//! * **YAML**: yaml.v3 rejects a tab in a line's leading white space at or left of the current
//!   block's indentation (a blank ` \t` line after an indented mapping), and an integer above the
//!   int64 range that fits in a uint64 makes sops fail ("Cannot walk value, unknown type: uint64").
//!   sops writes a clear float `-0.0` as `-0`, which it reads back as the int 0: such a file fails
//!   its own MAC, in sops and here alike.

mod check;
mod cipher;
mod config;
mod keys;
mod metadata;
mod openpgp;
mod re2;
mod store;
mod tree;
mod value;
mod verdict;

#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

#[cfg(any(test, feature = "testkit"))]
#[doc(hidden)]
pub mod fuzzing;

#[cfg(test)]
mod tests;

pub(crate) use check::check_judged;
pub use check::{check_file, inspect, FileInfo, Recipient};
pub use config::{is_sops_config, ConfigFile, ConfigSet, CONFIG_NAME, MAX_CONFIG_SIZE};
pub use keys::{Identities, IdentityError};
pub use metadata::KeyKind;
pub use store::StoreKind;
pub(crate) use verdict::{ContentMemo, PathFacts, Verdict};

use crate::finding::Hit;

/// What the engine needs besides the file.
pub struct SopsContext<'a> {
    /// The configs of the source the file came from.
    pub configs: &'a ConfigSet,
    /// Identities for MAC verification.
    pub identities: &'a Identities,
    /// Count every value a rule would encrypt in Kubernetes manifests too, not only `kind: Secret`.
    pub strict: bool,
}

/// The MAC status of one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MacStatus {
    /// Not a sops file.
    #[default]
    NotSops,
    /// The MAC was recomputed and matches.
    Verified,
    /// A sops file whose MAC could not be checked (no identity opened it).
    Unverified,
    /// The MAC was recomputed and does not match, or sops would refuse the file (a finding says so).
    Failed,
}

/// The outcome for one file.
#[derive(Debug, Default)]
pub struct SopsOutcome {
    /// Findings.
    pub hits: Vec<Hit>,
    /// MAC status for the summary.
    pub mac: MacStatus,
}
