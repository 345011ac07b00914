//! The product `C = alpha * op(A) * op(B) + beta * C` on views: [`gemm`] checks that the shapes
//! chain and sends products of one row, outer products and tiny ones to the plain loops of
//! [`small_gemm`], the others to the blocked product.

use nalgebra::{DMatrixView, DMatrixViewMut};

use super::blocked;
use crate::Float;

/// Below this many multiply-adds a product runs as a plain loop (so do all one-row products and
/// outer products, where a packed tile would be mostly empty).
const SMALL: usize = 512;

/// A matrix operand: a view and whether it enters the product transposed.
///
/// Invariant: element `(i, j)`, for `i < rows` and `j < cols`, is at `ptr + i * rs + j * cs`,
/// inside the view borrowed for `'a`. Only [`Op::n`] and [`Op::t`] build one, from a view.
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

    /// The operand as a pointer and strides, for the blocked product (same element type).
    fn strided<E>(&self) -> blocked::Strided<E> {
        blocked::Strided {
            ptr: self.ptr.cast(),
            rs: self.rs,
            cs: self.cs,
        }
    }
}

/// `c = alpha * a * b + beta * c`. With `beta == 0`, `c`'s old contents are ignored (even NaN).
///
/// Always inlined, so that the small products of one-row training fold into their caller (which
/// passes constant `alpha` and `beta`); large products call the blocked code.
///
/// # Panics
///
/// If the shapes do not chain (`a: m x k`, `b: k x n`, `c: m x n`); callers validate shapes first.
#[inline(always)]
pub(crate) fn gemm<T: Float>(
    alpha: T,
    a: Op<'_, T>,
    b: Op<'_, T>,
    beta: T,
    c: &mut DMatrixViewMut<'_, T>,
) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    if b.rows != k || c.nrows() != m || c.ncols() != n {
        shapes_do_not_chain((m, k), (b.rows, n), c.shape());
    }
    if m == 0 || n == 0 {
        return;
    }
    // A view's rows are contiguous: element (i, j) of `c` is at `i + j * ldc`.
    let ldc = c.strides().1;
    let cp = c.as_mut_ptr();
    if k <= 1 || m == 1 || m * n * k < SMALL {
        // SAFETY: the shapes chain (checked above); `a` and `b` address their views (the
        // invariant of `Op`), and `cp`, `ldc` address the `m x n` view `c`, whose row stride is 1
        // by type. `c` is borrowed mutably while `a` and `b` borrow their views, so it overlaps
        // neither.
        unsafe { small_gemm(alpha, a, b, beta, cp, ldc) };
    } else {
        // SAFETY: as for `small_gemm`, and `k > 1` here, as the blocked product requires.
        unsafe { large_gemm(alpha, a, b, beta, cp, ldc) };
    }
}

#[cold]
#[inline(never)]
fn shapes_do_not_chain(a: (usize, usize), b: (usize, usize), c: (usize, usize)) -> ! {
    panic!("gemm shapes do not chain: {a:?} * {b:?} -> {c:?}")
}

/// The blocked product, for one of the two element types.
///
/// # Safety
///
/// As [`small_gemm`], and `k > 1`.
#[inline(never)]
unsafe fn large_gemm<T: Float>(
    alpha: T,
    a: Op<'_, T>,
    b: Op<'_, T>,
    beta: T,
    c: *mut T,
    ldc: usize,
) {
    /// The product in element type `E`, which is `T`.
    ///
    /// # Safety
    ///
    /// As [`large_gemm`], and `E` is the same type as `T`.
    unsafe fn go<T: Float, E: blocked::Elem>(
        alpha: T,
        a: Op<'_, T>,
        b: Op<'_, T>,
        beta: T,
        c: *mut T,
        ldc: usize,
    ) {
        let (m, k, n) = (a.rows, a.cols, b.cols);
        let (alpha, beta) = (E::of(alpha.as_f64()), E::of(beta.as_f64()));
        // SAFETY: `E` is `T`, so the pointer casts (in `strided` too) keep the element type and
        // `blocked::gemm` gets the operands `large_gemm` was given: `a` and `b` valid for
        // `m x k` and `k x n`, `c` valid for `m x n` with leading dimension `ldc`, overlapping
        // neither, and `k > 0`.
        unsafe {
            blocked::gemm::<E>(
                m,
                k,
                n,
                alpha,
                a.strided(),
                b.strided(),
                beta,
                c.cast(),
                ldc,
            )
        }
    }
    // `Float` is sealed to f32 and f64, so the size tells the type (and converting alpha and
    // beta through f64 is exact).
    if size_of::<T>() == 4 {
        // SAFETY: the caller's contract, and `T` is f32 (4 bytes).
        unsafe { go::<T, f32>(alpha, a, b, beta, c, ldc) }
    } else {
        // SAFETY: the caller's contract, and `T` is f64 (not 4 bytes).
        unsafe { go::<T, f64>(alpha, a, b, beta, c, ldc) }
    }
}

/// The plain loop: `c[i, j] = alpha * sum_p a[i, p] * b[p, j] (+ beta * c[i, j])`, summed in
/// order of `p` from zero, as numpy's small products do.
///
/// The products of one-row training get loops over contiguous memory: a row times a matrix (the
/// forward pass, `layer_0.dot(weights_0_1)`), a row times a transposed matrix (the delta sent
/// back, `layer_1_delta.dot(weights_0_1.T)`), and an outer product (the weight delta,
/// `layer_0.T.dot(layer_1_delta)`). Each entry is still summed from zero in order of `p`.
///
/// # Safety
///
/// The shapes chain (`a: m x k`, `b: k x n`); `a` and `b` hold the invariant of [`Op`]; `c` is
/// valid for reads and writes of `m x n` elements, `(i, j)` at `i + j * ldc`, and overlaps
/// neither operand.
#[inline(always)]
unsafe fn small_gemm<T: Float>(
    alpha: T,
    a: Op<'_, T>,
    b: Op<'_, T>,
    beta: T,
    c: *mut T,
    ldc: usize,
) {
    let (m, k) = (a.rows, a.cols);
    // In each case below, an index `i < m`, `j < n` or `p < k` addresses an element inside its
    // operand (the caller's contract), and every address is formed from such indices only.
    if k == 0 {
        // SAFETY: `c` is `m x n` (the caller's contract).
        unsafe { empty_sums(alpha, beta, m, b.cols, c, ldc) };
        return;
    }
    if beta == T::zero() && alpha == T::one() {
        if k == 1 && m == 1 {
            // SAFETY: the caller's contract, and m = k = 1.
            unsafe { number_times_row(a, b, c, ldc) };
            return;
        }
        if k == 1 {
            // SAFETY: the caller's contract, and k = 1.
            unsafe { outer_product(a, b, c, ldc) };
            return;
        }
        if m == 1 && b.rs == 1 {
            // SAFETY: the caller's contract, m = 1 and b's row stride is 1.
            unsafe { row_times_columns(a, b, c, ldc) };
            return;
        }
        if m == 1 && b.cs == 1 && ldc == 1 {
            // SAFETY: the caller's contract, m = 1, and the column strides of `b` and `c` are 1.
            unsafe { row_times_rows(a, b, c) };
            return;
        }
    }
    // SAFETY: the caller's contract.
    unsafe { general_loop(alpha, a, b, beta, c, ldc) }
}

/// [`small_gemm`] of empty sums (`k == 0`) into the `m x n` matrix `c`: what the general loop
/// writes, without forming any address in `a` or `b`, which may have no elements at all.
///
/// # Safety
///
/// `c` is as in [`small_gemm`].
#[inline(always)]
unsafe fn empty_sums<T: Float>(alpha: T, beta: T, m: usize, n: usize, c: *mut T, ldc: usize) {
    let zero = T::zero();
    for j in 0..n {
        for i in 0..m {
            // SAFETY: i < m and j < n, so (i, j) is inside `c`.
            let out = unsafe { &mut *c.add(j * ldc + i) };
            *out = if beta == zero {
                alpha * zero
            } else {
                alpha * zero + beta * *out
            };
        }
    }
}

/// A number times a row: c[0, j] = a[0, 0] * b[0, j].
///
/// # Safety
///
/// As [`small_gemm`], and `m == k == 1`.
#[inline(always)]
unsafe fn number_times_row<T: Float>(a: Op<'_, T>, b: Op<'_, T>, c: *mut T, ldc: usize) {
    let n = b.cols;
    let zero = T::zero();
    // SAFETY: m = k = 1, so a[0, 0] is at `a.ptr`; for j < n, b[0, j] and c[0, j] are
    // inside `b` and `c`.
    unsafe {
        let a00 = *a.ptr;
        for j in 0..n {
            *c.add(j * ldc) = zero + a00 * *b.ptr.offset(j as isize * b.cs);
        }
    }
}

/// Outer product: c[i, j] = a[i, 0] * b[0, j], four columns at a time.
///
/// # Safety
///
/// As [`small_gemm`], and `k == 1`.
#[inline(always)]
unsafe fn outer_product<T: Float>(a: Op<'_, T>, b: Op<'_, T>, c: *mut T, ldc: usize) {
    let (m, n) = (a.rows, b.cols);
    let zero = T::zero();
    let mut j = 0;
    while j + 4 <= n {
        // SAFETY: j + q < j + 4 <= n, so b[0, j + q] is inside `b`.
        let bj: [T; 4] = unsafe { std::array::from_fn(|q| *b.ptr.offset((j + q) as isize * b.cs)) };
        for i in 0..m {
            // SAFETY: i < m, so a[i, 0] is inside `a`, and c[i, j + q] inside `c` as
            // j + q < n.
            unsafe {
                let ai = *a.ptr.offset(i as isize * a.rs);
                for (q, &bq) in bj.iter().enumerate() {
                    *c.add((j + q) * ldc + i) = zero + ai * bq;
                }
            }
        }
        j += 4;
    }
    for j in j..n {
        // SAFETY: j < n, so b[0, j] is inside `b`.
        let bj = unsafe { *b.ptr.offset(j as isize * b.cs) };
        for i in 0..m {
            // SAFETY: i < m and j < n: a[i, 0] and c[i, j] are inside `a` and `c`.
            unsafe { *c.add(j * ldc + i) = zero + *a.ptr.offset(i as isize * a.rs) * bj };
        }
    }
}

/// A row times columns: c[0, j] = a[0, :] . b[:, j], each column contiguous; in `f32` with AVX,
/// eight columns at a time in the lanes of a vector, else four columns at a time share each
/// a[0, p] and keep their own sums.
///
/// # Safety
///
/// As [`small_gemm`], `m == 1` and `b.rs == 1`.
#[inline(always)]
unsafe fn row_times_columns<T: Float>(a: Op<'_, T>, b: Op<'_, T>, c: *mut T, ldc: usize) {
    let (k, n) = (a.cols, b.cols);
    let zero = T::zero();
    let mut j = 0;
    #[cfg(target_arch = "x86_64")]
    if size_of::<T>() == 4 && super::kernel::has_avx2_fma() {
        // SAFETY: `Float` is sealed to f32 and f64, so a 4-byte `T` is f32; m = 1, b's row
        // stride is 1 (so it is column-major with leading dimension `b.cs`), `c`'s columns are
        // `ldc` apart (the caller's contract); `has_avx2_fma` detected AVX2, which implies AVX.
        j = unsafe {
            super::kernel::x86::row_times_columns_f32(
                k,
                n,
                a.ptr.cast(),
                a.cs,
                b.ptr.cast(),
                b.cs,
                c.cast(),
                ldc,
            )
        };
    }
    while j + 4 <= n {
        // SAFETY: j + q < n, so column j + q of `b` starts inside it.
        let bj: [*const T; 4] =
            unsafe { std::array::from_fn(|q| b.ptr.offset((j + q) as isize * b.cs)) };
        let mut s = [zero; 4];
        for p in 0..k {
            // SAFETY: p < k, so a[0, p] is inside `a`, and b[p, j + q] (at p past the
            // start of its column, as b's row stride is 1) inside `b`.
            unsafe {
                let ap = *a.ptr.offset(p as isize * a.cs);
                for (sq, &bq) in s.iter_mut().zip(&bj) {
                    *sq += ap * *bq.add(p);
                }
            }
        }
        for (q, &sq) in s.iter().enumerate() {
            // SAFETY: m = 1 and j + q < n, so c[0, j + q] is inside `c`.
            unsafe { *c.add((j + q) * ldc) = sq };
        }
        j += 4;
    }
    for j in j..n {
        // SAFETY: j < n, so column j of `b` starts inside it.
        let bj = unsafe { b.ptr.offset(j as isize * b.cs) };
        let mut s = zero;
        for p in 0..k {
            // SAFETY: p < k: a[0, p] and b[p, j] (b's row stride is 1) are inside.
            s += unsafe { *a.ptr.offset(p as isize * a.cs) * *bj.add(p) };
        }
        // SAFETY: m = 1 and j < n, so c[0, j] is inside `c`.
        unsafe { *c.add(j * ldc) = s };
    }
}

/// A row times rows: c[0, :] += a[0, p] * b[p, :] for each p in order, so every entry is summed
/// as in the other cases, and the rows of b and c are contiguous.
///
/// # Safety
///
/// As [`small_gemm`] with `ldc == 1`, `m == 1` and `b.cs == 1`.
#[inline(always)]
unsafe fn row_times_rows<T: Float>(a: Op<'_, T>, b: Op<'_, T>, c: *mut T) {
    let (k, n) = (a.cols, b.cols);
    for j in 0..n {
        // SAFETY: m = 1, ldc = 1 and j < n, so c[0, j] is at `c + j`, inside `c`.
        unsafe { *c.add(j) = T::zero() };
    }
    for p in 0..k {
        // SAFETY: p < k, so a[0, p] and the start of row p of `b` are inside them.
        let (ap, bp) = unsafe {
            (
                *a.ptr.offset(p as isize * a.cs),
                b.ptr.offset(p as isize * b.rs),
            )
        };
        for j in 0..n {
            // SAFETY: j < n and the column strides of `b` and `c` are 1, so b[p, j] and
            // c[0, j] are at `bp + j` and `c + j`, inside them.
            unsafe { *c.add(j) += ap * *bp.add(j) };
        }
    }
}

/// The general loop of [`small_gemm`]: any strides, alpha and beta, each entry summed from zero
/// in order of `p`.
///
/// # Safety
///
/// As [`small_gemm`].
#[inline(always)]
unsafe fn general_loop<T: Float>(
    alpha: T,
    a: Op<'_, T>,
    b: Op<'_, T>,
    beta: T,
    c: *mut T,
    ldc: usize,
) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    let zero = T::zero();
    for j in 0..n {
        // SAFETY: j < n, so column j of `b` and of `c` start inside them.
        let (bj, cj) = unsafe { (b.ptr.offset(j as isize * b.cs), c.add(j * ldc)) };
        for i in 0..m {
            // SAFETY: i < m, so row i of `a` starts inside it.
            let ai = unsafe { a.ptr.offset(i as isize * a.rs) };
            let mut s = zero;
            for p in 0..k {
                // SAFETY: p < k, so a[i, p] and b[p, j] are inside `a` and `b`.
                s += unsafe { *ai.offset(p as isize * a.cs) * *bj.offset(p as isize * b.rs) };
            }
            // SAFETY: i < m, so c[i, j] is inside `c`; `c` overlaps neither operand, so no
            // other reference to it is alive.
            let out = unsafe { &mut *cj.add(i) };
            *out = if beta == zero {
                alpha * s
            } else {
                alpha * s + beta * *out
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::kernel;
    use nalgebra::DMatrix;

    /// `alpha * a * b + beta * c` by the definition, in f64, as the independent reference.
    fn reference(
        alpha: f64,
        a: &DMatrix<f64>,
        b: &DMatrix<f64>,
        beta: f64,
        c: &DMatrix<f64>,
    ) -> DMatrix<f64> {
        DMatrix::from_fn(a.nrows(), b.ncols(), |i, j| {
            let s: f64 = (0..a.ncols()).map(|p| a[(i, p)] * b[(p, j)]).sum();
            alpha * s + if beta == 0.0 { 0.0 } else { beta * c[(i, j)] }
        })
    }

    fn value(i: usize, j: usize, salt: usize) -> f64 {
        (((i * 7 + j * 13 + salt * 5) % 23) as f64 - 11.0) / 8.0
    }

    /// Every combination of transposed operands and of (alpha, beta), against the reference.
    fn check<T: Float>(m: usize, k: usize, n: usize, tol: f64) {
        let a = DMatrix::from_fn(m, k, |i, j| value(i, j, 1));
        let b = DMatrix::from_fn(k, n, |i, j| value(i, j, 2));
        let c0 = DMatrix::from_fn(m, n, |i, j| value(i, j, 3));
        let cast = |x: &DMatrix<f64>| x.map(T::of);
        for (alpha, beta) in [(1.0, 0.0), (2.0, 0.5), (-0.5, 1.0)] {
            let expected = reference(alpha, &a, &b, beta, &c0);
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                // A transposed operand is stored transposed and read through swapped strides.
                let sa = if ta { cast(&a.transpose()) } else { cast(&a) };
                let sb = if tb { cast(&b.transpose()) } else { cast(&b) };
                let (va, vb) = (sa.as_view(), sb.as_view());
                let oa = if ta { Op::t(&va) } else { Op::n(&va) };
                let ob = if tb { Op::t(&vb) } else { Op::n(&vb) };
                // With beta = 0 the old contents must be ignored, NaN included.
                let mut c = if beta == 0.0 {
                    DMatrix::from_element(m, n, T::of(f64::NAN))
                } else {
                    cast(&c0)
                };
                gemm(T::of(alpha), oa, ob, T::of(beta), &mut c.as_view_mut());
                for i in 0..m {
                    for j in 0..n {
                        let (got, want) = (c[(i, j)].as_f64(), expected[(i, j)]);
                        assert!(
                            (got - want).abs() <= tol * (1.0 + want.abs()),
                            "{} {m}x{k}x{n} ta {ta} tb {tb} alpha {alpha} beta {beta} at ({i},{j}): {got} vs {want}",
                            T::NAME
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn small_and_blocked_products_match_the_definition() {
        for &(m, k, n) in &[
            (1, 3, 4),
            (3, 1, 4),
            (5, 0, 2),
            (1, 1, 1),
            (40, 30, 20),
            (64, 33, 129),
            (16, 64, 6),
            (17, 65, 7),
            (32, 64, 128),
            (5, 64, 128),
            (128, 32, 10),
            (32, 10, 128),
            (1, 300, 50),
            (200, 300, 1),
            (130, 600, 70),
            (70, 1, 90),
            (8, 8, 8),
        ] {
            check::<f64>(m, k, n, 1e-12);
            check::<f32>(m, k, n, 1e-4);
        }
    }

    #[test]
    fn a_view_into_a_larger_matrix_is_read_through_its_strides() {
        // Rows 3..43 of a 50-row matrix: column stride 50, not 40.
        let big = DMatrix::from_fn(50, 70, |i, j| value(i, j, 4));
        let w = DMatrix::from_fn(70, 30, |i, j| value(i, j, 5));
        let x = big.rows(3, 40);
        let mut out = DMatrix::zeros(40, 30);
        gemm(
            1.0,
            Op::n(&x),
            Op::n(&w.as_view()),
            0.0,
            &mut out.as_view_mut(),
        );
        let expected = reference(1.0, &x.clone_owned(), &w, 0.0, &out);
        approx::assert_relative_eq!(out, expected, epsilon = 1e-12);
        // And into a view of a larger output.
        let mut wide = DMatrix::from_element(60, 30, 7.0);
        gemm(
            1.0,
            Op::n(&x),
            Op::n(&w.as_view()),
            0.0,
            &mut wide.rows_mut(10, 40),
        );
        approx::assert_relative_eq!(wide.rows(10, 40).clone_owned(), expected, epsilon = 1e-12);
        assert!(
            wide.rows(0, 10)
                .iter()
                .chain(wide.rows(50, 10).iter())
                .all(|&v| v == 7.0)
        );
    }

    #[test]
    fn products_from_several_threads_at_once_agree() {
        let a = DMatrix::from_fn(150, 200, |i, j| value(i, j, 6) as f32);
        let b = DMatrix::from_fn(200, 90, |i, j| value(i, j, 7) as f32);
        let expected = reference(
            1.0,
            &a.map(f64::from),
            &b.map(f64::from),
            0.0,
            &DMatrix::zeros(150, 90),
        );
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    for _ in 0..20 {
                        let mut c = DMatrix::zeros(150, 90);
                        gemm(
                            1.0,
                            Op::n(&a.as_view()),
                            Op::n(&b.as_view()),
                            0.0,
                            &mut c.as_view_mut(),
                        );
                        for (x, y) in c.iter().zip(expected.iter()) {
                            assert!((f64::from(*x) - y).abs() < 1e-3 * (1.0 + y.abs()));
                        }
                    }
                });
            }
        });
    }

    #[test]
    fn the_portable_kernels_match_the_definition() {
        use std::sync::atomic::Ordering;
        kernel::FORCE_PORTABLE.store(true, Ordering::Relaxed);
        for &(m, k, n) in &[(40, 30, 20), (64, 33, 129), (17, 65, 7), (130, 600, 70)] {
            check::<f64>(m, k, n, 1e-12);
            check::<f32>(m, k, n, 1e-4);
        }
        kernel::FORCE_PORTABLE.store(false, Ordering::Relaxed);
    }

    /// `alpha * op(a) * op(b) + beta * c0` by the blocked product with the kernels allowed by
    /// the test switches (`FORCE_PORTABLE`, `FORCE_AVX2`).
    fn product_with<T: Float>(
        (portable, avx2): (bool, bool),
        a: &DMatrix<T>,
        b: &DMatrix<T>,
        c0: &DMatrix<T>,
        (ta, alpha, beta): (bool, T, T),
    ) -> DMatrix<T> {
        use std::sync::atomic::Ordering;
        kernel::FORCE_PORTABLE.store(portable, Ordering::Relaxed);
        kernel::FORCE_AVX2.store(avx2, Ordering::Relaxed);
        let (va, vb) = (a.as_view(), b.as_view());
        let oa = if ta { Op::t(&va) } else { Op::n(&va) };
        let mut c = c0.clone();
        gemm(alpha, oa, Op::n(&vb), beta, &mut c.as_view_mut());
        kernel::FORCE_PORTABLE.store(false, Ordering::Relaxed);
        kernel::FORCE_AVX2.store(false, Ordering::Relaxed);
        c
    }

    /// Blocked products (partial tiles, several depth blocks, two threads) give the same bits
    /// with the portable, AVX2 and AVX-512 kernels, on values whose sums round.
    fn kernels_give_the_same_products<T: Float>() {
        let inexact = |i: usize, j: usize, salt: usize| T::of(value(i, j, salt) / 1.7 + 0.01);
        for &(m, k, n) in &[(40, 30, 20), (17, 600, 13), (130, 300, 70), (256, 784, 128)] {
            for ta in [false, true] {
                let a = DMatrix::from_fn(m, k, |i, j| inexact(i, j, 1));
                let a = if ta { a.transpose() } else { a };
                let b = DMatrix::from_fn(k, n, |i, j| inexact(i, j, 2));
                let c0 = DMatrix::from_fn(m, n, |i, j| inexact(i, j, 3));
                for (alpha, beta) in [(1.0, 0.0), (0.75, 1.0)] {
                    let how = (ta, T::of(alpha), T::of(beta));
                    let wide = product_with((false, false), &a, &b, &c0, how);
                    let avx2 = product_with((false, true), &a, &b, &c0, how);
                    let portable = product_with((true, false), &a, &b, &c0, how);
                    let same = |x: &DMatrix<T>| x.iter().zip(wide.iter()).all(|(p, q)| p == q);
                    assert!(same(&avx2), "{} {m}x{k}x{n} ta {ta}: AVX2 differs", T::NAME);
                    assert!(same(&portable), "{} {m}x{k}x{n} ta {ta}: portable", T::NAME);
                }
            }
        }
    }

    /// One-row `f32` products by vectors of eight columns give the bits of the plain loop (the
    /// one-row training path), whatever the length, width and row stride.
    #[test]
    fn one_row_products_by_vectors_give_the_plain_loops_bits() {
        let inexact = |i: usize, j: usize, salt: usize| (value(i, j, salt) / 1.7 + 0.01) as f32;
        for &(k, n) in &[(8, 8), (13, 9), (64, 17), (785, 256), (3, 30)] {
            let b = DMatrix::from_fn(k, n, |i, j| inexact(i, j, 2));
            // A row of a larger matrix (its values 3 apart), as a batch row read in place.
            let big = DMatrix::from_fn(3, k, |i, j| inexact(i, j, 1));
            let a = big.rows(1, 1);
            let run = |portable: bool| {
                use std::sync::atomic::Ordering;
                kernel::FORCE_PORTABLE.store(portable, Ordering::Relaxed);
                let mut c = DMatrix::from_element(1, n, f32::NAN);
                gemm(
                    1.0,
                    Op::n(&a),
                    Op::n(&b.as_view()),
                    0.0,
                    &mut c.as_view_mut(),
                );
                kernel::FORCE_PORTABLE.store(false, Ordering::Relaxed);
                c
            };
            let (vectors, plain) = (run(false), run(true));
            for j in 0..n {
                let want = (0..k).fold(0.0f32, |s, p| s + a[(0, p)] * b[(p, j)]);
                assert_eq!(
                    vectors[(0, j)].to_bits(),
                    want.to_bits(),
                    "{k}x{n} column {j}"
                );
                assert_eq!(
                    plain[(0, j)].to_bits(),
                    want.to_bits(),
                    "{k}x{n} column {j}"
                );
            }
        }
    }

    #[test]
    fn every_kernel_gives_the_same_products() {
        kernels_give_the_same_products::<f32>();
        kernels_give_the_same_products::<f64>();
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 48, ..Default::default() })]

        /// Random shapes (small, blocked and threaded), transposes, strided sub-views of larger
        /// matrices and (alpha, beta), against the definition.
        #[test]
        fn random_products_match_the_definition(
            m in 1usize..160,
            k in 0usize..300,
            n in 1usize..160,
            ta: bool,
            tb: bool,
            offset in 0usize..3,
            beta_on: bool,
            seed in 0usize..1000,
        ) {
            let a = DMatrix::from_fn(m, k, |i, j| value(i, j, seed));
            let b = DMatrix::from_fn(k, n, |i, j| value(i, j, seed + 1));
            let c0 = DMatrix::from_fn(m, n, |i, j| value(i, j, seed + 2));
            let (alpha, beta) = (1.5, if beta_on { -0.5 } else { 0.0 });
            let expected = reference(alpha, &a, &b, beta, &c0);
            // Operands stored inside larger matrices (offset rows), possibly transposed.
            let store = |x: &DMatrix<f64>, t: bool| {
                let x = if t { x.transpose() } else { x.clone() };
                let mut big = DMatrix::from_element(x.nrows() + 2 * offset, x.ncols(), f64::NAN);
                big.rows_mut(offset, x.nrows()).copy_from(&x);
                big
            };
            let (sa, sb) = (store(&a, ta), store(&b, tb));
            let va = sa.rows(offset, if ta { k } else { m });
            let vb = sb.rows(offset, if tb { n } else { k });
            let oa = if ta { Op::t(&va) } else { Op::n(&va) };
            let ob = if tb { Op::t(&vb) } else { Op::n(&vb) };
            let mut c = if beta_on { c0.clone() } else { DMatrix::from_element(m, n, f64::NAN) };
            gemm(alpha, oa, ob, beta, &mut c.as_view_mut());
            for (got, want) in c.iter().zip(expected.iter()) {
                proptest::prop_assert!((got - want).abs() <= 1e-11 * (1.0 + want.abs()), "{got} vs {want}");
            }
        }
    }
}
