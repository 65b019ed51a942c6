//! Small shared pieces: opening the repository, commit parsing, dates, tree reading by lookup.

use std::path::Path;

use gix::objs::tree::EntryKind;
use gix::ObjectId;

use super::{GitError, Progress};

/// A fast, non-cryptographic hasher for internal tables keyed by small integers (never by
/// attacker-chosen bytes).
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

impl std::hash::Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(w));
        }
    }
    fn write_u32(&mut self, i: u32) {
        self.write_u64(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
}

/// `HashMap` with [`FxHasher`].
pub(crate) type FxMap<K, V> = std::collections::HashMap<K, V, std::hash::BuildHasherDefault<FxHasher>>;
/// `HashSet` with [`FxHasher`].
pub(crate) type FxSet<K> = std::collections::HashSet<K, std::hash::BuildHasherDefault<FxHasher>>;

/// Opens the repository containing `start` (or the one named by `GIT_DIR`, as in a hook).
///
/// Replace refs (`refs/replace/*`) are never honoured: every git mode reads the real objects, so a
/// replace ref cannot hide a commit's real content from the scan.
pub(crate) fn open(start: &Path) -> Result<gix::ThreadSafeRepository, GitError> {
    let mut trust: gix::sec::trust::Mapping<gix::open::Options> = Default::default();
    const NO_REPLACE: &str = "core.useReplaceRefs=false";
    trust.full = trust.full.config_overrides([NO_REPLACE]);
    trust.reduced = trust.reduced.config_overrides([NO_REPLACE]);
    match gix::ThreadSafeRepository::discover_with_environment_overrides_opts(
        start,
        Default::default(),
        trust,
    ) {
        Ok(repo) => Ok(repo),
        Err(err) => {
            if err.dominant_class() == Some(gix::error::Class::NotFound) {
                Err(GitError::NotARepository { path: start.to_owned() })
            } else {
                Err(GitError::Open { path: start.to_owned(), message: one_line(&err) })
            }
        }
    }
}

pub(crate) use crate::source::one_line;

/// Batches progress reports so that the callback is not hit for every small object: counts are
/// handed on once `objects` objects or `bytes` bytes have accumulated, and on drop.
pub(crate) struct Tally<'p> {
    progress: Option<&'p dyn Progress>,
    objects: u64,
    bytes: u64,
    max_objects: u64,
    max_bytes: u64,
}

impl<'p> Tally<'p> {
    pub(crate) fn new(progress: Option<&'p dyn Progress>, objects: u64, bytes: u64) -> Self {
        Tally { progress, objects: 0, bytes: 0, max_objects: objects, max_bytes: bytes }
    }
    pub(crate) fn add(&mut self, bytes: u64) {
        self.objects += 1;
        self.bytes += bytes;
        if self.objects >= self.max_objects || self.bytes >= self.max_bytes {
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

/// What the git sources need from a commit.
#[derive(Clone, Debug)]
pub(crate) struct CommitMeta {
    /// The root tree.
    pub tree: ObjectId,
    /// Parents, in order.
    pub parents: Vec<ObjectId>,
    /// `Name <email>` of the author.
    pub author: String,
    /// Author time, seconds since the epoch.
    pub author_time: i64,
    /// Committer time, seconds since the epoch (used to order the topological sort).
    pub commit_time: i64,
}

/// Parses a commit object. `None` if it is malformed.
pub(crate) fn parse_commit(data: &[u8], hash: gix::hash::Kind) -> Option<CommitMeta> {
    use gix::objs::commit::ref_iter::Token;
    let mut tree = None;
    let mut parents = Vec::new();
    let mut author = String::new();
    let mut author_time = 0;
    let mut commit_time = 0;
    for token in gix::objs::CommitRefIter::from_bytes(data, hash) {
        match token.ok()? {
            Token::Tree { id } => tree = Some(id),
            Token::Parent { id } => parents.push(id),
            Token::Author { signature } => {
                let s = signature.trim();
                author = format!("{} <{}>", s.name, s.email);
                author_time = s.seconds();
            }
            Token::Committer { signature } => {
                commit_time = signature.seconds();
                break;
            }
            _ => {}
        }
    }
    Some(CommitMeta { tree: tree?, parents, author, author_time, commit_time })
}

/// Commit indices, parents (indices into `commits`) before children, only `reachable` ones; among
/// ready commits the oldest (committer time, then id) first, so the order is deterministic.
pub(crate) fn topo_order(
    commits: &[(ObjectId, CommitMeta)],
    reachable: &[bool],
    parents: &[Vec<u32>],
) -> Vec<u32> {
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

/// Git's tree order: names compared bytewise, a tree's name as if it ended in `/`.
#[inline]
pub(crate) fn tree_order(a: &[u8], a_tree: bool, b: &[u8], b_tree: bool) -> std::cmp::Ordering {
    let l = a.len().min(b.len());
    match a[..l].cmp(&b[..l]) {
        std::cmp::Ordering::Equal => {
            let ca = a.get(l).copied().unwrap_or(if a_tree { b'/' } else { 0 });
            let cb = b.get(l).copied().unwrap_or(if b_tree { b'/' } else { 0 });
            ca.cmp(&cb)
        }
        o => o,
    }
}

/// RFC 3339 in UTC, second precision (`2024-05-01T12:00:00Z`).
pub(crate) fn rfc3339(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let secs = seconds.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let mut year = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    if month <= 2 {
        year += 1;
    }
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", secs / 3600, (secs % 3600) / 60, secs % 60)
}

/// One entry of a tree, owned.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub name: Vec<u8>,
    pub id: ObjectId,
    pub kind: EntryKind,
}

/// Parses a tree object into owned entries. `None` if it is malformed.
///
/// For the modes that read few trees (by lookup). `--history` parses every tree of the database
/// with its own parser (`history::trees::parse_tree`), which keeps offsets into the tree's bytes
/// instead of owned entries and classifies modes only as tree, gitlink or file; the two agree on
/// well-formed trees (tested there).
pub(crate) fn parse_tree(data: &[u8], hash: gix::hash::Kind) -> Option<Vec<Entry>> {
    let mut out = Vec::new();
    for e in gix::objs::TreeRefIter::from_bytes(data, hash) {
        let e = e.ok()?;
        out.push(Entry { name: e.filename.to_vec(), id: e.oid.to_owned(), kind: e.mode.kind() });
    }
    Some(out)
}

/// Whether an entry kind is file content (regular, executable or symbolic link).
pub(crate) fn is_blob(kind: EntryKind) -> bool {
    matches!(kind, EntryKind::Blob | EntryKind::BlobExecutable | EntryKind::Link)
}

/// Joins a directory path (possibly empty) and a name.
pub(crate) fn join(dir: &str, name: &[u8]) -> String {
    let name = String::from_utf8_lossy(name);
    if dir.is_empty() {
        name.into_owned()
    } else {
        format!("{dir}/{name}")
    }
}

/// The name `.sops.yaml` files have, as tree entries spell it.
pub(crate) const SOPS_CONFIG: &[u8] = crate::sops::CONFIG_NAME.as_bytes();

pub(crate) use crate::sops::is_sops_config;

/// Reads trees by lookup, for the modes that touch few of them (`--staged`, `--range`, and the
/// occurrences of incident response). Parsed trees are cached (a range reads each commit's tree again as the next commit's parent tree).
pub(crate) struct TreeReader<'r> {
    repo: &'r gix::Repository,
    cache: std::cell::RefCell<(TreeCache, usize)>,
}

/// Parsed trees by id.
type TreeCache = FxMap<ObjectId, std::rc::Rc<Vec<Entry>>>;

/// Entries cached before the cache is emptied.
const TREE_CACHE_ENTRIES: usize = 400_000;

impl<'r> TreeReader<'r> {
    pub(crate) fn new(repo: &'r gix::Repository) -> Self {
        TreeReader { repo, cache: std::cell::RefCell::new((FxMap::default(), 0)) }
    }

    /// The entries of a tree; `Err` with a message if it is missing or not a tree.
    pub(crate) fn entries(&self, id: ObjectId) -> Result<std::rc::Rc<Vec<Entry>>, String> {
        if let Some(e) = self.cache.borrow().0.get(&id) {
            return Ok(e.clone());
        }
        let hash = self.repo.object_hash();
        let parsed = match self.repo.try_find_object(id) {
            Ok(Some(obj)) if obj.kind == gix::objs::Kind::Tree => {
                parse_tree(&obj.data, hash).ok_or_else(|| format!("tree {id} is malformed"))?
            }
            Ok(Some(obj)) => return Err(format!("object {id} is a {}, not a tree", obj.kind)),
            Ok(None) => return Err(format!("tree {id} is missing from the object database")),
            Err(e) => return Err(format!("tree {id} cannot be read: {}", one_line(&e))),
        };
        let parsed = std::rc::Rc::new(parsed);
        let mut cache = self.cache.borrow_mut();
        if cache.1 + parsed.len() > TREE_CACHE_ENTRIES {
            cache.0.clear();
            cache.1 = 0;
        }
        cache.1 += parsed.len();
        cache.0.insert(id, parsed.clone());
        Ok(parsed)
    }

    /// The entry at `path` (`/`-separated) below tree `root`, if any.
    pub(crate) fn lookup(&self, root: ObjectId, path: &str) -> Result<Option<Entry>, String> {
        let mut tree = root;
        let mut parts = path.split('/').peekable();
        while let Some(part) = parts.next() {
            let entries = self.entries(tree)?;
            let Some(e) = entries.iter().find(|e| e.name == part.as_bytes()).cloned() else {
                return Ok(None);
            };
            if parts.peek().is_none() {
                return Ok(Some(e));
            }
            if e.kind != EntryKind::Tree {
                return Ok(None);
            }
            tree = e.id;
        }
        Ok(None)
    }
}

/// An object's bytes, or why it cannot be had (one line, for a problem).
pub(crate) fn read_object(repo: &gix::Repository, id: gix::ObjectId) -> Result<Vec<u8>, String> {
    match repo.try_find_object(id) {
        Ok(Some(o)) => Ok(o.detach().data),
        Ok(None) => Err("missing from the object database".into()),
        Err(e) => Err(one_line(&e)),
    }
}

/// Drops a large value on another thread: freeing history's tables takes tens of milliseconds
/// the caller need not wait for. Unless `free` is false (see
/// [`super::GitOptions::exiting_after_scan`]): then the value is never dropped, and its memory
/// goes back when the process exits.
pub(crate) fn drop_later<T: Send + 'static>(value: T, free: bool) {
    if !free {
        std::mem::forget(value);
        return;
    }
    // If no thread can be started, the value is dropped here, with the closure.
    let _ = std::thread::Builder::new().name("sopsguard-drop".into()).spawn(move || drop(value));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_714_564_800), "2024-05-01T12:00:00Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
    }
}
