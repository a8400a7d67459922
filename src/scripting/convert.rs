//! Conversions between Redis replies and Lua values, with Redis's rules (`script_lua.c`).
//!
//! * Reply → Lua (what `redis.call` returns, pushed by `call.rs`): integer → number, bulk → string, null bulk / null
//!   array → false, array → table, status → `{ok=...}`, error → `{err=...}`; in RESP3 also map →
//!   `{map={...}}`, set → `{set={k=true}}`, null → nil, boolean, double → `{double=n}`, big
//!   number → `{big_number=s}`, verbatim → `{verbatim_string={format=, string=}}`; attributes
//!   are skipped.
//! * Lua → reply (what a script returns): string → bulk, number → integer (truncated), true → 1
//!   (RESP2 script) or a boolean, false / nil → null, tables by their `err`, `ok`, `double`,
//!   `big_number`, `verbatim_string`, `map`, `set` fields, else an array up to the first nil.
//!   Tables are read raw: metatables are never called.

use crate::protocol::reply::Reply;
use mlua::{Lua, Table, Value};

/// Nesting depth past which a returned table is refused (Redis runs out of Lua stack there).
const MAX_DEPTH: usize = 2000;

/// Builds the `{err=...}` table of an error text, as Redis's `luaPushErrorBuff`: a leading `-`
/// means the text starts with its own code ("-WRONGTYPE ..."), otherwise `ERR` is prefixed.
pub fn error_text(raw: &str) -> String {
    let (code, msg) = match raw.strip_prefix('-') {
        Some(rest) => match rest.split_once(' ') {
            Some((code, msg)) => (code.to_string(), msg.to_string()),
            None => ("ERR".to_string(), rest.to_string()),
        },
        None => ("ERR".to_string(), raw.to_string()),
    };
    let msg = msg.trim_matches(|c| c == '\r' || c == '\n');
    format!("{code} {msg}")
}

/// An `{err=text}` table; `no_stats` marks errors already counted in errorstats (replies of
/// commands the script ran, and refusals).
pub fn error_table(lua: &Lua, text: &str, no_stats: bool) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("err", text)?;
    if no_stats {
        t.raw_set("ignore_error_stats_update", true)?;
    }
    Ok(t)
}

/// The error a script returned (`{err=...}`), and whether it was already counted in errorstats.
pub struct ScriptError {
    pub text: String,
    pub no_stats: bool,
}

/// Reads an `{err=...}` table's text, if `t` is one.
pub fn table_error(t: &Table) -> Option<ScriptError> {
    match t.raw_get::<Value>("err") {
        Ok(Value::String(s)) => Some(ScriptError {
            text: String::from_utf8_lossy(&s.as_bytes()).into_owned(),
            no_stats: matches!(
                t.raw_get::<Value>("ignore_error_stats_update"),
                Ok(Value::Boolean(true))
            ),
        }),
        _ => None,
    }
}

/// Writes an error reply without counting it in errorstats (it was counted when the command
/// inside the script failed).
pub fn error_uncounted(out: &mut Reply, text: &str) {
    out.buf.push(b'-');
    out.buf
        .extend(text.bytes().map(|c| if c == b'\r' || c == b'\n' { b' ' } else { c }));
    out.buf.extend_from_slice(b"\r\n");
}

/// Writes a script's return value as a reply. `script_resp` is the RESP version the script
/// chose with `redis.setresp` (it decides how booleans are returned).
pub fn lua_to_reply(out: &mut Reply, v: &Value, script_resp: u8) {
    write_value(out, v, script_resp, 0)
}

fn number_of(v: &Value) -> Option<f64> {
    match v {
        Value::Integer(i) => Some(*i as f64),
        Value::Number(n) => Some(*n),
        _ => None,
    }
}

fn string_of(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::String(s) => Some(s.as_bytes().to_vec()),
        _ => None,
    }
}

fn write_value(out: &mut Reply, v: &Value, script_resp: u8, depth: usize) {
    match v {
        Value::String(s) => out.bulk(&s.as_bytes()),
        Value::Boolean(b) => {
            if script_resp == 2 {
                if *b {
                    out.int(1)
                } else {
                    out.null()
                }
            } else {
                out.boolean(*b)
            }
        }
        Value::Integer(i) => out.int(*i),
        Value::Number(n) => out.int(*n as i64),
        Value::Table(t) => write_table(out, t, script_resp, depth),
        _ => out.null(),
    }
}

fn write_table(out: &mut Reply, t: &Table, script_resp: u8, depth: usize) {
    if depth >= MAX_DEPTH {
        out.error("ERR reached lua stack limit");
        return;
    }
    if let Some(e) = table_error(t) {
        if e.no_stats {
            error_uncounted(out, &e.text);
        } else {
            out.error(&e.text);
        }
        return;
    }
    if let Some(s) = t.raw_get::<Value>("ok").ok().as_ref().and_then(string_of) {
        let s: String = String::from_utf8_lossy(&s)
            .chars()
            .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
            .collect();
        out.simple(&s);
        return;
    }
    if let Some(d) = t.raw_get::<Value>("double").ok().as_ref().and_then(number_of) {
        out.double(d);
        return;
    }
    if let Some(s) = t.raw_get::<Value>("big_number").ok().as_ref().and_then(string_of) {
        let s: Vec<u8> = s
            .iter()
            .map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c })
            .collect();
        if out.resp >= 3 {
            out.raw(b"(");
            out.raw(&s);
            out.raw(b"\r\n");
        } else {
            out.bulk(&s);
        }
        return;
    }
    if let Ok(Value::Table(vt)) = t.raw_get::<Value>("verbatim_string") {
        let format = vt.raw_get::<Value>("format").ok().as_ref().and_then(string_of);
        let text = vt.raw_get::<Value>("string").ok().as_ref().and_then(string_of);
        if let (Some(format), Some(text)) = (format, text) {
            if out.resp >= 3 {
                let mut body = Vec::with_capacity(text.len() + 4);
                body.extend_from_slice(&format[..format.len().min(3)]);
                body.push(b':');
                body.extend_from_slice(&text);
                out.raw(format!("={}\r\n", body.len()).as_bytes());
                out.raw(&body);
                out.raw(b"\r\n");
            } else {
                out.bulk(&text);
            }
            return;
        }
    }
    if let Ok(Value::Table(m)) = t.raw_get::<Value>("map") {
        let pairs: Vec<(Value, Value)> = m.pairs::<Value, Value>().filter_map(Result::ok).collect();
        out.map(pairs.len());
        for (k, v) in &pairs {
            write_value(out, k, script_resp, depth + 1);
            write_value(out, v, script_resp, depth + 1);
        }
        return;
    }
    if let Ok(Value::Table(s)) = t.raw_get::<Value>("set") {
        let keys: Vec<Value> = s
            .pairs::<Value, Value>()
            .filter_map(|r| r.ok().map(|(k, _)| k))
            .collect();
        out.set(keys.len());
        for k in &keys {
            write_value(out, k, script_resp, depth + 1);
        }
        return;
    }
    let mut items = Vec::new();
    let mut j = 1i64;
    loop {
        match t.raw_get::<Value>(j) {
            Ok(Value::Nil) | Err(_) => break,
            Ok(v) => items.push(v),
        }
        j += 1;
    }
    out.array(items.len());
    for v in &items {
        write_value(out, v, script_resp, depth + 1);
    }
}
