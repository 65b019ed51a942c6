//! Reading the files that steer a scan (`.sopsguard.toml`, rule files, baselines, `.sops.yaml`,
//! identities) safely when the repository is hostile.
//!
//! A scanned repository is attacker-controlled input (sopsguard runs on pull requests). Three
//! things are refused here, before any byte is read:
//! * **a symbolic link that leaves the repository** ([`read_confined`]): a committed
//!   `.sopsguard.toml -> ~/.ssh/id_ed25519` or `-> /proc/self/environ` must not make a diagnostic
//!   print the CI runner's key or environment;
//! * **anything but a regular file**: opening a FIFO blocks for ever, a device never ends. The
//!   file is opened non-blocking and its type checked through the open handle, so no FIFO (not
//!   even one swapped in after the directory walk) can hang the scan;
//! * **more than a size limit**: at most `limit + 1` bytes are read, whatever the file claims.

use std::io::Read;
use std::path::{Path, PathBuf};

/// Why a file was not read. The messages name no content.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// A symbolic link whose target is outside the repository.
    #[error("a symbolic link that points outside the repository (not followed)")]
    LeavesRepository,
    /// Not a regular file.
    #[error("not a regular file ({0})")]
    NotRegular(&'static str),
    /// Larger than the limit.
    #[error("larger than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// The operating system said no.
    #[error("{0}")]
    Io(String),
}

fn kind_of(ft: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() {
            return "a FIFO";
        }
        if ft.is_socket() {
            return "a socket";
        }
        if ft.is_block_device() || ft.is_char_device() {
            return "a device";
        }
    }
    if ft.is_dir() {
        "a directory"
    } else if ft.is_symlink() {
        "a symbolic link"
    } else {
        "a special file"
    }
}

/// Whether `path` is something other than a regular file, a directory or a symbolic link (a
/// FIFO, a socket, a device), without following a link; `Some(kind)` names it.
pub fn special_kind(ft: std::fs::FileType) -> Option<&'static str> {
    if ft.is_file() || ft.is_dir() || ft.is_symlink() {
        None
    } else {
        Some(kind_of(ft))
    }
}

/// Opens a regular file without ever blocking on a FIFO.
/// On Unix the file is opened non-blocking (opening a FIFO then returns at once) and its type is
/// checked through the handle: one `fstat`, no path lookup.
pub fn open_regular(path: &Path) -> Result<std::fs::File, ReadError> {
    #[cfg(not(unix))]
    {
        let meta = std::fs::metadata(path).map_err(|e| ReadError::Io(e.kind().to_string()))?;
        if !meta.is_file() {
            return Err(ReadError::NotRegular(kind_of(meta.file_type())));
        }
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(|e| ReadError::Io(e.kind().to_string()))?;
    let meta = file.metadata().map_err(|e| ReadError::Io(e.kind().to_string()))?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular(kind_of(meta.file_type())));
    }
    Ok(file)
}

/// Reads a regular file of at most `limit` bytes (following symbolic links: for files the user
/// names on the command line).
pub fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let file = open_regular(path)?;
    let mut data = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut data)
        .map_err(|e| ReadError::Io(e.kind().to_string()))?;
    if data.len() as u64 > limit {
        return Err(ReadError::TooLarge { limit });
    }
    Ok(data)
}

/// [`read_regular`] for a file found in the repository rooted at `root`: a symbolic link (at
/// any step of the path) is followed only when where it ends is inside `root`.
pub fn read_confined(path: &Path, root: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    if !is_confined(path, root) {
        return Err(ReadError::LeavesRepository);
    }
    read_regular(path, limit)
}

/// Whether `path` resolves to somewhere inside `root` (both resolved through symbolic links). A
/// path that cannot be resolved (it does not exist) is judged by its parent.
pub fn is_confined(path: &Path, root: &Path) -> bool {
    let Ok(root) = std::fs::canonicalize(root) else { return false };
    let resolved = match std::fs::canonicalize(path) {
        Ok(p) => p,
        Err(_) => match (path.parent(), path.file_name()) {
            (Some(parent), Some(name)) => {
                let parent = if parent.as_os_str().is_empty() { Path::new(".") } else { parent };
                match std::fs::canonicalize(parent) {
                    Ok(p) => p.join(name),
                    Err(_) => return false,
                }
            }
            _ => return false,
        },
    };
    resolved.starts_with(&root)
}

/// The repository that `start` is in: the nearest directory at or above it holding `.git`, or
/// `start`'s own directory outside a repository.
pub fn repository_of(start: &Path) -> PathBuf {
    let abs = std::fs::canonicalize(start).unwrap_or_else(|_| start.to_path_buf());
    let dir =
        if abs.is_dir() { abs.clone() } else { abs.parent().map(Path::to_path_buf).unwrap_or(abs.clone()) };
    dir.ancestors().find(|d| d.join(".git").exists()).map_or(dir.clone(), Path::to_path_buf)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn refuses_links_out_fifos_and_oversized_files() {
        let outside = tempfile::tempdir().unwrap();
        let repo = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("key"), "secret").unwrap();
        std::fs::write(repo.path().join("ok"), "fine").unwrap();
        std::os::unix::fs::symlink(outside.path().join("key"), repo.path().join("out")).unwrap();
        std::os::unix::fs::symlink(repo.path().join("ok"), repo.path().join("in")).unwrap();
        assert_eq!(
            read_confined(&repo.path().join("out"), repo.path(), 100),
            Err(ReadError::LeavesRepository)
        );
        assert_eq!(read_confined(&repo.path().join("in"), repo.path(), 100).unwrap(), b"fine");
        assert_eq!(
            read_confined(&repo.path().join("ok"), repo.path(), 3),
            Err(ReadError::TooLarge { limit: 3 })
        );
        let fifo = repo.path().join("fifo");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        assert_eq!(read_confined(&fifo, repo.path(), 100), Err(ReadError::NotRegular("a FIFO")));
    }
}
