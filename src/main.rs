//! `ochre-server [config-file] [--directive value ...]`: starts the server.

use ochre::server::config::{self, Cli};

/// mimalloc, counting the bytes allocated (INFO `used_memory`, `maxmemory`).
#[global_allocator]
static GLOBAL: ochre::util::allocator::Counting = ochre::util::allocator::Counting;

fn main() {
    ochre::util::allocator::tune();
    let args: Vec<String> = std::env::args().collect();
    match config::from_args(&args) {
        Ok(Cli::Exit(code)) => std::process::exit(code),
        Ok(Cli::Run { config, config_file }) => {
            let exe = std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| args[0].clone());
            std::process::exit(ochre::server::run(*config, exe, config_file));
        }
        Err((err, msg)) => {
            eprintln!("\n*** FATAL CONFIG FILE ERROR (Redis {}) ***", ochre::REDIS_VERSION);
            match err {
                Some(e) => {
                    eprintln!("Reading the configuration file, at line {}", e.line);
                    eprintln!(">>> '{}'", e.text);
                    eprintln!("{}", e.reason);
                }
                None => eprintln!("{msg}"),
            }
            std::process::exit(1);
        }
    }
}
