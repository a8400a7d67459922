//! SORT and SORT_RO (`sort.c`): sort a list, set or sorted set numerically or by bytes, by its
//! own elements or by weights read from other keys (`BY weight_*`, `BY obj_*->field`), reply
//! with or STORE the elements or values read through `GET` patterns.
//!
//! What clients and Redis's tests observe, and this file reproduces:
//!
//! * Option errors come before the key is looked up (`SORT str foo` is a syntax error, not
//!   WRONGTYPE); a bad LIMIT number replies Redis's integer error; SORT_RO treats STORE as an
//!   unknown option.
//! * Numeric sorting parses each weight like C `strtod` (leading spaces, hex, an empty string as
//!   0); an unparsable weight fails the whole command with "One or more scores can't be
//!   converted into double". A weight key that is missing (or not a string/hash) weighs 0 and is
//!   no error. Equal weights are ordered by the elements' bytes, so the result is deterministic.
//! * ALPHA compares like `strcoll` in the C/C.UTF-8 locale when replying (bytes up to the first
//!   NUL) and binary-safe when storing. Equal ALPHA BY weights keep the source order: Redis's
//!   `qsort` is glibc's merge sort, which is stable, as is `sort_by`.
//! * `BY` with a pattern without `*` (`BY nosort`) skips sorting: lists and sorted sets keep
//!   their order (reversed by DESC, with LIMIT taken from that order), sets their iteration
//!   order; but a set sorted into a STORE key is sorted ALPHA so the stored list is
//!   deterministic (Redis does the same for scripts).
//! * Sorting a compact sorted set converts it to a skiplist, as Redis's does.
//! * STORE writes a list (a missing GET value becomes an empty string), replaces the key and its
//!   TTL, deletes the key when the result is empty, and replies the number of elements.
//!
//! Locking: the source and STORE keys are known from the arguments, but the keys named by BY
//! and GET patterns only once the elements are read. A SORT whose patterns read other keys
//! ([`reads_other_keys`]) locks every shard of the client's database (`Db::lock_all`, in the
//! global ascending order, so it cannot deadlock), which makes it atomic like any other command
//! without stopping the other databases; otherwise it locks just its source and STORE keys.

use super::zsets::strtod;
use super::{def, CommandDef, Ctx};
use crate::keyspace::{Locked, Value};
use crate::server::blocking;
use crate::types::list::{End, List};
use crate::types::Collection;
use crate::util::num::parse_i64;
use std::cmp::Ordering;

#[rustfmt::skip]
pub static COMMANDS: &[CommandDef] = &[
    CommandDef { keys_fn: Some(sort_keys), ..def("sort", -2, "write denyoom", (1, 1, 1), "@set @sortedset @list @dangerous", "generic", "1.0.0", "Sort the elements in a list, set or sorted set", sort) },
    CommandDef { keys_fn: Some(sort_ro_keys), ..def("sort_ro", -2, "readonly", (1, 1, 1), "@set @sortedset @list @dangerous", "generic", "7.0.0", "Sort the elements in a list, set or sorted set. Read-only variant of SORT.", sort_ro) },
];

/// Keys of a SORT command line as Redis's `sortGetKeys` finds them: the source, and the
/// destination of the last `STORE` (options are skipped by their known argument counts; an
/// unknown word is taken as an option without arguments).
fn sort_keys(args: &[&[u8]]) -> Vec<usize> {
    if args.len() < 2 {
        return Vec::new();
    }
    let mut keys = vec![1];
    let mut store = None;
    let mut i = 2;
    while i < args.len() {
        let a = args[i];
        if a.eq_ignore_ascii_case(b"limit") {
            i += 2;
        } else if a.eq_ignore_ascii_case(b"get") || a.eq_ignore_ascii_case(b"by") {
            i += 1;
        } else if a.eq_ignore_ascii_case(b"store") && i + 1 < args.len() {
            // The destination itself is then read as an option, as Redis does.
            store = Some(i + 1);
        }
        i += 1;
    }
    keys.extend(store);
    keys
}

/// SORT_RO's only key is its source (Redis's sortROGetKeys).
fn sort_ro_keys(args: &[&[u8]]) -> Vec<usize> {
    if args.len() < 2 {
        Vec::new()
    } else {
        vec![1]
    }
}

fn sort(ctx: &mut Ctx, args: &[&[u8]]) {
    sort_generic(ctx, args, false);
}

fn sort_ro(ctx: &mut Ctx, args: &[&[u8]]) {
    sort_generic(ctx, args, true);
}

/// The parsed options of one SORT call.
struct Opts<'a> {
    desc: bool,
    alpha: bool,
    limit_start: i64,
    limit_count: i64,
    store: Option<&'a [u8]>,
    by: Option<&'a [u8]>,
    /// BY named a pattern without `*`: nothing to sort by. Once set it stays set, even if a
    /// later BY has a `*` (Redis keeps the flag).
    dontsort: bool,
    gets: Vec<&'a [u8]>,
}

/// The bytes of an argument as C sees it: up to the first NUL. Redis searches patterns with
/// `strchr`/`strstr`, which stop there.
fn c_str(s: &[u8]) -> &[u8] {
    match s.iter().position(|&c| c == 0) {
        Some(n) => &s[..n],
        None => s,
    }
}

fn has_star(pattern: &[u8]) -> bool {
    c_str(pattern).contains(&b'*')
}

/// `GET #`: the element itself.
fn is_hash_sign(pattern: &[u8]) -> bool {
    c_str(pattern) == b"#"
}

/// Parses the options (`args[2..]`), replying the error itself (None).
fn parse<'a>(ctx: &mut Ctx, args: &[&'a [u8]], readonly: bool) -> Option<Opts<'a>> {
    let mut o = Opts {
        desc: false,
        alpha: false,
        limit_start: 0,
        limit_count: -1,
        store: None,
        by: None,
        dontsort: false,
        gets: Vec::new(),
    };
    let mut j = 2;
    while j < args.len() {
        let left = args.len() - j - 1;
        let a = args[j];
        let is = |w: &[u8]| a.eq_ignore_ascii_case(w);
        if is(b"asc") {
            o.desc = false;
        } else if is(b"desc") {
            o.desc = true;
        } else if is(b"alpha") {
            o.alpha = true;
        } else if is(b"limit") && left >= 2 {
            match (parse_i64(args[j + 1]), parse_i64(args[j + 2])) {
                (Some(s), Some(c)) => {
                    o.limit_start = s;
                    o.limit_count = c;
                }
                _ => {
                    ctx.out.not_integer();
                    return None;
                }
            }
            j += 2;
        } else if !readonly && is(b"store") && left >= 1 {
            o.store = Some(args[j + 1]);
            j += 1;
        } else if is(b"by") && left >= 1 {
            o.by = Some(args[j + 1]);
            if !has_star(args[j + 1]) {
                o.dontsort = true;
            }
            j += 1;
        } else if is(b"get") && left >= 1 {
            o.gets.push(args[j + 1]);
            j += 1;
        } else {
            ctx.out.syntax_error();
            return None;
        }
        j += 1;
    }
    Some(o)
}

impl Opts<'_> {
    /// Whether sorting reads keys named by the BY or GET patterns: BY sorts by a pattern with
    /// `*`, or a GET pattern other than `#` has a `*`.
    fn reads_other_keys(&self) -> bool {
        let by = !self.dontsort && self.by.is_some_and(has_star);
        by || self.gets.iter().any(|g| !is_hash_sign(g) && has_star(g))
    }
}

/// Whether a SORT (or SORT_RO) command line reads keys named by its BY or GET patterns, keys
/// that are not among its declared key positions. Callers that lock only a command's declared
/// keys (EXEC, scripts) must run such a SORT as one touching undeclared keys. A line with a
/// syntax error reads nothing.
pub fn reads_other_keys(args: &[&[u8]]) -> bool {
    let mut by = None;
    let mut dontsort = false;
    let mut gets = Vec::new();
    let mut j = 2;
    while j + 1 < args.len() {
        let a = args[j];
        if a.eq_ignore_ascii_case(b"limit") {
            j += 2;
        } else if a.eq_ignore_ascii_case(b"by") {
            by = Some(args[j + 1]);
            dontsort |= !has_star(args[j + 1]);
            j += 1;
        } else if a.eq_ignore_ascii_case(b"get") {
            gets.push(args[j + 1]);
            j += 1;
        } else if a.eq_ignore_ascii_case(b"store") {
            j += 1;
        }
        j += 1;
    }
    let o = Opts {
        desc: false,
        alpha: false,
        limit_start: 0,
        limit_count: -1,
        store: None,
        by,
        dontsort,
        gets,
    };
    o.reads_other_keys()
}

/// One element being sorted: the element, its numeric weight, or its ALPHA weight read
/// through BY (None when the weight key is missing).
struct Item {
    obj: Vec<u8>,
    score: f64,
    cmp: Option<Vec<u8>>,
}

impl Item {
    fn new(obj: &[u8]) -> Item {
        Item {
            obj: obj.to_vec(),
            score: 0.0,
            cmp: None,
        }
    }
}

/// Redis's `lookupKeyByPattern`: the value `pattern` names for element `subst`. `#` is the
/// element itself; the first `*` is replaced by the element; `key*->field` reads a hash field.
/// A pattern without `*`, a missing key or a key of another type gives None. The lookups count
/// as reads (keyspace hits and misses, access clock, lazy expiry), as in Redis.
fn lookup_pattern(ctx: &Ctx, locked: &mut Locked, pattern: &[u8], subst: &[u8]) -> Option<Vec<u8>> {
    if is_hash_sign(pattern) {
        return Some(subst.to_vec());
    }
    let p = c_str(pattern).iter().position(|&c| c == b'*')?;
    // `->` after the `*`, with a field name after it, makes a hash lookup; a pattern that ends
    // with `->` is a plain key name.
    let after = &c_str(pattern)[p + 1..];
    let arrow = after
        .windows(2)
        .position(|w| w == b"->")
        .map(|i| p + 1 + i)
        .filter(|&f| f + 2 < c_str(pattern).len());
    let (key_tail, field) = match arrow {
        Some(f) => (&pattern[p + 1..f], Some(&pattern[f + 2..])),
        None => (&pattern[p + 1..], None),
    };
    let mut key = Vec::with_capacity(pattern.len() + subst.len());
    key.extend_from_slice(&pattern[..p]);
    key.extend_from_slice(subst);
    key.extend_from_slice(key_tail);
    let shard = locked.shard(&key);
    let entry = super::strings::lookup(shard, &key, ctx.now_ms, ctx.ks_stats(), ctx.lru());
    ctx.count_read(entry.is_some());
    let value = &entry?.value;
    match field {
        Some(f) => match value {
            Value::Hash(h) => h.get(f).map(|v| v.to_vec()),
            _ => None,
        },
        None => value.as_bytes().map(|b| b.into_owned()),
    }
}

/// A weight as Redis parses it with `strtod`: the C string (up to a NUL) must be consumed
/// whole, without overflow, and not be NaN.
fn parse_weight(s: &[u8]) -> Option<f64> {
    let (v, used, erange) = strtod(s);
    (used == c_str(s).len() && !erange && !v.is_nan()).then_some(v)
}

/// Byte order of two strings as `strcoll` sees them in the C locale: up to the first NUL.
fn collate(a: &[u8], b: &[u8]) -> Ordering {
    c_str(a).cmp(c_str(b))
}

/// Which kind of value is sorted.
#[derive(Clone, Copy, PartialEq)]
enum Source {
    List,
    Set,
    ZSet,
}

fn sort_generic(ctx: &mut Ctx, args: &[&[u8]], readonly: bool) {
    let Some(mut o) = parse(ctx, args, readonly) else {
        return;
    };
    let src_key = args[1];
    let db = ctx.db();
    let mut locked = if o.reads_other_keys() {
        db.lock_all()
    } else {
        db.lock_keys(std::iter::once(src_key).chain(o.store))
    };

    // The source: a missing key sorts as an empty list.
    let shard = locked.shard(src_key);
    let entry = super::strings::lookup(shard, src_key, ctx.now_ms, ctx.ks_stats(), ctx.lru());
    ctx.count_read(entry.is_some());
    let (source, len) = match entry.map(|e| &mut e.value) {
        None => (Source::List, 0),
        Some(Value::List(l)) => (Source::List, l.len()),
        Some(Value::Set(s)) => (Source::Set, s.len()),
        Some(Value::ZSet(z)) => {
            // Redis converts a compact sorted set for SORT, and leaves it converted.
            z.convert_to_big();
            (Source::ZSet, z.len())
        }
        Some(_) => {
            ctx.out.wrong_type();
            return;
        }
    };

    // A set has no order of its own: stored results (and script results) must not depend on
    // its iteration order, so they are sorted by the elements.
    let mut by = o.by;
    if o.dontsort && source == Source::Set && (o.store.is_some() || ctx.client.in_script) {
        o.dontsort = false;
        o.alpha = true;
        by = None;
    }

    // LIMIT, clamped to the element count as Redis does (end < start means nothing).
    let vlen = len as i64;
    let mut start = o.limit_start.clamp(0, vlen);
    let count = o.limit_count.clamp(-1, vlen);
    let mut end = if count < 0 { vlen - 1 } else { start + count - 1 };
    if start >= vlen {
        start = vlen - 1;
        end = vlen - 2;
    }
    end = end.min(vlen - 1);

    // Load the elements. A list or sorted set that is not sorted yields just the LIMIT range,
    // taken from its own order (reversed by DESC).
    let mut items: Vec<Item> = Vec::new();
    // The key was just looked up (and lazily expired); an empty or missing source loads
    // nothing (during CLIENT PAUSE an expired key stays in the table but reads as missing).
    let shard = locked.shard(src_key);
    let value = if len == 0 {
        None
    } else {
        shard.dict.get(src_key).map(|e| &e.value)
    };
    let ranged = o.dontsort && source != Source::Set;
    let take = (end - start + 1).max(0) as usize;
    let skip = start.max(0) as usize;
    match value {
        Some(Value::List(l)) if ranged => {
            if o.desc {
                items.extend(l.iter().rev().skip(skip).take(take).map(|v| Item::new(&v)));
            } else {
                items.extend(l.range(skip, take).map(|v| Item::new(&v)));
            }
        }
        Some(Value::ZSet(z)) if ranged => {
            let (from, to) = if o.desc {
                (len.saturating_sub(skip + take), len - skip.min(len))
            } else {
                (skip, skip + take)
            };
            z.visit(from, to, o.desc, &mut |m, _| {
                items.push(Item::new(m));
                true
            });
        }
        Some(Value::List(l)) => items.extend(l.iter().map(|v| Item::new(&v))),
        Some(Value::Set(s)) => items.extend(s.iter().map(|m| Item::new(&m.bytes()))),
        Some(Value::ZSet(z)) => z.for_each(&mut |m, _| items.push(Item::new(m))),
        _ => {}
    }
    if ranged {
        // The vector now holds exactly the range.
        end -= start;
        start = 0;
    }

    // Weights, then the sort itself.
    let mut bad_weight = false;
    if !o.dontsort {
        for it in items.iter_mut() {
            let weight = match by {
                Some(pattern) => match lookup_pattern(ctx, &mut locked, pattern, &it.obj) {
                    Some(w) => w,
                    None => continue,
                },
                None => {
                    if !o.alpha {
                        match parse_weight(&it.obj) {
                            Some(s) => it.score = s,
                            None => bad_weight = true,
                        }
                    }
                    continue;
                }
            };
            if o.alpha {
                it.cmp = Some(weight);
            } else {
                match parse_weight(&weight) {
                    Some(s) => it.score = s,
                    None => bad_weight = true,
                }
            }
        }
        let storing = o.store.is_some();
        let by_pattern = by.is_some();
        let alpha = o.alpha;
        let compare = |a: &Item, b: &Item| -> Ordering {
            if !alpha {
                // Equal weights fall back to the elements, so the order is total.
                match a.score.partial_cmp(&b.score) {
                    Some(Ordering::Equal) | None => a.obj.cmp(&b.obj),
                    Some(ord) => ord,
                }
            } else if by_pattern {
                match (&a.cmp, &b.cmp) {
                    (None, None) => Ordering::Equal,
                    (None, Some(_)) => Ordering::Less,
                    (Some(_), None) => Ordering::Greater,
                    (Some(x), Some(y)) if storing => x.cmp(y),
                    (Some(x), Some(y)) => collate(x, y),
                }
            } else if storing {
                a.obj.cmp(&b.obj)
            } else {
                collate(&a.obj, &b.obj)
            }
        };
        if o.desc {
            items.sort_by(|a, b| compare(b, a));
        } else {
            items.sort_by(compare);
        }
    }

    if bad_weight {
        ctx.out.error("ERR One or more scores can't be converted into double");
        return;
    }
    // Elements start..=end of the vector (the clamping above keeps them inside it).
    let rows = (end - start + 1).max(0) as usize;
    let lo = start.max(0) as usize;
    let range = &items[lo.min(items.len())..(lo + rows).min(items.len())];
    let outputlen = range.len() * o.gets.len().max(1);
    match o.store {
        None => {
            ctx.out.array(outputlen);
            for it in range {
                if o.gets.is_empty() {
                    ctx.out.bulk(&it.obj);
                }
                for g in &o.gets {
                    match lookup_pattern(ctx, &mut locked, g, &it.obj) {
                        Some(v) => ctx.out.bulk(&v),
                        None => ctx.out.null(),
                    }
                }
            }
        }
        Some(dst) => {
            let mut list = List::new();
            for it in range {
                if o.gets.is_empty() {
                    list.push(End::Right, &it.obj);
                }
                for g in &o.gets {
                    let v = lookup_pattern(ctx, &mut locked, g, &it.obj).unwrap_or_default();
                    list.push(End::Right, &v);
                }
            }
            let shard = locked.shard(dst);
            if outputlen > 0 {
                shard.set(dst, Value::List(list), false, ctx.lru());
                blocking::signal(ctx.srv, ctx.client.db, dst);
                ctx.dirty(outputlen as u64);
            } else if shard.remove(dst).is_some() {
                ctx.dirty(1);
            }
            ctx.out.int(outputlen as i64);
        }
    }
}
