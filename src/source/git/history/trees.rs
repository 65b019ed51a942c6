//! Step 1's view of a tree: its entries parsed in place ([`parse_tree`]), and its file entries
//! kept as an edit of its pack delta base ([`analyze`], [`TreeRec`]). Bytes a tree shares with
//! its base at the start and the end are not parsed again. [`Frontier`] keeps a base until its
//! last delta child has been read; [`Forest`] is the resulting delta forest, walked base first by
//! the later steps.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use gix::objs::Kind;
use gix::{oid, ObjectId};

use super::ids::Local;
use super::UNSET;
use crate::source::git::odb::Odb;
use crate::source::git::util::{self, FxSet, SOPS_CONFIG};

/// The blob id of a gitlink (submodule) entry.
pub(super) const GITLINK: u32 = u32::MAX;

/// What step 1 keeps of a tree's subdirectories.
#[derive(Default)]
pub(super) struct TreeInfo {
    /// `(name id, dense tree id)` of every subtree.
    pub(super) subtrees: Box<[(u32, u32)]>,
    /// Subtrees whose ids are not known to be trees in the database: `(name id, id)`.
    pub(super) missing: Vec<(u32, ObjectId)>,
    /// The blob of a `.sops.yaml` directly in this tree.
    pub(super) sops: Option<ObjectId>,
}

/// One file entry: interned name and dense blob id ([`GITLINK`] for submodules).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Ent {
    pub(super) name: u32,
    pub(super) blob: u32,
}

/// A tree's file entries as an edit of its delta base (`base == UNSET`: the whole list).
pub(super) struct TreeRec {
    pub(super) base: u32,
    pub(super) added: Box<[Ent]>,
    pub(super) removed: Box<[Ent]>,
}

impl TreeRec {
    pub(super) fn apply(&self, base: &[Ent]) -> Vec<Ent> {
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

/// Kinds of tree entries as step 1 sees them.
pub(super) const K_TREE: u8 = 0;
pub(super) const K_FILE: u8 = 1;
pub(super) const K_GITLINK: u8 = 2;

/// One parsed tree entry: offsets into the tree's bytes (the id follows the name's NUL).
#[derive(Clone, Copy)]
pub(super) struct Pe {
    pub(super) name: u32,
    pub(super) len: u32,
    pub(super) kind: u8,
}

impl Pe {
    pub(super) fn name<'d>(&self, data: &'d [u8]) -> &'d [u8] {
        &data[self.name as usize..(self.name + self.len) as usize]
    }
    /// The whole entry from the name on (name, NUL, id); entries of the same kind compare equal
    /// when these bytes and the kind match.
    pub(super) fn raw<'d>(&self, data: &'d [u8], hash_len: usize) -> &'d [u8] {
        &data[self.name as usize..(self.name + self.len) as usize + 1 + hash_len]
    }
    pub(super) fn id<'d>(&self, data: &'d [u8], hash_len: usize) -> &'d oid {
        let start = (self.name + self.len + 1) as usize;
        oid::from_bytes_unchecked(&data[start..start + hash_len])
    }
}

/// Parses a tree; `Err` carries the entries before the damage of a malformed tree.
pub(super) fn parse_tree(data: &[u8], hash_len: usize) -> Result<Vec<Pe>, Vec<Pe>> {
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
pub(super) struct Kept {
    pub(super) dense: u32,
    pub(super) data: Box<[u8]>,
    pub(super) ents: Vec<Pe>,
    /// `(name id, dense id or UNSET)` of each subtree entry, in order.
    pub(super) subs: Vec<(u32, u32)>,
}

/// What step 1 makes of one tree.
pub(super) struct Analysis {
    pub(super) info: TreeInfo,
    pub(super) rec: TreeRec,
    /// The tree's entries and resolved subtrees, to keep for its delta children.
    pub(super) ents: Vec<Pe>,
    pub(super) subs: Vec<(u32, u32)>,
    pub(super) malformed: bool,
}

/// Subtrees and file edits gathered while comparing a tree with its base.
pub(super) struct Acc {
    pub(super) missing: Vec<(u32, ObjectId)>,
    pub(super) subs: Vec<(u32, u32)>,
    pub(super) added: Vec<Ent>,
    pub(super) removed: Vec<Ent>,
}

impl Acc {
    pub(super) fn new_sub(
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

    pub(super) fn file(d: &[u8], e: &Pe, hash_len: usize, local: &mut Local<'_>) -> Ent {
        let name = local.name(e.name(d));
        let blob = if e.kind == K_GITLINK { GITLINK } else { local.blobs.get(e.id(d, hash_len)) };
        Ent { name, blob }
    }

    /// Compares base entries `old` (with the resolved subtrees of their tree entries, in order)
    /// with new entries `new`, both in tree order.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn merge(
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
pub(super) fn common_prefix(a: &[u8], b: &[u8]) -> usize {
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
pub(super) fn common_suffix(a: &[u8], b: &[u8], max: usize) -> usize {
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
pub(super) fn analyze(
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
pub(super) struct Frontier {
    pub(super) slots: Vec<Mutex<Option<Arc<Kept>>>>,
    pub(super) pending: Vec<AtomicU32>,
}

impl Frontier {
    pub(super) fn new(odb: &Odb) -> Vec<Frontier> {
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

    pub(super) fn wants(&self, pos: u32) -> bool {
        self.pending[pos as usize].load(Ordering::Relaxed) > 0
    }

    pub(super) fn keep(&self, pos: u32, kept: Kept) {
        *self.slots[pos as usize].lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(kept));
    }

    /// The base, released once its last child has taken it.
    pub(super) fn take(&self, base: u32) -> Option<Arc<Kept>> {
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

/// The delta forest of the trees: children by base, and the roots (whole lists).
pub(super) struct Forest {
    pub(super) roots: Vec<u32>,
    pub(super) children: Vec<Vec<u32>>,
}

impl Forest {
    pub(super) fn new(recs: &[Option<TreeRec>]) -> Forest {
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
