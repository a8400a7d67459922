//! The AOF checker behind `ochre-check-aof`, with `redis-check-aof`'s (7.0) arguments, output and
//! exit codes, so scripts and Redis's own tests drive it unchanged.
//!
//! `ochre-check-aof [--fix|--truncate-to-timestamp <unix-secs>] <file.manifest|file.aof>`
//!
//! The argument is a multi-part manifest (a file with a `file ...` line: its BASE file, in RDB or
//! RESP form, and INCR files are checked in order, paths relative to the manifest's folder), an
//! AOF with an RDB preamble (starts with `REDIS`: the RDB part is checked by
//! [`super::check_rdb`], then the command tail), or a plain AOF of RESP commands. A file is valid
//! when it is a sequence of `*<argc>` arrays of `$<len>` bulk strings and `#` annotation lines,
//! with MULTI/EXEC balanced. `--fix` truncates the last file to the end of its last complete
//! command after asking `Continue? [y/N]:` on stdin; `--truncate-to-timestamp` cuts the last
//! file at the first `#TS:` annotation later than the given time.
//!
//! Offsets and line numbers mirror the C tool exactly, including its quirks: the line counter
//! runs on across the files of a manifest and does not count annotation lines, and error
//! positions print as `0x` followed by the hex offset right-aligned in 16 spaces.

use std::io::{BufRead, Write};
use std::path::Path;

/// How one file ended (`AOF_CHECK_*`).
enum Checked {
    Ok,
    Empty,
    Truncated,
    TimestampTruncated,
}

/// An early exit with this status (the C tool calls `exit()` in the middle of its work).
struct Exit(i32);

/// Runs the checker on command-line arguments (without the program name), writing the report to
/// `out` and reading `--fix`'s confirmation from `input`. Returns the exit status.
pub fn run(prog: &str, args: &[String], out: &mut dyn Write, input: &mut dyn BufRead) -> i32 {
    let mut c = Checker {
        out,
        input,
        error: String::new(),
        epos: 0,
        line: 1,
        to_timestamp: 0,
    };
    let r = c.main(args);
    let _ = c.out.flush();
    match r {
        Ok(()) => 0,
        Err(Exit(code)) if code == USAGE => {
            let _ = writeln!(
                c.out,
                "Usage: {prog} [--fix|--truncate-to-timestamp $timestamp] <file.manifest|file.aof>"
            );
            1
        }
        Err(Exit(code)) => code,
    }
}

/// Marks "print the usage line" among exits.
const USAGE: i32 = -1;

struct Checker<'a> {
    out: &'a mut dyn Write,
    input: &'a mut dyn BufRead,
    /// The first format error found (kept across files, as the C tool's static buffer).
    error: String,
    /// Offset of the item being read, for error messages.
    epos: usize,
    /// Lines consumed so far plus one (across all files).
    line: i64,
    to_timestamp: i64,
}

/// An open AOF's bytes and a read cursor with stdio's end-of-file flag.
struct Cursor {
    data: Vec<u8>,
    pos: usize,
    eof: bool,
}

impl Cursor {
    /// `fgets(buf, max, fp)`: up to `max - 1` bytes or through a newline; None at end of file.
    fn fgets(&mut self, max: usize) -> Option<Vec<u8>> {
        if self.pos >= self.data.len() {
            self.eof = true;
            return None;
        }
        let rest = &self.data[self.pos..];
        let limit = rest.len().min(max - 1);
        let n = match rest[..limit].iter().position(|&b| b == b'\n') {
            Some(i) => i + 1,
            None => {
                if limit == rest.len() {
                    self.eof = true;
                }
                limit
            }
        };
        self.pos += n;
        Some(rest[..n].to_vec())
    }
}

impl Checker<'_> {
    fn say(&mut self, text: &str) {
        let _ = writeln!(self.out, "{text}");
    }

    /// Prints `text` and exits with status 1.
    fn fail<T>(&mut self, text: &str) -> Result<T, Exit> {
        self.say(text);
        Err(Exit(1))
    }

    fn set_error(&mut self, msg: String) {
        self.error = format!("0x{:>16x}: {msg}", self.epos);
    }

    fn main(&mut self, args: &[String]) -> Result<(), Exit> {
        let (path, fix) = match args {
            [p] => (p.as_str(), false),
            [flag, p] if flag == "--fix" => (p.as_str(), true),
            [flag, ts, p] if flag == "--truncate-to-timestamp" => {
                match ts.parse::<i64>() {
                    Ok(t) => self.to_timestamp = t,
                    Err(_) => return self.fail("Invalid timestamp, aborting..."),
                }
                (p.as_str(), false)
            }
            _ => return Err(Exit(USAGE)),
        };
        let dir = match Path::new(path).parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => Path::new(".").to_path_buf(),
        };
        if self.is_manifest(path)? {
            self.check_multi_part(&dir, path, fix)
        } else {
            let preamble = self.is_rdb(path)?;
            self.check_old_style(path, fix, preamble)
        }
    }

    fn read_whole(&mut self, path: &str) -> Result<Vec<u8>, Exit> {
        match std::fs::read(path) {
            Ok(d) => Ok(d),
            Err(e) => self.fail(&format!("Cannot open file {path}: {}", strerror(&e))),
        }
    }

    /// A manifest has a line starting with `file` that is not a comment.
    fn is_manifest(&mut self, path: &str) -> Result<bool, Exit> {
        let data = self.read_whole(path)?;
        let mut c = Cursor {
            data,
            pos: 0,
            eof: false,
        };
        let mut found = false;
        while let Some(l) = c.fgets(MANIFEST_MAX_LINE + 1) {
            if l.first() != Some(&b'#') && l.starts_with(b"file") {
                found = true;
            }
        }
        Ok(found)
    }

    /// An RDB (preamble) file starts with `REDIS` and holds at least a header.
    fn is_rdb(&mut self, path: &str) -> Result<bool, Exit> {
        let data = self.read_whole(path)?;
        Ok(data.len() >= 8 && data.starts_with(b"REDIS"))
    }

    fn check_old_style(&mut self, path: &str, fix: bool, preamble: bool) -> Result<(), Exit> {
        self.say("Start checking Old-Style AOF");
        let r = self.check_single(path, path, true, fix, preamble)?;
        self.report("AOF", path, r);
        Ok(())
    }

    fn report(&mut self, kind: &str, name: &str, r: Checked) {
        let to = self.to_timestamp;
        match r {
            Checked::Ok => self.say(&format!("{kind} {name} is valid")),
            Checked::Empty => self.say(&format!("{kind} {name} is empty")),
            Checked::TimestampTruncated => self.say(&format!("Successfully truncated AOF {name} to timestamp {to}")),
            Checked::Truncated => self.say(&format!("Successfully truncated AOF {name}")),
        }
    }

    fn check_multi_part(&mut self, dir: &Path, manifest: &str, fix: bool) -> Result<(), Exit> {
        self.say("Start checking Multi Part AOF");
        let m = self.load_manifest(manifest)?;
        let total = m.base.iter().count() + m.incr.len();
        let mut n = 0;
        if let Some(base) = &m.base {
            n += 1;
            let path = dir.join(base).to_string_lossy().into_owned();
            let preamble = self.is_rdb(&path)?;
            self.say(&format!(
                "Start to check BASE AOF ({} format).",
                if preamble { "RDB" } else { "RESP" }
            ));
            let r = self.check_single(base, &path, n == total, fix, preamble)?;
            self.report("BASE AOF", base, r);
        }
        if !m.incr.is_empty() {
            self.say("Start to check INCR files.");
            for name in &m.incr {
                n += 1;
                let path = dir.join(name).to_string_lossy().into_owned();
                let r = self.check_single(name, &path, n == total, fix, false)?;
                self.report("INCR AOF", name, r);
            }
        }
        self.say("All AOF files and manifest are valid");
        Ok(())
    }

    /// Reads a manifest as the server does (`aofLoadManifestFromFile`), with its fatal messages.
    fn load_manifest(&mut self, path: &str) -> Result<Manifest, Exit> {
        let data = match std::fs::read(path) {
            Ok(d) => d,
            Err(e) => {
                let msg = format!(
                    "Fatal error: can't open the AOF manifest file {path} for reading: {}",
                    strerror(&e)
                );
                self.log(&msg);
                return Err(Exit(1));
            }
        };
        match parse_manifest(&data) {
            Ok(m) => Ok(m),
            Err((line, err)) => {
                self.log("\n*** FATAL AOF MANIFEST FILE ERROR ***\n");
                if let Some((n, text)) = line {
                    self.log(&format!("Reading the manifest file, at line {n}\n"));
                    self.log(&format!(">>> '{text}'\n"));
                }
                self.log(&format!("{err}\n"));
                Err(Exit(1))
            }
        }
    }

    /// A server-style log line (the C tool logs manifest errors through `serverLog`).
    fn log(&mut self, msg: &str) {
        let line = format!("{}:C {} # {msg}", std::process::id(), crate::server::log::timestamp());
        self.say(&line);
    }

    /// `checkSingleAof`.
    fn check_single(&mut self, name: &str, path: &str, last: bool, fix: bool, preamble: bool) -> Result<Checked, Exit> {
        let data = match std::fs::read(path) {
            Ok(d) => d,
            Err(e) => return self.fail(&format!("Cannot open file {path}: {}, aborting...", strerror(&e))),
        };
        let size = data.len();
        if size == 0 {
            return Ok(Checked::Empty);
        }
        let mut f = Cursor {
            data,
            pos: 0,
            eof: false,
        };
        if preamble {
            let o = super::check_rdb::check(name, &f.data, crate::server::unix_ms());
            let _ = self.out.write_all(o.report.as_bytes());
            if !o.ok {
                if o.fatal {
                    self.log(super::check_rdb::TERMINATING);
                    return Err(Exit(1));
                }
                return self.fail("RDB preamble of AOF file is not sane, aborting.");
            }
            self.say("RDB preamble is OK, proceeding with AOF tail...");
            f.pos = o.offset;
        }
        let mut multi = 0i64;
        let mut pos = f.pos;
        loop {
            if multi == 0 {
                pos = f.pos;
            }
            let Some(&first) = f.data.get(f.pos) else {
                f.eof = true;
                break;
            };
            if first == b'#' {
                if !self.annotation(&mut f, path, last)? {
                    return Ok(Checked::TimestampTruncated);
                }
            } else if first == b'*' {
                if !self.command(&mut f, path, &mut multi) {
                    break;
                }
            } else {
                self.say(&format!("AOF {name} format error"));
                break;
            }
        }
        if f.eof && multi != 0 && self.error.is_empty() {
            self.set_error("Reached EOF before reading EXEC for MULTI".into());
        }
        if !self.error.is_empty() {
            let e = self.error.clone();
            self.say(&e);
        }
        let diff = size - pos;
        if diff == 0 && self.to_timestamp != 0 {
            self.say(&format!(
                "Truncate nothing in AOF {name} to timestamp {}",
                self.to_timestamp
            ));
            return Ok(Checked::Ok);
        }
        let line = self.line;
        self.say(&format!(
            "AOF analyzed: filename={name}, size={size}, ok_up_to={pos}, ok_up_to_line={line}, diff={diff}"
        ));
        if diff == 0 {
            return Ok(Checked::Ok);
        }
        if !fix {
            return self.fail(&format!(
                "AOF {name} is not valid. Use the --fix option to try fixing it."
            ));
        }
        if !last {
            return self.fail(&format!(
                "Failed to truncate AOF {name} because it is not the last file"
            ));
        }
        self.say(&format!(
            "This will shrink the AOF {name} from {size} bytes, with {diff} bytes, to {pos} bytes"
        ));
        let _ = write!(self.out, "Continue? [y/N]: ");
        let _ = self.out.flush();
        let mut answer = String::new();
        let yes = self.input.read_line(&mut answer).is_ok_and(|n| n > 0) && answer.starts_with(['y', 'Y']);
        if !yes {
            return self.fail("Aborting...");
        }
        if truncate(path, pos).is_err() {
            return self.fail(&format!("Failed to truncate AOF {name}"));
        }
        Ok(Checked::Truncated)
    }

    /// A `#` line. With `--truncate-to-timestamp`, a `#TS:` later than the limit cuts the file
    /// there (Ok(false)); anything else is skipped.
    fn annotation(&mut self, f: &mut Cursor, path: &str, last: bool) -> Result<bool, Exit> {
        self.epos = f.pos;
        let Some(l) = f.fgets(ANNOTATION_MAX_LINE) else {
            return self.fail(&format!("Failed to read annotations from AOF {path}, aborting..."));
        };
        let to = self.to_timestamp;
        if to == 0 || !l.starts_with(b"#TS:") {
            return Ok(true);
        }
        let (ts, end) = strtol(&l[4..]);
        if end == 0 || l.get(4 + end) != Some(&b'\r') {
            return self.fail("Invalid timestamp annotation");
        }
        if ts <= to {
            return Ok(true);
        }
        let epos = self.epos;
        if epos == 0 {
            return self.fail(&format!("AOF {path} has nothing before timestamp {to}, aborting..."));
        }
        if !last {
            self.say(&format!(
                "Failed to truncate AOF {path} to timestamp {to} to offset {epos} because it is not the last file."
            ));
            return self.fail(
                "If you insist, please delete all files after this file according to the manifest file and delete the corresponding records in manifest file manually. Then re-run redis-check-aof.",
            );
        }
        if truncate(path, epos).is_err() {
            return self.fail(&format!("Failed to truncate AOF {path} to timestamp {to}"));
        }
        Ok(false)
    }

    /// One `*<argc>` command (`processRESP`); false (with `error` set, or at end of file) when
    /// it is incomplete or malformed.
    fn command(&mut self, f: &mut Cursor, path: &str, multi: &mut i64) -> bool {
        let Some(argc) = self.read_long(f, b'*') else {
            return false;
        };
        for i in 0..argc.max(0) {
            let Some(arg) = self.read_string(f) else {
                return false;
            };
            if i != 0 {
                continue;
            }
            if arg.eq_ignore_ascii_case(b"multi") {
                *multi += 1;
                if *multi != 1 {
                    self.set_error(format!("Unexpected MULTI in AOF {path}"));
                    return false;
                }
            } else if arg.eq_ignore_ascii_case(b"exec") {
                *multi -= 1;
                if *multi != 0 {
                    self.set_error(format!("Unexpected EXEC in AOF {path}"));
                    return false;
                }
            }
        }
        true
    }

    /// `<prefix><number>\r\n` (`readLong`).
    fn read_long(&mut self, f: &mut Cursor, prefix: u8) -> Option<i64> {
        self.epos = f.pos;
        let l = f.fgets(128)?;
        if l[0] != prefix {
            self.set_error(format!("Expected prefix '{}', got: '{}'", prefix as char, l[0] as char));
            return None;
        }
        let (n, used) = strtol(&l[1..]);
        self.consume_newline(&l[1 + used..]).then_some(n)
    }

    /// `$<len>\r\n<bytes>\r\n` (`readString`).
    fn read_string(&mut self, f: &mut Cursor) -> Option<Vec<u8>> {
        let len = self.read_long(f, b'$')?;
        if !(0..=i64::MAX - 2).contains(&len) {
            self.set_error(format!(
                "Expected to read string of {len} bytes, which is not in the suitable range"
            ));
            return None;
        }
        let want = len as usize + 2;
        self.epos = f.pos;
        let got = want.min(f.data.len() - f.pos);
        let bytes = f.data[f.pos..f.pos + got].to_vec();
        f.pos += got;
        if got != want {
            f.eof = true;
            self.set_error(format!("Expected to read {want} bytes, got {got} bytes"));
            return None;
        }
        if !self.consume_newline(&bytes[want - 2..]) {
            return None;
        }
        Some(bytes[..want - 2].to_vec())
    }

    fn consume_newline(&mut self, rest: &[u8]) -> bool {
        if rest.starts_with(b"\r\n") {
            self.line += 1;
            return true;
        }
        // C prints the two bytes as signed chars with %02x, and a string ends in NUL.
        let hex = |b: Option<&u8>| match b.copied().unwrap_or(0) {
            b if b >= 0x80 => format!("ffffff{b:02x}"),
            b => format!("{b:02x}"),
        };
        let got = format!("{}{}", hex(rest.first()), hex(rest.get(1)));
        self.set_error(format!("Expected \\r\\n, got: {got}"));
        false
    }
}

const MANIFEST_MAX_LINE: usize = 1024;
const ANNOTATION_MAX_LINE: usize = 1024;

/// The files a manifest lists, in order (history files are not checked).
struct Manifest {
    base: Option<String>,
    incr: Vec<String>,
}

/// Parses a manifest; on error, the offending line (number, trimmed text) and the message.
#[allow(clippy::type_complexity)]
fn parse_manifest(data: &[u8]) -> Result<Manifest, (Option<(usize, String)>, &'static str)> {
    let mut m = Manifest {
        base: None,
        incr: Vec::new(),
    };
    let mut max_seq = 0i64;
    let mut c = Cursor {
        data: data.to_vec(),
        pos: 0,
        eof: false,
    };
    let mut n = 0;
    while let Some(raw) = c.fgets(MANIFEST_MAX_LINE + 1) {
        n += 1;
        if raw.first() == Some(&b'#') {
            continue;
        }
        if !raw.contains(&b'\n') {
            return Err((None, "The AOF manifest file contains too long line"));
        }
        let text = String::from_utf8_lossy(&raw)
            .trim_matches([' ', '\t', '\r', '\n'])
            .to_string();
        let bad = |msg| Err((Some((n, text.clone())), msg));
        if text.is_empty() {
            return bad("Invalid AOF manifest file format");
        }
        let Some(argv) = split_args(&text) else {
            return bad("Invalid AOF manifest file format");
        };
        if argv.len() < 6 || argv.len() % 2 != 0 {
            return bad("Invalid AOF manifest file format");
        }
        let (mut name, mut seq, mut kind) = (None, 0i64, None);
        for kv in argv.chunks_exact(2) {
            let [k, v] = kv else { continue };
            if k.eq_ignore_ascii_case("file") {
                if v.contains('/') {
                    return bad("File can't be a path, just a filename");
                }
                name = Some(v.clone());
            } else if k.eq_ignore_ascii_case("seq") {
                seq = strtol(v.as_bytes()).0;
            } else if k.eq_ignore_ascii_case("type") {
                kind = v.bytes().next();
            }
        }
        let (Some(name), Some(kind)) = (name, kind) else {
            return bad("Invalid AOF manifest file format");
        };
        if seq == 0 {
            return bad("Invalid AOF manifest file format");
        }
        match kind {
            b'b' => {
                if m.base.is_some() {
                    return bad("Found duplicate base file information");
                }
                m.base = Some(name);
            }
            b'h' => {}
            b'i' => {
                if seq <= max_seq {
                    return bad("Found a non-monotonic sequence number");
                }
                max_seq = seq;
                m.incr.push(name);
            }
            _ => return bad("Unknown AOF file type"),
        }
    }
    if n == 0 {
        return Err((None, "Found an empty AOF manifest"));
    }
    Ok(m)
}

/// Splits a manifest line into words, honouring double and single quotes (`sdssplitargs`,
/// without its escape sequences, which file names written by a server never need).
fn split_args(line: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&c) = chars.peek() else {
            return Some(out);
        };
        let mut word = String::new();
        if c == '"' || c == '\'' {
            chars.next();
            loop {
                match chars.next() {
                    Some(q) if q == c => break,
                    Some(ch) => word.push(ch),
                    None => return None,
                }
            }
            // A closing quote must be followed by a space or the end.
            if chars.peek().is_some_and(|c| !c.is_whitespace()) {
                return None;
            }
        } else {
            while let Some(&ch) = chars.peek() {
                if ch.is_whitespace() {
                    break;
                }
                word.push(ch);
                chars.next();
            }
        }
        out.push(word);
    }
}

/// C's `strtol(s, &end, 10)`: the value (saturated) and how many bytes it used (0 if no digits).
fn strtol(s: &[u8]) -> (i64, usize) {
    let mut i = 0;
    while s.get(i).is_some_and(|b| b" \t\n\x0b\x0c\r".contains(b)) {
        i += 1;
    }
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let start = i;
    let mut n: i64 = 0;
    while let Some(d) = s.get(i).filter(|b| b.is_ascii_digit()) {
        let d = (d - b'0') as i64;
        n = if neg {
            n.saturating_mul(10).saturating_sub(d)
        } else {
            n.saturating_mul(10).saturating_add(d)
        };
        i += 1;
    }
    if i == start {
        return (0, 0);
    }
    (n, i)
}

fn truncate(path: &str, len: usize) -> std::io::Result<()> {
    std::fs::OpenOptions::new().write(true).open(path)?.set_len(len as u64)
}

/// An I/O error as C's `strerror` words it (without Rust's " (os error N)").
fn strerror(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strtol_like_c() {
        assert_eq!(strtol(b"12\r\n"), (12, 2));
        assert_eq!(strtol(b"-3x"), (-3, 2));
        assert_eq!(strtol(b"x"), (0, 0));
        assert_eq!(strtol(b"99999999999999999999").0, i64::MAX);
    }

    #[test]
    fn manifests() {
        let m = parse_manifest(b"file a.base.rdb seq 1 type b\nfile a.incr.aof seq 1 type i\n");
        assert!(m.is_ok_and(|m| m.base.as_deref() == Some("a.base.rdb") && m.incr.len() == 1));
        assert!(matches!(
            parse_manifest(b""),
            Err((None, "Found an empty AOF manifest"))
        ));
        assert!(parse_manifest(b"file x/y seq 1 type b\n").is_err());
        assert!(parse_manifest(b"file a seq 2 type i\nfile b seq 1 type i\n").is_err());
        assert_eq!(
            split_args("file \"a b\" seq 1"),
            Some(vec!["file".into(), "a b".into(), "seq".into(), "1".into()])
        );
    }
}
