//! `ochre-cli`: the command-line client and interactive shell, a stand-in for `redis-cli`.
//!
//! * [`args`]: the options (clap), with redis-cli's names and error texts.
//! * [`conn`]: a small blocking RESP2/RESP3 client.
//! * [`format`]: replies printed exactly as redis-cli prints them (terminal, raw, CSV, JSON).
//! * [`help`]: help entries built from `COMMAND DOCS` (help, hints, completion).
//! * [`repl`]: the interactive shell (rustyline: history, hints, completion).
//! * [`modes`]: `--pipe`, `--scan`, `--bigkeys`, `--stat`, `--latency`, `--eval`.
//!
//! This file holds the session ([`Cli`]): connecting (AUTH, SELECT, HELLO 3), sending a command
//! and printing its replies, and the MONITOR/SUBSCRIBE streaming that Ctrl-C ends.

pub mod args;
pub mod conn;
pub mod format;
pub mod help;
pub mod modes;
pub mod repl;

use conn::{errstr, Addr, Conn, Reply};
use format::Output;
use std::ffi::OsString;
use std::io::{self, IsTerminal, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::Duration;

/// The socket of a MONITOR/SUBSCRIBE stream in progress (-1: none). Ctrl-C shuts it down, which
/// ends the stream and brings the shell back to its prompt, as in redis-cli.
static STREAM_FD: AtomicI32 = AtomicI32::new(-1);
static STREAM_ABORTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    let fd = STREAM_FD.load(Ordering::SeqCst);
    if fd >= 0 {
        STREAM_ABORTED.store(true, Ordering::SeqCst);
        // SAFETY: shutdown(2) is async-signal-safe; the descriptor stays open until Conn drops.
        unsafe {
            libc::shutdown(fd, libc::SHUT_RDWR);
        }
    } else {
        // SAFETY: _exit(2) is async-signal-safe.
        unsafe { libc::_exit(1) }
    }
}

fn install_sigint() {
    // SAFETY: installs a handler that only calls async-signal-safe functions.
    unsafe {
        libc::signal(libc::SIGINT, on_sigint as *const () as libc::sighandler_t);
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

/// The commands whose reply redis-cli always prints raw, even on a terminal.
fn prints_raw(argv: &[Vec<u8>]) -> bool {
    let is = |i: usize, s: &str| argv.get(i).is_some_and(|a| a.eq_ignore_ascii_case(s.as_bytes()));
    let n = argv.len();
    is(0, "info")
        || is(0, "lolwut")
        || (n >= 2 && is(0, "debug") && (is(1, "htstats") || is(1, "htstats-key") || is(1, "client-eviction")))
        || (n >= 2 && is(0, "memory") && (is(1, "malloc-stats") || is(1, "doctor")))
        || (n == 2 && is(0, "cluster") && (is(1, "nodes") || is(1, "info")))
        || (n >= 2 && is(0, "client") && (is(1, "list") || is(1, "info")))
        || (n == 3 && is(0, "latency") && is(1, "graph"))
        || (n == 2 && is(0, "latency") && is(1, "doctor"))
}

/// One client session and its settings.
pub struct Cli {
    pub addr: Addr,
    pub user: Option<String>,
    pub auth: Option<String>,
    /// The database asked for (-n, -u, SELECT) and the one the connection is on.
    pub input_db: i64,
    pub db: i64,
    /// 0: RESP2; 1: -3 (HELLO 3 must succeed); 2: implied by --json (failure tolerated).
    pub resp3: u8,
    pub output: Output,
    pub push_output: bool,
    pub mb_delim: Vec<u8>,
    pub cmd_delim: Vec<u8>,
    pub errcode: bool,
    pub cluster: bool,
    pub interactive: bool,
    pub repeat: i64,
    pub interval: Duration,
    pub in_multi: bool,
    pre_multi_db: i64,
    pub conn: Option<Conn>,
    pub help: Option<Vec<help::Entry>>,
    pub pattern: Option<Vec<u8>>,
}

/// What reading a command's reply ended with.
enum Outcome {
    Ok(Reply),
    /// The connection failed (already reported where redis-cli reports it).
    Lost(io::Error),
}

impl Cli {
    /// The prompt: `host:port[db](TX)> `.
    pub fn prompt(&self) -> String {
        let mut p = match &self.addr {
            Addr::Tcp(h, port) if h.contains(':') => format!("[{h}]:{port}"),
            Addr::Tcp(h, port) => format!("{h}:{port}"),
            Addr::Unix(path) => format!("redis {path}"),
        };
        if self.db != 0 {
            p.push_str(&format!("[{}]", self.db));
        }
        if self.in_multi {
            p.push_str("(TX)");
        }
        p.push_str("> ");
        p
    }

    fn addr_text(&self) -> String {
        match &self.addr {
            Addr::Tcp(h, p) => format!("{h}:{p}"),
            Addr::Unix(path) => path.clone(),
        }
    }

    /// Connects (again, when `force`), then AUTH, SELECT and HELLO 3 as configured.
    pub fn connect(&mut self, force: bool, quiet: bool) -> bool {
        if self.conn.is_some() && !force {
            return true;
        }
        if self.conn.take().is_some() {
            self.db = 0;
            self.in_multi = false;
        }
        let mut c = match Conn::connect(&self.addr) {
            Ok(c) => c,
            Err(e) => {
                if !quiet {
                    eprintln!("Could not connect to Redis at {}: {}", self.addr_text(), errstr(&e));
                }
                return false;
            }
        };
        if let Some(pass) = &self.auth {
            let mut a: Vec<&str> = vec!["AUTH"];
            if let Some(u) = &self.user {
                a.push(u);
            }
            a.push(pass);
            match c.call(&a) {
                Ok(Reply::Error(e)) => {
                    eprintln!("AUTH failed: {}", String::from_utf8_lossy(&e));
                    self.conn = Some(c);
                    return false;
                }
                Ok(_) => {}
                Err(_) => {
                    eprintln!("\nI/O error");
                    return false;
                }
            }
        }
        self.conn = Some(c);
        if !self.select() {
            return false;
        }
        if self.resp3 > 0 {
            let Some(c) = self.conn.as_mut() else { return false };
            match c.call(&["HELLO", "3"]) {
                Ok(Reply::Error(e)) => {
                    eprintln!("HELLO 3 failed: {}", String::from_utf8_lossy(&e));
                    if self.resp3 == 1 {
                        return false;
                    }
                }
                Ok(_) => {}
                Err(_) => {
                    eprintln!("\nI/O error");
                    return false;
                }
            }
        }
        true
    }

    /// Sends SELECT when the connection is not on the database asked for.
    fn select(&mut self) -> bool {
        if self.input_db == self.db {
            return true;
        }
        let Some(c) = self.conn.as_mut() else { return false };
        match c.call(&["SELECT".to_string(), self.input_db.to_string()]) {
            Ok(Reply::Error(e)) => {
                eprintln!("SELECT {} failed: {}", self.input_db, String::from_utf8_lossy(&e));
                false
            }
            Ok(_) => {
                self.db = self.input_db;
                true
            }
            Err(_) => {
                eprintln!("\nI/O error");
                false
            }
        }
    }

    fn print(&self, bytes: &[u8]) {
        let mut out = io::stdout().lock();
        let _ = out.write_all(bytes);
        let _ = out.flush();
    }

    /// Reads one reply for a command and prints it; a push message that arrives first is printed
    /// (or dropped) on its own, as hiredis's push handler does.
    fn read_print(&mut self, verbatim: bool, streaming: bool) -> Outcome {
        loop {
            let Some(c) = self.conn.as_mut() else {
                return Outcome::Lost(io::Error::new(io::ErrorKind::NotConnected, "not connected"));
            };
            let r = match c.read_reply() {
                Ok(r) => r,
                Err(e) => return Outcome::Lost(e),
            };
            if !streaming {
                if let Reply::Push(v) = &r {
                    if self.push_output {
                        let invalidate = v.len() == 2
                            && v[0].bytes().is_some_and(|b| b.starts_with(b"invalidate"))
                            && matches!(v[1], Reply::Array(_));
                        if self.output == Output::Standard && invalidate {
                            let keys: Vec<String> = v[1]
                                .elements()
                                .unwrap_or(&[])
                                .iter()
                                .map(|k| format!("'{}'", String::from_utf8_lossy(k.bytes().unwrap_or(b""))))
                                .collect();
                            self.print(format!("-> invalidate: {}\n", keys.join(", ")).as_bytes());
                        } else {
                            self.print(&format::reply(&r, self.output, false, &self.mb_delim, &self.cmd_delim));
                        }
                    }
                    continue;
                }
            }
            if self.cluster && redirect(&r).is_some() {
                return Outcome::Ok(r);
            }
            if !self.interactive && self.errcode {
                if let Reply::Error(e) = &r {
                    let _ = io::stdout().flush();
                    eprintln!("{}", String::from_utf8_lossy(e));
                    std::process::exit(1);
                }
            }
            self.print(&format::reply(
                &r,
                self.output,
                verbatim,
                &self.mb_delim,
                &self.cmd_delim,
            ));
            return Outcome::Ok(r);
        }
    }

    /// Runs a command `repeat` times (redis-cli's issueCommandRepeat): `help` is answered
    /// locally; a lost connection is reconnected first. Returns false on a connection failure.
    pub fn issue(&mut self, argv: &[Vec<u8>], repeat: i64) -> bool {
        if argv.is_empty() {
            return true;
        }
        if argv[0].eq_ignore_ascii_case(b"help") || argv[0] == b"?" {
            let topics: Vec<String> = argv[1..]
                .iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            help::output_help(self, &topics);
            return true;
        }
        let argv = argv.to_vec();
        let mut asking = false;
        loop {
            if self.conn.is_none() && !self.connect(true, false) {
                return false;
            }
            if asking {
                if let Some(c) = self.conn.as_mut() {
                    if c.call(&["ASKING"]).is_err() {
                        self.conn = None;
                        return false;
                    }
                }
            }
            match self.send_command(&argv, repeat) {
                Err(e) => {
                    eprintln!("Error: {}", errstr(&e));
                    self.conn = None;
                    return false;
                }
                Ok(Some((host, port, ask))) => {
                    // Cluster redirection: follow it and send the command again.
                    if self.interactive {
                        println!("-> Redirected to {host}:{port}");
                    }
                    self.addr = Addr::Tcp(host, port);
                    self.conn = None;
                    asking = ask;
                    continue;
                }
                Ok(None) => return true,
            }
        }
    }

    /// Sends a command and prints its replies; returns a cluster redirection to follow, if any.
    fn send_command(&mut self, argv: &[Vec<u8>], repeat: i64) -> io::Result<Option<(String, u16, bool)>> {
        let verbatim = prints_raw(argv);
        let name = argv[0].to_ascii_lowercase();
        let monitor = name == b"monitor";
        let pubsub = matches!(name.as_slice(), b"subscribe" | b"psubscribe" | b"ssubscribe");
        let mut left = repeat;
        while left != 0 {
            if left > 0 {
                left -= 1;
            }
            let Some(c) = self.conn.as_mut() else {
                return Err(io::Error::new(io::ErrorKind::NotConnected, "not connected"));
            };
            c.send(argv)?;
            if monitor || pubsub {
                return self.stream(verbatim, pubsub).map(|_| None);
            }
            let r = match self.read_print(verbatim, false) {
                Outcome::Ok(r) => r,
                // A server that closes the connection after SHUTDOWN did what was asked:
                // redis-cli prints nothing and exits 0 (its `config.shutdown`).
                Outcome::Lost(_) if name == b"shutdown" => {
                    self.conn = None;
                    return Ok(None);
                }
                Outcome::Lost(e) => return Err(e),
            };
            if self.cluster {
                if let Some(to) = redirect(&r) {
                    return Ok(Some(to));
                }
            }
            self.track_state(argv, &r);
            if !self.interval.is_zero() {
                std::thread::sleep(self.interval);
            }
        }
        Ok(None)
    }

    /// Keeps the prompt's database and transaction mark in step with what the server did.
    fn track_state(&mut self, argv: &[Vec<u8>], r: &Reply) {
        let name = argv[0].to_ascii_lowercase();
        let ok = !r.is_error();
        match (name.as_slice(), argv.len()) {
            (b"select", 2) if ok => {
                let db = args::atoi(&String::from_utf8_lossy(&argv[1]));
                self.input_db = db;
                self.db = db;
            }
            (b"auth", 2 | 3) => {
                self.select();
            }
            (b"multi", 1) if ok => {
                self.in_multi = true;
                self.pre_multi_db = self.db;
            }
            (b"exec", 1) if self.in_multi => {
                self.in_multi = false;
                if matches!(r, Reply::Error(_) | Reply::Nil) {
                    self.db = self.pre_multi_db;
                    self.input_db = self.db;
                }
            }
            (b"discard", 1) if ok => {
                self.in_multi = false;
                self.db = self.pre_multi_db;
                self.input_db = self.db;
            }
            (b"reset", 1) if ok => {
                self.in_multi = false;
                self.db = 0;
                self.input_db = 0;
                self.resp3 = 0;
            }
            _ => {}
        }
    }

    /// MONITOR and SUBSCRIBE: print every message until the stream ends or Ctrl-C shuts the
    /// socket down (then reconnect, as redis-cli does, and go back to the prompt).
    fn stream(&mut self, verbatim: bool, pubsub: bool) -> io::Result<()> {
        if pubsub && self.output != Output::Raw {
            self.print(b"Reading messages... (press Ctrl-C to quit)\n");
        }
        if let Some(c) = &self.conn {
            STREAM_FD.store(c.fd(), Ordering::SeqCst);
        }
        STREAM_ABORTED.store(false, Ordering::SeqCst);
        let result = loop {
            match self.read_print(verbatim, true) {
                Outcome::Ok(r) => {
                    if r.is_error() {
                        break Ok(());
                    }
                    // Unsubscribed from everything: the stream is over.
                    if pubsub {
                        if let Some([kind, _, Reply::Int(0)]) = r.elements() {
                            if kind.bytes().is_some_and(|k| k.ends_with(b"unsubscribe")) {
                                break Ok(());
                            }
                        }
                    }
                }
                Outcome::Lost(e) => break Err(e),
            }
        };
        STREAM_FD.store(-1, Ordering::SeqCst);
        if STREAM_ABORTED.swap(false, Ordering::SeqCst) {
            self.conn = None;
            self.connect(true, false);
            return Ok(());
        }
        result
    }
}

/// `-MOVED slot host:port` / `-ASK slot host:port`: where to go, and whether ASKING is needed.
fn redirect(r: &Reply) -> Option<(String, u16, bool)> {
    let Reply::Error(e) = r else { return None };
    let text = String::from_utf8_lossy(e);
    let ask = text.starts_with("ASK ");
    if !ask && !text.starts_with("MOVED ") {
        return None;
    }
    let target = text.split(' ').nth(2)?;
    let (host, port) = target.rsplit_once(':')?;
    Some((host.to_string(), port.parse().ok()?, ask))
}

/// Reads all of standard input (the `-x` / `-X` argument).
fn read_stdin() -> Vec<u8> {
    let mut buf = Vec::new();
    if let Err(e) = io::stdin().lock().read_to_end(&mut buf) {
        eprintln!("Reading from standard input: {e}");
        std::process::exit(1);
    }
    buf
}

/// `--quoted-input` / `--quoted-pattern`: one argument written with redis-cli's quoting rules.
pub fn unquote(arg: &[u8]) -> Option<Vec<u8>> {
    let mut v = crate::protocol::parser::split_owned(arg).ok()?;
    if v.len() == 1 {
        v.pop()
    } else {
        None
    }
}

/// Runs `ochre-cli` with these arguments (without the program name); returns the exit status.
pub fn run(argv: Vec<OsString>) -> i32 {
    let a = match args::parse(argv) {
        args::Parsed::Run(a) => a,
        args::Parsed::Exit(code) => return code,
    };
    let tty = io::stdout().is_terminal() || std::env::var_os("FAKETTY").is_some();
    let mut host = std::env::var("OCHRE_HOST")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "127.0.0.1".into());
    let mut port: u16 = std::env::var("OCHRE_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(6379);
    let mut user = None;
    let mut auth = None;
    let mut db = 0;
    if let Some(u) = &a.uri {
        match args::parse_uri(u) {
            Ok(u) => {
                host = u.host.unwrap_or(host);
                port = u.port.unwrap_or(port);
                user = u.user;
                auth = u.pass;
                db = u.db.unwrap_or(0);
            }
            Err(e) => {
                eprintln!("{e}");
                return 1;
            }
        }
    }
    host = a.host.clone().unwrap_or(host);
    port = a.port.unwrap_or(port);
    user = a.user.clone().or(user);
    auth = a.pass.clone().or(auth);
    db = a.db.unwrap_or(db);
    if auth.is_some() && !a.no_auth_warning {
        eprintln!("Warning: Using a password with '-a' or '-u' option on the command line interface may not be safe.");
    }
    if auth.is_none() {
        auth = std::env::var("REDISCLI_AUTH").ok();
    }
    let output = a.output().unwrap_or(if tty { Output::Standard } else { Output::Raw });
    let mut push_output = tty;
    if let Some(v) = &a.show_pushes {
        match v.as_bytes().first().map(|c| c.to_ascii_lowercase()) {
            Some(b'n') => push_output = false,
            Some(b'y') => push_output = true,
            _ => eprintln!("Unknown --show-pushes value '{v}' (valid: '[y]es', '[n]o')"),
        }
    }
    let pattern = match (&a.quoted_pattern, &a.pattern) {
        (Some(q), _) => match unquote(q.as_bytes()) {
            Some(p) => Some(p),
            None => {
                eprintln!("Invalid quoted string specified for --quoted-pattern.");
                return 1;
            }
        },
        (None, Some(p)) => Some(p.as_bytes().to_vec()),
        _ => None,
    };
    let json = matches!(output, Output::Json | Output::QuotedJson);
    let mut cli = Cli {
        addr: match &a.socket {
            Some(s) => Addr::Unix(s.clone()),
            None => Addr::Tcp(host, port),
        },
        user,
        auth,
        input_db: db,
        db: 0,
        resp3: if a.resp3 {
            1
        } else if json && !a.resp2 {
            2
        } else {
            0
        },
        output,
        push_output,
        mb_delim: a
            .mb_delim
            .clone()
            .map(String::into_bytes)
            .unwrap_or_else(|| b"\n".to_vec()),
        cmd_delim: a
            .cmd_delim
            .clone()
            .map(String::into_bytes)
            .unwrap_or_else(|| b"\n".to_vec()),
        errcode: a.errcode,
        cluster: a.cluster,
        interactive: false,
        repeat: a.repeat.unwrap_or(1),
        interval: Duration::from_secs_f64(a.interval.unwrap_or(0.0).max(0.0)),
        in_multi: false,
        pre_multi_db: 0,
        conn: None,
        help: None,
        pattern,
    };

    let mode = if a.latency || a.latency_history {
        Some(modes::Mode::Latency {
            history: a.latency_history,
        })
    } else if a.pipe {
        Some(modes::Mode::Pipe {
            timeout: a.pipe_timeout,
        })
    } else if a.bigkeys {
        Some(modes::Mode::BigKeys)
    } else if a.stat {
        Some(modes::Mode::Stat)
    } else if a.scan {
        Some(modes::Mode::Scan)
    } else if let Some(file) = a.rdb.clone().or_else(|| a.functions_rdb.clone()) {
        if a.rdb.is_some() && a.functions_rdb.is_some() {
            eprintln!("Option --functions-rdb and --rdb are mutually exclusive.");
            return 1;
        }
        Some(modes::Mode::Rdb {
            file,
            functions_only: a.functions_rdb.is_some(),
        })
    } else if a.replica {
        Some(modes::Mode::Replica)
    } else {
        None
    };
    if let Some(mode) = mode {
        if !cli.connect(false, false) {
            return 1;
        }
        return modes::run(&mut cli, mode);
    }

    let command: Vec<Vec<u8>> = a.command.iter().map(|s| s.as_bytes().to_vec()).collect();
    if command.is_empty() && a.eval.is_none() {
        install_sigint();
        cli.connect(false, false);
        return repl::run(&mut cli);
    }
    if let Some(file) = &a.eval {
        if !cli.connect(false, false) {
            return 1;
        }
        return modes::eval(&mut cli, file, &command);
    }

    // One-shot mode.
    let mut argv = command;
    if a.quoted_input {
        let mut un = Vec::with_capacity(argv.len());
        for arg in &argv {
            match unquote(arg) {
                Some(u) => un.push(u),
                None => {
                    println!("Invalid quoted string");
                    return 1;
                }
            }
        }
        argv = un;
    }
    if a.stdin_last {
        argv.push(read_stdin());
    } else if let Some(tag) = &a.stdin_tag {
        match argv.iter().position(|x| x == tag.as_bytes()) {
            Some(i) => argv[i] = read_stdin(),
            None => {
                eprintln!("Using -X option but stdin tag not match.");
                return 1;
            }
        }
    }
    cli.connect(false, true);
    if cli.issue(&argv, cli.repeat) {
        0
    } else {
        1
    }
}
