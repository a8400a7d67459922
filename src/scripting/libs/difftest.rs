//! Differential check against Redis itself: each expression runs in a real `redis-server`
//! (`EVAL "<wrapper around expr>" 0`) and in a Lua state with our libraries, and both must render
//! the same bytes. The wrapper `pcall`s the expression and serialises every result (strings with
//! `%q`, numbers with `%.17g`, tables with sorted keys), or the error message, so outputs, numbers
//! and error texts are all compared. Skipped when `/usr/bin/redis-server` is not installed.

use super::testutil::lua;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const REDIS_SERVER: &str = "/usr/bin/redis-server";

/// The expressions compared. Configuration changes are undone inside the same expression, as the
/// Redis server keeps its Lua state between scripts.
const EXPRESSIONS: &[&str] = &[
    // cjson.encode
    "cjson.encode({1, 2, 3})",
    "cjson.encode({})",
    "cjson.encode({a = 1})",
    "cjson.encode({a = {b = {c = 'd'}}})",
    "cjson.encode('a/b\"c\\\\d\\n\\r\\t\\b\\f\\1\\31\\127\\128\\255')",
    "cjson.encode(0.1)",
    "cjson.encode(1/3)",
    "cjson.encode(-1/3)",
    "cjson.encode(1e20)",
    "cjson.encode(1e-7)",
    "cjson.encode(123456789012345)",
    "cjson.encode(12345678901234)",
    "cjson.encode(2^53)",
    "cjson.encode(-0)",
    "cjson.encode(true)",
    "cjson.encode(false)",
    "cjson.encode(nil)",
    "cjson.encode(cjson.null)",
    "cjson.encode({1, nil, 3})",
    "cjson.encode({[1] = 1, [3] = 3})",
    "cjson.encode({[10] = 1})",
    "cjson.encode({[11] = 1})",
    "cjson.encode({[1] = 1, [2] = 2, [5] = 5})",
    "cjson.encode({[1.5] = 1})",
    "cjson.encode({[-1] = 1})",
    "cjson.encode({[0] = 1})",
    "cjson.encode({[1e10] = 1})",
    "cjson.encode({[2^31] = 1})",
    "cjson.encode({{{}}})",
    "cjson.encode({[true] = 1})",
    "cjson.encode(1/0)",
    "cjson.encode(0/0)",
    "cjson.encode({[20] = 1})",
    "cjson.encode(type)",
    "cjson.encode()",
    "cjson.encode(1, 2)",
    "(function() local t = {} t[1] = t return cjson.encode(t) end)()",
    "(function() local t = {} t.a = t return cjson.encode(t) end)()",
    "(function() cjson.encode_max_depth(2) local ok, e = pcall(cjson.encode, {{{}}}) cjson.encode_max_depth(1000) return e end)()",
    "(function() local p = cjson.encode_number_precision(3) local s = cjson.encode(math.pi) cjson.encode_number_precision(14) return p, s end)()",
    "(function() local r = cjson.encode_invalid_numbers('null') local s = cjson.encode({1/0, 0/0}) cjson.encode_invalid_numbers(false) return r, s end)()",
    "(function() local r = cjson.encode_invalid_numbers(true) local s = cjson.encode({1/0, -1/0}) cjson.encode_invalid_numbers(false) return r, s end)()",
    "(function() local a, b, c = cjson.encode_sparse_array(true) local s = cjson.encode({[20] = 1}) cjson.encode_sparse_array(false) return a, b, c, s end)()",
    "cjson.encode_sparse_array()",
    "cjson.encode_max_depth()",
    "cjson.decode_max_depth()",
    "cjson.encode_number_precision()",
    "cjson.encode_keep_buffer()",
    "cjson.encode_invalid_numbers()",
    "cjson.decode_invalid_numbers()",
    "cjson.encode_max_depth(0)",
    "cjson.encode_max_depth('x')",
    "cjson.encode_max_depth(1, 2)",
    "cjson.encode_number_precision(15)",
    "cjson.encode_invalid_numbers('maybe')",
    "cjson._NAME, cjson._VERSION",
    "cjson.new().encode({1})",
    // cjson.decode
    "cjson.decode('[1,2,3]')",
    "cjson.decode('{\"a\":{\"b\":[true,false,null]}}')",
    "cjson.decode('\"\\\\u00e9\\\\ud83d\\\\ude00\\\\/\\\\n\"')",
    "cjson.decode(' 1.5e3 ')",
    "cjson.decode('-0.25')",
    "cjson.decode('0x10')",
    "cjson.decode('[Infinity, -inf, 1e999]')",
    "cjson.decode('null') == cjson.null",
    "cjson.decode('[1]\\0garbage')",
    "cjson.decode(123)",
    "cjson.decode('[]')",
    "cjson.decode('{}')",
    "cjson.decode('x')",
    "cjson.decode('')",
    "cjson.decode('[1,]')",
    "cjson.decode('[1 2]')",
    "cjson.decode('{1:2}')",
    "cjson.decode('{\"a\" 2}')",
    "cjson.decode('{\"a\":2,}')",
    "cjson.decode('{\"a\":2 ]')",
    "cjson.decode('[1] 2')",
    "cjson.decode('\"abc')",
    "cjson.decode('\"\\\\q\"')",
    "cjson.decode('\"\\\\u12\"')",
    "cjson.decode('\"\\\\udc00\"')",
    "cjson.decode('\"\\\\ud800\\\\u0041\"')",
    "cjson.decode('-')",
    "cjson.decode('tru')",
    "cjson.decode('+1')",
    "cjson.decode('01')",
    "cjson.decode('a\\0')",
    "cjson.decode({})",
    "cjson.decode()",
    "cjson.decode(string.rep('[', 1001))",
    "cjson.decode(string.rep('{\"a\":', 1001))",
    "(function() cjson.decode_invalid_numbers(false) local ok, e = pcall(cjson.decode, '0x10') cjson.decode_invalid_numbers(true) return e end)()",
    // cmsgpack
    "cmsgpack.pack(0, 127, 128, 255, 256, 65535, 65536, 2^32, 2^53)",
    "cmsgpack.pack(-1, -32, -33, -128, -129, -32768, -32769, -2^31, -2^31 - 1, -2^63)",
    "cmsgpack.pack(1.5, 0.1, -2.25, 1/0, -1/0, 2^63, 2^64, 1e300)",
    "cmsgpack.pack(true, false, nil, type, cjson.null)",
    "struct.pack('iii', 1)",
    "cmsgpack.pack('abc', string.rep('x', 31), string.rep('x', 32))",
    "#cmsgpack.pack(string.rep('x', 256)), #cmsgpack.pack(string.rep('x', 65536))",
    "cmsgpack.pack({}, {1, 2, 3}, {a = 1}, {[2] = 1}, {[1.5] = 1}, {1, nil, 3})",
    "cmsgpack.pack({[1] = 1, [2] = 2, [4] = 4})",
    "(function() local t = {} for i = 1, 20 do t[i] = i end return cmsgpack.pack(t) end)()",
    "(function() local t = {} t[1] = t return cmsgpack.pack(t) end)()",
    "(function() local t = {} t.a = t return cmsgpack.pack(t) end)()",
    "cmsgpack.pack()",
    "cmsgpack.unpack(cmsgpack.pack(-33, 1.5, 0.1, 'hi', {1, {2}}, {a = 'b'}, true, false))",
    "cmsgpack.unpack('\\207\\255\\255\\255\\255\\255\\255\\255\\255')",
    "cmsgpack.unpack('\\211\\255\\255\\255\\255\\255\\255\\255\\254')",
    "cmsgpack.unpack('\\206\\255\\255\\255\\255\\210\\255\\255\\255\\255')",
    "cmsgpack.unpack('\\192\\1')",
    "cmsgpack.unpack_one(cmsgpack.pack(1, 2))",
    "cmsgpack.unpack_one(cmsgpack.pack(1, 2), 1)",
    "cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2)",
    "cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 0)",
    "cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 5, 1)",
    "cmsgpack.unpack('')",
    "cmsgpack.unpack(123)",
    "cmsgpack.unpack('\\196\\1a')",
    "cmsgpack.unpack('\\147\\1')",
    "cmsgpack.unpack('\\205\\1')",
    "cmsgpack.unpack('\\129\\192\\1')",
    "cmsgpack.unpack()",
    "cmsgpack.unpack_one('\\1', -1)",
    "cmsgpack.unpack_one('\\1', 5)",
    "cmsgpack.unpack_one('\\1', 'x')",
    "cmsgpack.unpack_limit('\\1')",
    "cmsgpack.unpack_limit('\\1', -1)",
    "cmsgpack.unpack(string.rep('\\1', 9000))",
    "cmsgpack.unpack(string.rep('\\145', 5000))",
    "cmsgpack._NAME, cmsgpack._VERSION",
    // bit
    "bit.tobit(0xffffffff), bit.tobit(2^32 + 1), bit.tobit(1.5), bit.tobit(2.5), bit.tobit(-1.5), bit.tobit('16')",
    "bit.bnot(0), bit.band(0xff, 0x0f, 0x3), bit.bor(1, 2, 4, 8), bit.bxor(0xff, 0x0f)",
    "bit.lshift(1, 31), bit.lshift(1, 33), bit.rshift(-1, 28), bit.arshift(-256, 4)",
    "bit.rol(0x80000001, 1), bit.ror(3, 1), bit.rol(5, 0), bit.ror(5, 32), bit.bswap(0x12345678)",
    "bit.tohex(255), bit.tohex(255, 2), bit.tohex(255, -4), bit.tohex(-1, 12), bit.tohex(1, 0)",
    "bit.tobit(2^53), bit.tobit(-2^53), bit.tobit(1e300), bit.tobit(0/0), bit.tobit(1/0)",
    "bit.tobit()",
    "bit.band(1, 'x')",
    "bit.lshift(1)",
    "bit.tohex(1, nil)",
    "bit.bor({})",
    // struct
    "struct.pack('>I2', 258), struct.pack('<I2', 258), struct.pack('i', -2), struct.pack('>i3', -2)",
    "struct.pack('bBhH', -1, 255, -2, 65535), struct.pack('>l', 1), struct.pack('T', 5)",
    "struct.pack('>i10', -1), struct.pack('<i10', -1), struct.pack('>I12', 2^40)",
    "struct.pack('>f', 1.5), struct.pack('<d', -2), struct.pack('f', 0.1)",
    "struct.pack('s', 'ab'), struct.pack('c3', 'abcdef'), struct.pack('c0', 'abcdef'), struct.pack('bxb', 1, 2)",
    "struct.pack('!4 b i', 1, 2), struct.pack('!bd', 1, 0), struct.pack('!2 b h b i', 1, 2, 3, 4)",
    "struct.pack('>I', 2^32 + 7), struct.pack('>I', '12'), struct.pack('>L', 2^64), struct.pack('>L', 2^63 + 2^12)",
    "struct.pack('>l', -2^70), struct.pack('>L', 2^70), struct.pack('>l', 0/0), struct.pack('>b', 300)",
    "struct.unpack('>I2', '\\1\\2'), struct.unpack('<i2', '\\254\\255')",
    "struct.unpack('>i3', '\\255\\255\\254'), struct.unpack('>I3', '\\255\\255\\254')",
    "struct.unpack('>i10', '\\255\\255\\255\\255\\255\\255\\255\\255\\255\\128')",
    "struct.unpack('s', 'ab\\0cd'), struct.unpack('bc0', '\\3abcde'), struct.unpack('c2', 'abcd', 3)",
    "struct.unpack('>d', struct.pack('>d', 0.1)), struct.unpack('f', struct.pack('f', 0.5))",
    "struct.unpack('!4 b i', struct.pack('!4 b i', 1, 2))",
    "struct.unpack('', 'x', -1)",
    "struct.size('>iIhHbBlLTfdx'), struct.size('!8 b d'), struct.size('c5 z'), struct.size('i7')",
    "struct.pack('q', 1)",
    "struct.pack('i', 'x')",
    "struct.pack('ii', 1)",
    "struct.pack('c5', 'ab')",
    "struct.pack('s', {})",
    "struct.pack('i33', 1)",
    "struct.pack('!3', 1)",
    "struct.pack('i99999999999', 1)",
    "struct.pack()",
    "struct.unpack('i', 'abc')",
    "struct.unpack('i', 'abcd', 0)",
    "struct.unpack('i', 'abcd', -1)",
    "struct.unpack('c0', 'abcd')",
    "struct.unpack('bc0', '\\9abcd')",
    "struct.unpack('s', 'abcd')",
    "struct.unpack('q', 'abcd')",
    "struct.size('s')",
    "struct.size('c0')",
    "struct.size('?')",
    "struct.unpack(string.rep('b', 9000), string.rep('a', 9000))",
];

/// Runs `expr` and renders every result (or the error) as one string.
fn wrap(expr: &str) -> String {
    format!(
        "local function ser(v, d) \
           local t = type(v) \
           if t == 'string' then return string.format('%q', v) end \
           if t == 'number' then return string.format('%.17g', v) end \
           if v == cjson.null then return 'null' end \
           if t == 'table' then \
             if d > 20 then return '{{...}}' end \
             local keys = {{}} \
             for k in pairs(v) do keys[#keys + 1] = k end \
             table.sort(keys, function(a, b) return ser(a, 99) < ser(b, 99) end) \
             local out = {{}} \
             for _, k in ipairs(keys) do out[#out + 1] = ser(k, d + 1) .. '=' .. ser(v[k], d + 1) end \
             return '{{' .. table.concat(out, ',') .. '}}' \
           end \
           return t .. ':' .. tostring(v) \
         end \
         local function pack(...) return {{n = select('#', ...), ...}} end \
         local r = pack(pcall(function() return {expr} end)) \
         local out = {{}} \
         for i = 1, r.n do out[#out + 1] = ser(r[i], 0) end \
         return table.concat(out, ' | ')"
    )
}

/// A redis-server on a free port, stopped on drop.
struct Reference {
    child: Child,
    con: TcpStream,
}

impl Reference {
    fn start() -> Reference {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(REDIS_SERVER)
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut child = child;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(con) = TcpStream::connect(("127.0.0.1", port)) {
                return Reference { child, con };
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("redis-server did not start");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `EVAL script 0`: the bulk reply, or `-<error line>`.
    fn eval(&mut self, script: &str) -> Vec<u8> {
        let mut req = Vec::new();
        for arg in [b"EVAL".as_slice(), script.as_bytes(), b"0"] {
            req.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            req.extend_from_slice(arg);
            req.extend_from_slice(b"\r\n");
        }
        let mut msg = b"*3\r\n".to_vec();
        msg.extend_from_slice(&req);
        self.con.write_all(&msg).unwrap();
        let mut reader = BufReader::new(&self.con);
        let mut line = Vec::new();
        reader.read_until(b'\n', &mut line).unwrap();
        let head = String::from_utf8_lossy(&line).trim_end().to_string();
        match head.as_bytes().first() {
            Some(b'$') => {
                let n: usize = head[1..].parse().unwrap();
                let mut body = vec![0u8; n + 2];
                reader.read_exact(&mut body).unwrap();
                body.truncate(n);
                body
            }
            _ => head.into_bytes(),
        }
    }
}

impl Drop for Reference {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn libraries_match_redis() {
    if !std::path::Path::new(REDIS_SERVER).exists() {
        eprintln!("skipped: {REDIS_SERVER} is not installed");
        return;
    }
    let mut redis = Reference::start();
    let lua = lua();
    let mut failures = Vec::new();
    for expr in EXPRESSIONS {
        let script = wrap(expr);
        let want = redis.eval(&script);
        let got: mlua::LuaString = lua.load(&script).set_name("=user_script").eval().unwrap();
        let got = got.as_bytes().to_vec();
        if got != want {
            failures.push(format!(
                "{expr}\n  redis: {}\n  ochre: {}",
                want.escape_ascii(),
                got.escape_ascii()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} differ:\n{}",
        failures.len(),
        EXPRESSIONS.len(),
        failures.join("\n")
    );
}
