//! Every command in the table, with random arguments: the server never dies, never hangs, and
//! answers each request with one whole RESP frame.
//!
//! `tests/fuzz_protocol.rs` mutates the request bytes; this file keeps them well-formed and
//! mutates the *meaning*. Command names, arities, flags and subcommands come from the server's
//! own `COMMAND`, and option words from `COMMAND DOCS`, so every family (lists, streams, geo,
//! scripting...) is reached with arguments it half-understands: its own keywords, numbers at
//! the edges of every range, keys of every type, and wrong counts. Requests run one at a time
//! over RESP2 and over RESP3, some inside MULTI, and on four connections at once on four
//! workers, where a deadlock would show as a request never answered.
//! `OCHRE_FUZZ_COMMANDS=N` sets the number of requests per test (default 20,000) and
//! `OCHRE_FUZZ_SEED=S` starts from another seed.
//!
//! Left out: commands that stop or reconfigure the server or the connection for good
//! (SHUTDOWN, CONFIG, DEBUG, REPLICAOF, CLIENT, SUBSCRIBE...), and blocking commands keep a
//! short timeout, so a run never waits on purpose.

mod common;

use common::Rng;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A RESP2 reply, as far as reading `COMMAND` and `COMMAND DOCS` needs.
enum Value {
    Text(Vec<u8>),
    Int(i64),
    List(Vec<Value>),
    Nil,
}

fn parse_value(b: &[u8], at: &mut usize) -> Option<Value> {
    let eol = *at + b.get(*at..)?.windows(2).position(|w| w == b"\r\n")?;
    let head = std::str::from_utf8(&b[*at + 1..eol]).ok()?;
    let kind = b[*at];
    *at = eol + 2;
    match kind {
        b'+' | b'-' => Some(Value::Text(head.as_bytes().to_vec())),
        b':' => head.parse().ok().map(Value::Int),
        b'$' => {
            let Ok(n) = head.parse::<usize>() else {
                return Some(Value::Nil);
            };
            let v = b.get(*at..*at + n)?.to_vec();
            *at += n + 2;
            Some(Value::Text(v))
        }
        b'*' => {
            let Ok(n) = head.parse::<usize>() else {
                return Some(Value::Nil);
            };
            (0..n)
                .map(|_| parse_value(b, at))
                .collect::<Option<_>>()
                .map(Value::List)
        }
        _ => None,
    }
}

impl Value {
    fn text(&self) -> String {
        match self {
            Value::Text(t) => String::from_utf8_lossy(t).into_owned(),
            _ => String::new(),
        }
    }
    fn list(&self) -> &[Value] {
        match self {
            Value::List(l) => l,
            _ => &[],
        }
    }
    /// Every option word (`token`) anywhere in a `COMMAND DOCS` reply.
    fn tokens(&self, out: &mut Vec<String>) {
        let items = self.list();
        for (i, v) in items.iter().enumerate() {
            if v.text() == "token" {
                if let Some(Value::Text(t)) = items.get(i + 1) {
                    out.push(String::from_utf8_lossy(t).into_owned());
                }
            }
            v.tokens(out);
        }
    }
}

/// One connection, reading whole frames out of a buffer.
struct Conn {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    fn open(port: u16, resp3: bool) -> Conn {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
        let mut c = Conn { s, buf: Vec::new() };
        if resp3 {
            c.request(&[b"HELLO".to_vec(), b"3".to_vec()]).expect("HELLO 3");
        }
        c
    }

    /// Sends one request and returns its reply: one whole frame, or why there is none.
    fn request(&mut self, args: &[Vec<u8>]) -> Result<Vec<u8>, String> {
        let mut req = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            req.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            req.extend_from_slice(a);
            req.extend_from_slice(b"\r\n");
        }
        // A reset is a close too: a server that closes with unread input sends RST.
        let closed = |e: std::io::Error| match e.kind() {
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe => "closed".to_string(),
            _ => format!("{e}"),
        };
        self.s.write_all(&req).map_err(closed)?;
        let mut chunk = [0u8; 64 * 1024];
        loop {
            if let Some(n) = common::resp_frame_len(&self.buf) {
                return Ok(self.buf.drain(..n).collect());
            }
            match self.s.read(&mut chunk) {
                Ok(0) => return Err("closed".into()),
                Ok(k) => self.buf.extend_from_slice(&chunk[..k]),
                Err(e) => return Err(closed(e)),
            }
        }
    }
}

struct Command {
    name: String,
    /// Redis's arity: exact when positive, a minimum when negative (the name counts).
    arity: i64,
    blocking: bool,
    subcommands: Vec<String>,
}

const LEFT_OUT: &[&str] = &[
    "shutdown",
    "config",
    "debug",
    "monitor",
    "replicaof",
    "slaveof",
    "sync",
    "psync",
    "replconf",
    "failover",
    "migrate",
    "wait",
    "client",
    "subscribe",
    "psubscribe",
    "ssubscribe",
    "unsubscribe",
    "punsubscribe",
    "sunsubscribe",
    "hello",
    "auth",
    "acl",
    "cluster",
    "save",
    "bgsave",
    "bgrewriteaof",
    "module",
];

const KEYS: &[&str] = &[
    "k:str", "k:int", "k:list", "k:hash", "k:set", "k:zset", "k:stream", "k:hll", "k:geo", "k:none", "{t}a", "{t}b",
];

/// Numbers at the edges: signs, overflow, floats and their specials, IDs, score bounds. No
/// mid-sized offsets (SETBIT 100000000 is valid and allocates 12 MB, which is not what this
/// test is for); the big ones are out of every range.
const NUMBERS: &[&str] = &[
    "0",
    "1",
    "-1",
    "2",
    "3",
    "10",
    "-10",
    "100",
    "3.5",
    "-0.5",
    "1e3",
    "1e400",
    "inf",
    "-inf",
    "+inf",
    "nan",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "18446744073709551615",
    "99999999999999999999",
    "4294967296",
    "0x10",
    "",
    " 1",
    "1 ",
    "(1",
    "[a",
    "(a",
    "-",
    "+",
    "*",
    "$",
    ">",
    "0-0",
    "0-1",
    "1-1",
    "1-*",
    "18446744073709551615-18446744073709551615",
];

const WORDS: &[&str] = &[
    "v",
    "f",
    "a",
    "b",
    "member",
    "*",
    "?",
    "[a-z]*",
    "h\\*llo",
    "\u{0}",
    "\u{ff}\u{fe}",
    "13.361389",
    "38.115556",
    "km",
    "g1",
    "alice",
    "return 1",
    "return redis.call('get', KEYS[1])",
    "return redis.call('incr', 'k:int')",
    "#!lua name=fuzzlib\nredis.register_function('fuzzf', function(keys, args) return #keys end)",
];

/// Keys of every type, so every command meets the right type and the wrong ones.
const SETUP: &[&[&str]] = &[
    &["FLUSHALL"],
    &["SET", "k:str", "hello"],
    &["SET", "k:int", "42"],
    &["RPUSH", "k:list", "a", "b", "1", "2"],
    &["HSET", "k:hash", "f", "1", "g", "v"],
    &["SADD", "k:set", "a", "b", "1"],
    &["ZADD", "k:zset", "1", "a", "2", "b", "2", "c"],
    &["XADD", "k:stream", "1-1", "f", "v"],
    &["XGROUP", "CREATE", "k:stream", "g1", "0"],
    &["PFADD", "k:hll", "a", "b"],
    &["GEOADD", "k:geo", "13.361389", "38.115556", "member"],
];

/// Loads [`SETUP`], on a new connection if the last request closed this one (QUIT).
fn setup(c: &mut Conn, port: u16, resp3: bool) {
    for req in SETUP {
        let args: Vec<Vec<u8>> = req.iter().map(|a| a.as_bytes().to_vec()).collect();
        if c.request(&args).is_err() {
            *c = Conn::open(port, resp3);
            c.request(&args).expect("setup");
        }
    }
}

fn table(c: &mut Conn) -> (Vec<Command>, Vec<String>) {
    let reply = c.request(&[b"COMMAND".to_vec()]).expect("COMMAND");
    let commands = parse_value(&reply, &mut 0).expect("COMMAND reply");
    let mut table = Vec::new();
    for entry in commands.list() {
        let e = entry.list();
        let name = e[0].text();
        if LEFT_OUT.contains(&name.as_str()) {
            continue;
        }
        let Value::Int(arity) = e[1] else {
            panic!("arity of {name}")
        };
        let blocking = e[2].list().iter().any(|f| f.text() == "blocking");
        let subcommands = e
            .get(9)
            .map(|s| s.list().iter().filter_map(|s| Some(s.list().first()?.text())).collect())
            .unwrap_or_default();
        table.push(Command {
            name,
            arity,
            blocking,
            subcommands,
        });
    }
    let reply = c
        .request(&[b"COMMAND".to_vec(), b"DOCS".to_vec()])
        .expect("COMMAND DOCS");
    let mut tokens = Vec::new();
    parse_value(&reply, &mut 0)
        .expect("COMMAND DOCS reply")
        .tokens(&mut tokens);
    tokens.sort();
    tokens.dedup();
    (table, tokens)
}

fn argument(rng: &mut Rng, tokens: &[String]) -> Vec<u8> {
    match rng.below(10) {
        0..=2 => rng.pick(KEYS).as_bytes().to_vec(),
        3..=5 => rng.pick(NUMBERS).as_bytes().to_vec(),
        6 | 7 => rng.pick(tokens).as_bytes().to_vec(),
        _ => rng.pick(WORDS).as_bytes().to_vec(),
    }
}

/// A request for `cmd`: a subcommand most of the time when it has them, as many arguments as
/// its arity asks (sometimes one too many or too few), blocking timeouts kept short.
fn request(rng: &mut Rng, cmd: &Command, tokens: &[String]) -> Vec<Vec<u8>> {
    let mut args = vec![cmd.name.as_bytes().to_vec()];
    if !cmd.subcommands.is_empty() && rng.below(10) != 0 {
        let sub = rng.pick(&cmd.subcommands);
        args.push(sub.split('|').next_back().unwrap_or(sub).as_bytes().to_vec());
    }
    let want = cmd.arity.unsigned_abs() as usize;
    let mut n = want.saturating_sub(args.len());
    if cmd.arity < 0 {
        n += rng.below(6);
    } else if rng.below(20) == 0 {
        n = (n + rng.below(3)).saturating_sub(1);
    }
    for _ in 0..n {
        args.push(argument(rng, tokens));
    }
    if cmd.blocking && args.len() > 1 {
        let short = b"0.01".to_vec();
        match cmd.name.as_str() {
            "blmpop" | "bzmpop" => args[1] = short,
            "xread" | "xreadgroup" => {
                for i in 1..args.len() - 1 {
                    if args[i].eq_ignore_ascii_case(b"block") {
                        args[i + 1] = b"1".to_vec();
                    }
                }
            }
            _ => *args.last_mut().expect("args") = short,
        }
    }
    args
}

fn show(args: &[Vec<u8>]) -> String {
    let words: Vec<String> = args
        .iter()
        .map(|a| format!("{:?}", String::from_utf8_lossy(a)))
        .collect();
    words.join(" ")
}

/// The number of requests per test, and this run's seed offset.
fn settings() -> (usize, u64) {
    let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    let n = env("OCHRE_FUZZ_COMMANDS").unwrap_or(20_000) as usize;
    (
        n,
        env("OCHRE_FUZZ_SEED").unwrap_or(0).wrapping_mul(0x2545_F491_4F6C_DD1D),
    )
}

/// The command table and option words, checked to be big enough to mean something.
fn read_table(port: u16) -> (Vec<Command>, Vec<String>) {
    let (table, tokens) = table(&mut Conn::open(port, false));
    assert!(
        table.len() > 150 && tokens.len() > 100,
        "{} commands, {} tokens",
        table.len(),
        tokens.len()
    );
    (table, tokens)
}

/// One connection sending `n` random requests, one at a time; returns how many replies were
/// not errors and how many were. Panics, with the last requests, when a request gets no reply
/// or the server is gone.
fn drive(port: u16, table: &[Command], tokens: &[String], resp3: bool, seed: u64, n: usize) -> [usize; 2] {
    let mut c = Conn::open(port, resp3);
    setup(&mut c, port, resp3);
    let mut rng = Rng(seed);
    let mut recent: Vec<String> = Vec::new();
    let mut answered = [0usize; 2];
    for i in 0..n {
        let args = match rng.below(50) {
            0 => vec![b"MULTI".to_vec()],
            1 => vec![b"EXEC".to_vec()],
            _ => {
                let cmd = rng.pick(table);
                request(&mut rng, cmd, tokens)
            }
        };
        recent.push(show(&args));
        if recent.len() > 20 {
            recent.remove(0);
        }
        match c.request(&args) {
            Ok(reply) => answered[usize::from(reply.first() == Some(&b'-'))] += 1,
            // QUIT, RESET and a few errors close the connection; anything else must answer.
            Err(why) if why == "closed" && TcpStream::connect(("127.0.0.1", port)).is_ok() => {
                c = Conn::open(port, resp3)
            }
            Err(why) => panic!("request {i}: {why}; the last requests:\n{}", recent.join("\n")),
        }
        if i % 1000 == 999 {
            setup(&mut c, port, resp3);
        }
    }
    answered
}

fn fuzz(resp3: bool, seed: u64) {
    let mut srv = common::Server::start();
    let (n, extra) = settings();
    let (table, tokens) = read_table(srv.port);
    let answered = drive(srv.port, &table, &tokens, resp3, seed ^ extra, n);
    // A generator that only ever produced arity or syntax errors would test the parser, not
    // the commands.
    eprintln!("{} replies, {} errors", answered[0], answered[1]);
    assert!(
        answered[0] * 4 > n,
        "only {} of {n} replies were not errors",
        answered[0]
    );
    assert!(srv.alive());
    assert_eq!(
        Conn::open(srv.port, false).request(&[b"PING".to_vec()]).as_deref(),
        Ok(&b"+PONG\r\n"[..])
    );
}

#[test]
fn every_command_survives_random_arguments_resp2() {
    fuzz(false, 0x9E37_79B9_7F4A_7C15);
}

#[test]
fn every_command_survives_random_arguments_resp3() {
    fuzz(true, 0xD1B5_4A32_D192_ED03);
}

/// Four connections at once on four workers: random commands meet each other's keys, blocking
/// pops meet pushes, EXEC and scripts stop the other workers mid-stream. Every request must
/// still be answered (a deadlock shows as a request that never is) and the server must live.
#[test]
fn concurrent_connections_survive_random_commands() {
    let mut srv = common::Server::start_with(&["--threads", "4"]);
    let (n, extra) = settings();
    let (table, tokens) = read_table(srv.port);
    let (table, tokens) = (&table, &tokens);
    let port = srv.port;
    std::thread::scope(|s| {
        for t in 0..4u64 {
            s.spawn(move || {
                drive(
                    port,
                    table,
                    tokens,
                    t % 2 == 1,
                    (0xA076_1D64_78BD_642F + t) ^ extra,
                    n / 4,
                )
            });
        }
    });
    assert!(srv.alive());
    assert_eq!(
        Conn::open(srv.port, false).request(&[b"PING".to_vec()]).as_deref(),
        Ok(&b"+PONG\r\n"[..])
    );
}
