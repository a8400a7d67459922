//! `cmsgpack`: lua-cmsgpack 0.4.0 (MessagePack), as Redis bundles it.
//!
//! Packing: a table whose keys are exactly 1..n is an array, any other table a map (an empty one
//! is an empty array); a number that is an exact 64-bit integer packs as the smallest integer
//! type, any other as a float32 when that is exact, else a float64; strings use the str types
//! (fixstr, str8/16/32); nil, functions, userdata and tables nested 16 deep pack as nil (which is
//! how circular references end). Unpacking accepts what packing makes (no bin or ext types: "Bad
//! data format in input."), with the C code's conversions (uint64 above 2^63 wraps negative).

use super::{arg_error, bare_error, c_f64_to_i32, c_f64_to_i64, deeper, lib_function, module_table, num, raise};
use super::{on_ref_overflow, Args, LibError, LibResult, MAX_C_STACK};
use mlua::{Lua, Table, Value};

/// The C code's `luaL_checkstack` message when the values or their nesting fill the Lua stack.
const TOO_MANY: &str = "stack overflow (too many return values at once; use unpack_one or unpack_limit instead.)";

/// Tables nested this deep pack as nil.
const MAX_NESTING: u32 = 16;

/// Builds the `cmsgpack` table.
pub fn module(lua: &Lua) -> mlua::Result<Table> {
    let functions = vec![
        ("pack", lib_function(lua, pack)?),
        ("unpack", lib_function(lua, unpack)?),
        ("unpack_one", lib_function(lua, unpack_one)?),
        ("unpack_limit", lib_function(lua, unpack_limit)?),
    ];
    let fields = [
        ("_NAME", "cmsgpack"),
        ("_VERSION", "lua-cmsgpack 0.4.0"),
        ("_COPYRIGHT", "Copyright (C) 2012, Salvatore Sanfilippo"),
        ("_DESCRIPTION", "MessagePack C implementation for Lua"),
    ];
    module_table(lua, functions, &fields)
}

// ---------------------------------------------------------------------------------------------
// Packing

/// `cmsgpack.pack(v1, v2, ...)`: each value packed, concatenated.
fn pack(_lua: &Lua, args: Args) -> LibResult<Vec<Value>> {
    let nargs = args.len();
    if nargs == 0 {
        return Err(arg_error(0, "MessagePack pack needs input."));
    }
    if 2 * nargs as i64 > MAX_C_STACK {
        return Err(arg_error(0, "Too many arguments for MessagePack pack."));
    }
    let mut out = Vec::new();
    for v in &args.0 {
        encode(&mut out, v, 0)?;
    }
    Ok(vec![Value::String(_lua.create_string(&out)?)])
}

fn encode(out: &mut Vec<u8>, v: &Value, level: u32) -> LibResult<()> {
    match v {
        Value::String(s) => encode_bytes(out, &s.as_bytes()),
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(i) => encode_number(out, *i as f64),
        Value::Number(d) => encode_number(out, *d),
        Value::Table(t) if level < MAX_NESTING => encode_table(out, t, level)?,
        _ => out.push(0xc0),
    }
    Ok(())
}

fn encode_bytes(out: &mut Vec<u8>, s: &[u8]) {
    let len = s.len();
    if len < 32 {
        out.push(0xa0 | len as u8);
    } else if len <= 0xff {
        out.extend_from_slice(&[0xd9, len as u8]);
    } else if len <= 0xffff {
        out.push(0xda);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
    out.extend_from_slice(s);
}

fn encode_number(out: &mut Vec<u8>, d: f64) {
    let i = c_f64_to_i64(d);
    if d.is_finite() && i as f64 == d {
        encode_int(out, i);
    } else {
        let f = d as f32;
        if f64::from(f) == d {
            out.push(0xca);
            out.extend_from_slice(&f.to_be_bytes());
        } else {
            out.push(0xcb);
            out.extend_from_slice(&d.to_be_bytes());
        }
    }
}

fn encode_int(out: &mut Vec<u8>, n: i64) {
    if n >= 0 {
        if n <= 127 {
            out.push(n as u8);
        } else if n <= 0xff {
            out.extend_from_slice(&[0xcc, n as u8]);
        } else if n <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2_147_483_648 {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn encode_header(out: &mut Vec<u8>, n: usize, fix: u8, sixteen: u8) {
    if n <= 15 {
        out.push(fix | n as u8);
    } else if n <= 0xffff {
        out.push(sixteen);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(sixteen + 1);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

fn encode_table(out: &mut Vec<u8>, t: &Table, level: u32) -> LibResult<()> {
    if let Some(len) = array_length(t)? {
        encode_header(out, len, 0x90, 0xdc);
        for j in 1..=len {
            let v: Value = t.raw_get(j)?;
            encode(out, &v, level + 1)?;
        }
    } else {
        // Count first, then encode while iterating: holding every key and value at once would
        // need one mlua reference slot each, and Lua 5.1 caps those near 8000 (a 100,000-key
        // map failed with "out of Lua stack").
        let mut n = 0usize;
        for pair in t.pairs::<Value, Value>() {
            pair?;
            n += 1;
        }
        encode_header(out, n, 0x80, 0xde);
        for pair in t.pairs::<Value, Value>() {
            let (k, v) = pair?;
            encode(out, &k, level + 1)?;
            encode(out, &v, level + 1)?;
        }
    }
    Ok(())
}

/// `table_is_an_array`: `Some(n)` when the keys are exactly 1..n (n may be 0).
fn array_length(t: &Table) -> LibResult<Option<usize>> {
    let (mut count, mut max) = (0i64, 0i64);
    for pair in t.pairs::<Value, Value>() {
        let (k, _) = pair?;
        let n = match k {
            Value::Integer(i) => i as f64,
            Value::Number(d) => d,
            _ => return Ok(None),
        };
        // The C code checks the key fits an int, through an x86 `(int)` cast.
        if n <= 0.0 || !(n.is_finite() && f64::from(c_f64_to_i32(n)) == n) {
            return Ok(None);
        }
        max = max.max(n as i64);
        count += 1;
    }
    Ok((max == count).then_some(count as usize))
}

// ---------------------------------------------------------------------------------------------
// Unpacking

/// `cmsgpack.unpack(s)`: every value in `s`.
fn unpack(lua: &Lua, args: Args) -> LibResult<Vec<Value>> {
    let data = args.check_bytes(1)?;
    unpack_full(lua, &data, 0, 0, args.len() as i64)
}

/// `cmsgpack.unpack_one(s [, offset])`: the next offset (-1 at the end), then one value.
fn unpack_one(lua: &Lua, args: Args) -> LibResult<Vec<Value>> {
    let offset = args.opt_integer(lua, 2, 0)?;
    let data = args.check_bytes(1)?;
    unpack_full(lua, &data, 1, offset, 1)
}

/// `cmsgpack.unpack_limit(s, limit [, offset])`: the next offset, then up to `limit` values.
fn unpack_limit(lua: &Lua, args: Args) -> LibResult<Vec<Value>> {
    let limit = args.check_integer(lua, 2)?;
    let offset = args.opt_integer(lua, 3, 0)?;
    let data = args.check_bytes(1)?;
    unpack_full(lua, &data, limit, offset, 1)
}

/// `mp_unpack_full`. `stack` is the Lua stack height before the first result (the arguments).
fn unpack_full(lua: &Lua, data: &[u8], limit: i64, offset: i64, stack: i64) -> LibResult<Vec<Value>> {
    let len = data.len();
    if offset < 0 || limit < 0 {
        // (The C code prints the input length where it means the limit.)
        return Err(raise(format!(
            "Invalid request to unpack with offset of {} and limit of {}.",
            offset as i32, len as i32
        )));
    }
    if offset as u64 > len as u64 {
        return Err(raise(format!(
            "Start offset {} greater than input length {}.",
            offset as i32, len as i32
        )));
    }
    let decode_all = limit == 0 && offset == 0;
    let limit = if decode_all { i64::from(i32::MAX) } else { limit };
    let mut cur = Cursor {
        lua,
        data,
        pos: offset as usize,
    };
    let mut values = Vec::new();
    while cur.pos < len && (values.len() as i64) < limit {
        match cur.decode(stack + values.len() as i64) {
            Ok(v) => values.push(v),
            Err(Failure::Eof) => return Err(raise("Missing bytes in input.")),
            Err(Failure::BadFormat) => return Err(raise("Bad data format in input.")),
            Err(Failure::Lib(e)) => return Err(e),
        }
    }
    if decode_all {
        return Ok(values);
    }
    if stack + values.len() as i64 + 1 > MAX_C_STACK {
        return Err(raise("stack overflow (in function mp_unpack_full)"));
    }
    let next = if cur.pos == len { -1.0 } else { cur.pos as f64 };
    values.insert(0, num(next));
    Ok(values)
}

enum Failure {
    /// The input ends inside a value.
    Eof,
    /// A byte that starts no supported type.
    BadFormat,
    /// An error raised right away (stack overflow, a nil table key...).
    Lib(LibError),
}

impl From<mlua::Error> for Failure {
    fn from(e: mlua::Error) -> Self {
        Failure::Lib(LibError::Lua(e))
    }
}

struct Cursor<'a> {
    lua: &'a Lua,
    data: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    /// The next `n` bytes, consumed.
    fn take(&mut self, n: usize) -> Result<&[u8], Failure> {
        if self.data.len() - self.pos < n {
            return Err(Failure::Eof);
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn be(&mut self, n: usize) -> Result<u64, Failure> {
        Ok(self.take(n)?.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    fn string(&mut self, n: usize) -> Result<Value, Failure> {
        let lua = self.lua;
        let s = self.take(n)?;
        Ok(Value::String(lua.create_string(s)?))
    }

    /// One value; `stack` is the Lua stack height the C code would have at this point, which
    /// bounds nesting like Lua's stack limit bounds the C code.
    fn decode(&mut self, stack: i64) -> Result<Value, Failure> {
        let Some(&tag) = self.data.get(self.pos) else {
            return Err(Failure::Eof);
        };
        if stack + 1 > MAX_C_STACK {
            return Err(Failure::Lib(raise(TOO_MANY)));
        }
        self.pos += 1;
        let v = match tag {
            0xcc => num(self.be(1)? as f64),
            0xcd => num(self.be(2)? as f64),
            0xce => num(self.be(4)? as f64),
            // lua_pushinteger of the unsigned value: above 2^63 it wraps negative.
            0xcf => num(self.be(8)? as i64 as f64),
            0xd0 => num(f64::from(self.be(1)? as u8 as i8)),
            0xd1 => num(f64::from(self.be(2)? as u16 as i16)),
            0xd2 => num(f64::from(self.be(4)? as u32 as i32)),
            0xd3 => num(self.be(8)? as i64 as f64),
            0xc0 => Value::Nil,
            0xc2 => Value::Boolean(false),
            0xc3 => Value::Boolean(true),
            0xca => num(f64::from(f32::from_bits(self.be(4)? as u32))),
            0xcb => num(f64::from_bits(self.be(8)?)),
            0xd9 => {
                let n = self.be(1)? as usize;
                self.string(n)?
            }
            0xda => {
                let n = self.be(2)? as usize;
                self.string(n)?
            }
            0xdb => {
                let n = self.be(4)? as usize;
                self.string(n)?
            }
            0xdc => {
                let n = self.be(2)? as usize;
                self.array(n, stack)?
            }
            0xdd => {
                let n = self.be(4)? as usize;
                self.array(n, stack)?
            }
            0xde => {
                let n = self.be(2)? as usize;
                self.map(n, stack)?
            }
            0xdf => {
                let n = self.be(4)? as usize;
                self.map(n, stack)?
            }
            t if t & 0x80 == 0 => num(f64::from(t)),
            t if t & 0xe0 == 0xe0 => num(f64::from(t as i8)),
            t if t & 0xe0 == 0xa0 => self.string(usize::from(t & 0x1f))?,
            t if t & 0xf0 == 0x90 => self.array(usize::from(t & 0xf), stack)?,
            t if t & 0xf0 == 0x80 => self.map(usize::from(t & 0xf), stack)?,
            _ => {
                self.pos -= 1;
                return Err(Failure::BadFormat);
            }
        };
        Ok(v)
    }

    fn array(&mut self, n: usize, stack: i64) -> Result<Value, Failure> {
        self.nested(|cur| cur.array_items(n, stack))
    }

    fn map(&mut self, n: usize, stack: i64) -> Result<Value, Failure> {
        self.nested(|cur| cur.map_items(n, stack))
    }

    /// Runs a table's decoding, reporting mlua running out of references as the C code reports
    /// running out of Lua stack (see `on_ref_overflow`).
    fn nested(&mut self, f: impl FnOnce(&mut Self) -> Result<Value, Failure>) -> Result<Value, Failure> {
        deeper(|| f(self)).map_err(|e| match e {
            Failure::Lib(e) => Failure::Lib(on_ref_overflow(e, || raise(TOO_MANY))),
            e => e,
        })
    }

    fn array_items(&mut self, n: usize, stack: i64) -> Result<Value, Failure> {
        // Stack: ... table, and the C code makes sure of one more slot.
        if stack + 2 > MAX_C_STACK {
            return Err(Failure::Lib(raise(
                "stack overflow (in function mp_decode_to_lua_array)",
            )));
        }
        let t = self.lua.create_table()?;
        for i in 1..=n {
            // Stack: ... table index
            let v = self.decode(stack + 2)?;
            t.raw_set(i, v)?;
        }
        Ok(Value::Table(t))
    }

    fn map_items(&mut self, n: usize, stack: i64) -> Result<Value, Failure> {
        let t = self.lua.create_table()?;
        for _ in 0..n {
            // Stack: ... table key value
            let k = deeper(|| self.decode(stack + 1))?;
            let v = self.decode(stack + 2)?;
            match k {
                Value::Nil => return Err(Failure::Lib(bare_error("table index is nil"))),
                Value::Number(d) if d.is_nan() => return Err(Failure::Lib(bare_error("table index is NaN"))),
                k => t.raw_set(k, v)?,
            }
        }
        Ok(Value::Table(t))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{eval, hex, lua};

    #[test]
    fn pack_types() {
        let lua = lua();
        let cases = [
            (
                "cmsgpack.pack(0, 127, 128, 255, 256, 65535, 65536)",
                "007fcc80ccffcd0100cdffffce00010000",
            ),
            (
                "cmsgpack.pack(2^32, -1, -32, -33, -128, -129, -32768, -32769)",
                "cf0000000100000000ffe0d0dfd080d1ff7fd18000d2ffff7fff",
            ),
            ("cmsgpack.pack(-2^31 - 1)", "d3ffffffff7fffffff"),
            ("cmsgpack.pack(1.5, 0.1)", "ca3fc00000cb3fb999999999999a"),
            ("cmsgpack.pack(1/0, 2^63)", "ca7f800000ca5f000000"),
            ("cmsgpack.pack(true, false, nil)", "c3c2c0"),
            ("cmsgpack.pack('abc')", "a3616263"),
            ("cmsgpack.pack(string.rep('x', 32)):sub(1, 2)", "d920"),
            ("cmsgpack.pack(string.rep('x', 256)):sub(1, 3)", "da0100"),
            ("cmsgpack.pack(string.rep('x', 65536)):sub(1, 5)", "db00010000"),
            ("cmsgpack.pack({})", "90"),
            ("cmsgpack.pack({1, 2, 3})", "93010203"),
            ("cmsgpack.pack({a = 1})", "81a16101"),
            ("cmsgpack.pack({[2] = 1})", "810201"),
            ("cmsgpack.pack({[1.5] = 1})", "81ca3fc0000001"),
            ("cmsgpack.pack(print)", "c0"),
            ("cmsgpack.pack(cjson.null)", "c0"),
        ];
        for (expr, want) in cases {
            assert_eq!(hex(&lua, expr), want, "{expr}");
        }
        // A cycle stops at 16 levels: 16 one-element arrays, then nil.
        let cyclic = hex(&lua, "(function() local t = {} t[1] = t return cmsgpack.pack(t) end)()");
        assert_eq!(cyclic, "91".repeat(16) + "c0");
    }

    #[test]
    fn big_map_round_trips() {
        // More keys than Lua 5.1 has reference slots (the suite's smoke test packs 100,000).
        let lua = lua();
        let expr = "(function() local m = {} for i = 1, 100000 do m[tostring(i)] = i end \
                    local u = cmsgpack.unpack(cmsgpack.pack(m)) local c = 0 \
                    for _ in pairs(u) do c = c + 1 end return c .. ',' .. u['777'] end)()";
        assert_eq!(eval(&lua, expr), "100000,777");
    }

    #[test]
    fn unpack_values() {
        let lua = lua();
        let cases = [
            ("cmsgpack.unpack(cmsgpack.pack(-33))", "-33"),
            ("select('#', cmsgpack.unpack(cmsgpack.pack(1, 2, 3)))", "3"),
            ("cmsgpack.unpack('\\207\\255\\255\\255\\255\\255\\255\\255\\255')", "-1"),
            ("cmsgpack.unpack('\\211\\255\\255\\255\\255\\255\\255\\255\\254')", "-2"),
            ("cmsgpack.unpack(cmsgpack.pack(0.1))", "0.10000000000000001"),
            ("cmsgpack.unpack(cmsgpack.pack(1.5))", "1.5"),
            ("cmsgpack.unpack(cmsgpack.pack('hello'))", "hello"),
            ("cmsgpack.unpack(cmsgpack.pack({1, 2, {3}}))[3][1]", "3"),
            ("cmsgpack.unpack(cmsgpack.pack({a = {b = 'c'}})).a.b", "c"),
            ("table.concat({cmsgpack.unpack_one(cmsgpack.pack(1, 2))}, ',')", "1,1"),
            (
                "table.concat({cmsgpack.unpack_one(cmsgpack.pack(1, 2), 1)}, ',')",
                "-1,2",
            ),
            (
                "table.concat({cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2)}, ',')",
                "2,1,2",
            ),
            (
                "table.concat({cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 0)}, ',')",
                "1,2,3",
            ),
            (
                "table.concat({cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 5, 1)}, ',')",
                "-1,2,3",
            ),
            ("select('#', cmsgpack.unpack(''))", "0"),
            ("cmsgpack.unpack(123)", "49"),
        ];
        for (expr, want) in cases {
            assert_eq!(eval(&lua, expr), want, "{expr}");
        }
    }

    #[test]
    fn errors() {
        let lua = lua();
        let cases = [
            (
                "cmsgpack.pack()",
                "bad argument #0 to 'pack' (MessagePack pack needs input.)",
            ),
            ("cmsgpack.unpack('\\196\\1a')", "Bad data format in input."),
            ("cmsgpack.unpack('\\147\\1')", "Missing bytes in input."),
            ("cmsgpack.unpack('\\205\\1')", "Missing bytes in input."),
            (
                "cmsgpack.unpack()",
                "bad argument #1 to 'unpack' (string expected, got no value)",
            ),
            (
                "cmsgpack.unpack_one('\\1', -1)",
                "Invalid request to unpack with offset of -1 and limit of 1.",
            ),
            (
                "cmsgpack.unpack_one('\\1', 5)",
                "Start offset 5 greater than input length 1.",
            ),
            (
                "cmsgpack.unpack_one('\\1', 'x')",
                "bad argument #2 to 'unpack_one' (number expected, got string)",
            ),
            (
                "cmsgpack.unpack_limit('\\1')",
                "bad argument #2 to 'unpack_limit' (number expected, got no value)",
            ),
            (
                "cmsgpack.unpack_limit('\\1', -1)",
                "Invalid request to unpack with offset of 0 and limit of 1.",
            ),
            (
                "cmsgpack.unpack(string.rep('\\1', 9000))",
                "stack overflow (too many return values at once; use unpack_one or unpack_limit instead.)",
            ),
            (
                "cmsgpack.unpack(string.rep('\\145', 5000))",
                "stack overflow (in function mp_decode_to_lua_array)",
            ),
        ];
        for (expr, want) in cases {
            assert_eq!(eval(&lua, expr), format!("error: user_script:1: {want}"), "{expr}");
        }
        // The Lua core's own error, raised inside the C function: no position.
        assert_eq!(
            eval(&lua, "cmsgpack.unpack('\\129\\192\\1')"),
            "error: table index is nil"
        );
    }
}
