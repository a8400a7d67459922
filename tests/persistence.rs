//! The dump file: SAVE, BGSAVE, loading at start-up, saving at SHUTDOWN, save rules, and the
//! MISCONF refusal after a failed background save.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A server process killed when dropped, so a failing test never leaves one behind.
struct Proc(std::process::Child);

impl Proc {
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
    fn wait(&mut self) {
        let _ = self.0.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts a server in `dir` with `args`, returning the process and a connection.
fn start(dir: &std::path::Path, args: &[&str]) -> (Proc, redis::Connection, u16) {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_ochre-server"))
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--dir"])
        .arg(dir)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = Proc(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(c) = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
            .unwrap()
            .get_connection()
        {
            return (child, c, port);
        }
        if Instant::now() > deadline {
            child.kill();
            panic!("server did not start");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn tmpdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("ochre-persist-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn save_then_restart_keeps_keys_and_ttls() {
    let dir = tmpdir("save");
    let (mut child, mut c, _) = start(&dir, &["--save", ""]);
    let _: () = redis::cmd("SET").arg("a").arg("1").query(&mut c).unwrap();
    let _: () = redis::cmd("SET")
        .arg("b")
        .arg("hello")
        .arg("EX")
        .arg("1000")
        .query(&mut c)
        .unwrap();
    let _: () = redis::cmd("SELECT").arg("3").query(&mut c).unwrap();
    let _: () = redis::cmd("SET").arg("c").arg("x".repeat(100)).query(&mut c).unwrap();
    let ok: String = redis::cmd("SAVE").query(&mut c).unwrap();
    assert_eq!(ok, "OK");
    let dirty: String = redis::cmd("INFO").arg("persistence").query(&mut c).unwrap();
    assert!(dirty.contains("rdb_changes_since_last_save:0"), "{dirty}");
    child.kill();
    assert!(dir.join("dump.rdb").exists());

    let (mut child, mut c, _) = start(&dir, &["--save", ""]);
    let a: String = redis::cmd("GET").arg("a").query(&mut c).unwrap();
    assert_eq!(a, "1");
    let ttl: i64 = redis::cmd("TTL").arg("b").query(&mut c).unwrap();
    assert!(ttl > 990 && ttl <= 1000, "ttl {ttl}");
    let _: () = redis::cmd("SELECT").arg("3").query(&mut c).unwrap();
    let cv: String = redis::cmd("GET").arg("c").query(&mut c).unwrap();
    assert_eq!(cv, "x".repeat(100));
    child.kill();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bgsave_and_shutdown_save() {
    let dir = tmpdir("bgsave");
    let (mut child, mut c, _) = start(&dir, &["--save", ""]);
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut c).unwrap();
    let r: String = redis::cmd("BGSAVE").query(&mut c).unwrap();
    assert_eq!(r, "Background saving started");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info: String = redis::cmd("INFO").arg("persistence").query(&mut c).unwrap();
        if info.contains("rdb_bgsave_in_progress:0") && info.contains("rdb_saves:1") {
            assert!(info.contains("rdb_last_bgsave_status:ok"));
            break;
        }
        assert!(Instant::now() < deadline, "bgsave did not finish: {info}");
        std::thread::sleep(Duration::from_millis(20));
    }
    // SHUTDOWN SAVE writes the newest data even without save points.
    let _: () = redis::cmd("SET").arg("k").arg("v2").query(&mut c).unwrap();
    let _ = redis::cmd("SHUTDOWN").arg("SAVE").query::<()>(&mut c);
    child.wait();
    let (mut child, mut c, _) = start(&dir, &["--save", ""]);
    let v: String = redis::cmd("GET").arg("k").query(&mut c).unwrap();
    assert_eq!(v, "v2");
    // SHUTDOWN NOSAVE does not.
    let _: () = redis::cmd("SET").arg("k").arg("v3").query(&mut c).unwrap();
    let _ = redis::cmd("SHUTDOWN").arg("NOSAVE").query::<()>(&mut c);
    child.wait();
    let (mut child, mut c, _) = start(&dir, &["--save", ""]);
    let v: String = redis::cmd("GET").arg("k").query(&mut c).unwrap();
    assert_eq!(v, "v2");
    child.kill();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn save_rules_trigger_a_background_save() {
    let dir = tmpdir("rules");
    let (mut child, mut c, _) = start(&dir, &["--save", "1 2"]);
    for i in 0..3 {
        let _: () = redis::cmd("SET").arg(format!("k{i}")).arg(i).query(&mut c).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !dir.join("dump.rdb").exists() {
        assert!(Instant::now() < deadline, "save rule did not fire");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn failed_bgsave_refuses_writes_with_misconf() {
    let dir = tmpdir("misconf");
    let (mut child, mut c, port) = start(&dir, &["--save", "1000 1000", "--enable-protected-configs", "yes"]);
    // A dump file name inside a directory that does not exist cannot be written.
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("dbfilename")
        .arg("nodir/dump.rdb")
        .query(&mut c)
        .unwrap();
    let _: String = redis::cmd("BGSAVE").query(&mut c).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info: String = redis::cmd("INFO").arg("persistence").query(&mut c).unwrap();
        if info.contains("rdb_last_bgsave_status:err") {
            break;
        }
        assert!(Instant::now() < deadline, "bgsave did not fail: {info}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut raw = common::Raw {
        s: std::net::TcpStream::connect(("127.0.0.1", port)).unwrap(),
    };
    let reply = raw.cmd(&[b"SET", b"k", b"v"]);
    assert!(
        reply.starts_with(b"-MISCONF Redis is configured to save RDB snapshots"),
        "{reply:?}"
    );
    assert_eq!(raw.cmd(&[b"GET", b"k"]), b"$-1\r\n");
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("stop-writes-on-bgsave-error")
        .arg("no")
        .query(&mut c)
        .unwrap();
    assert_eq!(raw.cmd(&[b"SET", b"k", b"v"]), b"+OK\r\n");
    child.kill();
    let _ = std::fs::remove_dir_all(&dir);
}
