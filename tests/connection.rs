//! PING ECHO HELLO AUTH SELECT QUIT RESET against a real server.

mod common;

fn text(b: Vec<u8>) -> String {
    String::from_utf8_lossy(&b).into_owned()
}

#[test]
fn ping_and_echo() {
    let srv = common::Server::start();
    let mut raw = srv.raw();
    assert_eq!(raw.cmd(&[b"PING"]), b"+PONG\r\n");
    assert_eq!(raw.cmd(&[b"PING", b"hi"]), b"$2\r\nhi\r\n");
    assert_eq!(
        raw.cmd(&[b"PING", b"a", b"b"]),
        b"-ERR wrong number of arguments for 'ping' command\r\n"
    );
    assert_eq!(raw.cmd(&[b"ECHO", b"x y"]), b"$3\r\nx y\r\n");
    assert_eq!(
        raw.cmd(&[b"ECHO"]),
        b"-ERR wrong number of arguments for 'echo' command\r\n"
    );
}

#[test]
fn hello_negotiates_protocol() {
    let srv = common::Server::start();
    let mut raw = srv.raw();
    let r = text(raw.cmd(&[b"HELLO", b"3", b"SETNAME", b"conn1"]));
    assert!(
        r.starts_with(
            "%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:"
        ),
        "{r}"
    );
    assert!(r.ends_with("$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n"));
    assert_eq!(raw.cmd(&[b"CLIENT", b"GETNAME"]), b"$5\r\nconn1\r\n");
    assert!(text(raw.cmd(&[b"CLIENT", b"INFO"])).contains(" resp=3"));
    assert_eq!(raw.cmd(&[b"HELLO", b"4"]), b"-NOPROTO unsupported protocol version\r\n");
    assert_eq!(
        raw.cmd(&[b"HELLO", b"x"]),
        b"-ERR Protocol version is not an integer or out of range\r\n"
    );
    assert_eq!(
        raw.cmd(&[b"HELLO", b"2", b"BOGUS"]),
        b"-ERR Syntax error in HELLO option 'BOGUS'\r\n"
    );
    assert_eq!(
        raw.cmd(&[b"HELLO", b"2", b"SETNAME", b"a b"]),
        b"-ERR Client names cannot contain spaces, newlines or special characters.\r\n"
    );
    assert!(
        text(raw.cmd(&[b"HELLO"])).starts_with("%7\r\n"),
        "HELLO alone keeps the protocol"
    );
    assert!(text(raw.cmd(&[b"HELLO", b"2"])).starts_with("*14\r\n"));
}

#[test]
fn auth_with_and_without_password() {
    let srv = common::Server::start();
    let mut raw = srv.raw();
    assert_eq!(
        raw.cmd(&[b"AUTH", b"x"]),
        b"-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n"
    );
    assert_eq!(raw.cmd(&[b"AUTH", b"default", b"anything"]), b"+OK\r\n");
    assert_eq!(raw.cmd(&[b"AUTH", b"a", b"b", b"c"]), b"-ERR syntax error\r\n");
    // (The test harness waits for PONG, so the password is set after start.)
    assert_eq!(raw.cmd(&[b"CONFIG", b"SET", b"requirepass", b"pw"]), b"+OK\r\n");
    let mut raw = srv.raw();
    assert_eq!(raw.cmd(&[b"GET", b"k"]), b"-NOAUTH Authentication required.\r\n");
    assert!(text(raw.cmd(&[b"HELLO", b"3"]))
        .starts_with("-NOAUTH HELLO must be called with the client already authenticated"));
    assert_eq!(
        raw.cmd(&[b"AUTH", b"bad"]),
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert_eq!(
        raw.cmd(&[b"HELLO", b"2", b"AUTH", b"default", b"bad"]),
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert!(text(raw.cmd(&[b"HELLO", b"2", b"AUTH", b"default", b"pw"])).starts_with("*14\r\n"));
    assert_eq!(raw.cmd(&[b"GET", b"k"]), b"$-1\r\n");
    assert_eq!(raw.cmd(&[b"RESET"]), b"+RESET\r\n");
    assert_eq!(raw.cmd(&[b"GET", b"k"]), b"-NOAUTH Authentication required.\r\n");
    assert_eq!(raw.cmd(&[b"AUTH", b"default", b"pw"]), b"+OK\r\n");
}

#[test]
fn select_quit_reset() {
    let srv = common::Server::start();
    let mut raw = srv.raw();
    assert_eq!(
        raw.cmd(&[b"SELECT", b"x"]),
        b"-ERR value is not an integer or out of range\r\n"
    );
    assert_eq!(raw.cmd(&[b"SELECT", b"16"]), b"-ERR DB index is out of range\r\n");
    assert_eq!(raw.cmd(&[b"SELECT", b"-1"]), b"-ERR DB index is out of range\r\n");
    assert_eq!(raw.cmd(&[b"SELECT", b"5"]), b"+OK\r\n");
    raw.cmd(&[b"HELLO", b"3"]);
    raw.cmd(&[b"CLIENT", b"SETNAME", b"n"]);
    raw.cmd(&[b"CLIENT", b"NO-EVICT", b"on"]);
    assert_eq!(raw.cmd(&[b"RESET"]), b"+RESET\r\n");
    let info = text(raw.cmd(&[b"CLIENT", b"INFO"]));
    assert!(
        info.contains(" name= ") && info.contains(" db=0 ") && info.contains(" flags=N ") && info.contains("resp=2"),
        "{info}"
    );
    let mut mon = srv.raw();
    mon.cmd(&[b"MONITOR"]);
    assert_eq!(mon.cmd(&[b"RESET"]), b"+RESET\r\n");
    assert!(text(mon.cmd(&[b"CLIENT", b"INFO"])).contains(" flags=N "));
    assert_eq!(raw.cmd(&[b"QUIT"]), b"+OK\r\n");
    assert!(raw.closed());
}
