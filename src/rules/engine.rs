//! Running the regex rules: one aho-corasick automaton over the keywords of every rule finds which
//! rules can match at all; only those run their regex, and each match goes through the rule's
//! validator, which may accept it, reject it, or hand it to another rule (a malformed age identity).

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use super::{Registry, RuleKind};
use crate::detect;
use crate::finding::Hit;

/// The compiled prefilter over a registry's regex rules.
pub struct Matcher {
    ac: Option<AhoCorasick>,
    /// For each keyword pattern, the indices (into the registry) of the rules that use it.
    keyword_rules: Vec<Vec<usize>>,
}

impl Matcher {
    /// Compiles the keywords of every regex rule.
    pub fn new(registry: &Registry) -> Matcher {
        let mut keywords: Vec<String> = Vec::new();
        let mut keyword_rules: Vec<Vec<usize>> = Vec::new();
        for (i, rule) in registry.rules().iter().enumerate() {
            if rule.kind != RuleKind::Regex || rule.regex.is_none() {
                continue;
            }
            for k in &rule.keywords {
                let k = k.to_ascii_lowercase();
                match keywords.iter().position(|x| *x == k) {
                    Some(p) => keyword_rules[p].push(i),
                    None => {
                        keywords.push(k);
                        keyword_rules.push(vec![i]);
                    }
                }
            }
        }
        let ac = if keywords.is_empty() {
            None
        } else {
            AhoCorasickBuilder::new()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::Standard)
                .build(&keywords)
                .ok()
        };
        Matcher { ac, keyword_rules }
    }

    /// Runs every regex rule whose keyword occurs in `data`.
    pub fn scan(&self, registry: &Registry, data: &[u8], hits: &mut Vec<Hit>) {
        let Some(ac) = &self.ac else { return };
        let mut triggered = vec![false; registry.rules().len()];
        let mut any = false;
        for m in ac.find_overlapping_iter(data) {
            for &r in &self.keyword_rules[m.pattern().as_usize()] {
                triggered[r] = true;
                any = true;
            }
        }
        if !any {
            return;
        }
        for (i, rule) in registry.rules().iter().enumerate() {
            if !triggered[i] {
                continue;
            }
            let Some(re) = &rule.regex else { continue };
            for caps in re.captures_iter(data) {
                let Some(whole) = caps.get(0) else { continue };
                let secret = caps.get(1).map_or(whole.range(), |g| g.range());
                match rule.validator.as_deref() {
                    None => hits.push(
                        Hit::new(rule.id.clone(), whole.range(), rule.title.clone()).with_secret(secret),
                    ),
                    Some(v) => {
                        if let Some(hit) = detect::validate(v, &rule.id, data, whole.range()) {
                            hits.push(hit);
                        }
                    }
                }
            }
        }
    }
}
