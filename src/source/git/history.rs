//! `--history`: every blob reachable from any ref, each read once, at object-database speed.
//!
//! Walking every commit's tree would read the same trees hundreds of thousands of times, and
//! looking objects up by id decompresses delta bases again and again. Instead:
//!
//! 1. **Commits and trees** are streamed out of the packs once (see [`super::odb`]). A commit
//!    keeps its tree, parents, author and dates. A tree keeps its subtrees and its `.sops.yaml`,
//!    and its file entries *as an edit of its delta base*: the pack stores most tree versions as
//!    deltas of a similar tree (usually the previous version of the same directory), so the
//!    entries that differ are few. Only trees that are not deltas keep their whole list.
//! 2. **Graph.** Commits reachable from the refs are ordered topologically. Each tree's set of
//!    `.sops.yaml` files (its *signature*) is computed bottom-up, once per tree; a commit's configs
//!    are its root tree's signature. Directory contexts `(tree, path, configs)` are then pushed
//!    top-down, each distinct context once: a subtree shared by 10,000 commits is visited once
//!    per distinct path and config set, not 10,000 times.
//! 3. **Blob names.** The delta forest of step 1 is walked base first, rebuilding each tree's
//!    entries from its base's. A tree whose contexts its base also had contributes only the
//!    entries it added; the others were named when the base was. This yields the distinct
//!    `(blob, path, configs)` triples without reading a tree a second time.
//! 4. **Blobs.** Every blob in the packs is inflated once (streamed, in parallel) and the wanted
//!    ones are scanned once per distinct `(path, configs)`.
//! 5. **Provenance**, only for blobs with findings: which commits hold the blob at that path (the
//!    directory chain resolves in memory, and whether the directory's tree holds the file is
//!    settled by one more walk of the delta forest), the earliest in topological order (the
//!    introducing commit), how many, which refs reach one of them (bitsets pushed along the
//!    topological order, 64 findings at a time), and whether `HEAD` holds it.

use crate::finding::{ref_class, MAX_REFS};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use gix::objs::Kind;
use gix::{oid, ObjectId};
use rayon::prelude::*;

use super::blobs::{self, Variant, Wanted};
use super::configs::{Configs, Signature};
use super::odb::Odb;
use super::util::{
    self, join, one_line, parse_commit, rfc3339, CommitMeta, FxMap, FxSet, Tally, SOPS_CONFIG,
};
use super::{GitError, GitOptions, Progress};
use crate::finding::{Finding, Provenance};
use crate::scan::{Engine, ScanReport};
use crate::source::Problem;

const UNSET: u32 = u32::MAX;
const IN_PROGRESS: u32 = u32::MAX - 1;
/// The blob id of a gitlink (submodule) entry.
const GITLINK: u32 = u32::MAX;

/// What step 1 keeps of a tree's subdirectories.
#[derive(Default)]
struct TreeInfo {
    /// `(name id, dense tree id)` of every subtree.
    subtrees: Box<[(u32, u32)]>,
    /// Subtrees whose ids are not known to be trees in the database: `(name id, id)`.
    missing: Vec<(u32, ObjectId)>,
    /// The blob of a `.sops.yaml` directly in this tree.
    sops: Option<ObjectId>,
}

/// One file entry: interned name and dense blob id ([`GITLINK`] for submodules).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Ent {
    name: u32,
    blob: u32,
}

/// A tree's file entries as an edit of its delta base (`base == UNSET`: the whole list).
struct TreeRec {
    base: u32,
    added: Box<[Ent]>,
    removed: Box<[Ent]>,
}

impl TreeRec {
    fn apply(&self, base: &[Ent]) -> Vec<Ent> {
        let mut out: Vec<Ent> = if self.removed.is_empty() {
            base.to_vec()
        } else if self.removed.len() <= 8 {
            base.iter().copied().filter(|e| !self.removed.contains(e)).collect()
        } else {
            let gone: FxSet<(u32, u32)> = self.removed.iter().map(|e| (e.name, e.blob)).collect();
            base.iter().copied().filter(|e| !gone.contains(&(e.name, e.blob))).collect()
        };
        out.extend_from_slice(&self.added);
        out
    }
}

/// Interned names (shared by all threads; each thread caches what it has seen).
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

/// Dense blob ids: every blob in the database, then blobs trees name that the database lacks.
struct BlobIds {
    ids: Vec<ObjectId>,
    index: gix::hashtable::HashMap<ObjectId, u32>,
    extra: Mutex<(FxMap<ObjectId, u32>, Vec<ObjectId>)>,
}

impl BlobIds {
    fn get(&self, id: &oid) -> u32 {
        if let Some(&b) = self.index.get(id) {
            return b;
        }
        let mut extra = self.extra.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(&b) = extra.0.get(id) {
            return b;
        }
        let b = (self.ids.len() + extra.1.len()) as u32;
        extra.0.insert(id.to_owned(), b);
        extra.1.push(id.to_owned());
        b
    }

    fn finish(&mut self) {
        let extra = std::mem::take(&mut *self.extra.lock().unwrap_or_else(|p| p.into_inner()));
        for (i, id) in extra.1.into_iter().enumerate() {
            self.index.insert(id, (self.ids.len() + i) as u32);
        }
        let mut all: Vec<(u32, ObjectId)> = self.index.iter().map(|(id, &b)| (b, *id)).collect();
        all.sort_unstable();
        self.ids = all.into_iter().map(|x| x.1).collect();
    }
}

/// Per-thread name cache and conversions from tree entries.
struct Local<'a> {
    cache: FxMap<Box<[u8]>, u32>,
    names: &'a Mutex<Names>,
    blobs: &'a BlobIds,
}

impl Local<'_> {
    fn name(&mut self, name: &[u8]) -> u32 {
        if let Some(&id) = self.cache.get(name) {
            return id;
        }
        let id = self.names.lock().unwrap_or_else(|p| p.into_inner()).intern(name);
        self.cache.insert(name.into(), id);
        id
    }
}

/// Kinds of tree entries as step 1 sees them.
const K_TREE: u8 = 0;
const K_FILE: u8 = 1;
const K_GITLINK: u8 = 2;

/// One parsed tree entry: offsets into the tree's bytes (the id follows the name's NUL).
#[derive(Clone, Copy)]
struct Pe {
    name: u32,
    len: u32,
    kind: u8,
}

impl Pe {
    fn name<'d>(&self, data: &'d [u8]) -> &'d [u8] {
        &data[self.name as usize..(self.name + self.len) as usize]
    }
    /// The whole entry from the name on (name, NUL, id); entries of the same kind compare equal
    /// when these bytes and the kind match.
    fn raw<'d>(&self, data: &'d [u8], hash_len: usize) -> &'d [u8] {
        &data[self.name as usize..(self.name + self.len) as usize + 1 + hash_len]
    }
    fn id<'d>(&self, data: &'d [u8], hash_len: usize) -> &'d oid {
        let start = (self.name + self.len + 1) as usize;
        oid::from_bytes_unchecked(&data[start..start + hash_len])
    }
}

/// Parses a tree; `Err` carries the entries before the damage of a malformed tree.
fn parse_tree(data: &[u8], hash_len: usize) -> Result<Vec<Pe>, Vec<Pe>> {
    let mut out = Vec::with_capacity(data.len() / 32);
    let mut i = 0usize;
    while i < data.len() {
        let Some(sp) = data[i..].iter().take(8).position(|&b| b == b' ') else { return Err(out) };
        let mode = &data[i..i + sp];
        let name = i + sp + 1;
        let Some(nul) = memchr::memchr(0, data.get(name..).unwrap_or(&[])) else { return Err(out) };
        let end = name + nul + 1 + hash_len;
        if nul == 0 || end > data.len() || end > u32::MAX as usize {
            return Err(out);
        }
        let kind = match mode {
            b"40000" | b"040000" => K_TREE,
            b"160000" => K_GITLINK,
            _ => K_FILE,
        };
        out.push(Pe { name: name as u32, len: nul as u32, kind });
        i = end;
    }
    Ok(out)
}

/// A tree kept for its delta children: its bytes, entries and resolved subtrees.
struct Kept {
    dense: u32,
    data: Box<[u8]>,
    ents: Vec<Pe>,
    /// `(name id, dense id or UNSET)` of each subtree entry, in order.
    subs: Vec<(u32, u32)>,
}

/// What step 1 makes of one tree.
struct Analysis {
    info: TreeInfo,
    rec: TreeRec,
    /// The tree's entries and resolved subtrees, to keep for its delta children.
    ents: Vec<Pe>,
    subs: Vec<(u32, u32)>,
    malformed: bool,
}

/// Subtrees and file edits gathered while comparing a tree with its base.
struct Acc {
    missing: Vec<(u32, ObjectId)>,
    subs: Vec<(u32, u32)>,
    added: Vec<Ent>,
    removed: Vec<Ent>,
}

impl Acc {
    fn new_sub(
        &mut self,
        d: &[u8],
        e: &Pe,
        hash_len: usize,
        tree_index: &gix::hashtable::HashMap<ObjectId, u32>,
        local: &mut Local<'_>,
    ) {
        let name = local.name(e.name(d));
        let id = e.id(d, hash_len);
        match tree_index.get(id) {
            Some(&child) => self.subs.push((name, child)),
            None => {
                self.subs.push((name, UNSET));
                self.missing.push((name, id.to_owned()));
            }
        }
    }

    fn file(d: &[u8], e: &Pe, hash_len: usize, local: &mut Local<'_>) -> Ent {
        let name = local.name(e.name(d));
        let blob = if e.kind == K_GITLINK { GITLINK } else { local.blobs.get(e.id(d, hash_len)) };
        Ent { name, blob }
    }

    /// Compares base entries `old` (with the resolved subtrees of their tree entries, in order)
    /// with new entries `new`, both in tree order.
    #[allow(clippy::too_many_arguments)]
    fn merge(
        &mut self,
        od: &[u8],
        old: &[Pe],
        old_subs: &[(u32, u32)],
        nd: &[u8],
        new: &[Pe],
        hash_len: usize,
        tree_index: &gix::hashtable::HashMap<ObjectId, u32>,
        local: &mut Local<'_>,
    ) {
        use std::cmp::Ordering;
        let (mut i, mut j, mut k) = (0usize, 0usize, 0usize);
        while i < old.len() || j < new.len() {
            let order = match (old.get(i), new.get(j)) {
                (Some(o), Some(n)) => {
                    let (oe, ne) = (o.raw(od, hash_len), n.raw(nd, hash_len));
                    if oe == ne {
                        Ordering::Equal
                    } else {
                        util::tree_order(o.name(od), o.kind == K_TREE, n.name(nd), n.kind == K_TREE)
                    }
                }
                (Some(_), None) => Ordering::Less,
                _ => Ordering::Greater,
            };
            match order {
                Ordering::Less => {
                    let o = &old[i];
                    if o.kind == K_TREE {
                        k += 1;
                    } else {
                        self.removed.push(Acc::file(od, o, hash_len, local));
                    }
                    i += 1;
                }
                Ordering::Greater => {
                    let n = &new[j];
                    if n.kind == K_TREE {
                        self.new_sub(nd, n, hash_len, tree_index, local);
                    } else {
                        self.added.push(Acc::file(nd, n, hash_len, local));
                    }
                    j += 1;
                }
                Ordering::Equal => {
                    let (o, n) = (&old[i], &new[j]);
                    let same = o.kind == n.kind && o.id(od, hash_len) == n.id(nd, hash_len);
                    if n.kind == K_TREE {
                        match (same, old_subs.get(k)) {
                            (true, Some(&(name, child))) if child != UNSET => self.subs.push((name, child)),
                            _ => self.new_sub(nd, n, hash_len, tree_index, local),
                        }
                    } else if !same {
                        self.removed.push(Acc::file(od, o, hash_len, local));
                        self.added.push(Acc::file(nd, n, hash_len, local));
                    }
                    if o.kind == K_TREE {
                        k += 1;
                    }
                    i += 1;
                    j += 1;
                }
            }
        }
    }
}

/// The length of the longest common prefix, compared in blocks (one `memcmp` per block).
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let mut i = 0;
    for block in [4096, 512, 64] {
        while i + block <= n && a[i..i + block] == b[i..i + block] {
            i += block;
        }
    }
    while i < n && a[i] == b[i] {
        i += 1;
    }
    i
}

/// The length of the longest common suffix, at most `max`.
fn common_suffix(a: &[u8], b: &[u8], max: usize) -> usize {
    let (la, lb) = (a.len(), b.len());
    let mut i = 0;
    for block in [4096, 512, 64] {
        while i + block <= max && a[la - i - block..la - i] == b[lb - i - block..lb - i] {
            i += block;
        }
    }
    while i < max && a[la - i - 1] == b[lb - i - 1] {
        i += 1;
    }
    i
}

/// What step 1 keeps of one tree: subtrees, `.sops.yaml`, and file entries relative to `base`.
/// Bytes the tree shares with its base at the start and at the end are not parsed again: the
/// entries there are the base's, shifted.
fn analyze(
    data: &[u8],
    base: Option<&Kept>,
    hash_len: usize,
    tree_index: &gix::hashtable::HashMap<ObjectId, u32>,
    local: &mut Local<'_>,
) -> Analysis {
    let mut acc = Acc { missing: Vec::new(), subs: Vec::new(), added: Vec::new(), removed: Vec::new() };
    let mut malformed = false;
    let mut ents: Option<Vec<Pe>> = None;
    if let Some(b) = base {
        let (bd, cd) = (&b.data[..], data);
        let pre = common_prefix(bd, cd);
        let suf = common_suffix(bd, cd, bd.len().min(cd.len()) - pre);
        let end = |e: &Pe| (e.name + e.len + 1) as usize + hash_len;
        let i0 = b.ents.partition_point(|e| end(e) <= pre);
        let cut = bd.len() - suf;
        let i1 = if cut == 0 { 0 } else { (b.ents.partition_point(|e| end(e) < cut) + 1).min(b.ents.len()) }
            .max(i0);
        let start_of = |i: usize| if i == 0 { 0 } else { end(&b.ents[i - 1]) };
        let (c_start, tail) = (start_of(i0), bd.len() - start_of(i1));
        if cd.len() >= tail && cd.len() - tail >= c_start {
            let c_end = cd.len() - tail;
            if let Ok(mid) = parse_tree(&cd[c_start..c_end], hash_len) {
                let shift = |e: &Pe, by: usize| Pe { name: e.name + by as u32, ..*e };
                let mid: Vec<Pe> = mid.iter().map(|e| shift(e, c_start)).collect();
                let k0 = b.ents[..i0].iter().filter(|e| e.kind == K_TREE).count();
                let k1 = k0 + b.ents[i0..i1].iter().filter(|e| e.kind == K_TREE).count();
                acc.subs.extend_from_slice(&b.subs[..k0]);
                acc.merge(bd, &b.ents[i0..i1], &b.subs[k0..k1], cd, &mid, hash_len, tree_index, local);
                acc.subs.extend_from_slice(&b.subs[k1..]);
                let mut all = Vec::with_capacity(i0 + mid.len() + b.ents.len() - i1);
                all.extend_from_slice(&b.ents[..i0]);
                all.extend_from_slice(&mid);
                let delta = cd.len() as i64 - bd.len() as i64;
                all.extend(
                    b.ents[i1..].iter().map(|e| Pe { name: (i64::from(e.name) + delta) as u32, ..*e }),
                );
                ents = Some(all);
            }
        }
        if ents.is_none() {
            // The shared ends did not fall on entry boundaries: compare every entry.
            acc = Acc { missing: Vec::new(), subs: Vec::new(), added: Vec::new(), removed: Vec::new() };
            let parsed = parse_tree(data, hash_len).unwrap_or_else(|partial| {
                malformed = true;
                partial
            });
            acc.merge(bd, &b.ents, &b.subs, data, &parsed, hash_len, tree_index, local);
            ents = Some(parsed);
        }
    }
    let ents = ents.unwrap_or_else(|| {
        let parsed = parse_tree(data, hash_len).unwrap_or_else(|partial| {
            malformed = true;
            partial
        });
        for e in &parsed {
            if e.kind == K_TREE {
                acc.new_sub(data, e, hash_len, tree_index, local);
            } else {
                acc.added.push(Acc::file(data, e, hash_len, local));
            }
        }
        parsed
    });
    let sops = ents
        .iter()
        .find(|e| e.kind == K_FILE && e.len as usize == SOPS_CONFIG.len() && e.name(data) == SOPS_CONFIG)
        .map(|e| e.id(data, hash_len).to_owned());
    let info = TreeInfo {
        subtrees: acc.subs.iter().copied().filter(|s| s.1 != UNSET).collect::<Vec<_>>().into_boxed_slice(),
        missing: acc.missing,
        sops,
    };
    let rec = TreeRec {
        base: base.map_or(UNSET, |b| b.dense),
        added: acc.added.into_boxed_slice(),
        removed: acc.removed.into_boxed_slice(),
    };
    Analysis { info, rec, ents, subs: acc.subs, malformed }
}

/// Trees kept while their delta children are still to come.
struct Frontier {
    slots: Vec<Mutex<Option<Arc<Kept>>>>,
    pending: Vec<AtomicU32>,
}

impl Frontier {
    fn new(odb: &Odb) -> Vec<Frontier> {
        odb.packs
            .iter()
            .map(|p| {
                let n = p.len() as usize;
                let pending: Vec<AtomicU32> = (0..n).map(|_| AtomicU32::new(0)).collect();
                for pos in 0..p.len() {
                    if p.owns(pos) && p.kind(pos) == Some(Kind::Tree) {
                        if let Some(b) = p.base(pos) {
                            pending[b as usize].fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                let slots = (0..n).map(|_| Mutex::new(None)).collect();
                Frontier { slots, pending }
            })
            .collect()
    }

    fn wants(&self, pos: u32) -> bool {
        self.pending[pos as usize].load(Ordering::Relaxed) > 0
    }

    fn keep(&self, pos: u32, kept: Kept) {
        *self.slots[pos as usize].lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(kept));
    }

    /// The base, released once its last child has taken it.
    fn take(&self, base: u32) -> Option<Arc<Kept>> {
        let slot = &self.slots[base as usize];
        let kept = slot.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let prev = self.pending[base as usize]
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .unwrap_or(0);
        if prev <= 1 {
            slot.lock().unwrap_or_else(|p| p.into_inner()).take();
        }
        kept
    }
}

/// Per-thread results of step 1.
struct Step1<'a> {
    commits: Vec<(ObjectId, CommitMeta)>,
    trees: Vec<(u32, TreeInfo, TreeRec)>,
    malformed: Vec<String>,
    local: Local<'a>,
    tally: Tally<'a>,
}

/// Per-thread results of step 3: `(directory, configs, blob, name)`.
#[derive(Default)]
struct Step3 {
    pairs: FxSet<(u32, u32, u32, u32)>,
    gitlinks: Vec<(u32, u32)>,
}

impl Step3 {
    fn merge(mut self, other: Step3) -> Step3 {
        if self.pairs.len() < other.pairs.len() {
            return other.merge(self);
        }
        self.pairs.extend(other.pairs);
        self.gitlinks.extend(other.gitlinks);
        self
    }

    fn add(&mut self, ents: &[Ent], contexts: &[(u32, u32)]) {
        for e in ents {
            for &(dir, cfg) in contexts {
                if e.blob == GITLINK {
                    self.gitlinks.push((dir, e.name));
                } else {
                    self.pairs.insert((dir, cfg, e.blob, e.name));
                }
            }
        }
    }
}

/// Directory paths as `(parent, name)` chains.
struct Dirs {
    parent: Vec<u32>,
    name: Vec<u32>,
    map: FxMap<(u32, u32), u32>,
    paths: Vec<Option<String>>,
}

impl Dirs {
    fn new() -> Dirs {
        Dirs {
            parent: vec![UNSET],
            name: vec![UNSET],
            map: FxMap::default(),
            paths: vec![Some(String::new())],
        }
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

/// The config set (one `.sops.yaml`, or none) governing a directory under a signature.
#[derive(Default)]
struct Governing {
    by_dir: FxMap<(u32, u32), u32>,
    by_path: HashMap<(String, u32), u32>,
}

impl Governing {
    #[allow(clippy::too_many_arguments)]
    fn of(
        &mut self,
        dir: u32,
        sig: u32,
        dirs: &mut Dirs,
        names: &Names,
        sigs: &Sigs,
        configs: &mut Configs,
        read: &dyn Fn(ObjectId) -> Result<Vec<u8>, String>,
        problems: &mut Vec<Problem>,
    ) -> u32 {
        if let Some(&c) = self.by_dir.get(&(dir, sig)) {
            return c;
        }
        let path = dirs.path(dir, names);
        let c = self.of_path(&path, sig, sigs, configs, read, problems);
        self.by_dir.insert((dir, sig), c);
        c
    }

    fn of_path(
        &mut self,
        dir: &str,
        sig: u32,
        sigs: &Sigs,
        configs: &mut Configs,
        read: &dyn Fn(ObjectId) -> Result<Vec<u8>, String>,
        problems: &mut Vec<Problem>,
    ) -> u32 {
        if let Some(&c) = self.by_path.get(&(dir.to_owned(), sig)) {
            return c;
        }
        let list = &sigs.list[sig as usize];
        let mut probe = dir;
        let nearest = loop {
            let candidate =
                if probe.is_empty() { ".sops.yaml".to_owned() } else { format!("{probe}/.sops.yaml") };
            if let Ok(i) = list.binary_search_by(|(p, _)| p.as_str().cmp(&candidate)) {
                break Some(list[i].clone());
            }
            if probe.is_empty() {
                break None;
            }
            probe = probe.rsplit_once('/').map_or("", |(parent, _)| parent);
        };
        let c = configs.intern(&nearest.into_iter().collect::<Vec<_>>(), read, problems);
        self.by_path.insert((dir.to_owned(), sig), c);
        c
    }
}

/// The delta forest of the trees: children by base, and the roots (whole lists).
struct Forest {
    roots: Vec<u32>,
    children: Vec<Vec<u32>>,
}

impl Forest {
    fn new(recs: &[Option<TreeRec>]) -> Forest {
        let mut children: Vec<Vec<u32>> = vec![Vec::new(); recs.len()];
        let mut roots = Vec::new();
        for (t, rec) in recs.iter().enumerate() {
            match rec {
                Some(r) if r.base != UNSET && recs.get(r.base as usize).is_some_and(Option::is_some) => {
                    children[r.base as usize].push(t as u32)
                }
                Some(_) => roots.push(t as u32),
                None => {}
            }
        }
        Forest { roots, children }
    }
}

/// Everything the later steps need to know about the graph.
struct Graph {
    commits: Vec<(ObjectId, CommitMeta)>,
    commit_index: HashMap<ObjectId, u32>,
    /// Reachable commits in topological order (parents first).
    topo: Vec<u32>,
    /// Position of each commit in `topo` (`UNSET` if unreachable).
    rank: Vec<u32>,
    parents: Vec<Vec<u32>>,
    /// Dense root tree of each commit (`UNSET` if missing).
    root: Vec<u32>,
    /// Signature (`.sops.yaml` set) of each reachable commit.
    cfg: Vec<u32>,
}

pub(crate) fn scan(
    engine: &Engine,
    start: &Path,
    opts: &GitOptions,
    progress: Option<&dyn Progress>,
) -> Result<ScanReport, GitError> {
    let safe = util::open(start)?;
    let repo = safe.to_thread_local();
    let hash = repo.object_hash();
    let mut report = ScanReport::default();
    let (mut odb, odb_problems) = Odb::open(&safe);
    odb.blob_limit = opts.max_file_size;
    for message in odb_problems {
        report.problems.push(Problem { path: "(object database)".into(), message });
    }
    let refs = list_refs(&repo, &mut report)?;
    let head = repo.head_id().ok().map(|id| id.detach());
    let shallow: HashSet<ObjectId> =
        repo.shallow_commits().ok().flatten().map(|c| c.iter().copied().collect()).unwrap_or_default();

    // Blobs are streamed from the start, on other threads: while commits and trees are read (the
    // stream fills the gaps of that traversal) and while the trees are walked for names.
    let prefetch = blobs::Prefetch::new();
    let result = std::thread::scope(|scope| {
        let stream = scope.spawn(|| prefetch.stream(&odb, opts, progress));
        // Whatever happens below (an error, a panic), the stream must not wait for a wanted set.
        struct Abandon<'a>(&'a blobs::Prefetch);
        impl Drop for Abandon<'_> {
            fn drop(&mut self) {
                self.0.abandon();
            }
        }
        let _abandon = Abandon(&prefetch);
        // Step 1: commits and trees.
        let mut tree_ids: Vec<ObjectId> = odb.ids_of_kind(Kind::Tree);
        tree_ids.sort_unstable();
        let mut tree_index: gix::hashtable::HashMap<ObjectId, u32> =
            tree_ids.iter().enumerate().map(|(i, id)| (*id, i as u32)).collect();
        let mut blob_list = odb.ids_of_kind(Kind::Blob);
        blob_list.sort_unstable();
        let mut blobs = BlobIds {
            index: blob_list.iter().enumerate().map(|(i, id)| (*id, i as u32)).collect(),
            ids: blob_list,
            extra: Mutex::new((FxMap::default(), Vec::new())),
        };
        if let Some(p) = progress {
            p.set_total(odb.count(&[Kind::Commit, Kind::Tree, Kind::Blob]));
        }
        let names = Mutex::new(Names::default());
        let frontier = Frontier::new(&odb);
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
                        let base = loc
                            .and_then(|(pi, pos)| odb.packs[pi].base(pos).and_then(|b| frontier[pi].take(b)));
                        let a = analyze(data, base.as_deref(), hash_len, &tree_index, &mut st.local);
                        if a.malformed {
                            st.malformed.push(format!(
                                "tree {id} is malformed; entries after the damage were not read"
                            ));
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
        let mut names = names.into_inner().unwrap_or_else(|p| p.into_inner());
        commits.sort_by_key(|a| a.0);
        commits.dedup_by(|a, b| a.0 == b.0);
        let mut commit_index: HashMap<ObjectId, u32> =
            commits.iter().enumerate().map(|(i, (id, _))| (*id, i as u32)).collect();

        // Classify the ref tips; objects the stream did not deliver are looked up.
        let mut commit_tips: Vec<(String, u32)> = Vec::new();
        let mut tree_tips: Vec<(String, u32)> = Vec::new();
        let mut blob_tips: Vec<(String, ObjectId)> = Vec::new();
        let mut loader = Loader { repo: &repo, hash, problems: Vec::new() };
        let mut store = TreeStore {
            ids: &mut tree_ids,
            index: &mut tree_index,
            infos: &mut trees,
            recs: &mut recs,
            names: &mut names,
            blobs: &blobs,
        };
        for (name, target) in &refs {
            // At most two rounds: the ref's target, then what an annotated tag peels to.
            let mut id = *target;
            for _ in 0..2 {
                if let Some(&c) = commit_index.get(&id) {
                    commit_tips.push((name.clone(), c));
                    break;
                }
                if let Some(&t) = store.index.get(&id) {
                    tree_tips.push((name.clone(), t));
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
                        if let Some(c) = loader.commit(id, &mut commits, &mut commit_index) {
                            commit_tips.push((name.clone(), c));
                        }
                    }
                    Ok(Some(h)) if h.kind() == Kind::Tree => tree_tips.push((name.clone(), store.dense(id))),
                    Ok(Some(h)) if h.kind() == Kind::Blob => blob_tips.push((name.clone(), id)),
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

        // Step 2: reachability, order, configs, contexts.
        let mut reachable = vec![false; commits.len()];
        let mut parents: Vec<Vec<u32>> = vec![Vec::new(); commits.len()];
        let mut stack: Vec<u32> = commit_tips.iter().map(|t| t.1).collect();
        if opts.all_objects {
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
            root[c as usize] = store.dense(commits[c as usize].1.tree);
        }

        // Every tree below a root must be known; missing ones are looked up (or reported).
        let mut roots: Vec<u32> = topo.iter().map(|&c| root[c as usize]).collect();
        roots.extend(tree_tips.iter().map(|t| t.1));
        if opts.all_objects {
            roots.extend(0..store.ids.len() as u32);
        }
        roots.sort_unstable();
        roots.dedup();
        loader.complete(&roots, &mut store);
        blobs.finish();

        // Signatures (the .sops.yaml files below each tree), bottom-up, once per tree.
        let mut sigs = Sigs::default();
        let mut configs = Configs::new(opts.sops_config_override.as_ref());
        let read = |id: ObjectId| util::read_object(&repo, id);
        // A commit's `.sops.yaml` set is its root tree's signature; contexts carry signatures until
        // they are narrowed to the one config that governs each directory (below).
        let cfg_of_tree = |t: u32, sigs: &mut Sigs| -> u32 { sigs.of(t, &trees, &names) };
        let mut cfg = vec![UNSET; n];
        for &c in &topo {
            let t = root[c as usize];
            if t != UNSET {
                cfg[c as usize] = cfg_of_tree(t, &mut sigs);
            }
        }

        // Contexts: (directory, configs) of each tree, each distinct one pushed down once.
        let mut dirs = Dirs::new();
        let mut contexts: Vec<Vec<(u32, u32)>> = vec![Vec::new(); tree_ids.len()];
        let mut seen: FxSet<(u32, u32, u32)> = FxSet::default();
        let mut work: Vec<(u32, u32, u32)> = Vec::new();
        for &c in &topo {
            if root[c as usize] != UNSET {
                work.push((root[c as usize], 0, cfg[c as usize]));
            }
        }
        for &(_, t) in &tree_tips {
            let cf = cfg_of_tree(t, &mut sigs);
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
                    let cf = cfg_of_tree(t, &mut sigs);
                    work.push((t, 0, cf));
                }
            }
            push_contexts(&mut work, &mut seen, &mut contexts, &trees, &mut dirs);
        }
        drop(seen);
        // The engine judges a file by the one `.sops.yaml` that governs it (the nearest in its
        // directory or above), so two signatures that agree on it give the same result: a blob is
        // scanned once per distinct governing config, not once per `.sops.yaml` edit anywhere.
        let mut governing = Governing::default();
        for c in &mut contexts {
            for (d, sig) in c.iter_mut() {
                *sig = governing.of(
                    *d,
                    *sig,
                    &mut dirs,
                    &names,
                    &sigs,
                    &mut configs,
                    &read,
                    &mut report.problems,
                );
            }
            c.sort_unstable();
            c.dedup();
        }
        let graph = Graph { commits, commit_index, topo, rank, parents, root, cfg };

        // Step 3: blob names, from the delta forest.
        let forest = Forest::new(&recs);
        let step3 = forest
            .roots
            .par_iter()
            .fold(Step3::default, |mut st, &r| {
                // Depth first; each frame holds the entries of the parent (None for the root).
                let mut stack: Vec<(u32, Option<Arc<Vec<Ent>>>)> = vec![(r, None)];
                while let Some((t, parent)) = stack.pop() {
                    let Some(rec) = &recs[t as usize] else { continue };
                    let kids = &forest.children[t as usize];
                    let ctx = &contexts[t as usize];
                    let incremental = parent.is_some()
                        && ctx.iter().all(|c| contexts[rec.base as usize].binary_search(c).is_ok());
                    let needs_list = !kids.is_empty() || (!ctx.is_empty() && !incremental);
                    let list = if !needs_list {
                        None
                    } else {
                        Some(Arc::new(match &parent {
                            Some(p) => rec.apply(p),
                            None => rec.added.to_vec(),
                        }))
                    };
                    if !ctx.is_empty() {
                        if incremental {
                            st.add(&rec.added, ctx);
                        } else if let Some(l) = &list {
                            st.add(l, ctx);
                        }
                    }
                    for &k in kids {
                        stack.push((k, list.clone()));
                    }
                }
                st
            })
            .reduce(Step3::default, Step3::merge);
        let mut gitlinks: Vec<String> = step3
            .gitlinks
            .iter()
            .map(|&(d, name)| join(&dirs.path(d, &names), &names.list[name as usize]))
            .collect();
        gitlinks.sort();
        gitlinks.dedup();
        for path in gitlinks {
            report.notes.push(format!(
                "submodule `{path}` skipped: its content lives in another repository (scan it there)"
            ));
        }
        let mut keys: Vec<(u32, u32, u32, u32)> = step3.pairs.into_iter().collect();
        keys.par_sort_unstable();
        let mut pairs: Vec<(ObjectId, Variant)> = Vec::with_capacity(keys.len() + blob_tips.len());
        for (dir, cfg, blob, name) in keys {
            let path = join(&dirs.path(dir, &names), &names.list[name as usize]);
            pairs.push((blobs.ids[blob as usize], Variant { path, cfg, tag: 0 }));
        }

        // Blobs that no tree names: pointed to by a ref, or (--all-objects) dangling.
        let empty_cfg = configs.intern(&[], &read, &mut report.problems);
        let mut loose_blobs: Vec<ObjectId> = blob_tips.iter().map(|b| b.1).collect();
        if opts.all_objects {
            let named: FxSet<ObjectId> = pairs.iter().map(|p| p.0).collect();
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
        report.problems.append(&mut loader.problems);

        // Step 4: blobs.
        let outcome =
            prefetch.finish(engine, &safe, wanted, &configs, opts, progress, || match stream.join() {
                Ok(s) => s,
                Err(panic) => std::panic::resume_unwind(panic),
            });
        let wanted = prefetch.wanted();
        report.skipped.extend(outcome.skipped);
        report.problems.extend(outcome.problems);

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
        let mut queries: BTreeMap<Query, usize> = BTreeMap::new();
        for (key, (_, cfgs, object)) in &merged {
            if !object {
                let n = queries.len();
                queries.entry((key.0.clone(), key.1, cfgs.iter().copied().collect())).or_insert(n);
            }
        }
        let mut query_list: Vec<(usize, Query)> = queries.iter().map(|(k, &i)| (i, k.clone())).collect();
        query_list.sort_by_key(|x| x.0);
        let query_list: Vec<Query> = query_list.into_iter().map(|x| x.1).collect();
        // For each queried path, the config governing it under each signature.
        let mut governed: BTreeMap<String, Vec<u32>> = BTreeMap::new();
        for q in &query_list {
            if !governed.contains_key(&q.0) {
                let dir = q.0.rsplit_once('/').map_or("", |(d, _)| d);
                let by_sig = (0..sigs.list.len() as u32)
                    .map(|sig| governing.of_path(dir, sig, &sigs, &mut configs, &read, &mut report.problems))
                    .collect();
                governed.insert(q.0.clone(), by_sig);
            }
        }
        let ctx = AnnotateCtx {
            governed: &governed,
            graph: &graph,
            trees: &trees,
            recs: &recs,
            forest: &forest,
            names: &names,
            blobs: &blobs,
            head,
            commit_tips: &commit_tips,
            tree_tips: &tree_tips,
        };
        let annotations = annotate(&query_list, &ctx);
        let ref_names = ref_order(&commit_tips, &tree_tips);
        // File-state findings (rule drift, orphan, recipients, integrity) on versions no ref tip holds
        // cannot be acted on: counted, not listed. At tips, one per path, rule and identity.
        let mut untipped = 0usize;
        let mut config_state: HashMap<(String, String, String), usize> = HashMap::new();
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
                    refs: name_refs(&a.refs, &ref_names),
                    at_head: Some(a.at_head),
                }
            });
            if is_config_state(&f.rule) && !object {
                let q = queries[&(key.0.clone(), key.1, cfgs.iter().copied().collect::<Vec<u32>>())];
                if !annotations[q].at_tip {
                    untipped += 1;
                    continue;
                }
                // At another ref's tip only (a stale branch, an old tag): worth knowing, not an
                // error of the branch being worked on.
                if !annotations[q].at_head {
                    f.severity = crate::finding::Severity::Note;
                    f.properties.insert("not_at_head".into(), serde_json::Value::from(true));
                }
                let group = (f.path.clone(), f.rule.clone(), f.fingerprint.clone());
                if let Some(&i) = config_state.get(&group) {
                    crate::finding::merge_version(&mut report.findings[i], f);
                    continue;
                }
                config_state.insert(group, report.findings.len());
            }
            report.findings.push(f);
        }
        if untipped > 0 {
            report.notes.push(format!(
                "{untipped} findings about the state of file versions no ref tip holds (rule drift, orphans, recipients, integrity) are not listed (they cannot be acted on; leaks in those versions are)"
            ));
        }
        report.sort();
        util::drop_later((graph, forest, contexts, dirs, governing, sigs, configs), opts.free_tables);
        util::drop_later((trees, recs, names, tree_ids, tree_index, blobs), opts.free_tables);
        Ok(report)
    });
    util::drop_later(odb, opts.free_tables);
    result
}

/// Rules about a file's state, against `.sops.yaml` (or about a `.sops.yaml` itself) or as a
/// sops file (a broken structure, a MAC that does not verify, no identity to verify it), not
/// about exposed values: in history, reported only where a ref tip holds the blob. A version
/// that was broken and fixed before any ref pointed at it needs no repair; a leak in it does.
fn is_config_state(rule: &str) -> bool {
    matches!(
        rule,
        crate::rules::id::SOPS_RULE_DRIFT
            | crate::rules::id::SOPS_ORPHAN
            | crate::rules::id::SOPS_RECIPIENTS
            | crate::rules::id::SOPS_CONFIG_INVALID
            | crate::rules::id::SOPS_MALFORMED
            | crate::rules::id::SOPS_MAC_MISMATCH
            | crate::rules::id::SOPS_VALUE_TAMPERED
            | crate::rules::id::SOPS_NO_IDENTITY
    )
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

/// The tree tables of step 1, for adding trees the stream did not deliver.
struct TreeStore<'a> {
    ids: &'a mut Vec<ObjectId>,
    index: &'a mut gix::hashtable::HashMap<ObjectId, u32>,
    infos: &'a mut Vec<Option<TreeInfo>>,
    recs: &'a mut Vec<Option<TreeRec>>,
    names: &'a mut Names,
    blobs: &'a BlobIds,
}

impl TreeStore<'_> {
    /// The dense id of a tree, allocating one for a tree the stream did not see.
    fn dense(&mut self, id: ObjectId) -> u32 {
        if let Some(&t) = self.index.get(&id) {
            return t;
        }
        let t = self.ids.len() as u32;
        self.ids.push(id);
        self.index.insert(id, t);
        self.infos.push(None);
        self.recs.push(None);
        t
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

    /// Makes sure every tree below `roots` is known, looking up what is missing.
    fn complete(&mut self, roots: &[u32], store: &mut TreeStore<'_>) {
        // The usual case: the stream delivered every tree and every subtree is a known tree.
        if store.infos.iter().all(|i| i.as_ref().is_some_and(|i| i.missing.is_empty())) {
            return;
        }
        let mut visited = vec![false; store.ids.len()];
        let mut stack: Vec<u32> = roots.to_vec();
        while let Some(t) = stack.pop() {
            if visited.len() <= t as usize {
                visited.resize(t as usize + 1, false);
            }
            if visited[t as usize] {
                continue;
            }
            visited[t as usize] = true;
            if store.infos[t as usize].is_none() {
                let id = store.ids[t as usize];
                let (info, rec) = match self.repo.try_find_object(id) {
                    Ok(Some(o)) if o.kind == Kind::Tree => {
                        let names = Mutex::new(std::mem::take(store.names));
                        let mut local = Local { cache: FxMap::default(), names: &names, blobs: store.blobs };
                        let a = analyze(&o.data, None, self.hash.len_in_bytes(), store.index, &mut local);
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
                        *store.names = names.into_inner().unwrap_or_else(|p| p.into_inner());
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
                store.infos[t as usize] = Some(info);
                store.recs[t as usize] = Some(rec);
            }
            // Subtrees the database did not list as trees get dense ids now.
            let missing =
                store.infos[t as usize].as_mut().map(|i| std::mem::take(&mut i.missing)).unwrap_or_default();
            for (name, id) in missing {
                let child = store.dense(id);
                if let Some(info) = store.infos[t as usize].as_mut() {
                    let mut v = std::mem::take(&mut info.subtrees).into_vec();
                    v.push((name, child));
                    info.subtrees = v.into_boxed_slice();
                }
            }
            if let Some(info) = &store.infos[t as usize] {
                stack.extend(info.subtrees.iter().map(|s| s.1));
            }
        }
    }
}

/// A tree's own `.sops.yaml` blob and its subtrees' `(name, signature)`.
type SigParts = (Option<ObjectId>, Vec<(u32, u32)>);

/// The `.sops.yaml` files below each tree, interned; id 0 is "none".
struct Sigs {
    list: Vec<Signature>,
    map: FxMap<Signature, u32>,
    /// A tree's own `.sops.yaml` and its subtrees' signatures (by name) → its signature.
    by_parts: FxMap<SigParts, u32>,
    of_tree: Vec<u32>,
}

impl Default for Sigs {
    fn default() -> Self {
        Sigs {
            list: vec![Vec::new()],
            map: FxMap::from_iter([(Vec::new(), 0)]),
            by_parts: FxMap::default(),
            of_tree: Vec::new(),
        }
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
            let subtrees: &[(u32, u32)] = info.map(|i| &i.subtrees[..]).unwrap_or(&[]);
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
            let parts: SigParts = if direct.is_none() && !any_child {
                (None, Vec::new())
            } else {
                let kids = subtrees
                    .iter()
                    .map(|&(name, child)| (name, self.of_tree[child as usize]))
                    .filter(|&(_, s)| s != 0 && s < IN_PROGRESS)
                    .collect();
                (direct, kids)
            };
            let id = if parts.0.is_none() && parts.1.is_empty() {
                0
            } else if let Some(&id) = self.by_parts.get(&parts) {
                // Another tree with the same `.sops.yaml` and the same signatures below.
                id
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
                let id = match self.map.get(&sig) {
                    Some(&id) => id,
                    None => {
                        let id = self.list.len() as u32;
                        self.list.push(sig.clone());
                        self.map.insert(sig, id);
                        id
                    }
                };
                self.by_parts.insert(parts, id);
                id
            };
            self.of_tree[cur as usize] = id;
        }
        self.of_tree[t as usize]
    }
}

/// Pushes `(tree, directory, configs)` contexts down to every subtree, each distinct one once.
fn push_contexts(
    work: &mut Vec<(u32, u32, u32)>,
    seen: &mut FxSet<(u32, u32, u32)>,
    contexts: &mut [Vec<(u32, u32)>],
    trees: &[Option<TreeInfo>],
    dirs: &mut Dirs,
) {
    // A tree's few contexts are searched in its list; the set holds those of trees with many.
    const LISTED: usize = 16;
    let known = |contexts: &[Vec<(u32, u32)>], seen: &FxSet<(u32, u32, u32)>, t: u32, d: u32, c: u32| {
        let list = &contexts[t as usize];
        if list.len() < LISTED {
            list.contains(&(d, c))
        } else {
            seen.contains(&(t, d, c))
        }
    };
    while let Some((t, d, c)) = work.pop() {
        if known(contexts, seen, t, d, c) {
            continue;
        }
        let list = &mut contexts[t as usize];
        list.push((d, c));
        match list.len() {
            n if n == LISTED => seen.extend(list.iter().map(|&(d, c)| (t, d, c))),
            n if n > LISTED => {
                seen.insert((t, d, c));
            }
            _ => {}
        }
        if let Some(info) = &trees[t as usize] {
            for &(name, child) in &info.subtrees {
                let nd = dirs.child(d, name);
                if !known(contexts, seen, child, nd, c) {
                    work.push((child, nd, c));
                }
            }
        }
    }
}

/// `(path, blob, governing configs)` whose provenance a finding needs.
type Query = (String, ObjectId, Vec<u32>);

/// Provenance of one `(path, blob, config sets)`.
#[derive(Default)]
struct Annotation {
    intro: Option<u32>,
    count: usize,
    /// Positions in [`ref_order`] of the refs that contain it.
    refs: Vec<u32>,
    at_head: bool,
    /// Whether a ref tip (a commit tip's tree or a tree tip) holds the file: what a config-state
    /// finding needs to be actionable.
    at_tip: bool,
}

/// Queried directories by name ids.
#[derive(Default)]
struct Trie {
    nodes: Vec<TrieNode>,
}

#[derive(Default)]
struct TrieNode {
    children: Vec<(u32, u32)>,
    queries: Vec<u32>,
}

impl Trie {
    fn add(&mut self, dir: &[u32], query: u32) {
        if self.nodes.is_empty() {
            self.nodes.push(TrieNode::default());
        }
        let mut n = 0usize;
        for &name in dir {
            n = match self.nodes[n].children.iter().find(|c| c.0 == name) {
                Some(&(_, child)) => child as usize,
                None => {
                    self.nodes.push(TrieNode::default());
                    let child = self.nodes.len() - 1;
                    self.nodes[n].children.push((name, child as u32));
                    child
                }
            };
        }
        self.nodes[n].queries.push(query);
    }

    /// The queries whose file tree `t` (standing at `node`) holds, sorted. `empty` is shared by
    /// every empty answer (most are), so that those cost no allocation.
    #[allow(clippy::too_many_arguments)]
    fn hits(
        &self,
        node: u32,
        t: u32,
        trees: &[Option<TreeInfo>],
        holds: &[std::sync::Arc<[u32]>],
        keys: &[Option<u32>],
        memo: &mut FxMap<(u32, u32), std::sync::Arc<[u32]>>,
        empty: &std::sync::Arc<[u32]>,
    ) -> std::sync::Arc<[u32]> {
        if node != 0 {
            if let Some(h) = memo.get(&(node, t)) {
                return h.clone();
            }
        }
        let Some(n) = self.nodes.get(node as usize) else { return empty.clone() };
        let mut out: Vec<u32> = n
            .queries
            .iter()
            .copied()
            .filter(|&q| keys[q as usize].is_some_and(|k| holds[t as usize].binary_search(&k).is_ok()))
            .collect();
        if let Some(info) = trees.get(t as usize).and_then(Option::as_ref) {
            for &(name, child) in &n.children {
                if let Some(&(_, sub)) = info.subtrees.iter().find(|s| s.0 == name) {
                    out.extend(self.hits(child, sub, trees, holds, keys, memo, empty).iter().copied());
                }
            }
        }
        out.sort_unstable();
        let out: std::sync::Arc<[u32]> =
            if out.is_empty() { empty.clone() } else { std::sync::Arc::from(out) };
        if node != 0 {
            memo.insert((node, t), out.clone());
        }
        out
    }
}

/// The order refs are named in ([`ref_class`], then alphabetical).
fn ref_order<'a>(commit_tips: &'a [(String, u32)], tree_tips: &'a [(String, u32)]) -> Vec<&'a str> {
    let mut names: Vec<&str> = commit_tips.iter().chain(tree_tips).map(|t| t.0.as_str()).collect();
    names.sort_by(|a, b| (ref_class(a), a).cmp(&(ref_class(b), b)));
    names.dedup();
    names
}

/// The names of the refs at these positions (sorted, deduplicated), at most [`MAX_REFS`] of them
/// and then `… and N more`.
fn name_refs(positions: &[u32], order: &[&str]) -> Vec<String> {
    let mut out: Vec<String> =
        positions.iter().take(MAX_REFS).map(|&i| order[i as usize].to_owned()).collect();
    if positions.len() > MAX_REFS {
        out.push(format!("… and {} more", positions.len() - MAX_REFS));
    }
    out
}

/// What [`annotate`] reads.
struct AnnotateCtx<'a> {
    /// Per queried path, the governing config under each signature.
    governed: &'a BTreeMap<String, Vec<u32>>,
    graph: &'a Graph,
    trees: &'a [Option<TreeInfo>],
    recs: &'a [Option<TreeRec>],
    forest: &'a Forest,
    names: &'a Names,
    blobs: &'a BlobIds,
    head: Option<ObjectId>,
    commit_tips: &'a [(String, u32)],
    tree_tips: &'a [(String, u32)],
}

fn annotate(queries: &[Query], cx: &AnnotateCtx<'_>) -> Vec<Annotation> {
    let mut out: Vec<Annotation> = (0..queries.len()).map(|_| Annotation::default()).collect();
    if queries.is_empty() {
        return out;
    }
    let graph = cx.graph;
    let order = ref_order(cx.commit_tips, cx.tree_tips);
    let by_name: HashMap<&str, u32> = order.iter().enumerate().map(|(i, n)| (*n, i as u32)).collect();
    let position = |name: &str| by_name.get(name).copied().unwrap_or(0);
    // Each query's file as an entry (name id, blob id); entries no tree has cannot be found.
    let file_of = |q: &Query| -> Option<Ent> {
        let file = q.0.rsplit('/').next().unwrap_or(&q.0);
        let name = *cx.names.map.get(file.as_bytes())?;
        let blob = *cx.blobs.index.get(&q.1)?;
        Some(Ent { name, blob })
    };
    let mut key_of: FxMap<(u32, u32), u32> = FxMap::default();
    let query_keys: Vec<Option<u32>> = queries
        .iter()
        .map(|q| {
            file_of(q).map(|e| {
                let n = key_of.len() as u32;
                *key_of.entry((e.name, e.blob)).or_insert(n)
            })
        })
        .collect();
    // Which of these entries each tree holds: one more walk of the delta forest, tracking only
    // the query entries through each tree's edits.
    // A tree whose edits touch none of the query entries shares its base's list.
    let empty: std::sync::Arc<[u32]> = std::sync::Arc::from(Vec::new());
    let mut holds: Vec<std::sync::Arc<[u32]>> = vec![empty.clone(); cx.recs.len()];
    // Most entries are not queried: a bit per blob turns them away before the map lookup.
    let mut queried_blob = vec![false; key_of.keys().map(|k| k.1 as usize + 1).max().unwrap_or(0)];
    #[allow(clippy::iter_over_hash_type)] // setting bits: the order does not matter
    for k in key_of.keys() {
        queried_blob[k.1 as usize] = true;
    }
    let keys_in = |ents: &[Ent]| -> Vec<u32> {
        ents.iter()
            .filter(|e| queried_blob.get(e.blob as usize).copied().unwrap_or(false))
            .filter_map(|e| key_of.get(&(e.name, e.blob)).copied())
            .collect()
    };
    // Each delta tree of the forest on its own (in parallel): a tree's base is its parent there.
    let per_root: Vec<Vec<(u32, std::sync::Arc<[u32]>)>> = cx
        .forest
        .roots
        .par_iter()
        .map(|&root| {
            let mut out = Vec::new();
            let mut stack: Vec<(u32, Option<std::sync::Arc<[u32]>>)> = vec![(root, None)];
            while let Some((t, base)) = stack.pop() {
                let Some(rec) = &cx.recs[t as usize] else { continue };
                let (gone, new) = (keys_in(&rec.removed), keys_in(&rec.added));
                let h = match base {
                    Some(b) if gone.is_empty() && new.is_empty() => b,
                    base => {
                        let mut h: Vec<u32> = base
                            .map(|b| b.iter().copied().filter(|k| !gone.contains(k)).collect())
                            .unwrap_or_default();
                        h.extend(new);
                        h.sort_unstable();
                        h.dedup();
                        if h.is_empty() {
                            empty.clone()
                        } else {
                            std::sync::Arc::from(h)
                        }
                    }
                };
                for &k in &cx.forest.children[t as usize] {
                    stack.push((k, Some(h.clone())));
                }
                if !h.is_empty() {
                    out.push((t, h));
                }
            }
            out
        })
        .collect();
    for (t, h) in per_root.into_iter().flatten() {
        holds[t as usize] = h;
    }
    let head_commit = cx.head.and_then(|h| graph.commit_index.get(&h).copied());
    let mut contain: Vec<Vec<u32>> = vec![Vec::new(); queries.len()];
    // The queried directories as a trie of name ids, with the queries of each directory's files.
    let mut trie = Trie::default();
    for (qi, q) in queries.iter().enumerate() {
        if query_keys[qi].is_none() {
            continue;
        }
        let dir = q.0.rsplit_once('/').map_or("", |(d, _)| d);
        let ids: Option<Vec<u32>> = if dir.is_empty() {
            Some(Vec::new())
        } else {
            dir.split('/').map(|p| cx.names.map.get(p.as_bytes()).copied()).collect()
        };
        if let Some(ids) = ids {
            trie.add(&ids, qi as u32);
        }
    }
    // Which queries a tree holds below a trie node; memoized below the root, where trees are
    // shared by many commits. Commits are looked at in parallel, each thread with its own memo.
    type Memo = FxMap<(u32, u32), std::sync::Arc<[u32]>>;
    let found_in = |t: u32, memo: &mut Memo| trie.hits(0, t, cx.trees, &holds, &query_keys, memo, &empty);
    let per_commit: Vec<(u32, std::sync::Arc<[u32]>)> = graph
        .topo
        .par_iter()
        .filter(|&&c| graph.root[c as usize] != UNSET)
        .map_init(Memo::default, |memo, &c| (c, found_in(graph.root[c as usize], memo)))
        .filter(|(_, hits)| !hits.is_empty())
        .collect();
    let mut memo = Memo::default();
    let mut found = |t: u32| -> Vec<u32> { found_in(t, &mut memo).to_vec() };
    let governed_of: Vec<Option<&Vec<u32>>> = queries.iter().map(|q| cx.governed.get(&q.0)).collect();
    let tip_commits: FxSet<u32> = cx.commit_tips.iter().map(|t| t.1).collect();
    for (c, hits) in per_commit {
        let tip = tip_commits.contains(&c);
        for &qi in hits.iter() {
            let qi = qi as usize;
            if Some(c) == head_commit {
                out[qi].at_head = true;
            }
            out[qi].at_tip |= tip;
            let governing = governed_of[qi].and_then(|g| g.get(graph.cfg[c as usize] as usize));
            if governing.is_some_and(|g| queries[qi].2.contains(g)) {
                contain[qi].push(c);
            }
        }
    }
    for (name, t) in cx.tree_tips {
        for qi in found(*t) {
            out[qi as usize].refs.push(position(name));
            out[qi as usize].at_tip = true;
        }
    }
    for (qi, cs) in contain.iter().enumerate() {
        out[qi].count = cs.len();
        out[qi].intro = cs.iter().copied().min_by_key(|&c| graph.rank[c as usize]);
    }
    // Which refs reach a containing commit: 64 queries at a time, bits pushed along the order.
    let tip_positions: Vec<u32> = cx.commit_tips.iter().map(|(name, _)| position(name)).collect();
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
        for ((_, tip), &pos) in cx.commit_tips.iter().zip(&tip_positions) {
            let mut m = bits[*tip as usize];
            while m != 0 {
                let bit = m.trailing_zeros() as usize;
                m &= m - 1;
                out[batch_no * 64 + bit].refs.push(pos);
            }
        }
    }
    for a in &mut out {
        a.refs.sort();
        a.refs.dedup();
    }
    out
}
