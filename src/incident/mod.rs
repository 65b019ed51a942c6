//! Incident response: after a leak, everything it touched and what must be rotated.
//!
//! `sopsguard incident` scans the working tree, the index and the whole history, then answers the
//! questions of the first hour: which age identities leaked (named by their public recipient, never
//! by their secret), in which commits they were introduced and removed, which refs and which ref tips
//! still hold them; which SOPS files anyone holding the key can decrypt (proved by unwrapping each
//! file's data key with the leaked identity itself, in memory); which Secrets were committed in clear;
//! and, in order, the steps that actually remediate, because `git revert` does not.
//!
//! The model here is plain data without any secret: gathering (`gather.rs`) keeps key material in
//! zeroized memory only, and the renderers (`render.rs`) print the model.

pub mod gather;
pub mod plan;
pub mod render;

use serde::Serialize;

/// A commit, as the report names it.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct CommitRef {
    /// Full id (hex).
    pub id: String,
    /// Author, `Name <email>`.
    pub author: String,
    /// Commit date, RFC 3339 UTC.
    pub date: String,
    /// First line of the message.
    pub summary: String,
}

impl CommitRef {
    /// The first 12 hex digits.
    pub fn short(&self) -> &str {
        self.id.get(..12).unwrap_or(&self.id)
    }
}

/// Where something was found.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Exposure {
    /// The path.
    pub path: String,
    /// In the working tree now.
    pub in_worktree: bool,
    /// In the index now.
    pub in_index: bool,
    /// Commits that introduced it at this path (a parent did not have it).
    pub introduced_in: Vec<CommitRef>,
    /// Commits that removed or changed it at this path (a parent had it, the commit does not).
    pub removed_in: Vec<CommitRef>,
    /// How many commits contain it at this path.
    pub commits: usize,
    /// Refs whose history contains it.
    pub refs: Vec<String>,
    /// Refs whose tip still contains it.
    pub ref_tips: Vec<String>,
}

/// The Secret names and keys a file holds (never values).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct SecretNames {
    /// `metadata.name` (empty when the file is not a Kubernetes Secret).
    pub name: String,
    /// `metadata.namespace`.
    pub namespace: String,
    /// The keys (for a Secret: the `data`/`stringData` keys; otherwise the top-level keys).
    pub keys: Vec<String>,
}

/// A SOPS file that lists a leaked recipient somewhere in history.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ExposedFile {
    /// The path.
    pub path: String,
    /// Whether HEAD's version is still encrypted to the leaked recipient.
    pub encrypted_to_it_at_head: bool,
    /// Whether the path exists at HEAD at all.
    pub exists_at_head: bool,
    /// Commits in which a version encrypted to the recipient exists.
    pub commits: Vec<String>,
    /// Distinct encrypted versions (blobs) encrypted to the recipient.
    pub versions: usize,
    /// The Secrets and keys those versions hold (names only).
    pub secrets: Vec<SecretNames>,
    /// Whether the leaked identity itself unwrapped the data key of every version.
    pub proven: bool,
    /// Versions whose data key the identity could not unwrap (for example a Shamir layout that
    /// needs other groups too), with the reason.
    pub unproven: Vec<String>,
}

/// One leaked age identity.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LeakedIdentity {
    /// Its public recipient (`age1…`), or empty for a post-quantum identity.
    pub recipient: String,
    /// Post-quantum (`AGE-SECRET-KEY-PQ-1…`).
    pub post_quantum: bool,
    /// A content fingerprint of the key (not reversible).
    pub fingerprint: String,
    /// Every place it was found.
    pub exposures: Vec<Exposure>,
    /// Authors of the commits that introduced it.
    pub authors: Vec<String>,
    /// Whether any ref tip (or the working tree or index) still holds it.
    pub still_present: bool,
    /// SOPS files anyone with this key can decrypt.
    pub exposed_files: Vec<ExposedFile>,
    /// `.sops.yaml` files (working tree) whose creation rules list the recipient.
    pub config_files: Vec<String>,
}

/// A Secret committed in clear.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct PlaintextSecret {
    /// The rule (`k8s/plaintext-secret`, `k8s/kustomize-literal`, `sops/not-encrypted`…).
    pub rule: String,
    /// Name, namespace and keys.
    pub secret: SecretNames,
    /// Where and when.
    pub exposure: Exposure,
}

/// One step of the rotation plan.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PlanStep {
    /// 1-based.
    pub number: usize,
    /// One line.
    pub title: String,
    /// Why and how, for people.
    pub detail: String,
    /// Commands to run, in order (they contain no secret).
    pub commands: Vec<String>,
    /// The exact files or objects the step applies to.
    pub items: Vec<String>,
}

/// The whole incident report.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Incident {
    /// Report format version.
    pub version: &'static str,
    /// The repository's refs that were scanned.
    pub refs: Vec<String>,
    /// Commits walked.
    pub commits: u64,
    /// Leaked identities, sorted by recipient.
    pub identities: Vec<LeakedIdentity>,
    /// Other private keys found (rule, path, where), without their material.
    pub other_keys: Vec<(String, Exposure)>,
    /// Plaintext Secrets.
    pub plaintext_secrets: Vec<PlaintextSecret>,
    /// The rotation plan, in order.
    pub plan: Vec<PlanStep>,
    /// Remarks about coverage (shallow clone, problems…).
    pub notes: Vec<String>,
}

impl Incident {
    /// Whether anything leaked.
    pub fn is_clean(&self) -> bool {
        self.identities.is_empty() && self.plaintext_secrets.is_empty() && self.other_keys.is_empty()
    }
}
