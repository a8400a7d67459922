//! Periodic work, on its own thread: active expiry, the samples behind INFO's instantaneous
//! rates, and waiting for SHUTDOWN on the main thread.

use super::{log, unix_ms, Server};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Keys sampled per shard visit, and the share of expired keys above which a shard is swept again
/// at once (Redis's ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP and ACCEPTABLE_STALE, scaled by effort).
const KEYS_PER_LOOP: usize = 20;
const ACCEPTABLE_STALE: usize = 10;

pub fn run(srv: Arc<Server>) {
    let mut db_cursor = 0usize;
    let mut shard_cursor = 0usize;
    loop {
        let hz = srv.config.hot.hz.load(Relaxed).max(1) as u64;
        std::thread::sleep(Duration::from_millis(1000 / hz));
        if srv.shutdown_requested.load(Relaxed) {
            return;
        }
        // DEBUG PAUSE-CRON stops periodic work, as Redis's serverCron does.
        if crate::commands::debug::PAUSE_CRON.load(Relaxed) {
            continue;
        }
        // No save rules, expiry or eviction until the dataset is loaded.
        if srv.rdb.phase.load(Relaxed) != 0 {
            continue;
        }
        sample_stats(&srv);
        clients_cron(&srv);
        super::evict::cron(&srv, Duration::from_millis(500 / hz));
        crate::persistence::save::check_save_rules(&srv);
        crate::persistence::aof::cron(&srv);
        // Active expiry stops while clients are paused (the dataset must not change then).
        if srv.active_expire_enabled.load(Relaxed) && srv.pause.until_ms.load(Relaxed) <= unix_ms() {
            active_expire(&srv, &mut db_cursor, &mut shard_cursor, hz);
        }
    }
}

/// The per-client cron: reply buffer sizing, and `timeout N`, which closes clients idle for more
/// than N seconds (Redis's clientsCronHandleTimeout; MONITOR clients are exempt as in Redis).
fn clients_cron(srv: &Server) {
    let timeout = srv.config.hot.timeout.load(Relaxed);
    let now = unix_ms();
    let peak_reset = crate::commands::debug::REPLY_BUFFER_PEAK_RESET_MS.load(Relaxed);
    let resize = crate::commands::debug::REPLY_BUFFER_RESIZING.load(Relaxed);
    for c in srv.clients.all() {
        if resize {
            c.resize_reply_buffer(now, peak_reset);
        }
        if timeout <= 0 {
            continue;
        }
        if c.is_monitor.load(Relaxed) {
            continue;
        }
        if now - c.last_interaction_ms.load(Relaxed) > timeout * 1000 {
            log::verbose("Closing idle client");
            c.kill();
        }
    }
}

fn sample_stats(srv: &Server) {
    let now = unix_ms();
    srv.stats.used_memory_sample.store(super::info::used_memory(), Relaxed);
    let cmds = srv.stats.sum(|w| &w.commands);
    let inp = srv.stats.sum(|w| &w.net_input);
    let outp = srv.stats.sum(|w| &w.net_output);
    let mut s = srv.stats.samples.lock();
    s.push_back((now, cmds, inp, outp));
    while s.len() > 16 {
        s.pop_front();
    }
}

/// One active expiry run: visits shards round-robin, sampling keys with a TTL and deleting the
/// expired ones, within a time budget of 25% of a cron period (as Redis's slow cycle) and at most
/// about 1 ms per shard lock, so no request waits long behind it.
fn active_expire(srv: &Server, db_cursor: &mut usize, shard_cursor: &mut usize, hz: u64) {
    let effort = srv.config.hot.active_expire_effort.load(Relaxed).clamp(1, 10) as usize;
    let per_loop = KEYS_PER_LOOP + KEYS_PER_LOOP / 4 * (effort - 1);
    let stale_ok = ACCEPTABLE_STALE.saturating_sub(effort - 1).max(1);
    let budget = Duration::from_micros(1_000_000 / hz * (25 + 2 * (effort as u64 - 1)) / 100);
    let start = Instant::now();
    let dbs = srv.keyspace.dbs.len();
    let shards = srv.keyspace.db(0).shard_count();
    let total = dbs * shards;
    let stats = &srv.keyspace.stats;
    let (mut all_sampled, mut all_expired) = (0usize, 0usize);
    'shards: for _ in 0..total {
        if start.elapsed() > budget {
            srv.stats.expired_time_cap_reached.fetch_add(1, Relaxed);
            break;
        }
        let db = srv.keyspace.db(*db_cursor);
        loop {
            // Not while a script or EXEC runs: they see time stopped, and a key they made must
            // not expire under them (Redis runs neither beside them). EXEC holds the world
            // lock; a script holds the shards it touched, and none may be taken from it.
            let Some(_world) = srv.world.try_shared(0) else {
                break 'shards;
            };
            if crate::keyspace::holds::running() {
                break 'shards;
            }
            let now = unix_ms();
            // While writes are logged, deletions are logged too: order mutex before the shard.
            let scope = super::propagate::enter_plain(srv);
            // Every exit finishes the scope: an unfinished one would leave this thread marked as
            // inside a unit, and its later deletions would never reach the log.
            let Some(mut shard) = db.try_lock_index(*shard_cursor) else {
                if let Some(scope) = scope {
                    scope.finish(srv);
                }
                break 'shards;
            };
            if shard.volatile == 0 {
                drop(shard);
                if let Some(scope) = scope {
                    scope.finish(srv);
                }
                break;
            }
            let lock_start = Instant::now();
            let cursor = shard.expire_cursor;
            let mut expired = 0usize;
            let mut sampled = 0usize;
            let mut next = cursor;
            // Walk buckets until `per_loop` keys with a TTL were seen (or the table was covered).
            let buckets = shard.dict.buckets();
            let mut walked = 0;
            while sampled < per_loop && walked < buckets {
                let db_index = *db_cursor;
                let (_, nx) = shard.dict.sweep(next, 1, |k, e| {
                    if e.expire != 0 {
                        sampled += 1;
                        if e.expire <= now {
                            expired += 1;
                            super::propagate::expired(srv, db_index, k);
                            super::notify::notify_srv(srv, super::notify::EXPIRED, "expired", k, db_index);
                            return true;
                        }
                    }
                    false
                });
                next = nx;
                walked += 1;
                if lock_start.elapsed() > Duration::from_millis(1) {
                    break;
                }
            }
            shard.volatile -= expired;
            shard.expire_cursor = next;
            drop(shard);
            if let Some(scope) = scope {
                scope.finish(srv);
            }
            if expired > 0 {
                stats.expired_keys.fetch_add(expired as u64, Relaxed);
            }
            all_sampled += sampled;
            all_expired += expired;
            // Keep sweeping this shard while many sampled keys were expired.
            if sampled == 0 || expired * 100 / sampled.max(1) <= stale_ok || start.elapsed() > budget {
                break;
            }
        }
        *shard_cursor += 1;
        if *shard_cursor >= shards {
            *shard_cursor = 0;
            *db_cursor = (*db_cursor + 1) % dbs;
        }
    }
    // LATENCY's `expire-cycle` event, as Redis's activeExpireCycle records it (deleting a big
    // value inside the cycle is what makes one long).
    let ms = start.elapsed().as_millis() as u64;
    let threshold = srv.config.hot.latency_monitor_threshold.load(Relaxed);
    if threshold > 0 && ms as i64 >= threshold {
        srv.latency.add("expire-cycle", ms, unix_ms());
    }
    // INFO's expired_stale_perc: a running average of the share of sampled keys found expired
    // (weights as Redis: 5% this run, 95% history), kept in hundredths of a percent.
    let current = if all_sampled > 0 {
        all_expired as f64 * 100.0 / all_sampled as f64
    } else {
        0.0
    };
    let old = stats.expired_stale_perc.load(Relaxed) as f64 / 100.0;
    stats
        .expired_stale_perc
        .store(((current * 0.05 + old * 0.95) * 100.0) as u64, Relaxed);
}

/// Blocks the main thread until SHUTDOWN (or a signal), then returns the exit code. A signal
/// is acted on by this loop like Redis's serverCron does (so not while DEBUG PAUSE-CRON holds
/// it, and SHUTDOWN ABORT can cancel it); if its final save fails the server stays up.
pub fn wait_for_shutdown(srv: &Arc<Server>) -> i32 {
    install_signal_handlers();
    let mut announced = false;
    loop {
        std::thread::sleep(Duration::from_millis(20));
        let sig = SIGNAL.load(Relaxed);
        if sig != 0 && !announced {
            let name = if sig == libc::SIGINT { "SIGINT" } else { "SIGTERM" };
            log::warning(&format!("Received {name} scheduling shutdown..."));
        }
        announced = sig != 0;
        let by_signal = sig != 0 && !crate::commands::debug::PAUSE_CRON.load(Relaxed);
        if by_signal && !srv.shutdown_requested.load(Relaxed) {
            log::warning("User requested shutdown...");
            if !save_before_exit(srv, 0) {
                log::warning("Errors trying to shut down the server. Check the logs for more information.");
                SIGNAL.store(0, Relaxed);
                continue;
            }
            srv.shutdown_requested.store(true, Relaxed);
        }
        if srv.shutdown_requested.load(Relaxed) {
            let pidfile = srv.config.get("pidfile");
            if !pidfile.is_empty() {
                let _ = std::fs::remove_file(&pidfile);
            }
            log::warning("Ochre is now ready to exit, bye bye...");
            return 0;
        }
    }
}

/// The save of Redis's prepareForShutdown: stops a running BGSAVE, then saves when `mode` is
/// SAVE (2), or default (0) with save points configured. False when that save failed.
pub fn save_before_exit(srv: &Server, mode: u8) -> bool {
    if srv.rdb.bgsave_in_progress.load(Relaxed) {
        log::warning("There is a child saving an .rdb. Killing it!");
        crate::persistence::save::kill_bgsave(srv);
    }
    if srv.aof.rewrite_in_progress.load(Relaxed) {
        log::warning("There is a child rewriting the AOF. Killing it!");
        crate::persistence::aof::kill_rewrite(srv);
    }
    if mode == 2 || (mode == 0 && crate::persistence::save::has_save_points(srv)) {
        log::notice("Saving the final RDB snapshot before exiting.");
        if crate::persistence::save::save(srv).is_err() {
            log::warning("Error trying to save the DB, can't exit.");
            return false;
        }
    }
    if srv.propagation.aof_on() {
        log::notice("Calling fsync() on the AOF file.");
        crate::persistence::aof::flush(srv);
    }
    true
}

/// SHUTDOWN ABORT: cancels a shutdown a signal asked for and this loop has not started.
pub fn abort_signal_shutdown() -> bool {
    SIGNAL.swap(0, Relaxed) != 0
}

static SIGNAL: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// `temp-<pid>.rdb`, NUL-terminated, for the signal handler.
static TEMP_RDB: std::sync::OnceLock<std::ffi::CString> = std::sync::OnceLock::new();

extern "C" fn on_signal(sig: libc::c_int) {
    // A second SIGINT while shutting down (say, during a slow final save) exits at once, as
    // Redis: remove the half-written snapshot first. unlink and _exit are async-signal-safe.
    if sig == libc::SIGINT && SIGNAL.load(Relaxed) != 0 {
        if let Some(p) = TEMP_RDB.get() {
            // SAFETY: a valid NUL-terminated path; unlink and _exit are async-signal-safe.
            unsafe { libc::unlink(p.as_ptr()) };
        }
        // SAFETY: see above.
        unsafe { libc::_exit(1) };
    }
    SIGNAL.store(sig, Relaxed);
}

fn install_signal_handlers() {
    if let Ok(p) = std::ffi::CString::new(format!("temp-{}.rdb", std::process::id())) {
        let _ = TEMP_RDB.set(p);
    }
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}
