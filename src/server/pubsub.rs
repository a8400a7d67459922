//! Pub/Sub: the subscription registry shared by all workers, message delivery, and each
//! connection's own record of what it subscribed to. Behaviour follows Redis 7.0's `pubsub.c`.
//!
//! * **Registry.** Channels (and shard channels) live in a table split into [`SHARDS`] mutexes by
//!   channel hash, so publishers on different workers rarely meet; each channel maps to its
//!   subscribers' [`ClientHandle`]s in subscription order. Patterns are few and every PUBLISH
//!   must test all of them, so they sit behind one reader-writer lock, skipped with one atomic
//!   load while there are none.
//! * **Delivery.** PUBLISH encodes the message once and appends it to each subscriber's
//!   `pending` queue (the mechanism MONITOR uses), then wakes the subscriber's worker, which
//!   writes the queue after its own replies. A message for the publishing connection itself
//!   goes straight into its reply buffer, so it comes before the command's reply, as in Redis.
//! * **Bounded queues.** After each append the subscriber's unsent bytes (queue plus the batch
//!   its worker is still writing) are checked against `client-output-buffer-limit` (the
//!   `pubsub` class while the connection is in subscriber mode): over the hard limit, or over
//!   the soft limit for longer than its seconds, the queue is dropped and the connection closed,
//!   as Redis's `closeClientOnOutputBufferLimitReached`. A publisher can never make the server
//!   hold more than about the limit per subscriber.
//! * **Lock order.** keyspace shard (keyspace notifications are sent under it) → registry shard
//!   or pattern lock → subscriber's `pending`. Nothing takes them the other way round.

use super::client::{Client, ClientHandle};
use super::Server;
use crate::util::glob::glob_match;
use parking_lot::{Mutex, RwLock};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

/// Number of registry shards (a power of two).
const SHARDS: usize = 32;

type Subscribers = Vec<Arc<ClientHandle>>;
type ChannelMap = HashMap<Box<[u8]>, Subscribers>;

/// Channel name → subscribers, split by channel hash.
struct Table {
    shards: Box<[Mutex<ChannelMap>]>,
    /// Channels with at least one subscriber (INFO pubsub_channels).
    count: AtomicUsize,
}

impl Table {
    fn new() -> Table {
        Table {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            count: AtomicUsize::new(0),
        }
    }

    fn shard(&self, channel: &[u8]) -> &Mutex<ChannelMap> {
        let h = crate::keyspace::hash::hash(channel);
        &self.shards[(h >> 59) as usize % SHARDS]
    }

    fn add(&self, channel: &[u8], h: &Arc<ClientHandle>) {
        let mut m = self.shard(channel).lock();
        match m.get_mut(channel) {
            Some(v) => v.push(h.clone()),
            None => {
                m.insert(channel.into(), vec![h.clone()]);
                self.count.fetch_add(1, Relaxed);
            }
        }
    }

    fn remove(&self, channel: &[u8], id: u64) {
        let mut m = self.shard(channel).lock();
        if let Some(v) = m.get_mut(channel) {
            v.retain(|h| h.id != id);
            // Forget channels nobody listens to, so PUBSUB CHANNELS stays small.
            if v.is_empty() {
                m.remove(channel);
                self.count.fetch_sub(1, Relaxed);
            }
        }
    }

    fn numsub(&self, channel: &[u8]) -> usize {
        self.shard(channel).lock().get(channel).map_or(0, |v| v.len())
    }

    fn list(&self, pattern: Option<&[u8]>) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for s in self.shards.iter() {
            for k in s.lock().keys() {
                if pattern.is_none_or(|p| glob_match(p, k, false)) {
                    out.push(k.to_vec());
                }
            }
        }
        out
    }
}

/// The server's subscriptions.
pub struct PubSub {
    channels: Table,
    shard_channels: Table,
    patterns: RwLock<ChannelMap>,
    /// Distinct patterns (INFO pubsub_patterns, PUBSUB NUMPAT); 0 lets PUBLISH skip the lock.
    n_patterns: AtomicUsize,
}

impl Default for PubSub {
    fn default() -> Self {
        PubSub {
            channels: Table::new(),
            shard_channels: Table::new(),
            patterns: RwLock::new(HashMap::new()),
            n_patterns: AtomicUsize::new(0),
        }
    }
}

/// Which kind of channel a command works on: classic channels or shard channels
/// (SSUBSCRIBE/SPUBLISH, which never match patterns).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Channel,
    Shard,
}

impl PubSub {
    fn table(&self, kind: Kind) -> &Table {
        match kind {
            Kind::Channel => &self.channels,
            Kind::Shard => &self.shard_channels,
        }
    }

    /// INFO's `pubsub_channels`, `pubsub_patterns`, `pubsubshard_channels`.
    pub fn counts(&self) -> (usize, usize, usize) {
        (
            self.channels.count.load(Relaxed),
            self.n_patterns.load(Relaxed),
            self.shard_channels.count.load(Relaxed),
        )
    }

    /// Active channels matching `pattern` (all without one): PUBSUB CHANNELS / SHARDCHANNELS.
    pub fn channel_list(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<Vec<u8>> {
        self.table(kind).list(pattern)
    }

    /// Subscribers of one channel, patterns not counted (PUBSUB NUMSUB / SHARDNUMSUB).
    pub fn numsub(&self, kind: Kind, channel: &[u8]) -> usize {
        self.table(kind).numsub(channel)
    }
}

/// What one connection is subscribed to (owned by the connection, mirrored in the registry).
#[derive(Default)]
pub struct Subscriptions {
    channels: HashSet<Box<[u8]>>,
    /// In subscription order, as Redis's list.
    patterns: Vec<Box<[u8]>>,
    shard: HashSet<Box<[u8]>>,
    /// Redis's CLIENT_PUBSUB flag: set by any subscribe, cleared when nothing is left. A RESP2
    /// connection with it accepts only the subscription commands, PING, QUIT and RESET.
    pub active: bool,
}

impl Subscriptions {
    /// Channels plus patterns (the count in SUBSCRIBE/PSUBSCRIBE replies).
    pub fn count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    /// Shard channels (the count in SSUBSCRIBE replies).
    pub fn shard_count(&self) -> usize {
        self.shard.len()
    }

    fn of(&mut self, kind: Kind) -> &mut HashSet<Box<[u8]>> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Shard => &mut self.shard,
        }
    }

    /// The count a (un)subscribe confirmation of this kind reports.
    pub fn count_of(&self, kind: Kind) -> usize {
        match kind {
            Kind::Channel => self.count(),
            Kind::Shard => self.shard_count(),
        }
    }
}

/// Keeps the connection's CLIENT LIST fields (`sub=` `psub=` `ssub=`, flag `P`, type pubsub) and
/// its subscriber mode in step with its subscriptions.
fn sync_handle(client: &mut Client) {
    let s = &mut client.subs;
    if s.count() + s.shard_count() == 0 {
        s.active = false;
    }
    let h = &client.handle;
    h.subs[0].store(s.channels.len(), Relaxed);
    h.subs[1].store(s.patterns.len(), Relaxed);
    h.subs[2].store(s.shard.len(), Relaxed);
    h.pubsub_mode.store(s.active, Relaxed);
}

/// Subscribes the connection to a channel; false if it already was.
pub fn subscribe(srv: &Server, client: &mut Client, kind: Kind, channel: &[u8]) -> bool {
    client.subs.active = true;
    let added = client.subs.of(kind).insert(channel.into());
    if added {
        srv.pubsub.table(kind).add(channel, &client.handle);
    }
    sync_handle(client);
    added
}

/// Unsubscribes the connection from a channel; false if it was not subscribed.
pub fn unsubscribe(srv: &Server, client: &mut Client, kind: Kind, channel: &[u8]) -> bool {
    let removed = client.subs.of(kind).remove(channel);
    if removed {
        srv.pubsub.table(kind).remove(channel, client.id);
    }
    sync_handle(client);
    removed
}

/// Subscribes the connection to a pattern; false if it already was.
pub fn psubscribe(srv: &Server, client: &mut Client, pattern: &[u8]) -> bool {
    client.subs.active = true;
    let added = !client.subs.patterns.iter().any(|p| &**p == pattern);
    if added {
        client.subs.patterns.push(pattern.into());
        let mut pats = srv.pubsub.patterns.write();
        match pats.get_mut(pattern) {
            Some(v) => v.push(client.handle.clone()),
            None => {
                pats.insert(pattern.into(), vec![client.handle.clone()]);
                srv.pubsub.n_patterns.store(pats.len(), Relaxed);
            }
        }
    }
    sync_handle(client);
    added
}

/// Unsubscribes the connection from a pattern; false if it was not subscribed.
pub fn punsubscribe(srv: &Server, client: &mut Client, pattern: &[u8]) -> bool {
    let Some(pos) = client.subs.patterns.iter().position(|p| &**p == pattern) else {
        sync_handle(client);
        return false;
    };
    client.subs.patterns.remove(pos);
    let mut pats = srv.pubsub.patterns.write();
    if let Some(v) = pats.get_mut(pattern) {
        v.retain(|h| h.id != client.id);
        if v.is_empty() {
            pats.remove(pattern);
            srv.pubsub.n_patterns.store(pats.len(), Relaxed);
        }
    }
    drop(pats);
    sync_handle(client);
    true
}

/// The connection's channels of one kind (for UNSUBSCRIBE without arguments).
pub fn channels_of(client: &Client, kind: Kind) -> Vec<Box<[u8]>> {
    match kind {
        Kind::Channel => client.subs.channels.iter().cloned().collect(),
        Kind::Shard => client.subs.shard.iter().cloned().collect(),
    }
}

/// The connection's patterns, in subscription order (for PUNSUBSCRIBE without arguments).
pub fn patterns_of(client: &Client) -> Vec<Box<[u8]>> {
    client.subs.patterns.clone()
}

/// Drops every subscription without replying (disconnect, RESET).
pub fn unsubscribe_all(srv: &Server, client: &mut Client) {
    if client.subs.count() + client.subs.shard_count() == 0 && !client.subs.active {
        return;
    }
    for kind in [Kind::Channel, Kind::Shard] {
        for c in channels_of(client, kind) {
            unsubscribe(srv, client, kind, &c);
        }
    }
    for p in patterns_of(client) {
        punsubscribe(srv, client, &p);
    }
    client.subs.active = false;
    sync_handle(client);
}

/// Whether a RESP2 connection in subscriber mode may not run `cmd`; if so, writes Redis's error.
pub fn reject_in_subscriber_mode(
    client: &Client,
    cmd: &crate::commands::Command,
    out: &mut crate::protocol::reply::Reply,
) -> bool {
    if !client.subs.active || out.resp != 2 {
        return false;
    }
    let allowed = matches!(
        cmd.def.name,
        "ping"
            | "subscribe"
            | "ssubscribe"
            | "unsubscribe"
            | "sunsubscribe"
            | "psubscribe"
            | "punsubscribe"
            | "quit"
            | "reset"
    ) && cmd.full_name == cmd.def.name;
    if allowed {
        return false;
    }
    crate::server::stats::bump(&cmd.stats_of(client.worker).rejected_calls, 1);
    out.error(&format!(
        "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
        cmd.full_name
    ));
    true
}

// ---------------------------------------------------------------------------------------------
// Frames
// ---------------------------------------------------------------------------------------------

fn bulk(buf: &mut Vec<u8>, s: &[u8]) {
    buf.push(b'$');
    crate::util::num::write_i64(buf, s.len() as i64);
    buf.extend_from_slice(b"\r\n");
    buf.extend_from_slice(s);
    buf.extend_from_slice(b"\r\n");
}

/// A message frame in its RESP2 form (`*3`/`*4` header); RESP3 connections get the same bytes
/// with `>` as the first byte.
fn message_frame(kind: &[u8], pattern: Option<&[u8]>, channel: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(32 + kind.len() + channel.len() + msg.len() + pattern.map_or(0, |p| p.len() + 16));
    f.extend_from_slice(if pattern.is_some() { b"*4\r\n" } else { b"*3\r\n" });
    bulk(&mut f, kind);
    if let Some(p) = pattern {
        bulk(&mut f, p);
    }
    bulk(&mut f, channel);
    bulk(&mut f, msg);
    f
}

fn write_frame(buf: &mut Vec<u8>, frame: &[u8], resp3: bool) {
    if resp3 {
        buf.push(b'>');
        buf.extend_from_slice(&frame[1..]);
    } else {
        buf.extend_from_slice(frame);
    }
}

/// A subscription confirmation (`subscribe`, `unsubscribe`, ... with the channel, or null when
/// an argument-less unsubscribe found nothing, and the remaining count) for a connection.
pub fn confirmation(resp: u8, kind: &str, channel: Option<&[u8]>, count: usize) -> Vec<u8> {
    let mut f = Vec::with_capacity(32 + channel.map_or(0, |c| c.len()));
    f.extend_from_slice(if resp >= 3 { b">3\r\n" } else { b"*3\r\n" });
    bulk(&mut f, kind.as_bytes());
    match channel {
        Some(c) => bulk(&mut f, c),
        None if resp >= 3 => f.extend_from_slice(b"_\r\n"),
        None => f.extend_from_slice(b"$-1\r\n"),
    }
    f.push(b':');
    crate::util::num::write_i64(&mut f, count as i64);
    f.extend_from_slice(b"\r\n");
    f
}

// ---------------------------------------------------------------------------------------------
// Publishing
// ---------------------------------------------------------------------------------------------

/// The publishing connection, when its own messages can go straight into its reply buffer.
pub struct Me<'a> {
    pub id: u64,
    pub buf: &'a mut Vec<u8>,
}

/// Publishes `msg` on `channel`; returns the number of receivers (channel subscribers plus
/// pattern matches, as Redis counts them).
pub fn publish(srv: &Server, kind: Kind, channel: &[u8], msg: &[u8], mut me: Option<Me>) -> usize {
    let ps = &srv.pubsub;
    let mut receivers = 0;
    {
        let table = ps.table(kind).shard(channel).lock();
        if let Some(subs) = table.get(channel) {
            let word: &[u8] = if kind == Kind::Shard { b"smessage" } else { b"message" };
            let frame = message_frame(word, None, channel, msg);
            for h in subs {
                deliver(srv, h, &frame, &mut me);
                receivers += 1;
            }
        }
    }
    if kind == Kind::Channel && ps.n_patterns.load(Relaxed) > 0 {
        let pats = ps.patterns.read();
        for (pat, subs) in pats.iter() {
            if !glob_match(pat, channel, false) {
                continue;
            }
            let frame = message_frame(b"pmessage", Some(pat), channel, msg);
            for h in subs {
                deliver(srv, h, &frame, &mut me);
                receivers += 1;
            }
        }
    }
    receivers
}

/// Appends a frame to one subscriber's output and wakes it, enforcing its output limit.
fn deliver(srv: &Server, h: &ClientHandle, frame: &[u8], me: &mut Option<Me>) {
    let resp3 = h.resp.load(Relaxed) >= 3;
    if let Some(m) = me.as_mut() {
        if m.id == h.id {
            // Messages queued earlier by other threads come first.
            let mut p = h.pending.lock();
            if !p.is_empty() {
                m.buf.extend_from_slice(&p);
                p.clear();
            }
            write_frame(m.buf, frame, resp3);
            return;
        }
    }
    let mut p = h.pending.lock();
    // A connection being closed for its output limit takes no more (it still counts as a
    // receiver until it is gone, as in Redis).
    if h.kill.load(Relaxed) {
        return;
    }
    write_frame(&mut p, frame, resp3);
    let used = p.len() + h.obuf_unsent.load(Relaxed);
    if over_output_limit(srv, h, used) {
        *p = Vec::new();
        drop(p);
        super::log::warning(&format!(
            "Client {} scheduled to be closed ASAP for overcoming of output buffer limits.",
            h.info_line(super::unix_ms())
        ));
        h.kill();
        return;
    }
    drop(p);
    h.wake();
}

/// Redis's checkClientOutputBufferLimits for `used` unsent bytes: the hard limit at once, the
/// soft limit once it has been exceeded continuously for more than its seconds.
fn over_output_limit(srv: &Server, h: &ClientHandle, used: usize) -> bool {
    let limits = if h.pubsub_mode.load(Relaxed) {
        &srv.config.hot.obuf_pubsub
    } else {
        &srv.config.hot.obuf_normal
    };
    let (hard, soft, secs) = (
        limits[0].load(Relaxed),
        limits[1].load(Relaxed),
        limits[2].load(Relaxed),
    );
    let used = used as i64;
    if hard > 0 && used >= hard {
        return true;
    }
    if soft > 0 && used >= soft {
        let now = super::unix_ms() / 1000;
        let since = h.obuf_soft_since.load(Relaxed);
        if since == 0 {
            h.obuf_soft_since.store(now, Relaxed);
            return false;
        }
        return now - since > secs;
    }
    h.obuf_soft_since.store(0, Relaxed);
    false
}
