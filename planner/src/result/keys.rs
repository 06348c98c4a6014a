//! The group keys of the result join, built once per group and shared by
//! its inputs: [`Keys`] hands every input that meets a group the same
//! `Arc`, so the merge tells keys apart by a pointer compare and no input
//! allocates a key of its own for a group another input already met.
//!
//! The inputs move through the groups in key order, all at about the same
//! place (the merge only advances the smallest key), so the keys they may
//! still meet are the recent ones: [`Keys`] holds a window of the most
//! recent keys, sorted, and forgets the smallest when it is full. A key
//! asked for again after it was forgotten is built anew: equal by value,
//! which [`same_key`] also accepts, so the window only saves work.
//!
//! ```text
//!   input 1 ─ series 7 of registry A ─┐                       ┌─▶ Arc ["dc1", "h3"] (built once)
//!   input 2 ─ series 2 of registry B ─┼─▶ Keys (sorted window) ┤
//!   input 3 ─ series 7 of registry A ─┘                       └─▶ the same Arc, found by value
//! ```

use std::cmp::Ordering;
use std::collections::VecDeque;
use std::sync::Arc;

use tsq_engine::SeriesInfo;

use super::input::key_of;
use super::output::Key;

/// Keys the window holds: a few per input, far more than the groups the
/// inputs of a query are apart by in practice.
const WINDOW: usize = 64;

/// The recent group keys of a join, sorted ascending; see the module docs.
#[derive(Debug, Default)]
pub(super) struct Keys {
    recent: VecDeque<Key>,
    /// Keys built (not found in the window), for tests.
    built: usize,
}

impl Keys {
    /// The key of the series `info` for the tag columns `tags`: a key of
    /// the window when one has its values, else a new one (added).
    pub(super) fn key(&mut self, info: Option<&SeriesInfo>, tags: &[String]) -> Key {
        // the common cases first: a new group after every known one (the
        // input that leads), or the newest group (the inputs that follow)
        let at = match self.recent.back().map(|k| compare(k, info, tags)) {
            None | Some(Ordering::Less) => self.recent.len(),
            Some(Ordering::Equal) => return Arc::clone(&self.recent[self.recent.len() - 1]),
            Some(Ordering::Greater) => {
                match self.recent.binary_search_by(|k| compare(k, info, tags)) {
                    Ok(i) => return Arc::clone(&self.recent[i]),
                    Err(i) => i,
                }
            }
        };
        let key = key_of(info, tags);
        self.built += 1;
        self.recent.insert(at, Arc::clone(&key));
        if self.recent.len() > WINDOW {
            self.recent.pop_front();
        }
        key
    }

    /// Keys built so far.
    #[cfg(test)]
    pub(super) fn built(&self) -> usize {
        self.built
    }
}

/// `key` against the key the series `info` would have.
fn compare(key: &[String], info: Option<&SeriesInfo>, tags: &[String]) -> Ordering {
    key.iter()
        .zip(tags)
        .map(|(v, t)| v.as_str().cmp(info.and_then(|s| s.tag(t)).unwrap_or("")))
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
}

/// True when `a` and `b` are the same key: the same `Arc` (a key of
/// [`Keys`]), else equal values.
pub(super) fn same_key(a: &Key, b: &Key) -> bool {
    Arc::ptr_eq(a, b) || a == b
}

/// `a` against `b`, by value (equal at once when they are the same `Arc`).
pub(super) fn cmp_keys(a: &Key, b: &Key) -> Ordering {
    if Arc::ptr_eq(a, b) {
        Ordering::Equal
    } else {
        a.as_ref().cmp(b.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(dc: &str, host: &str) -> SeriesInfo {
        SeriesInfo::new("m", &[("dc", dc), ("host", host)], "v")
    }

    #[test]
    fn inputs_that_meet_a_group_share_its_key() {
        let tags: Vec<String> = vec!["dc".into(), "host".into()];
        let mut keys = Keys::default();
        // two inputs (series of two registries) over groups a/x, a/y, b/x
        let a_x = keys.key(Some(&series("a", "x")), &tags);
        let again = keys.key(Some(&series("a", "x")), &tags);
        assert!(Arc::ptr_eq(&a_x, &again));
        let b_x = keys.key(Some(&series("b", "x")), &tags);
        // a group the leading input lacked: between two known keys
        let a_y = keys.key(Some(&series("a", "y")), &tags);
        assert_eq!(&a_y[..], &["a".to_string(), "y".to_string()]);
        assert!(Arc::ptr_eq(&keys.key(Some(&series("a", "y")), &tags), &a_y));
        assert!(Arc::ptr_eq(&keys.key(Some(&series("a", "x")), &tags), &a_x));
        assert!(Arc::ptr_eq(&keys.key(Some(&series("b", "x")), &tags), &b_x));
        assert_eq!(keys.built(), 3);
        let recent: Vec<&[String]> = keys.recent.iter().map(|k| &k[..]).collect();
        assert_eq!(recent, [&a_x[..], &a_y[..], &b_x[..]]);
        // a series without the tags: the empty strings
        let none = keys.key(None, &tags);
        assert_eq!(&none[..], &[String::new(), String::new()]);
        assert_eq!(cmp_keys(&none, &a_x), Ordering::Less);
        assert_eq!(cmp_keys(&a_x, &a_x), Ordering::Equal);
    }

    #[test]
    fn a_forgotten_key_is_built_again_equal_by_value() {
        let tags: Vec<String> = vec!["host".into()];
        let mut keys = Keys::default();
        let host = |i: usize| SeriesInfo::new("m", &[("host", &format!("h{i:03}"))], "v");
        let first = keys.key(Some(&host(0)), &tags);
        for i in 1..=WINDOW {
            keys.key(Some(&host(i)), &tags);
        }
        assert_eq!(keys.recent.len(), WINDOW);
        let again = keys.key(Some(&host(0)), &tags);
        assert!(!Arc::ptr_eq(&first, &again));
        assert!(same_key(&first, &again));
        assert_eq!(keys.built(), WINDOW + 2);
        // the window stays sorted, and an old key is the first to go
        assert!(keys
            .recent
            .iter()
            .zip(keys.recent.iter().skip(1))
            .all(|(a, b)| a < b));
        assert!(keys.recent.iter().all(|k| !same_key(k, &first)));
    }
}
