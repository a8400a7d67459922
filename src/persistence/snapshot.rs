//! Whole-keyspace snapshots in the RDB file format: encode every database while its shards are
//! locked, and load a file's keys back into locked shards. DEBUG RELOAD uses both; SAVE/BGSAVE
//! and loading at start-up will reuse them.

use super::rdb::{self, RdbError};
use crate::keyspace::value::Entry;
use crate::keyspace::{Keyspace, Locked};
use crate::server::log;

/// Locks every shard of every database, in the global order (database, then shard).
pub fn lock_all_dbs(ks: &Keyspace) -> Vec<Locked<'_>> {
    ks.dbs.iter().map(|db| db.lock_all()).collect()
}

/// Encodes all databases as an RDB file, with the function libraries' code (`libraries`).
pub fn encode(dbs: &mut [Locked], compress: bool, now_ms: i64, libraries: &[Vec<u8>]) -> Vec<u8> {
    let mut snap = rdb::Snapshot::new(compress, now_ms, 0);
    for code in libraries {
        snap.function(code);
    }
    for (i, db) in dbs.iter_mut().enumerate() {
        let (keys, expires) = db.shards().fold((0, 0), |(k, e), s| (k + s.dict.len(), e + s.volatile));
        if keys == 0 {
            continue;
        }
        snap.select_db(i, keys, expires);
        for shard in db.shards() {
            shard.dict.for_each(|k, e| snap.entry(k, &e.value, e.expire));
        }
    }
    snap.finish()
}

/// How loaded keys get their access data.
pub struct LoadOptions {
    /// Unix ms now: keys whose TTL already passed are skipped, as a master does.
    pub now_ms: i64,
    /// The LRU clock for keys without an IDLE record.
    pub lru: u32,
    /// Replace keys that already exist (DEBUG RELOAD MERGE); otherwise a duplicate is an error.
    pub allow_dup: bool,
}

/// Loads an RDB file into the locked databases. Returns the number of keys loaded.
pub fn load(dbs: &mut [Locked], data: &[u8], opts: &LoadOptions) -> Result<usize, RdbError> {
    load_prefix(dbs, data, opts).map(|(n, _)| n)
}

/// As [`load`], for an RDB image followed by more data (an AOF's RDB preamble): returns the
/// keys loaded and the bytes the image took.
pub fn load_prefix(dbs: &mut [Locked], data: &[u8], opts: &LoadOptions) -> Result<(usize, usize), RdbError> {
    let (mut n, mut expired) = (0, 0);
    let (used, empty) = rdb::load_snapshot_prefix(data, |e| {
        let db = dbs
            .get_mut(e.db)
            .ok_or(RdbError::Corrupt("database index out of range"))?;
        if e.expire_ms != 0 && e.expire_ms < opts.now_ms {
            expired += 1;
            return Ok(());
        }
        let shard = db.shard(&e.key);
        if !opts.allow_dup && shard.dict.get(&e.key).is_some() {
            return Err(RdbError::Corrupt("Duplicated key found in RDB file"));
        }
        let lru = match e.idle {
            Some(idle) => opts.lru.wrapping_sub(u32::try_from(idle).unwrap_or(u32::MAX)),
            None => opts.lru,
        };
        let mut entry = Entry::new(e.value, lru);
        entry.expire = e.expire_ms;
        shard.put_entry(&e.key, entry);
        n += 1;
        Ok(())
    })?;
    // Redis's summary line; skipped empty keys make it a warning.
    if empty > 0 {
        log::warning(&format!(
            "Done loading RDB, keys loaded: {n}, keys expired: {expired}, empty keys skipped: {empty}."
        ));
    } else {
        log::notice(&format!("Done loading RDB, keys loaded: {n}, keys expired: {expired}."));
    }
    Ok((n, used))
}
