//! Replication commands, the master's side (`replication.c`): SYNC and PSYNC hand a replica
//! the dataset and attach it to the write stream (`crate::replication`); REPLCONF carries the
//! replica's handshake and acknowledgements.

use super::{def, CommandDef, Ctx};
use crate::persistence::snapshot;
use crate::server::client::ReplyMode;
use crate::util::num::parse_i64;

#[rustfmt::skip]
pub static COMMANDS: &[CommandDef] = &[
    // The whole server stops for the instant of the image, so no write is half in it.
    def("sync", 1, "admin noscript no_async_loading no_multi", (0, 0, 0), "@admin @slow @dangerous", "server", "1.0.0", "An internal command used in replication", sync).exclusive(),
    def("psync", -3, "admin noscript no_async_loading no_multi", (0, 0, 0), "@admin @slow @dangerous", "server", "2.8.0", "An internal command used in replication", psync).exclusive(),
    // Run with the server stopped, so no command of the old master lands after the reply.
    def("replicaof", 3, "no_async_loading admin noscript stale", (0, 0, 0), "@admin @slow @dangerous", "server", "5.0.0", "Make the server a replica of another instance, or promote it as master.", replicaof).exclusive(),
    def("slaveof", 3, "no_async_loading admin noscript stale", (0, 0, 0), "@admin @slow @dangerous", "server", "1.0.0", "Make the server a replica of another instance, or promote it as master.", replicaof).exclusive(),
    def("replconf", -1, "admin noscript loading stale allow_busy", (0, 0, 0), "@admin @slow @dangerous", "server", "3.0.0", "An internal command for configuring the replication stream", replconf),
];

/// REPLICAOF host port | NO ONE (`crate::replication::replica`).
fn replicaof(ctx: &mut Ctx, args: &[&[u8]]) {
    use crate::replication::replica;
    let by = ctx.client.handle.info_line(ctx.now_ms);
    if args[1].eq_ignore_ascii_case(b"no") && args[2].eq_ignore_ascii_case(b"one") {
        replica::unfollow(ctx.srv, &by);
        return ctx.out.ok();
    }
    if ctx.client.handle.is_replica.load(std::sync::atomic::Ordering::Relaxed) {
        return ctx.out.err("Command is not valid when client is a replica.");
    }
    let port = match parse_i64(args[2]) {
        Some(p) if (0..=65535).contains(&p) => p as u16,
        _ => return ctx.out.err("Invalid master port"),
    };
    let host = String::from_utf8_lossy(args[1]).into_owned();
    let reply = replica::follow(ctx.srv, &host, port, &by);
    ctx.out.simple(reply);
}

fn sync(ctx: &mut Ctx, _args: &[&[u8]]) {
    full_resync(ctx, false);
}

/// Every PSYNC gets a full resync: there is no backlog to continue from yet.
fn psync(ctx: &mut Ctx, _args: &[&[u8]]) {
    full_resync(ctx, true);
}

/// Replies with the dataset (`+FULLRESYNC <replid> <offset>` first for PSYNC), an RDB image as a
/// bulk without the final CRLF, as Redis sends it, and attaches the connection to the stream.
fn full_resync(ctx: &mut Ctx, psync: bool) {
    let srv = ctx.srv;
    let image = {
        let libraries = if ctx.client.rdb_no_functions {
            Vec::new()
        } else {
            srv.scripts.functions.codes()
        };
        let mut locked = if ctx.client.rdb_no_data {
            Vec::new()
        } else {
            snapshot::lock_all_dbs(&srv.keyspace)
        };
        snapshot::encode(&mut locked, super::dump::compression(ctx), ctx.now_ms, &libraries)
    };
    if psync {
        let offset = srv.replicas.offset.load(std::sync::atomic::Ordering::Relaxed);
        ctx.out.simple(&format!("FULLRESYNC {} {offset}", srv.run_id));
    }
    ctx.out.raw(format!("${}\r\n", image.len()).as_bytes());
    ctx.out.raw(&image);
    if ctx.client.rdb_only {
        // redis-cli --rdb: the image is all it wanted.
        ctx.client.close_after_reply = true;
        return;
    }
    crate::replication::attach(srv, ctx.client.handle.clone(), ctx.client.replica_port);
    crate::server::log::notice(&format!("Replica {} asks for synchronization", ctx.client.handle.addr));
}

/// REPLCONF <option> <value> ...: `listening-port` is remembered for INFO, `rdb-only` and
/// `rdb-filter-only` shape what SYNC sends (redis-cli --rdb, --functions-rdb, --replica), `ACK`
/// and `GETACK` get no reply (a replica never reads one), `capa` and `ip-address` are accepted.
fn replconf(ctx: &mut Ctx, args: &[&[u8]]) {
    if args.len().is_multiple_of(2) {
        return ctx.out.syntax_error();
    }
    for pair in args[1..].chunks(2) {
        let (opt, val) = (pair[0].to_ascii_lowercase(), pair[1]);
        match opt.as_slice() {
            b"listening-port" => match parse_i64(val) {
                Some(p) if (0..=65535).contains(&p) => ctx.client.replica_port = p as u16,
                _ => return ctx.out.err("value is out of range"),
            },
            b"ack" => {
                if let Some(offset) = parse_i64(val) {
                    crate::replication::acked(ctx.srv, ctx.client.id, offset, ctx.now_ms);
                }
                if ctx.client.reply_mode == ReplyMode::On {
                    ctx.client.reply_mode = ReplyMode::Skip;
                }
                return ctx.out.ok();
            }
            b"getack" => {
                if ctx.client.reply_mode == ReplyMode::On {
                    ctx.client.reply_mode = ReplyMode::Skip;
                }
                return ctx.out.ok();
            }
            b"rdb-only" => ctx.client.rdb_only = val == b"1",
            b"rdb-filter-only" => {
                // Include filters: nothing but what is named (only `functions` exists).
                let (no_data, mut no_functions) = (true, true);
                for f in val.split(|b| b.is_ascii_whitespace()).filter(|f| !f.is_empty()) {
                    if f.eq_ignore_ascii_case(b"functions") {
                        no_functions = false;
                    } else {
                        return ctx.out.err(&format!(
                            "Unsupported rdb-filter-only option: {}",
                            String::from_utf8_lossy(f)
                        ));
                    }
                }
                ctx.client.rdb_no_data = no_data;
                ctx.client.rdb_no_functions = no_functions;
            }
            b"capa" | b"ip-address" => {}
            _ => {
                return ctx.out.err(&format!(
                    "Unrecognized REPLCONF option: {}",
                    String::from_utf8_lossy(pair[0])
                ))
            }
        }
    }
    ctx.out.ok();
}
