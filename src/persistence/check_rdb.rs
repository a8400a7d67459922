//! The RDB checker: `ochre-check-rdb`, the RDB preamble of `ochre-check-aof`, and the report a
//! server prints when the dump it loads at start-up is bad.
//!
//! It walks a file record by record as `redis-check-rdb` does and produces the same report, line
//! for line: `[offset N] ...` for every auxiliary field and database switch (N = bytes consumed
//! so far), then either `\o/ RDB looks OK! \o/` or a `--- RDB ERROR DETECTED ---` block naming
//! the offset, what failed, what the checker was doing, and the key and type being read. Values
//! are decoded with the server's own loader ([`rdb::read_value`]), which always validates
//! encoded blobs deeply, so whatever the checker passes the server loads.

use super::rdb::{self, opcode, types, RdbError, Reader};

/// Type names as redis-check-rdb prints them, by type byte.
const TYPE_NAMES: [&str; 19] = [
    "string",
    "list-linked",
    "set-hashtable",
    "zset-v1",
    "hash-hashtable",
    "zset-v2",
    "module-value",
    "",
    "",
    "hash-zipmap",
    "list-ziplist",
    "set-intset",
    "zset-ziplist",
    "hash-ziplist",
    "quicklist",
    "stream",
    "hash-listpack",
    "zset-listpack",
    "quicklist-v2",
];

/// What a check found.
pub struct Outcome {
    /// The report, one `\n`-terminated line each, starting with `Checking RDB file`.
    pub report: String,
    pub ok: bool,
    /// The failure was corruption reported by the loader (not a short read or a bad header):
    /// Redis's checker then logs "Terminating server after rdb file reading failure." and exits.
    pub fatal: bool,
    /// Bytes consumed: the file's end on success (where an AOF tail starts), else the offset of
    /// the failure.
    pub offset: usize,
    /// The failure's text, as in the report.
    pub error: Option<String>,
}

/// The line Redis's checker logs before exiting on a corruption error.
pub const TERMINATING: &str = "Terminating server after rdb file reading failure.";

/// Checks `data` (the file's bytes) as `redis-check-rdb <name>` would at `now_ms`.
pub fn check(name: &str, data: &[u8], now_ms: i64) -> Outcome {
    let mut c = Checker {
        report: String::new(),
        doing: "start",
        key: None,
        key_type: 0,
        keys: 0,
        expires: 0,
        already_expired: 0,
    };
    c.info(0, &format!("Checking RDB file {name}"));
    let mut r = Reader::new(data);
    let res = c.walk(&mut r, now_ms);
    let offset = r.pos();
    let (ok, fatal, error) = match res {
        Ok(()) => {
            c.info(offset, "\\o/ RDB looks OK! \\o/");
            c.generic_info();
            (true, false, None)
        }
        Err(Failure::Plain(msg)) => {
            c.error(offset, &msg);
            (false, false, Some(msg))
        }
        Err(Failure::Read(e)) => {
            let fatal = !matches!(e, RdbError::Truncated | RdbError::EmptyKey);
            let msg = if fatal {
                format!("Internal error in RDB reading offset {offset}, function at rdb.rs -> {e}")
            } else {
                e.to_string()
            };
            c.error(offset, &msg);
            (false, fatal, Some(msg))
        }
    };
    Outcome {
        report: c.report,
        ok,
        fatal,
        offset,
        error,
    }
}

/// Why a walk stopped: a read error from the loader, or a check of the checker's own (bad
/// signature, version, CRC) whose text is printed as is.
enum Failure {
    Read(RdbError),
    Plain(String),
}

impl From<RdbError> for Failure {
    fn from(e: RdbError) -> Failure {
        Failure::Read(e)
    }
}

struct Checker {
    report: String,
    /// `rdb_check_doing_string`: the step in progress.
    doing: &'static str,
    key: Option<Vec<u8>>,
    /// The type of the key being read; -1 between keys. It starts at 0 as Redis's static state
    /// does, so an error before the first key says "Reading type 0 (string)" as Redis's does.
    key_type: i32,
    keys: u64,
    expires: u64,
    already_expired: u64,
}

impl Checker {
    fn info(&mut self, offset: usize, msg: &str) {
        self.report.push_str(&format!("[offset {offset}] {msg}\n"));
    }

    fn generic_info(&mut self) {
        self.report.push_str(&format!(
            "[info] {} keys read\n[info] {} expires\n[info] {} already expired\n",
            self.keys, self.expires, self.already_expired
        ));
    }

    fn error(&mut self, offset: usize, msg: &str) {
        self.report.push_str("--- RDB ERROR DETECTED ---\n");
        self.info(offset, msg);
        self.report
            .push_str(&format!("[additional info] While doing: {}\n", self.doing));
        if let Some(k) = &self.key {
            self.report
                .push_str(&format!("[additional info] Reading key '{}'\n", c_str(k)));
        }
        if self.key_type != -1 {
            let name = TYPE_NAMES.get(self.key_type as usize).copied().unwrap_or("unknown");
            self.report
                .push_str(&format!("[additional info] Reading type {} ({name})\n", self.key_type));
        }
        self.generic_info();
    }

    fn walk(&mut self, r: &mut Reader, now_ms: i64) -> Result<(), Failure> {
        let header = r.bytes(9)?;
        if &header[..5] != b"REDIS" {
            return Err(Failure::Plain("Wrong signature trying to load DB from file".into()));
        }
        let version = atoi(&header[5..]);
        if !(1..=rdb::RDB_VERSION as i64).contains(&version) {
            return Err(Failure::Plain(format!("Can't handle RDB format version {version}")));
        }
        let mut expire: i64 = -1;
        loop {
            self.doing = "read-type";
            let t = r.byte()?;
            match t {
                opcode::EXPIRETIME => {
                    self.doing = "read-expire";
                    expire = r.u32_le()? as i32 as i64 * 1000;
                    continue;
                }
                opcode::EXPIRETIME_MS => {
                    self.doing = "read-expire";
                    expire = r.millis()?;
                    continue;
                }
                opcode::FREQ => {
                    r.byte()?;
                    continue;
                }
                opcode::IDLE => {
                    r.len()?;
                    continue;
                }
                opcode::EOF => break,
                opcode::SELECTDB => {
                    self.doing = "read-len";
                    let db = r.len()?;
                    self.info(r.pos(), &format!("Selecting DB ID {db}"));
                    continue;
                }
                opcode::RESIZEDB => {
                    self.doing = "read-len";
                    r.len()?;
                    r.len()?;
                    continue;
                }
                opcode::AUX => {
                    self.doing = "read-aux";
                    let k = r.string()?;
                    let v = r.string()?;
                    self.info(r.pos(), &format!("AUX FIELD {} = '{}'", c_str(&k), c_str(&v)));
                    continue;
                }
                opcode::MODULE_AUX => {
                    self.doing = "read-module-aux";
                    let id = r.len()?;
                    let when_opcode = r.len()?;
                    r.len()?;
                    if when_opcode != MODULE_OPCODE_UINT {
                        return Err(Failure::Plain("bad when_opcode".into()));
                    }
                    let name = module_name(id);
                    self.info(r.pos(), &format!("MODULE AUX for: {name}"));
                    check_module_value(r, &name)?;
                    continue;
                }
                opcode::FUNCTION => {
                    self.doing = "read-functions";
                    return Err(Failure::Plain(
                        "Failed loading library, Pre-release function format not supported.".into(),
                    ));
                }
                opcode::FUNCTION2 => {
                    // The library's source; compiling it is the server's business.
                    self.doing = "read-functions";
                    r.string()?;
                    continue;
                }
                // 6 is the module type of pre-7.0 files, refused like any unknown module.
                t if types::is_object_type(t) || t == 6 => self.key_type = t as i32,
                t => return Err(Failure::Plain(format!("Invalid object type: {t}"))),
            }
            self.doing = "read-key";
            let key = r.string()?;
            self.key = Some(key.into_owned());
            self.keys += 1;
            self.doing = "read-object-value";
            match t {
                types::MODULE_2 => {
                    let name = module_name(r.len()?);
                    check_module_value(r, &name)?;
                }
                6 => {
                    let name = module_name(r.len()?);
                    return Err(Failure::Read(RdbError::Corrupt(leak(format!(
                        "The RDB file contains module data I can't load: no matching module type '{name}'"
                    )))));
                }
                _ => {
                    rdb::read_value(r, t)?;
                }
            }
            if expire != -1 {
                self.expires += 1;
                if expire < now_ms {
                    self.already_expired += 1;
                }
            }
            self.key = None;
            self.key_type = -1;
            expire = -1;
        }
        if version >= 5 {
            self.doing = "check-sum";
            let end = r.pos();
            let stored = u64::from_le_bytes(r.bytes(8)?.try_into().unwrap_or([0; 8]));
            if stored == 0 {
                self.info(
                    r.pos(),
                    "RDB file was saved with checksum disabled: no check performed.",
                );
            } else if stored != rdb::crc64(r.data_before(end)) {
                return Err(Failure::Plain("RDB CRC error".into()));
            } else {
                self.info(r.pos(), "Checksum OK");
            }
        }
        Ok(())
    }
}

/// Module value opcodes (`RDB_MODULE_OPCODE_*`).
const MODULE_OPCODE_EOF: u64 = 0;
const MODULE_OPCODE_SINT: u64 = 1;
const MODULE_OPCODE_UINT: u64 = 2;
const MODULE_OPCODE_FLOAT: u64 = 3;
const MODULE_OPCODE_DOUBLE: u64 = 4;
const MODULE_OPCODE_STRING: u64 = 5;

/// Walks a module value without the module (`rdbLoadCheckModuleValue`): typed fields up to EOF.
fn check_module_value(r: &mut Reader, name: &str) -> Result<(), Failure> {
    let what = |kind: &str| {
        Failure::Read(RdbError::Corrupt(leak(format!(
            "Error reading {kind} from module {name} value"
        ))))
    };
    loop {
        match r.len()? {
            MODULE_OPCODE_EOF => return Ok(()),
            MODULE_OPCODE_SINT | MODULE_OPCODE_UINT => {
                r.len().map_err(|_| what("integer"))?;
            }
            MODULE_OPCODE_STRING => {
                r.string().map_err(|_| what("string"))?;
            }
            MODULE_OPCODE_FLOAT => {
                r.bytes(4).map_err(|_| what("float"))?;
            }
            MODULE_OPCODE_DOUBLE => {
                r.bytes(8).map_err(|_| what("double"))?;
            }
            _ => {}
        }
    }
}

/// A module type's 9-character name from its 64-bit id (`moduleTypeNameByID`).
fn module_name(id: u64) -> String {
    const CSET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut id = id >> 10;
    let mut name = [0u8; 9];
    for c in name.iter_mut().rev() {
        *c = CSET[(id & 63) as usize];
        id >>= 6;
    }
    String::from_utf8_lossy(&name).into_owned()
}

/// Module error texts are built at run time but [`RdbError::Corrupt`] holds a `&'static str`;
/// a checker reports one error and exits, so leaking it is fine.
fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// Bytes as C's `%s` prints them: up to the first NUL.
fn c_str(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// C's `atoi`: optional sign and leading digits, 0 when there are none.
fn atoi(b: &[u8]) -> i64 {
    let s = std::str::from_utf8(b).unwrap_or("");
    let s = s.trim_start();
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let n = digits
        .bytes()
        .take_while(u8::is_ascii_digit)
        .fold(0i64, |n, d| n.saturating_mul(10).saturating_add((d - b'0') as i64));
    if neg {
        -n
    } else {
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_names_and_atoi() {
        assert_eq!(module_name(0), "AAAAAAAAA");
        assert_eq!(atoi(b"0010"), 10);
        assert_eq!(atoi(b"x"), 0);
    }

    #[test]
    fn good_and_truncated_files() {
        let mut s = rdb::Snapshot::new(false, 0, 0);
        s.select_db(0, 1, 0);
        s.entry(b"k", &crate::keyspace::Value::string(b"v"), 0);
        let file = s.finish();
        let o = check("f", &file, 0);
        assert!(o.ok, "{}", o.report);
        assert!(o.report.contains("Checksum OK"));
        assert_eq!(o.offset, file.len());
        let o = check("f", &file[..file.len() - 12], 0);
        assert!(!o.ok && !o.fatal);
        assert!(o.report.contains("Unexpected EOF reading RDB file"), "{}", o.report);
    }
}
