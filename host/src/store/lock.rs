//! Cross-process locks: an exclusive `flock` on a file under `locks/`,
//! released when the guard drops (or the process dies).

use crate::error::{Error, Result};
use std::path::Path;

/// An exclusive advisory lock on a file, released on drop.
#[derive(Debug)]
pub struct FileLock {
    _file: std::fs::File,
}

impl FileLock {
    /// Blocks until the lock on `path` is granted.
    pub(crate) fn acquire(path: &Path) -> Result<FileLock> {
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
            // SAFETY: flock on a descriptor we own; blocks until granted.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
            if rc != 0 {
                return Err(Error::io(format!("lock {}", path.display()))(
                    std::io::Error::last_os_error(),
                ));
            }
        }
        Ok(FileLock { _file: file })
    }
}
