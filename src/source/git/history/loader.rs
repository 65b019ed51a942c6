//! Step 1's tables and what fills their gaps: the per-thread state of the stream of commits
//! and trees ([`Step1`]), and the lookups by id of the commits and trees the stream did not
//! deliver (failed packs, objects of unknown kind) ([`Loader`], [`TreeStore`]).

use std::collections::HashMap;
use std::sync::Mutex;

use gix::objs::Kind;
use gix::ObjectId;

use super::ids::{BlobIds, Local, Names};
use super::trees::{analyze, TreeInfo, TreeRec};
use super::UNSET;
use crate::source::git::util::{one_line, parse_commit, CommitMeta, FxMap, Tally};
use crate::source::Problem;

/// Per-thread results of step 1.
pub(super) struct Step1<'a> {
    pub(super) commits: Vec<(ObjectId, CommitMeta)>,
    pub(super) trees: Vec<(u32, TreeInfo, TreeRec)>,
    pub(super) malformed: Vec<String>,
    pub(super) local: Local<'a>,
    pub(super) tally: Tally<'a>,
}

/// The tree tables of step 1, for adding trees the stream did not deliver.
pub(super) struct TreeStore<'a> {
    pub(super) ids: &'a mut Vec<ObjectId>,
    pub(super) index: &'a mut gix::hashtable::HashMap<ObjectId, u32>,
    pub(super) infos: &'a mut Vec<Option<TreeInfo>>,
    pub(super) recs: &'a mut Vec<Option<TreeRec>>,
    pub(super) names: &'a mut Names,
    pub(super) blobs: &'a BlobIds,
}

impl TreeStore<'_> {
    /// The dense id of a tree, allocating one for a tree the stream did not see.
    pub(super) fn dense(&mut self, id: ObjectId) -> u32 {
        if let Some(&t) = self.index.get(&id) {
            return t;
        }
        let t = self.ids.len() as u32;
        self.ids.push(id);
        self.index.insert(id, t);
        self.infos.push(None);
        self.recs.push(None);
        t
    }
}

/// Looks up commits and trees the stream did not deliver (failed packs, objects of unknown kind).
pub(super) struct Loader<'r> {
    pub(super) repo: &'r gix::Repository,
    pub(super) hash: gix::hash::Kind,
    pub(super) problems: Vec<Problem>,
}

impl Loader<'_> {
    pub(super) fn commit(
        &mut self,
        id: ObjectId,
        commits: &mut Vec<(ObjectId, CommitMeta)>,
        index: &mut HashMap<ObjectId, u32>,
    ) -> Option<u32> {
        let obj = self.repo.try_find_object(id).ok()??;
        if obj.kind != Kind::Commit {
            return None;
        }
        let meta = parse_commit(&obj.data, self.hash)?;
        let c = commits.len() as u32;
        commits.push((id, meta));
        index.insert(id, c);
        Some(c)
    }

    /// Makes sure every tree below `roots` is known, looking up what is missing.
    pub(super) fn complete(&mut self, roots: &[u32], store: &mut TreeStore<'_>) {
        // The usual case: the stream delivered every tree and every subtree is a known tree.
        if store.infos.iter().all(|i| i.as_ref().is_some_and(|i| i.missing.is_empty())) {
            return;
        }
        let mut visited = vec![false; store.ids.len()];
        let mut stack: Vec<u32> = roots.to_vec();
        while let Some(t) = stack.pop() {
            if visited.len() <= t as usize {
                visited.resize(t as usize + 1, false);
            }
            if visited[t as usize] {
                continue;
            }
            visited[t as usize] = true;
            if store.infos[t as usize].is_none() {
                let id = store.ids[t as usize];
                let (info, rec) = match self.repo.try_find_object(id) {
                    Ok(Some(o)) if o.kind == Kind::Tree => {
                        let names = Mutex::new(std::mem::take(store.names));
                        let mut local = Local { cache: FxMap::default(), names: &names, blobs: store.blobs };
                        let a = analyze(&o.data, None, self.hash.len_in_bytes(), store.index, &mut local);
                        if a.malformed {
                            self.problems.push(Problem {
                                path: "(object database)".into(),
                                message: format!(
                                    "tree {id} is malformed; entries after the damage were not read"
                                ),
                            });
                        }
                        let r = (a.info, a.rec);
                        drop(local);
                        *store.names = names.into_inner().unwrap_or_else(|p| p.into_inner());
                        r
                    }
                    other => {
                        let why = match other {
                            Ok(Some(o)) => format!("object {id} is a {}, where a tree was expected", o.kind),
                            Ok(None) => format!("tree {id} is missing from the object database"),
                            Err(e) => format!("tree {id} cannot be read ({})", one_line(&e)),
                        };
                        self.problems.push(Problem {
                            path: "(object database)".into(),
                            message: format!("{why}; the files below it were not scanned"),
                        });
                        let empty = TreeRec { base: UNSET, added: Box::new([]), removed: Box::new([]) };
                        (TreeInfo::default(), empty)
                    }
                };
                store.infos[t as usize] = Some(info);
                store.recs[t as usize] = Some(rec);
            }
            // Subtrees the database did not list as trees get dense ids now.
            let missing =
                store.infos[t as usize].as_mut().map(|i| std::mem::take(&mut i.missing)).unwrap_or_default();
            for (name, id) in missing {
                let child = store.dense(id);
                if let Some(info) = store.infos[t as usize].as_mut() {
                    let mut v = std::mem::take(&mut info.subtrees).into_vec();
                    v.push((name, child));
                    info.subtrees = v.into_boxed_slice();
                }
            }
            if let Some(info) = &store.infos[t as usize] {
                stack.extend(info.subtrees.iter().map(|s| s.1));
            }
        }
    }
}
