//! The start-up load as Redis runs it: clients are accepted while the dump loads and get
//! `-LOADING` for everything but `loading` commands (INFO, DEBUG, CONFIG...); INFO shows
//! `loading:1` with its progress fields; `key-load-delay` slows the load; keys whose TTL passed
//! are skipped and counted in `rdb_last_load_keys_expired`.

mod common;

use common::{tmpdir, DirServer, Raw};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn raw(port: u16) -> Option<Raw> {
    let s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    Some(Raw { s })
}

fn info_field(info: &str, name: &str) -> Option<String> {
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")).map(|v| v.trim().to_string()))
}

#[test]
fn clients_get_loading_while_the_dump_loads() {
    let dir = tmpdir("loading");
    {
        let srv = DirServer::spawn(&dir, &[]).expect("server");
        let mut con = srv.con();
        let _: String = redis::cmd("DEBUG")
            .arg("POPULATE")
            .arg(1000)
            .query(&mut con)
            .expect("populate");
        let _: () = redis::cmd("DEBUG")
            .arg("SET-ACTIVE-EXPIRE")
            .arg(0)
            .query(&mut con)
            .expect("no expire");
        for i in 0..50 {
            let _: () = redis::cmd("SET")
                .arg(format!("ttl:{i}"))
                .arg("v")
                .arg("PX")
                .arg(5)
                .query(&mut con)
                .expect("set");
        }
        std::thread::sleep(Duration::from_millis(20));
        let _: String = redis::cmd("SAVE").query(&mut con).expect("save");
    }
    // 1,050 keys at 2 ms each: the load takes about two seconds.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let child = Command::new(env!("CARGO_BIN_EXE_ochre-server"))
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""])
        .arg("--dir")
        .arg(&dir)
        .args(["--enable-debug-command", "yes", "--key-load-delay", "2000"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut srv = DirServer { port, child };
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut r = loop {
        if let Some(r) = raw(port) {
            break r;
        }
        assert!(Instant::now() < deadline, "server did not listen");
        std::thread::sleep(Duration::from_millis(5));
    };
    assert_eq!(
        r.cmd(&[b"PING"]),
        b"-LOADING Redis is loading the dataset in memory\r\n"
    );
    assert_eq!(
        r.cmd(&[b"GET", b"key:1"]),
        b"-LOADING Redis is loading the dataset in memory\r\n"
    );
    // `loading` commands run.
    assert_eq!(r.cmd(&[b"DEBUG", b"LOG", b"hello"]), b"+OK\r\n");
    // CONFIG SET works, except for what the load depends on (Redis's DENY_LOADING_CONFIG),
    // which answers LOADING even beside a parameter that would fail otherwise.
    assert_eq!(r.cmd(&[b"CONFIG", b"SET", b"loglevel", b"debug"]), b"+OK\r\n");
    for args in [
        &[&b"CONFIG"[..], b"SET", b"dir", b"asdf"][..],
        &[b"CONFIG", b"SET", b"appendonly", b"yes"],
        &[b"CONFIG", b"SET", b"maxmemory", b"x", b"dir", b"asdf"],
    ] {
        assert_eq!(r.cmd(args), b"-LOADING Redis is loading the dataset in memory\r\n");
    }
    let info = String::from_utf8_lossy(&r.cmd(&[b"INFO", b"persistence"])).to_string();
    assert_eq!(info_field(&info, "loading").as_deref(), Some("1"), "{info}");
    let total: u64 = info_field(&info, "loading_total_bytes")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(total > 10_000, "{info}");
    for f in [
        "loading_start_time",
        "loading_loaded_bytes",
        "loading_loaded_perc",
        "loading_eta_seconds",
    ] {
        assert!(info_field(&info, f).is_some(), "{f} missing: {info}");
    }
    // Progress moves while loading.
    std::thread::sleep(Duration::from_millis(500));
    let info = String::from_utf8_lossy(&r.cmd(&[b"INFO", b"persistence"])).to_string();
    let loaded: u64 = info_field(&info, "loading_loaded_bytes")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(loaded > 0 && loaded < total, "{info}");
    // Then the data is served.
    let deadline = Instant::now() + Duration::from_secs(20);
    while r.cmd(&[b"PING"]) != b"+PONG\r\n" {
        assert!(Instant::now() < deadline, "load did not finish");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(r.cmd(&[b"DBSIZE"]), b":1000\r\n");
    let info = String::from_utf8_lossy(&r.cmd(&[b"INFO", b"persistence"])).to_string();
    assert_eq!(info_field(&info, "loading").as_deref(), Some("0"));
    assert_eq!(info_field(&info, "loading_total_bytes"), None);
    assert_eq!(info_field(&info, "rdb_last_load_keys_loaded").as_deref(), Some("1000"));
    assert_eq!(info_field(&info, "rdb_last_load_keys_expired").as_deref(), Some("50"));
    assert!(matches!(srv.child.try_wait(), Ok(None)));
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn debug_reload_records_the_load_counts() {
    let dir = tmpdir("reloadcounts");
    let srv = DirServer::spawn(&dir, &[]).expect("server");
    let mut con = srv.con();
    let _: String = redis::cmd("DEBUG")
        .arg("POPULATE")
        .arg(10)
        .query(&mut con)
        .expect("populate");
    let _: String = redis::cmd("DEBUG").arg("RELOAD").query(&mut con).expect("reload");
    let info: String = redis::cmd("INFO").arg("persistence").query(&mut con).expect("info");
    assert_eq!(info_field(&info, "rdb_last_load_keys_loaded").as_deref(), Some("10"));
    assert_eq!(info_field(&info, "rdb_last_load_keys_expired").as_deref(), Some("0"));
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}
