//! Generic key commands against a real server: DEL UNLINK DELETE EXISTS TYPE RENAME RENAMENX COPY
//! MOVE SWAPDB KEYS SCAN RANDOMKEY TOUCH OBJECT. Exact replies are checked on raw sockets.

mod common;

use common::{Raw, Server};
use std::collections::HashSet;
use std::time::Duration;

fn cmd(r: &mut Raw, args: &[&str]) -> Vec<u8> {
    let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
    r.cmd(&a)
}

/// Sends a command and checks the raw reply.
fn check(r: &mut Raw, args: &[&str], want: &str) {
    let got = cmd(r, args);
    assert_eq!(String::from_utf8_lossy(&got), want, "reply to {args:?}");
}

fn set(r: &mut Raw, k: &str, v: &str) {
    check(r, &["SET", k, v], "+OK\r\n");
}

/// Parses a RESP array of bulk strings (no nesting) into strings.
fn bulk_list(reply: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(reply);
    let mut lines = text.split("\r\n");
    let head = lines.next().unwrap_or("");
    assert!(head.starts_with('*'), "not an array: {text}");
    let mut out = Vec::new();
    while let Some(l) = lines.next() {
        if l.starts_with('$') {
            out.push(lines.next().unwrap_or("").to_string());
        }
    }
    out
}

/// One SCAN call: (next cursor, keys).
fn scan_once(r: &mut Raw, args: &[&str]) -> (String, Vec<String>) {
    let reply = cmd(r, args);
    let text = String::from_utf8_lossy(&reply).to_string();
    assert!(text.starts_with("*2\r\n$"), "bad SCAN reply {text}");
    let parts: Vec<&str> = text.split("\r\n").collect();
    let cursor = parts[2].to_string();
    let rest = parts[3..].join("\r\n");
    (cursor, bulk_list(rest.as_bytes()))
}

fn scan_all(r: &mut Raw, extra: &[&str]) -> Vec<String> {
    let mut cursor = "0".to_string();
    let mut keys = Vec::new();
    loop {
        let mut args = vec!["SCAN", cursor.as_str()];
        args.extend_from_slice(extra);
        let (next, ks) = scan_once(r, &args);
        keys.extend(ks);
        if next == "0" {
            return keys;
        }
        cursor = next;
    }
}

#[test]
fn del_unlink_delete_exists() {
    let srv = Server::start();
    let mut r = srv.raw();
    check(&mut r, &["DEL", "nokey"], ":0\r\n");
    set(&mut r, "a", "1");
    set(&mut r, "b", "2");
    set(&mut r, "c", "3");
    check(&mut r, &["EXISTS", "a"], ":1\r\n");
    check(&mut r, &["EXISTS", "a", "a", "b", "nokey"], ":3\r\n");
    check(&mut r, &["DEL", "a", "a", "nokey"], ":1\r\n");
    check(&mut r, &["UNLINK", "b"], ":1\r\n");
    check(&mut r, &["DELETE", "c"], ":1\r\n");
    check(&mut r, &["EXISTS", "a", "b", "c"], ":0\r\n");
    check(&mut r, &["DEL"], "-ERR wrong number of arguments for 'del' command\r\n");
    check(
        &mut r,
        &["EXISTS"],
        "-ERR wrong number of arguments for 'exists' command\r\n",
    );
    // Many keys across shards in one call.
    let keys: Vec<String> = (0..200).map(|i| format!("k{i}")).collect();
    for k in &keys {
        set(&mut r, k, "v");
    }
    let mut del = vec!["DEL"];
    del.extend(keys.iter().map(|s| s.as_str()));
    check(&mut r, &del, ":200\r\n");
    check(&mut r, &["DBSIZE"], ":0\r\n");
}

#[test]
fn del_and_exists_ignore_expired_keys() {
    let srv = Server::start();
    let mut r = srv.raw();
    check(&mut r, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"], "+OK\r\n");
    set(&mut r, "x", "v");
    check(&mut r, &["PEXPIRE", "x", "5"], ":1\r\n");
    std::thread::sleep(Duration::from_millis(20));
    check(&mut r, &["EXISTS", "x"], ":0\r\n");
    set(&mut r, "y", "v");
    check(&mut r, &["PEXPIRE", "y", "5"], ":1\r\n");
    std::thread::sleep(Duration::from_millis(20));
    check(&mut r, &["DEL", "y"], ":0\r\n");
    check(&mut r, &["DBSIZE"], ":0\r\n");
}

#[test]
fn type_and_touch() {
    let srv = Server::start();
    let mut r = srv.raw();
    check(&mut r, &["TYPE", "nokey"], "+none\r\n");
    set(&mut r, "s", "hello");
    check(&mut r, &["TYPE", "s"], "+string\r\n");
    check(&mut r, &["TOUCH", "s", "s", "nokey"], ":2\r\n");
    check(
        &mut r,
        &["TYPE"],
        "-ERR wrong number of arguments for 'type' command\r\n",
    );
}

#[test]
fn rename_and_renamenx() {
    let srv = Server::start();
    let mut r = srv.raw();
    check(&mut r, &["RENAME", "nokey", "x"], "-ERR no such key\r\n");
    check(&mut r, &["RENAMENX", "nokey", "x"], "-ERR no such key\r\n");
    check(&mut r, &["RENAME", "nokey", "nokey"], "-ERR no such key\r\n");
    set(&mut r, "a", "hello");
    check(&mut r, &["RENAME", "a", "a"], "+OK\r\n");
    check(&mut r, &["RENAMENX", "a", "a"], ":0\r\n");
    check(&mut r, &["RENAME", "a", "b"], "+OK\r\n");
    check(&mut r, &["EXISTS", "a"], ":0\r\n");
    check(&mut r, &["GET", "b"], "$5\r\nhello\r\n");
    set(&mut r, "c", "other");
    check(&mut r, &["RENAMENX", "b", "c"], ":0\r\n");
    check(&mut r, &["RENAMENX", "b", "d"], ":1\r\n");
    check(&mut r, &["RENAME", "d", "c"], "+OK\r\n");
    check(&mut r, &["GET", "c"], "$5\r\nhello\r\n");
    // The TTL moves with the value; the target's own TTL does not survive.
    check(&mut r, &["EXPIRE", "c", "100"], ":1\r\n");
    check(&mut r, &["RENAME", "c", "e"], "+OK\r\n");
    assert!(matches!(
        cmd(&mut r, &["TTL", "e"]).as_slice(),
        b":100\r\n" | b":99\r\n"
    ));
    set(&mut r, "f", "plain");
    set(&mut r, "g", "volatile");
    check(&mut r, &["EXPIRE", "g", "100"], ":1\r\n");
    check(&mut r, &["RENAME", "f", "g"], "+OK\r\n");
    check(&mut r, &["TTL", "g"], ":-1\r\n");
    check(&mut r, &["GET", "g"], "$5\r\nplain\r\n");
}

#[test]
fn copy_within_and_across_dbs() {
    let srv = Server::start();
    let mut r = srv.raw();
    set(&mut r, "src", "value");
    check(
        &mut r,
        &["COPY", "src", "src"],
        "-ERR source and destination objects are the same\r\n",
    );
    check(
        &mut r,
        &["COPY", "src", "src", "DB", "0"],
        "-ERR source and destination objects are the same\r\n",
    );
    check(&mut r, &["COPY", "nokey", "dst"], ":0\r\n");
    check(&mut r, &["COPY", "src", "dst"], ":1\r\n");
    check(&mut r, &["GET", "dst"], "$5\r\nvalue\r\n");
    set(&mut r, "dst", "old");
    check(&mut r, &["COPY", "src", "dst"], ":0\r\n");
    check(&mut r, &["GET", "dst"], "$3\r\nold\r\n");
    check(&mut r, &["COPY", "src", "dst", "replace"], ":1\r\n");
    check(&mut r, &["GET", "dst"], "$5\r\nvalue\r\n");
    // Errors: option syntax and database arguments.
    check(&mut r, &["COPY", "src", "x", "foo"], "-ERR syntax error\r\n");
    check(&mut r, &["COPY", "src", "x", "DB"], "-ERR syntax error\r\n");
    check(
        &mut r,
        &["COPY", "src", "x", "DB", "notanumber"],
        "-ERR value is not an integer or out of range\r\n",
    );
    check(
        &mut r,
        &["COPY", "src", "x", "DB", "16"],
        "-ERR DB index is out of range\r\n",
    );
    check(
        &mut r,
        &["COPY", "src", "x", "DB", "-1"],
        "-ERR DB index is out of range\r\n",
    );
    // Across databases, with the TTL, and the copy is independent of the source.
    check(&mut r, &["PEXPIRE", "src", "100000"], ":1\r\n");
    check(&mut r, &["COPY", "src", "src", "DB", "3"], ":1\r\n");
    check(&mut r, &["SELECT", "3"], "+OK\r\n");
    check(&mut r, &["GET", "src"], "$5\r\nvalue\r\n");
    let pttl = String::from_utf8_lossy(&cmd(&mut r, &["PTTL", "src"])).to_string();
    let ms: i64 = pttl.trim_start_matches(':').trim().parse().unwrap_or(0);
    assert!(ms > 90_000 && ms <= 100_000, "pttl {ms}");
    set(&mut r, "src", "changed");
    check(&mut r, &["SELECT", "0"], "+OK\r\n");
    check(&mut r, &["GET", "src"], "$5\r\nvalue\r\n");
    // No TTL on the source: none on the copy.
    set(&mut r, "plain", "v");
    check(&mut r, &["COPY", "plain", "plain2"], ":1\r\n");
    check(&mut r, &["TTL", "plain2"], ":-1\r\n");
    // Integer encoding is kept.
    set(&mut r, "num", "12345");
    check(&mut r, &["COPY", "num", "num2"], ":1\r\n");
    check(&mut r, &["OBJECT", "ENCODING", "num2"], "$3\r\nint\r\n");
}

#[test]
fn move_between_dbs() {
    let srv = Server::start();
    let mut r = srv.raw();
    set(&mut r, "k", "v");
    check(
        &mut r,
        &["MOVE", "k", "0"],
        "-ERR source and destination objects are the same\r\n",
    );
    check(
        &mut r,
        &["MOVE", "k", "notanumber"],
        "-ERR value is not an integer or out of range\r\n",
    );
    check(&mut r, &["MOVE", "k", "16"], "-ERR DB index is out of range\r\n");
    check(&mut r, &["MOVE", "nokey", "1"], ":0\r\n");
    check(&mut r, &["EXPIRE", "k", "100"], ":1\r\n");
    check(&mut r, &["MOVE", "k", "1"], ":1\r\n");
    check(&mut r, &["EXISTS", "k"], ":0\r\n");
    check(&mut r, &["SELECT", "1"], "+OK\r\n");
    check(&mut r, &["GET", "k"], "$1\r\nv\r\n");
    assert!(matches!(
        cmd(&mut r, &["TTL", "k"]).as_slice(),
        b":100\r\n" | b":99\r\n"
    ));
    // A key already in the target database blocks the move.
    check(&mut r, &["SELECT", "0"], "+OK\r\n");
    set(&mut r, "k", "other");
    check(&mut r, &["MOVE", "k", "1"], ":0\r\n");
    check(&mut r, &["GET", "k"], "$5\r\nother\r\n");
}

#[test]
fn swapdb() {
    let srv = Server::start();
    let mut r = srv.raw();
    set(&mut r, "in0", "zero");
    check(&mut r, &["SELECT", "1"], "+OK\r\n");
    set(&mut r, "in1", "one");
    check(&mut r, &["SWAPDB", "0", "1"], "+OK\r\n");
    check(&mut r, &["GET", "in0"], "$4\r\nzero\r\n");
    check(&mut r, &["EXISTS", "in1"], ":0\r\n");
    check(&mut r, &["SWAPDB", "1", "1"], "+OK\r\n");
    check(&mut r, &["SWAPDB", "x", "1"], "-ERR invalid first DB index\r\n");
    check(&mut r, &["SWAPDB", "1", "y"], "-ERR invalid second DB index\r\n");
    check(&mut r, &["SWAPDB", "0", "99"], "-ERR DB index is out of range\r\n");
    check(&mut r, &["SWAPDB", "-1", "0"], "-ERR DB index is out of range\r\n");
}

#[test]
fn keys_with_patterns() {
    let srv = Server::start();
    let mut r = srv.raw();
    for k in ["foo_a", "foo_b", "foo_c", "key_x", "key_y", "key_z"] {
        set(&mut r, k, "hello");
    }
    let mut got = bulk_list(&cmd(&mut r, &["KEYS", "foo*"]));
    got.sort();
    assert_eq!(got, ["foo_a", "foo_b", "foo_c"]);
    let mut all = bulk_list(&cmd(&mut r, &["KEYS", "*"]));
    all.sort();
    assert_eq!(all.len(), 6);
    let mut q = bulk_list(&cmd(&mut r, &["KEYS", "key_[xy]"]));
    q.sort();
    assert_eq!(q, ["key_x", "key_y"]);
    check(&mut r, &["KEYS", "nomatch*"], "*0\r\n");
    // Expired keys are not listed.
    check(&mut r, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"], "+OK\r\n");
    check(&mut r, &["PEXPIRE", "foo_a", "1"], ":1\r\n");
    std::thread::sleep(Duration::from_millis(10));
    assert_eq!(bulk_list(&cmd(&mut r, &["KEYS", "foo*"])).len(), 2);
}

#[test]
fn scan_iterates_everything_once() {
    let srv = Server::start();
    let mut r = srv.raw();
    check(&mut r, &["DEBUG", "POPULATE", "1000"], "+OK\r\n");
    let keys = scan_all(&mut r, &[]);
    let set: HashSet<&String> = keys.iter().collect();
    assert_eq!(set.len(), 1000);
    let keys = scan_all(&mut r, &["COUNT", "100"]);
    assert_eq!(keys.iter().collect::<HashSet<_>>().len(), 1000);
    let keys = scan_all(&mut r, &["MATCH", "key:1??"]);
    assert_eq!(keys.iter().collect::<HashSet<_>>().len(), 100);
    let keys = scan_all(&mut r, &["TYPE", "string", "COUNT", "7"]);
    assert_eq!(keys.iter().collect::<HashSet<_>>().len(), 1000);
    assert!(scan_all(&mut r, &["TYPE", "list"]).is_empty());
    // An empty database finishes at once.
    check(&mut r, &["SELECT", "5"], "+OK\r\n");
    check(&mut r, &["SCAN", "0"], "*2\r\n$1\r\n0\r\n*0\r\n");
}

#[test]
fn scan_errors() {
    let srv = Server::start();
    let mut r = srv.raw();
    for c in ["abc", " 1", "1x", "99999999999999999999999"] {
        check(&mut r, &["SCAN", c], "-ERR invalid cursor\r\n");
    }
    check(&mut r, &["SCAN", "0", "COUNT", "0"], "-ERR syntax error\r\n");
    check(
        &mut r,
        &["SCAN", "0", "COUNT", "x"],
        "-ERR value is not an integer or out of range\r\n",
    );
    check(&mut r, &["SCAN", "0", "COUNT"], "-ERR syntax error\r\n");
    check(&mut r, &["SCAN", "0", "FOO", "bar"], "-ERR syntax error\r\n");
    check(&mut r, &["SCAN", "0", "MATCH"], "-ERR syntax error\r\n");
}

#[test]
fn scan_guarantee_under_writes() {
    let srv = Server::start();
    let mut r = srv.raw();
    let mut w = srv.raw();
    check(&mut r, &["DEBUG", "POPULATE", "500", "stable"], "+OK\r\n");
    let mut cursor = "0".to_string();
    let mut seen = HashSet::new();
    let mut step = 0;
    loop {
        let (next, ks) = scan_once(&mut r, &["SCAN", &cursor, "COUNT", "20"]);
        seen.extend(ks);
        // Grow and shrink the table between calls to force rehashing.
        for i in 0..50 {
            let k = format!("churn:{step}:{i}");
            set(&mut w, &k, "x");
        }
        if step % 3 == 0 {
            check(&mut w, &["DEBUG", "POPULATE", "0"], "+OK\r\n");
            let mut del = vec!["DEL".to_string()];
            del.extend((0..50).map(|i| format!("churn:{step}:{i}")));
            let d: Vec<&str> = del.iter().map(|s| s.as_str()).collect();
            cmd(&mut w, &d);
        }
        step += 1;
        if next == "0" {
            break;
        }
        cursor = next;
    }
    for i in 0..500 {
        assert!(seen.contains(&format!("stable:{i}")), "stable:{i} missing");
    }
}

#[test]
fn randomkey() {
    let srv = Server::start();
    let mut r = srv.raw();
    check(&mut r, &["RANDOMKEY"], "$-1\r\n");
    set(&mut r, "foo", "x");
    set(&mut r, "bar", "y");
    let mut seen = HashSet::new();
    for _ in 0..100 {
        seen.insert(String::from_utf8_lossy(&cmd(&mut r, &["RANDOMKEY"])).to_string());
    }
    assert_eq!(
        seen,
        HashSet::from(["$3\r\nfoo\r\n".to_string(), "$3\r\nbar\r\n".to_string()])
    );
    // Only expired keys: they are collected and the reply is nil.
    check(&mut r, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"], "+OK\r\n");
    check(&mut r, &["PEXPIRE", "foo", "1"], ":1\r\n");
    check(&mut r, &["PEXPIRE", "bar", "1"], ":1\r\n");
    std::thread::sleep(Duration::from_millis(10));
    check(&mut r, &["RANDOMKEY"], "$-1\r\n");
    check(&mut r, &["DBSIZE"], ":0\r\n");
}

#[test]
fn object_subcommands() {
    let srv = Server::start();
    let mut r = srv.raw();
    set(&mut r, "int", "12345");
    set(&mut r, "big", "123456789012");
    set(&mut r, "emb", "hello");
    let long = "x".repeat(45);
    set(&mut r, "raw", &long);
    check(&mut r, &["OBJECT", "ENCODING", "int"], "$3\r\nint\r\n");
    check(&mut r, &["OBJECT", "ENCODING", "emb"], "$6\r\nembstr\r\n");
    check(&mut r, &["OBJECT", "ENCODING", "raw"], "$3\r\nraw\r\n");
    check(&mut r, &["OBJECT", "ENCODING", "nokey"], "$-1\r\n");
    check(&mut r, &["OBJECT", "REFCOUNT", "emb"], ":1\r\n");
    check(&mut r, &["OBJECT", "REFCOUNT", "int"], ":1\r\n");
    set(&mut r, "small", "100");
    check(&mut r, &["OBJECT", "REFCOUNT", "small"], ":2147483647\r\n");
    check(&mut r, &["OBJECT", "REFCOUNT", "big"], ":1\r\n");
    check(&mut r, &["OBJECT", "IDLETIME", "emb"], ":0\r\n");
    check(&mut r, &["OBJECT", "IDLETIME", "nokey"], "$-1\r\n");
    check(
        &mut r,
        &["OBJECT", "FREQ", "emb"],
        "-ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.\r\n",
    );
    check(&mut r, &["CONFIG", "SET", "maxmemory-policy", "allkeys-lfu"], "+OK\r\n");
    check(
        &mut r,
        &["OBJECT", "IDLETIME", "emb"],
        "-ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.\r\n",
    );
    check(&mut r, &["CONFIG", "SET", "maxmemory-policy", "noeviction"], "+OK\r\n");
    let help = String::from_utf8_lossy(&cmd(&mut r, &["OBJECT", "HELP"])).to_string();
    assert!(help.starts_with("*15\r\n+OBJECT <subcommand>"), "{help}");
    check(
        &mut r,
        &["OBJECT", "FOO", "x"],
        "-ERR unknown subcommand 'FOO'. Try OBJECT HELP.\r\n",
    );
    check(
        &mut r,
        &["OBJECT", "ENCODING"],
        "-ERR wrong number of arguments for 'object|encoding' command\r\n",
    );
}
