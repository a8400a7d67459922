//! The append-only file, against real servers restarted on the same directory: writes of
//! every type survive a restart (and a kill -9 under `appendfsync always`), relative expiry
//! replays as absolute, BGREWRITEAOF then restart, truncated tails.
mod common;

use std::time::{Duration, Instant};

use common::{tmpdir, DirServer as Proc};

/// A server with the AOF on, on a directory that outlives it.
fn spawn(dir: &std::path::Path, extra: &[&str]) -> Option<Proc> {
    let mut args = vec!["--appendonly", "yes"];
    args.extend_from_slice(extra);
    Proc::spawn(dir, &args)
}

fn q<T: redis::FromRedisValue>(c: &mut redis::Connection, args: &[&str]) -> T {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(c).expect("query")
}

fn digest(c: &mut redis::Connection) -> String {
    q(c, &["DEBUG", "DIGEST"])
}

/// Writes of every type, an EXEC, a script, expiries and random pops; returns the digest.
fn write_everything(c: &mut redis::Connection) -> String {
    let _: () = q(c, &["SET", "s", "v"]);
    let _: () = q(c, &["SET", "ttl", "v", "EX", "1000"]);
    let _: () = q(c, &["SETEX", "ttl2", "1000", "v"]);
    let _: i64 = q(c, &["RPUSH", "l", "a", "b", "c"]);
    let _: i64 = q(c, &["HSET", "h", "f", "1", "g", "2"]);
    let _: String = q(c, &["HINCRBYFLOAT", "h", "f", "1.5"]);
    let _: i64 = q(c, &["SADD", "set", "a", "b", "c", "d", "e"]);
    let _: Vec<String> = q(c, &["SPOP", "set", "2"]);
    let _: String = q(c, &["SPOP", "set"]);
    let _: i64 = q(c, &["ZADD", "z", "1", "a", "2", "b"]);
    let _: String = q(c, &["XADD", "x", "*", "f", "v"]);
    let _: String = q(c, &["INCRBYFLOAT", "fl", "2.5"]);
    let _: i64 = q(c, &["EXPIRE", "l", "5000"]);
    let _: () = q(c, &["SET", "gone", "v"]);
    let _: i64 = q(c, &["EXPIRE", "gone", "-1"]);
    let _: () = q(c, &["SELECT", "3"]);
    let _: () = q(c, &["SET", "other-db", "1"]);
    let _: () = q(c, &["SELECT", "0"]);
    let _: redis::Value = redis::pipe()
        .atomic()
        .cmd("INCR")
        .arg("n")
        .cmd("INCR")
        .arg("n")
        .query(c)
        .expect("exec");
    let _: i64 = q(
        c,
        &[
            "EVAL",
            "redis.call('incr','n'); return redis.call('lpush','l','s')",
            "0",
        ],
    );
    digest(c)
}

#[test]
fn every_type_survives_a_restart_and_a_rewrite() {
    let dir = tmpdir("types");
    let before = {
        let p = spawn(&dir, &["--appendfsync", "always"]).expect("start");
        let mut c = p.con();
        let d = write_everything(&mut c);
        assert!(q::<i64>(&mut c, &["PTTL", "ttl"]) > 990_000);
        d
    };
    let p = spawn(&dir, &[]).expect("restart");
    let mut c = p.con();
    assert_eq!(digest(&mut c), before);
    assert!(q::<i64>(&mut c, &["PTTL", "ttl"]) > 900_000);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "gone"]), 0);
    // BGREWRITEAOF, a write after it, restart: the same dataset.
    let r: String = q(&mut c, &["BGREWRITEAOF"]);
    assert_eq!(r, "Background append only file rewriting started");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info: String = q(&mut c, &["INFO", "persistence"]);
        if info.contains("aof_rewrite_in_progress:0") && info.contains("aof_rewrites:1") {
            break;
        }
        assert!(Instant::now() < deadline, "rewrite did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
    let _: () = q(&mut c, &["SET", "after", "rewrite"]);
    let want = digest(&mut c);
    // DEBUG LOADAOF reloads the same dataset.
    let _: () = q(&mut c, &["DEBUG", "LOADAOF"]);
    assert_eq!(digest(&mut c), want);
    drop(c);
    drop(p);
    let names: Vec<String> = std::fs::read_dir(dir.join("appendonlydir"))
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    assert!(names.iter().any(|n| n == "appendonly.aof.2.base.rdb"), "{names:?}");
    assert!(!names.iter().any(|n| n.starts_with("appendonly.aof.1.")), "{names:?}");
    let p = spawn(&dir, &[]).expect("restart 2");
    let mut c = p.con();
    assert_eq!(digest(&mut c), want);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn rewrite_without_preamble_replays_commands() {
    let dir = tmpdir("nopre");
    let want = {
        let p = spawn(&dir, &["--aof-use-rdb-preamble", "no"]).expect("start");
        let mut c = p.con();
        let _ = write_everything(&mut c);
        let _: String = q(&mut c, &["BGREWRITEAOF"]);
        std::thread::sleep(Duration::from_millis(500));
        let _: () = q(&mut c, &["SET", "late", "1"]);
        std::thread::sleep(Duration::from_millis(1200));
        digest(&mut c)
    };
    let p = spawn(&dir, &[]).expect("restart");
    let mut c = p.con();
    assert_eq!(digest(&mut c), want);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn appendfsync_always_keeps_every_acknowledged_write_after_kill_9() {
    let dir = tmpdir("always");
    let acked = {
        let p = spawn(&dir, &["--appendfsync", "always"]).expect("start");
        let mut c = p.con();
        for i in 0..200 {
            let _: () = q(&mut c, &["SET", &format!("k{i}"), &i.to_string()]);
        }
        200
        // Dropping `p` is a SIGKILL right after the last reply.
    };
    let p = spawn(&dir, &[]).expect("restart");
    let mut c = p.con();
    assert_eq!(q::<i64>(&mut c, &["DBSIZE"]), acked);
    assert_eq!(q::<String>(&mut c, &["GET", "k199"]), "199");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Appends half a command to the incremental file.
fn truncate_tail(dir: &std::path::Path) {
    use std::io::Write;
    let path = dir.join("appendonlydir").join("appendonly.aof.1.incr.aof");
    let mut f = std::fs::OpenOptions::new().append(true).open(path).expect("open incr");
    f.write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nz\r\n$5\r\nhal").expect("write");
}

#[test]
fn truncated_tail_loads_with_aof_load_truncated_yes_only() {
    let dir = tmpdir("trunc");
    {
        let p = spawn(&dir, &["--appendfsync", "always"]).expect("start");
        let mut c = p.con();
        let _: () = q(&mut c, &["SET", "a", "1"]);
    }
    truncate_tail(&dir);
    assert!(
        spawn(&dir, &["--aof-load-truncated", "no"]).is_none(),
        "a truncated AOF must not load with aof-load-truncated no"
    );
    let p = spawn(&dir, &["--aof-load-truncated", "yes"]).expect("loads truncated");
    let mut c = p.con();
    assert_eq!(q::<String>(&mut c, &["GET", "a"]), "1");
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "z"]), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn config_set_appendonly_at_run_time_creates_the_aof() {
    let mut srv = common::Server::start();
    let mut c = srv.client();
    let _: () = q(&mut c, &["SET", "before", "1"]);
    let _: () = q(&mut c, &["CONFIG", "SET", "appendonly", "yes"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !srv.dir.join("appendonlydir/appendonly.aof.manifest").exists() || {
        let info: String = q(&mut c, &["INFO", "persistence"]);
        info.contains("aof_rewrite_in_progress:1")
    } {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    let _: () = q(&mut c, &["SET", "after", "2"]);
    let _: () = q(&mut c, &["DEBUG", "LOADAOF"]);
    assert_eq!(q::<String>(&mut c, &["GET", "before"]), "1");
    assert_eq!(q::<String>(&mut c, &["GET", "after"]), "2");
    let info: String = q(&mut c, &["INFO", "persistence"]);
    assert!(info.contains("aof_enabled:1"), "{info}");
    assert!(srv.alive());
}
