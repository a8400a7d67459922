//! Crash reports (`server::crash`): a real server is crashed by DEBUG SEGFAULT, kill -ABRT and a
//! panic (DEBUG PANIC / ASSERT), and its log file must hold Redis's bug report with a
//! symbolized stack trace; it must die by the signal, as Redis does. The software watchdog logs
//! the stack of a command that runs past `watchdog-period` and the server keeps running.

mod common;

use common::{tmpdir, DirServer};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A server in a fresh folder logging to `server.log` there. The servers these tests crash
/// leave no core file: the limit is inherited from this process.
fn start(tag: &str, extra: &[&str]) -> (DirServer, PathBuf) {
    let none = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: setrlimit reads the struct we own.
    unsafe { libc::setrlimit(libc::RLIMIT_CORE, &none) };
    let dir = tmpdir(tag);
    let log = dir.join("server.log");
    let log_s = log.to_string_lossy().to_string();
    let mut args = vec!["--logfile", log_s.as_str()];
    args.extend_from_slice(extra);
    let srv = DirServer::spawn(&dir, &args).expect("server starts");
    (srv, log)
}

/// Waits for the process to end; returns its exit status.
fn wait_exit(srv: &mut DirServer) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(Some(st)) = srv.child.try_wait() {
            return st;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("server did not die");
}

fn read(log: &Path) -> String {
    std::fs::read_to_string(log).unwrap_or_default()
}

/// Removes the test's folder (the log's parent).
fn cleanup(log: &Path) {
    if let Some(dir) = log.parent() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Waits until the log contains `what`.
fn wait_log(log: &Path, what: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = read(log);
        if text.contains(what) || Instant::now() > deadline {
            return text;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The parts every full report has, in order.
fn assert_report(text: &str) {
    let parts = [
        "=== REDIS BUG REPORT START: Cut & paste starting from here ===",
        "Crashed thread: ",
        "------ STACK TRACE ------",
        "Backtrace:",
        "------ INFO OUTPUT ------",
        "redis_version:7.0.15",
        "=== REDIS BUG REPORT END. Make sure to include from START to END. ===",
    ];
    let mut at = 0;
    for p in parts {
        match text[at..].find(p) {
            Some(i) => at += i + p.len(),
            None => panic!("crash report lacks {p:?} (in order):\n{text}"),
        }
    }
}

#[test]
fn debug_segfault_reports_and_dies_by_sigsegv() {
    let (mut srv, log) = start("segv", &[]);
    let mut con = srv.con();
    let _ = redis::cmd("DEBUG").arg("SEGFAULT").query::<String>(&mut con);
    let st = wait_exit(&mut srv);
    assert_eq!(st.signal(), Some(libc::SIGSEGV), "{st:?}");
    let text = read(&log);
    assert_report(&text);
    assert!(text.contains("crashed by signal: 11, si_code: 2"), "{text}");
    assert!(text.contains("# Accessing address: 0x"), "{text}");
    assert!(text.contains("Crashed running the instruction at: 0x"), "{text}");
    // Symbolized: the faulting function, with its source place, is the first frame shown.
    let trace = &text[text.find("Backtrace:").expect("backtrace")..];
    let first = trace.lines().nth(1).unwrap_or("");
    assert!(first.contains("(ochre::commands::debug::segfault)"), "{first}");
    assert!(first.contains("src/commands/debug.rs:"), "{first}");
    assert!(trace.contains("(ochre::server::dispatch::"), "{trace}");
    cleanup(&log);
}

#[test]
fn sigabrt_from_outside_reports_and_dies_by_sigabrt() {
    let (mut srv, log) = start("abrt", &[]);
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(srv.child.id() as i32, libc::SIGABRT) };
    let st = wait_exit(&mut srv);
    assert_eq!(st.signal(), Some(libc::SIGABRT), "{st:?}");
    let text = read(&log);
    assert_report(&text);
    assert!(text.contains("crashed by signal: 6, si_code: 0"), "{text}");
    assert!(
        text.contains(&format!("Killed by PID: {}, UID: ", std::process::id())),
        "{text}"
    );
    cleanup(&log);
}

#[test]
fn panic_is_a_guru_meditation_then_abort() {
    let (mut srv, log) = start("panic", &[]);
    let mut con = srv.con();
    let _ = redis::cmd("DEBUG").arg("PANIC").query::<String>(&mut con);
    let st = wait_exit(&mut srv);
    assert_eq!(st.signal(), Some(libc::SIGABRT), "{st:?}");
    let text = read(&log);
    assert_report(&text);
    assert!(
        text.contains("!!! Software Failure. Press left mouse button to continue"),
        "{text}"
    );
    assert!(
        text.contains("# Guru Meditation: DEBUG PANIC called at Unix time "),
        "{text}"
    );
    assert!(text.contains(" #src/commands/debug.rs:"), "{text}");
    // The panic runtime's own frames are left out: the trace starts at the panicking code.
    let trace = &text[text.find("Backtrace:").expect("backtrace")..];
    let first = trace.lines().nth(1).unwrap_or("");
    assert!(first.contains("(ochre::commands::debug::debug)"), "{first}");
    // One report only: abort() does not start a second one from the SIGABRT handler.
    assert_eq!(text.matches("REDIS BUG REPORT START").count(), 1, "{text}");
    cleanup(&log);
}

#[test]
fn assert_with_exit_on_panic_exits_1() {
    let (mut srv, log) = start("assert", &["--use-exit-on-panic", "yes"]);
    let mut con = srv.con();
    let _ = redis::cmd("DEBUG").arg("ASSERT").query::<String>(&mut con);
    let st = wait_exit(&mut srv);
    assert_eq!(st.code(), Some(1), "{st:?}");
    let text = read(&log);
    assert_report(&text);
    assert!(text.contains("# === ASSERTION FAILED ==="), "{text}");
    assert!(
        text.contains("'assertion failed: 1 == 2 (DEBUG ASSERT)' is not true"),
        "{text}"
    );
    cleanup(&log);
}

#[test]
fn crash_log_disabled_dies_without_report() {
    let (mut srv, log) = start("nolog", &[]);
    let mut con = srv.con();
    let ok: String = redis::cmd("CONFIG")
        .arg("SET")
        .arg("crash-log-enabled")
        .arg("no")
        .query(&mut con)
        .expect("config set");
    assert_eq!(ok, "OK");
    let _ = redis::cmd("DEBUG").arg("SEGFAULT").query::<String>(&mut con);
    let st = wait_exit(&mut srv);
    assert_eq!(st.signal(), Some(libc::SIGSEGV), "{st:?}");
    let text = read(&log);
    assert!(!text.contains("REDIS BUG REPORT"), "{text}");
    cleanup(&log);
}

#[test]
fn watchdog_logs_the_stack_of_a_slow_command() {
    let (srv, log) = start("watchdog", &[]);
    let mut con = srv.con();
    let err = redis::cmd("CONFIG")
        .arg("SET")
        .arg("watchdog-period")
        .arg("-1")
        .query::<String>(&mut con)
        .expect_err("negative period");
    assert!(
        err.to_string().contains("argument must be between 0 and 2147483647"),
        "{err}"
    );
    let _: String = redis::cmd("CONFIG")
        .arg("SET")
        .arg("watchdog-period")
        .arg("200")
        .query(&mut con)
        .expect("config set");
    // A fast command never trips it.
    let _: String = redis::cmd("PING").query(&mut con).expect("ping");
    std::thread::sleep(Duration::from_millis(400));
    assert!(!read(&log).contains("WATCHDOG"));
    let _: String = redis::cmd("DEBUG")
        .arg("SLEEP")
        .arg("1")
        .query(&mut con)
        .expect("sleep");
    let text = wait_log(&log, "--------\n");
    let at = text
        .find("--- WATCHDOG TIMER EXPIRED ---")
        .unwrap_or_else(|| panic!("{text}"));
    let trace = &text[at..];
    assert!(trace.contains("------ STACK TRACE ------"), "{trace}");
    assert!(trace.contains("EIP:\n"), "{trace}");
    assert!(trace.contains("(ochre::commands::debug::debug)"), "{trace}");
    // Reported once per command, and the server carries on.
    assert_eq!(text.matches("WATCHDOG TIMER EXPIRED").count(), 1, "{text}");
    assert!(!text.contains("REDIS BUG REPORT"));
    let pong: String = redis::cmd("PING").query(&mut con).expect("ping after");
    assert_eq!(pong, "PONG");
    // Turned off: no more reports.
    let _: String = redis::cmd("CONFIG")
        .arg("SET")
        .arg("watchdog-period")
        .arg("0")
        .query(&mut con)
        .expect("config set");
    let _: String = redis::cmd("DEBUG")
        .arg("SLEEP")
        .arg("0.5")
        .query(&mut con)
        .expect("sleep");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(read(&log).matches("WATCHDOG TIMER EXPIRED").count(), 1);
    cleanup(&log);
}
