//! HyperLogLog commands against a live server. HLLs are strings in Redis's exact layout, so the
//! tests compare GET bytes with values produced by redis-server 7.0.15 (fixed vectors below, and
//! a differential run against the reference server when it is installed), and check that every
//! malformed HLL gets Redis's error instead of crashing the server.

mod common;

use common::{Raw, Reference, Server};
use redis::Connection;

fn r(c: &mut Raw, args: &[&[u8]]) -> String {
    String::from_utf8_lossy(&c.cmd(args)).into_owned()
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap_or(0))
        .collect()
}

fn get(con: &mut Connection, key: &str) -> Vec<u8> {
    redis::cmd("GET").arg(key).query(con).unwrap_or_default()
}

fn pfcount(con: &mut Connection, keys: &[&str]) -> i64 {
    redis::cmd("PFCOUNT").arg(keys).query(con).unwrap_or(-1)
}

const NOT_HLL: &str = "-WRONGTYPE Key is not a valid HyperLogLog string value.\r\n";
const INVALID: &str = "-INVALIDOBJ Corrupted HLL object detected\r\n";

/// `PFADD k a b c` then `GET k` on redis 7.0.15: sparse, cache marked stale.
const ABC: &str = "48594c4c01000000000000000000008060f38050b1844bfb80425a";
/// The same after `PFCOUNT k`: cardinality 3 cached.
const ABC_COUNTED: &str = "48594c4c01000000030000000000000060f38050b1844bfb80425a";
/// `PFADD k2 0 1 ... 99`, `PFCOUNT k2` (100), `GET k2`.
const HUNDRED: &str = "48594c4c01000000640000000000000041768c407684409a9040c9804100801c8c40418840e688405f803f8041688040419840708408804120804059842080078040f48042108841368040e2800a8040b08c37883380407680404680408580405f803380404d8840549040da80415b80228040e2804058804094803780248041718040658442119440aa8040799040db8040ac904147881a84414280158440bf8440d28c4115844081940b8c40b380318c28802d803c80404780446e8040928041e6881588408d80410a80404884412484405a8440a580406d84413e84298040da80078c1b80405880068042f4804059801d8840aa8c40ed80404880404a942c80388c308040b28840f28c40b880158418883a8040d994408a80407b8040e8";

#[test]
fn pfadd_and_pfcount_match_redis_bytes() {
    let srv = Server::start();
    let mut con = srv.client();
    let mut c = srv.raw();
    assert_eq!(r(&mut c, &[b"PFADD", b"k", b"a", b"b", b"c"]), ":1\r\n");
    assert_eq!(get(&mut con, "k"), hex(ABC));
    assert_eq!(r(&mut c, &[b"PFADD", b"k", b"a", b"b", b"c"]), ":0\r\n");
    assert_eq!(pfcount(&mut con, &["k"]), 3);
    assert_eq!(get(&mut con, "k"), hex(ABC_COUNTED));
    // A second PFCOUNT answers from the cache.
    assert_eq!(pfcount(&mut con, &["k"]), 3);
    assert_eq!(
        r(&mut c, &[b"PFDEBUG", b"DECODE", b"k"]),
        "$44\r\nZ:8436 v:1,1 Z:4274 v:2,1 Z:3068 v:1,1 Z:603\r\n"
    );
    assert_eq!(r(&mut c, &[b"OBJECT", b"ENCODING", b"k"]), "$3\r\nraw\r\n");

    let hundred: Vec<String> = (0..100).map(|i| i.to_string()).collect();
    let _: i64 = redis::cmd("PFADD")
        .arg("k2")
        .arg(&hundred)
        .query(&mut con)
        .unwrap_or(-1);
    assert_eq!(pfcount(&mut con, &["k2"]), 100);
    assert_eq!(get(&mut con, "k2"), hex(HUNDRED));
}

#[test]
fn hll_made_by_redis_works_here() {
    let srv = Server::start();
    let mut con = srv.client();
    let mut c = srv.raw();
    // Stale cache: PFCOUNT computes it; then the bytes are Redis's counted form.
    let _: () = redis::cmd("SET").arg("k").arg(hex(ABC)).query(&mut con).unwrap_or(());
    assert_eq!(pfcount(&mut con, &["k"]), 3);
    assert_eq!(get(&mut con, "k"), hex(ABC_COUNTED));
    assert_eq!(r(&mut c, &[b"PFADD", b"k", b"a"]), ":0\r\n");
    // DUMP payload of the counted HLL from redis-server.
    let payload = hex("001b48594c4c01000000030000000000000060f38050b1844bfb80425a0a00abfb2b7ea3b0efec");
    assert_eq!(r(&mut c, &[b"RESTORE", b"d", b"0", &payload]), "+OK\r\n");
    assert_eq!(pfcount(&mut con, &["d"]), 3);
    assert_eq!(pfcount(&mut con, &["d", "k", "nokey"]), 3);
}

#[test]
fn empty_hll_and_empty_element() {
    let srv = Server::start();
    let mut con = srv.client();
    let mut c = srv.raw();
    assert_eq!(r(&mut c, &[b"PFADD", b"e"]), ":1\r\n");
    assert_eq!(r(&mut c, &[b"PFADD", b"e"]), ":0\r\n");
    // Stale-cache bit set, then one XZERO run covering all 16384 registers.
    assert_eq!(get(&mut con, "e"), hex("48594c4c0100000000000000000000807fff"));
    assert_eq!(pfcount(&mut con, &["e"]), 0);
    assert_eq!(r(&mut c, &[b"PFADD", b"e", b""]), ":1\r\n");
    assert_eq!(pfcount(&mut con, &["e"]), 1);
    assert_eq!(r(&mut c, &[b"PFCOUNT", b"missing"]), ":0\r\n");
    assert_eq!(r(&mut c, &[b"PFCOUNT", b"missing", b"missing2"]), ":0\r\n");
    assert_eq!(r(&mut c, &[b"EXISTS", b"missing"]), ":0\r\n");
}

#[test]
fn cache_invalidation_bit() {
    let srv = Server::start();
    let mut c = srv.raw();
    r(&mut c, &[b"PFADD", b"hll", b"a", b"b", b"c"]);
    r(&mut c, &[b"PFCOUNT", b"hll"]);
    assert_eq!(r(&mut c, &[b"GETRANGE", b"hll", b"15", b"15"]), "$1\r\n\x00\r\n");
    r(&mut c, &[b"PFADD", b"hll", b"a", b"b", b"c"]);
    assert_eq!(r(&mut c, &[b"GETRANGE", b"hll", b"15", b"15"]), "$1\r\n\x00\r\n");
    r(&mut c, &[b"PFADD", b"hll", b"1", b"2", b"3"]);
    assert_eq!(c.cmd(&[b"GETRANGE", b"hll", b"15", b"15"]), b"$1\r\n\x80\r\n");
}

#[test]
fn sparse_promotes_to_dense() {
    let srv = Server::start();
    let mut con = srv.client();
    let mut c = srv.raw();
    assert_eq!(
        r(&mut c, &[b"CONFIG", b"SET", b"hll-sparse-max-bytes", b"3000"]),
        "+OK\r\n"
    );
    let mut n = 0;
    while n < 20000 {
        let batch: Vec<String> = (n..n + 500).map(|i| format!("el:{i}")).collect();
        let _: i64 = redis::cmd("PFADD").arg("h").arg(&batch).query(&mut con).unwrap_or(-1);
        n += 500;
        let card = pfcount(&mut con, &["h"]);
        assert!((card - n).abs() * 100 < card * 5, "{card} vs {n}");
        let enc = r(&mut c, &[b"PFDEBUG", b"ENCODING", b"h"]);
        if n <= 500 {
            assert_eq!(enc, "+sparse\r\n");
        } else if n > 10000 {
            assert_eq!(enc, "+dense\r\n");
        }
    }
    assert_eq!(get(&mut con, "h").len(), 12304);
    assert_eq!(
        r(&mut c, &[b"PFDEBUG", b"DECODE", b"h"]),
        "-ERR HLL encoding is not sparse\r\n"
    );
    assert_eq!(r(&mut c, &[b"PFDEBUG", b"TODENSE", b"h"]), ":0\r\n");
    // A small limit promotes at once.
    r(&mut c, &[b"CONFIG", b"SET", b"hll-sparse-max-bytes", b"0"]);
    r(&mut c, &[b"PFADD", b"s", b"x"]);
    assert_eq!(r(&mut c, &[b"PFDEBUG", b"ENCODING", b"s"]), "+dense\r\n");
}

#[test]
fn sparse_and_dense_counts_agree() {
    let srv = Server::start();
    let mut con = srv.client();
    let mut c = srv.raw();
    for round in 0..50 {
        r(&mut c, &[b"DEL", b"s", b"d"]);
        r(&mut c, &[b"PFADD", b"d"]);
        assert_eq!(r(&mut c, &[b"PFDEBUG", b"TODENSE", b"d"]), ":1\r\n");
        let els: Vec<String> = (0..round * 7).map(|i| format!("{round}-{i}")).collect();
        if !els.is_empty() {
            let _: i64 = redis::cmd("PFADD").arg("s").arg(&els).query(&mut con).unwrap_or(-1);
            let _: i64 = redis::cmd("PFADD").arg("d").arg(&els).query(&mut con).unwrap_or(-1);
            assert_eq!(r(&mut c, &[b"PFDEBUG", b"ENCODING", b"s"]), "+sparse\r\n");
            assert_eq!(pfcount(&mut con, &["s"]), pfcount(&mut con, &["d"]));
        }
    }
    let regs: Vec<i64> = redis::cmd("PFDEBUG")
        .arg("GETREG")
        .arg("s")
        .query(&mut con)
        .unwrap_or_default();
    assert_eq!(regs.len(), 16384);
    // GETREG converts a sparse HLL.
    assert_eq!(r(&mut c, &[b"PFDEBUG", b"ENCODING", b"s"]), "+dense\r\n");
}

#[test]
fn pfmerge_and_multi_key_count() {
    let srv = Server::start();
    let mut con = srv.client();
    let mut c = srv.raw();
    r(&mut c, &[b"PFADD", b"h1", b"a", b"b", b"c"]);
    r(&mut c, &[b"PFADD", b"h2", b"b", b"c", b"d"]);
    r(&mut c, &[b"PFADD", b"h3", b"c", b"d", b"e"]);
    assert_eq!(pfcount(&mut con, &["h1", "h2", "h3"]), 5);
    assert_eq!(r(&mut c, &[b"PFMERGE", b"h", b"h1", b"h2", b"h3"]), "+OK\r\n");
    assert_eq!(pfcount(&mut con, &["h"]), 5);
    assert_eq!(r(&mut c, &[b"PFDEBUG", b"ENCODING", b"h"]), "+sparse\r\n");
    // Merging into an existing key keeps its own registers; a dense source makes it dense.
    r(&mut c, &[b"PFDEBUG", b"TODENSE", b"h3"]);
    assert_eq!(r(&mut c, &[b"PFMERGE", b"h1", b"h3", b"nokey"]), "+OK\r\n");
    assert_eq!(pfcount(&mut con, &["h1"]), 5);
    assert_eq!(r(&mut c, &[b"PFDEBUG", b"ENCODING", b"h1"]), "+dense\r\n");
    // PFMERGE with only the destination creates an empty HLL.
    assert_eq!(r(&mut c, &[b"PFMERGE", b"fresh"]), "+OK\r\n");
    assert_eq!(pfcount(&mut con, &["fresh"]), 0);
}

#[test]
fn type_errors() {
    let srv = Server::start();
    let mut c = srv.raw();
    r(&mut c, &[b"SET", b"str", b"bar"]);
    r(&mut c, &[b"SET", b"int", b"12345"]);
    r(&mut c, &[b"PFADD", b"h", b"a"]);
    for key in [&b"str"[..], b"int"] {
        assert_eq!(r(&mut c, &[b"PFADD", key, b"1"]), NOT_HLL);
        assert_eq!(r(&mut c, &[b"PFCOUNT", key]), NOT_HLL);
        assert_eq!(r(&mut c, &[b"PFCOUNT", b"h", key]), NOT_HLL);
        assert_eq!(r(&mut c, &[b"PFMERGE", b"h", key]), NOT_HLL);
        assert_eq!(r(&mut c, &[b"PFMERGE", key, b"h"]), NOT_HLL);
        assert_eq!(r(&mut c, &[b"PFDEBUG", b"ENCODING", key]), NOT_HLL);
    }
    // The failed PFMERGE left the destination untouched.
    assert_eq!(r(&mut c, &[b"GET", b"str"]), "$3\r\nbar\r\n");
    if r(&mut c, &[b"RPUSH", b"list", b"x"]).starts_with(':') {
        let wt = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
        assert_eq!(r(&mut c, &[b"PFADD", b"list", b"1"]), wt);
        assert_eq!(r(&mut c, &[b"PFCOUNT", b"list"]), wt);
    }
}

#[test]
fn corrupted_hlls_are_detected() {
    let srv = Server::start();
    let mut c = srv.raw();
    // Bytes after the last opcode: the runs no longer add up to 16384.
    r(&mut c, &[b"PFADD", b"t", b"a", b"b", b"c"]);
    r(&mut c, &[b"APPEND", b"t", b"hello"]);
    assert_eq!(r(&mut c, &[b"PFCOUNT", b"t"]), INVALID);
    assert_eq!(r(&mut c, &[b"PFCOUNT", b"t", b"nokey"]), INVALID);
    assert_eq!(r(&mut c, &[b"PFMERGE", b"x", b"t"]), INVALID);
    assert_eq!(r(&mut c, &[b"PFDEBUG", b"GETREG", b"t"]), INVALID);
    assert_eq!(r(&mut c, &[b"PFDEBUG", b"TODENSE", b"t"]), INVALID);
    // Broken magic, unknown encoding, dense with the wrong length.
    for (pos, patch) in [(&b"0"[..], &b"0123"[..]), (b"4", b"x"), (b"4", b"\x00")] {
        r(&mut c, &[b"DEL", b"m"]);
        r(&mut c, &[b"PFADD", b"m", b"a", b"b", b"c"]);
        r(&mut c, &[b"SETRANGE", b"m", pos, patch]);
        assert_eq!(r(&mut c, &[b"PFCOUNT", b"m"]), NOT_HLL);
    }
    // Too short to hold a header.
    r(&mut c, &[b"SET", b"short", b"HYLL"]);
    assert_eq!(r(&mut c, &[b"PFADD", b"short", b"a"]), NOT_HLL);
    // A truncated sparse HLL: PFADD reaching the missing registers reports corruption.
    r(&mut c, &[b"SET", b"cut", &hex("48594c4c0100000000000000000000805fff")]);
    assert_eq!(r(&mut c, &[b"PFCOUNT", b"cut"]), INVALID);
    let mut rejected = false;
    for i in 0..50 {
        rejected |= r(&mut c, &[b"PFADD", b"cut", i.to_string().as_bytes()]) == INVALID;
    }
    assert!(rejected);
}

#[test]
fn random_corruption_never_crashes() {
    let srv = Server::start();
    let mut c = srv.raw();
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut rand = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..300 {
        r(&mut c, &[b"DEL", b"f"]);
        let n = rand() % 3000;
        let els: Vec<Vec<u8>> = (0..n).map(|i| format!("{round}:{i}").into_bytes()).collect();
        let mut cmd: Vec<&[u8]> = vec![b"PFADD", b"f"];
        cmd.extend(els.iter().map(|e| e.as_slice()));
        r(&mut c, &cmd);
        let len: usize = r(&mut c, &[b"STRLEN", b"f"])
            .trim_start_matches(':')
            .trim()
            .parse()
            .unwrap_or(1);
        for _ in 0..1 + rand() % 5 {
            let pos = (rand() as usize % len.max(1)).to_string();
            let byte = [rand() as u8];
            r(&mut c, &[b"SETRANGE", b"f", pos.as_bytes(), &byte]);
        }
        let reply = r(&mut c, &[b"PFCOUNT", b"f"]);
        assert!(
            reply.starts_with(':') || reply == INVALID || reply == NOT_HLL,
            "{reply}"
        );
        r(&mut c, &[b"PFADD", b"f", b"more", b"elements", b"here"]);
        r(&mut c, &[b"PFCOUNT", b"f", b"nokey"]);
        r(&mut c, &[b"PFMERGE", b"g", b"f"]);
    }
    assert_eq!(r(&mut c, &[b"PING"]), "+PONG\r\n");
}

#[test]
fn pfdebug_errors_and_selftest() {
    let srv = Server::start();
    let mut c = srv.raw();
    assert_eq!(
        r(&mut c, &[b"PFDEBUG", b"GETREG", b"nokey"]),
        "-ERR The specified key does not exist\r\n"
    );
    // The key is looked up before the subcommand is.
    assert_eq!(
        r(&mut c, &[b"PFDEBUG", b"nosuch", b"nokey"]),
        "-ERR The specified key does not exist\r\n"
    );
    r(&mut c, &[b"PFADD", b"h", b"a"]);
    assert_eq!(
        r(&mut c, &[b"PFDEBUG", b"nosuch", b"h"]),
        "-ERR Unknown PFDEBUG subcommand 'nosuch'\r\n"
    );
    assert_eq!(
        r(&mut c, &[b"PFDEBUG", b"GETREG"]),
        "-ERR wrong number of arguments for 'pfdebug' command\r\n"
    );
    assert_eq!(
        r(&mut c, &[b"PFSELFTEST", b"x"]),
        "-ERR wrong number of arguments for 'pfselftest' command\r\n"
    );
    assert_eq!(
        r(&mut c, &[b"PFADD"]),
        "-ERR wrong number of arguments for 'pfadd' command\r\n"
    );
    assert_eq!(r(&mut c, &[b"PFSELFTEST"]), "+OK\r\n");
}

/// PFADD the same elements here and in redis-server: every GET, PFCOUNT and PFDEBUG reply must
/// be identical, through sparse edits, promotion, merges and the cache.
#[test]
fn differential_against_redis() {
    let Some(reference) = Reference::start() else {
        return;
    };
    let srv = Server::start();
    let mut ours = srv.raw();
    let mut theirs = reference.raw();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut rand = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut both = |args: &[&[u8]]| {
        let (a, b) = (ours.cmd(args), theirs.cmd(args));
        assert_eq!(
            String::from_utf8_lossy(&a),
            String::from_utf8_lossy(&b),
            "{:?}",
            args.iter().map(|a| String::from_utf8_lossy(a)).collect::<Vec<_>>()
        );
    };
    for limit in [&b"3000"[..], b"300"] {
        both(&[b"CONFIG", b"SET", b"hll-sparse-max-bytes", limit]);
        for k in 0..12 {
            let key = format!("h{k}").into_bytes();
            let n = [0u64, 1, 5, 40, 300, 2500][k % 6];
            let els: Vec<Vec<u8>> = (0..n).map(|_| rand().to_string().into_bytes()).collect();
            for chunk in els.chunks(50) {
                let mut cmd: Vec<&[u8]> = vec![b"PFADD", &key];
                cmd.extend(chunk.iter().map(|e| e.as_slice()));
                both(&cmd);
                both(&[b"GET", &key]);
            }
            both(&[b"PFCOUNT", &key]);
            both(&[b"GET", &key]);
            both(&[b"PFDEBUG", b"ENCODING", &key]);
            both(&[b"PFDEBUG", b"DECODE", &key]);
        }
        both(&[b"PFCOUNT", b"h1", b"h3", b"h5", b"h7"]);
        both(&[b"PFMERGE", b"m", b"h2", b"h4"]);
        both(&[b"GET", b"m"]);
        both(&[b"PFMERGE", b"h3", b"h5"]);
        both(&[b"GET", b"h3"]);
        both(&[b"PFDEBUG", b"GETREG", b"h4"]);
        both(&[b"FLUSHALL"]);
    }
}
