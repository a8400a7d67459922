//! Command-line options, with redis-cli's names and rules: options come first and the first word
//! that is not an option starts the command (`ochre-cli -n 2 INCRBY k -1`); a later output option
//! overrides an earlier one (`--raw --no-raw`); a bad option is reported with redis-cli's text.

use super::format::Output;
use clap::{error::ContextKind, error::ErrorKind, Parser};
use std::ffi::OsString;

#[derive(Parser, Debug, Default)]
#[command(
    name = "ochre-cli",
    disable_help_flag = true,
    disable_version_flag = true,
    args_override_self = true,
    dont_delimit_trailing_values = true
)]
pub struct Args {
    /// Server hostname (default: 127.0.0.1, or $OCHRE_HOST).
    #[arg(short = 'h')]
    pub host: Option<String>,
    /// Server port (default: 6379, or $OCHRE_PORT).
    #[arg(short = 'p')]
    pub port: Option<u16>,
    /// Server socket (overrides hostname and port).
    #[arg(short = 's')]
    pub socket: Option<String>,
    /// Password to use when connecting (or $REDISCLI_AUTH).
    #[arg(short = 'a', long = "pass")]
    pub pass: Option<String>,
    /// Used to send ACL style 'AUTH username pass'. Needs -a.
    #[arg(long)]
    pub user: Option<String>,
    /// Server URI: redis://user:password@host:port/dbnum
    #[arg(short = 'u')]
    pub uri: Option<String>,
    /// Database number.
    #[arg(short = 'n')]
    pub db: Option<i64>,
    /// Start session in RESP2 protocol mode.
    #[arg(short = '2')]
    pub resp2: bool,
    /// Start session in RESP3 protocol mode.
    #[arg(short = '3')]
    pub resp3: bool,
    /// Execute specified command N times (negative: forever).
    #[arg(short = 'r', allow_negative_numbers = true)]
    pub repeat: Option<i64>,
    /// When -r is used, waits <interval> seconds per command.
    #[arg(short = 'i')]
    pub interval: Option<f64>,
    /// Read last argument from STDIN.
    #[arg(short = 'x')]
    pub stdin_last: bool,
    /// Read <tag> argument from STDIN.
    #[arg(short = 'X', value_name = "tag")]
    pub stdin_tag: Option<String>,
    /// Delimiter between response bulks for raw formatting (default: \n).
    #[arg(short = 'd', allow_hyphen_values = true)]
    pub mb_delim: Option<String>,
    /// Delimiter between responses for raw formatting (default: \n).
    #[arg(short = 'D', allow_hyphen_values = true)]
    pub cmd_delim: Option<String>,
    /// Return exit error code when command execution fails.
    #[arg(short = 'e')]
    pub errcode: bool,
    /// Enable cluster mode (follow -ASK and -MOVED redirections).
    #[arg(short = 'c')]
    pub cluster: bool,
    /// Use raw formatting for replies (default when STDOUT is not a tty).
    #[arg(long, overrides_with_all = ["no_raw", "csv", "json", "quoted_json"])]
    pub raw: bool,
    /// Force formatted output even when STDOUT is not a tty.
    #[arg(long, overrides_with_all = ["raw", "csv", "json", "quoted_json"])]
    pub no_raw: bool,
    /// Output in CSV format.
    #[arg(long, overrides_with_all = ["raw", "no_raw", "json", "quoted_json"])]
    pub csv: bool,
    /// Output in JSON format (default RESP3).
    #[arg(long, overrides_with_all = ["raw", "no_raw", "csv", "quoted_json"])]
    pub json: bool,
    /// Same as --json, but produce ASCII-safe quoted strings.
    #[arg(long, overrides_with_all = ["raw", "no_raw", "csv", "json"])]
    pub quoted_json: bool,
    /// Force input to be handled as quoted strings.
    #[arg(long)]
    pub quoted_input: bool,
    /// Whether to print RESP3 PUSH messages (yes/no).
    #[arg(long)]
    pub show_pushes: Option<String>,
    /// Don't show the warning about a password on the command line.
    #[arg(long)]
    pub no_auth_warning: bool,
    /// Transfer raw Redis protocol from stdin to server.
    #[arg(long)]
    pub pipe: bool,
    /// In --pipe mode, abort when no reply comes for this many seconds (0: never).
    #[arg(long, default_value_t = 30)]
    pub pipe_timeout: u64,
    /// List all keys using the SCAN command.
    #[arg(long)]
    pub scan: bool,
    /// Transfer an RDB dump from the server to a local file ('-' for stdout).
    #[arg(long)]
    pub rdb: Option<String>,
    /// Like --rdb but only get the functions (not the keys).
    #[arg(long)]
    pub functions_rdb: Option<String>,
    /// Simulate a replica showing commands received from the master.
    #[arg(long, alias = "slave")]
    pub replica: bool,
    /// Keys pattern when using --scan or --bigkeys.
    #[arg(long)]
    pub pattern: Option<String>,
    /// Same as --pattern, but the value is a quoted string.
    #[arg(long)]
    pub quoted_pattern: Option<String>,
    /// Sample keys looking for keys with many elements.
    #[arg(long)]
    pub bigkeys: bool,
    /// Print rolling stats about the server.
    #[arg(long)]
    pub stat: bool,
    /// Enter a special mode continuously sampling latency.
    #[arg(long)]
    pub latency: bool,
    /// Like --latency but tracking latency changes over time.
    #[arg(long)]
    pub latency_history: bool,
    /// Send an EVAL command using the Lua script at <file>.
    #[arg(long, value_name = "file")]
    pub eval: Option<String>,
    /// Verbose mode.
    #[arg(long)]
    pub verbose: bool,
    /// Output this help and exit.
    #[arg(long)]
    pub help: bool,
    /// Output version and exit.
    #[arg(short = 'v', long)]
    pub version: bool,
    /// The command and its arguments (no command: interactive shell).
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "cmd [arg [arg ...]]"
    )]
    pub command: Vec<OsString>,
}

impl Args {
    /// The output mode named on the command line, if any.
    pub fn output(&self) -> Option<Output> {
        if self.raw {
            Some(Output::Raw)
        } else if self.no_raw {
            Some(Output::Standard)
        } else if self.csv {
            Some(Output::Csv)
        } else if self.json {
            Some(Output::Json)
        } else if self.quoted_json {
            Some(Output::QuotedJson)
        } else {
            None
        }
    }
}

/// What parsing ended with: options to run, or an exit status after printing help or an error.
pub enum Parsed {
    Run(Box<Args>),
    Exit(i32),
}

/// The usage text (`--help`).
pub fn usage() -> String {
    use clap::CommandFactory;
    let mut cmd = Args::command();
    let help = cmd.render_help().to_string();
    format!(
        "ochre-cli {}\n\n{help}\nExamples:\n  ochre-cli -n 2 SET foo bar\n  cat /etc/passwd | ochre-cli -x SET mypasswd\n  \
         ochre-cli --scan --pattern 'user:*'\n  ochre-cli -u redis://user:pass@127.0.0.1:6379/0 PING\n\n\
         When no command is given, ochre-cli starts in interactive mode.\n\
         Type \"help\" in interactive mode for information on available commands.\n",
        crate::VERSION
    )
}

/// Parses the command line (without the program name) the way redis-cli does.
pub fn parse(argv: Vec<OsString>) -> Parsed {
    let mut full = vec![OsString::from("ochre-cli")];
    full.extend(argv);
    let args = match Args::try_parse_from(full) {
        Ok(a) => a,
        Err(e) => {
            let arg = match e.get(ContextKind::InvalidArg) {
                Some(clap::error::ContextValue::String(s)) => s.split_whitespace().next().unwrap_or("").to_string(),
                _ => String::new(),
            };
            // A bare `-h` is a request for help, as in redis-cli.
            if arg == "-h" && e.kind() == ErrorKind::InvalidValue {
                print!("{}", usage());
                return Parsed::Exit(0);
            }
            eprintln!("Unrecognized option or bad number of args for: '{arg}'");
            return Parsed::Exit(1);
        }
    };
    // The command starts at the first word that is not an option; an unknown option before it
    // lands here, since the command may hold words that start with '-'.
    if let Some(first) = args.command.first().map(|a| a.to_string_lossy().into_owned()) {
        if first.starts_with('-') {
            eprintln!("Unrecognized option or bad number of args for: '{first}'");
            return Parsed::Exit(1);
        }
    }
    if args.help {
        print!("{}", usage());
        return Parsed::Exit(0);
    }
    if args.version {
        println!(
            "ochre-cli {} (redis-cli {} compatible)",
            crate::VERSION,
            crate::REDIS_VERSION
        );
        return Parsed::Exit(0);
    }
    if args.resp2 && args.resp3 {
        eprintln!("Options -2 and -3 are mutually exclusive.");
        return Parsed::Exit(1);
    }
    if args.stdin_last && args.stdin_tag.is_some() {
        eprintln!("Options -x and -X are mutually exclusive.");
        return Parsed::Exit(1);
    }
    if args.socket.is_some() && args.cluster {
        eprintln!("Options -c and -s are mutually exclusive.");
        return Parsed::Exit(1);
    }
    Parsed::Run(Box::new(args))
}

/// What a `redis://` URI names; `None` fields were not in it.
#[derive(Debug, Default, PartialEq)]
pub struct Uri {
    pub user: Option<String>,
    pub pass: Option<String>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub db: Option<i64>,
}

fn percent_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if b.len() - i < 3 {
                return Err("Incomplete URI encoding".into());
            }
            let hex = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match hex {
                Some(c) => out.push(c),
                None => return Err("Illegal character in URI encoding".into()),
            }
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// `redis://[[user:]password@]host[:port][/db]`, with redis-cli's error texts.
pub fn parse_uri(uri: &str) -> Result<Uri, String> {
    let mut u = Uri::default();
    let lower = uri.to_ascii_lowercase();
    let rest = if lower.starts_with("redis://") {
        &uri[8..]
    } else if lower.starts_with("rediss://") {
        return Err("rediss:// is only supported when ochre-cli is compiled with OpenSSL".into());
    } else {
        return Err("Invalid URI scheme".into());
    };
    let rest = match rest.rfind('@') {
        Some(at) => {
            let userinfo = &rest[..at];
            match userinfo.find(':') {
                Some(c) => {
                    u.user = Some(percent_decode(&userinfo[..c])?);
                    u.pass = Some(percent_decode(&userinfo[c + 1..])?);
                }
                None => u.pass = Some(percent_decode(userinfo)?),
            }
            &rest[at + 1..]
        }
        None => rest,
    };
    let (hostport, path) = match rest.find('/') {
        Some(s) => (&rest[..s], Some(&rest[s + 1..])),
        None => (rest, None),
    };
    if !hostport.is_empty() {
        match hostport.rfind(':') {
            Some(c) => {
                u.host = Some(hostport[..c].to_string());
                u.port = Some(atoi(&hostport[c + 1..]) as u16);
            }
            None => u.host = Some(hostport.to_string()),
        }
    }
    if let Some(p) = path {
        if !p.is_empty() {
            u.db = Some(atoi(p));
        }
    }
    Ok(u)
}

/// C's `atoi`: leading digits with an optional sign, 0 when there are none.
pub fn atoi(s: &str) -> i64 {
    let s = s.trim_start();
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut n: i64 = 0;
    for c in digits.bytes().take_while(|c| c.is_ascii_digit()) {
        n = n.wrapping_mul(10).wrapping_add((c - b'0') as i64);
    }
    if neg {
        -n
    } else {
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_parts() {
        let u = parse_uri("redis://al%40ice:p%3Ass@example.com:6390/3").unwrap();
        assert_eq!(u.user.as_deref(), Some("al@ice"));
        assert_eq!(u.pass.as_deref(), Some("p:ss"));
        assert_eq!(u.host.as_deref(), Some("example.com"));
        assert_eq!(u.port, Some(6390));
        assert_eq!(u.db, Some(3));
        assert_eq!(parse_uri("http://x").unwrap_err(), "Invalid URI scheme");
        assert_eq!(
            parse_uri("redis://a%zz@h").unwrap_err(),
            "Illegal character in URI encoding"
        );
    }
}
