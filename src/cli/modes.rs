//! The bulk and inspection modes, with redis-cli's output: `--pipe` (mass insertion of a RESP
//! stream read from standard input), `--scan`, `--bigkeys`, `--stat`, `--latency`, `--eval`, and
//! the replication ones: `--rdb` / `--functions-rdb` (a dump over SYNC) and `--replica`.

use super::conn::{errstr, Reply};
use super::format::Output;
use super::Cli;
use crate::util::text::repr;
use std::io::{self, Read, Write};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub enum Mode {
    Pipe { timeout: u64 },
    Scan,
    BigKeys,
    Stat,
    Latency { history: bool },
    Rdb { file: String, functions_only: bool },
    Replica,
}

pub fn run(cli: &mut Cli, mode: Mode) -> i32 {
    match mode {
        Mode::Pipe { timeout } => pipe(cli, timeout),
        Mode::Scan => scan(cli),
        Mode::BigKeys => bigkeys(cli),
        Mode::Stat => stat(cli),
        Mode::Latency { history } => latency(cli, history),
        Mode::Rdb { file, functions_only } => rdb(cli, &file, functions_only),
        Mode::Replica => replica(cli),
    }
}

fn out(s: &str) {
    let mut o = io::stdout().lock();
    let _ = o.write_all(s.as_bytes());
    let _ = o.flush();
}

/// Sends a command on the session's connection; an I/O failure ends the program as in redis-cli.
fn call(cli: &mut Cli, args: &[&[u8]]) -> Reply {
    let r = match cli.conn.as_mut() {
        Some(c) => c.call(args),
        None => Err(io::Error::new(io::ErrorKind::NotConnected, "not connected")),
    };
    match r {
        Ok(r) => r,
        Err(_) => {
            eprintln!("\nI/O error");
            std::process::exit(1);
        }
    }
}

/// 20 bytes that will not be in the user's data: the payload of the ECHO that closes `--pipe`.
fn magic() -> [u8; 20] {
    let mut seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
        ^ ((std::process::id() as u64) << 32);
    let mut m = [0u8; 20];
    for b in m.iter_mut() {
        // xorshift64*
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        *b = (seed.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8;
    }
    m
}

/// `--pipe`: standard input goes to the server unchanged while the replies are counted; a final
/// ECHO of random bytes tells when the last reply has arrived. Errors are printed to stderr.
fn pipe(cli: &mut Cli, timeout: u64) -> i32 {
    let Some(mut conn) = cli.conn.take() else { return 1 };
    let mut w = match conn.writer() {
        Ok(w) => w,
        Err(e) => {
            eprintln!("Error writing to the server: {}", errstr(&e));
            return 1;
        }
    };
    let magic = magic();
    let (eof_tx, eof_rx) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        let mut stdin = io::stdin().lock();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if let Err(e) = w.write_all(&buf[..n]) {
                        eprintln!("Error writing to the server: {}", errstr(&e));
                        std::process::exit(1);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    eprintln!("Error reading from stdin: {e}");
                    std::process::exit(1);
                }
            }
        }
        // The leading CRLF keeps the ECHO well formed even after garbage in the input.
        let mut echo = b"\r\n*2\r\n$4\r\nECHO\r\n$20\r\n".to_vec();
        echo.extend_from_slice(&magic);
        echo.extend_from_slice(b"\r\n");
        out("All data transferred. Waiting for the last reply...\n");
        if let Err(e) = w.write_all(&echo) {
            eprintln!("Error writing to the server: {}", errstr(&e));
            std::process::exit(1);
        }
        let _ = eof_tx.send(());
    });
    let (tx, rx) = mpsc::channel::<io::Result<Reply>>();
    std::thread::spawn(move || loop {
        let r = conn.read_reply();
        let stop = r.is_err();
        if tx.send(r).is_err() || stop {
            break;
        }
    });
    let (mut errors, mut replies) = (0u64, 0u64);
    let mut eof = false;
    let mut last_read = Instant::now();
    loop {
        if !eof && eof_rx.try_recv().is_ok() {
            eof = true;
        }
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(Ok(r)) => {
                last_read = Instant::now();
                match &r {
                    Reply::Error(e) => {
                        eprintln!("{}", String::from_utf8_lossy(e));
                        errors += 1;
                    }
                    Reply::Bulk(b) if b.as_slice() == magic => {
                        out("Last reply received from server.\n");
                        break;
                    }
                    _ => {}
                }
                replies += 1;
            }
            Ok(Err(_)) => {
                eprintln!("Error reading replies from server");
                std::process::exit(1);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => std::process::exit(1),
        }
        if eof && timeout > 0 && last_read.elapsed() > Duration::from_secs(timeout) {
            eprintln!("No replies for {timeout} seconds: exiting.");
            errors += 1;
            break;
        }
    }
    out(&format!("errors: {errors}, replies: {replies}\n"));
    if errors > 0 {
        1
    } else {
        0
    }
}

/// One SCAN call: the next cursor and the keys.
fn scan_once(cli: &mut Cli, cursor: u64) -> (u64, Vec<Vec<u8>>) {
    let cur = cursor.to_string();
    let mut args: Vec<&[u8]> = vec![b"SCAN", cur.as_bytes()];
    let pattern = cli.pattern.clone();
    if let Some(p) = &pattern {
        args.push(b"MATCH");
        args.push(p);
    }
    match call(cli, &args) {
        Reply::Error(e) => {
            eprintln!("SCAN error: {}", String::from_utf8_lossy(&e));
            std::process::exit(1);
        }
        Reply::Array(v) if v.len() == 2 => {
            let next = v[0]
                .bytes()
                .and_then(|b| std::str::from_utf8(b).ok()?.parse().ok())
                .unwrap_or(0);
            let keys = v[1]
                .elements()
                .unwrap_or(&[])
                .iter()
                .filter_map(|k| k.bytes().map(<[u8]>::to_vec))
                .collect();
            (next, keys)
        }
        Reply::Array(_) => {
            eprintln!("Invalid element count from SCAN!");
            std::process::exit(1);
        }
        _ => {
            eprintln!("Non ARRAY response from SCAN!");
            std::process::exit(1);
        }
    }
}

/// `--scan [--pattern p]`: every key, one a line (quoted on a terminal).
fn scan(cli: &mut Cli) -> i32 {
    let mut cursor = 0;
    loop {
        let (next, keys) = scan_once(cli, cursor);
        let mut o = io::stdout().lock();
        for k in keys {
            if cli.output == Output::Standard {
                let _ = writeln!(o, "{}", repr(&k));
            } else {
                let _ = o.write_all(&k);
                let _ = o.write_all(b"\n");
            }
        }
        let _ = o.flush();
        if !cli.interval.is_zero() {
            std::thread::sleep(cli.interval);
        }
        cursor = next;
        if cursor == 0 {
            return 0;
        }
    }
}

struct TypeInfo {
    name: String,
    sizecmd: Option<&'static str>,
    unit: &'static str,
    biggest: u64,
    count: u64,
    total: u64,
    biggest_key: Option<String>,
}

impl TypeInfo {
    fn new(name: &str, sizecmd: Option<&'static str>, unit: &'static str) -> TypeInfo {
        TypeInfo {
            name: name.to_string(),
            sizecmd,
            unit,
            biggest: 0,
            count: 0,
            total: 0,
            biggest_key: None,
        }
    }
}

/// `--bigkeys`: SCAN the keyspace, TYPE and size every key, report the biggest of each type.
fn bigkeys(cli: &mut Cli) -> i32 {
    // In the order redis-cli's summary lists them (its dict's iteration order).
    let mut types = vec![
        TypeInfo::new("list", Some("LLEN"), "items"),
        TypeInfo::new("hash", Some("HLEN"), "fields"),
        TypeInfo::new("string", Some("STRLEN"), "bytes"),
        TypeInfo::new("stream", Some("XLEN"), "entries"),
        TypeInfo::new("set", Some("SCARD"), "members"),
        TypeInfo::new("zset", Some("ZCARD"), "members"),
    ];
    let total_keys = match call(cli, &[b"DBSIZE"]) {
        Reply::Int(n) => n.max(0) as u64,
        Reply::Error(e) => {
            eprintln!("Couldn't determine DBSIZE: {}", String::from_utf8_lossy(&e));
            return 1;
        }
        _ => {
            eprintln!("Non INTEGER response from DBSIZE!");
            return 1;
        }
    };
    out("\n# Scanning the entire keyspace to find biggest keys as well as\n\
         # average sizes per key type.  You can use -i 0.1 to sleep 0.1 sec\n\
         # per 100 SCAN commands (not usually needed).\n\n");
    let (mut sampled, mut totlen, mut loops, mut cursor) = (0u64, 0u64, 0u64, 0u64);
    loop {
        let pct = if total_keys == 0 {
            0.0
        } else {
            100.0 * sampled as f64 / total_keys as f64
        };
        let (next, keys) = scan_once(cli, cursor);
        loops += 1;
        for key in keys {
            let ty = match call(cli, &[b"TYPE", &key]) {
                Reply::Status(t) => String::from_utf8_lossy(&t).into_owned(),
                Reply::Error(e) => {
                    eprintln!("TYPE returned an error: {}", String::from_utf8_lossy(&e));
                    return 1;
                }
                _ => continue,
            };
            if ty == "none" {
                continue; // deleted since SCAN
            }
            let idx = match types.iter().position(|t| t.name == ty) {
                Some(i) => i,
                None => {
                    types.push(TypeInfo::new(&ty, None, "?"));
                    types.len() - 1
                }
            };
            let size = match types[idx].sizecmd {
                Some(cmd) => match call(cli, &[cmd.as_bytes(), &key]) {
                    Reply::Int(n) => n.max(0) as u64,
                    _ => {
                        eprintln!(
                            "Warning:  {cmd} on '{}' failed (may have changed type)",
                            String::from_utf8_lossy(&key)
                        );
                        0
                    }
                },
                None => 0,
            };
            let t = &mut types[idx];
            t.total += size;
            t.count += 1;
            totlen += key.len() as u64;
            sampled += 1;
            if t.biggest < size {
                let shown = repr(&key);
                out(&format!(
                    "[{pct:05.2}%] Biggest {:<6} found so far '{shown}' with {size} {}\n",
                    t.name, t.unit
                ));
                t.biggest_key = Some(shown);
                t.biggest = size;
            }
            if sampled % 1_000_000 == 0 {
                out(&format!("[{pct:05.2}%] Sampled {sampled} keys so far\n"));
            }
        }
        if !cli.interval.is_zero() && loops % 100 == 0 {
            std::thread::sleep(cli.interval);
        }
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    let mut s = String::from("\n-------- summary -------\n\n");
    s.push_str(&format!("Sampled {sampled} keys in the keyspace!\n"));
    let avg = if totlen > 0 {
        totlen as f64 / sampled as f64
    } else {
        0.0
    };
    s.push_str(&format!("Total key length in bytes is {totlen} (avg len {avg:.2})\n\n"));
    for t in &types {
        if let Some(k) = &t.biggest_key {
            s.push_str(&format!(
                "Biggest {:>6} found '{k}' has {} {}\n",
                t.name, t.biggest, t.unit
            ));
        }
    }
    s.push('\n');
    for t in &types {
        let pct = if sampled > 0 {
            100.0 * t.count as f64 / sampled as f64
        } else {
            0.0
        };
        let avg = if t.count > 0 {
            t.total as f64 / t.count as f64
        } else {
            0.0
        };
        s.push_str(&format!(
            "{} {}s with {} {} ({pct:05.2}% of keys, avg size {avg:.2})\n",
            t.count, t.name, t.total, t.unit
        ));
    }
    out(&s);
    0
}

fn info_field(info: &str, field: &str) -> Option<i64> {
    info.lines().find_map(|l| {
        let v = l.strip_prefix(field)?.strip_prefix(':')?;
        let end = v.find(|c: char| !(c.is_ascii_digit() || c == '-')).unwrap_or(v.len());
        v[..end].parse().ok()
    })
}

/// The number of keys in `dbN:keys=...` lines.
fn info_keys(info: &str) -> i64 {
    info.lines()
        .filter(|l| l.starts_with("db"))
        .filter_map(|l| {
            l.split_once(":keys=")
                .and_then(|(_, v)| v.split(',').next()?.parse::<i64>().ok())
        })
        .sum()
}

/// `1.23K`-style sizes, as redis-cli's bytesToHuman.
pub fn bytes_to_human(n: i64) -> String {
    let (sign, n) = if n < 0 { ("-", -(n as f64)) } else { ("", n as f64) };
    let s = if n < 1024.0 {
        format!("{}B", n as i64)
    } else if n < 1024.0 * 1024.0 {
        format!("{:.2}K", n / 1024.0)
    } else if n < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2}M", n / (1024.0 * 1024.0))
    } else {
        format!("{:.2}G", n / (1024.0 * 1024.0 * 1024.0))
    };
    format!("{sign}{s}")
}

/// `--stat`: one line of server figures per interval (default one second).
fn stat(cli: &mut Cli) -> i32 {
    let interval = if cli.interval.is_zero() {
        Duration::from_secs(1)
    } else {
        cli.interval
    };
    let mut requests: i64 = 0;
    for i in 0u64.. {
        let info = match call(cli, &[b"INFO"]) {
            Reply::Error(e) => {
                eprintln!("ERROR: {}", String::from_utf8_lossy(&e));
                return 1;
            }
            r => String::from_utf8_lossy(r.bytes().unwrap_or(b"")).into_owned(),
        };
        let mut line = String::new();
        if i % 20 == 0 {
            line.push_str(
                "------- data ------ --------------------- load -------------------- - child -\n\
                 keys       mem      clients blocked requests            connections          \n",
            );
        }
        let get = |f: &str| info_field(&info, f).unwrap_or(i64::MIN);
        line.push_str(&format!("{:<11}", info_keys(&info)));
        line.push_str(&format!("{:<8}", bytes_to_human(get("used_memory"))));
        line.push_str(&format!(" {:<8}", get("connected_clients")));
        line.push_str(&format!("{:<8}", get("blocked_clients")));
        let total = get("total_commands_processed");
        let delta = if requests == 0 { 0 } else { total - requests };
        line.push_str(&format!("{:<19}", format!("{total} (+{delta})")));
        requests = total;
        line.push_str(&format!(" {:<12}", get("total_connections_received")));
        let child =
            (get("bgsave_in_progress") & 1) | ((get("aof_rewrite_in_progress") & 1) << 1) | ((get("loading") & 1) << 2);
        line.push_str(match child {
            1 => "SAVE",
            2 => "AOF",
            3 => "SAVE+AOF",
            4 => "LOAD",
            _ => "",
        });
        line.push('\n');
        out(&line);
        std::thread::sleep(interval);
    }
    0
}

/// `--latency` / `--latency-history`: PING every 10 ms and report min/max/avg in milliseconds.
fn latency(cli: &mut Cli, history: bool) -> i32 {
    let history_interval = if cli.interval.is_zero() {
        Duration::from_secs(15)
    } else {
        cli.interval
    };
    let report_after = if cli.interval.is_zero() {
        Duration::from_secs(1)
    } else {
        cli.interval
    };
    let (mut min, mut max, mut tot, mut count) = (0u128, 0u128, 0u128, 0u128);
    let mut history_start = Instant::now();
    let output = cli.output;
    let print = |min: u128, max: u128, avg: f64, count: u128| match output {
        Output::Standard => out(&format!("min: {min}, max: {max}, avg: {avg:.2} ({count} samples)")),
        Output::Csv => out(&format!("{min},{max},{avg:.2},{count}\n")),
        Output::Json | Output::QuotedJson => out(&format!(
            "{{\"min\": {min}, \"max\": {max}, \"avg\": {avg:.2}, \"count\": {count}}}\n"
        )),
        Output::Raw => out(&format!("{min} {max} {avg:.2} {count}\n")),
    };
    loop {
        let start = Instant::now();
        call(cli, &[b"PING"]);
        let l = start.elapsed().as_millis();
        count += 1;
        if count == 1 {
            (min, max, tot) = (l, l, l);
        } else {
            min = min.min(l);
            max = max.max(l);
            tot += l;
        }
        let avg = tot as f64 / count as f64;
        if output == Output::Standard {
            out("\x1b[0G\x1b[2K");
            print(min, max, avg, count);
        } else if history {
            print(min, max, avg, count);
        } else if history_start.elapsed() > report_after {
            print(min, max, avg, count);
            return 0;
        }
        if history && history_start.elapsed() > history_interval {
            out(&format!(
                " -- {:.2} seconds range\n",
                history_start.elapsed().as_secs_f64()
            ));
            history_start = Instant::now();
            (min, max, tot, count) = (0, 0, 0, 0);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `--eval script.lua k1 k2 , a1 a2`: EVAL the file with the keys before the comma.
pub fn eval(cli: &mut Cli, file: &str, args: &[Vec<u8>]) -> i32 {
    let script = match std::fs::read(file) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("Can't open file '{file}': {}", errstr(&e));
            return 1;
        }
    };
    let mut keys = Vec::new();
    let mut argv = Vec::new();
    let mut comma = false;
    for a in args {
        if !comma && a.as_slice() == b"," {
            comma = true;
        } else if comma {
            argv.push(a.clone());
        } else {
            keys.push(a.clone());
        }
    }
    let mut cmd = vec![b"EVAL".to_vec(), script, keys.len().to_string().into_bytes()];
    cmd.extend(keys);
    cmd.extend(argv);
    if cli.issue(&cmd, 1) {
        0
    } else {
        1
    }
}

/// redis-cli's `sendReplconf`: an error is reported but not fatal (older servers lack options).
fn replconf(cli: &mut Cli, opt: &str, val: &str) -> bool {
    eprintln!("sending REPLCONF {opt} {val}");
    match call(cli, &[b"REPLCONF".as_slice(), opt.as_bytes(), val.as_bytes()]) {
        Reply::Error(e) => {
            eprintln!("REPLCONF {opt} error: {}", String::from_utf8_lossy(&e));
            false
        }
        _ => true,
    }
}

/// Sends SYNC and reads the `$<len>` that announces the payload.
fn sync(cli: &mut Cli) -> u64 {
    let Some(conn) = cli.conn.as_mut() else {
        eprintln!("\nI/O error");
        std::process::exit(1);
    };
    if conn.write_raw(b"SYNC\r\n").is_err() {
        eprintln!("Error writing to master");
        std::process::exit(1);
    }
    let line = match conn.read_line() {
        Ok(l) => l,
        Err(_) => {
            eprintln!("Error reading bulk length while SYNCing");
            std::process::exit(1);
        }
    };
    match line
        .strip_prefix(b"$")
        .and_then(|n| std::str::from_utf8(n).ok()?.parse().ok())
    {
        Some(n) => n,
        None => {
            eprintln!("SYNC with master failed: {}", String::from_utf8_lossy(&line));
            std::process::exit(1);
        }
    }
}

/// `--rdb FILE` / `--functions-rdb FILE`: the server's dump over the replication protocol.
fn rdb(cli: &mut Cli, file: &str, functions_only: bool) -> i32 {
    replconf(cli, "capa", "eof");
    replconf(cli, "rdb-only", "1");
    if functions_only && !replconf(cli, "rdb-filter-only", "functions") {
        eprintln!("Failed requesting functions only RDB from server, aborting");
        return 1;
    }
    let n = sync(cli);
    eprintln!("SYNC sent to master, writing {n} bytes to '{file}'");
    let mut sink: Box<dyn Write> = if file == "-" {
        Box::new(io::stdout())
    } else {
        match std::fs::File::create(file) {
            Ok(f) => Box::new(f),
            Err(e) => {
                eprintln!("Error opening '{file}': {}", errstr(&e));
                return 1;
            }
        }
    };
    let Some(conn) = cli.conn.as_mut() else { return 1 };
    if let Err(e) = conn.copy_raw(n, &mut sink).and_then(|_| sink.flush()) {
        eprintln!("I/O Error reading RDB payload from socket: {}", errstr(&e));
        return 1;
    }
    eprintln!("Transfer finished with success.");
    0
}

/// `--replica`: attaches as a replica (without a dataset) and prints every command the server
/// streams, in CSV, until the connection ends.
fn replica(cli: &mut Cli) -> i32 {
    replconf(cli, "capa", "eof");
    replconf(cli, "rdb-filter-only", "");
    let n = sync(cli);
    eprintln!("SYNC with master, discarding {n} bytes of bulk transfer...");
    let Some(conn) = cli.conn.as_mut() else { return 1 };
    if conn.copy_raw(n, &mut io::sink()).is_err() {
        eprintln!("Error reading RDB payload while SYNCing");
        return 1;
    }
    eprintln!("SYNC done. Logging commands from master.");
    loop {
        match conn.read_reply() {
            Ok(r) => {
                let mut line = super::format::csv(&r);
                line.push(b'\n');
                let mut o = io::stdout().lock();
                let _ = o.write_all(&line);
                let _ = o.flush();
            }
            Err(e) => {
                eprintln!("Error: {}", errstr(&e));
                return 1;
            }
        }
    }
}
