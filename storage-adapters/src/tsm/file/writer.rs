//! Writes one TSM file: series in ascending key order, each cut into blocks of
//! at most [`MAX_POINTS_PER_BLOCK`] points, then the index and the footer. The
//! file is written under a `.tmp` name, fsynced and renamed into place by
//! [`TsmWriter::finish`], so a crash never leaves a half file with a real name.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::block::encode_block;
use super::footer::Footer;
use super::index_block::{encode_index, BlockMeta, Blocks, IndexEntry};
use super::{FOOTER_LEN, HEADER_LEN, MAGIC, MAX_POINTS_PER_BLOCK, VERSION};
use crate::tsm::error::{IoContext, Result, TsmError};
use crate::tsm::value::Values;

/// A TSM file being written.
#[derive(Debug)]
pub struct TsmWriter {
    path: PathBuf,
    tmp: PathBuf,
    out: BufWriter<File>,
    offset: u64,
    index: Vec<IndexEntry>,
    buf: Vec<u8>,
}

impl TsmWriter {
    /// Starts the file that will be named `path`.
    pub fn create(path: &Path) -> Result<TsmWriter> {
        let tmp = path.with_extension("tsm.tmp");
        let file = File::create(&tmp).at(&tmp)?;
        let mut out = BufWriter::with_capacity(1 << 16, file);
        out.write_all(MAGIC).at(&tmp)?;
        out.write_all(&[VERSION]).at(&tmp)?;
        Ok(TsmWriter {
            path: path.to_path_buf(),
            tmp,
            out,
            offset: HEADER_LEN,
            index: Vec::new(),
            buf: Vec::new(),
        })
    }

    /// Appends the points of series `key` (keys strictly ascending across
    /// calls; `times` sorted and unique). Empty input writes nothing.
    pub fn write_series(&mut self, key: &str, times: &[i64], values: &Values) -> Result<()> {
        if times.is_empty() {
            return Ok(());
        }
        if key.len() > usize::from(u16::MAX) {
            return Err(TsmError::Invalid(format!(
                "series key of {} bytes exceeds the TSM limit of 65535: '{}...'",
                key.len(),
                key.chars().take(64).collect::<String>()
            )));
        }
        if self.index.last().is_some_and(|e| e.key.as_str() >= key) {
            return Err(TsmError::Invalid(format!(
                "TSM keys out of order at '{key}'"
            )));
        }
        let mut blocks = Blocks::with_capacity(times.len().div_ceil(MAX_POINTS_PER_BLOCK));
        for start in (0..times.len()).step_by(MAX_POINTS_PER_BLOCK) {
            let end = (start + MAX_POINTS_PER_BLOCK).min(times.len());
            self.buf.clear();
            encode_block(&times[start..end], &values.slice(start, end), &mut self.buf)?;
            self.out.write_all(&self.buf).at(&self.tmp)?;
            blocks.push(BlockMeta {
                min: times[start],
                max: times[end - 1],
                offset: self.offset,
                size: self.buf.len() as u32,
            });
            self.offset += self.buf.len() as u64;
        }
        self.index.push(IndexEntry {
            key: key.to_string(),
            ty: values.field_type(),
            blocks,
        });
        Ok(())
    }

    /// True when no series was written.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Writes index and footer, fsyncs, renames into place; returns the size.
    pub fn finish(mut self) -> Result<u64> {
        let mut idx = Vec::new();
        encode_index(&self.index, &mut idx);
        self.out.write_all(&idx).at(&self.tmp)?;
        let footer = Footer {
            index_at: self.offset,
            index_crc: crc32fast::hash(&idx),
        };
        self.out.write_all(&footer.encode()).at(&self.tmp)?;
        let file = self
            .out
            .into_inner()
            .map_err(|e| TsmError::io(&self.tmp, e.into_error()))?;
        file.sync_all().at(&self.tmp)?;
        fs::rename(&self.tmp, &self.path).at(&self.path)?;
        if let Some(dir) = self.path.parent() {
            File::open(dir).and_then(|d| d.sync_all()).at(dir)?;
        }
        Ok(self.offset + idx.len() as u64 + FOOTER_LEN)
    }
}
