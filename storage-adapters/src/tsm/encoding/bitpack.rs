//! Fixed-width bit packing for the ALP float codecs: `n` unsigned values of `w < 64` bits each.
//!
//! Value `i` occupies bits `[i·w, (i+1)·w)` of a little-endian stream, least significant bit
//! first, stored as `ceil(n·w / 64)` little-endian u64 words (so `w = 0` stores nothing):
//!
//! ```text
//! word 0                         word 1
//! | v2 (low bits) | v1 | v0 |    | ... | v2 (high bits) |      (w = 24: v2 spans the words)
//! ```
//!
//! Every 8 values fill exactly `w` bytes, so the decoder unpacks 8 at a time with `w` a
//! compile-time constant (a `match` over the widths picks one monomorphized loop, unrolled into
//! loads at constant offsets and constant shifts) and appends each group of 8 to the output
//! (room reserved once, no slot zeroed first). The last groups of a stream, whose 8-byte loads
//! would run past its end, decode from a zero-padded copy of the bytes left, so every value takes
//! the same unrolled path.

use std::iter;

/// Bytes taken by `n` values of `w` bits.
pub(super) fn packed_len(n: usize, w: u32) -> usize {
    (n * w as usize).div_ceil(64) * 8
}

/// Bits needed for `v` (0 for 0).
pub(super) fn width(v: u64) -> u32 {
    64 - v.leading_zeros()
}

/// Appends `values` (each below `2^w`, `w <= 63`) packed to `dst`.
pub(super) fn pack(values: impl IntoIterator<Item = u64>, w: u32, dst: &mut Vec<u8>) {
    if w == 0 {
        return;
    }
    let (mut acc, mut used) = (0u64, 0u32);
    for v in values {
        acc |= v << used;
        used += w;
        if used >= 64 {
            dst.extend_from_slice(&acc.to_le_bytes());
            used -= 64;
            // The top `used` bits of `v` did not fit in the finished word.
            acc = if used == 0 { 0 } else { v >> (w - used) };
        }
    }
    if used > 0 {
        dst.extend_from_slice(&acc.to_le_bytes());
    }
}

/// Appends `map(value)` for each of the `n` values of width `w` packed in `src` to `dst`.
/// `src` should be [`packed_len`] bytes long; missing bytes read as zero bits and extra bytes
/// are ignored (callers check the length). `w` above 63 reads as `w = 0`.
pub(super) fn unpack<T: Copy>(
    src: &[u8],
    w: u32,
    n: usize,
    dst: &mut Vec<T>,
    map: impl Fn(u64) -> T,
) {
    dst.reserve(n);
    macro_rules! by_width {
        ($($w:literal)*) => {
            match w {
                $($w => unpack_width::<T, $w>(src, n, dst, &map),)*
                _ => dst.extend(iter::repeat_n(map(0), n)),
            }
        };
    }
    by_width!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
        32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61
        62 63)
}

/// [`unpack`] for a width known at compile time: groups of eight values of `W <= 56` bits
/// (each one 8-byte load at a constant offset), groups of 64 of wider ones (whole words).
#[inline(always)]
fn unpack_width<T: Copy, const W: usize>(
    src: &[u8],
    n: usize,
    dst: &mut Vec<T>,
    map: &impl Fn(u64) -> T,
) {
    if W <= 56 {
        unpack_bytes::<T, W>(src, n, dst, map);
    } else {
        unpack_words::<T, W>(src, n, dst, map);
    }
}

/// Zero-padded room for the bytes left after the groups loaded from the stream itself. When the
/// stream's end stopped them, fewer than `W + 8` bytes are left, and the groups they hold read at
/// most `2·W + 16 <= 128` bytes; when the count did, one group of `W + 8` bytes is left.
const TAIL: usize = 128;

/// Groups of eight values of `W <= 56` bits; see [`group_of_8`].
#[inline(always)]
fn unpack_bytes<T: Copy, const W: usize>(
    src: &[u8],
    n: usize,
    dst: &mut Vec<T>,
    map: &impl Fn(u64) -> T,
) {
    // Group `g` loads bytes `g·W .. g·W + W + 8`.
    let whole = (src.len().saturating_sub(8) / W).min(n / 8);
    for g in 0..whole {
        dst.extend_from_slice(&group_of_8::<T, W>(&src[g * W..], map));
    }
    let mut left = n - whole * 8;
    if left == 0 {
        return;
    }
    let rest = src.get(whole * W..).unwrap_or(&[]);
    let mut pad = [0u8; TAIL];
    let k = rest.len().min(TAIL);
    pad[..k].copy_from_slice(&rest[..k]);
    let mut at = 0;
    while left > 0 && at + W + 8 <= TAIL {
        let values = group_of_8::<T, W>(&pad[at..], map);
        let take = left.min(8);
        dst.extend_from_slice(&values[..take]);
        left -= take;
        at += W;
    }
    // Only for a `src` shorter than the values: they start past its end.
    dst.extend(iter::repeat_n(map(0), left));
}

/// The eight values of `W` bits at the start of `bytes` (which holds at least `W + 8` bytes):
/// value `i` is the 8-byte load at the constant offset `i·W / 8`, shifted right by the constant
/// `i·W % 8`, which leaves its `W <= 56` bits whole. No branch and no bounds check per value;
/// the array is written out element by element (`array::from_fn` is not always inlined), so the
/// eight `map` calls vectorize and the caller's `extend_from_slice` stores them in one go.
#[inline(always)]
fn group_of_8<T, const W: usize>(bytes: &[u8], map: &impl Fn(u64) -> T) -> [T; 8] {
    let window = &bytes[..W + 8];
    let mask = (1u64 << W) - 1;
    let mut codes = [0u64; 8];
    for (i, code) in codes.iter_mut().enumerate() {
        *code = (le_word(&window[(i * W) / 8..]) >> ((i * W) % 8)) & mask;
    }
    let [c0, c1, c2, c3, c4, c5, c6, c7] = codes;
    [
        map(c0),
        map(c1),
        map(c2),
        map(c3),
        map(c4),
        map(c5),
        map(c6),
        map(c7),
    ]
}

/// Groups of 64 values (exactly `W` words), then the values left one at a time.
#[inline(always)]
fn unpack_words<T: Copy, const W: usize>(
    src: &[u8],
    n: usize,
    dst: &mut Vec<T>,
    map: &impl Fn(u64) -> T,
) {
    let mask = (1u64 << W) - 1;
    let whole = (src.len() / (W * 8)).min(n / 64);
    for bytes in src.chunks_exact(W * 8).take(whole) {
        let mut words = [0u64; W];
        for (word, b) in words.iter_mut().zip(bytes.chunks_exact(8)) {
            *word = le_word(b);
        }
        let values: [T; 64] = std::array::from_fn(|i| {
            let (at, shift) = ((i * W) / 64, (i * W) % 64);
            let mut v = words[at] >> shift;
            if shift + W > 64 {
                v |= words[at + 1] << (64 - shift);
            }
            map(v & mask)
        });
        dst.extend_from_slice(&values);
    }
    dst.extend((whole * 64..n).map(|i| map(read_bits(src, i * W, W as u32))));
}

/// The `w <= 63` bits starting at stream bit `bit`, zero past the end of `src`.
fn read_bits(src: &[u8], bit: usize, w: u32) -> u64 {
    let at = bit / 8;
    let mut buf = [0u8; 16];
    if let Some(rest) = src.get(at..) {
        let n = rest.len().min(16);
        buf[..n].copy_from_slice(&rest[..n]);
    }
    ((u128::from_le_bytes(buf) >> (bit % 8)) as u64) & ((1u64 << w) - 1)
}

/// The little-endian word in the first 8 bytes of `b` (0 if shorter).
#[inline(always)]
fn le_word(b: &[u8]) -> u64 {
    match *b {
        [b0, b1, b2, b3, b4, b5, b6, b7, ..] => {
            u64::from_le_bytes([b0, b1, b2, b3, b4, b5, b6, b7])
        }
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The values of `values` masked to `w` bits.
    fn masked(values: &[u64], w: u32) -> Vec<u64> {
        let mask = if w == 0 { 0 } else { (1u64 << w) - 1 };
        values.iter().map(|v| v & mask).collect()
    }

    /// Value `i` read bit by bit: the naive reference of the layout.
    fn naive(src: &[u8], w: u32, i: usize) -> u64 {
        (0..w as usize).fold(0, |v, b| {
            let bit = i * w as usize + b;
            let set = src
                .get(bit / 8)
                .is_some_and(|byte| byte >> (bit % 8) & 1 == 1);
            v | (u64::from(set) << b)
        })
    }

    #[test]
    fn packs_least_significant_bit_first() {
        // Widths 4: values 1, 2, 3 → nibbles 0x321 in word 0.
        let mut dst = Vec::new();
        pack([1, 2, 3], 4, &mut dst);
        assert_eq!(dst, [0x21, 0x03, 0, 0, 0, 0, 0, 0]);
        // Width 40: v1 starts at bit 40 and spans into word 1 (its top 16 bits).
        let mut dst = Vec::new();
        let v1 = 0xab_cdef_0123;
        pack([0, v1], 40, &mut dst);
        assert_eq!(dst.len(), packed_len(2, 40));
        assert_eq!(dst.len(), 16);
        assert_eq!(le_word(&dst[..8]), (v1 & 0xff_ffff) << 40);
        assert_eq!(le_word(&dst[8..]), v1 >> 24);
        let mut out = vec![9u64];
        unpack(&dst, 40, 2, &mut out, |v| v);
        assert_eq!(out, [9, 0, v1], "appends after what dst held");
        assert_eq!(width(0), 0);
        assert_eq!(width(1), 1);
        assert_eq!(width(255), 8);
        assert_eq!(width(256), 9);
    }

    #[test]
    fn short_input_reads_zero_bits() {
        let mut out = Vec::new();
        unpack(&[0xff], 4, 3, &mut out, |v| v);
        assert_eq!(out, [15, 15, 0]);
        let mut out = Vec::new();
        unpack(&[], 0, 2, &mut out, |v| v);
        assert_eq!(out, [0, 0]);
        // 100 values of 56 bits from 10 bytes: the first one whole, 24 bits of the second.
        let mut out = Vec::new();
        unpack(&[0xff; 10], 56, 100, &mut out, |v| v);
        assert_eq!(&out[..3], [(1 << 56) - 1, (1 << 24) - 1, 0]);
        assert!(out[2..].iter().all(|&v| v == 0));
        assert_eq!(out.len(), 100);
        // Widths above 63 read as 0.
        let mut out = Vec::new();
        unpack(&[0xff; 16], 64, 2, &mut out, |v| v);
        assert_eq!(out, [0, 0]);
    }

    #[test]
    fn every_width_and_length_matches_the_bitwise_reference() {
        // Lengths around the groups of 8 (widths up to 56) and of 64 (wider), and a block's
        // 1000; bytes past the packed stream are set, and must not leak into the values.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for w in 0..=63u32 {
            for n in [0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 127, 129, 720, 1000] {
                let raw: Vec<u64> = (0..n)
                    .map(|k| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        // Every fifth value all ones: the widest value of the width.
                        if k % 5 == 0 {
                            u64::MAX
                        } else {
                            state
                        }
                    })
                    .collect();
                let values = masked(&raw, w);
                let mut src = Vec::new();
                pack(values.iter().copied(), w, &mut src);
                assert_eq!(src.len(), packed_len(n, w));
                let reference: Vec<u64> = (0..n).map(|i| naive(&src, w, i)).collect();
                assert_eq!(reference, values, "w={w} n={n}: pack");
                src.extend_from_slice(&[0xff; 24]);
                let mut out = vec![7u64];
                unpack(&src, w, n, &mut out, |v| v);
                assert_eq!(out[0], 7);
                assert_eq!(&out[1..], &values[..], "w={w} n={n}: unpack");
            }
        }
    }

    proptest! {
        #[test]
        fn round_trips_every_width(w in 0u32..=63, raw in proptest::collection::vec(any::<u64>(), 0..300)) {
            let values = masked(&raw, w);
            let mut dst = Vec::new();
            pack(values.iter().copied(), w, &mut dst);
            prop_assert_eq!(dst.len(), packed_len(values.len(), w));
            let mut out = Vec::new();
            unpack(&dst, w, values.len(), &mut out, |v| v);
            prop_assert_eq!(out, values);
        }

        #[test]
        fn truncated_streams_read_zero_bits_past_their_end(
            w in 1u32..=63,
            raw in proptest::collection::vec(any::<u64>(), 0..200),
            cut in any::<prop::sample::Index>(),
        ) {
            let values = masked(&raw, w);
            let mut dst = Vec::new();
            pack(values.iter().copied(), w, &mut dst);
            let short = &dst[..cut.index(dst.len() + 1)];
            let mut out = Vec::new();
            unpack(short, w, values.len(), &mut out, |v| v);
            let want: Vec<u64> = (0..values.len()).map(|i| naive(short, w, i)).collect();
            prop_assert_eq!(out, want);
        }
    }
}
