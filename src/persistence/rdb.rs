//! The RDB format (`rdb.c`): the encoding of single values that DUMP and RESTORE exchange, and
//! whole snapshots (the `dump.rdb` file, DEBUG RELOAD).
//!
//! Layering, from the bottom:
//!
//! * [`Writer`] and [`Reader`]: the primitives every RDB object is made of — length prefixes
//!   (6, 14, 32 or 64 bits), strings (plain, integer-encoded or LZF-compressed), doubles and
//!   timestamps. Collection types are sequences of these.
//! * [`write_value`] / [`read_value`]: one value, preceded in the stream by its type byte
//!   ([`value_type`]). Only strings exist so far; a type without a decoder here is reported as
//!   [`RdbError::Unsupported`] so RESTORE answers "Bad data format" instead of guessing.
//! * [`dump_payload`] / [`verify_payload`] / [`restore_payload`]: DUMP's format, a value followed by
//!   the 2-byte RDB version and a CRC64 of everything before it, both little-endian.
//! * [`Snapshot`] / [`load_snapshot`]: a whole file, `REDIS0010`, auxiliary fields, databases
//!   (`SELECTDB`, `RESIZEDB`, entries with `EXPIRETIME_MS`), `EOF` and the CRC64.
//!
//! Byte-level compatibility with Redis 7.0 is the point: a payload DUMPed by redis-server must
//! RESTORE here and the other way round, so every choice below (when to int-encode, when to
//! compress) mirrors `rdbSaveRawString` and friends.

use crate::keyspace::value::with_collection;
use crate::keyspace::Value;
use crate::types::{hash::Hash, list::List, set::Set, stream::Stream, zset::ZSet, Collection};
use crate::util::num;
use std::borrow::Cow;

/// The RDB version written in payloads and files (Redis 7.0).
pub const RDB_VERSION: u16 = 10;

/// Value type bytes.
pub mod types {
    pub const STRING: u8 = 0;
    pub const LIST: u8 = 1;
    pub const SET: u8 = 2;
    pub const ZSET: u8 = 3;
    pub const HASH: u8 = 4;
    pub const ZSET_2: u8 = 5;
    pub const MODULE_2: u8 = 7;
    pub const HASH_ZIPMAP: u8 = 9;
    pub const LIST_ZIPLIST: u8 = 10;
    pub const SET_INTSET: u8 = 11;
    pub const ZSET_ZIPLIST: u8 = 12;
    pub const HASH_ZIPLIST: u8 = 13;
    pub const LIST_QUICKLIST: u8 = 14;
    pub const STREAM_LISTPACKS: u8 = 15;
    pub const HASH_LISTPACK: u8 = 16;
    pub const ZSET_LISTPACK: u8 = 17;
    pub const LIST_QUICKLIST_2: u8 = 18;
    pub const STREAM_LISTPACKS_2: u8 = 19;

    /// Whether `t` names a value type (as opposed to an opcode or garbage).
    pub fn is_object_type(t: u8) -> bool {
        t <= ZSET_2 || (MODULE_2..=STREAM_LISTPACKS_2).contains(&t) && t != 8
    }
}

/// File opcodes (bytes that start a record that is not a key).
pub mod opcode {
    pub const FUNCTION2: u8 = 245;
    pub const FUNCTION: u8 = 246;
    pub const MODULE_AUX: u8 = 247;
    pub const IDLE: u8 = 248;
    pub const FREQ: u8 = 249;
    pub const AUX: u8 = 250;
    pub const RESIZEDB: u8 = 251;
    pub const EXPIRETIME_MS: u8 = 252;
    pub const EXPIRETIME: u8 = 253;
    pub const SELECTDB: u8 = 254;
    pub const EOF: u8 = 255;
}

/// Special string encodings (the two top bits of a length byte are `11`).
const ENC_INT8: u8 = 0;
const ENC_INT16: u8 = 1;
const ENC_INT32: u8 = 2;
const ENC_LZF: u8 = 3;

/// Why a payload or file could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum RdbError {
    /// The data ends in the middle of an object.
    Truncated,
    /// The bytes do not follow the format.
    Corrupt(&'static str),
    /// A valid type this server cannot hold yet.
    Unsupported(u8),
    /// The version or checksum of a payload or file is wrong.
    Checksum,
    /// An encoded blob (listpack, ziplist, intset, zipmap, stream listpack) fails its integrity
    /// check; [`read_value`] turns it into Redis's "<Type> integrity check failed." text.
    Blob(&'static str),
    /// A collection with no elements: Redis never stores one, so RESTORE refuses it and loading
    /// a file skips the key (`rdbLoadObject` → `emptykey`).
    EmptyKey,
}

impl std::fmt::Display for RdbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // Redis's texts (`rdbReportError` callers), which redis-check-rdb prints too.
            RdbError::Truncated | RdbError::EmptyKey => write!(f, "Unexpected EOF reading RDB file"),
            RdbError::Corrupt(what) | RdbError::Blob(what) => write!(f, "{what}"),
            RdbError::Unsupported(t) => write!(f, "Unknown RDB encoding type {t}"),
            RdbError::Checksum => write!(f, "RDB CRC error"),
        }
    }
}

pub type Result<T> = std::result::Result<T, RdbError>;

/// Redis's CRC64 (Jones polynomial, reflected), used by payloads and files.
pub fn crc64(data: &[u8]) -> u64 {
    CRC64.checksum(data)
}

/// Slice-by-16 tables: ~5x the speed of the byte-wise table, which matters for whole files.
static CRC64: crc::Crc<u64, crc::Table<16>> = crc::Crc::<u64, crc::Table<16>>::new(&crc::CRC_64_REDIS);

/// An incremental CRC64 for a file written in pieces.
pub fn crc64_digest() -> crc::Digest<'static, u64, crc::Table<16>> {
    CRC64.digest()
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

/// Appends RDB primitives to a buffer.
pub struct Writer {
    pub buf: Vec<u8>,
    /// LZF-compress strings longer than 20 bytes when it saves at least 4 bytes
    /// (`rdbcompression`).
    pub compress: bool,
}

impl Writer {
    pub fn new(compress: bool) -> Writer {
        Writer {
            buf: Vec::new(),
            compress,
        }
    }

    pub fn byte(&mut self, b: u8) {
        self.buf.push(b);
    }

    /// A length: 6 bits, 14 bits, or a marker byte followed by a 32- or 64-bit big-endian number.
    pub fn len(&mut self, n: u64) {
        if n < 1 << 6 {
            self.buf.push(n as u8);
        } else if n < 1 << 14 {
            self.buf.push(0x40 | (n >> 8) as u8);
            self.buf.push(n as u8);
        } else if n <= u32::MAX as u64 {
            self.buf.push(0x80);
            self.buf.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            self.buf.push(0x81);
            self.buf.extend_from_slice(&n.to_be_bytes());
        }
    }

    /// The integer encoding of `n` when it fits 8, 16 or 32 bits (`rdbEncodeInteger`).
    fn try_int(&mut self, n: i64) -> bool {
        if let Ok(v) = i8::try_from(n) {
            self.buf.push(0xC0 | ENC_INT8);
            self.buf.push(v as u8);
        } else if let Ok(v) = i16::try_from(n) {
            self.buf.push(0xC0 | ENC_INT16);
            self.buf.extend_from_slice(&v.to_le_bytes());
        } else if let Ok(v) = i32::try_from(n) {
            self.buf.push(0xC0 | ENC_INT32);
            self.buf.extend_from_slice(&v.to_le_bytes());
        } else {
            return false;
        }
        true
    }

    /// A string as `rdbSaveRawString` writes it: int-encoded when it is a short canonical
    /// integer, LZF-compressed when long and compressible, else length + bytes.
    pub fn string(&mut self, s: &[u8]) {
        if s.len() <= 11 {
            if let Some(n) = num::parse_i64(s) {
                if self.try_int(n) {
                    return;
                }
            }
        }
        if self.compress && s.len() > 20 && self.lzf(s) {
            return;
        }
        self.len(s.len() as u64);
        self.buf.extend_from_slice(s);
    }

    /// An integer string (`rdbSaveLongLongAsStringObject`).
    pub fn int_string(&mut self, n: i64) {
        if !self.try_int(n) {
            let mut tmp = Vec::with_capacity(20);
            num::write_i64(&mut tmp, n);
            self.len(tmp.len() as u64);
            self.buf.extend_from_slice(&tmp);
        }
    }

    /// Writes `s` LZF-compressed if that saves more than 4 bytes (as Redis requires).
    fn lzf(&mut self, s: &[u8]) -> bool {
        let Ok(c) = lzf::compress(s) else {
            return false;
        };
        if c.is_empty() || c.len() > s.len() - 4 {
            return false;
        }
        self.buf.push(0xC0 | ENC_LZF);
        self.len(c.len() as u64);
        self.len(s.len() as u64);
        self.buf.extend_from_slice(&c);
        true
    }

    /// A double in binary form (little-endian IEEE 754), as ZSET_2 scores.
    pub fn binary_double(&mut self, d: f64) {
        self.buf.extend_from_slice(&d.to_le_bytes());
    }

    /// Milliseconds, little-endian 64 bits (EXPIRETIME_MS, stream IDs' times).
    pub fn millis(&mut self, ms: i64) {
        self.buf.extend_from_slice(&ms.to_le_bytes());
    }
}

/// The type byte that precedes `v` in a payload or file.
pub fn value_type(v: &Value) -> u8 {
    with_collection!(v, c => c.rdb_type(), _ => types::STRING)
}

/// Writes the body of `v` (without its type byte).
pub fn write_value(w: &mut Writer, v: &Value) {
    match v {
        Value::Int(n) => w.int_string(*n),
        Value::Small(s) => w.string(s.as_bytes()),
        Value::Str(b) => w.string(b),
        Value::Raw(b) => w.string(b),
        _ => with_collection!(v, c => c.rdb_save(w), _ => ()),
    }
}

/// Bytes `v` takes when serialised, without its type byte (DEBUG OBJECT's `serializedlength`).
pub fn serialized_len(v: &Value, compress: bool) -> usize {
    let mut w = Writer::new(compress);
    write_value(&mut w, v);
    w.buf.len()
}

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

/// Reads RDB primitives from a byte slice. Every read is bounds-checked: input is untrusted.
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

/// A length prefix, or the marker of a specially encoded string.
enum Len {
    Plain(u64),
    Encoded(u8),
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Reader<'a> {
        Reader { data, pos: 0 }
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    /// The input up to `end` (what a trailing checksum covers).
    pub fn data_before(&self, end: usize) -> &'a [u8] {
        &self.data[..end.min(self.data.len())]
    }

    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.remaining() < n {
            return Err(RdbError::Truncated);
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub fn byte(&mut self) -> Result<u8> {
        Ok(self.bytes(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.bytes(N)?);
        Ok(a)
    }

    fn len_or_enc(&mut self) -> Result<Len> {
        let b = self.byte()?;
        Ok(match b >> 6 {
            0 => Len::Plain((b & 0x3F) as u64),
            1 => Len::Plain((((b & 0x3F) as u64) << 8) | self.byte()? as u64),
            2 => match b {
                0x80 => Len::Plain(u32::from_be_bytes(self.array()?) as u64),
                0x81 => Len::Plain(u64::from_be_bytes(self.array()?)),
                _ => return Err(RdbError::Corrupt("unknown length encoding")),
            },
            _ => Len::Encoded(b & 0x3F),
        })
    }

    /// A length prefix (an encoded-string marker here is corruption).
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&mut self) -> Result<u64> {
        match self.len_or_enc()? {
            Len::Plain(n) => Ok(n),
            Len::Encoded(_) => Err(RdbError::Corrupt("encoded value where a length was expected")),
        }
    }

    /// A length that must be usable as a count of items in memory.
    pub fn count(&mut self) -> Result<usize> {
        let n = self.len()?;
        // Each item takes at least one byte, so a larger count cannot be honest.
        if n > self.remaining() as u64 {
            return Err(RdbError::Truncated);
        }
        Ok(n as usize)
    }

    /// A string in any encoding, as bytes (integers are formatted in decimal).
    pub fn string(&mut self) -> Result<Cow<'a, [u8]>> {
        match self.string_or_int()? {
            StrOrInt::Str(s) => Ok(s),
            StrOrInt::Int(n) => Ok(Cow::Owned(num::i64_to_bytes(n))),
        }
    }

    /// A string, keeping integer encodings as numbers.
    pub fn string_or_int(&mut self) -> Result<StrOrInt<'a>> {
        match self.len_or_enc()? {
            Len::Plain(n) => {
                let n = usize::try_from(n).map_err(|_| RdbError::Truncated)?;
                Ok(StrOrInt::Str(Cow::Borrowed(self.bytes(n)?)))
            }
            Len::Encoded(ENC_INT8) => Ok(StrOrInt::Int(i8::from_le_bytes(self.array()?) as i64)),
            Len::Encoded(ENC_INT16) => Ok(StrOrInt::Int(i16::from_le_bytes(self.array()?) as i64)),
            Len::Encoded(ENC_INT32) => Ok(StrOrInt::Int(i32::from_le_bytes(self.array()?) as i64)),
            Len::Encoded(ENC_LZF) => {
                let clen = usize::try_from(self.len()?).map_err(|_| RdbError::Truncated)?;
                let len = self.len()?;
                let comp = self.bytes(clen)?;
                // Refuse lengths that cannot be real before allocating for them (a compressed
                // byte expands to at most 264 bytes).
                if len == 0 || len > (clen as u64).saturating_mul(264) {
                    return Err(RdbError::Corrupt("Invalid LZF compressed string"));
                }
                let out = lzf::decompress(comp, len as usize)
                    .map_err(|_| RdbError::Corrupt("Invalid LZF compressed string"))?;
                if out.len() as u64 != len {
                    return Err(RdbError::Corrupt("Invalid LZF compressed string"));
                }
                Ok(StrOrInt::Str(Cow::Owned(out)))
            }
            Len::Encoded(_) => Err(RdbError::Corrupt("unknown string encoding")),
        }
    }

    pub fn binary_double(&mut self) -> Result<f64> {
        Ok(f64::from_le_bytes(self.array()?))
    }

    pub fn millis(&mut self) -> Result<i64> {
        Ok(i64::from_le_bytes(self.array()?))
    }

    pub fn u32_le(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }
}

/// A string read from RDB: bytes, or an integer encoding kept as a number.
pub enum StrOrInt<'a> {
    Str(Cow<'a, [u8]>),
    Int(i64),
}

/// Reads the body of a value of type `t` (the byte that preceded it). A blob that fails its
/// integrity check is reported with Redis's text for that type (the suite and operators grep
/// logs for "integrity check failed").
pub fn read_value(r: &mut Reader, t: u8) -> Result<Value> {
    read_value_inner(r, t).map_err(|e| match e {
        RdbError::Blob(_) => RdbError::Corrupt(integrity_failure(t)),
        e => e,
    })
}

/// `rdbLoadObject`'s message when the encoded blob of a value of type `t` is invalid.
fn integrity_failure(t: u8) -> &'static str {
    match t {
        types::LIST_QUICKLIST => "Ziplist integrity check failed.",
        types::LIST_QUICKLIST_2 => "Listpack integrity check failed.",
        types::LIST_ZIPLIST => "List ziplist integrity check failed.",
        types::SET_INTSET => "Intset integrity check failed.",
        types::ZSET_ZIPLIST => "Zset ziplist integrity check failed.",
        types::ZSET_LISTPACK => "Zset listpack integrity check failed.",
        types::HASH_ZIPLIST => "Hash ziplist integrity check failed.",
        types::HASH_LISTPACK => "Hash listpack integrity check failed.",
        types::HASH_ZIPMAP => "Zipmap integrity check failed.",
        types::STREAM_LISTPACKS | types::STREAM_LISTPACKS_2 => "Stream listpack integrity check failed.",
        _ => "Integrity check failed.",
    }
}

fn read_value_inner(r: &mut Reader, t: u8) -> Result<Value> {
    match t {
        types::STRING => Ok(match r.string_or_int()? {
            StrOrInt::Int(n) => Value::Int(n),
            StrOrInt::Str(s) => Value::string(&s),
        }),
        types::LIST | types::LIST_ZIPLIST | types::LIST_QUICKLIST | types::LIST_QUICKLIST_2 => {
            List::rdb_load(t, r).map(Value::List)
        }
        types::HASH | types::HASH_ZIPMAP | types::HASH_ZIPLIST | types::HASH_LISTPACK => {
            Hash::rdb_load(t, r).map(Value::Hash)
        }
        types::SET | types::SET_INTSET => Set::rdb_load(t, r).map(Value::Set),
        types::ZSET | types::ZSET_2 | types::ZSET_ZIPLIST | types::ZSET_LISTPACK => {
            ZSet::rdb_load(t, r).map(Value::ZSet)
        }
        types::STREAM_LISTPACKS | types::STREAM_LISTPACKS_2 => {
            Stream::rdb_load(t, r).map(|s| Value::Stream(Box::new(s)))
        }
        t if types::is_object_type(t) => Err(RdbError::Unsupported(t)),
        _ => Err(RdbError::Corrupt("unknown object type")),
    }
}

// ---------------------------------------------------------------------------------------------
// DUMP payloads
// ---------------------------------------------------------------------------------------------

/// DUMP's serialisation of `v`: type byte, value, RDB version, CRC64.
pub fn dump_payload(v: &Value, compress: bool) -> Vec<u8> {
    let mut w = Writer::new(compress);
    w.byte(value_type(v));
    write_value(&mut w, v);
    w.buf.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(&w.buf);
    w.buf.extend_from_slice(&crc.to_le_bytes());
    w.buf
}

/// Checks a payload's footer (`verifyDumpPayload`): a version this server can read and, unless
/// `skip_checksum`, a matching CRC64.
pub fn verify_payload(p: &[u8], skip_checksum: bool) -> bool {
    if p.len() < 10 {
        return false;
    }
    let footer = &p[p.len() - 10..];
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    if version > RDB_VERSION {
        return false;
    }
    if skip_checksum {
        return true;
    }
    let mut crc = [0u8; 8];
    crc.copy_from_slice(&footer[2..]);
    crc64(&p[..p.len() - 8]) == u64::from_le_bytes(crc)
}

/// Decodes a verified payload into a value.
pub fn restore_payload(p: &[u8]) -> Result<Value> {
    let body = p.get(..p.len().saturating_sub(10)).ok_or(RdbError::Truncated)?;
    let mut r = Reader::new(body);
    let t = r.byte()?;
    read_value(&mut r, t)
}

// ---------------------------------------------------------------------------------------------
// Whole files
// ---------------------------------------------------------------------------------------------

/// Builds an RDB file in memory: call [`Snapshot::select_db`] then [`Snapshot::entry`] for each
/// key of that database, and [`Snapshot::finish`].
pub struct Snapshot {
    w: Writer,
}

impl Snapshot {
    /// Starts a file with Redis's header and auxiliary fields.
    pub fn new(compress: bool, now_ms: i64, used_mem: u64) -> Snapshot {
        let mut w = Writer::new(compress);
        w.buf.extend_from_slice(format!("REDIS{RDB_VERSION:04}").as_bytes());
        let mut s = Snapshot { w };
        s.aux(b"redis-ver", crate::REDIS_VERSION.as_bytes());
        s.aux(b"redis-bits", b"64");
        s.aux(b"ctime", &num::i64_to_bytes(now_ms / 1000));
        s.aux(b"used-mem", &num::i64_to_bytes(used_mem as i64));
        s.aux(b"aof-base", b"0");
        s
    }

    /// An auxiliary field (`AUX key value`).
    pub fn aux(&mut self, key: &[u8], value: &[u8]) {
        self.w.byte(opcode::AUX);
        self.w.string(key);
        self.w.string(value);
    }

    /// A library of functions (`FUNCTION2` record with its code), written after the auxiliary
    /// fields as Redis does.
    pub fn function(&mut self, code: &[u8]) {
        self.w.byte(opcode::FUNCTION2);
        self.w.string(code);
    }

    /// Starts database `db`, which holds `keys` keys of which `expires` have a TTL.
    pub fn select_db(&mut self, db: usize, keys: usize, expires: usize) {
        self.w.byte(opcode::SELECTDB);
        self.w.len(db as u64);
        self.w.byte(opcode::RESIZEDB);
        self.w.len(keys as u64);
        self.w.len(expires as u64);
    }

    /// One key of the current database; `expire_ms` 0 = no TTL.
    pub fn entry(&mut self, key: &[u8], value: &Value, expire_ms: i64) {
        write_entry(&mut self.w, key, value, expire_ms);
    }

    /// The file's bytes so far (header and whatever was added), without EOF and checksum: the
    /// start of a file that is then written in pieces.
    pub fn into_head(self) -> Vec<u8> {
        self.w.buf
    }

    /// Ends the file (EOF opcode and CRC64) and returns its bytes.
    pub fn finish(mut self) -> Vec<u8> {
        self.w.byte(opcode::EOF);
        let crc = crc64(&self.w.buf);
        self.w.buf.extend_from_slice(&crc.to_le_bytes());
        self.w.buf
    }
}

/// One key record: optional `EXPIRETIME_MS`, type byte, key, value (`expire_ms` 0 = no TTL).
pub fn write_entry(w: &mut Writer, key: &[u8], value: &Value, expire_ms: i64) {
    if expire_ms != 0 {
        w.byte(opcode::EXPIRETIME_MS);
        w.millis(expire_ms);
    }
    w.byte(value_type(value));
    w.string(key);
    write_value(w, value);
}

/// One key read from a file.
pub struct LoadedEntry<'a> {
    pub db: usize,
    pub key: Cow<'a, [u8]>,
    pub value: Value,
    /// Unix ms, 0 = none.
    pub expire_ms: i64,
    /// Seconds idle (from an IDLE opcode), if recorded.
    pub idle: Option<u64>,
    /// LFU counter (from a FREQ opcode), if recorded.
    pub freq: Option<u8>,
    /// Bytes of the file read so far, this entry included (loading progress).
    pub read: usize,
}

/// Parses a whole RDB file, calling `f` for each key. Checks the header and, when the file has
/// one (a zero checksum means "not computed", as Redis writes with `rdbchecksum no`), the CRC64.
/// A collection stored with no elements is skipped and logged, as Redis does; the result is the
/// number of such keys.
pub fn load_snapshot(data: &[u8], f: impl FnMut(LoadedEntry) -> Result<()>) -> Result<u64> {
    load_snapshot_prefix(data, f).map(|(_, empty)| empty)
}

/// As [`load_snapshot`], for an RDB image followed by more data (an AOF file with an RDB
/// preamble and a command tail): returns the bytes the image took and the empty keys skipped.
pub fn load_snapshot_prefix(data: &[u8], mut f: impl FnMut(LoadedEntry) -> Result<()>) -> Result<(usize, u64)> {
    if data.len() < 9 || &data[..5] != b"REDIS" {
        return Err(RdbError::Corrupt("wrong signature"));
    }
    let version = std::str::from_utf8(&data[5..9])
        .ok()
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or(RdbError::Corrupt("bad version"))?;
    if version == 0 || version > RDB_VERSION {
        return Err(RdbError::Corrupt("unsupported version"));
    }
    let mut r = Reader::new(data);
    r.bytes(9)?;
    let mut db = 0usize;
    let mut expire_ms = 0i64;
    let mut idle = None;
    let mut freq = None;
    let mut empty_skipped = 0u64;
    loop {
        let t = r.byte()?;
        match t {
            opcode::EOF => {
                if version >= 5 {
                    let end = r.pos();
                    let stored = u64::from_le_bytes(r.array()?);
                    if stored != 0 && stored != crc64(&data[..end]) {
                        return Err(RdbError::Checksum);
                    }
                }
                return Ok((r.pos(), empty_skipped));
            }
            opcode::SELECTDB => db = usize::try_from(r.len()?).map_err(|_| RdbError::Corrupt("db"))?,
            opcode::RESIZEDB => {
                r.len()?;
                r.len()?;
            }
            opcode::EXPIRETIME_MS => expire_ms = r.millis()?,
            opcode::EXPIRETIME => expire_ms = r.u32_le()? as i64 * 1000,
            opcode::IDLE => idle = Some(r.len()?),
            opcode::FREQ => freq = Some(r.byte()?),
            opcode::AUX => {
                r.string()?;
                r.string()?;
            }
            // Libraries are read by `function_records` (they need the Lua engine).
            opcode::FUNCTION2 => {
                r.string()?;
            }
            opcode::MODULE_AUX | opcode::FUNCTION => return Err(RdbError::Unsupported(t)),
            t => {
                let key = r.string()?;
                let value = match read_value(&mut r, t) {
                    Err(RdbError::EmptyKey) => {
                        if empty_skipped < 10 {
                            let name = String::from_utf8_lossy(&key);
                            crate::server::log::warning(&format!("rdbLoadObject skipping empty key: {name}"));
                        }
                        empty_skipped += 1;
                        (expire_ms, idle, freq) = (0, None, None);
                        continue;
                    }
                    v => v?,
                };
                f(LoadedEntry {
                    db,
                    key,
                    value,
                    expire_ms,
                    idle: idle.take(),
                    freq: freq.take(),
                    read: r.pos(),
                })?;
                expire_ms = 0;
            }
        }
    }
}

/// The libraries' code in a file's `FUNCTION2` records. Redis (and Ochre) write them after the
/// auxiliary fields and before the first database, so only that prefix is read.
pub fn function_records(data: &[u8]) -> Result<Vec<Vec<u8>>> {
    if data.len() < 9 || &data[..5] != b"REDIS" {
        return Err(RdbError::Corrupt("wrong signature"));
    }
    let mut r = Reader::new(data);
    r.bytes(9)?;
    let mut out = Vec::new();
    loop {
        match r.byte()? {
            opcode::AUX => {
                r.string()?;
                r.string()?;
            }
            opcode::FUNCTION2 => out.push(r.string()?.into_owned()),
            _ => return Ok(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(v: Value) -> Vec<u8> {
        let p = dump_payload(&v, true);
        assert!(verify_payload(&p, false));
        restore_payload(&p)
            .ok()
            .and_then(|v| v.as_bytes().map(|b| b.into_owned()))
            .unwrap_or_default()
    }

    #[test]
    fn lengths_roundtrip() {
        for n in [
            0u64,
            63,
            64,
            16383,
            16384,
            u32::MAX as u64,
            u32::MAX as u64 + 1,
            u64::MAX,
        ] {
            let mut w = Writer::new(false);
            w.len(n);
            assert_eq!(Reader::new(&w.buf).len(), Ok(n));
        }
    }

    #[test]
    fn strings_roundtrip() {
        assert_eq!(roundtrip(Value::string(b"bar")), b"bar");
        assert_eq!(roundtrip(Value::Int(-5)), b"-5");
        assert_eq!(roundtrip(Value::Int(i64::MIN)), i64::MIN.to_string().as_bytes());
        assert_eq!(roundtrip(Value::Int(70000)), b"70000");
        let long = vec![b'a'; 1000];
        assert_eq!(roundtrip(Value::string(&long)), long);
        // Leading zero: not canonical, must stay a string.
        assert_eq!(roundtrip(Value::string(b"007")), b"007");
    }

    #[test]
    fn known_redis_payload() {
        // `SET foo bar` + `DUMP foo` on redis-server 7.0.
        let p = b"\x00\x03bar\x0a\x00\xe6\xbe\x49\x60\xee\x66\xfd\x17";
        assert_eq!(dump_payload(&Value::string(b"bar"), true), p);
    }

    #[test]
    fn corrupt_payloads_are_errors() {
        assert!(!verify_payload(b"short", false));
        let mut p = dump_payload(&Value::string(b"hello"), true);
        p[2] ^= 1;
        assert!(!verify_payload(&p, false));
        assert!(restore_payload(b"\x00\xff\x0a\x00").is_err());
        assert!(restore_payload(b"\x00\xc3\x05\x40\x00\x0a\x00").is_err());
    }

    #[test]
    fn snapshot_roundtrip() {
        let mut s = Snapshot::new(true, 1_000, 0);
        s.select_db(3, 2, 1);
        s.entry(b"a", &Value::string(b"1"), 0);
        s.entry(b"b", &Value::string(&[b'x'; 100]), 123_456);
        let file = s.finish();
        let mut seen = Vec::new();
        load_snapshot(&file, |e| {
            seen.push((
                e.db,
                e.key.into_owned(),
                e.value.as_bytes().map(|b| b.len()),
                e.expire_ms,
            ));
            Ok(())
        })
        .ok();
        assert_eq!(
            seen,
            vec![(3, b"a".to_vec(), Some(1), 0), (3, b"b".to_vec(), Some(100), 123_456)]
        );
    }
}
