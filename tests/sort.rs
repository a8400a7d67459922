//! SORT and SORT_RO against a live server: every option and every error path with replies taken
//! from redis-server 7.0.15, and a differential run against the reference server when it is
//! installed (random lists, sets and sorted sets, random options, raw replies compared byte for
//! byte).

mod common;

use common::{Raw, Reference, Server};
use redis::Connection;

fn q<T: redis::FromRedisValue>(c: &mut Connection, args: &[&str]) -> T {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(c).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn strs(c: &mut Connection, args: &[&str]) -> Vec<String> {
    q(c, args)
}

/// The raw reply of a command as text.
fn r(c: &mut Raw, args: &[&str]) -> String {
    c.cmd_str(args)
}

#[test]
fn numeric_alpha_desc_on_every_type() {
    let srv = Server::start();
    let mut c = srv.client();
    q::<i64>(&mut c, &["RPUSH", "l", "3", "1", "2", "10", "1.5", "-2"]);
    assert_eq!(strs(&mut c, &["SORT", "l"]), ["-2", "1", "1.5", "2", "3", "10"]);
    assert_eq!(strs(&mut c, &["SORT", "l", "DESC"]), ["10", "3", "2", "1.5", "1", "-2"]);
    assert_eq!(
        strs(&mut c, &["SORT", "l", "ALPHA"]),
        ["-2", "1", "1.5", "10", "2", "3"]
    );
    assert_eq!(
        strs(&mut c, &["SORT", "l", "alpha", "desc", "asc"]),
        ["-2", "1", "1.5", "10", "2", "3"]
    );
    // Intset and hashtable sets.
    q::<i64>(&mut c, &["SADD", "si", "5", "-1", "30", "7"]);
    assert_eq!(strs(&mut c, &["SORT", "si"]), ["-1", "5", "7", "30"]);
    q::<i64>(&mut c, &["SADD", "ss", "b", "a", "c", "aa"]);
    assert_eq!(strs(&mut c, &["SORT", "ss", "ALPHA"]), ["a", "aa", "b", "c"]);
    assert_eq!(strs(&mut c, &["SORT", "ss", "ALPHA", "DESC"]), ["c", "b", "aa", "a"]);
    // A sorted set sorts by its members, not its scores, and is left as a skiplist.
    q::<i64>(&mut c, &["ZADD", "z", "1", "30", "2", "4", "3", "100"]);
    assert_eq!(q::<String>(&mut c, &["OBJECT", "ENCODING", "z"]), "listpack");
    assert_eq!(strs(&mut c, &["SORT", "z"]), ["4", "30", "100"]);
    assert_eq!(q::<String>(&mut c, &["OBJECT", "ENCODING", "z"]), "skiplist");
    // A missing key is an empty list.
    assert!(strs(&mut c, &["SORT", "nokey"]).is_empty());
    assert!(strs(&mut c, &["SORT_RO", "nokey", "BY", "x", "GET", "#"]).is_empty());
    // Equal scores fall back to the elements' bytes; infinities sort.
    q::<i64>(&mut c, &["RPUSH", "eq", "1.0", "1", "01", "inf", "-inf", "-0", "0"]);
    assert_eq!(
        strs(&mut c, &["SORT", "eq"]),
        ["-inf", "-0", "0", "01", "1", "1.0", "inf"]
    );
    assert_eq!(
        strs(&mut c, &["SORT", "eq", "DESC"]),
        ["inf", "1.0", "1", "01", "0", "-0", "-inf"]
    );
}

#[test]
fn weights_parse_like_strtod() {
    let srv = Server::start();
    let mut c = srv.client();
    // An empty string is 0, leading spaces and hex are accepted.
    q::<i64>(&mut c, &["RPUSH", "ok", "0x10", " 5", ""]);
    assert_eq!(strs(&mut c, &["SORT", "ok"]), ["", " 5", "0x10"]);
    let mut raw = srv.raw();
    let bad = "-ERR One or more scores can't be converted into double\r\n";
    for (i, v) in ["5 ", "1e400", "1e-400", "nan", "abc", "1x"].iter().enumerate() {
        let key = format!("bad{i}");
        r(&mut raw, &["RPUSH", &key, "1", v]);
        assert_eq!(r(&mut raw, &["SORT", &key]), bad, "{v:?}");
        // ALPHA does not parse at all.
        assert_eq!(r(&mut raw, &["SORT", &key, "ALPHA", "LIMIT", "0", "0"]), "*0\r\n");
    }
    // A bad weight read through BY fails too, even with LIMIT or STORE (nothing is stored).
    r(&mut raw, &["RPUSH", "l", "1", "2"]);
    r(&mut raw, &["SET", "w_1", "10"]);
    r(&mut raw, &["SET", "w_2", "not-a-double"]);
    assert_eq!(r(&mut raw, &["SORT", "l", "BY", "w_*"]), bad);
    assert_eq!(r(&mut raw, &["SORT", "l", "BY", "w_*", "LIMIT", "0", "1"]), bad);
    assert_eq!(r(&mut raw, &["SORT", "l", "BY", "w_*", "STORE", "dst"]), bad);
    assert_eq!(r(&mut raw, &["EXISTS", "dst"]), ":0\r\n");
    // A weight with a NUL ends there, as C sees it.
    raw.cmd(&[b"SET", b"w_1", b"3\0junk"]);
    r(&mut raw, &["SET", "w_2", "2"]);
    assert_eq!(r(&mut raw, &["SORT", "l", "BY", "w_*"]), "*2\r\n$1\r\n2\r\n$1\r\n1\r\n");
}

#[test]
fn by_patterns() {
    let srv = Server::start();
    let mut c = srv.client();
    q::<i64>(&mut c, &["RPUSH", "l", "a", "b", "c", "d"]);
    q::<()>(&mut c, &["MSET", "w_a", "3", "w_b", "1", "w_c", "2"]);
    // d has no weight: 0, so it comes first.
    assert_eq!(strs(&mut c, &["SORT", "l", "BY", "w_*"]), ["d", "b", "c", "a"]);
    assert_eq!(strs(&mut c, &["SORT", "l", "BY", "w_*", "DESC"]), ["a", "c", "b", "d"]);
    // ALPHA BY: a missing weight sorts first; the weights compare as bytes.
    q::<()>(&mut c, &["MSET", "s_a", "b", "s_b", "a", "s_c", "c"]);
    assert_eq!(strs(&mut c, &["SORT", "l", "BY", "s_*", "ALPHA"]), ["d", "b", "a", "c"]);
    // Hash fields.
    q::<i64>(&mut c, &["HSET", "h_a", "f", "9", "g", "1"]);
    q::<i64>(&mut c, &["HSET", "h_b", "f", "8"]);
    q::<i64>(&mut c, &["HSET", "h_c", "f", "7"]);
    assert_eq!(strs(&mut c, &["SORT", "l", "BY", "h_*->f"]), ["d", "c", "b", "a"]);
    assert_eq!(strs(&mut c, &["SORT", "l", "BY", "h_*->g"]), ["b", "c", "d", "a"]);
    // A key of the wrong type weighs as missing (0).
    q::<i64>(&mut c, &["RPUSH", "w_d", "1"]);
    q::<i64>(&mut c, &["RPUSH", "x_b", "5"]);
    assert_eq!(strs(&mut c, &["SORT", "l", "BY", "h_*"]), ["a", "b", "c", "d"]);
    assert_eq!(strs(&mut c, &["SORT", "l", "BY", "w_*->f"]), ["a", "b", "c", "d"]);
    // `->` at the very end is part of the key name.
    q::<()>(&mut c, &["SET", "k_a->", "1"]);
    q::<()>(&mut c, &["SET", "k_b->", "0"]);
    assert_eq!(
        strs(&mut c, &["SORT", "l", "BY", "k_*->", "LIMIT", "0", "2"]),
        ["b", "c"]
    );
    // The star may sit anywhere; only the first one is replaced.
    q::<()>(&mut c, &["MSET", "a-x-*", "5", "b-x-*", "4"]);
    assert_eq!(
        strs(&mut c, &["SORT", "l", "BY", "*-x-*", "DESC"]),
        ["a", "b", "d", "c"]
    );
}

#[test]
fn nosort_keeps_native_order() {
    let srv = Server::start();
    let mut c = srv.client();
    q::<i64>(&mut c, &["LPUSH", "l", "2", "1", "4", "3", "5"]);
    assert_eq!(strs(&mut c, &["SORT", "l", "BY", "nosort"]), ["5", "3", "4", "1", "2"]);
    assert_eq!(
        strs(&mut c, &["SORT", "l", "BY", "nosort", "DESC"]),
        ["2", "1", "4", "3", "5"]
    );
    assert_eq!(
        strs(&mut c, &["SORT", "l", "BY", "nosort", "LIMIT", "1", "2"]),
        ["3", "4"]
    );
    assert_eq!(
        strs(&mut c, &["SORT", "l", "BY", "nosort", "DESC", "LIMIT", "1", "2"]),
        ["1", "4"]
    );
    // Once a BY without `*` was seen, a later BY pattern does not sort.
    assert_eq!(
        strs(&mut c, &["SORT", "l", "BY", "x", "BY", "w_*"]),
        ["5", "3", "4", "1", "2"]
    );
    q::<i64>(
        &mut c,
        &["ZADD", "z", "1", "a", "5", "b", "2", "c", "10", "d", "3", "e"],
    );
    assert_eq!(strs(&mut c, &["SORT", "z", "BY", "nosort"]), ["a", "c", "e", "b", "d"]);
    assert_eq!(
        strs(&mut c, &["SORT", "z", "BY", "nosort", "DESC"]),
        ["d", "b", "e", "c", "a"]
    );
    assert_eq!(
        strs(&mut c, &["SORT", "z", "BY", "nosort", "LIMIT", "0", "2"]),
        ["a", "c"]
    );
    assert_eq!(
        strs(&mut c, &["SORT", "z", "BY", "nosort", "DESC", "LIMIT", "0", "2"]),
        ["d", "b"]
    );
    assert_eq!(
        strs(&mut c, &["SORT", "z", "BY", "nosort", "DESC", "LIMIT", "3", "9"]),
        ["c", "a"]
    );
    assert!(strs(&mut c, &["SORT", "z", "BY", "nosort", "LIMIT", "5", "10"]).is_empty());
    assert_eq!(
        strs(&mut c, &["SORT", "z", "BY", "nosort", "LIMIT", "-10", "100"]),
        ["a", "c", "e", "b", "d"]
    );
    // An intset iterates in order; DESC does not apply to a set that is not sorted.
    q::<i64>(&mut c, &["SADD", "s", "3", "1", "2"]);
    assert_eq!(strs(&mut c, &["SORT", "s", "BY", "nosort", "DESC"]), ["1", "2", "3"]);
    // ...but a set stored without sorting is sorted ALPHA (DESC applies then) so the stored
    // list is deterministic.
    q::<i64>(&mut c, &["SADD", "s2", "b", "10", "a", "9"]);
    assert_eq!(
        q::<i64>(&mut c, &["SORT", "s2", "BY", "nosort", "DESC", "STORE", "d"]),
        4
    );
    assert_eq!(strs(&mut c, &["LRANGE", "d", "0", "-1"]), ["b", "a", "9", "10"]);
    assert_eq!(q::<i64>(&mut c, &["SORT", "s2", "BY", "nosort", "STORE", "d"]), 4);
    assert_eq!(strs(&mut c, &["LRANGE", "d", "0", "-1"]), ["10", "9", "a", "b"]);
}

#[test]
fn limit_edges() {
    let srv = Server::start();
    let mut c = srv.client();
    q::<i64>(&mut c, &["RPUSH", "l", "5", "4", "3", "2", "1"]);
    let cases: &[(&str, &str, &[&str])] = &[
        ("0", "2", &["1", "2"]),
        ("1", "-1", &["2", "3", "4", "5"]),
        ("-5", "2", &["1", "2"]),
        ("3", "100", &["4", "5"]),
        ("4", "1", &["5"]),
        ("5", "1", &[]),
        ("100", "-1", &[]),
        ("2", "0", &[]),
        ("9223372036854775807", "9223372036854775807", &[]),
        (
            "-9223372036854775808",
            "-9223372036854775808",
            &["1", "2", "3", "4", "5"],
        ),
    ];
    for (start, count, want) in cases {
        let got = strs(&mut c, &["SORT", "l", "LIMIT", start, count]);
        assert_eq!(got, *want, "LIMIT {start} {count}");
        let by = strs(&mut c, &["SORT", "l", "BY", "nosort", "DESC", "LIMIT", start, count]);
        assert_eq!(by, *want, "nosort DESC LIMIT {start} {count}");
    }
    // The last LIMIT wins.
    assert_eq!(
        strs(&mut c, &["SORT", "l", "LIMIT", "0", "1", "LIMIT", "1", "1"]),
        ["2"]
    );
}

#[test]
fn get_patterns() {
    let srv = Server::start();
    let mut c = srv.client();
    q::<i64>(&mut c, &["RPUSH", "l", "2", "1", "3"]);
    q::<()>(&mut c, &["MSET", "v_1", "one", "v_2", "two"]);
    q::<i64>(&mut c, &["HSET", "h_3", "f", "three"]);
    q::<i64>(&mut c, &["RPUSH", "v_3", "not a string"]);
    let v: Vec<Option<String>> = q(
        &mut c,
        &["SORT", "l", "GET", "#", "GET", "v_*", "GET", "h_*->f", "GET", "const"],
    );
    let s = |x: &str| Some(x.to_string());
    assert_eq!(
        v,
        [
            s("1"),
            s("one"),
            None,
            None,
            s("2"),
            s("two"),
            None,
            None,
            s("3"),
            None,
            s("three"),
            None
        ]
    );
    // GET with BY and LIMIT and DESC.
    let v: Vec<Option<String>> = q(&mut c, &["SORT", "l", "DESC", "LIMIT", "0", "2", "GET", "v_*"]);
    assert_eq!(v, [None, s("two")]);
    // `#` alone is the element; anything longer is a pattern.
    let v: Vec<Option<String>> = q(&mut c, &["SORT", "l", "GET", "#*", "LIMIT", "0", "1"]);
    assert_eq!(v, [None]);
    // RESP3 nulls.
    let mut raw = srv.raw();
    r(&mut raw, &["HELLO", "3"]);
    assert_eq!(
        r(&mut raw, &["SORT", "l", "LIMIT", "0", "1", "GET", "x"]),
        "*1\r\n_\r\n"
    );
}

#[test]
fn store() {
    let srv = Server::start();
    let mut c = srv.client();
    q::<i64>(&mut c, &["RPUSH", "l", "2", "1", "3"]);
    q::<()>(&mut c, &["SET", "v_2", "two"]);
    // The destination is replaced whatever its type, and loses its TTL.
    q::<()>(&mut c, &["SET", "dst", "x", "EX", "100"]);
    assert_eq!(q::<i64>(&mut c, &["SORT", "l", "STORE", "dst"]), 3);
    assert_eq!(strs(&mut c, &["LRANGE", "dst", "0", "-1"]), ["1", "2", "3"]);
    assert_eq!(q::<i64>(&mut c, &["TTL", "dst"]), -1);
    assert_eq!(q::<String>(&mut c, &["OBJECT", "ENCODING", "dst"]), "quicklist");
    // GET values, a missing one stored as an empty string; the count is per value.
    assert_eq!(
        q::<i64>(&mut c, &["SORT", "l", "GET", "#", "GET", "v_*", "STORE", "dst"]),
        6
    );
    assert_eq!(
        strs(&mut c, &["LRANGE", "dst", "0", "-1"]),
        ["1", "", "2", "two", "3", ""]
    );
    // The last STORE wins; the source may be the destination.
    assert_eq!(q::<i64>(&mut c, &["SORT", "l", "DESC", "STORE", "a", "STORE", "l"]), 3);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "a"]), 0);
    assert_eq!(strs(&mut c, &["LRANGE", "l", "0", "-1"]), ["3", "2", "1"]);
    // An empty result deletes the destination and replies 0.
    assert_eq!(q::<i64>(&mut c, &["SORT", "l", "LIMIT", "10", "10", "STORE", "dst"]), 0);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "dst"]), 0);
    assert_eq!(q::<i64>(&mut c, &["SORT", "missing", "STORE", "none"]), 0);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "none"]), 0);
    // Storing wakes a client blocked on the destination.
    let mut blocked = srv.raw();
    blocked.send(b"*3\r\n$5\r\nBLPOP\r\n$4\r\nwake\r\n$1\r\n5\r\n");
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert_eq!(q::<i64>(&mut c, &["SORT", "l", "STORE", "wake"]), 3);
    assert_eq!(
        String::from_utf8_lossy(&blocked.read_reply()),
        "*2\r\n$4\r\nwake\r\n$1\r\n1\r\n"
    );
    assert_eq!(strs(&mut c, &["LRANGE", "wake", "0", "-1"]), ["2", "3"]);
}

#[test]
fn alpha_compares_c_strings_unless_storing() {
    let srv = Server::start();
    let mut raw = srv.raw();
    // Replies compare like strcoll (up to a NUL, so "a\0z" ties "a" and keeps list order);
    // STORE compares all bytes.
    raw.cmd(&[b"RPUSH", b"l", b"a\0z", b"b", b"a", b"a\0c"]);
    let reply = raw.cmd(&[b"SORT", b"l", b"ALPHA"]);
    assert_eq!(reply, b"*4\r\n$3\r\na\0z\r\n$1\r\na\r\n$3\r\na\0c\r\n$1\r\nb\r\n");
    assert_eq!(r(&mut raw, &["SORT", "l", "ALPHA", "STORE", "d"]), ":4\r\n");
    let reply = raw.cmd(&[b"LRANGE", b"d", b"0", b"-1"]);
    assert_eq!(reply, b"*4\r\n$1\r\na\r\n$3\r\na\0c\r\n$3\r\na\0z\r\n$1\r\nb\r\n");
}

#[test]
fn errors() {
    let srv = Server::start();
    let mut raw = srv.raw();
    r(&mut raw, &["RPUSH", "l", "1"]);
    r(&mut raw, &["SET", "str", "x"]);
    let syntax = "-ERR syntax error\r\n";
    let not_int = "-ERR value is not an integer or out of range\r\n";
    let cases: &[(&[&str], &str)] = &[
        (&["SORT", "l", "foo"], syntax),
        (&["SORT", "l", "LIMIT", "1"], syntax),
        (&["SORT", "l", "LIMIT"], syntax),
        (&["SORT", "l", "BY"], syntax),
        (&["SORT", "l", "GET"], syntax),
        (&["SORT", "l", "STORE"], syntax),
        (&["SORT", "l", "LIMIT", "a", "1"], not_int),
        (&["SORT", "l", "LIMIT", "0", "1.5"], not_int),
        (&["SORT", "l", "LIMIT", "0", "99999999999999999999"], not_int),
        (
            &["SORT", "str"],
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        ),
        (
            &["SORT_RO", "str"],
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        ),
        // Options are checked before the key.
        (&["SORT", "str", "foo"], syntax),
        (&["SORT", "str", "LIMIT", "x", "y"], not_int),
        (&["SORT_RO", "l", "STORE", "dst"], syntax),
        (&["SORT"], "-ERR wrong number of arguments for 'sort' command\r\n"),
        (&["SORT_RO"], "-ERR wrong number of arguments for 'sort_ro' command\r\n"),
    ];
    for (args, want) in cases {
        assert_eq!(r(&mut raw, args), *want, "{args:?}");
    }
    assert_eq!(r(&mut raw, &["EXISTS", "dst"]), ":0\r\n");
    // A WRONGTYPE source does not touch the destination.
    r(&mut raw, &["SET", "dst", "keep"]);
    assert_eq!(
        r(&mut raw, &["SORT", "str", "STORE", "dst"]),
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
    );
    assert_eq!(r(&mut raw, &["GET", "dst"]), "$4\r\nkeep\r\n");
}

#[test]
fn command_table_and_keys() {
    let srv = Server::start();
    let mut c = srv.client();
    let keys = |c: &mut Connection, args: &[&str]| -> Vec<String> {
        let mut v = vec!["COMMAND", "GETKEYS"];
        v.extend_from_slice(args);
        strs(c, &v)
    };
    assert_eq!(keys(&mut c, &["SORT", "abc", "STORE", "def"]), ["abc", "def"]);
    assert_eq!(
        keys(
            &mut c,
            &["SORT", "abc", "STORE", "invalid", "STORE", "stillbad", "STORE", "def"]
        ),
        ["abc", "def"]
    );
    assert_eq!(keys(&mut c, &["SORT", "abc", "BY", "store", "GET", "store"]), ["abc"]);
    assert_eq!(keys(&mut c, &["SORT", "abc", "LIMIT", "store", "x", "STORE"]), ["abc"]);
    assert_eq!(keys(&mut c, &["SORT_RO", "abc", "BY", "x", "GET", "y"]), ["abc"]);
    let mut raw = srv.raw();
    assert_eq!(
        r(
            &mut raw,
            &[
                "COMMAND",
                "GETKEYSANDFLAGS",
                "SORT",
                "a",
                "BY",
                "b",
                "GET",
                "c",
                "STORE",
                "d"
            ]
        ),
        "*2\r\n*2\r\n$1\r\na\r\n*2\r\n+RO\r\n+access\r\n*2\r\n$1\r\nd\r\n*2\r\n+OW\r\n+update\r\n"
    );
    assert_eq!(
        r(&mut raw, &["COMMAND", "GETKEYSANDFLAGS", "SORT_RO", "a", "GET", "c"]),
        "*1\r\n*2\r\n$1\r\na\r\n*2\r\n+RO\r\n+access\r\n"
    );
    // Arity, flags (SORT_RO is readonly, both have movable keys), first/last/step.
    let info = r(&mut raw, &["COMMAND", "INFO", "sort", "sort_ro"]);
    assert!(
        info.contains("$4\r\nsort\r\n:-2\r\n*3\r\n+write\r\n+denyoom\r\n+movablekeys\r\n:1\r\n:1\r\n:1\r\n"),
        "{info}"
    );
    assert!(
        info.contains("$7\r\nsort_ro\r\n:-2\r\n*2\r\n+readonly\r\n+movablekeys\r\n:1\r\n:1\r\n:1\r\n"),
        "{info}"
    );
}

#[test]
fn lookups_count_as_reads() {
    let srv = Server::start();
    let mut c = srv.client();
    q::<i64>(&mut c, &["RPUSH", "l", "3", "1", "2"]);
    q::<()>(&mut c, &["SET", "w_1", "5"]);
    q::<()>(&mut c, &["CONFIG", "RESETSTAT"]);
    q::<Vec<Option<String>>>(&mut c, &["SORT", "l", "BY", "w_*", "GET", "#", "GET", "w_*"]);
    let info: String = q(&mut c, &["INFO", "stats"]);
    // Redis counts the source, three BY lookups and three GET lookups.
    assert!(info.contains("keyspace_hits:3\r\n"), "{info}");
    assert!(info.contains("keyspace_misses:4\r\n"), "{info}");
}

/// A tiny xorshift generator, so failures replay.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }

    fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[self.below(v.len() as u64) as usize]
    }
}

/// A random element: integers, decimals, odd numbers C parses, words and empty strings.
fn element(rng: &mut Rng) -> String {
    match rng.below(8) {
        0 | 1 => format!("{}", rng.below(200) as i64 - 100),
        2 => format!("{}.{}", rng.below(50), rng.below(100)),
        3 => rng
            .pick(&["inf", "-inf", "0x1f", " 7", "-0", "1e3", "", "3e", "nan"])
            .to_string(),
        _ => {
            let n = 1 + rng.below(4);
            (0..n).map(|_| (b'a' + rng.below(5) as u8) as char).collect()
        }
    }
}

/// Random SORT lines against lists, sets and sorted sets, here and in redis-server: the raw
/// replies (and stored lists) must be the same bytes. Cases where Redis's order is not defined
/// by SORT itself are left out: a hashtable set or sorted set iterated in its table order, and
/// ALPHA BY ties under LIMIT (Redis's partial quicksort is not stable).
#[test]
fn differential_against_redis() {
    let Some(reference) = Reference::start() else {
        return;
    };
    let srv = Server::start();
    let mut ours = srv.raw();
    let mut theirs = reference.raw();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut both = |args: &[String]| {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        let (x, y) = (ours.cmd(&a), theirs.cmd(&a));
        if args[0] != "HELLO" {
            assert_eq!(String::from_utf8_lossy(&x), String::from_utf8_lossy(&y), "{args:?}");
        }
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    for round in 0..40 {
        both(&s(&["HELLO", if round % 2 == 0 { "2" } else { "3" }]));
        both(&s(&["FLUSHALL"]));
        let n = [0, 1, 5, 20, 150][rng.below(5) as usize];
        // Sources: a list with duplicates, a hashtable set, an intset, a sorted set (compact or
        // not).
        let mut list = s(&["RPUSH", "list"]);
        let mut set = s(&["SADD", "set"]);
        let mut ints = s(&["SADD", "ints"]);
        let mut zset = s(&["ZADD", "zset"]);
        let mut members = Vec::new();
        for i in 0..n {
            let e = element(&mut rng);
            list.push(e.clone());
            set.push(e.clone());
            ints.push(format!("{}", rng.below(1000) as i64 - 500));
            zset.push(format!("{}", rng.below(10)));
            // The `_` keeps members like "1e3" + "400" from overflowing strtod: Redis does not
            // clear errno before parsing, so one ERANGE would fail its next numeric SORTs too.
            zset.push(format!("{e}_{i}"));
            members.push(e.clone());
            members.push(format!("{e}_{i}"));
        }
        for cmd in [list, set, ints, zset] {
            if cmd.len() > 2 {
                both(&cmd);
            }
        }
        // Weights: numeric with ties and a few bad ones (w_), unique (u_), hash fields (h_),
        // wrong types (t_).
        members.extend((0..1000).map(|i| format!("{}", i - 500)));
        members.sort();
        members.dedup();
        for (i, m) in members.iter().enumerate() {
            if rng.below(4) != 0 {
                let w = match rng.below(20) {
                    0 => "bad".to_string(),
                    1 => "".to_string(),
                    _ => format!("{}", rng.below(30) as i64 - 10),
                };
                both(&["SET".to_string(), format!("w_{m}"), w]);
            }
            both(&[
                "SET".to_string(),
                format!("u_{m}"),
                format!("{:05}", (i * 7919) % 100_000),
            ]);
            if rng.below(3) != 0 {
                both(&[
                    "HSET".to_string(),
                    format!("h_{m}"),
                    "f".into(),
                    format!("{}", rng.below(50)),
                ]);
            }
            if rng.below(10) == 0 {
                both(&["RPUSH".to_string(), format!("t_{m}"), "1".into()]);
            }
        }
        for _ in 0..60 {
            let key = rng.pick(&["list", "set", "ints", "zset", "missing"]);
            let ordered_source = key != "set" && key != "zset";
            let alpha = rng.below(2) == 0;
            let limit = rng.below(3) == 0;
            let mut args = vec![rng.pick(&["SORT", "SORT_RO"]).to_string(), key.to_string()];
            let store = args[0] == "SORT" && rng.below(3) == 0;
            let by = match rng.below(6) {
                0 => None,
                1 => Some("nosort"),
                // Ties (and missing weights) in ALPHA BY order by the source's own order: only
                // a list has one Redis and we share, and only without LIMIT.
                _ if alpha && (limit || !ordered_source) => Some("u_*"),
                2 => Some("w_*"),
                3 => Some("h_*->f"),
                4 => Some("u_*"),
                _ => Some("t_*"),
            };
            // A hashtable set that is not sorted replies in its table order.
            if by == Some("nosort") && key == "set" && !store {
                continue;
            }
            if let Some(b) = by {
                args.extend(s(&["BY", b]));
            }
            if alpha {
                args.push("ALPHA".into());
            }
            match rng.below(3) {
                0 => args.push("DESC".into()),
                1 => args.push("ASC".into()),
                _ => {}
            }
            if limit {
                let start = rng.below(n as u64 + 3) as i64 - 1;
                let count = rng.below(n as u64 + 3) as i64 - 1;
                args.extend(["LIMIT".to_string(), start.to_string(), count.to_string()]);
            }
            for _ in 0..rng.below(3) {
                args.extend(s(&["GET", rng.pick(&["#", "w_*", "h_*->f", "h_*->g", "t_*", "const"])]));
            }
            if store {
                args.extend(s(&["STORE", "dst"]));
            }
            both(&args);
            if store {
                both(&s(&["LRANGE", "dst", "0", "-1"]));
                both(&s(&["EXISTS", "dst"]));
            }
        }
        both(&s(&["OBJECT", "ENCODING", "zset"]));
    }
}

/// BY and GET read other keys while the sort runs; the whole command must see one state of
/// them. A writer swaps two weights with MSET while readers sort by them and GET them back: the
/// weights must always come back ascending.
#[test]
fn patterns_read_a_consistent_state() {
    let srv = Server::start_with(&["--threads", "2"]);
    let mut c = srv.client();
    q::<i64>(&mut c, &["RPUSH", "l", "a", "b"]);
    q::<()>(&mut c, &["MSET", "w_a", "1", "w_b", "2"]);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let mut w = srv.client();
        std::thread::spawn(move || {
            let mut flip = false;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (a, b) = if flip { ("1", "2") } else { ("2", "1") };
                q::<()>(&mut w, &["MSET", "w_a", a, "w_b", b]);
                flip = !flip;
            }
        })
    };
    for _ in 0..3000 {
        let got = strs(&mut c, &["SORT", "l", "BY", "w_*", "GET", "w_*"]);
        assert_eq!(got, ["1", "2"]);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().expect("writer");
}
