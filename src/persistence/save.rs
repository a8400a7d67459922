//! Writing and reading the RDB file on disk: SAVE, BGSAVE, `save` rules, saving at shutdown and
//! loading at start-up.
//!
//! A snapshot is taken while every shard of every database is locked (so it is one point in
//! time), encoded in memory, and then written: by the caller for SAVE, by a background thread for
//! BGSAVE. The file is written under a temporary name, fsynced and renamed over the old one, so a
//! crash mid-save never damages the last good dump. (The persistence issue replaces the
//! stop-the-world encode with an incremental copy-on-write snapshot.)

use super::snapshot;
use crate::server::{log, unix_ms, Server};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};

/// Persistence state shown by INFO persistence.
pub struct RdbState {
    pub bgsave_in_progress: AtomicBool,
    pub last_bgsave_ok: AtomicBool,
    /// Unix ms when the running BGSAVE started (0 when none).
    pub bgsave_started_ms: AtomicI64,
    /// Seconds the last BGSAVE took (-1 before the first).
    pub last_bgsave_secs: AtomicI64,
    pub saves: AtomicU64,
    /// Unix seconds of the last failed BGSAVE attempt (save rules retry after 5 seconds).
    pub last_bgsave_try: AtomicI64,
    pub keys_loaded: AtomicU64,
    pub keys_expired_on_load: AtomicU64,
}

impl Default for RdbState {
    fn default() -> Self {
        RdbState {
            bgsave_in_progress: AtomicBool::new(false),
            last_bgsave_ok: AtomicBool::new(true),
            bgsave_started_ms: AtomicI64::new(0),
            last_bgsave_secs: AtomicI64::new(-1),
            saves: AtomicU64::new(0),
            last_bgsave_try: AtomicI64::new(0),
            keys_loaded: AtomicU64::new(0),
            keys_expired_on_load: AtomicU64::new(0),
        }
    }
}

/// The dump file: `dbfilename` inside `dir` (the working directory, which `dir` changes).
pub fn rdb_path(srv: &Server) -> PathBuf {
    PathBuf::from(srv.config.get("dbfilename"))
}

/// Whether `save` rules are configured (Redis then saves at shutdown).
pub fn has_save_points(srv: &Server) -> bool {
    !srv.config.get("save").trim().is_empty()
}

/// Writes `bytes` to `path` through a temporary file in the same directory: write, fsync,
/// rename, fsync the directory.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!("temp-{}-{}.rdb", std::process::id(), unix_ms()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Encodes every database at one point in time (all shards locked while encoding).
fn snapshot_bytes(srv: &Server, now_ms: i64) -> (Vec<u8>, u64) {
    let compress = srv.config.get_bool("rdbcompression");
    let mut locked = snapshot::lock_all_dbs(&srv.keyspace);
    // Changes counted from here on are not in this snapshot.
    let dirty = srv.stats.dirty.load(Relaxed);
    let bytes = snapshot::encode(&mut locked, compress, now_ms, &srv.scripts.functions.codes());
    (bytes, dirty)
}

fn saved(srv: &Server, dirty_at_snapshot: u64, now_ms: i64) {
    let _ = srv
        .stats
        .dirty
        .fetch_update(Relaxed, Relaxed, |d| Some(d.saturating_sub(dirty_at_snapshot)));
    srv.last_save.store((now_ms / 1000) as u64, Relaxed);
    srv.rdb.saves.fetch_add(1, Relaxed);
}

/// SAVE: a synchronous save. Returns Redis's error text on failure.
pub fn save(srv: &Server) -> Result<(), String> {
    let now = unix_ms();
    let (bytes, dirty) = snapshot_bytes(srv, now);
    match write_atomically(&rdb_path(srv), &bytes) {
        Ok(()) => {
            saved(srv, dirty, now);
            srv.rdb.last_bgsave_ok.store(true, Relaxed);
            log::notice("DB saved on disk");
            Ok(())
        }
        Err(e) => {
            log::warning(&format!("Failed saving the DB: {e}"));
            Err("ERR".into())
        }
    }
}

/// BGSAVE: snapshot now, write in the background. Err when one is already running.
pub fn bgsave(srv: &Server) -> Result<(), &'static str> {
    if srv.rdb.bgsave_in_progress.swap(true, Relaxed) {
        return Err("ERR Background save already in progress");
    }
    let Some(me) = srv.me.get().and_then(|w| w.upgrade()) else {
        srv.rdb.bgsave_in_progress.store(false, Relaxed);
        return Err("ERR server is shutting down");
    };
    let now = unix_ms();
    srv.rdb.bgsave_started_ms.store(now, Relaxed);
    srv.rdb.last_bgsave_try.store(now / 1000, Relaxed);
    let (bytes, dirty) = snapshot_bytes(srv, now);
    log::notice("Background saving started");
    let spawned = std::thread::Builder::new().name("ochre-bgsave".into()).spawn(move || {
        let srv = &*me;
        let ok = match write_atomically(&rdb_path(srv), &bytes) {
            Ok(()) => {
                saved(srv, dirty, now);
                log::notice("DB saved on disk");
                log::notice("Background saving terminated with success");
                true
            }
            Err(e) => {
                log::warning(&format!("Write error saving DB on disk: {e}"));
                log::warning("Background saving error");
                false
            }
        };
        srv.rdb.last_bgsave_ok.store(ok, Relaxed);
        srv.rdb.last_bgsave_secs.store((unix_ms() - now) / 1000, Relaxed);
        srv.rdb.bgsave_started_ms.store(0, Relaxed);
        srv.rdb.bgsave_in_progress.store(false, Relaxed);
    });
    if spawned.is_err() {
        srv.rdb.bgsave_in_progress.store(false, Relaxed);
        return Err("ERR could not start the background save");
    }
    Ok(())
}

/// `save <seconds> <changes>` rules, checked by the cron: BGSAVE when any rule is met (after a
/// failed BGSAVE, not again for 5 seconds, as Redis).
pub fn check_save_rules(srv: &Server) {
    if srv.rdb.bgsave_in_progress.load(Relaxed) {
        return;
    }
    let now_s = unix_ms() / 1000;
    let dirty = srv.stats.dirty.load(Relaxed);
    let since = now_s - srv.last_save.load(Relaxed) as i64;
    let failed_recently = !srv.rdb.last_bgsave_ok.load(Relaxed) && now_s - srv.rdb.last_bgsave_try.load(Relaxed) <= 5;
    let rules = srv.config.get("save");
    let nums: Vec<i64> = rules.split_whitespace().filter_map(|n| n.parse().ok()).collect();
    for rule in nums.chunks(2) {
        if let [secs, changes] = rule {
            if dirty >= *changes as u64 && since >= *secs && dirty > 0 && !failed_recently {
                log::notice(&format!("{changes} changes in {secs} seconds. Saving..."));
                let _ = bgsave(srv);
                return;
            }
        }
    }
}

/// Loads the dump file at start-up if there is one. Err(message) when the file is corrupt.
pub fn load_at_startup(srv: &Server) -> Result<(), String> {
    let path = rdb_path(srv);
    let data = match std::fs::read(&path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("Fatal error loading the DB: {e}. Exiting.")),
    };
    let start = std::time::Instant::now();
    let mut locked = snapshot::lock_all_dbs(&srv.keyspace);
    let opts = snapshot::LoadOptions {
        now_ms: unix_ms(),
        lru: srv.lru_clock(),
        allow_dup: false,
    };
    if let Err(e) = srv.scripts.functions.load_rdb(srv, srv.workers, &data, false) {
        return Err(format!("Failed loading the functions of the RDB file: {e}"));
    }
    match snapshot::load(&mut locked, &data, &opts) {
        Ok(n) => {
            srv.rdb.keys_loaded.store(n as u64, Relaxed);
            log::notice(&format!(
                "DB loaded from disk: {:.3} seconds",
                start.elapsed().as_secs_f64()
            ));
            Ok(())
        }
        Err(e) => {
            drop(locked);
            Err(report_bad_file(&path, &data, &e))
        }
    }
}

/// A dump that cannot be loaded is never served half-loaded: as Redis does, log what failed,
/// print the checker's report on the file (which names the offset, key and type), and tell the
/// caller to exit. Returns the last line to log before exiting.
fn report_bad_file(path: &Path, data: &[u8], e: &super::rdb::RdbError) -> String {
    let name = path.to_string_lossy();
    let check = super::check_rdb::check(&name, data, unix_ms());
    if matches!(e, super::rdb::RdbError::Truncated) {
        log::warning("Short read or OOM loading DB. Unrecoverable error, aborting now.");
    }
    log::warning(&format!(
        "Internal error in RDB reading offset {}, function at rdb.rs -> {e} (file {name})",
        check.offset
    ));
    print!("{}", check.report);
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    super::check_rdb::TERMINATING.to_string()
}
