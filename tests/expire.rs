//! Expiry against a real server: EXPIRE PEXPIRE EXPIREAT PEXPIREAT (NX XX GT LT, overflow
//! checks), TTL PTTL EXPIRETIME PEXPIRETIME PERSIST, lazy and active expiry.

mod common;

use common::{Raw, Server};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn cmd(r: &mut Raw, args: &[&str]) -> String {
    let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
    String::from_utf8_lossy(&r.cmd(&a)).to_string()
}

fn check(r: &mut Raw, args: &[&str], want: &str) {
    assert_eq!(cmd(r, args), want, "reply to {args:?}");
}

fn int(r: &mut Raw, args: &[&str]) -> i64 {
    let s = cmd(r, args);
    s.trim_start_matches(':').trim_end().parse().unwrap_or(i64::MIN)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[test]
fn expire_family_sets_ttls() {
    let srv = Server::start();
    let mut r = srv.raw();
    check(&mut r, &["SET", "x", "v"], "+OK\r\n");
    check(&mut r, &["EXPIRE", "x", "100"], ":1\r\n");
    assert!((99..=100).contains(&int(&mut r, &["TTL", "x"])));
    check(&mut r, &["PEXPIRE", "x", "50000"], ":1\r\n");
    let pttl = int(&mut r, &["PTTL", "x"]);
    assert!((49_000..=50_000).contains(&pttl), "{pttl}");
    let at = now_ms() / 1000 + 200;
    check(&mut r, &["EXPIREAT", "x", &at.to_string()], ":1\r\n");
    assert_eq!(int(&mut r, &["EXPIRETIME", "x"]), at);
    assert_eq!(int(&mut r, &["PEXPIRETIME", "x"]), at * 1000);
    let pat = now_ms() + 300_123;
    check(&mut r, &["PEXPIREAT", "x", &pat.to_string()], ":1\r\n");
    assert_eq!(int(&mut r, &["PEXPIRETIME", "x"]), pat);
    assert_eq!(int(&mut r, &["EXPIRETIME", "x"]), (pat + 500) / 1000);
    // Missing keys.
    for c in ["EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT"] {
        check(&mut r, &[c, "nokey", "100"], ":0\r\n");
    }
    for c in ["TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"] {
        check(&mut r, &[c, "nokey"], ":-2\r\n");
    }
    check(&mut r, &["SET", "plain", "v"], "+OK\r\n");
    for c in ["TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"] {
        check(&mut r, &[c, "plain"], ":-1\r\n");
    }
}

#[test]
fn time_in_the_past_deletes() {
    let srv = Server::start();
    let mut r = srv.raw();
    for (c, t) in [
        ("EXPIRE", "-1"),
        ("PEXPIRE", "0"),
        ("EXPIREAT", "100"),
        ("PEXPIREAT", "-5"),
    ] {
        check(&mut r, &["SET", "k", "v"], "+OK\r\n");
        check(&mut r, &[c, "k", t], ":1\r\n");
        check(&mut r, &["EXISTS", "k"], ":0\r\n");
    }
    check(&mut r, &["DBSIZE"], ":0\r\n");
}

#[test]
fn persist() {
    let srv = Server::start();
    let mut r = srv.raw();
    check(&mut r, &["PERSIST", "nokey"], ":0\r\n");
    check(&mut r, &["SET", "k", "v"], "+OK\r\n");
    check(&mut r, &["PERSIST", "k"], ":0\r\n");
    check(&mut r, &["EXPIRE", "k", "100"], ":1\r\n");
    check(&mut r, &["PERSIST", "k"], ":1\r\n");
    check(&mut r, &["TTL", "k"], ":-1\r\n");
}

/// The count of keys with a TTL (DEBUG HTSTATS's expires table) follows every change.
#[test]
fn volatile_count_stays_right() {
    let srv = Server::start();
    let mut r = srv.raw();
    let expires = |r: &mut Raw| {
        let s = cmd(r, &["DEBUG", "HTSTATS", "0"]);
        let tail = s.split("[Expires HT]").nth(1).unwrap_or("").to_string();
        tail.split("number of elements: ")
            .nth(1)
            .and_then(|n| n.split('\n').next())
            .and_then(|n| n.trim().parse::<i64>().ok())
            .unwrap_or(0)
    };
    for k in ["a", "b", "c"] {
        check(&mut r, &["SET", k, "v"], "+OK\r\n");
        check(&mut r, &["EXPIRE", k, "100"], ":1\r\n");
    }
    check(&mut r, &["EXPIRE", "a", "200"], ":1\r\n");
    assert_eq!(expires(&mut r), 3);
    check(&mut r, &["PERSIST", "a"], ":1\r\n");
    check(&mut r, &["EXPIRE", "b", "-1"], ":1\r\n");
    assert_eq!(expires(&mut r), 1);
    check(&mut r, &["SET", "c", "new"], "+OK\r\n");
    assert_eq!(expires(&mut r), 0);
}

#[test]
fn nx_xx_gt_lt() {
    let srv = Server::start();
    let mut r = srv.raw();
    check(&mut r, &["SET", "k", "v"], "+OK\r\n");
    // Without a TTL: XX and GT refuse, NX and LT set.
    check(&mut r, &["EXPIRE", "k", "100", "XX"], ":0\r\n");
    check(&mut r, &["EXPIRE", "k", "100", "GT"], ":0\r\n");
    check(&mut r, &["EXPIRE", "k", "100", "NX"], ":1\r\n");
    check(&mut r, &["EXPIRE", "k", "100", "NX"], ":0\r\n");
    // With a TTL of 100.
    check(&mut r, &["EXPIRE", "k", "200", "XX"], ":1\r\n");
    check(&mut r, &["EXPIRE", "k", "100", "GT"], ":0\r\n");
    check(&mut r, &["EXPIRE", "k", "300", "gt"], ":1\r\n");
    check(&mut r, &["EXPIRE", "k", "400", "LT"], ":0\r\n");
    check(&mut r, &["EXPIRE", "k", "50", "lt"], ":1\r\n");
    check(&mut r, &["EXPIRE", "k", "40", "LT", "XX"], ":1\r\n");
    assert!((39..=40).contains(&int(&mut r, &["TTL", "k"])));
    check(&mut r, &["PERSIST", "k"], ":1\r\n");
    check(&mut r, &["EXPIRE", "k", "40", "LT", "XX"], ":0\r\n");
    check(&mut r, &["EXPIRE", "k", "40", "LT"], ":1\r\n");
    // Refused: the key keeps its TTL.
    check(&mut r, &["PEXPIRE", "k", "1", "GT"], ":0\r\n");
    check(&mut r, &["EXISTS", "k"], ":1\r\n");
}

#[test]
fn option_errors() {
    let srv = Server::start();
    let mut r = srv.raw();
    check(&mut r, &["SET", "k", "v"], "+OK\r\n");
    let nx = "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n";
    check(&mut r, &["EXPIRE", "k", "100", "NX", "XX"], nx);
    check(&mut r, &["EXPIRE", "k", "100", "NX", "GT"], nx);
    check(&mut r, &["PEXPIRE", "k", "100", "LT", "NX"], nx);
    check(
        &mut r,
        &["EXPIRE", "k", "100", "GT", "LT"],
        "-ERR GT and LT options at the same time are not compatible\r\n",
    );
    check(
        &mut r,
        &["EXPIRE", "k", "100", "XYZ"],
        "-ERR Unsupported option XYZ\r\n",
    );
    check(
        &mut r,
        &["EXPIRE", "k", "100", "NX", "foo"],
        "-ERR Unsupported option foo\r\n",
    );
    // Options are parsed before the time.
    check(
        &mut r,
        &["EXPIRE", "k", "abc", "foo"],
        "-ERR Unsupported option foo\r\n",
    );
    check(
        &mut r,
        &["EXPIRE", "k", ""],
        "-ERR value is not an integer or out of range\r\n",
    );
    check(
        &mut r,
        &["PEXPIREAT", "k", "1.5"],
        "-ERR value is not an integer or out of range\r\n",
    );
    check(
        &mut r,
        &["EXPIRE", "k"],
        "-ERR wrong number of arguments for 'expire' command\r\n",
    );
    check(&mut r, &["TTL", "k"], ":-1\r\n");
}

#[test]
fn overflow_checks() {
    let srv = Server::start();
    let mut r = srv.raw();
    check(&mut r, &["SET", "k", "v"], "+OK\r\n");
    check(
        &mut r,
        &["EXPIRE", "k", "9223370399119966"],
        "-ERR invalid expire time in 'expire' command\r\n",
    );
    check(
        &mut r,
        &["EXPIRE", "k", "-9223372036854775808"],
        "-ERR invalid expire time in 'expire' command\r\n",
    );
    check(
        &mut r,
        &["EXPIREAT", "k", "9223372036854776"],
        "-ERR invalid expire time in 'expireat' command\r\n",
    );
    check(
        &mut r,
        &["PEXPIRE", "k", "9223372036854770000"],
        "-ERR invalid expire time in 'pexpire' command\r\n",
    );
    // PEXPIREAT has no base time to add: the largest value works.
    check(&mut r, &["PEXPIREAT", "k", "9223372036854770000"], ":1\r\n");
    assert_eq!(int(&mut r, &["PEXPIRETIME", "k"]), 9223372036854770000);
    check(&mut r, &["PEXPIREAT", "k", "-9223372036854770000"], ":1\r\n");
    check(&mut r, &["EXISTS", "k"], ":0\r\n");
    // A big negative relative time deletes (no overflow: basetime is positive).
    check(&mut r, &["SET", "k", "v"], "+OK\r\n");
    check(&mut r, &["EXPIRE", "k", "-9223372036854775"], ":1\r\n");
    check(&mut r, &["EXISTS", "k"], ":0\r\n");
}

#[test]
fn lazy_expiry() {
    let srv = Server::start();
    let mut r = srv.raw();
    check(&mut r, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"], "+OK\r\n");
    check(&mut r, &["SET", "k", "v"], "+OK\r\n");
    check(&mut r, &["PEXPIRE", "k", "50"], ":1\r\n");
    check(&mut r, &["GET", "k"], "$1\r\nv\r\n");
    std::thread::sleep(Duration::from_millis(80));
    // Still stored (DBSIZE counts it) until something looks it up.
    check(&mut r, &["DBSIZE"], ":1\r\n");
    check(&mut r, &["TTL", "k"], ":-2\r\n");
    check(&mut r, &["DBSIZE"], ":0\r\n");
    // EXPIRE on an expired key does not resurrect it.
    check(&mut r, &["SET", "k", "v"], "+OK\r\n");
    check(&mut r, &["PEXPIRE", "k", "10"], ":1\r\n");
    std::thread::sleep(Duration::from_millis(30));
    check(&mut r, &["EXPIRE", "k", "100"], ":0\r\n");
    check(&mut r, &["PERSIST", "k"], ":0\r\n");
}

#[test]
fn active_expiry() {
    let srv = Server::start();
    let mut r = srv.raw();
    for i in 0..100 {
        let k = format!("k{i}");
        check(&mut r, &["SET", &k, "v"], "+OK\r\n");
        check(&mut r, &["PEXPIRE", &k, "100"], ":1\r\n");
    }
    check(&mut r, &["SET", "keep", "v"], "+OK\r\n");
    check(&mut r, &["EXPIRE", "keep", "1000"], ":1\r\n");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while int(&mut r, &["DBSIZE"]) > 1 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    check(&mut r, &["DBSIZE"], ":1\r\n");
    // Disabled active expiry leaves keys stored until they are touched.
    check(&mut r, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"], "+OK\r\n");
    check(&mut r, &["SET", "gone", "v"], "+OK\r\n");
    check(&mut r, &["PEXPIRE", "gone", "20"], ":1\r\n");
    std::thread::sleep(Duration::from_millis(400));
    check(&mut r, &["DBSIZE"], ":2\r\n");
    check(&mut r, &["DEBUG", "SET-ACTIVE-EXPIRE", "1"], "+OK\r\n");
    std::thread::sleep(Duration::from_millis(400));
    check(&mut r, &["DBSIZE"], ":1\r\n");
}

#[test]
fn ttl_rounding() {
    let srv = Server::start();
    let mut r = srv.raw();
    check(&mut r, &["SET", "k", "v"], "+OK\r\n");
    // 1.6 s left rounds to 2, as Redis's (ttl+500)/1000.
    check(&mut r, &["PEXPIRE", "k", "1600"], ":1\r\n");
    check(&mut r, &["TTL", "k"], ":2\r\n");
    check(&mut r, &["PEXPIRE", "k", "1400"], ":1\r\n");
    check(&mut r, &["TTL", "k"], ":1\r\n");
}

/// A long active-expiry cycle is a LATENCY event, `expire-cycle`, as in Redis. 200,000 keys
/// that expire together keep the cycle busy for its whole time budget (25% of a cron period),
/// far above a 1 ms threshold.
#[test]
fn a_long_expiry_cycle_is_a_latency_event() {
    let srv = Server::start();
    let mut r = srv.raw();
    check(&mut r, &["CONFIG", "SET", "latency-monitor-threshold", "1"], "+OK\r\n");
    let script = "for i = 1, tonumber(ARGV[1]) do redis.call('set', 'k' .. i, 'v', 'px', 200) end";
    check(&mut r, &["EVAL", script, "0", "200000"], "$-1\r\n");
    // The script itself took longer than 1 ms: start from a clean slate.
    check(&mut r, &["LATENCY", "RESET"], ":1\r\n");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let latest = cmd(&mut r, &["LATENCY", "LATEST"]);
        if latest.contains("expire-cycle") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no expire-cycle event: {latest}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let history = cmd(&mut r, &["LATENCY", "HISTORY", "expire-cycle"]);
    assert!(history.starts_with('*') && !history.starts_with("*0"), "{history}");
}
