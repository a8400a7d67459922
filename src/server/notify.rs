//! Keyspace notifications (Redis's `notify.c`): commands report what they did to a key with
//! [`notify`]; when `notify-keyspace-events` enables the event's class, the event is published
//! on `__keyspace@<db>__:<key>` (message: the event name) and/or `__keyevent@<db>__:<event>`
//! (message: the key) through the Pub/Sub registry. With notifications off (the default) a call
//! costs one relaxed atomic load.

use super::pubsub::{self, Kind, Me};
use super::Server;
use crate::commands::Ctx;
use crate::server::client::ReplyMode;
use std::sync::atomic::Ordering::Relaxed;

/// Event classes (Redis's NOTIFY_* flags; the letters are those of `notify-keyspace-events`).
pub const KEYSPACE: u32 = 1 << 0; // K
pub const KEYEVENT: u32 = 1 << 1; // E
pub const GENERIC: u32 = 1 << 2; // g
pub const STRING: u32 = 1 << 3; // $
pub const LIST: u32 = 1 << 4; // l
pub const SET: u32 = 1 << 5; // s
pub const HASH: u32 = 1 << 6; // h
pub const ZSET: u32 = 1 << 7; // z
pub const EXPIRED: u32 = 1 << 8; // x
pub const EVICTED: u32 = 1 << 9; // e
pub const STREAM: u32 = 1 << 10; // t
pub const KEY_MISS: u32 = 1 << 11; // m (not part of A)
pub const MODULE: u32 = 1 << 13; // d
pub const NEW: u32 = 1 << 14; // n (not part of A)
pub const ALL: u32 = GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

/// Parses a class string (`KEA`, `Kgx`...); None on a character that names no class.
pub fn parse(classes: &[u8]) -> Option<u32> {
    let mut flags = 0;
    for &c in classes {
        flags |= match c {
            b'A' => ALL,
            b'g' => GENERIC,
            b'$' => STRING,
            b'l' => LIST,
            b's' => SET,
            b'h' => HASH,
            b'z' => ZSET,
            b'x' => EXPIRED,
            b'e' => EVICTED,
            b'K' => KEYSPACE,
            b'E' => KEYEVENT,
            b't' => STREAM,
            b'm' => KEY_MISS,
            b'd' => MODULE,
            b'n' => NEW,
            _ => return None,
        };
    }
    Some(flags)
}

/// Prints flags as CONFIG GET shows them: `A` or the type classes in a fixed order, then K, E, m.
/// Like Redis, `n` is printed only without `A` (so `An` reads back as `A`).
pub fn to_string(flags: u32) -> String {
    let mut s = String::new();
    if flags & ALL == ALL {
        s.push('A');
    } else {
        for (f, c) in [
            (GENERIC, 'g'),
            (STRING, '$'),
            (LIST, 'l'),
            (SET, 's'),
            (HASH, 'h'),
            (ZSET, 'z'),
            (EXPIRED, 'x'),
            (EVICTED, 'e'),
            (STREAM, 't'),
            (MODULE, 'd'),
            (NEW, 'n'),
        ] {
            if flags & f != 0 {
                s.push(c);
            }
        }
    }
    for (f, c) in [(KEYSPACE, 'K'), (KEYEVENT, 'E'), (KEY_MISS, 'm')] {
        if flags & f != 0 {
            s.push(c);
        }
    }
    s
}

/// Reports `event` of `class` on `key` in the command's database.
#[inline]
pub fn notify(ctx: &mut Ctx, class: u32, event: &str, key: &[u8]) {
    let db = ctx.client.db;
    notify_db(ctx, class, event, key, db);
}

/// Reports `event` of `class` on `key` in database `db` (MOVE, COPY ... DB).
#[inline]
pub fn notify_db(ctx: &mut Ctx, class: u32, event: &str, key: &[u8], db: usize) {
    let flags = ctx.srv.config.hot.notify_keyspace_events.load(Relaxed);
    if flags & class == 0 {
        return;
    }
    // With replies on, the command's own connection gets its events inline, before its reply.
    let me = (ctx.client.reply_mode == ReplyMode::On).then_some(Me {
        id: ctx.client.id,
        buf: &mut ctx.out.buf,
    });
    send(ctx.srv, flags, event, key, db, me);
}

/// [`notify`] when `cond` holds (keeps call sites in shared files to one line).
#[inline]
pub fn notify_if(ctx: &mut Ctx, cond: bool, class: u32, event: &str, key: &[u8]) {
    if cond {
        notify(ctx, class, event, key);
    }
}

/// [`notify_if`] with the running command's name as the event (`zremrangebyscore`,
/// `zunionstore`...), for code shared by several commands whose events are their names.
pub fn notify_cmd_if(ctx: &mut Ctx, cond: bool, class: u32, key: &[u8]) {
    if !cond || ctx.srv.config.hot.notify_keyspace_events.load(Relaxed) & class == 0 {
        return;
    }
    let handle = ctx.client.handle.clone();
    notify(ctx, class, handle.last_cmd_name(), key);
}

/// Reports an event that no command caused (expiry by the cron or on lookup).
pub fn notify_srv(srv: &Server, class: u32, event: &str, key: &[u8], db: usize) {
    let flags = srv.config.hot.notify_keyspace_events.load(Relaxed);
    if flags & class == 0 {
        return;
    }
    send(srv, flags, event, key, db, None);
}

fn send(srv: &Server, flags: u32, event: &str, key: &[u8], db: usize, mut me: Option<Me>) {
    let mut dbs = Vec::with_capacity(20);
    crate::util::num::write_i64(&mut dbs, db as i64);
    if flags & KEYSPACE != 0 {
        let mut chan = Vec::with_capacity(16 + dbs.len() + key.len());
        chan.extend_from_slice(b"__keyspace@");
        chan.extend_from_slice(&dbs);
        chan.extend_from_slice(b"__:");
        chan.extend_from_slice(key);
        let me2 = me.as_mut().map(|m| Me { id: m.id, buf: m.buf });
        pubsub::publish(srv, Kind::Channel, &chan, event.as_bytes(), me2);
    }
    if flags & KEYEVENT != 0 {
        let mut chan = Vec::with_capacity(16 + dbs.len() + event.len());
        chan.extend_from_slice(b"__keyevent@");
        chan.extend_from_slice(&dbs);
        chan.extend_from_slice(b"__:");
        chan.extend_from_slice(event.as_bytes());
        pubsub::publish(srv, Kind::Channel, &chan, key, me);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_as_redis_prints() {
        let p = |s: &str| to_string(parse(s.as_bytes()).unwrap_or(u32::MAX));
        assert_eq!(p("gKE"), "gKE");
        assert_eq!(p("$lshzxeKE"), "$lshzxeKE");
        assert_eq!(p("KA"), "AK");
        assert_eq!(p("EA"), "AE");
        assert_eq!(p("nKxg"), "gxnK");
        assert_eq!(p("An"), "A");
        assert_eq!(p("mE"), "Em");
        assert_eq!(p(""), "");
        assert!(parse(b"Q").is_none());
    }
}
