//! Inline suppression: a `sopsguard:allow RULE[, RULE…]` (or `all`) comment on a finding's line
//! or the line above it.

use super::redact::LineIndex;

/// Whether `sopsguard:allow RULE` is on the line of `pos` or the line above.
pub(super) fn is_suppressed(lines: &LineIndex, data: &[u8], pos: usize, rule: &str) -> bool {
    let line = lines.line_of(pos);
    let first = line.saturating_sub(1);
    (first..=line).any(|l| allows(&data[lines.line_bounds(data, l)], rule))
}

/// Whether a line carries `sopsguard:allow` naming `rule` (or `all`).
fn allows(line: &[u8], rule: &str) -> bool {
    let Some(at) = memchr::memmem::find(line, b"sopsguard:allow") else {
        return false;
    };
    let rest = String::from_utf8_lossy(&line[at + "sopsguard:allow".len()..]);
    rest.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
        .take_while(|t| t.contains('/') || *t == "all")
        .any(|t| t == rule || t == "all")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_comments() {
        assert!(allows(b"x # sopsguard:allow age/identity", "age/identity"));
        assert!(allows(b"# sopsguard:allow k8s/plaintext-secret, age/identity", "age/identity"));
        assert!(!allows(
            b"# sopsguard:allow k8s/plaintext-secret because reasons age/identity",
            "age/identity"
        ));
        assert!(!allows(b"# nothing", "age/identity"));
    }
}
