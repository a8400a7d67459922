//! The INFO text: Redis 7.0's sections and field names (`genRedisInfoString`), filled with
//! Ochre's figures. Fields for features Ochre does not have yet (replication, AOF, forks,
//! tracking...) keep Redis's idle values so tools parsing INFO keep working.

use super::Server;
use std::collections::HashSet;
use std::fmt::Write;
use std::sync::atomic::Ordering::Relaxed;

/// Sections INFO prints with no argument or with `default`.
const DEFAULT: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "module_list",
    "errorstats",
    "cluster",
    "keyspace",
];

/// Which sections a request asked for (Redis's `genInfoSectionDict`).
pub struct Sections {
    names: HashSet<String>,
    all: bool,
    everything: bool,
}

impl Sections {
    /// Parses INFO's arguments (section names, `default`, `all`, `everything`; any case).
    pub fn parse(args: &[&[u8]]) -> Sections {
        let mut s = Sections {
            names: HashSet::new(),
            all: false,
            everything: false,
        };
        if args.is_empty() {
            s.names.extend(DEFAULT.iter().map(|n| n.to_string()));
            return s;
        }
        for a in args {
            let name = String::from_utf8_lossy(a).to_ascii_lowercase();
            match name.as_str() {
                "default" => s.names.extend(DEFAULT.iter().map(|n| n.to_string())),
                "all" => s.all = true,
                "everything" => {
                    s.all = true;
                    s.everything = true;
                }
                _ => {
                    s.names.insert(name);
                }
            }
        }
        s
    }

    fn wants(&self, name: &str) -> bool {
        self.all || self.names.contains(name)
    }
}

/// Resident memory of the process in bytes, from /proc/self/statm.
pub fn rss_memory() -> u64 {
    let text = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = text.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    // SAFETY: sysconf only reads a system constant.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as u64;
    pages * page
}

/// The memory Ochre reports as `used_memory` and checks against `maxmemory`: the bytes
/// allocated, as counted by the global allocator (`util::allocator`), or the resident set when
/// that allocator is not installed (a library build).
pub fn used_memory() -> u64 {
    crate::util::allocator::used().unwrap_or_else(rss_memory)
}

/// Redis's `bytesToHuman`.
pub fn human_bytes(n: u64) -> String {
    const K: f64 = 1024.0;
    let d = n as f64;
    if n < 1024 {
        format!("{n}B")
    } else if d < K * K {
        format!("{:.2}K", d / K)
    } else if d < K * K * K {
        format!("{:.2}M", d / (K * K))
    } else if d < K * K * K * K {
        format!("{:.2}G", d / (K * K * K))
    } else if d < K * K * K * K * K {
        format!("{:.2}T", d / (K * K * K * K))
    } else {
        format!("{:.2}P", d / (K * K * K * K * K))
    }
}

fn rusage(who: libc::c_int) -> (String, String) {
    // SAFETY: getrusage fills the zeroed struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(who, &mut ru) };
    (
        format!("{}.{:06}", ru.ru_stime.tv_sec, ru.ru_stime.tv_usec),
        format!("{}.{:06}", ru.ru_utime.tv_sec, ru.ru_utime.tv_usec),
    )
}

fn uname() -> String {
    // SAFETY: uname fills the zeroed struct with NUL-terminated strings.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return "Linux".into();
    }
    let field = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    format!("{} {} {}", field(&u.sysname), field(&u.release), field(&u.machine))
}

/// Builds the INFO reply text for the requested sections.
pub fn build(srv: &Server, sections: &Sections) -> String {
    // Read before the reply text is allocated, so INFO does not count its own output.
    let used = used_memory();
    let mut s = String::with_capacity(4096);
    let mut n = 0;
    // Each section is separated from the previous by an empty line.
    let mut head = |s: &mut String, title: &str| {
        if n > 0 {
            s.push_str("\r\n");
        }
        n += 1;
        s.push_str("# ");
        s.push_str(title);
        s.push_str("\r\n");
    };
    let cfg = &srv.config;
    let now_us = super::unix_us();
    let peak = srv.stats.used_memory_peak.fetch_max(used, Relaxed).max(used);
    macro_rules! line {
        ($($arg:tt)*) => {{
            let _ = write!(s, $($arg)*);
            s.push_str("\r\n");
        }};
    }
    if sections.wants("server") {
        head(&mut s, "Server");
        let uptime = srv.uptime_secs();
        let hz = srv.config.hot.hz.load(Relaxed);
        line!("redis_version:{}", crate::REDIS_VERSION);
        line!("redis_git_sha1:00000000");
        line!("redis_git_dirty:0");
        line!("redis_build_id:0");
        line!("redis_mode:standalone");
        line!("os:{}", uname());
        line!("arch_bits:64");
        line!("monotonic_clock:POSIX clock_gettime");
        line!("multiplexing_api:epoll");
        line!("atomicvar_api:c11-builtin");
        line!("gcc_version:0.0.0");
        line!("process_id:{}", std::process::id());
        line!("process_supervised:no");
        line!("run_id:{}", srv.run_id);
        line!("tcp_port:{}", srv.port);
        line!("server_time_usec:{now_us}");
        line!("uptime_in_seconds:{uptime}");
        line!("uptime_in_days:{}", uptime / 86400);
        line!("hz:{hz}");
        line!("configured_hz:{}", cfg.get("hz"));
        line!("lru_clock:{}", (now_us / 1_000_000) & ((1 << 24) - 1));
        line!("executable:{}", srv.executable);
        line!("config_file:{}", srv.config_file.as_deref().unwrap_or(""));
        line!("io_threads_active:0");
    }
    if sections.wants("clients") {
        head(&mut s, "Clients");
        line!("connected_clients:{}", srv.clients.count());
        line!("cluster_connections:0");
        line!("maxclients:{}", srv.config.hot.maxclients.load(Relaxed));
        line!("client_recent_max_input_buffer:0");
        line!("client_recent_max_output_buffer:0");
        line!("blocked_clients:{}", srv.stats.blocked_clients.load(Relaxed));
        line!("tracking_clients:0");
        line!("clients_in_timeout_table:0");
    }
    if sections.wants("memory") {
        head(&mut s, "Memory");
        let rss = rss_memory();
        let maxmemory: u64 = cfg.get("maxmemory").parse().unwrap_or(0);
        // SAFETY: sysconf only reads system constants.
        let total = unsafe { libc::sysconf(libc::_SC_PHYS_PAGES) as u64 * libc::sysconf(libc::_SC_PAGESIZE) as u64 };
        let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        line!("used_memory:{used}");
        line!("used_memory_human:{}", human_bytes(used));
        line!("used_memory_rss:{rss}");
        line!("used_memory_rss_human:{}", human_bytes(rss));
        line!("used_memory_peak:{peak}");
        line!("used_memory_peak_human:{}", human_bytes(peak));
        line!("used_memory_peak_perc:{:.2}%", ratio(used, peak) * 100.0);
        line!("used_memory_overhead:0");
        line!("used_memory_startup:0");
        line!("used_memory_dataset:{used}");
        line!("used_memory_dataset_perc:100.00%");
        line!("allocator_allocated:{used}");
        line!("allocator_active:{used}");
        line!("allocator_resident:{rss}");
        line!("total_system_memory:{total}");
        line!("total_system_memory_human:{}", human_bytes(total));
        // Lua: the workers' eval VMs together, and the shared script cache.
        let vm_eval = srv.scripts.vm_memory();
        let scripts_eval = srv.scripts.cache_memory();
        line!("used_memory_lua:{vm_eval}");
        line!("used_memory_vm_eval:{vm_eval}");
        line!("used_memory_lua_human:{}", human_bytes(vm_eval));
        line!("used_memory_scripts_eval:{scripts_eval}");
        line!("number_of_cached_scripts:{}", srv.scripts.count());
        // Libraries load into the same per-thread VMs as scripts: their VM memory is counted
        // in used_memory_vm_eval.
        let (libraries, functions) = srv.scripts.functions.counts();
        let functions_mem = srv.scripts.functions.memory_overhead();
        line!("number_of_functions:{functions}");
        line!("number_of_libraries:{libraries}");
        line!("used_memory_vm_functions:0");
        line!("used_memory_vm_total:{vm_eval}");
        line!("used_memory_vm_total_human:{}", human_bytes(vm_eval));
        line!("used_memory_functions:{functions_mem}");
        line!("used_memory_scripts:{}", scripts_eval + functions_mem);
        line!(
            "used_memory_scripts_human:{}",
            human_bytes(scripts_eval + functions_mem)
        );
        line!("maxmemory:{maxmemory}");
        line!("maxmemory_human:{}", human_bytes(maxmemory));
        line!("maxmemory_policy:{}", cfg.get("maxmemory-policy"));
        line!("allocator_frag_ratio:1.00");
        line!("allocator_frag_bytes:0");
        line!("allocator_rss_ratio:{:.2}", ratio(rss, used));
        line!("allocator_rss_bytes:{}", rss.saturating_sub(used));
        line!("rss_overhead_ratio:1.00");
        line!("rss_overhead_bytes:0");
        line!("mem_fragmentation_ratio:{:.2}", ratio(rss, used));
        line!("mem_fragmentation_bytes:{}", rss.saturating_sub(used));
        line!("mem_not_counted_for_evict:0");
        line!("mem_replication_backlog:0");
        line!("mem_total_replication_buffers:0");
        line!("mem_clients_slaves:0");
        line!("mem_clients_normal:0");
        line!("mem_cluster_links:0");
        line!("mem_aof_buffer:0");
        line!("mem_allocator:mimalloc");
        line!("active_defrag_running:0");
        line!(
            "lazyfree_pending_objects:{}",
            crate::keyspace::lazyfree::PENDING.load(Relaxed)
        );
        line!("lazyfreed_objects:{}", crate::keyspace::lazyfree::FREED.load(Relaxed));
    }
    if sections.wants("persistence") {
        head(&mut s, "Persistence");
        let loading = srv.rdb.loading();
        line!("loading:{}", loading as u8);
        line!("async_loading:0");
        line!("current_cow_peak:0");
        line!("current_cow_size:0");
        line!("current_cow_size_age:0");
        line!("current_fork_perc:0.00");
        // A running BGSAVE's progress (the keys it has written, and those it holds).
        let (done, total) = if srv.rdb.bgsave_in_progress.load(Relaxed) {
            let p = &srv.rdb.progress;
            (p.keys_done.load(Relaxed), p.keys_total.load(Relaxed))
        } else {
            (0, 0)
        };
        line!("current_save_keys_processed:{done}");
        line!("current_save_keys_total:{total}");
        line!("rdb_changes_since_last_save:{}", srv.stats.dirty.get());
        let rdb = &srv.rdb;
        line!("rdb_bgsave_in_progress:{}", rdb.bgsave_in_progress.load(Relaxed) as u8);
        line!("rdb_last_save_time:{}", srv.last_save.load(Relaxed));
        line!(
            "rdb_last_bgsave_status:{}",
            if rdb.last_bgsave_ok.load(Relaxed) { "ok" } else { "err" }
        );
        line!("rdb_last_bgsave_time_sec:{}", rdb.last_bgsave_secs.load(Relaxed));
        let started = rdb.bgsave_started_ms.load(Relaxed);
        line!(
            "rdb_current_bgsave_time_sec:{}",
            if started > 0 {
                (crate::server::unix_ms() - started) / 1000
            } else {
                -1
            }
        );
        line!("rdb_saves:{}", rdb.saves.load(Relaxed));
        line!("rdb_last_cow_size:{}", rdb.last_cow.load(Relaxed));
        line!("rdb_last_load_keys_expired:{}", rdb.keys_expired_on_load.load(Relaxed));
        line!("rdb_last_load_keys_loaded:{}", rdb.keys_loaded.load(Relaxed));
        s.push_str(&crate::persistence::aof::info(srv, cfg.get("appendonly") == "yes"));
        if loading {
            loading_progress(srv, &mut s);
        }
        line!("module_fork_in_progress:0");
        line!("module_fork_last_cow_size:0");
    }
    if sections.wants("stats") {
        head(&mut s, "Stats");
        let st = &srv.stats;
        let ks = &srv.keyspace.stats;
        line!("total_connections_received:{}", st.connections_received.load(Relaxed));
        line!("total_commands_processed:{}", st.sum(|w| &w.commands));
        line!("instantaneous_ops_per_sec:{}", st.rate(1).round() as u64);
        line!("total_net_input_bytes:{}", st.sum(|w| &w.net_input));
        line!("total_net_output_bytes:{}", st.sum(|w| &w.net_output));
        line!("total_net_repl_input_bytes:0");
        line!("total_net_repl_output_bytes:0");
        line!("instantaneous_input_kbps:{:.2}", st.rate(2) / 1024.0);
        line!("instantaneous_output_kbps:{:.2}", st.rate(3) / 1024.0);
        line!("instantaneous_input_repl_kbps:0.00");
        line!("instantaneous_output_repl_kbps:0.00");
        line!("rejected_connections:{}", st.rejected_connections.load(Relaxed));
        line!("sync_full:0");
        line!("sync_partial_ok:0");
        line!("sync_partial_err:0");
        line!("expired_keys:{}", ks.expired_keys.load(Relaxed));
        line!(
            "expired_stale_perc:{:.2}",
            ks.expired_stale_perc.load(Relaxed) as f64 / 100.0
        );
        line!(
            "expired_time_cap_reached_count:{}",
            st.expired_time_cap_reached.load(Relaxed) + ks.expired_time_cap_reached_count.load(Relaxed)
        );
        line!("expire_cycle_cpu_milliseconds:0");
        let (evicted, over_total, over_now) = super::evict::stats();
        line!("evicted_keys:{evicted}");
        line!("evicted_clients:0");
        line!("total_eviction_exceeded_time:{over_total}");
        line!("current_eviction_exceeded_time:{over_now}");
        line!("keyspace_hits:{}", st.sum(|w| &w.keyspace_hits));
        line!("keyspace_misses:{}", st.sum(|w| &w.keyspace_misses));
        let (channels, patterns, shard_channels) = srv.pubsub.counts();
        line!("pubsub_channels:{channels}");
        line!("pubsub_patterns:{patterns}");
        line!("pubsubshard_channels:{shard_channels}");
        line!("latest_fork_usec:0");
        line!("total_forks:0");
        line!("migrate_cached_sockets:0");
        line!("slave_expires_tracked_keys:0");
        line!("active_defrag_hits:0");
        line!("active_defrag_misses:0");
        line!("active_defrag_key_hits:0");
        line!("active_defrag_key_misses:0");
        line!("total_active_defrag_time:0");
        line!("current_active_defrag_time:0");
        line!("tracking_total_keys:0");
        line!("tracking_total_items:0");
        line!("tracking_total_prefixes:0");
        line!("unexpected_error_replies:{}", st.unexpected_error_replies.load(Relaxed));
        line!("total_error_replies:{}", st.total_error_replies.load(Relaxed));
        line!("dump_payload_sanitizations:0");
        line!("total_reads_processed:{}", st.sum(|w| &w.commands));
        line!("total_writes_processed:{}", st.sum(|w| &w.commands));
        line!("io_threaded_reads_processed:0");
        line!("io_threaded_writes_processed:0");
        line!("reply_buffer_shrinks:0");
        line!("reply_buffer_expands:0");
    }
    if sections.wants("replication") {
        head(&mut s, "Replication");
        let following = crate::replication::replica::info_lines(srv);
        line!("role:{}", if following.is_some() { "slave" } else { "master" });
        for l in following.iter().flatten() {
            line!("{l}");
        }
        let replicas = srv.replicas.info_lines();
        line!("connected_slaves:{}", replicas.len());
        for r in &replicas {
            line!("{r}");
        }
        line!("master_failover_state:no-failover");
        // A replica reports its master's ID and its offset in that master's stream.
        let (replid, offset) = crate::replication::replica::replid_offset(srv).unwrap_or_else(|| {
            (
                srv.run_id.clone(),
                srv.replicas.offset.load(std::sync::atomic::Ordering::Relaxed) as i64,
            )
        });
        line!("master_replid:{replid}");
        line!("master_replid2:0000000000000000000000000000000000000000");
        line!("master_repl_offset:{offset}");
        line!("second_repl_offset:-1");
        line!("repl_backlog_active:0");
        line!("repl_backlog_size:{}", cfg.get("repl-backlog-size"));
        line!("repl_backlog_first_byte_offset:0");
        line!("repl_backlog_histlen:0");
    }
    if sections.wants("cpu") {
        head(&mut s, "CPU");
        let (sys, user) = rusage(libc::RUSAGE_SELF);
        let (csys, cuser) = rusage(libc::RUSAGE_CHILDREN);
        let (tsys, tuser) = rusage(libc::RUSAGE_THREAD);
        line!("used_cpu_sys:{sys}");
        line!("used_cpu_user:{user}");
        line!("used_cpu_sys_children:{csys}");
        line!("used_cpu_user_children:{cuser}");
        line!("used_cpu_sys_main_thread:{tsys}");
        line!("used_cpu_user_main_thread:{tuser}");
    }
    if sections.wants("module_list") || sections.wants("modules") {
        head(&mut s, "Modules");
    }
    if sections.wants("commandstats") || sections.wants("latencystats") {
        let mut cmds: Vec<&crate::commands::Command> = srv.commands.all().collect();
        cmds.sort_by(|a, b| a.full_name.cmp(&b.full_name));
        if sections.wants("commandstats") {
            head(&mut s, "Commandstats");
            for c in &cmds {
                let calls = c.stat(|s| &s.calls);
                let rejected = c.stat(|s| &s.rejected_calls);
                let failed = c.stat(|s| &s.failed_calls);
                if calls == 0 && rejected == 0 && failed == 0 {
                    continue;
                }
                let usec = c.stat(|s| &s.usec);
                let per_call = if calls == 0 { 0.0 } else { usec as f64 / calls as f64 };
                line!(
                    "cmdstat_{}:calls={calls},usec={usec},usec_per_call={per_call:.2},rejected_calls={rejected},failed_calls={failed}",
                    c.full_name
                );
            }
        }
        if sections.wants("errorstats") {
            errorstats(srv, &mut s, &mut head);
        }
        if sections.wants("latencystats") {
            head(&mut s, "Latencystats");
            let percentiles = srv.config.hot.latency_percentiles.read().clone();
            for c in &cmds {
                let Some(h) = srv.stats.histogram(&srv.commands, c.id) else {
                    continue;
                };
                let parts: Vec<String> = percentiles
                    .iter()
                    .map(|p| format!("p{p}={:.3}", h.percentile(*p) as f64 / 1000.0))
                    .collect();
                line!("latency_percentiles_usec_{}:{}", c.full_name, parts.join(","));
            }
        }
    } else if sections.wants("errorstats") {
        errorstats(srv, &mut s, &mut head);
    }
    if sections.wants("cluster") {
        head(&mut s, "Cluster");
        line!("cluster_enabled:0");
    }
    if sections.wants("keyspace") {
        head(&mut s, "Keyspace");
        // While a dataset loads the loader holds every shard lock: no counts until it is done.
        let dbs = if srv.rdb.loading() {
            &[][..]
        } else {
            &srv.keyspace.dbs[..]
        };
        for (i, db) in dbs.iter().enumerate() {
            let keys = db.len();
            if keys > 0 {
                line!("db{i}:keys={keys},expires={},avg_ttl=0", db.volatile());
            }
        }
    }
    let _ = sections.everything;
    s
}

/// INFO's `loading_*` fields while a dataset loads, with Redis's estimate of the time left.
fn loading_progress(srv: &Server, s: &mut String) {
    let rdb = &srv.rdb;
    let (total, loaded) = (
        rdb.loading_total_bytes.load(Relaxed),
        rdb.loading_loaded_bytes.load(Relaxed),
    );
    let start = rdb.loading_start.load(Relaxed);
    let perc = if total > 0 {
        (loaded as f64 / total as f64 * 100.0).min(99.99)
    } else {
        0.0
    };
    let elapsed = (crate::server::unix_ms() / 1000 - start).max(0) as u64;
    // As Redis: a made-up second until something has been read.
    let eta = if elapsed == 0 {
        1
    } else {
        elapsed * total.saturating_sub(loaded) / (loaded + 1)
    };
    let _ = write!(
        s,
        "loading_start_time:{start}\r\nloading_total_bytes:{total}\r\nloading_rdb_used_mem:0\r\nloading_loaded_bytes:{loaded}\r\nloading_loaded_perc:{perc:.2}\r\nloading_eta_seconds:{eta}\r\n"
    );
}

fn errorstats(srv: &Server, s: &mut String, head: &mut impl FnMut(&mut String, &str)) {
    head(s, "Errorstats");
    for (code, count) in srv.stats.errors.lock().iter() {
        let _ = write!(s, "errorstat_{code}:count={count}\r\n");
    }
}
