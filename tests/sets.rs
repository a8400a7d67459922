//! Set commands against a real server: every command, intset/hashtable encodings and the
//! conversions between them, the set algebra (with and without STORE), RESP3 shapes, and every
//! error text (checked on raw sockets).

mod common;

use common::{Raw, Server};

fn cmd(r: &mut Raw, args: &[&str]) -> String {
    let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
    String::from_utf8_lossy(&r.cmd(&a)).into_owned()
}

fn check(r: &mut Raw, args: &[&str], want: &str) {
    assert_eq!(cmd(r, args), want, "reply to {args:?}");
}

/// The bulk strings of a flat reply, sorted.
fn members(reply: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut lines = reply.split("\r\n");
    while let Some(l) = lines.next() {
        if l.starts_with('$') && l != "$-1" {
            out.push(lines.next().unwrap_or("").to_string());
        }
    }
    out.sort();
    out
}

fn set_of(r: &mut Raw, key: &str) -> Vec<String> {
    members(&cmd(r, &["SMEMBERS", key]))
}

fn enc(r: &mut Raw, key: &str) -> String {
    members(&cmd(r, &["OBJECT", "ENCODING", key])).pop().unwrap_or_default()
}

const WRONGTYPE: &str = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";

#[test]
fn basics_and_encodings() {
    let srv = Server::start();
    let mut r = srv.raw();
    check(&mut r, &["SADD", "s", "3", "1", "2", "1"], ":3\r\n");
    assert_eq!(enc(&mut r, "s"), "intset");
    // An intset iterates in ascending order.
    check(&mut r, &["SMEMBERS", "s"], "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n");
    check(&mut r, &["SISMEMBER", "s", "2"], ":1\r\n");
    check(&mut r, &["SISMEMBER", "s", "02"], ":0\r\n");
    check(&mut r, &["SISMEMBER", "nokey", "2"], ":0\r\n");
    check(&mut r, &["SMISMEMBER", "s", "2", "9"], "*2\r\n:1\r\n:0\r\n");
    check(&mut r, &["SMISMEMBER", "nokey", "2"], "*1\r\n:0\r\n");
    check(&mut r, &["SCARD", "s"], ":3\r\n");
    check(&mut r, &["SCARD", "nokey"], ":0\r\n");
    // Non-canonical integers and values beyond 64 bits are strings.
    check(&mut r, &["SADD", "s", "18446744073709551616"], ":1\r\n");
    assert_eq!(enc(&mut r, "s"), "hashtable");
    check(&mut r, &["SADD", "t", "-5", "70000", "9223372036854775807"], ":3\r\n");
    assert_eq!(enc(&mut r, "t"), "intset");
    check(&mut r, &["SADD", "t", "1.0"], ":1\r\n");
    assert_eq!(enc(&mut r, "t"), "hashtable");
    check(&mut r, &["SADD", "str", "a"], ":1\r\n");
    assert_eq!(enc(&mut r, "str"), "hashtable");
    // set-max-intset-entries: 512 fit, the 513th converts; removal never converts back.
    for i in 0..512 {
        cmd(&mut r, &["SADD", "many", &i.to_string()]);
    }
    assert_eq!(enc(&mut r, "many"), "intset");
    check(&mut r, &["SADD", "many", "512"], ":1\r\n");
    assert_eq!(enc(&mut r, "many"), "hashtable");
    check(&mut r, &["SREM", "many", "0", "1", "nope"], ":2\r\n");
    assert_eq!(enc(&mut r, "many"), "hashtable");
    check(&mut r, &["SCARD", "many"], ":511\r\n");
    check(&mut r, &["SREM", "nokey", "a"], ":0\r\n");
    check(&mut r, &["SREM", "str", "a", "b"], ":1\r\n");
    check(&mut r, &["EXISTS", "str"], ":0\r\n");
    check(&mut r, &["SMEMBERS", "nokey"], "*0\r\n");
}

#[test]
fn wrongtype_everywhere() {
    let srv = Server::start();
    let mut r = srv.raw();
    check(&mut r, &["SET", "k", "x"], "+OK\r\n");
    check(&mut r, &["SADD", "s", "a"], ":1\r\n");
    for args in [
        &["SADD", "k", "a"][..],
        &["SREM", "k", "a"],
        &["SMEMBERS", "k"],
        &["SISMEMBER", "k", "a"],
        &["SMISMEMBER", "k", "a"],
        &["SCARD", "k"],
        &["SPOP", "k"],
        &["SPOP", "k", "2"],
        &["SRANDMEMBER", "k"],
        &["SRANDMEMBER", "k", "2"],
        &["SMOVE", "k", "s", "a"],
        &["SMOVE", "s", "k", "a"],
        &["SINTER", "s", "k"],
        &["SINTER", "nokey", "k"],
        &["SUNION", "s", "k"],
        &["SDIFF", "s", "k"],
        &["SDIFF", "nokey", "k"],
        &["SINTERSTORE", "d", "s", "k"],
        &["SUNIONSTORE", "d", "s", "k"],
        &["SDIFFSTORE", "d", "s", "k"],
        &["SINTERCARD", "2", "s", "k"],
        &["SSCAN", "k", "0"],
    ] {
        check(&mut r, args, WRONGTYPE);
    }
    // A failed command leaves its sources intact.
    check(&mut r, &["SMEMBERS", "s"], "*1\r\n$1\r\na\r\n");
}

#[test]
fn argument_errors() {
    let srv = Server::start();
    let mut r = srv.raw();
    check(&mut r, &["SADD", "s", "a", "b", "c"], ":3\r\n");
    check(
        &mut r,
        &["SPOP", "s", "-1"],
        "-ERR value is out of range, must be positive\r\n",
    );
    check(
        &mut r,
        &["SPOP", "s", "x"],
        "-ERR value is out of range, must be positive\r\n",
    );
    check(&mut r, &["SPOP", "s", "1", "2"], "-ERR syntax error\r\n");
    check(
        &mut r,
        &["SRANDMEMBER", "s", "x"],
        "-ERR value is not an integer or out of range\r\n",
    );
    check(&mut r, &["SRANDMEMBER", "s", "1", "2"], "-ERR syntax error\r\n");
    check(
        &mut r,
        &["SRANDMEMBER", "s", "-9223372036854775808"],
        "-ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807\r\n",
    );
    check(
        &mut r,
        &["SINTERCARD", "0", "s"],
        "-ERR numkeys should be greater than 0\r\n",
    );
    check(
        &mut r,
        &["SINTERCARD", "x", "s"],
        "-ERR numkeys should be greater than 0\r\n",
    );
    check(
        &mut r,
        &["SINTERCARD", "3", "s", "t"],
        "-ERR Number of keys can't be greater than number of args\r\n",
    );
    check(
        &mut r,
        &["SINTERCARD", "1", "s", "LIMIT", "-1"],
        "-ERR LIMIT can't be negative\r\n",
    );
    check(
        &mut r,
        &["SINTERCARD", "1", "s", "LIMIT", "x"],
        "-ERR LIMIT can't be negative\r\n",
    );
    check(&mut r, &["SINTERCARD", "1", "s", "LIMIT"], "-ERR syntax error\r\n");
    check(&mut r, &["SINTERCARD", "1", "s", "foo"], "-ERR syntax error\r\n");
    check(&mut r, &["SSCAN", "s", "x"], "-ERR invalid cursor\r\n");
    check(&mut r, &["SSCAN", "s", "0", "COUNT", "0"], "-ERR syntax error\r\n");
    check(
        &mut r,
        &["SSCAN", "s", "0", "COUNT", "x"],
        "-ERR value is not an integer or out of range\r\n",
    );
    check(&mut r, &["SSCAN", "s", "0", "FOO", "x"], "-ERR syntax error\r\n");
    check(
        &mut r,
        &["SMISMEMBER", "s"],
        "-ERR wrong number of arguments for 'smismember' command\r\n",
    );
}

#[test]
fn algebra() {
    let srv = Server::start();
    let mut r = srv.raw();
    check(&mut r, &["SADD", "a", "1", "2", "3", "4"], ":4\r\n");
    check(&mut r, &["SADD", "b", "3", "4", "5", "x"], ":4\r\n");
    check(&mut r, &["SADD", "c", "4", "x", "y"], ":3\r\n");
    assert_eq!(members(&cmd(&mut r, &["SINTER", "a", "b"])), vec!["3", "4"]);
    assert_eq!(members(&cmd(&mut r, &["SINTER", "a", "b", "c"])), vec!["4"]);
    assert_eq!(members(&cmd(&mut r, &["SINTER", "a", "nokey"])), Vec::<String>::new());
    assert_eq!(
        members(&cmd(&mut r, &["SUNION", "a", "b", "nokey"])),
        vec!["1", "2", "3", "4", "5", "x"]
    );
    assert_eq!(members(&cmd(&mut r, &["SDIFF", "a", "b"])), vec!["1", "2"]);
    assert_eq!(members(&cmd(&mut r, &["SDIFF", "b", "a", "c"])), vec!["5"]);
    check(&mut r, &["SDIFF", "a", "b", "a"], "*0\r\n");
    check(&mut r, &["SDIFF", "nokey", "a"], "*0\r\n");
    check(&mut r, &["SINTERCARD", "2", "a", "b"], ":2\r\n");
    check(&mut r, &["SINTERCARD", "2", "a", "b", "LIMIT", "1"], ":1\r\n");
    check(&mut r, &["SINTERCARD", "2", "a", "b", "LIMIT", "0"], ":2\r\n");
    check(&mut r, &["SINTERCARD", "2", "a", "nokey"], ":0\r\n");
    // STORE variants: results are built like Redis's (intset unless a string member comes).
    check(&mut r, &["SINTERSTORE", "d", "a", "b"], ":2\r\n");
    assert_eq!(enc(&mut r, "d"), "intset");
    check(&mut r, &["SUNIONSTORE", "d", "a", "b"], ":6\r\n");
    assert_eq!(enc(&mut r, "d"), "hashtable");
    check(&mut r, &["SDIFFSTORE", "d", "a", "b"], ":2\r\n");
    assert_eq!(set_of(&mut r, "d"), vec!["1", "2"]);
    assert_eq!(enc(&mut r, "d"), "intset");
    // The destination may be a source, and any type is overwritten (TTL cleared).
    check(&mut r, &["SUNIONSTORE", "a", "a", "c"], ":6\r\n");
    check(&mut r, &["SET", "str", "v", "EX", "100"], "+OK\r\n");
    check(&mut r, &["SINTERSTORE", "str", "b", "c"], ":2\r\n");
    check(&mut r, &["TTL", "str"], ":-1\r\n");
    // An empty result deletes the destination.
    check(&mut r, &["SINTERSTORE", "d", "a", "nokey"], ":0\r\n");
    check(&mut r, &["EXISTS", "d"], ":0\r\n");
    check(&mut r, &["SDIFFSTORE", "str", "b", "b"], ":0\r\n");
    check(&mut r, &["EXISTS", "str"], ":0\r\n");
    // RESP3 replies are sets.
    assert!(cmd(&mut r, &["HELLO", "3"]).starts_with('%'));
    assert!(cmd(&mut r, &["SINTER", "a", "b"]).starts_with("~"));
    assert!(cmd(&mut r, &["SMEMBERS", "a"]).starts_with("~"));
    check(&mut r, &["SMEMBERS", "nokey"], "~0\r\n");
    check(&mut r, &["SPOP", "nokey", "2"], "~0\r\n");
    assert!(cmd(&mut r, &["SRANDMEMBER", "a", "2"]).starts_with("*2"));
}

#[test]
fn spop_srandmember_smove() {
    let srv = Server::start();
    let mut r = srv.raw();
    check(&mut r, &["SPOP", "nokey"], "$-1\r\n");
    check(&mut r, &["SPOP", "nokey", "3"], "*0\r\n");
    check(&mut r, &["SRANDMEMBER", "nokey"], "$-1\r\n");
    check(&mut r, &["SRANDMEMBER", "nokey", "3"], "*0\r\n");
    for i in 0..100 {
        cmd(&mut r, &["SADD", "s", &i.to_string(), &format!("m{i}")]);
    }
    check(&mut r, &["SRANDMEMBER", "s", "0"], "*0\r\n");
    check(&mut r, &["SPOP", "s", "0"], "*0\r\n");
    let uniq = members(&cmd(&mut r, &["SRANDMEMBER", "s", "50"]));
    let mut d = uniq.clone();
    d.dedup();
    assert_eq!(d.len(), 50);
    assert_eq!(members(&cmd(&mut r, &["SRANDMEMBER", "s", "-300"])).len(), 300);
    assert_eq!(members(&cmd(&mut r, &["SRANDMEMBER", "s", "1000"])).len(), 200);
    // Both SPOP strategies (few popped, most popped) return distinct members that are gone.
    let popped = members(&cmd(&mut r, &["SPOP", "s", "10"]));
    check(&mut r, &["SCARD", "s"], ":190\r\n");
    let more = members(&cmd(&mut r, &["SPOP", "s", "180"]));
    check(&mut r, &["SCARD", "s"], ":10\r\n");
    let mut all: Vec<String> = popped.into_iter().chain(more).chain(set_of(&mut r, "s")).collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 200);
    let one = members(&cmd(&mut r, &["SPOP", "s"]));
    assert_eq!(one.len(), 1);
    check(&mut r, &["SISMEMBER", "s", &one[0]], ":0\r\n");
    assert_eq!(members(&cmd(&mut r, &["SPOP", "s", "100"])).len(), 9);
    check(&mut r, &["EXISTS", "s"], ":0\r\n");
    // SMOVE.
    check(&mut r, &["SADD", "src", "1", "2"], ":2\r\n");
    check(&mut r, &["SADD", "dst", "a"], ":1\r\n");
    check(&mut r, &["SMOVE", "src", "dst", "1"], ":1\r\n");
    check(&mut r, &["SMOVE", "src", "dst", "1"], ":0\r\n");
    check(&mut r, &["SMOVE", "nokey", "dst", "1"], ":0\r\n");
    check(&mut r, &["SMOVE", "src", "src", "2"], ":1\r\n");
    check(&mut r, &["SMOVE", "src", "src", "9"], ":0\r\n");
    check(&mut r, &["SMOVE", "src", "fresh", "2"], ":1\r\n");
    check(&mut r, &["EXISTS", "src"], ":0\r\n");
    assert_eq!(enc(&mut r, "fresh"), "intset");
    assert_eq!(set_of(&mut r, "dst"), vec!["1", "a"]);
}

#[test]
fn sscan_covers_everything() {
    let srv = Server::start();
    let mut r = srv.raw();
    check(&mut r, &["SSCAN", "nokey", "0"], "*2\r\n$1\r\n0\r\n*0\r\n");
    check(&mut r, &["SADD", "i", "1", "2", "3"], ":3\r\n");
    check(
        &mut r,
        &["SSCAN", "i", "0", "COUNT", "1"],
        "*2\r\n$1\r\n0\r\n*3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n",
    );
    check(
        &mut r,
        &["SSCAN", "i", "0", "MATCH", "2"],
        "*2\r\n$1\r\n0\r\n*1\r\n$1\r\n2\r\n",
    );
    for i in 0..1000 {
        cmd(&mut r, &["SADD", "big", &format!("m{i}")]);
    }
    let mut cursor = "0".to_string();
    let mut seen = std::collections::HashSet::new();
    loop {
        let reply = cmd(&mut r, &["SSCAN", "big", &cursor]);
        let mut lines = reply.split("\r\n").skip(2);
        cursor = lines.next().unwrap_or("0").to_string();
        seen.extend(members(&lines.collect::<Vec<_>>().join("\r\n")));
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(seen.len(), 1000);
}

#[test]
fn persistence_copy_and_digest() {
    let srv = Server::start();
    let mut r = srv.raw();
    check(&mut r, &["SADD", "ints", "1", "-70000", "5"], ":3\r\n");
    check(&mut r, &["SADD", "strs", "a", "b", "1"], ":3\r\n");
    for i in 0..600 {
        cmd(&mut r, &["SADD", "bigints", &i.to_string()]);
    }
    check(&mut r, &["COPY", "strs", "strs2"], ":1\r\n");
    check(&mut r, &["SADD", "strs2", "c"], ":1\r\n");
    check(&mut r, &["SCARD", "strs"], ":3\r\n");
    check(&mut r, &["SADD", "other", "5", "-70000", "1"], ":3\r\n");
    assert_eq!(
        cmd(&mut r, &["DEBUG", "DIGEST-VALUE", "ints"]),
        cmd(&mut r, &["DEBUG", "DIGEST-VALUE", "other"])
    );
    let before = cmd(&mut r, &["DEBUG", "DIGEST"]);
    check(&mut r, &["DEBUG", "RELOAD"], "+OK\r\n");
    assert_eq!(cmd(&mut r, &["DEBUG", "DIGEST"]), before);
    assert_eq!(enc(&mut r, "ints"), "intset");
    assert_eq!(enc(&mut r, "strs"), "hashtable");
    assert_eq!(enc(&mut r, "bigints"), "hashtable");
    assert_eq!(set_of(&mut r, "ints"), vec!["-70000", "1", "5"]);
    check(&mut r, &["SCARD", "bigints"], ":600\r\n");
}

fn bulk_bytes(reply: &[u8]) -> Vec<u8> {
    let start = reply.iter().position(|&c| c == b'\n').map_or(0, |p| p + 1);
    reply[start..reply.len().saturating_sub(2)].to_vec()
}

#[test]
fn dump_payloads_move_both_ways_with_redis() {
    let Some(reference) = common::Reference::start() else {
        return;
    };
    let srv = Server::start();
    let (mut o, mut x) = (srv.raw(), reference.raw());
    for r in [&mut o, &mut x] {
        cmd(r, &["SADD", "ints", "1", "-70000", "5", "9223372036854775807"]);
        cmd(r, &["SADD", "strs", "a", "b", "1"]);
    }
    // (Payloads decode identically; the bytes can differ where the LZF compressor chooses other
    // back-references than Redis's.)
    for key in ["ints", "strs"] {
        let ours = bulk_bytes(&o.cmd(&[b"DUMP", key.as_bytes()]));
        let theirs = bulk_bytes(&x.cmd(&[b"DUMP", key.as_bytes()]));
        assert_eq!(o.cmd(&[b"RESTORE", b"copy", b"0", &theirs]), b"+OK\r\n");
        assert_eq!(x.cmd(&[b"RESTORE", b"copy", b"0", &ours]), b"+OK\r\n");
        assert_eq!(enc(&mut o, "copy"), enc(&mut x, "copy"));
        assert_eq!(
            cmd(&mut o, &["DEBUG", "DIGEST-VALUE", "copy"]),
            cmd(&mut x, &["DEBUG", "DIGEST-VALUE", key])
        );
        for r in [&mut o, &mut x] {
            cmd(r, &["DEL", "copy"]);
        }
    }
}
