//! CONFIG GET/SET/RESETSTAT/REWRITE/HELP against a real server.

mod common;

fn text(b: Vec<u8>) -> String {
    String::from_utf8_lossy(&b).into_owned()
}

#[test]
fn config_get_patterns_and_hidden() {
    let srv = common::Server::start();
    let mut raw = srv.raw();
    assert_eq!(
        raw.cmd(&[b"CONFIG", b"GET", b"maxmemory"]),
        b"*2\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n"
    );
    let many = text(raw.cmd(&[b"CONFIG", b"GET", b"maxmemory", b"maxmemory*", b"bind", b"*of"]));
    assert_eq!(many.matches("$9\r\nmaxmemory\r\n").count(), 1, "no duplicates");
    assert!(many.contains("slaveof") && many.contains("replicaof") && many.contains("maxmemory-clients"));
    let all = text(raw.cmd(&[b"CONFIG", b"GET", b"*"]));
    assert!(!all.contains("key-load-delay") && !all.contains("$7\r\nthreads\r\n"));
    assert!(text(raw.cmd(&[b"CONFIG", b"GET", b"key-load-delay"])).contains("key-load-delay"));
    assert_eq!(
        raw.cmd(&[b"CONFIG", b"GET"]),
        b"-ERR wrong number of arguments for 'config|get' command\r\n"
    );
    let help = text(raw.cmd(&[b"CONFIG", b"HELP"]));
    assert!(help.starts_with("*11\r\n+CONFIG <subcommand>") && help.contains("+REWRITE\r\n"));
}

#[test]
fn config_set_errors_and_atomicity() {
    let srv = common::Server::start();
    let mut raw = srv.raw();
    assert_eq!(
        raw.cmd(&[b"CONFIG", b"SET", b"nosuch", b"1"]),
        b"-ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'\r\n"
    );
    assert_eq!(
        raw.cmd(&[b"CONFIG", b"SET", b"maxmemory", b"1", b"hz"]),
        b"-ERR Unknown option or number of arguments for CONFIG SET - 'hz'\r\n"
    );
    assert!(
        text(raw.cmd(&[b"CONFIG", b"SET", b"maxmemory", b"1", b"maxmemory", b"2"])).contains("duplicate parameter")
    );
    assert!(text(raw.cmd(&[b"CONFIG", b"SET", b"daemonize", b"yes"])).contains("can't set immutable config"));
    assert_eq!(raw.cmd(&[b"CONFIG", b"SET", b"maxmemory", b"10000002"]), b"+OK\r\n");
    assert_eq!(
        raw.cmd(&[b"CONFIG", b"SET", b"maxmemory", b"10000001", b"maxmemory-clients", b"200%", b"client-query-buffer-limit", b"invalid"]),
        b"-ERR CONFIG SET failed (possibly related to argument 'maxmemory-clients') - percentage argument must be less or equal to 100\r\n"
    );
    assert_eq!(
        raw.cmd(&[b"CONFIG", b"GET", b"maxmemory"]),
        b"*2\r\n$9\r\nmaxmemory\r\n$8\r\n10000002\r\n"
    );
    assert_eq!(
        raw.cmd(&[
            b"CONFIG",
            b"SET",
            b"maxmemory",
            b"10000001",
            b"hz",
            b"20",
            b"save",
            b"3000 5"
        ]),
        b"+OK\r\n"
    );
    assert_eq!(
        raw.cmd(&[b"CONFIG", b"GET", b"save"]),
        b"*2\r\n$4\r\nsave\r\n$6\r\n3000 5\r\n"
    );
    assert_eq!(
        raw.cmd(&[b"CONFIG", b"SET", b"shutdown-on-sigint", b"force now nosave"]),
        b"+OK\r\n"
    );
    assert_eq!(
        raw.cmd(&[b"CONFIG", b"GET", b"shutdown-on-sigint"]),
        b"*2\r\n$18\r\nshutdown-on-sigint\r\n$16\r\nnosave now force\r\n"
    );
    assert_eq!(
        raw.cmd(&[b"CONFIG", b"SET", b"latency-tracking-info-percentiles", b"50.0 99.9"]),
        b"+OK\r\n"
    );
    assert!(text(raw.cmd(&[b"CONFIG", b"GET", b"latency-tracking-info-percentiles"])).contains("$7\r\n50 99.9\r\n"));
}

#[test]
fn config_set_port_rolls_back_when_unbindable() {
    let srv = common::Server::start();
    let mut raw = srv.raw();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = busy.local_addr().expect("addr").port().to_string();
    assert_eq!(
        raw.cmd(&[b"CONFIG", b"SET", b"maxmemory", b"10000001", b"port", port.as_bytes()]),
        b"-ERR CONFIG SET failed (possibly related to argument 'port') - Unable to listen on this port\r\n"
    );
    assert_eq!(
        raw.cmd(&[b"CONFIG", b"GET", b"maxmemory"]),
        b"*2\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n"
    );
    let p = srv.port.to_string();
    assert_eq!(
        raw.cmd(&[b"CONFIG", b"GET", b"port"]),
        format!("*2\r\n$4\r\nport\r\n${}\r\n{p}\r\n", p.len()).into_bytes()
    );
    assert_eq!(srv.raw().cmd(&[b"PING"]), b"+PONG\r\n");
}

#[test]
fn config_set_side_effects_and_requirepass() {
    let srv = common::Server::start();
    let mut raw = srv.raw();
    assert_eq!(raw.cmd(&[b"CONFIG", b"SET", b"requirepass", b"pw"]), b"+OK\r\n");
    let mut other = srv.raw();
    assert_eq!(other.cmd(&[b"GET", b"k"]), b"-NOAUTH Authentication required.\r\n");
    assert_eq!(other.cmd(&[b"AUTH", b"pw"]), b"+OK\r\n");
    assert_eq!(raw.cmd(&[b"CONFIG", b"SET", b"requirepass", b""]), b"+OK\r\n");
    assert_eq!(raw.cmd(&[b"CONFIG", b"SET", b"maxclients", b"3"]), b"+OK\r\n");
    // raw, other and b make three clients: the fourth is turned away.
    let mut b = srv.raw();
    assert_eq!(b.cmd(&[b"PING"]), b"+PONG\r\n");
    let mut d = srv.raw();
    assert_eq!(d.read_reply(), b"-ERR max number of clients reached\r\n");
    assert!(raw.cmd(&[b"CONFIG", b"SET", b"loglevel", b"bogus"]).starts_with(
        b"-ERR CONFIG SET failed (possibly related to argument 'loglevel') - argument(s) must be one of the following:"
    ));
}

#[test]
fn config_resetstat_clears_stats() {
    let srv = common::Server::start();
    let mut raw = srv.raw();
    raw.cmd(&[b"SET", b"a", b"b"]);
    raw.cmd(&[b"NOSUCH"]);
    assert_eq!(raw.cmd(&[b"CONFIG", b"RESETSTAT"]), b"+OK\r\n");
    let info = text(raw.cmd(&[b"INFO", b"commandstats", b"errorstats", b"stats"]));
    assert!(!info.contains("cmdstat_set"), "{info}");
    assert!(!info.contains("errorstat_ERR"));
    assert!(info.contains("total_error_replies:0\r\n"));
}

#[test]
fn config_rewrite_without_and_with_file() {
    let srv = common::Server::start();
    let mut raw = srv.raw();
    assert_eq!(
        raw.cmd(&[b"CONFIG", b"REWRITE"]),
        b"-ERR The server is running without a config file\r\n"
    );

    let dir = std::env::temp_dir().join(format!("ochre-rewrite-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("ochre.conf");
    std::fs::write(
        &file,
        "# my comment\nmaxmemory 100\nhash-max-ziplist-entries 21\nmaxmemory 200\nrename-command flushdb badger\n",
    )
    .expect("write conf");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ochre-server"))
        .arg(&file)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let mut ok = false;
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            ok = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(ok, "server with config file started");
    let con = redis::Client::open(format!("redis://127.0.0.1:{port}/")).expect("client");
    let mut con = con.get_connection().expect("connect");
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg("300")
        .query(&mut con)
        .expect("set");
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("hash-max-listpack-entries")
        .arg("100")
        .query(&mut con)
        .expect("set");
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("save")
        .arg("")
        .query(&mut con)
        .expect("set");
    let r: String = redis::cmd("CONFIG").arg("REWRITE").query(&mut con).expect("rewrite");
    assert_eq!(r, "OK");
    let _ = child.kill();
    let _ = child.wait();
    let out = std::fs::read_to_string(&file).expect("read");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "# my comment");
    assert_eq!(lines[1], "maxmemory 300");
    assert_eq!(lines[2], "hash-max-listpack-entries 100");
    assert_eq!(lines[3], "rename-command flushdb badger", "{out}");
    assert_eq!(out.matches("maxmemory ").count(), 1, "{out}");
    assert!(out.contains("# Generated by CONFIG REWRITE\n"));
    assert!(out.contains("\nsave \"\"\n"), "{out}");
    assert!(out.contains("\nport "));
    let _ = std::fs::remove_dir_all(&dir);
}
