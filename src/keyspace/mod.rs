//! The keyspace: `databases` databases, each split into shards locked independently.
//!
//! A command locks the shards of the keys it touches (in ascending order, see
//! [`Db::lock_keys`]) and holds them while it runs, which makes it atomic. See
//! docs/ARCHITECTURE.md for why the keyspace is shared and locked rather than partitioned
//! between threads.

pub mod capture;
pub mod dict;
pub mod evict;
pub mod hash;
pub mod holds;
pub mod lazyfree;
pub mod shard_lock;
pub mod value;

use capture::Marks;
pub use capture::{Capture, Detached};
use dict::Dict;
use parking_lot::RwLock;
use shard_lock::{ShardGuard, ShardMutex};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use value::Entry;

pub use value::{Kind, Value};

/// Counters the keyspace itself maintains (INFO stats).
#[derive(Default)]
pub struct KeyspaceStats {
    pub expired_keys: AtomicU64,
    pub expired_stale_perc: AtomicU64,
    pub expired_time_cap_reached_count: AtomicU64,
    /// Unix ms until which expired keys are kept (CLIENT PAUSE): lookups see them as missing but
    /// do not delete them, so a paused server's dataset does not change.
    pub expire_paused_until: std::sync::atomic::AtomicI64,
    /// Called with (database, key) after a lookup deleted an expired key (the `expired`
    /// keyspace notification); set once at start-up.
    pub on_expired: std::sync::OnceLock<ExpiredHook>,
}

/// See [`KeyspaceStats::on_expired`].
pub type ExpiredHook = Box<dyn Fn(usize, &[u8]) + Send + Sync>;

/// Keyspace notifications raised where only a shard is at hand (key creation, pops shared with
/// blocking commands): called with (class, event, database, key). Process-wide and set once at
/// start-up, because the shard's methods get no server context.
pub static KEY_EVENTS: std::sync::OnceLock<KeyEventHook> = std::sync::OnceLock::new();
/// The enabled notification classes (`notify-keyspace-events` as `server::notify` flags, 0 when
/// nothing is published), so a disabled event costs one relaxed load.
pub static EVENT_FLAGS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
/// The `new` class (`server::notify::NEW`).
const NOTIFY_NEW: u32 = 1 << 14;

/// Set while writes are propagated (AOF on): a lookup may then delete an expired key only on a
/// thread that holds the propagation order mutex ([`MAY_EXPIRE`]); elsewhere it treats the key
/// as absent and leaves it, as a Redis replica does (`server::propagate`).
pub static PROPAGATING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

thread_local! {
    /// This thread holds the propagation order mutex (or replays the AOF): its lookups may
    /// delete expired keys while [`PROPAGATING`] is set.
    pub static MAY_EXPIRE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether a lookup may delete an expired key now (see [`PROPAGATING`]).
#[inline]
fn may_delete_expired() -> bool {
    !PROPAGATING.load(Relaxed) || MAY_EXPIRE.with(|c| c.get())
}

/// See [`KEY_EVENTS`].
pub type KeyEventHook = Box<dyn Fn(u32, &str, usize, &[u8]) + Send + Sync>;

impl KeyspaceStats {
    /// Reports a key expired on access in database `db`.
    #[inline]
    pub fn expired(&self, db: usize, key: &[u8]) {
        if let Some(f) = self.on_expired.get() {
            f(db, key);
        }
    }
}

/// One shard of one database.
#[derive(Default)]
pub struct Shard {
    pub dict: Dict,
    /// Number of keys with a TTL in this shard.
    pub volatile: usize,
    /// Where active expiry continues its sweep.
    pub expire_cursor: usize,
    /// Index of the database this shard belongs to (kept by SWAPDB, which swaps contents).
    pub db: usize,
    /// A snapshot is running and has not captured all of this content yet (see [`Capture`]):
    /// `snap_marks` says which segments are left. Both travel with the content, like
    /// `snap_db`, when SWAPDB moves it.
    pub snap_pending: bool,
    /// The database index this content had when the running snapshot started.
    pub snap_db: usize,
    snap_marks: Marks,
    /// The script that held this shard (see [`holds`]): while it runs no other thread may use
    /// the shard. 0: none; a stale number is cleared by the next locker.
    held_by: u64,
}

impl Shard {
    /// Publishes keyspace event `event` of `class` for `key` of this shard's database.
    #[inline]
    pub fn notify(&self, class: u32, event: &str, key: &[u8]) {
        if EVENT_FLAGS.load(Relaxed) & class != 0 {
            if let Some(f) = KEY_EVENTS.get() {
                f(class, event, self.db, key);
            }
        }
    }

    /// Reports a key this shard just created (the `new` event).
    #[inline]
    fn created(&self, key: &[u8]) {
        self.notify(NOTIFY_NEW, "new", key);
    }

    /// Looks a key up for writing, deleting it first if it has expired.
    #[inline]
    pub fn get_mut(&mut self, key: &[u8], now_ms: i64, stats: &KeyspaceStats) -> Option<&mut Entry> {
        if self.volatile > 0 && self.dict.get(key).is_some_and(|e| e.is_expired(now_ms)) {
            if stats.expire_paused_until.load(Relaxed) <= now_ms && may_delete_expired() {
                self.expire_key(key, stats);
            }
            return None;
        }
        self.dict.get_mut(key)
    }

    /// Looks a key up for reading (lazily expiring it).
    #[inline]
    pub fn get(&mut self, key: &[u8], now_ms: i64, stats: &KeyspaceStats) -> Option<&Entry> {
        self.get_mut(key, now_ms, stats).map(|e| &*e)
    }

    fn expire_key(&mut self, key: &[u8], stats: &KeyspaceStats) {
        if self.remove(key).is_some() {
            stats.expired_keys.fetch_add(1, Relaxed);
            stats.expired(self.db, key);
        }
    }

    /// Sets a key's value. With `keep_ttl` an existing TTL stays, else it is cleared.
    pub fn set(&mut self, key: &[u8], value: Value, keep_ttl: bool, lru: u32) {
        match self.dict.get_mut(key) {
            Some(e) => {
                e.value = value;
                evict::touch(e, lru);
                if !keep_ttl && e.expire != 0 {
                    e.expire = 0;
                    self.volatile -= 1;
                }
            }
            None => {
                self.dict.insert_new(key, Entry::new(value, lru));
                self.created(key);
            }
        }
    }

    /// Writes `value` under `key` with one chain walk on the hit path, whether the key exists,
    /// has expired or is absent: SET's hot path. `expire` is the new TTL (Unix ms, `Some(0)` =
    /// none) or `None` to keep a live key's TTL (KEEPTTL). A key found expired counts as expired
    /// and is replaced as if absent. Returns whether a live key was overwritten.
    pub fn upsert(
        &mut self,
        key: &[u8],
        value: Value,
        expire: Option<i64>,
        lru: u32,
        now_ms: i64,
        stats: &KeyspaceStats,
    ) -> bool {
        if let Some(e) = self.dict.get_mut(key) {
            let live = !e.is_expired(now_ms);
            if !live {
                stats.expired_keys.fetch_add(1, Relaxed);
                stats.expired(self.db, key);
            }
            let had_ttl = e.expire != 0;
            let when = match expire {
                Some(ms) => ms,
                None if live => e.expire,
                None => 0,
            };
            e.value = value;
            // An overwrite is an access: LFU keeps (and bumps) the key's counter, as Redis's
            // dbOverwrite keeps the old object's.
            if live {
                evict::touch(e, lru);
            } else {
                e.lru = lru;
            }
            e.expire = when;
            match (had_ttl, when != 0) {
                (false, true) => self.volatile += 1,
                (true, false) => self.volatile -= 1,
                _ => {}
            }
            if !live {
                self.created(key);
            }
            return live;
        }
        let when = expire.unwrap_or(0);
        if when != 0 {
            self.volatile += 1;
        }
        let mut entry = Entry::new(value, lru);
        entry.expire = when;
        self.dict.insert_new(key, entry);
        self.created(key);
        false
    }

    /// Inserts a whole entry (with its TTL), replacing any existing one.
    pub fn put_entry(&mut self, key: &[u8], entry: Entry) {
        let ttl = entry.expire != 0;
        match self.dict.insert(key, entry) {
            Some(old) if old.expire != 0 => self.volatile -= 1,
            Some(_) => {}
            None => self.created(key),
        }
        if ttl {
            self.volatile += 1;
        }
    }

    /// Sets or clears (0) a key's expire time. The key must exist.
    pub fn set_expire(&mut self, key: &[u8], when_ms: i64) {
        if let Some(e) = self.dict.get_mut(key) {
            match (e.expire != 0, when_ms != 0) {
                (false, true) => self.volatile += 1,
                (true, false) => self.volatile -= 1,
                _ => {}
            }
            e.expire = when_ms;
        }
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let e = self.dict.remove(key)?;
        if e.expire != 0 {
            self.volatile -= 1;
        }
        Some(e)
    }

    pub fn remove_entry(&mut self, key: &[u8]) -> Option<(Box<[u8]>, Entry)> {
        let (k, e) = self.dict.remove_entry(key)?;
        if e.expire != 0 {
            self.volatile -= 1;
        }
        Some((k, e))
    }

    /// Empties the shard, returning its table (to be freed elsewhere) and its key count.
    pub fn take_all(&mut self) -> Dict {
        self.volatile = 0;
        self.expire_cursor = 0;
        self.dict.take()
    }

    pub fn clear(&mut self) -> usize {
        let n = self.dict.len();
        self.dict.clear();
        self.volatile = 0;
        self.expire_cursor = 0;
        n
    }
}

/// The running snapshot, shared by every database (a lock on the cold path only: it is read
/// when a pending shard is found).
#[derive(Default)]
struct CaptureSlot {
    sink: RwLock<Option<Arc<dyn Capture>>>,
    /// Contents not captured yet: pending shards plus detached tables the sink still holds.
    pending: AtomicUsize,
}

/// Keys a snapshot writes per lock hold when it captures whole shards (its walk, and callers
/// that may touch any key of a shard): about 30 µs of serialization.
pub const STEP_KEYS: usize = 128;

/// One database: a fixed array of shards.
pub struct Db {
    shards: Box<[ShardMutex<Shard>]>,
    bits: u32,
    capture: Arc<CaptureSlot>,
    /// Where each shard's bucket array was when last locked, read without the lock to prefetch
    /// a pipelined request's bucket before its command runs ([`Db::prefetch`]). A stale value
    /// only makes a prefetch useless: prefetching never faults.
    hints: Box<[BucketHint]>,
}

#[derive(Default)]
struct BucketHint {
    addr: AtomicUsize,
    mask: AtomicUsize,
}

/// Several shards locked at once, in ascending index order.
pub struct Locked<'a> {
    guards: Vec<(usize, ShardGuard<'a, Shard>)>,
    db: &'a Db,
}

impl<'a> Locked<'a> {
    /// The locked shard holding `key`. Panics if the key's shard was not locked: that is a bug in
    /// the command, never something a client can cause.
    pub fn shard(&mut self, key: &[u8]) -> &mut Shard {
        let idx = self.db.shard_index(key);
        let pos = self
            .guards
            .iter()
            .position(|(i, _)| *i == idx)
            .expect("shard of key not locked");
        &mut self.guards[pos].1
    }

    pub fn shards(&mut self) -> impl Iterator<Item = &mut Shard> + use<'_, 'a> {
        self.guards.iter_mut().map(|(_, g)| &mut **g)
    }
}

impl Db {
    pub fn new(bits: u32, index: usize) -> Db {
        Db::with_capture(bits, index, Arc::default())
    }

    fn with_capture(bits: u32, index: usize, capture: Arc<CaptureSlot>) -> Db {
        let n = 1usize << bits;
        Db {
            shards: (0..n)
                .map(|_| {
                    ShardMutex::new(Shard {
                        db: index,
                        ..Shard::default()
                    })
                })
                .collect(),
            bits,
            capture,
            hints: (0..n).map(|_| BucketHint::default()).collect(),
        }
    }

    /// Locks shard `idx` for a caller that may touch any key of it. Every guard handed out
    /// comes from here or [`Db::guard_hash`]: content still pending in a running snapshot is
    /// captured before its user can change it. Here that is the whole shard, written in
    /// batches of [`STEP_KEYS`] keys with the lock handed to any waiting thread between them,
    /// so other commands on the shard wait one batch at most. Without a snapshot this costs
    /// one predictable branch.
    #[inline]
    fn guard(&self, idx: usize) -> ShardGuard<'_, Shard> {
        let mut g = self.shards[idx].lock();
        if g.snap_pending || g.held_by != 0 || holds::holder() != 0 {
            g = self.guard_slow(idx, g, None);
        }
        g
    }

    /// Locks shard `idx` for a caller that touches only the key with hash `h`: captures that
    /// key's segment alone (a few microseconds) if it is still pending.
    #[inline]
    fn guard_hash(&self, idx: usize, h: u64) -> ShardGuard<'_, Shard> {
        let mut g = self.shards[idx].lock();
        if g.snap_pending || g.held_by != 0 || holds::holder() != 0 {
            g = self.guard_slow(idx, g, Some(h));
        }
        g
    }

    /// The rare cases of [`Db::guard`] / [`Db::guard_hash`]: a script's hold (wait for it, or
    /// take it on the script thread), then a pending snapshot (the key's segment, or with no
    /// key the whole shard).
    #[cold]
    #[inline(never)]
    fn guard_slow<'a>(&'a self, idx: usize, g: ShardGuard<'a, Shard>, h: Option<u64>) -> ShardGuard<'a, Shard> {
        let mut g = self.hold_or_wait(idx, g);
        if g.snap_pending {
            match h {
                Some(h) => self.capture_hash(&mut g, h),
                None => self.capture_all(&mut g),
            }
        }
        g
    }

    /// Applies script holds to shard `idx`, just locked as `g`, for a caller that holds no other
    /// shard: on the script thread the shard becomes held; elsewhere a held shard is let go and
    /// waited for, then locked again.
    fn hold_or_wait<'a>(&'a self, idx: usize, mut g: ShardGuard<'a, Shard>) -> ShardGuard<'a, Shard> {
        loop {
            match self.try_hold(g) {
                Ok(g) => return g,
                Err(blocked) => blocked.wait(),
            }
            g = self.shards[idx].lock();
        }
    }

    /// As [`Db::hold_or_wait`] for a caller that may hold other shards: a held shard is let
    /// go and `Err` returned, and the caller must let go of every shard before it waits.
    fn try_hold<'a>(&'a self, mut g: ShardGuard<'a, Shard>) -> Result<ShardGuard<'a, Shard>, holds::Blocked> {
        let me = holds::holder();
        if me != 0 {
            g.held_by = me;
        } else if holds::is_held(g.held_by) {
            return Err(holds::blocked(g.held_by));
        } else {
            g.held_by = 0;
        }
        Ok(g)
    }

    /// Locks shard `idx` for a caller that holds no other shard, applying script holds but not
    /// a pending snapshot.
    fn lock_plain(&self, idx: usize) -> ShardGuard<'_, Shard> {
        self.hold_or_wait(idx, self.shards[idx].lock())
    }

    #[cold]
    #[inline(never)]
    fn capture_all(&self, g: &mut ShardGuard<'_, Shard>) {
        while self.capture_some(g, STEP_KEYS).is_some() && g.snap_pending {
            ShardGuard::bump(g);
        }
    }

    /// Writes the segment of the key with hash `h` if it is pending.
    #[cold]
    #[inline(never)]
    fn capture_hash(&self, shard: &mut Shard, h: u64) {
        if let Some(seg) = shard.snap_marks.pending_of(h) {
            self.write_pending(shard, &mut |marks, dict, f| marks.take(dict, seg, f));
        }
    }

    /// Writes pending segments of a locked shard, about `max_keys` keys. Returns the keys
    /// written, or None when nothing was pending.
    fn capture_some(&self, shard: &mut Shard, max_keys: usize) -> Option<usize> {
        if !shard.snap_pending {
            return None;
        }
        Some(self.write_pending(shard, &mut |marks, dict, f| marks.take_some(dict, max_keys, f)))
    }

    /// Hands the segments `take` picks (it marks them written and says whether none is left)
    /// to the running snapshot. Returns the keys written.
    fn write_pending(
        &self,
        shard: &mut Shard,
        take: &mut dyn FnMut(&mut Marks, &Dict, &mut capture::Visit<'_>) -> bool,
    ) -> usize {
        let sink = self.capture.sink.read().clone();
        let Shard {
            dict,
            snap_marks,
            snap_db,
            ..
        } = shard;
        let mut last = false;
        let n = match sink {
            Some(sink) => sink.write(*snap_db, &mut |f| last = take(snap_marks, dict, f)),
            // No sink: the snapshot is being abandoned; only the marks matter.
            None => {
                last = take(snap_marks, dict, &mut |_, _| {});
                0
            }
        };
        if last {
            self.captured_shard(shard);
        }
        n
    }

    /// The last pending segment of `shard` has been written.
    fn captured_shard(&self, shard: &mut Shard) {
        shard.snap_pending = false;
        shard.snap_marks.clear();
        self.capture.pending.fetch_sub(1, Relaxed);
    }

    /// One step of the snapshot walk on shard `idx`: writes about `max_keys` keys of its pending
    /// segments under the lock. Returns the keys written, or None when nothing is pending.
    pub fn capture_index(&self, idx: usize, max_keys: usize) -> Option<usize> {
        self.capture_some(&mut self.shards[idx].lock(), max_keys)
    }

    /// Empties the database; with `lazy`, each table is detached at once and freed by the
    /// lazyfree thread. Content a running snapshot has not captured yet goes to the snapshot
    /// instead (which frees it once written), so FLUSHDB neither waits for a serialization nor
    /// changes what the snapshot holds. Returns the number of keys removed.
    pub fn flush(&self, lazy: bool) -> usize {
        let mut n = 0;
        for i in 0..self.shards.len() {
            let mut s = self.lock_plain(i);
            if s.snap_pending {
                s.snap_pending = false;
                let marks = std::mem::take(&mut s.snap_marks);
                let d = s.take_all();
                n += d.len();
                match self.capture.sink.read().clone() {
                    Some(sink) => sink.detached(s.snap_db, Detached { dict: d, marks }),
                    None => {
                        self.capture.pending.fetch_sub(1, Relaxed);
                        lazyfree::free_later(d);
                    }
                }
            } else if lazy {
                let d = s.take_all();
                n += d.len();
                lazyfree::free_later(d);
            } else {
                n += s.clear();
            }
        }
        n
    }

    /// Starts loading the bucket that `key` hashes to into the CPU cache, so that the command
    /// that looks it up a little later does not wait for memory: a pipelined batch's lookups
    /// then overlap their cache misses instead of paying them one after another. Returns the
    /// key's hash for the second stage, [`Db::prefetch_entry`].
    #[inline]
    pub fn prefetch(&self, key: &[u8]) -> u64 {
        let h = hash::hash(key);
        let Some(hint) = self.hints.get(self.shard_of_hash(h)) else {
            return h;
        };
        let addr = hint.addr.load(Relaxed);
        if addr != 0 {
            let slot = addr.wrapping_add((h as usize & hint.mask.load(Relaxed)) * std::mem::size_of::<usize>());
            dict::prefetch_line(slot as *const u8);
        }
        h
    }

    /// The second stage of [`Db::prefetch`], one request later, once the bucket is likely in
    /// cache: reads the bucket (under the shard's lock, taken only if free: a busy shard is
    /// skipped rather than waited for) and starts loading the first node of its chain. This is
    /// the lookup's second dependent miss, which the bucket prefetch alone cannot hide.
    #[inline]
    pub fn prefetch_entry(&self, h: u64) {
        if let Some(shard) = self.shards.get(self.shard_of_hash(h)) {
            if let Some(g) = shard.try_lock() {
                g.dict.prefetch_chain(h);
            }
        }
    }

    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    pub fn shard_bits(&self) -> u32 {
        self.bits
    }

    /// Which shard holds `key`: the top bits of its hash (the dict uses the low bits).
    #[inline]
    pub fn shard_index(&self, key: &[u8]) -> usize {
        self.shard_of_hash(hash::hash(key))
    }

    #[inline]
    fn shard_of_hash(&self, h: u64) -> usize {
        if self.bits == 0 {
            0
        } else {
            (h >> (64 - self.bits)) as usize
        }
    }

    /// Locks the shard of `key` for a command that touches that key only.
    #[inline]
    pub fn lock(&self, key: &[u8]) -> ShardGuard<'_, Shard> {
        let h = hash::hash(key);
        let idx = self.shard_of_hash(h);
        let guard = self.guard_hash(idx, h);
        let (addr, mask) = guard.dict.bucket_hint();
        let hint = &self.hints[idx];
        if hint.addr.load(Relaxed) != addr {
            hint.addr.store(addr, Relaxed);
            hint.mask.store(mask, Relaxed);
        }
        guard
    }

    /// As [`Db::lock`], but `None` instead of waiting when the running script holds the
    /// shard (the evictor, which holds its own state's lock: it picks another victim).
    pub fn try_lock(&self, key: &[u8]) -> Option<ShardGuard<'_, Shard>> {
        let h = hash::hash(key);
        let idx = self.shard_of_hash(h);
        let g = self.shards[idx].lock();
        if holds::holder() == 0 && holds::is_held(g.held_by) {
            return None;
        }
        Some(self.guard_slow(idx, g, Some(h)))
    }

    pub fn lock_index(&self, idx: usize) -> ShardGuard<'_, Shard> {
        self.guard(idx)
    }

    /// As [`Db::lock_index`], but `None` instead of waiting when the running script holds the
    /// shard (active expiry: it skips the shard rather than stall).
    pub fn try_lock_index(&self, idx: usize) -> Option<ShardGuard<'_, Shard>> {
        let g = self.shards[idx].lock();
        if holds::holder() == 0 && holds::is_held(g.held_by) {
            return None;
        }
        Some(self.guard_slow(idx, g, None))
    }

    /// Locks the shards of all `keys` in ascending shard order (the global lock order that keeps
    /// multi-key commands free of deadlocks), for a command that touches those keys only.
    pub fn lock_keys<'k>(&self, keys: impl IntoIterator<Item = &'k [u8]>) -> Locked<'_> {
        let mut idx: Vec<(usize, u64)> = keys
            .into_iter()
            .map(|k| {
                let h = hash::hash(k);
                (self.shard_of_hash(h), h)
            })
            .collect();
        idx.sort_unstable();
        let targets: Vec<(usize, Option<u64>)> = idx.into_iter().map(|(i, h)| (i, Some(h))).collect();
        Locked {
            guards: self.lock_ordered(&targets),
            db: self,
        }
    }

    /// Locks every shard, in order.
    pub fn lock_all(&self) -> Locked<'_> {
        let targets: Vec<(usize, Option<u64>)> = (0..self.shards.len()).map(|i| (i, None)).collect();
        Locked {
            guards: self.lock_ordered(&targets),
            db: self,
        }
    }

    /// Locks the shards of `targets` (ascending: the global lock order), each for one key's
    /// segment (`Some(hash)`) or for any key of it (`None`). A shard the running script holds
    /// makes it let go of every guard, wait for the script, and start over (`holds`).
    fn lock_ordered(&self, targets: &[(usize, Option<u64>)]) -> Vec<(usize, ShardGuard<'_, Shard>)> {
        'retry: loop {
            let mut guards: Vec<(usize, ShardGuard<'_, Shard>)> = Vec::with_capacity(targets.len());
            for &(i, h) in targets {
                if guards.last().is_none_or(|(j, _)| *j != i) {
                    match self.try_hold(self.shards[i].lock()) {
                        Ok(g) => guards.push((i, g)),
                        Err(blocked) => {
                            drop(guards);
                            blocked.wait();
                            continue 'retry;
                        }
                    }
                }
                if let Some((_, g)) = guards.last_mut() {
                    if g.snap_pending {
                        match h {
                            Some(h) => self.capture_hash(g, h),
                            None => self.capture_all(g),
                        }
                    }
                }
            }
            return guards;
        }
    }

    /// Number of keys (may include expired keys not yet collected, as Redis's DBSIZE does).
    pub fn len(&self) -> usize {
        // Counting changes nothing, so a pending shard is read without being captured.
        self.shards.iter().map(|s| s.lock().dict.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn volatile(&self) -> usize {
        self.shards.iter().map(|s| s.lock().volatile).sum()
    }
}

/// All databases.
pub struct Keyspace {
    pub dbs: Box<[Db]>,
    pub stats: KeyspaceStats,
    capture: Arc<CaptureSlot>,
}

impl Keyspace {
    pub fn new(databases: usize, shard_bits: u32) -> Keyspace {
        let capture = Arc::<CaptureSlot>::default();
        Keyspace {
            dbs: (0..databases)
                .map(|i| Db::with_capture(shard_bits, i, capture.clone()))
                .collect(),
            stats: KeyspaceStats::default(),
            capture,
        }
    }

    /// Raw guards on every shard of every database in the global order, bypassing capture:
    /// for starting and aborting snapshots, which change only the snapshot fields.
    fn lock_every_shard(&self) -> Vec<ShardGuard<'_, Shard>> {
        self.lock_dbs_raw(0..self.dbs.len())
    }

    /// Raw guards on every shard of databases `dbs` (ascending), bypassing capture but not
    /// script holds: a held shard is waited for with every guard let go.
    fn lock_dbs_raw(&self, dbs: impl Iterator<Item = usize> + Clone) -> Vec<ShardGuard<'_, Shard>> {
        'retry: loop {
            let mut all = Vec::new();
            for db in dbs.clone().map(|i| &self.dbs[i]) {
                for i in 0..db.shards.len() {
                    match db.try_hold(db.shards[i].lock()) {
                        Ok(g) => all.push(g),
                        Err(blocked) => {
                            drop(all);
                            blocked.wait();
                            continue 'retry;
                        }
                    }
                }
            }
            return all;
        }
    }

    /// Starts a point-in-time snapshot into `sink`: with every shard locked for a moment, marks
    /// each non-empty shard pending and records its database index, then runs `at_instant`
    /// (still under the locks, so it sees the exact instant: nothing changes before or during
    /// it that the snapshot does not reflect). Returns the number of keys the snapshot will hold.
    /// The caller then visits every shard ([`Db::capture_index`]) until
    /// [`Keyspace::capture_pending`] is 0, and ends with [`Keyspace::end_capture`].
    pub fn begin_capture(&self, sink: Arc<dyn Capture>, at_instant: impl FnOnce()) -> usize {
        let mut all = self.lock_every_shard();
        let (mut shards, mut keys) = (0, 0);
        for s in all.iter_mut() {
            if !s.dict.is_empty() {
                s.snap_pending = true;
                s.snap_marks = Marks::all_pending(s.dict.len());
                s.snap_db = s.db;
                shards += 1;
                keys += s.dict.len();
            }
        }
        *self.capture.sink.write() = Some(sink);
        self.capture.pending.store(shards, Relaxed);
        at_instant();
        keys
    }

    /// Contents not captured yet (pending shards and detached tables not yet written).
    pub fn capture_pending(&self) -> usize {
        self.capture.pending.load(Relaxed)
    }

    /// A detached table handed to [`Capture::detached`] has been written (or dropped).
    pub fn captured(&self) {
        self.capture.pending.fetch_sub(1, Relaxed);
    }

    /// Ends the running snapshot (all content captured).
    pub fn end_capture(&self) {
        *self.capture.sink.write() = None;
    }

    /// Abandons the running snapshot: clears every pending mark so no command captures any more.
    /// When it returns, no capture is in progress (each runs under its shard's lock).
    pub fn abort_capture(&self) {
        let mut all = self.lock_every_shard();
        for s in all.iter_mut() {
            s.snap_pending = false;
            s.snap_marks.clear();
        }
        *self.capture.sink.write() = None;
        self.capture.pending.store(0, Relaxed);
    }

    pub fn db(&self, i: usize) -> &Db {
        &self.dbs[i]
    }

    /// Locks the shards of keys that live in different databases (MOVE, COPY ... DB), in the
    /// global order: database index, then shard index. Every command that locks more than one
    /// database goes through here (or locks whole databases in index order), so none can
    /// deadlock with another.
    pub fn lock_multi<'k>(&self, keys: impl IntoIterator<Item = (usize, &'k [u8])>) -> MultiLocked<'_> {
        let mut idx: Vec<(usize, usize, u64)> = keys
            .into_iter()
            .map(|(db, k)| {
                let h = hash::hash(k);
                (db, self.dbs[db].shard_of_hash(h), h)
            })
            .collect();
        idx.sort_unstable();
        'retry: loop {
            let mut guards: Vec<((usize, usize), ShardGuard<'_, Shard>)> = Vec::with_capacity(idx.len());
            for &(db, s, h) in &idx {
                let d = &self.dbs[db];
                match guards.last_mut() {
                    Some((id, g)) if *id == (db, s) => {
                        if g.snap_pending {
                            d.capture_hash(g, h);
                        }
                    }
                    _ => match d.try_hold(d.shards[s].lock()) {
                        Ok(mut g) => {
                            if g.snap_pending {
                                d.capture_hash(&mut g, h);
                            }
                            guards.push(((db, s), g));
                        }
                        Err(blocked) => {
                            drop(guards);
                            blocked.wait();
                            continue 'retry;
                        }
                    },
                }
            }
            return MultiLocked { guards, ks: self };
        }
    }

    /// Swaps the contents of two databases (SWAPDB). Locks every shard of both, lower database
    /// first, so clients see the swap at once and no deadlock is possible. Content moves without
    /// being captured: its snapshot mark and recorded database index move with it, and the
    /// snapshot walk keeps visiting until nothing is pending.
    pub fn swap_dbs(&self, a: usize, b: usize) {
        if a == b {
            return;
        }
        let (lo, hi) = (a.min(b), a.max(b));
        let mut both = self.lock_dbs_raw([lo, hi].into_iter());
        let (l, h) = both.split_at_mut(self.dbs[lo].shards.len());
        for (x, y) in l.iter_mut().zip(h.iter_mut()) {
            std::mem::swap(&mut **x, &mut **y);
            std::mem::swap(&mut x.db, &mut y.db);
            std::mem::swap(&mut x.held_by, &mut y.held_by);
        }
    }
}

/// Shards of several databases locked at once (see [`Keyspace::lock_multi`]).
pub struct MultiLocked<'a> {
    guards: Vec<((usize, usize), ShardGuard<'a, Shard>)>,
    ks: &'a Keyspace,
}

impl MultiLocked<'_> {
    /// The locked shard holding `key` in database `db`. Panics if it was not locked: a bug in
    /// the command, never something a client can cause.
    pub fn shard(&mut self, db: usize, key: &[u8]) -> &mut Shard {
        let id = (db, self.ks.dbs[db].shard_index(key));
        let pos = self
            .guards
            .iter()
            .position(|(i, _)| *i == id)
            .expect("shard of key not locked");
        &mut self.guards[pos].1
    }
}

/// SCAN cursors: the low `bits` bits name a shard, the rest is that shard's dict cursor.
pub fn scan_cursor_split(cursor: u64, bits: u32) -> (usize, u64) {
    if bits == 0 {
        return (0, cursor);
    }
    ((cursor & ((1 << bits) - 1)) as usize, cursor >> bits)
}

pub fn scan_cursor_join(shard: usize, dict_cursor: u64, bits: u32) -> u64 {
    (dict_cursor << bits) | shard as u64
}
