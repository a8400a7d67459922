//! GEO commands (`geo.c`): positions stored in sorted sets whose scores are 52-bit geohashes.
//!
//! GEOADD is ZADD with scores computed from coordinates; GEOPOS / GEODIST / GEOHASH decode
//! scores; every search (GEOSEARCH, GEOSEARCHSTORE, GEORADIUS, GEORADIUSBYMEMBER and the `_RO`
//! forms) goes through [`search`], which follows Redis's `georadiusGeneric` step by step: the
//! same argument walk (errors in the same order), the same nine cells scanned in the same order
//! (which is the order of unsorted results and what `COUNT n ANY` keeps), the same stable sort
//! by distance. The math lives in [`crate::types::geohash`].

use super::zsets::parse_score;
use super::{def, CommandDef, Ctx};
use crate::keyspace::{KeyspaceStats, Shard, Value};
use crate::protocol::reply::Reply;
use crate::server::notify as ev;
use crate::types::geohash::{self as gh, Shape, ShapeKind};
use crate::types::zset::ZSet;
use crate::util::num::{c_format, parse_i64};
use std::cmp::Ordering;

#[rustfmt::skip]
pub static COMMANDS: &[CommandDef] = &[
    def("geoadd", -5, "write denyoom", (1, 1, 1), "@geo", "geo", "3.2.0", "Add one or more geospatial items in the geospatial index represented using a sorted set", geoadd),
    def("geopos", -2, "readonly", (1, 1, 1), "@geo", "geo", "3.2.0", "Returns longitude and latitude of members of a geospatial index", geopos),
    def("geodist", -4, "readonly", (1, 1, 1), "@geo", "geo", "3.2.0", "Returns the distance between two members of a geospatial index", geodist),
    def("geohash", -2, "readonly", (1, 1, 1), "@geo", "geo", "3.2.0", "Returns members of a geospatial index as standard geohash strings", geohash),
    def("geosearch", -7, "readonly", (1, 1, 1), "@geo", "geo", "6.2.0", "Query a sorted set representing a geospatial index to fetch members inside an area of a box or a circle.", geosearch),
    def("geosearchstore", -8, "write denyoom", (1, 2, 1), "@geo", "geo", "6.2.0", "Query a sorted set representing a geospatial index to fetch members inside an area of a box or a circle, and store the result in another key.", geosearchstore),
    CommandDef { keys_fn: Some(georadius_keys), ..def("georadius", -6, "write denyoom", (1, 1, 1), "@geo", "geo", "3.2.0", "Query a sorted set representing a geospatial index to fetch members matching a given maximum distance from a point", georadius) },
    def("georadius_ro", -6, "readonly", (1, 1, 1), "@geo", "geo", "3.2.10", "A read-only variant for GEORADIUS", georadius_ro),
    CommandDef { keys_fn: Some(georadius_keys), ..def("georadiusbymember", -5, "write denyoom", (1, 1, 1), "@geo", "geo", "3.2.0", "Query a sorted set representing a geospatial index to fetch members matching a given maximum distance from a member", georadiusbymember) },
    def("georadiusbymember_ro", -5, "readonly", (1, 1, 1), "@geo", "geo", "3.2.10", "A read-only variant for GEORADIUSBYMEMBER", georadiusbymember_ro),
];

/// Keys of GEORADIUS / GEORADIUSBYMEMBER (`georadiusGetKeys`): the source, plus the key after
/// the last STORE / STOREDIST from the sixth argument on.
fn georadius_keys(args: &[&[u8]]) -> Vec<usize> {
    let mut stored = None;
    let mut i = 5;
    while i < args.len() {
        let a = args[i];
        if (a.eq_ignore_ascii_case(b"store") || a.eq_ignore_ascii_case(b"storedist")) && i + 1 < args.len() {
            stored = Some(i + 1);
            i += 1;
        }
        i += 1;
    }
    let mut v = vec![1];
    v.extend(stored);
    v
}

// ---------------------------------------------------------------------------------------------
// Shared parsing and formatting
// ---------------------------------------------------------------------------------------------

/// The zset at `key`: `Ok(None)` when absent, `Err(())` when the key holds another type.
fn get_zset<'s>(shard: &'s mut Shard, key: &[u8], now: i64, stats: &KeyspaceStats) -> Result<Option<&'s mut ZSet>, ()> {
    match shard.get_mut(key, now, stats) {
        None => Ok(None),
        Some(e) => match &mut e.value {
            Value::ZSet(z) => Ok(Some(z)),
            _ => Err(()),
        },
    }
}

/// A longitude/latitude pair (`extractLongLatOrReply`): floats, then the storage limits.
fn parse_lonlat(out: &mut Reply, lon: &[u8], lat: &[u8]) -> Option<[f64; 2]> {
    let mut xy = [0.0; 2];
    for (slot, arg) in xy.iter_mut().zip([lon, lat]) {
        match parse_score(arg) {
            Some(v) => *slot = v,
            None => {
                out.not_float();
                return None;
            }
        }
    }
    let [x, y] = xy;
    if !(gh::LONG_MIN..=gh::LONG_MAX).contains(&x) || !(gh::LAT_MIN..=gh::LAT_MAX).contains(&y) {
        out.err(&format!(
            "invalid longitude,latitude pair {},{}",
            c_format("%f", x),
            c_format("%f", y)
        ));
        return None;
    }
    Some(xy)
}

/// Metres per unit (`extractUnitOrReply`).
fn parse_unit(out: &mut Reply, u: &[u8]) -> Option<f64> {
    let v = match u.to_ascii_lowercase().as_slice() {
        b"m" => 1.0,
        b"km" => 1000.0,
        b"ft" => 0.3048,
        b"mi" => 1609.34,
        _ => {
            out.err("unsupported unit provided. please use M, KM, FT, MI");
            return None;
        }
    };
    Some(v)
}

/// A non-negative length argument; `what` names it in the error (`need numeric radius`).
fn parse_length(out: &mut Reply, arg: &[u8], what: &str) -> Option<f64> {
    match parse_score(arg) {
        Some(v) => Some(v),
        None => {
            out.err(what);
            None
        }
    }
}

/// A distance as Redis prints it: fixed point with 4 decimals, rounded half to even
/// (`fixedpoint_d2string`), always a bulk string.
fn fmt_distance(d: f64) -> String {
    if d == 0.0 {
        return "0.0000".into();
    }
    let scaled = (d * 10000.0).round_ties_even();
    // llrint gives LLONG_MIN for what does not fit; Rust's cast saturates. Distances on Earth
    // never come close.
    let v = scaled as i64;
    let neg = v < 0;
    let mag = v.unsigned_abs();
    let (int, frac) = (mag / 10000, mag % 10000);
    format!("{}{}.{:04}", if neg { "-" } else { "" }, int, frac)
}

/// A coordinate as `addReplyHumanLongDouble` writes it: `%.17Lf` without trailing zeros (the
/// double widens exactly, so `%.17f` gives the same digits), a bulk string in RESP2 and a
/// double in RESP3.
fn reply_coord(out: &mut Reply, d: f64) {
    let mut s = c_format("%.17f", d);
    if s.contains('.') {
        let trimmed = s.trim_end_matches('0').trim_end_matches('.').len();
        s.truncate(trimmed);
    }
    if s == "-0" {
        s = "0".into();
    }
    if out.resp >= 3 {
        out.raw(b",");
        out.raw(s.as_bytes());
        out.raw(b"\r\n");
    } else {
        out.bulk(s.as_bytes());
    }
}

// ---------------------------------------------------------------------------------------------
// GEOADD
// ---------------------------------------------------------------------------------------------

fn geoadd(ctx: &mut Ctx, args: &[&[u8]]) {
    let key = args[1];
    let (mut nx, mut xx, mut ch) = (false, false, false);
    let mut i = 2;
    while i < args.len() {
        match args[i].to_ascii_lowercase().as_slice() {
            b"nx" => nx = true,
            b"xx" => xx = true,
            b"ch" => ch = true,
            _ => break,
        }
        i += 1;
    }
    let rest = &args[i..];
    // No triple at all is ZADD's own syntax error once GEOADD hands over.
    if !rest.len().is_multiple_of(3) || (xx && nx) || rest.is_empty() {
        return ctx.out.syntax_error();
    }
    let mut scores = Vec::with_capacity(rest.len() / 3);
    for t in rest.chunks(3) {
        let Some([lon, lat]) = parse_lonlat(ctx.out, t[0], t[1]) else {
            return;
        };
        match gh::score_of(lon, lat) {
            Some(s) => scores.push(s as f64),
            None => return ctx.out.syntax_error(),
        }
    }
    let (now, stats, lru) = (ctx.now_ms, ctx.ks_stats(), ctx.lru());
    let mut shard = ctx.db().lock(key);
    let exists = match get_zset(&mut shard, key, now, stats) {
        Err(()) => return ctx.out.wrong_type(),
        Ok(z) => z.is_some(),
    };
    if !exists {
        if xx {
            return ctx.out.int(0);
        }
        shard.set(key, Value::ZSet(ZSet::new_for(rest[2].len())), false, lru);
    }
    let (mut added, mut updated) = (0i64, 0i64);
    if let Ok(Some(z)) = get_zset(&mut shard, key, now, stats) {
        for (t, &score) in rest.chunks(3).zip(&scores) {
            let member = t[2];
            match z.score(member) {
                Some(_) if nx => {}
                Some(cur) => {
                    if cur != score {
                        z.update(member, cur, score);
                        updated += 1;
                    }
                }
                None if xx => {}
                None => {
                    z.insert(member, score);
                    added += 1;
                }
            }
        }
    }
    // XX on a fresh key never gets here; NX never empties a set: the key is never left empty.
    if added > 0 {
        crate::server::blocking::signal(ctx.srv, ctx.client.db, key);
    }
    // GEOADD is ZADD underneath in Redis, and reports itself as such.
    ev::notify_if(ctx, added + updated > 0, ev::ZSET, "zadd", key);
    drop(shard);
    ctx.dirty((added + updated) as u64);
    ctx.out.int(if ch { added + updated } else { added });
}

// ---------------------------------------------------------------------------------------------
// GEOPOS / GEODIST / GEOHASH
// ---------------------------------------------------------------------------------------------

/// Runs `f` with the zset at `key` (None when absent); WRONGTYPE otherwise.
fn with_read(ctx: &mut Ctx, key: &[u8], f: impl FnOnce(Option<&ZSet>, &mut Reply)) {
    let (now, stats) = (ctx.now_ms, ctx.ks_stats());
    let mut shard = ctx.db().lock(key);
    match get_zset(&mut shard, key, now, stats) {
        Err(()) => {
            ctx.count_read(true);
            ctx.out.wrong_type()
        }
        Ok(z) => {
            ctx.count_read(z.is_some());
            f(z.map(|z| &*z), ctx.out)
        }
    }
}

fn geopos(ctx: &mut Ctx, args: &[&[u8]]) {
    with_read(ctx, args[1], |z, out| {
        out.array(args.len() - 2);
        for m in &args[2..] {
            match z.and_then(|z| z.score(m)).and_then(gh::decode_score) {
                None => out.null_array(),
                Some([x, y]) => {
                    out.array(2);
                    reply_coord(out, x);
                    reply_coord(out, y);
                }
            }
        }
    });
}

fn geodist(ctx: &mut Ctx, args: &[&[u8]]) {
    let mut to_meter = 1.0;
    if args.len() == 5 {
        match parse_unit(ctx.out, args[4]) {
            Some(u) => to_meter = u,
            None => return,
        }
    } else if args.len() > 5 {
        return ctx.out.syntax_error();
    }
    with_read(ctx, args[1], |z, out| {
        let Some(z) = z else { return out.null() };
        let a = z.score(args[2]).and_then(gh::decode_score);
        let b = z.score(args[3]).and_then(gh::decode_score);
        match (a, b) {
            (Some([x1, y1]), Some([x2, y2])) => {
                out.bulk(fmt_distance(gh::distance(x1, y1, x2, y2) / to_meter).as_bytes())
            }
            _ => out.null(),
        }
    });
}

fn geohash(ctx: &mut Ctx, args: &[&[u8]]) {
    with_read(ctx, args[1], |z, out| {
        out.array(args.len() - 2);
        for m in &args[2..] {
            match z.and_then(|z| z.score(m)).and_then(gh::standard_string) {
                None => out.null(),
                Some(s) => out.bulk(&s),
            }
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Searches
// ---------------------------------------------------------------------------------------------

/// Which command runs [`search`] (Redis's RADIUS_* / GEOSEARCH flags).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    /// GEORADIUS(_RO): centre and radius are positional.
    Coords,
    /// GEORADIUSBYMEMBER(_RO): centre is a member.
    Member,
    /// GEOSEARCH: FROM… and BY… options.
    Search,
    /// GEOSEARCHSTORE: like GEOSEARCH, destination first.
    SearchStore,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sort {
    None,
    Asc,
    Desc,
}

/// One match.
struct Point {
    member: Vec<u8>,
    xy: [f64; 2],
    /// Metres until the reply, then the user's unit.
    dist: f64,
    score: f64,
}

fn geosearch(ctx: &mut Ctx, args: &[&[u8]]) {
    search(ctx, args, Form::Search, true);
}

fn geosearchstore(ctx: &mut Ctx, args: &[&[u8]]) {
    search(ctx, args, Form::SearchStore, false);
}

fn georadius(ctx: &mut Ctx, args: &[&[u8]]) {
    search(ctx, args, Form::Coords, false);
}

fn georadius_ro(ctx: &mut Ctx, args: &[&[u8]]) {
    search(ctx, args, Form::Coords, true);
}

fn georadiusbymember(ctx: &mut Ctx, args: &[&[u8]]) {
    search(ctx, args, Form::Member, false);
}

fn georadiusbymember_ro(ctx: &mut Ctx, args: &[&[u8]]) {
    search(ctx, args, Form::Member, true);
}

/// Scans the cells of the shape in Redis's order and collects the members inside it; with
/// `limit` (COUNT … ANY) stops as soon as that many were found (`membersOfAllNeighbors`).
fn collect_points(z: &ZSet, shape: &Shape, limit: usize) -> Vec<Point> {
    let cells = gh::areas_by_shape(shape);
    let mut found: Vec<Point> = Vec::new();
    let mut last: Option<gh::Bits> = None;
    for cell in cells {
        if cell.is_zero() {
            continue;
        }
        // With huge radii neighbouring cells can coincide: skip a repeat of the previous one.
        if last == Some(cell) {
            continue;
        }
        if limit > 0 && found.len() >= limit {
            break;
        }
        let (min, max) = gh::score_range(cell);
        let (min, max) = (min as f64, max as f64);
        let from = z.lower_bound(&|_, s| s < min);
        z.visit(from, usize::MAX, false, &mut |m, s| {
            if s >= max {
                return false;
            }
            if let Some(xy) = gh::decode_score(s) {
                if let Some(dist) = gh::within(shape, xy) {
                    found.push(Point {
                        member: m.to_vec(),
                        xy,
                        dist,
                        score: s,
                    });
                }
            }
            !(limit > 0 && found.len() >= limit)
        });
        last = Some(cell);
    }
    found
}

/// `georadiusGeneric`: `nostore` is set for the `_RO` forms and GEOSEARCH.
fn search(ctx: &mut Ctx, args: &[&[u8]], form: Form, nostore: bool) {
    let src_idx = if form == Form::SearchStore { 2 } else { 1 };
    let src = args[src_idx];
    let is_search = matches!(form, Form::Search | Form::SearchStore);
    // Every key the command may write: the parse below decides which one, but the shards are
    // locked once, up front, in order.
    let mut keys: Vec<&[u8]> = vec![src];
    if form == Form::SearchStore {
        keys.push(args[1]);
    } else if !nostore && !is_search {
        keys.extend(
            args.windows(2)
                .filter(|w| w[0].eq_ignore_ascii_case(b"store") || w[0].eq_ignore_ascii_case(b"storedist"))
                .map(|w| w[1]),
        );
    }
    let (now, stats) = (ctx.now_ms, ctx.ks_stats());
    let db = ctx.db();
    let mut locked = db.lock_keys(keys.iter().copied());
    let zobj: Option<&ZSet> = match get_zset(locked.shard(src), src, now, stats) {
        Err(()) => {
            ctx.count_read(true);
            return ctx.out.wrong_type();
        }
        Ok(z) => {
            ctx.count_read(z.is_some());
            z.map(|z| &*z)
        }
    };
    let out = &mut *ctx.out;
    let member_xy = |z: &ZSet, m: &[u8]| z.score(m).and_then(gh::decode_score);

    let mut shape = Shape {
        xy: [0.0; 2],
        conversion: 1.0,
        kind: ShapeKind::Radius(0.0),
    };
    let mut storekey: Option<&[u8]> = None;
    let mut storedist = false;
    let base = match form {
        Form::Coords => {
            let Some(xy) = parse_lonlat(out, args[2], args[3]) else {
                return;
            };
            shape.xy = xy;
            let Some(r) = parse_radius(out, args[4], args[5], &mut shape) else {
                return;
            };
            shape.kind = ShapeKind::Radius(r);
            6
        }
        Form::Member => {
            if let Some(z) = zobj {
                let Some(xy) = member_xy(z, args[2]) else {
                    return out.err("could not decode requested zset member");
                };
                shape.xy = xy;
                let Some(r) = parse_radius(out, args[3], args[4], &mut shape) else {
                    return;
                };
                shape.kind = ShapeKind::Radius(r);
            }
            5
        }
        Form::Search => 2,
        Form::SearchStore => {
            storekey = Some(args[1]);
            3
        }
    };

    let (mut withdist, mut withhash, mut withcoords) = (false, false, false);
    let (mut frommember, mut fromloc, mut byradius, mut bybox) = (false, false, false, false);
    let mut sort = Sort::None;
    let mut any = false;
    let mut count: i64 = 0;
    let opts = args.get(base..).unwrap_or(&[]);
    let remaining = opts.len();
    let mut i = 0;
    while i < remaining {
        let arg = opts[i].to_ascii_lowercase();
        match arg.as_slice() {
            b"withdist" => withdist = true,
            b"withhash" => withhash = true,
            b"withcoord" => withcoords = true,
            b"any" => any = true,
            b"asc" => sort = Sort::Asc,
            b"desc" => sort = Sort::Desc,
            b"count" if i + 1 < remaining => {
                let Some(n) = parse_i64(opts[i + 1]) else {
                    return out.not_integer();
                };
                if n <= 0 {
                    return out.err("COUNT must be > 0");
                }
                count = n;
                i += 1;
            }
            b"store" | b"storedist" if i + 1 < remaining && !nostore && !is_search => {
                storekey = Some(opts[i + 1]);
                storedist = arg == b"storedist";
                i += 1;
            }
            b"storedist" if form == Form::SearchStore => storedist = true,
            b"frommember" if i + 1 < remaining && is_search && !fromloc => {
                if let Some(z) = zobj {
                    let Some(xy) = member_xy(z, opts[i + 1]) else {
                        return out.err("could not decode requested zset member");
                    };
                    shape.xy = xy;
                }
                frommember = true;
                i += 1;
            }
            b"fromlonlat" if i + 2 < remaining && is_search && !frommember => {
                let Some(xy) = parse_lonlat(out, opts[i + 1], opts[i + 2]) else {
                    return;
                };
                shape.xy = xy;
                fromloc = true;
                i += 2;
            }
            b"byradius" if i + 2 < remaining && is_search && !bybox => {
                let Some(r) = parse_radius(out, opts[i + 1], opts[i + 2], &mut shape) else {
                    return;
                };
                shape.kind = ShapeKind::Radius(r);
                byradius = true;
                i += 2;
            }
            b"bybox" if i + 3 < remaining && is_search && !byradius => {
                let Some(w) = parse_length(out, opts[i + 1], "need numeric width") else {
                    return;
                };
                let Some(h) = parse_length(out, opts[i + 2], "need numeric height") else {
                    return;
                };
                if h < 0.0 || w < 0.0 {
                    return out.err("height or width cannot be negative");
                }
                let Some(conv) = parse_unit(out, opts[i + 3]) else {
                    return;
                };
                shape.conversion = conv;
                shape.kind = ShapeKind::Box { width: w, height: h };
                bybox = true;
                i += 3;
            }
            _ => return out.syntax_error(),
        }
        i += 1;
    }

    if storekey.is_some() && (withdist || withhash || withcoords) {
        let who = if form == Form::SearchStore {
            "GEOSEARCHSTORE"
        } else {
            "STORE option in GEORADIUS"
        };
        return out.err(&format!(
            "{who} is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        ));
    }
    let name = String::from_utf8_lossy(args[0]);
    if is_search && !(frommember || fromloc) {
        return out.err(&format!(
            "exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}"
        ));
    }
    if is_search && !(byradius || bybox) {
        return out.err(&format!(
            "exactly one of BYRADIUS and BYBOX can be specified for {name}"
        ));
    }
    if any && count == 0 {
        return out.err("the ANY argument requires COUNT argument");
    }

    let Some(z) = zobj else {
        match storekey {
            Some(dst) => {
                let removed = locked.shard(dst).remove(dst).is_some();
                if removed {
                    ctx.dirty(1);
                }
                ctx.out.int(0);
            }
            None => out.array(0),
        }
        return;
    };

    // COUNT without an order means "the nearest N".
    if count != 0 && sort == Sort::None && !any {
        sort = Sort::Asc;
    }
    let limit = if any { count as usize } else { 0 };
    let mut points = collect_points(z, &shape, limit);
    if points.is_empty() && storekey.is_none() {
        return out.array(0);
    }
    let returned = if count == 0 {
        points.len()
    } else {
        points.len().min(count as usize)
    };
    if sort != Sort::None {
        // Redis's `sort_gp_asc`: greater is 1, equal 0, anything else (NaN included) -1.
        let asc = |a: &Point, b: &Point| {
            if a.dist > b.dist {
                Ordering::Greater
            } else if a.dist == b.dist {
                Ordering::Equal
            } else {
                Ordering::Less
            }
        };
        let cmp = |a: &Point, b: &Point| {
            if sort == Sort::Asc {
                asc(a, b)
            } else {
                asc(a, b).reverse()
            }
        };
        if returned == points.len() {
            // glibc's qsort is a merge sort: stable, so equal distances keep their scan order.
            points.sort_by(cmp);
        } else if returned > 0 {
            // Only the first `returned` are needed: Redis's partial quicksort, whose order among
            // equal distances is observable, so it is reproduced exactly.
            pqsort(&mut points, 0, returned - 1, &cmp);
        }
    }
    points.truncate(returned);
    for p in &mut points {
        p.dist /= shape.conversion;
    }

    let Some(dst) = storekey else {
        let options = withdist as usize + withhash as usize + withcoords as usize;
        out.array(points.len());
        for p in &points {
            if options > 0 {
                out.array(options + 1);
            }
            out.bulk(&p.member);
            if withdist {
                out.bulk(fmt_distance(p.dist).as_bytes());
            }
            if withhash {
                out.int(p.score as i64);
            }
            if withcoords {
                out.array(2);
                reply_coord(out, p.xy[0]);
                reply_coord(out, p.xy[1]);
            }
        }
        return;
    };

    let mut items: Vec<(Vec<u8>, f64)> = points
        .into_iter()
        .map(|p| {
            let s = if storedist { p.dist } else { p.score };
            (p.member, s)
        })
        .collect();
    let n = items.len();
    let lru = ctx.lru();
    let shard = locked.shard(dst);
    if n == 0 {
        if shard.remove(dst).is_some() {
            ev::notify(ctx, ev::GENERIC, "del", dst);
            ctx.dirty(1);
        }
    } else {
        items.sort_by(|a, b| crate::types::zset::cmp(a.1, &a.0, b.1, &b.0));
        items.dedup_by(|a, b| a.0 == b.0);
        shard.set(dst, Value::ZSet(ZSet::from_sorted(&items)), false, lru);
        crate::server::blocking::signal(ctx.srv, ctx.client.db, dst);
        let search = ctx.client.handle.last_cmd_name() == "geosearchstore";
        ev::notify(
            ctx,
            ev::ZSET,
            if search { "geosearchstore" } else { "georadiusstore" },
            dst,
        );
        ctx.dirty(n as u64);
    }
    ctx.out.int(n as i64);
}

/// Bentley & McIlroy's quicksort that only recurses into parts overlapping ranks `lo..=hi`
/// (Redis's `pqsort.c`): afterwards those ranks hold the right elements in order. Ties end up
/// in the order this exact sequence of swaps gives them, which replies expose.
fn pqsort<T>(v: &mut [T], lo: usize, hi: usize, cmp: &dyn Fn(&T, &T) -> Ordering) {
    let n = v.len();
    pqsort_part(v, 0, n, lo, hi, cmp);
}

fn med3<T>(v: &[T], a: usize, b: usize, c: usize, cmp: &dyn Fn(&T, &T) -> Ordering) -> usize {
    if cmp(&v[a], &v[b]) == Ordering::Less {
        if cmp(&v[b], &v[c]) == Ordering::Less {
            b
        } else if cmp(&v[a], &v[c]) == Ordering::Less {
            c
        } else {
            a
        }
    } else if cmp(&v[b], &v[c]) == Ordering::Greater {
        b
    } else if cmp(&v[a], &v[c]) == Ordering::Less {
        a
    } else {
        c
    }
}

fn vecswap<T>(v: &mut [T], a: usize, b: usize, n: usize) {
    for i in 0..n {
        v.swap(a + i, b + i);
    }
}

/// Sorts (partially) `v[a..a + n]`.
fn pqsort_part<T>(v: &mut [T], mut a: usize, mut n: usize, lo: usize, hi: usize, cmp: &dyn Fn(&T, &T) -> Ordering) {
    let overlaps = |start: usize, len: usize| !(hi < start || lo >= start + len);
    loop {
        if n < 7 {
            for pm in a + 1..a + n {
                let mut pl = pm;
                while pl > a && cmp(&v[pl - 1], &v[pl]) == Ordering::Greater {
                    v.swap(pl, pl - 1);
                    pl -= 1;
                }
            }
            return;
        }
        let mut pm = a + n / 2;
        if n > 7 {
            let mut pl = a;
            let mut pn = a + n - 1;
            if n > 40 {
                let d = n / 8;
                pl = med3(v, pl, pl + d, pl + 2 * d, cmp);
                pm = med3(v, pm - d, pm, pm + d, cmp);
                pn = med3(v, pn - 2 * d, pn - d, pn, cmp);
            }
            pm = med3(v, pl, pm, pn, cmp);
        }
        v.swap(a, pm);
        let (mut pa, mut pb) = (a + 1, a + 1);
        let (mut pc, mut pd) = (a + n - 1, a + n - 1);
        loop {
            while pb <= pc {
                let c = cmp(&v[pb], &v[a]);
                if c == Ordering::Greater {
                    break;
                }
                if c == Ordering::Equal {
                    v.swap(pa, pb);
                    pa += 1;
                }
                pb += 1;
            }
            while pb <= pc {
                let c = cmp(&v[pc], &v[a]);
                if c == Ordering::Less {
                    break;
                }
                if c == Ordering::Equal {
                    v.swap(pc, pd);
                    pd -= 1;
                }
                pc -= 1;
            }
            if pb > pc {
                break;
            }
            v.swap(pb, pc);
            pb += 1;
            pc -= 1;
        }
        let pn = a + n;
        let r = (pa - a).min(pb - pa);
        vecswap(v, a, pb - r, r);
        let r = (pd - pc).min(pn - pd - 1);
        vecswap(v, pb, pn - r, r);
        let r = pb - pa;
        if r > 1 && overlaps(a, r) {
            pqsort_part(v, a, r, lo, hi, cmp);
        }
        let r = pd - pc;
        if r > 1 {
            a = pn - r;
            n = r;
            if overlaps(a, n) {
                continue;
            }
        }
        return;
    }
}

/// `extractDistanceOrReply`: radius (non-negative) then unit, which sets the conversion.
fn parse_radius(out: &mut Reply, radius: &[u8], unit: &[u8], shape: &mut Shape) -> Option<f64> {
    let r = parse_length(out, radius, "need numeric radius")?;
    if r < 0.0 {
        out.err("radius cannot be negative");
        return None;
    }
    shape.conversion = parse_unit(out, unit)?;
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pqsort_sorts_the_asked_ranks() {
        let mut state = 7u64;
        for n in [0usize, 1, 5, 7, 8, 40, 41, 200] {
            for k in [1usize, 3, 10, 200] {
                let mut v: Vec<u64> = (0..n)
                    .map(|_| {
                        state = state
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        (state >> 33) % 50
                    })
                    .collect();
                let mut sorted = v.clone();
                sorted.sort();
                let k = k.min(n);
                if k > 0 {
                    pqsort(&mut v, 0, k - 1, &|a: &u64, b: &u64| a.cmp(b));
                }
                assert_eq!(v[..k], sorted[..k], "n={n} k={k}");
            }
        }
    }

    #[test]
    fn distance_format() {
        assert_eq!(fmt_distance(0.0), "0.0000");
        assert_eq!(fmt_distance(166274.15156960033), "166274.1516");
        assert_eq!(fmt_distance(0.00005), "0.0000");
        assert_eq!(fmt_distance(0.7750), "0.7750");
        assert_eq!(fmt_distance(-1.5), "-1.5000");
    }
}
