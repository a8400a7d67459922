//! Functions: FUNCTION LOAD / DELETE / FLUSH / LIST / DUMP / RESTORE / STATS / KILL, FCALL and
//! FCALL_RO. Replies and error texts are compared byte for byte with redis-server 7.0.15
//! (differential); DUMP payloads and RDB files move between Redis and Ochre both ways; the
//! registry is shared by every worker; a busy function is answered with BUSY, killed by FUNCTION
//! KILL and not by SCRIPT KILL.

mod common;

use common::{Raw, Reference, Server};
use std::time::{Duration, Instant};

fn r(c: &mut Raw, args: &[&str]) -> String {
    c.cmd_str(args)
}

fn lib(name: &str, body: &str) -> String {
    format!("#!lua name={name}\n{body}")
}

/// Commands whose raw replies must equal Redis's, run in order on one connection of each
/// server (so later ones see the libraries earlier ones loaded).
fn cases() -> Vec<Vec<String>> {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let load = |body: &str| s(&["FUNCTION", "LOAD", "REPLACE", &lib("lib2", body)]);
    vec![
        // Metadata errors.
        s(&["FUNCTION", "LOAD", "return 1"]),
        s(&["FUNCTION", "LOAD", "#!lua name=x"]),
        s(&["FUNCTION", "LOAD", "#! name=x\nreturn 1"]),
        s(&["FUNCTION", "LOAD", "#!lua\nreturn 1"]),
        s(&["FUNCTION", "LOAD", "#!lua name=a name=b\nreturn 1"]),
        s(&["FUNCTION", "LOAD", "#!lua name=a foo=bar\nreturn 1"]),
        s(&["FUNCTION", "LOAD", "#!lua name=a-b\nreturn 1"]),
        s(&["FUNCTION", "LOAD", "#!lua name=\"unbalanced\nreturn 1"]),
        s(&["FUNCTION", "LOAD", "BAD", "#!lua name=x\nreturn 1"]),
        // Load-time errors: compile, the load environment, register_function's arguments.
        load("bad script"),
        load("return 1"),
        load("return math.random()"),
        load("a = 1"),
        load("return redis.call('ping')"),
        load("return redis.setresp(3)"),
        load("mt = getmetatable(_G)"),
        load("redis.register_function()"),
        load("redis.register_function('f1')"),
        load("redis.register_function('f1', function() end, 3)"),
        load("redis.register_function(nil, function() end)"),
        load("redis.register_function('f1', 'x')"),
        load("redis.register_function('a-b', function() end)"),
        load("redis.register_function('', function() end)"),
        load("redis.register_function('f1', function() end) redis.register_function('f1', function() end)"),
        load("redis.register_function{function_name=function() end, callback=function() end}"),
        load("redis.register_function{function_name='f1', callback='x'}"),
        load("redis.register_function{function_name='f1', callback=function() end, description={}}"),
        load("redis.register_function{function_name='f1', callback=function() end, other=1}"),
        load("redis.register_function{callback=function() end}"),
        load("redis.register_function{function_name='f1'}"),
        load("redis.register_function{function_name='f1', callback=function() end, flags='x'}"),
        load("redis.register_function{function_name='f1', callback=function() end, flags={'bad'}}"),
        load("local a = 1 while 1 do a = a + 1 end"),
        // A library with flags, a description and shared local code.
        load(
            "local function add1(a) return a + 1 end\n\
             redis.log(redis.LOG_NOTICE, 'loading', redis.REDIS_VERSION)\n\
             redis.register_function('f1', function(keys, args) return add1(#keys) end)\n\
             redis.register_function{function_name='F2', description='two', \
               callback=function(keys, args) return {keys[1], args[1]} end, flags={'NO-WRITES', 'allow-stale'}}\n\
             redis.register_function{function_name='w', callback=function(keys) return redis.call('set', keys[1], 'v') end}\n\
             redis.register_function{function_name='nw', flags={'no-writes'}, callback=function(keys) return redis.call('set', keys[1], 'v') end}\n\
             redis.register_function('err', function() error('boom') end)\n\
             redis.register_function('glob', function() x = 1 end)\n\
             redis.register_function('reg', function() redis.register_function('z', function() end) end)",
        ),
        // (LIST shows a library's functions in hash order: one function per library here.)
        s(&[
            "FUNCTION",
            "LOAD",
            &lib(
                "lib1",
                "redis.register_function{function_name='one', description='d', callback=function() end, \
                 flags={'allow-cross-slot-keys', 'no-cluster', 'allow-oom'}}",
            ),
        ]),
        s(&["FUNCTION", "LIST", "LIBRARYNAME", "lib1"]),
        s(&["FUNCTION", "LIST", "WITHCODE", "LIBRARYNAME", "*1"]),
        s(&["FUNCTION", "LIST", "LIBRARYNAME", "nomatch*"]),
        s(&["FUNCTION", "LIST", "bad"]),
        s(&["FUNCTION", "LIST", "LIBRARYNAME"]),
        s(&["FUNCTION", "LIST", "WITHCODE", "WITHCODE"]),
        s(&["FUNCTION", "STATS"]),
        // FCALL.
        s(&["FCALL", "f1", "2", "a", "b", "c"]),
        s(&["FCALL", "f2", "1", "k", "arg"]),
        s(&["FCALL_RO", "F2", "1", "k", "arg"]),
        s(&["FCALL", "nosuch", "0"]),
        s(&["FCALL", "f1", "x"]),
        s(&["FCALL", "f1", "5", "a"]),
        s(&["FCALL", "f1", "-1"]),
        s(&["FCALL", "w", "1", "k"]),
        s(&["FCALL_RO", "w", "1", "k"]),
        s(&["FCALL", "nw", "1", "k"]),
        s(&["FCALL", "err", "0"]),
        s(&["FCALL", "glob", "0"]),
        s(&["FCALL", "reg", "0"]),
        s(&["COMMAND", "GETKEYS", "FCALL", "f1", "2", "a", "b", "c"]),
        // Collisions, DELETE, FLUSH, RESTORE errors.
        s(&["FUNCTION", "LOAD", &lib("lib2", "redis.register_function('q', function() end)")]),
        s(&["FUNCTION", "LOAD", &lib("lib3", "redis.register_function('F1', function() end)")]),
        s(&["FUNCTION", "DELETE", "nosuch"]),
        s(&["FUNCTION", "RESTORE", "bad"]),
        s(&["FUNCTION", "RESTORE", "bad", "nope"]),
        s(&["FUNCTION", "RESTORE", "a", "b", "c"]),
        s(&["FUNCTION", "FLUSH", "bad"]),
        s(&["FUNCTION", "FLUSH", "sync", "x"]),
        s(&["FUNCTION", "KILL"]),
        s(&["FUNCTION", "DELETE", "lib2"]),
        s(&["FUNCTION", "LIST"]),
        s(&["FUNCTION", "DUMP"]),
        s(&["FUNCTION", "FLUSH"]),
        s(&["FUNCTION", "STATS"]),
        s(&["FUNCTION", "HELP"]),
    ]
}

#[test]
fn replies_match_redis() {
    let Some(reference) = Reference::start() else {
        return;
    };
    let srv = Server::start();
    let (mut ours, mut theirs) = (srv.raw(), reference.raw());
    for case in cases() {
        let args: Vec<&[u8]> = case.iter().map(|a| a.as_bytes()).collect();
        let (a, b) = (ours.cmd(&args), theirs.cmd(&args));
        assert_eq!(String::from_utf8_lossy(&a), String::from_utf8_lossy(&b), "{:?}", case);
    }
}

#[test]
fn dump_and_restore_move_between_redis_and_ochre() {
    let Some(reference) = Reference::start() else {
        return;
    };
    let srv = Server::start();
    let (mut ours, mut theirs) = (srv.raw(), reference.raw());
    let code = lib(
        "moved",
        "redis.register_function('m', function(k, a) return 'moved' end)",
    );
    assert_eq!(r(&mut ours, &["FUNCTION", "LOAD", &code]), "$5\r\nmoved\r\n");
    let payload = ours.cmd(&[b"FUNCTION", b"DUMP"]);
    let theirs_payload = {
        r(&mut theirs, &["FUNCTION", "LOAD", &code]);
        theirs.cmd(&[b"FUNCTION", b"DUMP"])
    };
    assert_eq!(payload, theirs_payload);
    // The bulk string's content, without its header and CRLF.
    let start = payload.iter().position(|&c| c == b'\n').unwrap() + 1;
    let body = &payload[start..payload.len() - 2];
    r(&mut theirs, &["FUNCTION", "FLUSH"]);
    assert_eq!(theirs.cmd(&[b"FUNCTION", b"RESTORE", body]), b"+OK\r\n");
    assert_eq!(r(&mut theirs, &["FCALL", "m", "0"]), "$5\r\nmoved\r\n");
    // APPEND refuses an existing library; REPLACE and FLUSH take it.
    assert_eq!(
        String::from_utf8_lossy(&ours.cmd(&[b"FUNCTION", b"RESTORE", body])),
        "-ERR Library moved already exists\r\n"
    );
    assert_eq!(ours.cmd(&[b"FUNCTION", b"RESTORE", body, b"REPLACE"]), b"+OK\r\n");
    assert_eq!(ours.cmd(&[b"FUNCTION", b"RESTORE", body, b"FLUSH"]), b"+OK\r\n");
    assert_eq!(r(&mut ours, &["FCALL", "m", "0"]), "$5\r\nmoved\r\n");
    // A corrupt payload changes nothing.
    let mut bad = body.to_vec();
    bad[5] ^= 1;
    assert_eq!(
        String::from_utf8_lossy(&ours.cmd(&[b"FUNCTION", b"RESTORE", &bad, b"FLUSH"])),
        "-ERR DUMP payload version or checksum are wrong\r\n"
    );
    assert_eq!(r(&mut ours, &["FUNCTION", "STATS"]).matches(":1\r\n").count(), 2);
}

#[test]
fn registry_is_shared_by_every_connection() {
    let srv = Server::start();
    let mut conns: Vec<Raw> = (0..8).map(|_| srv.raw()).collect();
    let code = lib("shared", "redis.register_function('s', function(k, a) return a[1] end)");
    assert_eq!(r(&mut conns[0], &["FUNCTION", "LOAD", &code]), "$6\r\nshared\r\n");
    for (i, c) in conns.iter_mut().enumerate() {
        let n = i.to_string();
        assert_eq!(r(c, &["FCALL", "S", "0", &n]), format!("${}\r\n{n}\r\n", n.len()));
    }
    // A REPLACE on one connection is what every other one runs next.
    let code2 = lib("shared", "redis.register_function('s', function(k, a) return 'v2' end)");
    r(&mut conns[3], &["FUNCTION", "LOAD", "REPLACE", &code2]);
    for c in conns.iter_mut() {
        assert_eq!(r(c, &["FCALL", "s", "0"]), "$2\r\nv2\r\n");
    }
    r(&mut conns[5], &["FUNCTION", "DELETE", "shared"]);
    for c in conns.iter_mut() {
        assert_eq!(r(c, &["FCALL", "s", "0"]), "-ERR Function not found\r\n");
    }
    // FCALL inside MULTI runs in place, with the others' libraries.
    r(&mut conns[1], &["FUNCTION", "LOAD", &code]);
    let c = &mut conns[2];
    r(c, &["MULTI"]);
    assert_eq!(r(c, &["FCALL", "s", "0", "tx"]), "+QUEUED\r\n");
    assert_eq!(r(c, &["EXEC"]), "*1\r\n$2\r\ntx\r\n");
    let info = r(c, &["INFO", "memory"]);
    assert!(info.contains("number_of_functions:1\r\n"), "{info}");
    assert!(info.contains("number_of_libraries:1\r\n"), "{info}");
}

#[test]
fn busy_function_is_killed_by_function_kill_only() {
    let srv = Server::start();
    let mut c = srv.raw();
    r(&mut c, &["CONFIG", "SET", "busy-reply-threshold", "10"]);
    let code = lib(
        "busy",
        "redis.register_function('spin', function() local a = 1 while true do a = a + 1 end end)",
    );
    r(&mut c, &["FUNCTION", "LOAD", &code]);
    let mut runner = srv.raw();
    runner.send(b"*3\r\n$5\r\nFCALL\r\n$4\r\nspin\r\n$1\r\n0\r\n");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !r(&mut c, &["PING"]).starts_with("-BUSY") {
        assert!(Instant::now() < deadline, "never BUSY");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        r(&mut c, &["PING"]),
        "-BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.\r\n"
    );
    let stats = r(&mut c, &["FUNCTION", "STATS"]);
    assert!(
        stats.contains("$4\r\nspin\r\n$7\r\ncommand\r\n*3\r\n$5\r\nFCALL\r\n"),
        "{stats}"
    );
    assert_eq!(
        r(&mut c, &["SCRIPT", "KILL"]),
        "-BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.\r\n"
    );
    assert_eq!(r(&mut c, &["FUNCTION", "KILL"]), "+OK\r\n");
    let reply = String::from_utf8_lossy(&runner.read_reply()).into_owned();
    assert!(reply.starts_with("-ERR Script killed by user"), "{reply}");
    assert_eq!(r(&mut c, &["PING"]), "+PONG\r\n");
    // And FUNCTION KILL does not stop an EVAL.
    runner.send(b"*3\r\n$4\r\nEVAL\r\n$28\r\nlocal a=1 while 1 do a=a end\r\n$1\r\n0\r\n");
    while !r(&mut c, &["PING"]).starts_with("-BUSY") {
        assert!(Instant::now() < deadline + Duration::from_secs(5), "never BUSY");
        std::thread::sleep(Duration::from_millis(20));
    }
    let busy_eval = "-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n";
    assert_eq!(r(&mut c, &["FUNCTION", "KILL"]), busy_eval);
    assert_eq!(r(&mut c, &["FUNCTION", "STATS"]), busy_eval);
    assert_eq!(r(&mut c, &["SCRIPT", "KILL"]), "+OK\r\n");
    runner.read_reply();
}

#[test]
fn flags_decide_oom_and_read_only() {
    let srv = Server::start();
    let mut c = srv.raw();
    let code = lib(
        "flags",
        "redis.register_function('w', function(k) return redis.call('set', k[1], '1') end)\n\
         redis.register_function{function_name='oom', flags={'allow-oom'}, callback=function(k) return redis.call('set', k[1], '1') end}\n\
         redis.register_function{function_name='ro', flags={'no-writes'}, callback=function() return 'ro' end}",
    );
    r(&mut c, &["FUNCTION", "LOAD", &code]);
    r(&mut c, &["CONFIG", "SET", "maxmemory", "1"]);
    assert!(r(&mut c, &["FCALL", "w", "1", "k"]).starts_with("-OOM "));
    assert_eq!(r(&mut c, &["FCALL", "oom", "1", "k"]), "+OK\r\n");
    assert_eq!(r(&mut c, &["FCALL", "ro", "0"]), "$2\r\nro\r\n");
    assert_eq!(r(&mut c, &["FCALL_RO", "ro", "0"]), "$2\r\nro\r\n");
    assert!(r(&mut c, &["FUNCTION", "LOAD", &lib("x", "return 1")]).starts_with("-OOM "));
    r(&mut c, &["CONFIG", "SET", "maxmemory", "0"]);
    assert_eq!(
        r(&mut c, &["FCALL_RO", "w", "1", "k"]),
        "-ERR Can not execute a script with write flag using *_ro command.\r\n"
    );
}

#[test]
fn functions_survive_reload_and_restart_and_read_redis_files() {
    let srv = Server::start();
    let mut c = srv.raw();
    let code = lib("keep", "redis.register_function('kept', function() return 'kept' end)");
    r(&mut c, &["FUNCTION", "LOAD", &code]);
    r(&mut c, &["SET", "k", "v"]);
    assert_eq!(r(&mut c, &["DEBUG", "RELOAD"]), "+OK\r\n");
    assert_eq!(r(&mut c, &["FCALL", "kept", "0"]), "$4\r\nkept\r\n");
    // NOFLUSH without MERGE finds the library already there.
    assert_eq!(
        r(&mut c, &["DEBUG", "RELOAD", "NOFLUSH"]),
        "-ERR Error trying to load the RDB dump\r\n"
    );
    assert_eq!(r(&mut c, &["DEBUG", "RELOAD", "NOFLUSH", "MERGE"]), "+OK\r\n");
    assert_eq!(r(&mut c, &["SAVE"]), "+OK\r\n");
    // Redis reads Ochre's file, functions included.
    let Some(reference) = Reference::start_in(&srv.dir) else {
        return;
    };
    let mut theirs = reference.raw();
    assert_eq!(r(&mut theirs, &["FCALL", "kept", "0"]), "$4\r\nkept\r\n");
    assert_eq!(r(&mut theirs, &["GET", "k"]), "$1\r\nv\r\n");
    // And Ochre reads Redis's.
    let code2 = lib(
        "theirs",
        "redis.register_function('from_redis', function() return 'r' end)",
    );
    r(&mut theirs, &["FUNCTION", "LOAD", &code2]);
    assert_eq!(r(&mut theirs, &["SAVE"]), "+OK\r\n");
    let dir = std::env::temp_dir().join(format!("ochre-fn-restart-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(srv.dir.join("dump.rdb"), dir.join("dump.rdb")).unwrap();
    drop(c);
    drop(srv);
    let srv2 = Server::start_with(&["--dir", dir.to_str().unwrap()]);
    let mut c2 = srv2.raw();
    assert_eq!(r(&mut c2, &["FCALL", "from_redis", "0"]), "$1\r\nr\r\n");
    assert_eq!(r(&mut c2, &["FCALL", "kept", "0"]), "$4\r\nkept\r\n");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn blocking_reads_refused_and_failures_counted() {
    let srv = Server::start();
    let mut c = srv.raw();
    let code = lib(
        "reads",
        "redis.register_function('xr', function() return redis.call('xread', 'BLOCK', '0', 'STREAMS', 's', '$') end)\n\
         redis.register_function('passon', function() return redis.pcall('incr', 'str') end)",
    );
    r(&mut c, &["FUNCTION", "LOAD", &code]);
    let reply = r(&mut c, &["FCALL", "xr", "0"]);
    assert!(
        reply.starts_with("-ERR xread command is not allowed with BLOCK option from scripts"),
        "{reply}"
    );
    // An error passed on from redis.pcall is counted once in errorstats, and FCALL failed.
    r(&mut c, &["SET", "str", "x"]);
    r(&mut c, &["CONFIG", "RESETSTAT"]);
    assert_eq!(
        r(&mut c, &["FCALL", "passon", "0"]),
        "-ERR value is not an integer or out of range\r\n"
    );
    let stats = r(&mut c, &["INFO", "commandstats"]);
    let fcall = stats
        .lines()
        .find(|l| l.starts_with("cmdstat_fcall:"))
        .unwrap_or_default();
    assert!(fcall.starts_with("cmdstat_fcall:calls=1,"), "{stats}");
    assert!(fcall.ends_with("rejected_calls=0,failed_calls=1"), "{stats}");
    let errs = r(&mut c, &["INFO", "errorstats"]);
    assert!(errs.contains("errorstat_ERR:count=1\r\n"), "{errs}");
}

#[test]
fn keys_do_not_expire_under_a_running_function() {
    let srv = Server::start();
    let mut c = srv.raw();
    // A fast cron: without the world lock, active expiry would run many times in the sleep.
    r(&mut c, &["CONFIG", "SET", "hz", "500"]);
    r(&mut c, &["DEBUG", "SET-DISABLE-DENY-SCRIPTS", "1"]);
    let code = lib(
        "time",
        "redis.register_function('frozen', function(k)\n\
           redis.call('set', k[1], 'v', 'px', '1')\n\
           redis.call('debug', 'sleep', '0.1')\n\
           return redis.call('exists', k[1])\n\
         end)",
    );
    r(&mut c, &["FUNCTION", "LOAD", &code]);
    for _ in 0..3 {
        assert_eq!(r(&mut c, &["FCALL", "frozen", "1", "key"]), ":1\r\n");
    }
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(r(&mut c, &["EXISTS", "key"]), ":0\r\n");
}
