//! The distinct `.sops.yaml` sets met while scanning git objects.
//!
//! A commit's coverage is decided by the `.sops.yaml` files of that same commit, so every blob is
//! scanned once per distinct set of configs that governs it somewhere. A set is named by its
//! *signature*: the sorted `(path, blob id)` of its `.sops.yaml` files. Histories have few distinct
//! signatures (every edit of a `.sops.yaml` makes one), and each is parsed once.

use std::collections::HashMap;

use gix::ObjectId;

use crate::sops::{ConfigFile, ConfigSet};
use crate::source::Problem;

/// The signature of a set of configs: `(path, blob)` sorted by path.
pub(crate) type Signature = Vec<(String, ObjectId)>;

/// Interned config sets; the id is the index into [`Configs::sets`].
pub(crate) struct Configs {
    pub sets: Vec<ConfigSet>,
    by_sig: HashMap<Signature, u32>,
    overridden: bool,
}

impl Configs {
    /// With an override, every file is governed by it and there is one set only.
    pub fn new(override_config: Option<&ConfigFile>) -> Configs {
        let mut c =
            Configs { sets: Vec::new(), by_sig: HashMap::new(), overridden: override_config.is_some() };
        if let Some(o) = override_config {
            c.sets.push(ConfigSet::new(Vec::new(), Some(o.clone())));
        }
        c
    }

    /// The id of the set with this signature; `read` fetches a config blob. A config that cannot
    /// be read becomes a problem and is left out of the set.
    pub fn intern(
        &mut self,
        sig: &[(String, ObjectId)],
        read: &dyn Fn(ObjectId) -> Result<Vec<u8>, String>,
        problems: &mut Vec<Problem>,
    ) -> u32 {
        if self.overridden {
            return 0;
        }
        if let Some(&id) = self.by_sig.get(sig) {
            return id;
        }
        let mut files = Vec::with_capacity(sig.len());
        for (path, blob) in sig {
            match read(*blob) {
                Ok(data) => files.push(ConfigFile { path: path.clone(), data }),
                Err(message) => problems.push(Problem {
                    path: path.clone(),
                    message: format!("cannot read this .sops.yaml (blob {blob}): {message}"),
                }),
            }
        }
        let id = self.sets.len() as u32;
        self.sets.push(ConfigSet::new(files, None));
        self.by_sig.insert(sig.to_vec(), id);
        id
    }
}
