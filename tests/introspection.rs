//! CLIENT, MONITOR, SLOWLOG, LATENCY, MEMORY and COMMAND against a real server.

mod common;

use std::time::Duration;

fn text(b: Vec<u8>) -> String {
    String::from_utf8_lossy(&b).into_owned()
}

#[test]
fn client_id_name_info_list() {
    let srv = common::Server::start();
    let mut raw = srv.raw();
    let id = text(raw.cmd(&[b"CLIENT", b"ID"]));
    let id = id.trim_start_matches(':').trim().to_string();
    assert_eq!(raw.cmd(&[b"CLIENT", b"GETNAME"]), b"$-1\r\n");
    assert_eq!(
        raw.cmd(&[b"CLIENT", b"SETNAME", b"foo bar"]),
        b"-ERR Client names cannot contain spaces, newlines or special characters.\r\n"
    );
    assert_eq!(raw.cmd(&[b"CLIENT", b"SETNAME", b"me"]), b"+OK\r\n");
    assert_eq!(raw.cmd(&[b"CLIENT", b"GETNAME"]), b"$2\r\nme\r\n");
    let info = text(raw.cmd(&[b"CLIENT", b"INFO"]));
    assert!(info.contains(&format!("id={id} addr=127.0.0.1:")), "{info}");
    assert!(info.contains(" name=me age="));
    assert!(
        info.contains(" flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=26 qbuf-free="),
        "{info}"
    );
    assert!(
        info.contains(" events=r cmd=client|info user=default redir=-1 resp=2\n"),
        "{info}"
    );
    let list = text(raw.cmd(&[b"CLIENT", b"LIST", b"ID", id.as_bytes(), b"999999"]));
    assert_eq!(list.matches("id=").count(), 1);
    assert!(list.contains("cmd=client|list"));
    assert_eq!(
        raw.cmd(&[b"CLIENT", b"LIST", b"ID", b"x"]),
        b"-ERR Invalid client ID\r\n"
    );
    assert_eq!(
        raw.cmd(&[b"CLIENT", b"LIST", b"TYPE", b"bad"]),
        b"-ERR Unknown client type 'bad'\r\n"
    );
    assert_eq!(raw.cmd(&[b"CLIENT", b"LIST", b"bogus"]), b"-ERR syntax error\r\n");
    let normal = text(raw.cmd(&[b"CLIENT", b"LIST", b"TYPE", b"normal"]));
    assert!(normal.contains("name=me"));
    assert_eq!(raw.cmd(&[b"CLIENT", b"SETNAME", b""]), b"+OK\r\n");
    assert_eq!(raw.cmd(&[b"CLIENT", b"GETNAME"]), b"$-1\r\n");
    assert_eq!(raw.cmd(&[b"CLIENT", b"SETINFO", b"LIB-NAME", b"redis-rs"]), b"+OK\r\n");
    assert_eq!(
        raw.cmd(&[b"CLIENT", b"SETINFO", b"nope", b"x"]),
        b"-ERR Unrecognized option 'nope'\r\n"
    );
    assert_eq!(
        raw.cmd(&[b"CLIENT", b"SETINFO", b"lib-ver", b"1 2"]),
        b"-ERR lib-ver cannot contain spaces, newlines or special characters.\r\n"
    );
    assert_eq!(
        raw.cmd(&[b"CLIENT", b"NOSUCH"]),
        b"-ERR unknown subcommand 'NOSUCH'. Try CLIENT HELP.\r\n"
    );
    assert_eq!(
        raw.cmd(&[b"CLIENT"]),
        b"-ERR wrong number of arguments for 'client' command\r\n"
    );
    let help = text(raw.cmd(&[b"CLIENT", b"HELP"]));
    assert!(help.starts_with("*48\r\n+CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n"));
    assert!(help.ends_with("+HELP\r\n+    Prints this help.\r\n"));
}

#[test]
fn client_kill_errors_and_filters() {
    let srv = common::Server::start();
    let mut me = srv.raw();
    assert_eq!(
        me.cmd(&[b"CLIENT", b"KILL"]),
        b"-ERR wrong number of arguments for 'client|kill' command\r\n"
    );
    assert_eq!(
        me.cmd(&[b"CLIENT", b"KILL", b"ID", b"10", b"x"]),
        b"-ERR syntax error\r\n"
    );
    for bad in [&b"str"[..], b"-1", b"0"] {
        assert_eq!(
            me.cmd(&[b"CLIENT", b"KILL", b"ID", bad]),
            b"-ERR client-id should be greater than 0\r\n"
        );
    }
    assert_eq!(
        me.cmd(&[b"CLIENT", b"KILL", b"TYPE", b"x"]),
        b"-ERR Unknown client type 'x'\r\n"
    );
    assert_eq!(
        me.cmd(&[b"CLIENT", b"KILL", b"USER", b"bob"]),
        b"-ERR No such user 'bob'\r\n"
    );
    assert_eq!(
        me.cmd(&[b"CLIENT", b"KILL", b"SKIPME", b"maybe"]),
        b"-ERR syntax error\r\n"
    );
    assert_eq!(me.cmd(&[b"CLIENT", b"KILL", b"1.2.3.4:5"]), b"-ERR No such client\r\n");

    // Kill another connection by id: it is gone from CLIENT LIST at once and its socket closes.
    let mut other = srv.raw();
    let oid = text(other.cmd(&[b"CLIENT", b"ID"]))
        .trim_start_matches(':')
        .trim()
        .to_string();
    assert_eq!(me.cmd(&[b"CLIENT", b"KILL", b"ID", oid.as_bytes()]), b":1\r\n");
    assert!(!text(me.cmd(&[b"CLIENT", b"LIST"])).contains(&format!("id={oid} ")));
    assert!(other.closed());

    // Old form by address.
    let mut third = srv.raw();
    third.cmd(&[b"PING"]);
    let addr = third.s.local_addr().expect("addr").to_string();
    assert_eq!(me.cmd(&[b"CLIENT", b"KILL", addr.as_bytes()]), b"+OK\r\n");
    assert!(third.closed());

    // SKIPME no kills the caller too, after its reply.
    let mut a = srv.raw();
    let mut b = srv.raw();
    a.cmd(&[b"PING"]);
    b.cmd(&[b"PING"]);
    let n = text(me.cmd(&[b"CLIENT", b"KILL", b"SKIPME", b"yes"]));
    assert_eq!(n, ":2\r\n");
    assert_eq!(
        me.cmd(&[b"CLIENT", b"KILL", b"SKIPME", b"no", b"MAXAGE", b"0"]),
        b":1\r\n"
    );
    assert!(me.closed());
}

#[test]
fn client_reply_modes() {
    let srv = common::Server::start();
    let mut raw = srv.raw();
    raw.send(b"CLIENT REPLY OFF\r\nPING a\r\nPING b\r\nCLIENT REPLY ON\r\nPING c\r\n");
    assert_eq!(raw.read_reply(), b"+OK\r\n");
    assert_eq!(raw.read_reply(), b"$1\r\nc\r\n");
    raw.send(b"CLIENT REPLY SKIP\r\nPING a\r\nPING b\r\n");
    assert_eq!(raw.read_reply(), b"$1\r\nb\r\n");
    raw.send(b"CLIENT REPLY SKIP\r\nCLIENT REPLY ON\r\nPING\r\n");
    assert_eq!(raw.read_reply(), b"+OK\r\n");
    assert_eq!(raw.read_reply(), b"+PONG\r\n");
    assert_eq!(raw.cmd(&[b"CLIENT", b"REPLY", b"maybe"]), b"-ERR syntax error\r\n");
    assert_eq!(raw.cmd(&[b"CLIENT", b"NO-EVICT", b"on"]), b"+OK\r\n");
    assert!(text(raw.cmd(&[b"CLIENT", b"INFO"])).contains(" flags=e "));
    assert_eq!(raw.cmd(&[b"CLIENT", b"NO-EVICT", b"x"]), b"-ERR syntax error\r\n");
}

#[test]
fn client_pause_write_holds_writes_only() {
    let srv = common::Server::start();
    let mut admin = srv.raw();
    let mut worker = srv.raw();
    assert_eq!(
        admin.cmd(&[b"CLIENT", b"PAUSE", b"x"]),
        b"-ERR timeout is not an integer or out of range\r\n"
    );
    assert_eq!(
        admin.cmd(&[b"CLIENT", b"PAUSE", b"-1"]),
        b"-ERR timeout is negative\r\n"
    );
    assert_eq!(
        admin.cmd(&[b"CLIENT", b"PAUSE", b"10", b"SOME"]),
        b"-ERR CLIENT PAUSE mode must be WRITE or ALL\r\n"
    );
    assert_eq!(admin.cmd(&[b"CLIENT", b"PAUSE", b"100000", b"WRITE"]), b"+OK\r\n");
    assert_eq!(
        worker.cmd(&[b"GET", b"k"]),
        b"$-1\r\n",
        "reads run during a WRITE pause"
    );
    worker.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n");
    worker
        .s
        .set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    assert_eq!(worker.read_reply(), b"", "the write waits");
    assert_eq!(admin.cmd(&[b"CLIENT", b"UNPAUSE"]), b"+OK\r\n");
    worker
        .s
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    assert_eq!(worker.read_reply(), b"+OK\r\n");
    assert_eq!(admin.cmd(&[b"GET", b"k"]), b"$1\r\nv\r\n");
}

#[test]
fn client_tracking_stubs_and_unblock() {
    let srv = common::Server::start();
    let mut raw = srv.raw();
    assert_eq!(raw.cmd(&[b"CLIENT", b"GETREDIR"]), b":-1\r\n");
    assert_eq!(raw.cmd(&[b"CLIENT", b"TRACKING", b"off"]), b"+OK\r\n");
    assert_eq!(
        raw.cmd(&[b"CLIENT", b"TRACKING", b"on", b"bogus"]),
        b"-ERR syntax error\r\n"
    );
    assert_eq!(
        raw.cmd(&[b"CLIENT", b"TRACKING", b"on", b"REDIRECT", b"9999"]),
        b"-ERR The client ID you want redirect to does not exist\r\n"
    );
    assert!(text(raw.cmd(&[b"CLIENT", b"CACHING", b"yes"])).starts_with("-ERR CLIENT CACHING can be called only"));
    assert_eq!(
        raw.cmd(&[b"CLIENT", b"TRACKINGINFO"]),
        b"*6\r\n$5\r\nflags\r\n*1\r\n$3\r\noff\r\n$8\r\nredirect\r\n:-1\r\n$8\r\nprefixes\r\n*0\r\n"
    );
    assert_eq!(raw.cmd(&[b"CLIENT", b"UNBLOCK", b"1"]), b":0\r\n");
    assert_eq!(
        raw.cmd(&[b"CLIENT", b"UNBLOCK", b"1", b"later"]),
        b"-ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR\r\n"
    );
}

#[test]
fn monitor_shows_commands_with_secrets_redacted() {
    let srv = common::Server::start();
    let mut mon = srv.raw();
    assert_eq!(mon.cmd(&[b"MONITOR"]), b"+OK\r\n");
    let mut raw = srv.raw();
    raw.cmd(&[b"SET", b"foo", b"bar\n"]);
    raw.cmd(&[b"AUTH", b"secret"]);
    raw.cmd(&[b"CONFIG", b"SET", b"requirepass", b""]);
    raw.cmd(&[b"GET", b"foo"]);
    let set = text(mon.read_reply());
    assert!(
        set.starts_with('+') && set.ends_with(" \"SET\" \"foo\" \"bar\\n\"\r\n"),
        "{set}"
    );
    assert!(set.contains(" [0 127.0.0.1:"));
    let auth = text(mon.read_reply());
    assert!(auth.ends_with(" \"AUTH\" \"(redacted)\"\r\n"), "{auth}");
    // CONFIG is an admin command: never shown.
    let get = text(mon.read_reply());
    assert!(get.ends_with(" \"GET\" \"foo\"\r\n"), "{get}");
    let list = text(raw.cmd(&[b"CLIENT", b"LIST"]));
    assert!(list.contains(" flags=O "), "{list}");
}

#[test]
fn slowlog_get_len_reset_and_trim() {
    let srv = common::Server::start_with(&["--slowlog-log-slower-than", "0"]);
    let mut raw = srv.raw();
    raw.cmd(&[b"SLOWLOG", b"RESET"]);
    raw.cmd(&[b"CLIENT", b"SETNAME", b"tester"]);
    let long = vec![b'A'; 130];
    raw.cmd(&[b"SET", b"k", &long]);
    raw.cmd(&[b"AUTH", b"pw"]);
    let entries = raw.cmd(&[b"SLOWLOG", b"GET", b"-1"]);
    let t = text(entries);
    assert!(t.contains("... (2 more bytes)"), "{t}");
    assert!(t.contains("$10\r\n(redacted)\r\n"));
    assert!(t.contains("$6\r\ntester\r\n"));
    assert_eq!(
        raw.cmd(&[b"SLOWLOG", b"GET", b"-2"]),
        b"-ERR count should be greater than or equal to -1\r\n"
    );
    assert_eq!(
        raw.cmd(&[b"SLOWLOG", b"GET", b"x"]),
        b"-ERR count should be greater than or equal to -1\r\n"
    );
    assert_eq!(
        raw.cmd(&[b"SLOWLOG", b"GET", b"1", b"2"]),
        b"-ERR unknown subcommand or wrong number of arguments for 'GET'. Try SLOWLOG HELP.\r\n"
    );
    assert_eq!(raw.cmd(&[b"SLOWLOG", b"GET", b"0"]), b"*0\r\n");
    let mut args: Vec<&[u8]> = vec![b"CLIENT", b"LIST", b"ID"];
    let many: Vec<Vec<u8>> = (0..40).map(|i| i.to_string().into_bytes()).collect();
    args.extend(many.iter().map(|v| v.as_slice()));
    raw.cmd(&args);
    let t = text(raw.cmd(&[b"SLOWLOG", b"GET", b"2"]));
    assert!(t.contains("... (12 more arguments)"), "{t}");
    raw.cmd(&[b"CONFIG", b"SET", b"slowlog-max-len", b"2"]);
    assert_eq!(raw.cmd(&[b"SLOWLOG", b"LEN"]), b":2\r\n");
    raw.cmd(&[b"CONFIG", b"SET", b"slowlog-log-slower-than", b"-1"]);
    assert_eq!(raw.cmd(&[b"SLOWLOG", b"RESET"]), b"+OK\r\n");
    raw.cmd(&[b"PING"]);
    assert_eq!(raw.cmd(&[b"SLOWLOG", b"LEN"]), b":0\r\n");
}

#[test]
fn latency_commands() {
    let srv = common::Server::start();
    let mut raw = srv.raw();
    assert_eq!(raw.cmd(&[b"LATENCY", b"LATEST"]), b"*0\r\n");
    assert_eq!(raw.cmd(&[b"LATENCY", b"HISTORY", b"command"]), b"*0\r\n");
    assert_eq!(raw.cmd(&[b"LATENCY", b"RESET", b"x"]), b":0\r\n");
    assert_eq!(
        raw.cmd(&[b"LATENCY", b"GRAPH", b"command"]),
        b"-ERR No samples available for event 'command'\r\n"
    );
    assert!(text(raw.cmd(&[b"LATENCY", b"DOCTOR"])).contains("Dave"));
    assert_eq!(
        raw.cmd(&[b"LATENCY", b"HELP", b"x"]),
        b"-ERR wrong number of arguments for 'latency|help' command\r\n"
    );
    raw.cmd(&[b"CONFIG", b"RESETSTAT"]);
    raw.cmd(&[b"SET", b"a", b"b"]);
    raw.cmd(&[b"SET", b"a", b"b"]);
    raw.cmd(&[b"CLIENT", b"ID"]);
    let h = text(raw.cmd(&[b"LATENCY", b"HISTOGRAM", b"set", b"nosuch", b"client"]));
    assert!(
        h.starts_with("*4\r\n$9\r\nclient|id\r\n*4\r\n$5\r\ncalls\r\n:1\r\n$14\r\nhistogram_usec\r\n"),
        "{h}"
    );
    assert!(h.contains("$3\r\nset\r\n*4\r\n$5\r\ncalls\r\n:2\r\n"));
    assert_eq!(raw.cmd(&[b"LATENCY", b"HISTOGRAM", b"blabla"]), b"*0\r\n");
    raw.cmd(&[b"CONFIG", b"SET", b"latency-tracking", b"no"]);
    raw.cmd(&[b"CONFIG", b"RESETSTAT"]);
    raw.cmd(&[b"GET", b"a"]);
    assert_eq!(raw.cmd(&[b"LATENCY", b"HISTOGRAM", b"get"]), b"*0\r\n");
}

#[test]
fn memory_commands() {
    let srv = common::Server::start();
    let mut raw = srv.raw();
    raw.cmd(&[b"SET", b"k", b"12345"]);
    let n = text(raw.cmd(&[b"MEMORY", b"USAGE", b"k"]));
    assert!(n.starts_with(':') && n.trim_start_matches(':').trim().parse::<i64>().unwrap_or(0) > 0);
    assert_eq!(raw.cmd(&[b"MEMORY", b"USAGE", b"nokey"]), b"$-1\r\n");
    assert_eq!(
        raw.cmd(&[b"MEMORY", b"USAGE", b"k", b"SAMPLES", b"x"]),
        b"-ERR value is not an integer or out of range\r\n"
    );
    assert_eq!(
        raw.cmd(&[b"MEMORY", b"USAGE", b"k", b"BOGUS"]),
        b"-ERR syntax error\r\n"
    );
    assert!(text(raw.cmd(&[b"MEMORY", b"USAGE", b"k", b"SAMPLES", b"0"])).starts_with(':'));
    assert!(text(raw.cmd(&[b"MEMORY", b"DOCTOR"])).contains("Sam"));
    assert_eq!(raw.cmd(&[b"MEMORY", b"PURGE"]), b"+OK\r\n");
    let stats = text(raw.cmd(&[b"MEMORY", b"STATS"]));
    assert!(stats.contains("peak.allocated") && stats.contains("db.0") && stats.contains("keys.count"));
    assert!(text(raw.cmd(&[b"MEMORY", b"MALLOC-STATS"])).contains("mimalloc"));
}

#[test]
fn command_introspection() {
    let srv = common::Server::start();
    let mut raw = srv.raw();
    let count = text(raw.cmd(&[b"COMMAND", b"COUNT"]));
    let count: usize = count.trim_start_matches(':').trim().parse().expect("count");
    assert!(count > 10);
    let all = raw.cmd(&[b"COMMAND"]);
    assert!(all.starts_with(format!("*{count}\r\n").as_bytes()));
    let get = text(raw.cmd(&[b"COMMAND", b"INFO", b"get"]));
    assert!(get.starts_with("*1\r\n*10\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n*3\r\n+@read\r\n+@string\r\n+@fast\r\n*0\r\n*1\r\n"), "{get}");
    assert!(get.contains("begin_search"));
    assert_eq!(raw.cmd(&[b"COMMAND", b"INFO", b"get|key"]), b"*1\r\n$-1\r\n");
    assert_eq!(raw.cmd(&[b"COMMAND", b"INFO", b"config|get|key"]), b"*1\r\n$-1\r\n");
    let cfg = text(raw.cmd(&[b"COMMAND", b"INFO", b"config|get"]));
    assert!(cfg.contains("$10\r\nconfig|get\r\n:-3\r\n"));
    let docs = text(raw.cmd(&[b"COMMAND", b"DOCS", b"get", b"nosuch"]));
    assert!(
        docs.starts_with("*2\r\n$3\r\nget\r\n*10\r\n$7\r\nsummary\r\n$22\r\nGet the value of a key\r\n"),
        "{docs}"
    );
    assert!(docs.contains("$10\r\ncomplexity\r\n$4\r\nO(1)\r\n"));
    assert_eq!(
        raw.cmd(&[b"COMMAND", b"GETKEYS", b"get", b"key"]),
        b"*1\r\n$3\r\nkey\r\n"
    );
    assert_eq!(
        raw.cmd(&[b"COMMAND", b"GETKEYS", b"memory", b"usage", b"key"]),
        b"*1\r\n$3\r\nkey\r\n"
    );
    assert_eq!(
        raw.cmd(&[b"COMMAND", b"GETKEYSANDFLAGS", b"set", b"k1", b"v1"]),
        b"*1\r\n*2\r\n$2\r\nk1\r\n*2\r\n+OW\r\n+update\r\n"
    );
    assert_eq!(
        raw.cmd(&[b"COMMAND", b"GETKEYSANDFLAGS", b"set", b"k1", b"v1", b"get"]),
        b"*1\r\n*2\r\n$2\r\nk1\r\n*3\r\n+RW\r\n+access\r\n+update\r\n"
    );
    assert_eq!(
        raw.cmd(&[b"COMMAND", b"GETKEYS", b"nosuch", b"x"]),
        b"-ERR Invalid command specified\r\n"
    );
    assert_eq!(
        raw.cmd(&[b"COMMAND", b"GETKEYS", b"ping", b"x"]),
        b"-ERR The command has no key arguments\r\n"
    );
    assert_eq!(
        raw.cmd(&[b"COMMAND", b"GETKEYS", b"get", b"a", b"b"]),
        b"-ERR Invalid number of arguments specified for command\r\n"
    );
    let list = text(raw.cmd(&[b"COMMAND", b"LIST"]));
    assert!(list.contains("$3\r\nset\r\n") && list.contains("$11\r\nclient|list\r\n"));
    assert_eq!(
        raw.cmd(&[b"COMMAND", b"LIST", b"FILTERBY", b"PATTERN", b"get"]),
        b"*1\r\n$3\r\nget\r\n"
    );
    let sub = text(raw.cmd(&[b"COMMAND", b"LIST", b"FILTERBY", b"PATTERN", b"config|*re*"]));
    assert!(sub.contains("config|resetstat") && sub.contains("config|rewrite"));
    assert_eq!(
        raw.cmd(&[b"COMMAND", b"LIST", b"FILTERBY", b"ACLCAT", b"nope"]),
        b"*0\r\n"
    );
    assert!(text(raw.cmd(&[b"COMMAND", b"LIST", b"FILTERBY", b"ACLCAT", b"admin"])).contains("config|set"));
    assert_eq!(raw.cmd(&[b"COMMAND", b"LIST", b"FILTERBY", b"MODULE", b"m"]), b"*0\r\n");
    assert_eq!(raw.cmd(&[b"COMMAND", b"LIST", b"bad"]), b"-ERR syntax error\r\n");
    assert_eq!(
        raw.cmd(&[b"COMMAND", b"LIST", b"FILTERBY", b"bad", b"x"]),
        b"-ERR syntax error\r\n"
    );
    assert!(text(raw.cmd(&[b"COMMAND", b"HELP"])).contains("GETKEYSANDFLAGS <full-command>"));
}
