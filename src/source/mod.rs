//! Sources: where the bytes to scan come from.
//!
//! Every source reads whole files as they are (or will be) committed, plus the `.sops.yaml` files
//! that govern them as seen by the same source (the working tree's, the index's, or the commit's
//! own), and hands each file to [`Engine::scan_blob`](crate::scan::Engine::scan_blob). Sources know
//! nothing of rules or report formats.

pub mod git;
pub mod worktree;

/// A file that was not scanned, and why. Listed in every report: nothing is dropped silently.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Skipped {
    /// Path relative to the scan root.
    pub path: String,
    /// Why it was skipped (`larger than --max-file-size (10485760 bytes)`, `submodule`, …).
    pub reason: String,
    /// Size in bytes, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

/// A problem that kept the tool from doing part of its job (exit code 2): unreadable file,
/// corrupt object, … Never contains file content.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Problem {
    /// The file (or object) concerned.
    pub path: String,
    /// What went wrong.
    pub message: String,
}

/// The last `/`-separated component of a path. Called several times for every file, so it uses
/// the SIMD `memrchr` (`str::rsplit` scans byte by byte, which shows in profiles of long paths).
pub fn file_name(path: &str) -> &str {
    match memchr::memrchr(b'/', path.as_bytes()) {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

/// The first line of an error's display, trimmed, for problems and error messages.
pub(crate) fn one_line(err: &dyn std::fmt::Display) -> String {
    let s = err.to_string();
    s.lines().next().unwrap_or("").trim().to_owned()
}

/// Normalises an OS path relative to a root into the `/`-separated form used everywhere.
pub fn normalize_rel(path: &std::path::Path) -> String {
    let mut out = String::new();
    for comp in path.components() {
        use std::path::Component;
        match comp {
            Component::Normal(s) => {
                if !out.is_empty() {
                    out.push('/');
                }
                out.push_str(&s.to_string_lossy());
            }
            Component::ParentDir => {
                if !out.is_empty() {
                    out.push('/');
                }
                out.push_str("..");
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn file_names() {
        assert_eq!(super::file_name("a/b/.sops.yaml"), ".sops.yaml");
        assert_eq!(super::file_name("/abs/x.yaml"), "x.yaml");
        assert_eq!(super::file_name("x.yaml"), "x.yaml");
        assert_eq!(super::file_name("dir/"), "");
        assert_eq!(super::file_name("é/ü"), "ü");
    }
}
