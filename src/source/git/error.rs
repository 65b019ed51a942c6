//! Fatal errors of the git sources. Anything that concerns one object or one file is not an error
//! but a [`crate::source::Problem`] in the report, and the scan goes on.

use std::path::PathBuf;

/// Why a git scan could not run at all (the binary exits 2).
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum GitError {
    /// No repository at or above the starting directory.
    #[error("`{}` is not inside a git repository", path.display())]
    #[diagnostic(
        code(sopsguard::git::not_a_repository),
        help("--staged, --range, --since and --history read a git repository; run sopsguard inside one, or scan files by path without these flags")
    )]
    NotARepository {
        /// Where the search started.
        path: PathBuf,
    },
    /// A repository was found but could not be opened.
    #[error("cannot open the git repository at `{}`: {message}", path.display())]
    #[diagnostic(code(sopsguard::git::open))]
    Open {
        /// Where the search started.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// `--staged` in a repository without a work tree.
    #[error("`{}` is a bare repository: it has no index to scan", path.display())]
    #[diagnostic(
        code(sopsguard::git::bare),
        help("--staged needs a work tree; use --history or --range in a bare repository")
    )]
    Bare {
        /// The git directory.
        path: PathBuf,
    },
    /// The index file exists but cannot be read.
    #[error("cannot read the index of `{}`: {message}", path.display())]
    #[diagnostic(code(sopsguard::git::index))]
    Index {
        /// The work tree.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// A revision or range did not resolve.
    #[error("cannot resolve `{spec}`: {message}")]
    #[diagnostic(
        code(sopsguard::git::revision),
        help("give a range as BASE..HEAD (or BASE...HEAD), or one revision for REV..HEAD; in a shallow clone the base may be missing (fetch more history, e.g. `git fetch --deepen`)")
    )]
    Revision {
        /// The spec as given.
        spec: String,
        /// Why.
        message: String,
    },
    /// The references or the object database cannot be listed at all.
    #[error("cannot read the repository: {message}")]
    #[diagnostic(code(sopsguard::git::repository))]
    Repository {
        /// Why.
        message: String,
    },
}
