//! Reading and scanning the blobs a git mode selected.
//!
//! A mode first decides *which* blobs to scan and under which names: a [`Wanted`] set, one
//! [`Group`] per blob id with one [`Variant`] per distinct `(path, config set)`. Then every blob is
//! read once and scanned once per variant. Large sets are streamed out of the packs (see
//! [`super::odb`]); small ones are looked up by id.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Condvar, Mutex, OnceLock};

use gix::objs::Kind;
use gix::ObjectId;
use rayon::prelude::*;

use super::configs::Configs;
use super::odb::Odb;
use super::util::{one_line, FxMap, Tally};
use super::{GitOptions, Progress};
use crate::scan::{Engine, FileResult};
use crate::sops::{PathFacts, Verdict};
use crate::source::{Problem, Skipped};

/// One name under which a blob is scanned.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Variant {
    /// The path, `/`-separated, relative to the repository root.
    pub path: String,
    /// The config set governing it.
    pub cfg: u32,
    /// Mode-specific data (the introducing commit in range mode).
    pub tag: u32,
}

/// One blob and every name it is scanned under.
#[derive(Debug)]
pub(crate) struct Group {
    pub id: ObjectId,
    pub variants: Vec<Variant>,
}

/// The blobs to scan.
#[derive(Default)]
pub(crate) struct Wanted {
    pub groups: Vec<Group>,
    index: gix::hashtable::HashMap<ObjectId, u32>,
}

impl Wanted {
    /// Builds the set from `(blob, variant)` pairs in any order; the result is sorted and free of
    /// duplicates, so scanning order never depends on discovery order.
    pub fn from_pairs(mut pairs: Vec<(ObjectId, Variant)>) -> Wanted {
        pairs.par_sort_unstable();
        pairs.dedup_by(|a, b| a.0 == b.0 && a.1.path == b.1.path && a.1.cfg == b.1.cfg);
        let mut groups: Vec<Group> = Vec::new();
        for (id, v) in pairs {
            match groups.last_mut() {
                Some(g) if g.id == id => g.variants.push(v),
                _ => groups.push(Group { id, variants: vec![v] }),
            }
        }
        let index = groups.iter().enumerate().map(|(i, g)| (g.id, i as u32)).collect();
        Wanted { groups, index }
    }

    pub fn len(&self) -> usize {
        self.groups.len()
    }
}

/// One variant's result.
pub(crate) struct Scanned {
    pub group: u32,
    pub variant: u32,
    pub bytes: u64,
    pub result: FileResult,
}

/// Everything reading and scanning produced.
#[derive(Default)]
pub(crate) struct Outcome {
    pub scanned: Vec<Scanned>,
    pub skipped: Vec<Skipped>,
    pub problems: Vec<Problem>,
}

impl Outcome {
    fn merge(mut self, other: Outcome) -> Outcome {
        self.scanned.extend(other.scanned);
        self.skipped.extend(other.skipped);
        self.problems.extend(other.problems);
        self
    }
}

/// A scanner thread's memo of [`crate::sops::ConfigSet::facts`], by config set and path: the
/// versions of a file across history share them, and working them out (the governing config,
/// the creation rule's `path_regex`) cost as much as the rest of a verdict.
#[derive(Default)]
pub(crate) struct PathMemo<'c> {
    by_set: FxMap<u32, FxMap<Box<str>, PathFacts<'c>>>,
}

impl<'c> PathMemo<'c> {
    fn facts(&mut self, set: u32, configs: &'c crate::sops::ConfigSet, path: &str) -> PathFacts<'c> {
        let known = self.by_set.entry(set).or_default();
        if let Some(f) = known.get(path) {
            return *f;
        }
        let f = configs.facts(path);
        known.insert(path.into(), f);
        f
    }
}

/// Scans one blob under each of its names.
#[allow(clippy::too_many_arguments)]
fn scan_group<'c>(
    engine: &Engine,
    configs: &'c Configs,
    opts: &GitOptions,
    gi: u32,
    g: &Group,
    data: &[u8],
    paths: &mut PathMemo<'c>,
    out: &mut Outcome,
) {
    if data.len() as u64 > opts.max_file_size {
        skip_group(g, data.len() as u64, opts, out);
        return;
    }
    // Variants are sorted by path: a path scanned under a config set that judges it like an
    // earlier set (the same creation rule, say after an unrelated `.sops.yaml` edit) takes that
    // scan's result instead of scanning again.
    let mut done: Vec<(usize, Verdict<'_>)> = Vec::new();
    // A scan (any name) that found nothing while no sops check applied.
    let mut clean: Option<usize> = None;
    let mut memo = crate::sops::ContentMemo::default();
    for (vi, v) in g.variants.iter().enumerate() {
        let Some(cfg) = configs.sets.get(v.cfg as usize) else { continue };
        if done.first().is_some_and(|(at, _)| g.variants[out.scanned[*at].variant as usize].path != v.path) {
            done.clear();
        }
        let verdict = paths.facts(v.cfg, cfg, &v.path).verdict(data, engine.options.strict, &mut memo);
        let result = match done.iter().find(|(_, seen)| seen.same(&verdict)) {
            Some((at, _)) => out.scanned[*at].result.clone(),
            // Under another name, a blob with nothing to report and no sops check to run
            // usually gives nothing again: the engine tells when that is certain.
            None => match (&verdict, clean) {
                (Verdict::Inert, Some(at))
                    if engine
                        .same_when_clean(&g.variants[out.scanned[at].variant as usize].path, &v.path) =>
                {
                    out.scanned[at].result.clone()
                }
                _ => engine.scan_blob_judged(&v.path, data, cfg, Some(verdict)),
            },
        };
        if matches!(verdict, Verdict::Inert) && clean.is_none() && result.is_clean() {
            clean = Some(out.scanned.len());
        }
        done.push((out.scanned.len(), verdict));
        out.scanned.push(Scanned { group: gi, variant: vi as u32, bytes: data.len() as u64, result });
    }
}

fn skip_group(g: &Group, size: u64, opts: &GitOptions, out: &mut Outcome) {
    let mut last: Option<&str> = None;
    for v in &g.variants {
        if last == Some(v.path.as_str()) {
            continue;
        }
        last = Some(&v.path);
        out.skipped.push(Skipped {
            path: v.path.clone(),
            reason: format!("larger than --max-file-size ({} bytes); blob {}", opts.max_file_size, g.id),
            size: Some(size),
        });
    }
}

fn missing(g: &Group, message: String, out: &mut Outcome) {
    let path = g.variants.first().map(|v| v.path.clone()).unwrap_or_else(|| g.id.to_string());
    out.problems.push(Problem { path, message });
}

/// Progress is flushed every 256 blobs or 8 MiB of them, whichever comes first.
fn tally(progress: Option<&dyn Progress>) -> Tally<'_> {
    Tally::new(progress, 256, 8 << 20)
}

/// Bytes of blobs handed from the pack traversal to the scanners and not yet scanned.
const IN_FLIGHT_BYTES: u64 = 64 << 20;

/// A byte budget: takers wait while others hold too much (one taker may always proceed).
struct Budget {
    used: Mutex<u64>,
    freed: Condvar,
}

impl Budget {
    fn take(&self, n: u64) {
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        while *used > 0 && *used + n > IN_FLIGHT_BYTES {
            used = self.freed.wait(used).unwrap_or_else(|p| p.into_inner());
        }
        *used += n;
    }

    fn give(&self, n: u64) {
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        *used = used.saturating_sub(n);
        self.freed.notify_all();
    }
}

/// How many scanner threads: `--threads`, or one per core.
fn scanner_count(opts: &GitOptions) -> usize {
    if opts.threads > 0 {
        opts.threads
    } else {
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    }
}

/// Joins the scanner threads (re-raising a panic) and adds what they and the stream produced.
fn join_scanners(
    workers: Vec<std::thread::ScopedJoinHandle<'_, Outcome>>,
    failures: Vec<String>,
    mut outcome: Outcome,
) -> Outcome {
    for w in workers {
        match w.join() {
            Ok(o) => outcome = outcome.merge(o),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
    for f in failures {
        outcome.problems.push(Problem {
            path: "(object database)".into(),
            message: format!("{f}; the objects it still held were looked up one by one"),
        });
    }
    outcome
}

/// Reads every wanted blob once and scans it, and gives the set back with the outcome. With
/// `odb`, the packs are streamed as in [`Prefetch`] (every blob in them is inflated once, and
/// the wanted ones scanned); without, blobs are looked up by id. Blobs that cannot be found
/// become problems.
pub(crate) fn scan_wanted(
    engine: &Engine,
    repo: &gix::ThreadSafeRepository,
    odb: Option<&Odb>,
    wanted: Wanted,
    configs: &Configs,
    opts: &GitOptions,
    progress: Option<&dyn Progress>,
) -> (Wanted, Outcome) {
    match odb {
        Some(odb) => {
            let prefetch = Prefetch::new();
            let outcome = prefetch.finish(engine, repo, wanted, configs, opts, progress, || {
                prefetch.stream(odb, opts, progress)
            });
            (prefetch.into_wanted(), outcome)
        }
        None => {
            let claimed: Vec<AtomicBool> = (0..wanted.len()).map(|_| AtomicBool::new(false)).collect();
            let outcome = look_up_rest(engine, repo, &wanted, configs, opts, progress, &claimed);
            (wanted, outcome)
        }
    }
}

/// Looks up, by id, every wanted blob the packs did not deliver (or all of them, when nothing
/// was streamed) and scans it.
fn look_up_rest(
    engine: &Engine,
    repo: &gix::ThreadSafeRepository,
    wanted: &Wanted,
    configs: &Configs,
    opts: &GitOptions,
    progress: Option<&dyn Progress>,
    claimed: &[AtomicBool],
) -> Outcome {
    let rest: Vec<u32> =
        (0..wanted.len() as u32).filter(|&gi| !claimed[gi as usize].load(Ordering::Relaxed)).collect();
    rest.par_iter()
        .map_init(
            || (repo.to_thread_local(), tally(progress), PathMemo::default()),
            |(repo, tally, paths), &gi| {
                let g = &wanted.groups[gi as usize];
                let mut out = Outcome::default();
                match repo.try_find_header(g.id) {
                    Ok(Some(h)) if h.size() > opts.max_file_size => {
                        skip_group(g, h.size(), opts, &mut out);
                        tally.add(0);
                        return out;
                    }
                    Ok(Some(_)) => {}
                    Ok(None) => {
                        missing(
                            g,
                            format!("blob {} is missing from the object database (partial clone, or a damaged repository); it was not fetched", g.id),
                            &mut out,
                        );
                        return out;
                    }
                    Err(e) => {
                        missing(g, format!("blob {} cannot be read: {}", g.id, one_line(&e)), &mut out);
                        return out;
                    }
                }
                match repo.try_find_object(g.id) {
                    Ok(Some(obj)) if obj.kind == Kind::Blob => {
                        tally.add(obj.data.len() as u64);
                        scan_group(engine, configs, opts, gi, g, &obj.data, paths, &mut out);
                    }
                    Ok(Some(obj)) => {
                        missing(g, format!("object {} is a {}, not a blob", g.id, obj.kind), &mut out)
                    }
                    Ok(None) => missing(
                        g,
                        format!("blob {} is missing from the object database (partial clone, or a damaged repository); it was not fetched", g.id),
                        &mut out,
                    ),
                    Err(e) => missing(g, format!("blob {} cannot be read: {}", g.id, one_line(&e)), &mut out),
                }
                out
            },
        )
        .reduce(Outcome::default, Outcome::merge)
}

/// Blob bytes the prefetch holds while the caller still uses every core (see [`Prefetch`]).
const PREFETCH_EARLY_BYTES: u64 = 32 << 20;
/// Blob bytes the prefetch holds once the caller works on one thread (see [`Prefetch::widen`]),
/// until the wanted set is known; then the stream waits.
const PREFETCH_BYTES: u64 = 192 << 20;

/// Streams the blobs out of the packs while the caller is still working out which blobs it
/// wants under which names, holding what it inflates until [`Prefetch::finish`] hands over the
/// wanted set and the configs; then the wanted blobs are scanned on every core, and those the
/// packs did not hold are looked up by id. (Range scans use it with the wanted set known from
/// the start: see [`scan_wanted`].)
///
/// The stream fills the cores the caller leaves idle, without slowing the caller down: history
/// first reads commits and trees on every core, then walks the trees on one thread. So the
/// stream starts with one thread and [`PREFETCH_EARLY_BYTES`] (enough to use a core while the
/// pack's delta forest is being built), runs on the cores left over from one thread and holds
/// up to [`PREFETCH_BYTES`] after [`Prefetch::widen`], and uses every core from
/// [`Prefetch::finish`] on. On a history bound by object count, this schedule is worth a
/// tenth of the wall time.
///
/// The thread count is chosen each time the stream starts a slice of a pack (see
/// [`Odb::stream_with`]), not by holding threads back while a traversal runs: a traversal
/// thread held back inside a delta chain leaves the others spinning until it resumes.
pub(crate) struct Prefetch {
    ready: OnceLock<Ready>,
    held: Mutex<Held>,
    arrived: Condvar,
    /// Threads for the next slice; [`ALL_THREADS`] once the caller no longer works.
    threads: AtomicUsize,
    budget: Budget,
    tx: Mutex<Option<mpsc::Sender<Job>>>,
    rx: Mutex<mpsc::Receiver<Job>>,
}

struct Ready {
    wanted: Wanted,
    claimed: Vec<AtomicBool>,
}

#[derive(Default)]
struct Held {
    /// Set by `finish` (or when the caller gave up): the stream no longer holds blobs.
    open: bool,
    /// How many bytes the stream may hold now.
    cap: u64,
    bytes: u64,
    blobs: Vec<(ObjectId, Vec<u8>)>,
}

/// What the stream's workers return.
pub(crate) type Streamed<'p> = (Vec<(Outcome, Tally<'p>, mpsc::Sender<Job>, Batch)>, Vec<String>);

/// [`Prefetch::threads`] once the stream may use as many threads as the options allow.
const ALL_THREADS: usize = usize::MAX;

/// Blobs for the scanners, each with its group in the wanted set: sent in batches, so that
/// small blobs do not cost a wake-up each.
type Job = Vec<(u32, Vec<u8>)>;

/// A batch being filled by one thread.
#[derive(Default)]
pub(crate) struct Batch {
    jobs: Job,
    bytes: u64,
}

/// A batch is sent when it holds this many blobs or bytes.
const BATCH_BLOBS: usize = 64;
const BATCH_BYTES: u64 = 1 << 20;

impl Prefetch {
    pub fn new() -> Prefetch {
        let (tx, rx) = mpsc::channel();
        Prefetch {
            ready: OnceLock::new(),
            held: Mutex::new(Held { cap: PREFETCH_EARLY_BYTES, ..Held::default() }),
            arrived: Condvar::new(),
            threads: AtomicUsize::new(1),
            budget: Budget { used: Mutex::new(0), freed: Condvar::new() },
            tx: Mutex::new(Some(tx)),
            rx: Mutex::new(rx),
        }
    }

    /// The wanted set given to [`Prefetch::finish`].
    pub fn wanted(&self) -> &Wanted {
        &self.ready.get().expect("finish() was called").wanted
    }

    /// [`Prefetch::wanted`], taken back.
    pub fn into_wanted(self) -> Wanted {
        self.ready.into_inner().expect("finish() was called").wanted
    }

    /// Streams every blob of the packs (run it on its own thread).
    pub fn stream<'p>(
        &self,
        odb: &Odb,
        opts: &GitOptions,
        progress: Option<&'p dyn Progress>,
    ) -> Streamed<'p> {
        let tx = self.tx.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let Some(tx) = tx else { return (Vec::new(), Vec::new()) };
        let threads = || match self.threads.load(Ordering::Relaxed) {
            ALL_THREADS => opts.threads,
            n => n,
        };
        odb.stream_with(
            &[Kind::Blob],
            &threads,
            || (Outcome::default(), tally(progress), tx.clone(), Batch::default()),
            |(out, tally, tx, batch), _loc, id, _kind, data| {
                tally.add(data.len() as u64);
                let ready = match self.ready.get() {
                    Some(r) => r,
                    None => {
                        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
                        loop {
                            if held.open {
                                break;
                            }
                            let n = data.len() as u64;
                            if held.blobs.is_empty() || held.bytes + n <= held.cap {
                                held.bytes += n;
                                held.blobs.push((id.to_owned(), data.to_vec()));
                                return;
                            }
                            held = self.arrived.wait(held).unwrap_or_else(|p| p.into_inner());
                        }
                        drop(held);
                        // Open without a wanted set: the caller gave up.
                        let Some(r) = self.ready.get() else { return };
                        r
                    }
                };
                self.deliver(ready, id, std::borrow::Cow::Borrowed(data), opts, out, batch, tx);
            },
        )
    }

    /// Tells the stream that the caller now works on one thread: it may run on the other cores
    /// and hold up to [`PREFETCH_BYTES`].
    pub fn widen(&self) {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        // Unless finish() (or abandon()) came first.
        let wide = cores.saturating_sub(1).max(1);
        let _ = self.threads.compare_exchange(1, wide, Ordering::Relaxed, Ordering::Relaxed);
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.cap = held.cap.max(PREFETCH_BYTES);
        self.arrived.notify_all();
    }

    /// Sends a wanted, unclaimed blob to the scanners (through this thread's batch).
    #[allow(clippy::too_many_arguments)]
    fn deliver(
        &self,
        ready: &Ready,
        id: &gix::oid,
        data: std::borrow::Cow<'_, [u8]>,
        opts: &GitOptions,
        out: &mut Outcome,
        batch: &mut Batch,
        tx: &mpsc::Sender<Job>,
    ) {
        let Some(&gi) = ready.wanted.index.get(id) else { return };
        if ready.claimed[gi as usize].swap(true, Ordering::Relaxed) {
            return;
        }
        let g = &ready.wanted.groups[gi as usize];
        if data.len() as u64 > opts.max_file_size {
            skip_group(g, data.len() as u64, opts, out);
            return;
        }
        batch.bytes += data.len() as u64;
        batch.jobs.push((gi, data.into_owned()));
        if batch.jobs.len() >= BATCH_BLOBS || batch.bytes >= BATCH_BYTES {
            self.send(batch, tx);
        }
    }

    /// Sends what the batch holds (within the in-flight budget).
    fn send(&self, batch: &mut Batch, tx: &mpsc::Sender<Job>) {
        if batch.jobs.is_empty() {
            return;
        }
        let bytes = std::mem::take(&mut batch.bytes);
        self.budget.take(bytes);
        if tx.send(std::mem::take(&mut batch.jobs)).is_err() {
            // The receiver lives as long as `self`: cannot happen.
            self.budget.give(bytes);
        }
    }

    /// Tells a waiting stream that no wanted set will come (the caller failed): it drops what
    /// it reads from now on. Idempotent; [`Prefetch::finish`] after it still works.
    pub fn abandon(&self) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.open = true;
        held.blobs = Vec::new();
        self.arrived.notify_all();
        drop(held);
        self.threads.store(ALL_THREADS, Ordering::Relaxed);
    }

    /// Hands over the wanted set and the configs, scans what was held and what the stream still
    /// delivers, joins the stream, and looks up whatever it did not deliver.
    #[allow(clippy::too_many_arguments)]
    pub fn finish<'p>(
        &self,
        engine: &Engine,
        repo: &gix::ThreadSafeRepository,
        wanted: Wanted,
        configs: &Configs,
        opts: &GitOptions,
        progress: Option<&'p dyn Progress>,
        stream: impl FnOnce() -> Streamed<'p>,
    ) -> Outcome {
        let claimed = (0..wanted.len()).map(|_| AtomicBool::new(false)).collect();
        if self.ready.set(Ready { wanted, claimed }).is_err() {
            unreachable!("finish() is called once");
        }
        let ready = self.ready.get().expect("just set");
        let held = {
            let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
            held.open = true;
            self.arrived.notify_all();
            std::mem::take(&mut held.blobs)
        };
        self.threads.store(ALL_THREADS, Ordering::Relaxed);
        let scanners = scanner_count(opts);
        let mut outcome = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..scanners)
                .map(|_| {
                    scope.spawn(|| {
                        let (mut out, mut paths) = (Outcome::default(), PathMemo::default());
                        loop {
                            let next = self.rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                            let Ok(jobs) = next else { break };
                            let mut bytes = 0;
                            for (gi, data) in jobs {
                                let g = &ready.wanted.groups[gi as usize];
                                scan_group(engine, configs, opts, gi, g, &data, &mut paths, &mut out);
                                bytes += data.len() as u64;
                            }
                            self.budget.give(bytes);
                        }
                        out
                    })
                })
                .collect();
            let mut outcome = Outcome::default();
            let tx = self.tx.lock().unwrap_or_else(|p| p.into_inner()).clone();
            if let Some(tx) = tx {
                let mut batch = Batch::default();
                for (id, data) in held {
                    let data = std::borrow::Cow::Owned(data);
                    self.deliver(ready, &id, data, opts, &mut outcome, &mut batch, &tx);
                }
                self.send(&mut batch, &tx);
            }
            // The stream may start only now (it takes its sender then): the last sender is
            // dropped after it, and the scanners stop once they have drained the channel.
            let (states, failures) = stream();
            for (o, _, tx, mut batch) in states {
                self.send(&mut batch, &tx);
                outcome = outcome.merge(o);
            }
            drop(self.tx.lock().unwrap_or_else(|p| p.into_inner()).take());
            join_scanners(workers, failures, outcome)
        });
        let rest = look_up_rest(engine, repo, &ready.wanted, configs, opts, progress, &ready.claimed);
        outcome = outcome.merge(rest);
        outcome
    }
}
