//! Lua scripting: EVAL / EVALSHA / EVAL_RO / EVALSHA_RO / SCRIPT. Every redis.* function,
//! conversions both ways in RESP2 and RESP3 and every error text, checked byte for byte against
//! redis-server 7.0.15 (differential); the cache shared across worker threads, atomicity of
//! scripts touching undeclared keys, BUSY / SCRIPT KILL / UNKILLABLE from other connections,
//! blocking commands inside scripts, and the INFO / MONITOR / commandstats views.

mod common;

use common::{Raw, Reference, Server};
use std::time::{Duration, Instant};

fn r(c: &mut Raw, args: &[&str]) -> String {
    c.cmd_str(args)
}

fn send(c: &mut Raw, args: &[&str]) {
    let mut req = format!("*{}\r\n", args.len());
    for a in args {
        req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    c.send(req.as_bytes());
}

fn reply(c: &mut Raw) -> String {
    String::from_utf8_lossy(&c.read_reply()).into_owned()
}

fn info_field(c: &mut Raw, section: &str, field: &str) -> String {
    r(c, &["INFO", section])
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")).map(str::to_string))
        .unwrap_or_default()
}

/// Scripts (with their numkeys and arguments) whose raw replies must equal Redis's, in RESP2
/// and in RESP3. They cover every conversion, every redis.* function and the error texts.
const CASES: &[&[&str]] = &[
    // Lua -> reply.
    &["return 'hello'", "0"],
    &["return 100.5", "0"],
    &["return -3.9", "0"],
    &["return 9007199254740991", "0"],
    &["return true", "0"],
    &["return false", "0"],
    &["return nil", "0"],
    &["return {1,2,3,'ciao',{1,2}}", "0"],
    &["return {1,nil,3}", "0"],
    &["return {ok='fine'}", "0"],
    &["return {ok='a\\r\\nb'}", "0"],
    &["return {err='My Error'}", "0"],
    &["return {err='WRONG x'}", "0"],
    &["return {double=3.5}", "0"],
    &["return {double=1/0}", "0"],
    &["return {big_number='123456789012345678901234567890'}", "0"],
    &["return {verbatim_string={format='txt', string='hi there'}}", "0"],
    &["return {map={a=1}}", "0"],
    &["return {set={x=true}}", "0"],
    &["return {true, false, 'x'}", "0"],
    &["return _G", "0"],
    &["local a = {}; setmetatable(a,{__index=function() foo() end}) return a", "0"],
    &["return {KEYS[1],KEYS[2],ARGV[1],ARGV[2]}", "2", "a", "b", "c", "d"],
    &["return #KEYS + #ARGV", "1", "k", "x", "y"],
    // Reply -> Lua.
    &["redis.call('set','s','v'); local foo = redis.call('get','s') return {type(foo),foo}", "0"],
    &["redis.call('set','n','1'); local foo = redis.pcall('incr','n') return {type(foo),foo}", "0"],
    &["redis.call('del','l'); redis.call('rpush','l','a','b','c'); local f = redis.call('lrange','l',0,-1) return {type(f), f[1], f[3], #f}", "0"],
    &["local f = redis.call('set','s','v') return {type(f), f['ok']}", "0"],
    &["redis.call('set','s','v'); local f = redis.pcall('incr','s') return {type(f), f['err']}", "0"],
    &["redis.call('del','nokey'); local f = redis.call('get','nokey') return {type(f), f == false}", "0"],
    &["return redis.call('get','nokey2')", "0"],
    &["return redis.pcall('incr','s')", "0"],
    &["redis.call('del','h'); redis.call('hset','h','f','v'); return redis.call('hgetall','h')", "0"],
    &["redis.setresp(3); redis.call('del','h'); redis.call('hset','h','f','v'); return redis.call('hgetall','h')", "0"],
    &["redis.setresp(3); local m = redis.call('hgetall','h') return m['map']['f']", "0"],
    &["redis.setresp(3); redis.call('del','st'); redis.call('sadd','st','m'); local s = redis.call('smembers','st') return s['set']['m']", "0"],
    &["redis.setresp(3); redis.call('del','z'); redis.call('zadd','z','1.5','m'); return redis.call('zscore','z','m')", "0"],
    &["redis.setresp(3); local d = redis.call('zscore','z','m') return {type(d), d['double']}", "0"],
    &["redis.setresp(3); return redis.call('get','nokey3')", "0"],
    &["redis.setresp(3); return {redis.call('exists','nokey3') == 0, true, false}", "0"],
    &["redis.setresp(3); return true", "0"],
    &["redis.setresp(3); return false", "0"],
    &["return redis.call('ping')", "0"],
    &["return redis.call('echo', 3.0)", "0"],
    &["redis.call('set','foo',9007199254740991); return redis.call('get','foo')", "0"],
    &["redis.call('set','key','12039611435714932082'); return redis.call('get','key')", "0"],
    &["redis.call('select','9'); return redis.call('set','indb9','x')", "0"],
    // redis.* functions.
    &["return {redis.sha1hex(''), redis.sha1hex('Pizza & Mandolino'), redis.sha1hex(12)}", "0"],
    &["return redis.error_reply('My Error')", "0"],
    &["return redis.error_reply('-My Error')", "0"],
    &["return redis.error_reply('')", "0"],
    &["return redis.error_reply(1)", "0"],
    &["return redis.status_reply('Fine')", "0"],
    &["return redis.status_reply(1)", "0"],
    &["redis.log(redis.LOG_WARNING, 'from a script', 1, true); return 1", "0"],
    &["return {redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING}", "0"],
    &["return {redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL}", "0"],
    &["redis.set_repl(redis.REPL_ALL); return redis.replicate_commands()", "0"],
    &["return {redis.breakpoint(), redis.debug('x')}", "0"],
    &["return {redis.REDIS_VERSION, redis.REDIS_VERSION_NUM}", "0"],
    &["return pcall(function() error('x') end)", "0"],
    &["local ok, e = pcall(function() redis.call('nosuch') end); return e", "0"],
    &["local ok, e = pcall(function() error({err='X y'}) end); return e", "0"],
    &["return tostring(math.random())", "0"],
    &["math.randomseed(ARGV[1]); return {tostring(math.random()), math.random(10), math.random(5, 7)}", "0", "10"],
    &["return ('abc'):upper()", "0"],
    // The preloaded libraries, read-only like the rest.
    &["return {cjson.encode({1,2,{a=1}}), cmsgpack.pack(1,2), bit.band(7,3), struct.pack('>I2', 5)}", "0"],
    &["return cjson.encode(cjson.decode('{\"a\":[1,2.5,\"x\"]}'))", "0"],
    &["return cmsgpack.unpack(cmsgpack.pack({1,2,3}))", "0"],
    &["return bit.tohex(65535)", "0"],
    &["return cjson.decode('{')", "0"],
    &["return struct.unpack('>I2', 'x')", "0"],
    &["return bit.band()", "0"],
    &["cjson.encode = function() return 1 end", "0"],
    &["cmsgpack.pack = function() return 1 end", "0"],
    &["bit.lshift = function() return 1 end", "0"],
    &["struct.pack = nil", "0"],
    // Errors.
    &["error('x')", "0"],
    &["error({err='MY x'})", "0"],
    &["error(nil)", "0"],
    &["return a", "0"],
    &["a = 10", "0"],
    &["redis.call('nosuch')", "0"],
    &["redis.call('get','a','b')", "0"],
    &["redis.call('set','invalid')", "0"],
    &["redis.call('set','s','v'); redis.call('incr','s')", "0"],
    &["redis.call('set','s','v'); redis.call('lpush','s','val')", "0"],
    &["return redis.call('blpop','x',0)", "0"],
    &["return redis.pcall('brpop','x',0)", "0"],
    &["return redis.call('eval','return 1', 0)", "0"],
    &["return redis.call()", "0"],
    &["return redis.call({})", "0"],
    &["return redis.pcall()", "0"],
    &["return redis.setresp(4)", "0"],
    &["return redis.setresp()", "0"],
    &["redis.set_repl(7)", "0"],
    &["redis.set_repl()", "0"],
    &["redis.log()", "0"],
    &["redis.log('x', 'y')", "0"],
    &["redis.log(9, 'y')", "0"],
    &["redis.sha1hex()", "0"],
    &["return loadfile", "0"],
    &["return dofile", "0"],
    &["return print", "0"],
    &["return os", "0"],
    &["setmetatable(_G, {})", "0"],
    &["local g = getmetatable(_G); g.__index = {}", "0"],
    &["redis = function() return 1 end", "0"],
    &["_G = {}", "0"],
    &["redis.call = function() return 1 end", "0"],
    &["string.x = 1", "0"],
    &["rawset(_G, 'x', 1)", "0"],
    &["return loadstring(string.dump(function() return 1 end))()", "0"],
    &["local x = ", "0"],
    &["#!foo\nreturn 1", "0"],
    &["#!lua\nreturn 1", "0"],
    &["#!lua flags=no-writes,allow-oom,allow-stale,no-cluster,allow-cross-slot-keys\nreturn 2", "0"],
    &["#!lua flags=foo\nreturn 1", "0"],
    &["#!lua x=foo\nreturn 1", "0"],
    &["#!lua", "0"],
    &["#!lua flags=no-writes\nreturn redis.call('set','x','1')", "0"],
    &["#!lua flags=no-writes\nreturn redis.call('pfcount','hll')", "0"],
    &["return redis.call('pfcount','hll')", "0"],
    &["return 1", "-1"],
    &["return 1", "2", "a"],
    &["return 1", "x"],
];

/// Runs every case on both servers over one connection each and compares the raw replies.
fn differential(resp3: bool) {
    let Some(reference) = Reference::start() else {
        return;
    };
    let srv = Server::start();
    let mut ours = srv.raw();
    let mut theirs = reference.raw();
    if resp3 {
        for c in [&mut ours, &mut theirs] {
            assert!(r(c, &["HELLO", "3"]).starts_with('%'));
        }
    }
    // DEBUG PROTOCOL (a noscript command, allowed by this switch) returns every RESP3 type.
    for c in [&mut ours, &mut theirs] {
        assert_eq!(r(c, &["DEBUG", "SET-DISABLE-DENY-SCRIPTS", "1"]), "+OK\r\n");
    }
    for t in [
        "bignum", "map", "set", "double", "null", "verbatim", "true", "false", "attrib",
    ] {
        for resp in ["2", "3"] {
            let script = format!("redis.setresp({resp}); return redis.call('debug', 'protocol', '{t}')");
            let args = ["EVAL", script.as_str(), "0"];
            assert_eq!(r(&mut ours, &args), r(&mut theirs, &args), "{args:?} (resp3: {resp3})");
        }
    }
    for c in [&mut ours, &mut theirs] {
        assert_eq!(r(c, &["DEBUG", "SET-DISABLE-DENY-SCRIPTS", "0"]), "+OK\r\n");
    }
    for case in CASES {
        let mut args = vec!["EVAL"];
        args.extend_from_slice(case);
        let a = r(&mut ours, &args);
        let b = r(&mut theirs, &args);
        assert_eq!(a, b, "EVAL {case:?} (resp3: {resp3})");
        // The same script again by SHA, now cached (errors of scripts that never compiled are
        // NOSCRIPT on both).
        let sha = r(&mut theirs, &["SCRIPT", "LOAD", case[0]]);
        let sha = sha.lines().nth(1).unwrap_or("").to_string();
        if sha.len() == 40 {
            let mut args = vec!["EVALSHA", sha.as_str()];
            args.extend_from_slice(&case[1..]);
            let a = r(&mut ours, &args);
            let b = r(&mut theirs, &args);
            assert_eq!(a, b, "EVALSHA {case:?} (resp3: {resp3})");
        }
    }
    // The _RO forms refuse writes; a shebang script with writes cannot run through them.
    for args in [
        &["EVAL_RO", "return redis.call('set','x','1')", "0"][..],
        &["EVAL_RO", "return redis.call('get','x')", "0"],
        &["EVAL_RO", "#!lua\nreturn 1", "0"],
        &["EVAL_RO", "#!lua flags=no-writes\nreturn 1", "0"],
        &["EVAL_RO", "return redis.call('pfcount','hll')", "0"],
        &["EVALSHA", "abc", "0"],
        &["EVALSHA", "ffd632c7d33e571e9f24556ebed26c3479a87130", "0"],
        &["EVALSHA_RO", "ffd632c7d33e571e9f24556ebed26c3479a87130", "0"],
        &["EVALSHA", "abc", "notanumber"],
        &["SCRIPT", "EXISTS", "fd758d1589d044dd850a6f05d52f2eefd27f033f", "abc"],
        &["SCRIPT", "FLUSH", "bad"],
        &["SCRIPT", "FLUSH", "SYNC", "x"],
        &["SCRIPT", "KILL"],
        &["SCRIPT", "HELP"],
        &["SCRIPT", "LOAD", "return 1"],
        &["SCRIPT", "LOAD", "local x = "],
        &["SCRIPT", "LOAD", "#!bad\nreturn 1"],
        &["SCRIPT", "NOPE"],
        &["SCRIPT", "FLUSH", "ASYNC"],
        &["EVAL"],
        &["EVAL", "return 1"],
    ] {
        assert_eq!(r(&mut ours, args), r(&mut theirs, args), "{args:?} (resp3: {resp3})");
    }
}

#[test]
fn replies_and_errors_match_redis_resp2() {
    differential(false);
}

#[test]
fn replies_and_errors_match_redis_resp3() {
    differential(true);
}

#[test]
fn cache_is_shared_by_worker_threads() {
    let srv = Server::start_with(&["--threads", "4"]);
    // Connections are spread round-robin: four in a row land on four workers.
    let mut c: Vec<Raw> = (0..4).map(|_| srv.raw()).collect();
    let sha = r(&mut c[0], &["SCRIPT", "LOAD", "return redis.call('incr', KEYS[1])"]);
    let sha = sha.lines().nth(1).unwrap_or_default().to_string();
    assert_eq!(sha.len(), 40);
    for (i, conn) in c.iter_mut().enumerate() {
        assert_eq!(r(conn, &["EVALSHA", &sha, "1", "n"]), format!(":{}\r\n", 2 * i + 1));
        assert_eq!(
            r(conn, &["EVALSHA", &sha.to_uppercase(), "1", "n"]),
            format!(":{}\r\n", 2 * i + 2)
        );
    }
    // A script first seen through EVAL on one worker is known to all.
    assert!(r(&mut c[1], &["EVAL", "return 'via eval'", "0"]).contains("via eval"));
    let sha2 = r(&mut c[2], &["SCRIPT", "LOAD", "return 'via eval'"]);
    let sha2 = sha2.lines().nth(1).unwrap_or_default().to_string();
    assert_eq!(
        r(&mut c[3], &["SCRIPT", "EXISTS", &sha, &sha2, "nope"]),
        "*3\r\n:1\r\n:1\r\n:0\r\n"
    );
    assert_eq!(info_field(&mut c[0], "memory", "number_of_cached_scripts"), "2");
    assert!(
        info_field(&mut c[0], "memory", "used_memory_scripts_eval")
            .parse::<u64>()
            .unwrap_or(0)
            > 0
    );
    assert!(
        info_field(&mut c[0], "memory", "used_memory_lua")
            .parse::<u64>()
            .unwrap_or(0)
            > 0
    );
    // SCRIPT FLUSH from one worker empties the cache for all and resets their VMs.
    assert_eq!(r(&mut c[1], &["SCRIPT", "FLUSH"]), "+OK\r\n");
    for conn in c.iter_mut() {
        assert_eq!(
            r(conn, &["EVALSHA", &sha, "1", "n"]),
            "-NOSCRIPT No matching script. Please use EVAL.\r\n"
        );
    }
    assert_eq!(info_field(&mut c[0], "memory", "number_of_cached_scripts"), "0");
    assert_eq!(r(&mut c[2], &["SCRIPT", "FLUSH", "ASYNC"]), "+OK\r\n");
    assert_eq!(r(&mut c[2], &["EVAL", "return 1", "0"]), ":1\r\n");
}

#[test]
fn scripts_are_atomic_on_undeclared_keys() {
    let srv = Server::start_with(&["--threads", "4"]);
    let port = srv.port;
    let writers: Vec<_> = (0..3)
        .map(|_| {
            std::thread::spawn(move || {
                let s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
                let mut c = Raw { s };
                for _ in 0..300 {
                    // Neither key is declared: the script holds each shard it touches until it ends.
                    let out = r(
                        &mut c,
                        &["EVAL", "redis.call('incr','a'); redis.call('incr','b'); return 1", "0"],
                    );
                    assert_eq!(out, ":1\r\n");
                }
            })
        })
        .collect();
    let mut checker = srv.raw();
    let mut checks = 0;
    while writers.iter().any(|w| !w.is_finished()) {
        let out = r(&mut checker, &["MGET", "a", "b"]);
        let vals: Vec<&str> = out
            .lines()
            .filter(|l| !l.starts_with('*') && !l.starts_with('$'))
            .collect();
        if vals.len() == 2 {
            assert_eq!(vals[0], vals[1], "a script was seen half done: {out:?}");
        }
        checks += 1;
    }
    for w in writers {
        w.join().expect("writer");
    }
    assert!(checks > 0);
    assert_eq!(r(&mut checker, &["MGET", "a", "b"]), "*2\r\n$3\r\n900\r\n$3\r\n900\r\n");
}

/// A script holds only the shards it touches: while it runs, other clients are served on other
/// keys at once, and a client that reads a key the script wrote (declared or not) waits and
/// sees only the script's final value. Clients writing a key that scripts read-modify-write
/// without declaring it lose no update.
#[test]
fn scripts_hold_their_keys_not_the_server() {
    // 16 workers make 64 shards: a client's key shares one of the script's two shards with a
    // chance of 1 in 32, so at most two of the eight clients wait for the script.
    let srv = Server::start_with(&["--threads", "16"]);
    let mut runner = srv.raw();
    let mut other = srv.raw();
    // 1.5 s of script: under busy-reply-threshold, so nobody is answered BUSY, and long enough
    // for the other clients to be served on a loaded machine.
    let script = "redis.call('set', KEYS[1], 'start') redis.call('set', 'undeclared', 'start') \
        local s = redis.call('time') \
        while true do local n = redis.call('time') \
          if (n[1] - s[1]) * 1000000 + (n[2] - s[2]) > 1500000 then break end end \
        redis.call('set', KEYS[1], 'end') redis.call('set', 'undeclared', 'end') return 1";
    send(&mut runner, &["EVAL", script, "1", "declared"]);
    std::thread::sleep(Duration::from_millis(150));
    // Clients on other keys are answered while the script still runs. Each key is on its own
    // connection: one that happens to share a shard with the script's keys waits for it.
    let port = srv.port;
    let others: Vec<_> = (0..8)
        .map(|i| {
            std::thread::spawn(move || {
                let s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
                let mut c = Raw { s };
                assert_eq!(r(&mut c, &["SET", &format!("free{i}"), "1"]), "+OK\r\n");
                Instant::now()
            })
        })
        .collect();
    assert_eq!(reply(&mut runner), ":1\r\n");
    let script_done = Instant::now();
    let answered_before = others
        .into_iter()
        .map(|t| t.join().expect("client"))
        .filter(|&at| at < script_done)
        .count();
    assert!(
        answered_before >= 6,
        "only {answered_before} of 8 clients were served during the script"
    );
    // Its keys, declared or not, wait for it and show only its outcome.
    send(&mut runner, &["EVAL", script, "1", "declared"]);
    std::thread::sleep(Duration::from_millis(150));
    assert_eq!(r(&mut other, &["GET", "declared"]), "$3\r\nend\r\n");
    assert_eq!(r(&mut other, &["GET", "undeclared"]), "$3\r\nend\r\n");
    assert_eq!(reply(&mut runner), ":1\r\n");

    // No lost update: scripts read-modify-write `c` (undeclared) while plain INCRs hit it.
    let port = srv.port;
    let workers: Vec<_> = (0..4)
        .map(|i| {
            std::thread::spawn(move || {
                let s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
                let mut c = Raw { s };
                for _ in 0..250 {
                    if i % 2 == 0 {
                        let rmw =
                            "local v = redis.call('get', 'c') redis.call('set', 'c', (tonumber(v) or 0) + 1) return 1";
                        assert_eq!(r(&mut c, &["EVAL", rmw, "0"]), ":1\r\n");
                    } else {
                        assert!(r(&mut c, &["INCR", "c"]).starts_with(':'));
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    assert_eq!(r(&mut other, &["GET", "c"]), "$4\r\n1000\r\n");
}

/// Waits until `c` is answered BUSY (the script on another worker passed its time limit).
fn wait_busy(c: &mut Raw) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let out = r(c, &["PING"]);
        if out.starts_with("-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.") {
            return;
        }
        assert_eq!(out, "+PONG\r\n");
        assert!(Instant::now() < deadline, "never BUSY");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn busy_script_is_killed_by_script_kill() {
    let srv = Server::start_with(&["--threads", "2"]);
    // Consecutive connections are on different workers.
    let mut runner = srv.raw();
    let mut other = srv.raw();
    assert_eq!(
        r(&mut other, &["SCRIPT", "KILL"]),
        "-NOTBUSY No scripts in execution right now.\r\n"
    );
    assert_eq!(r(&mut other, &["CONFIG", "SET", "lua-time-limit", "20"]), "+OK\r\n");
    // pcall cannot swallow the kill.
    send(
        &mut runner,
        &[
            "EVAL",
            "local f = function() while 1 do redis.call('ping') end end while 1 do pcall(f) end",
            "0",
        ],
    );
    wait_busy(&mut other);
    // Allow-busy commands run; the rest are refused, inside MULTI too.
    assert_eq!(r(&mut other, &["MULTI"]), "+OK\r\n");
    assert!(r(&mut other, &["GET", "x"]).starts_with("-BUSY"));
    assert!(r(&mut other, &["EXEC"]).starts_with("-EXECABORT"));
    assert_eq!(r(&mut other, &["SCRIPT", "KILL"]), "+OK\r\n");
    let out = reply(&mut runner);
    assert!(
        out.starts_with("-ERR Script killed by user with SCRIPT KILL... script: "),
        "{out}"
    );
    assert_eq!(r(&mut other, &["PING"]), "+PONG\r\n");
    assert_eq!(r(&mut runner, &["PING"]), "+PONG\r\n");
    assert_eq!(
        r(&mut other, &["SCRIPT", "KILL"]),
        "-NOTBUSY No scripts in execution right now.\r\n"
    );
}

#[test]
fn script_that_wrote_is_unkillable() {
    let mut srv = Server::start_with(&["--threads", "3"]);
    let mut runner = srv.raw();
    let mut other = srv.raw();
    let mut third = srv.raw();
    assert_eq!(
        r(&mut other, &["CONFIG", "SET", "busy-reply-threshold", "20"]),
        "+OK\r\n"
    );
    send(
        &mut runner,
        &["EVAL", "redis.call('set',KEYS[1],'y'); while true do end", "1", "x"],
    );
    wait_busy(&mut other);
    assert_eq!(
        r(&mut other, &["SCRIPT", "KILL"]),
        "-UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.\r\n"
    );
    assert!(r(&mut third, &["GET", "x"]).starts_with("-BUSY"));
    // SHUTDOWN NOSAVE still works.
    send(&mut third, &["SHUTDOWN", "NOSAVE"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while srv.alive() {
        assert!(Instant::now() < deadline, "server still running");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn waiting_for_a_short_script_is_not_busy() {
    let srv = Server::start_with(&["--threads", "2"]);
    let mut runner = srv.raw();
    let mut other = srv.raw();
    // Under the threshold, other clients wait for the script instead of getting BUSY.
    send(
        &mut runner,
        &["EVAL", "local i = 0 while i < 3000000 do i = i + 1 end return i", "0"],
    );
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(r(&mut other, &["PING"]), "+PONG\r\n");
    assert_eq!(reply(&mut runner), ":3000000\r\n");
}

#[test]
fn blocking_commands_do_not_block_in_scripts() {
    let srv = Server::start();
    let mut c = srv.raw();
    assert_eq!(
        r(
            &mut c,
            &["EVAL", "return redis.call('blmpop', 0, 1, 'nolist', 'left')", "0"]
        ),
        "$-1\r\n"
    );
    assert_eq!(
        r(
            &mut c,
            &["EVAL", "return redis.call('bzmpop', 0, 1, 'nozset', 'min')", "0"]
        ),
        "$-1\r\n"
    );
    assert!(r(&mut c, &["EVAL", "return redis.pcall('bzpopmin', 'nozset', 0)", "0"])
        .starts_with("-ERR This Redis command is not allowed from script"));
    r(&mut c, &["RPUSH", "l", "a"]);
    assert_eq!(
        r(&mut c, &["EVAL", "return redis.call('blmpop', 0, 1, 'l', 'left')", "0"]),
        "*2\r\n$1\r\nl\r\n*1\r\n$1\r\na\r\n"
    );
}

#[test]
fn script_client_state_and_observability() {
    let srv = Server::start();
    let mut c = srv.raw();
    let mut mon = srv.raw();
    assert_eq!(r(&mut c, &["SELECT", "3"]), "+OK\r\n");
    r(&mut c, &["SET", "k", "db3"]);
    // The script starts in the caller's database; its SELECT does not change the caller's.
    assert_eq!(
        r(&mut c, &["EVAL", "return redis.call('get','k')", "0"]),
        "$3\r\ndb3\r\n"
    );
    assert_eq!(
        r(
            &mut c,
            &[
                "EVAL",
                "redis.call('select','4'); return redis.call('set','k','db4')",
                "0"
            ]
        ),
        "+OK\r\n"
    );
    assert_eq!(r(&mut c, &["GET", "k"]), "$3\r\ndb3\r\n");
    // MONITOR shows EVAL, then its commands as the lua client.
    assert_eq!(r(&mut mon, &["MONITOR"]), "+OK\r\n");
    r(&mut c, &["EVAL", "return redis.call('incr','counter')", "0"]);
    let first = reply(&mut mon);
    let second = reply(&mut mon);
    assert!(
        first.contains("\"EVAL\" \"return redis.call('incr','counter')\" \"0\""),
        "{first}"
    );
    assert!(second.contains("[3 lua] \"incr\" \"counter\""), "{second}");
    // commandstats count the script's commands; CLIENT LIST shows the caller ran EVAL.
    let stats = r(&mut c, &["INFO", "commandstats"]);
    assert!(stats.contains("cmdstat_incr:calls=1,"), "{stats}");
    assert!(stats.contains("cmdstat_eval:calls=3,"), "{stats}");
    let list = r(&mut c, &["CLIENT", "INFO"]);
    assert!(list.contains(" cmd=client|info "), "{list}");
    assert!(!r(&mut c, &["CLIENT", "LIST"]).contains("lua"));
    // A refused command inside a script counts as rejected; a failing one as failed.
    r(&mut c, &["CONFIG", "RESETSTAT"]);
    r(
        &mut c,
        &[
            "EVAL",
            "redis.pcall('incr','k'); redis.pcall('get','a','b'); return 1",
            "0",
        ],
    );
    let stats = r(&mut c, &["INFO", "commandstats"]);
    assert!(stats.contains("cmdstat_incr:calls=1,"), "{stats}");
    assert!(stats.contains("rejected_calls=0,failed_calls=1"), "{stats}");
    assert!(
        stats.contains("cmdstat_get:calls=0,usec=0,usec_per_call=0.00,rejected_calls=1,failed_calls=0"),
        "{stats}"
    );
    assert!(stats.contains("cmdstat_eval:calls=1,"), "{stats}");
    let errors = r(&mut c, &["INFO", "errorstats"]);
    assert!(errors.contains("errorstat_ERR:count=2"), "{errors}");
    // An error the script returns from a failed redis.call is not counted twice.
    r(&mut c, &["CONFIG", "RESETSTAT"]);
    assert!(r(&mut c, &["EVAL", "redis.call('incr','k')", "0"]).starts_with("-ERR value is not an integer"));
    assert!(r(&mut c, &["INFO", "errorstats"]).contains("errorstat_ERR:count=1"));
}

#[test]
fn scripts_inside_multi_and_oom() {
    let srv = Server::start();
    let mut c = srv.raw();
    assert_eq!(r(&mut c, &["MULTI"]), "+OK\r\n");
    assert_eq!(
        r(&mut c, &["EVAL", "return redis.call('incr','m')", "0"]),
        "+QUEUED\r\n"
    );
    assert_eq!(
        r(
            &mut c,
            &["EVAL", "return redis.call('blmpop', 0, 1, 'nolist', 'left')", "0"]
        ),
        "+QUEUED\r\n"
    );
    assert_eq!(r(&mut c, &["EXEC"]), "*2\r\n:1\r\n$-1\r\n");
    // Above maxmemory: a write inside a plain EVAL is refused; a shebang script without
    // allow-oom is refused before it runs; no-writes / allow-oom scripts run.
    assert_eq!(r(&mut c, &["CONFIG", "SET", "maxmemory", "1"]), "+OK\r\n");
    let out = r(&mut c, &["EVAL", "redis.call('set','x',1)", "0"]);
    assert!(
        out.starts_with("-OOM command not allowed when used memory > 'maxmemory'. script: "),
        "{out}"
    );
    assert_eq!(r(&mut c, &["EVAL", "return redis.call('get','m')", "0"]), "$1\r\n1\r\n");
    assert_eq!(
        r(&mut c, &["EVAL", "#!lua\nreturn 1", "0"]),
        "-OOM command not allowed when used memory > 'maxmemory'.\r\n"
    );
    assert_eq!(r(&mut c, &["EVAL", "#!lua flags=no-writes\nreturn 1", "0"]), ":1\r\n");
    assert_eq!(
        r(
            &mut c,
            &["EVAL", "#!lua flags=allow-oom\nreturn redis.call('set','x','1')", "0"]
        ),
        "+OK\r\n"
    );
    assert_eq!(r(&mut c, &["CONFIG", "SET", "maxmemory", "0"]), "+OK\r\n");
}

#[test]
fn clients_on_the_script_callers_worker_are_served() {
    // One worker: every connection shares the caller's worker, and still gets BUSY, can kill
    // the script, and the caller's pipelined requests run after the script's reply.
    let srv = Server::start_with(&["--threads", "1"]);
    let mut runner = srv.raw();
    let mut other = srv.raw();
    assert_eq!(r(&mut other, &["CONFIG", "SET", "lua-time-limit", "10"]), "+OK\r\n");
    let script = "while 1 do redis.call('ping') end";
    runner.send(
        format!(
            "*3\r\n$4\r\neval\r\n${}\r\n{script}\r\n$1\r\n0\r\n*1\r\n$4\r\nping\r\n",
            script.len()
        )
        .as_bytes(),
    );
    wait_busy(&mut other);
    assert_eq!(r(&mut other, &["SCRIPT", "KILL"]), "+OK\r\n");
    assert!(reply(&mut runner).starts_with("-ERR Script killed by user with SCRIPT KILL... script: "));
    assert_eq!(reply(&mut runner), "+PONG\r\n");
    assert_eq!(r(&mut other, &["PING"]), "+PONG\r\n");
    // A client that disconnects while its script runs: the script finishes, its reply is
    // dropped, and the next script (waiting, under the threshold) runs.
    assert_eq!(r(&mut other, &["CONFIG", "SET", "lua-time-limit", "5000"]), "+OK\r\n");
    send(
        &mut runner,
        &["EVAL", "local i = 0 while i < 20000000 do i = i + 1 end return i", "0"],
    );
    drop(runner);
    assert_eq!(r(&mut other, &["EVAL", "return 'after'", "0"]), "$5\r\nafter\r\n");
}

#[test]
fn script_time_counts_in_slowlog_and_commandstats() {
    let srv = Server::start();
    let mut c = srv.raw();
    assert_eq!(
        r(&mut c, &["CONFIG", "SET", "slowlog-log-slower-than", "20000"]),
        "+OK\r\n"
    );
    r(&mut c, &["SLOWLOG", "RESET"]);
    r(&mut c, &["CONFIG", "RESETSTAT"]);
    let script = "local i = 0 while i < 30000000 do i = i + 1 end return i";
    assert_eq!(r(&mut c, &["EVAL", script, "0"]), ":30000000\r\n");
    // One entry, for EVAL, with the script's whole run time.
    assert_eq!(r(&mut c, &["SLOWLOG", "LEN"]), ":1\r\n");
    let entry = r(&mut c, &["SLOWLOG", "GET"]);
    assert!(entry.contains("$4\r\nEVAL\r\n"), "{entry}");
    let stats = r(&mut c, &["INFO", "commandstats"]);
    let line = stats
        .lines()
        .find(|l| l.starts_with("cmdstat_eval:"))
        .unwrap_or_default();
    let usec: u64 = line
        .split(',')
        .find_map(|f| f.strip_prefix("usec="))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(usec >= 20000, "{line}");
    // A script's error reply counts as the EVAL's failure.
    assert!(r(&mut c, &["EVAL", "error('x')", "0"]).starts_with("-ERR user_script:1: x"));
    let stats = r(&mut c, &["INFO", "commandstats"]);
    assert!(stats.contains("rejected_calls=0,failed_calls=1"), "{stats}");
}

#[test]
fn pipelined_scripts_from_many_connections_are_batched_in_order() {
    // Many connections, each pipelining scripts mixed with plain commands, on one worker (the
    // scripts cross to the script thread in batches): every reply comes in request order,
    // every increment lands once, and a pipeline's replies arrive together after its last
    // script.
    let srv = Server::start_with(&["--threads", "1"]);
    let mut c = srv.raw();
    let sha = r(&mut c, &["SCRIPT", "LOAD", "return redis.call('INCR', KEYS[1])"]);
    let sha = sha.lines().nth(1).unwrap_or_default().to_string();
    assert_eq!(sha.len(), 40);
    let (conns, depth, rounds) = (20, 16, 20);
    let mut raws: Vec<Raw> = (0..conns).map(|_| srv.raw()).collect();
    for _ in 0..rounds {
        for (i, raw) in raws.iter_mut().enumerate() {
            let key = format!("k{i}");
            let mut req = Vec::new();
            for j in 0..depth {
                let args: Vec<&str> = if j % 4 == 3 {
                    vec!["GET", &key]
                } else {
                    vec!["EVALSHA", &sha, "1", &key]
                };
                req.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
                for a in args {
                    req.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
                }
            }
            raw.send(&req);
        }
    }
    for (i, raw) in raws.iter_mut().enumerate() {
        let mut n = 0;
        for _ in 0..rounds {
            for j in 0..depth {
                let got = reply(raw);
                if j % 4 == 3 {
                    assert_eq!(got, format!("${}\r\n{n}\r\n", n.to_string().len()), "conn {i}");
                } else {
                    n += 1;
                    assert_eq!(got, format!(":{n}\r\n"), "conn {i}");
                }
            }
        }
    }
    let total = conns * rounds * depth * 3 / 4;
    let counts: usize = (0..conns)
        .map(|i| {
            let v = r(&mut c, &["GET", &format!("k{i}")]);
            v.lines().nth(1).and_then(|n| n.parse::<usize>().ok()).unwrap_or(0)
        })
        .sum();
    assert_eq!(counts, total);
    // The EVALSHAs and GETs each counted once.
    let stats = r(&mut c, &["INFO", "commandstats"]);
    let calls = |name: &str| -> usize {
        stats
            .lines()
            .find(|l| l.starts_with(&format!("cmdstat_{name}:")))
            .and_then(|l| l.split(',').next())
            .and_then(|f| f.split("calls=").nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    assert_eq!(calls("evalsha"), total);
    assert_eq!(calls("incr"), total);
}

/// A pipeline of scripts crosses to the script thread together, and every reply still comes
/// back in request order: scripts that run, scripts answered at once with an error (unknown
/// SHA, bad numkeys), and plain commands between them.
#[test]
fn pipelined_scripts_reply_in_order() {
    let srv = Server::start();
    let mut c = srv.raw();
    let sha = r(&mut c, &["SCRIPT", "LOAD", "return redis.call('incr', KEYS[1])"]);
    let sha = sha.lines().nth(1).unwrap_or_default().to_string();
    let missing = "0123456789012345678901234567890123456789";
    let mut pipeline: Vec<Vec<&str>> = Vec::new();
    let mut expected = String::new();
    for round in 0..50 {
        pipeline.push(vec!["EVALSHA", &sha, "1", "n"]);
        expected.push_str(&format!(":{}\r\n", round * 2 + 1));
        pipeline.push(vec!["EVALSHA", missing, "0"]);
        expected.push_str("-NOSCRIPT No matching script. Please use EVAL.\r\n");
        pipeline.push(vec!["EVAL", "return redis.call('incr', KEYS[1])", "1", "n"]);
        expected.push_str(&format!(":{}\r\n", round * 2 + 2));
        pipeline.push(vec!["EVAL", "return 1", "-1"]);
        expected.push_str("-ERR Number of keys can't be negative\r\n");
        pipeline.push(vec!["GET", "n"]);
        let n = (round * 2 + 2).to_string();
        expected.push_str(&format!("${}\r\n{n}\r\n", n.len()));
    }
    let mut bytes = Vec::new();
    for args in &pipeline {
        bytes.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for a in args {
            bytes.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
    }
    c.send(&bytes);
    let got: String = (0..pipeline.len()).map(|_| reply(&mut c)).collect();
    assert_eq!(got, expected);
}
