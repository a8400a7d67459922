//! `ochre-cli` against a real `ochre-server`: one-shot replies in terminal, raw, CSV and JSON
//! form (compared byte for byte with `/usr/bin/redis-cli` when it is installed), exit codes,
//! `-x`/`-X`, `-n`, `-u`, `--pipe`, `--scan`, and the interactive shell driven through a
//! pseudo-terminal (prompt with the database, hints, `help SET`, history kept across runs).

mod common;

use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const CLI: &str = env!("CARGO_BIN_EXE_ochre-cli");
const REDIS_CLI: &str = "/usr/bin/redis-cli";

/// Runs a client binary against the server with `stdin` as input; `tty` fakes a terminal
/// (FAKETTY, which redis-cli honours too) so replies get the human form.
fn run_bin(bin: &str, port: u16, args: &[&str], stdin: &[u8], tty: bool) -> Output {
    let mut cmd = Command::new(bin);
    cmd.args(["-p", &port.to_string()]).args(args);
    cmd.env_remove("FAKETTY")
        .env_remove("REDISCLI_AUTH")
        .env_remove("OCHRE_HOST")
        .env_remove("OCHRE_PORT");
    if tty {
        cmd.env("FAKETTY", "1");
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn cli");
    let mut input = child.stdin.take().expect("stdin");
    // The client may exit without reading its input (a -X tag that does not match).
    let _ = input.write_all(stdin);
    drop(input);
    child.wait_with_output().expect("cli output")
}

fn cli(port: u16, args: &[&str]) -> Output {
    run_bin(CLI, port, args, b"", false)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn redis_cli_installed() -> bool {
    std::path::Path::new(REDIS_CLI).exists()
}

fn seed(port: u16) {
    for args in [
        &["rpush", "list", "a", "b", "c"][..],
        &["hset", "h", "f1", "v1", "f2", "tab\tnl\n"],
        &["zadd", "z", "1.5", "m1", "2", "m2"],
        &["sadd", "s", "x"],
        &["set", "bin", "\u{1}\"q\""],
    ] {
        assert!(cli(port, args).status.success());
    }
}

#[test]
fn one_shot_terminal_and_raw_forms() {
    let srv = common::Server::start();
    seed(srv.port);
    let tty = |args: &[&str]| stdout(&run_bin(CLI, srv.port, args, b"", true));
    assert_eq!(tty(&["set", "foo", "bar"]), "OK\n");
    assert_eq!(tty(&["get", "foo"]), "\"bar\"\n");
    assert_eq!(tty(&["get", "nosuch"]), "(nil)\n");
    assert_eq!(tty(&["incr", "n"]), "(integer) 1\n");
    assert_eq!(tty(&["lrange", "list", "0", "-1"]), "1) \"a\"\n2) \"b\"\n3) \"c\"\n");
    assert_eq!(tty(&["lrange", "nosuch", "0", "-1"]), "(empty array)\n");
    assert_eq!(tty(&["hget", "h", "f2"]), "\"tab\\tnl\\n\"\n");
    assert_eq!(tty(&["get", "bin"]), "\"\\x01\\\"q\\\"\"\n");
    assert_eq!(
        tty(&["nosuchcmd"]),
        "(error) ERR unknown command 'nosuchcmd', with args beginning with: \n"
    );
    // RESP3: maps, doubles, nested aggregates.
    assert_eq!(
        tty(&["-3", "hgetall", "h"]),
        "1# \"f1\" => \"v1\"\n2# \"f2\" => \"tab\\tnl\\n\"\n"
    );
    assert_eq!(tty(&["-3", "zscore", "z", "m1"]), "(double) 1.5\n");
    assert_eq!(
        tty(&["-3", "zrange", "z", "0", "-1", "withscores"]),
        "1) 1) \"m1\"\n   2) (double) 1.5\n2) 1) \"m2\"\n   2) (double) 2\n"
    );
    // Raw (a pipe): bare values, errors as text.
    assert_eq!(stdout(&cli(srv.port, &["get", "foo"])), "bar\n");
    assert_eq!(stdout(&cli(srv.port, &["lrange", "list", "0", "-1"])), "a\nb\nc\n");
    assert_eq!(stdout(&cli(srv.port, &["incr", "n"])), "2\n");
    assert_eq!(stdout(&cli(srv.port, &["--no-raw", "incr", "n"])), "(integer) 3\n");
    assert_eq!(
        stdout(&run_bin(CLI, srv.port, &["--raw", "incr", "n"], b"", true)),
        "4\n"
    );
    assert_eq!(
        stdout(&cli(srv.port, &["-d", ",", "lrange", "list", "0", "-1"])),
        "a,b,c\n"
    );
    assert_eq!(
        stdout(&cli(srv.port, &["--csv", "lrange", "list", "0", "-1"])),
        "\"a\",\"b\",\"c\"\n"
    );
    assert_eq!(
        stdout(&cli(srv.port, &["--json", "hgetall", "h"])),
        "{\"f1\":\"v1\",\"f2\":\"tab\\tnl\\n\"}\n"
    );
    // INFO is printed raw even on a terminal.
    assert!(tty(&["info", "server"]).starts_with("# Server\r\n"));
}

#[test]
fn output_matches_redis_cli_byte_for_byte() {
    if !redis_cli_installed() {
        eprintln!("skipped: {REDIS_CLI} not installed");
        return;
    }
    let srv = common::Server::start();
    seed(srv.port);
    let cases: &[&[&str]] = &[
        &["lrange", "list", "0", "-1"],
        &["hgetall", "h"],
        &["-3", "hgetall", "h"],
        &["-3", "zrange", "z", "0", "-1", "withscores"],
        &["zrange", "z", "0", "-1", "withscores"],
        &["smembers", "s"],
        &["-3", "smembers", "s"],
        &["get", "bin"],
        &["get", "nosuch"],
        &["nosuchcmd", "x"],
        &["command", "info", "get"],
        &["object", "help"],
        &["--csv", "hgetall", "h"],
        &["--json", "-3", "hgetall", "h"],
        &["--quoted-json", "get", "bin"],
        &["-d", "|", "lrange", "list", "0", "-1"],
        &["--scan", "--pattern", "l*"],
        &["--bigkeys"],
        &["help", "set"],
        &["-r", "2", "ping"],
    ];
    for args in cases {
        for tty in [false, true] {
            let ours = run_bin(CLI, srv.port, args, b"", tty);
            let theirs = run_bin(REDIS_CLI, srv.port, args, b"", tty);
            assert_eq!(
                String::from_utf8_lossy(&ours.stdout),
                String::from_utf8_lossy(&theirs.stdout),
                "{args:?} tty={tty}"
            );
            assert_eq!(ours.status.code(), theirs.status.code(), "{args:?}");
        }
    }
}

#[test]
fn exit_codes_and_option_errors() {
    let srv = common::Server::start();
    // An error reply exits 0 unless -e, which prints it to stderr and exits 1.
    assert_eq!(cli(srv.port, &["nosuchcmd"]).status.code(), Some(0));
    let e = cli(srv.port, &["-e", "nosuchcmd"]);
    assert_eq!(e.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&e.stderr).starts_with("ERR unknown command 'nosuchcmd'"));
    // No server there.
    let dead = common::Server::start();
    let port = dead.port;
    drop(dead);
    let o = cli(port, &["ping"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        format!("Could not connect to Redis at 127.0.0.1:{port}: Connection refused\n")
    );
    // Option errors, with redis-cli's texts.
    let o = cli(srv.port, &["-X"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("Unrecognized option or bad number of args for: '-X'"));
    let o = cli(srv.port, &["-x", "-X", "tag", "set", "k"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "Options -x and -X are mutually exclusive.\n"
    );
    let o = cli(srv.port, &["--nosuchoption"]);
    assert_eq!(o.status.code(), Some(1));
    let o = run_bin(CLI, srv.port, &["-X", "tag", "set", "k", "other"], b"v", false);
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "Using -X option but stdin tag not match.\n"
    );
    assert_eq!(o.status.code(), Some(1));
    // --quoted-input: one argument must unquote to exactly one string.
    let o = cli(srv.port, &["--quoted-input", "set", "\"unterminated"]);
    assert_eq!(
        (o.status.code(), stdout(&o).as_str()),
        (Some(1), "Invalid quoted string\n")
    );
    assert!(cli(srv.port, &["--quoted-input", "set", "\"\\x41\\x42\"", "v"])
        .status
        .success());
    assert_eq!(stdout(&cli(srv.port, &["get", "AB"])), "v\n");
}

#[test]
fn stdin_arguments_databases_and_uri() {
    let srv = common::Server::start();
    let o = run_bin(CLI, srv.port, &["-x", "set", "k"], b"from\nstdin\n", false);
    assert_eq!(stdout(&o), "OK\n");
    assert_eq!(stdout(&cli(srv.port, &["get", "k"])), "from\nstdin\n\n");
    let o = run_bin(CLI, srv.port, &["-X", "T", "set", "k2", "T"], b"tagged", false);
    assert_eq!(stdout(&o), "OK\n");
    assert_eq!(stdout(&cli(srv.port, &["get", "k2"])), "tagged\n");
    // -n and -u pick the database.
    assert_eq!(stdout(&cli(srv.port, &["-n", "3", "set", "in3", "x"])), "OK\n");
    assert_eq!(stdout(&cli(srv.port, &["exists", "in3"])), "0\n");
    let uri = format!("redis://127.0.0.1:{}/3", srv.port);
    let o = Command::new(CLI)
        .args(["-u", &uri, "exists", "in3"])
        .output()
        .expect("run");
    assert_eq!(stdout(&o), "1\n");
    // OCHRE_PORT when -p is absent.
    let o = Command::new(CLI)
        .env("OCHRE_PORT", srv.port.to_string())
        .args(["-n", "3", "get", "in3"])
        .output()
        .expect("run");
    assert_eq!(stdout(&o), "x\n");
    // A password the server does not need: AUTH fails and the command does not run.
    let o = Command::new(CLI)
        .args(["-p", &srv.port.to_string(), "-a", "pw", "ping"])
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("Warning: Using a password"), "{err}");
    assert!(
        err.contains("AUTH failed: ERR AUTH <password> called without any password configured"),
        "{err}"
    );
}

#[test]
fn pipe_mode_prints_redis_cli_summary() {
    let srv = common::Server::start();
    let mut input = Vec::new();
    for i in 0..1000 {
        input.extend_from_slice(format!("*3\r\n$3\r\nSET\r\n$5\r\nk{i:04}\r\n$1\r\nv\r\n").as_bytes());
    }
    input.extend_from_slice(b"*1\r\n$5\r\nNOSUC\r\n");
    let o = run_bin(CLI, srv.port, &["--pipe"], &input, false);
    assert_eq!(
        stdout(&o),
        "All data transferred. Waiting for the last reply...\nLast reply received from server.\nerrors: 1, replies: 1001\n"
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).starts_with("ERR unknown command 'NOSUC'"));
    assert_eq!(stdout(&cli(srv.port, &["dbsize"])), "1000\n");
    let o = run_bin(CLI, srv.port, &["--pipe"], b"*1\r\n$4\r\nPING\r\n", false);
    assert!(stdout(&o).ends_with("errors: 0, replies: 1\n"));
    assert_eq!(o.status.code(), Some(0));
    // --scan sees every key once.
    let keys = stdout(&cli(srv.port, &["--scan", "--pattern", "k00*"]));
    assert_eq!(keys.lines().count(), 100);
}

#[test]
fn shell_on_a_pipe_reads_lines_without_prompt() {
    let srv = common::Server::start();
    let o = run_bin(
        CLI,
        srv.port,
        &[],
        b"set a 1\nselect 2\nget a\n\"bad\nincr a\nquit\nping\n",
        true,
    );
    assert_eq!(stdout(&o), "OK\nOK\n(nil)\nInvalid argument(s)\n(integer) 1\n");
}

/// A child process on a pseudo-terminal.
struct Pty {
    master: std::fs::File,
    child: std::process::Child,
    seen: Vec<u8>,
}

impl Pty {
    fn spawn(args: &[&str], histfile: &std::path::Path) -> Pty {
        let (mut m, mut s) = (0, 0);
        let ws = libc::winsize {
            ws_row: 40,
            ws_col: 200,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: openpty fills in two new descriptors, which are wrapped at once.
        let rc = unsafe { libc::openpty(&mut m, &mut s, std::ptr::null_mut(), std::ptr::null(), &ws) };
        assert_eq!(rc, 0, "openpty");
        // SAFETY: both descriptors were just opened and are owned here.
        let (master, slave) = unsafe { (std::fs::File::from_raw_fd(m), OwnedFd::from_raw_fd(s)) };
        let mut cmd = Command::new(CLI);
        cmd.args(args)
            .env("TERM", "xterm")
            .env("OCHRECLI_HISTFILE", histfile)
            .env_remove("FAKETTY")
            .stdin(Stdio::from(slave.try_clone().expect("dup")))
            .stdout(Stdio::from(slave.try_clone().expect("dup")))
            .stderr(Stdio::from(slave));
        // SAFETY: setsid and ioctl are async-signal-safe; they make the pty the child's terminal.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                libc::ioctl(0, libc::TIOCSCTTY, 0);
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn ochre-cli on a pty");
        let fd = std::os::fd::AsRawFd::as_raw_fd(&master);
        // SAFETY: sets O_NONBLOCK on our own descriptor.
        unsafe { libc::fcntl(fd, libc::F_SETFL, libc::fcntl(fd, libc::F_GETFL) | libc::O_NONBLOCK) };
        Pty {
            master,
            child,
            seen: Vec::new(),
        }
    }

    fn send(&mut self, s: &str) {
        self.master.write_all(s.as_bytes()).expect("write to pty");
    }

    /// Reads until `needle` has appeared (after what earlier calls consumed); returns the text.
    fn expect(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut buf = [0u8; 4096];
        loop {
            let text = String::from_utf8_lossy(&self.seen).into_owned();
            if let Some(i) = text.find(needle) {
                self.seen.drain(..(i + needle.len()).min(self.seen.len()));
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {needle:?}; got {text:?}"
            );
            self.pump(&mut buf);
        }
    }

    /// Reads what the shell wrote, if anything (else sleeps a little), answering rustyline's
    /// cursor-position queries with "row 1, column 1".
    fn pump(&mut self, buf: &mut [u8]) {
        match self.master.read(buf) {
            Ok(n) if n > 0 => {
                if buf[..n].windows(4).any(|w| w == b"\x1b[6n") {
                    self.send("\x1b[1;1R");
                }
                self.seen.extend_from_slice(&buf[..n]);
            }
            _ => std::thread::sleep(Duration::from_millis(10)),
        }
    }

    /// Waits for the shell to exit, still reading its output and answering rustyline's cursor
    /// queries: a prompt drawn after the last `expect` must not leave it waiting for an answer.
    fn wait(&mut self) -> Option<i32> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut buf = [0u8; 4096];
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st.code();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                return None;
            }
            self.pump(&mut buf);
        }
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn interactive_shell_prompt_hints_help_and_history() {
    let srv = common::Server::start();
    let hist = srv.dir.join("history");
    let port = srv.port.to_string();
    let prompt = format!("127.0.0.1:{port}> ");
    let mut sh = Pty::spawn(&["-p", &port], &hist);
    sh.expect(&prompt);
    sh.send("select 2\r");
    sh.expect("OK");
    let prompt2 = format!("127.0.0.1:{port}[2]> ");
    sh.expect(&prompt2);
    sh.send("set histkey v\r");
    sh.expect("OK");
    sh.expect(&prompt2);
    // Typing a command name shows its arguments in grey.
    sh.send("hset ");
    sh.expect("\x1b[90mkey field value [field value ...]");
    sh.send("\x15"); // Ctrl-U clears the line
    sh.send("help SET\r");
    let out = sh.expect("group:");
    assert!(out.contains("Set the string value of a key"), "{out}");
    sh.expect(&prompt2);
    // Tab completes a command name.
    sh.send("hstrl\t");
    sh.expect("HSTRLEN");
    sh.send("\x15");
    sh.send("auth secret\r"); // sensitive: not kept in the history
                              // The reply first: the prompt alone could be the redraw that Ctrl-U caused.
    sh.expect("without any password configured");
    sh.expect(&prompt2);
    sh.send("quit\r");
    assert_eq!(sh.wait(), Some(0));
    let saved = std::fs::read_to_string(&hist).expect("history file written");
    assert!(saved.contains("set histkey v"), "{saved}");
    assert!(!saved.contains("secret"), "{saved}");

    // A new session finds the history: Up brings back the last line.
    let mut sh = Pty::spawn(&["-p", &port, "-n", "2"], &hist);
    sh.expect(&prompt2);
    sh.send("\x1b[A");
    sh.expect("quit");
    sh.send("\x1b[A");
    sh.expect("help SET");
    sh.send("\x15get histkey\r");
    sh.expect("\"v\"");
    // Wait for the next prompt: a Ctrl-D typed before the shell reads a line again is not an
    // end of input to it.
    sh.expect(&prompt2);
    sh.send("\x04"); // Ctrl-D on an empty line ends the shell
    assert_eq!(sh.wait(), Some(0));
}

#[test]
fn interactive_shell_survives_a_server_restart() {
    let mut srv = common::Server::start();
    let hist = srv.dir.join("history");
    let port = srv.port;
    let mut sh = Pty::spawn(&["-p", &port.to_string()], &hist);
    let prompt = format!("127.0.0.1:{port}> ");
    sh.expect(&prompt);
    drop(std::mem::replace(&mut srv, common::Server::start()));
    // The replacement is on another port: `connect` moves the shell there.
    let new_prompt = format!("127.0.0.1:{}> ", srv.port);
    sh.send("ping\r");
    sh.expect("not connected> ");
    sh.send(&format!("connect 127.0.0.1 {}\r", srv.port));
    sh.expect(&new_prompt);
    sh.send("ping\r");
    sh.expect("PONG");
}

/// SHUTDOWN closes the connection without a reply: like redis-cli, that is success (exit 0,
/// nothing printed), not "Server closed the connection".
#[test]
fn shutdown_is_silent_success() {
    let srv = common::Server::start();
    let o = cli(srv.port, &["shutdown", "nosave"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(stdout(&o), "");
    assert!(o.stderr.is_empty(), "stderr: {}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn rdb_and_functions_rdb_fetch_the_dump_over_sync() {
    let srv = common::Server::start();
    let port = srv.port;
    seed(port);
    let dir = common::tmpdir("cli-rdb");
    let file = dir.join("dump.rdb");
    let path = file.to_string_lossy().into_owned();
    let o = cli(port, &["--rdb", &path]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("Transfer finished with success."));
    let bytes = std::fs::read(&file).expect("dump written");
    assert!(bytes.starts_with(b"REDIS0010") && bytes.windows(4).any(|w| w == b"list"));
    let o = cli(port, &["--rdb", &path, "--functions-rdb", &path]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("mutually exclusive"));
    let _ = std::fs::remove_dir_all(&dir);
}
