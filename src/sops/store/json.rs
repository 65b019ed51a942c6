//! The JSON store (`stores/json/store.go`): a top-level object, keys in file order (duplicates
//! kept). Spans are kept for every node.
//!
//! Numbers are typed as the sops version that wrote the file reads them, since the MAC covers
//! `FormatFloat`/`Itoa` of the typed value: sops 3.13.2 and later use `ParseInt`, else
//! `float64`; every older version reads every number as a `float64` (so `-0` hashes as `-0` for
//! 3.11 and as `0` for 3.13.2, and integers above 2^53 are rounded). [`parse`] types as 3.13.2
//! does; [`retype_numbers_as_floats`] turns the tree into what an older version reads.
//!
//! A byte-order mark before the object, or any data after it other than white space, is rejected
//! by sops up to 3.12 (it reads the metadata with `json.Unmarshal` over the whole file: "invalid
//! character '{' after top-level value"); 3.13 still rejects the mark and ignores trailing data
//! (checked against the sops 3.11.0 binary and the 3.13.2 sources). [`parse_with_problem`] reads
//! past both and says so, and the checks report it as `sops/malformed`.

use super::StoreError;
use crate::sops::tree::{Item, Node, Tree, Value, MAX_DEPTH};
use crate::sops::value::Scalar;

struct P<'a> {
    b: &'a [u8],
    i: usize,
}

fn err(message: impl Into<String>, at: usize) -> StoreError {
    StoreError { message: message.into(), span: at..at + 1 }
}

impl P<'_> {
    fn ws(&mut self) {
        while let Some(c) = self.b.get(self.i) {
            if matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    fn value(&mut self, depth: usize) -> Result<Node, StoreError> {
        if depth > MAX_DEPTH {
            return Err(err("JSON nesting too deep", self.i));
        }
        self.ws();
        let start = self.i;
        match self.b.get(self.i) {
            None => Err(err("unexpected end of JSON input", self.i.saturating_sub(1))),
            Some(b'{') => {
                let items = self.object(depth)?;
                Ok(Node { value: Value::Map(items), span: start..self.i })
            }
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.b.get(self.i) == Some(&b']') {
                    self.i += 1;
                } else {
                    loop {
                        items.push(Item::Elem(self.value(depth + 1)?));
                        self.ws();
                        match self.b.get(self.i) {
                            Some(b',') => self.i += 1,
                            Some(b']') => {
                                self.i += 1;
                                break;
                            }
                            _ => return Err(err("expected ',' or ']' in array", self.i)),
                        }
                    }
                }
                Ok(Node { value: Value::List(items), span: start..self.i })
            }
            Some(b'"') => {
                let s = self.string()?;
                Ok(Node { value: Value::Scalar(Scalar::Str(s.into_bytes())), span: start..self.i })
            }
            Some(b't') => self.literal("true", Scalar::Bool(true)),
            Some(b'f') => self.literal("false", Scalar::Bool(false)),
            Some(b'n') => self.literal("null", Scalar::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(err("invalid character looking for beginning of value", self.i)),
        }
    }

    fn object(&mut self, depth: usize) -> Result<Vec<Item>, StoreError> {
        self.i += 1; // {
        let mut items = Vec::new();
        self.ws();
        if self.b.get(self.i) == Some(&b'}') {
            self.i += 1;
            return Ok(items);
        }
        loop {
            self.ws();
            let ks = self.i;
            if self.b.get(self.i) != Some(&b'"') {
                return Err(err("expected a string key in object", self.i));
            }
            let key = self.string()?;
            let key_span = ks..self.i;
            self.ws();
            if self.b.get(self.i) != Some(&b':') {
                return Err(err("expected ':' after object key", self.i));
            }
            self.i += 1;
            let value = self.value(depth + 1)?;
            items.push(Item::Pair { key, key_span, value });
            self.ws();
            match self.b.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(items);
                }
                _ => return Err(err("expected ',' or '}' in object", self.i)),
            }
        }
    }

    fn literal(&mut self, word: &str, v: Scalar) -> Result<Node, StoreError> {
        let start = self.i;
        if self.b[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            Ok(Node { value: Value::Scalar(v), span: start..self.i })
        } else {
            Err(err("invalid literal", start))
        }
    }

    fn number(&mut self) -> Result<Node, StoreError> {
        let start = self.i;
        let digits = |p: &mut Self| {
            let s = p.i;
            while p.b.get(p.i).is_some_and(u8::is_ascii_digit) {
                p.i += 1;
            }
            p.i - s
        };
        if self.b.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        if self.b.get(self.i) == Some(&b'0') {
            self.i += 1;
        } else if digits(self) == 0 {
            return Err(err("invalid number", start));
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            if digits(self) == 0 {
                return Err(err("invalid number", start));
            }
        }
        if matches!(self.b.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.b.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if digits(self) == 0 {
                return Err(err("invalid number", start));
            }
        }
        let text = std::str::from_utf8(&self.b[start..self.i]).map_err(|_| err("invalid number", start))?;
        let v = match text.parse::<i64>() {
            Ok(i) => Scalar::Int(i),
            Err(_) => match text.parse::<f64>() {
                Ok(f) if f.is_finite() => Scalar::Float(f),
                _ => return Err(err("number out of range", start)),
            },
        };
        Ok(Node { value: Value::Scalar(v), span: start..self.i })
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = self.b.get(self.i..self.i + 4)?;
        let s = std::str::from_utf8(h).ok()?;
        let v = u32::from_str_radix(s, 16).ok()?;
        self.i += 4;
        Some(v)
    }

    fn string(&mut self) -> Result<String, StoreError> {
        let start = self.i;
        self.i += 1; // "
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(&c) = self.b.get(self.i) else {
                return Err(err("unterminated string", start));
            };
            match c {
                b'"' => {
                    self.i += 1;
                    break;
                }
                b'\\' => {
                    self.i += 1;
                    let Some(&e) = self.b.get(self.i) else {
                        return Err(err("unterminated string", start));
                    };
                    self.i += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let Some(hi) = self.hex4() else {
                                return Err(err("invalid \\u escape", self.i));
                            };
                            if (0xD800..0xDC00).contains(&hi) && self.b[self.i..].starts_with(b"\\u") {
                                let save = self.i;
                                self.i += 2;
                                match self.hex4() {
                                    Some(lo) if (0xDC00..0xE000).contains(&lo) => {
                                        char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                                            .unwrap_or('\u{FFFD}')
                                    }
                                    _ => {
                                        self.i = save;
                                        '\u{FFFD}'
                                    }
                                }
                            } else {
                                char::from_u32(hi).unwrap_or('\u{FFFD}')
                            }
                        }
                        _ => return Err(err("invalid escape in string", self.i - 1)),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                c if c < 0x20 => return Err(err("invalid control character in string", self.i)),
                _ => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
        // Go's decoder replaces invalid UTF-8 with U+FFFD.
        Ok(match String::from_utf8(out) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
    }
}

/// Parses a JSON document into a one-branch tree, reading past a leading byte-order mark and
/// ignoring data after the top-level object, as [`parse_with_problem`] does.
#[cfg(test)]
pub(crate) fn parse(data: &[u8]) -> Result<Tree, StoreError> {
    parse_with_problem(data).map(|(t, _)| t)
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// [`parse`], also returning why sops (up to 3.12 for trailing data, every version for a
/// byte-order mark) would refuse the file although the object itself parses.
pub(crate) fn parse_with_problem(data: &[u8]) -> Result<(Tree, Option<StoreError>), StoreError> {
    let bom = data.starts_with(BOM);
    let mut p = P { b: data, i: if bom { BOM.len() } else { 0 } };
    p.ws();
    if p.b.get(p.i) != Some(&b'{') {
        return Err(err("the top-level JSON value must be an object", p.i.min(data.len().saturating_sub(1))));
    }
    let items = p.object(0)?;
    p.ws();
    let problem = if bom {
        Some(StoreError {
            message: "the file starts with a byte-order mark, which sops rejects as JSON (\"invalid character 'ï' looking for beginning of value\")".to_owned(),
            span: 0..BOM.len(),
        })
    } else if p.i < data.len() {
        Some(StoreError {
            message: "data follows the top-level JSON object, which sops up to 3.12 rejects (\"invalid character after top-level value\")".to_owned(),
            span: p.i..data.len(),
        })
    } else {
        None
    };
    Ok((Tree { branches: vec![items] }, problem))
}

/// Whether sops of this `version` reads every JSON number as a `float64` (all before 3.13.2;
/// `None` or an unparsable version: no, as the newest sops).
pub(crate) fn numbers_are_floats(version: Option<&str>) -> bool {
    version.and_then(crate::sops::value::parse_version).is_some_and(|v| v < (3, 13, 2))
}

/// Retypes every integer of a JSON tree as the `float64` sops before 3.13.2 reads: `-0` (which
/// `ParseInt` reads as `0`) keeps its sign. `data` is the file the tree's spans point into.
pub(crate) fn retype_numbers_as_floats(tree: &mut Tree, data: &[u8]) {
    fn items(list: &mut [Item], data: &[u8]) {
        for it in list {
            match it {
                Item::Pair { value, .. } | Item::Elem(value) => node(value, data),
                Item::Comment { .. } => {}
            }
        }
    }
    fn node(n: &mut Node, data: &[u8]) {
        match &mut n.value {
            Value::Scalar(s) => {
                if let Scalar::Int(i) = *s {
                    let negative = data.get(n.span.start) == Some(&b'-');
                    *s = Scalar::Float(if i == 0 && negative { -0.0 } else { i as f64 });
                }
            }
            Value::Map(list) | Value::List(list) => items(list, data),
        }
    }
    for b in &mut tree.branches {
        items(b, data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_and_order() {
        let t = parse(br#"{"b": 1, "a": 1.50, "c": [true, null, "x\u00e9"], "b": -0, "big": 1e400}"#);
        assert!(t.is_err());
        let (t, problem) =
            parse_with_problem(br#"{"b": 1, "a": 1.50, "c": [true, null, "x\u00e9"], "b": -0} trailing"#)
                .unwrap();
        assert_eq!(problem.map(|p| p.span), Some(59..67));
        let items = &t.branches[0];
        assert_eq!(items.len(), 4);
        let Item::Pair { value, .. } = &items[1] else { panic!() };
        assert!(matches!(value.value, Value::Scalar(Scalar::Float(f)) if f == 1.5));
        let Item::Pair { value, .. } = &items[3] else { panic!() };
        assert!(matches!(value.value, Value::Scalar(Scalar::Int(0))));
    }

    #[test]
    fn bom_and_trailing_data_are_problems() {
        assert!(parse_with_problem(b"{\"a\": 1}\n \t\r\n").unwrap().1.is_none());
        let (t, p) = parse_with_problem(b"\xEF\xBB\xBF{\"a\": 1}").unwrap();
        assert_eq!((t.branches[0].len(), p.map(|p| p.span)), (1, Some(0..3)));
        assert_eq!(parse_with_problem(b"{}{}").unwrap().1.map(|p| p.span), Some(2..4));
    }

    #[test]
    fn numbers_as_sops_before_3_13_2_reads_them() {
        let data = br#"{"z": -0, "i": 5, "big": 9007199254740993, "f": 1.5, "l": [-0]}"#;
        let mut t = parse(data).unwrap();
        retype_numbers_as_floats(&mut t, data);
        let mut got = Vec::new();
        for it in &t.branches[0] {
            let Item::Pair { value, .. } = it else { panic!() };
            match &value.value {
                Value::Scalar(s) => got.push(String::from_utf8(s.to_bytes()).unwrap()),
                Value::List(l) => {
                    let Item::Elem(n) = &l[0] else { panic!() };
                    let Value::Scalar(s) = &n.value else { panic!() };
                    got.push(String::from_utf8(s.to_bytes()).unwrap());
                }
                Value::Map(_) => panic!(),
            }
        }
        assert_eq!(got, ["-0", "5", "9007199254740992", "1.5", "-0"]);
        assert!(numbers_are_floats(Some("3.11.0")));
        assert!(numbers_are_floats(Some("3.13.1")));
        assert!(numbers_are_floats(Some("1.13")));
        assert!(!numbers_are_floats(Some("3.13.2")));
        assert!(!numbers_are_floats(Some("3.14.0")));
        assert!(!numbers_are_floats(None));
    }

    #[test]
    fn rejects() {
        assert!(parse(b"[1]").is_err());
        assert!(parse(b"").is_err());
        assert!(parse(b"{\"a\":").is_err());
        let deep = "[".repeat(1000);
        assert!(parse(format!("{{\"a\":{deep}").as_bytes()).is_err());
    }
}
