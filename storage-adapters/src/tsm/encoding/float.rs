//! Float blocks: each block picks its codec from a sample of its values — ALP for decimal
//! floats, ALP-RD for full-precision ones, Gorilla XOR otherwise — and every codec is bit-exact
//! for every f64 (NaN payloads, ±inf, -0.0, subnormals).
//!
//! | type | codec                     | module       | suits                                    |
//! |------|---------------------------|--------------|------------------------------------------|
//! | 1    | Gorilla XOR               | this module  | slowly changing or repeated values       |
//! | 2    | ALP                       | [`alp`]      | values with few decimal digits (gauges)  |
//! | 3    | ALP-RD                    | [`alp_rd`]   | full-precision values with shared tops   |
//!
//! **Choice** ([`encode`]): the sample is up to four runs of 16 consecutive values spread evenly
//! over the block (the whole block when it has at most 64). On it the encoder finds ALP's best
//! exponent pair (every `0 <= f <= e <= 18`) and ALP-RD's best cut (48..=63), measures Gorilla's
//! bits per value inside the runs, turns each into an estimated block size (bits per value times
//! the block's count, plus the codec's fixed header) and encodes the block with the smallest.
//! Empty blocks are Gorilla blocks. Decoders dispatch on the header, so blocks written before
//! ALP existed (all Gorilla) still decode.
//!
//! **Gorilla** (type 1): each value is XORed with the previous one. A zero XOR costs one `0` bit.
//! Otherwise `10` reuses the previous window of meaningful bits when the new XOR's leading and
//! trailing zeros cover it, and `11` opens a new window: 5 bits of leading zeros (capped at 31), 6
//! bits of meaningful-bit count (64 stored as 0), then the meaningful bits.
//!
//! ```text
//! header 0x10 | uvarint count | first value (64 bits) | per further value: 0 | 10 bits | 11 lead len bits | zero padding
//! ```
//! Unlike InfluxDB the count is stored up front instead of an end-marker NaN, so every NaN round-trips.

use super::alp::{self, Exponents};
use super::alp_rd;
use super::bits::{BitReader, BitWriter};
use super::bytes::{put_uvarint, ByteReader};
use super::{
    check_count, check_encode_len, decode_atomically, gorilla, header_kind, read_header,
    EncodingError, Result, MAX_VALUES,
};

const BLOCK: &str = "float";
/// Encoding type: Gorilla XOR.
const GORILLA: u8 = 1;
/// Runs of consecutive values sampled to choose a block's codec, and their length.
const SAMPLE_RUNS: usize = 4;
const SAMPLE_RUN: usize = 16;
/// Fixed bits of each codec besides header and count, with the padding of its packed words:
/// ALP e, f, w, base, exception count and half a word; ALP-RD cut, code width, a two-entry
/// dictionary, exception count and two half words; Gorilla its first value.
const ALP_FIXED_BITS: f64 = 8.0 * 13.0 + 32.0;
const ALP_RD_FIXED_BITS: f64 = 8.0 * 7.0 + 64.0;
const GORILLA_FIXED_BITS: f64 = 64.0;

/// The codec chosen for one block.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Codec {
    Gorilla,
    Alp(Exponents),
    AlpRd(u8),
}

/// Appends the encoded block for `src` to `dst`, with the codec its sample chooses.
pub fn encode(src: &[f64], dst: &mut Vec<u8>) -> Result<()> {
    check_encode_len(BLOCK, src.len())?;
    match choose(src) {
        Codec::Alp(ex) => alp::encode(src, ex, dst),
        Codec::AlpRd(cut) => alp_rd::encode(src, cut, dst),
        Codec::Gorilla => write_gorilla(src, dst),
    }
    Ok(())
}

/// Appends a Gorilla block for `src` to `dst`, whatever the sample would choose.
pub fn encode_gorilla(src: &[f64], dst: &mut Vec<u8>) -> Result<()> {
    check_encode_len(BLOCK, src.len())?;
    write_gorilla(src, dst);
    Ok(())
}

/// The codec with the smallest estimated block for `src` (see the module notes).
fn choose(src: &[f64]) -> Codec {
    if src.is_empty() {
        return Codec::Gorilla;
    }
    let runs = sample_runs(src);
    let sample = runs.concat();
    let n = src.len() as f64;
    let (ex, alp_bits) = alp::best_exponents(&sample);
    let (cut, rd_bits) = alp_rd::best_split(&sample);
    let xor_values: usize = runs.iter().map(|r| r.len() - 1).sum();
    let xor_bits: usize = runs.iter().map(|r| gorilla_bits(r) - 64).sum();
    let gorilla = GORILLA_FIXED_BITS + (n - 1.0) * xor_bits as f64 / xor_values.max(1) as f64;
    let alp = ALP_FIXED_BITS + n * alp_bits;
    let rd = ALP_RD_FIXED_BITS + n * rd_bits;
    if alp <= rd && alp <= gorilla {
        Codec::Alp(ex)
    } else if rd < gorilla {
        Codec::AlpRd(cut)
    } else {
        Codec::Gorilla
    }
}

/// Up to [`SAMPLE_RUNS`] runs of [`SAMPLE_RUN`] consecutive values, evenly spread; the whole of
/// a short `src` (non-empty).
fn sample_runs(src: &[f64]) -> Vec<&[f64]> {
    if src.len() <= SAMPLE_RUNS * SAMPLE_RUN {
        return vec![src];
    }
    let last = src.len() - SAMPLE_RUN;
    (0..SAMPLE_RUNS)
        .map(|k| {
            let at = k * last / (SAMPLE_RUNS - 1);
            &src[at..at + SAMPLE_RUN]
        })
        .collect()
}

/// Bits of the Gorilla stream of `src` (after header and count).
fn gorilla_bits(src: &[f64]) -> usize {
    let mut bits = 0;
    gorilla_stream(src, |_, n| bits += n as usize);
    bits
}

fn write_gorilla(src: &[f64], dst: &mut Vec<u8>) {
    dst.push(GORILLA << 4);
    put_uvarint(dst, src.len() as u64);
    let mut w = BitWriter::new(dst);
    gorilla_stream(src, |v, n| w.write_bits(v, n));
    w.finish();
}

/// Emits the Gorilla stream of `src` as `(bits, count)` pieces, most significant bit first.
fn gorilla_stream(src: &[f64], mut emit: impl FnMut(u64, u32)) {
    let Some(first) = src.first() else {
        return;
    };
    let mut prev = first.to_bits();
    emit(prev, 64);
    // The current window (leading zeros, trailing zeros); none before the first `11`.
    let mut window: Option<(u32, u32)> = None;
    for v in &src[1..] {
        let bits = v.to_bits();
        let xor = bits ^ prev;
        prev = bits;
        if xor == 0 {
            emit(0, 1);
            continue;
        }
        let leading = xor.leading_zeros().min(31);
        let trailing = xor.trailing_zeros();
        match window {
            Some((l, t)) if leading >= l && trailing >= t => {
                emit(0b10, 2);
                emit(xor >> t, 64 - l - t);
            }
            _ => {
                let sig = 64 - leading - trailing;
                emit(0b11, 2);
                emit(u64::from(leading), 5);
                emit(u64::from(sig & 63), 6);
                emit(xor >> trailing, sig);
                window = Some((leading, trailing));
            }
        }
    }
}

/// Appends the floats held by the block `src` to `dst` (unchanged on error), whichever codec
/// wrote it.
///
/// Gorilla blocks run the word-at-a-time decoder of the `gorilla` module; when it
/// rejects the block, the bit-by-bit reference decoder runs to name the
/// error and its byte offset.
pub fn decode(src: &[u8], dst: &mut Vec<f64>) -> Result<()> {
    match src.first().map(|&h| header_kind(h)) {
        Some(alp::ALP) => return alp::decode(src, dst),
        Some(alp_rd::ALP_RD) => return alp_rd::decode(src, dst),
        _ => {}
    }
    let start = dst.len();
    if decode_fast(src, dst) {
        return Ok(());
    }
    dst.truncate(start);
    decode_reference(src, dst)
}

/// The fast path: true when `src` is a valid block, its values appended.
fn decode_fast(src: &[u8], dst: &mut Vec<f64>) -> bool {
    if src.first() != Some(&(GORILLA << 4)) {
        return false;
    }
    let mut bytes = ByteReader::new(BLOCK, src, 1);
    let Ok(count) = bytes.read_uvarint() else {
        return false;
    };
    match usize::try_from(count) {
        Ok(0) => bytes.rest().is_empty(),
        Ok(n) if n <= MAX_VALUES => gorilla::decode_values(bytes.rest(), n, dst),
        _ => false,
    }
}

/// The bit-by-bit reference decoder: the specification the fast path is
/// tested against, and the source of every error message.
pub(super) fn decode_reference(src: &[u8], dst: &mut Vec<f64>) -> Result<()> {
    decode_atomically(dst, |dst| decode_block(src, dst))
}

fn decode_block(src: &[u8], dst: &mut Vec<f64>) -> Result<()> {
    let header = read_header(BLOCK, src)?;
    let kind = header_kind(header);
    if kind != GORILLA || header & 0x0f != 0 {
        return Err(EncodingError::UnknownEncoding {
            block: BLOCK,
            kind,
            header,
        });
    }
    let mut bytes = ByteReader::new(BLOCK, src, 1);
    let count = bytes.read_uvarint()?;
    let count_at = 1;
    if count == 0 {
        return bytes.expect_end();
    }
    let count = check_count(BLOCK, count, count_at, src.len())?;
    let mut r = BitReader::new(bytes);
    // Every value after the first takes at least one bit.
    if r.remaining() < 64 + (count - 1) {
        return Err(r.bytes().corrupt(
            count_at,
            format!(
                "count {count} needs more bits than the {} present",
                r.remaining()
            ),
        ));
    }
    dst.reserve(count);
    let mut prev = r.read_bits(64)?;
    dst.push(f64::from_bits(prev));
    let mut window: Option<(u32, u32)> = None;
    for _ in 1..count {
        prev ^= read_xor(&mut r, &mut window)?;
        dst.push(f64::from_bits(prev));
    }
    r.expect_end()
}

/// Reads one value's XOR with its predecessor, updating the window on a `11` control.
fn read_xor(r: &mut BitReader<'_>, window: &mut Option<(u32, u32)>) -> Result<u64> {
    if !r.read_bit()? {
        return Ok(0);
    }
    let at = r.byte_pos();
    if !r.read_bit()? {
        let (l, t) =
            window.ok_or_else(|| r.bytes().corrupt(at, "window reused before one was set"))?;
        return Ok(r.read_bits(64 - l - t)? << t);
    }
    let leading = r.read_bits(5)? as u32;
    let sig = match r.read_bits(6)? as u32 {
        0 => 64,
        n => n,
    };
    if leading + sig > 64 {
        return Err(r.bytes().corrupt(
            at,
            format!("window of {leading} leading zeros and {sig} bits exceeds 64"),
        ));
    }
    let trailing = 64 - leading - sig;
    *window = Some((leading, trailing));
    Ok(r.read_bits(sig)? << trailing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(src: &[f64]) -> Vec<u8> {
        let mut block = Vec::new();
        encode_gorilla(src, &mut block).unwrap();
        let mut out = Vec::new();
        decode(&block, &mut out).unwrap();
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&out), bits(src));
        block
    }

    #[test]
    fn repeated_value_costs_one_bit() {
        // 1.0 = 0x3ff0_0000_0000_0000, then a `0` bit padded to the byte 0x00.
        let block = round_trip(&[1.0, 1.0]);
        assert_eq!(block, [0x10, 2, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0x00]);
    }

    #[test]
    fn new_window_is_written_in_full() {
        // 1.0 ^ 2.0 = 0x3ff0.. ^ 0x4000.. = 0x7ff0_0000_0000_0000: 1 leading zero, 52 trailing, 11 bits.
        // Bits: 11 | 00001 | 001011 | 11111111111 = 1100_0010 0101_1111 1111_1111 → c2 5f ff.
        let block = round_trip(&[1.0, 2.0]);
        assert_eq!(
            block,
            [0x10, 2, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0xc2, 0x5f, 0xff]
        );
    }

    #[test]
    fn special_values_are_bit_exact() {
        let odd_nan = f64::from_bits(0x7ff8_0000_0000_0001);
        round_trip(&[
            f64::NAN,
            -0.0,
            0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            odd_nan,
            f64::MIN_POSITIVE,
        ]);
        round_trip(&[f64::MAX, f64::MIN, 5e-324, -5e-324]);
        assert_eq!(round_trip(&[]), [0x10, 0]);
        round_trip(&[-0.0]);
    }

    #[test]
    fn bytes_per_point_for_two_decimal_gauges() {
        // A random walk of two-decimal readings around 50.00 (deterministic LCG).
        let mut state = 12345u64;
        let mut cents = 5000i64;
        let gauge: Vec<f64> = (0..1000)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                cents += (state >> 33) as i64 % 21 - 10;
                cents as f64 / 100.0
            })
            .collect();
        let block = round_trip(&gauge);
        let constant = round_trip(&[21.5; 1000]);
        println!(
            "floats, 1000 two-decimal gauge readings: {} bytes ({:.3} bytes/point); constant: {} bytes ({:.3} bytes/point)",
            block.len(),
            block.len() as f64 / 1000.0,
            constant.len(),
            constant.len() as f64 / 1000.0
        );
        // 1 header + 2 count + 8 first + 999 zero bits (125 bytes) = 136.
        assert_eq!(constant.len(), 136);
        assert!(block.len() < 8000, "{} bytes", block.len());
    }

    #[test]
    fn corrupt_blocks_are_errors() {
        let mut out = vec![9.0];
        let err = decode(&[0x10, 2, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0], &mut out).unwrap_err();
        assert!(err.to_string().contains("count 2 needs more bits"), "{err}");
        let err = decode(&[0x10, 1, 0x3f, 0xf0, 0], &mut out).unwrap_err();
        assert!(err.to_string().contains("count 1 needs more bits"), "{err}");
        // `10` with no window set yet.
        let err = decode(&[0x10, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0x80], &mut out).unwrap_err();
        assert_eq!(
            err.to_string(),
            "float block: window reused before one was set at byte 10 of 11"
        );
        // `11`, then 31 leading zeros and 60 bits: 91 > 64.
        let err = decode(
            &[0x10, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xf0, 0, 0, 0, 0],
            &mut out,
        )
        .unwrap_err();
        assert!(err.to_string().contains("exceeds 64"), "{err}");
        // Good block with its last meaningful bits cut off.
        let err = decode(
            &[0x10, 2, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0xc2, 0x5f],
            &mut out,
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "float block: truncated at byte 11 of 12");
        let err = decode(&[0x40, 0], &mut out).unwrap_err();
        assert!(matches!(
            err,
            EncodingError::UnknownEncoding { kind: 4, .. }
        ));
        assert_eq!(out, vec![9.0]);
    }

    /// Runs the fast and the reference decoder on `src`: both accept or both
    /// reject it, with bit-identical values. Returns the values when valid.
    fn differential(src: &[u8]) -> Option<Vec<u64>> {
        let mut fast = vec![1.25];
        let fast_ok = decode_fast(src, &mut fast);
        let mut reference = vec![1.25];
        let reference_ok = decode_reference(src, &mut reference).is_ok();
        assert_eq!(fast_ok, reference_ok, "block {src:02x?}");
        let mut public = vec![1.25];
        assert_eq!(decode(src, &mut public).is_ok(), reference_ok);
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&public), bits(&reference));
        if !fast_ok {
            assert_eq!(bits(&public), vec![1.25f64.to_bits()], "unchanged on error");
            return None;
        }
        assert_eq!(bits(&fast), bits(&reference));
        Some(bits(&fast[1..]))
    }

    #[test]
    fn fast_path_decodes_exact_values_at_the_boundaries() {
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let cases: Vec<Vec<f64>> = vec![
            // A single value: only the first 64 bits.
            vec![42.5],
            vec![f64::NAN],
            vec![-0.0],
            // -0.0 after 0.0: XOR 0x8000_0000_0000_0000, 0 leading zeros, 1 bit.
            vec![0.0, -0.0, 0.0],
            // 0.0 then 0x8000_0000_0000_0001: 0 leading, 0 trailing, a
            // 64-bit window stored as 0 and read with a second load.
            vec![0.0, f64::from_bits(0x8000_0000_0000_0001), 0.0],
            // Windows of 56..=62 bits reused with `10` (wider than 55 bits:
            // the second load of the reuse path).
            vec![
                0.0,
                f64::from_bits(0x00ff_ffff_ffff_ff01),
                0.0,
                f64::from_bits(0x00ff_ffff_ffff_ff01),
            ],
            // Repeats cost `0` bits, including a NaN payload.
            vec![f64::from_bits(0x7ff8_0000_0000_0001); 5],
            vec![f64::INFINITY, f64::NEG_INFINITY, f64::MIN_POSITIVE, 5e-324],
        ];
        for values in cases {
            let mut block = Vec::new();
            encode_gorilla(&values, &mut block).unwrap();
            assert_eq!(differential(&block), Some(bits(&values)), "{values:?}");
        }
        // The 64-bit window block by hand: header, count 3, 64 bits of 0.0,
        // then `11` 00000 000000 (64 stored as 0) + the 64 bits of
        // 0x8000_0000_0000_0001, then the same XOR back to 0.0 fits the
        // window: `10` + 64 bits. 2 + 5 + 6 + 64 + 2 + 64 = 143 bits = 18 bytes;
        // the byte after the first value is 11 00000 0(0) = 0b1100_0000.
        let mut block = Vec::new();
        encode_gorilla(
            &[0.0, f64::from_bits(0x8000_0000_0000_0001), 0.0],
            &mut block,
        )
        .unwrap();
        assert_eq!(block.len(), 1 + 1 + 8 + 143_usize.div_ceil(8));
        assert_eq!(block[10], 0b1100_0000);
    }

    #[test]
    fn fast_path_rejects_what_the_reference_rejects() {
        // Each corrupt block of `corrupt_blocks_are_errors`, through both.
        for block in [
            &[0x10, 2, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0][..],
            &[0x10, 1, 0x3f, 0xf0, 0],
            &[0x10, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0x80],
            &[0x10, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xf0, 0, 0, 0, 0],
            &[0x10, 2, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0xc2, 0x5f],
            &[0x20, 0],
            &[0x10, 0, 0],
            &[0x10],
            &[],
        ] {
            assert_eq!(differential(block), None, "{block:02x?}");
        }
        // Trailing zero byte after a valid block: 8 leftover bits.
        assert_eq!(differential(&[0x10, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]), None);
        // Non-zero padding: [1.0, 1.0] ends in a `0` bit then 7 padding bits.
        assert_eq!(
            differential(&[0x10, 2, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0x01]),
            None
        );
        assert_eq!(
            differential(&[0x10, 2, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0x00]),
            Some(vec![1.0f64.to_bits(); 2])
        );
    }

    proptest! {
        #[test]
        fn fast_and_reference_decoders_agree_on_damaged_blocks(
            src in proptest::collection::vec(
                prop_oneof![
                    any::<u64>().prop_map(f64::from_bits),
                    (-10_000i64..10_000).prop_map(|c| c as f64 / 100.0),
                    Just(f64::NAN), Just(-0.0),
                ], 1..200),
            flips in proptest::collection::vec((any::<usize>(), 0u8..8), 0..3),
            cut in any::<usize>(),
            extra in proptest::option::of(any::<u8>()),
        ) {
            let mut block = Vec::new();
            encode_gorilla(&src, &mut block).unwrap();
            let bits: Vec<u64> = src.iter().map(|x| x.to_bits()).collect();
            prop_assert_eq!(differential(&block), Some(bits));
            let mut damaged = block.clone();
            for (at, bit) in flips {
                let i = at % damaged.len();
                damaged[i] ^= 1 << bit;
            }
            differential(&damaged);
            differential(&block[..cut % (block.len() + 1)]);
            if let Some(b) = extra {
                damaged.push(b);
                differential(&damaged);
            }
        }

        #[test]
        fn round_trips_any_floats(src in proptest::collection::vec(
            prop_oneof![
                any::<u64>().prop_map(f64::from_bits),
                (-10_000i64..10_000).prop_map(|c| c as f64 / 100.0),
                Just(f64::NAN), Just(-0.0), Just(f64::INFINITY), Just(f64::NEG_INFINITY),
            ], 0..300)) {
            round_trip(&src);
        }

        #[test]
        fn damaged_alp_blocks_never_panic_and_leave_dst_alone_on_error(
            cents in proptest::collection::vec(-100_000i64..100_000, 1..300),
            full_precision in any::<bool>(),
            flips in proptest::collection::vec((any::<usize>(), 0u8..8), 1..4),
            cut in any::<usize>(),
        ) {
            let src: Vec<f64> = cents
                .iter()
                .map(|&c| if full_precision { c as f64 / 3.0 } else { c as f64 / 100.0 })
                .collect();
            let block = chosen_round_trip(&src);
            let mut damaged = block.clone();
            for (at, bit) in flips {
                let i = at % damaged.len();
                damaged[i] ^= 1 << bit;
            }
            for bad in [&damaged[..], &block[..cut % block.len()]] {
                let mut out = vec![4.25];
                match decode(bad, &mut out) {
                    Ok(()) => {
                        chosen_round_trip(&out[1..]);
                    }
                    Err(_) => prop_assert_eq!(&out, &vec![4.25]),
                }
            }
        }

        #[test]
        fn chosen_codec_round_trips_any_bit_pattern(
            src in proptest::collection::vec(any::<u64>().prop_map(f64::from_bits), 0..300)
        ) {
            chosen_round_trip(&src);
        }

        #[test]
        fn chosen_codec_round_trips_decimal_values(
            digits in 0u32..8,
            start in -1_000_000i64..1_000_000,
            steps in proptest::collection::vec(-50i64..50, 1..400),
            specials in proptest::collection::vec((any::<prop::sample::Index>(), special()), 0..4),
        ) {
            let scale = 10f64.powi(digits as i32);
            let mut at = start;
            let mut src: Vec<f64> = steps.iter().map(|s| { at += s; at as f64 / scale }).collect();
            for (i, v) in specials {
                let k = i.index(src.len());
                src[k] = v;
            }
            chosen_round_trip(&src);
        }
    }

    /// Values from every f64 bit-pattern class.
    fn special() -> impl Strategy<Value = f64> {
        prop::sample::select(classes())
    }

    /// One value of each f64 bit-pattern class worth a test.
    fn classes() -> Vec<f64> {
        vec![
            f64::NAN,
            f64::from_bits(0x7ff0_0000_0000_0001), // signalling NaN, payload 1
            f64::from_bits(0xfff8_dead_beef_cafe), // negative quiet NaN with a payload
            -0.0,
            0.0,
            5e-324,                                // smallest subnormal
            -4.9e-322,                             // negative subnormal
            f64::from_bits(0x000f_ffff_ffff_ffff), // largest subnormal
            f64::MIN_POSITIVE,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MAX,
            f64::MIN,
            f64::EPSILON,
            9_007_199_254_740_994.0, // 2^53 + 2
            -18_014_398_509_481_990.0,
            9.223_372_036_854_776e18, // 2^63
            0.1 + 0.2,
            1.0 / 3.0,
            -1e300,
            123.45,
            -7.0,
        ]
    }

    /// Encodes `src` with the codec its sample chooses and checks the decode is bit-exact.
    fn chosen_round_trip(src: &[f64]) -> Vec<u8> {
        let mut block = vec![0xee];
        encode(src, &mut block).unwrap();
        let mut out = vec![2.5];
        decode(&block[1..], &mut out).unwrap();
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&out[1..]), bits(src), "codec {}", block[1] >> 4);
        block.split_off(1)
    }

    /// 1000 two-decimal readings, a random walk around 50.00 (deterministic LCG).
    fn gauge() -> Vec<f64> {
        let mut state = 12345u64;
        let mut cents = 5000i64;
        (0..1000)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                cents += (state >> 33) as i64 % 21 - 10;
                cents as f64 / 100.0
            })
            .collect()
    }

    #[test]
    fn two_decimal_gauges_choose_alp_and_cost_their_packed_cents() {
        let src = gauge();
        let block = chosen_round_trip(&src);
        assert_eq!(block[0] >> 4, alp::ALP);
        // Naive reference: the cents above the smallest, in just enough bits, no exceptions.
        let cents: Vec<i64> = src.iter().map(|v| (v * 100.0).round() as i64).collect();
        let (lo, hi) = (cents.iter().min().unwrap(), cents.iter().max().unwrap());
        let w = 64 - (hi - lo).leading_zeros() as usize;
        // header, count (2 bytes), e f w, base, packed words, exception count.
        assert_eq!(block.len(), 1 + 2 + 3 + 8 + (1000 * w).div_ceil(64) * 8 + 1);
        // A constant block packs nothing at all (Gorilla would take 136 bytes).
        assert_eq!(chosen_round_trip(&[21.5; 1000]).len(), 15);
    }

    #[test]
    fn full_precision_values_choose_alp_rd() {
        // 1 + x with x in [0, 0.5) at full precision: the top 13 bits are shared, so ALP-RD
        // cuts at 51 with a one-entry dictionary (51 bits a value); ALP finds no decimals.
        // (Random low bits: Gorilla would need 2 control bits plus 51 bits of every XOR.)
        let mut state = 99u64;
        let src: Vec<f64> = (0..1000)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                1.0 + (state >> 11) as f64 / (1u64 << 54) as f64
            })
            .collect();
        let block = chosen_round_trip(&src);
        assert_eq!(&block[..5], &[0x30, 0xe8, 0x07, 51, 0]);
        // header, count, cut, code width, one dictionary entry, 1000 × 51 bits, exception count.
        assert_eq!(
            block.len(),
            1 + 2 + 2 + 2 + (1000 * 51usize).div_ceil(64) * 8 + 1
        );
    }

    #[test]
    fn random_bits_and_short_blocks_fall_back_to_gorilla() {
        // Identical NaNs cost Gorilla one bit each, less than ALP's exceptions.
        let nans = vec![f64::from_bits(0x7ff8_0000_0000_0042); 100];
        assert_eq!(chosen_round_trip(&nans)[0] >> 4, GORILLA);
        assert_eq!(chosen_round_trip(&[])[..], [0x10, 0]);
        // One value: Gorilla's 8 bytes beat ALP's 13 fixed bytes.
        assert_eq!(chosen_round_trip(&[f64::MAX])[0] >> 4, GORILLA);
    }

    #[test]
    fn every_bit_pattern_class_round_trips_through_every_codec() {
        let classes = classes();
        let mut mixed = gauge();
        let mut real: Vec<f64> = (0..1000).map(|i| f64::from(i).sin()).collect();
        for (k, &v) in classes.iter().enumerate() {
            mixed[k * 37] = v;
            real[k * 41 + 3] = v;
        }
        for src in [&classes[..], &mixed, &real] {
            chosen_round_trip(src);
            let mut blocks = Vec::new();
            for ex in [(0, 0), (2, 0), (14, 12), (18, 0), (18, 18)] {
                let mut b = Vec::new();
                alp::encode(src, Exponents { e: ex.0, f: ex.1 }, &mut b);
                blocks.push(b);
            }
            for cut in [48, 52, 63] {
                let mut b = Vec::new();
                alp_rd::encode(src, cut, &mut b);
                blocks.push(b);
            }
            let mut b = Vec::new();
            encode_gorilla(src, &mut b).unwrap();
            blocks.push(b);
            for block in blocks {
                let mut out = Vec::new();
                decode(&block, &mut out).unwrap();
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&out), bits(src), "codec {}", block[0] >> 4);
            }
        }
    }

    #[test]
    fn samples_are_even_runs_of_consecutive_values() {
        let src: Vec<f64> = (0..1000).map(f64::from).collect();
        let starts: Vec<f64> = sample_runs(&src).iter().map(|r| r[0]).collect();
        // Runs of 16 starting at k · 984 / 3: 0, 328, 656, 984 (the last one ends the block).
        assert_eq!(starts, [0.0, 328.0, 656.0, 984.0]);
        assert!(sample_runs(&src).iter().all(|r| r.len() == 16));
        assert_eq!(sample_runs(&src[..64]), vec![&src[..64]]);
    }
}
