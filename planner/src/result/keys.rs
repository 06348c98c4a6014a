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
//! which [`same_key`] also accepts, so the window only saves work. A join
//! of one input has nothing to share: its keys are built as they come.
//!
//! Each key also remembers the series it was built for (registry and id):
//! an input finds the newest key by that pair, or by a series with the
//! very same tag strings (the groups of one grouping under another field
//! share them), without comparing strings. [`Keys`] also remembers which
//! registries are in key order (`input.rs`), so that inputs sharing a
//! registry check it once.
//!
//! ```text
//!   input 1 ─ series 7 of registry A ─┐                       ┌─▶ Arc ["dc1", "h3"] (built once)
//!   input 2 ─ series 2 of registry B ─┼─▶ Keys (sorted window) ┤
//!   input 3 ─ series 7 of registry A ─┘                       └─▶ the same Arc, found by value
//! ```

use std::cmp::Ordering;
use std::collections::VecDeque;
use std::sync::Arc;

use tsq_engine::{SeriesInfo, SeriesRegistry};

use super::input::{in_key_order, key_of};
use super::output::Key;

/// Keys the window holds: a few per input, far more than the groups the
/// inputs of a query are apart by in practice.
const WINDOW: usize = 64;

/// Registries whose order [`Keys`] remembers.
const REGISTRIES: usize = 16;

/// A key of the window and the series it was built for.
#[derive(Debug)]
struct Recent {
    key: Key,
    registry: Arc<SeriesRegistry>,
    series: u32,
}

/// The recent group keys of a join, sorted ascending; see the module docs.
#[derive(Debug, Default)]
pub(super) struct Keys {
    /// Whether several inputs share the keys: with one, a key is built
    /// per group as it comes, and the window stays empty.
    shared: bool,
    recent: VecDeque<Recent>,
    /// Registries checked for key order, with the answer (newest last).
    ordered: Vec<(Arc<SeriesRegistry>, bool)>,
    /// Keys built (not found in the window), for tests.
    built: usize,
}

impl Keys {
    /// The keys of a join of `inputs` inputs.
    pub(super) fn new(inputs: usize) -> Self {
        Keys {
            shared: inputs > 1,
            ..Keys::default()
        }
    }

    /// The key of series `series` of `registry` for the tag columns
    /// `tags`: a key of the window when one was built for that series or
    /// has its values, else a new one (added).
    pub(super) fn key(
        &mut self,
        registry: &Arc<SeriesRegistry>,
        series: u32,
        tags: &[String],
    ) -> Key {
        let info = registry.get(series);
        if !self.shared {
            self.built += 1;
            return key_of(info, tags);
        }
        // the common cases first: a new group after every known one (the
        // input that leads), or the newest group (the inputs that follow)
        let newest = self.recent.back().map(|r| {
            let same = (r.series == series && Arc::ptr_eq(&r.registry, registry))
                || same_tags(r.registry.get(r.series), info);
            if same {
                Ordering::Equal
            } else {
                compare(&r.key, info, tags)
            }
        });
        let at = match newest {
            None | Some(Ordering::Less) => self.recent.len(),
            Some(Ordering::Equal) => return Arc::clone(&self.recent[self.recent.len() - 1].key),
            Some(Ordering::Greater) => {
                match self
                    .recent
                    .binary_search_by(|r| compare(&r.key, info, tags))
                {
                    Ok(i) => return Arc::clone(&self.recent[i].key),
                    Err(i) => i,
                }
            }
        };
        let key = key_of(info, tags);
        self.built += 1;
        let recent = Recent {
            key: Arc::clone(&key),
            registry: Arc::clone(registry),
            series,
        };
        self.recent.insert(at, recent);
        if self.recent.len() > WINDOW {
            self.recent.pop_front();
        }
        key
    }

    /// True when the keys of `registry`'s series strictly ascend with their
    /// ids (`input::in_key_order`), checked once per registry, and once for
    /// registries whose series have the very same tag strings id by id
    /// (one grouping under several fields).
    pub(super) fn in_key_order(&mut self, registry: &Arc<SeriesRegistry>, tags: &[String]) -> bool {
        if let Some((_, ordered)) = self
            .ordered
            .iter()
            .find(|(r, _)| Arc::ptr_eq(r, registry) || same_series_tags(r, registry))
        {
            return *ordered;
        }
        let ordered = in_key_order(registry, tags);
        if self.ordered.len() == REGISTRIES {
            self.ordered.remove(0);
        }
        self.ordered.push((Arc::clone(registry), ordered));
        ordered
    }

    /// Keys built so far.
    #[cfg(test)]
    pub(super) fn built(&self) -> usize {
        self.built
    }
}

/// True when `a` and `b` are series with the very same tag strings (the
/// groups of one grouping under two fields share them): the same key,
/// without comparing a byte.
fn same_tags(a: Option<&SeriesInfo>, b: Option<&SeriesInfo>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => {
            a.tags.len() == b.tags.len()
                && a.tags
                    .iter()
                    .zip(&b.tags)
                    .all(|(x, y)| Arc::ptr_eq(&x.0, &y.0) && Arc::ptr_eq(&x.1, &y.1))
        }
        _ => false,
    }
}

/// True when `a` and `b` hold as many series, each with the very same tag
/// strings as the series of its id in the other.
fn same_series_tags(a: &SeriesRegistry, b: &SeriesRegistry) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b.iter())
            .all(|((_, x), (_, y))| same_tags(Some(x), Some(y)))
}

/// `key` against the key the series `info` would have.
fn compare(key: &[String], info: Option<&SeriesInfo>, tags: &[String]) -> Ordering {
    for (v, t) in key.iter().zip(tags) {
        let order = v.as_str().cmp(info.and_then(|s| s.tag(t)).unwrap_or(""));
        if order.is_ne() {
            return order;
        }
    }
    Ordering::Equal
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

    /// A registry of the series (dc, host) of `keys`, in that order.
    fn registry(keys: &[(&str, &str)]) -> Arc<SeriesRegistry> {
        let series = keys
            .iter()
            .map(|(dc, host)| SeriesInfo::new("m", &[("dc", dc), ("host", host)], "v"))
            .collect();
        Arc::new(SeriesRegistry::new(series))
    }

    #[test]
    fn inputs_that_meet_a_group_share_its_key() {
        let tags: Vec<String> = vec!["dc".into(), "host".into()];
        let mut keys = Keys::new(2);
        // two inputs over registries of their own: a/x, b/x and a/x, a/y, b/x
        let one = registry(&[("a", "x"), ("b", "x")]);
        let two = registry(&[("a", "x"), ("a", "y"), ("b", "x")]);
        let a_x = keys.key(&one, 0, &tags);
        let again = keys.key(&two, 0, &tags);
        assert!(Arc::ptr_eq(&a_x, &again));
        let b_x = keys.key(&one, 1, &tags);
        // a group the leading input lacked: between two known keys
        let a_y = keys.key(&two, 1, &tags);
        assert_eq!(&a_y[..], &["a".to_string(), "y".to_string()]);
        assert!(Arc::ptr_eq(&keys.key(&two, 1, &tags), &a_y));
        assert!(Arc::ptr_eq(&keys.key(&one, 0, &tags), &a_x));
        assert!(Arc::ptr_eq(&keys.key(&two, 2, &tags), &b_x));
        assert_eq!(keys.built(), 3);
        let recent: Vec<&[String]> = keys.recent.iter().map(|r| &r.key[..]).collect();
        assert_eq!(recent, [&a_x[..], &a_y[..], &b_x[..]]);
        // an id outside the registry: the empty strings
        let none = keys.key(&one, 9, &tags);
        assert_eq!(&none[..], &[String::new(), String::new()]);
        assert_eq!(cmp_keys(&none, &a_x), Ordering::Less);
        assert_eq!(cmp_keys(&a_x, &a_x), Ordering::Equal);
    }

    #[test]
    fn a_forgotten_key_is_built_again_equal_by_value() {
        let tags: Vec<String> = vec!["host".into()];
        let mut keys = Keys::new(2);
        let hosts: Vec<String> = (0..=WINDOW).map(|i| format!("h{i:03}")).collect();
        let series = hosts
            .iter()
            .map(|h| SeriesInfo::new("m", &[("host", h)], "v"))
            .collect();
        let registry = Arc::new(SeriesRegistry::new(series));
        let first = keys.key(&registry, 0, &tags);
        for i in 1..=WINDOW {
            keys.key(&registry, i as u32, &tags);
        }
        assert_eq!(keys.recent.len(), WINDOW);
        let again = keys.key(&registry, 0, &tags);
        assert!(!Arc::ptr_eq(&first, &again));
        assert!(same_key(&first, &again));
        assert_eq!(keys.built(), WINDOW + 2);
        // the window stays sorted, and an old key is the first to go
        let mut sorted = keys.recent.iter().zip(keys.recent.iter().skip(1));
        assert!(sorted.all(|(a, b)| a.key < b.key));
        assert!(keys.recent.iter().all(|r| !same_key(&r.key, &first)));
    }

    #[test]
    fn series_that_share_their_tag_strings_share_the_key() {
        let tags: Vec<String> = vec!["dc".into(), "host".into()];
        let mut keys = Keys::new(2);
        let one = registry(&[("a", "x"), ("b", "x")]);
        // the same groups under another field: the same tag strings
        let two = Arc::new(SeriesRegistry::new(
            one.iter()
                .map(|(_, s)| SeriesInfo {
                    field: Arc::from("w"),
                    ..s.clone()
                })
                .collect(),
        ));
        let a_x = keys.key(&one, 0, &tags);
        assert!(Arc::ptr_eq(&keys.key(&two, 0, &tags), &a_x));
        let b_x = keys.key(&one, 1, &tags);
        assert!(Arc::ptr_eq(&keys.key(&two, 1, &tags), &b_x));
        assert!(same_tags(two.get(1), one.get(1)));
        // equal strings that are not the same: equal, not the same tags
        let three = registry(&[("a", "x"), ("b", "x")]);
        assert!(!same_tags(three.get(1), one.get(1)));
        assert!(Arc::ptr_eq(&keys.key(&three, 1, &tags), &b_x));
        assert!(!same_tags(two.get(0), one.get(1)));
        assert!(!same_tags(None, one.get(1)));
        assert_eq!(keys.built(), 2);
    }

    #[test]
    fn one_input_builds_its_keys_without_a_window() {
        let tags: Vec<String> = vec!["dc".into(), "host".into()];
        let mut keys = Keys::new(1);
        let one = registry(&[("a", "x"), ("b", "x")]);
        let a_x = keys.key(&one, 0, &tags);
        assert_eq!(&a_x[..], &["a".to_string(), "x".to_string()]);
        let again = keys.key(&one, 0, &tags);
        assert!(same_key(&a_x, &again) && !Arc::ptr_eq(&a_x, &again));
        assert!(keys.recent.is_empty());
        assert_eq!(keys.built(), 2);
    }

    #[test]
    fn the_key_order_of_a_registry_is_checked_once() {
        let tags: Vec<String> = vec!["dc".into(), "host".into()];
        let mut keys = Keys::new(2);
        let ordered = registry(&[("a", "x"), ("b", "x")]);
        let unordered = registry(&[("b", "x"), ("a", "x")]);
        assert!(keys.in_key_order(&ordered, &tags));
        assert!(!keys.in_key_order(&unordered, &tags));
        assert!(keys.in_key_order(&ordered, &tags));
        assert_eq!(keys.ordered.len(), 2);
        // the same series under another field: the answer of `ordered`
        let renamed = |r: &SeriesRegistry| {
            let series = r
                .iter()
                .map(|(_, s)| SeriesInfo {
                    field: Arc::from("w"),
                    ..s.clone()
                })
                .collect();
            Arc::new(SeriesRegistry::new(series))
        };
        assert!(keys.in_key_order(&renamed(&ordered), &tags));
        assert!(!keys.in_key_order(&renamed(&unordered), &tags));
        assert_eq!(keys.ordered.len(), 2);
        assert!(same_series_tags(&ordered, &renamed(&ordered)));
        assert!(!same_series_tags(&ordered, &unordered));
    }
}
