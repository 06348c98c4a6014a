//! The `tsq demo` dataset held in memory twice: as tsq timelines in a
//! [`MemoryAdapter`] (one series per host and field) and as one wide Arrow
//! table (`time`, the ten tags, the ten fields: TSBS's `cpu` table) for
//! DataFusion's `MemTable`. Both come from the same [`DemoGenerator`] rows,
//! so every engine queries exactly the same points.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, StringArray, TimestampNanosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use tsq_engine::{EngineError, Result};
use tsq_storage::memory::MemoryAdapter;

use crate::demo::{DemoConfig, DemoGenerator, FIELDS, MEASUREMENT, TAG_KEYS};

/// The generated rows, column-wise, time-major (every host at the first
/// timestamp, then every host at the next), as the generator yields them.
#[derive(Debug, Clone)]
pub struct TsbsData {
    /// What was generated.
    pub config: DemoConfig,
    /// Tags of each host, in [`TAG_KEYS`] order.
    pub host_tags: Vec<Vec<(&'static str, String)>>,
    /// Timestamp of each row, ns.
    pub times: Vec<i64>,
    /// Host index of each row.
    pub hosts: Vec<u32>,
    /// One column per field of [`FIELDS`].
    pub values: Vec<Vec<f64>>,
}

impl TsbsData {
    /// Generates the rows of `config`.
    pub fn generate(config: DemoConfig) -> Self {
        let generator = DemoGenerator::new(config);
        let host_tags = (0..config.hosts)
            .map(|h| generator.host_tags(h).to_vec())
            .collect();
        let rows = config.rows() as usize;
        let mut times = Vec::with_capacity(rows);
        let mut hosts = Vec::with_capacity(rows);
        let mut values: Vec<Vec<f64>> = (0..FIELDS.len())
            .map(|_| Vec::with_capacity(rows))
            .collect();
        for row in generator {
            times.push(row.time);
            hosts.push(row.host as u32);
            for (column, v) in values.iter_mut().zip(row.values) {
                column.push(v);
            }
        }
        TsbsData {
            config,
            host_tags,
            times,
            hosts,
            values,
        }
    }

    /// Number of rows (hosts × timestamps).
    pub fn rows(&self) -> usize {
        self.times.len()
    }

    /// Number of points (rows × fields).
    pub fn points(&self) -> usize {
        self.rows() * FIELDS.len()
    }

    /// The data as tsq timelines: one series `cpu,<tags>#<field>` per host
    /// and field.
    pub fn memory_adapter(&self) -> MemoryAdapter {
        let adapter = MemoryAdapter::new();
        let hosts = self.config.hosts;
        for (h, tags) in self.host_tags.iter().enumerate() {
            let tags: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (*k, v.as_str())).collect();
            for (f, field) in FIELDS.iter().enumerate() {
                let points: Vec<(i64, f64)> = (h..self.rows())
                    .step_by(hosts)
                    .map(|i| (self.times[i], self.values[f][i]))
                    .collect();
                adapter.insert(MEASUREMENT, &tags, field, &points);
            }
        }
        adapter
    }

    /// The schema of the wide table: `time` (timestamp ns, no zone), the
    /// tags of [`TAG_KEYS`] (strings), the fields of [`FIELDS`] (f64).
    pub fn schema() -> SchemaRef {
        let mut fields = vec![Field::new(
            "time",
            DataType::Timestamp(TimeUnit::Nanosecond, None),
            false,
        )];
        fields.extend(
            TAG_KEYS
                .iter()
                .map(|k| Field::new(*k, DataType::Utf8, false)),
        );
        fields.extend(
            FIELDS
                .iter()
                .map(|f| Field::new(*f, DataType::Float64, false)),
        );
        Arc::new(Schema::new(fields))
    }

    /// The data as the wide table, in batches of at most `batch_rows` rows.
    pub fn record_batches(&self, batch_rows: usize) -> Result<Vec<RecordBatch>> {
        let schema = Self::schema();
        let step = batch_rows.max(1);
        let mut out = Vec::with_capacity(self.rows().div_ceil(step));
        let mut start = 0;
        while start < self.rows() {
            let end = (start + step).min(self.rows());
            let mut columns: Vec<ArrayRef> = vec![Arc::new(
                TimestampNanosecondArray::from_iter_values(self.times[start..end].iter().copied()),
            )];
            for k in 0..TAG_KEYS.len() {
                columns.push(Arc::new(StringArray::from_iter_values(
                    self.hosts[start..end]
                        .iter()
                        .map(|&h| self.host_tags[h as usize][k].1.as_str()),
                )));
            }
            for column in &self.values {
                columns.push(Arc::new(Float64Array::from(column[start..end].to_vec())));
            }
            let batch = RecordBatch::try_new(Arc::clone(&schema), columns)
                .map_err(|e| EngineError::execution("tsbs dataset", e.to_string()))?;
            out.push(batch);
            start = end;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::DEFAULT_START;
    use tsq_engine::StorageAdapter;

    fn tiny() -> TsbsData {
        TsbsData::generate(DemoConfig {
            hosts: 3,
            hours: 1,
            seed: 7,
            start: DEFAULT_START,
        })
    }

    #[test]
    fn both_layouts_hold_every_point() {
        let data = tiny();
        // 3 hosts × 360 rows per hour, 10 fields each
        assert_eq!(data.rows(), 1080);
        assert_eq!(data.memory_adapter().num_points(), 10_800);
        let batches = data.record_batches(500).unwrap();
        let sizes: Vec<usize> = batches.iter().map(|b| b.num_rows()).collect();
        assert_eq!(sizes, [500, 500, 80]);
        assert_eq!(batches[0].num_columns(), 21);
    }

    #[test]
    fn the_wide_table_row_matches_the_timeline_point() {
        let data = tiny();
        let batches = data.record_batches(4096).unwrap();
        let b = &batches[0];
        // row 4 is host 1 at the second timestamp (time-major, 3 hosts)
        let host = b.column(3).as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(host.value(4), "host_1");
        let t = b
            .column(0)
            .as_any()
            .downcast_ref::<TimestampNanosecondArray>()
            .unwrap();
        assert_eq!(t.value(4), DEFAULT_START + 10_000_000_000);
        let user = b
            .column(11)
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap();
        assert_eq!(user.value(4), data.values[0][4]);
        let adapter = data.memory_adapter();
        let fields = futures::executor::block_on(adapter.fields("cpu")).unwrap();
        assert_eq!(fields.len(), 10);
    }
}
