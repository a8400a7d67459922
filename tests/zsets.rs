//! Sorted set commands against a live server: every command, option, encoding change and error
//! path. Replies are rendered compactly (see [`show`]) and compared with what redis-server
//! 7.0.15 answers; error texts are compared word for word.

mod common;

use common::{Raw, Reference, Server};
use ochre::persistence::listpack;

/// Renders one RESP reply compactly: bulk/simple strings as-is, integers as `:n`, nulls as
/// `nil`, errors as `!text`, RESP3 doubles as `,d`, aggregates as `[a b ...]`.
fn render(b: &[u8], pos: &mut usize) -> String {
    let end = b[*pos..]
        .windows(2)
        .position(|w| w == b"\r\n")
        .map(|p| *pos + p)
        .unwrap_or(b.len());
    let line = String::from_utf8_lossy(&b[*pos + 1..end]).into_owned();
    let t = b[*pos];
    *pos = end + 2;
    match t {
        b'+' => line,
        b'-' => format!("!{line}"),
        b':' => format!(":{line}"),
        b',' => format!(",{line}"),
        b'_' => "nil".into(),
        b'$' => {
            let n: i64 = line.parse().unwrap_or(-1);
            if n < 0 {
                return "nil".into();
            }
            let s = String::from_utf8_lossy(&b[*pos..*pos + n as usize]).into_owned();
            *pos += n as usize + 2;
            s
        }
        b'*' | b'%' | b'~' => {
            let mut n: i64 = line.parse().unwrap_or(-1);
            if n < 0 {
                return "nil".into();
            }
            if t == b'%' {
                n *= 2;
            }
            let items: Vec<String> = (0..n).map(|_| render(b, pos)).collect();
            format!("[{}]", items.join(" "))
        }
        _ => format!("?{line}"),
    }
}

/// Sends a command and returns its rendered reply.
fn r(c: &mut Raw, args: &[&str]) -> String {
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    let raw = c.cmd(&args);
    let mut pos = 0;
    render(&raw, &mut pos)
}

/// Splits a command line on spaces (arguments here never contain spaces).
fn q(c: &mut Raw, line: &str) -> String {
    let args: Vec<&str> = line.split(' ').collect();
    r(c, &args)
}

const WRONGTYPE: &str = "!WRONGTYPE Operation against a key holding the wrong kind of value";
const SYNTAX: &str = "!ERR syntax error";
const NOT_INT: &str = "!ERR value is not an integer or out of range";
const NOT_FLOAT: &str = "!ERR value is not a valid float";
const RANGE_FLOAT: &str = "!ERR min or max is not a float";
const RANGE_LEX: &str = "!ERR min or max not valid string range item";

#[test]
fn zadd_options_and_errors() {
    let srv = Server::start();
    let mut c = srv.raw();
    assert_eq!(q(&mut c, "ZADD z 1 a 2 b 3 c"), ":3");
    assert_eq!(q(&mut c, "ZADD z 1 a 5 d"), ":1");
    assert_eq!(q(&mut c, "ZADD z CH 10 a 5 d 6 e"), ":2");
    assert_eq!(q(&mut c, "ZADD z NX 100 a 7 f"), ":1");
    assert_eq!(q(&mut c, "ZSCORE z a"), "10");
    assert_eq!(q(&mut c, "ZADD z XX CH 11 a 8 g"), ":1");
    assert_eq!(q(&mut c, "ZSCORE z g"), "nil");
    assert_eq!(q(&mut c, "ZADD z GT CH 5 a 20 b"), ":1");
    assert_eq!(q(&mut c, "ZMSCORE z a b"), "[11 20]");
    assert_eq!(q(&mut c, "ZADD z LT CH 12 a 1 b"), ":1");
    assert_eq!(q(&mut c, "ZMSCORE z a b nosuch"), "[11 1 nil]");
    assert_eq!(q(&mut c, "ZADD z INCR 2.5 a"), "13.5");
    assert_eq!(q(&mut c, "ZADD z NX INCR 1 a"), "nil");
    assert_eq!(q(&mut c, "ZADD z GT INCR -1 a"), "nil");
    assert_eq!(q(&mut c, "ZADD nokey XX 1 a"), ":0");
    assert_eq!(q(&mut c, "EXISTS nokey"), ":0");
    assert_eq!(q(&mut c, "ZADD nokey XX INCR 1 a"), "nil");
    // Errors, in Redis's order of checks.
    assert_eq!(q(&mut c, "ZADD z 1 a 2"), SYNTAX);
    assert_eq!(q(&mut c, "ZADD z NX 1"), SYNTAX);
    assert_eq!(
        q(&mut c, "ZADD z NX XX 1 a"),
        "!ERR XX and NX options at the same time are not compatible"
    );
    assert_eq!(
        q(&mut c, "ZADD z GT LT 1 a"),
        "!ERR GT, LT, and/or NX options at the same time are not compatible"
    );
    assert_eq!(
        q(&mut c, "ZADD z GT NX 1 a"),
        "!ERR GT, LT, and/or NX options at the same time are not compatible"
    );
    assert_eq!(
        q(&mut c, "ZADD z INCR 1 a 2 b"),
        "!ERR INCR option supports a single increment-element pair"
    );
    for bad in ["abc", "nan", "1e400", "", " 1", "1x"] {
        assert_eq!(r(&mut c, &["ZADD", "z", bad, "a"]), NOT_FLOAT, "score {bad:?}");
    }
    assert_eq!(q(&mut c, "ZADD z 1 ok abc bad"), NOT_FLOAT);
    assert_eq!(
        q(&mut c, "ZSCORE z ok"),
        "nil",
        "nothing is added when any score is bad"
    );
    assert_eq!(q(&mut c, "ZADD z +inf a"), ":0");
    assert_eq!(
        q(&mut c, "ZINCRBY z -inf a"),
        "!ERR resulting score is not a number (NaN)"
    );
    assert_eq!(
        q(&mut c, "ZADD z INCR -inf a"),
        "!ERR resulting score is not a number (NaN)"
    );
    assert_eq!(q(&mut c, "ZINCRBY z abc a"), NOT_FLOAT);
    assert_eq!(q(&mut c, "ZINCRBY newz 5 m"), "5");
    assert_eq!(q(&mut c, "ZINCRBY newz -7.5 m"), "-2.5");
    assert_eq!(q(&mut c, "ZADD z 0.1 p"), ":1");
    assert_eq!(q(&mut c, "ZSCORE z p"), "0.10000000000000001");
    assert_eq!(q(&mut c, "SET s x"), "OK");
    assert_eq!(q(&mut c, "ZADD s 1 a"), WRONGTYPE);
    assert_eq!(q(&mut c, "ZINCRBY s 1 a"), WRONGTYPE);
}

#[test]
fn reads_ranks_and_counts() {
    let srv = Server::start();
    let mut c = srv.raw();
    q(&mut c, "ZADD z 1 a 2 b 3 c 4 d");
    assert_eq!(q(&mut c, "ZCARD z"), ":4");
    assert_eq!(q(&mut c, "ZCARD nokey"), ":0");
    assert_eq!(q(&mut c, "ZRANK z c"), ":2");
    assert_eq!(q(&mut c, "ZREVRANK z c"), ":1");
    assert_eq!(q(&mut c, "ZRANK z x"), "nil");
    assert_eq!(q(&mut c, "ZRANK nokey x"), "nil");
    assert_eq!(q(&mut c, "ZCOUNT z 2 3"), ":2");
    assert_eq!(q(&mut c, "ZCOUNT z (2 +inf"), ":2");
    assert_eq!(q(&mut c, "ZCOUNT z -inf (2"), ":1");
    assert_eq!(q(&mut c, "ZCOUNT z 3 2"), ":0");
    assert_eq!(q(&mut c, "ZCOUNT z x 2"), RANGE_FLOAT);
    assert_eq!(q(&mut c, "ZCOUNT nokey x 2"), RANGE_FLOAT);
    assert_eq!(q(&mut c, "ZLEXCOUNT z - +"), ":4");
    assert_eq!(q(&mut c, "ZLEXCOUNT z [b (d"), ":2");
    assert_eq!(q(&mut c, "ZLEXCOUNT z + -"), ":0");
    assert_eq!(q(&mut c, "ZLEXCOUNT z a c"), RANGE_LEX);
    assert_eq!(q(&mut c, "ZMSCORE nokey a b"), "[nil nil]");
    q(&mut c, "SET s x");
    for cmd in [
        "ZCARD s",
        "ZSCORE s a",
        "ZMSCORE s a",
        "ZRANK s a",
        "ZREVRANK s a",
        "ZCOUNT s 0 1",
        "ZLEXCOUNT s - +",
    ] {
        assert_eq!(q(&mut c, cmd), WRONGTYPE, "{cmd}");
    }
}

/// Every range form against both encodings (the big set has the same order as the small one).
#[test]
fn ranges_in_both_encodings() {
    let srv = Server::start();
    let mut c = srv.raw();
    q(&mut c, "ZADD small 1 a 2 b 3 c 4 d 5 e");
    q(&mut c, "ZADD big 1 a 2 b 3 c 4 d 5 e");
    q(&mut c, "CONFIG SET zset-max-listpack-entries 0");
    q(&mut c, "ZADD big2 1 a 2 b 3 c 4 d 5 e");
    q(&mut c, "CONFIG SET zset-max-listpack-entries 128");
    assert_eq!(q(&mut c, "OBJECT ENCODING small"), "listpack");
    assert_eq!(q(&mut c, "OBJECT ENCODING big2"), "skiplist");
    for key in ["small", "big2"] {
        let cases = [
            ("ZRANGE {} 0 -1", "[a b c d e]"),
            ("ZRANGE {} 1 2 WITHSCORES", "[b 2 c 3]"),
            ("ZRANGE {} -2 100", "[d e]"),
            ("ZRANGE {} 3 1", "[]"),
            ("ZRANGE {} 0 1 REV", "[e d]"),
            ("ZREVRANGE {} 0 1 WITHSCORES", "[e 5 d 4]"),
            ("ZRANGE {} 2 4 BYSCORE", "[b c d]"),
            ("ZRANGE {} (2 4 BYSCORE LIMIT 1 5", "[d]"),
            ("ZRANGE {} 4 2 BYSCORE REV", "[d c b]"),
            ("ZRANGEBYSCORE {} -inf +inf LIMIT 1 2", "[b c]"),
            ("ZRANGEBYSCORE {} -inf +inf LIMIT -1 2", "[]"),
            ("ZRANGEBYSCORE {} -inf +inf LIMIT 3 -1", "[d e]"),
            ("ZREVRANGEBYSCORE {} +inf -inf LIMIT 1 2 WITHSCORES", "[d 4 c 3]"),
            ("ZREVRANGEBYSCORE {} (5 (1", "[d c b]"),
            ("ZRANGEBYLEX {} [b (d", "[b c]"),
            ("ZRANGEBYLEX {} - + LIMIT 4 10", "[e]"),
            ("ZREVRANGEBYLEX {} + (c", "[e d]"),
            ("ZRANGE {} [e - BYLEX REV LIMIT 0 2", "[e d]"),
        ];
        for (cmd, want) in cases {
            let cmd = cmd.replace("{}", key);
            assert_eq!(q(&mut c, &cmd), want, "{cmd}");
        }
    }
    assert_eq!(q(&mut c, "ZRANGE nokey 0 -1"), "[]");
    assert_eq!(
        q(&mut c, "ZRANGE small 0 1 LIMIT 0 1"),
        "!ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
    );
    assert_eq!(
        q(&mut c, "ZRANGE small - + BYLEX WITHSCORES"),
        "!ERR syntax error, WITHSCORES not supported in combination with BYLEX"
    );
    assert_eq!(q(&mut c, "ZRANGE small 0 1 FOO"), SYNTAX);
    assert_eq!(q(&mut c, "ZRANGE small a 1"), NOT_INT);
    assert_eq!(q(&mut c, "ZRANGE small a 1 BYSCORE"), RANGE_FLOAT);
    assert_eq!(q(&mut c, "ZRANGE small a 1 BYLEX"), RANGE_LEX);
    assert_eq!(q(&mut c, "ZRANGEBYSCORE small 0 1 LIMIT x 1"), NOT_INT);
    assert_eq!(q(&mut c, "ZREVRANGE small 0 1 BYSCORE"), SYNTAX);
    // RESP3: scores are doubles, WITHSCORES pairs are nested.
    q(&mut c, "HELLO 3");
    assert_eq!(q(&mut c, "ZRANGE small 0 1 WITHSCORES"), "[[a ,1] [b ,2]]");
    assert_eq!(q(&mut c, "ZSCORE small a"), ",1");
    q(&mut c, "HELLO 2");
    q(&mut c, "SET s x");
    assert_eq!(q(&mut c, "ZRANGE s 0 1"), WRONGTYPE);
}

#[test]
fn encoding_conversions() {
    let srv = Server::start();
    let mut c = srv.raw();
    let long = "x".repeat(65);
    assert_eq!(r(&mut c, &["ZADD", "z", "1", &long]), ":1");
    assert_eq!(q(&mut c, "OBJECT ENCODING z"), "skiplist");
    q(&mut c, "ZADD y 1 a");
    assert_eq!(q(&mut c, "OBJECT ENCODING y"), "listpack");
    r(&mut c, &["ZADD", "y", "2", &long]);
    assert_eq!(q(&mut c, "OBJECT ENCODING y"), "skiplist");
    assert_eq!(q(&mut c, "ZRANGE y 0 0"), "[a]");
    q(&mut c, "CONFIG SET zset-max-listpack-entries 4");
    q(&mut c, "ZADD w 1 a 2 b 3 c 4 d");
    assert_eq!(q(&mut c, "OBJECT ENCODING w"), "listpack");
    q(&mut c, "ZADD w 5 e");
    assert_eq!(q(&mut c, "OBJECT ENCODING w"), "skiplist");
    // Removing never converts back, but results built whole start compact when they fit.
    q(&mut c, "ZREM w e");
    assert_eq!(q(&mut c, "OBJECT ENCODING w"), "skiplist");
    assert_eq!(q(&mut c, "ZRANGESTORE d w 0 -1"), ":4");
    assert_eq!(q(&mut c, "OBJECT ENCODING d"), "listpack");
    assert_eq!(q(&mut c, "ZUNIONSTORE u 1 w"), ":4");
    assert_eq!(q(&mut c, "OBJECT ENCODING u"), "listpack");
    q(&mut c, "ZADD w 5 e");
    assert_eq!(q(&mut c, "ZRANGESTORE d w 0 -1"), ":5");
    assert_eq!(q(&mut c, "OBJECT ENCODING d"), "skiplist");
    assert_eq!(q(&mut c, "ZUNIONSTORE u 1 y"), ":2");
    assert_eq!(
        q(&mut c, "OBJECT ENCODING u"),
        "skiplist",
        "a long member keeps the large form"
    );
    // A big set keeps its order through many inserts and removals.
    q(&mut c, "CONFIG SET zset-max-listpack-entries 128");
    for i in 0..1000 {
        r(
            &mut c,
            &["ZADD", "many", &((i * 7919) % 1000).to_string(), &format!("m{i}")],
        );
    }
    assert_eq!(q(&mut c, "ZCARD many"), ":1000");
    assert_eq!(q(&mut c, "OBJECT ENCODING many"), "skiplist");
    let want = format!("[{} {} {}]", rank_member(500), rank_member(501), rank_member(502));
    assert_eq!(q(&mut c, "ZRANGEBYSCORE many 500 502"), want);
    assert_eq!(q(&mut c, "ZREMRANGEBYSCORE many 0 499"), ":500");
    assert_eq!(q(&mut c, "ZCOUNT many -inf +inf"), ":500");
    assert_eq!(
        q(&mut c, "ZRANGE many 0 0 WITHSCORES"),
        format!("[{} 500]", rank_member(500))
    );
}

/// The member whose score is `s` in the `many` set (i * 7919 mod 1000 = s).
fn rank_member(s: usize) -> String {
    let i = (0..1000).find(|i| (i * 7919) % 1000 == s).unwrap_or(0);
    format!("m{i}")
}

#[test]
fn removals() {
    let srv = Server::start();
    let mut c = srv.raw();
    q(&mut c, "ZADD z 1 a 2 b 3 c 4 d 5 e 6 f");
    assert_eq!(q(&mut c, "ZREM z a x b"), ":2");
    assert_eq!(q(&mut c, "ZREM nokey a"), ":0");
    assert_eq!(q(&mut c, "ZREMRANGEBYRANK z 0 0"), ":1");
    assert_eq!(q(&mut c, "ZREMRANGEBYRANK z 5 10"), ":0");
    assert_eq!(q(&mut c, "ZREMRANGEBYSCORE z (4 5"), ":1");
    assert_eq!(q(&mut c, "ZREMRANGEBYLEX z [d [d"), ":1");
    assert_eq!(q(&mut c, "ZRANGE z 0 -1"), "[f]");
    assert_eq!(q(&mut c, "ZREMRANGEBYRANK z 0 -1"), ":1");
    assert_eq!(q(&mut c, "EXISTS z"), ":0");
    assert_eq!(q(&mut c, "ZREMRANGEBYRANK z a 1"), NOT_INT);
    assert_eq!(q(&mut c, "ZREMRANGEBYSCORE z a 1"), RANGE_FLOAT);
    assert_eq!(q(&mut c, "ZREMRANGEBYLEX z a 1"), RANGE_LEX);
    q(&mut c, "ZADD z 1 a");
    assert_eq!(q(&mut c, "ZREM z a"), ":1");
    assert_eq!(q(&mut c, "EXISTS z"), ":0");
    q(&mut c, "SET s x");
    for cmd in [
        "ZREM s a",
        "ZREMRANGEBYRANK s 0 1",
        "ZREMRANGEBYSCORE s 0 1",
        "ZREMRANGEBYLEX s - +",
    ] {
        assert_eq!(q(&mut c, cmd), WRONGTYPE, "{cmd}");
    }
}

#[test]
fn pops() {
    let srv = Server::start();
    let mut c = srv.raw();
    q(&mut c, "ZADD z 1 a 2 b 3 c 4 d");
    assert_eq!(q(&mut c, "ZPOPMIN z"), "[a 1]");
    assert_eq!(q(&mut c, "ZPOPMAX z 2"), "[d 4 c 3]");
    assert_eq!(q(&mut c, "ZPOPMIN z 0"), "[]");
    assert_eq!(q(&mut c, "ZPOPMIN z 10"), "[b 2]");
    assert_eq!(q(&mut c, "EXISTS z"), ":0");
    assert_eq!(q(&mut c, "ZPOPMIN z"), "[]");
    assert_eq!(
        q(&mut c, "ZPOPMIN z -1"),
        "!ERR value is out of range, must be positive"
    );
    assert_eq!(q(&mut c, "ZPOPMIN z x"), "!ERR value is out of range, must be positive");
    assert_eq!(q(&mut c, "ZPOPMIN z 1 2"), SYNTAX);
    q(&mut c, "ZADD z2 1 a 2 b 3 c");
    assert_eq!(q(&mut c, "ZMPOP 2 z z2 MIN"), "[z2 [[a 1]]]");
    assert_eq!(q(&mut c, "ZMPOP 2 z z2 MAX COUNT 5"), "[z2 [[c 3] [b 2]]]");
    assert_eq!(q(&mut c, "ZMPOP 1 z MIN"), "nil");
    assert_eq!(q(&mut c, "ZMPOP 0 z MIN"), "!ERR numkeys should be greater than 0");
    assert_eq!(q(&mut c, "ZMPOP a z MIN"), "!ERR numkeys should be greater than 0");
    assert_eq!(q(&mut c, "ZMPOP 1 z FOO"), SYNTAX);
    assert_eq!(q(&mut c, "ZMPOP 2 z z2"), SYNTAX);
    assert_eq!(
        q(&mut c, "ZMPOP 1 z MIN COUNT 0"),
        "!ERR count should be greater than 0"
    );
    assert_eq!(q(&mut c, "ZMPOP 1 z MIN COUNT 1 COUNT 1"), SYNTAX);
    q(&mut c, "SET s x");
    assert_eq!(q(&mut c, "ZPOPMIN s"), WRONGTYPE);
    assert_eq!(q(&mut c, "ZPOPMIN s 0"), WRONGTYPE);
    assert_eq!(q(&mut c, "ZMPOP 2 z s MIN"), WRONGTYPE);
    q(&mut c, "HELLO 3");
    q(&mut c, "ZADD z 1 a 2 b");
    assert_eq!(q(&mut c, "ZPOPMIN z"), "[a ,1]");
    q(&mut c, "ZADD z 1 a");
    assert_eq!(q(&mut c, "ZPOPMIN z 1"), "[[a ,1]]");
}

#[test]
fn set_operations() {
    let srv = Server::start();
    let mut c = srv.raw();
    q(&mut c, "ZADD a{t} 1 x 2 y 3 z");
    q(&mut c, "ZADD b{t} 10 y 20 z 30 w");
    assert_eq!(q(&mut c, "ZUNION 2 a{t} b{t} WITHSCORES"), "[x 1 y 12 z 23 w 30]");
    assert_eq!(
        q(&mut c, "ZUNION 2 a{t} b{t} WEIGHTS 2 1 AGGREGATE MAX WITHSCORES"),
        "[x 2 y 10 z 20 w 30]"
    );
    assert_eq!(q(&mut c, "ZINTER 2 a{t} b{t} AGGREGATE MIN WITHSCORES"), "[y 2 z 3]");
    assert_eq!(q(&mut c, "ZDIFF 2 a{t} b{t} WITHSCORES"), "[x 1]");
    assert_eq!(q(&mut c, "ZINTERCARD 2 a{t} b{t}"), ":2");
    assert_eq!(q(&mut c, "ZINTERCARD 2 a{t} b{t} LIMIT 1"), ":1");
    assert_eq!(q(&mut c, "ZUNIONSTORE d{t} 2 a{t} b{t}"), ":4");
    assert_eq!(q(&mut c, "ZRANGE d{t} 0 -1 WITHSCORES"), "[x 1 y 12 z 23 w 30]");
    assert_eq!(q(&mut c, "ZINTERSTORE d{t} 2 a{t} nokey{t}"), ":0");
    assert_eq!(q(&mut c, "EXISTS d{t}"), ":0");
    assert_eq!(q(&mut c, "ZDIFFSTORE d{t} 2 a{t} b{t}"), ":1");
    q(&mut c, "ZADD inf1{t} +inf m");
    q(&mut c, "ZADD inf2{t} -inf m");
    assert_eq!(q(&mut c, "ZUNION 2 inf1{t} inf2{t} WITHSCORES"), "[m 0]");
    // Errors.
    assert_eq!(
        q(&mut c, "ZUNION 0 a{t}"),
        "!ERR at least 1 input key is needed for 'zunion' command"
    );
    assert_eq!(
        q(&mut c, "ZUNIONSTORE d{t} 0 a{t}"),
        "!ERR at least 1 input key is needed for 'zunionstore' command"
    );
    assert_eq!(
        q(&mut c, "ZINTERCARD 0 a{t}"),
        "!ERR at least 1 input key is needed for 'zintercard' command"
    );
    assert_eq!(q(&mut c, "ZUNION x a{t}"), NOT_INT);
    assert_eq!(q(&mut c, "ZUNION 3 a{t}"), SYNTAX);
    assert_eq!(q(&mut c, "ZUNION 1 a{t} WEIGHTS x"), "!ERR weight value is not a float");
    assert_eq!(q(&mut c, "ZUNION 1 a{t} AGGREGATE foo"), SYNTAX);
    assert_eq!(q(&mut c, "ZUNIONSTORE d{t} 1 a{t} WITHSCORES"), SYNTAX);
    assert_eq!(q(&mut c, "ZDIFF 1 a{t} WEIGHTS 1"), SYNTAX);
    assert_eq!(q(&mut c, "ZINTERCARD 1 a{t} LIMIT -1"), "!ERR LIMIT can't be negative");
    assert_eq!(q(&mut c, "ZINTERCARD 1 a{t} WITHSCORES"), SYNTAX);
    q(&mut c, "SET s{t} x");
    assert_eq!(q(&mut c, "ZUNION 2 a{t} s{t}"), WRONGTYPE);
    assert_eq!(q(&mut c, "ZINTERSTORE d{t} 2 a{t} s{t}"), WRONGTYPE);
    assert_eq!(
        q(&mut c, "ZUNIONSTORE s{t} 1 a{t}"),
        ":3",
        "the destination is overwritten"
    );
    assert_eq!(q(&mut c, "TYPE s{t}"), "zset");
}

#[test]
fn randmember_and_scan() {
    let srv = Server::start();
    let mut c = srv.raw();
    q(&mut c, "ZADD z 1 a 2 b 3 c");
    let one = q(&mut c, "ZRANDMEMBER z");
    assert!(["a", "b", "c"].contains(&one.as_str()), "{one}");
    assert_eq!(q(&mut c, "ZRANDMEMBER nokey"), "nil");
    assert_eq!(q(&mut c, "ZRANDMEMBER nokey 3"), "[]");
    assert_eq!(q(&mut c, "ZRANDMEMBER z 0"), "[]");
    assert_eq!(q(&mut c, "ZRANDMEMBER z 10 WITHSCORES"), "[a 1 b 2 c 3]");
    let two = q(&mut c, "ZRANDMEMBER z 2");
    assert_eq!(two.split(' ').count(), 2);
    let many = q(&mut c, "ZRANDMEMBER z -10");
    assert_eq!(many.split(' ').count(), 10);
    assert_eq!(q(&mut c, "ZRANDMEMBER z 1 foo"), SYNTAX);
    assert_eq!(q(&mut c, "ZRANDMEMBER z x"), NOT_INT);
    assert_eq!(
        q(&mut c, "ZRANDMEMBER z -9223372036854775808"),
        "!ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
    );
    assert_eq!(
        q(&mut c, "ZRANDMEMBER z 9223372036854775807 WITHSCORES"),
        "!ERR value is out of range"
    );
    assert_eq!(q(&mut c, "ZSCAN z 0"), "[0 [a 1 b 2 c 3]]");
    assert_eq!(q(&mut c, "ZSCAN z 0 MATCH b*"), "[0 [b 2]]");
    assert_eq!(q(&mut c, "ZSCAN z abc"), "!ERR invalid cursor");
    assert_eq!(q(&mut c, "ZSCAN z 0 COUNT 0"), SYNTAX);
    assert_eq!(q(&mut c, "ZSCAN z 0 TYPE string"), SYNTAX);
    assert_eq!(q(&mut c, "ZSCAN nokey 0 FOO"), "[0 []]");
    // A big set is scanned in steps and every member comes back once.
    for i in 0..500 {
        r(&mut c, &["ZADD", "big", &i.to_string(), &format!("m{i}")]);
    }
    let mut cursor = "0".to_string();
    let mut seen = std::collections::HashSet::new();
    loop {
        let reply = r(&mut c, &["ZSCAN", "big", &cursor, "COUNT", "20"]);
        let inner = reply.trim_start_matches('[').trim_end_matches(']');
        let (next, rest) = inner.split_once(" [").unwrap_or((inner, ""));
        let fields: Vec<&str> = rest.split(' ').filter(|s| !s.is_empty()).collect();
        for pair in fields.chunks(2) {
            seen.insert(pair[0].to_string());
        }
        cursor = next.to_string();
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(seen.len(), 500);
    q(&mut c, "SET s x");
    assert_eq!(q(&mut c, "ZRANDMEMBER s"), WRONGTYPE);
    assert_eq!(q(&mut c, "ZSCAN s 0"), WRONGTYPE);
}

#[test]
fn persistence_copy_and_digest() {
    let srv = Server::start();
    let mut c = srv.raw();
    q(&mut c, "ZADD small 1 a 2.5 b -inf c");
    for i in 0..300 {
        r(&mut c, &["ZADD", "big", &format!("{}.5", i), &format!("m{i}")]);
    }
    let d1 = q(&mut c, "DEBUG DIGEST-VALUE small big");
    assert_eq!(q(&mut c, "DEBUG RELOAD"), "OK");
    assert_eq!(q(&mut c, "DEBUG DIGEST-VALUE small big"), d1);
    assert_eq!(q(&mut c, "ZRANGE small 0 -1 WITHSCORES"), "[c -inf a 1 b 2.5]");
    assert_eq!(q(&mut c, "ZCARD big"), ":300");
    assert_eq!(q(&mut c, "COPY big big2"), ":1");
    assert_eq!(
        q(&mut c, "DEBUG DIGEST-VALUE big2"),
        q(&mut c, "DEBUG DIGEST-VALUE big")
    );
    assert_eq!(q(&mut c, "OBJECT ENCODING big2"), "skiplist");
    let dump = c.cmd(&[b"DUMP", b"big"]);
    assert!(dump.starts_with(b"$"));
}

/// The payload inside a raw `$n\r\n...\r\n` bulk reply.
fn bulk_body(raw: &[u8]) -> Vec<u8> {
    let start = raw.windows(2).position(|w| w == b"\r\n").map_or(0, |p| p + 2);
    raw.get(start..raw.len().saturating_sub(2)).unwrap_or_default().to_vec()
}

/// A DUMP payload: type byte, RDB string holding `blob`, version 10, CRC64.
fn blob_payload(rdb_type: u8, blob: &[u8]) -> Vec<u8> {
    let mut w = ochre::persistence::rdb::Writer::new(false);
    w.byte(rdb_type);
    w.string(blob);
    let mut p = w.buf;
    p.extend_from_slice(&10u16.to_le_bytes());
    let crc = ochre::persistence::rdb::crc64(&p);
    p.extend_from_slice(&crc.to_le_bytes());
    p
}

/// Sets whose DUMP must equal redis-server's byte for byte: integer scores of every listpack
/// integer width, fractions, negatives, ±inf, -0 (stored as the integer 0), integers past 2^53
/// and 2^62 (where `double2ll` stops), integer-looking members, a member long enough for
/// compression, and a set that is a skiplist (type 5).
const DIFF_SETS: &[&str] = &[
    "ZADD a 1 x",
    "ZADD b 1 a 2.5 b -3 c inf d -inf e 0 f 1e300 g 0.1 k -0 l 3.0000000001 m",
    "ZADD c 127 a 128 b 4095 c 4096 d -4096 e -4097 f 32767 g 32768 h 8388607 i 8388608 j",
    "ZADD d 2147483648 a -2147483649 b 9007199254740993 c 4611686018427387904 d 9223372036854775807 e",
    "ZADD e 1 12345 2 -7 3 007 4 3.5 5 -0.0001 6 1.5e-300",
    "ZADD f 5 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx 5 yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy",
    "ZADD g 1 a 1 b 1 c 1 aa 1 ab 0.5 zz",
];

#[test]
fn dump_restore_byte_compatible_with_redis() {
    let Some(reference) = Reference::start() else {
        return;
    };
    let srv = Server::start();
    let mut ours = srv.raw();
    let mut theirs = reference.raw();
    let mut keys: Vec<String> = Vec::new();
    for line in DIFF_SETS {
        assert_eq!(q(&mut ours, line), q(&mut theirs, line), "{line}");
        keys.push(line.split(' ').nth(1).unwrap_or_default().to_string());
    }
    // A large one (skiplist, type 5) for the other direction of the encoding switch.
    for i in 0..200 {
        let args = ["ZADD", "big", &format!("{i}.25"), &format!("m{i}")];
        assert_eq!(r(&mut ours, &args), r(&mut theirs, &args));
    }
    keys.push("big".into());
    for k in &keys {
        let enc = q(&mut theirs, &format!("OBJECT ENCODING {k}"));
        assert_eq!(q(&mut ours, &format!("OBJECT ENCODING {k}")), enc, "{k}");
        let (a, b) = (ours.cmd(&[b"DUMP", k.as_bytes()]), theirs.cmd(&[b"DUMP", k.as_bytes()]));
        if enc == "listpack" {
            assert_eq!(b.iter().position(|&c| c == b'\n').map(|p| b[p + 1]), Some(17));
            assert_eq!(a, b, "DUMP {k}");
        }
        // Each side restores the other's payload into the same set, same encoding.
        let (pa, pb) = (bulk_body(&a), bulk_body(&b));
        let copy = format!("{k}-copy");
        let restore = |c: &mut Raw, p: &[u8]| c.cmd(&[b"RESTORE", copy.as_bytes(), b"0", p]);
        assert_eq!(restore(&mut ours, &pb), b"+OK\r\n", "RESTORE {k} here");
        assert_eq!(restore(&mut theirs, &pa), b"+OK\r\n", "RESTORE {k} there");
        for c in [&mut ours, &mut theirs] {
            assert_eq!(q(c, &format!("OBJECT ENCODING {copy}")), enc);
        }
        let range = format!("ZRANGE {copy} 0 -1 WITHSCORES");
        let want = q(&mut theirs, &format!("ZRANGE {k} 0 -1 WITHSCORES"));
        assert_eq!(q(&mut ours, &range), want, "{k}");
        assert_eq!(q(&mut theirs, &range), want, "{k}");
        // And our DUMP of Redis's bytes gives Redis's bytes back.
        if enc == "listpack" {
            assert_eq!(bulk_body(&ours.cmd(&[b"DUMP", copy.as_bytes()])), pb, "{k}");
        }
    }
    // DEBUG RELOAD keeps every set and its encoding.
    let before: Vec<(String, String)> = keys
        .iter()
        .map(|k| {
            let enc = q(&mut ours, &format!("OBJECT ENCODING {k}"));
            (enc, q(&mut ours, &format!("ZRANGE {k} 0 -1 WITHSCORES")))
        })
        .collect();
    assert_eq!(q(&mut ours, "DEBUG RELOAD"), "OK");
    for (k, (enc, range)) in keys.iter().zip(&before) {
        assert_eq!(&q(&mut ours, &format!("OBJECT ENCODING {k}")), enc, "{k}");
        assert_eq!(&q(&mut ours, &format!("ZRANGE {k} 0 -1 WITHSCORES")), range, "{k}");
    }
}

/// The compact form survives DUMP/RESTORE and DEBUG RELOAD, and a payload's encoding follows
/// the limits in force where it is loaded (as Redis: a listpack above the entry limit becomes a
/// skiplist; a listpack with a member above the value limit stays compact; a skiplist record
/// that fits becomes compact).
#[test]
fn compact_payloads_and_load_limits() {
    let srv = Server::start();
    let mut c = srv.raw();
    q(&mut c, "ZADD z 1 a 2.5 b -inf c");
    let dump = bulk_body(&c.cmd(&[b"DUMP", b"z"]));
    assert_eq!(dump.first(), Some(&17));
    assert_eq!(c.cmd(&[b"RESTORE", b"z2", b"0", &dump]), b"+OK\r\n");
    assert_eq!(q(&mut c, "OBJECT ENCODING z2"), "listpack");
    assert_eq!(q(&mut c, "ZRANGE z2 0 -1 WITHSCORES"), "[c -inf a 1 b 2.5]");
    assert_eq!(q(&mut c, "DEBUG RELOAD"), "OK");
    assert_eq!(q(&mut c, "OBJECT ENCODING z"), "listpack");
    assert_eq!(q(&mut c, "ZRANGE z 0 -1 WITHSCORES"), "[c -inf a 1 b 2.5]");

    q(&mut c, "CONFIG SET zset-max-listpack-entries 2");
    assert_eq!(c.cmd(&[b"RESTORE", b"z3", b"0", &dump]), b"+OK\r\n");
    assert_eq!(q(&mut c, "OBJECT ENCODING z3"), "skiplist");
    assert_eq!(q(&mut c, "ZRANGE z3 0 -1 WITHSCORES"), "[c -inf a 1 b 2.5]");
    q(&mut c, "CONFIG SET zset-max-listpack-entries 128");

    q(&mut c, "CONFIG SET zset-max-listpack-value 1");
    q(&mut c, "ZADD long 1 abcdef");
    assert_eq!(q(&mut c, "OBJECT ENCODING long"), "skiplist");
    assert_eq!(c.cmd(&[b"RESTORE", b"z4", b"0", &dump]), b"+OK\r\n");
    assert_eq!(q(&mut c, "OBJECT ENCODING z4"), "listpack");
    let lp = listpack::encode([&b"abcdef"[..], b"1"]);
    let p = blob_payload(17, &lp);
    assert_eq!(c.cmd(&[b"RESTORE", b"z5", b"0", &p]), b"+OK\r\n");
    assert_eq!(q(&mut c, "OBJECT ENCODING z5"), "listpack");
    q(&mut c, "CONFIG SET zset-max-listpack-value 64");
    let skip = bulk_body(&c.cmd(&[b"DUMP", b"long"]));
    assert_eq!(skip.first(), Some(&5));
    assert_eq!(c.cmd(&[b"RESTORE", b"z6", b"0", &skip]), b"+OK\r\n");
    assert_eq!(q(&mut c, "OBJECT ENCODING z6"), "listpack");
    assert_eq!(q(&mut c, "ZRANGE z6 0 -1 WITHSCORES"), "[abcdef 1]");
}

/// Type 12 (a pre-7.0 ziplist): the bytes of Redis's own `tests/assets/zset-ziplist.rdb`
/// (`one` 1, `two` 2) load as a listpack, or a skiplist above the entry limit.
#[test]
fn ziplist_payloads_load() {
    let srv = Server::start();
    let mut c = srv.raw();
    let zl: &[u8] = b"\x19\x00\x00\x00\x16\x00\x00\x00\x04\x00\x00\x03one\x05\xf2\x02\x03two\x05\xf3\xff";
    let p = blob_payload(12, zl);
    assert_eq!(c.cmd(&[b"RESTORE", b"z", b"0", &p]), b"+OK\r\n");
    assert_eq!(q(&mut c, "OBJECT ENCODING z"), "listpack");
    assert_eq!(q(&mut c, "ZRANGE z 0 -1 WITHSCORES"), "[one 1 two 2]");
    q(&mut c, "CONFIG SET zset-max-listpack-entries 1");
    assert_eq!(c.cmd(&[b"RESTORE", b"y", b"0", &p]), b"+OK\r\n");
    assert_eq!(q(&mut c, "OBJECT ENCODING y"), "skiplist");
    assert_eq!(q(&mut c, "ZRANGE y 0 -1 WITHSCORES"), "[one 1 two 2]");
    // A broken ziplist (count says 5) is refused.
    let mut bad = zl.to_vec();
    bad[8] = 5;
    let p = blob_payload(12, &bad);
    assert_eq!(c.cmd(&[b"RESTORE", b"x", b"0", &p]), b"-ERR Bad data format\r\n");
    assert_eq!(q(&mut c, "EXISTS x"), ":0");
}

/// Every way a compact zset payload can be wrong is refused, never loaded half-way.
#[test]
fn corrupt_compact_payloads_are_refused() {
    let srv = Server::start();
    let mut c = srv.raw();
    let bad = b"-ERR Bad data format\r\n";
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("odd count", listpack::encode([&b"a"[..], b"1", b"b"])),
        ("duplicate member", listpack::encode([&b"a"[..], b"1", b"a", b"2"])),
        ("integer duplicate", listpack::encode([&b"7"[..], b"1", b"7", b"2"])),
        ("nan score", listpack::encode([&b"a"[..], b"nan"])),
        ("text score", listpack::encode([&b"a"[..], b"abc"])),
        ("score with space", listpack::encode([&b"a"[..], b" 1"])),
        ("empty", listpack::encode(std::iter::empty::<&[u8]>())),
        ("truncated", {
            let mut lp = listpack::encode([&b"a"[..], b"1"]);
            lp.truncate(lp.len() - 1);
            lp
        }),
    ];
    for (what, lp) in cases {
        let p = blob_payload(17, &lp);
        assert_eq!(c.cmd(&[b"RESTORE", b"k", b"0", &p]), bad, "{what}");
        assert_eq!(q(&mut c, "EXISTS k"), ":0", "{what}");
    }
    // A listpack out of order is still a set: it is put in order.
    let lp = listpack::encode([&b"b"[..], b"2", b"a", b"1.5"]);
    assert_eq!(c.cmd(&[b"RESTORE", b"k", b"0", &blob_payload(17, &lp)]), b"+OK\r\n");
    assert_eq!(q(&mut c, "ZRANGE k 0 -1 WITHSCORES"), "[a 1.5 b 2]");
}

#[test]
fn blocking_pops_metadata_matches_redis() {
    let srv = Server::start();
    let mut c = srv.raw();
    // Key positions: BZMPOP counts only its keys, never the timeout, numkeys or options.
    assert_eq!(q(&mut c, "COMMAND GETKEYS BZPOPMIN a b 0"), "[a b]");
    assert_eq!(q(&mut c, "COMMAND GETKEYS BZMPOP 0 2 a b MIN COUNT 2"), "[a b]");
    let Some(reference) = Reference::start() else {
        return;
    };
    let mut rc = reference.raw();
    for line in [
        "COMMAND INFO bzpopmin bzpopmax bzmpop",
        "COMMAND GETKEYS BZPOPMAX x y z 1",
        "COMMAND GETKEYS BZMPOP 1 1 k MAX",
        "COMMAND DOCS bzmpop",
    ] {
        assert_eq!(q(&mut c, line), q(&mut rc, line), "{line}");
    }
}
