//! The large form of a sorted set (Redis's `skiplist` encoding): member → score lookups in O(1)
//! and rank / range operations in O(log n).
//!
//! Each member is stored once, in a node of a slab (`nodes`, reused through a free list). Two
//! indexes refer to nodes by their 32-bit id: an open-addressing hash table (`slots`, member →
//! id, linear probing with backward-shift deletion, so there are no tombstones) and the
//! order-statistic B-tree of [`super::tree`] ordered by (score, member). Per member that is a
//! 24-byte node plus the member's allocation, ~6 bytes of hash table and ~21 bytes of tree.

use super::tree::{Item, Tree};
use crate::keyspace::hash::hash;
use std::cmp::Ordering;

const EMPTY: u32 = u32::MAX;

struct Node {
    score: f64,
    member: Box<[u8]>,
}

#[derive(Default)]
pub struct Big {
    nodes: Vec<Node>,
    free: Vec<u32>,
    /// Hash table of node ids; its length is a power of two (or zero).
    slots: Vec<u32>,
    tree: Tree,
}

/// Total order of (score, member) pairs as Redis's skiplist orders them.
pub fn cmp(s1: f64, m1: &[u8], s2: f64, m2: &[u8]) -> Ordering {
    s1.partial_cmp(&s2).unwrap_or(Ordering::Equal).then_with(|| m1.cmp(m2))
}

impl Big {
    pub fn with_capacity(n: usize) -> Big {
        let mut b = Big::default();
        b.nodes.reserve(n);
        b.grow_slots(n);
        b
    }

    pub fn len(&self) -> usize {
        self.tree.len()
    }

    fn mask(&self) -> usize {
        self.slots.len().wrapping_sub(1)
    }

    fn grow_slots(&mut self, want: usize) {
        // Load factor at most 3/4.
        let mut cap = 8;
        while cap * 3 / 4 < want {
            cap *= 2;
        }
        if cap <= self.slots.len() {
            return;
        }
        let old = std::mem::replace(&mut self.slots, vec![EMPTY; cap]);
        for id in old.into_iter().filter(|&id| id != EMPTY) {
            let mut i = hash(&self.nodes[id as usize].member) as usize & self.mask();
            while self.slots[i] != EMPTY {
                i = (i + 1) & self.mask();
            }
            self.slots[i] = id;
        }
    }

    /// The slot holding `member`, if present.
    fn slot_of(&self, member: &[u8]) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let mut i = hash(member) as usize & self.mask();
        loop {
            let id = self.slots[i];
            if id == EMPTY {
                return None;
            }
            if &*self.nodes[id as usize].member == member {
                return Some(i);
            }
            i = (i + 1) & self.mask();
        }
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.slot_of(member).map(|s| self.nodes[self.slots[s] as usize].score)
    }

    fn member(&self, id: u32) -> &[u8] {
        &self.nodes[id as usize].member
    }

    /// Rank of the (score, member) pair, or of where it would be inserted.
    fn rank_of(&self, score: f64, member: &[u8]) -> usize {
        self.tree
            .lower_bound(&|it| cmp(it.score, self.member(it.id), score, member) == Ordering::Less)
    }

    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        let s = self.score(member)?;
        Some(self.rank_of(s, member))
    }

    /// Inserts a member that is not present.
    pub fn insert(&mut self, member: &[u8], score: f64) {
        let node = Node {
            score,
            member: member.into(),
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.nodes[id as usize] = node;
                id
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        };
        self.grow_slots(self.len() + 1);
        let mut i = hash(member) as usize & self.mask();
        while self.slots[i] != EMPTY {
            i = (i + 1) & self.mask();
        }
        self.slots[i] = id;
        let r = self.rank_of(score, member);
        self.tree.insert_at(r, Item { score, id });
    }

    /// Changes the score of a present member.
    pub fn update(&mut self, member: &[u8], old: f64, new: f64) {
        let r = self.rank_of(old, member);
        let mut it = self.tree.remove_at(r);
        self.nodes[it.id as usize].score = new;
        it.score = new;
        let r = self.rank_of(new, member);
        self.tree.insert_at(r, it);
    }

    /// Drops node `id` from the hash table (the slot must be `slot`) and the slab.
    fn unlink(&mut self, mut slot: usize) {
        let id = self.slots[slot];
        self.slots[slot] = EMPTY;
        // Backward-shift: pull later members of the probe run into the hole when their home
        // slot allows it, so lookups never need tombstones.
        let mask = self.mask();
        let mut j = (slot + 1) & mask;
        while self.slots[j] != EMPTY {
            let home = hash(self.member(self.slots[j])) as usize & mask;
            // Move j into the hole unless its home lies cyclically in (slot, j].
            let in_between = if slot <= j {
                slot < home && home <= j
            } else {
                slot < home || home <= j
            };
            if !in_between {
                self.slots[slot] = self.slots[j];
                self.slots[j] = EMPTY;
                slot = j;
            }
            j = (j + 1) & mask;
        }
        self.nodes[id as usize] = Node {
            score: 0.0,
            member: Box::default(),
        };
        self.free.push(id);
        if self.free.len() == self.nodes.len() {
            self.nodes.clear();
            self.free.clear();
        }
    }

    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let slot = self.slot_of(member)?;
        let score = self.nodes[self.slots[slot] as usize].score;
        let r = self.rank_of(score, member);
        self.tree.remove_at(r);
        self.unlink(slot);
        Some(score)
    }

    /// Removes the members with ranks `from..to`.
    pub fn remove_ranks(&mut self, from: usize, to: usize) {
        for _ in from..to.min(self.len()) {
            let it = self.tree.remove_at(from);
            let m = self.nodes[it.id as usize].member.clone();
            if let Some(slot) = self.slot_of(&m) {
                self.unlink(slot);
            }
        }
    }

    pub fn at(&self, rank: usize) -> (&[u8], f64) {
        let it = self.tree.get(rank);
        (self.member(it.id), it.score)
    }

    pub fn lower_bound(&self, before: &dyn Fn(&[u8], f64) -> bool) -> usize {
        self.tree.lower_bound(&|it| before(self.member(it.id), it.score))
    }

    pub fn visit(&self, from: usize, to: usize, rev: bool, f: &mut dyn FnMut(&[u8], f64) -> bool) {
        self.tree
            .visit(from, to, rev, &mut |it| f(self.member(it.id), it.score));
    }

    pub fn memory(&self) -> usize {
        let members: usize = self.nodes.iter().map(|n| n.member.len().next_multiple_of(8)).sum();
        self.nodes.capacity() * std::mem::size_of::<Node>()
            + members
            + self.slots.capacity() * 4
            + self.free.capacity() * 4
            + self.tree.memory()
    }

    /// ZSCAN: members in hash-table slot order from slot `cursor`, visiting about `count`
    /// slots' worth of members; returns the next cursor (0 at the end).
    pub fn scan(&self, cursor: u64, count: usize, f: &mut dyn FnMut(&[u8], f64)) -> u64 {
        let mut i = cursor as usize;
        let mut seen = 0;
        while i < self.slots.len() {
            let id = self.slots[i];
            i += 1;
            if id != EMPTY {
                let n = &self.nodes[id as usize];
                f(&n.member, n.score);
                seen += 1;
                if seen >= count {
                    break;
                }
            }
        }
        if i >= self.slots.len() {
            0
        } else {
            i as u64
        }
    }
}
