//! Request parser: RESP multibulk (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`) and inline commands
//! (`GET k\r\n`, what telnet sends).
//!
//! Parsing never copies: a parsed request is a list of byte ranges into the connection's read
//! buffer. Limits and error texts follow Redis's `networking.c` word for word, because clients and
//! the Redis test suite match on them.

use std::ops::Range;

/// Longest inline request, and longest `*N` / `$N` header line (Redis: PROTO_INLINE_MAX_SIZE).
pub const INLINE_MAX: usize = 64 * 1024;

/// Limits that depend on configuration and on the client's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// `proto-max-bulk-len`.
    pub max_bulk_len: i64,
    /// Whether the client still has to authenticate: Redis then refuses large requests.
    pub unauthenticated: bool,
}

/// What one call to [`parse`] found at the start of the buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A whole request of `consumed` bytes; its arguments were pushed to the span list.
    Request { consumed: usize },
    /// A quoted inline request, whose unescaped arguments could not be ranges of the buffer.
    Owned { consumed: usize, args: Vec<Vec<u8>> },
    /// A request with no arguments (an empty line, `*0`, `*-1`): skip `consumed` bytes, no reply.
    Empty { consumed: usize },
    /// More bytes are needed.
    Incomplete,
    /// A protocol error: reply `-ERR Protocol error: <msg>` and close the connection.
    Error(&'static str),
}

/// Parses the first request in `buf`, pushing argument ranges to `args` (cleared first).
pub fn parse(buf: &[u8], limits: &Limits, args: &mut Vec<Range<usize>>) -> Parsed {
    args.clear();
    match buf.first() {
        None => Parsed::Incomplete,
        Some(b'*') => parse_multibulk(buf, limits, args),
        Some(_) => parse_inline(buf, args),
    }
}

fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(off) = memchr(b'\r', &buf[i..]) {
        let pos = i + off;
        if pos + 1 < buf.len() {
            if buf[pos + 1] == b'\n' {
                return Some(pos);
            }
            i = pos + 1;
        } else {
            return None;
        }
    }
    None
}

#[inline]
fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == needle)
}

/// Parses a decimal integer the way Redis's `string2ll` does: optional '-', no '+', no leading
/// zeros (except "0" itself), no spaces, no overflow.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let (neg, digits) = if s[0] == b'-' { (true, &s[1..]) } else { (false, s) };
    if digits.is_empty() {
        return None;
    }
    if digits.len() > 1 && digits[0] == b'0' {
        return None;
    }
    if digits == b"0" && neg {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    if neg {
        if v > i64::MAX as u64 + 1 {
            None
        } else {
            Some((v as i64).wrapping_neg())
        }
    } else if v > i64::MAX as u64 {
        None
    } else {
        Some(v as i64)
    }
}

/// Reads a `<digits>\r\n` header starting at `at` (just after the type byte), the common case of
/// the bulk and multibulk headers, in one pass. Returns (value, position after "\r\n"), or None
/// when the header is anything but plain digits (the caller then falls back to the strict path).
#[inline]
fn fast_header(buf: &[u8], at: usize) -> Option<(i64, usize)> {
    let mut v: i64 = 0;
    let mut i = at;
    while i < buf.len() && i - at < 18 {
        let c = buf[i];
        if c.is_ascii_digit() {
            v = v * 10 + (c - b'0') as i64;
            i += 1;
        } else if c == b'\r' && i > at && i + 1 < buf.len() && buf[i + 1] == b'\n' {
            // "0" alone is fine; other leading zeros go to the strict parser (which rejects them).
            if buf[at] == b'0' && i - at > 1 {
                return None;
            }
            return Some((v, i + 2));
        } else {
            return None;
        }
    }
    None
}

/// Reads a header line strictly: `Ok(Some((value, next)))`, `Ok(None)` when incomplete, `Err(())`
/// when the digits do not parse.
fn header(buf: &[u8], at: usize) -> Result<Option<(i64, usize)>, ()> {
    if let Some(h) = fast_header(buf, at) {
        return Ok(Some(h));
    }
    let Some(eol) = find_crlf(buf, at) else { return Ok(None) };
    match parse_i64(&buf[at..eol]) {
        Some(n) => Ok(Some((n, eol + 2))),
        None => Err(()),
    }
}

fn parse_multibulk(buf: &[u8], limits: &Limits, args: &mut Vec<Range<usize>>) -> Parsed {
    let (count, mut pos) = match header(buf, 1) {
        Ok(Some((n, next))) if n <= i32::MAX as i64 => (n, next),
        Ok(Some(_)) | Err(()) => return Parsed::Error("invalid multibulk length"),
        Ok(None) => {
            if buf.len() > INLINE_MAX {
                return Parsed::Error("too big mbulk count string");
            }
            return Parsed::Incomplete;
        }
    };
    if limits.unauthenticated && count > 10 {
        return Parsed::Error("unauthenticated multibulk length");
    }
    if count <= 0 {
        return Parsed::Empty { consumed: pos };
    }
    // Do not trust the count for the allocation: it comes from the client.
    args.reserve((count as usize).min(1024));
    for _ in 0..count {
        if pos >= buf.len() {
            return Parsed::Incomplete;
        }
        if buf[pos] != b'$' {
            return Parsed::Error(expected_dollar(buf[pos]));
        }
        let (len, start) = match header(buf, pos + 1) {
            Ok(Some((n, next))) if n >= 0 && n <= limits.max_bulk_len => (n as usize, next),
            Ok(Some(_)) | Err(()) => return Parsed::Error("invalid bulk length"),
            Ok(None) => {
                if buf.len() - pos > INLINE_MAX {
                    return Parsed::Error("too big bulk count string");
                }
                return Parsed::Incomplete;
            }
        };
        if limits.unauthenticated && len > 16384 {
            return Parsed::Error("unauthenticated bulk length");
        }
        let Some(end) = start.checked_add(len) else {
            return Parsed::Error("invalid bulk length");
        };
        if end + 2 > buf.len() {
            return Parsed::Incomplete;
        }
        args.push(start..end);
        pos = end + 2;
    }
    Parsed::Request { consumed: pos }
}

/// Redis prints the offending byte with `%c`; we have to name a static string, so printable ASCII
/// gets its own text and anything else a generic one.
fn expected_dollar(c: u8) -> &'static str {
    const TEXTS: [&str; 95] = {
        // "expected '$', got 'X'" for every printable X (0x20..=0x7e).
        macro_rules! t {
            ($($c:literal)*) => { [$(concat!("expected '$', got '", $c, "'")),*] };
        }
        t!(" " "!" "\"" "#" "$" "%" "&" "'" "(" ")" "*" "+" "," "-" "." "/" "0" "1" "2" "3" "4"
           "5" "6" "7" "8" "9" ":" ";" "<" "=" ">" "?" "@" "A" "B" "C" "D" "E" "F" "G" "H" "I" "J"
           "K" "L" "M" "N" "O" "P" "Q" "R" "S" "T" "U" "V" "W" "X" "Y" "Z" "[" "\\" "]" "^" "_"
           "`" "a" "b" "c" "d" "e" "f" "g" "h" "i" "j" "k" "l" "m" "n" "o" "p" "q" "r" "s" "t"
           "u" "v" "w" "x" "y" "z" "{" "|" "}" "~")
    };
    if (0x20..=0x7e).contains(&c) {
        TEXTS[(c - 0x20) as usize]
    } else {
        "expected '$', got something else"
    }
}

fn parse_inline(buf: &[u8], args: &mut Vec<Range<usize>>) -> Parsed {
    let Some(nl) = memchr(b'\n', buf) else {
        if buf.len() > INLINE_MAX {
            return Parsed::Error("too big inline request");
        }
        return Parsed::Incomplete;
    };
    let consumed = nl + 1;
    let line = &buf[..if nl > 0 && buf[nl - 1] == b'\r' { nl - 1 } else { nl }];
    if line.iter().any(|&c| c == b'"' || c == b'\'') {
        // Quoted inline requests are rare (humans typing): unescape into owned arguments.
        return match split_owned(line) {
            Ok(v) if v.is_empty() => Parsed::Empty { consumed },
            Ok(v) => Parsed::Owned { consumed, args: v },
            Err(Unbalanced) => Parsed::Error("unbalanced quotes in request"),
        };
    }
    let mut i = 0;
    while i < line.len() {
        while i < line.len() && is_space(line[i]) {
            i += 1;
        }
        let start = i;
        while i < line.len() && !is_space(line[i]) {
            i += 1;
        }
        if i > start {
            args.push(start..i);
        }
    }
    if args.is_empty() {
        Parsed::Empty { consumed }
    } else {
        Parsed::Request { consumed }
    }
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\n' | b'\r' | b'\t' | 0x0b | 0x0c)
}

fn hex_val(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// The error of [`split_owned`]: a quote was not closed, or a closing quote was not followed by a
/// space.
#[derive(Debug, PartialEq, Eq)]
pub struct Unbalanced;

/// Splits a line into owned arguments with `sdssplitargs` rules: double quotes with `\n \r \t \b
/// \a \\ \" \xHH` escapes, single quotes with only `\'`; a closing quote must be followed by a space
/// or the end of the line. Used for quoted inline requests and for redis.conf lines.
pub fn split_owned(line: &[u8]) -> Result<Vec<Vec<u8>>, Unbalanced> {
    let mut out = Vec::new();
    let mut i = 0;
    let n = line.len();
    loop {
        while i < n && is_space(line[i]) {
            i += 1;
        }
        if i >= n {
            return Ok(out);
        }
        let mut cur = Vec::new();
        let mut inq = false;
        let mut insq = false;
        loop {
            if inq {
                if i >= n {
                    return Err(Unbalanced);
                }
                let c = line[i];
                if c == b'\\'
                    && i + 3 < n
                    && line[i + 1] == b'x'
                    && hex_val(line[i + 2]).is_some()
                    && hex_val(line[i + 3]).is_some()
                {
                    cur.push(hex_val(line[i + 2]).unwrap_or(0) * 16 + hex_val(line[i + 3]).unwrap_or(0));
                    i += 3;
                } else if c == b'\\' && i + 1 < n {
                    i += 1;
                    cur.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                } else if c == b'"' {
                    if i + 1 < n && !is_space(line[i + 1]) {
                        return Err(Unbalanced);
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
            } else if insq {
                if i >= n {
                    return Err(Unbalanced);
                }
                let c = line[i];
                if c == b'\\' && i + 1 < n && line[i + 1] == b'\'' {
                    i += 1;
                    cur.push(b'\'');
                } else if c == b'\'' {
                    if i + 1 < n && !is_space(line[i + 1]) {
                        return Err(Unbalanced);
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
            } else {
                if i >= n {
                    break;
                }
                match line[i] {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => {
                        i += 1;
                        break;
                    }
                    b'"' => inq = true,
                    b'\'' => insq = true,
                    c => cur.push(c),
                }
            }
            i += 1;
        }
        out.push(cur);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: Limits = Limits {
        max_bulk_len: 512 * 1024 * 1024,
        unauthenticated: false,
    };

    fn args_of(buf: &[u8]) -> (Parsed, Vec<Vec<u8>>) {
        let mut a = Vec::new();
        let p = parse(buf, &L, &mut a);
        let v = a.iter().map(|r| buf[r.clone()].to_vec()).collect();
        (p, v)
    }

    #[test]
    fn multibulk() {
        let (p, v) = args_of(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nextra");
        assert_eq!(p, Parsed::Request { consumed: 20 });
        assert_eq!(v, vec![b"GET".to_vec(), b"k".to_vec()]);
        assert_eq!(args_of(b"*2\r\n$3\r\nGET\r\n$1\r\n").0, Parsed::Incomplete);
        assert_eq!(args_of(b"*x\r\n").0, Parsed::Error("invalid multibulk length"));
        assert_eq!(args_of(b"*1\r\n$-1\r\n").0, Parsed::Error("invalid bulk length"));
        assert_eq!(args_of(b"*1\r\nfoo\r\n").0, Parsed::Error("expected '$', got 'f'"));
        assert_eq!(args_of(b"*0\r\n").0, Parsed::Empty { consumed: 4 });
    }

    #[test]
    fn inline() {
        let (p, v) = args_of(b"set  k v\r\n");
        assert_eq!(p, Parsed::Request { consumed: 10 });
        assert_eq!(v, vec![b"set".to_vec(), b"k".to_vec(), b"v".to_vec()]);
        assert_eq!(args_of(b"\r\n").0, Parsed::Empty { consumed: 2 });
        assert_eq!(
            split_owned(b"set \"a\\x41\\n\" 'b c'").unwrap(),
            vec![b"set".to_vec(), b"aA\n".to_vec(), b"b c".to_vec()]
        );
        assert!(split_owned(b"\"unterminated").is_err());
        assert!(split_owned(b"\"a\"b").is_err());
    }

    #[test]
    fn integers() {
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        assert_eq!(parse_i64(b"01"), None);
        assert_eq!(parse_i64(b"+1"), None);
        assert_eq!(parse_i64(b"-0"), None);
    }
}
