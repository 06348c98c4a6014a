//! Simple-8b: packs runs of small unsigned integers (each below 2^60) into 64-bit words.
//!
//! Each word spends its top 4 bits on a selector that says how many values the other 60 bits hold
//! and how wide each one is. The encoder takes the densest selector whose count of upcoming values
//! all fit, so a block needs no explicit length: decoding every word yields exactly the input.
//!
//! ```text
//! selector  0    1    2   3   4   5   6   7   8   9   10  11  12  13  14  15
//! values    240  120  60  30  20  15  12  10  8   7   6   5   4   3   2   1
//! bits      0    0    1   2   3   4   5   6   7   8   10  12  15  20  30  60
//! ```
//! Selectors 0 and 1 store runs of the value 1 (no payload bits), as in InfluxDB. Values are packed
//! from the low bits of the word up.

use super::{EncodingError, Result};

/// The largest value Simple-8b can store (2^60 - 1).
pub const MAX_VALUE: u64 = (1 << 60) - 1;

/// (values per word, bits per value) for each selector.
const SELECTORS: [(usize, u32); 16] = [
    (240, 0),
    (120, 0),
    (60, 1),
    (30, 2),
    (20, 3),
    (15, 4),
    (12, 5),
    (10, 6),
    (8, 7),
    (7, 8),
    (6, 10),
    (5, 12),
    (4, 15),
    (3, 20),
    (2, 30),
    (1, 60),
];

/// Appends the Simple-8b words for `src` to `dst`; fails if a value exceeds [`MAX_VALUE`].
pub fn encode_all(src: &[u64], dst: &mut Vec<u64>) -> Result<()> {
    if let Some(pos) = src.iter().position(|&v| v > MAX_VALUE) {
        return Err(EncodingError::Unencodable {
            block: "simple8b",
            message: format!("value {} at index {pos} exceeds 2^60 - 1", src[pos]),
        });
    }
    let mut rest = src;
    while !rest.is_empty() {
        let (word, used) = pack_one(rest);
        dst.push(word);
        rest = &rest[used..];
    }
    Ok(())
}

/// Packs as many leading values of `src` as the densest fitting selector allows into one word.
/// Every value must be at most [`MAX_VALUE`]; selector 15 always fits one value.
fn pack_one(src: &[u64]) -> (u64, usize) {
    for (selector, &(n, bits)) in SELECTORS.iter().enumerate() {
        if src.len() < n {
            continue;
        }
        let chunk = &src[..n];
        let fits = if bits == 0 {
            chunk.iter().all(|&v| v == 1)
        } else {
            chunk.iter().all(|&v| v >> bits == 0)
        };
        if fits {
            let mut word = (selector as u64) << 60;
            for (i, &v) in chunk.iter().enumerate().filter(|_| bits > 0) {
                word |= v << (i as u32 * bits);
            }
            return (word, n);
        }
    }
    // Unreachable for valid input: selector 15 packs any single value up to MAX_VALUE.
    ((15u64 << 60) | (src[0] & MAX_VALUE), 1)
}

/// Number of values a word holds, from its selector.
pub fn count(word: u64) -> usize {
    SELECTORS[(word >> 60) as usize].0
}

/// Appends every value held by `words` to `dst`. Every selector is valid, so this cannot fail;
/// it produces at most 240 values per word.
pub fn decode_all(words: &[u64], dst: &mut Vec<u64>) {
    let total = words.iter().map(|&w| count(w)).sum::<usize>();
    let mut at = dst.len();
    dst.resize(at + total, 0);
    for &word in words {
        let n = count(word);
        unpack(word, &mut dst[at..at + n], |code| code);
        at += n;
    }
}

/// Writes `map(code)` for each of the [`count`]`(word)` codes of `word`, in order, to `out`,
/// which must be exactly that long (a shorter `out` receives a prefix). One loop per selector
/// with the width a constant, so each unrolls into shifts and masks; `map` may carry state (a
/// running sum of deltas).
#[inline]
pub(crate) fn unpack<T>(word: u64, out: &mut [T], map: impl FnMut(u64) -> T) {
    match word >> 60 {
        0 | 1 => unpack_ones(out, map),
        2 => unpack_width::<T, 1>(word, out, map),
        3 => unpack_width::<T, 2>(word, out, map),
        4 => unpack_width::<T, 3>(word, out, map),
        5 => unpack_width::<T, 4>(word, out, map),
        6 => unpack_width::<T, 5>(word, out, map),
        7 => unpack_width::<T, 6>(word, out, map),
        8 => unpack_width::<T, 7>(word, out, map),
        9 => unpack_width::<T, 8>(word, out, map),
        10 => unpack_width::<T, 10>(word, out, map),
        11 => unpack_width::<T, 12>(word, out, map),
        12 => unpack_width::<T, 15>(word, out, map),
        13 => unpack_width::<T, 20>(word, out, map),
        14 => unpack_width::<T, 30>(word, out, map),
        _ => unpack_width::<T, 60>(word, out, map),
    }
}

/// Selectors 0 and 1: every code is 1.
#[inline(always)]
fn unpack_ones<T>(out: &mut [T], mut map: impl FnMut(u64) -> T) {
    for slot in out {
        *slot = map(1);
    }
}

/// Codes of `BITS` bits each, from the low bits of `word` up.
#[inline(always)]
fn unpack_width<T, const BITS: u32>(word: u64, out: &mut [T], mut map: impl FnMut(u64) -> T) {
    let mask = (1u64 << BITS) - 1;
    for (i, slot) in out.iter_mut().enumerate() {
        *slot = map((word >> (i as u32 * BITS)) & mask);
    }
}

/// Appends `words` to `dst` as big-endian bytes, the form blocks store them in.
pub(crate) fn write_words(words: &[u64], dst: &mut Vec<u8>) {
    dst.reserve(words.len() * 8);
    for w in words {
        dst.extend_from_slice(&w.to_be_bytes());
    }
}

/// The big-endian words of `bytes`, in order; a trailing partial word is ignored (callers check
/// the length is a multiple of 8 first).
pub(crate) fn words(bytes: &[u8]) -> impl Iterator<Item = u64> + '_ {
    bytes.chunks_exact(8).map(|c| match *c {
        [b0, b1, b2, b3, b4, b5, b6, b7] => u64::from_be_bytes([b0, b1, b2, b3, b4, b5, b6, b7]),
        _ => 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn packs_small_values_into_one_word() {
        // Five values below 2^12 but not all below 2^10: selector 11 (5 x 12 bits).
        // word = 11<<60 | 1 | 2<<12 | 3<<24 | 4<<36 | 4000<<48
        let src = [1, 2, 3, 4, 4000];
        let mut words = Vec::new();
        encode_all(&src, &mut words).unwrap();
        let expected = (11u64 << 60) | 1 | (2 << 12) | (3 << 24) | (4 << 36) | (4000 << 48);
        assert_eq!(words, vec![expected]);
        let mut out = Vec::new();
        decode_all(&words, &mut out);
        assert_eq!(out, src);
    }

    #[test]
    fn runs_of_ones_use_selector_zero() {
        // 240 ones fill selector 0; the remaining 3 ones take selector 13 (3 x 20 bits).
        let src = vec![1u64; 243];
        let mut words = Vec::new();
        encode_all(&src, &mut words).unwrap();
        assert_eq!(words, vec![0, (13u64 << 60) | 1 | (1 << 20) | (1 << 40)]);
        assert_eq!(count(words[0]), 240);
        let mut out = Vec::new();
        decode_all(&words, &mut out);
        assert_eq!(out, src);
    }

    #[test]
    fn rejects_values_of_60_bits_or_more() {
        let err = encode_all(&[5, 1 << 60], &mut Vec::new()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "simple8b encoding: value 1152921504606846976 at index 1 exceeds 2^60 - 1"
        );
        let mut words = Vec::new();
        encode_all(&[MAX_VALUE], &mut words).unwrap();
        assert_eq!(words, vec![u64::MAX]);
    }

    #[test]
    fn decodes_every_selector_boundary_exactly() {
        let mut out = vec![9];
        // Selector 0: 240 ones; selector 1: 120 ones (no payload bits).
        decode_all(&[0, 1 << 60], &mut out);
        assert_eq!(out.len(), 1 + 240 + 120);
        assert!(out[1..].iter().all(|&v| v == 1));
        assert_eq!(out[0], 9, "decode appends");
        // Selector 2: 60 one-bit values, 0b101 sets values 0 and 2.
        let mut out = Vec::new();
        decode_all(&[(2 << 60) | 0b101], &mut out);
        assert_eq!(out.len(), 60);
        assert_eq!(&out[..4], &[1, 0, 1, 0]);
        assert_eq!(out.iter().sum::<u64>(), 2);
        // Selector 14: 2 x 30 bits; selector 15: one 60-bit value.
        let mut out = Vec::new();
        let top30 = (1 << 30) - 1;
        decode_all(
            &[(14 << 60) | 5 | (top30 << 30), (15 << 60) | MAX_VALUE],
            &mut out,
        );
        assert_eq!(out, vec![5, top30, MAX_VALUE]);
        // Selector 13: 3 x 20 bits, the last one all ones.
        let mut out = Vec::new();
        decode_all(&[(13 << 60) | 7 | (0xf_ffff << 40)], &mut out);
        assert_eq!(out, vec![7, 0, 0xf_ffff]);
    }

    #[test]
    fn unpack_maps_codes_in_order_and_fills_a_shorter_slice_with_a_prefix() {
        // Selector 11: 5 x 12 bits holding 1, 2, 3, 4, 4000; map keeps a running sum.
        let word = (11u64 << 60) | 1 | (2 << 12) | (3 << 24) | (4 << 36) | (4000 << 48);
        let mut sum = 0;
        let mut out = [0u64; 5];
        unpack(word, &mut out, |c| {
            sum += c;
            sum
        });
        // 1, 1+2, 1+2+3, 1+2+3+4, 10+4000
        assert_eq!(out, [1, 3, 6, 10, 4010]);
        let mut short = [0u64; 2];
        unpack(word, &mut short, |c| c);
        assert_eq!(short, [1, 2]);
        let mut ones = [0u64; 3];
        unpack(1 << 60, &mut ones, |c| c * 7);
        assert_eq!(ones, [7, 7, 7]);
    }

    #[test]
    fn words_are_read_big_endian() {
        let bytes = [0x10, 0, 0, 0, 0, 0, 0, 0x2a, 0xff, 0, 0, 0, 0, 0, 0, 1];
        let words: Vec<u64> = super::words(&bytes).collect();
        assert_eq!(words, vec![(1 << 60) | 42, 0xff00_0000_0000_0001]);
    }

    proptest! {
        #[test]
        fn round_trips(src in proptest::collection::vec(
            prop_oneof![0u64..4, 0u64..1000, 0..=MAX_VALUE], 0..600)) {
            let mut words = Vec::new();
            encode_all(&src, &mut words).unwrap();
            let mut out = Vec::new();
            decode_all(&words, &mut out);
            prop_assert_eq!(out, src);
        }
    }
}
