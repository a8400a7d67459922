//! INFO, DBSIZE, FLUSHDB/FLUSHALL/FLUSH, TIME, LASTSAVE, SAVE, BGSAVE, SHUTDOWN, ROLE, LOLWUT,
//! FUNCTION FLUSH against a real server, with Redis's exact replies and errors.

mod common;

fn info(srv: &common::Server, args: &[&str]) -> String {
    let mut con = srv.client();
    let mut c = redis::cmd("INFO");
    for a in args {
        c.arg(*a);
    }
    c.query::<String>(&mut con).expect("info")
}

fn field(text: &str, name: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")).map(|v| v.trim().to_string()))
}

#[test]
fn info_default_sections_and_fields() {
    let srv = common::Server::start();
    let text = info(&srv, &[]);
    for section in [
        "# Server",
        "# Clients",
        "# Memory",
        "# Persistence",
        "# Stats",
        "# Replication",
        "# CPU",
        "# Errorstats",
        "# Cluster",
        "# Keyspace",
    ] {
        assert!(text.contains(section), "missing {section}");
    }
    assert!(!text.contains("# Commandstats"));
    assert!(!text.contains("# Latencystats"));
    assert_eq!(field(&text, "redis_version").as_deref(), Some("7.0.15"));
    assert_eq!(field(&text, "tcp_port"), Some(srv.port.to_string()));
    assert_eq!(field(&text, "role").as_deref(), Some("master"));
    assert_eq!(field(&text, "blocked_clients").as_deref(), Some("0"));
    assert_eq!(field(&text, "loading").as_deref(), Some("0"));
    assert_eq!(field(&text, "run_id").map(|r| r.len()), Some(40));
    assert!(
        field(&text, "used_memory")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            > 0
    );
    assert!(
        text.contains("\r\n\r\n# Clients\r\n"),
        "sections are separated by an empty line"
    );
}

#[test]
fn info_section_selection() {
    let srv = common::Server::start();
    let cpu = info(&srv, &["cpu"]);
    assert!(cpu.starts_with("# CPU\r\n"));
    assert!(cpu.contains("used_cpu_user:"));
    assert!(!cpu.contains("used_memory"));
    let case = info(&srv, &["commandSTATS"]);
    assert!(case.contains("# Commandstats") && case.contains("cmdstat_info:calls="));
    let all = info(&srv, &["all"]);
    assert!(all.contains("rejected_calls") && all.contains("# Latencystats"));
    let everything = info(&srv, &["everything"]);
    assert!(everything.contains("# Modules"));
    let two = info(&srv, &["cpu", "default"]);
    assert_eq!(two.matches("used_cpu_user_children").count(), 1);
    assert!(!two.contains("rejected_calls"));
    assert_eq!(info(&srv, &["nosuchsection"]), "");
}

#[test]
fn info_stats_keyspace_and_errors() {
    let srv = common::Server::start();
    let mut raw = srv.raw();
    raw.cmd(&[b"SET", b"k", b"v"]);
    raw.cmd(&[b"SELECT", b"3"]);
    raw.cmd(&[b"SET", b"k", b"v"]);
    raw.cmd(&[b"SET", b"k"]);
    raw.cmd(&[b"NOSUCH"]);
    let text = info(&srv, &["everything"]);
    assert!(text.contains("db0:keys=1,expires=0,avg_ttl=0\r\n"));
    assert!(text.contains("db3:keys=1,expires=0,avg_ttl=0\r\n"));
    assert!(text.contains("cmdstat_set:calls=2,"));
    assert!(text.contains("rejected_calls=1,failed_calls=0\r\n"));
    assert!(text.contains("errorstat_ERR:count=2\r\n"));
    assert_eq!(field(&text, "total_error_replies").as_deref(), Some("2"));
    assert_eq!(field(&text, "rdb_changes_since_last_save").as_deref(), Some("2"));
    assert!(text.contains("latency_percentiles_usec_set:p50="));
    assert!(
        field(&text, "total_commands_processed")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            >= 4
    );
}

#[test]
fn info_resp3_is_verbatim() {
    let srv = common::Server::start();
    let mut raw = srv.raw();
    raw.cmd(&[b"HELLO", b"3"]);
    let r = raw.cmd(&[b"INFO", b"cluster"]);
    assert_eq!(r, b"=34\r\ntxt:# Cluster\r\ncluster_enabled:0\r\n\r\n".to_vec());
}

#[test]
fn dbsize_and_flushes() {
    let srv = common::Server::start();
    let mut raw = srv.raw();
    for k in [&b"a"[..], b"b", b"c"] {
        raw.cmd(&[b"SET", k, b"1"]);
    }
    assert_eq!(raw.cmd(&[b"DBSIZE"]), b":3\r\n");
    assert_eq!(raw.cmd(&[b"FLUSH"]), b":3\r\n");
    assert_eq!(raw.cmd(&[b"FLUSH", b"ASYNC"]), b":0\r\n");
    raw.cmd(&[b"SET", b"a", b"1"]);
    assert_eq!(raw.cmd(&[b"FLUSHDB", b"bogus"]), b"-ERR syntax error\r\n");
    assert_eq!(raw.cmd(&[b"FLUSHDB", b"sync"]), b"+OK\r\n");
    assert_eq!(raw.cmd(&[b"DBSIZE"]), b":0\r\n");
    raw.cmd(&[b"SELECT", b"2"]);
    raw.cmd(&[b"SET", b"a", b"1"]);
    assert_eq!(raw.cmd(&[b"FLUSHALL", b"ASYNC", b"x"]), b"-ERR syntax error\r\n");
    assert_eq!(raw.cmd(&[b"FLUSHALL", b"ASYNC"]), b"+OK\r\n");
    assert_eq!(raw.cmd(&[b"DBSIZE"]), b":0\r\n");
    assert_eq!(raw.cmd(&[b"FUNCTION", b"FLUSH"]), b"+OK\r\n");
    assert_eq!(
        raw.cmd(&[b"FUNCTION", b"FLUSH", b"nope"]),
        b"-ERR FUNCTION FLUSH only supports SYNC|ASYNC option\r\n"
    );
}

#[test]
fn time_lastsave_save_role_lolwut() {
    let srv = common::Server::start();
    let mut con = srv.client();
    let (secs, us): (i64, i64) = redis::cmd("TIME").query(&mut con).expect("time");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    assert!((secs - now).abs() <= 2 && (0..1_000_000).contains(&us));
    let last: i64 = redis::cmd("LASTSAVE").query(&mut con).expect("lastsave");
    assert!((last - now).abs() <= 10);
    let mut raw = srv.raw();
    raw.cmd(&[b"SET", b"a", b"1"]);
    assert_eq!(raw.cmd(&[b"SAVE"]), b"+OK\r\n");
    assert!(info(&srv, &["persistence"]).contains("rdb_changes_since_last_save:0\r\n"));
    assert_eq!(raw.cmd(&[b"BGSAVE"]), b"+Background saving started\r\n");
    assert_eq!(raw.cmd(&[b"BGSAVE", b"x"]), b"-ERR syntax error\r\n");
    assert_eq!(raw.cmd(&[b"ROLE"]), b"*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n");
    let art = String::from_utf8(raw.cmd(&[b"LOLWUT"])).expect("utf8");
    assert!(art.contains("7.0.15"));
    assert_eq!(
        raw.cmd(&[b"LOLWUT", b"VERSION", b"x"]),
        b"-ERR value is not an integer or out of range\r\n"
    );
}

#[test]
fn shutdown_errors_and_exit() {
    let mut srv = common::Server::start();
    let mut raw = srv.raw();
    assert_eq!(raw.cmd(&[b"SHUTDOWN", b"bogus"]), b"-ERR syntax error\r\n");
    assert_eq!(raw.cmd(&[b"SHUTDOWN", b"SAVE", b"NOSAVE"]), b"-ERR syntax error\r\n");
    assert_eq!(raw.cmd(&[b"SHUTDOWN", b"ABORT", b"NOW"]), b"-ERR syntax error\r\n");
    assert_eq!(raw.cmd(&[b"SHUTDOWN", b"ABORT"]), b"-ERR No shutdown in progress.\r\n");
    raw.send(b"*2\r\n$8\r\nSHUTDOWN\r\n$6\r\nNOSAVE\r\n");
    assert!(raw.closed(), "SHUTDOWN closes the connection without a reply");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while srv.alive() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(!srv.alive(), "the server exited");
}
