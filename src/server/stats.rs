//! Server-wide counters for INFO. Counters bumped on every request live per worker, so workers
//! never write the same cache line; INFO sums them.

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Counters one worker updates (single writer: a relaxed load+store, no locked instruction).
#[derive(Default)]
#[repr(align(128))]
pub struct WorkerStats {
    pub commands: AtomicU64,
    pub net_input: AtomicU64,
    pub net_output: AtomicU64,
    pub keyspace_hits: AtomicU64,
    pub keyspace_misses: AtomicU64,
}

/// Adds to a counter that only one thread writes.
#[inline]
pub fn bump(c: &AtomicU64, n: u64) {
    c.store(c.load(Relaxed).wrapping_add(n), Relaxed);
}

pub struct Stats {
    pub workers: Box<[WorkerStats]>,
    pub connections_received: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub total_error_replies: AtomicU64,
    pub unexpected_error_replies: AtomicU64,
    pub errors: Mutex<BTreeMap<String, u64>>,
    pub dirty: AtomicU64,
    pub expired_time_cap_reached: AtomicU64,
    /// Samples for instantaneous_ops_per_sec etc.: (unix ms, commands, net in, net out).
    pub samples: Mutex<std::collections::VecDeque<(i64, u64, u64, u64)>>,
}

impl Stats {
    pub fn new(workers: usize) -> Stats {
        Stats {
            workers: (0..workers.max(1)).map(|_| WorkerStats::default()).collect(),
            connections_received: AtomicU64::new(0),
            rejected_connections: AtomicU64::new(0),
            total_error_replies: AtomicU64::new(0),
            unexpected_error_replies: AtomicU64::new(0),
            errors: Mutex::new(BTreeMap::new()),
            dirty: AtomicU64::new(0),
            expired_time_cap_reached: AtomicU64::new(0),
            samples: Mutex::new(Default::default()),
        }
    }

    pub fn sum(&self, f: impl Fn(&WorkerStats) -> &AtomicU64) -> u64 {
        self.workers.iter().map(|w| f(w).load(Relaxed)).sum()
    }

    /// Records an error reply (INFO errorstats).
    pub fn error(&self, code: &str) {
        self.total_error_replies.fetch_add(1, Relaxed);
        let mut m = self.errors.lock();
        // Redis caps distinct error codes at 128 to bound memory.
        if m.len() < 128 || m.contains_key(code) {
            *m.entry(code.to_string()).or_insert(0) += 1;
        }
    }

    /// Per-second rate of a sampled counter over the last samples (index 1..=3).
    pub fn rate(&self, which: usize) -> f64 {
        let s = self.samples.lock();
        if s.len() < 2 {
            return 0.0;
        }
        let (a, b) = (s[0], s[s.len() - 1]);
        let dt = (b.0 - a.0) as f64 / 1000.0;
        if dt <= 0.0 {
            return 0.0;
        }
        let (va, vb) = match which {
            1 => (a.1, b.1),
            2 => (a.2, b.2),
            _ => (a.3, b.3),
        };
        vb.saturating_sub(va) as f64 / dt
    }

    pub fn reset(&self) {
        for w in self.workers.iter() {
            for c in [
                &w.commands,
                &w.net_input,
                &w.net_output,
                &w.keyspace_hits,
                &w.keyspace_misses,
            ] {
                c.store(0, Relaxed);
            }
        }
        self.connections_received.store(0, Relaxed);
        self.rejected_connections.store(0, Relaxed);
        self.total_error_replies.store(0, Relaxed);
        self.unexpected_error_replies.store(0, Relaxed);
        self.errors.lock().clear();
        self.expired_time_cap_reached.store(0, Relaxed);
    }
}
