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

fn info_field(c: &mut redis::Connection, field: &str) -> String {
    let info: String = q(c, &["INFO", "persistence"]);
    info.lines()
        .find_map(|l| l.strip_prefix(field).and_then(|r| r.strip_prefix(':')))
        .unwrap_or_default()
        .to_string()
}

fn wait_rewrite_done(c: &mut redis::Connection) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while info_field(c, "aof_rewrite_in_progress") != "0" {
        assert!(Instant::now() < deadline, "rewrite did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// BGREWRITEAOF writes its base in the background: commands (writes to keys the rewrite has
/// not reached yet among them) are served while it runs, none is lost or counted twice, and
/// without the RDB preamble the base holds each type's own commands.
#[test]
fn rewrite_runs_in_the_background_and_loses_no_write() {
    for preamble in ["no", "yes"] {
        let dir = tmpdir("bgrw");
        let want = {
            let p = spawn(&dir, &["--aof-use-rdb-preamble", preamble]).expect("start");
            let mut c = p.con();
            for i in 0..300 {
                let k = i.to_string();
                let _: i64 = q(&mut c, &["RPUSH", &format!("l{k}"), "a", "b", &k]);
                let _: i64 = q(&mut c, &["HSET", &format!("h{k}"), "f", &k]);
                let _: i64 = q(&mut c, &["SADD", &format!("s{k}"), "x", &k]);
                let _: i64 = q(&mut c, &["ZADD", &format!("z{k}"), "1.5", &k]);
                let _: () = q(&mut c, &["SET", &format!("n{k}"), "0"]);
            }
            let _: i64 = q(&mut c, &["PEXPIRE", "n1", "900000"]);
            // About 1,500 keys at 1 ms each: the rewrite lasts over a second.
            let _: () = q(&mut c, &["CONFIG", "SET", "rdb-key-save-delay", "1000"]);
            let r: String = q(&mut c, &["BGREWRITEAOF"]);
            assert_eq!(r, "Background append only file rewriting started");
            let mut served_during = 0;
            for i in (0..300).rev() {
                let k = i.to_string();
                let _: i64 = q(&mut c, &["INCR", &format!("n{k}")]);
                let _: i64 = q(&mut c, &["RPUSH", &format!("l{k}"), "late"]);
                if info_field(&mut c, "aof_rewrite_in_progress") == "1" {
                    served_during += 1;
                }
            }
            assert!(
                served_during > 100,
                "only {served_during} writes ran during the rewrite"
            );
            let _: () = q(&mut c, &["CONFIG", "SET", "rdb-key-save-delay", "0"]);
            wait_rewrite_done(&mut c);
            assert_eq!(info_field(&mut c, "aof_last_bgrewrite_status"), "ok");
            let d = digest(&mut c);
            let _: () = q(&mut c, &["DEBUG", "LOADAOF"]);
            assert_eq!(digest(&mut c), d);
            d
        };
        let base = if preamble == "no" {
            "appendonly.aof.2.base.aof"
        } else {
            "appendonly.aof.2.base.rdb"
        };
        let bytes = std::fs::read(dir.join("appendonlydir").join(base)).expect("base file");
        if preamble == "no" {
            let text = String::from_utf8_lossy(&bytes);
            for cmd in ["RPUSH", "HMSET", "SADD", "ZADD", "SET", "PEXPIREAT"] {
                assert!(text.contains(&format!("\r\n{cmd}\r\n")), "no {cmd} in the base");
            }
            assert!(!text.contains("RESTORE"));
        } else {
            assert!(bytes.starts_with(b"REDIS"));
        }
        let p = spawn(&dir, &[]).expect("restart");
        let mut c = p.con();
        assert_eq!(digest(&mut c), want);
        assert_eq!(q::<i64>(&mut c, &["GET", "n7"]), 1);
        assert_eq!(q::<i64>(&mut c, &["LLEN", "l7"]), 4);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// CONFIG SET appendonly no stops a running rewrite (Redis kills its child): the temporary file
/// goes, the manifest keeps the old base, and a later rewrite works.
#[test]
fn turning_the_aof_off_stops_a_running_rewrite() {
    let dir = tmpdir("rwoff");
    let p = spawn(&dir, &[]).expect("start");
    let mut c = p.con();
    for i in 0..200 {
        let _: () = q(&mut c, &["SET", &format!("k{i}"), "v"]);
    }
    let _: () = q(&mut c, &["CONFIG", "SET", "rdb-key-save-delay", "100000"]);
    let _: String = q(&mut c, &["BGREWRITEAOF"]);
    let temp = dir.join(format!("temp-rewriteaof-bg-{}.aof", p.child.id()));
    let deadline = Instant::now() + Duration::from_secs(5);
    while !temp.exists() {
        assert!(Instant::now() < deadline, "no temporary rewrite file");
        std::thread::sleep(Duration::from_millis(10));
    }
    let err = redis::cmd("BGSAVE").query::<String>(&mut c).unwrap_err();
    assert!(err.to_string().contains("Another child process is active"), "{err}");
    let _: () = q(&mut c, &["CONFIG", "SET", "appendonly", "no"]);
    assert_eq!(info_field(&mut c, "aof_rewrite_in_progress"), "0");
    assert!(!temp.exists());
    let manifest = std::fs::read_to_string(dir.join("appendonlydir/appendonly.aof.manifest")).expect("manifest");
    assert!(manifest.contains("appendonly.aof.1.base.rdb"), "{manifest}");
    let _: () = q(&mut c, &["CONFIG", "SET", "rdb-key-save-delay", "0"]);
    let _: () = q(&mut c, &["CONFIG", "SET", "appendonly", "yes"]);
    wait_rewrite_done(&mut c);
    assert_eq!(info_field(&mut c, "aof_last_bgrewrite_status"), "ok");
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

/// Writes an AOF directory by hand: a manifest text and files (name, bytes).
fn write_aof_dir(dir: &std::path::Path, manifest: &[u8], files: &[(&str, &[u8])]) {
    let d = dir.join("appendonlydir");
    std::fs::create_dir_all(&d).expect("mkdir");
    std::fs::write(d.join("appendonly.aof.manifest"), manifest).expect("manifest");
    for (name, bytes) in files {
        std::fs::write(d.join(name), bytes).expect("file");
    }
}

fn resp(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
    }
    out
}

fn incr_manifest() -> &'static [u8] {
    b"file appendonly.aof.1.incr.aof seq 1 type i\n"
}

#[test]
fn loading_never_expires_a_key_so_later_commands_meet_it() {
    // Redis replays `PEXPIREAT list <past>` then `RPUSH list bar` on the old list (nothing
    // expires while loading); the list expires once loaded.
    let dir = tmpdir("noexpiry");
    let mut aof = resp(&["RPUSH", "list", "foo"]);
    aof.extend(resp(&["PEXPIREAT", "list", "1000"]));
    aof.extend(resp(&["RPUSH", "list", "bar"]));
    write_aof_dir(&dir, incr_manifest(), &[("appendonly.aof.1.incr.aof", &aof)]);
    let p = spawn(&dir, &[]).expect("start");
    let mut c = p.con();
    assert_eq!(q::<i64>(&mut c, &["LLEN", "list"]), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

fn incr_len(dir: &std::path::Path) -> u64 {
    let d = dir.join("appendonlydir");
    std::fs::read_dir(&d)
        .expect("dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".incr.aof"))
        .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
        .sum()
}

#[test]
fn acknowledged_writes_are_in_the_file_and_no_op_reads_add_nothing() {
    // everysec: the reply leaves after the write reached the file (not yet fsynced), so its
    // size moves before the reply; GETEX without options and a failed write log nothing;
    // FLUSHDB of an empty database is logged anyway.
    let dir = tmpdir("written");
    let p = spawn(&dir, &[]).expect("start");
    let mut c = p.con();
    let _: () = q(&mut c, &["SET", "foo", "bar"]);
    let before = incr_len(&dir);
    assert!(before > 0, "SET acknowledged but not written");
    let _: String = q(&mut c, &["GETEX", "foo"]);
    assert_eq!(incr_len(&dir), before, "GETEX without options must not append");
    let _: i64 = q(&mut c, &["PUBLISH", "ch", "m"]);
    assert_eq!(incr_len(&dir), before, "PUBLISH goes to replicas only");
    let _: () = q(&mut c, &["FLUSHDB"]);
    let after_one = incr_len(&dir);
    let _: () = q(&mut c, &["FLUSHDB"]);
    assert!(
        incr_len(&dir) > after_one,
        "FLUSHDB of an empty database must be logged"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn manifest_lines_over_1024_bytes_are_refused() {
    let dir = tmpdir("longline");
    let mut m = b"file appendonly.aof.1.incr.aof seq 1 type i".to_vec();
    m.extend(std::iter::repeat_n(b' ', 1000));
    m.extend_from_slice(b" x y\n");
    write_aof_dir(&dir, &m, &[("appendonly.aof.1.incr.aof", &resp(&["SET", "a", "1"]))]);
    assert!(
        spawn(&dir, &[]).is_none(),
        "a manifest line over 1024 bytes must be refused"
    );
    // The same entry on a short line loads.
    write_aof_dir(&dir, incr_manifest(), &[]);
    let p = spawn(&dir, &[]).expect("start");
    assert_eq!(q::<String>(&mut p.con(), &["GET", "a"]), "1");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn file_names_with_spaces_are_quoted_in_the_manifest() {
    let dir = tmpdir("quoted");
    let p = spawn(&dir, &["--appendfilename", "my file.aof"]).expect("start");
    let mut c = p.con();
    let _: () = q(&mut c, &["SET", "k", "v"]);
    let m = std::fs::read_to_string(dir.join("appendonlydir/my file.aof.manifest")).expect("manifest");
    assert!(m.contains("file \"my file.aof.1.incr.aof\" seq 1 type i"), "{m}");
    drop(c);
    drop(p);
    let p = spawn(&dir, &["--appendfilename", "my file.aof"]).expect("restart");
    assert_eq!(q::<String>(&mut p.con(), &["GET", "k"]), "v");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_legacy_aof_with_an_rdb_preamble_and_a_command_tail_loads_whole() {
    // Redis 6's single appendonly.aof: an RDB image, then the commands logged after it.
    let dir = tmpdir("legacy");
    let rdb_dir = tmpdir("legacy-rdb");
    {
        let p = common::DirServer::spawn(&rdb_dir, &[]).expect("start");
        let mut c = p.con();
        let _: () = q(&mut c, &["SET", "k1", "v1"]);
        let _: () = q(&mut c, &["SAVE"]);
    }
    let mut legacy = std::fs::read(rdb_dir.join("dump.rdb")).expect("dump");
    legacy.extend(resp(&["SET", "k2", "v2"]));
    std::fs::write(dir.join("appendonly.aof"), &legacy).expect("write");
    let p = spawn(&dir, &[]).expect("start");
    let mut c = p.con();
    assert_eq!(q::<String>(&mut c, &["GET", "k1"]), "v1");
    assert_eq!(q::<String>(&mut c, &["GET", "k2"]), "v2");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&rdb_dir);
}

/// A consumer group's state as clients see it, without the parts that move with the clock:
/// (pending entries as id/consumer/deliveries, groups line, consumers with their pending counts,
/// the stream's length and first entry).
type GroupState = (Vec<(String, String, i64)>, String, Vec<(String, i64)>, i64, String);

fn group_state(c: &mut redis::Connection) -> GroupState {
    let pending: Vec<(String, String, i64, i64)> = q(c, &["XPENDING", "s", "g", "-", "+", "100"]);
    let pending = pending.into_iter().map(|(id, who, _idle, n)| (id, who, n)).collect();
    let groups: redis::Value = q(c, &["XINFO", "GROUPS", "s"]);
    let consumers: Vec<std::collections::HashMap<String, redis::Value>> = q(c, &["XINFO", "CONSUMERS", "s", "g"]);
    let consumers = consumers
        .into_iter()
        .map(|m| {
            let name: String = redis::from_redis_value(&m["name"]).expect("name");
            let n: i64 = redis::from_redis_value(&m["pending"]).expect("pending");
            (name, n)
        })
        .collect();
    let first: Vec<(String, Vec<String>)> = q(c, &["XRANGE", "s", "-", "+", "COUNT", "1"]);
    (
        pending,
        format!("{groups:?}"),
        consumers,
        q(c, &["XLEN", "s"]),
        first[0].0.clone(),
    )
}

#[test]
fn consumer_groups_replay_exactly_with_their_delivery_times() {
    // XREADGROUP, NOACK, XCLAIM, XAUTOCLAIM (with a deleted entry) and approximate trims are
    // logged as their outcomes (XCLAIM ... TIME, XGROUP SETID / CREATECONSUMER, MAXLEN =), so
    // a restart rebuilds the same pending entries, owners and counts, and delivery times are
    // the original ones (a replayed read would restart every idle clock).
    let dir = tmpdir("groups");
    let before = {
        let p = spawn(&dir, &["--stream-node-max-entries", "4"]).expect("start");
        let mut c = p.con();
        let _: () = q(&mut c, &["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
        let mut ids = Vec::new();
        for i in 0..20 {
            ids.push(q::<String>(&mut c, &["XADD", "s", "*", "n", &i.to_string()]));
        }
        let _: redis::Value = q(
            &mut c,
            &["XREADGROUP", "GROUP", "g", "alice", "COUNT", "6", "STREAMS", "s", ">"],
        );
        let _: redis::Value = q(
            &mut c,
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "bob",
                "NOACK",
                "COUNT",
                "2",
                "STREAMS",
                "s",
                ">",
            ],
        );
        let _: i64 = q(&mut c, &["XDEL", "s", &ids[1]]);
        std::thread::sleep(Duration::from_millis(30));
        let _: redis::Value = q(&mut c, &["XAUTOCLAIM", "s", "g", "carol", "10", "0", "COUNT", "3"]);
        let _: redis::Value = q(&mut c, &["XCLAIM", "s", "g", "dave", "0", &ids[5], "RETRYCOUNT", "7"]);
        let _: String = q(&mut c, &["XADD", "s", "MAXLEN", "~", "10", "*", "n", "last"]);
        let state = group_state(&mut c);
        assert!(state.3 > 10, "the approximate trim kept whole nodes: {}", state.3);
        std::thread::sleep(Duration::from_millis(400));
        state
    };
    let p = spawn(&dir, &[]).expect("restart");
    let mut c = p.con();
    assert_eq!(group_state(&mut c), before);
    let pending: Vec<(String, String, i64, i64)> = q(&mut c, &["XPENDING", "s", "g", "-", "+", "100"]);
    for (id, who, idle, _) in pending {
        assert!(
            idle >= 400,
            "{id} of {who} idle {idle} ms: its delivery time was not kept"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
