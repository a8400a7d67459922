//! Byte-oriented canonical Huffman coding for the interior nodes of long lists.
//!
//! Why Huffman and not LZF (Redis's `list-compress-depth` codec): list elements are short and
//! rarely repeat byte runs, so LZF finds nothing to match in them, whereas their byte
//! *distribution* is usually narrow (ids, hex, base64, words, digits). An order-0 code over the
//! node's own byte frequencies halves a node of random 16-letter strings, and decoding is one
//! table lookup per byte.
//!
//! Layout of a coded block:
//!
//! ```text
//! block   := u32 raw_len  u8 (symbols - 1)  (u8 symbol, u8 code length){symbols}  bits
//! bits    := the codes of the raw bytes, most significant bit first, zero-padded to a byte
//! ```
//!
//! Codes are canonical (ordered by length, then symbol), so the lengths alone describe them,
//! and at most [`MAX_LEN`] bits long, so one lookup of [`MAX_LEN`] bits decodes any symbol.
//! A block of one distinct byte has no bits at all (its code is empty), which matters for the
//! stream of element lengths of a node whose elements are all the same size.

/// Longest code; the decoding table has `1 << MAX_LEN` entries.
const MAX_LEN: u32 = 12;

/// Encodes `raw` (shorter than 4 GB) as a block.
pub fn encode(raw: &[u8]) -> Vec<u8> {
    if raw.is_empty() {
        // No bytes: one nominal symbol, no bits.
        return vec![0, 0, 0, 0, 0, 0, 1];
    }
    let mut freq = [0u32; 256];
    for &b in raw {
        freq[b as usize] += 1;
    }
    let lens = code_lengths(&freq);
    let symbols: Vec<u8> = (0..=255u8).filter(|&s| lens[s as usize] > 0).collect();
    let bits: u64 = symbols
        .iter()
        .map(|&s| freq[s as usize] as u64 * lens[s as usize] as u64)
        .sum();
    let size = 5 + 2 * symbols.len() + bits.div_ceil(8) as usize;
    let codes = canonical_codes(&lens);
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(&(raw.len() as u32).to_le_bytes());
    out.push((symbols.len() - 1) as u8);
    for &s in &symbols {
        out.push(s);
        out.push(lens[s as usize] as u8);
    }
    if symbols.len() <= 1 {
        return out;
    }
    // Bits gather in a 64-bit accumulator and leave it a byte at a time.
    let mut acc: u64 = 0;
    let mut n: u32 = 0;
    for &b in raw {
        let len = lens[b as usize];
        acc = (acc << len) | codes[b as usize] as u64;
        n += len;
        while n >= 8 {
            n -= 8;
            out.push((acc >> n) as u8);
        }
    }
    if n > 0 {
        out.push((acc << (8 - n)) as u8);
    }
    debug_assert_eq!(out.len(), size);
    out
}

/// Decodes the block at the start of `block`: the bytes and the block's length. The block was
/// written by [`encode`], so it is well formed; a malformed one (impossible) decodes to garbage
/// of the right length, never panics.
pub fn decode(block: &[u8]) -> (Vec<u8>, usize) {
    let raw_len = block
        .get(..4)
        .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
    let symbols = block.get(4).map_or(0, |&n| n as usize + 1);
    let table_end = 5 + 2 * symbols;
    let mut lens = [0u32; 256];
    for pair in block.get(5..table_end).unwrap_or_default().chunks_exact(2) {
        lens[pair[0] as usize] = (pair[1] as u32).min(MAX_LEN);
    }
    if symbols == 1 {
        return (vec![block.get(5).copied().unwrap_or(0); raw_len], table_end);
    }
    let codes = canonical_codes(&lens);
    // table[next MAX_LEN bits] = symbol << 8 | code length.
    let mut table = vec![0u16; 1 << MAX_LEN];
    for s in 0..256usize {
        let len = lens[s];
        if len == 0 {
            continue;
        }
        let first = (codes[s] << (MAX_LEN - len)) as usize;
        let span = 1usize << (MAX_LEN - len);
        if let Some(slots) = table.get_mut(first..first + span) {
            slots.fill((s as u16) << 8 | len as u16);
        }
    }
    let bits = block.get(table_end..).unwrap_or_default();
    let mut out = Vec::with_capacity(raw_len);
    let mut acc: u64 = 0;
    let mut n: u32 = 0; // valid bits in the low end of `acc`
    let mut next = 0;
    let mut used: usize = 0; // bits consumed
    while out.len() < raw_len {
        while n <= 56 {
            acc = (acc << 8) | bits.get(next).copied().unwrap_or(0) as u64;
            next += 1;
            n += 8;
        }
        let entry = table[((acc >> (n - MAX_LEN)) as usize) & ((1 << MAX_LEN) - 1)];
        let len = (entry & 0xff) as u32;
        out.push((entry >> 8) as u8);
        n -= len.max(1);
        used += len.max(1) as usize;
    }
    (out, table_end + used.div_ceil(8))
}

/// Huffman code lengths for the non-zero frequencies, none longer than [`MAX_LEN`].
fn code_lengths(freq: &[u32; 256]) -> [u32; 256] {
    let mut weights: Vec<(u64, usize)> = (0..256).filter(|&s| freq[s] > 0).map(|s| (freq[s] as u64, s)).collect();
    let mut lens = [0u32; 256];
    if weights.len() == 1 {
        // Listed with a nominal length; `encode` writes no bits for it.
        lens[weights[0].1] = 1;
        return lens;
    }
    loop {
        build_lengths(&weights, &mut lens);
        if weights.iter().all(|&(_, s)| lens[s] <= MAX_LEN) {
            return lens;
        }
        // Too deep (a very skewed distribution): flatten the weights and build again.
        for w in &mut weights {
            w.0 = (w.0 >> 1).max(1);
        }
    }
}

/// Classic Huffman construction: merge the two lightest trees until one is left; a symbol's
/// length is its depth.
fn build_lengths(weights: &[(u64, usize)], lens: &mut [u32; 256]) {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    // Nodes 0..n are leaves; merged nodes follow. parent[i] is filled as nodes merge.
    let n = weights.len();
    let mut parent = vec![usize::MAX; 2 * n];
    let mut heap: BinaryHeap<Reverse<(u64, usize)>> =
        weights.iter().enumerate().map(|(i, &(w, _))| Reverse((w, i))).collect();
    let mut next = n;
    while heap.len() > 1 {
        let (Some(Reverse((wa, a))), Some(Reverse((wb, b)))) = (heap.pop(), heap.pop()) else {
            break;
        };
        parent[a] = next;
        parent[b] = next;
        heap.push(Reverse((wa + wb, next)));
        next += 1;
    }
    for (i, &(_, s)) in weights.iter().enumerate() {
        let mut depth = 0;
        let mut at = i;
        while parent[at] != usize::MAX {
            at = parent[at];
            depth += 1;
        }
        lens[s] = depth;
    }
}

/// Canonical codes for the lengths: shorter codes first, ties by symbol value.
fn canonical_codes(lens: &[u32; 256]) -> [u32; 256] {
    let mut codes = [0u32; 256];
    let mut code = 0u32;
    for len in 1..=MAX_LEN {
        for s in 0..256 {
            if lens[s] == len {
                codes[s] = code;
                code += 1;
            }
        }
        code <<= 1;
    }
    codes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(raw: &[u8]) {
        let mut c = encode(raw);
        let len = c.len();
        c.extend_from_slice(b"trailing");
        assert_eq!(decode(&c), (raw.to_vec(), len));
    }

    #[test]
    fn narrow_alphabets_compress_and_round_trip() {
        let mut x: u64 = 0x9e3779b97f4a7c15;
        let mut raw = Vec::new();
        for _ in 0..8000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            raw.push(b'a' + (x % 16) as u8);
        }
        let c = encode(&raw);
        assert!(c.len() < raw.len() * 51 / 100, "{}", c.len());
        roundtrip(&raw);
    }

    #[test]
    fn skewed_and_odd_inputs_round_trip() {
        // Fibonacci-like frequencies force lengths past MAX_LEN before flattening.
        let mut raw = Vec::new();
        let (mut a, mut b) = (1usize, 1usize);
        for s in 0..20u8 {
            raw.extend(std::iter::repeat_n(s, a));
            (a, b) = (b, a + b);
        }
        roundtrip(&raw);
        roundtrip(&[7u8; 5000]);
        assert_eq!(encode(&[7u8; 5000]).len(), 7, "one symbol: no bits");
        roundtrip(&(0..=255u8).cycle().take(4096).collect::<Vec<_>>());
        roundtrip(&[1, 2, 3]);
        roundtrip(&[]);
    }
}
