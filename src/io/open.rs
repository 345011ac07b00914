//! Reading a whole file without blocking on what is not a file: a FIFO with no writer, a device
//! such as `/dev/zero`, a socket or a directory is refused before it is opened, and a file longer
//! than a limit before it is read.

use std::fs::{self, File, Metadata};
use std::io::{self, Read};
use std::path::Path;

/// The whole of the regular file at `path` (symbolic links followed).
///
/// Anything else fails with [`io::ErrorKind::InvalidInput`] and a message saying what it is,
/// before it is opened for reading (opening a FIFO blocks until a writer appears). A file longer
/// than `max` bytes fails with [`io::ErrorKind::FileTooLarge`] before it is read; one that grows
/// past `max` while it is read, as soon as it does.
pub(crate) fn read_regular(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    check(&fs::metadata(path)?, max)?;
    let file = File::open(path)?;
    // The path may have been replaced between the two looks: check what was opened.
    let len = check(&file.metadata()?, max)?;
    let mut bytes = Vec::new();
    let len = usize::try_from(len).map_err(|_| too_large(len, max))?;
    bytes
        .try_reserve_exact(len)
        .map_err(|_| io::Error::new(io::ErrorKind::OutOfMemory, "cannot allocate its length"))?;
    file.take(max.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(too_large(bytes.len() as u64, max));
    }
    Ok(bytes)
}

/// The file's length, if it is a regular file of at most `max` bytes.
fn check(meta: &Metadata, max: u64) -> io::Result<u64> {
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("not a regular file ({}): refusing to read it", kind(meta)),
        ));
    }
    if meta.len() > max {
        return Err(too_large(meta.len(), max));
    }
    Ok(meta.len())
}

/// The error of a file of `len` bytes, above `max`.
fn too_large(len: u64, max: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::FileTooLarge,
        format!("the file is {len} bytes long, above the limit of {max}"),
    )
}

/// What a file that is not a regular file is, in words.
fn kind(meta: &Metadata) -> &'static str {
    if meta.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    "neither a file nor a directory"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_within_the_limit_is_read_whole_and_a_longer_one_refused() {
        let path = std::env::temp_dir().join(format!("backprop-open-{}", std::process::id()));
        fs::write(&path, b"0123456789").unwrap();
        assert_eq!(read_regular(&path, 10).unwrap(), b"0123456789");
        let err = read_regular(&path, 9).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::FileTooLarge);
        assert!(err.to_string().contains("10 bytes"), "{err}");
        let dir = read_regular(&std::env::temp_dir(), u64::MAX).unwrap_err();
        assert!(dir.to_string().contains("a directory"), "{dir}");
        fs::remove_file(&path).unwrap();
    }
}
