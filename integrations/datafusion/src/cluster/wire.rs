//! What a worker sends back for a cluster query (`docs/distributed.md`,
//! "What crosses the network"): one envelope row per pipeline output, in
//! one schema whatever the aggregator, so that a stage has one schema.
//!
//! | column | type | meaning |
//! |---|---|---|
//! | `shard` | `UInt32` | the shard that sent it (the coordinator merges in shard order) |
//! | `pipeline` | `UInt32` | index of the pipeline in the plan |
//! | `kind` | `UInt8` | [`PayloadKind`]: partial states, or timelines |
//! | `payload` | `Binary` | the batch as an Arrow IPC stream: partial states (`tsq_engine::partial`) or timelines (`series_id`, `time`, `value`) |
//! | `series` | `Binary` | the series the ids of `payload` name: the groups of partial states, the series of timelines ([`encode_series`]) |
//! | `ties` | `Binary` | first / last states: the series their tie ids name, in key order (empty otherwise) |
//!
//! Ids are the shard's own; the coordinator maps them to the ids one store
//! holding every shard's series would give (`final_merge.rs`).

use std::io::Cursor;
use std::sync::Arc;

use datafusion::arrow::array::{Array, BinaryArray, RecordBatch, UInt32Array, UInt8Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
use prost::Message;
use tsq_engine::{SeriesInfo, SeriesRegistry};

use super::shard::ShardId;
use crate::error::{Error, Result};

/// What the payload of an envelope row holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadKind {
    /// Partial aggregate states of a streaming aggregation.
    States,
    /// Timelines: below an interpolating aggregation, or a pipeline's
    /// final timelines when it has no cross-timeline aggregate.
    Timelines,
}

/// One pipeline output of one shard, decoded.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// The shard that sent it.
    pub shard: ShardId,
    /// The pipeline's index in the plan.
    pub pipeline: usize,
    /// What `payload` holds.
    pub kind: PayloadKind,
    /// The batch.
    pub payload: RecordBatch,
    /// The series (or groups) its ids name.
    pub series: Vec<SeriesInfo>,
    /// First / last: the series the tie ids name.
    pub ties: Vec<SeriesInfo>,
}

/// The schema of a worker's answer (see the module docs).
pub fn envelope_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("shard", DataType::UInt32, false),
        Field::new("pipeline", DataType::UInt32, false),
        Field::new("kind", DataType::UInt8, false),
        Field::new("payload", DataType::Binary, false),
        Field::new("series", DataType::Binary, false),
        Field::new("ties", DataType::Binary, false),
    ]))
}

impl Envelope {
    /// The envelope rows of `envelopes`, one batch.
    pub fn encode_all(envelopes: &[Envelope]) -> Result<RecordBatch> {
        let mut shard = Vec::with_capacity(envelopes.len());
        let mut pipeline = Vec::with_capacity(envelopes.len());
        let mut kind = Vec::with_capacity(envelopes.len());
        let (mut payload, mut series, mut ties) = (Vec::new(), Vec::new(), Vec::new());
        for e in envelopes {
            shard.push(e.shard.0);
            pipeline.push(e.pipeline as u32);
            kind.push(match e.kind {
                PayloadKind::States => 0u8,
                PayloadKind::Timelines => 1,
            });
            payload.push(ipc(&e.payload)?);
            series.push(encode_series(&e.series));
            ties.push(encode_series(&e.ties));
        }
        let binary = |v: &[Vec<u8>]| BinaryArray::from_iter_values(v.iter());
        Ok(RecordBatch::try_new(
            envelope_schema(),
            vec![
                Arc::new(UInt32Array::from(shard)),
                Arc::new(UInt32Array::from(pipeline)),
                Arc::new(UInt8Array::from(kind)),
                Arc::new(binary(&payload)),
                Arc::new(binary(&series)),
                Arc::new(binary(&ties)),
            ],
        )?)
    }

    /// The envelopes of the answer batches `batches`.
    pub fn decode_all(batches: &[RecordBatch]) -> Result<Vec<Envelope>> {
        let mut out = Vec::new();
        for b in batches {
            if b.schema().fields() != envelope_schema().fields() {
                return Err(Error::Protocol(format!(
                    "a shard answered with columns {:?}, not envelopes",
                    b.schema().fields()
                )));
            }
            let column = |i: usize| {
                b.column(i)
                    .as_any()
                    .downcast_ref::<BinaryArray>()
                    .ok_or_else(|| Error::Protocol(format!("envelope column {i} is not binary")))
            };
            let shard = b.column(0).as_any().downcast_ref::<UInt32Array>();
            let pipeline = b.column(1).as_any().downcast_ref::<UInt32Array>();
            let kind = b.column(2).as_any().downcast_ref::<UInt8Array>();
            let (Some(shard), Some(pipeline), Some(kind)) = (shard, pipeline, kind) else {
                return Err(Error::Protocol("envelope key columns are mistyped".into()));
            };
            let (payload, series, ties) = (column(3)?, column(4)?, column(5)?);
            for r in 0..b.num_rows() {
                out.push(Envelope {
                    shard: ShardId(shard.value(r)),
                    pipeline: pipeline.value(r) as usize,
                    kind: match kind.value(r) {
                        0 => PayloadKind::States,
                        1 => PayloadKind::Timelines,
                        k => return Err(Error::Protocol(format!("unknown payload kind {k}"))),
                    },
                    payload: from_ipc(payload.value(r))?,
                    series: decode_series(series.value(r))?,
                    ties: decode_series(ties.value(r))?,
                });
            }
        }
        Ok(out)
    }
}

/// `batch` as an Arrow IPC stream.
fn ipc(batch: &RecordBatch) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    let mut writer = StreamWriter::try_new(&mut buf, &batch.schema())?;
    writer.write(batch)?;
    writer.finish()?;
    drop(writer);
    Ok(buf)
}

/// The one batch of an Arrow IPC stream.
fn from_ipc(bytes: &[u8]) -> Result<RecordBatch> {
    let reader = StreamReader::try_new(Cursor::new(bytes), None)?;
    let schema = reader.schema();
    let mut batches = reader.collect::<std::result::Result<Vec<_>, _>>()?;
    match batches.len() {
        1 => Ok(batches.remove(0)),
        0 => Ok(RecordBatch::new_empty(schema)),
        n => Err(Error::Protocol(format!(
            "a payload holds {n} batches, expected one"
        ))),
    }
}

#[derive(Clone, PartialEq, prost::Message)]
struct SeriesProto {
    #[prost(string, tag = "1")]
    measurement: String,
    #[prost(string, repeated, tag = "2")]
    keys: Vec<String>,
    #[prost(string, repeated, tag = "3")]
    values: Vec<String>,
    #[prost(string, tag = "4")]
    field: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct SeriesListProto {
    #[prost(message, repeated, tag = "1")]
    series: Vec<SeriesProto>,
}

/// Series identities as protobuf bytes (exact strings, no escaping).
pub(crate) fn encode_series(series: &[SeriesInfo]) -> Vec<u8> {
    SeriesListProto {
        series: series
            .iter()
            .map(|s| SeriesProto {
                measurement: s.measurement.to_string(),
                keys: s.tags.iter().map(|(k, _)| k.to_string()).collect(),
                values: s.tags.iter().map(|(_, v)| v.to_string()).collect(),
                field: s.field.to_string(),
            })
            .collect(),
    }
    .encode_to_vec()
}

/// The series of [`encode_series`]'s bytes.
pub(crate) fn decode_series(bytes: &[u8]) -> Result<Vec<SeriesInfo>> {
    let list =
        SeriesListProto::decode(bytes).map_err(|e| Error::Protocol(format!("series list: {e}")))?;
    list.series
        .iter()
        .map(|s| {
            if s.keys.len() != s.values.len() {
                return Err(Error::Protocol(format!(
                    "series of {}: {} tag keys for {} values",
                    s.measurement,
                    s.keys.len(),
                    s.values.len()
                )));
            }
            let tags: Vec<(&str, &str)> = s
                .keys
                .iter()
                .map(String::as_str)
                .zip(s.values.iter().map(String::as_str))
                .collect();
            Ok(SeriesInfo::new(&s.measurement, &tags, &s.field))
        })
        .collect()
}

/// Every series of `registry`, in id order.
pub(crate) fn registry_series(registry: &SeriesRegistry) -> Vec<SeriesInfo> {
    registry.iter().map(|(_, s)| s.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_round_trip_keeps_awkward_strings() {
        let series = vec![
            SeriesInfo::new("cpu", &[("host", "a,b=c d"), ("dc", "")], "usage"),
            SeriesInfo::new("m#1", &[], "f"),
        ];
        assert_eq!(decode_series(&encode_series(&series)).unwrap(), series);
    }
}
