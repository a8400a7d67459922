//! Transactions: MULTI EXEC DISCARD WATCH UNWATCH (Redis's `multi.c`). Queueing happens in
//! `server::dispatch`, the queue and the WATCH registry live in `server::multi`.

use super::{def, CommandDef, Ctx};
use crate::server::{dispatch, multi};
use std::sync::atomic::Ordering::Relaxed;

#[rustfmt::skip]
pub static COMMANDS: &[CommandDef] = &[
    def("multi", 1, "noscript loading stale fast allow_busy", (0, 0, 0), "@transaction", "transactions", "1.2.0", "Mark the start of a transaction block", multi_cmd),
    // EXEC runs with every worker stopped, so its commands run back to back like one command.
    def("exec", 1, "noscript loading stale skip_slowlog", (0, 0, 0), "@transaction", "transactions", "1.2.0", "Execute all commands issued after MULTI", exec).exclusive(),
    def("discard", 1, "noscript loading stale fast allow_busy", (0, 0, 0), "@transaction", "transactions", "2.0.0", "Discard all commands issued after MULTI", discard),
    def("watch", -2, "noscript loading stale fast allow_busy", (1, -1, 1), "@transaction", "transactions", "2.2.0", "Watch the given keys to determine execution of the MULTI/EXEC block", watch),
    def("unwatch", 1, "noscript loading stale fast allow_busy", (0, 0, 0), "@transaction", "transactions", "2.2.0", "Forget about all watched keys", unwatch),
];

fn multi_cmd(ctx: &mut Ctx, _args: &[&[u8]]) {
    if ctx.client.multi.tx.is_some() {
        return ctx.out.err("MULTI calls can not be nested");
    }
    multi::begin(ctx.client);
    ctx.out.ok();
}

fn discard(ctx: &mut Ctx, _args: &[&[u8]]) {
    if ctx.client.multi.tx.is_none() {
        return ctx.out.err("DISCARD without MULTI");
    }
    multi::discard(ctx.srv, ctx.client);
    ctx.out.ok();
}

/// EXEC: fails with EXECABORT after a refused request, with a null reply when a watched key
/// changed, else runs every queued command (under the world lock its row takes) and replies
/// with the array of their replies; errors of single commands are elements of it.
fn exec(ctx: &mut Ctx, _args: &[&[u8]]) {
    let srv = ctx.srv;
    let Some(tx) = ctx.client.multi.tx.take() else {
        return ctx.out.err("EXEC without MULTI");
    };
    if tx.aborted {
        multi::discard(srv, ctx.client);
        return ctx
            .out
            .error("EXECABORT Transaction discarded because of previous errors.");
    }
    if multi::watch_failed(srv, ctx.client, ctx.now_ms) {
        multi::discard(srv, ctx.client);
        return ctx.out.null_array();
    }
    multi::unwatch_all(srv, ctx.client);
    // Blocking commands act as non-blocking while this is set.
    ctx.client.in_exec = true;
    ctx.out.array(tx.queue.len());
    for args in &tx.queue {
        let argv: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
        // The command was found when it was queued and the table never changes, so this finds
        // it again (and would reply the error, keeping the array whole, if it did not).
        if let Some(cmd) = dispatch::lookup(srv, ctx.out, &argv) {
            dispatch::call(
                srv,
                ctx.client,
                ctx.out,
                cmd,
                &argv,
                crate::util::clock::now().0,
                ctx.now_ms,
            );
        }
    }
    ctx.client.in_exec = false;
    multi::discard(srv, ctx.client);
}

fn watch(ctx: &mut Ctx, args: &[&[u8]]) {
    if ctx.client.multi.tx.is_some() {
        return ctx.out.err("WATCH inside MULTI is not allowed");
    }
    // A client whose watched keys already changed has nothing more to watch: EXEC will fail.
    if !ctx.client.handle.watch_dirty.load(Relaxed) {
        multi::watch(ctx.srv, ctx.client, &args[1..], ctx.now_ms);
    }
    ctx.out.ok();
}

fn unwatch(ctx: &mut Ctx, _args: &[&[u8]]) {
    multi::unwatch_all(ctx.srv, ctx.client);
    ctx.client.handle.watch_dirty.store(false, Relaxed);
    ctx.out.ok();
}
