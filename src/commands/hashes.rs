//! Hash commands (`t_hash.c`): HSET HSETNX HMSET HGET HMGET HDEL HLEN HSTRLEN HEXISTS HKEYS
//! HVALS HGETALL HINCRBY HINCRBYFLOAT HRANDFIELD HSCAN.
//!
//! Every command touches one key, so it locks one shard. Replies, error texts and the order in
//! which errors are detected are Redis 7.0's (argument errors first, then the key's type), and
//! a hash left empty is deleted, as Redis never keeps empty collections.

use super::keys::{parse_cursor, random_u64};
use super::{def, find_typed, find_typed_read, lower, CommandDef, Ctx, Found};
use crate::keyspace::{Shard, Value};
use crate::protocol::reply::Reply;
use crate::server::notify::{self as ev, notify};
use crate::types::hash::Hash;
use crate::types::Collection;
use crate::util::glob::glob_match;
use crate::util::num::{self, parse_i64, FloatIncr};

#[rustfmt::skip]
pub static COMMANDS: &[CommandDef] = &[
    def("hset", -4, "write denyoom fast", (1, 1, 1), "@hash", "hash", "2.0.0", "Set the string value of a hash field", hset),
    def("hsetnx", 4, "write denyoom fast", (1, 1, 1), "@hash", "hash", "2.0.0", "Set the value of a hash field, only if the field does not exist", hsetnx),
    def("hmset", -4, "write denyoom fast", (1, 1, 1), "@hash", "hash", "2.0.0", "Set multiple hash fields to multiple values", hmset),
    def("hget", 3, "readonly fast", (1, 1, 1), "@hash", "hash", "2.0.0", "Get the value of a hash field", hget),
    def("hmget", -3, "readonly fast", (1, 1, 1), "@hash", "hash", "2.0.0", "Get the values of all the given hash fields", hmget),
    def("hdel", -3, "write fast", (1, 1, 1), "@hash", "hash", "2.0.0", "Delete one or more hash fields", hdel),
    def("hlen", 2, "readonly fast", (1, 1, 1), "@hash", "hash", "2.0.0", "Get the number of fields in a hash", hlen),
    def("hstrlen", 3, "readonly fast", (1, 1, 1), "@hash", "hash", "3.2.0", "Get the length of the value of a hash field", hstrlen),
    def("hexists", 3, "readonly fast", (1, 1, 1), "@hash", "hash", "2.0.0", "Determine if a hash field exists", hexists),
    def("hkeys", 2, "readonly", (1, 1, 1), "@hash", "hash", "2.0.0", "Get all the fields in a hash", hkeys),
    def("hvals", 2, "readonly", (1, 1, 1), "@hash", "hash", "2.0.0", "Get all the values in a hash", hvals),
    def("hgetall", 2, "readonly", (1, 1, 1), "@hash", "hash", "2.0.0", "Get all the fields and values in a hash", hgetall),
    def("hincrby", 4, "write denyoom fast", (1, 1, 1), "@hash", "hash", "2.0.0", "Increment the integer value of a hash field by the given number", hincrby),
    def("hincrbyfloat", 4, "write denyoom fast", (1, 1, 1), "@hash", "hash", "2.6.0", "Increment the float value of a hash field by the given amount", hincrbyfloat),
    def("hrandfield", -2, "readonly", (1, 1, 1), "@hash", "hash", "6.2.0", "Get one or multiple random fields from a hash", hrandfield),
    def("hscan", -3, "readonly", (1, 1, 1), "@hash", "hash", "2.8.0", "Incrementally iterate hash fields and associated values", hscan),
];

fn as_hash(v: &mut Value) -> Option<&mut Hash> {
    match v {
        Value::Hash(x) => Some(x),
        _ => None,
    }
}

fn find<'s>(ctx: &Ctx, shard: &'s mut Shard, key: &[u8]) -> Found<'s, Hash> {
    find_typed(ctx, shard, key, as_hash)
}

/// Looks a hash up for reading, counting the hit or miss; replies WRONGTYPE itself (None).
fn find_read<'s>(ctx: &mut Ctx, shard: &'s mut Shard, key: &[u8]) -> Option<Option<&'s mut Hash>> {
    find_typed_read(ctx, shard, key, as_hash)
}

/// The hash at `key`, created empty when missing (`hashTypeLookupWriteOrCreate`); None after
/// replying WRONGTYPE. The caller must leave it non-empty.
fn find_or_create<'s>(ctx: &mut Ctx, shard: &'s mut Shard, key: &[u8]) -> Option<&'s mut Hash> {
    if matches!(find(ctx, shard, key), Found::Missing) {
        shard.set(key, Value::Hash(Hash::new()), false, ctx.lru());
    }
    match find(ctx, shard, key) {
        Found::Is(h) => Some(h),
        _ => {
            ctx.out.wrong_type();
            None
        }
    }
}

fn hset(ctx: &mut Ctx, args: &[&[u8]]) {
    hset_generic(ctx, args, false);
}

fn hmset(ctx: &mut Ctx, args: &[&[u8]]) {
    hset_generic(ctx, args, true);
}

fn hset_generic(ctx: &mut Ctx, args: &[&[u8]], ok_reply: bool) {
    if args.len() % 2 == 1 {
        let name = if ok_reply { "hmset" } else { "hset" };
        return ctx.out.err(&format!("wrong number of arguments for '{name}' command"));
    }
    let key = args[1];
    let mut shard = ctx.db().lock(key);
    let Some(h) = find_or_create(ctx, &mut shard, key) else {
        return;
    };
    h.try_conversion(&args[2..]);
    let mut created = 0;
    for p in args[2..].chunks_exact(2) {
        created += h.set(p[0], p[1]) as i64;
    }
    notify(ctx, ev::HASH, "hset", key);
    drop(shard);
    ctx.dirty(((args.len() - 2) / 2) as u64);
    if ok_reply {
        ctx.out.ok();
    } else {
        ctx.out.int(created);
    }
}

fn hsetnx(ctx: &mut Ctx, args: &[&[u8]]) {
    let key = args[1];
    let mut shard = ctx.db().lock(key);
    let Some(h) = find_or_create(ctx, &mut shard, key) else {
        return;
    };
    h.try_conversion(&args[2..4]);
    if h.contains(args[2]) {
        drop(shard);
        return ctx.out.int(0);
    }
    h.set(args[2], args[3]);
    notify(ctx, ev::HASH, "hset", key);
    drop(shard);
    ctx.dirty(1);
    ctx.out.int(1);
}

fn hget(ctx: &mut Ctx, args: &[&[u8]]) {
    let mut shard = ctx.db().lock(args[1]);
    let Some(h) = find_read(ctx, &mut shard, args[1]) else {
        return;
    };
    match h.and_then(|h| h.get(args[2])) {
        Some(v) => ctx.out.bulk(v),
        None => ctx.out.null(),
    }
}

fn hmget(ctx: &mut Ctx, args: &[&[u8]]) {
    let mut shard = ctx.db().lock(args[1]);
    let Some(h) = find_read(ctx, &mut shard, args[1]) else {
        return;
    };
    ctx.out.array(args.len() - 2);
    for f in &args[2..] {
        match h.as_ref().and_then(|h| h.get(f)) {
            Some(v) => ctx.out.bulk(v),
            None => ctx.out.null(),
        }
    }
}

fn hdel(ctx: &mut Ctx, args: &[&[u8]]) {
    let key = args[1];
    let mut shard = ctx.db().lock(key);
    let h = match find(ctx, &mut shard, key) {
        Found::Missing => return ctx.out.int(0),
        Found::WrongType => return ctx.out.wrong_type(),
        Found::Is(h) => h,
    };
    let mut deleted = 0;
    for f in &args[2..] {
        if h.remove(f) {
            deleted += 1;
            if h.is_empty() {
                break;
            }
        }
    }
    let empty = h.is_empty();
    let old = if empty { shard.remove(key) } else { None };
    if deleted > 0 {
        notify(ctx, ev::HASH, "hdel", key);
        if empty {
            notify(ctx, ev::GENERIC, "del", key);
        }
    }
    drop(shard);
    drop(old);
    if deleted > 0 {
        ctx.dirty(deleted as u64);
    }
    ctx.out.int(deleted);
}

fn hlen(ctx: &mut Ctx, args: &[&[u8]]) {
    let mut shard = ctx.db().lock(args[1]);
    if let Some(h) = find_read(ctx, &mut shard, args[1]) {
        let n = h.map_or(0, |h| h.len());
        ctx.out.int(n as i64);
    }
}

fn hstrlen(ctx: &mut Ctx, args: &[&[u8]]) {
    let mut shard = ctx.db().lock(args[1]);
    if let Some(h) = find_read(ctx, &mut shard, args[1]) {
        let n = h.and_then(|h| h.get(args[2])).map_or(0, |v| v.len());
        ctx.out.int(n as i64);
    }
}

fn hexists(ctx: &mut Ctx, args: &[&[u8]]) {
    let mut shard = ctx.db().lock(args[1]);
    if let Some(h) = find_read(ctx, &mut shard, args[1]) {
        let b = h.is_some_and(|h| h.contains(args[2]));
        ctx.out.int(b as i64);
    }
}

/// HKEYS, HVALS and HGETALL: which parts of each pair to send.
fn hgetall_generic(ctx: &mut Ctx, key: &[u8], keys: bool, vals: bool) {
    let mut shard = ctx.db().lock(key);
    let Some(h) = find_read(ctx, &mut shard, key) else {
        return;
    };
    let Some(h) = h else {
        return if keys && vals { ctx.out.map(0) } else { ctx.out.array(0) };
    };
    if keys && vals {
        ctx.out.map(h.len());
    } else {
        ctx.out.array(h.len());
    }
    for (f, v) in h.iter() {
        if keys {
            ctx.out.bulk(f);
        }
        if vals {
            ctx.out.bulk(v);
        }
    }
}

fn hkeys(ctx: &mut Ctx, args: &[&[u8]]) {
    hgetall_generic(ctx, args[1], true, false);
}

fn hvals(ctx: &mut Ctx, args: &[&[u8]]) {
    hgetall_generic(ctx, args[1], false, true);
}

fn hgetall(ctx: &mut Ctx, args: &[&[u8]]) {
    hgetall_generic(ctx, args[1], true, true);
}

fn hincrby(ctx: &mut Ctx, args: &[&[u8]]) {
    let Some(incr) = parse_i64(args[3]) else {
        return ctx.out.not_integer();
    };
    let key = args[1];
    let mut shard = ctx.db().lock(key);
    let Some(h) = find_or_create(ctx, &mut shard, key) else {
        return;
    };
    let old = match h.get(args[2]) {
        Some(v) => match parse_i64(v) {
            Some(n) => n,
            None => return ctx.out.err("hash value is not an integer"),
        },
        None => 0,
    };
    let Some(new) = old.checked_add(incr) else {
        return ctx.out.err("increment or decrement would overflow");
    };
    h.set(args[2], &num::i64_to_bytes(new));
    notify(ctx, ev::HASH, "hincrby", key);
    drop(shard);
    ctx.dirty(1);
    ctx.out.int(new);
}

fn hincrbyfloat(ctx: &mut Ctx, args: &[&[u8]]) {
    // The increment is checked before the key is looked up, as Redis does.
    match num::incr_by_float(None, args[3]) {
        FloatIncr::Ok(_) => {}
        FloatIncr::NanOrInf => return ctx.out.err("value is NaN or Infinity"),
        _ => return ctx.out.not_float(),
    }
    let key = args[1];
    let mut shard = ctx.db().lock(key);
    let Some(h) = find_or_create(ctx, &mut shard, key) else {
        return;
    };
    let new = match num::incr_by_float(h.get(args[2]), args[3]) {
        FloatIncr::Ok(v) => v,
        FloatIncr::CurrentNotFloat => return ctx.out.err("hash value is not a float"),
        FloatIncr::IncrNotFloat => return ctx.out.not_float(),
        FloatIncr::NanOrInf => return ctx.out.err("increment would produce NaN or Infinity"),
    };
    h.set(args[2], &new);
    notify(ctx, ev::HASH, "hincrbyfloat", key);
    drop(shard);
    ctx.dirty(1);
    ctx.out.bulk(&new);
}

/// `getRangeLongFromObjectOrReply`'s text for a count outside [-LONG_MAX, LONG_MAX].
pub const RANGE_ERR: &str = "value is out of range, value must between -9223372036854775807 and 9223372036854775807";

/// Writes one random pick: the field, and with values the value (a pair array in RESP3).
fn reply_pick(out: &mut Reply, f: &[u8], v: &[u8], withvalues: bool) {
    if withvalues && out.resp > 2 {
        out.array(2);
    }
    out.bulk(f);
    if withvalues {
        out.bulk(v);
    }
}

/// Draws `count` distinct indices below `n` uniformly, in random order: a partial Fisher-Yates
/// shuffle when `count` is a large part of `n`, rejection sampling (O(count)) otherwise, like
/// Redis's CASE 3 / CASE 4 split.
pub fn distinct_indices(n: usize, count: usize) -> Vec<usize> {
    let count = count.min(n);
    if count.saturating_mul(3) < n {
        let mut seen = std::collections::HashSet::with_capacity(count);
        let mut out = Vec::with_capacity(count);
        while out.len() < count {
            let i = (random_u64() % n as u64) as usize;
            if seen.insert(i) {
                out.push(i);
            }
        }
        return out;
    }
    let mut idx: Vec<usize> = (0..n).collect();
    for i in 0..count {
        let j = i + (random_u64() % (n - i) as u64) as usize;
        idx.swap(i, j);
    }
    idx.truncate(count);
    idx
}

fn hrandfield(ctx: &mut Ctx, args: &[&[u8]]) {
    if args.len() == 2 {
        let mut shard = ctx.db().lock(args[1]);
        let Some(h) = find_read(ctx, &mut shard, args[1]) else {
            return;
        };
        let Some(h) = h else {
            return ctx.out.null();
        };
        let (f, _) = h.pair_at((random_u64() % h.len() as u64) as usize);
        return ctx.out.bulk(f);
    }
    // Redis reads the count with the range [-LONG_MAX, LONG_MAX].
    let l = match parse_i64(args[2]) {
        Some(i64::MIN) => return ctx.out.err(RANGE_ERR),
        Some(l) => l,
        None => return ctx.out.not_integer(),
    };
    let withvalues = match args.len() {
        3 => false,
        4 if lower(args[3]) == b"withvalues" => {
            if !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&l) {
                return ctx.out.err("value is out of range");
            }
            true
        }
        _ => return ctx.out.syntax_error(),
    };
    let mut shard = ctx.db().lock(args[1]);
    let Some(h) = find_read(ctx, &mut shard, args[1]) else {
        return;
    };
    let Some(h) = h else {
        return ctx.out.array(0);
    };
    let size = h.len();
    // The compact form is walked once into a list; the table is indexed directly.
    let listed = if h.is_compact() { h.pairs() } else { Vec::new() };
    let at = |i: usize| if listed.is_empty() { h.pair_at(i) } else { listed[i] };
    let count = l.unsigned_abs() as usize;
    let len_of = |n: usize, out: &Reply| if withvalues && out.resp == 2 { n * 2 } else { n };
    if count == 0 {
        return ctx.out.array(0);
    }
    if l < 0 || count == 1 {
        // Picks with repetition, in random order.
        ctx.out.array(len_of(count, ctx.out));
        for _ in 0..count {
            let (f, v) = at((random_u64() % size as u64) as usize);
            reply_pick(ctx.out, f, v, withvalues);
        }
        return;
    }
    if count >= size {
        ctx.out.array(len_of(size, ctx.out));
        for (f, v) in h.iter() {
            reply_pick(ctx.out, f, v, withvalues);
        }
        return;
    }
    ctx.out.array(len_of(count, ctx.out));
    for i in distinct_indices(size, count) {
        let (f, v) = at(i);
        reply_pick(ctx.out, f, v, withvalues);
    }
}

/// Options of HSCAN/SSCAN/ZSCAN (`scanGenericCommand` without TYPE): (count, pattern).
pub fn parse_scan_opts<'a>(out: &mut Reply, args: &[&'a [u8]]) -> Option<(usize, Option<&'a [u8]>)> {
    let mut count = 10usize;
    let mut pattern = None;
    let mut i = 0;
    while i < args.len() {
        let more = args.len() - i - 1;
        let opt = lower(args[i]);
        if opt == b"count" && more >= 1 {
            let Some(n) = parse_i64(args[i + 1]) else {
                out.not_integer();
                return None;
            };
            if n < 1 {
                out.syntax_error();
                return None;
            }
            count = n as usize;
        } else if opt == b"match" && more >= 1 {
            pattern = Some(args[i + 1]).filter(|p| *p != b"*");
        } else {
            out.syntax_error();
            return None;
        }
        i += 2;
    }
    Some((count, pattern))
}

/// Writes a SCAN-shaped reply: the next cursor, then the items.
pub fn reply_scan(out: &mut Reply, cursor: u64, items: &[Vec<u8>]) {
    out.array(2);
    out.bulk(cursor.to_string().as_bytes());
    out.array(items.len());
    for i in items {
        out.bulk(i);
    }
}

fn hscan(ctx: &mut Ctx, args: &[&[u8]]) {
    let Some(cursor) = parse_cursor(args[2]) else {
        return ctx.out.err("invalid cursor");
    };
    let mut shard = ctx.db().lock(args[1]);
    let h = match find(ctx, &mut shard, args[1]) {
        Found::Missing => return reply_scan(ctx.out, 0, &[]),
        Found::WrongType => return ctx.out.wrong_type(),
        Found::Is(h) => h,
    };
    let Some((count, pattern)) = parse_scan_opts(ctx.out, &args[3..]) else {
        return;
    };
    let mut items = Vec::new();
    let mut c = cursor;
    let mut budget = count.saturating_mul(10);
    loop {
        c = h.scan(c, |f, v| {
            if pattern.is_none_or(|p| glob_match(p, f, false)) {
                items.push(f.to_vec());
                items.push(v.to_vec());
            }
        });
        budget = budget.saturating_sub(1);
        if c == 0 || budget == 0 || items.len() >= count {
            break;
        }
    }
    drop(shard);
    reply_scan(ctx.out, c, &items);
}
