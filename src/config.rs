//! `.sopsguard.toml`: path excludes, per-rule severity and disabling, the file size cap, an extra
//! rules directory and the default baseline file.
//!
//! Discovery: the nearest `.sopsguard.toml` in the scan root or a parent directory, stopping at the
//! repository root (the first directory with a `.git`). `--config FILE` names one explicitly and
//! `--isolated` ignores every file. Precedence: built-in defaults < the file < command-line flags.
//!
//! The file is parsed with spans (`toml::de::DeTable`) and then validated, so every problem (a TOML
//! syntax error, an unknown key, a value of the wrong type, a bad glob, an unknown rule id, a rule
//! file in the rules directory with a bad regex) is a diagnostic that points into the file.
//!
//! ```toml
//! exclude = ["vendor/", "docs/examples/**"]   # gitignore syntax, relative to this file
//! max-file-size = "5M"                        # or a number of bytes
//! rules-dir = "ci/sopsguard-rules"            # *.yaml rule files, same format as rules/
//! baseline = ".sopsguard-baseline.json"       # used when --baseline is not given
//!
//! [rules]
//! "age/identity-malformed" = "error"          # error | warning | note | off
//! "file/decrypted-copy" = "off"
//! ```

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Component, Path, PathBuf};

use miette::{Diagnostic, NamedSource};
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::finding::Severity;
use crate::rules::{Registry, RuleError};
use crate::scan::{Engine, ScanOptions, ScanReport};
use crate::sops::Identities;

/// The file name looked for.
pub const FILE_NAME: &str = ".sopsguard.toml";

/// The default `--max-file-size` (`max-file-size` in `.sopsguard.toml`): larger files and blobs are
/// skipped and listed.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 10 << 20;

/// The largest `.sopsguard.toml`, rule file or baseline read.
pub const MAX_CONFIG_SIZE: u64 = 16 << 20;

const KEYS: &[&str] = &["exclude", "max-file-size", "rules-dir", "baseline", "fixtures", "rules"];

/// Directory names that hold third-party or test material (vendored code, test fixtures): a
/// finding under one is marked `fixture` and capped at the `fixtures` severity.
pub const FIXTURE_DIRS: &[&str] =
    &["tests", "test", "testdata", "__tests__", "fixtures", "__fixtures__", "vendor", "node_modules"];

/// Whether a finding's path lies under a fixture directory ([`FIXTURE_DIRS`]). Archive members
/// (`a.zip!tests/k.pem`) count by their path inside the archive too.
pub fn is_fixture_path(path: &str) -> bool {
    let mut parts: Vec<&str> = path.split(['/', '\\', '!']).collect();
    // The last part is the file name.
    parts.pop();
    parts.iter().any(|p| FIXTURE_DIRS.iter().any(|d| p.eq_ignore_ascii_case(d)))
}

/// One problem in the configuration, pointing into it.
#[derive(Clone, Debug, thiserror::Error, Diagnostic)]
#[error("{message}")]
#[diagnostic(code(sopsguard::config))]
pub struct ConfigProblem {
    /// What is wrong.
    pub message: String,
    /// Where, in bytes.
    #[label("{label}")]
    pub span: Range<usize>,
    /// The label text.
    pub label: String,
    /// The file.
    #[source_code]
    pub source_code: NamedSource<String>,
    /// What to do about it.
    #[help]
    pub help: Option<String>,
}

/// Why the configuration could not be used. Fatal: exit code 2.
#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {message}")]
    #[diagnostic(code(sopsguard::config))]
    Read {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// The file has problems.
    #[error("{path}: {} problem{} in the configuration", problems.len(), if problems.len() == 1 { "" } else { "s" })]
    #[diagnostic(code(sopsguard::config), help("see docs/integrations.md for every key"))]
    Invalid {
        /// The file.
        path: String,
        /// Every problem found, in file order.
        #[related]
        problems: Vec<ConfigProblem>,
    },
    /// A rule file in the rules directory has problems.
    #[error("{dir}: {} problem{} in the rule files", errors.len(), if errors.len() == 1 { "" } else { "s" })]
    #[diagnostic(code(sopsguard::rules_dir))]
    Rules {
        /// The rules directory.
        dir: String,
        /// Every problem, each pointing into its rule file.
        #[related]
        errors: Vec<RuleError>,
    },
}

impl ConfigError {
    /// The problem messages (for tests and for callers that want a flat list).
    pub fn messages(&self) -> Vec<String> {
        match self {
            ConfigError::Read { message, .. } => vec![message.clone()],
            ConfigError::Invalid { problems, .. } => problems.iter().map(|p| p.message.clone()).collect(),
            ConfigError::Rules { errors, .. } => errors.iter().map(|e| e.to_string()).collect(),
        }
    }
}

pub use crate::rules::RuleSetting;

/// The effective configuration. `Settings::default()` is "no configuration file".
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// The file these settings came from.
    pub file: Option<PathBuf>,
    /// The directory relative settings are resolved against (the file's directory).
    pub dir: PathBuf,
    /// Exclude patterns (gitignore syntax, relative to `dir`).
    pub excludes: Vec<String>,
    /// The file size cap.
    pub max_file_size: Option<u64>,
    /// The extra rules directory (absolute).
    pub rules_dir: Option<PathBuf>,
    /// The default baseline file (absolute).
    pub baseline: Option<PathBuf>,
    /// `fixtures`: the highest severity of a finding under a fixture directory (default: note).
    pub fixtures: Option<Severity>,
    /// `[rules]`, by rule id.
    pub rules: BTreeMap<String, RuleSetting>,
    /// Spans of the `[rules]` keys, to point at unknown ids.
    rule_spans: BTreeMap<String, Range<usize>>,
    /// The file's display name and text, for diagnostics found after parsing.
    source: Option<(String, String)>,
    excluder: Option<ignore::gitignore::Gitignore>,
}

struct Validator<'a> {
    name: &'a str,
    text: &'a str,
    /// The text as diagnostics show it, made on the first problem.
    masked: Option<String>,
    problems: Vec<ConfigProblem>,
}

/// Words of the configuration format that diagnostics may show (see [`crate::masked`]): its keys,
/// its values' keywords and rule ids. Everything else in the file is masked.
fn vocabulary(word: &str) -> bool {
    let word = word.trim_matches(|c| c == '"' || c == '\'');
    // A near miss of a key is a typo, worth quoting (`exclud`).
    KEYS.iter().any(|k| distance(word, k) <= 2)
        || matches!(word, "error" | "warning" | "note" | "off" | "true" | "false")
        || builtin_ids().iter().any(|id| id == word || (word.contains('/') && distance(word, id) <= 2))
}

fn builtin_ids() -> &'static [String] {
    static IDS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    IDS.get_or_init(|| Registry::builtin().rules().iter().map(|r| r.id.clone()).collect())
}

/// The file's text as diagnostics show it.
fn masked_text(text: &str) -> String {
    crate::masked::mask_source(text, &vocabulary)
}

fn scrub(message: &str) -> String {
    crate::masked::scrub_quotes(message, &vocabulary)
}

impl Validator<'_> {
    fn problem(&mut self, span: Range<usize>, message: impl Into<String>, label: &str, help: Option<String>) {
        if self.masked.is_none() {
            self.masked = Some(masked_text(self.text));
        }
        self.problems.push(ConfigProblem {
            message: scrub(&message.into()),
            span,
            label: label.to_owned(),
            source_code: NamedSource::new(self.name, self.masked.clone().unwrap_or_default()),
            help: help.map(|h| scrub(&h)),
        });
    }

    fn string<'v>(&mut self, key: &str, value: &'v Spanned<DeValue<'_>>) -> Option<&'v str> {
        match value.get_ref() {
            DeValue::String(s) => Some(s.as_ref()),
            other => {
                self.problem(
                    value.span(),
                    format!("`{key}` must be a string, not {}", other.type_str()),
                    "expected a string",
                    None,
                );
                None
            }
        }
    }
}

/// Parses `10M`, `512K`, `1G`, `10MiB` or a number of bytes.
pub fn parse_size(s: &str) -> Option<u64> {
    let lower = s.trim().to_ascii_lowercase();
    const SUFFIXES: &[(&str, u64)] = &[
        ("gib", 1 << 30),
        ("mib", 1 << 20),
        ("kib", 1 << 10),
        ("gb", 1 << 30),
        ("mb", 1 << 20),
        ("kb", 1 << 10),
        ("g", 1 << 30),
        ("m", 1 << 20),
        ("k", 1 << 10),
        ("b", 1),
    ];
    let (num, mult) = SUFFIXES
        .iter()
        .find_map(|(suf, m)| lower.strip_suffix(suf).map(|n| (n.trim().to_owned(), *m)))
        .unwrap_or((lower.clone(), 1));
    num.parse::<u64>().ok().and_then(|n| n.checked_mul(mult))
}

/// Levenshtein distance, for "did you mean".
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    candidates
        .into_iter()
        .map(|c| (distance(word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min()
        .map(|(_, c)| format!("did you mean `{c}`?"))
}

/// Lexically normalises a path (`a/./b/../c` → `a/c`), without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

fn absolute(path: &Path) -> PathBuf {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    let normal = normalize(&joined);
    std::fs::canonicalize(&normal).unwrap_or(normal)
}

/// How diagnostics name a file: relative to the current directory when it is under it.
fn display_path(file: &Path) -> String {
    let abs = absolute(file);
    match std::env::current_dir()
        .ok()
        .map(|cwd| absolute(&cwd))
        .and_then(|cwd| abs.strip_prefix(cwd).ok().map(Path::to_path_buf))
    {
        Some(rel) if !rel.as_os_str().is_empty() => rel.display().to_string(),
        _ => file.display().to_string(),
    }
}

impl Settings {
    /// The nearest `.sopsguard.toml` at or above `start`, up to the repository root.
    pub fn discover(start: &Path) -> Option<PathBuf> {
        let start = absolute(start);
        let mut dir = if start.is_dir() { start.as_path() } else { start.parent()? };
        loop {
            let candidate = dir.join(FILE_NAME);
            if candidate.is_file() {
                return Some(candidate);
            }
            if dir.join(".git").exists() {
                return None;
            }
            dir = dir.parent()?;
        }
    }

    /// Loads the configuration for a scan rooted at `start`: the file named by `explicit`, else the
    /// discovered one, else none. `isolated` ignores every file.
    pub fn load(explicit: Option<&Path>, isolated: bool, start: &Path) -> Result<Settings, ConfigError> {
        if isolated {
            return Ok(Settings { dir: absolute(Path::new(".")), ..Settings::default() });
        }
        let Some(file) = explicit.map(Path::to_path_buf).or_else(|| Settings::discover(start)) else {
            return Ok(Settings { dir: absolute(Path::new(".")), ..Settings::default() });
        };
        let display = display_path(&file);
        let read = match explicit {
            // Named on the command line: the user's own file, links followed.
            Some(_) => crate::fsread::read_regular(&file, MAX_CONFIG_SIZE),
            // Found in the repository: never through a link that leaves it.
            None => {
                crate::fsread::read_confined(&file, &crate::fsread::repository_of(start), MAX_CONFIG_SIZE)
            }
        };
        let bytes = read.map_err(|e| ConfigError::Read { path: display.clone(), message: e.to_string() })?;
        let text = String::from_utf8(bytes)
            .map_err(|_| ConfigError::Read { path: display.clone(), message: "not valid UTF-8".into() })?;
        let abs = absolute(&file);
        let dir = abs.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut settings = Settings::parse(&display, &dir, &text)?;
        settings.file = Some(file);
        Ok(settings)
    }

    /// Parses and validates the text of a configuration file. `name` is how diagnostics name it and
    /// `dir` is what relative paths in it are relative to.
    pub fn parse(name: &str, dir: &Path, text: &str) -> Result<Settings, ConfigError> {
        let mut v = Validator { name, text, masked: None, problems: Vec::new() };
        let mut settings = Settings {
            dir: dir.to_path_buf(),
            source: Some((name.to_owned(), masked_text(text))),
            ..Settings::default()
        };
        let (root, errors) = DeTable::parse_recoverable(text);
        for e in errors {
            let span = e.span().unwrap_or(0..0);
            v.problem(span, format!("invalid TOML: {}", e.message().trim()), "here", None);
        }
        for (key, value) in root.get_ref().iter() {
            let k: &str = key.get_ref().as_ref();
            match k {
                "exclude" => settings.excludes = parse_excludes(&mut v, value),
                "max-file-size" => match value.get_ref() {
                    DeValue::Integer(i) => match i.as_str().replace('_', "").parse::<u64>() {
                        Ok(n) if i.radix() == 10 => settings.max_file_size = Some(n),
                        _ => v.problem(
                            value.span(),
                            "`max-file-size` must be a positive number of bytes",
                            "here",
                            None,
                        ),
                    },
                    DeValue::String(s) => match parse_size(s) {
                        Some(n) => settings.max_file_size = Some(n),
                        None => v.problem(
                            value.span(),
                            format!("`{s}` is not a size"),
                            "not a size",
                            Some("examples: 1048576, \"512K\", \"10M\", \"1G\"".into()),
                        ),
                    },
                    other => v.problem(
                        value.span(),
                        format!("`max-file-size` must be a size, not {}", other.type_str()),
                        "expected a size",
                        Some("examples: 1048576, \"512K\", \"10M\", \"1G\"".into()),
                    ),
                },
                "rules-dir" => {
                    if let Some(s) = v.string(k, value) {
                        let path = normalize(&dir.join(s));
                        if path.is_dir() {
                            settings.rules_dir = Some(path);
                        } else {
                            v.problem(
                                value.span(),
                                format!("rules directory `{s}` does not exist"),
                                "not a directory",
                                Some(format!("paths are relative to the directory of {name}")),
                            );
                        }
                    }
                }
                "baseline" => {
                    if let Some(s) = v.string(k, value) {
                        settings.baseline = Some(normalize(&dir.join(s)));
                    }
                }
                "fixtures" => {
                    if let Some(word) = v.string(k, value) {
                        match Severity::parse(word) {
                            Some(sev) => settings.fixtures = Some(sev),
                            None => v.problem(
                                value.span(),
                                "`fixtures` must be error, warning or note",
                                "here",
                                Some(
                                    "error reports fixtures like any other file; the default is note".into(),
                                ),
                            ),
                        }
                    }
                }
                "rules" => parse_rules(&mut v, value, &mut settings),
                _ => v.problem(
                    key.span(),
                    format!("unknown key `{k}`"),
                    "unknown key",
                    Some(match did_you_mean(k, KEYS.iter().copied()) {
                        Some(m) => format!("{m} (known keys: {})", KEYS.join(", ")),
                        None => format!("known keys: {}", KEYS.join(", ")),
                    }),
                ),
            }
        }
        if !settings.excludes.is_empty() {
            let mut b = ignore::gitignore::GitignoreBuilder::new(dir);
            for pat in &settings.excludes {
                // Already validated one by one.
                let _ = b.add_line(None, pat);
            }
            settings.excluder = b.build().ok();
        }
        if v.problems.is_empty() {
            Ok(settings)
        } else {
            v.problems.sort_by_key(|p| (p.span.start, p.span.end));
            Err(ConfigError::Invalid { path: name.to_owned(), problems: v.problems })
        }
    }

    /// The built-in rules, plus the rules directory, with `[rules]` configured (see
    /// [`Registry::decide`], the one place severity and disabling are decided). Checks that every
    /// rule named in `[rules]` exists.
    pub fn registry(&self) -> Result<Registry, ConfigError> {
        let mut registry = Registry::builtin();
        if let Some(dir) = &self.rules_dir {
            let root = crate::fsread::repository_of(&self.dir);
            let files = read_rule_files(dir, &root)
                .map_err(|message| ConfigError::Read { path: dir.display().to_string(), message })?;
            let errors = registry.extend_from_files(&files);
            if !errors.is_empty() {
                return Err(ConfigError::Rules { dir: dir.display().to_string(), errors });
            }
        }
        let mut problems = Vec::new();
        for (id, setting) in &self.rules {
            if registry.get(id).is_none() {
                let (name, text) = self.source.clone().unwrap_or_default();
                let help = did_you_mean(id, registry.rules().iter().map(|r| r.id.as_str()))
                    .unwrap_or_else(|| "`sopsguard rules` lists every rule".to_owned());
                problems.push(ConfigProblem {
                    message: scrub(&format!("unknown rule `{id}`")),
                    span: self.rule_spans.get(id).cloned().unwrap_or(0..0),
                    label: "no such rule".into(),
                    source_code: NamedSource::new(name, text),
                    help: Some(help),
                });
            } else {
                registry.configure(id, *setting);
            }
        }
        if !problems.is_empty() {
            let path = self.source.as_ref().map(|(n, _)| n.clone()).unwrap_or_default();
            return Err(ConfigError::Invalid { path, problems });
        }
        Ok(registry)
    }

    /// The scan engine for these settings.
    pub fn engine(&self, options: ScanOptions, identities: Identities) -> Result<Engine, ConfigError> {
        Ok(Engine::new(self.registry()?, options, identities))
    }

    /// The exclude patterns to hand to the working-tree walk of `roots`: all of them when every
    /// root is the configuration's directory (they are relative to it), none otherwise (then
    /// [`Settings::apply`] filters afterwards).
    pub fn walk_excludes(&self, roots: &[PathBuf]) -> Vec<String> {
        if self.excludes.is_empty() || roots.is_empty() || roots.iter().any(|r| absolute(r) != self.dir) {
            return Vec::new();
        }
        self.excludes.clone()
    }

    /// Whether `path` (as reported: relative to `base`, or absolute) is excluded.
    pub fn is_excluded(&self, path: &str, base: &Path) -> bool {
        let Some(ex) = &self.excluder else { return false };
        let abs = normalize(&base.join(path));
        let Ok(rel) = abs.strip_prefix(&self.dir) else { return false };
        if rel.as_os_str().is_empty() {
            return false;
        }
        ex.matched_path_or_any_parents(rel, false).is_ignore()
    }

    /// Applies what the scan itself could not: drops findings, skipped files and problems under
    /// excluded paths (git sources and walks rooted elsewhere than the configuration), and marks
    /// and caps findings under fixture directories. (`[rules]` severities and disabling were
    /// decided by the engine, through [`Registry::decide`].) `base` is what
    /// reported relative paths are relative to (the current directory, or the repository root).
    pub fn apply(&self, report: &mut ScanReport, base: &Path) {
        if self.excluder.is_some() {
            let base = absolute(base);
            report.findings.retain(|f| !self.is_excluded(&f.path, &base));
            report.skipped.retain(|s| !self.is_excluded(&s.path, &base));
            report.problems.retain(|p| !self.is_excluded(&p.path, &base));
        }
        let fixture_cap = self.fixtures.unwrap_or(Severity::Note);
        for f in &mut report.findings {
            // Vendored and test material: still reported (a real key can hide there), marked,
            // and below the default `--fail-on`.
            if is_fixture_path(&f.path) {
                f.properties.insert("fixture".into(), serde_json::Value::Bool(true));
                if f.severity > fixture_cap {
                    f.message.push_str(&format!(
                        " (a fixture: under a test or vendored directory, so a {} instead of {} {}; `fixtures` in .sopsguard.toml changes that)",
                        fixture_cap.as_str(),
                        if f.severity == Severity::Error { "an" } else { "a" },
                        f.severity.as_str()
                    ));
                    f.severity = fixture_cap;
                }
            }
        }
    }
}

fn parse_excludes(v: &mut Validator<'_>, value: &Spanned<DeValue<'_>>) -> Vec<String> {
    let DeValue::Array(items) = value.get_ref() else {
        v.problem(
            value.span(),
            format!("`exclude` must be a list of patterns, not {}", value.get_ref().type_str()),
            "expected a list",
            Some("for example: exclude = [\"vendor/\", \"**/*.example.yaml\"]".into()),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in items {
        let Some(pat) = v.string("exclude", item) else { continue };
        let mut b = ignore::gitignore::GitignoreBuilder::new("/");
        match b.add_line(None, pat) {
            Ok(_) if !pat.trim().is_empty() && !pat.trim_start().starts_with('#') => out.push(pat.to_owned()),
            Ok(_) => v.problem(item.span(), "an empty pattern (or a comment) excludes nothing", "here", None),
            Err(e) => v.problem(
                item.span(),
                format!("invalid pattern: {}", e.to_string().lines().next().unwrap_or("")),
                "invalid pattern",
                Some("patterns use .gitignore syntax".into()),
            ),
        }
    }
    out
}

fn parse_rules(v: &mut Validator<'_>, value: &Spanned<DeValue<'_>>, settings: &mut Settings) {
    let DeValue::Table(table) = value.get_ref() else {
        v.problem(
            value.span(),
            "`rules` must be a table of rule ids",
            "expected a table",
            Some("for example:\n[rules]\n\"file/decrypted-copy\" = \"off\"".into()),
        );
        return;
    };
    for (key, val) in table.iter() {
        let id: &str = key.get_ref().as_ref();
        let setting = match val.get_ref() {
            DeValue::String(s) => match s.as_ref() {
                "off" => Some(RuleSetting::Off),
                other => Severity::parse(other).map(RuleSetting::Severity),
            },
            DeValue::Boolean(false) => Some(RuleSetting::Off),
            _ => None,
        };
        match setting {
            Some(s) => {
                settings.rules.insert(id.to_owned(), s);
                settings.rule_spans.insert(id.to_owned(), key.span());
            }
            None => {
                v.problem(
                    val.span(),
                    format!("invalid setting for rule `{id}`"),
                    "expected \"error\", \"warning\", \"note\" or \"off\"",
                    None,
                );
            }
        }
    }
}

/// Every `*.yaml` / `*.yml` file in `dir`, sorted, as `(display path, text)`.
/// The files are in the repository (the directory is named by its configuration): none is read
/// through a symbolic link that leaves `root`.
fn read_rule_files(dir: &Path, root: &Path) -> Result<Vec<(String, String)>, String> {
    if !crate::fsread::is_confined(dir, root) {
        return Err(crate::fsread::ReadError::LeavesRepository.to_string());
    }
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| e.kind().to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        .collect();
    paths.sort();
    let mut files = Vec::new();
    for p in paths {
        let bytes = crate::fsread::read_confined(&p, root, MAX_CONFIG_SIZE)
            .map_err(|e| format!("{}: {e}", display_path(&p)))?;
        let text = String::from_utf8(bytes).map_err(|_| format!("{}: not valid UTF-8", display_path(&p)))?;
        files.push((display_path(&p), text));
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<(String, String)> {
        match Settings::parse("t.toml", Path::new("/nonexistent"), text) {
            Ok(_) => Vec::new(),
            Err(ConfigError::Invalid { problems, .. }) => {
                problems.iter().map(|p| (p.message.clone(), text[p.span.clone()].to_owned())).collect()
            }
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10M"), Some(10 << 20));
        assert_eq!(parse_size("512kib"), Some(512 << 10));
        assert_eq!(parse_size("12"), Some(12));
        assert_eq!(parse_size("lots"), None);
    }

    #[test]
    fn every_problem_points_into_the_file() {
        let text = "exclud = [\"a\"]\nmax-file-size = \"huge\"\nexclude = \"vendor\"\n[rules]\n\"age/identity\" = \"loud\"\n";
        let p = problems(text);
        assert_eq!(
            p,
            vec![
                ("unknown key `exclud`".to_owned(), "exclud".to_owned()),
                ("`…` is not a size".to_owned(), "\"huge\"".to_owned()),
                ("`exclude` must be a list of patterns, not string".to_owned(), "\"vendor\"".to_owned()),
                ("invalid setting for rule `age/identity`".to_owned(), "\"loud\"".to_owned()),
            ]
        );
    }

    #[test]
    fn did_you_mean_suggests_close_keys() {
        assert_eq!(did_you_mean("exclud", KEYS.iter().copied()).as_deref(), Some("did you mean `exclude`?"));
        assert_eq!(did_you_mean("zzzzzzzz", KEYS.iter().copied()), None);
    }

    #[test]
    fn excludes_are_relative_to_the_config_directory() {
        let dir = Path::new("/repo");
        let s =
            Settings::parse("t.toml", dir, "exclude = [\"vendor/\", \"/top.yaml\", \"*.bak\"]\n").unwrap();
        assert!(s.is_excluded("vendor/a/b.yaml", dir));
        assert!(s.is_excluded("apps/vendor/x", dir));
        assert!(s.is_excluded("top.yaml", dir));
        assert!(!s.is_excluded("apps/top.yaml", dir));
        assert!(s.is_excluded("x/y.bak", Path::new("/repo/apps")));
        assert!(!s.is_excluded("../elsewhere/vendor/x", dir));
        assert!(!s.is_excluded("apps/ok.yaml", dir));
    }
}
