//! The append-only file (Redis 7's multi-part AOF, `aof.c`).
//!
//! * **Layout.** In `dir`/`appenddirname`: a manifest `<appendfilename>.manifest` (Redis's
//!   line format, `file <name> seq <n> type <b|h|i>`), one base file `<name>.<seq>.base.rdb`
//!   (RDB, `aof-use-rdb-preamble yes`) or `.base.aof` (commands), and incremental files
//!   `<name>.<seq>.incr.aof` that receive the log. History files (`h`) are deleted after a
//!   rewrite. A legacy single `appendonly.aof` in `dir` is moved into the directory as the base.
//! * **Appending.** `server::propagate` calls [`feed`] with the order mutex held, so the log
//!   order is the total order of writes. Appends go to an in-memory buffer; the writer thread
//!   writes it to the current incremental file and fsyncs per `appendfsync`: `always` after
//!   every write (a connection waits in [`wait_for_sync`] before it sends replies: group
//!   commit), `everysec` once a second, `no` never.
//! * **Rewrite without fork.** Under the world lock (exclusive) and the order mutex, for a
//!   moment, appends switch to a new incremental file and a point-in-time snapshot of the same
//!   instant begins (`snapshot::begin`, as BGSAVE's); its walk writes the base on a background
//!   thread while commands go on, then the file is fsynced and renamed, the manifest replaced
//!   atomically, and history deleted.
//! * **Loading.** Manifest → base (RDB or commands) → incremental files, each command run
//!   through `dispatch::call` on an internal client with propagation off.

use super::snapshot;
use crate::server::propagate::Effect;
use crate::server::{log, unix_ms, Server};
use parking_lot::{Condvar, Mutex};
use std::cell::Cell;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, Ordering::Relaxed, Ordering::SeqCst};
use std::time::{Duration, Instant};

/// `appendfsync` values.
pub const FSYNC_NO: u8 = 0;
pub const FSYNC_EVERYSEC: u8 = 1;
pub const FSYNC_ALWAYS: u8 = 2;

/// One file named by the manifest.
#[derive(Clone)]
pub struct FileInfo {
    pub name: String,
    pub seq: u64,
    /// `b` base, `h` history, `i` incremental.
    pub kind: char,
}

/// The manifest: which files make up the AOF.
#[derive(Clone, Default)]
pub struct Manifest {
    pub base: Option<FileInfo>,
    pub history: Vec<FileInfo>,
    pub incr: Vec<FileInfo>,
    pub base_seq: u64,
    pub incr_seq: u64,
}

impl Manifest {
    /// The manifest file's text, in Redis's order: base, history, incremental.
    fn text(&self) -> String {
        let mut s = String::new();
        for f in self.base.iter().chain(&self.history).chain(&self.incr) {
            // A name with spaces or special bytes is quoted, as Redis's sdscatrepr writes it.
            let plain = f.name.bytes().all(|c| c.is_ascii_graphic() && c != b'\\' && c != b'"');
            let name = if plain {
                f.name.clone()
            } else {
                crate::util::text::repr(f.name.as_bytes())
            };
            s.push_str(&format!("file {name} seq {} type {}\n", f.seq, f.kind));
        }
        s
    }

    /// Parses a manifest, with Redis's error texts. Lines are read as Redis's `fgets` with a
    /// 1024-byte buffer reads them, so a longer line is refused; words split as
    /// `sdssplitargs` splits them (quoted names).
    fn parse(text: &[u8]) -> Result<Manifest, String> {
        const MAX_LINE: usize = 1024;
        let mut m = Manifest::default();
        let mut lines = 0;
        let mut max_seq = 0;
        let mut rest = text;
        while !rest.is_empty() {
            let len = rest
                .iter()
                .take(MAX_LINE)
                .position(|&c| c == b'\n')
                .map_or(rest.len().min(MAX_LINE), |i| i + 1);
            let (raw, tail) = rest.split_at(len);
            rest = tail;
            lines += 1;
            if raw.first() == Some(&b'#') {
                continue;
            }
            if raw.last() != Some(&b'\n') {
                return Err("The AOF manifest file contains too long line".into());
            }
            let line = raw.trim_ascii();
            let words = crate::protocol::parser::split_owned(line).unwrap_or_default();
            if line.is_empty() || words.len() < 6 || !words.len().is_multiple_of(2) {
                return Err("Invalid AOF manifest file format".into());
            }
            let (mut name, mut seq, mut kind) = (None, 0u64, None);
            for kv in words.chunks(2) {
                let value = String::from_utf8_lossy(&kv[1]);
                match kv[0].to_ascii_lowercase().as_slice() {
                    b"file" => {
                        if value.contains('/') {
                            return Err("File can't be a path, just a filename".into());
                        }
                        name = Some(value.into_owned());
                    }
                    b"seq" => seq = value.parse().unwrap_or(0),
                    b"type" => kind = value.chars().next(),
                    _ => {}
                }
            }
            let (Some(name), Some(kind)) = (name, kind) else {
                return Err("Invalid AOF manifest file format".into());
            };
            if seq == 0 {
                return Err("Invalid AOF manifest file format".into());
            }
            let info = FileInfo { name, seq, kind };
            match kind {
                'b' => {
                    if m.base.is_some() {
                        return Err("Found duplicate base file information".into());
                    }
                    m.base_seq = seq;
                    m.base = Some(info);
                }
                'h' => m.history.push(info),
                'i' => {
                    if seq <= max_seq {
                        return Err("Found a non-monotonic sequence number".into());
                    }
                    max_seq = seq;
                    m.incr_seq = seq;
                    m.incr.push(info);
                }
                _ => return Err("Unknown AOF file type".into()),
            }
        }
        if lines == 0 {
            return Err("Found an empty AOF manifest".into());
        }
        Ok(m)
    }
}

/// Appends not yet handed to the writer.
#[derive(Default)]
struct Buf {
    data: Vec<u8>,
    /// Bytes ever appended (offsets for `appendfsync always`; never reset).
    appended: u64,
    /// The database the log last selected (-1: none yet in this file).
    selected_db: i64,
    /// Unix seconds of the last `#TS:` annotation.
    last_ts: i64,
}

/// The incremental file being appended to.
struct Current {
    file: File,
    /// Bytes written to it.
    size: u64,
    last_fsync: Instant,
    dirty: bool,
}

/// AOF state shared by every thread.
pub struct Aof {
    buf: Mutex<Buf>,
    wake: Condvar,
    file: Mutex<Option<Current>>,
    synced: Mutex<u64>,
    synced_cv: Condvar,
    /// The log offset written to the file (not necessarily fsynced).
    written: AtomicU64,
    pub manifest: Mutex<Manifest>,
    pub fsync_mode: AtomicU8,
    pub rewrite_in_progress: AtomicBool,
    pub rewrite_scheduled: AtomicBool,
    /// The rewrite's thread (joined by [`kill_rewrite`]).
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Set by [`kill_rewrite`]: the running rewrite stops.
    kill: AtomicBool,
    /// The running rewrite has taken its instant and is walking the dataset.
    walking: AtomicBool,
    /// The scheduled rewrite turns the AOF on (CONFIG SET appendonly yes during a BGSAVE).
    scheduled_enable: AtomicBool,
    pub last_rewrite_ok: AtomicBool,
    pub last_write_ok: AtomicBool,
    pub rewrites: AtomicU64,
    pub last_rewrite_secs: AtomicI64,
    pub rewrite_started_ms: AtomicI64,
    /// Base file size after the last rewrite (auto-aof-rewrite-percentage's reference).
    pub base_size: AtomicU64,
    /// Base plus incremental bytes.
    pub current_size: AtomicU64,
    writer_started: AtomicBool,
}

impl Default for Aof {
    fn default() -> Self {
        Aof {
            buf: Mutex::new(Buf {
                selected_db: -1,
                ..Default::default()
            }),
            wake: Condvar::new(),
            file: Mutex::new(None),
            synced: Mutex::new(0),
            synced_cv: Condvar::new(),
            written: AtomicU64::new(0),
            manifest: Mutex::new(Manifest::default()),
            fsync_mode: AtomicU8::new(FSYNC_EVERYSEC),
            rewrite_in_progress: AtomicBool::new(false),
            rewrite_scheduled: AtomicBool::new(false),
            thread: Mutex::new(None),
            kill: AtomicBool::new(false),
            walking: AtomicBool::new(false),
            scheduled_enable: AtomicBool::new(false),
            last_rewrite_ok: AtomicBool::new(true),
            last_write_ok: AtomicBool::new(true),
            rewrites: AtomicU64::new(0),
            last_rewrite_secs: AtomicI64::new(-1),
            rewrite_started_ms: AtomicI64::new(0),
            base_size: AtomicU64::new(0),
            current_size: AtomicU64::new(0),
            writer_started: AtomicBool::new(false),
        }
    }
}

thread_local! {
    /// The log offset just past this thread's last append (what its replies wait for under
    /// `appendfsync always`).
    static LAST_APPEND: Cell<u64> = const { Cell::new(0) };
}

fn dir(srv: &Server) -> PathBuf {
    PathBuf::from(srv.config.get("appenddirname"))
}

fn manifest_name(srv: &Server) -> String {
    format!("{}.manifest", srv.config.get("appendfilename"))
}

/// Reads `appendfsync` into the atomic the hot paths read.
pub fn config_changed(srv: &Server) {
    let mode = match srv.config.get("appendfsync").as_str() {
        "always" => FSYNC_ALWAYS,
        "no" => FSYNC_NO,
        _ => FSYNC_EVERYSEC,
    };
    srv.aof.fsync_mode.store(mode, Relaxed);
}

/// Appends `argv` as a RESP multibulk (the form of every logged command).
pub fn resp(out: &mut Vec<u8>, argv: &[Vec<u8>]) {
    out.extend_from_slice(format!("*{}\r\n", argv.len()).as_bytes());
    for a in argv {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

fn select(b: &mut Buf, db: usize) {
    if b.selected_db != db as i64 {
        let mut d = Vec::new();
        resp(&mut d, &[b"SELECT".to_vec(), db.to_string().into_bytes()]);
        b.data.extend_from_slice(&d);
        b.selected_db = db as i64;
    }
}

/// Appends a unit's effects to the log (the caller holds the order mutex).
pub fn feed(srv: &Server, effects: &[&Effect], wrap: bool) {
    let aof = &srv.aof;
    let mut b = aof.buf.lock();
    let before = b.data.len();
    if srv.config.get_bool("aof-timestamp-enabled") {
        let now = unix_ms() / 1000;
        if now != b.last_ts {
            b.data.extend_from_slice(format!("#TS:{now}\r\n").as_bytes());
            b.last_ts = now;
        }
    }
    if wrap {
        select(&mut b, effects[0].db);
        resp(&mut b.data, &[b"MULTI".to_vec()]);
    }
    for e in effects {
        select(&mut b, e.db);
        resp(&mut b.data, &e.argv);
    }
    if wrap {
        resp(&mut b.data, &[b"EXEC".to_vec()]);
    }
    b.appended += (b.data.len() - before) as u64;
    let at = b.appended;
    drop(b);
    LAST_APPEND.with(|c| c.set(at));
    aof.wake.notify_one();
}

/// Called by a connection before it sends replies (by the script thread before it delivers
/// one): under `appendfsync always` waits until everything this thread appended is fsynced;
/// otherwise makes sure it is written to the file (Redis writes the AOF buffer before it sends
/// replies), so a killed process loses no acknowledged write, whichever thread writes.
#[inline]
pub fn wait_for_sync(srv: &Server) {
    if !srv.propagation.aof_on() {
        return;
    }
    let want = LAST_APPEND.with(|c| c.get());
    if want == 0 {
        return;
    }
    if srv.aof.fsync_mode.load(Relaxed) != FSYNC_ALWAYS {
        if srv.aof.written.load(Relaxed) < want {
            // Whoever gets the file first writes everything buffered, for all waiters.
            let mut cur = srv.aof.file.lock();
            if srv.aof.written.load(Relaxed) < want {
                drain(srv, &mut cur, Sync::Never);
            }
        }
        return;
    }
    let mut s = srv.aof.synced.lock();
    while *s < want && srv.propagation.aof_on() {
        srv.aof.synced_cv.wait_for(&mut s, Duration::from_millis(50));
    }
}

/// A blocked client served by another thread: its reply acknowledges that thread's append, so
/// this connection waits (in [`wait_for_sync`]) for everything logged so far. Taking the order
/// mutex waits until the serving unit has appended its effects.
pub fn adopt_appends(srv: &Server) {
    if !srv.propagation.aof_on() {
        return;
    }
    let at = crate::server::propagate::exclusive(srv, || srv.aof.buf.lock().appended);
    LAST_APPEND.with(|c| c.set(c.get().max(at)));
}

/// When [`write_out`] fsyncs.
#[derive(Clone, Copy, PartialEq)]
enum Sync {
    /// As `appendfsync` says.
    Due,
    /// Now, whatever the policy.
    Force,
    /// Not here (a connection writing the buffer before its replies: the writer thread
    /// fsyncs, so no client waits on an `everysec` fsync).
    Never,
}

/// Writes `data` to the current file and fsyncs as `sync` says.
fn write_out(srv: &Server, cur: &mut Option<Current>, data: &[u8], upto: u64, sync: Sync) {
    let mode = srv.aof.fsync_mode.load(Relaxed);
    if let Some(c) = cur.as_mut() {
        if !data.is_empty() {
            match c.file.write_all(data) {
                Ok(()) => {
                    c.size += data.len() as u64;
                    c.dirty = true;
                    srv.aof.current_size.fetch_add(data.len() as u64, Relaxed);
                    srv.aof.last_write_ok.store(true, Relaxed);
                }
                Err(e) => {
                    log::warning(&format!("Error writing to the AOF file: {e}"));
                    srv.aof.last_write_ok.store(false, Relaxed);
                }
            }
        }
        let due = mode == FSYNC_ALWAYS || (mode == FSYNC_EVERYSEC && c.last_fsync.elapsed() >= Duration::from_secs(1));
        if c.dirty && (sync == Sync::Force || (sync == Sync::Due && due)) {
            let _ = c.file.sync_data();
            c.dirty = false;
            c.last_fsync = Instant::now();
        }
    }
    srv.aof.written.fetch_max(upto, Relaxed);
    if sync == Sync::Never && mode == FSYNC_ALWAYS {
        // Written, not fsynced: `synced` must not move.
        return;
    }
    let mut s = srv.aof.synced.lock();
    if upto > *s {
        *s = upto;
    }
    drop(s);
    srv.aof.synced_cv.notify_all();
}

/// Moves whatever is buffered into the current file, fsyncing as `sync` says.
fn drain(srv: &Server, cur: &mut Option<Current>, sync: Sync) {
    let (data, upto) = {
        let mut b = srv.aof.buf.lock();
        (std::mem::take(&mut b.data), b.appended)
    };
    write_out(srv, cur, &data, upto, sync);
}

/// The writer thread: hands buffered appends to the file and fsyncs.
fn writer(srv: std::sync::Arc<Server>) {
    loop {
        {
            let mut b = srv.aof.buf.lock();
            if b.data.is_empty() {
                srv.aof.wake.wait_for(&mut b, Duration::from_millis(1000));
            }
        }
        if srv.shutdown_requested.load(Relaxed) && !srv.propagation.aof_on() {
            return;
        }
        let mut cur = srv.aof.file.lock();
        drain(&srv, &mut cur, Sync::Due);
    }
}

fn start_writer(srv: &Server) {
    if srv.aof.writer_started.swap(true, Relaxed) {
        return;
    }
    if let Some(me) = srv.me.get().and_then(|w| w.upgrade()) {
        let _ = std::thread::Builder::new()
            .name("ochre-aof".into())
            .spawn(move || writer(me));
    }
}

/// Writes bytes to `path` through a temporary file, fsynced, then renamed.
fn write_file(dir: &std::path::Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = dir.join(format!("temp-{name}"));
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(name))?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

fn persist_manifest(srv: &Server, m: &Manifest) -> Result<(), String> {
    write_file(&dir(srv), &manifest_name(srv), m.text().as_bytes())
        .map_err(|e| format!("Can't persist the AOF manifest file {}: {e}", manifest_name(srv)))
}

fn file_size(srv: &Server, name: &str) -> u64 {
    std::fs::metadata(dir(srv).join(name)).map(|m| m.len()).unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// Start-up: load, then open the incremental file
// ---------------------------------------------------------------------------------------------

/// Reads the manifest from disk (an absent directory or manifest is an empty one).
fn load_manifest(srv: &Server) -> Result<Manifest, String> {
    let path = dir(srv).join(manifest_name(srv));
    match std::fs::read(&path) {
        Ok(b) => Manifest::parse(&b).inspect_err(|_| log::warning("\n*** FATAL AOF MANIFEST FILE ERROR ***\n")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest::default()),
        Err(e) => Err(format!(
            "Fatal error: can't open the AOF manifest {}: {e}",
            manifest_name(srv)
        )),
    }
}

/// Moves a legacy single-file `appendonly.aof` into the AOF directory as the base (Redis 7.0's
/// `aofUpgradePrepare`).
fn upgrade_legacy(srv: &Server, m: &mut Manifest) -> Result<(), String> {
    let name = srv.config.get("appendfilename");
    let d = dir(srv);
    std::fs::create_dir_all(&d).map_err(|e| format!("Can't open or create append-only dir {}: {e}", d.display()))?;
    m.base_seq = 1;
    m.base = Some(FileInfo {
        name: name.clone(),
        seq: 1,
        kind: 'b',
    });
    persist_manifest(srv, m)?;
    std::fs::rename(&name, d.join(&name)).map_err(|e| {
        format!(
            "Error trying to rename the existing AOF to old AOF directory {}: {e}",
            d.display()
        )
    })?;
    log::notice(&format!(
        "Successfully migrated an old-style AOF file ({name}) into the AOF directory ({}).",
        d.display()
    ));
    Ok(())
}

/// Loads the AOF at start-up (`appendonly yes`). Err(message) is fatal (empty: already logged,
/// and the suite reads the last log line).
pub fn load_at_startup(srv: &Server) -> Result<(), String> {
    config_changed(srv);
    let mut m = load_manifest(srv)?;
    let legacy = srv.config.get("appendfilename");
    let d = dir(srv);
    if std::path::Path::new(&legacy).is_file()
        && (!d.is_dir()
            || (m.base.is_none() && m.incr.is_empty())
            || (m.incr.is_empty() && m.base.as_ref().is_some_and(|b| b.name == legacy) && !d.join(&legacy).exists()))
    {
        upgrade_legacy(srv, &mut m)?;
    }
    *srv.aof.manifest.lock() = m.clone();
    if m.base.is_none() && m.incr.is_empty() {
        return Ok(());
    }
    let start = Instant::now();
    let files: Vec<FileInfo> = m.base.iter().chain(&m.incr).cloned().collect();
    let mut total = 0;
    for f in &files {
        match std::fs::metadata(d.join(&f.name)) {
            Ok(md) => total += md.len(),
            Err(e) => {
                log::warning(&format!("The append log file {} doesn't exist: {e}", f.name));
                return Err(String::new());
            }
        }
    }
    if total == 0 {
        return Ok(());
    }
    let _loading = srv.rdb.begin_loading(total);
    for (i, f) in files.iter().enumerate() {
        let last = i + 1 == files.len();
        let t = Instant::now();
        let what = if f.kind == 'b' { "base" } else { "incr" };
        match load_file(srv, &f.name) {
            Loaded::Ok | Loaded::Empty => {}
            Loaded::Truncated if last => {}
            Loaded::Truncated => {
                log::warning("Fatal error: the truncated file is not the last file");
                return Err(String::new());
            }
            Loaded::Failed => return Err(String::new()),
        }
        log::notice(&format!(
            "DB loaded from {what} file {}: {:.3} seconds",
            f.name,
            t.elapsed().as_secs_f64()
        ));
    }
    srv.aof.current_size.store(total, Relaxed);
    srv.aof
        .base_size
        .store(m.base.as_ref().map_or(0, |b| file_size(srv, &b.name)), Relaxed);
    log::notice(&format!(
        "DB loaded from append only file: {:.3} seconds",
        start.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// After loading (`appendonly yes`): creates a base file when there is none, opens the last
/// incremental file (or a new one), persists the manifest and turns propagation on.
pub fn open_at_startup(srv: &Server) -> Result<(), String> {
    config_changed(srv);
    if !srv.config.get_bool("appendonly") {
        return Ok(());
    }
    let d = dir(srv);
    std::fs::create_dir_all(&d).map_err(|e| format!("Can't open or create append-only dir {}: {e}", d.display()))?;
    let mut m = srv.aof.manifest.lock().clone();
    if m.base.is_none() && m.incr.is_empty() {
        let preamble = srv.config.get_bool("aof-use-rdb-preamble");
        let name = name_base(srv, &mut m, preamble);
        let bytes = write_base(srv, &name)?;
        log::notice(&format!("Creating AOF base file {name} on server start"));
        srv.aof.base_size.store(bytes, Relaxed);
        srv.aof.current_size.store(bytes, Relaxed);
    }
    let opened = m.incr.last().cloned();
    let incr = match &opened {
        Some(f) => f.clone(),
        None => new_incr(srv, &mut m),
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(d.join(&incr.name))
        .map_err(|e| format!("Can't open the append-only file {}: {e}", incr.name))?;
    persist_manifest(srv, &m)?;
    let size = file.metadata().map(|md| md.len()).unwrap_or(0);
    *srv.aof.file.lock() = Some(Current {
        file,
        size,
        last_fsync: Instant::now(),
        dirty: false,
    });
    *srv.aof.manifest.lock() = m;
    if opened.is_some() {
        log::notice(&format!("Opening AOF incr file {} on server start", incr.name));
    } else {
        log::notice(&format!("Creating AOF incr file {} on server start", incr.name));
    }
    delete_history(srv);
    srv.propagation.set_aof(true);
    start_writer(srv);
    Ok(())
}

/// Names a new base file in `m` (marking the old one history).
fn name_base(srv: &Server, m: &mut Manifest, preamble: bool) -> String {
    if let Some(mut old) = m.base.take() {
        old.kind = 'h';
        m.history.push(old);
    }
    m.base_seq += 1;
    let name = format!(
        "{}.{}.base.{}",
        srv.config.get("appendfilename"),
        m.base_seq,
        if preamble { "rdb" } else { "aof" }
    );
    m.base = Some(FileInfo {
        name: name.clone(),
        seq: m.base_seq,
        kind: 'b',
    });
    name
}

fn new_incr(srv: &Server, m: &mut Manifest) -> FileInfo {
    m.incr_seq += 1;
    let f = FileInfo {
        name: format!("{}.{}.incr.aof", srv.config.get("appendfilename"), m.incr_seq),
        seq: m.incr_seq,
        kind: 'i',
    };
    m.incr.push(f.clone());
    f
}

/// Deletes the history files and drops them from the manifest.
fn delete_history(srv: &Server) {
    let mut m = srv.aof.manifest.lock();
    if m.history.is_empty() {
        return;
    }
    let d = dir(srv);
    for h in std::mem::take(&mut m.history) {
        log::notice(&format!("Removing the history file {} in the background", h.name));
        let _ = std::fs::remove_file(d.join(&h.name));
    }
    let _ = persist_manifest(srv, &m);
}

// ---------------------------------------------------------------------------------------------
// Loading one file
// ---------------------------------------------------------------------------------------------

enum Loaded {
    Ok,
    Empty,
    Truncated,
    Failed,
}

/// Loads one AOF file (RDB image or commands), with Redis's log lines.
fn load_file(srv: &Server, name: &str) -> Loaded {
    let path = dir(srv).join(name);
    let data = match std::fs::read(&path) {
        Ok(d) => d,
        Err(e) => {
            log::warning(&format!(
                "Fatal error: can't open the append log file {name} for reading: {e}"
            ));
            return Loaded::Failed;
        }
    };
    if data.is_empty() {
        return Loaded::Empty;
    }
    if data.starts_with(b"REDIS") {
        log::notice("Reading RDB base file on AOF loading...");
        let mut locked = snapshot::lock_all_dbs(&srv.keyspace);
        let opts = snapshot::LoadOptions::new(srv, true);
        let used = match snapshot::load_prefix(&mut locked, &data, &opts) {
            Ok((counts, used)) => {
                counts.record(srv);
                used
            }
            Err(_) => {
                log::warning(&format!("Error reading the RDB base file {name}, AOF loading aborted"));
                return Loaded::Failed;
            }
        };
        drop(locked);
        if used >= data.len() {
            return Loaded::Ok;
        }
        // An old single-file AOF: commands follow the RDB preamble.
        log::notice("Reading the remaining AOF tail...");
        return crate::server::propagate::loading(|| replay(srv, name, &path, &data, used));
    }
    crate::server::propagate::loading(|| replay(srv, name, &path, &data, 0))
}

/// How parsing one command of the file ended.
pub(crate) enum Parsed {
    Command(Vec<Vec<u8>>, usize),
    Annotation(usize),
    Eof,
    Truncated,
    Format,
}

fn line_at(data: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    let end = data[pos..].iter().position(|&c| c == b'\n')? + pos;
    Some((&data[pos..end], end + 1))
}

pub(crate) fn parse_command(data: &[u8], pos: usize) -> Parsed {
    if pos >= data.len() {
        return Parsed::Eof;
    }
    let Some((line, mut at)) = line_at(data, pos) else {
        return if data[pos] == b'*' || data[pos] == b'#' {
            Parsed::Truncated
        } else {
            Parsed::Format
        };
    };
    if line.first() == Some(&b'#') {
        return Parsed::Annotation(at);
    }
    if line.first() != Some(&b'*') {
        return Parsed::Format;
    }
    let num = |l: &[u8]| -> Option<i64> {
        std::str::from_utf8(l.get(1..)?)
            .ok()?
            .trim_end_matches('\r')
            .parse()
            .ok()
    };
    let argc = match num(line) {
        Some(n) if n >= 1 => n as usize,
        _ => return Parsed::Format,
    };
    let mut argv = Vec::with_capacity(argc.min(1024));
    for _ in 0..argc {
        let Some((l, next)) = line_at(data, at) else {
            return Parsed::Truncated;
        };
        if l.first() != Some(&b'$') {
            return Parsed::Format;
        }
        let Some(len) = num(l).filter(|&n| n >= 0) else {
            return Parsed::Format;
        };
        let len = len as usize;
        if next + len + 2 > data.len() {
            return Parsed::Truncated;
        }
        argv.push(data[next..next + len].to_vec());
        at = next + len + 2;
    }
    Parsed::Command(argv, at)
}

/// Runs a file's commands, from offset `start`, on an internal client.
fn replay(srv: &Server, name: &str, path: &std::path::Path, data: &[u8], start: usize) -> Loaded {
    let handle = std::sync::Arc::new(crate::server::client::ClientHandle::new(
        u64::MAX,
        String::new(),
        String::new(),
        -1,
        unix_ms(),
    ));
    let mut client = crate::server::client::Client::new(handle, 0, true);
    let mut out = crate::protocol::reply::Reply::new();
    let (mut pos, mut valid_up_to, mut before_multi) = (start, start, start);
    let truncated = loop {
        // Blocking commands answer at once: replay never blocks.
        client.in_exec = true;
        match parse_command(data, pos) {
            Parsed::Eof => {
                if client.multi.tx.is_some() {
                    log::warning(&format!("Revert incomplete MULTI/EXEC transaction in AOF file {name}"));
                    valid_up_to = before_multi;
                    break true;
                }
                return Loaded::Ok;
            }
            Parsed::Annotation(next) => pos = next,
            Parsed::Truncated => break true,
            Parsed::Format => {
                log::warning(&format!(
                    "Bad file format reading the append only file {name}: make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>"
                ));
                return Loaded::Failed;
            }
            Parsed::Command(argv, next) => {
                let args: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
                let Some(cmd) = srv.commands.get(args[0]) else {
                    log::warning(&format!(
                        "Unknown command '{}' reading the append only file {name}",
                        String::from_utf8_lossy(args[0])
                    ));
                    return Loaded::Failed;
                };
                let cmd = match crate::server::dispatch::lookup(srv, &mut out, &args) {
                    Some(c) => c,
                    None => cmd,
                };
                if cmd.full_name == "multi" {
                    before_multi = valid_up_to;
                }
                if client.multi.tx.is_some() && cmd.full_name != "exec" {
                    crate::server::multi::queue(&mut client, &args, cmd.flags);
                } else {
                    let (start, now_ns) = crate::util::clock::now();
                    crate::server::dispatch::call(srv, &mut client, &mut out, cmd, &args, start, now_ns / 1_000_000);
                }
                out.buf.clear();
                pos = next;
                valid_up_to = pos;
            }
        }
    };
    debug_assert!(truncated);
    if srv.config.get_bool("aof-load-truncated") {
        log::warning(&format!("!!! Warning: short read while loading the AOF file {name}!!!"));
        log::warning(&format!("!!! Truncating the AOF {name} at offset {valid_up_to} !!!"));
        let ok = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|f| f.set_len(valid_up_to as u64));
        match ok {
            Ok(()) => {
                log::warning(&format!(
                    "AOF {name} loaded anyway because aof-load-truncated is enabled"
                ));
                return Loaded::Truncated;
            }
            Err(e) => log::warning(&format!("Error truncating the AOF file {name}: {e}")),
        }
    }
    log::warning(&format!(
        "Unexpected end of file reading the append only file {name}. You can: 1) Make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server."
    ));
    Loaded::Failed
}

// ---------------------------------------------------------------------------------------------
// Rewrite, enable/disable, DEBUG LOADAOF, shutdown, cron
// ---------------------------------------------------------------------------------------------

/// BGREWRITEAOF: starts a rewrite, or schedules it while a BGSAVE runs (as Redis does while
/// another child is active; the cron starts it). Ok: the status reply.
pub fn bgrewriteaof(srv: &Server) -> Result<&'static str, &'static str> {
    if srv.aof.rewrite_in_progress.load(Relaxed) {
        return Err("ERR Background append only file rewriting already in progress");
    }
    if srv.rdb.bgsave_in_progress.load(Relaxed) {
        srv.aof.rewrite_scheduled.store(true, Relaxed);
        return Ok("Background append only file rewriting scheduled");
    }
    start_rewrite(srv, false).map(|()| "Background append only file rewriting started")
}

/// CONFIG SET appendonly yes: the first rewrite opens the log (scheduled while a BGSAVE runs).
pub fn enable(srv: &Server) {
    config_changed(srv);
    if srv.rdb.bgsave_in_progress.load(Relaxed) || srv.aof.rewrite_in_progress.load(Relaxed) {
        srv.aof.scheduled_enable.store(true, Relaxed);
        srv.aof.rewrite_scheduled.store(true, Relaxed);
        log::warning("AOF was enabled but there is already another background operation. An AOF background was scheduled to start when possible.");
        return;
    }
    if let Err(e) = start_rewrite(srv, true) {
        log::warning(&format!(
            "Redis needs to enable the AOF but can't trigger a background AOF rewrite operation: {e}"
        ));
    }
}

/// BGREWRITEAOF (and, with `enable`, CONFIG SET appendonly yes): starts a rewrite on a
/// background thread.
pub fn start_rewrite(srv: &Server, enable: bool) -> Result<(), &'static str> {
    if srv.aof.rewrite_in_progress.swap(true, Relaxed) {
        return Err("ERR Background append only file rewriting already in progress");
    }
    let Some(me) = srv.me.get().and_then(|w| w.upgrade()) else {
        srv.aof.rewrite_in_progress.store(false, Relaxed);
        return Err("ERR server is shutting down");
    };
    srv.aof.kill.store(false, SeqCst);
    srv.aof.rewrite_started_ms.store(unix_ms(), Relaxed);
    log::notice("Background append only file rewriting started");
    let mut thread = srv.aof.thread.lock();
    let spawned = std::thread::Builder::new().name("ochre-aofrw".into()).spawn(move || {
        let srv = &*me;
        let ok = rewrite(srv, enable);
        match &ok {
            Err(e) if srv.aof.kill.load(SeqCst) => log::warning(&format!("Background AOF rewrite stopped: {e}")),
            Err(e) => log::warning(&format!("Background AOF rewrite failed: {e}")),
            Ok(()) => {}
        }
        // A stopped rewrite is not a failure (Redis kills its child with SIGUSR1 then).
        if ok.is_ok() || !srv.aof.kill.load(SeqCst) {
            srv.aof.last_rewrite_ok.store(ok.is_ok(), Relaxed);
        }
        let started = srv.aof.rewrite_started_ms.swap(0, Relaxed);
        srv.aof.last_rewrite_secs.store((unix_ms() - started) / 1000, Relaxed);
        srv.aof.walking.store(false, SeqCst);
        srv.aof.rewrite_in_progress.store(false, Relaxed);
    });
    match spawned {
        Ok(h) => {
            *thread = Some(h);
            Ok(())
        }
        Err(_) => {
            srv.aof.rewrite_in_progress.store(false, Relaxed);
            Err("ERR could not start the AOF rewrite")
        }
    }
}

/// Stops a running rewrite (CONFIG SET appendonly no, SHUTDOWN: Redis kills its child) and,
/// once it is walking, waits until its thread has removed the temporary file. Incremental files
/// it opened stay in the manifest, as Redis's do.
pub fn kill_rewrite(srv: &Server) {
    if !srv.aof.rewrite_in_progress.load(Relaxed) {
        return;
    }
    // A rewrite that has not taken its instant sees `kill` when it does (under the world lock,
    // which the caller may hold shared, so it must not be waited for) and gives up.
    srv.aof.kill.store(true, SeqCst);
    if srv.aof.walking.load(SeqCst) {
        srv.rdb.progress.abort.store(true, Relaxed);
        srv.keyspace.abort_capture();
        let handle = srv.aof.thread.lock().take();
        if let Some(h) = handle {
            let _ = h.join();
        }
    }
}

/// How a base file is written: an RDB image with `aof-use-rdb-preamble`, commands otherwise.
fn base_options(srv: &Server, preamble: bool, now_ms: i64) -> snapshot::WriteOptions {
    snapshot::WriteOptions {
        format: if preamble {
            snapshot::Format::Rdb
        } else {
            snapshot::Format::Commands
        },
        compress: srv.config.get_bool("rdbcompression"),
        checksum: srv.config.get_bool("rdbchecksum"),
        key_delay_us: srv.config.get_i64("rdb-key-save-delay").max(0) as u64,
        now_ms,
        libraries: srv.scripts.functions.codes(),
        timestamp: srv.config.get_bool("aof-timestamp-enabled"),
    }
}

/// Writes base file `name` with the dataset as it is now, on the calling thread (start-up).
fn write_base(srv: &Server, name: &str) -> Result<u64, String> {
    let preamble = srv.config.get_bool("aof-use-rdb-preamble");
    let opts = base_options(srv, preamble, unix_ms());
    let progress = srv.rdb.progress.clone();
    snapshot::begin(&srv.keyspace, &opts, progress, snapshot::rewrite_temp_path(), || {})
        .and_then(|running| running.finish(&srv.keyspace, &dir(srv).join(name)))
        .map(|w| w.bytes)
        .map_err(|e| format!("Can't write the AOF base file {name}: {e}"))
}

/// A rewrite that has taken its instant: the snapshot to walk into the new base file, and the
/// manifest to install once it is written.
struct Begun {
    running: snapshot::Running,
    base_name: String,
    next: Manifest,
}

/// The rewrite's instant, with nothing else running: appends switch to a new incremental file
/// (or, with the AOF off, none) and the snapshot of the same instant begins, so the base plus
/// the files after it are exactly the dataset. Takes the snapshot slot (`rdb.busy`).
fn take_instant(srv: &Server, enable: bool) -> Result<Option<Begun>, String> {
    if srv.aof.kill.load(SeqCst) {
        return Err("stopped before it started".into());
    }
    if srv.rdb.busy.swap(true, Relaxed) {
        // A SAVE holds the snapshot slot: the cron starts the rewrite again once it is free.
        srv.aof.scheduled_enable.fetch_or(enable, Relaxed);
        srv.aof.rewrite_scheduled.store(true, Relaxed);
        return Ok(None);
    }
    let begun = switch_and_begin(srv, enable);
    if begun.is_err() {
        srv.rdb.busy.store(false, Relaxed);
    }
    begun.map(Some)
}

fn switch_and_begin(srv: &Server, enable: bool) -> Result<Begun, String> {
    let d = dir(srv);
    let preamble = srv.config.get_bool("aof-use-rdb-preamble");
    let on = srv.propagation.aof_on();
    let mut m = if on {
        srv.aof.manifest.lock().clone()
    } else {
        load_manifest(srv)?
    };
    let mut next = m.clone();
    let base_name = name_base(srv, &mut next, preamble);
    if !on && !enable {
        // AOF off: only a base file and its manifest, no incremental file.
        next.history
            .extend(next.incr.drain(..).map(|f| FileInfo { kind: 'h', ..f }));
        *srv.aof.manifest.lock() = m;
    } else {
        // Appends from now on go to a new incremental file.
        let incr = new_incr(srv, &mut m);
        let file = File::create(d.join(&incr.name))
            .map_err(|e| format!("Can't open the append-only file {}: {e}", incr.name))?;
        persist_manifest(srv, &m)?;
        log::notice(&format!("Creating AOF incr file {} on background rewrite", incr.name));
        let mut cur = srv.aof.file.lock();
        drain(srv, &mut cur, Sync::Force);
        *cur = Some(Current {
            file,
            size: 0,
            last_fsync: Instant::now(),
            dirty: false,
        });
        srv.aof.buf.lock().selected_db = -1;
        *srv.aof.manifest.lock() = m;
        if !on {
            srv.propagation.set_aof(true);
            start_writer(srv);
        }
    }
    let opts = base_options(srv, preamble, unix_ms());
    let running = snapshot::begin(
        &srv.keyspace,
        &opts,
        srv.rdb.progress.clone(),
        snapshot::rewrite_temp_path(),
        || {},
    )
    .map_err(|e| format!("Can't open the temporary rewrite file: {e}"))?;
    srv.aof.walking.store(true, SeqCst);
    Ok(Begun {
        running,
        base_name,
        next,
    })
}

/// One rewrite: the instant (world lock plus order mutex, a moment), then the walk writes the
/// base at a low priority while commands go on, and the manifest is replaced.
fn rewrite(srv: &Server, enable: bool) -> Result<(), String> {
    let d = dir(srv);
    std::fs::create_dir_all(&d).map_err(|e| format!("Can't open or create append-only dir {}: {e}", d.display()))?;
    let begun = {
        let _world = srv.world.exclusive();
        crate::server::propagate::exclusive(srv, || take_instant(srv, enable))?
    };
    let Some(Begun {
        running,
        base_name,
        mut next,
    }) = begun
    else {
        return Ok(());
    };
    super::save::lower_priority();
    let written = running.finish(&srv.keyspace, &d.join(&base_name));
    srv.rdb.busy.store(false, Relaxed);
    let bytes = written
        .map_err(|e| format!("Write error writing append only file on disk: {e}"))?
        .bytes;
    // The new base replaces the old base and every incremental file but the newest.
    let mut live = srv.aof.manifest.lock();
    let newest = if srv.propagation.aof_on() {
        live.incr.last().cloned()
    } else {
        None
    };
    for f in live
        .incr
        .iter()
        .filter(|f| Some(&f.name) != newest.as_ref().map(|n| &n.name))
    {
        next.history.push(FileInfo { kind: 'h', ..f.clone() });
    }
    next.incr = newest.into_iter().collect();
    next.incr_seq = next.incr_seq.max(live.incr_seq);
    persist_manifest(srv, &next)?;
    *live = next;
    drop(live);
    srv.aof.base_size.store(bytes, Relaxed);
    let incr_size = srv.aof.file.lock().as_ref().map_or(0, |c| c.size);
    srv.aof.current_size.store(bytes + incr_size, Relaxed);
    srv.aof.rewrites.fetch_add(1, Relaxed);
    log::notice("Background AOF rewrite terminated with success");
    delete_history(srv);
    log::notice("Background AOF rewrite finished successfully");
    Ok(())
}

/// CONFIG SET appendonly no: stops a running rewrite, then flushes, fsyncs and closes the log.
pub fn disable(srv: &Server) {
    kill_rewrite(srv);
    crate::server::propagate::exclusive(srv, || {
        srv.propagation.set_aof(false);
        let mut cur = srv.aof.file.lock();
        drain(srv, &mut cur, Sync::Force);
        *cur = None;
    });
    srv.aof.synced_cv.notify_all();
}

/// Writes and fsyncs whatever is buffered (SHUTDOWN, DEBUG LOADAOF).
pub fn flush(srv: &Server) {
    let mut cur = srv.aof.file.lock();
    drain(srv, &mut cur, Sync::Force);
}

/// DEBUG LOADAOF: flush the log, empty the dataset and load it back from the files. The caller
/// holds the world lock exclusively.
pub fn reload(srv: &Server) -> Result<(), String> {
    flush(srv);
    {
        let mut locked = snapshot::lock_all_dbs(&srv.keyspace);
        for db in locked.iter_mut() {
            for s in db.shards() {
                s.clear();
            }
        }
    }
    let m = srv.aof.manifest.lock().clone();
    let total = m.base.iter().chain(&m.incr).map(|f| file_size(srv, &f.name)).sum();
    let _loading = srv.rdb.begin_loading(total);
    for f in m.base.iter().chain(&m.incr) {
        if let Loaded::Failed = load_file(srv, &f.name) {
            return Err(format!("AOF loading of {} failed", f.name));
        }
    }
    Ok(())
}

/// The cron's part: a scheduled rewrite once no BGSAVE runs, auto-aof-rewrite-percentage /
/// min-size.
pub fn cron(srv: &Server) {
    if srv.aof.rewrite_in_progress.load(Relaxed) || srv.rdb.bgsave_in_progress.load(Relaxed) {
        return;
    }
    if srv.aof.rewrite_scheduled.swap(false, Relaxed) {
        let enable = srv.aof.scheduled_enable.swap(false, Relaxed);
        if enable && !srv.config.get_bool("appendonly") {
            return; // Turned off again before it could start.
        }
        let _ = start_rewrite(srv, enable);
        return;
    }
    if !srv.propagation.aof_on() {
        return;
    }
    let pct = srv.config.get_i64("auto-aof-rewrite-percentage");
    let min = srv.config.get_i64("auto-aof-rewrite-min-size").max(0) as u64;
    let size = srv.aof.current_size.load(Relaxed);
    if pct <= 0 || size < min {
        return;
    }
    let base = srv.aof.base_size.load(Relaxed).max(1);
    let growth = (size * 100 / base).saturating_sub(100);
    if growth >= pct as u64 {
        log::notice(&format!("Starting automatic rewriting of AOF on {growth}% growth"));
        let _ = start_rewrite(srv, false);
    }
}

/// INFO persistence's `aof_*` lines.
pub fn info(srv: &Server, enabled: bool) -> String {
    let a = &srv.aof;
    let started = a.rewrite_started_ms.load(Relaxed);
    let mut s = format!(
        "aof_enabled:{}\r\naof_rewrite_in_progress:{}\r\naof_rewrite_scheduled:{}\r\naof_last_rewrite_time_sec:{}\r\naof_current_rewrite_time_sec:{}\r\naof_last_bgrewrite_status:{}\r\naof_rewrites:{}\r\naof_rewrites_consecutive_failures:0\r\naof_last_write_status:{}\r\naof_last_cow_size:0\r\n",
        enabled as u8,
        a.rewrite_in_progress.load(Relaxed) as u8,
        a.rewrite_scheduled.load(Relaxed) as u8,
        a.last_rewrite_secs.load(Relaxed),
        if started > 0 { (unix_ms() - started) / 1000 } else { -1 },
        if a.last_rewrite_ok.load(Relaxed) { "ok" } else { "err" },
        a.rewrites.load(Relaxed),
        if a.last_write_ok.load(Relaxed) { "ok" } else { "err" },
    );
    if enabled {
        s.push_str(&format!(
            "aof_current_size:{}\r\naof_base_size:{}\r\naof_pending_rewrite:0\r\naof_buffer_length:{}\r\naof_pending_bio_fsync:0\r\naof_delayed_fsync:0\r\n",
            a.current_size.load(Relaxed),
            a.base_size.load(Relaxed),
            a.buf.lock().data.len(),
        ));
    }
    s
}
