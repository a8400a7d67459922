//! What a running point-in-time snapshot still has to write, per shard, in **segments**.
//!
//! At the snapshot's instant each non-empty shard is cut into `2^bits` segments by the low bits
//! of the key hash (the bits the shard's table indexes its buckets with), each of about
//! [`SEGMENT_KEYS`] keys, and every segment is marked pending. Before a command reads or changes
//! a key, the segment that key falls in is written to the snapshot if it is still pending (see
//! `Db::lock`), so the work a command can be made to do for the snapshot is one segment, a few
//! microseconds whatever the dataset's size, instead of a whole shard. The snapshot's walk
//! writes the segments nobody touched, a bounded batch per lock hold.
//!
//! A segment is a fixed set of hashes, so it survives the table growing or shrinking: with `B`
//! buckets (a power of two) and `S` segments, segment `s` is the buckets `s, s + S, s + 2S ...`
//! when `B >= S`, and the keys of bucket `s mod B` whose hash ends in `s` when `B < S`.

use super::dict::Dict;
use super::value::Entry;

/// Keys per segment the cut aims at: small enough that writing one costs a few microseconds.
pub const SEGMENT_KEYS: usize = 16;

/// A visitor of entries (key, entry).
pub type Visit<'a> = dyn FnMut(&[u8], &Entry) + 'a;
/// Feeds entries to the visitor it is given (what a capture writes).
pub type Feed<'a> = dyn FnMut(&mut Visit<'_>) + 'a;

/// The receiver of a point-in-time snapshot (`persistence::snapshot`): every key present at the
/// instant is handed to it exactly once, by whichever thread reaches its segment first — a
/// command about to use a key of it, or the snapshot's own walk — so no key changes before it has
/// been written, without fork and without copying the dataset.
pub trait Capture: Send + Sync {
    /// Writes, as database `db`'s keys, every entry that `each` feeds to the closure it is given
    /// (the shard's lock is held). Returns how many were written.
    fn write(&self, db: usize, each: &mut Feed<'_>) -> usize;
    /// Takes the table of a pending shard that FLUSHDB emptied, recorded as database `db`'s,
    /// with its segments still to write. The sink writes it later ([`Detached::for_each`]) and
    /// then calls `Keyspace::captured`.
    fn detached(&self, db: usize, table: Detached);
}

/// The pending segments of one shard's content (empty when no snapshot needs it).
#[derive(Default)]
pub struct Marks {
    bits: u32,
    /// One bit per segment, set while the segment is still to be written.
    words: Vec<u64>,
    /// Segments still pending.
    left: usize,
    /// No segment below this one is pending (where the walk goes on).
    next: usize,
}

impl Marks {
    /// Marks every segment of a table of `keys` keys pending.
    pub fn all_pending(keys: usize) -> Marks {
        let bits = (keys / SEGMENT_KEYS).max(1).next_power_of_two().trailing_zeros();
        let n = 1usize << bits;
        let mut words = vec![u64::MAX; n.div_ceil(64)];
        if n < 64 {
            words[0] = (1u64 << n) - 1;
        }
        Marks {
            bits,
            words,
            left: n,
            next: 0,
        }
    }

    /// Whether a segment is still pending.
    pub fn any(&self) -> bool {
        self.left > 0
    }

    /// The segment a key with hash `h` falls in, if it is still pending.
    #[inline]
    pub fn pending_of(&self, h: u64) -> Option<usize> {
        let s = h as usize & ((1usize << self.bits) - 1);
        let w = self.words.get(s / 64)?;
        (w & (1 << (s % 64)) != 0).then_some(s)
    }

    /// Marks segment `s` written; true when it was the last pending one.
    fn done(&mut self, s: usize) -> bool {
        if let Some(w) = self.words.get_mut(s / 64) {
            if *w & (1 << (s % 64)) != 0 {
                *w &= !(1 << (s % 64));
                self.left -= 1;
            }
        }
        self.left == 0
    }

    /// The first pending segment at or after the walk's position.
    fn next_pending(&mut self) -> Option<usize> {
        while self.next < 1usize << self.bits {
            let (i, b) = (self.next / 64, self.next % 64);
            let w = self.words.get(i)? >> b;
            if w != 0 {
                self.next += w.trailing_zeros() as usize;
                return Some(self.next);
            }
            self.next = (i + 1) * 64;
        }
        None
    }

    /// Visits the entries of segment `s` in `dict`.
    fn visit(&self, dict: &Dict, s: usize, f: &mut dyn FnMut(&[u8], &Entry)) {
        dict.for_each_in_segment(s, self.bits, f);
    }

    /// Feeds segment `s` to `f` and marks it written. True when it was the last pending one.
    pub fn take(&mut self, dict: &Dict, s: usize, f: &mut dyn FnMut(&[u8], &Entry)) -> bool {
        self.visit(dict, s, f);
        self.done(s)
    }

    /// Feeds pending segments to `f`, in order, until about `max_keys` keys were fed or none is
    /// left; marks them written. Returns true when none is left.
    pub fn take_some(&mut self, dict: &Dict, max_keys: usize, f: &mut dyn FnMut(&[u8], &Entry)) -> bool {
        let mut fed = 0;
        while fed < max_keys {
            let Some(s) = self.next_pending() else { break };
            self.visit(dict, s, &mut |k, e| {
                fed += 1;
                f(k, e)
            });
            self.done(s);
        }
        self.left == 0
    }

    /// Clears every mark (the snapshot was abandoned).
    pub fn clear(&mut self) {
        *self = Marks::default();
    }
}

/// A pending shard's table that FLUSHDB detached: the snapshot still writes its pending
/// segments.
pub struct Detached {
    pub dict: Dict,
    pub marks: Marks,
}

impl Detached {
    /// Visits every entry the snapshot still has to write.
    pub fn for_each(&mut self, f: &mut dyn FnMut(&[u8], &Entry)) {
        let Detached { dict, marks } = self;
        marks.take_some(dict, usize::MAX, f);
    }
}
