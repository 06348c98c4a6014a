//! ALP-RD float blocks ("real doubles", from the ALP paper, SIGMOD 2024): for values that use the
//! full precision, where decimal scaling finds nothing.
//!
//! Every value's 64 bits are cut in two at bit `r` (`48 <= r <= 63`): the `r` low bits (the
//! *right* part) are bit-packed as they are, and the `64 - r <= 16` high bits (the *left* part:
//! sign, exponent, top of the mantissa) usually take only a few distinct values in a block, so
//! they are replaced by a `c`-bit code (`c <= 3`) into a dictionary of `2^c` left parts. A left
//! part missing from the dictionary is an exception: code 0, and its left part stored with its
//! position.
//!
//! ```text
//! header 0x30 | uvarint count | u8 r | u8 c | 2^c × u16 BE dictionary | packed codes (count × c bits)
//!             | packed right parts (count × r bits) | uvarint exception count
//!             | exception positions (uvarint gaps) | exception left parts (u16 BE)
//! ```

use super::alp::{put_positions, read_positions, take};
use super::bitpack;
use super::bytes::{put_uvarint, ByteReader};
use super::{check_count, decode_atomically, read_header, EncodingError, Result};

const BLOCK: &str = "float";
/// Encoding type of ALP-RD float blocks.
pub(super) const ALP_RD: u8 = 3;
/// Smallest right part width: left parts fit in 16 bits.
const MIN_RIGHT: u8 = 48;
/// Largest code width: dictionaries hold at most 8 left parts.
const MAX_CODE: u32 = 3;
/// Estimated bits of one exception: a 16-bit left part and its position gap.
const EXCEPTION_BITS: usize = 16 + 12;

/// The cut `r` that stores `sample` in the fewest bits, and that estimate in bits per value. Ties
/// go to the largest cut: its smaller dictionary is less likely to miss values outside the sample.
pub(super) fn best_split(sample: &[f64]) -> (u8, f64) {
    let mut best = (63, usize::MAX);
    for r in (MIN_RIGHT..=63).rev() {
        let lefts: Vec<u16> = sample.iter().map(|v| left(*v, r)).collect();
        let (_, c, exceptions) = dictionary(&lefts);
        let bits = sample.len() * (usize::from(r) + c as usize) + exceptions * EXCEPTION_BITS;
        if bits < best.1 {
            best = (r, bits);
        }
    }
    (best.0, best.1 as f64 / sample.len().max(1) as f64)
}

/// The left part of `v` cut at `r >= 48`.
fn left(v: f64, r: u8) -> u16 {
    (v.to_bits() >> r) as u16
}

/// The dictionary for `lefts` (most frequent first, padded to `2^c` entries), its code width `c`
/// and how many values it misses: the `c` that minimises code bits plus exception bits.
fn dictionary(lefts: &[u16]) -> (Vec<u16>, u32, usize) {
    let mut sorted = lefts.to_vec();
    sorted.sort_unstable();
    let mut runs: Vec<(usize, u16)> = Vec::new();
    for &l in &sorted {
        match runs.last_mut() {
            Some((n, v)) if *v == l => *n += 1,
            _ => runs.push((1, l)),
        }
    }
    runs.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut best = (0, usize::MAX, lefts.len());
    for c in 0..=MAX_CODE {
        let covered: usize = runs.iter().take(1 << c).map(|r| r.0).sum();
        let missed = lefts.len() - covered;
        let bits = lefts.len() * c as usize + missed * EXCEPTION_BITS;
        if bits < best.1 {
            best = (c, bits, missed);
        }
    }
    let c = best.0;
    let first = runs.first().map_or(0, |r| r.1);
    let mut dict: Vec<u16> = runs.iter().take(1 << c).map(|r| r.1).collect();
    dict.resize(1 << c, first);
    (dict, c, best.2)
}

/// Appends the ALP-RD block for `src` (at most `MAX_VALUES` values, checked by the caller) cut
/// at `r` (`48..=63`) to `dst`.
pub(super) fn encode(src: &[f64], r: u8, dst: &mut Vec<u8>) {
    let lefts: Vec<u16> = src.iter().map(|v| left(*v, r)).collect();
    let (dict, c, _) = dictionary(&lefts);
    let codes: Vec<Option<u64>> = lefts
        .iter()
        .map(|l| dict.iter().position(|d| d == l).map(|i| i as u64))
        .collect();
    dst.push(ALP_RD << 4);
    put_uvarint(dst, src.len() as u64);
    dst.extend_from_slice(&[r, c as u8]);
    for d in &dict {
        dst.extend_from_slice(&d.to_be_bytes());
    }
    bitpack::pack(codes.iter().map(|c| c.unwrap_or(0)), c, dst);
    let mask = (1u64 << r) - 1;
    bitpack::pack(src.iter().map(|v| v.to_bits() & mask), u32::from(r), dst);
    let positions: Vec<usize> = (0..src.len()).filter(|&i| codes[i].is_none()).collect();
    put_positions(dst, &positions);
    for &i in &positions {
        dst.extend_from_slice(&lefts[i].to_be_bytes());
    }
}

/// Appends the floats of the ALP-RD block `src` to `dst` (unchanged on error).
pub(super) fn decode(src: &[u8], dst: &mut Vec<f64>) -> Result<()> {
    decode_atomically(dst, |dst| decode_block(src, dst))
}

fn decode_block(src: &[u8], dst: &mut Vec<f64>) -> Result<()> {
    let header = read_header(BLOCK, src)?;
    if header != ALP_RD << 4 {
        return Err(EncodingError::UnknownEncoding {
            block: BLOCK,
            kind: header >> 4,
            header,
        });
    }
    let mut rd = ByteReader::new(BLOCK, src, 1);
    let count = check_count(BLOCK, rd.read_uvarint()?, 1, src.len())?;
    let params_at = rd.pos();
    let (r, c) = match take(src, &mut rd, 2)? {
        &[r, c] => (r, u32::from(c)),
        _ => return Err(rd.truncated(params_at)),
    };
    if !(MIN_RIGHT..=63).contains(&r) || c > MAX_CODE {
        return Err(rd.corrupt(
            params_at,
            format!("ALP-RD cut {r} or code width {c} out of range (48..=63, <= 3)"),
        ));
    }
    let mut dict = [0u64; 8];
    for (slot, pair) in dict
        .iter_mut()
        .zip(take(src, &mut rd, 2 << c)?.chunks_exact(2))
    {
        *slot = u64::from(u16::from_be_bytes([pair[0], pair[1]])) << r;
    }
    let codes = take(src, &mut rd, bitpack::packed_len(count, c))?;
    let rights = take(src, &mut rd, bitpack::packed_len(count, u32::from(r)))?;
    let positions = read_positions(&mut rd, count)?;
    let mut exceptions = Vec::with_capacity(positions.len());
    for &at in &positions {
        let pair = take(src, &mut rd, 2)?;
        exceptions.push((at, u64::from(u16::from_be_bytes([pair[0], pair[1]])) << r));
    }
    rd.expect_end()?;
    let start = dst.len();
    bitpack::unpack(rights, u32::from(r), count, dst, f64::from_bits);
    let out = &mut dst[start..];
    let mut left_codes = Vec::with_capacity(count);
    bitpack::unpack(codes, c, count, &mut left_codes, |x| x as u8);
    for (slot, &code) in out.iter_mut().zip(&left_codes) {
        *slot = f64::from_bits(slot.to_bits() | dict[usize::from(code & 7)]);
    }
    let mask = (1u64 << r) - 1;
    for (at, left) in exceptions {
        if let Some(slot) = out.get_mut(at) {
            *slot = f64::from_bits((slot.to_bits() & mask) | left);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits(v: &[f64]) -> Vec<u64> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    fn round_trip(src: &[f64], r: u8) -> Vec<u8> {
        let mut block = Vec::new();
        encode(src, r, &mut block);
        let mut out = vec![1.5];
        decode(&block, &mut out).unwrap();
        assert_eq!(bits(&out[1..]), bits(src));
        block
    }

    #[test]
    fn dictionary_codes_the_left_parts() {
        // Cut at 52: left parts are sign + exponent. 1.5 and 1.75 share 0x3ff, 3.1 has 0x400.
        let src = [1.5, 1.75, 3.1];
        let block = round_trip(&src, 52);
        // Frequencies: 0x3ff twice, 0x400 once. c = 0 misses one value (28 bits); c = 1 costs
        // 3 bits and misses none, so c = 1 with the dictionary [0x3ff, 0x400].
        let mut want = vec![0x30, 3, 52, 1, 0x03, 0xff, 0x04, 0x00];
        // Codes 0, 0, 1 → 0b100 in one word.
        want.extend_from_slice(&4u64.to_le_bytes());
        let mut rights = Vec::new();
        let mask = (1u64 << 52) - 1;
        bitpack::pack(src.iter().map(|v| v.to_bits() & mask), 52, &mut rights);
        want.extend_from_slice(&rights);
        want.push(0);
        assert_eq!(block, want);
    }

    #[test]
    fn rare_left_parts_are_exceptions() {
        // 39 values with left part 0x3ff and a NaN (0xfff): c = 0 costs one exception (28 bits),
        // c = 1 costs 40 code bits. With 19 + 1 values, c = 1 (20 bits) wins.
        let mut src = vec![1.25; 40];
        src[7] = f64::from_bits(0xfff0_0000_0000_0001);
        let block = round_trip(&src, 52);
        assert_eq!(block[3], 0, "code width");
        assert_eq!(round_trip(&src[..20], 52)[3], 1, "code width");
        // Many distinct left parts at a cut of 50: c = 3 and exceptions.
        let many: Vec<f64> = (0..100).map(|i| f64::from(i) * 1.37e10 + 0.1).collect();
        round_trip(&many, 50);
        let lefts: Vec<u16> = vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 9];
        let (dict, c, missed) = dictionary(&lefts);
        // c = 3 covers 9 and seven of the singletons (the smallest), missing one: 36 + 28 bits.
        assert_eq!((dict, c, missed), (vec![9, 1, 2, 3, 4, 5, 6, 7], 3, 1));
    }

    #[test]
    fn best_split_prefers_fewer_bits() {
        // All values share their top 16 bits: cut at 48 with one dictionary entry, 48 bits each.
        let src: Vec<f64> = (0..32).map(|i| 1.0 + f64::from(i) * 1e-9).collect();
        assert_eq!(best_split(&src), (48, 48.0));
        // 1 + x for x in [0, 0.5): sign, exponent 0x3ff and a 0 top mantissa bit are shared, so
        // every cut from 48 to 51 costs 51 bits (cut + code width); the largest wins the tie.
        let src: Vec<f64> = (0..64).map(|i| 1.0 + f64::from(i) / 128.0).collect();
        assert_eq!(best_split(&src), (51, 51.0));
    }

    #[test]
    fn corrupt_blocks_are_errors() {
        let mut block = Vec::new();
        encode(&[1.5, f64::NAN, 2.5], 52, &mut block);
        let mut out = vec![9.0];
        for cut in 0..block.len() {
            assert!(decode(&block[..cut], &mut out).is_err(), "cut at {cut}");
        }
        let mut bad = block.clone();
        bad[2] = 47;
        assert_eq!(
            decode(&bad, &mut out).unwrap_err().to_string(),
            "float block: ALP-RD cut 47 or code width 2 out of range (48..=63, <= 3) at byte 2 of 45"
        );
        assert_eq!(out, vec![9.0]);
    }
}
