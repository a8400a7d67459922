//! `bit`: LuaBitOp 1.0.2, 32-bit operations on Lua's doubles.
//!
//! An argument becomes 32 bits the way LuaBitOp does it: add 2^52+2^51 to the double and keep the
//! low 32 bits of its representation, which rounds to nearest-even and wraps modulo 2^32 (so
//! `bit.tobit(2^32 + 1) == 1` and `bit.tobit(1.5) == 2`). Results are signed 32-bit numbers.

use super::{arg_error, lib_function, module_table, num, Args, LibResult};
use mlua::{Lua, Table, Value};

/// Builds the `bit` table.
pub fn module(lua: &Lua) -> mlua::Result<Table> {
    type Op = fn(&Lua, &Args) -> LibResult<u32>;
    let ops: [(&str, Op); 11] = [
        ("tobit", |lua, a| barg(lua, a, 1)),
        ("bnot", |lua, a| Ok(!barg(lua, a, 1)?)),
        ("band", |lua, a| fold(lua, a, |x, y| x & y)),
        ("bor", |lua, a| fold(lua, a, |x, y| x | y)),
        ("bxor", |lua, a| fold(lua, a, |x, y| x ^ y)),
        ("lshift", |lua, a| shift(lua, a, |b, n| b << n)),
        ("rshift", |lua, a| shift(lua, a, |b, n| b >> n)),
        ("arshift", |lua, a| shift(lua, a, |b, n| ((b as i32) >> n) as u32)),
        ("rol", |lua, a| shift(lua, a, |b, n| b.rotate_left(n))),
        ("ror", |lua, a| shift(lua, a, |b, n| b.rotate_right(n))),
        ("bswap", |lua, a| Ok(barg(lua, a, 1)?.swap_bytes())),
    ];
    let mut functions = Vec::new();
    for (name, op) in ops {
        functions.push((
            name,
            lib_function(lua, move |lua, args| Ok(vec![bret(op(lua, &args)?)]))?,
        ));
    }
    functions.push(("tohex", lib_function(lua, tohex)?));
    module_table(lua, functions, &[])
}

/// LuaBitOp's `barg`: argument `n` as 32 bits.
fn barg(lua: &Lua, args: &Args, n: usize) -> LibResult<u32> {
    let d = args.to_number(lua, n)?;
    let b = tobit(d.unwrap_or(0.0));
    if b == 0 && d.is_none() {
        return Err(arg_error(
            n as i32,
            format!("number expected, got {}", args.type_name(n)),
        ));
    }
    Ok(b)
}

/// The 2^52+2^51 trick: the low word of the sum's bits is the number modulo 2^32.
pub(crate) fn tobit(d: f64) -> u32 {
    (d + 6_755_399_441_055_744.0).to_bits() as u32
}

/// Results are pushed as signed 32-bit numbers.
fn bret(b: u32) -> Value {
    num(b as i32 as f64)
}

fn fold(lua: &Lua, args: &Args, op: fn(u32, u32) -> u32) -> LibResult<u32> {
    let mut b = barg(lua, args, 1)?;
    // LuaBitOp reads the arguments from the last one down.
    for i in (2..=args.len()).rev() {
        b = op(b, barg(lua, args, i)?);
    }
    Ok(b)
}

fn shift(lua: &Lua, args: &Args, op: fn(u32, u32) -> u32) -> LibResult<u32> {
    let b = barg(lua, args, 1)?;
    let n = barg(lua, args, 2)? & 31;
    Ok(op(b, n))
}

/// `bit.tohex(x [, n])`: the low `|n|` hex digits (default 8, at most 8), upper case when n < 0.
fn tohex(lua: &Lua, args: Args) -> LibResult<Vec<Value>> {
    let mut b = barg(lua, &args, 1)?;
    let mut n: i32 = if args.is_none(2) {
        8
    } else {
        barg(lua, &args, 2)? as i32
    };
    let mut digits: &[u8; 16] = b"0123456789abcdef";
    if n < 0 {
        n = n.wrapping_neg();
        digits = b"0123456789ABCDEF";
    }
    // -(-2^31) stays negative in C too, and then no digit is written.
    let n = n.clamp(0, 8) as usize;
    let mut buf = [0u8; 8];
    for slot in buf[..n].iter_mut().rev() {
        *slot = digits[(b & 15) as usize];
        b >>= 4;
    }
    Ok(vec![Value::String(lua.create_string(&buf[..n])?)])
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{eval, lua};

    #[test]
    fn operations() {
        let lua = lua();
        let cases = [
            ("bit.tobit(0xffffffff)", "-1"),
            ("bit.tobit(2^32 + 1)", "1"),
            ("bit.tobit(1.5)", "2"),
            ("bit.tobit(2.5)", "2"),
            ("bit.tobit(-1.5)", "-2"),
            ("bit.tobit('16')", "16"),
            ("bit.bnot(0)", "-1"),
            ("bit.band(0xff, 0x0f, 0x3)", "3"),
            ("bit.bor(1, 2, 4, 8)", "15"),
            ("bit.bxor(0xff, 0x0f)", "240"),
            ("bit.lshift(1, 31)", "-2147483648"),
            ("bit.lshift(1, 33)", "2"),
            ("bit.rshift(-1, 28)", "15"),
            ("bit.arshift(-256, 4)", "-16"),
            ("bit.rol(0x80000001, 1)", "3"),
            ("bit.ror(3, 1)", "-2147483647"),
            ("bit.rol(5, 0)", "5"),
            ("bit.bswap(0x12345678)", "2018915346"),
            ("bit.tohex(255)", "000000ff"),
            ("bit.tohex(255, 2)", "ff"),
            ("bit.tohex(255, -4)", "00FF"),
            ("bit.tohex(-1, 12)", "ffffffff"),
            ("bit.tohex(1, 0)", ""),
            ("bit.tohex(0x7fffffff, -2^31)", ""),
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
                "bit.tobit()",
                "error: user_script:1: bad argument #1 to 'tobit' (number expected, got no value)",
            ),
            (
                "bit.band(1, 'x')",
                "error: user_script:1: bad argument #2 to 'band' (number expected, got string)",
            ),
            (
                "bit.lshift(1)",
                "error: user_script:1: bad argument #2 to 'lshift' (number expected, got no value)",
            ),
            (
                "bit.tohex(1, nil)",
                "error: user_script:1: bad argument #2 to 'tohex' (number expected, got nil)",
            ),
            (
                "bit.bor({})",
                "error: user_script:1: bad argument #1 to 'bor' (number expected, got table)",
            ),
        ];
        for (expr, want) in cases {
            assert_eq!(eval(&lua, expr), want, "{expr}");
        }
    }
}
