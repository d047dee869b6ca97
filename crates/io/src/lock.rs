//! A lock on an output folder for the lifetime of a run, so that two runs never mix their files in one folder (the
//! best model of one seed beside the metrics of another). The lock is the operating system's (`flock` on a file
//! `.biotorch.lock` in the folder), so it is released when the process ends however it ends: a killed run leaves
//! no stale lock behind, and nothing has to be cleaned up.

use std::fs::{File, OpenOptions};

use fs4::TryLockError;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The lock file's name inside a locked folder.
pub const LOCK_FILE: &str = ".biotorch.lock";

/// A held lock on an output folder; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct DirLock {
    _file: File,
    path: PathBuf,
}

impl DirLock {
    /// Creates `dir` if needed and locks it, or fails with [`Error::Locked`] (the user's to resolve: another run is
    /// writing there) naming who holds it.
    pub fn acquire(dir: &Path) -> Result<DirLock> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(&dir.display().to_string(), &e))?;
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io(&path.display().to_string(), &e))?;
        // fs4's flock (std's File::try_lock needs Rust 1.89; we declare 1.85).
        match fs4::FileExt::try_lock(&file) {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(Error::Locked {
                    dir: dir.display().to_string(),
                    holder: if holder.is_empty() { "starting".to_string() } else { holder.to_string() },
                });
            }
            Err(TryLockError::Error(e)) => return Err(Error::io(&path.display().to_string(), &e)),
        }
        // Who holds it, for the message of the next one to try.
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let since =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
        let _ = file.set_len(0);
        let _ = file.seek(SeekFrom::Start(0));
        let _ = write!(file, "pid {} on {}, since unix time {since}", std::process::id(), host.trim());
        let _ = file.flush();
        Ok(DirLock { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_refused_until_the_first_is_done() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run");
        let first = DirLock::acquire(&out).unwrap();
        assert!(out.join(LOCK_FILE).exists());
        let e = DirLock::acquire(&out).unwrap_err();
        assert!(e.is_bad_input());
        let msg = e.to_string();
        assert!(msg.contains("is being written by another biotorch run"), "{msg}");
        assert!(msg.contains(&format!("pid {}", std::process::id())), "{msg}");
        drop(first);
        DirLock::acquire(&out).unwrap();
    }
}
