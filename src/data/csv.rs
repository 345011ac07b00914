//! A loader for plain numeric CSV: one sample per line, comma-separated numbers.
//!
//! The format read here is deliberately small:
//!
//! - fields are separated by `,` and may have spaces or tabs around them; there is no quoting;
//! - lines end in `\n` or `\r\n`; blank lines (only whitespace) are skipped anywhere;
//! - a leading UTF-8 byte-order mark is ignored;
//! - with `has_header`, the first non-blank line is a header: its text is ignored, but its number of
//!   fields must match the data (so header names cannot contain commas);
//! - every other line must have the same number of fields, each a finite number that Rust's `f64`
//!   parser accepts (`3`, `-0.5`, `1e-3`) and that fits the element type.
//!
//! Errors name the line (1-based, counting every line of the text, header and blank lines
//! included) and the field (1-based).

use std::path::Path;

use nalgebra::DMatrix;

use crate::{Error, Float, Result};

/// Reads a numeric CSV file into a matrix, one row per line.
///
/// See the [module documentation](self) for the accepted format.
///
/// # Errors
///
/// - [`Error::Io`] naming the path if the file cannot be read, or is not a regular file (a FIFO,
///   a device or a directory is refused before it is opened, so the call never blocks);
/// - [`Error::Format`] naming the path if it is not UTF-8, and as for [`parse_csv`];
/// - [`Error::Empty`] if it has no data lines.
///
/// ```
/// use backprop::data::read_csv;
///
/// let path = std::env::temp_dir().join(format!("backprop-read-csv-doc-{}.csv", std::process::id()));
/// std::fs::write(&path, "x,y\n1,2\n3,4\n").unwrap();
/// let m = read_csv::<f64>(&path, true)?;
/// assert_eq!(m.shape(), (2, 2));
/// std::fs::remove_file(&path).unwrap();
/// # Ok::<(), backprop::Error>(())
/// ```
pub fn read_csv<T: Float>(path: impl AsRef<Path>, has_header: bool) -> Result<DMatrix<T>> {
    let (name, text) = read_text(path.as_ref())?;
    parse_named(&text, has_header, &name)
}

/// The path as errors name it, and the file's text: a regular file only (a FIFO would block),
/// in UTF-8.
pub(crate) fn read_text(path: &Path) -> Result<(String, String)> {
    let name = path.display().to_string();
    let bytes = crate::io::read_regular(path, u64::MAX).map_err(|e| Error::Io {
        path: name.clone(),
        message: e.to_string(),
    })?;
    let text = String::from_utf8(bytes).map_err(|e| Error::Format {
        path: name.clone(),
        reason: format!(
            "not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ),
    })?;
    Ok((name, text))
}

/// Parses numeric CSV text into a matrix, one row per line.
///
/// See the [module documentation](self) for the accepted format.
///
/// # Errors
///
/// - [`Error::Format`] naming the line and field of a value that is not a number, is not finite
///   or does not fit `T`, or of a line whose number of fields differs from the first line's;
/// - [`Error::Empty`] if there are no data lines.
///
/// ```
/// use backprop::{Error, data::parse_csv};
///
/// let m = parse_csv::<f32>("a,b\n1, 2\n3,4.5\n", true)?;
/// assert_eq!(m.row(1).iter().copied().collect::<Vec<_>>(), [3.0, 4.5]);
///
/// let err = parse_csv::<f64>("1,2\n3,x\n", false).unwrap_err();
/// assert!(matches!(&err, Error::Format { reason, .. } if reason.starts_with("line 2, field 2")));
/// # Ok::<(), Error>(())
/// ```
pub fn parse_csv<T: Float>(text: &str, has_header: bool) -> Result<DMatrix<T>> {
    parse_named(text, has_header, "CSV text")
}

/// [`parse_csv`], with `source` (a path or a description) in the errors.
pub(crate) fn parse_named<T: Float>(
    text: &str,
    has_header: bool,
    source: &str,
) -> Result<DMatrix<T>> {
    let format = |reason: String| Error::Format {
        path: source.to_owned(),
        reason,
    };
    let mut lines = numbered_lines(text);

    // The first line read (header or data) fixes the width: (fields, which line).
    let mut width: Option<(usize, String)> = None;
    if has_header && let Some((number, header)) = lines.next() {
        width = Some((
            header.split(',').count(),
            format!("line {number} (the header)"),
        ));
    }

    let mut values: Vec<T> = Vec::new();
    let mut rows = 0;
    for (number, line) in lines {
        let fields = line.split(',').count();
        if let Some((expected, first)) = &width {
            if fields != *expected {
                return Err(format(format!(
                    "line {number} has {fields} fields, but {first} has {expected}"
                )));
            }
        } else {
            width = Some((fields, format!("line {number}")));
        }
        for (i, field) in line.split(',').enumerate() {
            values.push(
                parse_field(field.trim(), T::NAME)
                    .map_err(|why| format(format!("line {number}, field {}: {why}", i + 1)))?,
            );
        }
        rows += 1;
    }
    match width {
        Some((cols, _)) if rows > 0 => Ok(DMatrix::from_row_slice(rows, cols, &values)),
        _ => Err(Error::Empty { what: "CSV data" }),
    }
}

/// The lines of CSV text that are not blank, numbered from 1, without a byte-order mark or the
/// `\r` of CRLF line ends.
pub(crate) fn numbered_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    text.split('\n')
        .enumerate()
        .map(|(i, line)| (i + 1, line.strip_suffix('\r').unwrap_or(line)))
        .filter(|(_, line)| !line.trim().is_empty())
}

/// One field as a finite `T`, or why not.
pub(crate) fn parse_field<T: Float>(
    field: &str,
    type_name: &str,
) -> std::result::Result<T, String> {
    if field.is_empty() {
        return Err("empty field".into());
    }
    let value: f64 = field
        .parse()
        .map_err(|_| format!("{field:?} is not a number"))?;
    if !value.is_finite() {
        return Err(format!("{field:?} is not a finite number"));
    }
    let value = T::of(value);
    if !value.finite() {
        return Err(format!("{field:?} is out of range for {type_name}"));
    }
    Ok(value)
}
