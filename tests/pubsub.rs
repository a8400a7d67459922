//! Pub/Sub and keyspace notifications against a real server: delivery across connections on
//! different workers, patterns, shard channels, RESP2 subscriber mode and RESP3 pushes, the
//! output limit that disconnects slow subscribers, PUBSUB introspection, every error reply, and
//! the keyspace events of each command family.

mod common;

use common::{Raw, Server};
use std::time::{Duration, Instant};

/// A RESP array (`*`, or `>` for RESP3 pushes) of bulk strings and integers, as raw bytes.
enum P<'a> {
    B(&'a [u8]),
    I(i64),
    Null,
}

fn frame(head: u8, parts: &[P]) -> Vec<u8> {
    let mut v = vec![head];
    v.extend_from_slice(format!("{}\r\n", parts.len()).as_bytes());
    for p in parts {
        match p {
            P::B(b) => {
                v.extend_from_slice(format!("${}\r\n", b.len()).as_bytes());
                v.extend_from_slice(b);
                v.extend_from_slice(b"\r\n");
            }
            P::I(n) => v.extend_from_slice(format!(":{n}\r\n").as_bytes()),
            P::Null if head == b'>' => v.extend_from_slice(b"_\r\n"),
            P::Null => v.extend_from_slice(b"$-1\r\n"),
        }
    }
    v
}

fn msg(channel: &str, m: &str) -> Vec<u8> {
    frame(b'*', &[P::B(b"message"), P::B(channel.as_bytes()), P::B(m.as_bytes())])
}

fn pmsg(pattern: &str, channel: &str, m: &str) -> Vec<u8> {
    frame(
        b'*',
        &[
            P::B(b"pmessage"),
            P::B(pattern.as_bytes()),
            P::B(channel.as_bytes()),
            P::B(m.as_bytes()),
        ],
    )
}

fn conf(kind: &str, channel: &str, n: i64) -> Vec<u8> {
    frame(b'*', &[P::B(kind.as_bytes()), P::B(channel.as_bytes()), P::I(n)])
}

fn int(n: i64) -> Vec<u8> {
    format!(":{n}\r\n").into_bytes()
}

/// Sends a command without waiting for its reply.
fn send(r: &mut Raw, args: &[&[u8]]) {
    let mut req = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        req.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        req.extend_from_slice(a);
        req.extend_from_slice(b"\r\n");
    }
    r.send(&req);
}

// ---------------------------------------------------------------------------------------------
// Channels
// ---------------------------------------------------------------------------------------------

#[test]
fn publish_reaches_subscribers_on_every_worker() {
    let srv = Server::start_with(&["--threads", "4"]);
    // Connections are spread round-robin over the workers, so these sit on different threads.
    let mut subs: Vec<Raw> = (0..6).map(|_| srv.raw()).collect();
    for (i, s) in subs.iter_mut().enumerate() {
        assert_eq!(s.cmd(&[b"SUBSCRIBE", b"news"]), conf("subscribe", "news", 1));
        if i % 2 == 0 {
            assert_eq!(s.cmd(&[b"SUBSCRIBE", b"odd"]), conf("subscribe", "odd", 2));
        }
    }
    let mut publisher = srv.raw();
    assert_eq!(publisher.cmd(&[b"PUBLISH", b"news", b"hello"]), int(6));
    assert_eq!(publisher.cmd(&[b"PUBLISH", b"odd", b"x"]), int(3));
    assert_eq!(publisher.cmd(&[b"PUBLISH", b"nobody", b"x"]), int(0));
    for (i, s) in subs.iter_mut().enumerate() {
        assert_eq!(s.read_reply(), msg("news", "hello"));
        if i % 2 == 0 {
            assert_eq!(s.read_reply(), msg("odd", "x"));
        }
    }
    // Many messages keep their order per subscriber.
    for i in 0..200 {
        publisher.cmd(&[b"PUBLISH", b"news", format!("m{i}").as_bytes()]);
    }
    for s in subs.iter_mut() {
        for i in 0..200 {
            assert_eq!(s.read_reply(), msg("news", &format!("m{i}")));
        }
    }
}

#[test]
fn subscribe_counts_unsubscribe_and_replies_without_subscriptions() {
    let srv = Server::start();
    let mut r = srv.raw();
    send(&mut r, &[b"SUBSCRIBE", b"a", b"b", b"a"]);
    assert_eq!(r.read_reply(), conf("subscribe", "a", 1));
    assert_eq!(r.read_reply(), conf("subscribe", "b", 2));
    assert_eq!(r.read_reply(), conf("subscribe", "a", 2));
    send(&mut r, &[b"UNSUBSCRIBE", b"zz", b"a"]);
    assert_eq!(r.read_reply(), conf("unsubscribe", "zz", 2));
    assert_eq!(r.read_reply(), conf("unsubscribe", "a", 1));
    assert_eq!(r.cmd(&[b"UNSUBSCRIBE"]), conf("unsubscribe", "b", 0));
    // Out of subscriber mode now: normal commands work.
    assert_eq!(r.cmd(&[b"PING"]), b"+PONG\r\n");
    // Nothing to unsubscribe from: still one reply, with a null channel.
    let none = frame(b'*', &[P::B(b"unsubscribe"), P::Null, P::I(0)]);
    assert_eq!(r.cmd(&[b"UNSUBSCRIBE"]), none);
    let none = frame(b'*', &[P::B(b"punsubscribe"), P::Null, P::I(0)]);
    assert_eq!(r.cmd(&[b"PUNSUBSCRIBE"]), none);
    let none = frame(b'*', &[P::B(b"sunsubscribe"), P::Null, P::I(0)]);
    assert_eq!(r.cmd(&[b"SUNSUBSCRIBE"]), none);
    // Unsubscribing from channels never subscribed answers each with the count.
    send(&mut r, &[b"PUNSUBSCRIBE", b"x*", b"y*"]);
    assert_eq!(r.read_reply(), conf("punsubscribe", "x*", 0));
    assert_eq!(r.read_reply(), conf("punsubscribe", "y*", 0));
}

#[test]
fn patterns_match_with_glob_rules() {
    let srv = Server::start_with(&["--threads", "2"]);
    let mut s = srv.raw();
    send(&mut s, &[b"PSUBSCRIBE", b"foo.*", b"b[ae]r?"]);
    assert_eq!(s.read_reply(), conf("psubscribe", "foo.*", 1));
    assert_eq!(s.read_reply(), conf("psubscribe", "b[ae]r?", 2));
    assert_eq!(s.cmd(&[b"SUBSCRIBE", b"foo.x"]), conf("subscribe", "foo.x", 3));
    let mut p = srv.raw();
    // One channel subscriber plus one pattern: two receivers, channel first.
    assert_eq!(p.cmd(&[b"PUBLISH", b"foo.x", b"1"]), int(2));
    assert_eq!(s.read_reply(), msg("foo.x", "1"));
    assert_eq!(s.read_reply(), pmsg("foo.*", "foo.x", "1"));
    assert_eq!(p.cmd(&[b"PUBLISH", b"bark", b"2"]), int(1));
    assert_eq!(s.read_reply(), pmsg("b[ae]r?", "bark", "2"));
    assert_eq!(p.cmd(&[b"PUBLISH", b"bar", b"3"]), int(0));
    assert_eq!(p.cmd(&[b"PUBLISH", b"foo", b"3"]), int(0));
    assert_eq!(p.cmd(&[b"PUBSUB", b"NUMPAT"]), int(2));
    // A second client on an overlapping pattern: still two distinct patterns.
    let mut s2 = srv.raw();
    assert_eq!(s2.cmd(&[b"PSUBSCRIBE", b"foo.*"]), conf("psubscribe", "foo.*", 1));
    assert_eq!(p.cmd(&[b"PUBSUB", b"NUMPAT"]), int(2));
    assert_eq!(p.cmd(&[b"PUBLISH", b"foo.y", b"4"]), int(2));
    assert_eq!(s.read_reply(), pmsg("foo.*", "foo.y", "4"));
    assert_eq!(s2.read_reply(), pmsg("foo.*", "foo.y", "4"));
    send(&mut s, &[b"PUNSUBSCRIBE"]);
    assert_eq!(s.read_reply(), conf("punsubscribe", "foo.*", 2));
    assert_eq!(s.read_reply(), conf("punsubscribe", "b[ae]r?", 1));
    assert_eq!(p.cmd(&[b"PUBSUB", b"NUMPAT"]), int(1));
}

#[test]
fn shard_channels_ignore_patterns() {
    let srv = Server::start();
    let mut s = srv.raw();
    assert_eq!(s.cmd(&[b"SSUBSCRIBE", b"orders"]), conf("ssubscribe", "orders", 1));
    // The shard count is separate from channels and patterns.
    assert_eq!(s.cmd(&[b"SUBSCRIBE", b"orders"]), conf("subscribe", "orders", 1));
    let mut w = srv.raw();
    assert_eq!(w.cmd(&[b"PSUBSCRIBE", b"*"]), conf("psubscribe", "*", 1));
    let mut p = srv.raw();
    assert_eq!(p.cmd(&[b"SPUBLISH", b"orders", b"o1"]), int(1));
    let smsg = frame(b'*', &[P::B(b"smessage"), P::B(b"orders"), P::B(b"o1")]);
    assert_eq!(s.read_reply(), smsg);
    // PUBLISH on the same name reaches the channel subscriber and the pattern, not the shard one.
    assert_eq!(p.cmd(&[b"PUBLISH", b"orders", b"o2"]), int(2));
    assert_eq!(s.read_reply(), msg("orders", "o2"));
    assert_eq!(w.read_reply(), pmsg("*", "orders", "o2"));
    assert_eq!(p.cmd(&[b"PUBSUB", b"SHARDCHANNELS"]), b"*1\r\n$6\r\norders\r\n");
    assert_eq!(p.cmd(&[b"PUBSUB", b"SHARDCHANNELS", b"x*"]), b"*0\r\n");
    assert_eq!(
        p.cmd(&[b"PUBSUB", b"SHARDNUMSUB", b"orders", b"none"]),
        b"*4\r\n$6\r\norders\r\n:1\r\n$4\r\nnone\r\n:0\r\n"
    );
    assert_eq!(s.cmd(&[b"SUNSUBSCRIBE", b"orders"]), conf("sunsubscribe", "orders", 0));
    assert_eq!(p.cmd(&[b"SPUBLISH", b"orders", b"o3"]), int(0));
}

// ---------------------------------------------------------------------------------------------
// Subscriber mode, RESP3, CLIENT REPLY
// ---------------------------------------------------------------------------------------------

#[test]
fn resp2_subscriber_mode_allows_only_subscription_commands() {
    let srv = Server::start();
    let mut r = srv.raw();
    r.cmd(&[b"SUBSCRIBE", b"c"]);
    let denied = |cmd: &str| {
        format!("-ERR Can't execute '{cmd}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n").into_bytes()
    };
    assert_eq!(r.cmd(&[b"GET", b"k"]), denied("get"));
    assert_eq!(r.cmd(&[b"PUBLISH", b"c", b"m"]), denied("publish"));
    assert_eq!(r.cmd(&[b"CONFIG", b"GET", b"port"]), denied("config|get"));
    assert_eq!(r.cmd(&[b"SLOWLOG", b"RESET"]), denied("slowlog|reset"));
    // Unknown commands and arity errors are reported as such first.
    assert!(r.cmd(&[b"NOSUCH"]).starts_with(b"-ERR unknown command 'NOSUCH'"));
    assert_eq!(
        r.cmd(&[b"GET"]),
        b"-ERR wrong number of arguments for 'get' command\r\n"
    );
    // PING answers as a message-like array.
    assert_eq!(r.cmd(&[b"PING"]), b"*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    assert_eq!(r.cmd(&[b"PING", b"hi"]), b"*2\r\n$4\r\npong\r\n$2\r\nhi\r\n");
    assert_eq!(
        r.cmd(&[b"PING", b"a", b"b"]),
        b"-ERR wrong number of arguments for 'ping' command\r\n"
    );
    // The subscription-related commands all run.
    assert_eq!(r.cmd(&[b"PSUBSCRIBE", b"p*"]), conf("psubscribe", "p*", 2));
    assert_eq!(r.cmd(&[b"SSUBSCRIBE", b"s"]), conf("ssubscribe", "s", 1));
    // RESET leaves subscriber mode and drops every subscription.
    assert_eq!(r.cmd(&[b"RESET"]), b"+RESET\r\n");
    assert_eq!(r.cmd(&[b"GET", b"k"]), b"$-1\r\n");
    assert_eq!(r.cmd(&[b"PUBLISH", b"c", b"m"]), int(0));
    assert_eq!(r.cmd(&[b"PUBSUB", b"NUMPAT"]), int(0));
    // QUIT works in subscriber mode.
    r.cmd(&[b"SUBSCRIBE", b"c"]);
    assert_eq!(r.cmd(&[b"QUIT"]), b"+OK\r\n");
    assert!(r.closed());
}

#[test]
fn resp3_pushes_mix_with_replies_and_any_command_runs() {
    let srv = Server::start();
    let mut r = srv.raw();
    send(&mut r, &[b"HELLO", b"3"]);
    r.read_reply();
    let sub = frame(b'>', &[P::B(b"subscribe"), P::B(b"c"), P::I(1)]);
    assert_eq!(r.cmd(&[b"SUBSCRIBE", b"c"]), sub);
    assert_eq!(r.cmd(&[b"SET", b"k", b"v"]), b"+OK\r\n");
    assert_eq!(r.cmd(&[b"GET", b"k"]), b"$1\r\nv\r\n");
    assert_eq!(r.cmd(&[b"PING"]), b"+PONG\r\n");
    // Its own message is pushed before the PUBLISH reply, as Redis writes it.
    send(&mut r, &[b"PUBLISH", b"c", b"self"]);
    let push = frame(b'>', &[P::B(b"message"), P::B(b"c"), P::B(b"self")]);
    assert_eq!(r.read_reply(), push);
    assert_eq!(r.read_reply(), int(1));
    // Messages from another connection arrive as pushes too.
    let mut p = srv.raw();
    assert_eq!(p.cmd(&[b"PUBLISH", b"c", b"other"]), int(1));
    let push = frame(b'>', &[P::B(b"message"), P::B(b"c"), P::B(b"other")]);
    assert_eq!(r.read_reply(), push);
    let none = frame(b'>', &[P::B(b"punsubscribe"), P::Null, P::I(1)]);
    assert_eq!(r.cmd(&[b"PUNSUBSCRIBE"]), none);
}

#[test]
fn confirmations_and_messages_survive_client_reply_off() {
    let srv = Server::start();
    let mut r = srv.raw();
    send(&mut r, &[b"CLIENT", b"REPLY", b"OFF"]);
    assert_eq!(r.cmd(&[b"SUBSCRIBE", b"c"]), conf("subscribe", "c", 1));
    let mut p = srv.raw();
    assert_eq!(p.cmd(&[b"PUBLISH", b"c", b"m"]), int(1));
    assert_eq!(r.read_reply(), msg("c", "m"));
    let mut r2 = srv.raw();
    send(&mut r2, &[b"CLIENT", b"REPLY", b"SKIP"]);
    assert_eq!(r2.cmd(&[b"PSUBSCRIBE", b"*"]), conf("psubscribe", "*", 1));
}

// ---------------------------------------------------------------------------------------------
// Introspection and life cycle
// ---------------------------------------------------------------------------------------------

fn info_field(r: &mut Raw, field: &str) -> String {
    let reply = r.cmd(&[b"INFO", b"stats"]);
    let text = String::from_utf8_lossy(&reply).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")).map(|v| v.trim().to_string()))
        .unwrap_or_default()
}

#[test]
fn pubsub_introspection_client_list_and_info() {
    let srv = Server::start_with(&["--threads", "2"]);
    let mut s = srv.raw();
    send(&mut s, &[b"SUBSCRIBE", b"news.1", b"news.2", b"other"]);
    for _ in 0..3 {
        s.read_reply();
    }
    s.cmd(&[b"PSUBSCRIBE", b"n*"]);
    s.cmd(&[b"SSUBSCRIBE", b"sh"]);
    let mut c = srv.raw();
    let chans = c.cmd(&[b"PUBSUB", b"CHANNELS", b"news.*"]);
    let mut names: Vec<&str> = std::str::from_utf8(&chans)
        .unwrap_or("")
        .lines()
        .filter(|l| l.starts_with("news"))
        .collect();
    names.sort();
    assert!(chans.starts_with(b"*2\r\n"), "{chans:?}");
    assert_eq!(names, ["news.1", "news.2"]);
    assert!(c.cmd(&[b"PUBSUB", b"CHANNELS"]).starts_with(b"*3\r\n"));
    assert_eq!(
        c.cmd(&[b"PUBSUB", b"NUMSUB", b"news.1", b"zz"]),
        b"*4\r\n$6\r\nnews.1\r\n:1\r\n$2\r\nzz\r\n:0\r\n"
    );
    assert_eq!(c.cmd(&[b"PUBSUB", b"NUMSUB"]), b"*0\r\n");
    assert_eq!(c.cmd(&[b"PUBSUB", b"SHARDNUMSUB"]), b"*0\r\n");
    assert_eq!(info_field(&mut c, "pubsub_channels"), "3");
    assert_eq!(info_field(&mut c, "pubsub_patterns"), "1");
    assert_eq!(info_field(&mut c, "pubsubshard_channels"), "1");
    let list = String::from_utf8_lossy(&c.cmd(&[b"CLIENT", b"LIST", b"TYPE", b"pubsub"])).into_owned();
    assert!(list.contains(" flags=P "), "{list}");
    assert!(list.contains(" sub=3 psub=1 ssub=1 "), "{list}");
    assert!(
        !list.contains("cmd=client"),
        "only the subscriber is of type pubsub: {list}"
    );
    // Closing the subscriber forgets all of it.
    assert_eq!(c.cmd(&[b"CLIENT", b"KILL", b"TYPE", b"pubsub"]), int(1));
    let deadline = Instant::now() + Duration::from_secs(5);
    while info_field(&mut c, "pubsub_channels") != "0" && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(info_field(&mut c, "pubsub_channels"), "0");
    assert_eq!(info_field(&mut c, "pubsub_patterns"), "0");
    assert_eq!(info_field(&mut c, "pubsubshard_channels"), "0");
    assert_eq!(c.cmd(&[b"PUBLISH", b"news.1", b"x"]), int(0));
    assert_eq!(c.cmd(&[b"PUBSUB", b"CHANNELS"]), b"*0\r\n");
}

#[test]
fn pubsub_help_and_every_error_reply() {
    let srv = Server::start();
    let mut r = srv.raw();
    let help = r.cmd(&[b"PUBSUB", b"HELP"]);
    assert!(help.starts_with(b"*14\r\n+PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n"));
    assert_eq!(
        r.cmd(&[b"PUBSUB", b"CHANNELS", b"a", b"b"]),
        b"-ERR unknown subcommand or wrong number of arguments for 'CHANNELS'. Try PUBSUB HELP.\r\n"
    );
    assert_eq!(
        r.cmd(&[b"PUBSUB", b"shardchannels", b"a", b"b"]),
        b"-ERR unknown subcommand or wrong number of arguments for 'shardchannels'. Try PUBSUB HELP.\r\n"
    );
    assert_eq!(
        r.cmd(&[b"PUBSUB", b"NUMPAT", b"x"]),
        b"-ERR wrong number of arguments for 'pubsub|numpat' command\r\n"
    );
    assert_eq!(
        r.cmd(&[b"PUBSUB", b"HELP", b"x"]),
        b"-ERR wrong number of arguments for 'pubsub|help' command\r\n"
    );
    assert_eq!(
        r.cmd(&[b"PUBSUB", b"FOO"]),
        b"-ERR unknown subcommand 'FOO'. Try PUBSUB HELP.\r\n"
    );
    assert_eq!(
        r.cmd(&[b"PUBSUB"]),
        b"-ERR wrong number of arguments for 'pubsub' command\r\n"
    );
    for (cmd, name) in [
        (&b"SUBSCRIBE"[..], "subscribe"),
        (b"PSUBSCRIBE", "psubscribe"),
        (b"SSUBSCRIBE", "ssubscribe"),
    ] {
        let want = format!("-ERR wrong number of arguments for '{name}' command\r\n");
        assert_eq!(r.cmd(&[cmd]), want.as_bytes());
    }
    for (cmd, name) in [(&b"PUBLISH"[..], "publish"), (b"SPUBLISH", "spublish")] {
        let want = format!("-ERR wrong number of arguments for '{name}' command\r\n");
        assert_eq!(r.cmd(&[cmd, b"c"]), want.as_bytes());
        assert_eq!(r.cmd(&[cmd, b"c", b"m", b"x"]), want.as_bytes());
    }
}

/// Resident memory of the server process, in bytes (INFO's used_memory_rss).
fn rss_of(r: &mut Raw) -> u64 {
    let reply = r.cmd(&[b"INFO", b"memory"]);
    let text = String::from_utf8_lossy(&reply).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix("used_memory_rss:").and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0)
}

#[test]
fn slow_subscriber_is_disconnected_at_the_hard_limit_and_memory_stays_bounded() {
    let srv = Server::start_with(&["--threads", "2"]);
    let mut c = srv.raw();
    assert_eq!(
        c.cmd(&[b"CONFIG", b"SET", b"client-output-buffer-limit", b"pubsub 2mb 0 0"]),
        b"+OK\r\n"
    );
    // A subscriber that never reads.
    let mut slow = srv.raw();
    slow.cmd(&[b"SUBSCRIBE", b"flood"]);
    // A well-behaved subscriber that reads everything stays connected.
    let mut good = srv.raw();
    good.cmd(&[b"SUBSCRIBE", b"flood"]);
    let before = rss_of(&mut c);
    let payload = vec![b'x'; 64 * 1024];
    let mut p = srv.raw();
    let mut receivers_seen_one = false;
    // 3,000 × 64 KB = 192 MB published: far more than the socket buffers and the limit.
    for i in 0..3000 {
        let n = p.cmd(&[b"PUBLISH", b"flood", &payload]);
        if n == int(1) {
            receivers_seen_one = true;
        }
        let expected = msg("flood", &String::from_utf8_lossy(&payload));
        let got = good.read_n(expected.len());
        assert_eq!(got.len(), expected.len(), "good subscriber got message {i}");
        if receivers_seen_one && i > 200 {
            break;
        }
    }
    assert!(receivers_seen_one, "the slow subscriber was never disconnected");
    assert_eq!(p.cmd(&[b"PUBSUB", b"NUMSUB", b"flood"]), b"*2\r\n$5\r\nflood\r\n:1\r\n");
    let after = rss_of(&mut c);
    assert!(
        after < before + 64 * 1024 * 1024,
        "memory grew from {before} to {after} bytes for a subscriber that never reads"
    );
    // The slow connection was closed by the server.
    let mut buf = vec![0u8; 1 << 20];
    let mut closed = false;
    slow.s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        use std::io::Read;
        match slow.s.read(&mut buf) {
            Ok(0) | Err(_) => {
                closed = true;
                break;
            }
            Ok(_) => {}
        }
    }
    assert!(closed, "the slow subscriber's connection stayed open");
}

#[test]
fn soft_limit_disconnects_after_its_seconds() {
    let srv = Server::start();
    let mut c = srv.raw();
    assert_eq!(
        c.cmd(&[b"CONFIG", b"SET", b"client-output-buffer-limit", b"pubsub 0 512kb 1"]),
        b"+OK\r\n"
    );
    let mut slow = srv.raw();
    slow.cmd(&[b"SUBSCRIBE", b"s"]);
    let payload = vec![b'y'; 32 * 1024];
    let start = Instant::now();
    let mut gone_after = None;
    while start.elapsed() < Duration::from_secs(10) {
        // Keep the queue above the soft limit; the client is dropped once it stayed there > 1 s.
        let n = c.cmd(&[b"PUBSUB", b"NUMSUB", b"s"]);
        if n.ends_with(b":0\r\n") {
            gone_after = Some(start.elapsed());
            break;
        }
        c.cmd(&[b"PUBLISH", b"s", &payload]);
        std::thread::sleep(Duration::from_millis(5));
    }
    let gone = gone_after.expect("soft limit never enforced");
    assert!(gone >= Duration::from_millis(900), "dropped too early: {gone:?}");
}

// ---------------------------------------------------------------------------------------------
// Keyspace notifications
// ---------------------------------------------------------------------------------------------

#[test]
fn notify_keyspace_events_config_round_trip() {
    let srv = Server::start();
    let mut r = srv.raw();
    for (set, get) in [
        ("gKE", "gKE"),
        ("$lshzxeKE", "$lshzxeKE"),
        ("KA", "AK"),
        ("EA", "AE"),
        ("nKxg", "gxnK"),
        ("Em", "Em"),
        ("", ""),
    ] {
        assert_eq!(
            r.cmd(&[b"CONFIG", b"SET", b"notify-keyspace-events", set.as_bytes()]),
            b"+OK\r\n"
        );
        let want = format!("*2\r\n$22\r\nnotify-keyspace-events\r\n${}\r\n{get}\r\n", get.len());
        assert_eq!(r.cmd(&[b"CONFIG", b"GET", b"notify-keyspace-events"]), want.as_bytes());
    }
    assert_eq!(
        r.cmd(&[b"CONFIG", b"SET", b"notify-keyspace-events", b"KQ"]),
        b"-ERR CONFIG SET failed (possibly related to argument 'notify-keyspace-events') - Invalid event class character. Use 'Ag$lshzxeKEtmdn'.\r\n"
    );
}

/// A client subscribed to every keyspace and keyevent channel.
fn watcher(srv: &Server, classes: &str) -> Raw {
    let mut c = srv.raw();
    assert_eq!(
        c.cmd(&[b"CONFIG", b"SET", b"notify-keyspace-events", classes.as_bytes()]),
        b"+OK\r\n"
    );
    let mut w = srv.raw();
    w.cmd(&[b"PSUBSCRIBE", b"__key*__:*"]);
    w
}

/// Reads `n` keyspace messages and returns them as `event key` (from the keyspace channel) in
/// order.
fn events(w: &mut Raw, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            let f = w.read_reply();
            let text = String::from_utf8_lossy(&f).into_owned();
            let parts: Vec<&str> = text.split("\r\n").collect();
            // *4 $8 pmessage $p pattern $c channel $m message
            let channel = parts.get(6).copied().unwrap_or("");
            let message = parts.get(8).copied().unwrap_or("");
            match channel.split_once("__:") {
                Some((prefix, key)) if prefix.starts_with("__keyspace@") => format!("{message} {key}"),
                _ => format!("?{channel} {message}"),
            }
        })
        .collect()
}

fn run(r: &mut Raw, cmds: &[&[&str]]) {
    for c in cmds {
        let args: Vec<&[u8]> = c.iter().map(|a| a.as_bytes()).collect();
        let reply = r.cmd(&args);
        assert!(!reply.starts_with(b"-"), "{c:?}: {}", String::from_utf8_lossy(&reply));
    }
}

/// Runs `cmds` with only keyspace (K) events of `classes` and checks the events, in order.
fn check(classes: &str, cmds: &[&[&str]], want: &[&str]) {
    let srv = Server::start_with(&["--threads", "2"]);
    let mut w = watcher(&srv, &format!("K{classes}"));
    let mut r = srv.raw();
    run(&mut r, cmds);
    assert_eq!(events(&mut w, want.len()), want, "after {cmds:?}");
    // Nothing more than expected: the next message is this marker.
    r.cmd(&[b"PUBLISH", b"__keyspace@0__:__end__", b"end"]);
    assert_eq!(events(&mut w, 1), ["end __end__"], "extra events after {want:?}");
}

#[test]
fn keyevent_channel_carries_the_key() {
    let srv = Server::start();
    let mut w = watcher(&srv, "E$");
    let mut r = srv.raw();
    r.cmd(&[b"SELECT", b"3"]);
    r.cmd(&[b"SET", b"k1", b"v"]);
    assert_eq!(w.read_reply(), pmsg("__key*__:*", "__keyevent@3__:set", "k1"));
    // With notifications off nothing is published.
    let mut c = srv.raw();
    c.cmd(&[b"CONFIG", b"SET", b"notify-keyspace-events", b""]);
    r.cmd(&[b"SET", b"k1", b"v"]);
    c.cmd(&[b"PUBLISH", b"__keyevent@3__:marker", b"m"]);
    assert_eq!(w.read_reply(), pmsg("__key*__:*", "__keyevent@3__:marker", "m"));
}

#[test]
fn string_events() {
    check(
        "$g",
        &[
            &["SET", "s", "1"],
            &["SET", "s", "2", "EX", "100"],
            &["INCR", "s"],
            &["INCRBYFLOAT", "s", "1.5"],
            &["APPEND", "s", "x"],
            &["SETRANGE", "s", "0", "ab"],
            &["MSET", "a", "1", "b", "2"],
            &["GETEX", "a", "PX", "100000"],
            &["GETEX", "a", "PERSIST"],
            &["GETDEL", "b"],
            &["SETBIT", "bits", "3", "1"],
            &["SETBIT", "bits", "3", "1"],
            &["PFADD", "h", "x"],
        ],
        &[
            "set s",
            "set s",
            "expire s",
            "incrby s",
            "incrbyfloat s",
            "append s",
            "setrange s",
            "set a",
            "set b",
            "expire a",
            "persist a",
            "del b",
            "setbit bits",
            "pfadd h",
        ],
    );
}

#[test]
fn generic_events() {
    check(
        "g",
        &[
            &["SET", "a", "1"],
            &["EXPIRE", "a", "100"],
            &["PERSIST", "a"],
            &["RENAME", "a", "b"],
            &["COPY", "b", "c"],
            &["MOVE", "c", "5"],
            &["DEL", "b", "nosuch"],
            &["SET", "d", "1"],
            &["PEXPIRE", "d", "-1"],
        ],
        &[
            "expire a",
            "persist a",
            "rename_from a",
            "rename_to b",
            "copy_to c",
            "move_from c",
            "move_to c",
            "del b",
            "del d",
        ],
    );
}

#[test]
fn list_hash_set_zset_events() {
    check(
        "lg",
        &[
            &["RPUSH", "l", "a", "b", "c"],
            &["LPUSH", "l", "z"],
            &["LINSERT", "l", "BEFORE", "a", "y"],
            &["LSET", "l", "0", "q"],
            &["LPOP", "l"],
            &["LREM", "l", "0", "nosuch"],
            &["LMOVE", "l", "m", "RIGHT", "LEFT"],
            &["LTRIM", "l", "5", "10"],
        ],
        &[
            "rpush l",
            "lpush l",
            "linsert l",
            "lset l",
            "lpop l",
            "lpush m",
            "rpop l",
            "ltrim l",
            "del l",
        ],
    );
    check(
        "hg",
        &[
            &["HSET", "h", "f", "1"],
            &["HSETNX", "h", "f", "2"],
            &["HINCRBY", "h", "n", "2"],
            &["HINCRBYFLOAT", "h", "n", "0.5"],
            &["HDEL", "h", "nosuch"],
            &["HDEL", "h", "f", "n"],
        ],
        &["hset h", "hincrby h", "hincrbyfloat h", "hdel h", "del h"],
    );
    check(
        "sg",
        &[
            &["SADD", "s", "a", "b"],
            &["SADD", "s", "a"],
            &["SREM", "s", "a"],
            &["SMOVE", "s", "t", "b"],
            &["SADD", "u", "1", "2", "3"],
            &["SPOP", "u"],
            &["SINTERSTORE", "d", "t", "u"],
            &["SUNIONSTORE", "d", "t", "u"],
        ],
        &[
            "sadd s",
            "srem s",
            "srem s",
            "del s",
            "sadd t",
            "sadd u",
            "spop u",
            "sunionstore d",
        ],
    );
    check(
        "zg",
        &[
            &["ZADD", "z", "1", "a", "2", "b", "3", "c"],
            &["ZADD", "z", "1", "a"],
            &["ZINCRBY", "z", "5", "a"],
            &["ZREM", "z", "nosuch"],
            &["ZREM", "z", "b"],
            &["ZPOPMIN", "z"],
            &["ZUNIONSTORE", "d", "1", "z"],
            &["ZREMRANGEBYSCORE", "z", "-inf", "+inf"],
            &["ZRANGESTORE", "e", "d", "0", "-1"],
        ],
        &[
            "zadd z",
            "zincr z",
            "zrem z",
            "zpopmin z",
            "zunionstore d",
            "zremrangebyscore z",
            "del z",
            "zrangestore e",
        ],
    );
}

#[test]
fn new_and_expired_events() {
    // `new` fires once per created key.
    check(
        "n",
        &[
            &["SET", "a", "1"],
            &["SET", "a", "2"],
            &["RPUSH", "l", "x"],
            &["SADD", "s", "m"],
        ],
        &["new a", "new l", "new s"],
    );
    // `expired`: on access (lazy) and by the background cycle (active).
    let srv = Server::start();
    let mut w = watcher(&srv, "Ex");
    let mut r = srv.raw();
    r.cmd(&[b"PSETEX", b"lazy", b"50", b"v"]);
    r.cmd(&[b"DEBUG", b"SET-ACTIVE-EXPIRE", b"0"]);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(r.cmd(&[b"GET", b"lazy"]), b"$-1\r\n");
    assert_eq!(w.read_reply(), pmsg("__key*__:*", "__keyevent@0__:expired", "lazy"));
    r.cmd(&[b"DEBUG", b"SET-ACTIVE-EXPIRE", b"1"]);
    r.cmd(&[b"PSETEX", b"active", b"50", b"v"]);
    assert_eq!(w.read_reply(), pmsg("__key*__:*", "__keyevent@0__:expired", "active"));
}
