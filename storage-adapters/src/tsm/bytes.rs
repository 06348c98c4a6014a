//! Little byte-level helpers shared by the WAL, the series log, tombstones and
//! the TSM index: unsigned LEB128 varints, length-prefixed strings and a
//! bounds-checked [`Cursor`] that reports the offset where input ran out.

/// Appends `v` as an unsigned LEB128 varint.
pub(crate) fn put_uvarint(dst: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        dst.push((v as u8) | 0x80);
        v >>= 7;
    }
    dst.push(v as u8);
}

/// Appends a varint length followed by the bytes of `s`.
pub(crate) fn put_str(dst: &mut Vec<u8>, s: &str) {
    put_uvarint(dst, s.len() as u64);
    dst.extend_from_slice(s.as_bytes());
}

/// A read position over a byte slice; every getter fails with the offset
/// (relative to the slice) instead of panicking.
#[derive(Debug)]
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `buf`.
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    /// The current offset.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// True when every byte was consumed.
    pub(crate) fn is_done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// The next `n` bytes.
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.buf.len() - self.pos < n {
            return Err(format!(
                "truncated at byte {} of {} (wanted {n} more)",
                self.pos,
                self.buf.len()
            ));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// One byte.
    pub(crate) fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    /// A big-endian u32.
    pub(crate) fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A big-endian u64.
    pub(crate) fn u64(&mut self) -> Result<u64, String> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    /// A big-endian i64.
    pub(crate) fn i64(&mut self) -> Result<i64, String> {
        Ok(self.u64()? as i64)
    }

    /// An unsigned LEB128 varint.
    pub(crate) fn uvarint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(format!("varint too long at byte {}", self.pos))
    }

    /// A varint used as a count or length, capped by the remaining bytes
    /// times `min_item_bytes` so hostile input cannot ask for huge buffers.
    pub(crate) fn len(&mut self, min_item_bytes: usize) -> Result<usize, String> {
        let at = self.pos;
        let n = self.uvarint()?;
        let left = (self.buf.len() - self.pos) as u64;
        if n.saturating_mul(min_item_bytes as u64) > left {
            return Err(format!(
                "length {n} at byte {at} exceeds the {left} bytes left"
            ));
        }
        Ok(n as usize)
    }

    /// A length-prefixed UTF-8 string.
    pub(crate) fn str(&mut self) -> Result<String, String> {
        self.str_ref().map(str::to_string)
    }

    /// A length-prefixed UTF-8 string, borrowed from the buffer.
    pub(crate) fn str_ref(&mut self) -> Result<&'a str, String> {
        let at = self.pos;
        let n = self.len(1)?;
        let b = self.take(n)?;
        std::str::from_utf8(b).map_err(|_| format!("invalid UTF-8 string at byte {at}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_with_hand_worked_bytes() {
        let mut b = Vec::new();
        put_uvarint(&mut b, 300); // 300 = 0b10_0101100 -> 0xAC 0x02
        put_str(&mut b, "hé");
        assert_eq!(b, vec![0xAC, 0x02, 3, b'h', 0xC3, 0xA9]);
        let mut c = Cursor::new(&b);
        assert_eq!(c.uvarint().unwrap(), 300);
        assert_eq!(c.str().unwrap(), "hé");
        assert!(c.is_done());
        let mut short = Cursor::new(&[5, b'a']);
        assert_eq!(
            short.str().unwrap_err(),
            "length 5 at byte 0 exceeds the 1 bytes left"
        );
        assert!(Cursor::new(&[1, 2])
            .u32()
            .unwrap_err()
            .contains("truncated at byte 0 of 2"));
    }
}
