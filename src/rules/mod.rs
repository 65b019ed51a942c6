//! The rule registry: every rule sopsguard knows, with its documentation and examples.
//!
//! Rules are data (`rules/*.yaml`, embedded at build time, plus user rule directories): regex rules
//! carry their keywords, regex and optional validator; rules detected by code (`kind: code`) carry
//! only their metadata, so both kinds are listed, explained, configured and reported the same way.
//! Ids are stable and never reused; the registry is sorted by id.

pub mod engine;
pub mod id;
pub mod load;

use std::collections::BTreeMap;

use crate::finding::Severity;

pub use load::RuleError;

/// How a rule is detected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleKind {
    /// Keywords + regex (+ validator), from the rule file.
    Regex,
    /// Detected by Rust code; the rule file holds metadata only.
    Code,
}

/// The three paragraphs every rule documents.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Docs {
    /// What the rule finds.
    pub what: String,
    /// Why it matters.
    pub why: String,
    /// How to fix it.
    pub fix: String,
}

/// One example: a file path and content. Strings may contain `{{…}}` generator placeholders.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Example {
    /// The path the content is scanned under.
    pub path: String,
    /// The content.
    pub content: String,
}

/// A rule.
#[derive(Clone, Debug)]
pub struct Rule {
    /// Stable id, `group/name`.
    pub id: String,
    /// One line.
    pub title: String,
    /// Default severity.
    pub severity: Severity,
    /// How it is detected.
    pub kind: RuleKind,
    /// Tags (SARIF `properties.tags`; `security` is added there).
    pub tags: Vec<String>,
    /// CVSS-like score for GitHub code scanning.
    pub security_severity: f32,
    /// Prefilter keywords (regex rules), matched case-insensitively.
    pub keywords: Vec<String>,
    /// The regex (regex rules).
    pub regex: Option<regex::bytes::Regex>,
    /// The regex source text.
    pub regex_source: Option<String>,
    /// `scope: line`: every match of the regex lies on one line (the loader checks it) and holds one
    /// of the keywords (the rule's promise), so the regex runs only on the lines holding a keyword.
    pub line_scoped: bool,
    /// A named validator in code (`age-identity`, `pem-block`).
    pub validator: Option<String>,
    /// Documentation.
    pub docs: Docs,
    /// Examples that must produce this rule.
    pub hit_examples: Vec<Example>,
    /// Examples that must not.
    pub miss_examples: Vec<Example>,
    /// The file it was defined in (`rules/age.yaml`, or a user path).
    pub origin: String,
}

/// Every rule, sorted by id.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    rules: Vec<Rule>,
    index: BTreeMap<String, usize>,
}

/// The built-in rule files, embedded at build time.
pub const BUILTIN_RULE_FILES: &[(&str, &str)] = &[
    ("rules/age.yaml", include_str!("../../rules/age.yaml")),
    ("rules/file.yaml", include_str!("../../rules/file.yaml")),
    ("rules/k8s.yaml", include_str!("../../rules/k8s.yaml")),
    ("rules/keys.yaml", include_str!("../../rules/keys.yaml")),
    ("rules/schema.yaml", include_str!("../../rules/schema.yaml")),
    ("rules/sops.yaml", include_str!("../../rules/sops.yaml")),
    ("rules/tokens.yaml", include_str!("../../rules/tokens.yaml")),
];

impl Registry {
    /// The built-in rules. The embedded files are tested, so failure here is a build defect.
    pub fn builtin() -> Registry {
        let mut reg = Registry::default();
        for (name, text) in BUILTIN_RULE_FILES {
            match load::parse_rule_file(name, text) {
                Ok(rules) => {
                    for r in rules {
                        reg.insert(r);
                    }
                }
                // Unreachable in a tested build (`builtin_rules_load` checks every file); a
                // broken build must fail loudly rather than run without a file's rules.
                Err(errors) => panic!(
                    "built-in rule file {name} is invalid ({} errors): this build of sopsguard is defective",
                    errors.len()
                ),
            }
        }
        reg
    }

    /// Adds rules from user rule files (`(path, text)`); problems come back with spans.
    pub fn extend_from_files(&mut self, files: &[(String, String)]) -> Vec<RuleError> {
        let mut errors = Vec::new();
        for (name, text) in files {
            match load::parse_rule_file(name, text) {
                Ok(rules) => {
                    for r in rules {
                        if self.index.contains_key(&r.id) {
                            errors.push(RuleError {
                                file: name.clone(),
                                message: format!("rule id `{}` is already defined", r.id),
                                span: 0..0,
                                source_text: text.clone(),
                            });
                        } else {
                            self.insert(r);
                        }
                    }
                }
                Err(mut e) => errors.append(&mut e),
            }
        }
        errors
    }

    fn insert(&mut self, rule: Rule) {
        let pos = self.rules.partition_point(|r| r.id < rule.id);
        self.rules.insert(pos, rule);
        self.index = self.rules.iter().enumerate().map(|(i, r)| (r.id.clone(), i)).collect();
    }

    /// The rule with this id.
    pub fn get(&self, id: &str) -> Option<&Rule> {
        self.index.get(id).map(|&i| &self.rules[i])
    }

    /// Every rule, sorted by id.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Sets a rule's default severity (config overrides).
    pub fn set_severity(&mut self, id: &str, severity: Severity) -> bool {
        match self.index.get(id) {
            Some(&i) => {
                self.rules[i].severity = severity;
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_rules_load() {
        for (name, text) in BUILTIN_RULE_FILES {
            if let Err(errors) = load::parse_rule_file(name, text) {
                panic!("{name}: {:?}", errors.iter().map(|e| &e.message).collect::<Vec<_>>());
            }
        }
    }

    #[test]
    fn rule_docs_name_only_real_suppression_comments() {
        // The only inline directive is `sopsguard:allow RULE`; docs must not invent another.
        for (name, text) in BUILTIN_RULE_FILES {
            for (i, line) in text.lines().enumerate() {
                for (at, _) in line.match_indices("sopsguard:") {
                    assert!(
                        line[at..].starts_with("sopsguard:allow"),
                        "{name}:{}: unknown directive in `{}`",
                        i + 1,
                        line.trim()
                    );
                }
            }
        }
    }

    #[test]
    fn every_rule_file_is_embedded() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".yaml"))
            .map(|n| format!("rules/{n}"))
            .collect();
        on_disk.sort();
        let embedded: Vec<String> = BUILTIN_RULE_FILES.iter().map(|(n, _)| n.to_string()).collect();
        assert_eq!(on_disk, embedded);
    }

    #[test]
    fn rule_ids_are_stable() {
        let reg = Registry::builtin();
        let ids: Vec<String> = reg
            .rules()
            .iter()
            .map(|r| {
                format!(
                    "{} {} {}",
                    r.id,
                    r.severity,
                    if r.kind == RuleKind::Regex { "regex" } else { "code" }
                )
            })
            .collect();
        insta::assert_snapshot!(ids.join("\n"));
    }
}
