//! What a key holds: its value, its expire time and its access clock.
//!
//! Strings keep Redis's three encodings because OBJECT ENCODING and the test suite observe them:
//! `int` (a canonical decimal that fits an i64), `embstr` (≤ 44 bytes, set whole) and `raw`
//! (longer, or modified in place by APPEND/SETRANGE/SETBIT). Collection types join this enum in
//! their own issues.

use crate::util::num;
use std::borrow::Cow;

/// Longest string Redis stores as `embstr`.
pub const EMBSTR_MAX: usize = 44;

pub enum Value {
    /// A string that is a canonical integer (`int` encoding).
    Int(i64),
    /// A string stored whole (`embstr` when ≤ 44 bytes, else `raw`).
    Str(Box<[u8]>),
    /// A string that was modified in place (`raw`), with spare capacity for appends.
    Raw(Vec<u8>),
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
        Value::Str(bytes.into())
    }

    /// A string value kept exactly as given (no int encoding), e.g. for SETRANGE results.
    pub fn raw(bytes: Vec<u8>) -> Value {
        Value::Raw(bytes)
    }

    pub fn kind(&self) -> Kind {
        match self {
            Value::Int(_) | Value::Str(_) | Value::Raw(_) => Kind::String,
        }
    }

    /// The string's bytes, formatting an integer when needed; None for non-strings.
    pub fn as_bytes(&self) -> Option<Cow<'_, [u8]>> {
        match self {
            Value::Int(n) => Some(Cow::Owned(num::i64_to_bytes(*n))),
            Value::Str(b) => Some(Cow::Borrowed(b)),
            Value::Raw(v) => Some(Cow::Borrowed(v)),
        }
    }

    /// Length of a string value.
    pub fn str_len(&self) -> Option<usize> {
        match self {
            Value::Int(n) => Some(num::i64_to_bytes(*n).len()),
            Value::Str(b) => Some(b.len()),
            Value::Raw(v) => Some(v.len()),
        }
    }

    /// Turns a string into its `raw` form for in-place modification.
    pub fn make_raw(&mut self) -> Option<&mut Vec<u8>> {
        match self {
            Value::Int(n) => *self = Value::Raw(num::i64_to_bytes(*n)),
            Value::Str(b) => *self = Value::Raw(std::mem::take(b).into_vec()),
            Value::Raw(_) => {}
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
            Value::Str(b) => Value::Str(b.clone()),
            Value::Raw(v) => Value::Raw(v.clone()),
        }
    }

    /// The name OBJECT ENCODING reports.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Int(_) => "int",
            Value::Str(b) if b.len() <= EMBSTR_MAX => "embstr",
            Value::Str(_) | Value::Raw(_) => "raw",
        }
    }

    /// Approximate bytes used, for MEMORY USAGE.
    pub fn memory(&self) -> usize {
        match self {
            Value::Int(_) => 0,
            Value::Str(b) => b.len(),
            Value::Raw(v) => v.capacity(),
        }
    }
}

/// A key's slot in the keyspace.
pub struct Entry {
    pub value: Value,
    /// Absolute expire time in Unix milliseconds; 0 when the key has no TTL.
    pub expire: i64,
    /// Access clock (seconds since server start) for OBJECT IDLETIME; LFU data under an LFU policy.
    pub lru: u32,
}

impl Entry {
    pub fn new(value: Value, lru: u32) -> Entry {
        Entry { value, expire: 0, lru }
    }

    #[inline]
    pub fn is_expired(&self, now_ms: i64) -> bool {
        self.expire != 0 && self.expire <= now_ms
    }
}
