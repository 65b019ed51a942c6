//! The dotenv store (`stores/dotenv/store.go`): split on `\n` only, skip empty lines, `#` in the
//! first byte starts a comment, the first `=` splits key and value, nothing is trimmed or unquoted,
//! and `\n` escapes in values become newlines. Every value is a string.

use super::StoreError;
use crate::sops::tree::{Item, Node, Tree, Value};
use crate::sops::value::Scalar;

/// Parses a dotenv file into a one-branch tree. Keys keep their exact bytes (lossily decoded).
pub(crate) fn parse(data: &[u8]) -> Result<Tree, StoreError> {
    let mut items = Vec::new();
    let mut off = 0usize;
    for line in data.split(|b| *b == b'\n') {
        let start = off;
        off += line.len() + 1;
        if line.is_empty() {
            continue;
        }
        let end = start + line.len();
        if line[0] == b'#' {
            items.push(Item::Comment {
                text: String::from_utf8_lossy(&line[1..]).into_owned(),
                span: start..end,
            });
            continue;
        }
        let Some(eq) = line.iter().position(|b| *b == b'=') else {
            return Err(StoreError {
                message: "invalid dotenv input line (no '=')".to_owned(),
                span: start..end,
            });
        };
        let key = String::from_utf8_lossy(&line[..eq]).into_owned();
        let raw = &line[eq + 1..];
        let value = unescape_newlines(raw);
        items.push(Item::Pair {
            key,
            key_span: start..start + eq,
            value: Node { value: Value::Scalar(Scalar::Str(value)), span: start + eq + 1..end },
        });
    }
    Ok(Tree { branches: vec![items] })
}

/// `strings.Replace(v, "\\n", "\n", -1)`.
pub(crate) fn unescape_newlines(raw: &[u8]) -> Vec<u8> {
    if memchr::memmem::find(raw, b"\\n").is_none() {
        return raw.to_vec();
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\\' && raw.get(i + 1) == Some(&b'n') {
            out.push(b'\n');
            i += 2;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_bytes() {
        let t = parse(b"#c\nfoo = bar\n\nA=x\\ny\r\n").unwrap();
        let items = &t.branches[0];
        assert_eq!(items.len(), 3);
        let Item::Pair { key, value, .. } = &items[1] else { panic!() };
        assert_eq!(key, "foo ");
        assert!(matches!(&value.value, Value::Scalar(Scalar::Str(s)) if s == b" bar"));
        let Item::Pair { value, .. } = &items[2] else { panic!() };
        assert!(matches!(&value.value, Value::Scalar(Scalar::Str(s)) if s == b"x\ny\r"));
        assert!(parse(b"novalue\n").is_err());
        assert!(parse(b" # not a comment\n").is_err());
    }
}
