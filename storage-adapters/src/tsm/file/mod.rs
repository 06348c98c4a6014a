//! TSM files (`docs/storage.md`): immutable, sorted, compressed columns of points.
//!
//! ```text
//! ┌────────┬─────────────────────────────┬───────────────┬─────────────────────────────────────┐
//! │ header │ blocks ...                  │ index         │ footer (20 bytes)                   │
//! │ "TSQM" │ crc32 │ type │ ts │ values  │ sorted by key │ index offset │ crc32 │ crc32 │"TSQF"│
//! │ ver=2  │  (≤ 1000 points, 1 series)  │               │  u64 BE      │ index │ footer│ magic│
//! └────────┴─────────────────────────────┴───────────────┴─────────────────────────────────────┘
//! ```
//! Every byte is checked (docs/storage.md, "TSM file"): the header against
//! its fixed value, the footer by its own CRC (over the index offset and the
//! index CRC) and magic, the index (whose length is the file size minus the
//! footer minus the index offset) by the index CRC, and each block (whose
//! length the index gives) by its CRC.
//! [`writer::TsmWriter`] writes one, [`reader::TsmReader`] keeps only the
//! index in memory and reads blocks with positioned reads; [`block`] encodes
//! one block, [`index_block`] the index and [`footer`] the footer. File names carry the generation
//! range and compaction level: `{min gen:010}-{max gen:010}-{level}.tsm`.

pub mod block;
pub mod block_buf;
pub mod footer;
pub mod index_block;
pub mod reader;
pub mod writer;

/// File magic, the first four bytes of every TSM file.
pub const MAGIC: &[u8; 4] = b"TSQM";
/// Format version, the fifth byte. Version 1 (a 12-byte footer without its
/// own checksum) is refused.
pub const VERSION: u8 = 2;
/// Header length: magic + version.
pub const HEADER_LEN: u64 = 5;
/// Magic of the footer, its last four bytes.
pub const FOOTER_MAGIC: &[u8; 4] = b"TSQF";
/// Footer length: index offset (u64) + index CRC32 (u32) + CRC32 of those
/// 12 bytes (u32) + [`FOOTER_MAGIC`].
pub const FOOTER_LEN: u64 = 20;
/// Maximum points per block.
pub const MAX_POINTS_PER_BLOCK: usize = 1000;

/// Identity of a TSM file inside its shard directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileId {
    /// Oldest snapshot generation whose data it holds.
    pub min_gen: u64,
    /// Newest snapshot generation whose data it holds (newer wins on overlap).
    pub max_gen: u64,
    /// Compaction level, 1 (snapshot) ..= 4.
    pub level: u8,
}

impl FileId {
    /// The file name `{min_gen:010}-{max_gen:010}-{level}.tsm`.
    pub fn file_name(&self) -> String {
        format!(
            "{:010}-{:010}-{}.tsm",
            self.min_gen, self.max_gen, self.level
        )
    }

    /// Parses a name made by [`FileId::file_name`].
    pub fn parse(name: &str) -> Option<FileId> {
        let stem = name.strip_suffix(".tsm")?;
        let mut parts = stem.split('-');
        let id = FileId {
            min_gen: parts.next()?.parse().ok()?,
            max_gen: parts.next()?.parse().ok()?,
            level: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(id)
    }

    /// True when `other`'s generations lie within this file's and this one
    /// supersedes it (a compaction output and one of its inputs).
    pub fn covers(&self, other: &FileId) -> bool {
        self != other
            && self.min_gen <= other.min_gen
            && other.max_gen <= self.max_gen
            && self.level >= other.level
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_round_trip() {
        let id = FileId {
            min_gen: 3,
            max_gen: 6,
            level: 2,
        };
        assert_eq!(id.file_name(), "0000000003-0000000006-2.tsm");
        assert_eq!(FileId::parse(&id.file_name()), Some(id));
        assert_eq!(FileId::parse("x.tsm"), None);
        let input = FileId {
            min_gen: 4,
            max_gen: 4,
            level: 1,
        };
        assert!(id.covers(&input) && !input.covers(&id));
    }
}
