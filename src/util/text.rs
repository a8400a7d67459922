//! Text helpers with Redis's exact output.

/// Quotes bytes like Redis's `sdscatrepr`: printable ASCII as is, the usual escapes, `\xHH`
/// otherwise. Used by MONITOR lines and by config files Ochre writes.
pub fn repr(s: &[u8]) -> String {
    let mut out = String::from("\"");
    for &b in s {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            7 => out.push_str("\\a"),
            8 => out.push_str("\\b"),
            c if c.is_ascii_graphic() || c == b' ' => out.push(c as char),
            c => out.push_str(&format!("\\x{c:02x}")),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn repr_escapes_like_redis() {
        assert_eq!(super::repr(b"a \"b\"\n\x01"), "\"a \\\"b\\\"\\n\\x01\"");
    }
}
