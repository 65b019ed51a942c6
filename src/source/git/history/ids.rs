//! Dense ids shared by every step: interned entry names ([`Names`], with a per-thread cache in
//! [`Local`]) and blob ids ([`BlobIds`]), so that the tables of the later steps hold `u32`s.

use std::collections::HashMap;
use std::sync::Mutex;

use gix::{oid, ObjectId};

use crate::source::git::util::FxMap;

/// Interned names (shared by all threads; each thread caches what it has seen).
#[derive(Default)]
pub(super) struct Names {
    pub(super) map: HashMap<Box<[u8]>, u32>,
    pub(super) list: Vec<Box<[u8]>>,
}

impl Names {
    pub(super) fn intern(&mut self, name: &[u8]) -> u32 {
        if let Some(&id) = self.map.get(name) {
            return id;
        }
        let id = self.list.len() as u32;
        self.list.push(name.into());
        self.map.insert(name.into(), id);
        id
    }
}

/// Dense blob ids: every blob in the database, then blobs trees name that the database lacks.
pub(super) struct BlobIds {
    pub(super) ids: Vec<ObjectId>,
    pub(super) index: gix::hashtable::HashMap<ObjectId, u32>,
    pub(super) extra: Mutex<(FxMap<ObjectId, u32>, Vec<ObjectId>)>,
}

impl BlobIds {
    pub(super) fn get(&self, id: &oid) -> u32 {
        if let Some(&b) = self.index.get(id) {
            return b;
        }
        let mut extra = self.extra.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(&b) = extra.0.get(id) {
            return b;
        }
        let b = (self.ids.len() + extra.1.len()) as u32;
        extra.0.insert(id.to_owned(), b);
        extra.1.push(id.to_owned());
        b
    }

    pub(super) fn finish(&mut self) {
        let extra = std::mem::take(&mut *self.extra.lock().unwrap_or_else(|p| p.into_inner()));
        for (i, id) in extra.1.into_iter().enumerate() {
            self.index.insert(id, (self.ids.len() + i) as u32);
        }
        let mut all: Vec<(u32, ObjectId)> = self.index.iter().map(|(id, &b)| (b, *id)).collect();
        all.sort_unstable();
        self.ids = all.into_iter().map(|x| x.1).collect();
    }
}

/// Per-thread name cache and conversions from tree entries.
pub(super) struct Local<'a> {
    pub(super) cache: FxMap<Box<[u8]>, u32>,
    pub(super) names: &'a Mutex<Names>,
    pub(super) blobs: &'a BlobIds,
}

impl Local<'_> {
    pub(super) fn name(&mut self, name: &[u8]) -> u32 {
        if let Some(&id) = self.cache.get(name) {
            return id;
        }
        let id = self.names.lock().unwrap_or_else(|p| p.into_inner()).intern(name);
        self.cache.insert(name.into(), id);
        id
    }
}
