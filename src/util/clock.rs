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

use std::cell::Cell;
use std::sync::OnceLock;

/// TSC ticks per nanosecond, measured once; `None` when the TSC must not be used.
fn ticks_per_ns() -> Option<f64> {
    static RATE: OnceLock<Option<f64>> = OnceLock::new();
    *RATE.get_or_init(calibrate)
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
}

/// Now, as an [`Instant`] and Unix nanoseconds.
#[inline]
pub fn now() -> (Instant, i64) {
    let Some(rate) = ticks_per_ns() else {
        let ns = wall_ns();
        return (Instant(ns as u64), ns);
    };
    let t = tsc();
    let (bt, bw) = BASE.with(Cell::get);
    let since = t.wrapping_sub(bt) as f64 / rate;
    // Re-read the real clock every millisecond (or if the TSC went backwards after a
    // migration), so wall time follows NTP adjustments and never drifts.
    if bw == 0 || !(0.0..1_000_000.0).contains(&since) {
        let w = wall_ns();
        BASE.with(|b| b.set((t, w)));
        return (Instant(t), w);
    }
    (Instant(t), bw + since as i64)
}

/// Nanoseconds since `start`.
#[inline]
pub fn elapsed_ns(start: Instant) -> u64 {
    match ticks_per_ns() {
        Some(rate) => (tsc().saturating_sub(start.0) as f64 / rate) as u64,
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
