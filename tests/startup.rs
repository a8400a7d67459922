//! Start-up: command line, config files, environment variables, fatal config errors, the log lines
//! tools wait for, and a clear message when the port is taken.

mod common;

use std::process::Command;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_ochre-server")
}

/// Runs the server expecting it to exit (bad config, --version...), returning (code, stdout, stderr).
fn run_to_exit(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin()).args(args).output().expect("run ochre-server");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn version_and_help() {
    let (code, out, _) = run_to_exit(&["--version"]);
    assert_eq!(code, 0);
    assert!(out.contains("v=") && out.contains("7.0.15"), "{out}");
    let (code, _, err) = run_to_exit(&["--help"]);
    assert_eq!(code, 0);
    assert!(err.contains("Usage:"), "{err}");
}

#[test]
fn bad_directives_are_fatal_with_redis_text() {
    let (code, _, err) = run_to_exit(&["--port"]);
    assert_eq!(code, 1);
    assert!(err.contains("*** FATAL CONFIG FILE ERROR"), "{err}");
    assert!(
        err.contains("'port'") && err.contains("wrong number of arguments"),
        "{err}"
    );

    let (_, _, err) = run_to_exit(&["--port", "6379", "6380"]);
    assert!(
        err.contains("'port \"6379\" \"6380\"'") && err.contains("wrong number of arguments"),
        "{err}"
    );

    let (_, _, err) = run_to_exit(&["--no-such-directive", "1"]);
    assert!(err.contains("Bad directive or wrong number of arguments"), "{err}");

    let (_, _, err) = run_to_exit(&["--maxclients", "abc"]);
    assert!(err.contains("argument couldn't be parsed into an integer"), "{err}");

    let (_, _, err) = run_to_exit(&["--appendonly", "maybe"]);
    assert!(err.contains("argument must be 'yes' or 'no'"), "{err}");
}

#[test]
fn config_file_with_quotes_include_and_several_saves() {
    let dir = std::env::temp_dir().join(format!("ochre-startup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let inc = dir.join("inc.conf");
    std::fs::write(&inc, "maxclients 123\n").unwrap();
    let main = dir.join("ochre.conf");
    std::fs::write(
        &main,
        format!(
            "# comment\n\nsave 900 1\nsave 300 10\nrequirepass \"pa ss\"\ninclude {}\nloglevel warning\nlist-max-ziplist-size -2\n",
            inc.display()
        ),
    )
    .unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut child = Command::new(bin())
        .arg(&main)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--maxclients", "77"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("redis://:pa%20ss@127.0.0.1:{port}/");
    let mut con = None;
    for _ in 0..200 {
        if let Ok(c) = redis::Client::open(url.as_str()).unwrap().get_connection() {
            con = Some(c);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    let mut con = con.expect("server with config file did not start");
    let get = |con: &mut redis::Connection, k: &str| -> String {
        let v: Vec<String> = redis::cmd("CONFIG").arg("GET").arg(k).query(con).unwrap();
        v[1].clone()
    };
    assert_eq!(get(&mut con, "save"), "900 1 300 10");
    // The command line wins over the file, which wins over the include before it.
    assert_eq!(get(&mut con, "maxclients"), "77");
    assert_eq!(get(&mut con, "loglevel"), "warning");
    assert_eq!(get(&mut con, "requirepass"), "pa ss");
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn environment_overrides_defaults() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut child = Command::new(bin())
        .env("OCHRE_PORT", port.to_string())
        .env("OCHRE_BIND", "127.0.0.1")
        .env("OCHRE_MAXCLIENTS", "42")
        .args(["--save", ""])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut con = None;
    for _ in 0..200 {
        if let Ok(c) = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
            .unwrap()
            .get_connection()
        {
            con = Some(c);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    let mut con = con.expect("server configured by OCHRE_PORT did not start");
    let v: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxclients")
        .query(&mut con)
        .unwrap();
    assert_eq!(v[1], "42");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn log_lines_and_port_in_use() {
    let srv = common::Server::start();
    let out = Command::new(bin())
        .args([
            "--port",
            &srv.port.to_string(),
            "--bind",
            "127.0.0.1",
            "--always-show-logo",
            "yes",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(text.contains(&format!(" PID: {}", out_pid(&text))), "{text}");
    assert!(text.contains("Address already in use"), "{text}");
    assert!(
        text.contains(&format!("Failed listening on port {} (TCP), aborting.", srv.port)),
        "{text}"
    );
}

/// The pid printed in the log lines (`<pid>:M ...`).
fn out_pid(log: &str) -> String {
    log.lines()
        .find_map(|l| {
            l.split(':')
                .next()
                .filter(|p| p.chars().all(|c| c.is_ascii_digit()) && !p.is_empty())
        })
        .unwrap_or("")
        .to_string()
}

#[test]
fn ready_line_is_logged() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dir = std::env::temp_dir().join(format!("ochre-log-{}", port));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("ochre.log");
    let mut child = Command::new(bin())
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--logfile"])
        .arg(&log)
        .spawn()
        .unwrap();
    let mut text = String::new();
    for _ in 0..200 {
        text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("Ready to accept connections") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(text.contains("Server initialized"), "{text}");
    assert!(text.contains("Ready to accept connections"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn idle_clients_are_closed_after_timeout() {
    let srv = common::Server::start_with(&["--timeout", "1"]);
    let mut idle = srv.raw();
    assert_eq!(idle.cmd(&[b"PING"]), b"+PONG\r\n");
    idle.s
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    // Within about 2 seconds the server closes the idle connection.
    assert!(idle.closed(), "idle client was not closed");
}

#[test]
fn config_set_port_moves_the_listener() {
    let srv = common::Server::start();
    let new_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut c = srv.raw();
    assert_eq!(
        c.cmd(&[b"CONFIG", b"SET", b"port", new_port.to_string().as_bytes()]),
        b"+OK\r\n"
    );
    // The old port is closed, the new one answers.
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", srv.port)).is_err(),
        "old port still open"
    );
    let s = std::net::TcpStream::connect(("127.0.0.1", new_port)).expect("new port");
    let mut r = common::Raw { s };
    assert_eq!(r.cmd(&[b"PING"]), b"+PONG\r\n");
    // A port in use is refused and the server keeps the one it has.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_port = busy.local_addr().unwrap().port().to_string();
    let reply = r.cmd(&[b"CONFIG", b"SET", b"port", busy_port.as_bytes()]);
    assert!(
        String::from_utf8_lossy(&reply).contains("Unable to listen on this port"),
        "{reply:?}"
    );
    assert_eq!(
        r.cmd(&[b"CONFIG", b"GET", b"port"]),
        format!(
            "*2\r\n$4\r\nport\r\n${}\r\n{}\r\n",
            new_port.to_string().len(),
            new_port
        )
        .into_bytes()
    );
    let reply = r.cmd(&[b"CONFIG", b"SET", b"bind", b"999.999.999.999"]);
    assert!(
        String::from_utf8_lossy(&reply).contains("Failed to bind to specified addresses"),
        "{reply:?}"
    );
    let s = std::net::TcpStream::connect(("127.0.0.1", new_port)).expect("still listening");
    let mut r2 = common::Raw { s };
    assert_eq!(r2.cmd(&[b"PING"]), b"+PONG\r\n");
}

#[test]
fn debug_sleep_stalls_every_worker_like_redis() {
    let srv = common::Server::start_with(&["--threads", "2"]);
    let mut a = srv.raw();
    let mut b = srv.raw();
    // Connections are spread round-robin over the workers, so `a` and `b` run on different ones.
    assert_eq!(b.cmd(&[b"PING"]), b"+PONG\r\n");
    a.send(b"*3\r\n$5\r\nDEBUG\r\n$5\r\nSLEEP\r\n$3\r\n0.5\r\n");
    std::thread::sleep(std::time::Duration::from_millis(100));
    let t = std::time::Instant::now();
    assert_eq!(b.cmd(&[b"PING"]), b"+PONG\r\n");
    assert!(
        t.elapsed() >= std::time::Duration::from_millis(300),
        "PING ran during DEBUG SLEEP: {:?}",
        t.elapsed()
    );
    assert_eq!(a.read_reply(), b"+OK\r\n");
}
