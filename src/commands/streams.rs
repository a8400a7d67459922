//! Stream commands (`t_stream.c`): XADD XRANGE XREVRANGE XLEN XDEL XTRIM XSETID XREAD, consumer
//! groups (XGROUP, XREADGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM) and XINFO.
//!
//! Replies, error texts and the order in which errors are detected follow Redis 7.0. The data
//! structure is `types/stream.rs`.
//!
//! Blocking reads (XREAD/XREADGROUP BLOCK) use `server/blocking.rs`. Unlike a list pop, serving
//! an XREAD consumes nothing, so one XADD answers *every* reader waiting on the key whose ID is
//! behind the stream's last ID ([`serve_xread`] passes over the others with
//! [`Outcome::Skip`]); XREADGROUP readers each advance their group, so later ones in the queue
//! see only what is left. `$` is resolved to the stream's last ID when the client blocks (the
//! waiter keeps a rewritten copy of its arguments). A reader blocked in a group is answered with
//! an error when the key is deleted or changes type (`dispatch` signals the keys of every write
//! while someone is blocked) or when its group is destroyed.

use super::{def, help_reply, CommandDef, Ctx};
use crate::keyspace::{Shard, Value};
use crate::protocol::reply::Reply;
use crate::server::blocking::{self, Outcome, TimeoutReply, Waiter};
use crate::server::notify as ev;
use crate::server::Server;
use crate::types::stream::{parse_u64, Consumer, Group, Nack, Stream, StreamId, Trim, Visit};
use crate::util::num::parse_i64;
use std::sync::atomic::Ordering::Relaxed;

#[rustfmt::skip]
pub static COMMANDS: &[CommandDef] = &[
    def("xadd", -5, "write denyoom fast", (1, 1, 1), "@stream", "stream", "5.0.0", "Appends a new entry to a stream", xadd),
    def("xrange", -4, "readonly", (1, 1, 1), "@stream", "stream", "5.0.0", "Return a range of elements in a stream, with IDs matching the specified IDs interval", xrange),
    def("xrevrange", -4, "readonly", (1, 1, 1), "@stream", "stream", "5.0.0", "Return a range of elements in a stream, with IDs matching the specified IDs interval, in reverse order (from greater to smaller IDs) compared to XRANGE", xrevrange),
    def("xlen", 2, "readonly fast", (1, 1, 1), "@stream", "stream", "5.0.0", "Return the number of entries in a stream", xlen),
    def("xdel", -3, "write fast", (1, 1, 1), "@stream", "stream", "5.0.0", "Removes the specified entries from the stream. Returns the number of items actually deleted, that may be different from the number of IDs passed in case certain IDs do not exist.", xdel),
    def("xtrim", -4, "write", (1, 1, 1), "@stream", "stream", "5.0.0", "Trims the stream to (approximately if '~' is passed) a certain size", xtrim),
    def("xsetid", -3, "write denyoom fast", (1, 1, 1), "@stream", "stream", "5.0.0", "An internal command for replicating stream values", xsetid),
    CommandDef { keys_fn: Some(xread_keys), ..def("xread", -4, "readonly blocking", (0, 0, 0), "@stream", "stream", "5.0.0", "Return never seen elements in multiple streams, with IDs greater than the ones reported by the caller for each stream. Can block.", xread) },
    CommandDef { keys_fn: Some(xread_keys), ..def("xreadgroup", -7, "write blocking", (0, 0, 0), "@stream", "stream", "5.0.0", "Return new entries from a stream using a consumer group, or access the history of the pending entries for a given consumer. Can block.", xread) },
    def("xack", -4, "write fast", (1, 1, 1), "@stream", "stream", "5.0.0", "Marks a pending message as correctly processed, effectively removing it from the pending entries list of the consumer group. Return value of the command is the number of messages successfully acknowledged, that is, the IDs we were actually able to resolve in the PEL.", xack),
    def("xpending", -3, "readonly", (1, 1, 1), "@stream", "stream", "5.0.0", "Return information and entries from a stream consumer group pending entries list, that are messages fetched but never acknowledged.", xpending),
    def("xclaim", -6, "write fast", (1, 1, 1), "@stream", "stream", "5.0.0", "Changes (or acquires) ownership of a message in a consumer group, as if the message was delivered to the specified consumer.", xclaim),
    def("xautoclaim", -6, "write fast", (1, 1, 1), "@stream", "stream", "6.2.0", "Changes (or acquires) ownership of messages in a consumer group, as if the messages were delivered to the specified consumer.", xautoclaim),
    super::container("xgroup", "stream", "5.0.0", "A container for consumer groups commands", XGROUP),
    super::container("xinfo", "stream", "5.0.0", "A container for stream introspection commands", XINFO),
];

#[rustfmt::skip]
static XGROUP: &[CommandDef] = &[
    def("create", -5, "write denyoom", (2, 2, 1), "@stream", "stream", "5.0.0", "Create a consumer group.", xgroup),
    def("setid", -5, "write", (2, 2, 1), "@stream", "stream", "5.0.0", "Set a consumer group to an arbitrary last delivered ID value.", xgroup),
    def("destroy", 4, "write", (2, 2, 1), "@stream", "stream", "5.0.0", "Destroy a consumer group.", xgroup),
    def("createconsumer", 5, "write denyoom", (2, 2, 1), "@stream", "stream", "6.2.0", "Create a consumer in a consumer group.", xgroup),
    def("delconsumer", 5, "write", (2, 2, 1), "@stream", "stream", "5.0.0", "Delete a consumer from a consumer group.", xgroup),
    def("help", 2, "loading stale", (0, 0, 0), "@stream", "stream", "5.0.0", "Show helpful text about the different subcommands", xgroup_help),
];

#[rustfmt::skip]
static XINFO: &[CommandDef] = &[
    def("stream", -3, "readonly", (2, 2, 1), "@stream", "stream", "5.0.0", "Get information about a stream", xinfo),
    def("groups", 3, "readonly", (2, 2, 1), "@stream", "stream", "5.0.0", "List the consumer groups of a stream", xinfo),
    def("consumers", 4, "readonly", (2, 2, 1), "@stream", "stream", "5.0.0", "List the consumers in a consumer group", xinfo),
    def("help", 2, "loading stale", (0, 0, 0), "@stream", "stream", "5.0.0", "Show helpful text about the different subcommands", xinfo_help),
];

/// XREAD/XREADGROUP keys: the first half of what follows STREAMS (`xreadGetKeys`).
fn xread_keys(args: &[&[u8]]) -> Vec<usize> {
    let Some(pos) = streams_pos(args) else {
        return Vec::new();
    };
    let num = args.len() - pos - 1;
    if num == 0 || !num.is_multiple_of(2) {
        return Vec::new();
    }
    (pos + 1..pos + 1 + num / 2).collect()
}

/// Where the STREAMS keyword is, skipping the options before it.
fn streams_pos(args: &[&[u8]]) -> Option<usize> {
    let mut i = 1;
    while i < args.len() {
        let a = args[i];
        if a.eq_ignore_ascii_case(b"block") || a.eq_ignore_ascii_case(b"count") {
            i += 2;
        } else if a.eq_ignore_ascii_case(b"group") {
            i += 3;
        } else if a.eq_ignore_ascii_case(b"noack") {
            i += 1;
        } else if a.eq_ignore_ascii_case(b"streams") {
            return Some(i);
        } else {
            return None;
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

const INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";

/// Parses an ID (`streamGenericParseIDOrReply`): `-`/`+` unless `strict`, `ms` (seq =
/// `missing_seq`), `ms-seq`, and with `seq_star` also `ms-*`. Returns the ID and whether the
/// sequence was given.
fn parse_id_opt(arg: &[u8], missing_seq: u64, strict: bool, seq_star: bool) -> Option<(StreamId, bool)> {
    if arg.len() > 127 {
        return None;
    }
    if arg == b"-" || arg == b"+" {
        if strict {
            return None;
        }
        return Some((if arg == b"-" { StreamId::MIN } else { StreamId::MAX }, true));
    }
    // C sees the argument up to its first NUL.
    let arg = arg.split(|&c| c == 0).next().unwrap_or(b"");
    match arg.iter().position(|&c| c == b'-') {
        Some(d) => {
            let ms = parse_u64(&arg[..d])?;
            let tail = &arg[d + 1..];
            if seq_star && tail == b"*" {
                return Some((StreamId::new(ms, 0), false));
            }
            Some((StreamId::new(ms, parse_u64(tail)?), true))
        }
        None => Some((StreamId::new(parse_u64(arg)?, missing_seq), true)),
    }
}

fn parse_id(out: &mut Reply, arg: &[u8], missing_seq: u64, strict: bool) -> Option<StreamId> {
    match parse_id_opt(arg, missing_seq, strict, false) {
        Some((id, _)) => Some(id),
        None => {
            out.error(INVALID_ID);
            None
        }
    }
}

/// A range end: `(id` is exclusive (then `-`/`+` are refused), else as [`parse_id`].
fn parse_interval(out: &mut Reply, arg: &[u8], missing_seq: u64) -> Option<(StreamId, bool)> {
    if arg.len() > 1 && arg[0] == b'(' {
        parse_id(out, &arg[1..], missing_seq, true).map(|id| (id, true))
    } else {
        parse_id(out, arg, missing_seq, false).map(|id| (id, false))
    }
}

/// The start of a range, moved past an exclusive bound.
fn range_start(out: &mut Reply, arg: &[u8]) -> Option<StreamId> {
    let (id, ex) = parse_interval(out, arg, 0)?;
    if !ex {
        return Some(id);
    }
    match id.incr() {
        Some(id) => Some(id),
        None => {
            out.error("ERR invalid start ID for the interval");
            None
        }
    }
}

fn range_end(out: &mut Reply, arg: &[u8]) -> Option<StreamId> {
    let (id, ex) = parse_interval(out, arg, u64::MAX)?;
    if !ex {
        return Some(id);
    }
    match id.decr() {
        Some(id) => Some(id),
        None => {
            out.error("ERR invalid end ID for the interval");
            None
        }
    }
}

fn arg_i64(out: &mut Reply, arg: &[u8]) -> Option<i64> {
    super::arg_i64(out, arg)
}

/// An integer with Redis's custom error text (`getLongLongFromObjectOrReply` with a message).
fn arg_i64_msg(out: &mut Reply, arg: &[u8], msg: &str) -> Option<i64> {
    match parse_i64(arg) {
        Some(n) => Some(n),
        None => {
            out.err(msg);
            None
        }
    }
}

/// XADD / XTRIM options (`streamParseAddOrTrimArgsOrReply`).
struct TrimArgs {
    how: Trim,
    approx: bool,
    limit: u64,
    nomkstream: bool,
    /// XADD: the explicit ID, and whether its sequence was given.
    id: Option<(StreamId, bool)>,
    /// XADD: position of the ID argument.
    idpos: usize,
}

fn parse_trim_args(out: &mut Reply, args: &[&[u8]], xadd: bool) -> Option<TrimArgs> {
    let mut t = TrimArgs {
        how: Trim::None,
        approx: false,
        limit: 0,
        nomkstream: false,
        id: None,
        idpos: 0,
    };
    let mut limit_given = false;
    let mut i = 2;
    while i < args.len() {
        let more = args.len() - 1 - i;
        let opt = args[i];
        if xadd && opt == b"*" {
            break;
        } else if (opt.eq_ignore_ascii_case(b"maxlen") || opt.eq_ignore_ascii_case(b"minid")) && more > 0 {
            if t.how != Trim::None {
                out.err("syntax error, MAXLEN and MINID options at the same time are not compatible");
                return None;
            }
            t.approx = false;
            let next = args[i + 1];
            if more >= 2 && next == b"~" {
                t.approx = true;
                i += 1;
            } else if more >= 2 && next == b"=" {
                i += 1;
            }
            if opt.eq_ignore_ascii_case(b"maxlen") {
                let n = arg_i64(out, args[i + 1])?;
                if n < 0 {
                    out.err("The MAXLEN argument must be >= 0.");
                    return None;
                }
                t.how = Trim::MaxLen(n as u64);
            } else {
                t.how = Trim::MinId(parse_id(out, args[i + 1], 0, true)?);
            }
            i += 1;
        } else if opt.eq_ignore_ascii_case(b"limit") && more > 0 {
            let n = arg_i64(out, args[i + 1])?;
            if n < 0 {
                out.err("The LIMIT argument must be >= 0.");
                return None;
            }
            t.limit = n as u64;
            limit_given = true;
            i += 1;
        } else if xadd && opt.eq_ignore_ascii_case(b"nomkstream") {
            t.nomkstream = true;
        } else if xadd {
            match parse_id_opt(opt, 0, true, true) {
                Some(id) => t.id = Some(id),
                None => {
                    out.error(INVALID_ID);
                    return None;
                }
            }
            break;
        } else {
            out.syntax_error();
            return None;
        }
        i += 1;
    }
    t.idpos = i;
    if t.limit != 0 && t.how == Trim::None {
        out.err("syntax error, LIMIT cannot be used without specifying a trimming strategy");
        return None;
    }
    if !xadd && t.how == Trim::None {
        out.err("syntax error, XTRIM must be called with a trimming strategy");
        return None;
    }
    if crate::server::propagate::replaying() {
        // The log holds the trim's outcome (`~` rewritten to `=`): trim exactly, whatever LIMIT
        // it still carries (Redis's mustObeyClient).
        t.limit = 0;
    } else if limit_given {
        if !t.approx {
            out.err("syntax error, LIMIT cannot be used without the special ~ option");
            return None;
        }
    } else if t.approx {
        let n = crate::types::stream::NODE_MAX_ENTRIES.load(Relaxed).saturating_mul(100);
        t.limit = if n <= 0 { 10000 } else { n.min(1_000_000) as u64 };
    } else {
        t.limit = 0;
    }
    Some(t)
}

// ---------------------------------------------------------------------------------------------
// Lookups and replies
// ---------------------------------------------------------------------------------------------

/// The stream at `key`: Ok(None) when missing, Err after a WRONGTYPE reply.
fn stream_mut<'s>(ctx: &mut Ctx, sh: &'s mut Shard, key: &[u8]) -> Result<Option<&'s mut Stream>, ()> {
    match sh.get_mut(key, ctx.now_ms, ctx.ks_stats()) {
        None => Ok(None),
        Some(e) => match &mut e.value {
            Value::Stream(s) => Ok(Some(s)),
            _ => {
                ctx.out.wrong_type();
                Err(())
            }
        },
    }
}

/// Like [`stream_mut`] for a read: counts the hit or miss.
fn stream_read<'s>(ctx: &mut Ctx, sh: &'s mut Shard, key: &[u8]) -> Result<Option<&'s mut Stream>, ()> {
    let r = stream_mut(ctx, sh, key);
    if let Ok(found) = &r {
        ctx.count_read(found.is_some());
    }
    r
}

fn reply_id(out: &mut Reply, id: StreamId) {
    out.bulk(&id.to_bytes());
}

/// `[id, [field, value, ...]]`.
fn reply_entry(out: &mut Reply, v: &Visit) {
    out.array(2);
    reply_id(out, v.id);
    out.array(v.nfields() * 2);
    for (f, val) in v.pairs() {
        out.bulk(f);
        out.bulk(val);
    }
}

/// Emits the entries of a range as an array; returns how many (`count` 0 = all).
fn reply_range(out: &mut Reply, s: &Stream, start: StreamId, end: StreamId, count: usize, rev: bool) -> usize {
    let d = out.deferred_len();
    let mut n = 0;
    s.range(start, end, rev, |v| {
        reply_entry(out, &v);
        n += 1;
        count == 0 || n < count
    });
    out.set_deferred_len(d, n);
    n
}

/// Emits one entry by ID; false when it does not exist.
fn reply_one(out: &mut Reply, s: &Stream, id: StreamId) -> bool {
    s.get(id, |v| reply_entry(out, &v))
}

fn no_group_error(key: &[u8], group: &[u8]) -> String {
    format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        String::from_utf8_lossy(key),
        String::from_utf8_lossy(group)
    )
}

// ---------------------------------------------------------------------------------------------
// XADD XRANGE XREVRANGE XLEN XDEL XTRIM XSETID
// ---------------------------------------------------------------------------------------------

fn xadd(ctx: &mut Ctx, args: &[&[u8]]) {
    let Some(t) = parse_trim_args(ctx.out, args, true) else {
        return;
    };
    let field_pos = t.idpos + 1;
    let nargs = args.len().saturating_sub(field_pos);
    if args.len() < field_pos || nargs < 2 || !nargs.is_multiple_of(2) {
        return ctx.out.error("ERR wrong number of arguments for 'xadd' command");
    }
    if let Some((id, true)) = t.id {
        if id.is_zero() {
            return ctx.out.err("The ID specified in XADD must be greater than 0-0");
        }
    }
    let key = args[1];
    let lru = ctx.lru();
    let mut sh = ctx.db().lock(key);
    let exists = match stream_mut(ctx, &mut sh, key) {
        Err(()) => return,
        Ok(s) => s.is_some(),
    };
    if !exists {
        if t.nomkstream {
            return ctx.out.null();
        }
        sh.set(key, Value::Stream(Box::new(Stream::new())), false, lru);
    }
    let Ok(Some(s)) = stream_mut(ctx, &mut sh, key) else {
        return ctx.out.null();
    };
    if s.last_id == StreamId::MAX {
        return ctx
            .out
            .err("The stream has exhausted the last possible ID, unable to add more items");
    }
    let id = match t.id {
        Some((id, true)) => id,
        Some((id, false)) => {
            if s.last_id.ms == id.ms {
                if s.last_id.seq == u64::MAX {
                    return ctx
                        .out
                        .err("The ID specified in XADD is equal or smaller than the target stream top item");
                }
                StreamId::new(id.ms, s.last_id.seq + 1)
            } else {
                id
            }
        }
        None => {
            let ms = ctx.now_ms.max(0) as u64;
            if ms > s.last_id.ms {
                StreamId::new(ms, 0)
            } else {
                // The last ID is the maximum is refused above, so this cannot overflow.
                s.last_id.incr().unwrap_or(StreamId::MAX)
            }
        }
    };
    if id <= s.last_id {
        return ctx
            .out
            .err("The ID specified in XADD is equal or smaller than the target stream top item");
    }
    s.append(id, &args[field_pos..]);
    let trimmed = s.trim(t.how, t.approx, t.limit);
    ctx.out.bulk(&id.to_bytes());
    ev::notify(ctx, ev::STREAM, "xadd", key);
    ctx.dirty(1);
    if trimmed > 0 {
        ev::notify(ctx, ev::STREAM, "xtrim", key);
    }
    blocking::signal(ctx.srv, ctx.client.db, key);
    drop(sh);
}

fn xrange(ctx: &mut Ctx, args: &[&[u8]]) {
    range_cmd(ctx, args, false);
}

fn xrevrange(ctx: &mut Ctx, args: &[&[u8]]) {
    range_cmd(ctx, args, true);
}

fn range_cmd(ctx: &mut Ctx, args: &[&[u8]], rev: bool) {
    let (sa, ea) = if rev { (args[3], args[2]) } else { (args[2], args[3]) };
    let Some(start) = range_start(ctx.out, sa) else {
        return;
    };
    let Some(end) = range_end(ctx.out, ea) else {
        return;
    };
    let mut count: i64 = -1;
    let mut j = 4;
    while j < args.len() {
        if args[j].eq_ignore_ascii_case(b"count") && j + 1 < args.len() {
            let Some(n) = arg_i64(ctx.out, args[j + 1]) else {
                return;
            };
            count = n.max(0);
            j += 2;
        } else {
            return ctx.out.syntax_error();
        }
    }
    let key = args[1];
    let mut sh = ctx.db().lock(key);
    let s = match stream_read(ctx, &mut sh, key) {
        Err(()) => return,
        Ok(None) => return ctx.out.array(0),
        Ok(Some(s)) => s,
    };
    if count == 0 {
        return ctx.out.null_array();
    }
    let count = if count < 0 { 0 } else { count as usize };
    reply_range(ctx.out, s, start, end, count, rev);
}

fn xlen(ctx: &mut Ctx, args: &[&[u8]]) {
    let mut sh = ctx.db().lock(args[1]);
    match stream_read(ctx, &mut sh, args[1]) {
        Err(()) => {}
        Ok(None) => ctx.out.int(0),
        Ok(Some(s)) => {
            let n = s.length as i64;
            ctx.out.int(n)
        }
    }
}

fn xdel(ctx: &mut Ctx, args: &[&[u8]]) {
    let key = args[1];
    let mut sh = ctx.db().lock(key);
    let s = match stream_mut(ctx, &mut sh, key) {
        Err(()) => return,
        Ok(None) => return ctx.out.int(0),
        Ok(Some(s)) => s,
    };
    let mut ids = Vec::with_capacity(args.len() - 2);
    for a in &args[2..] {
        let Some(id) = parse_id(ctx.out, a, 0, true) else {
            return;
        };
        ids.push(id);
    }
    let mut deleted = 0;
    let mut first_entry = false;
    for id in ids {
        if s.delete(id) {
            if id == s.first_id {
                first_entry = true;
            }
            if id > s.max_deleted_id {
                s.max_deleted_id = id;
            }
            deleted += 1;
        }
    }
    if deleted > 0 {
        if s.length == 0 {
            s.first_id = StreamId::MIN;
        } else if first_entry {
            s.first_id = s.edge_id(true).unwrap_or(StreamId::MAX);
        }
        ev::notify(ctx, ev::STREAM, "xdel", key);
        ctx.dirty(deleted);
    }
    ctx.out.int(deleted as i64);
}

fn xtrim(ctx: &mut Ctx, args: &[&[u8]]) {
    let Some(t) = parse_trim_args(ctx.out, args, false) else {
        return;
    };
    let key = args[1];
    let mut sh = ctx.db().lock(key);
    let s = match stream_mut(ctx, &mut sh, key) {
        Err(()) => return,
        Ok(None) => return ctx.out.int(0),
        Ok(Some(s)) => s,
    };
    let deleted = s.trim(t.how, t.approx, t.limit);
    if deleted > 0 {
        ev::notify(ctx, ev::STREAM, "xtrim", key);
        ctx.dirty(deleted);
    }
    ctx.out.int(deleted as i64);
}

fn xsetid(ctx: &mut Ctx, args: &[&[u8]]) {
    let Some(id) = parse_id(ctx.out, args[2], 0, true) else {
        return;
    };
    let mut entries_added: i64 = -1;
    let mut max_xdel = StreamId::MIN;
    let mut i = 3;
    while i < args.len() {
        let more = args.len() - 1 - i;
        if args[i].eq_ignore_ascii_case(b"entriesadded") && more > 0 {
            let Some(n) = arg_i64(ctx.out, args[i + 1]) else {
                return;
            };
            if n < 0 {
                return ctx.out.err("entries_added must be positive");
            }
            entries_added = n;
        } else if args[i].eq_ignore_ascii_case(b"maxdeletedid") && more > 0 {
            let Some(m) = parse_id(ctx.out, args[i + 1], 0, true) else {
                return;
            };
            if id < m {
                return ctx
                    .out
                    .err("The ID specified in XSETID is smaller than the provided max_deleted_entry_id");
            }
            max_xdel = m;
        } else {
            return ctx.out.syntax_error();
        }
        i += 2;
    }
    let key = args[1];
    let mut sh = ctx.db().lock(key);
    let s = match stream_mut(ctx, &mut sh, key) {
        Err(()) => return,
        Ok(None) => return ctx.out.error("ERR no such key"),
        Ok(Some(s)) => s,
    };
    if s.length > 0 {
        if id < s.last_valid_id() {
            return ctx
                .out
                .err("The ID specified in XSETID is smaller than the target stream top item");
        }
        if entries_added != -1 && s.length > entries_added as u64 {
            return ctx
                .out
                .err("The entries_added specified in XSETID is smaller than the target stream length");
        }
    }
    s.last_id = id;
    if entries_added != -1 {
        s.entries_added = entries_added as u64;
    }
    if !max_xdel.is_zero() {
        s.max_deleted_id = max_xdel;
    }
    ctx.out.ok();
    ctx.dirty(1);
    ev::notify(ctx, ev::STREAM, "xsetid", key);
}

// ---------------------------------------------------------------------------------------------
// XREAD / XREADGROUP
// ---------------------------------------------------------------------------------------------

/// Default COUNT of a blocked read, so one wake-up never sends a huge backlog.
const XREAD_BLOCKED_DEFAULT_COUNT: usize = 1000;

/// Parsed XREAD/XREADGROUP arguments.
struct ReadArgs<'a> {
    /// Block timeout in ms (None: no BLOCK).
    block_ms: Option<i64>,
    count: usize,
    streams_at: usize,
    nstreams: usize,
    group: Option<(&'a [u8], &'a [u8])>,
    noack: bool,
}

/// `in_script`: a script's XREAD may not BLOCK (Redis refuses it rather than answering at once).
fn parse_read_args<'a>(out: &mut Reply, args: &[&'a [u8]], group_cmd: bool, in_script: bool) -> Option<ReadArgs<'a>> {
    let mut r = ReadArgs {
        block_ms: None,
        count: 0,
        streams_at: 0,
        nstreams: 0,
        group: None,
        noack: false,
    };
    let mut i = 1;
    while i < args.len() {
        let more = args.len() - i - 1;
        let o = args[i];
        if o.eq_ignore_ascii_case(b"block") && more > 0 {
            if in_script {
                let name = String::from_utf8_lossy(args[0]).into_owned();
                out.err(&format!("{name} command is not allowed with BLOCK option from scripts"));
                return None;
            }
            i += 1;
            let Some(ms) = parse_i64(args[i]) else {
                out.err("timeout is not an integer or out of range");
                return None;
            };
            if ms < 0 {
                out.err("timeout is negative");
                return None;
            }
            r.block_ms = Some(ms);
        } else if o.eq_ignore_ascii_case(b"count") && more > 0 {
            i += 1;
            let n = arg_i64(out, args[i])?;
            r.count = n.max(0) as usize;
        } else if o.eq_ignore_ascii_case(b"streams") && more > 0 {
            r.streams_at = i + 1;
            let n = args.len() - r.streams_at;
            if !n.is_multiple_of(2) {
                out.err("Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.");
                return None;
            }
            r.nstreams = n / 2;
            break;
        } else if o.eq_ignore_ascii_case(b"group") && more >= 2 {
            if !group_cmd {
                out.err("The GROUP option is only supported by XREADGROUP. You called XREAD instead.");
                return None;
            }
            r.group = Some((args[i + 1], args[i + 2]));
            i += 2;
        } else if o.eq_ignore_ascii_case(b"noack") {
            if !group_cmd {
                out.err("The NOACK option is only supported by XREADGROUP. You called XREAD instead.");
                return None;
            }
            r.noack = true;
        } else {
            out.syntax_error();
            return None;
        }
        i += 1;
    }
    if r.streams_at == 0 {
        out.syntax_error();
        return None;
    }
    if group_cmd && r.group.is_none() {
        out.err("Missing GROUP option for XREADGROUP");
        return None;
    }
    Some(r)
}

/// Serves a consumer of `group` from `start` on (`streamReplyWithRange` with a group): new
/// entries advance the group and enter the PEL (unless `noack`); with `history`, entries come
/// from the consumer's own PEL instead. Writes the entries array; returns whether the consumer
/// was created.
#[allow(clippy::too_many_arguments)]
fn read_group(
    out: &mut Reply,
    fx: &mut Effects,
    key: &[u8],
    s: &mut Stream,
    gname: &[u8],
    cname: &[u8],
    start: StreamId,
    count: usize,
    noack: bool,
    history: bool,
    now: i64,
) -> bool {
    let Some(mut g) = s.groups.remove(gname) else {
        out.array(0);
        return false;
    };
    let created = !g.consumers.contains_key(cname);
    let c = g.consumers.entry(cname.to_vec()).or_default();
    c.seen_time = now;
    if created && noack {
        // Without XCLAIMs to create it on replay, the consumer needs its own command.
        createconsumer_effect(fx, key, gname, cname);
    }
    if history {
        let ids: Vec<StreamId> = c
            .pel
            .range(start..)
            .take(if count == 0 { usize::MAX } else { count })
            .copied()
            .collect();
        out.array(ids.len());
        for id in ids {
            if reply_one(out, s, id) {
                if let Some(n) = g.pel.get_mut(&id) {
                    n.delivery_time = now;
                    n.delivery_count += 1;
                }
            } else {
                out.array(2);
                reply_id(out, id);
                out.null_array();
            }
        }
    } else {
        let d = out.deferred_len();
        let mut n = 0;
        let mut delivered = Vec::new();
        let st: &Stream = s;
        st.range(start, StreamId::MAX, false, |v| {
            st.advance_group(&mut g, v.id);
            reply_entry(out, &v);
            delivered.push(v.id);
            n += 1;
            count == 0 || n < count
        });
        out.set_deferred_len(d, n);
        if !noack {
            for id in delivered {
                let prev = g.pel.insert(
                    id,
                    Nack {
                        delivery_time: now,
                        delivery_count: 1,
                        consumer: cname.to_vec(),
                    },
                );
                if let Some(p) = prev {
                    if p.consumer != cname {
                        if let Some(old) = g.consumers.get_mut(&p.consumer) {
                            old.pel.remove(&id);
                        }
                    }
                }
                if let Some(c) = g.consumers.get_mut(cname) {
                    c.pel.insert(id);
                }
                if let Some(nack) = g.pel.get(&id) {
                    // The group's last ID had reached this entry when Redis logs it.
                    xclaim_effect(fx, key, gname, id, nack, id);
                }
            }
        } else if n > 0 {
            setid_effect(fx, key, gname, &g);
        }
    }
    s.groups.insert(gname.to_vec(), g);
    created
}

fn xread(ctx: &mut Ctx, args: &[&[u8]]) {
    let group_cmd = args[0].len() == 10;
    let Some(r) = parse_read_args(ctx.out, args, group_cmd, ctx.client.in_script) else {
        return;
    };
    let keys: Vec<&[u8]> = args[r.streams_at..r.streams_at + r.nstreams].to_vec();
    let db = ctx.db();
    let mut locked = db.lock_keys(keys.iter().copied());
    // Resolve every ID first (errors abort before anything is served).
    let mut ids: Vec<StreamId> = Vec::with_capacity(r.nstreams);
    for (i, key) in keys.iter().enumerate() {
        let id_arg = args[r.streams_at + r.nstreams + i];
        let sh = locked.shard(key);
        let s = match stream_read(ctx, sh, key) {
            Err(()) => return,
            Ok(s) => s,
        };
        if let Some((gname, _)) = r.group {
            if !s.as_ref().is_some_and(|s| s.groups.contains_key(gname)) {
                return ctx.out.error(&format!(
                    "{} in XREADGROUP with GROUP option",
                    no_group_error(key, gname)
                ));
            }
        }
        if id_arg == b"$" {
            if group_cmd {
                return ctx.out.err("The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.");
            }
            ids.push(s.map_or(StreamId::MIN, |s| s.last_id));
            continue;
        }
        if id_arg == b">" {
            if !group_cmd {
                return ctx.out.err(
                    "The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.",
                );
            }
            ids.push(StreamId::MAX);
            continue;
        }
        let Some(id) = parse_id(ctx.out, id_arg, 0, true) else {
            return;
        };
        ids.push(id);
    }
    let now = ctx.now_ms;
    let mut served = 0;
    let mut d = None;
    let mut created_consumers = Vec::new();
    let mut fx = if r.group.is_some() { effects_for(ctx.srv) } else { None };
    for (i, key) in keys.iter().enumerate() {
        let sh = locked.shard(key);
        let Some(Value::Stream(s)) = sh.get_mut(key, now, ctx.ks_stats()).map(|e| &mut e.value) else {
            continue;
        };
        let mut gt = ids[i];
        let mut history = false;
        let serve = if let Some((gname, _)) = r.group {
            if gt != StreamId::MAX {
                history = true;
                true
            } else if s.length > 0 {
                let last = s.groups.get(gname).map_or(StreamId::MAX, |g| g.last_id);
                if s.last_valid_id() > last {
                    gt = last;
                    true
                } else {
                    false
                }
            } else {
                false
            }
        } else {
            s.length > 0 && s.last_valid_id() > gt
        };
        if !serve {
            continue;
        }
        served += 1;
        if served == 1 {
            d = Some(ctx.out.deferred_len());
        }
        let start = gt.incr().unwrap_or(StreamId::MAX);
        if ctx.out.resp == 2 {
            ctx.out.array(2);
        }
        ctx.out.bulk(key);
        match r.group {
            Some((gname, cname)) => {
                if read_group(
                    ctx.out, &mut fx, key, s, gname, cname, start, r.count, r.noack, history, now,
                ) {
                    created_consumers.push(*key);
                }
                ctx.dirty(1);
            }
            None => {
                reply_range(ctx.out, s, start, StreamId::MAX, r.count, false);
            }
        }
    }
    if let Some(d) = d {
        if ctx.out.resp == 2 {
            ctx.out.set_deferred_len(d, served);
        } else {
            ctx.out.set_deferred_map(d, served);
        }
        drop(locked);
        log_effects(ctx, fx);
        for k in created_consumers {
            ev::notify(ctx, ev::STREAM, "xgroup-createconsumer", k);
        }
        return;
    }
    log_effects(ctx, fx);
    let Some(ms) = r.block_ms else {
        return ctx.out.null_array();
    };
    if ctx.client.in_exec {
        return ctx.out.null_array();
    }
    // The waiter keeps the IDs it waits after: `$` becomes the stream's last ID now.
    let mut argv: Vec<Vec<u8>> = args.iter().map(|a| a.to_vec()).collect();
    for (i, id) in ids.iter().enumerate() {
        let at = r.streams_at + r.nstreams + i;
        if argv[at] == b"$" {
            argv[at] = id.to_bytes();
        }
    }
    let argv_refs: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
    let deadline = if ms == 0 { 0 } else { ctx.now_ms.saturating_add(ms) };
    blocking::block(
        ctx.srv,
        ctx.client,
        &argv_refs,
        &keys,
        deadline,
        serve_xread,
        TimeoutReply::NullArray,
    );
    drop(locked);
}

/// Serves a client blocked in XREAD/XREADGROUP from the ready `key` (Redis's
/// `serveClientsBlockedOnStreamKey` and `unblockDeletedStreamReadgroupClients`).
fn serve_xread(srv: &Server, w: &Waiter, key: &[u8]) -> Outcome {
    let argv: Vec<&[u8]> = w.argv.iter().map(|a| a.as_slice()).collect();
    let group_cmd = argv.first().is_some_and(|n| n.len() == 10);
    let Some(r) = parse_read_args(&mut Reply::new(), &argv, group_cmd, false) else {
        return Outcome::Skip;
    };
    // The first occurrence of the key decides its ID, as Redis registers each key once.
    let Some(i) = (0..r.nstreams).find(|&i| argv[r.streams_at + i] == key) else {
        return Outcome::Skip;
    };
    let id_arg = argv[r.streams_at + r.nstreams + i];
    let now = crate::server::unix_ms();
    let stats = &srv.keyspace.stats;
    let mut sh = srv.keyspace.db(w.db).lock(key);
    let s = match sh.get_mut(key, now, stats).map(|e| &mut e.value) {
        Some(Value::Stream(s)) => Some(s),
        _ => None,
    };
    let fail = |msg: &str, code: &str| {
        if !w.claim() {
            return Outcome::Gone;
        }
        let mut out = w.reply();
        out.error(msg);
        srv.stats.error(code);
        if let Some(cmd) = srv.commands.get(b"xreadgroup") {
            cmd.stats_of(0).failed_calls.fetch_add(1, Relaxed);
        }
        w.deliver(&out);
        Outcome::Served
    };
    let Some(s) = s else {
        if r.group.is_some() {
            return fail("UNBLOCKED the stream key no longer exists", "UNBLOCKED");
        }
        return Outcome::Skip;
    };
    let gt = match r.group {
        Some((gname, _)) => match s.groups.get(gname) {
            Some(g) => g.last_id,
            None => {
                return fail(
                    "NOGROUP the consumer group this client was blocked on no longer exists",
                    "NOGROUP",
                )
            }
        },
        None => match parse_id_opt(id_arg, 0, true, false) {
            Some((id, _)) => id,
            None => return Outcome::Skip,
        },
    };
    if s.last_id <= gt {
        return Outcome::Skip;
    }
    if !w.claim() {
        return Outcome::Gone;
    }
    let start = gt.incr().unwrap_or(StreamId::MAX);
    let count = if r.count == 0 {
        XREAD_BLOCKED_DEFAULT_COUNT
    } else {
        r.count
    };
    let mut out = w.reply();
    if out.resp == 2 {
        out.array(1);
        out.array(2);
    } else {
        out.map(1);
    }
    out.bulk(key);
    let mut created = false;
    let mut fx = effects_for(srv);
    match r.group {
        Some((gname, cname)) => {
            created = read_group(
                &mut out, &mut fx, key, s, gname, cname, start, count, r.noack, false, now,
            );
            srv.stats.dirty.add(1);
        }
        None => {
            reply_range(&mut out, s, start, StreamId::MAX, count, false);
        }
    }
    w.deliver(&out);
    drop(sh);
    for argv in fx.into_iter().flatten() {
        crate::server::propagate::push(w.db, argv);
    }
    if created {
        ev::notify_srv(srv, ev::STREAM, "xgroup-createconsumer", key, w.db);
    }
    Outcome::Served
}

// ---------------------------------------------------------------------------------------------
// XGROUP
// ---------------------------------------------------------------------------------------------

fn xgroup_help(ctx: &mut Ctx, _args: &[&[u8]]) {
    help_reply(
        ctx.out,
        "XGROUP",
        &[
            "CREATE <key> <groupname> <id|$> [option]",
            "    Create a new consumer group. Options are:",
            "    * MKSTREAM",
            "      Create the empty stream if it does not exist.",
            "    * ENTRIESREAD entries_read",
            "      Set the group's entries_read counter (internal use).",
            "CREATECONSUMER <key> <groupname> <consumer>",
            "    Create a new consumer in the specified group.",
            "DELCONSUMER <key> <groupname> <consumer>",
            "    Remove the specified consumer.",
            "DESTROY <key> <groupname>",
            "    Remove the specified group.",
            "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
            "    Set the current group ID and entries_read counter.",
        ],
    );
}

fn subcommand_syntax_error(ctx: &mut Ctx, args: &[&[u8]]) {
    ctx.out.error(&format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
        String::from_utf8_lossy(args[1]),
        String::from_utf8_lossy(args[0]).to_uppercase()
    ));
}

fn xgroup(ctx: &mut Ctx, args: &[&[u8]]) {
    let sub = args[1].to_ascii_lowercase();
    let create = sub == b"create";
    let setid = sub == b"setid";
    let mut mkstream = false;
    let mut entries_read: i64 = -1;
    let mut i = 5;
    while i < args.len() {
        if create && args[i].eq_ignore_ascii_case(b"mkstream") {
            mkstream = true;
            i += 1;
        } else if (create || setid) && args[i].eq_ignore_ascii_case(b"entriesread") && i + 1 < args.len() {
            let Some(n) = arg_i64(ctx.out, args[i + 1]) else {
                return;
            };
            if n < 0 && n != -1 {
                return ctx.out.err("value for ENTRIESREAD must be positive or -1");
            }
            entries_read = n;
            i += 2;
        } else {
            return subcommand_syntax_error(ctx, args);
        }
    }
    let key = args[2];
    let gname = args[3];
    let lru = ctx.lru();
    let mut sh = ctx.db().lock(key);
    let exists = match stream_mut(ctx, &mut sh, key) {
        Err(()) => return,
        Ok(s) => s.is_some(),
    };
    if !mkstream && !exists {
        return ctx.out.err("The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.");
    }
    if exists && matches!(sub.as_slice(), b"setid" | b"createconsumer" | b"delconsumer") {
        let has = matches!(stream_mut(ctx, &mut sh, key), Ok(Some(s)) if s.groups.contains_key(gname));
        if !has {
            return ctx.out.error(&format!(
                "NOGROUP No such consumer group '{}' for key name '{}'",
                String::from_utf8_lossy(gname),
                String::from_utf8_lossy(key)
            ));
        }
    }
    let now = ctx.now_ms;
    match sub.as_slice() {
        b"create" if (5..=8).contains(&args.len()) => {
            let id = if args[4] == b"$" {
                match stream_mut(ctx, &mut sh, key) {
                    Ok(Some(s)) => s.last_id,
                    _ => StreamId::MIN,
                }
            } else {
                let Some(id) = parse_id(ctx.out, args[4], 0, true) else {
                    return;
                };
                id
            };
            if !exists {
                sh.set(key, Value::Stream(Box::new(Stream::new())), false, lru);
            }
            let Ok(Some(s)) = stream_mut(ctx, &mut sh, key) else {
                return;
            };
            if s.groups.contains_key(gname) {
                return ctx.out.error("BUSYGROUP Consumer Group name already exists");
            }
            s.groups.insert(gname.to_vec(), Group::new(id, entries_read));
            drop(sh);
            ctx.out.ok();
            ctx.dirty(1);
            ev::notify(ctx, ev::STREAM, "xgroup-create", key);
        }
        b"setid" if args.len() == 5 || args.len() == 7 => {
            let Ok(Some(s)) = stream_mut(ctx, &mut sh, key) else {
                return;
            };
            let id = if args[4] == b"$" {
                s.last_id
            } else {
                let Some(id) = parse_id(ctx.out, args[4], 0, false) else {
                    return;
                };
                id
            };
            if let Some(g) = s.groups.get_mut(gname) {
                g.last_id = id;
                g.entries_read = entries_read;
            }
            drop(sh);
            ctx.out.ok();
            ctx.dirty(1);
            ev::notify(ctx, ev::STREAM, "xgroup-setid", key);
        }
        b"destroy" if args.len() == 4 => {
            let Ok(Some(s)) = stream_mut(ctx, &mut sh, key) else {
                return;
            };
            if s.groups.remove(gname).is_some() {
                ctx.out.int(1);
                ctx.dirty(1);
                ev::notify(ctx, ev::STREAM, "xgroup-destroy", key);
                blocking::signal(ctx.srv, ctx.client.db, key);
            } else {
                ctx.out.int(0);
            }
        }
        b"createconsumer" if args.len() == 5 => {
            let Ok(Some(s)) = stream_mut(ctx, &mut sh, key) else {
                return;
            };
            let Some(g) = s.groups.get_mut(gname) else {
                return;
            };
            if g.consumers.contains_key(args[4]) {
                ctx.out.int(0);
            } else {
                g.consumers.insert(
                    args[4].to_vec(),
                    Consumer {
                        seen_time: now,
                        ..Default::default()
                    },
                );
                drop(sh);
                ctx.out.int(1);
                ctx.dirty(1);
                ev::notify(ctx, ev::STREAM, "xgroup-createconsumer", key);
            }
        }
        b"delconsumer" if args.len() == 5 => {
            let Ok(Some(s)) = stream_mut(ctx, &mut sh, key) else {
                return;
            };
            let Some(g) = s.groups.get_mut(gname) else {
                return;
            };
            match g.delete_consumer(args[4]) {
                Some(n) => {
                    drop(sh);
                    ctx.out.int(n as i64);
                    ctx.dirty(1);
                    ev::notify(ctx, ev::STREAM, "xgroup-delconsumer", key);
                }
                None => ctx.out.int(0),
            }
        }
        _ => subcommand_syntax_error(ctx, args),
    }
}

// ---------------------------------------------------------------------------------------------
// XACK XPENDING XCLAIM XAUTOCLAIM
// ---------------------------------------------------------------------------------------------

fn xack(ctx: &mut Ctx, args: &[&[u8]]) {
    let key = args[1];
    let mut sh = ctx.db().lock(key);
    let s = match stream_mut(ctx, &mut sh, key) {
        Err(()) => return,
        Ok(s) => s,
    };
    let Some(g) = s.and_then(|s| s.groups.get_mut(args[2])) else {
        return ctx.out.int(0);
    };
    let mut ids = Vec::with_capacity(args.len() - 3);
    for a in &args[3..] {
        let Some(id) = parse_id(ctx.out, a, 0, true) else {
            return;
        };
        ids.push(id);
    }
    let mut acked = 0;
    for id in ids {
        if g.ack(&id) {
            acked += 1;
        }
    }
    ctx.dirty(acked as u64);
    ctx.out.int(acked);
}

fn xpending(ctx: &mut Ctx, args: &[&[u8]]) {
    let justinfo = args.len() == 3;
    if args.len() != 3 && (args.len() < 6 || args.len() > 9) {
        return ctx.out.syntax_error();
    }
    let mut minidle = 0;
    let mut count = 0;
    let mut start = StreamId::MIN;
    let mut end = StreamId::MAX;
    let mut consumer: Option<&[u8]> = None;
    if args.len() >= 6 {
        let mut at = 3;
        if args[3].eq_ignore_ascii_case(b"idle") {
            let Some(n) = arg_i64(ctx.out, args[4]) else {
                return;
            };
            minidle = n;
            if args.len() < 8 {
                return ctx.out.syntax_error();
            }
            at += 2;
        }
        let Some(n) = arg_i64(ctx.out, args[at + 2]) else {
            return;
        };
        count = n.max(0);
        let Some(s) = range_start(ctx.out, args[at]) else {
            return;
        };
        let Some(e) = range_end(ctx.out, args[at + 1]) else {
            return;
        };
        start = s;
        end = e;
        consumer = args.get(at + 3).copied();
    }
    let key = args[1];
    let mut sh = ctx.db().lock(key);
    let s = match stream_read(ctx, &mut sh, key) {
        Err(()) => return,
        Ok(s) => s,
    };
    let Some(g) = s.and_then(|s| s.groups.get(args[2])) else {
        return ctx.out.error(&no_group_error(key, args[2]));
    };
    let now = ctx.now_ms;
    let out = &mut *ctx.out;
    if justinfo {
        out.array(4);
        out.int(g.pel.len() as i64);
        match (g.pel.keys().next(), g.pel.keys().next_back()) {
            (Some(first), Some(last)) => {
                reply_id(out, *first);
                reply_id(out, *last);
                let with: Vec<_> = g.consumers.iter().filter(|(_, c)| !c.pel.is_empty()).collect();
                out.array(with.len());
                for (name, c) in with {
                    out.array(2);
                    out.bulk(name);
                    out.bulk_i64(c.pel.len() as i64);
                }
            }
            _ => {
                out.null();
                out.null();
                out.null_array();
            }
        }
        return;
    }
    let ids: Vec<StreamId> = match consumer {
        Some(name) => match g.consumers.get(name) {
            None => return out.array(0),
            Some(c) => c.pel.range(start..=end.max(start)).copied().collect(),
        },
        None => g.pel.range(start..=end.max(start)).map(|(k, _)| *k).collect(),
    };
    let d = out.deferred_len();
    let mut n = 0;
    for id in ids {
        if count == 0 || id > end {
            break;
        }
        let Some(nack) = g.pel.get(&id) else {
            continue;
        };
        if minidle != 0 && now - nack.delivery_time < minidle {
            continue;
        }
        count -= 1;
        n += 1;
        out.array(4);
        reply_id(out, id);
        out.bulk(&nack.consumer);
        out.int((now - nack.delivery_time).max(0));
        out.int(nack.delivery_count as i64);
    }
    out.set_deferred_len(d, n);
}

fn xclaim(ctx: &mut Ctx, args: &[&[u8]]) {
    let key = args[1];
    let gname = args[2];
    let cname = args[3];
    let mut sh = ctx.db().lock(key);
    let exists = match stream_mut(ctx, &mut sh, key) {
        Err(()) => return,
        Ok(s) => s.is_some_and(|s| s.groups.contains_key(gname)),
    };
    if !exists {
        return ctx.out.error(&no_group_error(key, gname));
    }
    let Some(minidle) = arg_i64_msg(ctx.out, args[4], "Invalid min-idle-time argument for XCLAIM") else {
        return;
    };
    let minidle = minidle.max(0);
    let mut ids = Vec::new();
    let mut j = 5;
    while j < args.len() {
        match parse_id_opt(args[j], 0, true, false) {
            Some((id, _)) => ids.push(id),
            None => break,
        }
        j += 1;
    }
    let now = ctx.now_ms;
    let (mut force, mut justid) = (false, false);
    let mut retrycount: i64 = -1;
    let mut deliverytime: i64 = -1;
    let mut last_id = StreamId::MIN;
    while j < args.len() {
        let more = args.len() - 1 - j;
        let opt = args[j];
        if opt.eq_ignore_ascii_case(b"force") {
            force = true;
        } else if opt.eq_ignore_ascii_case(b"justid") {
            justid = true;
        } else if opt.eq_ignore_ascii_case(b"idle") && more > 0 {
            j += 1;
            let Some(n) = arg_i64_msg(ctx.out, args[j], "Invalid IDLE option argument for XCLAIM") else {
                return;
            };
            deliverytime = now - n;
        } else if opt.eq_ignore_ascii_case(b"time") && more > 0 {
            j += 1;
            let Some(n) = arg_i64_msg(ctx.out, args[j], "Invalid TIME option argument for XCLAIM") else {
                return;
            };
            deliverytime = n;
        } else if opt.eq_ignore_ascii_case(b"retrycount") && more > 0 {
            j += 1;
            let Some(n) = arg_i64_msg(ctx.out, args[j], "Invalid RETRYCOUNT option argument for XCLAIM") else {
                return;
            };
            retrycount = n;
        } else if opt.eq_ignore_ascii_case(b"lastid") && more > 0 {
            j += 1;
            let Some(id) = parse_id(ctx.out, args[j], 0, true) else {
                return;
            };
            last_id = id;
        } else {
            return ctx.out.err(&format!(
                "Unrecognized XCLAIM option '{}'",
                String::from_utf8_lossy(opt)
            ));
        }
        j += 1;
    }
    if deliverytime == -1 || deliverytime < 0 || deliverytime > now {
        deliverytime = now;
    }
    let Ok(Some(s)) = stream_mut(ctx, &mut sh, key) else {
        return;
    };
    let Some(mut g) = s.groups.remove(gname) else {
        return;
    };
    let mut dirty = 0;
    let mut fx = effects_for(ctx.srv);
    let mut log_last_id = false;
    if last_id > g.last_id {
        g.last_id = last_id;
        dirty += 1;
        log_last_id = true;
    }
    let mut created = false;
    let out = &mut *ctx.out;
    let d = out.deferred_len();
    let mut n = 0;
    for id in ids {
        let has_nack = g.pel.contains_key(&id);
        if !s.exists(id) {
            if let Some(nack) = g.pel.get(&id) {
                // Logged as the XCLAIM that drops it on replay too.
                xclaim_effect(&mut fx, key, gname, id, nack, g.last_id);
                log_last_id = false;
                g.ack(&id);
                dirty += 1;
            }
            continue;
        }
        let mut fresh = false;
        if force && !has_nack {
            g.pel.insert(
                id,
                Nack {
                    delivery_time: now,
                    delivery_count: 0,
                    consumer: Vec::new(),
                },
            );
            fresh = true;
        }
        let Some(nack) = g.pel.get_mut(&id) else {
            continue;
        };
        if !fresh && minidle != 0 && now - nack.delivery_time < minidle {
            continue;
        }
        if !g.consumers.contains_key(cname) {
            created = true;
        }
        g.consumers.entry(cname.to_vec()).or_default().seen_time = now;
        let old = std::mem::replace(&mut nack.consumer, cname.to_vec());
        nack.delivery_time = deliverytime;
        if retrycount >= 0 {
            nack.delivery_count = retrycount as u64;
        } else if !justid {
            nack.delivery_count += 1;
        }
        if fresh || old != cname {
            if !fresh {
                if let Some(oc) = g.consumers.get_mut(&old) {
                    oc.pel.remove(&id);
                }
            }
            if let Some(c) = g.consumers.get_mut(cname) {
                c.pel.insert(id);
            }
        }
        if justid {
            reply_id(out, id);
        } else {
            reply_one(out, s, id);
        }
        if let Some(nack) = g.pel.get(&id) {
            xclaim_effect(&mut fx, key, gname, id, nack, g.last_id);
            log_last_id = false;
        }
        n += 1;
        dirty += 1;
    }
    out.set_deferred_len(d, n);
    if log_last_id {
        setid_effect(&mut fx, key, gname, &g);
    }
    s.groups.insert(gname.to_vec(), g);
    drop(sh);
    ctx.dirty(dirty);
    log_effects(ctx, fx);
    if created {
        ev::notify(ctx, ev::STREAM, "xgroup-createconsumer", key);
    }
    // Redis 7.0 sends no `xclaim` event (only the consumer creation above).
}

fn xautoclaim(ctx: &mut Ctx, args: &[&[u8]]) {
    let key = args[1];
    let gname = args[2];
    let cname = args[3];
    let Some(minidle) = arg_i64_msg(ctx.out, args[4], "Invalid min-idle-time argument for XAUTOCLAIM") else {
        return;
    };
    let minidle = minidle.max(0);
    let Some(start) = range_start(ctx.out, args[5]) else {
        return;
    };
    let mut count: i64 = 100;
    let mut justid = false;
    let mut j = 6;
    while j < args.len() {
        let more = args.len() - 1 - j;
        if args[j].eq_ignore_ascii_case(b"count") && more > 0 {
            let max = i64::MAX / 16;
            match parse_i64(args[j + 1]) {
                Some(n) if (1..=max).contains(&n) => count = n,
                _ => return ctx.out.err("COUNT must be > 0"),
            }
            j += 1;
        } else if args[j].eq_ignore_ascii_case(b"justid") {
            justid = true;
        } else {
            return ctx.out.syntax_error();
        }
        j += 1;
    }
    let mut sh = ctx.db().lock(key);
    let exists = match stream_mut(ctx, &mut sh, key) {
        Err(()) => return,
        Ok(s) => s.is_some_and(|s| s.groups.contains_key(gname)),
    };
    if !exists {
        return ctx.out.error(&no_group_error(key, gname));
    }
    let Ok(Some(s)) = stream_mut(ctx, &mut sh, key) else {
        return;
    };
    let Some(mut g) = s.groups.remove(gname) else {
        return;
    };
    let now = ctx.now_ms;
    let mut attempts = count.saturating_mul(10);
    let mut deleted = Vec::new();
    let mut created = false;
    let mut dirty = 0;
    let mut fx = effects_for(ctx.srv);
    let out = &mut *ctx.out;
    out.array(3);
    let mut claimed = Reply::new();
    claimed.resp = out.resp;
    let mut n = 0;
    let mut cursor = start;
    let mut next: Option<StreamId> = None;
    loop {
        let Some((&id, nack)) = g.pel.range(cursor..).next() else {
            next = None;
            break;
        };
        if attempts == 0 || count == 0 {
            next = Some(id);
            break;
        }
        attempts -= 1;
        cursor = match id.incr() {
            Some(c) => c,
            None => StreamId::MAX,
        };
        let last_possible = id == StreamId::MAX;
        if !s.exists(id) {
            xclaim_effect(&mut fx, key, gname, id, nack, g.last_id);
            g.ack(&id);
            deleted.push(id);
            dirty += 1;
            count -= 1;
            if last_possible {
                break;
            }
            continue;
        }
        if minidle != 0 && now - nack.delivery_time < minidle {
            if last_possible {
                break;
            }
            continue;
        }
        if !g.consumers.contains_key(cname) {
            created = true;
        }
        g.consumers.entry(cname.to_vec()).or_default().seen_time = now;
        let Some(nack) = g.pel.get_mut(&id) else {
            continue;
        };
        let old = std::mem::replace(&mut nack.consumer, cname.to_vec());
        nack.delivery_time = now;
        if !justid {
            nack.delivery_count += 1;
        }
        if old != cname {
            if let Some(oc) = g.consumers.get_mut(&old) {
                oc.pel.remove(&id);
            }
            if let Some(c) = g.consumers.get_mut(cname) {
                c.pel.insert(id);
            }
        }
        if justid {
            reply_id(&mut claimed, id);
        } else {
            reply_one(&mut claimed, s, id);
        }
        if let Some(nack) = g.pel.get(&id) {
            xclaim_effect(&mut fx, key, gname, id, nack, g.last_id);
        }
        n += 1;
        count -= 1;
        dirty += 1;
        if last_possible {
            break;
        }
    }
    reply_id(out, next.unwrap_or(StreamId::MIN));
    out.array(n);
    out.raw(&claimed.buf);
    out.array(deleted.len());
    for id in &deleted {
        reply_id(out, *id);
    }
    s.groups.insert(gname.to_vec(), g);
    drop(sh);
    ctx.dirty(dirty);
    log_effects(ctx, fx);
    if created {
        ev::notify(ctx, ev::STREAM, "xgroup-createconsumer", key);
    }
    // Redis 7.0 sends no `xautoclaim` event (only the consumer creation above).
}

// ---------------------------------------------------------------------------------------------
// Propagation (t_stream.c's streamPropagate*)
// ---------------------------------------------------------------------------------------------

/// What a consumer-group command logs (AOF, replicas) instead of itself: the idempotent
/// commands that recreate the state it left, so replaying the log gives the same pending
/// entries, owners, delivery times and counts whatever the clock says at replay time (a
/// replayed XREADGROUP or XAUTOCLAIM would decide afresh). `None` while nothing is logged.
type Effects = Option<Vec<Vec<Vec<u8>>>>;

fn effects_for(srv: &Server) -> Effects {
    srv.propagation.active().then(Vec::new)
}

/// `XCLAIM <key> <group> <consumer> 0 <id> TIME <ms> RETRYCOUNT <n> FORCE JUSTID LASTID <id>`:
/// the pending entry `id` as `nack` now describes it.
fn xclaim_effect(fx: &mut Effects, key: &[u8], gname: &[u8], id: StreamId, nack: &Nack, last_id: StreamId) {
    if let Some(fx) = fx {
        let mut argv: Vec<Vec<u8>> = vec![b"XCLAIM".to_vec(), key.to_vec(), gname.to_vec(), nack.consumer.clone()];
        argv.extend([
            b"0".to_vec(),
            id.to_bytes(),
            b"TIME".to_vec(),
            nack.delivery_time.to_string().into_bytes(),
        ]);
        argv.extend([b"RETRYCOUNT".to_vec(), nack.delivery_count.to_string().into_bytes()]);
        argv.extend([
            b"FORCE".to_vec(),
            b"JUSTID".to_vec(),
            b"LASTID".to_vec(),
            last_id.to_bytes(),
        ]);
        fx.push(argv);
    }
}

/// `XGROUP SETID <key> <group> <last-id> ENTRIESREAD <n>`: the group's position, for reads that
/// leave no pending entry to carry it (NOACK, XCLAIM LASTID alone).
fn setid_effect(fx: &mut Effects, key: &[u8], gname: &[u8], g: &Group) {
    if let Some(fx) = fx {
        fx.push(vec![
            b"XGROUP".to_vec(),
            b"SETID".to_vec(),
            key.to_vec(),
            gname.to_vec(),
            g.last_id.to_bytes(),
            b"ENTRIESREAD".to_vec(),
            g.entries_read.to_string().into_bytes(),
        ]);
    }
}

/// `XGROUP CREATECONSUMER <key> <group> <consumer>`.
fn createconsumer_effect(fx: &mut Effects, key: &[u8], gname: &[u8], cname: &[u8]) {
    if let Some(fx) = fx {
        fx.push(vec![
            b"XGROUP".to_vec(),
            b"CREATECONSUMER".to_vec(),
            key.to_vec(),
            gname.to_vec(),
            cname.to_vec(),
        ]);
    }
}

/// Logs `fx` in place of the running command (nothing at all when it is empty, as Redis's
/// `preventCommandPropagation`).
fn log_effects(ctx: &Ctx, fx: Effects) {
    if let Some(fx) = fx {
        ctx.propagate(&[]);
        for argv in &fx {
            let refs: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
            ctx.propagate(&refs);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// XINFO
// ---------------------------------------------------------------------------------------------

fn xinfo_help(ctx: &mut Ctx, _args: &[&[u8]]) {
    help_reply(
        ctx.out,
        "XINFO",
        &[
            "CONSUMERS <key> <groupname>",
            "    Show consumers of <groupname>.",
            "GROUPS <key>",
            "    Show the stream consumer groups.",
            "STREAM <key> [FULL [COUNT <count>]",
            "    Show information about the stream.",
        ],
    );
}

fn reply_lag(out: &mut Reply, s: &Stream, g: &Group) {
    match s.lag(g) {
        Some(n) => out.int(n),
        None => out.null(),
    }
}

fn reply_entries_read(out: &mut Reply, g: &Group) {
    if g.entries_read != -1 {
        out.int(g.entries_read);
    } else {
        out.null();
    }
}

fn xinfo(ctx: &mut Ctx, args: &[&[u8]]) {
    let sub = args[1].to_ascii_lowercase();
    let key = args[2];
    // XINFO STREAM's options are checked before the key.
    let mut full = false;
    let mut count: i64 = 10;
    if sub == b"stream" {
        let opts = &args[3..];
        if !opts.is_empty() {
            if (opts.len() != 1 && opts.len() != 3) || !opts[0].eq_ignore_ascii_case(b"full") {
                return subcommand_syntax_error(ctx, args);
            }
            full = true;
            if opts.len() == 3 {
                if !opts[1].eq_ignore_ascii_case(b"count") {
                    return subcommand_syntax_error(ctx, args);
                }
                let Some(n) = arg_i64(ctx.out, opts[2]) else {
                    return;
                };
                count = if n < 0 { 10 } else { n };
            }
        }
    }
    let mut sh = ctx.db().lock(key);
    let s = match stream_read(ctx, &mut sh, key) {
        Err(()) => return,
        Ok(None) => return ctx.out.error("ERR no such key"),
        Ok(Some(s)) => s,
    };
    let now = ctx.now_ms;
    let out = &mut *ctx.out;
    match sub.as_slice() {
        b"consumers" => {
            let Some(g) = s.groups.get(args[3]) else {
                return out.error(&format!(
                    "NOGROUP No such consumer group '{}' for key name '{}'",
                    String::from_utf8_lossy(args[3]),
                    String::from_utf8_lossy(key)
                ));
            };
            out.array(g.consumers.len());
            for (name, c) in &g.consumers {
                out.map(3);
                out.bulk(b"name");
                out.bulk(name);
                out.bulk(b"pending");
                out.int(c.pel.len() as i64);
                out.bulk(b"idle");
                out.int((now - c.seen_time).max(0));
            }
        }
        b"groups" => {
            out.array(s.groups.len());
            for (name, g) in &s.groups {
                out.map(6);
                out.bulk(b"name");
                out.bulk(name);
                out.bulk(b"consumers");
                out.int(g.consumers.len() as i64);
                out.bulk(b"pending");
                out.int(g.pel.len() as i64);
                out.bulk(b"last-delivered-id");
                reply_id(out, g.last_id);
                out.bulk(b"entries-read");
                reply_entries_read(out, g);
                out.bulk(b"lag");
                reply_lag(out, s, g);
            }
        }
        b"stream" => xinfo_stream(out, s, full, count as usize),
        _ => subcommand_syntax_error(ctx, args),
    }
}

fn xinfo_stream(out: &mut Reply, s: &Stream, full: bool, count: usize) {
    out.map(if full { 9 } else { 10 });
    out.bulk(b"length");
    out.int(s.length as i64);
    out.bulk(b"radix-tree-keys");
    out.int(s.block_count() as i64);
    out.bulk(b"radix-tree-nodes");
    // Redis reports its radix tree's node count; blocks are leaves of a tree about twice as big.
    out.int((s.block_count() * 2).max(1) as i64);
    out.bulk(b"last-generated-id");
    reply_id(out, s.last_id);
    out.bulk(b"max-deleted-entry-id");
    reply_id(out, s.max_deleted_id);
    out.bulk(b"entries-added");
    out.int(s.entries_added as i64);
    out.bulk(b"recorded-first-entry-id");
    reply_id(out, s.first_id);
    if !full {
        out.bulk(b"groups");
        out.int(s.groups.len() as i64);
        out.bulk(b"first-entry");
        if !reply_edge(out, s, false) {
            out.null();
        }
        out.bulk(b"last-entry");
        if !reply_edge(out, s, true) {
            out.null();
        }
        return;
    }
    out.bulk(b"entries");
    reply_range(out, s, StreamId::MIN, StreamId::MAX, count, false);
    out.bulk(b"groups");
    out.array(s.groups.len());
    let lim = if count == 0 { usize::MAX } else { count };
    for (name, g) in &s.groups {
        out.map(7);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"last-delivered-id");
        reply_id(out, g.last_id);
        out.bulk(b"entries-read");
        reply_entries_read(out, g);
        out.bulk(b"lag");
        reply_lag(out, s, g);
        out.bulk(b"pel-count");
        out.int(g.pel.len() as i64);
        out.bulk(b"pending");
        let n = g.pel.len().min(lim);
        out.array(n);
        for (id, nack) in g.pel.iter().take(n) {
            out.array(4);
            reply_id(out, *id);
            out.bulk(&nack.consumer);
            out.int(nack.delivery_time);
            out.int(nack.delivery_count as i64);
        }
        out.bulk(b"consumers");
        out.array(g.consumers.len());
        for (cname, c) in &g.consumers {
            out.map(4);
            out.bulk(b"name");
            out.bulk(cname);
            out.bulk(b"seen-time");
            out.int(c.seen_time);
            out.bulk(b"pel-count");
            out.int(c.pel.len() as i64);
            out.bulk(b"pending");
            let n = c.pel.len().min(lim);
            out.array(n);
            for id in c.pel.iter().take(n) {
                out.array(3);
                reply_id(out, *id);
                let (t, dc) = g.pel.get(id).map_or((0, 0), |x| (x.delivery_time, x.delivery_count));
                out.int(t);
                out.int(dc as i64);
            }
        }
    }
}

/// The first (or last) entry as `[id, [fields]]`; false when the stream is empty.
fn reply_edge(out: &mut Reply, s: &Stream, last: bool) -> bool {
    let mut found = false;
    s.range(StreamId::MIN, StreamId::MAX, last, |v| {
        reply_entry(out, &v);
        found = true;
        false
    });
    found
}
