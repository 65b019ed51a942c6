//! Step 3: blob names. The delta forest is walked base first and each tree's entries are paired
//! with its directory contexts, giving the distinct `(directory, configs, blob, name)` to scan.

use std::sync::Arc;

use gix::objs::Kind;
use gix::ObjectId;
use rayon::prelude::*;

use super::contexts::Contexts;
use super::graph::Tips;
use super::loader::Tables;
use super::trees::{Ent, Forest, GITLINK};
use super::ReadBlob;
use crate::scan::ScanReport;
use crate::source::git::blobs::{Variant, Wanted};
use crate::source::git::odb::Odb;
use crate::source::git::util::{join, FxSet};

/// Step 3: the blobs to scan and their names. Every blob a tree of a context names, once per
/// distinct path and governing config, then the blobs no tree names: those refs point to and
/// (with `all_objects`) every other blob in the database, under their id. Submodules are notes.
#[allow(clippy::too_many_arguments)]
pub(super) fn name_blobs(
    forest: &Forest,
    tables: &Tables,
    cx: &mut Contexts,
    tips: &Tips,
    odb: &Odb,
    all_objects: bool,
    read: ReadBlob<'_>,
    report: &mut ScanReport,
) -> Wanted {
    let (recs, contexts) = (&tables.recs, &cx.of_tree);
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
        .map(|&(d, name)| join(&cx.dirs.path(d, &tables.names), &tables.names.list[name as usize]))
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
    let mut pairs: Vec<(ObjectId, Variant)> = Vec::with_capacity(keys.len() + tips.blobs.len());
    for (dir, cfg, blob, name) in keys {
        let path = join(&cx.dirs.path(dir, &tables.names), &tables.names.list[name as usize]);
        pairs.push((tables.blobs.ids[blob as usize], Variant { path, cfg, tag: 0 }));
    }

    // Blobs that no tree tables.names: pointed to by a ref, or (--all-objects) dangling.
    let empty_cfg = cx.configs.intern(&[], read, &mut report.problems);
    let mut loose_blobs: Vec<ObjectId> = tips.blobs.iter().map(|b| b.1).collect();
    if all_objects {
        let named: FxSet<ObjectId> = pairs.iter().map(|p| p.0).collect();
        loose_blobs.extend(odb.ids_of_kind(Kind::Blob).into_iter().filter(|id| !named.contains(id)));
    }
    for id in loose_blobs {
        pairs.push((id, Variant { path: id.to_string(), cfg: empty_cfg, tag: 1 }));
    }
    Wanted::from_pairs(pairs)
}

/// Per-thread results of step 3: `(directory, configs, blob, name)`.
#[derive(Default)]
struct Step3 {
    pairs: FxSet<(u32, u32, u32, u32)>,
    gitlinks: Vec<(u32, u32)>,
}

impl Step3 {
    fn merge(mut self, other: Step3) -> Step3 {
        if self.pairs.len() < other.pairs.len() {
            return other.merge(self);
        }
        self.pairs.extend(other.pairs);
        self.gitlinks.extend(other.gitlinks);
        self
    }

    fn add(&mut self, ents: &[Ent], contexts: &[(u32, u32)]) {
        for e in ents {
            for &(dir, cfg) in contexts {
                if e.blob == GITLINK {
                    self.gitlinks.push((dir, e.name));
                } else {
                    self.pairs.insert((dir, cfg, e.blob, e.name));
                }
            }
        }
    }
}
