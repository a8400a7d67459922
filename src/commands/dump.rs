//! DUMP and RESTORE (`cluster.c`): values serialised in Redis's RDB payload format, so payloads
//! move between Ochre and redis-server in both directions. The format lives in
//! `persistence::rdb`.

use super::keys::{lfu_minutes, lfu_policy};
use super::{def, lower, CommandDef, Ctx};
use crate::keyspace::value::Entry;
use crate::persistence::rdb;
use crate::server::log;
use crate::server::notify::{self as ev, notify};
use crate::util::num;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

#[rustfmt::skip]
pub static COMMANDS: &[CommandDef] = &[
    def("dump", 2, "readonly", (1, 1, 1), "@keyspace", "generic", "2.6.0", "Return a serialized version of the value stored at the specified key.", dump),
    def("restore", -4, "write denyoom", (1, 1, 1), "@keyspace @dangerous", "generic", "2.6.0", "Create a key using the provided serialized value, previously obtained using DUMP.", restore),
];

/// DEBUG SET-SKIP-CHECKSUM-VALIDATION: accept payloads whose CRC does not match.
pub static SKIP_CHECKSUM: AtomicBool = AtomicBool::new(false);

/// Whether values are LZF-compressed when serialised (`rdbcompression`).
pub fn compression(ctx: &Ctx) -> bool {
    ctx.srv.config.get_bool("rdbcompression")
}

fn dump(ctx: &mut Ctx, args: &[&[u8]]) {
    let compress = compression(ctx);
    let db = ctx.db();
    let mut shard = db.lock(args[1]);
    let payload = shard
        .get(args[1], ctx.now_ms, ctx.ks_stats())
        .map(|e| rdb::dump_payload(&e.value, compress));
    drop(shard);
    match payload {
        Some(p) => ctx.out.bulk(&p),
        None => ctx.out.null(),
    }
}

fn restore(ctx: &mut Ctx, args: &[&[u8]]) {
    let mut replace = false;
    let mut absttl = false;
    let mut idle: Option<i64> = None;
    let mut freq: Option<i64> = None;
    let mut j = 4;
    while j < args.len() {
        let more = args.len() - j - 1;
        let opt = lower(args[j]);
        if opt == b"replace" {
            replace = true;
        } else if opt == b"absttl" {
            absttl = true;
        } else if opt == b"idletime" && more >= 1 && freq.is_none() {
            let Some(n) = num::parse_i64(args[j + 1]) else {
                return ctx.out.not_integer();
            };
            if n < 0 {
                return ctx.out.err("Invalid IDLETIME value, must be >= 0");
            }
            idle = Some(n);
            j += 1;
        } else if opt == b"freq" && more >= 1 && idle.is_none() {
            let Some(n) = num::parse_i64(args[j + 1]) else {
                return ctx.out.not_integer();
            };
            if !(0..=255).contains(&n) {
                return ctx.out.err("Invalid FREQ value, must be >= 0 and <= 255");
            }
            freq = Some(n);
            j += 1;
        } else {
            return ctx.out.syntax_error();
        }
        j += 1;
    }
    let key = args[1];
    let (now, stats) = (ctx.now_ms, ctx.ks_stats());
    let lfu = lfu_policy(ctx);
    let lru_clock = ctx.lru();
    let db = ctx.db();
    let mut shard = db.lock(key);
    // Same order of checks as Redis: existing key, TTL, payload footer, payload body.
    if !replace && shard.get(key, now, stats).is_some() {
        drop(shard);
        return ctx.out.error("BUSYKEY Target key name already exists.");
    }
    let Some(mut ttl) = num::parse_i64(args[2]) else {
        drop(shard);
        return ctx.out.not_integer();
    };
    if ttl < 0 {
        drop(shard);
        return ctx.out.err("Invalid TTL value, must be >= 0");
    }
    if !rdb::verify_payload(args[3], SKIP_CHECKSUM.load(Relaxed)) {
        drop(shard);
        return ctx.out.err("DUMP payload version or checksum are wrong");
    }
    let value = match rdb::restore_payload(args[3]) {
        Ok(v) => v,
        Err(e) => {
            drop(shard);
            // Like Redis in a RESTORE context: a detected corruption is logged (verbose) with
            // the loader's text ("... integrity check failed."), a short payload is not.
            if !matches!(e, rdb::RdbError::Truncated | rdb::RdbError::EmptyKey) {
                log::verbose(&format!(
                    "Internal error in RDB reading offset 0, function at rdb.rs -> {e}"
                ));
            }
            return ctx.out.err("Bad data format");
        }
    };
    let deleted = replace && shard.remove(key).is_some();
    if ttl != 0 && !absttl {
        ttl = ttl.saturating_add(now);
    }
    if ttl != 0 && ttl <= now {
        // Already expired: the key is not created (an old one was replaced by nothing).
        if deleted {
            notify(ctx, ev::GENERIC, "del", key);
        }
        drop(shard);
        if deleted {
            ctx.dirty(1);
        }
        return ctx.out.ok();
    }
    let mut entry = Entry::new(value, lru_clock);
    entry.expire = ttl;
    // objectSetLRUOrLFU: FREQ counts under an LFU policy, IDLETIME under any other.
    if lfu {
        // A new object starts at LFU_INIT_VAL (5) unless FREQ says otherwise.
        entry.lru = (lfu_minutes(now) << 8) | freq.unwrap_or(5) as u32;
    } else if let Some(i) = idle {
        entry.lru = lru_clock.wrapping_sub(u32::try_from(i).unwrap_or(u32::MAX));
    }
    shard.put_entry(key, entry);
    notify(ctx, ev::GENERIC, "restore", key);
    drop(shard);
    crate::server::blocking::signal(ctx.srv, ctx.client.db, key);
    ctx.dirty(1);
    ctx.out.ok();
}
