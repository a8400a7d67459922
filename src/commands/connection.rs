//! Connection commands: PING ECHO HELLO AUTH SELECT QUIT RESET.
//! (CLIENT lives in introspection.rs.)

use super::{def, CommandDef, Ctx};
use crate::server::client::ReplyMode;
use std::sync::atomic::Ordering::Relaxed;

pub static COMMANDS: &[CommandDef] = &[
    def(
        "ping",
        -1,
        "fast sentinel",
        (0, 0, 0),
        "@connection",
        "connection",
        "1.0.0",
        "Ping the server",
        ping,
    ),
    def(
        "echo",
        2,
        "loading stale fast",
        (0, 0, 0),
        "@connection",
        "connection",
        "1.0.0",
        "Echo the given string",
        echo,
    ),
    def(
        "hello",
        -1,
        "noscript loading stale fast no_auth sentinel allow_busy",
        (0, 0, 0),
        "@connection",
        "connection",
        "6.0.0",
        "Handshake with Redis",
        hello,
    ),
    def(
        "auth",
        -2,
        "noscript loading stale fast no_auth sentinel allow_busy",
        (0, 0, 0),
        "@connection",
        "connection",
        "1.0.0",
        "Authenticate to the server",
        auth,
    ),
    def(
        "select",
        2,
        "loading stale fast",
        (0, 0, 0),
        "@connection",
        "connection",
        "1.0.0",
        "Change the selected database for the current connection",
        select,
    ),
    def(
        "quit",
        -1,
        "noscript loading stale fast no_auth allow_busy",
        (0, 0, 0),
        "@connection",
        "connection",
        "1.0.0",
        "Close the connection",
        quit,
    ),
    def(
        "reset",
        1,
        "noscript loading stale fast no_auth allow_busy",
        (0, 0, 0),
        "@connection",
        "connection",
        "6.2.0",
        "Reset the connection",
        reset,
    ),
];

fn ping(ctx: &mut Ctx, args: &[&[u8]]) {
    if args.len() > 2 {
        ctx.out.error("ERR wrong number of arguments for 'ping' command");
        return;
    }
    // A RESP2 subscriber gets PING as a two-element array, as Redis.
    if ctx.client.subs.active && ctx.out.resp == 2 {
        ctx.out.array(2);
        ctx.out.bulk(b"pong");
        ctx.out.bulk(args.get(1).copied().unwrap_or(b""));
        return;
    }
    match args.get(1) {
        Some(msg) => ctx.out.bulk(msg),
        None => ctx.out.simple("PONG"),
    }
}

fn echo(ctx: &mut Ctx, args: &[&[u8]]) {
    ctx.out.bulk(args[1]);
}

fn check_password(ctx: &Ctx, user: &[u8], pass: &[u8]) -> bool {
    let required = ctx.srv.config.hot.requirepass.read().clone();
    if user != b"default" {
        return false;
    }
    match required {
        None => true,
        Some(p) => p == pass,
    }
}

fn auth(ctx: &mut Ctx, args: &[&[u8]]) {
    if args.len() > 3 {
        ctx.out.syntax_error();
        return;
    }
    let (user, pass): (&[u8], &[u8]) = if args.len() == 3 {
        (args[1], args[2])
    } else {
        (b"default", args[1])
    };
    if args.len() == 2 && ctx.srv.config.hot.requirepass.read().is_none() {
        ctx.out.error("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?");
        return;
    }
    if check_password(ctx, user, pass) {
        ctx.client.authenticated = true;
        ctx.out.ok();
    } else {
        ctx.out
            .error("WRONGPASS invalid username-password pair or user is disabled.");
    }
}

fn hello(ctx: &mut Ctx, args: &[&[u8]]) {
    let mut i = 1;
    let mut version = None;
    if args.len() >= 2 {
        match crate::util::num::parse_i64(args[1]) {
            Some(v) if (2..=3).contains(&v) => version = Some(v as u8),
            Some(_) => {
                ctx.out.error("NOPROTO unsupported protocol version");
                return;
            }
            None => {
                ctx.out.error("ERR Protocol version is not an integer or out of range");
                return;
            }
        }
        i = 2;
    }
    // Options apply as they are read, as in Redis: a SETNAME before a failing AUTH sticks.
    while i < args.len() {
        let opt = args[i].to_ascii_lowercase();
        let more = args.len() - i - 1;
        if opt == b"auth" && more >= 2 {
            if !check_password(ctx, args[i + 1], args[i + 2]) {
                ctx.out
                    .error("WRONGPASS invalid username-password pair or user is disabled.");
                return;
            }
            ctx.client.authenticated = true;
            i += 3;
        } else if opt == b"setname" && more >= 1 {
            if !super::client::set_client_name(ctx, args[i + 1]) {
                return;
            }
            i += 2;
        } else {
            ctx.out.error(&format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(args[i])
            ));
            return;
        }
    }
    if !ctx.client.authenticated {
        ctx.out.error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
        return;
    }
    if let Some(v) = version {
        ctx.out.resp = v;
        ctx.client.handle.resp.store(v as usize, Relaxed);
    }
    let out = &mut *ctx.out;
    out.map(7);
    out.bulk(b"server");
    out.bulk(b"redis");
    out.bulk(b"version");
    out.bulk(crate::REDIS_VERSION.as_bytes());
    out.bulk(b"proto");
    out.int(out.resp as i64);
    out.bulk(b"id");
    out.int(ctx.client.id as i64);
    out.bulk(b"mode");
    out.bulk(b"standalone");
    out.bulk(b"role");
    out.bulk(b"master");
    out.bulk(b"modules");
    out.array(0);
}

fn select(ctx: &mut Ctx, args: &[&[u8]]) {
    let Some(n) = crate::util::num::parse_i64(args[1]) else {
        ctx.out.error("ERR value is not an integer or out of range");
        return;
    };
    if n < 0 || n as usize >= ctx.srv.keyspace.dbs.len() {
        ctx.out.error("ERR DB index is out of range");
        return;
    }
    ctx.client.select(n as usize);
    ctx.out.ok();
}

fn quit(ctx: &mut Ctx, _args: &[&[u8]]) {
    ctx.out.ok();
    ctx.client.close_after_reply = true;
}

fn reset(ctx: &mut Ctx, _args: &[&[u8]]) {
    crate::server::multi::discard(ctx.srv, ctx.client);
    crate::server::pubsub::unsubscribe_all(ctx.srv, ctx.client);
    ctx.client.select(0);
    ctx.client.reply_mode = ReplyMode::On;
    ctx.out.resp = 2;
    ctx.client.handle.resp.store(2, Relaxed);
    *ctx.client.handle.name.lock() = None;
    ctx.client.handle.no_evict.store(false, Relaxed);
    if ctx.client.handle.is_monitor.swap(false, Relaxed) {
        crate::server::monitor::remove(ctx.srv, ctx.client.id);
    }
    ctx.client.authenticated = ctx.srv.config.hot.requirepass.read().is_none();
    ctx.out.simple("RESET");
}
