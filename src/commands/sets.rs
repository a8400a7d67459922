//! Set commands (`t_set.c`): SADD SREM SMEMBERS SISMEMBER SMISMEMBER SCARD SPOP SRANDMEMBER
//! SMOVE SINTER SINTERCARD SUNION SDIFF SINTERSTORE SUNIONSTORE SDIFFSTORE SSCAN.
//!
//! Multi-key commands (SMOVE and the algebra) lock all their keys' shards at once with
//! `Db::lock_keys`, compute the result while holding them and store it in the same critical
//! section, so they are atomic. Results are built the way Redis builds them (an intset that
//! converts as members are added), so OBJECT ENCODING of a stored result matches Redis's.

use super::hashes::{distinct_indices, parse_scan_opts, reply_scan, RANGE_ERR};
use super::keys::{parse_cursor, random_u64};
use super::{def, find_typed, find_typed_read, CommandDef, Ctx, Found};
use crate::keyspace::{Locked, Shard, Value};
use crate::protocol::reply::Reply;
use crate::server::notify::{self as ev, notify};
use crate::types::set::{Member, Set};
use crate::types::Collection;
use crate::util::glob::glob_match;
use crate::util::num::parse_i64;

#[rustfmt::skip]
pub static COMMANDS: &[CommandDef] = &[
    def("sadd", -3, "write denyoom fast", (1, 1, 1), "@set", "set", "1.0.0", "Add one or more members to a set", sadd),
    def("srem", -3, "write fast", (1, 1, 1), "@set", "set", "1.0.0", "Remove one or more members from a set", srem),
    def("smembers", 2, "readonly", (1, 1, 1), "@set", "set", "1.0.0", "Get all the members in a set", smembers),
    def("sismember", 3, "readonly fast", (1, 1, 1), "@set", "set", "1.0.0", "Determine if a given value is a member of a set", sismember),
    def("smismember", -3, "readonly fast", (1, 1, 1), "@set", "set", "6.2.0", "Returns the membership associated with the given elements for a set", smismember),
    def("scard", 2, "readonly fast", (1, 1, 1), "@set", "set", "1.0.0", "Get the number of members in a set", scard),
    def("spop", -2, "write fast", (1, 1, 1), "@set", "set", "1.0.0", "Remove and return one or multiple random members from a set", spop),
    def("srandmember", -2, "readonly", (1, 1, 1), "@set", "set", "1.0.0", "Get one or multiple random members from a set", srandmember),
    def("smove", 4, "write fast", (1, 2, 1), "@set", "set", "1.0.0", "Move a member from one set to another", smove),
    def("sinter", -2, "readonly", (1, -1, 1), "@set", "set", "1.0.0", "Intersect multiple sets", sinter),
    CommandDef { keys_fn: Some(sintercard_keys), ..def("sintercard", -3, "readonly", (0, 0, 0), "@set", "set", "7.0.0", "Intersect multiple sets and return the cardinality of the result", sintercard) },
    def("sunion", -2, "readonly", (1, -1, 1), "@set", "set", "1.0.0", "Add multiple sets", sunion),
    def("sdiff", -2, "readonly", (1, -1, 1), "@set", "set", "1.0.0", "Subtract multiple sets", sdiff),
    def("sinterstore", -3, "write denyoom", (1, -1, 1), "@set", "set", "1.0.0", "Intersect multiple sets and store the resulting set in a key", sinterstore),
    def("sunionstore", -3, "write denyoom", (1, -1, 1), "@set", "set", "1.0.0", "Add multiple sets and store the resulting set in a key", sunionstore),
    def("sdiffstore", -3, "write denyoom", (1, -1, 1), "@set", "set", "1.0.0", "Subtract multiple sets and store the resulting set in a key", sdiffstore),
    def("sscan", -3, "readonly", (1, 1, 1), "@set", "set", "2.8.0", "Incrementally iterate Set elements", sscan),
];

fn as_set(v: &mut Value) -> Option<&mut Set> {
    match v {
        Value::Set(x) => Some(x),
        _ => None,
    }
}

fn find<'s>(ctx: &Ctx, shard: &'s mut Shard, key: &[u8]) -> Found<'s, Set> {
    find_typed(ctx, shard, key, as_set)
}

/// Looks a set up for reading, counting the hit or miss; replies WRONGTYPE itself (None).
fn find_read<'s>(ctx: &mut Ctx, shard: &'s mut Shard, key: &[u8]) -> Option<Option<&'s mut Set>> {
    find_typed_read(ctx, shard, key, as_set)
}

fn reply_member(out: &mut Reply, m: Member) {
    match m {
        Member::Int(n) => out.bulk_i64(n),
        Member::Str(s) => out.bulk(s),
    }
}

fn sadd(ctx: &mut Ctx, args: &[&[u8]]) {
    let key = args[1];
    let lru = ctx.lru();
    let mut shard = ctx.db().lock(key);
    let s = match find(ctx, &mut shard, key) {
        Found::WrongType => return ctx.out.wrong_type(),
        Found::Is(s) => s,
        Found::Missing => {
            shard.set(key, Value::Set(Set::for_member(args[2])), false, lru);
            match find(ctx, &mut shard, key) {
                Found::Is(s) => s,
                _ => return ctx.out.wrong_type(),
            }
        }
    };
    let added = args[2..].iter().filter(|m| s.add(m)).count();
    if added > 0 {
        notify(ctx, ev::SET, "sadd", key);
    }
    drop(shard);
    ctx.dirty(added as u64);
    ctx.out.int(added as i64);
}

fn srem(ctx: &mut Ctx, args: &[&[u8]]) {
    let key = args[1];
    let mut shard = ctx.db().lock(key);
    let s = match find(ctx, &mut shard, key) {
        Found::Missing => return ctx.out.int(0),
        Found::WrongType => return ctx.out.wrong_type(),
        Found::Is(s) => s,
    };
    let mut removed = 0;
    for m in &args[2..] {
        if s.remove(m) {
            removed += 1;
            if s.is_empty() {
                break;
            }
        }
    }
    let old = if s.is_empty() { shard.remove(key) } else { None };
    if removed > 0 {
        notify(ctx, ev::SET, "srem", key);
        if old.is_some() {
            notify(ctx, ev::GENERIC, "del", key);
        }
    }
    drop(shard);
    drop(old);
    ctx.dirty(removed);
    ctx.out.int(removed as i64);
}

fn smembers(ctx: &mut Ctx, args: &[&[u8]]) {
    let mut shard = ctx.db().lock(args[1]);
    let Some(s) = find_read(ctx, &mut shard, args[1]) else {
        return;
    };
    let Some(s) = s else {
        return ctx.out.set(0);
    };
    ctx.out.set(s.len());
    for m in s.iter() {
        reply_member(ctx.out, m);
    }
}

fn sismember(ctx: &mut Ctx, args: &[&[u8]]) {
    let mut shard = ctx.db().lock(args[1]);
    if let Some(s) = find_read(ctx, &mut shard, args[1]) {
        let b = s.is_some_and(|s| s.contains(args[2]));
        ctx.out.int(b as i64);
    }
}

fn smismember(ctx: &mut Ctx, args: &[&[u8]]) {
    let mut shard = ctx.db().lock(args[1]);
    let Some(s) = find_read(ctx, &mut shard, args[1]) else {
        return;
    };
    ctx.out.array(args.len() - 2);
    for m in &args[2..] {
        let b = s.as_ref().is_some_and(|s| s.contains(m));
        ctx.out.int(b as i64);
    }
}

fn scard(ctx: &mut Ctx, args: &[&[u8]]) {
    let mut shard = ctx.db().lock(args[1]);
    if let Some(s) = find_read(ctx, &mut shard, args[1]) {
        let n = s.map_or(0, |s| s.len());
        ctx.out.int(n as i64);
    }
}

fn spop(ctx: &mut Ctx, args: &[&[u8]]) {
    if args.len() > 3 {
        return ctx.out.syntax_error();
    }
    let count = if args.len() == 3 {
        match parse_i64(args[2]) {
            Some(n) if n >= 0 => Some(n as usize),
            _ => return ctx.out.err("value is out of range, must be positive"),
        }
    } else {
        None
    };
    let key = args[1];
    let mut shard = ctx.db().lock(key);
    let s = match find(ctx, &mut shard, key) {
        Found::Missing if count.is_some() => return ctx.out.set(0),
        Found::Missing => return ctx.out.null(),
        Found::WrongType => return ctx.out.wrong_type(),
        Found::Is(s) => s,
    };
    let size = s.len();
    let Some(count) = count else {
        let m = s.remove_nth((random_u64() % size as u64) as usize);
        // Logged as what it removed (Redis rewrites SPOP as SREM).
        ctx.propagate(&[b"SREM", key, &m]);
        let old = if s.is_empty() { shard.remove(key) } else { None };
        notify(ctx, ev::SET, "spop", key);
        if old.is_some() {
            notify(ctx, ev::GENERIC, "del", key);
        }
        drop(shard);
        drop(old);
        ctx.dirty(1);
        return ctx.out.bulk(&m);
    };
    if count == 0 {
        return ctx.out.set(0);
    }
    notify(ctx, ev::SET, "spop", key);
    if count >= size {
        // The whole set, and the key goes.
        ctx.out.set(size);
        for m in s.iter() {
            reply_member(ctx.out, m);
        }
        let old = shard.remove(key);
        notify(ctx, ev::GENERIC, "del", key);
        drop(shard);
        drop(old);
        ctx.dirty(size as u64);
        ctx.propagate(&[b"DEL", key]);
        return;
    }
    ctx.out.set(count);
    let remaining = size - count;
    // The popped members, when writes are logged: SREM in batches of 1024, as Redis.
    let mut popped: Option<Vec<Vec<u8>>> = ctx.srv.propagation.active().then(Vec::new);
    if remaining * 5 > count {
        // Few to pop: remove them one by one.
        for _ in 0..count {
            let m = s.remove_nth((random_u64() % s.len() as u64) as usize);
            ctx.out.bulk(&m);
            if let Some(p) = popped.as_mut() {
                p.push(m.to_vec());
            }
        }
    } else {
        // Most go: draw the few that stay into a new set (created for its first member, as
        // Redis does, so a hashtable of integers may come back as an intset) and reply with
        // the rest.
        let mut keep = distinct_indices(size, remaining);
        keep.sort_unstable();
        let mut newset: Option<Set> = None;
        for &i in &keep {
            let m = s.nth(i).bytes().into_owned();
            newset.get_or_insert_with(|| Set::for_member(&m)).add(&m);
        }
        let mut k = keep.iter().peekable();
        for i in 0..size {
            if k.peek() == Some(&&i) {
                k.next();
                continue;
            }
            let m = s.nth(i);
            if let Some(p) = popped.as_mut() {
                p.push(m.bytes().into_owned());
            }
            reply_member(ctx.out, m);
        }
        if let Some(ns) = newset {
            *s = ns;
        }
    }
    drop(shard);
    ctx.dirty(count as u64);
    for batch in popped.unwrap_or_default().chunks(1024) {
        let mut argv: Vec<&[u8]> = vec![b"SREM", key];
        argv.extend(batch.iter().map(|m| m.as_slice()));
        ctx.propagate(&argv);
    }
}

fn srandmember(ctx: &mut Ctx, args: &[&[u8]]) {
    if args.len() > 3 {
        return ctx.out.syntax_error();
    }
    if args.len() == 2 {
        let mut shard = ctx.db().lock(args[1]);
        let Some(s) = find_read(ctx, &mut shard, args[1]) else {
            return;
        };
        let Some(s) = s else {
            return ctx.out.null();
        };
        let m = s.nth((random_u64() % s.len() as u64) as usize);
        return reply_member(ctx.out, m);
    }
    let l = match parse_i64(args[2]) {
        Some(i64::MIN) => return ctx.out.err(RANGE_ERR),
        Some(l) => l,
        None => return ctx.out.not_integer(),
    };
    let mut shard = ctx.db().lock(args[1]);
    let Some(s) = find_read(ctx, &mut shard, args[1]) else {
        return;
    };
    let Some(s) = s else {
        return ctx.out.array(0);
    };
    let count = l.unsigned_abs() as usize;
    let size = s.len();
    if count == 0 {
        return ctx.out.array(0);
    }
    if l < 0 || count == 1 {
        ctx.out.array(count);
        for _ in 0..count {
            reply_member(ctx.out, s.nth((random_u64() % size as u64) as usize));
        }
        return;
    }
    if count >= size {
        ctx.out.array(size);
        for m in s.iter() {
            reply_member(ctx.out, m);
        }
        return;
    }
    ctx.out.array(count);
    for i in distinct_indices(size, count) {
        reply_member(ctx.out, s.nth(i));
    }
}

fn smove(ctx: &mut Ctx, args: &[&[u8]]) {
    let (src, dst, m) = (args[1], args[2], args[3]);
    let db = ctx.db();
    let lru = ctx.lru();
    let mut locked = db.lock_keys([src, dst]);
    let (src_kind, dst_kind) = (kind_of(ctx, &mut locked, src), kind_of(ctx, &mut locked, dst));
    match src_kind {
        None => return ctx.out.int(0),
        Some(false) => return ctx.out.wrong_type(),
        Some(true) => {}
    }
    if dst_kind == Some(false) {
        return ctx.out.wrong_type();
    }
    if src == dst {
        let b = matches!(find(ctx, locked.shard(src), src), Found::Is(s) if s.contains(m));
        return ctx.out.int(b as i64);
    }
    let removed = match find(ctx, locked.shard(src), src) {
        Found::Is(s) => {
            let r = s.remove(m);
            (r, s.is_empty())
        }
        _ => (false, false),
    };
    if !removed.0 {
        return ctx.out.int(0);
    }
    let old = if removed.1 { locked.shard(src).remove(src) } else { None };
    notify(ctx, ev::SET, "srem", src);
    if old.is_some() {
        notify(ctx, ev::GENERIC, "del", src);
    }
    let shard = locked.shard(dst);
    if dst_kind.is_none() {
        shard.set(dst, Value::Set(Set::for_member(m)), false, lru);
    }
    let added = match find(ctx, shard, dst) {
        Found::Is(s) => s.add(m),
        _ => false,
    };
    if added {
        notify(ctx, ev::SET, "sadd", dst);
    } else {
        // Redis touches the destination only when the member was added to it.
        crate::server::multi::spare(2);
    }
    drop(locked);
    drop(old);
    ctx.dirty(1 + added as u64);
    ctx.out.int(1);
}

/// Whether `key` holds a set: None when missing.
fn kind_of(ctx: &Ctx, locked: &mut Locked, key: &[u8]) -> Option<bool> {
    match find(ctx, locked.shard(key), key) {
        Found::Missing => None,
        Found::WrongType => Some(false),
        Found::Is(_) => Some(true),
    }
}

// ---------------------------------------------------------------------------------------------
// Set algebra
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Inter,
    Union,
    Diff,
}

/// What to do with the result.
enum Output<'a> {
    Reply,
    Card(usize),
    Store(&'a [u8]),
}

/// The source sets of an algebra command, moved out of their keys while the command computes
/// (no copy; the shards stay locked, so nobody can see the hole) and put back afterwards.
struct Sources<'k> {
    /// Distinct keys and what they hold (None: missing).
    uniq: Vec<(&'k [u8], Option<Set>)>,
    /// For each key argument, its index in `uniq`.
    pos: Vec<usize>,
}

impl<'k> Sources<'k> {
    /// Takes every source set out of the keyspace; replies WRONGTYPE and returns None (with
    /// everything put back) when a key holds another type. Every key is checked, missing
    /// ones included, as Redis does.
    fn take(ctx: &mut Ctx, locked: &mut Locked, keys: &[&'k [u8]]) -> Option<Self> {
        let mut src = Sources {
            uniq: Vec::new(),
            pos: Vec::with_capacity(keys.len()),
        };
        let mut seen: std::collections::HashMap<&[u8], usize> = std::collections::HashMap::new();
        for k in keys {
            if let Some(&i) = seen.get(k) {
                src.pos.push(i);
                continue;
            }
            let f = find(ctx, locked.shard(k), k);
            ctx.count_read(!matches!(f, Found::Missing));
            let set = match f {
                Found::Missing => None,
                Found::WrongType => {
                    src.restore(ctx, locked);
                    ctx.out.wrong_type();
                    return None;
                }
                Found::Is(s) => Some(std::mem::replace(s, Set::new_intset())),
            };
            seen.insert(k, src.uniq.len());
            src.pos.push(src.uniq.len());
            src.uniq.push((k, set));
        }
        Some(src)
    }

    /// Puts the sets back into their keys.
    fn restore(self, ctx: &Ctx, locked: &mut Locked) {
        for (k, set) in self.uniq {
            if let (Some(set), Found::Is(slot)) = (set, find(ctx, locked.shard(k), k)) {
                *slot = set;
            }
        }
    }

    /// The set given at argument position `i` (None: missing key).
    fn get(&self, i: usize) -> Option<&Set> {
        self.uniq[self.pos[i]].1.as_ref()
    }
}

/// Computes an intersection, union or difference as Redis's `sinterGenericCommand` /
/// `sunionDiffGenericCommand` do: the result starts as an intset and grows member by member.
fn compute(src: &Sources, op: Op, limit: usize) -> (Set, usize) {
    let n = src.pos.len();
    let mut r = Set::new_intset();
    let mut card = 0;
    match op {
        Op::Inter => {
            if (0..n).any(|i| src.get(i).is_none()) {
                return (r, 0);
            }
            let mut sets: Vec<&Set> = (0..n).filter_map(|i| src.get(i)).collect();
            sets.sort_by_key(|s| s.len());
            for m in sets[0].iter() {
                if sets[1..].iter().all(|o| o.contains_member(m)) {
                    card += 1;
                    if limit == usize::MAX {
                        r.add(&m.bytes());
                    } else if limit > 0 && card >= limit {
                        break;
                    }
                }
            }
        }
        Op::Union => {
            for s in (0..n).filter_map(|i| src.get(i)) {
                for m in s.iter() {
                    card += r.add(&m.bytes()) as usize;
                }
            }
        }
        Op::Diff => {
            // A key given again later subtracts the first set from itself: empty.
            let same = src.pos[1..].contains(&src.pos[0]);
            if let (Some(first), false) = (src.get(0), same) {
                for m in first.iter() {
                    if !(1..n).filter_map(|i| src.get(i)).any(|o| o.contains_member(m)) {
                        card += r.add(&m.bytes()) as usize;
                    }
                }
            }
        }
    }
    (r, card)
}

fn algebra(ctx: &mut Ctx, keys: &[&[u8]], op: Op, output: Output) {
    let db = ctx.db();
    let lru = ctx.lru();
    let dst = match output {
        Output::Store(d) => Some(d),
        _ => None,
    };
    let mut locked = db.lock_keys(keys.iter().copied().chain(dst));
    let Some(src) = Sources::take(ctx, &mut locked, keys) else {
        return;
    };
    let limit = match output {
        Output::Card(l) => l,
        _ => usize::MAX,
    };
    let (result, card) = compute(&src, op, limit);
    src.restore(ctx, &mut locked);
    match output {
        Output::Card(_) => {
            drop(locked);
            ctx.out.int(card as i64);
        }
        Output::Reply => {
            drop(locked);
            ctx.out.set(result.len());
            for m in result.iter() {
                reply_member(ctx.out, m);
            }
        }
        Output::Store(d) => {
            let n = result.len();
            let shard = locked.shard(d);
            let old = shard.remove(d);
            if n > 0 {
                shard.set(d, Value::Set(result), false, lru);
            }
            if n > 0 || old.is_some() {
                ctx.dirty(1);
            }
            if n > 0 {
                let event = match op {
                    Op::Inter => "sinterstore",
                    Op::Union => "sunionstore",
                    Op::Diff => "sdiffstore",
                };
                notify(ctx, ev::SET, event, d);
            } else if old.is_some() {
                notify(ctx, ev::GENERIC, "del", d);
            }
            drop(locked);
            drop(old);
            ctx.out.int(n as i64);
        }
    }
}

fn sinter(ctx: &mut Ctx, args: &[&[u8]]) {
    algebra(ctx, &args[1..], Op::Inter, Output::Reply);
}

fn sunion(ctx: &mut Ctx, args: &[&[u8]]) {
    algebra(ctx, &args[1..], Op::Union, Output::Reply);
}

fn sdiff(ctx: &mut Ctx, args: &[&[u8]]) {
    algebra(ctx, &args[1..], Op::Diff, Output::Reply);
}

fn sinterstore(ctx: &mut Ctx, args: &[&[u8]]) {
    algebra(ctx, &args[2..], Op::Inter, Output::Store(args[1]));
}

fn sunionstore(ctx: &mut Ctx, args: &[&[u8]]) {
    algebra(ctx, &args[2..], Op::Union, Output::Store(args[1]));
}

fn sdiffstore(ctx: &mut Ctx, args: &[&[u8]]) {
    algebra(ctx, &args[2..], Op::Diff, Output::Store(args[1]));
}

/// SINTERCARD's keys: `numkeys` keys after it (none when numkeys is not a valid count).
fn sintercard_keys(args: &[&[u8]]) -> Vec<usize> {
    match args.get(1).and_then(|a| parse_i64(a)) {
        Some(n) if n > 0 && (n as usize) <= args.len().saturating_sub(2) => (2..2 + n as usize).collect(),
        _ => Vec::new(),
    }
}

fn sintercard(ctx: &mut Ctx, args: &[&[u8]]) {
    let numkeys = match parse_i64(args[1]) {
        Some(n) if n >= 1 => n as usize,
        _ => return ctx.out.err("numkeys should be greater than 0"),
    };
    if numkeys > args.len() - 2 {
        return ctx.out.err("Number of keys can't be greater than number of args");
    }
    let mut limit = 0usize;
    let mut j = 2 + numkeys;
    while j < args.len() {
        let more = args.len() - 1 - j;
        if args[j].eq_ignore_ascii_case(b"limit") && more > 0 {
            j += 1;
            match parse_i64(args[j]) {
                Some(n) if n >= 0 => limit = n as usize,
                _ => return ctx.out.err("LIMIT can't be negative"),
            }
        } else {
            return ctx.out.syntax_error();
        }
        j += 1;
    }
    algebra(ctx, &args[2..2 + numkeys], Op::Inter, Output::Card(limit));
}

fn sscan(ctx: &mut Ctx, args: &[&[u8]]) {
    let Some(cursor) = parse_cursor(args[2]) else {
        return ctx.out.err("invalid cursor");
    };
    let mut shard = ctx.db().lock(args[1]);
    let s = match find(ctx, &mut shard, args[1]) {
        Found::Missing => return reply_scan(ctx.out, 0, &[]),
        Found::WrongType => return ctx.out.wrong_type(),
        Found::Is(s) => s,
    };
    let Some((count, pattern)) = parse_scan_opts(ctx.out, &args[3..]) else {
        return;
    };
    let mut items = Vec::new();
    let mut c = cursor;
    let mut budget = count.saturating_mul(10);
    loop {
        c = s.scan(c, |m| {
            if pattern.is_none_or(|p| glob_match(p, m, false)) {
                items.push(m.to_vec());
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
