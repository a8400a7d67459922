//! Number parsing and formatting with Redis's exact rules (`util.c`): which strings are integers,
//! how doubles print. Clients compare these texts, so they must match byte for byte.

use std::ffi::CString;

pub use crate::protocol::parser::parse_i64;

/// Formats `n` into `buf` and returns the digits (no allocation: replies and int-encoded strings
/// are written from the stack).
#[inline]
pub fn fmt_i64(n: i64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    let mut v = n.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if n < 0 {
        i -= 1;
        buf[i] = b'-';
    }
    &buf[i..]
}

/// Appends the decimal form of `n`.
#[inline]
pub fn write_i64(out: &mut Vec<u8>, n: i64) {
    let mut tmp = [0u8; 20];
    out.extend_from_slice(fmt_i64(n, &mut tmp));
}

pub fn i64_to_bytes(n: i64) -> Vec<u8> {
    let mut v = Vec::with_capacity(20);
    write_i64(&mut v, n);
    v
}

/// Parses an unsigned 64-bit decimal (Redis's `string2ull`-style, used by a few commands).
pub fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || (s.len() > 1 && s[0] == b'0') {
        return None;
    }
    let mut v: u64 = 0;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    Some(v)
}

/// Formats with C's `printf` (for `%.17g` and friends, which Rust's formatter cannot express).
pub fn c_format(fmt: &str, d: f64) -> String {
    let mut buf = [0u8; 128];
    let Ok(cfmt) = CString::new(fmt) else {
        return String::new();
    };
    // SAFETY: the buffer is large enough for any %.17g output, and snprintf bounds the write.
    let n = unsafe { libc::snprintf(buf.as_mut_ptr() as *mut libc::c_char, buf.len(), cfmt.as_ptr(), d) };
    let n = (n.max(0) as usize).min(buf.len() - 1);
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// A double as Redis 7.0 replies with it (`addReplyDouble`: `%.17g`, `inf`, `-inf`).
pub fn fmt_double(d: f64) -> String {
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if d.is_nan() {
        return "nan".into();
    }
    c_format("%.17g", d)
}

/// A double in the shortest form that reads back the same (`d2string`-like, `%.17g`), used when a
/// double is stored as a string.
pub fn fmt_double_human(d: f64) -> String {
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if d == d.trunc() && d.abs() < 1e17 {
        // Integers print without exponent or fraction, as Redis's d2string does.
        return format!("{}", d as i64);
    }
    c_format("%.17g", d)
}

/// Parses a double with Redis's `string2d` rules: no leading/trailing spaces, not NaN, whole
/// string consumed. `inf`, `-inf`, `+inf` are accepted.
pub fn parse_f64(s: &[u8]) -> Option<f64> {
    if s.is_empty() || s.len() > 5000 {
        return None;
    }
    if s[0].is_ascii_whitespace() || s[s.len() - 1].is_ascii_whitespace() {
        return None;
    }
    let st = std::str::from_utf8(s).ok()?;
    let lower = st.to_ascii_lowercase();
    let v = match lower.as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ => {
            // strtod accepts hex floats and more; use it for exact C compatibility.
            let c = CString::new(s).ok()?;
            let mut end: *mut libc::c_char = std::ptr::null_mut();
            // SAFETY: c is NUL-terminated; end points into it.
            let v = unsafe { libc::strtod(c.as_ptr(), &mut end) };
            let consumed = end as usize - c.as_ptr() as usize;
            if consumed != s.len() {
                return None;
            }
            v
        }
    };
    if v.is_nan() {
        None
    } else {
        Some(v)
    }
}

extern "C" {
    fn ochre_ld_add(
        cur: *const u8,
        curlen: usize,
        incr: *const u8,
        incrlen: usize,
        out: *mut u8,
        outlen: *mut usize,
    ) -> i32;
}

/// Outcome of [`incr_by_float`].
pub enum FloatIncr {
    Ok(Vec<u8>),
    CurrentNotFloat,
    IncrNotFloat,
    NanOrInf,
}

/// INCRBYFLOAT arithmetic in C `long double`, printed as Redis does (`%.17Lf`, trailing zeros
/// removed), so `1 - 1.1` gives `-0.1` exactly like Redis, not `-0.10000000000000009`.
pub fn incr_by_float(cur: Option<&[u8]>, incr: &[u8]) -> FloatIncr {
    let mut out = [0u8; 6000];
    let mut len = out.len();
    // SAFETY: pointers and lengths describe valid buffers; the C side bounds its writes by `len`.
    let rc = unsafe {
        ochre_ld_add(
            cur.map_or(std::ptr::null(), |c| c.as_ptr()),
            cur.map_or(0, |c| c.len()),
            incr.as_ptr(),
            incr.len(),
            out.as_mut_ptr(),
            &mut len,
        )
    };
    match rc {
        0 => FloatIncr::Ok(out[..len].to_vec()),
        1 => FloatIncr::CurrentNotFloat,
        2 => FloatIncr::IncrNotFloat,
        _ => FloatIncr::NanOrInf,
    }
}

#[cfg(test)]
mod tests {
    use super::write_i64;

    #[test]
    fn write_i64_appends_every_value_as_display_does() {
        let mut values = vec![0, 1, -1, 9, 10, -10, 99, 100, i64::MAX, i64::MIN, i64::MIN + 1];
        let mut p: i64 = 1;
        while let Some(next) = p.checked_mul(10) {
            values.extend([p - 1, p, p + 1, -p, -(p - 1)]);
            p = next;
        }
        for v in values {
            let mut out = b"x".to_vec();
            write_i64(&mut out, v);
            assert_eq!(out, format!("x{v}").into_bytes());
        }
    }
}
