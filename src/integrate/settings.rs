//! The configuration of a scan.

use std::path::{Path, PathBuf};

use sopsguard::config::Settings;

use super::scan_paths;
use crate::cli::ScanArgs;

/// The configuration for this scan: `--config`, else the nearest `.sopsguard.toml` from the scan
/// root (the first path), unless `--isolated`.
pub fn settings(args: &ScanArgs) -> miette::Result<Settings> {
    let paths = scan_paths(args);
    let start = paths.first().map_or(Path::new("."), PathBuf::as_path);
    Ok(Settings::load(args.config.as_deref(), args.isolated, start)?)
}
