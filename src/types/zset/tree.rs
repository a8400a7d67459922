//! An order-statistic B-tree: the ordered half of a large sorted set.
//!
//! Items are `(score, id)` where `id` names a node in the owning [`super::big::Big`] (which holds
//! the member bytes). The tree never compares items itself: every search takes a monotone
//! predicate `before(item)` ("does this item sort before the target?") built by the caller,
//! which knows how to reach the member bytes. Every inner node keeps, per child, the number of
//! items below it (for rank and select in O(log n)) and the child's first item (to steer
//! searches). Leaves hold up to [`CAP`] items, so a million members need only four levels and a
//! search touches a few cache lines per level.

/// One element of the order: the score (compared first, without touching the member) and the
/// member's node id.
#[derive(Clone, Copy, Debug)]
pub struct Item {
    pub score: f64,
    pub id: u32,
}

/// Most items in a leaf, and most children of an inner node.
const CAP: usize = 64;
/// A node with fewer entries than this after a removal is merged with a neighbour.
const MIN: usize = CAP / 4;

enum Node {
    Leaf(Vec<Item>),
    Inner(Box<Inner>),
}

struct Inner {
    /// First item of each child.
    mins: Vec<Item>,
    /// Number of items under each child.
    counts: Vec<usize>,
    kids: Vec<Node>,
}

impl Node {
    /// Entries directly in this node (items of a leaf, children of an inner node).
    fn width(&self) -> usize {
        match self {
            Node::Leaf(v) => v.len(),
            Node::Inner(n) => n.kids.len(),
        }
    }

    fn count(&self) -> usize {
        match self {
            Node::Leaf(v) => v.len(),
            Node::Inner(n) => n.counts.iter().sum(),
        }
    }

    fn first(&self) -> Option<Item> {
        match self {
            Node::Leaf(v) => v.first().copied(),
            Node::Inner(n) => n.mins.first().copied(),
        }
    }

    /// Splits off the upper half into a new sibling.
    fn split(&mut self) -> Node {
        match self {
            Node::Leaf(v) => Node::Leaf(v.split_off(v.len() / 2)),
            Node::Inner(n) => {
                let at = n.kids.len() / 2;
                Node::Inner(Box::new(Inner {
                    mins: n.mins.split_off(at),
                    counts: n.counts.split_off(at),
                    kids: n.kids.split_off(at),
                }))
            }
        }
    }

    /// Appends `other` (a node of the same height that sorts after this one).
    fn absorb(&mut self, other: Node) {
        match (self, other) {
            (Node::Leaf(a), Node::Leaf(b)) => a.extend(b),
            (Node::Inner(a), Node::Inner(b)) => {
                let b = *b;
                a.mins.extend(b.mins);
                a.counts.extend(b.counts);
                a.kids.extend(b.kids);
            }
            // Siblings always have the same height: leaves are all at one depth.
            _ => unreachable!("B-tree siblings of different heights"),
        }
    }

    /// Inserts `item` at position `rank` under this node; returns a new right sibling when the
    /// node overflowed.
    fn insert(&mut self, rank: usize, item: Item) -> Option<Node> {
        match self {
            Node::Leaf(v) => v.insert(rank, item),
            Node::Inner(n) => {
                let (i, local) = n.child_for_insert(rank);
                let split = n.kids[i].insert(local, item);
                n.counts[i] += 1;
                if let Some(f) = n.kids[i].first() {
                    n.mins[i] = f;
                }
                if let Some(s) = split {
                    let c = s.count();
                    n.counts[i] -= c;
                    n.mins.insert(i + 1, s.first().unwrap_or(item));
                    n.counts.insert(i + 1, c);
                    n.kids.insert(i + 1, s);
                }
            }
        }
        if self.width() > CAP {
            Some(self.split())
        } else {
            None
        }
    }

    /// Removes and returns the item at `rank` (which must exist).
    fn remove(&mut self, rank: usize) -> Item {
        match self {
            Node::Leaf(v) => v.remove(rank),
            Node::Inner(n) => {
                let (i, local) = n.child_for(rank);
                let item = n.kids[i].remove(local);
                n.counts[i] -= 1;
                if let Some(f) = n.kids[i].first() {
                    n.mins[i] = f;
                }
                n.rebalance(i);
                item
            }
        }
    }

    fn get(&self, rank: usize) -> Item {
        match self {
            Node::Leaf(v) => v[rank],
            Node::Inner(n) => {
                let (i, local) = n.child_for(rank);
                n.kids[i].get(local)
            }
        }
    }

    fn lower_bound(&self, before: &dyn Fn(Item) -> bool) -> usize {
        match self {
            Node::Leaf(v) => v.partition_point(|it| before(*it)),
            Node::Inner(n) => {
                // The target lies in the last child whose first item sorts before it.
                let i = n.mins.partition_point(|it| before(*it));
                if i == 0 {
                    return 0;
                }
                let skipped: usize = n.counts[..i - 1].iter().sum();
                skipped + n.kids[i - 1].lower_bound(before)
            }
        }
    }

    /// Calls `f` on the items with ranks in `from..to`, in order or in reverse.
    fn visit(&self, from: usize, to: usize, rev: bool, f: &mut dyn FnMut(Item) -> bool) -> bool {
        match self {
            Node::Leaf(v) => {
                let s = &v[from..to];
                if rev {
                    s.iter().rev().all(|it| f(*it))
                } else {
                    s.iter().all(|it| f(*it))
                }
            }
            Node::Inner(n) => {
                let mut starts = Vec::with_capacity(n.kids.len());
                let mut acc = 0;
                for c in &n.counts {
                    starts.push(acc);
                    acc += c;
                }
                let mut step = |i: usize| {
                    let (s, c) = (starts[i], n.counts[i]);
                    let (a, b) = (from.max(s), to.min(s + c));
                    a >= b || n.kids[i].visit(a - s, b - s, rev, f)
                };
                if rev {
                    (0..n.kids.len()).rev().all(&mut step)
                } else {
                    (0..n.kids.len()).all(&mut step)
                }
            }
        }
    }
}

impl Inner {
    /// The child holding rank `rank`, and the rank inside it.
    fn child_for(&self, mut rank: usize) -> (usize, usize) {
        for (i, &c) in self.counts.iter().enumerate() {
            if rank < c {
                return (i, rank);
            }
            rank -= c;
        }
        (self.counts.len() - 1, rank)
    }

    /// Like [`Inner::child_for`], but a rank equal to a child's count means "append to it".
    fn child_for_insert(&self, mut rank: usize) -> (usize, usize) {
        let last = self.counts.len() - 1;
        for (i, &c) in self.counts.iter().enumerate() {
            if rank <= c || i == last {
                return (i, rank);
            }
            rank -= c;
        }
        (last, rank)
    }

    /// Merges child `i` into a neighbour when it got too small, re-splitting if the merged node
    /// is too big, so every node stays between [`MIN`] and [`CAP`] entries (the root aside).
    fn rebalance(&mut self, i: usize) {
        if self.kids[i].width() >= MIN || self.kids.len() < 2 {
            return;
        }
        let (l, r) = if i + 1 < self.kids.len() {
            (i, i + 1)
        } else {
            (i - 1, i)
        };
        let right = self.kids.remove(r);
        let rc = self.counts.remove(r);
        self.mins.remove(r);
        self.kids[l].absorb(right);
        self.counts[l] += rc;
        if self.kids[l].width() > CAP {
            let s = self.kids[l].split();
            let c = s.count();
            self.counts[l] -= c;
            if let Some(f) = s.first() {
                self.mins.insert(l + 1, f);
                self.counts.insert(l + 1, c);
                self.kids.insert(l + 1, s);
            }
        }
        if let Some(f) = self.kids[l].first() {
            self.mins[l] = f;
        }
    }
}

/// The tree: a root and the total number of items.
pub struct Tree {
    root: Node,
    len: usize,
}

impl Default for Tree {
    fn default() -> Self {
        Tree {
            root: Node::Leaf(Vec::new()),
            len: 0,
        }
    }
}

impl Tree {
    pub fn len(&self) -> usize {
        self.len
    }

    /// Number of items for which `before` holds; `before` must be true on a prefix of the order.
    pub fn lower_bound(&self, before: &dyn Fn(Item) -> bool) -> usize {
        self.root.lower_bound(before)
    }

    /// The item at `rank` (< len).
    pub fn get(&self, rank: usize) -> Item {
        self.root.get(rank)
    }

    /// Inserts `item` so that it gets rank `rank` (≤ len).
    pub fn insert_at(&mut self, rank: usize, item: Item) {
        if let Some(sib) = self.root.insert(rank, item) {
            let old = std::mem::replace(&mut self.root, Node::Leaf(Vec::new()));
            let (c1, c2) = (old.count(), sib.count());
            let (m1, m2) = (old.first().unwrap_or(item), sib.first().unwrap_or(item));
            self.root = Node::Inner(Box::new(Inner {
                mins: vec![m1, m2],
                counts: vec![c1, c2],
                kids: vec![old, sib],
            }));
        }
        self.len += 1;
    }

    /// Removes and returns the item at `rank` (< len).
    pub fn remove_at(&mut self, rank: usize) -> Item {
        let it = self.root.remove(rank);
        self.len -= 1;
        // Shrink the root while it has a single child.
        loop {
            let collapse = match &mut self.root {
                Node::Inner(n) if n.kids.len() == 1 => n.kids.pop(),
                _ => None,
            };
            match collapse {
                Some(k) => self.root = k,
                None => break,
            }
        }
        it
    }

    /// Calls `f` on items with ranks `from..to` (ascending, or descending with `rev`) until it
    /// returns false.
    pub fn visit(&self, from: usize, to: usize, rev: bool, f: &mut dyn FnMut(Item) -> bool) {
        let to = to.min(self.len);
        if from < to {
            self.root.visit(from, to, rev, f);
        }
    }

    /// Approximate heap bytes.
    pub fn memory(&self) -> usize {
        // Leaves are about 3/4 full on average; inner nodes are a small fraction.
        self.len * std::mem::size_of::<Item>() * 4 / 3 + self.len / CAP * 64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_follow_inserts_and_removes() {
        let mut t = Tree::default();
        let mut model: Vec<u32> = Vec::new();
        let mut seed = 12345u64;
        let mut rnd = |n: usize| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((seed >> 33) as usize) % n.max(1)
        };
        for i in 0..20000u32 {
            if model.is_empty() || rnd(3) > 0 {
                let r = rnd(model.len() + 1);
                model.insert(r, i);
                t.insert_at(r, Item { score: 0.0, id: i });
            } else {
                let r = rnd(model.len());
                assert_eq!(t.remove_at(r).id, model.remove(r));
            }
            assert_eq!(t.len(), model.len());
        }
        let mut got = Vec::new();
        t.visit(0, t.len(), false, &mut |it| {
            got.push(it.id);
            true
        });
        assert_eq!(got, model);
        for (r, id) in model.iter().enumerate().step_by(97) {
            assert_eq!(t.get(r).id, *id);
        }
        let mut rev = Vec::new();
        t.visit(5, 50, true, &mut |it| {
            rev.push(it.id);
            true
        });
        let mut want = model[5..50].to_vec();
        want.reverse();
        assert_eq!(rev, want);
    }

    #[test]
    fn lower_bound_by_score() {
        let mut t = Tree::default();
        for i in 0..5000u32 {
            t.insert_at(i as usize, Item { score: i as f64, id: i });
        }
        assert_eq!(t.lower_bound(&|it| it.score < 1234.0), 1234);
        assert_eq!(t.lower_bound(&|it| it.score <= 1234.0), 1235);
        assert_eq!(t.lower_bound(&|it| it.score < -1.0), 0);
        assert_eq!(t.lower_bound(&|_| true), 5000);
    }
}
