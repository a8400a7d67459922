//! Pub/Sub commands: SUBSCRIBE UNSUBSCRIBE PSUBSCRIBE PUNSUBSCRIBE PUBLISH, the shard forms
//! SSUBSCRIBE SUNSUBSCRIBE SPUBLISH, and PUBSUB introspection. The registry and delivery are in
//! `server/pubsub.rs`.
//!
//! Subscription confirmations are push messages in Redis (CLIENT_PUSHING): they are written
//! even under CLIENT REPLY OFF/SKIP, so here they bypass the reply buffer that dispatch trims in
//! those modes and go to the connection's outbound queue instead.

use super::{container, def, help_reply, CommandDef, Ctx};
use crate::server::client::ReplyMode;
use crate::server::pubsub::{self, Kind, Me};

#[rustfmt::skip]
pub static COMMANDS: &[CommandDef] = &[
    def("subscribe", -2, "pubsub noscript loading stale", (0, 0, 0), "", "pubsub", "2.0.0", "Listen for messages published to the given channels", subscribe),
    def("unsubscribe", -1, "pubsub noscript loading stale", (0, 0, 0), "", "pubsub", "2.0.0", "Stop listening for messages posted to the given channels", unsubscribe),
    def("psubscribe", -2, "pubsub noscript loading stale", (0, 0, 0), "", "pubsub", "2.0.0", "Listen for messages published to channels matching the given patterns", psubscribe),
    def("punsubscribe", -1, "pubsub noscript loading stale", (0, 0, 0), "", "pubsub", "2.0.0", "Stop listening for messages posted to channels matching the given patterns", punsubscribe),
    def("publish", 3, "pubsub loading stale fast may_replicate", (0, 0, 0), "", "pubsub", "2.0.0", "Post a message to a channel", publish),
    def("spublish", 3, "pubsub loading stale fast may_replicate", (1, 1, 1), "", "pubsub", "7.0.0", "Post a message to a shard channel", spublish),
    def("ssubscribe", -2, "pubsub noscript loading stale", (1, -1, 1), "", "pubsub", "7.0.0", "Listen for messages published to the given shard channels", ssubscribe),
    def("sunsubscribe", -1, "pubsub noscript loading stale", (1, -1, 1), "", "pubsub", "7.0.0", "Stop listening for messages posted to the given shard channels", sunsubscribe),
    container("pubsub", "pubsub", "2.8.0", "A container for Pub/Sub commands", PUBSUB),
];

#[rustfmt::skip]
static PUBSUB: &[CommandDef] = &[
    def("channels", -2, "pubsub loading stale", (0, 0, 0), "", "pubsub", "2.8.0", "List active channels", pubsub_channels),
    def("help", 2, "loading stale", (0, 0, 0), "", "pubsub", "6.2.0", "Show helpful text about the different subcommands", pubsub_help),
    def("numpat", 2, "pubsub loading stale", (0, 0, 0), "", "pubsub", "2.8.0", "Get the count of unique patterns pattern subscriptions", pubsub_numpat),
    def("numsub", -2, "pubsub loading stale", (0, 0, 0), "", "pubsub", "2.8.0", "Get the count of subscribers for channels", pubsub_numsub),
    def("shardchannels", -2, "pubsub loading stale", (0, 0, 0), "", "pubsub", "7.0.0", "List active shard channels", pubsub_shardchannels),
    def("shardnumsub", -2, "pubsub loading stale", (0, 0, 0), "", "pubsub", "7.0.0", "Get the count of subscribers for shard channels", pubsub_shardnumsub),
];

/// Writes a push frame for this connection: in the reply stream when replies are on (after any
/// messages other threads queued, to keep their order), else in its outbound queue.
fn emit(ctx: &mut Ctx, frame: &[u8]) {
    let mut pending = ctx.client.handle.pending.lock();
    if ctx.client.reply_mode == ReplyMode::On {
        if !pending.is_empty() {
            ctx.out.buf.extend_from_slice(&pending);
            pending.clear();
        }
        ctx.out.raw(frame);
    } else {
        pending.extend_from_slice(frame);
    }
}

fn confirm(ctx: &mut Ctx, word: &str, channel: Option<&[u8]>, count: usize) {
    let frame = pubsub::confirmation(ctx.out.resp, word, channel, count);
    emit(ctx, &frame);
}

fn subscribe_kind(ctx: &mut Ctx, args: &[&[u8]], kind: Kind) {
    let word = if kind == Kind::Shard { "ssubscribe" } else { "subscribe" };
    for ch in &args[1..] {
        pubsub::subscribe(ctx.srv, ctx.client, kind, ch);
        let n = ctx.client.subs.count_of(kind);
        confirm(ctx, word, Some(ch), n);
    }
}

fn unsubscribe_kind(ctx: &mut Ctx, args: &[&[u8]], kind: Kind) {
    let word = if kind == Kind::Shard {
        "sunsubscribe"
    } else {
        "unsubscribe"
    };
    if args.len() == 1 {
        let all = pubsub::channels_of(ctx.client, kind);
        for ch in &all {
            pubsub::unsubscribe(ctx.srv, ctx.client, kind, ch);
            let n = ctx.client.subs.count_of(kind);
            confirm(ctx, word, Some(ch), n);
        }
        // Subscribed to nothing: Redis still answers, with a null channel.
        if all.is_empty() {
            let n = ctx.client.subs.count_of(kind);
            confirm(ctx, word, None, n);
        }
    } else {
        for ch in &args[1..] {
            pubsub::unsubscribe(ctx.srv, ctx.client, kind, ch);
            let n = ctx.client.subs.count_of(kind);
            confirm(ctx, word, Some(ch), n);
        }
    }
}

fn subscribe(ctx: &mut Ctx, args: &[&[u8]]) {
    subscribe_kind(ctx, args, Kind::Channel);
}

fn unsubscribe(ctx: &mut Ctx, args: &[&[u8]]) {
    unsubscribe_kind(ctx, args, Kind::Channel);
}

fn ssubscribe(ctx: &mut Ctx, args: &[&[u8]]) {
    // Redis refuses SSUBSCRIBE where a reply per command is expected (inside EXEC), unlike
    // SUBSCRIBE and PSUBSCRIBE, which MULTI allows for backward compatibility.
    if ctx.client.in_exec {
        ctx.out.err("SSUBSCRIBE isn't allowed for a DENY BLOCKING client");
        return;
    }
    subscribe_kind(ctx, args, Kind::Shard);
}

fn sunsubscribe(ctx: &mut Ctx, args: &[&[u8]]) {
    unsubscribe_kind(ctx, args, Kind::Shard);
}

fn psubscribe(ctx: &mut Ctx, args: &[&[u8]]) {
    for p in &args[1..] {
        pubsub::psubscribe(ctx.srv, ctx.client, p);
        let n = ctx.client.subs.count();
        confirm(ctx, "psubscribe", Some(p), n);
    }
}

fn punsubscribe(ctx: &mut Ctx, args: &[&[u8]]) {
    if args.len() == 1 {
        let all = pubsub::patterns_of(ctx.client);
        for p in &all {
            pubsub::punsubscribe(ctx.srv, ctx.client, p);
            let n = ctx.client.subs.count();
            confirm(ctx, "punsubscribe", Some(p), n);
        }
        if all.is_empty() {
            let n = ctx.client.subs.count();
            confirm(ctx, "punsubscribe", None, n);
        }
    } else {
        for p in &args[1..] {
            pubsub::punsubscribe(ctx.srv, ctx.client, p);
            let n = ctx.client.subs.count();
            confirm(ctx, "punsubscribe", Some(p), n);
        }
    }
}

fn publish_kind(ctx: &mut Ctx, args: &[&[u8]], kind: Kind) {
    let me = (ctx.client.reply_mode == ReplyMode::On).then_some(Me {
        id: ctx.client.id,
        buf: &mut ctx.out.buf,
    });
    let n = pubsub::publish(ctx.srv, kind, args[1], args[2], me);
    ctx.out.int(n as i64);
    // Replicas publish it to their own subscribers; the AOF does not keep it.
    crate::server::propagate::replicate_only(ctx.srv, ctx.client.db, args);
}

fn publish(ctx: &mut Ctx, args: &[&[u8]]) {
    publish_kind(ctx, args, Kind::Channel);
}

fn spublish(ctx: &mut Ctx, args: &[&[u8]]) {
    publish_kind(ctx, args, Kind::Shard);
}

fn pubsub_help(ctx: &mut Ctx, _args: &[&[u8]]) {
    help_reply(
        ctx.out,
        "pubsub",
        &[
            "CHANNELS [<pattern>]",
            "    Return the currently active channels matching a <pattern> (default: '*').",
            "NUMPAT",
            "    Return number of subscriptions to patterns.",
            "NUMSUB [<channel> ...]",
            "    Return the number of subscribers for the specified channels, excluding",
            "    pattern subscriptions(default: no channels).",
            "SHARDCHANNELS [<pattern>]",
            "    Return the currently active shard level channels matching a <pattern> (default: '*').",
            "SHARDNUMSUB [<shardchannel> ...]",
            "    Return the number of subscribers for the specified shard level channel(s)",
        ],
    );
}

fn channel_list(ctx: &mut Ctx, args: &[&[u8]], kind: Kind) {
    if args.len() > 3 {
        ctx.out.error(&format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try PUBSUB HELP.",
            String::from_utf8_lossy(args[1]).chars().take(128).collect::<String>()
        ));
        return;
    }
    let list = ctx.srv.pubsub.channel_list(kind, args.get(2).copied());
    ctx.out.array(list.len());
    for c in &list {
        ctx.out.bulk(c);
    }
}

fn numsub(ctx: &mut Ctx, args: &[&[u8]], kind: Kind) {
    ctx.out.array((args.len() - 2) * 2);
    for ch in &args[2..] {
        ctx.out.bulk(ch);
        ctx.out.int(ctx.srv.pubsub.numsub(kind, ch) as i64);
    }
}

fn pubsub_channels(ctx: &mut Ctx, args: &[&[u8]]) {
    channel_list(ctx, args, Kind::Channel);
}

fn pubsub_shardchannels(ctx: &mut Ctx, args: &[&[u8]]) {
    channel_list(ctx, args, Kind::Shard);
}

fn pubsub_numsub(ctx: &mut Ctx, args: &[&[u8]]) {
    numsub(ctx, args, Kind::Channel);
}

fn pubsub_shardnumsub(ctx: &mut Ctx, args: &[&[u8]]) {
    numsub(ctx, args, Kind::Shard);
}

fn pubsub_numpat(ctx: &mut Ctx, _args: &[&[u8]]) {
    let (_, patterns, _) = ctx.srv.pubsub.counts();
    ctx.out.int(patterns as i64);
}
