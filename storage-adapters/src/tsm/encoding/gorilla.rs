//! The fast path of the float codec: decodes a Gorilla bit stream 64 bits at
//! a time instead of bit by bit.
//!
//! A value that reuses the window costs one unaligned 8-byte big-endian load
//! ([`peek57`]) that holds its control bits and, unless the window is wider
//! than 55 bits, its meaningful bits too; then a few shifts and a store into
//! the output slice. Bounds are checked once per block, not per read: loads
//! past the end of the stream read zero bits, and the block is rejected after
//! the loop when the bit position ran past the end. This decoder only says
//! *whether* a block is valid; on any failure `float::decode` reruns the
//! bit-by-bit reference decoder, which names the error and its byte offset,
//! so both accept exactly the same blocks with the same values (the
//! differential tests in `float.rs` pin this).

/// Appends the `count >= 1` values of the Gorilla stream `bits` (the block
/// bytes after the count) to `dst`; false when the stream is not a valid
/// block, in which case `dst` may hold garbage past its old length and the
/// caller must truncate it.
pub(super) fn decode_values(bits: &[u8], count: usize, dst: &mut Vec<f64>) -> bool {
    let nbits = bits.len() * 8;
    // Every value after the first takes at least one bit.
    if count == 0 || nbits < 64 + (count - 1) {
        return false;
    }
    let start = dst.len();
    dst.resize(start + count, 0.0);
    let out = &mut dst[start..];
    let mut prev = peek(bits, 0);
    out[0] = f64::from_bits(prev);
    let mut pos = 64usize;
    // The current window: meaningful bits `sig` (0 until the first `11`
    // control sets one) and trailing zeros `trail`.
    let (mut sig, mut trail) = (0u32, 0u32);
    for slot in &mut out[1..] {
        let control = peek57(bits, pos);
        if control >> 63 == 0 {
            pos += 1;
        } else if control >> 62 == 0b10 {
            // `1 <= sig <= 55`: the meaningful bits follow the 2 control
            // bits within the 57 bits of `control`.
            let meaningful = if sig.wrapping_sub(1) < 55 {
                (control << 2) >> (64 - sig)
            } else if sig == 0 {
                return false;
            } else {
                peek(bits, pos + 2) >> (64 - sig)
            };
            prev ^= meaningful << trail;
            pos += 2 + sig as usize;
        } else {
            let control = peek(bits, pos);
            let lead = ((control >> 57) & 31) as u32;
            sig = match ((control >> 51) & 63) as u32 {
                0 => 64,
                n => n,
            };
            if lead + sig > 64 {
                return false;
            }
            trail = 64 - lead - sig;
            let meaningful = if sig <= 51 {
                (control << 13) >> (64 - sig)
            } else {
                peek(bits, pos + 13) >> (64 - sig)
            };
            prev ^= meaningful << trail;
            pos += 13 + sig as usize;
        }
        *slot = f64::from_bits(prev);
    }
    ends_cleanly(bits, pos)
}

/// True when at most 7 bits follow `pos` and they are zero padding.
fn ends_cleanly(bits: &[u8], pos: usize) -> bool {
    let nbits = bits.len() * 8;
    if pos > nbits || nbits - pos >= 8 {
        return false;
    }
    let left = nbits - pos;
    let last = bits.last().copied().unwrap_or(0);
    left == 0 || last & ((1u8 << left) - 1) == 0
}

/// The 64 bits of `bits` starting at bit `pos` (most significant first),
/// with zero bits past the end of the slice.
#[inline(always)]
fn peek(bits: &[u8], pos: usize) -> u64 {
    let at = pos >> 3;
    match bits.get(at..at + 9) {
        Some(&[b0, b1, b2, b3, b4, b5, b6, b7, b8]) => {
            let word = u64::from_be_bytes([b0, b1, b2, b3, b4, b5, b6, b7]);
            join(word, b8, (pos & 7) as u32)
        }
        _ => peek_tail(bits, pos),
    }
}

/// At least the 57 bits of `bits` starting at bit `pos` (most significant
/// first; the low `pos % 8` bits are zero), with zero bits past the end of
/// the slice: one 8-byte load, for reads that need no more.
#[inline(always)]
fn peek57(bits: &[u8], pos: usize) -> u64 {
    let at = pos >> 3;
    match bits.get(at..at + 8) {
        Some(&[b0, b1, b2, b3, b4, b5, b6, b7]) => {
            u64::from_be_bytes([b0, b1, b2, b3, b4, b5, b6, b7]) << (pos & 7)
        }
        _ => peek_tail(bits, pos),
    }
}

/// [`peek`] near the end of the slice, padding with zero bytes.
#[cold]
fn peek_tail(bits: &[u8], pos: usize) -> u64 {
    let at = pos >> 3;
    let mut buf = [0u8; 9];
    if let Some(rest) = bits.get(at..) {
        let n = rest.len().min(9);
        buf[..n].copy_from_slice(&rest[..n]);
    }
    let [b0, b1, b2, b3, b4, b5, b6, b7, b8] = buf;
    join(
        u64::from_be_bytes([b0, b1, b2, b3, b4, b5, b6, b7]),
        b8,
        (pos & 7) as u32,
    )
}

/// `word` shifted left by `shift < 8` bits, filled from the top of `next`.
#[inline(always)]
fn join(word: u64, next: u8, shift: u32) -> u64 {
    (word << shift) | (u64::from(next) >> (8 - shift))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peek_reads_across_bytes_and_pads_with_zeros() {
        let bits = [0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xfe];
        assert_eq!(peek(&bits, 0), 0xabcd_ef01_2345_6789);
        // Shifted by 4: the low nibble of 0xfe fills the bottom.
        assert_eq!(peek(&bits, 4), 0xbcde_f012_3456_789f);
        // Bit 68 starts in the last byte (0xfe, low nibble 0xe); the rest is zero.
        assert_eq!(peek(&bits, 68), 0xe000_0000_0000_0000);
        assert_eq!(peek(&bits, 200), 0);
        // 57 bits are exact: peek57 differs from peek only in the low `pos % 8` bits.
        assert_eq!(peek57(&bits, 4), 0xbcde_f012_3456_7890);
        assert_eq!(peek57(&bits, 8), 0xcdef_0123_4567_89fe);
        assert_eq!(peek57(&bits, 68), 0xe000_0000_0000_0000);
    }

    #[test]
    fn rejects_streams_shorter_than_the_count() {
        // 8 bytes hold the first value but not a second value's control bit.
        assert!(!decode_values(&[0; 8], 2, &mut Vec::new()));
        let mut out = vec![7.5];
        assert!(decode_values(&[0; 8], 1, &mut out));
        assert_eq!(out, vec![7.5, 0.0]);
    }
}
