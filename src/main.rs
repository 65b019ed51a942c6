//! The `sopsguard` binary: parses arguments, runs the library, prints, and maps the outcome to the
//! exit code (0 clean, 1 findings, 2 the tool could not do its job). The only code that prints.

mod cli;
mod integrate;

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use sopsguard::config::Settings;
use sopsguard::finding::Severity;
use sopsguard::report::{human::Human, json::Json, Emitter, Summary};
use sopsguard::rules::{Registry, RuleKind};
use sopsguard::scan::{Engine, ScanOptions, ScanReport};
use sopsguard::sops::{ConfigFile, Identities};
use sopsguard::source::git::{self, GitOptions};
use sopsguard::source::worktree::{self, WalkOptions};

use cli::{Cli, ColorChoice, Command, FailOn, Format, IncidentArgs, IncidentFormat, ListFormat, ScanArgs};
use integrate::{GitMode, ScanMode};

/// Scans allocate many short-lived values (parsed YAML, blob copies, findings) on every thread;
/// mimalloc spends markedly less time on them than glibc's allocator. Built without transparent
/// huge pages (`no_thp`): with them, memory freed and reused between pack slices was faulted back
/// in 2 MiB at a time, which cost a quarter of a history scan in page clearing.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // A panic message can quote the data being processed (for example a string slice error), and
    // that data may be a secret: report only where it happened.
    std::panic::set_hook(Box::new(|info| {
        let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        let _ = writeln!(
            std::io::stderr(),
            "sopsguard: internal error{at} (a bug; the message is withheld because it may quote scanned data)"
        );
    }));
    let cli = Cli::parse();
    if let Some(key) = std::env::var_os(sopsguard::fingerprint::KEY_ENV) {
        let key = key.as_encoded_bytes();
        if key.len() < sopsguard::fingerprint::MIN_KEY_LEN {
            let _ = writeln!(
                std::io::stderr(),
                "sopsguard: {} must hold at least {} bytes (a random CI secret)",
                sopsguard::fingerprint::KEY_ENV,
                sopsguard::fingerprint::MIN_KEY_LEN
            );
            return ExitCode::from(2);
        }
        sopsguard::fingerprint::set_key(key);
    }
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            let _ = writeln!(std::io::stderr(), "{err:?}");
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(err: &miette::Report) -> bool {
    err.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
        || err.to_string().contains("Broken pipe")
}

fn run(cli: Cli) -> miette::Result<ExitCode> {
    match cli.command {
        Command::Scan(args) => {
            let mode = ScanMode::of(&args);
            scan(args, mode)
        }
        Command::PreCommit(args) => match integrate::pre_commit(args)? {
            Some((args, mode)) => scan(args, mode),
            None => Ok(ExitCode::SUCCESS),
        },
        Command::Baseline(args) => {
            let (_engine, settings, report) = collect(&args, &ScanMode::of(&args))?;
            integrate::write_baseline(&args, &settings, &report)
        }
        Command::Rules { format } => {
            list_rules(&Registry::builtin(), format)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Explain { rule } => explain(&Registry::builtin(), &rule),
        Command::Incident(args) => incident(args),
    }
}

fn io(e: std::io::Error) -> miette::Report {
    miette::Report::msg(e)
}

/// Runs the scan `args` describe, with the configuration applied and the report sorted.
fn collect(args: &ScanArgs, mode: &ScanMode) -> miette::Result<(Engine, Settings, ScanReport)> {
    if args.threads > 0 {
        let _ = rayon::ThreadPoolBuilder::new().num_threads(args.threads).build_global();
    }
    let settings = integrate::settings(args)?;
    let max_file_size =
        args.max_file_size.or(settings.max_file_size).unwrap_or(sopsguard::config::DEFAULT_MAX_FILE_SIZE);
    let options = ScanOptions { max_file_size, strict: args.strict };
    let identities =
        Identities::load(&args.identities, |k| std::env::var(k).ok()).map_err(|e| miette::miette!("{e}"))?;
    // Identities that were found but cannot be used (protected, corrupt, unsupported): the scan
    // goes on without them, and says so. Notes name files and fingerprints, never key material.
    if !args.quiet {
        for n in identities.notes() {
            let _ = writeln!(std::io::stderr(), "sopsguard: note: {n}");
        }
    }
    let sops_config_override = match &args.sops_config {
        Some(p) => Some(ConfigFile {
            path: p.to_string_lossy().replace('\\', "/"),
            data: sopsguard::fsread::read_regular(p, sopsguard::sops::MAX_CONFIG_SIZE)
                .map_err(|e| miette::miette!("cannot read {}: {e}", p.display()))?,
        }),
        None => None,
    };
    let engine = settings.engine(options, identities)?;
    let paths = integrate::scan_paths(args);
    let mut report = if let ScanMode::Git(git_mode) = mode {
        let start = match paths.as_slice() {
            [one] => one.clone(),
            _ => miette::bail!("a git mode (--staged, --range, --since, --history) takes at most one path: a directory inside the repository"),
        };
        // The process exits right after the report is written.
        let mut git_opts = GitOptions::default().exiting_after_scan();
        git_opts.max_file_size = max_file_size;
        git_opts.all_objects = matches!(git_mode, GitMode::History { all_objects: true });
        git_opts.sops_config_override = sops_config_override;
        git_opts.threads = args.threads;
        let bar = ProgressBar::new(!args.quiet);
        let progress = bar.as_ref().map(|b| b as &dyn git::Progress);
        let result = match git_mode {
            GitMode::Staged => git::scan_staged(&engine, &start, &git_opts),
            GitMode::Range(spec) => git::scan_range(&engine, &start, spec, &git_opts, progress),
            GitMode::History { .. } => git::scan_history(&engine, &start, &git_opts, progress),
        };
        if let Some(b) = bar {
            b.finish();
        }
        let mut report = result?;
        settings.apply(&mut report, &integrate::repository_root(&start));
        // One finding per secret and place, however many versions of the file held it (each
        // version's blob is listed in the finding), unless every version is asked for.
        if !args.every_version {
            report.group_versions();
        }
        report
    } else {
        let walk = WalkOptions {
            threads: args.threads,
            max_file_size,
            excludes: settings.walk_excludes(&paths),
            sops_config_override,
        };
        let mut report = worktree::scan_paths(&engine, &paths, &walk)?;
        settings.apply(&mut report, Path::new("."));
        report
    };
    report.sort();
    Ok((engine, settings, report))
}

fn scan(args: ScanArgs, mode: ScanMode) -> miette::Result<ExitCode> {
    let started = Instant::now();
    let (engine, settings, mut report) = collect(&args, &mode)?;
    integrate::apply_baseline(&args, &mode, &settings, &mut report)?;
    emit(&args, &mode, &engine, &report)?;
    integrate::write_extra_sarif(&args, &mode, &engine, &report)?;
    if !args.quiet && args.format == Format::Human {
        let line = Summary::of(&report).line();
        let _ = writeln!(std::io::stderr(), "{line} in {:.2}s", started.elapsed().as_secs_f64());
    }
    Ok(exit_code(&report, args.fail_on))
}

/// A progress bar on stderr for range and history scans, only when stderr is a terminal.
struct ProgressBar {
    bar: indicatif::ProgressBar,
}

impl ProgressBar {
    fn new(wanted: bool) -> Option<ProgressBar> {
        if !wanted || !std::io::stderr().is_terminal() {
            return None;
        }
        let bar = indicatif::ProgressBar::with_draw_target(Some(0), indicatif::ProgressDrawTarget::stderr());
        let style = indicatif::ProgressStyle::with_template(
            "{spinner} {pos}/{len} objects, {msg} ({per_sec}) [{elapsed_precise}] {wide_bar}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
        bar.set_style(style);
        Some(ProgressBar { bar })
    }

    fn finish(self) {
        self.bar.finish_and_clear();
    }
}

impl git::Progress for ProgressBar {
    fn set_total(&self, objects: u64) {
        self.bar.set_length(objects);
    }

    fn inc(&self, objects: u64, bytes: u64) {
        self.bar.inc(objects);
        if bytes > 0 {
            let b = BYTES.fetch_add(bytes, std::sync::atomic::Ordering::Relaxed) + bytes;
            self.bar.set_message(sopsguard::report::human_bytes(b));
        }
    }
}

static BYTES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn exit_code(report: &ScanReport, fail_on: FailOn) -> ExitCode {
    let threshold = match fail_on {
        FailOn::Error => Some(Severity::Error),
        FailOn::Warning => Some(Severity::Warning),
        FailOn::Note => Some(Severity::Note),
        FailOn::Never => None,
    };
    let failing = threshold.is_some_and(|t| report.findings.iter().any(|f| f.severity >= t));
    if failing {
        ExitCode::from(1)
    } else if !report.problems.is_empty() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

fn use_color(choice: ColorChoice, to_terminal: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => to_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    }
}

fn emit(args: &ScanArgs, mode: &ScanMode, engine: &Engine, report: &ScanReport) -> miette::Result<()> {
    let to_terminal = args.output.is_none() && std::io::stdout().is_terminal();
    let emitter: Box<dyn Emitter> = match args.format {
        Format::Human => Box::new(Human {
            color: use_color(args.color, to_terminal),
            width: if to_terminal { 100 } else { 80 },
            quiet: args.quiet,
        }),
        Format::Json => Box::new(Json),
        Format::Sarif => Box::new(integrate::sarif(mode)),
    };
    let mut buf = Vec::new();
    emitter.emit(&mut buf, report, &engine.registry).map_err(io)?;
    match &args.output {
        Some(path) => std::fs::write(path, &buf)
            .map_err(|e| miette::miette!("cannot write {}: {}", path.display(), e.kind()))?,
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(&buf).map_err(io)?;
            out.flush().map_err(io)?;
        }
    }
    Ok(())
}

fn incident(args: IncidentArgs) -> miette::Result<ExitCode> {
    if args.threads > 0 {
        let _ = rayon::ThreadPoolBuilder::new().num_threads(args.threads).build_global();
    }
    let opts = sopsguard::incident::gather::Options {
        start: args.path.clone().unwrap_or_else(|| ".".into()),
        max_file_size: args.max_file_size,
        threads: args.threads,
    };
    let gathered = sopsguard::incident::gather::gather(&opts)?;
    let to_terminal = args.output.is_none() && std::io::stdout().is_terminal();
    let text = match args.format {
        IncidentFormat::Human => {
            sopsguard::incident::render::human(&gathered.incident, use_color(args.color, to_terminal))
        }
        IncidentFormat::Json => sopsguard::incident::render::json(&gathered.incident),
        IncidentFormat::Markdown => sopsguard::incident::render::markdown(&gathered.incident),
    };
    match &args.output {
        Some(p) => std::fs::write(p, text)
            .map_err(|e| miette::miette!("cannot write {}: {}", p.display(), e.kind()))?,
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes()).map_err(io)?;
            out.flush().map_err(io)?;
        }
    }
    if let Some(path) = &args.write_replacements {
        let n = write_replacements(path, &gathered.leaked_keys)
            .map_err(|e| miette::miette!("cannot write {}: {}", path.display(), e.kind()))?;
        let _ = writeln!(
            std::io::stderr(),
            "wrote {n} replacement expression(s) to {} (mode 0600; it contains the leaked keys: delete it after git filter-repo)",
            path.display()
        );
    }
    Ok(if gathered.incident.is_clean() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Writes `KEY==>REMOVED-…` lines for `git filter-repo --replace-text`, created with mode 0600.
fn write_replacements(path: &std::path::Path, keys: &[zeroize::Zeroizing<String>]) -> std::io::Result<usize> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    let mut body = zeroize::Zeroizing::new(String::new());
    for k in keys {
        body.push_str(k);
        body.push_str("==>REMOVED-AGE-IDENTITY\n");
        body.push_str(&k.to_ascii_lowercase());
        body.push_str("==>REMOVED-AGE-IDENTITY\n");
    }
    f.write_all(body.as_bytes())?;
    Ok(keys.len() * 2)
}

fn list_rules(registry: &Registry, format: ListFormat) -> miette::Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        ListFormat::Human => {
            let width = registry.rules().iter().map(|r| r.id.len()).max().unwrap_or(0);
            for r in registry.rules() {
                writeln!(out, "{:<width$}  {:<7}  {}", r.id, r.severity.as_str(), r.title).map_err(io)?;
            }
        }
        ListFormat::Json => {
            let rules: Vec<_> = registry
                .rules()
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "id": r.id,
                        "title": r.title,
                        "severity": r.severity.as_str(),
                        "kind": if r.kind == RuleKind::Regex { "regex" } else { "code" },
                        "tags": r.tags,
                        "security_severity": r.security_severity,
                    })
                })
                .collect();
            let s = serde_json::to_string_pretty(&rules).map_err(|e| miette::miette!("{e}"))?;
            writeln!(out, "{s}").map_err(io)?;
        }
    }
    Ok(())
}

fn explain(registry: &Registry, id: &str) -> miette::Result<ExitCode> {
    let Some(r) = registry.get(id) else {
        let group = id.split('/').next().unwrap_or(id);
        let similar: Vec<&str> =
            registry.rules().iter().map(|r| r.id.as_str()).filter(|r| r.starts_with(group)).collect();
        let hint = if similar.is_empty() {
            "run `sopsguard rules` for the list".to_owned()
        } else {
            format!("did you mean {}?", similar.join(", "))
        };
        let _ = writeln!(std::io::stderr(), "sopsguard: unknown rule `{id}`: {hint}");
        return Ok(ExitCode::from(2));
    };
    let mut out = std::io::stdout().lock();
    let kind = if r.kind == RuleKind::Regex { "regex" } else { "code" };
    let mut text = format!(
        "{id}: {title}\n\nseverity: {sev}   detected by: {kind}   tags: {tags}\n\n## What it finds\n{what}\n## Why it matters\n{why}\n## How to fix it\n{fix}",
        id = r.id,
        title = r.title,
        sev = r.severity,
        tags = r.tags.join(", "),
        what = r.docs.what,
        why = r.docs.why,
        fix = r.docs.fix,
    );
    text.push_str(&format!(
        "\nSuppress one occurrence with a `sopsguard:allow {}` comment on the line or the line above.\n",
        r.id
    ));
    text.push_str(&format!(
        "Findings under test and vendored directories (a path component {}) are fixtures: still \
         reported, marked `fixture`, and at most a note; `fixtures = \"warning\"` or `\"error\"` in \
         .sopsguard.toml raises that.\n",
        sopsguard::config::FIXTURE_DIRS.join(", ")
    ));
    out.write_all(text.as_bytes()).map_err(io)?;
    Ok(ExitCode::SUCCESS)
}
