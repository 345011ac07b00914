//! In-place matrix products on views: `C = alpha * op(A) * op(B) + beta * C`, and the
//! element-wise loops of the layers, activations and losses.
//!
//! Transposes are strides, never copies: `layer_0.T.dot(delta)` reads `layer_0` with its row and
//! column strides swapped. Products of one row (stochastic descent, the book's 1x3 by 3x4) and
//! tiny ones take plain loops; the others the blocked product of [`blocked`], with the
//! micro-kernels of [`kernel`] and, with the `threading` feature, the threads of `pool`. Nothing
//! here allocates after the first product of a given shape.
//!
//! By concern: [`product`] is the entry point of the products and their plain loops, [`views`]
//! reads views as slices, [`elementwise`] holds the element-wise loops, [`parts`] shares long
//! slices between the product threads and [`prefetch`] brings the next mini-batch into the caches
//! while the products run. The rest of the crate reaches all of it as `crate::linalg::NAME`,
//! through the re-exports below.

mod blocked;
mod elementwise;
mod kernel;
mod parts;
#[cfg(feature = "threading")]
mod pool;
mod prefetch;
mod product;
mod views;

pub(crate) use elementwise::{
    add_row, apply, column_sums, copy, zip_apply, zip_fold, zip_map, zip_map_fold,
};
pub(crate) use parts::{all_parts, for_parts};
pub(crate) use prefetch::{prefetch_during_products, stop_prefetching};
pub(crate) use product::{Op, gemm};
pub(crate) use views::{as_slice, column, column_mut, view, view_mut};

/// Runs `f` compiled for AVX2 and FMA when the CPU has them (detected at run time), so that the
/// element-wise loops inlined into it use 256-bit vectors. The results are the same bits either
/// way: Rust never fuses a multiply and an add unless asked to.
#[inline(always)]
pub(crate) fn vectorized<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if kernel::has_avx2_fma() {
        /// `f`, compiled for AVX2 and FMA.
        ///
        /// # Safety
        ///
        /// The CPU has AVX2 and FMA.
        #[target_feature(enable = "avx2,fma")]
        unsafe fn avx2<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        // SAFETY: `has_avx2_fma` has just detected AVX2 and FMA on this CPU, the two features
        // `avx2` is compiled for.
        return unsafe { avx2(f) };
    }
    f()
}

/// Loops over fewer values than this run as they are compiled: entering the AVX2 copy of a loop
/// costs more than its vectors save (one-row steps of small layers).
const VECTOR_MIN: usize = 16;

/// [`vectorized`] for a loop over `len` values, if there are enough of them.
#[inline(always)]
pub(crate) fn vectorized_for<R>(len: usize, f: impl FnOnce() -> R) -> R {
    if len < VECTOR_MIN { f() } else { vectorized(f) }
}
