//! Block encodings for TSM files: each function turns one column of at most a few thousand values into
//! a self-describing byte block and back.
//!
//! Every block starts with a one-byte header whose high four bits name the encoding used inside the
//! block (as in InfluxDB's `tsm1`), so a decoder can read any block its encoder produced:
//!
//! ```text
//! +--------+------------------------------+
//! | header | body (depends on the type)   |
//! +--------+------------------------------+
//!   hi 4 bits: encoding type   lo 4 bits: type-specific (timestamps: log10 of the delta scale)
//! ```
//!
//! | column     | module        | encodings                                             |
//! |------------|---------------|-------------------------------------------------------|
//! | timestamps | [`timestamp`] | raw 0, delta + [`simple8b`] 1, run length 2          |
//! | floats     | [`float`]     | Gorilla XOR 1, ALP 2, ALP-RD 3 (chosen per block)    |
//! | integers   | [`integer`]   | raw 0, zigzag delta + [`simple8b`] 1, run length 2   |
//! | booleans   | [`boolean`]   | bit-packed 1                                          |
//! | strings    | [`string`]    | snappy-compressed length-prefixed values 1           |
//!
//! Encoders append to `dst` and fail only for input they cannot represent (more than
//! [`MAX_VALUES`] values). Decoders append to `dst`, never panic on hostile input, report the byte
//! offset where a block went wrong, never produce more than [`MAX_VALUES`] values per block (so
//! memory stays bounded) and leave `dst` as it was when they fail.

pub mod boolean;
pub mod float;
pub mod integer;
pub mod simple8b;
pub mod string;
pub mod timestamp;

mod alp;
mod alp_rd;
mod bitpack;
mod bits;
mod bytes;
mod delta;
mod gorilla;

use thiserror::Error;

/// The most values one block may hold; decoders reject blocks that claim more, so a few hostile
/// bytes cannot make them allocate without bound. TSM blocks hold at most 1000 points.
pub const MAX_VALUES: usize = 1 << 20;

/// What went wrong while encoding or decoding a block, and where (byte offsets count from the
/// header byte, which is byte 0).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EncodingError {
    /// The block ended before a complete value could be read.
    #[error("{block} block: truncated at byte {offset} of {len}")]
    Truncated {
        /// Which kind of block ("float", "timestamp", ...).
        block: &'static str,
        /// Byte offset where the incomplete item starts.
        offset: usize,
        /// Total length of the block.
        len: usize,
    },
    /// The header names an encoding type this decoder does not know.
    #[error("{block} block: unknown encoding type {kind} in header byte 0x{header:02x} at byte 0")]
    UnknownEncoding {
        /// Which kind of block.
        block: &'static str,
        /// The encoding type (high four bits of the header).
        kind: u8,
        /// The whole header byte.
        header: u8,
    },
    /// The block is complete but its content is inconsistent.
    #[error("{block} block: {message} at byte {offset} of {len}")]
    Corrupt {
        /// Which kind of block.
        block: &'static str,
        /// Byte offset of the offending data.
        offset: usize,
        /// Total length of the block.
        len: usize,
        /// What is wrong.
        message: String,
    },
    /// The input cannot be represented by this encoding.
    #[error("{block} encoding: {message}")]
    Unencodable {
        /// Which kind of block.
        block: &'static str,
        /// Why the input cannot be encoded.
        message: String,
    },
}

/// Result of an encoding or decoding step.
pub type Result<T> = std::result::Result<T, EncodingError>;

/// The encoding type stored in the high four bits of a header byte.
pub(crate) fn header_kind(header: u8) -> u8 {
    header >> 4
}

/// Reads the header byte of `src`, or reports an empty block.
pub(crate) fn read_header(block: &'static str, src: &[u8]) -> Result<u8> {
    src.first().copied().ok_or(EncodingError::Truncated {
        block,
        offset: 0,
        len: 0,
    })
}

/// Rejects a block that claims more than [`MAX_VALUES`] values.
pub(crate) fn check_count(
    block: &'static str,
    count: u64,
    offset: usize,
    len: usize,
) -> Result<usize> {
    if count > MAX_VALUES as u64 {
        return Err(EncodingError::Corrupt {
            block,
            offset,
            len,
            message: format!("value count {count} exceeds the limit of {MAX_VALUES}"),
        });
    }
    Ok(count as usize)
}

/// Rejects input with more than [`MAX_VALUES`] values before encoding it.
pub(crate) fn check_encode_len(block: &'static str, len: usize) -> Result<()> {
    if len > MAX_VALUES {
        return Err(EncodingError::Unencodable {
            block,
            message: format!("{len} values exceed the per-block limit of {MAX_VALUES}"),
        });
    }
    Ok(())
}

/// Runs a decoder that appends to `dst` and restores `dst` to its original length if it fails, so
/// a failed decode never leaves half a block behind.
pub(crate) fn decode_atomically<T>(
    dst: &mut Vec<T>,
    decode: impl FnOnce(&mut Vec<T>) -> Result<()>,
) -> Result<()> {
    let start = dst.len();
    let result = decode(dst);
    if result.is_err() {
        dst.truncate(start);
    }
    result
}
