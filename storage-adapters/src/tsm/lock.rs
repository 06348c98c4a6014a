//! One writer per store directory: the advisory lock on `<dir>/LOCK` and the
//! check a read-only open makes against it (docs/storage.md, "Multi-process
//! rules").
//!
//! ```text
//! writer (read-write open)                 reader (read-only open)
//!   create LOCK, try exclusive flock          LOCK absent?  no writer ever: load, then
//!   busy: fail "in use by pid N (cmd)"                      re-check it is still absent
//!   write "pid / command / epoch+1"          try shared flock; busy: fail "in use by a
//!   hold until the Store drops                writer (pid N)"; read epoch E; unlock
//!                                            load files, index, WAL (no writes)
//!                                            try shared again + epoch still E? else
//!                                            the load raced a writer: retry / fail
//! ```
//!
//! The flock belongs to the open file, so a second `Store` in the same
//! process is excluded exactly like another process, and the lock dies with
//! the process (a `kill -9` leaves no stale lock). The epoch, bumped by every
//! writer, lets a reader detect a writer that came and went during its load.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::error::{IoContext, Result, TsmError};

/// Name of the lock file inside a store directory.
pub const LOCK_FILE: &str = "LOCK";

/// How long a writer retries a busy lock before it fails: a reader holds its
/// shared lock only for the instant it reads the epoch, a writer for its
/// whole life, so a short grace tells the two apart.
const WRITER_GRACE: Duration = Duration::from_millis(250);

/// What the lock file says about its last writer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holder {
    /// Process id of the writer.
    pub pid: Option<u32>,
    /// Its command line (shortened).
    pub command: String,
    /// Number of read-write opens the directory has seen.
    pub epoch: u64,
}

impl Holder {
    fn parse(text: &str) -> Holder {
        let mut holder = Holder::default();
        for line in text.lines() {
            match line.split_once(' ') {
                Some(("pid", v)) => holder.pid = v.trim().parse().ok(),
                Some(("command", v)) => holder.command = v.to_string(),
                Some(("epoch", v)) => holder.epoch = v.trim().parse().unwrap_or(0),
                _ => {}
            }
        }
        holder
    }

    fn render(&self) -> String {
        format!(
            "pid {}\ncommand {}\nepoch {}\n",
            self.pid.unwrap_or(0),
            self.command,
            self.epoch
        )
    }

    /// `pid N (command)`, or `an unknown process` when the file is empty.
    pub fn describe(&self) -> String {
        match (self.pid, self.command.is_empty()) {
            (Some(pid), false) => format!("pid {pid} ({})", self.command),
            (Some(pid), true) => format!("pid {pid}"),
            (None, _) => "an unknown process".to_string(),
        }
    }
}

/// The exclusive lock of a read-write store; released when dropped (the
/// file is closed).
#[derive(Debug)]
pub struct WriterLock {
    _file: File,
}

/// Takes the writer lock of `dir` (which must exist) and records this
/// process in it, or fails with [`TsmError::InUse`] naming the holder.
pub fn lock_writer(dir: &Path) -> Result<WriterLock> {
    let path = dir.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .at(&path)?;
    let deadline = Instant::now() + WRITER_GRACE;
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(TryLockError::WouldBlock) => {
                return Err(in_use(dir, read_holder(&mut file, &path)?, false));
            }
            Err(TryLockError::Error(e)) => return Err(TsmError::io(&path, e)),
        }
    }
    let previous = read_holder(&mut file, &path)?;
    let me = Holder {
        pid: Some(std::process::id()),
        command: command_line(),
        epoch: previous.epoch + 1,
    };
    file.set_len(0).at(&path)?;
    file.seek(SeekFrom::Start(0)).at(&path)?;
    file.write_all(me.render().as_bytes()).at(&path)?;
    file.sync_data().at(&path)?;
    Ok(WriterLock { _file: file })
}

/// What a reader saw before its load, to compare with after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaderProbe {
    dir: PathBuf,
    /// The writer epoch, or `None` when the directory has no lock file.
    epoch: Option<u64>,
}

/// Outcome of [`ReaderProbe::confirm`].
#[derive(Debug, PartialEq, Eq)]
pub enum Confirmed {
    /// No writer touched the directory during the load.
    Consistent,
    /// A writer opened and closed the store during the load: load again.
    Retry,
}

impl ReaderProbe {
    /// Checks that no writer holds `dir` and notes its epoch; never creates
    /// or changes a file.
    pub fn begin(dir: &Path) -> Result<ReaderProbe> {
        let epoch = probe(dir)?;
        Ok(ReaderProbe {
            dir: dir.to_path_buf(),
            epoch,
        })
    }

    /// Checks again after the load: still no writer, and none in between.
    pub fn confirm(&self) -> Result<Confirmed> {
        if probe(&self.dir)? == self.epoch {
            Ok(Confirmed::Consistent)
        } else {
            Ok(Confirmed::Retry)
        }
    }
}

/// The current epoch of `dir` (`None` without a lock file), or
/// [`TsmError::InUse`] when a writer holds it.
fn probe(dir: &Path) -> Result<Option<u64>> {
    let path = dir.join(LOCK_FILE);
    let mut file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(TsmError::io(&path, e)),
    };
    match file.try_lock_shared() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            return Err(in_use(dir, read_holder(&mut file, &path)?, true));
        }
        Err(TryLockError::Error(e)) => return Err(TsmError::io(&path, e)),
    }
    let holder = read_holder(&mut file, &path)?;
    file.unlock().at(&path)?;
    Ok(Some(holder.epoch))
}

fn read_holder(file: &mut File, path: &Path) -> Result<Holder> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).at(path)?;
    // A lock file that is not UTF-8 says nothing useful: treat it as empty.
    if file.read_to_string(&mut text).is_err() {
        text.clear();
    }
    Ok(Holder::parse(&text))
}

fn in_use(dir: &Path, holder: Holder, reading: bool) -> TsmError {
    TsmError::InUse {
        dir: dir.to_path_buf(),
        holder: holder.describe(),
        reading,
    }
}

/// This process's command line: program file name and arguments, one line,
/// at most 120 characters.
fn command_line() -> String {
    let mut args = std::env::args();
    let program = args
        .next()
        .map(|a| {
            Path::new(&a)
                .file_name()
                .map_or(a.clone(), |n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    let line = std::iter::once(program)
        .chain(args)
        .collect::<Vec<_>>()
        .join(" ");
    line.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(120)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsm::test_dir;

    #[test]
    fn a_second_writer_fails_with_the_holders_pid() {
        let dir = test_dir("lock_two_writers");
        let first = lock_writer(&dir).unwrap();
        let err = lock_writer(&dir).unwrap_err().to_string();
        let pid = std::process::id();
        assert!(
            err.starts_with(&format!("store {} is in use by pid {pid} (", dir.display())),
            "{err}"
        );
        drop(first);
        // Released with the file: the next writer gets it, epoch 2.
        let _second = lock_writer(&dir).unwrap();
        let text = std::fs::read_to_string(dir.join(LOCK_FILE)).unwrap();
        assert_eq!(Holder::parse(&text).epoch, 2);
        assert_eq!(Holder::parse(&text).pid, Some(pid));
    }

    #[test]
    fn a_reader_sees_the_writer_and_the_epoch() {
        let dir = test_dir("lock_reader");
        let probe = ReaderProbe::begin(&dir).unwrap();
        assert_eq!(probe.epoch, None);
        assert!(!dir.join(LOCK_FILE).exists(), "a reader creates nothing");
        let writer = lock_writer(&dir).unwrap();
        let err = ReaderProbe::begin(&dir).unwrap_err().to_string();
        assert!(
            err.contains(&format!(
                "is in use by a writer, pid {}",
                std::process::id()
            )),
            "{err}"
        );
        assert_eq!(probe.confirm().unwrap_err().to_string(), err);
        drop(writer);
        // The writer came and went during the "load": retry.
        assert_eq!(probe.confirm().unwrap(), Confirmed::Retry);
        let again = ReaderProbe::begin(&dir).unwrap();
        assert_eq!(again.epoch, Some(1));
        assert_eq!(again.confirm().unwrap(), Confirmed::Consistent);
    }

    #[test]
    fn holder_text_round_trips() {
        let h = Holder {
            pid: Some(42),
            command: "tsq import --data d f.lp".into(),
            epoch: 7,
        };
        assert_eq!(Holder::parse(&h.render()), h);
        assert_eq!(h.describe(), "pid 42 (tsq import --data d f.lp)");
        assert_eq!(Holder::parse("").describe(), "an unknown process");
    }
}
