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
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::error::{IoContext, Result, TsmError};

/// Name of the lock file inside a store directory.
pub const LOCK_FILE: &str = "LOCK";

/// How long an open retries a busy lock before it fails. A reader holds its
/// shared lock only for the instant it reads the epoch, and a writer names
/// itself right after it takes the lock and clears its name just before it
/// lets go; so a writer retries any busy lock this long, a reader only one
/// whose file names no process.
const GRACE: Duration = Duration::from_millis(250);

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
        match self.pid {
            Some(pid) => format!(
                "pid {pid}\ncommand {}\nepoch {}\n",
                self.command, self.epoch
            ),
            None => format!("epoch {}\n", self.epoch),
        }
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
/// file is closed, after its pid and command are cleared: only the epoch
/// stays).
#[derive(Debug)]
pub struct WriterLock {
    file: File,
    epoch: u64,
}

impl Drop for WriterLock {
    fn drop(&mut self) {
        let left = Holder {
            epoch: self.epoch,
            ..Holder::default()
        };
        let _ = write_holder(&self.file, &left);
    }
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
    let deadline = Instant::now() + GRACE;
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(TryLockError::WouldBlock) => {
                // A reader's probe holds the lock for an instant (and the
                // file may still name a writer that was killed): only a
                // lock held for the whole grace is another writer's.
                if Instant::now() >= deadline {
                    return Err(in_use(dir, read_holder(&mut file, &path)?, false));
                }
                std::thread::sleep(Duration::from_millis(5));
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
    write_holder(&file, &me).at(&path)?;
    Ok(WriterLock {
        file,
        epoch: me.epoch,
    })
}

/// Overwrites the lock file with `holder` in place (no moment where it is
/// empty), then cuts what is left of the old text.
fn write_holder(file: &File, holder: &Holder) -> std::io::Result<()> {
    let text = holder.render();
    file.write_all_at(text.as_bytes(), 0)?;
    file.set_len(text.len() as u64)?;
    file.sync_data()
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
    let deadline = Instant::now() + GRACE;
    loop {
        match file.try_lock_shared() {
            Ok(()) => break,
            Err(TryLockError::WouldBlock) => {
                // A writer that has just taken the lock (or is leaving it)
                // has no pid written: look again for a moment.
                let holder = read_holder(&mut file, &path)?;
                if holder.pid.is_some() || Instant::now() >= deadline {
                    return Err(in_use(dir, holder, true));
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(TryLockError::Error(e)) => return Err(TsmError::io(&path, e)),
        }
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
        let left = std::fs::read_to_string(dir.join(LOCK_FILE)).unwrap();
        assert_eq!(left, "epoch 1\n", "a released lock names no process");
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
        let left = Holder {
            epoch: 3,
            ..Holder::default()
        };
        assert_eq!(left.render(), "epoch 3\n");
        assert_eq!(Holder::parse(&left.render()), left);
    }
}
