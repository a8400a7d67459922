//! List commands (`t_list.c`): pushes, pops, ranges, LPOS/LREM/LSET/LTRIM, LMOVE and LMPOP, and
//! the blocking pops (BLPOP BRPOP BLMOVE BRPOPLPUSH BLMPOP).
//!
//! Replies, error texts and the order in which arguments are checked follow Redis 7.0 exactly
//! (for example LINDEX looks the key up before parsing the index, LRANGE the other way round),
//! because clients and Redis's test suite observe them.
//!
//! Every command that adds elements to a list calls [`blocking::signal`] under the key's lock; the
//! clients blocked on that key are served when the command has finished (see
//! `server/blocking.rs`). A blocking pop that finds nothing registers itself with
//! [`blocking::block`] while still holding its keys' locks, so no push can slip in between.

use super::{arg_i64, def, CommandDef, Ctx};
use crate::keyspace::{KeyspaceStats, Shard, Value};
use crate::protocol::reply::Reply;
use crate::server::blocking::{self, Outcome, TimeoutReply, Waiter};
use crate::server::notify::{self as ev, notify, notify_srv};
use crate::server::Server;
use crate::types::list::{End, List};
use crate::util::num::parse_i64;

#[rustfmt::skip]
pub static COMMANDS: &[CommandDef] = &[
    def("lpush", -3, "write denyoom fast", (1, 1, 1), "@list", "list", "1.0.0", "Prepend one or multiple elements to a list", lpush),
    def("rpush", -3, "write denyoom fast", (1, 1, 1), "@list", "list", "1.0.0", "Append one or multiple elements to a list", rpush),
    def("lpushx", -3, "write denyoom fast", (1, 1, 1), "@list", "list", "2.2.0", "Prepend an element to a list, only if the list exists", lpushx),
    def("rpushx", -3, "write denyoom fast", (1, 1, 1), "@list", "list", "2.2.0", "Append an element to a list, only if the list exists", rpushx),
    def("lpop", -2, "write fast", (1, 1, 1), "@list", "list", "1.0.0", "Remove and get the first elements in a list", lpop),
    def("rpop", -2, "write fast", (1, 1, 1), "@list", "list", "1.0.0", "Remove and get the last elements in a list", rpop),
    def("lrange", 4, "readonly", (1, 1, 1), "@list", "list", "1.0.0", "Get a range of elements from a list", lrange),
    def("lindex", 3, "readonly", (1, 1, 1), "@list", "list", "1.0.0", "Get an element from a list by its index", lindex),
    def("linsert", 5, "write denyoom", (1, 1, 1), "@list", "list", "2.2.0", "Insert an element before or after another element in a list", linsert),
    def("llen", 2, "readonly fast", (1, 1, 1), "@list", "list", "1.0.0", "Get the length of a list", llen),
    def("lpos", -3, "readonly", (1, 1, 1), "@list", "list", "6.0.6", "Return the index of matching elements on a list", lpos),
    def("lrem", 4, "write", (1, 1, 1), "@list", "list", "1.0.0", "Remove elements from a list", lrem),
    def("lset", 4, "write denyoom", (1, 1, 1), "@list", "list", "1.0.0", "Set the value of an element in a list by its index", lset),
    def("ltrim", 4, "write", (1, 1, 1), "@list", "list", "1.0.0", "Trim a list to the specified range", ltrim),
    def("lmove", 5, "write denyoom", (1, 2, 1), "@list", "list", "6.2.0", "Pop an element from a list, push it to another list and return it", lmove),
    def("rpoplpush", 3, "write denyoom", (1, 2, 1), "@list", "list", "1.2.0", "Remove the last element in a list, prepend it to another list and return it", rpoplpush),
    CommandDef { keys_fn: Some(lmpop_keys), ..def("lmpop", -4, "write", (0, 0, 0), "@list", "list", "7.0.0", "Pop elements from a list", lmpop) },
    def("blpop", -3, "write noscript blocking", (1, -2, 1), "@list", "list", "2.0.0", "Remove and get the first element in a list, or block until one is available", blpop),
    def("brpop", -3, "write noscript blocking", (1, -2, 1), "@list", "list", "2.0.0", "Remove and get the last element in a list, or block until one is available", brpop),
    def("blmove", 6, "write denyoom noscript blocking", (1, 2, 1), "@list", "list", "6.2.0", "Pop an element from a list, push it to another list and return it; or block until one is available", blmove),
    def("brpoplpush", 4, "write denyoom noscript blocking", (1, 2, 1), "@list", "list", "2.2.0", "Pop an element from a list, push it to another list and return it; or block until one is available", brpoplpush),
    CommandDef { keys_fn: Some(blmpop_keys), ..def("blmpop", -5, "write blocking", (0, 0, 0), "@list", "list", "7.0.0", "Pop elements from a list, or block until one is available", blmpop) },
];

/// Keys of `LMPOP numkeys key... LEFT|RIGHT [COUNT n]`.
fn lmpop_keys(args: &[&[u8]]) -> Vec<usize> {
    numkeys_positions(args, 1)
}

/// Keys of `BLMPOP timeout numkeys key... LEFT|RIGHT [COUNT n]`.
fn blmpop_keys(args: &[&[u8]]) -> Vec<usize> {
    numkeys_positions(args, 2)
}

fn numkeys_positions(args: &[&[u8]], at: usize) -> Vec<usize> {
    let n = args.get(at).and_then(|a| parse_i64(a)).unwrap_or(0).max(0) as usize;
    (at + 1..args.len().min(at + 1 + n)).collect()
}

// ---------------------------------------------------------------------------------------------
// Lookup helpers
// ---------------------------------------------------------------------------------------------

/// A key's list: `Ok(None)` when missing, `Err(())` (WRONGTYPE written) for another type.
fn list_mut<'s>(
    sh: &'s mut Shard,
    key: &[u8],
    now_ms: i64,
    stats: &KeyspaceStats,
    out: &mut Reply,
) -> Result<Option<&'s mut List>, ()> {
    match sh.get_mut(key, now_ms, stats) {
        None => Ok(None),
        Some(e) => match &mut e.value {
            Value::List(l) => Ok(Some(l)),
            _ => {
                out.wrong_type();
                Err(())
            }
        },
    }
}

/// Deletes `key` when its list became empty (a key never holds an empty list); returns whether
/// it did.
fn drop_if_empty(sh: &mut Shard, key: &[u8]) -> bool {
    if matches!(sh.dict.get(key), Some(e) if matches!(&e.value, Value::List(l) if l.is_empty())) {
        sh.remove(key);
        return true;
    }
    false
}

/// The keyspace events of an update that removed elements from `key` (`lpop`, `ltrim`...),
/// then deletes the key if that emptied it, with its `del` event, as Redis's
/// listElementsRemoved.
fn removed_events(srv: &Server, db: usize, sh: &mut Shard, key: &[u8], event: &str) {
    notify_srv(srv, ev::LIST, event, key, db);
    if drop_if_empty(sh, key) {
        notify_srv(srv, ev::GENERIC, "del", key, db);
    }
}

fn pop_event(end: End) -> &'static str {
    match end {
        End::Left => "lpop",
        End::Right => "rpop",
    }
}

fn push_event(end: End) -> &'static str {
    match end {
        End::Left => "lpush",
        End::Right => "rpush",
    }
}

/// Redis's `getPositiveLongFromObjectOrReply` with its default message.
fn positive_count(out: &mut Reply, arg: &[u8], msg: &str) -> Option<i64> {
    match parse_i64(arg) {
        Some(n) if n >= 0 => Some(n),
        _ => {
            out.error(msg);
            None
        }
    }
}

const OUT_OF_RANGE_POSITIVE: &str = "ERR value is out of range, must be positive";

// ---------------------------------------------------------------------------------------------
// Pushes
// ---------------------------------------------------------------------------------------------

fn lpush(ctx: &mut Ctx, args: &[&[u8]]) {
    push(ctx, args, End::Left, false)
}

fn rpush(ctx: &mut Ctx, args: &[&[u8]]) {
    push(ctx, args, End::Right, false)
}

fn lpushx(ctx: &mut Ctx, args: &[&[u8]]) {
    push(ctx, args, End::Left, true)
}

fn rpushx(ctx: &mut Ctx, args: &[&[u8]]) {
    push(ctx, args, End::Right, true)
}

fn push(ctx: &mut Ctx, args: &[&[u8]], end: End, only_existing: bool) {
    let key = args[1];
    let lru = ctx.lru();
    let mut sh = ctx.db().lock(key);
    let len = match list_mut(&mut sh, key, ctx.now_ms, ctx.ks_stats(), ctx.out) {
        Err(()) => return,
        Ok(Some(l)) => {
            for v in &args[2..] {
                l.push(end, v);
            }
            l.len()
        }
        Ok(None) if only_existing => {
            ctx.out.int(0);
            return;
        }
        Ok(None) => {
            let mut l = List::new();
            for v in &args[2..] {
                l.push(end, v);
            }
            let n = l.len();
            sh.set(key, Value::List(l), false, lru);
            n
        }
    };
    notify(ctx, ev::LIST, push_event(end), key);
    blocking::signal(ctx.srv, ctx.client.db, key);
    drop(sh);
    ctx.dirty((args.len() - 2) as u64);
    ctx.out.int(len as i64);
}

// ---------------------------------------------------------------------------------------------
// Pops
// ---------------------------------------------------------------------------------------------

fn lpop(ctx: &mut Ctx, args: &[&[u8]]) {
    pop(ctx, args, End::Left)
}

fn rpop(ctx: &mut Ctx, args: &[&[u8]]) {
    pop(ctx, args, End::Right)
}

fn pop(ctx: &mut Ctx, args: &[&[u8]], end: End) {
    if args.len() > 3 {
        ctx.out.error(&format!(
            "ERR wrong number of arguments for '{}' command",
            String::from_utf8_lossy(args[0]).to_lowercase()
        ));
        return;
    }
    let count = match args.get(2) {
        Some(a) => match positive_count(ctx.out, a, OUT_OF_RANGE_POSITIVE) {
            Some(n) => Some(n as usize),
            None => return,
        },
        None => None,
    };
    let key = args[1];
    let mut sh = ctx.db().lock(key);
    let l = match list_mut(&mut sh, key, ctx.now_ms, ctx.ks_stats(), ctx.out) {
        Err(()) => return,
        Ok(None) => {
            match count {
                Some(_) => ctx.out.null_array(),
                None => ctx.out.null(),
            }
            return;
        }
        Ok(Some(l)) => l,
    };
    let popped = match count {
        None => {
            if let Some(v) = l.pop(end) {
                ctx.out.bulk(&v);
            }
            1
        }
        Some(n) => {
            let n = n.min(l.len());
            ctx.out.array(n);
            for _ in 0..n {
                if let Some(v) = l.pop(end) {
                    ctx.out.bulk(&v);
                }
            }
            n
        }
    };
    if popped > 0 {
        removed_events(ctx.srv, ctx.client.db, &mut sh, key, pop_event(end));
    }
    drop(sh);
    ctx.dirty(popped as u64);
}

/// Pops up to `count` elements and writes `[key, [elements]]` (LMPOP / BLMPOP).
fn pop_with_key(out: &mut Reply, l: &mut List, key: &[u8], end: End, count: usize) -> usize {
    let n = count.min(l.len());
    out.array(2);
    out.bulk(key);
    out.array(n);
    for _ in 0..n {
        if let Some(v) = l.pop(end) {
            out.bulk(&v);
        }
    }
    n
}

// ---------------------------------------------------------------------------------------------
// Reads
// ---------------------------------------------------------------------------------------------

fn lrange(ctx: &mut Ctx, args: &[&[u8]]) {
    let Some(start) = arg_i64(ctx.out, args[2]) else { return };
    let Some(end) = arg_i64(ctx.out, args[3]) else { return };
    let key = args[1];
    let mut sh = ctx.db().lock(key);
    let l = match list_mut(&mut sh, key, ctx.now_ms, ctx.ks_stats(), ctx.out) {
        Err(()) => return,
        Ok(None) => {
            ctx.count_read(false);
            ctx.out.array(0);
            return;
        }
        Ok(Some(l)) => l,
    };
    let len = l.len() as i64;
    let mut start = if start < 0 { len + start } else { start };
    let mut end = if end < 0 { len + end } else { end };
    if start < 0 {
        start = 0;
    }
    if start > end || start >= len {
        ctx.out.array(0);
        return;
    }
    if end >= len {
        end = len - 1;
    }
    let n = (end - start + 1) as usize;
    ctx.out.array(n);
    for v in l.range(start as usize, n) {
        ctx.out.bulk(&v);
    }
}

fn lindex(ctx: &mut Ctx, args: &[&[u8]]) {
    let key = args[1];
    let mut sh = ctx.db().lock(key);
    let l = match list_mut(&mut sh, key, ctx.now_ms, ctx.ks_stats(), ctx.out) {
        Err(()) => return,
        Ok(None) => {
            ctx.out.null();
            return;
        }
        Ok(Some(l)) => l,
    };
    let Some(index) = arg_i64(ctx.out, args[2]) else { return };
    match l.resolve(index).and_then(|i| l.get(i)) {
        Some(v) => ctx.out.bulk(&v),
        None => ctx.out.null(),
    }
}

fn llen(ctx: &mut Ctx, args: &[&[u8]]) {
    let key = args[1];
    let mut sh = ctx.db().lock(key);
    match list_mut(&mut sh, key, ctx.now_ms, ctx.ks_stats(), ctx.out) {
        Err(()) => {}
        Ok(None) => ctx.out.int(0),
        Ok(Some(l)) => ctx.out.int(l.len() as i64),
    }
}

fn lpos(ctx: &mut Ctx, args: &[&[u8]]) {
    let ele = args[2];
    let mut rank: i64 = 1;
    let mut count: Option<usize> = None;
    let mut maxlen: usize = 0;
    let mut j = 3;
    while j < args.len() {
        let more = j + 1 < args.len();
        let opt = args[j];
        if opt.eq_ignore_ascii_case(b"rank") && more {
            j += 1;
            let Some(r) = arg_i64(ctx.out, args[j]) else { return };
            if r == 0 {
                ctx.out.error("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list");
                return;
            }
            rank = r;
        } else if opt.eq_ignore_ascii_case(b"count") && more {
            j += 1;
            let Some(c) = positive_count(ctx.out, args[j], "ERR COUNT can't be negative") else {
                return;
            };
            count = Some(c as usize);
        } else if opt.eq_ignore_ascii_case(b"maxlen") && more {
            j += 1;
            let Some(m) = positive_count(ctx.out, args[j], "ERR MAXLEN can't be negative") else {
                return;
            };
            maxlen = m as usize;
        } else {
            ctx.out.syntax_error();
            return;
        }
        j += 1;
    }
    // A negative rank scans from the tail (LONG_MIN's magnitude saturates, as any rank beyond
    // the number of matches finds nothing).
    let from_tail = rank < 0;
    let rank = rank.unsigned_abs();
    let key = args[1];
    let mut sh = ctx.db().lock(key);
    let l = match list_mut(&mut sh, key, ctx.now_ms, ctx.ks_stats(), ctx.out) {
        Err(()) => return,
        Ok(None) => {
            match count {
                Some(_) => ctx.out.array(0),
                None => ctx.out.null(),
            }
            return;
        }
        Ok(Some(l)) => l,
    };
    let len = l.len();
    let limit = if maxlen == 0 { len } else { maxlen.min(len) };
    let items: Box<dyn Iterator<Item = std::borrow::Cow<[u8]>>> = if from_tail {
        Box::new(l.iter().rev())
    } else {
        Box::new(l.iter())
    };
    let mut matches: u64 = 0;
    let mut found: Vec<usize> = Vec::new();
    for (i, v) in items.take(limit).enumerate() {
        if v != ele {
            continue;
        }
        matches += 1;
        if matches < rank {
            continue;
        }
        let idx = if from_tail { len - i - 1 } else { i };
        found.push(idx);
        match count {
            None => break,
            Some(c) if c != 0 && found.len() >= c => break,
            _ => {}
        }
    }
    match count {
        Some(_) => {
            ctx.out.array(found.len());
            for i in found {
                ctx.out.int(i as i64);
            }
        }
        None => match found.first() {
            Some(&i) => ctx.out.int(i as i64),
            None => ctx.out.null(),
        },
    }
}

// ---------------------------------------------------------------------------------------------
// In-place changes
// ---------------------------------------------------------------------------------------------

fn linsert(ctx: &mut Ctx, args: &[&[u8]]) {
    let after = if args[2].eq_ignore_ascii_case(b"after") {
        true
    } else if args[2].eq_ignore_ascii_case(b"before") {
        false
    } else {
        ctx.out.syntax_error();
        return;
    };
    let (key, pivot, ele) = (args[1], args[3], args[4]);
    let mut sh = ctx.db().lock(key);
    let l = match list_mut(&mut sh, key, ctx.now_ms, ctx.ks_stats(), ctx.out) {
        Err(()) => return,
        Ok(None) => {
            ctx.out.int(0);
            return;
        }
        Ok(Some(l)) => l,
    };
    let Some(pos) = l.iter().position(|v| *v == *pivot) else {
        ctx.out.int(-1);
        return;
    };
    l.insert(if after { pos + 1 } else { pos }, ele);
    let len = l.len();
    notify(ctx, ev::LIST, "linsert", key);
    blocking::signal(ctx.srv, ctx.client.db, key);
    drop(sh);
    ctx.dirty(1);
    ctx.out.int(len as i64);
}

fn lrem(ctx: &mut Ctx, args: &[&[u8]]) {
    let Some(count) = arg_i64(ctx.out, args[2]) else { return };
    let key = args[1];
    let mut sh = ctx.db().lock(key);
    let l = match list_mut(&mut sh, key, ctx.now_ms, ctx.ks_stats(), ctx.out) {
        Err(()) => return,
        Ok(None) => {
            ctx.out.int(0);
            return;
        }
        Ok(Some(l)) => l,
    };
    let limit = count.unsigned_abs().min(usize::MAX as u64) as usize;
    let removed = l.remove_matching(args[3], limit, count < 0);
    if removed > 0 {
        removed_events(ctx.srv, ctx.client.db, &mut sh, key, "lrem");
    }
    drop(sh);
    ctx.dirty(removed as u64);
    ctx.out.int(removed as i64);
}

fn lset(ctx: &mut Ctx, args: &[&[u8]]) {
    let key = args[1];
    let mut sh = ctx.db().lock(key);
    let l = match list_mut(&mut sh, key, ctx.now_ms, ctx.ks_stats(), ctx.out) {
        Err(()) => return,
        Ok(None) => {
            ctx.out.error("ERR no such key");
            return;
        }
        Ok(Some(l)) => l,
    };
    let Some(index) = arg_i64(ctx.out, args[2]) else { return };
    let Some(i) = l.resolve(index) else {
        ctx.out.error("ERR index out of range");
        return;
    };
    l.set(i, args[3]);
    notify(ctx, ev::LIST, "lset", key);
    drop(sh);
    ctx.dirty(1);
    ctx.out.ok();
}

fn ltrim(ctx: &mut Ctx, args: &[&[u8]]) {
    let Some(start) = arg_i64(ctx.out, args[2]) else { return };
    let Some(end) = arg_i64(ctx.out, args[3]) else { return };
    let key = args[1];
    let mut sh = ctx.db().lock(key);
    let l = match list_mut(&mut sh, key, ctx.now_ms, ctx.ks_stats(), ctx.out) {
        Err(()) => return,
        Ok(None) => {
            ctx.out.ok();
            return;
        }
        Ok(Some(l)) => l,
    };
    let len = l.len() as i64;
    let mut start = if start < 0 { len + start } else { start };
    let mut end = if end < 0 { len + end } else { end };
    if start < 0 {
        start = 0;
    }
    let (ltrim, rtrim) = if start > end || start >= len {
        (len, 0)
    } else {
        if end >= len {
            end = len - 1;
        }
        (start, len - end - 1)
    };
    l.trim(End::Left, ltrim as usize);
    l.trim(End::Right, rtrim as usize);
    removed_events(ctx.srv, ctx.client.db, &mut sh, key, "ltrim");
    drop(sh);
    ctx.dirty((ltrim + rtrim) as u64);
    ctx.out.ok();
}

// ---------------------------------------------------------------------------------------------
// LMOVE and friends
// ---------------------------------------------------------------------------------------------

fn lmove(ctx: &mut Ctx, args: &[&[u8]]) {
    let (Some(from), Some(to)) = (End::parse(args[3]), End::parse(args[4])) else {
        ctx.out.syntax_error();
        return;
    };
    let client_db = ctx.client.db;
    move_generic(
        ctx.srv,
        client_db,
        ctx.now_ms,
        ctx.lru(),
        ctx.out,
        args[1],
        args[2],
        from,
        to,
    );
}

fn rpoplpush(ctx: &mut Ctx, args: &[&[u8]]) {
    let client_db = ctx.client.db;
    move_generic(
        ctx.srv,
        client_db,
        ctx.now_ms,
        ctx.lru(),
        ctx.out,
        args[1],
        args[2],
        End::Right,
        End::Left,
    );
}

/// Where a move stands after looking at its keys (with the locks held).
enum MoveCheck {
    /// The source is missing (or empty).
    NoSource,
    /// A reply (WRONGTYPE) was written.
    Error,
    Ready,
}

/// Checks LMOVE's keys in Redis's order: the source first, then the destination.
fn move_check(
    locked: &mut crate::keyspace::Locked,
    src: &[u8],
    dst: &[u8],
    now_ms: i64,
    stats: &KeyspaceStats,
    out: &mut Reply,
) -> MoveCheck {
    match list_mut(locked.shard(src), src, now_ms, stats, out) {
        Err(()) => return MoveCheck::Error,
        Ok(None) => return MoveCheck::NoSource,
        Ok(Some(l)) if l.is_empty() => return MoveCheck::NoSource,
        Ok(Some(_)) => {}
    }
    if list_mut(locked.shard(dst), dst, now_ms, stats, out).is_err() {
        return MoveCheck::Error;
    }
    MoveCheck::Ready
}

/// Pops from `src` and pushes onto `dst` (both checked); returns the moved element.
#[allow(clippy::too_many_arguments)]
fn move_element(
    srv: &Server,
    db: usize,
    locked: &mut crate::keyspace::Locked,
    src: &[u8],
    dst: &[u8],
    from: End,
    to: End,
    now_ms: i64,
    lru: u32,
    stats: &KeyspaceStats,
) -> Option<Vec<u8>> {
    let v = match locked.shard(src).get_mut(src, now_ms, stats) {
        Some(e) => match &mut e.value {
            Value::List(l) => l.pop(from)?,
            _ => return None,
        },
        None => return None,
    };
    // The push comes first, so a list rotated onto itself is never deleted and re-created.
    let sh = locked.shard(dst);
    match sh.get_mut(dst, now_ms, stats) {
        Some(e) => {
            if let Value::List(l) = &mut e.value {
                l.push(to, &v);
            }
        }
        None => {
            let mut l = List::new();
            l.push(to, &v);
            sh.set(dst, Value::List(l), false, lru);
        }
    }
    notify_srv(srv, ev::LIST, push_event(to), dst, db);
    removed_events(srv, db, locked.shard(src), src, pop_event(from));
    blocking::signal(srv, db, dst);
    Some(v)
}

#[allow(clippy::too_many_arguments)]
fn move_generic(
    srv: &Server,
    db: usize,
    now_ms: i64,
    lru: u32,
    out: &mut Reply,
    src: &[u8],
    dst: &[u8],
    from: End,
    to: End,
) {
    let stats = &srv.keyspace.stats;
    let mut locked = srv.keyspace.db(db).lock_keys([src, dst]);
    match move_check(&mut locked, src, dst, now_ms, stats, out) {
        MoveCheck::Error => {}
        MoveCheck::NoSource => out.null(),
        MoveCheck::Ready => {
            match move_element(srv, db, &mut locked, src, dst, from, to, now_ms, lru, stats) {
                Some(v) => out.bulk(&v),
                None => out.null(),
            }
            srv.stats.dirty.add(2);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// LMPOP
// ---------------------------------------------------------------------------------------------

/// Parsed `numkeys key... LEFT|RIGHT [COUNT n]` (from `args[at]`).
struct MpopArgs<'a> {
    keys: Vec<&'a [u8]>,
    end: End,
    count: usize,
}

fn parse_mpop<'a>(out: &mut Reply, args: &[&'a [u8]], at: usize) -> Option<MpopArgs<'a>> {
    let numkeys = match parse_i64(args[at]) {
        Some(n) if n >= 1 => n as usize,
        _ => {
            out.error("ERR numkeys should be greater than 0");
            return None;
        }
    };
    let where_idx = at.saturating_add(numkeys).saturating_add(1);
    if where_idx >= args.len() {
        out.syntax_error();
        return None;
    }
    let Some(end) = End::parse(args[where_idx]) else {
        out.syntax_error();
        return None;
    };
    let mut count: Option<usize> = None;
    let mut j = where_idx + 1;
    while j < args.len() {
        if count.is_none() && args[j].eq_ignore_ascii_case(b"count") && j + 1 < args.len() {
            j += 1;
            match parse_i64(args[j]) {
                Some(n) if n >= 1 => count = Some(n as usize),
                _ => {
                    out.error("ERR count should be greater than 0");
                    return None;
                }
            }
        } else {
            out.syntax_error();
            return None;
        }
        j += 1;
    }
    Some(MpopArgs {
        keys: args[at + 1..where_idx].to_vec(),
        end,
        count: count.unwrap_or(1),
    })
}

/// LMPOP and BLMPOP are logged as `LPOP|RPOP key <popped>`, as Redis rewrites them.
fn propagate_pop(ctx: &Ctx, key: &[u8], end: End, popped: usize) {
    let verb: &[u8] = if matches!(end, End::Left) { b"LPOP" } else { b"RPOP" };
    ctx.propagate(&[verb, key, popped.to_string().as_bytes()]);
}

fn lmpop(ctx: &mut Ctx, args: &[&[u8]]) {
    let Some(m) = parse_mpop(ctx.out, args, 1) else { return };
    let db = ctx.db();
    let mut locked = db.lock_keys(m.keys.iter().copied());
    for key in &m.keys {
        let sh = locked.shard(key);
        match list_mut(sh, key, ctx.now_ms, ctx.ks_stats(), ctx.out) {
            Err(()) => return,
            Ok(None) => continue,
            Ok(Some(l)) => {
                let n = pop_with_key(ctx.out, l, key, m.end, m.count);
                removed_events(ctx.srv, ctx.client.db, sh, key, pop_event(m.end));
                drop(locked);
                crate::server::multi::spare_all_but(args, key);
                ctx.dirty(n as u64);
                propagate_pop(ctx, key, m.end, n);
                return;
            }
        }
    }
    ctx.out.null_array();
}

// ---------------------------------------------------------------------------------------------
// Blocking pops
// ---------------------------------------------------------------------------------------------

fn blpop(ctx: &mut Ctx, args: &[&[u8]]) {
    bpop(ctx, args, End::Left)
}

fn brpop(ctx: &mut Ctx, args: &[&[u8]]) {
    bpop(ctx, args, End::Right)
}

fn bpop(ctx: &mut Ctx, args: &[&[u8]], end: End) {
    let Some(deadline) = blocking::parse_timeout(ctx.out, args[args.len() - 1], ctx.now_ms) else {
        return;
    };
    let keys = &args[1..args.len() - 1];
    bpop_generic(ctx, args, keys, end, None, deadline);
}

fn blmpop(ctx: &mut Ctx, args: &[&[u8]]) {
    let Some(m) = parse_mpop(ctx.out, args, 2) else { return };
    let Some(deadline) = blocking::parse_timeout(ctx.out, args[1], ctx.now_ms) else {
        return;
    };
    bpop_generic(ctx, args, &m.keys, m.end, Some(m.count), deadline);
}

/// BLPOP/BRPOP (`count` None: reply `[key, element]`) and BLMPOP (`[key, [elements]]`): pops
/// from the first non-empty list or blocks.
fn bpop_generic(ctx: &mut Ctx, args: &[&[u8]], keys: &[&[u8]], end: End, count: Option<usize>, deadline: i64) {
    let db = ctx.db();
    let mut locked = db.lock_keys(keys.iter().copied());
    for key in keys {
        let sh = locked.shard(key);
        match list_mut(sh, key, ctx.now_ms, ctx.ks_stats(), ctx.out) {
            Err(()) => return,
            Ok(None) => continue,
            Ok(Some(l)) => {
                let n = match count {
                    Some(c) => pop_with_key(ctx.out, l, key, end, c),
                    None => {
                        if let Some(v) = l.pop(end) {
                            ctx.out.array(2);
                            ctx.out.bulk(key);
                            ctx.out.bulk(&v);
                        }
                        1
                    }
                };
                removed_events(ctx.srv, ctx.client.db, sh, key, pop_event(end));
                drop(locked);
                crate::server::multi::spare_all_but(args, key);
                ctx.dirty(n as u64);
                if count.is_some() {
                    propagate_pop(ctx, key, end, n);
                }
                return;
            }
        }
    }
    // Inside EXEC a command cannot block: it answers as if it timed out.
    if ctx.client.cannot_block() {
        ctx.out.null_array();
        return;
    }
    blocking::block(
        ctx.srv,
        ctx.client,
        args,
        keys,
        deadline,
        serve_pop,
        TimeoutReply::NullArray,
    );
    drop(locked);
}

fn blmove(ctx: &mut Ctx, args: &[&[u8]]) {
    let (Some(from), Some(to)) = (End::parse(args[3]), End::parse(args[4])) else {
        ctx.out.syntax_error();
        return;
    };
    let Some(deadline) = blocking::parse_timeout(ctx.out, args[5], ctx.now_ms) else {
        return;
    };
    bmove(ctx, args, from, to, deadline);
}

fn brpoplpush(ctx: &mut Ctx, args: &[&[u8]]) {
    let Some(deadline) = blocking::parse_timeout(ctx.out, args[3], ctx.now_ms) else {
        return;
    };
    bmove(ctx, args, End::Right, End::Left, deadline);
}

fn bmove(ctx: &mut Ctx, args: &[&[u8]], from: End, to: End, deadline: i64) {
    let (src, dst) = (args[1], args[2]);
    let srv = ctx.srv;
    let db = ctx.client.db;
    let stats = ctx.ks_stats();
    let lru = ctx.lru();
    let mut locked = srv.keyspace.db(db).lock_keys([src, dst]);
    match move_check(&mut locked, src, dst, ctx.now_ms, stats, ctx.out) {
        MoveCheck::Error => {}
        MoveCheck::Ready => {
            match move_element(srv, db, &mut locked, src, dst, from, to, ctx.now_ms, lru, stats) {
                Some(v) => ctx.out.bulk(&v),
                None => ctx.out.null(),
            }
            drop(locked);
            ctx.dirty(2);
        }
        MoveCheck::NoSource if ctx.client.cannot_block() => ctx.out.null(),
        MoveCheck::NoSource => {
            // Redis 7.0 answers a timed-out BLMOVE with the null *array*, like the pops.
            blocking::block(
                srv,
                ctx.client,
                args,
                &[src],
                deadline,
                serve_move,
                TimeoutReply::NullArray,
            );
            drop(locked);
        }
    }
}

/// Serves a client blocked in BLPOP, BRPOP or BLMPOP from the ready `key`.
fn serve_pop(srv: &Server, w: &Waiter, key: &[u8]) -> Outcome {
    let name = &w.argv[0];
    let argv: Vec<&[u8]> = w.argv.iter().map(|a| a.as_slice()).collect();
    let (end, count) = if name.eq_ignore_ascii_case(b"blmpop") {
        let mut sink = Reply::new();
        match parse_mpop(&mut sink, &argv, 2) {
            Some(m) => (m.end, Some(m.count)),
            None => return Outcome::NotReady,
        }
    } else if name.eq_ignore_ascii_case(b"brpop") {
        (End::Right, None)
    } else {
        (End::Left, None)
    };
    let now_ms = crate::server::unix_ms();
    let stats = &srv.keyspace.stats;
    let mut sh = srv.keyspace.db(w.db).lock(key);
    let l = match sh.get_mut(key, now_ms, stats).map(|e| &mut e.value) {
        Some(Value::List(l)) => l,
        // A sorted set serves the BZPOPMIN clients queued behind this one.
        Some(_) => return Outcome::Skip,
        None => return Outcome::NotReady,
    };
    if l.is_empty() {
        return Outcome::NotReady;
    }
    if !w.claim() {
        return Outcome::Gone;
    }
    let mut out = w.reply();
    let n = match count {
        Some(c) => {
            let n = pop_with_key(&mut out, l, key, end, c);
            crate::server::propagate::served_popped(n);
            n
        }
        None => {
            if let Some(v) = l.pop(end) {
                out.array(2);
                out.bulk(key);
                out.bulk(&v);
            }
            1
        }
    };
    removed_events(srv, w.db, &mut sh, key, pop_event(end));
    w.deliver(&out);
    drop(sh);
    srv.stats.dirty.add(n as u64);
    Outcome::Served
}

/// Serves a client blocked in BLMOVE or BRPOPLPUSH from its ready source `key`.
fn serve_move(srv: &Server, w: &Waiter, key: &[u8]) -> Outcome {
    let a = &w.argv;
    let (from, to) = if a[0].eq_ignore_ascii_case(b"blmove") && a.len() >= 5 {
        match (End::parse(&a[3]), End::parse(&a[4])) {
            (Some(f), Some(t)) => (f, t),
            _ => return Outcome::NotReady,
        }
    } else {
        (End::Right, End::Left)
    };
    let Some(dst) = a.get(2) else { return Outcome::NotReady };
    let now_ms = crate::server::unix_ms();
    let stats = &srv.keyspace.stats;
    let mut locked = srv.keyspace.db(w.db).lock_keys([key, dst.as_slice()]);
    // Only a non-empty list can serve; anything else leaves the client blocked.
    match locked.shard(key).get(key, now_ms, stats).map(|e| &e.value) {
        Some(Value::List(l)) if !l.is_empty() => {}
        Some(Value::List(_)) | None => return Outcome::NotReady,
        Some(_) => return Outcome::Skip,
    }
    let mut out = w.reply();
    match move_check(&mut locked, key, dst, now_ms, stats, &mut out) {
        MoveCheck::NoSource => Outcome::NotReady,
        MoveCheck::Error => {
            // The destination holds another type: the client gets the error and the element
            // stays where it is (Redis 7.0).
            if !w.claim() {
                return Outcome::Gone;
            }
            w.deliver(&out);
            Outcome::Served
        }
        MoveCheck::Ready => {
            if !w.claim() {
                return Outcome::Gone;
            }
            let lru = srv.lru_clock_at(now_ms);
            match move_element(srv, w.db, &mut locked, key, dst, from, to, now_ms, lru, stats) {
                Some(v) => out.bulk(&v),
                None => out.null(),
            }
            w.deliver(&out);
            drop(locked);
            srv.stats.dirty.add(2);
            Outcome::Served
        }
    }
}
