//! A reader for the IDX files MNIST (and Fashion-MNIST, EMNIST) come in.
//!
//! An IDX file is a header followed by unsigned bytes in row-major order; every number in the
//! header is a big-endian `u32`:
//!
//! ```text
//! images (e.g. train-images-idx3-ubyte):  0x00000803  n  rows  cols  then n*rows*cols pixels (0..255)
//! labels (e.g. train-labels-idx1-ubyte):  0x00000801  n                then n labels
//! ```
//!
//! The magic number's third byte is the element type (`0x08` = unsigned byte) and its fourth the
//! number of dimensions. Files must be decompressed first (a gzip file is recognised and named in
//! the error). The header's sizes are checked against the data's actual length before anything is
//! allocated, and any byte input gives either a matrix or a typed error, never a panic.
//!
//! ```
//! use backprop::data::{parse_idx_images, parse_idx_labels};
//!
//! // Two 1x2 images and their labels.
//! let images = [0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2, 0, 255, 7, 9];
//! let labels = [0, 0, 8, 1, 0, 0, 0, 2, 5, 3];
//! let x = parse_idx_images::<f32>(&images)?;
//! assert_eq!(x.shape(), (2, 2));
//! assert_eq!(x.row(0).iter().copied().collect::<Vec<_>>(), [0.0, 255.0]);
//! assert_eq!(parse_idx_labels(&labels)?, vec![5, 3]);
//! # Ok::<(), backprop::Error>(())
//! ```

use std::path::Path;

use nalgebra::DMatrix;

use crate::{Error, Float, Result};

/// Magic number of an IDX file of unsigned-byte images: 3 dimensions (count, rows, columns).
const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned-byte labels: 1 dimension (count).
const LABELS_MAGIC: u32 = 0x0000_0801;
/// What errors call a byte slice that did not come from a file.
const BYTES: &str = "IDX bytes";

/// Reads an IDX image file into an `n x (rows * cols)` matrix of raw pixel values (0..255).
///
/// Row `i` is image `i`, its pixels in row-major order. Divide by 255 to get values in `[0, 1]`.
///
/// # Errors
///
/// - [`Error::Io`] naming the path if the file cannot be read, or is not a regular file (a FIFO,
///   a device or a directory is refused before it is opened, so the call never blocks);
/// - otherwise as [`parse_idx_images`], with the path in the error.
pub fn read_idx_images<T: Float>(path: impl AsRef<Path>) -> Result<DMatrix<T>> {
    let (bytes, name) = read(path.as_ref())?;
    images(&bytes, &name)
}

/// Reads an IDX label file into one label per sample.
///
/// # Errors
///
/// - [`Error::Io`] naming the path if the file cannot be read, or is not a regular file (a FIFO,
///   a device or a directory is refused before it is opened, so the call never blocks);
/// - otherwise as [`parse_idx_labels`], with the path in the error.
pub fn read_idx_labels(path: impl AsRef<Path>) -> Result<Vec<usize>> {
    let (bytes, name) = read(path.as_ref())?;
    labels(&bytes, &name)
}

/// Parses the bytes of an IDX image file (see [`read_idx_images`]).
///
/// # Errors
///
/// [`Error::Format`] if the magic number is not `0x00000803` (the reason shows the one found), if
/// the bytes end inside the header, if the header's `n * rows * cols` differs from the number of
/// bytes after it (too few: truncated; too many: trailing bytes), or if an image has no pixels;
/// [`Error::Empty`] if the file declares no images.
///
/// ```
/// use backprop::{Error, data::parse_idx_images};
///
/// // A label file's magic number where images are expected.
/// let err = parse_idx_images::<f64>(&[0, 0, 8, 1, 0, 0, 0, 0]).unwrap_err();
/// assert!(matches!(&err, Error::Format { reason, .. } if reason.contains("0x00000801")));
/// ```
pub fn parse_idx_images<T: Float>(bytes: &[u8]) -> Result<DMatrix<T>> {
    images(bytes, BYTES)
}

/// Parses the bytes of an IDX label file (see [`read_idx_labels`]).
///
/// # Errors
///
/// [`Error::Format`] if the magic number is not `0x00000801`, if the bytes end inside the header,
/// or if the declared count differs from the number of bytes after the header;
/// [`Error::Empty`] if the file declares no labels.
///
/// ```
/// use backprop::{Error, data::parse_idx_labels};
///
/// // The header promises 3 labels, 2 follow.
/// let err = parse_idx_labels(&[0, 0, 8, 1, 0, 0, 0, 3, 7, 1]).unwrap_err();
/// assert!(matches!(&err, Error::Format { reason, .. } if reason.contains("truncated")));
/// ```
pub fn parse_idx_labels(bytes: &[u8]) -> Result<Vec<usize>> {
    labels(bytes, BYTES)
}

/// The whole file, and its path for messages.
fn read(path: &Path) -> Result<(Vec<u8>, String)> {
    let name = path.display().to_string();
    match crate::io::read_regular(path, u64::MAX) {
        Ok(bytes) => Ok((bytes, name)),
        Err(e) => Err(Error::Io {
            path: name,
            message: e.to_string(),
        }),
    }
}

fn images<T: Float>(bytes: &[u8], source: &str) -> Result<DMatrix<T>> {
    let ([n, rows, cols], data) = split_checked(bytes, IMAGES_MAGIC, source)?;
    if n == 0 {
        return Err(Error::Empty {
            what: "IDX image file",
        });
    }
    if rows == 0 || cols == 0 {
        return Err(format_error(
            source,
            format!("images of {rows} x {cols} pixels have no pixels"),
        ));
    }
    // data.len() == n * rows * cols has been checked, so the matrix is exactly filled.
    let pixels = data.len() / n;
    Ok(DMatrix::from_row_iterator(
        n,
        pixels,
        data.iter().map(|&b| T::of(f64::from(b))),
    ))
}

fn labels(bytes: &[u8], source: &str) -> Result<Vec<usize>> {
    let ([n], data) = split_checked(bytes, LABELS_MAGIC, source)?;
    if n == 0 {
        return Err(Error::Empty {
            what: "IDX label file",
        });
    }
    Ok(data.iter().map(|&b| usize::from(b)).collect())
}

/// Checks the magic number (whose last byte must be `D`) and that the header's `D` sizes match
/// the bytes after it; returns the sizes and those bytes.
fn split_checked<'a, const D: usize>(
    bytes: &'a [u8],
    magic: u32,
    source: &str,
) -> Result<([usize; D], &'a [u8])> {
    debug_assert_eq!((magic & 0xff) as usize, D);
    let Some(found) = be_u32(bytes, 0) else {
        if bytes.starts_with(&[0x1f, 0x8b]) {
            return Err(gzip(source));
        }
        return Err(format_error(
            source,
            format!(
                "truncated: {} bytes, too short for the 4-byte magic number",
                bytes.len()
            ),
        ));
    };
    if found != magic {
        return Err(format_error(source, wrong_magic(magic, found, bytes)));
    }
    let header = 4 + 4 * D;
    if bytes.len() < header {
        return Err(format_error(
            source,
            format!(
                "truncated header: {D} dimension(s) need {header} bytes, but there are only {}",
                bytes.len()
            ),
        ));
    }
    // The length was checked, so every read succeeds.
    let dims: [usize; D] = std::array::from_fn(|d| be_u32(bytes, 4 + 4 * d).unwrap_or(0) as usize);
    let shape = dims
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(" x ");
    let actual = bytes.len() - header;
    let declared = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64));
    match declared {
        Some(declared) if declared == actual as u64 => Ok((dims, &bytes[header..])),
        Some(declared) if declared > actual as u64 => Err(format_error(
            source,
            format!(
                "truncated: the header declares {shape} = {declared} data bytes, but only {actual} follow it"
            ),
        )),
        Some(declared) => Err(format_error(
            source,
            format!(
                "the header declares {shape} = {declared} data bytes, but {actual} follow it ({} too many)",
                actual as u64 - declared
            ),
        )),
        None => Err(format_error(
            source,
            format!("the header declares {shape} data bytes, which overflows 64 bits"),
        )),
    }
}

/// Explains a wrong magic number, recognising the usual confusions.
fn wrong_magic(expected: u32, found: u32, bytes: &[u8]) -> String {
    let what = |magic: u32| match magic {
        IMAGES_MAGIC => "unsigned-byte images, 3 dimensions",
        LABELS_MAGIC => "unsigned-byte labels, 1 dimension",
        _ => "not an IDX file of unsigned bytes",
    };
    let mut reason = format!(
        "expected magic number 0x{expected:08X} ({}), found 0x{found:08X}",
        what(expected)
    );
    if bytes.starts_with(&[0x1f, 0x8b]) {
        reason.push_str("; the file is gzip-compressed, decompress it first");
    } else if found == IMAGES_MAGIC || found == LABELS_MAGIC {
        reason.push_str(&format!(" ({})", what(found)));
    }
    reason
}

fn gzip(source: &str) -> Error {
    format_error(
        source,
        "the file is gzip-compressed, decompress it first".into(),
    )
}

fn format_error(source: &str, reason: String) -> Error {
    Error::Format {
        path: source.to_owned(),
        reason,
    }
}

/// The big-endian `u32` at `at`, if the bytes reach that far.
fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let word: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_be_bytes(word))
}
