//! HyperLogLog (`hyperloglog.c`): PFADD PFCOUNT PFMERGE, and PFDEBUG / PFSELFTEST.
//!
//! An HLL is an ordinary STRING value holding Redis's exact byte layout, so GET/SET, DUMP/RESTORE
//! and replication move HLLs between Ochre and Redis unchanged. The layout:
//!
//! ```text
//! "HYLL" <encoding: 0 dense, 1 sparse> <3 unused bytes> <cached cardinality: u64 LE> <data>
//! ```
//!
//! The top bit of the cached cardinality's last byte says "stale": every change sets it and
//! PFCOUNT recomputes and stores the count, which is why a read-only-looking PFCOUNT writes.
//!
//! * **Dense** data is 16384 registers of 6 bits, packed from the least significant bit of each
//!   byte upwards (12288 bytes).
//! * **Sparse** data is run-length opcodes: `00xxxxxx` ZERO (1..64 zero registers), `01xxxxxx
//!   yyyyyyyy` XZERO (1..16384 zeros), `1vvvvvxx` VAL (1..4 registers of value 1..32). A new HLL
//!   is two XZEROs. A sparse HLL turns dense when a register needs a value above 32 or when its
//!   string would grow past `hll-sparse-max-bytes`.
//!
//! Each element is hashed with MurmurHash64A (seed 0xadc83b19): the low 14 bits pick the register,
//! and the position of the first 1 bit in the rest is the candidate value. The count uses Ertl's
//! improved estimator, as Redis 7 does, so counts match Redis's exactly.
//!
//! The byte-level editing of sparse strings (splitting a run, merging equal neighbours) follows
//! Redis step by step, because the resulting bytes are observable with GET. HLL strings come from
//! clients (SET, SETRANGE, RESTORE), so every walk is bounds-checked: a corrupted HLL gets
//! `INVALIDOBJ`, never a panic.

use super::strings::lookup;
use super::{def, CommandDef, Ctx};
use crate::keyspace::Value;
use crate::protocol::reply::Reply;
use crate::server::notify::{self as ev, notify};

#[rustfmt::skip]
pub static COMMANDS: &[CommandDef] = &[
    def("pfadd", -2, "write denyoom fast", (1, 1, 1), "@hyperloglog", "hyperloglog", "2.8.9", "Adds the specified elements to the specified HyperLogLog.", pfadd),
    def("pfcount", -2, "readonly may_replicate", (1, -1, 1), "@hyperloglog", "hyperloglog", "2.8.9", "Return the approximated cardinality of the set(s) observed by the HyperLogLog at key(s).", pfcount),
    def("pfmerge", -2, "write denyoom", (1, -1, 1), "@hyperloglog", "hyperloglog", "2.8.9", "Merge N different HyperLogLogs into a single one.", pfmerge),
    def("pfdebug", 3, "write denyoom admin", (2, 2, 1), "@hyperloglog", "hyperloglog", "2.8.9", "Internal commands for debugging HyperLogLog values", pfdebug),
    def("pfselftest", 1, "admin", (0, 0, 0), "@hyperloglog", "hyperloglog", "2.8.9", "An internal command for testing HyperLogLog values", pfselftest),
];

const NOT_HLL: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";
const INVALID: &str = "INVALIDOBJ Corrupted HLL object detected";

/// Header size: magic, encoding, 3 unused bytes, 8 bytes of cached cardinality.
const HDR: usize = 16;
const P: u32 = 14;
const Q: usize = 64 - P as usize;
const REGISTERS: usize = 1 << P;
const DENSE_BYTES: usize = REGISTERS * 6 / 8;
const DENSE_SIZE: usize = HDR + DENSE_BYTES;
const DENSE: u8 = 0;
const SPARSE: u8 = 1;
/// The byte holding the cached cardinality's "stale" bit.
const CARD_MSB: usize = 15;

const SPARSE_VAL_MAX_VALUE: u8 = 32;
const SPARSE_VAL_MAX_LEN: usize = 4;
const SPARSE_ZERO_MAX_LEN: usize = 64;
const SPARSE_XZERO_MAX_LEN: usize = 16384;

/// The HLL is malformed (a sparse run that does not cover exactly 16384 registers).
#[derive(Debug, PartialEq, Eq)]
struct Corrupt;

// ---------------------------------------------------------------------------------------------
// Hashing
// ---------------------------------------------------------------------------------------------

/// MurmurHash64A, reading 8-byte blocks little-endian whatever the host (as Redis's
/// endian-neutral variant).
fn murmur64a(key: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4a7935bd1e995;
    const R: u32 = 47;
    let mut h = seed ^ (key.len() as u64).wrapping_mul(M);
    let mut blocks = key.chunks_exact(8);
    for b in &mut blocks {
        let mut k = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate() {
            h ^= (b as u64) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element maps to and the value it proposes: 1 + the number of zero bits
/// before the first 1 in the hash bits above the index (at most Q + 1).
fn pattern(ele: &[u8]) -> (usize, u8) {
    let hash = murmur64a(ele, 0xadc83b19);
    let index = (hash as usize) & (REGISTERS - 1);
    let rest = (hash >> P) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

// ---------------------------------------------------------------------------------------------
// Dense registers
// ---------------------------------------------------------------------------------------------

fn get_reg(regs: &[u8], i: usize) -> u8 {
    let byte = i * 6 / 8;
    let fb = (i * 6) & 7;
    let b0 = regs[byte] as u16;
    // The last register ends inside its byte; Redis reads the string's NUL terminator here.
    let b1 = regs.get(byte + 1).copied().unwrap_or(0) as u16;
    (((b0 >> fb) | (b1 << (8 - fb))) & 63) as u8
}

fn set_reg(regs: &mut [u8], i: usize, val: u8) {
    let byte = i * 6 / 8;
    let fb = (i * 6) & 7;
    let v = val as u16;
    regs[byte] &= !(63u16 << fb) as u8;
    regs[byte] |= (v << fb) as u8;
    if let Some(b1) = regs.get_mut(byte + 1) {
        *b1 &= !(63u16 >> (8 - fb)) as u8;
        *b1 |= (v >> (8 - fb)) as u8;
    }
}

/// Raises register `i` to `count` if lower; returns whether it changed.
fn dense_set(regs: &mut [u8], i: usize, count: u8) -> bool {
    if count > get_reg(regs, i) {
        set_reg(regs, i, count);
        true
    } else {
        false
    }
}

/// Histogram of register values: 3 bytes hold 4 registers.
fn dense_histogram(regs: &[u8], hist: &mut [u64; 64]) {
    for c in regs.chunks_exact(3) {
        let (a, b, d) = (c[0], c[1], c[2]);
        hist[(a & 63) as usize] += 1;
        hist[((a >> 6 | b << 2) & 63) as usize] += 1;
        hist[((b >> 4 | d << 4) & 63) as usize] += 1;
        hist[(d >> 2) as usize] += 1;
    }
}

// ---------------------------------------------------------------------------------------------
// Sparse opcodes
// ---------------------------------------------------------------------------------------------

/// One decoded sparse opcode.
enum Op {
    Zero(usize),
    Val(u8, usize),
}

/// Decodes the opcode at `p` into (op, bytes it takes). An XZERO cut by the end of the string
/// reads a 0 second byte, as Redis reads the NUL terminator.
fn op_at(v: &[u8], p: usize) -> (Op, usize) {
    let b = v[p];
    if b & 0xC0 == 0 {
        (Op::Zero((b & 0x3F) as usize + 1), 1)
    } else if b & 0x80 == 0 {
        let lo = v.get(p + 1).copied().unwrap_or(0) as usize;
        (Op::Zero(((((b & 0x3F) as usize) << 8) | lo) + 1), 2)
    } else {
        (Op::Val(((b >> 2) & 0x1F) + 1, (b & 3) as usize + 1), 1)
    }
}

fn val_op(value: u8, len: usize) -> u8 {
    0x80 | ((value - 1) << 2) | (len as u8 - 1)
}

/// A ZERO or XZERO opcode for `len` zeros, appended to `out`.
fn push_zeros(out: &mut Vec<u8>, len: usize) {
    if len > SPARSE_ZERO_MAX_LEN {
        let l = len - 1;
        out.push(0x40 | (l >> 8) as u8);
        out.push(l as u8);
    } else {
        out.push(len as u8 - 1);
    }
}

/// Walks a sparse body, calling `f(first_register, count, value)` for each VAL run. Fails if
/// the runs do not cover exactly the 16384 registers (stopping before a VAL run would overflow,
/// so `f` never sees an index out of range).
fn walk_sparse(body: &[u8], mut f: impl FnMut(usize, usize, u8)) -> Result<(), Corrupt> {
    let mut idx = 0usize;
    let mut p = 0;
    while p < body.len() {
        let (op, n) = op_at(body, p);
        match op {
            Op::Zero(len) => idx += len,
            Op::Val(value, len) => {
                if idx + len > REGISTERS {
                    break;
                }
                f(idx, len, value);
                idx += len;
            }
        }
        p += n;
    }
    if idx == REGISTERS {
        Ok(())
    } else {
        Err(Corrupt)
    }
}

/// A new, empty HLL: sparse, all registers covered by XZERO runs.
fn new_hll() -> Vec<u8> {
    let mut v = Vec::with_capacity(HDR + 2 * REGISTERS.div_ceil(SPARSE_XZERO_MAX_LEN) + 16);
    v.extend_from_slice(b"HYLL");
    v.push(SPARSE);
    v.extend_from_slice(&[0; 11]);
    let mut left = REGISTERS;
    while left > 0 {
        let n = left.min(SPARSE_XZERO_MAX_LEN);
        let l = n - 1;
        v.push(0x40 | (l >> 8) as u8);
        v.push(l as u8);
        left -= n;
    }
    v
}

/// Converts a sparse HLL to dense in place (no-op for dense). The cached cardinality and the
/// rest of the header are kept.
fn to_dense(v: &mut Vec<u8>) -> Result<(), Corrupt> {
    if v[4] == DENSE {
        return Ok(());
    }
    let mut dense = vec![0u8; DENSE_SIZE];
    dense[..HDR].copy_from_slice(&v[..HDR]);
    dense[4] = DENSE;
    let regs = &mut dense[HDR..];
    walk_sparse(&v[HDR..], |first, len, value| {
        for i in first..first + len {
            set_reg(regs, i, value);
        }
    })?;
    *v = dense;
    Ok(())
}

/// Raises register `index` of a sparse HLL to `count` if lower, editing the opcodes in place as
/// Redis's `hllSparseSet` does (the resulting bytes are Redis's). Promotes to dense when the
/// value does not fit a VAL opcode or the string would exceed `max_bytes`.
fn sparse_set(v: &mut Vec<u8>, index: usize, count: u8, max_bytes: usize) -> Result<bool, Corrupt> {
    if count > SPARSE_VAL_MAX_VALUE {
        return promote(v, index, count);
    }
    let mut end = v.len();
    // Redis works on an sds whose byte past the end is the NUL terminator, and a corrupted
    // XZERO at the very end reads and replaces it; the sentinel makes that well defined here.
    v.push(0);
    let r = sparse_set_inner(v, &mut end, index, count, max_bytes);
    v.truncate(end);
    match r {
        Err(Promote) => promote(v, index, count),
        Ok(r) => r,
    }
}

struct Promote;

fn sparse_set_inner(
    v: &mut Vec<u8>,
    end: &mut usize,
    index: usize,
    count: u8,
    max_bytes: usize,
) -> Result<Result<bool, Corrupt>, Promote> {
    // Step 1: find the opcode covering `index`.
    let mut p = HDR;
    let mut first = 0usize;
    let mut span = 0usize;
    let mut prev = None;
    while p < *end {
        let (op, n) = op_at(v, p);
        span = match op {
            Op::Zero(len) | Op::Val(_, len) => len,
        };
        if index < first + span {
            break;
        }
        prev = Some(p);
        p += n;
        first += span;
    }
    if span == 0 || p >= *end {
        return Ok(Err(Corrupt));
    }
    let (op, oldlen) = op_at(v, p);
    let last = first + span - 1;
    let mut seq = Vec::with_capacity(5);
    match op {
        Op::Val(cur, _) if cur >= count => return Ok(Ok(false)),
        Op::Val(_, 1) => v[p] = val_op(count, 1),
        Op::Zero(1) if oldlen == 1 => v[p] = val_op(count, 1),
        Op::Zero(_) => {
            // Split the zero run around the register.
            if index != first {
                push_zeros(&mut seq, index - first);
            }
            seq.push(val_op(count, 1));
            if index != last {
                push_zeros(&mut seq, last - index);
            }
        }
        Op::Val(cur, _) => {
            if index != first {
                seq.push(val_op(cur, index - first));
            }
            seq.push(val_op(count, 1));
            if index != last {
                seq.push(val_op(cur, last - index));
            }
        }
    }
    if !seq.is_empty() {
        let delta = seq.len() as isize - oldlen as isize;
        if delta > 0 && *end + delta as usize > max_bytes {
            return Err(Promote);
        }
        v.splice(p..p + oldlen, seq);
        *end = (*end as isize + delta) as usize;
    }
    // Step 4: merge adjacent VAL runs of equal value, scanning up to 5 opcodes from the one
    // before the change.
    let mut q = prev.unwrap_or(HDR);
    let mut scan = 5;
    while q < *end && scan > 0 {
        scan -= 1;
        let b = v[q];
        if b & 0xC0 == 0x40 {
            q += 2;
            continue;
        }
        if b & 0xC0 == 0 {
            q += 1;
            continue;
        }
        if q + 1 < *end && v[q + 1] & 0x80 != 0 {
            let (v1, l1) = (((b >> 2) & 0x1F) + 1, (b & 3) as usize + 1);
            let n = v[q + 1];
            let (v2, l2) = (((n >> 2) & 0x1F) + 1, (n & 3) as usize + 1);
            if v1 == v2 && l1 + l2 <= SPARSE_VAL_MAX_LEN {
                v[q + 1] = val_op(v1, l1 + l2);
                v.remove(q);
                *end -= 1;
                continue;
            }
        }
        q += 1;
    }
    v[CARD_MSB] |= 0x80;
    Ok(Ok(true))
}

fn promote(v: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, Corrupt> {
    to_dense(v)?;
    Ok(dense_set(&mut v[HDR..], index, count))
}

/// Adds one element; returns whether a register changed.
fn add(v: &mut Vec<u8>, ele: &[u8], max_bytes: usize) -> Result<bool, Corrupt> {
    let (index, count) = pattern(ele);
    match v[4] {
        DENSE => Ok(dense_set(&mut v[HDR..], index, count)),
        SPARSE => sparse_set(v, index, count, max_bytes),
        _ => Err(Corrupt),
    }
}

// ---------------------------------------------------------------------------------------------
// Estimation
// ---------------------------------------------------------------------------------------------

/// Ertl's sigma function (arXiv:1702.01284).
fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    // The series converges (or reaches infinity) well within 100 terms; the cap only guards
    // against a NaN, which never equals itself.
    for _ in 0..1000 {
        x *= x;
        let prev = z;
        z += x * y;
        y += y;
        if prev == z {
            break;
        }
    }
    z
}

/// Ertl's tau function (arXiv:1702.01284).
fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    for _ in 0..1000 {
        x = x.sqrt();
        let prev = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
        if prev == z {
            break;
        }
    }
    z / 3.0
}

/// The cardinality estimate from a histogram of register values (`hllCount`).
fn estimate(hist: &[u64; 64]) -> u64 {
    const ALPHA_INF: f64 = 0.721_347_520_444_481_7; // 0.5 / ln 2
    let m = REGISTERS as f64;
    let mut z = m * tau((m - hist[Q + 1] as f64) / m);
    for j in (1..=Q).rev() {
        z += hist[j] as f64;
        z *= 0.5;
    }
    z += m * sigma(hist[0] as f64 / m);
    (ALPHA_INF * m * m / z).round() as u64
}

/// The estimate for one HLL string (already checked with [`is_hll`]).
fn count(v: &[u8]) -> Result<u64, Corrupt> {
    let mut hist = [0u64; 64];
    if v[4] == DENSE {
        dense_histogram(&v[HDR..], &mut hist);
    } else {
        // Unlike merging, the histogram walk counts every run (Redis's hllSparseRegHisto), and
        // only then judges the total.
        let body = &v[HDR..];
        let mut idx = 0usize;
        let mut p = 0;
        while p < body.len() {
            let (op, n) = op_at(body, p);
            match op {
                Op::Zero(len) => {
                    idx += len;
                    hist[0] += len as u64;
                }
                Op::Val(value, len) => {
                    idx += len;
                    hist[value as usize] += len as u64;
                }
            }
            p += n;
        }
        if idx != REGISTERS {
            return Err(Corrupt);
        }
    }
    Ok(estimate(&hist))
}

/// Folds an HLL into byte-per-register maxima (`hllMerge`).
fn merge_into(max: &mut [u8], v: &[u8]) -> Result<(), Corrupt> {
    if v[4] == DENSE {
        let regs = &v[HDR..];
        for (i, m) in max.iter_mut().enumerate() {
            *m = (*m).max(get_reg(regs, i));
        }
        Ok(())
    } else {
        walk_sparse(&v[HDR..], |first, len, value| {
            for m in &mut max[first..first + len] {
                *m = (*m).max(value);
            }
        })
    }
}

fn estimate_raw(max: &[u8]) -> u64 {
    let mut hist = [0u64; 64];
    for &r in max {
        hist[(r & 63) as usize] += 1;
    }
    estimate(&hist)
}

// ---------------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------------

/// Whether `b` looks like an HLL (`isHLLObjectOrReply`): magic, known encoding, and for dense
/// the exact size. Sparse bodies are checked when walked.
fn is_hll(b: &[u8]) -> bool {
    b.len() >= HDR && &b[..4] == b"HYLL" && b[4] <= SPARSE && (b[4] != DENSE || b.len() == DENSE_SIZE)
}

/// The HLL bytes of a value, or replies with the right error: WRONGTYPE for a non-string,
/// the HLL-specific WRONGTYPE for a string that is not an HLL (an int-encoded one never is).
fn hll_of<'v>(out: &mut Reply, v: &'v Value) -> Option<&'v [u8]> {
    match v {
        Value::Int(_) => {
            out.error(NOT_HLL);
            None
        }
        _ => match v.str_bytes() {
            Some(b) if is_hll(b) => Some(b),
            Some(_) => {
                out.error(NOT_HLL);
                None
            }
            None => {
                out.wrong_type();
                None
            }
        },
    }
}

fn sparse_max_bytes(ctx: &Ctx) -> usize {
    usize::try_from(ctx.srv.config.get_i64("hll-sparse-max-bytes")).unwrap_or(0)
}

/// PFADD key [element ...]
fn pfadd(ctx: &mut Ctx, args: &[&[u8]]) {
    let key = args[1];
    let max_bytes = sparse_max_bytes(ctx);
    let (now, stats, lru) = (ctx.now_ms, ctx.ks_stats(), ctx.lru());
    let db = ctx.db();
    let mut shard = db.lock(key);
    let mut updated = 0u64;
    match lookup(&mut shard, key, now, stats, lru) {
        Some(e) => {
            if hll_of(ctx.out, &e.value).is_none() {
                return;
            }
        }
        None => {
            shard.upsert(key, Value::raw(new_hll()), Some(0), lru, now, stats);
            updated += 1;
        }
    }
    let Some(v) = shard.get_mut(key, now, stats).and_then(|e| e.value.make_raw()) else {
        ctx.out.error(INVALID);
        return;
    };
    for ele in &args[2..] {
        match add(v, ele, max_bytes) {
            Ok(true) => updated += 1,
            Ok(false) => {}
            Err(Corrupt) => {
                ctx.out.error(INVALID);
                return;
            }
        }
    }
    if updated > 0 {
        v[CARD_MSB] |= 0x80;
        notify(ctx, ev::STRING, "pfadd", key);
    }
    drop(shard);
    ctx.dirty(updated);
    ctx.out.int((updated > 0) as i64);
}

/// PFCOUNT key [key ...]: one key answers from (and refreshes) its cached cardinality; several
/// keys count their union.
fn pfcount(ctx: &mut Ctx, args: &[&[u8]]) {
    let (now, stats, lru) = (ctx.now_ms, ctx.ks_stats(), ctx.lru());
    if args.len() > 2 {
        let keys = &args[1..];
        let mut max = vec![0u8; REGISTERS];
        let mut locked = ctx.db().lock_keys(keys.iter().copied());
        for key in keys {
            let found = lookup(locked.shard(key), key, now, stats, lru);
            ctx.count_read(found.is_some());
            let Some(e) = found else { continue };
            let Some(b) = hll_of(ctx.out, &e.value) else {
                return;
            };
            if merge_into(&mut max, b).is_err() {
                ctx.out.error(INVALID);
                return;
            }
        }
        drop(locked);
        ctx.out.int(estimate_raw(&max) as i64);
        return;
    }
    let key = args[1];
    let db = ctx.db();
    let mut shard = db.lock(key);
    let found = lookup(&mut shard, key, now, stats, lru);
    ctx.count_read(found.is_some());
    let Some(e) = found else {
        ctx.out.int(0);
        return;
    };
    if hll_of(ctx.out, &e.value).is_none() {
        return;
    }
    let Some(v) = e.value.make_raw() else {
        ctx.out.error(INVALID);
        return;
    };
    if v[CARD_MSB] & 0x80 == 0 {
        let card = u64::from_le_bytes([v[8], v[9], v[10], v[11], v[12], v[13], v[14], v[15]]);
        ctx.out.int(card as i64);
        return;
    }
    let Ok(card) = count(v) else {
        ctx.out.error(INVALID);
        return;
    };
    v[8..16].copy_from_slice(&card.to_le_bytes());
    drop(shard);
    ctx.dirty(1);
    ctx.out.int(card as i64);
}

/// PFMERGE destkey [sourcekey ...]: the destination (also read as a source) becomes the union.
fn pfmerge(ctx: &mut Ctx, args: &[&[u8]]) {
    let max_bytes = sparse_max_bytes(ctx);
    let (now, stats, lru) = (ctx.now_ms, ctx.ks_stats(), ctx.lru());
    let keys = &args[1..];
    let dest = args[1];
    let mut max = vec![0u8; REGISTERS];
    let mut use_dense = false;
    let mut locked = ctx.db().lock_keys(keys.iter().copied());
    for key in keys {
        let found = lookup(locked.shard(key), key, now, stats, lru);
        ctx.count_read(found.is_some());
        let Some(e) = found else { continue };
        let Some(b) = hll_of(ctx.out, &e.value) else {
            return;
        };
        use_dense |= b[4] == DENSE;
        if merge_into(&mut max, b).is_err() {
            ctx.out.error(INVALID);
            return;
        }
    }
    let shard = locked.shard(dest);
    if shard.get_mut(dest, now, stats).is_none() {
        shard.upsert(dest, Value::raw(new_hll()), Some(0), lru, now, stats);
    }
    let Some(v) = shard.get_mut(dest, now, stats).and_then(|e| e.value.make_raw()) else {
        ctx.out.error(INVALID);
        return;
    };
    if use_dense && to_dense(v).is_err() {
        ctx.out.error(INVALID);
        return;
    }
    for (i, &m) in max.iter().enumerate() {
        if m == 0 {
            continue;
        }
        if v[4] == DENSE {
            dense_set(&mut v[HDR..], i, m);
        } else {
            // The destination was validated as a source, so this cannot fail.
            let _ = sparse_set(v, i, m, max_bytes);
        }
    }
    v[CARD_MSB] |= 0x80;
    notify(ctx, ev::STRING, "pfadd", dest);
    drop(locked);
    ctx.dirty(1);
    ctx.out.ok();
}

/// PFDEBUG GETREG|DECODE|ENCODING|TODENSE key
fn pfdebug(ctx: &mut Ctx, args: &[&[u8]]) {
    let (sub, key) = (args[1], args[2]);
    let (now, stats, lru) = (ctx.now_ms, ctx.ks_stats(), ctx.lru());
    let db = ctx.db();
    let mut shard = db.lock(key);
    let Some(e) = lookup(&mut shard, key, now, stats, lru) else {
        ctx.out.err("The specified key does not exist");
        return;
    };
    if hll_of(ctx.out, &e.value).is_none() {
        return;
    }
    let Some(v) = e.value.make_raw() else {
        ctx.out.error(INVALID);
        return;
    };
    match sub.to_ascii_lowercase().as_slice() {
        b"getreg" => {
            if v[4] == SPARSE {
                if to_dense(v).is_err() {
                    ctx.out.error(INVALID);
                    return;
                }
                ctx.dirty(1);
            }
            ctx.out.array(REGISTERS);
            for i in 0..REGISTERS {
                ctx.out.int(get_reg(&v[HDR..], i) as i64);
            }
        }
        b"decode" => {
            if v[4] != SPARSE {
                ctx.out.err("HLL encoding is not sparse");
                return;
            }
            let body = &v[HDR..];
            let mut text = Vec::new();
            let mut p = 0;
            while p < body.len() {
                let b = body[p];
                let (op, n) = op_at(body, p);
                let s = match op {
                    Op::Zero(len) if n == 1 && b & 0xC0 == 0 => format!("z:{len} "),
                    Op::Zero(len) => format!("Z:{len} "),
                    Op::Val(value, len) => format!("v:{value},{len} "),
                };
                text.extend_from_slice(s.as_bytes());
                p += n;
            }
            while text.last() == Some(&b' ') {
                text.pop();
            }
            ctx.out.bulk(&text);
        }
        b"encoding" => ctx.out.simple(if v[4] == DENSE { "dense" } else { "sparse" }),
        b"todense" => {
            let conv = v[4] == SPARSE;
            if conv {
                if to_dense(v).is_err() {
                    ctx.out.error(INVALID);
                    return;
                }
                ctx.dirty(1);
            }
            ctx.out.int(conv as i64);
        }
        _ => ctx.out.err(&format!(
            "Unknown PFDEBUG subcommand '{}'",
            String::from_utf8_lossy(sub)
        )),
    }
}

/// PFSELFTEST: checks the 6-bit register packing against a byte array, then that dense and
/// sparse HLLs fed the same 10 million elements agree and stay within the expected error.
fn pfselftest(ctx: &mut Ctx, _args: &[&[u8]]) {
    let max_bytes = sparse_max_bytes(ctx);
    match selftest(max_bytes, ctx.now_ms as u64) {
        Ok(()) => ctx.out.ok(),
        Err(e) => ctx.out.error(&format!("TESTFAILED {e}")),
    }
}

fn selftest(max_bytes: usize, seed: u64) -> Result<(), String> {
    // xorshift64*: any decent generator will do; the seed varies per run as Redis's rand().
    let mut state = seed | 1;
    let mut rand = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545F4914F6CDD1D)
    };
    let mut regs = vec![0u8; DENSE_BYTES];
    let mut bytes = vec![0u8; REGISTERS];
    for _ in 0..1000 {
        for (i, b) in bytes.iter_mut().enumerate() {
            let r = (rand() & 63) as u8;
            *b = r;
            set_reg(&mut regs, i, r);
        }
        for (i, &b) in bytes.iter().enumerate() {
            let got = get_reg(&regs, i);
            if got != b {
                return Err(format!("Register {i} should be {b} but is {got}"));
            }
        }
    }

    let mut dense = vec![0u8; DENSE_SIZE];
    dense[..4].copy_from_slice(b"HYLL");
    let mut sparse = new_hll();
    let relerr = 1.04 / (REGISTERS as f64).sqrt();
    let mut checkpoint: u64 = 1;
    let seed = rand();
    for j in 1..=10_000_000u64 {
        let ele = (j ^ seed).to_le_bytes();
        let (index, c) = pattern(&ele);
        dense_set(&mut dense[HDR..], index, c);
        add(&mut sparse, &ele, max_bytes).map_err(|_| "sparse HLL corrupted".to_string())?;
        if j != checkpoint {
            continue;
        }
        if (j as usize) < max_bytes / 2 && sparse[4] != SPARSE {
            return Err("sparse encoding not used".into());
        }
        let card = count(&dense).map_err(|_| "dense HLL corrupted".to_string())?;
        if count(&sparse) != Ok(card) {
            return Err("dense/sparse disagree".into());
        }
        let abserr = (checkpoint as i64 - card as i64).unsigned_abs();
        let mut maxerr = (relerr * 6.0 * checkpoint as f64).ceil() as u64;
        // Collisions make cardinality 10 noisy.
        if j == 10 {
            maxerr = 1;
        }
        if abserr > maxerr {
            return Err(format!("Too big error. card:{checkpoint} abserr:{abserr}"));
        }
        checkpoint *= 10;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sparse_from(elements: &[&[u8]]) -> Vec<u8> {
        let mut v = new_hll();
        for e in elements {
            let _ = add(&mut v, e, 3000);
        }
        v
    }

    #[test]
    fn empty_hll_layout() {
        let v = new_hll();
        assert_eq!(v.len(), 18);
        assert_eq!(&v[16..], &[0x7F, 0xFF]);
        assert_eq!(count(&v), Ok(0));
    }

    #[test]
    fn register_packing() {
        let mut regs = vec![0u8; DENSE_BYTES];
        for i in 0..REGISTERS {
            set_reg(&mut regs, i, (i % 64) as u8);
        }
        for i in 0..REGISTERS {
            assert_eq!(get_reg(&regs, i), (i % 64) as u8);
        }
    }

    #[test]
    fn sparse_and_dense_agree() {
        let elements: Vec<Vec<u8>> = (0..2000).map(|i| format!("e{i}").into_bytes()).collect();
        let mut sparse = new_hll();
        let mut dense = new_hll();
        assert_eq!(to_dense(&mut dense), Ok(()));
        for e in &elements {
            let a = add(&mut sparse, e, 1 << 20);
            let b = add(&mut dense, e, 1 << 20);
            assert_eq!(a, b);
        }
        assert_eq!(sparse[4], SPARSE);
        assert_eq!(count(&sparse), count(&dense));
        let mut converted = sparse.clone();
        assert_eq!(to_dense(&mut converted), Ok(()));
        assert_eq!(converted[HDR..], dense[HDR..]);
    }

    #[test]
    fn small_sparse_counts_exact() {
        let v = sparse_from(&[b"a", b"b", b"c"]);
        assert_eq!(count(&v), Ok(3));
    }

    #[test]
    fn corrupted_sparse_is_detected() {
        let mut v = sparse_from(&[b"a", b"b", b"c"]);
        v.extend_from_slice(b"hello");
        assert_eq!(count(&v), Err(Corrupt));
        assert_eq!(to_dense(&mut v.clone()), Err(Corrupt));
        let mut max = vec![0u8; REGISTERS];
        assert_eq!(merge_into(&mut max, &v), Err(Corrupt));
        // Truncated in the middle of an XZERO: reads a 0, then falls short.
        let mut t = new_hll();
        t.truncate(17);
        assert_eq!(count(&t), Err(Corrupt));
        assert!(sparse_set(&mut t, 16383, 3, 3000).is_err());
    }

    #[test]
    fn random_corruption_never_panics() {
        let mut state = 0x1234_5678_9abc_def1u64;
        let mut rand = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let base = sparse_from(&[b"x", b"y", b"z", b"w", b"1", b"2"]);
        for _ in 0..3000 {
            let mut v = base.clone();
            for _ in 0..1 + rand() % 5 {
                let i = HDR + (rand() as usize) % (v.len() - HDR);
                v[i] = rand() as u8;
            }
            if rand() % 4 == 0 {
                let cut = HDR + (rand() as usize) % (v.len() - HDR);
                v.truncate(cut);
            }
            let _ = count(&v);
            let mut max = vec![0u8; REGISTERS];
            let _ = merge_into(&mut max, &v);
            let mut w = v.clone();
            for k in 0..20u8 {
                let _ = add(&mut w, &[k], 3000);
            }
            let _ = to_dense(&mut v);
        }
    }
}
