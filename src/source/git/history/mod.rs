//! `--history`: every blob reachable from any ref, each read once, at object-database speed.
//!
//! Walking every commit's tree would read the same trees hundreds of thousands of times, and
//! looking objects up by id decompresses delta bases again and again. Instead:
//!
//! 1. **Commits and trees** are streamed out of the packs once (see [`super::odb`]). A commit
//!    keeps its tree, parents, author and dates. A tree keeps its subtrees and its `.sops.yaml`,
//!    and its file entries *as an edit of its delta base*: the pack stores most tree versions as
//!    deltas of a similar tree (usually the previous version of the same directory), so the
//!    entries that differ are few. Only trees that are not deltas keep their whole list.
//! 2. **Graph.** Commits reachable from the refs are ordered topologically. Each tree's set of
//!    `.sops.yaml` files (its *signature*) is computed bottom-up, once per tree; a commit's configs
//!    are its root tree's signature. Directory contexts `(tree, path, configs)` are then pushed
//!    top-down, each distinct context once: a subtree shared by 10,000 commits is visited once
//!    per distinct path and config set, not 10,000 times.
//! 3. **Blob names.** The delta forest of step 1 is walked base first, rebuilding each tree's
//!    entries from its base's. A tree whose contexts its base also had contributes only the
//!    entries it added; the others were named when the base was. This yields the distinct
//!    `(blob, path, configs)` triples without reading a tree a second time.
//! 4. **Blobs.** Every blob in the packs is inflated once (streamed, in parallel) and the wanted
//!    ones are scanned once per distinct `(path, configs)`.
//! 5. **Provenance**, only for blobs with findings: which commits hold the blob at that path (the
//!    directory chain resolves in memory, and whether the directory's tree holds the file is
//!    settled by one more walk of the delta forest), the earliest in topological order (the
//!    introducing commit), how many, which refs reach one of them (bitsets pushed along the
//!    topological order, 64 findings at a time), and whether `HEAD` holds it.

mod contexts;
mod graph;
mod ids;
mod loader;
mod naming;
mod provenance;
mod trees;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};

use gix::objs::Kind;
use gix::ObjectId;
use rayon::prelude::*;

use super::blobs::{self, Variant, Wanted};
use super::configs::Configs;
use super::odb::Odb;
use super::util::{self, join, one_line, parse_commit, rfc3339, CommitMeta, FxMap, FxSet, Tally};
use super::{GitError, GitOptions, Progress};
use crate::finding::{Finding, Provenance};
use crate::scan::{Engine, ScanReport};
use crate::source::Problem;

use contexts::{push_contexts, Dirs, Governing, Sigs};
use graph::{list_refs, name_refs, ref_order, Graph};
use ids::{BlobIds, Local, Names};
use loader::{Loader, Step1, TreeStore};
use naming::Step3;
use provenance::{annotate, is_config_state, AnnotateCtx, Query};
use trees::{analyze, Ent, Forest, Frontier, Kept, TreeInfo, TreeRec};

/// No such tree, commit or signature (yet).
const UNSET: u32 = u32::MAX;

pub(crate) fn scan(
    engine: &Engine,
    start: &Path,
    opts: &GitOptions,
    progress: Option<&dyn Progress>,
) -> Result<ScanReport, GitError> {
    let safe = util::open(start)?;
    let repo = safe.to_thread_local();
    let hash = repo.object_hash();
    let mut report = ScanReport::default();
    let (mut odb, odb_problems) = Odb::open(&safe);
    odb.blob_limit = opts.max_file_size;
    for message in odb_problems {
        report.problems.push(Problem { path: "(object database)".into(), message });
    }
    let refs = list_refs(&repo, &mut report)?;
    let head = repo.head_id().ok().map(|id| id.detach());
    let shallow: HashSet<ObjectId> =
        repo.shallow_commits().ok().flatten().map(|c| c.iter().copied().collect()).unwrap_or_default();

    // Blobs are streamed from the start, on other threads: while commits and trees are read (the
    // stream fills the gaps of that traversal) and while the trees are walked for names.
    let prefetch = blobs::Prefetch::new();
    let result = std::thread::scope(|scope| {
        let stream = scope.spawn(|| prefetch.stream(&odb, opts, progress));
        // Whatever happens below (an error, a panic), the stream must not wait for a wanted set.
        struct Abandon<'a>(&'a blobs::Prefetch);
        impl Drop for Abandon<'_> {
            fn drop(&mut self) {
                self.0.abandon();
            }
        }
        let _abandon = Abandon(&prefetch);
        // Step 1: commits and trees.
        let mut tree_ids: Vec<ObjectId> = odb.ids_of_kind(Kind::Tree);
        tree_ids.sort_unstable();
        let mut tree_index: gix::hashtable::HashMap<ObjectId, u32> =
            tree_ids.iter().enumerate().map(|(i, id)| (*id, i as u32)).collect();
        let mut blob_list = odb.ids_of_kind(Kind::Blob);
        blob_list.sort_unstable();
        let mut blobs = BlobIds {
            index: blob_list.iter().enumerate().map(|(i, id)| (*id, i as u32)).collect(),
            ids: blob_list,
            extra: Mutex::new((FxMap::default(), Vec::new())),
        };
        if let Some(p) = progress {
            p.set_total(odb.count(&[Kind::Commit, Kind::Tree, Kind::Blob]));
        }
        let names = Mutex::new(Names::default());
        let frontier = Frontier::new(&odb);
        let hash_len = hash.len_in_bytes();
        let (states, failures) = odb.stream(
            &[Kind::Commit, Kind::Tree],
            opts.threads,
            || Step1 {
                commits: Vec::new(),
                trees: Vec::new(),
                malformed: Vec::new(),
                local: Local { cache: FxMap::default(), names: &names, blobs: &blobs },
                tally: Tally::new(progress, 1024, u64::MAX),
            },
            |st, loc, id, kind, data| {
                st.tally.add(data.len() as u64);
                match kind {
                    Kind::Commit => match parse_commit(data, hash) {
                        Some(meta) => st.commits.push((id.to_owned(), meta)),
                        None => st.malformed.push(format!("commit {id} is malformed and was skipped")),
                    },
                    Kind::Tree => {
                        let Some(&dense) = tree_index.get(id) else { return };
                        let base = loc
                            .and_then(|(pi, pos)| odb.packs[pi].base(pos).and_then(|b| frontier[pi].take(b)));
                        let a = analyze(data, base.as_deref(), hash_len, &tree_index, &mut st.local);
                        if a.malformed {
                            st.malformed.push(format!(
                                "tree {id} is malformed; entries after the damage were not read"
                            ));
                        }
                        if let Some((pi, pos)) = loc {
                            if frontier[pi].wants(pos) && !a.malformed {
                                frontier[pi]
                                    .keep(pos, Kept { dense, data: data.into(), ents: a.ents, subs: a.subs });
                            }
                        }
                        let (info, rec) = (a.info, a.rec);
                        st.trees.push((dense, info, rec));
                    }
                    _ => {}
                }
            },
        );
        drop(frontier);
        // From here to the wanted set, this thread works alone.
        prefetch.widen();
        for f in failures {
            report.problems.push(Problem {
                path: "(object database)".into(),
                message: format!("{f}; the commits and trees it still held were looked up one by one"),
            });
        }
        let mut commits: Vec<(ObjectId, CommitMeta)> = Vec::new();
        let mut trees: Vec<Option<TreeInfo>> = Vec::new();
        trees.resize_with(tree_ids.len(), || None);
        let mut recs: Vec<Option<TreeRec>> = Vec::new();
        recs.resize_with(tree_ids.len(), || None);
        let mut malformed = Vec::new();
        for st in states {
            commits.extend(st.commits);
            for (d, info, rec) in st.trees {
                trees[d as usize] = Some(info);
                recs[d as usize] = Some(rec);
            }
            malformed.extend(st.malformed);
        }
        let mut names = names.into_inner().unwrap_or_else(|p| p.into_inner());
        commits.sort_by_key(|a| a.0);
        commits.dedup_by(|a, b| a.0 == b.0);
        let mut commit_index: HashMap<ObjectId, u32> =
            commits.iter().enumerate().map(|(i, (id, _))| (*id, i as u32)).collect();

        // Classify the ref tips; objects the stream did not deliver are looked up.
        let mut commit_tips: Vec<(String, u32)> = Vec::new();
        let mut tree_tips: Vec<(String, u32)> = Vec::new();
        let mut blob_tips: Vec<(String, ObjectId)> = Vec::new();
        let mut loader = Loader { repo: &repo, hash, problems: Vec::new() };
        let mut store = TreeStore {
            ids: &mut tree_ids,
            index: &mut tree_index,
            infos: &mut trees,
            recs: &mut recs,
            names: &mut names,
            blobs: &blobs,
        };
        for (name, target) in &refs {
            // At most two rounds: the ref's target, then what an annotated tag peels to.
            let mut id = *target;
            for _ in 0..2 {
                if let Some(&c) = commit_index.get(&id) {
                    commit_tips.push((name.clone(), c));
                    break;
                }
                if let Some(&t) = store.index.get(&id) {
                    tree_tips.push((name.clone(), t));
                    break;
                }
                match repo.try_find_header(id) {
                    Ok(Some(h)) if h.kind() == Kind::Tag => {
                        match repo
                            .find_object(id)
                            .map_err(|e| one_line(&e))
                            .and_then(|o| o.peel_tags_to_end().map(|o| o.id).map_err(|e| one_line(&e)))
                        {
                            Ok(peeled) => {
                                id = peeled;
                                continue;
                            }
                            Err(e) => report.problems.push(Problem {
                                path: name.clone(),
                                message: format!("cannot peel the tag {id}: {e}"),
                            }),
                        }
                    }
                    Ok(Some(h)) if h.kind() == Kind::Commit => {
                        if let Some(c) = loader.commit(id, &mut commits, &mut commit_index) {
                            commit_tips.push((name.clone(), c));
                        }
                    }
                    Ok(Some(h)) if h.kind() == Kind::Tree => tree_tips.push((name.clone(), store.dense(id))),
                    Ok(Some(h)) if h.kind() == Kind::Blob => blob_tips.push((name.clone(), id)),
                    Ok(Some(h)) => report.problems.push(Problem {
                        path: name.clone(),
                        message: format!("ref points to a {} ({id}), which is not scanned", h.kind()),
                    }),
                    Ok(None) => report.problems.push(Problem {
                        path: name.clone(),
                        message: format!("ref points to {id}, which is missing from the object database"),
                    }),
                    Err(e) => report.problems.push(Problem {
                        path: name.clone(),
                        message: format!("cannot read {id}: {}", one_line(&e)),
                    }),
                }
                break;
            }
        }

        // Step 2: reachability, order, configs, contexts.
        let mut reachable = vec![false; commits.len()];
        let mut parents: Vec<Vec<u32>> = vec![Vec::new(); commits.len()];
        let mut stack: Vec<u32> = commit_tips.iter().map(|t| t.1).collect();
        if opts.all_objects {
            stack.extend(0..commits.len() as u32);
        }
        while let Some(c) = stack.pop() {
            if reachable[c as usize] {
                continue;
            }
            reachable[c as usize] = true;
            let cid = commits[c as usize].0;
            let ps_ids = commits[c as usize].1.parents.clone();
            let mut ps = Vec::with_capacity(ps_ids.len());
            for p in &ps_ids {
                let found = match commit_index.get(p) {
                    Some(&pi) => Some(pi),
                    None => {
                        let found = loader.commit(*p, &mut commits, &mut commit_index);
                        reachable.resize(commits.len(), false);
                        parents.resize(commits.len(), Vec::new());
                        found
                    }
                };
                match found {
                    Some(pi) => {
                        ps.push(pi);
                        stack.push(pi);
                    }
                    None if shallow.contains(&cid) => {}
                    None => report.problems.push(Problem {
                        path: "(commit graph)".into(),
                        message: format!(
                            "commit {p} (parent of {cid}) is missing; history behind it was not scanned"
                        ),
                    }),
                }
            }
            parents[c as usize] = ps;
        }
        let n = commits.len();
        if !shallow.is_empty() {
            report.notes.push(format!(
            "shallow clone: history before {} boundary commit(s) is not available and was not scanned (fetch it with `git fetch --unshallow`)",
            shallow.len()
        ));
        }
        let topo = util::topo_order(&commits, &reachable, &parents);
        let mut rank = vec![UNSET; n];
        for (r, &c) in topo.iter().enumerate() {
            rank[c as usize] = r as u32;
        }
        let mut root = vec![UNSET; n];
        for &c in &topo {
            root[c as usize] = store.dense(commits[c as usize].1.tree);
        }

        // Every tree below a root must be known; missing ones are looked up (or reported).
        let mut roots: Vec<u32> = topo.iter().map(|&c| root[c as usize]).collect();
        roots.extend(tree_tips.iter().map(|t| t.1));
        if opts.all_objects {
            roots.extend(0..store.ids.len() as u32);
        }
        roots.sort_unstable();
        roots.dedup();
        loader.complete(&roots, &mut store);
        blobs.finish();

        // Signatures (the .sops.yaml files below each tree), bottom-up, once per tree.
        let mut sigs = Sigs::default();
        let mut configs = Configs::new(opts.sops_config_override.as_ref());
        let read = |id: ObjectId| util::read_object(&repo, id);
        // A commit's `.sops.yaml` set is its root tree's signature; contexts carry signatures until
        // they are narrowed to the one config that governs each directory (below).
        let cfg_of_tree = |t: u32, sigs: &mut Sigs| -> u32 { sigs.of(t, &trees, &names) };
        let mut cfg = vec![UNSET; n];
        for &c in &topo {
            let t = root[c as usize];
            if t != UNSET {
                cfg[c as usize] = cfg_of_tree(t, &mut sigs);
            }
        }

        // Contexts: (directory, configs) of each tree, each distinct one pushed down once.
        let mut dirs = Dirs::new();
        let mut contexts: Vec<Vec<(u32, u32)>> = vec![Vec::new(); tree_ids.len()];
        let mut seen: FxSet<(u32, u32, u32)> = FxSet::default();
        let mut work: Vec<(u32, u32, u32)> = Vec::new();
        for &c in &topo {
            if root[c as usize] != UNSET {
                work.push((root[c as usize], 0, cfg[c as usize]));
            }
        }
        for &(_, t) in &tree_tips {
            let cf = cfg_of_tree(t, &mut sigs);
            work.push((t, 0, cf));
        }
        push_contexts(&mut work, &mut seen, &mut contexts, &trees, &mut dirs);
        if opts.all_objects {
            // Trees nothing reaches (not even another dangling tree) are scanned as roots.
            let mut has_parent = vec![false; tree_ids.len()];
            for info in trees.iter().flatten() {
                for &(_, child) in &info.subtrees {
                    has_parent[child as usize] = true;
                }
            }
            for t in 0..tree_ids.len() as u32 {
                if contexts[t as usize].is_empty() && !has_parent[t as usize] && trees[t as usize].is_some() {
                    let cf = cfg_of_tree(t, &mut sigs);
                    work.push((t, 0, cf));
                }
            }
            push_contexts(&mut work, &mut seen, &mut contexts, &trees, &mut dirs);
        }
        drop(seen);
        // The engine judges a file by the one `.sops.yaml` that governs it (the nearest in its
        // directory or above), so two signatures that agree on it give the same result: a blob is
        // scanned once per distinct governing config, not once per `.sops.yaml` edit anywhere.
        let mut governing = Governing::default();
        for c in &mut contexts {
            for (d, sig) in c.iter_mut() {
                *sig = governing.of(
                    *d,
                    *sig,
                    &mut dirs,
                    &names,
                    &sigs,
                    &mut configs,
                    &read,
                    &mut report.problems,
                );
            }
            c.sort_unstable();
            c.dedup();
        }
        let graph = Graph { commits, commit_index, topo, rank, parents, root, cfg };

        // Step 3: blob names, from the delta forest.
        let forest = Forest::new(&recs);
        let step3 = forest
            .roots
            .par_iter()
            .fold(Step3::default, |mut st, &r| {
                // Depth first; each frame holds the entries of the parent (None for the root).
                let mut stack: Vec<(u32, Option<Arc<Vec<Ent>>>)> = vec![(r, None)];
                while let Some((t, parent)) = stack.pop() {
                    let Some(rec) = &recs[t as usize] else { continue };
                    let kids = &forest.children[t as usize];
                    let ctx = &contexts[t as usize];
                    let incremental = parent.is_some()
                        && ctx.iter().all(|c| contexts[rec.base as usize].binary_search(c).is_ok());
                    let needs_list = !kids.is_empty() || (!ctx.is_empty() && !incremental);
                    let list = if !needs_list {
                        None
                    } else {
                        Some(Arc::new(match &parent {
                            Some(p) => rec.apply(p),
                            None => rec.added.to_vec(),
                        }))
                    };
                    if !ctx.is_empty() {
                        if incremental {
                            st.add(&rec.added, ctx);
                        } else if let Some(l) = &list {
                            st.add(l, ctx);
                        }
                    }
                    for &k in kids {
                        stack.push((k, list.clone()));
                    }
                }
                st
            })
            .reduce(Step3::default, Step3::merge);
        let mut gitlinks: Vec<String> = step3
            .gitlinks
            .iter()
            .map(|&(d, name)| join(&dirs.path(d, &names), &names.list[name as usize]))
            .collect();
        gitlinks.sort();
        gitlinks.dedup();
        for path in gitlinks {
            report.notes.push(format!(
                "submodule `{path}` skipped: its content lives in another repository (scan it there)"
            ));
        }
        let mut keys: Vec<(u32, u32, u32, u32)> = step3.pairs.into_iter().collect();
        keys.par_sort_unstable();
        let mut pairs: Vec<(ObjectId, Variant)> = Vec::with_capacity(keys.len() + blob_tips.len());
        for (dir, cfg, blob, name) in keys {
            let path = join(&dirs.path(dir, &names), &names.list[name as usize]);
            pairs.push((blobs.ids[blob as usize], Variant { path, cfg, tag: 0 }));
        }

        // Blobs that no tree names: pointed to by a ref, or (--all-objects) dangling.
        let empty_cfg = configs.intern(&[], &read, &mut report.problems);
        let mut loose_blobs: Vec<ObjectId> = blob_tips.iter().map(|b| b.1).collect();
        if opts.all_objects {
            let named: FxSet<ObjectId> = pairs.iter().map(|p| p.0).collect();
            loose_blobs.extend(odb.ids_of_kind(Kind::Blob).into_iter().filter(|id| !named.contains(id)));
        }
        for id in loose_blobs {
            pairs.push((id, Variant { path: id.to_string(), cfg: empty_cfg, tag: 1 }));
        }
        let wanted = Wanted::from_pairs(pairs);
        malformed.sort();
        malformed.dedup();
        for message in malformed {
            report.problems.push(Problem { path: "(object database)".into(), message });
        }
        report.problems.append(&mut loader.problems);

        // Step 4: blobs.
        let outcome =
            prefetch.finish(engine, &safe, wanted, &configs, opts, progress, || match stream.join() {
                Ok(s) => s,
                Err(panic) => std::panic::resume_unwind(panic),
            });
        let wanted = prefetch.wanted();
        report.skipped.extend(outcome.skipped);
        report.problems.extend(outcome.problems);

        // Step 5: provenance. Findings that differ only in the config set they were found under are
        // one finding; its commits are those of all these config sets.
        type Key = (String, ObjectId, String, usize, usize, String, String);
        let mut merged: BTreeMap<Key, (Finding, BTreeSet<u32>, bool)> = BTreeMap::new();
        for mut s in outcome.scanned {
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
                let by_sig = (0..sigs.list.len() as u32)
                    .map(|sig| governing.of_path(dir, sig, &sigs, &mut configs, &read, &mut report.problems))
                    .collect();
                governed.insert(q.0.clone(), by_sig);
            }
        }
        let ctx = AnnotateCtx {
            governed: &governed,
            graph: &graph,
            trees: &trees,
            recs: &recs,
            forest: &forest,
            names: &names,
            blobs: &blobs,
            head,
            commit_tips: &commit_tips,
            tree_tips: &tree_tips,
        };
        let annotations = annotate(&query_list, &ctx);
        let ref_names = ref_order(&commit_tips, &tree_tips);
        // File-state findings (rule drift, orphan, recipients, integrity) on versions no ref tip holds
        // cannot be acted on: counted, not listed. At tips, one per path, rule and identity.
        let mut untipped = 0usize;
        let mut config_state: HashMap<(String, String, String), usize> = HashMap::new();
        for (key, (mut f, cfgs, object)) in merged {
            let blob = Some(key.1.to_string());
            f.provenance = Some(if object {
                let mut refs: Vec<String> =
                    blob_tips.iter().filter(|b| b.1 == key.1).map(|b| b.0.clone()).collect();
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
                // error of the branch being worked on.
                if !annotations[q].at_head {
                    f.severity = crate::finding::Severity::Note;
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
        report.sort();
        util::drop_later((graph, forest, contexts, dirs, governing, sigs, configs), opts.free_tables);
        util::drop_later((trees, recs, names, tree_ids, tree_index, blobs), opts.free_tables);
        Ok(report)
    });
    util::drop_later(odb, opts.free_tables);
    result
}
