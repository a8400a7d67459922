//! The shard lock: a mutex whose unlock is a plain store.
//!
//! Every command locks the shard of its key and unlocks it, and a pipelined request's prefetch
//! takes it once more (`Db::prefetch_entry`). parking_lot's mutex unlocks with a
//! compare-and-swap, to learn whether a waiter sleeps; on x86 every locked instruction is a
//! full barrier that waits for the command's outstanding cache misses and stores. A profile of
//! GET at pipeline 16 (`perf record -e cycles:u`) put about half of the server's user cycles
//! on the locked instructions of shard lock and unlock.
//!
//! Here locking is one compare-and-swap and unlocking a release store followed by a plain load
//! of the waiter count. Lock holds are short (a command's work on one shard: scripts mark
//! shards held instead of keeping them locked, see `holds`), so a waiter first spins, then
//! yields, and only then sleeps. The unlock's store and its load of the waiter count are not
//! ordered against each other (that would need the barrier this lock exists to avoid), so a
//! waiter that falls asleep just as the lock is freed could miss its wake-up: sleeps are
//! therefore short timed waits (at most [`SLEEP_MAX`]) that re-check the lock, never an
//! indefinite park.

use lock_api::{GuardSend, RawMutex, RawMutexFair};
use std::sync::atomic::{AtomicU32, AtomicU8, Ordering::*};
use std::time::{Duration, Instant};

/// A mutex over a shard (`lock_api` does the guard and data plumbing).
pub type ShardMutex<T> = lock_api::Mutex<RawShardLock, T>;
/// A locked shard.
pub type ShardGuard<'a, T> = lock_api::MutexGuard<'a, RawShardLock, T>;

/// How long a waiter spins, then yields, before it sleeps.
const SPINS: u32 = 64;
const YIELDS: u32 = 8;
/// The first sleep of a waiter, doubled on every sleep up to [`SLEEP_MAX`].
const SLEEP_MIN: Duration = Duration::from_micros(20);
/// The longest a waiter sleeps before it looks at the lock again: what a missed wake-up costs.
pub const SLEEP_MAX: Duration = Duration::from_millis(1);

pub struct RawShardLock {
    locked: AtomicU8,
    /// Threads in [`RawShardLock::lock_slow`] (spinning or asleep): an unlock that sees none
    /// wakes nobody.
    waiters: AtomicU32,
}

// SAFETY: `lock`/`try_lock` succeed only for the thread whose compare-and-swap moved `locked`
// from 0 to 1 (acquire), and `unlock` stores 0 (release), so one holder at a time and the
// holder sees every write of the one before. The lock is not tied to a thread.
unsafe impl RawMutex for RawShardLock {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = RawShardLock {
        locked: AtomicU8::new(0),
        waiters: AtomicU32::new(0),
    };

    type GuardMarker = GuardSend;

    #[inline]
    fn lock(&self) {
        if self.locked.compare_exchange_weak(0, 1, Acquire, Relaxed).is_err() {
            self.lock_slow();
        }
    }

    #[inline]
    fn try_lock(&self) -> bool {
        self.locked.load(Relaxed) == 0 && self.locked.compare_exchange(0, 1, Acquire, Relaxed).is_ok()
    }

    #[inline]
    unsafe fn unlock(&self) {
        self.locked.store(0, Release);
        if self.waiters.load(Relaxed) != 0 {
            self.wake();
        }
    }

    fn is_locked(&self) -> bool {
        self.locked.load(Relaxed) != 0
    }
}

// SAFETY: both only unlock and lock again through the safe paths above.
unsafe impl RawMutexFair for RawShardLock {
    unsafe fn unlock_fair(&self) {
        self.unlock();
    }

    /// Lets a waiting thread in between two steps of a long job (a snapshot's capture of a
    /// whole shard): without waiters it keeps the lock.
    unsafe fn bump(&self) {
        if self.waiters.load(Relaxed) != 0 {
            self.unlock();
            std::thread::yield_now();
            self.lock();
        }
    }
}

impl RawShardLock {
    /// The parking address of this lock (parking_lot_core keys its queues by address).
    fn key(&self) -> usize {
        self as *const Self as usize
    }

    #[cold]
    #[inline(never)]
    fn lock_slow(&self) {
        self.waiters.fetch_add(1, Relaxed);
        let mut tries = 0u32;
        let mut sleep = SLEEP_MIN;
        while !self.try_lock() {
            tries += 1;
            if tries <= SPINS {
                std::hint::spin_loop();
            } else if tries <= SPINS + YIELDS {
                std::thread::yield_now();
            } else {
                // SAFETY: the callbacks neither panic nor call into parking_lot.
                unsafe {
                    parking_lot_core::park(
                        self.key(),
                        || self.locked.load(Relaxed) != 0,
                        || {},
                        |_, _| {},
                        parking_lot_core::DEFAULT_PARK_TOKEN,
                        Some(Instant::now() + sleep),
                    );
                }
                sleep = (sleep * 2).min(SLEEP_MAX);
            }
        }
        self.waiters.fetch_sub(1, Relaxed);
    }

    #[cold]
    #[inline(never)]
    fn wake(&self) {
        // SAFETY: the callback does not call into parking_lot.
        unsafe {
            parking_lot_core::unpark_one(self.key(), |_| parking_lot_core::DEFAULT_UNPARK_TOKEN);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ShardMutex;
    use std::sync::Arc;

    /// Many threads incrementing under the lock lose no update, with holds long enough that
    /// waiters get past spinning and sleep.
    #[test]
    fn excludes_and_wakes() {
        let m = Arc::new(ShardMutex::new(0u64));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let m = m.clone();
                std::thread::spawn(move || {
                    for i in 0..20_000u64 {
                        let mut g = m.lock();
                        *g += 1;
                        if (i + t) % 5_000 == 0 {
                            std::thread::sleep(std::time::Duration::from_micros(300));
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        assert_eq!(*m.lock(), 80_000);
    }
}
