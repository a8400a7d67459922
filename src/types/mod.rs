//! The collection types a key can hold besides strings (Redis's `t_list.c`, `t_hash.c`,
//! `t_set.c`, `t_zset.c`): one file per type, each with a compact form for small collections
//! and a structure with the right complexity for large ones, converting as Redis does when a
//! `*-max-listpack-*` / `set-max-intset-entries` limit is crossed.
//!
//! A type lives inside [`crate::keyspace::Value`], which stays 24 bytes, so each type is at most
//! 16 bytes (a box or a boxed slice). What the rest of the server needs from every type — its
//! OBJECT ENCODING name, its size for MEMORY USAGE, COPY, DEBUG DIGEST and RDB — is the
//! [`Collection`] trait; the commands live in `src/commands/` (one file per family).

pub mod geohash;
pub mod hash;
pub mod list;
pub mod set;
pub mod stream;
pub mod table;
pub mod zset;

use crate::persistence::rdb::{self, Reader, Writer};
use std::sync::atomic::{AtomicI64, Ordering::Relaxed};

/// What every collection type provides to the keyspace, persistence and introspection.
pub trait Collection: Sized {
    /// Number of elements (fields for hashes); a key never holds an empty collection.
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// OBJECT ENCODING's name for the current form (Redis's name for the equivalent form).
    fn encoding(&self) -> &'static str;
    /// Approximate heap bytes owned by the value, for MEMORY USAGE.
    fn memory(&self) -> usize;
    /// An independent copy (COPY).
    fn duplicate(&self) -> Self;
    /// The RDB type byte this value is written with (`rdbSaveObjectType`).
    fn rdb_type(&self) -> u8;
    /// Writes the value's RDB body, byte-compatible with Redis 7.0 (`rdbSaveObject`).
    fn rdb_save(&self, w: &mut Writer);
    /// Reads a value of RDB type `t` (any of the type's encodings, old ones included, as
    /// `rdbLoadObject` does), validating everything: the input may be a hostile RESTORE payload.
    fn rdb_load(t: u8, r: &mut Reader) -> rdb::Result<Self>;
    /// Mixes the contents into a DEBUG DIGEST as Redis's `xorObjectDigest` does for the type.
    fn digest(&self, digest: &mut [u8; 20]);
}

/// The encoding thresholds from the config (`hash-max-listpack-entries`...), readable from any
/// thread without the config lock; refreshed whenever the config changes.
pub struct EncodingLimits {
    pub hash_max_listpack_entries: AtomicI64,
    pub hash_max_listpack_value: AtomicI64,
    pub list_max_listpack_size: AtomicI64,
    pub list_compress_depth: AtomicI64,
    pub set_max_intset_entries: AtomicI64,
    pub zset_max_listpack_entries: AtomicI64,
    pub zset_max_listpack_value: AtomicI64,
}

/// Redis's defaults until the config is loaded.
pub static LIMITS: EncodingLimits = EncodingLimits {
    hash_max_listpack_entries: AtomicI64::new(512),
    hash_max_listpack_value: AtomicI64::new(64),
    list_max_listpack_size: AtomicI64::new(-2),
    list_compress_depth: AtomicI64::new(0),
    set_max_intset_entries: AtomicI64::new(512),
    zset_max_listpack_entries: AtomicI64::new(128),
    zset_max_listpack_value: AtomicI64::new(64),
};

impl EncodingLimits {
    /// Reads one limit.
    pub fn get(field: &AtomicI64) -> i64 {
        field.load(Relaxed)
    }

    /// Copies the limits from the config (called on load and on every CONFIG SET).
    pub fn refresh(&self, get: impl Fn(&str) -> i64) {
        self.hash_max_listpack_entries
            .store(get("hash-max-listpack-entries"), Relaxed);
        self.hash_max_listpack_value
            .store(get("hash-max-listpack-value"), Relaxed);
        self.list_max_listpack_size
            .store(get("list-max-listpack-size"), Relaxed);
        self.list_compress_depth.store(get("list-compress-depth"), Relaxed);
        self.set_max_intset_entries
            .store(get("set-max-intset-entries"), Relaxed);
        self.zset_max_listpack_entries
            .store(get("zset-max-listpack-entries"), Relaxed);
        self.zset_max_listpack_value
            .store(get("zset-max-listpack-value"), Relaxed);
        stream::NODE_MAX_BYTES.store(get("stream-node-max-bytes"), Relaxed);
        stream::NODE_MAX_ENTRIES.store(get("stream-node-max-entries"), Relaxed);
    }
}
