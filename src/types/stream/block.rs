//! One block of stream entries (Redis's listpack node of the stream radix tree).
//!
//! A block is one byte buffer. It starts with the *master fields* — the field names of the
//! entry that opened the block — and then holds entries back to back:
//!
//! ```text
//! master = varint(nfields) (varint(len) bytes)*
//! entry  = flags:u8 varint(ms - master.ms) varint(seq)
//!          SAMEFIELDS ? (varint(len) value)*            (one value per master field)
//!                     : varint(n) (varint(len) field varint(len) value)*
//! ```
//!
//! Entries whose field names equal the master's (the common case: a stream's producers send
//! the same fields) store only their values, as Redis's `STREAM_ITEM_FLAG_SAMEFIELDS` does, so
//! an entry of two 8-byte values costs about 22 bytes. Deleting an entry only sets its
//! `DELETED` flag; the block keeps counts of live and deleted entries, and the stream drops a
//! block when its last live entry goes. The ID's time part is stored as a delta from the block's
//! master ID (its key in the stream's map) and the sequence as it is, since sequences are small
//! while a delta of sequences across milliseconds would wrap.
//!
//! The buffer is produced only by this module (from commands or from a validated RDB listpack),
//! so reading it trusts its structure.

use super::StreamId;

const DELETED: u8 = 1;
const SAMEFIELDS: u8 = 2;

/// A block of entries.
pub struct Block {
    /// Live entries.
    pub count: u32,
    /// Entries flagged as deleted (still in the buffer).
    pub deleted: u32,
    /// Where the entries start (after the master fields).
    entries_at: u32,
    data: Vec<u8>,
}

fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

#[inline]
fn get_varint(buf: &[u8], pos: &mut usize) -> u64 {
    let mut v = 0u64;
    let mut shift = 0;
    loop {
        let b = buf[*pos];
        *pos += 1;
        v |= ((b & 0x7F) as u64) << shift;
        if b < 0x80 {
            return v;
        }
        shift += 7;
    }
}

#[inline]
fn get_bytes<'a>(buf: &'a [u8], pos: &mut usize) -> &'a [u8] {
    let n = get_varint(buf, pos) as usize;
    let s = &buf[*pos..*pos + n];
    *pos += n;
    s
}

fn put_bytes(buf: &mut Vec<u8>, s: &[u8]) {
    put_varint(buf, s.len() as u64);
    buf.extend_from_slice(s);
}

/// An entry located in a block.
#[derive(Clone, Copy)]
pub struct EntryRef {
    pub id: StreamId,
    pub deleted: bool,
    /// Number of field-value pairs.
    pub nfields: usize,
    same: bool,
    /// Offset of the flags byte.
    off: usize,
    /// Offset of the first value (SAMEFIELDS) or field.
    body: usize,
    /// Offset just past the entry.
    pub end: usize,
}

impl Block {
    /// A new block whose master fields are the field names of `pairs` (field, value, ...).
    pub fn new(pairs: &[&[u8]]) -> Block {
        let mut data = Vec::with_capacity(64);
        put_varint(&mut data, (pairs.len() / 2) as u64);
        for f in pairs.iter().step_by(2) {
            put_bytes(&mut data, f);
        }
        Block {
            count: 0,
            deleted: 0,
            entries_at: data.len() as u32,
            data,
        }
    }

    /// Bytes of the buffer (for `stream-node-max-bytes` and MEMORY USAGE).
    pub fn bytes(&self) -> usize {
        self.data.len()
    }

    pub fn capacity(&self) -> usize {
        self.data.capacity()
    }

    /// Frees spare capacity once the block is full. A fresh exact-size copy rather than
    /// `shrink_to_fit`: mimalloc keeps a shrunk allocation in place (and its whole size class)
    /// when the new size is at least half the old one, which left every full block at 4 KB.
    pub fn seal(&mut self) {
        if self.data.capacity() > self.data.len() {
            self.data = self.data.as_slice().to_vec();
        }
    }

    /// The master field names.
    pub fn master_fields(&self) -> Vec<&[u8]> {
        let mut p = 0;
        let n = get_varint(&self.data, &mut p) as usize;
        (0..n).map(|_| get_bytes(&self.data, &mut p)).collect()
    }

    fn same_as_master(&self, pairs: &[&[u8]]) -> bool {
        let mut p = 0;
        let n = get_varint(&self.data, &mut p) as usize;
        if n != pairs.len() / 2 {
            return false;
        }
        pairs.iter().step_by(2).all(|f| get_bytes(&self.data, &mut p) == *f)
    }

    /// Appends an entry (IDs grow: `id` is greater than every ID in the block).
    pub fn append(&mut self, master: StreamId, id: StreamId, pairs: &[&[u8]]) {
        let same = self.same_as_master(pairs);
        self.data.push(if same { SAMEFIELDS } else { 0 });
        put_varint(&mut self.data, id.ms.wrapping_sub(master.ms));
        put_varint(&mut self.data, id.seq);
        if same {
            for v in pairs.iter().skip(1).step_by(2) {
                put_bytes(&mut self.data, v);
            }
        } else {
            put_varint(&mut self.data, (pairs.len() / 2) as u64);
            for s in pairs {
                put_bytes(&mut self.data, s);
            }
        }
        self.count += 1;
    }

    /// Appends an entry already flagged deleted (RDB load keeps tombstones as they were).
    pub fn append_deleted(&mut self, master: StreamId, id: StreamId, pairs: &[&[u8]]) {
        let at = self.data.len();
        self.append(master, id, pairs);
        self.data[at] |= DELETED;
        self.count -= 1;
        self.deleted += 1;
    }

    /// The offset of the first entry.
    pub fn first_offset(&self) -> usize {
        self.entries_at as usize
    }

    /// Whether `off` is past the last entry.
    pub fn at_end(&self, off: usize) -> bool {
        off >= self.data.len()
    }

    /// Decodes the entry at `off`.
    pub fn entry_at(&self, master: StreamId, off: usize) -> EntryRef {
        let d = &self.data;
        let flags = d[off];
        let mut p = off + 1;
        let ms = master.ms.wrapping_add(get_varint(d, &mut p));
        let seq = get_varint(d, &mut p);
        let same = flags & SAMEFIELDS != 0;
        let nfields;
        let body;
        if same {
            let mut q = 0;
            nfields = get_varint(d, &mut q) as usize;
            body = p;
            for _ in 0..nfields {
                get_bytes(d, &mut p);
            }
        } else {
            nfields = get_varint(d, &mut p) as usize;
            body = p;
            for _ in 0..nfields * 2 {
                get_bytes(d, &mut p);
            }
        }
        EntryRef {
            id: StreamId { ms, seq },
            deleted: flags & DELETED != 0,
            nfields,
            same,
            off,
            body,
            end: p,
        }
    }

    /// Offsets of every entry, in order (for reverse iteration; a block holds at most
    /// `stream-node-max-entries` entries).
    pub fn offsets(&self, master: StreamId) -> Vec<usize> {
        let mut v = Vec::with_capacity((self.count + self.deleted) as usize);
        let mut off = self.first_offset();
        while !self.at_end(off) {
            v.push(off);
            off = self.entry_at(master, off).end;
        }
        v
    }

    /// Flags the entry at `e` deleted and updates the counts.
    pub fn mark_deleted(&mut self, e: &EntryRef) {
        if self.data[e.off] & DELETED == 0 {
            self.data[e.off] |= DELETED;
            self.count -= 1;
            self.deleted += 1;
        }
    }

    /// The field-value pairs of an entry.
    pub fn pairs<'a>(&'a self, e: &EntryRef) -> Pairs<'a> {
        let mut mp = 0;
        if e.same {
            get_varint(&self.data, &mut mp);
        }
        Pairs {
            data: &self.data,
            same: e.same,
            master_pos: mp,
            pos: e.body,
            left: e.nfields,
        }
    }

    /// An independent copy (COPY).
    pub fn duplicate(&self) -> Block {
        Block {
            count: self.count,
            deleted: self.deleted,
            entries_at: self.entries_at,
            data: self.data.clone(),
        }
    }
}

/// Iterator over an entry's `(field, value)` pairs.
pub struct Pairs<'a> {
    data: &'a [u8],
    same: bool,
    master_pos: usize,
    pos: usize,
    left: usize,
}

impl<'a> Iterator for Pairs<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let f = if self.same {
            get_bytes(self.data, &mut self.master_pos)
        } else {
            get_bytes(self.data, &mut self.pos)
        };
        let v = get_bytes(self.data, &mut self.pos);
        Some((f, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip() {
        let m = StreamId { ms: 100, seq: 5 };
        let mut b = Block::new(&[b"f1", b"v1", b"f2", b"v2"]);
        b.append(m, m, &[b"f1", b"a", b"f2", b"b"]);
        b.append(m, StreamId { ms: 101, seq: 0 }, &[b"x", b"y"]);
        b.append(m, StreamId { ms: 105, seq: 2 }, &[b"f1", b"c", b"f2", b"d"]);
        let offs = b.offsets(m);
        assert_eq!(offs.len(), 3);
        let e = b.entry_at(m, offs[1]);
        assert_eq!(e.id, StreamId { ms: 101, seq: 0 });
        let p: Vec<_> = b.pairs(&e).collect();
        assert_eq!(p, vec![(&b"x"[..], &b"y"[..])]);
        let e = b.entry_at(m, offs[2]);
        let p: Vec<_> = b.pairs(&e).collect();
        assert_eq!(p, vec![(&b"f1"[..], &b"c"[..]), (&b"f2"[..], &b"d"[..])]);
        b.mark_deleted(&e);
        assert_eq!((b.count, b.deleted), (2, 1));
        assert!(b.entry_at(m, offs[2]).deleted);
    }
}
