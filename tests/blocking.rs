//! Blocking list and sorted-set commands across connections: serving order, timeouts, CLIENT UNBLOCK, CLIENT
//! KILL, disconnection, WRONGTYPE while blocked, pipelining behind a blocked command, and keys
//! made ready by RENAME / SWAPDB.

mod common;

use common::{Raw, Server};
use std::time::{Duration, Instant};

fn r(c: &mut Raw, args: &[&str]) -> String {
    c.cmd_str(args)
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

// ---------------------------------------------------------------------------------------------
// Sorted sets: BZPOPMIN, BZPOPMAX, BZMPOP
// ---------------------------------------------------------------------------------------------

/// BZPOPMIN/BZPOPMAX's RESP2 reply: `[key, member, score]`.
fn triple(k: &str, m: &str, score: &str) -> String {
    format!("*3\r\n{}{}{}", bulk(k), bulk(m), bulk(score))
}

/// BZMPOP's RESP2 reply: `[key, [[member, score]...]]`.
fn mpop(k: &str, items: &[(&str, &str)]) -> String {
    let mut s = format!("*2\r\n{}*{}\r\n", bulk(k), items.len());
    for (m, sc) in items {
        s.push_str(&pair(m, sc));
    }
    s
}

const WRONGTYPE: &str = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";

#[test]
fn zset_waiters_are_served_in_order_across_workers() {
    let srv = Server::start_with(&["--threads", "4"]);
    let mut ctl = srv.raw();
    let (mut w1, mut w2, mut w3) = (srv.raw(), srv.raw(), srv.raw());
    send(&mut w1, &["BZPOPMIN", "a", "z", "0"]);
    wait_blocked(&mut ctl, 1);
    send(&mut w2, &["BZPOPMAX", "z", "0"]);
    wait_blocked(&mut ctl, 2);
    send(&mut w3, &["BZMPOP", "0", "1", "z", "MIN", "COUNT", "5"]);
    wait_blocked(&mut ctl, 3);
    assert_eq!(
        r(
            &mut ctl,
            &["ZADD", "z", "1", "x", "2", "y", "3", "w", "4", "u", "5", "v"]
        ),
        ":5\r\n"
    );
    // Every waiter was served before ZADD's reply: the key is gone already.
    assert_eq!(r(&mut ctl, &["EXISTS", "z"]), ":0\r\n");
    assert_eq!(reply(&mut w1), triple("z", "x", "1"));
    assert_eq!(reply(&mut w2), triple("z", "v", "5"));
    assert_eq!(reply(&mut w3), mpop("z", &[("y", "2"), ("w", "3"), ("u", "4")]));
    wait_blocked(&mut ctl, 0);
}

#[test]
fn zset_data_already_there_and_resp3() {
    let srv = Server::start();
    let mut c = srv.raw();
    r(&mut c, &["ZADD", "z2", "3", "d", "4", "e", "5", "f", "6", "g"]);
    // The first key holding a sorted set is popped; missing keys are passed over.
    assert_eq!(r(&mut c, &["BZPOPMIN", "z1", "z2", "1"]), triple("z2", "d", "3"));
    assert_eq!(r(&mut c, &["BZPOPMAX", "z1", "z2", "1"]), triple("z2", "g", "6"));
    assert_eq!(
        r(&mut c, &["BZMPOP", "1", "2", "z1", "z2", "MAX", "COUNT", "10"]),
        mpop("z2", &[("f", "5"), ("e", "4")])
    );
    assert_eq!(r(&mut c, &["EXISTS", "z2"]), ":0\r\n");
    r(&mut c, &["HELLO", "3"]);
    r(&mut c, &["ZADD", "z", "1.5", "a", "2", "b"]);
    assert_eq!(
        r(&mut c, &["BZPOPMIN", "z", "0"]),
        format!("*3\r\n{}{},1.5\r\n", bulk("z"), bulk("a"))
    );
    assert_eq!(
        r(&mut c, &["BZMPOP", "0", "1", "z", "MIN"]),
        format!("*2\r\n{}*1\r\n*2\r\n{},2\r\n", bulk("z"), bulk("b"))
    );
    // Served from another connection, the reply is in the waiter's protocol.
    let mut ctl = srv.raw();
    send(&mut c, &["BZPOPMAX", "z", "0"]);
    wait_blocked(&mut ctl, 1);
    r(&mut ctl, &["ZADD", "z", "7", "m"]);
    assert_eq!(reply(&mut c), format!("*3\r\n{}{},7\r\n", bulk("z"), bulk("m")));
}

#[test]
fn zset_timeouts_answer_null() {
    let srv = Server::start();
    let mut c = srv.raw();
    let t = Instant::now();
    assert_eq!(r(&mut c, &["BZPOPMIN", "none", "0.1"]), "*-1\r\n");
    assert!(t.elapsed() >= Duration::from_millis(95));
    assert_eq!(r(&mut c, &["BZPOPMAX", "none", "other", "0.01"]), "*-1\r\n");
    assert_eq!(r(&mut c, &["BZMPOP", "0.01", "2", "none", "other", "MAX"]), "*-1\r\n");
    r(&mut c, &["HELLO", "3"]);
    assert_eq!(r(&mut c, &["BZPOPMIN", "none", "0.01"]), "_\r\n");
    assert_eq!(
        r(&mut c, &["BZMPOP", "0.01", "1", "none", "MIN", "COUNT", "3"]),
        "_\r\n"
    );
    assert_eq!(blocked_clients(&mut c), 0);
}

#[test]
fn zset_argument_errors() {
    let srv = Server::start();
    let mut c = srv.raw();
    let neg = "-ERR timeout is negative\r\n";
    let bad = "-ERR timeout is not a float or out of range\r\n";
    let syntax = "-ERR syntax error\r\n";
    let numkeys = "-ERR numkeys should be greater than 0\r\n";
    let count = "-ERR count should be greater than 0\r\n";
    assert_eq!(r(&mut c, &["BZPOPMIN", "z", "-1"]), neg);
    assert_eq!(r(&mut c, &["BZPOPMAX", "z", "-inf"]), neg);
    assert_eq!(r(&mut c, &["BZPOPMIN", "z", "1e300"]), neg);
    assert_eq!(r(&mut c, &["BZPOPMIN", "z", "abc"]), bad);
    assert_eq!(r(&mut c, &["BZPOPMAX", "z", "nan"]), bad);
    assert_eq!(r(&mut c, &["BZMPOP", "-0.5", "1", "z", "MIN"]), neg);
    assert_eq!(r(&mut c, &["BZMPOP", "x", "1", "z", "MIN"]), bad);
    // BZMPOP checks its other arguments before the timeout.
    assert_eq!(r(&mut c, &["BZMPOP", "x", "0", "z", "MIN"]), numkeys);
    assert_eq!(r(&mut c, &["BZMPOP", "x", "a", "z", "MIN"]), numkeys);
    assert_eq!(r(&mut c, &["BZMPOP", "x", "-1", "z", "MIN"]), numkeys);
    assert_eq!(r(&mut c, &["BZMPOP", "x", "1", "z", "middle"]), syntax);
    assert_eq!(r(&mut c, &["BZMPOP", "0", "5", "z", "MIN"]), syntax);
    assert_eq!(r(&mut c, &["BZMPOP", "0", "1", "z", "MIN", "extra"]), syntax);
    assert_eq!(r(&mut c, &["BZMPOP", "0", "1", "z", "MAX", "MIN"]), syntax);
    assert_eq!(r(&mut c, &["BZMPOP", "0", "1", "z", "COUNT"]), syntax);
    assert_eq!(r(&mut c, &["BZMPOP", "0", "1", "z", "MIN", "COUNT"]), syntax);
    assert_eq!(
        r(&mut c, &["BZMPOP", "0", "1", "z", "MIN", "COUNT", "1", "COUNT", "2"]),
        syntax
    );
    assert_eq!(r(&mut c, &["BZMPOP", "x", "1", "z", "MIN", "COUNT", "0"]), count);
    assert_eq!(r(&mut c, &["BZMPOP", "0", "1", "z", "MAX", "COUNT", "a"]), count);
    assert_eq!(r(&mut c, &["BZMPOP", "0", "1", "z", "MIN", "COUNT", "-1"]), count);
    assert_eq!(
        r(&mut c, &["BZPOPMIN", "z"]),
        "-ERR wrong number of arguments for 'bzpopmin' command\r\n"
    );
    assert_eq!(
        r(&mut c, &["BZMPOP", "0", "1", "z"]),
        "-ERR wrong number of arguments for 'bzmpop' command\r\n"
    );
    // WRONGTYPE at once when a key holds another type and no earlier key has members.
    r(&mut c, &["SET", "s", "x"]);
    assert_eq!(r(&mut c, &["BZPOPMIN", "s", "1"]), WRONGTYPE);
    assert_eq!(r(&mut c, &["BZPOPMAX", "missing", "s", "1"]), WRONGTYPE);
    assert_eq!(r(&mut c, &["BZMPOP", "1", "2", "missing", "s", "MIN"]), WRONGTYPE);
    r(&mut c, &["ZADD", "z", "1", "a"]);
    assert_eq!(r(&mut c, &["BZPOPMIN", "z", "s", "1"]), triple("z", "a", "1"));
    // Errors leave nobody blocked.
    assert_eq!(blocked_clients(&mut c), 0);
}

#[test]
fn zset_client_unblock_and_flags() {
    let srv = Server::start();
    let mut ctl = srv.raw();
    let mut w = srv.raw();
    let id = client_id(&mut w);
    assert!(r(&mut w, &["CLIENT", "INFO"]).contains(" flags=N "));
    send(&mut w, &["BZPOPMIN", "z", "0"]);
    wait_blocked(&mut ctl, 1);
    let list = r(&mut ctl, &["CLIENT", "LIST", "ID", &id]);
    assert!(list.contains(" flags=b "), "{list}");
    assert!(list.contains(" cmd=bzpopmin "), "{list}");
    assert_eq!(r(&mut ctl, &["CLIENT", "UNBLOCK", &id]), ":1\r\n");
    assert_eq!(reply(&mut w), "*-1\r\n");
    assert!(r(&mut w, &["CLIENT", "INFO"]).contains(" flags=N "));
    send(&mut w, &["BZMPOP", "0", "1", "z", "MAX"]);
    wait_blocked(&mut ctl, 1);
    assert_eq!(r(&mut ctl, &["CLIENT", "UNBLOCK", &id, "ERROR"]), ":1\r\n");
    assert_eq!(reply(&mut w), "-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n");
    wait_blocked(&mut ctl, 0);
    assert_eq!(r(&mut ctl, &["CLIENT", "UNBLOCK", &id]), ":0\r\n");
    // Unblocked, it blocks and is served again.
    send(&mut w, &["BZPOPMAX", "z", "0"]);
    wait_blocked(&mut ctl, 1);
    r(&mut ctl, &["ZADD", "z", "1", "a", "2", "b"]);
    assert_eq!(reply(&mut w), triple("z", "b", "2"));
}

#[test]
fn zset_waiter_survives_a_type_change() {
    let srv = Server::start();
    let mut ctl = srv.raw();
    let mut w = srv.raw();
    send(&mut w, &["BZPOPMIN", "k", "0"]);
    wait_blocked(&mut ctl, 1);
    // A string or a list under the key neither serves nor fails the waiter.
    r(&mut ctl, &["SET", "k", "str"]);
    r(&mut ctl, &["DEL", "k"]);
    r(&mut ctl, &["RPUSH", "k", "v"]);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(blocked_clients(&mut ctl), 1);
    // While the key holds another type, a new BZPOPMIN on it fails at once.
    assert_eq!(r(&mut ctl, &["BZPOPMIN", "k", "0"]), WRONGTYPE);
    r(&mut ctl, &["DEL", "k"]);
    r(&mut ctl, &["ZADD", "k", "1", "m"]);
    assert_eq!(reply(&mut w), triple("k", "m", "1"));
    wait_blocked(&mut ctl, 0);
}

#[test]
fn list_and_zset_waiters_on_one_key_each_get_their_type() {
    let srv = Server::start();
    let mut ctl = srv.raw();
    let (mut wl, mut wz) = (srv.raw(), srv.raw());
    send(&mut wl, &["BLPOP", "k", "0"]);
    wait_blocked(&mut ctl, 1);
    send(&mut wz, &["BZPOPMIN", "k", "0"]);
    wait_blocked(&mut ctl, 2);
    // The list waiter queued first is passed over: a sorted set serves sorted-set waiters.
    r(&mut ctl, &["ZADD", "k", "1", "m"]);
    assert_eq!(reply(&mut wz), triple("k", "m", "1"));
    wait_blocked(&mut ctl, 1);
    r(&mut ctl, &["RPUSH", "k", "v"]);
    assert_eq!(reply(&mut wl), pair("k", "v"));
    wait_blocked(&mut ctl, 0);
}

#[test]
fn every_zset_writer_wakes_waiters() {
    let srv = Server::start();
    let mut ctl = srv.raw();
    let mut w = srv.raw();
    r(&mut ctl, &["ZADD", "src", "1", "a", "2", "b"]);
    r(&mut ctl, &["SADD", "set", "s"]);
    let wake = |w: &mut Raw, ctl: &mut Raw, cmd: &[&str], expect: String| {
        send(w, &["BZPOPMIN", "dst", "0"]);
        wait_blocked(ctl, 1);
        r(ctl, cmd);
        assert_eq!(reply(w), expect, "{cmd:?}");
        r(ctl, &["DEL", "dst"]);
    };
    wake(&mut w, &mut ctl, &["ZINCRBY", "dst", "3", "i"], triple("dst", "i", "3"));
    wake(
        &mut w,
        &mut ctl,
        &["ZADD", "dst", "INCR", "4", "j"],
        triple("dst", "j", "4"),
    );
    wake(
        &mut w,
        &mut ctl,
        &["ZUNIONSTORE", "dst", "2", "src", "set"],
        triple("dst", "a", "1"),
    );
    wake(
        &mut w,
        &mut ctl,
        &["ZINTERSTORE", "dst", "1", "src"],
        triple("dst", "a", "1"),
    );
    wake(
        &mut w,
        &mut ctl,
        &["ZDIFFSTORE", "dst", "1", "src"],
        triple("dst", "a", "1"),
    );
    wake(
        &mut w,
        &mut ctl,
        &["ZRANGESTORE", "dst", "src", "1", "1"],
        triple("dst", "b", "2"),
    );
    wake(&mut w, &mut ctl, &["COPY", "src", "dst"], triple("dst", "a", "1"));
    r(&mut ctl, &["GEOADD", "geo", "13.361389", "38.115556", "Palermo"]);
    let palermo = r(&mut ctl, &["ZSCORE", "geo", "Palermo"]);
    let palermo = palermo.lines().nth(1).unwrap_or_default().to_string();
    wake(
        &mut w,
        &mut ctl,
        &["GEOADD", "dst", "13.361389", "38.115556", "Palermo"],
        triple("dst", "Palermo", &palermo),
    );
    wake(
        &mut w,
        &mut ctl,
        &[
            "GEOSEARCHSTORE",
            "dst",
            "geo",
            "FROMLONLAT",
            "15",
            "37",
            "BYRADIUS",
            "200",
            "km",
        ],
        triple("dst", "Palermo", &palermo),
    );
    wake(
        &mut w,
        &mut ctl,
        &["GEORADIUS", "geo", "15", "37", "200", "km", "STORE", "dst"],
        triple("dst", "Palermo", &palermo),
    );
    let dump = ctl.cmd(&[b"DUMP", b"src"]);
    let payload = dump.splitn(2, |&b| b == b'\n').nth(1).unwrap_or_default();
    let payload = &payload[..payload.len().saturating_sub(2)];
    send(&mut w, &["BZPOPMIN", "dst", "0"]);
    wait_blocked(&mut ctl, 1);
    assert_eq!(ctl.cmd(&[b"RESTORE", b"dst", b"0", payload]), b"+OK\r\n");
    assert_eq!(reply(&mut w), triple("dst", "a", "1"));
    r(&mut ctl, &["DEL", "dst"]);
    wake(&mut w, &mut ctl, &["RENAME", "src", "dst"], triple("dst", "a", "1"));
    // MOVE from another database.
    r(&mut ctl, &["SELECT", "1"]);
    r(&mut ctl, &["ZADD", "dst", "9", "moved"]);
    send(&mut w, &["BZPOPMIN", "dst", "0"]);
    wait_blocked(&mut ctl, 1);
    r(&mut ctl, &["MOVE", "dst", "0"]);
    assert_eq!(reply(&mut w), triple("dst", "moved", "9"));
}

#[test]
fn zset_writes_that_add_nothing_do_not_serve() {
    let srv = Server::start();
    let mut ctl = srv.raw();
    let mut w = srv.raw();
    send(&mut w, &["BZMPOP", "0", "2", "k1", "k2", "MIN", "COUNT", "10"]);
    wait_blocked(&mut ctl, 1);
    // Non-key arguments are not waited on (Redis #10762).
    for k in ["0", "2", "MIN", "COUNT", "10"] {
        r(&mut ctl, &["ZADD", k, "1", "x"]);
    }
    r(&mut ctl, &["ZADD", "k1", "XX", "1", "x"]);
    r(&mut ctl, &["ZUNIONSTORE", "k1", "1", "nothing"]);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(blocked_clients(&mut ctl), 1);
    r(&mut ctl, &["ZADD", "k2", "2", "b", "1", "a"]);
    assert_eq!(reply(&mut w), mpop("k2", &[("a", "1"), ("b", "2")]));
}

#[test]
fn bzpopmin_with_a_key_repeated() {
    let srv = Server::start();
    let mut ctl = srv.raw();
    let mut w = srv.raw();
    send(&mut w, &["BZPOPMIN", "z1", "z2", "z2", "z1", "0"]);
    wait_blocked(&mut ctl, 1);
    r(&mut ctl, &["ZADD", "z2", "1", "b"]);
    assert_eq!(reply(&mut w), triple("z2", "b", "1"));
    wait_blocked(&mut ctl, 0);
    // Served once: the second ZADD stays.
    r(&mut ctl, &["ZADD", "z1", "0", "a"]);
    assert_eq!(r(&mut ctl, &["ZCARD", "z1"]), ":1\r\n");
}

#[test]
fn zset_disconnected_waiter_takes_nothing() {
    let srv = Server::start();
    let mut ctl = srv.raw();
    {
        let mut w = srv.raw();
        send(&mut w, &["BZPOPMAX", "z", "0"]);
        wait_blocked(&mut ctl, 1);
    }
    wait_blocked(&mut ctl, 0);
    r(&mut ctl, &["ZADD", "z", "1", "a"]);
    assert_eq!(r(&mut ctl, &["ZCARD", "z"]), ":1\r\n");
}

#[test]
fn many_zset_waiters_across_workers() {
    let srv = Server::start_with(&["--threads", "4"]);
    let mut ctl = srv.raw();
    let mut waiters: Vec<Raw> = (0..20).map(|_| srv.raw()).collect();
    for (i, w) in waiters.iter_mut().enumerate() {
        if i % 2 == 0 {
            send(w, &["BZPOPMIN", "q", "0"]);
        } else {
            send(w, &["BZMPOP", "0", "1", "q", "MAX"]);
        }
    }
    wait_blocked(&mut ctl, 20);
    let adders: Vec<_> = (0..4)
        .map(|p| {
            let port = srv.port;
            std::thread::spawn(move || {
                let mut c = Raw {
                    s: std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect"),
                };
                for i in 0..5 {
                    let m = format!("{p}-{i}");
                    r(&mut c, &["ZADD", "q", &i.to_string(), &m]);
                }
            })
        })
        .collect();
    for a in adders {
        a.join().expect("adder");
    }
    let mut got: Vec<String> = waiters.iter_mut().map(reply).collect();
    assert!(got.iter().all(|g| g.starts_with("*3\r\n") || g.starts_with("*2\r\n")));
    got.sort();
    got.dedup();
    assert_eq!(got.len(), 20);
    wait_blocked(&mut ctl, 0);
    assert_eq!(r(&mut ctl, &["EXISTS", "q"]), ":0\r\n");
}

/// A blocked command reaches the slowlog when it is served, as Redis logs it on unblock: not
/// when it blocks, and not when it times out.
#[test]
fn blocked_commands_are_slowlogged_when_served() {
    let srv = Server::start();
    let mut c = srv.raw();
    let mut waiter = srv.raw();
    r(&mut c, &["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    r(&mut c, &["SLOWLOG", "RESET"]);
    send(&mut waiter, &["BLPOP", "timed", "0.05"]);
    assert_eq!(reply(&mut waiter), "*-1\r\n");
    send(&mut waiter, &["BLPOP", "l", "0"]);
    wait_blocked(&mut c, 1);
    r(&mut c, &["RPUSH", "l", "x"]);
    assert_eq!(reply(&mut waiter), format!("*2\r\n{}{}", bulk("l"), bulk("x")));
    let log = r(&mut c, &["SLOWLOG", "GET"]);
    // Newest first: the served BLPOP (logged by the push, after it), then the push.
    let blpop = log.find("$5\r\nBLPOP\r\n$1\r\nl\r\n$1\r\n0\r\n");
    let rpush = log.find("$5\r\nRPUSH\r\n");
    assert!(blpop.is_some() && rpush.is_some() && blpop < rpush, "{log}");
    assert!(!log.contains("timed"), "a timed-out BLPOP is not logged: {log}");
}

/// A command ended by CLIENT UNBLOCK, with TIMEOUT or ERROR, counts as a failed call, as in
/// Redis 7.0; one that times out by itself does not.
#[test]
fn client_unblock_counts_a_failed_call() {
    let srv = Server::start();
    let mut c = srv.raw();
    let mut waiter = srv.raw();
    let id = client_id(&mut waiter);
    send(&mut waiter, &["BLPOP", "l", "0.01"]);
    assert_eq!(reply(&mut waiter), "*-1\r\n");
    for how in ["TIMEOUT", "ERROR"] {
        send(&mut waiter, &["BLPOP", "l", "0"]);
        wait_blocked(&mut c, 1);
        assert_eq!(r(&mut c, &["CLIENT", "UNBLOCK", &id, how]), ":1\r\n");
        reply(&mut waiter);
    }
    let stats = r(&mut c, &["INFO", "commandstats"]);
    assert!(
        stats.contains("cmdstat_blpop:calls=3,") && stats.contains("rejected_calls=0,failed_calls=2\r\n"),
        "{stats}"
    );
}
