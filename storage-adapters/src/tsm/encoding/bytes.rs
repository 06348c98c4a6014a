//! Byte-level helpers shared by the block codecs: a bounds-checked reader that reports byte offsets,
//! LEB128 unsigned varints and zigzag mapping of signed integers.

use super::{EncodingError, Result};

/// Maps a signed integer to an unsigned one so small magnitudes get small codes:
/// 0 → 0, -1 → 1, 1 → 2, -2 → 3, ...
pub(crate) fn zigzag_encode(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Inverse of [`zigzag_encode`].
pub(crate) fn zigzag_decode(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Appends `v` as an unsigned LEB128 varint (7 bits per byte, low group first, high bit = more).
pub(crate) fn put_uvarint(dst: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        dst.push((v as u8) | 0x80);
        v >>= 7;
    }
    dst.push(v as u8);
}

/// Reads a block front to back; every failure names the block kind and the byte offset.
pub(crate) struct ByteReader<'a> {
    block: &'static str,
    src: &'a [u8],
    pos: usize,
}

impl<'a> ByteReader<'a> {
    /// Starts reading `src` at byte `pos`.
    pub(crate) fn new(block: &'static str, src: &'a [u8], pos: usize) -> Self {
        Self { block, src, pos }
    }

    /// Which kind of block this reads.
    pub(crate) fn block(&self) -> &'static str {
        self.block
    }

    /// Total length of the block.
    pub(crate) fn len(&self) -> usize {
        self.src.len()
    }

    /// Current byte offset.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes not yet read.
    pub(crate) fn rest(&self) -> &'a [u8] {
        &self.src[self.pos.min(self.src.len())..]
    }

    /// The error for an incomplete item that starts at `offset`.
    pub(crate) fn truncated(&self, offset: usize) -> EncodingError {
        EncodingError::Truncated {
            block: self.block,
            offset,
            len: self.src.len(),
        }
    }

    /// The error for inconsistent content at `offset`.
    pub(crate) fn corrupt(&self, offset: usize, message: impl Into<String>) -> EncodingError {
        EncodingError::Corrupt {
            block: self.block,
            offset,
            len: self.src.len(),
            message: message.into(),
        }
    }

    /// Reads a big-endian u64.
    pub(crate) fn read_u64_be(&mut self) -> Result<u64> {
        let bytes = self
            .src
            .get(self.pos..self.pos + 8)
            .ok_or_else(|| self.truncated(self.pos))?;
        let mut word = [0u8; 8];
        word.copy_from_slice(bytes);
        self.pos += 8;
        Ok(u64::from_be_bytes(word))
    }

    /// Reads an unsigned LEB128 varint of at most 10 bytes.
    pub(crate) fn read_uvarint(&mut self) -> Result<u64> {
        let start = self.pos;
        let mut value = 0u64;
        for i in 0..10 {
            let byte = *self
                .src
                .get(self.pos)
                .ok_or_else(|| self.truncated(start))?;
            self.pos += 1;
            if i == 9 && byte > 1 {
                return Err(self.corrupt(start, "varint overflows 64 bits"));
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err(self.corrupt(start, "varint longer than 10 bytes"))
    }

    /// Fails if any byte is left unread.
    pub(crate) fn expect_end(&self) -> Result<()> {
        if self.pos < self.src.len() {
            return Err(self.corrupt(
                self.pos,
                format!("{} trailing bytes", self.src.len() - self.pos),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zigzag_maps_small_magnitudes_to_small_codes() {
        assert_eq!(zigzag_encode(0), 0);
        assert_eq!(zigzag_encode(-1), 1);
        assert_eq!(zigzag_encode(1), 2);
        assert_eq!(zigzag_encode(-2), 3);
        assert_eq!(zigzag_encode(i64::MAX), u64::MAX - 1);
        assert_eq!(zigzag_encode(i64::MIN), u64::MAX);
        for v in [0, 1, -1, 12345, -98765, i64::MIN, i64::MAX] {
            assert_eq!(zigzag_decode(zigzag_encode(v)), v);
        }
    }

    #[test]
    fn uvarint_round_trips_and_matches_leb128() {
        let mut buf = Vec::new();
        // 300 = 0b1_0010_1100 → low 7 bits 0x2c with the continuation bit (0xac), then 0x02.
        put_uvarint(&mut buf, 300);
        assert_eq!(buf, [0xac, 0x02]);
        put_uvarint(&mut buf, u64::MAX);
        assert_eq!(buf.len(), 2 + 10);
        let mut r = ByteReader::new("test", &buf, 0);
        assert_eq!(r.read_uvarint().unwrap(), 300);
        assert_eq!(r.read_uvarint().unwrap(), u64::MAX);
        r.expect_end().unwrap();
    }

    #[test]
    fn uvarint_rejects_overflow_and_truncation() {
        let eleven = [0xffu8; 10];
        let err = ByteReader::new("test", &eleven, 0)
            .read_uvarint()
            .unwrap_err();
        assert!(
            matches!(err, EncodingError::Corrupt { offset: 0, .. }),
            "{err}"
        );
        let err = ByteReader::new("test", &[0x80], 0)
            .read_uvarint()
            .unwrap_err();
        assert_eq!(err.to_string(), "test block: truncated at byte 0 of 1");
    }
}
