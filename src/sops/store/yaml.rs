//! The YAML store (`stores/yaml/store.go`, yaml.v3): every document must be a mapping (an empty
//! document is an empty branch), plain scalars are typed the way yaml.v3 resolves them into
//! `interface{}`, keys must resolve to strings, and document 0 may not repeat a key.
//!
//! Comments are placed the way yaml.v3 attaches them, closely enough for the comment-regex rules:
//! an inline comment goes right before the entry it follows; a comment line goes into the innermost
//! block container whose entries sit at the comment's indentation, before the next entry there
//! (or at its end).

use std::collections::HashSet;

use base64::Engine;

use super::StoreError;
use crate::sops::tree::{Item, Node, Tree, Value};
use crate::sops::value::{self, Scalar};
use crate::yaml;

/// Parses YAML text into a tree (one branch per document).
#[cfg(test)]
pub(crate) fn parse(data: &[u8]) -> Result<Tree, StoreError> {
    parse_with_problem(data).map(|(t, _)| t)
}

/// [`parse`], also returning a tab that yaml.v3 rejects although the YAML 1.2 parser read past it
/// (see [`tab_yaml_v3_rejects`]).
pub(crate) fn parse_with_problem(data: &[u8]) -> Result<(Tree, Option<StoreError>), StoreError> {
    let text = std::str::from_utf8(data).map_err(|e| StoreError {
        message: "YAML file is not valid UTF-8".to_owned(),
        span: e.valid_up_to()..e.valid_up_to() + 1,
    })?;
    let stream = yaml::parse(text).map_err(|e| StoreError { message: e.message, span: e.span })?;
    let problem = tab_yaml_v3_rejects(text, &stream).map(|at| StoreError {
        message: "a tab where yaml.v3 expects indentation, which sops rejects (\"found character that cannot start any token\")".to_owned(),
        span: at..at + 1,
    });
    Ok((tree_of(text, &stream)?, problem))
}

/// A tab in the leading white space of a line that yaml.v3 (libyaml's scanner) refuses: outside
/// quoted and block scalars and flow collections, a tab preceded on its line only by `c` spaces
/// is an error when `c` is at most the indentation of the block it follows (checked against the
/// sops 3.11.0 binary: `a: b` then ` \t` is read, `a:` / `    b: c` then `  \t` or `    \t` is
/// not, nor is a tab in column 0). The indentation is taken from the last content line.
fn tab_yaml_v3_rejects(text: &str, stream: &yaml::Stream) -> Option<usize> {
    if !text.contains('\t') {
        return None;
    }
    fn exempt(n: &yaml::Node, text: &str, out: &mut Vec<std::ops::Range<usize>>, depth: usize) {
        if depth > crate::sops::tree::MAX_DEPTH {
            return;
        }
        match &n.kind {
            yaml::Kind::Scalar(s) if s.style != yaml::Style::Plain => out.push(n.span.clone()),
            yaml::Kind::Scalar(_) => {}
            yaml::Kind::Seq(_) | yaml::Kind::Map(_)
                if matches!(text.as_bytes().get(n.span.start), Some(b'{' | b'[')) =>
            {
                out.push(n.span.clone())
            }
            yaml::Kind::Seq(items) => items.iter().for_each(|i| exempt(i, text, out, depth + 1)),
            yaml::Kind::Map(entries) => entries.iter().for_each(|(k, v)| {
                exempt(k, text, out, depth + 1);
                exempt(v, text, out, depth + 1);
            }),
        }
    }
    let mut found = Vec::new();
    for d in &stream.documents {
        exempt(&d.root, text, &mut found, 0);
    }
    // Disjoint and sorted, so that one sweep over the lines tests them all (linear in the file).
    found.sort_by_key(|r| r.start);
    let mut ranges: Vec<std::ops::Range<usize>> = Vec::with_capacity(found.len());
    for r in found {
        match ranges.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => ranges.push(r),
        }
    }
    let mut next = 0usize;
    let mut indent = 0usize;
    let mut off = 0usize;
    for line in text.split('\n') {
        let start = off;
        off += line.len() + 1;
        while next < ranges.len() && ranges[next].end <= start {
            next += 1;
        }
        if ranges.get(next).is_some_and(|r| r.start < start) {
            continue;
        }
        let spaces = line.bytes().take_while(|b| *b == b' ').count();
        if line.as_bytes().get(spaces) == Some(&b'\t') {
            if spaces <= indent {
                return Some(start + spaces);
            }
            continue;
        }
        let rest = line[spaces..].trim_end_matches('\r');
        if !rest.is_empty() && !rest.starts_with('#') {
            indent = spaces;
        }
    }
    None
}

fn tree_of(text: &str, stream: &yaml::Stream) -> Result<Tree, StoreError> {
    let lines = LineIndex::new(text);
    let mut branches = Vec::with_capacity(stream.documents.len());
    // Assign each comment to a document: the last one starting at or before it.
    let doc_starts: Vec<usize> = stream.documents.iter().map(|d| d.span.start).collect();
    let mut per_doc: Vec<Vec<&yaml::Comment>> = vec![Vec::new(); stream.documents.len()];
    for c in &stream.comments {
        if per_doc.is_empty() {
            break;
        }
        let k = doc_starts.iter().rposition(|s| *s <= c.span.start).unwrap_or(0);
        per_doc[k].push(c);
    }
    for (k, doc) in stream.documents.iter().enumerate() {
        let root = &doc.root;
        let items = match &root.kind {
            yaml::Kind::Map(entries) => {
                if k == 0 {
                    check_duplicates(entries)?;
                }
                let mut comments = per_doc[k].iter().copied().peekable();
                let mut items = convert_map(entries, &mut comments, &lines, 0, usize::MAX)?;
                // Whatever is left (document foot comments) goes at the end.
                items.extend(comments.map(comment_item));
                items
            }
            yaml::Kind::Scalar(_) if root.is_null() => per_doc[k].iter().map(|c| comment_item(c)).collect(),
            _ => {
                return Err(StoreError {
                    message: "a YAML document must be a mapping".to_owned(),
                    span: root.span.clone(),
                })
            }
        };
        branches.push(items);
    }
    Ok(Tree { branches })
}

#[cfg(test)]
mod tab_tests {
    use super::*;

    #[test]
    fn tabs_as_yaml_v3_reads_them() {
        // Each as the sops 3.11.0 binary decided it.
        let rejected = |t: &str| parse_with_problem(t.as_bytes()).unwrap().1.is_some();
        // yaml.v3 also reads these, which the YAML 1.2 parser refuses (README, "Differences from
        // sops"): sops never writes a tab there.
        assert!(parse_with_problem(b"a:\tb\n").is_err());
        assert!(parse_with_problem(b"a: \"x\n\ty\"\n").is_err());
        for ok in [
            "a: b\n \t\n",
            "a: b\n  \t  \n",
            "a:\n    b: c\n     \t\n",
            "a: |\n  x\n  \ty\n",
            "a: [1,\n\t2]\n",
            "a: b\t# c\n",
        ] {
            assert!(!rejected(ok), "{ok:?}");
        }
        for bad in [
            "a: b\n\t\nc: d\n",
            "a:\n  b: c\n\t\n",
            "\t# c\na: b\n",
            "a: b\nc: d\n\t",
            "a:\n    b: c\n \t\n",
            "a:\n    b: c\n    \t\n",
            "a:\n  b: c\n  \t# x\n",
        ] {
            assert!(rejected(bad), "{bad:?}");
        }
    }
}

fn check_duplicates(entries: &[(yaml::Node, yaml::Node)]) -> Result<(), StoreError> {
    let mut seen = HashSet::new();
    for (k, _) in entries {
        if let Some(s) = k.as_str() {
            if !seen.insert(s) {
                return Err(StoreError {
                    message: "mapping key is already defined".to_owned(),
                    span: k.span.clone(),
                });
            }
        }
    }
    Ok(())
}

/// Line starts, to turn offsets into (line, column).
pub(crate) struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub(crate) fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(text.bytes().enumerate().filter(|(_, b)| *b == b'\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }
    pub(crate) fn line(&self, off: usize) -> usize {
        self.starts.partition_point(|s| *s <= off).saturating_sub(1)
    }
    pub(crate) fn col(&self, off: usize) -> usize {
        off - self.starts[self.line(off)]
    }
}

type Comments<'a, 'c> = std::iter::Peekable<std::iter::Copied<std::slice::Iter<'a, &'c yaml::Comment>>>;

fn comment_item(c: &yaml::Comment) -> Item {
    Item::Comment { text: c.text.clone(), span: c.span.clone() }
}

/// The column at which the entries of a block collection start, if `node` is one.
fn entries_col(node: &yaml::Node, lines: &LineIndex) -> Option<usize> {
    match &node.kind {
        yaml::Kind::Map(e) => e.first().map(|(k, _)| lines.col(k.span.start)),
        yaml::Kind::Seq(items) => items.first().map(|n| lines.col(n.span.start).saturating_sub(2)),
        yaml::Kind::Scalar(_) => None,
    }
}

/// Takes the comments before `before` (head comments of the next entry).
fn take_before(comments: &mut Comments<'_, '_>, before: usize, items: &mut Vec<Item>) {
    while let Some(c) = comments.peek().copied() {
        if c.span.start >= before {
            break;
        }
        comments.next();
        items.push(comment_item(c));
    }
}

/// Takes inline comments on `line` (before `limit`): `key: value # c` goes before the pair.
fn take_inline(
    comments: &mut Comments<'_, '_>,
    line: usize,
    limit: usize,
    lines: &LineIndex,
    items: &mut Vec<Item>,
) {
    while let Some(c) = comments.peek().copied() {
        if c.inline && c.span.start < limit && lines.line(c.span.start) == line {
            comments.next();
            items.push(comment_item(c));
        } else {
            break;
        }
    }
}

fn convert_map(
    entries: &[(yaml::Node, yaml::Node)],
    comments: &mut Comments<'_, '_>,
    lines: &LineIndex,
    depth: usize,
    limit: usize,
) -> Result<Vec<Item>, StoreError> {
    let mut items = Vec::with_capacity(entries.len() * 2);
    for (i, (k, v)) in entries.iter().enumerate() {
        let key = key_string(k)?;
        let next = entries.get(i + 1).map_or(limit, |(nk, _)| nk.span.start);
        take_before(comments, k.span.start, &mut items);
        let mut pre = Vec::new();
        take_inline(comments, lines.line(k.span.start), next, lines, &mut pre);
        if matches!(v.kind, yaml::Kind::Scalar(_)) {
            let end_line = lines.line(v.span.end.saturating_sub(1).max(v.span.start));
            take_inline(comments, end_line, next, lines, &mut pre);
        }
        items.extend(pre);
        let value = convert_value(v, comments, lines, depth + 1, next)?;
        items.push(Item::Pair { key, key_span: k.span.clone(), value });
    }
    Ok(items)
}

fn convert_seq(
    nodes: &[yaml::Node],
    comments: &mut Comments<'_, '_>,
    lines: &LineIndex,
    depth: usize,
    limit: usize,
) -> Result<Vec<Item>, StoreError> {
    let mut items = Vec::with_capacity(nodes.len());
    for (i, n) in nodes.iter().enumerate() {
        let next = nodes.get(i + 1).map_or(limit, |nn| nn.span.start);
        take_before(comments, n.span.start, &mut items);
        if matches!(n.kind, yaml::Kind::Scalar(_)) {
            let end_line = lines.line(n.span.end.saturating_sub(1).max(n.span.start));
            take_inline(comments, end_line, next, lines, &mut items);
        }
        let value = convert_value(n, comments, lines, depth + 1, next)?;
        items.push(Item::Elem(value));
    }
    Ok(items)
}

/// Converts a value node; for collections, comments inside its extent (and trailing comments at
/// its indentation, before `limit`) are placed inside it.
fn convert_value(
    v: &yaml::Node,
    comments: &mut Comments<'_, '_>,
    lines: &LineIndex,
    depth: usize,
    limit: usize,
) -> Result<Node, StoreError> {
    if depth > crate::sops::tree::MAX_DEPTH {
        return Err(StoreError { message: "YAML nesting too deep".to_owned(), span: v.span.clone() });
    }
    let value = match &v.kind {
        yaml::Kind::Scalar(s) => Value::Scalar(resolve(s, v)?),
        yaml::Kind::Map(entries) => {
            let mut items = convert_map(entries, comments, lines, depth, limit)?;
            take_trailing(v, comments, lines, limit, &mut items);
            Value::Map(items)
        }
        yaml::Kind::Seq(nodes) => {
            let mut items = convert_seq(nodes, comments, lines, depth, limit)?;
            take_trailing(v, comments, lines, limit, &mut items);
            Value::List(items)
        }
    };
    Ok(Node { value, span: v.span.clone() })
}

/// Comments after a collection's last entry that sit at (or right of) its entries' column, before
/// the next entry of an enclosing container, belong at the end of that collection.
fn take_trailing(
    v: &yaml::Node,
    comments: &mut Comments<'_, '_>,
    lines: &LineIndex,
    limit: usize,
    items: &mut Vec<Item>,
) {
    let Some(col) = entries_col(v, lines) else { return };
    while let Some(c) = comments.peek().copied() {
        let inside = c.span.start < v.span.end;
        let trailing = !c.inline && c.span.start < limit && lines.col(c.span.start) >= col;
        if inside || trailing {
            comments.next();
            items.push(comment_item(c));
        } else {
            break;
        }
    }
}

fn key_string(k: &yaml::Node) -> Result<String, StoreError> {
    let bad = || StoreError {
        message: "Tree contains a non-string key; only string keys are supported".to_owned(),
        span: k.span.clone(),
    };
    match &k.kind {
        yaml::Kind::Scalar(s) => match resolve(s, k)? {
            Scalar::Str(b) => String::from_utf8(b).map_err(|_| bad()),
            _ => Err(bad()),
        },
        _ => Err(bad()),
    }
}

fn bad_tag(node: &yaml::Node, tag: &str) -> StoreError {
    StoreError { message: format!("cannot decode the scalar as {tag}"), span: node.span.clone() }
}

/// yaml.v3 `resolve` + decoding into `interface{}`.
pub(crate) fn resolve(s: &yaml::Scalar, node: &yaml::Node) -> Result<Scalar, StoreError> {
    let text = s.value.as_str();
    match s.tag.as_deref() {
        None | Some("!") => {}
        Some("!!str") => return Ok(Scalar::Str(text.as_bytes().to_vec())),
        Some("!!binary") => {
            let cleaned: String = text.chars().filter(|c| !c.is_whitespace()).collect();
            return base64::engine::general_purpose::STANDARD
                .decode(cleaned)
                .map(Scalar::Str)
                .map_err(|_| bad_tag(node, "!!binary"));
        }
        Some("!!null") => return Ok(Scalar::Null),
        Some(t @ ("!!int" | "!!float" | "!!bool" | "!!timestamp")) => {
            let r = resolve_plain(text);
            return match (t, r) {
                ("!!int", Scalar::Int(i)) => Ok(Scalar::Int(i)),
                ("!!float", Scalar::Int(i)) => Ok(Scalar::Float(i as f64)),
                ("!!float", Scalar::Float(f)) => Ok(Scalar::Float(f)),
                ("!!bool", Scalar::Bool(b)) => Ok(Scalar::Bool(b)),
                ("!!timestamp", Scalar::Time(t)) => Ok(Scalar::Time(t)),
                _ => Err(bad_tag(node, t)),
            };
        }
        // Any other tag: the raw string.
        Some(_) => return Ok(Scalar::Str(text.as_bytes().to_vec())),
    }
    if s.style != yaml::Style::Plain {
        return Ok(Scalar::Str(text.as_bytes().to_vec()));
    }
    let r = resolve_plain(text);
    if matches!(r, Scalar::Str(_)) && is_uint_overflow(text) {
        return Err(StoreError {
            message: "an unsigned integer beyond the int64 range cannot be handled by sops".to_owned(),
            span: node.span.clone(),
        });
    }
    Ok(r)
}

/// The type yaml.v3 gives a plain, untagged scalar. Unsigned values beyond `i64` (which sops
/// cannot walk) come back as strings here and are rejected by [`check_uint`].
pub(crate) fn resolve_plain(text: &str) -> Scalar {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Scalar::Null,
        "true" | "True" | "TRUE" => return Scalar::Bool(true),
        "false" | "False" | "FALSE" => return Scalar::Bool(false),
        ".nan" | ".NaN" | ".NAN" => return Scalar::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Scalar::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Scalar::Float(f64::NEG_INFINITY),
        _ => {}
    }
    let str_ = || Scalar::Str(text.as_bytes().to_vec());
    let first = text.as_bytes()[0];
    if first == b'.' {
        return match value::parse_go_float(text) {
            Some(f) => Scalar::Float(f),
            None => str_(),
        };
    }
    if !(first.is_ascii_digit() || first == b'-' || first == b'+') {
        return str_();
    }
    if let Some(t) = value::parse_yaml_timestamp(text) {
        return Scalar::Time(t.marshal_text());
    }
    let plain: String = text.chars().filter(|c| *c != '_').collect();
    if let Some(i) = go_parse_int_base0(&plain) {
        return Scalar::Int(i);
    }
    if is_yaml_float(&plain) {
        if let Some(f) = value::parse_go_float(&plain) {
            return Scalar::Float(f);
        }
    }
    str_()
}

/// Whether a plain scalar resolves to a `uint64` beyond `i64`, which sops cannot walk.
pub(crate) fn is_uint_overflow(text: &str) -> bool {
    let plain: String = text.chars().filter(|c| *c != '_').collect();
    go_parse_int_base0(&plain).is_none() && !plain.starts_with('-') && go_parse_uint_base0(&plain).is_some()
}

fn split_base(s: &str) -> (u32, &str) {
    let lower = |p: &str| s.len() > 2 && s.as_bytes()[..2].eq_ignore_ascii_case(p.as_bytes());
    if lower("0x") {
        (16, &s[2..])
    } else if lower("0o") {
        (8, &s[2..])
    } else if lower("0b") {
        (2, &s[2..])
    } else if s.len() > 1 && s.starts_with('0') {
        (8, &s[1..])
    } else {
        (10, s)
    }
}

fn go_parse_uint_base0(s: &str) -> Option<u64> {
    let (base, digits) = split_base(s);
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(base)) {
        return None;
    }
    u64::from_str_radix(digits, base).ok()
}

/// Go `strconv.ParseInt(s, 0, 64)` (underscores already removed).
fn go_parse_int_base0(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let u = go_parse_uint_base0(body)?;
    if neg {
        if u <= i64::MAX as u64 + 1 {
            Some((u as i128).wrapping_neg() as i64)
        } else {
            None
        }
    } else {
        i64::try_from(u).ok()
    }
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn is_yaml_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'-' | b'+')) {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let s = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - s
    };
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(s: &Scalar) -> String {
        String::from_utf8(s.to_bytes()).unwrap()
    }

    #[test]
    fn yaml_v3_typing() {
        let cases = [
            ("true", "True"),
            ("yes", "yes"),
            ("1e+21", "1000000000000000000000"),
            ("0x1F", "31"),
            ("0777", "511"),
            ("08", "8"),
            ("1_000", "1000"),
            ("1.", "1"),
            ("1.0", "1"),
            (".5", "0.5"),
            ("2024-01-01", "2024-01-01T00:00:00Z"),
            ("2001-12-14 21:59:43.10", "2001-12-14T21:59:43.1Z"),
            ("0b101", "5"),
            ("-0o17", "-15"),
            ("inf", "inf"),
            ("0x1p-2", "0x1p-2"),
            ("1e5x", "1e5x"),
            (".inf", "+Inf"),
            ("-1", "-1"),
            ("+5", "5"),
            ("3.7.3", "3.7.3"),
        ];
        for (input, want) in cases {
            assert_eq!(bytes(&resolve_plain(input)), want, "{input}");
        }
        assert!(matches!(resolve_plain("~"), Scalar::Null));
        assert!(is_uint_overflow("18446744073709551615"));
        // found by fuzzing: a multi-byte character right after a leading digit
        assert!(matches!(resolve_plain("0é"), Scalar::Str(_)));
        assert!(!is_uint_overflow("0é1"));
        assert!(!is_uint_overflow("5"));
    }

    #[test]
    fn tree_with_comments() {
        let src = "# top\na: 1 # inline\nb:\n    # head of c\n    c: x\n    # foot of b\nd: [1, 2]\n";
        let t = parse(src.as_bytes()).unwrap();
        let b = &t.branches[0];
        let kinds: Vec<String> = b
            .iter()
            .map(|i| match i {
                Item::Comment { text, .. } => format!("#{text}"),
                Item::Pair { key, value, .. } => match &value.value {
                    Value::Map(inner) => format!(
                        "{key}{{{}}}",
                        inner
                            .iter()
                            .map(|i| match i {
                                Item::Comment { text, .. } => format!("#{text}"),
                                Item::Pair { key, .. } => key.clone(),
                                Item::Elem(_) => "-".into(),
                            })
                            .collect::<Vec<_>>()
                            .join(",")
                    ),
                    _ => key.clone(),
                },
                Item::Elem(_) => "-".into(),
            })
            .collect();
        assert_eq!(kinds, ["# top", "# inline", "a", "b{# head of c,c,# foot of b}", "d"]);
    }

    #[test]
    fn rejects() {
        assert!(parse(b"- a\n").is_err());
        assert!(parse(b"a: 1\na: 2\n").is_err());
        assert!(parse(b"a: 1\n---\na: 1\na: 2\n").is_ok());
        assert!(parse(b"1: x\n").is_err());
        assert!(parse(b"---\n").unwrap().branches[0].is_empty());
    }
}

#[cfg(test)]
mod sops_golden {
    //! Comment placement against sops' own golden data (`stores/yaml/store_test.go`).
    use super::*;

    fn render(items: &[Item]) -> String {
        items
            .iter()
            .map(|i| match i {
                Item::Comment { text, .. } => format!("#{text}"),
                Item::Pair { key, value, .. } => format!("{key}={}", render_node(value)),
                Item::Elem(n) => render_node(n),
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    fn render_node(n: &Node) -> String {
        match &n.value {
            Value::Scalar(Scalar::Null) => "null".into(),
            Value::Scalar(s) => String::from_utf8_lossy(&s.to_bytes()).into_owned(),
            Value::Map(m) => format!("{{{}}}", render(m)),
            Value::List(l) => format!("[{}]", render(l)),
        }
    }

    fn doc0(src: &str) -> String {
        render(&parse(src.as_bytes()).unwrap().branches[0])
    }

    #[test]
    fn comment_placement_matches_sops() {
        assert_eq!(doc0("# test\na:\n    b: null\n    # foo\n"), "# test,a={b=null,# foo}");
        assert_eq!(doc0("a:\n    # foo\n    b: null\n"), "a={# foo,b=null}");
        assert_eq!(
            doc0("## Config\n##\npne:\n  podLabels:\n    ## Add\n    ##\n\n    jobLabel: ne\n  extraArgs:\n    - --x\n    - --y\n"),
            "## Config,##,pne={podLabels={## Add,##,jobLabel=ne},extraArgs=[--x,--y]}"
        );
        assert_eq!(
            doc0("a:\n    - a\n    # I no longer get duplicated\n    - {}\n"),
            "a=[a,# I no longer get duplicated,{}]"
        );
        assert_eq!(
            doc0("a:\n    b:\n        c: d\n    # comment\n\ne:\n    - f\n"),
            "a={b={c=d},# comment},e=[f]"
        );
    }
}
