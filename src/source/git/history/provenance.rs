//! Step 5: provenance, only for blobs with findings. Which commits hold the blob at the path
//! (the directory chain resolves in memory, and whether a tree holds the file is settled by one
//! more walk of the delta forest), the introducing commit, how many, which refs reach one of them
//! (bitsets pushed along the topological order, 64 findings at a time), whether a ref tip and
//! `HEAD` hold it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use gix::ObjectId;
use rayon::prelude::*;

use super::contexts::Contexts;
use super::graph::{name_refs, ref_order, Graph, Tips};
use super::ids::{BlobIds, Names};
use super::loader::Tables;
use super::trees::{Ent, Forest, TreeInfo, TreeRec};
use super::{ReadBlob, UNSET};
use crate::finding::{Finding, Provenance};
use crate::scan::ScanReport;
use crate::source::git::blobs::{Scanned, Wanted};
use crate::source::git::util::{rfc3339, FxMap, FxSet};

/// What provenance reads of the earlier steps.
pub(super) struct Walked<'a> {
    pub(super) graph: &'a Graph,
    pub(super) tables: &'a Tables,
    pub(super) forest: &'a Forest,
    pub(super) tips: &'a Tips,
    pub(super) head: Option<ObjectId>,
}

/// Step 5: the findings of the scanned blobs into the report, each with its provenance.
/// Findings that differ only in the config set they were found under are one finding; its
/// commits are those of all these config sets. Findings about a file's state are kept only
/// where a ref tip holds the file (see [`is_config_state`]).
pub(super) fn attribute(
    scanned: Vec<Scanned>,
    wanted: &Wanted,
    w: &Walked<'_>,
    cx: &mut Contexts,
    read: ReadBlob<'_>,
    registry: &crate::rules::Registry,
    report: &mut ScanReport,
) {
    let graph = w.graph;
    type Key = (String, ObjectId, String, usize, usize, String, String);
    let mut merged: BTreeMap<Key, (Finding, BTreeSet<u32>, bool)> = BTreeMap::new();
    for mut s in scanned {
        let g = &wanted.groups[s.group as usize];
        let v = &g.variants[s.variant as usize];
        let findings = std::mem::take(&mut s.result.findings);
        report.add(s.bytes, s.result);
        for f in findings {
            let key = (
                f.path.clone(),
                g.id,
                f.rule.clone(),
                f.location.byte_start,
                f.location.byte_end,
                f.fingerprint.clone(),
                f.message.clone(),
            );
            merged.entry(key).or_insert_with(|| (f, BTreeSet::new(), v.tag == 1)).1.insert(v.cfg);
        }
    }
    let mut queries: BTreeMap<Query, usize> = BTreeMap::new();
    for (key, (_, cfgs, object)) in &merged {
        if !object {
            let n = queries.len();
            queries.entry((key.0.clone(), key.1, cfgs.iter().copied().collect())).or_insert(n);
        }
    }
    let mut query_list: Vec<(usize, Query)> = queries.iter().map(|(k, &i)| (i, k.clone())).collect();
    query_list.sort_by_key(|x| x.0);
    let query_list: Vec<Query> = query_list.into_iter().map(|x| x.1).collect();
    // For each queried path, the config governing it under each signature.
    let mut governed: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for q in &query_list {
        if !governed.contains_key(&q.0) {
            let dir = q.0.rsplit_once('/').map_or("", |(d, _)| d);
            let by_sig = (0..cx.sigs.list.len() as u32)
                .map(|sig| {
                    cx.governing.of_path(dir, sig, &cx.sigs, &mut cx.configs, read, &mut report.problems)
                })
                .collect();
            governed.insert(q.0.clone(), by_sig);
        }
    }
    let ctx = AnnotateCtx {
        governed: &governed,
        graph,
        trees: &w.tables.trees,
        recs: &w.tables.recs,
        forest: w.forest,
        names: &w.tables.names,
        blobs: &w.tables.blobs,
        head: w.head,
        commit_tips: &w.tips.commits,
        tree_tips: &w.tips.trees,
    };
    let annotations = annotate(&query_list, &ctx);
    let ref_names = ref_order(&w.tips.commits, &w.tips.trees);
    // File-state findings (rule drift, orphan, recipients, integrity) on versions no ref tip holds
    // cannot be acted on: counted, not listed. At tips, one per path, rule and identity.
    let mut untipped = 0usize;
    let mut config_state: HashMap<(String, String, String), usize> = HashMap::new();
    for (key, (mut f, cfgs, object)) in merged {
        let blob = Some(key.1.to_string());
        f.provenance = Some(if object {
            let mut refs: Vec<String> =
                w.tips.blobs.iter().filter(|b| b.1 == key.1).map(|b| b.0.clone()).collect();
            refs.sort();
            Provenance { source: "object".into(), blob, refs, ..Provenance::default() }
        } else {
            let q = queries[&(key.0.clone(), key.1, cfgs.iter().copied().collect::<Vec<u32>>())];
            let a = &annotations[q];
            let intro = a.intro.map(|c| &graph.commits[c as usize]);
            Provenance {
                source: "commit".into(),
                blob,
                commit: intro.map(|c| c.0.to_string()),
                author: intro.map(|c| c.1.author.clone()),
                date: intro.map(|c| rfc3339(c.1.author_time)),
                commits: Some(a.count),
                refs: name_refs(&a.refs, &ref_names),
                at_head: Some(a.at_head),
            }
        });
        if is_config_state(&f.rule) && !object {
            let q = queries[&(key.0.clone(), key.1, cfgs.iter().copied().collect::<Vec<u32>>())];
            if !annotations[q].at_tip {
                untipped += 1;
                continue;
            }
            // At another ref's tip only (a stale branch, an old tag): worth knowing, not an
            // error of the branch being worked on, unless the configuration sets the rule's
            // severity.
            if !annotations[q].at_head {
                if registry.configured_severity(&f.rule).is_none() {
                    f.severity = crate::finding::Severity::Note;
                }
                f.properties.insert("not_at_head".into(), serde_json::Value::from(true));
            }
            let group = (f.path.clone(), f.rule.clone(), f.fingerprint.clone());
            if let Some(&i) = config_state.get(&group) {
                crate::finding::merge_version(&mut report.findings[i], f);
                continue;
            }
            config_state.insert(group, report.findings.len());
        }
        report.findings.push(f);
    }
    if untipped > 0 {
        report.notes.push(format!(
            "{untipped} findings about the state of file versions no ref tip holds (rule drift, orphans, recipients, integrity) are not listed (they cannot be acted on; leaks in those versions are)"
        ));
    }
}

/// Rules about a file's state, against `.sops.yaml` (or about a `.sops.yaml` itself) or as a
/// sops file (a broken structure, a MAC that does not verify, no identity to verify it), not
/// about exposed values: in history, reported only where a ref tip holds the blob. A version
/// that was broken and fixed before any ref pointed at it needs no repair; a leak in it does.
fn is_config_state(rule: &str) -> bool {
    matches!(
        rule,
        crate::rules::id::SOPS_RULE_DRIFT
            | crate::rules::id::SOPS_ORPHAN
            | crate::rules::id::SOPS_RECIPIENTS
            | crate::rules::id::SOPS_CONFIG_INVALID
            | crate::rules::id::SOPS_MALFORMED
            | crate::rules::id::SOPS_MAC_MISMATCH
            | crate::rules::id::SOPS_VALUE_TAMPERED
            | crate::rules::id::SOPS_NO_IDENTITY
    )
}

/// `(path, blob, governing configs)` whose provenance a finding needs.
type Query = (String, ObjectId, Vec<u32>);

/// Provenance of one `(path, blob, config sets)`.
#[derive(Default)]
struct Annotation {
    intro: Option<u32>,
    pub(super) count: usize,
    /// Positions in [`ref_order`] of the refs that contain it.
    pub(super) refs: Vec<u32>,
    at_head: bool,
    /// Whether a ref tip (a commit tip's tree or a tree tip) holds the file: what a config-state
    /// finding needs to be actionable.
    at_tip: bool,
}

/// Queried directories by name ids.
#[derive(Default)]
struct Trie {
    nodes: Vec<TrieNode>,
}

#[derive(Default)]
struct TrieNode {
    pub(super) children: Vec<(u32, u32)>,
    queries: Vec<u32>,
}

impl Trie {
    pub(super) fn add(&mut self, dir: &[u32], query: u32) {
        if self.nodes.is_empty() {
            self.nodes.push(TrieNode::default());
        }
        let mut n = 0usize;
        for &name in dir {
            n = match self.nodes[n].children.iter().find(|c| c.0 == name) {
                Some(&(_, child)) => child as usize,
                None => {
                    self.nodes.push(TrieNode::default());
                    let child = self.nodes.len() - 1;
                    self.nodes[n].children.push((name, child as u32));
                    child
                }
            };
        }
        self.nodes[n].queries.push(query);
    }

    /// The queries whose file tree `t` (standing at `node`) holds, sorted. `empty` is shared by
    /// every empty answer (most are), so that those cost no allocation.
    #[allow(clippy::too_many_arguments)]
    fn hits(
        &self,
        node: u32,
        t: u32,
        trees: &[Option<TreeInfo>],
        holds: &[std::sync::Arc<[u32]>],
        keys: &[Option<u32>],
        memo: &mut FxMap<(u32, u32), std::sync::Arc<[u32]>>,
        empty: &std::sync::Arc<[u32]>,
    ) -> std::sync::Arc<[u32]> {
        if node != 0 {
            if let Some(h) = memo.get(&(node, t)) {
                return h.clone();
            }
        }
        let Some(n) = self.nodes.get(node as usize) else { return empty.clone() };
        let mut out: Vec<u32> = n
            .queries
            .iter()
            .copied()
            .filter(|&q| keys[q as usize].is_some_and(|k| holds[t as usize].binary_search(&k).is_ok()))
            .collect();
        if let Some(info) = trees.get(t as usize).and_then(Option::as_ref) {
            for &(name, child) in &n.children {
                if let Some(&(_, sub)) = info.subtrees.iter().find(|s| s.0 == name) {
                    out.extend(self.hits(child, sub, trees, holds, keys, memo, empty).iter().copied());
                }
            }
        }
        out.sort_unstable();
        let out: std::sync::Arc<[u32]> =
            if out.is_empty() { empty.clone() } else { std::sync::Arc::from(out) };
        if node != 0 {
            memo.insert((node, t), out.clone());
        }
        out
    }
}

/// What [`annotate`] reads.
struct AnnotateCtx<'a> {
    /// Per queried path, the governing config under each signature.
    governed: &'a BTreeMap<String, Vec<u32>>,
    pub(super) graph: &'a Graph,
    pub(super) trees: &'a [Option<TreeInfo>],
    pub(super) recs: &'a [Option<TreeRec>],
    pub(super) forest: &'a Forest,
    pub(super) names: &'a Names,
    pub(super) blobs: &'a BlobIds,
    pub(super) head: Option<ObjectId>,
    pub(super) commit_tips: &'a [(String, u32)],
    pub(super) tree_tips: &'a [(String, u32)],
}

fn annotate(queries: &[Query], cx: &AnnotateCtx<'_>) -> Vec<Annotation> {
    let mut out: Vec<Annotation> = (0..queries.len()).map(|_| Annotation::default()).collect();
    if queries.is_empty() {
        return out;
    }
    let graph = cx.graph;
    let order = ref_order(cx.commit_tips, cx.tree_tips);
    let by_name: HashMap<&str, u32> = order.iter().enumerate().map(|(i, n)| (*n, i as u32)).collect();
    let position = |name: &str| by_name.get(name).copied().unwrap_or(0);
    // Each query's file as an entry (name id, blob id); entries no tree has cannot be found.
    let file_of = |q: &Query| -> Option<Ent> {
        let file = q.0.rsplit('/').next().unwrap_or(&q.0);
        let name = *cx.names.map.get(file.as_bytes())?;
        let blob = *cx.blobs.index.get(&q.1)?;
        Some(Ent { name, blob })
    };
    let mut key_of: FxMap<(u32, u32), u32> = FxMap::default();
    let query_keys: Vec<Option<u32>> = queries
        .iter()
        .map(|q| {
            file_of(q).map(|e| {
                let n = key_of.len() as u32;
                *key_of.entry((e.name, e.blob)).or_insert(n)
            })
        })
        .collect();
    // Which of these entries each tree holds: one more walk of the delta forest, tracking only
    // the query entries through each tree's edits.
    // A tree whose edits touch none of the query entries shares its base's list.
    let empty: std::sync::Arc<[u32]> = std::sync::Arc::from(Vec::new());
    let mut holds: Vec<std::sync::Arc<[u32]>> = vec![empty.clone(); cx.recs.len()];
    // Most entries are not queried: a bit per blob turns them away before the map lookup.
    let mut queried_blob = vec![false; key_of.keys().map(|k| k.1 as usize + 1).max().unwrap_or(0)];
    #[allow(clippy::iter_over_hash_type)] // setting bits: the order does not matter
    for k in key_of.keys() {
        queried_blob[k.1 as usize] = true;
    }
    let keys_in = |ents: &[Ent]| -> Vec<u32> {
        ents.iter()
            .filter(|e| queried_blob.get(e.blob as usize).copied().unwrap_or(false))
            .filter_map(|e| key_of.get(&(e.name, e.blob)).copied())
            .collect()
    };
    // Each delta tree of the forest on its own (in parallel): a tree's base is its parent there.
    let per_root: Vec<Vec<(u32, std::sync::Arc<[u32]>)>> = cx
        .forest
        .roots
        .par_iter()
        .map(|&root| {
            let mut out = Vec::new();
            let mut stack: Vec<(u32, Option<std::sync::Arc<[u32]>>)> = vec![(root, None)];
            while let Some((t, base)) = stack.pop() {
                let Some(rec) = &cx.recs[t as usize] else { continue };
                let (gone, new) = (keys_in(&rec.removed), keys_in(&rec.added));
                let h = match base {
                    Some(b) if gone.is_empty() && new.is_empty() => b,
                    base => {
                        let mut h: Vec<u32> = base
                            .map(|b| b.iter().copied().filter(|k| !gone.contains(k)).collect())
                            .unwrap_or_default();
                        h.extend(new);
                        h.sort_unstable();
                        h.dedup();
                        if h.is_empty() {
                            empty.clone()
                        } else {
                            std::sync::Arc::from(h)
                        }
                    }
                };
                for &k in &cx.forest.children[t as usize] {
                    stack.push((k, Some(h.clone())));
                }
                if !h.is_empty() {
                    out.push((t, h));
                }
            }
            out
        })
        .collect();
    for (t, h) in per_root.into_iter().flatten() {
        holds[t as usize] = h;
    }
    let head_commit = cx.head.and_then(|h| graph.commit_index.get(&h).copied());
    let mut contain: Vec<Vec<u32>> = vec![Vec::new(); queries.len()];
    // The queried directories as a trie of name ids, with the queries of each directory's files.
    let mut trie = Trie::default();
    for (qi, q) in queries.iter().enumerate() {
        if query_keys[qi].is_none() {
            continue;
        }
        let dir = q.0.rsplit_once('/').map_or("", |(d, _)| d);
        let ids: Option<Vec<u32>> = if dir.is_empty() {
            Some(Vec::new())
        } else {
            dir.split('/').map(|p| cx.names.map.get(p.as_bytes()).copied()).collect()
        };
        if let Some(ids) = ids {
            trie.add(&ids, qi as u32);
        }
    }
    // Which queries a tree holds below a trie node; memoized below the root, where trees are
    // shared by many commits. Commits are looked at in parallel, each thread with its own memo.
    type Memo = FxMap<(u32, u32), std::sync::Arc<[u32]>>;
    let found_in = |t: u32, memo: &mut Memo| trie.hits(0, t, cx.trees, &holds, &query_keys, memo, &empty);
    let per_commit: Vec<(u32, std::sync::Arc<[u32]>)> = graph
        .topo
        .par_iter()
        .filter(|&&c| graph.root[c as usize] != UNSET)
        .map_init(Memo::default, |memo, &c| (c, found_in(graph.root[c as usize], memo)))
        .filter(|(_, hits)| !hits.is_empty())
        .collect();
    let mut memo = Memo::default();
    let mut found = |t: u32| -> Vec<u32> { found_in(t, &mut memo).to_vec() };
    let governed_of: Vec<Option<&Vec<u32>>> = queries.iter().map(|q| cx.governed.get(&q.0)).collect();
    let tip_commits: FxSet<u32> = cx.commit_tips.iter().map(|t| t.1).collect();
    for (c, hits) in per_commit {
        let tip = tip_commits.contains(&c);
        for &qi in hits.iter() {
            let qi = qi as usize;
            if Some(c) == head_commit {
                out[qi].at_head = true;
            }
            out[qi].at_tip |= tip;
            let governing = governed_of[qi].and_then(|g| g.get(graph.cfg[c as usize] as usize));
            if governing.is_some_and(|g| queries[qi].2.contains(g)) {
                contain[qi].push(c);
            }
        }
    }
    for (name, t) in cx.tree_tips {
        for qi in found(*t) {
            out[qi as usize].refs.push(position(name));
            out[qi as usize].at_tip = true;
        }
    }
    for (qi, cs) in contain.iter().enumerate() {
        out[qi].count = cs.len();
        out[qi].intro = cs.iter().copied().min_by_key(|&c| graph.rank[c as usize]);
    }
    // Which refs reach a containing commit: 64 queries at a time, bits pushed along the order.
    let tip_positions: Vec<u32> = cx.commit_tips.iter().map(|(name, _)| position(name)).collect();
    let mut bits = vec![0u64; graph.commits.len()];
    for (batch_no, batch) in contain.chunks(64).enumerate() {
        bits.iter_mut().for_each(|b| *b = 0);
        for (bit, cs) in batch.iter().enumerate() {
            for &c in cs {
                bits[c as usize] |= 1 << bit;
            }
        }
        for &c in &graph.topo {
            let mut acc = bits[c as usize];
            for &p in &graph.parents[c as usize] {
                acc |= bits[p as usize];
            }
            bits[c as usize] = acc;
        }
        for ((_, tip), &pos) in cx.commit_tips.iter().zip(&tip_positions) {
            let mut m = bits[*tip as usize];
            while m != 0 {
                let bit = m.trailing_zeros() as usize;
                m &= m - 1;
                out[batch_no * 64 + bit].refs.push(pos);
            }
        }
    }
    for a in &mut out {
        a.refs.sort();
        a.refs.dedup();
    }
    out
}
