//! The server: shared state, start-up, the acceptor and the worker threads.
//!
//! Threading (docs/ARCHITECTURE.md): one acceptor thread hands new connections round-robin to
//! `threads` workers; each worker is a single-threaded tokio runtime that owns its connections
//! and executes their commands itself. A cron thread runs periodic work.

pub mod blocking;
pub mod client;
pub mod config;
pub mod config_table;
pub mod connection;
pub mod crash;
pub mod cron;
pub mod dispatch;
pub mod evict;
pub mod info;
pub mod log;
pub mod monitor;
pub mod multi;
pub mod notify;
pub mod propagate;
pub mod pubsub;
pub mod slowlog;
pub mod stats;
pub mod world;

use crate::commands::CommandTable;
use crate::keyspace::Keyspace;
use client::ClientRegistry;
use config::Config;
use parking_lot::Mutex;
use stats::Stats;
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
pub use world::WorldLock;

/// Current Unix time in milliseconds.
#[inline]
pub fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Current Unix time in nanoseconds (one vDSO clock read; cheaper than `SystemTime`).
#[inline]
pub fn unix_ns() -> i64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

/// Current Unix time in microseconds.
pub fn unix_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// State of CLIENT PAUSE, in atomics because every request reads it.
#[derive(Default)]
pub struct PauseState {
    /// Unix ms until which clients are paused (0 = not paused).
    pub until_ms: std::sync::atomic::AtomicI64,
    /// true: only writes are paused (CLIENT PAUSE ... WRITE).
    pub write_only: AtomicBool,
}

/// Everything shared by all threads.
pub struct Server {
    pub keyspace: Keyspace,
    pub commands: CommandTable,
    pub config: Config,
    pub stats: Stats,
    pub clients: ClientRegistry,
    pub world: WorldLock,
    pub slowlog: slowlog::SlowLog,
    pub latency: slowlog::LatencyMonitor,
    pub monitors: monitor::Monitors,
    pub pause: PauseState,
    pub start: Instant,
    pub start_unix_ms: i64,
    pub run_id: String,
    pub workers: usize,
    pub shutdown_requested: AtomicBool,
    pub active_expire_enabled: AtomicBool,
    /// Unix seconds of the last successful save (LASTSAVE).
    pub last_save: AtomicU64,
    pub port: u16,
    /// RDB persistence state (INFO persistence).
    pub rdb: crate::persistence::save::RdbState,
    /// How SHUTDOWN or a signal asked to exit: 0 by the config (save if save points exist),
    /// 1 NOSAVE, 2 SAVE.
    pub shutdown_save: std::sync::atomic::AtomicU8,
    /// The open listeners (replaced by CONFIG SET port/bind) and the workers' inboxes.
    pub listeners: Mutex<Vec<Listener>>,
    pub worker_inboxes: std::sync::OnceLock<Vec<tokio::sync::mpsc::UnboundedSender<std::net::TcpStream>>>,
    /// A handle to the server itself, for work that must outlive a command (new accept threads).
    pub me: std::sync::OnceLock<std::sync::Weak<Server>>,
    pub executable: String,
    pub config_file: Option<String>,
    /// Clients blocked in BLPOP and friends.
    pub blocking: blocking::Registry,
    /// Keys clients WATCH (MULTI/EXEC).
    pub watches: multi::Watches,
    /// Pub/Sub subscriptions.
    pub pubsub: pubsub::PubSub,
    /// The Lua script cache and the running script's state.
    pub scripts: crate::scripting::Scripts,
    /// Write propagation: the order mutex and whether writes are logged.
    pub propagation: propagate::Propagation,
    /// The append-only file.
    pub aof: crate::persistence::aof::Aof,
    pub replicas: crate::replication::Replicas,
    /// The master this server follows, if any (REPLICAOF).
    pub follow: crate::replication::replica::Follow,
}

impl Server {
    /// The LRU clock: seconds since the server started, by the wall clock as in Redis, so a
    /// command can derive it from the time it already read ([`Server::lru_clock_at`]).
    #[inline]
    pub fn lru_clock(&self) -> u32 {
        self.lru_clock_at(unix_ms())
    }

    /// The access stamp for keys created or read at Unix time `now_ms`: the LRU clock, or under
    /// an LFU policy the LFU clock with a new key's counter (`keyspace::evict::stamp`).
    #[inline]
    pub fn lru_clock_at(&self, now_ms: i64) -> u32 {
        crate::keyspace::evict::stamp(self.lru_seconds_at(now_ms), now_ms)
    }

    /// The LRU clock proper at Unix time `now_ms`: seconds since the server started.
    #[inline]
    pub fn lru_seconds_at(&self, now_ms: i64) -> u32 {
        ((now_ms - self.start_unix_ms).max(0) / 1000) as u32
    }

    pub fn uptime_secs(&self) -> u64 {
        self.start.elapsed().as_secs()
    }
}

fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n / 2 + 1];
    // SAFETY: getrandom writes at most bytes.len() bytes.
    unsafe { libc::getrandom(bytes.as_mut_ptr() as *mut libc::c_void, bytes.len(), 0) };
    let mut s: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    s.truncate(n);
    s
}

/// An open listening socket served by its accept thread.
pub struct Listener {
    fd: i32,
    stop: Arc<AtomicBool>,
}

/// The socket addresses of a `bind` value for `port`: (optional, "host:port"). Redis's `bind`
/// accepts a `-` prefix meaning "skip this address if it does not exist here".
pub fn bind_addresses(binds: &str, port: u16) -> Vec<(bool, String)> {
    binds
        .split_whitespace()
        .map(|a| {
            let (optional, a) = match a.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, a),
            };
            let a = if a == "*" {
                "0.0.0.0"
            } else if a == "::*" {
                "::"
            } else {
                a
            };
            (
                optional,
                if a.contains(':') {
                    format!("[{a}]:{port}")
                } else {
                    format!("{a}:{port}")
                },
            )
        })
        .collect()
}

/// Binds the configured addresses.
fn bind_listeners(cfg: &Config) -> Result<Vec<TcpListener>, String> {
    let port = cfg.get_i64("port") as u16;
    let mut out = Vec::new();
    if port == 0 {
        return Ok(out);
    }
    for (optional, sock) in bind_addresses(&cfg.get("bind"), port) {
        match bind_one(&sock, cfg.get_i64("tcp-backlog") as i32) {
            Ok(l) => out.push(l),
            Err(e) => {
                let unavailable =
                    e.raw_os_error() == Some(libc::EADDRNOTAVAIL) || e.raw_os_error() == Some(libc::EAFNOSUPPORT);
                if optional && unavailable {
                    continue;
                }
                return Err(format!(
                    "Warning: Could not create server TCP listening socket {sock}: {}",
                    e_text(&e)
                ));
            }
        }
    }
    Ok(out)
}

fn e_text(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::EADDRINUSE) => "bind: Address already in use".into(),
        Some(libc::EADDRNOTAVAIL) => "bind: Cannot assign requested address".into(),
        _ => e.to_string(),
    }
}

fn bind_one(addr: &str, backlog: i32) -> std::io::Result<TcpListener> {
    use std::net::ToSocketAddrs;
    let sa = addr
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::from_raw_os_error(libc::EADDRNOTAVAIL))?;
    let domain = if sa.is_ipv4() { libc::AF_INET } else { libc::AF_INET6 };
    // SAFETY: plain socket syscalls on a fresh fd; errors are checked.
    unsafe {
        let fd = libc::socket(domain, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let one: libc::c_int = 1;
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            &one as *const _ as *const libc::c_void,
            4,
        );
        if domain == libc::AF_INET6 {
            libc::setsockopt(
                fd,
                libc::IPPROTO_IPV6,
                libc::IPV6_V6ONLY,
                &one as *const _ as *const libc::c_void,
                4,
            );
        }
        let (ptr, len) = sockaddr_of(&sa);
        if libc::bind(fd, ptr.as_ptr() as *const libc::sockaddr, len) < 0 || libc::listen(fd, backlog) < 0 {
            let e = std::io::Error::last_os_error();
            libc::close(fd);
            return Err(e);
        }
        use std::os::fd::FromRawFd;
        Ok(TcpListener::from_raw_fd(fd))
    }
}

fn sockaddr_of(sa: &std::net::SocketAddr) -> (Vec<u8>, libc::socklen_t) {
    match sa {
        std::net::SocketAddr::V4(a) => {
            let s = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            let len = std::mem::size_of::<libc::sockaddr_in>();
            // SAFETY: reading the bytes of a plain C struct.
            let bytes = unsafe { std::slice::from_raw_parts(&s as *const _ as *const u8, len) }.to_vec();
            (bytes, len as libc::socklen_t)
        }
        std::net::SocketAddr::V6(a) => {
            let s = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: 0,
            };
            let len = std::mem::size_of::<libc::sockaddr_in6>();
            // SAFETY: reading the bytes of a plain C struct.
            let bytes = unsafe { std::slice::from_raw_parts(&s as *const _ as *const u8, len) }.to_vec();
            (bytes, len as libc::socklen_t)
        }
    }
}

/// How many workers to run: the `threads` directive, or the CPUs this process may use.
fn worker_count(cfg: &Config) -> usize {
    let n = cfg.get_i64("threads");
    if n > 0 {
        return n as usize;
    }
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// Builds the server from its configuration, binds, and runs until SHUTDOWN. Returns the exit
/// code.
pub fn run(cfg: Config, executable: String, config_file: Option<String>) -> i32 {
    let workers = worker_count(&cfg);
    let databases = cfg.get_i64("databases").max(1) as usize;
    // ≥ 4 shards per worker, at least 16, a power of two.
    let shard_bits = ((workers * 4).max(16).next_power_of_two()).trailing_zeros();
    log::init(&cfg);
    let pid = std::process::id();
    log::warning("oO0OoO0OoO0Oo Ochre is starting oO0OoO0OoO0Oo");
    log::warning(&format!(
        "Ochre version={}, bits=64, commit=00000000, modified=0, pid={pid}, just started",
        crate::VERSION
    ));
    match &config_file {
        Some(_) => log::warning("Configuration loaded"),
        None => log::warning(
            "Warning: no config file specified, using the default config. In order to specify a config file use ochre-server /path/to/ochre.conf",
        ),
    }
    let port = cfg.get_i64("port") as u16;
    let commands = CommandTable::build(workers, &cfg.rename.read().clone());
    let srv = Arc::new(Server {
        keyspace: Keyspace::new(databases, shard_bits),
        commands,
        stats: Stats::new(workers),
        clients: ClientRegistry::default(),
        world: WorldLock::new(workers),
        slowlog: slowlog::SlowLog::default(),
        latency: slowlog::LatencyMonitor::default(),
        monitors: monitor::Monitors::default(),
        pause: PauseState::default(),
        start: Instant::now(),
        start_unix_ms: unix_ms(),
        run_id: random_hex(40),
        workers,
        shutdown_requested: AtomicBool::new(false),
        active_expire_enabled: AtomicBool::new(true),
        last_save: AtomicU64::new((unix_ms() / 1000) as u64),
        port,
        rdb: Default::default(),
        shutdown_save: Default::default(),
        listeners: Mutex::new(Vec::new()),
        worker_inboxes: std::sync::OnceLock::new(),
        me: std::sync::OnceLock::new(),
        executable,
        config_file,
        blocking: Default::default(),
        watches: Default::default(),
        pubsub: Default::default(),
        scripts: Default::default(),
        propagation: Default::default(),
        aof: Default::default(),
        replicas: Default::default(),
        follow: Default::default(),
        config: cfg,
    });
    crash::install(&srv);
    // The banner line the Redis test suite waits for (` PID: <pid>`), then the start-up log.
    log::banner(port, pid);
    let listeners = match bind_listeners(&srv.config) {
        Ok(l) => l,
        Err(msg) => {
            log::warning(&msg);
            log::warning(&format!("Failed listening on port {port} (TCP), aborting."));
            return 1;
        }
    };
    let _ = srv.me.set(Arc::downgrade(&srv));
    {
        // Keys expired on lookup raise the `expired` keyspace event, created keys `new`.
        let me = Arc::downgrade(&srv);
        let _ = srv.keyspace.stats.on_expired.set(Box::new(move |db, key| {
            if let Some(srv) = me.upgrade() {
                propagate::expired(&srv, db, key);
                notify::notify_srv(&srv, notify::EXPIRED, "expired", key, db);
            }
        }));
        let me = Arc::downgrade(&srv);
        let _ = crate::keyspace::KEY_EVENTS.set(Box::new(move |class, event, db, key| {
            if let Some(srv) = me.upgrade() {
                notify::notify_srv(&srv, class, event, key, db);
            }
        }));
    }
    write_pidfile(&srv.config);
    log::warning("Server initialized");
    // Clients are accepted while the dataset loads, as in Redis: they get `-LOADING` for all
    // but `loading` commands (INFO, CONFIG, DEBUG...); outside the load itself, until the
    // AOF is open, their commands wait.
    srv.rdb
        .phase
        .store(crate::persistence::save::Phase::Starting as u8, Relaxed);
    let mut senders = Vec::new();
    for w in 0..workers {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<std::net::TcpStream>();
        senders.push(tx);
        let srv = srv.clone();
        std::thread::Builder::new()
            .name(format!("ochre-worker-{w}"))
            .spawn(move || connection::worker_main(srv, w, rx))
            .expect("spawn worker thread");
    }
    {
        let srv = srv.clone();
        std::thread::Builder::new()
            .name("ochre-cron".into())
            .spawn(move || cron::run(srv))
            .expect("spawn cron");
    }
    let _ = srv.worker_inboxes.set(senders);
    start_accepting(&srv, listeners);
    // With appendonly yes the AOF is the dataset (Redis's loadDataFromDisk); otherwise the dump.
    let loaded = if srv.config.get_bool("appendonly") {
        crate::persistence::aof::load_at_startup(&srv)
    } else {
        crate::persistence::save::load_at_startup(&srv)
    };
    if let Err(msg) = loaded {
        // An empty message: the loader already logged why, and Redis's last line is that.
        if !msg.is_empty() {
            log::warning(&msg);
        }
        return 1;
    }
    if let Err(msg) = crate::persistence::aof::open_at_startup(&srv) {
        log::warning(&msg);
        return 1;
    }
    srv.rdb
        .phase
        .store(crate::persistence::save::Phase::Serving as u8, Relaxed);
    log::notice("Ready to accept connections");
    // `replicaof host port` in the config: follow that master from the start.
    let master = srv.config.get("replicaof");
    if let Some((host, port)) = master.split_once(' ') {
        if let Ok(port) = port.parse::<u16>() {
            let _world = srv.world.exclusive();
            crate::replication::replica::follow(&srv, host, port, "");
        }
    }
    // The main thread waits for SHUTDOWN.
    cron::wait_for_shutdown(&srv)
}

fn write_pidfile(cfg: &Config) {
    let path = cfg.get("pidfile");
    if path.is_empty() {
        return;
    }
    if std::fs::write(&path, format!("{}\n", std::process::id())).is_err() {
        log::warning(&format!("Failed to write PID file: {path}"));
    }
}

/// Starts an accept thread per listener and records them as the server's listeners.
fn start_accepting(srv: &Arc<Server>, listeners: Vec<TcpListener>) {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let mut open = srv.listeners.lock();
    for l in listeners {
        let stop = Arc::new(AtomicBool::new(false));
        open.push(Listener {
            fd: l.as_raw_fd(),
            stop: stop.clone(),
        });
        let srv = srv.clone();
        let spawned = std::thread::Builder::new().name("ochre-accept".into()).spawn(move || {
            let Some(workers) = srv.worker_inboxes.get() else {
                return;
            };
            loop {
                let accepted = l.accept();
                if stop.load(Relaxed) {
                    // Replaced by CONFIG SET port/bind: dropping `l` closes the socket.
                    return;
                }
                match accepted {
                    Ok((stream, _)) => {
                        if srv.shutdown_requested.load(Relaxed) {
                            continue;
                        }
                        let w = NEXT.fetch_add(1, Relaxed) as usize % workers.len();
                        let _ = workers[w].send(stream);
                    }
                    Err(e) => {
                        log::verbose(&format!("Accepting client connection: {e}"));
                        std::thread::sleep(std::time::Duration::from_millis(10));
                    }
                }
            }
        });
        if let Err(e) = spawned {
            log::warning(&format!("Failed to start an accept thread: {e}"));
        }
    }
}

/// CONFIG SET port/bind: binds the new addresses first and, only if all succeed, closes the old
/// listeners (as Redis's `changeListenPort`/`changeBindAddr`). On failure nothing changes.
pub fn rebind(srv: &Server) -> Result<(), String> {
    let Some(srv) = srv.me.get().and_then(|w| w.upgrade()) else {
        return Err("server is shutting down".into());
    };
    let srv = &srv;
    let listeners = bind_listeners(&srv.config)?;
    let old: Vec<Listener> = std::mem::take(&mut *srv.listeners.lock());
    for l in old {
        l.stop.store(true, Relaxed);
        // SAFETY: shutting down our own listening descriptor only wakes its blocked accept();
        // the accept thread then drops (closes) the listener.
        unsafe { libc::shutdown(l.fd, libc::SHUT_RDWR) };
    }
    start_accepting(srv, listeners);
    Ok(())
}
