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
fn read8(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[..8]);
    u64::from_le_bytes(w)
}

/// Hashes a key.
#[inline]
pub fn hash(key: &[u8]) -> u64 {
    const P0: u64 = 0xa076_1d64_78bd_642f;
    const P1: u64 = 0xe703_7ed1_a0b4_28db;
    let mut h = seed() ^ (key.len() as u64).wrapping_mul(P0);
    let mut chunks = key.chunks_exact(8);
    for c in &mut chunks {
        h = mix(h ^ read8(c), P1);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = mix(h ^ u64::from_le_bytes(w), P0);
    }
    mix(h, P1 ^ 0x5bd1_e995)
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
