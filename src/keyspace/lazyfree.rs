//! Freeing large amounts of memory off the request path (FLUSHALL/FLUSHDB ASYNC,
//! `lazyfree-lazy-user-flush`, UNLINK of a big collection): the tables or values are detached
//! under their shard locks in O(1) and dropped by a background thread, so the free does not
//! stall other clients.

use super::dict::Dict;
use super::Value;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc;
use std::sync::OnceLock;

/// Keys handed to the background thread and not freed yet (INFO lazyfree_pending_objects).
pub static PENDING: AtomicU64 = AtomicU64::new(0);
/// Keys freed in the background so far (INFO lazyfreed_objects).
pub static FREED: AtomicU64 = AtomicU64::new(0);

/// Something to drop in the background, and how many objects it counts for.
type Garbage = (Box<dyn Send>, u64);

static QUEUE: OnceLock<Mutex<mpsc::Sender<Garbage>>> = OnceLock::new();

/// Values whose free effort is above this are freed in the background (`LAZYFREE_THRESHOLD`).
pub const THRESHOLD: usize = 64;

fn queue() -> Option<&'static Mutex<mpsc::Sender<Garbage>>> {
    if let Some(q) = QUEUE.get() {
        return Some(q);
    }
    let (tx, rx) = mpsc::channel::<Garbage>();
    let spawned = std::thread::Builder::new()
        .name("ochre-lazyfree".into())
        .spawn(move || {
            while let Ok((garbage, n)) = rx.recv() {
                drop(garbage);
                // What was freed counts in INFO used_memory at once, not 64 KB later.
                crate::util::allocator::flush_thread();
                PENDING.fetch_sub(n, Relaxed);
                FREED.fetch_add(n, Relaxed);
            }
        });
    if spawned.is_err() {
        return None;
    }
    let _ = QUEUE.set(Mutex::new(tx));
    QUEUE.get()
}

/// Frees `d` in the background (or right here if the background thread cannot run).
pub fn free_later(d: Dict) {
    if d.is_empty() {
        return;
    }
    let n = d.len() as u64;
    send((Box::new(d), n));
}

/// Frees a value removed from the keyspace: in the background when freeing it is real work (a
/// collection of more than [`THRESHOLD`] elements), else at once.
pub fn free_value(v: Value) {
    if v.free_effort() > THRESHOLD {
        send((Box::new(v), 1));
    }
}

fn send(garbage: Garbage) {
    let n = garbage.1;
    match queue() {
        Some(q) => {
            PENDING.fetch_add(n, Relaxed);
            if let Err(mpsc::SendError(g)) = q.lock().send(garbage) {
                PENDING.fetch_sub(n, Relaxed);
                drop(g);
            }
        }
        None => drop(garbage),
    }
}
