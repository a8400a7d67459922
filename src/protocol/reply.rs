//! Reply writer: encodes replies straight into a connection's output buffer, in RESP2 or RESP3.
//!
//! Commands never build reply objects; they call these methods in order, so a reply costs only
//! the bytes it writes. Aggregates are written as a header with their length followed by their
//! elements; when the length is not known in advance, use [`Reply::deferred_len`].

use crate::util::num;

/// The output side of one connection.
pub struct Reply {
    pub buf: Vec<u8>,
    /// 2 or 3, as chosen with HELLO.
    pub resp: u8,
    /// The first word of the last error written (for INFO errorstats), if any.
    pub last_error: Option<String>,
    /// Number of errors written since the caller last cleared it.
    pub errors: u32,
}

impl Reply {
    pub fn new() -> Self {
        Reply {
            buf: Vec::with_capacity(16 * 1024),
            resp: 2,
            last_error: None,
            errors: 0,
        }
    }

    #[inline]
    fn line(&mut self, prefix: u8, n: i64) {
        self.buf.push(prefix);
        num::write_i64(&mut self.buf, n);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// `+OK`
    #[inline]
    pub fn ok(&mut self) {
        self.buf.extend_from_slice(b"+OK\r\n");
    }

    /// A status reply (`+text`).
    pub fn simple(&mut self, s: &str) {
        self.buf.push(b'+');
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    /// An error reply. `msg` is the whole text after `-`, e.g. `ERR syntax error`; newlines are
    /// replaced by spaces as Redis does, so a reply can never break the protocol.
    pub fn error(&mut self, msg: &str) {
        self.buf.push(b'-');
        let start = self.buf.len();
        self.buf
            .extend(msg.bytes().map(|c| if c == b'\r' || c == b'\n' { b' ' } else { c }));
        self.buf.extend_from_slice(b"\r\n");
        let code = msg.split(' ').next().unwrap_or("ERR");
        let _ = start;
        self.last_error = Some(code.to_string());
        self.errors += 1;
    }

    /// `-ERR <msg>`
    pub fn err(&mut self, msg: &str) {
        let mut s = String::with_capacity(msg.len() + 4);
        s.push_str("ERR ");
        s.push_str(msg);
        self.error(&s);
    }

    pub fn syntax_error(&mut self) {
        self.error("ERR syntax error");
    }

    pub fn wrong_type(&mut self) {
        self.error("WRONGTYPE Operation against a key holding the wrong kind of value");
    }

    pub fn not_integer(&mut self) {
        self.error("ERR value is not an integer or out of range");
    }

    pub fn not_float(&mut self) {
        self.error("ERR value is not a valid float");
    }

    #[inline]
    pub fn int(&mut self, n: i64) {
        self.line(b':', n);
    }

    #[inline]
    pub fn bulk(&mut self, s: &[u8]) {
        self.line(b'$', s.len() as i64);
        self.buf.extend_from_slice(s);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// A bulk string holding the decimal form of `n` (how Redis replies with integer-encoded
    /// strings).
    pub fn bulk_i64(&mut self, n: i64) {
        let mut tmp = Vec::with_capacity(20);
        num::write_i64(&mut tmp, n);
        self.bulk(&tmp);
    }

    /// The null bulk string: `$-1` in RESP2, `_` in RESP3.
    #[inline]
    pub fn null(&mut self) {
        if self.resp >= 3 {
            self.buf.extend_from_slice(b"_\r\n");
        } else {
            self.buf.extend_from_slice(b"$-1\r\n");
        }
    }

    /// The null array: `*-1` in RESP2, `_` in RESP3.
    pub fn null_array(&mut self) {
        if self.resp >= 3 {
            self.buf.extend_from_slice(b"_\r\n");
        } else {
            self.buf.extend_from_slice(b"*-1\r\n");
        }
    }

    #[inline]
    pub fn array(&mut self, len: usize) {
        self.line(b'*', len as i64);
    }

    /// A map of `len` pairs: `%len` in RESP3, a flat array of 2*len in RESP2.
    pub fn map(&mut self, len: usize) {
        if self.resp >= 3 {
            self.line(b'%', len as i64);
        } else {
            self.line(b'*', 2 * len as i64);
        }
    }

    /// A set: `~len` in RESP3, an array in RESP2.
    pub fn set(&mut self, len: usize) {
        self.line(if self.resp >= 3 { b'~' } else { b'*' }, len as i64);
    }

    /// A push message (`>` in RESP3, an array in RESP2).
    pub fn push(&mut self, len: usize) {
        self.line(if self.resp >= 3 { b'>' } else { b'*' }, len as i64);
    }

    /// A double: `,` in RESP3, a bulk string in RESP2, formatted as Redis 7.0 does (`%.17g`).
    pub fn double(&mut self, d: f64) {
        let s = num::fmt_double(d);
        if self.resp >= 3 {
            self.buf.push(b',');
            self.buf.extend_from_slice(s.as_bytes());
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(s.as_bytes());
        }
    }

    /// A boolean: `#t`/`#f` in RESP3, `:1`/`:0` in RESP2.
    pub fn boolean(&mut self, b: bool) {
        if self.resp >= 3 {
            self.buf.extend_from_slice(if b { b"#t\r\n" } else { b"#f\r\n" });
        } else {
            self.int(b as i64);
        }
    }

    /// A verbatim string (`=len\r\ntxt:...` in RESP3), a bulk string in RESP2.
    pub fn verbatim(&mut self, s: &[u8]) {
        if self.resp >= 3 {
            self.line(b'=', s.len() as i64 + 4);
            self.buf.extend_from_slice(b"txt:");
            self.buf.extend_from_slice(s);
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(s);
        }
    }

    /// Starts an array whose length is not known yet; finish it with [`Reply::set_deferred_len`].
    pub fn deferred_len(&mut self) -> DeferredLen {
        let at = self.buf.len();
        // Placeholder wide enough for any length; shifted into place by `set_deferred_len`.
        self.buf.extend_from_slice(b"*                    \r\n");
        DeferredLen { at }
    }

    /// Writes the real length of a deferred array, closing the gap left by the placeholder.
    pub fn set_deferred_len(&mut self, d: DeferredLen, len: usize) {
        self.set_deferred(d, b'*', len);
    }

    /// Like [`Reply::set_deferred_len`] for a map of `len` pairs.
    pub fn set_deferred_map(&mut self, d: DeferredLen, len: usize) {
        if self.resp >= 3 {
            self.set_deferred(d, b'%', len);
        } else {
            self.set_deferred(d, b'*', 2 * len);
        }
    }

    fn set_deferred(&mut self, d: DeferredLen, prefix: u8, len: usize) {
        let mut head = vec![prefix];
        num::write_i64(&mut head, len as i64);
        head.extend_from_slice(b"\r\n");
        let placeholder = 23;
        self.buf.splice(d.at..d.at + placeholder, head);
    }

    /// Raw protocol bytes (already encoded).
    pub fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }
}

impl Default for Reply {
    fn default() -> Self {
        Self::new()
    }
}

/// Position of an aggregate header whose length is written later.
#[must_use]
pub struct DeferredLen {
    at: usize,
}
