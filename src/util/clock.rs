//! Cheap timestamps for the request path.
//!
//! Every command needs "now" (expiry is judged by it) and its own duration (commandstats,
//! latency histograms, SLOWLOG). Two `clock_gettime` calls per command cost ~7 % of the server's
//! CPU at pipeline depth 16 (perf, SADD); the CPU's time-stamp counter costs a third of one call.
//! So, where the TSC is invariant (`constant_tsc` and `nonstop_tsc`: it ticks at one rate in
//! every power state and on every core), a command reads the TSC once at its start and once at
//! its end, and wall-clock time is derived from a per-thread (TSC, wall clock) base refreshed by a
//! real clock read at least every millisecond. Elsewhere (or on other architectures) both fall
//! back to `clock_gettime`.
//!
//! Within a batch of pipelined requests ([`chain`]), one read serves twice: the end of a command
//! is the start of the next, so each command costs one TSC read instead of two (the TSC reads
//! were ~10% of the user cycles of GET at pipeline 16 on this AMD machine, ~10 ns each). A
//! command's measured duration then also covers the parsing of its request, tens of
//! nanoseconds.

use std::cell::Cell;
use std::sync::OnceLock;

/// The TSC's rate, measured once; `None` when the TSC must not be used.
#[derive(Clone, Copy)]
struct Rate {
    /// Nanoseconds per tick as a 32.32 fixed-point number: converting ticks is then one
    /// integer multiplication (no division, no float conversions).
    ns_per_tick_fp: u64,
    /// Ticks in one millisecond: how long a wall-clock base is trusted.
    ticks_per_ms: u64,
}

fn rate() -> Option<Rate> {
    static RATE: OnceLock<Option<Rate>> = OnceLock::new();
    *RATE.get_or_init(|| {
        calibrate().map(|ticks_per_ns| Rate {
            ns_per_tick_fp: ((1u64 << 32) as f64 / ticks_per_ns) as u64,
            ticks_per_ms: (ticks_per_ns * 1_000_000.0) as u64,
        })
    })
}

impl Rate {
    /// `ticks` in nanoseconds (exact to the nanosecond for any duration under decades).
    #[inline]
    fn ns(self, ticks: u64) -> u64 {
        ((ticks as u128 * self.ns_per_tick_fp as u128) >> 32) as u64
    }
}

fn wall_ns() -> i64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

fn monotonic_ns() -> i64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

#[cfg(target_arch = "x86_64")]
fn tsc() -> u64 {
    // SAFETY: RDTSC has no preconditions on x86_64.
    unsafe { core::arch::x86_64::_rdtsc() }
}

#[cfg(not(target_arch = "x86_64"))]
fn tsc() -> u64 {
    monotonic_ns() as u64
}

#[cfg(target_arch = "x86_64")]
fn calibrate() -> Option<f64> {
    let flags = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let flags = flags.lines().find(|l| l.starts_with("flags"))?;
    let has = |f: &str| flags.split_whitespace().any(|w| w == f);
    if !(has("constant_tsc") && has("nonstop_tsc")) {
        return None;
    }
    // 5 ms against the monotonic clock: the rate is good to ~1e-5, far below what a
    // microsecond duration or a millisecond-refreshed wall clock can show.
    let (m0, t0) = (monotonic_ns(), tsc());
    let mut m1 = m0;
    while m1 - m0 < 5_000_000 {
        m1 = monotonic_ns();
    }
    let t1 = tsc();
    let rate = (t1.wrapping_sub(t0)) as f64 / (m1 - m0) as f64;
    (rate.is_finite() && rate > 0.01).then_some(rate)
}

#[cfg(not(target_arch = "x86_64"))]
fn calibrate() -> Option<f64> {
    None
}

/// A point in time for measuring durations ([`elapsed_ns`]).
#[derive(Clone, Copy)]
pub struct Instant(u64);

thread_local! {
    /// (TSC, Unix ns) at the last real clock read on this thread.
    static BASE: Cell<(u64, i64)> = const { Cell::new((0, 0)) };
    /// Whether this thread runs a chain of commands ([`chain`]).
    static CHAINED: Cell<bool> = const { Cell::new(false) };
    /// In a chain, the TSC read that ended the last command (0: none yet).
    static LAST_END: Cell<u64> = const { Cell::new(0) };
}

/// Chains the commands timed on this thread until the result is dropped: each starts where
/// the one before ended (see the module doc).
pub fn chain() -> Chain {
    CHAINED.with(|c| c.set(true));
    LAST_END.with(|l| l.set(0));
    Chain(())
}

/// See [`chain`].
pub struct Chain(());

impl Drop for Chain {
    fn drop(&mut self) {
        CHAINED.with(|c| c.set(false));
        LAST_END.with(|l| l.set(0));
    }
}

/// The TSC now, or in a chain the read that ended the last command.
#[inline]
fn start_tsc() -> u64 {
    match LAST_END.with(Cell::get) {
        0 => tsc(),
        t => t,
    }
}

/// Now, as an [`Instant`] and Unix nanoseconds.
#[inline]
pub fn now() -> (Instant, i64) {
    let Some(rate) = rate() else {
        let ns = wall_ns();
        return (Instant(ns as u64), ns);
    };
    let t = start_tsc();
    let (bt, bw) = BASE.with(Cell::get);
    // Re-read the real clock every millisecond (or if the TSC went backwards after a
    // migration), so wall time follows NTP adjustments and never drifts.
    if bw == 0 || t < bt || t - bt >= rate.ticks_per_ms {
        let w = wall_ns();
        BASE.with(|b| b.set((t, w)));
        return (Instant(t), w);
    }
    (Instant(t), bw + rate.ns(t - bt) as i64)
}

/// Nanoseconds since `start`.
#[inline]
pub fn elapsed_ns(start: Instant) -> u64 {
    match rate() {
        Some(rate) => {
            let t = tsc();
            if CHAINED.with(Cell::get) {
                LAST_END.with(|l| l.set(t));
            }
            rate.ns(t.saturating_sub(start.0))
        }
        None => (wall_ns() as u64).saturating_sub(start.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_real_clock() {
        let (start, w0) = now();
        assert!((w0 - wall_ns()).abs() < 2_000_000, "within 2 ms of the wall clock");
        std::thread::sleep(std::time::Duration::from_millis(20));
        let e = elapsed_ns(start);
        assert!((19_000_000..200_000_000).contains(&e), "20 ms sleep measured as {e} ns");
        let (_, w1) = now();
        assert!((w1 - wall_ns()).abs() < 2_000_000);
        assert!(w1 - w0 >= 19_000_000);
    }
}
