//! ALP float blocks (Afroozeh, Kuffo, Boncz, "ALP: Adaptive Lossless floating-Point
//! Compression", SIGMOD 2024): decimal floats stored as bit-packed integers.
//!
//! A value `v` with few decimal digits becomes the integer `d = round(v · 10^e · 10^-f)` for a
//! pair of exponents `0 <= f <= e <= 18` chosen per block; it decodes as `d · 10^f · 10^-e`. A
//! value for which that is not bit-exact (NaN, ±inf, -0.0, full-precision values) or whose `|d|`
//! reaches 2^51 is an *exception*: its slot packs `0` and its 8 bytes are stored verbatim with
//! its position. The integers are stored frame-of-reference (minus the smallest, `base`) and
//! bit-packed ([`super::bitpack`]) in `w <= 52` bits:
//!
//! ```text
//! header 0x20 | uvarint count | u8 e | u8 f | u8 w | i64 BE base | packed (count × w bits)
//!             | uvarint exception count | exception positions (uvarint gaps) | exceptions (u64 BE bits)
//! ```
//!
//! Decoding is one pass over the packed words: `((2^52 + p) - (2^52 - base)) · 10^f · 10^-e`
//! (the multiplication by `10^f = 1` left out when `f = 0`: it changes no bit),
//! where `2^52 + p` is the bit pattern `0x4330_0000_0000_0000 | p`, so the integer-to-float step is
//! an OR and a subtraction the compiler vectorises; the values are appended eight at a time (no
//! slot is zeroed first) and exceptions are patched afterwards. Because the
//! encoder checks every value with the very same arithmetic, decoding is exact.

use super::bitpack;
use super::bytes::{put_uvarint, ByteReader};
use super::{check_count, decode_atomically, read_header, EncodingError, Result};

const BLOCK: &str = "float";
/// Encoding type of ALP float blocks.
pub(super) const ALP: u8 = 2;
/// Largest decimal exponent tried (10^18 is still exact as an f64).
const MAX_EXPONENT: u8 = 18;
/// Encoded integers stay strictly inside ±2^51, so `base` and every `d - base < 2^52` are exact.
const MAX_ENCODED: f64 = (1u64 << 51) as f64;
/// Adding and subtracting 2^52 + 2^51 rounds an `|x| < 2^51` to the nearest integer.
const ROUNDER: f64 = 6_755_399_441_055_744.0;
/// 2^52 and its bit pattern: `f64::from_bits(TWO52_BITS | p) == 2^52 + p` for `p < 2^52`.
const TWO52: f64 = 4_503_599_627_370_496.0;
const TWO52_BITS: u64 = 0x4330_0000_0000_0000;
/// Estimated bits of one exception: its 64 value bits and a one- or two-byte position gap.
pub(super) const EXCEPTION_BITS: usize = 64 + 12;

/// 10^i, exact.
const F10: [f64; 19] = [
    1.0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18,
];
/// 10^-i, rounded to the nearest f64.
const IF10: [f64; 19] = [
    1.0, 1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10, 1e-11, 1e-12, 1e-13, 1e-14,
    1e-15, 1e-16, 1e-17, 1e-18,
];

/// The exponent pair of a block: values are scaled by `10^e · 10^-f`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Exponents {
    /// Decimal exponent `e <= 18`.
    pub(super) e: u8,
    /// Factor exponent `f <= e`.
    pub(super) f: u8,
}

impl Exponents {
    /// The integer `v` is stored as, or `None` when `v` must be an exception.
    #[inline]
    fn encode(self, v: f64) -> Option<i64> {
        let x = v * F10[usize::from(self.e)] * IF10[usize::from(self.f)];
        // False for NaN too.
        let encodable = x.abs() < MAX_ENCODED;
        if !encodable {
            return None;
        }
        let d = (x + ROUNDER) - ROUNDER;
        (self.decode(d).to_bits() == v.to_bits()).then_some(d as i64)
    }

    /// The value of the integer `d` (held exactly as an f64).
    #[inline(always)]
    fn decode(self, d: f64) -> f64 {
        d * F10[usize::from(self.f)] * IF10[usize::from(self.e)]
    }
}

/// The exponent pair that stores `sample` in the fewest bits, and that estimate in bits per
/// value: every pair `0 <= f <= e <= 18` is tried (ties go to the smaller pair). A pair stops
/// being tried as soon as its exceptions alone cost as much as the best pair so far (most pairs
/// turn every value of a decimal sample into an exception), which picks the same pair.
pub(super) fn best_exponents(sample: &[f64]) -> (Exponents, f64) {
    let mut best = (Exponents { e: 0, f: 0 }, usize::MAX);
    for e in 0..=MAX_EXPONENT {
        for f in 0..=e {
            let ex = Exponents { e, f };
            if let Some(bits) = estimate_bits(sample, ex, best.1) {
                best = (ex, bits);
            }
        }
    }
    (best.0, best.1 as f64 / sample.len().max(1) as f64)
}

/// Bits `sample` would take with `ex` (packed width times count, plus exceptions), when fewer
/// than `limit`; `None` otherwise.
fn estimate_bits(sample: &[f64], ex: Exponents, limit: usize) -> Option<usize> {
    let (mut lo, mut hi, mut exceptions) = (i64::MAX, i64::MIN, 0usize);
    for &v in sample {
        match ex.encode(v) {
            Some(d) => {
                lo = lo.min(d);
                hi = hi.max(d);
            }
            None => {
                exceptions += 1;
                if exceptions * EXCEPTION_BITS >= limit {
                    return None;
                }
            }
        }
    }
    let w = if lo <= hi {
        bitpack::width(hi.abs_diff(lo))
    } else {
        0
    };
    let bits = sample.len() * w as usize + exceptions * EXCEPTION_BITS;
    (bits < limit).then_some(bits)
}

/// Appends the ALP block for `src` (at most `MAX_VALUES` values, checked by the caller) with the
/// exponents `ex` to `dst`.
pub(super) fn encode(src: &[f64], ex: Exponents, dst: &mut Vec<u8>) {
    let ints: Vec<Option<i64>> = src.iter().map(|&v| ex.encode(v)).collect();
    let (lo, hi) = ints
        .iter()
        .flatten()
        .fold((i64::MAX, i64::MIN), |(lo, hi), &d| (lo.min(d), hi.max(d)));
    let (base, w) = if lo <= hi {
        (lo, bitpack::width(hi.abs_diff(lo)))
    } else {
        (0, 0)
    };
    dst.push(ALP << 4);
    put_uvarint(dst, src.len() as u64);
    dst.extend_from_slice(&[ex.e, ex.f, w as u8]);
    dst.extend_from_slice(&base.to_be_bytes());
    bitpack::pack(
        ints.iter().map(|d| d.map_or(0, |d| d.abs_diff(base))),
        w,
        dst,
    );
    let positions: Vec<usize> = (0..src.len()).filter(|&i| ints[i].is_none()).collect();
    put_positions(dst, &positions);
    for &i in &positions {
        dst.extend_from_slice(&src[i].to_bits().to_be_bytes());
    }
}

/// Appends the floats of the ALP block `src` to `dst` (unchanged on error).
pub(super) fn decode(src: &[u8], dst: &mut Vec<f64>) -> Result<()> {
    decode_atomically(dst, |dst| decode_block(src, dst))
}

fn decode_block(src: &[u8], dst: &mut Vec<f64>) -> Result<()> {
    let header = read_header(BLOCK, src)?;
    if header != ALP << 4 {
        return Err(EncodingError::UnknownEncoding {
            block: BLOCK,
            kind: header >> 4,
            header,
        });
    }
    let mut r = ByteReader::new(BLOCK, src, 1);
    let count = check_count(BLOCK, r.read_uvarint()?, 1, src.len())?;
    let params_at = r.pos();
    let [e, f, w] = match take(src, &mut r, 3)? {
        &[e, f, w] => [e, f, w],
        _ => return Err(r.truncated(params_at)),
    };
    if e > MAX_EXPONENT || f > e || w > 52 {
        return Err(r.corrupt(
            params_at,
            format!("ALP exponents e={e} f={f} or width {w} out of range (f <= e <= 18, w <= 52)"),
        ));
    }
    let base = r.read_u64_be()? as i64;
    let packed = take(src, &mut r, bitpack::packed_len(count, u32::from(w)))?;
    let positions = read_positions(&mut r, count)?;
    let mut exceptions = Vec::with_capacity(positions.len());
    for &at in &positions {
        exceptions.push((at, r.read_u64_be()?));
    }
    r.expect_end()?;
    let start = dst.len();
    // (2^52 + p) - (2^52 - base) = base + p, exact for the values the encoder writes.
    // The same product as `Exponents::decode`, with the factors loaded once. With `f = 0`
    // the first factor is 1.0 and `d · 1.0` is `d` bit for bit (`d` is never NaN), so that
    // multiplication is left out: one multiply a value instead of two. That is the case of
    // whole numbers stored as floats (`e = f = 0`); decimals such as two-decimal gauges pick
    // `f > 0` (`e = 14, f = 12`: `10^-2` alone is inexact) and keep both.
    let offset = TWO52 - base as f64;
    let (fa, fb) = (F10[usize::from(f)], IF10[usize::from(e)]);
    let w = u32::from(w);
    if f == 0 {
        bitpack::unpack(packed, w, count, dst, |p| {
            (f64::from_bits(TWO52_BITS | p) - offset) * fb
        });
    } else {
        bitpack::unpack(packed, w, count, dst, |p| {
            (f64::from_bits(TWO52_BITS | p) - offset) * fa * fb
        });
    }
    let out = &mut dst[start..];
    for (at, bits) in exceptions {
        if let Some(slot) = out.get_mut(at) {
            *slot = f64::from_bits(bits);
        }
    }
    Ok(())
}

/// Appends exception positions (ascending): a uvarint count, the first position, then the gap
/// to the previous one.
pub(super) fn put_positions(dst: &mut Vec<u8>, positions: &[usize]) {
    put_uvarint(dst, positions.len() as u64);
    let mut prev = 0;
    for (k, &at) in positions.iter().enumerate() {
        put_uvarint(dst, if k == 0 { at } else { at - prev } as u64);
        prev = at;
    }
}

/// Reads what [`put_positions`] wrote; positions must ascend strictly and stay below `count`.
pub(super) fn read_positions(r: &mut ByteReader<'_>, count: usize) -> Result<Vec<usize>> {
    let at = r.pos();
    let n = r.read_uvarint()?;
    if n > count as u64 {
        return Err(r.corrupt(at, format!("{n} exceptions in a block of {count} values")));
    }
    let mut positions = Vec::with_capacity(n as usize);
    let mut prev = 0u64;
    for k in 0..n {
        let gap_at = r.pos();
        let gap = r.read_uvarint()?;
        let pos = if k == 0 {
            gap
        } else {
            prev.saturating_add(gap)
        };
        if (k > 0 && gap == 0) || pos >= count as u64 {
            return Err(r.corrupt(
                gap_at,
                format!("exception position {pos} out of order or past {count} values"),
            ));
        }
        positions.push(pos as usize);
        prev = pos;
    }
    Ok(positions)
}

/// Reads `n` bytes at the position of `r` (which reads `src`) and moves past them.
pub(super) fn take<'a>(src: &'a [u8], r: &mut ByteReader<'a>, n: usize) -> Result<&'a [u8]> {
    let at = r.pos();
    let bytes = at
        .checked_add(n)
        .and_then(|end| src.get(at..end))
        .ok_or_else(|| r.truncated(at))?;
    *r = ByteReader::new(r.block(), src, at + n);
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn bits(v: &[f64]) -> Vec<u64> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    fn round_trip(src: &[f64], ex: Exponents) -> Vec<u8> {
        let mut block = Vec::new();
        encode(src, ex, &mut block);
        let mut out = vec![1.5];
        decode(&block, &mut out).unwrap();
        assert_eq!(bits(&out[1..]), bits(src));
        block
    }

    #[test]
    fn two_decimals_pack_as_cents_above_the_smallest() {
        // e=2, f=0: 1.23 → 123, 1.25 → 125, 1.2 → 120; base 120, offsets 3, 5, 0 in 3 bits.
        let block = round_trip(&[1.23, 1.25, 1.2], Exponents { e: 2, f: 0 });
        let mut want = vec![0x20, 3, 2, 0, 3];
        want.extend_from_slice(&120i64.to_be_bytes());
        // 3 | 5 << 3 | 0 << 6 = 43, one little-endian word; then no exceptions.
        want.extend_from_slice(&43u64.to_le_bytes());
        want.push(0);
        assert_eq!(block, want);
    }

    #[test]
    fn exceptions_are_stored_verbatim_with_positions() {
        let nan = f64::from_bits(0x7ff8_dead_beef_0001);
        let src = [0.5, -0.0, nan, 0.25, f64::INFINITY];
        let block = round_trip(&src, Exponents { e: 2, f: 0 });
        // 50 and 25 (base 25, width 5); positions 1, 2, 4 → gaps 1, 1, 2.
        let mut want = vec![0x20, 5, 2, 0, 5];
        want.extend_from_slice(&25i64.to_be_bytes());
        want.extend_from_slice(&25u64.to_le_bytes());
        want.extend_from_slice(&[3, 1, 1, 2]);
        for v in [-0.0f64, nan, f64::INFINITY] {
            want.extend_from_slice(&v.to_bits().to_be_bytes());
        }
        assert_eq!(block, want);
    }

    #[test]
    fn a_constant_block_packs_nothing() {
        let block = round_trip(&[21.5; 1000], Exponents { e: 1, f: 0 });
        // header, count (2 bytes), e, f, w, base, no packed bits, no exceptions.
        assert_eq!(block.len(), 1 + 2 + 3 + 8 + 1);
    }

    #[test]
    fn best_exponents_find_the_decimal_scale() {
        // d = v · 10^(e-f) is an integer only for e - f >= 2, where the range 25..100 needs 7 bits.
        let (ex, bits) = best_exponents(&[0.5, 0.25, 0.75, 1.0]);
        assert_eq!((ex, bits), (Exponents { e: 2, f: 0 }, 7.0));
        // Integers beyond 2^51 cannot be encoded: every value is an exception.
        let big = [9_007_199_254_740_993.0, 2f64.powi(60)];
        assert_eq!(best_exponents(&big).1, EXCEPTION_BITS as f64);
        round_trip(&big, Exponents { e: 0, f: 0 });
    }

    #[test]
    fn both_factor_paths_decode_like_the_reference_with_exceptions() {
        // f = 0 decodes with one multiplication, f > 0 with two: each must give, bit for
        // bit, `Exponents::decode` of the stored integer (the encoder's own check), and
        // the exceptions verbatim at their positions. 103 values: 12 groups of 8 and 7
        // left over; integers spread over 17 bits from a negative base.
        let nan = f64::from_bits(0x7ff0_0000_0000_0001);
        for ex in [
            Exponents { e: 2, f: 0 },
            Exponents { e: 0, f: 0 },
            Exponents { e: 5, f: 1 },
            Exponents { e: 18, f: 16 },
        ] {
            let ints: Vec<i64> = (0..103).map(|i| (i * 1237) % 100_003 - 40_000).collect();
            let mut src: Vec<f64> = ints.iter().map(|&d| ex.decode(d as f64)).collect();
            for (at, v) in [
                (0, -0.0),
                (9, nan),
                (64, f64::NEG_INFINITY),
                (102, 1.0 / 3.0),
            ] {
                src[at] = v;
            }
            let mut block = Vec::new();
            encode(&src, ex, &mut block);
            let mut out = vec![7.0];
            decode(&block, &mut out).unwrap();
            assert_eq!(out[0], 7.0);
            assert_eq!(bits(&out[1..]), bits(&src), "{ex:?}");
            // The block really holds the four values as exceptions and the rest packed.
            let exceptions = src.iter().filter(|&&v| ex.encode(v).is_none()).count();
            assert_eq!(exceptions, 4, "{ex:?}");
        }
    }

    #[test]
    fn corrupt_blocks_are_errors() {
        let mut block = Vec::new();
        encode(&[1.0, 2.0, -0.0], Exponents { e: 0, f: 0 }, &mut block);
        let mut out = vec![9.0];
        for cut in 0..block.len() {
            assert!(decode(&block[..cut], &mut out).is_err(), "cut at {cut}");
        }
        assert_eq!(out, vec![9.0]);
        let mut bad = block.clone();
        bad[3] = 1; // f = 1 > e = 0
        assert_eq!(
            decode(&bad, &mut out).unwrap_err().to_string(),
            "float block: ALP exponents e=0 f=1 or width 1 out of range (f <= e <= 18, w <= 52) at byte 2 of 31"
        );
        // The exception position (2) pushed past the count.
        let mut bad = block.clone();
        let pos_at = block.len() - 9;
        bad[pos_at] = 3;
        assert_eq!(
            decode(&bad, &mut out).unwrap_err().to_string(),
            "float block: exception position 3 out of order or past 3 values at byte 22 of 31"
        );
        let mut long = block.clone();
        long.push(0);
        assert!(decode(&long, &mut out).is_err());
    }

    proptest! {
        #[test]
        fn round_trips_scaled_cents_with_exceptions_at_any_length(
            cents in proptest::collection::vec(-1_000_000i64..1_000_000, 0..1100),
            scale in 0i32..12,
            specials in proptest::collection::vec((any::<prop::sample::Index>(), any::<u64>()), 0..6),
        ) {
            // Widths from 0 (one value) to 51 bits, past which every value is an exception.
            let mut src: Vec<f64> = cents.iter().map(|&c| c as f64 * 10f64.powi(scale) / 100.0).collect();
            if !src.is_empty() {
                for (at, bits) in &specials {
                    let i = at.index(src.len());
                    src[i] = f64::from_bits(*bits);
                }
            }
            round_trip(&src, Exponents { e: 14, f: 12 });
            round_trip(&src, best_exponents(&src[..src.len().min(64)]).0);
        }
    }
}
