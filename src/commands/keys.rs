//! Generic key commands (`db.c`, `object.c`): DEL EXISTS TYPE RENAME COPY MOVE SWAPDB KEYS SCAN
//! RANDOMKEY TOUCH OBJECT.
//!
//! Locking: a command on keys of one database locks their shards with `Db::lock_keys` (or
//! `Db::lock` for one key); MOVE and COPY ... DB lock shards of two databases through
//! `Keyspace::lock_multi`, which orders them by (database, shard); SWAPDB, KEYS and RANDOMKEY
//! lock whole databases or one shard at a time. Expired keys are treated as absent everywhere
//! (lazy expiry happens inside `Shard::get`).

use super::{container, def, lower, CommandDef, Ctx};
use crate::keyspace::value::Entry;
use crate::keyspace::{scan_cursor_join, scan_cursor_split, Kind, Shard, Value};
use crate::server::notify::{self as ev, notify};
use crate::util::glob::glob_match;
use crate::util::num;
use std::cell::Cell;
use std::sync::atomic::Ordering::Relaxed;

#[rustfmt::skip]
pub static COMMANDS: &[CommandDef] = &[
    def("del", -2, "write", (1, -1, 1), "@keyspace", "generic", "1.0.0", "Delete a key", del),
    def("delete", -2, "write", (1, -1, 1), "@keyspace", "generic", "1.0.0", "Delete a key (alias of DEL)", del),
    def("unlink", -2, "write fast", (1, -1, 1), "@keyspace", "generic", "4.0.0", "Delete a key asynchronously in another thread. Otherwise it is just as DEL, but non blocking.", unlink),
    def("exists", -2, "readonly fast", (1, -1, 1), "@keyspace", "generic", "1.0.0", "Determine if a key exists", exists),
    def("type", 2, "readonly fast", (1, 1, 1), "@keyspace", "generic", "1.0.0", "Determine the type stored at key", type_cmd),
    def("rename", 3, "write", (1, 2, 1), "@keyspace", "generic", "1.0.0", "Rename a key", rename),
    def("renamenx", 3, "write fast", (1, 2, 1), "@keyspace", "generic", "1.0.0", "Rename a key, only if the new key does not exist", renamenx),
    def("copy", -3, "write denyoom", (1, 2, 1), "@keyspace", "generic", "6.2.0", "Copy a key", copy),
    def("move", 3, "write fast", (1, 1, 1), "@keyspace", "generic", "1.0.0", "Move a key to another database", move_cmd),
    def("swapdb", 3, "write fast", (0, 0, 0), "@keyspace @dangerous", "server", "4.0.0", "Swaps two Redis databases", swapdb),
    def("keys", 2, "readonly", (0, 0, 0), "@keyspace @dangerous", "generic", "1.0.0", "Find all keys matching the given pattern", keys),
    def("scan", -2, "readonly", (0, 0, 0), "@keyspace", "generic", "2.8.0", "Incrementally iterate the keys space", scan),
    def("randomkey", 1, "readonly", (0, 0, 0), "@keyspace", "generic", "1.0.0", "Return a random key from the keyspace", randomkey),
    def("touch", -2, "readonly fast", (1, -1, 1), "@keyspace", "generic", "3.2.1", "Alters the last access time of a key(s). Returns the number of existing keys specified.", touch),
    container("object", "generic", "2.2.3", "A container for object introspection commands", OBJECT_SUBCOMMANDS),
];

#[rustfmt::skip]
static OBJECT_SUBCOMMANDS: &[CommandDef] = &[
    def("encoding", 3, "readonly", (2, 2, 1), "@keyspace", "generic", "2.2.3", "Inspect the internal encoding of a Redis object", object_encoding),
    def("freq", 3, "readonly", (2, 2, 1), "@keyspace", "generic", "4.0.0", "Get the logarithmic access frequency counter of a Redis object", object_freq),
    def("idletime", 3, "readonly", (2, 2, 1), "@keyspace", "generic", "2.2.3", "Get the time since a Redis object was last accessed", object_idletime),
    def("refcount", 3, "readonly", (2, 2, 1), "@keyspace", "generic", "2.2.3", "Get the number of references to the value of the key", object_refcount),
    def("help", 2, "loading stale", (0, 0, 0), "@keyspace", "generic", "6.2.0", "Show helpful text about the different subcommands", object_help),
];

// ---------------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------------

/// A fast per-thread pseudo-random generator (xorshift64*), seeded from the OS. Good enough for
/// RANDOMKEY and sampling; never used for anything secret.
pub fn random_u64() -> u64 {
    thread_local! {
        static STATE: Cell<u64> = Cell::new(seed());
    }
    fn seed() -> u64 {
        let mut s = [0u8; 8];
        // SAFETY: getrandom writes at most 8 bytes into s.
        unsafe { libc::getrandom(s.as_mut_ptr() as *mut libc::c_void, 8, 0) };
        u64::from_le_bytes(s) | 1
    }
    STATE.with(|st| {
        let mut x = st.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        st.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    })
}

/// Parses a database index argument as `getIntFromObjectOrReply` does, then range-checks it.
/// Writes the error and returns None on failure; `not_int` overrides the integer error text.
fn db_index(ctx: &mut Ctx, arg: &[u8], not_int: Option<&str>) -> Option<usize> {
    let n = match num::parse_i64(arg).and_then(|n| i32::try_from(n).ok()) {
        Some(n) => n,
        None => {
            match not_int {
                Some(msg) => ctx.out.err(msg),
                None => ctx.out.not_integer(),
            }
            return None;
        }
    };
    if n < 0 || n as usize >= ctx.srv.keyspace.dbs.len() {
        ctx.out.err("DB index is out of range");
        return None;
    }
    Some(n as usize)
}

/// Whether the configured `maxmemory-policy` is an LFU one (then `Entry::lru` holds LFU data).
pub fn lfu_policy(_ctx: &Ctx) -> bool {
    crate::keyspace::evict::lfu_active()
}

/// The LFU clock: minutes, 16 bits (`LFUGetTimeInMinutes`).
pub fn lfu_minutes(now_ms: i64) -> u32 {
    crate::keyspace::evict::lfu_minutes(now_ms)
}

/// The LFU counter of an entry after its decay (`LFUDecrAndReturn`).
pub fn lfu_counter(ctx: &Ctx, e: &Entry) -> u64 {
    crate::keyspace::evict::lfu_counter(e, ctx.now_ms) as u64
}

/// Seconds since an entry was last accessed (LRU clock, wrapping).
pub fn idle_secs(ctx: &Ctx, e: &Entry) -> u64 {
    ctx.srv.lru_seconds_at(ctx.now_ms).wrapping_sub(e.lru) as u64
}

// ---------------------------------------------------------------------------------------------
// DEL UNLINK EXISTS TYPE TOUCH
// ---------------------------------------------------------------------------------------------

/// Removes `key` if present and not expired; an expired key is collected and not counted.
#[inline]
fn delete_live(shard: &mut Shard, key: &[u8], ctx: &Ctx, lazy: bool) -> bool {
    match shard.remove(key) {
        Some(e) if e.is_expired(ctx.now_ms) => {
            ctx.ks_stats().expired_keys.fetch_add(1, Relaxed);
            ctx.ks_stats().expired(ctx.client.db, key);
            false
        }
        Some(e) => {
            if lazy {
                crate::keyspace::lazyfree::free_value(e.value);
            }
            true
        }
        None => false,
    }
}

fn del(ctx: &mut Ctx, args: &[&[u8]]) {
    let lazy = ctx.srv.config.get_bool("lazyfree-lazy-user-del");
    delete_keys(ctx, args, lazy);
}

/// UNLINK: DEL that frees big values in the background.
fn unlink(ctx: &mut Ctx, args: &[&[u8]]) {
    delete_keys(ctx, args, true);
}

fn delete_keys(ctx: &mut Ctx, args: &[&[u8]], lazy: bool) {
    let db = ctx.db();
    let mut n = 0;
    if args.len() == 2 {
        let mut shard = db.lock(args[1]);
        if delete_live(&mut shard, args[1], ctx, lazy) {
            n = 1;
            notify(ctx, ev::GENERIC, "del", args[1]);
        }
    } else {
        let mut locked = db.lock_keys(args[1..].iter().copied());
        for (i, k) in args.iter().enumerate().skip(1) {
            if delete_live(locked.shard(k), k, ctx, lazy) {
                n += 1;
                notify(ctx, ev::GENERIC, "del", k);
            } else {
                crate::server::multi::spare(i);
            }
        }
    }
    if n > 0 {
        ctx.dirty(n as u64);
    }
    ctx.out.int(n);
}

fn exists(ctx: &mut Ctx, args: &[&[u8]]) {
    let db = ctx.db();
    let stats = ctx.ks_stats();
    let now = ctx.now_ms;
    let n = if args.len() == 2 {
        db.lock(args[1]).get(args[1], now, stats).is_some() as i64
    } else {
        let mut locked = db.lock_keys(args[1..].iter().copied());
        args[1..]
            .iter()
            .filter(|k| locked.shard(k).get(k, now, stats).is_some())
            .count() as i64
    };
    ctx.out.int(n);
}

fn type_cmd(ctx: &mut Ctx, args: &[&[u8]]) {
    let db = ctx.db();
    let mut shard = db.lock(args[1]);
    let kind = shard.get(args[1], ctx.now_ms, ctx.ks_stats()).map(|e| e.value.kind());
    drop(shard);
    ctx.out.simple(kind.map_or("none", Kind::name));
}

fn touch(ctx: &mut Ctx, args: &[&[u8]]) {
    let db = ctx.db();
    let (now, stats, lru) = (ctx.now_ms, ctx.ks_stats(), ctx.lru());
    let mut locked = db.lock_keys(args[1..].iter().copied());
    let mut n = 0;
    for k in &args[1..] {
        if let Some(e) = locked.shard(k).get_mut(k, now, stats) {
            e.lru = lru;
            n += 1;
        }
    }
    drop(locked);
    ctx.out.int(n);
}

// ---------------------------------------------------------------------------------------------
// RENAME RENAMENX COPY MOVE SWAPDB
// ---------------------------------------------------------------------------------------------

fn rename(ctx: &mut Ctx, args: &[&[u8]]) {
    rename_generic(ctx, args, false);
}

fn renamenx(ctx: &mut Ctx, args: &[&[u8]]) {
    rename_generic(ctx, args, true);
}

fn rename_generic(ctx: &mut Ctx, args: &[&[u8]], nx: bool) {
    let (src, dst) = (args[1], args[2]);
    let db = ctx.db();
    let (now, stats) = (ctx.now_ms, ctx.ks_stats());
    let mut locked = db.lock_keys([src, dst]);
    if locked.shard(src).get(src, now, stats).is_none() {
        drop(locked);
        ctx.out.err("no such key");
        return;
    }
    if src == dst {
        drop(locked);
        if nx {
            ctx.out.int(0);
        } else {
            ctx.out.ok();
        }
        return;
    }
    if nx && locked.shard(dst).get(dst, now, stats).is_some() {
        drop(locked);
        ctx.out.int(0);
        return;
    }
    let Some(entry) = locked.shard(src).remove(src) else {
        return ctx.out.err("no such key");
    };
    // The target's own TTL must not survive: put_entry replaces the whole entry.
    locked.shard(dst).put_entry(dst, entry);
    notify(ctx, ev::GENERIC, "rename_from", src);
    notify(ctx, ev::GENERIC, "rename_to", dst);
    drop(locked);
    crate::server::blocking::signal(ctx.srv, ctx.client.db, dst);
    ctx.dirty(1);
    if nx {
        ctx.out.int(1);
    } else {
        ctx.out.ok();
    }
}

fn copy(ctx: &mut Ctx, args: &[&[u8]]) {
    let src_db = ctx.client.db;
    let mut dst_db = src_db;
    let mut replace = false;
    let mut j = 3;
    while j < args.len() {
        let opt = lower(args[j]);
        if opt == b"replace" {
            replace = true;
        } else if opt == b"db" && j + 1 < args.len() {
            match db_index(ctx, args[j + 1], None) {
                Some(d) => dst_db = d,
                None => return,
            }
            j += 1;
        } else {
            return ctx.out.syntax_error();
        }
        j += 1;
    }
    let (key, newkey) = (args[1], args[2]);
    if src_db == dst_db && key == newkey {
        return ctx.out.err("source and destination objects are the same");
    }
    let (now, stats, lru) = (ctx.now_ms, ctx.ks_stats(), ctx.lru());
    let mut locked = ctx.srv.keyspace.lock_multi([(src_db, key), (dst_db, newkey)]);
    let Some(e) = locked.shard(src_db, key).get(key, now, stats) else {
        drop(locked);
        return ctx.out.int(0);
    };
    let mut copy = Entry::new(e.value.duplicate(), lru);
    copy.expire = e.expire;
    let dst = locked.shard(dst_db, newkey);
    if dst.get(newkey, now, stats).is_some() && !replace {
        drop(locked);
        return ctx.out.int(0);
    }
    dst.put_entry(newkey, copy);
    ev::notify_db(ctx, ev::GENERIC, "copy_to", newkey, dst_db);
    drop(locked);
    crate::server::blocking::signal(ctx.srv, dst_db, newkey);
    crate::server::multi::touch(ctx.srv, dst_db, newkey);
    ctx.dirty(1);
    ctx.out.int(1);
}

fn move_cmd(ctx: &mut Ctx, args: &[&[u8]]) {
    let key = args[1];
    let src_db = ctx.client.db;
    let Some(dst_db) = db_index(ctx, args[2], None) else {
        return;
    };
    if src_db == dst_db {
        return ctx.out.err("source and destination objects are the same");
    }
    let (now, stats) = (ctx.now_ms, ctx.ks_stats());
    let mut locked = ctx.srv.keyspace.lock_multi([(src_db, key), (dst_db, key)]);
    if locked.shard(src_db, key).get(key, now, stats).is_none()
        || locked.shard(dst_db, key).get(key, now, stats).is_some()
    {
        drop(locked);
        return ctx.out.int(0);
    }
    let Some((k, entry)) = locked.shard(src_db, key).remove_entry(key) else {
        drop(locked);
        return ctx.out.int(0);
    };
    locked.shard(dst_db, &k).put_entry(&k, entry);
    ev::notify_db(ctx, ev::GENERIC, "move_from", key, src_db);
    ev::notify_db(ctx, ev::GENERIC, "move_to", key, dst_db);
    drop(locked);
    crate::server::blocking::signal(ctx.srv, dst_db, key);
    crate::server::multi::touch(ctx.srv, dst_db, key);
    ctx.dirty(1);
    ctx.out.int(1);
}

fn swapdb(ctx: &mut Ctx, args: &[&[u8]]) {
    let Some(a) = db_index(ctx, args[1], Some("invalid first DB index")) else {
        return;
    };
    let Some(b) = db_index(ctx, args[2], Some("invalid second DB index")) else {
        return;
    };
    if a != b {
        // WATCHed keys that exist in either database change (Redis's touchAllWatchedKeysInDb).
        crate::server::multi::touch_db(ctx.srv, a, Some(b));
        crate::server::multi::touch_db(ctx.srv, b, Some(a));
    }
    ctx.srv.keyspace.swap_dbs(a, b);
    // Clients blocked on keys of either database may now find data (Redis's scanDatabaseForReadyKeys).
    crate::server::blocking::signal_db(ctx.srv, a);
    crate::server::blocking::signal_db(ctx.srv, b);
    ctx.dirty(1);
    ctx.out.ok();
}

// ---------------------------------------------------------------------------------------------
// KEYS SCAN RANDOMKEY
// ---------------------------------------------------------------------------------------------

fn keys(ctx: &mut Ctx, args: &[&[u8]]) {
    let pattern = args[1];
    let all = pattern == b"*";
    let now = ctx.now_ms;
    let mut found: Vec<Vec<u8>> = Vec::new();
    // KEYS is atomic in Redis: hold every shard of the database while collecting.
    let mut locked = ctx.db().lock_all();
    for shard in locked.shards() {
        shard.dict.for_each(|k, e| {
            if (all || glob_match(pattern, k, false)) && !e.is_expired(now) {
                found.push(k.to_vec());
            }
        });
    }
    drop(locked);
    ctx.out.array(found.len());
    for k in &found {
        ctx.out.bulk(k);
    }
}

/// Parses a SCAN cursor like Redis's `strtoul`-based parser: optional sign, decimal digits,
/// no leading space, no trailing garbage, no overflow ("-1" wraps as strtoul does).
pub fn parse_cursor(s: &[u8]) -> Option<u64> {
    if s.first().is_some_and(|c| c.is_ascii_whitespace()) {
        return None;
    }
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        // strtoul("") parses nothing and stops at the end: cursor 0. A lone sign is garbage.
        return if s.is_empty() { Some(0) } else { None };
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

fn scan(ctx: &mut Ctx, args: &[&[u8]]) {
    let Some(cursor) = parse_cursor(args[1]) else {
        return ctx.out.err("invalid cursor");
    };
    let mut count: i64 = 10;
    let mut pattern: Option<&[u8]> = None;
    let mut type_name: Option<&[u8]> = None;
    let mut i = 2;
    while i < args.len() {
        let more = args.len() - i;
        let opt = lower(args[i]);
        if opt == b"count" && more >= 2 {
            let Some(n) = num::parse_i64(args[i + 1]) else {
                return ctx.out.not_integer();
            };
            if n < 1 {
                return ctx.out.syntax_error();
            }
            count = n;
        } else if opt == b"match" && more >= 2 {
            pattern = Some(args[i + 1]).filter(|p| *p != b"*");
        } else if opt == b"type" && more >= 2 {
            type_name = Some(args[i + 1]);
        } else {
            return ctx.out.syntax_error();
        }
        i += 2;
    }
    let db = ctx.db();
    let now = ctx.now_ms;
    let bits = db.shard_bits();
    let shards = db.shard_count();
    let (mut shard_idx, mut c) = scan_cursor_split(cursor, bits);
    let count = count as usize;
    // Like Redis, visit at most 10 × COUNT buckets so a sparse table cannot stall the server.
    let mut budget = count.saturating_mul(10);
    let mut out: Vec<Vec<u8>> = Vec::new();
    let next = loop {
        let shard = db.lock_index(shard_idx.min(shards - 1));
        let mut seen: Vec<(Vec<u8>, bool, Kind)> = Vec::new();
        loop {
            c = shard.dict.scan(c, |k, e| {
                if pattern.is_none_or(|p| glob_match(p, k, false)) {
                    seen.push((k.to_vec(), e.is_expired(now), e.value.kind()));
                }
            });
            budget = budget.saturating_sub(1);
            if c == 0 || budget == 0 || out.len() + seen.len() >= count {
                break;
            }
        }
        let mut expired_keys = Vec::new();
        for (k, expired, kind) in seen {
            if expired {
                expired_keys.push(k);
            } else if type_name.is_none_or(|t| t.eq_ignore_ascii_case(kind.name().as_bytes())) {
                out.push(k);
            }
        }
        drop(shard);
        if !expired_keys.is_empty() {
            expire_met(ctx, shard_idx.min(shards - 1), &expired_keys);
        }
        if c == 0 {
            shard_idx += 1;
            if shard_idx >= shards {
                break 0;
            }
        }
        if out.len() >= count || budget == 0 {
            break scan_cursor_join(shard_idx, c, bits);
        }
    };
    ctx.out.array(2);
    let mut cur = Vec::with_capacity(20);
    cur.extend_from_slice(next.to_string().as_bytes());
    ctx.out.bulk(&cur);
    ctx.out.array(out.len());
    for k in &out {
        ctx.out.bulk(k);
    }
}

/// Deletes keys of shard `idx` that a read command (SCAN, RANDOMKEY) met expired, as Redis's
/// expireIfNeeded does for every key they look at, each logged as a DEL of its own. While
/// writes are logged, a lookup outside a unit of writes may not delete (a deletion must take
/// its place in the log's order), so this opens a plain unit first, before the shard lock as
/// the lock order asks; its effects are never wrapped in MULTI/EXEC.
fn expire_met(ctx: &Ctx, idx: usize, keys: &[Vec<u8>]) {
    let scope = crate::server::propagate::enter_plain(ctx.srv);
    let mut shard = ctx.db().lock_index(idx);
    for k in keys {
        shard.get(k, ctx.now_ms, ctx.ks_stats());
    }
    drop(shard);
    if let Some(scope) = scope {
        scope.finish(ctx.srv);
    }
}

fn randomkey(ctx: &mut Ctx, _args: &[&[u8]]) {
    let db = ctx.db();
    let now = ctx.now_ms;
    let shards = db.shard_count();
    // Pick a shard with probability proportional to its size, then a key inside it. Expired
    // picks are collected and the draw repeated, as Redis's dbRandomKey does.
    for _ in 0..100 {
        let sizes: Vec<usize> = (0..shards).map(|i| db.lock_index(i).dict.len()).collect();
        let total: usize = sizes.iter().sum();
        if total == 0 {
            return ctx.out.null();
        }
        let mut pick = (random_u64() % total as u64) as usize;
        let idx = sizes
            .iter()
            .position(|&n| {
                if pick < n {
                    true
                } else {
                    pick -= n;
                    false
                }
            })
            .unwrap_or(0);
        let shard = db.lock_index(idx);
        let Some((k, expired)) = shard
            .dict
            .random(random_u64)
            .map(|(k, e)| (k.to_vec(), e.is_expired(now)))
        else {
            continue;
        };
        drop(shard);
        if expired {
            expire_met(ctx, idx, &[k]);
            continue;
        }
        return ctx.out.bulk(&k);
    }
    // Every draw hit an expired key: fall back to a sweep for any live one.
    for i in 0..shards {
        let shard = db.lock_index(i);
        let mut live = None;
        shard.dict.for_each(|k, e| {
            if live.is_none() && !e.is_expired(now) {
                live = Some(k.to_vec());
            }
        });
        if let Some(k) = live {
            drop(shard);
            return ctx.out.bulk(&k);
        }
    }
    ctx.out.null();
}

// ---------------------------------------------------------------------------------------------
// OBJECT
// ---------------------------------------------------------------------------------------------

/// Applies `f` to the live entry at `key` of the client's database, without touching its access
/// time; None when there is no such key.
pub fn peek<R>(ctx: &Ctx, key: &[u8], f: impl FnOnce(&Entry) -> R) -> Option<R> {
    let db = ctx.db();
    let mut shard = db.lock(key);
    shard.get(key, ctx.now_ms, ctx.ks_stats()).map(f)
}

fn object_encoding(ctx: &mut Ctx, args: &[&[u8]]) {
    match peek(ctx, args[2], |e| e.value.encoding()) {
        Some(enc) => ctx.out.bulk(enc.as_bytes()),
        None => ctx.out.null(),
    }
}

/// Refcount Redis reports for shared objects (small integers when sharing is allowed).
const SHARED_REFCOUNT: i64 = i32::MAX as i64;

fn object_refcount(ctx: &mut Ctx, args: &[&[u8]]) {
    let Some(small_int) = peek(
        ctx,
        args[2],
        |e| matches!(e.value, Value::Int(n) if (0..10_000).contains(&n)),
    ) else {
        return ctx.out.null();
    };
    // Redis shares the integers 0..9999 unless an LRU/LFU policy with a memory limit needs
    // per-object access data.
    let policy = ctx.srv.config.get("maxmemory-policy");
    let sharing = ctx.srv.config.get_i64("maxmemory") == 0 || !(policy.contains("lru") || policy.contains("lfu"));
    ctx.out.int(if small_int && sharing { SHARED_REFCOUNT } else { 1 });
}

fn object_idletime(ctx: &mut Ctx, args: &[&[u8]]) {
    let Some(idle) = peek(ctx, args[2], |e| idle_secs(ctx, e)) else {
        return ctx.out.null();
    };
    if lfu_policy(ctx) {
        return ctx.out.err("An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.");
    }
    ctx.out.int(idle as i64);
}

fn object_freq(ctx: &mut Ctx, args: &[&[u8]]) {
    let Some(freq) = peek(ctx, args[2], |e| lfu_counter(ctx, e)) else {
        return ctx.out.null();
    };
    if !lfu_policy(ctx) {
        return ctx.out.err("An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.");
    }
    ctx.out.int(freq as i64);
}

fn object_help(ctx: &mut Ctx, _args: &[&[u8]]) {
    super::help_reply(
        ctx.out,
        "object",
        &[
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
        ],
    );
}
