//! `--staged`: the blobs that the next commit would add or change, read from the index.
//!
//! The index holds the exact blob of every path as staged, so the working-tree copy never
//! matters: a secret that was staged and then deleted from the file is still found, and a secret
//! only in the working tree is not. Only entries whose blob differs from `HEAD` are scanned
//! (everything before the first commit). The cache-tree extension lets whole unchanged
//! directories be skipped without comparing their entries, which keeps the cost close to
//! `git diff --cached` on large repositories.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::Path;

use gix::bstr::{BStr, ByteSlice};
use gix::objs::tree::EntryKind;
use gix::ObjectId;

use super::blobs::{self, Variant, Wanted};
use super::configs::Configs;
use super::util::{self, is_blob, is_sops_config, one_line, Entry, TreeReader};
use super::{GitError, GitOptions};
use crate::finding::Provenance;
use crate::scan::{Engine, ScanReport};
use crate::source::Problem;

pub(crate) fn scan(engine: &Engine, start: &Path, opts: &GitOptions) -> Result<ScanReport, GitError> {
    let safe = util::open(start)?;
    let repo = safe.to_thread_local();
    if repo.workdir().is_none() {
        return Err(GitError::Bare { path: repo.git_dir().to_owned() });
    }
    // The index's trailing checksum is not verified (hashing a large index costs more than the
    // rest of a typical pre-commit scan); a damaged index still fails to decode.
    let index = gix::index::File::at_or_default(
        repo.index_path(),
        repo.object_hash(),
        true,
        gix::index::decode::Options::default(),
    )
    .map_err(|e| GitError::Index { path: start.to_owned(), message: one_line(&e) })?;
    let mut report = ScanReport::default();
    let head_tree: Option<ObjectId> = match repo.head_tree_id_or_empty() {
        Ok(id) => Some(id.detach()).filter(|id| !id.is_empty_tree()),
        Err(e) => {
            report.problems.push(Problem {
                path: "HEAD".into(),
                message: format!("cannot read HEAD ({}); every staged file is scanned", one_line(&e)),
            });
            None
        }
    };
    let reader = TreeReader::new(&repo);
    let mut head = HeadTree { reader: &reader, root: head_tree, dirs: BTreeMap::new(), errors: Vec::new() };

    // Entries under directories that the cache-tree proves unchanged since HEAD are skipped.
    let mut unchanged: Vec<Range<usize>> = Vec::new();
    if let (Some(cache), Some(root)) = (index.tree(), head_tree) {
        cache_tree_unchanged(&index, &reader, cache, Some(root), "", &mut unchanged);
    }
    unchanged.sort_by_key(|r| r.start);

    let entries = index.entries();
    let mut changed: Vec<usize> = Vec::new();
    let mut configs_in_index: Vec<(String, ObjectId)> = Vec::new();
    let mut changed_configs: Vec<String> = Vec::new();
    let mut skip = unchanged.iter().peekable();
    let mut i = 0;
    while i < entries.len() {
        if let Some(r) = skip.peek() {
            if r.start <= i {
                if i < r.end {
                    // Configs are needed even in unchanged directories.
                    for e in &entries[i..r.end] {
                        let path = e.path(&index);
                        if path.ends_with(util::SOPS_CONFIG) && e.stage_raw() == 0 {
                            let p = path.to_str_lossy();
                            if is_sops_config(&p) {
                                configs_in_index.push((p.into_owned(), e.id));
                            }
                        }
                    }
                    i = r.end;
                }
                skip.next();
                continue;
            }
        }
        let e = &entries[i];
        let path = e.path(&index);
        let path_str = path.to_str_lossy().into_owned();
        i += 1;
        if e.stage_raw() == 1 {
            continue; // the merge base of a conflict: already committed
        }
        if e.flags.contains(gix::index::entry::Flags::INTENT_TO_ADD) || e.mode.is_sparse() {
            continue;
        }
        if e.mode.is_submodule() {
            if head.lookup(&path_str).map(|h| h.id) != Some(e.id) {
                report.notes.push(format!(
                    "submodule `{path_str}` skipped: its content lives in another repository (scan it there)"
                ));
            }
            continue;
        }
        if is_sops_config(&path_str) && e.stage_raw() != 3 {
            configs_in_index.push((path_str.clone(), e.id));
        }
        let same = match head.lookup(&path_str) {
            Some(h) => h.id == e.id && is_blob(h.kind),
            None => false,
        };
        if !same {
            if is_sops_config(&path_str) {
                changed_configs.push(path_str.clone());
            }
            changed.push(i - 1);
        }
    }
    for msg in head.problems() {
        report.problems.push(Problem { path: "HEAD".into(), message: msg });
    }

    // A staged .sops.yaml can change the coverage of files that are not staged themselves.
    for config in &changed_configs {
        let dir = config.strip_suffix(".sops.yaml").unwrap_or("");
        if let Some(r) = index.prefixed_entries_range(BStr::new(dir.as_bytes())) {
            changed.extend(r.filter(|&j| {
                let e = &entries[j];
                e.stage_raw() != 1 && !e.mode.is_submodule() && !e.mode.is_sparse()
            }));
        }
    }
    changed.sort_unstable();
    changed.dedup();

    configs_in_index.sort();
    configs_in_index.dedup_by(|a, b| a.0 == b.0);
    let mut configs = Configs::new(opts.sops_config_override.as_ref());
    let read = |id: ObjectId| util::read_object(&repo, id);
    let cfg = configs.intern(&configs_in_index, &read, &mut report.problems);

    let pairs = changed
        .iter()
        .map(|&j| {
            let e = &entries[j];
            (e.id, Variant { path: e.path(&index).to_str_lossy().into_owned(), cfg, tag: 0 })
        })
        .collect();
    let wanted = Wanted::from_pairs(pairs);
    let (wanted, outcome) = blobs::scan_wanted(engine, &safe, None, wanted, &configs, opts, None);
    for mut s in outcome.scanned {
        let blob = wanted.groups[s.group as usize].id.to_string();
        for f in &mut s.result.findings {
            f.provenance = Some(Provenance {
                source: "index".into(),
                blob: Some(blob.clone()),
                ..Provenance::default()
            });
        }
        report.add(s.bytes, s.result);
    }
    report.skipped.extend(outcome.skipped);
    report.problems.extend(outcome.problems);
    report.sort();
    Ok(report)
}

/// Walks the cache-tree alongside HEAD's tree and records the index ranges of directories whose
/// cached tree id equals HEAD's: nothing below them is staged.
fn cache_tree_unchanged(
    index: &gix::index::State,
    reader: &TreeReader<'_>,
    node: &gix::index::extension::Tree,
    head: Option<ObjectId>,
    prefix: &str,
    out: &mut Vec<Range<usize>>,
) {
    let Some(head) = head else { return };
    if node.num_entries.is_some() && node.id == head {
        let range = if prefix.is_empty() {
            Some(0..index.entries().len())
        } else {
            index.prefixed_entries_range(BStr::new(format!("{prefix}/").as_bytes()))
        };
        out.extend(range);
        return;
    }
    if node.children.is_empty() {
        return;
    }
    let Ok(head_entries) = reader.entries(head) else { return };
    for child in &node.children {
        let sub = head_entries
            .iter()
            .find(|e| e.name == child.name.as_slice() && e.kind == EntryKind::Tree)
            .map(|e| e.id);
        let name = String::from_utf8_lossy(&child.name);
        let path = if prefix.is_empty() { name.into_owned() } else { format!("{prefix}/{name}") };
        cache_tree_unchanged(index, reader, child, sub, &path, out);
    }
}

/// HEAD's tree, read directory by directory as paths are looked up.
struct HeadTree<'a, 'r> {
    reader: &'a TreeReader<'r>,
    root: Option<ObjectId>,
    /// Directory path → its entries by name (`None`: not a directory in HEAD).
    dirs: BTreeMap<String, Option<HashMap<Vec<u8>, Entry>>>,
    errors: Vec<String>,
}

impl HeadTree<'_, '_> {
    fn dir(&mut self, dir: &str) -> Option<&HashMap<Vec<u8>, Entry>> {
        if !self.dirs.contains_key(dir) {
            let id = if dir.is_empty() {
                self.root
            } else {
                let (parent, name) = dir.rsplit_once('/').unwrap_or(("", dir));
                self.dir(parent)
                    .and_then(|entries| entries.get(name.as_bytes()))
                    .filter(|e| e.kind == EntryKind::Tree)
                    .map(|e| e.id)
            };
            let value = id.and_then(|id| match self.reader.entries(id) {
                Ok(entries) => Some(entries.iter().map(|e| (e.name.clone(), e.clone())).collect()),
                Err(message) => {
                    self.errors.push(message);
                    None
                }
            });
            self.dirs.insert(dir.to_owned(), value);
        }
        self.dirs.get(dir).and_then(Option::as_ref)
    }

    fn lookup(&mut self, path: &str) -> Option<Entry> {
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        self.dir(dir)?.get(name.as_bytes()).cloned()
    }

    fn problems(&self) -> Vec<String> {
        let mut v = self.errors.clone();
        v.sort();
        v.dedup();
        v
    }
}
