//! Micro-kernels and packing for the blocked product.
//!
//! The product is computed tile by tile: a micro-kernel multiplies a packed panel of `MR` rows of
//! `A` by `NR` columns of `B` and writes an `MR x NR` tile of `C`. Packing copies a block of `A`
//! into panels whose elements the kernel reads in order, whatever the strides of the source (a
//! transposed view is just another pair of strides). `B` is read in place through its strides: the
//! kernel broadcasts one element of each of its `NR` columns per step, so any layout serves, and
//! the weights are not copied on every product.
//!
//! ```text
//! packed A panel: element (i, p) at p * MR + i           B: element (p, j) at p * rs + j * cs
//! tile:  C[i, j] = alpha * sum_p A[i, p] * B[p, j] + beta * C[i, j]     (beta = 0: C is not read)
//! ```
//!
//! On x86-64 with AVX2 and FMA (detected at run time) the kernels use 256-bit registers: twelve
//! accumulators of 8 `f32` (a 16 x 6 tile) or 4 `f64` (8 x 6). Elsewhere a portable kernel of the
//! same shape is used.

use crate::Float;

/// Largest `MR * NR` of any element type: the size of a scratch tile.
pub(super) const MAX_TILE: usize = 96;

/// An element type with micro-kernels and its blocking sizes.
pub(super) trait Elem: Float {
    /// Rows of a tile (a multiple of the vector width).
    const MR: usize;
    /// Most columns of a tile.
    const NR: usize;
    /// Depth of a packed block (an `A` panel `MR x KC` and the `B` columns it meets stay in L1).
    const KC: usize;
    /// Rows of a packed `A` block (it stays in L2).
    const MC: usize;

    /// One tile by the kernel of `cols` columns (`1..=NR`), called directly so that it inlines
    /// into a caller compiled for the same features: the AVX2 kernel if `AVX`, else the portable.
    ///
    /// # Safety
    ///
    /// As [`Kernel`]; with `AVX`, the CPU has AVX2 and FMA.
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile<const AVX: bool>(
        cols: usize,
        k: usize,
        alpha: Self,
        a: *const Self,
        lda: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        beta: Self,
        c: *mut Self,
        ldc: usize,
    );

    /// Packs one full panel of `MR` rows whose rows are contiguous (`A[i, p]` at `a + i * rs + p`):
    /// `dst[p * MR + i] = A[i, p]` for `p < kc`.
    ///
    /// # Safety
    ///
    /// `a` is readable over the `MR x kc` block; `dst` is writable for `MR * kc` elements.
    unsafe fn pack_transposed(kc: usize, a: *const Self, rs: isize, dst: *mut Self);
}

/// [`Elem::pack_transposed`] element by element.
///
/// # Safety
///
/// As [`Elem::pack_transposed`] (only the steps `p0..kc` are read and written).
unsafe fn pack_transposed_portable<E: Elem>(
    p0: usize,
    kc: usize,
    a: *const E,
    rs: isize,
    dst: *mut E,
) {
    let mr = E::MR;
    for i in 0..mr {
        // SAFETY: i < MR, so row i of the `MR x kc` block is inside it.
        let from = unsafe { a.offset(i as isize * rs) };
        for p in p0..kc {
            // SAFETY: p < kc and i < MR: A[i, p] is inside the block (its rows are contiguous)
            // and `dst[p * MR + i]` inside the `MR * kc` panel.
            unsafe { *dst.add(p * mr + i) = *from.add(p) };
        }
    }
}

/// `C = alpha * A * B + beta * C` for one `MR x N` tile of a column-major `C` with leading
/// dimension `ldc`, `N` fixed by the kernel; `A` is an `MR x k` panel whose columns are contiguous
/// and `lda` apart (`MR` for a packed panel), `B` a `k x N` block with strides `rsb`, `csb`.
/// Calling one is safe when the panel and the block are readable and the tile writable, and the
/// tile overlaps neither.
// The contract of every kernel; the products call kernels directly, the tests through this.
#[cfg_attr(not(test), allow(dead_code))]
pub(super) type Kernel<E> = unsafe fn(
    k: usize,
    alpha: E,
    a: *const E,
    lda: isize,
    b: *const E,
    rsb: isize,
    csb: isize,
    beta: E,
    c: *mut E,
    ldc: usize,
);

/// A direct call of the generic kernel `$k::<G.., N>` with `N` the column count `1..=6`.
macro_rules! call_by_columns {
    ($cols:expr, $k:ident [$($g:ty),*], $args:tt) => {
        match $cols {
            6 => call_by_columns!(@ $k [$($g),*], 6, $args),
            5 => call_by_columns!(@ $k [$($g),*], 5, $args),
            4 => call_by_columns!(@ $k [$($g),*], 4, $args),
            3 => call_by_columns!(@ $k [$($g),*], 3, $args),
            2 => call_by_columns!(@ $k [$($g),*], 2, $args),
            _ => call_by_columns!(@ $k [$($g),*], 1, $args),
        }
    };
    (@ $k:ident [$($g:ty),*], $n:literal, ($($arg:expr),*)) => {
        $k::<$($g,)* $n>($($arg),*)
    };
}

/// `Elem` for one element type: its tile and block sizes, the AVX2 kernels and transposed
/// packing when the CPU has them, the portable code otherwise.
macro_rules! impl_elem {
    ($t:ty, mr: $mr:expr, mc: $mc:expr, $avx_inner:ident, $avx_pack:ident) => {
        impl Elem for $t {
            const MR: usize = $mr;
            const NR: usize = 6;
            const KC: usize = 256;
            const MC: usize = $mc;

            #[inline(always)]
            unsafe fn tile<const AVX: bool>(
                cols: usize,
                k: usize,
                alpha: $t,
                a: *const $t,
                lda: isize,
                b: *const $t,
                rsb: isize,
                csb: isize,
                beta: $t,
                c: *mut $t,
                ldc: usize,
            ) {
                #[cfg(target_arch = "x86_64")]
                if AVX {
                    use x86::$avx_inner;
                    // SAFETY: the caller's contract, AVX2 and FMA included (`AVX`), is that of
                    // the AVX2 kernel of `cols` columns.
                    unsafe {
                        call_by_columns!(
                            cols,
                            $avx_inner[],
                            (k, alpha, a, lda, b, rsb, csb, beta, c, ldc)
                        )
                    };
                    return;
                }
                // SAFETY: the caller's contract is that of the portable kernel of `cols`
                // columns, which needs no CPU feature.
                unsafe {
                    call_by_columns!(
                        cols,
                        portable[$t],
                        (k, alpha, a, lda, b, rsb, csb, beta, c, ldc)
                    )
                }
            }

            unsafe fn pack_transposed(kc: usize, a: *const $t, rs: isize, dst: *mut $t) {
                let mut done = 0;
                #[cfg(target_arch = "x86_64")]
                if has_avx2_fma() {
                    // SAFETY: the caller's contract; `has_avx2_fma` has just detected AVX2,
                    // and a CPU with AVX2 has AVX, which the packing needs.
                    done = unsafe { x86::$avx_pack(kc, a, rs, dst) };
                }
                // SAFETY: the caller's contract; `done <= kc` steps are packed already.
                unsafe { pack_transposed_portable::<$t>(done, kc, a, rs, dst) }
            }
        }

        // The blocked product's scratch sizes assume whole panels per `MC` block and a tile that
        // fits the local buffer.
        const _: () = assert!(
            <$t as Elem>::MC % <$t as Elem>::MR == 0
                && <$t as Elem>::MR * <$t as Elem>::NR <= MAX_TILE
        );
    };
}

impl_elem!(f32, mr: 16, mc: 128, kernel_f32_avx2, pack_transposed_f32);
impl_elem!(f64, mr: 8, mc: 96, kernel_f64_avx2, pack_transposed_f64);

#[cfg(target_arch = "x86_64")]
#[inline]
pub(super) fn has_avx2_fma() -> bool {
    #[cfg(test)]
    if FORCE_PORTABLE.load(std::sync::atomic::Ordering::Relaxed) {
        return false;
    }
    // The standard library caches the answer; this is an atomic load after the first call.
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

/// No AVX2 off x86-64.
#[cfg(not(target_arch = "x86_64"))]
pub(super) fn has_avx2_fma() -> bool {
    false
}

/// Tests set this to run the portable kernels on a CPU that has AVX2 (both give correct results,
/// so tests running at the same time are unaffected).
#[cfg(test)]
pub(crate) static FORCE_PORTABLE: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// The portable kernel: plain loops over a local tile that the compiler keeps in registers.
///
/// # Safety
///
/// `a` is a readable `MR x k` panel with leading dimension `lda` and `b` a readable `k x N`
/// block; `c` is a writable `MR x N` column-major tile with leading dimension `ldc`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn portable<E: Elem, const N: usize>(
    k: usize,
    alpha: E,
    a: *const E,
    lda: isize,
    b: *const E,
    rsb: isize,
    csb: isize,
    beta: E,
    c: *mut E,
    ldc: usize,
) {
    let mr = E::MR;
    let mut acc = [E::zero(); MAX_TILE];
    for p in 0..k {
        // SAFETY: p < k, so step p of the panel and row p of the block start inside them.
        let (ap, bp) = unsafe { (a.offset(p as isize * lda), b.offset(p as isize * rsb)) };
        for j in 0..N {
            // SAFETY: j < N, so B[p, j] is inside the `k x N` block.
            let bj = unsafe { *bp.offset(j as isize * csb) };
            for i in 0..mr {
                // SAFETY: i < MR, so A[i, p] is inside the panel, whose columns are contiguous.
                acc[j * mr + i] += unsafe { *ap.add(i) } * bj;
            }
        }
    }
    for j in 0..N {
        for i in 0..mr {
            // SAFETY: i < MR and j < N: inside the `MR x N` tile of C, which nothing else
            // references during the call.
            let out = unsafe { &mut *c.add(j * ldc + i) };
            let v = alpha * acc[j * mr + i];
            *out = if beta == E::zero() {
                v
            } else {
                v + beta * *out
            };
        }
    }
}

#[cfg(target_arch = "x86_64")]
pub(super) mod x86 {
    use std::arch::x86_64::*;

    /// The AVX2 + FMA kernel for one element type: a tile of two vectors of rows times `N`
    /// broadcast columns, `2 * N` accumulators (at most 12 of the 16 registers).
    macro_rules! avx2_kernel {
        ($inner:ident, $t:ty, $lanes:expr, $zero:ident, $load:ident, $store:ident,
         $set1:ident, $bcast:ident, $fma:ident, $mul:ident) => {
            /// The AVX2 kernel, for callers compiled with AVX2 and FMA to inline.
            ///
            /// # Safety
            ///
            /// As [`super::Kernel`], on a CPU with AVX2 and FMA.
            #[allow(clippy::too_many_arguments)]
            #[target_feature(enable = "avx2,fma")]
            #[inline]
            pub(super) unsafe fn $inner<const N: usize>(
                k: usize,
                alpha: $t,
                mut a: *const $t,
                lda: isize,
                mut b: *const $t,
                rsb: isize,
                csb: isize,
                beta: $t,
                c: *mut $t,
                ldc: usize,
            ) {
                // The tile is two vectors of rows: MR = 2 * lanes.
                let mut acc = [[$zero(); 2]; N];
                for _ in 0..k {
                    // SAFETY: fewer than k steps were taken, so `a` is at a step of the panel,
                    // whose MR = 2 * lanes elements are readable.
                    let (a0, a1) = unsafe { ($load(a), $load(a.add($lanes))) };
                    for (j, acc_j) in acc.iter_mut().enumerate() {
                        // SAFETY: `b` is at a row of the block and j < N, so B[p, j] is inside.
                        let bj = $bcast(unsafe { &*b.offset(j as isize * csb) });
                        acc_j[0] = $fma(a0, bj, acc_j[0]);
                        acc_j[1] = $fma(a1, bj, acc_j[1]);
                    }
                    // Wrapping: after the last step these point past their operands (a panel
                    // read in place is followed by the next rows' columns), and are not read.
                    a = a.wrapping_offset(lda);
                    b = b.wrapping_offset(rsb);
                }
                let va = $set1(alpha);
                let vb = $set1(beta);
                for (j, acc_j) in acc.iter().enumerate() {
                    // SAFETY: j < N, so column j of the `MR x N` tile starts inside C.
                    let cj = unsafe { c.add(j * ldc) };
                    for (h, &v) in acc_j.iter().enumerate() {
                        // SAFETY: h < 2, so the `lanes` rows from `lanes * h` are inside the
                        // column of the tile.
                        let ptr = unsafe { cj.add($lanes * h) };
                        let mut r = $mul(v, va);
                        if beta != 0.0 {
                            // SAFETY: `ptr` addresses `lanes` elements of the tile, readable.
                            r = $fma(unsafe { $load(ptr) }, vb, r);
                        }
                        // SAFETY: as above, and writable: nothing else references the tile.
                        unsafe { $store(ptr, r) };
                    }
                }
            }
        };
    }

    /// Transposed packing of a 16-row `f32` panel by 8 x 8 blocks in registers; returns how many
    /// steps of `p` it packed (a multiple of 8), the rest is left to the caller.
    ///
    /// # Safety
    ///
    /// As [`super::Elem::pack_transposed`], on a CPU with AVX.
    pub(super) unsafe fn pack_transposed_f32(
        kc: usize,
        a: *const f32,
        rs: isize,
        dst: *mut f32,
    ) -> usize {
        // SAFETY: the caller's contract, AVX included, is that of the AVX packing.
        unsafe { pack_transposed_f32_avx(kc, a, rs, dst) }
    }

    /// The 8 x 8 transpose of eight rows: element `c` of row `i` of the result is element `i` of
    /// row `c` of `r`.
    #[inline]
    #[target_feature(enable = "avx")]
    fn transpose8(r: [__m256; 8]) -> [__m256; 8] {
        let t0 = _mm256_unpacklo_ps(r[0], r[1]);
        let t1 = _mm256_unpackhi_ps(r[0], r[1]);
        let t2 = _mm256_unpacklo_ps(r[2], r[3]);
        let t3 = _mm256_unpackhi_ps(r[2], r[3]);
        let t4 = _mm256_unpacklo_ps(r[4], r[5]);
        let t5 = _mm256_unpackhi_ps(r[4], r[5]);
        let t6 = _mm256_unpacklo_ps(r[6], r[7]);
        let t7 = _mm256_unpackhi_ps(r[6], r[7]);
        let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
        let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
        let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
        let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
        let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
        let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
        let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
        let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
        [
            _mm256_permute2f128_ps::<0x20>(u0, u4),
            _mm256_permute2f128_ps::<0x20>(u1, u5),
            _mm256_permute2f128_ps::<0x20>(u2, u6),
            _mm256_permute2f128_ps::<0x20>(u3, u7),
            _mm256_permute2f128_ps::<0x31>(u0, u4),
            _mm256_permute2f128_ps::<0x31>(u1, u5),
            _mm256_permute2f128_ps::<0x31>(u2, u6),
            _mm256_permute2f128_ps::<0x31>(u3, u7),
        ]
    }

    /// The sums of the first `cols / 8 * 8` columns of a `rows x cols` column-major `f32` matrix
    /// with leading dimension `ld` into `out`, each from zero in order of the rows, as the plain
    /// loop adds them: eight columns side by side, eight rows at a time transposed into the
    /// eight lanes of one vector. Returns the columns summed.
    ///
    /// # Safety
    ///
    /// `a` is a readable column-major `rows x cols` matrix with leading dimension `ld` (each
    /// column starting inside its allocation), `out` writable for `cols` values; the CPU has AVX.
    #[target_feature(enable = "avx")]
    pub(in crate::linalg) unsafe fn column_sums_f32(
        rows: usize,
        cols: usize,
        a: *const f32,
        ld: usize,
        out: *mut f32,
    ) -> usize {
        let (full_cols, full_rows) = (cols / 8 * 8, rows / 8 * 8);
        let mut j0 = 0;
        while j0 < full_cols {
            // SAFETY: j0 + l < j0 + 8 <= full_cols <= cols, so these columns start inside `a`.
            let col: [*const f32; 8] = unsafe { std::array::from_fn(|l| a.add((j0 + l) * ld)) };
            let mut sums = _mm256_setzero_ps();
            let mut r = 0;
            while r < full_rows {
                // SAFETY: r + 8 <= full_rows <= rows: rows r..r + 8 of each column are inside.
                let block = unsafe { std::array::from_fn(|l| _mm256_loadu_ps(col[l].add(r))) };
                // Row r + i of the eight columns, added in order of i.
                for row in transpose8(block) {
                    sums = _mm256_add_ps(sums, row);
                }
                r += 8;
            }
            let mut lanes = [0.0f32; 8];
            // SAFETY: `lanes` holds the eight values stored.
            unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), sums) };
            for r in full_rows..rows {
                for (l, s) in lanes.iter_mut().enumerate() {
                    // SAFETY: r < rows and l < 8: row r of column j0 + l is inside `a`.
                    *s += unsafe { *col[l].add(r) };
                }
            }
            // SAFETY: j0 + 8 <= cols, so `out` has room for these eight sums; `lanes` is a
            // local array, so the two do not overlap.
            unsafe { std::ptr::copy_nonoverlapping(lanes.as_ptr(), out.add(j0), 8) };
            j0 += 8;
        }
        full_cols
    }

    /// [`pack_transposed_f32`], compiled for AVX.
    ///
    /// # Safety
    ///
    /// As [`super::Elem::pack_transposed`] for a 16-row panel, on a CPU with AVX.
    #[target_feature(enable = "avx")]
    unsafe fn pack_transposed_f32_avx(kc: usize, a: *const f32, rs: isize, dst: *mut f32) -> usize {
        let full = kc / 8 * 8;
        for half in 0..2 {
            // SAFETY: 8 * half < 16, so row 8 * half of the block is inside it.
            let rows = unsafe { a.offset(8 * half as isize * rs) };
            let mut p = 0;
            while p < full {
                // r[i] = A[8 half + i, p..p + 8]
                // SAFETY: 8 half + i < 16 and p + 8 <= full <= kc: inside the `16 x kc` block,
                // whose rows are contiguous.
                let r: [__m256; 8] = unsafe {
                    std::array::from_fn(|i| _mm256_loadu_ps(rows.offset(i as isize * rs).add(p)))
                };
                // column c of the block = A[8 half .. 8 half + 8, p + c]
                let cols = transpose8(r);
                for (c, &col) in cols.iter().enumerate() {
                    // SAFETY: p + c < kc and 8 half + 8 <= 16, so these eight elements are in
                    // step p + c of the `16 * kc` panel.
                    unsafe { _mm256_storeu_ps(dst.add((p + c) * 16 + 8 * half), col) };
                }
                p += 8;
            }
        }
        full
    }

    /// Transposed packing of an 8-row `f64` panel by 4 x 4 blocks in registers; returns how many
    /// steps of `p` it packed (a multiple of 4), the rest is left to the caller.
    ///
    /// # Safety
    ///
    /// As [`super::Elem::pack_transposed`], on a CPU with AVX.
    pub(super) unsafe fn pack_transposed_f64(
        kc: usize,
        a: *const f64,
        rs: isize,
        dst: *mut f64,
    ) -> usize {
        // SAFETY: the caller's contract, AVX included, is that of the AVX packing.
        unsafe { pack_transposed_f64_avx(kc, a, rs, dst) }
    }

    /// [`pack_transposed_f64`], compiled for AVX.
    ///
    /// # Safety
    ///
    /// As [`super::Elem::pack_transposed`] for an 8-row panel, on a CPU with AVX.
    #[target_feature(enable = "avx")]
    unsafe fn pack_transposed_f64_avx(kc: usize, a: *const f64, rs: isize, dst: *mut f64) -> usize {
        let full = kc / 4 * 4;
        for half in 0..2 {
            // SAFETY: 4 * half < 8, so row 4 * half of the block is inside it.
            let rows = unsafe { a.offset(4 * half as isize * rs) };
            let mut p = 0;
            while p < full {
                // SAFETY: 4 half + i < 8 and p + 4 <= full <= kc: inside the `8 x kc` block,
                // whose rows are contiguous.
                let r: [__m256d; 4] = unsafe {
                    std::array::from_fn(|i| _mm256_loadu_pd(rows.offset(i as isize * rs).add(p)))
                };
                let t0 = _mm256_unpacklo_pd(r[0], r[1]);
                let t1 = _mm256_unpackhi_pd(r[0], r[1]);
                let t2 = _mm256_unpacklo_pd(r[2], r[3]);
                let t3 = _mm256_unpackhi_pd(r[2], r[3]);
                let cols = [
                    _mm256_permute2f128_pd::<0x20>(t0, t2),
                    _mm256_permute2f128_pd::<0x20>(t1, t3),
                    _mm256_permute2f128_pd::<0x31>(t0, t2),
                    _mm256_permute2f128_pd::<0x31>(t1, t3),
                ];
                for (c, &col) in cols.iter().enumerate() {
                    // SAFETY: p + c < kc and 4 half + 4 <= 8, so these four elements are in
                    // step p + c of the `8 * kc` panel.
                    unsafe { _mm256_storeu_pd(dst.add((p + c) * 8 + 4 * half), col) };
                }
                p += 4;
            }
        }
        full
    }

    avx2_kernel!(
        kernel_f32_avx2,
        f32,
        8,
        _mm256_setzero_ps,
        _mm256_loadu_ps,
        _mm256_storeu_ps,
        _mm256_set1_ps,
        _mm256_broadcast_ss,
        _mm256_fmadd_ps,
        _mm256_mul_ps
    );
    avx2_kernel!(
        kernel_f64_avx2,
        f64,
        4,
        _mm256_setzero_pd,
        _mm256_loadu_pd,
        _mm256_storeu_pd,
        _mm256_set1_pd,
        _mm256_broadcast_sd,
        _mm256_fmadd_pd,
        _mm256_mul_pd
    );
}

/// Packs the `mc x kc` block of `A` at `a` (strides `rs`, `cs`) into `ceil(mc / MR)` panels at
/// `dst`, each `kc * MR` long, padding the rows past `mc` with zeros.
///
/// # Safety
///
/// `a` is readable over the block (every `(i, p)` at `a + i * rs + p * cs`); `dst` is writable
/// for `ceil(mc / MR) * MR * kc` elements and overlaps no part of `A`.
#[inline(always)]
pub(super) unsafe fn pack_a<E: Elem>(
    mc: usize,
    kc: usize,
    a: *const E,
    rs: isize,
    cs: isize,
    dst: *mut E,
) {
    let mr = E::MR;
    let mut i0 = 0;
    let mut dst = dst;
    while i0 < mc {
        // This panel: rows i0..i0 + rows of the block, into the `MR * kc` elements at `dst`.
        let rows = mr.min(mc - i0);
        // SAFETY: i0 < mc, so row i0 of the block is inside it.
        let src = unsafe { a.offset(i0 as isize * rs) };
        if rs == 1 && rows == mr {
            // Columns of A are contiguous: MR values per step of k (a fixed-size copy).
            for p in 0..kc {
                // SAFETY: p < kc: the MR adjacent rows of column p are inside the block, step p
                // of the panel holds MR elements, and the panel is not part of A.
                unsafe {
                    std::ptr::copy_nonoverlapping(src.offset(p as isize * cs), dst.add(p * mr), mr)
                };
            }
        } else if rs == 1 {
            for p in 0..kc {
                // SAFETY: p < kc, so column p of the block and step p of the panel start inside.
                let (from, to) = unsafe { (src.offset(p as isize * cs), dst.add(p * mr)) };
                for i in 0..mr {
                    // SAFETY: i < MR is inside the step of the panel, and A is read only for
                    // i < rows, rows of the block (its row stride is 1).
                    unsafe { *to.add(i) = if i < rows { *from.add(i) } else { E::zero() } };
                }
            }
        } else if cs == 1 && rows == mr {
            // Rows of A are contiguous (a transposed view, such as layer_0.T): transpose.
            // SAFETY: the MR rows from i0 are inside the block, each `kc` adjacent elements
            // (cs = 1); the panel holds `MR * kc` elements.
            unsafe { E::pack_transposed(kc, src, rs, dst) };
        } else {
            // Any other layout: read each row in order.
            for i in 0..rows {
                // SAFETY: i < rows, so row i0 + i of the block is inside it.
                let from = unsafe { src.offset(i as isize * rs) };
                for p in 0..kc {
                    // SAFETY: p < kc and i < rows <= MR: A[i0 + i, p] is inside the block and
                    // element p * MR + i inside the panel.
                    unsafe { *dst.add(p * mr + i) = *from.offset(p as isize * cs) };
                }
            }
            for p in 0..kc {
                for i in rows..mr {
                    // SAFETY: p < kc and i < MR: inside the panel.
                    unsafe { *dst.add(p * mr + i) = E::zero() };
                }
            }
        }
        // SAFETY: the panel is `MR * kc` elements, so the next one starts at its end: inside
        // `dst`'s room or just past it, after the last panel.
        dst = unsafe { dst.add(mr * kc) };
        i0 += mr;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(i: usize) -> f64 {
        ((i * 37 % 101) as f64 - 50.0) / 16.0
    }

    /// The portable kernel of `N` columns against the definition, and against the kernel this
    /// CPU uses, with `A` packed (`lda = MR`) and in place (`lda > MR`), `B` both ways round.
    fn kernels_agree<E: Elem>(portable: [Kernel<E>; 6], tol: f64) {
        let (mr, k) = (E::MR, 37);
        let lda = mr + 3;
        let a: Vec<E> = (0..lda * k).map(|i| E::of(value(i))).collect();
        let b: Vec<E> = (0..k * 6 + 11).map(|i| E::of(value(i + 7))).collect();
        for cols in 1..=6 {
            for (rsb, csb) in [(1isize, k as isize), (6, 1)] {
                for (alpha, beta) in [(1.0, 0.0), (0.5, 2.0)] {
                    let c0: Vec<E> = (0..mr * 8).map(|i| E::of(value(i + 3))).collect();
                    let (mut c_portable, mut c_fast) = (c0.clone(), c0.clone());
                    let (al, be) = (E::of(alpha), E::of(beta));
                    // SAFETY: every buffer holds the panel, block and tile read or written.
                    unsafe {
                        let args = (a.as_ptr(), lda as isize, b.as_ptr(), rsb, csb);
                        portable[cols - 1](
                            k,
                            al,
                            args.0,
                            args.1,
                            args.2,
                            args.3,
                            args.4,
                            be,
                            c_portable.as_mut_ptr(),
                            8 * mr / 6,
                        );
                        let fast = if has_avx2_fma() {
                            E::tile::<true>
                        } else {
                            E::tile::<false>
                        };
                        fast(
                            cols,
                            k,
                            al,
                            args.0,
                            args.1,
                            args.2,
                            args.3,
                            args.4,
                            be,
                            c_fast.as_mut_ptr(),
                            8 * mr / 6,
                        );
                    }
                    let ldc = 8 * mr / 6;
                    for j in 0..cols {
                        for i in 0..mr {
                            let s: f64 = (0..k)
                                .map(|p| {
                                    a[p * lda + i].as_f64()
                                        * b[p * rsb as usize + j * csb as usize].as_f64()
                                })
                                .sum();
                            let want = alpha * s + beta * c0[j * ldc + i].as_f64();
                            for got in [c_portable[j * ldc + i], c_fast[j * ldc + i]] {
                                assert!(
                                    (got.as_f64() - want).abs() <= tol * (1.0 + want.abs()),
                                    "{} cols {cols} ({i},{j}): {got} vs {want}",
                                    E::NAME
                                );
                            }
                        }
                    }
                    // Columns past the tile are untouched.
                    for idx in cols * ldc..c0.len() {
                        assert_eq!(c_portable[idx], c0[idx]);
                        assert_eq!(c_fast[idx], c0[idx]);
                    }
                }
            }
        }
    }

    /// The portable kernels of one element type, by number of columns.
    fn portables<E: Elem>() -> [Kernel<E>; 6] {
        [
            portable::<E, 1>,
            portable::<E, 2>,
            portable::<E, 3>,
            portable::<E, 4>,
            portable::<E, 5>,
            portable::<E, 6>,
        ]
    }

    #[test]
    fn portable_and_detected_kernels_compute_the_same_tiles() {
        kernels_agree::<f32>(portables(), 1e-5);
        kernels_agree::<f64>(portables(), 1e-13);
    }

    fn transposed_packing_agrees<E: Elem>() {
        let (mr, kc, rs) = (E::MR, 29, 41);
        let a: Vec<E> = (0..mr * rs).map(|i| E::of(value(i))).collect();
        let mut portable = vec![E::zero(); mr * kc];
        let mut detected = vec![E::of(f64::NAN); mr * kc];
        // SAFETY: `a` holds MR rows of `rs` elements, the outputs MR * kc.
        unsafe {
            pack_transposed_portable::<E>(0, kc, a.as_ptr(), rs as isize, portable.as_mut_ptr());
            E::pack_transposed(kc, a.as_ptr(), rs as isize, detected.as_mut_ptr());
        }
        for p in 0..kc {
            for i in 0..mr {
                assert_eq!(portable[p * mr + i], a[i * rs + p]);
                assert_eq!(detected[p * mr + i], a[i * rs + p]);
            }
        }
    }

    #[test]
    fn transposed_packing_matches_the_definition() {
        transposed_packing_agrees::<f32>();
        transposed_packing_agrees::<f64>();
    }
}
