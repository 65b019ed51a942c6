//! Streaming every object of the object database once, by kind.
//!
//! Looking objects up one id at a time decompresses delta bases again and again, which makes a
//! history scan slower than `git cat-file --batch-all-objects`. Instead each pack is traversed as a
//! forest of delta chains (`gix::odb::pack::cache::delta::Tree`), so every base is decoded exactly
//! once, in parallel. The forest is built only from the objects of the kinds asked for: git never
//! deltifies an object against one of another kind, so commits and trees can be streamed without
//! inflating a single blob, and blobs without inflating a tree.
//!
//! Objects present in several packs (or packed and loose) are delivered once. A pack that fails
//! half-way (corruption) is reported; callers look up what they still miss one id at a time.

use std::sync::atomic::AtomicBool;
use std::sync::Mutex;

use gix::objs::Kind;
use gix::odb::pack;
use gix::{oid, ObjectId};
use rayon::prelude::*;

use super::util::one_line;

/// Whole blobs above this size are remembered when a pack is opened (see [`Odb::blob_limit`]).
const LARGE_BLOB: u64 = 1 << 20;

/// Packs larger than this are streamed in slices (see [`Odb::stream`]).
const SLICE_BYTES: u64 = 64 << 20;

/// Every pack and loose object of a repository (and its alternates).
pub struct Odb {
    pub hash: gix::hash::Kind,
    /// Whole blobs larger than this are never inflated by a stream (a zlib bomb of a few MiB can
    /// hold GiBs of zeros); they are left to the caller, which sees their size in the header.
    /// Blobs that are delta bases of other objects are inflated whatever their size.
    pub blob_limit: u64,
    pub packs: Vec<Pack>,
    pub loose: Vec<Loose>,
    loose_stores: Vec<gix::odb::loose::Store>,
}

/// One pack with the kind of every object.
pub struct Pack {
    /// The index (kept mapped). The pack data is mapped only while it is streamed, so that the
    /// pages a stream touched stop counting against this process once it is done.
    pub index: pack::index::File,
    data_path: std::path::PathBuf,
    /// Index positions in pack-offset order.
    order: Vec<u32>,
    /// Kind per index position; `None` when the header chain cannot be resolved.
    kinds: Vec<Option<Kind>>,
    /// Whether this copy is the one delivered (false when an earlier pack has the object too).
    own: Vec<bool>,
    /// The delta base (index position) of each object; `u32::MAX` for whole objects.
    bases: Vec<u32>,
    /// The rank in pack order of the root of each object's delta chain.
    root_rank: Vec<u32>,
    /// The rank of each object in pack order.
    rank: Vec<u32>,
    /// Whole blobs that no delta builds on, with their size (only those larger than 1 MiB, the
    /// smallest limit that matters): what a stream may leave out.
    large_leaf_blobs: std::collections::HashMap<u32, u64>,
    /// Where the last entry ends (the trailing checksum starts).
    pack_end: u64,
}

/// One loose object.
pub struct Loose {
    pub id: ObjectId,
    pub kind: Kind,
    store: usize,
}

impl Pack {
    fn open(idx_path: &std::path::Path, hash: gix::hash::Kind) -> Result<Pack, String> {
        let index = pack::index::File::at(idx_path, hash).map_err(|e| one_line(&e))?;
        let data_path = idx_path.with_extension("pack");
        let data = pack::data::File::at(&data_path, hash).map_err(|e| one_line(&e))?;
        let n = index.num_objects();
        let offsets_by_pos: Vec<u64> =
            (0..n).into_par_iter().map(|i| index.pack_offset_at_index(i)).collect();
        // (offset, position) pairs sort without looking anything up.
        let mut by_offset: Vec<(u64, u32)> = offsets_by_pos.iter().copied().zip(0..n).collect();
        by_offset.par_sort_unstable();
        let order: Vec<u32> = by_offset.iter().map(|x| x.1).collect();
        let sorted_offsets: Vec<u64> = by_offset.into_iter().map(|x| x.0).collect();
        let mut kinds: Vec<Option<Kind>> = vec![None; n as usize];
        let mut bases: Vec<u32> = vec![u32::MAX; n as usize];
        // Deltas name their base by offset (always earlier in the pack) or by id (anywhere), so a
        // second sweep settles ref-deltas whose base comes later.
        // Entry headers are read in parallel (on a large pack this is most of opening it), then
        // kinds are passed down the delta chains.
        use pack::data::entry::Header;
        let large = std::sync::Mutex::new(Vec::new());
        let headers: Vec<Option<Result<Kind, Option<u32>>>> = order
            .par_iter()
            .enumerate()
            .map(|(rank, &pos)| {
                let offset = sorted_offsets[rank];
                let entry = data.entry(offset).ok()?;
                Some(match entry.header {
                    Header::Commit => Ok(Kind::Commit),
                    Header::Tree => Ok(Kind::Tree),
                    Header::Blob => {
                        if entry.decompressed_size > LARGE_BLOB {
                            large
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .push((pos, entry.decompressed_size));
                        }
                        Ok(Kind::Blob)
                    }
                    Header::Tag => Ok(Kind::Tag),
                    Header::OfsDelta { base_distance } => Err(offset
                        .checked_sub(base_distance)
                        .and_then(|base| sorted_offsets.binary_search(&base).ok())
                        .map(|r| order[r])),
                    Header::RefDelta { base_id } => Err(index.lookup(base_id)),
                })
            })
            .collect();
        let mut pending = Vec::new();
        for (&pos, header) in order.iter().zip(headers) {
            let base = match header {
                None => continue,
                Some(Ok(kind)) => {
                    kinds[pos as usize] = Some(kind);
                    continue;
                }
                Some(Err(base)) => base,
            };
            if let Some(base) = base {
                bases[pos as usize] = base;
                match kinds[base as usize] {
                    Some(k) => kinds[pos as usize] = Some(k),
                    None => pending.push((pos, base)),
                }
            }
        }
        while !pending.is_empty() {
            let before = pending.len();
            pending.retain(|&(pos, base)| match kinds[base as usize] {
                Some(k) => {
                    kinds[pos as usize] = Some(k);
                    false
                }
                None => true,
            });
            if pending.len() == before {
                break;
            }
        }
        let own = vec![true; n as usize];
        let mut rank = vec![0u32; n as usize];
        for (r, &pos) in order.iter().enumerate() {
            rank[pos as usize] = r as u32;
        }
        let mut root_rank = vec![u32::MAX; n as usize];
        let mut chain = Vec::new();
        for start in 0..n {
            let mut pos = start;
            // Follow the chain to a known root (or a whole object); cycles end the walk.
            while root_rank[pos as usize] == u32::MAX
                && bases[pos as usize] != u32::MAX
                && chain.len() <= n as usize
            {
                chain.push(pos);
                pos = bases[pos as usize];
            }
            let r = if root_rank[pos as usize] != u32::MAX {
                root_rank[pos as usize]
            } else {
                rank[pos as usize]
            };
            root_rank[pos as usize] = r;
            for p in chain.drain(..) {
                root_rank[p as usize] = r;
            }
        }
        let pack_end = data.pack_end() as u64;
        let mut large_leaf_blobs: std::collections::HashMap<u32, u64> =
            large.into_inner().unwrap_or_else(|p| p.into_inner()).into_iter().collect();
        if !large_leaf_blobs.is_empty() {
            for &b in &bases {
                large_leaf_blobs.remove(&b);
            }
        }
        Ok(Pack { index, data_path, order, kinds, own, bases, root_rank, rank, pack_end, large_leaf_blobs })
    }

    /// The id at an index position.
    pub fn id(&self, pos: u32) -> &oid {
        self.index.oid_at_index(pos)
    }

    /// The kind of the object at an index position, if its header chain resolves.
    pub fn kind(&self, pos: u32) -> Option<Kind> {
        self.kinds[pos as usize]
    }

    /// The delta base of the object at an index position (same kind, same pack).
    pub fn base(&self, pos: u32) -> Option<u32> {
        Some(self.bases[pos as usize]).filter(|&b| b != u32::MAX)
    }

    /// Whether this pack's copy of the object is the one [`Odb::stream`] delivers.
    pub fn owns(&self, pos: u32) -> bool {
        self.own[pos as usize]
    }

    /// The number of objects in the pack.
    pub fn len(&self) -> u32 {
        self.index.num_objects()
    }
}

impl Odb {
    /// Lists the packs and loose objects of the repository and its alternates. Packs that cannot
    /// be opened are returned as messages.
    pub fn open(repo: &gix::ThreadSafeRepository) -> (Odb, Vec<String>) {
        let hash = repo.objects.object_hash();
        let mut dirs = vec![repo.objects.path().to_owned()];
        let mut problems = Vec::new();
        match repo.objects.alternate_db_paths() {
            Ok(alt) => dirs.extend(alt),
            Err(e) => problems.push(format!("cannot read the alternates: {}", one_line(&e))),
        }
        let mut packs: Vec<Pack> = Vec::new();
        let mut loose_stores = Vec::new();
        let mut loose = Vec::new();
        for dir in &dirs {
            let mut idx_files: Vec<_> = std::fs::read_dir(dir.join("pack"))
                .into_iter()
                .flatten()
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "idx"))
                .collect();
            idx_files.sort();
            let opened: Vec<Result<Pack, String>> =
                idx_files.par_iter().map(|p| Pack::open(p, hash)).collect();
            for (path, pack) in idx_files.iter().zip(opened) {
                match pack {
                    Ok(p) => packs.push(p),
                    Err(e) => problems.push(format!("cannot open pack `{}`: {e}", path.display())),
                }
            }
            let store = gix::odb::loose::Store::at(dir.clone(), hash);
            let ids: Vec<ObjectId> = store.iter().filter_map(Result::ok).collect();
            let store_idx = loose_stores.len();
            let headers: Vec<_> = ids.par_iter().map(|id| (*id, store.try_header(id))).collect();
            for (id, header) in headers {
                match header {
                    Ok(Some((_size, kind))) => loose.push(Loose { id, kind, store: store_idx }),
                    Ok(None) => {}
                    Err(e) => problems.push(format!("loose object {id} cannot be read: {}", one_line(&e))),
                }
            }
            loose_stores.push(store);
        }
        // An object in several packs is delivered from the first one only.
        if packs.len() > 1 {
            for k in 1..packs.len() {
                let (earlier, rest) = packs.split_at_mut(k);
                let p = &mut rest[0];
                for pos in 0..p.index.num_objects() {
                    let id = p.index.oid_at_index(pos);
                    if earlier.iter().any(|e| e.index.lookup(id).is_some()) {
                        p.own[pos as usize] = false;
                    }
                }
            }
        }
        loose.retain(|l| !packs.iter().any(|p| p.index.lookup(l.id).is_some()));
        loose.sort_by_key(|a| a.id);
        loose.dedup_by(|a, b| a.id == b.id);
        (Odb { hash, blob_limit: u64::MAX, packs, loose, loose_stores }, problems)
    }

    /// How many objects the packs of the repository (and its alternates) hold, counted from their
    /// indexes alone.
    pub fn packed_objects(repo: &gix::ThreadSafeRepository) -> u64 {
        let hash = repo.objects.object_hash();
        let mut dirs = vec![repo.objects.path().to_owned()];
        dirs.extend(repo.objects.alternate_db_paths().unwrap_or_default());
        dirs.iter()
            .flat_map(|d| std::fs::read_dir(d.join("pack")).into_iter().flatten().filter_map(Result::ok))
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "idx"))
            .filter_map(|p| pack::index::File::at(&p, hash).ok())
            .map(|i| u64::from(i.num_objects()))
            .sum()
    }

    /// Every object id of one kind, each once.
    pub fn ids_of_kind(&self, kind: Kind) -> Vec<ObjectId> {
        let mut out = Vec::new();
        for p in &self.packs {
            for pos in 0..p.index.num_objects() {
                if p.own[pos as usize] && p.kind(pos) == Some(kind) {
                    out.push(p.id(pos).to_owned());
                }
            }
        }
        out.extend(self.loose.iter().filter(|l| l.kind == kind).map(|l| l.id));
        out
    }

    /// How many objects of these kinds would be delivered.
    pub fn count(&self, kinds: &[Kind]) -> u64 {
        let packed: u64 = self
            .packs
            .iter()
            .map(|p| {
                (0..p.index.num_objects())
                    .filter(|&pos| p.own[pos as usize] && p.kind(pos).is_some_and(|k| kinds.contains(&k)))
                    .count() as u64
            })
            .sum();
        packed + self.loose.iter().filter(|l| kinds.contains(&l.kind)).count() as u64
    }

    /// Delivers every object of the given kinds once to `f`, in parallel, with one `L` per worker
    /// (made by `init`, all returned at the end). `f` gets the object's location (`Some((pack,
    /// index position))` for packed objects) besides its id. Returns the worker states and the
    /// packs that failed part-way (their remaining objects were not delivered).
    pub fn stream<L, I, F>(&self, kinds: &[Kind], threads: usize, init: I, f: F) -> (Vec<L>, Vec<String>)
    where
        L: Send,
        I: Fn() -> L + Sync,
        F: Fn(&mut L, Option<(usize, u32)>, &oid, Kind, &[u8]) + Sync,
    {
        self.stream_with(kinds, &|| threads, init, f)
    }

    /// [`Odb::stream`], asking `threads` how many threads to use (0: one per core) each time it
    /// starts a part of a pack (large packs are streamed in slices of about 64 MiB).
    pub fn stream_with<L, I, F>(
        &self,
        kinds: &[Kind],
        threads: &(dyn Fn() -> usize + Sync),
        init: I,
        f: F,
    ) -> (Vec<L>, Vec<String>)
    where
        L: Send,
        I: Fn() -> L + Sync,
        F: Fn(&mut L, Option<(usize, u32)>, &oid, Kind, &[u8]) + Sync,
    {
        let out: Mutex<Vec<L>> = Mutex::new(Vec::new());
        let mut failures = Vec::new();
        for (pack_idx, p) in self.packs.iter().enumerate() {
            if let Err(e) = self.stream_pack(pack_idx, p, kinds, threads, &init, &f, &out) {
                failures.push(format!("pack `{}`: {e}", p.data_path.display()));
            }
        }
        let loose: Vec<&Loose> = self.loose.iter().filter(|l| kinds.contains(&l.kind)).collect();
        if !loose.is_empty() {
            let states: Vec<L> = loose
                .par_iter()
                .fold(
                    || (init(), Vec::new()),
                    |(mut state, mut buf), l| {
                        let store = &self.loose_stores[l.store];
                        if l.kind == Kind::Blob
                            && self.blob_limit < u64::MAX
                            && store
                                .try_header(&l.id)
                                .ok()
                                .flatten()
                                .is_none_or(|(size, _)| size > self.blob_limit)
                        {
                            return (state, buf);
                        }
                        if let Ok(Some(data)) = store.try_find(&l.id, &mut buf) {
                            let kind = data.kind;
                            f(&mut state, None, &l.id, kind, data.data);
                        }
                        (state, buf)
                    },
                )
                .map(|(s, _)| s)
                .collect();
            out.lock().unwrap_or_else(|p| p.into_inner()).extend(states);
        }
        (out.into_inner().unwrap_or_else(|p| p.into_inner()), failures)
    }

    #[allow(clippy::too_many_arguments)]
    fn stream_pack<L, I, F>(
        &self,
        pack_idx: usize,
        p: &Pack,
        kinds: &[Kind],
        threads: &(dyn Fn() -> usize + Sync),
        init: &I,
        f: &F,
        out: &Mutex<Vec<L>>,
    ) -> Result<(), String>
    where
        L: Send,
        I: Fn() -> L + Sync,
        F: Fn(&mut L, Option<(usize, u32)>, &oid, Kind, &[u8]) + Sync,
    {
        if !p.order.iter().any(|&pos| p.own[pos as usize] && p.kind(pos).is_some_and(|k| kinds.contains(&k)))
        {
            return Ok(());
        }
        // Large packs are streamed in slices of whole delta trees, each grouped around a part of
        // the pack, and the pack is mapped only while a slice is streamed: the pages a slice
        // touched leave this process's memory with it.
        // Slices are cut between delta families, in pack order, once they hold SLICE_BYTES of
        // compressed entries.
        let n = p.order.len();
        let extent = |rank: usize| -> u64 {
            let start = p.index.pack_offset_at_index(p.order[rank]);
            let end = p.order.get(rank + 1).map_or(p.pack_end, |&next| p.index.pack_offset_at_index(next));
            end.saturating_sub(start)
        };
        let mut family_bytes = vec![0u64; n];
        for (rank, &pos) in p.order.iter().enumerate() {
            if p.kind(pos).is_some_and(|k| kinds.contains(&k)) {
                family_bytes[p.root_rank[pos as usize] as usize] += extent(rank);
            }
        }
        let mut slice_of_root = vec![0u32; n];
        let (mut slices, mut acc) = (1usize, 0u64);
        for (rank, &bytes) in family_bytes.iter().enumerate() {
            if bytes == 0 {
                continue;
            }
            if acc > 0 && acc + bytes > SLICE_BYTES {
                slices += 1;
                acc = 0;
            }
            acc += bytes;
            slice_of_root[rank] = (slices - 1) as u32;
        }
        drop(family_bytes);
        let slice_of = |pos: u32| slice_of_root[p.root_rank[pos as usize] as usize] as usize;
        // The forest builder reads headers sequentially from the pack's first entry, so that entry
        // is always part of the forest (inflated, but delivered only by its own slice).
        let first = p.order.first().copied();
        let limit = self.blob_limit.max(LARGE_BLOB);
        let too_large = |pos: u32| p.large_leaf_blobs.get(&pos).is_some_and(|&size| size > limit);
        for slice in 0..slices {
            let wanted = |pos: u32| {
                p.kind(pos).is_some_and(|k| kinds.contains(&k)) && slice_of(pos) == slice && !too_large(pos)
            };
            if !p.order.iter().any(|&pos| p.own[pos as usize] && wanted(pos)) {
                continue;
            }
            // Collected first: the forest preallocates for as many items as the iterator may yield.
            let selected: Vec<u32> =
                p.order.iter().copied().filter(|&pos| Some(pos) == first || wanted(pos)).collect();
            let ranks: Vec<u32> = selected.iter().map(|&pos| p.rank[pos as usize]).collect();
            let interrupt = AtomicBool::new(false);
            let index = &p.index;
            let tree = pack::cache::delta::Tree::from_offsets_in_pack(
                &p.data_path,
                selected.into_iter(),
                &|pos: &u32| index.pack_offset_at_index(*pos),
                &|id| Ok(index.lookup(id).map(|i| index.pack_offset_at_index(i))),
                &mut gix::progress::Discard,
                &interrupt,
                self.hash,
            )
            .map_err(|e| one_line(&e))?;
            let data = SliceData::read(p, &ranks).map_err(|e| format!("cannot read: {e}"))?;
            drop(ranks);
            let mut worker = Worker { state: None, init, out };
            let mut size_progress = gix::progress::Discard;
            tree.traverse(
                |range, data: &SliceData| data.entry(range.start),
                &data,
                p.pack_end,
                move |pos: &mut u32, _progress, ctx| {
                    let pos = *pos;
                    if p.own[pos as usize] && wanted(pos) {
                        if let Some(kind) = ctx.entry.header.as_kind() {
                            let init = worker.init;
                            let state = worker.state.get_or_insert_with(init);
                            f(state, Some((pack_idx, pos)), p.id(pos), kind, ctx.decompressed);
                        }
                    }
                    Ok(())
                },
                pack::cache::delta::traverse::Options {
                    object_progress: Box::new(gix::progress::Discard),
                    size_progress: &mut size_progress,
                    thread_limit: Some(threads()).filter(|&n| n > 0),
                    should_interrupt: &interrupt,
                    object_hash: self.hash,
                    alloc_limit_bytes: None,
                },
            )
            .map_err(|e| one_line(&e))?;
        }
        Ok(())
    }
}

/// The entries of one slice of a pack, read into memory (rather than mapped: a mapping would
/// keep every page a slice touched, and its neighbours, resident until the pack is closed).
struct SliceData {
    /// Pack offset of each entry, ascending.
    starts: Vec<u64>,
    /// Where each entry is in `buf`, and its length.
    spans: Vec<(usize, usize)>,
    buf: Vec<u8>,
}

impl SliceData {
    /// Reads the entries at these ranks (ascending pack order), coalescing nearby reads.
    fn read(p: &Pack, ranks: &[u32]) -> std::io::Result<SliceData> {
        let file = std::fs::File::open(&p.data_path)?;
        let extent = |r: u32| -> (u64, u64) {
            let start = p.index.pack_offset_at_index(p.order[r as usize]);
            let end = match p.order.get(r as usize + 1) {
                Some(&next) => p.index.pack_offset_at_index(next),
                None => p.pack_end,
            };
            (start, end.max(start))
        };
        // Segments of the file to read: entries closer than 4 KiB share one read.
        let mut segments: Vec<(u64, u64)> = Vec::new();
        let mut starts = Vec::with_capacity(ranks.len());
        let mut spans = Vec::with_capacity(ranks.len());
        let mut total = 0usize;
        for &r in ranks {
            let (start, end) = extent(r);
            match segments.last_mut() {
                Some(last) if start >= last.1 && start - last.1 <= 4096 => {
                    total += (end - last.1) as usize;
                    last.1 = end;
                }
                _ => {
                    segments.push((start, end));
                    total += (end - start) as usize;
                }
            }
            starts.push(start);
            spans.push((0usize, (end - start) as usize));
        }
        let mut buf = vec![0u8; total];
        let mut at = 0usize;
        let mut seg_at = Vec::with_capacity(segments.len());
        for &(start, end) in &segments {
            let len = (end - start) as usize;
            read_at(&file, &mut buf[at..at + len], start)?;
            seg_at.push((start, at));
            at += len;
        }
        let mut si = 0;
        for (i, &start) in starts.iter().enumerate() {
            while si + 1 < segments.len() && segments[si].1 <= start {
                si += 1;
            }
            let (seg_start, seg_buf) = seg_at[si];
            spans[i].0 = seg_buf + (start - seg_start) as usize;
        }
        Ok(SliceData { starts, spans, buf })
    }

    fn entry(&self, offset: u64) -> Option<&[u8]> {
        let i = self.starts.binary_search(&offset).ok()?;
        let (at, len) = self.spans[i];
        self.buf.get(at..at + len)
    }
}

#[cfg(unix)]
fn read_at(file: &std::fs::File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.read_exact_at(buf, offset)
}

#[cfg(not(unix))]
fn read_at(file: &std::fs::File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = file;
    f.seek(SeekFrom::Start(offset))?;
    f.read_exact(buf)
}

/// Per-thread state of a pack traversal. The traversal clones its callback once per thread; each
/// clone starts empty and hands its state over when dropped.
struct Worker<'a, L, I> {
    state: Option<L>,
    init: &'a I,
    out: &'a Mutex<Vec<L>>,
}

impl<L, I> Clone for Worker<'_, L, I> {
    fn clone(&self) -> Self {
        Worker { state: None, init: self.init, out: self.out }
    }
}

impl<L, I> Drop for Worker<'_, L, I> {
    fn drop(&mut self) {
        if let Some(state) = self.state.take() {
            self.out.lock().unwrap_or_else(|p| p.into_inner()).push(state);
        }
    }
}
