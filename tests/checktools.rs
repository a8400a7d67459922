//! `ochre-check-rdb` and `ochre-check-aof` on good, truncated and corrupted files (written by a
//! real ochre-server, and by hand where a byte-exact file is needed), checked for output and exit
//! status; where redis-check-rdb / redis-check-aof 7.0.15 are installed, the reports must be the
//! same as theirs. Also: a server refuses a bad dump at start-up with the checker's report, and
//! RESTORE refuses bad payloads without dying.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const CHECK_RDB: &str = env!("CARGO_BIN_EXE_ochre-check-rdb");
const CHECK_AOF: &str = env!("CARGO_BIN_EXE_ochre-check-aof");

/// A scratch folder removed when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("ochre-checktools-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `bin args` in `cwd` with `stdin` fed in; returns (exit status, stdout + stderr).
fn run_in(cwd: &Path, bin: &str, args: &[&str], stdin: &str) -> (i32, String) {
    let mut child = Command::new(bin)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    let out = child.wait_with_output().unwrap();
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

/// Replaces what legitimately differs between our tools and Redis's: log-line prefixes (pid and
/// time) and the C source location in internal errors.
fn normalize(s: &str) -> String {
    s.lines()
        .map(|l| match l.find(":C ") {
            Some(i) if l[..i].bytes().all(|b| b.is_ascii_digit()) => {
                format!("LOG {}", l.split_once(" # ").map(|x| x.1).unwrap_or(""))
            }
            _ => l.to_string(),
        })
        .map(|l| match l.find("Internal error in RDB reading offset") {
            Some(i) => format!(
                "{}Internal error -> {}",
                &l[..i],
                l.rsplit_once(" -> ").map(|x| x.1).unwrap_or("")
            ),
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Our tool and Redis's (if installed) on copies of the same files give the same report and
/// status, and leave the files the same. Returns our (status, output).
fn same_as_redis(files: &Dir, ours: &str, theirs: &str, args: &[&str], stdin: &str) -> (i32, String) {
    let copy = |tag: &str| {
        let d = Dir::new(tag);
        for e in std::fs::read_dir(&files.0).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                let sub = d.path(&e.file_name().to_string_lossy());
                std::fs::create_dir_all(&sub).unwrap();
                for f in std::fs::read_dir(e.path()).unwrap() {
                    let f = f.unwrap();
                    std::fs::copy(f.path(), sub.join(f.file_name())).unwrap();
                }
            } else {
                std::fs::copy(e.path(), d.path(&e.file_name().to_string_lossy())).unwrap();
            }
        }
        d
    };
    let mine = copy("ours");
    let (code, out) = run_in(&mine.0, ours, args, stdin);
    let reference = Path::new("/usr/bin").join(theirs);
    if reference.exists() {
        let other = copy("theirs");
        let (rcode, rout) = run_in(&other.0, reference.to_str().unwrap(), args, stdin);
        assert_eq!(normalize(&out), normalize(&rout), "{theirs} {args:?}");
        assert_eq!(code, rcode, "{theirs} {args:?}");
        for f in walk(&mine.0) {
            let rel = f.strip_prefix(&mine.0).unwrap();
            assert_eq!(
                std::fs::read(&f).unwrap(),
                std::fs::read(other.0.join(rel)).unwrap(),
                "{rel:?}"
            );
        }
    }
    (code, out)
}

/// [`same_as_redis`], then the exit status and text the output must have.
fn expect(d: &Dir, ours: &str, theirs: &str, args: &[&str], stdin: &str, code: i32, needles: &[&str]) {
    let (got, out) = same_as_redis(d, ours, theirs, args, stdin);
    assert_eq!(got, code, "{args:?}: {out}");
    for n in needles {
        assert!(out.contains(n), "{args:?}: no {n:?} in {out}");
    }
}

fn walk(p: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(p).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            v.extend(walk(&e.path()));
        } else {
            v.push(e.path());
        }
    }
    v
}

/// A dump made by a real ochre-server holding every type, with and without TTLs.
fn ochre_dump() -> Vec<u8> {
    let srv = common::Server::start();
    let mut r = srv.raw();
    for cmd in [
        "SET s hello",
        "SET n 12345",
        "SET big aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "RPUSH l a b c 1 2",
        "SADD si 1 2 3",
        "SADD ss a b c",
        "ZADD z 1 a 2.5 b",
        "HSET h f v g w",
        "XADD x 1-1 f v",
        "SET e x EX 1000",
        "SAVE",
    ] {
        let reply = r.cmd_str(&cmd.split(' ').collect::<Vec<_>>());
        assert!(!reply.starts_with('-'), "{cmd}: {reply}");
    }
    std::fs::read(srv.dir.join("dump.rdb")).unwrap()
}

/// The offset of the low byte of the element count in the listpack of hash `h` (type 16, key
/// `h`, then the blob's length byte and its 4-byte total size).
fn hash_count_byte(dump: &[u8]) -> usize {
    dump.windows(3).position(|w| w == b"\x10\x01h").expect("hash h") + 3 + 1 + 4
}

#[test]
fn check_rdb_good_truncated_and_corrupted_files() {
    let dump = ochre_dump();
    let d = Dir::new("rdb");
    std::fs::write(d.path("good.rdb"), &dump).unwrap();
    // Cut inside the checksum: where the cut lands in a value depends on key order, and Redis's
    // texts for short reads differ by type.
    std::fs::write(d.path("trunc.rdb"), &dump[..dump.len() - 5]).unwrap();
    let mut crc = dump.clone();
    let last = crc.len() - 1;
    crc[last] ^= 0xFF;
    std::fs::write(d.path("crc.rdb"), &crc).unwrap();
    // A listpack's element count byte, inside the hash `h`: an integrity failure, not a CRC one.
    let mut blob = dump.clone();
    let at = hash_count_byte(&dump);
    blob[at] ^= 0x7F;
    std::fs::write(d.path("blob.rdb"), &blob).unwrap();
    std::fs::write(d.path("sig.rdb"), b"REDIX0010\xff").unwrap();
    std::fs::write(d.path("version.rdb"), b"REDIS0099\xff").unwrap();

    expect(
        &d,
        CHECK_RDB,
        "redis-check-rdb",
        &["good.rdb"],
        "",
        0,
        &[
            "\\o/ RDB looks OK! \\o/",
            "[info] 10 keys read\n[info] 1 expires\n[info] 0 already expired",
            &format!("[offset {}] Checksum OK", dump.len()),
        ],
    );

    expect(
        &d,
        CHECK_RDB,
        "redis-check-rdb",
        &["trunc.rdb"],
        "",
        1,
        &[
            "--- RDB ERROR DETECTED ---",
            "Unexpected EOF reading RDB file",
            "[additional info] While doing: check-sum",
        ],
    );

    expect(
        &d,
        CHECK_RDB,
        "redis-check-rdb",
        &["crc.rdb"],
        "",
        1,
        &["RDB CRC error"],
    );

    expect(
        &d,
        CHECK_RDB,
        "redis-check-rdb",
        &["blob.rdb"],
        "",
        1,
        &[
            "Hash listpack integrity check failed.",
            "[additional info] Reading key 'h'",
            "Reading type 16 (hash-listpack)",
            "Terminating server after rdb file reading failure.",
        ],
    );

    expect(
        &d,
        CHECK_RDB,
        "redis-check-rdb",
        &["sig.rdb"],
        "",
        1,
        &["Wrong signature trying to load DB from file"],
    );
    expect(
        &d,
        CHECK_RDB,
        "redis-check-rdb",
        &["version.rdb"],
        "",
        1,
        &["Can't handle RDB format version 99"],
    );
    let (code, out) = same_as_redis(&d, CHECK_RDB, "redis-check-rdb", &["missing.rdb"], "");
    assert_eq!((code, out.trim()), (1, "[offset 0] Checking RDB file missing.rdb"));

    let (code, out) = run_in(&d.0, CHECK_RDB, &[], "");
    assert_eq!(code, 1);
    assert!(out.contains("Usage: "), "{out}");
}

/// RESP for one command, as an AOF holds it.
fn resp(args: &[&str]) -> String {
    let mut s = format!("*{}\r\n", args.len());
    for a in args {
        s.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    s
}

fn plain_aof() -> String {
    [
        resp(&["SELECT", "0"]),
        resp(&["SET", "a", "1"]),
        resp(&["MULTI"]),
        resp(&["INCR", "a"]),
        resp(&["EXEC"]),
        resp(&["RPUSH", "l", "x", "y"]),
    ]
    .concat()
}

#[test]
fn check_aof_plain_files_and_fix() {
    let d = Dir::new("aof");
    let aof = plain_aof();
    std::fs::write(d.path("good.aof"), &aof).unwrap();
    std::fs::write(d.path("trunc.aof"), &aof[..aof.len() - 3]).unwrap();
    let no_exec = [resp(&["SET", "a", "1"]), resp(&["MULTI"]), resp(&["INCR", "a"])].concat();
    std::fs::write(d.path("multi.aof"), no_exec).unwrap();
    std::fs::write(d.path("garbage.aof"), format!("{}xyz\r\n", resp(&["SET", "a", "1"]))).unwrap();
    std::fs::write(d.path("badlen.aof"), "*2\r\n$3\r\nGET\r\n$1x\r\n").unwrap();
    std::fs::write(d.path("empty.aof"), "").unwrap();

    expect(
        &d,
        CHECK_AOF,
        "redis-check-aof",
        &["good.aof"],
        "",
        0,
        &[
            "Start checking Old-Style AOF",
            &format!("ok_up_to={}, ok_up_to_line=33, diff=0", aof.len()),
            "AOF good.aof is valid",
        ],
    );

    expect(
        &d,
        CHECK_AOF,
        "redis-check-aof",
        &["trunc.aof"],
        "",
        1,
        &[
            "Expected to read 3 bytes, got 0 bytes",
            "AOF trunc.aof is not valid. Use the --fix option to try fixing it.",
        ],
    );

    // --fix asks first: "n" leaves the file alone, "y" cuts it after the last whole command.
    expect(
        &d,
        CHECK_AOF,
        "redis-check-aof",
        &["--fix", "trunc.aof"],
        "n\n",
        1,
        &["Continue? [y/N]: Aborting..."],
    );
    expect(
        &d,
        CHECK_AOF,
        "redis-check-aof",
        &["--fix", "trunc.aof"],
        "y\n",
        0,
        &["Successfully truncated AOF trunc.aof"],
    );
    let (code, _) = run_in(&d.0, CHECK_AOF, &["--fix", "trunc.aof"], "y\n");
    assert_eq!(code, 0);
    let fixed = std::fs::read(d.path("trunc.aof")).unwrap();
    let cut = aof.len() - resp(&["RPUSH", "l", "x", "y"]).len();
    assert_eq!(fixed, aof.as_bytes()[..cut]);
    let (code, out) = run_in(&d.0, CHECK_AOF, &["trunc.aof"], "");
    assert_eq!(code, 0, "{out}");

    expect(
        &d,
        CHECK_AOF,
        "redis-check-aof",
        &["multi.aof"],
        "",
        1,
        &["Reached EOF before reading EXEC for MULTI"],
    );
    expect(
        &d,
        CHECK_AOF,
        "redis-check-aof",
        &["garbage.aof"],
        "",
        1,
        &["AOF garbage.aof format error"],
    );
    expect(
        &d,
        CHECK_AOF,
        "redis-check-aof",
        &["badlen.aof"],
        "",
        1,
        &["Expected \\r\\n, got: 780d"],
    );
    expect(
        &d,
        CHECK_AOF,
        "redis-check-aof",
        &["empty.aof"],
        "",
        0,
        &["AOF empty.aof is empty"],
    );
    let (code, out) = same_as_redis(&d, CHECK_AOF, "redis-check-aof", &["nothere.aof"], "");
    assert_eq!(code, 1);
    assert!(
        out.contains("Cannot open file nothere.aof: No such file or directory"),
        "{out}"
    );
    let (code, out) = same_as_redis(
        &d,
        CHECK_AOF,
        "redis-check-aof",
        &["--truncate-to-timestamp", "x", "good.aof"],
        "",
    );
    assert_eq!((code, out.trim()), (1, "Invalid timestamp, aborting..."));
    let (code, out) = run_in(&d.0, CHECK_AOF, &["--bogus", "good.aof"], "");
    assert_eq!(code, 1);
    assert!(out.contains("Usage: "), "{out}");
}

#[test]
fn check_aof_multi_part_with_rdb_base_and_timestamps() {
    let dump = ochre_dump();
    let d = Dir::new("multi");
    let sub = d.path("appendonlydir");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::write(sub.join("a.aof.1.base.rdb"), &dump).unwrap();
    let incr1 = resp(&["SET", "k", "1"]);
    let incr2 = [
        "#TS:1000\r\n".to_string(),
        resp(&["SET", "k", "2"]),
        "#TS:2000\r\n".to_string(),
        resp(&["SET", "k", "3"]),
    ]
    .concat();
    std::fs::write(sub.join("a.aof.1.incr.aof"), &incr1).unwrap();
    std::fs::write(sub.join("a.aof.2.incr.aof"), &incr2).unwrap();
    let manifest =
        "file a.aof.1.base.rdb seq 1 type b\nfile a.aof.1.incr.aof seq 1 type i\nfile a.aof.2.incr.aof seq 2 type i\n";
    std::fs::write(sub.join("a.aof.manifest"), manifest).unwrap();
    let m = "appendonlydir/a.aof.manifest";

    expect(
        &d,
        CHECK_AOF,
        "redis-check-aof",
        &[m],
        "",
        0,
        &[
            "Start to check BASE AOF (RDB format).",
            "RDB preamble is OK, proceeding with AOF tail...",
            "INCR AOF a.aof.2.incr.aof is valid",
            "All AOF files and manifest are valid",
        ],
    );

    let (code, out) = same_as_redis(
        &d,
        CHECK_AOF,
        "redis-check-aof",
        &["--truncate-to-timestamp", "1500", m],
        "",
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("Successfully truncated AOF a.aof.2.incr.aof to timestamp 1500"),
        "{out}"
    );
    let (code, out) = same_as_redis(
        &d,
        CHECK_AOF,
        "redis-check-aof",
        &["--truncate-to-timestamp", "500", m],
        "",
    );
    assert_eq!(code, 1);
    assert!(out.contains("has nothing before timestamp 500"), "{out}");

    // A bad tail in a file that is not the last cannot be fixed.
    std::fs::write(sub.join("a.aof.1.incr.aof"), &incr1[..incr1.len() - 2]).unwrap();
    let (code, out) = same_as_redis(&d, CHECK_AOF, "redis-check-aof", &["--fix", m], "y\n");
    assert_eq!(code, 1);
    assert!(
        out.contains("Failed to truncate AOF a.aof.1.incr.aof because it is not the last file"),
        "{out}"
    );

    // A corrupt RDB base stops the check.
    std::fs::write(sub.join("a.aof.1.incr.aof"), &incr1).unwrap();
    std::fs::write(sub.join("a.aof.1.base.rdb"), &dump[..dump.len() - 5]).unwrap();
    expect(
        &d,
        CHECK_AOF,
        "redis-check-aof",
        &[m],
        "",
        1,
        &["RDB preamble of AOF file is not sane, aborting."],
    );

    std::fs::write(sub.join("a.aof.manifest"), "file x seq 1 type b\nfile y seq 1 type b\n").unwrap();
    let (code, out) = run_in(&d.0, CHECK_AOF, &[m], "");
    assert_eq!(code, 1);
    assert!(out.contains("*** FATAL AOF MANIFEST FILE ERROR ***"), "{out}");
    assert!(out.contains("Found duplicate base file information"), "{out}");
}

/// Starts a server on the dump in `dir`, expecting it to exit; returns its status and stdout.
fn start_until_exit(dir: &Path) -> (Option<i32>, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = Command::new(env!("CARGO_BIN_EXE_ochre-server"))
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--dir",
        ])
        .arg(dir)
        .output()
        .unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A file holding one key whose value fails its integrity check makes start-up fail, naming
/// file and offset, instead of serving the keys read before it.
#[test]
fn server_refuses_a_corrupt_dump_at_startup() {
    let dump = ochre_dump();
    let d = Dir::new("startup");
    let mut bad = dump.clone();
    let at = hash_count_byte(&dump);
    bad[at] ^= 0x7F;
    std::fs::write(d.path("dump.rdb"), &bad).unwrap();
    let (code, log) = start_until_exit(&d.0);
    assert_eq!(code, Some(1));
    assert!(
        log.contains("Hash listpack integrity check failed. (file dump.rdb)"),
        "{log}"
    );
    assert!(log.contains("[additional info] Reading key 'h'"), "{log}");
    assert_eq!(
        log.matches("Terminating server after rdb file reading failure.")
            .count(),
        1,
        "{log}"
    );

    // A truncated file: the same refusal, with the offset where the data ran out.
    std::fs::write(d.path("dump.rdb"), &dump[..dump.len() - 30]).unwrap();
    let (code, log) = start_until_exit(&d.0);
    assert_eq!(code, Some(1));
    assert!(log.contains("Short read or OOM loading DB."), "{log}");
    assert!(log.contains("Unexpected EOF reading RDB file"), "{log}");
}

#[test]
fn restore_refuses_bad_payloads_and_logs_why() {
    let srv = common::Server::start_with(&["--loglevel", "verbose", "--logfile", "server.log"]);
    let mut r = srv.raw();
    assert_eq!(r.cmd_str(&["DEBUG", "SET-SKIP-CHECKSUM-VALIDATION", "1"]), "+OK\r\n");
    // A hash ziplist whose entry length runs past its end (Redis's corrupt-dump suite).
    let bad: &[u8] = b"\x0D\x1B\x1B\x00\x00\x00\x16\x00\x00\x00\x04\x00\x00\x02\x61\x00\x04\x02\x62\x00\x04\x14\x63\x00\x04\x02\x64\x00\xFF\x09\x00\xD9\x10\x54\x92\x15\xF5\x5F\x52";
    for sanitize in ["no", "yes", "clients"] {
        assert_eq!(
            r.cmd_str(&["CONFIG", "SET", "sanitize-dump-payload", sanitize]),
            "+OK\r\n"
        );
        assert_eq!(r.cmd(&[b"RESTORE", b"k", b"0", bad]), b"-ERR Bad data format\r\n");
    }
    // An empty set (count 0) and a truncated string are refused too.
    assert_eq!(
        r.cmd(&[b"RESTORE", b"k", b"0", b"\x02\x00\x0a\x00\0\0\0\0\0\0\0\0"]),
        b"-ERR Bad data format\r\n"
    );
    assert_eq!(
        r.cmd(&[b"RESTORE", b"k", b"0", b"\x00\x05ab\x0a\x00\0\0\0\0\0\0\0\0"]),
        b"-ERR Bad data format\r\n"
    );
    assert_eq!(r.cmd_str(&["DBSIZE"]), ":0\r\n");
    let log = std::fs::read_to_string(srv.dir.join("server.log")).unwrap();
    assert_eq!(log.matches("Hash ziplist integrity check failed.").count(), 3, "{log}");
}

/// A collection stored empty is skipped at load (and logged), not refused: Redis does the same.
#[test]
fn empty_keys_in_a_dump_are_skipped() {
    let d = Dir::new("empty");
    let mut f = b"REDIS0010\xfe\x00".to_vec();
    f.extend_from_slice(b"\x02\x03set\x00"); // a set of no members
    f.extend_from_slice(b"\x00\x01s\x01v"); // and a real key
    f.push(0xFF);
    f.extend_from_slice(&[0; 8]);
    std::fs::write(d.path("dump.rdb"), &f).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ochre-server"))
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--logfile",
            "log.txt",
            "--dir",
        ])
        .arg(&d.0)
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut con = loop {
        if let Ok(c) = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
            .unwrap()
            .get_connection()
        {
            break c;
        }
        assert!(std::time::Instant::now() < deadline, "server did not start");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let n: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(n, 1);
    let log = std::fs::read_to_string(d.path("log.txt")).unwrap();
    assert!(log.contains("rdbLoadObject skipping empty key: set"), "{log}");
    assert!(
        log.contains("keys loaded: 1, keys expired: 0, empty keys skipped: 1."),
        "{log}"
    );
}
