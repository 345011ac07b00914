//! Writing a file atomically: to a temporary file beside it, synced, renamed over it, and the
//! directory synced, so that a crash or a failed write never leaves a partial file at the path.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::io_error;
use crate::{Error, Result};

/// Distinguishes the temporary files of concurrent saves from one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` through a temporary file in the same directory: `write` fills it,
/// then it is synced, renamed over `path`, and the directory is synced. On any failure the
/// temporary file is removed and `path` is untouched.
pub(super) fn write_atomic(
    path: &Path,
    bytes: &[u8],
    write: impl FnOnce(&mut File, &[u8]) -> io::Result<()>,
) -> Result<()> {
    if path.is_dir() {
        return Err(Error::Io {
            path: path.display().to_string(),
            message: "the path is a directory, not a file".into(),
        });
    }
    let Some(name) = path.file_name() else {
        return Err(Error::Io {
            path: path.display().to_string(),
            message: "the path does not name a file".into(),
        });
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let (tmp, mut file) = create_temp(&dir, &name.to_string_lossy())
        .map_err(|e| io_error(path, "creating a temporary file beside it", &e))?;
    // The new file keeps the permissions of the one it replaces (a private file stays private).
    let kept = match fs::metadata(path) {
        Ok(old) => file.set_permissions(old.permissions()),
        Err(_) => Ok(()),
    };
    let written = kept
        .and_then(|()| write(&mut file, bytes))
        .map_err(|e| io_error(path, "writing", &e))
        .and_then(|()| file.sync_all().map_err(|e| io_error(path, "syncing", &e)));
    drop(file);
    let renamed =
        written.and_then(|()| fs::rename(&tmp, path).map_err(|e| io_error(path, "renaming", &e)));
    if let Err(e) = renamed {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(&dir).map_err(|e| io_error(path, "syncing its directory", &e))
}

/// Creates `.{name}.{pid}.{n}.tmp` in `dir`, never reusing an existing file.
fn create_temp(dir: &Path, name: &str) -> io::Result<(PathBuf, File)> {
    let pid = std::process::id();
    loop {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{name}.{pid}.{n}.tmp"));
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(file) => return Ok((tmp, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Makes a rename in `dir` durable (on Unix; elsewhere the rename is all there is).
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("backprop-io-unit-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn leftovers(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect()
    }

    #[test]
    fn a_write_that_fails_half_way_keeps_the_old_file_and_no_temporary() {
        let dir = scratch("half");
        let path = dir.join("model.safetensors");
        fs::write(&path, b"old contents").unwrap();
        // A full disk: half the bytes go out, then the write fails.
        let err = write_atomic(&path, &[7u8; 1000], |file, bytes| {
            file.write_all(&bytes[..500])?;
            Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "no space left on device",
            ))
        })
        .unwrap_err();
        assert!(matches!(&err, Error::Io { message, .. } if message.contains("no space")));
        assert_eq!(fs::read(&path).unwrap(), b"old contents");
        assert!(leftovers(&dir).is_empty());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_crash_before_the_rename_leaves_the_old_file_and_the_next_save_works() {
        let dir = scratch("crash");
        let path = dir.join("model.safetensors");
        fs::write(&path, b"old contents").unwrap();
        // A process that died mid-write leaves its temporary file behind...
        let (tmp, mut file) = create_temp(&dir, "model.safetensors").unwrap();
        file.write_all(b"half a mod").unwrap();
        drop(file);
        assert_eq!(fs::read(&path).unwrap(), b"old contents");
        // ...which neither blocks nor is mistaken for the next save.
        write_atomic(&path, b"new contents", |f, b| f.write_all(b)).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new contents");
        assert_eq!(fs::read(&tmp).unwrap(), b"half a mod");
        fs::remove_dir_all(&dir).unwrap();
    }
}
