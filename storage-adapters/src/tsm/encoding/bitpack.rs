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
//! compile-time constant (one loop per width, unrolled into loads at constant offsets and
//! constant shifts); the last values of a stream take a generic path.

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

/// Writes `map(value)` for each of the `out.len()` values of width `w` packed in `src` into
/// `out`. `src` should be [`packed_len`] bytes long; missing bytes read as zero bits and extra
/// bytes are ignored (callers check the length). `w` above 63 reads as `w = 0`.
pub(super) fn unpack<T>(src: &[u8], w: u32, out: &mut [T], map: impl Fn(u64) -> T) {
    macro_rules! by_width {
        ($($n:literal)*) => {
            match w {
                $($n => unpack_width::<T, $n>(src, out, map),)*
                _ => out.iter_mut().for_each(|slot| *slot = map(0)),
            }
        };
    }
    by_width!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
        32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61
        62 63)
}

/// [`unpack`] for a width known at compile time. Eight values of `W` bits take exactly `W`
/// bytes, so value `i` of a group of eight is one unaligned 8-byte load at the constant byte
/// offset `i·W / 8`, shifted by the constant `i·W % 8` (which leaves `W` bits when `W <= 56`):
/// no branch and no bounds check per value. Wider values take whole words, 64 at a time.
#[inline(always)]
fn unpack_width<T, const W: usize>(src: &[u8], out: &mut [T], map: impl Fn(u64) -> T) {
    let done = if W <= 56 {
        unpack_bytes::<T, W>(src, out, &map)
    } else {
        unpack_words::<T, W>(src, out, &map)
    };
    for (k, slot) in out[done..].iter_mut().enumerate() {
        *slot = map(read_bits(src, (done + k) * W, W as u32));
    }
}

/// Groups of eight values while `W + 8` bytes are left from the group's first byte; returns
/// how many values it wrote.
#[inline(always)]
fn unpack_bytes<T, const W: usize>(src: &[u8], out: &mut [T], map: &impl Fn(u64) -> T) -> usize {
    let mask = (1u64 << W) - 1;
    let mut done = 0;
    for (g, group) in out.chunks_exact_mut(8).enumerate() {
        // The last load of the group reads 8 bytes from byte `7·W / 8 <= W`.
        let Some(window) = src.get(g * W..g * W + W + 8) else {
            break;
        };
        let mut codes = [0u64; 8];
        for (i, code) in codes.iter_mut().enumerate() {
            let (at, shift) = ((i * W) / 8, (i * W) % 8);
            *code = (le_word(&window[at..]) >> shift) & mask;
        }
        for (slot, &code) in group.iter_mut().zip(&codes) {
            *slot = map(code);
        }
        done += 8;
    }
    done
}

/// Groups of 64 values (exactly `W` words); returns how many values it wrote.
#[inline(always)]
fn unpack_words<T, const W: usize>(src: &[u8], out: &mut [T], map: &impl Fn(u64) -> T) -> usize {
    let mask = (1u64 << W) - 1;
    let mut done = 0;
    for (group, bytes) in out.chunks_exact_mut(64).zip(src.chunks_exact(W * 8)) {
        let mut words = [0u64; W];
        for (word, b) in words.iter_mut().zip(bytes.chunks_exact(8)) {
            *word = le_word(b);
        }
        for (i, slot) in group.iter_mut().enumerate() {
            let (at, shift) = ((i * W) / 64, (i * W) % 64);
            let mut v = words[at] >> shift;
            if shift + W > 64 {
                v |= words[at + 1] << (64 - shift);
            }
            *slot = map(v & mask);
        }
        done += 64;
    }
    done
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
        let mut out = [0u64; 2];
        unpack(&dst, 40, &mut out, |v| v);
        assert_eq!(out, [0, v1]);
        assert_eq!(width(0), 0);
        assert_eq!(width(1), 1);
        assert_eq!(width(255), 8);
        assert_eq!(width(256), 9);
    }

    #[test]
    fn short_input_reads_zero_bits() {
        let mut out = [7u64; 3];
        unpack(&[0xff], 4, &mut out, |v| v);
        assert_eq!(out, [15, 15, 0]);
        let mut out = [7u64; 2];
        unpack(&[], 0, &mut out, |v| v);
        assert_eq!(out, [0, 0]);
    }

    proptest! {
        #[test]
        fn round_trips_every_width(w in 0u32..=63, raw in proptest::collection::vec(any::<u64>(), 0..300)) {
            let mask = if w == 0 { 0 } else { (1u64 << w) - 1 };
            let values: Vec<u64> = raw.iter().map(|v| v & mask).collect();
            let mut dst = Vec::new();
            pack(values.iter().copied(), w, &mut dst);
            prop_assert_eq!(dst.len(), packed_len(values.len(), w));
            let mut out = vec![0u64; values.len()];
            unpack(&dst, w, &mut out, |v| v);
            prop_assert_eq!(out, values);
        }
    }
}
