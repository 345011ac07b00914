//! The x86-64 code of the kernels: the AVX-512 and the AVX2 and FMA micro-kernels, and the
//! transposed packing and column sums that use AVX registers. The caller checks the CPU features
//! at run time.

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
                    // SAFETY: `b` is at a row of the block and j < N, so B[p, j] is inside (the
                    // block also covers the broadcast, an unsafe function in Rust 1.89).
                    let bj = unsafe { $bcast(&*b.offset(j as isize * csb)) };
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

/// The AVX-512 kernel for one element type: a tile of `P` panels of one vector of rows each
/// (`MR` = the lanes of a 512-bit register), `next` elements apart, times `N <= 12` broadcast
/// columns, `P * N` accumulators. Two panels share each broadcast of `B`, so a step loads 14
/// values for 24 multiply-adds instead of 13 for 12. Each entry is summed as the AVX2 kernel sums
/// it (fused multiply-adds in order of `p`, then alpha and beta).
macro_rules! avx512_kernel {
    ($inner:ident, $t:ty, $lanes:expr, $zero:ident, $load:ident, $store:ident, $set1:ident,
     $fma:ident, $mul:ident) => {
        /// The AVX-512 kernel, for callers compiled with AVX-512, AVX2 and FMA to inline.
        ///
        /// # Safety
        ///
        /// As [`super::Kernel`] for each of the `P` panels (panel `h` at `a + h * next`, its tile
        /// `h * MR` rows below `c`), on a CPU with AVX-512 (F), AVX2 and FMA.
        #[allow(clippy::too_many_arguments)]
        #[target_feature(enable = "avx512f,avx2,fma")]
        #[inline]
        pub(super) unsafe fn $inner<const P: usize, const N: usize>(
            k: usize,
            alpha: $t,
            mut a: *const $t,
            next: isize,
            lda: isize,
            mut b: *const $t,
            rsb: isize,
            csb: isize,
            beta: $t,
            c: *mut $t,
            ldc: usize,
        ) {
            let mut acc = [[$zero(); P]; N];
            for _ in 0..k {
                let mut av = [$zero(); P];
                for (h, v) in av.iter_mut().enumerate() {
                    // SAFETY: fewer than k steps were taken, so `a` is at a step of panel 0 and
                    // `a + h * next` at the same step of panel h < P, whose MR elements (one
                    // vector) are readable.
                    *v = unsafe { $load(a.offset(h as isize * next)) };
                }
                for (j, acc_j) in acc.iter_mut().enumerate() {
                    // SAFETY: `b` is at a row of the block and j < N, so B[p, j] is inside.
                    let bj = $set1(unsafe { *b.offset(j as isize * csb) });
                    for (acc_jh, &ah) in acc_j.iter_mut().zip(&av) {
                        *acc_jh = $fma(ah, bj, *acc_jh);
                    }
                }
                // Wrapping: after the last step these point past their operands, unread.
                a = a.wrapping_offset(lda);
                b = b.wrapping_offset(rsb);
            }
            let va = $set1(alpha);
            let vb = $set1(beta);
            for (j, acc_j) in acc.iter().enumerate() {
                for (h, &v) in acc_j.iter().enumerate() {
                    // SAFETY: j < N and h < P, so the MR rows of column j of panel h's tile,
                    // `h * MR` rows below the first's, are inside C.
                    let ptr = unsafe { c.add(j * ldc + h * $lanes) };
                    let mut r = $mul(v, va);
                    if beta != 0.0 {
                        // SAFETY: `ptr` addresses MR elements of the tile, readable.
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
/// loop adds them ([`row_times_columns_f32`] with a row of ones: `1 * x` is `x`, bit for bit).
/// Returns the columns summed.
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
    let one = 1.0f32;
    // SAFETY: the caller's contract; the row of ones is the one value `one`, read at every step
    // (a stride of 0), and the sums go to `out` one after another (a leading dimension of 1).
    unsafe { row_times_columns_f32(rows, cols, &one, 0, a, ld as isize, out, 1) }
}

/// `c[0, j] = sum_p a[p] * b[p, j]` for the first `n / 8 * 8` columns of a `k x n` column-major
/// `f32` matrix `b` with leading dimension `ldb`, each summed from zero in order of `p` with a
/// multiply and an add, as the plain loop sums it: eight columns side by side, eight steps of `p`
/// at a time transposed into the eight lanes of one vector. Returns the columns done.
///
/// # Safety
///
/// `a` is readable at `a + p * acs` for `p < k`; `b` is a readable column-major `k x n` matrix
/// with leading dimension `ldb` (each column starting inside its allocation); `c` is writable at
/// `c + j * ldc` for `j < n` and overlaps neither; the CPU has AVX.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx")]
pub(in crate::linalg) unsafe fn row_times_columns_f32(
    k: usize,
    n: usize,
    a: *const f32,
    acs: isize,
    b: *const f32,
    ldb: isize,
    c: *mut f32,
    ldc: usize,
) -> usize {
    let (full_cols, full_k) = (n / 8 * 8, k / 8 * 8);
    let mut j0 = 0;
    while j0 < full_cols {
        // SAFETY: j0 + l < j0 + 8 <= full_cols <= n, so these columns start inside `b`.
        let col: [*const f32; 8] =
            unsafe { std::array::from_fn(|l| b.offset((j0 + l) as isize * ldb)) };
        let mut sums = _mm256_setzero_ps();
        let mut p = 0;
        while p < full_k {
            // SAFETY: p + 8 <= full_k <= k: steps p..p + 8 of each column are inside `b`.
            let block = unsafe { std::array::from_fn(|l| _mm256_loadu_ps(col[l].add(p))) };
            // Step p + i of the eight columns, added in order of i.
            for (i, row) in transpose8(block).into_iter().enumerate() {
                // SAFETY: p + i < k, so a[p + i] is inside `a`.
                let ai = _mm256_set1_ps(unsafe { *a.offset((p + i) as isize * acs) });
                sums = _mm256_add_ps(sums, _mm256_mul_ps(ai, row));
            }
            p += 8;
        }
        let mut lanes = [0.0f32; 8];
        // SAFETY: `lanes` holds the eight values stored.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), sums) };
        for p in full_k..k {
            // SAFETY: p < k: a[p] is inside `a`.
            let ap = unsafe { *a.offset(p as isize * acs) };
            for (l, s) in lanes.iter_mut().enumerate() {
                // SAFETY: p < k and l < 8: step p of column j0 + l is inside `b`.
                *s += ap * unsafe { *col[l].add(p) };
            }
        }
        for (l, &s) in lanes.iter().enumerate() {
            // SAFETY: j0 + l < n, so c[0, j0 + l] is inside `c`, which overlaps neither operand.
            unsafe { *c.add((j0 + l) * ldc) = s };
        }
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
avx512_kernel!(
    kernel_f32_avx512,
    f32,
    16,
    _mm512_setzero_ps,
    _mm512_loadu_ps,
    _mm512_storeu_ps,
    _mm512_set1_ps,
    _mm512_fmadd_ps,
    _mm512_mul_ps
);
avx512_kernel!(
    kernel_f64_avx512,
    f64,
    8,
    _mm512_setzero_pd,
    _mm512_loadu_pd,
    _mm512_storeu_pd,
    _mm512_set1_pd,
    _mm512_fmadd_pd,
    _mm512_mul_pd
);
