//! Script holds: how a Lua script stays atomic without stopping the server.
//!
//! Scripts run one at a time on the script thread, which marks (*holds*) every shard it locks
//! while the script runs: the shards of the keys it declared and of any key it touches without
//! declaring it. A held shard stays held until the script ends, and no other thread uses it
//! meanwhile; shards the script never touches are served by the workers as usual. That is
//! strict two-phase locking, so the script is atomic (serializable with every other command)
//! whether or not it declared its keys.
//!
//! Why it cannot deadlock: the script thread is the only thread that ever waits for a shard
//! while holding others. Every other thread that finds a held shard first lets go of every
//! shard lock it has, then waits for the script to end ([`wait`]), then starts over. The script
//! thread never waits for anything a waiting thread keeps (the world lock it holds shared is
//! only waited for by exclusive commands, which hold no shard; the order mutex, while writes
//! are logged, is held by the script for its whole run).
//!
//! Cost off the script thread: one flag next to the shard's lock word, read after locking.

use parking_lot::{Condvar, Mutex};
use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed, Ordering::SeqCst};

/// Ends of scripts so far: a waiter sleeps until this moves past the value it read while the
/// shard it wanted was held.
static EPOCH: AtomicU64 = AtomicU64::new(0);
/// Threads sleeping in [`wait`] (the script thread only takes the mutex to wake them when
/// there are any).
static WAITING: AtomicUsize = AtomicUsize::new(0);
/// A script runs in hold mode now.
static RUNNING: AtomicBool = AtomicBool::new(false);
static LOCK: Mutex<()> = parking_lot::const_mutex(());
static ENDED: Condvar = Condvar::new();

thread_local! {
    /// This thread is running a script in hold mode (the script thread, between
    /// [`begin`] and [`end`]).
    static HOLDER: Cell<bool> = const { Cell::new(false) };
    /// The shards this script holds: (database, shard index).
    static HELD: RefCell<Vec<(usize, usize)>> = const { RefCell::new(Vec::new()) };
}

/// Whether this thread runs a script that holds shards.
#[inline]
pub fn holder() -> bool {
    HOLDER.with(|h| h.get())
}

/// Whether a script runs in hold mode now (on the script thread).
pub fn running() -> bool {
    RUNNING.load(Relaxed)
}

/// Starts a script in hold mode on this thread.
pub fn begin() {
    RUNNING.store(true, Relaxed);
    HOLDER.with(|h| h.set(true));
}

/// Records that this script now holds shard `idx` of database `db`.
pub(super) fn record(db: usize, idx: usize) {
    HELD.with(|h| h.borrow_mut().push((db, idx)));
}

/// Ends the script: `release` clears the flag of each shard it held (under that shard's
/// lock), then every waiting thread is woken.
pub fn end(release: impl Fn(usize, usize)) {
    HOLDER.with(|h| h.set(false));
    RUNNING.store(false, Relaxed);
    let held = HELD.with(|h| std::mem::take(&mut *h.borrow_mut()));
    if held.is_empty() {
        return;
    }
    for &(db, idx) in &held {
        release(db, idx);
    }
    HELD.with(|h| {
        // Keep the allocation for the next script.
        let mut v = h.borrow_mut();
        if v.capacity() < held.capacity() {
            *v = held;
            v.clear();
        }
    });
    EPOCH.fetch_add(1, SeqCst);
    if WAITING.load(SeqCst) > 0 {
        let _l = LOCK.lock();
        ENDED.notify_all();
    }
}

/// A thread that found a shard held by the running script, noted while it still has that
/// shard's lock: [`Blocked::wait`] after letting go of every shard lock.
#[must_use]
pub struct Blocked {
    epoch: u64,
}

/// Notes that this thread will wait for the running script; call with the held shard locked.
pub fn blocked() -> Blocked {
    WAITING.fetch_add(1, SeqCst);
    Blocked {
        epoch: EPOCH.load(SeqCst),
    }
}

impl Blocked {
    /// Sleeps until the script that held the shard has ended. The caller holds no shard lock.
    pub fn wait(self) {
        let mut l = LOCK.lock();
        while EPOCH.load(SeqCst) == self.epoch {
            ENDED.wait(&mut l);
        }
        drop(l);
        WAITING.fetch_sub(1, SeqCst);
    }
}
