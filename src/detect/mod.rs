//! Detectors written in code: validators for regex rules (age identities, PEM blocks) and the
//! structural rules (Kubernetes Secrets and Kustomize literals, file names).

pub mod age;
pub mod k8s;
pub mod names;
pub mod pem;

use std::ops::Range;

use crate::finding::Hit;

/// Runs the named validator on a regex match. Returns the hit to report, if any (possibly under
/// another rule id), or `None` to drop the match.
pub fn validate(validator: &str, rule: &str, data: &[u8], m: Range<usize>) -> Option<Hit> {
    match validator {
        "age-identity" => age::validate(rule, data, m),
        "pem-block" => pem::validate(rule, data, m),
        _ => None,
    }
}
