//! Transactions: MULTI / EXEC / DISCARD / WATCH / UNWATCH. Queueing and every refusal path,
//! run-time errors inside EXEC, WATCH touched from other connections (on other worker threads),
//! by flushes, SWAPDB, MOVE/COPY targets, expiry and served blocked clients, blocking commands
//! inside MULTI, blocked clients served only after EXEC, atomicity across threads, and the
//! statistics, MONITOR and CLIENT LIST views of a transaction.

mod common;

use common::{Raw, Server};
use std::time::{Duration, Instant};

fn r(c: &mut Raw, args: &[&str]) -> String {
    c.cmd_str(args)
}

fn send(c: &mut Raw, args: &[&str]) {
    let mut req = format!("*{}\r\n", args.len());
    for a in args {
        req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    c.send(req.as_bytes());
}

fn reply(c: &mut Raw) -> String {
    String::from_utf8_lossy(&c.read_reply()).into_owned()
}

/// Runs MULTI, the commands (each must answer +QUEUED) and EXEC; returns EXEC's reply.
fn tx(c: &mut Raw, cmds: &[&[&str]]) -> String {
    assert_eq!(r(c, &["MULTI"]), "+OK\r\n");
    for cmd in cmds {
        assert_eq!(r(c, cmd), "+QUEUED\r\n", "queueing {cmd:?}");
    }
    r(c, &["EXEC"])
}

fn info_field(c: &mut Raw, section: &str, field: &str) -> String {
    let info = r(c, &["INFO", section]);
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or("")
        .trim()
        .to_string()
}

fn wait_blocked(c: &mut Raw, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while info_field(c, "clients", "blocked_clients") != n.to_string() {
        assert!(Instant::now() < deadline, "expected {n} blocked clients");
        std::thread::sleep(Duration::from_millis(5));
    }
}

const ABORTED: &str = "-EXECABORT Transaction discarded because of previous errors.\r\n";

#[test]
fn queued_commands_run_at_exec_and_runtime_errors_are_elements() {
    let srv = Server::start();
    let mut c = srv.raw();
    r(&mut c, &["RPUSH", "l", "a", "b"]);
    assert_eq!(r(&mut c, &["MULTI"]), "+OK\r\n");
    assert_eq!(r(&mut c, &["SET", "s", "1"]), "+QUEUED\r\n");
    assert_eq!(r(&mut c, &["INCR", "s"]), "+QUEUED\r\n");
    assert_eq!(r(&mut c, &["LPUSH", "s", "x"]), "+QUEUED\r\n");
    assert_eq!(r(&mut c, &["LRANGE", "l", "0", "-1"]), "+QUEUED\r\n");
    // Nothing ran yet: another connection does not see the SET.
    let mut other = srv.raw();
    assert_eq!(r(&mut other, &["EXISTS", "s"]), ":0\r\n");
    assert_eq!(
        r(&mut c, &["EXEC"]),
        "*4\r\n+OK\r\n:2\r\n-WRONGTYPE Operation against a key holding the wrong kind of value\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n"
    );
    // Out of MULTI again.
    assert_eq!(r(&mut c, &["GET", "s"]), "$1\r\n2\r\n");
    assert_eq!(r(&mut c, &["EXEC"]), "-ERR EXEC without MULTI\r\n");
    // An empty transaction.
    assert_eq!(tx(&mut c, &[]), "*0\r\n");
}

#[test]
fn discard_drops_the_queue() {
    let srv = Server::start();
    let mut c = srv.raw();
    assert_eq!(r(&mut c, &["DISCARD"]), "-ERR DISCARD without MULTI\r\n");
    r(&mut c, &["MULTI"]);
    r(&mut c, &["SET", "k", "v"]);
    assert_eq!(r(&mut c, &["DISCARD"]), "+OK\r\n");
    assert_eq!(r(&mut c, &["EXISTS", "k"]), ":0\r\n");
    assert_eq!(r(&mut c, &["EXEC"]), "-ERR EXEC without MULTI\r\n");
}

#[test]
fn refusals_while_queueing_abort_exec() {
    let srv = Server::start();
    let mut c = srv.raw();
    // Unknown command.
    r(&mut c, &["MULTI"]);
    r(&mut c, &["SET", "a", "1"]);
    assert_eq!(
        r(&mut c, &["NOSUCH", "x"]),
        "-ERR unknown command 'NOSUCH', with args beginning with: 'x' \r\n"
    );
    r(&mut c, &["SET", "b", "1"]);
    assert_eq!(r(&mut c, &["EXEC"]), ABORTED);
    assert_eq!(r(&mut c, &["EXISTS", "a", "b"]), ":0\r\n");
    // Arity error, of a queued command and of MULTI / DISCARD / WATCH themselves.
    for bad in [&["SET", "a"][..], &["MULTI", "x"], &["DISCARD", "x"], &["WATCH"]] {
        r(&mut c, &["MULTI"]);
        let name = bad[0].to_lowercase();
        assert_eq!(
            r(&mut c, bad),
            format!("-ERR wrong number of arguments for '{name}' command\r\n")
        );
        assert_eq!(r(&mut c, &["EXEC"]), ABORTED, "after {bad:?}");
    }
    // Unknown subcommand.
    r(&mut c, &["MULTI"]);
    assert_eq!(
        r(&mut c, &["CONFIG", "NOPE"]),
        "-ERR unknown subcommand 'NOPE'. Try CONFIG HELP.\r\n"
    );
    assert_eq!(r(&mut c, &["EXEC"]), ABORTED);
    // Commands flagged no-multi.
    for cmd in ["SAVE", "SHUTDOWN"] {
        r(&mut c, &["MULTI"]);
        assert_eq!(r(&mut c, &[cmd]), "-ERR Command not allowed inside a transaction\r\n");
        assert_eq!(r(&mut c, &["EXEC"]), ABORTED);
    }
    // A refused EXEC discards the transaction with the reason.
    r(&mut c, &["MULTI"]);
    r(&mut c, &["SET", "a", "1"]);
    assert_eq!(
        r(&mut c, &["EXEC", "x"]),
        "-EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command\r\n"
    );
    assert_eq!(r(&mut c, &["EXEC"]), "-ERR EXEC without MULTI\r\n");
    assert_eq!(r(&mut c, &["EXISTS", "a"]), ":0\r\n");
    // Outside MULTI too (Redis's execCommandAbort).
    assert_eq!(
        r(&mut c, &["EXEC", "x"]),
        "-EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command\r\n"
    );
}

#[test]
fn errors_of_multi_and_watch_themselves_do_not_abort() {
    let srv = Server::start();
    let mut c = srv.raw();
    r(&mut c, &["MULTI"]);
    assert_eq!(r(&mut c, &["MULTI"]), "-ERR MULTI calls can not be nested\r\n");
    assert_eq!(r(&mut c, &["WATCH", "x"]), "-ERR WATCH inside MULTI is not allowed\r\n");
    r(&mut c, &["SET", "x", "1"]);
    assert_eq!(r(&mut c, &["EXEC"]), "*1\r\n+OK\r\n");
}

#[test]
fn noauth_while_queueing_aborts() {
    let srv = Server::start_with(&["--requirepass", "pw"]);
    let mut c = srv.raw();
    // MULTI itself needs AUTH.
    assert_eq!(r(&mut c, &["MULTI"]), "-NOAUTH Authentication required.\r\n");
    assert_eq!(
        r(&mut c, &["EXEC", "x"]),
        "-EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command\r\n"
    );
    assert_eq!(
        r(&mut c, &["EXEC"]),
        "-EXECABORT Transaction discarded because of: NOAUTH Authentication required.\r\n"
    );
}

#[test]
fn quit_and_reset_inside_multi() {
    let srv = Server::start();
    let mut c = srv.raw();
    r(&mut c, &["MULTI"]);
    r(&mut c, &["SET", "k", "1"]);
    assert_eq!(r(&mut c, &["RESET"]), "+RESET\r\n");
    assert_eq!(r(&mut c, &["EXEC"]), "-ERR EXEC without MULTI\r\n");
    assert_eq!(r(&mut c, &["EXISTS", "k"]), ":0\r\n");
    // RESET unwatches and clears the dirty flag.
    r(&mut c, &["WATCH", "k"]);
    r(&mut c, &["SET", "k", "1"]);
    r(&mut c, &["RESET"]);
    assert_eq!(tx(&mut c, &[&["PING"]]), "*1\r\n+PONG\r\n");
    // QUIT runs at once: OK, then the connection closes; the queue never runs.
    r(&mut c, &["MULTI"]);
    r(&mut c, &["SET", "q", "1"]);
    assert_eq!(r(&mut c, &["QUIT"]), "+OK\r\n");
    assert!(c.closed());
    let mut d = srv.raw();
    assert_eq!(r(&mut d, &["EXISTS", "q"]), ":0\r\n");
}

#[test]
fn client_list_shows_the_transaction() {
    let srv = Server::start();
    let mut c = srv.raw();
    let line = r(&mut c, &["CLIENT", "INFO"]);
    assert!(
        line.contains(" flags=N ") && line.contains(" multi=-1 ") && line.contains(" multi-mem=0 "),
        "{line}"
    );
    r(&mut c, &["MULTI"]);
    r(&mut c, &["GET", "a"]);
    r(&mut c, &["CLIENT", "INFO"]);
    let exec = r(&mut c, &["EXEC"]);
    // Inside EXEC the client is still in MULTI with two commands (as Redis shows it).
    assert!(exec.contains(" flags=x ") && exec.contains(" multi=2 "), "{exec}");
    assert!(exec.contains(" multi-mem=46 ") && exec.contains(" cmd=exec "), "{exec}");
    let line = r(&mut c, &["CLIENT", "INFO"]);
    assert!(line.contains(" flags=N ") && line.contains(" multi=-1 "), "{line}");
}

#[test]
fn monitor_inside_exec_is_refused() {
    let srv = Server::start();
    let mut c = srv.raw();
    assert_eq!(
        tx(&mut c, &[&["MONITOR"]]),
        "*1\r\n-ERR MONITOR isn't allowed for DENY BLOCKING client\r\n"
    );
}

#[test]
fn watch_fails_exec_when_another_thread_changes_the_key() {
    let srv = Server::start_with(&["--threads", "4"]);
    let mut a = srv.raw();
    let mut b = srv.raw(); // the next worker
    r(&mut a, &["SET", "k", "1"]);
    assert_eq!(r(&mut a, &["WATCH", "k", "other"]), "+OK\r\n");
    assert_eq!(r(&mut b, &["SET", "k", "2"]), "+OK\r\n");
    assert_eq!(tx(&mut a, &[&["SET", "k", "3"]]), "*-1\r\n");
    assert_eq!(r(&mut a, &["GET", "k"]), "$1\r\n2\r\n");
    // EXEC unwatched: a later change does not fail the next transaction.
    r(&mut b, &["SET", "k", "4"]);
    assert_eq!(tx(&mut a, &[&["GET", "k"]]), "*1\r\n$1\r\n4\r\n");
    // Untouched keys: EXEC runs.
    r(&mut a, &["WATCH", "k"]);
    r(&mut b, &["SET", "unrelated", "1"]);
    r(&mut b, &["GET", "k"]);
    assert_eq!(tx(&mut a, &[&["INCR", "k"]]), "*1\r\n:5\r\n");
    // A write that changes nothing touches nothing (Redis signals only real changes).
    r(&mut a, &["WATCH", "k", "missing"]);
    assert_eq!(r(&mut b, &["DEL", "missing"]), ":0\r\n");
    assert_eq!(r(&mut b, &["LPOP", "missing"]), "$-1\r\n");
    assert_eq!(tx(&mut a, &[&["PING"]]), "*1\r\n+PONG\r\n");
    // The client's own write counts too, and a key of another database is another key.
    r(&mut a, &["WATCH", "k"]);
    r(&mut a, &["SELECT", "1"]);
    r(&mut a, &["SET", "k", "x"]);
    r(&mut a, &["SELECT", "0"]);
    assert_eq!(tx(&mut a, &[&["PING"]]), "*1\r\n+PONG\r\n");
    r(&mut a, &["WATCH", "k"]);
    r(&mut a, &["SET", "k", "x"]);
    assert_eq!(tx(&mut a, &[&["PING"]]), "*-1\r\n");
}

#[test]
fn watch_failure_is_null_in_resp3() {
    let srv = Server::start();
    let mut a = srv.raw();
    let mut b = srv.raw();
    r(&mut a, &["HELLO", "3"]);
    r(&mut a, &["WATCH", "k"]);
    r(&mut b, &["SET", "k", "1"]);
    assert_eq!(tx(&mut a, &[&["PING"]]), "_\r\n");
}

#[test]
fn unwatch_and_discard_clear_the_dirty_flag() {
    let srv = Server::start();
    let mut a = srv.raw();
    let mut b = srv.raw();
    r(&mut a, &["WATCH", "k"]);
    r(&mut b, &["SET", "k", "1"]);
    assert_eq!(r(&mut a, &["UNWATCH"]), "+OK\r\n");
    assert_eq!(tx(&mut a, &[&["PING"]]), "*1\r\n+PONG\r\n");
    r(&mut a, &["WATCH", "k"]);
    r(&mut b, &["SET", "k", "2"]);
    r(&mut a, &["MULTI"]);
    assert_eq!(r(&mut a, &["DISCARD"]), "+OK\r\n");
    assert_eq!(tx(&mut a, &[&["INCR", "k"]]), "*1\r\n:3\r\n");
    // Watching more keys after a touch changes nothing: EXEC still fails.
    r(&mut a, &["WATCH", "k"]);
    r(&mut b, &["SET", "k", "5"]);
    r(&mut a, &["WATCH", "z"]);
    assert_eq!(tx(&mut a, &[&["PING"]]), "*-1\r\n");
    // UNWATCH inside MULTI is queued like any command.
    r(&mut a, &["WATCH", "k"]);
    assert_eq!(tx(&mut a, &[&["UNWATCH"]]), "*1\r\n+OK\r\n");
}

#[test]
fn flushes_and_swapdb_touch_existing_watched_keys() {
    let srv = Server::start();
    let mut a = srv.raw();
    let mut b = srv.raw();
    for flush in ["FLUSHALL", "FLUSHDB"] {
        r(&mut a, &["SET", "x", "1"]);
        r(&mut a, &["WATCH", "x"]);
        r(&mut b, &[flush]);
        assert_eq!(tx(&mut a, &[&["PING"]]), "*-1\r\n", "{flush}");
        // A watched key that does not exist is not affected.
        r(&mut a, &["WATCH", "x"]);
        r(&mut b, &["SET", "y", "1"]);
        r(&mut b, &[flush]);
        assert_eq!(tx(&mut a, &[&["PING"]]), "*1\r\n+PONG\r\n", "{flush}");
    }
    // FLUSHDB of another database does not touch.
    r(&mut a, &["SET", "x", "1"]);
    r(&mut a, &["WATCH", "x"]);
    r(&mut b, &["SELECT", "3"]);
    r(&mut b, &["FLUSHDB"]);
    assert_eq!(tx(&mut a, &[&["PING"]]), "*1\r\n+PONG\r\n");
    // SWAPDB: a watched key that exists goes away; a missing one appears.
    r(&mut a, &["WATCH", "x"]);
    r(&mut b, &["SWAPDB", "0", "1"]);
    assert_eq!(tx(&mut a, &[&["PING"]]), "*-1\r\n");
    r(&mut a, &["WATCH", "x"]); // x is now in db 1 only
    r(&mut b, &["SWAPDB", "0", "1"]);
    assert_eq!(tx(&mut a, &[&["EXISTS", "x"]]), "*-1\r\n");
    assert_eq!(r(&mut a, &["EXISTS", "x"]), ":1\r\n");
    // Neither database has it, or the same database twice: no change.
    r(&mut a, &["WATCH", "nokey"]);
    r(&mut b, &["SWAPDB", "0", "1"]);
    r(&mut b, &["SWAPDB", "0", "0"]);
    assert_eq!(tx(&mut a, &[&["PING"]]), "*1\r\n+PONG\r\n");
}

#[test]
fn move_copy_rename_restore_targets_touch() {
    let srv = Server::start();
    let mut a = srv.raw();
    let mut b = srv.raw();
    r(&mut b, &["SET", "src", "v"]);
    // MOVE: the target in the other database.
    r(&mut a, &["SELECT", "1"]);
    r(&mut a, &["WATCH", "src"]);
    r(&mut b, &["MOVE", "src", "1"]);
    assert_eq!(tx(&mut a, &[&["PING"]]), "*-1\r\n");
    // COPY ... DB: the target in the other database.
    r(&mut a, &["SELECT", "0"]);
    r(&mut b, &["SET", "src", "v"]);
    r(&mut a, &["SELECT", "2"]);
    r(&mut a, &["WATCH", "dst"]);
    r(&mut b, &["COPY", "src", "dst", "DB", "2"]);
    assert_eq!(tx(&mut a, &[&["PING"]]), "*-1\r\n");
    r(&mut a, &["SELECT", "0"]);
    // RENAME: source and target.
    for watched in ["src", "renamed"] {
        r(&mut b, &["SET", "src", "v"]);
        r(&mut a, &["WATCH", watched]);
        r(&mut b, &["RENAME", "src", "renamed"]);
        assert_eq!(tx(&mut a, &[&["PING"]]), "*-1\r\n", "{watched}");
    }
    // RESTORE target.
    let dump = srv.raw().cmd(&[b"DUMP", b"renamed"]);
    let payload = &dump[dump.iter().position(|&c| c == b'\n').map_or(0, |p| p + 1)..dump.len() - 2];
    r(&mut a, &["WATCH", "restored"]);
    let mut req: Vec<&[u8]> = vec![b"RESTORE", b"restored", b"0"];
    req.push(payload);
    assert_eq!(b.cmd(&req), b"+OK\r\n");
    assert_eq!(tx(&mut a, &[&["PING"]]), "*-1\r\n");
    // A movable-key command: the destination of ZUNIONSTORE.
    r(&mut b, &["ZADD", "z1", "1", "m"]);
    r(&mut a, &["WATCH", "zdst"]);
    r(&mut b, &["ZUNIONSTORE", "zdst", "1", "z1"]);
    assert_eq!(tx(&mut a, &[&["PING"]]), "*-1\r\n");
}

/// WATCH sees only the keys a command changed, as Redis touches only those: not the sources
/// a command reads (SINTERSTORE, COPY, BITOP), not the keys DEL found missing, not SMOVE's
/// destination when it already had the member, not the other keys of a multi-key pop. Each
/// case runs on Ochre and, where it is installed, on the reference Redis, which must agree.
#[test]
fn watch_sees_only_the_keys_a_command_changed() {
    /// Setup commands, the watched key, the command the other client runs, and whether EXEC
    /// is aborted.
    type Case<'a> = (&'a [&'a [&'a str]], &'a str, &'a [&'a str], bool);
    let cases: &[Case] = &[
        (
            &[&["SADD", "s1", "a"], &["SADD", "s2", "a"]],
            "s1",
            &["SINTERSTORE", "sdst", "s1", "s2"],
            false,
        ),
        (
            &[&["SADD", "s1", "a"], &["SADD", "s2", "a"]],
            "sdst",
            &["SINTERSTORE", "sdst", "s1", "s2"],
            true,
        ),
        (&[&["SET", "src", "v"]], "src", &["COPY", "src", "dst"], false),
        (
            &[&["SET", "b1", "x"], &["SET", "b2", "y"]],
            "b2",
            &["BITOP", "AND", "bdst", "b1", "b2"],
            false,
        ),
        (&[&["SET", "k1", "v"]], "k2", &["DEL", "k1", "k2"], false),
        (&[&["SET", "k1", "v"]], "k1", &["DEL", "k1", "k2"], true),
        (
            &[&["SADD", "src", "a", "b"], &["SADD", "dst", "a"]],
            "dst",
            &["SMOVE", "src", "dst", "a"],
            false,
        ),
        (
            &[&["SADD", "src", "a", "b"], &["SADD", "dst", "a"]],
            "src",
            &["SMOVE", "src", "dst", "a"],
            true,
        ),
        (
            &[&["SADD", "src", "a", "b"], &["SADD", "dst", "c"]],
            "dst",
            &["SMOVE", "src", "dst", "a"],
            true,
        ),
        (
            &[&["RPUSH", "l1", "x"], &["RPUSH", "l2", "y"]],
            "l2",
            &["BLPOP", "l1", "l2", "0"],
            false,
        ),
        (
            &[&["RPUSH", "l2", "y"]],
            "l2",
            &["LMPOP", "2", "l1", "l2", "LEFT"],
            true,
        ),
        (
            &[&["RPUSH", "l2", "y"]],
            "l1",
            &["LMPOP", "2", "l1", "l2", "LEFT"],
            false,
        ),
        (
            &[&["RPUSH", "l2", "y"]],
            "l1",
            &["BLMPOP", "0", "2", "l1", "l2", "RIGHT"],
            false,
        ),
        (
            &[&["ZADD", "z2", "1", "m"]],
            "z1",
            &["ZMPOP", "2", "z1", "z2", "MIN"],
            false,
        ),
        (
            &[&["ZADD", "z2", "1", "m"]],
            "z1",
            &["BZPOPMIN", "z1", "z2", "0"],
            false,
        ),
        (
            &[&["ZADD", "z2", "1", "m"]],
            "z2",
            &["BZMPOP", "0", "2", "z1", "z2", "MAX"],
            true,
        ),
    ];
    let srv = Server::start();
    let reference = common::Reference::start();
    let ports = std::iter::once(srv.port).chain(reference.as_ref().map(|r| r.port));
    for port in ports {
        let connect = || {
            let s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
            s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
            Raw { s }
        };
        let (mut a, mut b) = (connect(), connect());
        for (setup, watched, cmd, aborted) in cases {
            r(&mut b, &["FLUSHALL"]);
            for c in setup.iter() {
                r(&mut b, c);
            }
            r(&mut a, &["WATCH", watched]);
            let out = r(&mut b, cmd);
            assert!(!out.starts_with('-'), "{cmd:?}: {out}");
            let want = if *aborted { "*-1\r\n" } else { "*1\r\n+PONG\r\n" };
            assert_eq!(
                tx(&mut a, &[&["PING"]]),
                want,
                "port {port}: WATCH {watched}, then {cmd:?}"
            );
        }
    }
}

#[test]
fn watch_and_expiry() {
    let srv = Server::start();
    let mut a = srv.raw();
    r(&mut a, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    // A key live at WATCH that expires before EXEC fails it, deleted or not.
    r(&mut a, &["SET", "k", "1", "PX", "50"]);
    r(&mut a, &["WATCH", "k"]);
    std::thread::sleep(Duration::from_millis(80));
    assert_eq!(tx(&mut a, &[&["INCR", "k"]]), "*-1\r\n");
    r(&mut a, &["SET", "k", "1", "PX", "50"]);
    r(&mut a, &["WATCH", "k"]);
    std::thread::sleep(Duration::from_millis(80));
    assert_eq!(r(&mut a, &["EXISTS", "k"]), ":0\r\n"); // lazily deleted
    assert_eq!(tx(&mut a, &[&["PING"]]), "*-1\r\n");
    // A key already expired at WATCH: deleting it (lazily or by a flush) is no change.
    r(&mut a, &["SET", "s", "1", "PX", "1"]);
    std::thread::sleep(Duration::from_millis(5));
    r(&mut a, &["WATCH", "s"]);
    assert_eq!(tx(&mut a, &[&["PING"]]), "*1\r\n+PONG\r\n");
    r(&mut a, &["SET", "s", "1", "PX", "1"]);
    std::thread::sleep(Duration::from_millis(5));
    r(&mut a, &["WATCH", "s"]);
    assert_eq!(r(&mut a, &["EXISTS", "s"]), ":0\r\n");
    assert_eq!(tx(&mut a, &[&["PING"]]), "*1\r\n+PONG\r\n");
    r(&mut a, &["SET", "s", "1", "PX", "1"]);
    std::thread::sleep(Duration::from_millis(5));
    r(&mut a, &["WATCH", "s"]);
    r(&mut a, &["FLUSHDB"]);
    assert_eq!(tx(&mut a, &[&["PING"]]), "*1\r\n+PONG\r\n");
    // ...but writing it again is a change.
    r(&mut a, &["SET", "s", "1", "PX", "1"]);
    std::thread::sleep(Duration::from_millis(5));
    r(&mut a, &["WATCH", "s"]);
    r(&mut srv.raw(), &["SET", "s", "2"]);
    assert_eq!(tx(&mut a, &[&["PING"]]), "*-1\r\n");
    // EXPIRE touches.
    r(&mut a, &["SET", "e", "1"]);
    r(&mut a, &["WATCH", "e"]);
    r(&mut a, &["EXPIRE", "e", "100"]);
    assert_eq!(tx(&mut a, &[&["PING"]]), "*-1\r\n");
    // Active expiry deleting a watched key fails EXEC.
    r(&mut a, &["DEBUG", "SET-ACTIVE-EXPIRE", "1"]);
    r(&mut a, &["FLUSHALL"]);
    r(&mut a, &["SET", "act", "1", "PX", "30"]);
    r(&mut a, &["WATCH", "act"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while r(&mut a, &["DBSIZE"]) != ":0\r\n" {
        assert!(Instant::now() < deadline, "active expiry did not run");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(tx(&mut a, &[&["PING"]]), "*-1\r\n");
}

#[test]
fn blocking_commands_inside_multi_do_not_block() {
    let srv = Server::start();
    let mut c = srv.raw();
    assert_eq!(
        tx(
            &mut c,
            &[
                &["BLPOP", "nolist", "0"],
                &["BRPOP", "nolist", "0"],
                &["BRPOPLPUSH", "nolist", "other", "0"],
                &["BLMOVE", "nolist", "other", "LEFT", "LEFT", "0"],
                &["BLMPOP", "0", "1", "nolist", "LEFT"],
            ]
        ),
        "*5\r\n*-1\r\n*-1\r\n$-1\r\n$-1\r\n*-1\r\n"
    );
    r(&mut c, &["RPUSH", "l", "x"]);
    assert_eq!(
        tx(&mut c, &[&["BLPOP", "l", "0"]]),
        "*1\r\n*2\r\n$1\r\nl\r\n$1\r\nx\r\n"
    );
}

#[test]
fn push_inside_exec_serves_blocked_clients_after_exec() {
    let srv = Server::start_with(&["--threads", "3"]);
    let mut ctl = srv.raw();
    let mut waiter = srv.raw();
    let mut t = srv.raw();
    send(&mut waiter, &["BLPOP", "q", "0"]);
    wait_blocked(&mut ctl, 1);
    // The transaction sees its own push: the blocked client is not served in the middle.
    assert_eq!(
        tx(
            &mut t,
            &[
                &["RPUSH", "q", "a"],
                &["LLEN", "q"],
                &["RPUSH", "q", "b"],
                &["LRANGE", "q", "0", "-1"]
            ]
        ),
        "*4\r\n:1\r\n:1\r\n:2\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n"
    );
    assert_eq!(reply(&mut waiter), "*2\r\n$1\r\nq\r\n$1\r\na\r\n");
    assert_eq!(r(&mut ctl, &["LRANGE", "q", "0", "-1"]), "*1\r\n$1\r\nb\r\n");
    // Pushed and popped inside the transaction: nothing left, the client stays blocked.
    send(&mut waiter, &["BLPOP", "q2", "0"]);
    wait_blocked(&mut ctl, 1);
    assert_eq!(
        tx(&mut t, &[&["LPUSH", "q2", "a"], &["LPOP", "q2"]]),
        "*2\r\n:1\r\n$1\r\na\r\n"
    );
    std::thread::sleep(Duration::from_millis(50));
    wait_blocked(&mut ctl, 1);
    r(&mut ctl, &["LPUSH", "q2", "z"]);
    assert_eq!(reply(&mut waiter), "*2\r\n$2\r\nq2\r\n$1\r\nz\r\n");
}

#[test]
fn serving_a_blocked_move_touches_its_destination() {
    let srv = Server::start_with(&["--threads", "3"]);
    let mut watcher = srv.raw();
    let mut waiter = srv.raw();
    let mut pusher = srv.raw();
    r(&mut watcher, &["WATCH", "dst"]);
    send(&mut waiter, &["BLMOVE", "src", "dst", "LEFT", "LEFT", "0"]);
    wait_blocked(&mut pusher, 1);
    r(&mut pusher, &["RPUSH", "src", "v"]);
    assert_eq!(reply(&mut waiter), "$1\r\nv\r\n");
    assert_eq!(tx(&mut watcher, &[&["PING"]]), "*-1\r\n");
}

#[test]
fn transactions_are_atomic_across_threads() {
    let srv = Server::start_with(&["--threads", "4"]);
    let writers: Vec<_> = (0..2)
        .map(|_| {
            let mut c = srv.raw();
            std::thread::spawn(move || {
                for _ in 0..300 {
                    let rep = tx(&mut c, &[&["INCR", "a"], &["INCR", "b"]]);
                    assert!(rep.starts_with("*2\r\n:"), "{rep}");
                }
            })
        })
        .collect();
    let mut checker = srv.raw();
    let mut checks = 0;
    while writers.iter().any(|w| !w.is_finished()) || checks < 10 {
        let rep = tx(&mut checker, &[&["GET", "a"], &["GET", "b"]]);
        let parts: Vec<&str> = rep.split("\r\n").collect();
        // *2, then $len a, then $len b (or $-1 twice before the first transaction).
        let (a, b) = if parts[1] == "$-1" {
            (parts[1], parts[2])
        } else {
            (parts[2], parts[4])
        };
        assert_eq!(a, b, "a and b differ inside one EXEC: {rep}");
        checks += 1;
    }
    for w in writers {
        w.join().expect("writer");
    }
    assert_eq!(r(&mut checker, &["MGET", "a", "b"]), "*2\r\n$3\r\n600\r\n$3\r\n600\r\n");
}

/// A pipeline runs its requests under one hold of its worker's world lock (`server::world`):
/// exclusive commands inside the pipeline (EXEC, scripts, DEBUG) and beside it, on other
/// connections and workers, must neither deadlock nor break atomicity, and the per-thread
/// change counters must add up to every change made.
#[test]
fn exclusive_commands_inside_and_beside_long_pipelines() {
    let srv = Server::start_with(&["--threads", "4"]);
    const ROUNDS: usize = 40;
    let mut pipeline = String::new();
    let mut replies = 0;
    let mut increments = 0;
    let mut add = |args: &[&str], n_replies: usize, n_incr: usize| {
        pipeline.push_str(&format!("*{}\r\n", args.len()));
        for a in args {
            pipeline.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        replies += n_replies;
        increments += n_incr;
    };
    for _ in 0..ROUNDS {
        for _ in 0..50 {
            add(&["INCR", "c"], 1, 1);
        }
        add(&["MULTI"], 1, 0);
        add(&["INCR", "c"], 1, 0);
        add(&["EXEC"], 1, 1);
        add(&["EVAL", "return redis.call('incr', KEYS[1])", "1", "c"], 1, 1);
        add(&["DEBUG", "SLEEP", "0"], 1, 0);
    }
    let beside: Vec<_> = (0..2)
        .map(|i| {
            let mut c = srv.raw();
            std::thread::spawn(move || {
                for _ in 0..100 {
                    if i == 0 {
                        assert!(tx(&mut c, &[&["INCR", "c"]]).starts_with("*1\r\n:"));
                    } else {
                        let rep = r(&mut c, &["EVAL", "return redis.call('incr', KEYS[1])", "1", "c"]);
                        assert!(rep.starts_with(':'), "{rep}");
                    }
                }
            })
        })
        .collect();
    let mut p = srv.raw();
    let started = Instant::now();
    p.send(pipeline.as_bytes());
    for _ in 0..replies {
        let rep = reply(&mut p);
        assert!(!rep.starts_with('-'), "{rep}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the pipeline took {:?}",
        started.elapsed()
    );
    for b in beside {
        b.join().expect("beside");
    }
    let total = increments + 200;
    assert_eq!(
        r(&mut p, &["GET", "c"]),
        format!("${}\r\n{total}\r\n", total.to_string().len())
    );
    assert_eq!(
        info_field(&mut p, "persistence", "rdb_changes_since_last_save"),
        total.to_string()
    );
}

#[test]
fn watch_race_with_concurrent_increments_never_loses_an_update() {
    // Optimistic locking: every client retries WATCH/GET/MULTI/SET/EXEC until EXEC succeeds;
    // the counter must end at the number of increments.
    let srv = Server::start_with(&["--threads", "4"]);
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let mut c = srv.raw();
            std::thread::spawn(move || {
                for _ in 0..100 {
                    loop {
                        r(&mut c, &["WATCH", "n"]);
                        let v = r(&mut c, &["GET", "n"]);
                        let n: i64 = v.split("\r\n").nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
                        let rep = tx(&mut c, &[&["SET", "n", &(n + 1).to_string()]]);
                        if rep != "*-1\r\n" {
                            break;
                        }
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    assert_eq!(r(&mut srv.raw(), &["GET", "n"]), "$3\r\n300\r\n");
}

#[test]
fn stats_count_queued_commands_when_they_run() {
    let srv = Server::start();
    let mut c = srv.raw();
    r(&mut c, &["CONFIG", "RESETSTAT"]);
    r(&mut c, &["MULTI"]);
    r(&mut c, &["SET", "a", "b"]);
    r(&mut c, &["LPUSH", "a", "x"]);
    // Queued: not counted yet.
    let stats = r(&mut c, &["EXEC"]);
    assert!(stats.starts_with("*2\r\n+OK\r\n-WRONGTYPE"), "{stats}");
    let cs = r(&mut c, &["INFO", "commandstats"]);
    assert!(cs.contains("cmdstat_set:calls=1,"), "{cs}");
    assert!(
        cs.contains("cmdstat_lpush:calls=1,") && cs.contains("rejected_calls=0,failed_calls=1"),
        "{cs}"
    );
    assert!(
        cs.contains("cmdstat_exec:calls=1,") && cs.contains("cmdstat_multi:calls=1,"),
        "{cs}"
    );
    assert!(
        cs.lines()
            .any(|l| l.starts_with("cmdstat_exec:") && l.ends_with("rejected_calls=0,failed_calls=0")),
        "{cs}"
    );
    assert_eq!(info_field(&mut c, "errorstats", "errorstat_WRONGTYPE"), "count=1");
    assert_eq!(info_field(&mut c, "stats", "total_error_replies"), "1");
    // EXEC's own error is EXEC's; a queue-time arity error is a rejected call.
    r(&mut c, &["EXEC"]);
    r(&mut c, &["MULTI"]);
    r(&mut c, &["GET"]);
    r(&mut c, &["EXEC"]);
    let cs = r(&mut c, &["INFO", "commandstats"]);
    assert!(
        cs.lines()
            .any(|l| l.starts_with("cmdstat_exec:calls=3,") && l.ends_with("rejected_calls=0,failed_calls=2")),
        "{cs}"
    );
    assert!(
        cs.lines()
            .any(|l| l.starts_with("cmdstat_get:calls=0,") && l.ends_with("rejected_calls=1,failed_calls=0")),
        "{cs}"
    );
    assert_eq!(info_field(&mut c, "errorstats", "errorstat_EXECABORT"), "count=1");
}

#[test]
fn monitor_and_slowlog_see_queued_commands_when_they_run() {
    let srv = Server::start();
    let mut mon = srv.raw();
    let mut c = srv.raw();
    assert_eq!(r(&mut mon, &["MONITOR"]), "+OK\r\n");
    r(&mut c, &["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    r(&mut c, &["SLOWLOG", "RESET"]);
    tx(&mut c, &[&["SET", "foo", "bar"]]);
    let lines: Vec<String> = (0..3).map(|_| reply(&mut mon).to_lowercase()).collect();
    assert!(lines[0].contains("\"multi\""), "{lines:?}");
    assert!(lines[1].contains("\"set\" \"foo\" \"bar\""), "{lines:?}");
    assert!(lines[2].contains("\"exec\""), "{lines:?}");
    // An aborted transaction still closes with EXEC on MONITOR.
    r(&mut c, &["MULTI"]);
    r(&mut c, &["NOSUCH"]);
    r(&mut c, &["EXEC"]);
    assert!(reply(&mut mon).contains("\"MULTI\""));
    assert!(reply(&mut mon).contains("\"EXEC\""));
    // The slowlog has SET (and MULTI), never EXEC (skip_slowlog).
    let log = r(&mut c, &["SLOWLOG", "GET", "100"]);
    assert!(
        log.contains("$3\r\nSET\r\n") && log.contains("$5\r\nMULTI\r\n"),
        "{log}"
    );
    assert!(!log.contains("$4\r\nEXEC\r\n"), "{log}");
}

#[test]
fn client_pause_write_holds_write_transactions_only() {
    let srv = Server::start_with(&["--threads", "2"]);
    let mut ctl = srv.raw();
    let mut c = srv.raw();
    r(&mut c, &["SET", "k", "v"]);
    // Queued before the pause; EXEC of a write waits for the unpause.
    r(&mut c, &["MULTI"]);
    r(&mut c, &["SET", "k", "w"]);
    r(&mut ctl, &["CLIENT", "PAUSE", "60000", "WRITE"]);
    send(&mut c, &["EXEC"]);
    wait_blocked(&mut ctl, 1);
    r(&mut ctl, &["CLIENT", "UNPAUSE"]);
    assert_eq!(reply(&mut c), "*1\r\n+OK\r\n");
    // A read-only transaction is not held.
    r(&mut ctl, &["CLIENT", "PAUSE", "60000", "WRITE"]);
    assert_eq!(tx(&mut c, &[&["GET", "k"], &["PING"]]), "*2\r\n$1\r\nw\r\n+PONG\r\n");
    r(&mut ctl, &["CLIENT", "UNPAUSE"]);
}

#[test]
fn disconnect_forgets_watches_and_queue() {
    let srv = Server::start();
    {
        let mut a = srv.raw();
        r(&mut a, &["WATCH", "k"]);
        r(&mut a, &["MULTI"]);
        r(&mut a, &["SET", "k", "1"]);
    }
    let mut b = srv.raw();
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(r(&mut b, &["EXISTS", "k"]), ":0\r\n");
    r(&mut b, &["SET", "k", "2"]);
    // A new client watching the same key is not affected by the old one's state.
    r(&mut b, &["WATCH", "k"]);
    assert_eq!(tx(&mut b, &[&["GET", "k"]]), "*1\r\n$1\r\n2\r\n");
}

#[test]
fn redis_crate_transactions() {
    let srv = Server::start();
    let mut con = srv.client();
    let (a, b): (i64, i64) = redis::pipe()
        .atomic()
        .cmd("INCR")
        .arg("x")
        .cmd("INCRBY")
        .arg("x")
        .arg(5)
        .query(&mut con)
        .expect("pipe");
    assert_eq!((a, b), (1, 6));
    // redis::transaction retries on a WATCH failure.
    let v: i64 = redis::transaction(&mut con, &["x"], |con, pipe| {
        let cur: i64 = redis::cmd("GET").arg("x").query(con)?;
        pipe.cmd("SET")
            .arg("x")
            .arg(cur * 2)
            .ignore()
            .cmd("GET")
            .arg("x")
            .query(con)
    })
    .map(|(v,): (i64,)| v)
    .expect("transaction");
    assert_eq!(v, 12);
}

/// `maxmemory` below the used memory refuses commands that may grow memory (not reads), and
/// inside MULTI every queued command, which aborts the transaction; DISCARD and EXEC still run.
#[test]
fn maxmemory_refuses_writes_and_queueing() {
    let srv = Server::start();
    let mut c = srv.raw();
    assert_eq!(r(&mut c, &["SET", "k", "v"]), "+OK\r\n");
    assert_eq!(r(&mut c, &["CONFIG", "SET", "maxmemory", "1"]), "+OK\r\n");
    let oom = "-OOM command not allowed when used memory > 'maxmemory'.\r\n";
    assert_eq!(r(&mut c, &["SET", "k", "w"]), oom);
    assert_eq!(r(&mut c, &["LPUSH", "l", "a"]), oom);
    assert_eq!(r(&mut c, &["GET", "k"]), "$1\r\nv\r\n");
    assert_eq!(r(&mut c, &["DEL", "k"]), ":1\r\n", "DEL frees memory: allowed");
    assert_eq!(r(&mut c, &["MULTI"]), "+OK\r\n");
    assert_eq!(r(&mut c, &["GET", "k"]), oom, "queueing is refused");
    assert_eq!(
        r(&mut c, &["EXEC"]),
        "-EXECABORT Transaction discarded because of previous errors.\r\n"
    );
    assert_eq!(r(&mut c, &["MULTI"]), "+OK\r\n");
    assert_eq!(r(&mut c, &["DISCARD"]), "+OK\r\n");
    assert_eq!(r(&mut c, &["CONFIG", "SET", "maxmemory", "0"]), "+OK\r\n");
    assert_eq!(r(&mut c, &["SET", "k", "w"]), "+OK\r\n");
}
