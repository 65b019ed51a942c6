//! Step 3: blob names. The delta forest is walked base first and each tree's entries are paired
//! with its directory contexts, giving the distinct `(directory, configs, blob, name)` to scan.

use super::trees::{Ent, GITLINK};
use crate::source::git::util::FxSet;

/// Per-thread results of step 3: `(directory, configs, blob, name)`.
#[derive(Default)]
pub(super) struct Step3 {
    pub(super) pairs: FxSet<(u32, u32, u32, u32)>,
    pub(super) gitlinks: Vec<(u32, u32)>,
}

impl Step3 {
    pub(super) fn merge(mut self, other: Step3) -> Step3 {
        if self.pairs.len() < other.pairs.len() {
            return other.merge(self);
        }
        self.pairs.extend(other.pairs);
        self.gitlinks.extend(other.gitlinks);
        self
    }

    pub(super) fn add(&mut self, ents: &[Ent], contexts: &[(u32, u32)]) {
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
