//! Running the regex rules: a keyword search finds which rules can match at all; only those run
//! their regex, and each match goes through the rule's validator, which may accept it, reject it,
//! or hand it to another rule (a malformed age identity).
//!
//! Speed: the keyword search reads every byte of every file, so it decides the cost of a scan.
//! Keywords are matched ASCII case-insensitively; an automaton over seventy of them runs at a few
//! hundred MB/s only, because its prefilter falls back to common bytes. So the text is lowercased
//! once (a cheap byte map) and searched case-sensitively for one *anchor* per keyword, its rarest
//! few bytes (`t-key-`, `udflar`), or a rare 3-byte window that several keywords share (`key` for the
//! forty-odd `…key` spellings), with the SIMD Teddy searchers of the `aho-corasick` crate, at most 16
//! anchors per searcher (Teddy slows down past that), as ripgrep searches literals.
//! At each anchor occurrence the keywords holding that anchor are compared in place, so the set of
//! triggered rules and the keyword positions are exactly those of an overlapping search for every
//! keyword. Where Teddy is not available (no SIMD), one automaton over the anchors does the same.
//!
//! Rules with `scope: line` (every match on one line, holding a keyword) run their regex only on
//! the lines holding one of their keywords: the generic credential rule is triggered by `secret`
//! or `token` in most manifests, but only a few lines of each hold one. Rules with `scope: key` run
//! only on the lines where a keyword sits in a key being given a value (`token:`, `api_key =`): in
//! source code most `token`s are identifiers (`next_token()`), and skipping their lines is most of
//! what keeps the credential rule cheap there.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::Range;

use aho_corasick::packed;
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind, Span};

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

/// How common a run of bytes is: the sum of their [`byte_weight`]s.
fn weight(bytes: &[u8]) -> u32 {
    bytes.iter().map(|&c| byte_weight(c)).sum()
}

/// The anchor of a keyword: the offset and text of its rarest window of up to 6 bytes, judged by
/// its first 3 bytes (what the Teddy searcher keys on). Non-ASCII keywords anchor on themselves.
fn anchor(keyword: &str) -> (usize, &str) {
    const LEN: usize = 6;
    if !keyword.is_ascii() || keyword.len() <= LEN {
        return (0, keyword);
    }
    let b = keyword.as_bytes();
    let best = (0..=b.len() - LEN).min_by_key(|&i| weight(&b[i..i + 3])).unwrap_or(0);
    (best, &keyword[best..best + LEN])
}

/// A 3-byte window that at least this many keywords hold becomes their shared anchor.
const SHARED_MIN: usize = 3;

/// The rarest a shared window must be ([`weight`]): `key` (72) is shared by the
/// forty-odd `…key` spellings of the credential rule; `pas` or `ate` would be found everywhere.
const SHARED_MAX_WEIGHT: u32 = 75;

/// The anchor of each keyword, with its offset in the keyword. Each Teddy pass over a file costs
/// about the same whatever it finds, and a searcher holds at most [`ANCHORS_PER_SEARCHER`]
/// anchors: so keywords that share a rare 3-byte window anchor on it together (chosen greedily,
/// the window held by the most keywords first), which takes the seventy-odd keywords of the
/// built-in rules from five passes to three. The others anchor on their own rarest window
/// ([`anchor`]). Every occurrence of a keyword holds its anchor at its offset, so finding every
/// anchor finds every keyword.
fn choose_anchors(keywords: &[Vec<u8>]) -> Vec<(usize, Vec<u8>)> {
    let mut chosen: Vec<Option<(usize, Vec<u8>)>> = vec![None; keywords.len()];
    let shareable = |k: &Vec<u8>| k.is_ascii() && k.len() > 3;
    loop {
        let mut count: std::collections::BTreeMap<&[u8], usize> = std::collections::BTreeMap::new();
        for (k, c) in keywords.iter().zip(&chosen) {
            if c.is_some() || !shareable(k) {
                continue;
            }
            let mut windows: Vec<&[u8]> = k.windows(3).filter(|w| weight(w) <= SHARED_MAX_WEIGHT).collect();
            windows.sort_unstable();
            windows.dedup();
            for w in windows {
                *count.entry(w).or_default() += 1;
            }
        }
        // The most shared window; among equals the rarest, then the first in byte order.
        let Some((&best, &n)) = count.iter().min_by_key(|(w, n)| (std::cmp::Reverse(**n), weight(w), **w))
        else {
            break;
        };
        if n < SHARED_MIN {
            break;
        }
        let best = best.to_vec();
        for (k, c) in keywords.iter().zip(chosen.iter_mut()) {
            if c.is_none() && shareable(k) {
                if let Some(at) = k.windows(3).position(|w| w == best) {
                    *c = Some((at, best.clone()));
                }
            }
        }
    }
    keywords
        .iter()
        .zip(chosen)
        .map(|(k, c)| {
            c.unwrap_or_else(|| {
                let text = std::str::from_utf8(k).expect("lowercased from a str");
                let (offset, a) = anchor(text);
                (offset, a.as_bytes().to_vec())
            })
        })
        .collect()
}

/// Anchors per Teddy searcher: its false candidates grow with the patterns sharing its 8 buckets
/// (measured on 185 MB of history blobs: 16 per searcher was fastest, 64 twice as slow).
const ANCHORS_PER_SEARCHER: usize = 16;

/// Finds every start of an anchor in lowercased text.
enum AnchorSearch {
    /// Teddy searchers, each over a slice of the anchors.
    Teddy(Vec<packed::Searcher>),
    /// One automaton over all anchors (no SIMD here).
    Automaton(AhoCorasick),
}

impl AnchorSearch {
    fn new(anchors: &[Vec<u8>]) -> Option<AnchorSearch> {
        let teddy: Option<Vec<packed::Searcher>> = anchors
            .chunks(ANCHORS_PER_SEARCHER)
            .map(|chunk| packed::Config::new().builder().extend(chunk).build())
            .collect();
        match teddy {
            Some(t) => Some(AnchorSearch::Teddy(t)),
            None => AhoCorasickBuilder::new()
                .match_kind(MatchKind::Standard)
                .build(anchors)
                .ok()
                .map(AnchorSearch::Automaton),
        }
    }

    /// Calls `at` with each position where some anchor starts (a position may come more than
    /// once; every position where an anchor starts comes at least once).
    fn each(&self, text: &[u8], mut at: impl FnMut(usize)) {
        match self {
            AnchorSearch::Teddy(searchers) => {
                for s in searchers {
                    let mut pos = 0;
                    // Leftmost-first from each position after the last start: every start is seen.
                    while let Some(m) = s.find_in(text, Span::from(pos..text.len())) {
                        at(m.start());
                        pos = m.start() + 1;
                    }
                }
            }
            AnchorSearch::Automaton(ac) => {
                for m in ac.find_overlapping_iter(text) {
                    at(m.start());
                }
            }
        }
    }
}

thread_local! {
    /// The lowercased copy of the file being scanned, reused across files on a thread.
    static LOWER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The compiled prefilter over a registry's regex rules.
pub struct Matcher {
    search: Option<AnchorSearch>,
    /// The (lowercased) keywords.
    keywords: Vec<Vec<u8>>,
    /// For each anchor text, the keywords holding it and its offset in each.
    by_anchor: HashMap<Vec<u8>, Vec<(usize, usize)>>,
    /// The distinct anchor lengths, longest first.
    anchor_lens: Vec<usize>,
    /// For each keyword, the indices (into the registry) of the rules that use it.
    keyword_rules: Vec<Vec<usize>>,
    /// The anchors, in searcher order (kept for the tests).
    #[cfg_attr(not(test), allow(dead_code))]
    anchors: Vec<Vec<u8>>,
}

impl Matcher {
    /// Compiles the keywords of every regex rule.
    pub fn new(registry: &Registry) -> Matcher {
        let mut keywords: Vec<Vec<u8>> = Vec::new();
        let mut keyword_rules: Vec<Vec<usize>> = Vec::new();
        for (i, rule) in registry.rules().iter().enumerate() {
            if rule.kind != RuleKind::Regex || rule.regex.is_none() {
                continue;
            }
            for k in &rule.keywords {
                let k = k.to_ascii_lowercase().into_bytes();
                if k.is_empty() {
                    continue;
                }
                match keywords.iter().position(|x| *x == k) {
                    Some(p) => keyword_rules[p].push(i),
                    None => {
                        keywords.push(k);
                        keyword_rules.push(vec![i]);
                    }
                }
            }
        }
        Matcher::with_keywords(keywords, keyword_rules)
    }

    /// The matcher over `keywords` (lowercase), with the rules each one triggers.
    fn with_keywords(keywords: Vec<Vec<u8>>, keyword_rules: Vec<Vec<usize>>) -> Matcher {
        let mut by_anchor: HashMap<Vec<u8>, Vec<(usize, usize)>> = HashMap::new();
        let mut anchors: Vec<Vec<u8>> = Vec::new();
        for (i, (offset, a)) in choose_anchors(&keywords).into_iter().enumerate() {
            if !by_anchor.contains_key(&a) {
                anchors.push(a.clone());
            }
            by_anchor.entry(a).or_default().push((i, offset));
        }
        let mut anchor_lens: Vec<usize> = anchors.iter().map(Vec::len).collect();
        anchor_lens.sort_unstable_by(|a, b| b.cmp(a));
        anchor_lens.dedup();
        // Teddy compares as many leading bytes as its shortest pattern has (up to 4): anchors of
        // 3 bytes get searchers of their own, so the longer ones are told apart on 4 bytes; sorted,
        // so that anchors sharing a prefix share a bucket.
        anchors.sort_by(|a, b| (a.len() >= 4, a).cmp(&(b.len() >= 4, b)));
        let search = if anchors.is_empty() { None } else { AnchorSearch::new(&anchors) };
        Matcher { search, keywords, by_anchor, anchor_lens, keyword_rules, anchors }
    }

    /// Runs every regex rule whose keyword occurs in `data`.
    pub fn scan(&self, registry: &Registry, data: &[u8], hits: &mut Vec<Hit>) {
        let rules = registry.rules();
        // Per triggered rule: `None` if not triggered, else the starts of its keywords (kept for
        // line-scoped rules only).
        let mut triggered: Vec<Option<Vec<usize>>> = vec![None; rules.len()];
        let mut any = false;
        self.each_keyword(data, |k, start| {
            let mut in_key = None;
            for &r in &self.keyword_rules[k] {
                if rules[r].key_scoped
                    && !*in_key.get_or_insert_with(|| is_in_key(data, start + self.keywords[k].len()))
                {
                    continue;
                }
                let starts = triggered[r].get_or_insert_with(Vec::new);
                if rules[r].line_scoped {
                    starts.push(start);
                }
                any = true;
            }
        });
        if !any {
            return;
        }
        for (rule, starts) in rules.iter().zip(triggered) {
            let Some(starts) = starts else { continue };
            let Some(re) = &rule.regex else { continue };
            if rule.line_scoped {
                for window in line_windows(data, starts) {
                    run(rule, re, data, window, hits);
                }
            } else {
                run(rule, re, data, 0..data.len(), hits);
            }
        }
    }

    /// Calls `found(keyword, start)` for every occurrence of every keyword in `data`, ASCII
    /// case-insensitively (an occurrence may come more than once).
    fn each_keyword(&self, data: &[u8], mut found: impl FnMut(usize, usize)) {
        let Some(search) = &self.search else { return };
        LOWER.with(|lower| {
            let mut lower = lower.borrow_mut();
            lower.clear();
            lower.extend(data.iter().map(u8::to_ascii_lowercase));
            let text = &lower[..];
            let mut last = usize::MAX;
            search.each(text, |p| {
                if p == last {
                    return;
                }
                last = p;
                for &len in &self.anchor_lens {
                    let Some(holders) = text.get(p..p + len).and_then(|a| self.by_anchor.get(a)) else {
                        continue;
                    };
                    for &(k, offset) in holders {
                        let keyword = &self.keywords[k];
                        let Some(start) = p.checked_sub(offset) else { continue };
                        if text.get(start..start + keyword.len()) == Some(&keyword[..]) {
                            found(k, start);
                        }
                    }
                }
            });
            // Drop the copy of a large file rather than keep it for the thread's lifetime.
            if lower.capacity() > 1 << 20 {
                *lower = Vec::new();
            }
        });
    }
}

/// Runs one rule's regex over `data[window]` (whole lines, or the whole text).
fn run(rule: &super::Rule, re: &regex::bytes::Regex, data: &[u8], window: Range<usize>, hits: &mut Vec<Hit>) {
    let base = window.start;
    for caps in re.captures_iter(&data[window]) {
        let Some(whole) = caps.get(0) else { continue };
        let whole = base + whole.start()..base + whole.end();
        let secret = caps.get(1).map_or(whole.clone(), |g| base + g.start()..base + g.end());
        match rule.validator.as_deref() {
            None => hits.push(Hit::new(rule.id.clone(), whole, rule.title.clone()).with_secret(secret)),
            Some(v) => {
                if let Some(hit) = detect::validate(v, &rule.id, data, whole, secret) {
                    hits.push(hit);
                }
            }
        }
    }
}

/// The lines (each with its newline) holding the positions `starts`, adjacent lines merged, in
/// order.
fn line_windows(data: &[u8], mut starts: Vec<usize>) -> Vec<Range<usize>> {
    starts.sort_unstable();
    starts.dedup();
    let mut out: Vec<Range<usize>> = Vec::new();
    for &s in &starts {
        if out.last().is_some_and(|w| s < w.end) {
            continue;
        }
        let begin = memchr::memrchr(b'\n', &data[..s]).map_or(0, |i| i + 1);
        let end = memchr::memchr(b'\n', &data[s..]).map_or(data.len(), |i| s + i + 1);
        match out.last_mut() {
            Some(w) if w.end == begin => w.end = end,
            _ => out.push(begin..end),
        }
    }
    out
}

/// Whether the keyword ending at `end` sits in a key being given a value: key characters (ASCII
/// letters, digits, `_`, `.`, `-`, and any non-ASCII byte, which a Unicode case-insensitive class
/// such as `(?i)[a-z]` may match), an optional closing quote, blanks, then `:` or `=`. What every
/// match of a `scope: key` rule holds, so checking it drops no match.
fn is_in_key(data: &[u8], end: usize) -> bool {
    let rest = data.get(end..).unwrap_or_default();
    let mut i = rest
        .iter()
        .position(|&b| !(b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-') || b >= 0x80))
        .unwrap_or(rest.len());
    if matches!(rest.get(i), Some(b'"' | b'\'')) {
        i += 1;
    }
    while matches!(rest.get(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    matches!(rest.get(i), Some(b':' | b'='))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The keywords found by the matcher, as a set of (keyword, start), against an overlapping
    /// automaton search over the keywords themselves.
    fn check(keywords: &[&str], data: &[u8]) -> Vec<(usize, usize)> {
        let kws: Vec<Vec<u8>> = keywords.iter().map(|k| k.to_ascii_lowercase().into_bytes()).collect();
        let rules = (0..kws.len()).map(|i| vec![i]).collect();
        let m = Matcher::with_keywords(kws.clone(), rules);
        let mut got = Vec::new();
        m.each_keyword(data, |k, s| got.push((k, s)));
        got.sort();
        got.dedup();
        let ac = AhoCorasickBuilder::new().ascii_case_insensitive(true).build(&kws).unwrap();
        let mut want: Vec<(usize, usize)> =
            ac.find_overlapping_iter(data).map(|m| (m.pattern().as_usize(), m.start())).collect();
        want.sort();
        want.dedup();
        assert_eq!(got, want, "keywords {keywords:?} in {:?}", String::from_utf8_lossy(data));
        // The automaton fallback finds the same.
        let anchors = m.anchors.clone();
        let fallback = Matcher {
            search: Some(AnchorSearch::Automaton(AhoCorasickBuilder::new().build(&anchors).unwrap())),
            ..Matcher::with_keywords(kws, (0..keywords.len()).map(|i| vec![i]).collect())
        };
        let mut again = Vec::new();
        fallback.each_keyword(data, |k, s| again.push((k, s)));
        again.sort();
        again.dedup();
        assert_eq!(again, want);
        got
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
    fn every_keyword_occurrence_is_found() {
        let kws = ["age-secret-key-", "private key-----", "pgp private key block-----", "key-----"];
        assert_eq!(check(&kws, b"nothing here"), vec![]);
        assert_eq!(check(&kws, b"x AGE-SECRET-KEY-1 and Age-Secret-Key-"), vec![(0, 2), (0, 23)]);
        // Overlapping and nested keywords all count.
        assert_eq!(check(&kws, b"-----BEGIN PGP PRIVATE KEY BLOCK-----").len(), 1);
        assert_eq!(check(&kws, b"-----BEGIN RSA PRIVATE KEY-----").len(), 2);
        // Regex metacharacters in keywords are literal.
        assert_eq!(check(&["a.b(c", "x+y"], b"aXb(c x+y"), vec![(1, 6)]);
        // Non-ASCII keywords.
        assert_eq!(check(&["clé-privée"], "une clé-privée".as_bytes()), vec![(0, 4)]);
        // Keywords sharing an anchor at different offsets, anchors without their keyword, and a
        // keyword at the very start and end.
        let kws = ["private_key", "privatekey", "xprivate", "secret", "token", "cf_token"];
        for data in [
            &b"PRIVATE_KEY privatekey XPRIVATEKEY cf_token"[..],
            b"rivate_key rivate secre",
            b"cf_tokentoken",
            b"secret",
            b"",
            b"s",
        ] {
            check(&kws, data);
        }
        // Every cut of a text full of keywords, with more keywords than one Teddy searcher holds.
        let many: Vec<String> =
            (0..50).map(|i| format!("kw{i:02}x")).chain(["secret".into(), "token".into()]).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let text = "-----BEGIN RSA PRIVATE KEY----- AGE-SECRET-KEY-1 KW07X kw49xkw10x secret_token";
        for cut in 0..text.len() {
            check(
                &["age-secret-key-", "private key-----", "pgp private key block-----"],
                &text.as_bytes()[cut..],
            );
            check(&many, &text.as_bytes()[cut..]);
        }
    }

    #[test]
    fn keywords_share_rare_windows() {
        let kws: Vec<Vec<u8>> = [
            "api_key",
            "master-key",
            "authkey",
            "age-secret-key-",
            "token",
            "xoxb-",
            "xoxp-",
            "xoxa-",
            "pwd",
        ]
        .iter()
        .map(|k| k.as_bytes().to_vec())
        .collect();
        let got = choose_anchors(&kws);
        let text = |i: usize| String::from_utf8(got[i].1.clone()).unwrap();
        // `key` is shared by four keywords, at each one's own offset.
        for (i, offset) in [(0, 4), (1, 7), (2, 4), (3, 11)] {
            assert_eq!((got[i].0, text(i).as_str()), (offset, "key"), "{i}");
        }
        // The Slack prefixes share `xox`; the others keep their own anchor.
        assert!((5..8).all(|i| got[i] == (0, b"xox".to_vec())));
        assert_eq!(got[4], (0, b"token".to_vec()));
        assert_eq!(got[8], (0, b"pwd".to_vec()));
        // Every keyword holds its anchor at its offset.
        for (k, (offset, a)) in kws.iter().zip(&got) {
            assert_eq!(&k[*offset..offset + a.len()], &a[..]);
        }
        // The built-in rules need three Teddy passes, not five.
        let m = Matcher::new(&Registry::builtin());
        assert!(m.anchors.len() <= 3 * ANCHORS_PER_SEARCHER, "{} anchors", m.anchors.len());
    }

    #[test]
    fn keys_are_told_from_identifiers() {
        let at = |line: &str, kw: &str| {
            is_in_key(line.as_bytes(), line.to_lowercase().find(kw).unwrap() + kw.len())
        };
        for line in [
            "token: x",
            "TOKEN=x",
            "api_token_v2 := x",
            "\"token\": \"x\"",
            "'token' : x",
            "token\t= x",
            "tokenſ: x",
        ] {
            assert!(at(line, "token"), "{line}");
        }
        for line in [
            "next_token()",
            "token",
            "token x: y",
            "Token::new",
            "token\n: x",
            "token, secret: x",
            "tok(en): x",
        ] {
            let kw = if line.starts_with("tok(") { "tok" } else { "token" };
            assert_eq!(at(line, kw), line == "Token::new", "{line}");
        }
    }

    /// `scope: key` drops no match: on lines built from every keyword of the key-scoped built-in
    /// rules, in and out of keys, the rules find exactly what they find when run on every line.
    #[test]
    fn key_scope_drops_no_match() {
        let registry = Registry::builtin();
        let m = Matcher::new(&registry);
        let keyed: Vec<&super::super::Rule> = registry.rules().iter().filter(|r| r.key_scoped).collect();
        assert!(keyed.len() >= 4, "the credential, Discord, bootstrap and WireGuard rules");
        let values = [
            "Zx9vQ2pL8rT4mN7bK3wY6sD1",
            "abcdef.0123456789abcdef",
            "MTk4NjIyNDgzNDcxOTI1MjQ4.Cl2FMQ.ZnCjm1XVW7vRze4b7Cq4se7kKWs",
            "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=",
        ];
        let mut lines = Vec::new();
        for rule in &keyed {
            for k in &rule.keywords {
                for (i, v) in values.iter().enumerate() {
                    for shape in [
                        format!("{k}: {v}"),
                        format!("my_{k}_file = \"{v}\""),
                        format!("X{}Y := '{v}'", k.to_uppercase()),
                        format!("call({k}, \"{v}\")"),
                        format!("{k}\" : {v}"),
                        format!("# the {k} is {v}"),
                        format!("{k}s, other_{}: {v}", ["password", "token", "privatekey", "discord"][i]),
                    ] {
                        lines.push(shape);
                    }
                }
            }
        }
        let text = lines.join("\n");
        let mut scoped = Vec::new();
        m.scan(&registry, text.as_bytes(), &mut scoped);
        let key = |h: &Hit| (h.rule.clone(), h.span.start, h.span.end);
        let mut got: Vec<_> =
            scoped.iter().filter(|h| keyed.iter().any(|r| r.id == h.rule)).map(key).collect();
        let mut want = Vec::new();
        for rule in &keyed {
            for line in text.split_inclusive('\n') {
                let start = line.as_ptr() as usize - text.as_ptr() as usize;
                run(
                    rule,
                    rule.regex.as_ref().unwrap(),
                    text.as_bytes(),
                    start..start + line.len(),
                    &mut want,
                );
            }
        }
        let mut want: Vec<_> = want.iter().map(key).collect();
        got.sort();
        want.sort();
        assert!(want.len() > 50, "the lines hold matches ({})", want.len());
        assert_eq!(got, want);
    }

    #[test]
    fn line_windows_cover_whole_lines() {
        let data = b"a: 1\nb: 2\nc: 3\nd: 4";
        assert_eq!(line_windows(data, vec![0]), vec![0..5]);
        // Adjacent lines merge; repeated starts on a line count once.
        assert_eq!(line_windows(data, vec![6, 5, 7, 10]), vec![5..15]);
        // The last line has no newline.
        assert_eq!(line_windows(data, vec![16, 1]), vec![0..5, 15..19]);
        assert_eq!(line_windows(data, vec![]), Vec::<Range<usize>>::new());
    }
}
