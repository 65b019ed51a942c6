//! Go RE2 regular expressions on top of the `regex` crate.
//!
//! The syntaxes are nearly the same; the differences that matter for `.sops.yaml` are handled here:
//! RE2's `\d \w \s \b` (and their negations) are ASCII-only, while the `regex` crate makes them
//! Unicode-aware, so they are rewritten into explicit ASCII classes; RE2's `\Q…\E` literal quoting
//! is expanded into escaped text. Matching is an unanchored search, like Go's `MatchString`.

use regex::{Regex, RegexBuilder};

/// Compiles a Go RE2 pattern. The error text names the problem but never echoes input beyond the
/// pattern itself (patterns come from `.sops.yaml` and sops metadata, which are not secret).
pub(crate) fn compile(pattern: &str) -> Result<Regex, String> {
    let translated = translate(pattern)?;
    RegexBuilder::new(&translated).size_limit(1 << 22).dfa_size_limit(1 << 22).nest_limit(64).build().map_err(
        |e| match e {
            regex::Error::Syntax(s) => s.lines().last().unwrap_or("syntax error").trim().to_owned(),
            regex::Error::CompiledTooBig(_) => "pattern too large".to_owned(),
            _ => "invalid pattern".to_owned(),
        },
    )
}

fn ascii_class(c: char, in_class: bool) -> Option<&'static str> {
    Some(match (c, in_class) {
        ('d', false) => "[0-9]",
        ('D', false) => "[^0-9]",
        ('w', false) => "[0-9A-Za-z_]",
        ('W', false) => "[^0-9A-Za-z_]",
        ('s', false) => "[\\t\\n\\f\\r ]",
        ('S', false) => "[^\\t\\n\\f\\r ]",
        ('b', false) => "(?-u:\\b)",
        ('B', false) => "(?-u:\\B)",
        ('d', true) => "0-9",
        ('D', true) => "[^0-9]",
        ('w', true) => "0-9A-Za-z_",
        ('W', true) => "[^0-9A-Za-z_]",
        ('s', true) => "\\t\\n\\f\\r ",
        ('S', true) => "[^\\t\\n\\f\\r ]",
        _ => return None,
    })
}

/// Rewrites RE2-only syntax into `regex` syntax.
fn translate(pattern: &str) -> Result<String, String> {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars().peekable();
    // Depth of (possibly nested) character classes.
    let mut class_depth = 0usize;
    // Just after `[` or `[^`: a `]` here is a literal.
    let mut class_start = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(n) = chars.next() else {
                    return Err("trailing backslash at end of expression".to_owned());
                };
                class_start = false;
                if n == 'Q' {
                    // Literal text up to `\E` or the end.
                    let mut lit = String::new();
                    loop {
                        match chars.next() {
                            None => break,
                            Some('\\') if chars.peek() == Some(&'E') => {
                                chars.next();
                                break;
                            }
                            Some(x) => lit.push(x),
                        }
                    }
                    if class_depth > 0 {
                        for x in lit.chars() {
                            out.push_str(&regex::escape(&x.to_string()));
                        }
                    } else {
                        out.push_str(&regex::escape(&lit));
                    }
                } else if n == 'C' {
                    return Err("\\C (any byte) is not supported".to_owned());
                } else if let Some(rep) = ascii_class(n, class_depth > 0) {
                    out.push_str(rep);
                } else {
                    out.push('\\');
                    out.push(n);
                }
            }
            '[' => {
                if class_depth > 0 && chars.peek() == Some(&':') {
                    class_start = false;
                    // POSIX class `[:alpha:]` inside a class: copy through to `:]`.
                    out.push('[');
                    for x in chars.by_ref() {
                        out.push(x);
                        if x == ']' {
                            break;
                        }
                    }
                    continue;
                }
                if class_depth > 0 {
                    // RE2 has no nested classes: a `[` inside a class is a literal.
                    out.push_str("\\[");
                    class_start = false;
                    continue;
                }
                class_depth += 1;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    chars.next();
                    out.push('^');
                }
                class_start = true;
            }
            ']' if class_depth > 0 && !class_start => {
                class_depth -= 1;
                out.push(']');
            }
            ']' if class_depth > 0 => {
                out.push_str("\\]");
                class_start = false;
            }
            '&' | '~' | '-' if class_depth > 0 => {
                // `regex` treats `&&`, `~~`, `--` as class set operations; RE2 does not.
                if c != '-' || chars.peek() == Some(&'-') {
                    out.push('\\');
                }
                out.push(c);
                class_start = false;
            }
            _ => {
                out.push(c);
                class_start = false;
            }
        }
    }
    Ok(out)
}

/// Go `regexp.Match(pattern, s)` as sops calls it for encryption rules: compiled on each call with
/// errors ignored, so an invalid pattern matches nothing.
#[derive(Clone)]
pub(crate) struct LenientRegex(Option<Regex>);

impl LenientRegex {
    pub(crate) fn new(pattern: &str) -> LenientRegex {
        LenientRegex(compile(pattern).ok())
    }
    pub(crate) fn is_match(&self, s: &str) -> bool {
        self.0.as_ref().is_some_and(|r| r.is_match(s))
    }

    /// Literals one of which every match contains (its prefixes, else its suffixes), when the
    /// regex compiled and they are a finite set of non-empty strings; and whether a match is
    /// always exactly one of them (`^(data|stringData)$`), not merely contains it.
    pub(crate) fn required_literals(&self) -> Option<(Vec<Vec<u8>>, bool)> {
        use regex_syntax::hir::literal::{ExtractKind, Extractor};
        use regex_syntax::hir::Look;
        let hir = regex_syntax::Parser::new().parse(self.0.as_ref()?.as_str()).ok()?;
        let props = hir.properties();
        let anchored =
            props.look_set_prefix().contains(Look::Start) && props.look_set_suffix().contains(Look::End);
        [ExtractKind::Prefix, ExtractKind::Suffix].into_iter().find_map(|kind| {
            let seq = Extractor::new().kind(kind).extract(&hir);
            let lits = seq.literals()?;
            (!lits.is_empty() && lits.iter().all(|l| !l.as_bytes().is_empty())).then(|| {
                let whole = anchored && lits.iter().all(|l| l.is_exact());
                (lits.iter().map(|l| l.as_bytes().to_vec()).collect(), whole)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_literals() {
        let lits = |p: &str| LenientRegex::new(p).required_literals();
        let (mut got, whole) = lits("^(data|stringData)$").unwrap();
        got.sort();
        assert_eq!(got, [b"data".to_vec(), b"stringData".to_vec()]);
        assert!(whole);
        assert_eq!(lits("^.*password$").unwrap(), (vec![b"password".to_vec()], false));
        assert_eq!(lits("data").unwrap(), (vec![b"data".to_vec()], false));
        assert_eq!(lits("^data").unwrap(), (vec![b"data".to_vec()], false));
        assert!(lits("^(?i)pass").unwrap().0.len() >= 16);
        assert_eq!(lits(".*"), None);
        assert_eq!(lits("^(data|.*)$"), None);
        assert_eq!(lits("(unclosed"), None);
    }

    #[test]
    fn ascii_perl_classes() {
        let r = compile(r"^\d+$").unwrap();
        assert!(r.is_match("123"));
        assert!(!r.is_match("١٢٣")); // Arabic-Indic digits are \d in Unicode, not in RE2
        let w = compile(r"^\w+$").unwrap();
        assert!(!w.is_match("é"));
        assert!(compile(r"[\d\s]").unwrap().is_match(" "));
        assert!(compile(r"[^\D]").unwrap().is_match("5"));
        assert!(compile(r"\bfoo\b").unwrap().is_match("a foo b"));
    }

    #[test]
    fn quoting_and_classes() {
        assert!(compile(r"\Qa.b\E").unwrap().is_match("a.b"));
        assert!(!compile(r"^\Qa.b\E$").unwrap().is_match("axb"));
        assert!(compile(r"[]a]").unwrap().is_match("]"));
        assert!(compile(r"[a[]").unwrap().is_match("["));
        assert!(compile(r"[[:alpha:]]").unwrap().is_match("q"));
        assert!(compile(r"[a&&b]").unwrap().is_match("&"));
        assert!(compile(r"(").is_err());
        assert!(compile(r"\").is_err());
    }

    #[test]
    fn unanchored() {
        assert!(compile(r"\.ya?ml").unwrap().is_match("k8s/app/secret.yaml"));
        assert!(!compile(r".*/development/.*").unwrap().is_match("development/x.yaml"));
    }
}
