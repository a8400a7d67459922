//! Reply formatting, byte for byte as redis-cli 7.0 prints it: the terminal form (`(integer) 1`,
//! quoted strings, numbered nested arrays, `#` maps, `~` sets), the raw form used on a pipe, CSV
//! and JSON.

use super::conn::Reply;
use crate::util::text::repr;

/// The output modes of `--raw`, `--no-raw`, `--csv`, `--json` and `--quoted-json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Human form, the default on a terminal.
    Standard,
    /// Bare values, the default on a pipe.
    Raw,
    Csv,
    Json,
    QuotedJson,
}

/// Does the terminal form print this reply over several lines? (A map value that does starts on
/// its own line so the nested numbering lines up.)
fn multiline(r: &Reply) -> bool {
    match r {
        Reply::Array(v) | Reply::Set(v) | Reply::Push(v) => match v.len() {
            0 => false,
            1 => multiline(&v[0]),
            _ => true,
        },
        Reply::Map(v) => match v.len() {
            0 => false,
            n if n > 2 => true,
            _ => v.get(1).is_some_and(multiline),
        },
        _ => false,
    }
}

/// The terminal form. `prefix` is the indentation of nested elements after the first.
pub fn tty(r: &Reply, prefix: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match r {
        Reply::Error(e) => {
            out.extend_from_slice(b"(error) ");
            out.extend_from_slice(e);
            out.push(b'\n');
        }
        Reply::Status(s) => {
            out.extend_from_slice(s);
            out.push(b'\n');
        }
        Reply::Int(i) => out.extend_from_slice(format!("(integer) {i}\n").as_bytes()),
        Reply::Double(d) => out.extend_from_slice(format!("(double) {d}\n").as_bytes()),
        Reply::BigNum(d) => out.extend_from_slice(format!("(big number) {d}\n").as_bytes()),
        Reply::Bulk(b) => {
            out.extend_from_slice(repr(b).as_bytes());
            out.push(b'\n');
        }
        Reply::Verbatim(b) => {
            out.extend_from_slice(b);
            out.push(b'\n');
        }
        Reply::Nil => out.extend_from_slice(b"(nil)\n"),
        Reply::Bool(t) => out.extend_from_slice(if *t { b"(true)\n" } else { b"(false)\n" }),
        Reply::Array(v) | Reply::Set(v) | Reply::Push(v) | Reply::Map(v) => {
            let is_map = matches!(r, Reply::Map(_));
            if v.is_empty() {
                out.extend_from_slice(match r {
                    Reply::Array(_) => b"(empty array)\n".as_slice(),
                    Reply::Map(_) => b"(empty hash)\n",
                    Reply::Set(_) => b"(empty set)\n",
                    _ => b"(empty push)\n",
                });
                return out;
            }
            let count = if is_map { v.len() / 2 } else { v.len() };
            let idxlen = count.to_string().len();
            let mut inner = prefix.to_vec();
            inner.extend(std::iter::repeat_n(b' ', idxlen + 2));
            let sep = match r {
                Reply::Set(_) => '~',
                Reply::Map(_) => '#',
                _ => ')',
            };
            let step = if is_map { 2 } else { 1 };
            for (n, i) in (0..v.len()).step_by(step).enumerate() {
                if n > 0 {
                    out.extend_from_slice(prefix);
                }
                out.extend_from_slice(format!("{:>idxlen$}{sep} ", n + 1).as_bytes());
                out.extend_from_slice(&tty(&v[i], &inner));
                if is_map {
                    out.pop(); // the key's newline
                    out.extend_from_slice(b" => ");
                    if let Some(val) = v.get(i + 1) {
                        if multiline(val) {
                            out.push(b'\n');
                            out.extend_from_slice(&inner);
                        }
                        out.extend_from_slice(&tty(val, &inner));
                    }
                }
            }
        }
    }
    out
}

/// The raw form: values as they are, aggregate elements joined by `mb_delim`, no trailing
/// delimiter (the caller adds the command delimiter).
pub fn raw(r: &Reply, mb_delim: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match r {
        Reply::Nil => {}
        Reply::Error(e) => {
            out.extend_from_slice(e);
            out.push(b'\n');
        }
        Reply::Status(s) | Reply::Bulk(s) | Reply::Verbatim(s) => out.extend_from_slice(s),
        Reply::Bool(t) => out.extend_from_slice(if *t { b"(true)" } else { b"(false)" }),
        Reply::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Reply::Double(d) | Reply::BigNum(d) => out.extend_from_slice(d.as_bytes()),
        Reply::Array(v) | Reply::Set(v) | Reply::Push(v) => {
            for (i, e) in v.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(mb_delim);
                }
                out.extend_from_slice(&raw(e, mb_delim));
            }
        }
        Reply::Map(v) => {
            for (i, pair) in v.chunks(2).enumerate() {
                if i > 0 {
                    out.extend_from_slice(mb_delim);
                }
                out.extend_from_slice(&raw(&pair[0], mb_delim));
                out.push(b' ');
                if let Some(val) = pair.get(1) {
                    out.extend_from_slice(&raw(val, mb_delim));
                }
            }
        }
    }
    out
}

/// The `--csv` form (maps flattened, as redis-cli does).
pub fn csv(r: &Reply) -> Vec<u8> {
    match r {
        Reply::Error(e) => {
            // redis-cli stops at the first NUL (strlen).
            let end = e.iter().position(|&b| b == 0).unwrap_or(e.len());
            format!("ERROR,{}", repr(&e[..end])).into_bytes()
        }
        Reply::Status(s) | Reply::Bulk(s) | Reply::Verbatim(s) => repr(s).into_bytes(),
        Reply::Int(i) => i.to_string().into_bytes(),
        Reply::Double(d) | Reply::BigNum(d) => d.clone().into_bytes(),
        Reply::Nil => b"NULL".to_vec(),
        Reply::Bool(t) => {
            if *t {
                b"true".to_vec()
            } else {
                b"false".to_vec()
            }
        }
        Reply::Array(v) | Reply::Set(v) | Reply::Push(v) | Reply::Map(v) => {
            let parts: Vec<Vec<u8>> = v.iter().map(csv).collect();
            parts.join(&b","[..])
        }
    }
}

/// A JSON string: `--json` escapes control characters and passes other bytes through;
/// `--quoted-json` writes the `sdscatrepr` form with its backslashes doubled.
fn json_string(out: &mut Vec<u8>, s: &[u8], quoted: bool) {
    if quoted {
        for c in repr(s).bytes() {
            if c == b'\\' {
                out.extend_from_slice(b"\\\\");
            } else {
                out.push(c);
            }
        }
        return;
    }
    out.push(b'"');
    for &c in s {
        match c {
            b'\\' | b'"' => {
                out.push(b'\\');
                out.push(c);
            }
            b'\n' => out.extend_from_slice(b"\\n"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            8 => out.extend_from_slice(b"\\b"),
            c if c <= 0x1f => out.extend_from_slice(format!("\\u{c:04x}").as_bytes()),
            c => out.push(c),
        }
    }
    out.push(b'"');
}

/// The `--json` / `--quoted-json` form.
pub fn json(out: &mut Vec<u8>, r: &Reply, quoted: bool) {
    match r {
        Reply::Error(e) => {
            out.extend_from_slice(b"error:");
            let end = e.iter().position(|&b| b == 0).unwrap_or(e.len());
            json_string(out, &e[..end], quoted);
        }
        Reply::Status(s) | Reply::Bulk(s) | Reply::Verbatim(s) => json_string(out, s, quoted),
        Reply::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Reply::Double(d) | Reply::BigNum(d) => out.extend_from_slice(d.as_bytes()),
        Reply::Nil => out.extend_from_slice(b"null"),
        Reply::Bool(t) => out.extend_from_slice(if *t { b"true" } else { b"false" }),
        Reply::Array(v) | Reply::Set(v) | Reply::Push(v) => {
            out.push(b'[');
            for (i, e) in v.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                json(out, e, quoted);
            }
            out.push(b']');
        }
        Reply::Map(v) => {
            out.push(b'{');
            for (i, pair) in v.chunks(2).enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                let key = &pair[0];
                if key.bytes().is_some() {
                    json(out, key, quoted);
                } else {
                    // JSON keys must be strings: a number or the like is quoted.
                    let mut k = Vec::new();
                    json(&mut k, key, quoted);
                    if k.first() != Some(&b'"') {
                        out.push(b'"');
                        out.extend_from_slice(&k);
                        out.push(b'"');
                    } else {
                        out.extend_from_slice(&k);
                    }
                }
                out.push(b':');
                if let Some(val) = pair.get(1) {
                    json(out, val, quoted);
                }
            }
            out.push(b'}');
        }
    }
}

/// A reply in `mode`, with the delimiters redis-cli adds. `verbatim` is set for the commands whose
/// text redis-cli always prints raw (INFO, CLIENT LIST, ...).
pub fn reply(r: &Reply, mode: Output, verbatim: bool, mb_delim: &[u8], cmd_delim: &[u8]) -> Vec<u8> {
    if verbatim {
        return raw(r, mb_delim);
    }
    match mode {
        Output::Standard => tty(r, b""),
        Output::Raw => {
            let mut out = raw(r, mb_delim);
            out.extend_from_slice(cmd_delim);
            out
        }
        Output::Csv => {
            let mut out = csv(r);
            out.push(b'\n');
            out
        }
        Output::Json | Output::QuotedJson => {
            let mut out = Vec::new();
            json(&mut out, r, mode == Output::QuotedJson);
            out.push(b'\n');
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Reply {
        Reply::Bulk(s.as_bytes().to_vec())
    }

    #[test]
    fn nested_arrays_indent_like_redis_cli() {
        let r = Reply::Array(vec![
            bulk("a"),
            Reply::Array(vec![Reply::Int(1), bulk("b")]),
            Reply::Nil,
        ]);
        assert_eq!(
            String::from_utf8(tty(&r, b"")).unwrap(),
            "1) \"a\"\n2) 1) (integer) 1\n   2) \"b\"\n3) (nil)\n"
        );
    }

    #[test]
    fn maps_and_sets() {
        let m = Reply::Map(vec![bulk("k"), Reply::Set(vec![bulk("x"), bulk("y")])]);
        assert_eq!(
            String::from_utf8(tty(&m, b"")).unwrap(),
            "1# \"k\" => \n   1~ \"x\"\n   2~ \"y\"\n"
        );
        assert_eq!(String::from_utf8(raw(&m, b"\n")).unwrap(), "k x\ny");
    }

    #[test]
    fn json_quotes_numeric_keys() {
        let m = Reply::Map(vec![Reply::Int(1), bulk("One")]);
        let mut out = Vec::new();
        json(&mut out, &m, false);
        assert_eq!(out, b"{\"1\":\"One\"}");
    }
}
