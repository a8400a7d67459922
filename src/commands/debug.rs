//! DEBUG: the subcommands Redis's test suite and tools use.

use super::{def, CommandDef, Ctx};

pub static COMMANDS: &[CommandDef] = &[def(
    "debug",
    -2,
    "admin noscript loading stale",
    (0, 0, 0),
    "",
    "server",
    "1.0.0",
    "A container for debugging commands",
    debug,
)];

fn debug(ctx: &mut Ctx, args: &[&[u8]]) {
    let sub = args[1].to_ascii_lowercase();
    match sub.as_slice() {
        b"log" if args.len() == 3 => {
            crate::server::log::warning(&format!("DEBUG LOG: {}", String::from_utf8_lossy(args[2])));
            ctx.out.ok();
        }
        _ => ctx.out.err("unknown DEBUG subcommand"),
    }
}
