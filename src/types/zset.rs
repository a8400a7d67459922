//! The sorted set type (Redis's `t_zset.c` data side).
//!
//! Two forms, switched exactly when Redis switches its encodings, because OBJECT ENCODING and
//! the test suite observe them:
//! * [`pack::Pack`] (`listpack`): one buffer of (member, score) entries in order, for sets of at
//!   most `zset-max-listpack-entries` members each at most `zset-max-listpack-value` bytes.
//! * [`big::Big`] (`skiplist`): a hash index plus an order-statistic B-tree, member stored once.
//!
//! A set grows from the compact form to the large one when an insert crosses a limit and never
//! shrinks back, except that results built whole (ZUNIONSTORE, ZRANGESTORE...) start compact
//! when they fit, as in Redis. The commands work on ranks: every read is "find the rank where
//! a predicate stops holding" plus "visit ranks a..b", which both forms provide.

mod big;
mod pack;
mod tree;

use super::{Collection, LIMITS};
use crate::persistence::listpack::{self, LpEntry};
use crate::persistence::rdb::{self, RdbError, Reader, Writer};
use crate::util::digest::{mix_digest, xor_digest};
use crate::util::num;
use big::Big;
use pack::Pack;
use std::sync::atomic::Ordering::Relaxed;

pub use big::cmp;
pub(crate) use pack::splice_counted;

/// A sorted set value (16 bytes: the compact form's boxed slice, or a box).
pub enum ZSet {
    Pack(Pack),
    Big(Box<Big>),
}

fn max_entries() -> usize {
    LIMITS.zset_max_listpack_entries.load(Relaxed).max(0) as usize
}

fn max_value() -> usize {
    LIMITS.zset_max_listpack_value.load(Relaxed).max(0) as usize
}

impl ZSet {
    /// An empty set as ZADD creates it: compact unless the limits forbid even its first member.
    pub fn new_for(first_member_len: usize) -> ZSet {
        if max_entries() == 0 || first_member_len > max_value() {
            ZSet::Big(Box::default())
        } else {
            ZSet::Pack(Pack::default())
        }
    }

    /// An empty set that will receive `n` members (ZRANGESTORE's destination).
    pub fn with_len_hint(n: usize) -> ZSet {
        if n > max_entries() {
            ZSet::Big(Box::new(Big::with_capacity(n)))
        } else {
            ZSet::Pack(Pack::default())
        }
    }

    /// Builds a set from members sorted by (score, member) with no duplicates, in the form
    /// Redis would give a result of that size (`zsetConvertToListpackIfNeeded`).
    pub fn from_sorted(items: &[(Vec<u8>, f64)]) -> ZSet {
        let fits = items.len() <= max_entries() && items.iter().all(|(m, _)| m.len() <= max_value());
        ZSet::from_sorted_as(items, fits)
    }

    /// Builds from sorted, distinct members in the form the caller picked.
    fn from_sorted_as(items: &[(Vec<u8>, f64)], compact: bool) -> ZSet {
        if compact {
            ZSet::Pack(Pack::from_sorted(items))
        } else {
            let mut b = Big::with_capacity(items.len());
            for (m, s) in items {
                b.insert(m, *s);
            }
            ZSet::Big(Box::new(b))
        }
    }

    pub fn is_listpack(&self) -> bool {
        matches!(self, ZSet::Pack(_))
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            ZSet::Pack(p) => p.find(member).map(|e| e.score),
            ZSet::Big(b) => b.score(member),
        }
    }

    /// Converts a compact set to the skiplist form (SORT does this to the sets it sorts).
    pub fn convert_to_big(&mut self) {
        if let ZSet::Pack(p) = self {
            let mut b = Big::with_capacity(p.len() + 1);
            for e in p.iter() {
                b.insert(e.member, e.score);
            }
            *self = ZSet::Big(Box::new(b));
        }
    }

    /// Adds a member that is not present, converting to the large form first when the
    /// compact one would cross a limit (as `zsetAdd` does).
    pub fn insert(&mut self, member: &[u8], score: f64) {
        if let ZSet::Pack(p) = self {
            if p.len() + 1 > max_entries() || member.len() > max_value() {
                self.convert_to_big();
            }
        }
        match self {
            ZSet::Pack(p) => p.insert(member, score),
            ZSet::Big(b) => b.insert(member, score),
        }
    }

    /// Changes the score of a present member.
    pub fn update(&mut self, member: &[u8], old: f64, new: f64) {
        match self {
            ZSet::Pack(p) => p.update(member, new),
            ZSet::Big(b) => b.update(member, old, new),
        }
    }

    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match self {
            ZSet::Pack(p) => p.remove(member),
            ZSet::Big(b) => b.remove(member),
        }
    }

    /// 0-based ascending rank of a member.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        match self {
            ZSet::Pack(p) => p.iter().position(|e| e.member == member),
            ZSet::Big(b) => b.rank(member),
        }
    }

    /// Member and score at `rank` (< len).
    pub fn at(&self, rank: usize) -> Option<(&[u8], f64)> {
        match self {
            ZSet::Pack(p) => p.iter().nth(rank).map(|e| (e.member, e.score)),
            ZSet::Big(b) => (rank < b.len()).then(|| b.at(rank)),
        }
    }

    /// Number of members for which `before(member, score)` holds, which must be a prefix of
    /// the order (a range's lower end).
    pub fn lower_bound(&self, before: &dyn Fn(&[u8], f64) -> bool) -> usize {
        match self {
            ZSet::Pack(p) => p.iter().position(|e| !before(e.member, e.score)).unwrap_or(p.len()),
            ZSet::Big(b) => b.lower_bound(before),
        }
    }

    /// Calls `f` on ranks `from..to`, ascending (or descending with `rev`), until it returns
    /// false.
    pub fn visit(&self, from: usize, to: usize, rev: bool, f: &mut dyn FnMut(&[u8], f64) -> bool) {
        match self {
            ZSet::Pack(p) => {
                let to = to.min(p.len());
                if from >= to {
                    return;
                }
                if rev {
                    let v: Vec<_> = p.iter().skip(from).take(to - from).collect();
                    for e in v.iter().rev() {
                        if !f(e.member, e.score) {
                            return;
                        }
                    }
                } else {
                    for e in p.iter().skip(from).take(to - from) {
                        if !f(e.member, e.score) {
                            return;
                        }
                    }
                }
            }
            ZSet::Big(b) => b.visit(from, to, rev, f),
        }
    }

    /// Every member in order.
    pub fn for_each(&self, f: &mut dyn FnMut(&[u8], f64)) {
        self.visit(0, usize::MAX, false, &mut |m, s| {
            f(m, s);
            true
        });
    }

    /// Removes the members with ranks `from..to`.
    pub fn remove_ranks(&mut self, from: usize, to: usize) {
        let to = to.min(self.len());
        if from >= to {
            return;
        }
        match self {
            ZSet::Pack(p) => p.remove_ranks(from, to),
            ZSet::Big(b) => b.remove_ranks(from, to),
        }
    }

    /// ZSCAN step: the whole set at once for the compact form (cursor 0 back, as Redis), else a
    /// slice of the hash table.
    pub fn scan(&self, cursor: u64, count: usize, f: &mut dyn FnMut(&[u8], f64)) -> u64 {
        match self {
            ZSet::Pack(_) => {
                self.for_each(f);
                0
            }
            ZSet::Big(b) => b.scan(cursor, count, f),
        }
    }

    fn write_pairs_zset2(&self, w: &mut Writer) {
        w.len(self.len() as u64);
        // Redis writes from the tail so that loading inserts at the head in O(1).
        self.visit(0, usize::MAX, true, &mut |m, s| {
            w.string(m);
            w.binary_double(s);
            true
        });
    }

    /// The Redis listpack of a compact set (RDB type 17): member, score, member, score... in
    /// order, each element encoded as `zzlInsertAt` appends it, so the bytes equal Redis's.
    fn to_listpack(p: &Pack) -> Vec<u8> {
        let mut b = listpack::Builder::new();
        for e in p.iter() {
            // Members go through `lpAppend`, which int-encodes canonical integers.
            b.push(e.member);
            match double_to_i64(e.score) {
                Some(n) => b.push_int(n),
                // Not integral (or too large): `d2string`, i.e. `inf`, `-inf` or `%.17g`.
                None => b.push(num::fmt_double(e.score).as_bytes()),
            }
        }
        b.finish()
    }

    /// Builds from pairs read in any order, rejecting what a corrupt payload could hold: NaN
    /// scores, duplicate members, an empty set. The form follows Redis's load rules: pairs from
    /// a skiplist record (types 3/5) become compact when count and member lengths fit; pairs
    /// from a compact blob (`from_blob`) stay compact unless their count exceeds
    /// `zset-max-listpack-entries` (Redis checks only the count there, not member lengths).
    fn from_pairs(pairs: Vec<(Vec<u8>, f64)>, from_blob: bool) -> rdb::Result<ZSet> {
        let mut pairs = pairs;
        if pairs.iter().any(|(_, s)| s.is_nan()) {
            return Err(RdbError::Corrupt("Zset with NAN score detected"));
        }
        pairs.sort_by(|a, b| cmp(a.1, &a.0, b.1, &b.0));
        let mut seen = std::collections::HashSet::with_capacity(pairs.len());
        for (m, _) in &pairs {
            if !seen.insert(m.as_slice()) {
                return Err(RdbError::Corrupt("Duplicate zset fields detected"));
            }
        }
        if pairs.is_empty() {
            return Err(RdbError::EmptyKey);
        }
        Ok(if from_blob {
            ZSet::from_sorted_as(&pairs, pairs.len() <= max_entries())
        } else {
            ZSet::from_sorted(&pairs)
        })
    }

    /// Reads a type 17 (listpack) or type 12 (ziplist) blob of member/score pairs, validated
    /// as deeply as Redis does with `sanitize-dump-payload yes` and then some: the blob's
    /// structure, an even count, distinct members, and scores that are integers or texts that
    /// parse as non-NaN doubles (Redis would read garbage as 0; a payload holding it is corrupt).
    fn load_blob(t: u8, r: &mut Reader) -> rdb::Result<ZSet> {
        let blob = r.string()?;
        let entries = if t == rdb::types::ZSET_LISTPACK {
            listpack::decode(&blob)?
        } else {
            listpack::ziplist_decode(&blob)?
        };
        if entries.len() % 2 != 0 {
            return Err(RdbError::Blob("zset blob has an odd number of elements"));
        }
        let mut pairs = Vec::with_capacity(entries.len() / 2);
        for pair in entries.chunks_exact(2) {
            let [member, score] = pair else {
                return Err(RdbError::Corrupt("zset blob pair"));
            };
            let score = match *score {
                LpEntry::Int(n) => n as f64,
                LpEntry::Str(s) => num::parse_f64(s).ok_or(RdbError::Corrupt("bad zset score"))?,
            };
            pairs.push((member.to_bytes().into_owned(), score));
        }
        ZSet::from_pairs(pairs, true)
    }
}

/// The integer a score is stored as in a listpack, when it is one exactly (`double2ll`: within
/// ±2^62 and integral; -0 becomes 0, NaN and infinities are not integers).
fn double_to_i64(d: f64) -> Option<i64> {
    let bound = (i64::MAX / 2) as f64;
    if !(-bound..=bound).contains(&d) {
        return None;
    }
    let n = d as i64;
    (n as f64 == d).then_some(n)
}

impl Collection for ZSet {
    fn len(&self) -> usize {
        match self {
            ZSet::Pack(p) => p.len(),
            ZSet::Big(b) => b.len(),
        }
    }

    fn encoding(&self) -> &'static str {
        match self {
            ZSet::Pack(_) => "listpack",
            ZSet::Big(_) => "skiplist",
        }
    }

    fn memory(&self) -> usize {
        match self {
            ZSet::Pack(p) => p.memory(),
            ZSet::Big(b) => b.memory() + 64,
        }
    }

    fn duplicate(&self) -> Self {
        match self {
            ZSet::Pack(p) => ZSet::Pack(p.clone()),
            ZSet::Big(_) => {
                let mut v = Vec::with_capacity(self.len());
                self.for_each(&mut |m, s| v.push((m.to_vec(), s)));
                let mut b = Big::with_capacity(v.len());
                for (m, s) in &v {
                    b.insert(m, *s);
                }
                ZSet::Big(Box::new(b))
            }
        }
    }

    fn rdb_type(&self) -> u8 {
        match self {
            ZSet::Pack(_) => rdb::types::ZSET_LISTPACK,
            ZSet::Big(_) => rdb::types::ZSET_2,
        }
    }

    fn rdb_save(&self, w: &mut Writer) {
        match self {
            // The listpack travels as one RDB string (compressed like any other).
            ZSet::Pack(p) => w.string(&ZSet::to_listpack(p)),
            ZSet::Big(_) => self.write_pairs_zset2(w),
        }
    }

    fn rdb_load(t: u8, r: &mut Reader) -> rdb::Result<Self> {
        match t {
            rdb::types::ZSET | rdb::types::ZSET_2 => {
                let n = r.count()?;
                let mut pairs = Vec::with_capacity(n.min(1 << 16));
                for _ in 0..n {
                    let m = r.string()?.into_owned();
                    let s = if t == rdb::types::ZSET_2 {
                        r.binary_double()?
                    } else {
                        read_string_double(r)?
                    };
                    pairs.push((m, s));
                }
                ZSet::from_pairs(pairs, false)
            }
            rdb::types::ZSET_LISTPACK | rdb::types::ZSET_ZIPLIST => ZSet::load_blob(t, r),
            _ => Err(RdbError::Unsupported(t)),
        }
    }

    fn digest(&self, digest: &mut [u8; 20]) {
        self.for_each(&mut |m, s| {
            let mut eledigest = [0u8; 20];
            mix_digest(&mut eledigest, m);
            mix_digest(&mut eledigest, crate::util::num::fmt_double(s).as_bytes());
            xor_digest(digest, &eledigest);
        });
    }
}

/// An old-format (type 3) score: a length byte then the text, with 253/254/255 for nan/+inf/-inf.
fn read_string_double(r: &mut Reader) -> rdb::Result<f64> {
    let len = r.byte()?;
    match len {
        255 => Ok(f64::NEG_INFINITY),
        254 => Ok(f64::INFINITY),
        253 => Ok(f64::NAN),
        n => {
            let b = r.bytes(n as usize)?;
            std::str::from_utf8(b)
                .ok()
                .and_then(|s| s.parse::<f64>().ok())
                .ok_or(RdbError::Corrupt("bad zset score"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_stays_small() {
        assert!(std::mem::size_of::<ZSet>() <= 16);
    }
}
