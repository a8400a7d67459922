//! The zset type. Placeholder until its family lands: no command creates one yet.

use super::Collection;
use crate::persistence::rdb::{self, Reader, Writer};

/// A zset value (at most 16 bytes, see `types`).
pub struct ZSet {
    items: Box<[Box<[u8]>]>,
}

impl Collection for ZSet {
    fn len(&self) -> usize {
        self.items.len()
    }

    fn encoding(&self) -> &'static str {
        "zset"
    }

    fn memory(&self) -> usize {
        self.items.iter().map(|i| i.len() + 16).sum()
    }

    fn duplicate(&self) -> Self {
        ZSet {
            items: self.items.clone(),
        }
    }

    fn rdb_type(&self) -> u8 {
        3
    }

    fn rdb_save(&self, w: &mut Writer) {
        w.len(self.items.len() as u64);
        for i in self.items.iter() {
            w.string(i);
        }
    }

    fn rdb_load(t: u8, _r: &mut Reader) -> rdb::Result<Self> {
        Err(rdb::RdbError::Unsupported(t))
    }

    fn digest(&self, digest: &mut [u8; 20]) {
        for i in self.items.iter() {
            crate::util::digest::mix_digest(digest, i);
        }
    }
}
