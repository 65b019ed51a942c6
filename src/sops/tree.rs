//! The ordered tree every store loads into (`sops.go` `TreeBranch`), the walk over it with the
//! comment stack, and the "should this leaf be encrypted" decision (`Tree.shouldBeEncrypted`).

use std::ops::Range;

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
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
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
pub(crate) struct EncryptionRule {
    pub kind: RuleKind,
    pub value: String,
    regex: Option<LenientRegex>,
}

impl std::fmt::Debug for EncryptionRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {:?}", self.kind.key(), self.value)
    }
}

impl Clone for EncryptionRule {
    fn clone(&self) -> Self {
        EncryptionRule::new(self.kind, &self.value)
    }
}

impl PartialEq for EncryptionRule {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.value == other.value
    }
}

impl EncryptionRule {
    pub(crate) fn new(kind: RuleKind, value: &str) -> EncryptionRule {
        let regex = match kind {
            RuleKind::UnencryptedSuffix | RuleKind::EncryptedSuffix => None,
            _ => Some(LenientRegex::new(value)),
        };
        EncryptionRule { kind, value: value.to_owned(), regex }
    }

    /// `unencrypted_suffix: _unencrypted`, what sops uses when nothing is set.
    pub(crate) fn default_rule() -> EncryptionRule {
        EncryptionRule::new(RuleKind::UnencryptedSuffix, DEFAULT_UNENCRYPTED_SUFFIX)
    }

    fn matches(&self, s: &str) -> bool {
        match &self.regex {
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
        // The example of spec §5.3.
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
