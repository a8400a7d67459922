//! Server commands: INFO CONFIG DBSIZE FLUSHDB FLUSHALL DEBUG FUNCTION and friends.

use super::{container, def, CommandDef, Ctx};

pub static COMMANDS: &[CommandDef] = &[
    def(
        "dbsize",
        1,
        "readonly fast",
        (0, 0, 0),
        "@keyspace",
        "server",
        "1.0.0",
        "Return the number of keys in the selected database",
        dbsize,
    ),
    def(
        "flushdb",
        -1,
        "write",
        (0, 0, 0),
        "@keyspace @dangerous",
        "server",
        "1.0.0",
        "Remove all keys from the current database",
        flushdb,
    ),
    def(
        "flushall",
        -1,
        "write",
        (0, 0, 0),
        "@keyspace @dangerous",
        "server",
        "1.0.0",
        "Remove all keys from all databases",
        flushall,
    ),
    def(
        "info",
        -1,
        "loading stale sentinel",
        (0, 0, 0),
        "@dangerous",
        "server",
        "1.0.0",
        "Get information and statistics about the server",
        info,
    ),
    container(
        "config",
        "server",
        "2.0.0",
        "A container for server configuration commands",
        CONFIG_SUBCOMMANDS,
    ),
    container(
        "function",
        "scripting",
        "7.0.0",
        "A container for function commands",
        FUNCTION_SUBCOMMANDS,
    ),
];

static CONFIG_SUBCOMMANDS: &[CommandDef] = &[
    def(
        "get",
        -3,
        "admin noscript loading stale",
        (0, 0, 0),
        "",
        "server",
        "2.0.0",
        "Get the values of configuration parameters",
        config_get,
    ),
    def(
        "set",
        -4,
        "admin noscript loading stale",
        (0, 0, 0),
        "",
        "server",
        "2.0.0",
        "Set configuration parameters to the given values",
        config_set,
    ),
];

static FUNCTION_SUBCOMMANDS: &[CommandDef] = &[def(
    "flush",
    -2,
    "write noscript",
    (0, 0, 0),
    "@scripting",
    "scripting",
    "7.0.0",
    "Deleting all functions",
    function_flush,
)];

fn dbsize(ctx: &mut Ctx, _args: &[&[u8]]) {
    let n = ctx.db().len();
    ctx.out.int(n as i64);
}

fn flush_db(db: &crate::keyspace::Db) -> usize {
    let mut all = db.lock_all();
    all.shards().map(|s| s.clear()).sum()
}

fn flushdb(ctx: &mut Ctx, _args: &[&[u8]]) {
    let n = flush_db(ctx.db());
    ctx.dirty(n as u64);
    ctx.out.ok();
}

fn flushall(ctx: &mut Ctx, _args: &[&[u8]]) {
    let mut n = 0;
    for db in ctx.srv.keyspace.dbs.iter() {
        n += flush_db(db);
    }
    ctx.dirty(n as u64 + 1);
    ctx.out.ok();
}

fn info(ctx: &mut Ctx, _args: &[&[u8]]) {
    let text = format!(
        "# Server\r\nredis_version:{}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_mode:standalone\r\nprocess_id:{}\r\ntcp_port:{}\r\n",
        crate::REDIS_VERSION,
        std::process::id(),
        ctx.srv.port
    );
    ctx.out.verbatim(text.as_bytes());
}

fn config_get(ctx: &mut Ctx, args: &[&[u8]]) {
    let found = ctx.srv.config.get_matching(&args[2..]);
    ctx.out.map(found.len());
    for (k, v) in found {
        ctx.out.bulk(k.as_bytes());
        ctx.out.bulk(v.as_bytes());
    }
}

fn config_set(ctx: &mut Ctx, args: &[&[u8]]) {
    if !(args.len() - 2).is_multiple_of(2) {
        ctx.out.error(&format!(
            "ERR Unknown option or number of arguments for CONFIG SET - '{}'",
            String::from_utf8_lossy(args[args.len() - 1])
        ));
        return;
    }
    let pairs: Vec<(&[u8], &[u8])> = args[2..].chunks(2).map(|c| (c[0], c[1])).collect();
    let protected = ctx.srv.config.get("enable-protected-configs") == "yes";
    match ctx.srv.config.set_many(&pairs, protected) {
        Ok(_) => ctx.out.ok(),
        Err(e) => ctx.out.error(&e),
    }
}

fn function_flush(ctx: &mut Ctx, _args: &[&[u8]]) {
    ctx.out.ok();
}
