//! Introspection commands: CLIENT, MONITOR, SLOWLOG, LATENCY, MEMORY, with Redis 7.0's replies
//! and error texts (`networking.c`, `slowlog.c`, `latency.c`, `object.c`).

use super::{container, def, help_reply, CommandDef, Ctx};
use crate::server::client::{ClientType, ReplyMode};
use crate::server::stats::LatencyHistogram;
use crate::server::{monitor, unix_ms};
use std::sync::atomic::Ordering::Relaxed;

#[rustfmt::skip]
pub static COMMANDS: &[CommandDef] = &[
    container("client", "connection", "2.4.0", "A container for client connection commands", CLIENT),
    def("monitor", 1, "admin noscript loading stale", (0, 0, 0), "", "server", "1.0.0", "Listen for all requests received by the server in real time", monitor_cmd),
    container("slowlog", "server", "2.2.12", "A container for slow log commands", SLOWLOG),
    container("latency", "server", "2.8.13", "A container for latency diagnostics commands", LATENCY),
    container("memory", "server", "4.0.0", "A container for memory diagnostics commands", MEMORY),
];

#[rustfmt::skip]
static CLIENT: &[CommandDef] = &[
    def("caching", 3, "noscript loading stale", (0, 0, 0), "@connection", "connection", "6.0.0", "Instruct the server about tracking or not keys in the next request", client_caching),
    def("getname", 2, "noscript loading stale", (0, 0, 0), "@connection", "connection", "2.6.9", "Get the current connection name", client_getname),
    def("getredir", 2, "noscript loading stale", (0, 0, 0), "@connection", "connection", "6.0.0", "Get tracking notifications redirection client ID if any", client_getredir),
    def("help", 2, "loading stale", (0, 0, 0), "@connection", "connection", "5.0.0", "Show helpful text about the different subcommands", client_help),
    def("id", 2, "noscript loading stale", (0, 0, 0), "@connection", "connection", "5.0.0", "Returns the client ID for the current connection", client_id),
    def("info", 2, "noscript loading stale", (0, 0, 0), "@connection", "connection", "6.2.0", "Returns information about the current client connection.", client_info),
    def("kill", -3, "admin noscript loading stale", (0, 0, 0), "@connection", "connection", "2.4.0", "Kill the connection of a client", client_kill),
    def("list", -2, "admin noscript loading stale", (0, 0, 0), "@connection", "connection", "2.4.0", "Get the list of client connections", client_list),
    def("no-evict", 3, "admin noscript loading stale", (0, 0, 0), "@connection", "connection", "7.0.0", "Set client eviction mode for the current connection", client_no_evict),
    def("pause", -3, "admin noscript loading stale", (0, 0, 0), "@connection", "connection", "2.9.50", "Stop processing commands from clients for some time", client_pause),
    def("reply", 3, "noscript loading stale", (0, 0, 0), "@connection", "connection", "3.2.0", "Instruct the server whether to reply to commands", client_reply),
    def("setinfo", 4, "noscript loading stale", (0, 0, 0), "@connection", "connection", "7.2.0", "Set client or connection specific info", client_setinfo),
    def("setname", 3, "noscript loading stale", (0, 0, 0), "@connection", "connection", "2.6.9", "Set the current connection name", client_setname),
    def("tracking", -3, "noscript loading stale", (0, 0, 0), "@connection", "connection", "6.0.0", "Enable or disable server assisted client side caching support", client_tracking),
    def("trackinginfo", 2, "noscript loading stale", (0, 0, 0), "@connection", "connection", "6.2.0", "Return information about server assisted client side caching for the current connection", client_trackinginfo),
    def("unblock", -3, "admin noscript loading stale", (0, 0, 0), "@connection", "connection", "5.0.0", "Unblock a client blocked in a blocking command from a different connection", client_unblock),
    def("unpause", 2, "admin noscript loading stale", (0, 0, 0), "@connection", "connection", "6.2.0", "Resume processing of clients that were paused", client_unpause),
];

#[rustfmt::skip]
static SLOWLOG: &[CommandDef] = &[
    def("get", -2, "admin loading stale", (0, 0, 0), "", "server", "2.2.12", "Get the slow log's entries", slowlog_get),
    def("help", 2, "loading stale", (0, 0, 0), "", "server", "6.2.0", "Show helpful text about the different subcommands", slowlog_help),
    def("len", 2, "admin loading stale", (0, 0, 0), "", "server", "2.2.12", "Get the slow log's length", slowlog_len),
    def("reset", 2, "admin loading stale", (0, 0, 0), "", "server", "2.2.12", "Clear all entries from the slow log", slowlog_reset),
];

#[rustfmt::skip]
static LATENCY: &[CommandDef] = &[
    def("doctor", 2, "admin noscript loading stale", (0, 0, 0), "", "server", "2.8.13", "Return a human readable latency analysis report.", latency_doctor),
    def("graph", 3, "admin noscript loading stale", (0, 0, 0), "", "server", "2.8.13", "Return a latency graph for the event.", latency_graph),
    def("help", 2, "loading stale", (0, 0, 0), "", "server", "2.8.13", "Show helpful text about the different subcommands.", latency_help),
    def("histogram", -2, "admin noscript loading stale", (0, 0, 0), "", "server", "7.0.0", "Return the cumulative distribution of latencies of a subset of commands or all.", latency_histogram),
    def("history", 3, "admin noscript loading stale", (0, 0, 0), "", "server", "2.8.13", "Return timestamp-latency samples for the event.", latency_history),
    def("latest", 2, "admin noscript loading stale", (0, 0, 0), "", "server", "2.8.13", "Return the latest latency samples for all events.", latency_latest),
    def("reset", -2, "admin noscript loading stale", (0, 0, 0), "", "server", "2.8.13", "Reset latency data for one or more events.", latency_reset),
];

#[rustfmt::skip]
static MEMORY: &[CommandDef] = &[
    def("doctor", 2, "", (0, 0, 0), "", "server", "4.0.0", "Outputs memory problems report", memory_doctor),
    def("help", 2, "loading stale", (0, 0, 0), "", "server", "4.0.0", "Show helpful text about the different subcommands", memory_help),
    def("malloc-stats", 2, "", (0, 0, 0), "", "server", "4.0.0", "Show allocator internal stats", memory_malloc_stats),
    def("purge", 2, "", (0, 0, 0), "", "server", "4.0.0", "Ask the allocator to release memory", memory_purge),
    def("stats", 2, "", (0, 0, 0), "", "server", "4.0.0", "Show memory usage details", memory_stats),
    def("usage", -3, "readonly", (2, 2, 1), "", "server", "4.0.0", "Estimate the memory usage of a key", memory_usage),
];

/// Redis allows client names of printable ASCII without spaces (`clientSetName`).
pub fn valid_client_name(name: &[u8]) -> bool {
    name.iter().all(|&c| (b'!'..=b'~').contains(&c))
}

/// Sets or clears (empty name) the connection's name, replying with Redis's error when invalid.
/// Returns whether the name was accepted.
pub fn set_client_name(ctx: &mut Ctx, name: &[u8]) -> bool {
    if !valid_client_name(name) {
        ctx.out
            .error("ERR Client names cannot contain spaces, newlines or special characters.");
        return false;
    }
    *ctx.client.handle.name.lock() = if name.is_empty() { None } else { Some(name.to_vec()) };
    true
}

fn client_help(ctx: &mut Ctx, _args: &[&[u8]]) {
    help_reply(
        ctx.out,
        "client",
        &[
            "CACHING (YES|NO)",
            "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
            "GETREDIR",
            "    Return the client ID we are redirecting to when tracking is enabled.",
            "GETNAME",
            "    Return the name of the current connection.",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "KILL <ip:port>",
            "    Kill connection made from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections. Options are:",
            "    * ADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made from the specified address",
            "    * LADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made to specified local address",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Kill connections by type.",
            "    * USER <username>",
            "      Kill connections authenticated by <username>.",
            "    * SKIPME (YES|NO)",
            "      Skip killing current connection (default: yes).",
            "LIST [options ...]",
            "    Return information about client connections. Options:",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Return clients of specified type.",
            "UNPAUSE",
            "    Stop the current client pause, resuming traffic.",
            "PAUSE <timeout> [WRITE|ALL]",
            "    Suspend all, or just write, clients for <timeout> milliseconds.",
            "REPLY (ON|OFF|SKIP)",
            "    Control the replies sent to the current connection.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "UNBLOCK <clientid> [TIMEOUT|ERROR]",
            "    Unblock the specified blocked client.",
            "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
            "         [OPTIN] [OPTOUT] [NOLOOP]",
            "    Control server assisted client side caching.",
            "TRACKINGINFO",
            "    Report tracking status for the current connection.",
            "NO-EVICT (ON|OFF)",
            "    Protect current client connection from eviction.",
        ],
    );
}

fn client_id(ctx: &mut Ctx, _args: &[&[u8]]) {
    ctx.out.int(ctx.client.id as i64);
}

fn client_getname(ctx: &mut Ctx, _args: &[&[u8]]) {
    let name = ctx.client.handle.name.lock().clone();
    match name {
        Some(n) => ctx.out.bulk(&n),
        None => ctx.out.null(),
    }
}

fn client_setname(ctx: &mut Ctx, args: &[&[u8]]) {
    if set_client_name(ctx, args[2]) {
        ctx.out.ok();
    }
}

/// CLIENT SETINFO LIB-NAME|LIB-VER value (Redis 7.2).
fn client_setinfo(ctx: &mut Ctx, args: &[&[u8]]) {
    let attr = args[2].to_ascii_lowercase();
    let slot = match attr.as_slice() {
        b"lib-name" => &ctx.client.handle.lib_name,
        b"lib-ver" => &ctx.client.handle.lib_ver,
        _ => {
            ctx.out.error(&format!(
                "ERR Unrecognized option '{}'",
                String::from_utf8_lossy(args[2])
            ));
            return;
        }
    };
    let v = args[3];
    if !valid_client_name(v) {
        ctx.out.error(&format!(
            "ERR {} cannot contain spaces, newlines or special characters.",
            String::from_utf8_lossy(&attr)
        ));
        return;
    }
    *slot.lock() = if v.is_empty() { None } else { Some(v.to_vec()) };
    ctx.out.ok();
}

fn client_info(ctx: &mut Ctx, _args: &[&[u8]]) {
    let mut line = ctx.client.handle.info_line(ctx.now_ms);
    line.push('\n');
    ctx.out.verbatim(line.as_bytes());
}

fn client_list(ctx: &mut Ctx, args: &[&[u8]]) {
    let mut kind = None;
    let mut ids = None;
    if args.len() == 4 && args[2].eq_ignore_ascii_case(b"type") {
        match ClientType::parse(args[3]) {
            Some(t) => kind = Some(t),
            None => {
                ctx.out.error(&format!(
                    "ERR Unknown client type '{}'",
                    String::from_utf8_lossy(args[3])
                ));
                return;
            }
        }
    } else if args.len() > 3 && args[2].eq_ignore_ascii_case(b"id") {
        let mut v = Vec::new();
        for a in &args[3..] {
            match crate::util::num::parse_i64(a) {
                Some(id) => v.push(id),
                None => {
                    ctx.out.error("ERR Invalid client ID");
                    return;
                }
            }
        }
        ids = Some(v);
    } else if args.len() != 2 {
        ctx.out.syntax_error();
        return;
    }
    let now = ctx.now_ms;
    let mut text = String::new();
    match ids {
        Some(ids) => {
            for id in ids {
                if let Some(h) = u64::try_from(id).ok().and_then(|id| ctx.srv.clients.get(id)) {
                    text.push_str(&h.info_line(now));
                    text.push('\n');
                }
            }
        }
        None => {
            for h in ctx.srv.clients.all() {
                if kind.is_some_and(|k| h.kind() != k) {
                    continue;
                }
                text.push_str(&h.info_line(now));
                text.push('\n');
            }
        }
    }
    ctx.out.verbatim(text.as_bytes());
}

/// CLIENT KILL addr | CLIENT KILL [ID id] [TYPE t] [ADDR a] [LADDR a] [USER u] [SKIPME y/n]
/// [MAXAGE secs]. The old form replies OK or an error; the new one the number killed.
fn client_kill(ctx: &mut Ctx, args: &[&[u8]]) {
    let mut addr: Option<&[u8]> = None;
    let mut laddr: Option<&[u8]> = None;
    let mut kind = None;
    let mut id: u64 = 0;
    let mut skipme = true;
    let mut maxage: Option<i64> = None;
    let old_form = args.len() == 3;
    if old_form {
        addr = Some(args[2]);
        skipme = false;
    } else {
        let mut i = 2;
        while i < args.len() {
            let more = i + 1 < args.len();
            let opt = args[i].to_ascii_lowercase();
            match opt.as_slice() {
                b"id" if more => match crate::util::num::parse_i64(args[i + 1]) {
                    Some(n) if n >= 1 => id = n as u64,
                    _ => {
                        ctx.out.error("ERR client-id should be greater than 0");
                        return;
                    }
                },
                b"type" if more => match ClientType::parse(args[i + 1]) {
                    Some(t) => kind = Some(t),
                    None => {
                        ctx.out.error(&format!(
                            "ERR Unknown client type '{}'",
                            String::from_utf8_lossy(args[i + 1])
                        ));
                        return;
                    }
                },
                b"addr" if more => addr = Some(args[i + 1]),
                b"laddr" if more => laddr = Some(args[i + 1]),
                b"user" if more => {
                    // Only the default user exists until ACL lands.
                    if args[i + 1] != b"default" {
                        ctx.out
                            .error(&format!("ERR No such user '{}'", String::from_utf8_lossy(args[i + 1])));
                        return;
                    }
                }
                b"skipme" if more => {
                    if args[i + 1].eq_ignore_ascii_case(b"yes") {
                        skipme = true;
                    } else if args[i + 1].eq_ignore_ascii_case(b"no") {
                        skipme = false;
                    } else {
                        ctx.out.syntax_error();
                        return;
                    }
                }
                b"maxage" if more => match crate::util::num::parse_i64(args[i + 1]) {
                    Some(n) if n >= 0 => maxage = Some(n),
                    _ => {
                        ctx.out.not_integer();
                        return;
                    }
                },
                _ => {
                    ctx.out.syntax_error();
                    return;
                }
            }
            i += 2;
        }
    }
    let me = ctx.client.id;
    let mut killed = 0;
    let mut close_me = false;
    for h in ctx.srv.clients.all() {
        if addr.is_some_and(|a| a != h.addr.as_bytes())
            || laddr.is_some_and(|a| a != h.laddr.as_bytes())
            || kind.is_some_and(|k| h.kind() != k)
            || (id != 0 && h.id != id)
            || maxage.is_some_and(|m| h.age_secs(ctx.now_ms) < m)
        {
            continue;
        }
        if h.id == me {
            if skipme {
                continue;
            }
            close_me = true;
        } else {
            // Gone from the registry at once (INFO and CLIENT LIST agree right away); the
            // connection's task closes the socket when it wakes.
            ctx.srv.clients.remove(h.id);
            monitor::remove(ctx.srv, h.id);
            h.kill();
        }
        killed += 1;
    }
    if old_form {
        if killed == 0 {
            ctx.out.error("ERR No such client");
        } else {
            ctx.out.ok();
        }
    } else {
        ctx.out.int(killed);
    }
    if close_me {
        ctx.client.close_after_reply = true;
    }
}

fn client_reply(ctx: &mut Ctx, args: &[&[u8]]) {
    let mode = args[2].to_ascii_lowercase();
    match mode.as_slice() {
        b"on" => {
            ctx.client.reply_mode = ReplyMode::On;
            ctx.out.ok();
        }
        // OFF and SKIP reply nothing themselves: dispatch drops this command's output while
        // the mode is Off, and turns SkipNext into Skip for the next command.
        b"off" => ctx.client.reply_mode = ReplyMode::Off,
        b"skip" => {
            if ctx.client.reply_mode != ReplyMode::Off {
                ctx.client.reply_mode = ReplyMode::SkipNext;
            }
        }
        _ => ctx.out.syntax_error(),
    }
}

fn client_no_evict(ctx: &mut Ctx, args: &[&[u8]]) {
    let v = args[2].to_ascii_lowercase();
    match v.as_slice() {
        b"on" | b"off" => {
            ctx.client.handle.no_evict.store(v == b"on", Relaxed);
            ctx.out.ok();
        }
        _ => ctx.out.syntax_error(),
    }
}

/// CLIENT PAUSE timeout [WRITE|ALL]: a later end and the stricter mode win over a pause
/// already in force, as in Redis.
fn client_pause(ctx: &mut Ctx, args: &[&[u8]]) {
    if args.len() > 4 {
        ctx.out.syntax_error();
        return;
    }
    let mut write_only = false;
    if args.len() == 4 {
        let m = args[3].to_ascii_lowercase();
        match m.as_slice() {
            b"write" => write_only = true,
            b"all" => {}
            _ => {
                ctx.out.error("ERR CLIENT PAUSE mode must be WRITE or ALL");
                return;
            }
        }
    }
    let Some(ms) = crate::util::num::parse_i64(args[2]) else {
        ctx.out.error("ERR timeout is not an integer or out of range");
        return;
    };
    if ms < 0 {
        ctx.out.error("ERR timeout is negative");
        return;
    }
    let end = ctx.now_ms.saturating_add(ms);
    let p = &ctx.srv.pause;
    let now = unix_ms();
    let active = p.until_ms.load(Relaxed) > now;
    if active {
        let keep_write_only = p.write_only.load(Relaxed) && write_only;
        p.write_only.store(keep_write_only, Relaxed);
        p.until_ms.fetch_max(end, Relaxed);
    } else {
        p.write_only.store(write_only, Relaxed);
        p.until_ms.store(end, Relaxed);
    }
    ctx.out.ok();
}

fn client_unpause(ctx: &mut Ctx, _args: &[&[u8]]) {
    ctx.srv.pause.until_ms.store(0, Relaxed);
    ctx.srv.pause.write_only.store(false, Relaxed);
    // Paused connections poll; wake them so they resume at once.
    for h in ctx.srv.clients.all() {
        h.wake();
    }
    ctx.out.ok();
}

/// Client-side caching is not built yet: TRACKING OFF is accepted, ON answers an error after
/// Redis's own option checks.
fn client_tracking(ctx: &mut Ctx, args: &[&[u8]]) {
    let mut j = 3;
    while j < args.len() {
        let more = j + 1 < args.len();
        let opt = args[j].to_ascii_lowercase();
        match opt.as_slice() {
            b"redirect" if more => {
                let Some(id) = crate::util::num::parse_i64(args[j + 1]) else {
                    ctx.out.not_integer();
                    return;
                };
                if u64::try_from(id).ok().and_then(|id| ctx.srv.clients.get(id)).is_none() {
                    ctx.out.error("ERR The client ID you want redirect to does not exist");
                    return;
                }
                j += 1;
            }
            b"prefix" if more => j += 1,
            b"bcast" | b"optin" | b"optout" | b"noloop" => {}
            _ => {
                ctx.out.syntax_error();
                return;
            }
        }
        j += 1;
    }
    let mode = args[2].to_ascii_lowercase();
    match mode.as_slice() {
        b"off" => ctx.out.ok(),
        b"on" => ctx
            .out
            .error("ERR client side caching (CLIENT TRACKING) is not supported yet"),
        _ => ctx.out.syntax_error(),
    }
}

fn client_caching(ctx: &mut Ctx, _args: &[&[u8]]) {
    ctx.out.error(
        "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled",
    );
}

fn client_getredir(ctx: &mut Ctx, _args: &[&[u8]]) {
    ctx.out.int(-1);
}

fn client_trackinginfo(ctx: &mut Ctx, _args: &[&[u8]]) {
    let out = &mut *ctx.out;
    out.map(3);
    out.bulk(b"flags");
    out.set(1);
    out.bulk(b"off");
    out.bulk(b"redirect");
    out.int(-1);
    out.bulk(b"prefixes");
    out.array(0);
}

/// No command blocks yet, so there is never a client to unblock.
fn client_unblock(ctx: &mut Ctx, args: &[&[u8]]) {
    if args.len() > 4 {
        ctx.out.syntax_error();
        return;
    }
    if args.len() == 4 && !args[3].eq_ignore_ascii_case(b"timeout") && !args[3].eq_ignore_ascii_case(b"error") {
        ctx.out.error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR");
        return;
    }
    if crate::util::num::parse_i64(args[2]).is_none() {
        ctx.out.not_integer();
        return;
    }
    ctx.out.int(0);
}

/// MONITOR: from now on the connection receives every command run by any client. A client
/// already monitoring gets no reply, as in Redis.
fn monitor_cmd(ctx: &mut Ctx, _args: &[&[u8]]) {
    if ctx.client.handle.multi.load(Relaxed) >= 0 {
        ctx.out.error("ERR MONITOR isn't allowed for DENY BLOCKING client");
        return;
    }
    if ctx.client.handle.is_monitor.swap(true, Relaxed) {
        return;
    }
    ctx.srv.monitors.add(ctx.client.handle.clone());
    ctx.out.ok();
}

/// The error Redis gives for a known subcommand used with the wrong arguments.
fn subcommand_syntax_error(ctx: &mut Ctx, args: &[&[u8]]) {
    ctx.out.error(&format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
        String::from_utf8_lossy(args[1]),
        String::from_utf8_lossy(args[0]).to_uppercase()
    ));
}

fn slowlog_help(ctx: &mut Ctx, _args: &[&[u8]]) {
    help_reply(
        ctx.out,
        "slowlog",
        &[
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
        ],
    );
}

fn slowlog_get(ctx: &mut Ctx, args: &[&[u8]]) {
    if args.len() > 3 {
        subcommand_syntax_error(ctx, args);
        return;
    }
    let mut count: usize = 10;
    if args.len() == 3 {
        match crate::util::num::parse_i64(args[2]) {
            Some(-1) => count = usize::MAX,
            Some(n) if n >= 0 => count = n as usize,
            _ => {
                ctx.out.error("ERR count should be greater than or equal to -1");
                return;
            }
        }
    }
    let log = ctx.srv.slowlog.entries.lock();
    let n = count.min(log.len());
    let out = &mut *ctx.out;
    out.array(n);
    for e in log.iter().take(n) {
        out.array(6);
        out.int(e.id as i64);
        out.int(e.time);
        out.int(e.duration_us as i64);
        out.array(e.args.len());
        for a in &e.args {
            out.bulk(a);
        }
        out.bulk(e.peer.as_bytes());
        out.bulk(e.name.as_bytes());
    }
}

fn slowlog_len(ctx: &mut Ctx, _args: &[&[u8]]) {
    ctx.out.int(ctx.srv.slowlog.len() as i64);
}

fn slowlog_reset(ctx: &mut Ctx, _args: &[&[u8]]) {
    ctx.srv.slowlog.reset();
    ctx.out.ok();
}

fn latency_help(ctx: &mut Ctx, _args: &[&[u8]]) {
    help_reply(
        ctx.out,
        "latency",
        &[
            "DOCTOR",
            "    Return a human readable latency analysis report.",
            "GRAPH <event>",
            "    Return an ASCII latency graph for the <event> class.",
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
            "HISTOGRAM [COMMAND ...]",
            "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
            "    If no commands are specified then all histograms are replied.",
        ],
    );
}

fn latency_latest(ctx: &mut Ctx, _args: &[&[u8]]) {
    let events = ctx.srv.latency.events.lock();
    let out = &mut *ctx.out;
    out.array(events.len());
    for (name, e) in events.iter() {
        let (t, ms) = e.samples.back().copied().unwrap_or((0, 0));
        out.array(4);
        out.bulk(name.as_bytes());
        out.int(t);
        out.int(ms as i64);
        out.int(e.max as i64);
    }
}

fn latency_history(ctx: &mut Ctx, args: &[&[u8]]) {
    let events = ctx.srv.latency.events.lock();
    let out = &mut *ctx.out;
    match events.get(String::from_utf8_lossy(args[2]).as_ref()) {
        None => out.array(0),
        Some(e) => {
            out.array(e.samples.len());
            for (t, ms) in &e.samples {
                out.array(2);
                out.int(*t);
                out.int(*ms as i64);
            }
        }
    }
}

fn latency_reset(ctx: &mut Ctx, args: &[&[u8]]) {
    let n = ctx.srv.latency.reset(&args[2..]);
    ctx.out.int(n as i64);
}

/// An ASCII chart of an event's samples: a header, a rule, and one column per sample whose
/// height follows the latency (a simpler drawing than Redis's sparkline, same information).
fn latency_graph(ctx: &mut Ctx, args: &[&[u8]]) {
    let name = String::from_utf8_lossy(args[2]).into_owned();
    let events = ctx.srv.latency.events.lock();
    let Some(e) = events.get(&name) else {
        drop(events);
        ctx.out.error(&format!("ERR No samples available for event '{name}'"));
        return;
    };
    let max = e.samples.iter().map(|s| s.1).max().unwrap_or(0);
    let min = e.samples.iter().map(|s| s.1).min().unwrap_or(0);
    let mut g = format!("{name} - high {max} ms, low {min} ms (all time high {} ms)\n", e.max);
    g.push_str(&"-".repeat(80));
    g.push('\n');
    const ROWS: u64 = 4;
    let cols: Vec<&(i64, u64)> = e
        .samples
        .iter()
        .rev()
        .take(80)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    for row in (1..=ROWS).rev() {
        let line: String = cols
            .iter()
            .map(|(_, ms)| {
                let h = if max == 0 { 0 } else { (ms * ROWS).div_ceil(max) };
                if h >= row {
                    '#'
                } else if h + 1 == row {
                    '_'
                } else {
                    ' '
                }
            })
            .collect();
        g.push_str(line.trim_end());
        g.push('\n');
    }
    let now = ctx.now_ms / 1000;
    let labels: Vec<String> = cols
        .iter()
        .map(|(t, _)| {
            let ago = (now - t).max(0);
            match ago {
                a if a < 60 => format!("{a}s"),
                a if a < 3600 => format!("{}m", a / 60),
                a if a < 86400 => format!("{}h", a / 3600),
                a => format!("{}d", a / 86400),
            }
        })
        .collect();
    let width = labels.iter().map(|l| l.len()).max().unwrap_or(0);
    for i in 0..width {
        let line: String = labels.iter().map(|l| l.chars().nth(i).unwrap_or(' ')).collect();
        g.push_str(line.trim_end());
        g.push('\n');
    }
    drop(events);
    ctx.out.verbatim(g.as_bytes());
}

fn latency_doctor(ctx: &mut Ctx, _args: &[&[u8]]) {
    let threshold = ctx.srv.config.hot.latency_monitor_threshold.load(Relaxed);
    let events = ctx.srv.latency.events.lock();
    let mut r = String::new();
    if threshold == 0 && events.is_empty() {
        r.push_str("I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n");
    } else if events.is_empty() {
        r.push_str("Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n");
    } else {
        r.push_str("Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n");
        for (i, (name, e)) in events.iter().enumerate() {
            let n = e.samples.len().max(1) as u64;
            let avg = e.samples.iter().map(|s| s.1).sum::<u64>() / n;
            let mad = e.samples.iter().map(|s| s.1.abs_diff(avg)).sum::<u64>() / n;
            let period = match (e.samples.front(), e.samples.back()) {
                (Some(a), Some(b)) => (b.0 - a.0) as f64 / n as f64,
                _ => 0.0,
            };
            r.push_str(&format!(
                "{}. {name}: {} latency spikes (average {avg}ms, mean deviation {mad}ms, period {period:.2} sec). Worst all time event {}ms.\n",
                i + 1,
                e.samples.len(),
                e.max
            ));
        }
        r.push_str("\nI have a few advices for you:\n\n");
        r.push_str("- Check your Slow Log to understand what are the commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog for more information.\n");
        r.push_str("- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking operation. If you have very large objects that are often deleted, expired, or evicted, try to fragment those objects into multiple smaller objects.\n");
    }
    drop(events);
    ctx.out.verbatim(r.as_bytes());
}

/// Writes one command's entry of LATENCY HISTOGRAM: `{calls, histogram_usec: {bucket: count}}`.
fn write_histogram(out: &mut crate::protocol::reply::Reply, name: &str, h: &LatencyHistogram) {
    out.bulk(name.as_bytes());
    out.map(2);
    out.bulk(b"calls");
    out.int(h.count() as i64);
    out.bulk(b"histogram_usec");
    let cdf = h.cdf_usec();
    out.map(cdf.len());
    for (us, n) in cdf {
        out.int(us as i64);
        out.int(n as i64);
    }
}

/// LATENCY HISTOGRAM [command ...]: per-command latency distributions of the commands that
/// ran since the last CONFIG RESETSTAT; a container name stands for its subcommands.
fn latency_histogram(ctx: &mut Ctx, args: &[&[u8]]) {
    let srv = ctx.srv;
    let mut picked: Vec<&crate::commands::Command> = Vec::new();
    if args.len() == 2 {
        picked.extend(srv.commands.all());
    } else {
        for a in &args[2..] {
            let Some(c) = super::command::lookup_full(srv, a) else {
                continue;
            };
            if c.subcommands.is_empty() {
                picked.push(c);
            } else {
                picked.extend(c.subcommands.values());
            }
        }
    }
    picked.sort_by(|a, b| a.full_name.cmp(&b.full_name));
    picked.dedup_by(|a, b| a.id == b.id);
    let found: Vec<(&str, LatencyHistogram)> = picked
        .iter()
        .filter_map(|c| {
            srv.stats
                .histogram(&srv.commands, c.id)
                .map(|h| (c.full_name.as_str(), h))
        })
        .collect();
    ctx.out.map(found.len());
    for (name, h) in found {
        write_histogram(ctx.out, name, &h);
    }
}

fn memory_help(ctx: &mut Ctx, _args: &[&[u8]]) {
    help_reply(
        ctx.out,
        "memory",
        &[
            "DOCTOR",
            "    Return memory problems reports.",
            "MALLOC-STATS",
            "    Return internal statistics report from the memory allocator.",
            "PURGE",
            "    Attempt to purge dirty pages for reclamation by the allocator.",
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
        ],
    );
}

/// Bytes an allocation of `n` bytes really takes (allocator size classes of 8/16 bytes).
fn alloc_size(n: usize) -> usize {
    if n <= 64 {
        n.div_ceil(8) * 8
    } else {
        n.div_ceil(16) * 16
    }
}

/// MEMORY USAGE key [SAMPLES n]: the key's bytes as Redis estimates them (hash table entry,
/// key string, value object).
fn memory_usage(ctx: &mut Ctx, args: &[&[u8]]) {
    let mut j = 3;
    while j < args.len() {
        if args[j].eq_ignore_ascii_case(b"samples") && j + 1 < args.len() {
            match crate::util::num::parse_i64(args[j + 1]) {
                Some(n) if n >= 0 => {}
                Some(_) => {
                    ctx.out.syntax_error();
                    return;
                }
                None => {
                    ctx.out.not_integer();
                    return;
                }
            }
            j += 2;
        } else {
            ctx.out.syntax_error();
            return;
        }
    }
    let db = ctx.db();
    let mut shard = db.lock(args[2]);
    let size = match shard.get(args[2], ctx.now_ms, ctx.ks_stats()) {
        None => None,
        Some(e) => {
            use crate::keyspace::Value;
            let value = match &e.value {
                Value::Int(_) => 16,
                Value::Small(sm) => alloc_size(16 + 3 + sm.as_bytes().len() + 1),
                Value::Str(b) => alloc_size(16 + 3 + b.len() + 1),
                Value::Raw(v) => 16 + alloc_size(v.capacity() + 3 + 1),
            };
            Some(24 + alloc_size(args[2].len() + 3 + 1) + value)
        }
    };
    drop(shard);
    match size {
        Some(n) => ctx.out.int(n as i64),
        None => ctx.out.null(),
    }
}

fn memory_doctor(ctx: &mut Ctx, _args: &[&[u8]]) {
    let used = crate::server::info::used_memory();
    let text = if used < 5 * 1024 * 1024 {
        "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting."
    } else {
        "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base."
    };
    ctx.out.verbatim(text.as_bytes());
}

fn memory_malloc_stats(ctx: &mut Ctx, _args: &[&[u8]]) {
    let used = crate::server::info::used_memory();
    let rss = crate::server::info::rss_memory();
    let text = format!("Stats not supported for the current allocator (mimalloc): allocated={used} resident={rss}\n");
    ctx.out.verbatim(text.as_bytes());
}

fn memory_purge(ctx: &mut Ctx, _args: &[&[u8]]) {
    ctx.out.ok();
}

/// MEMORY STATS: the fields Redis reports, with Ochre's figures where it has them.
fn memory_stats(ctx: &mut Ctx, _args: &[&[u8]]) {
    let srv = ctx.srv;
    let used = crate::server::info::used_memory();
    let peak = srv.stats.used_memory_peak.load(Relaxed).max(used);
    let rss = crate::server::info::rss_memory();
    let startup = 0u64;
    let dbs: Vec<(usize, usize, usize)> = srv
        .keyspace
        .dbs
        .iter()
        .enumerate()
        .filter(|(_, d)| !d.is_empty())
        .map(|(i, d)| (i, d.len(), d.volatile()))
        .collect();
    let keys: usize = dbs.iter().map(|d| d.1).sum();
    let overhead_db: u64 = dbs.iter().map(|d| (d.1 * 32 + d.2 * 32) as u64).sum();
    let clients = srv.clients.count() as u64 * 20 * 1024;
    let overhead = startup + clients + overhead_db;
    let dataset = used.saturating_sub(overhead);
    let out = &mut *ctx.out;
    out.map(28 + dbs.len());
    let pair_int = |out: &mut crate::protocol::reply::Reply, k: &str, v: u64| {
        out.bulk(k.as_bytes());
        out.int(v as i64);
    };
    let pair_f = |out: &mut crate::protocol::reply::Reply, k: &str, v: f64| {
        out.bulk(k.as_bytes());
        out.double(v);
    };
    pair_int(out, "peak.allocated", peak);
    pair_int(out, "total.allocated", used);
    pair_int(out, "startup.allocated", startup);
    pair_int(out, "replication.backlog", 0);
    pair_int(out, "clients.slaves", 0);
    pair_int(out, "clients.normal", clients);
    pair_int(out, "cluster.links", 0);
    pair_int(out, "aof.buffer", 0);
    pair_int(out, "lua.caches", 0);
    pair_int(out, "functions.caches", 0);
    for (i, k, v) in &dbs {
        out.bulk(format!("db.{i}").as_bytes());
        out.map(2);
        pair_int(out, "overhead.hashtable.main", (*k * 32) as u64);
        pair_int(out, "overhead.hashtable.expires", (*v * 32) as u64);
    }
    pair_int(out, "overhead.hashtable.slot-to-keys", 0);
    pair_int(out, "overhead.total", overhead);
    pair_int(out, "keys.count", keys as u64);
    pair_int(out, "keys.bytes-per-key", if keys > 0 { used / keys as u64 } else { 0 });
    pair_int(out, "dataset.bytes", dataset);
    let pct = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 * 100.0 / b as f64 };
    pair_f(out, "dataset.percentage", pct(dataset, used.saturating_sub(startup)));
    pair_f(out, "peak.percentage", pct(used, peak));
    pair_int(out, "allocator.allocated", used);
    pair_int(out, "allocator.active", used);
    pair_int(out, "allocator.resident", rss);
    pair_f(out, "allocator-fragmentation.ratio", 1.0);
    pair_int(out, "allocator-fragmentation.bytes", 0);
    pair_f(
        out,
        "allocator-rss.ratio",
        if used > 0 { rss as f64 / used as f64 } else { 1.0 },
    );
    pair_int(out, "allocator-rss.bytes", rss.saturating_sub(used));
    pair_f(out, "rss-overhead.ratio", 1.0);
    pair_int(out, "rss-overhead.bytes", 0);
    pair_f(
        out,
        "fragmentation",
        if used > 0 { rss as f64 / used as f64 } else { 1.0 },
    );
    pair_int(out, "fragmentation.bytes", rss.saturating_sub(used));
}
