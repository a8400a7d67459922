//! The compact form of a small sorted set (Redis's `listpack` encoding): one buffer of entries
//! sorted by (score, member), scanned linearly like Redis scans its listpack.
//!
//! An entry is a varint header `member_len * 2 + is_float`, the member bytes, then the score:
//! a zigzag varint when it is an integer (most scores are: ranks, timestamps, counters), else
//! the 8 bytes of the double. A 10-member set of short names costs ~12 bytes per member.

/// Largest magnitude stored as an integer (every integer up to it is exactly a double).
const INT_LIMIT: f64 = 9007199254740992.0; // 2^53

#[derive(Clone, Default)]
pub struct Pack {
    n: u32,
    buf: Vec<u8>,
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(buf: &[u8], pos: &mut usize) -> u64 {
    let mut v = 0u64;
    let mut shift = 0;
    loop {
        let b = buf[*pos];
        *pos += 1;
        v |= ((b & 0x7f) as u64) << shift;
        if b < 0x80 {
            return v;
        }
        shift += 7;
    }
}

/// One decoded entry: member, score, and where the entry starts and ends in the buffer.
pub struct Ent<'a> {
    pub member: &'a [u8],
    pub score: f64,
    pub start: usize,
    pub end: usize,
}

fn encode(member: &[u8], score: f64, out: &mut Vec<u8>) {
    // -0 becomes 0 here, as in a Redis listpack (which stores "-0" as the integer 0).
    let as_int = score == score.trunc() && score.abs() < INT_LIMIT;
    put_varint(out, (member.len() as u64) << 1 | (!as_int) as u64);
    out.extend_from_slice(member);
    if as_int {
        let i = score as i64;
        put_varint(out, ((i << 1) ^ (i >> 63)) as u64);
    } else {
        out.extend_from_slice(&score.to_le_bytes());
    }
}

/// Iterates the entries of a buffer in order.
pub struct Iter<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = Ent<'a>;

    fn next(&mut self) -> Option<Ent<'a>> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let start = self.pos;
        let h = get_varint(self.buf, &mut self.pos);
        let mlen = (h >> 1) as usize;
        let member = &self.buf[self.pos..self.pos + mlen];
        self.pos += mlen;
        let score = if h & 1 == 1 {
            let mut b = [0u8; 8];
            b.copy_from_slice(&self.buf[self.pos..self.pos + 8]);
            self.pos += 8;
            f64::from_le_bytes(b)
        } else {
            let z = get_varint(self.buf, &mut self.pos);
            ((z >> 1) as i64 ^ -((z & 1) as i64)) as f64
        };
        Some(Ent {
            member,
            score,
            start,
            end: self.pos,
        })
    }
}

impl Pack {
    pub fn len(&self) -> usize {
        self.n as usize
    }

    pub fn iter(&self) -> Iter<'_> {
        Iter { buf: &self.buf, pos: 0 }
    }

    pub fn memory(&self) -> usize {
        self.buf.capacity() + std::mem::size_of::<Pack>()
    }

    pub fn find(&self, member: &[u8]) -> Option<Ent<'_>> {
        self.iter().find(|e| e.member == member)
    }

    /// Inserts a member that is not present, at its place in the order.
    pub fn insert(&mut self, member: &[u8], score: f64) {
        let at = self
            .iter()
            .find(|e| e.score > score || (e.score == score && e.member > member))
            .map_or(self.buf.len(), |e| e.start);
        let mut enc = Vec::with_capacity(member.len() + 10);
        encode(member, score, &mut enc);
        // Grow exactly (like a listpack realloc): small sets stay tight.
        self.buf.reserve_exact(enc.len());
        self.buf.splice(at..at, enc);
        self.n += 1;
    }

    /// Appends a member known to sort after every present one (loading, conversion).
    pub fn push_sorted(&mut self, member: &[u8], score: f64) {
        encode(member, score, &mut self.buf);
        self.n += 1;
    }

    pub fn shrink(&mut self) {
        self.buf.shrink_to_fit();
    }

    /// Removes the entry occupying `start..end`.
    pub fn remove_span(&mut self, start: usize, end: usize, count: usize) {
        self.buf.drain(start..end);
        self.n -= count as u32;
    }

    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let (s, e, score) = self.find(member).map(|e| (e.start, e.end, e.score))?;
        self.remove_span(s, e, 1);
        Some(score)
    }

    /// Byte span of the entries with ranks `from..to`.
    pub fn span(&self, from: usize, to: usize) -> (usize, usize) {
        let mut it = self.iter().enumerate();
        let mut start = self.buf.len();
        let mut end = self.buf.len();
        for (i, e) in &mut it {
            if i == from {
                start = e.start;
            }
            if i + 1 == to {
                end = e.end;
                break;
            }
        }
        (start, end)
    }
}
