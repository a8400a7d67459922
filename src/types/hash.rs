//! The hash type (Redis's `t_hash.c`): a compact `listpack` form while small, a `hashtable`
//! once it has more than `hash-max-listpack-entries` fields or a field or value longer than
//! `hash-max-listpack-value` bytes; like Redis it never converts back.
//!
//! The compact form is one byte buffer: a little-endian `u32` field count, then for each pair in
//! insertion order `varint(len field) field varint(len value) value`. Ten pairs of 7-byte
//! strings cost 4 + 160 bytes in one block (Redis's listpack: about the same). Lookups scan it,
//! which is fast at these sizes. The large form is a [`Table`] whose elements hold field and
//! value in one block. At the RDB boundary the compact form is written as a real listpack.

use super::table::{make_pair, read_varint, split_pair, write_varint, PairKey, Table};
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

/// One pair of the compact form, with where it lies in the buffer.
struct Found<'a> {
    field: &'a [u8],
    value: &'a [u8],
    /// Start of the pair, start of the value's length prefix, end of the pair.
    start: usize,
    vstart: usize,
    end: usize,
}

/// Walks the pairs of a compact buffer.
struct CompactIter<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for CompactIter<'a> {
    type Item = Found<'a>;

    fn next(&mut self) -> Option<Found<'a>> {
        let buf = self.buf;
        if self.pos >= buf.len() {
            return None;
        }
        let start = self.pos;
        let (flen, n) = read_varint(&buf[start..]);
        let fstart = start + n;
        let fend = (fstart + flen).min(buf.len());
        let (vlen, m) = read_varint(&buf[fend..]);
        let vbeg = fend + m;
        let end = (vbeg + vlen).min(buf.len());
        self.pos = end;
        Some(Found {
            field: &buf[fstart..fend],
            value: &buf[vbeg.min(end)..end],
            start,
            vstart: fend,
            end,
        })
    }
}

fn compact_count(b: &[u8]) -> usize {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[..4]);
    u32::from_le_bytes(w) as usize
}

fn set_count(b: &mut [u8], n: usize) {
    b[..4].copy_from_slice(&(n as u32).to_le_bytes());
}

fn compact_iter(b: &[u8]) -> CompactIter<'_> {
    CompactIter { buf: b, pos: 4 }
}

impl Default for Hash {
    fn default() -> Self {
        Hash::new()
    }
}

impl Hash {
    /// An empty hash in the compact form.
    pub fn new() -> Hash {
        Hash::Compact(vec![0u8; 4].into_boxed_slice())
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
                let found = compact_iter(b).find(|p| p.field == field).map(|p| (p.vstart, p.end));
                let mut v = std::mem::take(b).into_vec();
                let mut enc = Vec::with_capacity(value.len() + 5);
                let new = match found {
                    Some((vstart, end)) => {
                        write_varint(&mut enc, value.len());
                        enc.extend_from_slice(value);
                        v.splice(vstart..end, enc);
                        false
                    }
                    None => {
                        write_varint(&mut enc, field.len());
                        enc.extend_from_slice(field);
                        write_varint(&mut enc, value.len());
                        enc.extend_from_slice(value);
                        v.reserve_exact(enc.len());
                        v.extend_from_slice(&enc);
                        let n = compact_count(&v) + 1;
                        set_count(&mut v, n);
                        true
                    }
                };
                *b = v.into_boxed_slice();
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
                let Some((start, end)) = compact_iter(b).find(|p| p.field == field).map(|p| (p.start, p.end)) else {
                    return false;
                };
                let mut v = std::mem::take(b).into_vec();
                v.drain(start..end);
                let n = compact_count(&v) - 1;
                set_count(&mut v, n);
                *b = v.into_boxed_slice();
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
                return Err(rdb::RdbError::Corrupt("duplicate hash fields"));
            }
            h.set(&f, &v);
        }
        if h.len() == 0 {
            return Err(rdb::RdbError::Corrupt("empty hash"));
        }
        Ok(h)
    }
}

impl Hash {
    /// Builds a hash from a listpack or ziplist's flat field/value list as Redis's loader does:
    /// compact unless there are more than `hash-max-listpack-entries` pairs (long values stay
    /// compact, as in Redis); an odd count, duplicates or no pairs are corruption.
    fn from_flat(items: Vec<LpEntry>) -> rdb::Result<Hash> {
        if items.is_empty() || !items.len().is_multiple_of(2) {
            return Err(rdb::RdbError::Corrupt("bad hash listpack"));
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
                    if compact_iter(&buf).any(|x| x.field == &f[..]) {
                        return Err(rdb::RdbError::Corrupt("duplicate hash fields"));
                    }
                    if buf.is_empty() {
                        buf.extend_from_slice(&[0; 4]);
                    }
                    write_varint(&mut buf, f.len());
                    buf.extend_from_slice(&f);
                    write_varint(&mut buf, v.len());
                    buf.extend_from_slice(&v);
                }
                Hash::Table(t) => {
                    if !t.insert(make_pair(&f, &v)) {
                        return Err(rdb::RdbError::Corrupt("duplicate hash fields"));
                    }
                }
            }
        }
        if let Hash::Compact(b) = &mut h {
            set_count(&mut buf, n);
            *b = buf.into_boxed_slice();
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
                    return Err(rdb::RdbError::Corrupt("empty hash"));
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
}
