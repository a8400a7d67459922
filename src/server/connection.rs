//! One connection's life: read, parse every complete request, execute each, write all replies.
//!
//! The socket is driven through `AsyncFd` so the loop controls its syscalls: one `read` per
//! readiness event (a short read means the socket is drained, so readiness is cleared without an
//! extra `EAGAIN` read) and one `write` per batch of replies, the same as Redis's event loop.

use super::client::{Client, ClientHandle};
use super::{dispatch, log, Server};
use crate::protocol::parser::{self, Limits, Parsed};
use crate::protocol::reply::Reply;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::ops::Range;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use tokio::io::unix::AsyncFd;

/// A worker thread: a single-threaded runtime serving the connections it is handed.
pub fn worker_main(srv: Arc<Server>, worker: usize, mut rx: tokio::sync::mpsc::UnboundedReceiver<TcpStream>) {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            log::warning(&format!("Failed to start worker {worker}: {e}"));
            std::process::exit(1);
        }
    };
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        // Hands the scripts this worker's connections asked for to the script thread in batches.
        tokio::task::spawn_local(crate::scripting::engine::relay());
        tokio::task::spawn_local(async {
            let every = std::time::Duration::from_millis(crate::util::allocator::COLLECT_EVERY_MS);
            loop {
                tokio::time::sleep(every).await;
                crate::util::allocator::collect();
            }
        });
        while let Some(stream) = rx.recv().await {
            let srv = srv.clone();
            tokio::task::spawn_local(async move {
                serve(srv, stream, worker).await;
            });
        }
    });
}

fn peer(stream: &TcpStream, local: bool) -> String {
    let a = if local { stream.local_addr() } else { stream.peer_addr() };
    a.map(|a| a.to_string()).unwrap_or_else(|_| "?:0".into())
}

/// Serves one connection until it closes.
async fn serve(srv: Arc<Server>, stream: TcpStream, worker: usize) {
    use std::os::fd::AsRawFd;
    let _ = stream.set_nonblocking(true);
    let _ = stream.set_nodelay(true);
    let id = srv.clients.next_id();
    let now = super::unix_ms();
    let handle = Arc::new(ClientHandle::new(
        id,
        peer(&stream, false),
        peer(&stream, true),
        stream.as_raw_fd(),
        now,
    ));
    srv.stats.connections_received.fetch_add(1, Relaxed);
    let mut stream = stream;
    // maxclients: Redis accepts the connection, writes the error and closes it.
    let maxclients = srv.config.hot.maxclients.load(Relaxed) as usize;
    if srv.clients.count() >= maxclients {
        let _ = stream.write_all(b"-ERR max number of clients reached\r\n");
        srv.stats.rejected_connections.fetch_add(1, Relaxed);
        return;
    }
    // Protected mode (as Redis 7): no password for the default user and a non-loopback peer.
    if srv.config.hot.protected_mode.load(Relaxed) && srv.config.hot.requirepass.read().is_none() {
        if let Ok(addr) = stream.peer_addr() {
            if !addr.ip().is_loopback() {
                let _ = stream.write_all(PROTECTED_MODE_ERROR.as_bytes());
                srv.stats.rejected_connections.fetch_add(1, Relaxed);
                return;
            }
        }
    }
    srv.clients.add(handle.clone());
    let authenticated = srv.config.hot.requirepass.read().is_none();
    let mut client = Client::new(handle.clone(), worker, authenticated);
    // SAFETY: the AsyncFd owns the stream, so the descriptor stays open while it is registered.
    if let Ok(fd) = unsafe { AsyncFd::register(stream) } {
        run_connection(&srv, fd, &mut client).await;
    }
    super::blocking::disconnect(&srv, &mut client);
    super::multi::discard(&srv, &mut client);
    super::pubsub::unsubscribe_all(&srv, &mut client);
    super::monitor::remove(&srv, id);
    crate::replication::detach(&srv, id);
    srv.clients.remove(id);
}

const PROTECTED_MODE_ERROR: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Set up an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

const READ_CHUNK: usize = 16 * 1024;

/// Counts a client in INFO's `blocked_clients` for as long as it lives (however the connection
/// loop ends). The thread that serves a blocked client uncounts it at once
/// (`blocking::serve_ready`), before the pusher's reply leaves, so a client that reads INFO
/// after its push never sees the served one as still blocked; `ensure` counts it again when it
/// blocks anew.
struct BlockedCount<'a>(&'a Server, Arc<super::client::ClientHandle>);

impl<'a> BlockedCount<'a> {
    fn new(srv: &'a Server, handle: Arc<super::client::ClientHandle>) -> Self {
        let c = BlockedCount(srv, handle);
        c.ensure();
        c
    }

    fn ensure(&self) {
        if !self.1.blocked_counted.swap(true, Relaxed) {
            self.0.stats.blocked_clients.fetch_add(1, Relaxed);
        }
    }
}

impl Drop for BlockedCount<'_> {
    fn drop(&mut self) {
        if self.1.blocked_counted.swap(false, Relaxed) {
            self.0.stats.blocked_clients.fetch_sub(1, Relaxed);
        }
    }
}

async fn run_connection(srv: &Arc<Server>, fd: AsyncFd<TcpStream>, client: &mut Client) {
    let mut rbuf: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    let mut out = Reply::new();
    let mut spans: [Vec<Range<usize>>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    let handle = client.handle.clone();
    let wstats = &srv.stats.workers[client.worker % srv.stats.workers.len()];
    // Set while the next request waits for CLIENT PAUSE to end: ms to sleep before retrying.
    let mut paused: Option<u64> = None;
    let mut blocked: Option<BlockedCount> = None;
    // The waker last stored in the handle: the task's waker never changes, so the handle's
    // lock is taken once, not on every wait.
    let mut registered: Option<std::task::Waker> = None;
    loop {
        // Wait for input, or for another thread to wake us (CLIENT KILL, MONITOR output...).
        // A blocked client (BLPOP...) also wakes at its timeout.
        let deadline = super::blocking::deadline(client);
        let readable = match paused {
            None => {
                let wait = std::future::poll_fn(|cx| {
                    if handle.take_signal() {
                        return std::task::Poll::Ready(None);
                    }
                    if !registered.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                        handle.register(cx.waker());
                        registered = Some(cx.waker().clone());
                    }
                    // Checked again after registering, so a wake-up in between is not lost.
                    if handle.take_signal() {
                        return std::task::Poll::Ready(None);
                    }
                    fd.poll_read_ready(cx).map(Some)
                });
                match deadline {
                    None => wait.await,
                    Some(at) => tokio::time::timeout_at(at, wait).await.unwrap_or(None),
                }
            }
            Some(ms) => {
                tokio::time::sleep(std::time::Duration::from_millis(ms.clamp(1, 20))).await;
                None
            }
        };
        if handle.kill.load(Relaxed) {
            let _ = flush(&fd, &mut out, &handle).await;
            return;
        }
        let had_input = readable.is_some();
        if let Some(guard) = readable {
            let Ok(mut guard) = guard else { return };
            if rbuf.capacity() - rbuf.len() < READ_CHUNK / 2 {
                rbuf.reserve(READ_CHUNK);
            }
            let spare = rbuf.capacity() - rbuf.len();
            let start = rbuf.len();
            // SAFETY: we read into the vector's spare capacity and only extend the length by the
            // number of bytes the kernel wrote.
            let n = unsafe {
                rbuf.set_len(start + spare);
                let mut sock: &TcpStream = fd.get_ref();
                let r = sock.read(&mut rbuf[start..]);
                rbuf.set_len(start);
                r
            };
            match n {
                Ok(0) => return,
                Ok(n) => {
                    // SAFETY: the kernel initialised n bytes after `start`.
                    unsafe { rbuf.set_len(start + n) };
                    if n < spare {
                        guard.clear_ready();
                    }
                    super::stats::bump(&wstats.net_input, n as u64);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    guard.clear_ready();
                    continue;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return,
            }
        }
        // A blocked client processes nothing until it is served, unblocked or timed out; then it
        // goes on with the requests that arrived meanwhile.
        let mut resumed = false;
        if client.blocked.is_some() {
            resumed = super::blocking::check(srv, client, &mut out);
        }
        if (had_input || paused.is_some() || resumed) && client.blocked.is_none() {
            let (consumed, pause) = process(srv, client, &rbuf, &mut spans, &mut out);
            paused = pause;
            if consumed > 0 {
                rbuf.drain(..consumed);
            }
            // A big request leaves big buffers behind: give them back once it is done, as
            // Redis trims query buffers, so used_memory (and maxmemory) follows the data.
            if rbuf.is_empty() && rbuf.capacity() > 4 * READ_CHUNK {
                rbuf = Vec::with_capacity(READ_CHUNK);
            }
            for s in spans.iter_mut() {
                if s.capacity() > 4096 {
                    *s = Vec::new();
                }
            }
            handle.qbuf.store(rbuf.len(), Relaxed);
            handle.qbuf_cap.store(rbuf.capacity(), Relaxed);
        }
        // Clients held by CLIENT PAUSE or blocked in BLPOP... count in INFO's blocked_clients.
        if paused.is_none() && !super::blocking::counts_as_blocked(client) {
            blocked = None;
        } else if let Some(b) = &blocked {
            b.ensure();
        } else {
            blocked = Some(BlockedCount::new(srv, handle.clone()));
        }
        {
            let limit = srv.config.hot.client_query_buffer_limit.load(Relaxed) as usize;
            if rbuf.len() > limit {
                log::warning(&format!(
                    "Closing client that reached max query buffer length: id={} addr={} (qbuf initial bytes: {:?})",
                    client.id,
                    handle.addr,
                    String::from_utf8_lossy(&rbuf[..rbuf.len().min(64)])
                ));
                let _ = flush(&fd, &mut out, &handle).await;
                return;
            }
        }
        // Messages queued by other threads go after the replies produced so far.
        {
            let mut p = handle.pending.lock();
            if !p.is_empty() {
                out.buf.extend_from_slice(&p);
                p.clear();
            }
        }
        // A pipeline of scripts: each one parks the connection until the script thread answers.
        // While requests wait behind the parked one, the replies so far are held (as Redis
        // writes a pipeline's replies once it ran it all): one write, not one per script.
        let mid_pipeline = !rbuf.is_empty() && client.blocked.as_ref().is_some_and(|w| w.keys.is_empty());
        if !out.buf.is_empty() && !mid_pipeline {
            // appendfsync always: no reply leaves before the writes it acknowledges are on disk.
            crate::persistence::aof::wait_for_sync(srv);
            handle.note_reply_bytes(out.buf.len());
            super::stats::bump(&wstats.net_output, out.buf.len() as u64);
            // Bytes on their way out count against the Pub/Sub output limit with the queue.
            handle.obuf_unsent.store(out.buf.len(), Relaxed);
            let flushed = flush(&fd, &mut out, &handle).await;
            handle.obuf_unsent.store(0, Relaxed);
            if flushed.is_err() {
                return;
            }
        }
        if client.close_after_reply || handle.kill.load(Relaxed) {
            return;
        }
        if srv.shutdown_requested.load(Relaxed) {
            return;
        }
    }
}

/// Writes the whole output buffer, waiting for writability when the socket is full. A client
/// killed meanwhile (CLIENT KILL, output buffer limit) stops waiting: a peer that never reads
/// must not keep its connection, and its subscriptions, alive.
async fn flush(fd: &AsyncFd<TcpStream>, out: &mut Reply, handle: &ClientHandle) -> std::io::Result<()> {
    let rbs = handle.rbs.load(Relaxed);
    let mut off = 0;
    while off < out.buf.len() {
        let mut sock: &TcpStream = fd.get_ref();
        match sock.write(&out.buf[off..]) {
            Ok(n) => off += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let ready = std::future::poll_fn(|cx| {
                    if handle.kill.load(Relaxed) {
                        return std::task::Poll::Ready(None);
                    }
                    handle.register(cx.waker());
                    if handle.kill.load(Relaxed) {
                        return std::task::Poll::Ready(None);
                    }
                    fd.poll_write_ready(cx).map(Some)
                })
                .await;
                match ready {
                    Some(g) => g?.clear_ready(),
                    None => {
                        out.buf.clear();
                        return Err(std::io::ErrorKind::ConnectionAborted.into());
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                out.buf.clear();
                return Err(e);
            }
        }
    }
    out.buf.clear();
    // Give memory back after a big reply; the cron's `rbs` decides the steady size.
    if out.buf.capacity() > rbs.max(super::client::REPLY_CHUNK) * 4 {
        out.buf.shrink_to(rbs);
    }
    Ok(())
}

/// Whether the request parsed at the head of `rest` may run while the client waits for a
/// script it handed to the script thread: another script command, outside MULTI. A pipeline
/// of scripts then crosses to the script thread together (one batch, one wake-up for the
/// connection) instead of one round trip per script; their replies still come back in order,
/// as each waiter's reply is queued in turn.
fn chains_script(client: &Client, cur: &Parsed, rest: &[u8], spans: &[Range<usize>]) -> bool {
    const SCRIPTS: [&[u8]; 6] = [b"evalsha", b"eval", b"fcall", b"evalsha_ro", b"eval_ro", b"fcall_ro"];
    matches!(cur, Parsed::Request { .. })
        && client.multi.tx.is_none()
        && client.blocked.as_ref().is_some_and(|w| w.keys.is_empty())
        && spans
            .first()
            .and_then(|r| rest.get(r.clone()))
            .is_some_and(|name| SCRIPTS.iter().any(|s| s.eq_ignore_ascii_case(name)))
}

/// Runs a script command pipelined behind a parked one. It either parks the client on its own
/// job (queued after the first, so answered after it), or answers at once (an error such as
/// NOSCRIPT): that reply must follow the parked scripts' replies, so it is attached to the
/// last of them instead of going out now.
fn run_chained(srv: &Server, client: &mut Client, out: &Reply, argv: &[&[u8]], parked: &Arc<super::blocking::Waiter>) {
    let mut now = Reply::new();
    now.resp = out.resp;
    dispatch::execute(srv, client, &mut now, argv);
    if !now.buf.is_empty() {
        let last = client.blocked.clone().unwrap_or_else(|| parked.clone());
        last.then(&now.buf);
        client.blocked = Some(last);
    }
}

/// Executes every complete request at the start of `buf`; returns how many bytes were consumed.
/// Stops early (returning how long to wait) when the next request is held by CLIENT PAUSE.
///
/// Requests are parsed two ahead of the one running, and the key lookup of each (its first
/// argument: the key, for nearly every data command) is prefetched in two stages: the bucket
/// when the request is parsed, two commands before it runs, and the bucket's first node one
/// command later, once the bucket is in cache. A lookup's two dependent cache misses then
/// overlap earlier commands instead of stalling this one. Parsing ahead costs nothing extra:
/// each request is parsed once, again only when running one changed the parse limits (AUTH,
/// CONFIG SET proto-max-bulk-len). Measured with `compare.sh` at pipeline 16: the bucket stage
/// alone took GET to ~0.91x the CPU per request of no prefetch.
fn process(
    srv: &Server,
    client: &mut Client,
    buf: &[u8],
    spans: &mut [Vec<Range<usize>>; 3],
    out: &mut Reply,
) -> (usize, Option<u64>) {
    let limits_now = |client: &Client| Limits {
        max_bulk_len: srv.config.hot.proto_max_bulk_len.load(Relaxed),
        unauthenticated: !client.authenticated,
    };
    // Parses the request at `at` into `sp` and starts the bucket stage of its key's prefetch
    // (not for a request alone in the buffer, the pipeline-depth-1 case: it runs at once).
    let parse_at = |client: &Client, at: usize, limits: &Limits, sp: &mut Vec<Range<usize>>| {
        let parsed = parser::parse(&buf[at..], limits, sp);
        let hash = match (&parsed, sp.get(1)) {
            (Parsed::Request { consumed }, _) if at == 0 && *consumed == buf.len() => None,
            (Parsed::Request { .. }, Some(k)) => {
                Some(srv.keyspace.db(client.db).prefetch(&buf[at + k.start..at + k.end]))
            }
            _ => None,
        };
        (parsed, hash)
    };
    let mut pos = 0;
    let mut limits = limits_now(client);
    // `cur` is the parse of the request at `pos`, its arguments in `spans[c]`; `ahead` the parse
    // of the one after it (in `spans[(c + 1) % 3]`), once made.
    let mut c = 0;
    let (mut cur, mut cur_hash) = parse_at(client, 0, &limits, &mut spans[0]);
    let mut ahead: Option<(Parsed, Option<u64>)> = None;
    // The requests of this read run under one hold of the worker's world lock.
    let mut batch = srv.world.batch();
    // ... and are timed with one clock read each.
    let _chain = crate::util::clock::chain();
    while !client.close_after_reply && (client.blocked.is_none() || chains_script(client, &cur, &buf[pos..], &spans[c]))
    {
        let rest = &buf[pos..];
        match cur {
            Parsed::Incomplete => break,
            Parsed::Empty { consumed } => pos += consumed,
            Parsed::Request { consumed } => {
                if srv.pause.until_ms.load(Relaxed) != 0 {
                    let sp = &spans[c];
                    if let Some(ms) = dispatch::paused_for(srv, client, &rest[sp[0].clone()], rest, sp) {
                        return (pos, Some(ms));
                    }
                }
                let [s0, s1, s2] = spans;
                let (now_spans, next_spans, after_spans) = match c {
                    0 => (&*s0, s1, s2),
                    1 => (&*s1, s2, s0),
                    _ => (&*s2, s0, s1),
                };
                let next_at = pos + consumed;
                let (next, next_hash) = match ahead.take() {
                    Some(a) => a,
                    None => parse_at(client, next_at, &limits, next_spans),
                };
                // Two ahead: the bucket stage for the one after next, and the node stage for the
                // next one (skipped when it is this request's key: this command loads it).
                let after = match next {
                    Parsed::Request { consumed: n } => Some(parse_at(client, next_at + n, &limits, after_spans)),
                    _ => None,
                };
                if let Some(h) = next_hash {
                    if next_hash != cur_hash {
                        srv.keyspace.db(client.db).prefetch_entry(h);
                    }
                }
                // CLIENT LIST shows the query buffer from the start of the running command.
                client.handle.qbuf.store(buf.len() - pos, Relaxed);
                let mut small: [&[u8]; 12] = [&[]; 12];
                let mut big = Vec::new();
                let argv: &[&[u8]] = if now_spans.len() <= small.len() {
                    for (i, r) in now_spans.iter().enumerate() {
                        small[i] = &rest[r.clone()];
                    }
                    &small[..now_spans.len()]
                } else {
                    big.extend(now_spans.iter().map(|r| &rest[r.clone()]));
                    &big
                };
                batch.next_request();
                match client.blocked.clone() {
                    None => dispatch::execute(srv, client, out, argv),
                    Some(parked) => run_chained(srv, client, out, argv, &parked),
                }
                pos = next_at;
                c = (c + 1) % 3;
                let fresh = limits_now(client);
                if fresh != limits {
                    limits = fresh;
                    (cur, cur_hash) = parse_at(client, pos, &limits, &mut spans[c]);
                } else {
                    (cur, cur_hash) = (next, next_hash);
                    ahead = after;
                }
                continue;
            }
            Parsed::Owned { consumed, args } => {
                let argv: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
                dispatch::execute(srv, client, out, &argv);
                pos += consumed;
            }
            Parsed::Error(msg) => {
                out.error(&format!("ERR Protocol error: {msg}"));
                srv.stats.error("ERR");
                log::verbose(&format!(
                    "Protocol error ({msg}) from client: id={} addr={}",
                    client.id, client.handle.addr
                ));
                client.close_after_reply = true;
                return (buf.len(), None);
            }
        }
        if pos >= buf.len() {
            break;
        }
        limits = limits_now(client);
        ahead = None;
        (cur, cur_hash) = parse_at(client, pos, &limits, &mut spans[c]);
    }
    (pos, None)
}
