//! Tuning of the memory allocator (mimalloc v3), so that resident memory follows the data.
//!
//! Two defaults of mimalloc cost Ochre a lot of RSS, measured with `../shared/bench/memory.sh`
//! (one hash of 100,000 fields, 9-byte fields and 16-byte values): 168 bytes per field with the
//! defaults, against 63 with both changes below (Redis 7.0.15 with jemalloc: 102).
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
pub fn collect() {
    // SAFETY: mi_collect(false) only visits the allocator's own free lists.
    unsafe { ffi::mi_collect(false) };
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
