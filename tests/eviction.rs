//! maxmemory and eviction: used memory as the allocator counts it, each `maxmemory-policy`
//! evicting the right kind of keys, the OOM refusal when nothing can be evicted (plain commands,
//! MULTI, EXEC), INFO counters, `evicted` keyspace events, WATCH, lazy eviction, and the LRU/LFU
//! access data behind OBJECT IDLETIME / OBJECT FREQ.

mod common;

use redis::Connection;
use std::time::Duration;

const OOM: &[u8] = b"-OOM command not allowed when used memory > 'maxmemory'.\r\n";

fn info_u64(con: &mut Connection, field: &str) -> u64 {
    let info: String = redis::cmd("INFO").arg("everything").query(con).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no INFO field {field}"))
}

fn config_set(con: &mut Connection, name: &str, value: &str) {
    let _: () = redis::cmd("CONFIG").arg("SET").arg(name).arg(value).query(con).unwrap();
}

/// Writes `n` keys `{prefix}{i}` with 200-byte values, with a TTL of `ttl` seconds when given.
fn fill(con: &mut Connection, prefix: &str, n: usize, ttl: Option<u64>) {
    let value = vec![b'v'; 200];
    let mut p = redis::pipe();
    for i in 0..n {
        let key = format!("{prefix}{i}");
        match ttl {
            Some(t) => p.cmd("SET").arg(&key).arg(&value).arg("EX").arg(t).ignore(),
            None => p.cmd("SET").arg(&key).arg(&value).ignore(),
        };
    }
    let _: () = p.query(con).unwrap();
}

/// How many of `{prefix}0..n` still exist.
fn surviving(con: &mut Connection, prefix: &str, n: usize) -> usize {
    let keys: Vec<String> = (0..n).map(|i| format!("{prefix}{i}")).collect();
    let mut total = 0;
    for chunk in keys.chunks(500) {
        let c: usize = redis::cmd("EXISTS").arg(chunk).query(con).unwrap();
        total += c;
    }
    total
}

/// Sets `maxmemory` to `below` bytes under what is used now (CONFIG SET evicts at once).
fn squeeze(con: &mut Connection, below: u64) {
    let used = info_u64(con, "used_memory");
    config_set(con, "maxmemory", &(used - below).to_string());
}

/// [`squeeze`] with no time limit on the eviction, then no limit at all, so the keyspace stays
/// as that one eviction left it while the test counts.
fn squeeze_once(con: &mut Connection, below: u64) {
    config_set(con, "maxmemory-eviction-tenacity", "100");
    squeeze(con, below);
    config_set(con, "maxmemory", "0");
}

#[test]
fn used_memory_counts_allocations() {
    let srv = common::Server::start();
    let mut con = srv.client();
    let before = info_u64(&mut con, "used_memory");
    assert!(before > 0);
    let big = vec![b'x'; 1 << 20];
    for i in 0..4 {
        let _: () = redis::cmd("SET")
            .arg(format!("big{i}"))
            .arg(&big)
            .query(&mut con)
            .unwrap();
    }
    let grown = info_u64(&mut con, "used_memory");
    assert!(grown >= before + 4 * (1 << 20), "{before} -> {grown}");
    // The connection's read buffer, which held each 1 MB request, counts too.
    assert!(grown < before + 8 * (1 << 20), "{before} -> {grown}");
    assert!(info_u64(&mut con, "used_memory_peak") >= grown);
    let _: () = redis::cmd("DEL")
        .arg(&["big0", "big1", "big2", "big3"])
        .query(&mut con)
        .unwrap();
    let after = info_u64(&mut con, "used_memory");
    assert!(after + 4_000_000 <= grown, "{grown} -> {after}");
    // MEMORY STATS reports the same figure.
    let stats: Vec<redis::Value> = redis::cmd("MEMORY").arg("STATS").query(&mut con).unwrap();
    assert!(matches!(&stats[1], redis::Value::Int(n) if *n > 0));
}

#[test]
fn noeviction_refuses_denyoom_commands_only() {
    let srv = common::Server::start();
    let mut con = srv.client();
    fill(&mut con, "k", 1000, None);
    squeeze(&mut con, 50_000);
    let mut raw = srv.raw();
    assert_eq!(raw.cmd(&[b"SET", b"new", b"v"]), OOM);
    assert_eq!(raw.cmd(&[b"LPUSH", b"l", b"v"]), OOM);
    // Reads and deletions still run.
    assert_eq!(
        raw.cmd(&[b"GET", b"k1"]),
        [b"$200\r\n".as_slice(), &[b'v'; 200], b"\r\n"].concat()
    );
    assert_eq!(raw.cmd(&[b"DEL", b"k1"]), b":1\r\n");
    assert_eq!(info_u64(&mut con, "evicted_keys"), 0);
    assert_eq!(surviving(&mut con, "k", 1000), 999);
    // In MULTI every queued command is refused, and EXEC then aborts.
    assert_eq!(raw.cmd(&[b"MULTI"]), b"+OK\r\n");
    assert_eq!(raw.cmd(&[b"GET", b"k2"]), OOM);
    assert_eq!(
        raw.cmd(&[b"EXEC"]),
        b"-EXECABORT Transaction discarded because of previous errors.\r\n"
    );
    // Raising the limit lets writes in again.
    config_set(&mut con, "maxmemory", "0");
    assert_eq!(raw.cmd(&[b"SET", b"new", b"v"]), b"+OK\r\n");
}

#[test]
fn exec_with_a_queued_write_is_refused_when_full() {
    let srv = common::Server::start();
    let mut con = srv.client();
    fill(&mut con, "k", 1000, None);
    let mut raw = srv.raw();
    assert_eq!(raw.cmd(&[b"MULTI"]), b"+OK\r\n");
    assert_eq!(raw.cmd(&[b"SET", b"a", b"1"]), b"+QUEUED\r\n");
    squeeze(&mut con, 50_000);
    assert_eq!(
        raw.cmd(&[b"EXEC"]),
        b"-EXECABORT Transaction discarded because of: OOM command not allowed when used memory > 'maxmemory'.\r\n"
    );
    let exists: bool = redis::cmd("EXISTS").arg("a").query(&mut con).unwrap();
    assert!(!exists);
}

#[test]
fn volatile_policies_never_evict_persistent_keys() {
    let srv = common::Server::start();
    let mut con = srv.client();
    for policy in ["volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"] {
        config_set(&mut con, "maxmemory", "0");
        let _: () = redis::cmd("FLUSHALL").query(&mut con).unwrap();
        config_set(&mut con, "maxmemory-policy", policy);
        fill(&mut con, "p", 1500, None);
        fill(&mut con, "v", 1500, Some(1000));
        squeeze(&mut con, 150_000);
        let volatile_left = surviving(&mut con, "v", 1500);
        assert!(volatile_left < 1500, "{policy}: nothing evicted");
        // Writing more volatile keys keeps evicting volatile keys only.
        fill(&mut con, "w", 500, Some(1000));
        assert_eq!(
            surviving(&mut con, "p", 1500),
            1500,
            "{policy} evicted a persistent key"
        );
        let max = info_u64(&mut con, "maxmemory");
        assert!(
            info_u64(&mut con, "used_memory") < max + 64 * 1024,
            "{policy}: limit not held"
        );
    }
}

#[test]
fn volatile_policy_without_volatile_keys_refuses_writes() {
    let srv = common::Server::start();
    let mut con = srv.client();
    config_set(&mut con, "maxmemory-policy", "volatile-lru");
    fill(&mut con, "p", 1000, None);
    squeeze(&mut con, 50_000);
    let mut raw = srv.raw();
    assert_eq!(raw.cmd(&[b"SET", b"x", b"1"]), OOM);
    assert_eq!(surviving(&mut con, "p", 1000), 1000);
    assert_eq!(info_u64(&mut con, "evicted_keys"), 0);
}

#[test]
fn allkeys_policies_evict_persistent_keys_and_hold_the_limit() {
    let srv = common::Server::start();
    let mut con = srv.client();
    for policy in ["allkeys-lru", "allkeys-lfu", "allkeys-random"] {
        config_set(&mut con, "maxmemory", "0");
        let _: () = redis::cmd("FLUSHALL").query(&mut con).unwrap();
        config_set(&mut con, "maxmemory-policy", policy);
        fill(&mut con, "p", 2000, None);
        squeeze(&mut con, 150_000);
        let left = surviving(&mut con, "p", 2000);
        assert!(left < 2000 && left > 1000, "{policy}: {left} left");
        // Keeps writing within the limit.
        fill(&mut con, "q", 2000, None);
        let max = info_u64(&mut con, "maxmemory");
        assert!(
            info_u64(&mut con, "used_memory") < max + 64 * 1024,
            "{policy}: limit not held"
        );
    }
}

#[test]
fn allkeys_lru_keeps_recently_used_keys() {
    let srv = common::Server::start();
    let mut con = srv.client();
    config_set(&mut con, "maxmemory-policy", "allkeys-lru");
    fill(&mut con, "hot", 1000, None);
    fill(&mut con, "cold", 1000, None);
    // The LRU clock counts seconds.
    std::thread::sleep(Duration::from_millis(2100));
    let mut p = redis::pipe();
    for i in 0..1000 {
        p.cmd("GET").arg(format!("hot{i}")).ignore();
    }
    let _: () = p.query(&mut con).unwrap();
    let idle_cold: u64 = redis::cmd("OBJECT")
        .arg("IDLETIME")
        .arg("cold1")
        .query(&mut con)
        .unwrap();
    let idle_hot: u64 = redis::cmd("OBJECT")
        .arg("IDLETIME")
        .arg("hot1")
        .query(&mut con)
        .unwrap();
    assert!(idle_cold >= 2, "cold idle {idle_cold}");
    assert!(idle_hot <= 1, "hot idle {idle_hot}");
    squeeze(&mut con, 150_000);
    let evicted = info_u64(&mut con, "evicted_keys") as usize;
    assert!(evicted > 300, "evicted {evicted}");
    let hot = surviving(&mut con, "hot", 1000);
    assert!(hot >= 990, "only {hot} recently used keys survived {evicted} evictions");
}

#[test]
fn allkeys_lfu_keeps_frequently_used_keys_and_object_freq_counts() {
    let srv = common::Server::start();
    let mut con = srv.client();
    config_set(&mut con, "maxmemory-policy", "allkeys-lfu");
    // With a log factor of 0 every access adds one: the counter is exact.
    config_set(&mut con, "lfu-log-factor", "0");
    fill(&mut con, "hot", 1000, None);
    fill(&mut con, "cold", 1000, None);
    let freq: u64 = redis::cmd("OBJECT").arg("FREQ").arg("cold1").query(&mut con).unwrap();
    assert_eq!(freq, 5, "a new key starts at LFU_INIT_VAL");
    let mut p = redis::pipe();
    for _ in 0..10 {
        for i in 0..1000 {
            p.cmd("GET").arg(format!("hot{i}")).ignore();
        }
    }
    let _: () = p.query(&mut con).unwrap();
    let freq: u64 = redis::cmd("OBJECT").arg("FREQ").arg("hot1").query(&mut con).unwrap();
    assert_eq!(freq, 15);
    // Overwriting a key keeps its counter (and counts as an access).
    let _: () = redis::cmd("SET").arg("hot1").arg("new").query(&mut con).unwrap();
    let freq: u64 = redis::cmd("OBJECT").arg("FREQ").arg("hot1").query(&mut con).unwrap();
    assert_eq!(freq, 16);
    squeeze(&mut con, 150_000);
    assert!(info_u64(&mut con, "evicted_keys") > 300);
    let hot = surviving(&mut con, "hot", 1000);
    assert!(hot >= 990, "only {hot} frequently used keys survived");
}

#[test]
fn lfu_counter_grows_logarithmically_by_default() {
    let srv = common::Server::start_with(&["--maxmemory-policy", "allkeys-lfu"]);
    let mut con = srv.client();
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut con).unwrap();
    let mut p = redis::pipe();
    for _ in 0..1000 {
        p.cmd("GET").arg("k").ignore();
    }
    let _: () = p.query(&mut con).unwrap();
    let freq: u64 = redis::cmd("OBJECT").arg("FREQ").arg("k").query(&mut con).unwrap();
    assert!((10..40).contains(&freq), "freq after 1000 accesses: {freq}");
}

#[test]
fn volatile_ttl_evicts_the_soonest_expiring() {
    let srv = common::Server::start();
    let mut con = srv.client();
    config_set(&mut con, "maxmemory-policy", "volatile-ttl");
    fill(&mut con, "late", 1000, Some(100_000));
    fill(&mut con, "soon", 1000, Some(1000));
    fill(&mut con, "p", 500, None);
    squeeze_once(&mut con, 100_000);
    let evicted = info_u64(&mut con, "evicted_keys") as usize;
    assert!(evicted > 200, "evicted {evicted}");
    assert_eq!(surviving(&mut con, "p", 500), 500);
    let late = surviving(&mut con, "late", 1000);
    assert!(late >= 990, "{late} late keys left after {evicted} evictions");
    assert_eq!(surviving(&mut con, "soon", 1000), 1000 - evicted + (1000 - late));
}

#[test]
fn evictions_count_in_info_and_resetstat_clears_them() {
    let srv = common::Server::start();
    let mut con = srv.client();
    config_set(&mut con, "maxmemory-policy", "allkeys-random");
    fill(&mut con, "k", 2000, None);
    squeeze_once(&mut con, 100_000);
    let size: usize = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(info_u64(&mut con, "evicted_keys") as usize, 2000 - size);
    let info: String = redis::cmd("INFO").arg("memory").query(&mut con).unwrap();
    assert!(info.contains("maxmemory_policy:allkeys-random"));
    let _: () = redis::cmd("CONFIG").arg("RESETSTAT").query(&mut con).unwrap();
    assert_eq!(info_u64(&mut con, "evicted_keys"), 0);
    info_u64(&mut con, "total_eviction_exceeded_time");
    info_u64(&mut con, "current_eviction_exceeded_time");
}

#[test]
fn evicted_keys_raise_the_evicted_event() {
    let srv = common::Server::start();
    let mut con = srv.client();
    config_set(&mut con, "notify-keyspace-events", "KEe");
    config_set(&mut con, "maxmemory-policy", "allkeys-lru");
    let _: () = redis::cmd("SET").arg("victim").arg("v").query(&mut con).unwrap();
    let mut sub = srv.raw();
    sub.cmd(&[b"SUBSCRIBE", b"__keyevent@0__:evicted"]);
    let mut sub2 = srv.raw();
    sub2.cmd(&[b"SUBSCRIBE", b"__keyspace@0__:victim"]);
    // A limit of one byte evicts every key.
    config_set(&mut con, "maxmemory", "1");
    assert_eq!(
        sub.read_reply(),
        b"*3\r\n$7\r\nmessage\r\n$22\r\n__keyevent@0__:evicted\r\n$6\r\nvictim\r\n"
    );
    assert_eq!(
        sub2.read_reply(),
        b"*3\r\n$7\r\nmessage\r\n$21\r\n__keyspace@0__:victim\r\n$7\r\nevicted\r\n"
    );
    let size: usize = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(size, 0);
    // Everything is gone and nothing more can be evicted: writes are refused.
    assert_eq!(srv.raw().cmd(&[b"SET", b"x", b"1"]), OOM);
}

#[test]
fn eviction_touches_watched_keys() {
    let srv = common::Server::start();
    let mut con = srv.client();
    config_set(&mut con, "maxmemory-policy", "allkeys-random");
    let _: () = redis::cmd("SET").arg("w").arg("v").query(&mut con).unwrap();
    let mut tx = srv.raw();
    assert_eq!(tx.cmd(&[b"WATCH", b"w"]), b"+OK\r\n");
    assert_eq!(tx.cmd(&[b"MULTI"]), b"+OK\r\n");
    assert_eq!(tx.cmd(&[b"PING"]), b"+QUEUED\r\n");
    config_set(&mut con, "maxmemory", "1");
    // EXEC of a read-only transaction is not refused, but the watched key was evicted.
    assert_eq!(tx.cmd(&[b"EXEC"]), b"*-1\r\n");
}

#[test]
fn lazy_eviction_frees_big_values_in_the_background() {
    let srv = common::Server::start_with(&["--lazyfree-lazy-eviction", "yes"]);
    let mut con = srv.client();
    config_set(&mut con, "maxmemory-policy", "allkeys-lru");
    for k in 0..20 {
        let members: Vec<String> = (0..1000).map(|i| format!("member:{i}")).collect();
        let _: () = redis::cmd("SADD")
            .arg(format!("set{k}"))
            .arg(&members)
            .query(&mut con)
            .unwrap();
    }
    squeeze(&mut con, 200_000);
    // Give the background thread time to free, then writes are accepted within the limit.
    std::thread::sleep(Duration::from_millis(300));
    let _: () = redis::cmd("SET").arg("after").arg("1").query(&mut con).unwrap();
    let evicted = info_u64(&mut con, "evicted_keys");
    assert!(evicted >= 1);
    assert!(info_u64(&mut con, "lazyfreed_objects") >= 1);
    let max = info_u64(&mut con, "maxmemory");
    assert!(info_u64(&mut con, "used_memory") < max + 64 * 1024);
}

#[test]
fn object_freq_and_idletime_answer_by_policy() {
    let srv = common::Server::start();
    let mut con = srv.client();
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut con).unwrap();
    let mut raw = srv.raw();
    assert_eq!(
        raw.cmd(&[b"OBJECT", b"FREQ", b"k"]),
        b"-ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.\r\n"
    );
    assert_eq!(raw.cmd(&[b"OBJECT", b"IDLETIME", b"k"]), b":0\r\n");
    config_set(&mut con, "maxmemory-policy", "volatile-lfu");
    assert_eq!(
        raw.cmd(&[b"OBJECT", b"IDLETIME", b"k"]),
        b"-ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.\r\n"
    );
    // A key created under LFU starts at 5.
    let _: () = redis::cmd("SET").arg("n").arg("v").query(&mut con).unwrap();
    assert_eq!(raw.cmd(&[b"OBJECT", b"FREQ", b"n"]), b":5\r\n");
    assert_eq!(raw.cmd(&[b"OBJECT", b"FREQ", b"missing"]), b"$-1\r\n");
}
