//! The list type (Redis's `t_list.c` over `quicklist.c`).
//!
//! A list is a deque of *nodes*, each a small packed byte buffer holding several elements, like
//! Redis's quicklist of listpacks. Packing keeps memory low (no allocation and no pointer per
//! element: a 16-byte element costs 18 bytes plus its share of the node's spare capacity) while
//! both ends stay O(1) and an index costs a walk over node counts plus a scan inside one node.
//!
//! An element inside a node is `varint(len) bytes backlen`, where `backlen` is the same varint
//! written in reverse byte order, so a node can be walked from either end (the tail of a node is
//! found without scanning it, which makes RPOP O(1)). Integers are kept as their text: replies
//! return exactly the bytes that were pushed.
//!
//! Node size follows `list-max-listpack-size` as Redis's `_quicklistNodeAllowInsert` does: a
//! negative value bounds the bytes per node (-1 = 4 KB … -5 = 64 KB), a positive value bounds the
//! element count (and 8 KB of bytes). An element of at least the *packed threshold* (1 GB unless
//! `DEBUG QUICKLIST-PACKED-THRESHOLD` lowers it) gets a node of its own, a "plain" node.
//!
//! The nodes between a long list's head and tail are kept compressed (`list/huffman.rs`): they
//! are touched only by index, range and search commands, which decode a node at a time, while
//! pushes and pops work on the ends. A node is compressed when it stops being an end and
//! decoded again when it becomes one (or an edit lands inside it). Redis does the same with LZF
//! when `list-compress-depth` is set; Ochre always keeps its two ends plain and compresses the
//! rest, whatever that directive says, because a node saves ~half its bytes on typical data and
//! costs one decode per 8 KB on the rare reads that reach it.
//!
//! Redis 7.0 reports every list as `quicklist` in OBJECT ENCODING (the `listpack` encoding for
//! small lists only arrived in 7.2), so this type does too.

mod huffman;

use super::Collection;
use crate::persistence::listpack;
use crate::persistence::rdb::{self, Reader, Writer};
use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;

/// Elements at least this long get a node of their own (`DEBUG QUICKLIST-PACKED-THRESHOLD`).
fn packed_threshold() -> usize {
    crate::commands::debug::QUICKLIST_PACKED_THRESHOLD.load(Relaxed) as usize
}

/// Quicklist node containers in RDB (`QUICKLIST_NODE_CONTAINER_*`).
const CONTAINER_PLAIN: u64 = 1;
const CONTAINER_PACKED: u64 = 2;

/// Redis's `SIZE_SAFETY_LIMIT`: a count-bounded node never grows past this many bytes.
const SIZE_SAFETY_LIMIT: usize = 8192;
/// Byte bounds for `list-max-listpack-size` -1 … -5.
const OPTIMIZATION_LEVEL: [usize; 5] = [4096, 8192, 16384, 32768, 65536];

/// A list value (16 bytes at most, see `types`).
///
/// A list of one node (every small list) is that node's bytes alone, one allocation of exactly
/// its size: a 10-element list of 16-byte strings is 184 bytes. Longer lists are a deque of
/// nodes. Commands see one list either way; a list changes form when it gains a second node or
/// is left with one.
pub struct List(Repr);

enum Repr {
    One(Box<[u8]>),
    Many(Box<Quicklist>),
}

#[derive(Clone, Default)]
struct Quicklist {
    nodes: VecDeque<Node>,
    len: usize,
}

/// A node's header: its element count (4 bytes), with [`PLAIN`] set when it holds one element
/// at least as long as the packed threshold (such a node is never merged into), then the length
/// of the free gap before its first element (2 bytes).
///
/// The gap makes LPUSH O(1): the head node of a long list keeps free room in front of its first
/// element, so a push writes into it instead of moving the whole node (up to 8 KB) one element to
/// the right, which is what Redis's listpack does. LPOP widens the gap the same way. A node that
/// stops being the head, and a one-node list, are kept without a gap.
const HDR: usize = 6;
const PLAIN: u32 = 1 << 31;
/// Set in the header of an interior node whose elements are Huffman-coded after the header.
const PACKED: u32 = 1 << 30;
const FLAGS: u32 = PLAIN | PACKED;
/// Largest gap kept in front of a head node; pushes reopen one this size when it is used up.
const MAX_GAP: usize = 4096;

/// One packed node: `[header][gap][element]...`.
#[derive(Clone)]
struct Node {
    buf: Vec<u8>,
}

/// A node's bytes, for reading (a [`Node`]'s buffer or a one-node list's box).
#[derive(Clone, Copy)]
struct NodeRef<'a>(&'a [u8]);

// ---------------------------------------------------------------------------------------------
// Element encoding
// ---------------------------------------------------------------------------------------------

fn varint_len(mut n: usize) -> usize {
    let mut k = 1;
    while n >= 0x80 {
        n >>= 7;
        k += 1;
    }
    k
}

/// Bytes an element of `len` bytes takes in a node.
fn entry_size(len: usize) -> usize {
    2 * varint_len(len) + len
}

fn encode_into(out: &mut Vec<u8>, v: &[u8]) {
    let mut tmp = [0u8; 10];
    let mut k = 0;
    let mut n = v.len();
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            tmp[k] = b;
            k += 1;
            break;
        }
        tmp[k] = b | 0x80;
        k += 1;
    }
    out.extend_from_slice(&tmp[..k]);
    out.extend_from_slice(v);
    out.extend(tmp[..k].iter().rev());
}

fn encode(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entry_size(v.len()));
    encode_into(&mut out, v);
    out
}

/// Reads the element starting at `pos`: (data start, data length, next element position).
/// The buffer was written by this module, so it is well formed.
#[inline]
fn read_fwd(buf: &[u8], pos: usize) -> (usize, usize, usize) {
    let mut n = 0usize;
    let mut shift = 0;
    let mut p = pos;
    loop {
        let b = buf[p];
        p += 1;
        n |= ((b & 0x7f) as usize) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    let k = p - pos;
    (p, n, p + n + k)
}

/// Reads the element ending at `end`: (element start position, data start, data length).
#[inline]
fn read_back(buf: &[u8], end: usize) -> (usize, usize, usize) {
    let mut n = 0usize;
    let mut shift = 0;
    let mut p = end;
    loop {
        p -= 1;
        let b = buf[p];
        n |= ((b & 0x7f) as usize) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    let k = end - p;
    let data = p - n;
    (data - k, data, n)
}

// ---------------------------------------------------------------------------------------------
// Nodes
// ---------------------------------------------------------------------------------------------

fn header(buf: &[u8]) -> u32 {
    u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]])
}

fn gap(buf: &[u8]) -> usize {
    u16::from_le_bytes([buf[4], buf[5]]) as usize
}

impl<'a> NodeRef<'a> {
    fn count(self) -> usize {
        (header(self.0) & !FLAGS) as usize
    }

    fn packed(self) -> bool {
        header(self.0) & PACKED != 0
    }

    fn plain(self) -> bool {
        header(self.0) & PLAIN != 0
    }

    /// Bytes of the node, header included and gap excluded (so a full node without a gap is
    /// exactly an allocator size class, 8 KB by default, as a listpack's size includes its
    /// header).
    fn bytes(self) -> usize {
        self.0.len() - gap(self.0)
    }

    /// Where the first element starts.
    fn first(self) -> usize {
        HDR + gap(self.0)
    }

    /// Byte offset of element `i` (walking from the nearer end).
    fn offset_of(self, i: usize) -> usize {
        let count = self.count();
        if i <= count / 2 {
            let mut pos = self.first();
            for _ in 0..i {
                pos = read_fwd(self.0, pos).2;
            }
            pos
        } else {
            let mut end = self.0.len();
            for _ in i..count {
                end = read_back(self.0, end).0;
            }
            end
        }
    }

    /// The node's bytes as a plain node (header with the flag cleared, no gap).
    fn decoded(self) -> Vec<u8> {
        let (lens, used) = huffman::decode(&self.0[HDR..]);
        let (data, _) = huffman::decode(self.0.get(HDR + used..).unwrap_or_default());
        let mut buf = Vec::with_capacity(HDR + 2 * lens.len() + data.len());
        buf.extend_from_slice(&(header(self.0) & !PACKED).to_le_bytes());
        buf.extend_from_slice(&[0, 0]);
        // Rebuild `varint(len) bytes backlen` from the two streams.
        let (mut l, mut d) = (0, 0);
        while l < lens.len() {
            let start = l;
            let mut n = 0usize;
            let mut shift = 0;
            while let Some(&b) = lens.get(l) {
                l += 1;
                n |= ((b & 0x7f) as usize) << shift.min(63);
                shift += 7;
                if b & 0x80 == 0 {
                    break;
                }
            }
            let n = n.min(data.len() - d);
            buf.extend_from_slice(&lens[start..l]);
            buf.extend_from_slice(&data[d..d + n]);
            buf.extend(lens[start..l].iter().rev());
            d += n;
        }
        buf
    }

    /// Element `i`, decoding the node first when it is compressed.
    fn element(self, i: usize) -> Cow<'a, [u8]> {
        if self.packed() {
            let buf = self.decoded();
            Cow::Owned(NodeRef(&buf).get(i).to_vec())
        } else {
            Cow::Borrowed(self.get(i))
        }
    }

    fn get(self, i: usize) -> &'a [u8] {
        let pos = self.offset_of(i);
        let (d, n, _) = read_fwd(self.0, pos);
        &self.0[d..d + n]
    }

    fn iter(self) -> NodeIter<'a> {
        NodeIter {
            buf: self.0,
            pos: self.first(),
            end: self.0.len(),
        }
    }

    /// Whether an element of `len` bytes may be added (Redis's `_quicklistNodeAllowInsert`).
    fn allows(self, len: usize, fill: i64) -> bool {
        if self.plain() || len >= packed_threshold() {
            return false;
        }
        fits(self.bytes() + entry_size(len), self.count() + 1, fill)
    }
}

impl Node {
    fn empty(plain: bool) -> Node {
        let mut buf = Vec::with_capacity(HDR);
        buf.extend_from_slice(&(if plain { PLAIN } else { 0 }).to_le_bytes());
        buf.extend_from_slice(&[0, 0]);
        Node { buf }
    }

    fn with(v: &[u8]) -> Node {
        let mut n = Node::empty(v.len() >= packed_threshold());
        n.buf.reserve_exact(entry_size(v.len()));
        encode_into(&mut n.buf, v);
        n.set_count(1);
        n
    }

    fn r(&self) -> NodeRef<'_> {
        NodeRef(&self.buf)
    }

    fn count(&self) -> usize {
        self.r().count()
    }

    fn set_count(&mut self, count: usize) {
        let h = (header(&self.buf) & FLAGS) | count as u32;
        self.buf[..4].copy_from_slice(&h.to_le_bytes());
    }

    fn gap(&self) -> usize {
        gap(&self.buf)
    }

    fn set_gap(&mut self, g: usize) {
        self.buf[4..HDR].copy_from_slice(&(g as u16).to_le_bytes());
    }

    /// Drops the gap and any spare capacity (a node that is no longer the head).
    fn compact(&mut self) {
        let g = self.gap();
        if g > 0 {
            self.buf.drain(HDR..HDR + g);
            self.set_gap(0);
        }
        self.seal();
    }

    /// Gives back spare capacity by moving into an exact-size allocation. (`shrink_to_fit` is a
    /// `realloc`, which mimalloc answers in place when the new size is at least half the block:
    /// a full 8 KB node grown to a 12 KB block would keep all 12 KB.)
    fn seal(&mut self) {
        if self.buf.capacity() > self.buf.len() {
            self.buf = self.buf.as_slice().to_vec();
        }
    }

    /// Compresses a node that became interior (kept plain when that saves too little).
    fn pack(&mut self) {
        if self.r().plain() || self.r().packed() {
            return;
        }
        self.compact();
        // Element lengths and element bytes are coded apart: lengths are few distinct values
        // (often one, which costs no bits), and the bytes' code is not diluted by them.
        let mut lens = Vec::new();
        let mut data = Vec::with_capacity(self.buf.len());
        let mut pos = HDR;
        while pos < self.buf.len() {
            let (d, n, next) = read_fwd(&self.buf, pos);
            lens.extend_from_slice(&self.buf[pos..d]);
            data.extend_from_slice(&self.buf[d..d + n]);
            pos = next;
        }
        let (lens, data) = (huffman::encode(&lens), huffman::encode(&data));
        let size = HDR + lens.len() + data.len();
        if size > self.buf.len() - self.buf.len() / 8 {
            return; // not worth it
        }
        let mut buf = Vec::with_capacity(size);
        buf.extend_from_slice(&(header(&self.buf) | PACKED).to_le_bytes());
        buf.extend_from_slice(&[0, 0]);
        buf.extend_from_slice(&lens);
        buf.extend_from_slice(&data);
        self.buf = buf;
    }

    /// Decodes a compressed node in place, before it is edited or becomes an end.
    fn unpack(&mut self) {
        if self.r().packed() {
            self.buf = NodeRef(&self.buf).decoded();
        }
    }

    fn push_back(&mut self, v: &[u8]) {
        encode_into(&mut self.buf, v);
        self.set_count(self.count() + 1);
    }

    /// Adds an element in front. With `spare`, a gap is (re)opened in front when there is no
    /// room, so the following pushes are O(1); without it the node stays exact.
    fn push_front(&mut self, v: &[u8], spare: bool) {
        let e = entry_size(v.len());
        let g = self.gap();
        if g < e {
            if !spare {
                self.buf.splice(HDR + g..HDR + g, encode(v));
                self.set_count(self.count() + 1);
                return;
            }
            // Reopen a gap proportional to the node, so each byte is moved O(1) times.
            let want = (self.buf.len() - HDR - g).clamp(64, MAX_GAP).max(e);
            let mut buf = Vec::with_capacity(self.buf.len() - g + want);
            buf.extend_from_slice(&self.buf[..HDR]);
            buf.resize(HDR + want, 0);
            buf.extend_from_slice(&self.buf[HDR + g..]);
            self.buf = buf;
            self.set_gap(want);
        }
        let g = self.gap();
        let at = HDR + g - e;
        let mut tmp = Vec::with_capacity(e);
        encode_into(&mut tmp, v);
        self.buf[at..at + e].copy_from_slice(&tmp);
        self.set_gap(g - e);
        self.set_count(self.count() + 1);
    }

    fn pop(&mut self, end: End) -> Vec<u8> {
        let v = match end {
            End::Left => {
                let first = self.r().first();
                let (d, n, next) = read_fwd(&self.buf, first);
                let v = self.buf[d..d + n].to_vec();
                // Widen the gap (O(1)) while it stays small; else close it.
                if next - HDR <= MAX_GAP {
                    self.set_gap(next - HDR);
                } else {
                    self.buf.drain(HDR..next);
                    self.set_gap(0);
                }
                v
            }
            End::Right => {
                let (start, d, n) = read_back(&self.buf, self.buf.len());
                let v = self.buf[d..d + n].to_vec();
                self.buf.truncate(start);
                v
            }
        };
        self.set_count(self.count() - 1);
        v
    }

    /// Byte range of the element at `pos`.
    fn span_at(&self, pos: usize) -> std::ops::Range<usize> {
        pos..read_fwd(&self.buf, pos).2
    }

    /// Splits at element `i`: self keeps `[0, i)`, the returned node holds the rest.
    fn split_off(&mut self, i: usize) -> Node {
        let pos = self.r().offset_of(i);
        let count = self.count();
        let mut rest = Node::empty(self.r().plain());
        rest.buf.extend_from_slice(&self.buf[pos..]);
        rest.set_count(count - i);
        self.buf.truncate(pos);
        self.set_count(i);
        self.buf.shrink_to_fit();
        rest
    }
}

/// Whether a node of `bytes` bytes and `count` elements is within `list-max-listpack-size`.
fn fits(bytes: usize, count: usize, fill: i64) -> bool {
    if fill < 0 {
        let lvl = (-(fill + 1)) as usize;
        if lvl < OPTIMIZATION_LEVEL.len() && bytes <= OPTIMIZATION_LEVEL[lvl] {
            return true;
        }
    }
    bytes <= SIZE_SAFETY_LIMIT && (count as i64) <= fill
}

fn fill() -> i64 {
    crate::types::LIMITS.list_max_listpack_size.load(Relaxed)
}

/// Walks a node's elements from both ends.
struct NodeIter<'a> {
    buf: &'a [u8],
    pos: usize,
    end: usize,
}

impl<'a> Iterator for NodeIter<'a> {
    type Item = &'a [u8];
    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.pos >= self.end {
            return None;
        }
        let (d, n, next) = read_fwd(self.buf, self.pos);
        self.pos = next;
        Some(&self.buf[d..d + n])
    }
}

impl<'a> DoubleEndedIterator for NodeIter<'a> {
    #[inline]
    fn next_back(&mut self) -> Option<&'a [u8]> {
        if self.pos >= self.end {
            return None;
        }
        let (start, d, n) = read_back(self.buf, self.end);
        self.end = start;
        Some(&self.buf[d..d + n])
    }
}

/// One node's elements during a walk: borrowed from a plain node, or taken from a decoded copy
/// of a compressed one (and then handed out as owned bytes).
enum Part<'a> {
    Plain(NodeIter<'a>),
    Decoded { buf: Vec<u8>, pos: usize, end: usize },
}

impl<'a> Part<'a> {
    fn of(n: NodeRef<'a>) -> Part<'a> {
        if n.packed() {
            let buf = n.decoded();
            let end = buf.len();
            Part::Decoded { buf, pos: HDR, end }
        } else {
            Part::Plain(n.iter())
        }
    }

    fn next(&mut self) -> Option<Cow<'a, [u8]>> {
        match self {
            Part::Plain(it) => it.next().map(Cow::Borrowed),
            Part::Decoded { buf, pos, end } => {
                if *pos >= *end {
                    return None;
                }
                let (d, n, next) = read_fwd(buf, *pos);
                *pos = next;
                Some(Cow::Owned(buf[d..d + n].to_vec()))
            }
        }
    }

    fn next_back(&mut self) -> Option<Cow<'a, [u8]>> {
        match self {
            Part::Plain(it) => it.next_back().map(Cow::Borrowed),
            Part::Decoded { buf, pos, end } => {
                if *pos >= *end {
                    return None;
                }
                let (start, d, n) = read_back(buf, *end);
                *end = start;
                Some(Cow::Owned(buf[d..d + n].to_vec()))
            }
        }
    }
}

/// A list's elements in order (reversible), node after node, as `Iterator::flatten` would walk
/// them, decoding compressed nodes one at a time.
struct Elems<'a, I> {
    nodes: I,
    front: Option<Part<'a>>,
    back: Option<Part<'a>>,
}

impl<'a, I> Elems<'a, I> {
    fn new(nodes: I) -> Self {
        Elems {
            nodes,
            front: None,
            back: None,
        }
    }
}

impl<'a, I: Iterator<Item = NodeRef<'a>>> Iterator for Elems<'a, I> {
    type Item = Cow<'a, [u8]>;

    fn next(&mut self) -> Option<Cow<'a, [u8]>> {
        loop {
            if let Some(p) = &mut self.front {
                if let Some(v) = p.next() {
                    return Some(v);
                }
                self.front = None;
            }
            match self.nodes.next() {
                Some(n) => self.front = Some(Part::of(n)),
                None => {
                    let v = self.back.as_mut()?.next();
                    if v.is_none() {
                        self.back = None;
                    }
                    return v;
                }
            }
        }
    }
}

impl<'a, I: DoubleEndedIterator<Item = NodeRef<'a>>> DoubleEndedIterator for Elems<'a, I> {
    fn next_back(&mut self) -> Option<Cow<'a, [u8]>> {
        loop {
            if let Some(p) = &mut self.back {
                if let Some(v) = p.next_back() {
                    return Some(v);
                }
                self.back = None;
            }
            match self.nodes.next_back() {
                Some(n) => self.back = Some(Part::of(n)),
                None => {
                    let v = self.front.as_mut()?.next_back();
                    if v.is_none() {
                        self.front = None;
                    }
                    return v;
                }
            }
        }
    }
}

impl Quicklist {
    /// Keeps the end nodes plain and compresses interior nodes near `at` (after an edit there).
    fn repack_around(&mut self, at: usize) {
        let last = self.nodes.len().saturating_sub(1);
        for i in at.saturating_sub(1)..=(at + 1).min(last) {
            if i == 0 || i == last {
                self.nodes[i].unpack();
            } else {
                self.nodes[i].pack();
            }
        }
    }

    /// Decodes the end nodes (after nodes were removed at an end, an interior one may be one now).
    fn unpack_ends(&mut self) {
        if let Some(n) = self.nodes.front_mut() {
            n.unpack();
        }
        if let Some(n) = self.nodes.back_mut() {
            n.unpack();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The list
// ---------------------------------------------------------------------------------------------

/// Which end of a list (LEFT = head, RIGHT = tail).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum End {
    Left,
    Right,
}

impl End {
    /// Parses LEFT / RIGHT (any case).
    pub fn parse(arg: &[u8]) -> Option<End> {
        if arg.eq_ignore_ascii_case(b"left") {
            Some(End::Left)
        } else if arg.eq_ignore_ascii_case(b"right") {
            Some(End::Right)
        } else {
            None
        }
    }
}

impl Default for List {
    fn default() -> Self {
        List::new()
    }
}

impl List {
    pub fn new() -> List {
        List(Repr::One(Node::empty(false).buf.into_boxed_slice()))
    }

    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::One(b) => NodeRef(b).count(),
            Repr::Many(ql) => ql.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The nodes, head to tail (an empty one-node list has one empty node).
    fn nodes(&self) -> impl DoubleEndedIterator<Item = NodeRef<'_>> + Clone + '_ {
        let (one, many) = match &self.0 {
            Repr::One(b) => (Some(NodeRef(b)), None),
            Repr::Many(ql) => (None, Some(ql.nodes.iter().map(Node::r))),
        };
        one.into_iter().chain(many.into_iter().flatten())
    }

    /// The deque form, for changes that may add or drop nodes; [`List::settle`] goes back.
    fn many(&mut self) -> &mut Quicklist {
        if let Repr::One(b) = &mut self.0 {
            let node = Node {
                buf: std::mem::take(b).into_vec(),
            };
            let len = node.count();
            let mut nodes = VecDeque::new();
            if len > 0 {
                nodes.push_back(node);
            }
            self.0 = Repr::Many(Box::new(Quicklist { nodes, len }));
        }
        match &mut self.0 {
            Repr::Many(ql) => ql,
            Repr::One(_) => unreachable!("converted above"),
        }
    }

    /// Back to the one-node form when at most one node is left.
    fn settle(&mut self) {
        if let Repr::Many(ql) = &mut self.0 {
            if ql.nodes.len() <= 1 {
                let mut node = ql.nodes.pop_back().unwrap_or_else(|| Node::empty(false));
                node.unpack();
                node.compact();
                self.0 = Repr::One(node.buf.into_boxed_slice());
            }
        }
    }

    /// Changes a one-node list's node in place (exact-size box, no deque).
    fn with_one<R>(b: &mut Box<[u8]>, f: impl FnOnce(&mut Node) -> R) -> R {
        let mut node = Node {
            buf: std::mem::take(b).into_vec(),
        };
        let r = f(&mut node);
        *b = node.buf.into_boxed_slice();
        r
    }

    /// Adds an element at one end.
    pub fn push(&mut self, end: End, v: &[u8]) {
        let fill = fill();
        if let Repr::One(b) = &mut self.0 {
            if NodeRef(b).allows(v.len(), fill) || NodeRef(b).count() == 0 {
                let plain = v.len() >= packed_threshold();
                return List::with_one(b, |n| {
                    if n.count() == 0 {
                        *n = Node::with(v);
                        return;
                    }
                    // Exact growth: the allocator rounds up to its size class, and reallocating
                    // within it is in place.
                    n.buf.reserve_exact(entry_size(v.len()));
                    debug_assert!(!plain);
                    match end {
                        End::Right => n.push_back(v),
                        End::Left => n.push_front(v, false),
                    }
                });
            }
        }
        let ql = self.many();
        ql.len += 1;
        // With a node at each end already, the end node that is full becomes interior.
        let interior = ql.nodes.len() >= 2;
        match end {
            End::Right => {
                if let Some(n) = ql.nodes.back_mut() {
                    if n.r().allows(v.len(), fill) {
                        n.push_back(v);
                        return;
                    }
                    n.seal();
                    if interior {
                        n.pack();
                    }
                }
                ql.nodes.push_back(Node::with(v));
            }
            End::Left => {
                if let Some(n) = ql.nodes.front_mut() {
                    if n.r().allows(v.len(), fill) {
                        n.push_front(v, true);
                        return;
                    }
                    n.compact();
                    if interior {
                        n.pack();
                    }
                }
                ql.nodes.push_front(Node::with(v));
            }
        }
    }

    /// Removes and returns the element at one end.
    pub fn pop(&mut self, end: End) -> Option<Vec<u8>> {
        if self.is_empty() {
            return None;
        }
        if let Repr::One(b) = &mut self.0 {
            return Some(List::with_one(b, |n| {
                let v = n.pop(end);
                n.compact();
                v
            }));
        }
        let ql = self.many();
        let idx = match end {
            End::Left => 0,
            End::Right => ql.nodes.len() - 1,
        };
        let node = &mut ql.nodes[idx];
        let v = node.pop(end);
        if node.count() == 0 {
            ql.nodes.remove(idx);
            ql.unpack_ends();
        }
        ql.len -= 1;
        self.settle();
        Some(v)
    }

    /// Node and position inside it of element `idx` (< len).
    fn locate(&self, idx: usize) -> (usize, usize) {
        let len = self.len();
        if idx < len / 2 {
            let mut i = idx;
            for (ni, n) in self.nodes().enumerate() {
                if i < n.count() {
                    return (ni, i);
                }
                i -= n.count();
            }
        } else {
            let mut from_end = len - idx; // >= 1
            let total = self.nodes().count();
            for (k, n) in self.nodes().rev().enumerate() {
                if from_end <= n.count() {
                    return (total - 1 - k, n.count() - from_end);
                }
                from_end -= n.count();
            }
        }
        (0, 0)
    }

    /// Resolves a Redis index (negative counts from the tail) to a position, if in range.
    pub fn resolve(&self, index: i64) -> Option<usize> {
        let len = self.len() as i64;
        let i = if index < 0 { len + index } else { index };
        (0..len).contains(&i).then_some(i as usize)
    }

    /// The element at `idx` (< len).
    /// Elements of compressed nodes come back owned, the others borrowed.
    pub fn get(&self, idx: usize) -> Option<Cow<'_, [u8]>> {
        if idx >= self.len() {
            return None;
        }
        let (ni, off) = self.locate(idx);
        Some(self.nodes().nth(ni)?.element(off))
    }

    /// Every element, head to tail (reversible).
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = Cow<'_, [u8]>> + '_ {
        Elems::new(self.nodes())
    }

    /// `count` elements from position `start`, head to tail.
    pub fn range(&self, start: usize, count: usize) -> impl Iterator<Item = Cow<'_, [u8]>> + '_ {
        let (ni, off) = if start < self.len() {
            self.locate(start)
        } else {
            (usize::MAX, 0)
        };
        // `off` is inside the first node walked, so skipping it decodes no other node.
        Elems::new(self.nodes().skip(ni)).skip(off).take(count)
    }

    /// Inserts `v` so it becomes element `idx` (0..=len).
    pub fn insert(&mut self, idx: usize, v: &[u8]) {
        if idx == 0 {
            return self.push(End::Left, v);
        }
        if idx >= self.len() {
            return self.push(End::Right, v);
        }
        let fill = fill();
        let (ni, off) = self.locate(idx);
        let ql = self.many();
        ql.len += 1;
        let large = v.len() >= packed_threshold();
        ql.nodes[ni].unpack();
        // At a node boundary, appending to the previous node keeps nodes full.
        if off == 0 && ni > 0 {
            ql.nodes[ni - 1].unpack();
            if ql.nodes[ni - 1].r().allows(v.len(), fill) {
                ql.nodes[ni - 1].push_back(v);
                ql.repack_around(ni - 1);
                return self.settle();
            }
        }
        if large || ql.nodes[ni].r().plain() {
            // A plain element (or an insert next to one) gets a node of its own.
            let at = if off == 0 {
                ni
            } else {
                let rest = ql.nodes[ni].split_off(off);
                ql.nodes.insert(ni + 1, rest);
                ni + 1
            };
            ql.nodes.insert(at, Node::with(v));
            ql.repack_around(at);
            return self.settle();
        }
        let node = &mut ql.nodes[ni];
        let pos = node.r().offset_of(off);
        node.buf.splice(pos..pos, encode(v));
        node.set_count(node.count() + 1);
        if !fits(node.r().bytes(), node.count(), fill) && node.count() > 1 {
            let half = node.count() / 2;
            let rest = node.split_off(half);
            ql.nodes.insert(ni + 1, rest);
        }
        ql.repack_around(ni);
        self.settle();
    }

    /// Removes element `idx` (< len).
    pub fn remove(&mut self, idx: usize) {
        if idx >= self.len() {
            return;
        }
        let (ni, off) = self.locate(idx);
        let ql = self.many();
        let node = &mut ql.nodes[ni];
        node.unpack();
        let pos = node.r().offset_of(off);
        let span = node.span_at(pos);
        node.buf.drain(span);
        node.set_count(node.count() - 1);
        if node.count() == 0 {
            ql.nodes.remove(ni);
        }
        ql.len -= 1;
        if !ql.nodes.is_empty() {
            ql.repack_around(ni.min(ql.nodes.len() - 1));
        }
        self.settle();
    }

    /// Replaces element `idx` (< len).
    pub fn set(&mut self, idx: usize, v: &[u8]) {
        if idx >= self.len() {
            return;
        }
        let (ni, off) = self.locate(idx);
        let threshold = packed_threshold();
        let ql = self.many();
        let node = &mut ql.nodes[ni];
        node.unpack();
        let plain = node.r().plain();
        if !plain && v.len() < threshold {
            let pos = node.r().offset_of(off);
            let span = node.span_at(pos);
            let new_bytes = node.r().bytes() - span.len() + entry_size(v.len());
            if node.count() == 1 || fits(new_bytes, node.count(), fill()) {
                node.buf.splice(span, encode(v));
                ql.repack_around(ni);
                return self.settle();
            }
        } else if plain && node.count() == 1 {
            *node = Node::with(v);
            return self.settle();
        }
        self.remove(idx);
        self.insert(idx, v);
    }

    /// Drops `n` elements from one end (LTRIM).
    pub fn trim(&mut self, end: End, mut n: usize) {
        let ql = self.many();
        n = n.min(ql.len);
        ql.len -= n;
        while n > 0 {
            let node = match end {
                End::Left => ql.nodes.front_mut(),
                End::Right => ql.nodes.back_mut(),
            };
            let Some(node) = node else { break };
            let c = node.count();
            if c <= n {
                n -= c;
                match end {
                    End::Left => ql.nodes.pop_front(),
                    End::Right => ql.nodes.pop_back(),
                };
                continue;
            }
            node.unpack();
            match end {
                End::Left => {
                    let pos = node.r().offset_of(n);
                    node.buf.drain(HDR..pos);
                    node.set_gap(0);
                }
                End::Right => {
                    let pos = node.r().offset_of(c - n);
                    node.buf.truncate(pos);
                }
            }
            node.set_count(c - n);
            node.buf.shrink_to_fit();
            n = 0;
        }
        ql.unpack_ends();
        self.settle();
    }

    /// Removes up to `limit` elements equal to `v` (0 = all), from the tail when `from_tail`
    /// (LREM). Returns how many were removed.
    pub fn remove_matching(&mut self, v: &[u8], limit: usize, from_tail: bool) -> usize {
        let ql = self.many();
        let mut removed = 0;
        let order: Vec<usize> = if from_tail {
            (0..ql.nodes.len()).rev().collect()
        } else {
            (0..ql.nodes.len()).collect()
        };
        for ni in order {
            if limit != 0 && removed >= limit {
                break;
            }
            let node = &mut ql.nodes[ni];
            // A compressed node is searched in a decoded copy and kept as it was if nothing
            // in it matches.
            let original = node.r().packed().then(|| std::mem::take(&mut node.buf));
            if let Some(o) = &original {
                node.buf = NodeRef(o).decoded();
            }
            // Spans of the matching elements, in the direction of the scan.
            let mut spans = Vec::new();
            let mut pos = node.r().first();
            while pos < node.buf.len() {
                let (d, n, next) = read_fwd(&node.buf, pos);
                if &node.buf[d..d + n] == v {
                    spans.push(pos..next);
                }
                pos = next;
            }
            if from_tail {
                spans.reverse();
            }
            if limit != 0 {
                spans.truncate(limit - removed);
            }
            if spans.is_empty() {
                if let Some(o) = original {
                    node.buf = o;
                }
                continue;
            }
            removed += spans.len();
            spans.sort_by_key(|s| s.start);
            let mut buf = Vec::with_capacity(node.buf.len());
            let mut last = 0;
            for s in &spans {
                buf.extend_from_slice(&node.buf[last..s.start]);
                last = s.end;
            }
            buf.extend_from_slice(&node.buf[last..]);
            node.buf = buf;
            node.set_count(node.count() - spans.len());
        }
        ql.nodes.retain(|n| n.count() > 0);
        ql.len -= removed;
        let last = ql.nodes.len().saturating_sub(1);
        for (i, n) in ql.nodes.iter_mut().enumerate() {
            if i == 0 || i == last {
                n.unpack();
            } else {
                n.pack();
            }
        }
        self.settle();
        removed
    }

    /// Builds a list from elements in order.
    pub fn from_items<'a>(items: impl IntoIterator<Item = &'a [u8]>) -> List {
        let mut l = List::new();
        for i in items {
            l.push(End::Right, i);
        }
        l
    }

    /// Appends an element as a plain node of its own (an RDB plain container), whatever its size.
    fn push_plain(&mut self, v: &[u8]) {
        let mut node = Node::empty(true);
        encode_into(&mut node.buf, v);
        node.set_count(1);
        let ql = self.many();
        ql.len += 1;
        ql.nodes.push_back(node);
        self.settle();
    }

    /// Number of nodes (DEBUG / tests).
    pub fn node_count(&self) -> usize {
        match &self.0 {
            Repr::One(b) => usize::from(NodeRef(b).count() > 0),
            Repr::Many(ql) => ql.nodes.len(),
        }
    }
}

impl Collection for List {
    fn len(&self) -> usize {
        List::len(self)
    }

    fn encoding(&self) -> &'static str {
        "quicklist"
    }

    fn memory(&self) -> usize {
        match &self.0 {
            Repr::One(b) => b.len(),
            Repr::Many(ql) => {
                std::mem::size_of::<Quicklist>()
                    + ql.nodes.capacity() * std::mem::size_of::<Node>()
                    + ql.nodes.iter().map(|n| n.buf.capacity()).sum::<usize>()
            }
        }
    }

    fn duplicate(&self) -> Self {
        List(match &self.0 {
            Repr::One(b) => Repr::One(b.clone()),
            Repr::Many(ql) => Repr::Many(ql.clone()),
        })
    }

    fn rdb_type(&self) -> u8 {
        rdb::types::LIST_QUICKLIST_2
    }

    /// `RDB_TYPE_LIST_QUICKLIST_2`: the node count, then per node its container (2 = packed
    /// listpack, 1 = plain element) and the blob. Node boundaries are ours; any valid split
    /// loads in Redis.
    fn rdb_save(&self, w: &mut Writer) {
        w.len(self.node_count() as u64);
        for n in self.nodes().filter(|n| n.count() > 0) {
            if n.plain() {
                w.len(CONTAINER_PLAIN);
                w.string(n.iter().next().unwrap_or_default());
            } else if n.packed() {
                let buf = n.decoded();
                w.len(CONTAINER_PACKED);
                w.string(&listpack::encode(NodeRef(&buf).iter()));
            } else {
                w.len(CONTAINER_PACKED);
                w.string(&listpack::encode(n.iter()));
            }
        }
    }

    fn rdb_load(t: u8, r: &mut Reader) -> rdb::Result<Self> {
        let mut l = List::new();
        match t {
            rdb::types::LIST => {
                let n = r.count()?;
                for _ in 0..n {
                    l.push(End::Right, &r.string()?);
                }
            }
            rdb::types::LIST_ZIPLIST => {
                let blob = r.string()?;
                for e in listpack::ziplist_decode(&blob)? {
                    l.push(End::Right, &e.to_bytes());
                }
            }
            rdb::types::LIST_QUICKLIST | rdb::types::LIST_QUICKLIST_2 => {
                let nodes = r.count()?;
                for _ in 0..nodes {
                    let container = if t == rdb::types::LIST_QUICKLIST_2 {
                        r.len()?
                    } else {
                        CONTAINER_PACKED
                    };
                    let blob = r.string()?;
                    // A node of zero bytes is refused before any decoding, as Redis does.
                    if blob.is_empty() {
                        return Err(rdb::RdbError::Corrupt("Quicklist node is empty"));
                    }
                    match container {
                        CONTAINER_PLAIN => l.push_plain(&blob),
                        CONTAINER_PACKED => {
                            let entries = if t == rdb::types::LIST_QUICKLIST_2 {
                                listpack::decode(&blob)?
                            } else {
                                listpack::ziplist_decode(&blob)?
                            };
                            for e in entries {
                                l.push(End::Right, &e.to_bytes());
                            }
                        }
                        _ => return Err(rdb::RdbError::Corrupt("Quicklist integrity check failed.")),
                    }
                }
            }
            _ => return Err(rdb::RdbError::Unsupported(t)),
        }
        // Redis refuses an empty list (`emptykey`): a key never holds one.
        if l.is_empty() {
            return Err(rdb::RdbError::EmptyKey);
        }
        Ok(l)
    }

    fn digest(&self, digest: &mut [u8; 20]) {
        for i in self.iter() {
            crate::util::digest::mix_digest(digest, &i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(l: &List) -> Vec<Vec<u8>> {
        l.iter().map(|x| x.to_vec()).collect()
    }

    #[test]
    fn size_is_small() {
        assert!(std::mem::size_of::<List>() <= 16);
    }

    #[test]
    fn matches_a_vecdeque_model() {
        // A deterministic pseudo-random walk over every operation against a VecDeque model.
        let mut seed = 12345u64;
        let mut rnd = |m: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % m as u64) as usize
        };
        let mut l = List::new();
        let mut m: VecDeque<Vec<u8>> = VecDeque::new();
        let mut max_packed = 0;
        for step in 0..20000 {
            let v: Vec<u8> = if rnd(10) == 0 {
                vec![b'x'; rnd(300)]
            } else {
                format!("{}", rnd(50)).into_bytes()
            };
            match rnd(9) {
                0 | 1 => {
                    l.push(End::Left, &v);
                    m.push_front(v);
                }
                2 | 3 => {
                    l.push(End::Right, &v);
                    m.push_back(v);
                }
                4 => assert_eq!(l.pop(End::Left), m.pop_front()),
                5 => assert_eq!(l.pop(End::Right), m.pop_back()),
                6 => {
                    let i = rnd(m.len() + 1);
                    l.insert(i, &v);
                    m.insert(i, v);
                }
                7 if !m.is_empty() => {
                    let i = rnd(m.len());
                    if rnd(2) == 0 {
                        l.set(i, &v);
                        m[i] = v;
                    } else {
                        l.remove(i);
                        m.remove(i);
                    }
                }
                8 if !m.is_empty() && step % 7 == 0 => {
                    let n = rnd(3);
                    let tail = rnd(2) == 0;
                    let got = l.remove_matching(&v, n, tail);
                    let mut idx: Vec<usize> = (0..m.len()).filter(|&i| m[i] == v).collect();
                    if tail {
                        idx.reverse();
                    }
                    if n != 0 {
                        idx.truncate(n);
                    }
                    assert_eq!(got, idx.len());
                    idx.sort_unstable();
                    for i in idx.into_iter().rev() {
                        m.remove(i);
                    }
                }
                _ => {}
            }
            assert_eq!(l.len(), m.len());
            let (packed, ends_plain) = packing(&l);
            max_packed = max_packed.max(packed);
            assert!(ends_plain, "step {step}: an end node is compressed");
            if step % 97 == 0 {
                assert_eq!(collect(&l), m.iter().cloned().collect::<Vec<_>>());
                let rev: Vec<Vec<u8>> = l.iter().rev().map(|x| x.to_vec()).collect();
                assert_eq!(rev, m.iter().rev().cloned().collect::<Vec<_>>());
                if !m.is_empty() {
                    let i = rnd(m.len());
                    assert_eq!(l.get(i).as_deref(), Some(&m[i][..]));
                    let got: Vec<Vec<u8>> = l.range(i, 5).map(|x| x.to_vec()).collect();
                    assert_eq!(got, m.iter().skip(i).take(5).cloned().collect::<Vec<_>>());
                }
            }
        }
        assert!(max_packed > 2, "the walk never compressed interior nodes");
    }

    /// (compressed nodes, whether both end nodes are plain).
    fn packing(l: &List) -> (usize, bool) {
        let nodes: Vec<NodeRef> = l.nodes().collect();
        let packed = nodes.iter().filter(|n| n.packed()).count();
        let ends = nodes.first().is_none_or(|n| !n.packed()) && nodes.last().is_none_or(|n| !n.packed());
        (packed, ends)
    }

    #[test]
    fn interior_nodes_of_a_long_list_are_compressed() {
        // 100,000 random 16-letter strings (memory.sh's biglist): about half the bytes.
        let mut x: u64 = 7;
        let items: Vec<Vec<u8>> = (0..100_000)
            .map(|_| {
                (0..16)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        b'a' + (x % 16) as u8
                    })
                    .collect()
            })
            .collect();
        let l = List::from_items(items.iter().map(|v| &v[..]));
        assert!(l.memory() < 100_000 * 11, "{} bytes", l.memory());
        assert_eq!(l.get(50_000).as_deref(), Some(&items[50_000][..]));
        assert_eq!(
            l.iter().rev().nth(31_234).as_deref(),
            Some(&items[100_000 - 31_235][..])
        );
        let mut w = Writer::new(false);
        l.rdb_save(&mut w);
        let mut r = Reader::new(&w.buf);
        let back = List::rdb_load(rdb::types::LIST_QUICKLIST_2, &mut r).expect("loads");
        assert!(back.iter().eq(l.iter()));
    }

    #[test]
    fn head_gap_keeps_order_and_memory() {
        // LPUSH-built lists use the head node's gap; order, indexing, LPOP and LTRIM agree
        // with a model, and only the head node keeps a gap.
        let mut l = List::new();
        let mut m: VecDeque<Vec<u8>> = VecDeque::new();
        for i in 0..50_000u32 {
            let v = format!("element:{i:012}").into_bytes();
            l.push(End::Left, &v);
            m.push_front(v);
        }
        assert_eq!(collect(&l), m.iter().cloned().collect::<Vec<_>>());
        for i in (0..m.len()).step_by(997) {
            assert_eq!(l.get(i).as_deref(), Some(&m[i][..]));
        }
        if let Repr::Many(ql) = &l.0 {
            let gaps: usize = ql.nodes.iter().skip(1).map(|n| n.gap()).sum();
            assert_eq!(gaps, 0, "only the head node has a gap");
            assert!(ql.nodes[0].gap() <= MAX_GAP);
        }
        for _ in 0..20_000 {
            assert_eq!(l.pop(End::Left), m.pop_front());
        }
        l.trim(End::Left, 7);
        m.drain(..7);
        l.push(End::Left, b"x");
        m.push_front(b"x".to_vec());
        assert_eq!(collect(&l), m.iter().cloned().collect::<Vec<_>>());
        let rev: Vec<Vec<u8>> = l.iter().rev().map(|x| x.to_vec()).collect();
        assert_eq!(rev, m.iter().rev().cloned().collect::<Vec<_>>());
    }

    #[test]
    fn trim_both_ends() {
        let mut l = List::from_items(
            (0..1000)
                .map(|i| format!("{i}"))
                .collect::<Vec<_>>()
                .iter()
                .map(|s| s.as_bytes()),
        );
        l.trim(End::Left, 10);
        l.trim(End::Right, 500);
        assert_eq!(l.len(), 490);
        assert_eq!(l.get(0).as_deref(), Some(&b"10"[..]));
        assert_eq!(l.get(489).as_deref(), Some(&b"499"[..]));
    }
}
