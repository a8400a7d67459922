//! `struct`: Roberto Ierusalimschy's binary packing library, as Redis bundles it.
//!
//! Formats: `>` big endian, `<` little endian, `!n` alignment (default 8), `x` a pad byte,
//! `b`/`B` char, `h`/`H` short, `l`/`L` long, `T` size_t, `i[n]`/`I[n]` int of n bytes (default 4,
//! at most 32), `f` float, `d` double, `s` a NUL-terminated string, `c[n]` n chars (`c0`: the
//! string's length when packing, the previous number when unpacking); spaces are ignored. The
//! native layout is x86-64's: little endian, long and size_t of 8 bytes. Integers go through a
//! 64-bit value as in C, so sizes above 8 bytes keep only 64 bits of information.

use super::{arg_error, c_f64_to_i64, c_f64_to_u64, c_str, lib_function, module_table, num, raise};
use super::{Args, LibResult, MAX_C_STACK};
use mlua::{Lua, Table, Value};

const MAXINTSIZE: i64 = 32;
/// Alignment `!` with no number: the maximum alignment of x86-64's basic types.
const MAXALIGN: i64 = 8;

/// Builds the `struct` table.
pub fn module(lua: &Lua) -> mlua::Result<Table> {
    let functions = vec![
        ("pack", lib_function(lua, pack)?),
        ("unpack", lib_function(lua, unpack)?),
        ("size", lib_function(lua, size)?),
    ];
    module_table(lua, functions, &[])
}

/// Byte order and alignment, changed by the `<`, `>` and `!` options.
struct Header {
    little: bool,
    align: usize,
}

impl Header {
    fn new() -> Header {
        Header { little: true, align: 1 }
    }
}

/// A format string being read: C stops at its first NUL.
struct Format<'a> {
    fmt: &'a [u8],
    pos: usize,
}

impl Format<'_> {
    fn next(&mut self) -> Option<u8> {
        let c = *self.fmt.get(self.pos)?;
        self.pos += 1;
        Some(c)
    }

    /// `getnum`: a decimal number at the cursor, or `default`.
    fn number(&mut self, default: i64) -> LibResult<i64> {
        if !self.fmt.get(self.pos).is_some_and(u8::is_ascii_digit) {
            return Ok(default);
        }
        let mut a: i64 = 0;
        while let Some(&c) = self.fmt.get(self.pos).filter(|c| c.is_ascii_digit()) {
            let d = i64::from(c - b'0');
            if a > i64::from(i32::MAX) / 10 || a * 10 > i64::from(i32::MAX) - d {
                return Err(raise("integral size overflow"));
            }
            a = a * 10 + d;
            self.pos += 1;
        }
        Ok(a)
    }

    /// `optsize`: the size of option `opt` (0 for options without one), reading its number.
    fn size_of(&mut self, opt: u8) -> LibResult<usize> {
        Ok(match opt {
            b'B' | b'b' | b'x' => 1,
            b'H' | b'h' => 2,
            b'L' | b'l' | b'T' | b'd' => 8,
            b'f' => 4,
            b'c' => self.number(1)? as usize,
            b'i' | b'I' => {
                let sz = self.number(4)?;
                if sz > MAXINTSIZE {
                    return Err(raise(format!(
                        "integral size {sz} is larger than limit of {MAXINTSIZE}"
                    )));
                }
                sz as usize
            }
            _ => 0,
        })
    }

    /// `controloptions`: endianness, alignment and spaces; anything else is invalid.
    fn control(&mut self, opt: u8, h: &mut Header) -> LibResult<()> {
        match opt {
            b' ' => {}
            b'>' => h.little = false,
            b'<' => h.little = true,
            b'!' => {
                let a = self.number(MAXALIGN)?;
                if !(a > 0 && a & (a - 1) == 0) {
                    return Err(raise(format!("alignment {a} is not a power of 2")));
                }
                h.align = a as usize;
            }
            _ => {
                let mut msg = b"invalid format option '".to_vec();
                msg.push(opt);
                msg.push(b'\'');
                return Err(arg_error(1, msg));
            }
        }
        Ok(())
    }
}

/// `gettoalign`: padding before an item of `size` bytes at offset `len` (C's unsigned arithmetic,
/// even for sizes that are no power of 2).
fn to_align(len: usize, h: &Header, opt: u8, size: usize) -> usize {
    if size == 0 || opt == b'c' {
        return 0;
    }
    let size = size.min(h.align);
    size.wrapping_sub(len & size.wrapping_sub(1)) & size.wrapping_sub(1)
}

fn format_arg(args: &Args) -> LibResult<Vec<u8>> {
    Ok(c_str(&args.check_bytes(1)?).to_vec())
}

/// `struct.pack(fmt, ...)`.
fn pack(lua: &Lua, mut args: Args) -> LibResult<Vec<Value>> {
    let fmt_bytes = format_arg(&args)?;
    // The C code pushes a nil above the arguments, which a missing argument then reads as.
    args.0.push(Value::Nil);
    let mut fmt = Format {
        fmt: &fmt_bytes,
        pos: 0,
    };
    let mut h = Header::new();
    let mut arg = 2;
    let mut out: Vec<u8> = Vec::new();
    let mut total: usize = 0;
    while let Some(opt) = fmt.next() {
        let mut size = fmt.size_of(opt)?;
        let pad = to_align(total, &h, opt, size);
        total = total.wrapping_add(pad);
        out.resize(out.len() + pad, 0);
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let n = args.check_number(lua, arg)?;
                arg += 1;
                let mut value = if n < 0.0 {
                    c_f64_to_i64(n) as u64
                } else {
                    c_f64_to_u64(n)
                };
                let mut bytes = vec![0u8; size];
                for i in 0..size {
                    let slot = if h.little { i } else { size - 1 - i };
                    bytes[slot] = value as u8;
                    value >>= 8;
                }
                out.extend_from_slice(&bytes);
            }
            b'x' => out.push(0),
            b'f' => {
                let f = args.check_number(lua, arg)? as f32;
                arg += 1;
                out.extend_from_slice(&if h.little { f.to_le_bytes() } else { f.to_be_bytes() });
            }
            b'd' => {
                let d = args.check_number(lua, arg)?;
                arg += 1;
                out.extend_from_slice(&if h.little { d.to_le_bytes() } else { d.to_be_bytes() });
            }
            b'c' | b's' => {
                let s = args.check_bytes(arg)?;
                arg += 1;
                if size == 0 {
                    size = s.len();
                }
                if s.len() < size {
                    // The C code has already moved to the next argument when it checks.
                    return Err(arg_error(arg as i32, "string too short"));
                }
                out.extend_from_slice(&s[..size]);
                if opt == b's' {
                    out.push(0);
                    size += 1;
                }
            }
            _ => fmt.control(opt, &mut h)?,
        }
        total = total.wrapping_add(size);
    }
    Ok(vec![Value::String(lua.create_string(&out)?)])
}

/// `getinteger`: `size` bytes as a number, through a 64-bit value as the C code does.
fn get_integer(bytes: &[u8], little: bool, signed: bool) -> f64 {
    let size = bytes.len();
    let mut l: u64 = 0;
    for i in 0..size {
        let b = if little { bytes[size - 1 - i] } else { bytes[i] };
        l = (l << 8) | u64::from(b);
    }
    if !signed {
        return l as f64;
    }
    // C shifts by size*8-1, which x86 takes modulo 64 (sizes above 8 give odd masks; so be it).
    let mask = u64::MAX.wrapping_shl((size as u32).wrapping_mul(8).wrapping_sub(1));
    if l & mask != 0 {
        l |= mask;
    }
    l as i64 as f64
}

/// `struct.unpack(fmt, data [, pos])`: the values, then the position after them.
fn unpack(lua: &Lua, args: Args) -> LibResult<Vec<Value>> {
    let fmt_bytes = format_arg(&args)?;
    let data = args.check_bytes(2)?;
    let ld = data.len();
    let start = args.opt_integer(lua, 3, 1)? as u64 as usize;
    if start == 0 {
        return Err(arg_error(3, "offset must be 1 or greater"));
    }
    let mut pos = start - 1;
    let mut fmt = Format {
        fmt: &fmt_bytes,
        pos: 0,
    };
    let mut h = Header::new();
    let mut out: Vec<Value> = Vec::new();
    let base = args.len() as i64;
    while let Some(opt) = fmt.next() {
        let mut size = fmt.size_of(opt)?;
        pos = pos.wrapping_add(to_align(pos, &h, opt, size));
        if !(size <= ld && pos <= ld - size) {
            return Err(arg_error(2, "data string too short"));
        }
        if base + out.len() as i64 + 2 > MAX_C_STACK {
            return Err(raise("stack overflow (too many results)"));
        }
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let signed = opt.is_ascii_lowercase();
                out.push(num(get_integer(&data[pos..pos + size], h.little, signed)));
            }
            b'x' => {}
            b'f' => {
                let mut b = [0u8; 4];
                b.copy_from_slice(&data[pos..pos + 4]);
                let f = if h.little {
                    f32::from_le_bytes(b)
                } else {
                    f32::from_be_bytes(b)
                };
                out.push(num(f64::from(f)));
            }
            b'd' => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&data[pos..pos + 8]);
                out.push(num(if h.little {
                    f64::from_le_bytes(b)
                } else {
                    f64::from_be_bytes(b)
                }));
            }
            b'c' => {
                if size == 0 {
                    // The size is the previous result, which must read as a number.
                    let prev = match out.last() {
                        Some(v) => super::to_number(lua, v)?,
                        None => None,
                    };
                    let Some(n) = prev else {
                        return Err(raise("format 'c0' needs a previous size"));
                    };
                    size = c_f64_to_u64(n) as usize;
                    out.pop();
                    if !(size <= ld && pos <= ld - size) {
                        return Err(arg_error(2, "data string too short"));
                    }
                }
                out.push(Value::String(lua.create_string(&data[pos..pos + size])?));
            }
            b's' => {
                let Some(len) = data[pos..].iter().position(|&b| b == 0) else {
                    return Err(raise("unfinished string in data"));
                };
                size = len + 1;
                out.push(Value::String(lua.create_string(&data[pos..pos + len])?));
            }
            _ => fmt.control(opt, &mut h)?,
        }
        pos = pos.wrapping_add(size);
    }
    out.push(num(pos.wrapping_add(1) as i64 as f64));
    Ok(out)
}

/// `struct.size(fmt)`: the packed size of a format without variable-length items.
fn size(_lua: &Lua, args: Args) -> LibResult<Vec<Value>> {
    let fmt_bytes = format_arg(&args)?;
    let mut fmt = Format {
        fmt: &fmt_bytes,
        pos: 0,
    };
    let mut h = Header::new();
    let mut pos: usize = 0;
    while let Some(opt) = fmt.next() {
        let size = fmt.size_of(opt)?;
        pos = pos.wrapping_add(to_align(pos, &h, opt, size));
        if opt == b's' {
            return Err(arg_error(1, "option 's' has no fixed size"));
        } else if opt == b'c' && size == 0 {
            return Err(arg_error(1, "option 'c0' has no fixed size"));
        }
        if !opt.is_ascii_alphanumeric() {
            fmt.control(opt, &mut h)?;
        }
        pos = pos.wrapping_add(size);
    }
    Ok(vec![num(pos as i64 as f64)])
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{eval, hex, lua};

    #[test]
    fn pack_formats() {
        let lua = lua();
        let cases = [
            ("struct.pack('>I2', 258)", "0102"),
            ("struct.pack('<I2', 258)", "0201"),
            ("struct.pack('i', -2)", "feffffff"),
            ("struct.pack('>i3', -2)", "fffffe"),
            ("struct.pack('bBhH', -1, 255, -2, 65535)", "fffffeffffff"),
            ("struct.pack('>l', 1)", "0000000000000001"),
            ("struct.pack('T', 5)", "0500000000000000"),
            ("struct.pack('>i10', -1)", "0000ffffffffffffffff"),
            ("struct.pack('>f', 1.5)", "3fc00000"),
            ("struct.pack('<d', -2)", "00000000000000c0"),
            ("struct.pack('s', 'ab')", "616200"),
            ("struct.pack('c3', 'abcdef')", "616263"),
            ("struct.pack('c0', 'abcdef')", "616263646566"),
            ("struct.pack('bxb', 1, 2)", "010002"),
            ("struct.pack('!4 b i', 1, 2)", "0100000002000000"),
            ("struct.pack('!bd', 1, 0)", "01000000000000000000000000000000"),
            ("struct.pack('>I', 2^32 + 7)", "00000007"),
            ("struct.pack('>I', '12')", "0000000c"),
        ];
        for (expr, want) in cases {
            assert_eq!(hex(&lua, expr), want, "{expr}");
        }
    }

    #[test]
    fn unpack_and_size() {
        let lua = lua();
        let cases = [
            ("table.concat({struct.unpack('>I2', '\\1\\2')}, ',')", "258,3"),
            ("table.concat({struct.unpack('<i2', '\\254\\255')}, ',')", "-2,3"),
            ("table.concat({struct.unpack('>i3', '\\255\\255\\254')}, ',')", "-2,4"),
            ("table.concat({struct.unpack('s', 'ab\\0cd')}, ',')", "ab,4"),
            ("table.concat({struct.unpack('bc0', '\\3abcde')}, ',')", "abc,5"),
            ("table.concat({struct.unpack('c2', 'abcd', 3)}, ',')", "cd,5"),
            (
                "table.concat({struct.unpack('>d', struct.pack('>d', 0.1))}, ',')",
                "0.1,9",
            ),
            (
                "table.concat({struct.unpack('f', struct.pack('f', 0.5))}, ',')",
                "0.5,5",
            ),
            (
                "table.concat({struct.unpack('!4 b i', struct.pack('!4 b i', 1, 2))}, ',')",
                "1,2,9",
            ),
            ("table.concat({struct.unpack('', 'x', -1)}, ',')", "-1"),
            ("struct.size('>iIhHbBlLTfdx')", "51"),
            ("struct.size('!8 b d')", "16"),
            ("struct.size('c5 z')", "5"),
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
                "struct.pack('q', 1)",
                "bad argument #1 to 'pack' (invalid format option 'q')",
            ),
            (
                "struct.pack('i', 'x')",
                "bad argument #2 to 'pack' (number expected, got string)",
            ),
            (
                "struct.pack('ii', 1)",
                "bad argument #3 to 'pack' (number expected, got nil)",
            ),
            (
                "struct.pack('c5', 'ab')",
                "bad argument #3 to 'pack' (string too short)",
            ),
            (
                "struct.pack('s', {})",
                "bad argument #2 to 'pack' (string expected, got table)",
            ),
            ("struct.pack('i33', 1)", "integral size 33 is larger than limit of 32"),
            ("struct.pack('!3', 1)", "alignment 3 is not a power of 2"),
            ("struct.pack('i99999999999', 1)", "integral size overflow"),
            (
                "struct.pack()",
                "bad argument #1 to 'pack' (string expected, got no value)",
            ),
            (
                "struct.unpack('i', 'abc')",
                "bad argument #2 to 'unpack' (data string too short)",
            ),
            (
                "struct.unpack('i', 'abcd', 0)",
                "bad argument #3 to 'unpack' (offset must be 1 or greater)",
            ),
            (
                "struct.unpack('i', 'abcd', -1)",
                "bad argument #2 to 'unpack' (data string too short)",
            ),
            ("struct.unpack('c0', 'abcd')", "format 'c0' needs a previous size"),
            (
                "struct.unpack('bc0', '\\9abcd')",
                "bad argument #2 to 'unpack' (data string too short)",
            ),
            ("struct.unpack('s', 'abcd')", "unfinished string in data"),
            (
                "struct.unpack('q', 'abcd')",
                "bad argument #1 to 'unpack' (invalid format option 'q')",
            ),
            (
                "struct.size('s')",
                "bad argument #1 to 'size' (option 's' has no fixed size)",
            ),
            (
                "struct.size('c0')",
                "bad argument #1 to 'size' (option 'c0' has no fixed size)",
            ),
            (
                "struct.size('?')",
                "bad argument #1 to 'size' (invalid format option '?')",
            ),
        ];
        for (expr, want) in cases {
            assert_eq!(eval(&lua, expr), format!("error: user_script:1: {want}"), "{expr}");
        }
        // Many results stop at the Lua stack limit instead of overflowing it.
        let many = eval(&lua, "struct.unpack(string.rep('b', 9000), string.rep('a', 9000))");
        assert_eq!(many, "error: user_script:1: stack overflow (too many results)");
    }
}
