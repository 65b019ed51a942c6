//! The verdict of a config set on a path: whether the file is a config, whether no sops check can
//! find anything in it (inert, so a scan of many versions or names of a blob may reuse one
//! result), or which creation rule the checks run with. What the file's name says
//! ([`is_sops_named`]) and what its bytes say ([`ContentMemo`], [`may_hold_metadata`]) are
//! worked out here; [`super::config`] parses `.sops.yaml` and selects the rule, and
//! [`super::check`] runs the checks a verdict calls for.

use super::config::{ConfigSet, Selection};
use super::store::StoreKind;
use super::tree::EncryptionRule;

/// How a config set judges one file (see [`ConfigSet::verdict`]).
#[derive(Clone, Copy)]
pub(crate) enum Verdict<'a> {
    /// The file is a config: its findings come from its own parse.
    Config,
    /// No sops check can find anything in it.
    Inert,
    /// The checks run with this creation rule.
    Selected(Selection<'a>),
}

impl Verdict<'_> {
    /// Whether scanning a blob under one set tells what it gives under the other: both find
    /// nothing, or both select the same creation rule of a config at the same path (or none,
    /// for the same reason). Never for a config.
    pub(crate) fn same(&self, other: &Verdict<'_>) -> bool {
        match (self, other) {
            (Verdict::Inert, Verdict::Inert) => true,
            (Verdict::Selected(a), Verdict::Selected(b)) => match (a, b) {
                (Selection::NoConfig, Selection::NoConfig) | (Selection::Broken, Selection::Broken) => true,
                (Selection::NoMatch(a), Selection::NoMatch(b)) => a.path == b.path,
                (Selection::Rule(a, ra), Selection::Rule(b, rb)) => a.path == b.path && ra.same_as(rb),
                _ => false,
            },
            _ => false,
        }
    }
}

/// What a verdict needs to know about a path under one config set (see [`ConfigSet::facts`]):
/// the same for every blob at that path, so a scan of many versions of a file works it out once.
#[derive(Clone, Copy)]
pub(crate) struct PathFacts<'a> {
    /// The path is a config of the set.
    config: bool,
    kind: StoreKind,
    /// Named like sops output (`is_sops_named`).
    named: bool,
    selection: Selection<'a>,
}

impl<'a> PathFacts<'a> {
    /// [`ConfigSet::verdict`] on a file at this path with these bytes.
    pub(crate) fn verdict(&self, data: &[u8], strict: bool, memo: &mut ContentMemo) -> Verdict<'a> {
        if self.config {
            return Verdict::Config;
        }
        if is_inert(self.named, self.kind, data, &self.selection, strict, memo) {
            Verdict::Inert
        } else {
            Verdict::Selected(self.selection)
        }
    }
}

impl ConfigSet {
    /// How the sops checks judge the file at `path` with these bytes under this set, for
    /// telling whether two sets judge it alike (see [`Verdict::same`]).
    pub(crate) fn verdict(
        &self,
        path: &str,
        data: &[u8],
        strict: bool,
        memo: &mut ContentMemo,
    ) -> Verdict<'_> {
        self.facts(path).verdict(data, strict, memo)
    }

    /// What a verdict needs to know about `path` under this set, whatever the file's bytes.
    pub(crate) fn facts(&self, path: &str) -> PathFacts<'_> {
        let config = self.judges_as_config(path);
        PathFacts {
            config,
            kind: StoreKind::for_path(path),
            named: is_sops_named(path),
            selection: if config { Selection::NoConfig } else { self.select(path) },
        }
    }
}

/// Whether [`check_file`](super::check_file) finds nothing in this file once the creation rule that applies to it
/// is known, still without parsing it: a file with no sops metadata and no sops name is only
/// checked for plaintext values when a rule with a `path_regex` selects it, and then only when
/// that rule's encryption rule may encrypt one of its values and (unless `strict`) it is not
/// made only of Kubernetes objects other than `Secret`s, which the check skips.
/// `named` and `kind` are what the file's name says ([`is_sops_named`], [`StoreKind::for_path`]).
pub(crate) fn is_inert(
    named: bool,
    kind: StoreKind,
    data: &[u8],
    selection: &Selection<'_>,
    strict: bool,
    memo: &mut ContentMemo,
) -> bool {
    if memo.holds_metadata(data) || named {
        return false;
    }
    let Selection::Rule(_, rule) = selection else { return true };
    if !rule.has_path_regex {
        return true;
    }
    if kind == StoreKind::Binary {
        return false;
    }
    if !rule.rule.as_ref().is_none_or(|e| memo.may_encrypt_in(e, data)) {
        return true;
    }
    !strict && kind == StoreKind::Yaml && memo.only_other_manifests(data)
}

/// What is known about one file's bytes, whatever its name and config: worked out once when
/// a blob is judged under several names and config sets.
#[derive(Default)]
pub(crate) struct ContentMemo {
    holds_metadata: Option<bool>,
    other_manifests: Option<bool>,
    /// `may_encrypt_in` per compiled encryption rule (by address).
    encrypts: Vec<(usize, bool)>,
}

impl ContentMemo {
    fn holds_metadata(&mut self, data: &[u8]) -> bool {
        *self.holds_metadata.get_or_insert_with(|| may_hold_metadata(data))
    }

    fn only_other_manifests(&mut self, data: &[u8]) -> bool {
        *self.other_manifests.get_or_insert_with(|| crate::detect::k8s::only_other_manifests(data))
    }

    fn may_encrypt_in(&mut self, rule: &EncryptionRule, data: &[u8]) -> bool {
        let key = rule.compiled_id();
        if let Some(&(_, v)) = self.encrypts.iter().find(|(k, _)| *k == key) {
            return v;
        }
        let v = rule.may_encrypt_in(data);
        self.encrypts.push((key, v));
        v
    }
}

/// Whether `data` may hold sops metadata in any store: a `sops` key (YAML, JSON, binary), a
/// `[sops]` section (INI) or a `sops_` key (dotenv). A cheap superset of what the stores find,
/// so that files which only mention sops (`provider: sops` in a Flux Kustomization, a README)
/// are not parsed up to four times for nothing.
///
/// An occurrence of `sops` counts when, on its line, it is preceded only by white space, quotes,
/// flow indicators (`{`, `,`, `[`, `?`), tags and anchors, and followed (after an optional
/// quote and white space) by `:` or `]`, or directly by `_`. Keys spelled with escape sequences
/// or reached through an alias are not recognised; sops never writes them.
pub(crate) fn may_hold_metadata(data: &[u8]) -> bool {
    static SOPS: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"sops"));
    SOPS.find_iter(data).any(|at| match key_before(data, at) {
        Some(Before::Explicit) => true,
        Some(Before::Key) => key_after(data, at + 4),
        None => false,
    })
}

enum Before {
    /// Line start or a flow indicator: a key if `:` follows.
    Key,
    /// After `?`: an explicit key, whose `:` may come on a later line.
    Explicit,
}

fn key_before(data: &[u8], at: usize) -> Option<Before> {
    let mut i = at;
    let skip_blank = |i: &mut usize| {
        while *i > 0 && matches!(data[*i - 1], b' ' | b'\t') {
            *i -= 1;
        }
    };
    if i > 0 && matches!(data[i - 1], b'"' | b'\'') {
        i -= 1;
    }
    loop {
        skip_blank(&mut i);
        if i == 0 {
            return Some(Before::Key);
        }
        match data[i - 1] {
            b'\n' | b'\r' | b'{' | b',' | b'[' => return Some(Before::Key),
            b'?' => return Some(Before::Explicit),
            _ => {}
        }
        // A tag or an anchor (`!!str sops:`, `&m sops:`) in front of the key: skip it.
        let mut start = i;
        while start > 0 && !matches!(data[start - 1], b' ' | b'\t' | b'\n' | b'\r') {
            start -= 1;
        }
        if start < i && matches!(data[start], b'!' | b'&') && start + 1 < i {
            i = start;
            continue;
        }
        return None;
    }
}

fn key_after(data: &[u8], mut i: usize) -> bool {
    if data.get(i) == Some(&b'_') {
        return true;
    }
    if matches!(data.get(i), Some(b'"' | b'\'')) {
        i += 1;
    }
    while matches!(data.get(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    matches!(data.get(i), Some(b':' | b']'))
}

/// Whether a file's name says it holds sops output: `*.sops.*`, `*.enc.*`, `sops.env` (the
/// `.sops.yaml` config itself excluded).
pub(crate) fn is_sops_named(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    if name == "sops.env" {
        return true;
    }
    // `<stem>.sops.<ext>` / `<stem>.enc.<ext>`: a non-empty stem before the marker.
    if ![".sops.", ".enc."].iter().any(|m| name.find(m).is_some_and(|i| i > 0 && name.len() > i + m.len())) {
        return false;
    }
    // Templates that render to a sops file (`secret.sops.yaml.j2`) are inputs of a generator, not
    // sops output: they are plaintext by design.
    const TEMPLATE_EXT: &[&str] =
        &[".j2", ".jinja", ".jinja2", ".tmpl", ".tpl", ".template", ".gotmpl", ".example", ".sample"];
    !TEMPLATE_EXT.iter().any(|t| {
        name.len() >= t.len() && name.as_bytes()[name.len() - t.len()..].eq_ignore_ascii_case(t.as_bytes())
    })
}
