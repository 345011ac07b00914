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
    // Fast path: a whole matrix (a data set, say) is one slice, scanned by the product threads
    // part by part, other views one branch-free pass per column; positions are looked for only
    // when something is wrong.
    let all = match crate::linalg::as_slice(&m) {
        Some(values) => crate::linalg::all_parts(values, &|part| all_finite(part)),
        None => (0..m.ncols()).all(|c| all_finite(crate::linalg::column(&m, c))),
    };
    if all {
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

/// Whether every value is finite, without branches: `v * 0` is ±0 for a finite `v` and NaN for NaN
/// or infinity, and NaN survives any sum. Independent sums keep the loop in vector registers:
/// four for short slices (the book's 3x4 weights, checked every step), sixteen for long ones.
#[inline]
pub(crate) fn all_finite<T: Float>(values: &[T]) -> bool {
    if values.len() < 256 {
        lanes::<T, 4>(values)
    } else {
        crate::linalg::vectorized(|| lanes::<T, 16>(values))
    }
}

/// Whether `f` gives a finite value for the entries at every position of `slices` (as far as the
/// shortest goes), summed as [`all_finite`] in sixteen independent lanes; the values are
/// computed, never stored, and the loop over whole chunks vectorises.
#[inline(always)]
pub(crate) fn all_finite_zip<T: Float, const N: usize>(
    slices: [&[T]; N],
    f: impl Fn([T; N]) -> T,
) -> bool {
    const L: usize = 16;
    let n = slices.iter().map(|s| s.len()).min().unwrap_or(0);
    let zero = T::zero();
    let mut acc = [zero; L];
    let full = n / L * L;
    let mut i = 0;
    while i < full {
        let chunk = slices.map(|s| &s[i..i + L]);
        for (l, a) in acc.iter_mut().enumerate() {
            *a += f(chunk.map(|s| s[l])) * zero;
        }
        i += L;
    }
    for i in full..n {
        acc[0] += f(slices.map(|s| s[i])) * zero;
    }
    acc.iter().fold(zero, |s, &a| s + a) == zero
}

#[inline(always)]
fn lanes<T: Float, const L: usize>(values: &[T]) -> bool {
    let zero = T::zero();
    let mut acc = [zero; L];
    let mut chunks = values.chunks_exact(L);
    for c in &mut chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a += v * zero;
        }
    }
    for &v in chunks.remainder() {
        acc[0] += v * zero;
    }
    acc.iter().fold(zero, |s, &a| s + a) == zero
}

#[cfg(test)]
mod tests {
    use super::check_finite;
    use crate::Error;
    use nalgebra::DMatrix;

    #[test]
    fn finds_a_non_finite_value_in_any_part() {
        // 60 000 values: long enough to be scanned by the product threads in parts.
        let (rows, cols) = (300, 200);
        let clean = DMatrix::<f32>::from_fn(rows, cols, |r, c| (r * cols + c) as f32 - 1e4);
        assert!(check_finite("x", clean.as_view()).is_ok());
        for (r, c, v) in [
            (0, 0, f32::NAN),
            (299, 199, f32::INFINITY),
            (5, 150, f32::NEG_INFINITY),
            (150, 100, f32::NAN),
        ] {
            let mut m = clean.clone();
            m[(r, c)] = v;
            match check_finite("x", m.as_view()) {
                Err(Error::NonFinite { row, col, .. }) => assert_eq!((row, col), (r, c)),
                other => panic!("{v} at ({r}, {c}): {other:?}"),
            }
            // The same value seen through a view that is not one run of memory.
            let rows_view = m.rows(r.saturating_sub(3), 4);
            assert!(
                check_finite("x", rows_view).is_err(),
                "({r}, {c}) in a row view"
            );
        }
    }
}
