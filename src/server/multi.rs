//! Transactions (Redis's `multi.c`): the queue a connection fills between MULTI and EXEC, and
//! the registry of WATCHed keys shared by every worker.
//!
//! * **Queue.** After MULTI, `dispatch` checks each request as usual (unknown command, arity,
//!   NOAUTH, `no_multi` …) and, instead of running it, stores its arguments here and replies
//!   `+QUEUED`. A refused request marks the transaction aborted, so EXEC answers `EXECABORT`.
//!   EXEC runs under the world lock taken exclusively (its table row is `exclusive`), so the
//!   queued commands run back to back with every other worker stopped, through
//!   `dispatch::call` (which takes no lock of its own).
//! * **WATCH.** A watched key is registered under `(db, key)` with the watching client's
//!   handle. After a command that changed data (the dirty counter moved), `dispatch` *touches*
//!   each of its keys: every client watching one is marked dirty (`ClientHandle::watch_dirty`),
//!   and its next EXEC fails with a null reply. The touch happens inside the command's
//!   world-lock scope, so an EXEC (which takes the world lock exclusively) can never run
//!   between a change and its touch. When nobody watches anything a write costs one atomic
//!   load ([`Watches::active`]).
//! * **Expiry.** Keys removed by expiry (lazily by a lookup, or by the cron's active expiry)
//!   are not touched where they disappear; instead EXEC checks each key that existed (and had
//!   not expired) at WATCH time: if it is now gone or expired, the transaction fails, exactly
//!   the outcome of Redis's touch-on-expiry plus `isWatchedKeyExpired`. A key that had already
//!   expired at WATCH time ("stale") is left out, as in Redis: deleting it is no logical change.
//! * **Flushes.** FLUSHALL, FLUSHDB and SWAPDB call [`touch_db`] before they change anything,
//!   which touches the watched keys that exist in the database, as Redis's
//!   `touchAllWatchedKeysInDb`.
//!
//! Lock order: the registry mutex may be held while locking a keyspace shard (a stale watch
//! checks whether its key exists), never the other way round; nothing locks the registry while
//! holding a shard.

use super::client::{Client, ClientHandle};
use super::Server;
use crate::commands::Command;
use parking_lot::Mutex;
use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The commands queued by MULTI.
#[derive(Default)]
pub struct Tx {
    /// Each queued request's arguments.
    pub queue: Vec<Vec<Vec<u8>>>,
    /// The union of the queued commands' flags (EXEC is a write when any of them is).
    pub flags: u32,
    /// The union of the flags each queued command lacks (EXEC is refused on a stale replica
    /// when one of them lacks `stale`).
    pub lacks: u32,
    /// A request was refused while queueing (Redis's CLIENT_DIRTY_EXEC): EXEC aborts.
    pub aborted: bool,
}

/// One key a client watches.
struct Watched {
    db: usize,
    key: Vec<u8>,
    /// It existed and had not expired at WATCH time: if it is gone or expired at EXEC, it was
    /// deleted or expired meanwhile, and EXEC fails.
    live: bool,
}

/// A client's transaction state (owned by its connection).
#[derive(Default)]
pub struct ClientState {
    /// Some between MULTI and EXEC/DISCARD.
    pub tx: Option<Tx>,
    watched: Vec<Watched>,
}

/// One client watching a key.
struct Watcher {
    handle: Arc<ClientHandle>,
    /// The key had expired but not been deleted at WATCH time (Redis's `watchedKey.expired`).
    stale: bool,
}

/// Watchers by (database, key).
type WatchMap = HashMap<(usize, Vec<u8>), Vec<Watcher>>;

/// Every watched key of every client.
#[derive(Default)]
pub struct Watches {
    /// Number of (client, key) watches; zero means there is nothing to touch.
    count: AtomicUsize,
    keys: Mutex<WatchMap>,
}

impl Watches {
    /// Whether any client watches any key (one atomic load on every write).
    #[inline]
    pub fn active(&self) -> bool {
        self.count.load(Ordering::SeqCst) != 0
    }
}

/// What a key looks like right now, without expiring it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum KeyState {
    Missing,
    Expired,
    Live,
}

fn key_state(srv: &Server, db: usize, key: &[u8], now_ms: i64) -> KeyState {
    let shard = srv.keyspace.db(db).lock(key);
    match shard.dict.get(key) {
        None => KeyState::Missing,
        Some(e) if e.is_expired(now_ms) => KeyState::Expired,
        Some(_) => KeyState::Live,
    }
}

/// WATCH: registers `keys` of the client's database (keys already watched are skipped).
pub fn watch(srv: &Server, client: &mut Client, keys: &[&[u8]], now_ms: i64) {
    let db = client.db;
    for &key in keys {
        if client.multi.watched.iter().any(|w| w.db == db && w.key == key) {
            continue;
        }
        // Registered before its state is read, so a change made meanwhile is touched (at worst
        // failing the EXEC), never missed.
        srv.watches
            .keys
            .lock()
            .entry((db, key.to_vec()))
            .or_default()
            .push(Watcher {
                handle: client.handle.clone(),
                stale: false,
            });
        srv.watches.count.fetch_add(1, Ordering::SeqCst);
        let state = key_state(srv, db, key, now_ms);
        if state == KeyState::Expired {
            if let Some(ws) = srv.watches.keys.lock().get_mut(&(db, key.to_vec())) {
                for w in ws.iter_mut().filter(|w| w.handle.id == client.id) {
                    w.stale = true;
                }
            }
        }
        client.multi.watched.push(Watched {
            db,
            key: key.to_vec(),
            live: state == KeyState::Live,
        });
    }
}

/// Forgets every key the client watches (UNWATCH, EXEC, DISCARD, disconnection). The dirty
/// flag is the caller's to clear.
pub fn unwatch_all(srv: &Server, client: &mut Client) {
    if client.multi.watched.is_empty() {
        return;
    }
    let mut map = srv.watches.keys.lock();
    for w in client.multi.watched.drain(..) {
        let id = (w.db, w.key);
        if let Some(ws) = map.get_mut(&id) {
            ws.retain(|x| x.handle.id != client.id);
            if ws.is_empty() {
                map.remove(&id);
            }
        }
        srv.watches.count.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Marks every client watching `key` of `db` dirty: the key was just changed.
pub fn touch(srv: &Server, db: usize, key: &[u8]) {
    if !srv.watches.active() {
        return;
    }
    let mut map = srv.watches.keys.lock();
    let Some(ws) = map.get_mut(&(db, key.to_vec())) else {
        return;
    };
    let mut state = None;
    for w in ws.iter_mut() {
        if w.stale {
            // A stale key that is now gone was deleted by expiry: no logical change, and the
            // key now counts as absent. One that is live again was written (Redis deletes the
            // stale key first, then touches it as written). One still stale is left alone.
            let s = *state.get_or_insert_with(|| key_state(srv, db, key, super::unix_ms()));
            if s == KeyState::Missing {
                w.stale = false;
            } else if s == KeyState::Live {
                w.handle.watch_dirty.store(true, Ordering::Relaxed);
            }
            continue;
        }
        w.handle.watch_dirty.store(true, Ordering::Relaxed);
    }
}

thread_local! {
    /// Argument positions of keys the running command named but did not change ([`spare`]).
    static SPARED: Cell<u64> = const { Cell::new(0) };
}

/// Marks the key at argument `pos` of the running command as unchanged, so clients WATCHing it
/// do not see it touched. Redis's commands touch each key they change (`signalModifiedKey`);
/// Ochre touches the keys a write command may write once it changed anything
/// ([`touch_command`]), less the ones spared here: DEL of a key that did not exist, SMOVE of a
/// member the destination already had. Positions past 63 are not tracked and stay touched,
/// which can abort an EXEC that Redis would run, never the reverse.
pub fn spare(pos: usize) {
    if pos < 64 {
        SPARED.with(|s| s.set(s.get() | 1 << pos));
    }
}

/// Spares every argument but the one at the address of `changed`: for a command that names
/// several keys and changes one of them (LMPOP, BLPOP, ZMPOP...). Sparing a position that holds
/// no key changes nothing.
pub fn spare_all_but(args: &[&[u8]], changed: &[u8]) {
    for (i, a) in args.iter().enumerate().skip(1) {
        if !std::ptr::eq(a.as_ptr(), changed.as_ptr()) {
            spare(i);
        }
    }
}

/// The positions the command that just ran spared, cleared for the next one.
pub fn take_spared() -> u64 {
    SPARED.with(|s| s.replace(0))
}

/// Touches the keys of a command line that changed data, found as COMMAND GETKEYS finds them:
/// not the ones it only reads (flag `RO`: the sources of SINTERSTORE, COPY, BITOP...), and not
/// the `spared` positions (a bit per argument position).
pub fn touch_command(srv: &Server, db: usize, cmd: &Command, argv: &[&[u8]], spared: u64) {
    for (pos, flags) in crate::commands::command::command_keys(cmd, argv) {
        if flags.iter().any(|f| f == "RO") || (pos < 64 && spared & (1 << pos) != 0) {
            continue;
        }
        if let Some(key) = argv.get(pos) {
            touch(srv, db, key);
        }
    }
}

/// FLUSHDB / FLUSHALL (`replaced_with` None) or SWAPDB (`replaced_with` the other database),
/// called before the database changes: touches the watched keys of `db` that exist in it or in
/// the database replacing it (Redis's `touchAllWatchedKeysInDb`), with Redis's care for stale
/// keys: an expired key that goes away, or is replaced by another expired one, is no change.
pub fn touch_db(srv: &Server, db: usize, replaced_with: Option<usize>) {
    if !srv.watches.active() {
        return;
    }
    let now = super::unix_ms();
    let mut map = srv.watches.keys.lock();
    for ((d, key), ws) in map.iter_mut() {
        if *d != db {
            continue;
        }
        let here = key_state(srv, db, key, now);
        let there = replaced_with.map_or(KeyState::Missing, |r| key_state(srv, r, key, now));
        if here == KeyState::Missing && there == KeyState::Missing {
            continue;
        }
        for w in ws.iter_mut() {
            if w.stale {
                if there == KeyState::Missing {
                    w.stale = false;
                    continue;
                }
                if there == KeyState::Expired {
                    continue;
                }
            } else if here == KeyState::Missing && there == KeyState::Expired {
                // An absent key replaced by an expired one: no change, but now it is stale.
                w.stale = true;
                continue;
            }
            w.handle.watch_dirty.store(true, Ordering::Relaxed);
        }
    }
}

/// Whether EXEC must fail because a watched key changed: touched, or (Redis's
/// `isWatchedKeyExpired`) a key that was live at WATCH time has expired or been deleted by
/// expiry since.
pub fn watch_failed(srv: &Server, client: &Client, now_ms: i64) -> bool {
    if client.handle.watch_dirty.load(Ordering::Relaxed) {
        return true;
    }
    client
        .multi
        .watched
        .iter()
        .any(|w| w.live && key_state(srv, w.db, &w.key, now_ms) != KeyState::Live)
}

/// Starts queueing (MULTI).
pub fn begin(client: &mut Client) {
    client.multi.tx = Some(Tx::default());
    client.handle.multi.store(0, Ordering::Relaxed);
    client.handle.multi_mem.store(0, Ordering::Relaxed);
}

/// Queues a request of a client in MULTI.
/// `flags` are the command's admission flags (a script's come from its shebang).
pub fn queue(client: &mut Client, argv: &[&[u8]], flags: u32) {
    let dirty = client.handle.watch_dirty.load(Ordering::Relaxed);
    let Some(tx) = client.multi.tx.as_mut() else {
        return;
    };
    // No point keeping commands of a transaction that cannot run (as Redis).
    if tx.aborted || dirty {
        return;
    }
    tx.queue.push(argv.iter().map(|a| a.to_vec()).collect());
    tx.flags |= flags;
    tx.lacks |= !flags;
    let h = &client.handle;
    h.multi.fetch_add(1, Ordering::Relaxed);
    // CLIENT LIST's multi-mem: argument bytes plus one pointer per argument, as Redis counts.
    let mem: usize = argv.iter().map(|a| a.len() + 8).sum();
    h.multi_mem.fetch_add(mem, Ordering::Relaxed);
}

/// Marks the transaction of a client in MULTI as failed: a request was refused.
pub fn abort_queue(client: &mut Client) {
    if let Some(tx) = client.multi.tx.as_mut() {
        tx.aborted = true;
    }
}

/// Leaves MULTI and forgets watched keys (EXEC's end, DISCARD, RESET, an aborted EXEC).
pub fn discard(srv: &Server, client: &mut Client) {
    client.multi.tx = None;
    client.handle.multi.store(-1, Ordering::Relaxed);
    client.handle.multi_mem.store(0, Ordering::Relaxed);
    client.handle.watch_dirty.store(false, Ordering::Relaxed);
    unwatch_all(srv, client);
}
