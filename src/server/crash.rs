//! Crash reports and the software watchdog, as Redis's `debug.c`.
//!
//! **Crash report.** A fatal signal (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT) or a Rust panic,
//! which is a bug and never client input, writes Redis's bug report to the log: the
//! `=== REDIS BUG REPORT START` banner, what crashed, `------ STACK TRACE ------` with the
//! crashing thread's symbolized backtrace, `------ INFO OUTPUT ------`, and the END banner. Then
//! the process dies the way Redis's does: by the same signal with its default action (exit
//! status, core dump), or for a panic by `abort()` (`_exit(1)` under `use-exit-on-panic`).
//! `crash-log-enabled no` removes the signal handlers, as Redis does.
//!
//! **Who does what.** The crashing thread, inside its signal handler, formats lines into stack
//! buffers, `write(2)`s them to the log's descriptor (`log::raw_fd`, no lock) and walks its own
//! stack into a static array of addresses. Turning addresses into names (reading DWARF,
//! allocating) and INFO (allocations, locks) are done by the `ochre-crash` thread, which the
//! handler wakes through a pipe and waits for with `poll(2)` and a time limit. So the crashing
//! thread never allocates on a heap it may have been corrupting, and a lock it holds can stall
//! the report but never the death of the process.
//!
//! Not async-signal-safe, and accepted as Redis accepts the same in its handler: the stack walk
//! (libgcc's unwinder can take the dynamic loader's lock, as glibc's `backtrace()` does) and
//! `localtime_r` in the timestamps (time zone lock). Both can at worst hang a thread that is
//! already dying; nothing else in the handler allocates or locks. The handler replaces Rust's
//! own SIGSEGV handler, so a stack overflow (whose fault cannot run a handler on the full stack)
//! now dies by SIGSEGV without the "stack overflow" line.
//!
//! **Watchdog** (`watchdog-period`, milliseconds): `dispatch` marks on its thread's slot when a
//! command starts (one relaxed load while the watchdog is off). The `ochre-crash` thread looks at
//! the slots a few times per period; a command that has run longer than the period gets SIGALRM
//! sent to its thread, whose handler only records its stack addresses, and the `ochre-crash`
//! thread symbolizes and logs them under `--- WATCHDOG TIMER EXPIRED ---`, once per command.

use super::log;
use super::Server;
use parking_lot::Mutex;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicUsize, Ordering::*};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

const FATAL: [libc::c_int; 5] = [libc::SIGSEGV, libc::SIGBUS, libc::SIGFPE, libc::SIGILL, libc::SIGABRT];
const MAX_FRAMES: usize = 100;
/// How long the crashing thread waits for the `ochre-crash` thread to symbolize its stack, and
/// then for INFO (which needs locks the crashing thread may hold).
const TRACE_WAIT_MS: i32 = 20_000;
const INFO_WAIT_MS: i32 = 3_000;

static INSTALLED: AtomicBool = AtomicBool::new(false);
static CRASH_LOG: AtomicBool = AtomicBool::new(true);
static EXIT_ON_PANIC: AtomicBool = AtomicBool::new(false);
static WATCHDOG_MS: AtomicI64 = AtomicI64::new(0);
static HZ: AtomicI64 = AtomicI64::new(10);
static SERVER: OnceLock<Weak<Server>> = OnceLock::new();

/// The thread id of the thread writing a crash report (0: none). The first crash wins.
static REPORTER: AtomicI32 = AtomicI32::new(0);
/// The `ochre-crash` thread's id, and its pipes: requests in, progress out.
static CRASH_TID: AtomicI32 = AtomicI32::new(0);
static REQ_W: AtomicI32 = AtomicI32::new(-1);
static DONE_R: AtomicI32 = AtomicI32::new(-1);

/// A stack captured by a handler: return addresses, their count (published last), and the
/// instruction the thread was at when the signal came (0 when unknown).
struct Stack {
    ips: [AtomicUsize; MAX_FRAMES],
    len: AtomicUsize,
    eip: AtomicUsize,
}

impl Stack {
    const fn new() -> Stack {
        Stack {
            ips: [const { AtomicUsize::new(0) }; MAX_FRAMES],
            len: AtomicUsize::new(0),
            eip: AtomicUsize::new(0),
        }
    }

    /// Walks the calling thread's stack into the array: no allocation, no lock of ours.
    #[inline(never)]
    fn capture(&self, eip: usize) {
        let mut n = 0;
        // SAFETY: the unsynchronized walk only reads this thread's stack and unwind tables; it
        // is used here because the synchronized one takes a lock the interrupted code may hold.
        unsafe {
            backtrace::trace_unsynchronized(|frame| {
                self.ips[n].store(frame.ip() as usize, Relaxed);
                n += 1;
                n < MAX_FRAMES
            })
        };
        self.eip.store(eip, Relaxed);
        self.len.store(n, Release);
    }

    fn take(&self) -> (Vec<usize>, usize) {
        let n = self.len.swap(0, Acquire);
        (
            self.ips[..n].iter().map(|a| a.load(Relaxed)).collect(),
            self.eip.load(Relaxed),
        )
    }
}

static CRASH_STACK: Stack = Stack::new();
static WATCHDOG_STACK: Stack = Stack::new();

// ---------------------------------------------------------------------------------------------
// Configuration and installation

/// Applies `watchdog-period`, `crash-log-enabled`, `use-exit-on-panic` and `hz` (called on
/// every configuration change; handlers change only once [`install`] ran).
pub fn configure(watchdog_ms: i64, crash_log: bool, exit_on_panic: bool, hz: i64) {
    HZ.store(hz.max(1), Relaxed);
    EXIT_ON_PANIC.store(exit_on_panic, Relaxed);
    let was_logging = CRASH_LOG.swap(crash_log, Relaxed);
    let was_watching = WATCHDOG_MS.swap(watchdog_ms.max(0), Relaxed);
    if !INSTALLED.load(Acquire) {
        return;
    }
    if was_logging != crash_log {
        set_fatal_handlers(crash_log);
    }
    if watchdog_ms > 0 && was_watching == 0 {
        set_handler(
            libc::SIGALRM,
            on_watchdog_signal as *const () as usize,
            libc::SA_SIGINFO | libc::SA_RESTART,
        );
        wake(b'w');
    }
}

/// Installs the fatal-signal handlers, the panic hook and the `ochre-crash` thread.
pub fn install(srv: &Arc<Server>) {
    let _ = SERVER.set(Arc::downgrade(srv));
    let mut req = [-1; 2];
    let mut done = [-1; 2];
    // SAFETY: pipe2 fills the two arrays we own.
    let ok = unsafe {
        libc::pipe2(req.as_mut_ptr(), libc::O_CLOEXEC) == 0 && libc::pipe2(done.as_mut_ptr(), libc::O_CLOEXEC) == 0
    };
    if ok {
        REQ_W.store(req[1], Relaxed);
        DONE_R.store(done[0], Relaxed);
        let (req_r, done_w) = (req[0], done[1]);
        if let Err(e) = std::thread::Builder::new()
            .name("ochre-crash".into())
            .spawn(move || crash_thread(req_r, done_w))
        {
            log::warning(&format!("Crash reports will have no symbols: {e}"));
        }
    }
    std::panic::set_hook(Box::new(on_panic));
    INSTALLED.store(true, Release);
    if CRASH_LOG.load(Relaxed) {
        set_fatal_handlers(true);
    }
    if WATCHDOG_MS.load(Relaxed) > 0 {
        set_handler(
            libc::SIGALRM,
            on_watchdog_signal as *const () as usize,
            libc::SA_SIGINFO | libc::SA_RESTART,
        );
    }
}

fn set_fatal_handlers(on: bool) {
    for sig in FATAL {
        if on {
            // As Redis: a second fault inside the handler gets the default action at once.
            set_handler(
                sig,
                on_fatal_signal as *const () as usize,
                libc::SA_SIGINFO | libc::SA_NODEFER | libc::SA_RESETHAND,
            );
        } else {
            set_handler(sig, libc::SIG_DFL, 0);
        }
    }
}

fn set_handler(sig: libc::c_int, handler: usize, flags: libc::c_int) {
    // SAFETY: a zeroed sigaction with an empty mask and a handler of the right signature.
    unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        libc::sigemptyset(&mut act.sa_mask);
        act.sa_sigaction = handler;
        act.sa_flags = flags;
        libc::sigaction(sig, &act, std::ptr::null_mut());
    }
}

fn gettid() -> i32 {
    // SAFETY: gettid has no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) as i32 }
}

// ---------------------------------------------------------------------------------------------
// Writing to the log without allocating

/// One log line built in a stack buffer (longer text is cut).
struct Line {
    buf: [u8; 512],
    len: usize,
}

impl Line {
    /// A line with Redis's prefix for a warning: `<pid>:M <time> # `.
    fn warning() -> Line {
        let mut l = Line { buf: [0; 512], len: 0 };
        let mut ts = [0u8; 64];
        let n = log::timestamp_into(&mut ts);
        // SAFETY: getpid cannot fail.
        let _ = write!(l, "{}:M ", unsafe { libc::getpid() });
        l.push(&ts[..n]);
        l.push(b" # ");
        l
    }

    fn push(&mut self, bytes: &[u8]) {
        let n = bytes.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
    }

    fn emit(mut self) {
        if self.len == self.buf.len() {
            self.len -= 1;
        }
        self.push(b"\n");
        raw(&self.buf[..self.len]);
    }
}

impl std::fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.push(s.as_bytes());
        Ok(())
    }
}

/// Logs one warning line without allocating.
macro_rules! warn_line {
    ($($arg:tt)*) => {{
        let mut l = Line::warning();
        let _ = write!(l, $($arg)*);
        l.emit();
    }};
}

/// Writes bytes to the log's descriptor as they are (`write(2)` is async-signal-safe).
fn raw(mut bytes: &[u8]) {
    let fd = log::raw_fd();
    while !bytes.is_empty() {
        // SAFETY: writing from a live slice.
        let n = unsafe { libc::write(fd, bytes.as_ptr() as *const libc::c_void, bytes.len()) };
        if n > 0 {
            bytes = &bytes[n as usize..];
        } else if n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        } else {
            return;
        }
    }
}

fn bug_report_start() {
    raw(b"\n\n=== REDIS BUG REPORT START: Cut & paste starting from here ===\n");
}

fn bug_report_end() {
    raw(concat!(
        "\n=== REDIS BUG REPORT END. Make sure to include from START to END. ===\n\n",
        "       Please report the crash by opening an issue with the Ochre project.\n\n",
        "  Suspect RAM error? Use a memory tester such as memtester to verify it.\n\n"
    )
    .as_bytes());
}

/// `Crashed thread: <name> (tid <id>)`, the name read with prctl (a plain syscall).
fn log_thread() {
    let mut name = [0u8; 17];
    // SAFETY: PR_GET_NAME writes at most 16 bytes and a NUL into the 17-byte buffer.
    unsafe { libc::prctl(libc::PR_GET_NAME, name.as_mut_ptr()) };
    let len = name.iter().position(|&b| b == 0).unwrap_or(16);
    let mut l = Line::warning();
    l.push(b"Crashed thread: ");
    l.push(&name[..len]);
    let _ = write!(l, " (tid {})", gettid());
    l.emit();
}

// ---------------------------------------------------------------------------------------------
// Fatal signals and panics

/// Claims the report for this thread. Another thread already reporting: this one waits for the
/// process to die. This thread already reporting (it crashed inside its report): false.
fn claim() -> bool {
    let me = gettid();
    match REPORTER.compare_exchange(0, me, AcqRel, Acquire) {
        Ok(_) => true,
        Err(owner) if owner == me => false,
        Err(_) => loop {
            // SAFETY: pause only suspends this thread until a signal comes.
            unsafe { libc::pause() };
        },
    }
}

/// The instruction a signal interrupted, from the handler's context.
fn interrupted_ip(uc: *mut libc::c_void) -> usize {
    if uc.is_null() {
        return 0;
    }
    // SAFETY: the kernel passes a valid ucontext_t to an SA_SIGINFO handler.
    let uc = unsafe { &*(uc as *const libc::ucontext_t) };
    #[cfg(target_arch = "x86_64")]
    return uc.uc_mcontext.gregs[libc::REG_RIP as usize] as usize;
    #[cfg(target_arch = "aarch64")]
    return uc.uc_mcontext.pc as usize;
    #[allow(unreachable_code)]
    {
        let _ = uc;
        0
    }
}

extern "C" fn on_fatal_signal(sig: libc::c_int, info: *mut libc::siginfo_t, uc: *mut libc::c_void) {
    if !claim() {
        die_by(sig);
    }
    bug_report_start();
    // SAFETY: the kernel passes a valid siginfo_t to an SA_SIGINFO handler.
    let info = unsafe { &*info };
    warn_line!(
        "Ochre {} (Redis {}) crashed by signal: {}, si_code: {}",
        crate::VERSION,
        crate::REDIS_VERSION,
        sig,
        info.si_code
    );
    if sig == libc::SIGSEGV || sig == libc::SIGBUS {
        // SAFETY: si_addr is meaningful for these two signals.
        warn_line!("Accessing address: {:p}", unsafe { info.si_addr() });
    }
    // SAFETY: si_pid/si_uid are set for a signal sent by a process (SI_USER).
    if info.si_code == libc::SI_USER && unsafe { info.si_pid() } != -1 {
        warn_line!("Killed by PID: {}, UID: {}", unsafe { info.si_pid() }, unsafe {
            info.si_uid()
        });
    }
    let eip = interrupted_ip(uc);
    if eip != 0 {
        warn_line!("Crashed running the instruction at: {:#x}", eip);
    }
    log_thread();
    if CRASH_LOG.load(Relaxed) {
        CRASH_STACK.capture(eip);
        report();
    }
    bug_report_end();
    die_by(sig);
}

/// Restores the default action of `sig` and raises it, so the process ends as that signal says
/// (exit status, core dump), as Redis's `bugReportEnd`.
fn die_by(sig: libc::c_int) -> ! {
    set_handler(sig, libc::SIG_DFL, 0);
    // SAFETY: signal-mask and raise calls on our own thread; _exit ends the process.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::raise(sig);
        libc::_exit(128 + sig)
    }
}

/// A panic is a bug (Redis's `serverPanic`/`serverAssert`): report it, then abort.
fn on_panic(info: &std::panic::PanicHookInfo) {
    if claim() {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| info.payload().downcast_ref::<String>().map(|s| s.as_str()))
            .unwrap_or("Box<dyn Any>");
        let (file, line) = info.location().map_or(("?", 0), |l| (l.file(), l.line()));
        bug_report_start();
        if msg.starts_with("assertion") {
            warn_line!("=== ASSERTION FAILED ===");
            warn_line!("==> {}:{} '{}' is not true", file, line, msg);
        } else {
            warn_line!("------------------------------------------------");
            warn_line!("!!! Software Failure. Press left mouse button to continue");
            warn_line!("Guru Meditation: {} #{}:{}", msg, file, line);
        }
        log_thread();
        if CRASH_LOG.load(Relaxed) {
            CRASH_STACK.capture(0);
            report();
        }
        bug_report_end();
    }
    if EXIT_ON_PANIC.load(Relaxed) {
        // SAFETY: ends the process at once, as Redis's use-exit-on-panic.
        unsafe { libc::_exit(1) };
    }
    // No second report from the SIGABRT handler.
    set_handler(libc::SIGABRT, libc::SIG_DFL, 0);
    std::process::abort();
}

/// Has the `ochre-crash` thread write the stack trace and INFO, waiting for each with a time
/// limit; writes bare addresses itself when that thread is the one crashing or does not answer.
fn report() {
    let (req, done) = (REQ_W.load(Relaxed), DONE_R.load(Relaxed));
    if req >= 0 && gettid() != CRASH_TID.load(Relaxed) && wake(b'c') {
        if wait_byte(done, TRACE_WAIT_MS) {
            wait_byte(done, INFO_WAIT_MS);
            return;
        }
        raw(b"\n(the stack trace was not symbolized in time)\n");
    }
    raw(b"\n------ STACK TRACE ------\n\nBacktrace:\n");
    let n = CRASH_STACK.len.load(Acquire);
    for a in &CRASH_STACK.ips[..n] {
        let mut l = Line { buf: [0; 512], len: 0 };
        let _ = write!(l, "[{:#x}]", a.load(Relaxed));
        l.emit();
    }
}

fn wake(what: u8) -> bool {
    let fd = REQ_W.load(Relaxed);
    // SAFETY: writing one byte from a live buffer to our pipe.
    fd >= 0 && unsafe { libc::write(fd, &what as *const u8 as *const libc::c_void, 1) } == 1
}

/// Waits up to `ms` for one byte on `fd` (poll and read are async-signal-safe).
fn wait_byte(fd: libc::c_int, ms: i32) -> bool {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: poll and read on our own pipe with buffers we own.
    unsafe {
        loop {
            let r = libc::poll(&mut pfd, 1, ms);
            if r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            let mut b = 0u8;
            return r == 1 && libc::read(fd, &mut b as *mut u8 as *mut libc::c_void, 1) == 1;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The ochre-crash thread: symbols, INFO, the watchdog

fn crash_thread(req_r: libc::c_int, done_w: libc::c_int) {
    CRASH_TID.store(gettid(), Relaxed);
    // Signals aimed at the process (kill -ABRT) go to another thread, one that can be reported.
    // SAFETY: blocking signals for this thread only.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in FATAL.iter().chain(&[libc::SIGALRM]) {
            libc::sigaddset(&mut set, *sig);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
    let notify = |b: u8| {
        // SAFETY: writing one byte to our pipe.
        unsafe { libc::write(done_w, &b as *const u8 as *const libc::c_void, 1) };
    };
    loop {
        let period = WATCHDOG_MS.load(Relaxed);
        let tick = if period > 0 {
            (period / 4).clamp(10, 100) as i32
        } else {
            -1
        };
        let mut pfd = libc::pollfd {
            fd: req_r,
            events: libc::POLLIN,
            revents: 0,
        };
        let mut what = 0u8;
        // SAFETY: poll and read on our own pipe.
        let ready = unsafe {
            libc::poll(&mut pfd, 1, tick) == 1 && libc::read(req_r, &mut what as *mut u8 as *mut libc::c_void, 1) == 1
        };
        if ready && what == b'c' {
            let (ips, eip) = CRASH_STACK.take();
            write_trace(&ips, eip);
            notify(b't');
            write_info();
            notify(b'i');
            continue;
        }
        if period > 0 {
            watchdog_check(period);
        }
    }
}

/// `------ STACK TRACE ------` as Redis prints it: the interrupted instruction, then one line
/// per frame (inlined calls included), `module(function)[address] file:line`. Frames of the
/// reporting machinery itself (this module, the unwinder, the panic runtime, the signal
/// trampoline) at the top of the stack are left out.
fn write_trace(ips: &[usize], eip: usize) {
    let mut out = String::from("\n------ STACK TRACE ------\n");
    if eip != 0 {
        out.push_str("EIP:\n");
        out.push_str(&frame_lines(eip, true).join(""));
    }
    out.push_str("\nBacktrace:\n");
    let mut started = false;
    for &ip in ips.iter().filter(|&&ip| ip != 0) {
        let lines = frame_lines(ip, false);
        if !started && lines.iter().all(|l| is_machinery(l)) {
            continue;
        }
        started = true;
        out.push_str(&lines.join(""));
    }
    raw(out.as_bytes());
}

fn is_machinery(line: &str) -> bool {
    const NAMES: &[&str] = &[
        "(backtrace::",
        "(ochre::server::crash::",
        "std::panicking::",
        "core::panicking::",
        "rust_begin_unwind",
        "__rust_end_short_backtrace",
        "PanicHookInfo",
        "(core::ops::function::Fn::call)",
        "(__restore_rt)",
        "(?)",
    ];
    let name = line.split_once('[').map_or(line, |(name, _)| name);
    NAMES.iter().any(|n| name.contains(n))
}

/// The lines of one address: one per (inlined) function, innermost first, each
/// `module(function)[address] file:line`. `exact` for an instruction address (EIP) rather than
/// a return address.
fn frame_lines(ip: usize, exact: bool) -> Vec<String> {
    let module = module_of(ip);
    let mut lines = Vec::new();
    // The resolver looks up ip - 1 (return addresses point after the call); undo it for an
    // exact instruction address.
    let at = if exact { ip + 1 } else { ip };
    backtrace::resolve(at as *mut libc::c_void, |sym| {
        let name = sym.name().map(|n| format!("{n:#}")).unwrap_or_else(|| "?".into());
        let place = match (sym.filename(), sym.lineno()) {
            (Some(f), Some(l)) => format!(" {}:{l}", short_path(&f.to_string_lossy())),
            _ => String::new(),
        };
        lines.push(format!("{module}({name})[{ip:#x}]{place}\n"));
    });
    if lines.is_empty() {
        lines.push(format!("{module}(?)[{ip:#x}]\n"));
    }
    lines
}

/// The file name of the binary or library holding `ip` (what glibc's backtrace_symbols shows).
fn module_of(ip: usize) -> String {
    // SAFETY: dladdr only reads the loader's tables and fills the struct we own.
    unsafe {
        let mut info: libc::Dl_info = std::mem::zeroed();
        if libc::dladdr(ip as *const libc::c_void, &mut info) != 0 && !info.dli_fname.is_null() {
            let path = std::ffi::CStr::from_ptr(info.dli_fname).to_string_lossy();
            return path.rsplit('/').next().unwrap_or(&path).to_string();
        }
    }
    "?".into()
}

/// Source paths without the build machine's prefixes: the project's own relative to its root,
/// crates from their name-version folder, the standard library from `library/`.
fn short_path(path: &str) -> &str {
    if let Some(rest) = path.strip_prefix(concat!(env!("CARGO_MANIFEST_DIR"), "/")) {
        return rest;
    }
    for marker in ["/.cargo/registry/src/", "/rustc/"] {
        if let Some(i) = path.find(marker) {
            let rest = &path[i + marker.len()..];
            return rest.split_once('/').map_or(rest, |(_, tail)| tail);
        }
    }
    path
}

fn write_info() {
    let Some(srv) = SERVER.get().and_then(|w| w.upgrade()) else {
        return;
    };
    let info = super::info::build(&srv, &super::info::Sections::parse(&[]));
    raw(format!("\n------ INFO OUTPUT ------\n{info}\n").as_bytes());
}

/// One thread's watchdog slot: when its current command started (Unix ms, 0 = idle).
struct Slot {
    since_ms: AtomicI64,
    /// The start of the last command reported, so each is reported once.
    reported_ms: AtomicI64,
    tid: i32,
}

static SLOTS: Mutex<Vec<&'static Slot>> = Mutex::new(Vec::new());

thread_local! {
    static SLOT: &'static Slot = {
        // One small slot per thread that ever runs a command while the watchdog is on, kept
        // for the life of the process (threads are long-lived).
        let slot: &'static Slot = Box::leak(Box::new(Slot { since_ms: AtomicI64::new(0), reported_ms: AtomicI64::new(0), tid: gettid() }));
        SLOTS.lock().push(slot);
        slot
    };
}

/// Marks the calling thread busy with a command until the guard drops (no-op while the
/// watchdog is off).
#[inline]
pub fn watch(now_ms: i64) -> Watch {
    if WATCHDOG_MS.load(Relaxed) == 0 {
        return Watch(None);
    }
    Watch(Some(SLOT.with(|s| {
        s.since_ms.store(now_ms, Relaxed);
        *s
    })))
}

pub struct Watch(Option<&'static Slot>);

impl Drop for Watch {
    #[inline]
    fn drop(&mut self) {
        if let Some(s) = self.0 {
            s.since_ms.store(0, Relaxed);
        }
    }
}

extern "C" fn on_watchdog_signal(_sig: libc::c_int, _info: *mut libc::siginfo_t, uc: *mut libc::c_void) {
    // Only the stack walk here: the `ochre-crash` thread does the rest.
    if WATCHDOG_STACK.len.load(Relaxed) == 0 {
        WATCHDOG_STACK.capture(interrupted_ip(uc));
    }
}

/// Signals each thread whose command has run past the period (Redis clamps the period to two
/// cron ticks), once per command, and logs the stack its handler captured.
fn watchdog_check(period: i64) {
    let period = period.max(2 * 1000 / HZ.load(Relaxed));
    let now = super::unix_ms();
    let slots: Vec<&'static Slot> = SLOTS.lock().clone();
    for slot in slots {
        let since = slot.since_ms.load(Relaxed);
        if since == 0 || now - since < period || slot.reported_ms.swap(since, Relaxed) == since {
            continue;
        }
        // A stack captured by a signal that came too late last time is not this one.
        WATCHDOG_STACK.len.store(0, Release);
        // SAFETY: tgkill to a thread of this process, whose SIGALRM handler is installed.
        unsafe { libc::syscall(libc::SYS_tgkill, libc::getpid(), slot.tid, libc::SIGALRM) };
        let mut waited = 0;
        while WATCHDOG_STACK.len.load(Acquire) == 0 && waited < 1000 {
            std::thread::sleep(Duration::from_millis(1));
            waited += 1;
        }
        let (ips, eip) = WATCHDOG_STACK.take();
        if ips.is_empty() {
            continue;
        }
        warn_line!("\n--- WATCHDOG TIMER EXPIRED ---");
        write_trace(&ips, eip);
        warn_line!("--------\n");
    }
}
