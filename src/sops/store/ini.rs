//! The INI store (`stores/ini/store.go` over go-ini with `AllowNonUniqueSections`).
//!
//! One branch; one item per section in file order, starting with the implicit `DEFAULT` section.
//! go-ini attaches a comment to the key (or section header) that *follows* it, and sops places a
//! key's comment *after* the key, so a comment written above key K lands after K in the tree.
//! Values: `=` or `:` separates, both sides trimmed; unquoted values end at the first `#`/`;`;
//! `"…"`/`'…'` lose their quotes, `` `…` `` and `"""…"""` (multi-line) are raw; a trailing `\`
//! continues a value. Every value is a string.

use std::ops::Range;

use super::StoreError;
use crate::sops::tree::{Item, Node, Tree, Value};
use crate::sops::value::Scalar;

/// A key line: key, key span, value, value span, comment (text, span).
type KeyLine = (String, Range<usize>, String, Range<usize>, Option<(String, Range<usize>)>);

struct Section {
    name: String,
    span: std::ops::Range<usize>,
    comment: Option<(String, std::ops::Range<usize>)>,
    /// (key, key span, value, value span, comment)
    keys: Vec<KeyLine>,
}

/// `stripCommentChar`: `TrimLeft(comment, "; ")` or `TrimLeft(comment, "# ")`.
fn strip_comment_char(c: &str) -> String {
    if c.starts_with(';') {
        c.trim_start_matches([';', ' ']).to_owned()
    } else if c.starts_with('#') {
        c.trim_start_matches(['#', ' ']).to_owned()
    } else {
        c.to_owned()
    }
}

/// Parses an INI file into a one-branch tree of sections.
pub(crate) fn parse(data: &[u8]) -> Result<Tree, StoreError> {
    let text = std::str::from_utf8(data).map_err(|e| StoreError {
        message: "INI file is not valid UTF-8".to_owned(),
        span: e.valid_up_to()..e.valid_up_to() + 1,
    })?;
    let (text, bom) = match text.strip_prefix('\u{feff}') {
        Some(t) => (t, 3),
        None => (text, 0),
    };
    // Lines with their byte offsets.
    let mut lines: Vec<(usize, &str)> = Vec::new();
    let mut off = bom;
    for l in text.split('\n') {
        lines.push((off, l));
        off += l.len() + 1;
    }
    let mut sections =
        vec![Section { name: "DEFAULT".to_owned(), span: 0..0, comment: None, keys: Vec::new() }];
    let mut pending: Option<(String, std::ops::Range<usize>)> = None;
    let mut auto = 0usize;
    let mut li = 0;
    while li < lines.len() {
        let (loff, raw) = lines[li];
        li += 1;
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        let lstart = loff + (raw.len() - raw.trim_start().len());
        let lend = lstart + line.len();
        if line.starts_with('#') || line.starts_with(';') {
            match &mut pending {
                Some((t, s)) => {
                    t.push('\n');
                    t.push_str(line);
                    s.end = lend;
                }
                None => pending = Some((line.to_owned(), lstart..lend)),
            }
            continue;
        }
        if line.starts_with('[') {
            let Some(close) = line.rfind(']') else {
                return Err(StoreError { message: "unclosed section header".to_owned(), span: lstart..lend });
            };
            let name = line[1..close].trim().to_owned();
            if name.is_empty() {
                return Err(StoreError { message: "empty section name".to_owned(), span: lstart..lend });
            }
            sections.push(Section { name, span: lstart..lend, comment: pending.take(), keys: Vec::new() });
            continue;
        }
        // key line
        let sep = line.find(['=', ':']);
        let (key_raw, rest, rest_off) = match sep {
            Some(p) => (&line[..p], &line[p + 1..], lstart + p + 1),
            None => {
                // go-ini accepts boolean keys only with an option; sops does not set it.
                return Err(StoreError {
                    message: "key-value delimiter not found".to_owned(),
                    span: lstart..lend,
                });
            }
        };
        let mut key = key_raw.trim().to_owned();
        let key_start = lstart + (key_raw.len() - key_raw.trim_start().len());
        let key_span = key_start..key_start + key.len();
        if key.is_empty() {
            return Err(StoreError { message: "empty key name".to_owned(), span: lstart..lend });
        }
        if key == "-" {
            auto += 1;
            key = format!("#{auto}");
        }
        let lead = rest.len() - rest.trim_start().len();
        let vstart = rest_off + lead;
        let v = rest.trim();
        let mut inline_comment: Option<(String, std::ops::Range<usize>)> = None;
        let (value, vspan) = if let Some(body) = v.strip_prefix("\"\"\"") {
            // multi-line raw value until the closing """
            if let Some(end) = body.find("\"\"\"") {
                (body[..end].to_owned(), vstart..vstart + 6 + end)
            } else {
                let mut val = body.to_owned();
                let mut end = vstart + v.len();
                loop {
                    let Some(&(noff, nl)) = lines.get(li) else {
                        return Err(StoreError {
                            message: "unterminated \"\"\" value".to_owned(),
                            span: vstart..end,
                        });
                    };
                    li += 1;
                    val.push('\n');
                    if let Some(p) = nl.find("\"\"\"") {
                        val.push_str(&nl[..p]);
                        end = noff + p + 3;
                        break;
                    }
                    val.push_str(nl.trim_end_matches('\r'));
                    end = noff + nl.len();
                }
                (val, vstart..end)
            }
        } else if v.len() >= 2 && v.starts_with('`') && v[1..].contains('`') {
            let close = 1 + v[1..].find('`').unwrap_or(0);
            (v[1..close].to_owned(), vstart..vstart + close + 1)
        } else if v.len() >= 2
            && ((v.starts_with('"') && v[1..].contains('"'))
                || (v.starts_with('\'') && v[1..].contains('\'')))
        {
            let q = &v[..1];
            let close = 1 + v[1..].rfind(q).unwrap_or(0);
            let tail = v[close + 1..].trim();
            if tail.starts_with('#') || tail.starts_with(';') {
                let cs = vstart + close + 1 + (v[close + 1..].len() - v[close + 1..].trim_start().len());
                inline_comment = Some((tail.to_owned(), cs..cs + tail.len()));
            }
            (v[1..close].to_owned(), vstart..vstart + close + 1)
        } else {
            let mut val = v.to_owned();
            let mut end = vstart + v.len();
            if let Some(p) = val.find(['#', ';']) {
                inline_comment = Some((val[p..].to_owned(), vstart + p..end));
                val = val[..p].trim_end().to_owned();
                end = vstart + val.len();
            } else {
                // continuation lines
                while val.ends_with('\\') {
                    val.pop();
                    let Some(&(noff, nl)) = lines.get(li) else { break };
                    li += 1;
                    let t = nl.trim();
                    val.push_str(t);
                    end = noff + (nl.len() - nl.trim_start().len()) + t.len();
                }
            }
            (val, vstart..end)
        };
        let mut comment = pending.take();
        if let Some((ic, ispan)) = inline_comment {
            comment = Some(match comment {
                Some((mut t, s)) => {
                    t.push_str(&ic);
                    (t, s.start..ispan.end)
                }
                None => (ic, ispan),
            });
        }
        let section = sections.last_mut().expect("DEFAULT section always exists");
        if let Some(existing) = section.keys.iter_mut().find(|k| k.0 == key) {
            // A duplicate key overwrites the value and keeps the first position.
            existing.2 = value;
            existing.3 = vspan;
            if comment.is_some() {
                existing.4 = comment;
            }
        } else {
            section.keys.push((key, key_span, value, vspan, comment));
        }
    }
    let mut branch = Vec::new();
    for s in sections {
        let mut items = Vec::new();
        if let Some((c, span)) = s.comment {
            items.push(Item::Comment { text: strip_comment_char(&c), span });
        }
        let mut end = s.span.end;
        for (key, key_span, value, vspan, comment) in s.keys {
            end = end.max(vspan.end);
            items.push(Item::Pair {
                key,
                key_span,
                value: Node { value: Value::Scalar(Scalar::Str(value.into_bytes())), span: vspan },
            });
            if let Some((c, span)) = comment {
                items.push(Item::Comment { text: strip_comment_char(&c), span });
            }
        }
        branch.push(Item::Pair {
            key: s.name,
            key_span: s.span.clone(),
            value: Node { value: Value::Map(items), span: s.span.start..end },
        });
    }
    Ok(Tree { branches: vec![branch] })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section<'a>(t: &'a Tree, name: &str) -> &'a [Item] {
        for it in &t.branches[0] {
            if let Item::Pair { key, value, .. } = it {
                if key == name {
                    if let Value::Map(items) = &value.value {
                        return items;
                    }
                }
            }
        }
        panic!("no section {name}")
    }

    #[test]
    fn go_ini_semantics() {
        let src = "top = 1\n; about b\n[s]\n# about a\na = \"quoted\" ; trailing\nb : plain # cut\nc = `raw;#`\nd = \"\"\"multi\nline\"\"\"\n[s]\ne=f\n";
        let t = parse(src.as_bytes()).unwrap();
        assert_eq!(t.branches[0].len(), 3); // DEFAULT, s, s
        let s = section(&t, "s");
        // section comment first, then a, then a's comment (from above it)
        assert!(matches!(&s[0], Item::Comment { text, .. } if text == "about b"));
        assert!(
            matches!(&s[1], Item::Pair { key, value, .. } if key == "a" && matches!(&value.value, Value::Scalar(Scalar::Str(v)) if v == b"quoted"))
        );
        assert!(matches!(&s[2], Item::Comment { .. }));
        assert!(
            matches!(&s[3], Item::Pair { value, .. } if matches!(&value.value, Value::Scalar(Scalar::Str(v)) if v == b"plain"))
        );
        let vals: Vec<Vec<u8>> = s
            .iter()
            .filter_map(|i| match i {
                Item::Pair { value: Node { value: Value::Scalar(Scalar::Str(v)), .. }, .. } => {
                    Some(v.clone())
                }
                _ => None,
            })
            .collect();
        assert_eq!(vals[2], b"raw;#");
        assert_eq!(vals[3], b"multi\nline");
    }
}

#[cfg(test)]
mod sops_golden {
    //! sops' own `TestDecodeIni` (`stores/ini/store_test.go`).
    use super::*;

    #[test]
    fn decode_ini_matches_sops() {
        let src = "\n; last modified 1 April 2001 by John Doe\n[owner]\nname=John Doe\norganization=Acme Widgets Inc.\n\n[database]\n; use IP address in case network name resolution is not working\nserver=192.0.2.62     \nport=143\nfile=\"payroll.dat\"\n";
        let t = parse(src.as_bytes()).unwrap();
        let got: Vec<String> = t.branches[0]
            .iter()
            .map(|i| match i {
                Item::Pair { key, value: Node { value: Value::Map(items), .. }, .. } => format!(
                    "{key}:[{}]",
                    items
                        .iter()
                        .map(|i| match i {
                            Item::Comment { text, .. } => format!("#{text}"),
                            Item::Pair {
                                key,
                                value: Node { value: Value::Scalar(Scalar::Str(v)), .. },
                                ..
                            } => {
                                format!("{key}={}", String::from_utf8_lossy(v))
                            }
                            _ => "?".into(),
                        })
                        .collect::<Vec<_>>()
                        .join("|")
                ),
                _ => "?".into(),
            })
            .collect();
        assert_eq!(
            got,
            [
                "DEFAULT:[]",
                "owner:[#last modified 1 April 2001 by John Doe|name=John Doe|organization=Acme Widgets Inc.]",
                "database:[server=192.0.2.62|#use IP address in case network name resolution is not working|port=143|file=payroll.dat]",
            ]
        );
    }
}
