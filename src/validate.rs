//! Checks shared by every public entry point.

use crate::{Error, Float, MatrixView, Result};

/// [`Error::Shape`] unless `targets` has `outputs` columns.
pub(crate) fn check_width<T: Float>(outputs: usize, targets: MatrixView<'_, T>) -> Result<()> {
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
pub(crate) fn check_finite<T: Float>(what: &str, m: MatrixView<'_, T>) -> Result<()> {
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
