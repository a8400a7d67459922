//! Configuration: the directive table (`config_table.rs`), parsing of redis.conf files and
//! `--directive value` flags, and the CONFIG GET/SET semantics, all with Redis's error texts.
//!
//! Values are kept in their canonical text form (what CONFIG GET prints). Directives read on the
//! request path are mirrored into atomics ([`Hot`]) whenever a value changes.

use super::config_table::DIRECTIVES;
use crate::util::glob::glob_match;
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, Ordering::Relaxed};

/// A directive's type, with its limits.
#[derive(Clone, Copy, Debug)]
pub enum Type {
    Bool,
    Str,
    Int(i64, i64),
    /// An integer that may carry a unit (`1mb`, `64k`).
    Memory(i64, i64),
    /// A memory value or a percentage (`10%`, stored negative as Redis does).
    MemoryPercent(i64, i64),
    /// Octal (`unixsocketperm 700`).
    Octal(i64, i64),
    /// One of a space-separated list of names.
    Enum(&'static str),
    /// A directive with its own syntax (save, bind, client-output-buffer-limit...).
    Special,
}

/// One row of the directive table.
pub struct Directive {
    pub name: &'static str,
    pub alias: &'static str,
    pub ty: Type,
    /// Space-separated: immutable protected sensitive multiarg hidden denyloading.
    pub flags: &'static str,
    pub default: &'static str,
}

impl Directive {
    fn has(&self, flag: &str) -> bool {
        self.flags.split(' ').any(|f| f == flag)
    }
}

/// Values read on the request path.
pub struct Hot {
    pub proto_max_bulk_len: AtomicI64,
    pub client_query_buffer_limit: AtomicI64,
    pub maxclients: AtomicI64,
    pub requirepass: RwLock<Option<Vec<u8>>>,
    pub slowlog_log_slower_than: AtomicI64,
    pub slowlog_max_len: AtomicI64,
    pub latency_monitor_threshold: AtomicI64,
    pub hz: AtomicI64,
    pub active_expire_effort: AtomicI64,
    pub protected_mode: AtomicBool,
    pub enable_debug_command: AtomicBool,
    pub timeout: AtomicI64,
    pub latency_tracking: AtomicBool,
    /// `maxmemory` in bytes (0 = no limit).
    pub maxmemory: AtomicI64,
    /// `maxmemory-samples`, `maxmemory-eviction-tenacity`, `lazyfree-lazy-eviction` (the policy
    /// itself and the LFU knobs live in `keyspace::evict`, which lookups read).
    pub maxmemory_samples: AtomicI64,
    pub maxmemory_eviction_tenacity: AtomicI64,
    pub lazyfree_lazy_eviction: AtomicBool,
    /// `busy-reply-threshold` (alias `lua-time-limit`) in ms: a script running longer makes
    /// other clients get BUSY (read by the script's instruction hook).
    pub busy_reply_threshold: AtomicI64,
    /// `latency-tracking-info-percentiles`, parsed (INFO latencystats).
    pub latency_percentiles: RwLock<Vec<f64>>,
    /// `notify-keyspace-events` as flags (`server::notify`).
    pub notify_keyspace_events: AtomicU32,
    /// `client-output-buffer-limit` of the normal and pubsub classes: hard, soft, soft seconds.
    pub obuf_normal: [AtomicI64; 3],
    pub obuf_pubsub: [AtomicI64; 3],
    /// `min-replicas-to-write` and `min-replicas-max-lag` (0: no minimum).
    pub min_replicas_to_write: AtomicI64,
    pub min_replicas_max_lag: AtomicI64,
}

pub struct Config {
    values: RwLock<HashMap<&'static str, String>>,
    pub hot: Hot,
    /// Whether the server was started with a config file (protected-config checks use it).
    pub rename: RwLock<HashMap<String, String>>,
}

/// An error while loading configuration: line number (1-based, 0 = none), line text, reason.
pub struct LoadError {
    pub line: usize,
    pub text: String,
    pub reason: String,
}

pub fn lookup(name: &str) -> Option<&'static Directive> {
    let lname = name.to_ascii_lowercase();
    DIRECTIVES
        .iter()
        .find(|d| d.name == lname || (!d.alias.is_empty() && d.alias == lname))
}

/// Parses a memory value the way Redis's `memtoull` does: digits with an optional unit
/// (b, k, kb, m, mb, g, gb; case-insensitive). `1k` is 1000, `1kb` is 1024.
pub fn parse_memory(s: &str) -> Option<i64> {
    let lower = s.to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '-'))
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(digits_end);
    let mul: i64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    let n: i64 = num.parse().ok()?;
    n.checked_mul(mul)
}

fn normalize_bool(v: &str) -> Result<String, String> {
    match v.to_ascii_lowercase().as_str() {
        "yes" => Ok("yes".into()),
        "no" => Ok("no".into()),
        _ => Err("argument must be 'yes' or 'no'".into()),
    }
}

fn range_err(min: i64, max: i64) -> String {
    format!("argument must be between {min} and {max} inclusive")
}

/// Validates `args` for directive `d` and returns the canonical stored value.
/// `current` is the present value (some multi-argument directives merge into it).
fn normalize(d: &Directive, args: &[String], from_file_append: bool, current: &str) -> Result<String, String> {
    let one = || -> Result<&String, String> {
        if args.len() != 1 {
            Err("wrong number of arguments".into())
        } else {
            Ok(&args[0])
        }
    };
    match d.ty {
        Type::Bool => normalize_bool(one()?),
        Type::Str => Ok(one()?.clone()),
        Type::Int(min, max) => {
            let v = one()?;
            let n: i64 = crate::util::num::parse_i64(v.as_bytes())
                .ok_or_else(|| "argument couldn't be parsed into an integer".to_string())?;
            if n < min || n > max {
                return Err(range_err(min, max));
            }
            Ok(n.to_string())
        }
        Type::Memory(min, max) => {
            let v = one()?;
            let n = parse_memory(v).ok_or_else(|| "argument must be a memory value".to_string())?;
            if n < min || n > max {
                return Err(range_err(min, max));
            }
            Ok(n.to_string())
        }
        Type::MemoryPercent(min, max) => {
            let v = one()?;
            if let Some(p) = v.strip_suffix('%') {
                let n: i64 = p
                    .parse()
                    .map_err(|_| "argument must be a memory or percent value".to_string())?;
                if n < 0 {
                    return Err("argument must be a memory or percent value".into());
                }
                if -n < min {
                    return Err(format!("percentage argument must be less or equal to {}", -min));
                }
                return Ok(format!("{n}%"));
            }
            let n = parse_memory(v).ok_or_else(|| "argument must be a memory or percent value".to_string())?;
            if n < min || n > max {
                return Err(range_err(min, max));
            }
            Ok(n.to_string())
        }
        Type::Octal(min, max) => {
            let v = one()?;
            let n = i64::from_str_radix(v, 8).map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
            if n < min || n > max {
                return Err(range_err(min, max));
            }
            Ok(format!("{n:o}"))
        }
        Type::Enum(names) => {
            let allowed: Vec<&str> = names.split(' ').collect();
            if d.has("multiarg") {
                // shutdown-on-sig*: a combination of flags, printed in the table's order as
                // Redis's `configEnumGetName` does.
                let bad = || format!("argument(s) must be one of the following: {}", allowed.join(", "));
                if args.is_empty() || (args.len() == 1 && args[0].is_empty()) {
                    return Err(bad());
                }
                let mut picked = vec![false; allowed.len()];
                for a in args {
                    let l = a.to_ascii_lowercase();
                    match allowed.iter().position(|x| *x == l) {
                        Some(i) => picked[i] = true,
                        None => return Err(bad()),
                    }
                }
                let out: Vec<&str> = allowed
                    .iter()
                    .zip(&picked)
                    .filter(|(_, p)| **p)
                    .map(|(n, _)| *n)
                    .collect();
                return Ok(out.join(" "));
            }
            let v = one()?.to_ascii_lowercase();
            if allowed.contains(&v.as_str()) {
                Ok(v)
            } else {
                Err(format!(
                    "argument(s) must be one of the following: {}",
                    allowed.join(", ")
                ))
            }
        }
        Type::Special => normalize_special(d.name, args, from_file_append, current),
    }
}

fn normalize_special(name: &str, args: &[String], append: bool, current: &str) -> Result<String, String> {
    match name {
        "save" => {
            // `save ""`, or a bare `save` line in a config file, clears the rules (as Redis).
            if args.is_empty() || (args.len() == 1 && args[0].is_empty()) {
                return Ok(String::new());
            }
            if !args.len().is_multiple_of(2) || args.is_empty() {
                return Err("Invalid save parameters".into());
            }
            for a in args {
                if a.parse::<i64>().map(|n| n < 0).unwrap_or(true) {
                    return Err("Invalid save parameters".into());
                }
            }
            let new = args
                .iter()
                .map(|a| a.parse::<i64>().unwrap_or(0).to_string())
                .collect::<Vec<_>>()
                .join(" ");
            if append && !current.is_empty() {
                Ok(format!("{current} {new}"))
            } else {
                Ok(new)
            }
        }
        "client-output-buffer-limit" => {
            if !args.len().is_multiple_of(4) || args.is_empty() {
                return Err("Wrong number of arguments in buffer limit configuration.".into());
            }
            let mut classes: Vec<(String, [i64; 3])> = Vec::new();
            let cur: Vec<&str> = current.split_whitespace().collect();
            for c in cur.chunks(4) {
                if c.len() == 4 {
                    let v = [
                        c[1].parse().unwrap_or(0),
                        c[2].parse().unwrap_or(0),
                        c[3].parse().unwrap_or(0),
                    ];
                    classes.push((c[0].to_string(), v));
                }
            }
            for c in args.chunks(4) {
                let class = match c[0].to_ascii_lowercase().as_str() {
                    "normal" => "normal",
                    "slave" | "replica" => "slave",
                    "pubsub" => "pubsub",
                    _ => return Err("Invalid client class specified in buffer limit configuration.".into()),
                };
                let hard = parse_memory(&c[1]);
                let soft = parse_memory(&c[2]);
                let secs = c[3].parse::<i64>().ok();
                let (Some(h), Some(s), Some(t)) = (hard, soft, secs) else {
                    return Err("Error in hard, soft or soft_seconds setting in buffer limit configuration.".into());
                };
                if h < 0 || s < 0 || t < 0 {
                    return Err("Error in hard, soft or soft_seconds setting in buffer limit configuration.".into());
                }
                if let Some(e) = classes.iter_mut().find(|(n, _)| n == class) {
                    e.1 = [h, s, t];
                } else {
                    classes.push((class.to_string(), [h, s, t]));
                }
            }
            Ok(classes
                .iter()
                .map(|(n, v)| format!("{n} {} {} {}", v[0], v[1], v[2]))
                .collect::<Vec<_>>()
                .join(" "))
        }
        "notify-keyspace-events" => {
            if args.len() != 1 {
                return Err("wrong number of arguments".into());
            }
            keyspace_events_normalize(&args[0])
                .ok_or_else(|| "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".into())
        }
        "bind" => {
            if args.len() > 16 {
                return Err("Too many bind addresses specified.".into());
            }
            if args.is_empty() {
                return Err("wrong number of arguments".into());
            }
            // `bind ""` is not valid, but a single empty string from CONFIG SET means none.
            Ok(args.join(" "))
        }
        "dir" => {
            if args.len() != 1 {
                return Err("wrong number of arguments".into());
            }
            std::env::set_current_dir(&args[0]).map_err(|e| {
                let s = e.to_string();
                s.split(" (os error").next().unwrap_or(&s).to_string()
            })?;
            Ok(std::env::current_dir()
                .map(|p| p.display().to_string())
                .unwrap_or_default())
        }
        "replicaof" => {
            if args.len() != 2 {
                return Err("wrong number of arguments".into());
            }
            if args[0].eq_ignore_ascii_case("no") && args[1].eq_ignore_ascii_case("one") {
                return Ok(String::new());
            }
            let port: i64 = args[1].parse().map_err(|_| "Invalid master port".to_string())?;
            if !(0..=65535).contains(&port) {
                return Err("Invalid master port".into());
            }
            Ok(format!("{} {}", args[0], port))
        }
        "oom-score-adj-values" => {
            if args.len() != 3 {
                return Err("wrong number of arguments".into());
            }
            for a in args {
                let n: i64 = a.parse().map_err(|_| "Invalid oom-score-adj-values".to_string())?;
                if !(-2000..=2000).contains(&n) {
                    return Err("Invalid oom-score-adj-values".into());
                }
            }
            Ok(args.join(" "))
        }
        "latency-tracking-info-percentiles" => {
            let mut out = Vec::new();
            for a in args {
                if a.is_empty() && args.len() == 1 {
                    return Ok(String::new());
                }
                let v: f64 = a
                    .parse()
                    .map_err(|_| "Invalid latency-tracking-info-percentiles parameters".to_string())?;
                if !(0.0..=100.0).contains(&v) {
                    return Err("Invalid latency-tracking-info-percentiles parameters".into());
                }
                // Redis prints these with "%f" and trims trailing zeros: 99.9, 50.
                out.push(format!("{v}"));
            }
            Ok(out.join(" "))
        }
        _ => Ok(args.join(" ")),
    }
}

/// Validates a notify-keyspace-events class string and returns it in Redis's canonical form.
pub fn keyspace_events_normalize(s: &str) -> Option<String> {
    super::notify::parse(s.as_bytes()).map(super::notify::to_string)
}

impl Config {
    /// A configuration with every directive at its default.
    pub fn defaults() -> Config {
        let mut values = HashMap::new();
        for d in DIRECTIVES {
            values.insert(d.name, d.default.to_string());
        }
        let cwd = std::env::current_dir()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        values.insert("dir", cwd);
        let cfg = Config {
            values: RwLock::new(values),
            hot: Hot {
                proto_max_bulk_len: AtomicI64::new(0),
                client_query_buffer_limit: AtomicI64::new(0),
                maxclients: AtomicI64::new(0),
                requirepass: RwLock::new(None),
                slowlog_log_slower_than: AtomicI64::new(0),
                slowlog_max_len: AtomicI64::new(0),
                latency_monitor_threshold: AtomicI64::new(0),
                hz: AtomicI64::new(10),
                active_expire_effort: AtomicI64::new(1),
                protected_mode: AtomicBool::new(true),
                enable_debug_command: AtomicBool::new(false),
                timeout: AtomicI64::new(0),
                latency_tracking: AtomicBool::new(true),
                maxmemory: AtomicI64::new(0),
                maxmemory_samples: AtomicI64::new(5),
                maxmemory_eviction_tenacity: AtomicI64::new(10),
                lazyfree_lazy_eviction: AtomicBool::new(false),
                busy_reply_threshold: AtomicI64::new(5000),
                latency_percentiles: RwLock::new(Vec::new()),
                notify_keyspace_events: AtomicU32::new(0),
                obuf_normal: Default::default(),
                obuf_pubsub: Default::default(),
                min_replicas_to_write: AtomicI64::new(0),
                min_replicas_max_lag: AtomicI64::new(10),
            },
            rename: RwLock::new(HashMap::new()),
        };
        cfg.refresh_hot();
        cfg
    }

    pub fn get(&self, name: &str) -> String {
        self.values.read().get(name).cloned().unwrap_or_default()
    }

    pub fn get_i64(&self, name: &str) -> i64 {
        self.get(name).parse().unwrap_or(0)
    }

    pub fn get_bool(&self, name: &str) -> bool {
        self.get(name) == "yes"
    }

    fn refresh_hot(&self) {
        let h = &self.hot;
        h.proto_max_bulk_len.store(self.get_i64("proto-max-bulk-len"), Relaxed);
        h.client_query_buffer_limit
            .store(self.get_i64("client-query-buffer-limit"), Relaxed);
        h.maxclients.store(self.get_i64("maxclients"), Relaxed);
        let pass = self.get("requirepass");
        *h.requirepass.write() = if pass.is_empty() { None } else { Some(pass.into_bytes()) };
        h.slowlog_log_slower_than
            .store(self.get_i64("slowlog-log-slower-than"), Relaxed);
        h.slowlog_max_len.store(self.get_i64("slowlog-max-len"), Relaxed);
        h.latency_monitor_threshold
            .store(self.get_i64("latency-monitor-threshold"), Relaxed);
        h.hz.store(self.get_i64("hz").clamp(1, 500), Relaxed);
        h.active_expire_effort
            .store(self.get_i64("active-expire-effort"), Relaxed);
        h.protected_mode.store(self.get_bool("protected-mode"), Relaxed);
        let dbg = self.get("enable-debug-command");
        h.enable_debug_command.store(dbg == "yes" || dbg == "local", Relaxed);
        h.timeout.store(self.get_i64("timeout"), Relaxed);
        h.latency_tracking.store(self.get_bool("latency-tracking"), Relaxed);
        h.maxmemory.store(self.get_i64("maxmemory"), Relaxed);
        h.maxmemory_samples.store(self.get_i64("maxmemory-samples"), Relaxed);
        h.maxmemory_eviction_tenacity
            .store(self.get_i64("maxmemory-eviction-tenacity"), Relaxed);
        h.lazyfree_lazy_eviction
            .store(self.get_bool("lazyfree-lazy-eviction"), Relaxed);
        crate::keyspace::evict::configure(
            crate::keyspace::evict::Policy::parse(&self.get("maxmemory-policy")),
            self.get_i64("lfu-log-factor"),
            self.get_i64("lfu-decay-time"),
        );
        h.busy_reply_threshold
            .store(self.get_i64("busy-reply-threshold"), Relaxed);
        h.min_replicas_to_write
            .store(self.get_i64("min-replicas-to-write"), Relaxed);
        h.min_replicas_max_lag
            .store(self.get_i64("min-replicas-max-lag"), Relaxed);
        super::crash::configure(
            self.get_i64("watchdog-period"),
            self.get_bool("crash-log-enabled"),
            self.get_bool("use-exit-on-panic"),
            self.get_i64("hz"),
        );
        *h.latency_percentiles.write() = self
            .get("latency-tracking-info-percentiles")
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
        let events = super::notify::parse(self.get("notify-keyspace-events").as_bytes()).unwrap_or(0);
        h.notify_keyspace_events.store(events, Relaxed);
        // Without K or E nothing is published, whatever the classes.
        let publishing = events & (super::notify::KEYSPACE | super::notify::KEYEVENT) != 0;
        crate::keyspace::EVENT_FLAGS.store(if publishing { events } else { 0 }, Relaxed);
        let limits = self.get("client-output-buffer-limit");
        let words: Vec<&str> = limits.split_whitespace().collect();
        for c in words.chunks(4) {
            let slot = match c.first() {
                Some(&"normal") => &h.obuf_normal,
                Some(&"pubsub") => &h.obuf_pubsub,
                _ => continue,
            };
            for (i, a) in slot.iter().enumerate() {
                a.store(c.get(i + 1).and_then(|v| v.parse().ok()).unwrap_or(0), Relaxed);
            }
        }
        super::log::set_level(&self.get("loglevel"));
        crate::types::LIMITS.refresh(|name| self.get_i64(name));
    }

    /// Applies one directive while loading (file or command line). Multiple `save` lines add up.
    fn load_directive(&self, args: &[String], saves_seen: &mut bool) -> Result<(), String> {
        let name = args[0].to_ascii_lowercase();
        let Some(d) = lookup(&name) else {
            return match name.as_str() {
                // Accepted for compatibility; handled elsewhere or not applicable.
                "rename-command" if args.len() == 3 => {
                    self.rename
                        .write()
                        .insert(args[1].to_ascii_lowercase(), args[2].to_ascii_lowercase());
                    Ok(())
                }
                "user" if args.len() >= 2 => Ok(()),
                "loadmodule" if args.len() >= 2 => Ok(()),
                "list-max-ziplist-entries" | "list-max-ziplist-value" | "lua-replicate-commands" if args.len() == 2 => {
                    Ok(())
                }
                "sentinel" => Err("sentinel directive while not in sentinel mode".into()),
                _ => Err("Bad directive or wrong number of arguments".into()),
            };
        };
        let multi = d.has("multiarg");
        if !multi && args.len() != 2 {
            return Err("wrong number of arguments".into());
        }
        let mut vals: Vec<String> = args[1..].to_vec();
        if multi && vals.len() == 1 && !vals[0].is_empty() {
            vals = crate::protocol::parser::split_owned(vals[0].as_bytes())
                .map_err(|_| "Unbalanced quotes in configuration line".to_string())?
                .into_iter()
                .map(|v| String::from_utf8_lossy(&v).into_owned())
                .collect();
        }
        let append = d.name == "save" && *saves_seen;
        let current = self.get(d.name);
        let v = normalize(d, &vals, append, &current)?;
        if d.name == "save" {
            *saves_seen = true;
        }
        self.values.write().insert(d.name, v);
        Ok(())
    }

    /// Loads a config text (a file's contents, or the command-line options joined as lines).
    pub fn load_text(&self, text: &str, base: Option<&str>, saves_seen: &mut bool) -> Result<(), LoadError> {
        for (i, raw) in text.split('\n').enumerate() {
            let line = raw.trim_matches(|c| c == ' ' || c == '\t' || c == '\r' || c == '\n');
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |reason: String| LoadError {
                line: i + 1,
                text: line.to_string(),
                reason,
            };
            let args: Vec<String> = match crate::protocol::parser::split_owned(line.as_bytes()) {
                Ok(a) => a
                    .into_iter()
                    .map(|v| String::from_utf8_lossy(&v).into_owned())
                    .collect(),
                Err(_) => return Err(err("Unbalanced quotes in configuration line".into())),
            };
            if args.is_empty() {
                continue;
            }
            if args[0].eq_ignore_ascii_case("include") && args.len() == 2 {
                let path = match base {
                    Some(b) if !args[1].starts_with('/') => {
                        let _ = b;
                        args[1].clone()
                    }
                    _ => args[1].clone(),
                };
                let content = std::fs::read_to_string(&path)
                    .map_err(|e| err(format!("Fatal error, can't open config file '{path}': {}", io_text(&e))))?;
                self.load_text(&content, Some(&path), saves_seen)?;
                continue;
            }
            self.load_directive(&args, saves_seen).map_err(err)?;
        }
        self.refresh_hot();
        Ok(())
    }

    /// CONFIG GET: every (name, value) whose name matches one of the patterns. Aliases match too
    /// and are reported under the alias name, as Redis does.
    pub fn get_matching(&self, patterns: &[&[u8]]) -> Vec<(String, String)> {
        let vals = self.values.read();
        let mut out: Vec<(String, String)> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for p in patterns {
            let plain = !p.iter().any(|c| matches!(c, b'*' | b'?' | b'['));
            for d in DIRECTIVES {
                if d.has("hidden") && !plain {
                    continue;
                }
                for name in [d.name, d.alias] {
                    if name.is_empty() {
                        continue;
                    }
                    let hit = if plain {
                        p.eq_ignore_ascii_case(name.as_bytes())
                    } else {
                        glob_match(p, name.as_bytes(), true)
                    };
                    if hit && seen.insert(name) {
                        out.push((name.to_string(), vals.get(d.name).cloned().unwrap_or_default()));
                    }
                }
            }
        }
        out
    }

    /// CONFIG SET with several parameters: all are validated before any is applied, and on an
    /// apply failure the earlier ones are rolled back. Returns Redis's error text on failure.
    pub fn set_many(&self, pairs: &[(&[u8], &[u8])], protected_allowed: bool) -> Result<Vec<&'static str>, String> {
        let mut staged: Vec<(&'static Directive, String, String)> = Vec::new();
        for (name, value) in pairs {
            let name_s = String::from_utf8_lossy(name).to_string();
            let fail =
                |reason: &str| format!("ERR CONFIG SET failed (possibly related to argument '{name_s}') - {reason}");
            let Some(d) = lookup(&name_s) else {
                return Err(format!(
                    "ERR Unknown option or number of arguments for CONFIG SET - '{name_s}'"
                ));
            };
            if d.has("immutable") {
                return Err(fail("can't set immutable config"));
            }
            if d.has("protected") && !protected_allowed {
                return Err(fail("can't set protected config"));
            }
            if staged.iter().any(|(s, _, _)| s.name == d.name) {
                return Err(fail("duplicate parameter"));
            }
            let v = String::from_utf8_lossy(value).to_string();
            let args: Vec<String> = if d.has("multiarg") {
                if v.is_empty() {
                    vec![String::new()]
                } else {
                    match crate::protocol::parser::split_owned(v.as_bytes()) {
                        Ok(a) => a
                            .into_iter()
                            .map(|x| String::from_utf8_lossy(&x).into_owned())
                            .collect(),
                        Err(_) => return Err(fail("Unbalanced quotes")),
                    }
                }
            } else {
                vec![v]
            };
            let current = self.get(d.name);
            let norm = if d.name == "dir" {
                // Validate without changing directory yet.
                if !std::path::Path::new(&args[0]).is_dir() {
                    return Err(fail("No such file or directory"));
                }
                args[0].clone()
            } else {
                normalize(d, &args, false, &current).map_err(|e| fail(&e))?
            };
            staged.push((d, norm, current));
        }
        let mut applied: Vec<(&'static Directive, String)> = Vec::new();
        for (d, v, old) in &staged {
            let v = if d.name == "dir" {
                match normalize_special("dir", std::slice::from_ref(v), false, old) {
                    Ok(v) => v,
                    Err(e) => {
                        for (d, old) in applied {
                            self.values.write().insert(d.name, old);
                        }
                        self.refresh_hot();
                        return Err(format!(
                            "ERR CONFIG SET failed (possibly related to argument '{}') - {e}",
                            d.name
                        ));
                    }
                }
            } else {
                v.clone()
            };
            self.values.write().insert(d.name, v);
            applied.push((d, old.clone()));
        }
        self.refresh_hot();
        Ok(staged.iter().map(|(d, _, _)| d.name).collect())
    }

    /// Sets one value directly (for internal updates such as `dir` at start).
    pub fn set_raw(&self, name: &'static str, value: String) {
        self.values.write().insert(name, value);
        self.refresh_hot();
    }

    /// All directives with their current values (CONFIG REWRITE writes the non-default ones).
    pub fn all(&self) -> Vec<(&'static Directive, String)> {
        let vals = self.values.read();
        DIRECTIVES
            .iter()
            .map(|d| (d, vals.get(d.name).cloned().unwrap_or_default()))
            .collect()
    }
}

/// The comment CONFIG REWRITE writes above the directives it appends.
const REWRITE_SIGNATURE: &str = "# Generated by CONFIG REWRITE";

impl Config {
    /// The lines a directive is written as in a config file, and whether it must be written
    /// even when the file does not mention it (its value differs from the default).
    fn rewrite_lines(d: &Directive, value: &str, force_all: bool) -> (Vec<String>, bool) {
        let name = d.name;
        let force = force_all || value != d.default;
        let lines = match (d.name, d.ty) {
            ("save", _) => {
                let nums: Vec<&str> = value.split_whitespace().collect();
                if nums.is_empty() {
                    vec!["save \"\"".to_string()]
                } else {
                    nums.chunks(2).map(|c| format!("save {}", c.join(" "))).collect()
                }
            }
            ("client-output-buffer-limit", _) => {
                let parts: Vec<&str> = value.split_whitespace().collect();
                parts.chunks(4).map(|c| format!("{name} {}", c.join(" "))).collect()
            }
            ("replicaof", _) if value.is_empty() => Vec::new(),
            (_, Type::Str) | ("dir", _) | ("notify-keyspace-events", _) => vec![format!("{name} {}", quote(value))],
            _ if value.is_empty() => vec![format!("{name} \"\"")],
            _ => vec![format!("{name} {value}")],
        };
        // Redis always writes the save lines and the working directory.
        (lines, force || name == "save" || name == "dir")
    }

    /// CONFIG REWRITE: rewrites `path` like Redis's `rewriteConfig`: comments and lines of
    /// directives it does not manage stay; each managed directive replaces its first line in the
    /// file (later duplicates are dropped); non-default directives the file lacks are appended
    /// under "# Generated by CONFIG REWRITE".
    /// With `force_all` (DEBUG CONFIG-REWRITE-FORCE-ALL) every directive is written, defaults too.
    pub fn rewrite(&self, path: &str, force_all: bool) -> Result<(), String> {
        let old = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(io_text(&e)),
        };
        let mut lines: Vec<Option<String>> = Vec::new();
        // Directive name -> indexes of the lines that set it, in file order.
        let mut at: HashMap<&'static str, std::collections::VecDeque<usize>> = HashMap::new();
        let mut has_tail = false;
        for raw in old.lines() {
            let line = raw.trim();
            if line == REWRITE_SIGNATURE {
                has_tail = true;
            }
            if !line.is_empty() && !line.starts_with('#') {
                let first = line.split_whitespace().next().unwrap_or("");
                if let Some(d) = lookup(first) {
                    at.entry(d.name).or_default().push_back(lines.len());
                }
            }
            lines.push(Some(raw.to_string()));
        }
        let mut appended: Vec<String> = Vec::new();
        for (d, value) in self.all() {
            if force_all && d.has("hidden") {
                continue;
            }
            let (new_lines, force) = Self::rewrite_lines(d, &value, force_all);
            let slots = at.remove(d.name).unwrap_or_default();
            let mut slots = slots.into_iter();
            for l in new_lines {
                match slots.next() {
                    Some(i) => lines[i] = Some(l),
                    None if force || d.name == "save" => appended.push(l),
                    None => {}
                }
            }
            // Lines left over for this directive are stale duplicates.
            for i in slots {
                lines[i] = None;
            }
        }
        let mut out = String::new();
        for l in lines.into_iter().flatten() {
            out.push_str(&l);
            out.push('\n');
        }
        if !appended.is_empty() {
            if !has_tail {
                out.push_str(REWRITE_SIGNATURE);
                out.push('\n');
            }
            for l in appended {
                out.push_str(&l);
                out.push('\n');
            }
        }
        // Write a temporary file and rename it over the old one, so a crash never leaves a
        // truncated config.
        let tmp = format!("{path}.tmp-{}", std::process::id());
        std::fs::write(&tmp, out.as_bytes()).map_err(|e| io_text(&e))?;
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io_text(&e)
        })
    }
}

fn io_text(e: &std::io::Error) -> String {
    let s = e.to_string();
    s.split(" (os error").next().unwrap_or(&s).to_string()
}

/// What the command line asked for (made once at start, so its size does not matter).
#[allow(clippy::large_enum_variant)]
pub enum Cli {
    Run {
        config: Box<Config>,
        config_file: Option<String>,
    },
    Exit(i32),
}

/// Turns `ochre-server [file] [--name value ...]` into option lines the way redis-server does
/// (`--port 7000 --save ""` becomes `port 7000\nsave ""`), then loads file, then options.
pub fn from_args(args: &[String]) -> Result<Cli, (Option<LoadError>, String)> {
    let config = Config::defaults();
    // OCHRE_* environment variables override the defaults (and are overridden by file and flags).
    let mut env_lines = String::new();
    let mut vars: Vec<(String, String)> = std::env::vars().filter(|(k, _)| k.starts_with("OCHRE_")).collect();
    vars.sort();
    for (k, v) in vars {
        let name = k["OCHRE_".len()..].to_ascii_lowercase().replace('_', "-");
        if lookup(&name).is_some() {
            env_lines.push_str(&format!("{name} {}\n", quote(&v)));
        }
    }
    let mut saves_seen = false;
    if !env_lines.is_empty() {
        config
            .load_text(&env_lines, None, &mut saves_seen)
            .map_err(|e| (Some(e), String::new()))?;
        saves_seen = false;
    }
    let mut j = 1;
    let mut file = None;
    if args.len() >= 2 {
        match args[1].as_str() {
            "-v" | "--version" => {
                println!(
                    "Ochre server v={} sha=00000000:0 malloc=mimalloc bits=64 build=0 (Redis {} compatible)",
                    crate::VERSION,
                    crate::REDIS_VERSION
                );
                return Ok(Cli::Exit(0));
            }
            "-h" | "--help" => {
                eprintln!("{}", USAGE);
                return Ok(Cli::Exit(0));
            }
            _ => {}
        }
        if !args[1].starts_with('-') {
            let path = std::fs::canonicalize(&args[1])
                .map(|p| p.display().to_string())
                .unwrap_or(args[1].clone());
            file = Some(path);
            j = 2;
        }
    }
    let mut options = String::new();
    let mut handled_last = true;
    while j < args.len() {
        let a = &args[j];
        if handled_last && a.starts_with("--") {
            if !options.is_empty() {
                options.push('\n');
            }
            options.push_str(&a[2..]);
            options.push(' ');
            let parts = crate::protocol::parser::split_owned(a.as_bytes()).unwrap_or_default();
            if parts.len() == 1 {
                handled_last = false;
                let next_is_opt = j + 1 < args.len() && args[j + 1].starts_with("--");
                if a.eq_ignore_ascii_case("--save") && (next_is_opt || j == args.len() - 1) {
                    options.push_str("\"\"");
                    handled_last = next_is_opt || handled_last;
                }
            } else {
                handled_last = true;
            }
        } else {
            options.push_str(&quote(a));
            options.push(' ');
            handled_last = true;
        }
        j += 1;
    }
    if let Some(f) = &file {
        let text = std::fs::read_to_string(f).map_err(|e| {
            (
                None,
                format!("Fatal error, can't open config file '{f}': {}", io_text(&e)),
            )
        })?;
        config
            .load_text(&text, Some(f), &mut saves_seen)
            .map_err(|e| (Some(e), String::new()))?;
    }
    config
        .load_text(&options, None, &mut saves_seen)
        .map_err(|e| (Some(e), String::new()))?;
    Ok(Cli::Run {
        config: Box::new(config),
        config_file: file,
    })
}

/// Quotes an argument like Redis's `sdscatrepr`.
pub fn quote(s: &str) -> String {
    crate::util::text::repr(s.as_bytes())
}

pub const USAGE: &str = "Usage: ./ochre-server [/path/to/ochre.conf] [options] [-]
       ./ochre-server - (read config from stdin)
       ./ochre-server -v or --version
       ./ochre-server -h or --help

Examples:
       ./ochre-server (run the server with default conf)
       ./ochre-server /etc/redis/6379.conf
       ./ochre-server --port 7777
       ./ochre-server --port 7777 --replicaof 127.0.0.1 8888
       ./ochre-server /etc/myredis.conf --loglevel verbose -
       ./ochre-server /etc/myredis.conf --loglevel verbose

Environment: OCHRE_<DIRECTIVE> (e.g. OCHRE_PORT=7000, OCHRE_BIND=0.0.0.0) overrides a default.";
