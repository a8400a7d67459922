//! Streams (Redis's `t_stream.c`): an append-only log of entries, each an ID (`ms-seq`) and
//! field-value pairs, with consumer groups that track what each consumer was delivered.
//!
//! * Entries live in [`block::Block`]s, packed byte buffers of up to `stream-node-max-entries`
//!   entries / `stream-node-max-bytes` bytes, kept in a `BTreeMap` keyed by each block's first
//!   ("master") ID — Redis's radix tree of listpacks. Deleting marks an entry in place; a block
//!   goes when its last live entry does. Trimming removes whole blocks from the head and, when
//!   exact, marks entries of the first remaining block, as Redis's `streamTrim`.
//! * The stream keeps Redis 7.0's bookkeeping: last generated ID, first live ID, the largest
//!   deleted ID and the count of entries ever added, from which a group's lag and entries-read
//!   are derived ([`Stream::lag`], [`Stream::estimate_distance`]).
//! * Consumer groups ([`Group`]) hold their pending entries list (PEL) of [`Nack`]s, and each
//!   consumer the IDs it owns; group and consumer maps are ordered by name, as Redis's rax.
//! * RDB: blocks are written as Redis's stream listpacks (`RDB_TYPE_STREAM_LISTPACKS_2`) and
//!   read back from types 15 and 19, validated, so DUMP/RESTORE works both ways with Redis.

pub mod block;

use super::Collection;
use crate::persistence::listpack::{self, Builder, LpEntry};
use crate::persistence::rdb::{self, types, RdbError, Reader, Writer};
use crate::util::num;
use block::{Block, EntryRef};
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound::{Included, Unbounded};
use std::sync::atomic::{AtomicI64, Ordering::Relaxed};

/// `stream-node-max-bytes` / `stream-node-max-entries`, readable without the config lock.
pub static NODE_MAX_BYTES: AtomicI64 = AtomicI64::new(4096);
pub static NODE_MAX_ENTRIES: AtomicI64 = AtomicI64::new(100);

/// A stream entry ID.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    pub fn is_zero(&self) -> bool {
        self.ms == 0 && self.seq == 0
    }

    /// The next ID (`streamIncrID`); None past the maximum.
    pub fn incr(self) -> Option<StreamId> {
        if self.seq == u64::MAX {
            if self.ms == u64::MAX {
                return None;
            }
            Some(StreamId::new(self.ms + 1, 0))
        } else {
            Some(StreamId::new(self.ms, self.seq + 1))
        }
    }

    /// The previous ID (`streamDecrID`); None before 0-0.
    pub fn decr(self) -> Option<StreamId> {
        if self.seq == 0 {
            if self.ms == 0 {
                return None;
            }
            Some(StreamId::new(self.ms - 1, u64::MAX))
        } else {
            Some(StreamId::new(self.ms, self.seq - 1))
        }
    }

    /// `ms-seq` as bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        format!("{}-{}", self.ms, self.seq).into_bytes()
    }

    /// The 16-byte big-endian form Redis keys its radix trees with.
    pub fn encode(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.ms.to_be_bytes());
        b[8..].copy_from_slice(&self.seq.to_be_bytes());
        b
    }

    pub fn decode(b: &[u8]) -> Option<StreamId> {
        if b.len() != 16 {
            return None;
        }
        let ms = u64::from_be_bytes(b[..8].try_into().ok()?);
        let seq = u64::from_be_bytes(b[8..].try_into().ok()?);
        Some(StreamId::new(ms, seq))
    }
}

/// Redis's `string2ull`: a canonical non-negative i64, or what C's `strtoull` accepts (leading
/// spaces, a sign) up to `u64::MAX`.
pub fn parse_u64(s: &[u8]) -> Option<u64> {
    if let Some(n) = num::parse_i64(s) {
        return u64::try_from(n).ok();
    }
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | b'\r' | 0x0B | 0x0C) {
        i += 1;
    }
    let mut neg = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        neg = s[i] == b'-';
        i += 1;
    }
    if i >= s.len() {
        return None;
    }
    let mut v: u64 = 0;
    for &c in &s[i..] {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

/// A pending (delivered, not yet acknowledged) entry of a group.
#[derive(Clone)]
pub struct Nack {
    /// Unix ms of the last delivery.
    pub delivery_time: i64,
    pub delivery_count: u64,
    /// The consumer that owns it.
    pub consumer: Vec<u8>,
}

/// A consumer of a group.
#[derive(Clone, Default)]
pub struct Consumer {
    /// Unix ms it was last seen (read or claimed).
    pub seen_time: i64,
    /// The IDs it owns in the group's PEL.
    pub pel: BTreeSet<StreamId>,
}

/// A consumer group.
#[derive(Clone, Default)]
pub struct Group {
    pub last_id: StreamId,
    /// Logical read counter; -1 when unknown (`SCG_INVALID_ENTRIES_READ`).
    pub entries_read: i64,
    pub pel: BTreeMap<StreamId, Nack>,
    pub consumers: BTreeMap<Vec<u8>, Consumer>,
}

impl Group {
    pub fn new(last_id: StreamId, entries_read: i64) -> Group {
        Group {
            last_id,
            entries_read,
            ..Default::default()
        }
    }

    /// Removes a consumer and its pending entries; returns how many it had.
    pub fn delete_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let c = self.consumers.remove(name)?;
        for id in &c.pel {
            self.pel.remove(id);
        }
        Some(c.pel.len())
    }

    /// Drops a pending entry from the group and its owner.
    pub fn ack(&mut self, id: &StreamId) -> bool {
        match self.pel.remove(id) {
            Some(n) => {
                if let Some(c) = self.consumers.get_mut(&n.consumer) {
                    c.pel.remove(id);
                }
                true
            }
            None => false,
        }
    }
}

/// How XADD / XTRIM trim.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Trim {
    None,
    MaxLen(u64),
    MinId(StreamId),
}

/// A stream.
#[derive(Default)]
pub struct Stream {
    blocks: BTreeMap<StreamId, Block>,
    /// Live entries.
    pub length: u64,
    pub last_id: StreamId,
    /// The first live entry's ID (0-0 when empty).
    pub first_id: StreamId,
    pub max_deleted_id: StreamId,
    pub entries_added: u64,
    pub groups: BTreeMap<Vec<u8>, Group>,
}

/// A live entry being visited: its ID and pairs.
pub struct Visit<'a> {
    pub id: StreamId,
    block: &'a Block,
    e: EntryRef,
}

impl<'a> Visit<'a> {
    pub fn nfields(&self) -> usize {
        self.e.nfields
    }

    pub fn pairs(&self) -> block::Pairs<'a> {
        self.block.pairs(&self.e)
    }
}

impl Stream {
    pub fn new() -> Stream {
        Stream::default()
    }

    /// Number of blocks (XINFO's radix-tree-keys).
    pub fn block_count(&self) -> usize {
        self.blocks.len()
    }

    /// Appends an entry with ID `id` (already checked to be greater than `last_id`).
    pub fn append(&mut self, id: StreamId, pairs: &[&[u8]]) {
        let max_bytes = match NODE_MAX_BYTES.load(Relaxed) {
            n if n <= 0 || n > u32::MAX as i64 => u32::MAX as usize,
            n => n as usize,
        };
        let max_entries = NODE_MAX_ENTRIES.load(Relaxed);
        let elelen: usize = pairs.iter().map(|p| p.len()).sum();
        let mut need_new = true;
        if let Some((_, b)) = self.blocks.iter_mut().next_back() {
            let full =
                b.bytes() + elelen >= max_bytes || (max_entries > 0 && (b.count + b.deleted) as i64 >= max_entries);
            if full {
                b.seal();
            } else {
                need_new = false;
            }
        }
        if need_new {
            self.blocks.insert(id, Block::new(pairs));
        }
        if let Some((master, b)) = self.blocks.iter_mut().next_back() {
            b.append(*master, id, pairs);
        }
        if self.length == 0 {
            self.first_id = id;
        }
        self.length += 1;
        self.entries_added += 1;
        self.last_id = id;
    }

    /// The key of the block that may hold `id`: the last block starting at or before it.
    fn block_key_for(&self, id: StreamId) -> Option<StreamId> {
        self.blocks.range(..=id).next_back().map(|(k, _)| *k)
    }

    /// Visits the live entries with IDs in `start..=end`, forwards or backwards, until `f`
    /// returns false.
    pub fn range(&self, start: StreamId, end: StreamId, rev: bool, mut f: impl FnMut(Visit) -> bool) {
        if start > end {
            return;
        }
        if !rev {
            let from = self.block_key_for(start).unwrap_or(start);
            for (master, b) in self.blocks.range((Included(from), Included(end))) {
                let mut off = b.first_offset();
                while !b.at_end(off) {
                    let e = b.entry_at(*master, off);
                    off = e.end;
                    if e.id > end {
                        return;
                    }
                    if e.deleted || e.id < start {
                        continue;
                    }
                    if !f(Visit { id: e.id, block: b, e }) {
                        return;
                    }
                }
            }
        } else {
            for (master, b) in self.blocks.range((Unbounded, Included(end))).rev() {
                for &off in b.offsets(*master).iter().rev() {
                    let e = b.entry_at(*master, off);
                    if e.id < start {
                        return;
                    }
                    if e.deleted || e.id > end {
                        continue;
                    }
                    if !f(Visit { id: e.id, block: b, e }) {
                        return;
                    }
                }
            }
        }
    }

    /// Visits the live entry `id`, if present.
    pub fn get(&self, id: StreamId, f: impl FnOnce(Visit)) -> bool {
        let mut f = Some(f);
        let mut found = false;
        self.range(id, id, false, |v| {
            if let Some(f) = f.take() {
                f(v);
            }
            found = true;
            false
        });
        found
    }

    pub fn exists(&self, id: StreamId) -> bool {
        self.get(id, |_| {})
    }

    /// The first (or last) live entry's ID (`streamGetEdgeID` skipping tombstones).
    pub fn edge_id(&self, first: bool) -> Option<StreamId> {
        let mut out = None;
        self.range(StreamId::MIN, StreamId::MAX, !first, |v| {
            out = Some(v.id);
            false
        });
        out
    }

    /// The last live ID, 0-0 when empty (`streamLastValidID`).
    pub fn last_valid_id(&self) -> StreamId {
        self.edge_id(false).unwrap_or(StreamId::MIN)
    }

    /// Deletes one entry; false when it is not there. Keeps first_id and max_deleted_id as
    /// XDEL does.
    pub fn delete(&mut self, id: StreamId) -> bool {
        let Some(key) = self.block_key_for(id) else {
            return false;
        };
        let Some(b) = self.blocks.get_mut(&key) else {
            return false;
        };
        let mut off = b.first_offset();
        let mut hit = None;
        while !b.at_end(off) {
            let e = b.entry_at(key, off);
            if e.id >= id {
                if e.id == id && !e.deleted {
                    hit = Some(e);
                }
                break;
            }
            off = e.end;
        }
        let Some(e) = hit else {
            return false;
        };
        if b.count == 1 {
            self.blocks.remove(&key);
        } else {
            b.mark_deleted(&e);
        }
        self.length -= 1;
        true
    }

    /// Trims as `streamTrim` does; returns the number of entries removed. `limit` 0 = none.
    pub fn trim(&mut self, how: Trim, approx: bool, limit: u64) -> u64 {
        if how == Trim::None {
            return 0;
        }
        let mut deleted = 0u64;
        loop {
            if let Trim::MaxLen(max) = how {
                if self.length <= max {
                    break;
                }
            }
            let Some((&master, b)) = self.blocks.iter_mut().next() else {
                break;
            };
            let entries = b.count as u64;
            if limit != 0 && deleted + entries > limit {
                break;
            }
            let remove_node = match how {
                Trim::MaxLen(max) => self.length - entries >= max,
                Trim::MinId(min) => {
                    let offs = b.offsets(master);
                    let last = offs.last().map_or(master, |&o| b.entry_at(master, o).id);
                    last < min
                }
                Trim::None => false,
            };
            if remove_node {
                self.blocks.remove(&master);
                self.length -= entries;
                deleted += entries;
                continue;
            }
            if approx {
                break;
            }
            let mut off = b.first_offset();
            while !b.at_end(off) {
                let e = b.entry_at(master, off);
                off = e.end;
                let stop = match how {
                    Trim::MaxLen(max) => self.length <= max,
                    Trim::MinId(min) => e.id >= min,
                    Trim::None => true,
                };
                if stop {
                    break;
                }
                if !e.deleted {
                    b.mark_deleted(&e);
                    self.length -= 1;
                    deleted += 1;
                }
            }
            break;
        }
        if self.length == 0 {
            self.first_id = StreamId::MIN;
        } else if deleted > 0 {
            self.first_id = self.edge_id(true).unwrap_or(StreamId::MAX);
        }
        deleted
    }

    /// Whether `start..=end` (None = unbounded) may hold a tombstone (`streamRangeHasTombstones`).
    pub fn range_has_tombstones(&self, start: Option<StreamId>, end: Option<StreamId>) -> bool {
        if self.length == 0 || self.max_deleted_id.is_zero() {
            return false;
        }
        if self.first_id > self.max_deleted_id {
            return false;
        }
        let s = start.unwrap_or(StreamId::MIN);
        let e = end.unwrap_or(StreamId::MAX);
        s <= self.max_deleted_id && self.max_deleted_id <= e
    }

    /// An ID's logical read counter when it can be known, else -1
    /// (`streamEstimateDistanceFromFirstEverEntry`).
    pub fn estimate_distance(&self, id: StreamId) -> i64 {
        if self.entries_added == 0 {
            return 0;
        }
        if self.length == 0 && id <= self.last_id {
            return self.entries_added as i64;
        }
        if id == self.last_id {
            return self.entries_added as i64;
        } else if id > self.last_id {
            return -1;
        }
        if self.max_deleted_id.is_zero() || self.max_deleted_id < self.first_id {
            if id < self.first_id {
                return (self.entries_added - self.length) as i64;
            } else if id == self.first_id {
                return (self.entries_added - self.length + 1) as i64;
            }
        }
        -1
    }

    /// A group's lag, None when it cannot be known (`streamReplyWithCGLag`).
    pub fn lag(&self, g: &Group) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if g.entries_read != -1 && !self.range_has_tombstones(Some(g.last_id), None) {
            return Some(self.entries_added as i64 - g.entries_read);
        }
        match self.estimate_distance(g.last_id) {
            -1 => None,
            n => Some(self.entries_added as i64 - n),
        }
    }

    /// Advances a group past a delivered `id` (the entries-read bookkeeping of
    /// `streamReplyWithRange`).
    pub fn advance_group(&self, g: &mut Group, id: StreamId) {
        if id > g.last_id {
            if g.entries_read != -1 && !self.range_has_tombstones(Some(id), None) {
                g.entries_read += 1;
            } else if self.entries_added != 0 {
                g.entries_read = self.estimate_distance(id);
            }
            g.last_id = id;
        }
    }
}

impl Collection for Stream {
    fn len(&self) -> usize {
        self.length as usize
    }

    fn encoding(&self) -> &'static str {
        "stream"
    }

    fn memory(&self) -> usize {
        let mut m = 96;
        for b in self.blocks.values() {
            m += b.capacity() + 64;
        }
        for (name, g) in &self.groups {
            m += name.len() + 96 + g.pel.len() * 64;
            for (cn, c) in &g.consumers {
                m += cn.len() + 64 + c.pel.len() * 24;
            }
        }
        m
    }

    fn duplicate(&self) -> Self {
        Stream {
            blocks: self.blocks.iter().map(|(k, b)| (*k, b.duplicate())).collect(),
            length: self.length,
            last_id: self.last_id,
            first_id: self.first_id,
            max_deleted_id: self.max_deleted_id,
            entries_added: self.entries_added,
            groups: self.groups.clone(),
        }
    }

    fn rdb_type(&self) -> u8 {
        types::STREAM_LISTPACKS_2
    }

    fn rdb_save(&self, w: &mut Writer) {
        w.len(self.blocks.len() as u64);
        for (master, b) in &self.blocks {
            w.string(&master.encode());
            w.string(&block_to_listpack(*master, b));
        }
        w.len(self.length);
        w.len(self.last_id.ms);
        w.len(self.last_id.seq);
        w.len(self.first_id.ms);
        w.len(self.first_id.seq);
        w.len(self.max_deleted_id.ms);
        w.len(self.max_deleted_id.seq);
        w.len(self.entries_added);
        w.len(self.groups.len() as u64);
        for (name, g) in &self.groups {
            w.string(name);
            w.len(g.last_id.ms);
            w.len(g.last_id.seq);
            w.len(g.entries_read as u64);
            w.len(g.pel.len() as u64);
            for (id, n) in &g.pel {
                w.buf.extend_from_slice(&id.encode());
                w.millis(n.delivery_time);
                w.len(n.delivery_count);
            }
            w.len(g.consumers.len() as u64);
            for (cname, c) in &g.consumers {
                w.string(cname);
                w.millis(c.seen_time);
                w.len(c.pel.len() as u64);
                for id in &c.pel {
                    w.buf.extend_from_slice(&id.encode());
                }
            }
        }
    }

    fn rdb_load(t: u8, r: &mut Reader) -> rdb::Result<Self> {
        let v2 = t == types::STREAM_LISTPACKS_2;
        if t != types::STREAM_LISTPACKS && !v2 {
            return Err(RdbError::Unsupported(t));
        }
        let mut s = Stream::new();
        let nblocks = r.count()?;
        let mut live = 0u64;
        let mut prev_last: Option<StreamId> = None;
        for _ in 0..nblocks {
            let key = r.string()?;
            let master = StreamId::decode(&key).ok_or(RdbError::Corrupt(
                "Stream node key entry is not the size of a stream ID",
            ))?;
            let lp = r.string()?;
            let b = listpack_to_block(master, &lp, &mut prev_last)?;
            if b.count == 0 && b.deleted == 0 {
                return Err(RdbError::Corrupt("Empty listpack inside stream"));
            }
            live += b.count as u64;
            if b.count > 0 {
                s.blocks.insert(master, b);
            }
        }
        s.length = r.len()?;
        if s.length != live {
            return Err(RdbError::Corrupt("Stream length inconsistent with rax entries"));
        }
        s.last_id = StreamId::new(r.len()?, r.len()?);
        if prev_last.is_some_and(|p| p > s.last_id) {
            return Err(RdbError::Corrupt("stream entry beyond last ID"));
        }
        if v2 {
            s.first_id = StreamId::new(r.len()?, r.len()?);
            s.max_deleted_id = StreamId::new(r.len()?, r.len()?);
            s.entries_added = r.len()?;
        } else {
            s.first_id = s.edge_id(true).unwrap_or(StreamId::MIN);
            s.entries_added = s.length;
        }
        let ngroups = r.count()?;
        for _ in 0..ngroups {
            let name = r.string()?.into_owned();
            let last_id = StreamId::new(r.len()?, r.len()?);
            let entries_read = if v2 {
                r.len()? as i64
            } else {
                s.estimate_distance(last_id)
            };
            let mut g = Group::new(last_id, entries_read);
            let npel = r.count()?;
            for _ in 0..npel {
                let id = StreamId::decode(r.bytes(16)?).ok_or(RdbError::Truncated)?;
                let delivery_time = r.millis()?;
                let delivery_count = r.len()?;
                let n = Nack {
                    delivery_time,
                    delivery_count,
                    consumer: Vec::new(),
                };
                if g.pel.insert(id, n).is_some() {
                    return Err(RdbError::Corrupt("duplicated stream PEL entry"));
                }
            }
            let nconsumers = r.count()?;
            let mut owned = 0usize;
            for _ in 0..nconsumers {
                let cname = r.string()?.into_owned();
                let seen_time = r.millis()?;
                let mut c = Consumer {
                    seen_time,
                    pel: BTreeSet::new(),
                };
                let n = r.count()?;
                for _ in 0..n {
                    let id = StreamId::decode(r.bytes(16)?).ok_or(RdbError::Truncated)?;
                    let Some(nack) = g.pel.get_mut(&id) else {
                        return Err(RdbError::Corrupt("consumer PEL entry not in the group PEL"));
                    };
                    if !c.pel.insert(id) {
                        return Err(RdbError::Corrupt("stream PEL entry owned twice"));
                    }
                    nack.consumer = cname.clone();
                    owned += 1;
                }
                if g.consumers.insert(cname, c).is_some() {
                    return Err(RdbError::Corrupt("Duplicate stream consumer detected."));
                }
            }
            // Every pending entry must have exactly one owner.
            if owned != g.pel.len() {
                return Err(RdbError::Corrupt("Stream CG PEL entry without consumer"));
            }
            if s.groups.insert(name, g).is_some() {
                return Err(RdbError::Corrupt("duplicated consumer group"));
            }
        }
        Ok(s)
    }

    fn digest(&self, digest: &mut [u8; 20]) {
        self.range(StreamId::MIN, StreamId::MAX, false, |v| {
            let id = format!("{}.{}", v.id.ms, v.id.seq);
            crate::util::digest::mix_digest(digest, id.as_bytes());
            for (f, val) in v.pairs() {
                crate::util::digest::mix_digest(digest, f);
                crate::util::digest::mix_digest(digest, val);
            }
            true
        });
    }
}

/// A block as Redis's stream listpack: master entry (count, deleted, fields, 0), then
/// `flags ms-diff seq-diff [n fields...] values... lp-count` per entry.
fn block_to_listpack(master: StreamId, b: &Block) -> Vec<u8> {
    let mut lp = Builder::new();
    lp.push_int(b.count as i64);
    lp.push_int(b.deleted as i64);
    let mf = b.master_fields();
    lp.push_int(mf.len() as i64);
    for f in &mf {
        lp.push(f);
    }
    lp.push_int(0);
    let mut off = b.first_offset();
    while !b.at_end(off) {
        let e = b.entry_at(master, off);
        off = e.end;
        let pairs: Vec<(&[u8], &[u8])> = b.pairs(&e).collect();
        let same = pairs.len() == mf.len() && pairs.iter().zip(&mf).all(|((f, _), m)| f == m);
        let flags = (e.deleted as i64) | if same { 2 } else { 0 };
        lp.push_int(flags);
        lp.push_int(e.id.ms.wrapping_sub(master.ms) as i64);
        lp.push_int(e.id.seq.wrapping_sub(master.seq) as i64);
        let n = pairs.len() as i64;
        if same {
            for (_, v) in &pairs {
                lp.push(v);
            }
            lp.push_int(n + 3);
        } else {
            lp.push_int(n);
            for (f, v) in &pairs {
                lp.push(f);
                lp.push(v);
            }
            lp.push_int(n * 2 + 4);
        }
    }
    lp.finish()
}

fn lp_int(e: Option<&LpEntry>) -> rdb::Result<i64> {
    match e {
        Some(LpEntry::Int(n)) => Ok(*n),
        Some(LpEntry::Str(s)) => num::parse_i64(s).ok_or(RdbError::Blob("stream listpack: integer expected")),
        None => Err(RdbError::Blob("stream listpack truncated")),
    }
}

/// Reads one of Redis's stream listpacks into a block, validating its structure like
/// `streamValidateListpackIntegrity` with deep checks.
fn listpack_to_block(master: StreamId, lp: &[u8], prev_last: &mut Option<StreamId>) -> rdb::Result<Block> {
    let items = listpack::decode(lp)?;
    let mut it = items.iter();
    let count = lp_int(it.next())?;
    let deleted = lp_int(it.next())?;
    let nmaster = lp_int(it.next())?;
    if count < 0 || deleted < 0 || nmaster < 0 || nmaster as usize > items.len() {
        return Err(RdbError::Blob("stream listpack: bad master entry"));
    }
    let mut master_fields = Vec::with_capacity(nmaster as usize);
    for _ in 0..nmaster {
        let f = it.next().ok_or(RdbError::Blob("stream listpack truncated"))?;
        master_fields.push(f.to_bytes());
    }
    if lp_int(it.next())? != 0 {
        return Err(RdbError::Blob("stream listpack: bad master terminator"));
    }
    let mut fake: Vec<&[u8]> = Vec::with_capacity(master_fields.len() * 2);
    for f in &master_fields {
        fake.push(f);
        fake.push(b"");
    }
    let mut b = Block::new(&fake);
    let (mut live, mut dead) = (0i64, 0i64);
    while let Some(first) = it.next() {
        let flags = lp_int(Some(first))?;
        let ms = master.ms.wrapping_add(lp_int(it.next())? as u64);
        let seq = master.seq.wrapping_add(lp_int(it.next())? as u64);
        let id = StreamId::new(ms, seq);
        if prev_last.is_some_and(|p| id <= p) {
            return Err(RdbError::Blob("stream IDs not increasing"));
        }
        *prev_last = Some(id);
        let mut vals: Vec<std::borrow::Cow<[u8]>> = Vec::new();
        let n;
        if flags & 2 != 0 {
            n = master_fields.len();
            for f in &master_fields {
                vals.push(f.clone());
                vals.push(it.next().ok_or(RdbError::Blob("stream listpack truncated"))?.to_bytes());
            }
        } else {
            let k = lp_int(it.next())?;
            if k < 0 || k as usize > items.len() {
                return Err(RdbError::Blob("stream listpack: bad field count"));
            }
            n = k as usize;
            for _ in 0..n * 2 {
                vals.push(it.next().ok_or(RdbError::Blob("stream listpack truncated"))?.to_bytes());
            }
        }
        let lpc = lp_int(it.next())?;
        let expect = if flags & 2 != 0 { n as i64 + 3 } else { n as i64 * 2 + 4 };
        if lpc != expect {
            return Err(RdbError::Blob("stream listpack: bad lp-count"));
        }
        let pairs: Vec<&[u8]> = vals.iter().map(|v| v.as_ref()).collect();
        if flags & 1 != 0 {
            b.append_deleted(master, id, &pairs);
            dead += 1;
        } else {
            b.append(master, id, &pairs);
            live += 1;
        }
    }
    if live != count || dead != deleted {
        return Err(RdbError::Blob("stream listpack: counts do not match"));
    }
    b.seal();
    Ok(b)
}
