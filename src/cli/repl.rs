//! The interactive shell. On a terminal it is a rustyline editor with a history file
//! (`~/.ochrecli_history`, or `$OCHRECLI_HISTFILE`; `/dev/null` keeps none), argument hints and
//! tab completion from `COMMAND DOCS`. When standard input is not a terminal, lines are read
//! plainly without a prompt, as redis-cli does, so a script can drive the shell.

use super::conn::Addr;
use super::format::Output;
use super::{help, Cli};
use rustyline::completion::Completer;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{CompletionType, Config, Context, Editor, Helper};
use std::borrow::Cow;
use std::io::{self, BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

/// The rustyline helper: hints and completions from the help table.
struct Shell {
    entries: Vec<help::Entry>,
    hints: bool,
}

impl Completer for Shell {
    type Candidate = String;
    fn complete(&self, line: &str, pos: usize, _: &Context<'_>) -> rustyline::Result<(usize, Vec<String>)> {
        Ok((0, help::complete(&self.entries, line.get(..pos).unwrap_or(line))))
    }
}

impl Hinter for Shell {
    type Hint = String;
    fn hint(&self, line: &str, pos: usize, _: &Context<'_>) -> Option<String> {
        if !self.hints || pos < line.len() {
            return None;
        }
        help::hint(&self.entries, line)
    }
}

impl Highlighter for Shell {
    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        // Dark grey, as redis-cli shows hints.
        Cow::Owned(format!("\x1b[90m{hint}\x1b[0m"))
    }
}

impl Validator for Shell {}
impl Helper for Shell {}

/// The history file: `$OCHRECLI_HISTFILE`, else `~/.ochrecli_history`; none for `/dev/null`.
fn history_path() -> Option<PathBuf> {
    match std::env::var("OCHRECLI_HISTFILE") {
        Ok(p) if p == "/dev/null" => None,
        Ok(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ => std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(|h| PathBuf::from(h).join(".ochrecli_history")),
    }
}

/// Commands whose arguments hold secrets, kept out of the history (as redis-cli).
fn is_sensitive(argv: &[Vec<u8>]) -> bool {
    let is = |i: usize, s: &str| argv.get(i).is_some_and(|a| a.eq_ignore_ascii_case(s.as_bytes()));
    let n = argv.len();
    if is(0, "auth") || (n > 1 && is(0, "acl") && is(1, "setuser")) {
        return true;
    }
    if n > 2 && is(0, "config") && is(1, "set") && (is(2, "masterauth") || is(2, "masteruser") || is(2, "requirepass"))
    {
        return true;
    }
    if n > 4 && is(0, "hello") {
        let mut j = 2;
        while j < n {
            let more = n - 1 - j;
            if is(j, "auth") && more >= 2 {
                return true;
            } else if is(j, "setname") && more > 0 {
                j += 1;
            } else {
                return false;
            }
            j += 1;
        }
    }
    if n > 7 && is(0, "migrate") {
        for j in 6..n {
            let more = n - 1 - j;
            if (is(j, "auth") && more > 0) || (is(j, "auth2") && more >= 2) {
                return true;
            } else if is(j, "keys") && more > 0 {
                return false;
            }
        }
    }
    false
}

/// C's `strtol` on a whole word: Some only if the word is an integer and nothing else.
fn whole_int(word: &[u8]) -> Option<Option<i64>> {
    let s = std::str::from_utf8(word).ok()?;
    let t = s.trim_start();
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    // Out of range: the word is a repeat count, but an invalid one.
    Some(t.parse::<i64>().ok())
}

/// What a line did: whether it goes into the history, and whether the shell ends.
struct Done {
    history: bool,
    exit: bool,
}

/// Runs one line of the shell.
fn handle_line(cli: &mut Cli, line: &[u8], hints: &mut bool) -> Done {
    let argv = match crate::protocol::parser::split_owned(line) {
        Ok(v) => v,
        Err(_) => {
            println!("Invalid argument(s)");
            let _ = io::stdout().flush();
            return Done {
                history: true,
                exit: false,
            };
        }
    };
    if argv.is_empty() {
        return Done {
            history: false,
            exit: false,
        };
    }
    let mut repeat = 1;
    let mut skip = 0;
    if argv.len() > 1 {
        if let Some(n) = whole_int(&argv[0]) {
            match n {
                Some(n) if n > 0 => {
                    repeat = n;
                    skip = 1;
                }
                _ => {
                    println!("Invalid redis-cli repeat command option value.");
                    let _ = io::stdout().flush();
                    return Done {
                        history: false,
                        exit: false,
                    };
                }
            }
        }
    }
    let history = !is_sensitive(&argv[skip..]);
    let first = argv[0].to_ascii_lowercase();
    if first == b"quit" || first == b"exit" {
        return Done { history, exit: true };
    }
    if first.first() == Some(&b':') {
        let arg = argv.get(1).map(|a| a.to_ascii_lowercase());
        match (first.as_slice(), arg.as_deref()) {
            (b":set", Some(b"hints")) => *hints = true,
            (b":set", Some(b"nohints")) => *hints = false,
            (b":set", Some(other)) => {
                println!("unknown ochre-cli preference '{}'", String::from_utf8_lossy(other))
            }
            _ => println!(
                "unknown ochre-cli internal command '{}'",
                String::from_utf8_lossy(&argv[0])
            ),
        }
        return Done { history, exit: false };
    }
    if first == b"restart" {
        println!("Use 'restart' only in Lua debugging mode.");
    } else if first == b"connect" && argv.len() == 3 {
        let host = String::from_utf8_lossy(&argv[1]).into_owned();
        let port = super::args::atoi(&String::from_utf8_lossy(&argv[2])) as u16;
        cli.addr = Addr::Tcp(host, port);
        cli.connect(true, false);
        cli.help = None;
        help::init(cli);
    } else if first == b"clear" && argv.len() == 1 {
        print!("\x1b[H\x1b[2J");
    } else {
        let start = Instant::now();
        cli.issue(&argv[skip..], repeat);
        let elapsed = start.elapsed();
        if elapsed.as_millis() >= 500 && cli.output == Output::Standard {
            println!("({:.2}s)", elapsed.as_secs_f64());
        }
    }
    let _ = io::stdout().flush();
    Done { history, exit: false }
}

/// Runs the shell until `quit`, Ctrl-D or Ctrl-C at the prompt; returns the exit status.
pub fn run(cli: &mut Cli) -> i32 {
    help::init(cli);
    cli.interactive = true;
    let mut hints = true;
    if !io::stdin().is_terminal() {
        let stdin = io::stdin();
        let mut input = stdin.lock();
        let mut line = Vec::new();
        loop {
            line.clear();
            match input.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => return 0,
                Ok(_) => {}
            }
            if line.last() == Some(&b'\n') {
                line.pop();
            }
            if handle_line(cli, &line, &mut hints).exit {
                return 0;
            }
        }
    }

    let config = Config::builder()
        .auto_add_history(false)
        .completion_type(CompletionType::Circular)
        .max_history_size(100)
        .map(|b| b.build())
        .unwrap_or_default();
    let mut editor: Editor<Shell, DefaultHistory> = match Editor::with_config(config) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("Cannot start the line editor: {e}");
            return 1;
        }
    };
    editor.set_helper(Some(Shell {
        entries: cli.help.clone().unwrap_or_default(),
        hints,
    }));
    let histfile = history_path();
    if let Some(p) = &histfile {
        let _ = editor.load_history(p);
    }
    loop {
        let prompt = if cli.conn.is_some() {
            cli.prompt()
        } else {
            "not connected> ".to_string()
        };
        let line = match editor.readline(&prompt) {
            Ok(l) => l,
            Err(_) => return 0, // Ctrl-C, Ctrl-D or a terminal error: leave as redis-cli does.
        };
        if line.is_empty() {
            continue;
        }
        let done = handle_line(cli, line.as_bytes(), &mut hints);
        if done.history {
            let _ = editor.add_history_entry(line.as_str());
            if let Some(p) = &histfile {
                let _ = editor.save_history(p);
            }
        }
        if done.exit {
            return 0;
        }
        if let Some(h) = editor.helper_mut() {
            h.hints = hints;
            if let Some(entries) = &cli.help {
                if entries.len() != h.entries.len() {
                    h.entries = entries.clone();
                }
            }
        }
    }
}
