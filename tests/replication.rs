//! Replication. The master's side: SYNC and PSYNC send the dataset as an RDB image, then every
//! write's effect after that instant, as a Redis master does (the suite's
//! `attach_to_replication_stream` reads it the same way). The replica's side: REPLICAOF.
mod common;

use common::{Raw, Server};
use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;

/// The replica's end of the stream, buffered.
type Stream = BufReader<TcpStream>;

fn stream(r: &Raw) -> Stream {
    BufReader::new(r.s.try_clone().expect("clone"))
}

/// Reads a line ending in CRLF (without it).
fn line(r: &mut Stream) -> String {
    let mut out = Vec::new();
    r.read_until(b'\n', &mut out).expect("read");
    assert!(
        out.ends_with(b"\r\n"),
        "stream closed after {:?}",
        String::from_utf8_lossy(&out)
    );
    out.truncate(out.len() - 2);
    String::from_utf8_lossy(&out).into_owned()
}

fn bytes(r: &mut Stream, n: usize) -> Vec<u8> {
    let mut v = vec![0; n];
    r.read_exact(&mut v).expect("read");
    v
}

/// Reads the `$<len>` image that opens the stream; returns its bytes.
fn image(r: &mut Stream) -> Vec<u8> {
    let head = line(r);
    let len: usize = head
        .strip_prefix('$')
        .and_then(|n| n.parse().ok())
        .expect("bulk length");
    bytes(r, len)
}

/// Reads one command of the stream as its arguments.
fn command(r: &mut Stream) -> Vec<String> {
    let n: usize = line(r)
        .strip_prefix('*')
        .and_then(|n| n.parse().ok())
        .expect("multibulk");
    (0..n)
        .map(|_| {
            let len: usize = line(r).strip_prefix('$').and_then(|n| n.parse().ok()).expect("bulk");
            let v = String::from_utf8_lossy(&bytes(r, len)).into_owned();
            assert_eq!(bytes(r, 2), b"\r\n");
            v
        })
        .collect()
}

fn words(s: &str) -> Vec<String> {
    s.split(' ').map(String::from).collect()
}

#[test]
fn sync_sends_the_dataset_then_every_write_in_order() {
    let srv = common::Server::start();
    let mut c = srv.raw();
    assert_eq!(c.cmd_str(&["SET", "before", "1"]), "+OK\r\n");
    let mut repl = srv.raw();
    repl.send(b"SYNC\r\n");
    let mut rs = stream(&repl);
    let rdb = image(&mut rs);
    assert!(
        rdb.starts_with(b"REDIS0010"),
        "{:?}",
        String::from_utf8_lossy(&rdb[..rdb.len().min(16)])
    );
    assert!(
        rdb.windows(6).any(|w| w == b"before"),
        "the key written before SYNC is in the image"
    );
    assert!(c.cmd_str(&["INFO", "replication"]).contains("connected_slaves:1"));
    // Writes after the instant arrive as their effects; reads and no-op writes send nothing.
    assert_eq!(c.cmd_str(&["SET", "k", "v", "EX", "100"]), "+OK\r\n");
    assert_eq!(c.cmd_str(&["GET", "k"]), "$1\r\nv\r\n");
    assert_eq!(c.cmd_str(&["DEL", "missing"]), ":0\r\n");
    assert_eq!(c.cmd_str(&["SELECT", "3"]), "+OK\r\n");
    assert_eq!(c.cmd_str(&["MULTI"]), "+OK\r\n");
    assert_eq!(c.cmd_str(&["INCR", "n"]), "+QUEUED\r\n");
    assert_eq!(c.cmd_str(&["INCR", "n"]), "+QUEUED\r\n");
    assert_eq!(c.cmd_str(&["EXEC"]), "*2\r\n:1\r\n:2\r\n");
    assert_eq!(command(&mut rs), words("SELECT 0"));
    let set = command(&mut rs);
    assert_eq!(set[..4], words("SET k v PXAT")[..], "relative expiry goes out absolute");
    assert_eq!(command(&mut rs), words("SELECT 3"));
    assert_eq!(command(&mut rs), words("MULTI"));
    assert_eq!(command(&mut rs), words("INCR n"));
    assert_eq!(command(&mut rs), words("INCR n"));
    assert_eq!(command(&mut rs), words("EXEC"));
    // A replica that goes away is forgotten.
    drop(rs);
    drop(repl);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !c.cmd_str(&["INFO", "replication"]).contains("connected_slaves:0") {
        assert!(std::time::Instant::now() < deadline, "replica not detached");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn psync_answers_a_full_resync_and_replconf_checks_its_arguments() {
    let srv = common::Server::start();
    let mut c = srv.raw();
    assert_eq!(c.cmd_str(&["REPLCONF", "listening-port"]), "-ERR syntax error\r\n");
    assert_eq!(
        c.cmd_str(&["REPLCONF", "listening-port", "70000"]),
        "-ERR value is out of range\r\n"
    );
    assert_eq!(
        c.cmd_str(&["REPLCONF", "bogus", "1"]),
        "-ERR Unrecognized REPLCONF option: bogus\r\n"
    );
    assert_eq!(
        c.cmd_str(&["REPLCONF", "rdb-filter-only", "functions keys"]),
        "-ERR Unsupported rdb-filter-only option: keys\r\n"
    );
    assert_eq!(
        c.cmd_str(&["SYNC", "extra"]),
        "-ERR wrong number of arguments for 'sync' command\r\n"
    );
    assert_eq!(c.cmd_str(&["MULTI"]), "+OK\r\n");
    assert_eq!(
        c.cmd_str(&["SYNC"]),
        "-ERR Command not allowed inside a transaction\r\n"
    );
    assert_eq!(c.cmd_str(&["DISCARD"]), "+OK\r\n");
    let mut repl = srv.raw();
    assert_eq!(
        repl.cmd_str(&["REPLCONF", "listening-port", "6380", "capa", "psync2"]),
        "+OK\r\n"
    );
    repl.send(b"*3\r\n$5\r\nPSYNC\r\n$1\r\n?\r\n$2\r\n-1\r\n");
    let mut rs = stream(&repl);
    let head = line(&mut rs);
    assert!(head.starts_with("+FULLRESYNC "), "{head}");
    let rdb = image(&mut rs);
    assert!(rdb.starts_with(b"REDIS0010"));
    // ACKs get no reply: the next thing on the wire is the stream.
    repl.send(b"*3\r\n$8\r\nREPLCONF\r\n$3\r\nACK\r\n$1\r\n0\r\n");
    assert!(c.cmd_str(&["INFO", "replication"]).contains(",port=6380,state=online"));
    assert_eq!(c.cmd_str(&["RPUSH", "l", "a"]), ":1\r\n");
    assert_eq!(command(&mut rs), words("SELECT 0"));
    assert_eq!(command(&mut rs), words("RPUSH l a"));
}

#[test]
fn publish_and_served_blocking_pops_reach_the_stream_as_redis_sends_them() {
    let srv = common::Server::start();
    let mut c = srv.raw();
    let mut waiter = srv.raw();
    let mut repl = srv.raw();
    repl.send(b"SYNC\r\n");
    let mut rs = stream(&repl);
    let _ = image(&mut rs);
    // PUBLISH goes to replicas (for their own subscribers), alone or inside EXEC.
    assert_eq!(c.cmd_str(&["PUBLISH", "ch", "hello"]), ":0\r\n");
    assert_eq!(command(&mut rs), words("SELECT 0"));
    assert_eq!(command(&mut rs), words("PUBLISH ch hello"));
    // A BLMPOP served by a later push is logged with the count it actually popped.
    waiter.send(b"*7\r\n$6\r\nBLMPOP\r\n$1\r\n0\r\n$1\r\n1\r\n$1\r\nl\r\n$4\r\nLEFT\r\n$5\r\nCOUNT\r\n$2\r\n10\r\n");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !c.cmd_str(&["INFO", "clients"]).contains("blocked_clients:1") {
        assert!(std::time::Instant::now() < deadline, "BLMPOP did not block");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(c.cmd_str(&["RPUSH", "l", "a", "b", "c"]), ":3\r\n");
    assert_eq!(
        waiter.read_reply(),
        b"*2\r\n$1\r\nl\r\n*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"
    );
    // The push, then the pop it served, as two commands (Redis 7.0 does not wrap them).
    assert_eq!(command(&mut rs), words("RPUSH l a b c"));
    assert_eq!(command(&mut rs), words("LPOP l 3"));
}

#[test]
fn rdb_only_closes_after_the_image_and_replicas_can_be_killed_by_type() {
    let srv = common::Server::start();
    let mut c = srv.raw();
    assert_eq!(c.cmd_str(&["SET", "k", "v"]), "+OK\r\n");
    let lib = "#!lua name=lib\nredis.register_function('f', function() return 1 end)";
    assert_eq!(c.cmd_str(&["FUNCTION", "LOAD", lib]), "$3\r\nlib\r\n");
    // redis-cli --functions-rdb: the libraries without the keys, then the connection ends.
    let mut cli = srv.raw();
    assert_eq!(cli.cmd_str(&["REPLCONF", "rdb-only", "1"]), "+OK\r\n");
    assert_eq!(cli.cmd_str(&["REPLCONF", "rdb-filter-only", "functions"]), "+OK\r\n");
    cli.send(b"SYNC\r\n");
    let mut rs = stream(&cli);
    let rdb = image(&mut rs);
    assert!(rdb.windows(3).any(|w| w == b"lib"), "the library is in the image");
    assert!(
        !rdb.windows(3).any(|w| w == b"\x01k\x01"),
        "no key in a functions-only image"
    );
    let mut rest = Vec::new();
    let _ = rs.read_to_end(&mut rest);
    assert!(rest.is_empty(), "rdb-only: closed right after the image");
    // A replica shows the S flag and goes with CLIENT KILL TYPE replica.
    let mut repl = srv.raw();
    repl.send(b"SYNC\r\n");
    let mut rs = stream(&repl);
    let _ = image(&mut rs);
    assert!(c.cmd_str(&["CLIENT", "LIST"]).contains("flags=S "));
    assert_eq!(c.cmd_str(&["CLIENT", "KILL", "TYPE", "replica"]), ":1\r\n");
    let mut rest = Vec::new();
    let _ = rs.read_to_end(&mut rest);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !c.cmd_str(&["INFO", "replication"]).contains("connected_slaves:0") {
        assert!(std::time::Instant::now() < deadline, "killed replica still listed");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------------------------
// The replica's side: REPLICAOF
// ---------------------------------------------------------------------------------------------

/// Waits until `info replication` of `c` has `field:value`.
fn wait_info(c: &mut redis::Connection, field: &str, value: &str) {
    let want = format!("{field}:{value}");
    for _ in 0..500 {
        let info: String = redis::cmd("INFO").arg("replication").query(c).expect("info");
        if info.lines().any(|l| l.trim_end() == want) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let info: String = redis::cmd("INFO").arg("replication").query(c).expect("info");
    panic!("never saw {want}:\n{info}");
}

/// Waits until `key` on `c` reads `value`.
fn wait_value(c: &mut redis::Connection, key: &str, value: Option<&str>) {
    for _ in 0..500 {
        let got: Option<String> = redis::cmd("GET").arg(key).query(c).expect("get");
        if got.as_deref() == value {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("{key} never became {value:?}");
}

/// Follows a master: the image, then the stream (SELECT, MULTI/EXEC units, expiry, PUBLISH to
/// the replica's own subscribers), read-only to its clients, INFO/ROLE as Redis, and
/// REPLICAOF NO ONE makes it a writable master again that no longer applies the old stream.
fn follow_and_promote(master_port: u16, mut m: redis::Connection) {
    let replica = Server::start();
    let mut r = replica.client();
    let _: () = redis::cmd("SET").arg("before").arg("1").query(&mut m).unwrap();
    let _: () = redis::cmd("RPUSH").arg("list").arg("a").arg("b").query(&mut m).unwrap();
    let _: () = redis::cmd("SET").arg("stale").arg("x").query(&mut r).unwrap();
    let ok: String = redis::cmd("REPLICAOF")
        .arg("127.0.0.1")
        .arg(master_port)
        .query(&mut r)
        .unwrap();
    assert_eq!(ok, "OK");
    let again: String = redis::cmd("REPLICAOF")
        .arg("127.0.0.1")
        .arg(master_port)
        .query(&mut r)
        .unwrap();
    assert_eq!(again, "OK Already connected to specified master");
    wait_info(&mut r, "master_link_status", "up");
    wait_info(&mut r, "role", "slave");
    // The image replaced the replica's own data.
    wait_value(&mut r, "before", Some("1"));
    let stale: Option<String> = redis::cmd("GET").arg("stale").query(&mut r).unwrap();
    assert_eq!(stale, None);
    let list: Vec<String> = redis::cmd("LRANGE").arg("list").arg(0).arg(-1).query(&mut r).unwrap();
    assert_eq!(list, ["a", "b"]);
    // The stream: another database, a transaction, an expiry, an increment.
    let _: () = redis::cmd("SELECT").arg(3).query(&mut m).unwrap();
    let _: () = redis::cmd("SET").arg("in3").arg("v").query(&mut m).unwrap();
    let _: () = redis::cmd("SELECT").arg(0).query(&mut m).unwrap();
    let (_, _): (String, String) = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg("t1")
        .arg("a")
        .cmd("SET")
        .arg("t2")
        .arg("b")
        .query(&mut m)
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg("short")
        .arg("v")
        .arg("PX")
        .arg(100)
        .query(&mut m)
        .unwrap();
    for _ in 0..100 {
        let _: i64 = redis::cmd("INCR").arg("counter").query(&mut m).unwrap();
    }
    let _: () = redis::cmd("SET").arg("last").arg("done").query(&mut m).unwrap();
    wait_value(&mut r, "last", Some("done"));
    let counter: String = redis::cmd("GET").arg("counter").query(&mut r).unwrap();
    assert_eq!(counter, "100");
    let t: Vec<Option<String>> = redis::cmd("MGET").arg("t1").arg("t2").query(&mut r).unwrap();
    assert_eq!(t, [Some("a".to_string()), Some("b".to_string())]);
    let mut r3 = replica.client();
    let _: () = redis::cmd("SELECT").arg(3).query(&mut r3).unwrap();
    let in3: Option<String> = redis::cmd("GET").arg("in3").query(&mut r3).unwrap();
    assert_eq!(in3.as_deref(), Some("v"));
    wait_value(&mut r, "short", None);
    // Read-only to its own clients, scripts included; reads work.
    let err = redis::cmd("SET").arg("k").arg("v").query::<()>(&mut r).unwrap_err();
    assert!(err.to_string().to_uppercase().contains("READONLY"), "{err}");
    let err = redis::cmd("EVAL")
        .arg("return redis.call('set','k','v')")
        .arg(0)
        .query::<()>(&mut r)
        .unwrap_err();
    assert!(err.to_string().to_uppercase().contains("READONLY"), "{err}");
    let err = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg("k")
        .arg("v")
        .query::<()>(&mut r)
        .unwrap_err();
    assert!(
        err.to_string().to_uppercase().contains("READONLY") || err.to_string().to_uppercase().contains("EXECABORT"),
        "{err}"
    );
    // ROLE: slave, host, port, state, offset.
    let role: redis::Value = redis::cmd("ROLE").query(&mut r).unwrap();
    let redis::Value::Array(role) = role else {
        panic!("{role:?}")
    };
    assert_eq!(role[0], redis::Value::BulkString(b"slave".to_vec()));
    assert_eq!(role[2], redis::Value::Int(master_port as i64));
    assert_eq!(role[3], redis::Value::BulkString(b"connected".to_vec()));
    // PUBLISH on the master reaches the replica's subscribers.
    let mut sub = replica.client();
    let mut ps = sub.as_pubsub();
    ps.subscribe("news").unwrap();
    ps.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
    let _: i64 = redis::cmd("PUBLISH").arg("news").arg("hello").query(&mut m).unwrap();
    let msg = ps.get_message().unwrap();
    assert_eq!(msg.get_payload::<String>().unwrap(), "hello");
    drop(ps);
    // Promoted: writable, and the old master's writes no longer arrive.
    let ok: String = redis::cmd("REPLICAOF").arg("NO").arg("ONE").query(&mut r).unwrap();
    assert_eq!(ok, "OK");
    wait_info(&mut r, "role", "master");
    let _: () = redis::cmd("SET").arg("k").arg("mine").query(&mut r).unwrap();
    let _: () = redis::cmd("SET").arg("after").arg("1").query(&mut m).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let after: Option<String> = redis::cmd("GET").arg("after").query(&mut r).unwrap();
    assert_eq!(after, None);
}

#[test]
fn replicaof_follows_an_ochre_master() {
    let master = Server::start();
    let m = master.client();
    follow_and_promote(master.port, m);
}

#[test]
fn replicaof_follows_a_real_redis_master() {
    let Some(reference) = common::Reference::start() else {
        return;
    };
    let m = redis::Client::open(format!("redis://127.0.0.1:{}/", reference.port))
        .unwrap()
        .get_connection()
        .unwrap();
    follow_and_promote(reference.port, m);
}

#[test]
fn replicaof_errors_and_a_down_link() {
    let s = Server::start();
    let mut c = s.client();
    let err = redis::cmd("REPLICAOF")
        .arg("127.0.0.1")
        .arg("notaport")
        .query::<()>(&mut c)
        .unwrap_err();
    assert!(err.to_string().contains("Invalid master port"), "{err}");
    let err = redis::cmd("REPLICAOF")
        .arg("127.0.0.1")
        .arg(70000)
        .query::<()>(&mut c)
        .unwrap_err();
    assert!(err.to_string().contains("Invalid master port"), "{err}");
    let err = redis::cmd("REPLICAOF")
        .arg("127.0.0.1")
        .query::<()>(&mut c)
        .unwrap_err();
    assert!(err.to_string().contains("wrong number of arguments"), "{err}");
    // Nobody listens there: the link stays down, and with replica-serve-stale-data no only
    // `stale` commands run.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = dead.local_addr().unwrap().port();
    drop(dead);
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut c).unwrap();
    let _: () = redis::cmd("REPLICAOF")
        .arg("127.0.0.1")
        .arg(port)
        .query(&mut c)
        .unwrap();
    wait_info(&mut c, "master_link_status", "down");
    let v: String = redis::cmd("GET").arg("k").query(&mut c).unwrap();
    assert_eq!(v, "v");
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("replica-serve-stale-data")
        .arg("no")
        .query(&mut c)
        .unwrap();
    let err = redis::cmd("GET").arg("k").query::<()>(&mut c).unwrap_err();
    assert!(err.to_string().to_uppercase().contains("MASTERDOWN"), "{err}");
    let pong: String = redis::cmd("INFO").arg("server").query(&mut c).unwrap();
    assert!(pong.contains("redis_version"));
    let _: () = redis::cmd("REPLICAOF").arg("no").arg("one").query(&mut c).unwrap();
    let v: String = redis::cmd("GET").arg("k").query(&mut c).unwrap();
    assert_eq!(v, "v");
}

#[test]
fn replicaof_in_the_config_file_follows_at_start() {
    let master = Server::start();
    let mut m = master.client();
    let _: () = redis::cmd("SET").arg("from-config").arg("yes").query(&mut m).unwrap();
    let replica = Server::start_with(&["--replicaof", "127.0.0.1", &master.port.to_string()]);
    let mut r = replica.client();
    wait_info(&mut r, "master_link_status", "up");
    wait_value(&mut r, "from-config", Some("yes"));
}

/// A master that sends nonsense (a corrupt image, then a corrupt stream after a valid image)
/// never crashes the replica: it logs, drops the link and connects again.
#[test]
fn a_master_sending_garbage_is_dropped_and_retried() {
    use std::io::Write;
    // A valid empty image, taken from a real server over SYNC.
    let donor = Server::start();
    let mut d = stream(&donor.raw());
    d.get_mut().write_all(b"SYNC\r\n").unwrap();
    let empty = image(&mut d);
    let fake = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = fake.local_addr().unwrap().port();
    let replica = Server::start();
    let mut r = replica.client();
    let _: () = redis::cmd("REPLICAOF")
        .arg("127.0.0.1")
        .arg(port)
        .query(&mut r)
        .unwrap();
    let payloads: Vec<Vec<u8>> = vec![
        b"$5\r\nhello".to_vec(),
        [
            format!("${}\r\n", empty.len()).into_bytes(),
            empty.clone(),
            b"*2\r\n$3\r\nSET\r\n$x\r\n".to_vec(),
        ]
        .concat(),
        b"-ERR go away\r\n".to_vec(),
    ];
    for payload in payloads {
        let (sock, _) = fake.accept().unwrap();
        sock.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
        let mut rd = BufReader::new(sock.try_clone().unwrap());
        let mut w = sock;
        // PING, REPLCONF listening-port, REPLCONF capa, then PSYNC.
        for reply in ["+PONG\r\n", "+OK\r\n", "+OK\r\n"] {
            command(&mut rd);
            w.write_all(reply.as_bytes()).unwrap();
        }
        let psync = command(&mut rd);
        assert_eq!(psync[0].to_uppercase(), "PSYNC");
        w.write_all(b"+FULLRESYNC 0123456789012345678901234567890123456789 0\r\n")
            .unwrap();
        w.write_all(&payload).unwrap();
        let pong: String = redis::cmd("PING").query(&mut r).unwrap();
        assert_eq!(pong, "PONG");
    }
    let _: () = redis::cmd("REPLICAOF").arg("NO").arg("ONE").query(&mut r).unwrap();
    let pong: String = redis::cmd("PING").query(&mut r).unwrap();
    assert_eq!(pong, "PONG");
}

/// SCAN and RANDOMKEY delete the expired keys they meet, as Redis's expireIfNeeded does, and
/// each deletion reaches replicas as a DEL of its own, not wrapped in MULTI/EXEC (a read
/// command has no unit of writes to join).
#[test]
fn expired_keys_scan_and_randomkey_meet_are_deleted_and_replicated() {
    let srv = common::Server::start();
    let mut c = srv.raw();
    assert_eq!(c.cmd_str(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]), "+OK\r\n");
    for cmd in ["SCAN", "RANDOMKEY"] {
        assert_eq!(c.cmd_str(&["FLUSHALL"]), "+OK\r\n");
        assert_eq!(c.cmd_str(&["SET", "foo1", "bar", "PX", "1"]), "+OK\r\n");
        assert_eq!(c.cmd_str(&["SET", "foo2", "bar", "PX", "1"]), "+OK\r\n");
        std::thread::sleep(std::time::Duration::from_millis(5));
        let mut repl = srv.raw();
        repl.send(b"SYNC\r\n");
        let mut rs = stream(&repl);
        let _ = image(&mut rs);
        let args: &[&str] = if cmd == "SCAN" { &["SCAN", "0"] } else { &["RANDOMKEY"] };
        let reply = c.cmd_str(args);
        assert!(!reply.contains("foo"), "{cmd}: {reply}");
        assert_eq!(command(&mut rs), words("SELECT 0"));
        let mut deleted = vec![command(&mut rs), command(&mut rs)];
        deleted.sort();
        assert_eq!(deleted, vec![words("DEL foo1"), words("DEL foo2")], "{cmd}");
        assert_eq!(c.cmd_str(&["DBSIZE"]), ":0\r\n", "{cmd}");
    }
}

/// `bind-source-addr`: the replica connects to its master from that address (the master lists
/// it as the replica's ip); one that cannot be bound is ignored, as Redis's best-effort bind.
#[test]
fn replica_connects_from_bind_source_addr() {
    let master = Server::start();
    let mut m = master.client();
    for (source, seen) in [("127.0.0.2", "ip=127.0.0.2,"), ("192.0.2.1", "ip=127.0.0.1,")] {
        let replica = Server::start();
        let mut r = replica.client();
        let ok: String = redis::cmd("CONFIG")
            .arg("SET")
            .arg("bind-source-addr")
            .arg(source)
            .query(&mut r)
            .unwrap();
        assert_eq!(ok, "OK");
        let ok: String = redis::cmd("REPLICAOF")
            .arg("127.0.0.1")
            .arg(master.port)
            .query(&mut r)
            .unwrap();
        assert_eq!(ok, "OK");
        wait_info(&mut r, "master_link_status", "up");
        let info: String = redis::cmd("INFO").arg("replication").query(&mut m).unwrap();
        let slave = info.lines().find(|l| l.starts_with("slave0:")).unwrap_or_default();
        assert!(slave.contains(seen), "{source}: {info}");
        let ok: String = redis::cmd("REPLICAOF").arg("NO").arg("ONE").query(&mut r).unwrap();
        assert_eq!(ok, "OK");
        drop(replica);
        // Wait for the master to drop the old replica before the next round.
        for _ in 0..250 {
            let info: String = redis::cmd("INFO").arg("replication").query(&mut m).unwrap();
            if info.contains("connected_slaves:0") {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}
