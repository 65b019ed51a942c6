//! The credential files of the GitOps world, recognised by their schema whatever their name:
//! kubeconfigs, talosconfigs, the Talos secrets bundle (`talosctl gen secrets`, talhelper's
//! `talsecret.yaml`), rendered Talos machine configs and Docker `config.json` files.
//!
//! A cheap byte test picks the files that can be one of them; only those are parsed (YAML, or
//! JSON as YAML flow syntax). Each credential field holding a literal is one hit on the value:
//! not SOPS `ENC[…]` values, empty values, `${VAR}` substitutions or `{{ … }}` templates. A file
//! with sops metadata is checked too: the values its own encryption rule left in clear are
//! reported, with that said in the message.

use std::ops::Range;

use crate::finding::Hit;
use crate::rules::id;
use crate::yaml::{self, Node};

/// Rule for kubeconfig user credentials.
pub const KUBECONFIG_RULE: &str = id::KUBE_KUBECONFIG_CREDENTIAL;
/// Rule for talosconfig client keys.
pub const TALOSCONFIG_RULE: &str = id::TALOS_TALOSCONFIG;
/// Rule for the Talos secrets bundle.
pub const TALOS_BUNDLE_RULE: &str = id::TALOS_SECRETS_BUNDLE;
/// Rule for rendered Talos machine configs.
pub const TALOS_MACHINE_RULE: &str = id::TALOS_MACHINE_CONFIG;
/// Rule for Docker registry credentials.
pub const DOCKER_RULE: &str = id::DOCKER_REGISTRY_AUTH;

/// What a sops file's own rule leaving a value in clear means, for messages.
pub const LEFT_IN_CLEAR: &str = "; the file's own sops encryption rule left it readable: widen `encrypted_regex` (or the suffix) in the creation rule, re-encrypt with `sops`, and rotate the value";

/// The words [`is_candidate`] looks for. `contexts` comes before `context` so that the
/// leftmost-first search reports the longer one where both start.
const WORDS: &[&str] = &[
    "users",
    "clusters",
    "contexts",
    "context",
    "trustdinfo",
    "bootstraptoken",
    "secretboxencryptionsecret",
    "aescbcencryptionsecret",
    "machine",
    "auths",
    "Config",
    "v1alpha1",
];

/// One pass over a file for every word of [`WORDS`]: SIMD Teddy where available (one pass
/// instead of one `memmem` pass per word, which was most of this check's cost), else an
/// automaton. Built once.
enum WordSearch {
    Teddy(aho_corasick::packed::Searcher),
    Automaton(aho_corasick::AhoCorasick),
}

fn word_search() -> &'static WordSearch {
    static SEARCH: std::sync::OnceLock<WordSearch> = std::sync::OnceLock::new();
    SEARCH.get_or_init(|| match aho_corasick::packed::Config::new().builder().extend(WORDS).build() {
        Some(t) => WordSearch::Teddy(t),
        None => WordSearch::Automaton(
            aho_corasick::AhoCorasick::builder()
                .match_kind(aho_corasick::MatchKind::LeftmostFirst)
                .build(WORDS)
                .expect("a dozen literal words always build"),
        ),
    })
}

/// Calls `at(word, start)` for every occurrence of a word of [`WORDS`] (where `contexts` starts,
/// only `contexts`: `context` there is followed by `s`, so never a key).
fn each_word(data: &[u8], mut at: impl FnMut(usize, usize)) {
    match word_search() {
        WordSearch::Teddy(t) => {
            let mut pos = 0;
            while let Some(m) = t.find_in(data, aho_corasick::Span::from(pos..data.len())) {
                at(m.pattern().as_usize(), m.start());
                pos = m.start() + 1;
            }
        }
        WordSearch::Automaton(ac) => {
            let mut pos = 0;
            while let Some(m) = ac.find(aho_corasick::Input::new(data).span(pos..data.len())) {
                at(m.pattern().as_usize(), m.start());
                pos = m.start() + 1;
            }
        }
    }
}

/// Whether the `len` bytes at `at` are a mapping key: first on a line (any indentation) or after
/// `{` or `,` (flow syntax) and followed by `:`, or quoted (`"key"`, `'key'`, as JSON writes
/// every key).
fn is_key_at(data: &[u8], at: usize, len: usize) -> bool {
    let before = &data[..at];
    let after = &data[at + len..];
    let quoted = |q: u8| before.last() == Some(&q) && after.first() == Some(&q);
    if quoted(b'"') || quoted(b'\'') {
        return true;
    }
    let rest = after.iter().position(|&b| b != b' ' && b != b'\t');
    let lead = before.iter().rposition(|&b| b != b' ' && b != b'\t');
    rest.is_some_and(|i| after[i] == b':') && lead.is_none_or(|i| matches!(before[i], b'\n' | b'{' | b','))
}

/// Whether `key` occurs as a mapping key (see [`is_key_at`]). Looser than "a key of the root
/// mapping", which is what the checks below look for.
#[cfg(test)]
fn has_key(data: &[u8], key: &str) -> bool {
    memchr::memmem::find_iter(data, key.as_bytes()).any(|at| is_key_at(data, at, key.len()))
}

/// Cheap test: could the file be one of the recognised credential files? It looks for the keys
/// each check below needs at the root, so that only a few files in a thousand are parsed.
pub fn is_candidate(data: &[u8]) -> bool {
    if data.len() > 4 * 1024 * 1024 {
        return false;
    }
    // Bit `i`: WORDS[i] occurs as a key (`keys`) or anywhere (`words`).
    let (mut keys, mut words) = (0u32, 0u32);
    each_word(data, |w, at| {
        words |= 1 << w;
        if keys & (1 << w) == 0 && is_key_at(data, at, WORDS[w].len()) {
            keys |= 1 << w;
        }
    });
    let bit = |w: &str| 1u32 << WORDS.iter().position(|x| *x == w).expect("a word of WORDS");
    candidate_shape(|w| keys & bit(w) != 0, |w| words & bit(w) != 0)
}

/// Which keys (`key`) and words anywhere (`word`) make a file a candidate.
fn candidate_shape(key: impl Fn(&str) -> bool, word: impl Fn(&str) -> bool) -> bool {
    // kubeconfig: `users` and one of `clusters`, `contexts`, `kind: Config`.
    key("users") && (key("clusters") || key("contexts") || word("Config"))
        // talosconfig: `context` and `contexts`.
        || key("contexts") && key("context")
        // Talos secrets bundle.
        || ["trustdinfo", "bootstraptoken", "secretboxencryptionsecret", "aescbcencryptionsecret"]
            .iter()
            .any(|k| key(k))
        // Talos machine config: `version: v1alpha1` and `machine`.
        || key("machine") && word("v1alpha1")
        // Docker config.
        || key("auths")
}

/// Checks one text file; files that do not parse are left alone (other detectors still run).
pub fn check(text: &str, hits: &mut Vec<Hit>) {
    let Ok(stream) = yaml::parse(text) else { return };
    for doc in &stream.documents {
        let root = &doc.root;
        if root.as_map().is_none() {
            continue;
        }
        let in_sops = root.get("sops").is_some_and(|s| s.as_map().is_some());
        let mut c = Checker { text, hits, in_sops };
        c.kubeconfig(root);
        c.talosconfig(root);
        c.talos_bundle(root);
        c.talos_machine(root);
        c.docker(root);
    }
}

struct Checker<'a> {
    text: &'a str,
    hits: &'a mut Vec<Hit>,
    in_sops: bool,
}

/// Whether a value is a literal that can be a credential.
fn is_literal(v: &str) -> bool {
    let v = v.trim();
    !(v.is_empty()
        || v.starts_with("ENC[")
        || v.contains("{{")
        || (v.starts_with("${") && v.ends_with('}'))
        || v.starts_with("op://")
        || v.starts_with("ref+"))
}

fn path_get<'n>(node: &'n Node, path: &[&str]) -> Option<&'n Node> {
    path.iter().try_fold(node, |n, k| n.get(k))
}

impl Checker<'_> {
    fn report(&mut self, rule: &str, node: &Node, what: &str, field: &str) {
        let Some(v) = node.as_str() else { return };
        if node.is_null() || !is_literal(v) {
            return;
        }
        let mut message = format!("{what}: `{field}` holds a credential in clear");
        if self.in_sops {
            message.push_str(LEFT_IN_CLEAR);
        }
        let span = inner(self.text, node.span.clone());
        let mut hit =
            Hit::new(rule, node.span.clone(), message).with_secret(span).with_property("field", field);
        if self.in_sops {
            hit = hit.with_property("left_in_clear_by_sops", true);
        }
        self.hits.push(hit);
    }

    fn kubeconfig(&mut self, root: &Node) {
        let Some(users) = root.get("users").and_then(Node::as_seq) else { return };
        let looks_like = root.get("clusters").is_some()
            || root.get("contexts").is_some()
            || root.get("kind").and_then(Node::as_str) == Some("Config");
        if !looks_like {
            return;
        }
        for u in users {
            let name = u.get("name").and_then(Node::as_str).unwrap_or("");
            let Some(user) = u.get("user") else { continue };
            for field in ["client-key-data", "token", "password"] {
                if let Some(v) = user.get(field) {
                    self.report(KUBECONFIG_RULE, v, "kubeconfig", &format!("users[{name}].user.{field}"));
                }
            }
            if let Some(cfg) = path_get(user, &["auth-provider", "config"]) {
                for field in ["client-secret", "refresh-token", "id-token", "access-token"] {
                    if let Some(v) = cfg.get(field) {
                        self.report(
                            KUBECONFIG_RULE,
                            v,
                            "kubeconfig",
                            &format!("users[{name}].user.auth-provider.config.{field}"),
                        );
                    }
                }
            }
        }
    }

    fn talosconfig(&mut self, root: &Node) {
        let Some(contexts) = root.get("contexts").and_then(Node::as_map) else { return };
        if root.get("context").is_none() {
            return;
        }
        for (k, ctx) in contexts {
            let name = k.as_str().unwrap_or("");
            if ctx.get("endpoints").is_none() && ctx.get("crt").is_none() {
                continue;
            }
            if let Some(v) = ctx.get("key") {
                self.report(TALOSCONFIG_RULE, v, "talosconfig", &format!("contexts.{name}.key"));
            }
        }
    }

    fn talos_bundle(&mut self, root: &Node) {
        let secrets = root.get("secrets");
        let is_bundle = root.get("trustdinfo").is_some()
            || secrets.is_some_and(|s| {
                s.get("bootstraptoken").is_some()
                    || s.get("secretboxencryptionsecret").is_some()
                    || s.get("aescbcencryptionsecret").is_some()
            });
        if !is_bundle {
            return;
        }
        const WHAT: &str = "Talos secrets bundle";
        if let Some(v) = path_get(root, &["cluster", "secret"]) {
            self.report(TALOS_BUNDLE_RULE, v, WHAT, "cluster.secret");
        }
        for field in ["bootstraptoken", "secretboxencryptionsecret", "aescbcencryptionsecret"] {
            if let Some(v) = secrets.and_then(|s| s.get(field)) {
                self.report(TALOS_BUNDLE_RULE, v, WHAT, &format!("secrets.{field}"));
            }
        }
        if let Some(v) = path_get(root, &["trustdinfo", "token"]) {
            self.report(TALOS_BUNDLE_RULE, v, WHAT, "trustdinfo.token");
        }
        if let Some(certs) = root.get("certs").and_then(Node::as_map) {
            for (k, c) in certs {
                let name = k.as_str().unwrap_or("");
                if let Some(v) = c.get("key") {
                    self.report(TALOS_BUNDLE_RULE, v, WHAT, &format!("certs.{name}.key"));
                }
            }
        }
    }

    fn talos_machine(&mut self, root: &Node) {
        if root.get("version").and_then(Node::as_str) != Some("v1alpha1") {
            return;
        }
        let Some(machine) = root.get("machine").filter(|m| m.as_map().is_some()) else { return };
        const WHAT: &str = "Talos machine config";
        let fields: &[(&Node, &[&str], &str)] =
            &[(machine, &["token"], "machine.token"), (machine, &["ca", "key"], "machine.ca.key")];
        for (n, path, field) in fields {
            if let Some(v) = path_get(n, path) {
                self.report(TALOS_MACHINE_RULE, v, WHAT, field);
            }
        }
        if let Some(cluster) = root.get("cluster") {
            for (path, field) in [
                (&["secret"][..], "cluster.secret"),
                (&["token"][..], "cluster.token"),
                (&["secretboxEncryptionSecret"][..], "cluster.secretboxEncryptionSecret"),
                (&["aescbcEncryptionSecret"][..], "cluster.aescbcEncryptionSecret"),
                (&["ca", "key"][..], "cluster.ca.key"),
                (&["aggregatorCA", "key"][..], "cluster.aggregatorCA.key"),
                (&["etcd", "ca", "key"][..], "cluster.etcd.ca.key"),
                (&["serviceAccount", "key"][..], "cluster.serviceAccount.key"),
            ] {
                if let Some(v) = path_get(cluster, path) {
                    self.report(TALOS_MACHINE_RULE, v, WHAT, field);
                }
            }
        }
    }

    fn docker(&mut self, root: &Node) {
        let Some(auths) = root.get("auths").and_then(Node::as_map) else { return };
        for (k, entry) in auths {
            let host = k.as_str().unwrap_or("");
            for field in ["auth", "password", "identitytoken", "registrytoken"] {
                if let Some(v) = entry.get(field) {
                    self.report(
                        DOCKER_RULE,
                        v,
                        "Docker registry credentials",
                        &format!("auths.{host}.{field}"),
                    );
                }
            }
        }
    }
}

/// Shrinks a quoted scalar's span to its content.
pub(crate) fn inner(text: &str, span: Range<usize>) -> Range<usize> {
    let b = text.as_bytes();
    if span.end >= span.start + 2 && span.end <= b.len() {
        let (f, l) = (b[span.start], b[span.end - 1]);
        if (f == b'"' && l == b'"') || (f == b'\'' && l == b'\'') {
            return span.start + 1..span.end - 1;
        }
    }
    span
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `is_candidate` as one `memmem` pass per word: what the single search must agree with.
    fn candidate_reference(data: &[u8]) -> bool {
        candidate_shape(|k| has_key(data, k), |w| memchr::memmem::find(data, w.as_bytes()).is_some())
    }

    #[test]
    fn one_pass_candidate_check_agrees_with_a_pass_per_word() {
        let texts = [
            "apiVersion: v1\nkind: Config\nusers:\n- name: a\nclusters: []\n",
            "context: a\ncontexts:\n  a: {}\n",
            "contexts:\n  a: {}\n",
            "{\"contexts\": {}, \"context\": \"a\"}",
            "contextscontext: 1\n",
            "secrets:\n  bootstraptoken: x\ntrustdinfo:\n  token: y\n",
            "version: v1alpha1\nmachine:\n  token: x\n",
            "machine: 1 # v1alpha\n",
            "{\"auths\": {}}",
            "existing-users: 3\nclusters: 1\n",
            "users:\n  - a\n# clusters: no\nConfigMap: x\n",
            "aescbcencryptionsecret: z\nsecretboxencryptionsecret: w\n",
        ];
        for t in texts {
            // Every prefix too: a word cut at the end of the data, or a key without its colon.
            for cut in 0..=t.len() {
                let d = &t.as_bytes()[..cut];
                assert_eq!(is_candidate(d), candidate_reference(d), "{:?}", String::from_utf8_lossy(d));
            }
        }
    }

    fn rules(text: &str) -> Vec<String> {
        assert!(is_candidate(text.as_bytes()), "not a candidate: {text}");
        let mut hits = Vec::new();
        check(text, &mut hits);
        hits.into_iter().map(|h| h.properties["field"].as_str().unwrap_or("").to_owned()).collect()
    }

    #[test]
    fn candidates_need_the_root_keys() {
        assert!(has_key(b"users:\n- name: a", "users"));
        assert!(has_key(b"a: 1\n  users :", "users"));
        assert!(has_key(b"{\"users\": []}", "users"));
        assert!(has_key(b"{users: []}", "users"));
        assert!(has_key(b"{a: 1, users: []}", "users"));
        assert!(!has_key(b"  # users: none", "users"));
        assert!(!has_key(b"existing-users: 3", "users"));
        assert!(!has_key(b"users", "users"));
        assert!(!has_key(b"the users list", "users"));
        // A Flux manifest mentioning users, tokens and passwords is not parsed.
        assert!(!is_candidate(
            b"kind: HelmRelease\nspec:\n  values:\n    token: x\n    password: y\n    users: z\n"
        ));
        assert!(is_candidate(b"apiVersion: v1\nkind: Config\nusers:\n- name: a\n"));
        assert!(is_candidate(b"context: a\ncontexts:\n  a: {}\n"));
        assert!(is_candidate(b"secrets:\n  bootstraptoken: x\n"));
        assert!(is_candidate(b"version: v1alpha1\nmachine:\n  token: x\n"));
        assert!(is_candidate(b"{\"auths\": {}}"));
    }

    #[test]
    fn each_schema() {
        assert_eq!(
            rules("apiVersion: v1\nkind: Config\nclusters: []\nusers:\n- name: admin\n  user:\n    client-certificate-data: Zm9v\n    client-key-data: YmFy\n    token: abc123def456\n"),
            ["users[admin].user.client-key-data", "users[admin].user.token"]
        );
        assert_eq!(
            rules("context: home\ncontexts:\n  home:\n    endpoints: [10.0.0.1]\n    ca: Zm9v\n    crt: Zm9v\n    key: YmFy\n"),
            ["contexts.home.key"]
        );
        assert_eq!(
            rules("cluster:\n  id: abc\n  secret: s3cr3t\nsecrets:\n  bootstraptoken: ab.cd\n  secretboxencryptionsecret: ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]\ntrustdinfo:\n  token: t.k\ncerts:\n  etcd:\n    crt: Zm9v\n    key: YmFy\n"),
            ["cluster.secret", "secrets.bootstraptoken", "trustdinfo.token", "certs.etcd.key"]
        );
        assert_eq!(
            rules("version: v1alpha1\nmachine:\n  type: worker\n  token: ab.cd\n  ca:\n    crt: Zm9v\n    key: \"\"\ncluster:\n  secret: s\n  token: t\n  ca:\n    crt: Zm9v\n"),
            ["machine.token", "cluster.secret", "cluster.token"]
        );
        assert_eq!(rules("{\"auths\": {\"ghcr.io\": {\"auth\": \"dXNlcjpwYXNz\"}}}"), ["auths.ghcr.io.auth"]);
    }
}
