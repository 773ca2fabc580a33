//! The embedded backend: each document a file under one home directory,
//! written temp-file + fsync + rename; locks are `flock`s on files under
//! the home; logs are append-only files.

use super::{Backend, Held};
use crate::error::{Error, Result};
use crate::store::FileLock;
use crate::util::write_atomic;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug)]
pub struct FileBackend {
    home: PathBuf,
}

impl FileBackend {
    pub fn new(home: &Path) -> FileBackend {
        FileBackend {
            home: home.to_path_buf(),
        }
    }

    fn at(&self, path: &str) -> PathBuf {
        self.home.join(path)
    }
}

fn not_found(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::NotFound
}

impl Backend for FileBackend {
    fn kind(&self) -> &'static str {
        "file"
    }

    fn describe(&self) -> String {
        self.home.display().to_string()
    }

    fn read(&self, path: &str) -> Result<Option<Vec<u8>>> {
        let p = self.at(path);
        match std::fs::read(&p) {
            Ok(b) => Ok(Some(b)),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(Error::io(format!("read {}", p.display()))(e)),
        }
    }

    fn write(&self, path: &str, bytes: &[u8]) -> Result<()> {
        write_atomic(&self.at(path), bytes, true)
    }

    fn touch(&self, path: &str) -> Result<()> {
        // Empty: no contents to sync, only the name (one fsync, not two).
        let p = self.at(path);
        let ctx = || format!("create {}", p.display());
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir).map_err(Error::io(ctx()))?;
        }
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        opts.open(&p).map_err(Error::io(ctx()))?;
        sync_parent(&p);
        Ok(())
    }

    fn remove(&self, path: &str) -> Result<bool> {
        let p = self.at(path);
        match std::fs::remove_file(&p) {
            Ok(()) => {
                sync_parent(&p);
                Ok(true)
            }
            Err(e) if not_found(&e) => Ok(false),
            Err(e) => Err(Error::io(format!("delete {}", p.display()))(e)),
        }
    }

    fn rename(&self, from: &str, to: &str) -> Result<bool> {
        let (f, t) = (self.at(from), self.at(to));
        if let Some(dir) = t.parent() {
            std::fs::create_dir_all(dir).map_err(Error::io(format!("create {}", dir.display())))?;
        }
        match std::fs::rename(&f, &t) {
            Ok(()) => {
                sync_parent(&f);
                sync_parent(&t);
                Ok(true)
            }
            Err(e) if not_found(&e) => Ok(false),
            Err(e) => Err(Error::io(format!(
                "move {} to {}",
                f.display(),
                t.display()
            ))(e)),
        }
    }

    fn list(&self, dir: &str, ext: &str, after: Option<&str>, limit: usize) -> Result<Vec<String>> {
        let d = self.at(dir);
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if not_found(&e) => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(format!("list {}", d.display()))(e)),
        };
        let suffix = if ext.is_empty() {
            String::new()
        } else {
            format!(".{ext}")
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(Error::io(format!("list {}", d.display())))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            // Temp files of writes in flight start with a dot.
            if name.starts_with('.') {
                continue;
            }
            if let Some(stem) = name.strip_suffix(suffix.as_str()) {
                if after.is_none_or(|a| stem > a) {
                    names.push(stem.to_string());
                }
            }
        }
        // A page of a large folder: select the first `limit`, sort only those.
        if names.len() > limit {
            names.select_nth_unstable(limit);
            names.truncate(limit);
        }
        names.sort_unstable();
        Ok(names)
    }

    fn lock(&self, name: &str, wait: Duration, exclusive: bool) -> Result<Held> {
        let path = self.at(name);
        let lock = if exclusive {
            FileLock::acquire(&path, wait)?
        } else {
            FileLock::acquire_shared(&path, wait)?
        };
        Ok(Held::new(lock))
    }

    fn append(&self, path: &str, line: &[u8], sync: bool) -> Result<()> {
        let p = self.at(path);
        let mut opts = std::fs::OpenOptions::new();
        opts.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let ctx = || format!("append {}", p.display());
        let mut f = opts.open(&p).map_err(Error::io(ctx()))?;
        f.write_all(line).map_err(Error::io(ctx()))?;
        if sync {
            f.sync_data().map_err(Error::io(ctx()))?;
        }
        Ok(())
    }

    fn read_log(&self, path: &str) -> Result<Vec<u8>> {
        Ok(self.read(path)?.unwrap_or_default())
    }

    fn last_line(&self, path: &str) -> Result<Option<Vec<u8>>> {
        use std::io::{Read, Seek, SeekFrom};
        let p = self.at(path);
        let mut f = match std::fs::File::open(&p) {
            Ok(f) => f,
            Err(e) if not_found(&e) => return Ok(None),
            Err(e) => return Err(Error::io(format!("open {}", p.display()))(e)),
        };
        let len = f
            .metadata()
            .map_err(Error::io(format!("stat {}", p.display())))?
            .len();
        // Lines are small: the last 4 KiB nearly always hold the whole last
        // line; read more only when they do not.
        let mut tail = Vec::new();
        let mut window = 4 * 1024u64;
        loop {
            let start = len.saturating_sub(window);
            tail.clear();
            f.seek(SeekFrom::Start(start))
                .and_then(|_| f.read_to_end(&mut tail))
                .map_err(Error::io(format!("read {}", p.display())))?;
            if start == 0 || tail.trim_ascii_end().contains(&b'\n') {
                break;
            }
            window *= 16;
        }
        let body = tail.trim_ascii_end();
        let line = match body.iter().rposition(|&b| b == b'\n') {
            Some(i) => &body[i + 1..],
            None => body,
        };
        Ok((!line.trim_ascii().is_empty()).then(|| line.to_vec()))
    }

    fn replace_log(&self, path: &str, text: &[u8]) -> Result<()> {
        write_atomic(&self.at(path), text, true)
    }

    fn walk(&self) -> Result<Vec<String>> {
        // This machine's files, not the store's data.
        const LOCAL: [&str; 6] = [
            "locks",
            "cache",
            "master.key",
            "master.key.new",
            "operator.key",
            "rotation.json",
        ];
        fn go(dir: &Path, rel: &str, out: &mut Vec<String>) -> Result<()> {
            let entries =
                std::fs::read_dir(dir).map_err(Error::io(format!("list {}", dir.display())))?;
            for entry in entries {
                let entry = entry.map_err(Error::io(format!("list {}", dir.display())))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') || name.ends_with(".lock") {
                    continue;
                }
                let path = if rel.is_empty() {
                    name.clone()
                } else {
                    format!("{rel}/{name}")
                };
                if rel.is_empty() && LOCAL.contains(&name.as_str()) {
                    continue;
                }
                let ft = entry
                    .file_type()
                    .map_err(Error::io(format!("stat {path}")))?;
                if ft.is_dir() {
                    go(&entry.path(), &path, out)?;
                } else if ft.is_file() {
                    out.push(path);
                }
            }
            Ok(())
        }
        let mut out = Vec::new();
        go(&self.home, "", &mut out)?;
        out.sort();
        Ok(out)
    }
}

fn sync_parent(p: &Path) {
    if let Some(Ok(d)) = p.parent().map(std::fs::File::open) {
        let _ = d.sync_all();
    }
}
