//! DUMP/RESTORE and DEBUG against a real server, including payload and digest interop with the
//! reference redis-server when `/usr/bin/redis-server` exists.

mod common;

use common::{Raw, Reference, Server};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn cmd(r: &mut Raw, args: &[&[u8]]) -> Vec<u8> {
    r.cmd(args)
}

fn check(r: &mut Raw, args: &[&[u8]], want: &str) {
    let got = r.cmd(args);
    assert_eq!(String::from_utf8_lossy(&got), want, "reply to {:?}", args);
}

/// The payload of a bulk reply.
fn bulk(reply: &[u8]) -> Vec<u8> {
    let nl = reply.windows(2).position(|w| w == b"\r\n").unwrap_or(0);
    let len: usize = std::str::from_utf8(&reply[1..nl])
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    reply[nl + 2..nl + 2 + len].to_vec()
}

fn int(reply: &[u8]) -> i64 {
    String::from_utf8_lossy(reply)
        .trim_start_matches(':')
        .trim_end()
        .parse()
        .unwrap_or(i64::MIN)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A payload with a correct footer around an arbitrary body.
fn payload(body: &[u8]) -> Vec<u8> {
    let mut p = body.to_vec();
    p.extend_from_slice(&10u16.to_le_bytes());
    let crc = ochre::persistence::rdb::crc64(&p);
    p.extend_from_slice(&crc.to_le_bytes());
    p
}

/// Values that exercise every string encoding in RDB.
fn sample_values() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"bar".to_vec(),
        b"0".to_vec(),
        b"-1".to_vec(),
        b"127".to_vec(),
        b"-129".to_vec(),
        b"32767".to_vec(),
        b"70000".to_vec(),
        b"-2147483648".to_vec(),
        b"2147483648".to_vec(),
        b"9223372036854775807".to_vec(),
        b"007".to_vec(),
        b"12345678901".to_vec(),
        b"binary\x00\xff\r\n".to_vec(),
    ];
    v.push("abc".repeat(100).into_bytes());
    v.push((0..5000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect());
    v.push(vec![b'z'; 100_000]);
    v
}

#[test]
fn dump_restore_roundtrip() {
    let srv = Server::start();
    let mut r = srv.raw();
    check(&mut r, &[b"DUMP", b"nokey"], "$-1\r\n");
    for (i, val) in sample_values().iter().enumerate() {
        let key = format!("k{i}");
        check(&mut r, &[b"SET", key.as_bytes(), val], "+OK\r\n");
        let enc_before = cmd(&mut r, &[b"OBJECT", b"ENCODING", key.as_bytes()]);
        let p = bulk(&cmd(&mut r, &[b"DUMP", key.as_bytes()]));
        check(&mut r, &[b"DEL", key.as_bytes()], ":1\r\n");
        check(&mut r, &[b"RESTORE", key.as_bytes(), b"0", &p], "+OK\r\n");
        assert_eq!(bulk(&cmd(&mut r, &[b"GET", key.as_bytes()])), *val, "value {i}");
        check(&mut r, &[b"TTL", key.as_bytes()], ":-1\r\n");
        if val.len() <= 44 {
            assert_eq!(
                cmd(&mut r, &[b"OBJECT", b"ENCODING", key.as_bytes()]),
                enc_before,
                "value {i}"
            );
        }
    }
    // A long compressible string is LZF-compressed only when rdbcompression is on.
    check(&mut r, &[b"SET", b"long", "abc".repeat(100).as_bytes()], "+OK\r\n");
    let compressed = bulk(&cmd(&mut r, &[b"DUMP", b"long"]));
    check(&mut r, &[b"CONFIG", b"SET", b"rdbcompression", b"no"], "+OK\r\n");
    let plain = bulk(&cmd(&mut r, &[b"DUMP", b"long"]));
    assert!(compressed.len() < 100 && plain.len() > 300);
    check(&mut r, &[b"RESTORE", b"long2", b"0", &compressed], "+OK\r\n");
    check(&mut r, &[b"RESTORE", b"long3", b"0", &plain], "+OK\r\n");
    assert_eq!(
        bulk(&cmd(&mut r, &[b"GET", b"long2"])),
        bulk(&cmd(&mut r, &[b"GET", b"long3"]))
    );
}

#[test]
fn restore_ttl_and_options() {
    let srv = Server::start();
    let mut r = srv.raw();
    check(&mut r, &[b"SET", b"foo", b"bar"], "+OK\r\n");
    let p = bulk(&cmd(&mut r, &[b"DUMP", b"foo"]));
    check(
        &mut r,
        &[b"RESTORE", b"foo", b"0", &p],
        "-BUSYKEY Target key name already exists.\r\n",
    );
    // Existence is checked before the payload.
    check(
        &mut r,
        &[b"RESTORE", b"foo", b"0", b"..."],
        "-BUSYKEY Target key name already exists.\r\n",
    );
    check(&mut r, &[b"SET", b"foo", b"other"], "+OK\r\n");
    check(&mut r, &[b"RESTORE", b"foo", b"0", &p, b"REPLACE"], "+OK\r\n");
    check(&mut r, &[b"GET", b"foo"], "$3\r\nbar\r\n");
    // Relative TTL, including one past 32 bits.
    check(&mut r, &[b"RESTORE", b"t1", b"5000", &p], "+OK\r\n");
    let pttl = int(&cmd(&mut r, &[b"PTTL", b"t1"]));
    assert!((4000..=5000).contains(&pttl), "{pttl}");
    check(&mut r, &[b"RESTORE", b"t2", b"2569591501", &p], "+OK\r\n");
    let pttl = int(&cmd(&mut r, &[b"PTTL", b"t2"]));
    assert!((2569591501 - 3000..=2569591501).contains(&pttl), "{pttl}");
    // Absolute TTL.
    let at = now_ms() + 3000;
    check(
        &mut r,
        &[b"RESTORE", b"t3", at.to_string().as_bytes(), &p, b"ABSTTL"],
        "+OK\r\n",
    );
    check(&mut r, &[b"PEXPIRETIME", b"t3"], &format!(":{at}\r\n"));
    // Absolute TTL in the past: OK, but no key (and REPLACE removes the old one).
    check(&mut r, &[b"DEBUG", b"SET-ACTIVE-EXPIRE", b"0"], "+OK\r\n");
    let past = (now_ms() - 3000).to_string();
    check(
        &mut r,
        &[b"RESTORE", b"foo", past.as_bytes(), &p, b"absttl", b"replace"],
        "+OK\r\n",
    );
    check(&mut r, &[b"DEBUG", b"OBJECT", b"foo"], "-ERR no such key\r\n");
    check(&mut r, &[b"EXISTS", b"foo"], ":0\r\n");
    // IDLETIME and FREQ.
    check(
        &mut r,
        &[b"RESTORE", b"idle", b"0", &p, b"IDLETIME", b"1000"],
        "+OK\r\n",
    );
    let idle = int(&cmd(&mut r, &[b"OBJECT", b"IDLETIME", b"idle"]));
    assert!((1000..=1010).contains(&idle), "{idle}");
    check(
        &mut r,
        &[b"CONFIG", b"SET", b"maxmemory-policy", b"allkeys-lfu"],
        "+OK\r\n",
    );
    check(&mut r, &[b"RESTORE", b"freq", b"0", &p, b"FREQ", b"100"], "+OK\r\n");
    check(&mut r, &[b"OBJECT", b"FREQ", b"freq"], ":100\r\n");
    check(&mut r, &[b"RESTORE", b"freq2", b"0", &p], "+OK\r\n");
    check(&mut r, &[b"OBJECT", b"FREQ", b"freq2"], ":5\r\n");
    check(
        &mut r,
        &[b"CONFIG", b"SET", b"maxmemory-policy", b"noeviction"],
        "+OK\r\n",
    );
}

#[test]
fn restore_errors() {
    let srv = Server::start();
    let mut r = srv.raw();
    check(&mut r, &[b"SET", b"foo", b"bar"], "+OK\r\n");
    let p = bulk(&cmd(&mut r, &[b"DUMP", b"foo"]));
    check(
        &mut r,
        &[b"RESTORE", b"k", b"0", &p, b"invalid-option"],
        "-ERR syntax error\r\n",
    );
    check(
        &mut r,
        &[b"RESTORE", b"k", b"0", &p, b"IDLETIME"],
        "-ERR syntax error\r\n",
    );
    check(
        &mut r,
        &[b"RESTORE", b"k", b"0", &p, b"IDLETIME", b"x"],
        "-ERR value is not an integer or out of range\r\n",
    );
    check(
        &mut r,
        &[b"RESTORE", b"k", b"0", &p, b"IDLETIME", b"-1"],
        "-ERR Invalid IDLETIME value, must be >= 0\r\n",
    );
    check(
        &mut r,
        &[b"RESTORE", b"k", b"0", &p, b"FREQ", b"256"],
        "-ERR Invalid FREQ value, must be >= 0 and <= 255\r\n",
    );
    check(
        &mut r,
        &[b"RESTORE", b"k", b"0", &p, b"FREQ", b"-1"],
        "-ERR Invalid FREQ value, must be >= 0 and <= 255\r\n",
    );
    check(
        &mut r,
        &[b"RESTORE", b"k", b"0", &p, b"FREQ", b"x"],
        "-ERR value is not an integer or out of range\r\n",
    );
    // IDLETIME and FREQ exclude each other.
    check(
        &mut r,
        &[b"RESTORE", b"k", b"0", &p, b"FREQ", b"1", b"IDLETIME", b"1"],
        "-ERR syntax error\r\n",
    );
    check(
        &mut r,
        &[b"RESTORE", b"k", b"-1", &p],
        "-ERR Invalid TTL value, must be >= 0\r\n",
    );
    check(
        &mut r,
        &[b"RESTORE", b"k", b"abc", &p],
        "-ERR value is not an integer or out of range\r\n",
    );
    let bad_version = "-ERR DUMP payload version or checksum are wrong\r\n";
    check(&mut r, &[b"RESTORE", b"k", b"0", b"..."], bad_version);
    let mut corrupt = p.clone();
    corrupt[1] ^= 0x01;
    check(&mut r, &[b"RESTORE", b"k", b"0", &corrupt], bad_version);
    let mut newer = p[..p.len() - 10].to_vec();
    newer.extend_from_slice(&11u16.to_le_bytes());
    let crc = ochre::persistence::rdb::crc64(&newer);
    newer.extend_from_slice(&crc.to_le_bytes());
    check(&mut r, &[b"RESTORE", b"k", b"0", &newer], bad_version);
    // Right footer, wrong body.
    let bad = "-ERR Bad data format\r\n";
    check(&mut r, &[b"RESTORE", b"k", b"0", &payload(b"")], bad);
    check(&mut r, &[b"RESTORE", b"k", b"0", &payload(b"\x00\x10abc")], bad);
    check(
        &mut r,
        &[b"RESTORE", b"k", b"0", &payload(b"\x00\xc3\x05\x40\x00\x01")],
        bad,
    );
    check(
        &mut r,
        &[
            b"RESTORE",
            b"k",
            b"0",
            &payload(b"\x00\xc3\x02\x7f\xff\xff\xff\xff\x00\x01"),
        ],
        bad,
    );
    check(&mut r, &[b"RESTORE", b"k", b"0", &payload(b"\x00\xc7")], bad);
    check(&mut r, &[b"RESTORE", b"k", b"0", &payload(b"\x63\x01a")], bad);
    // A set that claims two members but holds one, and a type this server does not hold yet
    // (a stream).
    check(&mut r, &[b"RESTORE", b"k", b"0", &payload(b"\x02\x02\x01a")], bad);
    check(&mut r, &[b"RESTORE", b"k", b"0", &payload(b"\x13\x00")], bad);
    check(&mut r, &[b"EXISTS", b"k"], ":0\r\n");
    // With checksum validation off, a wrong CRC is accepted.
    check(&mut r, &[b"DEBUG", b"SET-SKIP-CHECKSUM-VALIDATION", b"1"], "+OK\r\n");
    let mut nocrc = p[..p.len() - 8].to_vec();
    nocrc.extend_from_slice(&[0; 8]);
    check(&mut r, &[b"RESTORE", b"k", b"0", &nocrc], "+OK\r\n");
    check(&mut r, &[b"GET", b"k"], "$3\r\nbar\r\n");
    check(
        &mut r,
        &[b"RESTORE", b"k", b"0"],
        "-ERR wrong number of arguments for 'restore' command\r\n",
    );
}

#[test]
fn payloads_and_digests_match_redis() {
    let Some(reference) = Reference::start() else {
        return;
    };
    let srv = Server::start();
    let mut ours = srv.raw();
    let mut theirs = reference.raw();
    for (i, val) in sample_values().iter().enumerate() {
        let key = format!("k{i}");
        let k = key.as_bytes();
        check(&mut ours, &[b"SET", k, val], "+OK\r\n");
        check(&mut theirs, &[b"SET", k, val], "+OK\r\n");
        let p_ours = bulk(&cmd(&mut ours, &[b"DUMP", k]));
        let p_theirs = bulk(&cmd(&mut theirs, &[b"DUMP", k]));
        // Same bytes, LZF output included.
        assert_eq!(p_ours, p_theirs, "payload of value {i}");
        // Each side restores the other's payload.
        let k2 = format!("r{i}");
        check(&mut ours, &[b"RESTORE", k2.as_bytes(), b"0", &p_theirs], "+OK\r\n");
        check(&mut theirs, &[b"RESTORE", k2.as_bytes(), b"0", &p_ours], "+OK\r\n");
        assert_eq!(bulk(&cmd(&mut ours, &[b"GET", k2.as_bytes()])), *val);
        assert_eq!(bulk(&cmd(&mut theirs, &[b"GET", k2.as_bytes()])), *val);
        let d1 = cmd(&mut ours, &[b"DEBUG", b"DIGEST-VALUE", k, b"nokey"]);
        let d2 = cmd(&mut theirs, &[b"DEBUG", b"DIGEST-VALUE", k, b"nokey"]);
        assert_eq!(d1, d2, "digest of value {i}");
    }
    // Whole-dataset digests agree, with TTLs and several databases.
    for r in [&mut ours, &mut theirs] {
        check(r, &[b"EXPIRE", b"k1", b"1000"], ":1\r\n");
        check(r, &[b"SELECT", b"3"], "+OK\r\n");
        check(r, &[b"SET", b"other", b"db"], "+OK\r\n");
    }
    let d1 = cmd(&mut ours, &[b"DEBUG", b"DIGEST"]);
    assert_eq!(d1, cmd(&mut theirs, &[b"DEBUG", b"DIGEST"]));
    assert_eq!(d1.len(), 43);
    for r in [&mut ours, &mut theirs] {
        check(r, &[b"FLUSHALL"], "+OK\r\n");
    }
    check(
        &mut ours,
        &[b"DEBUG", b"DIGEST"],
        "+0000000000000000000000000000000000000000\r\n",
    );
}

#[test]
fn debug_reload_keeps_data_and_ttls() {
    let srv = Server::start();
    let mut r = srv.raw();
    for (i, val) in sample_values().iter().enumerate() {
        check(&mut r, &[b"SET", format!("k{i}").as_bytes(), val], "+OK\r\n");
    }
    check(&mut r, &[b"PEXPIRE", b"k1", b"100000"], ":1\r\n");
    check(&mut r, &[b"SELECT", b"7"], "+OK\r\n");
    check(&mut r, &[b"SET", b"in7", b"x"], "+OK\r\n");
    let digest = cmd(&mut r, &[b"DEBUG", b"DIGEST"]);
    let pexpiretime = {
        check(&mut r, &[b"SELECT", b"0"], "+OK\r\n");
        cmd(&mut r, &[b"PEXPIRETIME", b"k1"])
    };
    check(&mut r, &[b"DEBUG", b"RELOAD"], "+OK\r\n");
    assert_eq!(cmd(&mut r, &[b"DEBUG", b"DIGEST"]), digest);
    assert_eq!(cmd(&mut r, &[b"PEXPIRETIME", b"k1"]), pexpiretime);
    check(&mut r, &[b"OBJECT", b"ENCODING", b"k2"], "$3\r\nint\r\n");
    // The file on disk is a real RDB file: NOSAVE loads it back after changes.
    check(&mut r, &[b"SET", b"k0", b"changed"], "+OK\r\n");
    check(&mut r, &[b"DEBUG", b"RELOAD", b"NOSAVE"], "+OK\r\n");
    assert_eq!(cmd(&mut r, &[b"DEBUG", b"DIGEST"]), digest);
    // NOFLUSH without MERGE refuses duplicates; with MERGE it overwrites them.
    check(
        &mut r,
        &[b"DEBUG", b"RELOAD", b"NOSAVE", b"NOFLUSH"],
        "-ERR Error trying to load the RDB dump\r\n",
    );
    check(&mut r, &[b"FLUSHALL"], "+OK\r\n");
    check(&mut r, &[b"SET", b"extra", b"1"], "+OK\r\n");
    check(
        &mut r,
        &[b"DEBUG", b"RELOAD", b"NOSAVE", b"NOFLUSH", b"MERGE"],
        "+OK\r\n",
    );
    check(&mut r, &[b"EXISTS", b"extra", b"k0"], ":2\r\n");
    check(
        &mut r,
        &[b"DEBUG", b"RELOAD", b"FOO"],
        "-ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.\r\n",
    );
    let file = srv.dir.join("dump.rdb");
    assert!(std::fs::read(&file).is_ok_and(|d| d.starts_with(b"REDIS0010")));
}

#[test]
fn rdb_file_loads_in_redis() {
    let srv = Server::start();
    let mut r = srv.raw();
    for (i, val) in sample_values().iter().enumerate() {
        check(&mut r, &[b"SET", format!("k{i}").as_bytes(), val], "+OK\r\n");
    }
    check(&mut r, &[b"EXPIRE", b"k3", b"1000"], ":1\r\n");
    check(&mut r, &[b"SELECT", b"2"], "+OK\r\n");
    check(&mut r, &[b"SET", b"in2", b"x"], "+OK\r\n");
    check(&mut r, &[b"DEBUG", b"RELOAD"], "+OK\r\n");
    let digest = cmd(&mut r, &[b"DEBUG", b"DIGEST"]);
    let dir = srv.dir.join("ref");
    assert!(std::fs::create_dir_all(&dir).is_ok());
    assert!(std::fs::copy(srv.dir.join("dump.rdb"), dir.join("dump.rdb")).is_ok());
    let Some(reference) = Reference::start_in(&dir) else {
        return;
    };
    let mut theirs = reference.raw();
    // Loading happens before the server answers; wait until it does.
    let deadline = Instant::now() + Duration::from_secs(5);
    while cmd(&mut theirs, &[b"PING"]) != b"+PONG\r\n" && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(cmd(&mut theirs, &[b"DEBUG", b"DIGEST"]), digest);
    check(&mut theirs, &[b"DBSIZE"], &format!(":{}\r\n", sample_values().len()));
    // And the other way: a file saved by redis-server loads here.
    check(
        &mut theirs,
        &[b"SET", b"from-redis", "q".repeat(500).as_bytes()],
        "+OK\r\n",
    );
    check(&mut theirs, &[b"SAVE"], "+OK\r\n");
    let digest = cmd(&mut theirs, &[b"DEBUG", b"DIGEST"]);
    assert!(std::fs::copy(dir.join("dump.rdb"), srv.dir.join("dump.rdb")).is_ok());
    check(&mut r, &[b"DEBUG", b"RELOAD", b"NOSAVE"], "+OK\r\n");
    assert_eq!(cmd(&mut r, &[b"DEBUG", b"DIGEST"]), digest);
}

#[test]
fn debug_subcommands() {
    let srv = Server::start();
    let mut r = srv.raw();
    check(&mut r, &[b"DEBUG", b"LOG", b"hello"], "+OK\r\n");
    check(&mut r, &[b"DEBUG", b"SLEEP", b"0"], "+OK\r\n");
    let t = Instant::now();
    check(&mut r, &[b"DEBUG", b"SLEEP", b"0.2"], "+OK\r\n");
    assert!(t.elapsed() >= Duration::from_millis(190));
    check(&mut r, &[b"DEBUG", b"SLEEP", b"abc"], "+OK\r\n");
    check(&mut r, &[b"SET", b"s", b"hello"], "+OK\r\n");
    let obj = String::from_utf8_lossy(&cmd(&mut r, &[b"DEBUG", b"OBJECT", b"s"])).to_string();
    assert!(obj.starts_with("+Value at:0x"), "{obj}");
    assert!(
        obj.contains(" refcount:1 encoding:embstr serializedlength:6 lru:"),
        "{obj}"
    );
    assert!(obj.ends_with(" lru_seconds_idle:0\r\n"), "{obj}");
    check(&mut r, &[b"DEBUG", b"OBJECT", b"nokey"], "-ERR no such key\r\n");
    check(&mut r, &[b"DEBUG", b"POPULATE", b"10", b"p", b"20"], "+OK\r\n");
    let v = bulk(&cmd(&mut r, &[b"GET", b"p:3"]));
    assert_eq!(v.len(), 20);
    assert!(v.starts_with(b"value:3\0"));
    check(&mut r, &[b"DEBUG", b"POPULATE", b"3"], "+OK\r\n");
    check(&mut r, &[b"GET", b"key:2"], "$7\r\nvalue:2\r\n");
    check(
        &mut r,
        &[b"DEBUG", b"POPULATE", b"-1"],
        "-ERR value is out of range, must be positive\r\n",
    );
    check(
        &mut r,
        &[b"DEBUG", b"POPULATE", b"x"],
        "-ERR value is not an integer or out of range\r\n",
    );
    check(&mut r, &[b"DEBUG", b"ERROR", b"MYERR custom"], "-MYERR custom\r\n");
    check(&mut r, &[b"DEBUG", b"CHANGE-REPL-ID"], "+OK\r\n");
    check(&mut r, &[b"DEBUG", b"PAUSE-CRON", b"1"], "+OK\r\n");
    check(&mut r, &[b"DEBUG", b"PAUSE-CRON", b"0"], "+OK\r\n");
    check(&mut r, &[b"DEBUG", b"QUICKLIST-PACKED-THRESHOLD", b"100"], "+OK\r\n");
    check(
        &mut r,
        &[b"DEBUG", b"QUICKLIST-PACKED-THRESHOLD", b"10gb"],
        "-ERR argument must be a memory value bigger than 1 and smaller than 4gb\r\n",
    );
    check(
        &mut r,
        &[b"DEBUG", b"REPLYBUFFER", b"PEAK-RESET-TIME", b"never"],
        "+OK\r\n",
    );
    check(&mut r, &[b"DEBUG", b"REPLYBUFFER", b"RESIZING", b"0"], "+OK\r\n");
    check(
        &mut r,
        &[b"DEBUG", b"REPLYBUFFER", b"FOO", b"0"],
        "-ERR unknown subcommand or wrong number of arguments for 'REPLYBUFFER'. Try DEBUG HELP.\r\n",
    );
    check(
        &mut r,
        &[b"DEBUG", b"NOSUCH"],
        "-ERR unknown subcommand or wrong number of arguments for 'NOSUCH'. Try DEBUG HELP.\r\n",
    );
    check(
        &mut r,
        &[b"DEBUG", b"LOG"],
        "-ERR unknown subcommand or wrong number of arguments for 'LOG'. Try DEBUG HELP.\r\n",
    );
    let help = String::from_utf8_lossy(&cmd(&mut r, &[b"DEBUG", b"HELP"])).to_string();
    assert!(help.contains("+DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"));
    let ht = String::from_utf8_lossy(&cmd(&mut r, &[b"DEBUG", b"HTSTATS", b"0"])).to_string();
    assert!(
        ht.contains("[Dictionary HT]") && ht.contains("number of elements: 14"),
        "{ht}"
    );
    check(&mut r, &[b"DEBUG", b"HTSTATS", b"99"], "-ERR Out of range database\r\n");
    check(
        &mut r,
        &[b"DEBUG", b"LISTPACK", b"s"],
        "-ERR Not a listpack encoded object.\r\n",
    );
    check(&mut r, &[b"DEBUG", b"LISTPACK", b"nokey"], "-ERR no such key\r\n");
}

#[test]
fn debug_protocol() {
    let srv = Server::start();
    let mut r = srv.raw();
    check(&mut r, &[b"DEBUG", b"PROTOCOL", b"string"], "$11\r\nHello World\r\n");
    check(&mut r, &[b"DEBUG", b"PROTOCOL", b"integer"], ":12345\r\n");
    check(&mut r, &[b"DEBUG", b"PROTOCOL", b"true"], ":1\r\n");
    check(&mut r, &[b"DEBUG", b"PROTOCOL", b"null"], "$-1\r\n");
    check(
        &mut r,
        &[b"DEBUG", b"PROTOCOL", b"bignum"],
        "$37\r\n1234567999999999999999999999999999999\r\n",
    );
    check(
        &mut r,
        &[b"DEBUG", b"PROTOCOL", b"attrib"],
        "$39\r\nSome real reply following the attribute\r\n",
    );
    check(
        &mut r,
        &[b"DEBUG", b"PROTOCOL", b"push"],
        "-ERR RESP2 is not supported by this command\r\n",
    );
    check(
        &mut r,
        &[b"DEBUG", b"PROTOCOL", b"nope"],
        "-ERR Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false\r\n",
    );
    let hello = cmd(&mut r, &[b"HELLO", b"3"]);
    assert!(hello.starts_with(b"%"));
    check(&mut r, &[b"DEBUG", b"PROTOCOL", b"true"], "#t\r\n");
    check(&mut r, &[b"DEBUG", b"PROTOCOL", b"false"], "#f\r\n");
    check(&mut r, &[b"DEBUG", b"PROTOCOL", b"double"], ",3.141\r\n");
    check(&mut r, &[b"DEBUG", b"PROTOCOL", b"null"], "_\r\n");
    check(
        &mut r,
        &[b"DEBUG", b"PROTOCOL", b"bignum"],
        "(1234567999999999999999999999999999999\r\n",
    );
    check(
        &mut r,
        &[b"DEBUG", b"PROTOCOL", b"verbatim"],
        "=29\r\ntxt:This is a verbatim\nstring\r\n",
    );
    check(&mut r, &[b"DEBUG", b"PROTOCOL", b"set"], "~3\r\n:0\r\n:1\r\n:2\r\n");
    check(
        &mut r,
        &[b"DEBUG", b"PROTOCOL", b"map"],
        "%3\r\n:0\r\n#f\r\n:1\r\n#t\r\n:2\r\n#f\r\n",
    );
    check(
        &mut r,
        &[b"DEBUG", b"PROTOCOL", b"attrib"],
        "|1\r\n$14\r\nkey-popularity\r\n*2\r\n$7\r\nkey:123\r\n:90\r\n",
    );
    // The attribute is followed by the real reply (the test reader frames them separately).
    assert_eq!(r.read_reply(), b"$39\r\nSome real reply following the attribute\r\n");
    check(
        &mut r,
        &[b"DEBUG", b"PROTOCOL", b"push"],
        ">2\r\n$16\r\nserver-cpu-usage\r\n:42\r\n",
    );
    assert_eq!(r.read_reply(), b"$40\r\nSome real reply following the push reply\r\n");
}

#[test]
fn debug_can_be_disabled() {
    let srv = Server::start_with(&["--enable-debug-command", "no"]);
    let mut r = srv.raw();
    check(
        &mut r,
        &[b"DEBUG", b"DIGEST"],
        "-ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.\r\n",
    );
}
