//! Replication, the master's side: SYNC and PSYNC send the dataset as an RDB image, then every
//! write's effect after that instant, as a Redis master does (the suite's
//! `attach_to_replication_stream` reads it the same way).
mod common;

use common::Raw;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;

/// The replica's end of the stream, buffered.
type Stream = BufReader<TcpStream>;

fn stream(r: &Raw) -> Stream {
    BufReader::new(r.s.try_clone().expect("clone"))
}

/// Reads a line ending in CRLF (without it).
fn line(r: &mut Stream) -> String {
    let mut out = Vec::new();
    r.read_until(b'\n', &mut out).expect("read");
    assert!(
        out.ends_with(b"\r\n"),
        "stream closed after {:?}",
        String::from_utf8_lossy(&out)
    );
    out.truncate(out.len() - 2);
    String::from_utf8_lossy(&out).into_owned()
}

fn bytes(r: &mut Stream, n: usize) -> Vec<u8> {
    let mut v = vec![0; n];
    r.read_exact(&mut v).expect("read");
    v
}

/// Reads the `$<len>` image that opens the stream; returns its bytes.
fn image(r: &mut Stream) -> Vec<u8> {
    let head = line(r);
    let len: usize = head
        .strip_prefix('$')
        .and_then(|n| n.parse().ok())
        .expect("bulk length");
    bytes(r, len)
}

/// Reads one command of the stream as its arguments.
fn command(r: &mut Stream) -> Vec<String> {
    let n: usize = line(r)
        .strip_prefix('*')
        .and_then(|n| n.parse().ok())
        .expect("multibulk");
    (0..n)
        .map(|_| {
            let len: usize = line(r).strip_prefix('$').and_then(|n| n.parse().ok()).expect("bulk");
            let v = String::from_utf8_lossy(&bytes(r, len)).into_owned();
            assert_eq!(bytes(r, 2), b"\r\n");
            v
        })
        .collect()
}

fn words(s: &str) -> Vec<String> {
    s.split(' ').map(String::from).collect()
}

#[test]
fn sync_sends_the_dataset_then_every_write_in_order() {
    let srv = common::Server::start();
    let mut c = srv.raw();
    assert_eq!(c.cmd_str(&["SET", "before", "1"]), "+OK\r\n");
    let mut repl = srv.raw();
    repl.send(b"SYNC\r\n");
    let mut rs = stream(&repl);
    let rdb = image(&mut rs);
    assert!(
        rdb.starts_with(b"REDIS0010"),
        "{:?}",
        String::from_utf8_lossy(&rdb[..rdb.len().min(16)])
    );
    assert!(
        rdb.windows(6).any(|w| w == b"before"),
        "the key written before SYNC is in the image"
    );
    assert!(c.cmd_str(&["INFO", "replication"]).contains("connected_slaves:1"));
    // Writes after the instant arrive as their effects; reads and no-op writes send nothing.
    assert_eq!(c.cmd_str(&["SET", "k", "v", "EX", "100"]), "+OK\r\n");
    assert_eq!(c.cmd_str(&["GET", "k"]), "$1\r\nv\r\n");
    assert_eq!(c.cmd_str(&["DEL", "missing"]), ":0\r\n");
    assert_eq!(c.cmd_str(&["SELECT", "3"]), "+OK\r\n");
    assert_eq!(c.cmd_str(&["MULTI"]), "+OK\r\n");
    assert_eq!(c.cmd_str(&["INCR", "n"]), "+QUEUED\r\n");
    assert_eq!(c.cmd_str(&["INCR", "n"]), "+QUEUED\r\n");
    assert_eq!(c.cmd_str(&["EXEC"]), "*2\r\n:1\r\n:2\r\n");
    assert_eq!(command(&mut rs), words("SELECT 0"));
    let set = command(&mut rs);
    assert_eq!(set[..4], words("SET k v PXAT")[..], "relative expiry goes out absolute");
    assert_eq!(command(&mut rs), words("SELECT 3"));
    assert_eq!(command(&mut rs), words("MULTI"));
    assert_eq!(command(&mut rs), words("INCR n"));
    assert_eq!(command(&mut rs), words("INCR n"));
    assert_eq!(command(&mut rs), words("EXEC"));
    // A replica that goes away is forgotten.
    drop(rs);
    drop(repl);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !c.cmd_str(&["INFO", "replication"]).contains("connected_slaves:0") {
        assert!(std::time::Instant::now() < deadline, "replica not detached");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn psync_answers_a_full_resync_and_replconf_checks_its_arguments() {
    let srv = common::Server::start();
    let mut c = srv.raw();
    assert_eq!(c.cmd_str(&["REPLCONF", "listening-port"]), "-ERR syntax error\r\n");
    assert_eq!(
        c.cmd_str(&["REPLCONF", "listening-port", "70000"]),
        "-ERR value is out of range\r\n"
    );
    assert_eq!(
        c.cmd_str(&["REPLCONF", "bogus", "1"]),
        "-ERR Unrecognized REPLCONF option: bogus\r\n"
    );
    assert_eq!(
        c.cmd_str(&["REPLCONF", "rdb-filter-only", "functions keys"]),
        "-ERR Unsupported rdb-filter-only option: keys\r\n"
    );
    assert_eq!(
        c.cmd_str(&["SYNC", "extra"]),
        "-ERR wrong number of arguments for 'sync' command\r\n"
    );
    assert_eq!(c.cmd_str(&["MULTI"]), "+OK\r\n");
    assert_eq!(
        c.cmd_str(&["SYNC"]),
        "-ERR Command not allowed inside a transaction\r\n"
    );
    assert_eq!(c.cmd_str(&["DISCARD"]), "+OK\r\n");
    let mut repl = srv.raw();
    assert_eq!(
        repl.cmd_str(&["REPLCONF", "listening-port", "6380", "capa", "psync2"]),
        "+OK\r\n"
    );
    repl.send(b"*3\r\n$5\r\nPSYNC\r\n$1\r\n?\r\n$2\r\n-1\r\n");
    let mut rs = stream(&repl);
    let head = line(&mut rs);
    assert!(head.starts_with("+FULLRESYNC "), "{head}");
    let rdb = image(&mut rs);
    assert!(rdb.starts_with(b"REDIS0010"));
    // ACKs get no reply: the next thing on the wire is the stream.
    repl.send(b"*3\r\n$8\r\nREPLCONF\r\n$3\r\nACK\r\n$1\r\n0\r\n");
    assert!(c.cmd_str(&["INFO", "replication"]).contains(",port=6380,state=online"));
    assert_eq!(c.cmd_str(&["RPUSH", "l", "a"]), ":1\r\n");
    assert_eq!(command(&mut rs), words("SELECT 0"));
    assert_eq!(command(&mut rs), words("RPUSH l a"));
}

#[test]
fn publish_and_served_blocking_pops_reach_the_stream_as_redis_sends_them() {
    let srv = common::Server::start();
    let mut c = srv.raw();
    let mut waiter = srv.raw();
    let mut repl = srv.raw();
    repl.send(b"SYNC\r\n");
    let mut rs = stream(&repl);
    let _ = image(&mut rs);
    // PUBLISH goes to replicas (for their own subscribers), alone or inside EXEC.
    assert_eq!(c.cmd_str(&["PUBLISH", "ch", "hello"]), ":0\r\n");
    assert_eq!(command(&mut rs), words("SELECT 0"));
    assert_eq!(command(&mut rs), words("PUBLISH ch hello"));
    // A BLMPOP served by a later push is logged with the count it actually popped.
    waiter.send(b"*7\r\n$6\r\nBLMPOP\r\n$1\r\n0\r\n$1\r\n1\r\n$1\r\nl\r\n$4\r\nLEFT\r\n$5\r\nCOUNT\r\n$2\r\n10\r\n");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !c.cmd_str(&["INFO", "clients"]).contains("blocked_clients:1") {
        assert!(std::time::Instant::now() < deadline, "BLMPOP did not block");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(c.cmd_str(&["RPUSH", "l", "a", "b", "c"]), ":3\r\n");
    assert_eq!(
        waiter.read_reply(),
        b"*2\r\n$1\r\nl\r\n*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"
    );
    // The push, then the pop it served, as two commands (Redis 7.0 does not wrap them).
    assert_eq!(command(&mut rs), words("RPUSH l a b c"));
    assert_eq!(command(&mut rs), words("LPOP l 3"));
}

#[test]
fn rdb_only_closes_after_the_image_and_replicas_can_be_killed_by_type() {
    let srv = common::Server::start();
    let mut c = srv.raw();
    assert_eq!(c.cmd_str(&["SET", "k", "v"]), "+OK\r\n");
    let lib = "#!lua name=lib\nredis.register_function('f', function() return 1 end)";
    assert_eq!(c.cmd_str(&["FUNCTION", "LOAD", lib]), "$3\r\nlib\r\n");
    // redis-cli --functions-rdb: the libraries without the keys, then the connection ends.
    let mut cli = srv.raw();
    assert_eq!(cli.cmd_str(&["REPLCONF", "rdb-only", "1"]), "+OK\r\n");
    assert_eq!(cli.cmd_str(&["REPLCONF", "rdb-filter-only", "functions"]), "+OK\r\n");
    cli.send(b"SYNC\r\n");
    let mut rs = stream(&cli);
    let rdb = image(&mut rs);
    assert!(rdb.windows(3).any(|w| w == b"lib"), "the library is in the image");
    assert!(
        !rdb.windows(3).any(|w| w == b"\x01k\x01"),
        "no key in a functions-only image"
    );
    let mut rest = Vec::new();
    let _ = rs.read_to_end(&mut rest);
    assert!(rest.is_empty(), "rdb-only: closed right after the image");
    // A replica shows the S flag and goes with CLIENT KILL TYPE replica.
    let mut repl = srv.raw();
    repl.send(b"SYNC\r\n");
    let mut rs = stream(&repl);
    let _ = image(&mut rs);
    assert!(c.cmd_str(&["CLIENT", "LIST"]).contains("flags=S "));
    assert_eq!(c.cmd_str(&["CLIENT", "KILL", "TYPE", "replica"]), ":1\r\n");
    let mut rest = Vec::new();
    let _ = rs.read_to_end(&mut rest);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !c.cmd_str(&["INFO", "replication"]).contains("connected_slaves:0") {
        assert!(std::time::Instant::now() < deadline, "killed replica still listed");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
