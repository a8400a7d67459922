//! A small blocking RESP2/RESP3 client over a TCP or Unix socket: what `ochre-cli` needs and no
//! more. Commands go out as RESP arrays of bulk strings; replies are parsed by hand into
//! [`Reply`], which keeps every RESP3 type apart so the formatter can print each as redis-cli does.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::io::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// One reply, as hiredis would hand it to redis-cli.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Status(Vec<u8>),
    Error(Vec<u8>),
    Int(i64),
    Bulk(Vec<u8>),
    /// RESP2 null bulk / null array, RESP3 `_`.
    Nil,
    Array(Vec<Reply>),
    Set(Vec<Reply>),
    Push(Vec<Reply>),
    /// Keys and values alternate, as in hiredis (`element[2i]`, `element[2i+1]`).
    Map(Vec<Reply>),
    /// The double's text as the server sent it.
    Double(String),
    Bool(bool),
    /// A verbatim string without its three-letter format prefix.
    Verbatim(Vec<u8>),
    BigNum(String),
}

impl Reply {
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    /// The bytes of a string-like reply (status, bulk, verbatim, error).
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Reply::Status(b) | Reply::Bulk(b) | Reply::Verbatim(b) | Reply::Error(b) => Some(b),
            _ => None,
        }
    }

    /// The elements of an aggregate (a map's keys and values alternate).
    pub fn elements(&self) -> Option<&[Reply]> {
        match self {
            Reply::Array(v) | Reply::Set(v) | Reply::Push(v) | Reply::Map(v) => Some(v),
            _ => None,
        }
    }
}

enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    fn try_clone(&self) -> io::Result<Stream> {
        Ok(match self {
            Stream::Tcp(s) => Stream::Tcp(s.try_clone()?),
            Stream::Unix(s) => Stream::Unix(s.try_clone()?),
        })
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Where to connect.
#[derive(Debug, Clone)]
pub enum Addr {
    Tcp(String, u16),
    Unix(String),
}

/// A connection: a buffered reader and a writer on the same socket.
pub struct Conn {
    reader: BufReader<Stream>,
    writer: Stream,
    fd: RawFd,
}

/// hiredis's text for an I/O error: the OS message without Rust's " (os error N)" suffix.
pub fn errstr(e: &io::Error) -> String {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        return "Server closed the connection".to_string();
    }
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

fn eof() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "Server closed the connection")
}

fn protocol_error(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("Protocol error, {what}"))
}

impl Conn {
    pub fn connect(addr: &Addr) -> io::Result<Conn> {
        let stream = match addr {
            Addr::Tcp(host, port) => {
                let mut last = io::Error::new(io::ErrorKind::NotFound, "Name or service not known");
                let mut found = None;
                for a in (host.as_str(), *port).to_socket_addrs()? {
                    match TcpStream::connect(a) {
                        Ok(s) => {
                            found = Some(s);
                            break;
                        }
                        Err(e) => last = e,
                    }
                }
                let s = found.ok_or(last)?;
                let _ = s.set_nodelay(true);
                Stream::Tcp(s)
            }
            Addr::Unix(path) => Stream::Unix(UnixStream::connect(path)?),
        };
        let fd = match &stream {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
        };
        let writer = stream.try_clone()?;
        Ok(Conn {
            reader: BufReader::with_capacity(64 * 1024, stream),
            writer,
            fd,
        })
    }

    /// The socket's descriptor (for the Ctrl-C handler, which shuts it down to end MONITOR).
    pub fn fd(&self) -> RawFd {
        self.fd
    }

    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match &self.writer {
            Stream::Tcp(s) => s.set_read_timeout(t),
            Stream::Unix(s) => s.set_read_timeout(t),
        }
    }

    /// A second handle on the socket for writing from another thread (pipe mode).
    pub fn writer(&self) -> io::Result<impl Write + Send + 'static> {
        self.writer.try_clone()
    }

    /// Writes raw bytes.
    pub fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.writer.write_all(bytes)
    }

    /// Sends one command as a RESP array of bulk strings.
    pub fn send<A: AsRef<[u8]>>(&mut self, args: &[A]) -> io::Result<()> {
        self.writer.write_all(&encode(args))
    }

    /// Sends a command and reads its reply.
    pub fn call<A: AsRef<[u8]>>(&mut self, args: &[A]) -> io::Result<Reply> {
        self.send(args)?;
        self.read_reply()
    }

    /// True when a whole reply may already be buffered (pipe mode reads until this is false).
    pub fn has_buffered(&self) -> bool {
        !self.reader.buffer().is_empty()
    }

    /// Reads a raw line without its CRLF, outside RESP parsing (the `$<len>` before a SYNC
    /// payload; a master may send bare newlines as keep-alives first, which are skipped).
    pub fn read_line(&mut self) -> io::Result<Vec<u8>> {
        loop {
            let mut line = Vec::new();
            let n = self.reader.read_until(b'\n', &mut line)?;
            if n == 0 {
                return Err(eof());
            }
            while matches!(line.last(), Some(b'\n' | b'\r')) {
                line.pop();
            }
            if !line.is_empty() {
                return Ok(line);
            }
        }
    }

    /// Copies the next `n` raw bytes to `out` (a SYNC payload).
    pub fn copy_raw(&mut self, n: u64, out: &mut dyn Write) -> io::Result<()> {
        let copied = io::copy(&mut (&mut self.reader).take(n), out)?;
        if copied < n {
            return Err(eof());
        }
        Ok(())
    }

    /// Reads one reply; RESP3 attributes are read and dropped.
    pub fn read_reply(&mut self) -> io::Result<Reply> {
        loop {
            let (kind, line) = self.read_header()?;
            if kind == b'|' {
                let n = parse_len(&line)?;
                for _ in 0..n.max(0) * 2 {
                    self.read_reply()?;
                }
                continue;
            }
            return self.read_body(kind, line);
        }
    }

    fn read_header(&mut self) -> io::Result<(u8, Vec<u8>)> {
        let mut line = Vec::new();
        let n = self.reader.read_until(b'\n', &mut line)?;
        if n == 0 || line.last() != Some(&b'\n') {
            return Err(eof());
        }
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if line.is_empty() {
            return Err(protocol_error("got empty line"));
        }
        let kind = line[0];
        line.remove(0);
        Ok((kind, line))
    }

    fn read_aggregate(&mut self, n: i64) -> io::Result<Vec<Reply>> {
        let mut v = Vec::with_capacity(n.clamp(0, 1024) as usize);
        for _ in 0..n {
            v.push(self.read_reply()?);
        }
        Ok(v)
    }

    fn read_blob(&mut self, len: i64) -> io::Result<Vec<u8>> {
        let len = usize::try_from(len).map_err(|_| protocol_error("bad bulk length"))?;
        let mut buf = vec![0u8; len + 2];
        self.reader.read_exact(&mut buf).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                eof()
            } else {
                e
            }
        })?;
        buf.truncate(len);
        Ok(buf)
    }

    fn read_body(&mut self, kind: u8, line: Vec<u8>) -> io::Result<Reply> {
        let text = || String::from_utf8_lossy(&line).into_owned();
        Ok(match kind {
            b'+' => Reply::Status(line),
            b'-' => Reply::Error(line),
            b':' => Reply::Int(parse_len(&line)?),
            b'$' => {
                let n = parse_len(&line)?;
                if n < 0 {
                    Reply::Nil
                } else {
                    Reply::Bulk(self.read_blob(n)?)
                }
            }
            b'!' => Reply::Error(self.read_blob(parse_len(&line)?)?),
            b'=' => {
                let mut b = self.read_blob(parse_len(&line)?)?;
                // "txt:" / "mkd:": hiredis keeps the data only.
                if b.len() >= 4 && b[3] == b':' {
                    b.drain(..4);
                }
                Reply::Verbatim(b)
            }
            b'*' | b'~' | b'>' => {
                let n = parse_len(&line)?;
                if n < 0 {
                    return Ok(Reply::Nil);
                }
                let v = self.read_aggregate(n)?;
                match kind {
                    b'*' => Reply::Array(v),
                    b'~' => Reply::Set(v),
                    _ => Reply::Push(v),
                }
            }
            b'%' => {
                let n = parse_len(&line)?;
                Reply::Map(self.read_aggregate(n.max(0) * 2)?)
            }
            b'_' => Reply::Nil,
            b',' => Reply::Double(text()),
            b'#' => Reply::Bool(line.first() == Some(&b't')),
            b'(' => Reply::BigNum(text()),
            _ => return Err(protocol_error(&format!("got {:?} as reply type byte", kind as char))),
        })
    }
}

fn parse_len(s: &[u8]) -> io::Result<i64> {
    std::str::from_utf8(s)
        .ok()
        .and_then(|t| t.parse::<i64>().ok())
        .ok_or_else(|| protocol_error("bad number"))
}

/// The RESP encoding of one command.
pub fn encode<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        let a = a.as_ref();
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}
