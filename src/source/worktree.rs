//! The working tree: a gitignore-aware parallel walk (the `ignore` crate), then every file read
//! and scanned in parallel with rayon.
//!
//! `.gitignore`, `.ignore` and `.git/info/exclude` are honoured (also outside a git repository),
//! hidden files are scanned (`.env` is where secrets hide), `.git` is skipped, symbolic links are
//! listed as skipped and never followed, and files above the size cap are listed as skipped
//! without being read. Discovery order does not matter: the report is sorted afterwards.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rayon::prelude::*;

use super::{one_line, Problem, Skipped};
use crate::scan::{Engine, FileResult, ScanReport};
use crate::sops::{is_sops_config, ConfigFile, ConfigSet};

/// Options of a working-tree scan.
#[derive(Clone, Debug, Default)]
pub struct WalkOptions {
    /// Worker threads (0 = one per core).
    pub threads: usize,
    /// Files larger than this are skipped (listed).
    pub max_file_size: u64,
    /// Glob patterns (gitignore syntax, relative to each root) excluded by configuration.
    pub excludes: Vec<String>,
    /// `--sops-config`: one `.sops.yaml` that governs every file.
    pub sops_config_override: Option<ConfigFile>,
}

/// A fatal problem: a path given on the command line does not exist.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum WalkError {
    /// The path does not exist or cannot be read.
    #[error("cannot scan `{path}`: {message}")]
    #[diagnostic(code(sopsguard::path))]
    Path {
        /// The path as given.
        path: String,
        /// Why.
        message: String,
    },
    /// An exclude pattern is invalid.
    #[error("invalid exclude pattern `{pattern}`: {message}")]
    #[diagnostic(code(sopsguard::exclude))]
    Exclude {
        /// The pattern.
        pattern: String,
        /// Why.
        message: String,
    },
}

enum Entry {
    /// `size` is known for paths given on the command line (stat'ed anyway); walked files are
    /// measured when they are opened.
    File {
        display: String,
        fs: PathBuf,
        size: Option<u64>,
    },
    Symlink {
        display: String,
    },
    /// A FIFO, socket or device: never opened (a FIFO blocks for ever).
    Special {
        display: String,
        kind: &'static str,
    },
}

fn display_path(p: &Path) -> String {
    if p.is_absolute() {
        p.to_string_lossy().replace('\\', "/")
    } else {
        let s = super::normalize_rel(p);
        if s.is_empty() {
            ".".to_owned()
        } else {
            s
        }
    }
}

/// Scans files and directories.
pub fn scan_paths(engine: &Engine, roots: &[PathBuf], opts: &WalkOptions) -> Result<ScanReport, WalkError> {
    let entries = Mutex::new(Vec::new());
    let problems = Mutex::new(Vec::new());
    for root in roots {
        let meta = std::fs::symlink_metadata(root).map_err(|e| WalkError::Path {
            path: root.display().to_string(),
            message: e.kind().to_string(),
        })?;
        if !meta.is_dir() {
            let display = display_path(root);
            let e = if meta.file_type().is_symlink() {
                Entry::Symlink { display }
            } else if let Some(kind) = crate::fsread::special_kind(meta.file_type()) {
                Entry::Special { display, kind }
            } else {
                Entry::File { display, fs: root.clone(), size: Some(meta.len()) }
            };
            entries.lock().unwrap_or_else(|p| p.into_inner()).push(e);
            continue;
        }
        let mut overrides = ignore::overrides::OverrideBuilder::new(root);
        for pat in &opts.excludes {
            overrides
                .add(&format!("!{pat}"))
                .map_err(|e| WalkError::Exclude { pattern: pat.clone(), message: e.to_string() })?;
        }
        let overrides = overrides
            .build()
            .map_err(|e| WalkError::Exclude { pattern: opts.excludes.join(", "), message: e.to_string() })?;
        let walker = ignore::WalkBuilder::new(root)
            .hidden(false)
            .parents(true)
            .git_ignore(true)
            .git_exclude(true)
            .git_global(false)
            .ignore(true)
            .require_git(false)
            .follow_links(false)
            .overrides(overrides.clone())
            .threads(opts.threads)
            .filter_entry(|e| e.file_name() != ".git")
            .build_parallel();
        walker.run(|| {
            let entries = &entries;
            let problems = &problems;
            Box::new(move |res| {
                match res {
                    Ok(entry) => {
                        let Some(ft) = entry.file_type() else {
                            return ignore::WalkState::Continue;
                        };
                        let display = display_path(entry.path());
                        if ft.is_symlink() {
                            entries
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .push(Entry::Symlink { display });
                        } else if let Some(kind) = crate::fsread::special_kind(ft) {
                            entries
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .push(Entry::Special { display, kind });
                        } else if ft.is_file() {
                            // No stat here: the size comes from the open file (fstat) when it is
                            // read, which saves a path lookup per file.
                            entries.lock().unwrap_or_else(|p| p.into_inner()).push(Entry::File {
                                display,
                                fs: entry.into_path(),
                                size: None,
                            });
                        }
                    }
                    Err(err) => {
                        let path = match &err {
                            ignore::Error::WithPath { path, .. } => display_path(path),
                            _ => display_path(root),
                        };
                        problems
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(Problem { path, message: format!("cannot walk: {}", one_line(&err)) });
                    }
                }
                ignore::WalkState::Continue
            })
        });
        // A tracked file is committed whatever `.gitignore` says: in a git work tree, tracked
        // files under this root that the walk left out (an ignored `archive/`) are scanned too.
        // Excludes from the configuration still apply.
        let mut entries_now = entries.lock().unwrap_or_else(|p| p.into_inner());
        add_tracked(root, &overrides, &mut entries_now);
    }
    let mut entries = entries.into_inner().unwrap_or_else(|p| p.into_inner());
    entries.sort_by(|a, b| entry_path(a).cmp(entry_path(b)));
    entries.dedup_by(|a, b| entry_path(a) == entry_path(b));

    let mut report = ScanReport {
        problems: problems.into_inner().unwrap_or_else(|p| p.into_inner()),
        ..ScanReport::default()
    };
    let mut files = Vec::new();
    let mut config_files = Vec::new();
    let mut unread_configs = Vec::new();
    for e in entries {
        match e {
            Entry::Symlink { display } => {
                if is_sops_config(&display) {
                    unread_configs
                        .push((display.clone(), "it is a symbolic link, which is not followed".to_owned()));
                }
                report.skipped.push(Skipped {
                    path: display,
                    reason: "symbolic link (not followed)".into(),
                    size: None,
                })
            }
            Entry::Special { display, kind } => {
                if is_sops_config(&display) {
                    unread_configs.push((display.clone(), format!("it is {kind}")));
                }
                report.skipped.push(Skipped {
                    path: display,
                    reason: format!("not a regular file ({kind})"),
                    size: None,
                })
            }
            Entry::File { display, fs, size } => {
                // A config is read up to its own, larger limit: skipping it would leave the files
                // it governs unchecked.
                if is_sops_config(&display) {
                    let mut data = Vec::new();
                    match read_capped(&fs, crate::sops::MAX_CONFIG_SIZE, &mut data) {
                        Ok(Read::Data) => config_files.push(ConfigFile { path: display.clone(), data }),
                        Ok(Read::TooLarge(_)) => unread_configs.push((
                            display.clone(),
                            format!("it is larger than {} MiB", crate::sops::MAX_CONFIG_SIZE >> 20),
                        )),
                        Err(e) => unread_configs.push((display.clone(), e.to_string())),
                    }
                }
                if let Some(size) = size.filter(|&s| s > opts.max_file_size) {
                    report.skipped.push(Skipped {
                        path: display,
                        reason: format!("larger than --max-file-size ({} bytes)", opts.max_file_size),
                        size: Some(size),
                    });
                    continue;
                }
                files.push((display, fs));
            }
        }
    }
    let mut parents: Vec<(String, PathBuf)> = roots.iter().flat_map(|r| parent_configs(r)).collect();
    parents.sort();
    parents.dedup();
    for (display, fs) in parents {
        if config_files.iter().any(|c| c.path == display) || unread_configs.iter().any(|(p, _)| *p == display)
        {
            continue;
        }
        match std::fs::symlink_metadata(&fs) {
            Ok(m) if m.file_type().is_symlink() => {
                unread_configs.push((display, "it is a symbolic link, which is not followed".to_owned()))
            }
            Ok(m) if !m.is_file() => unread_configs.push((display, "it is not a regular file".to_owned())),
            _ => {
                let mut data = Vec::new();
                match read_capped(&fs, crate::sops::MAX_CONFIG_SIZE, &mut data) {
                    Ok(Read::Data) => config_files.push(ConfigFile { path: display, data }),
                    Ok(Read::TooLarge(_)) => unread_configs.push((
                        display,
                        format!("it is larger than {} MiB", crate::sops::MAX_CONFIG_SIZE >> 20),
                    )),
                    Err(e) => unread_configs.push((display, e.to_string())),
                }
            }
        }
    }
    let mut configs = ConfigSet::new(config_files, opts.sops_config_override.clone());
    for (path, why) in unread_configs {
        report
            .problems
            .push(Problem { path: path.clone(), message: format!("cannot read this .sops.yaml: {why}") });
        configs.add_unreadable(&path, why);
    }
    let max = opts.max_file_size;
    // Each worker reads into one buffer that it keeps: no allocation, no fresh pages, per file.
    let scan_one = |buf: &mut Vec<u8>,
                    (display, fs): &(String, PathBuf)|
     -> (u64, Option<FileResult>, Option<Skipped>, Option<Problem>) {
        match read_capped(fs, max, buf) {
            Ok(Read::Data) => {
                let r = engine.scan_blob(display, buf, &configs);
                (buf.len() as u64, Some(r), None, None)
            }
            Ok(Read::TooLarge(size)) => (
                0,
                None,
                Some(Skipped {
                    path: display.clone(),
                    reason: format!("larger than --max-file-size ({max} bytes)"),
                    size,
                }),
                None,
            ),
            Err(e) => {
                (0, None, None, Some(Problem { path: display.clone(), message: format!("cannot read: {e}") }))
            }
        }
    };
    let results: Vec<_> = files.par_iter().map_init(Vec::new, scan_one).collect();
    for (bytes, result, skipped, problem) in results {
        if let Some(r) = result {
            report.add(bytes, r);
        }
        report.skipped.extend(skipped);
        report.problems.extend(problem);
    }
    Ok(report)
}

fn add_tracked(root: &Path, overrides: &ignore::overrides::Override, entries: &mut Vec<Entry>) {
    let Some((workdir, tracked)) = crate::source::git::tracked_files(root) else { return };
    let (Ok(root_abs), Ok(workdir_abs)) = (root.canonicalize(), workdir.canonicalize()) else { return };
    let Ok(rel_root) = root_abs.strip_prefix(&workdir_abs) else { return };
    let prefix = super::normalize_rel(rel_root);
    let seen: std::collections::HashSet<String> = entries.iter().map(|e| entry_path(e).to_owned()).collect();
    for path in tracked {
        let rest = if prefix.is_empty() {
            path.as_str()
        } else {
            match path.strip_prefix(prefix.as_str()).and_then(|r| r.strip_prefix('/')) {
                Some(r) => r,
                None => continue,
            }
        };
        if rest.split('/').any(|seg| seg == ".git" || seg.is_empty() || seg == "..") {
            continue;
        }
        if overrides.matched(rest, false).is_ignore() {
            continue;
        }
        let fs = root.join(rest);
        let display = display_path(&fs);
        if seen.contains(&display) {
            continue;
        }
        let Ok(meta) = std::fs::symlink_metadata(&fs) else { continue };
        if meta.file_type().is_symlink() {
            entries.push(Entry::Symlink { display });
        } else if let Some(kind) = crate::fsread::special_kind(meta.file_type()) {
            entries.push(Entry::Special { display, kind });
        } else if meta.is_file() {
            entries.push(Entry::File { display, fs, size: Some(meta.len()) });
        }
    }
}

/// The `.sops.yaml` files in the directories above a relative scan root, up to the current
/// directory or the top of the git work tree, whichever comes first: `sopsguard scan secrets/` or
/// `scan FILE` is governed by the same configs as the full scan. (Absolute roots and roots above
/// the current directory are governed by the configs under them only.)
fn parent_configs(root: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    if root.is_absolute() || root.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
        return out;
    }
    let mut dir = root.parent().map(Path::to_path_buf);
    while let Some(d) = dir {
        let rel = display_path(&d);
        let here = if rel == "." || rel.is_empty() { PathBuf::from(".") } else { PathBuf::from(&rel) };
        let cfg = here.join(".sops.yaml");
        if std::fs::symlink_metadata(&cfg).is_ok() {
            out.push((display_path(&cfg), cfg));
        }
        if here == Path::new(".") || here.join(".git").exists() {
            break;
        }
        dir = here.parent().map(Path::to_path_buf);
    }
    out
}

fn entry_path(e: &Entry) -> &str {
    match e {
        Entry::File { display, .. } | Entry::Symlink { display } | Entry::Special { display, .. } => display,
    }
}

/// What [`read_capped`] found.
enum Read {
    /// The whole file is in the buffer.
    Data,
    /// Larger than the cap (with its size when known); nothing is kept.
    TooLarge(Option<u64>),
}

/// Reads a file into `buf` (cleared first), never past the cap: a file larger than the cap is
/// dropped after `max + 1` bytes. No stat before the read (the buffer is reused and usually big
/// enough already); only an oversized file is measured, for the report.
fn read_capped(path: &Path, max: u64, buf: &mut Vec<u8>) -> std::io::Result<Read> {
    use std::io::Read as _;
    buf.clear();
    let f = crate::fsread::open_regular(path).map_err(|e| match e {
        crate::fsread::ReadError::Io(m) => std::io::Error::other(m),
        other => std::io::Error::other(other.to_string()),
    })?;
    buf.reserve(64 * 1024);
    (&f).take(max.saturating_add(1)).read_to_end(buf)?;
    if buf.len() as u64 > max {
        buf.clear();
        return Ok(Read::TooLarge(f.metadata().map(|m| m.len()).ok()));
    }
    Ok(Read::Data)
}
