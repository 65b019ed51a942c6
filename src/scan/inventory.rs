//! The incident inventory: with [`Engine::inventory`](super::Engine::inventory) set, every SOPS
//! file is also reported with its age recipients, so the blast radius of a leaked key can be
//! computed from the same scan.

use crate::finding::{Hit, Severity};
use crate::rules::id;

/// The pseudo-rule of the inventory: not in the registry, never in a normal scan.
pub const INVENTORY_RULE: &str = id::INCIDENT_SOPS_FILE;

/// The inventory hit of a SOPS file (`None` for any other file).
pub(super) fn hit(path: &str, data: &[u8]) -> Option<Hit> {
    let info = crate::sops::inspect(path, data)?;
    let recipients: Vec<String> = info
        .recipients
        .iter()
        .filter(|r| r.kind == crate::sops::KeyKind::Age)
        .map(|r| r.id.clone())
        .collect();
    Some(
        Hit::new(INVENTORY_RULE, 0..0, "SOPS file")
            .with_identity("sops-file")
            .with_severity(Severity::Note)
            .with_property("recipients", recipients),
    )
}
