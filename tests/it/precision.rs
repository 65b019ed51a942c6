//! Precision (issue 14): what a maintainer would not call a finding stays out of the errors.

use crate::util::{text, Dir};

fn recipient() -> String {
    age::x25519::Identity::generate().to_public().to_string()
}

/// A syntactically valid PEM body of random base64 (no real certificate or key).
fn pem_block(label: &str) -> String {
    let body: String = (0..3).map(|i| format!("{}\n", format!("MIIB{i}").repeat(13))).collect();
    format!("-----BEGIN {label}-----\n{body}-----END {label}-----\n")
}

/// Class 2: a directory-wide creation rule covers public material too; certificates, public
/// keys, `known_hosts` and age recipients are public, so at most a note. A bare secret beside
/// them stays an error.
#[test]
fn public_material_under_a_directory_rule_is_no_error() {
    let dir = Dir::new();
    let r = recipient();
    dir.write(".sops.yaml", format!("creation_rules:\n  - path_regex: secrets/.*\n    age: {r}\n"));
    let blob = format!("AAAAC3NzaC1lZDI1NTE5AAAAI{}", "Qx7".repeat(15));
    dir.write("secrets/id_ed25519.pub", format!("ssh-ed25519 {blob} ops@example\n"));
    dir.write("secrets/known_hosts", format!("github.com,140.82.112.3 ssh-ed25519 {blob}\n"));
    dir.write("secrets/ca.crt", pem_block("CERTIFICATE"));
    dir.write("secrets/signing.pem", pem_block("PUBLIC KEY"));
    dir.write("secrets/recipients.txt", format!("# alice\n{r}\n# bob\n{}\n", recipient()));
    dir.write(
        "secrets/ca.yaml",
        format!("caBundle: |\n  {}", pem_block("CERTIFICATE").replace('\n', "\n  ")),
    );
    // Not public: a private key after a certificate, and a bare random secret.
    dir.write(
        "secrets/tls-bundle.pem",
        format!("{}{}", pem_block("CERTIFICATE"), pem_block("EC PRIVATE KEY")),
    );
    dir.write("secrets/db-password.txt", "Zk3q8Zt3kP0vX2mR7bN1cY6wLs9\n");
    let run = dir.run(&["scan", "--format", "json"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let mut errors: Vec<(String, String)> = run.each_finding(|f| (text(&f["path"]), text(&f["severity"])));
    errors.retain(|(_, s)| s != "note");
    errors.sort();
    let paths: Vec<&str> = errors.iter().map(|(p, _)| p.as_str()).collect();
    assert!(paths.contains(&"secrets/db-password.txt"), "{errors:?}");
    assert!(paths.contains(&"secrets/tls-bundle.pem"), "{errors:?}");
    for public in ["id_ed25519.pub", "known_hosts", "ca.crt", "signing.pem", "recipients.txt", "ca.yaml"] {
        assert!(!paths.contains(&format!("secrets/{public}").as_str()), "{public}: {errors:?}");
    }
}
