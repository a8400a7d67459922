//! Server commands: INFO CONFIG DBSIZE FLUSHDB FLUSHALL FLUSH TIME LASTSAVE SAVE BGSAVE SHUTDOWN
//! ROLE LOLWUT, with Redis 7.0's replies and error texts (`server.c`,
//! `config.c`, `db.c`).

use super::{container, def, help_reply, CommandDef, Ctx};
use crate::server::{info, log};
use std::sync::atomic::Ordering::Relaxed;

#[rustfmt::skip]
pub static COMMANDS: &[CommandDef] = &[
    def("bgrewriteaof", 1, "admin noscript no_async_loading", (0, 0, 0), "", "server", "1.0.0", "Asynchronously rewrite the append-only file", bgrewriteaof),
    def("bgsave", -1, "admin noscript no_async_loading", (0, 0, 0), "", "server", "1.0.0", "Asynchronously save the dataset to disk", bgsave),
    container("config", "server", "2.0.0", "A container for server configuration commands", CONFIG),
    def("dbsize", 1, "readonly fast", (0, 0, 0), "@keyspace", "server", "1.0.0", "Return the number of keys in the selected database", dbsize),
    def("flush", -1, "write", (0, 0, 0), "@keyspace @dangerous", "server", "1.0.0", "Remove all keys from the current database and return how many were removed", flush),
    def("flushall", -1, "write", (0, 0, 0), "@keyspace @dangerous", "server", "1.0.0", "Remove all keys from all databases", flushall),
    def("flushdb", -1, "write", (0, 0, 0), "@keyspace @dangerous", "server", "1.0.0", "Remove all keys from the current database", flushdb),
    def("info", -1, "loading stale sentinel", (0, 0, 0), "@dangerous", "server", "1.0.0", "Get information and statistics about the server", info_cmd),
    def("lastsave", 1, "loading stale fast", (0, 0, 0), "@admin @dangerous", "server", "1.0.0", "Get the UNIX time stamp of the last successful save to disk", lastsave),
    def("lolwut", -1, "readonly fast", (0, 0, 0), "", "server", "5.0.0", "Display some computer art and the Redis version", lolwut),
    def("role", 1, "noscript loading stale fast sentinel", (0, 0, 0), "@admin @dangerous", "server", "2.8.12", "Return the role of the instance in the context of replication", role),
    def("save", 1, "admin noscript no_async_loading no_multi", (0, 0, 0), "", "server", "1.0.0", "Synchronously save the dataset to disk", save),
    def("shutdown", -1, "admin noscript loading stale no_multi sentinel allow_busy", (0, 0, 0), "", "server", "1.0.0", "Synchronously save the dataset to disk and then shut down the server", shutdown),
    def("time", 1, "loading stale fast", (0, 0, 0), "", "server", "2.6.0", "Return the current server time", time),
];

#[rustfmt::skip]
static CONFIG: &[CommandDef] = &[
    def("get", -3, "admin noscript loading stale", (0, 0, 0), "", "server", "2.0.0", "Get the values of configuration parameters", config_get),
    def("help", 2, "loading stale", (0, 0, 0), "", "server", "5.0.0", "Show helpful text about the different subcommands", config_help),
    def("resetstat", 2, "admin noscript loading stale", (0, 0, 0), "", "server", "2.0.0", "Reset the stats returned by INFO", config_resetstat),
    def("rewrite", 2, "admin noscript loading stale", (0, 0, 0), "", "server", "2.8.0", "Rewrite the configuration file with the in memory configuration", config_rewrite),
    def("set", -4, "admin noscript loading stale", (0, 0, 0), "", "server", "2.0.0", "Set configuration parameters to the given values", config_set),
];

fn dbsize(ctx: &mut Ctx, _args: &[&[u8]]) {
    let n = ctx.db().len();
    ctx.out.int(n as i64);
}

/// Parses the optional ASYNC|SYNC of FLUSHDB/FLUSHALL/FUNCTION FLUSH; replies the syntax error
/// and returns None on anything else. Some(true) means free in the background: ASYNC, or no
/// option with `lazyfree-lazy-user-flush yes` (as Redis).
fn flush_mode(ctx: &mut Ctx, args: &[&[u8]], from: usize) -> Option<bool> {
    match &args[from..] {
        [] => Some(ctx.srv.config.get_bool("lazyfree-lazy-user-flush")),
        [m] if m.eq_ignore_ascii_case(b"async") => Some(true),
        [m] if m.eq_ignore_ascii_case(b"sync") => Some(false),
        _ => {
            ctx.out.syntax_error();
            None
        }
    }
}

fn flushdb(ctx: &mut Ctx, args: &[&[u8]]) {
    let Some(lazy) = flush_mode(ctx, args, 1) else {
        return;
    };
    crate::server::multi::touch_db(ctx.srv, ctx.client.db, None);
    let n = ctx.db().flush(lazy);
    ctx.dirty(n as u64);
    // Logged even when the database was already empty (Redis's forceCommandPropagation).
    crate::server::propagate::explicit(args);
    ctx.out.ok();
}

/// FLUSH [ASYNC|SYNC]: FLUSHDB that answers how many keys it removed.
fn flush(ctx: &mut Ctx, args: &[&[u8]]) {
    let Some(lazy) = flush_mode(ctx, args, 1) else {
        return;
    };
    crate::server::multi::touch_db(ctx.srv, ctx.client.db, None);
    let n = ctx.db().flush(lazy);
    ctx.dirty(n as u64);
    ctx.out.int(n as i64);
}

fn flushall(ctx: &mut Ctx, args: &[&[u8]]) {
    let Some(lazy) = flush_mode(ctx, args, 1) else {
        return;
    };
    // As Redis, FLUSHALL stops a running BGSAVE and then, with save points, saves the empty
    // dataset at once.
    crate::persistence::save::kill_bgsave(ctx.srv);
    let mut n = 0;
    for (i, db) in ctx.srv.keyspace.dbs.iter().enumerate() {
        crate::server::multi::touch_db(ctx.srv, i, None);
        n += db.flush(lazy);
    }
    // Redis counts FLUSHALL itself as one more change, so a following save rule triggers.
    ctx.dirty(n as u64 + 1);
    // Logged whatever changed, and before the save below resets the change counter (Redis's
    // forceCommandPropagation).
    crate::server::propagate::explicit(args);
    if crate::persistence::save::has_save_points(ctx.srv) {
        let _ = crate::persistence::save::save(ctx.srv);
    }
    ctx.out.ok();
}

fn info_cmd(ctx: &mut Ctx, args: &[&[u8]]) {
    let sections = info::Sections::parse(&args[1..]);
    let text = info::build(ctx.srv, &sections);
    ctx.out.verbatim(text.as_bytes());
}

fn time(ctx: &mut Ctx, _args: &[&[u8]]) {
    let us = crate::server::unix_us();
    ctx.out.array(2);
    ctx.out.bulk_i64(us / 1_000_000);
    ctx.out.bulk_i64(us % 1_000_000);
}

fn lastsave(ctx: &mut Ctx, _args: &[&[u8]]) {
    ctx.out.int(ctx.srv.last_save.load(Relaxed) as i64);
}

/// SAVE: writes the dump synchronously (as Redis, it blocks until the file is on disk).
fn save(ctx: &mut Ctx, _args: &[&[u8]]) {
    if ctx.srv.rdb.bgsave_in_progress.load(Relaxed) {
        ctx.out.error("ERR Background save already in progress");
        return;
    }
    match crate::persistence::save::save(ctx.srv) {
        Ok(()) => ctx.out.ok(),
        Err(e) => ctx.out.error(&e),
    }
}

/// BGREWRITEAOF: rewrites the AOF (base plus a new incremental file) without fork.
fn bgrewriteaof(ctx: &mut Ctx, _args: &[&[u8]]) {
    match crate::persistence::aof::bgrewriteaof(ctx.srv) {
        Ok(status) => ctx.out.simple(status),
        Err(e) => ctx.out.error(e),
    }
}

fn bgsave(ctx: &mut Ctx, args: &[&[u8]]) {
    if args.len() > 2 || (args.len() == 2 && !args[1].eq_ignore_ascii_case(b"schedule")) {
        ctx.out.syntax_error();
        return;
    }
    if !ctx.srv.rdb.bgsave_in_progress.load(Relaxed)
        && ctx.srv.aof.rewrite_in_progress.load(Relaxed)
        && args.len() == 1
        && !ctx.client.in_exec
    {
        ctx.out.error("ERR Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible.");
        return;
    }
    // Inside MULTI or a script, or with SCHEDULE while a rewrite runs, Redis only schedules it
    // (the cron starts it).
    let rewriting = ctx.srv.aof.rewrite_in_progress.load(Relaxed);
    if (ctx.client.in_exec || rewriting) && !ctx.srv.rdb.bgsave_in_progress.load(Relaxed) {
        ctx.srv.rdb.scheduled.store(true, Relaxed);
        ctx.out.simple("Background saving scheduled");
        return;
    }
    match crate::persistence::save::bgsave(ctx.srv) {
        Ok(()) => ctx.out.simple("Background saving started"),
        Err(e) => ctx.out.error(e),
    }
}

/// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]. On success there is no reply: the server
/// exits and the connection closes, as in Redis.
fn shutdown(ctx: &mut Ctx, args: &[&[u8]]) {
    let (mut nosave, mut save, mut abort, mut force) = (false, false, false, false);
    for a in &args[1..] {
        let a = a.to_ascii_lowercase();
        match a.as_slice() {
            b"nosave" => nosave = true,
            b"save" => save = true,
            b"now" => {}
            b"force" => force = true,
            b"abort" => abort = true,
            _ => {
                ctx.out.syntax_error();
                return;
            }
        }
    }
    if (abort && args.len() != 2) || (nosave && save) {
        ctx.out.syntax_error();
        return;
    }
    if abort {
        if crate::server::cron::abort_signal_shutdown() {
            crate::server::log::notice("Shutdown manually aborted.");
            ctx.out.ok();
        } else {
            ctx.out.error("ERR No shutdown in progress.");
        }
        return;
    }
    let mode = if nosave {
        1
    } else if save {
        2
    } else {
        0
    };
    crate::server::log::warning("User requested shutdown...");
    // The final save runs here, so a failure can be answered (and the server stays up).
    if !crate::server::cron::save_before_exit(ctx.srv, mode) && !force {
        ctx.out.error("ERR Errors trying to SHUTDOWN. Check logs.");
        return;
    }
    ctx.srv.shutdown_save.store(1, Relaxed);
    ctx.srv.shutdown_requested.store(true, Relaxed);
    ctx.client.close_after_reply = true;
}

fn role(ctx: &mut Ctx, _args: &[&[u8]]) {
    if crate::replication::replica::role(ctx.srv, ctx.out) {
        return;
    }
    ctx.out.array(3);
    ctx.out.bulk(b"master");
    ctx.out.int(0);
    ctx.out.array(0);
}

/// LOLWUT [VERSION v]: a small piece of art and the version line.
fn lolwut(ctx: &mut Ctx, args: &[&[u8]]) {
    let mut i = 1;
    while i < args.len() {
        if args[i].eq_ignore_ascii_case(b"version") && i + 1 < args.len() {
            if crate::util::num::parse_i64(args[i + 1]).is_none() {
                ctx.out.not_integer();
                return;
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    let art = "\u{2800}\u{28e0}\u{28f4}\u{28fe}\u{28ff}\u{28f7}\u{28e6}\u{28c4}\u{2800}\n\u{28fe}\u{28ff}\u{28ff}\u{28ff}\u{28ff}\u{28ff}\u{28ff}\u{28ff}\u{28f7}\n\u{2819}\u{283b}\u{283f}\u{28ff}\u{28ff}\u{28ff}\u{283f}\u{281f}\u{280b}\n";
    let text = format!("{art}\nOchre (Redis ver. {})\n", crate::REDIS_VERSION);
    ctx.out.verbatim(text.as_bytes());
}

fn config_help(ctx: &mut Ctx, _args: &[&[u8]]) {
    help_reply(
        ctx.out,
        "config",
        &[
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
        ],
    );
}

fn config_get(ctx: &mut Ctx, args: &[&[u8]]) {
    let found = ctx.srv.config.get_matching(&args[2..]);
    ctx.out.map(found.len());
    for (k, v) in found {
        ctx.out.bulk(k.as_bytes());
        ctx.out.bulk(v.as_bytes());
    }
}

/// CONFIG SET name value [name value ...]: all or nothing. Every pair is validated before any
/// is applied; changes that need work beyond the stored value (the listening port, the
/// slowlog length) are applied after, and a failure there rolls every pair back.
fn config_set(ctx: &mut Ctx, args: &[&[u8]]) {
    if !(args.len() - 2).is_multiple_of(2) {
        ctx.out.error(&format!(
            "ERR Unknown option or number of arguments for CONFIG SET - '{}'",
            String::from_utf8_lossy(args[args.len() - 1])
        ));
        return;
    }
    let pairs: Vec<(&[u8], &[u8])> = args[2..].chunks(2).map(|c| (c[0], c[1])).collect();
    // What the dataset being loaded depends on cannot change under it (Redis's
    // DENY_LOADING_CONFIG); that error wins over any other, as in Redis.
    const DENY_LOADING: [&str; 3] = ["dir", "appendonly", "repl-diskless-load"];
    if ctx.srv.rdb.loading()
        && pairs.iter().any(|(n, _)| {
            crate::server::config::lookup(&String::from_utf8_lossy(n)).is_some_and(|d| DENY_LOADING.contains(&d.name))
        })
    {
        ctx.out.error(crate::server::dispatch::LOADING);
        return;
    }
    let cfg = &ctx.srv.config;
    // enable-protected-configs: `yes` for everyone, `local` for loopback clients only.
    let protected = match cfg.get("enable-protected-configs").as_str() {
        "yes" => true,
        "local" => {
            let addr = &ctx.client.handle.addr;
            addr.starts_with("127.") || addr.starts_with("[::1]")
        }
        _ => false,
    };
    let before: Vec<(String, String)> = pairs
        .iter()
        .filter_map(|(n, _)| crate::server::config::lookup(&String::from_utf8_lossy(n)))
        .map(|d| (d.name.to_string(), cfg.get(d.name)))
        .collect();
    let changed = match cfg.set_many(&pairs, protected) {
        Ok(c) => c,
        Err(e) => {
            ctx.out.error(&e);
            return;
        }
    };
    if changed.contains(&"maxmemory") {
        crate::server::evict::maxmemory_changed(ctx.srv);
    }
    // Apply step: move the listeners when the port or the bind addresses changed.
    let moved = |name: &str| {
        changed.contains(&name)
            && before.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str()) != Some(&cfg.get(name))
    };
    let (port_moved, bind_moved) = (moved("port"), moved("bind"));
    if port_moved || bind_moved {
        if let Err(e) = crate::server::rebind(ctx.srv) {
            crate::server::log::warning(&format!("Failed to bind: {e}"));
            for (name, value) in before {
                if let Some(d) = crate::server::config::lookup(&name) {
                    cfg.set_raw(d.name, value);
                }
            }
            let msg = if port_moved {
                "ERR CONFIG SET failed (possibly related to argument 'port') - Unable to listen on this port"
            } else {
                "ERR CONFIG SET failed (possibly related to argument 'bind') - Failed to bind to specified addresses."
            };
            ctx.out.error(msg);
            return;
        }
    }
    if changed.contains(&"appendfsync") {
        crate::persistence::aof::config_changed(ctx.srv);
    }
    if changed.contains(&"appendonly") {
        let on = cfg.get_bool("appendonly");
        if on && !ctx.srv.propagation.aof_on() {
            crate::persistence::aof::enable(ctx.srv);
        } else if !on && ctx.srv.propagation.aof_on() {
            crate::persistence::aof::disable(ctx.srv);
        }
    }
    if changed.contains(&"slowlog-max-len") {
        let n = cfg.get_i64("slowlog-max-len").max(0) as usize;
        ctx.srv.slowlog.trim(n);
    }
    ctx.out.ok();
}

/// CONFIG RESETSTAT: zeroes INFO's counters, the command and error statistics and the latency
/// histograms (not the slowlog, as in Redis).
fn config_resetstat(ctx: &mut Ctx, _args: &[&[u8]]) {
    let srv = ctx.srv;
    srv.stats.reset();
    let ks = &srv.keyspace.stats;
    ks.expired_keys.store(0, Relaxed);
    ks.expired_stale_perc.store(0, Relaxed);
    ks.expired_time_cap_reached_count.store(0, Relaxed);
    for c in srv.commands.all() {
        c.reset_stats();
    }
    srv.stats.used_memory_peak.store(0, Relaxed);
    ctx.out.ok();
}

fn config_rewrite(ctx: &mut Ctx, _args: &[&[u8]]) {
    let Some(path) = ctx.srv.config_file.as_deref() else {
        ctx.out.error("ERR The server is running without a config file");
        return;
    };
    match ctx.srv.config.rewrite(path, false) {
        Ok(()) => {
            log::notice("CONFIG REWRITE executed with success.");
            ctx.out.ok();
        }
        Err(e) => {
            log::warning(&format!("CONFIG REWRITE failed: {e}"));
            ctx.out.error(&format!("ERR Rewriting config file: {e}"));
        }
    }
}
