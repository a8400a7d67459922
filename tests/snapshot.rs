//! The incremental, fork-free snapshot behind BGSAVE: the file holds the dataset exactly as it
//! was when BGSAVE ran, whatever clients change while it is written (checked by restarting on
//! the file and by loading it into redis-server 7.0.15), SWAPDB/FLUSHDB/FLUSHALL during a slow
//! save, SHUTDOWN during a save, and the INFO fields and errors around it.

mod common;

use common::Server;
use redis::Connection;
use std::time::{Duration, Instant};

fn info_field(c: &mut Connection, name: &str) -> String {
    let info: String = redis::cmd("INFO").arg("persistence").query(c).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")).map(str::to_string))
        .unwrap_or_default()
}

fn wait_bgsave_done(c: &mut Connection) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while info_field(c, "rdb_bgsave_in_progress") != "0" {
        assert!(Instant::now() < deadline, "BGSAVE did not finish");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn digest(c: &mut Connection) -> String {
    redis::cmd("DEBUG").arg("DIGEST").query(c).unwrap()
}

fn config_set(c: &mut Connection, name: &str, value: &str) {
    let _: () = redis::cmd("CONFIG").arg("SET").arg(name).arg(value).query(c).unwrap();
}

/// Copies the server's dump into a fresh folder, so another server can start on it.
fn copy_dump(srv: &Server, name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ochre-snap-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(srv.dir.join("dump.rdb"), dir.join("dump.rdb")).unwrap();
    dir
}

/// Fills databases 0 and 2 with every type, some keys with a TTL.
fn fill(c: &mut Connection, n: usize) {
    let _: () = redis::cmd("DEBUG").arg("POPULATE").arg(n).arg("key").query(c).unwrap();
    let _: () = redis::cmd("SELECT").arg(2).query(c).unwrap();
    let _: () = redis::cmd("DEBUG")
        .arg("POPULATE")
        .arg(n / 10)
        .arg("two")
        .query(c)
        .unwrap();
    for i in 0..50 {
        let _: () = redis::cmd("RPUSH")
            .arg(format!("list{i}"))
            .arg(&[1, 2, 3])
            .query(c)
            .unwrap();
        let _: () = redis::cmd("HSET")
            .arg(format!("hash{i}"))
            .arg("f")
            .arg(i)
            .query(c)
            .unwrap();
        let _: () = redis::cmd("SADD")
            .arg(format!("set{i}"))
            .arg(&["a", "b"])
            .query(c)
            .unwrap();
        let _: () = redis::cmd("ZADD")
            .arg(format!("zset{i}"))
            .arg(1.5)
            .arg("m")
            .query(c)
            .unwrap();
        let _: () = redis::cmd("PEXPIRE")
            .arg(format!("list{i}"))
            .arg(1_000_000)
            .query(c)
            .unwrap();
    }
    let _: () = redis::cmd("SELECT").arg(0).query(c).unwrap();
}

/// Starts a server on `dir`'s dump and returns its DEBUG DIGEST.
fn digest_after_restart(dir: &std::path::Path) -> String {
    let srv = Server::start_with(&["--dir", dir.to_str().unwrap()]);
    digest(&mut srv.client())
}

#[test]
fn bgsave_writes_the_dataset_as_it_was_while_a_writer_changes_it() {
    let srv = Server::start();
    let mut c = srv.client();
    fill(&mut c, 20_000);
    let before = digest(&mut c);
    // Slow the walk down (40 µs per key: about a second) so the writer runs during it.
    config_set(&mut c, "rdb-key-save-delay", "40");
    let reply: String = redis::cmd("BGSAVE").query(&mut c).unwrap();
    assert_eq!(reply, "Background saving started");
    let mut w = srv.client();
    let mut ops_during = 0;
    let mut i = 0u64;
    while info_field(&mut c, "rdb_bgsave_in_progress") == "1" {
        for _ in 0..50 {
            let k = format!("key:{}", i * 7919 % 20_000);
            let _: () = redis::cmd("SET").arg(&k).arg("changed").query(&mut w).unwrap();
            let _: () = redis::cmd("DEL")
                .arg(format!("key:{}", i * 104_729 % 20_000))
                .query(&mut w)
                .unwrap();
            let _: () = redis::cmd("SET").arg(format!("new:{i}")).arg(i).query(&mut w).unwrap();
            let _: () = redis::cmd("SELECT").arg(2).query(&mut w).unwrap();
            let _: () = redis::cmd("DEL")
                .arg(format!("two:{}", i % 2000))
                .query(&mut w)
                .unwrap();
            let _: () = redis::cmd("RPUSH")
                .arg(format!("list{}", i % 50))
                .arg("x")
                .query(&mut w)
                .unwrap();
            let _: () = redis::cmd("SELECT").arg(0).query(&mut w).unwrap();
            i += 1;
        }
        ops_during += 1;
    }
    assert!(ops_during > 2, "the writer did not run during the save");
    assert_eq!(info_field(&mut c, "rdb_last_bgsave_status"), "ok");
    assert_ne!(digest(&mut c), before, "the writer changed nothing");
    let dir = copy_dump(&srv, "writer");
    assert_eq!(digest_after_restart(&dir), before);
    // The same file loads into redis-server 7.0.15 with the same content.
    if let Some(r) = common::Reference::start_in(&dir) {
        let mut raw = r.raw();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut d = raw.cmd_str(&["DEBUG", "DIGEST"]);
        while d.starts_with("-LOADING") && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            d = raw.cmd_str(&["DEBUG", "DIGEST"]);
        }
        assert_eq!(d, format!("+{before}\r\n"));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn swapdb_and_flushdb_during_a_slow_bgsave_keep_the_instant() {
    let srv = Server::start();
    let mut c = srv.client();
    for i in 0..300 {
        let _: () = redis::cmd("SET").arg(format!("a{i}")).arg(i).query(&mut c).unwrap();
    }
    let _: () = redis::cmd("SELECT").arg(1).query(&mut c).unwrap();
    for i in 0..300 {
        let _: () = redis::cmd("SET").arg(format!("b{i}")).arg(i).query(&mut c).unwrap();
    }
    let _: () = redis::cmd("SELECT").arg(0).query(&mut c).unwrap();
    let before = digest(&mut c);
    // 600 keys at 2 ms each: more than a second of walk.
    config_set(&mut c, "rdb-key-save-delay", "2000");
    let _: String = redis::cmd("BGSAVE").query(&mut c).unwrap();
    assert_eq!(info_field(&mut c, "rdb_bgsave_in_progress"), "1");
    assert_eq!(info_field(&mut c, "current_save_keys_total"), "600");
    // Moves pending content between databases, then empties one of them (db 0 now holds b*).
    let _: () = redis::cmd("SWAPDB").arg(0).arg(1).query(&mut c).unwrap();
    let _: () = redis::cmd("FLUSHDB").arg("ASYNC").query(&mut c).unwrap();
    let _: () = redis::cmd("SET").arg("after").arg("1").query(&mut c).unwrap();
    let _: () = redis::cmd("SWAPDB").arg(0).arg(1).query(&mut c).unwrap();
    let _: () = redis::cmd("DEL").arg("a1").arg("a2").query(&mut c).unwrap();
    wait_bgsave_done(&mut c);
    assert_eq!(info_field(&mut c, "rdb_last_bgsave_status"), "ok");
    let dir = copy_dump(&srv, "swapdb");
    let srv2 = Server::start_with(&["--dir", dir.to_str().unwrap()]);
    let mut c2 = srv2.client();
    assert_eq!(digest(&mut c2), before);
    let a: String = redis::cmd("GET").arg("a1").query(&mut c2).unwrap();
    assert_eq!(a, "1");
    let _: () = redis::cmd("SELECT").arg(1).query(&mut c2).unwrap();
    let n: i64 = redis::cmd("DBSIZE").query(&mut c2).unwrap();
    assert_eq!(n, 300);
    let b: String = redis::cmd("GET").arg("b7").query(&mut c2).unwrap();
    assert_eq!(b, "7");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn flushall_aborts_a_running_bgsave_and_keeps_the_last_dump() {
    let srv = Server::start();
    let mut c = srv.client();
    let _: () = redis::cmd("SET").arg("old").arg("1").query(&mut c).unwrap();
    let _: () = redis::cmd("SAVE").query(&mut c).unwrap();
    let saved = std::fs::read(srv.dir.join("dump.rdb")).unwrap();
    let _: () = redis::cmd("DEBUG").arg("POPULATE").arg(2000).query(&mut c).unwrap();
    config_set(&mut c, "rdb-key-save-delay", "1000");
    let _: String = redis::cmd("BGSAVE").query(&mut c).unwrap();
    let temp = srv.dir.join(format!("temp-{}.rdb", pid(&mut c)));
    assert!(temp.exists(), "no temporary file while saving");
    let t = Instant::now();
    let _: () = redis::cmd("FLUSHALL").query(&mut c).unwrap();
    wait_bgsave_done(&mut c);
    assert!(t.elapsed() < Duration::from_secs(1), "BGSAVE was not aborted");
    // Aborted, not failed: writes are still accepted and the change counter was not reset.
    assert_eq!(info_field(&mut c, "rdb_last_bgsave_status"), "ok");
    let changes: u64 = info_field(&mut c, "rdb_changes_since_last_save").parse().unwrap();
    assert!(changes > 1000, "{changes}");
    let _: () = redis::cmd("SET").arg("x").arg("1").query(&mut c).unwrap();
    assert!(!temp.exists(), "the temporary file was left behind");
    assert_eq!(std::fs::read(srv.dir.join("dump.rdb")).unwrap(), saved);
}

fn pid(c: &mut Connection) -> String {
    let info: String = redis::cmd("INFO").arg("server").query(c).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("process_id:").map(str::to_string))
        .unwrap()
}

#[test]
fn save_and_bgsave_while_a_bgsave_runs_are_refused() {
    let srv = Server::start();
    let mut c = srv.client();
    let _: () = redis::cmd("DEBUG").arg("POPULATE").arg(200).query(&mut c).unwrap();
    config_set(&mut c, "rdb-key-save-delay", "5000");
    let mut raw = srv.raw();
    assert_eq!(raw.cmd_str(&["BGSAVE", "now"]), "-ERR syntax error\r\n");
    assert_eq!(raw.cmd_str(&["BGSAVE"]), "+Background saving started\r\n");
    assert_eq!(raw.cmd_str(&["BGSAVE"]), "-ERR Background save already in progress\r\n");
    assert_eq!(
        raw.cmd_str(&["BGSAVE", "SCHEDULE"]),
        "-ERR Background save already in progress\r\n"
    );
    assert_eq!(raw.cmd_str(&["SAVE"]), "-ERR Background save already in progress\r\n");
    let secs: i64 = info_field(&mut c, "rdb_current_bgsave_time_sec").parse().unwrap();
    assert!(secs >= 0);
    let _: () = redis::cmd("FLUSHALL").query(&mut c).unwrap();
    wait_bgsave_done(&mut c);
    assert_eq!(info_field(&mut c, "rdb_current_bgsave_time_sec"), "-1");
    // Inside a transaction BGSAVE is only scheduled; the cron starts it.
    config_set(&mut c, "rdb-key-save-delay", "0");
    assert_eq!(raw.cmd_str(&["MULTI"]), "+OK\r\n");
    assert_eq!(raw.cmd_str(&["BGSAVE"]), "+QUEUED\r\n");
    assert_eq!(raw.cmd_str(&["EXEC"]), "*1\r\n+Background saving scheduled\r\n");
    let saves = |c: &mut Connection| info_field(c, "rdb_saves");
    let deadline = Instant::now() + Duration::from_secs(5);
    while saves(&mut c) == "0" {
        assert!(Instant::now() < deadline, "scheduled BGSAVE never ran");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn shutdown_save_during_a_bgsave_stops_it_and_saves() {
    let srv = Server::start();
    let mut c = srv.client();
    let _: () = redis::cmd("DEBUG").arg("POPULATE").arg(1000).query(&mut c).unwrap();
    config_set(&mut c, "rdb-key-save-delay", "100000");
    let _: String = redis::cmd("BGSAVE").query(&mut c).unwrap();
    let _: () = redis::cmd("SET").arg("late").arg("1").query(&mut c).unwrap();
    config_set(&mut c, "rdb-key-save-delay", "0");
    let t = Instant::now();
    let _ = redis::cmd("SHUTDOWN").arg("SAVE").query::<()>(&mut c);
    let dump = srv.dir.join("dump.rdb");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !dump.exists() {
        assert!(Instant::now() < deadline, "no dump after SHUTDOWN SAVE");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "SHUTDOWN waited for the slow BGSAVE"
    );
    let dir = copy_dump(&srv, "shutdown");
    let srv2 = Server::start_with(&["--dir", dir.to_str().unwrap()]);
    let mut c2 = srv2.client();
    let n: i64 = redis::cmd("DBSIZE").query(&mut c2).unwrap();
    assert_eq!(n, 1001, "the final save holds the late write");
    let _ = std::fs::remove_dir_all(&dir);
}
