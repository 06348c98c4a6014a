//! Bit-level writer and reader for the Gorilla float codec: bits are written most significant first
//! into bytes, and the last byte is padded with zero bits.

use super::bytes::ByteReader;
use super::Result;

/// Appends bits to a byte vector, most significant bit first.
pub(crate) struct BitWriter<'a> {
    dst: &'a mut Vec<u8>,
    /// Bits of the byte being filled, right-aligned.
    cur: u8,
    /// How many bits of `cur` are used (0..8).
    cur_bits: u32,
}

impl<'a> BitWriter<'a> {
    /// Starts writing at the end of `dst`.
    pub(crate) fn new(dst: &'a mut Vec<u8>) -> Self {
        Self {
            dst,
            cur: 0,
            cur_bits: 0,
        }
    }

    /// Writes the low `n` bits of `value` (`n <= 64`), most significant first.
    pub(crate) fn write_bits(&mut self, value: u64, mut n: u32) {
        while n > 0 {
            let take = (8 - self.cur_bits).min(n);
            let bits = ((value >> (n - take)) & ((1u64 << take) - 1)) as u8;
            // `take` can be 8 only when `cur` is empty, where the shifted-out bits are all zero.
            self.cur = ((u16::from(self.cur) << take) as u8) | bits;
            self.cur_bits += take;
            n -= take;
            if self.cur_bits == 8 {
                self.dst.push(self.cur);
                self.cur = 0;
                self.cur_bits = 0;
            }
        }
    }

    /// Writes one bit.
    #[cfg(test)]
    pub(crate) fn write_bit(&mut self, bit: bool) {
        self.write_bits(u64::from(bit), 1);
    }

    /// Flushes the partial last byte, padded with zero bits.
    pub(crate) fn finish(self) {
        if self.cur_bits > 0 {
            self.dst.push(self.cur << (8 - self.cur_bits));
        }
    }
}

/// Reads bits most significant first from the unread part of a [`ByteReader`]'s block.
pub(crate) struct BitReader<'a> {
    bytes: ByteReader<'a>,
    data: &'a [u8],
    /// Byte offset of `data[0]` within the block, for error messages.
    base: usize,
    /// Next bit to read, counted from the start of `data`.
    bit: usize,
}

impl<'a> BitReader<'a> {
    /// Reads the rest of the block behind `bytes`.
    pub(crate) fn new(bytes: ByteReader<'a>) -> Self {
        let data = bytes.rest();
        let base = bytes.pos();
        Self {
            bytes,
            data,
            base,
            bit: 0,
        }
    }

    /// Bits not yet read.
    pub(crate) fn remaining(&self) -> usize {
        self.data.len() * 8 - self.bit
    }

    /// Byte offset (in the block) of the byte holding the next bit.
    pub(crate) fn byte_pos(&self) -> usize {
        self.base + self.bit / 8
    }

    /// The reader of the enclosing block, for error construction.
    pub(crate) fn bytes(&self) -> &ByteReader<'a> {
        &self.bytes
    }

    /// Reads `n <= 64` bits as the low bits of a u64.
    pub(crate) fn read_bits(&mut self, mut n: u32) -> Result<u64> {
        if self.remaining() < n as usize {
            return Err(self.bytes.truncated(self.byte_pos()));
        }
        let mut value = 0u64;
        while n > 0 {
            let byte = self.data[self.bit / 8];
            let used = (self.bit % 8) as u32;
            let take = (8 - used).min(n);
            let bits = (byte >> (8 - used - take)) & ((1u16 << take) - 1) as u8;
            value = (value << take) | u64::from(bits);
            self.bit += take as usize;
            n -= take;
        }
        Ok(value)
    }

    /// Reads one bit.
    pub(crate) fn read_bit(&mut self) -> Result<bool> {
        Ok(self.read_bits(1)? == 1)
    }

    /// Fails unless only zero padding bits of the last byte are left.
    pub(crate) fn expect_end(&self) -> Result<()> {
        let left = self.remaining();
        if left >= 8 {
            return Err(self
                .bytes
                .corrupt(self.byte_pos(), format!("{} trailing bits", left)));
        }
        let last = self.data.last().copied().unwrap_or(0);
        if left > 0 && last & ((1u8 << left) - 1) != 0 {
            return Err(self.bytes.corrupt(self.byte_pos(), "non-zero padding bits"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_reads_across_byte_boundaries() {
        let mut buf = Vec::new();
        let mut w = BitWriter::new(&mut buf);
        w.write_bits(0b101, 3);
        w.write_bits(0xABCD, 16);
        w.write_bit(true);
        w.write_bits(u64::MAX, 64);
        w.finish();
        // 3 + 16 + 1 + 64 = 84 bits → 11 bytes; first byte 101 + top 5 bits of 0xABCD (10101).
        assert_eq!(buf.len(), 11);
        assert_eq!(buf[0], 0b1011_0101);
        let mut r = BitReader::new(ByteReader::new("test", &buf, 0));
        assert_eq!(r.read_bits(3).unwrap(), 0b101);
        assert_eq!(r.read_bits(16).unwrap(), 0xABCD);
        assert!(r.read_bit().unwrap());
        assert_eq!(r.read_bits(64).unwrap(), u64::MAX);
        r.expect_end().unwrap();
        let err = r.read_bits(8).unwrap_err();
        assert_eq!(err.to_string(), "test block: truncated at byte 10 of 11");
    }
}
