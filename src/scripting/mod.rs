//! Lua scripting (Redis's `eval.c`, `script.c`, `script_lua.c`): EVAL, EVALSHA, their `_RO`
//! forms and SCRIPT, on Lua 5.1.
//!
//! * [`Scripts`] is server-wide: the script cache (SHA1 → body and shebang flags), shared by all
//!   workers, so any worker can EVALSHA a script another one loaded, and the state of the script
//!   running now (for BUSY, SCRIPT KILL and INFO).
//! * A Lua VM is per thread (`engine.rs`; a Lua state cannot move between threads), rebuilt
//!   from scratch when SCRIPT FLUSH bumps [`Scripts::generation`]. Workers use theirs to check
//!   that a new script compiles; scripts run on the script thread (`engine::submit`), with the
//!   world lock taken exclusively, while the caller's connection waits parked, so the caller's
//!   worker keeps serving its other connections (BUSY, SCRIPT KILL). EVAL inside EXEC runs in
//!   place: EXEC already holds the world.
//! * A script's `redis.call` runs the command through `dispatch::call`, as EXEC does, on the
//!   thread's "Lua client" (its own database and RESP version, `in_script` set so blocking
//!   commands answer at once). Every script runs with the whole server stopped, so it is atomic
//!   whatever keys it touches.
//! * `call.rs`: `redis.call` / `redis.pcall` as plain Lua C functions (the hot path of every
//!   script: arguments read in place on the Lua stack, the reply pushed as it is parsed).
//! * Functions (FUNCTION LOAD, FCALL) are in `functions.rs`: a registry of libraries shared by
//!   all workers, loaded into each thread's VM in their own environment; FCALL runs on the
//!   script thread like EVAL.
//! * `libs/` holds the libraries Redis preloads (cjson, cmsgpack, bit, struct), loaded before
//!   the sandbox so they are read-only too.
//! * The sandbox (`sandbox.lua`) keeps Redis's rules: no new globals, read-only library
//!   tables, no `loadfile`/`dofile`/`print`, Redis's `math.random`.

pub mod call;
pub mod convert;
pub mod engine;
pub mod functions;
pub mod libs;

pub use crate::commands::scripting::command_flags;

use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

/// Shebang flags (`#!lua flags=...`), Redis's SCRIPT_FLAG_*.
pub mod sflag {
    pub const NO_WRITES: u32 = 1 << 0;
    pub const ALLOW_OOM: u32 = 1 << 1;
    pub const ALLOW_STALE: u32 = 1 << 2;
    pub const NO_CLUSTER: u32 = 1 << 3;
    /// No shebang: EVAL's backwards-compatible mode.
    pub const EVAL_COMPAT: u32 = 1 << 4;
    pub const ALLOW_CROSS_SLOT: u32 = 1 << 5;
    pub const NAMES: &[(u32, &str)] = &[
        (NO_WRITES, "no-writes"),
        (ALLOW_OOM, "allow-oom"),
        (ALLOW_STALE, "allow-stale"),
        (NO_CLUSTER, "no-cluster"),
        (ALLOW_CROSS_SLOT, "allow-cross-slot-keys"),
    ];
}

/// A cached script.
pub struct Script {
    pub body: Vec<u8>,
    /// [`sflag`] bits.
    pub flags: u32,
    /// Length of the shebang line (without its line feed), skipped when compiling so line
    /// numbers stay the user's.
    pub shebang_len: usize,
}

/// The script cache and the running script's state, shared by every worker.
#[derive(Default)]
pub struct Scripts {
    map: RwLock<HashMap<String, Arc<Script>>>,
    /// Bumped by SCRIPT FLUSH: a worker whose VM is older rebuilds it.
    pub generation: AtomicU64,
    /// Bytes of cached bodies and SHAs (INFO's `used_memory_scripts_eval`).
    mem: AtomicU64,
    pub run: RunState,
    /// DEBUG SET-DISABLE-DENY-SCRIPTS: scripts may run `noscript` commands.
    pub disable_deny: AtomicBool,
    /// Bytes used by the workers' Lua VMs, one slot per worker (INFO's `used_memory_lua`).
    pub vm_mem: RwLock<Vec<u64>>,
    /// The function libraries (FUNCTION LOAD, FCALL).
    pub functions: functions::Registry,
}

/// What other threads may see of the script running now (one at a time: scripts take the world
/// lock exclusively).
#[derive(Default)]
pub struct RunState {
    pub running: AtomicBool,
    /// Unix ms when it started.
    pub start_ms: AtomicI64,
    /// Past `busy-reply-threshold`: other clients get BUSY.
    pub timed_out: AtomicBool,
    /// SCRIPT KILL asked it to stop.
    pub kill: AtomicBool,
    /// It ran a write command (SCRIPT KILL then answers UNKILLABLE).
    pub wrote: AtomicBool,
    /// EVAL (true) or FCALL (false): which KILL command may stop it.
    pub eval_mode: AtomicBool,
    /// The function running now on the script thread and its command line (FUNCTION STATS).
    pub function: parking_lot::Mutex<Option<(String, Vec<Vec<u8>>)>>,
}

pub const BUSY_EVAL: &str = "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
pub const UNKILLABLE: &str = "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.";
pub const BUSY_FUNCTION: &str =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";

impl Scripts {
    /// The script cached under `sha` (40 hex digits, any case).
    pub fn get(&self, sha: &[u8]) -> Option<Arc<Script>> {
        if sha.len() != 40 {
            return None;
        }
        // Lowercased on the stack: EVALSHA looks its script up on every call.
        let mut key = [0u8; 40];
        key.copy_from_slice(sha);
        key.make_ascii_lowercase();
        let key = std::str::from_utf8(&key).ok()?;
        self.map.read().get(key).cloned()
    }

    pub fn contains(&self, sha: &[u8]) -> bool {
        self.get(sha).is_some()
    }

    /// Adds a script (a body already cached under its SHA stays as it is).
    pub fn insert(&self, sha: String, script: Script) -> Arc<Script> {
        let mut map = self.map.write();
        if let Some(s) = map.get(&sha) {
            return s.clone();
        }
        self.mem.fetch_add((script.body.len() + sha.len()) as u64, Relaxed);
        let s = Arc::new(script);
        map.insert(sha, s.clone());
        s
    }

    /// SCRIPT FLUSH: empties the cache and makes every worker rebuild its VM. With `async`, the
    /// bodies are freed on another thread.
    pub fn flush(&self, lazy: bool) {
        let old = std::mem::take(&mut *self.map.write());
        self.mem.store(0, Relaxed);
        self.generation.fetch_add(1, Relaxed);
        // The VMs are rebuilt (small) the next time each worker runs a script.
        self.vm_mem.write().iter_mut().for_each(|m| *m = 0);
        if lazy {
            std::thread::spawn(move || drop(old));
        }
    }

    pub fn count(&self) -> usize {
        self.map.read().len()
    }

    /// INFO's `used_memory_scripts_eval`: bodies, SHAs and the table's own overhead.
    pub fn cache_memory(&self) -> u64 {
        let n = self.count() as u64;
        self.mem.load(Relaxed) + n * (24 + 32) + (n.next_power_of_two() * 8)
    }

    /// INFO's `used_memory_lua` (`used_memory_vm_eval`): the workers' VMs together.
    pub fn vm_memory(&self) -> u64 {
        let v: u64 = self.vm_mem.read().iter().sum();
        // A worker that never ran a script has no VM; Redis always has one (~31 KB empty).
        v.max(31 * 1024)
    }

    /// Records the memory of worker `w`'s VM (the engine calls it when the size moved by 1 KiB
    /// or more).
    pub fn note_vm_memory(&self, w: usize, bytes: u64) {
        let mut v = self.vm_mem.write();
        if v.len() <= w {
            v.resize(w + 1, 0);
        }
        v[w] = bytes;
    }

    /// Whether a script is past its time limit: other clients are answered BUSY.
    #[inline]
    pub fn busy(&self) -> bool {
        self.run.timed_out.load(Relaxed)
    }

    /// The BUSY error for the running script's kind.
    pub fn busy_error(&self) -> &'static str {
        if self.run.eval_mode.load(Relaxed) {
            BUSY_EVAL
        } else {
            BUSY_FUNCTION
        }
    }
}

/// SHA1 of `body` in lowercase hex.
pub fn sha1_hex(body: &[u8]) -> String {
    sha1_smol::Sha1::from(body).digest().to_string()
}

/// Parses a `#!lua flags=...` shebang (Redis's `evalExtractShebangFlags`): the flags and the
/// shebang's length; no shebang is EVAL's compatible mode.
pub fn parse_shebang(body: &[u8]) -> Result<(u32, usize), String> {
    if !body.starts_with(b"#!") {
        return Ok((sflag::EVAL_COMPAT, 0));
    }
    let Some(end) = body.iter().position(|&c| c == b'\n') else {
        return Err("Invalid script shebang".into());
    };
    let line = String::from_utf8_lossy(&body[..end]);
    let parts: Vec<&str> = line.split_ascii_whitespace().collect();
    let Some(engine) = parts.first() else {
        return Err("Invalid engine in script shebang".into());
    };
    if *engine != "#!lua" {
        return Err(format!("Unexpected engine in script shebang: {engine}"));
    }
    let mut flags = 0;
    for p in &parts[1..] {
        let Some(list) = p.strip_prefix("flags=") else {
            return Err(format!("Unknown lua shebang option: {p}"));
        };
        if list.is_empty() {
            continue;
        }
        for f in list.split(',') {
            match sflag::NAMES.iter().find(|(_, n)| *n == f) {
                Some((bit, _)) => flags |= bit,
                None => return Err(format!("Unexpected flag in script shebang: {f}")),
            }
        }
    }
    Ok((flags, end))
}
