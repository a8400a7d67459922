//! The hash type (Redis's `t_hash.c`): a compact `listpack` form while small, a `hashtable`
//! once it has more than `hash-max-listpack-entries` fields or a field or value longer than
//! `hash-max-listpack-value` bytes; like Redis it never converts back.
//!
//! The compact form is one exact-size byte buffer, a varint (LEB128) field count then the pairs
//! in insertion order:
//!
//! ```text
//! buffer := varint(count) pair*
//! pair   := h field value                                  h < 0xE0: len field = h >> 5 (0..=6),
//!                                                                    len value = h & 31 (0..=31)
//!         | 0xE0 varint(len field) field varint(len value) value   any lengths
//! ```
//!
//! Short field names with short values (the common small hash: `name`, `age`, `id` and the
//! like) take one byte of header per pair; anything longer takes the general form. Ten pairs of
//! a 2-byte field and a 16-byte value cost 1 + 10 * 19 = 191 bytes in one block (Redis's
//! listpack: about 220). Lookups scan it, which is fast at these sizes. Each edit reallocates
//! the buffer to its exact new size, which the allocator does in place within a size class.
//! The large form is a [`Table`] whose elements hold field and value in one block. At the RDB
//! boundary the compact form is written as a real listpack.

use super::table::{make_pair, read_varint, split_pair, write_varint, PairKey, Table};
use super::zset::splice_counted;
use super::{Collection, LIMITS};
use crate::persistence::listpack::{self, LpEntry};
use crate::persistence::rdb::{self, Reader, Writer};
use crate::util::digest::{mix_digest, xor_digest};
use std::sync::atomic::Ordering::Relaxed;

/// RDB types (`rdb.h`).
pub const RDB_TYPE_HASH: u8 = 4;
pub const RDB_TYPE_HASH_ZIPMAP: u8 = 9;
pub const RDB_TYPE_HASH_ZIPLIST: u8 = 13;
pub const RDB_TYPE_HASH_LISTPACK: u8 = 16;

/// A hash value (16 bytes).
pub enum Hash {
    Compact(Box<[u8]>),
    Table(Box<Table<PairKey>>),
}

fn max_entries() -> usize {
    LIMITS.hash_max_listpack_entries.load(Relaxed).max(0) as usize
}

fn max_value() -> usize {
    LIMITS.hash_max_listpack_value.load(Relaxed).max(0) as usize
}

/// Pair headers below this hold both lengths; this one announces the general form.
const LONG_PAIR: u8 = 0xE0;
/// Longest field and value of the one-byte header.
const SHORT_FIELD: usize = 6;
const SHORT_VALUE: usize = 31;

/// One pair of the compact form, with where it lies in the buffer.
struct Found<'a> {
    field: &'a [u8],
    value: &'a [u8],
    /// Start and end of the pair.
    start: usize,
    end: usize,
}

/// Walks the pairs of a compact buffer.
struct CompactIter<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> CompactIter<'a> {
    /// `n` bytes at `*pos`, advancing; `None` past the end (never for buffers built here).
    fn bytes(&self, pos: &mut usize, n: usize) -> Option<&'a [u8]> {
        let s = self.buf.get(*pos..pos.checked_add(n)?)?;
        *pos += n;
        Some(s)
    }

    fn varint(&self, pos: &mut usize) -> Option<usize> {
        let rest = self.buf.get(*pos..).filter(|r| !r.is_empty())?;
        let (v, n) = read_varint(rest);
        *pos += n;
        Some(v)
    }
}

impl<'a> Iterator for CompactIter<'a> {
    type Item = Found<'a>;

    fn next(&mut self) -> Option<Found<'a>> {
        let start = self.pos;
        let h = *self.buf.get(start)?;
        let mut pos = start + 1;
        let (field, value) = if h < LONG_PAIR {
            let field = self.bytes(&mut pos, (h >> 5) as usize)?;
            (field, self.bytes(&mut pos, (h & 31) as usize)?)
        } else {
            let flen = self.varint(&mut pos)?;
            let field = self.bytes(&mut pos, flen)?;
            let vlen = self.varint(&mut pos)?;
            (field, self.bytes(&mut pos, vlen)?)
        };
        self.pos = pos;
        Some(Found {
            field,
            value,
            start,
            end: pos,
        })
    }
}

/// Appends one pair in the shortest form that holds it.
fn encode_pair(out: &mut Vec<u8>, field: &[u8], value: &[u8]) {
    if field.len() <= SHORT_FIELD && value.len() <= SHORT_VALUE {
        out.push((field.len() << 5 | value.len()) as u8);
        out.extend_from_slice(field);
    } else {
        out.push(LONG_PAIR);
        write_varint(out, field.len());
        out.extend_from_slice(field);
        write_varint(out, value.len());
    }
    out.extend_from_slice(value);
}

/// (field count, bytes of the count's varint) of a compact buffer.
fn compact_header(b: &[u8]) -> (usize, usize) {
    if b.is_empty() {
        return (0, 0);
    }
    read_varint(b)
}

fn compact_count(b: &[u8]) -> usize {
    compact_header(b).0
}

/// Replaces `range` (pair bytes) of a compact buffer with `with` and adds `added` to its count.
fn compact_splice(b: &mut Box<[u8]>, range: std::ops::Range<usize>, with: &[u8], added: isize) {
    let n = compact_count(b).saturating_add_signed(added);
    splice_counted(b, range, with, n);
}

fn compact_iter(b: &[u8]) -> CompactIter<'_> {
    CompactIter {
        buf: b,
        pos: compact_header(b).1,
    }
}

/// A compact buffer of `n` pairs whose encoded bytes are `body`.
fn compact_from(n: usize, body: &[u8]) -> Box<[u8]> {
    let mut v = Vec::with_capacity(body.len() + 3);
    write_varint(&mut v, n);
    v.extend_from_slice(body);
    v.into_boxed_slice()
}

impl Default for Hash {
    fn default() -> Self {
        Hash::new()
    }
}

impl Hash {
    /// An empty hash in the compact form.
    pub fn new() -> Hash {
        Hash::Compact(Box::new([0u8]))
    }

    /// Converts to the hashtable form.
    pub fn convert(&mut self) {
        if let Hash::Compact(b) = self {
            let mut t = Table::with_capacity(compact_count(b));
            for p in compact_iter(b) {
                t.insert_new(make_pair(p.field, p.value));
            }
            *self = Hash::Table(Box::new(t));
        }
    }

    /// HSET/HMSET's check before writing (`hashTypeTryConversion`): any argument longer than
    /// `hash-max-listpack-value` turns a compact hash into a table.
    pub fn try_conversion(&mut self, args: &[&[u8]]) {
        if matches!(self, Hash::Compact(_)) && args.iter().any(|a| a.len() > max_value()) {
            self.convert();
        }
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self {
            Hash::Compact(b) => compact_iter(b).find(|p| p.field == field).map(|p| p.value),
            Hash::Table(t) => t.find(field).map(|i| split_pair(t.at(i)).1),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// Sets `field` to `value` (`hashTypeSet`); returns true when the field is new.
    pub fn set(&mut self, field: &[u8], value: &[u8]) -> bool {
        if matches!(self, Hash::Compact(_)) && (field.len() > max_value() || value.len() > max_value()) {
            self.convert();
        }
        match self {
            Hash::Compact(b) => {
                let found = compact_iter(b).find(|p| p.field == field).map(|p| p.start..p.end);
                let mut enc = Vec::with_capacity(field.len() + value.len() + 11);
                encode_pair(&mut enc, field, value);
                let new = found.is_none();
                match found {
                    Some(range) => compact_splice(b, range, &enc, 0),
                    None => compact_splice(b, b.len()..b.len(), &enc, 1),
                }
                if new && compact_count(b) > max_entries() {
                    self.convert();
                }
                new
            }
            Hash::Table(t) => match t.find(field) {
                Some(i) => {
                    t.replace_at(i, make_pair(field, value));
                    false
                }
                None => {
                    t.insert_new(make_pair(field, value));
                    true
                }
            },
        }
    }

    /// Removes a field; returns whether it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            Hash::Compact(b) => {
                let Some(range) = compact_iter(b).find(|p| p.field == field).map(|p| p.start..p.end) else {
                    return false;
                };
                compact_splice(b, range, &[], -1);
                true
            }
            Hash::Table(t) => t.remove(field).is_some(),
        }
    }

    /// Every (field, value) pair: insertion order when compact, table order otherwise.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (&[u8], &[u8])> + '_> {
        match self {
            Hash::Compact(b) => Box::new(compact_iter(b).map(|p| (p.field, p.value))),
            Hash::Table(t) => Box::new(t.iter().map(split_pair)),
        }
    }

    /// The pairs, indexable (for random picks): borrowed from the table or collected once.
    pub fn pairs(&self) -> Vec<(&[u8], &[u8])> {
        self.iter().collect()
    }

    /// The pair at position `i` (`i < len`): O(1) for the table, a walk for the compact form.
    pub fn pair_at(&self, i: usize) -> (&[u8], &[u8]) {
        match self {
            Hash::Compact(b) => compact_iter(b)
                .nth(i)
                .map_or((&[][..], &[][..]), |p| (p.field, p.value)),
            Hash::Table(t) => split_pair(t.at(i)),
        }
    }

    pub fn is_compact(&self) -> bool {
        matches!(self, Hash::Compact(_))
    }

    /// One HSCAN step: everything for the compact form (cursor 0, as Redis), one bucket of the
    /// table otherwise.
    pub fn scan(&self, cursor: u64, mut f: impl FnMut(&[u8], &[u8])) -> u64 {
        match self {
            Hash::Compact(b) => {
                for p in compact_iter(b) {
                    f(p.field, p.value);
                }
                0
            }
            Hash::Table(t) => t.scan(cursor, |d| {
                let (k, v) = split_pair(d);
                f(k, v)
            }),
        }
    }

    /// Builds a hash from loaded pairs as Redis's loader does: compact unless over the limits;
    /// duplicate fields are corruption.
    fn from_pairs(n: usize, pairs: impl Iterator<Item = rdb::Result<(Vec<u8>, Vec<u8>)>>) -> rdb::Result<Hash> {
        let mut h = if n > max_entries() {
            Hash::Table(Box::new(Table::with_capacity(n)))
        } else {
            Hash::new()
        };
        for p in pairs {
            let (f, v) = p?;
            if h.contains(&f) {
                return Err(rdb::RdbError::Corrupt("Duplicate hash fields detected"));
            }
            h.set(&f, &v);
        }
        if h.len() == 0 {
            return Err(rdb::RdbError::EmptyKey);
        }
        Ok(h)
    }
}

impl Hash {
    /// Builds a hash from a listpack or ziplist's flat field/value list as Redis's loader does:
    /// compact unless there are more than `hash-max-listpack-entries` pairs (long values stay
    /// compact, as in Redis); an odd count, duplicates or no pairs are corruption.
    fn from_flat(items: Vec<LpEntry>) -> rdb::Result<Hash> {
        if items.is_empty() {
            return Err(rdb::RdbError::EmptyKey);
        }
        if !items.len().is_multiple_of(2) {
            return Err(rdb::RdbError::Blob("odd number of hash listpack entries"));
        }
        let n = items.len() / 2;
        let mut h = if n > max_entries() {
            Hash::Table(Box::new(Table::with_capacity(n)))
        } else {
            Hash::new()
        };
        let mut buf = Vec::new();
        for p in items.chunks_exact(2) {
            let (f, v) = (p[0].to_bytes(), p[1].to_bytes());
            match &mut h {
                Hash::Compact(_) => {
                    // `buf` holds the pairs without the count header.
                    if (CompactIter { buf: &buf, pos: 0 }).any(|x| x.field == &f[..]) {
                        return Err(rdb::RdbError::Blob("duplicate hash fields in a listpack"));
                    }
                    encode_pair(&mut buf, &f, &v);
                }
                Hash::Table(t) => {
                    if !t.insert(make_pair(&f, &v)) {
                        return Err(rdb::RdbError::Blob("duplicate hash fields in a listpack"));
                    }
                }
            }
        }
        if let Hash::Compact(b) = &mut h {
            *b = compact_from(n, &buf);
        }
        Ok(h)
    }
}

impl Collection for Hash {
    fn len(&self) -> usize {
        match self {
            Hash::Compact(b) => compact_count(b),
            Hash::Table(t) => t.len(),
        }
    }

    fn encoding(&self) -> &'static str {
        match self {
            Hash::Compact(_) => "listpack",
            Hash::Table(_) => "hashtable",
        }
    }

    fn memory(&self) -> usize {
        match self {
            Hash::Compact(b) => b.len(),
            Hash::Table(t) => std::mem::size_of::<Table<PairKey>>() + t.memory(),
        }
    }

    fn duplicate(&self) -> Self {
        match self {
            Hash::Compact(b) => Hash::Compact(b.clone()),
            Hash::Table(t) => Hash::Table(Box::new(t.duplicate())),
        }
    }

    fn rdb_type(&self) -> u8 {
        match self {
            Hash::Compact(_) => RDB_TYPE_HASH_LISTPACK,
            Hash::Table(_) => RDB_TYPE_HASH,
        }
    }

    fn rdb_save(&self, w: &mut Writer) {
        match self {
            Hash::Compact(b) => {
                let lp = listpack::encode(compact_iter(b).flat_map(|p| [p.field, p.value]));
                w.string(&lp);
            }
            Hash::Table(_) => {
                w.len(self.len() as u64);
                for (f, v) in self.iter() {
                    w.string(f);
                    w.string(v);
                }
            }
        }
    }

    fn rdb_load(t: u8, r: &mut Reader) -> rdb::Result<Self> {
        match t {
            RDB_TYPE_HASH => {
                let n = r.count()?;
                if n == 0 {
                    return Err(rdb::RdbError::EmptyKey);
                }
                let mut left = n;
                let pairs = std::iter::from_fn(|| {
                    if left == 0 {
                        return None;
                    }
                    left -= 1;
                    Some(
                        r.string()
                            .map(|f| f.into_owned())
                            .and_then(|f| Ok((f, r.string()?.into_owned()))),
                    )
                });
                Hash::from_pairs(n, pairs)
            }
            RDB_TYPE_HASH_LISTPACK => {
                let blob = r.string()?;
                Hash::from_flat(listpack::decode(&blob)?)
            }
            RDB_TYPE_HASH_ZIPLIST => {
                let blob = r.string()?;
                Hash::from_flat(listpack::ziplist_decode(&blob)?)
            }
            RDB_TYPE_HASH_ZIPMAP => {
                let blob = r.string()?;
                let pairs = listpack::zipmap_decode(&blob)?;
                let maxlen = pairs.iter().map(|(f, v)| f.len().max(v.len())).max().unwrap_or(0);
                let mut h = Hash::from_flat(
                    pairs
                        .iter()
                        .flat_map(|(f, v)| [LpEntry::Str(f), LpEntry::Str(v)])
                        .collect(),
                )?;
                // Zipmaps (Redis 2.4) convert on long values too, as Redis's loader does.
                if maxlen > max_value() {
                    h.convert();
                }
                Ok(h)
            }
            _ => Err(rdb::RdbError::Unsupported(t)),
        }
    }

    fn digest(&self, digest: &mut [u8; 20]) {
        for (f, v) in self.iter() {
            let mut ele = [0u8; 20];
            mix_digest(&mut ele, f);
            mix_digest(&mut ele, v);
            xor_digest(digest, &ele);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_set_get_remove() {
        let mut h = Hash::new();
        assert!(h.set(b"a", b"1"));
        assert!(h.set(b"b", b"2"));
        assert!(!h.set(b"a", b"111"));
        assert_eq!(h.get(b"a"), Some(&b"111"[..]));
        assert_eq!(h.len(), 2);
        assert!(h.remove(b"a"));
        assert!(!h.remove(b"a"));
        assert_eq!(h.pairs(), vec![(&b"b"[..], &b"2"[..])]);
        h.convert();
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.get(b"b"), Some(&b"2"[..]));
    }

    /// A tiny deterministic generator (xorshift), so failures replay.
    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
        /// Mostly short strings, sometimes at or just past the one-byte header's limits,
        /// sometimes long enough for a 2-byte varint length.
        fn bytes(&mut self, short: usize) -> Vec<u8> {
            let len = match self.below(8) {
                0 => 0,
                1 => short + self.below(3) as usize,
                2 => 100 + self.below(300) as usize,
                _ => self.below(short as u64 + 1) as usize,
            };
            let c = b'a' + self.below(4) as u8;
            vec![c; len]
        }
    }

    #[test]
    fn compact_random_operations_match_a_model() {
        let mut r = Rng(0x2545f4914f6cdd1d);
        for _ in 0..300 {
            let mut h = Hash::new();
            let mut model: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
            for _ in 0..100 {
                let f = r.bytes(SHORT_FIELD);
                match r.below(4) {
                    0 | 1 => {
                        let v = r.bytes(SHORT_VALUE);
                        // Set directly on the buffer form, whatever the configured limits.
                        let Hash::Compact(b) = &mut h else { unreachable!() };
                        let pos = model.iter().position(|(x, _)| *x == f);
                        let range = compact_iter(b).find(|p| p.field == &f[..]).map(|p| p.start..p.end);
                        assert_eq!(range.is_some(), pos.is_some());
                        let mut enc = Vec::new();
                        encode_pair(&mut enc, &f, &v);
                        match (range, pos) {
                            (Some(range), Some(i)) => {
                                compact_splice(b, range, &enc, 0);
                                model[i].1 = v;
                            }
                            _ => {
                                compact_splice(b, b.len()..b.len(), &enc, 1);
                                model.push((f, v));
                            }
                        }
                    }
                    2 => {
                        let pos = model.iter().position(|(x, _)| *x == f);
                        assert_eq!(h.remove(&f), pos.is_some());
                        if let Some(i) = pos {
                            model.remove(i);
                        }
                    }
                    _ => {
                        let want = model.iter().find(|(x, _)| *x == f).map(|(_, v)| &v[..]);
                        assert_eq!(h.get(&f), want);
                    }
                }
                let Hash::Compact(b) = &h else { unreachable!() };
                assert_eq!(h.len(), model.len());
                let got: Vec<(&[u8], &[u8])> = h.iter().collect();
                let want: Vec<(&[u8], &[u8])> = model.iter().map(|(f, v)| (&f[..], &v[..])).collect();
                assert_eq!(got, want);
                // Built whole or edited pair by pair, the bytes are the same.
                let mut body = Vec::new();
                for (f, v) in &model {
                    encode_pair(&mut body, f, v);
                }
                assert_eq!(&compact_from(model.len(), &body)[..], &b[..]);
            }
        }
    }

    #[test]
    fn compact_sizes() {
        let mut h = Hash::new();
        for j in 0..10 {
            h.set(format!("f{j}").as_bytes(), &[b'v'; 16]);
        }
        assert_eq!(h.memory(), 1 + 10 * (1 + 2 + 16));
        // At the limits of the one-byte header, and just past them.
        let mut body = Vec::new();
        encode_pair(&mut body, &[b'f'; 6], &[b'v'; 31]);
        assert_eq!(body.len(), 1 + 6 + 31);
        body.clear();
        encode_pair(&mut body, &[b'f'; 7], &[b'v'; 31]);
        assert_eq!(body.len(), 3 + 7 + 31);
        body.clear();
        encode_pair(&mut body, &[b'f'; 6], &[b'v'; 200]);
        assert_eq!(body.len(), 1 + 1 + 6 + 2 + 200);
        // The count grows to two bytes past 127 pairs.
        let mut b = Hash::new();
        let Hash::Compact(buf) = &mut b else { unreachable!() };
        for i in 0..200u32 {
            let mut enc = Vec::new();
            encode_pair(&mut enc, &i.to_le_bytes(), b"x");
            compact_splice(buf, buf.len()..buf.len(), &enc, 1);
        }
        assert_eq!(b.len(), 200);
        assert_eq!(b.get(&199u32.to_le_bytes()), Some(&b"x"[..]));
        assert_eq!(b.pair_at(127).0, &127u32.to_le_bytes()[..]);
    }
}
