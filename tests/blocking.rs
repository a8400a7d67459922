//! Blocking list commands across connections: serving order, timeouts, CLIENT UNBLOCK, CLIENT
//! KILL, disconnection, WRONGTYPE while blocked, pipelining behind a blocked command, and keys
//! made ready by RENAME / SWAPDB.

mod common;

use common::{Raw, Server};
use std::time::{Duration, Instant};

fn r(c: &mut Raw, args: &[&str]) -> String {
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    String::from_utf8_lossy(&c.cmd(&args)).into_owned()
}

/// Sends a command without reading its reply.
fn send(c: &mut Raw, args: &[&str]) {
    let mut req = format!("*{}\r\n", args.len());
    for a in args {
        req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    c.send(req.as_bytes());
}

fn reply(c: &mut Raw) -> String {
    String::from_utf8_lossy(&c.read_reply()).into_owned()
}

fn bulk(s: &str) -> String {
    format!("${}\r\n{s}\r\n", s.len())
}

fn pair(k: &str, v: &str) -> String {
    format!("*2\r\n{}{}", bulk(k), bulk(v))
}

fn blocked_clients(c: &mut Raw) -> usize {
    let info = r(c, &["INFO", "clients"]);
    info.lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(usize::MAX)
}

/// Waits until INFO reports `n` blocked clients.
fn wait_blocked(c: &mut Raw, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while blocked_clients(c) != n {
        assert!(Instant::now() < deadline, "expected {n} blocked clients");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn client_id(c: &mut Raw) -> String {
    r(c, &["CLIENT", "ID"]).trim_start_matches(':').trim().to_string()
}

#[test]
fn push_serves_waiters_first_come_first_served() {
    let srv = Server::start();
    let mut ctl = srv.raw();
    let (mut w1, mut w2, mut w3) = (srv.raw(), srv.raw(), srv.raw());
    send(&mut w1, &["BLPOP", "a", "b", "0"]);
    wait_blocked(&mut ctl, 1);
    send(&mut w2, &["BRPOP", "b", "0"]);
    wait_blocked(&mut ctl, 2);
    send(&mut w3, &["BLMPOP", "0", "1", "b", "LEFT", "COUNT", "5"]);
    wait_blocked(&mut ctl, 3);
    assert_eq!(r(&mut ctl, &["RPUSH", "b", "1", "2", "3", "4", "5"]), ":5\r\n");
    assert_eq!(reply(&mut w1), pair("b", "1"));
    assert_eq!(reply(&mut w2), pair("b", "5"));
    assert_eq!(
        reply(&mut w3),
        format!("*2\r\n{}*3\r\n{}{}{}", bulk("b"), bulk("2"), bulk("3"), bulk("4"))
    );
    wait_blocked(&mut ctl, 0);
    assert_eq!(r(&mut ctl, &["EXISTS", "b"]), ":0\r\n");
}

#[test]
fn data_already_there_is_served_at_once() {
    let srv = Server::start();
    let mut c = srv.raw();
    r(&mut c, &["RPUSH", "l2", "x", "y"]);
    assert_eq!(r(&mut c, &["BLPOP", "l1", "l2", "0"]), pair("l2", "x"));
    assert_eq!(r(&mut c, &["BRPOP", "l1", "l2", "0"]), pair("l2", "y"));
    r(&mut c, &["RPUSH", "s", "a", "b"]);
    assert_eq!(r(&mut c, &["BLMOVE", "s", "d", "LEFT", "RIGHT", "0"]), bulk("a"));
    assert_eq!(r(&mut c, &["BRPOPLPUSH", "s", "d", "0"]), bulk("b"));
    assert_eq!(
        r(&mut c, &["LRANGE", "d", "0", "-1"]),
        format!("*2\r\n{}{}", bulk("b"), bulk("a"))
    );
}

#[test]
fn timeouts_answer_null() {
    let srv = Server::start();
    let mut c = srv.raw();
    let t = Instant::now();
    assert_eq!(r(&mut c, &["BLPOP", "none", "0.1"]), "*-1\r\n");
    assert!(t.elapsed() >= Duration::from_millis(95));
    assert_eq!(r(&mut c, &["BLMOVE", "none", "d", "LEFT", "LEFT", "0.05"]), "*-1\r\n");
    assert_eq!(r(&mut c, &["BRPOPLPUSH", "none", "d", "0.05"]), "*-1\r\n");
    assert_eq!(r(&mut c, &["BLMPOP", "0.05", "1", "none", "RIGHT"]), "*-1\r\n");
    r(&mut c, &["HELLO", "3"]);
    assert_eq!(r(&mut c, &["BRPOP", "none", "0.05"]), "_\r\n");
    assert_eq!(blocked_clients(&mut c), 0);
}

#[test]
fn timeout_errors() {
    let srv = Server::start();
    let mut c = srv.raw();
    let neg = "-ERR timeout is negative\r\n";
    let bad = "-ERR timeout is not a float or out of range\r\n";
    assert_eq!(r(&mut c, &["BLPOP", "l", "-1"]), neg);
    assert_eq!(r(&mut c, &["BLPOP", "l", "inf"]), neg);
    assert_eq!(r(&mut c, &["BRPOP", "l", "1e30"]), neg);
    assert_eq!(r(&mut c, &["BLPOP", "l", "abc"]), bad);
    assert_eq!(r(&mut c, &["BLPOP", "l", "nan"]), bad);
    assert_eq!(r(&mut c, &["BLMOVE", "l", "d", "left", "left", "x"]), bad);
    assert_eq!(r(&mut c, &["BRPOPLPUSH", "l", "d", "-2"]), neg);
    assert_eq!(r(&mut c, &["BLMPOP", "x", "1", "l", "left"]), bad);
    assert_eq!(
        r(&mut c, &["BLMOVE", "l", "d", "up", "left", "0"]),
        "-ERR syntax error\r\n"
    );
    assert_eq!(
        r(&mut c, &["BLMPOP", "0", "0", "l", "left"]),
        "-ERR numkeys should be greater than 0\r\n"
    );
    assert_eq!(
        r(&mut c, &["BLMPOP", "0", "1", "l", "left", "count", "0"]),
        "-ERR count should be greater than 0\r\n"
    );
    assert_eq!(
        r(&mut c, &["BLPOP", "l"]),
        "-ERR wrong number of arguments for 'blpop' command\r\n"
    );
}

#[test]
fn client_unblock_timeout_and_error() {
    let srv = Server::start();
    let mut ctl = srv.raw();
    let mut w = srv.raw();
    let id = client_id(&mut w);
    send(&mut w, &["BLPOP", "l", "0"]);
    wait_blocked(&mut ctl, 1);
    assert_eq!(r(&mut ctl, &["CLIENT", "UNBLOCK", &id]), ":1\r\n");
    assert_eq!(reply(&mut w), "*-1\r\n");
    send(&mut w, &["BLMOVE", "l", "d", "LEFT", "LEFT", "0"]);
    wait_blocked(&mut ctl, 1);
    assert_eq!(r(&mut ctl, &["CLIENT", "UNBLOCK", &id, "TIMEOUT"]), ":1\r\n");
    assert_eq!(reply(&mut w), "*-1\r\n");
    send(&mut w, &["BRPOP", "l", "0"]);
    wait_blocked(&mut ctl, 1);
    assert_eq!(r(&mut ctl, &["CLIENT", "UNBLOCK", &id, "error"]), ":1\r\n");
    assert_eq!(reply(&mut w), "-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n");
    wait_blocked(&mut ctl, 0);
    // Not blocked (any more): 0.
    assert_eq!(r(&mut ctl, &["CLIENT", "UNBLOCK", &id]), ":0\r\n");
    assert_eq!(
        r(&mut ctl, &["CLIENT", "UNBLOCK", "abc"]),
        "-ERR value is not an integer or out of range\r\n"
    );
    assert_eq!(
        r(&mut ctl, &["CLIENT", "UNBLOCK", &id, "maybe"]),
        "-ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR\r\n"
    );
    assert!(r(&mut ctl, &["INFO", "errorstats"]).contains("errorstat_UNBLOCKED:count=1"));
    // The client still works and can block again.
    send(&mut w, &["BLPOP", "l", "0"]);
    wait_blocked(&mut ctl, 1);
    r(&mut ctl, &["LPUSH", "l", "foo"]);
    assert_eq!(reply(&mut w), pair("l", "foo"));
}

#[test]
fn pipelined_requests_wait_behind_a_blocked_command() {
    let srv = Server::start();
    let mut ctl = srv.raw();
    let mut w = srv.raw();
    w.send(b"*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n0\r\nPING\r\n*2\r\n$4\r\nLLEN\r\n$1\r\nq\r\n");
    wait_blocked(&mut ctl, 1);
    r(&mut ctl, &["RPUSH", "q", "a", "b"]);
    assert_eq!(reply(&mut w), pair("q", "a"));
    assert_eq!(reply(&mut w), "+PONG\r\n");
    assert_eq!(reply(&mut w), ":1\r\n");
}

#[test]
fn wrong_type_keeps_waiting_and_wrong_destination_errors() {
    let srv = Server::start();
    let mut ctl = srv.raw();
    let mut w = srv.raw();
    send(&mut w, &["BLPOP", "k", "0"]);
    wait_blocked(&mut ctl, 1);
    // A string under the key does not serve (or fail) the waiter: it keeps waiting.
    r(&mut ctl, &["SET", "k", "str"]);
    r(&mut ctl, &["RENAME", "k", "k2"]);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(blocked_clients(&mut ctl), 1);
    r(&mut ctl, &["RPUSH", "k", "v"]);
    assert_eq!(reply(&mut w), pair("k", "v"));

    // BRPOPLPUSH towards a string: the waiter gets WRONGTYPE, the element stays.
    r(&mut ctl, &["SET", "target", "str"]);
    send(&mut w, &["BRPOPLPUSH", "src", "target", "0"]);
    wait_blocked(&mut ctl, 1);
    r(&mut ctl, &["RPUSH", "src", "a", "b"]);
    assert_eq!(
        reply(&mut w),
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
    );
    assert_eq!(
        r(&mut ctl, &["LRANGE", "src", "0", "-1"]),
        format!("*2\r\n{}{}", bulk("a"), bulk("b"))
    );
}

#[test]
fn chained_and_circular_moves() {
    let srv = Server::start();
    let mut ctl = srv.raw();
    let (mut w1, mut w2) = (srv.raw(), srv.raw());
    send(&mut w1, &["BLMOVE", "l1", "l2", "RIGHT", "LEFT", "0"]);
    wait_blocked(&mut ctl, 1);
    send(&mut w2, &["BLMOVE", "l2", "l3", "LEFT", "RIGHT", "0"]);
    wait_blocked(&mut ctl, 2);
    r(&mut ctl, &["RPUSH", "l1", "foo"]);
    // Both moves happened before RPUSH's reply: l1 and l2 are empty already.
    assert_eq!(r(&mut ctl, &["LRANGE", "l1", "0", "-1"]), "*0\r\n");
    assert_eq!(r(&mut ctl, &["LRANGE", "l2", "0", "-1"]), "*0\r\n");
    assert_eq!(
        r(&mut ctl, &["LRANGE", "l3", "0", "-1"]),
        format!("*1\r\n{}", bulk("foo"))
    );
    assert_eq!(reply(&mut w1), bulk("foo"));
    assert_eq!(reply(&mut w2), bulk("foo"));

    // A BLPOP waiting on the destination of a BLMOVE is served from it.
    send(&mut w1, &["BLPOP", "dst", "0"]);
    wait_blocked(&mut ctl, 1);
    send(&mut w2, &["BLMOVE", "srcx", "dst", "LEFT", "LEFT", "0"]);
    wait_blocked(&mut ctl, 2);
    r(&mut ctl, &["RPUSH", "srcx", "v"]);
    assert_eq!(reply(&mut w2), bulk("v"));
    assert_eq!(reply(&mut w1), pair("dst", "v"));
}

#[test]
fn kill_and_disconnect_remove_the_waiter() {
    let srv = Server::start();
    let mut ctl = srv.raw();
    let mut w = srv.raw();
    let id = client_id(&mut w);
    send(&mut w, &["BLPOP", "k", "0"]);
    wait_blocked(&mut ctl, 1);
    assert_eq!(r(&mut ctl, &["CLIENT", "KILL", "ID", &id]), ":1\r\n");
    assert!(w.closed());
    wait_blocked(&mut ctl, 0);
    {
        let mut w2 = srv.raw();
        send(&mut w2, &["BLPOP", "k", "0"]);
        wait_blocked(&mut ctl, 1);
    }
    wait_blocked(&mut ctl, 0);
    // Nobody is left to take the element.
    r(&mut ctl, &["RPUSH", "k", "x"]);
    assert_eq!(r(&mut ctl, &["LLEN", "k"]), ":1\r\n");
}

#[test]
fn rename_and_swapdb_wake_waiters() {
    let srv = Server::start();
    let mut ctl = srv.raw();
    let mut w = srv.raw();
    send(&mut w, &["BLPOP", "foo", "0"]);
    wait_blocked(&mut ctl, 1);
    r(&mut ctl, &["RPUSH", "bob", "abc", "def"]);
    r(&mut ctl, &["RENAME", "bob", "foo"]);
    assert_eq!(reply(&mut w), pair("foo", "abc"));

    r(&mut ctl, &["SELECT", "1"]);
    r(&mut ctl, &["RPUSH", "k", "hello"]);
    send(&mut w, &["BRPOP", "k", "5"]);
    wait_blocked(&mut ctl, 1);
    r(&mut ctl, &["SWAPDB", "0", "1"]);
    assert_eq!(reply(&mut w), pair("k", "hello"));
}

#[test]
fn many_waiters_across_workers() {
    // Waiters and pushers on different connections (and so different worker threads): every
    // element is delivered exactly once.
    let srv = Server::start_with(&["--threads", "4"]);
    let mut ctl = srv.raw();
    let mut waiters: Vec<Raw> = (0..20).map(|_| srv.raw()).collect();
    for w in waiters.iter_mut() {
        send(w, &["BLPOP", "q", "0"]);
    }
    wait_blocked(&mut ctl, 20);
    let pushers: Vec<_> = (0..4)
        .map(|p| {
            let port = srv.port;
            std::thread::spawn(move || {
                let mut c = Raw {
                    s: std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect"),
                };
                for i in 0..5 {
                    let v = format!("{p}-{i}");
                    r(&mut c, &["RPUSH", "q", &v]);
                }
            })
        })
        .collect();
    for p in pushers {
        p.join().expect("pusher");
    }
    let mut got: Vec<String> = waiters.iter_mut().map(reply).collect();
    got.sort();
    got.dedup();
    assert_eq!(got.len(), 20);
    wait_blocked(&mut ctl, 0);
    assert_eq!(r(&mut ctl, &["EXISTS", "q"]), ":0\r\n");
}
