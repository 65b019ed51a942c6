//! The ordered tree every store loads into (`sops.go` `TreeBranch`), the walk over it with the
//! comment stack, and the "should this leaf be encrypted" decision (`Tree.shouldBeEncrypted`).

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, LazyLock, Mutex, OnceLock};

use aho_corasick::{AhoCorasick, MatchKind};

use super::re2::LenientRegex;
use super::value::Scalar;

/// A byte range into the scanned file.
pub(crate) type Span = Range<usize>;

/// A node with the byte range it came from.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub value: Value,
    pub span: Span,
}

/// A value: a leaf, a mapping, or a list.
#[derive(Clone, Debug)]
pub(crate) enum Value {
    Scalar(Scalar),
    Map(Vec<Item>),
    List(Vec<Item>),
}

/// One entry of a mapping or list. Mappings hold `Pair`s and `Comment`s; lists hold `Elem`s and
/// `Comment`s.
#[derive(Clone, Debug)]
pub(crate) enum Item {
    Comment { text: String, span: Span },
    Pair { key: String, key_span: Span, value: Node },
    Elem(Node),
}

/// A loaded file: one branch per document (a top-level mapping's items).
#[derive(Clone, Debug, Default)]
pub(crate) struct Tree {
    pub branches: Vec<Vec<Item>>,
}

/// The six encryption rules sops knows (at most one may be set).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum RuleKind {
    UnencryptedSuffix,
    EncryptedSuffix,
    UnencryptedRegex,
    EncryptedRegex,
    UnencryptedCommentRegex,
    EncryptedCommentRegex,
}

impl RuleKind {
    pub(crate) const ALL: [RuleKind; 6] = [
        RuleKind::UnencryptedSuffix,
        RuleKind::EncryptedSuffix,
        RuleKind::UnencryptedRegex,
        RuleKind::EncryptedRegex,
        RuleKind::UnencryptedCommentRegex,
        RuleKind::EncryptedCommentRegex,
    ];

    /// The key used in sops metadata and in `.sops.yaml`.
    pub(crate) fn key(self) -> &'static str {
        match self {
            RuleKind::UnencryptedSuffix => "unencrypted_suffix",
            RuleKind::EncryptedSuffix => "encrypted_suffix",
            RuleKind::UnencryptedRegex => "unencrypted_regex",
            RuleKind::EncryptedRegex => "encrypted_regex",
            RuleKind::UnencryptedCommentRegex => "unencrypted_comment_regex",
            RuleKind::EncryptedCommentRegex => "encrypted_comment_regex",
        }
    }
}

/// The suffix sops applies when no rule is set.
pub(crate) const DEFAULT_UNENCRYPTED_SUFFIX: &str = "_unencrypted";

/// An encryption rule with its regex compiled once (sops compiles on every call, ignoring errors:
/// [`LenientRegex`] keeps that semantics).
#[derive(Clone)]
pub(crate) struct EncryptionRule {
    pub kind: RuleKind,
    pub value: String,
    compiled: Arc<Compiled>,
}

/// What a rule compiles to, shared by every copy of the rule (and, through a small cache, by
/// every file that states the same rule).
struct Compiled {
    regex: Option<LenientRegex>,
    /// Byte strings of which every key (comment, for comment rules) this rule encrypts contains
    /// one; `None` when there is no such finite set (the rule may encrypt anything). Worked out
    /// on first use: only creation rules are asked.
    needles: OnceLock<Option<Needles>>,
}

/// Compiled rules by `(kind, value)`. A repository states few distinct rules (every sops file
/// carries its own copy); the cap bounds what hostile input can make it hold.
static COMPILED: LazyLock<Mutex<CompiledCache>> = LazyLock::new(Default::default);
const COMPILED_CAP: usize = 1024;
type CompiledCache = HashMap<(RuleKind, String), Arc<Compiled>>;

/// Whether a key or comment of this file could be spelled other than verbatim: an escape
/// sequence (`\\`) or a `!!binary` scalar.
fn may_hide_text(data: &[u8]) -> bool {
    static BINARY: LazyLock<memchr::memmem::Finder<'static>> =
        LazyLock::new(|| memchr::memmem::Finder::new(b"binary"));
    memchr::memchr(b'\\', data).is_some() || BINARY.find(data).is_some()
}

/// How needles are searched: a few, one SIMD substring search each; many, one automaton.
enum Search {
    Each(Vec<memchr::memmem::Finder<'static>>),
    /// Overlapping matches (a needle holds a delimiter).
    Any(AhoCorasick),
    /// Leftmost-longest matches.
    Disjoint(AhoCorasick),
}

/// Bytes that may precede a key written verbatim (see [`EncryptionRule::may_encrypt_in`]).
fn is_key_start(b: u8) -> bool {
    b.is_ascii_whitespace() || matches!(b, b'"' | b'\'' | b'{' | b'[' | b',' | b'?')
}

/// Bytes that may follow a key written verbatim.
fn is_key_end(b: u8) -> bool {
    b.is_ascii_whitespace() || matches!(b, b'"' | b'\'' | b':' | b'}' | b']' | b',' | b'=' | b'#')
}

/// See [`EncryptionRule::may_encrypt_in`].
struct Needles {
    search: Search,
    /// Every key the rule matches is exactly one of the needles.
    whole: bool,
}

impl std::fmt::Debug for EncryptionRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {:?}", self.kind.key(), self.value)
    }
}

impl PartialEq for EncryptionRule {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.value == other.value
    }
}

impl EncryptionRule {
    pub(crate) fn new(kind: RuleKind, value: &str) -> EncryptionRule {
        let key = (kind, value.to_owned());
        let cached = COMPILED.lock().unwrap_or_else(|p| p.into_inner()).get(&key).cloned();
        let compiled = cached.unwrap_or_else(|| {
            let regex = match kind {
                RuleKind::UnencryptedSuffix | RuleKind::EncryptedSuffix => None,
                _ => Some(LenientRegex::new(value)),
            };
            let c = Arc::new(Compiled { regex, needles: OnceLock::new() });
            let mut cache = COMPILED.lock().unwrap_or_else(|p| p.into_inner());
            if cache.len() < COMPILED_CAP {
                cache.insert(key, c.clone());
            }
            c
        });
        EncryptionRule { kind, value: value.to_owned(), compiled }
    }

    /// Identifies the compiled rule this one shares (equal rules share one while both live).
    pub(crate) fn compiled_id(&self) -> usize {
        Arc::as_ptr(&self.compiled) as usize
    }

    fn needles(&self) -> Option<&Needles> {
        self.compiled
            .needles
            .get_or_init(|| {
                let regex = self.compiled.regex.as_ref();
                let literals = match self.kind {
                    _ if self.value.is_empty() => None,
                    RuleKind::EncryptedSuffix => Some((vec![self.value.as_bytes().to_vec()], false)),
                    RuleKind::EncryptedRegex => regex.and_then(LenientRegex::required_literals),
                    // A comment's text starts after `#`: only containment is known.
                    RuleKind::EncryptedCommentRegex => {
                        regex.and_then(LenientRegex::required_literals).map(|(l, _)| (l, false))
                    }
                    _ => None,
                };
                // A literal with white space or a quote could be split by line folding or written
                // with an escape; then the text may not contain it verbatim.
                literals
                    .filter(|(l, _)| {
                        l.iter()
                            .all(|n| !n.iter().any(|b| b.is_ascii_whitespace() || matches!(b, b'\'' | b'"')))
                    })
                    .and_then(|(l, whole)| {
                        let search = if l.len() <= 4 {
                            Search::Each(
                                l.iter().map(|n| memchr::memmem::Finder::new(n).into_owned()).collect(),
                            )
                        } else if l.iter().flatten().any(|&b| is_key_start(b) || is_key_end(b)) {
                            Search::Any(AhoCorasick::new(l).ok()?)
                        } else {
                            // No needle holds a delimiter, so no whole-key occurrence can overlap
                            // another occurrence: the leftmost-longest matches, without
                            // overlaps (much faster), find one whenever there is one.
                            Search::Disjoint(
                                AhoCorasick::builder()
                                    .match_kind(MatchKind::LeftmostLongest)
                                    .build(l)
                                    .ok()?,
                            )
                        };
                        Some(Needles { search, whole })
                    })
            })
            .as_ref()
    }

    /// Whether this rule may encrypt something in a file with these bytes. `false` only when no
    /// key or comment of the file can match: every one it would encrypt contains one of the
    /// rule's literals (or, for an anchored regex of literals, is one), the bytes hold none, and
    /// they hold no escape sequence (`\`) or `!!binary` key that could spell one differently.
    pub(crate) fn may_encrypt_in(&self, data: &[u8]) -> bool {
        let Some(n) = self.needles() else { return true };
        let found = if n.whole {
            // A key that is exactly the literal: plain, quoted, flow, dotenv or INI, it is
            // delimited by white space, a quote or an indicator on both sides.
            let whole = |start: usize, end: usize| {
                start.checked_sub(1).is_none_or(|i| is_key_start(data[i]))
                    && data.get(end).is_none_or(|&b| is_key_end(b))
            };
            match &n.search {
                Search::Each(finders) => {
                    finders.iter().any(|f| f.find_iter(data).any(|at| whole(at, at + f.needle().len())))
                }
                Search::Any(ac) => ac.find_overlapping_iter(data).any(|m| whole(m.start(), m.end())),
                Search::Disjoint(ac) => ac.find_iter(data).any(|m| whole(m.start(), m.end())),
            }
        } else {
            match &n.search {
                Search::Each(finders) => finders.iter().any(|f| f.find(data).is_some()),
                Search::Any(ac) | Search::Disjoint(ac) => ac.is_match(data),
            }
        };
        found || may_hide_text(data)
    }

    /// `unencrypted_suffix: _unencrypted`, what sops uses when nothing is set.
    pub(crate) fn default_rule() -> EncryptionRule {
        EncryptionRule::new(RuleKind::UnencryptedSuffix, DEFAULT_UNENCRYPTED_SUFFIX)
    }

    fn matches(&self, s: &str) -> bool {
        match &self.compiled.regex {
            Some(r) => r.is_match(s),
            None => s.ends_with(self.value.as_str()),
        }
    }

    /// `Tree.shouldBeEncrypted`. `stack` holds one frame of comment texts per enclosing container.
    pub(crate) fn should_encrypt(&self, path: &[&str], stack: &[Vec<&str>], is_comment: bool) -> bool {
        if self.value.is_empty() {
            return true;
        }
        match self.kind {
            RuleKind::UnencryptedSuffix | RuleKind::UnencryptedRegex => !path.iter().any(|p| self.matches(p)),
            RuleKind::EncryptedSuffix | RuleKind::EncryptedRegex => path.iter().any(|p| self.matches(p)),
            RuleKind::UnencryptedCommentRegex => !stack.iter().flatten().any(|c| self.matches(c)),
            RuleKind::EncryptedCommentRegex => {
                let last_frame = stack.len().saturating_sub(1);
                let last_len = stack.last().map_or(0, |f| f.len());
                stack.iter().enumerate().any(|(i, frame)| {
                    frame.iter().enumerate().any(|(j, c)| {
                        !(is_comment && i == last_frame && j + 1 == last_len) && self.matches(c)
                    })
                })
            }
        }
    }
}

/// What the walk hands to its visitor for every leaf (comments included, `nil` values excluded).
pub(crate) struct Leaf<'a> {
    pub path: &'a [&'a str],
    /// `Some(text)` for a comment.
    pub comment: Option<&'a str>,
    /// The scalar for a value leaf.
    pub scalar: Option<&'a Scalar>,
    pub span: Span,
    pub encrypt: bool,
}

/// Walks every branch in order, exactly like `walkBranch`/`walkSlice`, deciding for each leaf
/// whether `rule` encrypts it.
pub(crate) fn walk(tree: &Tree, rule: &EncryptionRule, visit: &mut dyn FnMut(&Leaf<'_>)) {
    for branch in &tree.branches {
        walk_branch(branch, rule, visit);
    }
}

/// [`walk`] over one branch (one document).
pub(crate) fn walk_branch(branch: &[Item], rule: &EncryptionRule, visit: &mut dyn FnMut(&Leaf<'_>)) {
    let mut path: Vec<&str> = Vec::new();
    let mut stack: Vec<Vec<&str>> = Vec::new();
    walk_items(branch, false, &mut path, &mut stack, rule, visit);
}

fn walk_items<'t>(
    items: &'t [Item],
    is_list: bool,
    path: &mut Vec<&'t str>,
    stack: &mut Vec<Vec<&'t str>>,
    rule: &EncryptionRule,
    visit: &mut dyn FnMut(&Leaf<'_>),
) {
    let _ = is_list;
    stack.push(Vec::new());
    for item in items {
        match item {
            Item::Comment { text, span } => {
                if let Some(frame) = stack.last_mut() {
                    frame.push(text.as_str());
                }
                let encrypt = rule.should_encrypt(path, stack, true);
                visit(&Leaf { path, comment: Some(text), scalar: None, span: span.clone(), encrypt });
            }
            Item::Pair { key, value, .. } => {
                path.push(key.as_str());
                walk_value(value, path, stack, rule, visit);
                path.pop();
                if let Some(frame) = stack.last_mut() {
                    frame.clear();
                }
            }
            Item::Elem(value) => {
                walk_value(value, path, stack, rule, visit);
                if let Some(frame) = stack.last_mut() {
                    frame.clear();
                }
            }
        }
    }
    stack.pop();
}

fn walk_value<'t>(
    node: &'t Node,
    path: &mut Vec<&'t str>,
    stack: &mut Vec<Vec<&'t str>>,
    rule: &EncryptionRule,
    visit: &mut dyn FnMut(&Leaf<'_>),
) {
    match &node.value {
        Value::Scalar(Scalar::Null) => {}
        Value::Scalar(s) => {
            let encrypt = rule.should_encrypt(path, stack, false);
            visit(&Leaf { path, comment: None, scalar: Some(s), span: node.span.clone(), encrypt });
        }
        Value::Map(items) => walk_items(items, false, path, stack, rule, visit),
        Value::List(items) => walk_items(items, true, path, stack, rule, visit),
    }
}

/// The AAD of a leaf at `path`: `join(path, ":") + ":"`.
#[cfg(any(test, feature = "testkit"))]
pub(crate) fn aad(path: &[&str]) -> String {
    let mut s = String::new();
    aad_into(&mut s, path);
    s
}

/// [`aad`] into a reused buffer.
pub(crate) fn aad_into(s: &mut String, path: &[&str]) {
    s.clear();
    for p in path {
        s.push_str(p);
        s.push(':');
    }
    if path.is_empty() {
        s.push(':');
    }
}

/// Maximum nesting every store accepts.
pub(crate) const MAX_DEPTH: usize = 128;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_prefilter_finds_every_key_the_rule_can_encrypt() {
        let r = EncryptionRule::new(RuleKind::EncryptedRegex, "^(data|stringData)$");
        let yes: [&[u8]; 9] = [
            b"kind: Secret\ndata:\n  a: b\n",
            b"stringData:\n",
            b"{\"data\": {}}",
            b"{kind: Secret, data: {a: b}}",
            b"spec:\n  'data' : x\n",
            b"data=x\n",
            b"[data]\n",
            b"a: \"d\\x61ta\"\n",
            b"? data\n: x\n",
        ];
        for y in yes {
            assert!(r.may_encrypt_in(y), "{:?}", String::from_utf8_lossy(y));
        }
        let no: [&[u8]; 4] = [
            b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
            b"spec:\n  values:\n    metadata-url: y\n    database: z\n",
            b"",
            b"data_dir: /x\n",
        ];
        for n in no {
            assert!(!r.may_encrypt_in(n), "{:?}", String::from_utf8_lossy(n));
        }
        // Rules that may encrypt any key never rule a file out.
        for (kind, v) in [
            (RuleKind::UnencryptedSuffix, "_unencrypted"),
            (RuleKind::UnencryptedRegex, "^x$"),
            (RuleKind::EncryptedRegex, ""),
            (RuleKind::EncryptedRegex, ".*"),
        ] {
            assert!(EncryptionRule::new(kind, v).may_encrypt_in(b"a: b\n"), "{kind:?} {v}");
        }
        let suffix = EncryptionRule::new(RuleKind::EncryptedSuffix, "_secret");
        assert!(suffix.may_encrypt_in(b"db_secret: x\n"));
        assert!(!suffix.may_encrypt_in(b"db: x\n"));
        let unanchored = EncryptionRule::new(RuleKind::EncryptedRegex, "data");
        assert!(unanchored.may_encrypt_in(b"metadata: x\n"));
    }

    fn leaf(text: &str) -> Node {
        Node { value: Value::Scalar(Scalar::Str(text.as_bytes().to_vec())), span: 0..0 }
    }
    fn pair(k: &str, v: Node) -> Item {
        Item::Pair { key: k.to_owned(), key_span: 0..0, value: v }
    }
    fn comment(t: &str) -> Item {
        Item::Comment { text: t.to_owned(), span: 0..0 }
    }

    fn decisions(tree: &Tree, rule: &EncryptionRule) -> Vec<(String, bool)> {
        let mut out = Vec::new();
        walk(tree, rule, &mut |l| {
            let what = match l.comment {
                Some(c) => format!("#{c}@{}", aad(l.path)),
                None => aad(l.path),
            };
            out.push((what, l.encrypt));
        });
        out
    }

    #[test]
    fn comment_stack_spec_example() {
        // The comment-stack example of sops' format description.
        let tree = Tree {
            branches: vec![vec![
                comment(" sops:enc"),
                pair("secret", leaf("a")),
                pair("plain", leaf("b")),
                comment(" sops:enc"),
                pair(
                    "parent",
                    Node {
                        value: Value::Map(vec![pair("x", leaf("1")), comment(" note"), pair("y", leaf("2"))]),
                        span: 0..0,
                    },
                ),
            ]],
        };
        let rule = EncryptionRule::new(RuleKind::EncryptedCommentRegex, "sops:enc");
        let d = decisions(&tree, &rule);
        let want = [
            ("# sops:enc@:", false),
            ("secret:", true),
            ("plain:", false),
            ("# sops:enc@:", false),
            ("parent:x:", true),
            ("# note@parent:", true),
            ("parent:y:", true),
        ];
        let got: Vec<(&str, bool)> = d.iter().map(|(a, b)| (a.as_str(), *b)).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn suffix_and_regex_rules() {
        let tree = Tree {
            branches: vec![vec![
                pair("a_unencrypted", Node { value: Value::Map(vec![pair("b", leaf("x"))]), span: 0..0 }),
                pair("c", leaf("y")),
                pair("data", Node { value: Value::List(vec![Item::Elem(leaf("z"))]), span: 0..0 }),
            ]],
        };
        let d = decisions(&tree, &EncryptionRule::default_rule());
        assert_eq!(d.iter().map(|x| x.1).collect::<Vec<_>>(), [false, true, true]);
        let r = EncryptionRule::new(RuleKind::EncryptedRegex, "^(data|stringData)$");
        let d = decisions(&tree, &r);
        assert_eq!(d.iter().map(|x| x.1).collect::<Vec<_>>(), [false, false, true]);
        // Invalid regexes match nothing.
        let bad = EncryptionRule::new(RuleKind::EncryptedRegex, "(");
        assert!(decisions(&tree, &bad).iter().all(|x| !x.1));
        let bad = EncryptionRule::new(RuleKind::UnencryptedRegex, "(");
        assert!(decisions(&tree, &bad).iter().all(|x| x.1));
    }
}
