//! Checks shared by every public entry point, public so that your own [`Loss`](crate::Loss) and
//! [`Layer`](crate::Layer) implementations can answer bad input with the same typed errors.
//!
//! ```
//! use backprop::validate::{check_finite, check_width};
//! use backprop::Error;
//! use nalgebra::DMatrix;
//!
//! let y = DMatrix::from_row_slice(2, 2, &[0.0, 1.0, f64::NAN, 0.0]);
//! assert!(check_width(2, y.as_view()).is_ok());
//! assert!(matches!(check_finite("targets", y.as_view()), Err(Error::NonFinite { row: 1, col: 0, .. })));
//! ```

use crate::{Error, Float, MatrixView, Result};

/// [`Error::Shape`] unless `targets` has `outputs` columns.
///
/// # Errors
///
/// [`Error::Shape`] naming the expected and actual shapes.
pub fn check_width<T: Float>(outputs: usize, targets: MatrixView<'_, T>) -> Result<()> {
    if targets.ncols() != outputs {
        return Err(Error::Shape {
            what: "targets".into(),
            expected: (targets.nrows(), outputs),
            actual: targets.shape(),
        });
    }
    Ok(())
}

/// [`Error::NonFinite`] at the first NaN or infinity, scanning row by row.
///
/// # Errors
///
/// [`Error::NonFinite`] naming `what`, the row, the column and the value.
pub fn check_finite<T: Float>(what: &str, m: MatrixView<'_, T>) -> Result<()> {
    // Fast path: one pass without bookkeeping; positions only when something is wrong.
    if m.iter().all(|v| v.finite()) {
        return Ok(());
    }
    for r in 0..m.nrows() {
        for c in 0..m.ncols() {
            let v = m[(r, c)];
            if !v.finite() {
                return Err(Error::NonFinite {
                    what: what.into(),
                    row: r,
                    col: c,
                    value: v.as_f64(),
                });
            }
        }
    }
    Ok(())
}
