//! `ochre-check-rdb <file>`: checks an RDB file as `redis-check-rdb` does (same report, exit
//! status 0 when the file is sane, 1 otherwise). See `ochre::persistence::check_rdb`.

use ochre::persistence::check_rdb;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let prog = args.first().map(String::as_str).unwrap_or("ochre-check-rdb");
    let [_, path] = args.as_slice() else {
        eprintln!("Usage: {prog} <rdb-file-name>");
        std::process::exit(1);
    };
    if path == "-v" || path == "--version" {
        println!(
            "ochre-check-rdb {} (ochre {})",
            ochre::REDIS_VERSION,
            env!("CARGO_PKG_VERSION")
        );
        return;
    }
    let Ok(data) = std::fs::read(path) else {
        // As redis-check-rdb: the header line, then a silent failure.
        println!("[offset 0] Checking RDB file {path}");
        std::process::exit(1);
    };
    let outcome = check_rdb::check(path, &data, ochre::server::unix_ms());
    print!("{}", outcome.report);
    if outcome.fatal {
        let stamp = ochre::server::log::timestamp();
        println!("{}:C {stamp} # {}", std::process::id(), check_rdb::TERMINATING);
    }
    std::process::exit(if outcome.ok { 0 } else { 1 });
}
