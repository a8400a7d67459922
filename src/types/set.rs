//! The set type (Redis's `t_set.c`): an `intset` while every member is an integer and there are
//! at most `set-max-intset-entries` of them, a `hashtable` otherwise. Like Redis 7.0 a set never
//! converts back, and there is no listpack form.
//!
//! The intset is stored in exactly Redis's byte layout (`intset.c`): a little-endian `u32` width
//! (2, 4 or 8), a `u32` count, then the sorted integers at that width. So the set costs 2 bytes
//! per small member, and RDB/DUMP write and read the blob as it is (RDB type 11).

use super::table::{Table, WholeKey};
use super::{Collection, LIMITS};
use crate::persistence::rdb::{self, Reader, Writer};
use crate::util::digest::xor_digest;
use crate::util::num::{self, parse_i64};
use std::borrow::Cow;
use std::sync::atomic::Ordering::Relaxed;

/// RDB types (`rdb.h`).
pub const RDB_TYPE_SET: u8 = 2;
pub const RDB_TYPE_SET_INTSET: u8 = 11;

/// A set value (16 bytes).
pub enum Set {
    Ints(Box<[u8]>),
    Table(Box<Table<WholeKey>>),
}

/// A member as stored: an intset integer or the bytes of a hashtable member.
#[derive(Clone, Copy)]
pub enum Member<'a> {
    Int(i64),
    Str(&'a [u8]),
}

impl Member<'_> {
    pub fn bytes(&self) -> Cow<'_, [u8]> {
        match self {
            Member::Int(n) => Cow::Owned(num::i64_to_bytes(*n)),
            Member::Str(s) => Cow::Borrowed(s),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Intset in Redis's layout
// ---------------------------------------------------------------------------------------------

const HEADER: usize = 8;

fn width_for(v: i64) -> usize {
    if v >= i16::MIN as i64 && v <= i16::MAX as i64 {
        2
    } else if v >= i32::MIN as i64 && v <= i32::MAX as i64 {
        4
    } else {
        8
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        w.copy_from_slice(s);
    }
    u32::from_le_bytes(w)
}

fn is_width(b: &[u8]) -> usize {
    u32_at(b, 0) as usize
}

fn is_len(b: &[u8]) -> usize {
    u32_at(b, 4) as usize
}

fn is_get(b: &[u8], i: usize) -> i64 {
    let w = is_width(b);
    let at = HEADER + i * w;
    match w {
        2 => i16::from_le_bytes([b[at], b[at + 1]]) as i64,
        4 => u32_at(b, at) as i32 as i64,
        _ => {
            let mut x = [0u8; 8];
            x.copy_from_slice(&b[at..at + 8]);
            i64::from_le_bytes(x)
        }
    }
}

fn is_put(b: &mut [u8], w: usize, i: usize, v: i64) {
    let at = HEADER + i * w;
    b[at..at + w].copy_from_slice(&v.to_le_bytes()[..w]);
}

fn is_search(b: &[u8], v: i64) -> Result<usize, usize> {
    let (mut lo, mut hi) = (0, is_len(b));
    while lo < hi {
        let mid = (lo + hi) / 2;
        let x = is_get(b, mid);
        if x == v {
            return Ok(mid);
        }
        if x < v {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    Err(lo)
}

fn is_new() -> Box<[u8]> {
    let mut b = vec![0u8; HEADER];
    b[..4].copy_from_slice(&2u32.to_le_bytes());
    b.into_boxed_slice()
}

/// Inserts `v` (widening every element when needed); false when already present.
fn is_insert(b: &mut Box<[u8]>, v: i64) -> bool {
    let w = is_width(b);
    let n = is_len(b);
    let nw = width_for(v);
    if nw > w {
        // Upgrade: the new value is below or above every existing one.
        let mut out = vec![0u8; HEADER + (n + 1) * nw];
        out[..4].copy_from_slice(&(nw as u32).to_le_bytes());
        out[4..8].copy_from_slice(&((n + 1) as u32).to_le_bytes());
        let off = if v < 0 { 1 } else { 0 };
        for i in 0..n {
            is_put(&mut out, nw, i + off, is_get(b, i));
        }
        is_put(&mut out, nw, if v < 0 { 0 } else { n }, v);
        *b = out.into_boxed_slice();
        return true;
    }
    let Err(pos) = is_search(b, v) else {
        return false;
    };
    let mut vec = std::mem::take(b).into_vec();
    vec.reserve_exact(w);
    let at = HEADER + pos * w;
    let mut bytes = [0u8; 8];
    bytes[..w].copy_from_slice(&v.to_le_bytes()[..w]);
    vec.splice(at..at, bytes[..w].iter().copied());
    vec[4..8].copy_from_slice(&((n + 1) as u32).to_le_bytes());
    *b = vec.into_boxed_slice();
    true
}

fn is_remove_at(b: &mut Box<[u8]>, pos: usize) {
    let w = is_width(b);
    let n = is_len(b);
    let mut vec = std::mem::take(b).into_vec();
    let at = HEADER + pos * w;
    vec.drain(at..at + w);
    vec[4..8].copy_from_slice(&((n - 1) as u32).to_le_bytes());
    *b = vec.into_boxed_slice();
}

/// Checks an intset blob from an RDB file or RESTORE payload (`intsetValidateIntegrity`, deep):
/// a valid width, a length that matches the size, strictly ascending values.
fn is_valid(b: &[u8]) -> bool {
    if b.len() < HEADER {
        return false;
    }
    let w = is_width(b);
    if w != 2 && w != 4 && w != 8 {
        return false;
    }
    let n = is_len(b);
    if n.checked_mul(w).and_then(|x| x.checked_add(HEADER)) != Some(b.len()) {
        return false;
    }
    (1..n).all(|i| is_get(b, i - 1) < is_get(b, i))
}

fn max_intset() -> usize {
    // Redis caps the limit at 1G entries because of intset internals.
    (LIMITS.set_max_intset_entries.load(Relaxed).max(0) as usize).min(1 << 30)
}

// ---------------------------------------------------------------------------------------------
// Set
// ---------------------------------------------------------------------------------------------

impl Set {
    /// An empty set able to hold `first` (Redis's `setTypeCreate`): an intset for an integer.
    pub fn for_member(first: &[u8]) -> Set {
        if parse_i64(first).is_some() {
            Set::Ints(is_new())
        } else {
            Set::Table(Box::new(Table::with_capacity(0)))
        }
    }

    /// An empty intset (the start of SUNION/SINTER results, as in Redis).
    pub fn new_intset() -> Set {
        Set::Ints(is_new())
    }

    /// Converts to the hashtable form.
    pub fn convert(&mut self) {
        if let Set::Ints(b) = self {
            let n = is_len(b);
            let mut t = Table::with_capacity(n);
            for i in 0..n {
                t.insert_new(num::i64_to_bytes(is_get(b, i)).into());
            }
            *self = Set::Table(Box::new(t));
        }
    }

    /// Adds a member; returns whether it was new (`setTypeAdd`).
    pub fn add(&mut self, m: &[u8]) -> bool {
        if let Set::Ints(b) = self {
            match parse_i64(m) {
                Some(v) => {
                    if !is_insert(b, v) {
                        return false;
                    }
                    if is_len(b) > max_intset() {
                        self.convert();
                    }
                    return true;
                }
                None => self.convert(),
            }
        }
        match self {
            Set::Table(t) => t.insert(m.into()),
            Set::Ints(_) => false,
        }
    }

    /// Removes a member; returns whether it was there.
    pub fn remove(&mut self, m: &[u8]) -> bool {
        match self {
            Set::Ints(b) => match parse_i64(m).map(|v| is_search(b, v)) {
                Some(Ok(pos)) => {
                    is_remove_at(b, pos);
                    true
                }
                _ => false,
            },
            Set::Table(t) => t.remove(m).is_some(),
        }
    }

    pub fn contains(&self, m: &[u8]) -> bool {
        match self {
            Set::Ints(b) => parse_i64(m).is_some_and(|v| is_search(b, v).is_ok()),
            Set::Table(t) => t.find(m).is_some(),
        }
    }

    /// Whether `m` (a member of another set) is in this one, without formatting intset integers.
    pub fn contains_member(&self, m: Member) -> bool {
        match (self, m) {
            (Set::Ints(b), Member::Int(v)) => is_search(b, v).is_ok(),
            (_, m) => self.contains(&m.bytes()),
        }
    }

    /// The member at position `i` (`i < len`): intset order or table order.
    pub fn nth(&self, i: usize) -> Member<'_> {
        match self {
            Set::Ints(b) => Member::Int(is_get(b, i)),
            Set::Table(t) => Member::Str(t.at(i)),
        }
    }

    /// Removes the member at position `i`, returning its bytes.
    pub fn remove_nth(&mut self, i: usize) -> Vec<u8> {
        match self {
            Set::Ints(b) => {
                let v = is_get(b, i);
                is_remove_at(b, i);
                num::i64_to_bytes(v)
            }
            Set::Table(t) => t.remove_at(i).into_vec(),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = Member<'_>> + '_ {
        (0..self.len()).map(move |i| self.nth(i))
    }

    /// One SSCAN step: every member for an intset (cursor 0, as Redis), one bucket for a table.
    pub fn scan(&self, cursor: u64, f: impl FnMut(&[u8])) -> u64 {
        match self {
            Set::Ints(_) => {
                let mut f = f;
                for m in self.iter() {
                    f(&m.bytes());
                }
                0
            }
            Set::Table(t) => t.scan(cursor, f),
        }
    }

    pub fn is_intset(&self) -> bool {
        matches!(self, Set::Ints(_))
    }
}

impl Collection for Set {
    fn len(&self) -> usize {
        match self {
            Set::Ints(b) => is_len(b),
            Set::Table(t) => t.len(),
        }
    }

    fn encoding(&self) -> &'static str {
        match self {
            Set::Ints(_) => "intset",
            Set::Table(_) => "hashtable",
        }
    }

    fn memory(&self) -> usize {
        match self {
            Set::Ints(b) => b.len(),
            Set::Table(t) => std::mem::size_of::<Table<WholeKey>>() + t.memory(),
        }
    }

    fn duplicate(&self) -> Self {
        match self {
            Set::Ints(b) => Set::Ints(b.clone()),
            Set::Table(t) => Set::Table(Box::new(t.duplicate())),
        }
    }

    fn rdb_type(&self) -> u8 {
        match self {
            Set::Ints(_) => RDB_TYPE_SET_INTSET,
            Set::Table(_) => RDB_TYPE_SET,
        }
    }

    fn rdb_save(&self, w: &mut Writer) {
        match self {
            Set::Ints(b) => w.string(b),
            Set::Table(t) => {
                w.len(t.len() as u64);
                for m in t.iter() {
                    w.string(m);
                }
            }
        }
    }

    fn rdb_load(t: u8, r: &mut Reader) -> rdb::Result<Self> {
        match t {
            RDB_TYPE_SET => {
                let n = r.count()?;
                if n == 0 {
                    return Err(rdb::RdbError::EmptyKey);
                }
                let mut s = if n <= max_intset() {
                    Set::Ints(is_new())
                } else {
                    Set::Table(Box::new(Table::with_capacity(n)))
                };
                for _ in 0..n {
                    let m = r.string()?;
                    if !s.add(&m) {
                        return Err(rdb::RdbError::Corrupt("Duplicate set members detected"));
                    }
                }
                Ok(s)
            }
            RDB_TYPE_SET_INTSET => {
                let blob = r.string()?;
                if !is_valid(&blob) || is_len(&blob) == 0 {
                    return Err(rdb::RdbError::Blob("bad intset"));
                }
                let mut s = Set::Ints(blob.into_owned().into_boxed_slice());
                if s.len() > max_intset() {
                    s.convert();
                }
                Ok(s)
            }
            _ => Err(rdb::RdbError::Unsupported(t)),
        }
    }

    fn digest(&self, digest: &mut [u8; 20]) {
        for m in self.iter() {
            xor_digest(digest, &m.bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intset_upgrades_and_stays_sorted() {
        let mut b = is_new();
        for v in [5, -3, 70000, 1, i64::MIN, 5] {
            is_insert(&mut b, v);
        }
        let got: Vec<i64> = (0..is_len(&b)).map(|i| is_get(&b, i)).collect();
        assert_eq!(got, vec![i64::MIN, -3, 1, 5, 70000]);
        assert_eq!(is_width(&b), 8);
        assert!(is_valid(&b));
        is_remove_at(&mut b, 0);
        assert_eq!(is_len(&b), 4);
        assert!(is_valid(&b));
    }

    #[test]
    fn set_converts_on_string_member() {
        let mut s = Set::for_member(b"1");
        assert!(s.add(b"1"));
        assert!(s.add(b"2"));
        assert_eq!(s.encoding(), "intset");
        assert!(s.add(b"a"));
        assert_eq!(s.encoding(), "hashtable");
        assert!(s.contains(b"1") && s.contains(b"a") && !s.contains(b"3"));
        assert_eq!(s.len(), 3);
    }
}
