//! `ochre-check-aof [--fix|--truncate-to-timestamp <t>] <file.manifest|file.aof>`: checks (and
//! optionally repairs) an append-only file as `redis-check-aof` does. See
//! `ochre::persistence::check_aof`.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let prog = args.first().cloned().unwrap_or_else(|| "ochre-check-aof".into());
    let rest = args.get(1..).unwrap_or_default();
    let code = ochre::persistence::check_aof::run(&prog, rest, &mut std::io::stdout(), &mut std::io::stdin().lock());
    std::process::exit(code);
}
