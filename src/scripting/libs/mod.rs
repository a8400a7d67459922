//! The Lua libraries Redis 7.0 preloads into its scripting environment, written in Rust on mlua:
//! [`cjson`], [`cmsgpack`], [`bit`] (LuaBitOp) and [`structlib`] (Roberto's `struct`).
//!
//! Each behaves like the C library Redis bundles, down to its output bytes and error texts,
//! including the C code's quirks (argument numbers in its messages, integer wrap-around, x86
//! conversion of out-of-range doubles), because scripts and their tests observe them.
//!
//! # Errors are Lua strings
//! A plain mlua callback raises its errors as an mlua userdata, which a script's `pcall` would
//! hand back as a userdata instead of the message string the C library raises. So every library
//! function is built by [`lib_function`]: the Rust body returns its error as a value, and a small
//! C trampoline (the function Lua actually calls) raises it as the C library would, message for
//! message: `luaL_error` prefixes the calling script's position ("user_script:1: "), and
//! `luaL_argerror` also names the function the way Lua does ("bad argument #1 to 'encode' (...)").
//!
//! # Depth
//! The C libraries recurse on the C stack and stop at the Lua stack limit (`LUAI_MAXCSTACK`,
//! 8000 slots) or their own depth limits; the Rust code models the same slot counts, so its
//! recursion is bounded the same way and hits the same errors at the same depth; [`deeper`] keeps
//! that recursion off the end of the native stack.

pub mod bit;
pub mod cjson;
pub mod cmsgpack;
pub mod structlib;

#[cfg(test)]
mod difftest;

use mlua::{ffi, Function, LightUserData, Lua, MultiValue, Table, Value};
use std::os::raw::{c_int, c_void};

/// Installs the global tables `cjson`, `cmsgpack`, `bit` and `struct`.
pub fn register_all(lua: &Lua) -> mlua::Result<()> {
    let globals = lua.globals();
    globals.set("cjson", cjson::module(lua)?)?;
    globals.set("cmsgpack", cmsgpack::module(lua)?)?;
    globals.set("bit", bit::module(lua)?)?;
    globals.set("struct", structlib::module(lua)?)?;
    Ok(())
}

/// Lua 5.1's limit on the stack slots a C function may use (`LUAI_MAXCSTACK`).
pub(crate) const MAX_C_STACK: i64 = 8000;

/// How a library function fails.
pub(crate) enum LibError {
    /// `luaL_error`: raise this message after the caller's position ("user_script:1: ").
    Raise(Vec<u8>),
    /// `lua_error` of the bare message, as the Lua core raises errors inside a C function
    /// ("table index is nil").
    Bare(Vec<u8>),
    /// `luaL_argerror(narg, msg)`: "bad argument #narg to 'name' (msg)".
    Arg(i32, Vec<u8>),
    /// An error of mlua itself (out of memory...), raised as mlua raises it.
    Lua(mlua::Error),
}

impl From<mlua::Error> for LibError {
    fn from(e: mlua::Error) -> Self {
        LibError::Lua(e)
    }
}

pub(crate) type LibResult<T> = Result<T, LibError>;

pub(crate) fn raise(msg: impl Into<Vec<u8>>) -> LibError {
    LibError::Raise(msg.into())
}

pub(crate) fn bare_error(msg: impl Into<Vec<u8>>) -> LibError {
    LibError::Bare(msg.into())
}

pub(crate) fn arg_error(narg: i32, msg: impl Into<Vec<u8>>) -> LibError {
    LibError::Arg(narg, msg.into())
}

/// Marks a returned value list as an error to raise (see the module doc).
static ERROR_MARK: u8 = 0;

fn error_mark() -> Value {
    Value::LightUserData(LightUserData(&ERROR_MARK as *const u8 as *mut c_void))
}

/// Calls the Rust body (upvalue 1) with this call's arguments and returns its results, or raises
/// the error it returned. No Rust value with a destructor lives in this frame, so `lua_error`'s
/// longjmp over it is sound.
unsafe extern "C-unwind" fn trampoline(state: *mut ffi::lua_State) -> c_int {
    let nargs = ffi::lua_gettop(state);
    ffi::lua_pushvalue(state, ffi::lua_upvalueindex(1));
    ffi::lua_insert(state, 1);
    ffi::lua_call(state, nargs, ffi::LUA_MULTRET);
    let nres = ffi::lua_gettop(state);
    if nres >= 2
        && ffi::lua_type(state, 1) == ffi::LUA_TLIGHTUSERDATA
        && ffi::lua_touserdata(state, 1) == &ERROR_MARK as *const u8 as *mut c_void
    {
        if nres >= 3 {
            if ffi::lua_type(state, 3) == ffi::LUA_TNUMBER {
                let narg = ffi::lua_tonumber(state, 3) as c_int;
                let msg = ffi::lua_tolstring(state, 2, std::ptr::null_mut());
                ffi::luaL_argerror(state, narg, msg);
            }
            ffi::lua_settop(state, 2);
            ffi::lua_error(state);
        }
        // luaL_error: the position of the Lua code that called us, then the message.
        ffi::lua_settop(state, 2);
        ffi::luaL_where(state, 1);
        ffi::lua_insert(state, 2);
        ffi::lua_concat(state, 2);
        ffi::lua_error(state);
    }
    nres
}

/// Makes a Lua function from a Rust body whose errors Lua sees as the C library's plain strings.
pub(crate) fn lib_function<F>(lua: &Lua, body: F) -> mlua::Result<Function>
where
    F: Fn(&Lua, Args) -> LibResult<Vec<Value>> + mlua::MaybeSend + 'static,
{
    let inner = lua.create_function(move |lua, args: MultiValue| {
        let values = match body(lua, Args(args.into_vec())) {
            Ok(values) => values,
            Err(LibError::Lua(e)) => return Err(e),
            Err(LibError::Raise(msg)) => vec![error_mark(), Value::String(lua.create_string(msg)?)],
            Err(LibError::Bare(msg)) => {
                vec![
                    error_mark(),
                    Value::String(lua.create_string(msg)?),
                    Value::Boolean(false),
                ]
            }
            Err(LibError::Arg(narg, msg)) => vec![
                error_mark(),
                Value::String(lua.create_string(msg)?),
                Value::Number(narg as f64),
            ],
        };
        Ok(MultiValue::from_vec(values))
    })?;
    // SAFETY: the closure pops the one pushed argument (the body) as the closure's upvalue and
    // leaves exactly the new C closure on the stack.
    unsafe { lua.exec_raw::<Function>(inner, |state| ffi::lua_pushcclosure(state, trampoline, 1)) }
}

/// A table of library functions, plus string fields (`_NAME`, `_VERSION`...).
pub(crate) fn module_table(
    lua: &Lua,
    functions: Vec<(&str, Function)>,
    fields: &[(&str, &str)],
) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    for (name, f) in functions {
        t.raw_set(name, f)?;
    }
    for (name, value) in fields {
        t.raw_set(*name, *value)?;
    }
    Ok(t)
}

/// A library function's arguments, read with the Lua C API's rules (`luaL_check*`).
pub(crate) struct Args(pub(crate) Vec<Value>);

impl Args {
    /// `lua_gettop`.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Argument `n` (1-based); `Nil` for one not passed.
    pub(crate) fn get(&self, n: usize) -> &Value {
        self.0.get(n.wrapping_sub(1)).unwrap_or(&Value::Nil)
    }

    /// `lua_isnone`.
    pub(crate) fn is_none(&self, n: usize) -> bool {
        n == 0 || n > self.0.len()
    }

    /// `lua_isnoneornil`.
    pub(crate) fn is_none_or_nil(&self, n: usize) -> bool {
        matches!(self.get(n), Value::Nil)
    }

    /// `luaL_typename`.
    pub(crate) fn type_name(&self, n: usize) -> &'static str {
        if self.is_none(n) {
            "no value"
        } else {
            type_name(self.get(n))
        }
    }

    fn type_error(&self, n: usize, expected: &str) -> LibError {
        arg_error(n as i32, format!("{expected} expected, got {}", self.type_name(n)))
    }

    /// `lua_tonumber` (strings that read as numbers convert); `None` when it is no number.
    pub(crate) fn to_number(&self, lua: &Lua, n: usize) -> LibResult<Option<f64>> {
        to_number(lua, self.get(n))
    }

    /// `luaL_checknumber`.
    pub(crate) fn check_number(&self, lua: &Lua, n: usize) -> LibResult<f64> {
        match self.to_number(lua, n)? {
            Some(d) => Ok(d),
            None => Err(self.type_error(n, "number")),
        }
    }

    /// `luaL_checkinteger`: the number truncated as Lua 5.1 does on x86-64 (a C cast).
    pub(crate) fn check_integer(&self, lua: &Lua, n: usize) -> LibResult<i64> {
        Ok(c_f64_to_i64(self.check_number(lua, n)?))
    }

    /// `luaL_optinteger`.
    pub(crate) fn opt_integer(&self, lua: &Lua, n: usize, default: i64) -> LibResult<i64> {
        if self.is_none_or_nil(n) {
            Ok(default)
        } else {
            self.check_integer(lua, n)
        }
    }

    /// `luaL_checklstring`: a string, or a number converted as Lua does ("%.14g").
    pub(crate) fn check_bytes(&self, n: usize) -> LibResult<Vec<u8>> {
        match self.get(n) {
            Value::String(s) => Ok(s.as_bytes().to_vec()),
            Value::Integer(i) => Ok(fmt_g(*i as f64, 14).into_bytes()),
            Value::Number(d) => Ok(fmt_g(*d, 14).into_bytes()),
            _ => Err(self.type_error(n, "string")),
        }
    }
}

/// `lua_typename(lua_type(v))`.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Nil => "nil",
        Value::Boolean(_) => "boolean",
        Value::Integer(_) | Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Table(_) => "table",
        Value::Function(_) => "function",
        Value::Thread(_) => "thread",
        _ => "userdata",
    }
}

/// `lua_tonumber`: numbers, and strings Lua reads as numbers.
pub(crate) fn to_number(lua: &Lua, v: &Value) -> LibResult<Option<f64>> {
    Ok(match v {
        Value::Integer(i) => Some(*i as f64),
        Value::Number(d) => Some(*d),
        Value::String(_) => lua.coerce_number(v.clone())?,
        _ => None,
    })
}

/// A double as a Lua value (Lua 5.1 has no integer subtype).
pub(crate) fn num(d: f64) -> Value {
    Value::Number(d)
}

/// Runs one level of a recursion over nested tables with enough native stack: the Lua stack
/// limit lets nesting reach thousands of levels, more than a small thread stack holds, so the
/// stack grows on the heap when less than 64 KiB is left.
pub(crate) fn deeper<R>(f: impl FnOnce() -> R) -> R {
    stacker::maybe_grow(64 * 1024, 1024 * 1024, f)
}

/// mlua keeps every Lua value Rust holds in a reference stack bounded like Lua's own (8000
/// slots), and a recursion over nested tables holds about as many per level as the C library
/// holds on its Lua stack. So running out of it means the nesting the C library would refuse
/// (or nearly: mlua holds a few references of its own): the recursion reports `nesting` then.
pub(crate) fn on_ref_overflow(e: LibError, nesting: impl FnOnce() -> LibError) -> LibError {
    match e {
        LibError::Lua(mlua::Error::StackError) => nesting(),
        e => e,
    }
}

/// 2^63.
const TWO63: f64 = 9_223_372_036_854_775_808.0;

/// C's `(int64_t)d` as x86-64 computes it: truncation, and `INT64_MIN` when out of range or NaN.
pub(crate) fn c_f64_to_i64(d: f64) -> i64 {
    if (-TWO63..TWO63).contains(&d) {
        d as i64
    } else {
        i64::MIN
    }
}

/// C's `(int)d` as x86-64 computes it: truncation, and `INT_MIN` when out of range or NaN.
pub(crate) fn c_f64_to_i32(d: f64) -> i32 {
    if d > -2_147_483_649.0 && d < 2_147_483_648.0 {
        d as i32
    } else {
        i32::MIN
    }
}

/// C's `(uint64_t)d` as gcc compiles it on x86-64 (values from 2^63 up go through a subtraction
/// of 2^63; the rest through the signed conversion).
pub(crate) fn c_f64_to_u64(d: f64) -> u64 {
    if d >= TWO63 {
        (c_f64_to_i64(d - TWO63) as u64) ^ (1 << 63)
    } else {
        c_f64_to_i64(d) as u64
    }
}

/// C's `printf("%.<precision>g", d)`, which Lua (`%.14g`) and cjson format numbers with.
pub(crate) fn fmt_g(d: f64, precision: i32) -> String {
    let mut buf = [0u8; 64];
    let fmt = format!("%.{}g\0", precision.clamp(0, 40));
    // SAFETY: the format is NUL-terminated and takes one double; snprintf writes at most
    // buf.len() bytes including the terminator, and "%.40g" of any double fits in 64 bytes
    // except huge fixed notation, which %g never produces (it switches to exponents).
    let n = unsafe {
        libc::snprintf(
            buf.as_mut_ptr() as *mut libc::c_char,
            buf.len(),
            fmt.as_ptr() as *const libc::c_char,
            d,
        )
    };
    let n = (n.max(0) as usize).min(buf.len() - 1);
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// Bytes up to the first NUL: what C code sees of a Lua string it reads as `const char *`.
pub(crate) fn c_str(bytes: &[u8]) -> &[u8] {
    match bytes.iter().position(|&b| b == 0) {
        Some(end) => &bytes[..end],
        None => bytes,
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    use super::register_all;
    use mlua::Lua;

    /// A fresh Lua state with the libraries installed.
    pub fn lua() -> Lua {
        let lua = Lua::new();
        register_all(&lua).unwrap();
        lua
    }

    /// Evaluates `return <expr>` and renders the result with `tostring` semantics; an error renders
    /// as `error: <message>` (the message must be a string, as the C libraries raise).
    pub fn eval(lua: &Lua, expr: &str) -> String {
        let code = format!(
            "local ok, r = pcall(function() return {expr} end) \
             if not ok then \
               if type(r) ~= 'string' then return 'non-string error: ' .. tostring(r) end \
               return 'error: ' .. r \
             end \
             if type(r) == 'number' then return string.format('%.17g', r) end \
             return tostring(r)"
        );
        let s: mlua::LuaString = lua.load(&code).set_name("=user_script").eval().unwrap();
        s.to_string_lossy()
    }

    /// Evaluates `return <expr>` (which must give a string) and renders it as hex.
    pub fn hex(lua: &Lua, expr: &str) -> String {
        let code =
            format!("return (string.gsub({expr}, '.', function(c) return string.format('%02x', string.byte(c)) end))");
        lua.load(&code).eval::<String>().unwrap()
    }
}
