//! CLIENT and its subcommands: naming, listing and killing connections, CLIENT PAUSE, CLIENT
//! REPLY, and the client-side caching subcommands (answered as an untracked client for now).

use super::{container, def, help_reply, CommandDef, Ctx};
use crate::server::client::{ClientType, ReplyMode};
use crate::server::{monitor, unix_ms};
use std::sync::atomic::Ordering::Relaxed;

#[rustfmt::skip]
pub static COMMANDS: &[CommandDef] = &[
    container("client", "connection", "2.4.0", "A container for client connection commands", CLIENT),
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
    // While clients are paused the dataset must not change: expiry keeps expired keys (they read
    // as missing) until the pause ends, as in Redis.
    ctx.srv
        .keyspace
        .stats
        .expire_paused_until
        .store(p.until_ms.load(Relaxed), Relaxed);
    ctx.out.ok();
}

fn client_unpause(ctx: &mut Ctx, _args: &[&[u8]]) {
    ctx.srv.pause.until_ms.store(0, Relaxed);
    ctx.srv.pause.write_only.store(false, Relaxed);
    ctx.srv.keyspace.stats.expire_paused_until.store(0, Relaxed);
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

/// Unblocks a client blocked in BLPOP and friends, as if it timed out or with an error.
fn client_unblock(ctx: &mut Ctx, args: &[&[u8]]) {
    if args.len() > 4 {
        ctx.out.syntax_error();
        return;
    }
    if args.len() == 4 && !args[3].eq_ignore_ascii_case(b"timeout") && !args[3].eq_ignore_ascii_case(b"error") {
        ctx.out.error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR");
        return;
    }
    let Some(id) = crate::util::num::parse_i64(args[2]) else {
        ctx.out.not_integer();
        return;
    };
    let error = args.len() == 4 && args[3].eq_ignore_ascii_case(b"error");
    let done = u64::try_from(id).is_ok_and(|id| ctx.srv.blocking.unblock(id, error));
    ctx.out.int(done as i64);
}
