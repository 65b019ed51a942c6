//! Command-line arguments (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Guardrails for GitOps repositories that keep Kubernetes secrets in git with SOPS and age.
#[derive(Debug, Parser)]
#[command(name = "sopsguard", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scan files, the staged index, a commit range or the whole history.
    Scan(ScanArgs),
    /// List every rule.
    Rules {
        /// Output format.
        #[arg(long, value_enum, default_value_t = ListFormat::Human)]
        format: ListFormat,
    },
    /// After a leak: every commit, ref and file it touched, and the rotation plan.
    Incident(IncidentArgs),
    /// Print a rule's documentation.
    Explain {
        /// The rule id, for example `age/identity`.
        rule: String,
    },
    /// Record the fingerprints of the current findings in a baseline file (`--output`, default: the
    /// config's `baseline`, else `.sopsguard-baseline.json`); `scan --baseline FILE` then reports only
    /// new findings. Takes the options of `scan`.
    Baseline(ScanArgs),
    /// Run as a pre-commit hook: scans the staged index; under `pre-commit run --all-files` or
    /// `--files`, the working tree; in the pre-push stage, the pushed commits. Takes the options of
    /// `scan`.
    PreCommit(ScanArgs),
}

/// Output formats of `scan`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Diagnostics for people.
    Human,
    /// One JSON object (schema in the README).
    Json,
    /// SARIF 2.1.0 for GitHub code scanning (see docs/integrations.md).
    Sarif,
}

/// Output formats of `incident`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum IncidentFormat {
    /// Sections for people.
    Human,
    /// JSON.
    Json,
    /// Markdown, ready to paste into an incident ticket.
    Markdown,
}

/// `sopsguard incident`.
#[derive(Debug, Args)]
#[command(rename_all = "kebab-case")]
pub struct IncidentArgs {
    /// A directory inside the repository (default: the current directory).
    pub path: Option<PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = IncidentFormat::Human)]
    pub format: IncidentFormat,

    /// Write the report to this file instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Write a `git filter-repo --replace-text` file that replaces every leaked identity. It holds
    /// the keys themselves: it is created with mode 0600 and never printed.
    #[arg(long, value_name = "FILE")]
    pub write_replacements: Option<PathBuf>,

    /// When to use colours.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    /// Worker threads (0: one per core).
    #[arg(long, short = 'j', default_value_t = 0, value_parser = parse_threads, value_name = "N")]
    pub threads: usize,

    /// Skip blobs larger than this.
    // "10M" is `config::DEFAULT_MAX_FILE_SIZE` (spelled so for --help; a test in integrate/mod.rs checks it).
    #[arg(long, default_value = "10M", value_parser = parse_size, value_name = "SIZE")]
    pub max_file_size: u64,
}

/// Output formats of `rules`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// A table.
    Human,
    /// JSON.
    Json,
}

/// When to use colours.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// When stdout is a terminal and `NO_COLOR` is not set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// The lowest severity that makes the exit code 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    /// Errors only.
    Error,
    /// Warnings and errors.
    Warning,
    /// Any finding, notes included.
    Note,
    /// Never fail on findings (problems still exit 2).
    Never,
}

/// `sopsguard scan`.
#[derive(Debug, Args)]
#[command(rename_all = "kebab-case")]
#[command(group(clap::ArgGroup::new("mode").args(["staged", "range", "since", "history"]).multiple(false)))]
pub struct ScanArgs {
    /// Files or directories to scan (default: the current directory). With a git mode: a
    /// directory inside the repository.
    pub paths: Vec<PathBuf>,

    /// Scan exactly the blobs staged in the index (what `git commit` would record), never the
    /// working-tree copies.
    #[arg(long, help_heading = "Git")]
    pub staged: bool,

    /// Scan every blob added or changed by the commits of `BASE..HEAD` (merges included).
    #[arg(long, value_name = "BASE..HEAD", help_heading = "Git")]
    pub range: Option<String>,

    /// Scan the commits since REV: the same as `--range REV..HEAD`.
    #[arg(long, value_name = "REV", help_heading = "Git")]
    pub since: Option<String>,

    /// Scan every blob reachable from any ref, each once.
    #[arg(long, help_heading = "Git")]
    pub history: bool,

    /// With --history: also scan objects that no ref reaches.
    #[arg(long, requires = "history", help_heading = "Git")]
    pub all_objects: bool,

    /// With --history or --range: one finding per file version that exposes a secret, instead of
    /// one per secret and place listing the versions (`blobs`) that held it.
    #[arg(long, help_heading = "Git")]
    pub every_version: bool,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human, help_heading = "Output")]
    pub format: Format,

    /// Write the report to this file instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE", help_heading = "Output")]
    pub output: Option<PathBuf>,

    /// When to use colours (`NO_COLOR` is honoured in auto mode).
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, help_heading = "Output")]
    pub color: ColorChoice,

    /// Print findings only: no summary line, no list of skipped files.
    #[arg(long, short, help_heading = "Output")]
    pub quiet: bool,

    /// The lowest severity that makes the exit code 1.
    #[arg(long, value_enum, default_value_t = FailOn::Warning, help_heading = "Output")]
    pub fail_on: FailOn,

    /// Worker threads (0: one per core). Output is identical whatever the count.
    #[arg(long, short = 'j', default_value_t = 0, value_parser = parse_threads, value_name = "N", help_heading = "Scanning")]
    pub threads: usize,

    /// An identity file for MAC verification (repeatable): age identities, an OpenSSH ssh-ed25519
    /// or ssh-rsa private key, or armored OpenPGP secret keys (`gpg --export-secret-keys --armor`;
    /// protected ones are unlocked with SOPSGUARD_PGP_PASSPHRASE). `SOPS_AGE_KEY_FILE`,
    /// `SOPS_AGE_KEY`, sops' default keys.txt, `SOPS_AGE_SSH_PRIVATE_KEY_FILE` (else
    /// ~/.ssh/id_ed25519 or ~/.ssh/id_rsa) are read too; `SOPS_AGE_KEY_CMD` is never run.
    #[arg(long = "identity", short = 'i', value_name = "FILE", help_heading = "SOPS")]
    pub identities: Vec<PathBuf>,

    /// Use this `.sops.yaml` for every file instead of the nearest one.
    #[arg(long, value_name = "PATH", help_heading = "SOPS")]
    pub sops_config: Option<PathBuf>,

    /// `sops/not-encrypted` in Kubernetes manifests: count every value the creation rule would
    /// encrypt, not only those inside `kind: Secret` documents.
    #[arg(long, help_heading = "SOPS")]
    pub strict: bool,

    /// Skip (and list) files larger than this; accepts suffixes such as 512K, 10M, 1G [default: 10M,
    /// or `max-file-size` in .sopsguard.toml].
    #[arg(long, value_parser = parse_size, value_name = "SIZE", help_heading = "Scanning")]
    pub max_file_size: Option<u64>,

    /// Also write a SARIF report to FILE, whatever `--format` is (one scan, two reports).
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub sarif: Option<PathBuf>,

    /// Suppress the findings recorded in this baseline file (see `sopsguard baseline`) [default: the
    /// config's `baseline`, if set].
    #[arg(long, value_name = "FILE", help_heading = "Configuration")]
    pub baseline: Option<PathBuf>,

    /// Use this configuration file instead of the nearest `.sopsguard.toml`.
    #[arg(long, value_name = "FILE", help_heading = "Configuration")]
    pub config: Option<PathBuf>,

    /// Ignore every configuration file.
    #[arg(long, conflicts_with = "config", help_heading = "Configuration")]
    pub isolated: bool,
}

/// Parses `10M`, `512K`, `1G`, `10MiB` or a number of bytes (the same syntax as `.sopsguard.toml`).
pub fn parse_size(s: &str) -> Result<u64, String> {
    sopsguard::config::parse_size(s)
        .ok_or_else(|| format!("`{s}` is not a size (examples: 1048576, 512K, 10M, 1G)"))
}

/// Most worker threads accepted: more only costs memory and start-up time.
pub const MAX_THREADS: usize = 256;

fn parse_threads(s: &str) -> Result<usize, String> {
    let n: usize = s.trim().parse().map_err(|_| format!("`{s}` is not a number of threads"))?;
    if n > MAX_THREADS {
        return Err(format!("at most {MAX_THREADS} threads (0 means one per core)"));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10M"), Ok(10 << 20));
        assert_eq!(parse_size("10MiB"), Ok(10 << 20));
        assert_eq!(parse_size("512k"), Ok(512 << 10));
        assert_eq!(parse_size("42"), Ok(42));
        assert!(parse_size("ten").is_err());
    }

    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
