//! Step 2's commit side: the refs and what they point to, and the commit graph (reachable
//! commits in topological order, their parents, root trees and signatures), and the order refs
//! are named in.

use std::collections::{HashMap, HashSet};

use gix::objs::Kind;
use gix::ObjectId;

use super::loader::{Loaded, Loader, Tables};
use super::UNSET;
use crate::finding::{ref_class, MAX_REFS};
use crate::scan::ScanReport;
use crate::source::git::util::{self, one_line, CommitMeta};
use crate::source::git::GitError;
use crate::source::Problem;

/// Everything the later steps need to know about the graph.
pub(super) struct Graph {
    pub(super) commits: Vec<(ObjectId, CommitMeta)>,
    pub(super) commit_index: HashMap<ObjectId, u32>,
    /// Reachable commits in topological order (parents first).
    pub(super) topo: Vec<u32>,
    /// Position of each commit in `topo` (`UNSET` if unreachable).
    pub(super) rank: Vec<u32>,
    pub(super) parents: Vec<Vec<u32>>,
    /// Dense root tree of each commit (`UNSET` if missing).
    pub(super) root: Vec<u32>,
    /// Signature (`.sops.yaml` set) of each reachable commit, set by [`super::contexts::build`].
    pub(super) cfg: Vec<u32>,
}

impl Graph {
    /// The commits reachable from the tips (with `all_objects`, every commit), in topological
    /// order, with their parents and root trees. Parents the stream did not deliver are looked
    /// up; those missing (not behind a shallow boundary) are problems.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn walk(
        mut commits: Vec<(ObjectId, CommitMeta)>,
        mut commit_index: HashMap<ObjectId, u32>,
        tips: &Tips,
        shallow: &HashSet<ObjectId>,
        all_objects: bool,
        loader: &mut Loader<'_>,
        tables: &mut Tables,
        report: &mut ScanReport,
    ) -> Graph {
        let mut reachable = vec![false; commits.len()];
        let mut parents: Vec<Vec<u32>> = vec![Vec::new(); commits.len()];
        let mut stack: Vec<u32> = tips.commits.iter().map(|t| t.1).collect();
        if all_objects {
            stack.extend(0..commits.len() as u32);
        }
        while let Some(c) = stack.pop() {
            if reachable[c as usize] {
                continue;
            }
            reachable[c as usize] = true;
            let cid = commits[c as usize].0;
            let ps_ids = commits[c as usize].1.parents.clone();
            let mut ps = Vec::with_capacity(ps_ids.len());
            for p in &ps_ids {
                let found = match commit_index.get(p) {
                    Some(&pi) => Some(pi),
                    None => {
                        let found = loader.commit(*p, &mut commits, &mut commit_index);
                        reachable.resize(commits.len(), false);
                        parents.resize(commits.len(), Vec::new());
                        found
                    }
                };
                match found {
                    Some(pi) => {
                        ps.push(pi);
                        stack.push(pi);
                    }
                    None if shallow.contains(&cid) => {}
                    None => report.problems.push(Problem {
                        path: "(commit graph)".into(),
                        message: format!(
                            "commit {p} (parent of {cid}) is missing; history behind it was not scanned"
                        ),
                    }),
                }
            }
            parents[c as usize] = ps;
        }
        let n = commits.len();
        if !shallow.is_empty() {
            report.notes.push(format!(
            "shallow clone: history before {} boundary commit(s) is not available and was not scanned (fetch it with `git fetch --unshallow`)",
            shallow.len()
        ));
        }
        let topo = util::topo_order(&commits, &reachable, &parents);
        let mut rank = vec![UNSET; n];
        for (r, &c) in topo.iter().enumerate() {
            rank[c as usize] = r as u32;
        }
        let mut root = vec![UNSET; n];
        for &c in &topo {
            root[c as usize] = tables.dense(commits[c as usize].1.tree);
        }
        Graph { commits, commit_index, topo, rank, parents, root, cfg: Vec::new() }
    }
}

/// What the refs point to: `(ref name, dense id)` of commits and trees, and blobs by id.
#[derive(Default)]
pub(super) struct Tips {
    pub(super) commits: Vec<(String, u32)>,
    pub(super) trees: Vec<(String, u32)>,
    pub(super) blobs: Vec<(String, ObjectId)>,
}

/// Classifies the ref tips (annotated tags peeled); objects the stream did not deliver are
/// looked up, and what cannot be scanned is a problem.
pub(super) fn classify_tips(
    repo: &gix::Repository,
    refs: &[(String, ObjectId)],
    loaded: &mut Loaded,
    loader: &mut Loader<'_>,
    report: &mut ScanReport,
) -> Tips {
    let mut tips = Tips::default();
    for (name, target) in refs {
        // At most two rounds: the ref's target, then what an annotated tag peels to.
        let mut id = *target;
        for _ in 0..2 {
            if let Some(&c) = loaded.commit_index.get(&id) {
                tips.commits.push((name.clone(), c));
                break;
            }
            if let Some(&t) = loaded.tables.tree_index.get(&id) {
                tips.trees.push((name.clone(), t));
                break;
            }
            match repo.try_find_header(id) {
                Ok(Some(h)) if h.kind() == Kind::Tag => {
                    match repo
                        .find_object(id)
                        .map_err(|e| one_line(&e))
                        .and_then(|o| o.peel_tags_to_end().map(|o| o.id).map_err(|e| one_line(&e)))
                    {
                        Ok(peeled) => {
                            id = peeled;
                            continue;
                        }
                        Err(e) => report.problems.push(Problem {
                            path: name.clone(),
                            message: format!("cannot peel the tag {id}: {e}"),
                        }),
                    }
                }
                Ok(Some(h)) if h.kind() == Kind::Commit => {
                    if let Some(c) = loader.commit(id, &mut loaded.commits, &mut loaded.commit_index) {
                        tips.commits.push((name.clone(), c));
                    }
                }
                Ok(Some(h)) if h.kind() == Kind::Tree => {
                    tips.trees.push((name.clone(), loaded.tables.dense(id)))
                }
                Ok(Some(h)) if h.kind() == Kind::Blob => tips.blobs.push((name.clone(), id)),
                Ok(Some(h)) => report.problems.push(Problem {
                    path: name.clone(),
                    message: format!("ref points to a {} ({id}), which is not scanned", h.kind()),
                }),
                Ok(None) => report.problems.push(Problem {
                    path: name.clone(),
                    message: format!("ref points to {id}, which is missing from the object database"),
                }),
                Err(e) => report.problems.push(Problem {
                    path: name.clone(),
                    message: format!("cannot read {id}: {}", one_line(&e)),
                }),
            }
            break;
        }
    }
    tips
}

/// Every ref, peeled, sorted by name; `HEAD` too when it is detached.
pub(super) fn list_refs(
    repo: &gix::Repository,
    report: &mut ScanReport,
) -> Result<Vec<(String, ObjectId)>, GitError> {
    let platform = repo.references().map_err(|e| GitError::Repository { message: one_line(&e) })?;
    let iter = platform.all().map_err(|e| GitError::Repository { message: one_line(&e) })?;
    let mut out = Vec::new();
    for r in iter {
        match r {
            Ok(mut r) => {
                let name = r.name().as_bstr().to_string();
                // A direct ref's target is taken as is (annotated tags are peeled when the tips
                // are classified): peeling here would look up every target, one object at a
                // time, which costs more than all the other ref work on repositories with
                // thousands of pull-request refs.
                if let Some(id) = r.target().try_id() {
                    out.push((name, id.to_owned()));
                    continue;
                }
                match r.peel_to_id() {
                    Ok(id) => out.push((name, id.detach())),
                    Err(e) => report.problems.push(Problem {
                        path: name,
                        message: format!("cannot resolve this ref: {}", one_line(&e)),
                    }),
                }
            }
            Err(e) => report.problems.push(Problem {
                path: "(refs)".into(),
                message: format!("cannot read a ref: {}", one_line(&e)),
            }),
        }
    }
    if let Ok(head) = repo.head() {
        if head.is_detached() {
            if let Some(id) = head.id() {
                out.push(("HEAD".into(), id.detach()));
            }
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The order refs are named in ([`ref_class`], then alphabetical).
pub(super) fn ref_order<'a>(
    commit_tips: &'a [(String, u32)],
    tree_tips: &'a [(String, u32)],
) -> Vec<&'a str> {
    let mut names: Vec<&str> = commit_tips.iter().chain(tree_tips).map(|t| t.0.as_str()).collect();
    names.sort_by(|a, b| (ref_class(a), a).cmp(&(ref_class(b), b)));
    names.dedup();
    names
}

/// The names of the refs at these positions (sorted, deduplicated), at most [`MAX_REFS`] of them
/// and then `… and N more`.
pub(super) fn name_refs(positions: &[u32], order: &[&str]) -> Vec<String> {
    let mut out: Vec<String> =
        positions.iter().take(MAX_REFS).map(|&i| order[i as usize].to_owned()).collect();
    if positions.len() > MAX_REFS {
        out.push(format!("… and {} more", positions.len() - MAX_REFS));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_are_named_by_class_then_name() {
        let tips = |names: &[&str]| -> Vec<(String, u32)> {
            names.iter().enumerate().map(|(i, n)| (n.to_string(), i as u32)).collect()
        };
        let commits =
            tips(&["refs/tags/v1", "refs/pull/1/head", "refs/heads/main", "HEAD", "refs/heads/dev"]);
        // A ref that is a commit tip and a tree tip is named once.
        let trees = tips(&["refs/remotes/origin/main", "refs/heads/dev"]);
        assert_eq!(
            ref_order(&commits, &trees),
            vec![
                "HEAD",
                "refs/heads/dev",
                "refs/heads/main",
                "refs/remotes/origin/main",
                "refs/tags/v1",
                "refs/pull/1/head"
            ]
        );
    }

    #[test]
    fn at_most_max_refs_are_named() {
        let names: Vec<String> = (0..40).map(|i| format!("refs/heads/b{i:02}")).collect();
        let order: Vec<&str> = names.iter().map(String::as_str).collect();
        assert_eq!(name_refs(&[3, 1], &order), vec!["refs/heads/b03", "refs/heads/b01"]);
        assert!(name_refs(&[], &order).is_empty());
        let all: Vec<u32> = (0..MAX_REFS as u32).collect();
        assert_eq!(name_refs(&all, &order).len(), MAX_REFS);
        let more: Vec<u32> = (0..MAX_REFS as u32 + 5).collect();
        let named = name_refs(&more, &order);
        assert_eq!(named.len(), MAX_REFS + 1);
        assert_eq!(named[MAX_REFS - 1], format!("refs/heads/b{:02}", MAX_REFS - 1));
        assert_eq!(named[MAX_REFS], "… and 5 more");
    }
}
