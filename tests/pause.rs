//! CLIENT PAUSE: held clients, what is still answered at once, and a dataset that does not
//! change while paused.

mod common;

use std::time::Duration;

fn info_field(raw: &mut common::Raw, field: &str) -> String {
    let text = String::from_utf8_lossy(&raw.cmd(&[b"INFO", b"everything"])).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")).map(|v| v.trim().to_string()))
        .unwrap_or_default()
}

#[test]
fn paused_writes_wait_and_count_as_blocked() {
    let srv = common::Server::start_with(&["--threads", "2"]);
    let mut admin = srv.raw();
    assert_eq!(admin.cmd(&[b"CLIENT", b"PAUSE", b"60000", b"WRITE"]), b"+OK\r\n");
    let mut writer = srv.raw();
    writer.send(b"*3\r\n$3\r\nSET\r\n$3\r\nFOO\r\n$3\r\nBAR\r\n");
    // The write is held; reads and errors are answered at once.
    let mut reader = srv.raw();
    assert_eq!(reader.cmd(&[b"GET", b"FOO"]), b"$-1\r\n");
    assert_eq!(
        reader.cmd(&[b"SET", b"FOO"]),
        b"-ERR wrong number of arguments for 'set' command\r\n"
    );
    assert_eq!(
        reader.cmd(&[b"NOSUCH"]),
        b"-ERR unknown command 'NOSUCH', with args beginning with: \r\n"
    );
    let mut n = String::new();
    for _ in 0..100 {
        n = info_field(&mut admin, "blocked_clients");
        if n == "1" {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(n, "1");
    assert_eq!(admin.cmd(&[b"CLIENT", b"UNPAUSE"]), b"+OK\r\n");
    assert_eq!(writer.read_reply(), b"+OK\r\n");
    assert_eq!(reader.cmd(&[b"GET", b"FOO"]), b"$3\r\nBAR\r\n");
    assert_eq!(info_field(&mut admin, "blocked_clients"), "0");
}

#[test]
fn expired_keys_are_kept_while_paused() {
    let srv = common::Server::start();
    let mut c = srv.raw();
    assert_eq!(c.cmd(&[b"SET", b"k", b"v", b"PX", b"50"]), b"+OK\r\n");
    assert_eq!(c.cmd(&[b"CLIENT", b"PAUSE", b"10000", b"WRITE"]), b"+OK\r\n");
    std::thread::sleep(Duration::from_millis(300));
    // Logically expired, but not deleted: neither lazy nor active expiry runs during the pause.
    assert_eq!(c.cmd(&[b"GET", b"k"]), b"$-1\r\n");
    assert_eq!(c.cmd(&[b"DBSIZE"]), b":1\r\n");
    assert_eq!(info_field(&mut c, "expired_keys"), "0");
    assert_eq!(c.cmd(&[b"CLIENT", b"UNPAUSE"]), b"+OK\r\n");
    assert_eq!(c.cmd(&[b"GET", b"k"]), b"$-1\r\n");
    assert_eq!(c.cmd(&[b"DBSIZE"]), b":0\r\n");
    assert_eq!(info_field(&mut c, "expired_keys"), "1");
}
