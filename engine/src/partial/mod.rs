//! Partial aggregate states: the intermediate result of a cross-timeline
//! aggregation over part of the timelines, which merges exactly with the
//! states of the other parts and then finishes to the final values
//! (`docs/architecture.md`, "Partitions and partial aggregates").
//!
//! ```text
//!   partition 1 ──PartialStates──┐
//!   partition 2 ──PartialStates──┼─▶ merge (in partition order) ─▶ finish ─▶ TimelineBatch
//!   partition 3 ──PartialStates──┘
//! ```
//!
//! A [`PartialStates`] converts to and from an Arrow `RecordBatch`
//! ([`PartialStates::to_record_batch`], [`PartialStates::from_record_batch`],
//! schema in [`partial_schema`]), so that a partial result can cross a
//! process boundary. The merge is exact for count, min, max, first, last and
//! the percentiles (which keep their values), and deterministic for a given
//! number of partitions for the sums (`sum`, `avg`, `dev`).

mod merge;
mod state;

pub use state::{
    partial_schema, partial_schema_of, Exact, PartialStates, StateValue, AGGREGATOR_METADATA_KEY,
};

#[cfg(test)]
mod tests;
