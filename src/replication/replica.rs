//! Following a master, the replica's side of Redis's `replication.c`.
//!
//! `REPLICAOF host port` (or the `replicaof` directive) starts one *link* thread:
//!
//! 1. **Handshake.** It connects, sends `PING`, `AUTH` when `masterauth` is set,
//!    `REPLCONF listening-port` and `REPLCONF capa eof capa psync2`, then `PSYNC ? -1`.
//!    Every sync is a full one: the master answers `+FULLRESYNC <replid> <offset>`.
//! 2. **The image.** It reads the RDB payload. The payload comes either with its length
//!    (`$<len>`) or, from a diskless master, between two `$EOF:<mark>` marks. The master may
//!    send newlines first, to keep the link alive while it prepares the image. The link then
//!    empties the dataset and loads the image with the whole server stopped (the world lock,
//!    held exclusively): clients see the old dataset or the new one, never half of it.
//! 3. **The stream.** It reads the master's commands and runs each one through `dispatch` as
//!    the *master client*. The master client gets no replies, is exempt from
//!    `replica-read-only`, and never blocks. The offset counts the stream's bytes. The link
//!    answers `REPLCONF GETACK` with `REPLCONF ACK <offset>` and sends one unasked every second.
//!
//! The link retries every second after any failure, as Redis's `replicationCron` does.
//! `REPLICAOF NO ONE` (or a new master) ends it: that command runs with the server stopped
//! and bumps the link *generation*. A command of the old link that gets the world lock after
//! that sees a generation that is no longer current and is dropped (`dispatch::run`). So
//! nothing from the old master lands after the REPLICAOF reply.
//!
//! Not built: PSYNC continuation (the backlog), the replica's own chained replicas' offsets,
//! and diskless loading (`repl-diskless-load`); the image is read whole before it loads.

use crate::persistence::snapshot;
use crate::protocol::reply::Reply;
use crate::server::client::{Client, ClientHandle};
use crate::server::{log, unix_ms, Server};
use parking_lot::Mutex;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

/// Where a link is, as ROLE names it.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum State {
    /// Waiting to (re)connect.
    Connect = 0,
    /// Connected, in the handshake.
    Connecting = 1,
    /// Receiving the image.
    Sync = 2,
    /// Applying the stream.
    Connected = 3,
}

impl State {
    fn name(self) -> &'static str {
        match self {
            State::Connect => "connect",
            State::Connecting => "connecting",
            State::Sync => "sync",
            State::Connected => "connected",
        }
    }

    fn from(v: u8) -> State {
        match v {
            1 => State::Connecting,
            2 => State::Sync,
            3 => State::Connected,
            _ => State::Connect,
        }
    }
}

/// The server's master, if it follows one.
#[derive(Default)]
pub struct Follow {
    link: Mutex<Option<Arc<Link>>>,
    /// Whether this server follows a master: one relaxed load on every write's path.
    following: AtomicBool,
    /// The current link's number; commands of an older link are dropped.
    generation: AtomicU64,
}

/// One link to a master, shared by its thread and the commands that report on it.
struct Link {
    host: String,
    port: u16,
    generation: u64,
    stop: AtomicBool,
    state: AtomicU8,
    /// A clone of the link's socket, shut down to wake its thread when the link ends.
    socket: Mutex<Option<TcpStream>>,
    /// Stream bytes applied (INFO's `slave_repl_offset`) and read (`slave_read_repl_offset`).
    offset: AtomicI64,
    read_offset: AtomicI64,
    /// Unix ms of the last byte from the master, and since when the link is down.
    last_io_ms: AtomicI64,
    down_since_ms: AtomicI64,
    /// The master's replication ID from `+FULLRESYNC`.
    replid: Mutex<String>,
}

impl Link {
    fn stopped(&self) -> bool {
        self.stop.load(Relaxed)
    }

    fn set_state(&self, s: State) {
        self.state.store(s as u8, Relaxed);
    }

    fn state(&self) -> State {
        State::from(self.state.load(Relaxed))
    }
}

impl Follow {
    /// Whether this server follows a master.
    #[inline]
    pub fn following(&self) -> bool {
        self.following.load(Relaxed)
    }

    /// Whether `generation` is the current link's (a master client's commands run only then).
    pub fn current(&self, generation: u64) -> bool {
        self.following() && self.generation.load(Relaxed) == generation
    }

    fn link(&self) -> Option<Arc<Link>> {
        self.link.lock().clone()
    }

    /// Whether the link to the master is down (for `replica-serve-stale-data no`).
    pub fn link_down(&self) -> bool {
        self.following() && self.link().is_none_or(|l| l.state() != State::Connected)
    }
}

/// REPLICAOF host port. The caller holds the world lock exclusively. Returns the status reply.
pub fn follow(srv: &Server, host: &str, port: u16, by: &str) -> &'static str {
    if let Some(l) = srv.follow.link() {
        if l.host.eq_ignore_ascii_case(host) && l.port == port {
            log::notice("REPLICAOF would result into synchronization with the master we are already connected with. No operation performed.");
            return "OK Already connected to specified master";
        }
    }
    end_link(srv);
    let Some(me) = srv.me.get().and_then(|w| w.upgrade()) else {
        return "OK";
    };
    let generation = srv.follow.generation.fetch_add(1, Relaxed) + 1;
    let link = Arc::new(Link {
        host: host.to_string(),
        port,
        generation,
        stop: AtomicBool::new(false),
        state: AtomicU8::new(State::Connect as u8),
        socket: Mutex::new(None),
        offset: AtomicI64::new(0),
        read_offset: AtomicI64::new(0),
        last_io_ms: AtomicI64::new(0),
        down_since_ms: AtomicI64::new(unix_ms()),
        replid: Mutex::new(String::new()),
    });
    *srv.follow.link.lock() = Some(link.clone());
    srv.follow.following.store(true, Relaxed);
    log::notice(&format!("Connecting to MASTER {host}:{port}"));
    if !by.is_empty() {
        log::notice(&format!("REPLICAOF {host}:{port} enabled (user request from '{by}')"));
    }
    let spawned = std::thread::Builder::new()
        .name("ochre-replica".into())
        .spawn(move || run(me, link));
    if let Err(e) = spawned {
        log::warning(&format!("Can't start the replication link thread: {e}"));
    }
    "OK"
}

/// REPLICAOF NO ONE: this server is a master again. The caller holds the world lock
/// exclusively.
pub fn unfollow(srv: &Server, by: &str) {
    if !srv.follow.following() {
        return;
    }
    end_link(srv);
    srv.follow.following.store(false, Relaxed);
    log::notice(&format!("MASTER MODE enabled (user request from '{by}')"));
}

/// Stops the current link's thread, if any; its commands still queued are dropped.
fn end_link(srv: &Server) {
    srv.follow.generation.fetch_add(1, Relaxed);
    if let Some(l) = srv.follow.link.lock().take() {
        l.stop.store(true, Relaxed);
        if let Some(s) = l.socket.lock().take() {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

/// The link thread: sessions until the link ends, one second apart.
fn run(srv: Arc<Server>, link: Arc<Link>) {
    while !link.stopped() {
        if let Err(e) = session(&srv, &link) {
            if !link.stopped() {
                log::warning(&e);
            }
        }
        link.set_state(State::Connect);
        if let Some(s) = link.socket.lock().take() {
            let _ = s.shutdown(Shutdown::Both);
        }
        if link.down_since_ms.load(Relaxed) == 0 {
            link.down_since_ms.store(unix_ms(), Relaxed);
        }
        for _ in 0..10 {
            if link.stopped() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        if !link.stopped() {
            log::notice(&format!("Connecting to MASTER {}:{}", link.host, link.port));
        }
    }
}

/// The master's socket with a read buffer.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    pos: usize,
}

impl Conn {
    fn send(&mut self, argv: &[&[u8]]) -> Result<(), String> {
        let argv: Vec<Vec<u8>> = argv.iter().map(|a| a.to_vec()).collect();
        let mut bytes = Vec::new();
        crate::persistence::aof::resp(&mut bytes, &argv);
        self.stream
            .write_all(&bytes)
            .map_err(|e| format!("Error writing to the MASTER: {e}"))
    }

    /// Reads more bytes; `Ok(false)` when the read timed out.
    fn fill(&mut self, link: &Link) -> Result<bool, String> {
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > 64 * 1024 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => Err("Connection with master lost.".into()),
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                link.last_io_ms.store(unix_ms(), Relaxed);
                Ok(true)
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => Ok(false),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Ok(true),
            Err(e) => Err(format!("Connection with master lost: {e}")),
        }
    }

    /// Reads until `done` holds for the unread bytes; fails when the link ends, or after
    /// `repl-timeout` without a byte from the master.
    fn wait_until(&mut self, srv: &Server, link: &Link, done: impl Fn(&[u8]) -> bool) -> Result<(), String> {
        let mut last = unix_ms();
        while !done(&self.buf[self.pos..]) {
            if link.stopped() {
                return Err(String::new());
            }
            if self.fill(link)? {
                last = unix_ms();
            } else if unix_ms() - last > timeout_ms(srv) {
                return Err("Timeout receiving data from MASTER... If the problem persists try to set the 'repl-timeout' parameter in redis.conf to a larger value.".into());
            }
        }
        Ok(())
    }

    /// One reply line (without CRLF).
    fn line(&mut self, srv: &Server, link: &Link) -> Result<String, String> {
        self.wait_until(srv, link, |b| b.contains(&b'\n'))?;
        let rest = &self.buf[self.pos..];
        let end = rest.iter().position(|&c| c == b'\n').unwrap_or(rest.len());
        let line = &rest[..end];
        let text = String::from_utf8_lossy(line.strip_suffix(b"\r").unwrap_or(line)).into_owned();
        self.pos += (end + 1).min(rest.len());
        Ok(text)
    }

    /// Exactly `n` more bytes.
    fn take(&mut self, srv: &Server, link: &Link, n: usize) -> Result<Vec<u8>, String> {
        self.wait_until(srv, link, |b| b.len() >= n)?;
        let out = self.buf[self.pos..self.pos + n].to_vec();
        self.pos += n;
        Ok(out)
    }

    /// The image after `+FULLRESYNC`: `$<len>\r\n<bytes>` or `$EOF:<mark>\r\n<bytes><mark>`.
    fn payload(&mut self, srv: &Server, link: &Link) -> Result<Vec<u8>, String> {
        let header = loop {
            let l = self.line(srv, link)?;
            // Newlines keep the link alive while the master prepares the image.
            if !l.is_empty() {
                break l;
            }
        };
        if let Some(mark) = header.strip_prefix("$EOF:") {
            let mark = mark.as_bytes().to_vec();
            if mark.len() != 40 {
                return Err(format!("Bad EOF mark from MASTER: {header}"));
            }
            self.wait_until(srv, link, |b| b.len() >= mark.len() && b.ends_with(&mark))?;
            let data = self.buf[self.pos..self.buf.len() - mark.len()].to_vec();
            self.pos = self.buf.len();
            return Ok(data);
        }
        let len = header
            .strip_prefix('$')
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| format!("Bad protocol from MASTER, the first byte is not '$' (we received '{header}'), are you sure the host and port are right?"))?;
        log::notice(&format!(
            "MASTER <-> REPLICA sync: receiving {len} bytes from master to disk"
        ));
        self.take(srv, link, len)
    }
}

fn timeout_ms(srv: &Server) -> i64 {
    srv.config.get_i64("repl-timeout").max(1) * 1000
}

/// Connects to the master from `bind-source-addr` when it is set. As Redis's
/// `anetTcpNonBlockBestEffortBindConnect`, a source address that cannot be bound is ignored
/// and the connection goes out from the default address.
fn connect(addr: &std::net::SocketAddr, source: &str, timeout: Duration) -> std::io::Result<TcpStream> {
    use socket2::{Domain, Protocol, Socket, Type};
    let sock = Socket::new(Domain::for_address(*addr), Type::STREAM, Some(Protocol::TCP))?;
    if let Ok(ip) = source.parse::<std::net::IpAddr>() {
        let _ = sock.bind(&std::net::SocketAddr::new(ip, 0).into());
    }
    sock.connect_timeout(&(*addr).into(), timeout)?;
    Ok(sock.into())
}

/// One connection to the master: handshake, image, stream, until an error or the link ends.
fn session(srv: &Server, link: &Link) -> Result<(), String> {
    let addr = (link.host.as_str(), link.port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| format!("Unable to connect to MASTER: can't resolve {}", link.host))?;
    let source = srv.config.get("bind-source-addr");
    let stream = connect(&addr, &source, Duration::from_millis(timeout_ms(srv) as u64))
        .map_err(|e| format!("Error condition on socket for SYNC: {e}"))?;
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
    *link.socket.lock() = stream.try_clone().ok();
    if link.stopped() {
        return Ok(());
    }
    log::notice("MASTER <-> REPLICA sync started");
    link.set_state(State::Connecting);
    let mut conn = Conn {
        stream,
        buf: Vec::new(),
        pos: 0,
    };
    handshake(srv, link, &mut conn)?;
    // PSYNC ? -1: no cached master, so a full resync.
    conn.send(&[b"PSYNC", b"?", b"-1"])?;
    let reply = loop {
        let l = conn.line(srv, link)?;
        if !l.is_empty() {
            break l;
        }
    };
    let Some(rest) = reply.strip_prefix("+FULLRESYNC ") else {
        return Err(format!("Unexpected reply to PSYNC from master: {reply}"));
    };
    let mut parts = rest.split(' ');
    let (replid, offset) = (
        parts.next().unwrap_or(""),
        parts.next().and_then(|o| o.parse::<i64>().ok()).unwrap_or(0),
    );
    log::notice(&format!("Full resync from master: {replid}:{offset}"));
    *link.replid.lock() = replid.to_string();
    link.set_state(State::Sync);
    let image = conn.payload(srv, link)?;
    load(srv, link, &image)?;
    link.offset.store(offset, Relaxed);
    link.read_offset.store(offset, Relaxed);
    link.down_since_ms.store(0, Relaxed);
    link.set_state(State::Connected);
    log::notice("MASTER <-> REPLICA sync: Finished with success");
    apply_stream(srv, link, &mut conn)
}

/// PING, AUTH, REPLCONF: the replies Redis's `syncWithMaster` accepts.
fn handshake(srv: &Server, link: &Link, conn: &mut Conn) -> Result<(), String> {
    conn.send(&[b"PING"])?;
    let pong = conn.line(srv, link)?;
    if pong.starts_with('-')
        && !pong.starts_with("-NOAUTH")
        && !pong.starts_with("-NOPERM")
        && !pong.starts_with("-ERR operation not permitted")
    {
        return Err(format!("Error reply to PING from master: '{pong}'"));
    }
    log::notice("Master replied to PING, replication can continue...");
    let pass = srv.config.get("masterauth");
    if !pass.is_empty() {
        let user = srv.config.get("masteruser");
        if user.is_empty() {
            conn.send(&[b"AUTH", pass.as_bytes()])?;
        } else {
            conn.send(&[b"AUTH", user.as_bytes(), pass.as_bytes()])?;
        }
        let r = conn.line(srv, link)?;
        if r.starts_with('-') {
            return Err(format!("Unable to AUTH to MASTER: {r}"));
        }
    }
    let port = srv.port.to_string();
    conn.send(&[b"REPLCONF", b"listening-port", port.as_bytes()])?;
    let r = conn.line(srv, link)?;
    if r.starts_with('-') {
        log::notice(&format!(
            "(Non critical) Master does not understand REPLCONF listening-port: {r}"
        ));
    }
    conn.send(&[b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"])?;
    let r = conn.line(srv, link)?;
    if r.starts_with('-') {
        log::notice(&format!("(Non critical) Master does not understand REPLCONF capa: {r}"));
    }
    Ok(())
}

/// Replaces the dataset with the master's image, with the whole server stopped.
fn load(srv: &Server, link: &Link, image: &[u8]) -> Result<(), String> {
    let _world = srv.world.exclusive();
    if link.stopped() {
        return Err(String::new());
    }
    log::notice("MASTER <-> REPLICA sync: Flushing old data");
    for (i, db) in srv.keyspace.dbs.iter().enumerate() {
        crate::server::multi::touch_db(srv, i, None);
        db.flush(false);
    }
    srv.scripts.flush(false);
    srv.scripts.functions.flush(false);
    log::notice("MASTER <-> REPLICA sync: Loading DB in memory");
    srv.scripts
        .functions
        .load_rdb(srv, srv.workers, image, false)
        .map_err(|e| format!("Failed trying to load the MASTER synchronization DB from disk: {e}"))?;
    let mut locked = snapshot::lock_all_dbs(&srv.keyspace);
    let opts = snapshot::LoadOptions::new(srv, false);
    let counts = snapshot::load(&mut locked, image, &opts)
        .map_err(|e| format!("Failed trying to load the MASTER synchronization DB from disk: {e}"))?;
    drop(locked);
    counts.record(srv);
    Ok(())
}

/// Applies the master's command stream until the link fails or ends.
fn apply_stream(srv: &Server, link: &Link, conn: &mut Conn) -> Result<(), String> {
    let handle = Arc::new(ClientHandle::new(
        u64::MAX - 1,
        format!("{}:{}", link.host, link.port),
        String::new(),
        -1,
        unix_ms(),
    ));
    let mut client = Client::new(handle, srv.workers, true);
    client.master_link = link.generation;
    let mut out = Reply::new();
    let mut last_ack = 0;
    loop {
        loop {
            let start = conn.pos;
            let (argv, next) = match crate::persistence::aof::parse_command(&conn.buf, start) {
                crate::persistence::aof::Parsed::Command(argv, next) => (argv, next),
                crate::persistence::aof::Parsed::Eof | crate::persistence::aof::Parsed::Truncated => break,
                _ => return Err("Protocol error from MASTER, closing the link".into()),
            };
            conn.pos = next;
            let len = (next - start) as i64;
            link.read_offset.fetch_add(len, Relaxed);
            let args: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
            // GETACK is answered with the offset before it, as Redis acknowledges from inside it.
            if args.len() >= 2 && args[0].eq_ignore_ascii_case(b"replconf") && args[1].eq_ignore_ascii_case(b"getack") {
                ack(link, conn)?;
                link.offset.fetch_add(len, Relaxed);
                continue;
            }
            // Blocking commands answer at once; nothing the master sends may wait.
            client.in_exec = true;
            crate::server::dispatch::execute(srv, &mut client, &mut out, &args);
            out.buf.clear();
            if link.stopped() {
                return Ok(());
            }
            link.offset.fetch_add(len, Relaxed);
        }
        if link.stopped() {
            return Ok(());
        }
        conn.fill(link)?;
        let now = unix_ms();
        if now - last_ack >= 1000 {
            ack(link, conn)?;
            last_ack = now;
        }
        if now - link.last_io_ms.load(Relaxed) > timeout_ms(srv) {
            return Err("MASTER timeout: no data nor PING received...".into());
        }
    }
}

fn ack(link: &Link, conn: &mut Conn) -> Result<(), String> {
    let off = link.offset.load(Relaxed).to_string();
    conn.send(&[b"REPLCONF", b"ACK", off.as_bytes()])
}

/// INFO's replication lines between `role:slave` and `connected_slaves`, or `None` for a
/// master.
pub fn info_lines(srv: &Server) -> Option<Vec<String>> {
    let link = srv.follow.link()?;
    let now = unix_ms();
    let state = link.state();
    let up = state == State::Connected;
    let mut v = vec![
        format!("master_host:{}", link.host),
        format!("master_port:{}", link.port),
        format!("master_link_status:{}", if up { "up" } else { "down" }),
    ];
    let last_io = link.last_io_ms.load(Relaxed);
    v.push(format!(
        "master_last_io_seconds_ago:{}",
        if last_io == 0 { -1 } else { (now - last_io) / 1000 }
    ));
    v.push(format!("master_sync_in_progress:{}", u8::from(state == State::Sync)));
    v.push(format!("slave_read_repl_offset:{}", link.read_offset.load(Relaxed)));
    v.push(format!("slave_repl_offset:{}", link.offset.load(Relaxed)));
    if !up {
        let since = link.down_since_ms.load(Relaxed);
        v.push(format!(
            "master_link_down_since_seconds:{}",
            if since == 0 { -1 } else { (now - since) / 1000 }
        ));
    }
    v.push(format!("slave_priority:{}", srv.config.get("replica-priority")));
    v.push(format!(
        "slave_read_only:{}",
        u8::from(srv.config.get_bool("replica-read-only"))
    ));
    v.push("replica_announced:1".into());
    Some(v)
}

/// The replication ID and offset INFO reports: the master's, once a sync gave them.
pub fn replid_offset(srv: &Server) -> Option<(String, i64)> {
    let link = srv.follow.link()?;
    let id = link.replid.lock().clone();
    (!id.is_empty()).then(|| (id, link.offset.load(Relaxed)))
}

/// ROLE on a replica: `slave`, host, port, link state, offset.
pub fn role(srv: &Server, out: &mut Reply) -> bool {
    let Some(link) = srv.follow.link() else {
        return false;
    };
    out.array(5);
    out.bulk(b"slave");
    out.bulk(link.host.as_bytes());
    out.int(link.port as i64);
    out.bulk(link.state().name().as_bytes());
    out.int(link.offset.load(Relaxed));
    true
}
