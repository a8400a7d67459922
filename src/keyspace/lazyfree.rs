//! Freeing large amounts of memory off the request path (FLUSHALL/FLUSHDB ASYNC, and
//! `lazyfree-lazy-user-flush`): the tables are detached under their shard locks in O(1) and
//! dropped by a background thread, so the flush does not stall other clients.

use super::dict::Dict;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc;
use std::sync::OnceLock;

/// Keys handed to the background thread and not freed yet (INFO lazyfree_pending_objects).
pub static PENDING: AtomicU64 = AtomicU64::new(0);
/// Keys freed in the background so far (INFO lazyfreed_objects).
pub static FREED: AtomicU64 = AtomicU64::new(0);

static QUEUE: OnceLock<Mutex<mpsc::Sender<Dict>>> = OnceLock::new();

fn queue() -> Option<&'static Mutex<mpsc::Sender<Dict>>> {
    if let Some(q) = QUEUE.get() {
        return Some(q);
    }
    let (tx, rx) = mpsc::channel::<Dict>();
    let spawned = std::thread::Builder::new()
        .name("ochre-lazyfree".into())
        .spawn(move || {
            while let Ok(d) = rx.recv() {
                let n = d.len() as u64;
                drop(d);
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
    match queue() {
        Some(q) => {
            PENDING.fetch_add(n, Relaxed);
            if let Err(mpsc::SendError(d)) = q.lock().send(d) {
                PENDING.fetch_sub(n, Relaxed);
                drop(d);
            }
        }
        None => drop(d),
    }
}
