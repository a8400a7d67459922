//! The key hash: a seeded multiply-fold hash over 8-byte words (wyhash-style). Fast for the short
//! keys that dominate, and seeded per process so clients cannot precompute collisions.

use std::sync::OnceLock;

static SEED: OnceLock<u64> = OnceLock::new();

fn seed() -> u64 {
    *SEED.get_or_init(|| {
        let mut s = [0u8; 8];
        // SAFETY: getrandom writes at most 8 bytes into s.
        let n = unsafe { libc::getrandom(s.as_mut_ptr() as *mut libc::c_void, 8, 0) };
        if n == 8 {
            u64::from_le_bytes(s)
        } else {
            0x9E37_79B9_7F4A_7C15 ^ std::process::id() as u64
        }
    })
}

#[inline]
fn mix(a: u64, b: u64) -> u64 {
    let r = (a as u128).wrapping_mul(b as u128);
    (r as u64) ^ ((r >> 64) as u64)
}

#[inline]
pub(crate) fn read8(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[..8]);
    u64::from_le_bytes(w)
}

#[inline]
pub(crate) fn read4(b: &[u8]) -> u64 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[..4]);
    u32::from_le_bytes(w) as u64
}

/// Hashes a key.
///
/// Every byte is read with whole-word loads: a short tail is read as two overlapping words
/// (or, under 4 bytes, three single bytes), never copied into a zeroed word first. Such a copy
/// is a `memcpy` call whose narrow stores the next 8-byte load cannot forward, a stall that
/// `perf` put at 9% of the server's user cycles for INCR on redis-benchmark's 20-byte keys.
#[inline]
pub fn hash(key: &[u8]) -> u64 {
    const P0: u64 = 0xa076_1d64_78bd_642f;
    const P1: u64 = 0xe703_7ed1_a0b4_28db;
    const P2: u64 = 0x8ebc_6af0_9c88_c6e3;
    let len = key.len();
    let mut s = seed() ^ P0;
    let (a, b) = if len <= 16 {
        if len >= 8 {
            (read8(key), read8(&key[len - 8..]))
        } else if len >= 4 {
            (read4(key), read4(&key[len - 4..]))
        } else if len > 0 {
            let three = (key[0] as u64) << 16 | (key[len >> 1] as u64) << 8 | key[len - 1] as u64;
            (three, 0)
        } else {
            (0, 0)
        }
    } else {
        let mut i = 0;
        while len - i > 16 {
            s = mix(read8(&key[i..]) ^ P1, read8(&key[i + 8..]) ^ s);
            i += 16;
        }
        (read8(&key[len - 16..]), read8(&key[len - 8..]))
    };
    mix(P1 ^ len as u64, mix(a ^ P1, b ^ s) ^ P2)
}

/// Up to 8 bytes as one word, read with word loads (see [`hash`]); with the length, it tells
/// any two such strings apart.
#[inline]
pub fn short_word(b: &[u8]) -> u64 {
    let n = b.len();
    if n >= 8 {
        read8(b)
    } else if n >= 4 {
        read4(b) | read4(&b[n - 4..]) << 32
    } else if n > 0 {
        (b[0] as u64) << 16 | (b[n >> 1] as u64) << 8 | b[n - 1] as u64
    } else {
        0
    }
}

/// Whether two keys are equal, comparing keys of 4 to 32 bytes (most keys) with two to four
/// overlapping word loads each instead of a `memcmp` call (6% of GET's user cycles at
/// pipeline 16).
#[inline]
pub fn same_key(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if (8..=16).contains(&n) {
        read8(a) == read8(b) && read8(&a[n - 8..]) == read8(&b[n - 8..])
    } else if (17..=32).contains(&n) {
        read8(a) == read8(b)
            && read8(&a[8..]) == read8(&b[8..])
            && read8(&a[n - 16..]) == read8(&b[n - 16..])
            && read8(&a[n - 8..]) == read8(&b[n - 8..])
    } else if (4..8).contains(&n) {
        read4(a) == read4(b) && read4(&a[n - 4..]) == read4(&b[n - 4..])
    } else {
        a == b
    }
}

/// A `Hasher` over [`hash`], for internal maps keyed by byte strings (the command table), where
/// std's SipHash costs more than the lookup itself.
#[derive(Default)]
pub struct FastHasher(u64);

impl std::hash::Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = hash(bytes) ^ self.0.rotate_left(5);
    }
}

/// Builds [`FastHasher`]s.
pub type FastBuild = std::hash::BuildHasherDefault<FastHasher>;

#[cfg(test)]
mod tests {
    use super::hash;
    use std::collections::HashSet;

    /// Keys of every length up to 40 that differ in one byte hash apart, so the overlapping
    /// reads of a tail miss no byte.
    #[test]
    fn every_byte_counts() {
        for len in 1..=40usize {
            let base = vec![b'a'; len];
            let mut seen = HashSet::new();
            assert!(seen.insert(hash(&base)));
            for i in 0..len {
                let mut k = base.clone();
                k[i] = b'b';
                assert!(seen.insert(hash(&k)), "len {len}, byte {i}");
            }
        }
        assert_ne!(hash(b""), hash(b"\0"));
    }

    #[test]
    fn same_key_compares_every_byte() {
        for len in 0..=40usize {
            let a = vec![b'x'; len];
            assert!(super::same_key(&a, &a.clone()));
            assert!(!super::same_key(&a, &vec![b'x'; len + 1]));
            for i in 0..len {
                let mut b = a.clone();
                b[i] = b'y';
                assert!(!super::same_key(&a, &b), "len {len}, byte {i}");
            }
        }
    }

    /// Sequential keys spread evenly over the low bits the tables index by.
    #[test]
    fn spreads_over_buckets() {
        let mut buckets = vec![0u32; 1024];
        for i in 0..200_000 {
            buckets[(hash(format!("key:{i:012}").as_bytes()) & 1023) as usize] += 1;
        }
        let max = buckets.iter().copied().max().unwrap_or(0);
        assert!(max < 2 * 200_000 / 1024, "fullest bucket {max}");
    }
}
