//! Git sources: the staged index, commit ranges and the whole history, read straight from the
//! object database with gix.
//!
//! Every mode works in two steps. First it decides which blobs to scan and under which names
//! (path and governing `.sops.yaml` set of the same index or commit), without reading a single
//! blob. Then it reads each selected blob once and hands it to [`Engine::scan_blob`] once per
//! distinct name. Findings get a [`crate::finding::Provenance`] saying where in git they were seen.
//!
//! - [`scan_staged`]: the blobs of the index that differ from `HEAD` (every blob before the first
//!   commit), as whole files, never the working-tree copies. The configs are the staged
//!   `.sops.yaml` files; when one of them is staged, every file it governs is scanned again.
//! - [`scan_range`]: every blob that a commit of the range adds or changes, merges included (a
//!   path of a merge is scanned when its blob differs from the one in *every* parent, so content
//!   that exists only in a conflict resolution is seen, and nothing is scanned twice).
//! - [`scan_history`]: every blob reachable from any ref, each read once by streaming the packs,
//!   and scanned once per distinct path and governing `.sops.yaml` (the nearest one, as the
//!   engine uses no other). Each finding names the commit that introduced the blob at that path
//!   (earliest in topological order under a config that produces the finding), how many commits
//!   hold it, the refs that still reach one of them (at most 16 named: HEAD, branches, remote
//!   branches, tags, then others such as pull-request refs; then `… and N more`), and whether
//!   `HEAD` holds it. With `all_objects`, blobs no tree names are scanned under their id as path,
//!   with provenance source `object`. See `history/mod.rs` for how this stays at pack speed.
//!
//! Problems with single objects (missing in a partial clone, corrupt) are listed in
//! [`ScanReport::problems`] and the scan goes on. Nothing here prints; progress goes through
//! [`Progress`].

mod blobs;
mod configs;
mod error;
mod history;
pub mod occurrences;
mod odb;
mod range;
mod staged;
mod util;

#[cfg(test)]
mod tests;

use std::path::Path;

pub use error::GitError;

use crate::scan::{Engine, ScanReport};
use crate::sops::ConfigFile;

/// Options shared by the git modes.
#[derive(Clone, Debug)]
pub struct GitOptions {
    /// Blobs larger than this are listed as skipped, not scanned.
    pub max_file_size: u64,
    /// `--history` only: also scan objects no ref reaches (dangling commits, trees and blobs).
    pub all_objects: bool,
    /// `--sops-config`: one `.sops.yaml` that governs every file, instead of the repository's own.
    pub sops_config_override: Option<ConfigFile>,
    /// Worker threads; 0 means one per core. The report is the same whatever the number.
    pub threads: usize,
    /// Whether a history scan frees its tables (commits, trees, names; hundreds of MB on a large
    /// history) before it returns; see [`GitOptions::exiting_after_scan`].
    pub(crate) free_tables: bool,
}

impl GitOptions {
    /// For a process that exits right after the scan, like the CLI: a history scan then leaves
    /// its tables (commits, trees, names; hundreds of MB on a large history) to the operating
    /// system instead of freeing them piece by piece, which costs tens of milliseconds of CPU at
    /// the end of the scan. The report is the same. Without it, a scan frees all it allocated.
    pub fn exiting_after_scan(mut self) -> Self {
        self.free_tables = false;
        self
    }
}

impl Default for GitOptions {
    fn default() -> Self {
        GitOptions {
            max_file_size: crate::config::DEFAULT_MAX_FILE_SIZE,
            all_objects: false,
            sops_config_override: None,
            threads: 0,
            free_tables: true,
        }
    }
}

/// Progress of a range or history scan, for a progress bar. Called from worker threads.
///
/// Objects are git objects read from the database (commits and trees while the history is
/// walked, then blobs); `set_total` may be called again when a later phase turns out to need
/// more work than first announced.
pub trait Progress: Sync {
    /// The number of objects the scan expects to read.
    fn set_total(&self, objects: u64);
    /// `objects` more objects, `bytes` more bytes read.
    fn inc(&self, objects: u64, bytes: u64);
}

/// Scans the blobs staged in the index of the repository containing `start`.
pub fn scan_staged(engine: &Engine, start: &Path, opts: &GitOptions) -> Result<ScanReport, GitError> {
    with_threads(opts.threads, || staged::scan(engine, start, opts))
}

/// Scans every blob added or changed by the commits of `range`: `BASE..HEAD`, `A...B` (commits
/// on either side but not both), or a single revision `REV`, meaning `REV..HEAD` (`--since`).
pub fn scan_range(
    engine: &Engine,
    start: &Path,
    range: &str,
    opts: &GitOptions,
    progress: Option<&dyn Progress>,
) -> Result<ScanReport, GitError> {
    with_threads(opts.threads, || range::scan(engine, start, range, opts, progress))
}

/// Scans every blob reachable from any ref (with `all_objects`, every blob in the database).
pub fn scan_history(
    engine: &Engine,
    start: &Path,
    opts: &GitOptions,
    progress: Option<&dyn Progress>,
) -> Result<ScanReport, GitError> {
    with_threads(opts.threads, || history::scan(engine, start, opts, progress))
}

/// Runs `f` in a rayon pool of the requested size (the global pool when 0).
fn with_threads<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    if threads == 0 {
        return f();
    }
    match rayon::ThreadPoolBuilder::new().num_threads(threads).build() {
        Ok(pool) => pool.install(f),
        Err(_) => f(),
    }
}

/// The files git tracks in the repository that contains `start`: the work tree's root and the
/// tracked paths (regular files and symbolic links, stage 0; no submodules, no sparse entries),
/// `/`-separated and relative to that root. `None` outside a work tree, or when the index cannot
/// be read (the working-tree scan then falls back to its walk alone).
pub fn tracked_files(start: &Path) -> Option<(std::path::PathBuf, Vec<String>)> {
    let safe = util::open(start).ok()?;
    let repo = safe.to_thread_local();
    let workdir = repo.workdir()?.to_owned();
    let index = gix::index::File::at_or_default(
        repo.index_path(),
        repo.object_hash(),
        true,
        gix::index::decode::Options::default(),
    )
    .ok()?;
    let mut out = Vec::with_capacity(index.entries().len());
    for e in index.entries() {
        if e.stage_raw() != 0 || e.mode.is_submodule() || e.mode.is_sparse() {
            continue;
        }
        out.push(String::from_utf8_lossy(e.path(&index).as_ref()).into_owned());
    }
    Some((workdir, out))
}
