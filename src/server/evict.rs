//! Eviction (Redis's `evict.c`): when used memory is above `maxmemory`, keys are deleted by the
//! `maxmemory-policy` until it is below again, before a command runs.
//!
//! * **When.** [`perform`] runs before every command while `maxmemory` is set (one relaxed load
//!   when it is not), after `CONFIG SET maxmemory`, and from the cron while an eviction that ran
//!   out of time has more to do. A command that may grow memory (`denyoom`, an EXEC that queued
//!   one, anything queued in MULTI) is refused with `-OOM` when [`perform`] fails: nothing can
//!   be evicted (`noeviction`, or a `volatile-*` policy with no key that has a TTL).
//! * **Which keys.** LRU, LFU and TTL policies keep Redis's approximation: a pool of the
//!   [`POOL_SIZE`] best candidates seen so far, topped up on each pick with
//!   `maxmemory-samples` keys from a random shard of every database, and the best one is
//!   evicted (highest idle time, lowest LFU counter, or soonest expiry). Keeping the pool across
//!   picks makes the choice close to true LRU at a fraction of the cost. The random policies take
//!   a random key of a random shard, databases in turn. The access data is in
//!   `keyspace::evict`.
//! * **How much.** The bytes each deletion frees are measured on the evicting thread's own
//!   allocation counter, until the excess is covered. With `lazyfree-lazy-eviction` big values
//!   are freed in the background, so the real figure is checked every 16 keys. Each run is
//!   limited in time by `maxmemory-eviction-tenacity` (Redis's formula: 500 µs at the default
//!   10); a run that hits the limit lets the command through and the cron carries on.
//! * **Locks.** An eviction takes its worker's world lock shared (so it never runs inside
//!   another worker's EXEC), then the pool mutex (one evictor at a time), then one shard at a
//!   time. An evicted key raises the `evicted` keyspace event, counts in INFO `evicted_keys` and
//!   touches WATCHers as a deletion does.

use super::Server;
use crate::keyspace::evict::{self as access, Policy};
use crate::util::allocator;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

/// Candidates kept between picks (`EVPOOL_SIZE`).
pub const POOL_SIZE: usize = 16;

/// Keys evicted since start or CONFIG RESETSTAT (INFO `evicted_keys`).
pub static EVICTED_KEYS: AtomicU64 = AtomicU64::new(0);
/// Unix ms since when used memory has been above `maxmemory` (0: it is not).
static OVER_SINCE_MS: AtomicI64 = AtomicI64::new(0);
/// Milliseconds spent above `maxmemory` in finished periods (INFO
/// `total_eviction_exceeded_time`).
static OVER_TOTAL_MS: AtomicU64 = AtomicU64::new(0);
/// Set when a run stopped on its time limit with memory still above the limit: the cron goes on.
static UNFINISHED: AtomicBool = AtomicBool::new(false);
/// The database the random policies take their next key from.
static NEXT_DB: AtomicUsize = AtomicUsize::new(0);

/// A key the pool may evict, with its score (higher is evicted first).
struct Candidate {
    idle: u64,
    db: usize,
    key: Vec<u8>,
}

/// What evictors share, behind one mutex (so one thread evicts at a time).
struct State {
    /// Sorted by ascending score: the best candidate is last.
    pool: Vec<Candidate>,
    /// The databases that held candidates when last looked at, and when that was: finding them
    /// locks every shard of every database, too much to do before each command at the limit.
    live: Vec<usize>,
    live_at: Option<Instant>,
    live_volatile: bool,
}

static STATE: Mutex<State> = Mutex::new(State {
    pool: Vec::new(),
    live: Vec::new(),
    live_at: None,
    live_volatile: false,
});

/// How long the list of databases with keys is trusted (a database that gains keys meanwhile
/// is a candidate a little later; one that loses them is found out by a failed pick).
const LIVE_TTL: std::time::Duration = std::time::Duration::from_millis(100);

/// What [`perform`] achieved (Redis's `EVICT_OK`, `EVICT_RUNNING`, `EVICT_FAIL`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Outcome {
    /// Used memory is within the limit.
    Ok,
    /// Still above, but the time limit stopped the run; commands go on meanwhile.
    Running,
    /// Above the limit with nothing left to evict: `denyoom` commands are refused.
    Fail,
}

/// INFO's figures: keys evicted, total and current time (ms) above the limit.
pub fn stats() -> (u64, u64, u64) {
    let since = OVER_SINCE_MS.load(Relaxed);
    let current = if since > 0 {
        (super::unix_ms() - since).max(0) as u64
    } else {
        0
    };
    (
        EVICTED_KEYS.load(Relaxed),
        OVER_TOTAL_MS.load(Relaxed) + current,
        current,
    )
}

/// CONFIG RESETSTAT.
pub fn reset_stats() {
    EVICTED_KEYS.store(0, Relaxed);
    OVER_TOTAL_MS.store(0, Relaxed);
    if OVER_SINCE_MS.load(Relaxed) > 0 {
        OVER_SINCE_MS.store(super::unix_ms(), Relaxed);
    }
}

/// How long one run may evict (`evictionTimeLimitUs`), None for no limit.
fn time_limit_us(tenacity: i64) -> Option<u64> {
    match tenacity {
        t if t <= 10 => Some(50 * t.max(0) as u64),
        t if t < 100 => Some((500.0 * 1.15f64.powi(t as i32 - 10)) as u64),
        _ => None,
    }
}

fn note_under() {
    let since = OVER_SINCE_MS.swap(0, Relaxed);
    if since > 0 {
        OVER_TOTAL_MS.fetch_add((super::unix_ms() - since).max(0) as u64, Relaxed);
    }
}

/// Whether used memory is within `maxmemory` (bytes).
#[inline]
fn within(max: u64) -> bool {
    super::info::used_memory() <= max
}

/// Evicts keys until used memory is within `maxmemory` (Redis's `performEvictions`). `worker`
/// is the caller's worker when it does not hold the world lock yet (None: it does, or it is a
/// command that runs under it).
pub fn perform(srv: &Server, worker: Option<usize>) -> Outcome {
    let max = srv.config.hot.maxmemory.load(Relaxed);
    if max <= 0 {
        return Outcome::Ok;
    }
    let max = max as u64;
    if within(max) {
        if OVER_SINCE_MS.load(Relaxed) != 0 {
            note_under();
        }
        UNFINISHED.store(false, Relaxed);
        return Outcome::Ok;
    }
    let now = super::unix_ms();
    // While clients are paused the dataset must not change, evictions included.
    if srv.pause.until_ms.load(Relaxed) > now {
        return Outcome::Ok;
    }
    if OVER_SINCE_MS.load(Relaxed) == 0 {
        let _ = OVER_SINCE_MS.compare_exchange(0, now, Relaxed, Relaxed);
    }
    let policy = access::policy();
    if policy == Policy::NoEviction {
        return Outcome::Fail;
    }
    // Not again when the connection's batch holds it: a second shared hold can wait behind an
    // exclusive waiter that waits for the first.
    let _world = worker.filter(|&w| !srv.world.holds(w)).map(|w| srv.world.shared(w));
    let mut state = STATE.lock();
    let State {
        pool,
        live,
        live_at,
        live_volatile,
    } = &mut *state;
    // Another thread may have evicted while this one waited.
    let used = super::info::used_memory();
    if used <= max {
        return Outcome::Ok;
    }
    let to_free = (used - max) as i64;
    let start = Instant::now();
    let limit = time_limit_us(srv.config.hot.maxmemory_eviction_tenacity.load(Relaxed));
    let lazy = srv.config.hot.lazyfree_lazy_eviction.load(Relaxed);
    let mut freed = 0i64;
    let mut evicted = 0u64;
    let mut outcome = Outcome::Fail;
    // Databases that hold candidates, so picks skip the empty ones.
    let volatile = policy.volatile_only();
    let mut fresh = false;
    if live_at.is_none_or(|t| t.elapsed() > LIVE_TTL) || *live_volatile != volatile {
        *live = live_dbs(srv, volatile);
        (*live_at, *live_volatile, fresh) = (Some(Instant::now()), volatile, true);
    }
    while freed < to_free {
        let victim = if matches!(policy, Policy::AllKeysRandom | Policy::VolatileRandom) {
            pick_random(srv, policy, live)
        } else {
            pick_pooled(srv, policy, pool, live, now)
        };
        let Some((db, key)) = victim else {
            // Only a list just made can say there is nothing to evict.
            if fresh {
                break;
            }
            *live = live_dbs(srv, volatile);
            (*live_at, fresh) = (Some(Instant::now()), true);
            continue;
        };
        let before = allocator::thread_net();
        let scope = super::propagate::enter_plain(srv);
        // A shard the running script holds is skipped, never waited for while the evictor's
        // state is held: that script may be evicting too.
        let removed = srv.keyspace.db(db).try_lock(&key).and_then(|mut shard| {
            // The pool's candidates may have changed since they were sampled.
            let ok = shard
                .dict
                .get(&key)
                .is_some_and(|e| !policy.volatile_only() || e.expire != 0);
            if ok {
                shard.remove_entry(&key)
            } else {
                None
            }
        });
        let Some((k, e)) = removed else {
            if let Some(scope) = scope {
                scope.finish(srv);
            }
            continue;
        };
        if let Some(scope) = scope {
            let verb: &[u8] = if lazy { b"UNLINK" } else { b"DEL" };
            super::propagate::push(db, vec![verb.to_vec(), key.to_vec()]);
            scope.finish(srv);
        }
        if lazy {
            crate::keyspace::lazyfree::free_value(e.value);
        } else {
            drop(e);
        }
        drop(k);
        freed += before - allocator::thread_net();
        evicted += 1;
        EVICTED_KEYS.fetch_add(1, Relaxed);
        super::multi::touch(srv, db, &key);
        super::notify::notify_srv(srv, super::notify::EVICTED, "evicted", &key, db);
        if evicted.is_multiple_of(16) {
            // Lazily freed values leave memory only later: look at the real figure.
            if lazy && within(max) {
                outcome = Outcome::Ok;
                break;
            }
            if limit.is_some_and(|l| start.elapsed().as_micros() as u64 > l) {
                outcome = Outcome::Running;
                break;
            }
        }
    }
    if freed >= to_free {
        outcome = Outcome::Ok;
    }
    // Nothing more to evict, but the lazyfree thread may be about to give memory back.
    if outcome == Outcome::Fail && lazy {
        let limit = limit.unwrap_or(u64::MAX);
        while crate::keyspace::lazyfree::PENDING.load(Relaxed) > 0 && (start.elapsed().as_micros() as u64) < limit {
            if within(max) {
                outcome = Outcome::Ok;
                break;
            }
            std::thread::sleep(std::time::Duration::from_micros(limit.min(1000)));
        }
    }
    UNFINISHED.store(outcome == Outcome::Running, Relaxed);
    let ms = start.elapsed().as_millis() as u64;
    let threshold = srv.config.hot.latency_monitor_threshold.load(Relaxed);
    if threshold > 0 && ms as i64 >= threshold {
        srv.latency.add("eviction-cycle", ms, now);
    }
    outcome
}

/// Called by the cron: finishes an eviction that ran out of time (Redis's `evictionTimeProc`,
/// which runs on every event-loop turn; here runs follow each other for up to half a cron
/// period), and closes the "above the limit" period once memory is back under it.
pub fn cron(srv: &Server, budget: std::time::Duration) {
    if !UNFINISHED.load(Relaxed) && OVER_SINCE_MS.load(Relaxed) == 0 {
        return;
    }
    let start = Instant::now();
    while perform(srv, Some(0)) == Outcome::Running && start.elapsed() < budget {}
}

/// The databases with a key the policy may evict (any key, or one with a TTL).
fn live_dbs(srv: &Server, volatile: bool) -> Vec<usize> {
    (0..srv.keyspace.dbs.len())
        .filter(|&i| {
            let d = srv.keyspace.db(i);
            (0..d.shard_count()).any(|s| {
                // A shard the running script holds counts as empty (see the victim picks).
                let Some(sh) = d.try_lock_index(s) else {
                    return false;
                };
                if volatile {
                    sh.volatile > 0
                } else {
                    !sh.dict.is_empty()
                }
            })
        })
        .collect()
}

/// CONFIG SET maxmemory: warns when the new limit is below what is used, and evicts at once.
pub fn maxmemory_changed(srv: &Server) {
    let max = srv.config.hot.maxmemory.load(Relaxed);
    if max <= 0 {
        return;
    }
    let used = super::info::used_memory();
    if (max as u64) < used {
        super::log::warning(&format!(
            "WARNING: the new maxmemory value set via CONFIG SET ({max}) is smaller than the current memory usage ({used}). This will result in key eviction and/or the inability to accept new write commands depending on the maxmemory-policy."
        ));
    }
    perform(srv, None);
}

/// A random key for the random policies: databases in turn, a random shard that has keys (keys
/// with a TTL for `volatile-random`), a random key of it.
fn pick_random(srv: &Server, policy: Policy, live: &[usize]) -> Option<(usize, Vec<u8>)> {
    let volatile = policy.volatile_only();
    for _ in 0..live.len() {
        let db = live[NEXT_DB.fetch_add(1, Relaxed) % live.len()];
        let d = srv.keyspace.db(db);
        let n = d.shard_count();
        let first = access::random_u64() as usize % n;
        // A few random shards, then every shard from a random start, so an almost empty
        // database is still found.
        let order = (0..4)
            .map(|_| access::random_u64() as usize % n)
            .chain((0..n).map(|i| (first + i) % n));
        for idx in order {
            // Never wait for a shard the running script holds while holding the evictor's
            // state: that script may be evicting too.
            let Some(shard) = d.try_lock_index(idx) else {
                continue;
            };
            if shard.dict.is_empty() || (volatile && shard.volatile == 0) {
                continue;
            }
            if !volatile {
                if let Some((k, _)) = shard.dict.random(access::random_u64) {
                    return Some((db, k.to_vec()));
                }
                continue;
            }
            // A random key with a TTL: scan from a random bucket.
            let mut cursor = access::random_u64();
            let mut found = None;
            for _ in 0..shard.dict.buckets() + 1 {
                cursor = shard.dict.scan(cursor, |k, e| {
                    if found.is_none() && e.expire != 0 {
                        found = Some(k.to_vec());
                    }
                });
                if found.is_some() {
                    break;
                }
            }
            if let Some(k) = found {
                return Some((db, k));
            }
        }
    }
    None
}

/// The best key by the pool (`evictionPoolPopulate` and the pick of `performEvictions`). The
/// caller checks that it still exists, under the lock it deletes it with.
fn pick_pooled(
    srv: &Server,
    policy: Policy,
    pool: &mut Vec<Candidate>,
    live: &[usize],
    now_ms: i64,
) -> Option<(usize, Vec<u8>)> {
    // First from a random shard of each database; when that finds nothing, from every shard,
    // so "nothing to evict" is only said when it is true.
    populate(srv, policy, pool, live, now_ms, false);
    if pool.is_empty() {
        populate(srv, policy, pool, live, now_ms, true);
    }
    pool.pop().map(|c| (c.db, c.key))
}

/// Samples `maxmemory-samples` keys of a random shard of each live database into the pool
/// (with `exhaustive`, of every shard).
fn populate(srv: &Server, policy: Policy, pool: &mut Vec<Candidate>, live: &[usize], now_ms: i64, exhaustive: bool) {
    let samples = srv.config.hot.maxmemory_samples.load(Relaxed).clamp(1, 64) as usize;
    let volatile = policy.volatile_only();
    let clock = srv.lru_seconds_at(now_ms);
    let minutes = access::lfu_minutes(now_ms);
    for &db in live {
        let d = srv.keyspace.db(db);
        let n = d.shard_count();
        let shards: Vec<usize> = if exhaustive {
            (0..n).collect()
        } else {
            (0..4).map(|_| access::random_u64() as usize % n).collect()
        };
        for idx in shards {
            // Never wait for a shard the running script holds while holding the evictor's
            // state: that script may be evicting too.
            let Some(shard) = d.try_lock_index(idx) else {
                continue;
            };
            if shard.dict.is_empty() || (volatile && shard.volatile == 0) {
                continue;
            }
            let mut got = 0;
            let mut cursor = access::random_u64();
            for _ in 0..samples * 10 {
                cursor = shard.dict.scan(cursor, |k, e| {
                    if got >= samples || (volatile && e.expire == 0) {
                        return;
                    }
                    got += 1;
                    let idle = match policy {
                        Policy::AllKeysLfu | Policy::VolatileLfu => 255 - access::decayed(e.lru, minutes) as u64,
                        Policy::VolatileTtl => u64::MAX - e.expire as u64,
                        _ => clock.wrapping_sub(e.lru) as u64,
                    };
                    insert(pool, idle, db, k);
                });
                if got >= samples {
                    break;
                }
            }
            if !exhaustive && got > 0 {
                break;
            }
        }
    }
}

/// Puts a candidate in its place in the pool, dropping the worst when it is full.
fn insert(pool: &mut Vec<Candidate>, idle: u64, db: usize, key: &[u8]) {
    if pool.len() >= POOL_SIZE && pool.first().is_some_and(|c| idle <= c.idle) {
        return;
    }
    if pool.iter().any(|c| c.db == db && c.key == key) {
        return;
    }
    let at = pool.partition_point(|c| c.idle < idle);
    pool.insert(
        at,
        Candidate {
            idle,
            db,
            key: key.to_vec(),
        },
    );
    if pool.len() > POOL_SIZE {
        pool.remove(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_limit_follows_redis() {
        assert_eq!(time_limit_us(0), Some(0));
        assert_eq!(time_limit_us(10), Some(500));
        assert_eq!(time_limit_us(11), Some(575));
        assert_eq!(time_limit_us(100), None);
    }

    #[test]
    fn pool_keeps_the_best_candidates_sorted() {
        let mut pool = Vec::new();
        for i in 0..40u64 {
            // A permutation of 0..40 (17 is prime to 40), so the best is 39 and the worst kept 24.
            insert(&mut pool, (i * 17) % 40, 0, format!("k{i}").as_bytes());
        }
        assert_eq!(pool.len(), POOL_SIZE);
        assert!(pool.windows(2).all(|w| w[0].idle <= w[1].idle));
        assert_eq!(pool.last().map(|c| c.idle), Some(39));
        assert_eq!(pool.first().map(|c| c.idle), Some(24));
        insert(&mut pool, 1000, 0, b"k7"); // k7 is already in, with 39
        assert_eq!(
            pool.last().map(|c| c.idle),
            Some(39),
            "a duplicate key is not added twice"
        );
    }
}
