//! Loading rule files (`rules/*.yaml` and user rule directories), with spans for every problem.

use std::ops::Range;

use super::{Docs, Example, Rule, RuleKind};
use crate::finding::Severity;
use crate::yaml::{self, Node};

/// A problem in a rule file, pointing into it.
#[derive(Clone, Debug, thiserror::Error, miette::Diagnostic)]
#[error("{file}: {message}")]
#[diagnostic(code(sopsguard::rule_file))]
pub struct RuleError {
    /// The rule file.
    pub file: String,
    /// What is wrong.
    pub message: String,
    /// Where (bytes).
    #[label("here")]
    pub span: Range<usize>,
    /// The file's text, for rendering the span.
    #[source_code]
    pub source_text: String,
}

/// Validators that rule files may name.
pub const VALIDATORS: &[&str] = &[
    "age-identity",
    "pem-block",
    "base64-pem",
    "base62-crc32",
    "random",
    "aws-pair",
    "jwt",
    "generic-secret",
];

const RULE_KEYS: &[&str] = &[
    "id",
    "title",
    "severity",
    "kind",
    "tags",
    "security_severity",
    "keywords",
    "regex",
    "scope",
    "validator",
    "docs",
    "examples",
];

struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
    errors: Vec<RuleError>,
}

/// Words of the rule-file format that diagnostics may show (see [`crate::masked`]): a rule file
/// in a repository's rules directory may be anything, so its own content is never quoted.
fn vocabulary(word: &str) -> bool {
    RULE_KEYS.contains(&word)
        || VALIDATORS.contains(&word)
        || matches!(
            word,
            "rules"
                | "what"
                | "why"
                | "fix"
                | "hit"
                | "miss"
                | "error"
                | "warning"
                | "note"
                | "regex"
                | "code"
                | "line"
                | "file"
                | "-"
                | "|"
        )
}

/// Why a regex does not compile, without quoting it (the regex crate's message repeats the
/// pattern).
fn regex_reason(e: &regex::Error) -> String {
    match e {
        regex::Error::Syntax(text) => text
            .lines()
            .rev()
            .find_map(|l| l.trim().strip_prefix("error: "))
            .unwrap_or("syntax error")
            .to_owned(),
        regex::Error::CompiledTooBig(limit) => format!("the compiled regex exceeds {limit} bytes"),
        _ => "cannot be compiled".to_owned(),
    }
}

impl Ctx<'_> {
    fn err(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.errors.push(RuleError {
            file: self.file.to_owned(),
            message: crate::masked::scrub_quotes(&message.into(), &vocabulary),
            span,
            source_text: crate::masked::mask_source(self.text, &vocabulary),
        });
    }

    fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        match node.as_str() {
            Some(s) => Some(s.to_owned()),
            None => {
                self.err(node.span.clone(), format!("`{what}` must be a string"));
                None
            }
        }
    }

    fn strings(&mut self, node: &Node, what: &str) -> Vec<String> {
        match node.as_seq() {
            Some(items) => items.iter().filter_map(|n| self.string(n, what)).collect(),
            None => {
                self.err(node.span.clone(), format!("`{what}` must be a list of strings"));
                Vec::new()
            }
        }
    }
}

/// Parses one rule file. Returns every rule, or every problem found.
pub fn parse_rule_file(file: &str, text: &str) -> Result<Vec<Rule>, Vec<RuleError>> {
    let mut ctx = Ctx { file, text, errors: Vec::new() };
    let stream = match yaml::parse(text) {
        Ok(s) => s,
        Err(e) => {
            ctx.err(e.span, e.message);
            return Err(ctx.errors);
        }
    };
    let mut rules = Vec::new();
    let Some(doc) = stream.documents.first() else {
        return Ok(rules);
    };
    let Some(list) = doc.root.get("rules") else {
        ctx.err(doc.root.span.clone(), "a rule file is a mapping with a `rules` list");
        return Err(ctx.errors);
    };
    let Some(items) = list.as_seq() else {
        if !list.is_null() {
            ctx.err(list.span.clone(), "`rules` must be a list");
        }
        return if ctx.errors.is_empty() { Ok(rules) } else { Err(ctx.errors) };
    };
    for item in items {
        if let Some(rule) = parse_rule(&mut ctx, item) {
            if rules.iter().any(|r: &Rule| r.id == rule.id) {
                ctx.err(item.span.clone(), format!("rule id `{}` is defined twice", rule.id));
            } else {
                rules.push(rule);
            }
        }
    }
    if ctx.errors.is_empty() {
        Ok(rules)
    } else {
        Err(ctx.errors)
    }
}

fn parse_rule(ctx: &mut Ctx<'_>, node: &Node) -> Option<Rule> {
    let Some(entries) = node.as_map() else {
        ctx.err(node.span.clone(), "each rule must be a mapping");
        return None;
    };
    for (k, _) in entries {
        let key = k.as_str().unwrap_or("");
        if !RULE_KEYS.contains(&key) {
            ctx.err(
                k.span.clone(),
                format!("unknown key `{key}` (expected one of: {})", RULE_KEYS.join(", ")),
            );
        }
    }
    let before = ctx.errors.len();
    let id = match node.get("id") {
        Some(n) => ctx.string(n, "id"),
        None => {
            ctx.err(node.span.clone(), "a rule needs an `id`");
            None
        }
    };
    if let (Some(id), Some(n)) = (&id, node.get("id")) {
        let ok = id.split('/').count() == 2
            && id.split('/').all(|p| {
                !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            });
        if !ok {
            ctx.err(n.span.clone(), "rule ids look like `group/name` (lowercase, digits, `-`)");
        }
    }
    let title = node.get("title").and_then(|n| ctx.string(n, "title")).unwrap_or_default();
    if title.is_empty() {
        ctx.err(node.span.clone(), "a rule needs a `title`");
    }
    let severity = match node.get("severity") {
        Some(n) => match n.as_str().and_then(Severity::parse) {
            Some(s) => s,
            None => {
                ctx.err(n.span.clone(), "`severity` must be error, warning or note");
                Severity::Error
            }
        },
        None => Severity::Error,
    };
    let kind = match node.get("kind").and_then(|n| n.as_str()) {
        None | Some("regex") => RuleKind::Regex,
        Some("code") => RuleKind::Code,
        Some(_) => {
            let span = node.get("kind").map_or(node.span.clone(), |n| n.span.clone());
            ctx.err(span, "`kind` must be regex or code");
            RuleKind::Regex
        }
    };
    let tags = node.get("tags").map(|n| ctx.strings(n, "tags")).unwrap_or_default();
    let security_severity = match node.get("security_severity") {
        Some(n) => match n.as_str().and_then(|s| s.parse::<f32>().ok()) {
            Some(v) if (0.0..=10.0).contains(&v) => v,
            _ => {
                ctx.err(n.span.clone(), "`security_severity` must be a number from 0.0 to 10.0");
                0.0
            }
        },
        None => match severity {
            Severity::Error => 7.0,
            Severity::Warning => 4.0,
            Severity::Note => 1.0,
        },
    };
    let keywords = node.get("keywords").map(|n| ctx.strings(n, "keywords")).unwrap_or_default();
    let regex_source = node.get("regex").and_then(|n| ctx.string(n, "regex"));
    let mut regex = None;
    if let (Some(src), Some(n)) = (&regex_source, node.get("regex")) {
        match regex::bytes::RegexBuilder::new(src).size_limit(10 * (1 << 20)).build() {
            Ok(r) => regex = Some(r),
            Err(e) => ctx.err(n.span.clone(), format!("invalid regex: {}", regex_reason(&e))),
        }
    }
    let (line_scoped, key_scoped) = match node.get("scope").map(|n| (n, n.as_str())) {
        None | Some((_, Some("file"))) => (false, false),
        Some((n, Some(scope @ ("line" | "key")))) => {
            if let Some(src) = &regex_source {
                if regex.is_some() && !line_local(src) {
                    ctx.err(
                        n.span.clone(),
                        format!(
                            "a rule with `scope` {scope} needs a regex whose matches stay on one line (no \
                             text-start anchor; a newline only as the last character)"
                        ),
                    );
                }
            }
            (true, scope == "key")
        }
        Some((n, _)) => {
            ctx.err(n.span.clone(), "`scope` must be file, line or key");
            (false, false)
        }
    };
    let validator = node.get("validator").and_then(|n| ctx.string(n, "validator"));
    if let (Some(v), Some(n)) = (&validator, node.get("validator")) {
        if !VALIDATORS.contains(&v.as_str()) {
            ctx.err(n.span.clone(), format!("unknown validator `{v}` (known: {})", VALIDATORS.join(", ")));
        }
    }
    if kind == RuleKind::Regex {
        if regex_source.is_none() {
            ctx.err(node.span.clone(), "a regex rule needs a `regex`");
        }
        if keywords.is_empty() {
            ctx.err(node.span.clone(), "a regex rule needs at least one keyword (the prefilter)");
        }
        if keywords.iter().any(|k| k.len() < 3) {
            ctx.err(node.span.clone(), "keywords must be at least 3 characters long");
        }
    }
    let docs = match node.get("docs") {
        Some(d) => {
            let mut get = |k: &str| match d.get(k) {
                Some(n) => ctx.string(n, k).unwrap_or_default(),
                None => {
                    ctx.err(d.span.clone(), format!("`docs` needs `{k}`"));
                    String::new()
                }
            };
            Docs { what: get("what"), why: get("why"), fix: get("fix") }
        }
        None => {
            ctx.err(node.span.clone(), "a rule needs `docs` with what, why and fix");
            Docs::default()
        }
    };
    let (mut hit_examples, mut miss_examples) = (Vec::new(), Vec::new());
    if let Some(ex) = node.get("examples") {
        if let Some(n) = ex.get("hit") {
            hit_examples = examples(ctx, n);
        }
        if let Some(n) = ex.get("miss") {
            miss_examples = examples(ctx, n);
        }
    }
    if kind == RuleKind::Regex && hit_examples.is_empty() {
        ctx.err(node.span.clone(), "a regex rule needs at least one `examples.hit`");
    }
    if ctx.errors.len() > before {
        return None;
    }
    Some(Rule {
        id: id?,
        title,
        severity,
        kind,
        tags,
        security_severity,
        keywords,
        regex,
        regex_source,
        line_scoped,
        key_scoped,
        validator,
        docs,
        hit_examples,
        miss_examples,
        origin: ctx.file.to_owned(),
    })
}

/// Whether every match of `src` lies within one line, a newline being at most its last byte, and
/// no assertion looks at the start of the text: then searching each line (with its newline) finds
/// exactly the matches a search of the whole text finds on it.
fn line_local(src: &str) -> bool {
    use regex_syntax::hir::{Hir, HirKind, Look};
    fn look_ok(l: Look) -> bool {
        !matches!(l, Look::Start)
    }
    // No byte of any match is a newline.
    fn no_newline(h: &Hir) -> bool {
        match h.kind() {
            HirKind::Empty => true,
            HirKind::Literal(l) => !l.0.contains(&b'\n'),
            HirKind::Class(c) => match c {
                regex_syntax::hir::Class::Unicode(u) => {
                    !u.ranges().iter().any(|r| r.start() <= '\n' && '\n' <= r.end())
                }
                regex_syntax::hir::Class::Bytes(b) => {
                    !b.ranges().iter().any(|r| r.start() <= b'\n' && b'\n' <= r.end())
                }
            },
            HirKind::Look(l) => look_ok(*l),
            HirKind::Repetition(r) => no_newline(&r.sub),
            HirKind::Capture(c) => no_newline(&c.sub),
            HirKind::Concat(v) | HirKind::Alternation(v) => v.iter().all(no_newline),
        }
    }
    // A newline, if any, only as the last byte of a match.
    fn newline_last(h: &Hir) -> bool {
        match h.kind() {
            HirKind::Class(_) => true,
            HirKind::Literal(l) => !l.0[..l.0.len().saturating_sub(1)].contains(&b'\n'),
            HirKind::Capture(c) => newline_last(&c.sub),
            HirKind::Alternation(v) => v.iter().all(newline_last),
            HirKind::Concat(v) => match v.split_last() {
                Some((last, init)) => init.iter().all(no_newline) && newline_last(last),
                None => true,
            },
            _ => no_newline(h),
        }
    }
    match regex_syntax::ParserBuilder::new().utf8(false).build().parse(src) {
        Ok(hir) => newline_last(&hir),
        Err(_) => false,
    }
}

fn examples(ctx: &mut Ctx<'_>, node: &Node) -> Vec<Example> {
    let Some(items) = node.as_seq() else {
        ctx.err(node.span.clone(), "examples must be a list");
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in items {
        if let Some(s) = item.as_str() {
            out.push(Example { path: "example.txt".into(), content: s.to_owned() });
        } else if item.as_map().is_some() {
            let path = item.get("path").and_then(|n| ctx.string(n, "path"));
            let content = item.get("content").and_then(|n| ctx.string(n, "content"));
            match (path, content) {
                (Some(path), Some(content)) => out.push(Example { path, content }),
                _ => ctx
                    .err(item.span.clone(), "an example is a string or a mapping with `path` and `content`"),
            }
        } else {
            ctx.err(item.span.clone(), "an example is a string or a mapping with `path` and `content`");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_regex_and_unknown_key_point_into_the_file() {
        let text = "rules:\n  - id: my/rule\n    title: T\n    colour: red\n    keywords: [abcd]\n    regex: '(unclosed'\n    docs: {what: a, why: b, fix: c}\n    examples: {hit: [abcd]}\n";
        let errors = parse_rule_file("x.yaml", text).unwrap_err();
        let msgs: Vec<_> = errors.iter().map(|e| (e.message.as_str(), &text[e.span.clone()])).collect();
        assert!(msgs.iter().any(|(m, s)| m.starts_with("unknown key `…`") && *s == "colour"), "{msgs:?}");
        assert!(
            msgs.iter().any(|(m, s)| *m == "invalid regex: unclosed group" && *s == "'(unclosed'"),
            "{msgs:?}"
        );
    }

    #[test]
    fn line_scope_needs_a_one_line_regex() {
        for src in [
            r"(?i)token[a-z]*[ \t]*:[ \t]*([a-z0-9]{8,})(?:[^a-z0-9]|$)",
            r"\b(ghp_[A-Za-z0-9]{36})\b",
            r"key: (\S+)(?:[ \t]*[,;\r\n])",
            r"(?m)^password=(\w+)$",
        ] {
            assert!(line_local(src), "{src}");
        }
        for src in
            [r"-----BEGIN[\s\S]*END", r"a\nb", r"(?s)a.b", r"a(?:\n|x)+", r"\s*password", r"^password=(\w+)"]
        {
            assert!(!line_local(src), "{src}");
        }
        let rule = |scope: &str, regex: &str| {
            format!(
                "rules:\n  - id: my/rule\n    title: T\n    keywords: [abcd]\n    regex: '{regex}'\n    scope: {scope}\n    docs: {{what: a, why: b, fix: c}}\n    examples: {{hit: [abcd]}}\n"
            )
        };
        let rules = parse_rule_file("x.yaml", &rule("line", "abcd[a-z]*")).unwrap();
        assert!(rules[0].line_scoped);
        assert!(!parse_rule_file("x.yaml", &rule("file", "abcd\\s+x")).unwrap()[0].line_scoped);
        let errors = parse_rule_file("x.yaml", &rule("line", "abcd\\s+x")).unwrap_err();
        assert!(errors[0].message.starts_with("a rule with `scope` line needs a regex"), "{errors:?}");
        let errors = parse_rule_file("x.yaml", &rule("page", "abcd")).unwrap_err();
        assert_eq!(errors[0].message, "`scope` must be file, line or key");
    }
}
