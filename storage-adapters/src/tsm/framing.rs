//! Record framing shared by the WAL, the series log and tombstone files
//! (format in `docs/storage.md`, "Record framing"). Every record is
//!
//! ```text
//! magic (4) | u32 payload length | u32 CRC32(payload) | u32 CRC32(the 12 bytes before) | payload
//! ```
//!
//! The magic names the file kind and the format version, so a reader can
//! resynchronise after a damaged record (scan forward for the next offset
//! where magic, header checksum and payload checksum all validate) and a file
//! of another kind or version is never misread. The header checksum covers
//! the length: a flipped length byte is a damaged record, never a record that
//! seems to run past the end of the file (a torn tail).
//!
//! [`scan`] splits a file into [`Frame`]s: intact records, damaged byte
//! ranges it skipped, and a torn tail (an incomplete last record, the trace of
//! a write that never returned). What to do with damage is the caller's
//! choice: the WAL skips it, the series log rebuilds, tombstones fail reads.

use std::path::Path;

use super::error::{Result, TsmError};

/// Version of the framing written by this build (the fourth magic byte).
pub(crate) const VERSION: u8 = 2;
/// Bytes before the payload.
pub(crate) const HEADER_LEN: usize = 16;

/// The kind of file a record belongs to: its magic and a name for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Kind {
    magic: [u8; 4],
    name: &'static str,
    /// What to do with a file of an older version.
    upgrade: &'static str,
}

/// WAL segment records.
pub(crate) const WAL: Kind = Kind {
    magic: [0xD7, b'Q', b'W', VERSION],
    name: "WAL segment",
    upgrade:
        "open the store once with the tsq that wrote it and let it snapshot (flush) the \
              cache, which removes the segment, or delete the segment and lose its unflushed points",
};
/// Series log records.
pub(crate) const SERIES_LOG: Kind = Kind {
    magic: [0xD7, b'Q', b'S', VERSION],
    name: "series log",
    upgrade: "delete it: the next open rebuilds it from the TSM files and the WAL",
};
/// Tombstone file records.
pub(crate) const TOMBSTONE: Kind = Kind {
    magic: [0xD7, b'Q', b'T', VERSION],
    name: "tombstone file",
    upgrade: "compact the shard with the tsq that wrote it, which applies and removes tombstones",
};

/// Appends one framed record holding `payload` to `out`.
pub(crate) fn put_record(out: &mut Vec<u8>, kind: Kind, payload: &[u8]) {
    let start = out.len();
    out.extend_from_slice(&kind.magic);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_be_bytes());
    let header_crc = crc32fast::hash(&out[start..start + 12]);
    out.extend_from_slice(&header_crc.to_be_bytes());
    out.extend_from_slice(payload);
}

/// One piece of a scanned file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Frame<'a> {
    /// An intact record starting at byte `at`.
    Record {
        /// Offset of the record's header.
        at: usize,
        /// Its payload.
        payload: &'a [u8],
    },
    /// Bytes `at..end` hold no intact record and were skipped; the next
    /// frame (if any) starts at `end`.
    Damaged {
        /// First damaged byte.
        at: usize,
        /// End (exclusive) of the skipped range.
        end: usize,
        /// What was wrong at `at`.
        reason: String,
    },
    /// The file ends at byte `at` in an incomplete record: fewer bytes than
    /// a header, or a valid header announcing more payload than is left.
    TornTail {
        /// Offset of the incomplete record.
        at: usize,
        /// What is missing.
        reason: String,
    },
}

/// Damage found at one offset.
#[derive(Debug)]
struct Bad {
    reason: String,
    /// Length of the whole record when its header (and so its length) is
    /// intact and only the payload is damaged.
    len: Option<usize>,
}

impl Bad {
    fn header(reason: impl Into<String>) -> Bad {
        Bad {
            reason: reason.into(),
            len: None,
        }
    }
}

/// What lies at `at`: a whole record (`Ok(Some(len))` = header plus
/// payload), a torn tail (`Ok(None)`), or damage.
fn probe(bytes: &[u8], at: usize, kind: Kind) -> Result<Option<usize>, Bad> {
    let rest = &bytes[at..];
    if rest.len() < HEADER_LEN {
        return Ok(None);
    }
    if rest[..4] != kind.magic {
        return Err(Bad::header(format!("no {} record marker", kind.name)));
    }
    let word = |i: usize| u32::from_be_bytes([rest[i], rest[i + 1], rest[i + 2], rest[i + 3]]);
    if crc32fast::hash(&rest[..12]) != word(12) {
        return Err(Bad::header("record header checksum mismatch"));
    }
    let len = word(4) as usize;
    if rest.len() - HEADER_LEN < len {
        return Ok(None);
    }
    if crc32fast::hash(&rest[HEADER_LEN..HEADER_LEN + len]) != word(8) {
        return Err(Bad {
            reason: format!("payload checksum mismatch ({len} bytes)"),
            len: Some(HEADER_LEN + len),
        });
    }
    Ok(Some(HEADER_LEN + len))
}

/// The first offset after `from` where an intact record (or a valid header
/// of a torn tail) starts.
fn resync(bytes: &[u8], from: usize, kind: Kind) -> Option<usize> {
    (from..bytes.len().saturating_sub(HEADER_LEN - 1))
        .find(|&at| bytes[at] == kind.magic[0] && probe(bytes, at, kind).is_ok())
}

/// Splits `bytes` (a whole file of `kind`) into frames, in file order.
pub(crate) fn scan(bytes: &[u8], kind: Kind) -> Vec<Frame<'_>> {
    let mut frames = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        match probe(bytes, at, kind) {
            Ok(Some(n)) => {
                frames.push(Frame::Record {
                    at,
                    payload: &bytes[at + HEADER_LEN..at + n],
                });
                at += n;
            }
            Ok(None) => {
                let reason = if bytes.len() - at < HEADER_LEN {
                    format!("{} of {HEADER_LEN} header bytes", bytes.len() - at)
                } else {
                    format!("payload cut short, {} bytes left", bytes.len() - at)
                };
                frames.push(Frame::TornTail { at, reason });
                break;
            }
            Err(Bad { reason, len }) => {
                // A damaged record whose header is intact ends where its
                // length says (so bytes inside its payload are never taken
                // for a record); otherwise look for the next marker.
                let end = match len {
                    Some(n) => at + n,
                    None => resync(bytes, at + 1, kind).unwrap_or(bytes.len()),
                };
                frames.push(Frame::Damaged { at, end, reason });
                at = end;
            }
        }
    }
    frames
}

/// Refuses a file written with the version 1 framing (`[u32 length][u32
/// CRC32(payload)][payload]`, no marker): when the file does not start with
/// a record of this version but does start with an intact version 1 record.
pub(crate) fn check_version(bytes: &[u8], kind: Kind, path: &Path) -> Result<()> {
    if matches!(probe(bytes, 0, kind), Ok(Some(_))) {
        return Ok(());
    }
    let v1 = bytes.len() >= 8 && {
        let len = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
        let crc = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
        bytes.len() - 8 >= len && crc32fast::hash(&bytes[8..8 + len]) == crc
    };
    if v1 {
        return Err(TsmError::Unsupported {
            path: path.to_path_buf(),
            message: format!(
                "{} written in record format version 1 by an older tsq; this build reads \
                 version {VERSION} only ({})",
                kind.name, kind.upgrade
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(payloads: &[&[u8]]) -> Vec<u8> {
        let mut b = Vec::new();
        for p in payloads {
            put_record(&mut b, WAL, p);
        }
        b
    }

    fn payloads<'a>(frames: &[Frame<'a>]) -> Vec<&'a [u8]> {
        frames
            .iter()
            .filter_map(|f| match f {
                Frame::Record { payload, .. } => Some(*payload),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn record_layout_is_marker_length_crcs_payload() {
        let b = file(&[b"abc"]);
        assert_eq!(&b[..4], &[0xD7, b'Q', b'W', 2]);
        assert_eq!(&b[4..8], &[0, 0, 0, 3]);
        assert_eq!(&b[8..12], &crc32fast::hash(b"abc").to_be_bytes());
        assert_eq!(&b[12..16], &crc32fast::hash(&b[..12]).to_be_bytes());
        assert_eq!(&b[16..], b"abc");
        assert_eq!(
            scan(&b, WAL),
            vec![Frame::Record {
                at: 0,
                payload: b"abc"
            }]
        );
        // Another kind's marker is not a record of this kind.
        assert!(matches!(
            scan(&b, TOMBSTONE)[0],
            Frame::Damaged { at: 0, end: 19, .. }
        ));
    }

    #[test]
    fn every_flipped_byte_skips_exactly_its_record() {
        let recs: [&[u8]; 3] = [b"first record", b"second", b"third one"];
        let clean = file(&recs);
        let second = 16 + recs[0].len();
        let third = second + 16 + recs[1].len();
        for i in 0..clean.len() {
            let mut b = clean.clone();
            b[i] ^= 0x40;
            let frames = scan(&b, WAL);
            let hit = usize::from(i >= second) + usize::from(i >= third);
            let mut want: Vec<&[u8]> = recs.to_vec();
            want.remove(hit);
            assert_eq!(payloads(&frames), want, "flip at byte {i}");
            let starts = [0, second, third, clean.len()];
            let damaged: Vec<(usize, usize)> = frames
                .iter()
                .filter_map(|f| match f {
                    Frame::Damaged { at, end, .. } => Some((*at, *end)),
                    _ => None,
                })
                .collect();
            assert_eq!(
                damaged,
                vec![(starts[hit], starts[hit + 1])],
                "flip at byte {i}: {frames:?}"
            );
        }
    }

    #[test]
    fn a_cut_last_record_is_a_torn_tail_not_damage() {
        let clean = file(&[b"one", b"two two"]);
        let second = 19;
        for cut in second + 1..clean.len() {
            let frames = scan(&clean[..cut], WAL);
            assert_eq!(payloads(&frames), vec![&b"one"[..]], "cut at {cut}");
            assert!(
                matches!(frames.last(), Some(Frame::TornTail { at, .. }) if *at == second),
                "cut at {cut}: {frames:?}"
            );
        }
        // A flipped length byte is damage even though the length now runs
        // past the end of the file.
        let mut b = clean.clone();
        b[second + 4] ^= 0x10;
        assert!(matches!(
            scan(&b, WAL).last(),
            Some(Frame::Damaged {
                at: 19,
                end: 42,
                ..
            })
        ));
    }

    #[test]
    fn version_1_files_are_refused_with_the_path() {
        let mut old = Vec::new();
        old.extend_from_slice(&3u32.to_be_bytes());
        old.extend_from_slice(&crc32fast::hash(b"abc").to_be_bytes());
        old.extend_from_slice(b"abc");
        let p = Path::new("/d/series.log");
        let err = check_version(&old, SERIES_LOG, p).unwrap_err().to_string();
        assert!(
            err.starts_with(
                "unsupported file /d/series.log: series log written in record format version 1"
            ),
            "{err}"
        );
        assert!(
            err.ends_with("(delete it: the next open rebuilds it from the TSM files and the WAL)"),
            "{err}"
        );
        assert!(check_version(&file(&[b"x"]), WAL, p).is_ok());
        assert!(check_version(b"garbage that is not v1", WAL, p).is_ok());
    }

    proptest::proptest! {
        /// Random records, random flips and a random cut: every record whose
        /// bytes were not touched is recovered, in order, and nothing else
        /// (no record is forged from damaged bytes).
        #[test]
        fn untouched_records_survive_any_damage(
            recs in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..40), 1..8),
            flips in proptest::collection::vec((proptest::num::usize::ANY, 1u8..=255), 0..4),
            cut in proptest::num::usize::ANY,
        ) {
            let payloads_in: Vec<&[u8]> = recs.iter().map(Vec::as_slice).collect();
            let mut b = file(&payloads_in);
            let mut spans = Vec::new();
            let mut at = 0;
            for r in &recs {
                spans.push((at, at + HEADER_LEN + r.len()));
                at += HEADER_LEN + r.len();
            }
            let clean = b.clone();
            for (pos, mask) in &flips {
                let pos = pos % b.len();
                b[pos] ^= mask;
            }
            // A record is touched when any of its bytes changed (two flips
            // of one byte may cancel out) or the cut reaches into it.
            let keep = b.len() - cut % (b.len() / 2 + 1);
            b.truncate(keep);
            let touched: Vec<bool> = spans
                .iter()
                .map(|&(lo, hi)| hi > keep || b[lo..hi] != clean[lo..hi])
                .collect();
            let want: Vec<&[u8]> = recs
                .iter()
                .zip(&touched)
                .filter(|(_, t)| !**t)
                .map(|(r, _)| r.as_slice())
                .collect();
            proptest::prop_assert_eq!(payloads(&scan(&b, WAL)), want);
        }
    }
}
