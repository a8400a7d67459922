//! What a key holds: its value, its expire time and its access clock.
//!
//! Strings keep Redis's three encodings because OBJECT ENCODING and the test suite observe them:
//! `int` (a canonical decimal that fits an i64), `embstr` (≤ 44 bytes, set whole) and `raw`
//! (longer, or modified in place by APPEND/SETRANGE/SETBIT). Collections are the types of
//! `src/types/`, reached through the [`Collection`] trait.

use crate::types::{hash::Hash, list::List, set::Set, stream::Stream, zset::ZSet, Collection};
use crate::util::num;
use std::borrow::Cow;

/// Longest string Redis stores as `embstr`.
pub const EMBSTR_MAX: usize = 44;

/// A value is 24 bytes: strings up to [`SMALL_MAX`] bytes live inside it, with no allocation.
pub enum Value {
    /// A string that is a canonical integer (`int` encoding).
    Int(i64),
    /// A short string stored inline (`embstr`).
    Small(Small),
    /// A string stored whole (`embstr` when ≤ 44 bytes, else `raw`).
    Str(Box<[u8]>),
    /// A string that was modified in place (`raw`), with spare capacity for appends.
    Raw(Box<Vec<u8>>),
    List(List),
    Hash(Hash),
    Set(Set),
    ZSet(ZSet),
    /// Boxed: a stream's header is larger than the 16 bytes a variant may take.
    Stream(Box<Stream>),
}

/// Runs `$body` with `$c` bound to the collection inside `$v`, or evaluates `$strings` for a
/// string value.
macro_rules! with_collection {
    ($v:expr, $c:ident => $body:expr, _ => $strings:expr) => {
        match $v {
            Value::List($c) => $body,
            Value::Hash($c) => $body,
            Value::Set($c) => $body,
            Value::ZSet($c) => $body,
            Value::Stream($c) => $body,
            _ => $strings,
        }
    };
}
pub(crate) use with_collection;

/// Longest string stored inside a [`Value`].
pub const SMALL_MAX: usize = 22;

/// An inline string of at most [`SMALL_MAX`] bytes.
#[derive(Clone, Copy)]
pub struct Small {
    len: u8,
    buf: [u8; SMALL_MAX],
}

impl Small {
    pub fn new(b: &[u8]) -> Option<Small> {
        if b.len() > SMALL_MAX {
            return None;
        }
        let mut buf = [0u8; SMALL_MAX];
        buf[..b.len()].copy_from_slice(b);
        Some(Small {
            len: b.len() as u8,
            buf,
        })
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len as usize]
    }
}

/// The type names of TYPE and SCAN TYPE.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    String,
    List,
    Set,
    ZSet,
    Hash,
    Stream,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::List => "list",
            Kind::Set => "set",
            Kind::ZSet => "zset",
            Kind::Hash => "hash",
            Kind::Stream => "stream",
        }
    }

    pub fn from_name(name: &[u8]) -> Option<Kind> {
        Some(match name.to_ascii_lowercase().as_slice() {
            b"string" => Kind::String,
            b"list" => Kind::List,
            b"set" => Kind::Set,
            b"zset" => Kind::ZSet,
            b"hash" => Kind::Hash,
            b"stream" => Kind::Stream,
            _ => return None,
        })
    }
}

impl Value {
    /// A string value from bytes, choosing the encoding as Redis's `tryObjectEncoding` does.
    pub fn string(bytes: &[u8]) -> Value {
        if bytes.len() <= 20 {
            if let Some(n) = num::parse_i64(bytes) {
                return Value::Int(n);
            }
        }
        match Small::new(bytes) {
            Some(s) => Value::Small(s),
            None => Value::Str(bytes.into()),
        }
    }

    /// A string value that is never int-encoded (`embstr`, inline when short), as Redis stores
    /// INCRBYFLOAT results.
    pub fn plain(bytes: &[u8]) -> Value {
        match Small::new(bytes) {
            Some(s) => Value::Small(s),
            None => Value::Str(bytes.into()),
        }
    }

    /// A string value kept exactly as given (no int encoding), e.g. for SETRANGE results.
    pub fn raw(bytes: Vec<u8>) -> Value {
        Value::Raw(Box::new(bytes))
    }

    pub fn kind(&self) -> Kind {
        match self {
            Value::Int(_) | Value::Small(_) | Value::Str(_) | Value::Raw(_) => Kind::String,
            Value::List(_) => Kind::List,
            Value::Hash(_) => Kind::Hash,
            Value::Set(_) => Kind::Set,
            Value::ZSet(_) => Kind::ZSet,
            Value::Stream(_) => Kind::Stream,
        }
    }

    /// The bytes of a string that is not integer-encoded (None for ints and non-strings), for
    /// replies that can be written without formatting.
    #[inline]
    pub fn str_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Small(s) => Some(s.as_bytes()),
            Value::Str(b) => Some(b),
            Value::Raw(v) => Some(v),
            _ => None,
        }
    }

    /// The string's bytes, formatting an integer when needed; None for non-strings.
    pub fn as_bytes(&self) -> Option<Cow<'_, [u8]>> {
        match self {
            Value::Int(n) => Some(Cow::Owned(num::i64_to_bytes(*n))),
            Value::Small(s) => Some(Cow::Borrowed(s.as_bytes())),
            Value::Str(b) => Some(Cow::Borrowed(b)),
            Value::Raw(v) => Some(Cow::Borrowed(v)),
            _ => None,
        }
    }

    /// Length of a string value.
    pub fn str_len(&self) -> Option<usize> {
        match self {
            Value::Int(n) => Some(num::i64_to_bytes(*n).len()),
            Value::Small(s) => Some(s.len as usize),
            Value::Str(b) => Some(b.len()),
            Value::Raw(v) => Some(v.len()),
            _ => None,
        }
    }

    /// Turns a string into its `raw` form for in-place modification.
    pub fn make_raw(&mut self) -> Option<&mut Vec<u8>> {
        match self {
            Value::Int(n) => *self = Value::raw(num::i64_to_bytes(*n)),
            Value::Small(s) => *self = Value::raw(s.as_bytes().to_vec()),
            Value::Str(b) => *self = Value::raw(std::mem::take(b).into_vec()),
            Value::Raw(_) => {}
            _ => return None,
        }
        match self {
            Value::Raw(v) => Some(v),
            _ => None,
        }
    }

    /// An independent copy with the same encoding (COPY, `dupStringObject`).
    pub fn duplicate(&self) -> Value {
        match self {
            Value::Int(n) => Value::Int(*n),
            Value::Small(s) => Value::Small(*s),
            Value::Str(b) => Value::Str(b.clone()),
            Value::Raw(v) => Value::Raw(v.clone()),
            Value::List(c) => Value::List(c.duplicate()),
            Value::Hash(c) => Value::Hash(c.duplicate()),
            Value::Set(c) => Value::Set(c.duplicate()),
            Value::ZSet(c) => Value::ZSet(c.duplicate()),
            Value::Stream(c) => Value::Stream(Box::new(c.duplicate())),
        }
    }

    /// The name OBJECT ENCODING reports.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Int(_) => "int",
            Value::Small(_) => "embstr",
            Value::Str(b) if b.len() <= EMBSTR_MAX => "embstr",
            Value::Str(_) | Value::Raw(_) => "raw",
            _ => with_collection!(self, c => c.encoding(), _ => "raw"),
        }
    }

    /// Approximate bytes used, for MEMORY USAGE.
    pub fn memory(&self) -> usize {
        match self {
            Value::Int(_) | Value::Small(_) => 0,
            Value::Str(b) => b.len(),
            Value::Raw(v) => v.capacity(),
            _ => with_collection!(self, c => c.memory(), _ => 0),
        }
    }

    /// How much work freeing the value is (Redis's `lazyfreeGetFreeEffort`): 1 for strings, the
    /// element count for collections. UNLINK frees values above 64 in the background.
    pub fn free_effort(&self) -> usize {
        with_collection!(self, c => c.len(), _ => 1)
    }
}

/// A key's slot in the keyspace.
pub struct Entry {
    pub value: Value,
    /// Absolute expire time in Unix milliseconds; 0 when the key has no TTL.
    pub expire: i64,
    /// Access clock (seconds since server start) for OBJECT IDLETIME; LFU data under an LFU policy.
    pub lru: u32,
    /// Length of the key stored after the entry in its dict node (kept here because it fits in
    /// this struct's padding; maintained by `dict.rs` only).
    pub(crate) klen: u32,
}

impl Entry {
    pub fn new(value: Value, lru: u32) -> Entry {
        Entry {
            value,
            expire: 0,
            lru,
            klen: 0,
        }
    }

    /// Whether the key's time has passed. Never while this thread replays the AOF
    /// ([`NO_EXPIRY`]).
    #[inline]
    pub fn is_expired(&self, now_ms: i64) -> bool {
        self.expire != 0 && self.expire <= now_ms && !loading()
    }
}

thread_local! {
    /// Set while this thread replays the AOF: no key counts as expired (Redis's `keyIsExpired`
    /// while loading), so each logged command meets the keys as they were when it was logged;
    /// `PEXPIREAT k <past>` followed by `RPUSH k` extends the old list, which then expires.
    pub static NO_EXPIRY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// See [`NO_EXPIRY`].
#[inline]
pub fn loading() -> bool {
    NO_EXPIRY.with(|c| c.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_stay_compact() {
        // dict.rs relies on these: a node is 8 bytes of chain pointer plus the entry.
        assert_eq!(std::mem::size_of::<Value>(), 24);
        assert_eq!(std::mem::size_of::<Entry>(), 40);
    }

    #[test]
    fn encodings_follow_redis() {
        assert_eq!(Value::string(b"123").encoding(), "int");
        assert_eq!(Value::string(b"0123").encoding(), "embstr");
        assert_eq!(Value::string(&[b'a'; 44]).encoding(), "embstr");
        assert_eq!(Value::string(&[b'a'; 45]).encoding(), "raw");
        let mut v = Value::string(b"abc");
        v.make_raw().unwrap().extend_from_slice(b"d");
        assert_eq!(v.encoding(), "raw");
        assert_eq!(&*v.as_bytes().unwrap(), b"abcd");
    }
}
