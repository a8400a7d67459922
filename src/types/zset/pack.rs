//! The compact form of a small sorted set (Redis's `listpack` encoding): one exact-size buffer
//! of entries sorted by (score, member), scanned linearly like Redis scans its listpack.
//!
//! Layout (all varints are LEB128, 7 bits a byte, low bits first):
//!
//! ```text
//! buffer := varint(count) entry*
//! entry  := varint(member_len << 1 | is_float) member score
//! score  := f64 little-endian (8 bytes)                  when is_float
//!         | varint(score - previous score)               when the previous entry is an integer
//!         | varint(zigzag(score))                        otherwise (first entry, after a float)
//! ```
//!
//! An *integer* score is an integral one of magnitude below 2^53, so exactly an `i64` and back
//! (-0 is stored as 0, as a Redis listpack stores it). Since entries are sorted, consecutive
//! integer scores differ by a non-negative delta, which is usually one byte (ranks, counters,
//! timestamps close together); infinities and fractions take the 8-byte form. A 10-member set
//! of 16-byte members with scores k*10..k*10+9 is 1 + 10 * 17 + 3 + 9 = 183 bytes, one 192-byte
//! block. The price is that an entry's bytes depend on its predecessor: inserting or removing
//! re-encodes the entry that follows (one entry, as the delta is only to the previous one).
//!
//! The buffer is a `Box<[u8]>` of its exact length: each edit reallocates to the new size,
//! which the allocator does in place while the size class stays the same.

use std::ops::Range;

/// Largest magnitude stored as an integer (every integer up to it is exactly a double).
const INT_LIMIT: f64 = 9007199254740992.0; // 2^53

#[derive(Clone)]
pub struct Pack {
    buf: Box<[u8]>,
}

impl Default for Pack {
    fn default() -> Self {
        Pack { buf: Box::new([0u8]) }
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// Reads a varint at `*pos`; `None` past the end (never for buffers built here).
fn get_varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    let mut shift = 0u32;
    loop {
        let b = *buf.get(*pos)?;
        *pos += 1;
        v |= ((b & 0x7f) as u64).checked_shl(shift).unwrap_or(0);
        if b < 0x80 {
            return Some(v);
        }
        shift += 7;
    }
}

/// The score as an integer when it is stored as one.
fn as_int(score: f64) -> Option<i64> {
    (score == score.trunc() && score.abs() < INT_LIMIT).then_some(score as i64)
}

/// One decoded entry: member, score, where the entry lies in the buffer, and the integer score
/// of the entry before it (its delta base), if that one is an integer.
pub struct Ent<'a> {
    pub member: &'a [u8],
    pub score: f64,
    pub start: usize,
    pub end: usize,
    base: Option<i64>,
}

/// Appends one entry whose predecessor's integer score is `base`; returns the entry's own
/// integer score (the next entry's base).
fn encode(member: &[u8], score: f64, base: Option<i64>, out: &mut Vec<u8>) -> Option<i64> {
    let int = as_int(score);
    put_varint(out, (member.len() as u64) << 1 | int.is_none() as u64);
    out.extend_from_slice(member);
    match (int, base) {
        // Wrapping keeps any pair of integers round-tripping; in order the delta is >= 0.
        (Some(i), Some(b)) => put_varint(out, i.wrapping_sub(b) as u64),
        (Some(i), None) => put_varint(out, ((i << 1) ^ (i >> 63)) as u64),
        (None, _) => out.extend_from_slice(&score.to_le_bytes()),
    }
    int
}

/// Iterates the entries of a buffer in order.
pub struct Iter<'a> {
    buf: &'a [u8],
    pos: usize,
    base: Option<i64>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = Ent<'a>;

    fn next(&mut self) -> Option<Ent<'a>> {
        let buf = self.buf;
        let start = self.pos;
        let mut pos = start;
        let h = get_varint(buf, &mut pos)?;
        let mlen = usize::try_from(h >> 1).ok()?;
        let member = buf.get(pos..pos.checked_add(mlen)?)?;
        pos += mlen;
        let base = self.base;
        let score = if h & 1 == 1 {
            let bytes = buf.get(pos..pos + 8)?;
            pos += 8;
            let mut b = [0u8; 8];
            b.copy_from_slice(bytes);
            self.base = None;
            f64::from_le_bytes(b)
        } else {
            let z = get_varint(buf, &mut pos)?;
            let i = match base {
                Some(b) => b.wrapping_add(z as i64),
                None => (z >> 1) as i64 ^ -((z & 1) as i64),
            };
            self.base = Some(i);
            i as f64
        };
        self.pos = pos;
        Some(Ent {
            member,
            score,
            start,
            end: pos,
            base,
        })
    }
}

/// (count, bytes of the count's varint) of a buffer.
fn header(buf: &[u8]) -> (usize, usize) {
    let mut pos = 0;
    let n = get_varint(buf, &mut pos).unwrap_or(0);
    (n as usize, pos)
}

impl Pack {
    /// Builds from members sorted by (score, member), distinct.
    pub fn from_sorted(items: &[(Vec<u8>, f64)]) -> Pack {
        let mut body = Vec::with_capacity(items.iter().map(|(m, _)| m.len() + 4).sum());
        let mut base = None;
        for (m, s) in items {
            base = encode(m, *s, base, &mut body);
        }
        let mut buf = Vec::with_capacity(body.len() + varint_len(items.len() as u64));
        put_varint(&mut buf, items.len() as u64);
        buf.extend_from_slice(&body);
        Pack {
            buf: buf.into_boxed_slice(),
        }
    }

    pub fn len(&self) -> usize {
        header(&self.buf).0
    }

    pub fn iter(&self) -> Iter<'_> {
        Iter {
            buf: &self.buf,
            pos: header(&self.buf).1,
            base: None,
        }
    }

    /// Bytes held: the one buffer (the `Pack` itself lives inside the key's value).
    pub fn memory(&self) -> usize {
        self.buf.len()
    }

    pub fn find(&self, member: &[u8]) -> Option<Ent<'_>> {
        self.iter().find(|e| e.member == member)
    }

    fn splice(&mut self, range: Range<usize>, with: &[u8], added: isize) {
        let n = self.len().saturating_add_signed(added);
        splice_counted(&mut self.buf, range, with, n);
    }

    /// Inserts a member that is not present, at its place in the order.
    pub fn insert(&mut self, member: &[u8], score: f64) {
        let mut base = None;
        let mut next = None;
        for e in self.iter() {
            if e.score > score || (e.score == score && e.member > member) {
                next = Some(e);
                break;
            }
            base = as_int(e.score);
        }
        let mut enc = Vec::with_capacity(member.len() + 20);
        let own = encode(member, score, base, &mut enc);
        // The entry that now follows the new one gets re-based on it.
        let range = match next {
            Some(e) => {
                encode(e.member, e.score, own, &mut enc);
                e.start..e.end
            }
            None => self.buf.len()..self.buf.len(),
        };
        self.splice(range, &enc, 1);
    }

    /// Removes the members with ranks `from..to`.
    pub fn remove_ranks(&mut self, from: usize, to: usize) {
        // The gap's start, end and delta base, and the entry after it.
        let (mut start, mut end, mut base, mut gone) = (0, 0, None, 0);
        let mut after = None;
        for (i, e) in self.iter().enumerate().skip(from) {
            if i == from {
                (start, base) = (e.start, e.base);
            }
            if i == to {
                after = Some(e);
                break;
            }
            end = e.end;
            gone += 1;
        }
        if gone == 0 {
            return;
        }
        // The entry after the gap now follows the one before it.
        let mut enc = Vec::new();
        if let Some(e) = after {
            encode(e.member, e.score, base, &mut enc);
            end = e.end;
        }
        self.splice(start..end, &enc, -gone);
    }

    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let (rank, score) = self
            .iter()
            .enumerate()
            .find(|(_, e)| e.member == member)
            .map(|(i, e)| (i, e.score))?;
        self.remove_ranks(rank, rank + 1);
        Some(score)
    }

    /// Gives a present member a new score, in one edit: the entries between its old and new
    /// places move by one, and the entry after the edited stretch is re-based.
    pub fn update(&mut self, member: &[u8], score: f64) {
        // Where it is (`old`) and how many others sort before its new place (`k`): those are a
        // prefix of the others, so the scan stops at the first one past it once `old` is known.
        let (mut old, mut k, mut past) = (None, 0, false);
        for (i, e) in self.iter().enumerate() {
            if e.member == member {
                old = Some(i);
                if past {
                    break;
                }
            } else if !past && (e.score < score || (e.score == score && e.member < member)) {
                k += 1;
            } else {
                past = true;
                if old.is_some() {
                    break;
                }
            }
        }
        let Some(old) = old else {
            return;
        };
        // Ranks lo..=hi of the present order are rewritten (hi may be past the end): the new
        // entry goes before rank k when moving down (or staying), after rank k when moving up.
        let lo = k.min(old);
        let hi = if k <= old { old + 1 } else { k + 1 };
        let mut enc = Vec::with_capacity(member.len() + 20);
        let (mut start, mut end, mut base) = (0, 0, None);
        for (i, e) in self.iter().enumerate().skip(lo) {
            if i == lo {
                start = e.start;
                base = e.base;
            }
            end = e.end;
            if i == k && k <= old {
                base = encode(member, score, base, &mut enc);
            }
            if i != old {
                base = encode(e.member, e.score, base, &mut enc);
            }
            if i == k && k > old {
                base = encode(member, score, base, &mut enc);
            }
            if i == hi {
                break;
            }
        }
        self.splice(start..end, &enc, 0);
    }
}

/// Replaces `range` of a counted buffer (`varint(count)` then items: the compact forms of
/// sorted sets and hashes) with `with` and sets the count, resizing the allocation once to the
/// exact new length, or rewriting in place when the length is unchanged.
pub fn splice_counted(buf: &mut Box<[u8]>, range: Range<usize>, with: &[u8], count: usize) {
    // The count's varint, on the stack.
    let (mut head, mut hn, mut c) = ([0u8; 10], 0, count as u64);
    while c >= 0x80 {
        head[hn] = c as u8 | 0x80;
        c >>= 7;
        hn += 1;
    }
    head[hn] = c as u8;
    let head = &head[..=hn];
    let hlen = header(buf).1;
    let old = buf.len();
    let new = old - range.len() + with.len() - hlen + head.len();
    if new == old && head.len() == hlen {
        buf[..hlen].copy_from_slice(head);
        buf[range].copy_from_slice(with);
        return;
    }
    let mut v = std::mem::take(buf).into_vec();
    v.reserve_exact(new.saturating_sub(old));
    splice_vec(&mut v, range, with);
    splice_vec(&mut v, 0..hlen, head);
    *buf = v.into_boxed_slice();
}

/// `Vec::splice` for bytes: one move of the tail (capacity reserved by the caller).
fn splice_vec(v: &mut Vec<u8>, range: Range<usize>, with: &[u8]) {
    let len = v.len();
    let (at, gone) = (range.start, range.len());
    if with.len() > gone {
        v.resize(len + with.len() - gone, 0);
    }
    v.copy_within(range.end..len, at + with.len());
    v.truncate(len - gone + with.len());
    v[at..at + with.len()].copy_from_slice(with);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::zset::cmp;

    /// A tiny deterministic generator (xorshift), so failures replay.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    fn score(r: &mut Rng) -> f64 {
        match r.below(12) {
            0 => f64::INFINITY,
            1 => f64::NEG_INFINITY,
            2 => -0.0,
            3 => r.below(1000) as f64 / 8.0 - 60.0,
            4 => (r.next() as i64) as f64,
            5 => 9007199254740992.0,
            6 => -9007199254740991.0,
            7 => 1e300,
            _ => r.below(40) as f64 - 20.0,
        }
    }

    fn member(r: &mut Rng) -> Vec<u8> {
        let len = match r.below(6) {
            0 => 0,
            1 => 70 + r.below(200) as usize,
            _ => r.below(5) as usize,
        };
        let mut m: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
        if let Some(x) = m.first_mut() {
            *x = b'a' + r.below(20) as u8;
        }
        m
    }

    fn check(p: &Pack, model: &[(Vec<u8>, f64)]) {
        assert_eq!(p.len(), model.len());
        let got: Vec<(Vec<u8>, f64)> = p.iter().map(|e| (e.member.to_vec(), e.score)).collect();
        assert_eq!(got.len(), model.len());
        for (g, m) in got.iter().zip(model) {
            assert_eq!(g.0, m.0);
            // -0 reads back as 0, which compares equal.
            assert!(g.1 == m.1 || (g.1.is_nan() && m.1.is_nan()), "{} vs {}", g.1, m.1);
        }
        assert_eq!(Pack::from_sorted(model).buf, p.buf, "incremental and bulk bytes differ");
        assert_eq!(p.iter().last().map_or(header(&p.buf).1, |e| e.end), p.buf.len());
    }

    #[test]
    fn random_operations_match_a_model() {
        let mut r = Rng(0x9e3779b97f4a7c15);
        for _ in 0..200 {
            let mut p = Pack::default();
            let mut model: Vec<(Vec<u8>, f64)> = Vec::new();
            for _ in 0..150 {
                match r.below(10) {
                    0..=5 => {
                        let m = member(&mut r);
                        if model.iter().any(|(x, _)| *x == m) {
                            continue;
                        }
                        let s = score(&mut r);
                        p.insert(&m, s);
                        model.push((m, s));
                        model.sort_by(|a, b| cmp(a.1, &a.0, b.1, &b.0));
                    }
                    6 | 7 => {
                        let m = member(&mut r);
                        let want = model.iter().position(|(x, _)| *x == m).map(|i| model.remove(i).1);
                        assert_eq!(p.remove(&m), want);
                    }
                    9 if !model.is_empty() => {
                        let i = r.below(model.len() as u64) as usize;
                        let m = model[i].0.clone();
                        let s = score(&mut r);
                        p.update(&m, s);
                        model[i].1 = s;
                        model.sort_by(|a, b| cmp(a.1, &a.0, b.1, &b.0));
                    }
                    8 if !model.is_empty() => {
                        let from = r.below(model.len() as u64) as usize;
                        let to = from + 1 + r.below((model.len() - from) as u64) as usize;
                        p.remove_ranks(from, to);
                        model.drain(from..to);
                    }
                    _ => {
                        let m = member(&mut r);
                        assert_eq!(
                            p.find(&m).map(|e| e.score),
                            model.iter().find(|(x, _)| *x == m).map(|x| x.1)
                        );
                    }
                }
                check(&p, &model);
            }
        }
    }

    #[test]
    fn sorted_integer_scores_cost_one_byte() {
        let items: Vec<(Vec<u8>, f64)> = (0..10).map(|j| (vec![b'x'; 16], (99990 + j) as f64)).collect();
        let p = Pack::from_sorted(&items);
        // count, then (header, 16 bytes, score): the first score 3 bytes, the rest 1.
        assert_eq!(p.memory(), 1 + 10 * 17 + 3 + 9);
        assert!(std::mem::size_of::<Pack>() <= 16);
    }

    #[test]
    fn negative_zero_and_extremes() {
        let items = vec![
            (b"a".to_vec(), f64::NEG_INFINITY),
            (b"b".to_vec(), -9007199254740991.0),
            (b"c".to_vec(), -0.0),
            (b"d".to_vec(), 0.5),
            (b"e".to_vec(), 9007199254740991.0),
            (b"f".to_vec(), 9007199254740992.0),
            (b"g".to_vec(), f64::INFINITY),
        ];
        let p = Pack::from_sorted(&items);
        let got: Vec<f64> = p.iter().map(|e| e.score).collect();
        assert_eq!(
            got,
            vec![
                f64::NEG_INFINITY,
                -9007199254740991.0,
                0.0,
                0.5,
                9007199254740991.0,
                9007199254740992.0,
                f64::INFINITY
            ]
        );
        assert!(got[2].is_sign_positive());
    }
}
