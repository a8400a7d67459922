//! Redis's compact blob formats, as they cross the RDB boundary (DUMP/RESTORE, snapshots).
//!
//! Redis 7.0 stores small collections in memory as *listpacks* and writes those blobs into RDB
//! files verbatim; older files carry *ziplists* (lists, hashes, zsets before 7.0), *intsets*
//! (sets of integers) and *zipmaps* (hashes before 2.6). Ochre keeps its own in-memory layouts, so
//! these codecs only run when a value is saved or loaded: [`encode`] / [`Builder`] produce a
//! listpack byte for byte as Redis builds one by appending, and the decoders turn a blob back into
//! entries after validating it as strictly as Redis's `*ValidateIntegrity` functions with deep
//! checks. A blob comes from the network (RESTORE) or a file, so every decoder treats it as hostile:
//! a malformed one is an [`RdbError`], never a panic, an out-of-bounds read or a huge allocation.
//!
//! # Listpack layout (`listpack.c`)
//!
//! ```text
//! <total bytes: u32 LE> <element count: u16 LE, 65535 = "count it"> <entry>... <0xFF>
//! entry = <encoding + data> <backlen: the size of encoding + data, 1..5 bytes>
//! ```
//!
//! Encodings, by the first byte: `0xxxxxxx` 7-bit unsigned int; `10xxxxxx` string of up to 63
//! bytes; `110xxxxx x` 13-bit signed int; `1110xxxx x` string of up to 4095 bytes; `0xF0` + u32
//! string length; `0xF1`/`0xF2`/`0xF3`/`0xF4` 16/24/32/64-bit signed ints (little-endian). The
//! backlen is written so it can be read backwards: its last byte holds the low 7 bits, and every
//! byte but the first has the high bit set to say "more bytes to the left".

use super::rdb::{RdbError, Result};
use crate::util::num;
use std::borrow::Cow;

/// One decoded listpack or ziplist element: the formats store integers natively.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LpEntry<'a> {
    Str(&'a [u8]),
    Int(i64),
}

impl<'a> LpEntry<'a> {
    /// The element as Redis hands it out: strings as they are, integers in decimal.
    pub fn to_bytes(&self) -> Cow<'a, [u8]> {
        match *self {
            LpEntry::Str(s) => Cow::Borrowed(s),
            LpEntry::Int(n) => Cow::Owned(num::i64_to_bytes(n)),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Listpack: writing
// ---------------------------------------------------------------------------------------------

const LP_HDR_SIZE: usize = 6;
const LP_EOF: u8 = 0xFF;
/// The header's element count when the real count does not fit 16 bits.
const LP_COUNT_UNKNOWN: u16 = u16::MAX;

/// Builds a listpack by appending, exactly as a sequence of Redis `lpAppend` calls would.
pub struct Builder {
    buf: Vec<u8>,
    count: usize,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    pub fn new() -> Builder {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(&[0; LP_HDR_SIZE]);
        Builder { buf, count: 0 }
    }

    /// Appends a string; like `lpAppend`, one that is a canonical integer (string2ll rules) is
    /// stored with the smallest integer encoding instead.
    pub fn push(&mut self, s: &[u8]) {
        match num::parse_i64(s) {
            Some(n) => self.push_int(n),
            None => self.push_str(s),
        }
    }

    /// Appends an integer (`lpAppendInteger`).
    pub fn push_int(&mut self, v: i64) {
        let mut enc = [0u8; 9];
        let len = match v {
            0..=127 => {
                enc[0] = v as u8;
                1
            }
            -4096..=4095 => {
                // Two's complement in 13 bits: the top 5 go under the 110 tag.
                let u = (v as u16) & 0x1FFF;
                enc[0] = 0xC0 | (u >> 8) as u8;
                enc[1] = u as u8;
                2
            }
            -32768..=32767 => {
                enc[0] = 0xF1;
                enc[1..3].copy_from_slice(&(v as i16).to_le_bytes());
                3
            }
            -8388608..=8388607 => {
                enc[0] = 0xF2;
                enc[1..4].copy_from_slice(&(v as i32).to_le_bytes()[..3]);
                4
            }
            -2147483648..=2147483647 => {
                enc[0] = 0xF3;
                enc[1..5].copy_from_slice(&(v as i32).to_le_bytes());
                5
            }
            _ => {
                enc[0] = 0xF4;
                enc[1..9].copy_from_slice(&v.to_le_bytes());
                9
            }
        };
        self.buf.extend_from_slice(&enc[..len]);
        self.backlen(len);
        self.count += 1;
    }

    /// Appends bytes with a string encoding, even if they look like a number.
    pub fn push_str(&mut self, s: &[u8]) {
        let n = s.len();
        let head = if n < 64 {
            self.buf.push(0x80 | n as u8);
            1
        } else if n < 4096 {
            self.buf.push(0xE0 | (n >> 8) as u8);
            self.buf.push(n as u8);
            2
        } else {
            self.buf.push(0xF0);
            self.buf.extend_from_slice(&(n as u32).to_le_bytes());
            5
        };
        self.buf.extend_from_slice(s);
        self.backlen(head + n);
        self.count += 1;
    }

    /// Appends an already decoded entry, keeping its encoding family.
    pub fn push_entry(&mut self, e: LpEntry) {
        match e {
            LpEntry::Str(s) => self.push_str(s),
            LpEntry::Int(n) => self.push_int(n),
        }
    }

    /// Writes the size of the entry just appended so it can be read right to left.
    fn backlen(&mut self, l: usize) {
        let l = l as u64;
        let n = backlen_size(l);
        for i in (0..n).rev() {
            // Group i counts from the low end; only the leftmost byte lacks the high bit.
            let group = ((l >> (7 * i)) & 127) as u8;
            self.buf.push(if i == n - 1 { group } else { group | 128 });
        }
    }

    /// Number of elements appended so far.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Terminates the listpack and fills in its header.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(LP_EOF);
        // Redis refuses to grow a listpack past 4 GB; collections that large are never written
        // as a single listpack (the type owners switch encodings far earlier), so saturating only
        // guards the arithmetic.
        let total = u32::try_from(self.buf.len()).unwrap_or(u32::MAX);
        self.buf[..4].copy_from_slice(&total.to_le_bytes());
        let count = u16::try_from(self.count).unwrap_or(LP_COUNT_UNKNOWN);
        self.buf[4..6].copy_from_slice(&count.to_le_bytes());
        self.buf
    }
}

/// Bytes the backlen of an entry of size `l` takes (`lpEncodeBacklen` with a NULL buffer; note
/// Redis's slightly uneven thresholds, which the format depends on).
fn backlen_size(l: u64) -> usize {
    if l <= 127 {
        1
    } else if l < 16383 {
        2
    } else if l < 2097151 {
        3
    } else if l < 268435455 {
        4
    } else {
        5
    }
}

/// A listpack holding `items` in order, integer-looking strings int-encoded (as Redis builds
/// lists, hashes and sets).
pub fn encode<'a>(items: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut b = Builder::new();
    for s in items {
        b.push(s);
    }
    b.finish()
}

/// A listpack from entries whose encoding family the caller chooses (zset scores that are
/// integral go in as `Int`, others as their `d2string` text).
pub fn encode_entries<'a>(items: impl IntoIterator<Item = LpEntry<'a>>) -> Vec<u8> {
    let mut b = Builder::new();
    for e in items {
        b.push_entry(e);
    }
    b.finish()
}

// ---------------------------------------------------------------------------------------------
// Listpack: reading
// ---------------------------------------------------------------------------------------------

fn corrupt(what: &'static str) -> RdbError {
    RdbError::Blob(what)
}

/// Sign-extends the low `bits` bits of `u`.
fn sign_extend(u: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((u << shift) as i64) >> shift
}

/// Little-endian unsigned integer from up to 8 bytes.
fn le(bytes: &[u8]) -> u64 {
    bytes.iter().rev().fold(0u64, |acc, &b| (acc << 8) | b as u64)
}

/// Validates a whole listpack (`lpValidateIntegrity` with deep checks) and returns its entries.
pub fn decode(lp: &[u8]) -> Result<Vec<LpEntry<'_>>> {
    let size = lp.len();
    if size < LP_HDR_SIZE + 1 {
        return Err(corrupt("listpack too short"));
    }
    if le(&lp[..4]) != size as u64 {
        return Err(corrupt("listpack size mismatch"));
    }
    if lp[size - 1] != LP_EOF {
        return Err(corrupt("listpack not terminated"));
    }
    let numele = le(&lp[4..6]) as u16;
    let last = size - 1; // index of the terminator
                         // Each entry takes at least two bytes, which bounds the allocation by the input size.
    let mut out = Vec::with_capacity((numele as usize).min(size / 2));
    let mut p = LP_HDR_SIZE;
    while lp[p] != LP_EOF {
        let b = lp[p];
        // (bytes of encoding + length, bytes of data)
        let (head, data_len): (usize, usize) = match b {
            0x00..=0x7F => (1, 0),
            0x80..=0xBF => (1, (b & 0x3F) as usize),
            0xC0..=0xDF => (1, 1),
            0xE0..=0xEF => {
                if p + 2 > last {
                    return Err(corrupt("listpack entry past end"));
                }
                (2, (((b & 0x0F) as usize) << 8) | lp[p + 1] as usize)
            }
            0xF0 => {
                if p + 5 > last {
                    return Err(corrupt("listpack entry past end"));
                }
                (5, le(&lp[p + 1..p + 5]) as usize)
            }
            0xF1 => (1, 2),
            0xF2 => (1, 3),
            0xF3 => (1, 4),
            0xF4 => (1, 8),
            _ => return Err(corrupt("bad listpack encoding")),
        };
        if p + head > last {
            return Err(corrupt("listpack entry past end"));
        }
        let enc_len = head.checked_add(data_len).ok_or(corrupt("listpack entry past end"))?;
        let back = backlen_size(enc_len as u64);
        let next = p
            .checked_add(enc_len + back)
            .filter(|&n| n <= last)
            .ok_or(corrupt("listpack entry past end"))?;
        // The backlen read right to left must give the entry's size (`lpDecodeBacklen`).
        if read_backlen(lp, next - 1, LP_HDR_SIZE)? != enc_len as u64 {
            return Err(corrupt("listpack backlen mismatch"));
        }
        let data = &lp[p + head..p + enc_len];
        out.push(match b {
            0x00..=0x7F => LpEntry::Int(b as i64),
            0x80..=0xBF | 0xE0..=0xF0 => LpEntry::Str(data),
            0xC0..=0xDF => LpEntry::Int(sign_extend((((b & 0x1F) as u64) << 8) | data[0] as u64, 13)),
            _ => LpEntry::Int(sign_extend(le(data), 8 * data.len() as u32)),
        });
        p = next;
    }
    // A stray 0xFF before the end stops the walk early: the listpack would be truncated.
    if p != last {
        return Err(corrupt("listpack terminator misplaced"));
    }
    if numele != LP_COUNT_UNKNOWN && numele as usize != out.len() {
        return Err(corrupt("listpack count mismatch"));
    }
    Ok(out)
}

/// Reads a backlen whose last byte is at `end`, walking left but not below `floor`. Like Redis,
/// more than 5 bytes is invalid.
fn read_backlen(lp: &[u8], end: usize, floor: usize) -> Result<u64> {
    let mut val = 0u64;
    let mut shift = 0;
    let mut i = end;
    loop {
        let b = lp[i];
        val |= ((b & 127) as u64) << shift;
        if b & 128 == 0 {
            return Ok(val);
        }
        shift += 7;
        if shift > 28 || i <= floor {
            return Err(corrupt("bad listpack backlen"));
        }
        i -= 1;
    }
}

// ---------------------------------------------------------------------------------------------
// Ziplist (`ziplist.c`, RDB types before 7.0)
// ---------------------------------------------------------------------------------------------
//
// <zlbytes: u32 LE> <zltail: u32 LE, offset of the last entry> <zllen: u16 LE> <entry>... <0xFF>
// entry = <prevlen: 1 byte < 254, or 0xFE + u32 LE> <encoding> <data>
// encoding: 00xxxxxx / 01xxxxxx x (big-endian) / 0x80 + u32 BE: string lengths; 0xC0 i16,
// 0xD0 i32, 0xE0 i64, 0xF0 i24, 0xFE i8 (little-endian); 0xF1..=0xFD the values 0..=12.

const ZL_HDR_SIZE: usize = 10;
const ZIP_END: u8 = 0xFF;
const ZIP_BIG_PREVLEN: u8 = 0xFE;

/// Validates a ziplist (`ziplistValidateIntegrity` with deep checks) and returns its entries.
pub fn ziplist_decode(zl: &[u8]) -> Result<Vec<LpEntry<'_>>> {
    let size = zl.len();
    if size < ZL_HDR_SIZE + 1 {
        return Err(corrupt("ziplist too short"));
    }
    if le(&zl[..4]) != size as u64 {
        return Err(corrupt("ziplist size mismatch"));
    }
    let last = size - 1; // the terminator's index
    if zl[last] != ZIP_END {
        return Err(corrupt("ziplist not terminated"));
    }
    let tail = le(&zl[4..8]);
    if tail > last as u64 {
        return Err(corrupt("ziplist tail out of range"));
    }
    let header_count = le(&zl[8..10]) as u16;
    let past_end = || corrupt("ziplist entry past end");
    let mut out = Vec::with_capacity((header_count as usize).min(size / 2));
    let mut p = ZL_HDR_SIZE;
    let mut prev_start = None;
    let mut prev_size = 0usize;
    while zl[p] != ZIP_END {
        // prevlen
        let (prevlen, prls) = if zl[p] < ZIP_BIG_PREVLEN {
            (zl[p] as usize, 1)
        } else {
            if p + 5 > last {
                return Err(past_end());
            }
            (le(&zl[p + 1..p + 5]) as usize, 5)
        };
        let e = p + prls;
        if e > last {
            return Err(past_end());
        }
        let raw = zl[e];
        let enc = if raw < 0xC0 { raw & 0xC0 } else { raw };
        let lensize = match enc {
            0x00 | 0xC0 | 0xD0 | 0xE0 | 0xF0 | 0xFE | 0xF1..=0xFD => 1,
            0x40 => 2,
            0x80 => 5,
            _ => return Err(corrupt("bad ziplist encoding")),
        };
        if e + lensize > last {
            return Err(past_end());
        }
        let len = match enc {
            0x00 => (raw & 0x3F) as usize,
            0x40 => (((raw & 0x3F) as usize) << 8) | zl[e + 1] as usize,
            0x80 => u32::from_be_bytes([zl[e + 1], zl[e + 2], zl[e + 3], zl[e + 4]]) as usize,
            0xFE => 1,
            0xC0 => 2,
            0xF0 => 3,
            0xD0 => 4,
            0xE0 => 8,
            _ => 0, // 4-bit immediate
        };
        let data_start = e + lensize;
        let next = data_start
            .checked_add(len)
            .filter(|&n| n <= last)
            .ok_or_else(past_end)?;
        if prevlen > p - ZL_HDR_SIZE {
            return Err(corrupt("ziplist prevlen out of range"));
        }
        if prevlen != prev_size {
            return Err(corrupt("ziplist prevlen mismatch"));
        }
        let data = &zl[data_start..next];
        out.push(match enc {
            0x00 | 0x40 | 0x80 => LpEntry::Str(data),
            0xF1..=0xFD => LpEntry::Int((enc & 0x0F) as i64 - 1),
            _ => LpEntry::Int(sign_extend(le(data), 8 * len as u32)),
        });
        prev_size = next - p;
        prev_start = Some(p);
        p = next;
    }
    if p != last {
        return Err(corrupt("ziplist terminator misplaced"));
    }
    if let Some(start) = prev_start {
        if start as u64 != tail {
            return Err(corrupt("ziplist tail mismatch"));
        }
    }
    if header_count != u16::MAX && header_count as usize != out.len() {
        return Err(corrupt("ziplist count mismatch"));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Intset (`intset.c`)
// ---------------------------------------------------------------------------------------------
//
// <encoding: u32 LE, the width of every element: 2, 4 or 8> <length: u32 LE> <elements LE,
// sorted ascending, no duplicates>

/// Validates an intset (`intsetValidateIntegrity` with deep checks: known width, exact size,
/// not empty, strictly ascending) and returns its elements.
pub fn intset_decode(is: &[u8]) -> Result<Vec<i64>> {
    if is.len() < 8 {
        return Err(corrupt("intset too short"));
    }
    let width = le(&is[..4]);
    if !matches!(width, 2 | 4 | 8) {
        return Err(corrupt("bad intset encoding"));
    }
    let count = le(&is[4..8]);
    if 8 + count * width != is.len() as u64 {
        return Err(corrupt("intset size mismatch"));
    }
    if count == 0 {
        return Err(corrupt("empty intset"));
    }
    let w = width as usize;
    let mut out: Vec<i64> = Vec::with_capacity(count as usize);
    for chunk in is[8..].chunks_exact(w) {
        let v = sign_extend(le(chunk), 8 * w as u32);
        if out.last().is_some_and(|&prev| v <= prev) {
            return Err(corrupt("intset not sorted"));
        }
        out.push(v);
    }
    Ok(out)
}

/// An intset of `sorted` (ascending, distinct) in the narrowest width that holds every element.
///
/// Redis never narrows an intset after removals, so a set that once held a wide integer may be
/// written wider by Redis than here; both read back the same.
pub fn intset_encode(sorted: &[i64]) -> Vec<u8> {
    let width: usize = sorted.iter().fold(2, |w, &v| {
        if i16::try_from(v).is_ok() {
            w
        } else if i32::try_from(v).is_ok() {
            w.max(4)
        } else {
            8
        }
    });
    let mut out = Vec::with_capacity(8 + width * sorted.len());
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(sorted.len() as u32).to_le_bytes());
    for &v in sorted {
        out.extend_from_slice(&v.to_le_bytes()[..width]);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Zipmap (`zipmap.c`, hashes in RDB files older than Redis 2.6)
// ---------------------------------------------------------------------------------------------
//
// <count: u8, 254 = "count it"> (<len> <key> <len> <free: u8> <value> <free bytes>)... <0xFF>
// len = 1 byte < 254, or 254 + u32 LE.

const ZIPMAP_BIGLEN: u8 = 254;
const ZIPMAP_END: u8 = 0xFF;

/// Validates a zipmap (`zipmapValidateIntegrity` with deep checks) and returns its pairs.
pub fn zipmap_decode(zm: &[u8]) -> Result<Vec<(&[u8], &[u8])>> {
    let size = zm.len();
    if size < 2 {
        return Err(corrupt("zipmap too short"));
    }
    let last = size - 1;
    if zm[last] != ZIPMAP_END {
        return Err(corrupt("zipmap not terminated"));
    }
    let past_end = || corrupt("zipmap entry past end");
    // Reads a length at `p`; returns (length, bytes it took). The caller guarantees p <= last.
    let read_len = |p: usize| -> Result<(usize, usize)> {
        if zm[p] < ZIPMAP_BIGLEN {
            return Ok((zm[p] as usize, 1));
        }
        if p + 5 > last {
            return Err(past_end());
        }
        Ok((le(&zm[p + 1..p + 5]) as usize, 5))
    };
    let mut out = Vec::new();
    let mut p = 1;
    while zm[p] != ZIPMAP_END {
        let (klen, s) = read_len(p)?;
        let key_start = p + s;
        p = key_start
            .checked_add(klen)
            .filter(|&n| n <= last)
            .ok_or_else(past_end)?;
        let (vlen, s) = read_len(p)?;
        let free_at = p + s;
        if free_at > last {
            return Err(past_end());
        }
        let free = zm[free_at] as usize;
        let val_start = free_at + 1;
        let val_end = val_start
            .checked_add(vlen)
            .filter(|&n| n <= last)
            .ok_or_else(past_end)?;
        p = val_end.checked_add(free).filter(|&n| n <= last).ok_or_else(past_end)?;
        out.push((&zm[key_start..key_start + klen], &zm[val_start..val_end]));
    }
    if out.is_empty() {
        return Err(corrupt("empty zipmap"));
    }
    if zm[0] != ZIPMAP_BIGLEN && zm[0] as usize != out.len() {
        return Err(corrupt("zipmap count mismatch"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap_or(0))
            .collect()
    }

    /// The string blob inside a DUMP payload of a single-blob type: type byte, RDB string. A
    /// quicklist (type 18) has a node count and a container kind before its first blob.
    fn payload_blob(p: &[u8]) -> Vec<u8> {
        let skip = if p[0] == 18 { 3 } else { 1 };
        let mut r = super::super::rdb::Reader::new(&p[skip..p.len() - 10]);
        r.string().map(|s| s.into_owned()).unwrap_or_default()
    }

    const LIST_VALUES: &[&str] = &[
        "a",
        "1",
        "-1",
        "0",
        "127",
        "128",
        "-4096",
        "4095",
        "4096",
        "-4097",
        "-32768",
        "32767",
        "32768",
        "-8388608",
        "8388607",
        "8388608",
        "2147483647",
        "-2147483648",
        "2147483648",
        "9223372036854775807",
        "-9223372036854775808",
        "9223372036854775808",
        "007",
        "-0",
    ];

    fn list_values() -> Vec<Vec<u8>> {
        let mut v: Vec<Vec<u8>> = LIST_VALUES.iter().map(|s| s.as_bytes().to_vec()).collect();
        v.push(vec![b'x'; 63]);
        v.push(vec![b'y'; 64]);
        v.push(vec![b'z'; 200]);
        v.push(Vec::new());
        v
    }

    /// `RPUSH l <list_values>` + `DUMP l` on redis-server 7.0.15 (rdbcompression no): a quicklist
    /// with one packed node.
    const REDIS_LIST: &str = "12010241dbdb0100001c008161020101dfff0200017f01c08002d00002cfff02f1001003f1ffef03f1008003f1ff7f03f200800004f200008004f2ffff7f04f30000800005f3ffffff7f05f30000008005f4000000800000000009f4ffffffffffffff7f09f40000000000000080099339323233333732303336383534373735383038148330303704822d3003bf78787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787840e0407979797979797979797979797979797979797979797979797979797979797979797979797979797979797979797979797979797979797979797979797979797942e0c87a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a01ca8001ff0a004add90a5f8a48f4a";
    /// `HSET h2 f1 v1 2 -3 long <60 q>` + DUMP.
    const REDIS_HASH: &str = "10405858000000060082663103827631030201dffd02846c6f6e6705bc7171717171717171717171717171717171717171717171717171717171717171717171717171717171717171717171717171717171717171717171713dff0a00044adbb1c24b5c28";
    /// `ZADD z 1 a 2.5 b -3 c 1e20 d 100000 e` + DUMP.
    const REDIS_ZSET: &str = "112c2c0000000a00816302dffd02816102010181620283322e3504816502f2a08601048164028531652b323006ff0a000ce6a5c51a4b74f7";
    /// A 5000-byte element (32-bit string length, 2-byte backlen) and "end": head and tail of
    /// `RPUSH lb <5000 w> end` + DUMP, with the w's in between.
    const REDIS_BIG_HEAD: &str = "120102539b9b1300000200f088130000";
    const REDIS_BIG_TAIL: &str = "278d83656e6404ff";

    #[test]
    fn listpack_matches_redis_list() {
        let values = list_values();
        let lp = encode(values.iter().map(|v| v.as_slice()));
        let p = hex(REDIS_LIST);
        assert_eq!(lp, payload_blob(&p));
        let back = decode(&lp).unwrap_or_default();
        let back: Vec<Vec<u8>> = back.iter().map(|e| e.to_bytes().into_owned()).collect();
        assert_eq!(back, values);
    }

    #[test]
    fn listpack_int_encodings_decode_to_values() {
        let lp = payload_blob(&hex(REDIS_LIST));
        let e = decode(&lp).unwrap_or_default();
        assert_eq!(e[0], LpEntry::Str(b"a"));
        assert_eq!(e[2], LpEntry::Int(-1));
        assert_eq!(e[6], LpEntry::Int(-4096));
        assert_eq!(e[13], LpEntry::Int(-8388608));
        assert_eq!(e[20], LpEntry::Int(i64::MIN));
        assert_eq!(e[21], LpEntry::Str(b"9223372036854775808"));
        assert_eq!(e[23], LpEntry::Str(b"-0"));
    }

    #[test]
    fn listpack_matches_redis_hash_and_zset() {
        let q = vec![b'q'; 60];
        let h: Vec<&[u8]> = vec![b"f1", b"v1", b"2", b"-3", b"long", &q];
        assert_eq!(encode(h.iter().copied()), payload_blob(&hex(REDIS_HASH)));
        let z = encode_entries([
            LpEntry::Str(b"c"),
            LpEntry::Int(-3),
            LpEntry::Str(b"a"),
            LpEntry::Int(1),
            LpEntry::Str(b"b"),
            LpEntry::Str(b"2.5"),
            LpEntry::Str(b"e"),
            LpEntry::Int(100000),
            LpEntry::Str(b"d"),
            LpEntry::Str(b"1e+20"),
        ]);
        assert_eq!(z, payload_blob(&hex(REDIS_ZSET)));
    }

    #[test]
    fn listpack_long_string_matches_redis() {
        let big = vec![b'w'; 5000];
        let lp = encode([big.as_slice(), b"end"]);
        let mut expect = hex(REDIS_BIG_HEAD)[5..].to_vec();
        expect.extend_from_slice(&big);
        expect.extend_from_slice(&hex(REDIS_BIG_TAIL));
        assert_eq!(lp, expect);
        assert_eq!(decode(&lp).map(|e| e.len()), Ok(2));
    }

    #[test]
    fn listpack_backlen_sizes_roundtrip() {
        for n in [0usize, 62, 63, 125, 126, 127, 4094, 4095, 16377, 16378, 16400, 70000] {
            let s = vec![b's'; n];
            let lp = encode([s.as_slice(), b"x"]);
            assert_eq!(decode(&lp), Ok(vec![LpEntry::Str(&s), LpEntry::Str(b"x")]), "len {n}");
        }
        for v in [i64::MIN, -2147483649, 2147483648, -65536, 65535, -4097, 4096, 128, 0] {
            let lp = encode_entries([LpEntry::Int(v)]);
            assert_eq!(decode(&lp), Ok(vec![LpEntry::Int(v)]));
        }
    }

    #[test]
    fn listpack_count_over_u16_is_unknown() {
        let items: Vec<Vec<u8>> = (0..70000).map(|i| format!("{i}").into_bytes()).collect();
        let lp = encode(items.iter().map(|v| v.as_slice()));
        assert_eq!(&lp[4..6], &[0xFF, 0xFF]);
        assert_eq!(decode(&lp).map(|e| e.len()), Ok(70000));
    }

    #[test]
    fn listpack_rejects_malformed() {
        let good = encode([b"ab".as_slice(), b"5"]);
        assert!(decode(&good).is_ok());
        // Empty listpack is valid.
        assert_eq!(decode(&encode([])), Ok(vec![]));
        let mut bad = good.clone();
        bad[0] += 1; // total bytes
        assert!(decode(&bad).is_err());
        let mut bad = good.clone();
        bad[4] = 3; // count
        assert!(decode(&bad).is_err());
        let mut bad = good.clone();
        bad[4] = 0xFF; // unknown count is fine
        bad[5] = 0xFF;
        assert!(decode(&bad).is_ok());
        let mut bad = good.clone();
        bad[9] = 4; // backlen of "ab"
        assert!(decode(&bad).is_err());
        let mut bad = good.clone();
        bad[6] = 0x85; // string length past the end
        assert!(decode(&bad).is_err());
        let mut bad = good.clone();
        bad[6] = 0xF7; // unknown encoding
        assert!(decode(&bad).is_err());
        let mut bad = good.clone();
        let n = bad.len();
        bad[n - 1] = 0; // no terminator
        assert!(decode(&bad).is_err());
        let mut bad = good.clone();
        bad[10] = 0xFF; // early terminator
        assert!(decode(&bad).is_err());
        assert!(decode(&good[..5]).is_err());
        assert!(decode(b"").is_err());
    }

    #[test]
    fn ziplists_from_redis_files() {
        // encodings.rdb (Redis 2.x): list_zipped, ints of every width.
        let zl =
            hex("3000000025000000080000c0010004c0020004c0030004016103016203016303d0a086010006e000bca06501000000ff");
        let e = ziplist_decode(&zl).unwrap_or_default();
        assert_eq!(
            e,
            vec![
                LpEntry::Int(1),
                LpEntry::Int(2),
                LpEntry::Int(3),
                LpEntry::Str(b"a"),
                LpEntry::Str(b"b"),
                LpEntry::Str(b"c"),
                LpEntry::Int(100000),
                LpEntry::Int(6000000000),
            ]
        );
        // zset-ziplist.rdb: scores as 4-bit immediates.
        let zl = hex("1900000016000000040000036f6e6505f2020374776f05f3ff");
        assert_eq!(
            ziplist_decode(&zl),
            Ok(vec![
                LpEntry::Str(b"one"),
                LpEntry::Int(1),
                LpEntry::Str(b"two"),
                LpEntry::Int(2)
            ])
        );
        // hash-ziplist.rdb.
        let zl = hex("1b00000016000000040000026631040276310402663204027632ff");
        assert_eq!(ziplist_decode(&zl).map(|e| e.len()), Ok(4));
    }

    #[test]
    fn ziplist_other_int_widths() {
        // Hand-built: i8 -5, i24 -100000, big prevlen before the last entry.
        let long = vec![b'L'; 300];
        let mut zl = vec![0u8; 10];
        zl.extend_from_slice(&[0x00, 0xFE, 0xFB]); // i8 -5
        zl.extend_from_slice(&[0x03, 0xF0]);
        zl.extend_from_slice(&(-100000i32).to_le_bytes()[..3]); // i24
        zl.extend_from_slice(&[0x05, 0x41, 0x2C]); // 14-bit length 300
        zl.extend_from_slice(&long);
        let tail = zl.len();
        zl.extend_from_slice(&[0xFE]);
        zl.extend_from_slice(&303u32.to_le_bytes());
        zl.push(0xF1); // immediate 0
        zl.push(0xFF);
        let n = zl.len() as u32;
        zl[..4].copy_from_slice(&n.to_le_bytes());
        zl[4..8].copy_from_slice(&(tail as u32).to_le_bytes());
        zl[8..10].copy_from_slice(&4u16.to_le_bytes());
        assert_eq!(
            ziplist_decode(&zl),
            Ok(vec![
                LpEntry::Int(-5),
                LpEntry::Int(-100000),
                LpEntry::Str(&long),
                LpEntry::Int(0)
            ])
        );
        let mut bad = zl.clone();
        bad[4] = bad[4].wrapping_add(1); // tail
        assert!(ziplist_decode(&bad).is_err());
        let mut bad = zl.clone();
        bad[10] = 1; // prevlen of the first entry
        assert!(ziplist_decode(&bad).is_err());
        let mut bad = zl.clone();
        bad[8] = 9; // count
        assert!(ziplist_decode(&bad).is_err());
    }

    #[test]
    fn intsets_match_redis() {
        // SADD s1 1 2 3 -5 / s2 1 70000 -3 / s3 1 5000000000 -3, DUMP on redis 7.0.15.
        let cases: [(&str, &[i64]); 3] = [
            (
                "0b100200000004000000fbff0100020003000a00c8e4dfb66f7396f0",
                &[-5, 1, 2, 3],
            ),
            (
                "0b140400000003000000fdffffff01000000701101000a007b8d4dddaf2286d7",
                &[-3, 1, 70000],
            ),
            (
                "0b200800000003000000fdffffffffffffff010000000000000000f2052a010000000a0088f89414e0bcb85d",
                &[-3, 1, 5000000000],
            ),
        ];
        for (p, vals) in cases {
            let blob = payload_blob(&hex(p));
            assert_eq!(intset_decode(&blob).as_deref(), Ok(vals));
            assert_eq!(intset_encode(vals), blob);
        }
        // encodings.rdb set_zipped_3.
        let blob = hex("080000000600000000ca9a3b000000000094357700000000005ed0b20000000000286bee0000000000f2052a0100000000bca06501000000");
        assert_eq!(intset_decode(&blob).map(|v| v.len()), Ok(6));
    }

    #[test]
    fn intset_rejects_malformed() {
        let good = intset_encode(&[1, 2, 3]);
        assert!(intset_decode(&good).is_ok());
        assert!(intset_decode(&intset_encode(&[])).is_err()); // empty
        let mut bad = good.clone();
        bad[0] = 3;
        assert!(intset_decode(&bad).is_err());
        let mut bad = good.clone();
        bad[4] = 4;
        assert!(intset_decode(&bad).is_err());
        let mut bad = good.clone();
        bad[10] = 1; // 1, 1, 3: duplicate
        assert!(intset_decode(&bad).is_err());
        let mut bad = good.clone();
        bad[4] = 0xFF;
        bad[7] = 0xFF; // huge count
        assert!(intset_decode(&bad).is_err());
    }

    #[test]
    fn zipmap_from_redis_file() {
        // hash-zipmap.rdb (Redis 2.x).
        let zm = hex("020266310200763102663202007632ff");
        assert_eq!(
            zipmap_decode(&zm),
            Ok(vec![
                (b"f1".as_slice(), b"v1".as_slice()),
                (b"f2".as_slice(), b"v2".as_slice())
            ])
        );
        // Free bytes after a value are skipped; 254 = count unknown; big lengths.
        let mut zm = vec![254, 1, b'k', 2, 3, b'v', b'w', 0, 0, 0];
        zm.push(254);
        zm.extend_from_slice(&3u32.to_le_bytes());
        zm.extend_from_slice(b"big");
        zm.extend_from_slice(&[0, 0, 0xFF]);
        assert_eq!(
            zipmap_decode(&zm),
            Ok(vec![
                (b"k".as_slice(), b"vw".as_slice()),
                (b"big".as_slice(), b"".as_slice())
            ])
        );
        assert!(zipmap_decode(&[0, 0xFF]).is_err()); // empty
        let mut bad = hex("020266310200763102663202007632ff");
        bad[0] = 3;
        assert!(zipmap_decode(&bad).is_err());
        bad[0] = 2;
        bad[4] = 9; // free space past the end
        assert!(zipmap_decode(&bad).is_err());
    }

    /// A tiny deterministic generator (xorshift) so the mutation tests are reproducible.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    fn mutate(rng: &mut Rng, blob: &[u8]) -> Vec<u8> {
        let mut b = blob.to_vec();
        for _ in 0..1 + rng.below(4) {
            match rng.below(4) {
                0 if !b.is_empty() => {
                    let i = rng.below(b.len());
                    b[i] = rng.next() as u8;
                }
                1 if !b.is_empty() => {
                    let i = rng.below(b.len());
                    b[i] ^= 1 << rng.below(8);
                }
                2 if !b.is_empty() => {
                    let i = rng.below(b.len());
                    b.truncate(i);
                }
                _ => {
                    let i = rng.below(b.len() + 1);
                    b.insert(i, rng.next() as u8);
                }
            }
        }
        // Keep the size field honest half the time so the walk itself gets exercised.
        if rng.below(2) == 0 && b.len() >= 4 {
            let n = b.len() as u32;
            b[..4].copy_from_slice(&n.to_le_bytes());
        }
        b
    }

    #[test]
    fn mutated_blobs_never_panic() {
        let mut rng = Rng(0x9E3779B97F4A7C15);
        let lps = [
            payload_blob(&hex(REDIS_LIST)),
            payload_blob(&hex(REDIS_HASH)),
            payload_blob(&hex(REDIS_ZSET)),
            encode([vec![b'w'; 5000].as_slice(), b"end"]),
        ];
        let zls = [
            hex("3000000025000000080000c0010004c0020004c0030004016103016203016303d0a086010006e000bca06501000000ff"),
            hex("1900000016000000040000036f6e6505f2020374776f05f3ff"),
        ];
        let iss = [intset_encode(&[-5, 1, 2, 3]), intset_encode(&[-3, 1, 5000000000])];
        let zms = [hex("020266310200763102663202007632ff")];
        let mut accepted = 0;
        for _ in 0..20000 {
            for lp in &lps {
                let m = mutate(&mut rng, lp);
                if let Ok(entries) = decode(&m) {
                    accepted += 1;
                    // Anything accepted re-encodes to something that decodes the same.
                    let again = encode_entries(entries.iter().copied());
                    assert_eq!(decode(&again).as_ref(), Ok(&entries));
                }
            }
            for zl in &zls {
                let _ = ziplist_decode(&mutate(&mut rng, zl));
            }
            for is in &iss {
                let _ = intset_decode(&mutate(&mut rng, is));
            }
            for zm in &zms {
                let _ = zipmap_decode(&mutate(&mut rng, zm));
            }
        }
        assert!(accepted > 0);
        // Pure noise too.
        for len in 0..64 {
            for _ in 0..200 {
                let noise: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                let _ = decode(&noise);
                let _ = ziplist_decode(&noise);
                let _ = intset_decode(&noise);
                let _ = zipmap_decode(&noise);
            }
        }
    }
}
