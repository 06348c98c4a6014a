//! The output side of `DsAggOp`: appends downsampled points and cuts
//! [`TimelineBatch`]es of at most `batch_size` rows, queued until `next`
//! hands them on.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::batch::{TimelineBatch, TimelineBatchBuilder};
use crate::error::Result;
use crate::memory::MemoryReservation;
use crate::registry::SeriesRegistry;
use crate::value::TimelineValue;

/// Rows of `V` values being built plus finished batches waiting to be
/// emitted.
#[derive(Debug)]
pub(super) struct Sink<V: TimelineValue = f64> {
    builder: Option<TimelineBatchBuilder<V>>,
    max_rows: usize,
    ready: VecDeque<TimelineBatch>,
    /// Holds the bytes of the queued batches.
    reservation: MemoryReservation,
}

impl<V: TimelineValue> Sink<V> {
    /// A sink cutting batches of at most `max_rows` (at least 1) rows,
    /// reserving the queued ones on `reservation`.
    pub(super) fn new(max_rows: usize, reservation: MemoryReservation) -> Self {
        Sink {
            builder: None,
            max_rows: max_rows.max(1),
            ready: VecDeque::new(),
            reservation,
        }
    }

    /// Makes the following rows refer to `registry` (the input's).
    pub(super) fn use_registry(&mut self, registry: &Arc<SeriesRegistry>) -> Result<()> {
        if let Some(b) = &self.builder {
            if Arc::ptr_eq(b.registry(), registry) {
                return Ok(());
            }
            self.flush()?;
        }
        let cap = self.max_rows.min(crate::batch::DEFAULT_BATCH_SIZE);
        self.builder = Some(TimelineBatchBuilder::typed(Arc::clone(registry), cap));
        Ok(())
    }

    /// Appends one point (`None` is null); a full batch is queued.
    #[inline(always)]
    pub(super) fn push(&mut self, series_id: u32, time: i64, value: Option<V>) -> Result<()> {
        let Some(b) = self.builder.as_mut() else {
            return Err(crate::error::EngineError::execution(
                "DsAggOp",
                "output row before any input batch",
            ));
        };
        b.push(series_id, time, value);
        if b.len() >= self.max_rows {
            let batch = b.finish()?;
            self.queue(batch)?;
        }
        Ok(())
    }

    /// Queues the rows appended so far, if any.
    pub(super) fn flush(&mut self) -> Result<()> {
        if let Some(b) = self.builder.as_mut().filter(|b| !b.is_empty()) {
            let batch = b.finish()?;
            self.queue(batch)?;
        }
        Ok(())
    }

    /// Reserves a finished batch, then queues it.
    fn queue(&mut self, batch: TimelineBatch) -> Result<()> {
        self.reservation.try_grow(batch.memory_size())?;
        self.ready.push_back(batch);
        Ok(())
    }

    /// The next finished batch, released from the reservation.
    pub(super) fn pop(&mut self) -> Option<TimelineBatch> {
        let batch = self.ready.pop_front()?;
        self.reservation.shrink(batch.memory_size());
        Some(batch)
    }

    /// Most bytes the queued batches held at once.
    pub(super) fn peak(&self) -> usize {
        self.reservation.peak()
    }

    /// Bytes held by the rows being built (about 17 per row); finished
    /// batches are output, not state, and are not counted.
    pub(super) fn memory_size(&self) -> usize {
        self.builder.as_ref().map_or(0, |b| b.len() * 17)
    }
}
