//! Introspection commands: CLIENT, MONITOR, SLOWLOG, LATENCY, MEMORY, with Redis 7.0's replies
//! and error texts (`networking.c`, `slowlog.c`, `latency.c`, `object.c`).

use super::{container, def, help_reply, CommandDef, Ctx};
use crate::server::stats::LatencyHistogram;
use std::sync::atomic::Ordering::Relaxed;

#[rustfmt::skip]
pub static COMMANDS: &[CommandDef] = &[
    def("monitor", 1, "admin noscript loading stale", (0, 0, 0), "", "server", "1.0.0", "Listen for all requests received by the server in real time", monitor_cmd),
    container("slowlog", "server", "2.2.12", "A container for slow log commands", SLOWLOG),
    container("latency", "server", "2.8.13", "A container for latency diagnostics commands", LATENCY),
    container("memory", "server", "4.0.0", "A container for memory diagnostics commands", MEMORY),
];

#[rustfmt::skip]
static SLOWLOG: &[CommandDef] = &[
    def("get", -2, "admin loading stale", (0, 0, 0), "", "server", "2.2.12", "Get the slow log's entries", slowlog_get),
    def("help", 2, "loading stale", (0, 0, 0), "", "server", "6.2.0", "Show helpful text about the different subcommands", slowlog_help),
    def("len", 2, "admin loading stale", (0, 0, 0), "", "server", "2.2.12", "Get the slow log's length", slowlog_len),
    def("reset", 2, "admin loading stale", (0, 0, 0), "", "server", "2.2.12", "Clear all entries from the slow log", slowlog_reset),
];

#[rustfmt::skip]
static LATENCY: &[CommandDef] = &[
    def("doctor", 2, "admin noscript loading stale", (0, 0, 0), "", "server", "2.8.13", "Return a human readable latency analysis report.", latency_doctor),
    def("graph", 3, "admin noscript loading stale", (0, 0, 0), "", "server", "2.8.13", "Return a latency graph for the event.", latency_graph),
    def("help", 2, "loading stale", (0, 0, 0), "", "server", "2.8.13", "Show helpful text about the different subcommands.", latency_help),
    def("histogram", -2, "admin noscript loading stale", (0, 0, 0), "", "server", "7.0.0", "Return the cumulative distribution of latencies of a subset of commands or all.", latency_histogram),
    def("history", 3, "admin noscript loading stale", (0, 0, 0), "", "server", "2.8.13", "Return timestamp-latency samples for the event.", latency_history),
    def("latest", 2, "admin noscript loading stale", (0, 0, 0), "", "server", "2.8.13", "Return the latest latency samples for all events.", latency_latest),
    def("reset", -2, "admin noscript loading stale", (0, 0, 0), "", "server", "2.8.13", "Reset latency data for one or more events.", latency_reset),
];

#[rustfmt::skip]
static MEMORY: &[CommandDef] = &[
    def("doctor", 2, "", (0, 0, 0), "", "server", "4.0.0", "Outputs memory problems report", memory_doctor),
    def("help", 2, "loading stale", (0, 0, 0), "", "server", "4.0.0", "Show helpful text about the different subcommands", memory_help),
    def("malloc-stats", 2, "", (0, 0, 0), "", "server", "4.0.0", "Show allocator internal stats", memory_malloc_stats),
    def("purge", 2, "", (0, 0, 0), "", "server", "4.0.0", "Ask the allocator to release memory", memory_purge),
    def("stats", 2, "", (0, 0, 0), "", "server", "4.0.0", "Show memory usage details", memory_stats),
    def("usage", -3, "readonly", (2, 2, 1), "", "server", "4.0.0", "Estimate the memory usage of a key", memory_usage),
];

/// MONITOR: from now on the connection receives every command run by any client. A client
/// already monitoring gets no reply, as in Redis.
fn monitor_cmd(ctx: &mut Ctx, _args: &[&[u8]]) {
    if ctx.client.handle.multi.load(Relaxed) >= 0 {
        ctx.out.error("ERR MONITOR isn't allowed for DENY BLOCKING client");
        return;
    }
    if ctx.client.handle.is_monitor.swap(true, Relaxed) {
        return;
    }
    ctx.srv.monitors.add(ctx.client.handle.clone());
    ctx.out.ok();
}

/// The error Redis gives for a known subcommand used with the wrong arguments.
fn subcommand_syntax_error(ctx: &mut Ctx, args: &[&[u8]]) {
    ctx.out.error(&format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
        String::from_utf8_lossy(args[1]),
        String::from_utf8_lossy(args[0]).to_uppercase()
    ));
}

fn slowlog_help(ctx: &mut Ctx, _args: &[&[u8]]) {
    help_reply(
        ctx.out,
        "slowlog",
        &[
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
        ],
    );
}

fn slowlog_get(ctx: &mut Ctx, args: &[&[u8]]) {
    if args.len() > 3 {
        subcommand_syntax_error(ctx, args);
        return;
    }
    let mut count: usize = 10;
    if args.len() == 3 {
        match crate::util::num::parse_i64(args[2]) {
            Some(-1) => count = usize::MAX,
            Some(n) if n >= 0 => count = n as usize,
            _ => {
                ctx.out.error("ERR count should be greater than or equal to -1");
                return;
            }
        }
    }
    let log = ctx.srv.slowlog.entries.lock();
    let n = count.min(log.len());
    let out = &mut *ctx.out;
    out.array(n);
    for e in log.iter().take(n) {
        out.array(6);
        out.int(e.id as i64);
        out.int(e.time);
        out.int(e.duration_us as i64);
        out.array(e.args.len());
        for a in &e.args {
            out.bulk(a);
        }
        out.bulk(e.peer.as_bytes());
        out.bulk(e.name.as_bytes());
    }
}

fn slowlog_len(ctx: &mut Ctx, _args: &[&[u8]]) {
    ctx.out.int(ctx.srv.slowlog.len() as i64);
}

fn slowlog_reset(ctx: &mut Ctx, _args: &[&[u8]]) {
    ctx.srv.slowlog.reset();
    ctx.out.ok();
}

fn latency_help(ctx: &mut Ctx, _args: &[&[u8]]) {
    help_reply(
        ctx.out,
        "latency",
        &[
            "DOCTOR",
            "    Return a human readable latency analysis report.",
            "GRAPH <event>",
            "    Return an ASCII latency graph for the <event> class.",
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
            "HISTOGRAM [COMMAND ...]",
            "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
            "    If no commands are specified then all histograms are replied.",
        ],
    );
}

fn latency_latest(ctx: &mut Ctx, _args: &[&[u8]]) {
    let events = ctx.srv.latency.events.lock();
    let out = &mut *ctx.out;
    out.array(events.len());
    for (name, e) in events.iter() {
        let (t, ms) = e.samples.back().copied().unwrap_or((0, 0));
        out.array(4);
        out.bulk(name.as_bytes());
        out.int(t);
        out.int(ms as i64);
        out.int(e.max as i64);
    }
}

fn latency_history(ctx: &mut Ctx, args: &[&[u8]]) {
    let events = ctx.srv.latency.events.lock();
    let out = &mut *ctx.out;
    match events.get(String::from_utf8_lossy(args[2]).as_ref()) {
        None => out.array(0),
        Some(e) => {
            out.array(e.samples.len());
            for (t, ms) in &e.samples {
                out.array(2);
                out.int(*t);
                out.int(*ms as i64);
            }
        }
    }
}

fn latency_reset(ctx: &mut Ctx, args: &[&[u8]]) {
    let n = ctx.srv.latency.reset(&args[2..]);
    ctx.out.int(n as i64);
}

/// An ASCII chart of an event's samples: a header, a rule, and one column per sample whose
/// height follows the latency (a simpler drawing than Redis's sparkline, same information).
fn latency_graph(ctx: &mut Ctx, args: &[&[u8]]) {
    let name = String::from_utf8_lossy(args[2]).into_owned();
    let events = ctx.srv.latency.events.lock();
    let Some(e) = events.get(&name) else {
        drop(events);
        ctx.out.error(&format!("ERR No samples available for event '{name}'"));
        return;
    };
    let max = e.samples.iter().map(|s| s.1).max().unwrap_or(0);
    let min = e.samples.iter().map(|s| s.1).min().unwrap_or(0);
    let mut g = format!("{name} - high {max} ms, low {min} ms (all time high {} ms)\n", e.max);
    g.push_str(&"-".repeat(80));
    g.push('\n');
    const ROWS: u64 = 4;
    let cols: Vec<&(i64, u64)> = e
        .samples
        .iter()
        .rev()
        .take(80)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    for row in (1..=ROWS).rev() {
        let line: String = cols
            .iter()
            .map(|(_, ms)| {
                let h = if max == 0 { 0 } else { (ms * ROWS).div_ceil(max) };
                if h >= row {
                    '#'
                } else if h + 1 == row {
                    '_'
                } else {
                    ' '
                }
            })
            .collect();
        g.push_str(line.trim_end());
        g.push('\n');
    }
    let now = ctx.now_ms / 1000;
    let labels: Vec<String> = cols
        .iter()
        .map(|(t, _)| {
            let ago = (now - t).max(0);
            match ago {
                a if a < 60 => format!("{a}s"),
                a if a < 3600 => format!("{}m", a / 60),
                a if a < 86400 => format!("{}h", a / 3600),
                a => format!("{}d", a / 86400),
            }
        })
        .collect();
    let width = labels.iter().map(|l| l.len()).max().unwrap_or(0);
    for i in 0..width {
        let line: String = labels.iter().map(|l| l.chars().nth(i).unwrap_or(' ')).collect();
        g.push_str(line.trim_end());
        g.push('\n');
    }
    drop(events);
    ctx.out.verbatim(g.as_bytes());
}

fn latency_doctor(ctx: &mut Ctx, _args: &[&[u8]]) {
    let threshold = ctx.srv.config.hot.latency_monitor_threshold.load(Relaxed);
    let events = ctx.srv.latency.events.lock();
    let mut r = String::new();
    if threshold == 0 && events.is_empty() {
        r.push_str("I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n");
    } else if events.is_empty() {
        r.push_str("Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n");
    } else {
        r.push_str("Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n");
        for (i, (name, e)) in events.iter().enumerate() {
            let n = e.samples.len().max(1) as u64;
            let avg = e.samples.iter().map(|s| s.1).sum::<u64>() / n;
            let mad = e.samples.iter().map(|s| s.1.abs_diff(avg)).sum::<u64>() / n;
            let period = match (e.samples.front(), e.samples.back()) {
                (Some(a), Some(b)) => (b.0 - a.0) as f64 / n as f64,
                _ => 0.0,
            };
            r.push_str(&format!(
                "{}. {name}: {} latency spikes (average {avg}ms, mean deviation {mad}ms, period {period:.2} sec). Worst all time event {}ms.\n",
                i + 1,
                e.samples.len(),
                e.max
            ));
        }
        r.push_str("\nI have a few advices for you:\n\n");
        r.push_str("- Check your Slow Log to understand what are the commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog for more information.\n");
        r.push_str("- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking operation. If you have very large objects that are often deleted, expired, or evicted, try to fragment those objects into multiple smaller objects.\n");
    }
    drop(events);
    ctx.out.verbatim(r.as_bytes());
}

/// Writes one command's entry of LATENCY HISTOGRAM: `{calls, histogram_usec: {bucket: count}}`.
fn write_histogram(out: &mut crate::protocol::reply::Reply, name: &str, h: &LatencyHistogram) {
    out.bulk(name.as_bytes());
    out.map(2);
    out.bulk(b"calls");
    out.int(h.count() as i64);
    out.bulk(b"histogram_usec");
    let cdf = h.cdf_usec();
    out.map(cdf.len());
    for (us, n) in cdf {
        out.int(us as i64);
        out.int(n as i64);
    }
}

/// LATENCY HISTOGRAM [command ...]: per-command latency distributions of the commands that
/// ran since the last CONFIG RESETSTAT; a container name stands for its subcommands.
fn latency_histogram(ctx: &mut Ctx, args: &[&[u8]]) {
    let srv = ctx.srv;
    let mut picked: Vec<&crate::commands::Command> = Vec::new();
    if args.len() == 2 {
        picked.extend(srv.commands.all());
    } else {
        for a in &args[2..] {
            let Some(c) = super::command::lookup_full(srv, a) else {
                continue;
            };
            if c.subcommands.is_empty() {
                picked.push(c);
            } else {
                picked.extend(c.subcommands.values());
            }
        }
    }
    picked.sort_by(|a, b| a.full_name.cmp(&b.full_name));
    picked.dedup_by(|a, b| a.id == b.id);
    let found: Vec<(&str, LatencyHistogram)> = picked
        .iter()
        .filter_map(|c| {
            srv.stats
                .histogram(&srv.commands, c.id)
                .map(|h| (c.full_name.as_str(), h))
        })
        .collect();
    ctx.out.map(found.len());
    for (name, h) in found {
        write_histogram(ctx.out, name, &h);
    }
}

fn memory_help(ctx: &mut Ctx, _args: &[&[u8]]) {
    help_reply(
        ctx.out,
        "memory",
        &[
            "DOCTOR",
            "    Return memory problems reports.",
            "MALLOC-STATS",
            "    Return internal statistics report from the memory allocator.",
            "PURGE",
            "    Attempt to purge dirty pages for reclamation by the allocator.",
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
        ],
    );
}

/// Bytes an allocation of `n` bytes really takes (allocator size classes of 8/16 bytes).
fn alloc_size(n: usize) -> usize {
    if n <= 64 {
        n.div_ceil(8) * 8
    } else {
        n.div_ceil(16) * 16
    }
}

/// MEMORY USAGE key [SAMPLES n]: the key's bytes as Redis estimates them (hash table entry,
/// key string, value object).
fn memory_usage(ctx: &mut Ctx, args: &[&[u8]]) {
    let mut j = 3;
    while j < args.len() {
        if args[j].eq_ignore_ascii_case(b"samples") && j + 1 < args.len() {
            match crate::util::num::parse_i64(args[j + 1]) {
                Some(n) if n >= 0 => {}
                Some(_) => {
                    ctx.out.syntax_error();
                    return;
                }
                None => {
                    ctx.out.not_integer();
                    return;
                }
            }
            j += 2;
        } else {
            ctx.out.syntax_error();
            return;
        }
    }
    let db = ctx.db();
    let mut shard = db.lock(args[2]);
    let size = match shard.get(args[2], ctx.now_ms, ctx.ks_stats()) {
        None => None,
        Some(e) => {
            use crate::keyspace::Value;
            let value = match &e.value {
                Value::Int(_) => 16,
                Value::Small(sm) => alloc_size(16 + 3 + sm.as_bytes().len() + 1),
                Value::Str(b) => alloc_size(16 + 3 + b.len() + 1),
                Value::Raw(v) => 16 + alloc_size(v.capacity() + 3 + 1),
                v => 16 + v.memory(),
            };
            Some(24 + alloc_size(args[2].len() + 3 + 1) + value)
        }
    };
    drop(shard);
    match size {
        Some(n) => ctx.out.int(n as i64),
        None => ctx.out.null(),
    }
}

fn memory_doctor(ctx: &mut Ctx, _args: &[&[u8]]) {
    let used = crate::server::info::used_memory();
    let text = if used < 5 * 1024 * 1024 {
        "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting."
    } else {
        "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base."
    };
    ctx.out.verbatim(text.as_bytes());
}

fn memory_malloc_stats(ctx: &mut Ctx, _args: &[&[u8]]) {
    let used = crate::server::info::used_memory();
    let rss = crate::server::info::rss_memory();
    let text = format!("Stats not supported for the current allocator (mimalloc): allocated={used} resident={rss}\n");
    ctx.out.verbatim(text.as_bytes());
}

fn memory_purge(ctx: &mut Ctx, _args: &[&[u8]]) {
    ctx.out.ok();
}

/// MEMORY STATS: the fields Redis reports, with Ochre's figures where it has them.
fn memory_stats(ctx: &mut Ctx, _args: &[&[u8]]) {
    let srv = ctx.srv;
    let used = crate::server::info::used_memory();
    let peak = srv.stats.used_memory_peak.load(Relaxed).max(used);
    let rss = crate::server::info::rss_memory();
    let startup = 0u64;
    let dbs: Vec<(usize, usize, usize)> = srv
        .keyspace
        .dbs
        .iter()
        .enumerate()
        .filter(|(_, d)| !d.is_empty())
        .map(|(i, d)| (i, d.len(), d.volatile()))
        .collect();
    let keys: usize = dbs.iter().map(|d| d.1).sum();
    let overhead_db: u64 = dbs.iter().map(|d| (d.1 * 32 + d.2 * 32) as u64).sum();
    let clients = srv.clients.count() as u64 * 20 * 1024;
    let overhead = startup + clients + overhead_db;
    let dataset = used.saturating_sub(overhead);
    let out = &mut *ctx.out;
    out.map(28 + dbs.len());
    let pair_int = |out: &mut crate::protocol::reply::Reply, k: &str, v: u64| {
        out.bulk(k.as_bytes());
        out.int(v as i64);
    };
    let pair_f = |out: &mut crate::protocol::reply::Reply, k: &str, v: f64| {
        out.bulk(k.as_bytes());
        out.double(v);
    };
    pair_int(out, "peak.allocated", peak);
    pair_int(out, "total.allocated", used);
    pair_int(out, "startup.allocated", startup);
    pair_int(out, "replication.backlog", 0);
    pair_int(out, "clients.slaves", 0);
    pair_int(out, "clients.normal", clients);
    pair_int(out, "cluster.links", 0);
    pair_int(out, "aof.buffer", 0);
    pair_int(out, "lua.caches", 0);
    pair_int(out, "functions.caches", 0);
    for (i, k, v) in &dbs {
        out.bulk(format!("db.{i}").as_bytes());
        out.map(2);
        pair_int(out, "overhead.hashtable.main", (*k * 32) as u64);
        pair_int(out, "overhead.hashtable.expires", (*v * 32) as u64);
    }
    pair_int(out, "overhead.hashtable.slot-to-keys", 0);
    pair_int(out, "overhead.total", overhead);
    pair_int(out, "keys.count", keys as u64);
    pair_int(out, "keys.bytes-per-key", if keys > 0 { used / keys as u64 } else { 0 });
    pair_int(out, "dataset.bytes", dataset);
    let pct = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 * 100.0 / b as f64 };
    pair_f(out, "dataset.percentage", pct(dataset, used.saturating_sub(startup)));
    pair_f(out, "peak.percentage", pct(used, peak));
    pair_int(out, "allocator.allocated", used);
    pair_int(out, "allocator.active", used);
    pair_int(out, "allocator.resident", rss);
    pair_f(out, "allocator-fragmentation.ratio", 1.0);
    pair_int(out, "allocator-fragmentation.bytes", 0);
    pair_f(
        out,
        "allocator-rss.ratio",
        if used > 0 { rss as f64 / used as f64 } else { 1.0 },
    );
    pair_int(out, "allocator-rss.bytes", rss.saturating_sub(used));
    pair_f(out, "rss-overhead.ratio", 1.0);
    pair_int(out, "rss-overhead.bytes", 0);
    pair_f(
        out,
        "fragmentation",
        if used > 0 { rss as f64 / used as f64 } else { 1.0 },
    );
    pair_int(out, "fragmentation.bytes", rss.saturating_sub(used));
}
