//! The element-wise loops of the layers, activations and losses, over the slices of a view (see
//! [`views`](super::views)): one slice when the view is one run of memory, else column by column.

use nalgebra::{DMatrixView, DMatrixViewMut};

use super::vectorized_for;
use super::views::{as_mut_slice, as_slice, column, column_mut, is_contiguous};
use crate::Float;

/// `f(x)` on every entry of `a`.
#[inline]
pub(crate) fn apply<T: Float>(a: &mut DMatrixViewMut<'_, T>, mut f: impl FnMut(&mut T)) {
    vectorized_for(a.len(), || {
        if let Some(x) = as_mut_slice(a) {
            x.iter_mut().for_each(f);
            return;
        }
        for j in 0..a.ncols() {
            column_mut(a, j).iter_mut().for_each(&mut f);
        }
    })
}

/// `f(x, y)` on every pair of entries of `a` and `b`.
///
/// # Panics
///
/// If the shapes differ.
#[inline]
pub(crate) fn zip_apply<T: Float>(
    a: &mut DMatrixViewMut<'_, T>,
    b: &DMatrixView<'_, T>,
    f: impl FnMut(&mut T, T),
) {
    vectorized_for(a.len(), || zip_apply_in(a, b, f))
}

#[inline(always)]
fn zip_apply_in<T: Float>(
    a: &mut DMatrixViewMut<'_, T>,
    b: &DMatrixView<'_, T>,
    mut f: impl FnMut(&mut T, T),
) {
    assert_eq!(a.shape(), b.shape(), "shapes differ");
    if let (Some(y), true) = (
        as_slice(b),
        is_contiguous(a.nrows(), a.ncols(), a.strides().1),
    ) {
        let x = as_mut_slice(a).expect("checked contiguous");
        for (x, &y) in x.iter_mut().zip(y) {
            f(x, y);
        }
        return;
    }
    for j in 0..a.ncols() {
        for (x, &y) in column_mut(a, j).iter_mut().zip(column(b, j)) {
            f(x, y);
        }
    }
}

/// `out = f(x, y)` on every triple of entries.
///
/// # Panics
///
/// If the shapes differ.
#[inline]
pub(crate) fn zip_map<T: Float>(
    out: &mut DMatrixViewMut<'_, T>,
    a: &DMatrixView<'_, T>,
    b: &DMatrixView<'_, T>,
    mut f: impl FnMut(T, T) -> T,
) {
    vectorized_for(out.len(), || {
        zip_map_fold(out, a, b, (), |(), x, y| ((), f(x, y)))
    })
}

/// `acc = f(acc, x, y)` over every pair of entries of `a` and `b`, column by column.
///
/// # Panics
///
/// If the shapes differ.
#[inline]
pub(crate) fn zip_fold<T: Float, A>(
    a: &DMatrixView<'_, T>,
    b: &DMatrixView<'_, T>,
    init: A,
    mut f: impl FnMut(A, T, T) -> A,
) -> A {
    assert_eq!(a.shape(), b.shape(), "shapes differ");
    if let (Some(x), Some(y)) = (as_slice(a), as_slice(b)) {
        return x.iter().zip(y).fold(init, |acc, (&x, &y)| f(acc, x, y));
    }
    let mut acc = init;
    for j in 0..a.ncols() {
        for (&x, &y) in column(a, j).iter().zip(column(b, j)) {
            acc = f(acc, x, y);
        }
    }
    acc
}

/// `(acc, out) = f(acc, x, y)` over every triple of entries, in the order of [`zip_fold`]: a map
/// and a fold in one pass (a loss's gradient and its value).
///
/// # Panics
///
/// If the shapes differ.
#[inline(always)]
pub(crate) fn zip_map_fold<T: Float, A>(
    out: &mut DMatrixViewMut<'_, T>,
    a: &DMatrixView<'_, T>,
    b: &DMatrixView<'_, T>,
    init: A,
    mut f: impl FnMut(A, T, T) -> (A, T),
) -> A {
    assert!(
        out.shape() == a.shape() && a.shape() == b.shape(),
        "shapes differ"
    );
    let mut acc = init;
    if let (Some(x), Some(y), true) = (
        as_slice(a),
        as_slice(b),
        is_contiguous(out.nrows(), out.ncols(), out.strides().1),
    ) {
        let o = as_mut_slice(out).expect("checked contiguous");
        for ((o, &x), &y) in o.iter_mut().zip(x).zip(y) {
            (acc, *o) = f(acc, x, y);
        }
        return acc;
    }
    for j in 0..out.ncols() {
        let (x, y) = (column(a, j), column(b, j));
        for ((o, &x), &y) in column_mut(out, j).iter_mut().zip(x).zip(y) {
            (acc, *o) = f(acc, x, y);
        }
    }
    acc
}

/// Copies `src` into `dst`, column by column.
///
/// # Panics
///
/// If the shapes differ.
#[inline]
pub(crate) fn copy<T: Float>(dst: &mut DMatrixViewMut<'_, T>, src: &DMatrixView<'_, T>) {
    assert_eq!(dst.shape(), src.shape(), "shapes differ");
    if let (Some(s), true) = (
        as_slice(src),
        is_contiguous(dst.nrows(), dst.ncols(), dst.strides().1),
    ) {
        as_mut_slice(dst)
            .expect("checked contiguous")
            .copy_from_slice(s);
        return;
    }
    if dst.nrows() < 8 {
        // Short columns (one row: stochastic descent): element by element, no `memcpy` calls.
        for j in 0..dst.ncols() {
            for (d, &s) in column_mut(dst, j).iter_mut().zip(column(src, j)) {
                *d = s;
            }
        }
        return;
    }
    for j in 0..dst.ncols() {
        column_mut(dst, j).copy_from_slice(column(src, j));
    }
}

/// The sum of every column of `a` into `out`, each summed from zero in order of the rows. Eight
/// columns are summed side by side, so that the additions of different columns overlap instead
/// of waiting for each other.
///
/// # Panics
///
/// If `out.len() != a.ncols()`.
#[inline]
pub(crate) fn column_sums<T: Float>(a: &DMatrixView<'_, T>, out: &mut [T]) {
    assert_eq!(out.len(), a.ncols(), "one sum per column");
    #[cfg_attr(not(target_arch = "x86_64"), allow(unused_mut))]
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if size_of::<T>() == 4 && a.nrows() >= 8 && super::kernel::has_avx2_fma() {
        // SAFETY: `Float` is sealed to f32 and f64, so a 4-byte `T` is f32. The view's row
        // stride is 1 by type, so it is a column-major `nrows x ncols` matrix with leading
        // dimension `strides().1`, inside its data; `out` holds `ncols` values (checked above);
        // `has_avx2_fma` detected AVX2, and a CPU with AVX2 has AVX.
        done = unsafe {
            super::kernel::x86::column_sums_f32(
                a.nrows(),
                a.ncols(),
                a.as_ptr().cast(),
                a.strides().1,
                out.as_mut_ptr().cast(),
            )
        };
    }
    vectorized_for(a.len(), || column_sums_in(a, &mut out[done..], done))
}

/// [`column_sums`] of the columns from `j0` on.
#[inline(always)]
fn column_sums_in<T: Float>(a: &DMatrixView<'_, T>, out: &mut [T], j0: usize) {
    const LANES: usize = 8;
    let rows = a.nrows();
    let mut chunks = out.chunks_exact_mut(LANES);
    let mut j0 = j0;
    for chunk in &mut chunks {
        let cols: [&[T]; LANES] = std::array::from_fn(|l| column(a, j0 + l));
        let mut sums = [T::zero(); LANES];
        for r in 0..rows {
            for (s, col) in sums.iter_mut().zip(&cols) {
                *s += col[r];
            }
        }
        chunk.copy_from_slice(&sums);
        j0 += LANES;
    }
    for (l, o) in chunks.into_remainder().iter_mut().enumerate() {
        *o = column(a, j0 + l).iter().fold(T::zero(), |s, &x| s + x);
    }
}

/// Adds `row[j]` to every entry of column `j` of `a`.
///
/// # Panics
///
/// If `row.len() != a.ncols()` (a bias that a custom optimizer resized, say).
#[inline]
pub(crate) fn add_row<T: Float>(a: &mut DMatrixViewMut<'_, T>, row: &[T]) {
    assert_eq!(row.len(), a.ncols(), "one value per column");
    vectorized_for(a.len(), || {
        for (j, &r) in row.iter().enumerate() {
            column_mut(a, j).iter_mut().for_each(|x| *x += r);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::kernel;
    use nalgebra::DMatrix;

    #[test]
    #[should_panic(expected = "one value per column")]
    fn adding_a_row_longer_than_the_view_is_wide_panics() {
        // Four columns in memory, a view of three, a row of four: the fourth must not be touched.
        let mut m = DMatrix::<f64>::zeros(2, 4);
        add_row(&mut m.columns_mut(0, 3), &[1.0; 4]);
    }

    #[test]
    #[should_panic(expected = "one value per column")]
    fn adding_a_row_shorter_than_the_view_is_wide_panics() {
        let mut m = DMatrix::<f32>::zeros(2, 4);
        add_row(&mut m.as_view_mut(), &[1.0; 3]);
    }

    #[test]
    #[should_panic(expected = "shapes differ")]
    fn copying_between_views_of_different_shapes_panics() {
        // Strided views, so that the copy would go column by column.
        let src = DMatrix::<f64>::zeros(5, 2);
        let mut dst = DMatrix::<f64>::zeros(5, 3);
        copy(&mut dst.rows_mut(0, 4), &src.rows(0, 4));
    }

    /// Column sums, vectorised or not, add each column from zero in order of the rows: the bits
    /// of a plain left-to-right sum, on values whose sum depends on the order.
    #[test]
    fn column_sums_add_each_column_in_order_of_the_rows() {
        use std::sync::atomic::Ordering;
        let value = |i: usize| {
            let x = ((i * 7919 % 1009) as f32 - 504.0) / 37.0;
            x * [1.0, 1e-4, 3e3, 0.1][i % 4]
        };
        for portable in [false, true] {
            kernel::FORCE_PORTABLE.store(portable, Ordering::Relaxed);
            for rows in [0, 1, 7, 8, 9, 16, 33, 128] {
                for cols in [1, 7, 8, 9, 17, 24] {
                    for pad in [0, 3] {
                        let m = DMatrix::<f32>::from_fn(rows + pad, cols, |i, j| {
                            value(i * 131 + j * 17)
                        });
                        let view = m.view((0, 0), (rows, cols));
                        let mut got = vec![f32::NAN; cols];
                        column_sums(&view, &mut got);
                        for (j, g) in got.iter().enumerate() {
                            let want = (0..rows).fold(0.0f32, |s, i| s + m[(i, j)]);
                            assert_eq!(
                                g.to_bits(),
                                want.to_bits(),
                                "{rows}x{cols} (+{pad}) column {j}, portable {portable}"
                            );
                        }
                    }
                }
            }
        }
        kernel::FORCE_PORTABLE.store(false, Ordering::Relaxed);
    }
}
