//! A chained hash table with Redis's `dict` behaviour where clients can see it:
//!
//! * SCAN with the reverse-binary cursor of `dictScan`: every key present for the whole scan is
//!   returned at least once, even if the table grows or shrinks between calls.
//! * Random sampling (RANDOMKEY, active expiry) by picking random buckets.
//!
//! A table holds one shard of a database, so a resize rehashes at most a few thousand entries at
//! once; no incremental rehashing is needed to avoid latency spikes.

use super::hash::hash;
use super::value::Entry;

struct Node {
    next: Option<Box<Node>>,
    key: Box<[u8]>,
    entry: Entry,
}

/// A hash table from byte-string keys to [`Entry`].
pub struct Dict {
    buckets: Vec<Option<Box<Node>>>,
    len: usize,
}

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

    /// Number of buckets (for DEBUG HTSTATS-like introspection and memory estimates).
    pub fn buckets(&self) -> usize {
        self.buckets.len()
    }

    #[inline]
    fn mask(&self) -> usize {
        self.buckets.len().wrapping_sub(1)
    }

    pub fn get(&self, key: &[u8]) -> Option<&Entry> {
        if self.len == 0 {
            return None;
        }
        let mut cur = self.buckets[hash(key) as usize & self.mask()].as_deref();
        while let Some(n) = cur {
            if &*n.key == key {
                return Some(&n.entry);
            }
            cur = n.next.as_deref();
        }
        None
    }

    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        if self.len == 0 {
            return None;
        }
        let idx = hash(key) as usize & self.mask();
        let mut cur = self.buckets[idx].as_deref_mut();
        while let Some(n) = cur {
            if &*n.key == key {
                return Some(&mut n.entry);
            }
            cur = n.next.as_deref_mut();
        }
        None
    }

    /// Inserts or replaces; returns the previous entry.
    pub fn insert(&mut self, key: &[u8], entry: Entry) -> Option<Entry> {
        if let Some(e) = self.get_mut(key) {
            return Some(std::mem::replace(e, entry));
        }
        self.insert_new(key.into(), entry);
        None
    }

    /// Inserts a key known to be absent.
    pub fn insert_new(&mut self, key: Box<[u8]>, entry: Entry) -> &mut Entry {
        if self.len >= self.buckets.len() {
            self.resize((self.len + 1).next_power_of_two().max(MIN_BUCKETS));
        }
        let idx = hash(&key) as usize & self.mask();
        let next = self.buckets[idx].take();
        self.buckets[idx] = Some(Box::new(Node { next, key, entry }));
        self.len += 1;
        &mut self.buckets[idx].as_mut().expect("just inserted").entry
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        if self.len == 0 {
            return None;
        }
        let idx = hash(key) as usize & self.mask();
        let mut link = &mut self.buckets[idx];
        loop {
            match link {
                None => return None,
                Some(n) if &*n.key == key => {
                    let mut node = link.take().expect("matched Some");
                    *link = node.next.take();
                    self.len -= 1;
                    let entry = node.entry;
                    self.maybe_shrink();
                    return Some(entry);
                }
                Some(n) => link = &mut n.next,
            }
        }
    }

    /// Removes and returns the key with its entry (for RENAME/MOVE, which keep the key bytes).
    pub fn remove_entry(&mut self, key: &[u8]) -> Option<(Box<[u8]>, Entry)> {
        if self.len == 0 {
            return None;
        }
        let idx = hash(key) as usize & self.mask();
        let mut link = &mut self.buckets[idx];
        loop {
            match link {
                None => return None,
                Some(n) if &*n.key == key => {
                    let mut node = link.take().expect("matched Some");
                    *link = node.next.take();
                    self.len -= 1;
                    let Node { key, entry, .. } = *node;
                    self.maybe_shrink();
                    return Some((key, entry));
                }
                Some(n) => link = &mut n.next,
            }
        }
    }

    fn maybe_shrink(&mut self) {
        // Redis shrinks below 10% fill; do the same (at once: tables are per shard, small).
        if self.buckets.len() > MIN_BUCKETS && self.len * 10 < self.buckets.len() {
            self.resize(self.len.next_power_of_two().max(MIN_BUCKETS));
        }
    }

    fn resize(&mut self, size: usize) {
        let old = std::mem::take(&mut self.buckets);
        self.buckets.resize_with(size, || None);
        let mask = size - 1;
        for mut head in old {
            while let Some(mut node) = head {
                head = node.next.take();
                let idx = hash(&node.key) as usize & mask;
                node.next = self.buckets[idx].take();
                self.buckets[idx] = Some(node);
            }
        }
    }

    pub fn clear(&mut self) {
        // Drop chains iteratively: a recursive Box drop could overflow the stack on a long chain.
        for head in self.buckets.iter_mut() {
            let mut cur = head.take();
            while let Some(mut n) = cur {
                cur = n.next.take();
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
            let mut cur = b.as_deref();
            while let Some(n) = cur {
                f(&n.key, &n.entry);
                cur = n.next.as_deref();
            }
        }
    }

    /// Keeps only the entries for which `f` returns true.
    pub fn retain(&mut self, mut f: impl FnMut(&[u8], &mut Entry) -> bool) {
        let mut removed = 0;
        for b in self.buckets.iter_mut() {
            let mut link = b;
            loop {
                let keep = match link {
                    None => break,
                    Some(n) => f(&n.key, &mut n.entry),
                };
                if keep {
                    link = &mut link.as_mut().expect("checked Some").next;
                } else {
                    let mut node = link.take().expect("checked Some");
                    *link = node.next.take();
                    removed += 1;
                }
            }
        }
        self.len -= removed;
        if removed > 0 {
            self.maybe_shrink();
        }
    }

    /// One step of a SCAN: visits the bucket at `cursor` and returns the next cursor (0 = done).
    pub fn scan(&self, cursor: u64, mut f: impl FnMut(&[u8], &Entry)) -> u64 {
        if self.buckets.is_empty() {
            return 0;
        }
        let m = self.mask() as u64;
        let mut cur = self.buckets[(cursor & m) as usize].as_deref();
        while let Some(n) = cur {
            f(&n.key, &n.entry);
            cur = n.next.as_deref();
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
            if let Some(n) = self.buckets[rnd() as usize & m].as_deref() {
                break n;
            }
        };
        let mut chain_len = 0;
        let mut cur = Some(head);
        while let Some(n) = cur {
            chain_len += 1;
            cur = n.next.as_deref();
        }
        let mut pick = rnd() as usize % chain_len;
        let mut n = head;
        while pick > 0 {
            n = n.next.as_deref()?;
            pick -= 1;
        }
        Some((&n.key, &n.entry))
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
            let mut link = &mut self.buckets[idx];
            loop {
                match link {
                    None => break,
                    Some(n) => {
                        seen += 1;
                        if f(&n.key, &n.entry) {
                            let mut node = link.take().expect("matched Some");
                            *link = node.next.take();
                            removed += 1;
                        } else {
                            link = &mut link.as_mut().expect("matched Some").next;
                        }
                    }
                }
            }
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
