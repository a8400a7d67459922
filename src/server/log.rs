//! Logging in Redis's format: `<pid>:<role> <dd Mon yyyy hh:mm:ss.mmm> <level> <message>`, where
//! level is `.` debug, `-` verbose, `*` notice, `#` warning. Tools and the Redis test suite wait
//! for some of these lines, so their texts follow Redis.

use super::config::Config;
use parking_lot::Mutex;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicI32, AtomicU8, Ordering::Relaxed};

pub const DEBUG: u8 = 0;
pub const VERBOSE: u8 = 1;
pub const NOTICE: u8 = 2;
pub const WARNING: u8 = 3;
/// `loglevel nothing`.
pub const NOTHING: u8 = 4;

static LEVEL: AtomicU8 = AtomicU8::new(NOTICE);
static FILE: Mutex<Option<std::fs::File>> = Mutex::new(None);
static SHOW_LOGO: AtomicU8 = AtomicU8::new(0);
/// The log's descriptor (1 = stdout), for writers that must not take `FILE`'s lock: the crash
/// handler (`server::crash`) writes with `write(2)` on it.
static RAW_FD: AtomicI32 = AtomicI32::new(1);

pub fn level_from_name(name: &str) -> Option<u8> {
    Some(match name {
        "debug" => DEBUG,
        "verbose" => VERBOSE,
        "notice" => NOTICE,
        "warning" => WARNING,
        "nothing" => NOTHING,
        _ => return None,
    })
}

/// Applies `loglevel`, `logfile` and `always-show-logo`.
pub fn init(cfg: &Config) {
    set_level(&cfg.get("loglevel"));
    set_file(&cfg.get("logfile"));
    SHOW_LOGO.store((cfg.get("always-show-logo") == "yes") as u8, Relaxed);
}

pub fn set_level(name: &str) {
    if let Some(l) = level_from_name(name) {
        LEVEL.store(l, Relaxed);
    }
}

/// Opens (append) the log file, or logs to stdout for an empty name.
pub fn set_file(path: &str) {
    let f = if path.is_empty() {
        None
    } else {
        std::fs::OpenOptions::new().create(true).append(true).open(path).ok()
    };
    let mut file = FILE.lock();
    RAW_FD.store(f.as_ref().map_or(1, |f| f.as_raw_fd()), Relaxed);
    *file = f;
}

/// The log's descriptor, usable without a lock (see `RAW_FD`).
pub fn raw_fd() -> i32 {
    RAW_FD.load(Relaxed)
}

/// Whether a line of `level` passes `loglevel`.
pub fn enabled(level: u8) -> bool {
    let l = LEVEL.load(Relaxed);
    level >= l && l != NOTHING
}

pub fn timestamp() -> String {
    let mut buf = [0u8; 64];
    let n = timestamp_into(&mut buf);
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// Writes `dd Mon yyyy hh:mm:ss.mmm` into `buf` without allocating (the crash handler uses it)
/// and returns its length.
pub fn timestamp_into(buf: &mut [u8; 64]) -> usize {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as libc::time_t;
    let ms = now.subsec_millis();
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: localtime_r fills tm; strftime writes at most buf.len() bytes with a NUL-terminated
    // format string.
    let n = unsafe {
        libc::localtime_r(&secs, &mut tm);
        libc::strftime(
            buf.as_mut_ptr() as *mut libc::c_char,
            buf.len() - 4,
            c"%d %b %Y %H:%M:%S".as_ptr(),
            &tm,
        )
    };
    let frac = [
        b'.',
        b'0' + (ms / 100) as u8,
        b'0' + (ms / 10 % 10) as u8,
        b'0' + (ms % 10) as u8,
    ];
    buf[n..n + 4].copy_from_slice(&frac);
    n + 4
}

/// Writes one log line if `level` passes `loglevel`.
pub fn log(level: u8, msg: &str) {
    if !enabled(level) {
        return;
    }
    let mark = ['.', '-', '*', '#'][level.min(3) as usize];
    let line = format!("{}:M {} {} {}\n", std::process::id(), timestamp(), mark, msg);
    raw(&line);
}

/// Writes text to the log destination as is.
pub fn raw(text: &str) {
    let mut f = FILE.lock();
    match f.as_mut() {
        Some(file) => {
            let _ = file.write_all(text.as_bytes());
        }
        None => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        }
    }
}

pub fn debug(msg: &str) {
    log(DEBUG, msg)
}
pub fn verbose(msg: &str) {
    log(VERBOSE, msg)
}
pub fn notice(msg: &str) {
    log(NOTICE, msg)
}
pub fn warning(msg: &str) {
    log(WARNING, msg)
}

/// The start-up banner. Like Redis's ASCII logo it carries the ` PID: <pid>` text that the
/// Redis test suite and other tools wait for; without `always-show-logo` and when logging to a
/// file it is one line instead.
pub fn banner(port: u16, pid: u32) {
    let to_stdout = FILE.lock().is_none();
    // SAFETY: isatty only inspects the descriptor.
    let tty = unsafe { libc::isatty(1) } == 1;
    if SHOW_LOGO.load(Relaxed) == 1 || (to_stdout && tty) {
        raw(&format!(
            "\n    ___  ___ _  _ ___ ___     Ochre {} (Redis {} compatible) 64 bit\n   / _ \\/ __| || | _ \\ __|\n  | (_) | (__| __ |   / _|    Running in standalone mode\n   \\___/ \\___|_||_|_|_\\___|   Port: {}\n                               PID: {}\n\n",
            crate::VERSION,
            crate::REDIS_VERSION,
            port,
            pid
        ));
    } else {
        notice(&format!("Running mode=standalone, port={port}."));
    }
}
