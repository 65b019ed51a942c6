//! Rule ids used by code: the one home of their strings.
//!
//! Detectors, the SOPS engine and the passes that treat some rules specially (which rule gives way
//! to which, which rules the incident report reads) name rules through these constants, never
//! through string literals. The tests below check both directions against the registry built
//! from `rules/*.yaml`: every id here is a registered rule (so a typo cannot turn into an
//! error-severity finding of a rule nobody can look up or configure), and every `kind: code`
//! rule of the registry is one of them (so no code rule is documented but never produced).

/// `age/identity`: an age secret key (a regex rule; the incident report reads it).
pub const AGE_IDENTITY: &str = "age/identity";
/// `age/identity-malformed`: an age identity whose checksum does not verify.
pub const AGE_IDENTITY_MALFORMED: &str = "age/identity-malformed";
/// `docker/registry-auth`: credentials in a Docker config.
pub const DOCKER_REGISTRY_AUTH: &str = "docker/registry-auth";
/// `file/decrypted-copy`: a file named like decrypted sops output or an age key file.
pub const FILE_DECRYPTED_COPY: &str = "file/decrypted-copy";
/// `generic/credential`: a random literal under a credential-like key (a regex rule).
pub const GENERIC_CREDENTIAL: &str = "generic/credential";
/// `k8s/kustomize-literal`: a plaintext literal in a kustomize secret generator.
pub const K8S_KUSTOMIZE_LITERAL: &str = "k8s/kustomize-literal";
/// `k8s/plaintext-secret`: a Kubernetes Secret with plaintext data.
pub const K8S_PLAINTEXT_SECRET: &str = "k8s/plaintext-secret";
/// `key/pgp-private-key`: an armored OpenPGP private key (a regex rule).
pub const KEY_PGP_PRIVATE_KEY: &str = "key/pgp-private-key";
/// `key/private-key`: a PEM private key (a regex rule).
pub const KEY_PRIVATE_KEY: &str = "key/private-key";
/// `key/private-key-base64`: a base64-encoded PEM private key (a regex rule).
pub const KEY_PRIVATE_KEY_BASE64: &str = "key/private-key-base64";
/// `kube/kubeconfig-credential`: a credential in a kubeconfig.
pub const KUBE_KUBECONFIG_CREDENTIAL: &str = "kube/kubeconfig-credential";
/// `kube/service-account-token`: a Kubernetes service-account token.
pub const KUBE_SERVICE_ACCOUNT_TOKEN: &str = "kube/service-account-token";
/// `sops/config-invalid`: a `.sops.yaml` that cannot be used.
pub const SOPS_CONFIG_INVALID: &str = "sops/config-invalid";
/// `sops/mac-mismatch`: a sops file whose MAC does not verify.
pub const SOPS_MAC_MISMATCH: &str = "sops/mac-mismatch";
/// `sops/malformed`: a sops file whose metadata or values cannot be read.
pub const SOPS_MALFORMED: &str = "sops/malformed";
/// `sops/named-but-plain`: a file named like a sops file that is not encrypted.
pub const SOPS_NAMED_BUT_PLAIN: &str = "sops/named-but-plain";
/// `sops/no-identity`: no identity could unwrap the data key.
pub const SOPS_NO_IDENTITY: &str = "sops/no-identity";
/// `sops/not-encrypted`: a file a creation rule governs, not encrypted.
pub const SOPS_NOT_ENCRYPTED: &str = "sops/not-encrypted";
/// `sops/orphan`: a sops file no creation rule governs.
pub const SOPS_ORPHAN: &str = "sops/orphan";
/// `sops/plaintext-value`: a value left in clear that should be encrypted.
pub const SOPS_PLAINTEXT_VALUE: &str = "sops/plaintext-value";
/// `sops/recipients`: recipients that differ from the creation rule's.
pub const SOPS_RECIPIENTS: &str = "sops/recipients";
/// `sops/rule-drift`: encryption settings that differ from the creation rule's.
pub const SOPS_RULE_DRIFT: &str = "sops/rule-drift";
/// `sops/value-tampered`: an encrypted value that fails authentication.
pub const SOPS_VALUE_TAMPERED: &str = "sops/value-tampered";
/// `talos/machine-config`: secrets in a Talos machine configuration.
pub const TALOS_MACHINE_CONFIG: &str = "talos/machine-config";
/// `talos/secrets-bundle`: a Talos secrets bundle.
pub const TALOS_SECRETS_BUNDLE: &str = "talos/secrets-bundle";
/// `talos/talosconfig`: a key in a talosconfig.
pub const TALOS_TALOSCONFIG: &str = "talos/talosconfig";
/// `token/1password-connect`: a 1Password Connect server token (a regex rule with code checks).
pub const TOKEN_ONEPASSWORD_CONNECT: &str = "token/1password-connect";

/// `incident/sops-file`: the pseudo-rule of the incident inventory (every SOPS file with its
/// recipients). Not in the registry and never in a normal scan; its hits carry their severity.
pub const INCIDENT_SOPS_FILE: &str = "incident/sops-file";

/// Every registered rule id above (not the pseudo-rule [`INCIDENT_SOPS_FILE`]), sorted.
pub const ALL: &[&str] = &[
    AGE_IDENTITY,
    AGE_IDENTITY_MALFORMED,
    DOCKER_REGISTRY_AUTH,
    FILE_DECRYPTED_COPY,
    GENERIC_CREDENTIAL,
    K8S_KUSTOMIZE_LITERAL,
    K8S_PLAINTEXT_SECRET,
    KEY_PGP_PRIVATE_KEY,
    KEY_PRIVATE_KEY,
    KEY_PRIVATE_KEY_BASE64,
    KUBE_KUBECONFIG_CREDENTIAL,
    KUBE_SERVICE_ACCOUNT_TOKEN,
    SOPS_CONFIG_INVALID,
    SOPS_MAC_MISMATCH,
    SOPS_MALFORMED,
    SOPS_NAMED_BUT_PLAIN,
    SOPS_NO_IDENTITY,
    SOPS_NOT_ENCRYPTED,
    SOPS_ORPHAN,
    SOPS_PLAINTEXT_VALUE,
    SOPS_RECIPIENTS,
    SOPS_RULE_DRIFT,
    SOPS_VALUE_TAMPERED,
    TALOS_MACHINE_CONFIG,
    TALOS_SECRETS_BUNDLE,
    TALOS_TALOSCONFIG,
    TOKEN_ONEPASSWORD_CONNECT,
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{Registry, RuleKind};

    #[test]
    fn every_id_used_in_code_is_registered() {
        let reg = Registry::builtin();
        for id in ALL {
            assert!(reg.get(id).is_some(), "`{id}` is used in code but no rules/*.yaml defines it");
        }
        assert!(
            reg.get(INCIDENT_SOPS_FILE).is_none(),
            "the inventory pseudo-rule must stay out of the registry"
        );
        let mut sorted = ALL.to_vec();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted, ALL, "ALL must be sorted and without duplicates");
    }

    #[test]
    fn every_code_rule_is_used_in_code() {
        for rule in Registry::builtin().rules() {
            if rule.kind == RuleKind::Code {
                assert!(
                    ALL.contains(&rule.id.as_str()),
                    "`{}` is `kind: code` but no code produces it",
                    rule.id
                );
            }
        }
    }

    /// No rule id is spelled as a string literal outside this module (tests and docs aside):
    /// code names rules through the constants above.
    #[test]
    fn no_rule_id_literals_in_code() {
        let reg = Registry::builtin();
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut stack = vec![src];
        let mut offenders = Vec::new();
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().filter_map(|e| e.ok()) {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                if !name.ends_with(".rs")
                    || name == "tests.rs"
                    || name == "testkit.rs"
                    || path.ends_with("rules/id.rs")
                {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                // Inline test modules come last in a file.
                let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or("");
                for (n, line) in code.lines().enumerate() {
                    let trimmed = line.trim_start();
                    if trimmed.starts_with("//") {
                        continue;
                    }
                    for r in reg.rules().iter().map(|r| r.id.as_str()).chain([INCIDENT_SOPS_FILE]) {
                        if line.contains(&format!("\"{r}\"")) {
                            offenders.push(format!("{}:{}: \"{r}\"", path.display(), n + 1));
                        }
                    }
                }
            }
        }
        assert!(
            offenders.is_empty(),
            "rule ids as literals (use crate::rules::id):\n{}",
            offenders.join("\n")
        );
    }
}
