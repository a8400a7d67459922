//! `ochre-cli`: Ochre's command-line client and interactive shell (see `ochre::cli`).

fn main() {
    let code = ochre::cli::run(std::env::args_os().skip(1).collect());
    std::process::exit(code);
}
