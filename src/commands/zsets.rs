//! Sorted set commands (`t_zset.c`): ZADD and friends, ranges by rank / score / member, pops,
//! set algebra (ZUNION, ZINTER, ZDIFF and their STORE forms), ZRANDMEMBER and ZSCAN, and the
//! blocking pops (BZPOPMIN, BZPOPMAX, BZMPOP).
//!
//! Replies, error texts and the order in which errors are detected follow Redis 7.0 exactly.
//! Every range command reduces to ranks: a range's ends are found with
//! [`ZSet::lower_bound`] (a predicate true on a prefix of the order) and its members visited
//! with [`ZSet::visit`], which is O(log n + k) on the large form.
//!
//! The blocking pops use `server/blocking.rs` as the list ones do: finding no member, they
//! register under their keys' locks; every command that stores members into a key signals it
//! ([`blocking::signal`]), and [`serve_bzpop`] answers the first waiter once the command ends.

use super::keys::{parse_cursor, random_u64};
use super::{def, CommandDef, Ctx};
use crate::keyspace::{KeyspaceStats, Shard, Value};
use crate::protocol::reply::Reply;
use crate::server::blocking::{self, Outcome, TimeoutReply, Waiter};
use crate::server::notify as ev;
use crate::server::Server;
use crate::types::zset::ZSet;
use crate::types::Collection;
use crate::util::glob::glob_match;
use crate::util::num::parse_i64;
use std::cmp::Ordering;
use std::collections::HashMap;

#[rustfmt::skip]
pub static COMMANDS: &[CommandDef] = &[
    def("zadd", -4, "write denyoom fast", (1, 1, 1), "@sortedset", "sorted-set", "1.2.0", "Add one or more members to a sorted set, or update its score if it already exists", zadd),
    def("zincrby", 4, "write denyoom fast", (1, 1, 1), "@sortedset", "sorted-set", "1.2.0", "Increment the score of a member in a sorted set", zincrby),
    def("zrem", -3, "write fast", (1, 1, 1), "@sortedset", "sorted-set", "1.2.0", "Remove one or more members from a sorted set", zrem),
    def("zcard", 2, "readonly fast", (1, 1, 1), "@sortedset", "sorted-set", "1.2.0", "Get the number of members in a sorted set", zcard),
    def("zscore", 3, "readonly fast", (1, 1, 1), "@sortedset", "sorted-set", "1.2.0", "Get the score associated with the given member in a sorted set", zscore),
    def("zmscore", -3, "readonly fast", (1, 1, 1), "@sortedset", "sorted-set", "6.2.0", "Get the score associated with the given members in a sorted set", zmscore),
    def("zrank", 3, "readonly fast", (1, 1, 1), "@sortedset", "sorted-set", "2.0.0", "Determine the index of a member in a sorted set", zrank),
    def("zrevrank", 3, "readonly fast", (1, 1, 1), "@sortedset", "sorted-set", "2.0.0", "Determine the index of a member in a sorted set, with scores ordered from high to low", zrevrank),
    def("zcount", 4, "readonly fast", (1, 1, 1), "@sortedset", "sorted-set", "2.0.0", "Count the members in a sorted set with scores within the given values", zcount),
    def("zlexcount", 4, "readonly fast", (1, 1, 1), "@sortedset", "sorted-set", "2.8.9", "Count the number of members in a sorted set between a given lexicographical range", zlexcount),
    def("zrange", -4, "readonly", (1, 1, 1), "@sortedset", "sorted-set", "1.2.0", "Return a range of members in a sorted set", zrange),
    def("zrangestore", -5, "write denyoom", (1, 2, 1), "@sortedset", "sorted-set", "6.2.0", "Store a range of members from sorted set into another key", zrangestore),
    def("zrangebyscore", -4, "readonly", (1, 1, 1), "@sortedset", "sorted-set", "1.0.5", "Return a range of members in a sorted set, by score", zrangebyscore),
    def("zrevrangebyscore", -4, "readonly", (1, 1, 1), "@sortedset", "sorted-set", "2.2.0", "Return a range of members in a sorted set, by score, with scores ordered from high to low", zrevrangebyscore),
    def("zrangebylex", -4, "readonly", (1, 1, 1), "@sortedset", "sorted-set", "2.8.9", "Return a range of members in a sorted set, by lexicographical range", zrangebylex),
    def("zrevrangebylex", -4, "readonly", (1, 1, 1), "@sortedset", "sorted-set", "2.8.9", "Return a range of members in a sorted set, by lexicographical range, ordered from higher to lower strings.", zrevrangebylex),
    def("zrevrange", -4, "readonly", (1, 1, 1), "@sortedset", "sorted-set", "1.2.0", "Return a range of members in a sorted set, by index, with scores ordered from high to low", zrevrange),
    def("zremrangebyrank", 4, "write", (1, 1, 1), "@sortedset", "sorted-set", "2.0.0", "Remove all members in a sorted set within the given indexes", zremrangebyrank),
    def("zremrangebyscore", 4, "write", (1, 1, 1), "@sortedset", "sorted-set", "1.2.0", "Remove all members in a sorted set within the given scores", zremrangebyscore),
    def("zremrangebylex", 4, "write", (1, 1, 1), "@sortedset", "sorted-set", "2.8.9", "Remove all members in a sorted set between the given lexicographical range", zremrangebylex),
    def("zpopmin", -2, "write fast", (1, 1, 1), "@sortedset", "sorted-set", "5.0.0", "Remove and return members with the lowest scores in a sorted set", zpopmin),
    def("zpopmax", -2, "write fast", (1, 1, 1), "@sortedset", "sorted-set", "5.0.0", "Remove and return members with the highest scores in a sorted set", zpopmax),
    CommandDef { keys_fn: Some(numkeys_at_1), ..def("zmpop", -4, "write", (0, 0, 0), "@sortedset", "sorted-set", "7.0.0", "Remove and return members with scores in a sorted set", zmpop) },
    def("bzpopmin", -3, "write noscript blocking fast", (1, -2, 1), "@sortedset", "sorted-set", "5.0.0", "Remove and return the member with the lowest score from one or more sorted sets, or block until one is available", bzpopmin),
    def("bzpopmax", -3, "write noscript blocking fast", (1, -2, 1), "@sortedset", "sorted-set", "5.0.0", "Remove and return the member with the highest score from one or more sorted sets, or block until one is available", bzpopmax),
    CommandDef { keys_fn: Some(numkeys_at_2), ..def("bzmpop", -5, "write blocking", (0, 0, 0), "@sortedset", "sorted-set", "7.0.0", "Remove and return members with scores in a sorted set or block until one is available", bzmpop) },
    CommandDef { keys_fn: Some(numkeys_at_1), ..def("zunion", -3, "readonly", (0, 0, 0), "@sortedset", "sorted-set", "6.2.0", "Add multiple sorted sets", zunion) },
    CommandDef { keys_fn: Some(numkeys_at_1), ..def("zinter", -3, "readonly", (0, 0, 0), "@sortedset", "sorted-set", "6.2.0", "Intersect multiple sorted sets", zinter) },
    CommandDef { keys_fn: Some(numkeys_at_1), ..def("zdiff", -3, "readonly", (0, 0, 0), "@sortedset", "sorted-set", "6.2.0", "Subtract multiple sorted sets", zdiff) },
    CommandDef { keys_fn: Some(dst_and_numkeys_at_2), ..def("zunionstore", -4, "write denyoom", (1, 1, 1), "@sortedset", "sorted-set", "2.0.0", "Add multiple sorted sets and store the resulting sorted set in a new key", zunionstore) },
    CommandDef { keys_fn: Some(dst_and_numkeys_at_2), ..def("zinterstore", -4, "write denyoom", (1, 1, 1), "@sortedset", "sorted-set", "2.0.0", "Intersect multiple sorted sets and store the resulting sorted set in a new key", zinterstore) },
    CommandDef { keys_fn: Some(dst_and_numkeys_at_2), ..def("zdiffstore", -4, "write denyoom", (1, 1, 1), "@sortedset", "sorted-set", "6.2.0", "Subtract multiple sorted sets and store the resulting sorted set in a new key", zdiffstore) },
    CommandDef { keys_fn: Some(numkeys_at_1), ..def("zintercard", -3, "readonly", (0, 0, 0), "@sortedset", "sorted-set", "7.0.0", "Intersect multiple sorted sets and return the cardinality of the result", zintercard) },
    def("zrandmember", -2, "readonly", (1, 1, 1), "@sortedset", "sorted-set", "6.2.0", "Get one or multiple random elements from a sorted set", zrandmember),
    def("zscan", -3, "readonly", (1, 1, 1), "@sortedset", "sorted-set", "2.8.0", "Incrementally iterate sorted sets elements and associated scores", zscan),
];

// ---------------------------------------------------------------------------------------------
// Key positions of the numkeys forms
// ---------------------------------------------------------------------------------------------

/// Keys counted by a numkeys argument at `at`, starting right after it (clamped to argc).
fn numkeys_keys(args: &[&[u8]], at: usize, mut v: Vec<usize>) -> Vec<usize> {
    let n = args.get(at).and_then(|a| parse_i64(a)).unwrap_or(0).max(0) as usize;
    v.extend((at + 1..args.len()).take(n));
    v
}

fn numkeys_at_1(args: &[&[u8]]) -> Vec<usize> {
    numkeys_keys(args, 1, Vec::new())
}

fn numkeys_at_2(args: &[&[u8]]) -> Vec<usize> {
    numkeys_keys(args, 2, Vec::new())
}

fn dst_and_numkeys_at_2(args: &[&[u8]]) -> Vec<usize> {
    numkeys_keys(args, 2, vec![1])
}

// ---------------------------------------------------------------------------------------------
// Number and range parsing, as Redis's getDoubleFromObject / zslParseRange / zslParseLexRange
// ---------------------------------------------------------------------------------------------

/// C `strtod` on the bytes (up to a NUL, as C sees the string): the value and how many bytes
/// it consumed, and whether it over- or underflowed (ERANGE).
pub(crate) fn strtod(s: &[u8]) -> (f64, usize, bool) {
    let s = s.split(|&c| c == 0).next().unwrap_or(&[]);
    let Ok(c) = std::ffi::CString::new(s) else {
        return (0.0, 0, false);
    };
    let mut end: *mut libc::c_char = std::ptr::null_mut();
    // SAFETY: `c` is NUL-terminated and `end` points into it after the call; errno is the
    // calling thread's own.
    unsafe {
        *libc::__errno_location() = 0;
        let v = libc::strtod(c.as_ptr(), &mut end);
        let erange = *libc::__errno_location() == libc::ERANGE;
        (v, end as usize - c.as_ptr() as usize, erange)
    }
}

/// A score argument (`getDoubleFromObject`): the whole string, no leading space, no NaN, no
/// overflow.
pub fn parse_score(s: &[u8]) -> Option<f64> {
    if s.is_empty() || s[0].is_ascii_whitespace() || s.contains(&0) {
        return None;
    }
    let (v, used, erange) = strtod(s);
    if used != s.len() || v.is_nan() || (erange && (v.is_infinite() || v == 0.0)) {
        return None;
    }
    Some(v)
}

/// A score range (`zslParseRange`): `(` makes an end exclusive.
#[derive(Clone, Copy)]
pub struct ScoreRange {
    pub min: f64,
    pub max: f64,
    pub minex: bool,
    pub maxex: bool,
}

fn parse_range_end(s: &[u8]) -> Option<(f64, bool)> {
    let (body, ex) = match s.first() {
        Some(b'(') => (&s[1..], true),
        _ => (s, false),
    };
    // strtod skips leading spaces and accepts the empty string as 0, as Redis does here.
    let (v, used, _) = strtod(body);
    let c_len = body.iter().position(|&c| c == 0).unwrap_or(body.len());
    if used != c_len || v.is_nan() {
        return None;
    }
    Some((v, ex))
}

pub fn parse_score_range(min: &[u8], max: &[u8]) -> Option<ScoreRange> {
    let (min, minex) = parse_range_end(min)?;
    let (max, maxex) = parse_range_end(max)?;
    Some(ScoreRange { min, max, minex, maxex })
}

impl ScoreRange {
    fn before_min(&self, s: f64) -> bool {
        if self.minex {
            s <= self.min
        } else {
            s < self.min
        }
    }

    fn within_max(&self, s: f64) -> bool {
        if self.maxex {
            s < self.max
        } else {
            s <= self.max
        }
    }

    /// Ranks `from..to` of the members in range.
    fn ranks(&self, z: &ZSet) -> (usize, usize) {
        let from = z.lower_bound(&|_, s| self.before_min(s));
        let to = z.lower_bound(&|_, s| self.within_max(s));
        (from, to.max(from))
    }
}

/// One end of a lexicographic range.
#[derive(Clone)]
pub enum LexBound {
    /// `-`
    Min,
    /// `+`
    Max,
    /// `[x` (inclusive) or `(x` (exclusive)
    Value(Vec<u8>, bool),
}

fn parse_lex_bound(s: &[u8]) -> Option<LexBound> {
    match s.first() {
        Some(b'+') if s.len() == 1 => Some(LexBound::Max),
        Some(b'-') if s.len() == 1 => Some(LexBound::Min),
        Some(b'(') => Some(LexBound::Value(s[1..].to_vec(), true)),
        Some(b'[') => Some(LexBound::Value(s[1..].to_vec(), false)),
        _ => None,
    }
}

pub struct LexRange {
    pub min: LexBound,
    pub max: LexBound,
}

pub fn parse_lex_range(min: &[u8], max: &[u8]) -> Option<LexRange> {
    Some(LexRange {
        min: parse_lex_bound(min)?,
        max: parse_lex_bound(max)?,
    })
}

impl LexRange {
    /// Whether `m` sorts before the range's lower end.
    fn before_min(&self, m: &[u8]) -> bool {
        match &self.min {
            LexBound::Min => false,
            LexBound::Max => true,
            LexBound::Value(v, ex) => {
                let c = m.cmp(v);
                c == Ordering::Less || (*ex && c == Ordering::Equal)
            }
        }
    }

    fn within_max(&self, m: &[u8]) -> bool {
        match &self.max {
            LexBound::Min => false,
            LexBound::Max => true,
            LexBound::Value(v, ex) => {
                let c = m.cmp(v);
                c == Ordering::Less || (!*ex && c == Ordering::Equal)
            }
        }
    }

    fn ranks(&self, z: &ZSet) -> (usize, usize) {
        let from = z.lower_bound(&|m, _| self.before_min(m));
        let to = z.lower_bound(&|m, _| self.within_max(m));
        (from, to.max(from))
    }
}

// ---------------------------------------------------------------------------------------------
// Lookups and replies
// ---------------------------------------------------------------------------------------------

/// The zset at `key`: `Ok(None)` when absent, `Err(())` when the key holds another type.
fn get_zset<'s>(shard: &'s mut Shard, key: &[u8], now: i64, stats: &KeyspaceStats) -> Result<Option<&'s mut ZSet>, ()> {
    match shard.get_mut(key, now, stats) {
        None => Ok(None),
        Some(e) => match &mut e.value {
            Value::ZSet(z) => Ok(Some(z)),
            _ => Err(()),
        },
    }
}

/// Deletes `key` when its zset became empty (a key never holds an empty collection).
fn drop_if_empty(shard: &mut Shard, key: &[u8]) {
    if let Some(e) = shard.dict.get(key) {
        if matches!(&e.value, Value::ZSet(z) if z.is_empty()) {
            shard.remove(key);
            shard.notify(ev::GENERIC, "del", key);
        }
    }
}

/// Writes (member, score) pairs as ZRANGE does: members only, or with scores flat in RESP2 and
/// as [member, score] pairs in RESP3.
fn reply_pairs(out: &mut Reply, items: &[(Vec<u8>, f64)], withscores: bool) {
    if withscores && out.resp == 2 {
        out.array(items.len() * 2);
    } else {
        out.array(items.len());
    }
    for (m, s) in items {
        if withscores && out.resp > 2 {
            out.array(2);
        }
        out.bulk(m);
        if withscores {
            out.double(*s);
        }
    }
}

fn collect(z: &ZSet, from: usize, to: usize, rev: bool) -> Vec<(Vec<u8>, f64)> {
    let mut v = Vec::with_capacity(to.saturating_sub(from).min(1 << 16));
    z.visit(from, to, rev, &mut |m, s| {
        v.push((m.to_vec(), s));
        true
    });
    v
}

fn range_long(out: &mut Reply, arg: &[u8], min: i64, max: i64, msg: Option<&str>) -> Option<i64> {
    match parse_i64(arg) {
        Some(n) if n >= min && n <= max => Some(n),
        r => {
            match msg {
                Some(m) => out.err(m),
                None if r.is_none() => out.not_integer(),
                None => out.err(&format!("value is out of range, value must between {min} and {max}")),
            }
            None
        }
    }
}

// ---------------------------------------------------------------------------------------------
// ZADD / ZINCRBY / ZREM
// ---------------------------------------------------------------------------------------------

fn zadd(ctx: &mut Ctx, args: &[&[u8]]) {
    zadd_generic(ctx, args, false);
}

fn zincrby(ctx: &mut Ctx, args: &[&[u8]]) {
    zadd_generic(ctx, args, true);
}

fn zadd_generic(ctx: &mut Ctx, args: &[&[u8]], zincrby: bool) {
    let key = args[1];
    let (mut nx, mut xx, mut ch, mut incr, mut gt, mut lt) = (false, false, false, zincrby, false, false);
    let mut i = 2;
    if !zincrby {
        while i < args.len() {
            match args[i].to_ascii_lowercase().as_slice() {
                b"nx" => nx = true,
                b"xx" => xx = true,
                b"ch" => ch = true,
                b"incr" => incr = true,
                b"gt" => gt = true,
                b"lt" => lt = true,
                _ => break,
            }
            i += 1;
        }
    }
    let rest = &args[i..];
    if rest.is_empty() || !rest.len().is_multiple_of(2) {
        return ctx.out.syntax_error();
    }
    if nx && xx {
        return ctx.out.err("XX and NX options at the same time are not compatible");
    }
    if ((gt || lt) && nx) || (gt && lt) {
        return ctx
            .out
            .err("GT, LT, and/or NX options at the same time are not compatible");
    }
    if incr && rest.len() > 2 {
        return ctx.out.err("INCR option supports a single increment-element pair");
    }
    let mut scores = Vec::with_capacity(rest.len() / 2);
    for p in rest.chunks(2) {
        match parse_score(p[0]) {
            Some(s) => scores.push(s),
            None => return ctx.out.not_float(),
        }
    }
    let (now, stats, lru) = (ctx.now_ms, ctx.ks_stats(), ctx.lru());
    let mut shard = ctx.db().lock(key);
    let exists = match get_zset(&mut shard, key, now, stats) {
        Err(()) => return ctx.out.wrong_type(),
        Ok(z) => z.is_some(),
    };
    let (mut added, mut updated, mut processed) = (0i64, 0i64, 0i64);
    let mut last = 0.0;
    if !exists {
        if xx {
            return reply_zadd(ctx.out, incr, ch, 0, 0, 0, 0.0);
        }
        shard.set(key, Value::ZSet(ZSet::new_for(rest[1].len())), false, lru);
    }
    let mut nan = false;
    if let Ok(Some(z)) = get_zset(&mut shard, key, now, stats) {
        for (p, &score) in rest.chunks(2).zip(&scores) {
            let member = p[1];
            match z.score(member) {
                Some(cur) => {
                    if nx {
                        continue;
                    }
                    let new = if incr { score + cur } else { score };
                    if new.is_nan() {
                        nan = true;
                        break;
                    }
                    if (lt && new >= cur) || (gt && new <= cur) {
                        continue;
                    }
                    processed += 1;
                    last = new;
                    if new != cur {
                        z.update(member, cur, new);
                        updated += 1;
                    }
                }
                None if !xx => {
                    z.insert(member, score);
                    added += 1;
                    processed += 1;
                    last = score;
                }
                None => {}
            }
        }
    }
    let event = if incr { "zincr" } else { "zadd" };
    ev::notify_if(ctx, added + updated > 0, ev::ZSET, event, key);
    drop_if_empty(&mut shard, key);
    if added > 0 {
        // Only a new member can make a key clients wait on non-empty (they wait on missing keys).
        blocking::signal(ctx.srv, ctx.client.db, key);
    }
    drop(shard);
    ctx.dirty((added + updated) as u64);
    if nan {
        return ctx.out.err("resulting score is not a number (NaN)");
    }
    reply_zadd(ctx.out, incr, ch, added, updated, processed, last);
}

fn reply_zadd(out: &mut Reply, incr: bool, ch: bool, added: i64, updated: i64, processed: i64, score: f64) {
    if incr {
        if processed > 0 {
            out.double(score);
        } else {
            out.null();
        }
    } else {
        out.int(if ch { added + updated } else { added });
    }
}

fn zrem(ctx: &mut Ctx, args: &[&[u8]]) {
    let key = args[1];
    let (now, stats) = (ctx.now_ms, ctx.ks_stats());
    let mut shard = ctx.db().lock(key);
    let mut deleted = 0;
    match get_zset(&mut shard, key, now, stats) {
        Err(()) => return ctx.out.wrong_type(),
        Ok(None) => return ctx.out.int(0),
        Ok(Some(z)) => {
            for m in &args[2..] {
                if z.remove(m).is_some() {
                    deleted += 1;
                }
                if z.is_empty() {
                    break;
                }
            }
        }
    }
    ev::notify_if(ctx, deleted > 0, ev::ZSET, "zrem", key);
    drop_if_empty(&mut shard, key);
    drop(shard);
    ctx.dirty(deleted);
    ctx.out.int(deleted as i64);
}

// ---------------------------------------------------------------------------------------------
// Single-key reads
// ---------------------------------------------------------------------------------------------

/// Runs `f` on the zset at `key` for reading; replies `missing` when absent (by calling it),
/// WRONGTYPE when the key holds another type.
fn with_read(ctx: &mut Ctx, key: &[u8], missing: fn(&mut Reply), f: impl FnOnce(&ZSet, &mut Reply)) {
    let (now, stats) = (ctx.now_ms, ctx.ks_stats());
    let mut shard = ctx.db().lock(key);
    match get_zset(&mut shard, key, now, stats) {
        Err(()) => {
            ctx.count_read(true);
            ctx.out.wrong_type()
        }
        Ok(None) => {
            ctx.count_read(false);
            missing(ctx.out)
        }
        Ok(Some(z)) => {
            ctx.count_read(true);
            f(z, ctx.out)
        }
    }
}

fn zero(out: &mut Reply) {
    out.int(0)
}

fn null(out: &mut Reply) {
    out.null()
}

fn empty_array(out: &mut Reply) {
    out.array(0)
}

fn zcard(ctx: &mut Ctx, args: &[&[u8]]) {
    with_read(ctx, args[1], zero, |z, out| out.int(z.len() as i64));
}

fn zscore(ctx: &mut Ctx, args: &[&[u8]]) {
    let m = args[2];
    with_read(ctx, args[1], null, |z, out| match z.score(m) {
        Some(s) => out.double(s),
        None => out.null(),
    });
}

fn zmscore(ctx: &mut Ctx, args: &[&[u8]]) {
    let ms = &args[2..];
    let (now, stats) = (ctx.now_ms, ctx.ks_stats());
    let mut shard = ctx.db().lock(args[1]);
    let z = match get_zset(&mut shard, args[1], now, stats) {
        Err(()) => return ctx.out.wrong_type(),
        Ok(z) => z,
    };
    ctx.out.array(ms.len());
    for m in ms {
        match z.as_ref().and_then(|z| z.score(m)) {
            Some(s) => ctx.out.double(s),
            None => ctx.out.null(),
        }
    }
}

fn zrank(ctx: &mut Ctx, args: &[&[u8]]) {
    zrank_generic(ctx, args, false);
}

fn zrevrank(ctx: &mut Ctx, args: &[&[u8]]) {
    zrank_generic(ctx, args, true);
}

fn zrank_generic(ctx: &mut Ctx, args: &[&[u8]], rev: bool) {
    let m = args[2];
    with_read(ctx, args[1], null, |z, out| match z.rank(m) {
        Some(r) if rev => out.int((z.len() - 1 - r) as i64),
        Some(r) => out.int(r as i64),
        None => out.null(),
    });
}

fn zcount(ctx: &mut Ctx, args: &[&[u8]]) {
    let Some(range) = parse_score_range(args[2], args[3]) else {
        return ctx.out.err("min or max is not a float");
    };
    with_read(ctx, args[1], zero, |z, out| {
        let (a, b) = range.ranks(z);
        out.int((b - a) as i64)
    });
}

fn zlexcount(ctx: &mut Ctx, args: &[&[u8]]) {
    let Some(range) = parse_lex_range(args[2], args[3]) else {
        return ctx.out.err("min or max not valid string range item");
    };
    with_read(ctx, args[1], zero, |z, out| {
        let (a, b) = range.ranks(z);
        out.int((b - a) as i64)
    });
}

// ---------------------------------------------------------------------------------------------
// ZRANGE and its older forms
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum RangeType {
    Auto,
    Rank,
    Score,
    Lex,
}

/// A parsed range request.
struct RangeSpec {
    kind: RangeType,
    rev: bool,
    start: i64,
    end: i64,
    score: Option<ScoreRange>,
    lex: Option<LexRange>,
    offset: i64,
    limit: i64,
    withscores: bool,
}

/// Parses `<min> <max> [options]` starting at `args[at]` (the source key), writing the error
/// reply on failure (`zrangeGenericCommand` steps 1 and 2).
fn parse_range_args(
    out: &mut Reply,
    args: &[&[u8]],
    at: usize,
    store: bool,
    kind: RangeType,
    rev: Option<bool>,
) -> Option<RangeSpec> {
    let (mut kind, mut dir) = (kind, rev);
    let (mut offset, mut limit, mut withscores) = (0i64, -1i64, false);
    let mut j = at + 3;
    while j < args.len() {
        let left = args.len() - j - 1;
        let opt = args[j].to_ascii_lowercase();
        if !store && opt == b"withscores" {
            withscores = true;
        } else if opt == b"limit" && left >= 2 {
            offset = super::arg_i64(out, args[j + 1])?;
            limit = super::arg_i64(out, args[j + 2])?;
            j += 2;
        } else if dir.is_none() && opt == b"rev" {
            dir = Some(true);
        } else if kind == RangeType::Auto && opt == b"bylex" {
            kind = RangeType::Lex;
        } else if kind == RangeType::Auto && opt == b"byscore" {
            kind = RangeType::Score;
        } else {
            out.syntax_error();
            return None;
        }
        j += 1;
    }
    let rev = dir.unwrap_or(false);
    if kind == RangeType::Auto {
        kind = RangeType::Rank;
    }
    if limit != -1 && kind == RangeType::Rank {
        out.err("syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX");
        return None;
    }
    if withscores && kind == RangeType::Lex {
        out.err("syntax error, WITHSCORES not supported in combination with BYLEX");
        return None;
    }
    let (mut lo, mut hi) = (args[at + 1], args[at + 2]);
    if rev && kind != RangeType::Rank {
        std::mem::swap(&mut lo, &mut hi);
    }
    let mut spec = RangeSpec {
        kind,
        rev,
        start: 0,
        end: 0,
        score: None,
        lex: None,
        offset,
        limit,
        withscores,
    };
    match kind {
        RangeType::Rank | RangeType::Auto => {
            spec.start = super::arg_i64(out, lo)?;
            spec.end = super::arg_i64(out, hi)?;
        }
        RangeType::Score => match parse_score_range(lo, hi) {
            Some(r) => spec.score = Some(r),
            None => {
                out.err("min or max is not a float");
                return None;
            }
        },
        RangeType::Lex => match parse_lex_range(lo, hi) {
            Some(r) => spec.lex = Some(r),
            None => {
                out.err("min or max not valid string range item");
                return None;
            }
        },
    }
    Some(spec)
}

/// The members a range request selects, in reply order.
fn run_range(z: &ZSet, spec: &RangeSpec) -> Vec<(Vec<u8>, f64)> {
    let len = z.len() as i64;
    match spec.kind {
        RangeType::Rank | RangeType::Auto => {
            let (mut start, mut end) = (spec.start, spec.end);
            if start < 0 {
                start += len;
            }
            if end < 0 {
                end += len;
            }
            start = start.max(0);
            if start > end || start >= len {
                return Vec::new();
            }
            end = end.min(len - 1);
            if spec.rev {
                collect(z, (len - 1 - end) as usize, (len - start) as usize, true)
            } else {
                collect(z, start as usize, end as usize + 1, false)
            }
        }
        RangeType::Score | RangeType::Lex => {
            let (a, b) = match (&spec.score, &spec.lex) {
                (Some(r), _) => r.ranks(z),
                (_, Some(r)) => r.ranks(z),
                _ => (0, 0),
            };
            // A negative offset skips everything, as Redis's `while (offset--)` loop does.
            if spec.offset < 0 {
                return Vec::new();
            }
            let n = b - a;
            let off = (spec.offset as u64).min(n as u64) as usize;
            let take = if spec.limit < 0 {
                n - off
            } else {
                (spec.limit as u64).min((n - off) as u64) as usize
            };
            if spec.rev {
                collect(z, b - off - take, b - off, true)
            } else {
                collect(z, a + off, a + off + take, false)
            }
        }
    }
}

fn zrange_read(ctx: &mut Ctx, args: &[&[u8]], kind: RangeType, rev: Option<bool>) {
    let Some(spec) = parse_range_args(ctx.out, args, 1, false, kind, rev) else {
        return;
    };
    with_read(ctx, args[1], empty_array, |z, out| {
        let items = run_range(z, &spec);
        reply_pairs(out, &items, spec.withscores);
    });
}

fn zrange(ctx: &mut Ctx, args: &[&[u8]]) {
    zrange_read(ctx, args, RangeType::Auto, None);
}

fn zrevrange(ctx: &mut Ctx, args: &[&[u8]]) {
    zrange_read(ctx, args, RangeType::Rank, Some(true));
}

fn zrangebyscore(ctx: &mut Ctx, args: &[&[u8]]) {
    zrange_read(ctx, args, RangeType::Score, Some(false));
}

fn zrevrangebyscore(ctx: &mut Ctx, args: &[&[u8]]) {
    zrange_read(ctx, args, RangeType::Score, Some(true));
}

fn zrangebylex(ctx: &mut Ctx, args: &[&[u8]]) {
    zrange_read(ctx, args, RangeType::Lex, Some(false));
}

fn zrevrangebylex(ctx: &mut Ctx, args: &[&[u8]]) {
    zrange_read(ctx, args, RangeType::Lex, Some(true));
}

/// Stores `items` (any order, no duplicate members) at `dst` in a fresh zset, or deletes `dst`
/// when empty; replies with the stored length.
fn store_result(ctx: &mut Ctx, shard: &mut Shard, dst: &[u8], mut items: Vec<(Vec<u8>, f64)>, by_hint: bool) {
    let n = items.len();
    if n == 0 {
        if shard.remove(dst).is_some() {
            ev::notify(ctx, ev::GENERIC, "del", dst);
            ctx.dirty(1);
        }
        return ctx.out.int(0);
    }
    let z = if by_hint {
        // ZRANGESTORE: the destination's form follows the result's size, then each member is
        // added as ZADD would (so a long member converts it).
        let mut z = ZSet::with_len_hint(n);
        for (m, s) in &items {
            z.insert(m, *s);
        }
        z
    } else {
        items.sort_by(|a, b| crate::types::zset::cmp(a.1, &a.0, b.1, &b.0));
        ZSet::from_sorted(&items)
    };
    shard.set(dst, Value::ZSet(z), false, ctx.lru());
    blocking::signal(ctx.srv, ctx.client.db, dst);
    ev::notify_cmd_if(ctx, true, ev::ZSET, dst);
    ctx.dirty(1);
    ctx.out.int(n as i64);
}

fn zrangestore(ctx: &mut Ctx, args: &[&[u8]]) {
    let Some(spec) = parse_range_args(ctx.out, args, 2, true, RangeType::Auto, None) else {
        return;
    };
    let (dst, src) = (args[1], args[2]);
    let (now, stats) = (ctx.now_ms, ctx.ks_stats());
    let db = ctx.db();
    let mut locked = db.lock_keys([dst, src]);
    let items = match get_zset(locked.shard(src), src, now, stats) {
        Err(()) => return ctx.out.wrong_type(),
        Ok(None) => Vec::new(),
        Ok(Some(z)) => run_range(z, &spec),
    };
    store_result(ctx, locked.shard(dst), dst, items, true);
}

// ---------------------------------------------------------------------------------------------
// ZREMRANGEBY*
// ---------------------------------------------------------------------------------------------

fn zrem_ranks(ctx: &mut Ctx, key: &[u8], ranks: impl FnOnce(&ZSet) -> (usize, usize)) {
    let (now, stats) = (ctx.now_ms, ctx.ks_stats());
    let mut shard = ctx.db().lock(key);
    let n = match get_zset(&mut shard, key, now, stats) {
        Err(()) => return ctx.out.wrong_type(),
        Ok(None) => return ctx.out.int(0),
        Ok(Some(z)) => {
            let (a, b) = ranks(z);
            if b > a {
                z.remove_ranks(a, b);
            }
            b.saturating_sub(a)
        }
    };
    ev::notify_cmd_if(ctx, n > 0, ev::ZSET, key);
    drop_if_empty(&mut shard, key);
    drop(shard);
    ctx.dirty(n as u64);
    ctx.out.int(n as i64);
}

fn zremrangebyrank(ctx: &mut Ctx, args: &[&[u8]]) {
    let Some(start) = super::arg_i64(ctx.out, args[2]) else {
        return;
    };
    let Some(end) = super::arg_i64(ctx.out, args[3]) else {
        return;
    };
    zrem_ranks(ctx, args[1], |z| {
        let len = z.len() as i64;
        let (mut s, mut e) = (start, end);
        if s < 0 {
            s += len;
        }
        if e < 0 {
            e += len;
        }
        s = s.max(0);
        if s > e || s >= len {
            return (0, 0);
        }
        e = e.min(len - 1);
        (s as usize, e as usize + 1)
    });
}

fn zremrangebyscore(ctx: &mut Ctx, args: &[&[u8]]) {
    let Some(r) = parse_score_range(args[2], args[3]) else {
        return ctx.out.err("min or max is not a float");
    };
    zrem_ranks(ctx, args[1], |z| r.ranks(z));
}

fn zremrangebylex(ctx: &mut Ctx, args: &[&[u8]]) {
    let Some(r) = parse_lex_range(args[2], args[3]) else {
        return ctx.out.err("min or max not valid string range item");
    };
    zrem_ranks(ctx, args[1], |z| r.ranks(z));
}

// ---------------------------------------------------------------------------------------------
// Pops
// ---------------------------------------------------------------------------------------------

/// What [`pop`] found at a key.
pub enum Popped {
    /// The key does not exist.
    Missing,
    /// The key holds another type.
    WrongType,
    /// The popped (member, score) pairs, lowest first for MIN, highest first for MAX; the key
    /// was deleted if it became empty.
    Items(Vec<(Vec<u8>, f64)>),
}

/// Pops up to `count` members from the low (`max == false`) or high end of the zset at `key`.
/// The blocking forms call this once a key they wait on has members.
pub fn pop(shard: &mut Shard, key: &[u8], now: i64, stats: &KeyspaceStats, max: bool, count: usize) -> Popped {
    let items = match get_zset(shard, key, now, stats) {
        Err(()) => return Popped::WrongType,
        Ok(None) => return Popped::Missing,
        Ok(Some(z)) => {
            let len = z.len();
            let n = count.min(len);
            let items = if max {
                collect(z, len - n, len, true)
            } else {
                collect(z, 0, n, false)
            };
            if max {
                z.remove_ranks(len - n, len);
            } else {
                z.remove_ranks(0, n);
            }
            items
        }
    };
    shard.notify(ev::ZSET, if max { "zpopmax" } else { "zpopmin" }, key);
    drop_if_empty(shard, key);
    Popped::Items(items)
}

fn zpopmin(ctx: &mut Ctx, args: &[&[u8]]) {
    zpop_generic(ctx, args, false);
}

fn zpopmax(ctx: &mut Ctx, args: &[&[u8]]) {
    zpop_generic(ctx, args, true);
}

fn zpop_generic(ctx: &mut Ctx, args: &[&[u8]], max: bool) {
    if args.len() > 3 {
        return ctx.out.syntax_error();
    }
    let mut count: Option<i64> = None;
    if args.len() == 3 {
        match range_long(
            ctx.out,
            args[2],
            0,
            i64::MAX,
            Some("value is out of range, must be positive"),
        ) {
            Some(n) => count = Some(n),
            None => return,
        }
    }
    let key = args[1];
    let (now, stats) = (ctx.now_ms, ctx.ks_stats());
    let mut shard = ctx.db().lock(key);
    if count == Some(0) {
        // Type errors still come first.
        return match get_zset(&mut shard, key, now, stats) {
            Err(()) => ctx.out.wrong_type(),
            _ => ctx.out.array(0),
        };
    }
    let popped = pop(&mut shard, key, now, stats, max, count.unwrap_or(1) as usize);
    drop(shard);
    match popped {
        Popped::WrongType => ctx.out.wrong_type(),
        Popped::Missing => ctx.out.array(0),
        Popped::Items(items) => {
            ctx.dirty(items.len() as u64);
            let nested = ctx.out.resp > 2 && count.is_some();
            if nested {
                ctx.out.array(items.len());
            } else {
                ctx.out.array(items.len() * 2);
            }
            for (m, s) in &items {
                if nested {
                    ctx.out.array(2);
                }
                ctx.out.bulk(m);
                ctx.out.double(*s);
            }
        }
    }
}

/// ZMPOP's reply for a key that had members: `[key, [[member, score]...]]`.
pub fn reply_mpop(out: &mut Reply, key: &[u8], items: &[(Vec<u8>, f64)]) {
    out.array(2);
    out.bulk(key);
    out.array(items.len());
    for (m, s) in items {
        out.array(2);
        out.bulk(m);
        out.double(*s);
    }
}

/// Parses ZMPOP's `numkeys key... MIN|MAX [COUNT n]` from `args[at]` (numkeys): the keys, the
/// end and the count, or None after replying with the error.
pub fn parse_mpop<'a>(out: &mut Reply, args: &[&'a [u8]], at: usize) -> Option<(Vec<&'a [u8]>, bool, usize)> {
    let numkeys = range_long(out, args[at], 1, i64::MAX, Some("numkeys should be greater than 0"))? as usize;
    let where_idx = at.saturating_add(numkeys).saturating_add(1);
    let Some(w) = args.get(where_idx) else {
        out.syntax_error();
        return None;
    };
    let max = if w.eq_ignore_ascii_case(b"min") {
        false
    } else if w.eq_ignore_ascii_case(b"max") {
        true
    } else {
        out.syntax_error();
        return None;
    };
    let mut count: Option<i64> = None;
    let mut j = where_idx + 1;
    while j < args.len() {
        let more = args.len() - 1 - j;
        if count.is_none() && args[j].eq_ignore_ascii_case(b"count") && more > 0 {
            j += 1;
            count = Some(range_long(
                out,
                args[j],
                1,
                i64::MAX,
                Some("count should be greater than 0"),
            )?);
        } else {
            out.syntax_error();
            return None;
        }
        j += 1;
    }
    Some((args[at + 1..where_idx].to_vec(), max, count.unwrap_or(1) as usize))
}

/// ZMPOP and BZMPOP are logged as `ZPOPMIN|ZPOPMAX key <popped>`, as Redis rewrites them.
fn propagate_pop(ctx: &Ctx, key: &[u8], max: bool, popped: usize) {
    let verb: &[u8] = if max { b"ZPOPMAX" } else { b"ZPOPMIN" };
    ctx.propagate(&[verb, key, popped.to_string().as_bytes()]);
}

fn zmpop(ctx: &mut Ctx, args: &[&[u8]]) {
    let Some((keys, max, count)) = parse_mpop(ctx.out, args, 1) else {
        return;
    };
    let (now, stats) = (ctx.now_ms, ctx.ks_stats());
    let db = ctx.db();
    let mut locked = db.lock_keys(keys.iter().copied());
    for k in &keys {
        match pop(locked.shard(k), k, now, stats, max, count) {
            Popped::Missing => continue,
            Popped::WrongType => return ctx.out.wrong_type(),
            Popped::Items(items) => {
                crate::server::multi::spare_all_but(args, k);
                ctx.dirty(items.len() as u64);
                propagate_pop(ctx, k, max, items.len());
                return reply_mpop(ctx.out, k, &items);
            }
        }
    }
    ctx.out.null_array();
}

// ---------------------------------------------------------------------------------------------
// BZPOPMIN / BZPOPMAX / BZMPOP
// ---------------------------------------------------------------------------------------------

fn bzpopmin(ctx: &mut Ctx, args: &[&[u8]]) {
    bzpop(ctx, args, false);
}

fn bzpopmax(ctx: &mut Ctx, args: &[&[u8]]) {
    bzpop(ctx, args, true);
}

/// `BZPOPMIN|BZPOPMAX key... timeout`.
fn bzpop(ctx: &mut Ctx, args: &[&[u8]], max: bool) {
    let Some(deadline) = blocking::parse_timeout(ctx.out, args[args.len() - 1], ctx.now_ms) else {
        return;
    };
    bzpop_generic(ctx, args, &args[1..args.len() - 1], max, None, deadline);
}

/// `BZMPOP timeout numkeys key... MIN|MAX [COUNT n]`: like ZMPOP, the arguments are checked
/// before the timeout.
fn bzmpop(ctx: &mut Ctx, args: &[&[u8]]) {
    let Some((keys, max, count)) = parse_mpop(ctx.out, args, 2) else {
        return;
    };
    let Some(deadline) = blocking::parse_timeout(ctx.out, args[1], ctx.now_ms) else {
        return;
    };
    bzpop_generic(ctx, args, &keys, max, Some(count), deadline);
}

/// Pops from the first of `keys` holding a sorted set, or blocks on all of them. `count` None
/// is BZPOPMIN/BZPOPMAX (reply `[key, member, score]`), Some is BZMPOP (ZMPOP's reply).
fn bzpop_generic(ctx: &mut Ctx, args: &[&[u8]], keys: &[&[u8]], max: bool, count: Option<usize>, deadline: i64) {
    let (now, stats) = (ctx.now_ms, ctx.ks_stats());
    let db = ctx.db();
    let mut locked = db.lock_keys(keys.iter().copied());
    for k in keys {
        match pop(locked.shard(k), k, now, stats, max, count.unwrap_or(1)) {
            Popped::Missing => continue,
            Popped::WrongType => return ctx.out.wrong_type(),
            Popped::Items(items) => {
                drop(locked);
                crate::server::multi::spare_all_but(args, k);
                ctx.dirty(items.len() as u64);
                if count.is_some() {
                    propagate_pop(ctx, k, max, items.len());
                }
                return reply_bzpop(ctx.out, k, &items, count.is_some());
            }
        }
    }
    // Inside EXEC a command cannot block: it answers as if it timed out.
    if ctx.client.cannot_block() {
        return ctx.out.null_array();
    }
    blocking::block(
        ctx.srv,
        ctx.client,
        args,
        keys,
        deadline,
        serve_bzpop,
        TimeoutReply::NullArray,
    );
    drop(locked);
}

/// BZMPOP answers as ZMPOP; BZPOPMIN/BZPOPMAX with one flat `[key, member, score]` array, in
/// RESP3 too (where the score is a double).
fn reply_bzpop(out: &mut Reply, key: &[u8], items: &[(Vec<u8>, f64)], mpop: bool) {
    if mpop {
        return reply_mpop(out, key, items);
    }
    out.array(1 + 2 * items.len());
    out.bulk(key);
    for (m, s) in items {
        out.bulk(m);
        out.double(*s);
    }
}

/// Serves a client blocked in BZPOPMIN, BZPOPMAX or BZMPOP from the ready `key`.
fn serve_bzpop(srv: &Server, w: &Waiter, key: &[u8]) -> Outcome {
    let argv: Vec<&[u8]> = w.argv.iter().map(|a| a.as_slice()).collect();
    let Some(name) = argv.first() else {
        return Outcome::NotReady;
    };
    let (max, count) = if name.eq_ignore_ascii_case(b"bzmpop") {
        // Parsed successfully when the client blocked; the sink never receives an error.
        match parse_mpop(&mut Reply::new(), &argv, 2) {
            Some((_, max, count)) => (max, Some(count)),
            None => return Outcome::NotReady,
        }
    } else {
        (name.eq_ignore_ascii_case(b"bzpopmax"), None)
    };
    let now = crate::server::unix_ms();
    let stats = &srv.keyspace.stats;
    let mut shard = srv.keyspace.db(w.db).lock(key);
    match shard.get(key, now, stats).map(|e| &e.value) {
        Some(Value::ZSet(z)) if !z.is_empty() => {}
        Some(Value::ZSet(_)) | None => return Outcome::NotReady,
        // A list (or anything else) serves the clients of its own type queued behind this one.
        Some(_) => return Outcome::Skip,
    }
    if !w.claim() {
        return Outcome::Gone;
    }
    let Popped::Items(items) = pop(&mut shard, key, now, stats, max, count.unwrap_or(1)) else {
        // Checked above under the same lock: cannot happen, but the waiter still gets an answer.
        let mut out = w.reply();
        out.null_array();
        w.deliver(&out);
        return Outcome::Served;
    };
    if count.is_some() {
        crate::server::propagate::served_popped(items.len());
    }
    let mut out = w.reply();
    reply_bzpop(&mut out, key, &items, count.is_some());
    w.deliver(&out);
    drop(shard);
    srv.stats.dirty.add(items.len() as u64);
    Outcome::Served
}

// ---------------------------------------------------------------------------------------------
// ZUNION / ZINTER / ZDIFF (+STORE) / ZINTERCARD
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy, PartialEq)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

fn aggregate(target: &mut f64, v: f64, how: Aggregate) {
    match how {
        Aggregate::Sum => {
            *target += v;
            // inf + -inf: Redis turns the NaN into 0.
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Aggregate::Min => {
            if v < *target {
                *target = v;
            }
        }
        Aggregate::Max => {
            if v > *target {
                *target = v;
            }
        }
    }
}

/// The members of a plain set, each with score 1 (sets are valid inputs of ZUNION & co.).
fn set_members(set: &crate::types::set::Set) -> Vec<(Vec<u8>, f64)> {
    set.iter().map(|m| (m.bytes().into_owned(), 1.0)).collect()
}

/// One input of a set operation, materialised: its members (in its own order), a lookup map
/// built on demand, and its weight.
struct Src {
    items: Vec<(Vec<u8>, f64)>,
    weight: f64,
    map: Option<HashMap<Vec<u8>, f64>>,
}

impl Src {
    fn find(&mut self, m: &[u8]) -> Option<f64> {
        let items = &self.items;
        self.map
            .get_or_insert_with(|| items.iter().cloned().collect())
            .get(m)
            .copied()
    }
}

fn setop_generic(ctx: &mut Ctx, args: &[&[u8]], dst: Option<&[u8]>, at: usize, op: SetOp, card_only: bool) {
    let Some(setnum) = super::arg_i64(ctx.out, args[at]) else {
        return;
    };
    if setnum < 1 {
        let name = String::from_utf8_lossy(args[0]).to_ascii_lowercase();
        return ctx
            .out
            .err(&format!("at least 1 input key is needed for '{name}' command"));
    }
    if setnum > (args.len() - at - 1) as i64 {
        return ctx.out.syntax_error();
    }
    let setnum = setnum as usize;
    let keys = &args[at + 1..at + 1 + setnum];
    let (now, stats) = (ctx.now_ms, ctx.ks_stats());
    let db = ctx.db();
    let mut locked = db.lock_keys(keys.iter().copied().chain(dst));
    let mut srcs = Vec::with_capacity(setnum);
    for k in keys {
        let shard = locked.shard(k);
        let items = match shard.get(k, now, stats).map(|e| &e.value) {
            None => Vec::new(),
            Some(Value::ZSet(z)) => collect(z, 0, z.len(), false),
            Some(Value::Set(s)) => set_members(s),
            Some(_) => return ctx.out.wrong_type(),
        };
        srcs.push(Src {
            items,
            weight: 1.0,
            map: None,
        });
    }
    let mut how = Aggregate::Sum;
    let mut withscores = false;
    let mut limit: usize = 0;
    let mut j = at + 1 + setnum;
    while j < args.len() {
        let remaining = args.len() - j;
        let opt = args[j].to_ascii_lowercase();
        if op != SetOp::Diff && !card_only && remaining > setnum && opt == b"weights" {
            j += 1;
            for s in srcs.iter_mut() {
                match parse_score(args[j]) {
                    Some(w) => s.weight = w,
                    None => return ctx.out.err("weight value is not a float"),
                }
                j += 1;
            }
        } else if op != SetOp::Diff && !card_only && remaining >= 2 && opt == b"aggregate" {
            how = match args[j + 1].to_ascii_lowercase().as_slice() {
                b"sum" => Aggregate::Sum,
                b"min" => Aggregate::Min,
                b"max" => Aggregate::Max,
                _ => return ctx.out.syntax_error(),
            };
            j += 2;
        } else if dst.is_none() && !card_only && opt == b"withscores" {
            withscores = true;
            j += 1;
        } else if card_only && remaining >= 2 && opt == b"limit" {
            match range_long(ctx.out, args[j + 1], 0, i64::MAX, Some("LIMIT can't be negative")) {
                Some(n) => limit = n as usize,
                None => return,
            }
            j += 2;
        } else {
            return ctx.out.syntax_error();
        }
    }
    if op != SetOp::Diff {
        // Smallest input first, as Redis orders them (fewer lookups for intersections).
        srcs.sort_by_key(|s| s.items.len());
    }
    let mut result: Vec<(Vec<u8>, f64)> = Vec::new();
    let mut cardinality = 0usize;
    match op {
        SetOp::Inter => {
            if !srcs[0].items.is_empty() {
                let (first, rest) = srcs.split_at_mut(1);
                'outer: for (m, s) in &first[0].items {
                    let mut score = first[0].weight * s;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    for o in rest.iter_mut() {
                        match o.find(m) {
                            Some(v) => aggregate(&mut score, v * o.weight, how),
                            None => continue 'outer,
                        }
                    }
                    if card_only {
                        cardinality += 1;
                        if limit > 0 && cardinality >= limit {
                            break;
                        }
                    } else {
                        result.push((m.clone(), score));
                    }
                }
            }
        }
        SetOp::Union => {
            let mut acc: HashMap<Vec<u8>, f64> = HashMap::new();
            for src in &srcs {
                for (m, s) in &src.items {
                    let mut score = src.weight * s;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    match acc.get_mut(m.as_slice()) {
                        Some(t) => aggregate(t, score, how),
                        None => {
                            acc.insert(m.clone(), score);
                        }
                    }
                }
            }
            result = acc.into_iter().collect();
        }
        SetOp::Diff => {
            let (first, rest) = srcs.split_at_mut(1);
            for (m, s) in &first[0].items {
                if rest.iter_mut().all(|o| o.find(m).is_none()) {
                    result.push((m.clone(), *s));
                }
            }
        }
    }
    if card_only {
        return ctx.out.int(cardinality as i64);
    }
    match dst {
        Some(d) => store_result(ctx, locked.shard(d), d, result, false),
        None => {
            drop(locked);
            result.sort_by(|a, b| crate::types::zset::cmp(a.1, &a.0, b.1, &b.0));
            reply_pairs(ctx.out, &result, withscores);
        }
    }
}

fn zunion(ctx: &mut Ctx, args: &[&[u8]]) {
    setop_generic(ctx, args, None, 1, SetOp::Union, false);
}

fn zinter(ctx: &mut Ctx, args: &[&[u8]]) {
    setop_generic(ctx, args, None, 1, SetOp::Inter, false);
}

fn zdiff(ctx: &mut Ctx, args: &[&[u8]]) {
    setop_generic(ctx, args, None, 1, SetOp::Diff, false);
}

fn zintercard(ctx: &mut Ctx, args: &[&[u8]]) {
    setop_generic(ctx, args, None, 1, SetOp::Inter, true);
}

fn zunionstore(ctx: &mut Ctx, args: &[&[u8]]) {
    setop_generic(ctx, args, Some(args[1]), 2, SetOp::Union, false);
}

fn zinterstore(ctx: &mut Ctx, args: &[&[u8]]) {
    setop_generic(ctx, args, Some(args[1]), 2, SetOp::Inter, false);
}

fn zdiffstore(ctx: &mut Ctx, args: &[&[u8]]) {
    setop_generic(ctx, args, Some(args[1]), 2, SetOp::Diff, false);
}

// ---------------------------------------------------------------------------------------------
// ZRANDMEMBER / ZSCAN
// ---------------------------------------------------------------------------------------------

fn rand_below(n: usize) -> usize {
    (random_u64() % n.max(1) as u64) as usize
}

fn zrandmember(ctx: &mut Ctx, args: &[&[u8]]) {
    if args.len() < 3 {
        return with_read(ctx, args[1], null, |z, out| {
            if let Some((m, _)) = z.at(rand_below(z.len())) {
                out.bulk(m);
            }
        });
    }
    let Some(l) = range_long(ctx.out, args[2], -i64::MAX, i64::MAX, None) else {
        return;
    };
    let withscores = match args.len() {
        3 => false,
        4 if args[3].eq_ignore_ascii_case(b"withscores") => {
            if !(-i64::MAX / 2..=i64::MAX / 2).contains(&l) {
                return ctx.out.err("value is out of range");
            }
            true
        }
        _ => return ctx.out.syntax_error(),
    };
    with_read(ctx, args[1], empty_array, |z, out| {
        let size = z.len();
        if l < 0 {
            // Repetitions allowed: every pick samples the whole set. Written as picked, with
            // nothing collected, so a huge count costs only reply bytes (as in Redis).
            let n = l.unsigned_abs() as usize;
            out.array(if withscores && out.resp == 2 { n * 2 } else { n });
            for _ in 0..n {
                if let Some((m, s)) = z.at(rand_below(size)) {
                    if withscores && out.resp > 2 {
                        out.array(2);
                    }
                    out.bulk(m);
                    if withscores {
                        out.double(s);
                    }
                }
            }
            return;
        }
        let items: Vec<(Vec<u8>, f64)> = if l == 0 {
            Vec::new()
        } else if l as usize >= size {
            collect(z, 0, size, false)
        } else {
            // Distinct members: pick ranks without repetition (partial Fisher-Yates over a
            // sparse map, so a small count on a big set costs O(count)).
            let n = l as usize;
            let mut swapped: HashMap<usize, usize> = HashMap::new();
            let mut ranks = Vec::with_capacity(n);
            for i in 0..n {
                let j = i + rand_below(size - i);
                let vj = *swapped.get(&j).unwrap_or(&j);
                let vi = *swapped.get(&i).unwrap_or(&i);
                swapped.insert(j, vi);
                ranks.push(vj);
            }
            ranks
                .into_iter()
                .filter_map(|r| z.at(r).map(|(m, s)| (m.to_vec(), s)))
                .collect()
        };
        reply_pairs(out, &items, withscores);
    });
}

fn zscan(ctx: &mut Ctx, args: &[&[u8]]) {
    let Some(cursor) = parse_cursor(args[2]) else {
        return ctx.out.err("invalid cursor");
    };
    let key = args[1];
    let (now, stats) = (ctx.now_ms, ctx.ks_stats());
    let mut shard = ctx.db().lock(key);
    let z = match get_zset(&mut shard, key, now, stats) {
        Err(()) => return ctx.out.wrong_type(),
        Ok(None) => {
            ctx.out.array(2);
            ctx.out.bulk(b"0");
            return ctx.out.array(0);
        }
        Ok(Some(z)) => z,
    };
    let mut count = 10i64;
    let mut pattern: Option<&[u8]> = None;
    let mut i = 3;
    while i < args.len() {
        let more = args.len() - i;
        if args[i].eq_ignore_ascii_case(b"count") && more >= 2 {
            let Some(n) = super::arg_i64(ctx.out, args[i + 1]) else {
                return;
            };
            if n < 1 {
                return ctx.out.syntax_error();
            }
            count = n;
        } else if args[i].eq_ignore_ascii_case(b"match") && more >= 2 {
            pattern = Some(args[i + 1]).filter(|p| *p != b"*");
        } else {
            return ctx.out.syntax_error();
        }
        i += 2;
    }
    let mut found: Vec<(Vec<u8>, f64)> = Vec::new();
    let next = z.scan(cursor, count as usize, &mut |m, s| {
        if pattern.is_none_or(|p| glob_match(p, m, false)) {
            found.push((m.to_vec(), s));
        }
    });
    drop(shard);
    ctx.out.array(2);
    ctx.out.bulk(next.to_string().as_bytes());
    ctx.out.array(found.len() * 2);
    for (m, s) in &found {
        ctx.out.bulk(m);
        ctx.out.bulk(crate::util::num::fmt_double(*s).as_bytes());
    }
}
