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
//! shard lock it has, then waits for the script to end ([`Blocked::wait`]), then starts over. The script
//! thread never waits for anything a waiting thread keeps (the world lock it holds shared is
//! only waited for by exclusive commands, which hold no shard; the order mutex, while writes
//! are logged, is held by the script for its whole run).
//!
//! Cost off the script thread: the shard's `held_by` number, next to its lock word, read after
//! locking, and one thread-local read.

use parking_lot::{Condvar, Mutex};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};

/// The running script's number (0: none). A shard is held when its `held_by` is this number:
/// ending a script releases every shard it held at once, without visiting them; a stale
/// `held_by` is cleared by the next thread that locks the shard.
static CURRENT: AtomicU64 = AtomicU64::new(0);
/// Numbers handed to scripts.
static NEXT: AtomicU64 = AtomicU64::new(0);
/// Threads sleeping in [`Blocked::wait`] (the script thread only takes the mutex to wake them
/// when there are any).
static WAITING: AtomicUsize = AtomicUsize::new(0);
static LOCK: Mutex<()> = parking_lot::const_mutex(());
static ENDED: Condvar = Condvar::new();

thread_local! {
    /// The number of the script this thread runs in hold mode (0: none).
    static HOLDER: Cell<u64> = const { Cell::new(0) };
}

/// The number of the script this thread runs in hold mode, or 0.
#[inline]
pub fn holder() -> u64 {
    HOLDER.with(|h| h.get())
}

/// Whether a script runs in hold mode now (on the script thread).
pub fn running() -> bool {
    CURRENT.load(SeqCst) != 0
}

/// Whether a shard whose `held_by` is `by` is held by the running script.
#[inline]
pub fn is_held(by: u64) -> bool {
    by != 0 && by == CURRENT.load(SeqCst)
}

/// Starts a script in hold mode on this thread.
pub fn begin() {
    let n = NEXT.fetch_add(1, SeqCst) + 1;
    CURRENT.store(n, SeqCst);
    HOLDER.with(|h| h.set(n));
}

/// Ends the script: every shard it held is free, and waiting threads are woken.
pub fn end() {
    HOLDER.with(|h| h.set(0));
    CURRENT.store(0, SeqCst);
    if WAITING.load(SeqCst) > 0 {
        let _l = LOCK.lock();
        ENDED.notify_all();
    }
}

/// A thread that found a shard held by the running script, noted while it still has that
/// shard's lock: [`Blocked::wait`] after letting go of every shard lock.
#[must_use]
pub struct Blocked {
    script: u64,
}

/// Notes that this thread will wait for script `by` (the `held_by` of a shard it has locked).
pub fn blocked(by: u64) -> Blocked {
    WAITING.fetch_add(1, SeqCst);
    Blocked { script: by }
}

impl Blocked {
    /// Sleeps until the script that held the shard has ended. The caller holds no shard lock.
    pub fn wait(self) {
        let mut l = LOCK.lock();
        while CURRENT.load(SeqCst) == self.script {
            ENDED.wait(&mut l);
        }
        drop(l);
        WAITING.fetch_sub(1, SeqCst);
    }
}
