//! The rotation plan, ordered the safe way: the new key must be able to decrypt everything before
//! the old one is removed, and history is purged only after nothing depends on the old key.

use std::collections::BTreeSet;

use super::{Incident, PlanStep};

/// Fills `incident.plan` from what was found.
pub fn build(incident: &mut Incident) {
    let mut steps: Vec<PlanStep> = Vec::new();
    let mut push = |title: &str, detail: String, commands: Vec<String>, items: Vec<String>| {
        steps.push(PlanStep { number: 0, title: title.to_owned(), detail, commands, items });
    };
    let recipients: Vec<String> =
        incident.identities.iter().filter(|i| !i.recipient.is_empty()).map(|i| i.recipient.clone()).collect();
    let files_at_head: BTreeSet<String> = incident
        .identities
        .iter()
        .flat_map(|i| i.exposed_files.iter())
        .filter(|f| f.encrypted_to_it_at_head)
        .map(|f| f.path.clone())
        .collect();
    let configs: BTreeSet<String> =
        incident.identities.iter().flat_map(|i| i.config_files.iter().cloned()).collect();
    let key_paths: BTreeSet<String> = incident
        .identities
        .iter()
        .flat_map(|i| i.exposures.iter().map(|e| e.path.clone()))
        .chain(incident.other_keys.iter().map(|(_, e)| e.path.clone()))
        .collect();
    let refs: BTreeSet<String> = incident
        .identities
        .iter()
        .flat_map(|i| i.exposures.iter().flat_map(|e| e.refs.iter().cloned()))
        .chain(incident.plaintext_secrets.iter().flat_map(|p| p.exposure.refs.iter().cloned()))
        .chain(incident.other_keys.iter().flat_map(|(_, e)| e.refs.iter().cloned()))
        .collect();

    if !incident.identities.is_empty() {
        push(
            "Generate a new age identity",
            "Create it outside the repository, on the machine or secret store that will hold it. Never commit it."
                .into(),
            vec!["age-keygen -o \"$HOME/.config/sops/age/new-keys.txt\"".into()],
            Vec::new(),
        );
        push(
            "Add the new recipient to .sops.yaml beside the old one",
            "Keep the leaked recipient for now, so that files stay decryptable while they are re-keyed. \
             Add the new `age1…` recipient next to it in every creation rule that lists it."
                .into(),
            Vec::new(),
            if configs.is_empty() {
                recipients.iter().map(|r| format!("every creation rule listing {r}")).collect()
            } else {
                configs.iter().cloned().collect()
            },
        );
        push(
            "Re-key every exposed file with sops updatekeys",
            "This re-wraps each file's data key to the recipients of its creation rule, now including the new one."
                .into(),
            files_at_head.iter().map(|f| format!("sops updatekeys --yes {}", shell_quote(f))).collect(),
            files_at_head.iter().cloned().collect(),
        );
        push(
            "Install the new private key where decryption happens",
            "Flux: replace the `sops-age` Secret in `flux-system`; Argo CD with KSOPS: the key mounted into the \
             repo-server; CI: the `SOPS_AGE_KEY` secret; every operator's keys.txt."
                .into(),
            vec![
                "kubectl -n flux-system create secret generic sops-age --from-file=age.agekey=\"$HOME/.config/sops/age/new-keys.txt\" --dry-run=client -o yaml | kubectl apply -f -".into(),
            ],
            Vec::new(),
        );
        push(
            "Confirm reconciliation with the new key",
            "Every SOPS-encrypted resource must decrypt with the new key before the old one is removed."
                .into(),
            vec![
                "flux reconcile kustomization flux-system --with-source".into(),
                "flux get kustomizations --all-namespaces".into(),
            ],
            Vec::new(),
        );
        push(
            "Remove the leaked recipient and re-key again",
            "Delete the leaked recipient from .sops.yaml, then run updatekeys on the same files, so that the \
             leaked key no longer opens any current version."
                .into(),
            files_at_head.iter().map(|f| format!("sops updatekeys --yes {}", shell_quote(f))).collect(),
            recipients.clone(),
        );
        push(
            "Delete the old key everywhere",
            "Cluster secrets, CI secrets, keys.txt files, password managers, backups. It is compromised."
                .into(),
            Vec::new(),
            recipients.clone(),
        );
    }
    let mut exposed_values: BTreeSet<String> = BTreeSet::new();
    for id in &incident.identities {
        for f in &id.exposed_files {
            for s in &f.secrets {
                exposed_values.insert(describe_secret(&f.path, &s.namespace, &s.name, &s.keys));
            }
            if f.secrets.is_empty() {
                exposed_values.insert(format!("every value in {}", f.path));
            }
        }
    }
    for p in &incident.plaintext_secrets {
        exposed_values.insert(describe_secret(
            &p.exposure.path,
            &p.secret.namespace,
            &p.secret.name,
            &p.secret.keys,
        ));
    }
    for (rule, e) in &incident.other_keys {
        exposed_values.insert(format!("{rule} in {}", e.path));
    }
    if !exposed_values.is_empty() {
        push(
            "Rotate every exposed secret value",
            "Re-keying does not help a value that was readable: old versions remain in history and in every clone. \
             Change each password, token and key at its source, then update the encrypted files."
                .into(),
            Vec::new(),
            exposed_values.into_iter().collect(),
        );
    }
    if !incident.is_clean() {
        let mut commands = Vec::new();
        for p in &key_paths {
            commands.push(format!("git filter-repo --invert-paths --path {}", shell_quote(p)));
        }
        commands.push(
            "git filter-repo --replace-text replacements.txt   # written by --write-replacements, mode 0600"
                .into(),
        );
        commands.push("git push --force --mirror origin".into());
        push(
            "Purge history",
            "`git revert` is not remediation: the secret stays in every earlier commit, every clone, every fork and \
             every cache. Rewrite history with git filter-repo (the replacement-expressions file is written only \
             with --write-replacements FILE, mode 0600, and never printed), force-push every ref that contains it, \
             ask the hosting provider to purge cached views and pull-request refs, and have everyone re-clone."
                .into(),
            commands,
            refs.into_iter().collect(),
        );
        push(
            "Expire exposed CI logs and artifacts",
            "Delete workflow runs, logs and artifacts of the affected commits: a decrypted or echoed value may be in them."
                .into(),
            vec!["gh run list --limit 1000 --json databaseId,headSha   # then: gh run delete ID for affected runs".into()],
            Vec::new(),
        );
    }
    for (i, s) in steps.iter_mut().enumerate() {
        s.number = i + 1;
    }
    incident.plan = steps;
}

fn describe_secret(path: &str, namespace: &str, name: &str, keys: &[String]) -> String {
    let who = match (namespace.is_empty(), name.is_empty()) {
        (_, true) => path.to_owned(),
        (true, false) => format!("Secret {name} ({path})"),
        (false, false) => format!("Secret {namespace}/{name} ({path})"),
    };
    if keys.is_empty() {
        who
    } else {
        format!("{who}: {}", keys.join(", "))
    }
}

/// Quotes a path for a POSIX shell when needed.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./@:+=,".contains(&b)) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}
