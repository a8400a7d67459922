//! Write propagation (Redis's `call()` → `alsoPropagate` → `propagatePendingCommands`): while it
//! is active (AOF on, or a replica attached), the *effect* of every write is appended to one
//! global log in one total order, which feeds the AOF and the replicas' streams alike.
//!
//! * **What is logged.** A write command whose run moved the dirty counter is logged as its own
//!   arguments, unless its handler replaced them with explicit commands ([`Ctx::propagate`],
//!   e.g. `SET k v EX 10` → `SET k v PXAT <ms>`, `SPOP` → `SREM`). A key deleted by lazy expiry
//!   during a write is logged as `DEL` (or `UNLINK` under `lazyfree-lazy-expire`) before the
//!   command's own effect. When one unit (a command, an EXEC, a script) logs more than one
//!   command, they are wrapped in `MULTI … EXEC`, as Redis 7.0 does.
//! * **Order.** Shard locks are released before a command returns, so appending afterwards
//!   could not order two workers' writes to one key. While propagation is active, a write takes
//!   the global **order mutex** before its handler and holds it until its effects are appended
//!   (lock order: world lock → order mutex → shard locks). EXEC and scripts take it once for
//!   their whole run; the thread-local depth makes their inner `call`s skip it. Active expiry
//!   and the evictor take it before their shard lock. When propagation is off this costs one
//!   relaxed load.
//! * **Expiry on reads.** A read does not hold the order mutex and cannot take it under a shard
//!   lock, so while propagation is active a lookup outside the mutex leaves an expired key in
//!   place and treats it as absent (as a Redis replica does): `keyspace::PROPAGATING` and the
//!   thread-local `keyspace::MAY_EXPIRE` say whether this thread may delete.
//!
//! [`Ctx::propagate`]: crate::commands::Ctx::propagate

use super::Server;
use parking_lot::{Mutex, MutexGuard};
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

/// One logged command and the database it applies to.
pub struct Effect {
    pub db: usize,
    pub argv: Vec<Vec<u8>>,
    /// For replicas only, never the AOF (PUBLISH: Redis's `PROPAGATE_REPL`).
    pub repl_only: bool,
}

/// The server-wide propagation state.
#[derive(Default)]
pub struct Propagation {
    /// The AOF is on, or a replica is attached.
    active: AtomicBool,
    aof: AtomicBool,
    replicas: AtomicBool,
    order: Mutex<()>,
}

impl Propagation {
    /// Whether writes are logged now (one relaxed load: the hot path's whole cost).
    #[inline]
    pub fn active(&self) -> bool {
        self.active.load(Relaxed)
    }

    /// Whether the AOF receives the log.
    pub fn aof_on(&self) -> bool {
        self.aof.load(Relaxed)
    }

    /// Turns the AOF's feed on or off. Callers hold the order mutex or run before any client.
    pub fn set_aof(&self, on: bool) {
        self.aof.store(on, Relaxed);
        self.update();
    }

    /// Notes whether replicas are attached. Switching on needs the world lock held exclusively
    /// (no write in flight may miss the log); switching off is safe at any time.
    pub fn set_replicas(&self, any: bool) {
        self.replicas.store(any, Relaxed);
        self.update();
    }

    fn update(&self) {
        let on = self.aof.load(Relaxed) || self.replicas.load(Relaxed);
        self.active.store(on, Relaxed);
        crate::keyspace::PROPAGATING.store(on, Relaxed);
    }
}

/// What this thread has pending while it holds the order mutex.
#[derive(Default)]
struct Pending {
    /// Nesting of [`Scope`]s on this thread (> 0: the order mutex is held here).
    depth: u32,
    /// Effects of the current unit, in order.
    effects: Vec<Effect>,
    /// Commands the running handler asked to log instead of its arguments (`Some` once it
    /// called [`explicit`], even with none: then nothing is logged for it).
    explicit: Option<Vec<Vec<Vec<u8>>>>,
    /// Replaying the AOF: effects are dropped and the mutex is never taken.
    loading: bool,
}

thread_local! {
    static PENDING: RefCell<Pending> = RefCell::new(Pending::default());
}

/// A held order mutex; [`Scope::finish`] appends the unit's effects and releases it.
pub struct Scope<'a> {
    _guard: Option<MutexGuard<'a, ()>>,
    /// Wrap more than one effect in MULTI … EXEC.
    wrap: bool,
}

fn set_depth(p: &mut Pending, depth: u32) {
    p.depth = depth;
    crate::keyspace::MAY_EXPIRE.with(|c| c.set(depth > 0 || p.loading));
}

/// Takes the order mutex for a unit of writes, or returns `None` when propagation is off or
/// this thread already holds it (an EXEC's or a script's inner command: its effects join the
/// outer unit's).
#[inline]
pub fn enter(srv: &Server) -> Option<Scope<'_>> {
    if !srv.propagation.active() {
        return None;
    }
    enter_slow(srv, true)
}

/// As [`enter`], for active expiry and eviction: effects are never wrapped in MULTI/EXEC.
pub fn enter_plain(srv: &Server) -> Option<Scope<'_>> {
    if !srv.propagation.active() {
        return None;
    }
    enter_slow(srv, false)
}

#[cold]
fn enter_slow(srv: &Server, wrap: bool) -> Option<Scope<'_>> {
    if PENDING.with(|p| {
        let p = p.borrow();
        p.depth > 0 || p.loading
    }) {
        return None;
    }
    let guard = srv.propagation.order.lock();
    PENDING.with(|p| set_depth(&mut p.borrow_mut(), 1));
    Some(Scope {
        _guard: Some(guard),
        wrap,
    })
}

impl Scope<'_> {
    /// Appends the unit's effects to the log (wrapped in MULTI/EXEC when more than one and the
    /// unit asked for it) and releases the order mutex.
    pub fn finish(self, srv: &Server) {
        let effects = PENDING.with(|p| {
            let mut p = p.borrow_mut();
            set_depth(&mut p, 0);
            p.explicit = None;
            std::mem::take(&mut p.effects)
        });
        if effects.is_empty() {
            return;
        }
        if srv.propagation.aof_on() {
            let logged: Vec<&Effect> = effects.iter().filter(|e| !e.repl_only).collect();
            if !logged.is_empty() {
                crate::persistence::aof::feed(srv, &logged, self.wrap && logged.len() > 1);
            }
        }
        if srv.propagation.replicas.load(Relaxed) {
            let all: Vec<&Effect> = effects.iter().collect();
            crate::replication::feed(srv, &all, self.wrap && all.len() > 1);
        }
        // `_guard` drops here, after the append.
    }
}

/// Whether this thread is inside a propagation unit (its writes' effects are collected).
#[inline]
pub fn collecting() -> bool {
    PENDING.with(|p| p.borrow().depth > 0)
}

/// Starts a handler's run: forgets explicit effects a previous command left.
#[inline]
pub fn command_started() {
    PENDING.with(|p| p.borrow_mut().explicit = None);
}

/// Records the effect of a command that just ran inside a unit: the commands its handler gave,
/// else its own arguments when it changed data.
pub fn command_done(srv: &Server, db: usize, argv: &[&[u8]], changed: bool) {
    PENDING.with(|cell| {
        let mut p = cell.borrow_mut();
        if p.depth == 0 || p.loading {
            return;
        }
        match p.explicit.take() {
            Some(cmds) => {
                for argv in cmds {
                    p.effects.push(Effect {
                        db,
                        argv,
                        repl_only: false,
                    });
                }
            }
            None if changed => {
                drop(p);
                let cmds = rewrite(srv, db, argv).unwrap_or_else(|| vec![argv.iter().map(|a| a.to_vec()).collect()]);
                let mut p = cell.borrow_mut();
                for argv in cmds {
                    p.effects.push(Effect {
                        db,
                        argv,
                        repl_only: false,
                    });
                }
            }
            None => {}
        }
    });
}

/// A handler's replacement for its own arguments in the log (several calls log several
/// commands; an empty `argv` logs nothing but still replaces). No-op outside a unit.
pub fn explicit(argv: &[&[u8]]) {
    PENDING.with(|p| {
        let mut p = p.borrow_mut();
        if p.depth == 0 || p.loading {
            return;
        }
        let list = p.explicit.get_or_insert_with(Vec::new);
        if !argv.is_empty() {
            list.push(argv.iter().map(|a| a.to_vec()).collect());
        }
    });
}

/// A key of `db` deleted because it expired (lazily inside a write, or by active expiry):
/// logs `DEL key`, or `UNLINK key` under `lazyfree-lazy-expire`, as Redis's propagateDeletion.
pub fn expired(srv: &Server, db: usize, key: &[u8]) {
    if !srv.propagation.active() {
        return;
    }
    PENDING.with(|p| {
        let mut p = p.borrow_mut();
        if p.depth == 0 || p.loading {
            return;
        }
        let verb: &[u8] = if srv.config.get_bool("lazyfree-lazy-expire") {
            b"UNLINK"
        } else {
            b"DEL"
        };
        p.effects.push(Effect {
            db,
            argv: vec![verb.to_vec(), key.to_vec()],
            repl_only: false,
        });
    });
}

/// A command replicas must run but the AOF must not keep (PUBLISH, so a replica's own
/// subscribers get the message). Joins the running unit (EXEC, a script), else is sent alone.
pub fn replicate_only(srv: &Server, db: usize, argv: &[&[u8]]) {
    if !srv.propagation.replicas.load(Relaxed) {
        return;
    }
    let effect = Effect {
        db,
        argv: argv.iter().map(|a| a.to_vec()).collect(),
        repl_only: true,
    };
    if collecting() {
        PENDING.with(|p| p.borrow_mut().effects.push(effect));
    } else if let Some(scope) = enter(srv) {
        PENDING.with(|p| p.borrow_mut().effects.push(effect));
        scope.finish(srv);
    }
}

/// Any effect queued directly (eviction's DEL).
pub fn push(db: usize, argv: Vec<Vec<u8>>) {
    PENDING.with(|p| {
        let mut p = p.borrow_mut();
        if p.depth > 0 && !p.loading {
            p.effects.push(Effect {
                db,
                argv,
                repl_only: false,
            });
        }
    });
}

/// Whether this thread is replaying a log (the AOF loader): commands obey what it says.
pub fn replaying() -> bool {
    PENDING.with(|p| p.borrow().loading)
}

/// Runs `f` as the AOF loader: nothing it does is logged and no key expires.
pub fn loading<T>(f: impl FnOnce() -> T) -> T {
    crate::keyspace::value::NO_EXPIRY.with(|c| c.set(true));
    PENDING.with(|p| {
        let mut p = p.borrow_mut();
        p.loading = true;
        let d = p.depth;
        set_depth(&mut p, d);
    });
    let r = f();
    crate::keyspace::value::NO_EXPIRY.with(|c| c.set(false));
    PENDING.with(|p| {
        let mut p = p.borrow_mut();
        p.loading = false;
        let d = p.depth;
        set_depth(&mut p, d);
    });
    r
}

/// Holds the order mutex for `f` without collecting effects: the AOF rewrite switches files
/// under it, so no write can fall between the snapshot and the new incremental file.
pub fn exclusive<T>(srv: &Server, f: impl FnOnce() -> T) -> T {
    let _g = srv.propagation.order.lock();
    f()
}

/// Redis 7.0's rewrites of a command's logged form (`rewriteClientCommandVector` in
/// t_string.c, expire.c, t_hash.c, t_stream.c, cluster.c): relative times become absolute and
/// results that depend on the moment or on randomness are logged as their outcome. Reads the
/// key after the command ran (the order mutex is held, so nothing changed it since).
/// `None`: log the arguments as they are.
pub fn rewrite(srv: &Server, db: usize, argv: &[&[u8]]) -> Option<Vec<Vec<Vec<u8>>>> {
    let name = argv.first()?.to_ascii_lowercase();
    let key = *argv.get(1)?;
    let v = |s: &[u8]| s.to_vec();
    let del = |lazy: bool| -> Vec<Vec<Vec<u8>>> { vec![vec![v(if lazy { b"UNLINK" } else { b"DEL" }), v(key)]] };
    // The key's TTL and the entry as it is now.
    let read = |f: &mut dyn FnMut(Option<&crate::keyspace::value::Entry>)| {
        let shard = srv.keyspace.db(db).lock(key);
        f(shard.dict.get(key));
    };
    let expire_of = || {
        let mut when = None;
        read(&mut |e| when = e.map(|e| e.expire));
        when
    };
    let ms = |n: i64| n.to_string().into_bytes();
    match name.as_slice() {
        b"set" | b"setex" | b"psetex" => {
            let (val, has_expire) = match name.as_slice() {
                b"set" => (
                    *argv.get(2)?,
                    argv[3..]
                        .iter()
                        .any(|a| matches!(a.to_ascii_lowercase().as_slice(), b"ex" | b"px" | b"exat" | b"pxat")),
                ),
                _ => (*argv.get(3)?, true),
            };
            if !has_expire {
                return None;
            }
            match expire_of() {
                Some(when) if when != 0 => Some(vec![vec![v(b"SET"), v(key), v(val), v(b"PXAT"), ms(when)]]),
                _ => None,
            }
        }
        b"getex" => {
            let opt = argv.get(2).map(|a| a.to_ascii_lowercase());
            match opt.as_deref() {
                Some(b"persist") => Some(vec![vec![v(b"PERSIST"), v(key)]]),
                Some(_) => match expire_of() {
                    Some(when) if when != 0 => Some(vec![vec![v(b"PEXPIREAT"), v(key), ms(when)]]),
                    Some(_) => None,
                    None => Some(del(srv.config.get_bool("lazyfree-lazy-expire"))),
                },
                None => None,
            }
        }
        b"expire" | b"pexpire" | b"expireat" | b"pexpireat" => match expire_of() {
            Some(when) if when != 0 => Some(vec![vec![v(b"PEXPIREAT"), v(key), ms(when)]]),
            Some(_) => None,
            None => Some(del(srv.config.get_bool("lazyfree-lazy-expire"))),
        },
        b"getdel" => Some(del(srv.config.get_bool("lazyfree-lazy-user-del"))),
        b"getset" => Some(vec![vec![v(b"SET"), v(key), v(argv.get(2)?)]]),
        b"incrbyfloat" => {
            let mut val = None;
            read(&mut |e| val = e.and_then(|e| e.value.as_bytes().map(|b| b.into_owned())));
            Some(vec![vec![v(b"SET"), v(key), val?, v(b"KEEPTTL")]])
        }
        b"hincrbyfloat" => {
            let field = *argv.get(2)?;
            let mut val = None;
            read(&mut |e| {
                if let Some(crate::keyspace::Value::Hash(h)) = e.map(|e| &e.value) {
                    val = h.get(field).map(|b| b.to_vec());
                }
            });
            Some(vec![vec![v(b"HSET"), v(key), v(field), val?]])
        }
        b"restore" => {
            // A relative TTL becomes absolute (ABSTTL), as Redis's restoreCommand rewrites it.
            let abs = argv[3..].iter().any(|a| a.eq_ignore_ascii_case(b"absttl"));
            if abs || argv.get(2).is_some_and(|t| *t == b"0") {
                return None;
            }
            let when = expire_of()?;
            let mut out: Vec<Vec<u8>> = argv.iter().map(|a| a.to_vec()).collect();
            out[2] = ms(when);
            out.push(v(b"ABSTTL"));
            Some(vec![out])
        }
        b"xadd" | b"xtrim" => stream_outcome(srv, db, argv).map(|a| vec![a]),
        _ => None,
    }
}

/// XADD and XTRIM logged with their outcome (Redis's `streamRewriteApproxSpecifier` and
/// `streamRewriteTrimArgument`): an approximate trim (`~`) becomes the exact one it amounted to,
/// `MAXLEN = <length now>` or `MINID = <first ID now>`, and XADD's `*` (or `<ms>-*`) the ID it
/// generated. Replayed, the command then does exactly what it did, whatever the node layout.
fn stream_outcome(srv: &Server, db: usize, argv: &[&[u8]]) -> Option<Vec<Vec<u8>>> {
    let xadd = argv[0].eq_ignore_ascii_case(b"xadd");
    let key = argv[1];
    // (index of `~`, MAXLEN?) and the index of XADD's ID.
    let mut approx: Option<(usize, bool)> = None;
    let mut i = 2;
    while i < argv.len() {
        let a = argv[i].to_ascii_lowercase();
        match a.as_slice() {
            b"nomkstream" => i += 1,
            b"maxlen" | b"minid" => {
                i += 1;
                if argv.get(i).is_some_and(|t| *t == b"~") {
                    approx = Some((i, a == b"maxlen"));
                }
                if argv.get(i).is_some_and(|t| *t == b"=" || *t == b"~") {
                    i += 1;
                }
                i += 1;
            }
            b"limit" => i += 2,
            _ => break,
        }
    }
    let auto_id = xadd && argv.get(i).is_some_and(|id| id.ends_with(b"*"));
    if approx.is_none() && !auto_id {
        return None;
    }
    let shard = srv.keyspace.db(db).lock(key);
    let Some(crate::keyspace::Value::Stream(s)) = shard.dict.get(key).map(|e| &e.value) else {
        return None;
    };
    let mut out: Vec<Vec<u8>> = argv.iter().map(|a| a.to_vec()).collect();
    if let Some((at, maxlen)) = approx {
        out[at] = b"=".to_vec();
        out[at + 1] = if maxlen {
            s.length.to_string().into_bytes()
        } else {
            let first = s.edge_id(true).unwrap_or(crate::types::stream::StreamId::MAX);
            first.to_bytes()
        };
    }
    if auto_id {
        out[i] = s.last_id.to_bytes();
    }
    Some(out)
}

thread_local! {
    /// How many elements the serve function that just ran popped (see [`served_popped`]).
    static POPPED: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

/// Called by a serve function that popped `n` elements with a COUNT: [`served`] logs that
/// count, as Redis logs `LPOP key <popped>` for BLMPOP.
pub fn served_popped(n: usize) {
    POPPED.with(|c| c.set(Some(n)));
}

/// The logged form of a blocked client served by a push (Redis's serveClientBlockedOnList /
/// blocked.c): the non-blocking command that did the same, with the count actually popped
/// where Redis gives one (reported by the serve function, else the requested COUNT: replayed,
/// popping more than the key holds pops what it holds, the same effect).
pub fn served(srv: &Server, db: usize, argv: &[Vec<u8>], key: &[u8]) {
    let popped = POPPED.with(|c| c.take());
    if !srv.propagation.active() || !collecting() {
        return;
    }
    let v = |s: &[u8]| s.to_vec();
    let name = argv.first().map(|a| a.to_ascii_lowercase()).unwrap_or_default();
    let count = || {
        if let Some(n) = popped {
            return n.to_string().into_bytes();
        }
        argv.iter()
            .position(|a| a.eq_ignore_ascii_case(b"count"))
            .and_then(|i| argv.get(i + 1).cloned())
            .unwrap_or_else(|| b"1".to_vec())
    };
    // The side of an *MPOP: the word after its keys.
    let mpop_side = |first_key: usize| -> Option<Vec<u8>> {
        let n: usize = std::str::from_utf8(argv.get(first_key - 1)?).ok()?.parse().ok()?;
        argv.get(first_key + n).map(|s| s.to_ascii_lowercase())
    };
    let cmd: Option<Vec<Vec<u8>>> = match name.as_slice() {
        b"blpop" => Some(vec![v(b"LPOP"), v(key)]),
        b"brpop" => Some(vec![v(b"RPOP"), v(key)]),
        b"bzpopmin" => Some(vec![v(b"ZPOPMIN"), v(key)]),
        b"bzpopmax" => Some(vec![v(b"ZPOPMAX"), v(key)]),
        b"brpoplpush" => argv.get(2).map(|d| vec![v(b"RPOPLPUSH"), v(key), d.clone()]),
        b"blmove" => match (argv.get(2), argv.get(3), argv.get(4)) {
            (Some(d), Some(f), Some(t)) => Some(vec![v(b"LMOVE"), v(key), d.clone(), f.clone(), t.clone()]),
            _ => None,
        },
        b"blmpop" => mpop_side(3).map(|s| {
            let verb: &[u8] = if s == b"left" { b"LPOP" } else { b"RPOP" };
            vec![v(verb), v(key), count()]
        }),
        b"bzmpop" => mpop_side(3).map(|s| {
            let verb: &[u8] = if s == b"min" { b"ZPOPMIN" } else { b"ZPOPMAX" };
            vec![v(verb), v(key), count()]
        }),
        _ => None,
    };
    if let Some(cmd) = cmd {
        push(db, cmd);
    }
}
