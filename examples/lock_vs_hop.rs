//! The measurement behind docs/ARCHITECTURE.md's choice of locked shards over message passing:
//! the cost per operation of (a) an uncontended shard lock, (b) shard locks with every core
//! hammering random shards of 64, and (c) handing a request to another thread and waiting for
//! the answer (what a shared-nothing design pays when the key lives on another core).
//!
//! `cargo run --release --example lock_vs_hop [threads]`

use parking_lot::Mutex;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Instant;

const OPS: u64 = 2_000_000;

fn main() {
    let threads: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(2);
    // (a) uncontended lock + tiny critical section.
    let m = Mutex::new(0u64);
    let t = Instant::now();
    for _ in 0..OPS {
        *m.lock() += 1;
    }
    println!(
        "uncontended lock:          {:6.1} ns/op",
        t.elapsed().as_nanos() as f64 / OPS as f64
    );

    // (b) `threads` threads, random shards out of 64.
    let shards: Arc<Vec<Mutex<u64>>> = Arc::new((0..64).map(|_| Mutex::new(0)).collect());
    let t = Instant::now();
    let hs: Vec<_> = (0..threads)
        .map(|i| {
            let s = shards.clone();
            std::thread::spawn(move || {
                let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ i as u64;
                for _ in 0..OPS {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    *s[(x % 64) as usize].lock() += 1;
                }
            })
        })
        .collect();
    for h in hs {
        let _ = h.join();
    }
    let per_op = t.elapsed().as_nanos() as f64 / (OPS * threads as u64) as f64 * threads as f64;
    println!("{threads} threads, 64 shards:      {per_op:6.1} ns/op per thread");

    // (c) round trip to another thread.
    let (tx, rx) = mpsc::channel::<mpsc::Sender<u64>>();
    let owner = std::thread::spawn(move || {
        let mut v = 0;
        while let Ok(reply) = rx.recv() {
            v += 1;
            let _ = reply.send(v);
        }
    });
    let n = OPS / 20;
    let t = Instant::now();
    for _ in 0..n {
        let (rtx, rrx) = mpsc::channel();
        let _ = tx.send(rtx);
        let _ = rrx.recv();
    }
    println!(
        "hop to another thread:     {:6.1} ns/op",
        t.elapsed().as_nanos() as f64 / n as f64
    );
    drop(tx);
    let _ = owner.join();
}
