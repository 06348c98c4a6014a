//! The delta codec shared by timestamp and integer blocks: run length when every delta is equal,
//! zigzag deltas packed with Simple-8b when they fit in 60 bits, raw big-endian values otherwise.
//!
//! ```text
//! raw     (type 0): header | value 0 (8 bytes BE) | value 1 | ...            (no values: header only)
//! packed  (type 1): header | first value (8 bytes BE) | simple8b words (8 bytes BE each)
//! rle     (type 2): header | first value (8 bytes BE) | uvarint zigzag(delta / scale) | uvarint count
//! ```
//! For timestamps the low header bits hold `k`, and every delta is stored divided by `10^k` (the
//! largest power of ten, at most 10^12, dividing all non-zero deltas); integers always use `k = 0`.
//! Arithmetic wraps, so any sequence of 64-bit values round-trips, sorted or not.

use super::bytes::{put_uvarint, zigzag_decode, zigzag_encode, ByteReader};
use super::{check_count, check_encode_len, read_header, simple8b, EncodingError, Result};

/// Encoding type: raw big-endian values.
pub(crate) const RAW: u8 = 0;
/// Encoding type: first value then Simple-8b packed zigzag deltas.
pub(crate) const PACKED: u8 = 1;
/// Encoding type: first value, one delta, count.
pub(crate) const RLE: u8 = 2;

/// Largest power-of-ten exponent the encoder scales deltas by.
const MAX_SCALE_EXPONENT: u32 = 12;

/// A 64-bit value the delta codec can carry, by its bits.
pub(crate) trait Word: Copy {
    /// The value's bits.
    fn to_bits(self) -> u64;
    /// The value with these bits.
    fn from_bits(bits: u64) -> Self;
}

impl Word for i64 {
    fn to_bits(self) -> u64 {
        self as u64
    }
    fn from_bits(bits: u64) -> Self {
        bits as i64
    }
}

impl Word for u64 {
    fn to_bits(self) -> u64 {
        self
    }
    fn from_bits(bits: u64) -> Self {
        bits
    }
}

/// Encodes `src` into `dst`; `scaled` allows dividing deltas by a power of ten (timestamps).
pub(crate) fn encode<T: Word>(
    block: &'static str,
    src: &[T],
    scaled: bool,
    dst: &mut Vec<u8>,
) -> Result<()> {
    check_encode_len(block, src.len())?;
    let Some(first) = src.first().map(|v| v.to_bits()) else {
        dst.push(RAW << 4);
        return Ok(());
    };
    let deltas: Vec<i64> = src
        .windows(2)
        .map(|w| w[1].to_bits().wrapping_sub(w[0].to_bits()) as i64)
        .collect();
    let k = if scaled { scale_exponent(&deltas) } else { 0 };
    let div = 10i64.pow(k);
    if let Some(&d) = deltas.first() {
        if deltas.iter().all(|&x| x == d) {
            dst.push((RLE << 4) | k as u8);
            dst.extend_from_slice(&first.to_be_bytes());
            put_uvarint(dst, zigzag_encode(d / div));
            put_uvarint(dst, src.len() as u64);
            return Ok(());
        }
    }
    let codes: Vec<u64> = deltas.iter().map(|&d| zigzag_encode(d / div)).collect();
    if codes.iter().any(|&c| c > simple8b::MAX_VALUE) {
        dst.push(RAW << 4);
        dst.reserve(src.len() * 8);
        for v in src {
            dst.extend_from_slice(&v.to_bits().to_be_bytes());
        }
        return Ok(());
    }
    let mut words = Vec::with_capacity(codes.len() / 4 + 1);
    simple8b::encode_all(&codes, &mut words)?;
    dst.push((PACKED << 4) | k as u8);
    dst.extend_from_slice(&first.to_be_bytes());
    simple8b::write_words(&words, dst);
    Ok(())
}

/// The largest `k <= 12` such that `10^k` divides every non-zero delta (0 if all are zero).
fn scale_exponent(deltas: &[i64]) -> u32 {
    let mut k = MAX_SCALE_EXPONENT;
    let mut any = false;
    for &d in deltas.iter().filter(|&&d| d != 0) {
        any = true;
        while k > 0 && d % 10i64.pow(k) != 0 {
            k -= 1;
        }
        if k == 0 {
            break;
        }
    }
    if any {
        k
    } else {
        0
    }
}

/// Decodes a block written by [`encode`], appending to `dst`.
pub(crate) fn decode<T: Word>(
    block: &'static str,
    src: &[u8],
    scaled: bool,
    dst: &mut Vec<T>,
) -> Result<()> {
    let header = read_header(block, src)?;
    let (kind, k) = (header >> 4, u32::from(header & 0x0f));
    let reader = ByteReader::new(block, src, 1);
    if k != 0 && (!scaled || kind == RAW) {
        return Err(reader.corrupt(0, format!("unexpected scale bits in header 0x{header:02x}")));
    }
    match kind {
        RAW => decode_raw(reader, dst),
        PACKED => decode_packed(reader, 10i64.pow(k), dst),
        RLE => decode_rle(reader, 10i64.pow(k), dst),
        _ => Err(EncodingError::UnknownEncoding {
            block,
            kind,
            header,
        }),
    }
}

fn decode_raw<T: Word>(reader: ByteReader<'_>, dst: &mut Vec<T>) -> Result<()> {
    let body = reader.rest();
    let whole = body.len() / 8 * 8;
    if whole != body.len() {
        return Err(reader.truncated(reader.pos() + whole));
    }
    check_count(
        reader.block(),
        (body.len() / 8) as u64,
        reader.pos(),
        reader.len(),
    )?;
    dst.extend(simple8b::words(body).map(T::from_bits));
    Ok(())
}

/// Simple-8b packed deltas, unpacked word by word straight into `dst` with a running sum (no
/// intermediate vector of words or codes).
fn decode_packed<T: Word>(mut reader: ByteReader<'_>, div: i64, dst: &mut Vec<T>) -> Result<()> {
    let first = reader.read_u64_be()?;
    let body = reader.rest();
    let whole = body.len() / 8 * 8;
    if whole != body.len() {
        return Err(reader.truncated(reader.pos() + whole));
    }
    let count = 1 + simple8b::words(body)
        .map(|w| simple8b::count(w) as u64)
        .sum::<u64>();
    let count = check_count(reader.block(), count, reader.pos(), reader.len())?;
    let start = dst.len();
    dst.resize(start + count, T::from_bits(first));
    let mut acc = first;
    let mut at = start + 1;
    for word in simple8b::words(body) {
        let n = simple8b::count(word);
        simple8b::unpack(word, &mut dst[at..at + n], |code| {
            acc = acc.wrapping_add(zigzag_decode(code).wrapping_mul(div) as u64);
            T::from_bits(acc)
        });
        at += n;
    }
    Ok(())
}

/// A run: `first`, then `count - 1` equal steps, written straight into `dst`: the slots are
/// zeroed, then filled by a loop over a plain induction variable, which the compiler turns into
/// vector additions (no per-value capacity check, no intermediate buffer).
fn decode_rle<T: Word>(mut reader: ByteReader<'_>, div: i64, dst: &mut Vec<T>) -> Result<()> {
    let first = reader.read_u64_be()?;
    let delta = zigzag_decode(reader.read_uvarint()?).wrapping_mul(div) as u64;
    let count_at = reader.pos();
    let count = reader.read_uvarint()?;
    if count == 0 {
        return Err(reader.corrupt(count_at, "run length count is zero"));
    }
    let count = check_count(reader.block(), count, count_at, reader.len())?;
    reader.expect_end()?;
    let start = dst.len();
    dst.resize(start + count, T::from_bits(0));
    let mut acc = first;
    for slot in &mut dst[start..] {
        *slot = T::from_bits(acc);
        acc = acc.wrapping_add(delta);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_is_the_largest_common_power_of_ten() {
        assert_eq!(scale_exponent(&[]), 0);
        assert_eq!(scale_exponent(&[0, 0]), 0);
        // 10 s in ns = 10^10; 20 s = 2 * 10^10 → k = 10.
        assert_eq!(scale_exponent(&[10_000_000_000, 0, 20_000_000_000]), 10);
        assert_eq!(scale_exponent(&[1000, 3]), 0);
        assert_eq!(scale_exponent(&[-300, 5000]), 2);
        assert_eq!(scale_exponent(&[i64::MIN]), 0);
        // Capped at 10^12 even when 10^15 divides.
        assert_eq!(scale_exponent(&[1_000_000_000_000_000]), 12);
    }
}
