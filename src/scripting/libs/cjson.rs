//! `cjson`: lua-cjson 2.1.0, as Redis bundles it.
//!
//! Encoding: numbers as `%.14g` (the precision is configurable), strings with `"`, `\`, `/` and
//! control characters escaped (bytes above 0x7f pass through untouched: no UTF-8 check), a table
//! whose keys are all positive integers as an array (`null` in its holes) unless it is
//! "excessively sparse", any other table as an object (an empty table is `{}`), `cjson.null` and
//! nil as `null`. Decoding: strict JSON plus what `strtod` reads (hex, inf, nan) when
//! `decode_invalid_numbers` is on (the default); `null` decodes to `cjson.null`, a NULL
//! lightuserdata. Each `cjson` table (and each `cjson.new()`) has its own configuration.

use super::{arg_error, c_f64_to_i32, deeper, fmt_g, lib_function, module_table, num, raise};
use super::{on_ref_overflow, type_name, Args, LibError, LibResult, MAX_C_STACK};
use mlua::{LightUserData, Lua, Table, Value};
use parking_lot::Mutex;
use std::sync::Arc;

/// The settings of one cjson module table.
#[derive(Clone, Copy)]
struct Config {
    sparse_convert: i32,
    sparse_ratio: i32,
    sparse_safe: i32,
    encode_max_depth: i32,
    decode_max_depth: i32,
    /// 0 = error, 1 = encode as inf/nan, 2 = encode as null.
    encode_invalid_numbers: i32,
    decode_invalid_numbers: i32,
    encode_keep_buffer: i32,
    encode_number_precision: i32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            sparse_convert: 0,
            sparse_ratio: 2,
            sparse_safe: 10,
            encode_max_depth: 1000,
            decode_max_depth: 1000,
            encode_invalid_numbers: 0,
            decode_invalid_numbers: 1,
            encode_keep_buffer: 1,
            encode_number_precision: 14,
        }
    }
}

type Shared = Arc<Mutex<Config>>;

/// `cjson.null`.
fn null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

/// Builds a `cjson` table with a fresh configuration.
pub fn module(lua: &Lua) -> mlua::Result<Table> {
    let cfg: Shared = Arc::new(Mutex::new(Config::default()));
    let with = |f: fn(&Lua, Args, &Shared) -> LibResult<Vec<Value>>| {
        let cfg = cfg.clone();
        lib_function(lua, move |lua, args| f(lua, args, &cfg))
    };
    let functions = vec![
        ("encode", with(encode)?),
        ("decode", with(decode)?),
        ("encode_sparse_array", with(cfg_sparse_array)?),
        (
            "encode_max_depth",
            with(|lua, a, c| int_option(lua, a, c, |c| &mut c.encode_max_depth, 1, i32::MAX))?,
        ),
        (
            "decode_max_depth",
            with(|lua, a, c| int_option(lua, a, c, |c| &mut c.decode_max_depth, 1, i32::MAX))?,
        ),
        (
            "encode_number_precision",
            with(|lua, a, c| int_option(lua, a, c, |c| &mut c.encode_number_precision, 1, 14))?,
        ),
        (
            "encode_keep_buffer",
            with(|lua, a, c| enum_option(lua, a, c, |c| &mut c.encode_keep_buffer, BOOL_OPTIONS))?,
        ),
        (
            "encode_invalid_numbers",
            with(|lua, a, c| enum_option(lua, a, c, |c| &mut c.encode_invalid_numbers, &["off", "on", "null"]))?,
        ),
        (
            "decode_invalid_numbers",
            with(|lua, a, c| enum_option(lua, a, c, |c| &mut c.decode_invalid_numbers, BOOL_OPTIONS))?,
        ),
        ("new", lib_function(lua, |lua, _| Ok(vec![Value::Table(module(lua)?)]))?),
    ];
    let t = module_table(lua, functions, &[("_NAME", "cjson"), ("_VERSION", "2.1.0")])?;
    t.raw_set("null", null())?;
    Ok(t)
}

// ---------------------------------------------------------------------------------------------
// Configuration functions

const BOOL_OPTIONS: &[&str] = &["off", "on"];

/// `json_arg_init`: at most `max` arguments.
fn check_arg_count(args: &Args, max: usize) -> LibResult<()> {
    if args.len() > max {
        return Err(arg_error(max as i32 + 1, "found too many arguments"));
    }
    Ok(())
}

/// `json_integer_option` for argument `n`: sets the value when given, returns the setting.
fn integer_setting(lua: &Lua, args: &Args, n: usize, setting: &mut i32, min: i32, max: i32) -> LibResult<Value> {
    if !args.is_none_or_nil(n) {
        // luaL_checkinteger, then stored in a C int.
        let value = args.check_integer(lua, n)? as i32;
        if !(min <= value && value <= max) {
            // (The C code always blames argument 1.)
            return Err(arg_error(1, format!("expected integer between {min} and {max}")));
        }
        *setting = value;
    }
    Ok(num(f64::from(*setting)))
}

/// `json_enum_option` for argument `n`: a boolean or one of `options`; returns the setting as a
/// boolean (for 0 and 1) or its option name.
fn enum_setting(lua: &Lua, args: &Args, n: usize, setting: &mut i32, options: &[&str]) -> LibResult<Value> {
    match args.get(n) {
        Value::Nil => {}
        Value::Boolean(b) => *setting = i32::from(*b),
        _ => {
            // luaL_checkoption
            let name = args.check_bytes(n)?;
            let name = super::c_str(&name);
            match options.iter().position(|o| o.as_bytes() == name) {
                Some(i) => *setting = i as i32,
                None => {
                    let mut msg = b"invalid option '".to_vec();
                    msg.extend_from_slice(name);
                    msg.push(b'\'');
                    return Err(arg_error(n as i32, msg));
                }
            }
        }
    }
    Ok(match options.get(*setting as usize) {
        Some(name) if *setting > 1 => Value::String(lua.create_string(name)?),
        _ => Value::Boolean(*setting != 0),
    })
}

fn int_option(
    lua: &Lua,
    args: Args,
    cfg: &Shared,
    field: fn(&mut Config) -> &mut i32,
    min: i32,
    max: i32,
) -> LibResult<Vec<Value>> {
    check_arg_count(&args, 1)?;
    let mut c = cfg.lock();
    Ok(vec![integer_setting(lua, &args, 1, field(&mut c), min, max)?])
}

fn enum_option(
    lua: &Lua,
    args: Args,
    cfg: &Shared,
    field: fn(&mut Config) -> &mut i32,
    options: &[&str],
) -> LibResult<Vec<Value>> {
    check_arg_count(&args, 1)?;
    let mut c = cfg.lock();
    Ok(vec![enum_setting(lua, &args, 1, field(&mut c), options)?])
}

/// `cjson.encode_sparse_array([convert [, ratio [, safe]]])`.
fn cfg_sparse_array(lua: &Lua, args: Args, cfg: &Shared) -> LibResult<Vec<Value>> {
    check_arg_count(&args, 3)?;
    let mut c = cfg.lock();
    let convert = enum_setting(lua, &args, 1, &mut c.sparse_convert, BOOL_OPTIONS)?;
    let ratio = integer_setting(lua, &args, 2, &mut c.sparse_ratio, 0, i32::MAX)?;
    let safe = integer_setting(lua, &args, 3, &mut c.sparse_safe, 0, i32::MAX)?;
    Ok(vec![convert, ratio, safe])
}

// ---------------------------------------------------------------------------------------------
// Encoding

/// `cjson.encode(value)`.
fn encode(lua: &Lua, args: Args, cfg: &Shared) -> LibResult<Vec<Value>> {
    if args.len() != 1 {
        return Err(arg_error(1, "expected 1 argument"));
    }
    let cfg = *cfg.lock();
    let mut enc = Encoder { cfg, out: Vec::new() };
    // The value is argument 1: the Lua stack holds one slot.
    enc.value(args.get(1), 0, 1)?;
    Ok(vec![Value::String(lua.create_string(&enc.out)?)])
}

struct Encoder {
    cfg: Config,
    out: Vec<u8>,
}

/// "Cannot serialise <type>: <reason>".
fn cannot_serialise(v: &Value, reason: &str) -> LibError {
    raise(format!("Cannot serialise {}: {reason}", type_name(v)))
}

impl Encoder {
    /// Appends `v`; `depth` counts the tables around it, `stack` the Lua stack height with `v`
    /// on top (the C code's `lua_checkstack` bounds the nesting it can reach).
    fn value(&mut self, v: &Value, depth: i32, stack: i64) -> LibResult<()> {
        match v {
            Value::String(s) => self.string(&s.as_bytes()),
            Value::Integer(i) => self.number(*i as f64, v)?,
            Value::Number(d) => self.number(*d, v)?,
            Value::Boolean(true) => self.out.extend_from_slice(b"true"),
            Value::Boolean(false) => self.out.extend_from_slice(b"false"),
            Value::Nil => self.out.extend_from_slice(b"null"),
            Value::LightUserData(p) if p.0.is_null() => self.out.extend_from_slice(b"null"),
            Value::Table(t) => {
                let depth = depth + 1;
                if depth > self.cfg.encode_max_depth || stack + 3 > MAX_C_STACK {
                    return Err(raise(format!("Cannot serialise, excessive nesting ({depth})")));
                }
                let nesting = || raise(format!("Cannot serialise, excessive nesting ({depth})"));
                let len = self.array_length(t, v).map_err(|e| on_ref_overflow(e, nesting))?;
                let done = if len > 0 {
                    deeper(|| self.array(t, len, depth, stack))
                } else {
                    deeper(|| self.object(t, depth, stack))
                };
                done.map_err(|e| on_ref_overflow(e, nesting))?;
            }
            _ => return Err(cannot_serialise(v, "type not supported")),
        }
        Ok(())
    }

    fn string(&mut self, s: &[u8]) {
        self.out.reserve(s.len() + 2);
        self.out.push(b'"');
        for &b in s {
            match b {
                b'"' => self.out.extend_from_slice(b"\\\""),
                b'\\' => self.out.extend_from_slice(b"\\\\"),
                b'/' => self.out.extend_from_slice(b"\\/"),
                b'\x08' => self.out.extend_from_slice(b"\\b"),
                b'\t' => self.out.extend_from_slice(b"\\t"),
                b'\n' => self.out.extend_from_slice(b"\\n"),
                b'\x0c' => self.out.extend_from_slice(b"\\f"),
                b'\r' => self.out.extend_from_slice(b"\\r"),
                0..=0x1f | 0x7f => {
                    self.out.extend_from_slice(format!("\\u{b:04x}").as_bytes());
                }
                _ => self.out.push(b),
            }
        }
        self.out.push(b'"');
    }

    fn number(&mut self, d: f64, v: &Value) -> LibResult<()> {
        let invalid = d.is_nan() || d.is_infinite();
        match self.cfg.encode_invalid_numbers {
            0 if invalid => return Err(cannot_serialise(v, "must not be NaN or Inf")),
            1 if d.is_nan() => {
                self.out.extend_from_slice(b"nan");
                return Ok(());
            }
            2 if invalid => {
                self.out.extend_from_slice(b"null");
                return Ok(());
            }
            _ => {}
        }
        self.out
            .extend_from_slice(fmt_g(d, self.cfg.encode_number_precision).as_bytes());
        Ok(())
    }

    /// `lua_array_length`: the array length when every key is a positive integer, else -1
    /// (0 for an empty table); excessively sparse arrays are an error, or objects if so set.
    fn array_length(&self, t: &Table, tv: &Value) -> LibResult<i32> {
        let (mut max, mut items) = (0i32, 0i32);
        for pair in t.pairs::<Value, Value>() {
            let (k, _) = pair?;
            let k = match k {
                Value::Integer(i) => i as f64,
                Value::Number(d) => d,
                _ => return Ok(-1),
            };
            if k == 0.0 || k.floor() != k || k < 1.0 {
                return Ok(-1);
            }
            if k > f64::from(max) {
                // An x86 `(int)` cast: keys past INT_MAX make it negative (then: an object).
                max = c_f64_to_i32(k);
            }
            items = items.wrapping_add(1);
        }
        let c = &self.cfg;
        if c.sparse_ratio > 0 && max > items.wrapping_mul(c.sparse_ratio) && max > c.sparse_safe {
            if c.sparse_convert == 0 {
                return Err(cannot_serialise(tv, "excessively sparse array"));
            }
            return Ok(-1);
        }
        Ok(max)
    }

    fn array(&mut self, t: &Table, len: i32, depth: i32, stack: i64) -> LibResult<()> {
        self.out.push(b'[');
        for i in 1..=len {
            if i > 1 {
                self.out.push(b',');
            }
            let v: Value = t.raw_get(i)?;
            self.value(&v, depth, stack + 1)?;
        }
        self.out.push(b']');
        Ok(())
    }

    fn object(&mut self, t: &Table, depth: i32, stack: i64) -> LibResult<()> {
        self.out.push(b'{');
        let mut first = true;
        for pair in t.pairs::<Value, Value>() {
            let (k, v) = pair?;
            if !first {
                self.out.push(b',');
            }
            first = false;
            match &k {
                Value::Integer(_) | Value::Number(_) => {
                    let d = match k {
                        Value::Integer(i) => i as f64,
                        Value::Number(d) => d,
                        _ => 0.0,
                    };
                    self.out.push(b'"');
                    self.number(d, &k)?;
                    self.out.extend_from_slice(b"\":");
                }
                Value::String(s) => {
                    self.string(&s.as_bytes());
                    self.out.push(b':');
                }
                _ => return Err(cannot_serialise(&k, "table key must be a number or string")),
            }
            // Stack: ... table key value
            self.value(&v, depth, stack + 2)?;
        }
        self.out.push(b'}');
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding

/// `cjson.decode(text)`.
fn decode(lua: &Lua, args: Args, cfg: &Shared) -> LibResult<Vec<Value>> {
    if args.len() != 1 {
        return Err(arg_error(1, "expected 1 argument"));
    }
    let cfg = *cfg.lock();
    let data = args.check_bytes(1)?;
    // Only the first two bytes are checked: JSON text starts with an ASCII character.
    if data.len() >= 2 && (data[0] == 0 || data[1] == 0) {
        return Err(raise("JSON parser does not support UTF-16 or UTF-32"));
    }
    let mut p = Parser {
        lua,
        cfg,
        data: &data,
        pos: 0,
        depth: 0,
    };
    let token = p.next_token();
    // Stack: the argument.
    let v = p.value(token, 1)?;
    let token = p.next_token();
    if token.kind != Kind::End {
        return Err(p.unexpected("the end", &token));
    }
    Ok(vec![v])
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    String,
    Number,
    Boolean,
    Null,
    Colon,
    Comma,
    End,
    Error,
}

impl Kind {
    /// The token names of lua-cjson's error messages.
    fn name(self) -> &'static str {
        match self {
            Kind::ObjBegin => "T_OBJ_BEGIN",
            Kind::ObjEnd => "T_OBJ_END",
            Kind::ArrBegin => "T_ARR_BEGIN",
            Kind::ArrEnd => "T_ARR_END",
            Kind::String => "T_STRING",
            Kind::Number => "T_NUMBER",
            Kind::Boolean => "T_BOOLEAN",
            Kind::Null => "T_NULL",
            Kind::Colon => "T_COLON",
            Kind::Comma => "T_COMMA",
            Kind::End => "T_END",
            Kind::Error => "T_ERROR",
        }
    }
}

struct Token {
    kind: Kind,
    /// Byte offset of the token (of the error, for `Kind::Error`).
    index: usize,
    string: Vec<u8>,
    number: f64,
    boolean: bool,
    /// What went wrong, for `Kind::Error`.
    error: &'static str,
}

impl Token {
    fn new(kind: Kind, index: usize) -> Token {
        Token {
            kind,
            index,
            string: Vec::new(),
            number: 0.0,
            boolean: false,
            error: "",
        }
    }
}

struct Parser<'a> {
    lua: &'a Lua,
    cfg: Config,
    /// The text; C reads it as a NUL-terminated string, so a NUL byte (and the end) reads as 0.
    data: &'a [u8],
    pos: usize,
    depth: i32,
}

fn hex_digit(c: u8) -> Option<u32> {
    (c as char).to_digit(16)
}

impl Parser<'_> {
    fn at(&self, i: usize) -> u8 {
        self.data.get(i).copied().unwrap_or(0)
    }

    fn error_token(&self, what: &'static str) -> Token {
        let mut t = Token::new(Kind::Error, self.pos);
        t.error = what;
        t
    }

    fn starts_with(&self, word: &[u8]) -> bool {
        self.data.get(self.pos..self.pos + word.len()) == Some(word)
    }

    fn next_token(&mut self) -> Token {
        while matches!(self.at(self.pos), b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
        let index = self.pos;
        let ch = self.at(self.pos);
        let single = match ch {
            b'{' => Some(Kind::ObjBegin),
            b'}' => Some(Kind::ObjEnd),
            b'[' => Some(Kind::ArrBegin),
            b']' => Some(Kind::ArrEnd),
            b',' => Some(Kind::Comma),
            b':' => Some(Kind::Colon),
            _ => None,
        };
        if let Some(kind) = single {
            self.pos += 1;
            return Token::new(kind, index);
        }
        match ch {
            0 => Token::new(Kind::End, index),
            b'"' => self.string_token(),
            b'-' | b'0'..=b'9' => {
                if self.cfg.decode_invalid_numbers == 0 && self.is_invalid_number() {
                    return self.error_token("invalid number");
                }
                self.number_token()
            }
            b'f' | b'i' | b'I' | b'n' | b'N' | b't' | b'+' => {
                if self.starts_with(b"true") {
                    self.pos += 4;
                    let mut t = Token::new(Kind::Boolean, index);
                    t.boolean = true;
                    t
                } else if self.starts_with(b"false") {
                    self.pos += 5;
                    Token::new(Kind::Boolean, index)
                } else if self.starts_with(b"null") {
                    self.pos += 4;
                    Token::new(Kind::Null, index)
                } else if self.cfg.decode_invalid_numbers != 0 && self.is_invalid_number() {
                    self.number_token()
                } else {
                    self.error_token("invalid token")
                }
            }
            _ => self.error_token("invalid token"),
        }
    }

    /// `json_is_invalid_number`: what `strtod` reads but JSON forbids (+, hex, leading zeros,
    /// inf, nan).
    fn is_invalid_number(&self) -> bool {
        let mut p = self.pos;
        if self.at(p) == b'+' {
            return true;
        }
        if self.at(p) == b'-' {
            p += 1;
        }
        let c = self.at(p);
        if c == b'0' {
            let c2 = self.at(p + 1);
            return c2 | 0x20 == b'x' || c2.is_ascii_digit();
        } else if c <= b'9' {
            return false;
        }
        let word = |w: &[u8]| (0..3).all(|i| self.at(p + i).eq_ignore_ascii_case(&w[i]));
        word(b"inf") || word(b"nan")
    }

    /// `strtod` at the cursor.
    fn number_token(&mut self) -> Token {
        // Copy what strtod could consume (it stops at the first other byte), NUL-terminated.
        let start = self.pos;
        let mut end = start;
        while end < self.data.len() && {
            let c = self.data[end];
            c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.' | b'(' | b')' | b'_')
        } {
            end += 1;
        }
        let mut buf = self.data[start..end].to_vec();
        buf.push(0);
        let mut endptr: *mut libc::c_char = std::ptr::null_mut();
        // SAFETY: buf is NUL-terminated; strtod stores a pointer into it in endptr.
        let d = unsafe { libc::strtod(buf.as_ptr() as *const libc::c_char, &mut endptr) };
        let consumed = (endptr as usize)
            .saturating_sub(buf.as_ptr() as usize)
            .min(buf.len() - 1);
        if consumed == 0 {
            return self.error_token("invalid number");
        }
        let mut t = Token::new(Kind::Number, start);
        t.number = d;
        self.pos += consumed;
        t
    }

    fn string_token(&mut self) -> Token {
        let index = self.pos;
        self.pos += 1;
        let mut s = Vec::new();
        loop {
            let ch = self.at(self.pos);
            match ch {
                b'"' => break,
                0 => return self.error_token("unexpected end of string"),
                b'\\' => {
                    let esc = match self.at(self.pos + 1) {
                        b'"' => b'"',
                        b'\\' => b'\\',
                        b'/' => b'/',
                        b'b' => b'\x08',
                        b't' => b'\t',
                        b'n' => b'\n',
                        b'f' => b'\x0c',
                        b'r' => b'\r',
                        b'u' => {
                            if self.unicode_escape(&mut s).is_none() {
                                return self.error_token("invalid unicode escape code");
                            }
                            continue;
                        }
                        _ => return self.error_token("invalid escape code"),
                    };
                    s.push(esc);
                    self.pos += 2;
                }
                _ => {
                    s.push(ch);
                    self.pos += 1;
                }
            }
        }
        self.pos += 1;
        let mut t = Token::new(Kind::String, index);
        t.string = s;
        t
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        (0..4).try_fold(0u32, |acc, i| Some((acc << 4) | hex_digit(self.at(at + i))?))
    }

    /// `\uXXXX` (or a surrogate pair) at the cursor, appended as UTF-8.
    fn unicode_escape(&mut self, s: &mut Vec<u8>) -> Option<()> {
        let mut cp = self.hex4(self.pos + 2)?;
        let mut len = 6;
        if cp & 0xf800 == 0xd800 {
            if cp & 0x400 != 0 {
                return None;
            }
            if self.at(self.pos + 6) != b'\\' || self.at(self.pos + 7) != b'u' {
                return None;
            }
            let low = self.hex4(self.pos + 8)?;
            if low & 0xfc00 != 0xdc00 {
                return None;
            }
            cp = (((cp & 0x3ff) << 10) | (low & 0x3ff)) + 0x10000;
            len = 12;
        }
        // Code points from escapes are at most 0x10FFFF, and lone low surrogates encode as is.
        if cp <= 0x7f {
            s.push(cp as u8);
        } else if cp <= 0x7ff {
            s.extend_from_slice(&[(cp >> 6) as u8 | 0xc0, (cp & 0x3f) as u8 | 0x80]);
        } else if cp <= 0xffff {
            s.extend_from_slice(&[
                (cp >> 12) as u8 | 0xe0,
                ((cp >> 6) & 0x3f) as u8 | 0x80,
                (cp & 0x3f) as u8 | 0x80,
            ]);
        } else {
            s.extend_from_slice(&[
                (cp >> 18) as u8 | 0xf0,
                ((cp >> 12) & 0x3f) as u8 | 0x80,
                ((cp >> 6) & 0x3f) as u8 | 0x80,
                (cp & 0x3f) as u8 | 0x80,
            ]);
        }
        self.pos += len;
        Some(())
    }

    /// "Expected <what> but found <token> at character <n>".
    fn unexpected(&self, expected: &str, token: &Token) -> LibError {
        let found = if token.kind == Kind::Error {
            token.error
        } else {
            token.kind.name()
        };
        raise(format!(
            "Expected {expected} but found {found} at character {}",
            token.index + 1
        ))
    }

    fn nesting_error(&self) -> LibError {
        raise(format!(
            "Found too many nested data structures ({}) at character {}",
            self.depth, self.pos
        ))
    }

    fn on_ref_overflow(&self, e: LibError) -> LibError {
        on_ref_overflow(e, || self.nesting_error())
    }

    /// `json_decode_descend`: one level deeper, within the depth limit and the Lua stack.
    fn descend(&mut self, stack: i64, slots: i64) -> LibResult<()> {
        self.depth += 1;
        if self.depth <= self.cfg.decode_max_depth && stack + slots <= MAX_C_STACK {
            return Ok(());
        }
        Err(self.nesting_error())
    }

    /// The value starting with `token`; `stack` is the Lua stack height before it is pushed.
    fn value(&mut self, token: Token, stack: i64) -> LibResult<Value> {
        Ok(match token.kind {
            Kind::String => Value::String(self.lua.create_string(&token.string)?),
            Kind::Number => num(token.number),
            Kind::Boolean => Value::Boolean(token.boolean),
            Kind::Null => null(),
            Kind::ObjBegin => deeper(|| self.object(stack)).map_err(|e| self.on_ref_overflow(e))?,
            Kind::ArrBegin => deeper(|| self.array(stack)).map_err(|e| self.on_ref_overflow(e))?,
            _ => return Err(self.unexpected("value", &token)),
        })
    }

    fn object(&mut self, stack: i64) -> LibResult<Value> {
        self.descend(stack, 3)?;
        let t = self.lua.create_table()?;
        let mut token = self.next_token();
        if token.kind == Kind::ObjEnd {
            self.depth -= 1;
            return Ok(Value::Table(t));
        }
        loop {
            if token.kind != Kind::String {
                return Err(self.unexpected("object key string", &token));
            }
            let key = self.lua.create_string(&token.string)?;
            token = self.next_token();
            if token.kind != Kind::Colon {
                return Err(self.unexpected("colon", &token));
            }
            token = self.next_token();
            // Stack: ... table key
            let v = self.value(token, stack + 2)?;
            t.raw_set(key, v)?;
            token = self.next_token();
            if token.kind == Kind::ObjEnd {
                self.depth -= 1;
                return Ok(Value::Table(t));
            }
            if token.kind != Kind::Comma {
                return Err(self.unexpected("comma or object end", &token));
            }
            token = self.next_token();
        }
    }

    fn array(&mut self, stack: i64) -> LibResult<Value> {
        self.descend(stack, 2)?;
        let t = self.lua.create_table()?;
        let mut token = self.next_token();
        if token.kind == Kind::ArrEnd {
            self.depth -= 1;
            return Ok(Value::Table(t));
        }
        let mut i: i64 = 1;
        loop {
            // Stack: ... table
            let v = self.value(token, stack + 1)?;
            t.raw_set(i, v)?;
            i += 1;
            token = self.next_token();
            if token.kind == Kind::ArrEnd {
                self.depth -= 1;
                return Ok(Value::Table(t));
            }
            if token.kind != Kind::Comma {
                return Err(self.unexpected("comma or array end", &token));
            }
            token = self.next_token();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{eval, lua};

    #[test]
    fn encode_values() {
        let lua = lua();
        let cases = [
            ("cjson.encode({1, 2, 3})", "[1,2,3]"),
            ("cjson.encode({})", "{}"),
            ("cjson.encode({a = {}})", r#"{"a":{}}"#),
            (
                "cjson.encode('a/b\"c\\\\d\\n\\1\\127\\255')",
                "\"a\\/b\\\"c\\\\d\\n\\u0001\\u007f\u{fffd}\"",
            ),
            ("cjson.encode(0.1)", "0.1"),
            ("cjson.encode(1/3)", "0.33333333333333"),
            ("cjson.encode(1e20)", "1e+20"),
            ("cjson.encode(-0)", "-0"),
            ("cjson.encode(123456789012345)", "1.2345678901234e+14"),
            ("cjson.encode(true)", "true"),
            ("cjson.encode(nil)", "null"),
            ("cjson.encode(cjson.null)", "null"),
            ("cjson.encode({1, nil, 3})", "[1,null,3]"),
            ("cjson.encode({[1] = 1, [3] = 3})", "[1,null,3]"),
            (
                "cjson.encode({[10] = 1})",
                "[null,null,null,null,null,null,null,null,null,1]",
            ),
            ("cjson.encode({[2] = 'x'})", r#"[null,"x"]"#),
            ("cjson.encode({[1.5] = 1})", r#"{"1.5":1}"#),
            ("cjson.encode({[-1] = 1})", r#"{"-1":1}"#),
            ("cjson.encode({[1e10] = 1})", r#"{"10000000000":1}"#),
            ("cjson.encode({{{}}})", "[[{}]]"),
        ];
        for (expr, want) in cases {
            // (The invalid UTF-8 byte \255 passes through; eval renders it as U+FFFD.)
            assert_eq!(eval(&lua, expr), want, "{expr}");
        }
    }

    #[test]
    fn encode_errors_and_config() {
        let lua = lua();
        let e = |m: &str| format!("error: user_script:1: {m}");
        assert_eq!(
            eval(&lua, "cjson.encode({[20] = 1})"),
            e("Cannot serialise table: excessively sparse array")
        );
        assert_eq!(
            eval(&lua, "cjson.encode(1/0)"),
            e("Cannot serialise number: must not be NaN or Inf")
        );
        assert_eq!(
            eval(&lua, "cjson.encode({[true] = 1})"),
            e("Cannot serialise boolean: table key must be a number or string")
        );
        assert_eq!(
            eval(&lua, "cjson.encode(print)"),
            e("Cannot serialise function: type not supported")
        );
        assert_eq!(
            eval(&lua, "cjson.encode()"),
            e("bad argument #1 to 'encode' (expected 1 argument)")
        );
        assert_eq!(
            eval(&lua, "cjson.encode(1, 2)"),
            e("bad argument #1 to 'encode' (expected 1 argument)")
        );
        let cycle = "(function() local t = {} t[1] = t return cjson.encode(t) end)()";
        assert_eq!(eval(&lua, cycle), e("Cannot serialise, excessive nesting (1001)"));
        let cycle_obj = "(function() local t = {} t.a = t return cjson.encode(t) end)()";
        assert_eq!(eval(&lua, cycle_obj), e("Cannot serialise, excessive nesting (1001)"));

        // Configuration: each setter returns the setting.
        assert_eq!(eval(&lua, "cjson.encode_max_depth(2)"), "2");
        assert_eq!(
            eval(&lua, "cjson.encode({{{}}})"),
            e("Cannot serialise, excessive nesting (3)")
        );
        assert_eq!(
            eval(&lua, "cjson.encode_max_depth(0)"),
            e("bad argument #1 to 'encode_max_depth' (expected integer between 1 and 2147483647)")
        );
        assert_eq!(
            eval(&lua, "cjson.encode_max_depth('x')"),
            e("bad argument #1 to 'encode_max_depth' (number expected, got string)")
        );
        assert_eq!(
            eval(&lua, "cjson.encode_max_depth(1, 2)"),
            e("bad argument #2 to 'encode_max_depth' (found too many arguments)")
        );
        assert_eq!(eval(&lua, "cjson.encode_number_precision(3)"), "3");
        assert_eq!(eval(&lua, "cjson.encode(math.pi)"), "3.14");
        assert_eq!(
            eval(&lua, "cjson.encode_number_precision(15)"),
            e("bad argument #1 to 'encode_number_precision' (expected integer between 1 and 14)")
        );
        assert_eq!(eval(&lua, "cjson.encode_invalid_numbers('null')"), "null");
        assert_eq!(eval(&lua, "cjson.encode({1/0, 0/0})"), "[null,null]");
        assert_eq!(eval(&lua, "cjson.encode_invalid_numbers(true)"), "true");
        assert_eq!(eval(&lua, "cjson.encode({1/0, -1/0, 0/0})"), "[inf,-inf,nan]");
        assert_eq!(
            eval(&lua, "cjson.encode_invalid_numbers('maybe')"),
            e("bad argument #1 to 'encode_invalid_numbers' (invalid option 'maybe')")
        );
        assert_eq!(eval(&lua, "cjson.encode_keep_buffer(false)"), "false");
        assert_eq!(
            eval(
                &lua,
                "table.concat({tostring(cjson.encode_sparse_array(true, 3, 4))}, ',')"
            ),
            "true"
        );
        assert_eq!(eval(&lua, "select(3, cjson.encode_sparse_array())"), "4");
        assert_eq!(eval(&lua, "cjson.encode({[20] = 1})"), r#"{"20":1}"#);
        // A new module has its own, default, settings.
        assert_eq!(eval(&lua, "cjson.new().encode(math.pi)"), "3.1415926535898");
        assert_eq!(eval(&lua, "cjson.new().encode_max_depth()"), "1000");
    }

    #[test]
    fn decode_values() {
        let lua = lua();
        let cases = [
            ("cjson.decode('[1,2,3]')[3]", "3"),
            ("cjson.decode('{\"a\":{\"b\":[true,false]}}').a.b[2]", "false"),
            ("cjson.decode('\"\\\\u00e9\\\\ud83d\\\\ude00\\\\/\"')", "é😀/"),
            ("cjson.decode(' 1.5e3 ')", "1500"),
            ("cjson.decode('-0.25')", "-0.25"),
            ("cjson.decode('0x10')", "16"),
            ("cjson.decode('[Infinity]')[1]", "inf"),
            ("tostring(cjson.decode('null') == cjson.null)", "true"),
            ("cjson.decode('[1]\\0garbage')[1]", "1"),
            ("cjson.decode(123)", "123"),
            ("#cjson.decode('[]')", "0"),
        ];
        for (expr, want) in cases {
            assert_eq!(eval(&lua, expr), want, "{expr}");
        }
    }

    #[test]
    fn decode_errors() {
        let lua = lua();
        let e = |m: &str| format!("error: user_script:1: {m}");
        let cases = [
            (
                "cjson.decode('x')",
                "Expected value but found invalid token at character 1",
            ),
            ("cjson.decode('')", "Expected value but found T_END at character 1"),
            (
                "cjson.decode('[1,]')",
                "Expected value but found T_ARR_END at character 4",
            ),
            (
                "cjson.decode('[1 2]')",
                "Expected comma or array end but found T_NUMBER at character 4",
            ),
            (
                "cjson.decode('{1:2}')",
                "Expected object key string but found T_NUMBER at character 2",
            ),
            (
                "cjson.decode('{\"a\" 2}')",
                "Expected colon but found T_NUMBER at character 6",
            ),
            (
                "cjson.decode('{\"a\":2,}')",
                "Expected object key string but found T_OBJ_END at character 8",
            ),
            (
                "cjson.decode('{\"a\":2 ]')",
                "Expected comma or object end but found T_ARR_END at character 8",
            ),
            (
                "cjson.decode('[1] 2')",
                "Expected the end but found T_NUMBER at character 5",
            ),
            (
                "cjson.decode('\"abc')",
                "Expected value but found unexpected end of string at character 5",
            ),
            (
                "cjson.decode('\"\\\\q\"')",
                "Expected value but found invalid escape code at character 2",
            ),
            (
                "cjson.decode('\"\\\\u12\"')",
                "Expected value but found invalid unicode escape code at character 2",
            ),
            (
                "cjson.decode('\"\\\\udc00\"')",
                "Expected value but found invalid unicode escape code at character 2",
            ),
            (
                "cjson.decode('-')",
                "Expected value but found invalid number at character 1",
            ),
            (
                "cjson.decode('tru')",
                "Expected value but found invalid token at character 1",
            ),
            ("cjson.decode('a\\0')", "JSON parser does not support UTF-16 or UTF-32"),
            (
                "cjson.decode({})",
                "bad argument #1 to 'decode' (string expected, got table)",
            ),
            ("cjson.decode()", "bad argument #1 to 'decode' (expected 1 argument)"),
            (
                "cjson.decode(string.rep('[', 1001))",
                "Found too many nested data structures (1001) at character 1001",
            ),
        ];
        for (expr, want) in cases {
            assert_eq!(eval(&lua, expr), e(want), "{expr}");
        }
        assert_eq!(eval(&lua, "cjson.decode_invalid_numbers(false)"), "false");
        assert_eq!(
            eval(&lua, "cjson.decode('0x10')"),
            e("Expected value but found invalid number at character 1")
        );
        assert_eq!(
            eval(&lua, "cjson.decode('[01]')"),
            e("Expected value but found invalid number at character 2")
        );
        // The Lua stack bounds nesting when the depth limit is raised.
        assert_eq!(eval(&lua, "cjson.decode_max_depth(100000)"), "100000");
        // (Redis stops at 7999; mlua's own references make it a few levels less here.)
        let deep = eval(&lua, "cjson.decode(string.rep('[', 9000))");
        assert!(
            deep.starts_with(&e("Found too many nested data structures (79")),
            "{deep}"
        );
        let deep_obj = eval(&lua, "cjson.decode(string.rep('{\"a\":', 9000))");
        assert!(
            deep_obj.starts_with(&e("Found too many nested data structures (399")),
            "{deep_obj}"
        );
    }
}
