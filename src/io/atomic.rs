//! Writing a file atomically: to a temporary file beside it, synced, renamed over it, and the
//! directory synced, so that a crash or a failed write never leaves a partial file at the path.
//! Temporary files have short names (`.backprop-{16 hex digits}.tmp`), so that any file name that
//! fits the file system can be saved, and are locked while written, so that the next save can
//! tell those of a killed save from those of a save in progress and remove them.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::hash::{BuildHasher, Hasher, RandomState};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

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
    let (tmp, mut file) = create_temp(&dir, name)
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
    sync_dir(&dir).map_err(|e| io_error(path, "syncing its directory", &e))?;
    remove_stale_temporaries(&dir, name);
    Ok(())
}

/// Writes `bytes` to `path` as they are, atomically (see [`write_atomic`]).
pub(crate) fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path, bytes, io::Write::write_all)
}

/// The start and end of this crate's temporary file names; 16 lowercase hex digits go between.
const TEMP_PREFIX: &str = ".backprop-";
const TEMP_SUFFIX: &str = ".tmp";

/// How old an unlocked temporary file must be before a save removes it: a save holds its lock
/// from just after creating the file, so only a file created this instant may be unlocked and
/// alive, and it is not a minute old.
const STALE_AFTER: Duration = Duration::from_secs(60);

/// Creates and locks `.backprop-{16 hex digits}.tmp` in `dir` (30 bytes, whatever `name` is),
/// never reusing an existing file. The digits hash `name`, the process id, a counter and the
/// time with a per-process random key, so concurrent saves do not collide in practice.
fn create_temp(dir: &Path, name: &OsStr) -> io::Result<(PathBuf, File)> {
    let keys = RandomState::new();
    loop {
        let mut h = keys.build_hasher();
        h.write(name.as_encoded_bytes());
        h.write_u32(std::process::id());
        h.write_u64(TEMP_COUNTER.fetch_add(1, Ordering::Relaxed));
        if let Ok(t) = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH) {
            h.write_u128(t.as_nanos());
        }
        let tmp = dir.join(format!("{TEMP_PREFIX}{:016x}{TEMP_SUFFIX}", h.finish()));
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(file) => {
                // Where locks are not supported the save goes on unlocked: its file is then
                // protected only by its age.
                let _ = file.try_lock();
                return Ok((tmp, file));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Whether `file` is named as a temporary file of a save of `name`: this version's
/// `.backprop-{16 hex digits}.tmp`, or the earlier `.{name}.{pid}.{n}.tmp`.
fn is_temporary(file: &str, name: &str) -> bool {
    let digits = |s: &str, hex: bool| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_digit() || hex && (b'a'..=b'f').contains(&b))
    };
    if let Some(hex) = file
        .strip_prefix(TEMP_PREFIX)
        .and_then(|s| s.strip_suffix(TEMP_SUFFIX))
    {
        return hex.len() == 16 && digits(hex, true);
    }
    file.strip_prefix('.')
        .and_then(|s| s.strip_prefix(name))
        .and_then(|s| s.strip_prefix('.'))
        .and_then(|s| s.strip_suffix(TEMP_SUFFIX))
        .and_then(|s| s.split_once('.'))
        .is_some_and(|(pid, n)| digits(pid, false) && digits(n, false))
}

/// Removes, best effort, the temporary files in `dir` that saves killed before their rename
/// left: those named as [`is_temporary`] says, older than [`STALE_AFTER`], and locked by no
/// one (a live save holds its lock; a killed one's lock went with its process).
fn remove_stale_temporaries(dir: &Path, name: &OsStr) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let name = name.to_string_lossy();
    let now = SystemTime::now();
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        if !file_name.to_str().is_some_and(|f| is_temporary(f, &name)) {
            continue;
        }
        let path = entry.path();
        let Ok(file) = File::open(&path) else {
            continue;
        };
        let old = file
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| now.duration_since(t).is_ok_and(|age| age > STALE_AFTER));
        if old && file.metadata().is_ok_and(|m| m.is_file()) {
            match file.try_lock() {
                Ok(()) => {
                    let _ = fs::remove_file(&path);
                }
                Err(TryLockError::WouldBlock | TryLockError::Error(_)) => {}
            }
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
        let (tmp, mut file) = create_temp(&dir, OsStr::new("model.safetensors")).unwrap();
        file.write_all(b"half a mod").unwrap();
        drop(file);
        assert_eq!(fs::read(&path).unwrap(), b"old contents");
        // ...which neither blocks nor is mistaken for the next save.
        write_atomic(&path, b"new contents", |f, b| f.write_all(b)).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new contents");
        assert_eq!(fs::read(&tmp).unwrap(), b"half a mod");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn temporary_names_are_short_and_recognised() {
        let dir = scratch("names");
        let long = "n".repeat(250);
        let (tmp, _file) = create_temp(&dir, OsStr::new(&long)).unwrap();
        let tmp = tmp.file_name().unwrap().to_str().unwrap().to_string();
        assert_eq!(tmp.len(), 30, "{tmp}");
        assert!(is_temporary(&tmp, &long));
        assert!(is_temporary(".m.safetensors.12.0.tmp", "m.safetensors"));
        for other in [
            ".m.safetensors.12.0.tmp",
            ".backprop-0123456789ABCDEF.tmp",
            ".backprop-0123.tmp",
            ".x.1..tmp",
            "backprop-0123456789abcdef.tmp",
        ] {
            assert!(!is_temporary(other, "x"), "{other}");
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_locked_temporary_is_kept_however_old_and_an_unlocked_old_one_removed() {
        let dir = scratch("locks");
        let hour_ago = SystemTime::now() - Duration::from_secs(3600);
        // A save in progress (its lock held) that has been writing for an hour...
        let (live, live_file) = create_temp(&dir, OsStr::new("m")).unwrap();
        live_file.set_modified(hour_ago).unwrap();
        // ...and one killed an hour ago (its process, and so its lock, gone).
        let (dead, dead_file) = create_temp(&dir, OsStr::new("m")).unwrap();
        dead_file.set_modified(hour_ago).unwrap();
        drop(dead_file);
        remove_stale_temporaries(&dir, OsStr::new("m"));
        // Where locks are not supported, both files are unlocked and both removed.
        let locking = File::open(&live).unwrap().try_lock().is_err();
        if locking {
            assert!(live.exists());
        }
        assert!(!dead.exists());
        drop(live_file);
        fs::remove_dir_all(&dir).unwrap();
    }
}
