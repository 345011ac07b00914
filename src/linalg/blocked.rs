//! The blocked product for matrices past the plain loop's size.
//!
//! The layering of a fast matrix product, with `C` column-major and `B` read in place:
//!
//! ```text
//! split the rows, or the columns, of C between threads; in each thread's part:
//! for each block of KC columns of A (rows of B)
//!   for each block of MC rows of A and C
//!     pack the A block into MR-row panels                    (per thread)
//!     for each NR columns of B, for each A panel: one MR x NR tile of C (micro-kernel)
//! ```
//!
//! The packing space belongs to the calling thread (one region per chunk of work, whichever
//! thread runs it) and only grows, so after the first product of a given shape nothing is
//! allocated, and the pool's threads never allocate.

use std::cell::UnsafeCell;
use std::ops::Range;

pub(super) use super::kernel::Elem;
use super::kernel::{MAX_TILE, pack_a};

/// A read-only strided matrix: element `(i, j)` at `ptr + i * rs + j * cs`.
#[derive(Clone, Copy)]
pub(super) struct Strided<E> {
    pub(super) ptr: *const E,
    pub(super) rs: isize,
    pub(super) cs: isize,
}

// SAFETY: a `Strided` is only read, by the tasks of one product, while the matrix it points to
// is borrowed by that product.
unsafe impl<E> Send for Strided<E> {}
unsafe impl<E> Sync for Strided<E> {}

/// Bytes of an `A` block small enough to read in place from L1.
const L1_BLOCK: usize = 16 * 1024;

/// Products with fewer multiply-adds than this run on one thread: below it, moving the operands
/// to another core's cache costs more than the second core saves.
#[cfg(feature = "threading")]
const PARALLEL_MIN: usize = 1 << 20;

/// A growable, 64-byte aligned scratch buffer.
struct Scratch {
    ptr: *mut u8,
    bytes: usize,
}

const ALIGN: usize = 64;

impl Scratch {
    const EMPTY: Scratch = Scratch {
        ptr: std::ptr::null_mut(),
        bytes: 0,
    };

    /// At least `bytes` bytes; the old contents are dropped when it grows.
    fn get(&mut self, bytes: usize) -> *mut u8 {
        if bytes > self.bytes {
            self.release();
            let layout = std::alloc::Layout::from_size_align(bytes, ALIGN).expect("scratch size");
            // SAFETY: `bytes > 0` since it exceeds the old size.
            let ptr = unsafe { std::alloc::alloc(layout) };
            if ptr.is_null() {
                std::alloc::handle_alloc_error(layout);
            }
            self.ptr = ptr;
            self.bytes = bytes;
        }
        self.ptr
    }

    fn release(&mut self) {
        if !self.ptr.is_null() {
            // SAFETY: allocated in `get` with this layout.
            unsafe {
                std::alloc::dealloc(
                    self.ptr,
                    std::alloc::Layout::from_size_align_unchecked(self.bytes, ALIGN),
                );
            }
            self.ptr = std::ptr::null_mut();
            self.bytes = 0;
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        self.release();
    }
}

thread_local! {
    /// Packed `A` blocks of the products this thread calls.
    static PACK_A: UnsafeCell<Scratch> = const { UnsafeCell::new(Scratch::EMPTY) };
}

/// This thread's scratch for `n` elements of `E`.
fn scratch<E>(key: &'static std::thread::LocalKey<UnsafeCell<Scratch>>, n: usize) -> *mut E {
    // SAFETY: the cell is only used by this function, and no reference into it outlives the call.
    key.with(|s| unsafe { (*s.get()).get(n * size_of::<E>()) as *mut E })
}

/// `part` of `0..total` split into `parts` nearly equal ranges, the longer ones first: the caller
/// claims chunk 0 before a worker joins, so it should not also get the extra panel.
fn share(total: usize, parts: usize, part: usize) -> Range<usize> {
    let (q, r) = (total / parts, total % parts);
    let start = |p: usize| p * q + p.min(r);
    start(part)..start(part + 1)
}

/// A raw pointer that may cross to the pool's threads (each writes a disjoint part).
#[derive(Clone, Copy)]
struct Shared<E>(*mut E);
// SAFETY: the tasks of one job write disjoint tiles or panels and the job ends before the
// pointer's buffer is touched again.
unsafe impl<E> Send for Shared<E> {}
unsafe impl<E> Sync for Shared<E> {}

impl<E> Shared<E> {
    /// The pointer (a method, so that closures capture the whole `Shared`).
    fn get(&self) -> *mut E {
        self.0
    }
}

/// Runs `task(i)` for `i` in `0..chunks`, on the pool's threads when `threads > 1`.
fn run(threads: usize, chunks: usize, task: &(dyn Fn(usize) + Sync)) {
    #[cfg(feature = "threading")]
    if threads > 1 {
        super::pool::run(chunks, task);
        return;
    }
    let _ = threads;
    (0..chunks).for_each(task);
}

/// Runs `task(i)` for `i` in `0..chunks` on the product threads (with the `threading` feature).
pub(super) fn run_tasks(chunks: usize, task: &(dyn Fn(usize) + Sync)) {
    run(chunks, chunks, task);
}

/// Threads for an `m x k x n` product.
fn threads_for(m: usize, k: usize, n: usize) -> usize {
    #[cfg(feature = "threading")]
    if m * k * n >= PARALLEL_MIN {
        return super::pool::threads();
    }
    let _ = (m, k, n);
    1
}

/// `C = alpha * A * B + beta * C` with `A: m x k`, `B: k x n` and `C` column-major with leading
/// dimension `ldc`; `k > 0`. With `beta == 0`, `C` is not read.
///
/// # Safety
///
/// The strides describe valid matrices of those shapes, and `C` overlaps neither.
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn gemm<E: Elem>(
    m: usize,
    k: usize,
    n: usize,
    alpha: E,
    a: Strided<E>,
    b: Strided<E>,
    beta: E,
    c: *mut E,
    ldc: usize,
) {
    let mr = E::MR;
    let threads = threads_for(m, k, n);
    // Depth blocks of nearly equal size.
    let kc_max = k.div_ceil(k.div_ceil(E::KC));
    let c = Shared(c);
    let m_panels = m.div_ceil(mr);
    let b_panels = n.div_ceil(E::NR);
    // One chunk per thread. Splitting the rows of C makes every chunk read all of B, splitting
    // its columns makes every chunk pack all of A: split so that the operand read twice is the
    // smaller one (m x k against k x n), when there are panels enough to split.
    let split_rows = m_panels >= threads && (m >= n || b_panels < threads);
    let chunks = if threads == 1 {
        1
    } else if split_rows {
        m_panels.min(threads)
    } else {
        b_panels.min(threads)
    };
    // One packing region per chunk: an A block of at most MC rows rounded up to whole panels
    // (fewer if A has fewer).
    let region = (E::MC + mr).min(m.div_ceil(mr) * mr) * kc_max;
    let a_pack = Shared(scratch::<E>(&PACK_A, chunks * region));
    // Each chunk owns its tiles of C, so it runs every depth block itself: one job per product.
    run(threads, chunks, &|t| {
        // The whole operands (closures would otherwise capture their raw-pointer fields).
        let (a, b) = (a, b);
        let (rows, cols) = if split_rows {
            let p = share(m_panels, chunks, t);
            (p.start * mr..(p.end * mr).min(m), 0..b_panels)
        } else {
            (0..m, share(b_panels, chunks, t))
        };
        // SAFETY: the region of this chunk is inside the scratch.
        let a_pack = unsafe { a_pack.get().add(t * region) };
        let mut pc = 0;
        while pc < k {
            let kc = kc_max.min(k - pc);
            // Later depth blocks add to what the first one wrote.
            let beta = if pc == 0 { beta } else { E::one() };
            // SAFETY: column pc of A and row pc of B exist; the tiles and the packing region of
            // this chunk are disjoint from the other chunks'; the region holds an MC x kc block.
            unsafe {
                let a_block = Strided {
                    ptr: a.ptr.offset(pc as isize * a.cs),
                    ..a
                };
                let b_block = Strided {
                    ptr: b.ptr.offset(pc as isize * b.rs),
                    ..b
                };
                block(Block {
                    rows: rows.clone(),
                    cols: cols.clone(),
                    kc,
                    n,
                    alpha,
                    a: a_block,
                    b: b_block,
                    beta,
                    c: c.get(),
                    ldc,
                    a_pack,
                });
            }
            pc += kc;
        }
    });
}

/// Rows `rows` of `C` times the `NR`-column panels `cols` of the `kc`-deep block of `B` (of `n`
/// columns in all): `C = alpha * A * B + beta * C` on those tiles, with `A` packed in blocks of
/// `MC` rows into `a_pack`.
struct Block<E> {
    rows: Range<usize>,
    cols: Range<usize>,
    kc: usize,
    n: usize,
    alpha: E,
    a: Strided<E>,
    b: Strided<E>,
    beta: E,
    c: *mut E,
    ldc: usize,
    a_pack: *mut E,
}

/// Packs `A` in blocks of `MC` rows and runs the micro-kernel over every tile of a [`Block`].
///
/// # Safety
///
/// As [`gemm`], for the depth block starting at `a.ptr` (columns of A) and `b.ptr` (rows of B);
/// `a_pack` is writable for `min(MC, rows) * kc` elements rounded up to whole panels.
unsafe fn block<E: Elem>(x: Block<E>) {
    #[cfg(target_arch = "x86_64")]
    if super::kernel::has_avx2_fma() {
        // SAFETY: forwarded; the CPU has AVX2 and FMA.
        unsafe { block_avx2(x) };
        return;
    }
    // SAFETY: forwarded.
    unsafe { block_with::<E, false>(x) }
}

/// [`block`] compiled for AVX2 and FMA, so that the kernels inline into its loops instead of
/// being called through a pointer.
///
/// # Safety
///
/// As [`block`], on a CPU with AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn block_avx2<E: Elem>(x: Block<E>) {
    // SAFETY: forwarded, with the CPU features `AVX` asks for.
    unsafe { block_with::<E, true>(x) }
}

/// The body of [`block`], with the AVX2 kernels if `AVX`.
///
/// # Safety
///
/// As [`block`]; with `AVX`, the CPU has AVX2 and FMA.
#[inline(always)]
unsafe fn block_with<E: Elem, const AVX: bool>(x: Block<E>) {
    let Block {
        rows,
        cols,
        kc,
        n,
        alpha,
        a,
        b,
        beta,
        c,
        ldc,
        a_pack,
    } = x;
    let (mr, nr) = (E::MR, E::NR);
    if rows.is_empty() || cols.is_empty() {
        return;
    }
    // Blocks of nearly equal size, whole panels each, so that no small last block reads all of
    // B for a few rows.
    let mc_blocks = rows.len().div_ceil(E::MC);
    let mc_max = rows.len().div_ceil(mc_blocks).div_ceil(mr) * mr;
    let mut ic = rows.start;
    while ic < rows.end {
        let mc = mc_max.min(rows.end - ic);
        // An A block whose columns are contiguous is read in place when each of its panels
        // meets few B panels, or when the block fits in L1 anyway: then packing would cost more
        // than it saves (a packed panel is contiguous, so reused panels avoid cache-set conflicts
        // of strided columns). Only its last, partial panel of rows is then packed, with zero
        // rows added. Other layouts are packed block by block.
        let direct = a.rs == 1 && (n <= 4 * nr || mc * kc * size_of::<E>() <= L1_BLOCK);
        let full = mc / mr * mr;
        // SAFETY: rows ic..ic+mc of the depth block are inside A; the scratch holds the panels.
        unsafe {
            if !direct {
                pack_a::<E>(mc, kc, a.ptr.offset(ic as isize * a.rs), a.rs, a.cs, a_pack);
            } else if full < mc {
                let first = (ic + full) as isize;
                pack_a::<E>(mc - full, kc, a.ptr.offset(first), 1, a.cs, a_pack);
            }
        }
        for q in cols.clone() {
            let j = q * nr;
            let tile_cols = nr.min(n - j);
            // SAFETY: columns j..j+tile_cols of the block are inside B.
            let bp = unsafe { b.ptr.offset(j as isize * b.cs) };
            // Two lines of the next mini-batch per tile, spread through the product.
            super::prefetch_some(2 * mc.div_ceil(mr));
            let mut i = 0;
            while i < mc {
                let tile_rows = mr.min(mc - i);
                // SAFETY: the tile is inside C; the A panel is in place or packed.
                unsafe {
                    let (ap, lda) = if direct && tile_rows == mr {
                        (a.ptr.add(ic + i), a.cs)
                    } else if direct {
                        (a_pack as *const E, mr as isize)
                    } else {
                        (a_pack.add(i * kc) as *const E, mr as isize)
                    };
                    let ct = c.add(j * ldc + ic + i);
                    if tile_rows == mr {
                        E::tile::<AVX>(
                            tile_cols, kc, alpha, ap, lda, bp, b.rs, b.cs, beta, ct, ldc,
                        );
                    } else {
                        // The last rows: a full tile into a local buffer, then the valid part.
                        let mut tile = [E::zero(); MAX_TILE];
                        let out = tile.as_mut_ptr();
                        E::tile::<AVX>(
                            tile_cols,
                            kc,
                            E::one(),
                            ap,
                            lda,
                            bp,
                            b.rs,
                            b.cs,
                            E::zero(),
                            out,
                            mr,
                        );
                        for jj in 0..tile_cols {
                            for ii in 0..tile_rows {
                                let out = &mut *ct.add(jj * ldc + ii);
                                let v = alpha * tile[jj * mr + ii];
                                *out = if beta == E::zero() {
                                    v
                                } else {
                                    v + beta * *out
                                };
                            }
                        }
                    }
                }
                i += mr;
            }
        }
        ic += mc;
    }
}

#[cfg(test)]
mod tests {
    use super::share;

    #[test]
    fn shares_cover_the_range_in_order_longest_first() {
        for total in 0..50 {
            for parts in 1..9 {
                let ranges: Vec<_> = (0..parts).map(|p| share(total, parts, p)).collect();
                assert_eq!(ranges[0].start, 0);
                assert_eq!(ranges[parts - 1].end, total);
                for w in ranges.windows(2) {
                    assert_eq!(w[0].end, w[1].start, "{total} in {parts}: {ranges:?}");
                    assert!(w[0].len() >= w[1].len(), "{total} in {parts}: {ranges:?}");
                    assert!(
                        w[0].len() <= w[1].len() + 1,
                        "{total} in {parts}: {ranges:?}"
                    );
                }
            }
        }
    }
}
