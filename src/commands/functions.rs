//! Functions: FCALL, FCALL_RO and FUNCTION (Redis's `functions.c`). The registry is in
//! `crate::scripting::functions`; a function runs like EVAL does (`scripting::run_target`).

use super::scripting::{eval_keys, kill_running, run_target};
use super::{container, def, help_reply, CommandDef, Ctx};
use crate::scripting::functions::{RestorePolicy, LOAD_TIMEOUT_MS};
use crate::scripting::{engine, sflag, BUSY_EVAL};
use crate::server::monitor;
use std::sync::atomic::Ordering::Relaxed;

#[rustfmt::skip]
pub static COMMANDS: &[CommandDef] = &[
    CommandDef { keys_fn: Some(eval_keys), ..def("fcall", -3, "noscript skip_monitor may_replicate no_mandatory_keys stale", (0, 0, 0), "@scripting", "scripting", "7.0.0", "Invoke a function", fcall) },
    CommandDef { keys_fn: Some(eval_keys), ..def("fcall_ro", -3, "noscript skip_monitor no_mandatory_keys stale readonly", (0, 0, 0), "@scripting", "scripting", "7.0.0", "Invoke a read-only function", fcall_ro) },
    container("function", "scripting", "7.0.0", "A container for function commands", FUNCTION),
];

#[rustfmt::skip]
static FUNCTION: &[CommandDef] = &[
    def("delete", 3, "write noscript", (0, 0, 0), "@write @slow @scripting", "scripting", "7.0.0", "Delete a function by name", function_delete),
    def("dump", 2, "noscript", (0, 0, 0), "@slow @scripting", "scripting", "7.0.0", "Dump all functions into a serialized binary payload", function_dump),
    def("flush", -2, "write noscript", (0, 0, 0), "@write @slow @scripting", "scripting", "7.0.0", "Deleting all functions", function_flush),
    def("help", 2, "loading stale", (0, 0, 0), "@slow @scripting", "scripting", "7.0.0", "Show helpful text about the different subcommands", function_help),
    def("kill", 2, "noscript allow_busy", (0, 0, 0), "@slow @scripting", "scripting", "7.0.0", "Kill the function currently in execution.", function_kill),
    def("list", -2, "noscript", (0, 0, 0), "@slow @scripting", "scripting", "7.0.0", "List information about all the functions", function_list),
    def("load", -3, "write denyoom noscript", (0, 0, 0), "@write @slow @scripting", "scripting", "7.0.0", "Create a function with the given arguments (name, code, description)", function_load),
    def("restore", -3, "write denyoom noscript", (0, 0, 0), "@write @slow @scripting", "scripting", "7.0.0", "Restore all the functions on the given payload", function_restore),
    def("stats", 2, "noscript allow_busy", (0, 0, 0), "@slow @scripting", "scripting", "7.0.0", "Return information about the function currently running (name, description, duration)", function_stats),
];

fn fcall(ctx: &mut Ctx, args: &[&[u8]]) {
    fcall_generic(ctx, args, false)
}

fn fcall_ro(ctx: &mut Ctx, args: &[&[u8]]) {
    fcall_generic(ctx, args, true)
}

fn fcall_generic(ctx: &mut Ctx, args: &[&[u8]], ro: bool) {
    // FCALL is skip_monitor: it is shown here, before the commands the function runs.
    if ctx.srv.monitors.active() {
        if let Some(cmd) = ctx.srv.commands.get(args[0]) {
            monitor::feed(ctx.srv, ctx.client, cmd, args);
        }
    }
    let Some((_, info)) = ctx.srv.scripts.functions.function(args[1]) else {
        return ctx.out.err("Function not found");
    };
    let Some(numkeys) = crate::util::num::parse_i64(args[2]) else {
        return ctx.out.err("Bad number of keys provided");
    };
    if numkeys > args.len() as i64 - 3 {
        return ctx.out.err("Number of keys can't be greater than number of args");
    }
    if numkeys < 0 {
        return ctx.out.err("Number of keys can't be negative");
    }
    let target = engine::Target::Function {
        name: info.name,
        flags: info.flags,
    };
    let command = if ro { "fcall_ro" } else { "fcall" };
    run_target(ctx, args, target, command, numkeys as usize, ro);
}

/// "unknown subcommand or wrong number of arguments" for a FUNCTION subcommand.
fn syntax_error(ctx: &mut Ctx, sub: &[u8]) {
    ctx.out.err(&format!(
        "unknown subcommand or wrong number of arguments for '{}'. Try FUNCTION HELP.",
        String::from_utf8_lossy(sub)
    ));
}

fn function_load(ctx: &mut Ctx, args: &[&[u8]]) {
    let mut replace = false;
    for opt in &args[2..args.len() - 1] {
        if !opt.eq_ignore_ascii_case(b"replace") {
            return ctx
                .out
                .err(&format!("Unknown option given: {}", String::from_utf8_lossy(opt)));
        }
        replace = true;
    }
    let code = args[args.len() - 1];
    match ctx
        .srv
        .scripts
        .functions
        .load(ctx.srv, ctx.client.worker, code, replace, LOAD_TIMEOUT_MS)
    {
        Ok(name) => {
            ctx.dirty(1);
            ctx.out.bulk(name.as_bytes());
        }
        Err(e) => ctx.out.err(&e),
    }
}

fn function_delete(ctx: &mut Ctx, args: &[&[u8]]) {
    if !ctx.srv.scripts.functions.delete(args[2]) {
        return ctx.out.err("Library not found");
    }
    ctx.dirty(1);
    ctx.out.ok();
}

fn function_flush(ctx: &mut Ctx, args: &[&[u8]]) {
    if args.len() > 3 {
        return syntax_error(ctx, args[1]);
    }
    let lazy = match args.get(2) {
        None => ctx.srv.config.get_bool("lazyfree-lazy-user-flush"),
        Some(m) if m.eq_ignore_ascii_case(b"sync") => false,
        Some(m) if m.eq_ignore_ascii_case(b"async") => true,
        Some(_) => return ctx.out.err("FUNCTION FLUSH only supports SYNC|ASYNC option"),
    };
    ctx.srv.scripts.functions.flush(lazy);
    ctx.dirty(1);
    ctx.out.ok();
}

fn function_list(ctx: &mut Ctx, args: &[&[u8]]) {
    let mut with_code = false;
    let mut pattern: Option<&[u8]> = None;
    let mut i = 2;
    while i < args.len() {
        let a = args[i];
        if !with_code && a.eq_ignore_ascii_case(b"withcode") {
            with_code = true;
        } else if pattern.is_none() && a.eq_ignore_ascii_case(b"libraryname") {
            let Some(p) = args.get(i + 1) else {
                return ctx.out.err("library name argument was not given");
            };
            pattern = Some(p);
            i += 1;
        } else {
            return ctx.out.err(&format!("Unknown argument {}", String::from_utf8_lossy(a)));
        }
        i += 1;
    }
    let libs = ctx.srv.scripts.functions.snapshot();
    let shown: Vec<_> = libs
        .libs
        .values()
        .filter(|l| pattern.is_none_or(|p| crate::util::glob::glob_match(p, l.name.as_bytes(), true)))
        .collect();
    let out = &mut *ctx.out;
    out.array(shown.len());
    for lib in shown {
        out.map(if with_code { 4 } else { 3 });
        out.bulk(b"library_name");
        out.bulk(lib.name.as_bytes());
        out.bulk(b"engine");
        out.bulk(b"LUA");
        out.bulk(b"functions");
        out.array(lib.functions.len());
        for f in &lib.functions {
            out.map(3);
            out.bulk(b"name");
            out.bulk(f.name.as_bytes());
            out.bulk(b"description");
            match &f.desc {
                Some(d) => out.bulk(d),
                None => out.null(),
            }
            out.bulk(b"flags");
            let names: Vec<&str> = sflag::NAMES
                .iter()
                .filter(|(bit, _)| f.flags & bit != 0)
                .map(|(_, n)| *n)
                .collect();
            out.set(names.len());
            for n in names {
                out.simple(n);
            }
        }
        if with_code {
            out.bulk(b"library_code");
            out.bulk(&lib.code);
        }
    }
}

fn function_dump(ctx: &mut Ctx, _args: &[&[u8]]) {
    let payload = ctx.srv.scripts.functions.dump();
    ctx.out.bulk(&payload);
}

fn function_restore(ctx: &mut Ctx, args: &[&[u8]]) {
    if args.len() > 4 {
        return syntax_error(ctx, args[1]);
    }
    let policy = match args.get(3).map(|p| p.to_ascii_lowercase()) {
        None => RestorePolicy::Append,
        Some(p) if p == b"append" => RestorePolicy::Append,
        Some(p) if p == b"replace" => RestorePolicy::Replace,
        Some(p) if p == b"flush" => RestorePolicy::Flush,
        Some(_) => {
            return ctx
                .out
                .err("Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.")
        }
    };
    match ctx
        .srv
        .scripts
        .functions
        .restore(ctx.srv, ctx.client.worker, args[2], policy)
    {
        Ok(()) => {
            ctx.dirty(1);
            ctx.out.ok();
        }
        Err(e) => ctx.out.err(&e),
    }
}

fn function_stats(ctx: &mut Ctx, _args: &[&[u8]]) {
    let run = &ctx.srv.scripts.run;
    let running = run.running.load(Relaxed);
    if running && run.eval_mode.load(Relaxed) {
        return ctx.out.error(BUSY_EVAL);
    }
    let current = if running { run.function.lock().clone() } else { None };
    let (libs, funcs) = ctx.srv.scripts.functions.counts();
    let out = &mut *ctx.out;
    out.map(2);
    out.bulk(b"running_script");
    match current {
        None => out.null(),
        Some((name, argv)) => {
            out.map(3);
            out.bulk(b"name");
            out.bulk(name.as_bytes());
            out.bulk(b"command");
            out.array(argv.len());
            for a in &argv {
                out.bulk(a);
            }
            out.bulk(b"duration_ms");
            out.int(crate::server::unix_ms() - run.start_ms.load(Relaxed));
        }
    }
    out.bulk(b"engines");
    out.map(1);
    out.bulk(b"LUA");
    out.map(2);
    out.bulk(b"libraries_count");
    out.int(libs as i64);
    out.bulk(b"functions_count");
    out.int(funcs as i64);
}

/// FUNCTION KILL: stops a running function that has not written; an EVAL is SCRIPT KILL's.
fn function_kill(ctx: &mut Ctx, _args: &[&[u8]]) {
    kill_running(ctx, false)
}

fn function_help(ctx: &mut Ctx, _args: &[&[u8]]) {
    help_reply(
        ctx.out,
        "function",
        &[
            "LOAD [REPLACE] <FUNCTION CODE>",
            "    Create a new library with the given library name and code.",
            "DELETE <LIBRARY NAME>",
            "    Delete the given library.",
            "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
            "    Return general information on all the libraries:",
            "    * Library name",
            "    * The engine used to run the Library",
            "    * Library description",
            "    * Functions list",
            "    * Library code (if WITHCODE is given)",
            "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
            "STATS",
            "    Return information about the current function running:",
            "    * Function name",
            "    * Command used to run the function",
            "    * Duration in MS that the function is running",
            "    If no function is running, return nil",
            "    In addition, returns a list of available engines.",
            "KILL",
            "    Kill the current running function.",
            "FLUSH [ASYNC|SYNC]",
            "    Delete all the libraries.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the libraries.",
            "    * SYNC: Synchronously flush the libraries.",
            "DUMP",
            "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
            "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
            "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
            "    control how to handle existing libraries (default APPEND):",
            "    * FLUSH: delete all existing libraries.",
            "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
            "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
            "      libraries with the new libraries (notice that even on this option there is a chance of failure",
            "      in case of functions name collision with another library).",
        ],
    );
}
