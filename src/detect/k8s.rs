//! Plaintext Kubernetes Secrets and Kustomize secret literals.
//!
//! Every YAML document is checked (multi-document files, `kind: List` items, JSON manifests, which
//! are YAML flow syntax), whatever the order of `kind` and `data`. A value is reported when it is
//! non-empty, not a SOPS `ENC[…]` value and not a mere reference to a secret held elsewhere (a Flux
//! post-build substitution `${VAR}` or a Helm/Go template `{{ … }}`). Files with sops metadata are
//! left to the SOPS engine.

use std::ops::Range;

use base64::Engine as _;

use crate::finding::Hit;
use crate::yaml::{self, Node};

/// Rule for Secret values.
pub const SECRET_RULE: &str = "k8s/plaintext-secret";
/// Rule for Kustomize literals.
pub const LITERAL_RULE: &str = "k8s/kustomize-literal";

/// Cheap test: could this file hold something this detector reports?
pub fn is_candidate(path: &str, data: &[u8]) -> bool {
    let lower = path.to_ascii_lowercase();
    let ext_ok = lower.ends_with(".yaml") || lower.ends_with(".yml") || lower.ends_with(".json");
    ext_ok
        && (memchr::memmem::find(data, b"Secret").is_some()
            || memchr::memmem::find(data, b"secretGenerator").is_some())
}

/// Checks one text file. A YAML syntax error is returned (with its byte span) so the caller can
/// report it as a problem, unless the file is a template (contains `{{`), which is not YAML.
pub fn check(path: &str, text: &str, hits: &mut Vec<Hit>) -> Result<(), yaml::YamlError> {
    let stream = match yaml::parse(text) {
        Ok(s) => s,
        Err(_) if text.contains("{{") => return Ok(()),
        Err(e) => return Err(e),
    };
    let file_name = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
    let is_kustomization_file =
        matches!(file_name.as_str(), "kustomization.yaml" | "kustomization.yml" | "kustomization");
    for doc in &stream.documents {
        let root = &doc.root;
        if root.get("sops").is_some_and(|s| s.as_map().is_some()) {
            continue;
        }
        let mut objects: Vec<&Node> = vec![root];
        if root.get("kind").and_then(Node::as_str).is_some_and(|k| k.ends_with("List")) {
            if let Some(items) = root.get("items").and_then(Node::as_seq) {
                objects.extend(items.iter());
            }
        }
        for obj in objects {
            if obj.as_map().is_none() {
                continue;
            }
            let kind = obj.get("kind").and_then(Node::as_str);
            if kind == Some("Secret") {
                let api = obj.get("apiVersion").and_then(Node::as_str).unwrap_or("v1");
                if api == "v1" {
                    check_secret(text, obj, hits);
                }
            }
            if kind == Some("Kustomization") || (kind.is_none() && is_kustomization_file) {
                check_kustomization(text, obj, hits);
            }
        }
    }
    Ok(())
}

fn check_secret(text: &str, obj: &Node, hits: &mut Vec<Hit>) {
    let meta = obj.get("metadata");
    let name = meta.and_then(|m| m.get("name")).and_then(Node::as_str).unwrap_or("");
    let namespace = meta.and_then(|m| m.get("namespace")).and_then(Node::as_str).unwrap_or("");
    for field in ["data", "stringData"] {
        let Some(entries) = obj.get(field).and_then(Node::as_map) else {
            continue;
        };
        for (k, v) in entries {
            let Some(value) = v.scalar() else { continue };
            let key = k.as_str().unwrap_or("");
            if v.is_null() || !is_plaintext(&value.value, field == "data") {
                continue;
            }
            let what = if name.is_empty() { "a Secret".to_owned() } else { format!("Secret `{name}`") };
            hits.push(
                Hit::new(
                    SECRET_RULE,
                    k.span.clone(),
                    format!("{what} holds a plaintext value in `{field}.{key}`"),
                )
                .with_secret(inner(text, v.span.clone()))
                .with_property("secret_name", name)
                .with_property("namespace", namespace)
                .with_property("key", key)
                .with_property("field", field),
            );
        }
    }
}

fn check_kustomization(text: &str, obj: &Node, hits: &mut Vec<Hit>) {
    let Some(generators) = obj.get("secretGenerator").and_then(Node::as_seq) else {
        return;
    };
    for g in generators {
        let name = g.get("name").and_then(Node::as_str).unwrap_or("");
        let Some(literals) = g.get("literals").and_then(Node::as_seq) else {
            continue;
        };
        for lit in literals {
            let Some(s) = lit.as_str() else { continue };
            let Some((key, value)) = s.split_once('=') else {
                continue;
            };
            if !is_plaintext(value, false) {
                continue;
            }
            let span = inner(text, lit.span.clone());
            // The value part: after the first `=` in the source text, when it is written plainly.
            let secret = text
                .get(span.clone())
                .and_then(|src| src.find('='))
                .map_or(span.clone(), |eq| span.start + eq + 1..span.end);
            hits.push(
                Hit::new(
                    LITERAL_RULE,
                    lit.span.clone(),
                    format!("secretGenerator `{name}` has a literal value for `{key}`"),
                )
                .with_secret(secret)
                .with_property("secret_name", name)
                .with_property("key", key),
            );
        }
    }
}

/// Whether a value is a real plaintext secret value.
fn is_plaintext(value: &str, base64_field: bool) -> bool {
    let v = value.trim();
    if v.is_empty() || v.starts_with("ENC[") || is_reference(v) {
        return false;
    }
    if base64_field {
        if let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(v.as_bytes()) {
            if decoded.iter().all(|b| b.is_ascii_whitespace()) {
                return false;
            }
        }
    }
    true
}

/// `${VAR}` substitutions (Flux post-build) and `{{ … }}` templates refer to values held elsewhere.
fn is_reference(v: &str) -> bool {
    if v.contains("{{") && v.contains("}}") {
        return true;
    }
    let mut rest = v;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) if end > 0 => {
                let name = &after[..end];
                let var = name.split([':', '-', '=']).next().unwrap_or("");
                if !var.is_empty() && var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                    return true;
                }
                rest = &after[end..];
            }
            _ => break,
        }
    }
    false
}

/// Shrinks a quoted scalar's span to its content.
fn inner(text: &str, span: Range<usize>) -> Range<usize> {
    let b = text.as_bytes();
    if span.end >= span.start + 2 {
        let (f, l) = (b[span.start], b[span.end - 1]);
        if (f == b'"' && l == b'"') || (f == b'\'' && l == b'\'') {
            return span.start + 1..span.end - 1;
        }
    }
    span
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(path: &str, text: &str) -> Vec<Hit> {
        let mut hits = Vec::new();
        check(path, text, &mut hits).unwrap();
        hits
    }

    #[test]
    fn one_hit_per_key_on_the_key() {
        let text = "data:\n  a: YQ==\n  b: \"Yg==\"\nkind: Secret\nmetadata: {name: s, namespace: n}\n";
        let hits = run("s.yaml", text);
        assert_eq!(hits.len(), 2);
        assert_eq!(&text[hits[0].span.clone()], "a");
        assert_eq!(&text[hits[1].secret.clone().unwrap()], "Yg==");
    }

    #[test]
    fn references() {
        assert!(is_reference("${DB_PASSWORD}"));
        assert!(is_reference("postgres://${USER:=x}@h"));
        assert!(is_reference("{{ .Values.x }}"));
        assert!(!is_reference("hunter2"));
        assert!(!is_reference("${}"));
    }

    #[test]
    fn templates_that_are_not_yaml_are_skipped() {
        let text = "kind: Secret\ndata:\n{{- range .Values.x }}\n  {{ .k }}: {{ .v }}\n{{- end }}\n";
        assert!(run("templates/s.yaml", text).is_empty());
    }
}
