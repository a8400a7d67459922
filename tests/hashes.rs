//! Hash commands against a real server: every command, both encodings and the conversion
//! between them, RESP2/RESP3 reply shapes, and every error text (checked on raw sockets).

mod common;

use common::{Raw, Server};

fn cmd(r: &mut Raw, args: &[&str]) -> String {
    let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
    String::from_utf8_lossy(&r.cmd(&a)).into_owned()
}

/// Sends a command and checks the raw reply.
fn check(r: &mut Raw, args: &[&str], want: &str) {
    assert_eq!(cmd(r, args), want, "reply to {args:?}");
}

/// The bulk strings of a flat reply, in order.
fn bulks(reply: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut lines = reply.split("\r\n");
    while let Some(l) = lines.next() {
        if l.starts_with('$') && l != "$-1" {
            out.push(lines.next().unwrap_or("").to_string());
        }
    }
    out
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

const WRONGTYPE: &str = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";

#[test]
fn set_get_and_friends() {
    let srv = Server::start();
    let mut r = srv.raw();
    check(&mut r, &["HSET", "h", "a", "1", "b", "2"], ":2\r\n");
    check(&mut r, &["HSET", "h", "a", "10", "c", "3"], ":1\r\n");
    check(&mut r, &["HMSET", "h", "d", "4"], "+OK\r\n");
    check(&mut r, &["HGET", "h", "a"], "$2\r\n10\r\n");
    check(&mut r, &["HGET", "h", "zz"], "$-1\r\n");
    check(&mut r, &["HGET", "nokey", "a"], "$-1\r\n");
    check(
        &mut r,
        &["HMGET", "h", "a", "zz", "b"],
        "*3\r\n$2\r\n10\r\n$-1\r\n$1\r\n2\r\n",
    );
    check(&mut r, &["HMGET", "nokey", "a", "b"], "*2\r\n$-1\r\n$-1\r\n");
    check(&mut r, &["HLEN", "h"], ":4\r\n");
    check(&mut r, &["HLEN", "nokey"], ":0\r\n");
    check(&mut r, &["HSTRLEN", "h", "a"], ":2\r\n");
    check(&mut r, &["HSTRLEN", "h", "zz"], ":0\r\n");
    check(&mut r, &["HEXISTS", "h", "b"], ":1\r\n");
    check(&mut r, &["HEXISTS", "h", "zz"], ":0\r\n");
    // The compact form keeps insertion order, like Redis's listpack.
    check(
        &mut r,
        &["HKEYS", "h"],
        "*4\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n",
    );
    check(
        &mut r,
        &["HVALS", "h"],
        "*4\r\n$2\r\n10\r\n$1\r\n2\r\n$1\r\n3\r\n$1\r\n4\r\n",
    );
    check(&mut r, &["HGETALL", "nokey"], "*0\r\n");
    check(&mut r, &["HKEYS", "nokey"], "*0\r\n");
    assert_eq!(
        bulks(&cmd(&mut r, &["HGETALL", "h"])),
        vec!["a", "10", "b", "2", "c", "3", "d", "4"]
    );
    check(&mut r, &["HSETNX", "h", "a", "x"], ":0\r\n");
    check(&mut r, &["HSETNX", "h", "e", "5"], ":1\r\n");
    check(&mut r, &["HSETNX", "new", "f", "v"], ":1\r\n");
    check(&mut r, &["HDEL", "h", "a", "zz", "b"], ":2\r\n");
    check(&mut r, &["HDEL", "nokey", "a"], ":0\r\n");
    // A hash left empty is deleted.
    check(&mut r, &["HDEL", "new", "f", "f"], ":1\r\n");
    check(&mut r, &["EXISTS", "new"], ":0\r\n");
    check(&mut r, &["TYPE", "h"], "+hash\r\n");
}

#[test]
fn arity_and_wrongtype_errors() {
    let srv = Server::start();
    let mut r = srv.raw();
    check(
        &mut r,
        &["HSET", "h", "a"],
        "-ERR wrong number of arguments for 'hset' command\r\n",
    );
    check(
        &mut r,
        &["HSET", "h", "a", "1", "b"],
        "-ERR wrong number of arguments for 'hset' command\r\n",
    );
    check(
        &mut r,
        &["HMSET", "h", "a", "1", "b"],
        "-ERR wrong number of arguments for 'hmset' command\r\n",
    );
    check(&mut r, &["SET", "s", "x"], "+OK\r\n");
    for args in [
        &["HSET", "s", "a", "1"][..],
        &["HSETNX", "s", "a", "1"],
        &["HGET", "s", "a"],
        &["HMGET", "s", "a"],
        &["HDEL", "s", "a"],
        &["HLEN", "s"],
        &["HSTRLEN", "s", "a"],
        &["HEXISTS", "s", "a"],
        &["HKEYS", "s"],
        &["HVALS", "s"],
        &["HGETALL", "s"],
        &["HINCRBY", "s", "a", "1"],
        &["HINCRBYFLOAT", "s", "a", "1"],
        &["HRANDFIELD", "s"],
        &["HRANDFIELD", "s", "2"],
        &["HSCAN", "s", "0"],
    ] {
        check(&mut r, args, WRONGTYPE);
    }
}

#[test]
fn hincrby_and_hincrbyfloat() {
    let srv = Server::start();
    let mut r = srv.raw();
    check(&mut r, &["HINCRBY", "h", "n", "5"], ":5\r\n");
    check(&mut r, &["HINCRBY", "h", "n", "-10"], ":-5\r\n");
    check(
        &mut r,
        &["HINCRBY", "h", "n", "x"],
        "-ERR value is not an integer or out of range\r\n",
    );
    check(
        &mut r,
        &["HSET", "h", "s", " 1", "big", "9223372036854775807"],
        ":2\r\n",
    );
    check(
        &mut r,
        &["HINCRBY", "h", "s", "1"],
        "-ERR hash value is not an integer\r\n",
    );
    check(
        &mut r,
        &["HINCRBY", "h", "big", "1"],
        "-ERR increment or decrement would overflow\r\n",
    );
    check(&mut r, &["HINCRBYFLOAT", "h", "f", "1.5"], "$3\r\n1.5\r\n");
    check(&mut r, &["HINCRBYFLOAT", "h", "f", "-0.25"], "$4\r\n1.25\r\n");
    check(&mut r, &["HINCRBYFLOAT", "h", "n", "0.5"], "$4\r\n-4.5\r\n");
    check(
        &mut r,
        &["HINCRBYFLOAT", "h", "s", "1"],
        "-ERR hash value is not a float\r\n",
    );
    check(
        &mut r,
        &["HINCRBYFLOAT", "h", "f", "x"],
        "-ERR value is not a valid float\r\n",
    );
    check(
        &mut r,
        &["HINCRBYFLOAT", "h", "f", "+inf"],
        "-ERR value is NaN or Infinity\r\n",
    );
    check(
        &mut r,
        &["HINCRBYFLOAT", "nokey", "f", "inf"],
        "-ERR value is NaN or Infinity\r\n",
    );
    check(&mut r, &["EXISTS", "nokey"], ":0\r\n");
    // The sum is computed in long double, so only a value near its limit overflows.
    check(&mut r, &["HSET", "h", "huge", "1.1e4932"], ":1\r\n");
    check(
        &mut r,
        &["HINCRBYFLOAT", "h", "huge", "1e4932"],
        "-ERR increment would produce NaN or Infinity\r\n",
    );
    r.send(b"*4\r\n$4\r\nHSET\r\n$1\r\nh\r\n$1\r\nz\r\n$3\r\n1\x002\r\n");
    assert_eq!(r.read_reply(), b":1\r\n");
    check(
        &mut r,
        &["HINCRBYFLOAT", "h", "z", "1"],
        "-ERR hash value is not a float\r\n",
    );
}

#[test]
fn encodings_and_conversion() {
    let srv = Server::start();
    let mut r = srv.raw();
    check(&mut r, &["HSET", "small", "f", "v"], ":1\r\n");
    check(&mut r, &["OBJECT", "ENCODING", "small"], "$8\r\nlistpack\r\n");
    // A value over hash-max-listpack-value converts.
    let long = "x".repeat(65);
    check(&mut r, &["HSET", "small", "g", &long], ":1\r\n");
    check(&mut r, &["OBJECT", "ENCODING", "small"], "$9\r\nhashtable\r\n");
    check(&mut r, &["HGET", "small", "f"], "$1\r\nv\r\n");
    // A field of exactly 64 bytes still fits.
    check(&mut r, &["HSET", "edge", &"y".repeat(64), "v"], ":1\r\n");
    check(&mut r, &["OBJECT", "ENCODING", "edge"], "$8\r\nlistpack\r\n");
    // 512 fields fit (Redis 7.0's default hash-max-listpack-entries), the 513th converts;
    // deleting never converts back.
    for i in 0..512 {
        check(&mut r, &["HSET", "many", &format!("f{i}"), "v"], ":1\r\n");
    }
    check(&mut r, &["OBJECT", "ENCODING", "many"], "$8\r\nlistpack\r\n");
    check(&mut r, &["HSET", "many", "f512", "v"], ":1\r\n");
    check(&mut r, &["OBJECT", "ENCODING", "many"], "$9\r\nhashtable\r\n");
    check(&mut r, &["HDEL", "many", "f0", "f1"], ":2\r\n");
    check(&mut r, &["OBJECT", "ENCODING", "many"], "$9\r\nhashtable\r\n");
    check(&mut r, &["HLEN", "many"], ":511\r\n");
    check(&mut r, &["HGET", "many", "f77"], "$1\r\nv\r\n");
    // HINCRBYFLOAT results longer than the limit convert too.
    check(&mut r, &["CONFIG", "SET", "hash-max-listpack-value", "4"], "+OK\r\n");
    check(&mut r, &["HINCRBYFLOAT", "fl", "f", "1.5"], "$3\r\n1.5\r\n");
    check(&mut r, &["OBJECT", "ENCODING", "fl"], "$8\r\nlistpack\r\n");
    check(&mut r, &["HINCRBYFLOAT", "fl", "f", "0.12345"], "$7\r\n1.62345\r\n");
    check(&mut r, &["OBJECT", "ENCODING", "fl"], "$9\r\nhashtable\r\n");
    // Big hashes: every field readable, HSCAN covers everything.
    check(&mut r, &["CONFIG", "SET", "hash-max-listpack-value", "64"], "+OK\r\n");
    for i in 0..2000 {
        cmd(&mut r, &["HSET", "big", &format!("field:{i}"), &format!("value:{i}")]);
    }
    check(&mut r, &["HLEN", "big"], ":2000\r\n");
    check(&mut r, &["HGET", "big", "field:1999"], "$10\r\nvalue:1999\r\n");
    let mut cursor = "0".to_string();
    let mut seen = std::collections::HashSet::new();
    loop {
        let reply = cmd(&mut r, &["HSCAN", "big", &cursor, "COUNT", "50"]);
        let b = bulks(&reply);
        cursor = b[0].clone();
        for p in b[1..].chunks(2) {
            assert_eq!(p[1], p[0].replace("field", "value"));
            seen.insert(p[0].clone());
        }
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(seen.len(), 2000);
    for i in 0..1990 {
        cmd(&mut r, &["HDEL", "big", &format!("field:{i}")]);
    }
    assert_eq!(
        sorted(bulks(&cmd(&mut r, &["HKEYS", "big"]))),
        sorted((1990..2000).map(|i| format!("field:{i}")).collect())
    );
}

#[test]
fn hrandfield_cases() {
    let srv = Server::start();
    let mut r = srv.raw();
    check(&mut r, &["HRANDFIELD", "nokey"], "$-1\r\n");
    check(&mut r, &["HRANDFIELD", "nokey", "3"], "*0\r\n");
    check(&mut r, &["HSET", "h", "a", "1", "b", "2", "c", "3"], ":3\r\n");
    check(&mut r, &["HRANDFIELD", "h", "0"], "*0\r\n");
    check(
        &mut r,
        &["HRANDFIELD", "h", "x"],
        "-ERR value is not an integer or out of range\r\n",
    );
    check(&mut r, &["HRANDFIELD", "h", "1", "WITHVALUE"], "-ERR syntax error\r\n");
    check(
        &mut r,
        &["HRANDFIELD", "h", "1", "WITHVALUES", "x"],
        "-ERR syntax error\r\n",
    );
    check(
        &mut r,
        &["HRANDFIELD", "h", "-9223372036854775808"],
        "-ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807\r\n",
    );
    check(
        &mut r,
        &["HRANDFIELD", "h", "9223372036854775807", "WITHVALUES"],
        "-ERR value is out of range\r\n",
    );
    let one = bulks(&cmd(&mut r, &["HRANDFIELD", "h"]));
    assert!(["a", "b", "c"].contains(&one[0].as_str()));
    // Positive counts are distinct and capped at the size; negative ones repeat.
    let all = bulks(&cmd(&mut r, &["HRANDFIELD", "h", "10"]));
    assert_eq!(sorted(all), vec!["a", "b", "c"]);
    let two = bulks(&cmd(&mut r, &["HRANDFIELD", "h", "2"]));
    assert_eq!(two.len(), 2);
    assert_ne!(two[0], two[1]);
    assert_eq!(bulks(&cmd(&mut r, &["HRANDFIELD", "h", "-20"])).len(), 20);
    let wv = bulks(&cmd(&mut r, &["HRANDFIELD", "h", "-5", "WITHVALUES"]));
    assert_eq!(wv.len(), 10);
    for p in wv.chunks(2) {
        let want = match p[0].as_str() {
            "a" => "1",
            "b" => "2",
            _ => "3",
        };
        assert_eq!(p[1], want);
    }
    // RESP3: pairs are nested arrays, HGETALL a map.
    assert!(cmd(&mut r, &["HELLO", "3"]).starts_with('%'));
    let reply = cmd(&mut r, &["HRANDFIELD", "h", "1", "WITHVALUES"]);
    assert!(reply.starts_with("*1\r\n*2\r\n$1\r\n"), "{reply}");
    check(
        &mut r,
        &["HGETALL", "h"],
        "%3\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n",
    );
    check(&mut r, &["HGETALL", "nokey"], "%0\r\n");
    check(&mut r, &["HRANDFIELD", "nokey"], "_\r\n");
}

#[test]
fn hscan_options_and_errors() {
    let srv = Server::start();
    let mut r = srv.raw();
    check(&mut r, &["HSET", "h", "a1", "1", "b1", "2"], ":2\r\n");
    check(&mut r, &["HSCAN", "h", "x"], "-ERR invalid cursor\r\n");
    check(&mut r, &["HSCAN", "nokey", "0"], "*2\r\n$1\r\n0\r\n*0\r\n");
    check(&mut r, &["HSCAN", "h", "0", "COUNT", "0"], "-ERR syntax error\r\n");
    check(
        &mut r,
        &["HSCAN", "h", "0", "COUNT", "x"],
        "-ERR value is not an integer or out of range\r\n",
    );
    check(&mut r, &["HSCAN", "h", "0", "TYPE", "string"], "-ERR syntax error\r\n");
    check(&mut r, &["HSCAN", "h", "0", "MATCH"], "-ERR syntax error\r\n");
    check(
        &mut r,
        &["HSCAN", "h", "0", "MATCH", "b*"],
        "*2\r\n$1\r\n0\r\n*2\r\n$2\r\nb1\r\n$1\r\n2\r\n",
    );
    // A small hash is returned whole with cursor 0 whatever the COUNT.
    check(
        &mut r,
        &["HSCAN", "h", "0", "COUNT", "1"],
        "*2\r\n$1\r\n0\r\n*4\r\n$2\r\na1\r\n$1\r\n1\r\n$2\r\nb1\r\n$1\r\n2\r\n",
    );
}

#[test]
fn copy_dump_restore_and_digest() {
    let srv = Server::start();
    let mut r = srv.raw();
    check(&mut r, &["HSET", "h", "a", "1", "b", "2"], ":2\r\n");
    check(&mut r, &["COPY", "h", "h2"], ":1\r\n");
    check(&mut r, &["HSET", "h2", "a", "9"], ":0\r\n");
    check(&mut r, &["HGET", "h", "a"], "$1\r\n1\r\n");
    // Same contents, different insertion order: same digest.
    check(&mut r, &["HSET", "x", "b", "2", "a", "1"], ":2\r\n");
    let d1 = cmd(&mut r, &["DEBUG", "DIGEST-VALUE", "h"]);
    let d2 = cmd(&mut r, &["DEBUG", "DIGEST-VALUE", "x"]);
    assert_eq!(d1, d2);
    let dump = r.cmd(&[b"DUMP", b"h"]);
    let payload = &dump[dump.iter().position(|&c| c == b'\n').map_or(0, |p| p + 1)..dump.len() - 2];
    r.send(
        &[
            b"*4\r\n$7\r\nRESTORE\r\n$2\r\nh3\r\n$1\r\n0\r\n$",
            payload.len().to_string().as_bytes(),
            b"\r\n",
            payload,
            b"\r\n",
        ]
        .concat(),
    );
    assert_eq!(r.read_reply(), b"+OK\r\n");
    assert_eq!(
        sorted(bulks(&cmd(&mut r, &["HGETALL", "h3"]))),
        vec!["1", "2", "a", "b"]
    );
    check(&mut r, &["OBJECT", "ENCODING", "h3"], "$8\r\nlistpack\r\n");
    check(&mut r, &["DEBUG", "RELOAD"], "+OK\r\n");
    check(&mut r, &["HGET", "h", "b"], "$1\r\n2\r\n");
}

/// The raw bytes of a bulk reply.
fn bulk_bytes(reply: &[u8]) -> Vec<u8> {
    let start = reply.iter().position(|&c| c == b'\n').map_or(0, |p| p + 1);
    reply[start..reply.len().saturating_sub(2)].to_vec()
}

fn restore(r: &mut Raw, key: &str, payload: &[u8]) -> Vec<u8> {
    r.cmd(&[b"RESTORE", key.as_bytes(), b"0", payload])
}

#[test]
fn dump_payloads_move_both_ways_with_redis() {
    let Some(reference) = common::Reference::start() else {
        return;
    };
    let srv = Server::start();
    let (mut o, mut x) = (srv.raw(), reference.raw());
    let long = "v".repeat(100);
    for r in [&mut o, &mut x] {
        cmd(
            r,
            &["HSET", "small", "a", "1", "num", "-12345", "big", "9223372036854775808"],
        );
        cmd(r, &["HSET", "wide", "f", &long]);
    }
    for i in 0..600 {
        for r in [&mut o, &mut x] {
            cmd(r, &["HSET", "many", &format!("f{i}"), &i.to_string()]);
        }
    }
    for key in ["small", "wide", "many"] {
        let ours = bulk_bytes(&o.cmd(&[b"DUMP", key.as_bytes()]));
        let theirs = bulk_bytes(&x.cmd(&[b"DUMP", key.as_bytes()]));
        if key == "small" {
            // The compact form is written as a listpack byte for byte like Redis's.
            assert_eq!(ours, theirs);
        }
        assert_eq!(restore(&mut o, "copy", &theirs), b"+OK\r\n");
        assert_eq!(restore(&mut x, "copy", &ours), b"+OK\r\n");
        for r in [&mut o, &mut x] {
            assert_eq!(
                cmd(r, &["DEBUG", "DIGEST-VALUE", "copy"]),
                cmd(r, &["DEBUG", "DIGEST-VALUE", key])
            );
        }
        assert_eq!(
            cmd(&mut o, &["OBJECT", "ENCODING", "copy"]),
            cmd(&mut x, &["OBJECT", "ENCODING", "copy"])
        );
        assert_eq!(
            cmd(&mut o, &["DEBUG", "DIGEST-VALUE", key]),
            cmd(&mut x, &["DEBUG", "DIGEST-VALUE", key])
        );
        for r in [&mut o, &mut x] {
            cmd(r, &["DEL", "copy"]);
        }
    }
    // Corrupt payloads are refused, never trusted.
    let mut bad = bulk_bytes(&x.cmd(&[b"DUMP", b"small"]));
    bad[3] ^= 0xff;
    assert!(restore(&mut o, "bad", &bad).starts_with(b"-"));
}
