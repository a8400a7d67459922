//! The memory allocator: mimalloc v3, tuned so that resident memory follows the data, and
//! wrapped in a counter so that `used_memory` (INFO, MEMORY STATS, `maxmemory`) is the bytes the
//! server has allocated, as Redis's `zmalloc_used_memory`, not the resident set.
//!
//! **Counting.** [`Counting`] is the global allocator. Every allocation and free adds its usable
//! size (what `mi_usable_size` reports, the size class actually taken, as Redis counts jemalloc's
//! `malloc_usable_size`) to a per-thread signed delta, a `const`-initialised `Cell` with no
//! destructor, so touching it inside the allocator never allocates or registers anything. When
//! the delta passes ±[`FLUSH_BYTES`] it is folded into the process-wide [`USED`]. A request thus
//! pays one thread-local add per allocation and free, and no shared cache line; the price is
//! that the global figure lags each thread by less than 64 KB (a thread that exits leaves its
//! last delta uncounted). [`used`] adds the calling thread's own delta, so a worker's view of
//! what it just allocated is exact.
//!
//! **Tuning.** Two defaults of mimalloc cost Ochre a lot of RSS, measured with
//! `../shared/bench/memory.sh` (one hash of 100,000 fields, 9-byte fields and 16-byte values):
//! 168 bytes per field with the defaults, against 63 with both changes below (Redis 7.0.15 with
//! jemalloc: 102).
//! * **Transparent huge pages.** mimalloc asks the kernel for 2 MiB pages for its arenas, so a
//!   few small allocations make whole 2 MiB regions resident (an empty server: 12 MB RSS instead
//!   of 5 MB). mimalloc reserves its first arena before `main`, so its own option comes too late;
//!   `prctl(PR_SET_THP_DISABLE)` turns huge pages off for the whole process instead (Redis, too,
//!   asks for THP to be off).
//! * **Delayed purging.** Freed memory (a pipeline's read buffer, a table's old bucket array after
//!   a resize) is given back to the OS only when a thread calls into the allocator again after
//!   the purge delay (1 s by default). A worker that goes idle after a burst keeps it forever.
//!   Freed pages belong to the thread that used them, so each worker calls [`collect`] every
//!   [`COLLECT_EVERY_MS`], which purges what has waited past a delay shortened to 100 ms, like
//!   jemalloc's background purging in Redis.

use libmimalloc_sys as ffi;
use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering::Relaxed};

/// How far a thread's uncounted delta may drift before it is added to [`USED`].
pub const FLUSH_BYTES: i64 = 64 * 1024;

/// Bytes allocated by the whole process, less what threads have not flushed yet.
static USED: AtomicI64 = AtomicI64::new(0);
/// Set by the first allocation through [`Counting`]: without it (unit tests, which use the
/// system allocator) [`used`] has nothing to report.
static ACTIVE: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// This thread's allocations minus frees since its last flush.
    static DELTA: Cell<i64> = const { Cell::new(0) };
    /// Everything this thread has flushed, so [`thread_net`] can measure what a piece of work on
    /// this thread allocated or freed, flushes included.
    static FLUSHED: Cell<i64> = const { Cell::new(0) };
}

/// mimalloc's natural alignment: smaller alignments need no aligned entry point.
const MIN_ALIGN: usize = 16;

/// The global allocator: mimalloc plus the byte count.
pub struct Counting;

#[inline(always)]
fn count(bytes: i64) {
    // `try_with` cannot fail on a const, destructor-less thread local, but costs nothing either.
    let _ = DELTA.try_with(|d| {
        let v = d.get() + bytes;
        if v.unsigned_abs() > FLUSH_BYTES as u64 {
            flush_slow(v);
            d.set(0);
        } else {
            d.set(v);
        }
    });
}

#[cold]
#[inline(never)]
fn flush_slow(v: i64) {
    USED.fetch_add(v, Relaxed);
    let _ = FLUSHED.try_with(|f| f.set(f.get() + v));
    if !ACTIVE.load(Relaxed) {
        ACTIVE.store(true, Relaxed);
    }
}

#[inline(always)]
fn usable(p: *const c_void) -> i64 {
    // SAFETY: `p` is a live block of this allocator.
    unsafe { ffi::mi_usable_size(p) as i64 }
}

// SAFETY: every entry point forwards to mimalloc with the layout's size and alignment; counting
// only reads the block's size.
unsafe impl GlobalAlloc for Counting {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = if layout.align() <= MIN_ALIGN {
            ffi::mi_malloc(layout.size())
        } else {
            ffi::mi_malloc_aligned(layout.size(), layout.align())
        };
        if !p.is_null() {
            count(usable(p));
        }
        p as *mut u8
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = if layout.align() <= MIN_ALIGN {
            ffi::mi_zalloc(layout.size())
        } else {
            ffi::mi_zalloc_aligned(layout.size(), layout.align())
        };
        if !p.is_null() {
            count(usable(p));
        }
        p as *mut u8
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        count(-usable(ptr as *const c_void));
        ffi::mi_free(ptr as *mut c_void);
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old = usable(ptr as *const c_void);
        let p = if layout.align() <= MIN_ALIGN {
            ffi::mi_realloc(ptr as *mut c_void, new_size)
        } else {
            ffi::mi_realloc_aligned(ptr as *mut c_void, new_size, layout.align())
        };
        if !p.is_null() {
            count(usable(p) - old);
        }
        p as *mut u8
    }
}

/// Bytes allocated by the process as the calling thread sees it (the global count plus its own
/// unflushed delta), or None when the counting allocator is not in use.
#[inline]
pub fn used() -> Option<u64> {
    if !ACTIVE.load(Relaxed) {
        return None;
    }
    let mine = DELTA.try_with(|d| d.get()).unwrap_or(0);
    Some((USED.load(Relaxed) + mine).max(0) as u64)
}

/// Net bytes the calling thread has allocated since it started (flushed or not): the difference
/// of two readings is what the work between them allocated (negative: freed) on this thread.
#[inline]
pub fn thread_net() -> i64 {
    DELTA.try_with(|d| d.get()).unwrap_or(0) + FLUSHED.try_with(|f| f.get()).unwrap_or(0)
}

/// Adds the calling thread's delta to the global count now (a thread about to exit or sleep
/// long, so its last allocations are not left out).
pub fn flush_thread() {
    let v = DELTA.try_with(|d| d.replace(0)).unwrap_or(0);
    if v != 0 {
        flush_slow(v);
    }
}

// Option numbers of mimalloc v3's `mi_option_t` (include/mimalloc.h); the binding names only
// some of them. A unit test checks them against their documented defaults.
const PURGE_DELAY: ffi::mi_option_t = 15;
const ALLOW_THP: ffi::mi_option_t = 43;

/// How often each worker returns its freed memory (a collect costs about a page walk).
pub const COLLECT_EVERY_MS: u64 = 200;

/// Applied at start-up, before the server allocates anything sizeable.
pub fn tune() {
    // SAFETY: setting an option is a plain store in mimalloc's option table.
    unsafe {
        ffi::mi_option_set(ALLOW_THP, 0);
        ffi::mi_option_set(PURGE_DELAY, 100);
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// Returns the calling thread's freed memory whose purge delay has passed to the OS.
/// Also flushes the thread's allocation count, so a worker gone idle is not left out of it.
pub fn collect() {
    // SAFETY: mi_collect(false) only visits the allocator's own free lists.
    unsafe { ffi::mi_collect(false) };
    flush_thread();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_numbers_match_mimalloc() {
        // SAFETY: reading an option is a plain load.
        unsafe {
            assert_eq!(ffi::mi_option_get(PURGE_DELAY), 1000, "purge_delay defaults to 1 s");
            assert_eq!(ffi::mi_option_get(ALLOW_THP), 1, "allow_thp defaults to 1");
        }
    }
}
