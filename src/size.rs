//! Matrix sizes given by users, checked before anything is allocated for them.
//!
//! A size whose element count overflows `usize`, whose bytes exceed what one allocation may hold
//! (`isize::MAX`), or that the allocator refuses, gives [`Error::TooLarge`] instead of a panic or
//! an aborted process. (On a system that overcommits memory, an allocation granted beyond what the
//! machine can hold may still end the process when it is filled.)

use crate::{Error, Float, Matrix, Result};

/// [`Error::TooLarge`] for a `rows x cols` matrix.
pub(crate) fn too_large(what: &str, rows: usize, cols: usize) -> Error {
    Error::TooLarge {
        what: what.to_string(),
        rows,
        cols,
    }
}

/// `rows * cols`, if that many `E` fit in one allocation.
pub(crate) fn checked_len<E>(what: &str, rows: usize, cols: usize) -> Result<usize> {
    rows.checked_mul(cols)
        .filter(|&n| {
            n.checked_mul(size_of::<E>())
                .is_some_and(|bytes| bytes <= isize::MAX as usize)
        })
        .ok_or_else(|| too_large(what, rows, cols))
}

/// `rows * cols` copies of `value`, allocated without aborting on failure.
pub(crate) fn filled_vec<E: Clone>(
    what: &str,
    rows: usize,
    cols: usize,
    value: E,
) -> Result<Vec<E>> {
    let mut v = Vec::new();
    grow(&mut v, what, rows, cols, value)?;
    Ok(v)
}

/// Grows `buf` to at least `rows * cols` elements (new ones `value`), without aborting on failure;
/// it never shrinks. On an error `buf` is as it was.
pub(crate) fn grow<E: Clone>(
    buf: &mut Vec<E>,
    what: &str,
    rows: usize,
    cols: usize,
    value: E,
) -> Result<()> {
    let n = checked_len::<E>(what, rows, cols)?;
    if buf.len() < n {
        buf.try_reserve_exact(n - buf.len())
            .map_err(|_| too_large(what, rows, cols))?;
        buf.resize(n, value);
    }
    Ok(())
}

/// A `rows x cols` matrix of `value`.
pub(crate) fn filled<T: Float>(
    what: &str,
    rows: usize,
    cols: usize,
    value: T,
) -> Result<Matrix<T>> {
    let v = filled_vec(what, rows, cols, value)?;
    Ok(Matrix::from_vec(rows, cols, v))
}

/// A `rows x cols` matrix of zeros.
pub(crate) fn zeros<T: Float>(what: &str, rows: usize, cols: usize) -> Result<Matrix<T>> {
    filled(what, rows, cols, T::zero())
}

/// A `rows x cols` matrix whose entries are `draw()`n in row-major order, as NumPy fills
/// `np.random.random((rows, cols))`.
pub(crate) fn row_major<T: Float>(
    what: &str,
    rows: usize,
    cols: usize,
    mut draw: impl FnMut() -> T,
) -> Result<Matrix<T>> {
    let mut v = filled_vec(what, rows, cols, T::zero())?;
    for r in 0..rows {
        for c in 0..cols {
            // column-major storage
            v[c * rows + r] = draw();
        }
    }
    Ok(Matrix::from_vec(rows, cols, v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_bytes_beyond_one_allocation_are_too_large() {
        let cases = [
            (usize::MAX, 2),
            (2, usize::MAX),
            (usize::MAX / 2, 3),
            (1, usize::MAX),
            // The count fits, the bytes do not.
            (isize::MAX as usize / 8 + 1, 1),
        ];
        for (rows, cols) in cases {
            assert_eq!(
                checked_len::<f64>("m", rows, cols),
                Err(too_large("m", rows, cols)),
                "{rows} x {cols}"
            );
            assert!(zeros::<f32>("m", rows, cols).is_err());
        }
        assert_eq!(
            checked_len::<f64>("m", isize::MAX as usize / 8, 1),
            Ok(isize::MAX as usize / 8)
        );
        assert_eq!(checked_len::<f64>("m", usize::MAX, 0), Ok(0));
        assert_eq!(
            zeros::<f64>("m", 0, usize::MAX).unwrap().shape(),
            (0, usize::MAX)
        );
    }

    #[test]
    fn an_allocation_the_allocator_refuses_is_too_large() {
        // 2^61 bytes: addressable in principle, more than any address space maps.
        let err = zeros::<f64>("m", 1 << 29, 1 << 29).unwrap_err();
        assert_eq!(err, too_large("m", 1 << 29, 1 << 29));
    }

    #[test]
    fn row_major_fills_rows_first() {
        let mut n = 0.0;
        let m = row_major::<f64>("m", 2, 3, || {
            n += 1.0;
            n
        })
        .unwrap();
        assert_eq!(
            m,
            Matrix::from_row_slice(2, 3, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
        );
    }
}
