//! Test support: starts a real `ochre-server` on a free loopback port and connects clients to it.
//! Every integration test talks to the server over real sockets.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server, killed when dropped.
pub struct Server {
    pub port: u16,
    child: Child,
    pub dir: std::path::PathBuf,
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind ephemeral port");
    l.local_addr().expect("local addr").port()
}

impl Server {
    /// Starts a server with extra `--directive value` arguments.
    pub fn start_with(args: &[&str]) -> Server {
        for _ in 0..5 {
            let port = free_port();
            // A counter makes the folder unique even when a port is reused at once: a finished
            // test removes its folder after its server has freed the port, so a folder named
            // by port alone could be deleted under the next server.
            static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let dir = std::env::temp_dir().join(format!("ochre-test-{}-{}-{}", std::process::id(), port, n));
            std::fs::create_dir_all(&dir).expect("create test dir");
            let child = Command::new(env!("CARGO_BIN_EXE_ochre-server"))
                .args([
                    "--port",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--dir",
                ])
                .arg(&dir)
                .args(["--enable-debug-command", "yes"])
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn ochre-server");
            let mut s = Server { port, child, dir };
            if s.wait_ready() {
                return s;
            }
            let _ = s.child.kill();
        }
        panic!("ochre-server did not start");
    }

    pub fn start() -> Server {
        Server::start_with(&[])
    }

    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                if s.write_all(b"PING\r\n").is_ok() {
                    // Any status or error reply (NOAUTH too) means the server is serving.
                    let mut buf = [0u8; 1];
                    if s.read_exact(&mut buf).is_ok() && (buf[0] == b'+' || buf[0] == b'-') {
                        return true;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// A synchronous `redis` crate connection.
    pub fn client(&self) -> redis::Connection {
        let c = redis::Client::open(format!("redis://127.0.0.1:{}/", self.port)).expect("client");
        c.get_connection().expect("connect")
    }

    /// A raw socket with a read timeout, for protocol-level tests.
    pub fn raw(&self) -> Raw {
        let s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect raw");
        s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        Raw { s }
    }

    /// Whether the server process is still alive.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A raw protocol connection.
pub struct Raw {
    pub s: TcpStream,
}

impl Raw {
    pub fn send(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).expect("write");
    }

    /// Reads until `n` bytes arrived or the peer closed; returns what came.
    pub fn read_n(&mut self, n: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while out.len() < n {
            match self.s.read(&mut buf) {
                Ok(0) => break,
                Ok(k) => out.extend_from_slice(&buf[..k]),
                Err(_) => break,
            }
        }
        out
    }

    /// Reads one complete RESP reply and returns its raw bytes.
    pub fn read_reply(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = [0u8; 1];
        loop {
            if let Some(len) = resp_frame_len(&out) {
                out.truncate(len);
                return out;
            }
            match self.s.read(&mut buf) {
                Ok(0) | Err(_) => return out,
                Ok(_) => out.push(buf[0]),
            }
        }
    }

    /// Sends a command as multibulk and returns the raw reply.
    pub fn cmd(&mut self, args: &[&[u8]]) -> Vec<u8> {
        let mut req = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            req.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            req.extend_from_slice(a);
            req.extend_from_slice(b"\r\n");
        }
        self.send(&req);
        self.read_reply()
    }

    /// [`Raw::cmd`] with text arguments, the raw reply as text (for exact-reply assertions).
    pub fn cmd_str(&mut self, args: &[&str]) -> String {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        String::from_utf8_lossy(&self.cmd(&args)).into_owned()
    }

    /// Whether the server closed the connection within the read timeout: an orderly close
    /// (read returns 0) or a reset (a server that closes with unread input sends RST).
    pub fn closed(&mut self) -> bool {
        let mut buf = [0u8; 64];
        match self.s.read(&mut buf) {
            Ok(0) => true,
            // Data instead of a close.
            Ok(_) => false,
            Err(e) => matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
            ),
        }
    }
}

/// Length of the first complete RESP frame in `b`, if there is one.
pub fn resp_frame_len(b: &[u8]) -> Option<usize> {
    fn line(b: &[u8], from: usize) -> Option<usize> {
        b[from..].windows(2).position(|w| w == b"\r\n").map(|p| from + p)
    }
    fn frame(b: &[u8], at: usize) -> Option<usize> {
        if at >= b.len() {
            return None;
        }
        let eol = line(b, at)?;
        let head = std::str::from_utf8(&b[at + 1..eol]).ok()?;
        match b[at] {
            b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => Some(eol + 2),
            b'$' | b'=' | b'!' => {
                let n: i64 = head.parse().ok()?;
                if n < 0 {
                    return Some(eol + 2);
                }
                let end = eol + 2 + n as usize + 2;
                (end <= b.len()).then_some(end)
            }
            b'*' | b'~' | b'>' | b'%' | b'|' => {
                let n: i64 = head.parse().ok()?;
                let mut pos = eol + 2;
                let count = if b[at] == b'%' || b[at] == b'|' { n * 2 } else { n };
                for _ in 0..count.max(0) {
                    pos = frame(b, pos)?;
                }
                Some(pos)
            }
            _ => None,
        }
    }
    frame(b, 0)
}

/// A reference `redis-server` (Debian's 7.0.15) for differential tests, if installed.
pub struct Reference {
    pub port: u16,
    child: Child,
}

impl Reference {
    /// Starts `/usr/bin/redis-server` on a free port, or returns None when it is not installed.
    pub fn start() -> Option<Reference> {
        Reference::start_in(&std::env::temp_dir())
    }

    /// Like [`Reference::start`] with `dir` as the server's directory (it loads `dump.rdb` from
    /// there if present).
    pub fn start_in(dir: &std::path::Path) -> Option<Reference> {
        let bin = std::path::Path::new("/usr/bin/redis-server");
        if !bin.exists() {
            eprintln!("note: /usr/bin/redis-server not installed; differential checks skipped");
            return None;
        }
        let port = free_port();
        let child = Command::new(bin)
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args([
                "--daemonize",
                "no",
                "--enable-debug-command",
                "yes",
                "--logfile",
                "",
                "--dir",
            ])
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let r = Reference { port, child };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(r);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn raw(&self) -> Raw {
        let s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect reference");
        s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        Raw { s }
    }
}

impl Drop for Reference {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A server on a directory that outlives it, for persistence tests that restart on the same
/// files (killed with SIGKILL when dropped, so dropping it is a crash).
pub struct DirServer {
    pub port: u16,
    pub child: Child,
}

impl DirServer {
    /// Starts a server in `dir` with extra `--directive value` arguments; `None` when it
    /// exits during start-up (a refused file, say).
    pub fn spawn(dir: &std::path::Path, args: &[&str]) -> Option<DirServer> {
        let port = free_port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_ochre-server"))
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""])
            .arg("--dir")
            .arg(dir)
            .args(["--enable-debug-command", "yes"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return None;
            }
            // Ready once it answers PING (the port may be open while it still loads, or
            // just before it exits on a refused file).
            if let Ok(mut sock) = TcpStream::connect(("127.0.0.1", port)) {
                let _ = sock.set_read_timeout(Some(Duration::from_secs(5)));
                let mut buf = [0u8; 7];
                if sock.write_all(b"PING\r\n").is_ok() && sock.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n" {
                    return Some(DirServer { port, child });
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    pub fn con(&self) -> redis::Connection {
        redis::Client::open(format!("redis://127.0.0.1:{}/", self.port))
            .expect("client")
            .get_connection()
            .expect("connect")
    }
}

impl Drop for DirServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh empty folder under the temp dir, unique per process and call.
pub fn tmpdir(tag: &str) -> std::path::PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let d = std::env::temp_dir().join(format!("ochre-{}-{tag}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("mkdir");
    d
}

/// A small deterministic generator (xorshift), so a failure reproduces from the seed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    pub fn pick<'a, T>(&mut self, from: &'a [T]) -> &'a T {
        &from[self.below(from.len())]
    }
}
