//! A YAML document tree with byte spans, built from `saphyr-parser` events.
//!
//! Why our own tree: the detectors need the byte span of every key and value (diagnostics point at
//! them), mappings in file order (sops' MAC and paths depend on it), the scalar style (a quoted `"1"`
//! is a string, a plain `1` an integer, as yaml.v3 resolves it), and the comments (sops encrypts
//! them). We also need hard limits against hostile input: the builder is iterative (no recursion,
//! so 10,000 nested levels cannot overflow the stack), nesting deeper than [`MAX_DEPTH`] is an
//! error, and alias expansion is budgeted so a "billion laughs" file fails fast instead of
//! exhausting memory.
//!
//! `saphyr-parser` reports positions in characters; this module converts them to byte offsets.

use std::collections::HashMap;
use std::ops::Range;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

/// Deepest nesting of collections accepted.
pub const MAX_DEPTH: usize = 256;

/// Most nodes that alias expansion may add to one stream.
pub const MAX_ALIAS_NODES: usize = 100_000;

/// Most scalar bytes that alias expansion may add to one stream: an alias copies its anchor's
/// scalars, so this bounds the memory a small file can make the parser use (a 1 MiB scalar behind
/// an anchor and 100,000 aliases to it is refused after a few aliases, not after 100 GiB).
pub const MAX_ALIAS_BYTES: usize = 8 << 20;

/// The whole parsed file: every document and every comment.
#[derive(Clone, Debug, PartialEq)]
pub struct Stream {
    /// The documents, in order. An empty file has none.
    pub documents: Vec<Document>,
    /// Every comment, in file order.
    pub comments: Vec<Comment>,
}

/// One YAML document.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    /// The root node (an empty plain scalar for an empty document).
    pub root: Node,
    /// Byte span of the document.
    pub span: Range<usize>,
}

/// A node and where it is.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// What it is.
    pub kind: Kind,
    /// Byte span in the source.
    pub span: Range<usize>,
}

/// The three kinds of node (aliases are expanded).
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// A scalar.
    Scalar(Scalar),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in file order.
    Map(Vec<(Node, Node)>),
}

/// A scalar as written: its text after unescaping, its style and its tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scalar {
    /// The value (escapes processed, block scalars folded).
    pub value: String,
    /// How it was written.
    pub style: Style,
    /// The tag, as `!!str` or `!custom`, when one was written.
    pub tag: Option<String>,
}

/// How a scalar was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// Plain (unquoted): its type is resolved from its text.
    Plain,
    /// `'single quoted'`.
    SingleQuoted,
    /// `"double quoted"`.
    DoubleQuoted,
    /// `|` block.
    Literal,
    /// `>` block.
    Folded,
}

/// A comment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comment {
    /// The text after `#`, untrimmed, without the line break.
    pub text: String,
    /// Byte span from `#` to the end of the line (exclusive of the line break).
    pub span: Range<usize>,
    /// Whether content precedes it on its line.
    pub inline: bool,
}

/// A parse failure, with the byte span it points at.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct YamlError {
    /// What is wrong (never contains file content beyond what the parser names).
    pub message: String,
    /// Where.
    pub span: Range<usize>,
}

/// Resolves YAML merge keys (`<<: *anchor`, `<<: [*a, *b]`) as go-yaml v3 does when decoding:
/// the entries of the merged mappings are added where the mapping does not set the key itself,
/// earlier mappings in a merge list winning over later ones; the merge entry itself goes. Applied
/// at every level; nesting is bounded by the parser's depth limit.
pub fn resolve_merge_keys(node: &Node) -> Node {
    let kind = match &node.kind {
        Kind::Scalar(_) => node.kind.clone(),
        Kind::Seq(items) => Kind::Seq(items.iter().map(resolve_merge_keys).collect()),
        Kind::Map(entries) => {
            let is_merge = |k: &Node| {
                k.scalar().is_some_and(|s| {
                    s.value == "<<"
                        && (s.tag.as_deref() == Some("!!merge")
                            || (s.style == Style::Plain && s.tag.is_none()))
                })
            };
            let mut out: Vec<(Node, Node)> = Vec::with_capacity(entries.len());
            for (k, v) in entries.iter().filter(|(k, _)| !is_merge(k)) {
                out.push((resolve_merge_keys(k), resolve_merge_keys(v)));
            }
            let has = |out: &[(Node, Node)], k: &Node| {
                out.iter().any(|(o, _)| match (o.as_str(), k.as_str()) {
                    (Some(a), Some(b)) => a == b,
                    _ => o.kind == k.kind,
                })
            };
            for (_, v) in entries.iter().filter(|(k, _)| is_merge(k)) {
                let sources: Vec<&Node> = match &v.kind {
                    Kind::Map(_) => vec![v],
                    Kind::Seq(items) => items.iter().filter(|i| i.as_map().is_some()).collect(),
                    Kind::Scalar(_) => Vec::new(),
                };
                for src in sources {
                    let src = resolve_merge_keys(src);
                    if let Kind::Map(src_entries) = src.kind {
                        for (k, v) in src_entries {
                            if !has(&out, &k) {
                                out.push((k, v));
                            }
                        }
                    }
                }
            }
            Kind::Map(out)
        }
    };
    Node { kind, span: node.span.clone() }
}

impl Node {
    /// The scalar, if this is one.
    pub fn scalar(&self) -> Option<&Scalar> {
        match &self.kind {
            Kind::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// The scalar's text, if this is a scalar.
    pub fn as_str(&self) -> Option<&str> {
        self.scalar().map(|s| s.value.as_str())
    }

    /// The entries, if this is a mapping.
    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            Kind::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The items, if this is a sequence.
    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            Kind::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// The value of the first entry whose key is the scalar `key`, in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.get_entry(key).map(|(_, v)| v)
    }

    /// The first entry whose key is the scalar `key`, in a mapping.
    pub fn get_entry(&self, key: &str) -> Option<&(Node, Node)> {
        self.as_map()?.iter().find(|(k, _)| k.as_str() == Some(key))
    }

    /// Whether this is a null: an empty plain scalar, `~`, `null`, `Null`, `NULL`, or `!!null`.
    pub fn is_null(&self) -> bool {
        match &self.kind {
            Kind::Scalar(s) => {
                s.tag.as_deref() == Some("!!null")
                    || (s.style == Style::Plain
                        && s.tag.is_none()
                        && matches!(s.value.as_str(), "" | "~" | "null" | "Null" | "NULL"))
            }
            _ => false,
        }
    }
}

/// Maps character indices (what the parser reports) to byte offsets.
struct Offsets<'a> {
    text: &'a str,
    /// Byte offset of every character, only built for non-ASCII text.
    table: Option<Vec<u32>>,
}

impl<'a> Offsets<'a> {
    fn new(text: &'a str) -> Offsets<'a> {
        let table = if text.is_ascii() {
            None
        } else {
            let mut t: Vec<u32> = text.char_indices().map(|(b, _)| b as u32).collect();
            t.push(text.len() as u32);
            Some(t)
        };
        Offsets { text, table }
    }

    fn byte(&self, char_index: usize) -> usize {
        match &self.table {
            None => char_index.min(self.text.len()),
            Some(t) => t.get(char_index).map(|&b| b as usize).unwrap_or(self.text.len()),
        }
    }

    fn range(&self, span: &Span) -> Range<usize> {
        let s = self.byte(span.start.index());
        let e = self.byte(span.end.index()).max(s);
        s..e
    }
}

enum Frame {
    Seq { anchor: usize, start: usize, items: Vec<Node> },
    Map { anchor: usize, start: usize, entries: Vec<(Node, Node)>, key: Option<Node> },
}

/// Parses a whole YAML stream (every document) with spans and comments.
pub fn parse(text: &str) -> Result<Stream, YamlError> {
    let offsets = Offsets::new(text);
    let mut parser = Parser::new_from_str(text);
    let mut documents = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, (Node, usize, usize)> = HashMap::new();
    let mut alias_budget = MAX_ALIAS_NODES;
    let mut alias_bytes = MAX_ALIAS_BYTES;
    let mut doc_start = 0usize;
    let mut doc_root: Option<Node> = None;
    let mut scalar_spans: Vec<Range<usize>> = Vec::new();

    for item in parser.by_ref() {
        let (event, span) = item.map_err(|e| {
            let at = offsets.byte(e.marker().index());
            YamlError { message: format!("invalid YAML: {}", e.info()), span: at..at }
        })?;
        let range = offsets.range(&span);
        // A finished node, to be attached to its parent.
        let finished: Option<(Node, usize)> = match event {
            Event::StreamStart | Event::StreamEnd | Event::Nothing => None,
            Event::DocumentStart(_) => {
                doc_start = range.start;
                doc_root = None;
                anchors.clear();
                None
            }
            Event::DocumentEnd => {
                let root = doc_root.take().unwrap_or(Node {
                    kind: Kind::Scalar(Scalar { value: String::new(), style: Style::Plain, tag: None }),
                    span: doc_start..doc_start,
                });
                let end = range.end.max(root.span.end);
                documents.push(Document { root, span: doc_start..end });
                None
            }
            Event::Alias(id) => {
                // The budget is checked before anything is copied.
                let (node, count, bytes) = anchors.get(&id).ok_or_else(|| YamlError {
                    message: "alias refers to an unknown anchor".into(),
                    span: range.clone(),
                })?;
                if *count > alias_budget {
                    return Err(YamlError {
                        message: format!(
                            "alias expansion exceeds {MAX_ALIAS_NODES} nodes (a \"billion laughs\" document?)"
                        ),
                        span: range,
                    });
                }
                if *bytes > alias_bytes {
                    return Err(YamlError {
                        message: format!(
                            "alias expansion exceeds {} MiB of copied values (an alias bomb?)",
                            MAX_ALIAS_BYTES >> 20
                        ),
                        span: range,
                    });
                }
                alias_budget -= count;
                alias_bytes -= bytes;
                Some((Node { kind: node.kind.clone(), span: range }, 0))
            }
            Event::Scalar(value, style, anchor, tag) => {
                let style = match style {
                    ScalarStyle::Plain => Style::Plain,
                    ScalarStyle::SingleQuoted => Style::SingleQuoted,
                    ScalarStyle::DoubleQuoted => Style::DoubleQuoted,
                    ScalarStyle::Literal => Style::Literal,
                    ScalarStyle::Folded => Style::Folded,
                };
                let tag = tag.map(|t| format!("{}{}", tag_handle(&t.handle), t.suffix));
                if style != Style::Plain || !range.is_empty() {
                    scalar_spans.push(range.clone());
                }
                let node = Node {
                    kind: Kind::Scalar(Scalar { value: value.into_owned(), style, tag }),
                    span: range,
                };
                Some((node, anchor))
            }
            Event::SequenceStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(too_deep(range));
                }
                stack.push(Frame::Seq { anchor, start: range.start, items: Vec::new() });
                None
            }
            Event::MappingStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(too_deep(range));
                }
                stack.push(Frame::Map { anchor, start: range.start, entries: Vec::new(), key: None });
                None
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq { anchor, start, items }) => {
                    let end = items.last().map_or(range.end, |n| n.span.end.max(range.end));
                    let end = if range.is_empty() { items.last().map_or(end, |n| n.span.end) } else { end };
                    Some((Node { kind: Kind::Seq(items), span: start..end.max(start) }, anchor))
                }
                _ => return Err(YamlError { message: "unbalanced sequence".into(), span: range }),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map { anchor, start, entries, .. }) => {
                    let last = entries.last().map(|(_, v)| v.span.end);
                    let end = if range.is_empty() { last.unwrap_or(range.end) } else { range.end };
                    Some((Node { kind: Kind::Map(entries), span: start..end.max(start) }, anchor))
                }
                _ => return Err(YamlError { message: "unbalanced mapping".into(), span: range }),
            },
        };
        if let Some((node, anchor)) = finished {
            if anchor != 0 {
                let (count, bytes) = weigh(&node);
                anchors.insert(anchor, (node.clone(), count, bytes));
            }
            match stack.last_mut() {
                Some(Frame::Seq { items, .. }) => items.push(node),
                Some(Frame::Map { entries, key, .. }) => match key.take() {
                    None => *key = Some(node),
                    Some(k) => entries.push((k, node)),
                },
                None => doc_root = Some(node),
            }
        }
    }
    scalar_spans.sort_by_key(|r| r.start);
    let comments = find_comments(text, &scalar_spans);
    Ok(Stream { documents, comments })
}

fn tag_handle(handle: &str) -> &str {
    if handle == "tag:yaml.org,2002:" {
        "!!"
    } else {
        handle
    }
}

fn too_deep(span: Range<usize>) -> YamlError {
    YamlError { message: format!("YAML nested deeper than {MAX_DEPTH} levels"), span }
}

/// Nodes and scalar bytes in a subtree (what an alias to it copies).
fn weigh(node: &Node) -> (usize, usize) {
    let mut count = 0usize;
    let mut bytes = 0usize;
    let mut todo = vec![node];
    while let Some(n) = todo.pop() {
        count += 1;
        match &n.kind {
            Kind::Scalar(s) => bytes += s.value.len() + s.tag.as_ref().map_or(0, String::len),
            Kind::Seq(items) => todo.extend(items.iter()),
            Kind::Map(entries) => {
                for (k, v) in entries {
                    todo.push(k);
                    todo.push(v);
                }
            }
        }
    }
    (count, bytes)
}

/// Finds comments: a `#` at the start of a line or after white space, outside every scalar.
fn find_comments(text: &str, scalar_spans: &[Range<usize>]) -> Vec<Comment> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut span_idx = 0usize;
    for pos in memchr::memchr_iter(b'#', bytes) {
        if pos > 0 && !matches!(bytes[pos - 1], b' ' | b'\t' | b'\n' | b'\r') {
            continue;
        }
        while span_idx < scalar_spans.len() && scalar_spans[span_idx].end <= pos {
            span_idx += 1;
        }
        // Spans may nest only trivially (they are scalars), but a later one can start earlier
        // than a long block scalar ends; check the few around.
        let inside = scalar_spans[span_idx..]
            .iter()
            .take_while(|r| r.start <= pos)
            .any(|r| r.start <= pos && pos < r.end);
        if inside {
            continue;
        }
        let line_start = bytes[..pos].iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
        let end = memchr::memchr(b'\n', &bytes[pos..]).map_or(bytes.len(), |e| pos + e);
        let end = if end > pos && bytes[end - 1] == b'\r' { end - 1 } else { end };
        let inline = bytes[line_start..pos].iter().any(|b| !matches!(b, b' ' | b'\t'));
        out.push(Comment { text: text[pos + 1..end].to_owned(), span: pos..end, inline });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_are_bytes_and_order_is_kept() {
        let text = "é: 1\nb: \"x\"\na: [1, 2]\n";
        let s = parse(text).unwrap();
        let root = &s.documents[0].root;
        let m = root.as_map().unwrap();
        assert_eq!(m[0].0.as_str(), Some("é"));
        assert_eq!(&text[m[1].0.span.clone()], "b");
        assert_eq!(&text[m[1].1.span.clone()], "\"x\"");
        assert_eq!(m[1].1.scalar().unwrap().style, Style::DoubleQuoted);
        assert_eq!(m[2].0.as_str(), Some("a"));
        assert_eq!(root.get("a").unwrap().as_seq().unwrap().len(), 2);
    }

    #[test]
    fn multi_document_and_comments() {
        let text = "# top\na: 1 # inline\n---\nb: '# not a comment'\n";
        let s = parse(text).unwrap();
        assert_eq!(s.documents.len(), 2);
        let texts: Vec<_> = s.comments.iter().map(|c| (c.text.as_str(), c.inline)).collect();
        assert_eq!(texts, vec![(" top", false), (" inline", true)]);
        assert_eq!(&text[s.comments[1].span.clone()], "# inline");
    }

    #[test]
    fn block_scalar_content_is_not_a_comment() {
        let text = "a: |\n  # inside\n  x\n# after\n";
        let s = parse(text).unwrap();
        let texts: Vec<_> = s.comments.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(texts, vec![" after"]);
    }

    #[test]
    fn empty_value_is_null() {
        let s = parse("a:\nb: ~\nc: ''\n").unwrap();
        let r = &s.documents[0].root;
        assert!(r.get("a").unwrap().is_null());
        assert!(r.get("b").unwrap().is_null());
        assert!(!r.get("c").unwrap().is_null());
    }

    #[test]
    fn billion_laughs_is_refused() {
        let mut text =
            String::from("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
        let names = ["b", "c", "d", "e", "f", "g", "h", "i"];
        let mut prev = "a";
        for n in names {
            text.push_str(&format!(
                "{n}: &{n} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"
            ));
            prev = n;
        }
        let err = parse(&text).unwrap_err();
        assert!(err.message.contains("alias expansion"), "{}", err.message);
    }

    #[test]
    fn deep_nesting_is_refused_without_overflow() {
        let text = "[".repeat(10_000) + &"]".repeat(10_000);
        let err = parse(&text).unwrap_err();
        assert!(
            err.message.contains("nested deeper") || err.message.contains("recursion limit"),
            "{}",
            err.message
        );
        let mut block = String::new();
        for i in 0..10_000 {
            block.push_str(&" ".repeat(i));
            block.push_str("a:\n");
        }
        assert!(parse(&block).is_err());
    }

    #[test]
    fn errors_have_spans() {
        let err = parse("a: [1, 2\nb: c").unwrap_err();
        assert!(err.message.starts_with("invalid YAML"));
    }
}
