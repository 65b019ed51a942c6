//! Step 2's `.sops.yaml` side: each tree's signature (the `.sops.yaml` files below it, computed
//! bottom-up once per tree, [`Sigs`]), the directory contexts `(directory, signature)` pushed
//! down to every subtree, each distinct one once ([`push_contexts`], [`Dirs`]), and the one
//! config that governs a directory under a signature ([`Governing`]).

use std::collections::HashMap;

use gix::ObjectId;

use super::graph::{Graph, Tips};
use super::ids::Names;
use super::loader::Tables;
use super::trees::TreeInfo;
use super::{ReadBlob, UNSET};
use crate::source::git::configs::{Configs, Signature};
use crate::source::git::util::{join, FxMap, FxSet};
use crate::source::git::GitOptions;
use crate::source::Problem;

/// A signature being computed (guards against a tree that contains itself).
const IN_PROGRESS: u32 = u32::MAX - 1;

/// What the later steps need of the `.sops.yaml` files.
pub(super) struct Contexts {
    pub(super) sigs: Sigs,
    pub(super) dirs: Dirs,
    pub(super) governing: Governing,
    pub(super) configs: Configs,
    /// `(directory, governing config)` of each tree, sorted.
    pub(super) of_tree: Vec<Vec<(u32, u32)>>,
}

/// Step 2's configs: the signature of each commit (set in `graph.cfg`), the contexts of every
/// tree below a commit or a tree tip (with `all_objects`, of every tree no other tree holds too),
/// each narrowed to the config that governs its directory. `read` reads a `.sops.yaml`.
pub(super) fn build(
    graph: &mut Graph,
    tips: &Tips,
    tables: &Tables,
    opts: &GitOptions,
    read: ReadBlob<'_>,
    problems: &mut Vec<Problem>,
) -> Contexts {
    // Signatures (the .sops.yaml files below each tree), bottom-up, once per tree.
    let mut sigs = Sigs::default();
    let mut configs = Configs::new(opts.sops_config_override.as_ref());
    // A commit's `.sops.yaml` set is its root tree's signature; contexts carry signatures until
    // they are narrowed to the one config that governs each directory (below).
    let cfg_of_tree = |t: u32, sigs: &mut Sigs| -> u32 { sigs.of(t, &tables.trees, &tables.names) };
    let mut cfg = vec![UNSET; graph.commits.len()];
    for &c in &graph.topo {
        let t = graph.root[c as usize];
        if t != UNSET {
            cfg[c as usize] = cfg_of_tree(t, &mut sigs);
        }
    }

    // Contexts: (directory, configs) of each tree, each distinct one pushed down once.
    let mut dirs = Dirs::new();
    let mut contexts: Vec<Vec<(u32, u32)>> = vec![Vec::new(); tables.tree_ids.len()];
    let mut seen: FxSet<(u32, u32, u32)> = FxSet::default();
    let mut work: Vec<(u32, u32, u32)> = Vec::new();
    for &c in &graph.topo {
        if graph.root[c as usize] != UNSET {
            work.push((graph.root[c as usize], 0, cfg[c as usize]));
        }
    }
    for &(_, t) in &tips.trees {
        let cf = cfg_of_tree(t, &mut sigs);
        work.push((t, 0, cf));
    }
    push_contexts(&mut work, &mut seen, &mut contexts, &tables.trees, &mut dirs);
    if opts.all_objects {
        // Trees nothing reaches (not even another dangling tree) are scanned as roots.
        let mut has_parent = vec![false; tables.tree_ids.len()];
        for info in tables.trees.iter().flatten() {
            for &(_, child) in &info.subtrees {
                has_parent[child as usize] = true;
            }
        }
        for t in 0..tables.tree_ids.len() as u32 {
            if contexts[t as usize].is_empty()
                && !has_parent[t as usize]
                && tables.trees[t as usize].is_some()
            {
                let cf = cfg_of_tree(t, &mut sigs);
                work.push((t, 0, cf));
            }
        }
        push_contexts(&mut work, &mut seen, &mut contexts, &tables.trees, &mut dirs);
    }
    drop(seen);
    // The engine judges a file by the one `.sops.yaml` that governs it (the nearest in its
    // directory or above), so two signatures that agree on it give the same result: a blob is
    // scanned once per distinct governing config, not once per `.sops.yaml` edit anywhere.
    let mut governing = Governing::default();
    for c in &mut contexts {
        for (d, sig) in c.iter_mut() {
            *sig = governing.of(*d, *sig, &mut dirs, &tables.names, &sigs, &mut configs, read, problems);
        }
        c.sort_unstable();
        c.dedup();
    }
    graph.cfg = cfg;
    Contexts { sigs, dirs, governing, configs, of_tree: contexts }
}

/// Directory paths as `(parent, name)` chains.
pub(super) struct Dirs {
    pub(super) parent: Vec<u32>,
    pub(super) name: Vec<u32>,
    pub(super) map: FxMap<(u32, u32), u32>,
    paths: Vec<Option<String>>,
}

impl Dirs {
    pub(super) fn new() -> Dirs {
        Dirs {
            parent: vec![UNSET],
            name: vec![UNSET],
            map: FxMap::default(),
            paths: vec![Some(String::new())],
        }
    }

    pub(super) fn child(&mut self, parent: u32, name: u32) -> u32 {
        *self.map.entry((parent, name)).or_insert_with(|| {
            self.parent.push(parent);
            self.name.push(name);
            self.paths.push(None);
            (self.parent.len() - 1) as u32
        })
    }

    pub(super) fn path(&mut self, dir: u32, names: &Names) -> String {
        if let Some(p) = &self.paths[dir as usize] {
            return p.clone();
        }
        let parent = self.path(self.parent[dir as usize], names);
        let p = join(&parent, &names.list[self.name[dir as usize] as usize]);
        self.paths[dir as usize] = Some(p.clone());
        p
    }
}

/// The config set (one `.sops.yaml`, or none) governing a directory under a signature.
#[derive(Default)]
pub(super) struct Governing {
    by_dir: FxMap<(u32, u32), u32>,
    by_path: HashMap<(String, u32), u32>,
}

impl Governing {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn of(
        &mut self,
        dir: u32,
        sig: u32,
        dirs: &mut Dirs,
        names: &Names,
        sigs: &Sigs,
        configs: &mut Configs,
        read: ReadBlob<'_>,
        problems: &mut Vec<Problem>,
    ) -> u32 {
        if let Some(&c) = self.by_dir.get(&(dir, sig)) {
            return c;
        }
        let path = dirs.path(dir, names);
        let c = self.of_path(&path, sig, sigs, configs, read, problems);
        self.by_dir.insert((dir, sig), c);
        c
    }

    pub(super) fn of_path(
        &mut self,
        dir: &str,
        sig: u32,
        sigs: &Sigs,
        configs: &mut Configs,
        read: ReadBlob<'_>,
        problems: &mut Vec<Problem>,
    ) -> u32 {
        if let Some(&c) = self.by_path.get(&(dir.to_owned(), sig)) {
            return c;
        }
        let list = &sigs.list[sig as usize];
        let mut probe = dir;
        let nearest = loop {
            let candidate =
                if probe.is_empty() { ".sops.yaml".to_owned() } else { format!("{probe}/.sops.yaml") };
            if let Ok(i) = list.binary_search_by(|(p, _)| p.as_str().cmp(&candidate)) {
                break Some(list[i].clone());
            }
            if probe.is_empty() {
                break None;
            }
            probe = probe.rsplit_once('/').map_or("", |(parent, _)| parent);
        };
        let c = configs.intern(&nearest.into_iter().collect::<Vec<_>>(), read, problems);
        self.by_path.insert((dir.to_owned(), sig), c);
        c
    }
}

/// A tree's own `.sops.yaml` blob and its subtrees' `(name, signature)`.
type SigParts = (Option<ObjectId>, Vec<(u32, u32)>);

/// The `.sops.yaml` files below each tree, interned; id 0 is "none".
pub(super) struct Sigs {
    pub(super) list: Vec<Signature>,
    pub(super) map: FxMap<Signature, u32>,
    /// A tree's own `.sops.yaml` and its subtrees' signatures (by name) → its signature.
    by_parts: FxMap<SigParts, u32>,
    pub(super) of_tree: Vec<u32>,
}

impl Default for Sigs {
    fn default() -> Self {
        Sigs {
            list: vec![Vec::new()],
            map: FxMap::from_iter([(Vec::new(), 0)]),
            by_parts: FxMap::default(),
            of_tree: Vec::new(),
        }
    }
}

impl Sigs {
    pub(super) fn of(&mut self, t: u32, trees: &[Option<TreeInfo>], names: &Names) -> u32 {
        if self.of_tree.len() < trees.len() {
            self.of_tree.resize(trees.len(), UNSET);
        }
        if self.of_tree[t as usize] < IN_PROGRESS {
            return self.of_tree[t as usize];
        }
        // Post-order walk with an explicit stack (trees can be deep).
        let mut stack: Vec<(u32, usize)> = vec![(t, 0)];
        self.of_tree[t as usize] = IN_PROGRESS;
        while let Some(&mut (cur, ref mut next)) = stack.last_mut() {
            let info = trees[cur as usize].as_ref();
            let subtrees: &[(u32, u32)] = info.map(|i| &i.subtrees[..]).unwrap_or(&[]);
            if *next < subtrees.len() {
                let child = subtrees[*next].1;
                *next += 1;
                if self.of_tree[child as usize] == UNSET {
                    self.of_tree[child as usize] = IN_PROGRESS;
                    stack.push((child, 0));
                }
                continue;
            }
            stack.pop();
            let direct = info.and_then(|i| i.sops);
            let any_child = subtrees
                .iter()
                .any(|s| self.of_tree[s.1 as usize] != 0 && self.of_tree[s.1 as usize] < IN_PROGRESS);
            let parts: SigParts = if direct.is_none() && !any_child {
                (None, Vec::new())
            } else {
                let kids = subtrees
                    .iter()
                    .map(|&(name, child)| (name, self.of_tree[child as usize]))
                    .filter(|&(_, s)| s != 0 && s < IN_PROGRESS)
                    .collect();
                (direct, kids)
            };
            let id = if parts.0.is_none() && parts.1.is_empty() {
                0
            } else if let Some(&id) = self.by_parts.get(&parts) {
                // Another tree with the same `.sops.yaml` and the same signatures below.
                id
            } else {
                let mut sig: Signature = Vec::new();
                if let Some(b) = direct {
                    sig.push((".sops.yaml".into(), b));
                }
                for &(name, child) in subtrees {
                    let s = self.of_tree[child as usize];
                    if s == 0 || s >= IN_PROGRESS {
                        continue;
                    }
                    let prefix = String::from_utf8_lossy(&names.list[name as usize]).into_owned();
                    for (p, b) in &self.list[s as usize] {
                        sig.push((format!("{prefix}/{p}"), *b));
                    }
                }
                sig.sort();
                sig.dedup();
                let id = match self.map.get(&sig) {
                    Some(&id) => id,
                    None => {
                        let id = self.list.len() as u32;
                        self.list.push(sig.clone());
                        self.map.insert(sig, id);
                        id
                    }
                };
                self.by_parts.insert(parts, id);
                id
            };
            self.of_tree[cur as usize] = id;
        }
        self.of_tree[t as usize]
    }
}

/// Pushes `(tree, directory, configs)` contexts down to every subtree, each distinct one once.
fn push_contexts(
    work: &mut Vec<(u32, u32, u32)>,
    seen: &mut FxSet<(u32, u32, u32)>,
    contexts: &mut [Vec<(u32, u32)>],
    trees: &[Option<TreeInfo>],
    dirs: &mut Dirs,
) {
    // A tree's few contexts are searched in its list; the set holds those of trees with many.
    const LISTED: usize = 16;
    let known = |contexts: &[Vec<(u32, u32)>], seen: &FxSet<(u32, u32, u32)>, t: u32, d: u32, c: u32| {
        let list = &contexts[t as usize];
        if list.len() < LISTED {
            list.contains(&(d, c))
        } else {
            seen.contains(&(t, d, c))
        }
    };
    while let Some((t, d, c)) = work.pop() {
        if known(contexts, seen, t, d, c) {
            continue;
        }
        let list = &mut contexts[t as usize];
        list.push((d, c));
        match list.len() {
            n if n == LISTED => seen.extend(list.iter().map(|&(d, c)| (t, d, c))),
            n if n > LISTED => {
                seen.insert((t, d, c));
            }
            _ => {}
        }
        if let Some(info) = &trees[t as usize] {
            for &(name, child) in &info.subtrees {
                let nd = dirs.child(d, name);
                if !known(contexts, seen, child, nd, c) {
                    work.push((child, nd, c));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    fn oid(b: u8) -> ObjectId {
        ObjectId::from_bytes_or_panic(&[b; 20])
    }

    fn names(list: &[&str]) -> Names {
        let mut n = Names::default();
        for name in list {
            n.intern(name.as_bytes());
        }
        n
    }

    fn info(subtrees: &[(u32, u32)], sops: Option<u8>) -> Option<TreeInfo> {
        Some(TreeInfo { subtrees: subtrees.into(), missing: Vec::new(), sops: sops.map(oid) })
    }

    #[test]
    fn dirs_are_interned_chains() {
        let names = names(&["apps", "base"]);
        let mut dirs = Dirs::new();
        let apps = dirs.child(0, 0);
        let base = dirs.child(apps, 1);
        assert_eq!(dirs.child(0, 0), apps);
        assert_ne!(dirs.child(0, 1), base);
        assert_eq!(dirs.path(0, &names), "");
        assert_eq!(dirs.path(base, &names), "apps/base");
        assert_eq!(dirs.path(apps, &names), "apps");
    }

    #[test]
    fn signatures_are_the_sops_files_below_a_tree() {
        let names = names(&["apps", "docs", "other"]);
        // 0: `.sops.yaml` (1) and apps/ (1, its own `.sops.yaml` 2) and docs/ (2, none);
        // 3: a tree whose only config is apps/.sops.yaml, through the same subtree 1.
        let trees = vec![
            info(&[(0, 1), (1, 2)], Some(1)),
            info(&[], Some(2)),
            info(&[], None),
            info(&[(2, 1)], None),
        ];
        let mut sigs = Sigs::default();
        let root = sigs.of(0, &trees, &names);
        assert_eq!(
            sigs.list[root as usize],
            vec![(".sops.yaml".to_owned(), oid(1)), ("apps/.sops.yaml".to_owned(), oid(2))]
        );
        assert_eq!(sigs.of(2, &trees, &names), 0, "no .sops.yaml below: the empty signature");
        let apps = sigs.of(1, &trees, &names);
        assert_eq!(sigs.list[apps as usize], vec![(".sops.yaml".to_owned(), oid(2))]);
        let other = sigs.of(3, &trees, &names);
        assert_eq!(sigs.list[other as usize], vec![("other/.sops.yaml".to_owned(), oid(2))]);
        // Asked again, the same ids; three distinct signatures besides the empty one.
        assert_eq!((sigs.of(0, &trees, &names), sigs.of(3, &trees, &names)), (root, other));
        assert_eq!(sigs.list.len(), 4);
    }

    #[test]
    fn the_nearest_sops_file_governs() {
        let names = names(&["apps"]);
        let trees = vec![info(&[(0, 1)], Some(1)), info(&[], Some(2))];
        let mut sigs = Sigs::default();
        let root = sigs.of(0, &trees, &names);
        let reads = RefCell::new(Vec::new());
        let read = |id: ObjectId| {
            reads.borrow_mut().push(id);
            Ok(b"creation_rules: []\n".to_vec())
        };
        let mut configs = Configs::new(None);
        let mut problems = Vec::new();
        let mut governing = Governing::default();
        let mut of =
            |dir: &str, sig: u32| governing.of_path(dir, sig, &sigs, &mut configs, &read, &mut problems);
        let deep = of("apps/x/y", root);
        assert_eq!(of("apps", root), deep);
        let top = of("other", root);
        assert_eq!(of("", root), top);
        assert_ne!(deep, top);
        let none = of("apps", 0);
        assert!(none != deep && none != top);
        // Each config was read once, when its set was first met.
        assert_eq!(*reads.borrow(), vec![oid(2), oid(1)]);
        assert!(problems.is_empty());
    }

    #[test]
    fn an_unreadable_sops_file_is_a_problem() {
        let names = names(&[]);
        let trees = vec![info(&[], Some(1))];
        let mut sigs = Sigs::default();
        let root = sigs.of(0, &trees, &names);
        let read = |_: ObjectId| Err("missing from the object database".to_owned());
        let (mut configs, mut problems) = (Configs::new(None), Vec::new());
        Governing::default().of_path("", root, &sigs, &mut configs, &read, &mut problems);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].path, ".sops.yaml");
    }

    #[test]
    fn contexts_are_pushed_down_once_each() {
        // 0 holds the same subtree 1 under two names; 1 holds 2.
        let names = names(&["a", "b", "c"]);
        let trees = vec![info(&[(0, 1), (1, 1)], None), info(&[(2, 2)], None), info(&[], None)];
        let mut dirs = Dirs::new();
        let mut seen = FxSet::default();
        let mut contexts = vec![Vec::new(); 3];
        let mut push = |work: Vec<(u32, u32, u32)>, contexts: &mut Vec<Vec<(u32, u32)>>, dirs: &mut Dirs| {
            let mut work = work;
            push_contexts(&mut work, &mut seen, contexts, &trees, dirs);
        };
        push(vec![(0, 0, 5)], &mut contexts, &mut dirs);
        let paths = |dirs: &mut Dirs, list: &[(u32, u32)]| -> Vec<(String, u32)> {
            let mut v: Vec<(String, u32)> = list.iter().map(|&(d, c)| (dirs.path(d, &names), c)).collect();
            v.sort();
            v
        };
        assert_eq!(paths(&mut dirs, &contexts[0]), vec![(String::new(), 5)]);
        assert_eq!(paths(&mut dirs, &contexts[1]), vec![("a".into(), 5), ("b".into(), 5)]);
        assert_eq!(paths(&mut dirs, &contexts[2]), vec![("a/c".into(), 5), ("b/c".into(), 5)]);
        // The same root again adds nothing; another config adds its own contexts.
        push(vec![(0, 0, 5)], &mut contexts, &mut dirs);
        assert_eq!(contexts.iter().map(Vec::len).collect::<Vec<_>>(), vec![1, 2, 2]);
        push(vec![(0, 0, 6)], &mut contexts, &mut dirs);
        assert_eq!(contexts.iter().map(Vec::len).collect::<Vec<_>>(), vec![2, 4, 4]);
        // Past the listed ones (16 a tree), contexts are deduplicated through the set.
        for round in 0..2 {
            push((10..40).map(|c| (0, 0, c)).collect(), &mut contexts, &mut dirs);
            assert_eq!(contexts.iter().map(Vec::len).collect::<Vec<_>>(), vec![32, 64, 64], "round {round}");
        }
    }
}
