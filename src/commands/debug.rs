//! DEBUG (`debug.c`): the subcommands Redis's test suite and tools use.
//!
//! DIGEST and DIGEST-VALUE compute Redis's exact dataset hash (SHA1-based, order-independent
//! across keys), so a test can compare a digest taken here with one taken on redis-server.
//! RELOAD writes the dataset to the RDB file and loads it back, a real round trip through the
//! encoder in `persistence::rdb`.

use super::keys::idle_secs;
use super::{def, lower, CommandDef, Ctx};
use crate::keyspace::value::{with_collection, Entry};
use crate::keyspace::{Kind, Value};
use crate::persistence::{rdb, snapshot};
use crate::server::log;
use crate::types::Collection;
use crate::util::digest::{mix_digest, xor_digest};
use crate::util::num;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};

pub static COMMANDS: &[CommandDef] = &[def(
    "debug",
    -2,
    "admin noscript loading stale",
    (0, 0, 0),
    "",
    "server",
    "1.0.0",
    "A container for debugging commands",
    debug,
)
// DEBUG SLEEP stalls the whole server and DEBUG RELOAD replaces the dataset, as in Redis.
.exclusive()];

/// DEBUG SEGFAULT: a real invalid memory write, so the crash handler (`server::crash`) reports
/// and the process dies by SIGSEGV, as Redis's test of its crash report expects.
fn segfault() -> ! {
    // SAFETY: deliberately not safe: a write to a read-only page, which the kernel refuses with
    // SIGSEGV. The mapping is fresh and private, so nothing else can be damaged; the handler
    // never returns to this code.
    unsafe {
        let page = libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        ) as *mut u8;
        std::ptr::write_volatile(page, b'x');
    }
    // Only if the mapping failed (null page, also unwritable) or the write was somehow allowed.
    std::process::abort()
}

/// DEBUG PAUSE-CRON: the cron thread skips its periodic work while set.
pub static PAUSE_CRON: AtomicBool = AtomicBool::new(false);
/// DEBUG QUICKLIST-PACKED-THRESHOLD: elements at least this long become plain quicklist nodes.
pub static QUICKLIST_PACKED_THRESHOLD: AtomicU64 = AtomicU64::new(1 << 30);
/// DEBUG REPLYBUFFER PEAK-RESET-TIME in ms (-1 = never).
pub static REPLY_BUFFER_PEAK_RESET_MS: AtomicI64 = AtomicI64::new(5000);
/// DEBUG REPLYBUFFER RESIZING.
pub static REPLY_BUFFER_RESIZING: AtomicBool = AtomicBool::new(true);

const HELP: &[&str] = &[
    "AOF-FLUSH-SLEEP <microsec>",
    "    Server will sleep before flushing the AOF, this is used for testing.",
    "CHANGE-REPL-ID",
    "    Change the replication IDs of the instance.",
    "    Dangerous: should be used only for testing the replication subsystem.",
    "DIGEST",
    "    Output a hex signature representing the current DB content.",
    "DIGEST-VALUE <key> [<key> ...]",
    "    Output a hex signature of the values of all the specified keys.",
    "ERROR <string>",
    "    Return a Redis protocol error with <string> as message. Useful for clients",
    "    unit tests to simulate Redis errors.",
    "LOG <message>",
    "    Write <message> to the server log.",
    "HTSTATS <dbid>",
    "    Return hash table statistics of the specified Redis database.",
    "OBJECT <key>",
    "    Show low level info about `key` and associated value.",
    "POPULATE <count> [<prefix>] [<size>]",
    "    Create <count> string keys named key:<num>. If <prefix> is specified then",
    "    it is used instead of the 'key' prefix. These are not propagated to",
    "    replicas. Cluster slots are not respected so keys not belonging to the",
    "    current node can be created in cluster mode.",
    "PROTOCOL <type>",
    "    Reply with a test value of the specified type. <type> can be: string,",
    "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
    "    true, false.",
    "RELOAD [option ...]",
    "    Save the RDB on disk and reload it back to memory. Valid <option> values:",
    "    * MERGE: conflicting keys will be loaded from RDB.",
    "    * NOFLUSH: the existing database will not be removed before load, but",
    "      conflicting keys will generate an exception and kill the server.",
    "    * NOSAVE: the database will be loaded from an existing RDB file.",
    "    Examples:",
    "    * DEBUG RELOAD: verify that the server is able to persist, flush and reload",
    "      the database.",
    "    * DEBUG RELOAD NOSAVE: replace the current database with the contents of an",
    "      existing RDB file.",
    "    * DEBUG RELOAD NOSAVE NOFLUSH MERGE: add the contents of an existing RDB",
    "      file to the database.",
    "SDSLEN <key>",
    "    Show low level SDS string info representing `key` and value.",
    "SET-ACTIVE-EXPIRE <0|1>",
    "    Setting it to 0 disables expiring keys in background when they are not",
    "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
    "    default.",
    "QUICKLIST-PACKED-THRESHOLD <size>",
    "    Sets the threshold for elements to be inserted as plain vs packed nodes",
    "    Default value is 1GB, allows values up to 4GB. Setting to 0 restores to default.",
    "SET-SKIP-CHECKSUM-VALIDATION <0|1>",
    "    Enables or disables checksum checks for RDB files and RESTORE's payload.",
    "SLEEP <seconds>",
    "    Stop the server for <seconds>. Decimals allowed.",
    "STRINGMATCH-TEST",
    "    Run a fuzz tester against the stringmatchlen() function.",
    "STRUCTSIZE",
    "    Return the size of different Redis core C structures.",
    "PAUSE-CRON <0|1>",
    "    Stop periodic cron job processing.",
    "REPLYBUFFER PEAK-RESET-TIME <NEVER||RESET|time>",
    "    Sets the time (in milliseconds) to wait between client reply buffer peak resets.",
    "    In case NEVER is provided the last observed peak will never be reset",
    "    In case RESET is provided the peak reset time will be restored to the default value",
    "REPLYBUFFER RESIZING <0|1>",
    "    Enable or disable the reply buffer resize cron job",
];

fn debug(ctx: &mut Ctx, args: &[&[u8]]) {
    if !ctx.srv.config.hot.enable_debug_command.load(Relaxed) {
        return ctx.out.err(
            "DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.",
        );
    }
    let sub = lower(args[1]);
    let argc = args.len();
    match (sub.as_slice(), argc) {
        (b"help", 2) => super::help_reply(ctx.out, "debug", HELP),
        (b"config-rewrite-force-all", 2) => {
            let Some(path) = ctx.srv.config_file.as_deref() else {
                return ctx
                    .out
                    .err("CONFIG-REWRITE-FORCE-ALL failed: The server is running without a config file");
            };
            match ctx.srv.config.rewrite(path, true) {
                Ok(()) => ctx.out.ok(),
                Err(e) => ctx.out.err(&format!("CONFIG-REWRITE-FORCE-ALL failed: {e}")),
            }
        }
        (b"log", 3) => {
            log::warning(&format!("DEBUG LOG: {}", String::from_utf8_lossy(args[2])));
            ctx.out.ok();
        }
        (b"segfault", _) => segfault(),
        (b"panic", _) => panic!("DEBUG PANIC called at Unix time {}", ctx.now_ms / 1000),
        // Redis's `serverAssertWithInfo(c, c->argv[0], 1 == 2)`: a failing assertion.
        (b"assert", _) => assert!(argc == 0, "assertion failed: 1 == 2 (DEBUG ASSERT)"),
        (b"leak", 3) | (b"change-repl-id", 2) | (b"replicate", 3..) => ctx.out.ok(),
        (b"aof-flush-sleep" | b"drop-cluster-packet-filter", 3) => ctx.out.ok(),
        // Lets scripts run `noscript` commands (tests use it), as Redis's atoi of the flag.
        (b"set-disable-deny-scripts", 3) => {
            let on = crate::util::num::parse_i64(args[2]).unwrap_or(0) != 0;
            ctx.srv
                .scripts
                .disable_deny
                .store(on, std::sync::atomic::Ordering::Relaxed);
            ctx.out.ok()
        }
        (b"sleep", 3) => {
            let secs = strtod(args[2]);
            if secs > 0.0 && secs.is_finite() {
                std::thread::sleep(std::time::Duration::from_micros((secs * 1e6) as u64));
            }
            ctx.out.ok();
        }
        (b"set-active-expire", 3) => {
            ctx.srv.active_expire_enabled.store(atoi(args[2]) != 0, Relaxed);
            ctx.out.ok();
        }
        (b"set-skip-checksum-validation", 3) => {
            super::dump::SKIP_CHECKSUM.store(atoi(args[2]) != 0, Relaxed);
            ctx.out.ok();
        }
        (b"pause-cron", 3) => {
            PAUSE_CRON.store(atoi(args[2]) != 0, Relaxed);
            ctx.out.ok();
        }
        (b"quicklist-packed-threshold", 3) => quicklist_packed_threshold(ctx, args[2]),
        (b"replybuffer", 4) => replybuffer(ctx, args),
        (b"error", 3) => ctx.out.error(&String::from_utf8_lossy(args[2])),
        (b"object", 3) => object(ctx, args[2]),
        (b"sdslen", 3) => sdslen(ctx, args[2]),
        (b"digest", 2) => digest(ctx),
        (b"digest-value", _) => digest_value(ctx, &args[2..]),
        (b"reload", _) => reload(ctx, &args[2..]),
        (b"loadaof", 2) => match crate::persistence::aof::reload(ctx.srv) {
            Ok(()) => {
                log::warning("Append Only File loaded by DEBUG LOADAOF");
                ctx.out.ok()
            }
            Err(e) => {
                log::warning(&e);
                ctx.out.err("Error loading the AOF")
            }
        },
        (b"populate", 3..=5) => populate(ctx, args),
        (b"protocol", 3) => protocol(ctx, args[2]),
        (b"htstats", 3) => htstats(ctx, args[2]),
        (b"stringmatch-test", 2) => ctx.out.simple("Apparently Redis did not crash: test passed"),
        (b"structsize", 2) => ctx
            .out
            .bulk(b"bits:64 robj:16 dictentry:24 sdshdr5:1 sdshdr8:3 sdshdr16:5 sdshdr32:9 sdshdr64:17 "),
        (b"listpack" | b"quicklist" | b"htstats-key", _) if argc >= 3 => not_encoded(ctx, &sub, args[2]),
        _ => ctx.out.err(&format!(
            "unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
            String::from_utf8_lossy(args[1]).chars().take(128).collect::<String>()
        )),
    }
}

/// C's `atoi`: optional spaces and sign, then digits up to the first non-digit; 0 if none.
fn atoi(s: &[u8]) -> i64 {
    let s = std::str::from_utf8(s).unwrap_or("").trim_start();
    let (neg, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).take(18).collect();
    let n: i64 = digits.parse().unwrap_or(0);
    if neg {
        -n
    } else {
        n
    }
}

/// C's `strtod` as DEBUG SLEEP uses it: the longest numeric prefix, 0 when there is none.
fn strtod(s: &[u8]) -> f64 {
    let s = std::str::from_utf8(s).unwrap_or("").trim_start();
    (1..=s.len())
        .rev()
        .find_map(|n| s.get(..n).and_then(|p| p.parse::<f64>().ok()))
        .unwrap_or(0.0)
}

fn quicklist_packed_threshold(ctx: &mut Ctx, arg: &[u8]) {
    let size = std::str::from_utf8(arg)
        .ok()
        .and_then(crate::server::config::parse_memory)
        .filter(|&n| n >= 0 && n as u64 <= (1u64 << 32) - (1 << 20));
    match size {
        Some(n) => {
            QUICKLIST_PACKED_THRESHOLD.store(if n == 0 { 1 << 30 } else { n as u64 }, Relaxed);
            ctx.out.ok();
        }
        None => ctx
            .out
            .err("argument must be a memory value bigger than 1 and smaller than 4gb"),
    }
}

fn replybuffer(ctx: &mut Ctx, args: &[&[u8]]) {
    let what = lower(args[2]);
    let val = lower(args[3]);
    if what == b"peak-reset-time" {
        let ms = match val.as_slice() {
            b"never" => -1,
            b"reset" => 5000,
            _ => match num::parse_i64(args[3]) {
                Some(n) => n,
                None => return ctx.out.not_integer(),
            },
        };
        REPLY_BUFFER_PEAK_RESET_MS.store(ms, Relaxed);
    } else if what == b"resizing" {
        REPLY_BUFFER_RESIZING.store(atoi(args[3]) != 0, Relaxed);
    } else {
        return ctx.out.err(&format!(
            "unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
            String::from_utf8_lossy(args[1])
        ));
    }
    ctx.out.ok();
}

fn not_encoded(ctx: &mut Ctx, sub: &[u8], key: &[u8]) {
    if super::keys::peek(ctx, key, |_| ()).is_none() {
        return ctx.out.err("no such key");
    }
    // Only strings exist so far, and none of them uses these encodings.
    ctx.out.err(match sub {
        b"listpack" => "Not a listpack encoded object.",
        b"quicklist" => "Not a quicklist encoded object.",
        _ => "The value stored at the specified key is not represented using an hash table",
    });
}

/// DEBUG OBJECT: Redis's one-line description. Looks the key up without expiring it.
fn object(ctx: &mut Ctx, key: &[u8]) {
    let compress = super::dump::compression(ctx);
    let db = ctx.db();
    let shard = db.lock(key);
    let Some(e) = shard.dict.get(key) else {
        drop(shard);
        return ctx.out.err("no such key");
    };
    let refcount = match e.value {
        Value::Int(n) if (0..10_000).contains(&n) => i32::MAX as i64,
        _ => 1,
    };
    let line = format!(
        "Value at:{:p} refcount:{} encoding:{} serializedlength:{} lru:{} lru_seconds_idle:{}",
        e as *const Entry,
        refcount,
        e.value.encoding(),
        rdb::serialized_len(&e.value, compress),
        e.lru & 0xFF_FFFF,
        idle_secs(ctx, e)
    );
    drop(shard);
    ctx.out.simple(&line);
}

fn sdslen(ctx: &mut Ctx, key: &[u8]) {
    let db = ctx.db();
    let shard = db.lock(key);
    let Some(e) = shard.dict.get(key) else {
        drop(shard);
        return ctx.out.err("no such key");
    };
    let line = match &e.value {
        Value::Small(s) => Some((s.as_bytes().len(), 0)),
        Value::Str(b) => Some((b.len(), 0)),
        Value::Raw(v) => Some((v.len(), v.capacity() - v.len())),
        _ => None,
    }
    .map(|(len, avail)| {
        format!(
            "key_sds_len:{}, key_sds_avail:0, key_zmalloc: {}, val_sds_len:{len}, val_sds_avail:{avail}, val_zmalloc: {}",
            key.len(),
            key.len() + 4,
            len + avail + 4
        )
    });
    drop(shard);
    match line {
        Some(l) => ctx.out.simple(&l),
        None => ctx.out.err("Not an sds encoded string."),
    }
}

// ---------------------------------------------------------------------------------------------
// Digests
// ---------------------------------------------------------------------------------------------

/// Redis's numeric object types (`OBJ_STRING`...), hashed into digests.
fn obj_type(k: Kind) -> u32 {
    match k {
        Kind::String => 0,
        Kind::List => 1,
        Kind::Set => 2,
        Kind::ZSet => 3,
        Kind::Hash => 4,
        Kind::Stream => 6,
    }
}

/// `xorObjectDigest`: mixes a value's type, contents and whether it has a TTL into `digest`.
fn object_digest(digest: &mut [u8; 20], e: &Entry) {
    mix_digest(digest, &obj_type(e.value.kind()).to_be_bytes());
    match e.value.as_bytes() {
        Some(b) => mix_digest(digest, &b),
        None => with_collection!(&e.value, c => c.digest(digest), _ => ()),
    }
    if e.expire != 0 {
        xor_digest(digest, b"!!expire!!");
    }
}

fn hex(d: &[u8; 20]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

fn digest(ctx: &mut Ctx) {
    let mut locked = snapshot::lock_all_dbs(&ctx.srv.keyspace);
    let mut total = [0u8; 20];
    for (i, db) in locked.iter_mut().enumerate() {
        if db.shards().all(|s| s.dict.is_empty()) {
            continue;
        }
        mix_digest(&mut total, &(i as u32).to_be_bytes());
        for shard in db.shards() {
            shard.dict.for_each(|k, e| {
                let mut d = [0u8; 20];
                mix_digest(&mut d, k);
                object_digest(&mut d, e);
                xor_digest(&mut total, &d);
            });
        }
    }
    drop(locked);
    ctx.out.simple(&hex(&total));
}

fn digest_value(ctx: &mut Ctx, keys: &[&[u8]]) {
    let db = ctx.db();
    let mut locked = db.lock_keys(keys.iter().copied());
    let digests: Vec<String> = keys
        .iter()
        .map(|k| {
            let mut d = [0u8; 20];
            // Like Redis, a logically expired key that is still stored is digested too.
            if let Some(e) = locked.shard(k).dict.get(k) {
                object_digest(&mut d, e);
            }
            hex(&d)
        })
        .collect();
    drop(locked);
    ctx.out.array(digests.len());
    for d in &digests {
        ctx.out.simple(d);
    }
}

// ---------------------------------------------------------------------------------------------
// RELOAD POPULATE PROTOCOL HTSTATS
// ---------------------------------------------------------------------------------------------

fn reload(ctx: &mut Ctx, opts: &[&[u8]]) {
    let (mut merge, mut flush, mut save) = (false, true, true);
    for o in opts {
        match lower(o).as_slice() {
            b"merge" => merge = true,
            b"noflush" => flush = false,
            b"nosave" => save = false,
            _ => {
                return ctx
                    .out
                    .err("DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.")
            }
        }
    }
    let path = ctx.srv.config.get("dbfilename");
    let compress = super::dump::compression(ctx);
    let (now, lru) = (ctx.now_ms, ctx.lru());
    // Every shard of every database stays locked from save to load: clients see the dataset
    // either before or after the reload, never half loaded.
    let mut locked = snapshot::lock_all_dbs(&ctx.srv.keyspace);
    if save {
        let bytes = snapshot::encode(&mut locked, compress, now, &ctx.srv.scripts.functions.codes());
        let tmp = format!("temp-{}.rdb", std::process::id());
        if let Err(e) = std::fs::write(&tmp, &bytes).and_then(|_| std::fs::rename(&tmp, &path)) {
            drop(locked);
            let _ = std::fs::remove_file(&tmp);
            log::warning(&format!("Failed saving the DB: {e}"));
            return ctx.out.error("ERR");
        }
        log::notice("DB saved on disk");
    }
    let data = match std::fs::read(&path) {
        Ok(d) => d,
        Err(_) => {
            drop(locked);
            return ctx.out.err("Error trying to load the RDB dump");
        }
    };
    if flush {
        for db in locked.iter_mut() {
            for s in db.shards() {
                s.clear();
            }
        }
    }
    let opts = snapshot::LoadOptions {
        now_ms: now,
        lru,
        allow_dup: merge,
        key_delay_us: 0,
        progress: None,
    };
    // Functions first: a library that exists already (NOFLUSH without MERGE) fails the load.
    let functions = &ctx.srv.scripts.functions;
    if flush {
        functions.flush(false);
    }
    if let Err(e) = functions.load_rdb(ctx.srv, ctx.client.worker, &data, merge) {
        drop(locked);
        log::warning(&format!("Error loading the RDB dump's functions: {e}"));
        return ctx.out.err("Error trying to load the RDB dump");
    }
    let res = snapshot::load(&mut locked, &data, &opts);
    drop(locked);
    match res {
        Ok(counts) => {
            counts.record(ctx.srv);
            log::warning("DB reloaded by DEBUG RELOAD");
            ctx.out.ok();
        }
        Err(e) => {
            log::warning(&format!("Error loading the RDB dump: {e}"));
            ctx.out.err("Error trying to load the RDB dump");
        }
    }
}

fn positive(ctx: &mut Ctx, arg: &[u8]) -> Option<i64> {
    match num::parse_i64(arg) {
        None => {
            ctx.out.not_integer();
            None
        }
        Some(n) if n < 0 => {
            ctx.out.err("value is out of range, must be positive");
            None
        }
        Some(n) => Some(n),
    }
}

fn populate(ctx: &mut Ctx, args: &[&[u8]]) {
    let Some(count) = positive(ctx, args[2]) else {
        return;
    };
    let size = match args.get(4) {
        Some(a) => match positive(ctx, a) {
            Some(n) => n as usize,
            None => return,
        },
        None => 0,
    };
    let prefix: &[u8] = args.get(3).copied().unwrap_or(b"key");
    let (now, stats, lru) = (ctx.now_ms, ctx.ks_stats(), ctx.lru());
    let db = ctx.db();
    let mut added = 0u64;
    for j in 0..count {
        let mut key = prefix.to_vec();
        key.push(b':');
        num::write_i64(&mut key, j);
        let mut shard = db.lock(&key);
        if shard.get(&key, now, stats).is_some() {
            continue;
        }
        let mut val = b"value:".to_vec();
        num::write_i64(&mut val, j);
        let value = if size == 0 {
            Value::string(&val)
        } else {
            val.resize(size, 0);
            Value::string(&val)
        };
        shard.put_entry(&key, Entry::new(value, lru));
        added += 1;
    }
    ctx.dirty(added);
    ctx.out.ok();
}

fn protocol(ctx: &mut Ctx, name: &[u8]) {
    let out = &mut *ctx.out;
    let resp3 = out.resp >= 3;
    match lower(name).as_slice() {
        b"string" => out.bulk(b"Hello World"),
        b"integer" => out.int(12345),
        // Redis's literal test value, not an approximation of pi.
        #[allow(clippy::approx_constant)]
        b"double" => out.double(3.141),
        b"bignum" => {
            let n = b"1234567999999999999999999999999999999";
            if resp3 {
                out.raw(b"(");
                out.raw(n);
                out.raw(b"\r\n");
            } else {
                out.bulk(n);
            }
        }
        b"null" => out.null(),
        b"array" => {
            out.array(3);
            (0..3).for_each(|j| out.int(j));
        }
        b"set" => {
            out.set(3);
            (0..3).for_each(|j| out.int(j));
        }
        b"map" => {
            out.map(3);
            for j in 0..3 {
                out.int(j);
                out.boolean(j == 1);
            }
        }
        b"attrib" => {
            if resp3 {
                out.raw(b"|1\r\n");
                out.bulk(b"key-popularity");
                out.array(2);
                out.bulk(b"key:123");
                out.int(90);
            }
            out.bulk(b"Some real reply following the attribute");
        }
        b"push" => {
            if !resp3 {
                return out.err("RESP2 is not supported by this command");
            }
            out.push(2);
            out.bulk(b"server-cpu-usage");
            out.int(42);
            out.bulk(b"Some real reply following the push reply");
        }
        b"true" => out.boolean(true),
        b"false" => out.boolean(false),
        b"verbatim" => out.verbatim(b"This is a verbatim\nstring"),
        _ => out.err("Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false"),
    }
}

fn htstats(ctx: &mut Ctx, arg: &[u8]) {
    let Some(id) = num::parse_i64(arg) else {
        return ctx.out.not_integer();
    };
    if id < 0 || id as usize >= ctx.srv.keyspace.dbs.len() {
        return ctx.out.err("Out of range database");
    }
    let db = ctx.srv.keyspace.db(id as usize);
    let (mut size, mut keys, mut volatile) = (0, 0, 0);
    for i in 0..db.shard_count() {
        let s = db.lock_index(i);
        size += s.dict.buckets();
        keys += s.dict.len();
        volatile += s.volatile;
    }
    let table = |size: usize, n: usize| {
        if n == 0 {
            "No stats available for empty dictionaries\n".to_string()
        } else {
            format!("Hash table 0 stats (main hash table):\n table size: {size}\n number of elements: {n}\n")
        }
    };
    let text = format!(
        "[Dictionary HT]\n{}[Expires HT]\n{}",
        table(size, keys),
        table(volatile.max(1).next_power_of_two(), volatile)
    );
    ctx.out.verbatim(text.as_bytes());
}
