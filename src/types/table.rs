//! The large form of hashes and sets (Redis's `hashtable` encoding): a chained hash table whose
//! elements are each **one allocation** of bytes.
//!
//! Layout, chosen for memory:
//!
//! * `entries` is a dense array of [`Slot`]s: the element's bytes (a [`Blob`]: in the slot itself
//!   up to 30 bytes, else a `Box<[u8]>`), the index of the next slot in the same bucket and the
//!   element's 32-bit hash, 40 bytes in all. Dense storage makes a uniformly random element one
//!   index draw (SRANDMEMBER, SPOP, HRANDFIELD).
//! * `buckets` holds one `u32` per bucket: the index of the first slot of its chain.
//!
//! A hash field `f` with value `v` is stored as `varint(len f) f v`, a set member is its bytes;
//! the [`KeyOf`] parameter says where the key part is. A 9-byte field with a 16-byte value fits
//! in its slot: 40 bytes and 4 to 8 bytes of bucket. Keeping short elements inline removes one
//! dependent cache miss from every lookup in a big table (bucket, slot, *element bytes*), which
//! was the largest cost of SADD and HSET on a 100,000-element set or hash: compare.sh at
//! pipeline 16, CPU per request against the boxed layout, SADD 0.9x and HSET 0.9x (see
//! ARCHITECTURE.md for the figures against Redis).
//!
//! Removal moves the last slot into the hole (`swap_remove`), fixing the one link that pointed at
//! it. SCAN uses the reverse-binary bucket cursor of Redis's `dictScan`, so elements present for
//! the whole scan are returned at least once even if the table is resized between calls (the
//! table is always rehashed at once; values are small enough that no incremental rehash is needed).

use crate::keyspace::hash::hash;
use std::marker::PhantomData;

const NONE: u32 = u32::MAX;

/// Where the key is inside an element's bytes.
pub trait KeyOf {
    fn key(data: &[u8]) -> &[u8];
}

/// A set member: the whole element is the key.
pub struct WholeKey;

impl KeyOf for WholeKey {
    #[inline]
    fn key(data: &[u8]) -> &[u8] {
        data
    }
}

/// A hash pair `varint(len field) field value`: the field is the key.
pub struct PairKey;

impl KeyOf for PairKey {
    #[inline]
    fn key(data: &[u8]) -> &[u8] {
        split_pair(data).0
    }
}

/// Splits a pair element into (field, value).
#[inline]
pub fn split_pair(data: &[u8]) -> (&[u8], &[u8]) {
    let (flen, n) = read_varint(data);
    let rest = data.get(n..).unwrap_or(&[]);
    let flen = flen.min(rest.len());
    rest.split_at(flen)
}

/// Builds a pair element.
pub fn make_pair(field: &[u8], value: &[u8]) -> Blob {
    if field.len() < 0x80 && 1 + field.len() + value.len() <= INLINE {
        let mut bytes = [0u8; INLINE];
        bytes[0] = field.len() as u8;
        bytes[1..1 + field.len()].copy_from_slice(field);
        bytes[1 + field.len()..1 + field.len() + value.len()].copy_from_slice(value);
        return Blob::Inline {
            len: (1 + field.len() + value.len()) as u8,
            bytes,
        };
    }
    let mut v = Vec::with_capacity(field.len() + value.len() + 5);
    write_varint(&mut v, field.len());
    v.extend_from_slice(field);
    v.extend_from_slice(value);
    Blob::Boxed(v.into_boxed_slice())
}

/// Longest element kept inside its slot.
const INLINE: usize = 30;

/// An element's bytes: inside the slot up to [`INLINE`] bytes, in a box of their own when
/// longer.
#[derive(Clone)]
pub enum Blob {
    Inline { len: u8, bytes: [u8; INLINE] },
    Boxed(Box<[u8]>),
}

impl Blob {
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        match self {
            Blob::Inline { len, bytes } => &bytes[..*len as usize],
            Blob::Boxed(b) => b,
        }
    }

    pub fn into_vec(self) -> Vec<u8> {
        match self {
            Blob::Inline { .. } => self.as_slice().to_vec(),
            Blob::Boxed(b) => b.into_vec(),
        }
    }

    /// Heap bytes held (allocator blocks rounded to 16).
    fn heap(&self) -> usize {
        match self {
            Blob::Inline { .. } => 0,
            Blob::Boxed(b) => (b.len() + 15) & !15,
        }
    }
}

impl std::ops::Deref for Blob {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl From<&[u8]> for Blob {
    #[inline]
    fn from(v: &[u8]) -> Blob {
        if v.len() <= INLINE {
            let mut bytes = [0u8; INLINE];
            bytes[..v.len()].copy_from_slice(v);
            Blob::Inline {
                len: v.len() as u8,
                bytes,
            }
        } else {
            Blob::Boxed(v.into())
        }
    }
}

impl From<Vec<u8>> for Blob {
    fn from(v: Vec<u8>) -> Blob {
        if v.len() <= INLINE {
            Blob::from(&v[..])
        } else {
            Blob::Boxed(v.into_boxed_slice())
        }
    }
}

/// Appends `n` as LEB128 (7 bits per byte, low bits first).
#[inline]
pub fn write_varint(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Reads a LEB128 number: (value, bytes used). Malformed input (never produced here) reads as
/// whatever was decoded before the end.
#[inline]
pub fn read_varint(b: &[u8]) -> (usize, usize) {
    let mut v = 0usize;
    let mut shift = 0;
    for (i, &c) in b.iter().enumerate() {
        v |= ((c & 0x7f) as usize) << shift;
        if c & 0x80 == 0 {
            return (v, i + 1);
        }
        shift += 7;
        if shift >= usize::BITS {
            return (v, i + 1);
        }
    }
    (v, b.len())
}

struct Slot {
    data: Blob,
    next: u32,
    hash: u32,
}

/// The hash table (see the module docs).
pub struct Table<K: KeyOf> {
    buckets: Vec<u32>,
    entries: Vec<Slot>,
    _k: PhantomData<K>,
}

#[inline]
fn hash32(key: &[u8]) -> u32 {
    hash(key) as u32
}

impl<K: KeyOf> Table<K> {
    pub fn with_capacity(n: usize) -> Self {
        let b = n.max(4).next_power_of_two();
        Table {
            buckets: vec![NONE; b],
            entries: Vec::with_capacity(n),
            _k: PhantomData,
        }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    #[inline]
    fn mask(&self) -> usize {
        self.buckets.len() - 1
    }

    /// Index of the element whose key is `key`.
    pub fn find(&self, key: &[u8]) -> Option<usize> {
        let h = hash32(key);
        let mut i = self.buckets[h as usize & self.mask()];
        while i != NONE {
            let s = &self.entries[i as usize];
            if s.hash == h && K::key(&s.data) == key {
                return Some(i as usize);
            }
            i = s.next;
        }
        None
    }

    /// The bytes of element `i` (`i < len`).
    #[inline]
    pub fn at(&self, i: usize) -> &[u8] {
        &self.entries[i].data
    }

    /// Replaces element `i` with `data`, which must have the same key.
    pub fn replace_at(&mut self, i: usize, data: Blob) {
        self.entries[i].data = data;
    }

    /// Adds an element whose key is not present yet.
    pub fn insert_new(&mut self, data: Blob) {
        if self.entries.len() >= self.buckets.len() {
            self.rehash(self.buckets.len() * 2);
        }
        let h = hash32(K::key(&data));
        let b = h as usize & self.mask();
        let idx = self.entries.len() as u32;
        if self.entries.len() == self.entries.capacity() {
            // Grow by a quarter, not double: slots are most of a big table's memory.
            self.entries.reserve_exact((self.entries.len() / 4).max(4));
        }
        self.entries.push(Slot {
            data,
            next: self.buckets[b],
            hash: h,
        });
        self.buckets[b] = idx;
    }

    /// Adds `data` unless its key is present; returns whether it was added.
    pub fn insert(&mut self, data: Blob) -> bool {
        if self.find(K::key(&data)).is_some() {
            return false;
        }
        self.insert_new(data);
        true
    }

    /// Removes the element with key `key`.
    pub fn remove(&mut self, key: &[u8]) -> Option<Blob> {
        let i = self.find(key)?;
        Some(self.remove_at(i))
    }

    /// Points whatever link refers to slot `from` at `to` instead.
    fn relink(&mut self, from: u32, to: u32) {
        let b = self.entries[from as usize].hash as usize & self.mask();
        if self.buckets[b] == from {
            self.buckets[b] = to;
            return;
        }
        let mut i = self.buckets[b];
        while i != NONE {
            let next = self.entries[i as usize].next;
            if next == from {
                self.entries[i as usize].next = to;
                return;
            }
            i = next;
        }
    }

    /// Removes element `i` (`i < len`); the last element takes its index.
    pub fn remove_at(&mut self, i: usize) -> Blob {
        let i32_ = i as u32;
        let next = self.entries[i].next;
        self.relink(i32_, next);
        let last = (self.entries.len() - 1) as u32;
        if last != i32_ {
            self.relink(last, i32_);
        }
        let slot = self.entries.swap_remove(i);
        // Shrink when under a tenth full, as Redis's htNeedsResize does.
        let n = self.entries.len();
        if self.buckets.len() > 4 && n * 10 < self.buckets.len() {
            self.rehash(n.max(4).next_power_of_two());
            self.entries.shrink_to(n * 2);
        }
        slot.data
    }

    fn rehash(&mut self, nbuckets: usize) {
        self.buckets.clear();
        self.buckets.resize(nbuckets, NONE);
        self.buckets.shrink_to_fit();
        let mask = nbuckets - 1;
        for (i, s) in self.entries.iter_mut().enumerate() {
            let b = s.hash as usize & mask;
            s.next = self.buckets[b];
            self.buckets[b] = i as u32;
        }
    }

    /// Every element's bytes, in table order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.entries.iter().map(|s| &*s.data)
    }

    /// Visits one bucket at `cursor` and returns the next cursor (0 when the scan is over).
    pub fn scan(&self, cursor: u64, mut f: impl FnMut(&[u8])) -> u64 {
        if self.entries.is_empty() {
            return 0;
        }
        let mask = self.mask() as u64;
        let mut i = self.buckets[(cursor & mask) as usize];
        while i != NONE {
            let s = &self.entries[i as usize];
            f(&s.data);
            i = s.next;
        }
        let mut v = cursor | !mask;
        v = v.reverse_bits();
        v = v.wrapping_add(1);
        v.reverse_bits()
    }

    /// Approximate heap bytes (allocator blocks rounded to 16).
    pub fn memory(&self) -> usize {
        let blocks: usize = self.entries.iter().map(|s| s.data.heap()).sum();
        blocks + self.entries.capacity() * std::mem::size_of::<Slot>() + self.buckets.capacity() * 4
    }

    pub fn duplicate(&self) -> Self {
        Table {
            buckets: self.buckets.clone(),
            entries: self
                .entries
                .iter()
                .map(|s| Slot {
                    data: s.data.clone(),
                    next: s.next,
                    hash: s.hash,
                })
                .collect(),
            _k: PhantomData,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_40_bytes() {
        assert_eq!(std::mem::size_of::<Slot>(), 40);
    }

    #[test]
    fn short_elements_live_in_their_slot() {
        let mut t: Table<PairKey> = Table::with_capacity(0);
        let long = [b'v'; 40];
        assert!(t.insert(make_pair(b"f1", b"short")));
        assert!(t.insert(make_pair(b"f2", &long)));
        assert!(t.insert(make_pair(&[b'k'; 200], b"x")));
        assert!(matches!(t.entries[0].data, Blob::Inline { .. }));
        assert!(matches!(t.entries[1].data, Blob::Boxed(_)));
        assert_eq!(split_pair(t.at(t.find(b"f1").unwrap())), (&b"f1"[..], &b"short"[..]));
        assert_eq!(split_pair(t.at(t.find(b"f2").unwrap())).1, &long[..]);
        assert_eq!(split_pair(t.at(t.find(&[b'k'; 200]).unwrap())).1, b"x");
        assert!(!t.insert(make_pair(b"f1", b"other")));
    }

    #[test]
    fn insert_find_remove_scan() {
        let mut t: Table<WholeKey> = Table::with_capacity(0);
        for i in 0..1000 {
            assert!(t.insert(format!("m{i}").into_bytes().into()));
        }
        assert!(!t.insert(b"m5".to_vec().into()));
        assert_eq!(t.len(), 1000);
        for i in (0..1000).step_by(2) {
            assert!(t.remove(format!("m{i}").as_bytes()).is_some());
        }
        assert_eq!(t.len(), 500);
        for i in 0..1000 {
            assert_eq!(t.find(format!("m{i}").as_bytes()).is_some(), i % 2 == 1);
        }
        let mut seen = std::collections::HashSet::new();
        let mut c = 0;
        loop {
            c = t.scan(c, |d| {
                seen.insert(d.to_vec());
            });
            if c == 0 {
                break;
            }
        }
        assert_eq!(seen.len(), 500);
        while !t.is_empty() {
            t.remove_at(0);
        }
    }

    #[test]
    fn pairs_split() {
        let p = make_pair(b"field", b"value");
        assert_eq!(split_pair(&p), (&b"field"[..], &b"value"[..]));
        let mut t: Table<PairKey> = Table::with_capacity(0);
        t.insert_new(p);
        assert_eq!(t.find(b"field"), Some(0));
        assert_eq!(t.find(b"value"), None);
    }
}
