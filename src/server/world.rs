//! The world lock: what stops every worker for a command that needs the whole server.
//!
//! It is a "big reader" lock: one reader-writer lock per worker. A command takes its own
//! worker's lock shared (never contended across cores); a command that needs the whole server
//! (EXEC, scripts, DEBUG, REPLICAOF...) takes every worker's lock exclusively, in worker order.
//!
//! **Batches.** A pipeline of requests read at once would take and release the shared lock once
//! per request: two atomic read-modify-writes each, a visible share of a GET's CPU. Instead the
//! connection loop opens a [`Batch`] around the requests of one read, and the first request that
//! takes the shared lock keeps it for the requests after it. Nothing the batch runs between
//! requests waits for anything, so holding the lock across them changes no order: an exclusive
//! command from another worker waits for the batch instead of the request, and the batch gives
//! the lock back every [`BATCH_REQUESTS`] requests so that wait stays short. A request that
//! must wait (an exclusive command, or the lock's slow path) gives the held lock back first, so
//! a thread never waits for the world while it holds a part of it.

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::cell::Cell;

/// How many requests a batch runs under one hold of the shared lock before it lets a waiting
/// exclusive command in.
pub const BATCH_REQUESTS: u32 = 64;

pub struct WorldLock {
    locks: Box<[RwLock<()>]>,
}

/// This thread's batch: none, open (serving a batch, holding nothing yet) or holding the shared
/// lock of a worker.
#[derive(Clone, Copy, PartialEq)]
enum Hold {
    None,
    Open,
    Held(usize),
}

thread_local! {
    static HOLD: Cell<Hold> = const { Cell::new(Hold::None) };
}

impl WorldLock {
    pub fn new(workers: usize) -> Self {
        WorldLock {
            locks: (0..workers.max(1)).map(|_| RwLock::new(())).collect(),
        }
    }

    fn lock(&self, worker: usize) -> &RwLock<()> {
        &self.locks[super::stats::slot(worker, self.locks.len())]
    }

    pub fn shared(&self, worker: usize) -> RwLockReadGuard<'_, ()> {
        self.lock(worker).read()
    }

    pub fn exclusive(&self) -> Vec<RwLockWriteGuard<'_, ()>> {
        self.locks.iter().map(|l| l.write()).collect()
    }

    /// The shared lock if it is free now (the fast path: nothing exclusive running).
    #[inline]
    pub fn try_shared(&self, worker: usize) -> Option<RwLockReadGuard<'_, ()>> {
        self.lock(worker).try_read()
    }

    /// The shared lock, waiting at most `wait`.
    pub fn shared_for(&self, worker: usize, wait: std::time::Duration) -> Option<RwLockReadGuard<'_, ()>> {
        self.lock(worker).try_read_for(wait)
    }

    /// Every lock exclusively, waiting at most `wait` for each; on failure none is kept.
    pub fn exclusive_for(&self, wait: std::time::Duration) -> Option<Vec<RwLockWriteGuard<'_, ()>>> {
        let mut held = Vec::with_capacity(self.locks.len());
        for l in self.locks.iter() {
            held.push(l.try_write_for(wait)?);
        }
        Some(held)
    }

    /// Opens a batch on this thread (see the module doc); the lock it comes to hold is given
    /// back when the batch ends.
    pub fn batch(&self) -> Batch<'_> {
        HOLD.with(|h| h.set(Hold::Open));
        Batch {
            world: self,
            requests: 0,
        }
    }

    /// Within a batch: whether this thread holds `worker`'s shared lock for it, taking it now
    /// if it is free. Outside a batch always false (the caller takes a guard of its own).
    #[inline]
    pub fn hold_shared(&self, worker: usize) -> bool {
        match HOLD.with(Cell::get) {
            Hold::Held(w) if w == worker => true,
            Hold::None => false,
            _ => {
                self.release_held();
                match self.try_shared(worker) {
                    Some(guard) => {
                        // Released by `release_held`, which unlocks what this forgets.
                        std::mem::forget(guard);
                        HOLD.with(|h| h.set(Hold::Held(worker)));
                        true
                    }
                    None => false,
                }
            }
        }
    }

    /// Whether this thread's batch holds `worker`'s shared lock (taking it again could wait
    /// behind an exclusive waiter that waits for this very hold).
    pub fn holds(&self, worker: usize) -> bool {
        HOLD.with(Cell::get) == Hold::Held(worker)
    }

    /// Gives back the shared lock this thread's batch holds, if any; the batch stays open.
    /// Called before anything that may wait for the world.
    pub fn release_held(&self) {
        if let Hold::Held(w) = HOLD.with(Cell::get) {
            HOLD.with(|h| h.set(Hold::Open));
            // SAFETY: `hold_shared` took this lock shared and forgot the guard; this thread is
            // the only one that records it as held, and it forgets the record here.
            unsafe { self.lock(w).force_unlock_read() };
        }
    }
}

/// A batch of requests served under one hold of the shared lock (see the module doc).
pub struct Batch<'a> {
    world: &'a WorldLock,
    requests: u32,
}

impl Batch<'_> {
    /// Counts a request; every [`BATCH_REQUESTS`] the held lock is given back, so an exclusive
    /// command waiting for it gets in.
    #[inline]
    pub fn next_request(&mut self) {
        self.requests += 1;
        if self.requests.is_multiple_of(BATCH_REQUESTS) {
            self.world.release_held();
        }
    }
}

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        self.world.release_held();
        HOLD.with(|h| h.set(Hold::None));
    }
}
