//! String commands against a live server: every command, option and error path, with replies
//! compared byte for byte (texts are Redis 7.0.15's).

mod common;

use common::{Raw, Server};
use std::thread::sleep;
use std::time::Duration;

/// Sends a command and returns its raw reply as text.
fn r(c: &mut Raw, args: &[&str]) -> String {
    c.cmd_str(args)
}

/// The RESP encoding of a bulk string.
fn bulk(s: &str) -> String {
    format!("${}\r\n{s}\r\n", s.len())
}

const OK: &str = "+OK\r\n";
const NIL: &str = "$-1\r\n";
const SYNTAX: &str = "-ERR syntax error\r\n";
const NOT_INT: &str = "-ERR value is not an integer or out of range\r\n";
const NOT_FLOAT: &str = "-ERR value is not a valid float\r\n";
const WRONGTYPE: &str = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";

fn int(n: i64) -> String {
    format!(":{n}\r\n")
}

/// Creates a list at `key` when lists exist in this build; WRONGTYPE tests run only then.
fn make_list(c: &mut Raw, key: &str) -> bool {
    r(c, &["RPUSH", key, "x"]).starts_with(':')
}

#[test]
fn get_and_set_basics() {
    let srv = Server::start();
    let mut c = srv.raw();
    assert_eq!(r(&mut c, &["GET", "missing"]), NIL);
    assert_eq!(r(&mut c, &["SET", "x", "foobar"]), OK);
    assert_eq!(r(&mut c, &["GET", "x"]), bulk("foobar"));
    assert_eq!(r(&mut c, &["SET", "x", ""]), OK);
    assert_eq!(r(&mut c, &["GET", "x"]), bulk(""));
    assert_eq!(r(&mut c, &["SET", "n", "-12345"]), OK);
    assert_eq!(r(&mut c, &["GET", "n"]), bulk("-12345"));
    assert_eq!(r(&mut c, &["SET", "n", "-9223372036854775808"]), OK);
    assert_eq!(r(&mut c, &["GET", "n"]), bulk("-9223372036854775808"));
    let big = "abcd".repeat(250_000);
    assert_eq!(r(&mut c, &["SET", "big", &big]), OK);
    assert_eq!(r(&mut c, &["GET", "big"]), bulk(&big));
    assert_eq!(
        r(&mut c, &["GET"]),
        "-ERR wrong number of arguments for 'get' command\r\n"
    );
    assert_eq!(
        r(&mut c, &["SET", "x"]),
        "-ERR wrong number of arguments for 'set' command\r\n"
    );
}

#[test]
fn get_in_resp3_replies_null() {
    let srv = Server::start();
    let mut c = srv.raw();
    assert!(r(&mut c, &["HELLO", "3"]).starts_with('%'));
    assert_eq!(r(&mut c, &["GET", "missing"]), "_\r\n");
    assert_eq!(r(&mut c, &["SET", "k", "v", "NX", "XX"]), SYNTAX);
    assert_eq!(r(&mut c, &["SET", "k", "v", "XX"]), "_\r\n");
}

#[test]
fn set_nx_xx_get() {
    let srv = Server::start();
    let mut c = srv.raw();
    assert_eq!(r(&mut c, &["SET", "foo", "1", "nx"]), OK);
    assert_eq!(r(&mut c, &["SET", "foo", "2", "NX"]), NIL);
    assert_eq!(r(&mut c, &["GET", "foo"]), bulk("1"));
    assert_eq!(r(&mut c, &["SET", "bar", "1", "xx"]), NIL);
    assert_eq!(r(&mut c, &["GET", "bar"]), NIL);
    assert_eq!(r(&mut c, &["SET", "foo", "2", "XX"]), OK);
    assert_eq!(r(&mut c, &["GET", "foo"]), bulk("2"));
    // GET returns the old value, and the null abort reply is not added to it.
    assert_eq!(r(&mut c, &["SET", "foo", "3", "GET"]), bulk("2"));
    assert_eq!(r(&mut c, &["SET", "new", "1", "GET"]), NIL);
    assert_eq!(r(&mut c, &["GET", "new"]), bulk("1"));
    assert_eq!(r(&mut c, &["SET", "foo", "4", "GET", "XX"]), bulk("3"));
    assert_eq!(r(&mut c, &["SET", "none", "4", "GET", "XX"]), NIL);
    assert_eq!(r(&mut c, &["GET", "none"]), NIL);
    assert_eq!(r(&mut c, &["SET", "foo", "5", "GET", "NX"]), bulk("4"));
    assert_eq!(r(&mut c, &["GET", "foo"]), bulk("4"));
    assert_eq!(r(&mut c, &["SET", "fresh", "5", "GET", "NX"]), NIL);
    assert_eq!(r(&mut c, &["GET", "fresh"]), bulk("5"));
    // Repeating an option is allowed.
    assert_eq!(r(&mut c, &["SET", "foo", "6", "get", "get", "nx", "nx"]), bulk("4"));
}

#[test]
fn set_option_conflicts_are_syntax_errors() {
    let srv = Server::start();
    let mut c = srv.raw();
    for args in [
        &["SET", "k", "v", "bogus"][..],
        &["SET", "k", "v", "NX", "XX"],
        &["SET", "k", "v", "XX", "NX"],
        &["SET", "k", "v", "EX", "10", "PX", "100"],
        &["SET", "k", "v", "EX", "10", "EXAT", "100"],
        &["SET", "k", "v", "PXAT", "10", "PX", "100"],
        &["SET", "k", "v", "KEEPTTL", "EX", "10"],
        &["SET", "k", "v", "PX", "10", "KEEPTTL"],
        &["SET", "k", "v", "EX"],
        &["SET", "k", "v", "PERSIST"],
        &["SET", "k", "v", "NXX"],
    ] {
        assert_eq!(r(&mut c, args), SYNTAX, "{args:?}");
    }
    assert_eq!(r(&mut c, &["GET", "k"]), NIL);
    // The same expire form twice is accepted (the last value wins).
    assert_eq!(r(&mut c, &["SET", "k", "v", "EX", "10", "EX", "20"]), OK);
}

#[test]
fn set_expire_errors() {
    let srv = Server::start();
    let mut c = srv.raw();
    let invalid = |cmd: &str| format!("-ERR invalid expire time in '{cmd}' command\r\n");
    assert_eq!(r(&mut c, &["SET", "k", "v", "EX", "0"]), invalid("set"));
    assert_eq!(r(&mut c, &["SET", "k", "v", "PX", "-1"]), invalid("set"));
    assert_eq!(r(&mut c, &["SET", "k", "v", "EXAT", "0"]), invalid("set"));
    // Seconds that overflow when turned into milliseconds, or when now is added.
    assert_eq!(r(&mut c, &["SET", "k", "v", "EX", "9223372036854776"]), invalid("set"));
    assert_eq!(r(&mut c, &["SET", "k", "v", "EX", "9223372036854775"]), invalid("set"));
    assert_eq!(
        r(&mut c, &["SET", "k", "v", "PX", "9223372036854775807"]),
        invalid("set")
    );
    assert_eq!(r(&mut c, &["SET", "k", "v", "EX", "abc"]), NOT_INT);
    assert_eq!(r(&mut c, &["SETEX", "k", "0", "v"]), invalid("setex"));
    assert_eq!(r(&mut c, &["SETEX", "k", "x", "v"]), NOT_INT);
    assert_eq!(r(&mut c, &["PSETEX", "k", "-5", "v"]), invalid("psetex"));
    assert_eq!(r(&mut c, &["GET", "k"]), NIL);
    // An absolute time far away is fine.
    assert_eq!(r(&mut c, &["SET", "k", "v", "PXAT", "9223372036854775807"]), OK);
}

#[test]
fn set_ttl_semantics() {
    let srv = Server::start();
    let mut c = srv.raw();
    assert_eq!(r(&mut c, &["SET", "px", "v", "PX", "100"]), OK);
    assert_eq!(r(&mut c, &["SET", "ex", "v", "EX", "100"]), OK);
    // KEEPTTL keeps the short TTL; a plain SET clears it.
    assert_eq!(r(&mut c, &["SET", "keep", "v", "PX", "100"]), OK);
    assert_eq!(r(&mut c, &["SET", "keep", "v2", "KEEPTTL"]), OK);
    assert_eq!(r(&mut c, &["SET", "clear", "v", "PX", "100"]), OK);
    assert_eq!(r(&mut c, &["SET", "clear", "v2"]), OK);
    // An absolute time in the past leaves nothing readable.
    assert_eq!(r(&mut c, &["SET", "past", "v", "PXAT", "1"]), OK);
    assert_eq!(r(&mut c, &["GET", "past"]), NIL);
    assert_eq!(r(&mut c, &["SET", "pastsec", "v", "EXAT", "1"]), OK);
    assert_eq!(r(&mut c, &["GET", "pastsec"]), NIL);
    assert_eq!(r(&mut c, &["GET", "px"]), bulk("v"));
    sleep(Duration::from_millis(250));
    assert_eq!(r(&mut c, &["GET", "px"]), NIL);
    assert_eq!(r(&mut c, &["GET", "ex"]), bulk("v"));
    assert_eq!(r(&mut c, &["GET", "keep"]), NIL);
    assert_eq!(r(&mut c, &["GET", "clear"]), bulk("v2"));
    // An expired key counts as missing for NX, XX and GET.
    assert_eq!(r(&mut c, &["SET", "px", "again", "XX"]), NIL);
    assert_eq!(r(&mut c, &["SET", "px", "again", "NX", "GET"]), NIL);
    assert_eq!(r(&mut c, &["GET", "px"]), bulk("again"));
    // KEEPTTL on an expired key does not bring its old TTL back.
    assert_eq!(r(&mut c, &["SET", "gone", "v", "PX", "50"]), OK);
    sleep(Duration::from_millis(100));
    assert_eq!(r(&mut c, &["SET", "gone", "v2", "KEEPTTL"]), OK);
    assert_eq!(r(&mut c, &["GET", "gone"]), bulk("v2"));
}

#[test]
fn setnx_setex_psetex() {
    let srv = Server::start();
    let mut c = srv.raw();
    assert_eq!(r(&mut c, &["SETNX", "k", "a"]), int(1));
    assert_eq!(r(&mut c, &["SETNX", "k", "b"]), int(0));
    assert_eq!(r(&mut c, &["GET", "k"]), bulk("a"));
    assert_eq!(r(&mut c, &["SETEX", "k", "100", "b"]), OK);
    assert_eq!(r(&mut c, &["GET", "k"]), bulk("b"));
    assert_eq!(r(&mut c, &["PSETEX", "p", "100", "c"]), OK);
    assert_eq!(r(&mut c, &["GET", "p"]), bulk("c"));
    sleep(Duration::from_millis(250));
    assert_eq!(r(&mut c, &["GET", "p"]), NIL);
    assert_eq!(r(&mut c, &["GET", "k"]), bulk("b"));
    // SETNX on an expired key sets it.
    assert_eq!(r(&mut c, &["SETNX", "p", "d"]), int(1));
    assert_eq!(r(&mut c, &["GET", "p"]), bulk("d"));
}

#[test]
fn getset_and_getdel() {
    let srv = Server::start();
    let mut c = srv.raw();
    assert_eq!(r(&mut c, &["GETSET", "k", "xyz"]), NIL);
    assert_eq!(r(&mut c, &["GET", "k"]), bulk("xyz"));
    assert_eq!(r(&mut c, &["GETSET", "k", "abc"]), bulk("xyz"));
    assert_eq!(r(&mut c, &["GET", "k"]), bulk("abc"));
    // GETSET clears the TTL.
    assert_eq!(r(&mut c, &["SET", "t", "v", "PX", "100"]), OK);
    assert_eq!(r(&mut c, &["GETSET", "t", "w"]), bulk("v"));
    assert_eq!(r(&mut c, &["GETDEL", "k"]), bulk("abc"));
    assert_eq!(r(&mut c, &["GETDEL", "k"]), NIL);
    assert_eq!(r(&mut c, &["GET", "k"]), NIL);
    assert_eq!(r(&mut c, &["SET", "n", "42"]), OK);
    assert_eq!(r(&mut c, &["GETDEL", "n"]), bulk("42"));
    sleep(Duration::from_millis(200));
    assert_eq!(r(&mut c, &["GET", "t"]), bulk("w"));
}

#[test]
fn getex_options() {
    let srv = Server::start();
    let mut c = srv.raw();
    assert_eq!(r(&mut c, &["GETEX", "missing"]), NIL);
    // A missing key answers null before the expire time is even checked.
    assert_eq!(r(&mut c, &["GETEX", "missing", "EX", "0"]), NIL);
    assert_eq!(r(&mut c, &["SET", "k", "bar"]), OK);
    assert_eq!(r(&mut c, &["GETEX", "k"]), bulk("bar"));
    assert_eq!(r(&mut c, &["GETEX", "k", "PX", "100"]), bulk("bar"));
    assert_eq!(r(&mut c, &["SET", "p", "v", "PX", "100"]), OK);
    assert_eq!(r(&mut c, &["GETEX", "p", "PERSIST"]), bulk("v"));
    assert_eq!(r(&mut c, &["SET", "e", "v"]), OK);
    assert_eq!(r(&mut c, &["GETEX", "e", "EX", "100"]), bulk("v"));
    sleep(Duration::from_millis(250));
    assert_eq!(r(&mut c, &["GET", "k"]), NIL);
    assert_eq!(r(&mut c, &["GET", "p"]), bulk("v"));
    assert_eq!(r(&mut c, &["GET", "e"]), bulk("v"));
    // An absolute time in the past deletes the key after replying with it.
    assert_eq!(r(&mut c, &["GETEX", "e", "EXAT", "1"]), bulk("v"));
    assert_eq!(r(&mut c, &["GET", "e"]), NIL);
    assert_eq!(r(&mut c, &["SET", "e", "v"]), OK);
    assert_eq!(r(&mut c, &["GETEX", "e", "PXAT", "1"]), bulk("v"));
    assert_eq!(r(&mut c, &["GET", "e"]), NIL);
    assert_eq!(r(&mut c, &["SET", "e", "v"]), OK);
    assert_eq!(r(&mut c, &["GETEX", "e", "PXAT", "9223372036854775807"]), bulk("v"));
    assert_eq!(r(&mut c, &["GET", "e"]), bulk("v"));
}

#[test]
fn getex_errors() {
    let srv = Server::start();
    let mut c = srv.raw();
    assert_eq!(r(&mut c, &["SET", "k", "v"]), OK);
    for args in [
        &["GETEX", "k", "bogus"][..],
        &["GETEX", "k", "EX"],
        &["GETEX", "k", "EX", "10", "PX", "10"],
        &["GETEX", "k", "PERSIST", "EX", "10"],
        &["GETEX", "k", "EX", "10", "PERSIST"],
        &["GETEX", "k", "NX"],
        &["GETEX", "k", "XX"],
        &["GETEX", "k", "GET"],
        &["GETEX", "k", "KEEPTTL"],
    ] {
        assert_eq!(r(&mut c, args), SYNTAX, "{args:?}");
    }
    assert_eq!(
        r(&mut c, &["GETEX", "k", "EX", "0"]),
        "-ERR invalid expire time in 'getex' command\r\n"
    );
    assert_eq!(
        r(&mut c, &["GETEX", "k", "PXAT", "-1"]),
        "-ERR invalid expire time in 'getex' command\r\n"
    );
    assert_eq!(r(&mut c, &["GETEX", "k", "PX", "x"]), NOT_INT);
    assert_eq!(
        r(&mut c, &["GETEX"]),
        "-ERR wrong number of arguments for 'getex' command\r\n"
    );
    assert_eq!(r(&mut c, &["GET", "k"]), bulk("v"));
}

#[test]
fn mget_mset_msetnx() {
    let srv = Server::start();
    let mut c = srv.raw();
    assert_eq!(r(&mut c, &["MSET", "a", "1", "b", "foo bar", "c", "x\r\n"]), OK);
    assert_eq!(
        r(&mut c, &["MGET", "a", "missing", "b", "c"]),
        format!("*4\r\n{}{NIL}{}{}", bulk("1"), bulk("foo bar"), bulk("x\r\n"))
    );
    assert_eq!(
        r(&mut c, &["MSET", "a", "1", "b"]),
        "-ERR wrong number of arguments for 'mset' command\r\n"
    );
    assert_eq!(
        r(&mut c, &["MSETNX", "a", "1", "b"]),
        "-ERR wrong number of arguments for 'msetnx' command\r\n"
    );
    assert_eq!(
        r(&mut c, &["MSET", "a"]),
        "-ERR wrong number of arguments for 'mset' command\r\n"
    );
    // One existing key: nothing is set.
    assert_eq!(r(&mut c, &["MSETNX", "x1", "xxx", "y2", "yyy", "a", "20"]), int(0));
    assert_eq!(
        r(&mut c, &["MGET", "x1", "y2", "a"]),
        format!("*3\r\n{NIL}{NIL}{}", bulk("1"))
    );
    assert_eq!(r(&mut c, &["MSETNX", "x1", "xxx", "y2", "yyy"]), int(1));
    assert_eq!(
        r(&mut c, &["MGET", "x1", "y2"]),
        format!("*2\r\n{}{}", bulk("xxx"), bulk("yyy"))
    );
    // The same key twice: the last value wins.
    assert_eq!(r(&mut c, &["MSETNX", "z", "1", "z", "2"]), int(1));
    assert_eq!(r(&mut c, &["GET", "z"]), bulk("2"));
    assert_eq!(r(&mut c, &["MSETNX", "z", "3", "z", "4"]), int(0));
    assert_eq!(r(&mut c, &["GET", "z"]), bulk("2"));
    // MSET clears TTLs.
    assert_eq!(r(&mut c, &["SET", "t", "v", "PX", "100"]), OK);
    assert_eq!(r(&mut c, &["MSET", "t", "w"]), OK);
    sleep(Duration::from_millis(200));
    assert_eq!(r(&mut c, &["GET", "t"]), bulk("w"));
}

#[test]
fn mset_is_atomic_across_shards() {
    let srv = Server::start();
    let keys: Vec<String> = (0..8).map(|i| format!("atomic:{i}")).collect();
    let writer = {
        let mut c = srv.raw();
        let keys = keys.clone();
        std::thread::spawn(move || {
            for round in 0..2000 {
                let v = round.to_string();
                let mut args = vec!["MSET"];
                for k in &keys {
                    args.push(k);
                    args.push(&v);
                }
                assert_eq!(r(&mut c, &args), OK);
            }
        })
    };
    let mut c = srv.raw();
    let mut args = vec!["MGET"];
    args.extend(keys.iter().map(|k| k.as_str()));
    while !writer.is_finished() {
        let reply = r(&mut c, &args);
        let values: Vec<&str> = reply
            .split("\r\n")
            .skip(1)
            .step_by(2)
            .filter(|s| !s.is_empty())
            .collect();
        assert!(
            values.windows(2).all(|w| w[0] == w[1]),
            "torn MSET seen by MGET: {reply:?}"
        );
    }
    writer.join().expect("writer");
}

#[test]
fn append_and_strlen() {
    let srv = Server::start();
    let mut c = srv.raw();
    assert_eq!(r(&mut c, &["STRLEN", "k"]), int(0));
    assert_eq!(r(&mut c, &["APPEND", "k", "foo"]), int(3));
    assert_eq!(r(&mut c, &["APPEND", "k", "bar"]), int(6));
    assert_eq!(r(&mut c, &["APPEND", "k", ""]), int(6));
    assert_eq!(r(&mut c, &["GET", "k"]), bulk("foobar"));
    assert_eq!(r(&mut c, &["STRLEN", "k"]), int(6));
    assert_eq!(r(&mut c, &["SET", "n", "-555"]), OK);
    assert_eq!(r(&mut c, &["STRLEN", "n"]), int(4));
    assert_eq!(r(&mut c, &["APPEND", "n", "1"]), int(5));
    assert_eq!(r(&mut c, &["GET", "n"]), bulk("-5551"));
    // APPEND keeps the TTL.
    assert_eq!(r(&mut c, &["SET", "t", "v", "PX", "100"]), OK);
    assert_eq!(r(&mut c, &["APPEND", "t", "w"]), int(2));
    sleep(Duration::from_millis(200));
    assert_eq!(r(&mut c, &["GET", "t"]), NIL);
}

#[test]
fn string_size_limit() {
    let srv = Server::start();
    let mut c = srv.raw();
    assert_eq!(r(&mut c, &["CONFIG", "SET", "proto-max-bulk-len", "1048576"]), OK);
    let too_big = "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n";
    let half = "x".repeat(600_000);
    assert_eq!(r(&mut c, &["SET", "k", &half]), OK);
    assert_eq!(r(&mut c, &["APPEND", "k", &"y".repeat(448_576)]), int(1_048_576));
    assert_eq!(r(&mut c, &["APPEND", "k", "z"]), too_big);
    assert_eq!(r(&mut c, &["STRLEN", "k"]), int(1_048_576));
    assert_eq!(r(&mut c, &["SETRANGE", "k", "1048576", "z"]), too_big);
    assert_eq!(r(&mut c, &["SETRANGE", "new", "1048575", "zz"]), too_big);
    assert_eq!(r(&mut c, &["SETRANGE", "new", "1048575", "z"]), int(1_048_576));
    // Offsets that overflow are refused the same way.
    assert_eq!(r(&mut c, &["SETRANGE", "k", "9223372036854775807", "A"]), too_big);
}

#[test]
fn getrange_and_substr() {
    let srv = Server::start();
    let mut c = srv.raw();
    assert_eq!(r(&mut c, &["GETRANGE", "missing", "0", "-1"]), bulk(""));
    assert_eq!(r(&mut c, &["SET", "k", "Hello World"]), OK);
    let cases = [
        ("0", "3", "Hell"),
        ("0", "-1", "Hello World"),
        ("-4", "-1", "orld"),
        ("5", "3", ""),
        ("5", "5000", " World"),
        ("-5000", "10000", "Hello World"),
        ("-1", "-5", ""),
        ("0", "4294967297", "Hello World"),
    ];
    for (s, e, want) in cases {
        assert_eq!(r(&mut c, &["GETRANGE", "k", s, e]), bulk(want), "{s} {e}");
        assert_eq!(r(&mut c, &["SUBSTR", "k", s, e]), bulk(want), "{s} {e}");
    }
    assert_eq!(r(&mut c, &["SET", "n", "1234"]), OK);
    assert_eq!(r(&mut c, &["GETRANGE", "n", "0", "2"]), bulk("123"));
    assert_eq!(r(&mut c, &["GETRANGE", "n", "-3", "-1"]), bulk("234"));
    assert_eq!(r(&mut c, &["SET", "e", ""]), OK);
    assert_eq!(r(&mut c, &["GETRANGE", "e", "0", "-1"]), bulk(""));
    assert_eq!(r(&mut c, &["GETRANGE", "k", "a", "1"]), NOT_INT);
    assert_eq!(r(&mut c, &["GETRANGE", "k", "0", "1.5"]), NOT_INT);
    assert_eq!(
        r(&mut c, &["GETRANGE", "k", "0"]),
        "-ERR wrong number of arguments for 'getrange' command\r\n"
    );
}

#[test]
fn setrange() {
    let srv = Server::start();
    let mut c = srv.raw();
    assert_eq!(r(&mut c, &["SETRANGE", "k", "0", "foo"]), int(3));
    assert_eq!(r(&mut c, &["GET", "k"]), bulk("foo"));
    // Nothing to set on a missing key creates nothing.
    assert_eq!(r(&mut c, &["SETRANGE", "m", "5", ""]), int(0));
    assert_eq!(r(&mut c, &["GET", "m"]), NIL);
    assert_eq!(r(&mut c, &["SETRANGE", "m", "1", "foo"]), int(4));
    assert_eq!(r(&mut c, &["GET", "m"]), bulk("\0foo"));
    assert_eq!(r(&mut c, &["SETRANGE", "k", "1", "b"]), int(3));
    assert_eq!(r(&mut c, &["GET", "k"]), bulk("fbo"));
    assert_eq!(r(&mut c, &["SETRANGE", "k", "0", ""]), int(3));
    assert_eq!(r(&mut c, &["SETRANGE", "k", "4", "bar"]), int(7));
    assert_eq!(r(&mut c, &["GET", "k"]), bulk("fbo\0bar"));
    assert_eq!(r(&mut c, &["SET", "n", "1234"]), OK);
    assert_eq!(r(&mut c, &["SETRANGE", "n", "5", "2"]), int(6));
    assert_eq!(r(&mut c, &["GET", "n"]), bulk("1234\u{0}2"));
    assert_eq!(
        r(&mut c, &["SETRANGE", "k", "-1", "x"]),
        "-ERR offset is out of range\r\n"
    );
    assert_eq!(r(&mut c, &["SETRANGE", "k", "x", "x"]), NOT_INT);
    assert_eq!(
        r(&mut c, &["SETRANGE", "k", "536870908", "world"]),
        "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n"
    );
}

#[test]
fn incr_decr_family() {
    let srv = Server::start();
    let mut c = srv.raw();
    assert_eq!(r(&mut c, &["INCR", "n"]), int(1));
    assert_eq!(r(&mut c, &["INCR", "n"]), int(2));
    assert_eq!(r(&mut c, &["DECR", "n"]), int(1));
    assert_eq!(r(&mut c, &["DECR", "fresh"]), int(-1));
    assert_eq!(r(&mut c, &["INCRBY", "n", "17179869184"]), int(17179869185));
    assert_eq!(r(&mut c, &["DECRBY", "n", "17179869186"]), int(-1));
    assert_eq!(r(&mut c, &["GET", "n"]), bulk("-1"));
    assert_eq!(r(&mut c, &["SET", "s", "100"]), OK);
    assert_eq!(r(&mut c, &["INCR", "s"]), int(101));
    assert_eq!(r(&mut c, &["GET", "s"]), bulk("101"));
    for bad in ["    11", "11    ", "1.5", "abc", "", "01"] {
        assert_eq!(r(&mut c, &["SET", "bad", bad]), OK);
        assert_eq!(r(&mut c, &["INCR", "bad"]), NOT_INT, "{bad:?}");
    }
    assert_eq!(r(&mut c, &["INCRBY", "n", "x"]), NOT_INT);
    assert_eq!(r(&mut c, &["DECRBY", "n", "1.0"]), NOT_INT);
    assert_eq!(r(&mut c, &["SET", "max", "9223372036854775807"]), OK);
    let overflow = "-ERR increment or decrement would overflow\r\n";
    assert_eq!(r(&mut c, &["INCR", "max"]), overflow);
    assert_eq!(r(&mut c, &["SET", "min", "-9223372036854775808"]), OK);
    assert_eq!(r(&mut c, &["DECR", "min"]), overflow);
    assert_eq!(r(&mut c, &["INCRBY", "min", "-1"]), overflow);
    assert_eq!(
        r(&mut c, &["DECRBY", "x", "-9223372036854775808"]),
        "-ERR decrement would overflow\r\n"
    );
    assert_eq!(r(&mut c, &["GET", "x"]), NIL);
    // INCR keeps the TTL.
    assert_eq!(r(&mut c, &["SET", "t", "1", "PX", "100"]), OK);
    assert_eq!(r(&mut c, &["INCR", "t"]), int(2));
    sleep(Duration::from_millis(200));
    assert_eq!(r(&mut c, &["GET", "t"]), NIL);
}

#[test]
fn concurrent_incr_loses_nothing() {
    let srv = Server::start();
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let mut c = srv.raw();
            std::thread::spawn(move || {
                for _ in 0..1000 {
                    assert!(r(&mut c, &["INCR", "counter"]).starts_with(':'));
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    let mut c = srv.raw();
    assert_eq!(r(&mut c, &["GET", "counter"]), bulk("4000"));
}

#[test]
fn incrbyfloat() {
    let srv = Server::start();
    let mut c = srv.raw();
    assert_eq!(r(&mut c, &["INCRBYFLOAT", "f", "1"]), bulk("1"));
    assert_eq!(r(&mut c, &["INCRBYFLOAT", "f", "0.25"]), bulk("1.25"));
    assert_eq!(r(&mut c, &["GET", "f"]), bulk("1.25"));
    assert_eq!(r(&mut c, &["SET", "f", "17179869184"]), OK);
    assert_eq!(r(&mut c, &["INCRBYFLOAT", "f", "1.5"]), bulk("17179869185.5"));
    assert_eq!(r(&mut c, &["SET", "f", "1"]), OK);
    assert_eq!(r(&mut c, &["INCRBYFLOAT", "f", "-1.1"]), bulk("-0.1"));
    assert_eq!(
        r(&mut c, &["INCRBYFLOAT", "f", "5.0e3"]),
        bulk("4999.89999999999999991")
    );
    // No negative zero.
    assert_eq!(r(&mut c, &["SET", "z", "0.5"]), OK);
    assert_eq!(r(&mut c, &["INCRBYFLOAT", "z", "-0.5"]), bulk("0"));
    for bad in ["    11", "11 ", "abc", "1\u{0}2"] {
        assert_eq!(r(&mut c, &["SET", "bad", bad]), OK);
        assert_eq!(r(&mut c, &["INCRBYFLOAT", "bad", "1"]), NOT_FLOAT, "{bad:?}");
    }
    assert_eq!(r(&mut c, &["INCRBYFLOAT", "f", "abc"]), NOT_FLOAT);
    assert_eq!(r(&mut c, &["INCRBYFLOAT", "f", ""]), NOT_FLOAT);
    assert_eq!(r(&mut c, &["INCRBYFLOAT", "f", "nan"]), NOT_FLOAT);
    assert_eq!(
        r(&mut c, &["INCRBYFLOAT", "f", "+inf"]),
        "-ERR increment would produce NaN or Infinity\r\n"
    );
    assert_eq!(r(&mut c, &["GET", "f"]), bulk("4999.89999999999999991"));
    // INCRBYFLOAT keeps the TTL.
    assert_eq!(r(&mut c, &["SET", "t", "1", "PX", "100"]), OK);
    assert_eq!(r(&mut c, &["INCRBYFLOAT", "t", "1"]), bulk("2"));
    sleep(Duration::from_millis(200));
    assert_eq!(r(&mut c, &["GET", "t"]), NIL);
}

const RNA1: &str = "CACCTTCCCAGGTAACAAACCAACCAACTTTCGATCTCTTGTAGATCTGTTCTCTAAACGAACTTTAAAATCTGTGTGGCTGTCACTCGGCTGCATGCTTAGTGCACTCACGCAGTATAATTAATAACTAATTACTGTCGTTGACAGGACACGAGTAACTCGTCTATCTTCTGCAGGCTGCTTACGGTTTCGTCCGTGTTGCAGCCGATCATCAGCACATCTAGGTTTCGTCCGGGTGTG";
const RNA2: &str = "ATTAAAGGTTTATACCTTCCCAGGTAACAAACCAACCAACTTTCGATCTCTTGTAGATCTGTTCTCTAAACGAACTTTAAAATCTGTGTGGCTGTCACTCGGCTGCATGCTTAGTGCACTCACGCAGTATAATTAATAACTAATTACTGTCGTTGACAGGACACGAGTAACTCGTCTATCTTCTGCAGGCTGCTTACGGTTTCGTCCGTGTTGCAGCCGATCATCAGCACATCTAGGTTT";
const RNALCS: &str = "ACCTTCCCAGGTAACAAACCAACCAACTTTCGATCTCTTGTAGATCTGTTCTCTAAACGAACTTTAAAATCTGTGTGGCTGTCACTCGGCTGCATGCTTAGTGCACTCACGCAGTATAATTAATAACTAATTACTGTCGTTGACAGGACACGAGTAACTCGTCTATCTTCTGCAGGCTGCTTACGGTTTCGTCCGTGTTGCAGCCGATCATCAGCACATCTAGGTTT";

/// The RESP encoding of one LCS IDX match.
fn lcs_match(a: (i64, i64), b: (i64, i64), len: Option<i64>) -> String {
    let mut s = format!(
        "*{}\r\n*2\r\n:{}\r\n:{}\r\n*2\r\n:{}\r\n:{}\r\n",
        2 + len.is_some() as usize,
        a.0,
        a.1,
        b.0,
        b.1
    );
    if let Some(n) = len {
        s += &format!(":{n}\r\n");
    }
    s
}

#[test]
fn lcs() {
    let srv = Server::start();
    let mut c = srv.raw();
    assert_eq!(r(&mut c, &["MSET", "v1", RNA1, "v2", RNA2]), OK);
    assert_eq!(r(&mut c, &["LCS", "v1", "v2"]), bulk(RNALCS));
    assert_eq!(r(&mut c, &["LCS", "v1", "v2", "LEN"]), int(RNALCS.len() as i64));
    let ranges = [
        ((238, 238), (239, 239), 1),
        ((236, 236), (238, 238), 1),
        ((229, 230), (236, 237), 2),
        ((224, 224), (235, 235), 1),
        ((1, 222), (13, 234), 222),
    ];
    let idx: String = ranges.iter().map(|(a, b, _)| lcs_match(*a, *b, None)).collect();
    assert_eq!(
        r(&mut c, &["LCS", "v1", "v2", "IDX"]),
        format!("*4\r\n{}*5\r\n{idx}{}:227\r\n", bulk("matches"), bulk("len"))
    );
    let with_len: String = ranges.iter().map(|(a, b, n)| lcs_match(*a, *b, Some(*n))).collect();
    assert_eq!(
        r(&mut c, &["LCS", "v1", "v2", "IDX", "WITHMATCHLEN"]),
        format!("*4\r\n{}*5\r\n{with_len}{}:227\r\n", bulk("matches"), bulk("len"))
    );
    assert_eq!(
        r(&mut c, &["LCS", "v1", "v2", "IDX", "WITHMATCHLEN", "MINMATCHLEN", "5"]),
        format!(
            "*4\r\n{}*1\r\n{}{}:227\r\n",
            bulk("matches"),
            lcs_match((1, 222), (13, 234), Some(222)),
            bulk("len")
        )
    );
    // Missing keys are empty strings; a negative MINMATCHLEN counts as 0.
    assert_eq!(r(&mut c, &["LCS", "v1", "nokey"]), bulk(""));
    assert_eq!(r(&mut c, &["LCS", "nokey", "nokey2", "LEN"]), int(0));
    assert_eq!(
        r(&mut c, &["LCS", "nokey", "v1", "IDX", "MINMATCHLEN", "-3"]),
        format!("*4\r\n{}*0\r\n{}:0\r\n", bulk("matches"), bulk("len"))
    );
    assert_eq!(r(&mut c, &["MSET", "a", "ohmytext", "b", "mynewtext"]), OK);
    assert_eq!(r(&mut c, &["LCS", "a", "b"]), bulk("mytext"));
    assert_eq!(r(&mut c, &["SET", "i", "12345"]), OK);
    assert_eq!(r(&mut c, &["SET", "j", "2x4"]), OK);
    assert_eq!(r(&mut c, &["LCS", "i", "j"]), bulk("24"));
}

#[test]
fn lcs_errors() {
    let srv = Server::start();
    let mut c = srv.raw();
    assert_eq!(r(&mut c, &["MSET", "a", "abc", "b", "abd"]), OK);
    assert_eq!(r(&mut c, &["LCS", "a", "b", "bogus"]), SYNTAX);
    assert_eq!(r(&mut c, &["LCS", "a", "b", "MINMATCHLEN"]), SYNTAX);
    assert_eq!(r(&mut c, &["LCS", "a", "b", "MINMATCHLEN", "x"]), NOT_INT);
    assert_eq!(
        r(&mut c, &["LCS", "a", "b", "LEN", "IDX"]),
        "-ERR If you want both the length and indexes, please just use IDX.\r\n"
    );
    assert_eq!(r(&mut c, &["CONFIG", "SET", "proto-max-bulk-len", "1048576"]), OK);
    let long = "a".repeat(600);
    assert_eq!(r(&mut c, &["MSET", "l1", &long, "l2", &long]), OK);
    assert_eq!(
        r(&mut c, &["LCS", "l1", "l2", "LEN"]),
        "-ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len\r\n"
    );
    assert_eq!(
        r(&mut c, &["LCS", "a"]),
        "-ERR wrong number of arguments for 'lcs' command\r\n"
    );
}

#[test]
fn wrong_type_errors() {
    let srv = Server::start();
    let mut c = srv.raw();
    if !make_list(&mut c, "list") {
        eprintln!("lists are not built yet: WRONGTYPE paths are checked once they are");
        return;
    }
    for args in [
        &["GET", "list"][..],
        &["SET", "list", "v", "GET"],
        &["GETSET", "list", "v"],
        &["GETDEL", "list"],
        &["GETEX", "list", "EX", "10"],
        &["APPEND", "list", "v"],
        &["STRLEN", "list"],
        &["GETRANGE", "list", "0", "-1"],
        &["SUBSTR", "list", "0", "-1"],
        &["SETRANGE", "list", "0", "v"],
        &["INCR", "list"],
        &["DECRBY", "list", "2"],
        &["INCRBYFLOAT", "list", "1.5"],
    ] {
        assert_eq!(r(&mut c, args), WRONGTYPE, "{args:?}");
    }
    assert_eq!(
        r(&mut c, &["LCS", "list", "nokey"]),
        "-ERR The specified keys must contain string values\r\n"
    );
    // MGET reads other types as null; SET without GET overwrites them.
    assert_eq!(r(&mut c, &["MGET", "list"]), format!("*1\r\n{NIL}"));
    assert_eq!(r(&mut c, &["SET", "list", "v"]), OK);
    assert_eq!(r(&mut c, &["GET", "list"]), bulk("v"));
}

#[test]
fn read_lookups_count_keyspace_hits_and_misses() {
    let srv = common::Server::start();
    let mut c = srv.client();
    let _: () = redis::cmd("SET").arg("a").arg("1").query(&mut c).unwrap();
    let _: Option<String> = redis::cmd("GET").arg("a").query(&mut c).unwrap();
    let _: Option<String> = redis::cmd("GET").arg("nope").query(&mut c).unwrap();
    let _: Vec<Option<String>> = redis::cmd("MGET").arg("a").arg("nope").arg("a").query(&mut c).unwrap();
    let info: String = redis::cmd("INFO").arg("stats").query(&mut c).unwrap();
    assert!(info.contains("keyspace_hits:3\r\n"), "{info}");
    assert!(info.contains("keyspace_misses:2\r\n"), "{info}");
}
