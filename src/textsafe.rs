//! Text from a scanned repository (file names, git tree entry names, commit authors, Secret names,
//! YAML keys) is attacker-controlled. Before it reaches a terminal or a Markdown page, everything
//! that could act instead of being read is escaped visibly, as ripgrep and git quote odd paths:
//!
//! * C0 and C1 control characters and DEL (`ESC[2J`, OSC 8 links, OSC 52 clipboard writes, BEL,
//!   CR, a newline that would start a forged diagnostic line) become `\x1b`, `\n`, `\u{9b}`, …;
//! * bidirectional overrides and isolates (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F, U+061C),
//!   which reorder what a reader sees ("Trojan Source"), zero-width characters, the byte-order
//!   mark and the Unicode line and paragraph separators become `\u{202e}` and the like.
//!
//! The backslash itself is left alone: the escapes are for a reader, not a round trip. JSON and
//! SARIF escape the same characters as `\uXXXX` ([`JsonFormatter`]).

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether a character must not reach a terminal or a page as it is.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{2069}'
                | '\u{FEFF}'
                | '\u{FFF9}'..='\u{FFFB}'
        )
}

/// `s` with every unsafe character escaped visibly.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if !is_unsafe(c) {
            out.push(c);
            continue;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
        }
    }
    Cow::Owned(out)
}

/// `s` as a Markdown code span that nothing in it can leave, usable in a table cell: unsafe
/// characters escaped, a fence longer than any run of backticks inside, and `|` escaped (GitHub
/// ends a table cell at a `|` even inside a code span).
pub fn markdown_code(s: &str) -> String {
    let s = escape(s);
    let mut longest = 0;
    let mut run = 0;
    for c in s.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    let fence = "`".repeat(longest + 1);
    let body = s.replace('|', "\\|");
    // A space on each side keeps a leading or trailing backtick apart from the fence.
    let pad = if body.starts_with('`') || body.ends_with('`') || body.starts_with(' ') { " " } else { "" };
    format!("{fence}{pad}{body}{pad}{fence}")
}

/// `s` as plain Markdown text (a table cell, a list item): unsafe characters escaped and every
/// character that Markdown or HTML could act on backslash-escaped, so no link, image, tag, emphasis
/// or cell break can be made of it.
pub fn markdown_text(s: &str) -> String {
    let s = escape(s);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(
            c,
            '\\' | '`'
                | '*'
                | '_'
                | '{'
                | '}'
                | '['
                | ']'
                | '('
                | ')'
                | '#'
                | '+'
                | '-'
                | '.'
                | '!'
                | '|'
                | '<'
                | '>'
                | '&'
                | '~'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A `serde_json` formatter that also escapes, as `\uXXXX`, the characters [`is_unsafe`] names
/// beyond the C0 controls JSON already escapes (C1 controls, DEL, bidirectional controls, line
/// separators): a report viewed raw in a terminal or pasted into a page cannot reorder or hide text.
#[derive(Clone, Copy, Debug, Default)]
pub struct JsonFormatter<F = serde_json::ser::CompactFormatter> {
    inner: F,
}

impl JsonFormatter<serde_json::ser::PrettyFormatter<'static>> {
    /// Pretty-printed, two spaces.
    pub fn pretty() -> Self {
        JsonFormatter { inner: serde_json::ser::PrettyFormatter::new() }
    }
}

macro_rules! delegate {
    ($($name:ident($($arg:ident: $ty:ty),*);)*) => {
        $(fn $name<W: ?Sized + std::io::Write>(&mut self, w: &mut W $(, $arg: $ty)*) -> std::io::Result<()> {
            self.inner.$name(w $(, $arg)*)
        })*
    };
}

impl<F: serde_json::ser::Formatter> serde_json::ser::Formatter for JsonFormatter<F> {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if is_unsafe(c) {
                w.write_all(&fragment.as_bytes()[start..i])?;
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    write!(w, "\\u{:04x}", unit)?;
                }
                start = i + c.len_utf8();
            }
        }
        w.write_all(&fragment.as_bytes()[start..])
    }

    delegate! {
        begin_array();
        end_array();
        begin_array_value(first: bool);
        end_array_value();
        begin_object();
        end_object();
        begin_object_key(first: bool);
        end_object_key();
        begin_object_value();
        end_object_value();
    }
}

/// Serialises `value` as pretty JSON with [`JsonFormatter`].
pub fn to_json_pretty<T: serde::Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, JsonFormatter::pretty());
    value.serialize(&mut ser)?;
    Ok(String::from_utf8(out).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_a_terminal_would_act_on() {
        assert_eq!(escape("a\u{1b}[2Jb"), "a\\x1b[2Jb");
        assert_eq!(escape("x\u{202e}y"), "x\\u{202e}y");
        assert_eq!(escape("l1\nfake: error"), "l1\\nfake: error");
        assert_eq!(escape("\u{9b}31m"), "\\u{9b}31m");
        assert!(matches!(escape("plain/path.yaml"), Cow::Borrowed(_)));
    }

    #[test]
    fn markdown_spans_cannot_be_left() {
        assert_eq!(markdown_code("a`b"), "``a`b``");
        assert_eq!(markdown_code("`x"), "`` `x ``");
        assert_eq!(markdown_code("a|b"), "`a\\|b`");
        assert_eq!(markdown_text("[x](http://e)"), "\\[x\\]\\(http://e\\)");
        assert_eq!(markdown_text("<img>"), "\\<img\\>");
    }

    #[test]
    fn json_escapes_bidi_and_c1() {
        let s = to_json_pretty(&serde_json::json!({"p": "a\u{202e}b\u{85}c\u{1b}"})).unwrap();
        assert!(s.contains("a\\u202eb\\u0085c\\u001b"), "{s}");
        assert!(!s.contains('\u{202e}'));
    }
}
