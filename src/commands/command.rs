//! COMMAND and its subcommands, driven by the command table.
//!
//! The table carries what Ochre needs to run a command (name, arity, flags, key range, ACL
//! categories, summary). What Redis reports beyond that — command tips, key specifications and
//! the rest of COMMAND DOCS (complexity, history, arguments) — is protocol data of Redis 7.0
//! recorded once from a reference server by `scripts/gen-command-meta.py` into
//! `command_meta.resp`, keyed by full command name. It is parsed on first use. A command that
//! has no entry there gets empty tips, specs and docs.

use super::{def, flag, help_reply, Command, CommandDef, Ctx};
use crate::protocol::reply::Reply;
use crate::server::Server;
use std::collections::HashMap;
use std::sync::OnceLock;

#[rustfmt::skip]
pub static COMMANDS: &[CommandDef] = &[CommandDef {
    subcommands: SUBCOMMANDS,
    ..def("command", -1, "loading stale", (0, 0, 0), "@connection", "server", "2.8.13", "Get array of Redis command details", command_all)
}];

#[rustfmt::skip]
static SUBCOMMANDS: &[CommandDef] = &[
    def("count", 2, "loading stale", (0, 0, 0), "@connection", "server", "2.8.13", "Get total number of Redis commands", command_count),
    def("docs", -2, "loading stale", (0, 0, 0), "@connection", "server", "7.0.0", "Get array of specific Redis command documentation", command_docs),
    def("getkeys", -4, "loading stale", (0, 0, 0), "@connection", "server", "2.8.13", "Extract keys given a full Redis command", command_getkeys),
    def("getkeysandflags", -4, "loading stale", (0, 0, 0), "@connection", "server", "7.0.0", "Extract keys and access flags given a full Redis command", command_getkeysandflags),
    def("help", 2, "loading stale", (0, 0, 0), "@connection", "server", "5.0.0", "Show helpful text about the different subcommands", command_help),
    def("info", -2, "loading stale", (0, 0, 0), "@connection", "server", "2.8.13", "Get array of specific Redis command details, or all when no argument is given.", command_info),
    def("list", -2, "loading stale", (0, 0, 0), "@connection", "server", "7.0.0", "Get an array of Redis command names", command_list),
];

/// A parsed RESP value of the metadata file.
#[derive(Debug, Clone)]
enum Node {
    Simple(String),
    Int(i64),
    Bulk(Vec<u8>),
    Null,
    Array(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    fn write(&self, out: &mut Reply) {
        match self {
            Node::Simple(s) => out.simple(s),
            Node::Int(n) => out.int(*n),
            Node::Bulk(b) => out.bulk(b),
            Node::Null => out.null(),
            Node::Array(v) => {
                out.array(v.len());
                v.iter().for_each(|n| n.write(out));
            }
            Node::Map(v) => {
                out.map(v.len());
                for (k, val) in v {
                    k.write(out);
                    val.write(out);
                }
            }
        }
    }

    fn text(&self) -> Option<&str> {
        match self {
            Node::Simple(s) => Some(s),
            Node::Bulk(b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }

    fn int(&self) -> i64 {
        match self {
            Node::Int(n) => *n,
            _ => 0,
        }
    }

    /// The value under `key` of a map.
    fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(v) => v.iter().find(|(k, _)| k.text() == Some(key)).map(|(_, v)| v),
            _ => None,
        }
    }

    fn items(&self) -> &[Node] {
        match self {
            Node::Array(v) => v,
            _ => &[],
        }
    }
}

/// Parses one RESP value with "\n" framing (the metadata file's format).
fn parse(data: &[u8], pos: &mut usize) -> Option<Node> {
    let end = *pos + data.get(*pos..)?.iter().position(|&b| b == b'\n')?;
    let line = &data[*pos..end];
    *pos = end + 1;
    let (&t, rest) = line.split_first()?;
    let num = || std::str::from_utf8(rest).ok()?.parse::<i64>().ok();
    Some(match t {
        b'+' => Node::Simple(String::from_utf8_lossy(rest).into_owned()),
        b':' => Node::Int(num()?),
        b'_' => Node::Null,
        b'$' => {
            let n = usize::try_from(num()?).ok()?;
            let b = data.get(*pos..*pos + n)?.to_vec();
            *pos += n + 1;
            Node::Bulk(b)
        }
        b'*' => {
            let n = num()?;
            Node::Array((0..n).map(|_| parse(data, pos)).collect::<Option<_>>()?)
        }
        b'%' => {
            let n = num()?;
            let mut v = Vec::new();
            for _ in 0..n {
                v.push((parse(data, pos)?, parse(data, pos)?));
            }
            Node::Map(v)
        }
        _ => return None,
    })
}

/// Where a key specification starts looking for keys.
#[derive(Debug)]
enum BeginSearch {
    Index(i64),
    Keyword { keyword: Vec<u8>, startfrom: i64 },
    Unknown,
}

/// How a key specification finds its keys once it has started.
#[derive(Debug)]
enum FindKeys {
    Range { lastkey: i64, step: i64, limit: i64 },
    Keynum { keynumidx: i64, firstkey: i64, step: i64 },
    Unknown,
}

#[derive(Debug)]
struct KeySpec {
    flags: Vec<String>,
    begin: BeginSearch,
    find: FindKeys,
}

impl KeySpec {
    fn from_node(n: &Node) -> KeySpec {
        let flags = n
            .get("flags")
            .map(|f| f.items().iter().filter_map(|x| x.text().map(String::from)).collect())
            .unwrap_or_default();
        let bs = n.get("begin_search");
        let bs_spec = bs.and_then(|b| b.get("spec"));
        let begin = match bs.and_then(|b| b.get("type")).and_then(|t| t.text()) {
            Some("index") => BeginSearch::Index(bs_spec.and_then(|s| s.get("index")).map(Node::int).unwrap_or(0)),
            Some("keyword") => BeginSearch::Keyword {
                keyword: bs_spec
                    .and_then(|s| s.get("keyword"))
                    .and_then(|k| k.text())
                    .unwrap_or("")
                    .as_bytes()
                    .to_vec(),
                startfrom: bs_spec.and_then(|s| s.get("startfrom")).map(Node::int).unwrap_or(0),
            },
            _ => BeginSearch::Unknown,
        };
        let fk = n.get("find_keys");
        let spec = fk.and_then(|f| f.get("spec"));
        let field = |name: &str| spec.and_then(|s| s.get(name)).map(Node::int).unwrap_or(0);
        let find = match fk.and_then(|f| f.get("type")).and_then(|t| t.text()) {
            Some("range") => FindKeys::Range {
                lastkey: field("lastkey"),
                step: field("keystep"),
                limit: field("limit"),
            },
            Some("keynum") => FindKeys::Keynum {
                keynumidx: field("keynumidx"),
                firstkey: field("firstkey"),
                step: field("keystep"),
            },
            _ => FindKeys::Unknown,
        };
        KeySpec { flags, begin, find }
    }

    fn has(&self, f: &str) -> bool {
        self.flags.iter().any(|x| x == f)
    }
}

/// Everything recorded about one command beyond the table.
struct Meta {
    movable: bool,
    tips: Node,
    specs_node: Node,
    specs: Vec<KeySpec>,
    /// COMMAND DOCS fields other than summary, since, group and subcommands.
    docs: Vec<(Node, Node)>,
}

fn metas() -> &'static HashMap<String, Meta> {
    static META: OnceLock<HashMap<String, Meta>> = OnceLock::new();
    META.get_or_init(|| {
        let data = include_bytes!("command_meta.resp");
        let mut pos = 0;
        let mut m = HashMap::new();
        if let Some(Node::Map(entries)) = parse(data, &mut pos) {
            for (k, v) in entries {
                let (Some(name), Node::Array(mut parts)) = (k.text().map(String::from), v) else {
                    continue;
                };
                if parts.len() != 4 {
                    continue;
                }
                let docs = match parts.pop() {
                    Some(Node::Map(d)) => d,
                    _ => Vec::new(),
                };
                let specs_node = parts.pop().unwrap_or(Node::Array(Vec::new()));
                let tips = parts.pop().unwrap_or(Node::Array(Vec::new()));
                let movable = parts.pop().map(|n| n.int() == 1).unwrap_or(false);
                let specs = specs_node.items().iter().map(KeySpec::from_node).collect();
                m.insert(
                    name,
                    Meta {
                        movable,
                        tips,
                        specs_node,
                        specs,
                        docs,
                    },
                );
            }
        }
        m
    })
}

fn meta(cmd: &Command) -> Option<&'static Meta> {
    metas().get(&cmd.full_name)
}

/// Finds a command by its full name (`get`, `config|get`), case-insensitively, as COMMAND INFO
/// and LATENCY HISTOGRAM name them.
pub fn lookup_full<'a>(srv: &'a Server, name: &[u8]) -> Option<&'a Command> {
    let mut parts = name.split(|&b| b == b'|');
    let first = parts.next()?;
    let cmd = srv.commands.get(first)?;
    match (parts.next(), parts.next()) {
        (None, _) => Some(cmd),
        (Some(sub), None) => cmd.subcommands.get(&sub.to_ascii_lowercase()),
        _ => None,
    }
}

/// The commands in a stable order (Redis's own order is its hash table's).
fn sorted(srv: &Server) -> Vec<&Command> {
    let mut v: Vec<&Command> = srv.commands.by_name.values().collect();
    v.sort_by(|a, b| a.full_name.cmp(&b.full_name));
    v
}

fn sorted_subs(cmd: &Command) -> Vec<&Command> {
    let mut v: Vec<&Command> = cmd.subcommands.values().collect();
    v.sort_by(|a, b| a.full_name.cmp(&b.full_name));
    v
}

/// Whether COMMAND INFO flags the command `movablekeys`: its keys are not a fixed range.
fn movable(cmd: &Command) -> bool {
    cmd.def.keys_fn.is_some() || meta(cmd).is_some_and(|m| m.movable)
}

/// Flag names as COMMAND INFO prints them: Redis's order, `may_replicate`, `sentinel` and
/// `only_sentinel` hidden, `movablekeys` computed.
fn info_flags(cmd: &Command) -> Vec<&'static str> {
    let mut v = Vec::new();
    for (f, name) in flag::NAMES {
        if matches!(*name, "may_replicate" | "sentinel" | "only_sentinel" | "allow_busy") {
            continue;
        }
        if cmd.flags & f != 0 {
            v.push(*name);
        }
    }
    if movable(cmd) {
        v.push("movablekeys");
    }
    if cmd.has(flag::ALLOW_BUSY) {
        v.push("allow_busy");
    }
    v
}

/// One command's COMMAND INFO entry (10 fields, subcommands nested).
fn write_info(out: &mut Reply, cmd: &Command) {
    let d = cmd.def;
    out.array(10);
    out.bulk(cmd.full_name.as_bytes());
    out.int(d.arity as i64);
    let flags = info_flags(cmd);
    out.set(flags.len());
    flags.iter().for_each(|f| out.simple(f));
    out.int(d.first_key as i64);
    out.int(d.last_key as i64);
    out.int(d.step as i64);
    let cats = cmd.acl_names();
    out.set(cats.len());
    cats.iter().for_each(|c| out.simple(&format!("@{c}")));
    match meta(cmd) {
        Some(m) => {
            m.tips.write(out);
            m.specs_node.write(out);
        }
        None => {
            out.array(0);
            out.array(0);
        }
    }
    let subs = sorted_subs(cmd);
    out.array(subs.len());
    for s in subs {
        write_info(out, s);
    }
}

/// One command's COMMAND DOCS entry (a map; subcommands nested by full name).
fn write_docs(out: &mut Reply, cmd: &Command) {
    let d = cmd.def;
    let extra: &[(Node, Node)] = meta(cmd).map(|m| m.docs.as_slice()).unwrap_or(&[]);
    let subs = sorted_subs(cmd);
    out.map(3 + extra.len() + usize::from(!subs.is_empty()));
    out.bulk(b"summary");
    out.bulk(d.summary.as_bytes());
    out.bulk(b"since");
    out.bulk(d.since.as_bytes());
    out.bulk(b"group");
    out.bulk(d.group.as_bytes());
    for (k, v) in extra {
        k.write(out);
        v.write(out);
    }
    if !subs.is_empty() {
        out.bulk(b"subcommands");
        out.map(subs.len());
        for s in subs {
            out.bulk(s.full_name.as_bytes());
            write_docs(out, s);
        }
    }
}

fn command_all(ctx: &mut Ctx, _args: &[&[u8]]) {
    let cmds = sorted(ctx.srv);
    ctx.out.array(cmds.len());
    for c in cmds {
        write_info(ctx.out, c);
    }
}

fn command_count(ctx: &mut Ctx, _args: &[&[u8]]) {
    ctx.out.int(ctx.srv.commands.by_name.len() as i64);
}

fn command_info(ctx: &mut Ctx, args: &[&[u8]]) {
    if args.len() == 2 {
        command_all(ctx, args);
        return;
    }
    ctx.out.array(args.len() - 2);
    for a in &args[2..] {
        match lookup_full(ctx.srv, a) {
            Some(c) => write_info(ctx.out, c),
            None => ctx.out.null(),
        }
    }
}

fn command_docs(ctx: &mut Ctx, args: &[&[u8]]) {
    let cmds: Vec<&Command> = if args.len() == 2 {
        sorted(ctx.srv)
    } else {
        args[2..].iter().filter_map(|a| lookup_full(ctx.srv, a)).collect()
    };
    ctx.out.map(cmds.len());
    for c in cmds {
        ctx.out.bulk(c.full_name.as_bytes());
        write_docs(ctx.out, c);
    }
}

/// COMMAND LIST [FILTERBY MODULE m | ACLCAT c | PATTERN p]
fn command_list(ctx: &mut Ctx, args: &[&[u8]]) {
    enum Filter<'a> {
        None,
        Module,
        AclCat(Option<usize>),
        Pattern(&'a [u8]),
    }
    let mut filter = Filter::None;
    let mut i = 2;
    while i < args.len() {
        let more = args.len() - 1 - i;
        if args[i].eq_ignore_ascii_case(b"filterby") && more == 2 {
            let kind = args[i + 1].to_ascii_lowercase();
            let arg = args[i + 2];
            filter = match kind.as_slice() {
                b"module" => Filter::Module,
                b"aclcat" => {
                    let cat = String::from_utf8_lossy(arg).to_ascii_lowercase();
                    Filter::AclCat(super::ACL_CATEGORIES.iter().position(|c| *c == cat))
                }
                b"pattern" => Filter::Pattern(arg),
                _ => {
                    ctx.out.syntax_error();
                    return;
                }
            };
            i += 3;
        } else {
            ctx.out.syntax_error();
            return;
        }
    }
    let keep = |c: &Command| match &filter {
        Filter::None => true,
        // No modules can be loaded.
        Filter::Module => false,
        Filter::AclCat(None) => false,
        Filter::AclCat(Some(bit)) => c.acl & (1 << bit) != 0,
        Filter::Pattern(p) => crate::util::glob::glob_match(p, c.full_name.as_bytes(), true),
    };
    let mut names = Vec::new();
    for c in sorted(ctx.srv) {
        if keep(c) {
            names.push(c.full_name.as_str());
        }
        for s in sorted_subs(c) {
            if keep(s) {
                names.push(s.full_name.as_str());
            }
        }
    }
    ctx.out.array(names.len());
    for n in names {
        ctx.out.bulk(n.as_bytes());
    }
}

fn command_help(ctx: &mut Ctx, _args: &[&[u8]]) {
    help_reply(
        ctx.out,
        "command",
        &[
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
            "GETKEYSANDFLAGS <full-command>",
            "    Return the keys and the access flags from a full Redis command.",
        ],
    );
}

/// Key flags in the order Redis prints them (`addReplyFlagsForKeyArgs`).
const KEY_FLAG_ORDER: &[&str] = &[
    "RO",
    "RW",
    "OW",
    "RM",
    "access",
    "update",
    "insert",
    "delete",
    "not_key",
    "incomplete",
    "variable_flags",
];

/// Keys found by the key specifications, Redis's `getKeysUsingKeySpecs`: None when a spec
/// cannot be applied (incomplete or invalid for these arguments).
fn keys_by_specs(specs: &[KeySpec], argv: &[&[u8]], arity: i32) -> Option<Vec<(usize, Vec<String>)>> {
    let argc = argv.len() as i64;
    let mut keys = Vec::new();
    for spec in specs {
        if spec.has("not_key") {
            continue;
        }
        let mut first = match &spec.begin {
            BeginSearch::Index(i) => *i,
            BeginSearch::Keyword { keyword, startfrom } => {
                let (start, end) = if *startfrom > 0 {
                    (*startfrom, argc - 1)
                } else {
                    (argc + startfrom, 1)
                };
                let mut found = 0;
                let mut i = start;
                loop {
                    if i >= argc || i < 1 {
                        break;
                    }
                    if argv[i as usize].eq_ignore_ascii_case(keyword) {
                        found = i + 1;
                        break;
                    }
                    if i == end {
                        break;
                    }
                    i += if start <= end { 1 } else { -1 };
                }
                if found == 0 {
                    continue;
                }
                found
            }
            BeginSearch::Unknown => return None,
        };
        let (last, step) = match &spec.find {
            FindKeys::Range { lastkey, step, limit } => {
                let last = if *lastkey >= 0 {
                    first + lastkey
                } else if *limit == 0 {
                    argc + lastkey
                } else {
                    first + ((argc - first) / limit + lastkey)
                };
                (last, *step)
            }
            FindKeys::Keynum {
                keynumidx,
                firstkey,
                step,
            } => {
                if *keynumidx >= argc - first {
                    return None;
                }
                let n = crate::util::num::parse_i64(argv[(first + keynumidx) as usize]).filter(|n| *n >= 0)?;
                first += firstkey;
                (first + n - 1, *step)
            }
            FindKeys::Unknown => return None,
        };
        if last >= argc || last < first || first >= argc {
            return None;
        }
        let mut i = first;
        while i <= last {
            if i >= argc || i < first {
                if arity < 0 {
                    i += step.max(1);
                    continue;
                }
                return None;
            }
            keys.push((i as usize, spec.flags.clone()));
            i += step.max(1);
        }
        if spec.has("incomplete") {
            return None;
        }
    }
    Some(keys)
}

/// SET and BITFIELD declare `variable_flags`: their real flags depend on the arguments.
fn variable_flag_keys(name: &str, argv: &[&[u8]]) -> Option<Vec<(usize, Vec<String>)>> {
    let strs = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    match name {
        "set" => {
            let get = argv.iter().skip(3).any(|a| a.eq_ignore_ascii_case(b"get"));
            let flags = if get {
                strs(&["RW", "access", "update"])
            } else {
                strs(&["OW", "update"])
            };
            Some(vec![(1, flags)])
        }
        "bitfield" => {
            let mut readonly = true;
            let mut i = 2;
            while i < argv.len() {
                let rem = argv.len() - i - 1;
                let a = argv[i].to_ascii_lowercase();
                if a == b"get" && rem >= 2 {
                    i += 3;
                } else if (a == b"set" || a == b"incrby") && rem >= 3 {
                    readonly = false;
                    break;
                } else if a == b"overflow" && rem >= 1 {
                    i += 2;
                } else {
                    readonly = false;
                    break;
                }
            }
            let flags = if readonly {
                strs(&["RO", "access"])
            } else {
                strs(&["RW", "access", "update"])
            };
            Some(vec![(1, flags)])
        }
        _ => None,
    }
}

/// The keys of a command line with their flags (Redis's `getKeysFromCommandWithSpecs`).
pub fn command_keys(cmd: &Command, argv: &[&[u8]]) -> Vec<(usize, Vec<String>)> {
    let m = meta(cmd);
    let specs: &[KeySpec] = m.map(|m| m.specs.as_slice()).unwrap_or(&[]);
    let has_varflags = specs.iter().any(|s| s.has("variable_flags"));
    if has_varflags {
        if let Some(k) = variable_flag_keys(&cmd.full_name, argv) {
            return k;
        }
    }
    if !specs.is_empty() && specs.iter().any(|s| !s.has("not_key")) && !has_varflags {
        if let Some(k) = keys_by_specs(specs, argv, cmd.def.arity) {
            return k;
        }
    }
    // The table's own key positions: its key function, or the first/last/step range when no
    // specification is known.
    if cmd.def.keys_fn.is_some() || specs.is_empty() {
        let flags = specs.first().map(|s| s.flags.clone()).unwrap_or_default();
        let mut keys: Vec<(usize, Vec<String>)> = cmd
            .key_positions(argv)
            .into_iter()
            .map(|p| (p, flags.clone()))
            .collect();
        // SORT's key function (Redis's sortGetKeys) marks its STORE destination as written.
        if cmd.full_name == "sort" {
            if let Some(dst) = keys.get_mut(1) {
                dst.1 = vec!["OW".to_string(), "update".to_string()];
            }
        }
        return keys;
    }
    Vec::new()
}

fn getkeys(ctx: &mut Ctx, args: &[&[u8]], with_flags: bool) {
    let argv = &args[2..];
    let Some(base) = ctx.srv.commands.get(argv[0]) else {
        ctx.out.error("ERR Invalid command specified");
        return;
    };
    let cmd = if !base.subcommands.is_empty() && argv.len() >= 2 {
        match base.subcommands.get(&argv[1].to_ascii_lowercase()) {
            Some(s) => s,
            None => {
                ctx.out.error("ERR Invalid command specified");
                return;
            }
        }
    } else {
        base
    };
    let has_keys = cmd.def.first_key > 0 || cmd.def.keys_fn.is_some() || meta(cmd).is_some_and(|m| !m.specs.is_empty());
    if !has_keys {
        ctx.out.error("ERR The command has no key arguments");
        return;
    }
    if !cmd.arity_ok(argv.len()) {
        ctx.out.error("ERR Invalid number of arguments specified for command");
        return;
    }
    let keys = command_keys(cmd, argv);
    if keys.is_empty() {
        if cmd.has(flag::NO_MANDATORY_KEYS) {
            ctx.out.array(0);
        } else {
            ctx.out.error("ERR Invalid arguments specified for command");
        }
        return;
    }
    ctx.out.array(keys.len());
    for (pos, flags) in keys {
        if with_flags {
            ctx.out.array(2);
            ctx.out.bulk(argv[pos]);
            let ordered: Vec<&&str> = KEY_FLAG_ORDER
                .iter()
                .filter(|f| flags.iter().any(|x| x == **f))
                .collect();
            ctx.out.set(ordered.len());
            for f in ordered {
                ctx.out.simple(f);
            }
        } else {
            ctx.out.bulk(argv[pos]);
        }
    }
}

fn command_getkeys(ctx: &mut Ctx, args: &[&[u8]]) {
    getkeys(ctx, args, false);
}

fn command_getkeysandflags(ctx: &mut Ctx, args: &[&[u8]]) {
    getkeys(ctx, args, true);
}
