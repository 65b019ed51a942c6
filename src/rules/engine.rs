//! Running the regex rules: one aho-corasick automaton over the keywords of every rule finds which
//! rules can match at all; only those run their regex, and each match goes through the rule's
//! validator, which may accept it, reject it, or hand it to another rule (a malformed age identity).
//!
//! Speed: almost every file contains no keyword at all, so the first question, "is there any
//! keyword in this file, and where?", decides the cost of a scan. An ASCII case-insensitive
//! aho-corasick automaton answers it at a few hundred MB/s only: its prefilter falls back to "rare
//! bytes" such as `-`, which are everywhere in source and YAML. A `regex` alternation answers it
//! at several GB/s: the regex crate expands the case variants of short literal prefixes into a
//! SIMD Teddy searcher, as ripgrep does. Its speed depends on how rare those prefixes are, and
//! keyword prefixes are poor (`age-`, `priv` and `pgp ` start `page`, `print`, …), so the regex
//! looks for one *anchor* per keyword instead: its rarest few bytes (`t-key-`, `y-----`,
//! `k-----`), at a known offset. Every keyword occurrence contains its anchor, so the exact
//! overlapping automaton search starts just before the leftmost anchor, and runs only in the rare
//! files that have one: the set of triggered rules is exactly the same as a full search's.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use super::{Registry, RuleKind};
use crate::detect;
use crate::finding::Hit;

/// How common a byte is in source text and YAML, roughly (ASCII letters counted in both cases).
fn byte_weight(b: u8) -> u32 {
    match b.to_ascii_lowercase() {
        b' ' => 100,
        b'e' => 60,
        b't' => 45,
        b'a' => 40,
        b'o' | b'i' | b'n' => 37,
        b's' | b'r' => 32,
        b'h' | b'l' | b'd' | b'\n' => 20,
        b'c' | b'u' | b'm' | b'f' => 13,
        b'p' | b'g' | b'w' | b'y' | b'b' | b'.' => 9,
        b'-' | b':' | b'_' | b'"' | b'/' | b'=' | b',' => 6,
        b'0'..=b'9' | b'v' => 4,
        b'k' => 3,
        _ => 2,
    }
}

/// The anchor of a keyword: the offset and text of its rarest window of up to 6 bytes, judged by
/// its first 3 bytes (what the Teddy searcher keys on). Non-ASCII keywords anchor on themselves.
fn anchor(keyword: &str) -> (usize, &str) {
    const LEN: usize = 6;
    if !keyword.is_ascii() || keyword.len() <= LEN {
        return (0, keyword);
    }
    let b = keyword.as_bytes();
    let best = (0..=b.len() - LEN)
        .min_by_key(|&i| b[i..i + 3].iter().map(|&c| byte_weight(c)).sum::<u32>())
        .unwrap_or(0);
    (best, &keyword[best..best + LEN])
}

/// One regex matching the anchor of any (lowercased) keyword, ASCII case-insensitively like the
/// automaton, and the largest anchor offset. `None` if it cannot be built (then the automaton
/// alone is used).
fn first_anchor_regex(keywords: &[String]) -> Option<(regex::bytes::Regex, usize)> {
    let anchors: Vec<(usize, &str)> = keywords.iter().map(|k| anchor(k)).collect();
    let back = anchors.iter().map(|(off, _)| *off).max().unwrap_or(0);
    let alternation = anchors.iter().map(|(_, a)| regex::escape(a)).collect::<Vec<_>>().join("|");
    // ASCII-only case folding, as the automaton does; with Unicode folding as a fallback (a superset
    // of matches, which is still correct for a prefilter: the automaton has the final word).
    ["(?i-u)", "(?i)"].iter().find_map(|flags| {
        regex::bytes::RegexBuilder::new(&format!("{flags}(?:{alternation})"))
            .size_limit(10 * (1 << 20))
            .build()
            .ok()
            .map(|re| (re, back))
    })
}

/// The compiled prefilter over a registry's regex rules.
pub struct Matcher {
    ac: Option<AhoCorasick>,
    /// The keywords' anchors as one case-insensitive alternation, and the largest anchor offset.
    first: Option<(regex::bytes::Regex, usize)>,
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
        let first = if keywords.is_empty() { None } else { first_anchor_regex(&keywords) };
        Matcher { ac, first, keyword_rules }
    }

    /// Runs every regex rule whose keyword occurs in `data`.
    pub fn scan(&self, registry: &Registry, data: &[u8], hits: &mut Vec<Hit>) {
        let Some(ac) = &self.ac else { return };
        // A keyword occurrence at `s` has its anchor at `s + offset`, at or after the leftmost
        // anchor the regex finds: so `s` is at least that position minus the largest offset.
        let from = match &self.first {
            Some((re, back)) => match re.find(data) {
                Some(m) => m.start().saturating_sub(*back),
                None => return,
            },
            None => 0,
        };
        let mut triggered = vec![false; registry.rules().len()];
        let mut any = false;
        for m in ac.find_overlapping_iter(&data[from..]) {
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
                        if let Some(hit) = detect::validate(v, &rule.id, data, whole.range(), secret) {
                            hits.push(hit);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn triggered(keywords: &[&str], data: &[u8]) -> Vec<usize> {
        let keywords: Vec<String> = keywords.iter().map(|k| k.to_string()).collect();
        let (re, back) = first_anchor_regex(&keywords).expect("anchor regex builds");
        let ac = AhoCorasickBuilder::new().ascii_case_insensitive(true).build(&keywords).unwrap();
        let mut all: Vec<usize> = ac.find_overlapping_iter(data).map(|m| m.pattern().as_usize()).collect();
        all.sort();
        all.dedup();
        let from = match re.find(data) {
            Some(m) => m.start().saturating_sub(back),
            None => {
                assert!(all.is_empty(), "no anchor found but keywords {all:?}");
                return Vec::new();
            }
        };
        let mut out: Vec<usize> =
            ac.find_overlapping_iter(&data[from..]).map(|m| m.pattern().as_usize()).collect();
        out.sort();
        out.dedup();
        // The anchor start never hides a keyword the automaton finds on the whole input.
        assert_eq!(out, all);
        out
    }

    #[test]
    fn anchors_are_rare_windows() {
        assert_eq!(anchor("age-secret-key-"), (9, "t-key-"));
        assert_eq!(anchor("private key-----"), (10, "y-----"));
        assert_eq!(anchor("pgp private key block-----"), (20, "k-----"));
        assert_eq!(anchor("short"), (0, "short"));
        assert_eq!(anchor("clé-privée-longue"), (0, "clé-privée-longue"));
    }

    #[test]
    fn anchors_keep_every_trigger() {
        let kws = ["age-secret-key-", "private key-----", "pgp private key block-----", "key-----"];
        assert_eq!(triggered(&kws, b"nothing here"), Vec::<usize>::new());
        assert_eq!(triggered(&kws, b"x AGE-SECRET-KEY-1 and Age-Secret-Key-"), vec![0]);
        // Overlapping and nested keywords all trigger.
        assert_eq!(triggered(&kws, b"-----BEGIN PGP PRIVATE KEY BLOCK-----"), vec![2]);
        assert_eq!(triggered(&kws, b"-----BEGIN RSA PRIVATE KEY-----"), vec![1, 3]);
        // Regex metacharacters in keywords are literal.
        assert_eq!(triggered(&["a.b(c", "x+y"], b"aXb(c x+y"), vec![1]);
        // Non-ASCII keywords still build.
        assert_eq!(triggered(&["clé-privée"], "une clé-privée".as_bytes()), vec![0]);
        // A keyword whose anchor comes late, after another keyword's early anchor, and anchors
        // that occur without their keyword.
        let kws = ["aaaa-bbbb-zzzz-x", "zz-q"];
        for data in [
            &b"zz-q aaaa-bbbb-zzzz-x"[..],
            b"aaaa-bbbb-zzzz-x zz-q",
            b"zzzz-x zz-q",
            b"aaaa-bbbb-zzzz-",
            b"zz-",
        ] {
            triggered(&kws, data);
        }
        // Every position of a keyword relative to the anchor of another one.
        let text = "-----BEGIN RSA PRIVATE KEY----- AGE-SECRET-KEY-1 pgp private key block-----";
        for cut in 0..text.len() {
            triggered(
                &["age-secret-key-", "private key-----", "pgp private key block-----"],
                &text.as_bytes()[cut..],
            );
        }
    }
}
