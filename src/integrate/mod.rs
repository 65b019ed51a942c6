//! Glue between the command line and the library, one job a module: what a scan covers
//! (`mode`: its paths, git mode and repository root), its configuration (`settings`), SARIF
//! (`sarif`), baselines (`baseline`) and the pre-commit hook (`pre_commit`). Kept out of
//! `main.rs` so each piece is one call there.

mod baseline;
mod mode;
mod pre_commit;
mod sarif;
mod settings;

pub use baseline::{apply_baseline, write_baseline};
pub use mode::{repository_root, scan_paths, GitMode, ScanMode};
pub use pre_commit::pre_commit;
pub use sarif::{sarif, write_extra_sarif};
pub use settings::settings;

#[cfg(test)]
mod tests {
    /// `incident --max-file-size` spells its default for `--help`; it must be the library's.
    #[test]
    fn incident_default_max_file_size() {
        use clap::CommandFactory;
        let cli = crate::cli::Cli::command();
        let incident = cli.find_subcommand("incident").expect("incident subcommand");
        let arg = incident.get_arguments().find(|a| a.get_id() == "max_file_size").expect("--max-file-size");
        let default: Vec<_> =
            arg.get_default_values().iter().map(|v| v.to_string_lossy().into_owned()).collect();
        assert_eq!(default.len(), 1);
        assert_eq!(crate::cli::parse_size(&default[0]), Ok(sopsguard::config::DEFAULT_MAX_FILE_SIZE));
    }
}
