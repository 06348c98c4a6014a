//! Reading every matching timeline of a scan into memory, applying the tag
//! predicate and the time range where the adapter's capabilities say it did
//! not.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Series, POINT_BYTES};
use crate::error::{EngineError, Result};
use crate::memory::MemoryReservation;
use crate::registry::SeriesRegistry;
use crate::storage::{ScanRequest, StorageAdapter};

/// All matching, non-empty timelines of `request` in ascending series id,
/// with the scan's registry. Every timeline and point is reserved on
/// `reservation` before it is held.
pub(super) async fn read_all(
    request: &ScanRequest,
    adapter: &dyn StorageAdapter,
    batch_size: usize,
    reservation: &mut MemoryReservation,
) -> Result<(Arc<SeriesRegistry>, Vec<Series>)> {
    let caps = adapter.capabilities();
    let mut plain = request.clone();
    plain.group_order = None;
    let mut scan = adapter.scan(&plain).await?;
    let registry = Arc::clone(scan.registry());
    let mut by_id: BTreeMap<u32, Series> = BTreeMap::new();
    while let Some(batch) = scan.next_batch(batch_size.max(1)).await? {
        for tl in batch.timelines() {
            let info = registry.get(tl.series_id).ok_or_else(|| {
                EngineError::execution("materialized", format!("unknown series {}", tl.series_id))
            })?;
            if !caps.tag_pushdown && !request.predicate.matches(info) {
                continue;
            }
            if !by_id.contains_key(&tl.series_id) {
                // the entry and its map node (key, links)
                reservation.try_grow(std::mem::size_of::<Series>() + 32)?;
            }
            let s = by_id.entry(tl.series_id).or_insert_with(|| Series {
                id: tl.series_id,
                times: Vec::new(),
                values: Vec::new(),
            });
            // Grow as a Vec does (doubling), reserving the new capacity first.
            let (len, cap) = (s.times.len(), s.times.capacity());
            let needed = len.saturating_add(tl.len());
            if needed > cap {
                let new_cap = needed.max(cap.saturating_mul(2));
                reservation.try_grow((new_cap - cap).saturating_mul(POINT_BYTES))?;
                s.times.reserve_exact(new_cap - len);
                s.values.reserve_exact(new_cap - len);
            }
            for i in 0..tl.len() {
                let t = tl.times[i];
                if !caps.time_pruning && !request.range.contains(t) {
                    continue;
                }
                if s.times.last().is_some_and(|&last| last >= t) {
                    return Err(EngineError::execution(
                        "materialized",
                        format!("series {} is not time-sorted at {t}", tl.series_id),
                    ));
                }
                s.times.push(t);
                s.values.push(tl.value(i));
            }
        }
    }
    let series = by_id
        .into_values()
        .filter(|s| !s.times.is_empty())
        .collect();
    Ok((registry, series))
}
