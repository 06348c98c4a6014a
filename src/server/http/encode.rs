//! Result encoders of `/api/v3/query_sql`, one batch at a time so results
//! stream (`docs/server.md`, "Queries"): `json` (one array of objects),
//! `jsonl` (an object per line), `csv` (a header, then rows) and `parquet`
//! (one row group per batch, the footer at the end). Cells are spelt by the
//! CLI's formatters (`crate::cli::format`): time is RFC 3339 UTC, null is
//! `null` or an empty CSV field, NaN is `"NaN"`.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;

use crate::cli::format::cell::cell;
use crate::cli::format::csv::escape;
use crate::cli::format::json::write_ndjson;

/// The `format` parameter of `/api/v3/query_sql`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultFormat {
    /// `[{…},{…}]`.
    Json,
    /// One JSON object per line.
    Jsonl,
    /// RFC 4180 CSV with a header.
    Csv,
    /// Apache Parquet.
    Parquet,
}

impl ResultFormat {
    /// The format named `name` (`json`, `jsonl`, `csv`, `parquet`).
    pub fn parse(name: &str) -> Option<ResultFormat> {
        match name {
            "json" => Some(ResultFormat::Json),
            "jsonl" => Some(ResultFormat::Jsonl),
            "csv" => Some(ResultFormat::Csv),
            "parquet" => Some(ResultFormat::Parquet),
            _ => None,
        }
    }

    /// Its `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            ResultFormat::Json => "application/json",
            ResultFormat::Jsonl => "application/jsonl",
            ResultFormat::Csv => "text/csv; charset=utf-8",
            ResultFormat::Parquet => "application/vnd.apache.parquet",
        }
    }
}

/// Turns a result, batch by batch, into the bytes of one format.
pub(crate) enum Encoder {
    Json { rows: usize },
    Jsonl,
    Csv { schema: SchemaRef, header: bool },
    Parquet(Box<ArrowWriter<Vec<u8>>>),
}

/// Why encoding failed (Parquet only: the text formats cannot fail).
pub(crate) type EncodeError = String;

impl Encoder {
    /// An encoder of results of `schema`.
    pub(crate) fn new(format: ResultFormat, schema: &SchemaRef) -> Result<Encoder, EncodeError> {
        Ok(match format {
            ResultFormat::Json => Encoder::Json { rows: 0 },
            ResultFormat::Jsonl => Encoder::Jsonl,
            ResultFormat::Csv => Encoder::Csv {
                schema: Arc::clone(schema),
                header: false,
            },
            ResultFormat::Parquet => Encoder::Parquet(Box::new(
                ArrowWriter::try_new(Vec::new(), Arc::clone(schema), None)
                    .map_err(|e| e.to_string())?,
            )),
        })
    }

    /// The bytes of `batch`.
    pub(crate) fn batch(&mut self, batch: &RecordBatch) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        match self {
            Encoder::Json { rows } => {
                let lines = ndjson(batch)?;
                for line in lines.lines() {
                    out.extend_from_slice(if *rows == 0 { b"[" } else { b"," });
                    out.extend_from_slice(line.as_bytes());
                    *rows += 1;
                }
            }
            Encoder::Jsonl => out = ndjson(batch)?.into_bytes(),
            Encoder::Csv { schema, header } => {
                if !*header {
                    out = csv_header(schema);
                    *header = true;
                }
                for row in 0..batch.num_rows() {
                    let fields: Vec<String> = batch
                        .columns()
                        .iter()
                        .map(|c| escape(&cell(c.as_ref(), row).text()).into_owned())
                        .collect();
                    out.extend_from_slice(fields.join(",").as_bytes());
                    out.push(b'\n');
                }
            }
            Encoder::Parquet(writer) => {
                writer.write(batch).map_err(|e| e.to_string())?;
                writer.flush().map_err(|e| e.to_string())?;
                // The writer counts the bytes it wrote itself, so taking
                // them out of its buffer keeps its offsets right.
                out = std::mem::take(writer.inner_mut());
            }
        }
        Ok(out)
    }

    /// The closing bytes (the JSON `]`, the CSV header of an empty result,
    /// the Parquet footer).
    pub(crate) fn finish(self) -> Result<Vec<u8>, EncodeError> {
        Ok(match self {
            Encoder::Json { rows: 0 } => b"[]".to_vec(),
            Encoder::Json { .. } => b"]".to_vec(),
            Encoder::Jsonl => Vec::new(),
            Encoder::Csv { schema, header } => match header {
                true => Vec::new(),
                false => csv_header(&schema),
            },
            Encoder::Parquet(mut writer) => {
                writer.finish().map_err(|e| e.to_string())?;
                std::mem::take(writer.inner_mut())
            }
        })
    }
}

fn ndjson(batch: &RecordBatch) -> Result<String, EncodeError> {
    let mut out = Vec::new();
    write_ndjson(&mut out, &batch.schema(), std::slice::from_ref(batch))
        .map_err(|e| e.to_string())?;
    String::from_utf8(out).map_err(|e| e.to_string())
}

fn csv_header(schema: &SchemaRef) -> Vec<u8> {
    let names: Vec<_> = schema.fields().iter().map(|f| escape(f.name())).collect();
    format!("{}\n", names.join(",")).into_bytes()
}

#[cfg(test)]
mod tests {
    use arrow::array::{Float64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    use super::*;

    fn batches() -> (SchemaRef, Vec<RecordBatch>) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("host", DataType::Utf8, false),
            Field::new("v", DataType::Float64, true),
        ]));
        let b = |h: Vec<&str>, v: Vec<Option<f64>>| {
            RecordBatch::try_new(
                Arc::clone(&schema),
                vec![
                    Arc::new(StringArray::from(h)),
                    Arc::new(Float64Array::from(v)),
                ],
            )
            .unwrap()
        };
        let one = b(vec!["a", "b,c"], vec![Some(1.5), None]);
        let two = b(vec!["d"], vec![Some(2.0)]);
        (schema, vec![one, two])
    }

    fn encode(format: ResultFormat, schema: &SchemaRef, batches: &[RecordBatch]) -> Vec<u8> {
        let mut e = Encoder::new(format, schema).unwrap();
        let mut out = Vec::new();
        for b in batches {
            out.extend(e.batch(b).unwrap());
        }
        out.extend(e.finish().unwrap());
        out
    }

    #[test]
    fn text_formats_across_batches() {
        let (schema, batches) = batches();
        let text = |f| String::from_utf8(encode(f, &schema, &batches)).unwrap();
        assert_eq!(
            text(ResultFormat::Json),
            r#"[{"host":"a","v":1.5},{"host":"b,c","v":null},{"host":"d","v":2}]"#
        );
        assert_eq!(
            text(ResultFormat::Jsonl),
            "{\"host\":\"a\",\"v\":1.5}\n{\"host\":\"b,c\",\"v\":null}\n{\"host\":\"d\",\"v\":2}\n"
        );
        assert_eq!(text(ResultFormat::Csv), "host,v\na,1.5\n\"b,c\",\nd,2\n");
        let empty = |f| String::from_utf8(encode(f, &schema, &[])).unwrap();
        assert_eq!(empty(ResultFormat::Json), "[]");
        assert_eq!(empty(ResultFormat::Jsonl), "");
        assert_eq!(empty(ResultFormat::Csv), "host,v\n");
    }

    #[test]
    fn parquet_streams_one_row_group_per_batch() {
        let (schema, batches) = batches();
        let bytes = encode(ResultFormat::Parquet, &schema, &batches);
        let reader =
            ParquetRecordBatchReaderBuilder::try_new(axum::body::Bytes::from(bytes)).unwrap();
        assert_eq!(reader.metadata().num_row_groups(), 2);
        let read: Vec<RecordBatch> = reader.build().unwrap().map(Result::unwrap).collect();
        let expected = arrow::compute::concat_batches(&schema, &batches).unwrap();
        assert_eq!(read, vec![expected]);
    }
}
