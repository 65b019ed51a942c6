//! The JSON store (`stores/json/store.go`): a top-level object, keys in file order (duplicates
//! kept), numbers typed as sops 3.13.2 does (`ParseInt`, else `float64`), data after the top-level
//! object ignored. Spans are kept for every node.

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

/// Parses a JSON document into a one-branch tree.
pub(crate) fn parse(data: &[u8]) -> Result<Tree, StoreError> {
    let mut p = P { b: data, i: 0 };
    // A UTF-8 BOM is not valid JSON for Go either; keep it an error.
    p.ws();
    if p.b.get(p.i) != Some(&b'{') {
        return Err(err("the top-level JSON value must be an object", p.i.min(data.len().saturating_sub(1))));
    }
    let items = p.object(0)?;
    Ok(Tree { branches: vec![items] })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_and_order() {
        let t = parse(br#"{"b": 1, "a": 1.50, "c": [true, null, "x\u00e9"], "b": -0, "big": 1e400}"#);
        assert!(t.is_err());
        let t = parse(br#"{"b": 1, "a": 1.50, "c": [true, null, "x\u00e9"], "b": -0} trailing"#).unwrap();
        let items = &t.branches[0];
        assert_eq!(items.len(), 4);
        let Item::Pair { value, .. } = &items[1] else { panic!() };
        assert!(matches!(value.value, Value::Scalar(Scalar::Float(f)) if f == 1.5));
        let Item::Pair { value, .. } = &items[3] else { panic!() };
        assert!(matches!(value.value, Value::Scalar(Scalar::Int(0))));
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
