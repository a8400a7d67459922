//! Writing and reading the RDB file on disk: SAVE, BGSAVE, `save` rules, saving at shutdown and
//! loading at start-up.
//!
//! Every save is an incremental point-in-time snapshot ([`snapshot::begin`]): its instant is
//! taken with all shards locked for a moment, then the shards are written one by one, by the
//! caller for SAVE and shutdown, by a background thread for BGSAVE, while commands that touch a
//! shard not yet written write it first. The file is written under a temporary name, fsynced
//! and renamed over the old one, so a crash mid-save never damages the last good dump.

use super::rdb::RdbError;
use super::snapshot;
use crate::server::{log, unix_ms, Server};
use parking_lot::Mutex;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::Arc;

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
    /// [`Phase`] as a number: whether the server serves, is still starting, or loads a
    /// dataset (one relaxed load per command tells).
    pub phase: AtomicU8,
    /// Unix seconds when the load started, and the bytes it reads (INFO `loading_*`).
    pub loading_start: AtomicI64,
    pub loading_total_bytes: AtomicU64,
    pub loading_loaded_bytes: AtomicU64,
    /// The running (or last) snapshot's progress, also used to abort it.
    pub progress: Arc<snapshot::Progress>,
    /// The BGSAVE thread, joined by [`kill_bgsave`].
    pub thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Memory the last BGSAVE held beyond the dataset (its largest chunk), INFO's
    /// `rdb_last_cow_size`: what Redis reports as copy-on-write pages.
    pub last_cow: AtomicU64,
    /// BGSAVE SCHEDULE inside a transaction: the cron starts it.
    pub scheduled: AtomicBool,
    /// A snapshot (SAVE or BGSAVE) is running: there is one at a time.
    pub(crate) busy: AtomicBool,
}

impl RdbState {
    /// Marks a load of `total_bytes` as running until the guard drops.
    pub fn begin_loading(&self, total_bytes: u64) -> LoadingGuard<'_> {
        self.loading_start.store(unix_ms() / 1000, Relaxed);
        self.loading_total_bytes.store(total_bytes, Relaxed);
        self.loading_loaded_bytes.store(0, Relaxed);
        let was = self.phase.swap(Phase::Loading as u8, Relaxed);
        LoadingGuard(self, was)
    }

    /// A dataset load runs (INFO `loading:1`).
    pub fn loading(&self) -> bool {
        self.phase.load(Relaxed) == Phase::Loading as u8
    }
}

/// Where the server is in its life, for commands (`dispatch`) and the cron.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    Serving = 0,
    /// Start-up outside a load (before it, opening the AOF): commands wait, as in Redis, whose
    /// event loop has not started yet.
    Starting = 1,
    /// A dataset loads (start-up, DEBUG LOADAOF): commands without the `loading` flag get
    /// `-LOADING`, the cron waits.
    Loading = 2,
}

/// Puts the phase back when the load ends, however it ends.
pub struct LoadingGuard<'a>(&'a RdbState, u8);

impl Drop for LoadingGuard<'_> {
    fn drop(&mut self) {
        self.0.phase.store(self.1, Relaxed);
    }
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
            phase: AtomicU8::new(Phase::Serving as u8),
            loading_start: AtomicI64::new(0),
            loading_total_bytes: AtomicU64::new(0),
            loading_loaded_bytes: AtomicU64::new(0),
            progress: Arc::default(),
            thread: Mutex::new(None),
            last_cow: AtomicU64::new(0),
            scheduled: AtomicBool::new(false),
            busy: AtomicBool::new(false),
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

fn write_options(srv: &Server, now_ms: i64) -> snapshot::WriteOptions {
    snapshot::WriteOptions {
        format: snapshot::Format::Rdb,
        compress: srv.config.get_bool("rdbcompression"),
        checksum: srv.config.get_bool("rdbchecksum"),
        key_delay_us: srv.config.get_i64("rdb-key-save-delay").max(0) as u64,
        now_ms,
        libraries: srv.scripts.functions.codes(),
        timestamp: false,
    }
}

/// Starts a snapshot at this instant (see [`snapshot::begin`]); returns it with the dirty
/// counter read at the instant (changes counted later are not in the file).
fn begin(srv: &Server, now_ms: i64) -> std::io::Result<(snapshot::Running, u64)> {
    let mut dirty = 0;
    let running = snapshot::begin(
        &srv.keyspace,
        &write_options(srv, now_ms),
        srv.rdb.progress.clone(),
        snapshot::temp_path(),
        || dirty = srv.stats.dirty.get(),
    )?;
    Ok((running, dirty))
}

fn saved(srv: &Server, dirty_at_snapshot: u64, now_ms: i64) {
    srv.stats.dirty.saved(dirty_at_snapshot);
    srv.last_save.store((now_ms / 1000) as u64, Relaxed);
    srv.rdb.saves.fetch_add(1, Relaxed);
}

/// SAVE: a synchronous save (the same incremental snapshot, walked by the caller; other
/// clients keep being served meanwhile). Returns Redis's error text on failure.
pub fn save(srv: &Server) -> Result<(), String> {
    if srv.rdb.busy.swap(true, Relaxed) {
        return Err("ERR Background save already in progress".into());
    }
    let now = unix_ms();
    let res = begin(srv, now).and_then(|(running, dirty)| {
        running.finish(&srv.keyspace, &rdb_path(srv))?;
        Ok(dirty)
    });
    srv.rdb.busy.store(false, Relaxed);
    match res {
        Ok(dirty) => {
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

/// Runs the calling thread (a background snapshot's walk) at nice 10, so that where the
/// machine has no core to spare the workers serving clients get the CPU first: a walk that
/// falls behind only makes the save last longer (commands write the segments they touch, a
/// few microseconds each), whereas a worker that waits for a time slice stalls its clients.
pub fn lower_priority() {
    // SAFETY: plain syscalls on the calling thread (on Linux a thread id names one thread).
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 10);
    }
}

/// BGSAVE: takes the snapshot's instant now, then walks and writes it on a background thread.
/// Err when one is already running.
pub fn bgsave(srv: &Server) -> Result<(), &'static str> {
    if srv.rdb.bgsave_in_progress.swap(true, Relaxed) {
        return Err("ERR Background save already in progress");
    }
    if srv.rdb.busy.swap(true, Relaxed) {
        srv.rdb.bgsave_in_progress.store(false, Relaxed);
        return Err("ERR Background save already in progress");
    }
    let done = |srv: &Server| {
        srv.rdb.bgsave_started_ms.store(0, Relaxed);
        srv.rdb.busy.store(false, Relaxed);
        srv.rdb.bgsave_in_progress.store(false, Relaxed);
    };
    let Some(me) = srv.me.get().and_then(|w| w.upgrade()) else {
        done(srv);
        return Err("ERR server is shutting down");
    };
    let now = unix_ms();
    srv.rdb.bgsave_started_ms.store(now, Relaxed);
    srv.rdb.last_bgsave_try.store(now / 1000, Relaxed);
    let (running, dirty) = match begin(srv, now) {
        Ok(r) => r,
        Err(e) => {
            log::warning(&format!("Can't save in background: {e}"));
            srv.rdb.last_bgsave_ok.store(false, Relaxed);
            done(srv);
            return Err("ERR");
        }
    };
    log::notice("Background saving started");
    let mut thread = srv.rdb.thread.lock();
    let spawned = std::thread::Builder::new().name("ochre-bgsave".into()).spawn(move || {
        let srv = &*me;
        lower_priority();
        let result = running.finish(&srv.keyspace, &rdb_path(srv));
        let ok = match &result {
            Ok(w) => {
                saved(srv, dirty, now);
                log::notice(&format!(
                    "DB saved on disk: {} keys, {} bytes, peak memory {} bytes, most work done by a command {} us",
                    w.keys,
                    w.bytes,
                    srv.rdb.progress.peak_chunk.load(Relaxed),
                    srv.rdb.progress.max_capture_ns.load(Relaxed) / 1000
                ));
                log::notice("Background saving terminated with success");
                true
            }
            // Killed by FLUSHALL or SHUTDOWN: not an error (Redis's SIGUSR1 case).
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {
                log::warning("Background saving terminated by signal 10");
                srv.rdb.last_bgsave_ok.load(Relaxed)
            }
            Err(e) => {
                log::warning(&format!("Write error saving DB on disk: {e}"));
                log::warning("Background saving error");
                false
            }
        };
        srv.rdb
            .last_cow
            .store(srv.rdb.progress.peak_chunk.load(Relaxed), Relaxed);
        srv.rdb.last_bgsave_ok.store(ok, Relaxed);
        srv.rdb.last_bgsave_secs.store((unix_ms() - now) / 1000, Relaxed);
        done(srv);
    });
    match spawned {
        Ok(h) => {
            *thread = Some(h);
            Ok(())
        }
        Err(_) => {
            // The snapshot has begun: abandon it so no command captures into it.
            srv.keyspace.abort_capture();
            let _ = std::fs::remove_file(snapshot::temp_path());
            done(srv);
            Err("ERR could not start the background save")
        }
    }
}

/// Stops a running BGSAVE (FLUSHALL, SHUTDOWN: Redis kills its child) and waits until its
/// thread has removed the temporary file. The last good dump stays.
pub fn kill_bgsave(srv: &Server) {
    if !srv.rdb.bgsave_in_progress.load(Relaxed) {
        return;
    }
    let handle = srv.rdb.thread.lock().take();
    if let Some(h) = handle {
        srv.rdb.progress.abort.store(true, Relaxed);
        srv.keyspace.abort_capture();
        let _ = h.join();
    }
}

/// `save <seconds> <changes>` rules, checked by the cron: BGSAVE when any rule is met (after a
/// failed BGSAVE, not again for 5 seconds, as Redis).
pub fn check_save_rules(srv: &Server) {
    if srv.rdb.bgsave_in_progress.load(Relaxed) || srv.aof.rewrite_in_progress.load(Relaxed) {
        return;
    }
    if srv.rdb.scheduled.swap(false, Relaxed) {
        let _ = bgsave(srv);
        return;
    }
    let now_s = unix_ms() / 1000;
    let dirty = srv.stats.dirty.get();
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
    let _loading = srv.rdb.begin_loading(data.len() as u64);
    let mut locked = snapshot::lock_all_dbs(&srv.keyspace);
    let opts = snapshot::LoadOptions::new(srv, false);
    if let Err(e) = srv.scripts.functions.load_rdb(srv, srv.workers, &data, false) {
        return Err(format!("Failed loading the functions of the RDB file: {e}"));
    }
    match snapshot::load(&mut locked, &data, &opts) {
        Ok(n) => {
            n.record(srv);
            log::notice(&format!(
                "DB loaded from disk: {:.3} seconds",
                start.elapsed().as_secs_f64()
            ));
            Ok(())
        }
        Err(RdbError::Checksum) => Err(format!(
            "Wrong RDB checksum in {}: RDB CRC error. Aborting now.",
            path.display()
        )),
        Err(e) => {
            drop(locked);
            Err(report_bad_file(&path, &data, &e))
        }
    }
}

/// A dump that cannot be loaded is never served half-loaded: as Redis does, log what failed,
/// print the checker's report on the file (which names the offset, key and type), and tell the
/// caller to exit. Returns the last line to log before exiting.
fn report_bad_file(path: &std::path::Path, data: &[u8], e: &super::rdb::RdbError) -> String {
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
