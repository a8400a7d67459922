//! Per-connection state ([`Client`], owned by the connection's task) and the registry of all
//! connections ([`ClientHandle`], shared) that CLIENT LIST / KILL and INFO read.

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::task::Waker;

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
    /// Id of the last command (index into `CommandTable::names`) + 1; 0 = none yet.
    pub last_cmd: AtomicUsize,
    pub kill: AtomicBool,
    /// Messages queued by other threads (MONITOR output, later pub/sub), written at next wake.
    pub pending: Mutex<Vec<u8>>,
    /// Set by other threads when the connection must look at `pending` or `kill`.
    pub signal: AtomicBool,
    /// The connection task's waker, registered each time it waits.
    pub waker: Mutex<Option<Waker>>,
    pub is_monitor: AtomicBool,
    pub no_evict: AtomicBool,
    pub qbuf: AtomicUsize,
    pub multi: AtomicI64,
    pub user: Mutex<String>,
    pub tot_net_in: AtomicU64,
    pub tot_net_out: AtomicU64,
    pub tot_cmds: AtomicU64,
}

impl ClientHandle {
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

    /// The CLIENT LIST / CLIENT INFO line for this client.
    pub fn info_line(&self, now_ms: i64, names: &[String]) -> String {
        let name = self.name.lock().clone().unwrap_or_default();
        let age = (now_ms - self.created_ms).max(0) / 1000;
        let idle = (now_ms - self.last_interaction_ms.load(Relaxed)).max(0) / 1000;
        let mut flags = String::new();
        if self.is_monitor.load(Relaxed) {
            flags.push('O');
        }
        if self.multi.load(Relaxed) >= 0 {
            flags.push('x');
        }
        if self.no_evict.load(Relaxed) {
            flags.push('e');
        }
        if flags.is_empty() {
            flags.push('N');
        }
        let qbuf = self.qbuf.load(Relaxed);
        format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub=0 psub=0 ssub=0 multi={} qbuf={} qbuf-free={} argv-mem=0 multi-mem=0 rbs=1024 rbp=0 obl=0 oll=0 omem=0 tot-mem={} events=r cmd={} user={} redir=-1 resp={} lib-name={} lib-ver={}",
            self.id,
            self.addr,
            self.laddr,
            self.fd,
            String::from_utf8_lossy(&name),
            age,
            idle,
            flags,
            self.db.load(Relaxed),
            self.multi.load(Relaxed),
            qbuf,
            16384usize.saturating_sub(qbuf),
            20000 + qbuf,
            match self.last_cmd.load(Relaxed) {
                0 => "NULL",
                n => names.get(n - 1).map(|s| s.as_str()).unwrap_or("NULL"),
            },
            self.user.lock(),
            self.resp.load(Relaxed),
            String::from_utf8_lossy(&self.lib_name.lock().clone().unwrap_or_default()),
            String::from_utf8_lossy(&self.lib_ver.lock().clone().unwrap_or_default()),
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

    pub fn remove(&self, id: u64) {
        self.map.lock().remove(&id);
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
        }
    }

    pub fn select(&mut self, db: usize) {
        self.db = db;
        self.handle.db.store(db, Relaxed);
    }
}
