//! Views of buffers, and views as slices.
//!
//! A view's rows are contiguous (its row stride is 1 by type), so each column is a slice, and a
//! view whose column stride equals its row count is one slice: the element-wise loops run over
//! those slices, which the compiler vectorises, instead of indexing entry by entry.

use nalgebra::{DMatrixView, DMatrixViewMut, Dim};

use crate::Float;

/// A `rows x cols` column-major view of the front of a buffer.
#[inline]
pub(crate) fn view<T: Float>(buf: &[T], rows: usize, cols: usize) -> DMatrixView<'_, T> {
    DMatrixView::from_slice(&buf[..rows * cols], rows, cols)
}

/// A mutable `rows x cols` column-major view of the front of a buffer.
#[inline]
pub(crate) fn view_mut<T: Float>(buf: &mut [T], rows: usize, cols: usize) -> DMatrixViewMut<'_, T> {
    DMatrixViewMut::from_slice(&mut buf[..rows * cols], rows, cols)
}

/// Whether the whole view is one run of memory.
#[inline]
pub(super) fn is_contiguous(rows: usize, cols: usize, cs: usize) -> bool {
    cs == rows || cols <= 1
}

/// Column `j` of a view as a slice.
///
/// # Panics
///
/// If `j >= v.ncols()`.
#[inline]
pub(crate) fn column<'a, T: Float>(v: &'a DMatrixView<'_, T>, j: usize) -> &'a [T] {
    column_of(v, j)
}

/// Column `j` of a mutable view as a slice.
///
/// # Panics
///
/// If `j >= v.ncols()`.
#[inline]
pub(crate) fn column_mut<'a, T: Float>(v: &'a mut DMatrixViewMut<'_, T>, j: usize) -> &'a mut [T] {
    column_of_mut(v, j)
}

/// [`column`] of a view of any row stride: views whose rows are not contiguous are refused at
/// run time (the crate's views have row stride 1 by type, and the check folds away).
///
/// # Panics
///
/// If `j >= v.ncols()` or the row stride is not 1.
#[inline(always)]
fn column_of<'a, T: Float, R: Dim>(v: &'a DMatrixView<'_, T, R>, j: usize) -> &'a [T] {
    let (rows, (rs, cs)) = (v.nrows(), v.strides());
    assert!(
        j < v.ncols() && rs == 1,
        "no contiguous column {j} in the view"
    );
    // SAFETY: j < ncols and the row stride is 1 (checked above), so column j is the `rows`
    // elements from `j * cs` on; nalgebra made the view over data of at least
    // `(ncols - 1) * cs + rows` elements, so they are inside it and borrowed for `'a`.
    unsafe { std::slice::from_raw_parts(v.as_ptr().add(j * cs), rows) }
}

/// [`column_mut`] of a view of any row stride, as [`column_of`].
///
/// # Panics
///
/// If `j >= v.ncols()` or the row stride is not 1.
#[inline(always)]
fn column_of_mut<'a, T: Float, R: Dim>(
    v: &'a mut DMatrixViewMut<'_, T, R>,
    j: usize,
) -> &'a mut [T] {
    let (rows, (rs, cs)) = (v.nrows(), v.strides());
    assert!(
        j < v.ncols() && rs == 1,
        "no contiguous column {j} in the view"
    );
    // SAFETY: as in `column_of`, the `rows` elements from `j * cs` on are inside the view's
    // data; the view is borrowed mutably for `'a`, so nothing else reads or writes them meanwhile.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().add(j * cs), rows) }
}

/// The whole view as one slice, if it is one run of memory.
#[inline]
pub(crate) fn as_slice<'a, T: Float>(v: &'a DMatrixView<'_, T>) -> Option<&'a [T]> {
    let (rows, cols) = v.shape();
    is_contiguous(rows, cols, v.strides().1).then(|| {
        // SAFETY: the row stride is 1 by type and the column stride is `rows` (or there is at
        // most one column), so the view's elements are the `rows * cols` adjacent ones from its
        // start, which nalgebra checked are inside its data.
        unsafe { std::slice::from_raw_parts(v.as_ptr(), rows * cols) }
    })
}

/// The whole mutable view as one slice, if it is one run of memory.
#[inline]
pub(crate) fn as_mut_slice<'a, T: Float>(v: &'a mut DMatrixViewMut<'_, T>) -> Option<&'a mut [T]> {
    let (rows, cols) = v.shape();
    if is_contiguous(rows, cols, v.strides().1) {
        // SAFETY: as in `as_slice`, the view's elements are the `rows * cols` adjacent ones from
        // its start; the view is borrowed mutably for `'a`.
        Some(unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr(), rows * cols) })
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::{DMatrix, Dyn};

    #[test]
    fn columns_of_a_view_into_a_larger_matrix_are_its_own() {
        let mut m = DMatrix::from_fn(6, 4, |i, j| (10 * i + j) as f64);
        let v = m.view((1, 1), (3, 2));
        assert_eq!(column(&v, 1), &[12.0, 22.0, 32.0]);
        assert!(as_slice(&v).is_none(), "column stride 6, not 3");
        let mut w = m.view_mut((2, 0), (2, 4));
        column_mut(&mut w, 3).copy_from_slice(&[-1.0, -2.0]);
        assert_eq!(m.column(3).as_slice(), &[3.0, 13.0, -1.0, -2.0, 43.0, 53.0]);
    }

    #[test]
    #[should_panic(expected = "no contiguous column 3")]
    fn a_column_past_the_last_panics() {
        let m = DMatrix::<f64>::zeros(4, 3);
        column(&m.as_view(), 3);
    }

    #[test]
    #[should_panic(expected = "no contiguous column 2")]
    fn a_mutable_column_past_the_last_panics() {
        // A view of the first two columns: the third is in memory, but not in the view.
        let mut m = DMatrix::<f32>::zeros(4, 3);
        column_mut(&mut m.columns_mut(0, 2), 2);
    }

    #[test]
    #[should_panic(expected = "no contiguous column 0")]
    fn a_column_of_a_view_with_a_row_stride_panics() {
        let data = [0.0f64; 12];
        // Every other element of each column: rows are 2 apart.
        let v = DMatrixView::<f64, Dyn>::from_slice_with_strides(&data, 3, 2, 2, 6);
        column_of(&v, 0);
    }

    #[test]
    #[should_panic(expected = "no contiguous column 1")]
    fn a_mutable_column_of_a_view_with_a_row_stride_panics() {
        let mut data = [0.0f32; 12];
        let mut v = DMatrixViewMut::<f32, Dyn>::from_slice_with_strides_mut(&mut data, 3, 2, 2, 6);
        column_of_mut(&mut v, 1);
    }
}
