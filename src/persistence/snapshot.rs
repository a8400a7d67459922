//! Whole-keyspace snapshots in the RDB file format.
//!
//! * [`begin`] / [`Running::finish`]: the incremental, fork-free point-in-time snapshot that
//!   SAVE, BGSAVE, save rules and shutdown write (see docs/ARCHITECTURE.md, Persistence).
//! * [`encode`] / [`load`]: a whole file in memory while every shard is locked (DEBUG RELOAD)
//!   and loading a file at start-up.

use super::aof::resp;
use super::rdb::{self, RdbError};
use crate::keyspace::capture::Feed;
use crate::keyspace::value::Entry;
use crate::keyspace::{lazyfree, Capture, Detached, Keyspace, Locked, STEP_KEYS};
use parking_lot::Mutex;
use std::fs::File;
use std::io::{BufWriter, ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

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
pub struct LoadOptions<'a> {
    /// Unix ms now: keys whose TTL already passed are skipped, as a master does.
    pub now_ms: i64,
    /// The LRU clock for keys without an IDLE record.
    pub lru: u32,
    /// Replace keys that already exist (DEBUG RELOAD MERGE); otherwise a duplicate is an error.
    pub allow_dup: bool,
    /// `key-load-delay`: microseconds to sleep per key (negative: one in -N keys sleeps 1 µs),
    /// so tests can watch a slow load.
    pub key_delay_us: i64,
    /// Where the load reports the bytes read (INFO `loading_loaded_bytes`), if anywhere.
    pub progress: Option<&'a AtomicU64>,
}

impl<'a> LoadOptions<'a> {
    /// Options for a load now, with the server's `key-load-delay`, reporting its progress to
    /// INFO.
    pub fn new(srv: &'a crate::server::Server, allow_dup: bool) -> LoadOptions<'a> {
        LoadOptions {
            now_ms: crate::server::unix_ms(),
            lru: srv.lru_clock(),
            allow_dup,
            key_delay_us: srv.config.get_i64("key-load-delay"),
            progress: Some(&srv.rdb.loading_loaded_bytes),
        }
    }
}

/// What a load read: keys loaded, and keys skipped because their TTL had passed.
#[derive(Clone, Copy, Default)]
pub struct LoadCounts {
    pub keys: usize,
    pub expired: usize,
}

impl LoadCounts {
    /// INFO's `rdb_last_load_keys_loaded` / `rdb_last_load_keys_expired`.
    pub fn record(&self, srv: &crate::server::Server) {
        srv.rdb.keys_loaded.store(self.keys as u64, Relaxed);
        srv.rdb.keys_expired_on_load.store(self.expired as u64, Relaxed);
    }
}

/// Loads an RDB file into the locked databases.
pub fn load(dbs: &mut [Locked], data: &[u8], opts: &LoadOptions) -> Result<LoadCounts, RdbError> {
    load_prefix(dbs, data, opts).map(|(n, _)| n)
}

/// As [`load`], for an RDB image followed by more data (an AOF's RDB preamble): also returns
/// the bytes the image took.
pub fn load_prefix(dbs: &mut [Locked], data: &[u8], opts: &LoadOptions) -> Result<(LoadCounts, usize), RdbError> {
    let (mut n, mut expired) = (0, 0);
    let mut seen = 0i64;
    let (used, empty) = rdb::load_snapshot_prefix(data, |e| {
        let db = dbs
            .get_mut(e.db)
            .ok_or(RdbError::Corrupt("database index out of range"))?;
        seen += 1;
        if let Some(p) = opts.progress {
            p.store(e.read as u64, Relaxed);
        }
        match opts.key_delay_us {
            d if d > 0 => std::thread::sleep(std::time::Duration::from_micros(d as u64)),
            d if d < 0 && seen % -d == 0 => std::thread::sleep(std::time::Duration::from_micros(1)),
            _ => {}
        }
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
        crate::server::log::warning(&format!(
            "Done loading RDB, keys loaded: {n}, keys expired: {expired}, empty keys skipped: {empty}."
        ));
    } else {
        crate::server::log::notice(&format!("Done loading RDB, keys loaded: {n}, keys expired: {expired}."));
    }
    Ok((LoadCounts { keys: n, expired }, used))
}

// ---------------------------------------------------------------------------------------------
// Incremental point-in-time snapshots (BGSAVE, SAVE, and BGREWRITEAOF's RDB preamble later)
// ---------------------------------------------------------------------------------------------

/// What a snapshot file holds.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// An RDB image (a dump, or an AOF base with `aof-use-rdb-preamble yes`).
    Rdb,
    /// The commands that rebuild the dataset (an AOF base without the preamble; see
    /// [`super::rewrite`]). Keys whose TTL passed at the instant are left out.
    Commands,
}

/// How a snapshot file is written.
pub struct WriteOptions {
    pub format: Format,
    /// LZF-compress long strings (`rdbcompression`).
    pub compress: bool,
    /// Write the CRC64 trailer (`rdbchecksum`); 0 otherwise, as Redis.
    pub checksum: bool,
    /// Microseconds to sleep per key written by the walk (`rdb-key-save-delay`, for tests).
    pub key_delay_us: u64,
    /// Unix ms of the snapshot (the `ctime` aux field).
    pub now_ms: i64,
    /// Function libraries' code, written after the aux fields as Redis does (as FUNCTION LOAD
    /// commands in the command form).
    pub libraries: Vec<Vec<u8>>,
    /// The command form starts with a `#TS:` annotation (`aof-timestamp-enabled`).
    pub timestamp: bool,
}

/// Progress of the running snapshot, shown by INFO and used to abort it.
#[derive(Default)]
pub struct Progress {
    /// Keys the snapshot holds (counted at its instant).
    pub keys_total: AtomicU64,
    /// Keys written so far.
    pub keys_done: AtomicU64,
    /// The largest serialized chunk held in memory at once: the snapshot's memory overhead.
    pub peak_chunk: AtomicU64,
    /// Set to stop the walk (FLUSHALL, SHUTDOWN); see [`Keyspace::abort_capture`].
    pub abort: AtomicBool,
    /// The most CPU time a thread other than the walk spent writing keys for the snapshot in
    /// one capture (ns): the most work a command was made to do for it.
    pub max_capture_ns: AtomicU64,
}

thread_local! {
    /// This thread runs a snapshot's walk (its captures are not a command's wait).
    static WALKING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// What a finished snapshot wrote.
pub struct Written {
    pub keys: u64,
    pub bytes: u64,
}

/// The file being written, shared by every thread that captures a shard.
struct Out {
    file: BufWriter<File>,
    crc: crc::Digest<'static, u64, crc::Table<16>>,
    bytes: u64,
    /// The first write error; later chunks are dropped and the save fails at the end.
    err: Option<std::io::Error>,
}

impl Out {
    fn put(&mut self, b: &[u8]) {
        if self.err.is_some() {
            return;
        }
        self.crc.update(b);
        self.bytes += b.len() as u64;
        if let Err(e) = self.file.write_all(b) {
            self.err = Some(e);
        }
    }
}

/// The [`Capture`] sink that writes segments of shards to the file. Keys are serialized by the
/// thread that captures them, under the shard's lock, in pieces of at most [`PIECE`] bytes,
/// each starting with a `SELECTDB` of the database the keys had at the snapshot's instant
/// (Redis's loader accepts SELECTDB anywhere and RESIZEDB is optional, so pieces of different
/// threads and databases may interleave). The walk appends its pieces to the file; a command's
/// piece (one segment, a few hundred bytes) is copied to `side`, which the walk appends before
/// its own, so a command never waits for a file write nor for the walk's thread, which runs at
/// a lower priority and may be off the CPU. What is held in memory is one piece per capturing
/// thread plus `side` (at most [`SIDE_MAX`]); the bytes go straight to the page cache.
struct FileSink {
    out: Mutex<Out>,
    /// Commands' pieces not yet appended to the file.
    side: Mutex<Vec<u8>>,
    /// The walk's buffer that `side` is swapped with when the walk appends it.
    spare: Mutex<Vec<u8>>,
    compress: bool,
    format: Format,
    /// The snapshot's instant (the command form leaves out keys expired then).
    now_ms: i64,
    /// Tables FLUSHDB detached before they were captured, serialized by the walk.
    detached: Mutex<Vec<(usize, Detached)>>,
    progress: Arc<Progress>,
}

/// CPU time the calling thread has used (ns): the work a capture did, whether or not the
/// scheduler ran something else meanwhile.
fn thread_cpu_ns() -> u64 {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// Bytes serialized before they are appended to the file: what a capturing thread holds.
const PIECE: usize = 64 * 1024;

/// Past this many bytes waiting in `side` (a walk starved of CPU), commands append their pieces
/// to the file themselves, so the snapshot's memory stays bounded.
const SIDE_MAX: usize = 256 * 1024;

impl FileSink {
    /// Appends a finished piece: the walk writes `side` and then its piece to the file; another
    /// thread copies its piece to `side` unless that is full.
    fn put(&self, piece: &[u8]) {
        if !WALKING.with(|w| w.get()) {
            let mut side = self.side.lock();
            if side.len() + piece.len() <= SIDE_MAX {
                if side.capacity() < SIDE_MAX {
                    // At its full size (twice: it swaps with `spare`): growing it would copy
                    // under the lock.
                    side.reserve_exact(SIDE_MAX);
                    self.progress.peak_chunk.fetch_max(2 * SIDE_MAX as u64, Relaxed);
                }
                side.extend_from_slice(piece);
                return;
            }
        }
        self.drain_side();
        self.out.lock().put(piece);
    }

    /// Appends the commands' pieces waiting in `side` to the file.
    /// `side` is swapped with an empty buffer first, so commands never wait for the write.
    fn drain_side(&self) {
        let mut spare = self.spare.lock();
        std::mem::swap(&mut *spare, &mut *self.side.lock());
        if !spare.is_empty() {
            self.out.lock().put(&spare);
            spare.clear();
        }
    }

    /// Writes the entries `each` visits as database `db`'s keys, in pieces of at most about
    /// [`PIECE`] bytes that each start with SELECTDB, so pieces of different threads may
    /// interleave in the file. Returns how many keys it wrote.
    fn write_chunk(&self, db: usize, each: &mut Feed<'_>) -> usize {
        let mut w = rdb::Writer::new(self.compress);
        let select = |w: &mut rdb::Writer| match self.format {
            Format::Rdb => {
                w.byte(rdb::opcode::SELECTDB);
                w.len(db as u64);
            }
            Format::Commands => resp(&mut w.buf, &[b"SELECT".to_vec(), db.to_string().into_bytes()]),
        };
        select(&mut w);
        let head = w.buf.len();
        let mut peak = 0;
        let mut flush = |w: &mut rdb::Writer| {
            peak = peak.max(w.buf.capacity());
            self.put(&w.buf);
            w.buf.clear();
        };
        let start = thread_cpu_ns();
        let mut n = 0;
        each(&mut |k, e| {
            match self.format {
                Format::Rdb => rdb::write_entry(&mut w, k, &e.value, e.expire),
                Format::Commands if e.is_expired(self.now_ms) => return,
                Format::Commands => super::rewrite::key_commands(&mut w.buf, k, e),
            }
            n += 1;
            if w.buf.len() >= PIECE {
                flush(&mut w);
                select(&mut w);
            }
        });
        if w.buf.len() > head {
            flush(&mut w);
        }
        self.progress.peak_chunk.fetch_max(peak as u64, Relaxed);
        self.progress.keys_done.fetch_add(n as u64, Relaxed);
        if !WALKING.with(|w| w.get()) {
            let ns = thread_cpu_ns().saturating_sub(start);
            self.progress.max_capture_ns.fetch_max(ns, Relaxed);
        }
        n
    }
}

impl Capture for FileSink {
    fn write(&self, db: usize, each: &mut Feed<'_>) -> usize {
        self.write_chunk(db, each)
    }

    fn detached(&self, db: usize, table: Detached) {
        self.detached.lock().push((db, table));
    }
}

/// A snapshot that has taken its instant and still has to be walked ([`Running::finish`]).
pub struct Running {
    sink: Arc<FileSink>,
    tmp: PathBuf,
    delay_us: u64,
    checksum: bool,
}

/// The temporary file a snapshot of this process is written to: Redis's `temp-<pid>.rdb` in
/// the working directory (`dir`), renamed over the dump when complete.
pub fn temp_path() -> PathBuf {
    PathBuf::from(format!("temp-{}.rdb", std::process::id()))
}

/// The temporary file an AOF rewrite's base is written to (Redis's name for it), renamed into
/// the AOF directory when complete.
pub fn rewrite_temp_path() -> PathBuf {
    PathBuf::from(format!("temp-rewriteaof-bg-{}.aof", std::process::id()))
}

/// **The one entry point for "a snapshot at this instant".** Creates the temporary file, writes
/// the header, and marks every shard pending with all shards locked for a moment; `at_instant`
/// runs at that instant, under those locks (read the dirty counter there; BGREWRITEAOF switches
/// to a new incremental AOF file there, so the snapshot plus that file are exactly the
/// dataset). From then on a command that locks a shard not yet captured writes it first, so the
/// file is this instant whatever runs meanwhile. Continue with [`Running::finish`] on any
/// thread.
pub fn begin(
    ks: &Keyspace,
    opts: &WriteOptions,
    progress: Arc<Progress>,
    tmp: PathBuf,
    at_instant: impl FnOnce(),
) -> std::io::Result<Running> {
    let file = File::create(&tmp)?;
    let mut out = Out {
        file: BufWriter::with_capacity(1 << 16, file),
        crc: rdb::crc64_digest(),
        bytes: 0,
        err: None,
    };
    match opts.format {
        Format::Rdb => {
            let mut head = rdb::Snapshot::new(opts.compress, opts.now_ms, 0);
            for code in &opts.libraries {
                head.function(code);
            }
            out.put(&head.into_head());
        }
        Format::Commands => {
            let mut head = Vec::new();
            if opts.timestamp {
                head.extend_from_slice(format!("#TS:{}\r\n", opts.now_ms / 1000).as_bytes());
            }
            // Function libraries first, as Redis's rewriteFunctions.
            for code in &opts.libraries {
                resp(&mut head, &[b"FUNCTION".to_vec(), b"LOAD".to_vec(), code.clone()]);
            }
            out.put(&head);
        }
    }
    progress.keys_done.store(0, Relaxed);
    progress.peak_chunk.store(0, Relaxed);
    progress.max_capture_ns.store(0, Relaxed);
    progress.abort.store(false, Relaxed);
    let sink = Arc::new(FileSink {
        out: Mutex::new(out),
        side: Mutex::new(Vec::new()),
        spare: Mutex::new(Vec::new()),
        compress: opts.compress,
        format: opts.format,
        now_ms: opts.now_ms,
        detached: Mutex::new(Vec::new()),
        progress: progress.clone(),
    });
    let keys = ks.begin_capture(sink.clone(), at_instant);
    progress.keys_total.store(keys as u64, Relaxed);
    Ok(Running {
        sink,
        tmp,
        delay_us: opts.key_delay_us,
        checksum: opts.checksum,
    })
}

impl Running {
    /// Walks every shard of every database, writing those no command has captured yet, until
    /// nothing is pending (SWAPDB may move pending content behind the walk, so it goes round
    /// again), then writes EOF and the checksum, fsyncs and renames the file over `path`.
    /// On an error or an abort the temporary file is removed and the last good dump stays.
    pub fn finish(self, ks: &Keyspace, path: &Path) -> std::io::Result<Written> {
        let res = self.walk(ks).and_then(|()| self.commit(ks, path));
        if res.is_err() {
            ks.abort_capture();
            for (_, d) in self.sink.detached.lock().drain(..) {
                lazyfree::free_later(d.dict);
            }
            let _ = std::fs::remove_file(&self.tmp);
        }
        res
    }

    fn aborted(&self) -> std::io::Result<()> {
        if self.sink.progress.abort.load(Relaxed) {
            return Err(std::io::Error::new(ErrorKind::Interrupted, "snapshot aborted"));
        }
        Ok(())
    }

    /// `rdb-key-save-delay`: sleeps `keys` times the delay, outside any lock, in slices short
    /// enough to notice an abort.
    fn delay(&self, keys: usize) -> std::io::Result<()> {
        let mut left = self.delay_us.saturating_mul(keys as u64);
        while left > 0 {
            self.aborted()?;
            let step = left.min(10_000);
            std::thread::sleep(std::time::Duration::from_micros(step));
            left -= step;
        }
        Ok(())
    }

    fn walk(&self, ks: &Keyspace) -> std::io::Result<()> {
        let was = WALKING.with(|w| w.replace(true));
        let res = self.walk_all(ks);
        WALKING.with(|w| w.set(was));
        res
    }

    fn walk_all(&self, ks: &Keyspace) -> std::io::Result<()> {
        loop {
            for db in ks.dbs.iter() {
                for i in 0..db.shard_count() {
                    // A batch per lock hold, so commands on the shard wait one batch at most.
                    while let Some(n) = db.capture_index(i, STEP_KEYS) {
                        self.delay(n)?;
                        self.aborted()?;
                    }
                }
            }
            loop {
                let next = self.sink.detached.lock().pop();
                let Some((db, mut table)) = next else { break };
                let n = self.sink.write_chunk(db, &mut |f| table.for_each(f));
                ks.captured();
                lazyfree::free_later(table.dict);
                self.delay(n)?;
            }
            self.sink.drain_side();
            self.aborted()?;
            if ks.capture_pending() == 0 {
                return Ok(());
            }
            std::thread::yield_now();
        }
    }

    fn commit(&self, ks: &Keyspace, path: &Path) -> std::io::Result<Written> {
        ks.end_capture();
        // Captures that ran before the end are all in `side` now (each runs under a shard lock
        // and the walk saw nothing pending).
        self.sink.drain_side();
        let mut out = self.sink.out.lock();
        if self.sink.format == Format::Rdb {
            out.put(&[rdb::opcode::EOF]);
            let crc = if self.checksum { out.crc.clone().finalize() } else { 0 };
            out.put(&crc.to_le_bytes());
        }
        if let Some(e) = out.err.take() {
            return Err(e);
        }
        out.file.flush()?;
        out.file.get_ref().sync_all()?;
        self.aborted()?;
        std::fs::rename(&self.tmp, path)?;
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(Written {
            keys: self.sink.progress.keys_total.load(Relaxed),
            bytes: out.bytes,
        })
    }
}
