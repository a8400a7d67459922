//! Blocking commands (Redis's `blocked.c`): BLPOP and friends wait for a key to receive data.
//!
//! * A command that finds nothing to pop calls [`block`] *while it still holds the shard locks of
//!   its keys*. The [`Waiter`] (client, database, arguments, deadline and the function that serves
//!   it) is queued in the [`Registry`] under each key, first come first served. The connection
//!   then stops processing its input (pipelined requests wait) until it is unblocked.
//! * A command that may make a key ready (a push) calls [`signal`] under its lock. When it has
//!   finished, `dispatch` calls [`serve_ready`] on the same thread: for each signalled key, the
//!   first waiter's [`ServeFn`] locks the keys it needs, checks the key can serve it, *claims* the
//!   waiter (an atomic state change, so a timeout or CLIENT UNBLOCK racing on another thread
//!   cannot also answer it), pops, and queues the reply in the waiter's connection before the
//!   locks are released; then it wakes the waiter. This repeats while the key has data, so the
//!   waiters are served in Redis's order, before the pusher's reply leaves the server. Waiters
//!   for another type than the key now holds (BLPOP on a key that became a sorted set) are
//!   passed over and stay blocked ([`Outcome::Skip`]), as in Redis 7.0.
//! * Because registration and signalling both happen under the key's shard lock, a push either
//!   sees the waiter or happens before the waiter's own check: no wake-up is lost, even with the
//!   waiter and the pusher on different worker threads.
//! * The waiter's own connection handles timeouts (a timer in its loop), CLIENT UNBLOCK (another
//!   thread sets the state and wakes it) and disconnection (it removes itself).
//!
//! The serve step is a function pointer chosen by the blocked command, so sorted sets
//! (BZPOPMIN…) and streams (XREAD BLOCK) reuse the whole mechanism with their own serve function.

use super::client::{Client, ClientHandle};
use super::Server;
use crate::protocol::reply::Reply;
use parking_lot::Mutex;
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;

/// What a serve attempt did.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Outcome {
    /// The waiter was answered (its reply is queued); it leaves the registry.
    Served,
    /// The waiter could not be claimed (it timed out or was unblocked meanwhile); skip it.
    Gone,
    /// The key cannot serve this waiter now (missing, empty or of another type): stop serving
    /// this key; the waiter stays blocked.
    NotReady,
    /// The key holds data of a type this waiter does not wait for (a list for BZPOPMIN): the
    /// waiter stays blocked and the next one in the key's queue is tried, as Redis serves a
    /// key's clients of the key's type and skips the others.
    Skip,
}

/// Serves `waiter` from the ready `key`. Must lock what it needs, check, call
/// [`Waiter::claim`] before changing anything, and finish with [`Waiter::deliver`].
pub type ServeFn = fn(&Server, &Waiter, &[u8]) -> Outcome;

/// How the waiter's own connection answers when it is unblocked without data.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TimeoutReply {
    /// The null array: every list and sorted-set blocking command in Redis 7.0 (BLMOVE and
    /// BRPOPLPUSH included).
    NullArray,
    /// The null bulk string.
    Null,
}

const WAITING: u8 = 0;
/// A serving thread owns it and is writing the reply.
const CLAIMED: u8 = 1;
const SERVED: u8 = 2;
const TIMED_OUT: u8 = 3;
const UNBLOCK_TIMEOUT: u8 = 4;
const UNBLOCK_ERROR: u8 = 5;
const GONE: u8 = 6;

/// A blocked client.
pub struct Waiter {
    pub handle: Arc<ClientHandle>,
    pub db: usize,
    /// The blocked command's arguments (the serve function parses them again).
    pub argv: Vec<Vec<u8>>,
    /// Distinct keys waited on, in the command's order.
    pub keys: Vec<Vec<u8>>,
    /// Unix ms at which it times out; 0 = never.
    pub deadline_ms: i64,
    pub serve: ServeFn,
    pub on_timeout: TimeoutReply,
    state: AtomicU8,
    /// Replies that must follow this waiter's own (a script's park only: the immediate replies
    /// of requests pipelined after it, see [`Waiter::then`]).
    then: Mutex<Vec<u8>>,
}

impl Waiter {
    /// Takes the right to answer this waiter; false when something else already answered it.
    pub fn claim(&self) -> bool {
        self.state
            .compare_exchange(WAITING, CLAIMED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// A reply writer in the waiter's protocol version.
    pub fn reply(&self) -> Reply {
        let mut r = Reply::new();
        r.resp = self.handle.resp.load(Ordering::Relaxed) as u8;
        r
    }

    /// Queues the reply of a claimed waiter and wakes its connection.
    pub fn deliver(&self, reply: &Reply) {
        self.fill(reply);
        self.handle.wake();
    }

    /// Queues the reply of a claimed waiter without waking its connection (the caller wakes
    /// it, e.g. the script thread through the worker's relay, one wake-up for many replies).
    pub fn fill(&self, reply: &Reply) {
        let mut pending = self.handle.pending.lock();
        pending.extend_from_slice(&reply.buf);
        let mut then = self.then.lock();
        if !then.is_empty() {
            pending.extend_from_slice(&then);
            then.clear();
        }
        // Under the pending lock, so `then` sees either the waiter unserved or its reply queued.
        self.state.store(SERVED, Ordering::Release);
    }

    /// Queues `bytes` to be sent right after this waiter's reply: at once when it was already
    /// delivered, else by [`Waiter::fill`] together with it.
    pub fn then(&self, bytes: &[u8]) {
        let mut pending = self.handle.pending.lock();
        if self.state() == SERVED {
            pending.extend_from_slice(bytes);
        } else {
            self.then.lock().extend_from_slice(bytes);
        }
    }

    fn state(&self) -> u8 {
        self.state.load(Ordering::Acquire)
    }
}

/// Every blocked client, by key and by client id.
#[derive(Default)]
pub struct Registry {
    inner: Mutex<Inner>,
    /// Blocked clients right now: when zero, signalling a key costs one atomic load.
    count: AtomicUsize,
}

#[derive(Default)]
struct Inner {
    keys: HashMap<(usize, Vec<u8>), VecDeque<Arc<Waiter>>>,
    clients: HashMap<u64, Arc<Waiter>>,
}

impl Registry {
    fn add(&self, w: Arc<Waiter>) {
        let mut inner = self.inner.lock();
        for k in &w.keys {
            inner.keys.entry((w.db, k.clone())).or_default().push_back(w.clone());
        }
        inner.clients.insert(w.handle.id, w);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    fn remove(&self, w: &Arc<Waiter>) {
        let mut inner = self.inner.lock();
        if inner.clients.get(&w.handle.id).is_some_and(|x| Arc::ptr_eq(x, w)) {
            inner.clients.remove(&w.handle.id);
            self.count.fetch_sub(1, Ordering::Relaxed);
        }
        for k in &w.keys {
            let id = (w.db, k.clone());
            if let Some(q) = inner.keys.get_mut(&id) {
                q.retain(|x| !Arc::ptr_eq(x, w));
                if q.is_empty() {
                    inner.keys.remove(&id);
                }
            }
        }
    }

    /// The `n`th waiter queued on `key` (0: the first).
    fn nth(&self, db: usize, key: &[u8], n: usize) -> Option<Arc<Waiter>> {
        let inner = self.inner.lock();
        inner.keys.get(&(db, key.to_vec())).and_then(|q| q.get(n).cloned())
    }

    fn has_waiters(&self, db: usize, key: &[u8]) -> bool {
        self.count.load(Ordering::Relaxed) > 0 && self.inner.lock().keys.contains_key(&(db, key.to_vec()))
    }

    /// Number of blocked clients.
    pub fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// CLIENT UNBLOCK: answers a blocked client with a timeout or an error. False when the
    /// client is not blocked (or is being served right now).
    pub fn unblock(&self, id: u64, error: bool) -> bool {
        let Some(w) = self.inner.lock().clients.get(&id).cloned() else {
            return false;
        };
        let to = if error { UNBLOCK_ERROR } else { UNBLOCK_TIMEOUT };
        if w.state
            .compare_exchange(WAITING, to, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return false;
        }
        w.handle.wake();
        true
    }
}

thread_local! {
    /// Keys signalled by the command running on this thread, served when it finishes.
    static READY: RefCell<VecDeque<(usize, Vec<u8>)>> = const { RefCell::new(VecDeque::new()) };
}

/// Notes that `key` in `db` may now serve blocked clients (call with its shard locked).
pub fn signal(srv: &Server, db: usize, key: &[u8]) {
    if srv.blocking.is_empty() || !srv.blocking.has_waiters(db, key) {
        return;
    }
    READY.with(|r| {
        let mut r = r.borrow_mut();
        if !r.iter().any(|(d, k)| *d == db && k == key) {
            r.push_back((db, key.to_vec()));
        }
    });
}

/// Signals every key clients wait on in `db` (SWAPDB: any of them may now hold data).
pub fn signal_db(srv: &Server, db: usize) {
    if srv.blocking.is_empty() {
        return;
    }
    let keys: Vec<Vec<u8>> = srv
        .blocking
        .inner
        .lock()
        .keys
        .keys()
        .filter(|(d, _)| *d == db)
        .map(|(_, k)| k.clone())
        .collect();
    for k in keys {
        signal(srv, db, &k);
    }
}

/// After a write that changed data while clients are blocked: signals the keys it wrote, so a
/// reader blocked in XREADGROUP learns that its stream was deleted or replaced (Redis signals
/// every key added, overwritten or deleted; `signalDeletedKeyAsReady`). FLUSHALL/FLUSHDB
/// signal every key waited on in the databases they emptied.
pub fn signal_command(srv: &Server, db: usize, cmd: &crate::commands::Command, argv: &[&[u8]]) {
    if srv.blocking.is_empty() {
        return;
    }
    match cmd.full_name.as_str() {
        "flushall" => {
            let dbs: Vec<usize> = srv.blocking.inner.lock().keys.keys().map(|(d, _)| *d).collect();
            for d in dbs {
                signal_db(srv, d);
            }
        }
        "flushdb" => signal_db(srv, db),
        _ => {
            for (pos, _) in crate::commands::command::command_keys(cmd, argv) {
                if let Some(key) = argv.get(pos) {
                    signal(srv, db, key);
                }
            }
        }
    }
}

/// Serves the clients blocked on the keys signalled on this thread (after the command that
/// signalled them released its locks). Keys signalled while serving (BLMOVE pushing to a key
/// others wait on) are served too, in order.
pub fn serve_ready(srv: &Server) {
    loop {
        let Some((db, key)) = READY.with(|r| r.borrow_mut().pop_front()) else {
            return;
        };
        // Waiters before `skipped` in the queue wait for another type than the key holds.
        let mut skipped = 0;
        while let Some(w) = srv.blocking.nth(db, &key, skipped) {
            let start = std::time::Instant::now();
            let outcome = if w.state() == WAITING {
                (w.serve)(srv, &w, &key)
            } else {
                Outcome::Gone
            };
            match outcome {
                Outcome::NotReady => break,
                Outcome::Skip => skipped += 1,
                Outcome::Served | Outcome::Gone => {
                    // A waiter that is gone but still queued is removed by its own connection
                    // too; removing it here keeps the queue moving.
                    if outcome == Outcome::Served {
                        // No longer blocked, as far as INFO can tell, from this instant.
                        if w.handle.blocked_counted.swap(false, Ordering::Relaxed) {
                            srv.stats.blocked_clients.fetch_sub(1, Ordering::Relaxed);
                        }
                        super::propagate::served(srv, w.db, &w.argv, &key);
                        srv.blocking.remove(&w);
                        touch_served(srv, &w);
                        slowlog_served(srv, &w, start.elapsed().as_micros() as u64);
                    } else {
                        srv.blocking.remove_queued(&w, db, &key);
                    }
                }
            }
        }
    }
}

/// A served waiter changed its keys (BLMOVE's destination too): clients WATCHing them must
/// see it, as if the blocked command had run now.
fn touch_served(srv: &Server, w: &Waiter) {
    if !srv.watches.active() {
        return;
    }
    let argv: Vec<&[u8]> = w.argv.iter().map(|a| a.as_slice()).collect();
    if let Some(cmd) = argv.first().and_then(|name| srv.commands.get(name)) {
        super::multi::touch_command(srv, w.db, cmd, &argv, 0);
    }
}

/// A served blocked command goes to the slowlog now, as Redis logs it on unblock (not when it
/// blocked), timed by the serving.
fn slowlog_served(srv: &Server, w: &Waiter, us: u64) {
    let slower_than = srv.config.hot.slowlog_log_slower_than.load(Ordering::Relaxed);
    if slower_than < 0 || (us as i64) < slower_than {
        return;
    }
    let argv: Vec<&[u8]> = w.argv.iter().map(|a| a.as_slice()).collect();
    if let Some(cmd) = argv.first().and_then(|name| srv.commands.get(name)) {
        srv.slowlog.record(srv, &w.handle, cmd, &argv, us, super::unix_ms());
    }
}

impl Registry {
    /// Drops `w` from one key's queue only (its connection removes the rest).
    fn remove_queued(&self, w: &Arc<Waiter>, db: usize, key: &[u8]) {
        let mut inner = self.inner.lock();
        let id = (db, key.to_vec());
        if let Some(q) = inner.keys.get_mut(&id) {
            q.retain(|x| !Arc::ptr_eq(x, w));
            if q.is_empty() {
                inner.keys.remove(&id);
            }
        }
    }
}

/// Whether the running thread has keys to serve (cheap check for `dispatch`).
pub fn has_ready() -> bool {
    READY.with(|r| !r.borrow().is_empty())
}

/// Blocks the client running `argv` on `keys`. Call while holding the keys' shard locks (after
/// finding nothing to serve), and write no reply: the reply comes when it is unblocked.
pub fn block(
    srv: &Server,
    client: &mut Client,
    argv: &[&[u8]],
    keys: &[&[u8]],
    deadline_ms: i64,
    serve: ServeFn,
    on_timeout: TimeoutReply,
) {
    let mut distinct: Vec<Vec<u8>> = Vec::with_capacity(keys.len());
    for k in keys {
        if !distinct.iter().any(|d| d == k) {
            distinct.push(k.to_vec());
        }
    }
    let w = Arc::new(Waiter {
        handle: client.handle.clone(),
        db: client.db,
        argv: argv.iter().map(|a| a.to_vec()).collect(),
        keys: distinct,
        deadline_ms,
        serve,
        on_timeout,
        state: AtomicU8::new(WAITING),
        then: Mutex::new(Vec::new()),
    });
    srv.blocking.add(w.clone());
    client.handle.blocked.store(true, Ordering::Relaxed);
    client.blocked = Some(w);
}

/// Parks the client while its script runs on the script thread (`scripting::engine`): like a
/// blocked client, its connection processes no more input until the reply is delivered (with
/// [`Waiter::claim`] and [`Waiter::deliver`]), but it waits on no key, is not in the registry
/// (CLIENT UNBLOCK does not apply) and does not count as blocked.
pub fn park_for_script(client: &mut Client) -> Arc<Waiter> {
    let w = Arc::new(Waiter {
        handle: client.handle.clone(),
        db: client.db,
        argv: Vec::new(),
        keys: Vec::new(),
        deadline_ms: 0,
        serve: |_, _, _| Outcome::Gone,
        on_timeout: TimeoutReply::Null,
        state: AtomicU8::new(WAITING),
        then: Mutex::new(Vec::new()),
    });
    client.blocked = Some(w.clone());
    w
}

/// Whether the client counts in INFO's `blocked_clients` (blocked on keys, not running a
/// script).
pub fn counts_as_blocked(client: &Client) -> bool {
    client.blocked.as_ref().is_some_and(|w| !w.keys.is_empty())
}

/// Parses a blocking timeout in seconds (a double; 0 = forever) into an absolute Unix ms
/// deadline (0 = none), writing Redis's error when it is invalid.
pub fn parse_timeout(out: &mut Reply, arg: &[u8], now_ms: i64) -> Option<i64> {
    let Some(secs) = crate::util::num::parse_f64(arg) else {
        out.error("ERR timeout is not a float or out of range");
        return None;
    };
    // Redis converts ceil(secs * 1000) to a long long; values out of its range (infinities
    // included) come out negative on the platforms it runs on, hence this error for them.
    let ms = (secs * 1000.0).ceil();
    if !(0.0..9.223_372_036_854_776e18).contains(&ms) {
        out.error("ERR timeout is negative");
        return None;
    }
    let ms = ms as i64;
    if ms == 0 {
        return Some(0);
    }
    Some(now_ms.saturating_add(ms))
}

/// Called by the blocked client's connection whenever it wakes: finishes the block when the
/// client was served, unblocked or timed out (writing the reply into `out`). Returns true when
/// the client is no longer blocked.
pub fn check(srv: &Server, client: &mut Client, out: &mut Reply) -> bool {
    let Some(w) = client.blocked.clone() else {
        return true;
    };
    loop {
        match w.state() {
            SERVED => {
                // The serving thread logged the pop: the reply waits for that append too.
                crate::persistence::aof::adopt_appends(srv);
                // The reply sits in the pending buffer; it goes before anything produced next.
                let mut p = w.handle.pending.lock();
                out.buf.extend_from_slice(&p);
                p.clear();
                break;
            }
            CLAIMED => return false,
            TIMED_OUT => {
                timeout_reply(out, w.on_timeout);
                break;
            }
            // Redis 7.0 counts a command ended by CLIENT UNBLOCK, either way, as a failed
            // call (its updateStatsOnUnblock with had_errors set).
            UNBLOCK_TIMEOUT => {
                timeout_reply(out, w.on_timeout);
                count_failed(srv, client, &w);
                break;
            }
            UNBLOCK_ERROR => {
                out.error("UNBLOCKED client unblocked via CLIENT UNBLOCK");
                srv.stats.error("UNBLOCKED");
                count_failed(srv, client, &w);
                break;
            }
            GONE => break,
            _ => {
                if w.deadline_ms == 0 || super::unix_ms() < w.deadline_ms {
                    return false;
                }
                if w.state
                    .compare_exchange(WAITING, TIMED_OUT, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    timeout_reply(out, w.on_timeout);
                    break;
                }
            }
        }
    }
    srv.blocking.remove(&w);
    client.handle.blocked.store(false, Ordering::Relaxed);
    client.blocked = None;
    true
}

/// Counts the blocked command as a failed call in its commandstats.
fn count_failed(srv: &Server, client: &Client, w: &Waiter) {
    if let Some(cmd) = w.argv.first().and_then(|name| srv.commands.get(name)) {
        super::stats::bump(&cmd.stats_of(client.worker).failed_calls, 1);
    }
}

fn timeout_reply(out: &mut Reply, how: TimeoutReply) {
    match how {
        TimeoutReply::NullArray => out.null_array(),
        TimeoutReply::Null => out.null(),
    }
}

/// Forgets a blocked client whose connection is closing.
pub fn disconnect(srv: &Server, client: &mut Client) {
    if let Some(w) = client.blocked.take() {
        client.handle.blocked.store(false, Ordering::Relaxed);
        let _ = w
            .state
            .compare_exchange(WAITING, GONE, Ordering::AcqRel, Ordering::Acquire);
        srv.blocking.remove(&w);
    }
}

/// The deadline of a blocked client as a tokio instant (None = no timeout).
#[inline]
pub fn deadline(client: &Client) -> Option<tokio::time::Instant> {
    let w = client.blocked.as_ref()?;
    if w.deadline_ms == 0 {
        return None;
    }
    let left = (w.deadline_ms - super::unix_ms()).max(0) as u64;
    Some(tokio::time::Instant::now() + std::time::Duration::from_millis(left))
}
