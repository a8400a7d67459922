//! String commands (`t_string.c`): GET SET and friends.

use super::{def, CommandDef, Ctx};
use crate::keyspace::Value;

pub static COMMANDS: &[CommandDef] = &[
    def(
        "get",
        2,
        "readonly fast",
        (1, 1, 1),
        "@string",
        "string",
        "1.0.0",
        "Get the value of a key",
        get,
    ),
    def(
        "set",
        -3,
        "write denyoom",
        (1, 1, 1),
        "@string",
        "string",
        "1.0.0",
        "Set the string value of a key",
        set,
    ),
];

fn get(ctx: &mut Ctx, args: &[&[u8]]) {
    let db = ctx.db();
    let mut shard = db.lock(args[1]);
    match shard.get(args[1], ctx.now_ms, ctx.ks_stats()) {
        None => ctx.out.null(),
        Some(e) => match &e.value {
            Value::Int(n) => ctx.out.bulk_i64(*n),
            v => match v.str_bytes() {
                Some(b) => ctx.out.bulk(b),
                None => ctx.out.wrong_type(),
            },
        },
    }
}

fn set(ctx: &mut Ctx, args: &[&[u8]]) {
    if args.len() != 3 {
        ctx.out.syntax_error();
        return;
    }
    let lru = ctx.lru();
    let db = ctx.db();
    let mut shard = db.lock(args[1]);
    shard.set(args[1], Value::string(args[2]), false, lru);
    drop(shard);
    ctx.dirty(1);
    ctx.out.ok();
}
