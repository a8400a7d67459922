//! A chained hash table with Redis's `dict` behaviour where clients can see it:
//!
//! * SCAN with the reverse-binary cursor of `dictScan`: every key present for the whole scan is
//!   returned at least once, even if the table grows or shrinks between calls.
//! * Random sampling (RANDOMKEY, active expiry) by picking random buckets.
//!
//! Memory is the point of this file: each key is **one allocation** holding the chain pointer, the
//! [`Entry`] (value, expire time, access clock) and the key bytes inline, 48 bytes plus the key.
//! Small string values live inside the `Value` itself, so `SET key:1234567 <16 bytes>` costs one
//! 64-byte block and one bucket pointer (Redis: a dictEntry, an robj and two sds strings).
//!
//! A table holds one shard of a database, so a resize rehashes at most a few thousand entries at
//! once; no incremental rehashing is needed to avoid latency spikes.

use super::hash::hash;
use super::value::Entry;
use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::ptr::NonNull;

/// A key's node: header followed in the same allocation by `entry.klen` key bytes.
#[repr(C)]
struct Node {
    next: Link,
    entry: Entry,
}

type Link = Option<NonNull<Node>>;

impl Node {
    fn layout(klen: usize) -> Layout {
        Layout::from_size_align(std::mem::size_of::<Node>() + klen, std::mem::align_of::<Node>())
            .unwrap_or_else(|_| Layout::new::<Node>())
    }

    /// Allocates a node holding `key` and `entry`.
    fn create(key: &[u8], mut entry: Entry, next: Link) -> NonNull<Node> {
        entry.klen = key.len() as u32;
        let layout = Node::layout(key.len());
        // SAFETY: the layout has a non-zero size; we initialise the header and the key bytes
        // before the node is reachable.
        unsafe {
            let p = alloc(layout) as *mut Node;
            let Some(nn) = NonNull::new(p) else {
                handle_alloc_error(layout)
            };
            p.write(Node { next, entry });
            std::ptr::copy_nonoverlapping(key.as_ptr(), (p as *mut u8).add(std::mem::size_of::<Node>()), key.len());
            nn
        }
    }

    /// Frees a node, returning its entry.
    ///
    /// # Safety
    /// `p` must come from [`Node::create`] and be unreachable from any table.
    unsafe fn destroy(p: NonNull<Node>) -> Entry {
        let node = p.as_ptr().read();
        dealloc(p.as_ptr() as *mut u8, Node::layout(node.entry.klen as usize));
        node.entry
    }

    /// The key bytes of the node at `p`, without borrowing the node (so its entry can be borrowed
    /// mutably at the same time: the two never overlap).
    ///
    /// # Safety
    /// `p` must be live for `'a`.
    unsafe fn key_of<'a>(p: NonNull<Node>) -> &'a [u8] {
        let base = p.as_ptr() as *const u8;
        std::slice::from_raw_parts(base.add(std::mem::size_of::<Node>()), (*p.as_ptr()).entry.klen as usize)
    }

    fn key(&self) -> &[u8] {
        // SAFETY: `create` stored klen key bytes right after the header.
        unsafe {
            std::slice::from_raw_parts(
                (self as *const Node as *const u8).add(std::mem::size_of::<Node>()),
                self.entry.klen as usize,
            )
        }
    }
}

/// A hash table from byte-string keys to [`Entry`].
pub struct Dict {
    buckets: Vec<Link>,
    len: usize,
}

// SAFETY: a Dict owns its nodes exclusively (no aliasing pointers escape), like a Vec<Box<Node>>.
unsafe impl Send for Dict {}
// SAFETY: shared access only reads.
unsafe impl Sync for Dict {}

const MIN_BUCKETS: usize = 4;

impl Default for Dict {
    fn default() -> Self {
        Self::new()
    }
}

impl Dict {
    pub fn new() -> Self {
        Dict {
            buckets: Vec::new(),
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of buckets (for introspection and memory estimates).
    pub fn buckets(&self) -> usize {
        self.buckets.len()
    }

    #[inline]
    /// The bucket array's address and index mask (for [`super::Db::prefetch`]).
    pub fn bucket_hint(&self) -> (usize, usize) {
        (self.buckets.as_ptr() as usize, self.mask())
    }

    /// Starts loading the first node of the chain `h` hashes to. Meant for a bucket that was
    /// prefetched a little earlier ([`super::Db::prefetch`]), so reading it does not stall.
    #[inline]
    pub fn prefetch_chain(&self, h: u64) {
        if let Some(Some(p)) = self.buckets.get(h as usize & self.mask()) {
            prefetch_line(p.as_ptr() as *const u8);
        }
    }

    fn mask(&self) -> usize {
        self.buckets.len().wrapping_sub(1)
    }

    #[inline]
    fn find(&self, key: &[u8]) -> Option<NonNull<Node>> {
        if self.len == 0 {
            return None;
        }
        let mut cur = self.buckets[hash(key) as usize & self.mask()];
        while let Some(p) = cur {
            // SAFETY: nodes in the table are live and owned by it.
            let n = unsafe { p.as_ref() };
            if super::hash::same_key(n.key(), key) {
                return Some(p);
            }
            cur = n.next;
        }
        None
    }

    pub fn get(&self, key: &[u8]) -> Option<&Entry> {
        // SAFETY: the node lives as long as the shared borrow of the table.
        self.find(key).map(|p| unsafe { &(*p.as_ptr()).entry })
    }

    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        // SAFETY: the exclusive borrow of the table covers the node.
        self.find(key).map(|p| unsafe { &mut (*p.as_ptr()).entry })
    }

    /// Inserts or replaces; returns the previous entry.
    pub fn insert(&mut self, key: &[u8], entry: Entry) -> Option<Entry> {
        if let Some(e) = self.get_mut(key) {
            let mut entry = entry;
            entry.klen = e.klen;
            return Some(std::mem::replace(e, entry));
        }
        self.insert_new(key, entry);
        None
    }

    /// Inserts a key known to be absent.
    pub fn insert_new<K: AsRef<[u8]>>(&mut self, key: K, entry: Entry) -> &mut Entry {
        let key = key.as_ref();
        if self.len >= self.buckets.len() {
            self.resize((self.len + 1).next_power_of_two().max(MIN_BUCKETS));
        }
        let idx = hash(key) as usize & self.mask();
        let node = Node::create(key, entry, self.buckets[idx]);
        self.buckets[idx] = Some(node);
        self.len += 1;
        // SAFETY: the node was just created and is owned by the table.
        unsafe { &mut (*node.as_ptr()).entry }
    }

    /// Unlinks the node holding `key` and returns it.
    fn unlink(&mut self, key: &[u8]) -> Option<NonNull<Node>> {
        if self.len == 0 {
            return None;
        }
        let idx = hash(key) as usize & self.mask();
        let mut link: *mut Link = &mut self.buckets[idx];
        // SAFETY: `link` always points at a live link slot (a bucket or a live node's `next`).
        unsafe {
            while let Some(p) = *link {
                if super::hash::same_key(p.as_ref().key(), key) {
                    *link = (*p.as_ptr()).next;
                    self.len -= 1;
                    return Some(p);
                }
                link = &mut (*p.as_ptr()).next;
            }
        }
        None
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let p = self.unlink(key)?;
        // SAFETY: unlinked, so no longer reachable.
        let e = unsafe { Node::destroy(p) };
        self.maybe_shrink();
        Some(e)
    }

    /// Removes and returns the key with its entry (for RENAME/MOVE).
    pub fn remove_entry(&mut self, key: &[u8]) -> Option<(Box<[u8]>, Entry)> {
        let p = self.unlink(key)?;
        // SAFETY: unlinked, so no longer reachable; the key is copied before the free.
        let k: Box<[u8]> = unsafe { p.as_ref() }.key().into();
        let e = unsafe { Node::destroy(p) };
        self.maybe_shrink();
        Some((k, e))
    }

    fn maybe_shrink(&mut self) {
        // Redis shrinks below 10% fill; do the same (at once: tables are per shard, small).
        if self.buckets.len() > MIN_BUCKETS && self.len * 10 < self.buckets.len() {
            self.resize(self.len.next_power_of_two().max(MIN_BUCKETS));
        }
    }

    fn resize(&mut self, size: usize) {
        let old = std::mem::take(&mut self.buckets);
        self.buckets = vec![None; size];
        let mask = size - 1;
        for mut head in old {
            while let Some(p) = head {
                // SAFETY: every node is live and moved exactly once to its new bucket.
                unsafe {
                    let n = &mut *p.as_ptr();
                    head = n.next;
                    let idx = hash(n.key()) as usize & mask;
                    n.next = self.buckets[idx];
                    self.buckets[idx] = Some(p);
                }
            }
        }
    }

    pub fn clear(&mut self) {
        for b in self.buckets.iter_mut() {
            let mut cur = b.take();
            while let Some(p) = cur {
                // SAFETY: the chain is owned by the table and each node is freed once.
                unsafe {
                    cur = p.as_ref().next;
                    drop(Node::destroy(p));
                }
            }
        }
        self.buckets = Vec::new();
        self.len = 0;
    }

    /// Moves all entries out, leaving the table empty.
    pub fn take(&mut self) -> Dict {
        std::mem::take(self)
    }

    /// Visits every entry.
    pub fn for_each(&self, mut f: impl FnMut(&[u8], &Entry)) {
        for b in &self.buckets {
            let mut cur = *b;
            while let Some(p) = cur {
                // SAFETY: nodes are live while the table is borrowed.
                let n = unsafe { p.as_ref() };
                f(n.key(), &n.entry);
                cur = n.next;
            }
        }
    }

    /// Visits the entries whose hash ends in the `bits`-bit value `seg` (a snapshot segment,
    /// `keyspace::capture`): the buckets `seg, seg + 2^bits ...` when the table has at least
    /// `2^bits` buckets, else the keys of bucket `seg mod buckets` that match.
    pub fn for_each_in_segment(&self, seg: usize, bits: u32, f: &mut dyn FnMut(&[u8], &Entry)) {
        let n = self.buckets.len();
        if n == 0 {
            return;
        }
        let segs = 1usize << bits;
        let walk = |b: usize, f: &mut dyn FnMut(&[u8], &Entry), filter: bool| {
            let mut cur = self.buckets[b];
            while let Some(p) = cur {
                // SAFETY: nodes are live while the table is borrowed.
                let node = unsafe { p.as_ref() };
                if !filter || hash(node.key()) as usize & (segs - 1) == seg {
                    f(node.key(), &node.entry);
                }
                cur = node.next;
            }
        };
        if n >= segs {
            let mut b = seg;
            while b < n {
                walk(b, f, false);
                b += segs;
            }
        } else {
            walk(seg & (n - 1), f, true);
        }
    }

    /// Keeps only the entries for which `f` returns true.
    pub fn retain(&mut self, mut f: impl FnMut(&[u8], &mut Entry) -> bool) {
        let mut removed = 0;
        for b in 0..self.buckets.len() {
            removed += self.filter_bucket(b, &mut f);
        }
        self.len -= removed;
        if removed > 0 {
            self.maybe_shrink();
        }
    }

    /// Removes the entries of bucket `b` for which `keep` returns false; returns how many.
    fn filter_bucket(&mut self, b: usize, keep: &mut impl FnMut(&[u8], &mut Entry) -> bool) -> usize {
        let mut removed = 0;
        let mut link: *mut Link = &mut self.buckets[b];
        // SAFETY: `link` always points at a live link slot; removed nodes are unlinked first.
        unsafe {
            while let Some(p) = *link {
                let key = Node::key_of(p);
                let n = &mut *p.as_ptr();
                if keep(key, &mut n.entry) {
                    link = &mut n.next;
                } else {
                    *link = n.next;
                    drop(Node::destroy(p));
                    removed += 1;
                }
            }
        }
        removed
    }

    /// One step of a SCAN: visits the bucket at `cursor` and returns the next cursor (0 = done).
    pub fn scan(&self, cursor: u64, mut f: impl FnMut(&[u8], &Entry)) -> u64 {
        if self.buckets.is_empty() {
            return 0;
        }
        let m = self.mask() as u64;
        let mut cur = self.buckets[(cursor & m) as usize];
        while let Some(p) = cur {
            // SAFETY: nodes are live while the table is borrowed.
            let n = unsafe { p.as_ref() };
            f(n.key(), &n.entry);
            cur = n.next;
        }
        // Increment the reversed cursor over the bits of the mask (Redis's dictScan).
        let mut v = cursor | !m;
        v = v.reverse_bits();
        v = v.wrapping_add(1);
        v.reverse_bits()
    }

    /// A random entry, or None when empty. `rnd` supplies random numbers.
    pub fn random(&self, mut rnd: impl FnMut() -> u64) -> Option<(&[u8], &Entry)> {
        if self.len == 0 {
            return None;
        }
        let m = self.mask();
        let head = loop {
            if let Some(p) = self.buckets[rnd() as usize & m] {
                break p;
            }
        };
        let mut chain = Vec::with_capacity(4);
        let mut cur = Some(head);
        while let Some(p) = cur {
            chain.push(p);
            // SAFETY: nodes are live while the table is borrowed.
            cur = unsafe { p.as_ref() }.next;
        }
        let p = chain[rnd() as usize % chain.len()];
        // SAFETY: as above.
        let n = unsafe { &*p.as_ptr() };
        Some((n.key(), &n.entry))
    }

    /// Visits up to `max_buckets` consecutive buckets starting at `start` (wrapping), calling `f`
    /// with each entry; `f` returns true to delete the entry. Returns (entries seen, next start).
    /// Used by active expiry to sample keys without a separate index.
    pub fn sweep(
        &mut self,
        start: usize,
        max_buckets: usize,
        mut f: impl FnMut(&[u8], &Entry) -> bool,
    ) -> (usize, usize) {
        if self.buckets.is_empty() {
            return (0, 0);
        }
        let m = self.mask();
        let mut seen = 0;
        let mut removed = 0;
        let mut idx = start & m;
        for _ in 0..max_buckets.min(self.buckets.len()) {
            removed += self.filter_bucket(idx, &mut |k, e| {
                seen += 1;
                !f(k, e)
            });
            idx = (idx + 1) & m;
        }
        self.len -= removed;
        if removed > 0 {
            self.maybe_shrink();
        }
        (seen, idx)
    }
}

impl Drop for Dict {
    fn drop(&mut self) {
        self.clear();
    }
}

/// Asks the CPU to bring the cache line at `p` in. A hint only: it never faults, whatever `p` is.
#[inline(always)]
pub fn prefetch_line(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it never faults and reads nothing the program can observe.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p as *const i8)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::value::Value;

    fn e(n: i64) -> Entry {
        Entry::new(Value::Int(n), 0)
    }

    #[test]
    fn insert_get_remove_resize() {
        let mut d = Dict::new();
        for i in 0..10_000 {
            assert!(d.insert(format!("key:{i}").as_bytes(), e(i)).is_none());
        }
        assert_eq!(d.len(), 10_000);
        for i in 0..10_000 {
            assert!(matches!(d.get(format!("key:{i}").as_bytes()).map(|e| &e.value), Some(Value::Int(n)) if *n == i));
        }
        for i in (0..10_000).step_by(2) {
            assert!(d.remove(format!("key:{i}").as_bytes()).is_some());
        }
        assert_eq!(d.len(), 5_000);
        let (k, _) = d.remove_entry(b"key:1").unwrap();
        assert_eq!(&*k, b"key:1");
        d.retain(|k, _| k.ends_with(b"3"));
        let mut n = 0;
        d.for_each(|k, _| {
            assert!(k.ends_with(b"3"));
            n += 1;
        });
        assert_eq!(n, d.len());
    }

    #[test]
    fn scan_visits_every_key_across_resizes() {
        let mut d = Dict::new();
        for i in 0..1000 {
            d.insert(format!("{i}").as_bytes(), e(i));
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        let mut step = 0;
        loop {
            cursor = d.scan(cursor, |k, _| {
                seen.insert(k.to_vec());
            });
            step += 1;
            // Grow the table in the middle of the scan.
            if step == 100 {
                for i in 1000..5000 {
                    d.insert(format!("{i}").as_bytes(), e(i));
                }
            }
            if cursor == 0 {
                break;
            }
        }
        for i in 0..1000 {
            assert!(seen.contains(format!("{i}").as_bytes()), "key {i} missed");
        }
    }
}
