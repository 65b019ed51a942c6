//! Gathering an incident report: three scans (working tree, index, history) with the SOPS
//! inventory switched on, then, for each leaked identity, its recipient, its occurrences in the
//! history, the SOPS files encrypted to it (proved by unwrapping their data keys with the identity
//! itself), and the plaintext Secrets.
//!
//! Key material is read back from the blobs the scan pointed at, kept in [`Zeroizing`] buffers, used
//! to derive recipients and to unwrap data keys, and dropped. Nothing secret enters the model.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::{CommitRef, ExposedFile, Exposure, Incident, LeakedIdentity, PlaintextSecret, SecretNames};
use crate::finding::Finding;
use crate::rules::id;
use crate::scan::{Engine, ScanOptions, ScanReport, INVENTORY_RULE};
use crate::sops::{ConfigSet, Identities, MacStatus, SopsContext};
use crate::source::git::occurrences::{self, Occurrences};
use crate::source::git::{self, GitError, GitOptions};
use crate::source::worktree::{self, WalkOptions};
use crate::yaml;

/// Options of `sopsguard incident`.
#[derive(Clone, Debug)]
pub struct Options {
    /// A directory inside the repository.
    pub start: PathBuf,
    /// Size cap for blobs and files.
    pub max_file_size: u64,
    /// Worker threads (0 = one per core).
    pub threads: usize,
}

/// The report and, separately, the leaked key strings (only for `--write-replacements`).
pub struct Gathered {
    /// The report (no secrets).
    pub incident: Incident,
    /// Leaked key strings, zeroized on drop. Never printed.
    pub leaked_keys: Vec<Zeroizing<String>>,
}

/// Which scan a finding came from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Origin {
    Worktree,
    Index,
    History,
}

/// Findings of one scan, with where they came from.
type Found<'a> = Vec<(Origin, &'a Finding)>;
/// Identity findings by recipient: post-quantum flag, findings, the key read back.
type ByRecipient<'a> = BTreeMap<String, (bool, Found<'a>, Option<Zeroizing<String>>)>;
/// Plaintext findings by (path, namespace, name, rule family): key names, findings.
type PlainGroups<'a> = BTreeMap<(String, String, String, String), (BTreeSet<String>, Found<'a>)>;

const PLAINTEXT_RULES: &[&str] = &[
    id::K8S_PLAINTEXT_SECRET,
    id::K8S_KUSTOMIZE_LITERAL,
    id::SOPS_NOT_ENCRYPTED,
    id::SOPS_NAMED_BUT_PLAIN,
    id::SOPS_PLAINTEXT_VALUE,
];
const KEY_RULES: &[&str] = &[id::KEY_PRIVATE_KEY, id::KEY_PGP_PRIVATE_KEY];

/// Runs the scans and builds the report.
pub fn gather(opts: &Options) -> Result<Gathered, GitError> {
    let workdir = git_workdir(&opts.start)?;
    let mut engine =
        Engine::builtin(ScanOptions { max_file_size: opts.max_file_size, strict: false }, Identities::none());
    engine.inventory = true;
    let git_opts = GitOptions {
        max_file_size: opts.max_file_size,
        all_objects: false,
        sops_config_override: None,
        threads: opts.threads,
        ..GitOptions::default()
    };
    let history = git::scan_history(&engine, &opts.start, &git_opts, None)?;
    let index = git::scan_staged(&engine, &opts.start, &git_opts).unwrap_or_default();
    let mut tree = ScanReport::default();
    if let Some(dir) = &workdir {
        let walk = WalkOptions {
            threads: opts.threads,
            max_file_size: opts.max_file_size,
            excludes: Vec::new(),
            sops_config_override: None,
        };
        if let Ok(mut r) = worktree::scan_paths(&engine, std::slice::from_ref(dir), &walk) {
            let prefix = format!("{}/", dir.to_string_lossy().trim_end_matches('/'));
            for f in &mut r.findings {
                if let Some(rest) = f.path.strip_prefix(&prefix) {
                    f.path = rest.to_owned();
                }
            }
            tree = r;
        }
    }
    let all: Vec<(Origin, &Finding)> = tree
        .findings
        .iter()
        .map(|f| (Origin::Worktree, f))
        .chain(index.findings.iter().map(|f| (Origin::Index, f)))
        .chain(history.findings.iter().map(|f| (Origin::History, f)))
        .collect();

    let mut incident = Incident { version: env!("CARGO_PKG_VERSION"), ..Incident::default() };
    incident.notes.extend(history.notes.iter().cloned());
    if !history.problems.is_empty() {
        incident.notes.push(format!(
            "{} object(s) or file(s) could not be read; the report may be incomplete",
            history.problems.len()
        ));
    }

    // 1. Leaked identities, by recipient, with their key material (in memory only).
    let mut by_recipient: ByRecipient<'_> = BTreeMap::new();
    for &(origin, f) in &all {
        if f.rule != id::AGE_IDENTITY {
            continue;
        }
        let key = read_span(&opts.start, workdir.as_deref(), origin, f);
        let pq = f.properties.get("post_quantum").and_then(|v| v.as_bool()).unwrap_or(false);
        let recipient = f.properties.get("recipient").and_then(|v| v.as_str()).map(str::to_owned);
        let group = recipient.clone().unwrap_or_else(|| format!("post-quantum:{}", f.fingerprint));
        let entry = by_recipient.entry(group).or_insert((pq, Vec::new(), None));
        entry.1.push((origin, f));
        if entry.2.is_none() {
            entry.2 = key;
        }
    }

    // Inventory of SOPS files by age recipient: path -> blobs (history), plus current copies.
    let mut inventory: BTreeMap<String, Vec<(Origin, &Finding)>> = BTreeMap::new();
    for &(origin, f) in &all {
        if f.rule != INVENTORY_RULE {
            continue;
        }
        let recips = f.properties.get("recipients").and_then(|v| v.as_array()).cloned().unwrap_or_default();
        for r in recips.iter().filter_map(|v| v.as_str()) {
            inventory.entry(r.to_owned()).or_default().push((origin, f));
        }
    }

    // Queries for the history walk: every (path, blobs) the report needs.
    let mut queries: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut add_query = |key: String, f: &Finding| {
        if let Some(b) = f.provenance.as_ref().and_then(|p| p.blob.clone()) {
            queries.entry(key).or_default().insert(b);
        }
    };
    for (recipient, (_, list, _)) in &by_recipient {
        for (o, f) in list {
            if *o == Origin::History {
                add_query(format!("id\0{recipient}\0{}", f.path), f);
            }
        }
        for (o, f) in inventory.get(recipient).map(Vec::as_slice).unwrap_or(&[]) {
            if *o == Origin::History {
                add_query(format!("sops\0{recipient}\0{}", f.path), f);
            }
        }
    }
    let mut plain_groups: PlainGroups<'_> = BTreeMap::new();
    for &(origin, f) in &all {
        if !PLAINTEXT_RULES.contains(&f.rule.as_str()) {
            continue;
        }
        let prop = |k: &str| f.properties.get(k).and_then(|v| v.as_str()).unwrap_or("").to_owned();
        let rule = if f.rule.starts_with("k8s/") { f.rule.clone() } else { "sops".to_owned() };
        let g =
            plain_groups.entry((f.path.clone(), prop("namespace"), prop("secret_name"), rule)).or_default();
        let key = prop("key");
        if !key.is_empty() {
            g.0.insert(key);
        }
        g.1.push((origin, f));
    }
    for ((path, ns, name, rule), (_, list)) in &plain_groups {
        for (o, f) in list {
            if *o == Origin::History {
                add_query(format!("plain\0{path}\0{ns}\0{name}\0{rule}"), f);
            }
        }
    }
    let mut key_groups: BTreeMap<(String, String), Vec<(Origin, &Finding)>> = BTreeMap::new();
    for &(origin, f) in &all {
        if KEY_RULES.contains(&f.rule.as_str()) {
            key_groups.entry((f.rule.clone(), f.path.clone())).or_default().push((origin, f));
        }
    }
    for ((rule, path), list) in &key_groups {
        for (o, f) in list {
            if *o == Origin::History {
                add_query(format!("key\0{rule}\0{path}"), f);
            }
        }
    }
    let query_keys: Vec<String> = queries.keys().cloned().collect();
    let query_list: Vec<(String, Vec<String>)> = queries
        .iter()
        .map(|(k, blobs)| {
            (k.rsplit_once('\0').map_or(k.as_str(), |(_, p)| p).to_owned(), blobs.iter().cloned().collect())
        })
        .collect();
    // The path of "plain" and "key" queries is not the last component; fix those up.
    let query_list: Vec<(String, Vec<String>)> = query_keys
        .iter()
        .zip(query_list)
        .map(|(k, (last, blobs))| {
            let parts: Vec<&str> = k.split('\0').collect();
            let path = match parts[0] {
                "plain" => parts[1].to_owned(),
                "key" => parts[2].to_owned(),
                _ => last,
            };
            (path, blobs)
        })
        .collect();
    let occ = if query_list.is_empty() {
        Occurrences::default()
    } else {
        occurrences::occurrences(&opts.start, &query_list)?
    };
    incident.refs = occ.refs.clone();
    incident.commits = occ.walked as u64;
    let answer = |key: &str| query_keys.iter().position(|k| k == key);

    let exposure = |key: &str, path: &str, current: &[(Origin, &Finding)]| -> Exposure {
        let mut e = Exposure { path: path.to_owned(), ..Exposure::default() };
        e.in_worktree = current.iter().any(|(o, f)| *o == Origin::Worktree && f.path == path);
        e.in_index = current.iter().any(|(o, f)| *o == Origin::Index && f.path == path);
        if let Some(i) = answer(key) {
            let a = &occ.per_query[i];
            e.introduced_in = a.introduced.iter().map(|&c| commit_ref(&occ, c)).collect();
            e.removed_in = a.removed.iter().map(|&c| commit_ref(&occ, c)).collect();
            e.commits = a.containing.len();
            e.refs = a.refs.clone();
            e.ref_tips = a.ref_tips.clone();
        }
        e
    };

    let mut leaked_keys = Vec::new();
    for (recipient, (pq, list, key)) in by_recipient {
        let mut id = LeakedIdentity {
            recipient: if recipient.starts_with("post-quantum:") { String::new() } else { recipient.clone() },
            post_quantum: pq,
            fingerprint: key
                .as_ref()
                .map(|k| crate::fingerprint::of_secret(id::AGE_IDENTITY, "", &recipient, 0, k.as_bytes()))
                .unwrap_or_default(),
            ..LeakedIdentity::default()
        };
        let paths: BTreeSet<String> = list.iter().map(|(_, f)| f.path.clone()).collect();
        for p in &paths {
            let e = exposure(&format!("id\0{recipient}\0{p}"), p, &list);
            id.authors.extend(e.introduced_in.iter().map(|c| c.author.clone()));
            id.exposures.push(e);
        }
        id.authors.sort();
        id.authors.dedup();
        id.still_present = id.exposures.iter().any(|e| e.in_worktree || e.in_index || !e.ref_tips.is_empty());
        // Blast radius.
        let files = inventory.get(&recipient).cloned().unwrap_or_default();
        let file_paths: BTreeSet<String> = files.iter().map(|(_, f)| f.path.clone()).collect();
        for p in file_paths {
            let key_name = format!("sops\0{recipient}\0{p}");
            let mut blobs: BTreeSet<String> = BTreeSet::new();
            let mut f = ExposedFile { path: p.clone(), ..ExposedFile::default() };
            let mut contents: Vec<(String, Vec<u8>)> = Vec::new();
            for (o, finding) in files.iter().filter(|(_, x)| x.path == p) {
                let data = match o {
                    Origin::Worktree => workdir.as_ref().and_then(|d| std::fs::read(d.join(&p)).ok()),
                    _ => finding
                        .provenance
                        .as_ref()
                        .and_then(|pr| pr.blob.as_ref())
                        .and_then(|b| occurrences::read_blob(&opts.start, b).ok()),
                };
                let label = finding
                    .provenance
                    .as_ref()
                    .and_then(|pr| pr.blob.clone())
                    .unwrap_or_else(|| "working tree".to_owned());
                if *o == Origin::History {
                    blobs.insert(label.clone());
                }
                if let Some(d) = data {
                    contents.push((label, d));
                }
            }
            f.versions = blobs.len();
            if let Some(i) = answer(&key_name) {
                let a = &occ.per_query[i];
                f.commits = a.containing.iter().map(|&c| occ.commits[c].id.clone()).collect();
                f.encrypted_to_it_at_head = occ.head_blobs[i].as_ref().is_some_and(|h| blobs.contains(h));
                f.exists_at_head = occ.head_blobs[i].is_some();
            }
            // Proof: the leaked identity unwraps the data key of each version.
            let mut names: BTreeSet<SecretNames> = BTreeSet::new();
            let mut proven_all = !contents.is_empty();
            contents.sort_by(|a, b| a.0.cmp(&b.0));
            contents.dedup_by(|a, b| a.0 == b.0);
            for (label, data) in &contents {
                names.extend(secret_names(&p, data));
                match &key {
                    Some(k) => match prove(&p, data, k) {
                        Ok(()) => {}
                        Err(why) => {
                            proven_all = false;
                            f.unproven.push(format!("{}: {why}", short(label)));
                        }
                    },
                    None => {
                        proven_all = false;
                        f.unproven.push(format!("{}: the identity could not be read back", short(label)));
                    }
                }
            }
            f.proven = proven_all;
            f.secrets = names.into_iter().collect();
            id.exposed_files.push(f);
        }
        // .sops.yaml files (working tree) that list the recipient.
        if let Some(dir) = &workdir {
            id.config_files = sops_configs_listing(dir, &recipient);
        }
        if let Some(k) = key {
            leaked_keys.push(k);
        }
        incident.identities.push(id);
    }

    for ((path, ns, name, rule), (keys, list)) in &plain_groups {
        let key_name = format!("plain\0{path}\0{ns}\0{name}\0{rule}");
        let rule_name = list.first().map(|(_, f)| f.rule.clone()).unwrap_or_default();
        incident.plaintext_secrets.push(PlaintextSecret {
            rule: rule_name,
            secret: SecretNames {
                name: name.clone(),
                namespace: ns.clone(),
                keys: keys.iter().cloned().collect(),
            },
            exposure: exposure(&key_name, path, list),
        });
    }
    for ((rule, path), list) in &key_groups {
        incident.other_keys.push((rule.clone(), exposure(&format!("key\0{rule}\0{path}"), path, list)));
    }
    incident.plaintext_secrets.sort();
    incident.other_keys.sort();
    super::plan::build(&mut incident);
    Ok(Gathered { incident, leaked_keys })
}

fn short(label: &str) -> String {
    if label.len() == 40 {
        format!("blob {}", &label[..12])
    } else {
        label.to_owned()
    }
}

fn commit_ref(occ: &Occurrences, c: usize) -> CommitRef {
    let i = &occ.commits[c];
    CommitRef { id: i.id.clone(), author: i.author.clone(), date: i.date.clone(), summary: i.summary.clone() }
}

/// The repository's work tree, or `None` for a bare repository.
fn git_workdir(start: &Path) -> Result<Option<PathBuf>, GitError> {
    let repo = gix::discover(start).map_err(|_| GitError::NotARepository { path: start.to_owned() })?;
    Ok(repo.workdir().map(|p| p.canonicalize().unwrap_or_else(|_| p.to_owned())))
}

/// Reads the finding's span back from where it was found: the key string, zeroized on drop.
fn read_span(start: &Path, workdir: Option<&Path>, origin: Origin, f: &Finding) -> Option<Zeroizing<String>> {
    let data = Zeroizing::new(match origin {
        Origin::Worktree => std::fs::read(workdir?.join(&f.path)).ok()?,
        _ => occurrences::read_blob(start, f.provenance.as_ref()?.blob.as_ref()?).ok()?,
    });
    let bytes = data.get(f.location.byte_start..f.location.byte_end)?;
    Some(Zeroizing::new(std::str::from_utf8(bytes).ok()?.to_ascii_uppercase()))
}

/// Whether the identity opens this file's data key (and the MAC is then checked as sops would).
fn prove(path: &str, data: &[u8], key: &str) -> Result<(), String> {
    let ids = Identities::from_text("leaked identity", key).map_err(|e| e.to_string())?;
    let configs = ConfigSet::default();
    let ctx = SopsContext { configs: &configs, identities: &ids, strict: false };
    let out = crate::sops::check_file(path, data, &ctx);
    match out.mac {
        MacStatus::Verified => Ok(()),
        MacStatus::Failed => Ok(()),
        MacStatus::Unverified => Err(
            "the identity does not unwrap this version's data key alone (another key group may be needed)"
                .into(),
        ),
        MacStatus::NotSops => Err("not a SOPS file".into()),
    }
}

/// Secret names, namespaces and keys a file holds (never values).
fn secret_names(path: &str, data: &[u8]) -> Vec<SecretNames> {
    let Ok(text) = std::str::from_utf8(data) else { return Vec::new() };
    let lower = path.to_ascii_lowercase();
    if lower.ends_with(".yaml") || lower.ends_with(".yml") || lower.ends_with(".json") {
        let Ok(stream) = yaml::parse(text) else { return Vec::new() };
        let mut out = Vec::new();
        for doc in &stream.documents {
            let root = &doc.root;
            let Some(map) = root.as_map() else { continue };
            if root.get("kind").and_then(|k| k.as_str()) == Some("Secret") {
                let meta = root.get("metadata");
                let s =
                    |k: &str| meta.and_then(|m| m.get(k)).and_then(|v| v.as_str()).unwrap_or("").to_owned();
                let mut keys: Vec<String> = ["data", "stringData"]
                    .iter()
                    .filter_map(|f| root.get(f).and_then(|n| n.as_map()))
                    .flat_map(|m| m.iter().filter_map(|(k, _)| k.as_str().map(str::to_owned)))
                    .collect();
                keys.sort();
                keys.dedup();
                out.push(SecretNames { name: s("name"), namespace: s("namespace"), keys });
            } else {
                let mut keys: Vec<String> = map
                    .iter()
                    .filter_map(|(k, _)| k.as_str())
                    .filter(|k| *k != "sops")
                    .map(str::to_owned)
                    .collect();
                keys.sort();
                out.push(SecretNames { name: String::new(), namespace: String::new(), keys });
            }
        }
        out
    } else if lower.ends_with(".env") {
        let mut keys: Vec<String> = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim().to_owned()))
            .filter(|k| !k.is_empty() && !k.starts_with("sops_"))
            .collect();
        keys.sort();
        keys.dedup();
        vec![SecretNames { keys, ..SecretNames::default() }]
    } else {
        Vec::new()
    }
}

/// `.sops.yaml` files of the work tree that mention `recipient`.
fn sops_configs_listing(dir: &Path, recipient: &str) -> Vec<String> {
    let mut out = Vec::new();
    for entry in ignore::WalkBuilder::new(dir).hidden(false).build().flatten() {
        if crate::sops::is_sops_config(&entry.file_name().to_string_lossy()) {
            if let Ok(text) = std::fs::read_to_string(entry.path()) {
                if text.contains(recipient) {
                    let rel = entry.path().strip_prefix(dir).unwrap_or(entry.path());
                    out.push(crate::source::normalize_rel(rel));
                }
            }
        }
    }
    out.sort();
    out
}
