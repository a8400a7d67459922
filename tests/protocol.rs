//! Protocol behaviour over raw sockets: framing, inline commands, pipelining, limits and the exact
//! error texts, compared byte for byte with a real redis-server where one is installed.

mod common;

use common::{Reference, Server};

/// Sends `input` on a fresh connection and collects everything the server answers until it
/// closes or goes quiet.
fn exchange(raw: &mut common::Raw, input: &[u8]) -> Vec<u8> {
    raw.send(input);
    raw.s
        .set_read_timeout(Some(std::time::Duration::from_millis(300)))
        .unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match std::io::Read::read(&mut raw.s, &mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
    }
    out
}

/// Inputs whose complete answers must be identical to Redis's.
const CASES: &[&[u8]] = &[
    b"PING\r\n",
    b"ping\n",
    b"PING hello\r\n",
    b"  PING   \r\n",
    b"\r\n\r\nPING\r\n",
    b"ECHO \"a b\" \r\n",
    b"ECHO \"\\x41\\n\"\r\n",
    b"ECHO 'it''s'\r\n",
    b"ECHO \"unbalanced\r\n",
    b"*1\r\n$4\r\nPING\r\n",
    b"*2\r\n$4\r\nECHO\r\n$3\r\nabc\r\n*1\r\n$4\r\nPING\r\n",
    b"*0\r\n*1\r\n$4\r\nPING\r\n",
    b"*-1\r\n*1\r\n$4\r\nPING\r\n",
    b"*x\r\n",
    b"*1\r\nfoo\r\n",
    b"*1\r\n$x\r\n",
    b"*1\r\n$-5\r\n",
    b"*3000000000\r\n",
    b"*1\r\n$4\r\nNOPE\r\n",
    b"NOPE a b c\r\n",
    b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",
    b"GET\r\n",
    b"SET k\r\n",
    b"SELECT 99\r\n",
    b"SELECT x\r\n",
    b"ECHO\r\n",
    b"PING a b\r\n",
];

#[test]
fn replies_match_redis_byte_for_byte() {
    let ours = Server::start();
    let Some(reference) = Reference::start() else { return };
    for case in CASES {
        let a = exchange(&mut ours.raw(), case);
        let b = exchange(&mut reference.raw(), case);
        assert_eq!(
            String::from_utf8_lossy(&a),
            String::from_utf8_lossy(&b),
            "input {:?}",
            String::from_utf8_lossy(case)
        );
    }
}

#[test]
fn protocol_errors_close_the_connection() {
    let srv = Server::start();
    for (input, msg) in [
        (&b"*x\r\n"[..], "-ERR Protocol error: invalid multibulk length\r\n"),
        (b"*1\r\nfoo\r\n", "-ERR Protocol error: expected '$', got 'f'\r\n"),
        (b"*1\r\n$-1\r\n", "-ERR Protocol error: invalid bulk length\r\n"),
        (b"ECHO \"x\r\n", "-ERR Protocol error: unbalanced quotes in request\r\n"),
    ] {
        let mut c = srv.raw();
        c.send(input);
        assert_eq!(String::from_utf8_lossy(&c.read_reply()), msg);
        assert!(c.closed(), "connection must close after {msg}");
    }
}

#[test]
fn oversized_headers_and_inline_requests_are_refused() {
    let srv = Server::start();
    let mut c = srv.raw();
    c.send(&vec![b'a'; 70 * 1024]);
    assert_eq!(c.read_reply(), b"-ERR Protocol error: too big inline request\r\n");
    let mut c = srv.raw();
    let mut big = b"*".to_vec();
    big.extend(vec![b'1'; 70 * 1024]);
    c.send(&big);
    assert_eq!(c.read_reply(), b"-ERR Protocol error: too big mbulk count string\r\n");
}

#[test]
fn bulk_length_limit_follows_proto_max_bulk_len() {
    let srv = Server::start_with(&["--proto-max-bulk-len", "1mb"]);
    let mut c = srv.raw();
    c.send(b"*2\r\n$4\r\nECHO\r\n$2000000\r\n");
    assert_eq!(c.read_reply(), b"-ERR Protocol error: invalid bulk length\r\n");
    let mut c = srv.raw();
    assert_eq!(c.cmd(&[b"ECHO", &vec![b'x'; 1024 * 1024]]).len(), 1024 * 1024 + 12);
}

#[test]
fn pipelined_replies_come_back_in_order() {
    let srv = Server::start();
    let mut c = srv.raw();
    let mut req = Vec::new();
    for i in 0..1000 {
        req.extend_from_slice(format!("*2\r\n$4\r\nECHO\r\n${}\r\n{}\r\n", i.to_string().len(), i).as_bytes());
    }
    // Split the pipeline at awkward places to exercise partial frames.
    for chunk in req.chunks(7) {
        c.send(chunk);
    }
    for i in 0..1000 {
        let s = i.to_string();
        assert_eq!(c.read_reply(), format!("${}\r\n{}\r\n", s.len(), s).into_bytes());
    }
}

#[test]
fn unauthenticated_clients_cannot_send_big_requests() {
    let srv = Server::start_with(&["--requirepass", "secret"]);
    let mut c = srv.raw();
    assert_eq!(c.cmd(&[b"GET", b"k"]), b"-NOAUTH Authentication required.\r\n");
    c.send(b"*20\r\n");
    assert_eq!(
        c.read_reply(),
        b"-ERR Protocol error: unauthenticated multibulk length\r\n"
    );
    let mut c = srv.raw();
    c.send(b"*2\r\n$4\r\nAUTH\r\n$20000\r\n");
    assert_eq!(c.read_reply(), b"-ERR Protocol error: unauthenticated bulk length\r\n");
    let mut c = srv.raw();
    assert_eq!(
        c.cmd(&[b"AUTH", b"wrong"]),
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert_eq!(c.cmd(&[b"AUTH", b"secret"]), b"+OK\r\n");
    assert_eq!(c.cmd(&[b"PING"]), b"+PONG\r\n");
}

#[test]
fn resp3_hello_switches_encoding() {
    let srv = Server::start();
    let mut c = srv.raw();
    let hello = c.cmd(&[b"HELLO", b"3"]);
    assert!(hello.starts_with(b"%7\r\n"), "{}", String::from_utf8_lossy(&hello));
    assert_eq!(c.cmd(&[b"GET", b"nokey"]), b"_\r\n");
    assert_eq!(c.cmd(&[b"HELLO", b"4"]), b"-NOPROTO unsupported protocol version\r\n");
    let hello = c.cmd(&[b"HELLO", b"2"]);
    assert!(hello.starts_with(b"*14\r\n"));
    assert_eq!(c.cmd(&[b"GET", b"nokey"]), b"$-1\r\n");
}

#[test]
fn query_buffer_limit_closes_the_client() {
    let srv = Server::start_with(&["--client-query-buffer-limit", "1mb"]);
    let mut c = srv.raw();
    // A 2 MB argument can never fit in a 1 MB query buffer: the server closes the connection.
    let mut req = b"*2\r\n$4\r\nECHO\r\n$2000000\r\n".to_vec();
    req.extend(vec![b'x'; 1_500_000]);
    let _ = std::io::Write::write_all(&mut c.s, &req);
    assert!(c.closed(), "client over the query buffer limit was not closed");
    // Others are unaffected.
    assert_eq!(srv.raw().cmd(&[b"PING"]), b"+PONG\r\n");
}
