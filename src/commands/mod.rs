//! The command table: one row per command, assembled from one slice per family.
//!
//! A row ([`CommandDef`]) carries everything Redis's command table does: name, arity, flags,
//! key positions, ACL categories, summary and the handler. The same rows drive dispatch, arity
//! errors, `COMMAND` and its subcommands, and which shards a command locks. Families register
//! their rows in their own file (`strings.rs`, `keys.rs`, …); nothing else dispatches.

pub mod bitmaps;
pub mod client;
pub mod command;
pub mod connection;
pub mod debug;
pub mod dump;
pub mod expire;
pub mod functions;
pub mod geo;
pub mod hashes;
pub mod hyperloglog;
pub mod introspection;
pub mod keys;
pub mod lists;
pub mod multi;
pub mod pubsub;
pub mod replication;
pub mod scripting;
pub mod server;
pub mod sets;
pub mod sort;
pub mod streams;
pub mod strings;
pub mod zsets;

use crate::keyspace::hash::FastBuild;
use crate::protocol::reply::Reply;
use crate::server::client::Client;
use crate::server::Server;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Everything a command handler can touch while it runs.
pub struct Ctx<'a> {
    pub srv: &'a Server,
    pub client: &'a mut Client,
    pub out: &'a mut Reply,
    /// Unix time in milliseconds, read once per command (as Redis caches `mstime` per command).
    pub now_ms: i64,
}

impl<'a> Ctx<'a> {
    /// The client's selected database. The borrow is of the server, not of the context, so the
    /// reply writer stays usable while a shard is locked.
    pub fn db(&self) -> &'a crate::keyspace::Db {
        let srv: &'a Server = self.srv;
        srv.keyspace.db(self.client.db)
    }

    /// Logs `argv` (AOF, replicas) instead of this command's own arguments; called several
    /// times, it logs several commands (`server::propagate`). An empty `argv` logs nothing but
    /// still replaces. Costs one relaxed load while nothing is logged.
    #[inline]
    pub fn propagate(&self, argv: &[&[u8]]) {
        if self.srv.propagation.active() {
            crate::server::propagate::explicit(argv);
        }
    }

    /// Keyspace statistics (for lazy expiry).
    pub fn ks_stats(&self) -> &'a crate::keyspace::KeyspaceStats {
        let srv: &'a Server = self.srv;
        &srv.keyspace.stats
    }

    /// Counts a read lookup for INFO's keyspace_hits / keyspace_misses (per worker, no shared
    /// cache line). Like Redis, only read lookups count.
    #[inline]
    pub fn count_read(&self, found: bool) {
        let w = &self.srv.stats.workers[crate::server::stats::slot(self.client.worker, self.srv.stats.workers.len())];
        crate::server::stats::bump(if found { &w.keyspace_hits } else { &w.keyspace_misses }, 1);
    }

    /// Counts `n` changes towards `save` rules and INFO's `rdb_changes_since_last_save`.
    pub fn dirty(&self, n: u64) {
        self.srv.stats.dirty.add(n);
    }

    /// The access clock stored in entries (seconds since start), from the command's own time
    /// (no second clock read).
    #[inline]
    pub fn lru(&self) -> u32 {
        self.srv.lru_clock_at(self.now_ms)
    }
}

/// The outcome of looking a key up for a command that works on one type.
pub enum Found<'s, T> {
    Missing,
    WrongType,
    Is(&'s mut T),
}

/// Looks `key` up (lazily expiring it, touching its access clock) and picks out the type the
/// command works on with `as_type` (e.g. `|v| match v { Value::Set(s) => Some(s), _ => None }`).
pub fn find_typed<'s, T>(
    ctx: &Ctx,
    shard: &'s mut crate::keyspace::Shard,
    key: &[u8],
    as_type: fn(&mut crate::keyspace::Value) -> Option<&mut T>,
) -> Found<'s, T> {
    match strings::lookup(shard, key, ctx.now_ms, ctx.ks_stats(), ctx.lru()) {
        None => Found::Missing,
        Some(e) => match as_type(&mut e.value) {
            Some(t) => Found::Is(t),
            None => Found::WrongType,
        },
    }
}

/// [`find_typed`] for a read: counts the hit or miss and replies WRONGTYPE itself (None);
/// `Some(None)` is a missing key.
pub fn find_typed_read<'s, T>(
    ctx: &mut Ctx,
    shard: &'s mut crate::keyspace::Shard,
    key: &[u8],
    as_type: fn(&mut crate::keyspace::Value) -> Option<&mut T>,
) -> Option<Option<&'s mut T>> {
    let f = find_typed(ctx, shard, key, as_type);
    ctx.count_read(!matches!(f, Found::Missing));
    match f {
        Found::Missing => Some(None),
        Found::WrongType => {
            ctx.out.wrong_type();
            None
        }
        Found::Is(t) => Some(Some(t)),
    }
}

/// A command handler: reads arguments (`args[0]` is the command name) and writes one reply.
pub type Handler = fn(&mut Ctx, &[&[u8]]);

/// Computes key positions for commands whose keys are not a fixed range (e.g. `numkeys` forms).
pub type KeysFn = fn(&[&[u8]]) -> Vec<usize>;

/// One row of the command table, as written in a family file.
pub struct CommandDef {
    pub name: &'static str,
    /// Redis's arity: N exactly N arguments (name included), -N at least N.
    pub arity: i32,
    /// Space-separated Redis flag names: write readonly denyoom admin pubsub noscript blocking
    /// loading stale skip_monitor skip_slowlog fast no_auth may_replicate no_mandatory_keys
    /// no_multi allow_busy.
    pub flags: &'static str,
    pub first_key: i32,
    pub last_key: i32,
    pub step: i32,
    /// Extra ACL categories beyond the ones implied by the flags (`@string @keyspace`...).
    pub acl: &'static str,
    pub group: &'static str,
    pub since: &'static str,
    pub summary: &'static str,
    pub handler: Handler,
    pub keys_fn: Option<KeysFn>,
    pub subcommands: &'static [CommandDef],
    /// Runs with the whole server stopped (the world lock taken exclusively), as Redis runs
    /// everything; for commands that must see or stall every worker (DEBUG SLEEP/RELOAD, later
    /// EXEC and scripts that touch undeclared keys).
    pub exclusive: bool,
}

impl CommandDef {
    /// The same row, marked [`CommandDef::exclusive`].
    pub const fn exclusive(self) -> CommandDef {
        CommandDef {
            exclusive: true,
            ..self
        }
    }
}

/// A shorthand constructor for the common case (no subcommands, no key function).
#[allow(clippy::too_many_arguments)]
pub const fn def(
    name: &'static str,
    arity: i32,
    flags: &'static str,
    keys: (i32, i32, i32),
    acl: &'static str,
    group: &'static str,
    since: &'static str,
    summary: &'static str,
    handler: Handler,
) -> CommandDef {
    CommandDef {
        name,
        arity,
        flags,
        first_key: keys.0,
        last_key: keys.1,
        step: keys.2,
        acl,
        group,
        since,
        summary,
        handler,
        keys_fn: None,
        subcommands: &[],
        exclusive: false,
    }
}

pub mod flag {
    pub const WRITE: u32 = 1 << 0;
    pub const READONLY: u32 = 1 << 1;
    pub const DENYOOM: u32 = 1 << 2;
    pub const ADMIN: u32 = 1 << 3;
    pub const PUBSUB: u32 = 1 << 4;
    pub const NOSCRIPT: u32 = 1 << 5;
    pub const BLOCKING: u32 = 1 << 6;
    pub const LOADING: u32 = 1 << 7;
    pub const STALE: u32 = 1 << 8;
    pub const SKIP_MONITOR: u32 = 1 << 9;
    pub const SKIP_SLOWLOG: u32 = 1 << 10;
    pub const FAST: u32 = 1 << 11;
    pub const NO_AUTH: u32 = 1 << 12;
    pub const MAY_REPLICATE: u32 = 1 << 13;
    pub const NO_MANDATORY_KEYS: u32 = 1 << 14;
    pub const NO_MULTI: u32 = 1 << 15;
    pub const ALLOW_BUSY: u32 = 1 << 16;
    pub const ASKING: u32 = 1 << 17;
    pub const SENTINEL: u32 = 1 << 18;
    pub const ONLY_SENTINEL: u32 = 1 << 19;
    pub const NO_ASYNC_LOADING: u32 = 1 << 20;

    /// Redis's flag names in the order COMMAND INFO prints them.
    pub const NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (SKIP_MONITOR, "skip_monitor"),
        (SKIP_SLOWLOG, "skip_slowlog"),
        (ASKING, "asking"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (MAY_REPLICATE, "may_replicate"),
        (SENTINEL, "sentinel"),
        (ONLY_SENTINEL, "only_sentinel"),
        (NO_MANDATORY_KEYS, "no_mandatory_keys"),
        (NO_ASYNC_LOADING, "no_async_loading"),
        (NO_MULTI, "no_multi"),
        (ALLOW_BUSY, "allow_busy"),
    ];
}

/// Redis's ACL categories, in its order.
pub const ACL_CATEGORIES: &[&str] = &[
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

/// Per-command statistics for INFO commandstats. Each worker has its own copy (single writer, no
/// locked instructions, no cache line shared between cores); readers sum them.
#[derive(Default)]
#[repr(align(64))]
pub struct CommandStats {
    pub calls: AtomicU64,
    pub usec: AtomicU64,
    pub rejected_calls: AtomicU64,
    pub failed_calls: AtomicU64,
}

/// A command as the server uses it: the row plus parsed flags, categories and statistics.
pub struct Command {
    pub def: &'static CommandDef,
    /// `name` for commands, `parent|sub` for subcommands.
    pub full_name: String,
    pub flags: u32,
    /// Bit i set = ACL_CATEGORIES[i].
    pub acl: u32,
    /// One `CommandStats` per worker (see [`Command::stats_of`]).
    pub stats: Box<[CommandStats]>,
    pub subcommands: HashMap<Vec<u8>, Command, FastBuild>,
    /// Index of this command in the table's list (for cheap references from clients).
    pub id: usize,
}

impl Command {
    /// The statistics slot of worker `w`.
    #[inline]
    pub fn stats_of(&self, w: usize) -> &CommandStats {
        &self.stats[crate::server::stats::slot(w, self.stats.len())]
    }

    /// Sums one statistic over all workers.
    pub fn stat(&self, f: impl Fn(&CommandStats) -> &AtomicU64) -> u64 {
        self.stats.iter().map(|s| f(s).load(Relaxed)).sum()
    }

    /// Clears the statistics (CONFIG RESETSTAT).
    pub fn reset_stats(&self) {
        for s in self.stats.iter() {
            for c in [&s.calls, &s.usec, &s.rejected_calls, &s.failed_calls] {
                c.store(0, Relaxed);
            }
        }
    }

    pub fn has(&self, f: u32) -> bool {
        self.flags & f != 0
    }

    /// Arity check as Redis does it.
    pub fn arity_ok(&self, argc: usize) -> bool {
        let a = self.def.arity;
        (a > 0 && argc as i32 == a) || (a < 0 && argc as i32 >= -a)
    }

    /// Positions of key arguments in `args` (empty for keyless commands).
    pub fn key_positions(&self, args: &[&[u8]]) -> Vec<usize> {
        if let Some(f) = self.def.keys_fn {
            return f(args);
        }
        let d = self.def;
        if d.first_key <= 0 {
            return Vec::new();
        }
        let argc = args.len() as i32;
        let last = if d.last_key < 0 {
            argc + d.last_key
        } else {
            d.last_key.min(argc - 1)
        };
        let step = d.step.max(1);
        let mut v = Vec::new();
        let mut i = d.first_key;
        while i <= last && i < argc {
            v.push(i as usize);
            i += step;
        }
        v
    }

    pub fn acl_names(&self) -> Vec<&'static str> {
        ACL_CATEGORIES
            .iter()
            .enumerate()
            .filter(|(i, _)| self.acl & (1 << i) != 0)
            .map(|(_, n)| *n)
            .collect()
    }

    pub fn flag_names(&self) -> Vec<&'static str> {
        flag::NAMES
            .iter()
            .filter(|(f, _)| self.flags & f != 0)
            .map(|(_, n)| *n)
            .collect()
    }
}

fn parse_flags(s: &str, name: &str) -> u32 {
    let mut f = 0;
    for w in s.split_whitespace() {
        match flag::NAMES.iter().find(|(_, n)| *n == w) {
            Some((bit, _)) => f |= bit,
            None => panic!("command table: unknown flag {w} on {name}"),
        }
    }
    f
}

fn parse_acl(s: &str, flags: u32, name: &str) -> u32 {
    let cat = |c: &str| {
        ACL_CATEGORIES
            .iter()
            .position(|x| *x == c)
            .map(|i| 1u32 << i)
            .unwrap_or(0)
    };
    let mut a = 0;
    for w in s.split_whitespace() {
        let c = w.trim_start_matches('@');
        let bit = cat(c);
        assert!(bit != 0, "command table: unknown ACL category {w} on {name}");
        a |= bit;
    }
    // Categories Redis derives from flags (setImplicitACLCategories).
    if flags & flag::WRITE != 0 {
        a |= cat("write");
    }
    if flags & flag::READONLY != 0 && a & cat("scripting") == 0 {
        a |= cat("read");
    }
    if flags & flag::ADMIN != 0 {
        a |= cat("admin") | cat("dangerous");
    }
    if flags & flag::PUBSUB != 0 {
        a |= cat("pubsub");
    }
    if flags & flag::FAST != 0 {
        a |= cat("fast");
    }
    if flags & flag::BLOCKING != 0 {
        a |= cat("blocking");
    }
    if a & cat("fast") == 0 {
        a |= cat("slow");
    }
    a
}

/// The assembled table.
pub struct CommandTable {
    pub by_name: HashMap<Vec<u8>, Command, FastBuild>,
    /// Full names by command id (CLIENT LIST shows the last command of each client).
    pub names: Vec<String>,
    /// Tells tables apart for the per-thread lookup cache ([`CommandTable::get`]).
    id: u64,
}

thread_local! {
    /// The last short command name this thread looked up, exactly as sent: (table id, name
    /// bytes as a word, name length, the command). A pipeline or a benchmark sends one name
    /// over and over, and comparing one word skips lowercasing and hashing (~100 of GET's
    /// ~3,300 instructions at pipeline depth 1).
    static LAST_LOOKUP: std::cell::Cell<(u64, u64, usize, *const Command)> =
        const { std::cell::Cell::new((0, 0, 0, std::ptr::null())) };
}

/// Every family's rows. A new family adds one line here.
fn families() -> Vec<&'static [CommandDef]> {
    vec![
        strings::COMMANDS,
        bitmaps::COMMANDS,
        keys::COMMANDS,
        lists::COMMANDS,
        expire::COMMANDS,
        dump::COMMANDS,
        hyperloglog::COMMANDS,
        connection::COMMANDS,
        client::COMMANDS,
        debug::COMMANDS,
        server::COMMANDS,
        introspection::COMMANDS,
        command::COMMANDS,
        zsets::COMMANDS,
        hashes::COMMANDS,
        sets::COMMANDS,
        geo::COMMANDS,
        sort::COMMANDS,
        multi::COMMANDS,
        pubsub::COMMANDS,
        streams::COMMANDS,
        scripting::COMMANDS,
        functions::COMMANDS,
        replication::COMMANDS,
    ]
}

impl CommandTable {
    /// Builds the table; `renames` applies `rename-command old new` directives (an empty new
    /// name removes the command), as Redis does while loading its config.
    pub fn build(workers: usize, renames: &HashMap<String, String>) -> CommandTable {
        let mut by_name: HashMap<Vec<u8>, Command, FastBuild> = HashMap::default();
        let mut next_id = 0;
        for fam in families() {
            for d in fam {
                let cmd = Self::make(d, None, &mut next_id, workers);
                assert!(
                    by_name.insert(d.name.as_bytes().to_vec(), cmd).is_none(),
                    "duplicate command {}",
                    d.name
                );
            }
        }
        for (old, new) in renames {
            if let Some(cmd) = by_name.remove(old.as_bytes()) {
                if !new.is_empty() {
                    by_name.insert(new.as_bytes().to_vec(), cmd);
                }
            }
        }
        let mut names = vec![String::new(); next_id];
        for c in by_name
            .values()
            .flat_map(|c| std::iter::once(c).chain(c.subcommands.values()))
        {
            names[c.id] = c.full_name.clone();
        }
        static TABLES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let id = TABLES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        CommandTable { by_name, names, id }
    }

    fn make(d: &'static CommandDef, parent: Option<&str>, next_id: &mut usize, workers: usize) -> Command {
        let full_name = match parent {
            Some(p) => format!("{p}|{}", d.name),
            None => d.name.to_string(),
        };
        let flags = parse_flags(d.flags, d.name);
        let acl = parse_acl(d.acl, flags, d.name);
        let id = *next_id;
        *next_id += 1;
        let subcommands = d
            .subcommands
            .iter()
            .map(|s| {
                (
                    s.name.as_bytes().to_vec(),
                    Self::make(s, Some(d.name), next_id, workers),
                )
            })
            .collect();
        Command {
            def: d,
            full_name,
            flags,
            acl,
            stats: (0..workers.max(1)).map(|_| CommandStats::default()).collect(),
            subcommands,
            id,
        }
    }

    /// Looks a command up by name, case-insensitively, without allocating for short names.
    pub fn get(&self, name: &[u8]) -> Option<&Command> {
        if (1..=8).contains(&name.len()) {
            let word = crate::keyspace::hash::short_word(name);
            let (table, last_word, last_len, cmd) = LAST_LOOKUP.with(|l| l.get());
            if table == self.id && last_word == word && last_len == name.len() {
                // SAFETY: `cmd` was found in this table (same id), which is never changed
                // after it is built and outlives `&self`.
                return Some(unsafe { &*cmd });
            }
            let found = self.get_uncached(name);
            if let Some(c) = found {
                LAST_LOOKUP.with(|l| l.set((self.id, word, name.len(), c as *const Command)));
            }
            return found;
        }
        self.get_uncached(name)
    }

    fn get_uncached(&self, name: &[u8]) -> Option<&Command> {
        let mut buf = [0u8; 32];
        if name.len() <= buf.len() {
            let lower = &mut buf[..name.len()];
            lower.copy_from_slice(name);
            lower.make_ascii_lowercase();
            self.by_name.get(&lower[..])
        } else {
            self.by_name.get(&name.to_ascii_lowercase())
        }
    }

    /// Every command and subcommand.
    pub fn all(&self) -> impl Iterator<Item = &Command> {
        self.by_name
            .values()
            .flat_map(|c| std::iter::once(c).chain(c.subcommands.values()))
    }
}

/// Shorthand used by handlers: the argument as lowercase ASCII, for option matching.
pub fn lower(arg: &[u8]) -> Vec<u8> {
    arg.to_ascii_lowercase()
}

/// Parses an integer argument, replying with Redis's error when it is not one.
pub fn arg_i64(out: &mut Reply, arg: &[u8]) -> Option<i64> {
    match crate::util::num::parse_i64(arg) {
        Some(n) => Some(n),
        None => {
            out.not_integer();
            None
        }
    }
}

/// The text Redis uses for unknown subcommands.
pub fn unknown_subcommand(out: &mut Reply, cmd: &str, sub: &[u8]) {
    out.error(&format!(
        "ERR unknown subcommand '{}'. Try {} HELP.",
        String::from_utf8_lossy(sub),
        cmd.to_uppercase()
    ));
}

/// Writes a HELP reply: the header line, the given lines, and the trailing HELP line.
pub fn help_reply(out: &mut Reply, cmd: &str, lines: &[&str]) {
    out.array(lines.len() + 3);
    out.simple(&format!(
        "{} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        cmd.to_uppercase()
    ));
    for l in lines {
        out.simple(l);
    }
    out.simple("HELP");
    out.simple("    Prints this help.");
}

/// A command whose real work is in its subcommands (CONFIG, CLIENT, OBJECT...).
pub const fn container(
    name: &'static str,
    group: &'static str,
    since: &'static str,
    summary: &'static str,
    subcommands: &'static [CommandDef],
) -> CommandDef {
    CommandDef {
        name,
        arity: -2,
        flags: "",
        first_key: 0,
        last_key: 0,
        step: 0,
        acl: "",
        group,
        since,
        summary,
        handler: |_, _| {},
        keys_fn: None,
        subcommands,
        exclusive: false,
    }
}
