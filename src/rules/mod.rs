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
    /// `scope: key`: line-scoped, and every match holds one of the keywords inside a key: the
    /// keyword is followed by key characters (ASCII letters, digits, `_`, `.`, `-`), an optional
    /// closing quote, blanks and `:` or `=` (the rule's promise). Only such keyword occurrences
    /// trigger it: in source code, most `token`s are identifiers, not keys being assigned.
    pub key_scoped: bool,
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

/// What a rule is set to in `[rules]` of `.sopsguard.toml`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleSetting {
    /// A new default severity.
    Severity(Severity),
    /// Switched off.
    Off,
}

/// Every rule, sorted by id, with the configuration's settings ([`Registry::configure`]).
#[derive(Clone, Debug, Default)]
pub struct Registry {
    rules: Vec<Rule>,
    index: BTreeMap<String, usize>,
    settings: BTreeMap<String, RuleSetting>,
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

    /// Applies a `[rules]` setting to the rule `id`; `false` (and nothing changed) when there is
    /// no such rule. A severity becomes the rule's default (what `sopsguard rules` and SARIF show)
    /// and, through [`Registry::decide`], the severity of all its findings.
    pub fn configure(&mut self, id: &str, setting: RuleSetting) -> bool {
        let Some(&i) = self.index.get(id) else { return false };
        if let RuleSetting::Severity(s) = setting {
            self.rules[i].severity = s;
        }
        self.settings.insert(id.to_owned(), setting);
        true
    }

    /// The severity the configuration sets for the rule `id`, if it sets one.
    pub fn configured_severity(&self, id: &str) -> Option<Severity> {
        match self.settings.get(id) {
            Some(RuleSetting::Severity(s)) => Some(*s),
            _ => None,
        }
    }

    /// Whether the configuration switched the rule `id` off.
    pub fn is_off(&self, id: &str) -> bool {
        self.settings.get(id) == Some(&RuleSetting::Off)
    }

    /// The one decision on a hit of `rule`: `None` when the rule is off, else its severity, which
    /// is the configured one if `[rules]` sets one, else the severity the detector chose for this
    /// hit (`chosen`), else the rule's default. A rule no file defines (a bug: see [`id`]) trips
    /// a debug assertion and is an error in a release build, so it is never silently dropped.
    pub fn decide(&self, rule: &str, chosen: Option<Severity>) -> Option<Severity> {
        match self.settings.get(rule) {
            Some(RuleSetting::Off) => None,
            Some(RuleSetting::Severity(s)) => Some(*s),
            None => {
                let default = self.get(rule).map(|r| r.severity);
                debug_assert!(
                    chosen.is_some() || default.is_some(),
                    "a hit of the unregistered rule `{rule}`"
                );
                Some(chosen.or(default).unwrap_or(Severity::Error))
            }
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
    fn configured_settings_decide_severity_and_disabling() {
        let mut reg = Registry::builtin();
        assert_eq!(reg.decide(id::SOPS_MALFORMED, None), reg.get(id::SOPS_MALFORMED).map(|r| r.severity));
        assert_eq!(reg.decide(id::SOPS_MALFORMED, Some(Severity::Note)), Some(Severity::Note));
        assert!(reg.configure(id::SOPS_MALFORMED, RuleSetting::Severity(Severity::Warning)));
        // A configured severity wins over the detector's choice too.
        assert_eq!(reg.decide(id::SOPS_MALFORMED, Some(Severity::Note)), Some(Severity::Warning));
        assert_eq!(reg.get(id::SOPS_MALFORMED).map(|r| r.severity), Some(Severity::Warning));
        assert!(reg.configure(id::GENERIC_CREDENTIAL, RuleSetting::Off));
        assert!(reg.is_off(id::GENERIC_CREDENTIAL));
        assert_eq!(reg.decide(id::GENERIC_CREDENTIAL, Some(Severity::Error)), None);
        assert!(!reg.configure("no/such-rule", RuleSetting::Off));
        // The inventory pseudo-rule carries its own severity.
        assert_eq!(reg.decide(id::INCIDENT_SOPS_FILE, Some(Severity::Note)), Some(Severity::Note));
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "unregistered rule")]
    fn an_unregistered_rule_is_caught() {
        Registry::builtin().decide("sops/no-such-rule", None);
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
