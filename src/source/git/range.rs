//! `--range BASE..HEAD` and `--since REV`: the blobs that the commits of a range add or change.
//!
//! Each commit is compared with its first parent, descending only into subtrees whose ids
//! differ. A merge keeps a changed path only if its blob also differs from the one in every other
//! parent: what a merge takes unchanged from one side was scanned where it was committed (or is
//! in the base, outside the range), while content that exists only in the merge resolution is
//! new in no parent and is scanned here. Coverage uses the commit's own `.sops.yaml` files; a
//! commit that changes them has every file they govern scanned again under the new rules.
//! A blob seen at the same path under the same configs in several commits is scanned once, and
//! its findings name the earliest of those commits.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use gix::bstr::BStr;
use gix::objs::tree::EntryKind;
use gix::ObjectId;

use super::blobs::{self, Variant, Wanted};
use super::configs::{Configs, Signature};
use super::odb::Odb;
use super::util::{
    self, is_blob, join, one_line, parse_commit, rfc3339, tree_order, CommitMeta, TreeReader, SOPS_CONFIG,
};
use super::{GitError, GitOptions, Progress};
use crate::finding::Provenance;
use crate::scan::{Engine, ScanReport};
use crate::source::Problem;

/// Streaming the packs inflates every blob in them; it beats looking the wanted ones up by id
/// only when there are many of them and they are a good part of all blobs.
const STREAM_THRESHOLD: usize = 20_000;
const STREAM_FRACTION: u64 = 4;

pub(crate) fn scan(
    engine: &Engine,
    start: &Path,
    spec: &str,
    opts: &GitOptions,
    progress: Option<&dyn Progress>,
) -> Result<ScanReport, GitError> {
    let safe = util::open(start)?;
    let mut repo = safe.to_thread_local();
    repo.object_cache_size_if_unset(16 << 20);
    let hash = repo.object_hash();
    let (tips, hidden) = resolve(&repo, spec)?;
    let mut report = ScanReport::default();

    let walk = repo
        .rev_walk(tips)
        .with_hidden(hidden)
        .all()
        .map_err(|e| GitError::Revision { spec: spec.to_owned(), message: one_line(&e) })?;
    let mut ids = Vec::new();
    for info in walk {
        match info {
            Ok(info) => ids.push(info.id),
            Err(e) => report.problems.push(Problem {
                path: "(commit graph)".into(),
                message: format!("the commit walk stopped early: {}", one_line(&e)),
            }),
        }
    }
    let mut commits: Vec<(ObjectId, CommitMeta)> = Vec::with_capacity(ids.len());
    for id in ids {
        match repo.try_find_object(id) {
            Ok(Some(obj)) if obj.kind == gix::objs::Kind::Commit => match parse_commit(&obj.data, hash) {
                Some(meta) => commits.push((id, meta)),
                None => report.problems.push(Problem {
                    path: "(commit graph)".into(),
                    message: format!("commit {id} is malformed and was skipped"),
                }),
            },
            _ => report.problems.push(Problem {
                path: "(commit graph)".into(),
                message: format!("commit {id} cannot be read and was skipped"),
            }),
        }
    }
    let in_range: HashMap<ObjectId, usize> =
        commits.iter().enumerate().map(|(i, (id, _))| (*id, i)).collect();
    let parents: Vec<Vec<u32>> = commits
        .iter()
        .map(|(_, m)| m.parents.iter().filter_map(|p| in_range.get(p).map(|&pi| pi as u32)).collect())
        .collect();
    let order = util::topo_order(&commits, &vec![true; commits.len()], &parents);
    let shallow: Vec<ObjectId> =
        repo.shallow_commits().ok().flatten().map(|c| c.iter().copied().collect()).unwrap_or_default();

    let reader = TreeReader::new(&repo);
    let mut sigs = SigMemo::default();
    let mut configs = Configs::new(opts.sops_config_override.as_ref());
    let read = |id: ObjectId| util::read_object(&repo, id);
    let mut pairs: Vec<(ObjectId, Variant)> = Vec::new();
    let mut gitlinks: Vec<String> = Vec::new();
    let mut tree_errors: Vec<String> = Vec::new();
    let mut missing_parents = 0usize;
    for (rank, &ci) in order.iter().enumerate() {
        let (id, meta) = &commits[ci as usize];
        let mut parent_trees: Vec<ObjectId> = Vec::new();
        for p in &meta.parents {
            let tree = match in_range.get(p) {
                Some(&pi) => Some(commits[pi].1.tree),
                None => match repo.try_find_object(*p) {
                    Ok(Some(obj)) => parse_commit(&obj.data, hash).map(|m| m.tree),
                    _ => None,
                },
            };
            match tree {
                Some(t) => parent_trees.push(t),
                None => {
                    if !shallow.contains(id) {
                        report.problems.push(Problem {
                            path: "(commit graph)".into(),
                            message: format!(
                                "commit {p} (parent of {id}) is missing; {id} is compared with nothing"
                            ),
                        });
                    }
                    missing_parents += 1;
                }
            }
        }
        let mut changes: Vec<Change> = Vec::new();
        let first = parent_trees.first().copied();
        if let Err(e) = diff(&reader, first, meta.tree, "", &mut changes) {
            tree_errors.push(e);
        }
        if parent_trees.len() > 1 {
            changes.retain(|c| {
                parent_trees[1..].iter().all(|&pt| match reader.lookup(pt, &c.path) {
                    Ok(Some(e)) => e.id != c.id || !is_blob(e.kind),
                    _ => true,
                })
            });
        }
        let sig = sigs.of(&reader, meta.tree, &mut tree_errors);
        if !parent_trees.is_empty() {
            let parent_sigs: Vec<Arc<Signature>> =
                parent_trees.iter().map(|&t| sigs.of(&reader, t, &mut tree_errors)).collect();
            if !parent_sigs.iter().any(|p| **p == *sig) {
                // New rules: every file under a changed .sops.yaml is judged again.
                for dir in changed_config_dirs(&sig, &parent_sigs[0]) {
                    let sub = if dir.is_empty() {
                        Some(meta.tree)
                    } else {
                        reader
                            .lookup(meta.tree, &dir)
                            .ok()
                            .flatten()
                            .filter(|e| e.kind == EntryKind::Tree)
                            .map(|e| e.id)
                    };
                    if let Some(sub) = sub {
                        if let Err(e) = diff(&reader, None, sub, &dir, &mut changes) {
                            tree_errors.push(e);
                        }
                    }
                }
            }
        }
        let cfg = configs.intern(&sig, &read, &mut report.problems);
        for c in changes {
            if c.kind == EntryKind::Commit {
                gitlinks.push(c.path);
            } else {
                pairs.push((c.id, Variant { path: c.path, cfg, tag: rank as u32 }));
            }
        }
    }
    if missing_parents > 0 && !shallow.is_empty() {
        report.notes.push(format!(
            "shallow clone: history before {} commit(s) is not available; the oldest commits of the range were compared with nothing (fetch more history with `git fetch --deepen`)",
            shallow.len()
        ));
    }
    tree_errors.sort();
    tree_errors.dedup();
    for message in tree_errors {
        report.problems.push(Problem { path: "(tree)".into(), message });
    }
    gitlinks.sort();
    gitlinks.dedup();
    for path in gitlinks {
        report.notes.push(format!(
            "submodule `{path}` skipped: its content lives in another repository (scan it there)"
        ));
    }

    let wanted = Wanted::from_pairs(pairs);
    if let Some(p) = progress {
        p.set_total(wanted.len() as u64);
    }
    // Blobs are about a third of a typical pack's objects.
    let stream = wanted.len() > STREAM_THRESHOLD
        && (wanted.len() as u64) * STREAM_FRACTION * 3 > Odb::packed_objects(&safe);
    let odb = stream.then(|| {
        let (mut odb, problems) = Odb::open(&safe);
        odb.blob_limit = opts.max_file_size;
        for message in problems {
            report.problems.push(Problem { path: "(object database)".into(), message });
        }
        odb
    });
    let (wanted, outcome) = blobs::scan_wanted(engine, &safe, odb.as_ref(), wanted, &configs, opts, progress);
    for mut s in outcome.scanned {
        let g = &wanted.groups[s.group as usize];
        let v = &g.variants[s.variant as usize];
        let (cid, meta) = &commits[order[v.tag as usize] as usize];
        let prov = Provenance {
            source: "commit".into(),
            blob: Some(g.id.to_string()),
            commit: Some(cid.to_string()),
            author: Some(meta.author.clone()),
            date: Some(rfc3339(meta.author_time)),
            ..Provenance::default()
        };
        for f in &mut s.result.findings {
            f.provenance = Some(prov.clone());
        }
        report.add(s.bytes, s.result);
    }
    report.skipped.extend(outcome.skipped);
    report.problems.extend(outcome.problems);
    report.sort();
    Ok(report)
}

/// Turns the spec into walk tips and hidden commits.
fn resolve(repo: &gix::Repository, spec: &str) -> Result<(Vec<ObjectId>, Vec<ObjectId>), GitError> {
    let err = |message: String| GitError::Revision { spec: spec.to_owned(), message };
    let parsed = repo.rev_parse(BStr::new(spec.as_bytes())).map_err(|e| err(one_line(&e)))?;
    let head = || -> Result<ObjectId, GitError> {
        repo.head_id().map(|id| id.detach()).map_err(|e| err(format!("HEAD: {}", one_line(&e))))
    };
    let peel = |id: ObjectId| -> Result<ObjectId, GitError> {
        repo.find_object(id)
            .and_then(|o| o.peel_to_commit())
            .map(|c| c.id)
            .map_err(|e| err(format!("{id} is not a commit: {}", one_line(&e))))
    };
    use gix::revision::plumbing::Spec;
    Ok(match parsed.detach() {
        Spec::Include(id) => (vec![head()?], vec![peel(id)?]),
        Spec::Exclude(id) => (vec![head()?], vec![peel(id)?]),
        Spec::Range { from, to } => (vec![peel(to)?], vec![peel(from)?]),
        Spec::Merge { theirs, ours } => {
            let (a, b) = (peel(theirs)?, peel(ours)?);
            let bases = match repo.merge_base(a, b) {
                Ok(base) => base.map(|b| b.detach()).into_iter().collect(),
                Err(_) => Vec::new(),
            };
            (vec![a, b], bases)
        }
        Spec::IncludeOnlyParents(_) | Spec::ExcludeParents(_) => {
            return Err(err("`^@` and `^!` forms are not supported; use BASE..HEAD".into()))
        }
    })
}

/// One blob (or gitlink) a commit adds or changes.
struct Change {
    path: String,
    id: ObjectId,
    kind: EntryKind,
}

/// Entries of `new` (recursively) that are not in `old` with the same id; subtrees with equal ids
/// are not read. `old = None` lists everything.
fn diff(
    reader: &TreeReader<'_>,
    old: Option<ObjectId>,
    new: ObjectId,
    prefix: &str,
    out: &mut Vec<Change>,
) -> Result<(), String> {
    if old == Some(new) {
        return Ok(());
    }
    let new_entries = reader.entries(new)?;
    let old_entries = match old {
        Some(o) => Some(reader.entries(o)?),
        None => None,
    };
    // Both lists are in tree order: walk them together.
    let mut j = 0;
    for e in new_entries.iter() {
        let mut before = None;
        if let Some(olds) = &old_entries {
            while j < olds.len()
                && tree_order(
                    &olds[j].name,
                    olds[j].kind == EntryKind::Tree,
                    &e.name,
                    e.kind == EntryKind::Tree,
                ) == std::cmp::Ordering::Less
            {
                j += 1;
            }
            before = olds.get(j).filter(|o| o.name == e.name).map(|o| (o.id, o.kind));
            if before.is_none() {
                // Not in order (a malformed tree): look it up.
                before = olds.iter().find(|o| o.name == e.name).map(|o| (o.id, o.kind));
            }
        }
        let before = before.as_ref();
        let path = join(prefix, &e.name);
        match e.kind {
            EntryKind::Tree => {
                let old_sub = before.filter(|b| b.1 == EntryKind::Tree).map(|b| b.0);
                diff(reader, old_sub, e.id, &path, out)?;
            }
            EntryKind::Commit => {
                if before.map(|b| b.0) != Some(e.id) {
                    out.push(Change { path, id: e.id, kind: e.kind });
                }
            }
            _ => {
                if !before.is_some_and(|b| b.0 == e.id && is_blob(b.1)) {
                    out.push(Change { path, id: e.id, kind: e.kind });
                }
            }
        }
    }
    Ok(())
}

/// The directories (`""` for the root) of the `.sops.yaml` files that differ between two sets.
fn changed_config_dirs(a: &Signature, b: &Signature) -> Vec<String> {
    let mut dirs: Vec<String> = a
        .iter()
        .filter(|x| !b.contains(x))
        .chain(b.iter().filter(|x| !a.contains(x)))
        .map(|(path, _)| path.strip_suffix(".sops.yaml").unwrap_or("").trim_end_matches('/').to_owned())
        .collect();
    dirs.sort();
    dirs.dedup();
    // A directory below another one in the list is covered by the walk of its ancestor.
    let all = dirs.clone();
    dirs.retain(|d| !all.iter().any(|o| o != d && (o.is_empty() || d.starts_with(&format!("{o}/")))));
    dirs
}

/// `.sops.yaml` files below each tree, memoized by tree id (subtrees repeat across commits).
#[derive(Default)]
struct SigMemo {
    memo: BTreeMap<ObjectId, Arc<Signature>>,
}

impl SigMemo {
    fn of(&mut self, reader: &TreeReader<'_>, tree: ObjectId, errors: &mut Vec<String>) -> Arc<Signature> {
        if let Some(s) = self.memo.get(&tree) {
            return s.clone();
        }
        let mut sig = Signature::new();
        match reader.entries(tree) {
            Ok(entries) => {
                for e in entries.iter() {
                    if e.kind == EntryKind::Tree {
                        let name = String::from_utf8_lossy(&e.name).into_owned();
                        for (p, id) in self.of(reader, e.id, errors).iter() {
                            sig.push((format!("{name}/{p}"), *id));
                        }
                    } else if e.name == SOPS_CONFIG && is_blob(e.kind) {
                        sig.push((".sops.yaml".into(), e.id));
                    }
                }
            }
            Err(e) => errors.push(e),
        }
        sig.sort();
        let sig = Arc::new(sig);
        self.memo.insert(tree, sig.clone());
        sig
    }
}
