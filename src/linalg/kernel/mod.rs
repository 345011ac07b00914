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
//! accumulators of 8 `f32` (a 16 x 6 tile) or 4 `f64` (8 x 6); with AVX-512 as well, twelve of 16
//! `f32` (16 x 12) or 8 `f64` (8 x 12), and two such tiles at once (24 accumulators sharing each
//! broadcast of `B`) wherever two full panels of `A` are next to each other. Elsewhere a portable
//! kernel of 16 x 6 or 8 x 6 is used.
//! Every kernel sums each entry of a tile in the same order with the same fused multiply-adds, so
//! the products give the same bits whichever runs.

use crate::Float;

/// Largest `MR * nr(isa)` of any element type and kernel: the size of a scratch tile.
pub(super) const MAX_TILE: usize = 192;

/// The kernels a product runs, by instruction set: the portable ones, AVX2 with FMA, or AVX-512
/// (with AVX2 and FMA). Detected once per product by [`isa`] and passed down as a constant.
pub(super) const PORTABLE: u8 = 0;
/// See [`PORTABLE`].
pub(super) const AVX2: u8 = 1;
/// See [`PORTABLE`].
pub(super) const AVX512: u8 = 2;

/// Columns of a tile for the kernels of `isa`: 12 with AVX-512 (twelve 512-bit accumulators of
/// one vector of rows each), else 6.
pub(super) const fn nr(isa: u8) -> usize {
    if isa == AVX512 { 12 } else { 6 }
}

/// An element type with micro-kernels and its blocking sizes.
pub(super) trait Elem: Float {
    /// Rows of a tile (a multiple of the vector width); its columns are [`nr`].
    const MR: usize;
    /// Depth of a packed block (an `A` panel `MR x KC` and the `B` columns it meets stay in L1).
    const KC: usize;
    /// Rows of a packed `A` block (it stays in L2).
    const MC: usize;

    /// One tile by the kernel of `ISA` for `cols` columns (`1..=nr(ISA)`), called directly so
    /// that it inlines into a caller compiled for the same features.
    ///
    /// # Safety
    ///
    /// As [`Kernel`]; the CPU has the features of `ISA`.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    unsafe fn tile<const ISA: u8>(
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
    ) {
        // SAFETY: the caller's contract, for one panel.
        unsafe { Self::tiles::<ISA, 1>(cols, k, alpha, a, 0, lda, b, rsb, csb, beta, c, ldc) }
    }

    /// `P` tiles at once: the panels at `a + h * next` (each as in [`tile`](Self::tile)) into
    /// rows `h * MR..(h + 1) * MR` of the tile at `c`, for `h < P`, sharing the reads of `B`
    /// where the kernels of `ISA` can (AVX-512); the same bits as `P` calls of `tile`.
    ///
    /// # Safety
    ///
    /// As [`tile`](Self::tile) for each panel and its tile; the CPU has the features of `ISA`.
    #[allow(clippy::too_many_arguments)]
    unsafe fn tiles<const ISA: u8, const P: usize>(
        cols: usize,
        k: usize,
        alpha: Self,
        a: *const Self,
        next: isize,
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

/// A direct call of the generic kernel `$k::<G.., N>` with `N` the column count, `1..=6` or
/// `1..=12`.
macro_rules! call_by_columns {
    ($cols:expr, $k:ident [$($g:tt),*], $args:tt) => {
        match $cols {
            6 => call_by_columns!(@ $k [$($g),*], 6, $args),
            5 => call_by_columns!(@ $k [$($g),*], 5, $args),
            4 => call_by_columns!(@ $k [$($g),*], 4, $args),
            3 => call_by_columns!(@ $k [$($g),*], 3, $args),
            2 => call_by_columns!(@ $k [$($g),*], 2, $args),
            _ => call_by_columns!(@ $k [$($g),*], 1, $args),
        }
    };
    (wide $cols:expr, $k:ident [$($g:tt),*], $args:tt) => {
        match $cols {
            12 => call_by_columns!(@ $k [$($g),*], 12, $args),
            11 => call_by_columns!(@ $k [$($g),*], 11, $args),
            10 => call_by_columns!(@ $k [$($g),*], 10, $args),
            9 => call_by_columns!(@ $k [$($g),*], 9, $args),
            8 => call_by_columns!(@ $k [$($g),*], 8, $args),
            7 => call_by_columns!(@ $k [$($g),*], 7, $args),
            cols => call_by_columns!(cols, $k [$($g),*], $args),
        }
    };
    (@ $k:ident [$($g:tt),*], $n:literal, ($($arg:expr),*)) => {
        $k::<$($g,)* $n>($($arg),*)
    };
}

/// `Elem` for one element type: its tile and block sizes, the AVX-512 and AVX2 kernels and
/// transposed packing when the CPU has them, the portable code otherwise.
macro_rules! impl_elem {
    ($t:ty, mr: $mr:expr, mc: $mc:expr, $avx512_inner:ident, $avx_inner:ident,
     $avx_pack:ident) => {
        impl Elem for $t {
            const MR: usize = $mr;
            const KC: usize = 256;
            const MC: usize = $mc;

            #[inline(always)]
            unsafe fn tiles<const ISA: u8, const P: usize>(
                cols: usize,
                k: usize,
                alpha: $t,
                a: *const $t,
                next: isize,
                lda: isize,
                b: *const $t,
                rsb: isize,
                csb: isize,
                beta: $t,
                c: *mut $t,
                ldc: usize,
            ) {
                #[cfg(target_arch = "x86_64")]
                if ISA == AVX512 {
                    use x86::$avx512_inner;
                    // SAFETY: the caller's contract, AVX-512, AVX2 and FMA included (`ISA`), is
                    // that of the AVX-512 kernel of `P` panels and `cols <= 12` columns.
                    unsafe {
                        call_by_columns!(
                            wide cols,
                            $avx512_inner[P],
                            (k, alpha, a, next, lda, b, rsb, csb, beta, c, ldc)
                        )
                    };
                    return;
                }
                for h in 0..P {
                    // SAFETY: the caller's contract: panel h < P and its tile, `h * MR` rows
                    // below the first, are inside their operands.
                    let (a, c) = unsafe { (a.offset(h as isize * next), c.add(h * $mr)) };
                    #[cfg(target_arch = "x86_64")]
                    if ISA == AVX2 {
                        use x86::$avx_inner;
                        // SAFETY: the caller's contract, AVX2 and FMA included (`ISA`), is that
                        // of the AVX2 kernel of `cols <= 6` columns.
                        unsafe {
                            call_by_columns!(
                                cols,
                                $avx_inner[],
                                (k, alpha, a, lda, b, rsb, csb, beta, c, ldc)
                            )
                        };
                        continue;
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
            }

            unsafe fn pack_transposed(kc: usize, a: *const $t, rs: isize, dst: *mut $t) {
                #[cfg_attr(not(target_arch = "x86_64"), allow(unused_mut))]
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
                && <$t as Elem>::MR * nr(AVX512) <= MAX_TILE
                && <$t as Elem>::MR * nr(AVX2) <= MAX_TILE
        );
    };
}

impl_elem!(f32, mr: 16, mc: 128, kernel_f32_avx512, kernel_f32_avx2, pack_transposed_f32);
impl_elem!(f64, mr: 8, mc: 96, kernel_f64_avx512, kernel_f64_avx2, pack_transposed_f64);

/// The kernels this CPU runs (see [`PORTABLE`]), detected at run time.
#[cfg(target_arch = "x86_64")]
#[inline]
pub(super) fn isa() -> u8 {
    if !has_avx2_fma() {
        return PORTABLE;
    }
    #[cfg(test)]
    if FORCE_AVX2.load(std::sync::atomic::Ordering::Relaxed) {
        return AVX2;
    }
    // The standard library caches the answer; this is an atomic load after the first call.
    if std::arch::is_x86_feature_detected!("avx512f") {
        AVX512
    } else {
        AVX2
    }
}

/// The portable kernels off x86-64.
#[cfg(not(target_arch = "x86_64"))]
pub(super) fn isa() -> u8 {
    PORTABLE
}

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

/// Tests set this to run the portable kernels on a CPU that has AVX2 (both give the same bits,
/// so tests running at the same time are unaffected).
#[cfg(test)]
pub(crate) static FORCE_PORTABLE: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Tests set this to run the AVX2 kernels on a CPU that has AVX-512, as [`FORCE_PORTABLE`].
#[cfg(test)]
pub(crate) static FORCE_AVX2: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// `a * b + c` as the AVX2 kernels compute it, rounded once, wherever the target has a fused
/// multiply-add instruction (aarch64 always does), so that every kernel gives the same bits; the
/// portable kernel on an x86-64 CPU without FMA rounds twice rather than call a slow software one.
#[inline(always)]
fn fused<E: Float>(a: E, b: E, c: E) -> E {
    if cfg!(any(target_arch = "aarch64", target_feature = "fma", test)) {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// The portable kernel: plain loops over a local tile that the compiler keeps in registers, each
/// entry summed in the order and with the fused multiply-adds of the AVX2 kernels.
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
                let aip = unsafe { *ap.add(i) };
                acc[j * mr + i] = fused(aip, bj, acc[j * mr + i]);
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
                fused(*out, beta, v)
            };
        }
    }
}

#[cfg(target_arch = "x86_64")]
pub(super) mod x86;

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

    /// Values whose products and sums round, so that where roundings happen shows in the bits.
    fn value(i: usize) -> f64 {
        ((i * 37 % 101) as f64 - 50.0) / 16.3
    }

    /// The portable kernel of `N` columns against the definition, and bit for bit against every
    /// kernel this CPU has, with `A` packed (`lda = MR`) and in place (`lda > MR`), `B` both ways
    /// round.
    fn kernels_agree<E: Elem>(portable: [Kernel<E>; 12], tol: f64) {
        let (mr, k) = (E::MR, 37);
        let lda = mr + 3;
        let ldc = mr + 5;
        let a: Vec<E> = (0..lda * k).map(|i| E::of(value(i))).collect();
        let b: Vec<E> = (0..k * 12 + 11).map(|i| E::of(value(i + 7))).collect();
        #[cfg_attr(not(target_arch = "x86_64"), allow(unused_mut))]
        let mut kernels: Vec<(u8, usize)> = vec![(PORTABLE, nr(PORTABLE))];
        #[cfg(target_arch = "x86_64")]
        {
            let detected = isa();
            if detected >= AVX2 {
                kernels.push((AVX2, nr(AVX2)));
            }
            if detected == AVX512 {
                kernels.push((AVX512, nr(AVX512)));
            }
        }
        for cols in 1..=12 {
            for (rsb, csb) in [(1isize, k as isize), (12, 1)] {
                for (alpha, beta) in [(1.0, 0.0), (0.5, 2.0)] {
                    let c0: Vec<E> = (0..ldc * 13).map(|i| E::of(value(i + 3))).collect();
                    let (al, be) = (E::of(alpha), E::of(beta));
                    let args = (a.as_ptr(), lda as isize, b.as_ptr(), rsb, csb);
                    let mut want_bits = c0.clone();
                    // SAFETY: every buffer holds the panel, block and tile read or written.
                    unsafe {
                        portable[cols - 1](
                            k,
                            al,
                            args.0,
                            args.1,
                            args.2,
                            args.3,
                            args.4,
                            be,
                            want_bits.as_mut_ptr(),
                            ldc,
                        )
                    };
                    for j in 0..cols {
                        for i in 0..mr {
                            let s: f64 = (0..k)
                                .map(|p| {
                                    a[p * lda + i].as_f64()
                                        * b[p * rsb as usize + j * csb as usize].as_f64()
                                })
                                .sum();
                            let want = alpha * s + beta * c0[j * ldc + i].as_f64();
                            let got = want_bits[j * ldc + i].as_f64();
                            assert!(
                                (got - want).abs() <= tol * (1.0 + want.abs()),
                                "{} cols {cols} ({i},{j}): {got} vs {want}",
                                E::NAME
                            );
                        }
                    }
                    for &(isa, widest) in kernels.iter().filter(|(_, w)| cols <= *w) {
                        let mut got = c0.clone();
                        let tile = match isa {
                            AVX512 => E::tile::<AVX512>,
                            AVX2 => E::tile::<AVX2>,
                            _ => E::tile::<PORTABLE>,
                        };
                        // SAFETY: as above; the CPU has the kernel's features (detected), and
                        // cols <= its width.
                        unsafe {
                            tile(
                                cols,
                                k,
                                al,
                                args.0,
                                args.1,
                                args.2,
                                args.3,
                                args.4,
                                be,
                                got.as_mut_ptr(),
                                ldc,
                            )
                        };
                        // The same bits: each entry is summed in the same order with the same
                        // fused multiply-adds by every kernel, and nothing past the tile changes.
                        let same = got.iter().zip(&want_bits).all(|(g, w)| g == w);
                        assert!(
                            same,
                            "{} cols {cols} of {widest}: isa {isa} differs",
                            E::NAME
                        );
                    }
                    // Columns past the tile are untouched.
                    for idx in cols * ldc..c0.len() {
                        assert_eq!(want_bits[idx], c0[idx]);
                    }
                }
            }
        }
    }

    /// The portable kernels of one element type, by number of columns.
    fn portables<E: Elem>() -> [Kernel<E>; 12] {
        [
            portable::<E, 1>,
            portable::<E, 2>,
            portable::<E, 3>,
            portable::<E, 4>,
            portable::<E, 5>,
            portable::<E, 6>,
            portable::<E, 7>,
            portable::<E, 8>,
            portable::<E, 9>,
            portable::<E, 10>,
            portable::<E, 11>,
            portable::<E, 12>,
        ]
    }

    #[test]
    fn every_kernel_computes_the_bits_of_the_portable_one() {
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
