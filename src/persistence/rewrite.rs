//! The commands that rebuild a key: what an AOF base without an RDB preamble holds (Redis's
//! `rewriteAppendOnlyFileRio`).
//!
//! Strings are written as SET, lists as RPUSH, sets as SADD, sorted sets as ZADD and hashes as
//! HMSET, each in commands of at most [`ITEMS_PER_COMMAND`] items as Redis does, so loading never
//! needs one huge request. Streams are written as RESTORE of their DUMP payload: their consumer
//! groups, pending entries and deleted-entry counters have no command form that keeps every
//! field, and Redis's loader accepts RESTORE as well. A TTL follows as PEXPIREAT.

use super::aof::resp;
use crate::keyspace::value::{Entry, Value};
use crate::util::num;

/// Items per command (Redis's `AOF_REWRITE_ITEMS_PER_CMD`).
pub const ITEMS_PER_COMMAND: usize = 64;

/// Collects one type's items into commands `<name> key item...` of at most
/// [`ITEMS_PER_COMMAND`] items each.
struct Batch<'a> {
    out: &'a mut Vec<u8>,
    argv: Vec<Vec<u8>>,
    head: usize,
    items: usize,
}

impl<'a> Batch<'a> {
    fn new(out: &'a mut Vec<u8>, name: &str, key: &[u8]) -> Batch<'a> {
        let argv = vec![name.as_bytes().to_vec(), key.to_vec()];
        Batch {
            out,
            head: argv.len(),
            argv,
            items: 0,
        }
    }

    /// Adds one item (its arguments: a member, or a score and a member, or a field and a value).
    fn item(&mut self, args: impl IntoIterator<Item = Vec<u8>>) {
        self.argv.extend(args);
        self.items += 1;
        if self.items == ITEMS_PER_COMMAND {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.items > 0 {
            resp(self.out, &self.argv);
            self.argv.truncate(self.head);
            self.items = 0;
        }
    }
}

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Appends the commands that rebuild `key` with `entry`'s value and TTL.
pub fn key_commands(out: &mut Vec<u8>, key: &[u8], entry: &Entry) {
    match &entry.value {
        Value::List(l) => {
            let mut b = Batch::new(out, "RPUSH", key);
            for item in l.iter() {
                b.item([item.into_owned()]);
            }
        }
        Value::Set(s) => {
            let mut b = Batch::new(out, "SADD", key);
            for m in s.iter() {
                b.item([m.bytes().into_owned()]);
            }
        }
        Value::ZSet(z) => {
            let mut b = Batch::new(out, "ZADD", key);
            z.for_each(&mut |m, score| b.item([num::fmt_double(score).into_bytes(), m.to_vec()]));
        }
        Value::Hash(h) => {
            let mut b = Batch::new(out, "HMSET", key);
            for (f, v) in h.iter() {
                b.item([f.to_vec(), v.to_vec()]);
            }
        }
        Value::Stream(_) => resp(
            out,
            &[
                b"RESTORE".to_vec(),
                key.to_vec(),
                b"0".to_vec(),
                super::rdb::dump_payload(&entry.value, false),
            ],
        ),
        string => {
            let bytes = string.as_bytes().map(|b| b.into_owned()).unwrap_or_default();
            resp(out, &[b"SET".to_vec(), key.to_vec(), bytes]);
        }
    }
    if entry.expire != 0 {
        resp(
            out,
            &[
                b"PEXPIREAT".to_vec(),
                key.to_vec(),
                entry.expire.to_string().into_bytes(),
            ],
        );
    }
}
