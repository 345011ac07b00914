//! In-place matrix products on views: `C = alpha * op(A) * op(B) + beta * C`.
//!
//! Transposes are strides, never copies: `layer_0.T.dot(delta)` reads `layer_0` with its row and
//! column strides swapped. Tiny products (the book's 1x3 by 3x4) take a plain loop, because the
//! packing that makes `matrixmultiply` fast on large matrices dominates at that size.

use nalgebra::{DMatrixView, DMatrixViewMut};

use crate::Float;

/// Below this many multiply-adds a product runs as a plain loop.
const SMALL: usize = 4096;

/// A matrix operand: a view and whether it enters the product transposed.
#[derive(Clone, Copy)]
pub(crate) struct Op<'a, T: Float> {
    ptr: *const T,
    rows: usize,
    cols: usize,
    rs: isize,
    cs: isize,
    _view: std::marker::PhantomData<&'a T>,
}

impl<'a, T: Float> Op<'a, T> {
    /// `A` as it is.
    pub(crate) fn n(a: &'a DMatrixView<'_, T>) -> Self {
        let (rs, cs) = a.strides();
        Op {
            ptr: a.as_ptr(),
            rows: a.nrows(),
            cols: a.ncols(),
            rs: rs as isize,
            cs: cs as isize,
            _view: std::marker::PhantomData,
        }
    }

    /// `A^T`, by swapping strides.
    pub(crate) fn t(a: &'a DMatrixView<'_, T>) -> Self {
        let o = Self::n(a);
        Op {
            rows: o.cols,
            cols: o.rows,
            rs: o.cs,
            cs: o.rs,
            ..o
        }
    }

    #[inline(always)]
    unsafe fn at(&self, i: usize, j: usize) -> T {
        // SAFETY: callers keep i < rows and j < cols, and the view outlives 'a.
        unsafe { *self.ptr.offset(i as isize * self.rs + j as isize * self.cs) }
    }
}

/// `c = alpha * a * b + beta * c`. With `beta == 0`, `c`'s old contents are ignored (even NaN).
///
/// # Panics
///
/// If the shapes do not chain (`a: m x k`, `b: k x n`, `c: m x n`); callers validate shapes first.
pub(crate) fn gemm<T: Float>(
    alpha: T,
    a: Op<'_, T>,
    b: Op<'_, T>,
    beta: T,
    c: &mut DMatrixViewMut<'_, T>,
) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert!(
        b.rows == k && c.nrows() == m && c.ncols() == n,
        "gemm shapes do not chain: ({m}x{k}) * ({}x{n}) -> ({}x{})",
        b.rows,
        c.nrows(),
        c.ncols()
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 || m * n * k <= SMALL {
        small_gemm(alpha, a, b, beta, c);
        return;
    }
    let (rsc, csc) = c.strides();
    // SAFETY: the shapes were checked above; the views are valid for their strides; `c` is a
    // mutable view, so it cannot overlap the shared views `a` and `b`.
    unsafe {
        T::raw_gemm(
            m,
            k,
            n,
            alpha,
            a.ptr,
            a.rs,
            a.cs,
            b.ptr,
            b.rs,
            b.cs,
            beta,
            c.as_mut_ptr(),
            rsc as isize,
            csc as isize,
        );
    }
}

fn small_gemm<T: Float>(
    alpha: T,
    a: Op<'_, T>,
    b: Op<'_, T>,
    beta: T,
    c: &mut DMatrixViewMut<'_, T>,
) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    for j in 0..n {
        for i in 0..m {
            let mut s = T::zero();
            for p in 0..k {
                // SAFETY: i < m, p < k, j < n, the shapes checked by `gemm`.
                s += unsafe { a.at(i, p) * b.at(p, j) };
            }
            let out = &mut c[(i, j)];
            *out = if beta == T::zero() {
                alpha * s
            } else {
                alpha * s + beta * *out
            };
        }
    }
}

/// A `rows x cols` column-major view of the front of a buffer.
pub(crate) fn view<T: Float>(buf: &[T], rows: usize, cols: usize) -> DMatrixView<'_, T> {
    DMatrixView::from_slice(&buf[..rows * cols], rows, cols)
}

/// A mutable `rows x cols` column-major view of the front of a buffer.
pub(crate) fn view_mut<T: Float>(buf: &mut [T], rows: usize, cols: usize) -> DMatrixViewMut<'_, T> {
    DMatrixViewMut::from_slice(&mut buf[..rows * cols], rows, cols)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::DMatrix;

    fn check(m: usize, k: usize, n: usize) {
        let a = DMatrix::<f64>::from_fn(m, k, |i, j| (i * 7 + j * 3) as f64 * 0.1 - 1.0);
        let b = DMatrix::<f64>::from_fn(k, n, |i, j| (i * 5 + j * 11) as f64 * 0.01 - 0.3);
        let expected = &a * &b * 2.0 + DMatrix::from_element(m, n, 0.5);
        let mut c = DMatrix::from_element(m, n, 1.0);
        gemm(
            2.0,
            Op::n(&a.as_view()),
            Op::n(&b.as_view()),
            0.5,
            &mut c.as_view_mut(),
        );
        approx::assert_relative_eq!(c, expected, epsilon = 1e-12);
        // Transposed operands read through strides.
        let (at, bt) = (a.transpose(), b.transpose());
        let mut c2 = DMatrix::from_element(m, n, f64::NAN);
        gemm(
            1.0,
            Op::t(&at.as_view()),
            Op::t(&bt.as_view()),
            0.0,
            &mut c2.as_view_mut(),
        );
        approx::assert_relative_eq!(c2, &a * &b, epsilon = 1e-12);
    }

    #[test]
    fn small_and_large_products_match_nalgebra() {
        check(1, 3, 4);
        check(3, 1, 4);
        check(5, 0, 2);
        check(40, 30, 20);
        check(64, 33, 129);
    }
}
