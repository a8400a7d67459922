//! Server-wide counters for INFO. Counters bumped on every request live per worker, so workers
//! never write the same cache line; INFO sums them.

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// One worker's latency histograms, by command id, each made on first use.
type WorkerHistograms = Box<[std::sync::OnceLock<Box<LatencyHistogram>>]>;

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

/// The per-worker slot of thread `w` among `len` (threads beyond the workers, such as the
/// script thread, share slots). No division on the request path: `w` is nearly always in range.
#[inline]
pub fn slot(w: usize, len: usize) -> usize {
    if w < len {
        w
    } else {
        w % len.max(1)
    }
}

/// Adds to a counter that only one thread writes.
#[inline]
pub fn bump(c: &AtomicU64, n: u64) {
    c.store(c.load(Relaxed).wrapping_add(n), Relaxed);
}

/// The count of changes to the data since the last save (`rdb_changes_since_last_save`, the
/// save rules), bumped by every write command.
///
/// One shared counter would cost every write a locked add: perf put 32% of INCR's user cycles
/// on that one instruction (a full barrier, it waits for the command's pending stores). So each
/// thread counts in a counter of its own, with a plain load and store, and readers (INFO, the
/// cron's save rules, a snapshot's start) add them up. A save subtracts what it wrote by moving
/// `saved` forward instead of touching the threads' counters.
pub struct Dirty {
    /// Tells this counter apart from any other in the process, for the threads' lists.
    id: u64,
    /// Every thread's counter that ever counted here (threads are few and long-lived).
    counters: Mutex<Vec<std::sync::Arc<AtomicU64>>>,
    /// Changes already written by a save.
    saved: AtomicU64,
}

impl Default for Dirty {
    fn default() -> Self {
        static IDS: AtomicU64 = AtomicU64::new(1);
        Dirty {
            id: IDS.fetch_add(1, Relaxed),
            counters: Mutex::default(),
            saved: AtomicU64::new(0),
        }
    }
}

thread_local! {
    /// This thread's counters, by the id of the `Dirty` they count for (a process runs one
    /// server; an id, unlike an address, is never reused by another).
    static MY_COUNTERS: std::cell::RefCell<Vec<(u64, std::sync::Arc<AtomicU64>)>> =
        const { std::cell::RefCell::new(Vec::new()) };
    /// Changes this thread made, ever: a command compares it before and after it runs to learn
    /// whether it changed anything, exactly and without reading other threads' counters.
    static CHANGES_HERE: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Changes the calling thread has made so far (see [`Dirty::add`]).
#[inline]
pub fn changes_here() -> u64 {
    CHANGES_HERE.with(|c| c.get())
}

impl Dirty {
    /// Counts `n` changes made by the calling thread.
    #[inline]
    pub fn add(&self, n: u64) {
        CHANGES_HERE.with(|c| c.set(c.get().wrapping_add(n)));
        MY_COUNTERS.with(|m| {
            if let Some((_, c)) = m.borrow().iter().find(|(k, _)| *k == self.id) {
                bump(c, n);
                return;
            }
            let c = std::sync::Arc::new(AtomicU64::new(n));
            self.counters.lock().push(c.clone());
            m.borrow_mut().push((self.id, c));
        });
    }

    /// Changes since the last save.
    pub fn get(&self) -> u64 {
        let total: u64 = self.counters.lock().iter().map(|c| c.load(Relaxed)).sum();
        total.saturating_sub(self.saved.load(Relaxed))
    }

    /// A save wrote the data as it was when [`Dirty::get`] read `at_snapshot`: those changes
    /// no longer count.
    pub fn saved(&self, at_snapshot: u64) {
        self.saved.fetch_add(at_snapshot, Relaxed);
    }
}

pub struct Stats {
    pub workers: Box<[WorkerStats]>,
    pub connections_received: AtomicU64,
    /// Clients waiting (CLIENT PAUSE now; blocking commands later).
    pub blocked_clients: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub total_error_replies: AtomicU64,
    pub unexpected_error_replies: AtomicU64,
    pub errors: Mutex<BTreeMap<String, u64>>,
    /// Changes to the data since the last save (Redis's `server.dirty`).
    pub dirty: Dirty,
    pub expired_time_cap_reached: AtomicU64,
    /// Samples for instantaneous_ops_per_sec etc.: (unix ms, commands, net in, net out).
    pub samples: Mutex<std::collections::VecDeque<(i64, u64, u64, u64)>>,
    /// Per-command latency histograms by command id (see [`Stats::histograms`]).
    /// Latency histograms indexed [worker][command id]: each worker writes only its own.
    latency: std::sync::OnceLock<Box<[WorkerHistograms]>>,
    /// Highest used memory seen (INFO used_memory_peak).
    pub used_memory_peak: AtomicU64,
    /// Used memory as the cron thread last read it (every tick), for `maxmemory` checks that
    /// must not read /proc on every request. 0 = not read yet.
    pub used_memory_sample: AtomicU64,
}

impl Stats {
    pub fn new(workers: usize) -> Stats {
        Stats {
            workers: (0..workers.max(1)).map(|_| WorkerStats::default()).collect(),
            connections_received: AtomicU64::new(0),
            blocked_clients: AtomicU64::new(0),
            rejected_connections: AtomicU64::new(0),
            total_error_replies: AtomicU64::new(0),
            unexpected_error_replies: AtomicU64::new(0),
            errors: Mutex::new(BTreeMap::new()),
            dirty: Dirty::default(),
            expired_time_cap_reached: AtomicU64::new(0),
            samples: Mutex::new(Default::default()),
            latency: std::sync::OnceLock::new(),
            used_memory_peak: AtomicU64::new(0),
            used_memory_sample: AtomicU64::new(0),
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
        self.samples.lock().clear();
        self.reset_latency();
        super::evict::reset_stats();
    }
}

/// Sub-buckets per power of two: values are kept with about 3% precision, like Redis's HDR
/// histograms with two significant digits.
const SUB_BITS: u32 = 5;
const SUB: usize = 1 << SUB_BITS;
/// Largest power of two tracked (2^40 ns ≈ 18 minutes); longer runs count in the last bucket.
const MAX_EXP: u32 = 40;
const BUCKETS: usize = (MAX_EXP as usize - SUB_BITS as usize + 2) * SUB;

/// A command's latency distribution in nanoseconds (LATENCY HISTOGRAM, INFO latencystats).
/// Log-linear buckets with relaxed atomic counters, so recording is two atomic adds.
pub struct LatencyHistogram {
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
        }
    }
}

fn bucket_of(ns: u64) -> usize {
    if ns < SUB as u64 {
        return ns as usize;
    }
    let e = (63 - ns.leading_zeros()).min(MAX_EXP);
    let sub = if e == MAX_EXP && ns >> MAX_EXP > 1 {
        SUB - 1
    } else {
        ((ns >> (e - SUB_BITS)) as usize) & (SUB - 1)
    };
    (e - SUB_BITS + 1) as usize * SUB + sub
}

/// The highest value a bucket stands for (what HDR's `highest_equivalent_value` reports).
fn bucket_high(i: usize) -> u64 {
    if i < SUB {
        return i as u64;
    }
    let e = (i / SUB) as u32 + SUB_BITS - 1;
    let sub = (i % SUB) as u64;
    let low = (SUB as u64 + sub) << (e - SUB_BITS);
    low + (1u64 << (e - SUB_BITS)) - 1
}

impl LatencyHistogram {
    /// Adds a sample. Only the owning worker writes a histogram, so plain load+store suffices.
    pub fn record(&self, ns: u64) {
        bump(&self.buckets[bucket_of(ns.max(1))], 1);
        bump(&self.count, 1);
    }

    /// Adds `other`'s counts into this histogram (merging the workers' copies for readers).
    fn add(&self, other: &LatencyHistogram) {
        for (a, b) in self.buckets.iter().zip(other.buckets.iter()) {
            let v = b.load(Relaxed);
            if v != 0 {
                a.store(a.load(Relaxed) + v, Relaxed);
            }
        }
        self.count
            .store(self.count.load(Relaxed) + other.count.load(Relaxed), Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Relaxed)
    }

    pub fn reset(&self) {
        for b in self.buckets.iter() {
            b.store(0, Relaxed);
        }
        self.count.store(0, Relaxed);
    }

    /// The value (ns) at percentile `p` (0..=100): the high end of the first bucket where the
    /// cumulative count reaches `p`% of all samples.
    pub fn percentile(&self, p: f64) -> u64 {
        let total = self.count();
        if total == 0 {
            return 0;
        }
        let target = ((p / 100.0) * total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        let mut last = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            let n = b.load(Relaxed);
            if n == 0 {
                continue;
            }
            seen += n;
            last = i;
            if seen >= target {
                return bucket_high(i);
            }
        }
        bucket_high(last)
    }

    /// Cumulative counts at power-of-two boundaries from 1024 ns, reported in microseconds, as
    /// LATENCY HISTOGRAM prints them (only boundaries where the count grew).
    pub fn cdf_usec(&self) -> Vec<(u64, u64)> {
        let total = self.count();
        let mut out = Vec::new();
        let mut cum = 0u64;
        let mut prev = 0u64;
        let mut i = 0;
        let mut bound: u64 = 1024;
        while prev < total && bound < (1u64 << 62) {
            while i < BUCKETS && bucket_high(i) < bound {
                cum += self.buckets[i].load(Relaxed);
                i += 1;
            }
            if i >= BUCKETS {
                cum = total;
            }
            if cum > prev {
                out.push((bound / 1000, cum));
            }
            prev = cum;
            bound *= 2;
        }
        out
    }
}

impl Stats {
    /// The latency histograms, [worker][command id], made on first use.
    fn histograms(&self, commands: &crate::commands::CommandTable) -> &[WorkerHistograms] {
        self.latency
            .get_or_init(|| {
                let n = commands.all().map(|c| c.id + 1).max().unwrap_or(0);
                (0..self.workers.len())
                    .map(|_| (0..n).map(|_| std::sync::OnceLock::new()).collect())
                    .collect()
            })
            .as_ref()
    }

    /// Adds one run of command `id` on `worker` that took `ns` nanoseconds.
    #[inline]
    pub fn record_latency(&self, commands: &crate::commands::CommandTable, worker: usize, id: usize, ns: u64) {
        let all = self.histograms(commands);
        if let Some(h) = all[slot(worker, all.len())].get(id) {
            h.get_or_init(Default::default).record(ns);
        }
    }

    /// The histogram of command `id` over all workers, if it ran since the last reset.
    pub fn histogram(&self, commands: &crate::commands::CommandTable, id: usize) -> Option<LatencyHistogram> {
        let merged = LatencyHistogram::default();
        for w in self.histograms(commands).iter() {
            if let Some(h) = w.get(id).and_then(|h| h.get()) {
                merged.add(h);
            }
        }
        (merged.count() > 0).then_some(merged)
    }

    /// Clears every latency histogram (CONFIG RESETSTAT).
    pub fn reset_latency(&self) {
        if let Some(all) = self.latency.get() {
            for h in all.iter().flat_map(|w| w.iter()).filter_map(|h| h.get()) {
                h.reset();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{changes_here, Dirty};

    /// Counts from several threads add up, two counters in one process stay apart, a save
    /// subtracts what it wrote, and a thread's own count sees only its own changes.
    #[test]
    fn dirty_sums_threads_and_forgets_what_a_save_wrote() {
        let a = std::sync::Arc::new(Dirty::default());
        let b = Dirty::default();
        let before = changes_here();
        b.add(5);
        assert_eq!(changes_here() - before, 5);
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let a = a.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        a.add(1);
                    }
                    changes_here()
                })
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().expect("thread"), 1000);
        }
        assert_eq!(a.get(), 3000);
        assert_eq!(b.get(), 5);
        let at_snapshot = a.get();
        a.add(7);
        a.saved(at_snapshot);
        assert_eq!(a.get(), 7);
    }
}
