//! A Lua VM per thread, and running a script on it (Redis's `luaCallFunction`,
//! `luaRedisGenericCommand`, `scriptCall`, `scriptPrepareForRun`); the script thread that runs
//! EVALs ([`submit`]).
//!
//! The VM lives in a thread-local: mlua's `Lua` is not `Send`, and a thread runs one script at
//! a time, so no lock is needed. While a script runs, the `redis.*` functions and the time-limit
//! hook reach its [`RunCtx`] through a thread-local pointer that is set only for the length of
//! the run (no script can start another: EVAL is `noscript`).

use super::convert::{self, error_table};
use super::functions::FunctionInfo;
use super::{sflag, Script};
use crate::commands::{flag, Command, Ctx};
use crate::keyspace::holds;
use crate::protocol::reply::Reply;
use crate::server::client::{Client, ClientHandle};
use crate::server::{dispatch, log, Server};
use mlua::chunk::ChunkMode;
use mlua::{Function, HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table, Value, VmState};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

const SANDBOX: &str = include_str!("sandbox.lua");
/// Instructions between two checks of the time limit (Redis's count hook).
const HOOK_EVERY: u32 = 100_000;
/// Runs between two incremental GC steps (Redis's LUA_GC_CYCLE_PERIOD).
const GC_PERIOD: u32 = 50;
pub const KILLED: &str = "ERR Script killed by user with SCRIPT KILL...";

/// A thread's Lua VM.
struct Engine {
    lua: Lua,
    /// The SCRIPT FLUSH generation it was built for.
    generation: u64,
    /// Compiled scripts by SHA.
    funcs: HashMap<String, Function>,
    /// `function(f) return xpcall(f, handler) end` from the sandbox.
    runner: Function,
    /// The real globals table (scripts see it through a read-only proxy); KEYS and ARGV go here.
    globals: Table,
    /// The environment scripts are compiled with (the proxy).
    env: Table,
    /// The client the script's commands run as (taken out while a script runs).
    client: Option<Client>,
    runs: u32,
    /// The VM size last reported to INFO (`Scripts::note_vm_memory`).
    noted_mem: u64,
    /// The sandbox's `functions` table: `env` (libraries' environment), `loading(on)`, `run`.
    fenv: Table,
    floading: Function,
    frunner: Function,
    /// The function registry generation `fns` was loaded for (None: not loaded yet).
    fn_generation: Option<u64>,
    /// Registered functions by lowercase name.
    fns: HashMap<String, Function>,
}

/// The state of the script running now on this thread.
struct RunCtx {
    srv: *const Server,
    /// The script's SHA or the function's name (for the slow script warning).
    name: *const str,
    client: *mut Client,
    /// RESP version of the script's commands (`redis.setresp`).
    resp: u8,
    read_only: bool,
    allow_oom: bool,
    /// Used memory was above maxmemory when the script started.
    oom_at_start: bool,
    wrote: bool,
    now_ms: i64,
    start: crate::util::clock::Instant,
}

thread_local! {
    static ENGINE: RefCell<Option<Engine>> = const { RefCell::new(None) };
    static RUN: Cell<*mut RunCtx> = const { Cell::new(std::ptr::null_mut()) };
    /// Redis's redisLrand48 state (48 bits), shared by the scripts of this thread.
    static RAND: Cell<u64> = const { Cell::new(0x1234_ABCD_330E) };
}

/// The running script's context, if a script is running on this thread.
fn with_run<R>(f: impl FnOnce(&mut RunCtx, &Server) -> R) -> Option<R> {
    let p = RUN.with(|r| r.get());
    if p.is_null() {
        return None;
    }
    // SAFETY: `RUN` is set only by `run_script`, to a RunCtx on its stack that outlives the
    // Lua call during which this is reached, and cleared before it returns; the server
    // outlives every command. Only this thread sees it, and no other reference to the RunCtx
    // is live while a `redis.*` function or the hook runs.
    unsafe {
        let rc = &mut *p;
        let srv = &*rc.srv;
        Some(f(rc, srv))
    }
}

/// Redis's redisLrand48: the next 31-bit value of the 48-bit LCG.
fn lrand48() -> u32 {
    RAND.with(|r| {
        let x = r.get().wrapping_mul(0x5_DEEC_E66D).wrapping_add(0xB) & 0xFFFF_FFFF_FFFF;
        r.set(x);
        (x >> 17) as u32
    })
}

/// Redis's redisSrand48.
fn srand48(seed: i32) {
    RAND.with(|r| r.set(((seed as u32 as u64) << 16) | 0x330E));
}

/// `REDIS_VERSION_NUM`: 0x00MMmmpp.
fn version_num() -> i64 {
    let mut parts = crate::REDIS_VERSION.split('.').map(|p| p.parse::<i64>().unwrap_or(0));
    let (a, b, c) = (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    );
    (a << 16) | (b << 8) | c
}

/// The text of the error a native `redis.*` function raises: Lua gets a marker error, and the
/// sandbox's `take_error` swaps it for the `{err=...}` table kept here (mlua raises only its own
/// error values from Rust, while Redis's errors are tables).
const MARKER: &str = "\u{1}redis-error";

thread_local! {
    static PENDING: RefCell<Option<Table>> = const { RefCell::new(None) };
}

/// Raises `{err=text}` from a native function.
fn raise<T>(lua: &Lua, text: &str) -> mlua::Result<T> {
    let t = error_table(lua, text, false)?;
    PENDING.with(|p| *p.borrow_mut() = Some(t));
    Err(mlua::Error::RuntimeError(MARKER.to_string()))
}

fn is_marker(e: &mlua::Error) -> bool {
    match e {
        mlua::Error::RuntimeError(s) => s == MARKER,
        mlua::Error::CallbackError { cause, .. } | mlua::Error::WithContext { cause, .. } => is_marker(cause),
        _ => false,
    }
}

/// The error table behind a marker error, or the value itself.
fn take_error(v: Value) -> Value {
    match &v {
        Value::Error(e) if is_marker(e) => match PENDING.with(|p| p.borrow_mut().take()) {
            Some(t) => Value::Table(t),
            None => v,
        },
        _ => v,
    }
}

/// Runs a command for the script running on this thread (`redis.call`, in `call.rs`): its
/// reply's bytes or the refusal's text; None when no script is running.
pub(super) fn call_from_script<R>(argv: &[&[u8]], f: impl FnOnce(&[u8]) -> R) -> Option<Result<R, String>> {
    let reply = with_run(|rc, srv| script_call(rc, srv, argv))?;
    Some(reply.map(|mut buf| {
        let r = f(&buf);
        // Kept for the next command's reply, unless a big reply made it big.
        if buf.capacity() <= 64 * 1024 {
            buf.clear();
            SPARE.with(|s| s.set(buf));
        }
        r
    }))
}

thread_local! {
    /// The buffer the next command a script runs writes its reply into.
    static SPARE: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// Turns `redis.call`'s Lua arguments into a command line (numbers as `%.17g`, as Redis).
fn args_to_argv(args: &MultiValue) -> Result<Vec<Vec<u8>>, &'static str> {
    if args.is_empty() {
        return Err("Please specify at least one argument for this redis lib call");
    }
    args.iter()
        .map(|v| match v {
            Value::String(s) => Ok(s.as_bytes().to_vec()),
            Value::Integer(i) => Ok(crate::util::num::fmt_double(*i as f64).into_bytes()),
            Value::Number(n) => Ok(crate::util::num::fmt_double(*n).into_bytes()),
            _ => Err("Lua redis lib command arguments must be strings or integers"),
        })
        .collect()
}

thread_local! {
    /// The commands scripts on this thread named lately, by name exactly as written, and the
    /// server they belong to: finding one in the table hashes its lowercased name, which cost
    /// more than the rest of a script's `redis.call` but the command itself.
    static NAMED: RefCell<(usize, Vec<NamedCommand>)> = const { RefCell::new((0, Vec::new())) };
}

/// A command's name as a script wrote it, and the command.
type NamedCommand = (Vec<u8>, *const Command);

/// How many command names [`NAMED`] keeps.
const NAMED_MAX: usize = 16;

/// Finds the command a script named (not its subcommand).
fn command_named<'a>(srv: &'a Server, name: &[u8]) -> Option<&'a Command> {
    NAMED.with(|n| {
        let mut n = n.borrow_mut();
        let (owner, names) = &mut *n;
        if *owner != srv as *const Server as usize {
            *owner = srv as *const Server as usize;
            names.clear();
        }
        if let Some((_, cmd)) = names.iter().find(|(n, _)| n.as_slice() == name) {
            // SAFETY: the command table never changes after start-up and lives as long as
            // the server, which outlives every script it runs (the pointer is dropped when
            // another server's script runs here).
            return Some(unsafe { &**cmd });
        }
        let cmd = srv.commands.get(name)?;
        if names.len() >= NAMED_MAX {
            names.remove(0);
        }
        names.push((name.to_vec(), cmd as *const Command));
        Some(cmd)
    })
}

/// Finds the command (or subcommand) a script asked for.
fn lookup<'a>(srv: &'a Server, argv: &[&[u8]]) -> Option<&'a Command> {
    let cmd = command_named(srv, argv[0])?;
    if cmd.subcommands.is_empty() || argv.len() < 2 {
        return Some(cmd);
    }
    cmd.subcommands.get(&argv[1].to_ascii_lowercase())
}

/// Runs one command for a script (Redis's `scriptCall`): the checks a script's command goes
/// through, then `dispatch::call`. Returns the reply's bytes, or the refusal's text.
fn script_call(rc: &mut RunCtx, srv: &Server, argv: &[&[u8]]) -> Result<Vec<u8>, String> {
    // SAFETY: see below (the Lua client outlives the run).
    let w = unsafe { (*rc.client).worker };
    let found = lookup(srv, argv);
    let cmd = match found {
        Some(c) if c.arity_ok(argv.len()) => c,
        Some(c) => {
            return Err(refuse(
                srv,
                w,
                Some(c),
                "Wrong number of args calling Redis command from script",
            ))
        }
        None => return Err(refuse(srv, w, None, "Unknown Redis command called from script")),
    };
    if cmd.has(flag::NOSCRIPT) && !srv.scripts.disable_deny.load(Relaxed) {
        return Err(refuse(
            srv,
            w,
            Some(cmd),
            "This Redis command is not allowed from script",
        ));
    }
    if rc.read_only && cmd.flags & (flag::WRITE | flag::MAY_REPLICATE) != 0 {
        return Err(refuse(
            srv,
            w,
            Some(cmd),
            "Write commands are not allowed from read-only scripts.",
        ));
    }
    if cmd.has(flag::WRITE) && srv.follow.following() && srv.config.get_bool("replica-read-only") {
        return Err(refuse(srv, w, Some(cmd), &format!("-{}", dispatch::READONLY)));
    }
    if cmd.has(flag::WRITE) && !rc.wrote && !crate::replication::enough_good_replicas(srv) {
        return Err(refuse(srv, w, Some(cmd), &format!("-{}", dispatch::NOREPLICAS)));
    }
    if cmd.has(flag::WRITE) && !rc.wrote && dispatch::writes_refused(srv) {
        return Err(refuse(srv, w, Some(cmd), &format!("-{}", dispatch::MISCONF)));
    }
    if !rc.allow_oom && !rc.wrote && rc.oom_at_start && cmd.has(flag::DENYOOM) {
        return Err(refuse(srv, w, Some(cmd), &format!("-{}", dispatch::OOM)));
    }
    if cmd.has(flag::WRITE) {
        rc.wrote = true;
        srv.scripts.run.wrote.store(true, Relaxed);
    }
    // SAFETY: the Lua client lives on the `run_script` frame below us for the whole run and
    // nothing else touches it meanwhile.
    let client = unsafe { &mut *rc.client };
    let mut out = Reply::new();
    out.buf = SPARE.with(|s| s.take());
    out.resp = rc.resp;
    client.handle.resp.store(rc.resp as usize, Relaxed);
    client.handle.set_last_cmd(cmd);
    dispatch::call(srv, client, &mut out, cmd, argv, crate::util::clock::now().0, rc.now_ms);
    Ok(out.buf)
}

/// Counts a refused script command in errorstats and the command's rejected calls, as Redis's
/// scriptCall does, and returns the error text.
fn refuse(srv: &Server, worker: usize, cmd: Option<&Command>, text: &str) -> String {
    let full = convert::error_text(text);
    srv.stats.error(full.split(' ').next().unwrap_or("ERR"));
    if let Some(c) = cmd {
        crate::server::stats::bump(&c.stats_of(worker).rejected_calls, 1);
    }
    text.to_string()
}

impl Engine {
    fn new(srv: &Server, worker: usize) -> mlua::Result<Engine> {
        // SAFETY: `debug` is needed by the error handler and removed from the globals before any
        // script runs; no C modules can be loaded (no `package`).
        let lua = unsafe {
            Lua::unsafe_new_with(
                StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::DEBUG,
                LuaOptions::default(),
            )
        };
        // The preloaded libraries go in first, so the sandbox makes them read-only too.
        super::libs::register_all(&lua)?;
        let raw = lua.create_table()?;
        // SAFETY: plain Lua C functions that follow the Lua API's rules (`call.rs`).
        unsafe {
            raw.set("call", lua.create_c_function(super::call::call)?)?;
            raw.set("pcall", lua.create_c_function(super::call::pcall)?)?;
        }
        raw.set(
            "acl_check_cmd",
            lua.create_function(|lua, args: MultiValue| {
                let argv = match args_to_argv(&args) {
                    Ok(a) => a,
                    Err(msg) => return raise(lua, &format!("ERR {msg}")),
                };
                let refs: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
                match with_run(|_, srv| lookup(srv, &refs).is_some()) {
                    Some(true) => Ok(true),
                    _ => raise(lua, "ERR Invalid command passed to redis.acl_check_cmd()"),
                }
            })?,
        )?;
        raw.set(
            "sha1hex",
            lua.create_function(|lua, args: MultiValue| {
                if args.len() != 1 {
                    return raise(lua, "ERR wrong number of arguments");
                }
                let s = match args.into_iter().next() {
                    Some(v) => lua.coerce_string(v)?.map(|s| s.as_bytes().to_vec()).unwrap_or_default(),
                    None => Vec::new(),
                };
                Ok(super::sha1_hex(&s))
            })?,
        )?;
        raw.set(
            "error_text",
            lua.create_function(|_, s: mlua::LuaString| Ok(convert::error_text(&s.to_string_lossy())))?,
        )?;
        raw.set(
            "log",
            lua.create_function(|lua, args: MultiValue| {
                if args.len() < 2 {
                    return raise(lua, "ERR redis.log() requires two arguments or more.");
                }
                let mut it = args.into_iter();
                let Some(level) = it.next().and_then(|v| lua.coerce_number(v).ok().flatten()) else {
                    return raise(lua, "ERR First argument must be a number (log level).");
                };
                let level = level as i64;
                if !(0..=3).contains(&level) {
                    return raise(lua, "ERR Invalid debug level.");
                }
                let mut msg = Vec::new();
                for (j, v) in it.enumerate() {
                    if let Ok(Some(s)) = lua.coerce_string(v) {
                        if j != 0 {
                            msg.push(b' ');
                        }
                        msg.extend_from_slice(&s.as_bytes());
                    }
                }
                log::log(level as u8, &String::from_utf8_lossy(&msg));
                Ok(())
            })?,
        )?;
        raw.set(
            "setresp",
            lua.create_function(|lua, args: MultiValue| {
                if args.len() != 1 {
                    return raise(lua, "ERR redis.setresp() requires one argument.");
                }
                let n = args
                    .into_iter()
                    .next()
                    .and_then(|v| lua.coerce_number(v).ok().flatten())
                    .unwrap_or(0.0) as i64;
                if n != 2 && n != 3 {
                    return raise(lua, "ERR RESP version must be 2 or 3.");
                }
                match with_run(|rc, _| rc.resp = n as u8) {
                    Some(()) => Ok(()),
                    None => raise(lua, "ERR redis.setresp can only be called inside a script invocation"),
                }
            })?,
        )?;
        raw.set(
            "set_repl",
            lua.create_function(|lua, args: MultiValue| {
                if args.len() != 1 {
                    return raise(lua, "ERR redis.set_repl() requires two arguments.");
                }
                let n = args
                    .into_iter()
                    .next()
                    .and_then(|v| lua.coerce_number(v).ok().flatten())
                    .unwrap_or(0.0) as i64;
                if n & !3 != 0 {
                    return raise(
                        lua,
                        "ERR Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.",
                    );
                }
                Ok(())
            })?,
        )?;
        raw.set("take_error", lua.create_function(|_, v: Value| Ok(take_error(v)))?)?;
        raw.set(
            "rand",
            lua.create_function(|_, ()| Ok((lrand48() % i32::MAX as u32) as f64 / i32::MAX as f64))?,
        )?;
        raw.set(
            "srand",
            lua.create_function(|_, seed: f64| {
                srand48(seed as i64 as i32);
                Ok(())
            })?,
        )?;
        raw.set(
            "register_function",
            lua.create_function(|lua, args: MultiValue| register_function(lua, args))?,
        )?;
        raw.set(
            "killed",
            lua.create_function(|_, ()| Ok(with_run(|_, srv| srv.scripts.run.kill.load(Relaxed)).unwrap_or(false)))?,
        )?;
        let globals = lua.globals();
        let (env, runner, functions): (Table, Function, Table) =
            lua.load(SANDBOX)
                .set_name("=redis")
                .call((raw, crate::REDIS_VERSION, version_num()))?;
        lua.set_globals(env.clone())?;
        install_time_hook(&lua);
        let handle = Arc::new(ClientHandle::new(
            0,
            "lua".into(),
            String::new(),
            -1,
            crate::server::unix_ms(),
        ));
        let mut client = Client::new(handle, worker, true);
        client.in_script = true;
        Ok(Engine {
            lua,
            generation: srv.scripts.generation.load(Relaxed),
            funcs: HashMap::new(),
            runner,
            globals,
            env,
            client: Some(client),
            runs: 0,
            noted_mem: 0,
            fenv: functions.get("env")?,
            floading: functions.get("loading")?,
            frunner: functions.get("run")?,
            fn_generation: None,
            fns: HashMap::new(),
        })
    }

    /// Compiles a script body (without its shebang, keeping its line feed so line numbers are
    /// the user's).
    fn compile(&self, script: &Script) -> Result<Function, String> {
        let body = script.body.get(script.shebang_len..).unwrap_or_default();
        self.lua
            .load(body)
            .set_name("@user_script")
            .set_mode(ChunkMode::Text)
            .set_environment(self.env.clone())
            .into_function()
            .map_err(|e| match e {
                mlua::Error::SyntaxError { message, .. } => message,
                other => other.to_string(),
            })
    }
}

/// Runs `f` with this thread's engine, building it first (or again after SCRIPT FLUSH).
fn with_engine<R>(srv: &Server, worker: usize, f: impl FnOnce(&mut Engine) -> R) -> Result<R, String> {
    ENGINE.with(|cell| {
        let mut slot = cell.borrow_mut();
        let generation = srv.scripts.generation.load(Relaxed);
        if slot.as_ref().is_none_or(|e| e.generation != generation) {
            // Drop the old VM first: its memory goes before the new one's is taken.
            *slot = None;
            *slot = Some(Engine::new(srv, worker).map_err(|e| format!("ERR Error creating the Lua VM: {e}"))?);
        }
        match slot.as_mut() {
            Some(e) => Ok(f(e)),
            None => Err("ERR Lua VM unavailable".to_string()),
        }
    })
}

/// Checks that a script body compiles (EVAL of a new script, SCRIPT LOAD) on this thread's VM,
/// keeping the compiled function.
pub fn compile(srv: &Server, worker: usize, sha: &str, script: &Script) -> Result<(), String> {
    with_engine(srv, worker, |eng| {
        let f = eng
            .compile(script)
            .map_err(|m| format!("ERR Error compiling script (new function): {m}"))?;
        eng.funcs.insert(sha.to_string(), f);
        Ok(())
    })?
}

// ---------------------------------------------------------------------------------------------
// Functions: loading libraries (Redis's `function_lua.c`)
// ---------------------------------------------------------------------------------------------

thread_local! {
    /// The functions registered by the library loading now on this thread (None: no load,
    /// so `redis.register_function` refuses).
    static LOADING: RefCell<Option<Vec<(FunctionInfo, Function)>>> = const { RefCell::new(None) };
}

/// A Lua value as a string the way `lua_isstring` accepts it (strings and numbers).
fn lua_string(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Integer(i) => Some(i.to_string().into_bytes()),
        Value::Number(n) => Some(crate::util::num::fmt_double(*n).into_bytes()),
        _ => None,
    }
}

/// `redis.register_function(name, callback)` or `redis.register_function{function_name=,
/// callback=, description=, flags=}` (Redis's `luaRegisterFunction`), only while a library
/// loads.
fn register_function(lua: &Lua, args: MultiValue) -> mlua::Result<()> {
    if LOADING.with(|l| l.borrow().is_none()) {
        return raise(
            lua,
            "ERR redis.register_function can only be called on FUNCTION LOAD command",
        );
    }
    let (name, desc, callback, flags) = match read_register_args(args) {
        Ok(x) => x,
        Err(msg) => return raise(lua, &format!("ERR {msg}")),
    };
    if !super::functions::valid_name(&name) {
        return raise(lua, &format!("ERR {}", super::functions::BAD_NAME));
    }
    let name = String::from_utf8_lossy(&name).into_owned();
    let added = LOADING.with(|l| {
        let mut l = l.borrow_mut();
        let list = l.as_mut()?;
        if list.iter().any(|(f, _)| f.name == name) {
            return None;
        }
        list.push((FunctionInfo { name, desc, flags }, callback));
        Some(())
    });
    match added {
        Some(()) => Ok(()),
        None => raise(lua, "ERR Function already exists in the library"),
    }
}

type RegisterArgs = (Vec<u8>, Option<Vec<u8>>, Function, u32);

fn read_register_args(args: MultiValue) -> Result<RegisterArgs, &'static str> {
    let mut it = args.into_iter();
    match (it.next(), it.next(), it.next()) {
        (Some(table), None, None) => read_named_args(table),
        (Some(name), Some(callback), None) => {
            let name = lua_string(&name).ok_or("first argument to redis.register_function must be a string")?;
            let Value::Function(f) = callback else {
                return Err("second argument to redis.register_function must be a function");
            };
            Ok((name, None, f, 0))
        }
        _ => Err("wrong number of arguments to redis.register_function"),
    }
}

fn read_named_args(table: Value) -> Result<RegisterArgs, &'static str> {
    let Value::Table(t) = table else {
        return Err("calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).");
    };
    let (mut name, mut desc, mut callback, mut flags) = (None, None, None, 0);
    for pair in t.pairs::<Value, Value>() {
        let (k, v) = pair.map_err(|_| "named argument key given to redis.register_function is not a string")?;
        let key = lua_string(&k).ok_or("named argument key given to redis.register_function is not a string")?;
        match key.to_ascii_lowercase().as_slice() {
            b"function_name" => {
                name = Some(
                    lua_string(&v).ok_or("function_name argument given to redis.register_function must be a string")?,
                )
            }
            b"description" => {
                desc = Some(
                    lua_string(&v).ok_or("description argument given to redis.register_function must be a string")?,
                )
            }
            b"callback" => match v {
                Value::Function(f) => callback = Some(f),
                _ => return Err("callback argument given to redis.register_function must be a function"),
            },
            b"flags" => {
                let Value::Table(list) = v else {
                    return Err(
                        "flags argument to redis.register_function must be a table representing function flags",
                    );
                };
                flags = read_flags(&list).ok_or("unknown flag given")?;
            }
            _ => return Err("unknown argument given to redis.register_function"),
        }
    }
    let name = name.ok_or("redis.register_function must get a function name argument")?;
    let callback = callback.ok_or("redis.register_function must get a callback argument")?;
    Ok((name, desc, callback, flags))
}

/// A flags table `{'no-writes', ...}` (names compared without case, as Redis).
fn read_flags(list: &Table) -> Option<u32> {
    let mut flags = 0;
    for i in 1.. {
        let v: Value = list.raw_get(i).ok()?;
        if v.is_nil() {
            break;
        }
        let s = lua_string(&v)?;
        let (bit, _) = sflag::NAMES
            .iter()
            .find(|(_, n)| n.as_bytes().eq_ignore_ascii_case(&s))?;
        flags |= bit;
    }
    Some(flags)
}

/// The text of an error raised while a library loaded (`luaExtractErrorInformation`): an error
/// table's `err`, or `ERR ` and the message.
fn load_error_text(e: &mlua::Error) -> String {
    if is_marker(e) {
        if let Some(t) = PENDING.with(|p| p.borrow_mut().take()) {
            if let Some(err) = convert::table_error(&t) {
                return err.text;
            }
        }
    }
    match e {
        // mlua appends a traceback to errors raised in Lua.
        mlua::Error::RuntimeError(s) => format!("ERR {}", s.split("\nstack traceback:").next().unwrap_or(s)),
        mlua::Error::CallbackError { cause, .. } | mlua::Error::WithContext { cause, .. } => load_error_text(cause),
        other => format!("ERR {other}"),
    }
}

impl Engine {
    /// Runs a library's code (after its shebang) in the load environment and returns what it
    /// registered. `timeout_ms` 0 = no limit (Redis's `luaEngineCreate`).
    fn load_library(&self, body: &[u8], timeout_ms: u64) -> Result<Vec<(FunctionInfo, Function)>, String> {
        let chunk = self
            .lua
            .load(body)
            .set_name("@user_function")
            .set_mode(ChunkMode::Text)
            .set_environment(self.fenv.clone())
            .into_function()
            .map_err(|e| match e {
                mlua::Error::SyntaxError { message, .. } => format!("Error compiling function: {message}"),
                other => format!("Error compiling function: {other}"),
            })?;
        LOADING.with(|l| *l.borrow_mut() = Some(Vec::new()));
        let _ = self.floading.call::<()>(true);
        if timeout_ms > 0 {
            let start = Instant::now();
            let _ = self
                .lua
                .set_hook(HookTriggers::new().every_nth_instruction(HOOK_EVERY), move |_, _| {
                    if start.elapsed().as_millis() as u64 > timeout_ms {
                        return Err(mlua::Error::runtime("FUNCTION LOAD timeout"));
                    }
                    Ok(VmState::Continue)
                });
        }
        let ran = chunk.call::<()>(());
        if timeout_ms > 0 {
            install_time_hook(&self.lua);
        }
        let _ = self.floading.call::<()>(false);
        let registered = LOADING.with(|l| l.borrow_mut().take()).unwrap_or_default();
        match ran {
            Ok(()) => Ok(registered),
            Err(e) => Err(format!("Error registering functions: {}", load_error_text(&e))),
        }
    }

    /// Loads every library of the registry into this VM when it changed since the last time.
    fn sync_functions(&mut self, srv: &Server) {
        let generation = srv.scripts.functions.generation.load(Relaxed);
        if self.fn_generation == Some(generation) {
            return;
        }
        self.fns.clear();
        for lib in srv.scripts.functions.snapshot().libs.values() {
            let body = lib
                .code
                .iter()
                .position(|&c| c == b'\n')
                .map_or(&[][..], |at| &lib.code[at..]);
            match self.load_library(body, 0) {
                Ok(list) => {
                    for (info, f) in list {
                        self.fns.insert(info.name.to_ascii_lowercase(), f);
                    }
                }
                Err(e) => log::warning(&format!("Failed loading library {}: {e}", lib.name)),
            }
        }
        self.fn_generation = Some(generation);
    }
}

/// Runs a library's code on this thread's VM (FUNCTION LOAD / RESTORE, loading an RDB file) and
/// returns the functions it registered.
pub fn load_library(srv: &Server, worker: usize, body: &[u8], timeout_ms: u64) -> Result<Vec<FunctionInfo>, String> {
    with_engine(srv, worker, |eng| {
        eng.load_library(body, timeout_ms)
            .map(|list| list.into_iter().map(|(info, _)| info).collect())
    })?
}

/// What runs: a cached script (EVAL...) or a registered function (FCALL...).
#[derive(Clone)]
pub enum Target {
    Script {
        sha: String,
        script: Arc<Script>,
    },
    /// The function's name as registered, and its flags.
    Function {
        name: String,
        flags: u32,
    },
}

impl Target {
    /// The name errors and the log give it: the SHA or the function's name.
    fn name(&self) -> &str {
        match self {
            Target::Script { sha, .. } => sha,
            Target::Function { name, .. } => name,
        }
    }

    fn flags(&self) -> u32 {
        match self {
            Target::Script { script, .. } => script.flags,
            Target::Function { flags, .. } => *flags,
        }
    }
}

/// Runs a script or function for the client of `ctx` and writes its reply (EVAL, FCALL and
/// friends; the caller checked numkeys). `ro` is set for the `_RO` commands.
pub fn run_script(ctx: &mut Ctx, target: &Target, keys: &[&[u8]], args: &[&[u8]], ro: bool) {
    let caller = Caller {
        worker: ctx.client.worker,
        db: ctx.client.db,
        now_ms: ctx.now_ms,
    };
    run_on_this_thread(ctx.srv, caller, ctx.out, target, keys, args, ro)
}

/// Who runs a script: the caller's worker (its VM and statistics slot), database and time.
#[derive(Clone, Copy)]
pub struct Caller {
    pub worker: usize,
    pub db: usize,
    pub now_ms: i64,
}

/// Redis's `scriptPrepareForRun`: what a script declared with flags (a shebang, or any
/// function) may not do now. Writes the refusal and returns None; otherwise (read_only,
/// allow_oom, oom_at_start).
fn prepare(srv: &Server, out: &mut Reply, flags: u32, ro: bool) -> Option<(bool, bool, bool)> {
    let compat = flags & sflag::EVAL_COMPAT != 0;
    let oom_at_start = crate::server::dispatch::over_maxmemory(srv);
    if !compat {
        if flags & sflag::NO_WRITES == 0 {
            if dispatch::writes_refused(srv) {
                out.error("MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Writable scripts are blocked. Use 'no-writes' flag for read only scripts.");
                return None;
            }
            if ro {
                out.err("Can not execute a script with write flag using *_ro command.");
                return None;
            }
        }
        if oom_at_start && flags & (sflag::ALLOW_OOM | sflag::NO_WRITES) == 0 {
            out.error("OOM allow-oom flag is not set on the script, can not run it when used memory > 'maxmemory'");
            return None;
        }
    }
    let read_only = ro || (!compat && flags & sflag::NO_WRITES != 0);
    let allow_oom = !compat && flags & sflag::ALLOW_OOM != 0;
    Some((read_only, allow_oom, oom_at_start))
}

/// Runs a script or function on the current thread's VM and writes its reply to `out`. The
/// caller holds the world lock.
pub fn run_on_this_thread(
    srv: &Server,
    caller: Caller,
    out: &mut Reply,
    target: &Target,
    keys: &[&[u8]],
    args: &[&[u8]],
    ro: bool,
) {
    let Some((read_only, allow_oom, oom_at_start)) = prepare(srv, out, target.flags(), ro) else {
        return;
    };
    let name = target.name();
    let worker = caller.worker;
    let caller_db = caller.db;
    let now_ms = caller.now_ms;
    let result = with_engine(srv, worker, |eng| {
        if let Target::Function { .. } = target {
            eng.sync_functions(srv);
        }
        let lua = &eng.lua;
        let make_array = |items: &[&[u8]]| -> mlua::Result<Table> {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, a) in items.iter().enumerate() {
                t.raw_set(i + 1, lua.create_string(a)?)?;
            }
            Ok(t)
        };
        // A script reads KEYS and ARGV as globals; a function gets them as arguments.
        let (runner, call_args) = match target {
            Target::Script { sha, script } => {
                let func = match eng.funcs.get(sha.as_str()) {
                    Some(f) => f.clone(),
                    None => match eng.compile(script) {
                        Ok(f) => {
                            eng.funcs.insert(sha.to_string(), f.clone());
                            f
                        }
                        Err(m) => return Err(format!("ERR Error compiling script (new function): {m}")),
                    },
                };
                if let Err(e) = set_keys_args(lua, &eng.globals, (keys, args)) {
                    return Err(format!("ERR Error running script {sha}, {e}"));
                }
                (eng.runner.clone(), MultiValue::from_iter([Value::Function(func)]))
            }
            Target::Function { name, .. } => {
                let Some(func) = eng.fns.get(&name.to_ascii_lowercase()).cloned() else {
                    return Err("ERR Function not found".to_string());
                };
                let (k, a) = match make_array(keys).and_then(|k| Ok((k, make_array(args)?))) {
                    Ok(x) => x,
                    Err(e) => return Err(format!("ERR Error running function {name}, {e}")),
                };
                let call_args = MultiValue::from_iter([Value::Function(func), Value::Table(k), Value::Table(a)]);
                (eng.frunner.clone(), call_args)
            }
        };
        let lua = &eng.lua;
        let Some(mut client) = eng.client.take() else {
            return Err("ERR Lua client unavailable".to_string());
        };
        client.select(caller_db);
        let mut rc = RunCtx {
            srv: srv as *const Server,
            name: name as *const str,
            client: &mut client as *mut Client,
            resp: 2,
            read_only,
            allow_oom,
            oom_at_start,
            wrote: false,
            now_ms,
            start: crate::util::clock::now().0,
        };
        let state = &srv.scripts.run;
        state.kill.store(false, Relaxed);
        state.wrote.store(false, Relaxed);
        state.timed_out.store(false, Relaxed);
        state.eval_mode.store(matches!(target, Target::Script { .. }), Relaxed);
        state.start_ms.store(now_ms, Relaxed);
        state.running.store(true, Relaxed);
        RUN.with(|r| r.set(&mut rc as *mut RunCtx));
        let outcome = runner.call::<(bool, Value)>(call_args);
        RUN.with(|r| r.set(std::ptr::null_mut()));
        PENDING.with(|p| p.borrow_mut().take());
        eng.client = Some(client);
        let killed = state.kill.load(Relaxed);
        state.running.store(false, Relaxed);
        state.timed_out.store(false, Relaxed);
        state.kill.store(false, Relaxed);
        let script_resp = rc.resp;
        match outcome {
            Ok((true, v)) => convert::lua_to_reply(out, &v, script_resp),
            Ok((false, v)) => write_error(out, name, &v, killed),
            Err(e) => out.error(&format!("ERR Error running script {name}, {e}")),
        }
        // Every GC_PERIOD runs, an incremental step of GC_PERIOD KB, Redis's own
        // `lua_gc(LUA_GCSTEP, LUA_GC_CYCLE_PERIOD)`: the VM stays small (the suite checks
        // used_memory_lua stays under 100 KB over 10,000 runs; a step of 0 KB, mlua's
        // `gc_step`, every 50 runs let it grow past that).
        eng.runs += 1;
        if eng.runs % GC_PERIOD == 0 {
            // SAFETY: a protected call that only runs the collector.
            let _ = unsafe {
                lua.exec_raw::<()>((), |state| {
                    mlua::ffi::lua_gc(state, mlua::ffi::LUA_GCSTEP, GC_PERIOD as _);
                })
            };
        }
        // Reported when it moved by 1 KiB or more: INFO's precision, without a lock per run.
        let used = lua.used_memory() as u64;
        if used.abs_diff(eng.noted_mem) >= 1024 || eng.runs <= 1 {
            srv.scripts.note_vm_memory(worker, used);
            eng.noted_mem = used;
        }
        Ok(())
    });
    if let Ok(Err(e)) | Err(e) = result {
        out.error(&e);
    }
}

/// The reply for a script that raised an error: its `{err=, source=, line=}` table as Redis
/// 7.0 words it (`<err> script: <sha>, on <source>:<line>.`).
fn write_error(out: &mut Reply, sha: &str, v: &Value, killed: bool) {
    let Value::Table(t) = v else {
        return out.error(&format!("ERR Error running script {sha}, execution failure"));
    };
    let err = convert::table_error(t);
    let mut text = match (&err, killed) {
        (_, true) => KILLED.to_string(),
        (Some(e), _) => e.text.clone(),
        (None, _) => "ERR unknown error".to_string(),
    };
    let source = match t.raw_get::<Value>("source") {
        Ok(Value::String(s)) => Some(s.to_string_lossy()),
        _ => None,
    };
    let line = match t.raw_get::<Value>("line") {
        Ok(Value::Integer(i)) => Some(i.to_string()),
        Ok(Value::Number(n)) => Some(crate::util::num::fmt_double_human(n)),
        Ok(Value::String(s)) => Some(s.to_string_lossy()),
        _ => None,
    };
    if let (Some(source), Some(line)) = (source, line) {
        text.push_str(&format!(" script: {sha}, on {source}:{line}."));
    }
    match err {
        Some(e) if e.no_stats && !killed => convert::error_uncounted(out, &text),
        _ => out.error(&text),
    }
}

/// A script's KEYS and ARGV.
type KeysArgs<'a> = (&'a [&'a [u8]], &'a [&'a [u8]]);

/// Sets the globals KEYS and ARGV to new arrays of `keys` and `args` (as Redis, a script gets
/// fresh tables each run; the sandbox's runner sets them back to nil when the script is done).
/// On the Lua stack directly: through mlua's value
/// handles, each string would also take a slot in its reference thread.
fn set_keys_args(lua: &Lua, globals: &Table, lists: KeysArgs) -> mlua::Result<()> {
    // SAFETY: `exec_raw` runs the closure protected, with `globals` at stack index 1; it uses
    // at most 4 slots, checked first, and leaves the stack as it found it.
    unsafe {
        lua.exec_raw::<()>(globals, |state| {
            use mlua::ffi;
            if ffi::lua_checkstack(state, 4) == 0 {
                return;
            }
            let push = |s: &[u8]| ffi::lua_pushlstring_(state, s.as_ptr() as *const _, s.len());
            for (name, items) in [(&b"KEYS"[..], lists.0), (&b"ARGV"[..], lists.1)] {
                push(name);
                ffi::lua_createtable(state, items.len().min(i32::MAX as usize) as _, 0);
                for (i, item) in items.iter().enumerate() {
                    push(item);
                    ffi::lua_rawseti_(state, -2, (i + 1) as _);
                }
                ffi::lua_rawset(state, 1);
            }
        })
    }
}

/// Installs the count hook that checks a running script's time (kept for the VM's life: setting
/// it for each run cost more than the check every `HOOK_EVERY` instructions).
fn install_time_hook(lua: &Lua) {
    let _ = lua.set_hook(HookTriggers::new().every_nth_instruction(HOOK_EVERY), |_, _| {
        time_check()
    });
}

/// The count hook: marks the script timed out past `busy-reply-threshold` (other clients then
/// get BUSY) and stops it once SCRIPT KILL asked.
fn time_check() -> mlua::Result<VmState> {
    let stop = with_run(|rc, srv| {
        let state = &srv.scripts.run;
        let threshold = srv.config.hot.busy_reply_threshold.load(Relaxed);
        if threshold <= 0 {
            return false;
        }
        if !state.timed_out.load(Relaxed) {
            let elapsed = (crate::util::clock::elapsed_ns(rc.start) / 1_000_000) as i64;
            if elapsed < threshold {
                return false;
            }
            // SAFETY: `name` points at the target's name, which outlives the run.
            let sha = unsafe { &*rc.name };
            log::warning(&format!(
                "Slow script detected: still in execution after {elapsed} milliseconds. You can try killing the script using the {} command. Script name is: {sha}.",
                if state.eval_mode.load(Relaxed) { "SCRIPT KILL" } else { "FUNCTION KILL" }
            ));
            state.timed_out.store(true, Relaxed);
        }
        if state.kill.load(Relaxed) {
            log::warning("Lua script killed by user with SCRIPT KILL.");
            return true;
        }
        false
    });
    if stop == Some(true) {
        return Err(mlua::Error::runtime(KILLED));
    }
    Ok(VmState::Continue)
}

/// A command line in one buffer (two allocations, whatever the number of arguments).
pub struct Argv {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl Argv {
    pub fn new(args: &[&[u8]]) -> Argv {
        let mut bytes = Vec::with_capacity(args.iter().map(|a| a.len()).sum());
        let ends = args
            .iter()
            .map(|a| {
                bytes.extend_from_slice(a);
                bytes.len()
            })
            .collect();
        Argv { bytes, ends }
    }

    pub fn slices(&self) -> Vec<&[u8]> {
        let mut start = 0;
        self.ends
            .iter()
            .map(|&end| {
                let a = self.bytes.get(start..end).unwrap_or_default();
                start = end;
                a
            })
            .collect()
    }
}

/// A script handed to the script thread by a worker.
pub struct Job {
    pub srv: Arc<Server>,
    /// The parked caller: the reply is delivered through it.
    pub waiter: Arc<crate::server::blocking::Waiter>,
    pub caller: Caller,
    /// The caller's RESP version (of the reply).
    pub resp: u8,
    /// EVAL, EVALSHA, FCALL... (for its failed calls).
    pub command: &'static str,
    pub target: Target,
    /// The whole command line (EVAL, script or SHA, numkeys, keys, arguments).
    pub argv: Argv,
    pub numkeys: usize,
    pub ro: bool,
}

/// Most jobs the script thread runs under one hold of the world lock: a worker that runs other
/// commands waits at most this many scripts for its shared lock.
const MAX_BATCH: usize = 128;

/// A worker's end of the hand-off to the script thread, served by its [`relay`] task.
#[derive(Default)]
pub struct Relay {
    /// Parked callers whose replies the script thread queued: the relay wakes their
    /// connections.
    served: parking_lot::Mutex<Vec<Arc<ClientHandle>>>,
    /// The relay task's waker.
    waker: parking_lot::Mutex<Option<std::task::Waker>>,
}

impl Relay {
    fn wake(&self) {
        if let Some(w) = self.waker.lock().as_ref() {
            w.wake_by_ref();
        }
    }
}

/// Jobs crossing to the script thread together, and where their callers' wake-ups go.
struct Batch {
    relay: Option<Arc<Relay>>,
    jobs: Vec<Job>,
}

thread_local! {
    /// This worker's relay and the jobs handed over since the relay last ran (None on a thread
    /// without a relay task: its jobs are sent at once).
    static OUTBOX: RefCell<Option<(Arc<Relay>, Vec<Job>)>> = const { RefCell::new(None) };
}

/// Hands a script to the script thread. Scripts run there, not on the caller's worker, so a
/// script past its time limit does not stall the other connections of that worker: they get
/// BUSY like everyone else, and can SCRIPT KILL it.
///
/// On a worker the job waits in the outbox until the worker's [`relay`] task runs, which is
/// after the connections that were ready with it: their scripts cross to the script thread in
/// one message with one wake-up and run under one hold of the world lock. Waking the script
/// thread for each job instead cost about two context switches per call (on one core the woken
/// thread preempts the worker, often while the worker holds its shared world lock, and spins).
pub fn submit(job: Job) {
    let job = OUTBOX.with(|o| {
        let mut o = o.borrow_mut();
        let Some((relay, jobs)) = o.as_mut() else {
            return Some(job);
        };
        if jobs.is_empty() {
            relay.wake();
        }
        jobs.push(job);
        None
    });
    if let Some(job) = job {
        send(Batch {
            relay: None,
            jobs: vec![job],
        });
    }
}

/// The task a worker runs beside its connections (`spawn_local`). It sends the jobs its
/// connections queued in [`submit`] to the script thread, and wakes the connections whose
/// replies came back: the script thread wakes this task once per batch, not each connection,
/// and the connections it wakes run (and queue their next scripts) before it runs again, so
/// the next batch holds all of them.
pub async fn relay() {
    let relay = Arc::new(Relay::default());
    OUTBOX.with(|o| *o.borrow_mut() = Some((relay.clone(), Vec::new())));
    std::future::poll_fn(|cx| {
        {
            let mut w = relay.waker.lock();
            if w.as_ref().is_none_or(|w| !w.will_wake(cx.waker())) {
                *w = Some(cx.waker().clone());
            }
        }
        let jobs = OUTBOX.with(|o| o.borrow_mut().as_mut().map(|(_, jobs)| std::mem::take(jobs)));
        if let Some(jobs) = jobs.filter(|j| !j.is_empty()) {
            send(Batch {
                relay: Some(relay.clone()),
                jobs,
            });
        }
        let served = std::mem::take(&mut *relay.served.lock());
        for handle in served {
            handle.wake();
        }
        std::task::Poll::<()>::Pending
    })
    .await
}

/// The script thread's queue of batches.
#[derive(Default)]
struct Queue {
    batches: parking_lot::Mutex<Vec<Batch>>,
    ready: parking_lot::Condvar,
}

/// Sends jobs to the script thread (started on first use).
fn send(batch: Batch) {
    static QUEUE: std::sync::OnceLock<Option<Arc<Queue>>> = std::sync::OnceLock::new();
    let queue = QUEUE.get_or_init(|| {
        let q = Arc::new(Queue::default());
        let mine = q.clone();
        let spawned = std::thread::Builder::new()
            .name("ochre-lua".into())
            .spawn(move || script_thread(&mine));
        match spawned {
            Ok(_) => Some(q),
            Err(e) => {
                log::warning(&format!("Failed to start the script thread: {e}"));
                None
            }
        }
    });
    match queue {
        Some(q) => {
            q.batches.lock().push(batch);
            q.ready.notify_one();
        }
        // Without a script thread the jobs run here rather than leave their clients parked
        // forever.
        None => run_batches(vec![batch]),
    }
}

/// The script thread: runs the queued batches (every worker's that queued meanwhile, up to
/// [`MAX_BATCH`] jobs) under one hold of the world lock.
fn script_thread(q: &Queue) {
    loop {
        let batches = {
            let mut queued = q.batches.lock();
            while queued.is_empty() {
                q.ready.wait(&mut queued);
            }
            let mut n = 0;
            let take = queued
                .iter()
                .take_while(|b| {
                    let first = n == 0;
                    n += b.jobs.len();
                    first || n <= MAX_BATCH
                })
                .count();
            queued.drain(..take).collect::<Vec<_>>()
        };
        run_batches(batches);
    }
}

/// Records what `dispatch::call` could not when the script was handed over: the script's time
/// (commandstats, slowlog, latency monitor) and its error reply (errorstats, failed calls).
fn account(
    srv: &Server,
    job: &Job,
    cmd: &Command,
    argv: &[&[u8]],
    out: &mut Reply,
    start: crate::util::clock::Instant,
) {
    use crate::server::stats::bump;
    let us = crate::util::clock::elapsed_ns(start) / 1000;
    let cs = cmd.stats_of(job.caller.worker);
    bump(&cs.usec, us);
    if out.errors > 0 {
        if let Some(code) = out.last_error.take() {
            srv.stats.error(&code);
        }
    }
    // An error the script passed on from a failed command was counted in errorstats then, but
    // the script's command still failed (Redis's afterErrorReply with NO_STATS_UPDATE).
    if out.buf.first() == Some(&b'-') {
        bump(&cs.failed_calls, 1);
    }
    let slower_than = srv.config.hot.slowlog_log_slower_than.load(Relaxed);
    if slower_than >= 0 && us as i64 >= slower_than {
        srv.slowlog
            .record(srv, &job.waiter.handle, cmd, argv, us, job.caller.now_ms);
    }
    let threshold = srv.config.hot.latency_monitor_threshold.load(Relaxed);
    if threshold > 0 && (us / 1000) as i64 >= threshold {
        srv.latency.add("command", us / 1000, job.caller.now_ms);
    }
}

/// Runs jobs one after the other with the whole server stopped (one hold of the world lock),
/// then delivers their replies: a worker's callers through its relay, with one wake-up.
fn run_batches(batches: Vec<Batch>) {
    let Some(srv_arc) = batches.iter().find_map(|b| b.jobs.first()).map(|j| j.srv.clone()) else {
        return;
    };
    let srv: &Server = &srv_arc;
    let mut replies = Vec::new();
    {
        // Shared: workers go on serving whatever the scripts do not hold (`keyspace::holds`).
        let _world = srv.world.shared(srv.workers);
        for job in batches.iter().flat_map(|b| &b.jobs) {
            replies.push(run_job(srv, job));
        }
    }
    // appendfsync always: no reply leaves before the writes it acknowledges are on disk.
    crate::persistence::aof::wait_for_sync(srv);
    let mut replies = replies.iter();
    for batch in &batches {
        let mut served = Vec::new();
        for (job, out) in batch.jobs.iter().zip(replies.by_ref()) {
            if !job.waiter.claim() {
                continue;
            }
            job.waiter.fill(out);
            match &batch.relay {
                Some(_) => served.push(job.waiter.handle.clone()),
                None => job.waiter.handle.wake(),
            }
        }
        if let (Some(relay), false) = (&batch.relay, served.is_empty()) {
            relay.served.lock().extend(served);
            relay.wake();
        }
    }
}

/// Runs one job; the caller holds the world lock shared.
fn run_job(srv: &Server, job: &Job) -> Reply {
    let mut out = Reply::new();
    out.resp = job.resp;
    // The script's writes are one unit of the log (wrapped in MULTI/EXEC when several).
    let scope = crate::server::propagate::enter(srv);
    // Every shard the script locks stays held until it ends: it is atomic without stopping
    // the workers.
    holds::begin();
    let start = crate::util::clock::now().0;
    let argv = job.argv.slices();
    let split = (3 + job.numkeys).min(argv.len());
    let (keys, args) = (&argv[3.min(split)..split], &argv[split..]);
    // The script thread's VM memory is counted in its own slot, after the workers'.
    let caller = Caller {
        worker: srv.workers,
        ..job.caller
    };
    let function = matches!(job.target, Target::Function { .. });
    if function {
        *srv.scripts.run.function.lock() =
            Some((job.target.name().to_string(), argv.iter().map(|a| a.to_vec()).collect()));
    }
    run_on_this_thread(srv, caller, &mut out, &job.target, keys, args, job.ro);
    if function {
        *srv.scripts.run.function.lock() = None;
    }
    if let Some(cmd) = command_named(srv, job.command.as_bytes()) {
        account(srv, job, cmd, &argv, &mut out, start);
    }
    // Clients blocked on keys the script filled are served before its reply leaves.
    if crate::server::blocking::has_ready() {
        crate::server::blocking::serve_ready(srv);
    }
    // The script is over: the shards it held are free again.
    holds::end();
    if let Some(scope) = scope {
        scope.finish(srv);
    }
    out
}
