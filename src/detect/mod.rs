//! Detectors written in code: validators for regex rules (age identities, PEM blocks) and the
//! structural rules (Kubernetes Secrets and Kustomize literals, file names).

pub mod age;
pub mod credential;
pub mod k8s;
pub mod names;
pub mod pem;
pub mod public;
pub mod schema;
pub mod tokens;

use std::ops::Range;

use crate::finding::Hit;

/// Runs the named validator on a regex match. Returns the hit to report, if any (possibly under
/// another rule id), or `None` to drop the match.
/// `secret` is the rule's capture group 1 (the whole match when it has none).
pub fn validate(
    validator: &str,
    rule: &str,
    data: &[u8],
    m: Range<usize>,
    secret: Range<usize>,
) -> Option<Hit> {
    match validator {
        "age-identity" => age::validate(rule, data, m),
        "pem-block" => pem::validate(rule, data, m),
        "base64-pem" => pem::validate_base64(rule, data, m),
        "base62-crc32" => tokens::validate_checksum(rule, data, m, secret),
        "random" => tokens::validate_random(rule, data, m, secret),
        "aws-pair" => tokens::validate_aws(rule, data, m, secret),
        "jwt" => tokens::validate_jwt(rule, data, m, secret),
        "generic-secret" => tokens::validate_generic(rule, data, m, secret),
        _ => None,
    }
}
