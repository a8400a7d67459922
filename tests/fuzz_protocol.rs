//! Fuzzing the request path with random and mutated RESP.
//!
//! * `parser_survives_a_million_inputs`: 1,000,000 generated inputs straight into the parser:
//!   no panic, no out-of-bounds argument, a bounded answer for every input.
//! * `server_survives_mutated_requests`: mutated requests sent to a real server over sockets:
//!   the server never dies or hangs, and everything it sends back is a sequence of whole RESP
//!   frames. `OCHRE_FUZZ_E2E=N` changes the number of requests (default 100,000).

mod common;

use common::Rng;
use ochre::protocol::parser::{parse, Limits, Parsed};
use std::io::{Read, Write};
use std::time::Duration;

const NAMES: &[&str] = &[
    "GET",
    "SET",
    "INCR",
    "DECRBY",
    "INCRBYFLOAT",
    "MGET",
    "MSET",
    "MSETNX",
    "GETDEL",
    "GETEX",
    "STRLEN",
    "GETRANGE",
    "SUBSTR",
    "LCS",
    "GETBIT",
    "BITCOUNT",
    "BITPOS",
    "BITOP",
    "BITFIELD_RO",
    "DEL",
    "EXISTS",
    "TYPE",
    "RENAME",
    "COPY",
    "MOVE",
    "KEYS",
    "SCAN",
    "RANDOMKEY",
    "TOUCH",
    "OBJECT",
    "DUMP",
    "RESTORE",
    "EXPIRE",
    "PEXPIREAT",
    "TTL",
    "PTTL",
    "PERSIST",
    "PING",
    "ECHO",
    "SELECT",
    "HELLO",
    "DBSIZE",
    "INFO",
    "CONFIG",
    "CLIENT",
    "COMMAND",
    "SLOWLOG",
    "LATENCY",
    "MEMORY",
    "TIME",
    "NOSUCHCMD",
    "setnx",
    "sEt",
];

const ARGS: &[&str] = &[
    "k",
    "key:1",
    "0",
    "-1",
    "1",
    "10",
    "99999999999999999999",
    "3.14",
    "inf",
    "-inf",
    "nan",
    "",
    "EX",
    "PX",
    "NX",
    "XX",
    "GET",
    "KEEPTTL",
    "MATCH",
    "*",
    "COUNT",
    "TYPE",
    "string",
    "LEN",
    "IDX",
    "WITHSCORES",
    "ENCODING",
    "HELP",
    "GET",
    "maxmemory",
    "LIST",
    "ID",
    "AND",
    "OR",
    "NOT",
    "BYTE",
    "BIT",
    "\x00\x7f",
    "a b",
    "\"q\"",
    "2147483648",
];

fn valid_request(rng: &mut Rng) -> Vec<u8> {
    let argc = 1 + rng.below(5);
    let mut args = vec![NAMES[rng.below(NAMES.len())].as_bytes().to_vec()];
    for _ in 1..argc {
        args.push(ARGS[rng.below(ARGS.len())].as_bytes().to_vec());
    }
    if rng.below(8) == 0 {
        // Inline form.
        let mut line: Vec<u8> = args.join(&b' ');
        line.extend_from_slice(if rng.below(2) == 0 { b"\r\n" } else { b"\n" });
        return line;
    }
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in &args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn mutate(rng: &mut Rng, mut b: Vec<u8>) -> Vec<u8> {
    const SPECIAL: &[u8] = b"*$\r\n-0123456789\" '\\x";
    for _ in 0..1 + rng.below(4) {
        let pos = rng.below(b.len() + 1);
        match rng.below(6) {
            0 if !b.is_empty() => {
                b.remove(pos.min(b.len() - 1));
            }
            1 => b.insert(pos, SPECIAL[rng.below(SPECIAL.len())]),
            2 => b.insert(pos, rng.next() as u8),
            3 if !b.is_empty() => {
                let i = pos.min(b.len() - 1);
                b[i] = SPECIAL[rng.below(SPECIAL.len())];
            }
            4 if !b.is_empty() => {
                let i = pos.min(b.len() - 1);
                b.truncate(i);
            }
            _ => {
                let extra = valid_request(rng);
                b.splice(pos..pos, extra);
            }
        }
    }
    b
}

fn random_input(rng: &mut Rng) -> Vec<u8> {
    match rng.below(4) {
        0 => (0..rng.below(64)).map(|_| rng.next() as u8).collect(),
        1 => valid_request(rng),
        _ => {
            let v = valid_request(rng);
            mutate(rng, v)
        }
    }
}

#[test]
fn parser_survives_a_million_inputs() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let limits = Limits {
        max_bulk_len: 512 * 1024 * 1024,
        unauthenticated: false,
    };
    let strict = Limits {
        max_bulk_len: 1024 * 1024,
        unauthenticated: true,
    };
    let mut spans = Vec::new();
    let mut requests = 0u64;
    for i in 0..1_000_000u32 {
        let input = random_input(&mut rng);
        let lim = if i % 3 == 0 { &strict } else { &limits };
        // Parse the whole buffer the way a connection does: request after request.
        let mut pos = 0;
        let mut rounds = 0;
        while pos < input.len() {
            rounds += 1;
            assert!(rounds <= input.len() + 1, "parser made no progress on {input:?}");
            match parse(&input[pos..], lim, &mut spans) {
                Parsed::Request { consumed } => {
                    assert!(consumed > 0 && pos + consumed <= input.len());
                    for r in &spans {
                        assert!(r.start <= r.end && r.end <= consumed, "span out of the request");
                    }
                    assert!(!spans.is_empty());
                    requests += 1;
                    pos += consumed;
                }
                Parsed::Owned { consumed, args } => {
                    assert!(consumed > 0 && pos + consumed <= input.len() && !args.is_empty());
                    requests += 1;
                    pos += consumed;
                }
                Parsed::Empty { consumed } => {
                    assert!(consumed > 0 && pos + consumed <= input.len());
                    pos += consumed;
                }
                Parsed::Incomplete | Parsed::Error(_) => break,
            }
        }
    }
    // The generator is meant to produce mostly parseable traffic; make sure it did.
    assert!(requests > 300_000, "only {requests} requests parsed");
}

/// Whether `b` is a sequence of complete RESP frames.
fn all_frames(mut b: &[u8]) -> bool {
    while !b.is_empty() {
        match common::resp_frame_len(b) {
            Some(n) => b = &b[n..],
            None => return false,
        }
    }
    true
}

#[test]
fn server_survives_mutated_requests() {
    let mut srv = common::Server::start();
    let n: usize = std::env::var("OCHRE_FUZZ_E2E")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    for i in 0..n {
        // Several requests per connection, then a half-close: the server answers what is
        // complete and closes.
        let mut input = Vec::new();
        for _ in 0..1 + rng.below(4) {
            input.extend(random_input(&mut rng));
        }
        let mut s = std::net::TcpStream::connect(("127.0.0.1", srv.port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = s.write_all(&input);
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut out = Vec::new();
        match s.read_to_end(&mut out) {
            Ok(_) => {}
            Err(e) => panic!(
                "request {i}: no end of reply ({e}) for input {:?}",
                String::from_utf8_lossy(&input)
            ),
        }
        assert!(
            all_frames(&out),
            "request {i}: reply is not whole RESP frames\ninput: {:?}\nreply: {:?}",
            String::from_utf8_lossy(&input),
            String::from_utf8_lossy(&out)
        );
        if i % 1000 == 0 {
            assert!(srv.alive(), "server died at request {i}");
        }
    }
    assert!(srv.alive());
    let mut c = srv.raw();
    assert_eq!(c.cmd(&[b"PING"]), b"+PONG\r\n");
}
