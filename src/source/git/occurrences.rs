//! Where a few known `(path, blob)` pairs occur in the history: every commit that holds the blob at
//! that path, the commits that introduced and removed it, the refs whose history contains it and
//! the refs whose tip still holds it. Incident response asks this for a handful of leaked files, so
//! this walks every commit and looks the paths up in its tree with `TreeReader` (trees are
//! cached by id, so a directory shared by many commits is parsed once).

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use gix::ObjectId;

use super::util::{self, one_line, parse_commit, rfc3339, TreeReader};
use super::GitError;

/// A commit as reports name it.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct CommitInfo {
    /// Full id (hex).
    pub id: String,
    /// `Name <email>`.
    pub author: String,
    /// Author date, RFC 3339 UTC.
    pub date: String,
    /// First line of the message.
    pub summary: String,
}

/// The answer for one query.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Occurrence {
    /// Commits (indices into [`Occurrences::commits`]) that hold the blob at the path.
    pub containing: Vec<usize>,
    /// Those of them none of whose parents holds it there.
    pub introduced: Vec<usize>,
    /// Commits that do not hold it although a parent does (removed or changed there).
    pub removed: Vec<usize>,
    /// Refs whose history contains one of the `containing` commits.
    pub refs: Vec<String>,
    /// Refs whose tip commit holds it.
    pub ref_tips: Vec<String>,
}

/// Every answer, with the commits they refer to.
#[derive(Clone, Debug, Default)]
pub struct Occurrences {
    /// Commits referred to by index, in date order.
    pub commits: Vec<CommitInfo>,
    /// Every ref walked.
    pub refs: Vec<String>,
    /// How many commits were walked.
    pub walked: usize,
    /// One answer per query, in query order.
    pub per_query: Vec<Occurrence>,
    /// Objects that could not be read (the walk went on).
    pub problems: Vec<String>,
    /// For each query, the blob HEAD holds at its path (if any).
    pub head_blobs: Vec<Option<String>>,
}

/// The blob at `path` below tree `root`: `None` if there is none, if the entry is not file
/// content, or if a tree on the way cannot be read.
fn blob_at(trees: &TreeReader<'_>, root: ObjectId, path: &str) -> Option<ObjectId> {
    let e = trees.lookup(root, path).ok()??;
    util::is_blob(e.kind).then_some(e.id)
}

/// Reads one blob's bytes.
pub fn read_blob(start: &Path, id: &str) -> Result<Vec<u8>, GitError> {
    let repo = util::open(start)?.to_thread_local();
    let oid = ObjectId::from_hex(id.as_bytes())
        .map_err(|e| GitError::Repository { message: format!("bad object id {id}: {}", one_line(&e)) })?;
    let result = match repo.try_find_object(oid) {
        Ok(Some(obj)) => Ok(obj.data.to_vec()),
        Ok(None) => Err(GitError::Repository { message: format!("object {id} is missing") }),
        Err(e) => Err(GitError::Repository { message: format!("object {id}: {}", one_line(&e)) }),
    };
    result
}

/// Answers `queries` over every commit reachable from any ref. A query is a path and the set of
/// blob ids (hex) that count as "it" at that path (say, every version of a file that still holds a
/// leaked key): a commit that changes the file from one of them to another neither removes nor
/// introduces it.
pub fn occurrences(start: &Path, queries: &[(String, Vec<String>)]) -> Result<Occurrences, GitError> {
    let repo = util::open(start)?.to_thread_local();
    let hash = repo.object_hash();
    let mut out = Occurrences::default();
    // Refs, peeled to commits.
    let mut refs: Vec<(String, ObjectId)> = Vec::new();
    let platform = repo.references().map_err(|e| GitError::Repository { message: one_line(&e) })?;
    for r in platform.all().map_err(|e| GitError::Repository { message: one_line(&e) })?.flatten() {
        let mut r = r;
        let name = r.name().as_bstr().to_string();
        if let Ok(id) = r.peel_to_id() {
            let id = id.detach();
            if let Ok(Some(obj)) = repo.try_find_object(id) {
                if let Ok(c) = obj.peel_to_commit() {
                    refs.push((name, c.id));
                }
            }
        }
    }
    if let Ok(head) = repo.head() {
        if head.is_detached() {
            if let Some(id) = head.id() {
                refs.push(("HEAD".into(), id.detach()));
            }
        }
    }
    refs.sort();
    refs.dedup();
    out.refs = refs.iter().map(|(n, _)| n.clone()).collect();

    // Every commit reachable from the refs.
    let mut index: HashMap<ObjectId, usize> = HashMap::new();
    let mut ids: Vec<ObjectId> = Vec::new();
    let mut metas = Vec::new();
    let mut summaries = Vec::new();
    let mut todo: Vec<ObjectId> = refs.iter().map(|(_, id)| *id).collect();
    while let Some(id) = todo.pop() {
        if index.contains_key(&id) {
            continue;
        }
        let Ok(Some(obj)) = repo.try_find_object(id) else {
            out.problems.push(format!("commit {id} cannot be read (shallow or partial clone?)"));
            continue;
        };
        let Some(meta) = parse_commit(&obj.data, hash) else {
            out.problems.push(format!("commit {id} is malformed"));
            continue;
        };
        let summary = gix::objs::CommitRef::from_bytes(&obj.data, hash)
            .map(|c| c.message().summary().to_string())
            .unwrap_or_default();
        index.insert(id, ids.len());
        ids.push(id);
        todo.extend(meta.parents.iter().copied());
        metas.push(meta);
        summaries.push(summary);
    }
    out.walked = ids.len();

    // The blob at each distinct query path, in each commit.
    let paths: Vec<String> =
        queries.iter().map(|(p, _)| p.clone()).collect::<BTreeSet<_>>().into_iter().collect();
    let path_idx: HashMap<&str, usize> = paths.iter().enumerate().map(|(i, p)| (p.as_str(), i)).collect();
    let trees = TreeReader::new(&repo);
    let at: Vec<Vec<Option<ObjectId>>> =
        metas.iter().map(|m| paths.iter().map(|p| blob_at(&trees, m.tree, p)).collect()).collect();

    // Reachability of each commit from each ref.
    let reach: Vec<Vec<bool>> = refs
        .iter()
        .map(|(_, tip)| {
            let mut seen = vec![false; ids.len()];
            let mut stack: Vec<usize> = index.get(tip).copied().into_iter().collect();
            while let Some(c) = stack.pop() {
                if seen[c] {
                    continue;
                }
                seen[c] = true;
                stack.extend(metas[c].parents.iter().filter_map(|p| index.get(p).copied()));
            }
            seen
        })
        .collect();

    let mut used: BTreeSet<usize> = BTreeSet::new();
    let mut raw = Vec::new();
    let head_tree = repo.head_commit().ok().and_then(|c| c.tree_id().ok()).map(|t| t.detach());
    for (path, blobs) in queries {
        let p = path_idx[path.as_str()];
        let want: BTreeSet<ObjectId> =
            blobs.iter().filter_map(|b| ObjectId::from_hex(b.as_bytes()).ok()).collect();
        let holds = |c: usize| at[c][p].is_some_and(|b| want.contains(&b));
        out.head_blobs.push(head_tree.and_then(|t| blob_at(&trees, t, path)).map(|b| b.to_string()));
        let mut occ = Occurrence::default();
        for (c, meta) in metas.iter().enumerate() {
            let parent_holds = meta.parents.iter().filter_map(|x| index.get(x).copied()).any(holds);
            if holds(c) {
                occ.containing.push(c);
                if !parent_holds {
                    occ.introduced.push(c);
                }
            } else if parent_holds {
                occ.removed.push(c);
            }
        }
        for (r, (name, tip)) in refs.iter().enumerate() {
            if occ.containing.iter().any(|&c| reach[r][c]) {
                occ.refs.push(name.clone());
            }
            if index.get(tip).is_some_and(|&t| holds(t)) {
                occ.ref_tips.push(name.clone());
            }
        }
        used.extend(occ.containing.iter().chain(&occ.introduced).chain(&occ.removed).copied());
        raw.push(occ);
    }
    // Renumber the used commits in date order, so the output is deterministic.
    let mut order: Vec<usize> = used.into_iter().collect();
    order.sort_by_key(|&c| (metas[c].author_time, ids[c]));
    let renumber: HashMap<usize, usize> = order.iter().enumerate().map(|(i, &c)| (c, i)).collect();
    out.commits = order
        .iter()
        .map(|&c| CommitInfo {
            id: ids[c].to_string(),
            author: metas[c].author.clone(),
            date: rfc3339(metas[c].author_time),
            summary: summaries[c].clone(),
        })
        .collect();
    out.per_query = raw
        .into_iter()
        .map(|o| {
            let map = |v: Vec<usize>| {
                let mut v: Vec<usize> = v.into_iter().map(|c| renumber[&c]).collect();
                v.sort();
                v
            };
            Occurrence {
                containing: map(o.containing),
                introduced: map(o.introduced),
                removed: map(o.removed),
                refs: o.refs,
                ref_tips: o.ref_tips,
            }
        })
        .collect();
    Ok(out)
}
