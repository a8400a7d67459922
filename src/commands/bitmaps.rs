//! Bitmap commands (`bitops.c`): SETBIT GETBIT BITCOUNT BITPOS BITOP BITFIELD BITFIELD_RO.
//!
//! A bitmap is a string: bit 0 is the most significant bit of the first byte. Reading past the
//! end reads zeros; writing past the end grows the string with zero bytes, up to
//! `proto-max-bulk-len`. A write turns the value into the `raw` encoding, as in Redis.
//!
//! BITFIELD's overflow arithmetic reproduces Redis's, including how it treats values that do
//! not fit the type (a SET of an out-of-range value saturates or wraps the same way).

use super::strings::{lookup, str_bytes};
use super::{def, CommandDef, Ctx};
use crate::keyspace::{KeyspaceStats, Kind, Shard, Value};
use crate::protocol::reply::Reply;
use crate::server::notify::{self as ev, notify};
use crate::util::num::parse_i64;
use std::sync::atomic::Ordering::Relaxed;

#[rustfmt::skip]
pub static COMMANDS: &[CommandDef] = &[
    def("setbit", 4, "write denyoom", (1, 1, 1), "@bitmap", "bitmap", "2.2.0", "Sets or clears the bit at offset in the string value stored at key", setbit),
    def("getbit", 3, "readonly fast", (1, 1, 1), "@bitmap", "bitmap", "2.2.0", "Returns the bit value at offset in the string value stored at key", getbit),
    def("bitcount", -2, "readonly", (1, 1, 1), "@bitmap", "bitmap", "2.6.0", "Count set bits in a string", bitcount),
    def("bitpos", -3, "readonly", (1, 1, 1), "@bitmap", "bitmap", "2.8.7", "Find first bit set or clear in a string", bitpos),
    def("bitop", -4, "write denyoom", (2, -1, 1), "@bitmap", "bitmap", "2.6.0", "Perform bitwise operations between strings", bitop),
    def("bitfield", -2, "write denyoom", (1, 1, 1), "@bitmap", "bitmap", "3.2.0", "Perform arbitrary bitfield integer operations on strings", bitfield),
    def("bitfield_ro", -2, "readonly fast", (1, 1, 1), "@bitmap", "bitmap", "6.0.0", "Perform arbitrary bitfield integer operations on strings. Read-only variant of BITFIELD", bitfield_ro),
];

const BIT_OFFSET_ERR: &str = "ERR bit offset is not an integer or out of range";

/// Parses a bit offset (`getBitOffsetFromArgument`). With `hash`, `#N` means N times `bits`
/// (BITFIELD). The offset must address a byte below `proto-max-bulk-len`.
fn bit_offset(ctx: &mut Ctx, arg: &[u8], hash: bool, bits: u32) -> Option<u64> {
    let use_hash = hash && bits > 0 && arg.first() == Some(&b'#');
    let digits = if use_hash { &arg[1..] } else { arg };
    let mut off = parse_i64(digits);
    if use_hash {
        off = off.and_then(|n| n.checked_mul(bits as i64));
    }
    let max = ctx.srv.config.hot.proto_max_bulk_len.load(Relaxed);
    match off {
        Some(n) if n >= 0 && (n >> 3) < max => Some(n as u64),
        _ => {
            ctx.out.error(BIT_OFFSET_ERR);
            None
        }
    }
}

/// Redis's `lookupStringForBitCommand`: finds or creates the string at `key`, zero-padded to at
/// least `min_len` bytes and in `raw` form, and runs `f` on its bytes with whether the string was
/// created or grew. `None` when the key holds another type.
fn with_bits<R>(
    shard: &mut Shard,
    key: &[u8],
    min_len: usize,
    (now, stats, lru): (i64, &KeyspaceStats, u32),
    f: impl FnOnce(&mut [u8], bool) -> R,
) -> Option<R> {
    match lookup(shard, key, now, stats, lru) {
        Some(e) => {
            if e.value.kind() != Kind::String {
                return None;
            }
            let v = e.value.make_raw()?;
            let grew = v.len() < min_len;
            if grew {
                v.resize(min_len, 0);
            }
            Some(f(v, grew))
        }
        None => {
            let mut v = vec![0u8; min_len];
            let r = f(&mut v, true);
            shard.upsert(key, Value::raw(v), Some(0), lru, now, stats);
            Some(r)
        }
    }
}

/// SETBIT key offset value
fn setbit(ctx: &mut Ctx, args: &[&[u8]]) {
    let Some(offset) = bit_offset(ctx, args[2], false, 0) else {
        return;
    };
    let on = match parse_i64(args[3]) {
        Some(n @ (0 | 1)) => n as u8,
        _ => {
            ctx.out.err("bit is not an integer or out of range");
            return;
        }
    };
    let env = (ctx.now_ms, ctx.ks_stats(), ctx.lru());
    let byte = (offset >> 3) as usize;
    let shift = 7 - (offset & 7) as u8;
    let mut shard = ctx.db().lock(args[1]);
    let done = with_bits(&mut shard, args[1], byte + 1, env, |p, grew| {
        let old = (p[byte] >> shift) & 1;
        p[byte] = (p[byte] & !(1 << shift)) | (on << shift);
        (old, grew || old != on)
    });
    drop(shard);
    match done {
        Some((old, changed)) => {
            if changed {
                notify(ctx, ev::STRING, "setbit", args[1]);
                ctx.dirty(1);
            }
            ctx.out.int(old as i64);
        }
        None => ctx.out.wrong_type(),
    }
}

/// GETBIT key offset
fn getbit(ctx: &mut Ctx, args: &[&[u8]]) {
    let Some(offset) = bit_offset(ctx, args[2], false, 0) else {
        return;
    };
    let (now, stats, lru) = (ctx.now_ms, ctx.ks_stats(), ctx.lru());
    let mut shard = ctx.db().lock(args[1]);
    let Some(e) = lookup(&mut shard, args[1], now, stats, lru) else {
        ctx.out.int(0);
        return;
    };
    let mut buf = [0u8; 20];
    match str_bytes(&e.value, &mut buf) {
        Some(p) => ctx.out.int(read_bit(p, offset) as i64),
        None => ctx.out.wrong_type(),
    }
}

/// The bit at `offset` (0 past the end).
#[inline]
fn read_bit(p: &[u8], offset: u64) -> u8 {
    match p.get((offset >> 3) as usize) {
        Some(b) => (b >> (7 - (offset & 7))) & 1,
        None => 0,
    }
}

/// Number of set bits.
fn popcount(p: &[u8]) -> u64 {
    let mut chunks = p.chunks_exact(8);
    let mut n = 0u64;
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        n += u64::from_ne_bytes(w).count_ones() as u64;
    }
    n + chunks.remainder().iter().map(|b| b.count_ones() as u64).sum::<u64>()
}

/// Parses the optional BYTE|BIT unit argument; `None` is a syntax error.
fn parse_unit(arg: &[u8]) -> Option<bool> {
    if arg.eq_ignore_ascii_case(b"bit") {
        Some(true)
    } else if arg.eq_ignore_ascii_case(b"byte") {
        Some(false)
    } else {
        None
    }
}

/// Converts a BITCOUNT/BITPOS range to an inclusive range of bit offsets within a string of
/// `len` bytes: negative indexes count from the end (of the bits or bytes, per `is_bit`), and
/// the range is clamped to the string. `None` when it is empty.
fn bit_range(mut start: i64, mut end: i64, len: i64, is_bit: bool) -> Option<(u64, u64)> {
    let total = if is_bit { len * 8 } else { len };
    if start < 0 {
        start = start.saturating_add(total);
    }
    if end < 0 {
        end = end.saturating_add(total);
    }
    start = start.max(0);
    end = end.max(0).min(total - 1);
    if start > end {
        return None;
    }
    // Here 0 <= start <= end < total, so the byte-to-bit conversion cannot overflow.
    let (start, end) = (start as u64, end as u64);
    Some(if is_bit { (start, end) } else { (start * 8, end * 8 + 7) })
}

/// BITCOUNT key [start end [BYTE|BIT]]
fn bitcount(ctx: &mut Ctx, args: &[&[u8]]) {
    let (now, stats, lru) = (ctx.now_ms, ctx.ks_stats(), ctx.lru());
    let mut shard = ctx.db().lock(args[1]);
    // Redis looks the key up before it reads the range: a missing key counts 0 whatever follows.
    let Some(e) = lookup(&mut shard, args[1], now, stats, lru) else {
        ctx.out.int(0);
        return;
    };
    let mut buf = [0u8; 20];
    let Some(p) = str_bytes(&e.value, &mut buf) else {
        ctx.out.wrong_type();
        return;
    };
    let len = p.len() as i64;
    let out = &mut *ctx.out;
    let range = match args.len() {
        2 => bit_range(0, -1, len, false),
        4 | 5 => {
            let Some(start) = super::arg_i64(out, args[2]) else {
                return;
            };
            let Some(end) = super::arg_i64(out, args[3]) else {
                return;
            };
            if start < 0 && end < 0 && start > end {
                out.int(0);
                return;
            }
            let is_bit = match args.get(4) {
                None => false,
                Some(u) => match parse_unit(u) {
                    Some(b) => b,
                    None => {
                        out.syntax_error();
                        return;
                    }
                },
            };
            bit_range(start, end, len, is_bit)
        }
        _ => {
            out.syntax_error();
            return;
        }
    };
    match range {
        Some((from, to)) => out.int(count_bits(p, from, to) as i64),
        None => out.int(0),
    }
}

/// Set bits in the inclusive bit range `[from, to]` (which lies within `p`).
fn count_bits(p: &[u8], from: u64, to: u64) -> u64 {
    let (fb, lb) = ((from >> 3) as usize, (to >> 3) as usize);
    let whole = popcount(&p[fb..=lb]);
    // Take away the bits of the edge bytes that lie outside the range.
    let before = p[fb] & !(0xffu8 >> (from & 7));
    let after = p[lb] & (0xffu8 >> (to & 7) >> 1);
    whole - before.count_ones() as u64 - after.count_ones() as u64
}

/// First bit equal to `bit` in the inclusive bit range `[from, to]` (within `p`).
fn find_bit(p: &[u8], from: u64, to: u64, bit: bool) -> Option<u64> {
    // Searching for 0 is searching for 1 in the complement.
    let flip: u8 = if bit { 0 } else { 0xff };
    let skip_word = if bit { 0 } else { u64::MAX };
    let (fb, lb) = ((from >> 3) as usize, (to >> 3) as usize);
    let mut i = fb;
    while i <= lb {
        // Whole words strictly inside the range that cannot hold the bit are skipped at once.
        if i > fb && i + 8 <= lb {
            let mut w = [0u8; 8];
            w.copy_from_slice(&p[i..i + 8]);
            if u64::from_ne_bytes(w) == skip_word {
                i += 8;
                continue;
            }
        }
        let mut b = p[i] ^ flip;
        if i == fb {
            b &= 0xff >> (from & 7);
        }
        if i == lb {
            b &= 0xff << (7 - (to & 7));
        }
        if b != 0 {
            return Some(i as u64 * 8 + b.leading_zeros() as u64);
        }
        i += 1;
    }
    None
}

/// BITPOS key bit [start [end [BYTE|BIT]]]
fn bitpos(ctx: &mut Ctx, args: &[&[u8]]) {
    let bit = match super::arg_i64(ctx.out, args[2]) {
        Some(b @ (0 | 1)) => b == 1,
        Some(_) => {
            ctx.out.err("The bit argument must be 1 or 0.");
            return;
        }
        None => return,
    };
    let (now, stats, lru) = (ctx.now_ms, ctx.ks_stats(), ctx.lru());
    let mut shard = ctx.db().lock(args[1]);
    // A missing key is an endless run of zeros.
    let Some(e) = lookup(&mut shard, args[1], now, stats, lru) else {
        ctx.out.int(if bit { -1 } else { 0 });
        return;
    };
    let mut buf = [0u8; 20];
    let Some(p) = str_bytes(&e.value, &mut buf) else {
        ctx.out.wrong_type();
        return;
    };
    let len = p.len() as i64;
    let out = &mut *ctx.out;
    let mut end_given = false;
    let range = match args.len() {
        3 => bit_range(0, -1, len, false),
        4..=6 => {
            let Some(start) = super::arg_i64(out, args[3]) else {
                return;
            };
            let is_bit = match args.get(5) {
                None => false,
                Some(u) => match parse_unit(u) {
                    Some(b) => b,
                    None => {
                        out.syntax_error();
                        return;
                    }
                },
            };
            let end = match args.get(4) {
                Some(a) => {
                    let Some(end) = super::arg_i64(out, a) else {
                        return;
                    };
                    end_given = true;
                    end
                }
                None => len - 1,
            };
            bit_range(start, end, len, is_bit)
        }
        _ => {
            out.syntax_error();
            return;
        }
    };
    // An empty range holds neither a 0 nor a 1.
    let Some((first_bit, last_bit)) = range else {
        out.int(-1);
        return;
    };
    let pos = match find_bit(p, first_bit, last_bit, bit) {
        Some(pos) => pos as i64,
        // No set bit anywhere: -1. No clear bit: the string is taken as zero-padded on the
        // right, so the answer is the first bit after it, unless the caller fixed the end.
        None if bit || end_given => -1,
        None => last_bit as i64 + 1,
    };
    out.int(pos);
}

#[derive(Clone, Copy, PartialEq)]
enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

/// BITOP AND|OR|XOR|NOT destkey key [key ...]
fn bitop(ctx: &mut Ctx, args: &[&[u8]]) {
    let name = args[1];
    let op = if name.eq_ignore_ascii_case(b"and") {
        BitOp::And
    } else if name.eq_ignore_ascii_case(b"or") {
        BitOp::Or
    } else if name.eq_ignore_ascii_case(b"xor") {
        BitOp::Xor
    } else if name.eq_ignore_ascii_case(b"not") {
        BitOp::Not
    } else {
        ctx.out.syntax_error();
        return;
    };
    if op == BitOp::Not && args.len() != 4 {
        ctx.out.err("BITOP NOT must be called with a single source key.");
        return;
    }
    let (now, stats, lru) = (ctx.now_ms, ctx.ks_stats(), ctx.lru());
    let dest = args[2];
    let mut locked = ctx.db().lock_keys(args[2..].iter().copied());
    // Fold the sources into `res` one at a time; a missing key is an empty string, and shorter
    // strings are zero-padded to the longest.
    let mut res: Vec<u8> = Vec::new();
    let mut buf = [0u8; 20];
    for (n, key) in args[3..].iter().enumerate() {
        let src: &[u8] = match lookup(locked.shard(key), key, now, stats, lru) {
            None => &[],
            Some(e) => match str_bytes(&e.value, &mut buf) {
                Some(b) => b,
                None => {
                    drop(locked);
                    ctx.out.wrong_type();
                    return;
                }
            },
        };
        if n == 0 {
            res.extend_from_slice(src);
            if op == BitOp::Not {
                res.iter_mut().for_each(|b| *b = !*b);
            }
            continue;
        }
        if src.len() > res.len() {
            res.resize(src.len(), 0);
        }
        let (head, tail) = res.split_at_mut(src.len());
        match op {
            BitOp::And => {
                head.iter_mut().zip(src).for_each(|(r, s)| *r &= s);
                tail.fill(0);
            }
            BitOp::Or => head.iter_mut().zip(src).for_each(|(r, s)| *r |= s),
            BitOp::Xor => head.iter_mut().zip(src).for_each(|(r, s)| *r ^= s),
            BitOp::Not => {}
        }
    }
    let len = res.len();
    let shard = locked.shard(dest);
    let changed = if len > 0 {
        shard.upsert(dest, Value::raw(res), Some(0), lru, now, stats);
        notify(ctx, ev::STRING, "set", dest);
        true
    } else if shard.get_mut(dest, now, stats).is_some() {
        // An empty result deletes the destination.
        shard.remove(dest);
        notify(ctx, ev::GENERIC, "del", dest);
        true
    } else {
        false
    };
    drop(locked);
    if changed {
        ctx.dirty(1);
    }
    ctx.out.int(len as i64);
}

// ---------------------------------------------------------------------------------------------
// BITFIELD
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Clone, Copy, PartialEq)]
enum FieldOp {
    Get,
    Set,
    IncrBy,
}

/// One parsed BITFIELD operation.
struct Field {
    op: FieldOp,
    offset: u64,
    /// SET value or INCRBY increment.
    value: i64,
    overflow: Overflow,
    bits: u32,
    signed: bool,
}

/// Parses a bitfield type: `i1`..`i64` or `u1`..`u63` (u64 cannot be replied as an integer).
fn field_type(arg: &[u8]) -> Option<(bool, u32)> {
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return None,
    };
    let bits = parse_i64(&arg[1..])?;
    let max = if signed { 64 } else { 63 };
    (1..=max).contains(&bits).then_some((signed, bits as u32))
}

/// Reads `bits` bits at `offset` as an unsigned number (bits past the end read as 0).
fn get_unsigned(p: &[u8], offset: u64, bits: u32) -> u64 {
    (0..bits as u64).fold(0u64, |v, j| (v << 1) | read_bit(p, offset + j) as u64)
}

/// Reads `bits` bits at `offset` as a two's complement number.
fn get_signed(p: &[u8], offset: u64, bits: u32) -> i64 {
    let mut v = get_unsigned(p, offset, bits);
    if bits < 64 && v & (1 << (bits - 1)) != 0 {
        v |= u64::MAX << bits;
    }
    v as i64
}

/// Writes the low `bits` bits of `value` at `offset` (`p` is long enough).
fn set_field(p: &mut [u8], offset: u64, bits: u32, value: u64) {
    for j in 0..bits as u64 {
        let bit = ((value >> (bits as u64 - 1 - j)) & 1) as u8;
        let at = offset + j;
        let byte = (at >> 3) as usize;
        let shift = 7 - (at & 7) as u8;
        if let Some(b) = p.get_mut(byte) {
            *b = (*b & !(1 << shift)) | (bit << shift);
        }
    }
}

/// Redis's `checkUnsignedBitfieldOverflow`: whether `value + incr` leaves the type, and the value
/// to store instead under WRAP or SAT (`None` under FAIL).
fn unsigned_overflow(value: u64, incr: i64, bits: u32, ow: Overflow) -> Option<Option<u64>> {
    let max = if bits == 64 { u64::MAX } else { (1u64 << bits) - 1 };
    let maxincr = max.wrapping_sub(value) as i64;
    let minincr = value.wrapping_neg() as i64;
    let wrap = || value.wrapping_add(incr as u64) & !u64::MAX.checked_shl(bits).unwrap_or(0);
    let limit = if value > max || (incr > 0 && incr > maxincr) {
        max
    } else if incr < 0 && incr < minincr {
        0
    } else {
        return None;
    };
    Some(match ow {
        Overflow::Wrap => Some(wrap()),
        Overflow::Sat => Some(limit),
        Overflow::Fail => None,
    })
}

/// Redis's `checkSignedBitfieldOverflow`, with its exact (wrapping) arithmetic.
fn signed_overflow(value: i64, incr: i64, bits: u32, ow: Overflow) -> Option<Option<i64>> {
    let max = if bits == 64 { i64::MAX } else { (1i64 << (bits - 1)) - 1 };
    let min = -max - 1;
    let maxincr = (max as u64).wrapping_sub(value as u64) as i64;
    let minincr = min.wrapping_sub(value);
    let limit = if value > max || (bits != 64 && incr > maxincr) || (value >= 0 && incr > 0 && incr > maxincr) {
        max
    } else if value < min || (bits != 64 && incr < minincr) || (value < 0 && incr < 0 && incr < minincr) {
        min
    } else {
        return None;
    };
    let wrap = || {
        let mut c = (value as u64).wrapping_add(incr as u64);
        if bits < 64 {
            let mask = u64::MAX << bits;
            if c & (1u64 << (bits - 1)) != 0 {
                c |= mask;
            } else {
                c &= !mask;
            }
        }
        c as i64
    };
    Some(match ow {
        Overflow::Wrap => Some(wrap()),
        Overflow::Sat => Some(limit),
        Overflow::Fail => None,
    })
}

/// Runs one SET or INCRBY on `p`, replying with its result. Returns whether the stored value
/// changed, or `None` (after a null reply) when OVERFLOW FAIL refused the write.
fn write_field(out: &mut Reply, p: &mut [u8], f: &Field) -> Option<bool> {
    if f.signed {
        let old = get_signed(p, f.offset, f.bits);
        let (new, overflow, reply) = if f.op == FieldOp::IncrBy {
            match signed_overflow(old, f.value, f.bits, f.overflow) {
                None => (old.wrapping_add(f.value), None, None),
                Some(limit) => (0, Some(limit), None),
            }
        } else {
            match signed_overflow(f.value, 0, f.bits, f.overflow) {
                None => (f.value, None, Some(old)),
                Some(limit) => (0, Some(limit), Some(old)),
            }
        };
        let new = match overflow {
            None => new,
            Some(Some(limit)) => limit,
            Some(None) => {
                out.null();
                return None;
            }
        };
        out.int(reply.unwrap_or(new));
        set_field(p, f.offset, f.bits, new as u64);
        Some(old != new)
    } else {
        let old = get_unsigned(p, f.offset, f.bits);
        let (base, incr) = if f.op == FieldOp::IncrBy {
            (old, f.value)
        } else {
            (f.value as u64, 0)
        };
        let new = match unsigned_overflow(base, incr, f.bits, f.overflow) {
            None => base.wrapping_add(incr as u64),
            Some(Some(limit)) => limit,
            Some(None) => {
                out.null();
                return None;
            }
        };
        out.int(if f.op == FieldOp::IncrBy { new } else { old } as i64);
        set_field(p, f.offset, f.bits, new);
        Some(old != new)
    }
}

/// Replies with one GET.
fn read_field(out: &mut Reply, p: &[u8], f: &Field) {
    if f.signed {
        out.int(get_signed(p, f.offset, f.bits));
    } else {
        out.int(get_unsigned(p, f.offset, f.bits) as i64);
    }
}

fn bitfield(ctx: &mut Ctx, args: &[&[u8]]) {
    bitfield_generic(ctx, args, false);
}

fn bitfield_ro(ctx: &mut Ctx, args: &[&[u8]]) {
    bitfield_generic(ctx, args, true);
}

/// BITFIELD key [GET type offset] [SET type offset value] [INCRBY type offset increment]
/// [OVERFLOW WRAP|SAT|FAIL] ... — every operation is parsed (and checked) before any runs.
fn bitfield_generic(ctx: &mut Ctx, args: &[&[u8]], read_only: bool) {
    let mut fields = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut highest_write: Option<u64> = None;
    let mut j = 2;
    while j < args.len() {
        let rest = args.len() - j - 1;
        let sub = args[j];
        let op = if sub.eq_ignore_ascii_case(b"get") && rest >= 2 {
            FieldOp::Get
        } else if sub.eq_ignore_ascii_case(b"set") && rest >= 3 {
            FieldOp::Set
        } else if sub.eq_ignore_ascii_case(b"incrby") && rest >= 3 {
            FieldOp::IncrBy
        } else if sub.eq_ignore_ascii_case(b"overflow") && rest >= 1 {
            let kind = args[j + 1];
            overflow = if kind.eq_ignore_ascii_case(b"wrap") {
                Overflow::Wrap
            } else if kind.eq_ignore_ascii_case(b"sat") {
                Overflow::Sat
            } else if kind.eq_ignore_ascii_case(b"fail") {
                Overflow::Fail
            } else {
                ctx.out.err("Invalid OVERFLOW type specified");
                return;
            };
            j += 2;
            continue;
        } else {
            ctx.out.syntax_error();
            return;
        };
        let Some((signed, bits)) = field_type(args[j + 1]) else {
            ctx.out
                .err("Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.");
            return;
        };
        let Some(offset) = bit_offset(ctx, args[j + 2], true, bits) else {
            return;
        };
        let mut value = 0;
        if op != FieldOp::Get {
            let last = offset + bits as u64 - 1;
            highest_write = Some(highest_write.map_or(last, |h| h.max(last)));
            let Some(v) = super::arg_i64(ctx.out, args[j + 3]) else {
                return;
            };
            value = v;
        }
        fields.push(Field {
            op,
            offset,
            value,
            overflow,
            bits,
            signed,
        });
        j += if op == FieldOp::Get { 3 } else { 4 };
    }

    let (now, stats, lru) = (ctx.now_ms, ctx.ks_stats(), ctx.lru());
    let key = args[1];
    let Some(highest) = highest_write else {
        // Only GETs: a plain read; a missing key reads as zeros.
        let mut shard = ctx.db().lock(key);
        let mut buf = [0u8; 20];
        let p: &[u8] = match lookup(&mut shard, key, now, stats, lru) {
            None => &[],
            Some(e) => match str_bytes(&e.value, &mut buf) {
                Some(p) => p,
                None => {
                    ctx.out.wrong_type();
                    return;
                }
            },
        };
        ctx.out.array(fields.len());
        for f in &fields {
            read_field(ctx.out, p, f);
        }
        return;
    };
    if read_only {
        ctx.out.err("BITFIELD_RO only supports the GET subcommand");
        return;
    }
    // The string grows to hold the highest bit written. Offsets were checked against
    // proto-max-bulk-len; a field may reach a few bytes past it, as in Redis.
    let min_len = (highest >> 3) as usize + 1;
    let mut shard = ctx.db().lock(key);
    let out = &mut *ctx.out;
    let changes = with_bits(&mut shard, key, min_len, (now, stats, lru), |p, grew| {
        out.array(fields.len());
        let mut changes = 0u64;
        for f in &fields {
            if f.op == FieldOp::Get {
                read_field(out, p, f);
            } else if write_field(out, p, f).is_some_and(|changed| changed || grew) {
                changes += 1;
            }
        }
        changes
    });
    drop(shard);
    match changes {
        Some(n) => {
            if n > 0 {
                notify(ctx, ev::STRING, "setbit", key);
            }
            ctx.dirty(n)
        }
        None => ctx.out.wrong_type(),
    }
}
