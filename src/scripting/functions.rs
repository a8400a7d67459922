//! The function registry (Redis's `functions.c`): libraries loaded with FUNCTION LOAD, their
//! functions, and the payload FUNCTION DUMP / RESTORE and the RDB file carry.
//!
//! * One [`Registry`] is shared by all workers. It holds each library's code and what loading
//!   it registered (names, descriptions, flags), not Lua values: a Lua VM is per thread, so each
//!   thread loads the libraries into its own VM when it sees a new [`Registry::generation`]
//!   (`engine.rs`).
//! * Every change is checked first: the new code runs on the caller's VM in the load
//!   environment (`engine::load_library`), and the registry changes only if everything
//!   succeeded, so a failed LOAD or RESTORE leaves the libraries as they were.
//! * Names: functions are looked up case-insensitively (FCALL TEST finds `test`), library names
//!   are case-sensitive, as in Redis.

use super::engine;
use crate::persistence::rdb::{self, opcode};
use crate::server::Server;
use parking_lot::RwLock;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

/// Redis's LOAD_TIMEOUT_MS: the longest a library's top-level code may run.
pub const LOAD_TIMEOUT_MS: u64 = 500;

/// One registered function.
#[derive(Clone, Debug)]
pub struct FunctionInfo {
    pub name: String,
    pub desc: Option<Vec<u8>>,
    /// [`super::sflag`] bits.
    pub flags: u32,
}

/// A loaded library: its whole code (shebang included, as LIST WITHCODE and DUMP give it back)
/// and its functions in registration order.
#[derive(Debug)]
pub struct Library {
    pub name: String,
    pub code: Vec<u8>,
    pub functions: Vec<FunctionInfo>,
}

/// The libraries and the function index.
#[derive(Default, Clone)]
pub struct Libraries {
    pub libs: BTreeMap<String, Arc<Library>>,
    /// Lowercase function name → its library.
    funcs: HashMap<String, Arc<Library>>,
}

impl Libraries {
    pub fn function(&self, name: &[u8]) -> Option<(Arc<Library>, FunctionInfo)> {
        let key = String::from_utf8_lossy(name).to_ascii_lowercase();
        let lib = self.funcs.get(&key)?;
        let f = lib.functions.iter().find(|f| f.name.eq_ignore_ascii_case(&key))?;
        Some((lib.clone(), f.clone()))
    }

    pub fn function_count(&self) -> usize {
        self.funcs.len()
    }

    fn unlink(&mut self, name: &str) -> Option<Arc<Library>> {
        let lib = self.libs.remove(name)?;
        for f in &lib.functions {
            self.funcs.remove(&f.name.to_ascii_lowercase());
        }
        Some(lib)
    }

    fn link(&mut self, lib: Arc<Library>) {
        for f in &lib.functions {
            self.funcs.insert(f.name.to_ascii_lowercase(), lib.clone());
        }
        self.libs.insert(lib.name.clone(), lib);
    }

    /// The first of `lib`'s functions another library already has.
    fn collision<'a>(&self, lib: &'a Library) -> Option<&'a str> {
        lib.functions
            .iter()
            .find(|f| self.funcs.contains_key(&f.name.to_ascii_lowercase()))
            .map(|f| f.name.as_str())
    }

    /// Adds `lib` (Redis's `functionsCreateWithLibraryCtx` after the engine ran): replaces a
    /// library of the same name when `replace`, refuses any function name collision.
    pub fn add(&mut self, lib: Library, replace: bool) -> Result<(), String> {
        let old = match self.libs.contains_key(&lib.name) {
            true if !replace => return Err(format!("Library '{}' already exists", lib.name)),
            true => self.unlink(&lib.name),
            false => None,
        };
        if let Some(name) = self.collision(&lib) {
            let err = format!("Function {name} already exists");
            if let Some(old) = old {
                self.link(old);
            }
            return Err(err);
        }
        self.link(Arc::new(lib));
        Ok(())
    }

    /// Adds every library of `other` (Redis's `libraryJoin`, RESTORE APPEND / REPLACE); on
    /// any error nothing changes.
    pub fn join(&mut self, other: Libraries, replace: bool) -> Result<(), String> {
        let mut next = self.clone();
        for name in other.libs.keys() {
            if next.libs.contains_key(name) {
                if !replace {
                    return Err(format!("Library {name} already exists"));
                }
                next.unlink(name);
            }
        }
        for lib in other.libs.values() {
            if let Some(f) = next.collision(lib) {
                return Err(format!("Function {f} already exists"));
            }
        }
        for lib in other.libs.into_values() {
            next.link(lib);
        }
        *self = next;
        Ok(())
    }
}

/// The registry shared by all workers.
#[derive(Default)]
pub struct Registry {
    libs: RwLock<Libraries>,
    /// Bumped by every change: a thread whose VM loaded an older set reloads.
    pub generation: AtomicU64,
}

/// A parsed `#!<engine> name=<lib>` first line (Redis's `functionExtractLibMetaData`).
struct Meta {
    engine: Vec<u8>,
    name: String,
    /// Where the code after the shebang starts (at its line feed, so line numbers stay the
    /// user's).
    body_at: usize,
}

fn parse_meta(code: &[u8]) -> Result<Meta, String> {
    if !code.starts_with(b"#!") {
        return Err("Missing library metadata".into());
    }
    let Some(end) = code.iter().position(|&c| c == b'\n') else {
        return Err("Invalid library metadata".into());
    };
    let parts = match crate::protocol::parser::split_owned(&code[..end]) {
        Ok(p) if !p.is_empty() => p,
        _ => return Err("Invalid library metadata".into()),
    };
    let engine = parts[0].get(2..).unwrap_or_default().to_vec();
    let mut name = None;
    for part in &parts[1..] {
        if part.len() >= 5 && part[..5].eq_ignore_ascii_case(b"name=") {
            if name.is_some() {
                return Err("Invalid metadata value, name argument was given multiple times".into());
            }
            name = Some(String::from_utf8_lossy(&part[5..]).into_owned());
            continue;
        }
        return Err(format!(
            "Invalid metadata value given: {}",
            String::from_utf8_lossy(part)
        ));
    }
    let Some(name) = name else {
        return Err("Library name was not given".into());
    };
    Ok(Meta {
        engine,
        name,
        body_at: end,
    })
}

/// Redis's `functionsVerifyName`: letters, digits and underscores, at least one.
pub fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

pub const BAD_NAME: &str =
    "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long";

/// Checks a library's code and runs it on this thread's VM to learn its functions (Redis's
/// `functionsCreateWithLibraryCtx` up to the collision check, which [`Libraries::add`] does).
/// `timeout_ms` 0 = no limit.
pub fn compile(srv: &Server, worker: usize, code: &[u8], timeout_ms: u64) -> Result<Library, String> {
    compile_checked(srv, worker, code, timeout_ms, |_| Ok(()))
}

/// [`compile`], with `check(name)` run between the metadata checks and running the code.
fn compile_checked(
    srv: &Server,
    worker: usize,
    code: &[u8],
    timeout_ms: u64,
    check: impl FnOnce(&str) -> Result<(), String>,
) -> Result<Library, String> {
    let meta = parse_meta(code)?;
    if !valid_name(meta.name.as_bytes()) {
        return Err(BAD_NAME.into());
    }
    if !meta.engine.eq_ignore_ascii_case(b"lua") {
        return Err(format!("Engine '{}' not found", String::from_utf8_lossy(&meta.engine)));
    }
    check(&meta.name)?;
    let functions = engine::load_library(srv, worker, &code[meta.body_at..], timeout_ms)?;
    if functions.is_empty() {
        return Err("No functions registered".into());
    }
    Ok(Library {
        name: meta.name,
        code: code.to_vec(),
        functions,
    })
}

/// How FUNCTION RESTORE treats the libraries already there.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum RestorePolicy {
    Append,
    Replace,
    Flush,
}

impl Registry {
    /// A copy of the current libraries (cheap: the libraries are shared).
    pub fn snapshot(&self) -> Libraries {
        self.libs.read().clone()
    }

    pub fn function(&self, name: &[u8]) -> Option<(Arc<Library>, FunctionInfo)> {
        self.libs.read().function(name)
    }

    /// (libraries, functions).
    pub fn counts(&self) -> (usize, usize) {
        let l = self.libs.read();
        (l.libs.len(), l.function_count())
    }

    /// Applies a change to the libraries; bumps the generation when it succeeded.
    pub fn update<R>(&self, f: impl FnOnce(&mut Libraries) -> Result<R, String>) -> Result<R, String> {
        let mut libs = self.libs.write();
        let r = f(&mut libs)?;
        self.generation.fetch_add(1, Relaxed);
        Ok(r)
    }

    /// FUNCTION LOAD: the loaded library's name.
    pub fn load(
        &self,
        srv: &Server,
        worker: usize,
        code: &[u8],
        replace: bool,
        timeout_ms: u64,
    ) -> Result<String, String> {
        // An existing library is refused before its code runs, as Redis does; `add` checks
        // again under the lock.
        let lib = compile_checked(srv, worker, code, timeout_ms, |name| {
            match !replace && self.libs.read().libs.contains_key(name) {
                true => Err(format!("Library '{name}' already exists")),
                false => Ok(()),
            }
        })?;
        let name = lib.name.clone();
        self.update(|libs| libs.add(lib, replace))?;
        Ok(name)
    }

    /// FUNCTION DELETE: false when there is no such library.
    pub fn delete(&self, name: &[u8]) -> bool {
        let name = String::from_utf8_lossy(name);
        let mut libs = self.libs.write();
        let found = libs.unlink(&name).is_some();
        if found {
            self.generation.fetch_add(1, Relaxed);
        }
        found
    }

    /// FUNCTION FLUSH (and FLUSH-policy RESTORE): with `lazy`, the old libraries are freed on
    /// another thread.
    pub fn flush(&self, lazy: bool) {
        let old = self.replace_all(Libraries::default());
        if lazy {
            std::thread::spawn(move || drop(old));
        }
    }

    fn replace_all(&self, new: Libraries) -> Libraries {
        let mut libs = self.libs.write();
        self.generation.fetch_add(1, Relaxed);
        std::mem::replace(&mut *libs, new)
    }

    /// Every library's code, for FUNCTION DUMP and the RDB file.
    pub fn codes(&self) -> Vec<Vec<u8>> {
        self.libs.read().libs.values().map(|l| l.code.clone()).collect()
    }

    /// FUNCTION DUMP's payload: a FUNCTION2 record per library, the RDB version, CRC64.
    pub fn dump(&self) -> Vec<u8> {
        let mut w = rdb::Writer::new(true);
        for code in self.codes() {
            w.byte(opcode::FUNCTION2);
            w.string(&code);
        }
        w.buf.extend_from_slice(&rdb::RDB_VERSION.to_le_bytes());
        let crc = rdb::crc64(&w.buf);
        w.buf.extend_from_slice(&crc.to_le_bytes());
        w.buf
    }

    /// FUNCTION RESTORE: Redis's error texts.
    pub fn restore(&self, srv: &Server, worker: usize, payload: &[u8], policy: RestorePolicy) -> Result<(), String> {
        if !rdb::verify_payload(payload, false) {
            return Err("DUMP payload version or checksum are wrong".into());
        }
        let body = &payload[..payload.len() - 10];
        let mut r = rdb::Reader::new(body);
        let mut new = Libraries::default();
        while r.remaining() > 0 {
            let t = r.byte().map_err(|_| "can not read data type".to_string())?;
            if t != opcode::FUNCTION2 {
                return Err("given type is not a function".into());
            }
            let code = r.string().map_err(|_| "Failed loading library payload".to_string())?;
            let lib = compile(srv, worker, &code, 0)?;
            new.add(lib, false)?;
        }
        match policy {
            RestorePolicy::Flush => {
                self.replace_all(new);
                Ok(())
            }
            _ => self.update(|libs| libs.join(new, policy == RestorePolicy::Replace)),
        }
    }

    /// Loads the libraries an RDB file carries (its FUNCTION2 records). With `replace` (DEBUG
    /// RELOAD MERGE), one that exists is replaced; otherwise that is an error.
    pub fn load_rdb(&self, srv: &Server, worker: usize, file: &[u8], replace: bool) -> Result<usize, String> {
        let codes = rdb::function_records(file).map_err(|e| format!("{e:?}"))?;
        if codes.is_empty() {
            return Ok(0);
        }
        let mut next = self.snapshot();
        for code in &codes {
            let lib = compile(srv, worker, code, 0)?;
            next.add(lib, replace)?;
        }
        self.replace_all(next);
        Ok(codes.len())
    }

    /// INFO's `used_memory_functions`: code, names and the tables' overhead, roughly as Redis
    /// counts its `functionsMemoryOverhead`.
    pub fn memory_overhead(&self) -> u64 {
        let l = self.libs.read();
        let code: usize = l
            .libs
            .values()
            .map(|lib| lib.code.len() + lib.name.len() + 64 + lib.functions.len() * 96)
            .sum();
        (code + l.funcs.len() * 24 + 200) as u64
    }
}
