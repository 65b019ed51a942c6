//! The incident report for people (terminal), machines (JSON) and tickets (Markdown).

use std::fmt::Write as _;

use super::{CommitRef, ExposedFile, Exposure, Incident, LeakedIdentity, PlaintextSecret, SecretNames};
use crate::textsafe::{escape, markdown_code};

const REVERT: &str = "`git revert` is not remediation: the key and the values stay in every earlier commit, \
every clone, every fork, every cache and every CI log. Follow the plan below.";

fn commits(list: &[CommitRef]) -> String {
    if list.is_empty() {
        return "—".to_owned();
    }
    list.iter().map(|c| format!("{} ({}, {})", c.short(), c.author, c.date)).collect::<Vec<_>>().join("; ")
}

fn where_now(e: &Exposure) -> String {
    let mut v = Vec::new();
    if e.in_worktree {
        v.push("working tree".to_owned());
    }
    if e.in_index {
        v.push("index".to_owned());
    }
    if !e.ref_tips.is_empty() {
        v.push(format!("tip of {}", e.ref_tips.join(", ")));
    }
    if v.is_empty() {
        "history only".to_owned()
    } else {
        v.join(", ")
    }
}

/// JSON.
pub fn json(incident: &Incident) -> String {
    let mut s = crate::textsafe::to_json_pretty(incident).unwrap_or_else(|_| "{}".to_owned());
    s.push('\n');
    s
}

/// Terminal text, in sections.
pub fn human(incident: &Incident, color: bool) -> String {
    let incident = &displayable(incident);
    let (red, yellow, bold, reset) =
        if color { ("\x1b[31m", "\x1b[33m", "\x1b[1m", "\x1b[0m") } else { ("", "", "", "") };
    let mut o = String::new();
    let _ = writeln!(o, "{bold}sopsguard incident report{reset}");
    let _ = writeln!(
        o,
        "scanned: working tree, index, {} commits from {} refs\n",
        incident.commits,
        incident.refs.len()
    );
    if incident.is_clean() {
        let _ = writeln!(o, "No leaked identity, private key or plaintext Secret was found.");
        for n in &incident.notes {
            let _ = writeln!(o, "note: {n}");
        }
        return o;
    }
    let _ = writeln!(o, "{yellow}⚠ {REVERT}{reset}\n");
    for (i, id) in incident.identities.iter().enumerate() {
        let name =
            if id.recipient.is_empty() { "post-quantum identity".to_owned() } else { id.recipient.clone() };
        let _ = writeln!(o, "{bold}{red}× Leaked age identity {}: {name}{reset}", i + 1);
        let _ = writeln!(o, "  fingerprint: {}", id.fingerprint);
        let _ =
            writeln!(o, "  still present: {}", if id.still_present { "yes" } else { "no (history only)" });
        if !id.authors.is_empty() {
            let _ = writeln!(o, "  authors: {}", id.authors.join(", "));
        }
        for e in &id.exposures {
            let _ = writeln!(o, "  ─ {}", e.path);
            let _ = writeln!(o, "      introduced in: {}", commits(&e.introduced_in));
            let _ = writeln!(o, "      removed in:    {}", commits(&e.removed_in));
            let _ =
                writeln!(o, "      in {} commit(s); reachable from: {}", e.commits, list_or_dash(&e.refs));
            let _ = writeln!(o, "      now in: {}", where_now(e));
        }
        if id.exposed_files.is_empty() {
            let _ = writeln!(
                o,
                "  blast radius: no SOPS file in the repository or its history lists this recipient"
            );
        } else {
            let _ = writeln!(
                o,
                "  blast radius: {} SOPS file(s) anyone with this key can decrypt:",
                id.exposed_files.len()
            );
            for f in &id.exposed_files {
                let state = if f.encrypted_to_it_at_head {
                    "encrypted to it at HEAD"
                } else if f.exists_at_head {
                    "re-encrypted without it since; old versions still exposed"
                } else {
                    "deleted since; old versions still exposed"
                };
                let proof =
                    if f.proven { "proved: the leaked key unwraps its data key" } else { "not proved" };
                let _ = writeln!(
                    o,
                    "  ─ {} ({state}; {} version(s) in {} commit(s); {proof})",
                    f.path,
                    f.versions,
                    f.commits.len()
                );
                for s in &f.secrets {
                    let who = match (s.namespace.is_empty(), s.name.is_empty()) {
                        (_, true) => "values".to_owned(),
                        (true, false) => format!("Secret {}", s.name),
                        (false, false) => format!("Secret {}/{}", s.namespace, s.name),
                    };
                    let _ = writeln!(o, "      {who}: {}", list_or_dash(&s.keys));
                }
                for u in &f.unproven {
                    let _ = writeln!(o, "      not unwrapped: {u}");
                }
            }
        }
        let _ = writeln!(o);
    }
    for (rule, e) in &incident.other_keys {
        let _ = writeln!(o, "{bold}{red}× {rule}: {}{reset}", e.path);
        let _ = writeln!(o, "      introduced in: {}", commits(&e.introduced_in));
        let _ = writeln!(o, "      now in: {}\n", where_now(e));
    }
    if !incident.plaintext_secrets.is_empty() {
        let _ = writeln!(o, "{bold}{red}× Plaintext Secrets{reset}");
        for p in &incident.plaintext_secrets {
            let s = &p.secret;
            let who = if s.name.is_empty() {
                p.exposure.path.clone()
            } else {
                format!("{}/{}", s.namespace, s.name)
            };
            let _ =
                writeln!(o, "  ─ {who} in {} [{}]: keys {}", p.exposure.path, p.rule, list_or_dash(&s.keys));
            let _ = writeln!(o, "      exposed in: {}", commits(&p.exposure.introduced_in));
            let _ = writeln!(o, "      removed in: {}", commits(&p.exposure.removed_in));
            let _ =
                writeln!(o, "      in {} commit(s); now in: {}", p.exposure.commits, where_now(&p.exposure));
        }
        let _ = writeln!(o);
    }
    let _ = writeln!(o, "{bold}Rotation plan{reset}");
    for s in &incident.plan {
        let _ = writeln!(o, "{bold}{:>2}. {}{reset}", s.number, s.title);
        let _ = writeln!(o, "    {}", s.detail);
        for c in &s.commands {
            let _ = writeln!(o, "      $ {c}");
        }
        for i in &s.items {
            let _ = writeln!(o, "      • {i}");
        }
    }
    for n in &incident.notes {
        let _ = writeln!(o, "\nnote: {n}");
    }
    o
}

fn list_or_dash(v: &[String]) -> String {
    if v.is_empty() {
        "—".to_owned()
    } else {
        v.join(", ")
    }
}

/// Repository text in Markdown prose or a table cell (see [`crate::textsafe::markdown_text`]).
fn md_escape(s: &str) -> String {
    crate::textsafe::markdown_text(s)
}

/// A copy of the incident with every string from the repository (paths, ref names, authors,
/// Secret names and keys) escaped for a terminal or a page: control characters, bidirectional
/// overrides and newlines become visible escapes (see [`crate::textsafe`]).
fn displayable(i: &Incident) -> Incident {
    let e = |s: &String| escape(s).into_owned();
    let all = |v: &Vec<String>| v.iter().map(e).collect::<Vec<_>>();
    let commit = |c: &CommitRef| CommitRef {
        id: e(&c.id),
        author: e(&c.author),
        date: e(&c.date),
        summary: e(&c.summary),
    };
    let exposure = |x: &Exposure| Exposure {
        path: e(&x.path),
        introduced_in: x.introduced_in.iter().map(commit).collect(),
        removed_in: x.removed_in.iter().map(commit).collect(),
        refs: all(&x.refs),
        ref_tips: all(&x.ref_tips),
        ..x.clone()
    };
    let names =
        |n: &SecretNames| SecretNames { name: e(&n.name), namespace: e(&n.namespace), keys: all(&n.keys) };
    Incident {
        refs: all(&i.refs),
        identities: i
            .identities
            .iter()
            .map(|id| LeakedIdentity {
                recipient: e(&id.recipient),
                exposures: id.exposures.iter().map(exposure).collect(),
                authors: all(&id.authors),
                exposed_files: id
                    .exposed_files
                    .iter()
                    .map(|f| ExposedFile {
                        path: e(&f.path),
                        commits: all(&f.commits),
                        secrets: f.secrets.iter().map(names).collect(),
                        unproven: all(&f.unproven),
                        ..f.clone()
                    })
                    .collect(),
                config_files: all(&id.config_files),
                ..id.clone()
            })
            .collect(),
        other_keys: i.other_keys.iter().map(|(r, x)| (e(r), exposure(x))).collect(),
        plaintext_secrets: i
            .plaintext_secrets
            .iter()
            .map(|p| PlaintextSecret {
                rule: e(&p.rule),
                secret: names(&p.secret),
                exposure: exposure(&p.exposure),
            })
            .collect(),
        plan: i
            .plan
            .iter()
            .map(|s| super::PlanStep {
                title: e(&s.title),
                detail: e(&s.detail),
                commands: all(&s.commands),
                items: all(&s.items),
                ..s.clone()
            })
            .collect(),
        notes: all(&i.notes),
        ..i.clone()
    }
}

/// Markdown for an incident ticket.
pub fn markdown(incident: &Incident) -> String {
    let incident = &displayable(incident);
    let mut o = String::new();
    let _ = writeln!(o, "# Secret leak: incident report\n");
    let _ = writeln!(
        o,
        "Scanned the working tree, the index and {} commits from {} refs.\n",
        incident.commits,
        incident.refs.len()
    );
    if incident.is_clean() {
        let _ = writeln!(o, "No leaked identity, private key or plaintext Secret was found.");
        return o;
    }
    let _ = writeln!(o, "> **Warning:** {REVERT}\n");
    if !incident.identities.is_empty() {
        let _ = writeln!(o, "## Leaked age identities\n");
    }
    for id in &incident.identities {
        let name = if id.recipient.is_empty() {
            "post-quantum identity".to_owned()
        } else {
            markdown_code(&id.recipient)
        };
        let _ = writeln!(o, "### {name}\n");
        let _ = writeln!(o, "- Fingerprint: `{}`", id.fingerprint);
        let _ = writeln!(
            o,
            "- Still present: {}",
            if id.still_present { "**yes**" } else { "no (history only)" }
        );
        if !id.authors.is_empty() {
            let _ = writeln!(o, "- Authors: {}", md_escape(&id.authors.join(", ")));
        }
        let _ = writeln!(o, "\n| path | introduced in | removed in | commits | refs | now in |");
        let _ = writeln!(o, "| --- | --- | --- | --- | --- | --- |");
        for e in &id.exposures {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} |",
                markdown_code(&e.path),
                md_escape(&commits(&e.introduced_in)),
                md_escape(&commits(&e.removed_in)),
                e.commits,
                md_escape(&list_or_dash(&e.refs)),
                md_escape(&where_now(e))
            );
        }
        let _ = writeln!(o, "\n#### Blast radius\n");
        if id.exposed_files.is_empty() {
            let _ = writeln!(o, "No SOPS file in the repository or its history lists this recipient.\n");
        } else {
            let _ = writeln!(o, "| file | at HEAD | versions | commits | proved | Secrets (names only) |");
            let _ = writeln!(o, "| --- | --- | --- | --- | --- | --- |");
            for f in &id.exposed_files {
                let at_head = if f.encrypted_to_it_at_head {
                    "encrypted to it"
                } else if f.exists_at_head {
                    "re-encrypted without it"
                } else {
                    "deleted"
                };
                let secrets = f
                    .secrets
                    .iter()
                    .map(|s| {
                        let who = if s.name.is_empty() {
                            String::new()
                        } else {
                            format!("{}/{}: ", s.namespace, s.name)
                        };
                        format!("{who}{}", s.keys.join(", "))
                    })
                    .collect::<Vec<_>>()
                    .join("; ");
                let _ = writeln!(
                    o,
                    "| {} | {at_head} | {} | {} | {} | {} |",
                    markdown_code(&f.path),
                    f.versions,
                    f.commits.len(),
                    if f.proven { "yes" } else { "no" },
                    md_escape(&secrets)
                );
            }
            let _ = writeln!(o);
        }
    }
    if !incident.other_keys.is_empty() {
        let _ = writeln!(o, "## Other private keys\n");
        for (rule, e) in &incident.other_keys {
            let _ = writeln!(
                o,
                "- {} ({}), introduced in {}; now in {}",
                markdown_code(&e.path),
                md_escape(rule),
                md_escape(&commits(&e.introduced_in)),
                md_escape(&where_now(e))
            );
        }
        let _ = writeln!(o);
    }
    if !incident.plaintext_secrets.is_empty() {
        let _ = writeln!(o, "## Plaintext Secrets\n");
        let _ = writeln!(o, "| Secret | file | keys | exposed in | removed in | now in |");
        let _ = writeln!(o, "| --- | --- | --- | --- | --- | --- |");
        for p in &incident.plaintext_secrets {
            let s = &p.secret;
            let who =
                if s.name.is_empty() { "—".to_owned() } else { format!("{}/{}", s.namespace, s.name) };
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} |",
                md_escape(&who),
                markdown_code(&p.exposure.path),
                md_escape(&list_or_dash(&s.keys)),
                md_escape(&commits(&p.exposure.introduced_in)),
                md_escape(&commits(&p.exposure.removed_in)),
                md_escape(&where_now(&p.exposure))
            );
        }
        let _ = writeln!(o);
    }
    let _ = writeln!(o, "## Rotation plan\n");
    for s in &incident.plan {
        let _ = writeln!(o, "{}. [ ] **{}** — {}", s.number, s.title, s.detail);
        if !s.commands.is_empty() {
            let _ = writeln!(o, "   ```sh");
            for c in &s.commands {
                let _ = writeln!(o, "   {c}");
            }
            let _ = writeln!(o, "   ```");
        }
        for i in &s.items {
            let _ = writeln!(o, "   - {}", md_escape(i));
        }
    }
    for n in &incident.notes {
        let _ = writeln!(o, "\n_Note: {}_", md_escape(n));
    }
    o
}
