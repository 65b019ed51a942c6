//! `--history`: every blob reachable from any ref, each read once, at object-database speed.
//!
//! Walking every commit's tree would read the same trees hundreds of thousands of times, and
//! looking objects up by id decompresses delta bases again and again. Instead:
//!
//! 1. **Commits and trees.** Every commit and tree object is streamed out of the packs once (see
//!    [`super::odb`]). A commit keeps its tree, parents, author and dates; a tree keeps only its
//!    subtrees (name, dense id) and its `.sops.yaml` blob, if any. Small histories also keep the
//!    raw trees in memory (up to [`TREE_CACHE_BUDGET`]) so that step 3 needs no second pass.
//! 2. **Graph.** Commits reachable from the refs are ordered topologically. Each tree's set of
//!    `.sops.yaml` files (its *signature*) is computed bottom-up, once per tree; a commit's configs
//!    are its root tree's signature. Directory contexts `(tree, path, configs)` are then pushed
//!    top-down, each distinct context once: a subtree shared by 10,000 commits is visited once per
//!    distinct path and config set, not 10,000 times.
//! 3. **Blob names.** Trees are read again (streamed, or from memory), and each blob entry is
//!    combined with its tree's contexts into `(blob, path, configs)` triples, deduplicated.
//! 4. **Blobs.** Every blob in the packs is inflated once (streamed, in parallel) and the wanted
//!    ones are scanned once per distinct `(path, configs)`.
//! 5. **Provenance**, only for blobs with findings: which commits hold the blob at that path (the
//!    directory chain resolves in memory, then one tree read per distinct directory version), the
//!    earliest of them in topological order (the introducing commit), how many, which refs reach
//!    one of them (bitsets pushed along the topological order, 64 findings at a time), and whether
//!    `HEAD` holds it.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Mutex;

use gix::hashtable::hash_table::HashTable;
use gix::objs::tree::EntryKind;
use gix::objs::Kind;
use gix::{oid, ObjectId};
use rayon::prelude::*;

use super::blobs::{self, Variant, Wanted};
use super::configs::{Configs, Signature};
use super::odb::Odb;
use super::util::{self, is_blob, join, one_line, parse_commit, rfc3339, CommitMeta, SOPS_CONFIG};
use super::{GitError, GitOptions, Progress};
use crate::finding::{Finding, Provenance};
use crate::scan::{Engine, ScanReport};
use crate::source::Problem;

/// Raw trees kept in memory between steps 1 and 3 when they all fit; above, trees are streamed
/// from the packs a second time instead.
pub const TREE_CACHE_BUDGET: i64 = 256 << 20;

const UNSET: u32 = u32::MAX;
const IN_PROGRESS: u32 = u32::MAX - 1;

/// What step 1 keeps of a tree.
#[derive(Default)]
struct TreeInfo {
    /// `(name id, dense tree id)` of every subtree.
    subtrees: Vec<(u32, u32)>,
    /// Subtrees whose ids are not known to be trees in the database: `(name id, id)`.
    missing: Vec<(u32, ObjectId)>,
    /// The blob of a `.sops.yaml` directly in this tree.
    sops: Option<ObjectId>,
}

/// Interned directory names (shared by all threads; each thread caches what it has seen).
#[derive(Default)]
struct Names {
    map: HashMap<Box<[u8]>, u32>,
    list: Vec<Box<[u8]>>,
}

impl Names {
    fn intern(&mut self, name: &[u8]) -> u32 {
        if let Some(&id) = self.map.get(name) {
            return id;
        }
        let id = self.list.len() as u32;
        self.list.push(name.into());
        self.map.insert(name.into(), id);
        id
    }
}

struct LocalNames<'a> {
    cache: HashMap<Box<[u8]>, u32>,
    shared: &'a Mutex<Names>,
}

impl LocalNames<'_> {
    fn intern(&mut self, name: &[u8]) -> u32 {
        if let Some(&id) = self.cache.get(name) {
            return id;
        }
        let id = self.shared.lock().unwrap_or_else(|p| p.into_inner()).intern(name);
        self.cache.insert(name.into(), id);
        id
    }
}

/// Per-thread results of step 1.
struct Step1<'a> {
    commits: Vec<(ObjectId, CommitMeta)>,
    trees: Vec<(u32, TreeInfo)>,
    raw: Vec<(u32, Box<[u8]>)>,
    malformed: Vec<String>,
    names: LocalNames<'a>,
    tally: Tally<'a>,
}

/// Batched progress (the callback is not hit for every small object).
struct Tally<'p> {
    progress: Option<&'p dyn Progress>,
    objects: u64,
    bytes: u64,
}

impl<'p> Tally<'p> {
    fn new(progress: Option<&'p dyn Progress>) -> Self {
        Tally { progress, objects: 0, bytes: 0 }
    }
    fn add(&mut self, bytes: usize) {
        self.objects += 1;
        self.bytes += bytes as u64;
        if self.objects >= 1024 {
            self.flush();
        }
    }
    fn flush(&mut self) {
        if let (Some(p), true) = (self.progress, self.objects > 0) {
            p.inc(self.objects, self.bytes);
        }
        self.objects = 0;
        self.bytes = 0;
    }
}

impl Drop for Tally<'_> {
    fn drop(&mut self) {
        self.flush();
    }
}

/// One `(directory, configs, blob, file name)` found in step 3.
struct PairKey {
    dir: u32,
    cfg: u32,
    id: ObjectId,
    name: Box<[u8]>,
}

fn pair_hash(dir: u32, cfg: u32, id: &oid, name: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let b = id.as_bytes();
    let mut prefix = [0u8; 8];
    prefix.copy_from_slice(&b[..8]);
    let mut h = u64::from_le_bytes(prefix) ^ ((u64::from(dir) << 32) | u64::from(cfg)).wrapping_mul(K);
    for chunk in name.chunks(8) {
        let mut w = [0u8; 8];
        w[..chunk.len()].copy_from_slice(chunk);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    h
}

/// Per-thread results of step 3.
#[derive(Default)]
struct Step3 {
    pairs: HashTable<PairKey>,
    gitlinks: Vec<(u32, Box<[u8]>)>,
    malformed: Vec<String>,
}

impl Step3 {
    fn merge(mut self, other: Step3) -> Step3 {
        for k in other.pairs {
            self.insert(k.dir, k.cfg, &k.id, &k.name);
        }
        self.gitlinks.extend(other.gitlinks);
        self.malformed.extend(other.malformed);
        self
    }

    fn insert(&mut self, dir: u32, cfg: u32, id: &oid, name: &[u8]) {
        let h = pair_hash(dir, cfg, id, name);
        let found = self.pairs.find(h, |k| k.dir == dir && k.cfg == cfg && k.id == id && *k.name == *name);
        if found.is_none() {
            self.pairs.insert_unique(h, PairKey { dir, cfg, id: id.to_owned(), name: name.into() }, |k| {
                pair_hash(k.dir, k.cfg, &k.id, &k.name)
            });
        }
    }

    /// Combines every blob entry of a tree with the tree's contexts.
    fn expand(&mut self, id: &oid, data: &[u8], contexts: &[(u32, u32)], hash: gix::hash::Kind) {
        for e in gix::objs::TreeRefIter::from_bytes(data, hash) {
            let Ok(e) = e else {
                self.malformed
                    .push(format!("tree {id} is malformed; entries after the damage were not read"));
                break;
            };
            match e.mode.kind() {
                EntryKind::Tree => {}
                EntryKind::Commit => {
                    for &(dir, _) in contexts {
                        self.gitlinks.push((dir, e.filename.to_vec().into_boxed_slice()));
                    }
                }
                _ => {
                    for &(dir, cfg) in contexts {
                        self.insert(dir, cfg, e.oid, e.filename);
                    }
                }
            }
        }
    }
}

/// Directory paths as `(parent, name)` chains.
struct Dirs {
    parent: Vec<u32>,
    name: Vec<u32>,
    map: HashMap<(u32, u32), u32>,
    paths: Vec<Option<String>>,
}

impl Dirs {
    fn new() -> Dirs {
        Dirs { parent: vec![UNSET], name: vec![UNSET], map: HashMap::new(), paths: vec![Some(String::new())] }
    }

    fn child(&mut self, parent: u32, name: u32) -> u32 {
        *self.map.entry((parent, name)).or_insert_with(|| {
            self.parent.push(parent);
            self.name.push(name);
            self.paths.push(None);
            (self.parent.len() - 1) as u32
        })
    }

    fn path(&mut self, dir: u32, names: &Names) -> String {
        if let Some(p) = &self.paths[dir as usize] {
            return p.clone();
        }
        let parent = self.path(self.parent[dir as usize], names);
        let p = join(&parent, &names.list[self.name[dir as usize] as usize]);
        self.paths[dir as usize] = Some(p.clone());
        p
    }
}

/// Everything the later steps need to know about the graph.
struct Graph {
    /// Every commit read, sorted by id.
    commits: Vec<(ObjectId, CommitMeta)>,
    commit_index: HashMap<ObjectId, u32>,
    /// Reachable commits in topological order (parents first).
    topo: Vec<u32>,
    /// Position of each commit in `topo` (`UNSET` if unreachable).
    rank: Vec<u32>,
    /// Parents (dense) of each commit.
    parents: Vec<Vec<u32>>,
    /// Dense root tree of each commit (`UNSET` if missing).
    root: Vec<u32>,
    /// Config set of each reachable commit.
    cfg: Vec<u32>,
}

macro_rules! t {
    ($t0:expr, $what:expr) => {
        if std::env::var_os("SG_TRACE").is_some() {
            #[allow(clippy::print_stderr)]
            {
                let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
                let f: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
                let cpu = f.get(11).and_then(|u| u.parse::<f64>().ok()).unwrap_or(0.0)
                    + f.get(12).and_then(|u| u.parse::<f64>().ok()).unwrap_or(0.0);
                eprintln!(
                    "[trace] {:>8.3}s cpu {:>8.2}s {}",
                    $t0.elapsed().as_secs_f64(),
                    cpu / 100.0,
                    $what
                );
            }
        }
    };
}

pub(crate) fn scan(
    engine: &Engine,
    start: &Path,
    opts: &GitOptions,
    progress: Option<&dyn Progress>,
) -> Result<ScanReport, GitError> {
    let t0 = std::time::Instant::now();
    let safe = util::open(start)?;
    let repo = safe.to_thread_local();
    let hash = repo.object_hash();
    let mut report = ScanReport::default();
    let (odb, odb_problems) = Odb::open(&safe);
    t!(t0, "odb open");
    for message in odb_problems {
        report.problems.push(Problem { path: "(object database)".into(), message });
    }
    let refs = list_refs(&repo, &mut report)?;
    let head = repo.head_id().ok().map(|id| id.detach());
    let shallow: HashSet<ObjectId> =
        repo.shallow_commits().ok().flatten().map(|c| c.iter().copied().collect()).unwrap_or_default();

    t!(t0, "refs");
    // Step 1: commits and trees.
    let mut tree_ids: Vec<ObjectId> = odb.ids_of_kind(Kind::Tree);
    tree_ids.sort_unstable();
    let mut tree_index: gix::hashtable::HashMap<ObjectId, u32> =
        tree_ids.iter().enumerate().map(|(i, id)| (*id, i as u32)).collect();
    let step1_objects = odb.count(&[Kind::Commit, Kind::Tree]);
    let blob_objects = odb.count(&[Kind::Blob]);
    if let Some(p) = progress {
        p.set_total(step1_objects + blob_objects);
    }
    let names = Mutex::new(Names::default());
    let budget = AtomicI64::new(TREE_CACHE_BUDGET);
    let cache_ok = AtomicBool::new(true);
    let (states, failures) = odb.stream(
        &[Kind::Commit, Kind::Tree],
        opts.threads,
        || Step1 {
            commits: Vec::new(),
            trees: Vec::new(),
            raw: Vec::new(),
            malformed: Vec::new(),
            names: LocalNames { cache: HashMap::new(), shared: &names },
            tally: Tally::new(progress),
        },
        |st, _loc, id, kind, data| {
            st.tally.add(data.len());
            match kind {
                Kind::Commit => match parse_commit(data, hash) {
                    Some(meta) => st.commits.push((id.to_owned(), meta)),
                    None => st.malformed.push(format!("commit {id} is malformed and was skipped")),
                },
                Kind::Tree => {
                    let Some(&dense) = tree_index.get(id) else { return };
                    let info = tree_info(id, data, hash, &tree_index, &mut st.names, &mut st.malformed);
                    st.trees.push((dense, info));
                    if cache_ok.load(Ordering::Relaxed) {
                        if budget.fetch_sub(data.len() as i64, Ordering::Relaxed) >= data.len() as i64 {
                            st.raw.push((dense, data.into()));
                        } else {
                            cache_ok.store(false, Ordering::Relaxed);
                        }
                    }
                }
                _ => {}
            }
        },
    );
    for f in failures {
        report.problems.push(Problem {
            path: "(object database)".into(),
            message: format!("{f}; the commits and trees it still held were looked up one by one"),
        });
    }
    t!(t0, "step1 stream");
    let cached = cache_ok.load(Ordering::Relaxed);
    let mut commits: Vec<(ObjectId, CommitMeta)> = Vec::new();
    let mut trees: Vec<Option<TreeInfo>> = Vec::new();
    trees.resize_with(tree_ids.len(), || None);
    let mut raw: Vec<Option<Box<[u8]>>> = Vec::new();
    if cached {
        raw.resize_with(tree_ids.len(), || None);
    }
    let mut malformed = Vec::new();
    for st in states {
        commits.extend(st.commits);
        for (d, info) in st.trees {
            trees[d as usize] = Some(info);
        }
        if cached {
            for (d, bytes) in st.raw {
                raw[d as usize] = Some(bytes);
            }
        }
        malformed.extend(st.malformed);
    }
    let mut names = names.into_inner().unwrap_or_else(|p| p.into_inner());
    commits.sort_by(|a, b| a.0.cmp(&b.0));
    commits.dedup_by(|a, b| a.0 == b.0);
    let mut commit_index: HashMap<ObjectId, u32> =
        commits.iter().enumerate().map(|(i, (id, _))| (*id, i as u32)).collect();

    // Classify the ref tips; objects the stream did not deliver are looked up.
    let mut commit_tips: Vec<(String, u32)> = Vec::new();
    let mut tree_tips: Vec<(String, u32)> = Vec::new();
    let mut blob_tips: Vec<(String, ObjectId)> = Vec::new();
    let mut loader = Loader { repo: &repo, hash, problems: Vec::new() };
    for (name, id) in &refs {
        if let Some(&c) = commit_index.get(id) {
            commit_tips.push((name.clone(), c));
            continue;
        }
        if let Some(&t) = tree_index.get(id) {
            tree_tips.push((name.clone(), t));
            continue;
        }
        match repo.try_find_header(*id) {
            Ok(Some(h)) if h.kind() == Kind::Commit => {
                if let Some(c) = loader.commit(*id, &mut commits, &mut commit_index) {
                    commit_tips.push((name.clone(), c));
                }
            }
            Ok(Some(h)) if h.kind() == Kind::Tree => {
                let t = loader.tree_id(*id, &mut tree_ids, &mut tree_index, &mut trees, &mut raw, cached);
                tree_tips.push((name.clone(), t));
            }
            Ok(Some(h)) if h.kind() == Kind::Blob => blob_tips.push((name.clone(), *id)),
            Ok(Some(h)) => report.problems.push(Problem {
                path: name.clone(),
                message: format!("ref points to a {} ({id}), which is not scanned", h.kind()),
            }),
            Ok(None) => report.problems.push(Problem {
                path: name.clone(),
                message: format!("ref points to {id}, which is missing from the object database"),
            }),
            Err(e) => report
                .problems
                .push(Problem { path: name.clone(), message: format!("cannot read {id}: {}", one_line(&e)) }),
        }
    }

    t!(t0, "step1 merged, tips");
    // Step 2: reachability, order, configs, contexts.
    let mut reachable = vec![false; commits.len()];
    let mut stack: Vec<u32> = commit_tips.iter().map(|t| t.1).collect();
    if opts.all_objects {
        stack.extend(0..commits.len() as u32);
    }
    let mut parents: Vec<Vec<u32>> = Vec::new();
    let mut shallow_hit = false;
    while let Some(c) = stack.pop() {
        if reachable.get(c as usize).copied().unwrap_or(false) {
            continue;
        }
        if reachable.len() <= c as usize {
            reachable.resize(c as usize + 1, false);
        }
        reachable[c as usize] = true;
        let (cid, meta) = commits[c as usize].clone();
        let mut ps = Vec::with_capacity(meta.parents.len());
        for p in &meta.parents {
            let found = match commit_index.get(p) {
                Some(&pi) => Some(pi),
                None => loader.commit(*p, &mut commits, &mut commit_index),
            };
            match found {
                Some(pi) => {
                    ps.push(pi);
                    stack.push(pi);
                }
                None if shallow.contains(&cid) => shallow_hit = true,
                None => report.problems.push(Problem {
                    path: "(commit graph)".into(),
                    message: format!(
                        "commit {p} (parent of {cid}) is missing; history behind it was not scanned"
                    ),
                }),
            }
        }
        if parents.len() <= c as usize {
            parents.resize(c as usize + 1, Vec::new());
        }
        parents[c as usize] = ps;
    }
    let n = commits.len();
    reachable.resize(n, false);
    parents.resize(n, Vec::new());
    if shallow_hit || !shallow.is_empty() {
        report.notes.push(format!(
            "shallow clone: history before {} boundary commit(s) is not available and was not scanned (fetch it with `git fetch --unshallow`)",
            shallow.len()
        ));
    }
    let topo = topo_order(&commits, &reachable, &parents);
    let mut rank = vec![UNSET; n];
    for (r, &c) in topo.iter().enumerate() {
        rank[c as usize] = r as u32;
    }
    let mut root = vec![UNSET; n];
    for &c in &topo {
        let t = commits[c as usize].1.tree;
        root[c as usize] = loader.tree_id(t, &mut tree_ids, &mut tree_index, &mut trees, &mut raw, cached);
    }

    // Every tree below a root must be known; missing ones are looked up (or reported).
    let mut roots: Vec<u32> = topo.iter().map(|&c| root[c as usize]).collect();
    roots.extend(tree_tips.iter().map(|t| t.1));
    if opts.all_objects {
        roots.extend(0..tree_ids.len() as u32);
    }
    roots.sort_unstable();
    roots.dedup();
    loader.complete(&roots, &mut tree_ids, &mut tree_index, &mut trees, &mut raw, cached, &mut names);

    t!(t0, "reach/topo/complete");
    // Signatures (the .sops.yaml files below each tree), bottom-up, once per tree.
    let mut sigs = Sigs::default();
    let mut configs = Configs::new(opts.sops_config_override.as_ref());
    let read = |id: ObjectId| -> Result<Vec<u8>, String> {
        match repo.try_find_object(id) {
            Ok(Some(o)) => Ok(o.detach().data),
            Ok(None) => Err("missing from the object database".into()),
            Err(e) => Err(one_line(&e)),
        }
    };
    let mut sig_cfg: HashMap<u32, u32> = HashMap::new();
    let mut cfg_of_tree = |t: u32, sigs: &mut Sigs, problems: &mut Vec<Problem>| -> u32 {
        let s = sigs.of(t, &trees, &names);
        *sig_cfg.entry(s).or_insert_with(|| configs.intern(&sigs.list[s as usize], &read, problems))
    };
    let mut cfg = vec![UNSET; n];
    for &c in &topo {
        let t = root[c as usize];
        if t != UNSET {
            cfg[c as usize] = cfg_of_tree(t, &mut sigs, &mut report.problems);
        }
    }

    t!(t0, "sigs");
    // Contexts: (directory, configs) of each tree, each distinct one pushed down once.
    let mut dirs = Dirs::new();
    let mut contexts: Vec<Vec<(u32, u32)>> = vec![Vec::new(); tree_ids.len()];
    let mut seen: HashSet<(u32, u32, u32)> = HashSet::new();
    let mut work: Vec<(u32, u32, u32)> = Vec::new();
    for &c in &topo {
        if root[c as usize] != UNSET {
            work.push((root[c as usize], 0, cfg[c as usize]));
        }
    }
    for &(_, t) in &tree_tips {
        let cf = cfg_of_tree(t, &mut sigs, &mut report.problems);
        work.push((t, 0, cf));
    }
    push_contexts(&mut work, &mut seen, &mut contexts, &trees, &mut dirs);
    if opts.all_objects {
        // Trees nothing reaches (not even another dangling tree) are scanned as roots.
        let mut has_parent = vec![false; tree_ids.len()];
        for info in trees.iter().flatten() {
            for &(_, child) in &info.subtrees {
                has_parent[child as usize] = true;
            }
        }
        for t in 0..tree_ids.len() as u32 {
            if contexts[t as usize].is_empty() && !has_parent[t as usize] && trees[t as usize].is_some() {
                let cf = cfg_of_tree(t, &mut sigs, &mut report.problems);
                work.push((t, 0, cf));
            }
        }
        push_contexts(&mut work, &mut seen, &mut contexts, &trees, &mut dirs);
    }
    drop(seen);
    let graph = Graph { commits, commit_index, topo, rank, parents, root, cfg };

    t!(t0, "contexts");
    // Step 3: blob names.
    let step3 = if cached {
        (0..tree_ids.len())
            .into_par_iter()
            .filter(|&t| !contexts[t].is_empty())
            .fold(Step3::default, |mut st, t| {
                if let Some(bytes) = &raw[t] {
                    st.expand(&tree_ids[t], bytes, &contexts[t], hash);
                }
                st
            })
            .reduce(Step3::default, Step3::merge)
    } else {
        if let Some(p) = progress {
            p.set_total(step1_objects + odb.count(&[Kind::Tree]) + blob_objects);
        }
        let delivered: Vec<AtomicBool> = (0..tree_ids.len()).map(|_| AtomicBool::new(false)).collect();
        let (states, failures) = odb.stream(
            &[Kind::Tree],
            opts.threads,
            || (Step3::default(), Tally::new(progress)),
            |(st, tally), _loc, id, _kind, data| {
                tally.add(data.len());
                let Some(&t) = tree_index.get(id) else { return };
                delivered[t as usize].store(true, Ordering::Relaxed);
                if !contexts[t as usize].is_empty() {
                    st.expand(id, data, &contexts[t as usize], hash);
                }
            },
        );
        for f in failures {
            report.problems.push(Problem {
                path: "(object database)".into(),
                message: format!("{f}; the trees it still held were looked up one by one"),
            });
        }
        let mut st = states.into_iter().map(|s| s.0).fold(Step3::default(), Step3::merge);
        for t in 0..tree_ids.len() {
            if !contexts[t].is_empty() && !delivered[t].load(Ordering::Relaxed) {
                match raw.get(t).and_then(Option::as_ref) {
                    Some(bytes) => st.expand(&tree_ids[t], bytes, &contexts[t], hash),
                    None => match repo.try_find_object(tree_ids[t]) {
                        Ok(Some(o)) if o.kind == Kind::Tree => {
                            st.expand(&tree_ids[t], &o.data, &contexts[t], hash)
                        }
                        _ => report.problems.push(Problem {
                            path: dirs.path(contexts[t][0].0, &names),
                            message: format!(
                                "tree {} cannot be read; its files were not scanned",
                                tree_ids[t]
                            ),
                        }),
                    },
                }
            }
        }
        st
    };
    t!(t0, format!("step3 expand cached={cached} pairs={}", step3.pairs.len()));
    malformed.extend(step3.malformed);
    let mut gitlinks: Vec<String> =
        step3.gitlinks.iter().map(|(d, name)| join(&dirs.path(*d, &names), name)).collect();
    gitlinks.sort();
    gitlinks.dedup();
    for path in gitlinks {
        report.notes.push(format!(
            "submodule `{path}` skipped: its content lives in another repository (scan it there)"
        ));
    }
    let mut keys: Vec<PairKey> = step3.pairs.into_iter().collect();
    keys.par_sort_unstable_by(|a, b| (a.id, a.dir, &a.name, a.cfg).cmp(&(b.id, b.dir, &b.name, b.cfg)));
    let mut pairs: Vec<(ObjectId, Variant)> = Vec::with_capacity(keys.len() + blob_tips.len());
    for k in keys {
        let path = join(&dirs.path(k.dir, &names), &k.name);
        pairs.push((k.id, Variant { path, cfg: k.cfg, tag: 0 }));
    }
    // Blobs that no tree names: pointed to by a ref, or (--all-objects) dangling.
    let empty_cfg = configs.intern(&[], &read, &mut report.problems);
    let mut loose_blobs: Vec<ObjectId> = blob_tips.iter().map(|b| b.1).collect();
    if opts.all_objects {
        let named: HashSet<ObjectId> = pairs.iter().map(|p| p.0).collect();
        loose_blobs.extend(odb.ids_of_kind(Kind::Blob).into_iter().filter(|id| !named.contains(id)));
    }
    for id in loose_blobs {
        pairs.push((id, Variant { path: id.to_string(), cfg: empty_cfg, tag: 1 }));
    }
    let wanted = Wanted::from_pairs(pairs);
    malformed.sort();
    malformed.dedup();
    for message in malformed {
        report.problems.push(Problem { path: "(object database)".into(), message });
    }
    report.problems.extend(loader.problems.drain(..));

    t!(t0, format!("wanted {}", wanted.len()));
    // Step 4: blobs.
    let outcome = blobs::scan_wanted(engine, &safe, Some(&odb), &wanted, &configs, opts, progress);
    report.skipped.extend(outcome.skipped);
    report.problems.extend(outcome.problems);

    t!(t0, "step4 blobs");
    // Step 5: provenance. Findings that differ only in the config set they were found under are
    // one finding; its commits are those of all these config sets.
    type Key = (String, ObjectId, String, usize, usize, String, String);
    let mut merged: BTreeMap<Key, (Finding, BTreeSet<u32>, bool)> = BTreeMap::new();
    for mut s in outcome.scanned {
        let g = &wanted.groups[s.group as usize];
        let v = &g.variants[s.variant as usize];
        let findings = std::mem::take(&mut s.result.findings);
        report.add(s.bytes, s.result);
        for f in findings {
            let key = (
                f.path.clone(),
                g.id,
                f.rule.clone(),
                f.location.byte_start,
                f.location.byte_end,
                f.fingerprint.clone(),
                f.message.clone(),
            );
            merged.entry(key).or_insert_with(|| (f, BTreeSet::new(), v.tag == 1)).1.insert(v.cfg);
        }
    }
    let mut queries: BTreeMap<(String, ObjectId, Vec<u32>), usize> = BTreeMap::new();
    for (key, (_, cfgs, object)) in &merged {
        if !object {
            let n = queries.len();
            queries.entry((key.0.clone(), key.1, cfgs.iter().copied().collect())).or_insert(n);
        }
    }
    let query_list: Vec<(String, ObjectId, Vec<u32>)> = {
        let mut v: Vec<_> = queries.iter().map(|(k, &i)| (i, k.clone())).collect();
        v.sort_by_key(|x| x.0);
        v.into_iter().map(|x| x.1).collect()
    };
    let annotations = annotate(
        &query_list,
        &graph,
        &trees,
        &tree_ids,
        &raw,
        &names,
        &repo,
        hash,
        head,
        &commit_tips,
        &tree_tips,
    );
    for (key, (mut f, cfgs, object)) in merged {
        let blob = Some(key.1.to_string());
        f.provenance = Some(if object {
            let mut refs: Vec<String> =
                blob_tips.iter().filter(|b| b.1 == key.1).map(|b| b.0.clone()).collect();
            refs.sort();
            Provenance { source: "object".into(), blob, refs, ..Provenance::default() }
        } else {
            let q = queries[&(key.0.clone(), key.1, cfgs.iter().copied().collect::<Vec<u32>>())];
            let a = &annotations[q];
            let intro = a.intro.map(|c| &graph.commits[c as usize]);
            Provenance {
                source: "commit".into(),
                blob,
                commit: intro.map(|c| c.0.to_string()),
                author: intro.map(|c| c.1.author.clone()),
                date: intro.map(|c| rfc3339(c.1.author_time)),
                commits: Some(a.count),
                refs: a.refs.clone(),
                at_head: Some(a.at_head),
            }
        });
        report.findings.push(f);
    }
    t!(t0, "step5");
    report.sort();
    Ok(report)
}

/// Every ref, peeled, sorted by name; `HEAD` too when it is detached.
fn list_refs(repo: &gix::Repository, report: &mut ScanReport) -> Result<Vec<(String, ObjectId)>, GitError> {
    let platform = repo.references().map_err(|e| GitError::Repository { message: one_line(&e) })?;
    let iter = platform.all().map_err(|e| GitError::Repository { message: one_line(&e) })?;
    let mut out = Vec::new();
    for r in iter {
        match r {
            Ok(mut r) => {
                let name = r.name().as_bstr().to_string();
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

/// Parses what step 1 keeps of a tree.
fn tree_info(
    id: &oid,
    data: &[u8],
    hash: gix::hash::Kind,
    tree_index: &gix::hashtable::HashMap<ObjectId, u32>,
    names: &mut impl NameSink,
    malformed: &mut Vec<String>,
) -> TreeInfo {
    let mut info = TreeInfo::default();
    for e in gix::objs::TreeRefIter::from_bytes(data, hash) {
        let Ok(e) = e else {
            malformed.push(format!("tree {id} is malformed; entries after the damage were not read"));
            break;
        };
        match e.mode.kind() {
            EntryKind::Tree => {
                let name = names.intern(e.filename);
                match tree_index.get(e.oid) {
                    Some(&child) => info.subtrees.push((name, child)),
                    None => info.missing.push((name, e.oid.to_owned())),
                }
            }
            EntryKind::Blob | EntryKind::BlobExecutable if e.filename == SOPS_CONFIG => {
                info.sops = Some(e.oid.to_owned());
            }
            _ => {}
        }
    }
    info
}

trait NameSink {
    fn intern(&mut self, name: &[u8]) -> u32;
}

impl NameSink for LocalNames<'_> {
    fn intern(&mut self, name: &[u8]) -> u32 {
        LocalNames::intern(self, name)
    }
}

impl NameSink for Names {
    fn intern(&mut self, name: &[u8]) -> u32 {
        Names::intern(self, name)
    }
}

/// Looks up commits and trees the stream did not deliver (failed packs, objects of unknown kind).
struct Loader<'r> {
    repo: &'r gix::Repository,
    hash: gix::hash::Kind,
    problems: Vec<Problem>,
}

impl Loader<'_> {
    fn commit(
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

    /// The dense id of a tree, allocating one for a tree the stream did not see.
    fn tree_id(
        &mut self,
        id: ObjectId,
        tree_ids: &mut Vec<ObjectId>,
        index: &mut gix::hashtable::HashMap<ObjectId, u32>,
        trees: &mut Vec<Option<TreeInfo>>,
        raw: &mut Vec<Option<Box<[u8]>>>,
        cached: bool,
    ) -> u32 {
        if let Some(&t) = index.get(&id) {
            return t;
        }
        let t = tree_ids.len() as u32;
        tree_ids.push(id);
        index.insert(id, t);
        trees.push(None);
        if cached {
            raw.push(None);
        }
        t
    }

    /// Makes sure every tree below `roots` has its info, looking up what is missing.
    #[allow(clippy::too_many_arguments)]
    fn complete(
        &mut self,
        roots: &[u32],
        tree_ids: &mut Vec<ObjectId>,
        index: &mut gix::hashtable::HashMap<ObjectId, u32>,
        trees: &mut Vec<Option<TreeInfo>>,
        raw: &mut Vec<Option<Box<[u8]>>>,
        cached: bool,
        names: &mut Names,
    ) {
        let mut visited = vec![false; tree_ids.len()];
        let mut stack: Vec<u32> = roots.to_vec();
        while let Some(t) = stack.pop() {
            if visited.len() <= t as usize {
                visited.resize(t as usize + 1, false);
            }
            if visited[t as usize] {
                continue;
            }
            visited[t as usize] = true;
            if trees[t as usize].is_none() {
                let id = tree_ids[t as usize];
                match self.repo.try_find_object(id) {
                    Ok(Some(o)) if o.kind == Kind::Tree => {
                        let mut malformed = Vec::new();
                        let info = tree_info(&id, &o.data, self.hash, index, names, &mut malformed);
                        for message in malformed {
                            self.problems.push(Problem { path: "(object database)".into(), message });
                        }
                        trees[t as usize] = Some(info);
                        if cached {
                            raw[t as usize] = Some(o.data.clone().into_boxed_slice());
                        }
                    }
                    Ok(Some(o)) => {
                        self.problems.push(Problem {
                            path: "(object database)".into(),
                            message: format!("object {id} is a {}, where a tree was expected", o.kind),
                        });
                        trees[t as usize] = Some(TreeInfo::default());
                    }
                    Ok(None) => {
                        self.problems.push(Problem {
                            path: "(object database)".into(),
                            message: format!("tree {id} is missing from the object database; the files below it were not scanned"),
                        });
                        trees[t as usize] = Some(TreeInfo::default());
                    }
                    Err(e) => {
                        self.problems.push(Problem {
                            path: "(object database)".into(),
                            message: format!(
                                "tree {id} cannot be read ({}); the files below it were not scanned",
                                one_line(&e)
                            ),
                        });
                        trees[t as usize] = Some(TreeInfo::default());
                    }
                }
            }
            // Subtrees the database did not list as trees get dense ids now.
            let missing =
                trees[t as usize].as_mut().map(|i| std::mem::take(&mut i.missing)).unwrap_or_default();
            for (name, id) in missing {
                let child = self.tree_id(id, tree_ids, index, trees, raw, cached);
                if let Some(info) = trees[t as usize].as_mut() {
                    info.subtrees.push((name, child));
                }
            }
            if let Some(info) = &trees[t as usize] {
                stack.extend(info.subtrees.iter().map(|s| s.1));
            }
        }
    }
}

/// Reachable commits, parents first; among ready ones the oldest (committer time, then id).
fn topo_order(commits: &[(ObjectId, CommitMeta)], reachable: &[bool], parents: &[Vec<u32>]) -> Vec<u32> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let n = commits.len();
    let mut pending = vec![0u32; n];
    let mut children: Vec<Vec<u32>> = vec![Vec::new(); n];
    for c in 0..n {
        if !reachable[c] {
            continue;
        }
        for &p in &parents[c] {
            pending[c] += 1;
            children[p as usize].push(c as u32);
        }
    }
    let key = |c: usize| Reverse((commits[c].1.commit_time, commits[c].0, c as u32));
    let mut ready: BinaryHeap<_> = (0..n).filter(|&c| reachable[c] && pending[c] == 0).map(key).collect();
    let mut out = Vec::with_capacity(n);
    while let Some(Reverse((_, _, c))) = ready.pop() {
        out.push(c);
        for &ch in &children[c as usize] {
            pending[ch as usize] -= 1;
            if pending[ch as usize] == 0 {
                ready.push(key(ch as usize));
            }
        }
    }
    out
}

/// The `.sops.yaml` files below each tree, interned; id 0 is "none".
struct Sigs {
    list: Vec<Signature>,
    map: HashMap<Signature, u32>,
    of_tree: Vec<u32>,
}

impl Default for Sigs {
    fn default() -> Self {
        Sigs { list: vec![Vec::new()], map: HashMap::from([(Vec::new(), 0)]), of_tree: Vec::new() }
    }
}

impl Sigs {
    fn of(&mut self, t: u32, trees: &[Option<TreeInfo>], names: &Names) -> u32 {
        if self.of_tree.len() < trees.len() {
            self.of_tree.resize(trees.len(), UNSET);
        }
        if self.of_tree[t as usize] < IN_PROGRESS {
            return self.of_tree[t as usize];
        }
        // Post-order walk with an explicit stack (trees can be deep).
        let mut stack: Vec<(u32, usize)> = vec![(t, 0)];
        self.of_tree[t as usize] = IN_PROGRESS;
        while let Some(&mut (cur, ref mut next)) = stack.last_mut() {
            let info = trees[cur as usize].as_ref();
            let subtrees = info.map(|i| i.subtrees.as_slice()).unwrap_or(&[]);
            if *next < subtrees.len() {
                let child = subtrees[*next].1;
                *next += 1;
                if self.of_tree[child as usize] == UNSET {
                    self.of_tree[child as usize] = IN_PROGRESS;
                    stack.push((child, 0));
                }
                continue;
            }
            stack.pop();
            let direct = info.and_then(|i| i.sops);
            let any_child = subtrees
                .iter()
                .any(|s| self.of_tree[s.1 as usize] != 0 && self.of_tree[s.1 as usize] < IN_PROGRESS);
            let id = if direct.is_none() && !any_child {
                0
            } else {
                let mut sig: Signature = Vec::new();
                if let Some(b) = direct {
                    sig.push((".sops.yaml".into(), b));
                }
                for &(name, child) in subtrees {
                    let s = self.of_tree[child as usize];
                    if s == 0 || s >= IN_PROGRESS {
                        continue;
                    }
                    let prefix = String::from_utf8_lossy(&names.list[name as usize]).into_owned();
                    for (p, b) in &self.list[s as usize] {
                        sig.push((format!("{prefix}/{p}"), *b));
                    }
                }
                sig.sort();
                sig.dedup();
                match self.map.get(&sig) {
                    Some(&id) => id,
                    None => {
                        let id = self.list.len() as u32;
                        self.list.push(sig.clone());
                        self.map.insert(sig, id);
                        id
                    }
                }
            };
            self.of_tree[cur as usize] = id;
        }
        self.of_tree[t as usize]
    }
}

/// Pushes `(tree, directory, configs)` contexts down to every subtree, each distinct one once.
fn push_contexts(
    work: &mut Vec<(u32, u32, u32)>,
    seen: &mut HashSet<(u32, u32, u32)>,
    contexts: &mut [Vec<(u32, u32)>],
    trees: &[Option<TreeInfo>],
    dirs: &mut Dirs,
) {
    while let Some((t, d, c)) = work.pop() {
        if !seen.insert((t, d, c)) {
            continue;
        }
        contexts[t as usize].push((d, c));
        if let Some(info) = &trees[t as usize] {
            for &(name, child) in &info.subtrees {
                let nd = dirs.child(d, name);
                if !seen.contains(&(child, nd, c)) {
                    work.push((child, nd, c));
                }
            }
        }
    }
}

/// Provenance of one `(path, blob, config sets)`.
#[derive(Default)]
struct Annotation {
    intro: Option<u32>,
    count: usize,
    refs: Vec<String>,
    at_head: bool,
}

#[allow(clippy::too_many_arguments)]
fn annotate(
    queries: &[(String, ObjectId, Vec<u32>)],
    graph: &Graph,
    trees: &[Option<TreeInfo>],
    tree_ids: &[ObjectId],
    raw: &[Option<Box<[u8]>>],
    names: &Names,
    repo: &gix::Repository,
    hash: gix::hash::Kind,
    head: Option<ObjectId>,
    commit_tips: &[(String, u32)],
    tree_tips: &[(String, u32)],
) -> Vec<Annotation> {
    let mut out: Vec<Annotation> = (0..queries.len()).map(|_| Annotation::default()).collect();
    if queries.is_empty() {
        return out;
    }
    let head_commit = head.and_then(|h| graph.commit_index.get(&h).copied());
    let mut contain: Vec<Vec<u32>> = vec![Vec::new(); queries.len()];
    let mut by_path: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, q) in queries.iter().enumerate() {
        by_path.entry(q.0.as_str()).or_default().push(i);
    }
    // The blob named `file` in directory tree `d`, memoized per tree.
    let file_in = |d: u32, file: &[u8], memo: &mut HashMap<u32, Option<ObjectId>>| -> Option<ObjectId> {
        *memo.entry(d).or_insert_with(|| {
            let owned;
            let data: &[u8] = match raw.get(d as usize).and_then(Option::as_ref) {
                Some(b) => b,
                None => match repo.try_find_object(tree_ids[d as usize]) {
                    Ok(Some(o)) => {
                        owned = o.detach().data;
                        &owned
                    }
                    _ => return None,
                },
            };
            gix::objs::TreeRefIter::from_bytes(data, hash)
                .filter_map(Result::ok)
                .find(|e| e.filename == file && is_blob(e.mode.kind()))
                .map(|e| e.oid.to_owned())
        })
    };
    for (path, qs) in &by_path {
        let parts: Vec<&str> = path.split('/').collect();
        let (file, dir_parts) = match parts.split_last() {
            Some((f, d)) => (f.as_bytes(), d),
            None => continue,
        };
        let dir_names: Option<Vec<u32>> =
            dir_parts.iter().map(|p| names.map.get(p.as_bytes()).copied()).collect();
        let Some(dir_names) = dir_names else { continue };
        let resolve = |mut t: u32| -> Option<u32> {
            for &name in &dir_names {
                let info = trees.get(t as usize)?.as_ref()?;
                t = info.subtrees.iter().find(|s| s.0 == name)?.1;
            }
            Some(t)
        };
        let mut memo: HashMap<u32, Option<ObjectId>> = HashMap::new();
        for &c in &graph.topo {
            let r = graph.root[c as usize];
            if r == UNSET {
                continue;
            }
            let Some(d) = resolve(r) else { continue };
            let Some(b) = file_in(d, file, &mut memo) else { continue };
            for &qi in qs {
                let q = &queries[qi];
                if q.1 != b {
                    continue;
                }
                if Some(c) == head_commit {
                    out[qi].at_head = true;
                }
                if q.2.contains(&graph.cfg[c as usize]) {
                    contain[qi].push(c);
                }
            }
        }
        for (name, t) in tree_tips {
            if let Some(b) = resolve(*t).and_then(|d| file_in(d, file, &mut memo)) {
                for &qi in qs {
                    if queries[qi].1 == b {
                        out[qi].refs.push(name.clone());
                    }
                }
            }
        }
    }
    for (qi, cs) in contain.iter().enumerate() {
        out[qi].count = cs.len();
        out[qi].intro = cs.iter().copied().min_by_key(|&c| graph.rank[c as usize]);
    }
    // Which refs reach a containing commit: 64 queries at a time, bits pushed along the order.
    let mut bits = vec![0u64; graph.commits.len()];
    for (batch_no, batch) in contain.chunks(64).enumerate() {
        bits.iter_mut().for_each(|b| *b = 0);
        for (bit, cs) in batch.iter().enumerate() {
            for &c in cs {
                bits[c as usize] |= 1 << bit;
            }
        }
        for &c in &graph.topo {
            let mut acc = bits[c as usize];
            for &p in &graph.parents[c as usize] {
                acc |= bits[p as usize];
            }
            bits[c as usize] = acc;
        }
        for (name, tip) in commit_tips {
            let mut m = bits[*tip as usize];
            while m != 0 {
                let bit = m.trailing_zeros() as usize;
                m &= m - 1;
                out[batch_no * 64 + bit].refs.push(name.clone());
            }
        }
    }
    for a in &mut out {
        a.refs.sort();
        a.refs.dedup();
    }
    out
}
