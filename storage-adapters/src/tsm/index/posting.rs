//! Posting lists: ascending series ids stored as delta varints
//! (`[first id, gap, gap, ...]`), plus the set operations predicates need.
//! Ids are dense and handed out in increasing order, so appending keeps the
//! list sorted and a gap of 1 costs one byte.

use crate::tsm::bytes::{put_uvarint, Cursor};

/// An append-only, delta-varint encoded list of ascending series ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PostingList {
    bytes: Vec<u8>,
    len: usize,
    last: Option<u32>,
}

impl PostingList {
    /// An empty list.
    pub fn new() -> Self {
        PostingList::default()
    }

    /// Appends `id`; ids not above the last one are ignored (already present).
    pub fn push(&mut self, id: u32) {
        let delta = match self.last {
            Some(last) if id <= last => return,
            Some(last) => id - last,
            None => id,
        };
        put_uvarint(&mut self.bytes, u64::from(delta));
        self.last = Some(id);
        self.len += 1;
    }

    /// Number of ids.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the list holds no id.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Encoded size in bytes.
    pub fn encoded_len(&self) -> usize {
        self.bytes.len()
    }

    /// The ids, ascending.
    pub fn ids(&self) -> Vec<u32> {
        let mut out = Vec::with_capacity(self.len);
        self.append_to(&mut out);
        out
    }

    /// Appends the ids, ascending, to `out`.
    pub fn append_to(&self, out: &mut Vec<u32>) {
        out.reserve(self.len);
        let mut c = Cursor::new(&self.bytes);
        let mut acc = 0u32;
        while let Ok(d) = c.uvarint() {
            acc += d as u32;
            out.push(acc);
        }
    }
}

/// A union of this many ids or more, relative to the id bound, is built in
/// a bitmap of the id space (`bound / 64` words) rather than by sorting.
const BITMAP_FRACTION: usize = 32;

/// Union of posting lists as ascending ids, every id below `bound` (the
/// number of series). Cost O(total ids) plus a sort of them when they are few
/// relative to `bound`, or a pass over a bitmap of `bound` bits when many.
pub fn union_postings(lists: &[&PostingList], bound: usize) -> Vec<u32> {
    match lists {
        [] => Vec::new(),
        [one] => one.ids(),
        _ => {
            let total: usize = lists.iter().map(|l| l.len()).sum();
            let mut ids = Vec::with_capacity(total);
            for l in lists {
                l.append_to(&mut ids);
            }
            normalize(ids, bound)
        }
    }
}

/// Union of ascending id lists, every id below `bound`.
pub fn union_all(lists: Vec<Vec<u32>>, bound: usize) -> Vec<u32> {
    if lists.len() <= 1 {
        return lists.into_iter().next().unwrap_or_default();
    }
    let total: usize = lists.iter().map(Vec::len).sum();
    let mut ids = Vec::with_capacity(total);
    for l in lists {
        ids.extend_from_slice(&l);
    }
    normalize(ids, bound)
}

/// Sorts and deduplicates `ids` (every id below `bound`).
fn normalize(mut ids: Vec<u32>, bound: usize) -> Vec<u32> {
    if ids.len() * BITMAP_FRACTION < bound || ids.iter().any(|&id| id as usize >= bound) {
        ids.sort_unstable();
        ids.dedup();
        return ids;
    }
    let mut words = vec![0u64; bound.div_ceil(64)];
    for &id in &ids {
        words[id as usize / 64] |= 1u64 << (id % 64);
    }
    ids.clear();
    for (w, &word) in words.iter().enumerate() {
        let mut bits = word;
        while bits != 0 {
            ids.push((w * 64) as u32 + bits.trailing_zeros());
            bits &= bits - 1;
        }
    }
    ids
}

/// Intersection of two ascending id lists.
pub fn intersect(a: &[u32], b: &[u32]) -> Vec<u32> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// Union of two ascending id lists.
pub fn union(a: &[u32], b: &[u32]) -> Vec<u32> {
    let (mut i, mut j, mut out) = (0, 0, Vec::with_capacity(a.len() + b.len()));
    while i < a.len() || j < b.len() {
        let take_a = j >= b.len() || (i < a.len() && a[i] <= b[j]);
        let v = if take_a { a[i] } else { b[j] };
        if i < a.len() && a[i] == v {
            i += 1;
        }
        if j < b.len() && b[j] == v {
            j += 1;
        }
        out.push(v);
    }
    out
}

/// `a` minus `b` (both ascending).
pub fn difference(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut j = 0;
    let mut out = Vec::with_capacity(a.len());
    for &x in a {
        while j < b.len() && b[j] < x {
            j += 1;
        }
        if j >= b.len() || b[j] != x {
            out.push(x);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_are_varint_encoded() {
        let mut p = PostingList::new();
        for id in [3, 4, 200, 200, 201] {
            p.push(id);
        }
        // deltas 3, 1, 196 (two bytes: 196 >= 128), 1 -> 5 bytes; the repeated 200 is ignored
        assert_eq!(p.encoded_len(), 5);
        assert_eq!(p.ids(), vec![3, 4, 200, 201]);
        assert_eq!(p.len(), 4);
    }

    #[test]
    fn set_operations() {
        let a = [1, 3, 5, 7];
        let b = [3, 4, 7, 9];
        assert_eq!(intersect(&a, &b), vec![3, 7]);
        assert_eq!(union(&a, &b), vec![1, 3, 4, 5, 7, 9]);
        assert_eq!(difference(&a, &b), vec![1, 5]);
    }

    #[test]
    fn unions_of_many_lists_sort_or_use_a_bitmap() {
        let list = |ids: &[u32]| {
            let mut p = PostingList::new();
            ids.iter().for_each(|&id| p.push(id));
            p
        };
        let (a, b, c) = (list(&[2, 70, 130]), list(&[0, 64, 70]), list(&[]));
        let want = vec![0, 2, 64, 70, 130];
        // 6 ids, bound 1000: sorted (6 * 32 < 1000); bound 131: bitmap.
        assert_eq!(union_postings(&[&a, &b, &c], 1000), want);
        assert_eq!(union_postings(&[&a, &b, &c], 131), want);
        assert_eq!(union_postings(&[&a], 131), vec![2, 70, 130]);
        assert!(union_postings(&[], 10).is_empty());
        let lists = vec![vec![5, 9], vec![1, 5], vec![9, 10]];
        assert_eq!(union_all(lists.clone(), 11), vec![1, 5, 9, 10]);
        assert_eq!(union_all(lists, 1_000_000), vec![1, 5, 9, 10]);
        // An id beyond the bound falls back to sorting instead of panicking.
        assert_eq!(union_all(vec![vec![3], vec![99]], 4), vec![3, 99]);
    }
}
