//! The five sops stores, chosen by file name as sops does (`cmd/sops/formats`), and metadata
//! extraction (`stores/metadata.go:ExtractMetadata`, `stores/flatten.go`).

pub(crate) mod dotenv;
pub(crate) mod ini;
pub(crate) mod json;
pub(crate) mod yaml;

use std::collections::BTreeMap;

use super::tree::{Item, Node, Span, Tree, Value};
use super::value::Scalar;

/// Which store reads a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreKind {
    /// `.yaml`, `.yml`
    Yaml,
    /// `.json`
    Json,
    /// `.env`
    Dotenv,
    /// `.ini`
    Ini,
    /// anything else
    Binary,
}

impl StoreKind {
    /// Case-sensitive suffix match, like `formats.FormatForPath`.
    pub fn for_path(path: &str) -> StoreKind {
        if path.ends_with(".yaml") || path.ends_with(".yml") {
            StoreKind::Yaml
        } else if path.ends_with(".json") {
            StoreKind::Json
        } else if path.ends_with(".env") {
            StoreKind::Dotenv
        } else if path.ends_with(".ini") {
            StoreKind::Ini
        } else {
            StoreKind::Binary
        }
    }

    /// The lowercase name (`yaml`, `json`, `dotenv`, `ini`, `binary`).
    pub fn as_str(self) -> &'static str {
        match self {
            StoreKind::Yaml => "yaml",
            StoreKind::Json => "json",
            StoreKind::Dotenv => "dotenv",
            StoreKind::Ini => "ini",
            StoreKind::Binary => "binary",
        }
    }
}

/// A store could not read the file. The message never quotes file content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StoreError {
    pub message: String,
    pub span: Span,
}

/// A file read by its store, with the sops metadata taken out.
#[derive(Debug)]
pub(crate) struct Loaded {
    /// The data tree, metadata removed.
    pub tree: Tree,
    /// The metadata as a nested node (unflattened for INI and dotenv), if there is any.
    pub metadata: Option<MetaSource>,
    /// Why sops would refuse to read the file although this store did (JSON and binary: a
    /// byte-order mark, data after the top-level object).
    pub rejected: Option<StoreError>,
}

/// Where the metadata is and what it holds.
#[derive(Debug)]
pub(crate) struct MetaSource {
    pub node: Node,
    /// The span of the `sops` key (or the first `sops_` line / `[sops]` header).
    pub key_span: Span,
    /// A structural problem found while extracting it (duplicate, not a mapping, flattening).
    pub problem: Option<StoreError>,
}

/// Parses a file with its store. For the binary store, a JSON object with a `sops` key is the
/// encrypted form; anything else is plain bytes under the key `data`.
pub(crate) fn load(kind: StoreKind, data: &[u8]) -> Result<Loaded, StoreError> {
    let (tree, rejected) = match kind {
        StoreKind::Yaml => yaml::parse_with_problem(data)?,
        StoreKind::Json => json::parse_with_problem(data)?,
        StoreKind::Dotenv => (dotenv::parse(data)?, None),
        StoreKind::Ini => (ini::parse(data)?, None),
        StoreKind::Binary => match json::parse_with_problem(data) {
            Ok((t, p))
                if t.branches[0].iter().any(|i| matches!(i, Item::Pair { key, .. } if key == "sops")) =>
            {
                (t, p)
            }
            _ => (plain_binary(data), None),
        },
    };
    let mut loaded = extract_metadata(kind, tree);
    loaded.rejected = rejected;
    Ok(loaded)
}

/// The plain binary tree: the whole file under `data`.
pub(crate) fn plain_binary(data: &[u8]) -> Tree {
    Tree {
        branches: vec![vec![Item::Pair {
            key: "data".to_owned(),
            key_span: 0..0,
            value: Node { value: Value::Scalar(Scalar::Str(data.to_vec())), span: 0..data.len() },
        }]],
    }
}

fn extract_metadata(kind: StoreKind, mut tree: Tree) -> Loaded {
    match kind {
        StoreKind::Yaml | StoreKind::Json | StoreKind::Binary => {
            let mut found: Option<MetaSource> = None;
            for (bi, branch) in tree.branches.iter_mut().enumerate() {
                let mut kept = Vec::with_capacity(branch.len());
                for item in std::mem::take(branch) {
                    match item {
                        Item::Pair { key, key_span, value } if key == "sops" => {
                            if bi != 0 {
                                continue;
                            }
                            match &mut found {
                                Some(m) => {
                                    m.problem.get_or_insert(StoreError {
                                        message: "found a duplicate sops entry".to_owned(),
                                        span: key_span,
                                    });
                                }
                                None => {
                                    let problem =
                                        (!matches!(value.value, Value::Map(_))).then(|| StoreError {
                                            message: "found a sops entry that is not a mapping".to_owned(),
                                            span: value.span.clone(),
                                        });
                                    found = Some(MetaSource { node: value, key_span, problem });
                                }
                            }
                        }
                        other => kept.push(other),
                    }
                }
                *branch = kept;
            }
            Loaded { tree, metadata: found, rejected: None }
        }
        StoreKind::Dotenv => {
            let mut flat = Vec::new();
            let mut first_span: Option<Span> = None;
            if let Some(branch) = tree.branches.first_mut() {
                let mut kept = Vec::with_capacity(branch.len());
                for item in std::mem::take(branch) {
                    match item {
                        Item::Pair { key, key_span, value } if key.starts_with("sops_") => {
                            first_span.get_or_insert(key_span.clone());
                            flat.push((key["sops_".len()..].to_owned(), value));
                        }
                        other => kept.push(other),
                    }
                }
                *branch = kept;
            }
            let metadata = first_span.map(|key_span| unflatten_source(flat, key_span));
            Loaded { tree, metadata, rejected: None }
        }
        StoreKind::Ini => {
            let mut found: Option<MetaSource> = None;
            if let Some(branch) = tree.branches.first_mut() {
                let mut kept = Vec::with_capacity(branch.len());
                for item in std::mem::take(branch) {
                    match item {
                        Item::Pair { key, key_span, value } if key == "sops" => match &mut found {
                            Some(m) => {
                                m.problem.get_or_insert(StoreError {
                                    message: "found a duplicate sops entry".to_owned(),
                                    span: key_span,
                                });
                            }
                            None => {
                                let mut flat = Vec::new();
                                if let Value::Map(items) = value.value {
                                    for it in items {
                                        if let Item::Pair { key, value: mut v, .. } = it {
                                            if let Value::Scalar(Scalar::Str(s)) = &mut v.value {
                                                *s = dotenv::unescape_newlines(s);
                                            }
                                            flat.push((key, v));
                                        }
                                    }
                                }
                                found = Some(unflatten_source(flat, key_span));
                            }
                        },
                        other => kept.push(other),
                    }
                }
                *branch = kept;
            }
            Loaded { tree, metadata: found, rejected: None }
        }
    }
}

fn unflatten_source(flat: Vec<(String, Node)>, key_span: Span) -> MetaSource {
    let span = key_span.clone();
    match unflatten(flat) {
        Ok(node) => MetaSource { node, key_span, problem: None },
        Err(message) => MetaSource {
            node: Node { value: Value::Map(Vec::new()), span: span.clone() },
            key_span,
            problem: Some(StoreError { message, span }),
        },
    }
}

#[derive(Default)]
struct Flat {
    value: Option<Node>,
    subkeys: BTreeMap<String, Flat>,
    indices: BTreeMap<usize, Flat>,
}

enum Token {
    Map(String),
    List(usize),
}

/// `stores/flatten.go:tokenize`.
fn tokenize(path: &str) -> Vec<Token> {
    const MAP: &str = "__map_";
    const LIST: &str = "__list_";
    let mut tokens = Vec::new();
    let mut state = 0; // 0 normal, 1 map, 2 list
    let mut last = 0;
    let mut i = 0;
    let finish = |state: i32, last: usize, i: usize, tokens: &mut Vec<Token>| {
        tokens.push(match state {
            0 => Token::Map(path[last..i].to_owned()),
            1 => Token::Map(path[last + MAP.len()..i].to_owned()),
            _ => Token::List(path[last + LIST.len()..i].parse().unwrap_or(0)),
        });
    };
    while i < path.len() {
        if path[i..].starts_with(MAP) {
            finish(state, last, i, &mut tokens);
            last = i;
            state = 1;
            i += MAP.len();
        } else if path[i..].starts_with(LIST) {
            finish(state, last, i, &mut tokens);
            last = i;
            state = 2;
            i += LIST.len();
        } else {
            i += path[i..].chars().next().map_or(1, char::len_utf8);
        }
    }
    finish(state, last, i, &mut tokens);
    tokens
}

fn unflatten(flat: Vec<(String, Node)>) -> Result<Node, String> {
    let mut root = Flat::default();
    for (key, value) in flat {
        let mut cur = &mut root;
        for t in tokenize(&key) {
            cur = match t {
                Token::Map(k) => cur.subkeys.entry(k).or_default(),
                Token::List(n) => cur.indices.entry(n).or_default(),
            };
        }
        if cur.value.is_some() {
            return Err("duplicate flattened metadata key".to_owned());
        }
        cur.value = Some(value);
    }
    convert(root, 0)
}

fn convert(f: Flat, depth: usize) -> Result<Node, String> {
    if depth > 32 {
        return Err("flattened metadata nested too deep".to_owned());
    }
    let kinds = usize::from(f.value.is_some())
        + usize::from(!f.subkeys.is_empty())
        + usize::from(!f.indices.is_empty());
    if kinds > 1 {
        return Err("type mismatch in flattened metadata".to_owned());
    }
    if let Some(v) = f.value {
        return Ok(v);
    }
    let mut span: Option<Span> = None;
    let mut widen = |s: &Span| {
        span = Some(match &span {
            Some(x) => x.start.min(s.start)..x.end.max(s.end),
            None => s.clone(),
        });
    };
    if !f.indices.is_empty() {
        let n = f.indices.len();
        if f.indices.keys().next() != Some(&0) || f.indices.keys().next_back() != Some(&(n - 1)) {
            return Err("incomplete list in flattened metadata".to_owned());
        }
        let mut items = Vec::with_capacity(n);
        for (_, sub) in f.indices {
            let node = convert(sub, depth + 1)?;
            widen(&node.span);
            items.push(Item::Elem(node));
        }
        return Ok(Node { value: Value::List(items), span: span.unwrap_or(0..0) });
    }
    let mut items = Vec::with_capacity(f.subkeys.len());
    for (k, sub) in f.subkeys {
        let node = convert(sub, depth + 1)?;
        widen(&node.span);
        items.push(Item::Pair { key: k, key_span: node.span.clone(), value: node });
    }
    Ok(Node { value: Value::Map(items), span: span.unwrap_or(0..0) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_by_name() {
        assert_eq!(StoreKind::for_path("a/b.yaml"), StoreKind::Yaml);
        assert_eq!(StoreKind::for_path("a/b.YAML"), StoreKind::Binary);
        assert_eq!(StoreKind::for_path("x.enc.env"), StoreKind::Dotenv);
        assert_eq!(StoreKind::for_path("x.ini"), StoreKind::Ini);
        assert_eq!(StoreKind::for_path("x.txt"), StoreKind::Binary);
    }

    #[test]
    fn dotenv_metadata_unflattens() {
        let src = b"A=1\nsops_age__list_0__map_recipient=age1x\nsops_age__list_0__map_enc=e\\nf\nsops_version=3.9.0\n";
        let l = load(StoreKind::Dotenv, src).unwrap();
        assert_eq!(l.tree.branches[0].len(), 1);
        let m = l.metadata.unwrap();
        assert!(m.problem.is_none());
        let Value::Map(items) = &m.node.value else { panic!() };
        let keys: Vec<&str> = items
            .iter()
            .filter_map(|i| if let Item::Pair { key, .. } = i { Some(key.as_str()) } else { None })
            .collect();
        assert_eq!(keys, ["age", "version"]);
        let bad = load(StoreKind::Dotenv, b"sops_age__list_1__map_enc=x\n").unwrap();
        assert!(bad.metadata.unwrap().problem.is_some());
    }

    #[test]
    fn binary_envelope() {
        let l = load(StoreKind::Binary, b"{\"data\": \"x\", \"sops\": {}}").unwrap();
        assert!(l.metadata.is_some());
        let l = load(StoreKind::Binary, b"{\"data\": \"x\"}").unwrap();
        assert!(l.metadata.is_none());
        assert_eq!(l.tree.branches[0].len(), 1);
    }
}
