//! The index section of a TSM file: one entry per series key, sorted by key.
//!
//! ```text
//! entry := u16 BE key length | key bytes | type byte | u32 BE block count
//!          | block count × (i64 BE min time | i64 BE max time | u64 BE offset | u32 BE size)
//! ```
//! The footer after it stores the index offset and the index CRC32, so a
//! damaged index is detected at open rather than misread.

use smallvec::SmallVec;

use crate::tsm::bytes::Cursor;
use crate::tsm::value::FieldType;

/// Where one block lives and which times it spans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockMeta {
    /// Smallest timestamp in the block.
    pub min: i64,
    /// Largest timestamp in the block.
    pub max: i64,
    /// Byte offset of the block in the file.
    pub offset: u64,
    /// Block length in bytes.
    pub size: u32,
}

/// The blocks of a series key in one file: the first inline, more on the heap.
///
/// A scan visits a file's entries in index order and reads each one's
/// blocks; with the only block of a short series (up to 1000 points, seed
/// case 1's 720) inside the entry, that read comes from the entry array,
/// which is walked in order, instead of one heap allocation per series
/// (a cache miss each, `docs/benchmarks.md` "TSM read path, fourth pass").
pub type Blocks = SmallVec<[BlockMeta; 1]>;

/// The blocks of one series key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// Series key (`tsm::key::series_key`).
    pub key: String,
    /// Field type of every block.
    pub ty: FieldType,
    /// Blocks in ascending time order.
    pub blocks: Blocks,
}

impl IndexEntry {
    /// Smallest and largest timestamp of the series in this file.
    pub fn span(&self) -> Option<(i64, i64)> {
        Some((self.blocks.first()?.min, self.blocks.last()?.max))
    }
}

/// Appends the encoding of `entries` (already sorted by key).
pub fn encode_index(entries: &[IndexEntry], dst: &mut Vec<u8>) {
    for e in entries {
        dst.extend_from_slice(&(e.key.len() as u16).to_be_bytes());
        dst.extend_from_slice(e.key.as_bytes());
        dst.push(e.ty as u8);
        dst.extend_from_slice(&(e.blocks.len() as u32).to_be_bytes());
        for b in &e.blocks {
            dst.extend_from_slice(&b.min.to_be_bytes());
            dst.extend_from_slice(&b.max.to_be_bytes());
            dst.extend_from_slice(&b.offset.to_be_bytes());
            dst.extend_from_slice(&b.size.to_be_bytes());
        }
    }
}

/// Decodes an index section; errors carry the byte offset within it.
pub fn decode_index(buf: &[u8]) -> Result<Vec<IndexEntry>, String> {
    let mut c = Cursor::new(buf);
    let mut out: Vec<IndexEntry> = Vec::new();
    while !c.is_done() {
        let at = c.pos();
        let n = u16::from_be_bytes([c.u8()?, c.u8()?]) as usize;
        let key = String::from_utf8(c.take(n)?.to_vec())
            .map_err(|_| format!("key at index byte {at} is not UTF-8"))?;
        let ty = FieldType::from_code(c.u8()?)
            .ok_or_else(|| format!("bad type for key at index byte {at}"))?;
        let count = c.u32()? as usize;
        let mut blocks = Blocks::with_capacity(count.min(buf.len() / 28));
        for _ in 0..count {
            blocks.push(BlockMeta {
                min: c.i64()?,
                max: c.i64()?,
                offset: c.u64()?,
                size: c.u32()?,
            });
        }
        if out.last().is_some_and(|p| p.key >= key) {
            return Err(format!("index keys out of order at index byte {at}"));
        }
        out.push(IndexEntry { key, ty, blocks });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_bytes_are_as_documented() {
        let e = IndexEntry {
            key: "m#f".into(),
            ty: FieldType::Integer,
            blocks: smallvec::smallvec![BlockMeta {
                min: 1,
                max: 2,
                offset: 5,
                size: 9,
            }],
        };
        let mut b = Vec::new();
        encode_index(std::slice::from_ref(&e), &mut b);
        // 2 (key len) + 3 (key) + 1 (type) + 4 (count) + 28 (one block) = 38
        assert_eq!(b.len(), 38);
        assert_eq!(&b[..6], &[0, 3, b'm', b'#', b'f', 1]);
        assert_eq!(decode_index(&b).unwrap(), vec![e]);
        assert!(decode_index(&b[..20]).unwrap_err().contains("truncated"));
    }
}
