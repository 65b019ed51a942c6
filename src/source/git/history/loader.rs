//! Step 1: commits and trees streamed out of the packs once, into the [`Tables`] the later
//! steps work on, and the lookups by id of the commits and trees the stream did not deliver
//! (failed packs, objects of unknown kind) ([`Loader`]).

use std::collections::HashMap;
use std::sync::Mutex;

use gix::objs::Kind;
use gix::ObjectId;

use super::graph::{Graph, Tips};
use super::ids::{BlobIds, Local, Names};
use super::trees::{analyze, Frontier, Kept, TreeInfo, TreeRec};
use super::UNSET;
use crate::scan::ScanReport;
use crate::source::git::blobs::Prefetch;
use crate::source::git::odb::Odb;
use crate::source::git::util::{one_line, parse_commit, CommitMeta, FxMap, Tally};
use crate::source::git::{GitOptions, Progress};
use crate::source::Problem;

/// Opens the object database for streaming; what it could not open becomes problems.
pub(super) fn open_odb(safe: &gix::ThreadSafeRepository, opts: &GitOptions, report: &mut ScanReport) -> Odb {
    let (mut odb, odb_problems) = Odb::open(safe);
    odb.blob_limit = opts.max_file_size;
    for message in odb_problems {
        report.problems.push(Problem { path: "(object database)".into(), message });
    }
    odb
}

/// Per-thread results of step 1.
struct Step1<'a> {
    commits: Vec<(ObjectId, CommitMeta)>,
    trees: Vec<(u32, TreeInfo, TreeRec)>,
    malformed: Vec<String>,
    local: Local<'a>,
    tally: Tally<'a>,
}

/// The tree tables: dense tree ids, what step 1 keeps of each tree, and the names and blob ids
/// its entries use.
pub(super) struct Tables {
    /// Tree ids by dense id: the database's trees, sorted, then trees met later.
    pub(super) tree_ids: Vec<ObjectId>,
    pub(super) tree_index: gix::hashtable::HashMap<ObjectId, u32>,
    /// Subtrees and `.sops.yaml` of each tree (`None`: not read).
    pub(super) trees: Vec<Option<TreeInfo>>,
    /// File entries of each tree, as an edit of its delta base.
    pub(super) recs: Vec<Option<TreeRec>>,
    pub(super) names: Names,
    pub(super) blobs: BlobIds,
}

/// What step 1 read.
pub(super) struct Loaded {
    pub(super) tables: Tables,
    /// Commits, sorted by id, and their positions.
    pub(super) commits: Vec<(ObjectId, CommitMeta)>,
    pub(super) commit_index: HashMap<ObjectId, u32>,
    /// Commits and trees that could not be parsed (reported once the blobs are named).
    pub(super) malformed: Vec<String>,
}

/// Step 1: streams every commit and tree out of the packs (on every core) and keeps what the
/// later steps need of them; then widens `prefetch`, as from here on this thread works alone.
pub(super) fn load(
    odb: &Odb,
    hash: gix::hash::Kind,
    opts: &GitOptions,
    progress: Option<&dyn Progress>,
    prefetch: &Prefetch,
    report: &mut ScanReport,
) -> Loaded {
    let tree_ids: Vec<ObjectId> = {
        let mut ids = odb.ids_of_kind(Kind::Tree);
        ids.sort_unstable();
        ids
    };
    let tree_index: gix::hashtable::HashMap<ObjectId, u32> =
        tree_ids.iter().enumerate().map(|(i, id)| (*id, i as u32)).collect();
    let mut blob_list = odb.ids_of_kind(Kind::Blob);
    blob_list.sort_unstable();
    let blobs = BlobIds {
        index: blob_list.iter().enumerate().map(|(i, id)| (*id, i as u32)).collect(),
        ids: blob_list,
        extra: Mutex::new((FxMap::default(), Vec::new())),
    };
    if let Some(p) = progress {
        p.set_total(odb.count(&[Kind::Commit, Kind::Tree, Kind::Blob]));
    }
    let names = Mutex::new(Names::default());
    let frontier = Frontier::new(odb);
    let hash_len = hash.len_in_bytes();
    let (states, failures) = odb.stream(
        &[Kind::Commit, Kind::Tree],
        opts.threads,
        || Step1 {
            commits: Vec::new(),
            trees: Vec::new(),
            malformed: Vec::new(),
            local: Local { cache: FxMap::default(), names: &names, blobs: &blobs },
            tally: Tally::new(progress, 1024, u64::MAX),
        },
        |st, loc, id, kind, data| {
            st.tally.add(data.len() as u64);
            match kind {
                Kind::Commit => match parse_commit(data, hash) {
                    Some(meta) => st.commits.push((id.to_owned(), meta)),
                    None => st.malformed.push(format!("commit {id} is malformed and was skipped")),
                },
                Kind::Tree => {
                    let Some(&dense) = tree_index.get(id) else { return };
                    let base =
                        loc.and_then(|(pi, pos)| odb.packs[pi].base(pos).and_then(|b| frontier[pi].take(b)));
                    let a = analyze(data, base.as_deref(), hash_len, &tree_index, &mut st.local);
                    if a.malformed {
                        st.malformed
                            .push(format!("tree {id} is malformed; entries after the damage were not read"));
                    }
                    if let Some((pi, pos)) = loc {
                        if frontier[pi].wants(pos) && !a.malformed {
                            frontier[pi]
                                .keep(pos, Kept { dense, data: data.into(), ents: a.ents, subs: a.subs });
                        }
                    }
                    let (info, rec) = (a.info, a.rec);
                    st.trees.push((dense, info, rec));
                }
                _ => {}
            }
        },
    );
    drop(frontier);
    // From here to the wanted set, this thread works alone.
    prefetch.widen();
    for f in failures {
        report.problems.push(Problem {
            path: "(object database)".into(),
            message: format!("{f}; the commits and trees it still held were looked up one by one"),
        });
    }
    let mut commits: Vec<(ObjectId, CommitMeta)> = Vec::new();
    let mut trees: Vec<Option<TreeInfo>> = Vec::new();
    trees.resize_with(tree_ids.len(), || None);
    let mut recs: Vec<Option<TreeRec>> = Vec::new();
    recs.resize_with(tree_ids.len(), || None);
    let mut malformed = Vec::new();
    for st in states {
        commits.extend(st.commits);
        for (d, info, rec) in st.trees {
            trees[d as usize] = Some(info);
            recs[d as usize] = Some(rec);
        }
        malformed.extend(st.malformed);
    }
    let names = names.into_inner().unwrap_or_else(|p| p.into_inner());
    commits.sort_by_key(|a| a.0);
    commits.dedup_by(|a, b| a.0 == b.0);
    let commit_index: HashMap<ObjectId, u32> =
        commits.iter().enumerate().map(|(i, (id, _))| (*id, i as u32)).collect();
    Loaded {
        tables: Tables { tree_ids, tree_index, trees, recs, names, blobs },
        commits,
        commit_index,
        malformed,
    }
}

impl Tables {
    /// The dense id of a tree, allocating one for a tree the stream did not see.
    pub(super) fn dense(&mut self, id: ObjectId) -> u32 {
        if let Some(&t) = self.tree_index.get(&id) {
            return t;
        }
        let t = self.tree_ids.len() as u32;
        self.tree_ids.push(id);
        self.tree_index.insert(id, t);
        self.trees.push(None);
        self.recs.push(None);
        t
    }
}

/// Looks up commits and trees the stream did not deliver (failed packs, objects of unknown kind).
pub(super) struct Loader<'r> {
    repo: &'r gix::Repository,
    hash: gix::hash::Kind,
    /// What could not be looked up (see [`Loader::report`]).
    problems: Vec<Problem>,
}

impl<'r> Loader<'r> {
    pub(super) fn new(repo: &'r gix::Repository) -> Self {
        Loader { repo, hash: repo.object_hash(), problems: Vec::new() }
    }

    /// Adds the problems of step 1 to the report, once the blobs are named: the commits and
    /// trees that could not be parsed (sorted, each once), then what could not be looked up.
    pub(super) fn report(self, mut malformed: Vec<String>, report: &mut ScanReport) {
        malformed.sort();
        malformed.dedup();
        for message in malformed {
            report.problems.push(Problem { path: "(object database)".into(), message });
        }
        report.problems.extend(self.problems);
    }

    /// Looks up a commit the stream did not deliver and appends it to `commits`.
    pub(super) fn commit(
        &mut self,
        id: ObjectId,
        commits: &mut Vec<(ObjectId, CommitMeta)>,
        index: &mut HashMap<ObjectId, u32>,
    ) -> Option<u32> {
        let obj = self.repo.try_find_object(id).ok()??;
        if obj.kind != Kind::Commit {
            return None;
        }
        let meta = parse_commit(&obj.data, self.hash)?;
        let c = commits.len() as u32;
        commits.push((id, meta));
        index.insert(id, c);
        Some(c)
    }

    /// Makes sure every tree below a commit of `graph` or a tree tip (with `all_objects`, every
    /// tree) is known, looking up what is missing. No tree is met after this, so the blob ids
    /// are final.
    pub(super) fn complete_trees(
        &mut self,
        graph: &Graph,
        tips: &Tips,
        all_objects: bool,
        tables: &mut Tables,
    ) {
        let mut roots: Vec<u32> = graph.topo.iter().map(|&c| graph.root[c as usize]).collect();
        roots.extend(tips.trees.iter().map(|t| t.1));
        if all_objects {
            roots.extend(0..tables.tree_ids.len() as u32);
        }
        roots.sort_unstable();
        roots.dedup();
        self.complete(&roots, tables);
        tables.blobs.finish();
    }

    /// Makes sure every tree below `roots` is known, looking up what is missing.
    fn complete(&mut self, roots: &[u32], store: &mut Tables) {
        // The usual case: the stream delivered every tree and every subtree is a known tree.
        if store.trees.iter().all(|i| i.as_ref().is_some_and(|i| i.missing.is_empty())) {
            return;
        }
        let mut visited = vec![false; store.tree_ids.len()];
        let mut stack: Vec<u32> = roots.to_vec();
        while let Some(t) = stack.pop() {
            if visited.len() <= t as usize {
                visited.resize(t as usize + 1, false);
            }
            if visited[t as usize] {
                continue;
            }
            visited[t as usize] = true;
            if store.trees[t as usize].is_none() {
                let id = store.tree_ids[t as usize];
                let (info, rec) = match self.repo.try_find_object(id) {
                    Ok(Some(o)) if o.kind == Kind::Tree => {
                        let names = Mutex::new(std::mem::take(&mut store.names));
                        let mut local = Local { cache: FxMap::default(), names: &names, blobs: &store.blobs };
                        let a =
                            analyze(&o.data, None, self.hash.len_in_bytes(), &store.tree_index, &mut local);
                        if a.malformed {
                            self.problems.push(Problem {
                                path: "(object database)".into(),
                                message: format!(
                                    "tree {id} is malformed; entries after the damage were not read"
                                ),
                            });
                        }
                        let r = (a.info, a.rec);
                        drop(local);
                        store.names = names.into_inner().unwrap_or_else(|p| p.into_inner());
                        r
                    }
                    other => {
                        let why = match other {
                            Ok(Some(o)) => format!("object {id} is a {}, where a tree was expected", o.kind),
                            Ok(None) => format!("tree {id} is missing from the object database"),
                            Err(e) => format!("tree {id} cannot be read ({})", one_line(&e)),
                        };
                        self.problems.push(Problem {
                            path: "(object database)".into(),
                            message: format!("{why}; the files below it were not scanned"),
                        });
                        let empty = TreeRec { base: UNSET, added: Box::new([]), removed: Box::new([]) };
                        (TreeInfo::default(), empty)
                    }
                };
                store.trees[t as usize] = Some(info);
                store.recs[t as usize] = Some(rec);
            }
            // Subtrees the database did not list as trees get dense ids now.
            let missing =
                store.trees[t as usize].as_mut().map(|i| std::mem::take(&mut i.missing)).unwrap_or_default();
            for (name, id) in missing {
                let child = store.dense(id);
                if let Some(info) = store.trees[t as usize].as_mut() {
                    let mut v = std::mem::take(&mut info.subtrees).into_vec();
                    v.push((name, child));
                    info.subtrees = v.into_boxed_slice();
                }
            }
            if let Some(info) = &store.trees[t as usize] {
                stack.extend(info.subtrees.iter().map(|s| s.1));
            }
        }
    }
}
