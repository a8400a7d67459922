//! List commands against a live server: every command, option and error path, with replies
//! compared byte for byte (texts are Redis 7.0.15's), plus a differential run against a
//! reference redis-server when one is installed.

mod common;

use common::{Raw, Reference, Server};

/// Sends a command and returns its raw reply as text.
fn r(c: &mut Raw, args: &[&str]) -> String {
    c.cmd_str(args)
}

fn bulk(s: &str) -> String {
    format!("${}\r\n{s}\r\n", s.len())
}

fn int(n: i64) -> String {
    format!(":{n}\r\n")
}

/// An array of bulk strings.
fn arr(items: &[&str]) -> String {
    let mut s = format!("*{}\r\n", items.len());
    for i in items {
        s.push_str(&bulk(i));
    }
    s
}

const OK: &str = "+OK\r\n";
const NIL: &str = "$-1\r\n";
const NIL_ARRAY: &str = "*-1\r\n";
const EMPTY: &str = "*0\r\n";
const SYNTAX: &str = "-ERR syntax error\r\n";
const NOT_INT: &str = "-ERR value is not an integer or out of range\r\n";
const WRONGTYPE: &str = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";

#[test]
fn push_pop_len_index() {
    let srv = Server::start();
    let mut c = srv.raw();
    assert_eq!(r(&mut c, &["RPUSH", "l", "a", "b", "c"]), int(3));
    assert_eq!(r(&mut c, &["LPUSH", "l", "z"]), int(4));
    assert_eq!(r(&mut c, &["LLEN", "l"]), int(4));
    assert_eq!(r(&mut c, &["LLEN", "none"]), int(0));
    assert_eq!(r(&mut c, &["LINDEX", "l", "0"]), bulk("z"));
    assert_eq!(r(&mut c, &["LINDEX", "l", "-1"]), bulk("c"));
    assert_eq!(r(&mut c, &["LINDEX", "l", "4"]), NIL);
    assert_eq!(r(&mut c, &["LINDEX", "l", "-5"]), NIL);
    assert_eq!(r(&mut c, &["LINDEX", "l", "x"]), NOT_INT);
    // LINDEX looks the key up before parsing the index.
    assert_eq!(r(&mut c, &["LINDEX", "none", "x"]), NIL);
    assert_eq!(r(&mut c, &["LPOP", "l"]), bulk("z"));
    assert_eq!(r(&mut c, &["RPOP", "l"]), bulk("c"));
    assert_eq!(r(&mut c, &["LPUSHX", "l", "y", "x"]), int(4));
    assert_eq!(r(&mut c, &["RPUSHX", "l", "d"]), int(5));
    assert_eq!(r(&mut c, &["LPUSHX", "none", "a"]), int(0));
    assert_eq!(r(&mut c, &["RPUSHX", "none", "a"]), int(0));
    assert_eq!(r(&mut c, &["EXISTS", "none"]), int(0));
    assert_eq!(r(&mut c, &["LRANGE", "l", "0", "-1"]), arr(&["x", "y", "a", "b", "d"]));
    assert_eq!(r(&mut c, &["TYPE", "l"]), "+list\r\n");
    assert_eq!(r(&mut c, &["OBJECT", "ENCODING", "l"]), bulk("quicklist"));
}

#[test]
fn pop_with_count() {
    let srv = Server::start();
    let mut c = srv.raw();
    r(&mut c, &["RPUSH", "l", "a", "b", "c", "d"]);
    assert_eq!(r(&mut c, &["LPOP", "l", "2"]), arr(&["a", "b"]));
    assert_eq!(r(&mut c, &["RPOP", "l", "0"]), EMPTY);
    assert_eq!(r(&mut c, &["RPOP", "l", "10"]), arr(&["d", "c"]));
    assert_eq!(r(&mut c, &["EXISTS", "l"]), int(0));
    assert_eq!(r(&mut c, &["LPOP", "l"]), NIL);
    assert_eq!(r(&mut c, &["LPOP", "l", "0"]), NIL_ARRAY);
    assert_eq!(r(&mut c, &["LPOP", "l", "3"]), NIL_ARRAY);
    let range = "-ERR value is out of range, must be positive\r\n";
    assert_eq!(r(&mut c, &["LPOP", "l", "-1"]), range);
    assert_eq!(r(&mut c, &["RPOP", "l", "x"]), range);
    assert_eq!(
        r(&mut c, &["LPOP", "l", "1", "2"]),
        "-ERR wrong number of arguments for 'lpop' command\r\n"
    );
    // RESP3 nulls.
    r(&mut c, &["HELLO", "3"]);
    assert_eq!(r(&mut c, &["LPOP", "l"]), "_\r\n");
    assert_eq!(r(&mut c, &["RPOP", "l", "2"]), "_\r\n");
}

#[test]
fn wrong_type_everywhere() {
    let srv = Server::start();
    let mut c = srv.raw();
    r(&mut c, &["SET", "s", "x"]);
    r(&mut c, &["RPUSH", "l", "a"]);
    for cmd in [
        vec!["LPUSH", "s", "a"],
        vec!["RPUSH", "s", "a"],
        vec!["LPUSHX", "s", "a"],
        vec!["RPUSHX", "s", "a"],
        vec!["LPOP", "s"],
        vec!["RPOP", "s", "2"],
        vec!["LLEN", "s"],
        vec!["LINDEX", "s", "0"],
        vec!["LRANGE", "s", "0", "-1"],
        vec!["LINSERT", "s", "before", "a", "b"],
        vec!["LPOS", "s", "a"],
        vec!["LREM", "s", "0", "a"],
        vec!["LSET", "s", "0", "a"],
        vec!["LTRIM", "s", "0", "1"],
        vec!["LMOVE", "s", "l", "left", "left"],
        vec!["LMOVE", "l", "s", "left", "left"],
        vec!["RPOPLPUSH", "s", "l"],
        vec!["LMPOP", "1", "s", "left"],
        vec!["BLPOP", "s", "0"],
        vec!["BRPOP", "s", "0"],
        vec!["BLMPOP", "0", "1", "s", "left"],
        vec!["BLMOVE", "s", "l", "left", "left", "0"],
        vec!["BRPOPLPUSH", "l", "s", "0"],
    ] {
        assert_eq!(r(&mut c, &cmd), WRONGTYPE, "{cmd:?}");
    }
    // A failed move leaves the source untouched.
    assert_eq!(r(&mut c, &["LRANGE", "l", "0", "-1"]), arr(&["a"]));
}

#[test]
fn lrange_and_ltrim_ranges() {
    let srv = Server::start();
    let mut c = srv.raw();
    r(&mut c, &["RPUSH", "l", "0", "1", "2", "3", "4", "5"]);
    assert_eq!(r(&mut c, &["LRANGE", "l", "1", "3"]), arr(&["1", "2", "3"]));
    assert_eq!(r(&mut c, &["LRANGE", "l", "-2", "-1"]), arr(&["4", "5"]));
    assert_eq!(r(&mut c, &["LRANGE", "l", "-100", "1"]), arr(&["0", "1"]));
    assert_eq!(r(&mut c, &["LRANGE", "l", "4", "100"]), arr(&["4", "5"]));
    assert_eq!(r(&mut c, &["LRANGE", "l", "3", "1"]), EMPTY);
    assert_eq!(r(&mut c, &["LRANGE", "l", "6", "10"]), EMPTY);
    assert_eq!(r(&mut c, &["LRANGE", "none", "0", "-1"]), EMPTY);
    assert_eq!(r(&mut c, &["LRANGE", "l", "x", "1"]), NOT_INT);
    assert_eq!(r(&mut c, &["LRANGE", "l", "0", "y"]), NOT_INT);
    assert_eq!(r(&mut c, &["LTRIM", "l", "1", "-2"]), OK);
    assert_eq!(r(&mut c, &["LRANGE", "l", "0", "-1"]), arr(&["1", "2", "3", "4"]));
    assert_eq!(r(&mut c, &["LTRIM", "l", "x", "1"]), NOT_INT);
    assert_eq!(r(&mut c, &["LTRIM", "none", "0", "1"]), OK);
    assert_eq!(r(&mut c, &["LTRIM", "l", "5", "1"]), OK);
    assert_eq!(r(&mut c, &["EXISTS", "l"]), int(0));
}

#[test]
fn linsert_lset_lrem() {
    let srv = Server::start();
    let mut c = srv.raw();
    r(&mut c, &["RPUSH", "l", "a", "b", "a", "c", "a"]);
    assert_eq!(r(&mut c, &["LINSERT", "l", "BEFORE", "b", "x"]), int(6));
    assert_eq!(r(&mut c, &["LINSERT", "l", "after", "c", "y"]), int(7));
    assert_eq!(r(&mut c, &["LINSERT", "l", "after", "zz", "y"]), int(-1));
    assert_eq!(r(&mut c, &["LINSERT", "l", "middle", "a", "y"]), SYNTAX);
    assert_eq!(r(&mut c, &["LINSERT", "none", "before", "a", "y"]), int(0));
    assert_eq!(
        r(&mut c, &["LRANGE", "l", "0", "-1"]),
        arr(&["a", "x", "b", "a", "c", "y", "a"])
    );
    assert_eq!(r(&mut c, &["LSET", "l", "1", "X"]), OK);
    assert_eq!(r(&mut c, &["LSET", "l", "-1", "Z"]), OK);
    assert_eq!(r(&mut c, &["LSET", "l", "7", "Z"]), "-ERR index out of range\r\n");
    assert_eq!(r(&mut c, &["LSET", "l", "x", "Z"]), NOT_INT);
    assert_eq!(r(&mut c, &["LSET", "none", "0", "Z"]), "-ERR no such key\r\n");
    assert_eq!(r(&mut c, &["LREM", "l", "-1", "a"]), int(1));
    assert_eq!(
        r(&mut c, &["LRANGE", "l", "0", "-1"]),
        arr(&["a", "X", "b", "c", "y", "Z"])
    );
    r(&mut c, &["RPUSH", "l", "a", "a"]);
    assert_eq!(r(&mut c, &["LREM", "l", "1", "a"]), int(1));
    assert_eq!(r(&mut c, &["LREM", "l", "0", "a"]), int(2));
    assert_eq!(r(&mut c, &["LREM", "l", "0", "nothing"]), int(0));
    assert_eq!(r(&mut c, &["LREM", "l", "x", "a"]), NOT_INT);
    assert_eq!(r(&mut c, &["LREM", "none", "0", "a"]), int(0));
    assert_eq!(r(&mut c, &["LRANGE", "l", "0", "-1"]), arr(&["X", "b", "c", "y", "Z"]));
}

#[test]
fn lpos_options_and_errors() {
    let srv = Server::start();
    let mut c = srv.raw();
    r(&mut c, &["RPUSH", "l", "a", "b", "c", "1", "2", "3", "c", "c"]);
    assert_eq!(r(&mut c, &["LPOS", "l", "c"]), int(2));
    assert_eq!(r(&mut c, &["LPOS", "l", "c", "RANK", "2"]), int(6));
    assert_eq!(r(&mut c, &["LPOS", "l", "c", "RANK", "-1"]), int(7));
    assert_eq!(r(&mut c, &["LPOS", "l", "c", "RANK", "-9223372036854775808"]), NIL);
    assert_eq!(
        r(&mut c, &["LPOS", "l", "c", "COUNT", "0"]),
        ":3\r\n".replace(":3", "*3\r\n:2\r\n:6\r\n:7").to_string()
    );
    assert_eq!(
        r(&mut c, &["LPOS", "l", "c", "COUNT", "2", "RANK", "-1"]),
        "*2\r\n:7\r\n:6\r\n"
    );
    assert_eq!(
        r(&mut c, &["LPOS", "l", "c", "COUNT", "0", "MAXLEN", "7"]),
        "*2\r\n:2\r\n:6\r\n"
    );
    assert_eq!(r(&mut c, &["LPOS", "l", "x"]), NIL);
    assert_eq!(r(&mut c, &["LPOS", "l", "x", "COUNT", "1"]), EMPTY);
    assert_eq!(r(&mut c, &["LPOS", "none", "x"]), NIL);
    assert_eq!(r(&mut c, &["LPOS", "none", "x", "COUNT", "1"]), EMPTY);
    assert_eq!(
        r(&mut c, &["LPOS", "l", "c", "RANK", "0"]),
        "-ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list\r\n"
    );
    assert_eq!(r(&mut c, &["LPOS", "l", "c", "RANK", "x"]), NOT_INT);
    assert_eq!(
        r(&mut c, &["LPOS", "l", "c", "COUNT", "-1"]),
        "-ERR COUNT can't be negative\r\n"
    );
    assert_eq!(
        r(&mut c, &["LPOS", "l", "c", "MAXLEN", "x"]),
        "-ERR MAXLEN can't be negative\r\n"
    );
    assert_eq!(r(&mut c, &["LPOS", "l", "c", "RANK"]), SYNTAX);
    assert_eq!(r(&mut c, &["LPOS", "l", "c", "FOO", "1"]), SYNTAX);
}

#[test]
fn lmove_rpoplpush_lmpop() {
    let srv = Server::start();
    let mut c = srv.raw();
    r(&mut c, &["RPUSH", "src", "a", "b", "c"]);
    assert_eq!(r(&mut c, &["LMOVE", "src", "dst", "LEFT", "RIGHT"]), bulk("a"));
    assert_eq!(r(&mut c, &["LMOVE", "src", "dst", "right", "left"]), bulk("c"));
    assert_eq!(r(&mut c, &["RPOPLPUSH", "src", "dst"]), bulk("b"));
    assert_eq!(r(&mut c, &["EXISTS", "src"]), int(0));
    assert_eq!(r(&mut c, &["LRANGE", "dst", "0", "-1"]), arr(&["b", "c", "a"]));
    assert_eq!(r(&mut c, &["LMOVE", "dst", "dst", "left", "right"]), bulk("b"));
    assert_eq!(r(&mut c, &["LRANGE", "dst", "0", "-1"]), arr(&["c", "a", "b"]));
    assert_eq!(r(&mut c, &["LMOVE", "none", "dst", "left", "right"]), NIL);
    assert_eq!(r(&mut c, &["RPOPLPUSH", "none", "dst"]), NIL);
    assert_eq!(r(&mut c, &["LMOVE", "dst", "x", "up", "left"]), SYNTAX);
    assert_eq!(r(&mut c, &["LMOVE", "dst", "x", "left", "down"]), SYNTAX);

    assert_eq!(
        r(&mut c, &["LMPOP", "2", "none", "dst", "LEFT"]),
        "*2\r\n$3\r\ndst\r\n*1\r\n$1\r\nc\r\n"
    );
    assert_eq!(
        r(&mut c, &["LMPOP", "1", "dst", "RIGHT", "COUNT", "10"]),
        "*2\r\n$3\r\ndst\r\n*2\r\n$1\r\nb\r\n$1\r\na\r\n"
    );
    assert_eq!(r(&mut c, &["LMPOP", "1", "dst", "left"]), NIL_ARRAY);
    let numkeys = "-ERR numkeys should be greater than 0\r\n";
    assert_eq!(r(&mut c, &["LMPOP", "0", "l", "left"]), numkeys);
    assert_eq!(r(&mut c, &["LMPOP", "x", "l", "left"]), numkeys);
    assert_eq!(r(&mut c, &["LMPOP", "-1", "l", "left"]), numkeys);
    assert_eq!(r(&mut c, &["LMPOP", "2", "l", "left"]), SYNTAX);
    assert_eq!(r(&mut c, &["LMPOP", "1", "l", "middle"]), SYNTAX);
    assert_eq!(r(&mut c, &["LMPOP", "1", "l", "left", "foo", "1"]), SYNTAX);
    assert_eq!(
        r(&mut c, &["LMPOP", "1", "l", "left", "count", "1", "count", "2"]),
        SYNTAX
    );
    let count = "-ERR count should be greater than 0\r\n";
    assert_eq!(r(&mut c, &["LMPOP", "1", "l", "left", "count", "0"]), count);
    assert_eq!(r(&mut c, &["LMPOP", "1", "l", "left", "count", "x"]), count);
    assert_eq!(
        r(&mut c, &["LMPOP", "1", "l"]),
        "-ERR wrong number of arguments for 'lmpop' command\r\n"
    );
    // COMMAND GETKEYS follows numkeys.
    assert_eq!(
        r(&mut c, &["COMMAND", "GETKEYS", "LMPOP", "2", "a", "b", "left"]),
        arr(&["a", "b"])
    );
}

#[test]
fn large_lists_stay_consistent_and_compact() {
    let srv = Server::start();
    let mut con = srv.client();
    let n = 20_000;
    let items: Vec<String> = (0..n).map(|i| format!("element-{i:08}")).collect();
    for chunk in items.chunks(1000) {
        let _: i64 = redis::cmd("RPUSH").arg("big").arg(chunk).query(&mut con).unwrap();
    }
    let len: i64 = redis::cmd("LLEN").arg("big").query(&mut con).unwrap();
    assert_eq!(len, n);
    for i in [0, 1, 4999, 10000, 19999] {
        let v: String = redis::cmd("LINDEX").arg("big").arg(i).query(&mut con).unwrap();
        assert_eq!(v, items[i as usize]);
    }
    let mid: Vec<String> = redis::cmd("LRANGE")
        .arg("big")
        .arg(9998)
        .arg(10001)
        .query(&mut con)
        .unwrap();
    assert_eq!(mid, items[9998..10002].to_vec());
    // 16-byte elements: packed nodes keep the cost near 18 bytes each.
    let mem: i64 = redis::cmd("MEMORY").arg("USAGE").arg("big").query(&mut con).unwrap();
    assert!(mem < 28 * n, "MEMORY USAGE {mem} for {n} elements");
    let _: () = redis::cmd("LINSERT")
        .arg("big")
        .arg("BEFORE")
        .arg(&items[12345])
        .arg("new")
        .query(&mut con)
        .unwrap();
    let v: String = redis::cmd("LINDEX").arg("big").arg(12345).query(&mut con).unwrap();
    assert_eq!(v, "new");
    let _: () = redis::cmd("LTRIM")
        .arg("big")
        .arg(100)
        .arg(-100)
        .query(&mut con)
        .unwrap();
    let first: String = redis::cmd("LINDEX").arg("big").arg(0).query(&mut con).unwrap();
    assert_eq!(first, items[100]);
    // Small node limits (count-bounded nodes) behave the same.
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("list-max-listpack-size")
        .arg(4)
        .query(&mut con)
        .unwrap();
    let _: i64 = redis::cmd("RPUSH")
        .arg("small")
        .arg(&items[..50])
        .query(&mut con)
        .unwrap();
    let all: Vec<String> = redis::cmd("LRANGE")
        .arg("small")
        .arg(0)
        .arg(-1)
        .query(&mut con)
        .unwrap();
    assert_eq!(all, items[..50].to_vec());
    // COPY, DUMP/RESTORE and DEBUG RELOAD keep the contents.
    let _: i64 = redis::cmd("COPY").arg("small").arg("copy").query(&mut con).unwrap();
    let dump: Vec<u8> = redis::cmd("DUMP").arg("small").query(&mut con).unwrap();
    let _: () = redis::cmd("RESTORE")
        .arg("restored")
        .arg(0)
        .arg(dump)
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("DEBUG").arg("RELOAD").query(&mut con).unwrap();
    for k in ["copy", "restored"] {
        let got: Vec<String> = redis::cmd("LRANGE").arg(k).arg(0).arg(-1).query(&mut con).unwrap();
        assert_eq!(got, items[..50].to_vec(), "{k}");
    }
}

/// Runs the same commands against ochre and redis-server and compares every raw reply.
#[test]
fn differential_against_reference() {
    let Some(reference) = Reference::start() else { return };
    let srv = Server::start();
    let (mut a, mut b) = (srv.raw(), reference.raw());
    let script: &[&[&str]] = &[
        &["RPUSH", "l", "1", "2", "3", "2", "1", "-0", "007", "x"],
        &["LPOS", "l", "2", "RANK", "-2", "COUNT", "0", "MAXLEN", "0"],
        &["LPOS", "l", "2", "MAXLEN", "3"],
        &["LINSERT", "l", "AFTER", "007", "y"],
        &["LRANGE", "l", "-100", "100"],
        &["LREM", "l", "-2", "2"],
        &["LSET", "l", "-9", "v"],
        &["LINDEX", "l", "-9"],
        &["LTRIM", "l", "-3", "-2"],
        &["LRANGE", "l", "0", "-1"],
        &["LPOP", "l", "9223372036854775807"],
        &["LPOP", "l", "9223372036854775808"],
        &["BLPOP", "l", "x"],
        &["BLPOP", "l", "-1"],
        &["BLPOP", "l", "inf"],
        &["BLPOP", "l", "nan"],
        &["BLPOP", "l", "1e20"],
        &["BLMPOP", "x", "1", "l", "left"],
        &["BLMPOP", "0", "0", "l", "left"],
        &["BLMPOP", "0", "1", "l", "mid"],
        &["BLMOVE", "l", "d", "left", "up", "0"],
        &["BLMOVE", "l", "d", "left", "left", "x"],
        &["BRPOPLPUSH", "l", "d", "-0.5"],
        &["RPUSH", "m", "a"],
        &["BLMPOP", "0", "2", "l", "m", "right", "count", "5"],
        &["BLPOP", "none", "m", "0.01"],
        &["BLMOVE", "none", "d", "left", "left", "0.01"],
        &["BRPOP", "none", "0.01"],
        &["CLIENT", "UNBLOCK", "99999"],
        &["CLIENT", "UNBLOCK", "x"],
        &["CLIENT", "UNBLOCK", "1", "maybe"],
    ];
    for cmd in script {
        assert_eq!(r(&mut a, cmd), r(&mut b, cmd), "{cmd:?}");
    }
}

/// DUMP payloads cross between redis-server and ochre both ways (packed and plain nodes), and
/// DEBUG DIGEST-VALUE agrees.
#[test]
fn dump_restore_with_reference() {
    let Some(reference) = Reference::start() else { return };
    let srv = Server::start();
    let (mut a, mut b) = (srv.raw(), reference.raw());
    let mut fill = vec!["RPUSH", "l", "a", "1", "-5", "300000", "", "99999999999", "hello world"];
    let many: Vec<String> = (0..2000).map(|i| format!("item-{i}")).collect();
    fill.extend(many.iter().map(|s| s.as_str()));
    for (plain, name) in [(false, "packed"), (true, "plain")] {
        for c in [&mut a, &mut b] {
            r(c, &["DEL", "l", "l2"]);
            r(
                c,
                &["DEBUG", "QUICKLIST-PACKED-THRESHOLD", if plain { "5b" } else { "0" }],
            );
            r(c, &fill);
        }
        let digest = r(&mut b, &["DEBUG", "DIGEST-VALUE", "l"]);
        assert_eq!(r(&mut a, &["DEBUG", "DIGEST-VALUE", "l"]), digest, "{name}");
        let whole = r(&mut b, &["LRANGE", "l", "0", "-1"]);
        for dir in 0..2 {
            let (from, to) = if dir == 0 { (&mut a, &mut b) } else { (&mut b, &mut a) };
            let payload = from.cmd(&[b"DUMP", b"l"]);
            let start = payload.iter().position(|&c| c == b'\n').unwrap_or(0) + 1;
            let blob = &payload[start..payload.len() - 2];
            assert_eq!(to.cmd(&[b"RESTORE", b"l2", b"0", blob]), b"+OK\r\n", "{name}");
            assert_eq!(r(to, &["LRANGE", "l2", "0", "-1"]), whole, "{name}");
            r(to, &["DEL", "l2"]);
        }
    }
    r(&mut a, &["DEBUG", "QUICKLIST-PACKED-THRESHOLD", "0"]);
}

/// A long list keeps its interior nodes compressed: every command that reaches into the middle
/// (LINDEX, LRANGE, LSET, LINSERT, LREM, LPOS, LTRIM, RPOP down into compressed nodes) agrees
/// with a model, and the list costs well under its raw element bytes.
#[test]
fn long_list_with_compressed_interior_nodes() {
    let srv = Server::start();
    let mut con = srv.client();
    let mut model: Vec<String> = (0..60_000)
        .map(|i| format!("item:{:08x}", (i as u64).wrapping_mul(2654435761) % 100_000_000))
        .collect();
    for chunk in model.chunks(1000) {
        let _: () = redis::cmd("RPUSH").arg("big").arg(chunk).query(&mut con).unwrap();
    }
    let usage: i64 = redis::cmd("MEMORY").arg("USAGE").arg("big").query(&mut con).unwrap();
    assert!(usage < 60_000 * 12, "MEMORY USAGE {usage} for 60,000 13-byte elements");
    for i in [0usize, 1, 777, 30_000, 45_123, 59_999] {
        let got: String = redis::cmd("LINDEX").arg("big").arg(i).query(&mut con).unwrap();
        assert_eq!(got, model[i]);
    }
    let got: Vec<String> = redis::cmd("LRANGE")
        .arg("big")
        .arg(29_990)
        .arg(30_500)
        .query(&mut con)
        .unwrap();
    assert_eq!(got, model[29_990..=30_500]);
    let _: () = redis::cmd("LSET")
        .arg("big")
        .arg(20_000)
        .arg("changed")
        .query(&mut con)
        .unwrap();
    model[20_000] = "changed".into();
    let _: i64 = redis::cmd("LINSERT")
        .arg("big")
        .arg("BEFORE")
        .arg(&model[40_000])
        .arg("inserted")
        .query(&mut con)
        .unwrap();
    model.insert(40_000, "inserted".into());
    let pos: i64 = redis::cmd("LPOS").arg("big").arg("inserted").query(&mut con).unwrap();
    assert_eq!(pos, 40_000);
    let removed: i64 = redis::cmd("LREM")
        .arg("big")
        .arg(0)
        .arg(&model[10_000])
        .query(&mut con)
        .unwrap();
    let victim = model[10_000].clone();
    model.retain(|v| *v != victim);
    assert_eq!(removed, 1);
    let _: () = redis::cmd("LTRIM")
        .arg("big")
        .arg(5_000)
        .arg(-5_000)
        .query(&mut con)
        .unwrap();
    model = model[5_000..model.len() - 4_999].to_vec();
    for _ in 0..3_000 {
        let v: String = redis::cmd("RPOP").arg("big").query(&mut con).unwrap();
        assert_eq!(Some(v), model.pop());
    }
    let all: Vec<String> = redis::cmd("LRANGE").arg("big").arg(0).arg(-1).query(&mut con).unwrap();
    assert_eq!(all, model);
    let dump: Vec<u8> = redis::cmd("DUMP").arg("big").query(&mut con).unwrap();
    let _: () = redis::cmd("RESTORE")
        .arg("copy")
        .arg(0)
        .arg(dump)
        .query(&mut con)
        .unwrap();
    let all: Vec<String> = redis::cmd("LRANGE").arg("copy").arg(0).arg(-1).query(&mut con).unwrap();
    assert_eq!(all, model);
}
