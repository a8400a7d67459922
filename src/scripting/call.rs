//! `redis.call` and `redis.pcall` as plain Lua C functions (Redis's `luaRedisGenericCommand`).
//!
//! They are the hot path of every script, so they work on the Lua stack directly instead of
//! through mlua's value handles (each argument and each reply value would otherwise take a slot
//! in mlua's reference thread and back): the arguments are read in place (a string argument is
//! borrowed from the stack, not copied), and the reply is pushed as it is parsed, with Redis's
//! rules (`convert.rs` module doc). An error is the `{err=...}` table itself: `redis.call`
//! raises it, `redis.pcall` returns it.

use super::convert::error_text;
use super::engine;
use mlua::ffi;
use std::os::raw::c_int;

/// Nesting depth past which a command's reply is refused (each level takes Lua stack slots).
const MAX_DEPTH: usize = 1000;

/// `redis.call`: the command's reply, or raises its error table.
///
/// # Safety
/// Called by Lua only, as a C function of the VM the running script belongs to.
pub unsafe extern "C-unwind" fn call(state: *mut ffi::lua_State) -> c_int {
    // Everything with a destructor lives in `run`, which has returned before `lua_error`
    // leaves this frame.
    if run(state) {
        1
    } else {
        ffi::lua_error(state)
    }
}

/// `redis.pcall`: the command's reply, or its error table.
///
/// # Safety
/// As [`call`].
pub unsafe extern "C-unwind" fn pcall(state: *mut ffi::lua_State) -> c_int {
    run(state);
    1
}

/// Runs the command the arguments on the stack name and pushes its reply (true) or its error
/// table (false).
unsafe fn run(state: *mut ffi::lua_State) -> bool {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // Numbers are formatted into `owned`; strings are borrowed from the stack, where they
        // stay until this function returns.
        let n = ffi::lua_gettop(state).max(0) as usize;
        if n == 0 {
            return Err((
                "ERR Please specify at least one argument for this redis lib call".to_string(),
                false,
            ));
        }
        let mut owned: Vec<(usize, String)> = Vec::new();
        let mut spans: [(*const u8, usize); 16] = [(std::ptr::null(), 0); 16];
        let mut many: Vec<(*const u8, usize)> = Vec::new();
        for i in 1..=n {
            let arg = match ffi::lua_type(state, i as c_int) {
                ffi::LUA_TSTRING => {
                    let mut len = 0usize;
                    let p = ffi::lua_tolstring(state, i as c_int, &mut len);
                    (p as *const u8, len)
                }
                ffi::LUA_TNUMBER => {
                    owned.push((i, crate::util::num::fmt_double(ffi::lua_tonumber(state, i as c_int))));
                    (std::ptr::null(), 0)
                }
                _ => {
                    return Err((
                        "ERR Lua redis lib command arguments must be strings or integers".to_string(),
                        false,
                    ))
                }
            };
            if n <= spans.len() {
                spans[i - 1] = arg;
            } else {
                many.push(arg);
            }
        }
        let spans = if n <= spans.len() {
            &mut spans[..n]
        } else {
            &mut many[..]
        };
        for (i, s) in &owned {
            spans[i - 1] = (s.as_ptr(), s.len());
        }
        let mut small: [&[u8]; 16] = [&[]; 16];
        let mut big: Vec<&[u8]> = Vec::new();
        // SAFETY: each span points into a Lua string on the stack (kept there until we return)
        // or into `owned`, both alive for this whole closure.
        let to_slice = |&(p, len): &(*const u8, usize)| -> &[u8] {
            if len == 0 {
                &[]
            } else {
                std::slice::from_raw_parts(p, len)
            }
        };
        let argv: &[&[u8]] = if n <= small.len() {
            for (slot, span) in small.iter_mut().zip(spans.iter()) {
                *slot = to_slice(span);
            }
            &small[..n]
        } else {
            big.extend(spans.iter().map(to_slice));
            &big
        };
        let pushed = engine::call_from_script(argv, |reply| {
            // The arguments are done with: their slots hold the reply (a script may pass
            // thousands with `unpack`, filling the stack).
            ffi::lua_settop(state, 0);
            if ffi::lua_checkstack(state, 4) == 0 {
                return Err(("ERR reached lua stack limit".to_string(), true));
            }
            let mut p = Parser {
                state,
                buf: reply,
                pos: 0,
            };
            match p.push(0) {
                Ok(is_err) => Ok(!is_err),
                Err(e) => Err((e.to_string(), true)),
            }
        });
        match pushed {
            None => Err((
                "ERR redis.call/pcall can only be called inside a script invocation".to_string(),
                false,
            )),
            Some(Err(refusal)) => Err((error_text(&refusal), true)),
            Some(Ok(result)) => result,
        }
    }));
    match outcome {
        Ok(Ok(ok)) => ok,
        Ok(Err((text, no_stats))) => {
            ffi::lua_settop(state, 0);
            push_error(state, &text, no_stats);
            false
        }
        Err(_) => {
            ffi::lua_settop(state, 0);
            push_error(state, "ERR internal error running the command", false);
            false
        }
    }
}

/// Pushes `{err=text}` (and `ignore_error_stats_update=true` when the error was counted
/// already: replies of commands the script ran, and refusals).
unsafe fn push_error(state: *mut ffi::lua_State, text: &str, no_stats: bool) {
    ffi::lua_createtable(state, 0, 2);
    push_str(state, b"err");
    push_str(state, text.as_bytes());
    ffi::lua_rawset(state, -3);
    if no_stats {
        push_str(state, b"ignore_error_stats_update");
        ffi::lua_pushboolean(state, 1);
        ffi::lua_rawset(state, -3);
    }
}

unsafe fn push_str(state: *mut ffi::lua_State, s: &[u8]) {
    ffi::lua_pushlstring_(state, s.as_ptr() as *const _, s.len());
}

/// Pushes `{name=<top of stack>}`: a one-field table around the value just pushed.
unsafe fn wrap(state: *mut ffi::lua_State, name: &[u8]) {
    ffi::lua_createtable(state, 0, 1);
    ffi::lua_insert(state, -2);
    push_str(state, name);
    ffi::lua_insert(state, -2);
    ffi::lua_rawset(state, -3);
}

/// Parses one complete reply, pushing it as a Lua value.
struct Parser<'a> {
    state: *mut ffi::lua_State,
    buf: &'a [u8],
    pos: usize,
}

const MALFORMED: &str = "ERR malformed reply from command";

impl Parser<'_> {
    /// The line after the type byte, without its CRLF.
    fn line(&mut self) -> Result<&[u8], &'static str> {
        let start = self.pos;
        let rest = self.buf.get(start..).ok_or(MALFORMED)?;
        let n = rest.windows(2).position(|w| w == b"\r\n").ok_or(MALFORMED)?;
        self.pos = start + n + 2;
        Ok(&self.buf[start..start + n])
    }

    fn int(&mut self) -> Result<i64, &'static str> {
        let l = self.line()?;
        crate::util::num::parse_i64(l).ok_or(MALFORMED)
    }

    fn bytes(&mut self, n: usize) -> Result<&[u8], &'static str> {
        let s = self.buf.get(self.pos..self.pos + n).ok_or(MALFORMED)?;
        self.pos += n + 2;
        Ok(s)
    }

    /// Pushes the next value (nothing for an attribute, which is skipped, and the value after
    /// it pushed instead); true when it was an error reply.
    unsafe fn push(&mut self, depth: usize) -> Result<bool, &'static str> {
        let l = self.state;
        if depth > MAX_DEPTH || ffi::lua_checkstack(l, 4) == 0 {
            return Err("ERR reached lua stack limit");
        }
        let t = *self.buf.get(self.pos).ok_or(MALFORMED)?;
        self.pos += 1;
        match t {
            b'+' => {
                let s = self.line()?;
                push_str(l, s);
                wrap(l, b"ok");
            }
            b'-' => {
                let s = String::from_utf8_lossy(self.line()?);
                push_error(l, &error_text(&format!("-{s}")), true);
                return Ok(true);
            }
            b':' => ffi::lua_pushnumber(l, self.int()? as f64),
            b'$' => {
                let n = self.int()?;
                if n < 0 {
                    ffi::lua_pushboolean(l, 0);
                } else {
                    let s = self.bytes(n as usize)?;
                    push_str(l, s);
                }
            }
            b'*' | b'>' => {
                let n = self.int()?;
                if n < 0 {
                    ffi::lua_pushboolean(l, 0);
                    return Ok(false);
                }
                ffi::lua_createtable(l, n.min(1 << 20) as c_int, 0);
                for i in 1..=n {
                    self.push_checked(depth)?;
                    ffi::lua_rawseti_(l, -2, i as c_int);
                }
            }
            b'%' | b'~' => {
                let n = self.int()?;
                // Not presized, as Redis's `lua_newtable`: the size changes the order in which
                // `pairs` (and so the script's own reply) walks the keys.
                ffi::lua_createtable(l, 0, 0);
                for _ in 0..n {
                    self.push_checked(depth)?;
                    if t == b'%' {
                        self.push_checked(depth)?;
                    } else {
                        ffi::lua_pushboolean(l, 1);
                    }
                    if ffi::lua_type(l, -2) == ffi::LUA_TNIL {
                        ffi::lua_settop(l, -3);
                    } else {
                        ffi::lua_rawset(l, -3);
                    }
                }
                wrap(l, if t == b'%' { b"map" } else { b"set" });
            }
            b'|' => {
                let n = self.int()?;
                for _ in 0..2 * n {
                    self.push_checked(depth)?;
                    ffi::lua_settop(l, -2);
                }
                return self.push(depth);
            }
            b'_' => {
                self.line()?;
                ffi::lua_pushnil(l);
            }
            b'#' => {
                let b = self.line()? == b"t";
                ffi::lua_pushboolean(l, b as c_int);
            }
            b',' => {
                let d = match self.line()? {
                    b"inf" => f64::INFINITY,
                    b"-inf" => f64::NEG_INFINITY,
                    b"nan" | b"-nan" => f64::NAN,
                    s => std::str::from_utf8(s)
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .ok_or(MALFORMED)?,
                };
                ffi::lua_pushnumber(l, d);
                wrap(l, b"double");
            }
            b'(' => {
                let s = self.line()?;
                push_str(l, s);
                wrap(l, b"big_number");
            }
            b'=' => {
                let n = self.int()?;
                let s = self.bytes(n.max(0) as usize)?;
                let (format, text) = if s.len() >= 4 { (&s[..3], &s[4..]) } else { (&s[..0], s) };
                ffi::lua_createtable(l, 0, 2);
                push_str(l, b"string");
                push_str(l, text);
                ffi::lua_rawset(l, -3);
                push_str(l, b"format");
                push_str(l, format);
                ffi::lua_rawset(l, -3);
                wrap(l, b"verbatim_string");
            }
            _ => return Err(MALFORMED),
        }
        Ok(false)
    }

    /// Pushes an element of an aggregate (its errors are values, not the reply's error).
    unsafe fn push_checked(&mut self, depth: usize) -> Result<(), &'static str> {
        self.push(depth + 1).map(|_| ())
    }
}
