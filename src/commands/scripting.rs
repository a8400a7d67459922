//! Lua scripting commands: EVAL EVALSHA EVAL_RO EVALSHA_RO and SCRIPT (Redis's `eval.c`).
//! The engine is in `crate::scripting`.

use super::{arg_i64, container, def, help_reply, CommandDef, Ctx};
use crate::scripting::{self, engine, sflag, Script};
use crate::server::monitor;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

#[rustfmt::skip]
pub static COMMANDS: &[CommandDef] = &[
    // Scripts run on the script thread with every worker stopped (the world lock taken
    // exclusively), so they are atomic even when they touch keys they did not declare.
    CommandDef { keys_fn: Some(eval_keys), ..def("eval", -3, "noscript skip_monitor may_replicate no_mandatory_keys stale", (0, 0, 0), "@scripting", "scripting", "2.6.0", "Execute a Lua script server side", eval) },
    CommandDef { keys_fn: Some(eval_keys), ..def("evalsha", -3, "noscript skip_monitor may_replicate no_mandatory_keys stale", (0, 0, 0), "@scripting", "scripting", "2.6.0", "Execute a Lua script server side", evalsha) },
    CommandDef { keys_fn: Some(eval_keys), ..def("eval_ro", -3, "noscript skip_monitor no_mandatory_keys stale readonly", (0, 0, 0), "@scripting", "scripting", "7.0.0", "Execute a read-only Lua script server side", eval_ro) },
    CommandDef { keys_fn: Some(eval_keys), ..def("evalsha_ro", -3, "noscript skip_monitor no_mandatory_keys stale readonly", (0, 0, 0), "@scripting", "scripting", "7.0.0", "Execute a read-only Lua script server side", evalsha_ro) },
    container("script", "scripting", "2.6.0", "A container for Lua scripts management commands", SCRIPT),
];

#[rustfmt::skip]
static SCRIPT: &[CommandDef] = &[
    def("exists", -3, "noscript", (0, 0, 0), "@scripting", "scripting", "2.6.0", "Check existence of scripts in the script cache.", script_exists),
    def("flush", -2, "noscript", (0, 0, 0), "@scripting", "scripting", "2.6.0", "Remove all the scripts from the script cache.", script_flush),
    def("help", 2, "loading stale", (0, 0, 0), "@scripting", "scripting", "5.0.0", "Show helpful text about the different subcommands", script_help),
    def("kill", 2, "noscript allow_busy", (0, 0, 0), "@scripting", "scripting", "2.6.0", "Kill the script currently in execution.", script_kill),
    def("load", 3, "noscript stale", (0, 0, 0), "@scripting", "scripting", "2.6.0", "Load the specified Lua script into the script cache.", script_load),
];

/// EVAL's keys: `numkeys` of them after the script (none when `numkeys` is not valid).
pub fn eval_keys(args: &[&[u8]]) -> Vec<usize> {
    let n = args.get(2).and_then(|a| crate::util::num::parse_i64(a)).unwrap_or(0);
    if n <= 0 || n as usize > args.len().saturating_sub(3) {
        return Vec::new();
    }
    (3..3 + n as usize).collect()
}

fn eval(ctx: &mut Ctx, args: &[&[u8]]) {
    eval_generic(ctx, args, false, false)
}

fn evalsha(ctx: &mut Ctx, args: &[&[u8]]) {
    eval_generic(ctx, args, true, false)
}

fn eval_ro(ctx: &mut Ctx, args: &[&[u8]]) {
    eval_generic(ctx, args, false, true)
}

fn evalsha_ro(ctx: &mut Ctx, args: &[&[u8]]) {
    eval_generic(ctx, args, true, true)
}

const NOSCRIPT: &str = "NOSCRIPT No matching script. Please use EVAL.";

/// Looks a body up in the cache by its SHA, or checks it (shebang, compiles) and caches it
/// (Redis's `luaCreateFunction`). Writes the error reply and returns None when it is refused.
fn create(ctx: &mut Ctx, body: &[u8]) -> Option<(String, Arc<Script>)> {
    let sha = scripting::sha1_hex(body);
    if let Some(s) = ctx.srv.scripts.get(sha.as_bytes()) {
        return Some((sha, s));
    }
    let (flags, shebang_len) = match scripting::parse_shebang(body) {
        Ok(x) => x,
        Err(msg) => {
            ctx.out.err(&msg);
            return None;
        }
    };
    let script = Script {
        body: body.to_vec(),
        flags,
        shebang_len,
    };
    if let Err(e) = engine::compile(ctx.srv, ctx.client.worker, &sha, &script) {
        ctx.out.error(&e);
        return None;
    }
    let s = ctx.srv.scripts.insert(sha.clone(), script);
    Some((sha, s))
}

fn eval_generic(ctx: &mut Ctx, args: &[&[u8]], by_sha: bool, ro: bool) {
    // EVAL is skip_monitor: it is shown here, before the commands the script runs.
    if ctx.srv.monitors.active() {
        if let Some(cmd) = ctx.srv.commands.get(args[0]) {
            monitor::feed(ctx.srv, ctx.client, cmd, args);
        }
    }
    if by_sha && args[1].len() != 40 {
        return ctx.out.error(NOSCRIPT);
    }
    let Some(numkeys) = arg_i64(ctx.out, args[2]) else {
        return;
    };
    if numkeys > args.len() as i64 - 3 {
        return ctx.out.err("Number of keys can't be greater than number of args");
    }
    if numkeys < 0 {
        return ctx.out.err("Number of keys can't be negative");
    }
    let (sha, script) = if by_sha {
        match ctx.srv.scripts.get(args[1]) {
            Some(s) => (String::from_utf8_lossy(args[1]).to_ascii_lowercase(), s),
            None => return ctx.out.error(NOSCRIPT),
        }
    } else {
        match create(ctx, args[1]) {
            Some(x) => x,
            None => return,
        }
    };
    let command = match (by_sha, ro) {
        (false, false) => "eval",
        (true, false) => "evalsha",
        (false, true) => "eval_ro",
        (true, true) => "evalsha_ro",
    };
    run_target(
        ctx,
        args,
        engine::Target::Script { sha, script },
        command,
        numkeys as usize,
        ro,
    );
}

/// Runs a script or function whose numkeys was checked. Inside EXEC the world is already
/// stopped: it runs here. Otherwise the script thread runs it and this connection waits for the
/// reply (see `engine::submit`).
pub fn run_target(
    ctx: &mut Ctx,
    args: &[&[u8]],
    target: engine::Target,
    command: &'static str,
    numkeys: usize,
    ro: bool,
) {
    let split = 3 + numkeys;
    let srv_arc = ctx.srv.me.get().and_then(|w| w.upgrade());
    let Some(srv_arc) = srv_arc.filter(|_| !ctx.client.in_exec) else {
        return engine::run_script(ctx, &target, &args[3..split], &args[split..], ro);
    };
    let waiter = crate::server::blocking::park_for_script(ctx.client);
    engine::submit(engine::Job {
        srv: srv_arc,
        waiter,
        caller: engine::Caller {
            worker: ctx.client.worker,
            db: ctx.client.db,
            now_ms: ctx.now_ms,
        },
        resp: ctx.out.resp,
        command,
        target,
        argv: engine::Argv::new(args),
        numkeys,
        ro,
    });
}

/// A script command's flags for admission checks (Redis's `evalGetCommandFlags`): those its
/// shebang declares, or None (the command's own) for scripts without one or not known yet.
pub fn command_flags(srv: &crate::server::Server, cmd: &super::Command, args: &[&[u8]]) -> Option<u32> {
    use super::flag;
    let name = cmd.def.name;
    if cmd.def.group != "scripting" || !(name.starts_with("eval") || name.starts_with("fcall")) || args.len() < 2 {
        return None;
    }
    let script_flags = if name.starts_with("fcall") {
        srv.scripts.functions.function(args[1])?.1.flags
    } else if name.starts_with("evalsha") {
        srv.scripts.get(args[1])?.flags
    } else {
        scripting::parse_shebang(args[1]).ok()?.0
    };
    if script_flags & sflag::EVAL_COMPAT != 0 {
        return None;
    }
    let mut f = cmd.flags & !(flag::STALE | flag::DENYOOM | flag::WRITE | flag::MAY_REPLICATE);
    if script_flags & (sflag::ALLOW_OOM | sflag::NO_WRITES) == 0 {
        f |= flag::DENYOOM;
    }
    if script_flags & sflag::NO_WRITES == 0 {
        f |= flag::WRITE;
    }
    if script_flags & sflag::ALLOW_STALE != 0 {
        f |= flag::STALE;
    }
    Some(f)
}

fn script_exists(ctx: &mut Ctx, args: &[&[u8]]) {
    ctx.out.array(args.len() - 2);
    for sha in &args[2..] {
        ctx.out.int(ctx.srv.scripts.contains(sha) as i64);
    }
}

fn script_flush(ctx: &mut Ctx, args: &[&[u8]]) {
    let lazy = match args.get(2).map(|a| a.to_ascii_lowercase()) {
        None => ctx.srv.config.get_bool("lazyfree-lazy-user-flush"),
        Some(m) if args.len() == 3 && m == b"sync" => false,
        Some(m) if args.len() == 3 && m == b"async" => true,
        _ => return ctx.out.err("SCRIPT FLUSH only support SYNC|ASYNC option"),
    };
    ctx.srv.scripts.flush(lazy);
    ctx.out.ok();
}

fn script_help(ctx: &mut Ctx, _args: &[&[u8]]) {
    help_reply(
        ctx.out,
        "script",
        &[
            "DEBUG (YES|SYNC|NO)",
            "    Set the debug mode for subsequent scripts executed.",
            "EXISTS <sha1> [<sha1> ...]",
            "    Return information about the existence of the scripts in the script cache.",
            "FLUSH [ASYNC|SYNC]",
            "    Flush the Lua scripts cache. Very dangerous on replicas.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the scripts cache.",
            "    * SYNC: Synchronously flush the scripts cache.",
            "KILL",
            "    Kill the currently executing Lua script.",
            "LOAD <script>",
            "    Load a script into the scripts cache without executing it.",
        ],
    );
}

/// SCRIPT KILL (Redis's `scriptKill`): stops a running script that has not written.
fn script_kill(ctx: &mut Ctx, _args: &[&[u8]]) {
    kill_running(ctx, true)
}

/// SCRIPT KILL (`is_eval`) and FUNCTION KILL: each stops only its own kind, and nothing that
/// already wrote.
pub fn kill_running(ctx: &mut Ctx, is_eval: bool) {
    let run = &ctx.srv.scripts.run;
    if !run.running.load(Relaxed) {
        return ctx.out.error("NOTBUSY No scripts in execution right now.");
    }
    if run.wrote.load(Relaxed) {
        return ctx.out.error(scripting::UNKILLABLE);
    }
    match (is_eval, run.eval_mode.load(Relaxed)) {
        (true, false) => return ctx.out.error(scripting::BUSY_FUNCTION),
        (false, true) => return ctx.out.error(scripting::BUSY_EVAL),
        _ => {}
    }
    run.kill.store(true, Relaxed);
    ctx.out.ok();
}

fn script_load(ctx: &mut Ctx, args: &[&[u8]]) {
    if let Some((sha, _)) = create(ctx, args[2]) {
        ctx.out.bulk(sha.as_bytes());
    }
}
