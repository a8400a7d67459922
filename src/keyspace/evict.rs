//! The access data every key carries for eviction (Redis's `object.c` LRU/LFU and the policy
//! flags of `evict.c`), kept in [`Entry::lru`]'s 32 bits:
//!
//! * under an **LRU** policy (and the non-LRU/LFU ones, for OBJECT IDLETIME): the LRU clock,
//!   seconds since the server started, of the key's last access;
//! * under an **LFU** policy: `minutes << 8 | counter`, Redis's layout: a 16-bit clock in minutes
//!   of the last decrement and an 8-bit logarithmic access counter. A new key starts at
//!   [`LFU_INIT_VAL`]; an access first decays the counter by one per `lfu-decay-time` minutes
//!   elapsed, then adds one with probability `1 / ((counter - 5) * lfu-log-factor + 1)`, so the
//!   counter grows with the logarithm of the access count (255 after about a million accesses at
//!   the default factor of 10).
//!
//! The policy lives in process-wide atomics, refreshed by CONFIG, because lookups see only a
//! shard: an access costs one relaxed load and a branch more than a plain store. Switching
//! between LRU and LFU at run time reinterprets the bits, as Redis does (its OBJECT replies
//! warn that the data takes time to adjust).

use super::value::Entry;
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, Ordering::Relaxed};

/// The counter a new key starts with, so it is not evicted before it had a chance to be used.
pub const LFU_INIT_VAL: u32 = 5;

/// `maxmemory-policy`, parsed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum Policy {
    NoEviction = 0,
    AllKeysLru,
    VolatileLru,
    AllKeysLfu,
    VolatileLfu,
    AllKeysRandom,
    VolatileRandom,
    VolatileTtl,
}

impl Policy {
    pub fn parse(name: &str) -> Policy {
        match name {
            "allkeys-lru" => Policy::AllKeysLru,
            "volatile-lru" => Policy::VolatileLru,
            "allkeys-lfu" => Policy::AllKeysLfu,
            "volatile-lfu" => Policy::VolatileLfu,
            "allkeys-random" => Policy::AllKeysRandom,
            "volatile-random" => Policy::VolatileRandom,
            "volatile-ttl" => Policy::VolatileTtl,
            _ => Policy::NoEviction,
        }
    }

    fn from_u8(v: u8) -> Policy {
        match v {
            1 => Policy::AllKeysLru,
            2 => Policy::VolatileLru,
            3 => Policy::AllKeysLfu,
            4 => Policy::VolatileLfu,
            5 => Policy::AllKeysRandom,
            6 => Policy::VolatileRandom,
            7 => Policy::VolatileTtl,
            _ => Policy::NoEviction,
        }
    }

    /// Whether only keys with a TTL may be evicted.
    pub fn volatile_only(self) -> bool {
        matches!(
            self,
            Policy::VolatileLru | Policy::VolatileLfu | Policy::VolatileRandom | Policy::VolatileTtl
        )
    }

    pub fn is_lfu(self) -> bool {
        matches!(self, Policy::AllKeysLfu | Policy::VolatileLfu)
    }

    pub fn is_lru(self) -> bool {
        matches!(self, Policy::AllKeysLru | Policy::VolatileLru)
    }
}

static POLICY: AtomicU8 = AtomicU8::new(Policy::NoEviction as u8);
/// Whether [`POLICY`] is an LFU one: the flag every access reads.
static LFU: AtomicBool = AtomicBool::new(false);
static LOG_FACTOR: AtomicU32 = AtomicU32::new(10);
static DECAY_TIME: AtomicU32 = AtomicU32::new(1);

/// Installs the configuration (`maxmemory-policy`, `lfu-log-factor`, `lfu-decay-time`).
pub fn configure(policy: Policy, log_factor: i64, decay_time: i64) {
    POLICY.store(policy as u8, Relaxed);
    LFU.store(policy.is_lfu(), Relaxed);
    LOG_FACTOR.store(log_factor.clamp(0, u32::MAX as i64) as u32, Relaxed);
    DECAY_TIME.store(decay_time.clamp(0, u32::MAX as i64) as u32, Relaxed);
}

/// The configured policy.
#[inline]
pub fn policy() -> Policy {
    Policy::from_u8(POLICY.load(Relaxed))
}

/// Whether entries hold LFU data.
#[inline]
pub fn lfu_active() -> bool {
    LFU.load(Relaxed)
}

/// The LFU clock: Unix minutes, 16 bits (`LFUGetTimeInMinutes`).
#[inline]
pub fn lfu_minutes(now_ms: i64) -> u32 {
    ((now_ms / 60_000) & 0xFFFF) as u32
}

/// The access stamp a new (or written) key gets: the LRU clock `lru_secs`, or under LFU the
/// minute clock with the initial counter. Commands pass this value to lookups, which turn it into
/// the right update with [`touch`].
#[inline]
pub fn stamp(lru_secs: u32, now_ms: i64) -> u32 {
    if lfu_active() {
        (lfu_minutes(now_ms) << 8) | LFU_INIT_VAL
    } else {
        lru_secs
    }
}

/// Records an access to `e`, `stamp` coming from [`stamp`] (Redis's `updateLFU` or the LRU store
/// of `lookupKey`).
#[inline]
pub fn touch(e: &mut Entry, stamp: u32) {
    if lfu_active() {
        let now = stamp >> 8;
        let counter = log_incr(decayed(e.lru, now));
        e.lru = (now << 8) | counter;
    } else if e.lru != stamp {
        // The clock ticks once a second: most reads find it current, and skipping the store
        // keeps a read from dirtying the entry's cache line.
        e.lru = stamp;
    }
}

/// Minutes from `then` to `now` on the 16-bit clock (`LFUTimeElapsed`, which wraps).
fn elapsed_minutes(then: u32, now: u32) -> u32 {
    if now >= then {
        now - then
    } else {
        65535 - then + now
    }
}

/// The counter of LFU data `lru` after the decay due at minute `now` (`LFUDecrAndReturn`).
pub fn decayed(lru: u32, now: u32) -> u32 {
    let counter = lru & 0xFF;
    let decay = DECAY_TIME.load(Relaxed);
    let periods = elapsed_minutes(lru >> 8, now).checked_div(decay).unwrap_or(0);
    counter.saturating_sub(periods)
}

/// The counter of an entry as OBJECT FREQ reports it (decayed to `now_ms`).
pub fn lfu_counter(e: &Entry, now_ms: i64) -> u32 {
    decayed(e.lru, lfu_minutes(now_ms))
}

/// Adds one to an LFU counter with a probability that falls as it grows (`LFULogIncr`).
fn log_incr(counter: u32) -> u32 {
    if counter >= 255 {
        return 255;
    }
    let base = counter.saturating_sub(LFU_INIT_VAL) as f64;
    let p = 1.0 / (base * LOG_FACTOR.load(Relaxed) as f64 + 1.0);
    // A uniform number in [0, 1) from the top 53 bits.
    let r = (random_u64() >> 11) as f64 / (1u64 << 53) as f64;
    if r < p {
        counter + 1
    } else {
        counter
    }
}

thread_local! {
    static RNG: Cell<u64> = const { Cell::new(0) };
}

/// A per-thread xorshift64* generator, seeded from the clock and the thread's stack address:
/// eviction sampling and LFU increments need speed, not quality.
pub fn random_u64() -> u64 {
    RNG.with(|s| {
        let mut x = s.get();
        if x == 0 {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1);
            x = (t ^ (&x as *const u64 as u64).rotate_left(32)) | 1;
        }
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        s.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::value::Value;

    #[test]
    fn lfu_counter_grows_logarithmically_and_decays() {
        configure(Policy::AllKeysLfu, 10, 1);
        let now_ms = 1_000 * 60_000;
        let mut e = Entry::new(Value::Int(1), stamp(0, now_ms));
        assert_eq!(lfu_counter(&e, now_ms), LFU_INIT_VAL);
        for _ in 0..1000 {
            touch(&mut e, stamp(0, now_ms));
        }
        let c = lfu_counter(&e, now_ms);
        // About 5 + sqrt(2 * 1000 / 10): far below the access count.
        assert!((15..40).contains(&c), "counter {c}");
        // One point per minute of decay time.
        assert_eq!(lfu_counter(&e, now_ms + 3 * 60_000), c - 3);
        assert_eq!(elapsed_minutes(65530, 4), 9);
        configure(Policy::NoEviction, 10, 1);
        let mut e = Entry::new(Value::Int(1), 7);
        touch(&mut e, 42);
        assert_eq!(e.lru, 42);
    }
}
