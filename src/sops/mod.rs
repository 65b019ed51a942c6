//! The SOPS engine: `.sops.yaml` creation rules, the five stores, metadata, the value cipher, data-key
//! recovery and the MAC. It knows nothing of git or of output formats: it takes bytes and returns
//! [`Hit`]s, decided exactly as sops would (see `shared/reference/sops-format.md`).
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
//! Secrets: data keys and decrypted values live only in [`zeroize::Zeroizing`] buffers, are hashed
//! and dropped; no message, `Debug` output or error carries them.

mod check;
mod cipher;
mod config;
mod keys;
mod metadata;
mod re2;
mod store;
mod tree;
mod value;

#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

#[cfg(any(test, feature = "testkit"))]
#[doc(hidden)]
pub mod fuzzing;

#[cfg(test)]
mod tests;

pub use check::{check_file, inspect, FileInfo, Recipient};
pub(crate) use check::{check_judged, ContentMemo};
pub use config::{ConfigFile, ConfigSet, MAX_CONFIG_SIZE};
pub(crate) use config::{PathFacts, Verdict};
pub use keys::{Identities, IdentityError};
pub use metadata::KeyKind;
pub use store::StoreKind;

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

/// The rule ids this engine reports, in registry order.
pub const RULE_IDS: [&str; 11] = [
    "sops/config-invalid",
    "sops/mac-mismatch",
    "sops/malformed",
    "sops/named-but-plain",
    "sops/no-identity",
    "sops/not-encrypted",
    "sops/orphan",
    "sops/plaintext-value",
    "sops/recipients",
    "sops/rule-drift",
    "sops/value-tampered",
];
