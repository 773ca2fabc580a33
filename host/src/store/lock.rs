//! Cross-process locks: an exclusive `flock` on a file under `locks/`,
//! released when the guard drops (or the process dies). Every wait has a
//! deadline: a lock held by a stuck process gives a typed `lock-timeout`,
//! never a hang.

use crate::error::{Error, Result};
use std::path::Path;
use std::time::{Duration, Instant};

/// How long a short write waits for its lock.
pub(crate) const WRITE_WAIT: Duration = Duration::from_secs(10);

/// An exclusive advisory lock on a file, released on drop.
#[derive(Debug)]
pub struct FileLock {
    _file: std::fs::File,
}

impl FileLock {
    /// Waits up to `wait` for the lock on `path`.
    pub(crate) fn acquire(path: &Path, wait: Duration) -> Result<FileLock> {
        Self::acquire_as(path, wait, true)
    }

    /// A shared lock: many holders at once, none while an exclusive one
    /// is held.
    pub(crate) fn acquire_shared(path: &Path, wait: Duration) -> Result<FileLock> {
        Self::acquire_as(path, wait, false)
    }

    fn acquire_as(path: &Path, wait: Duration, exclusive: bool) -> Result<FileLock> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(Error::io(format!("create {}", dir.display())))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(Error::io(format!("open {}", path.display())))?;
        #[cfg(unix)]
        {
            use std::os::unix::io::AsRawFd;
            let deadline = Instant::now() + wait;
            let mut pause = Duration::from_millis(1);
            let op = if exclusive {
                libc::LOCK_EX
            } else {
                libc::LOCK_SH
            };
            loop {
                // SAFETY: flock on a descriptor we own; never blocks.
                let rc = unsafe { libc::flock(file.as_raw_fd(), op | libc::LOCK_NB) };
                if rc == 0 {
                    break;
                }
                let err = std::io::Error::last_os_error();
                if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
                    return Err(Error::io(format!("lock {}", path.display()))(err));
                }
                if Instant::now() >= deadline {
                    return Err(Error::LockTimeout {
                        lock: path
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default(),
                        waited_ms: wait.as_millis() as u64,
                    });
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
        }
        #[cfg(not(unix))]
        let _ = (wait, exclusive);
        Ok(FileLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_times_out_with_a_typed_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let held = FileLock::acquire(&path, WRITE_WAIT).unwrap();
        let t = Instant::now();
        let err = FileLock::acquire(&path, Duration::from_millis(100)).unwrap_err();
        assert_eq!(err.kind(), "lock-timeout");
        assert!(t.elapsed() >= Duration::from_millis(100));
        drop(held);
        FileLock::acquire(&path, Duration::from_millis(100)).unwrap();
    }
}
