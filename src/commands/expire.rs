//! Expiry commands (`expire.c`): EXPIRE PEXPIRE EXPIREAT PEXPIREAT TTL PTTL EXPIRETIME PEXPIRETIME
//! PERSIST.
//!
//! Expire times are absolute Unix milliseconds stored in the key's entry (0 = none). A time that
//! is already past deletes the key at once, as Redis does on a master. Keys whose time passes
//! later are removed lazily on access (`Shard::get`) or by the cron thread's active expiry.

use super::{def, CommandDef, Ctx};
use crate::server::notify::{self as ev, notify};
use crate::util::num;

#[rustfmt::skip]
pub static COMMANDS: &[CommandDef] = &[
    def("expire", -3, "write fast", (1, 1, 1), "@keyspace", "generic", "1.0.0", "Set a key's time to live in seconds", expire),
    def("pexpire", -3, "write fast", (1, 1, 1), "@keyspace", "generic", "2.6.0", "Set a key's time to live in milliseconds", pexpire),
    def("expireat", -3, "write fast", (1, 1, 1), "@keyspace", "generic", "1.2.0", "Set the expiration for a key as a UNIX timestamp", expireat),
    def("pexpireat", -3, "write fast", (1, 1, 1), "@keyspace", "generic", "2.6.0", "Set the expiration for a key as a UNIX timestamp specified in milliseconds", pexpireat),
    def("ttl", 2, "readonly fast", (1, 1, 1), "@keyspace", "generic", "1.0.0", "Get the time to live for a key in seconds", ttl),
    def("pttl", 2, "readonly fast", (1, 1, 1), "@keyspace", "generic", "2.6.0", "Get the time to live for a key in milliseconds", pttl),
    def("expiretime", 2, "readonly fast", (1, 1, 1), "@keyspace", "generic", "7.0.0", "Get the expiration Unix timestamp for a key", expiretime),
    def("pexpiretime", 2, "readonly fast", (1, 1, 1), "@keyspace", "generic", "7.0.0", "Get the expiration Unix timestamp for a key in milliseconds", pexpiretime),
    def("persist", 2, "write fast", (1, 1, 1), "@keyspace", "generic", "2.2.0", "Remove the expiration from a key", persist),
];

const NX: u8 = 1;
const XX: u8 = 2;
const GT: u8 = 4;
const LT: u8 = 8;

fn expire(ctx: &mut Ctx, args: &[&[u8]]) {
    let now = ctx.now_ms;
    expire_generic(ctx, args, "expire", now, true);
}

fn pexpire(ctx: &mut Ctx, args: &[&[u8]]) {
    let now = ctx.now_ms;
    expire_generic(ctx, args, "pexpire", now, false);
}

fn expireat(ctx: &mut Ctx, args: &[&[u8]]) {
    expire_generic(ctx, args, "expireat", 0, true);
}

fn pexpireat(ctx: &mut Ctx, args: &[&[u8]]) {
    expire_generic(ctx, args, "pexpireat", 0, false);
}

/// Parses NX XX GT LT (`parseExtendedExpireArgumentsOrReply`).
fn parse_flags(ctx: &mut Ctx, opts: &[&[u8]]) -> Option<u8> {
    let mut flags = 0;
    for opt in opts {
        flags |= match opt.to_ascii_lowercase().as_slice() {
            b"nx" => NX,
            b"xx" => XX,
            b"gt" => GT,
            b"lt" => LT,
            _ => {
                ctx.out
                    .err(&format!("Unsupported option {}", String::from_utf8_lossy(opt)));
                return None;
            }
        };
    }
    if flags & NX != 0 && flags & (XX | GT | LT) != 0 {
        ctx.out
            .err("NX and XX, GT or LT options at the same time are not compatible");
        return None;
    }
    if flags & GT != 0 && flags & LT != 0 {
        ctx.out.err("GT and LT options at the same time are not compatible");
        return None;
    }
    Some(flags)
}

/// The four EXPIRE forms: `basetime` is now (relative forms) or 0 (the AT forms).
fn expire_generic(ctx: &mut Ctx, args: &[&[u8]], name: &str, basetime: i64, seconds: bool) {
    let Some(flags) = parse_flags(ctx, &args[3..]) else {
        return;
    };
    let Some(mut when) = num::parse_i64(args[2]) else {
        return ctx.out.not_integer();
    };
    // Negative times are allowed, but a unit conversion or base-time addition that overflows
    // is an error (Redis checks the same two steps).
    if seconds {
        match when.checked_mul(1000) {
            Some(ms) => when = ms,
            None => return ctx.out.err(&format!("invalid expire time in '{name}' command")),
        }
    }
    // basetime ≥ 0, so neither the bound nor a negative `when` can overflow.
    if when > i64::MAX - basetime {
        return ctx.out.err(&format!("invalid expire time in '{name}' command"));
    }
    when += basetime;
    let key = args[1];
    let db = ctx.db();
    let mut shard = db.lock(key);
    // One lookup on the hot path: the entry is updated in place and the shard's count of
    // volatile keys fixed up after.
    let Some(e) = shard.get_mut(key, ctx.now_ms, ctx.ks_stats()) else {
        drop(shard);
        return ctx.out.int(0);
    };
    let current = e.expire;
    if flags != 0 {
        let has = current != 0;
        let refused = (flags & NX != 0 && has)
            || (flags & XX != 0 && !has)
            || (flags & GT != 0 && (!has || when <= current))
            || (flags & LT != 0 && has && when >= current);
        if refused {
            drop(shard);
            return ctx.out.int(0);
        }
    }
    // While the AOF loads a past time is kept (Redis's checkAlreadyExpired): later commands in
    // the file still see the key.
    if when <= ctx.now_ms && !crate::keyspace::value::loading() {
        shard.remove(key);
        notify(ctx, ev::GENERIC, "del", key);
    } else {
        e.expire = when;
        if current == 0 {
            shard.volatile += 1;
        }
        notify(ctx, ev::GENERIC, "expire", key);
    }
    drop(shard);
    ctx.dirty(1);
    ctx.out.int(1);
}

/// TTL PTTL EXPIRETIME PEXPIRETIME: -2 without key, -1 without TTL, else the remaining (or
/// absolute) time in seconds (rounded) or milliseconds.
fn ttl_generic(ctx: &mut Ctx, args: &[&[u8]], ms: bool, absolute: bool) {
    let db = ctx.db();
    let mut shard = db.lock(args[1]);
    let expire = shard.get(args[1], ctx.now_ms, ctx.ks_stats()).map(|e| e.expire);
    drop(shard);
    let reply = match expire {
        None => -2,
        Some(0) => -1,
        Some(at) => {
            let t = if absolute { at } else { (at - ctx.now_ms).max(0) };
            if ms {
                t
            } else {
                (t + 500) / 1000
            }
        }
    };
    ctx.out.int(reply);
}

fn ttl(ctx: &mut Ctx, args: &[&[u8]]) {
    ttl_generic(ctx, args, false, false);
}

fn pttl(ctx: &mut Ctx, args: &[&[u8]]) {
    ttl_generic(ctx, args, true, false);
}

fn expiretime(ctx: &mut Ctx, args: &[&[u8]]) {
    ttl_generic(ctx, args, false, true);
}

fn pexpiretime(ctx: &mut Ctx, args: &[&[u8]]) {
    ttl_generic(ctx, args, true, true);
}

fn persist(ctx: &mut Ctx, args: &[&[u8]]) {
    let db = ctx.db();
    let mut shard = db.lock(args[1]);
    let had = match shard.get_mut(args[1], ctx.now_ms, ctx.ks_stats()) {
        Some(e) if e.expire != 0 => {
            e.expire = 0;
            true
        }
        _ => false,
    };
    if had {
        shard.volatile -= 1;
        notify(ctx, ev::GENERIC, "persist", args[1]);
    }
    drop(shard);
    if had {
        ctx.dirty(1);
    }
    ctx.out.int(had as i64);
}
