//! The footer of a TSM file (docs/storage.md, "TSM file"): where the index
//! starts and the index's CRC, protected by a CRC of its own and a magic so
//! that a damaged footer is detected instead of pointing at the wrong bytes.
//!
//! ```text
//! u64 BE index offset | u32 BE CRC32(index) | u32 BE CRC32(previous 12 bytes) | "TSQF"
//! ```

use super::{FOOTER_LEN, FOOTER_MAGIC};

/// The decoded footer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footer {
    /// Byte offset of the index; blocks lie before it.
    pub index_at: u64,
    /// CRC32 of the index bytes.
    pub index_crc: u32,
}

impl Footer {
    /// The footer's bytes.
    pub fn encode(&self) -> [u8; FOOTER_LEN as usize] {
        let mut out = [0u8; FOOTER_LEN as usize];
        out[..8].copy_from_slice(&self.index_at.to_be_bytes());
        out[8..12].copy_from_slice(&self.index_crc.to_be_bytes());
        let crc = crc32fast::hash(&out[..12]);
        out[12..16].copy_from_slice(&crc.to_be_bytes());
        out[16..].copy_from_slice(FOOTER_MAGIC);
        out
    }

    /// Decodes and checks a footer; the error says what is wrong.
    pub fn decode(b: &[u8; FOOTER_LEN as usize]) -> Result<Footer, String> {
        if &b[16..] != FOOTER_MAGIC {
            return Err("bad footer magic (file truncated or damaged)".into());
        }
        let stored = u32::from_be_bytes([b[12], b[13], b[14], b[15]]);
        if crc32fast::hash(&b[..12]) != stored {
            return Err("footer checksum mismatch".into());
        }
        let mut at = [0u8; 8];
        at.copy_from_slice(&b[..8]);
        Ok(Footer {
            index_at: u64::from_be_bytes(at),
            index_crc: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn footer_bytes_are_as_documented_and_every_flip_is_caught() {
        let f = Footer {
            index_at: 0x0102,
            index_crc: 0xAABB_CCDD,
        };
        let b = f.encode();
        assert_eq!(&b[..12], &[0, 0, 0, 0, 0, 0, 1, 2, 0xAA, 0xBB, 0xCC, 0xDD]);
        assert_eq!(&b[12..16], &crc32fast::hash(&b[..12]).to_be_bytes());
        assert_eq!(&b[16..], b"TSQF");
        assert_eq!(Footer::decode(&b), Ok(f));
        for i in 0..b.len() {
            let mut bad = b;
            bad[i] ^= 0xFF;
            let want = if i >= 16 {
                "bad footer magic (file truncated or damaged)"
            } else {
                "footer checksum mismatch"
            };
            assert_eq!(Footer::decode(&bad), Err(want.to_string()), "byte {i}");
        }
    }
}
