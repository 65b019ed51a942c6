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
const K_TREE: u8 = 0;
const K_FILE: u8 = 1;
const K_GITLINK: u8 = 2;

/// One parsed tree entry: offsets into the tree's bytes (the id follows the name's NUL).
#[derive(Clone, Copy, Debug)]
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
    fn raw<'d>(&self, data: &'d [u8], hash_len: usize) -> &'d [u8] {
        &data[self.name as usize..(self.name + self.len) as usize + 1 + hash_len]
    }
    pub(super) fn id<'d>(&self, data: &'d [u8], hash_len: usize) -> &'d oid {
        let start = (self.name + self.len + 1) as usize;
        oid::from_bytes_unchecked(&data[start..start + hash_len])
    }
}

/// Parses a tree; `Err` carries the entries before the damage of a malformed tree.
///
/// The hot path of step 1: offsets only, no allocation but the list. The lookup modes use
/// [`util::parse_tree`] (owned entries, modes checked by gix); on well-formed trees both read
/// the same names, ids and kinds (tested below).
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
struct Acc {
    pub(super) missing: Vec<(u32, ObjectId)>,
    pub(super) subs: Vec<(u32, u32)>,
    pub(super) added: Vec<Ent>,
    pub(super) removed: Vec<Ent>,
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
    slots: Vec<Mutex<Option<Arc<Kept>>>>,
    pending: Vec<AtomicU32>,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::git::history::ids::{BlobIds, Names};
    use crate::source::git::util::FxMap;

    const H: usize = 20;

    /// Tree bytes from `(mode, name, id byte)` entries, in the order given.
    fn tree(entries: &[(&str, &str, u8)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (mode, name, b) in entries {
            out.extend_from_slice(mode.as_bytes());
            out.push(b' ');
            out.extend_from_slice(name.as_bytes());
            out.push(0);
            out.extend_from_slice(&[*b; H]);
        }
        out
    }

    fn oid(b: u8) -> ObjectId {
        ObjectId::from_bytes_or_panic(&[b; H])
    }

    /// Known blobs and trees (by id byte), and the name table `analyze` interns into.
    struct Fixture {
        names: Mutex<Names>,
        blobs: BlobIds,
        trees: gix::hashtable::HashMap<ObjectId, u32>,
    }

    impl Fixture {
        fn new(blobs: &[u8], trees: &[u8]) -> Fixture {
            let ids: Vec<ObjectId> = blobs.iter().map(|&b| oid(b)).collect();
            Fixture {
                names: Mutex::new(Names::default()),
                blobs: BlobIds {
                    index: ids.iter().enumerate().map(|(i, id)| (*id, i as u32)).collect(),
                    ids,
                    extra: Mutex::new((FxMap::default(), Vec::new())),
                },
                trees: trees.iter().enumerate().map(|(i, &b)| (oid(b), i as u32)).collect(),
            }
        }

        fn analyze(&self, data: &[u8], base: Option<&Kept>) -> Analysis {
            let mut local = Local { cache: FxMap::default(), names: &self.names, blobs: &self.blobs };
            analyze(data, base, H, &self.trees, &mut local)
        }

        /// Analyzes `data` on its own and keeps it as a delta base.
        fn base(&self, dense: u32, data: &[u8]) -> (Kept, Vec<Ent>) {
            let a = self.analyze(data, None);
            assert!(!a.malformed);
            let files = a.rec.added.to_vec();
            (Kept { dense, data: data.into(), ents: a.ents, subs: a.subs }, files)
        }

        fn name(&self, name: &str) -> u32 {
            self.names.lock().unwrap().map[name.as_bytes()]
        }

        fn ent(&self, name: &str, blob: u8) -> Ent {
            Ent { name: self.name(name), blob: self.blobs.get(&oid(blob)) }
        }
    }

    fn sorted(mut v: Vec<Ent>) -> Vec<(u32, u32)> {
        let mut out: Vec<(u32, u32)> = v.drain(..).map(|e| (e.name, e.blob)).collect();
        out.sort_unstable();
        out
    }

    /// `(name, kind, id)` of parsed entries, to compare parses of different bytes.
    fn described(data: &[u8], ents: &[Pe]) -> Vec<(Vec<u8>, u8, ObjectId)> {
        ents.iter().map(|e| (e.name(data).to_vec(), e.kind, e.id(data, H).to_owned())).collect()
    }

    #[test]
    fn parse_tree_reads_names_kinds_and_ids() {
        assert!(parse_tree(&[], H).unwrap().is_empty());
        let data = tree(&[
            ("100644", ".sops.yaml", 1),
            ("40000", "apps", 2),
            ("040000", "base", 3),
            ("160000", "vendor", 4),
            ("100755", "run.sh", 5),
            ("120000", "link", 6),
        ]);
        let ents = parse_tree(&data, H).unwrap();
        let got: Vec<(&[u8], u8, ObjectId)> =
            ents.iter().map(|e| (e.name(&data), e.kind, e.id(&data, H).to_owned())).collect();
        assert_eq!(
            got,
            vec![
                (&b".sops.yaml"[..], K_FILE, oid(1)),
                (&b"apps"[..], K_TREE, oid(2)),
                (&b"base"[..], K_TREE, oid(3)),
                (&b"vendor"[..], K_GITLINK, oid(4)),
                (&b"run.sh"[..], K_FILE, oid(5)),
                (&b"link"[..], K_FILE, oid(6)),
            ]
        );
        // Offsets: the first name starts after `100644 `, the raw entry runs to the id's end.
        assert_eq!((ents[0].name, ents[0].len), (7, 10));
        assert_eq!(ents[0].raw(&data, H).len(), 10 + 1 + H);
        assert_eq!(ents[1].name as usize, 7 + 10 + 1 + H + "40000 ".len());
    }

    #[test]
    fn parse_tree_keeps_the_entries_before_damage() {
        let good = tree(&[("100644", "a", 1), ("100644", "b", 2)]);
        let first = |partial: Vec<Pe>, data: &[u8]| described(data, &partial);
        // The id of the last entry is cut short.
        let cut = &good[..good.len() - 1];
        let partial = parse_tree(cut, H).unwrap_err();
        assert_eq!(first(partial, cut), vec![(b"a".to_vec(), K_FILE, oid(1))]);
        // No space within the first 8 bytes (no mode).
        let mut bad = good.clone();
        bad.extend_from_slice(b"100644100644 c\0");
        bad.extend_from_slice(&[3; H]);
        assert_eq!(parse_tree(&bad, H).unwrap_err().len(), 2);
        // An empty name.
        let mut bad = good.clone();
        bad.extend_from_slice(b"100644 \0");
        bad.extend_from_slice(&[3; H]);
        assert_eq!(parse_tree(&bad, H).unwrap_err().len(), 2);
        // No NUL after the name.
        let mut bad = good.clone();
        bad.extend_from_slice(b"100644 c");
        assert_eq!(parse_tree(&bad, H).unwrap_err().len(), 2);
        // Garbage from the first byte.
        assert!(parse_tree(b"garbage without structure", H).unwrap_err().is_empty());
    }

    #[test]
    fn common_prefix_and_suffix() {
        assert_eq!(common_prefix(b"", b""), 0);
        assert_eq!(common_prefix(b"abc", b""), 0);
        assert_eq!(common_prefix(b"abc", b"abd"), 2);
        assert_eq!(common_prefix(b"abc", b"abcdef"), 3);
        assert_eq!(common_prefix(b"xbc", b"abc"), 0);
        assert_eq!(common_suffix(b"", b"", 0), 0);
        assert_eq!(common_suffix(b"xabc", b"yabc", 4), 3);
        assert_eq!(common_suffix(b"abc", b"zzabc", 3), 3);
        // `max` bounds the suffix even where more bytes agree.
        assert_eq!(common_suffix(b"aaaa", b"aaaa", 2), 2);
        // Past every block size (4096, 512, 64) and the bytes after them.
        for at in [0usize, 1, 63, 64, 511, 512, 4095, 4096, 4097, 5000, 9999] {
            let a = vec![7u8; 10_000];
            let mut b = a.clone();
            b[at] = 8;
            assert_eq!(common_prefix(&a, &b), at, "prefix, difference at {at}");
            assert_eq!(common_suffix(&a, &b, a.len()), a.len() - at - 1, "suffix, difference at {at}");
        }
        let a = vec![1u8; 6000];
        assert_eq!(common_prefix(&a, &a), 6000);
        assert_eq!(common_suffix(&a, &a[..5000], 5000), 5000);
    }

    #[test]
    fn a_tree_without_base_lists_everything() {
        let fx = Fixture::new(&[1, 2, 3], &[10]);
        let data = tree(&[
            ("100644", ".sops.yaml", 1),
            ("40000", "apps", 10),
            ("40000", "gone", 11),
            ("100644", "secret.yaml", 2),
            ("160000", "vendor", 4),
            ("100644", "unknown", 9),
        ]);
        let a = fx.analyze(&data, None);
        assert!(!a.malformed);
        assert_eq!(a.rec.base, UNSET);
        assert!(a.rec.removed.is_empty());
        // A gitlink's blob is GITLINK; a blob the database lacks gets the next dense id.
        let unknown = Ent { name: fx.name("unknown"), blob: 3 };
        let gitlink = Ent { name: fx.name("vendor"), blob: GITLINK };
        assert_eq!(
            a.rec.added.to_vec(),
            vec![fx.ent(".sops.yaml", 1), fx.ent("secret.yaml", 2), gitlink, unknown]
        );
        assert_eq!(fx.blobs.get(&oid(9)), 3);
        assert_eq!(a.info.sops, Some(oid(1)));
        assert_eq!(a.info.subtrees.to_vec(), vec![(fx.name("apps"), 0)]);
        assert_eq!(a.info.missing, vec![(fx.name("gone"), oid(11))]);
        assert_eq!(a.subs, vec![(fx.name("apps"), 0), (fx.name("gone"), UNSET)]);
        assert_eq!(a.ents.len(), 6);
    }

    #[test]
    fn an_empty_tree() {
        let fx = Fixture::new(&[1], &[]);
        let a = fx.analyze(&[], None);
        assert!(!a.malformed);
        assert!(a.rec.added.is_empty() && a.ents.is_empty() && a.info.subtrees.is_empty());
        assert_eq!(a.info.sops, None);
        // A tree emptied from its base removes every file.
        let (base, files) = fx.base(0, &tree(&[("100644", "a", 1)]));
        let a = fx.analyze(&[], Some(&base));
        assert_eq!(a.rec.base, 0);
        assert!(a.rec.added.is_empty());
        assert_eq!(a.rec.removed.to_vec(), files);
        // And a file added to an empty base is the only edit.
        let (empty, _) = fx.base(1, &[]);
        let a = fx.analyze(&tree(&[("100644", "a", 1)]), Some(&empty));
        assert_eq!((a.rec.added.to_vec(), a.rec.removed.len()), (vec![fx.ent("a", 1)], 0));
    }

    #[test]
    fn a_malformed_tree_keeps_what_precedes_the_damage() {
        let fx = Fixture::new(&[1, 2], &[]);
        let mut data = tree(&[("100644", "a", 1), ("100644", "b", 2)]);
        data.truncate(data.len() - 3);
        let a = fx.analyze(&data, None);
        assert!(a.malformed);
        assert_eq!(a.rec.added.to_vec(), vec![fx.ent("a", 1)]);
        // Against a base too: the edit is relative to the readable entries.
        let (base, _) = fx.base(0, &tree(&[("100644", "a", 1), ("100644", "b", 2)]));
        let a = fx.analyze(&data, Some(&base));
        assert!(a.malformed);
        assert!(a.rec.added.is_empty());
        assert_eq!(a.rec.removed.to_vec(), vec![fx.ent("b", 2)]);
    }

    #[test]
    fn edits_against_the_base() {
        let fx = Fixture::new(&[1, 2, 3, 4, 5], &[10, 11]);
        let base_data = tree(&[
            ("100644", "a.yaml", 1),
            ("40000", "apps", 10),
            ("100644", "b.yaml", 2),
            ("100644", "c.yaml", 3),
        ]);
        let (base, _) = fx.base(7, &base_data);
        let edit = |entries: &[(&str, &str, u8)]| {
            let a = fx.analyze(&tree(entries), Some(&base));
            assert!(!a.malformed);
            assert_eq!(a.rec.base, 7);
            (a.rec.added.to_vec(), a.rec.removed.to_vec(), a.info.subtrees.to_vec())
        };
        let apps = |t: u32| vec![(fx.name("apps"), t)];
        // The same bytes: no edit, the subtree resolved from the base.
        let same = edit(&[
            ("100644", "a.yaml", 1),
            ("40000", "apps", 10),
            ("100644", "b.yaml", 2),
            ("100644", "c.yaml", 3),
        ]);
        assert_eq!(same, (vec![], vec![], apps(0)));
        // One blob changed in the middle.
        let changed = edit(&[
            ("100644", "a.yaml", 1),
            ("40000", "apps", 10),
            ("100644", "b.yaml", 4),
            ("100644", "c.yaml", 3),
        ]);
        assert_eq!(changed, (vec![fx.ent("b.yaml", 4)], vec![fx.ent("b.yaml", 2)], apps(0)));
        // A rename: the same blob under another name.
        let renamed = edit(&[
            ("100644", "a.yaml", 1),
            ("40000", "apps", 10),
            ("100644", "bb.yaml", 2),
            ("100644", "c.yaml", 3),
        ]);
        fx.name("bb.yaml");
        assert_eq!(renamed, (vec![fx.ent("bb.yaml", 2)], vec![fx.ent("b.yaml", 2)], apps(0)));
        // Added at the start, removed at the end.
        let edges = edit(&[
            ("100644", "0.yaml", 5),
            ("100644", "a.yaml", 1),
            ("40000", "apps", 10),
            ("100644", "b.yaml", 2),
        ]);
        assert_eq!(edges, (vec![fx.ent("0.yaml", 5)], vec![fx.ent("c.yaml", 3)], apps(0)));
        // The subtree changed: resolved anew, no file edit.
        let sub = edit(&[
            ("100644", "a.yaml", 1),
            ("40000", "apps", 11),
            ("100644", "b.yaml", 2),
            ("100644", "c.yaml", 3),
        ]);
        assert_eq!(sub, (vec![], vec![], apps(1)));
        // A file became a submodule at the same path.
        let gitlink = edit(&[
            ("100644", "a.yaml", 1),
            ("40000", "apps", 10),
            ("160000", "b.yaml", 2),
            ("100644", "c.yaml", 3),
        ]);
        let link = Ent { name: fx.name("b.yaml"), blob: GITLINK };
        assert_eq!(gitlink, (vec![link], vec![fx.ent("b.yaml", 2)], apps(0)));
        // The subtree was removed, and a file of the same name added.
        let replaced = edit(&[
            ("100644", "a.yaml", 1),
            ("100644", "apps", 4),
            ("100644", "b.yaml", 2),
            ("100644", "c.yaml", 3),
        ]);
        assert_eq!(replaced, (vec![fx.ent("apps", 4)], vec![], vec![]));
    }

    /// A small deterministic generator (no dependency): trees of up to 12 entries drawn from a
    /// few names, kinds and ids.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self, n: u64) -> u64 {
            self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 33) % n
        }
        fn tree(&mut self) -> Vec<u8> {
            const NAMES: [&str; 12] =
                ["a", "a.b", "a0", "b", "ba", "c", "d.yaml", ".sops.yaml", "e", "f", "g", "h"];
            let mut picked: Vec<(Vec<u8>, &str, u8)> = Vec::new();
            for name in NAMES {
                if self.next(3) == 0 {
                    continue;
                }
                let mode = ["100644", "40000", "160000", "100755", "120000"][self.next(5) as usize];
                let id = 1 + self.next(4) as u8 + if mode == "40000" { 10 } else { 0 };
                let mut key = name.as_bytes().to_vec();
                if mode == "40000" {
                    key.push(b'/');
                }
                picked.push((key, mode, id));
            }
            picked.sort();
            let mut out = Vec::new();
            for (key, mode, id) in picked {
                let name = key.strip_suffix(b"/").unwrap_or(&key).to_vec();
                out.extend_from_slice(mode.as_bytes());
                out.push(b' ');
                out.extend_from_slice(&name);
                out.push(0);
                out.extend_from_slice(&[id; H]);
            }
            out
        }
    }

    /// Whatever the two trees, the edit against the base rebuilds the tree's own entries, and the
    /// subtrees, `.sops.yaml` and entries agree with reading the tree on its own.
    #[test]
    fn edits_rebuild_the_tree() {
        let fx = Fixture::new(&[1, 2, 3, 4], &[11, 12, 13]);
        let mut rng = Lcg(12);
        for round in 0..2000 {
            let (bd, cd) = (rng.tree(), rng.tree());
            let (base, base_files) = fx.base(0, &bd);
            let alone = fx.analyze(&cd, None);
            let a = fx.analyze(&cd, Some(&base));
            assert!(!a.malformed);
            assert_eq!(sorted(a.rec.apply(&base_files)), sorted(alone.rec.added.to_vec()), "round {round}");
            assert_eq!(described(&cd, &a.ents), described(&cd, &alone.ents), "round {round}");
            assert_eq!(a.subs, alone.subs, "round {round}");
            assert_eq!(a.info.subtrees, alone.info.subtrees, "round {round}");
            assert_eq!(a.info.sops, alone.info.sops, "round {round}");
        }
    }

    #[test]
    fn apply_removes_then_appends() {
        let e = |name, blob| Ent { name, blob };
        let base: Vec<Ent> = (0..20).map(|i| e(i, i + 100)).collect();
        let rec = |added: Vec<Ent>, removed: Vec<Ent>| TreeRec {
            base: 0,
            added: added.into_boxed_slice(),
            removed: removed.into_boxed_slice(),
        };
        assert_eq!(rec(vec![], vec![]).apply(&base), base);
        assert_eq!(rec(vec![e(50, 1)], vec![]).apply(&base[..1]), vec![e(0, 100), e(50, 1)]);
        // Few removals (searched in the list), many (searched in a set), one that is not there.
        let few = rec(vec![], vec![e(1, 101), e(3, 103), e(3, 999)]).apply(&base);
        assert_eq!(few.len(), 18);
        assert!(!few.contains(&e(1, 101)) && !few.contains(&e(3, 103)));
        let many: Vec<Ent> = (0..10).map(|i| e(i, i + 100)).collect();
        assert_eq!(rec(vec![e(99, 9)], many).apply(&base), [&base[10..], &[e(99, 9)]].concat());
        // A removal matches name and blob, not the name alone.
        assert_eq!(rec(vec![], vec![e(0, 5)]).apply(&base[..1]), vec![e(0, 100)]);
    }

    #[test]
    fn frontier_releases_a_base_after_its_last_child() {
        let frontier = Frontier {
            slots: (0..3).map(|_| Mutex::new(None)).collect(),
            pending: [2, 0, 1].into_iter().map(AtomicU32::new).collect(),
        };
        assert!(frontier.wants(0) && !frontier.wants(1) && frontier.wants(2));
        let kept = |dense| Kept { dense, data: Box::new([]), ents: Vec::new(), subs: Vec::new() };
        frontier.keep(0, kept(40));
        assert_eq!(frontier.take(0).map(|k| k.dense), Some(40));
        assert!(frontier.wants(0));
        assert_eq!(frontier.take(0).map(|k| k.dense), Some(40));
        assert!(!frontier.wants(0));
        // Released: a third child (more than counted) finds nothing, and the count stays at 0.
        assert!(frontier.take(0).is_none());
        assert!(!frontier.wants(0));
        // A base that was never kept (malformed, or not delivered).
        assert!(frontier.take(2).is_none());
        assert!(!frontier.wants(2));
    }

    #[test]
    fn forest_roots_are_whole_lists_and_orphans() {
        let rec = |base| Some(TreeRec { base, added: Box::new([]), removed: Box::new([]) });
        // 0 whole; 1 and 2 deltas of 0; 3 a delta of 2; 4 a delta of a tree not read (5); 6 of
        // a tree out of range.
        let recs = vec![rec(UNSET), rec(0), rec(0), rec(2), rec(5), None, rec(99)];
        let f = Forest::new(&recs);
        assert_eq!(f.roots, vec![0, 4, 6]);
        assert_eq!(f.children[0], vec![1, 2]);
        assert_eq!(f.children[2], vec![3]);
        assert!(f.children[1].is_empty() && f.children[5].is_empty());
    }

    /// The two tree parsers of the crate read well-formed trees alike.
    #[test]
    fn parse_tree_agrees_with_the_lookup_parser() {
        use gix::objs::tree::EntryKind;
        let mut rng = Lcg(7);
        for round in 0..500 {
            let data = rng.tree();
            let ours = described(&data, &parse_tree(&data, H).unwrap());
            let theirs: Vec<(Vec<u8>, u8, ObjectId)> = util::parse_tree(&data, gix::hash::Kind::Sha1)
                .unwrap()
                .into_iter()
                .map(|e| {
                    let kind = match e.kind {
                        EntryKind::Tree => K_TREE,
                        EntryKind::Commit => K_GITLINK,
                        EntryKind::Blob | EntryKind::BlobExecutable | EntryKind::Link => K_FILE,
                    };
                    (e.name, kind, e.id)
                })
                .collect();
            assert_eq!(ours, theirs, "round {round}");
        }
    }
}
