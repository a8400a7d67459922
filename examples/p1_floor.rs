//! The measurement behind docs/ARCHITECTURE.md's "The floor at pipeline depth 1": the least
//! CPU per request that *any* server spends at `redis-benchmark -P 1` on a loopback socket.
//!
//! This is not Ochre. It is the smallest server that `../shared/bench/compare.sh` can measure:
//! one thread, no locks, no runtime, no expiry, no statistics; it parses RESP arrays, keeps
//! strings in a `HashMap`, answers GET, SET, INCR, PING and CONFIG, and `+OK` to anything
//! else. Whatever it spends per request, a real server spends at least as much, so its
//! `us/op` ratio against Redis bounds what any server can reach there.
//!
//! Two event loops, both doing what the kernel makes every server do at depth 1 (receive one
//! request, send one reply, per connection and round):
//! * `epoll` (default): level-triggered `epoll_wait`, then `read` and `write` per ready socket,
//!   the same system calls as Redis's event loop;
//! * `uring`: io_uring, one receive in flight per connection and each reply's send linked to the
//!   next receive, so all the sends and receives of a round enter the kernel in one
//!   `io_uring_enter` instead of one system call each.
//!
//! ```text
//! cargo build --release --example p1_floor
//! R='redis-server --port {port} --bind 127.0.0.1 --save "" --appendonly no'
//! F="$PWD/target/release/examples/p1_floor {port} epoll"     # or: {port} uring
//! cd ../shared/bench && ./compare.sh --a "$R" --b "$F" --workloads SET,GET,INCR --pipelines 1 --sizes 3 --rounds 7
//! ```

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};

const BUF: usize = 16 * 1024;

fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(6399);
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind");
    match args.next().as_deref() {
        Some("uring") => uring::serve(listener),
        _ => epoll::serve(listener),
    }
}

/// FNV-1a: a hash as cheap as a key hash gets, so the floor is not raised by SipHash.
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 { 0xcbf2_9ce4_8422_2325 } else { self.0 };
        for b in bytes {
            h = (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
        }
        self.0 = h;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type Db = HashMap<Vec<u8>, Vec<u8>, BuildHasherDefault<Fnv>>;

/// The argument spans of the complete RESP array at the start of `buf`, and its length.
fn parse(buf: &[u8], spans: &mut Vec<(usize, usize)>) -> Option<usize> {
    fn number(buf: &[u8], at: &mut usize) -> Option<usize> {
        let mut n = 0usize;
        while *buf.get(*at)? != b'\r' {
            n = n
                .checked_mul(10)?
                .checked_add(usize::from(buf[*at].wrapping_sub(b'0')))?;
            *at += 1;
        }
        *at += 2;
        Some(n)
    }
    spans.clear();
    if buf.first() != Some(&b'*') {
        return None;
    }
    let mut at = 1;
    for _ in 0..number(buf, &mut at)? {
        if *buf.get(at)? != b'$' {
            return None;
        }
        at += 1;
        let len = number(buf, &mut at)?;
        if buf.len() < at + len + 2 {
            return None;
        }
        spans.push((at, at + len));
        at += len + 2;
    }
    Some(at)
}

/// Runs every complete request at the start of `buf`, appending replies to `out`; returns the
/// bytes consumed.
fn run(db: &mut Db, buf: &[u8], spans: &mut Vec<(usize, usize)>, out: &mut Vec<u8>) -> usize {
    let mut pos = 0;
    while let Some(used) = parse(&buf[pos..], spans) {
        let req = &buf[pos..pos + used];
        let arg = |i: usize| spans.get(i).map(|&(a, b)| &req[a..b]).unwrap_or_default();
        let name = arg(0);
        if name.eq_ignore_ascii_case(b"GET") {
            match db.get(arg(1)) {
                Some(v) => {
                    out.extend_from_slice(format!("${}\r\n", v.len()).as_bytes());
                    out.extend_from_slice(v);
                    out.extend_from_slice(b"\r\n");
                }
                None => out.extend_from_slice(b"$-1\r\n"),
            }
        } else if name.eq_ignore_ascii_case(b"SET") {
            db.insert(arg(1).to_vec(), arg(2).to_vec());
            out.extend_from_slice(b"+OK\r\n");
        } else if name.eq_ignore_ascii_case(b"INCR") {
            let v = db.entry(arg(1).to_vec()).or_default();
            let n = std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.parse::<i64>().ok())
                .unwrap_or(0)
                + 1;
            *v = n.to_string().into_bytes();
            out.extend_from_slice(format!(":{n}\r\n").as_bytes());
        } else if name.eq_ignore_ascii_case(b"PING") {
            out.extend_from_slice(b"+PONG\r\n");
        } else if name.eq_ignore_ascii_case(b"CONFIG") {
            out.extend_from_slice(b"*0\r\n");
        } else {
            out.extend_from_slice(b"+OK\r\n");
        }
        pos += used;
    }
    pos
}

mod epoll {
    use super::*;

    struct Conn {
        sock: TcpStream,
        buf: Vec<u8>,
        out: Vec<u8>,
    }

    pub fn serve(listener: TcpListener) {
        listener.set_nonblocking(true).expect("nonblocking");
        // SAFETY: plain system calls on descriptors this function owns.
        let ep = unsafe { libc::epoll_create1(0) };
        let watch = |fd: i32| {
            let mut ev = libc::epoll_event {
                events: libc::EPOLLIN as u32,
                u64: fd as u64,
            };
            // SAFETY: `ev` outlives the call; `fd` is open.
            unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, &mut ev) };
        };
        watch(listener.as_raw_fd());
        let mut conns: HashMap<i32, Conn> = HashMap::new();
        let mut db = Db::default();
        let mut spans = Vec::new();
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
        loop {
            // SAFETY: `events` has room for the 1024 events asked for.
            let n = unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), 1024, -1) };
            for ev in &events[..n.max(0) as usize] {
                let fd = ev.u64 as i32;
                if fd == listener.as_raw_fd() {
                    while let Ok((sock, _)) = listener.accept() {
                        let _ = sock.set_nonblocking(true);
                        let _ = sock.set_nodelay(true);
                        let fd = sock.as_raw_fd();
                        watch(fd);
                        let buf = Vec::with_capacity(BUF);
                        conns.insert(
                            fd,
                            Conn {
                                sock,
                                buf,
                                out: Vec::new(),
                            },
                        );
                    }
                    continue;
                }
                let Some(c) = conns.get_mut(&fd) else { continue };
                let start = c.buf.len();
                c.buf.resize(start + BUF, 0);
                match c.sock.read(&mut c.buf[start..]) {
                    Ok(0) | Err(_) => {
                        conns.remove(&fd);
                        continue;
                    }
                    Ok(k) => c.buf.truncate(start + k),
                }
                let used = run(&mut db, &c.buf, &mut spans, &mut c.out);
                c.buf.drain(..used);
                let _ = c.sock.write_all(&c.out);
                c.out.clear();
            }
        }
    }
}

mod uring {
    use super::*;
    use io_uring::{opcode, squeue, types, IoUring};

    struct Conn {
        fd: i32,
        buf: Vec<u8>,
        len: usize,
        out: Vec<u8>,
    }

    const ACCEPT: u64 = u64::MAX;

    pub fn serve(listener: TcpListener) {
        let lfd = types::Fd(listener.as_raw_fd());
        let mut ring: IoUring = IoUring::builder()
            .setup_single_issuer()
            .setup_defer_taskrun()
            .setup_coop_taskrun()
            .build(4096)
            .expect("io_uring");
        let accept = || {
            opcode::Accept::new(lfd, std::ptr::null_mut(), std::ptr::null_mut())
                .build()
                .user_data(ACCEPT)
        };
        let mut conns: Vec<Option<Conn>> = Vec::new();
        let mut db = Db::default();
        let mut spans = Vec::new();
        let mut queue: Vec<squeue::Entry> = vec![accept()];
        let mut done: Vec<(u64, i32)> = Vec::new();
        loop {
            for e in queue.drain(..) {
                // SAFETY: every buffer an entry points to lives in `conns` until its completion.
                while unsafe { ring.submission().push(&e) }.is_err() {
                    ring.submit().expect("submit");
                }
            }
            ring.submit_and_wait(1).expect("submit_and_wait");
            done.extend(ring.completion().map(|c| (c.user_data(), c.result())));
            for (data, res) in done.drain(..) {
                if data == ACCEPT {
                    if res >= 0 {
                        // SAFETY: the accept returned a fresh descriptor that nothing else owns.
                        let sock = unsafe { TcpStream::from_raw_fd(res) };
                        let _ = sock.set_nodelay(true);
                        let slot = conns.iter().position(Option::is_none).unwrap_or_else(|| {
                            conns.push(None);
                            conns.len() - 1
                        });
                        let mut c = Conn {
                            fd: sock.into_raw_fd(),
                            buf: vec![0; BUF],
                            len: 0,
                            out: Vec::with_capacity(1024),
                        };
                        queue.push(recv(slot, &mut c));
                        conns[slot] = Some(c);
                    }
                    queue.push(accept());
                    continue;
                }
                let slot = data as usize;
                let Some(c) = conns.get_mut(slot).and_then(Option::as_mut) else {
                    continue;
                };
                if res <= 0 {
                    // SAFETY: the connection owns its descriptor and is dropped here.
                    unsafe { libc::close(c.fd) };
                    conns[slot] = None;
                    continue;
                }
                // The send linked before this receive has completed: its buffer is free.
                c.out.clear();
                c.len += res as usize;
                let used = run(&mut db, &c.buf[..c.len], &mut spans, &mut c.out);
                c.buf.copy_within(used..c.len, 0);
                c.len -= used;
                if !c.out.is_empty() {
                    let send = opcode::Send::new(types::Fd(c.fd), c.out.as_ptr(), c.out.len() as u32).build();
                    queue.push(
                        send.flags(squeue::Flags::IO_LINK | squeue::Flags::SKIP_SUCCESS)
                            .user_data(1 << 62),
                    );
                }
                queue.push(recv(slot, c));
            }
        }
    }

    fn recv(slot: usize, c: &mut Conn) -> squeue::Entry {
        let room = &mut c.buf[c.len..];
        opcode::Recv::new(types::Fd(c.fd), room.as_mut_ptr(), room.len() as u32)
            .build()
            .user_data(slot as u64)
    }
}
