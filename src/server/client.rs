//! Per-connection state ([`Client`], owned by the connection's task) and the registry of all
//! connections ([`ClientHandle`], shared) that CLIENT LIST / KILL and INFO read.

use crate::commands::Command;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicPtr, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::task::Waker;

/// Smallest and largest reply buffer sizes (Redis's PROTO_REPLY_MIN_BYTES, PROTO_REPLY_CHUNK_BYTES).
pub const REPLY_MIN: usize = 1024;
pub const REPLY_CHUNK: usize = 16 * 1024;

/// CLIENT REPLY mode.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ReplyMode {
    On,
    Off,
    /// Skip the reply of the next command only.
    SkipNext,
    /// Skipping the current command's reply (set from SkipNext when a command starts).
    Skip,
}

/// What other threads may see or change of a connection.
pub struct ClientHandle {
    pub id: u64,
    pub addr: String,
    pub laddr: String,
    pub fd: i32,
    pub created_ms: i64,
    pub name: Mutex<Option<Vec<u8>>>,
    pub lib_name: Mutex<Option<Vec<u8>>>,
    pub lib_ver: Mutex<Option<Vec<u8>>>,
    pub db: AtomicUsize,
    pub resp: AtomicUsize,
    /// Unix ms of the last command.
    pub last_interaction_ms: AtomicI64,
    /// The command being run or last run (`cmd=` in CLIENT LIST); null before the first one.
    /// Points into the server's command table, which is never changed after start and outlives
    /// every connection.
    last_cmd: AtomicPtr<Command>,
    pub kill: AtomicBool,
    /// Reply buffer size (`rbs=`), adapted by the cron to recent use as Redis does: it shrinks
    /// toward the peak of an idle client and doubles (up to 16 KB) for a busy one.
    pub rbs: AtomicUsize,
    /// Most reply bytes buffered at once since the last peak reset (`rbp=`).
    pub buf_peak: AtomicUsize,
    pub buf_peak_reset_ms: AtomicI64,
    /// Messages queued by other threads (MONITOR output, later pub/sub), written at next wake.
    pub pending: Mutex<Vec<u8>>,
    /// Set by other threads when the connection must look at `pending` or `kill`.
    pub signal: AtomicBool,
    /// The connection task's waker, registered each time it waits.
    pub waker: Mutex<Option<Waker>>,
    pub is_monitor: AtomicBool,
    /// Attached as a replica by SYNC/PSYNC (the `S` flag; CLIENT KILL TYPE replica).
    pub is_replica: AtomicBool,
    /// Counted in INFO's `blocked_clients` now (see `connection::BlockedCount`).
    pub blocked_counted: AtomicBool,
    pub no_evict: AtomicBool,
    /// Blocked in BLPOP, BZPOPMIN... (the `b` of CLIENT LIST's flags); kept by `blocking.rs`.
    pub blocked: AtomicBool,
    /// Bytes in the query buffer, counted from the start of the command being run (`qbuf=`).
    pub qbuf: AtomicUsize,
    /// Capacity of the query buffer (`qbuf-free=` is capacity minus `qbuf`).
    pub qbuf_cap: AtomicUsize,
    /// Total length of the arguments of the command being run (`argv-mem=`).
    pub argv_mem: AtomicUsize,
    /// Queued commands while in MULTI, -1 outside (`multi=`).
    pub multi: AtomicI64,
    /// Bytes of the queued commands' arguments (`multi-mem=`).
    pub multi_mem: AtomicUsize,
    /// Set by any thread that changed a key this client WATCHes: its EXEC must fail.
    pub watch_dirty: AtomicBool,
    pub user: Mutex<String>,
    pub tot_net_in: AtomicU64,
    pub tot_net_out: AtomicU64,
    pub tot_cmds: AtomicU64,
    /// Channels, patterns and shard channels subscribed (`sub=` `psub=` `ssub=`).
    pub subs: [AtomicUsize; 3],
    /// In Pub/Sub subscriber mode (flag `P`, client type pubsub, its output limits).
    pub pubsub_mode: AtomicBool,
    /// Reply bytes the connection has taken from `pending` but not written yet; with
    /// `pending` they are what `client-output-buffer-limit` bounds.
    pub obuf_unsent: AtomicUsize,
    /// Unix seconds since when the soft output limit has been exceeded (0 = it is not).
    pub obuf_soft_since: AtomicI64,
}

/// Client kinds as CLIENT LIST TYPE and CLIENT KILL TYPE name them.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ClientType {
    Normal,
    Replica,
    Master,
    PubSub,
}

impl ClientType {
    /// Parses a type name as Redis's `getClientTypeByName` does (`slave` and `replica` alike).
    pub fn parse(name: &[u8]) -> Option<ClientType> {
        Some(match name.to_ascii_lowercase().as_slice() {
            b"normal" => ClientType::Normal,
            b"slave" | b"replica" => ClientType::Replica,
            b"master" => ClientType::Master,
            b"pubsub" => ClientType::PubSub,
            _ => return None,
        })
    }
}

impl ClientHandle {
    pub fn new(id: u64, addr: String, laddr: String, fd: i32, now_ms: i64) -> ClientHandle {
        ClientHandle {
            id,
            addr,
            laddr,
            fd,
            created_ms: now_ms,
            rbs: AtomicUsize::new(REPLY_CHUNK),
            buf_peak: AtomicUsize::new(0),
            buf_peak_reset_ms: AtomicI64::new(now_ms),
            name: Mutex::new(None),
            lib_name: Mutex::new(None),
            lib_ver: Mutex::new(None),
            db: AtomicUsize::new(0),
            resp: AtomicUsize::new(2),
            last_interaction_ms: AtomicI64::new(now_ms),
            last_cmd: AtomicPtr::new(std::ptr::null_mut()),
            kill: AtomicBool::new(false),
            pending: Mutex::new(Vec::new()),
            signal: Default::default(),
            waker: Default::default(),
            is_monitor: AtomicBool::new(false),
            is_replica: AtomicBool::new(false),
            blocked_counted: AtomicBool::new(false),
            no_evict: AtomicBool::new(false),
            blocked: AtomicBool::new(false),
            qbuf: AtomicUsize::new(0),
            qbuf_cap: AtomicUsize::new(0),
            argv_mem: AtomicUsize::new(0),
            multi: AtomicI64::new(-1),
            multi_mem: AtomicUsize::new(0),
            watch_dirty: AtomicBool::new(false),
            user: Mutex::new("default".into()),
            tot_net_in: AtomicU64::new(0),
            tot_net_out: AtomicU64::new(0),
            tot_cmds: AtomicU64::new(0),
            subs: Default::default(),
            pubsub_mode: AtomicBool::new(false),
            obuf_unsent: AtomicUsize::new(0),
            obuf_soft_since: AtomicI64::new(0),
        }
    }

    /// Queues bytes for the connection and wakes it.
    pub fn send(&self, bytes: &[u8]) {
        self.pending.lock().extend_from_slice(bytes);
        self.wake();
    }

    /// Asks the connection to close at its next wake-up.
    pub fn kill(&self) {
        self.kill.store(true, Relaxed);
        self.wake();
    }

    /// Notes that `used` reply bytes were buffered at once (connection thread, per batch).
    #[inline]
    pub fn note_reply_bytes(&self, used: usize) {
        let used = used.min(self.rbs.load(Relaxed));
        if used > self.buf_peak.load(Relaxed) {
            self.buf_peak.store(used, Relaxed);
        }
    }

    /// Redis's clientsCronResizeOutputBuffer: shrink the reply buffer of a client that used less
    /// than half of it, grow (double, up to 16 KB) one that filled it; reset the peak every
    /// `peak_reset_ms` (negative: never).
    pub fn resize_reply_buffer(&self, now_ms: i64, peak_reset_ms: i64) {
        let rbs = self.rbs.load(Relaxed);
        let peak = self.buf_peak.load(Relaxed);
        let new = if rbs / 2 >= REPLY_MIN && peak < rbs / 2 {
            REPLY_MIN.max(peak + 1)
        } else if rbs < REPLY_CHUNK && peak >= rbs {
            REPLY_CHUNK.min(rbs * 2)
        } else {
            rbs
        };
        self.rbs.store(new, Relaxed);
        if peak_reset_ms >= 0 && now_ms - self.buf_peak_reset_ms.load(Relaxed) >= peak_reset_ms {
            self.buf_peak.store(0, Relaxed);
            self.buf_peak_reset_ms.store(now_ms, Relaxed);
        }
    }

    /// Wakes the connection's task (from any thread).
    pub fn wake(&self) {
        self.signal.store(true, std::sync::atomic::Ordering::Release);
        if let Some(w) = self.waker.lock().as_ref() {
            w.wake_by_ref();
        }
    }

    /// Consumes a pending wake-up signal.
    #[inline]
    pub fn take_signal(&self) -> bool {
        self.signal.load(Relaxed) && self.signal.swap(false, std::sync::atomic::Ordering::Acquire)
    }

    /// Stores the waker to use for the next wake-up (cheap when it did not change).
    #[inline]
    pub fn register(&self, w: &Waker) {
        let mut slot = self.waker.lock();
        match slot.as_ref() {
            Some(old) if old.will_wake(w) => {}
            _ => *slot = Some(w.clone()),
        }
    }

    /// Records the command about to run (a relaxed pointer store: no lock, no allocation).
    #[inline]
    pub fn set_last_cmd(&self, cmd: &Command) {
        self.last_cmd.store(cmd as *const Command as *mut Command, Relaxed);
    }

    /// The full name of the command being run or last run, `NULL` before the first.
    pub fn last_cmd_name(&self) -> &str {
        let p = self.last_cmd.load(Relaxed);
        // SAFETY: the pointer is null or was taken from the server's command table, which is
        // built once at start, never mutated and lives as long as the server that owns this
        // handle (see the field's comment).
        match unsafe { p.as_ref() } {
            Some(c) => &c.full_name,
            None => "NULL",
        }
    }

    /// The kind of client (MONITOR clients count as replicas, as in Redis).
    pub fn kind(&self) -> ClientType {
        if self.is_monitor.load(Relaxed) || self.is_replica.load(Relaxed) {
            ClientType::Replica
        } else if self.pubsub_mode.load(Relaxed) {
            ClientType::PubSub
        } else {
            ClientType::Normal
        }
    }

    /// Seconds since the connection was made.
    pub fn age_secs(&self, now_ms: i64) -> i64 {
        (now_ms - self.created_ms).max(0) / 1000
    }

    /// The CLIENT LIST / CLIENT INFO line for this client, in Redis 7.0's exact field order.
    pub fn info_line(&self, now_ms: i64) -> String {
        let name = self.name.lock().clone().unwrap_or_default();
        let idle = (now_ms - self.last_interaction_ms.load(Relaxed)).max(0) / 1000;
        let mut flags = String::new();
        if self.is_replica.load(Relaxed) {
            flags.push('S');
        }
        if self.is_monitor.load(Relaxed) {
            flags.push('O');
        }
        if self.pubsub_mode.load(Relaxed) {
            flags.push('P');
        }
        if self.multi.load(Relaxed) >= 0 {
            flags.push('x');
        }
        if self.blocked.load(Relaxed) {
            flags.push('b');
        }
        if self.kill.load(Relaxed) {
            flags.push('A');
        }
        if self.no_evict.load(Relaxed) {
            flags.push('e');
        }
        if flags.is_empty() {
            flags.push('N');
        }
        let qbuf = self.qbuf.load(Relaxed);
        let qbuf_free = self.qbuf_cap.load(Relaxed).saturating_sub(qbuf);
        let argv_mem = self.argv_mem.load(Relaxed);
        let obl = self.pending.lock().len();
        let omem = obl + self.obuf_unsent.load(Relaxed);
        // Memory as Redis counts it: the client struct, the query buffer and the argument vector.
        let tot_mem = 1024 + 16 * 1024 + qbuf + qbuf_free + argv_mem + obl;
        format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} qbuf={} qbuf-free={} argv-mem={} multi-mem={} rbs={} rbp={} obl={} oll=0 omem={} tot-mem={} events=r cmd={} user={} redir=-1 resp={}",
            self.id,
            self.addr,
            self.laddr,
            self.fd,
            String::from_utf8_lossy(&name),
            self.age_secs(now_ms),
            idle,
            flags,
            self.db.load(Relaxed),
            self.subs[0].load(Relaxed),
            self.subs[1].load(Relaxed),
            self.subs[2].load(Relaxed),
            self.multi.load(Relaxed),
            qbuf,
            qbuf_free,
            argv_mem,
            self.multi_mem.load(Relaxed),
            self.rbs.load(Relaxed),
            self.buf_peak.load(Relaxed),
            obl,
            omem,
            tot_mem,
            self.last_cmd_name(),
            self.user.lock(),
            self.resp.load(Relaxed),
        )
    }
}

/// All connected clients by id.
#[derive(Default)]
pub struct ClientRegistry {
    pub map: Mutex<BTreeMap<u64, Arc<ClientHandle>>>,
    next_id: AtomicU64,
}

impl ClientRegistry {
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Relaxed) + 1
    }

    pub fn add(&self, h: Arc<ClientHandle>) {
        self.map.lock().insert(h.id, h);
    }

    pub fn remove(&self, id: u64) -> Option<Arc<ClientHandle>> {
        self.map.lock().remove(&id)
    }

    pub fn count(&self) -> usize {
        self.map.lock().len()
    }

    pub fn all(&self) -> Vec<Arc<ClientHandle>> {
        self.map.lock().values().cloned().collect()
    }

    pub fn get(&self, id: u64) -> Option<Arc<ClientHandle>> {
        self.map.lock().get(&id).cloned()
    }
}

/// State of one connection, owned by its task.
pub struct Client {
    pub id: u64,
    pub db: usize,
    pub authenticated: bool,
    pub reply_mode: ReplyMode,
    /// Close the connection after writing pending replies (QUIT, protocol errors, CLIENT KILL).
    pub close_after_reply: bool,
    pub handle: Arc<ClientHandle>,
    /// The worker running this client (index of its world lock).
    pub worker: usize,
    /// Set while the command being executed runs inside EXEC (affects a few replies).
    pub in_exec: bool,
    /// Set on the Lua client while a script runs its commands (`redis.call`): like inside EXEC,
    /// nothing may block.
    pub in_script: bool,
    /// Set while blocked in BLPOP and friends (see `server::blocking`).
    pub blocked: Option<Arc<super::blocking::Waiter>>,
    /// MULTI's queue and the WATCHed keys (see `server::multi`).
    pub multi: super::multi::ClientState,
    /// Pub/Sub subscriptions (see `server::pubsub`).
    pub subs: super::pubsub::Subscriptions,
    /// The port a replica said it listens on (REPLCONF listening-port).
    pub replica_port: u16,
    /// REPLCONF rdb-only 1: the replica wants the image only, then the connection ends.
    pub rdb_only: bool,
    /// REPLCONF rdb-filter-only: what the image leaves out (keys; function libraries).
    pub rdb_no_data: bool,
    pub rdb_no_functions: bool,
    /// On the master's client of a replica (`replication::replica`): its link's generation;
    /// 0 on every other client.
    pub master_link: u64,
}

impl Client {
    pub fn new(handle: Arc<ClientHandle>, worker: usize, authenticated: bool) -> Client {
        Client {
            id: handle.id,
            db: 0,
            authenticated,
            reply_mode: ReplyMode::On,
            close_after_reply: false,
            handle,
            worker,
            in_exec: false,
            in_script: false,
            blocked: None,
            multi: Default::default(),
            subs: Default::default(),
            replica_port: 0,
            rdb_only: false,
            rdb_no_data: false,
            rdb_no_functions: false,
            master_link: 0,
        }
    }

    /// Whether a blocking command must answer at once instead of waiting (inside EXEC or a
    /// script, as Redis's CLIENT_DENY_BLOCKING / CLIENT_MULTI).
    #[inline]
    pub fn cannot_block(&self) -> bool {
        self.in_exec || self.in_script
    }

    pub fn select(&mut self, db: usize) {
        self.db = db;
        self.handle.db.store(db, Relaxed);
    }
}
