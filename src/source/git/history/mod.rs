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
//!
//! One file a concern: `loader.rs` (step 1 and the lookups of what the stream missed),
//! `trees.rs` (a tree's entries as an edit of its delta base; the delta forest), `graph.rs` and
//! `contexts.rs` (step 2: refs and commits; signatures, contexts, governing configs),
//! `naming.rs` (step 3), `super::blobs` (step 4, shared with `--range`), `provenance.rs`
//! (step 5), and `ids.rs` (the dense name and blob ids they share). [`scan`] is the pipeline.

mod contexts;
mod graph;
mod ids;
mod loader;
mod naming;
mod provenance;
mod trees;

use std::collections::HashSet;
use std::path::Path;

use gix::ObjectId;

use super::blobs::Prefetch;
use super::util;
use super::{GitError, GitOptions, Progress};
use crate::scan::{Engine, ScanReport};

use graph::{classify_tips, list_refs, Graph};
use loader::{load, open_odb, Loader};
use provenance::Walked;
use trees::Forest;

/// No such tree, commit or signature (yet).
const UNSET: u32 = u32::MAX;

/// Reads a blob (a `.sops.yaml`) by id: its bytes, or why not, in one line.
type ReadBlob<'a> = &'a dyn Fn(ObjectId) -> Result<Vec<u8>, String>;

/// Scans every blob reachable from any ref (with `all_objects`, every blob): the five steps of
/// the module documentation, in order.
pub(crate) fn scan(
    engine: &Engine,
    start: &Path,
    opts: &GitOptions,
    progress: Option<&dyn Progress>,
) -> Result<ScanReport, GitError> {
    let safe = util::open(start)?;
    let repo = safe.to_thread_local();
    let mut report = ScanReport::default();
    let odb = open_odb(&safe, opts, &mut report);
    let refs = list_refs(&repo, &mut report)?;
    let head = repo.head_id().ok().map(|id| id.detach());
    let shallow: HashSet<ObjectId> =
        repo.shallow_commits().ok().flatten().map(|c| c.iter().copied().collect()).unwrap_or_default();

    // Blobs are streamed from the start, on other threads: while commits and trees are read (the
    // stream fills the gaps of that traversal) and while the trees are walked for names.
    let prefetch = Prefetch::new();
    let result = std::thread::scope(|scope| {
        let stream = scope.spawn(|| prefetch.stream(&odb, opts, progress));
        let _abandon = Abandon(&prefetch);
        // Step 1: commits and trees.
        let mut loaded = load(&odb, repo.object_hash(), opts, progress, &prefetch, &mut report);

        // Step 2: ref tips, the commit graph, the configs and directory contexts of every tree.
        let mut loader = Loader::new(&repo);
        let tips = classify_tips(&repo, &refs, &mut loaded, &mut loader, &mut report);
        let mut tables = loaded.tables;
        let mut graph = Graph::walk(
            loaded.commits,
            loaded.commit_index,
            &tips,
            &shallow,
            opts.all_objects,
            &mut loader,
            &mut tables,
            &mut report,
        );
        loader.complete_trees(&graph, &tips, opts.all_objects, &mut tables);
        let read = |id: ObjectId| util::read_object(&repo, id);
        let mut cx = contexts::build(&mut graph, &tips, &tables, opts, &read, &mut report.problems);

        // Step 3: blob names, from the delta forest.
        let forest = Forest::new(&tables.recs);
        let wanted =
            naming::name_blobs(&forest, &tables, &mut cx, &tips, &odb, opts.all_objects, &read, &mut report);
        loader.report(loaded.malformed, &mut report);

        // Step 4: blobs.
        let outcome =
            prefetch.finish(engine, &safe, wanted, &cx.configs, opts, progress, || match stream.join() {
                Ok(s) => s,
                Err(panic) => std::panic::resume_unwind(panic),
            });
        report.skipped.extend(outcome.skipped);
        report.problems.extend(outcome.problems);

        // Step 5: provenance.
        let walked = Walked { graph: &graph, tables: &tables, forest: &forest, tips: &tips, head };
        provenance::attribute(
            outcome.scanned,
            prefetch.wanted(),
            &walked,
            &mut cx,
            &read,
            &engine.registry,
            &mut report,
        );
        report.sort();
        util::drop_later((graph, forest, cx), opts.free_tables);
        util::drop_later(tables, opts.free_tables);
        Ok(report)
    });
    util::drop_later(odb, opts.free_tables);
    result
}

/// Whatever happens in the scan (an error, a panic), the stream must not wait for a wanted set.
struct Abandon<'a>(&'a Prefetch);

impl Drop for Abandon<'_> {
    fn drop(&mut self) {
        self.0.abandon();
    }
}
