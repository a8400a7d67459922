//! Runs one request: looks the command up in the table, checks arity and permissions, queues it
//! inside MULTI or executes it under the world lock ([`call`], which EXEC also uses for each
//! queued command), and records statistics (commandstats, errorstats, slowlog, latency,
//! MONITOR).

use super::client::{Client, ReplyMode};
use super::stats::bump;
use super::Server;
use crate::commands::{flag, Command, Ctx};
use crate::protocol::reply::Reply;
use std::sync::atomic::Ordering::Relaxed;

pub const LOADING: &str = "LOADING Redis is loading the dataset in memory";
pub const READONLY: &str = "READONLY You can't write against a read only replica.";
pub const MASTERDOWN: &str = "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.";
pub const NOREPLICAS: &str = "NOREPLICAS Not enough good replicas to write.";
pub const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";
pub const MISCONF: &str = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.";

/// Redis's text for an unknown command: the name and up to 128 characters of arguments.
fn unknown_command(out: &mut Reply, argv: &[&[u8]]) {
    let mut args = String::new();
    for a in &argv[1..] {
        if args.len() >= 128 {
            break;
        }
        let room = 128 - args.len();
        let s = String::from_utf8_lossy(a);
        let s: String = s.chars().take(room).collect();
        args.push_str(&format!("'{s}' "));
    }
    let name: String = String::from_utf8_lossy(argv[0]).chars().take(128).collect();
    out.error(&format!(
        "ERR unknown command '{name}', with args beginning with: {args}"
    ));
}

/// Resolves `argv` to a command or subcommand, writing Redis's error when there is none.
pub fn lookup<'a>(srv: &'a Server, out: &mut Reply, argv: &[&[u8]]) -> Option<&'a Command> {
    let Some(cmd) = srv.commands.get(argv[0]) else {
        unknown_command(out, argv);
        return None;
    };
    // A container named alone (`CONFIG`) resolves to itself, so its arity check answers, as in
    // Redis; COMMAND alone runs its own handler.
    if cmd.subcommands.is_empty() || argv.len() < 2 {
        return Some(cmd);
    }
    let sub = argv[1].to_ascii_lowercase();
    match cmd.subcommands.get(&sub) {
        Some(s) => Some(s),
        None => {
            out.error(&format!(
                "ERR unknown subcommand '{}'. Try {} HELP.",
                String::from_utf8_lossy(argv[1]).chars().take(128).collect::<String>(),
                cmd.def.name.to_uppercase()
            ));
            None
        }
    }
}

/// Executes one request and writes its reply to `out`.
pub fn execute(srv: &Server, client: &mut Client, out: &mut Reply, argv: &[&[u8]]) {
    if argv.is_empty() {
        return;
    }
    let mark = out.buf.len();
    // CLIENT REPLY SKIP applies to the command after it.
    if client.reply_mode == ReplyMode::SkipNext {
        client.reply_mode = ReplyMode::Skip;
    }
    out.errors = 0;
    run(srv, client, out, argv);
    if out.errors > 0 {
        if let Some(code) = out.last_error.take() {
            srv.stats.error(&code);
        }
    }
    match client.reply_mode {
        ReplyMode::Off => out.buf.truncate(mark),
        ReplyMode::Skip => {
            out.buf.truncate(mark);
            client.reply_mode = ReplyMode::On;
        }
        _ => {}
    }
}

/// A request refused before it runs (Redis's `rejectCommand`): inside MULTI it aborts the
/// transaction, and a refused EXEC discards it at once with `EXECABORT` and the reason.
fn reject(srv: &Server, client: &mut Client, out: &mut Reply, cmd: &Command, argv: &[&[u8]], err: &str) {
    bump(&cmd.stats_of(client.worker).rejected_calls, 1);
    if cmd.full_name == "exec" {
        super::multi::discard(srv, client);
        // Redis prints the reason without its leading `ERR ` (arity) or `-` (the others).
        let reason = err.strip_prefix("ERR ").unwrap_or(err);
        out.error(&format!("EXECABORT Transaction discarded because of: {reason}"));
        // MONITOR saw MULTI; it sees the EXEC that closes it too.
        if srv.monitors.active() {
            super::monitor::feed(srv, client, cmd, argv);
        }
        return;
    }
    super::multi::abort_queue(client);
    out.error(err);
}

/// Whether `maxmemory` refuses this command now (Redis's `processCommand`): with a limit set,
/// every command first evicts what the policy allows (`server::evict`); when memory stays above
/// the limit, commands that may grow memory (`denyoom`, or an EXEC that queued one) and anything
/// queued inside MULTI are refused. Without a limit this is one relaxed load.
#[inline]
fn out_of_memory(srv: &Server, client: &Client, cmd: &Command, flags: u32) -> bool {
    if srv.config.hot.maxmemory.load(Relaxed) <= 0 {
        return false;
    }
    out_of_memory_slow(srv, client, cmd, flags)
}

#[inline(never)]
fn out_of_memory_slow(srv: &Server, client: &Client, cmd: &Command, flags: u32) -> bool {
    if super::evict::perform(srv, Some(client.worker)) != super::evict::Outcome::Fail {
        return false;
    }
    let queuing = client.multi.tx.is_some() && !matches!(cmd.full_name.as_str(), "exec" | "discard" | "quit" | "reset");
    queuing || is_write(client, cmd, flags, flag::DENYOOM)
}

/// Whether used memory stays above `maxmemory` after evicting what the policy allows (never
/// without a limit). For callers that already hold the world lock (a script's start).
pub fn over_maxmemory(srv: &Server) -> bool {
    srv.config.hot.maxmemory.load(Relaxed) > 0 && super::evict::perform(srv, None) == super::evict::Outcome::Fail
}

/// Whether writes are refused because the last background save failed
/// (`stop-writes-on-bgsave-error` with save points configured), as Redis's
/// `writeCommandsDeniedByDiskError`.
pub fn writes_refused(srv: &Server) -> bool {
    !srv.rdb.last_bgsave_ok.load(Relaxed)
        && srv.config.get_bool("stop-writes-on-bgsave-error")
        && crate::persistence::save::has_save_points(srv)
}

/// Whether a command runs at once even inside MULTI instead of being queued.
fn runs_in_multi(cmd: &Command) -> bool {
    matches!(
        cmd.full_name.as_str(),
        "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
    )
}

/// Whether a command may change data: EXEC counts as a write when a queued command is one.
/// `flags` are the command's flags as [`effective_flags`] gives them.
fn is_write(client: &Client, cmd: &Command, flags: u32, mask: u32) -> bool {
    flags & mask != 0 || (cmd.full_name == "exec" && client.multi.tx.as_ref().is_some_and(|t| t.flags & mask != 0))
}

/// A command's flags for admission checks: a script run's are those its shebang declares
/// (Redis's `evalGetCommandFlags`), every other command's its table row's.
#[inline]
fn effective_flags(srv: &Server, cmd: &Command, argv: &[&[u8]]) -> u32 {
    crate::scripting::command_flags(srv, cmd, argv).unwrap_or(cmd.flags)
}

fn run(srv: &Server, client: &mut Client, out: &mut Reply, argv: &[&[u8]]) {
    let Some(cmd) = lookup(srv, out, argv) else {
        super::multi::abort_queue(client);
        return;
    };
    if !cmd.arity_ok(argv.len()) {
        let err = format!("ERR wrong number of arguments for '{}' command", cmd.full_name);
        return reject(srv, client, out, cmd, argv, &err);
    }
    if !client.authenticated && !cmd.has(flag::NO_AUTH) {
        return reject(srv, client, out, cmd, argv, "NOAUTH Authentication required.");
    }
    if client.multi.tx.is_some() && cmd.has(flag::NO_MULTI) {
        return reject(
            srv,
            client,
            out,
            cmd,
            argv,
            "ERR Command not allowed inside a transaction",
        );
    }
    // stop-writes-on-bgsave-error: after a failed background save, writes (and PING) are refused
    // while save points are configured, as Redis does.
    if !srv.rdb.last_bgsave_ok.load(Relaxed)
        && (is_write(client, cmd, effective_flags(srv, cmd, argv), flag::WRITE) || cmd.def.name == "ping")
        && writes_refused(srv)
    {
        return reject(srv, client, out, cmd, argv, MISCONF);
    }
    // A replica applies what its master sends whatever its memory (the master evicts).
    if srv.config.hot.maxmemory.load(Relaxed) > 0
        && client.master_link == 0
        && out_of_memory(srv, client, cmd, effective_flags(srv, cmd, argv))
    {
        return reject(srv, client, out, cmd, argv, OOM);
    }
    if srv.config.hot.min_replicas_to_write.load(Relaxed) > 0
        && is_write(client, cmd, effective_flags(srv, cmd, argv), flag::WRITE)
        && !crate::replication::enough_good_replicas(srv)
    {
        return reject(srv, client, out, cmd, argv, NOREPLICAS);
    }
    if srv.follow.following() && client.master_link == 0 {
        if let Some(err) = refused_on_replica(srv, client, cmd, argv) {
            return reject(srv, client, out, cmd, argv, err);
        }
    }
    if client.subs.active && super::pubsub::reject_in_subscriber_mode(client, cmd, out) {
        return;
    }
    let (start, now_ns) = crate::util::clock::now();
    let now_ms = now_ns / 1_000_000;
    let handle = &client.handle;
    handle.last_interaction_ms.store(now_ms, Relaxed);
    handle.set_last_cmd(cmd);
    handle.argv_mem.store(argv.iter().map(|a| a.len()).sum(), Relaxed);
    // While a dataset loads only `loading` commands run (INFO, CONFIG, DEBUG...), as in Redis
    // also when a script replayed from the AOF is past its time limit.
    if srv.rdb.phase.load(Relaxed) != 0 && !admitted_while_starting(srv, cmd) {
        return reject(srv, client, out, cmd, argv, LOADING);
    }
    // A script past busy-reply-threshold holds the world: only allow-busy commands run.
    if srv.scripts.busy() && !cmd.has(flag::ALLOW_BUSY) {
        return reject(srv, client, out, cmd, argv, srv.scripts.busy_error());
    }
    if client.multi.tx.is_some() && !runs_in_multi(cmd) {
        super::multi::queue(client, argv, effective_flags(srv, cmd, argv));
        out.simple("QUEUED");
        return;
    }
    // Exclusive commands (EXEC, DEBUG, scripts ...) stop every worker; the others only take
    // their own worker's lock.
    let Ok(_world) = world_lock(srv, client.worker, cmd) else {
        // A load (DEBUG LOADAOF) may have started while this command waited.
        let err = if srv.rdb.loading() {
            LOADING
        } else {
            srv.scripts.busy_error()
        };
        return reject(srv, client, out, cmd, argv, err);
    };
    // A command from a master this server no longer follows (REPLICAOF ran meanwhile, with
    // the world stopped) is dropped.
    if client.master_link != 0 && !srv.follow.current(client.master_link) {
        return;
    }
    // watchdog-period: marks this thread busy while the command runs.
    let watch = super::crash::watch(now_ms);
    call(srv, client, out, cmd, argv, start, now_ms);
    drop(watch);
    // Clients blocked on keys this command made ready are served now, before its reply
    // leaves (Redis's handleClientsBlockedOnKeys after call()); after a whole EXEC, not after
    // each of its commands.
    if super::blocking::has_ready() {
        let scope = super::propagate::enter(srv);
        super::blocking::serve_ready(srv);
        if let Some(scope) = scope {
            scope.finish(srv);
        }
    }
}

/// Why a replica refuses a client's command (Redis's `processCommand`): writes while
/// `replica-read-only` is set, and commands without the `stale` flag while the link to the
/// master is down and `replica-serve-stale-data` is off.
#[cold]
fn refused_on_replica(srv: &Server, client: &Client, cmd: &Command, argv: &[&[u8]]) -> Option<&'static str> {
    if is_write(client, cmd, effective_flags(srv, cmd, argv), flag::WRITE) && srv.config.get_bool("replica-read-only") {
        return Some(READONLY);
    }
    let lacks_stale = !cmd.has(flag::STALE)
        || (cmd.full_name == "exec" && client.multi.tx.as_ref().is_some_and(|t| t.lacks & flag::STALE != 0));
    if lacks_stale && srv.follow.link_down() && !srv.config.get_bool("replica-serve-stale-data") {
        return Some(MASTERDOWN);
    }
    None
}

/// Before the server serves: a command waits while start-up is outside a load (Redis has not
/// started its event loop then), and during a load only `loading` commands run.
#[cold]
fn admitted_while_starting(srv: &Server, cmd: &Command) -> bool {
    while srv.rdb.phase.load(Relaxed) == crate::persistence::save::Phase::Starting as u8 {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    !srv.rdb.loading() || cmd.has(flag::LOADING)
}

/// The world lock a command runs under: its worker's shared lock, or every lock for an
/// exclusive command; `(None, None)` when the connection's batch already holds the shared lock,
/// or for an allow-busy command while a script is past its time limit (it runs beside the
/// script, as Redis runs it from inside the script's hook).
type World<'a> = (
    Option<parking_lot::RwLockReadGuard<'a, ()>>,
    Option<Vec<parking_lot::RwLockWriteGuard<'a, ()>>>,
);

/// Takes the world lock for `cmd`; `Err` when a script is past `busy-reply-threshold` and the
/// command may not run beside it (the caller answers BUSY).
#[inline]
fn world_lock<'a>(srv: &'a Server, worker: usize, cmd: &Command) -> Result<World<'a>, ()> {
    // A script past its time limit holds only the world lock's shared side and its shards, so
    // the lock alone does not say BUSY: the flag does.
    if !cmd.def.exclusive && !srv.scripts.busy() {
        // Inside a connection's batch the lock is held across its requests (`server::world`).
        if srv.world.hold_shared(worker) {
            return Ok((None, None));
        }
        if let Some(g) = srv.world.try_shared(worker) {
            return Ok((Some(g), None));
        }
    }
    // Never wait for the world while holding a part of it.
    srv.world.release_held();
    world_lock_slow(srv, worker, cmd)
}

/// Waits for the world lock in short steps, so a worker never waits silently behind a script
/// that ran past its time limit: it answers BUSY instead, as Redis does.
#[cold]
fn world_lock_slow<'a>(srv: &'a Server, worker: usize, cmd: &Command) -> Result<World<'a>, ()> {
    const STEP: std::time::Duration = std::time::Duration::from_millis(5);
    loop {
        if srv.scripts.busy() {
            return if cmd.has(flag::ALLOW_BUSY) {
                Ok((None, None))
            } else {
                Err(())
            };
        }
        if cmd.def.exclusive {
            if let Some(g) = srv.world.exclusive_for(STEP) {
                return Ok((None, Some(g)));
            }
        } else if let Some(g) = srv.world.shared_for(worker, STEP) {
            return Ok((Some(g), None));
        }
    }
}

/// Runs an admitted command and records its statistics (Redis's `call()`): commandstats,
/// errorstats, latency, MONITOR, slowlog, and the touch of WATCHed keys it changed. The caller
/// holds the world lock: `run` for a request, EXEC for each queued command. `start` is when
/// it started (for its duration); `now_ms` the time its keys are judged by (EXEC's for
/// a queued command, as Redis keeps one time for a whole EXEC). Inlined so a plain request
/// pays no extra call.
#[inline(always)]
pub fn call(
    srv: &Server,
    client: &mut Client,
    out: &mut Reply,
    cmd: &Command,
    argv: &[&[u8]],
    start: crate::util::clock::Instant,
    now_ms: i64,
) {
    let write = cmd.has(flag::WRITE);
    // Whether the command changed anything: this thread's own change count moved.
    let dirty_before = if write { super::stats::changes_here() } else { 0 };
    // While writes are logged, a write (or an EXEC, a script) holds the order mutex from before
    // its handler until its effects are appended (`server::propagate`).
    let propagating = srv.propagation.active();
    let scope = if propagating && (write || cmd.def.exclusive) {
        super::propagate::enter(srv)
    } else {
        None
    };
    if propagating && write {
        super::propagate::command_started();
    }
    out.errors = 0;
    let mut ctx = Ctx {
        srv,
        client,
        out,
        now_ms,
    };
    (cmd.def.handler)(&mut ctx, argv);
    if propagating && write {
        super::propagate::command_done(srv, client.db, argv, super::stats::changes_here() != dirty_before);
    }
    // Touched inside the world-lock scope, so no EXEC can run between the change and the touch.
    // The watch count is read after the command, so a WATCH that registered while it ran is seen.
    if write {
        let spared = super::multi::take_spared();
        if srv.watches.active() && super::stats::changes_here() != dirty_before {
            super::multi::touch_command(srv, client.db, cmd, argv, spared);
        }
    }
    if write && !srv.blocking.is_empty() && super::stats::changes_here() != dirty_before {
        super::blocking::signal_command(srv, client.db, cmd, argv);
    }
    if let Some(scope) = scope {
        scope.finish(srv);
    }
    let elapsed_ns = crate::util::clock::elapsed_ns(start);
    let us = elapsed_ns / 1000;
    let ws = &srv.stats.workers[super::stats::slot(client.worker, srv.stats.workers.len())];
    super::stats::bump(&ws.commands, 1);
    let cs = cmd.stats_of(client.worker);
    bump(&cs.calls, 1);
    bump(&cs.usec, us);
    // Errors count here, per command, so each command of an EXEC counts its own and EXEC's
    // own reply is not failed by them.
    if out.errors > 0 {
        bump(&cs.failed_calls, 1);
        if let Some(code) = out.last_error.take() {
            srv.stats.error(&code);
        }
        out.errors = 0;
    }
    if srv.config.hot.latency_tracking.load(Relaxed) {
        srv.stats
            .record_latency(&srv.commands, client.worker, cmd.id, elapsed_ns);
    }
    // MONITOR sees a command after it ran, as in Redis (`call()`), never admin commands.
    if srv.monitors.active() && !cmd.has(flag::SKIP_MONITOR) && !cmd.has(flag::ADMIN) {
        super::monitor::feed(srv, client, cmd, argv);
    }
    // A script handed to the script thread is timed there, when it has run; a command that
    // blocked is logged when it is served (`blocking::serve_ready`), as Redis logs it on unblock.
    let slower_than = srv.config.hot.slowlog_log_slower_than.load(Relaxed);
    if slower_than >= 0 && us as i64 >= slower_than && !cmd.has(flag::SKIP_SLOWLOG) && client.blocked.is_none() {
        srv.slowlog.record(srv, &client.handle, cmd, argv, us, now_ms);
    }
    let threshold = srv.config.hot.latency_monitor_threshold.load(Relaxed);
    if threshold > 0 && (us / 1000) as i64 >= threshold && !parked_for_script(client) {
        let event = if cmd.has(flag::FAST) { "fast-command" } else { "command" };
        srv.latency.add(event, us / 1000, now_ms);
    }
}

/// Whether the client's command was a script handed to the script thread (its connection is
/// parked on no key until the reply comes).
fn parked_for_script(client: &Client) -> bool {
    client.blocked.as_ref().is_some_and(|w| w.keys.is_empty())
}

/// How long (ms) a request must wait because of CLIENT PAUSE, or None to run it now. Redis keeps
/// paused clients' requests queued; so do we, which keeps each connection's order.
pub fn paused_for(
    srv: &Server,
    client: &Client,
    name: &[u8],
    buf: &[u8],
    spans: &[std::ops::Range<usize>],
) -> Option<u64> {
    let until = srv.pause.until_ms.load(Relaxed);
    if until == 0 {
        return None;
    }
    let write_only = srv.pause.write_only.load(Relaxed);
    let now = super::unix_ms();
    if now >= until {
        return None;
    }
    // Unknown commands get their error at once, as in Redis, which checks the command before
    // postponing the client.
    let cmd = srv.commands.get(name)?;
    // CLIENT UNPAUSE and friends always run.
    if cmd.def.name == "client" {
        return None;
    }
    let cmd = match (cmd.subcommands.is_empty(), spans.get(1)) {
        (true, _) => cmd,
        (false, Some(r)) => cmd.subcommands.get(&buf[r.clone()].to_ascii_lowercase())?,
        (false, None) => return None,
    };
    // So do arity errors.
    if !cmd.arity_ok(spans.len()) {
        return None;
    }
    let argv: Vec<&[u8]> = spans.iter().map(|r| &buf[r.clone()]).collect();
    if write_only
        && !is_write(
            client,
            cmd,
            effective_flags(srv, cmd, &argv),
            flag::WRITE | flag::MAY_REPLICATE,
        )
    {
        return None;
    }
    Some((until - now) as u64)
}
