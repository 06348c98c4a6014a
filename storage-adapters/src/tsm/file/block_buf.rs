//! [`BlockBuf`]: the one reusable read buffer of a scan. A scan reads many
//! small blocks, usually in file order (series keys sort the way scans visit
//! them), so one positioned read per block would spend most of its time in
//! system calls. The buffer remembers which file range it holds and, while
//! each read continues where the held bytes end, reads ahead in a window that
//! doubles from [`MIN_WINDOW`] up to [`MAX_WINDOW`]; a backward jump, a long
//! skip forward (a sparse selection) or a new file starts again with a read
//! of just the block. TSM files never change
//! once written, so bytes read ahead stay valid for as long as the file is
//! open. Every block is still CRC-checked when decoded. The buffer also
//! keeps the scan's last run-length timestamp block and its times
//! ([`LastRun`]): series sampled on one schedule share it. A scan whose
//! range spans several files (day shards) reads each series from each file
//! in turn; each file gets a buffer of its own (`BlockBuf::for_file`), so
//! that the files' read-ahead windows and index hints survive the turns.

use crate::tsm::encoding::timestamp::LastRun;

/// Read-ahead after the first forward step within a file.
pub const MIN_WINDOW: usize = 16 << 10;
/// Largest read-ahead window.
pub const MAX_WINDOW: usize = 256 << 10;

/// Bytes of one file range, reused across block reads (see the module docs).
#[derive(Debug, Default)]
pub struct BlockBuf {
    /// Serial number of the reader whose bytes `data` holds; 0 for none.
    pub(super) file: u64,
    /// File offset of `data[0]`.
    pub(super) at: u64,
    /// The bytes held: the first `held` of `data`, which only grows (a window
    /// read after a shorter one is not zeroed again first).
    pub(super) data: Vec<u8>,
    /// Bytes of `data` that hold the file range starting at `at`.
    pub(super) held: usize,
    /// File offset just past the last block served.
    pub(super) next: u64,
    /// Current read-ahead window in bytes (0 before the first forward step).
    pub(super) window: usize,
    /// Reader serial and index position of the last index entry looked up,
    /// for [`TsmReader::entry_near`](super::reader::TsmReader::entry_near).
    pub(super) entry_hint: (u64, usize),
    /// The gap between the last two index entries looked up in this file
    /// ([`TsmReader::entry_strided`](super::reader::TsmReader::entry_strided)).
    pub(super) entry_stride: usize,
    /// The last run-length timestamp block decoded, for the next block of a
    /// series on the same schedule ([`LastRun`]).
    pub(super) last_run: LastRun,
    /// Serial of the reader this buffer serves ([`for_file`](Self::for_file));
    /// 0 while it serves none.
    owner: u64,
    /// The buffers of the other files the scan reads, at most
    /// [`OTHER_FILES`], the oldest replaced first.
    others: Vec<BlockBuf>,
}

/// Files besides the first whose buffers a scan keeps: a range over up to
/// four day shards keeps every file's read-ahead.
const OTHER_FILES: usize = 3;

impl BlockBuf {
    /// An empty buffer.
    pub fn new() -> Self {
        BlockBuf::default()
    }

    /// The buffer of the reader with serial `file`: this one when it serves
    /// that file or none yet, else one of the others (a new one, replacing
    /// the oldest when [`OTHER_FILES`] are kept).
    pub(super) fn for_file(&mut self, file: u64) -> &mut BlockBuf {
        if self.owner == file || self.owner == 0 {
            self.owner = file;
            return self;
        }
        let k = match self.others.iter().position(|b| b.owner == file) {
            Some(k) => k,
            None => {
                if self.others.len() == OTHER_FILES {
                    self.others.remove(0);
                }
                self.others.push(BlockBuf {
                    owner: file,
                    ..BlockBuf::default()
                });
                self.others.len() - 1
            }
        };
        &mut self.others[k]
    }

    /// True when the buffer holds bytes `start..end` of file `file`.
    pub(super) fn holds(&self, file: u64, start: u64, end: u64) -> bool {
        self.file == file && start >= self.at && end <= self.at + self.held as u64
    }

    /// The window for a miss at `start` in file `file`: doubled when the
    /// read continues where the held bytes end (a dense forward scan), kept
    /// when it skips less than one window forward, none otherwise (another
    /// file, a backward jump, or a sparse scan that would waste read-ahead).
    pub(super) fn next_window(&self, file: u64, start: u64) -> usize {
        if self.file != file || start < self.next {
            return 0;
        }
        let held_end = self.at + self.held as u64;
        if start <= held_end {
            (self.window * 2).clamp(MIN_WINDOW, MAX_WINDOW)
        } else if start - held_end <= self.window as u64 {
            self.window
        } else {
            0
        }
    }

    /// The bytes `start..end` of the held range; the caller checked
    /// [`holds`](Self::holds).
    pub(super) fn slice(&self, start: u64, end: u64) -> &[u8] {
        &self.data[(start - self.at) as usize..(end - self.at) as usize]
    }

    /// Room for `len` bytes to be read into, as the held bytes from now on
    /// (the caller sets `file` and `at` once they are read).
    pub(super) fn room(&mut self, len: usize) -> &mut [u8] {
        if self.data.len() < len {
            self.data.resize(len, 0);
        }
        self.held = len;
        &mut self.data[..len]
    }
}

/// Most buffers a [`BlockBufPool`] keeps (each up to [`MAX_WINDOW`] bytes
/// per file it read, for at most 1 + [`OTHER_FILES`] files: 8 MiB in all).
const POOLED: usize = 8;

/// The read buffers of finished scans, for the next scans of the same
/// adapter: a query then reads into a buffer that is already as large as its
/// read-ahead gets (no growing, no zeroing, no fresh pages) and may still
/// hold the last bytes it read (TSM files never change once written, and
/// `BlockBuf::holds` names the file by its reader's unique serial). At most
/// eight buffers are kept.
#[derive(Default)]
pub struct BlockBufPool {
    free: std::sync::Mutex<Vec<BlockBuf>>,
}

impl BlockBufPool {
    /// A kept buffer, or a new one.
    pub fn take(&self) -> BlockBuf {
        crate::sync::lock(&self.free).pop().unwrap_or_default()
    }

    /// Keeps `buf` for a later scan, unless the pool is full.
    pub fn put(&self, buf: BlockBuf) {
        let mut free = crate::sync::lock(&self.free);
        if free.len() < POOLED {
            free.push(buf);
        }
    }
}

impl std::fmt::Debug for BlockBufPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kept = crate::sync::lock(&self.free).len();
        f.debug_struct("BlockBufPool").field("kept", &kept).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_grows_only_while_reading_forward_densely_in_one_file() {
        let mut b = BlockBuf::new();
        // Nothing held: the first read of file 7 gets no read-ahead.
        assert_eq!(b.next_window(7, 100), 0);
        b.file = 7;
        b.at = 100;
        b.data = vec![0; 50];
        b.held = 50;
        b.next = 150;
        assert!(b.holds(7, 100, 150));
        assert!(!b.holds(7, 100, 151));
        assert!(!b.holds(8, 100, 150));
        // Continuing at the end of the held bytes: 0 doubles to 0, clamped up
        // to MIN_WINDOW; a jump past them with no window: none.
        assert_eq!(b.next_window(7, 150), MIN_WINDOW);
        assert_eq!(b.next_window(7, 151), 0);
        // With a window, bytes 100..100 + MIN_WINDOW held.
        b.window = MIN_WINDOW;
        b.data = vec![0; MIN_WINDOW];
        b.held = MIN_WINDOW;
        let end = 100 + MIN_WINDOW as u64;
        assert_eq!(b.next_window(7, end - 10), 2 * MIN_WINDOW);
        assert_eq!(b.next_window(7, end), 2 * MIN_WINDOW);
        // A skip of at most one window keeps it; a longer one drops it.
        assert_eq!(b.next_window(7, end + MIN_WINDOW as u64), MIN_WINDOW);
        assert_eq!(b.next_window(7, end + MIN_WINDOW as u64 + 1), 0);
        b.window = MAX_WINDOW;
        assert_eq!(b.next_window(7, end), MAX_WINDOW);
        // Backwards, or another file: back to just the block.
        assert_eq!(b.next_window(7, 120), 0);
        assert_eq!(b.next_window(9, end), 0);
    }

    #[test]
    fn each_file_keeps_its_own_buffer_hint_and_window() {
        let mut b = BlockBuf::new();
        // the first file served takes this buffer
        let first = b.for_file(7);
        first.at = 100;
        first.window = MIN_WINDOW;
        first.entry_hint = (7, 40);
        // files 8, 9 and 10 get buffers of their own; 7's is untouched
        for (f, at) in [(8, 200), (9, 300), (10, 400)] {
            let other = b.for_file(f);
            assert_eq!((other.at, other.window, other.entry_hint), (0, 0, (0, 0)));
            other.at = at;
            other.entry_hint = (f, 1);
        }
        for (f, at, hint) in [(7, 100, 40), (8, 200, 1), (9, 300, 1), (10, 400, 1)] {
            let again = b.for_file(f);
            assert_eq!((again.at, again.entry_hint), (at, (f, hint)), "file {f}");
        }
        assert_eq!(b.for_file(7).window, MIN_WINDOW);
        // a fifth file replaces the oldest of the others (8), never the first
        assert_eq!(b.for_file(11).at, 0);
        assert_eq!(b.for_file(7).at, 100);
        assert_eq!(b.for_file(9).at, 300);
        assert_eq!(b.for_file(8).at, 0);
    }

    #[test]
    fn room_grows_the_buffer_but_holds_only_what_was_read_last() {
        let mut b = BlockBuf::new();
        b.room(100).fill(7);
        b.file = 3;
        assert!(b.holds(3, 0, 100));
        // A shorter read keeps the longer buffer, but holds only its own bytes.
        assert_eq!(b.room(10).len(), 10);
        assert_eq!(b.data.len(), 100);
        assert!(b.holds(3, 0, 10));
        assert!(!b.holds(3, 0, 11));
        assert_eq!(b.next_window(3, 10), MIN_WINDOW);
        assert_eq!(b.next_window(3, 11), 0);
    }

    #[test]
    fn the_pool_hands_back_kept_buffers_up_to_its_limit() {
        let pool = BlockBufPool::default();
        for i in 0..POOLED + 2 {
            let mut b = BlockBuf::new();
            b.at = i as u64;
            pool.put(b);
        }
        assert_eq!(format!("{pool:?}"), "BlockBufPool { kept: 8 }");
        // Last in, first out: the buffers put last before the pool filled.
        assert_eq!(pool.take().at, POOLED as u64 - 1);
        for _ in 1..POOLED {
            pool.take();
        }
        // Empty: a new buffer.
        assert_eq!(pool.take().at, 0);
        assert_eq!(format!("{pool:?}"), "BlockBufPool { kept: 0 }");
    }
}
