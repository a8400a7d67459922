//! String commands (`t_string.c`): GET SET and their variants, counters, ranges and LCS.
//!
//! Replies, error texts and the order in which errors are detected follow Redis 7.0 exactly,
//! because clients and Redis's own test suite compare them. Encodings matter too (OBJECT
//! ENCODING is observable): values set whole go through [`Value::string`] (int / embstr / raw),
//! values modified in place (APPEND, SETRANGE, SETBIT…) become `raw`, INCR stores `int` and
//! INCRBYFLOAT stores the formatted number as a plain string, as Redis does.
//!
//! GET, SET, INCR and MSET are the benchmarked hot path: a plain SET writes with one chain walk
//! ([`Shard::upsert`]), GET writes the reply straight from the entry under the shard lock, and an
//! int-encoded value is formatted on the stack, never allocated.

use super::{def, CommandDef, Ctx};
use crate::keyspace::{value::Entry, KeyspaceStats, Kind, Shard, Value};
use crate::protocol::reply::Reply;
use crate::server::notify::{self as n, notify};
use crate::util::num::{self, parse_i64, FloatIncr};

#[rustfmt::skip]
pub static COMMANDS: &[CommandDef] = &[
    def("get", 2, "readonly fast", (1, 1, 1), "@string", "string", "1.0.0", "Get the value of a key", get),
    def("set", -3, "write denyoom", (1, 1, 1), "@string", "string", "1.0.0", "Set the string value of a key", set),
    def("setnx", 3, "write denyoom fast", (1, 1, 1), "@string", "string", "1.0.0", "Set the value of a key, only if the key does not exist", setnx),
    def("setex", 4, "write denyoom", (1, 1, 1), "@string", "string", "2.0.0", "Set the value and expiration of a key", setex),
    def("psetex", 4, "write denyoom", (1, 1, 1), "@string", "string", "2.6.0", "Set the value and expiration in milliseconds of a key", psetex),
    def("mget", -2, "readonly fast", (1, -1, 1), "@string", "string", "1.0.0", "Get the values of all the given keys", mget),
    def("mset", -3, "write denyoom", (1, -1, 2), "@string", "string", "1.0.1", "Set multiple keys to multiple values", mset),
    def("msetnx", -3, "write denyoom", (1, -1, 2), "@string", "string", "1.0.1", "Set multiple keys to multiple values, only if none of the keys exist", msetnx),
    def("getset", 3, "write denyoom fast", (1, 1, 1), "@string", "string", "1.0.0", "Set the string value of a key and return its old value", getset),
    def("getdel", 2, "write fast", (1, 1, 1), "@string", "string", "6.2.0", "Get the value of a key and delete the key", getdel),
    def("getex", -2, "write fast", (1, 1, 1), "@string", "string", "6.2.0", "Get the value of a key and optionally set its expiration", getex),
    def("append", 3, "write denyoom fast", (1, 1, 1), "@string", "string", "2.0.0", "Append a value to a key", append),
    def("strlen", 2, "readonly fast", (1, 1, 1), "@string", "string", "2.2.0", "Get the length of the value stored in a key", strlen),
    def("getrange", 4, "readonly", (1, 1, 1), "@string", "string", "2.4.0", "Get a substring of the string stored at a key", getrange),
    def("substr", 4, "readonly", (1, 1, 1), "@string", "string", "1.0.0", "Get a substring of the string stored at a key", getrange),
    def("setrange", 4, "write denyoom", (1, 1, 1), "@string", "string", "2.2.0", "Overwrite part of a string at key starting at the specified offset", setrange),
    def("incr", 2, "write denyoom fast", (1, 1, 1), "@string", "string", "1.0.0", "Increment the integer value of a key by one", incr),
    def("decr", 2, "write denyoom fast", (1, 1, 1), "@string", "string", "1.0.0", "Decrement the integer value of a key by one", decr),
    def("incrby", 3, "write denyoom fast", (1, 1, 1), "@string", "string", "1.0.0", "Increment the integer value of a key by the given amount", incrby),
    def("decrby", 3, "write denyoom fast", (1, 1, 1), "@string", "string", "1.0.0", "Decrement the integer value of a key by the given number", decrby),
    def("incrbyfloat", 3, "write denyoom fast", (1, 1, 1), "@string", "string", "2.6.0", "Increment the float value of a key by the given amount", incrbyfloat),
    def("lcs", -3, "readonly", (1, 2, 1), "@string", "string", "7.0.0", "Find longest common substring", lcs),
];

// ---------------------------------------------------------------------------------------------
// Helpers shared with the bitmap commands (`bitmaps.rs`), which work on the same strings.
// ---------------------------------------------------------------------------------------------

pub(crate) use crate::util::num::fmt_i64;

/// The bytes of a string value (an int is formatted into `buf`); `None` when the value is of
/// another type.
#[inline]
pub(crate) fn str_bytes<'a>(v: &'a Value, buf: &'a mut [u8; 20]) -> Option<&'a [u8]> {
    match v {
        Value::Int(n) => Some(fmt_i64(*n, buf)),
        Value::Small(s) => Some(s.as_bytes()),
        Value::Str(b) => Some(b),
        Value::Raw(r) => Some(r),
        // Collection types join `Value` later; they are never strings.
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

/// Replies with a string value as a bulk string, or WRONGTYPE. Returns false on WRONGTYPE.
#[inline]
fn reply_str(out: &mut Reply, v: &Value) -> bool {
    let mut buf = [0u8; 20];
    match str_bytes(v, &mut buf) {
        Some(b) => {
            out.bulk(b);
            true
        }
        None => {
            out.wrong_type();
            false
        }
    }
}

/// Looks a key up (lazily expiring it) and refreshes its access clock, as Redis's `lookupKey`
/// does for reads and writes alike.
#[inline]
pub(crate) fn lookup<'s>(
    shard: &'s mut Shard,
    key: &[u8],
    now_ms: i64,
    stats: &KeyspaceStats,
    lru: u32,
) -> Option<&'s mut Entry> {
    let e = shard.get_mut(key, now_ms, stats)?;
    crate::keyspace::evict::touch(e, lru);
    Some(e)
}

/// Redis's `checkStringLength`: a string may not grow beyond `proto-max-bulk-len`. Replies with
/// the error and returns false when `size + append` is too long (or overflows).
pub(crate) fn check_string_length(ctx: &mut Ctx, size: i64, append: i64) -> bool {
    let max = ctx
        .srv
        .config
        .hot
        .proto_max_bulk_len
        .load(std::sync::atomic::Ordering::Relaxed);
    match size.checked_add(append) {
        Some(total) if total <= max => true,
        _ => {
            ctx.out.err("string exceeds maximum allowed size (proto-max-bulk-len)");
            false
        }
    }
}

// ---------------------------------------------------------------------------------------------
// SET and its options (shared with GETEX, which takes the expire options).
// ---------------------------------------------------------------------------------------------

const NX: u16 = 1 << 0;
const XX: u16 = 1 << 1;
const EX: u16 = 1 << 2;
const PX: u16 = 1 << 3;
const KEEPTTL: u16 = 1 << 4;
const GET: u16 = 1 << 5;
const EXAT: u16 = 1 << 6;
const PXAT: u16 = 1 << 7;
const PERSIST: u16 = 1 << 8;
const ANY_EXPIRE: u16 = EX | PX | EXAT | PXAT;

/// Parsed SET / GETEX options: the flags and the expire argument, if any.
struct StrOpts<'a> {
    flags: u16,
    expire: Option<&'a [u8]>,
}

/// Parses the options after SET's value (`for_set`) or GETEX's key, with Redis's rules: each
/// option is refused (syntax error) when it conflicts with one already given (NX with XX, two
/// different expire forms, KEEPTTL or PERSIST with an expire), but repeating the same one is
/// fine and the last value wins.
fn parse_str_opts<'a>(args: &[&'a [u8]], for_set: bool) -> Option<StrOpts<'a>> {
    let mut o = StrOpts { flags: 0, expire: None };
    let mut j = if for_set { 3 } else { 2 };
    while j < args.len() {
        let opt = args[j];
        let next = args.get(j + 1).copied();
        let f = o.flags;
        let is = |s: &str| opt.eq_ignore_ascii_case(s.as_bytes());
        // The expire option this argument is, with the options it conflicts with.
        let expire_form = if is("ex") {
            Some((EX, EXAT | PX | PXAT))
        } else if is("px") {
            Some((PX, EX | EXAT | PXAT))
        } else if is("exat") {
            Some((EXAT, EX | PX | PXAT))
        } else if is("pxat") {
            Some((PXAT, EX | EXAT | PX))
        } else {
            None
        };
        if let Some((flag, conflicts)) = expire_form {
            match next {
                Some(v) if f & (conflicts | KEEPTTL | PERSIST) == 0 => {
                    o.flags |= flag;
                    o.expire = Some(v);
                    j += 2;
                    continue;
                }
                _ => return None,
            }
        }
        if for_set && is("nx") && f & XX == 0 {
            o.flags |= NX;
        } else if for_set && is("xx") && f & NX == 0 {
            o.flags |= XX;
        } else if for_set && is("get") {
            o.flags |= GET;
        } else if for_set && is("keepttl") && f & (ANY_EXPIRE | PERSIST) == 0 {
            o.flags |= KEEPTTL;
        } else if !for_set && is("persist") && f & (ANY_EXPIRE | KEEPTTL) == 0 {
            o.flags |= PERSIST;
        } else {
            return None;
        }
        j += 1;
    }
    Some(o)
}

/// Redis's `getExpireMillisecondsOrReply`: turns an expire argument into an absolute Unix time
/// in ms. `flags` says which form it is (EX and PX are relative; EX and EXAT are seconds).
fn expire_at(out: &mut Reply, cmd: &str, arg: &[u8], flags: u16, now_ms: i64) -> Option<i64> {
    let Some(mut ms) = parse_i64(arg) else {
        out.not_integer();
        return None;
    };
    let seconds = flags & (EX | EXAT) != 0;
    let invalid = |out: &mut Reply| out.error(&format!("ERR invalid expire time in '{cmd}' command"));
    if ms <= 0 || (seconds && ms > i64::MAX / 1000) {
        invalid(out);
        return None;
    }
    if seconds {
        ms *= 1000;
    }
    if flags & (EX | PX) != 0 {
        // Redis adds in C and checks the sign afterwards, so an overflow is an invalid time.
        ms = ms.wrapping_add(now_ms);
    }
    if ms <= 0 {
        invalid(out);
        return None;
    }
    Some(ms)
}

/// What SET-like commands reply when they set (`ok`) or do not set (`abort`) the key.
#[derive(Clone, Copy)]
enum SetReplies {
    /// SET: `+OK` / null.
    OkNull,
    /// SETNX: `:1` / `:0`.
    OneZero,
}

/// `setGenericCommand`: SET, SETNX, SETEX, PSETEX. `expire` is the expire argument (its form is
/// in `flags`), already checked for syntax.
fn set_generic(
    ctx: &mut Ctx,
    cmd: &str,
    flags: u16,
    key: &[u8],
    val: &[u8],
    expire: Option<&[u8]>,
    replies: SetReplies,
) {
    let now = ctx.now_ms;
    let when = match expire {
        Some(arg) => match expire_at(ctx.out, cmd, arg, flags, now) {
            Some(ms) => ms,
            None => return,
        },
        None => 0,
    };
    // Everything that allocates or reads the clock happens before the shard is locked.
    let value = Value::string(val);
    let new_ttl = if flags & KEEPTTL != 0 { None } else { Some(when) };
    let lru = ctx.lru();
    let stats = ctx.ks_stats();
    let db = ctx.db();
    let mut shard = db.lock(key);
    if flags & (NX | XX | GET) != 0 {
        let found = match lookup(&mut shard, key, now, stats, lru) {
            Some(e) => {
                if flags & GET != 0 && !reply_str(ctx.out, &e.value) {
                    return;
                }
                true
            }
            None => {
                if flags & GET != 0 {
                    ctx.out.null();
                }
                false
            }
        };
        if (flags & NX != 0 && found) || (flags & XX != 0 && !found) {
            if flags & GET == 0 {
                match replies {
                    SetReplies::OkNull => ctx.out.null(),
                    SetReplies::OneZero => ctx.out.int(0),
                }
            }
            return;
        }
    }
    shard.upsert(key, value, new_ttl, lru, now, stats);
    notify(ctx, n::STRING, "set", key);
    if expire.is_some() {
        notify(ctx, n::GENERIC, "expire", key);
    }
    drop(shard);
    ctx.dirty(1);
    if flags & GET == 0 {
        match replies {
            SetReplies::OkNull => ctx.out.ok(),
            SetReplies::OneZero => ctx.out.int(1),
        }
    }
}

fn set(ctx: &mut Ctx, args: &[&[u8]]) {
    let Some(o) = parse_str_opts(args, true) else {
        ctx.out.syntax_error();
        return;
    };
    set_generic(ctx, "set", o.flags, args[1], args[2], o.expire, SetReplies::OkNull);
}

fn setnx(ctx: &mut Ctx, args: &[&[u8]]) {
    set_generic(ctx, "setnx", NX, args[1], args[2], None, SetReplies::OneZero);
}

fn setex(ctx: &mut Ctx, args: &[&[u8]]) {
    set_generic(ctx, "setex", EX, args[1], args[3], Some(args[2]), SetReplies::OkNull);
}

fn psetex(ctx: &mut Ctx, args: &[&[u8]]) {
    set_generic(ctx, "psetex", PX, args[1], args[3], Some(args[2]), SetReplies::OkNull);
}

// ---------------------------------------------------------------------------------------------
// Reads and read-modify-writes of whole values.
// ---------------------------------------------------------------------------------------------

fn get(ctx: &mut Ctx, args: &[&[u8]]) {
    let (now, stats, lru) = (ctx.now_ms, ctx.ks_stats(), ctx.lru());
    let mut shard = ctx.db().lock(args[1]);
    let found = lookup(&mut shard, args[1], now, stats, lru);
    ctx.count_read(found.is_some());
    match found {
        None => ctx.out.null(),
        Some(e) => {
            reply_str(ctx.out, &e.value);
        }
    }
}

fn getset(ctx: &mut Ctx, args: &[&[u8]]) {
    set_generic(ctx, "getset", GET, args[1], args[2], None, SetReplies::OkNull);
}

fn getdel(ctx: &mut Ctx, args: &[&[u8]]) {
    let (now, stats, lru) = (ctx.now_ms, ctx.ks_stats(), ctx.lru());
    let mut shard = ctx.db().lock(args[1]);
    match lookup(&mut shard, args[1], now, stats, lru) {
        None => ctx.out.null(),
        Some(e) => {
            if !reply_str(ctx.out, &e.value) {
                return;
            }
            let old = shard.remove(args[1]);
            notify(ctx, n::GENERIC, "del", args[1]);
            drop(shard);
            // A big value is freed after the shard is unlocked.
            drop(old);
            ctx.dirty(1);
        }
    }
}

fn getex(ctx: &mut Ctx, args: &[&[u8]]) {
    let Some(o) = parse_str_opts(args, false) else {
        ctx.out.syntax_error();
        return;
    };
    let key = args[1];
    let (now, stats, lru) = (ctx.now_ms, ctx.ks_stats(), ctx.lru());
    let mut shard = ctx.db().lock(key);
    let Some(e) = lookup(&mut shard, key, now, stats, lru) else {
        ctx.out.null();
        return;
    };
    if e.value.kind() != Kind::String {
        ctx.out.wrong_type();
        return;
    }
    // Redis checks the expire time only once it knows the key holds a string.
    let when = match o.expire {
        Some(arg) => match expire_at(ctx.out, "getex", arg, o.flags, now) {
            Some(ms) => Some(ms),
            None => return,
        },
        None => None,
    };
    reply_str(ctx.out, &e.value);
    let had_ttl = e.expire != 0;
    match when {
        // An absolute time already past deletes the key at once.
        Some(ms) if o.flags & (EXAT | PXAT) != 0 && ms <= now => {
            let old = shard.remove(key);
            notify(ctx, n::GENERIC, "del", key);
            drop(shard);
            drop(old);
            ctx.dirty(1);
        }
        Some(ms) => {
            shard.set_expire(key, ms);
            notify(ctx, n::GENERIC, "expire", key);
            ctx.dirty(1);
        }
        None if o.flags & PERSIST != 0 && had_ttl => {
            shard.set_expire(key, 0);
            notify(ctx, n::GENERIC, "persist", key);
            ctx.dirty(1);
        }
        None => {}
    }
}

fn mget(ctx: &mut Ctx, args: &[&[u8]]) {
    let (now, stats, lru) = (ctx.now_ms, ctx.ks_stats(), ctx.lru());
    let keys = &args[1..];
    let mut locked = ctx.db().lock_keys(keys.iter().copied());
    ctx.out.array(keys.len());
    let mut buf = [0u8; 20];
    for key in keys {
        let shard = locked.shard(key);
        let found = lookup(shard, key, now, stats, lru);
        ctx.count_read(found.is_some());
        match found.and_then(|e| str_bytes(&e.value, &mut buf)) {
            Some(b) => ctx.out.bulk(b),
            // A missing key and a key of another type both read as null.
            None => ctx.out.null(),
        }
    }
}

fn mset_generic(ctx: &mut Ctx, args: &[&[u8]], nx: bool) {
    if args.len().is_multiple_of(2) {
        let name = if nx { "msetnx" } else { "mset" };
        ctx.out
            .error(&format!("ERR wrong number of arguments for '{name}' command"));
        return;
    }
    let (now, stats, lru) = (ctx.now_ms, ctx.ks_stats(), ctx.lru());
    let pairs = || args[1..].chunks_exact(2);
    // Values are built before locking, so the locks are held only for the writes.
    let values: Vec<Value> = pairs().map(|p| Value::string(p[1])).collect();
    let mut locked = ctx.db().lock_keys(pairs().map(|p| p[0]));
    if nx && pairs().any(|p| locked.shard(p[0]).get_mut(p[0], now, stats).is_some()) {
        drop(locked);
        ctx.out.int(0);
        return;
    }
    for (p, v) in pairs().zip(values) {
        locked.shard(p[0]).upsert(p[0], v, Some(0), lru, now, stats);
        notify(ctx, n::STRING, "set", p[0]);
    }
    drop(locked);
    ctx.dirty((args.len() / 2) as u64);
    if nx {
        ctx.out.int(1);
    } else {
        ctx.out.ok();
    }
}

fn mset(ctx: &mut Ctx, args: &[&[u8]]) {
    mset_generic(ctx, args, false);
}

fn msetnx(ctx: &mut Ctx, args: &[&[u8]]) {
    mset_generic(ctx, args, true);
}

fn strlen(ctx: &mut Ctx, args: &[&[u8]]) {
    let (now, stats, lru) = (ctx.now_ms, ctx.ks_stats(), ctx.lru());
    let mut shard = ctx.db().lock(args[1]);
    let mut buf = [0u8; 20];
    let found = lookup(&mut shard, args[1], now, stats, lru);
    ctx.count_read(found.is_some());
    match found {
        None => ctx.out.int(0),
        Some(e) => match str_bytes(&e.value, &mut buf) {
            Some(b) => ctx.out.int(b.len() as i64),
            None => ctx.out.wrong_type(),
        },
    }
}

fn append(ctx: &mut Ctx, args: &[&[u8]]) {
    let (key, tail) = (args[1], args[2]);
    let (now, stats, lru) = (ctx.now_ms, ctx.ks_stats(), ctx.lru());
    let db = ctx.db();
    let mut shard = db.lock(key);
    let total = match lookup(&mut shard, key, now, stats, lru) {
        None => {
            // A new key takes the argument as SET would (it may be int-encoded).
            shard.upsert(key, Value::string(tail), Some(0), lru, now, stats);
            tail.len()
        }
        Some(e) => {
            let Some(len) = e.value.str_len() else {
                ctx.out.wrong_type();
                return;
            };
            if !check_string_length(ctx, len as i64, tail.len() as i64) {
                return;
            }
            match e.value.make_raw() {
                Some(v) => {
                    v.extend_from_slice(tail);
                    v.len()
                }
                None => {
                    ctx.out.wrong_type();
                    return;
                }
            }
        }
    };
    notify(ctx, n::STRING, "append", key);
    drop(shard);
    ctx.dirty(1);
    ctx.out.int(total as i64);
}

/// GETRANGE and SUBSTR: the bytes from `start` to `end` inclusive, negative indexes counting
/// from the end, clamped to the string.
fn getrange(ctx: &mut Ctx, args: &[&[u8]]) {
    let Some(start) = super::arg_i64(ctx.out, args[2]) else {
        return;
    };
    let Some(end) = super::arg_i64(ctx.out, args[3]) else {
        return;
    };
    let (now, stats, lru) = (ctx.now_ms, ctx.ks_stats(), ctx.lru());
    let mut shard = ctx.db().lock(args[1]);
    let Some(e) = lookup(&mut shard, args[1], now, stats, lru) else {
        ctx.out.bulk(b"");
        return;
    };
    let mut buf = [0u8; 20];
    let Some(s) = str_bytes(&e.value, &mut buf) else {
        ctx.out.wrong_type();
        return;
    };
    match clamp_range(start, end, s.len() as i64) {
        Some((from, to)) => ctx.out.bulk(&s[from as usize..=to as usize]),
        None => ctx.out.bulk(b""),
    }
}

/// Redis's range rules for GETRANGE (and BITCOUNT/BITPOS on bytes): converts negative indexes,
/// clamps to `[0, len)` and returns the inclusive range, or `None` when it is empty.
pub(crate) fn clamp_range(mut start: i64, mut end: i64, len: i64) -> Option<(i64, i64)> {
    if start < 0 && end < 0 && start > end {
        return None;
    }
    if start < 0 {
        start = start.saturating_add(len);
    }
    if end < 0 {
        end = end.saturating_add(len);
    }
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    (start <= end && len > 0).then_some((start, end))
}

fn setrange(ctx: &mut Ctx, args: &[&[u8]]) {
    let (key, patch) = (args[1], args[3]);
    let Some(offset) = super::arg_i64(ctx.out, args[2]) else {
        return;
    };
    if offset < 0 {
        ctx.out.err("offset is out of range");
        return;
    }
    let (now, stats, lru) = (ctx.now_ms, ctx.ks_stats(), ctx.lru());
    let db = ctx.db();
    let mut shard = db.lock(key);
    let len = match lookup(&mut shard, key, now, stats, lru) {
        None => {
            // Setting nothing on a missing key creates nothing.
            if patch.is_empty() {
                ctx.out.int(0);
                return;
            }
            if !check_string_length(ctx, offset, patch.len() as i64) {
                return;
            }
            let mut v = vec![0u8; offset as usize + patch.len()];
            v[offset as usize..].copy_from_slice(patch);
            let len = v.len();
            shard.upsert(key, Value::raw(v), Some(0), lru, now, stats);
            len
        }
        Some(e) => {
            let Some(old_len) = e.value.str_len() else {
                ctx.out.wrong_type();
                return;
            };
            // Setting nothing leaves the value (and its encoding) alone.
            if patch.is_empty() {
                ctx.out.int(old_len as i64);
                return;
            }
            if !check_string_length(ctx, offset, patch.len() as i64) {
                return;
            }
            let Some(v) = e.value.make_raw() else {
                ctx.out.wrong_type();
                return;
            };
            let end = offset as usize + patch.len();
            if v.len() < end {
                v.resize(end, 0);
            }
            v[offset as usize..end].copy_from_slice(patch);
            v.len()
        }
    };
    notify(ctx, n::STRING, "setrange", key);
    drop(shard);
    ctx.dirty(1);
    ctx.out.int(len as i64);
}

// ---------------------------------------------------------------------------------------------
// Counters.
// ---------------------------------------------------------------------------------------------

/// `incrDecrCommand`: adds `by` to the integer at `key` (0 when missing), keeping its TTL.
fn incr_decr(ctx: &mut Ctx, key: &[u8], by: i64) {
    let (now, stats, lru) = (ctx.now_ms, ctx.ks_stats(), ctx.lru());
    let db = ctx.db();
    let mut shard = db.lock(key);
    let value = match lookup(&mut shard, key, now, stats, lru) {
        Some(e) => {
            let cur = match &e.value {
                Value::Int(n) => *n,
                v => {
                    let mut buf = [0u8; 20];
                    let Some(s) = str_bytes(v, &mut buf) else {
                        ctx.out.wrong_type();
                        return;
                    };
                    match parse_i64(s) {
                        Some(n) => n,
                        None => {
                            ctx.out.not_integer();
                            return;
                        }
                    }
                }
            };
            let Some(new) = cur.checked_add(by) else {
                ctx.out.err("increment or decrement would overflow");
                return;
            };
            e.value = Value::Int(new);
            new
        }
        None => {
            shard.upsert(key, Value::Int(by), Some(0), lru, now, stats);
            by
        }
    };
    notify(ctx, n::STRING, "incrby", key);
    drop(shard);
    ctx.dirty(1);
    ctx.out.int(value);
}

fn incr(ctx: &mut Ctx, args: &[&[u8]]) {
    incr_decr(ctx, args[1], 1);
}

fn decr(ctx: &mut Ctx, args: &[&[u8]]) {
    incr_decr(ctx, args[1], -1);
}

fn incrby(ctx: &mut Ctx, args: &[&[u8]]) {
    if let Some(by) = super::arg_i64(ctx.out, args[2]) {
        incr_decr(ctx, args[1], by);
    }
}

fn decrby(ctx: &mut Ctx, args: &[&[u8]]) {
    let Some(by) = super::arg_i64(ctx.out, args[2]) else {
        return;
    };
    // Negating i64::MIN overflows.
    match by.checked_neg() {
        Some(neg) => incr_decr(ctx, args[1], neg),
        None => ctx.out.err("decrement would overflow"),
    }
}

fn incrbyfloat(ctx: &mut Ctx, args: &[&[u8]]) {
    let key = args[1];
    let (now, stats, lru) = (ctx.now_ms, ctx.ks_stats(), ctx.lru());
    let db = ctx.db();
    let mut shard = db.lock(key);
    let result = match lookup(&mut shard, key, now, stats, lru) {
        Some(e) => {
            let mut buf = [0u8; 20];
            let Some(cur) = str_bytes(&e.value, &mut buf) else {
                ctx.out.wrong_type();
                return;
            };
            num::incr_by_float(Some(cur), args[2])
        }
        None => num::incr_by_float(None, args[2]),
    };
    let text = match result {
        FloatIncr::Ok(text) => text,
        FloatIncr::CurrentNotFloat | FloatIncr::IncrNotFloat => {
            ctx.out.not_float();
            return;
        }
        FloatIncr::NanOrInf => {
            ctx.out.err("increment would produce NaN or Infinity");
            return;
        }
    };
    ctx.out.bulk(&text);
    // Redis stores the formatted number as a plain string (embstr/raw), never as an int, and
    // keeps the key's TTL.
    shard.upsert(key, Value::plain(&text), None, lru, now, stats);
    notify(ctx, n::STRING, "incrbyfloat", key);
    drop(shard);
    ctx.dirty(1);
}

// ---------------------------------------------------------------------------------------------
// LCS.
// ---------------------------------------------------------------------------------------------

/// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]
fn lcs(ctx: &mut Ctx, args: &[&[u8]]) {
    let (now, stats, lru) = (ctx.now_ms, ctx.ks_stats(), ctx.lru());
    // Copy both strings out so that the O(N*M) work runs without holding any shard lock.
    let mut strings: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
    {
        let mut locked = ctx.db().lock_keys([args[1], args[2]]);
        for (i, key) in [args[1], args[2]].into_iter().enumerate() {
            if let Some(e) = lookup(locked.shard(key), key, now, stats, lru) {
                let mut buf = [0u8; 20];
                match str_bytes(&e.value, &mut buf) {
                    Some(b) => strings[i] = b.to_vec(),
                    None => {
                        ctx.out.err("The specified keys must contain string values");
                        return;
                    }
                }
            }
        }
    }
    let (mut getlen, mut getidx, mut withmatchlen, mut minmatchlen) = (false, false, false, 0i64);
    let mut j = 3;
    while j < args.len() {
        let opt = args[j];
        let is = |s: &str| opt.eq_ignore_ascii_case(s.as_bytes());
        if is("idx") {
            getidx = true;
        } else if is("len") {
            getlen = true;
        } else if is("withmatchlen") {
            withmatchlen = true;
        } else if is("minmatchlen") && j + 1 < args.len() {
            let Some(n) = super::arg_i64(ctx.out, args[j + 1]) else {
                return;
            };
            minmatchlen = n.max(0);
            j += 1;
        } else {
            ctx.out.syntax_error();
            return;
        }
        j += 1;
    }
    if getlen && getidx {
        ctx.out
            .err("If you want both the length and indexes, please just use IDX.");
        return;
    }
    let [a, b] = &strings;
    if a.len() >= u32::MAX as usize - 1 || b.len() >= u32::MAX as usize - 1 {
        ctx.out.err("String too long for LCS");
        return;
    }
    let (alen, blen) = (a.len(), b.len());
    let cells = (alen + 1) as u64 * (blen + 1) as u64;
    let bytes = cells.saturating_mul(4);
    let max = ctx
        .srv
        .config
        .hot
        .proto_max_bulk_len
        .load(std::sync::atomic::Ordering::Relaxed);
    if bytes > max.max(0) as u64 {
        ctx.out
            .err("Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len");
        return;
    }
    let mut table: Vec<u32> = Vec::new();
    if table.try_reserve_exact(cells as usize).is_err() {
        ctx.out
            .err("Insufficient memory, failed allocating transient memory for LCS");
        return;
    }
    table.resize(cells as usize, 0);
    let w = blen + 1;
    // table[i*w + j] = length of the LCS of a[..i] and b[..j].
    for i in 1..=alen {
        for j in 1..=blen {
            table[i * w + j] = if a[i - 1] == b[j - 1] {
                table[(i - 1) * w + j - 1] + 1
            } else {
                table[(i - 1) * w + j].max(table[i * w + j - 1])
            };
        }
    }
    let total = table[alen * w + blen];
    let out = &mut *ctx.out;
    if getlen {
        out.int(total as i64);
        return;
    }

    // Walk back from the end, collecting the LCS (backwards) and, for IDX, the matching ranges
    // from the last to the first, exactly as Redis emits them.
    let mut result = vec![0u8; total as usize];
    let mut idx = total as usize;
    let mut deferred = None;
    if getidx {
        out.map(2);
        out.bulk(b"matches");
        deferred = Some(out.deferred_len());
    }
    let mut ranges = 0usize;
    // `arange_start == alen` means no range is open.
    let (mut arange_start, mut arange_end, mut brange_start, mut brange_end) = (alen, 0, 0, 0);
    let (mut i, mut j) = (alen, blen);
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            result[idx - 1] = a[i - 1];
            if arange_start == alen {
                arange_start = i - 1;
                arange_end = i - 1;
                brange_start = j - 1;
                brange_end = j - 1;
            } else if arange_start == i && brange_start == j {
                // Contiguous with the open range: extend it backwards.
                arange_start -= 1;
                brange_start -= 1;
            } else {
                emit = true;
            }
            if arange_start == 0 || brange_start == 0 {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            j -= 1;
        } else {
            if table[(i - 1) * w + j] > table[i * w + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            if arange_start != alen {
                emit = true;
            }
        }
        if emit {
            let match_len = (arange_end + 1).wrapping_sub(arange_start);
            if deferred.is_some() && (minmatchlen == 0 || match_len as i64 >= minmatchlen) {
                out.array(2 + withmatchlen as usize);
                out.array(2);
                out.int(arange_start as i64);
                out.int(arange_end as i64);
                out.array(2);
                out.int(brange_start as i64);
                out.int(brange_end as i64);
                if withmatchlen {
                    out.int(match_len as i64);
                }
                ranges += 1;
            }
            arange_start = alen;
        }
    }
    match deferred {
        Some(d) => {
            out.bulk(b"len");
            out.int(total as i64);
            out.set_deferred_len(d, ranges);
        }
        None => out.bulk(&result),
    }
}
