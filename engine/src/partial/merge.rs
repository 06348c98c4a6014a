//! Merging two [`PartialStates`] of the same aggregator and groups: a merge
//! of two (group, time)-sorted row lists, rows with the same key combined.
//!
//! Count, min, max, first, last (by their (time, series id) tie key) and
//! the percentiles (values concatenated) combine exactly; sums add, and
//! dev combines mean and M2 with the parallel formula of Chan, Golub and
//! LeVeque. Merging the partitions' states left to right in partition
//! order makes the sums deterministic for a given number of partitions.

use std::cmp::Ordering;
use std::sync::Arc;

use super::state::{Exact, Kind, PartialStates};

/// True when `b` replaces `a` as the `min` / `max` (`kind`) of a row.
fn replaces<V: PartialOrd>(kind: Kind, a: V, b: V) -> bool {
    match kind {
        Kind::Min => b < a,
        _ => b > a,
    }
}
use crate::error::{EngineError, Result};

impl PartialStates {
    /// The rows of `self` and `other` merged; rows of the same (group, time)
    /// combined (`self` is the earlier partition). Fails when the
    /// aggregators or the group tables differ.
    pub fn merge(self, other: &PartialStates) -> Result<PartialStates> {
        if self.agg != other.agg {
            return Err(EngineError::InvalidArgument(format!(
                "partial aggregate: cannot merge states of {} with states of {}",
                self.agg, other.agg
            )));
        }
        if self.value_type() != other.value_type() {
            return Err(EngineError::InvalidArgument(format!(
                "partial aggregate: cannot merge states of {} values with states of {} values \
                 (the field has two types)",
                self.value_type(),
                other.value_type()
            )));
        }
        if !Arc::ptr_eq(&self.groups, &other.groups) && self.groups != other.groups {
            return Err(EngineError::InvalidArgument(
                "partial aggregate: cannot merge states over different groups".into(),
            ));
        }
        if other.is_empty() {
            return Ok(self);
        }
        if self.is_empty() {
            return Ok(PartialStates {
                groups: self.groups,
                ..other.clone()
            });
        }
        let mut out = PartialStates::typed(self.agg, Arc::clone(&self.groups), self.value_type());
        let (mut i, mut j) = (0, 0);
        while i < self.len() || j < other.len() {
            let order = match (i < self.len(), j < other.len()) {
                (true, true) => self.key(i).cmp(&other.key(j)),
                (true, false) => Ordering::Less,
                _ => Ordering::Greater,
            };
            match order {
                Ordering::Less => {
                    out.copy_row(&self, i);
                    i += 1;
                }
                Ordering::Greater => {
                    out.copy_row(other, j);
                    j += 1;
                }
                Ordering::Equal => {
                    out.copy_row(&self, i);
                    out.combine_last(other, j);
                    i += 1;
                    j += 1;
                }
            }
        }
        Ok(out)
    }

    /// Appends row `r` of `from`.
    fn copy_row(&mut self, from: &PartialStates, r: usize) {
        self.group.push(from.group[r]);
        self.time.push(from.time[r]);
        self.count.push(from.count[r]);
        self.nan.push(from.nan[r]);
        self.value.push(from.value[r]);
        match (&mut self.exact, &from.exact) {
            (Exact::Int(to), Exact::Int(from)) => to.push(from[r]),
            (Exact::UInt(to), Exact::UInt(from)) => to.push(from[r]),
            _ => {}
        }
        match Kind::of(self.agg) {
            Kind::Dev => self.m2.push(from.m2[r]),
            Kind::First | Kind::Last => self.tie.push(from.tie[r]),
            Kind::Values => self.values.push(from.values[r].clone()),
            _ => {}
        }
    }

    /// Sets the value of row `l` to row `r` of `other`'s (f64 or exact).
    fn take_value(&mut self, l: usize, other: &PartialStates, r: usize) {
        self.value[l] = other.value[r];
        match (&mut self.exact, &other.exact) {
            (Exact::Int(to), Exact::Int(from)) => to[l] = from[r],
            (Exact::UInt(to), Exact::UInt(from)) => to[l] = from[r],
            _ => {}
        }
    }

    /// Combines row `r` of `other` (same key) into the last row.
    fn combine_last(&mut self, other: &PartialStates, r: usize) {
        let l = self.len() - 1;
        self.nan[l] |= other.nan[r];
        let (na, nb) = (self.count[l], other.count[r]);
        self.count[l] = na + nb;
        if nb == 0 {
            return;
        }
        if na == 0 {
            self.take_value(l, other, r);
            match Kind::of(self.agg) {
                Kind::Dev => self.m2[l] = other.m2[r],
                Kind::First | Kind::Last => self.tie[l] = other.tie[r],
                Kind::Values => self.values[l].clone_from(&other.values[r]),
                _ => {}
            }
            return;
        }
        let (a, b) = (self.value[l], other.value[r]);
        let kind = Kind::of(self.agg);
        match kind {
            Kind::Sum => self.value[l] = a + b,
            Kind::Min | Kind::Max => {
                let takes = match (&self.exact, &other.exact) {
                    (Exact::Int(x), Exact::Int(y)) => replaces(kind, x[l], y[r]),
                    (Exact::UInt(x), Exact::UInt(y)) => replaces(kind, x[l], y[r]),
                    // f64::min / max: NaN is never counted here.
                    _ => replaces(kind, a, b),
                };
                if takes {
                    self.take_value(l, other, r);
                }
            }
            Kind::Count => {}
            Kind::First if other.tie[r] < self.tie[l] => {
                self.take_value(l, other, r);
                self.tie[l] = other.tie[r];
            }
            Kind::Last if other.tie[r] > self.tie[l] => {
                self.take_value(l, other, r);
                self.tie[l] = other.tie[r];
            }
            Kind::First | Kind::Last => {}
            Kind::Dev => {
                // Chan et al.: n = na + nb, delta = mean_b - mean_a,
                // mean = mean_a + delta * nb / n,
                // M2 = M2_a + M2_b + delta² * na * nb / n.
                let (fa, fb) = (na as f64, nb as f64);
                let n = fa + fb;
                let delta = b - a;
                self.value[l] = a + delta * fb / n;
                self.m2[l] += other.m2[r] + delta * delta * fa * fb / n;
            }
            Kind::Values => self.values[l].extend_from_slice(&other.values[r]),
        }
    }
}
