//! Timestamp blocks: nanosecond times, normally sorted, stored as deltas.
//!
//! All deltas equal → run length (first time, delta, count); otherwise the deltas are divided by the
//! largest power of ten (up to 10^12) that divides them all (a 10 s series stores 1 instead of
//! 10^10), zigzagged and Simple-8b packed; raw 8-byte values when a delta does not fit in 60 bits.
//! The layouts are described in the shared delta codec; the header's low four bits hold the scale
//! exponent. Unsorted input round-trips too (deltas wrap), and decoding never panics.

use super::{decode_atomically, delta, Result};

const BLOCK: &str = "timestamp";

/// The last run-length block [`decode_remembered`] decoded, and its times. Series written on
/// one schedule (every host sampled at the same instants) store byte-identical run-length
/// blocks, so in a scan of them every block after the first is one copy of the remembered
/// times instead of a decode (whose slots are zeroed, then filled). Keyed by the block's
/// bytes, so what it appends is exactly what decoding them gives.
#[derive(Debug, Default)]
pub struct LastRun {
    /// The encoded block; empty before the first run-length block.
    block: Vec<u8>,
    /// What `block` decodes to.
    times: Vec<i64>,
}

/// Appends the encoded block for `src` to `dst`.
pub fn encode(src: &[i64], dst: &mut Vec<u8>) -> Result<()> {
    delta::encode(BLOCK, src, true, dst)
}

/// Appends the timestamps held by the block `src` to `dst` (unchanged on error).
pub fn decode(src: &[u8], dst: &mut Vec<i64>) -> Result<()> {
    decode_atomically(dst, |dst| delta::decode(BLOCK, src, true, dst))
}

/// [`decode`], through `last`: a block equal to the run-length block decoded last appends its
/// remembered times; a run-length block that differs is decoded and remembered in its place
/// (one more copy); other blocks just decode.
pub fn decode_remembered(src: &[u8], dst: &mut Vec<i64>, last: &mut LastRun) -> Result<()> {
    if !last.block.is_empty() && last.block == src {
        dst.extend_from_slice(&last.times);
        return Ok(());
    }
    let start = dst.len();
    decode(src, dst)?;
    if src.first().is_some_and(|&header| header >> 4 == delta::RLE) {
        last.block.clear();
        last.block.extend_from_slice(src);
        last.times.clear();
        last.times.extend_from_slice(&dst[start..]);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::EncodingError;
    use super::*;
    use proptest::prelude::*;

    fn round_trip(src: &[i64]) -> Vec<u8> {
        let mut block = Vec::new();
        encode(src, &mut block).unwrap();
        let mut out = vec![7];
        decode(&block, &mut out).unwrap();
        assert_eq!(out[0], 7, "decode appends");
        assert_eq!(&out[1..], src);
        block
    }

    #[test]
    fn regular_series_is_run_length_encoded() {
        // Times 1e9, 1e9+10e9, 1e9+20e9: delta 10^10 → k = 10, scaled delta 1, zigzag 2, count 3.
        let block = round_trip(&[1_000_000_000, 11_000_000_000, 21_000_000_000]);
        let mut expected = vec![0x2a];
        expected.extend_from_slice(&1_000_000_000i64.to_be_bytes());
        expected.extend_from_slice(&[2, 3]);
        assert_eq!(block, expected);
    }

    #[test]
    fn irregular_series_is_scaled_and_packed() {
        // Deltas 1000 and 3000 → k = 3, scaled 1 and 3, zigzag 2 and 6.
        // Two codes: the densest selector holding exactly 2 values is 14 (2 x 30 bits).
        let block = round_trip(&[5, 1005, 4005]);
        let mut expected = vec![0x13];
        expected.extend_from_slice(&5i64.to_be_bytes());
        expected.extend_from_slice(&((14u64 << 60) | 2 | (6 << 30)).to_be_bytes());
        assert_eq!(block, expected);
    }

    #[test]
    fn huge_deltas_fall_back_to_raw() {
        let block = round_trip(&[i64::MIN, i64::MAX, 0]);
        assert_eq!(block[0], 0x00);
        assert_eq!(block.len(), 1 + 3 * 8);
    }

    #[test]
    fn empty_and_single_values() {
        assert_eq!(round_trip(&[]), vec![0x00]);
        let mut expected = vec![0x10];
        expected.extend_from_slice(&(-42i64).to_be_bytes());
        assert_eq!(round_trip(&[-42]), expected);
    }

    #[test]
    fn bytes_per_point_for_a_regular_10s_series() {
        let times: Vec<i64> = (0..1000)
            .map(|i| 1_700_000_000_000_000_000 + i * 10_000_000_000)
            .collect();
        let block = round_trip(&times);
        // Header 1 + first 8 + varint delta 1 + varint count 1000 (2 bytes) = 12 bytes.
        assert_eq!(block.len(), 12);
        // With one 1 s jitter the series no longer is a run: k = 9, codes 20 (10 s) and 22 (11 s).
        let mut jittered = times.clone();
        for t in &mut jittered[500..] {
            *t += 1_000_000_000;
        }
        let packed = round_trip(&jittered);
        println!(
            "timestamps, 1000 points every 10 s: {} bytes ({:.4} bytes/point); with one jitter: {} bytes ({:.4} bytes/point)",
            block.len(),
            block.len() as f64 / 1000.0,
            packed.len(),
            packed.len() as f64 / 1000.0
        );
        assert!(packed.len() < 1000, "{} bytes", packed.len());
    }

    #[test]
    fn run_length_blocks_decode_exactly_across_chunks_and_wrap() {
        // first -5, delta 3 (zigzag 6), count 130 = varint [0x82, 0x01]: the run
        // spans three 64-value chunks; value i is -5 + 3 * i.
        let mut block = vec![0x20];
        block.extend_from_slice(&(-5i64).to_be_bytes());
        block.extend_from_slice(&[6, 0x82, 0x01]);
        let mut out = vec![1];
        decode(&block, &mut out).unwrap();
        let expected: Vec<i64> = (0..130).map(|i| -5 + 3 * i).collect();
        assert_eq!(&out[1..], &expected[..]);
        assert_eq!((out[1], out[65], out[130]), (-5, 187, 382));
        // A single-value run, and one that wraps past i64::MAX:
        // MAX - 1, MAX, then MIN (delta 1 = zigzag 2).
        let mut single = vec![0x20];
        single.extend_from_slice(&42i64.to_be_bytes());
        single.extend_from_slice(&[2, 1]);
        let mut out = Vec::new();
        decode(&single, &mut out).unwrap();
        assert_eq!(out, vec![42]);
        let mut wrap = vec![0x20];
        wrap.extend_from_slice(&(i64::MAX - 1).to_be_bytes());
        wrap.extend_from_slice(&[2, 3]);
        let mut out = Vec::new();
        decode(&wrap, &mut out).unwrap();
        assert_eq!(out, vec![i64::MAX - 1, i64::MAX, i64::MIN]);
    }

    #[test]
    fn packed_blocks_decode_runs_of_ones_and_wide_selectors_exactly() {
        // k = 3 (header 0x13): codes are scaled by 1000. First 1_000_000, then
        // selector 0 (240 codes 1 = zigzag -1: -1000 each), then selector 15
        // with code 4 (zigzag +2: +2000).
        let mut block = vec![0x13];
        block.extend_from_slice(&1_000_000i64.to_be_bytes());
        block.extend_from_slice(&0u64.to_be_bytes());
        block.extend_from_slice(&((15u64 << 60) | 4).to_be_bytes());
        let mut out = Vec::new();
        decode(&block, &mut out).unwrap();
        assert_eq!(out.len(), 1 + 240 + 1);
        let expected: Vec<i64> = (0..=240).map(|i| 1_000_000 - 1000 * i).collect();
        assert_eq!(&out[..241], &expected[..]);
        // 1_000_000 - 240_000 = 760_000, then + 2000.
        assert_eq!(out[241], 762_000);
        // Selector 1 (120 ones, -1 each) then selector 14 with codes 2 and 6
        // (+1, +3): 1 + 120 + 2 values ending at 5 - 120 + 1 + 3 = -111.
        let mut block = vec![0x10];
        block.extend_from_slice(&5i64.to_be_bytes());
        block.extend_from_slice(&(1u64 << 60).to_be_bytes());
        block.extend_from_slice(&((14u64 << 60) | 2 | (6 << 30)).to_be_bytes());
        let mut out = Vec::new();
        decode(&block, &mut out).unwrap();
        assert_eq!(out.len(), 123);
        assert_eq!(
            (out[0], out[120], out[121], out[122]),
            (5, -115, -114, -111)
        );
        // A packed block whose word is cut short: the error names the offset.
        let err = decode(&block[..block.len() - 3], &mut out).unwrap_err();
        assert_eq!(
            err.to_string(),
            "timestamp block: truncated at byte 17 of 22"
        );
        assert_eq!(out.len(), 123, "dst unchanged on error");
    }

    #[test]
    fn corrupt_blocks_are_errors() {
        let mut out = vec![1, 2];
        let err = decode(&[], &mut out).unwrap_err();
        assert_eq!(err.to_string(), "timestamp block: truncated at byte 0 of 0");
        let err = decode(&[0x30], &mut out).unwrap_err();
        assert!(matches!(
            err,
            EncodingError::UnknownEncoding { kind: 3, .. }
        ));
        let err = decode(&[0x10, 0, 0, 0], &mut out).unwrap_err();
        assert_eq!(err.to_string(), "timestamp block: truncated at byte 1 of 4");
        // Raw block with one and a half values.
        let err = decode(&[0x00, 0, 0, 0, 0, 0, 0, 0, 1, 9, 9, 9, 9], &mut out).unwrap_err();
        assert_eq!(
            err.to_string(),
            "timestamp block: truncated at byte 9 of 13"
        );
        // Run length with a count of zero, and one claiming 2^40 values.
        let mut rle = vec![0x20, 0, 0, 0, 0, 0, 0, 0, 0, 2];
        let mut zero = rle.clone();
        zero.push(0);
        assert!(decode(&zero, &mut out).is_err());
        rle.extend_from_slice(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x20]);
        let err = decode(&rle, &mut out).unwrap_err();
        assert!(err.to_string().contains("exceeds the limit"), "{err}");
        assert_eq!(out, vec![1, 2], "dst unchanged on error");
    }

    #[test]
    fn remembered_runs_decode_like_the_blocks() {
        // Three series on one 10 s schedule, one starting 1 s later, one irregular, one
        // empty, then the first schedule again: each decode through `last` must equal a plain
        // decode of the same block, appended after what `dst` held.
        let schedule: Vec<i64> = (0..720).map(|i| 1_000 + i * 10_000_000_000).collect();
        let later: Vec<i64> = schedule.iter().map(|t| t + 1_000_000_000).collect();
        let irregular: Vec<i64> = (0..700).map(|i| i * i * 1000).collect();
        let short: Vec<i64> = schedule[..719].to_vec();
        let series = [
            &schedule[..],
            &schedule[..],
            &schedule[..],
            &later[..],
            &irregular[..],
            &[],
            &short[..],
            &schedule[..],
        ];
        let mut last = LastRun::default();
        let mut dst = vec![-1];
        let mut want = vec![-1];
        for times in series {
            let mut block = Vec::new();
            encode(times, &mut block).unwrap();
            decode_remembered(&block, &mut dst, &mut last).unwrap();
            want.extend_from_slice(times);
            assert_eq!(dst, want);
        }
        // The last run remembered is the schedule's (the irregular block is not a run).
        let mut block = Vec::new();
        encode(&schedule, &mut block).unwrap();
        assert_eq!((last.block, last.times), (block, schedule.clone()));
        // A damaged block is an error, leaves `dst` alone and is not remembered.
        let mut last = LastRun::default();
        let mut dst = vec![5];
        assert!(decode_remembered(&[0x20, 0, 0], &mut dst, &mut last).is_err());
        assert!(decode_remembered(&[0x20, 0, 0], &mut dst, &mut last).is_err());
        assert_eq!(dst, vec![5]);
        assert!(last.block.is_empty());
    }

    proptest! {
        #[test]
        fn round_trips_any_times(src in proptest::collection::vec(any::<i64>(), 0..300)) {
            round_trip(&src);
        }

        #[test]
        fn round_trips_sorted_regularish_times(
            start in any::<i64>(),
            steps in proptest::collection::vec(prop_oneof![Just(10_000_000_000i64), 0i64..5_000, Just(1_000_000)], 0..300),
        ) {
            let mut t = start;
            let src: Vec<i64> = steps.iter().map(|s| { t = t.wrapping_add(*s); t }).collect();
            round_trip(&src);
        }
    }
}
