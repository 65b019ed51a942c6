//! Step 2's commit side: the refs and what they point to, and the commit graph (reachable
//! commits in topological order, their parents, root trees and signatures), and the order refs
//! are named in.

use std::collections::HashMap;

use gix::ObjectId;

use crate::finding::{ref_class, MAX_REFS};
use crate::scan::ScanReport;
use crate::source::git::util::{one_line, CommitMeta};
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
    /// Signature (`.sops.yaml` set) of each reachable commit.
    pub(super) cfg: Vec<u32>,
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
