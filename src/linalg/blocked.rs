//! The blocked product for matrices past the plain loop's size.
//!
//! The layering of a fast matrix product, with `C` column-major and `B` read in place:
//!
//! ```text
//! split the rows, or the columns, of C between threads; in each thread's part:
//! for each block of KC columns of A (rows of B)
//!   for each block of MC rows of A and C
//!     pack the A block into MR-row panels                    (per thread)
//!     for each nr columns of B, for each A panel: one MR x nr tile of C (micro-kernel)
//! ```
//!
//! The packing space belongs to the calling thread (one region per chunk of work, whichever
//! thread runs it) and only grows, so after the first product of a given shape nothing is
//! allocated, and the pool's threads never allocate.

use std::cell::UnsafeCell;
use std::ops::Range;

pub(super) use super::kernel::Elem;
#[cfg(target_arch = "x86_64")]
use super::kernel::{AVX2, AVX512};
use super::kernel::{MAX_TILE, PORTABLE, isa, nr, pack_a};

/// A read-only strided matrix: element `(i, j)` at `ptr + i * rs + j * cs`.
#[derive(Clone, Copy)]
pub(super) struct Strided<E> {
    pub(super) ptr: *const E,
    pub(super) rs: isize,
    pub(super) cs: isize,
}

// SAFETY: a `Strided` is only read through, like a `&E`, which may go to another thread when
// `E: Sync`; the tasks of one product hold it while that product borrows the matrix, and `run`
// returns only when every task has finished.
unsafe impl<E: Sync> Send for Strided<E> {}
// SAFETY: a `&Strided` gives only the pointer, to read through as above.
unsafe impl<E: Sync> Sync for Strided<E> {}

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
            // SAFETY: `bytes > self.bytes >= 0`, so the layout is not of size zero, which `alloc`
            // requires.
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
            // SAFETY: `ptr` is not null, so `get` allocated it with size `self.bytes` and
            // alignment `ALIGN`, a layout `from_size_align` accepted; it is freed only once, as
            // it is reset to null below.
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

/// This thread's scratch for `n` elements of `E` (aligned to 64 bytes, which is enough for f32
/// and f64), valid until the next call on this thread.
fn scratch<E>(key: &'static std::thread::LocalKey<UnsafeCell<Scratch>>, n: usize) -> *mut E {
    let bytes = n.checked_mul(size_of::<E>()).expect("scratch size");
    // SAFETY: only this function touches the cell, and `Scratch::get` cannot call it again, so
    // this is the only reference to the `Scratch`; it does not outlive the call.
    key.with(|s| unsafe { (*s.get()).get(bytes) as *mut E })
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
// SAFETY: the tasks of one job write through it to disjoint parts of the buffer (each chunk its
// own tiles of C and its own packing region), so no element is reached from two threads at once,
// and `E: Send` lets the values cross; the job ends before the buffer is touched again.
unsafe impl<E: Send> Send for Shared<E> {}
// SAFETY: a `&Shared` gives only the pointer, used by the tasks as above.
unsafe impl<E: Send> Sync for Shared<E> {}

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

/// How a product is cut into chunks of work, one per thread, and into depth blocks.
#[derive(Clone, Copy)]
struct Plan {
    /// Threads to run the chunks on, and the number of chunks.
    threads: usize,
    chunks: usize,
    /// Whether the chunks split the rows of C (else its columns).
    split_rows: bool,
    /// Rows of A and C, rows of a panel, and panels of `MR` rows and of `nr(isa)` columns of C.
    m: usize,
    mr: usize,
    m_panels: usize,
    b_panels: usize,
    /// The most depth of one block.
    kc_max: usize,
    /// Elements of one chunk's packing region.
    region: usize,
}

impl Plan {
    /// The plan of an `m x k x n` product in element type `E` by the kernels of `isa`.
    fn new<E: Elem>(m: usize, k: usize, n: usize, isa: u8) -> Plan {
        let mr = E::MR;
        let threads = threads_for(m, k, n);
        // Depth blocks of nearly equal size.
        let kc_max = k.div_ceil(k.div_ceil(E::KC));
        let m_panels = m.div_ceil(mr);
        let b_panels = n.div_ceil(nr(isa));
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
        Plan {
            threads,
            chunks,
            split_rows,
            m,
            mr,
            m_panels,
            b_panels,
            kc_max,
            region,
        }
    }

    /// The rows of C and the `nr(isa)`-column panels of B that chunk `t` computes.
    fn part(&self, t: usize) -> (Range<usize>, Range<usize>) {
        let (m, mr) = (self.m, self.mr);
        if self.split_rows {
            let p = share(self.m_panels, self.chunks, t);
            (p.start * mr..(p.end * mr).min(m), 0..self.b_panels)
        } else {
            (0..m, share(self.b_panels, self.chunks, t))
        }
    }
}

/// `C = alpha * A * B + beta * C` with `A: m x k`, `B: k x n` and `C` column-major with leading
/// dimension `ldc`; `k > 0`. With `beta == 0`, `C` is not read.
///
/// # Safety
///
/// `a` and `b` address `m x k` and `k x n` matrices (every element `(i, j)` at
/// `ptr + i * rs + j * cs` readable), `c` a writable `m x n` one with leading dimension `ldc`
/// that overlaps neither; `k > 0`.
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
    // Detected once: the plan's panels of B and the tiles have the same width.
    let isa = isa();
    let plan = Plan::new::<E>(m, k, n, isa);
    let (kc_max, region) = (plan.kc_max, plan.region);
    let c = Shared(c);
    let a_pack = Shared(scratch::<E>(&PACK_A, plan.chunks * region));
    // Each chunk owns its tiles of C, so it runs every depth block itself: one job per product.
    run(plan.threads, plan.chunks, &|t| {
        // The whole operands (closures would otherwise capture their raw-pointer fields).
        let (a, b) = (a, b);
        let (rows, cols) = plan.part(t);
        // SAFETY: t < chunks and the scratch holds `chunks * region` elements, so this chunk's
        // region starts inside it.
        let a_pack = unsafe { a_pack.get().add(t * region) };
        let mut pc = 0;
        while pc < k {
            let kc = kc_max.min(k - pc);
            // Later depth blocks add to what the first one wrote.
            let beta = if pc == 0 { beta } else { E::one() };
            // SAFETY: pc < k, so column pc of A and row pc of B are inside them.
            let (a_block, b_block) = unsafe {
                (
                    Strided {
                        ptr: a.ptr.offset(pc as isize * a.cs),
                        ..a
                    },
                    Strided {
                        ptr: b.ptr.offset(pc as isize * b.rs),
                        ..b
                    },
                )
            };
            // SAFETY: the depth block is `m x kc` from `a_block` and `kc x n` from `b_block`,
            // inside A and B as pc + kc <= k; `rows` lies in 0..m and `cols` in the B panels.
            // The chunks split the rows or the panels of C with `share`, and their regions are
            // `region` apart, so this chunk's tiles of C and its region are its own until `run`
            // returns; the region holds `min(MC + MR, ceil(m / MR) * MR) * kc_max` elements,
            // enough for `block`'s panels; `isa` is what this CPU has (detected above), and the
            // panels of `cols` are `nr(isa)` wide.
            unsafe {
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
                    isa,
                });
            }
            pc += kc;
        }
    });
}

/// Rows `rows` of `C` times the `nr(isa)`-column panels `cols` of the `kc`-deep block of `B` (of
/// `n` columns in all): `C = alpha * A * B + beta * C` on those tiles, with `A` packed in blocks
/// of `MC` rows into `a_pack`, by the kernels of `isa`.
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
    isa: u8,
}

/// Packs `A` in blocks of `MC` rows and runs the micro-kernel over every tile of a [`Block`].
///
/// # Safety
///
/// As [`gemm`], for the `m x kc` and `kc x n` depth block of A and B at `a.ptr` and `b.ptr`;
/// `rows` lies in `0..m` and `cols` in `0..ceil(n / nr(isa))`, and no other thread reaches their
/// tiles of C during the call; `a_pack` is writable for `min(MC, ceil(rows.len() / MR) * MR) * kc`
/// elements (MC is a multiple of MR); the CPU has the features of `isa`.
unsafe fn block<E: Elem>(x: Block<E>) {
    match x.isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU has AVX-512, AVX2 and FMA (`isa`, the contract), which
        // `block_avx512` is compiled for; the rest of its contract is this function's.
        AVX512 => unsafe { block_avx512(x) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above, with AVX2 and FMA for `block_avx2`.
        AVX2 => unsafe { block_avx2(x) },
        // SAFETY: this function's contract; the portable kernels need no CPU feature.
        _ => unsafe { block_with::<E, PORTABLE>(x) },
    }
}

/// [`block`] compiled for AVX-512, AVX2 and FMA, so that the kernels inline into its loops.
///
/// # Safety
///
/// As [`block`], on a CPU with AVX-512 (F), AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn block_avx512<E: Elem>(x: Block<E>) {
    // SAFETY: this function's contract, the CPU features included, is that of `block_with`
    // with `AVX512`.
    unsafe { block_with::<E, AVX512>(x) }
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
    // SAFETY: this function's contract, AVX2 and FMA included, is that of `block_with` with
    // `AVX2`.
    unsafe { block_with::<E, AVX2>(x) }
}

/// The body of [`block`], with the kernels of `ISA` (`x.isa`): block by block of rows, the
/// packing of A, then the tiles.
///
/// # Safety
///
/// As [`block`], and `ISA == x.isa`.
#[inline(always)]
unsafe fn block_with<E: Elem, const ISA: u8>(x: Block<E>) {
    let (mr, rows) = (E::MR, x.rows.clone());
    if rows.is_empty() || x.cols.is_empty() {
        return;
    }
    // Blocks of nearly equal size, whole panels each, so that no small last block reads all of
    // B for a few rows.
    let mc_blocks = rows.len().div_ceil(E::MC);
    let mc_max = rows.len().div_ceil(mc_blocks).div_ceil(mr) * mr;
    let mut ic = rows.start;
    while ic < rows.end {
        let mc = mc_max.min(rows.end - ic);
        // SAFETY: the contract of `block`; rows ic..ic + mc lie in `rows`, and
        // mc <= mc_max <= MC and mc <= rows.len().
        let direct = unsafe { pack_rows(&x, ic, mc, nr(ISA)) };
        // SAFETY: as above, and `pack_rows` has just packed these rows, or read in place if
        // `direct`; the CPU has the features of `ISA` (contract).
        unsafe { tiles::<E, ISA>(&x, ic, mc, direct) };
        ic += mc;
    }
}

/// Packs rows `ic..ic + mc` of the depth block of A into `a_pack`, or only their last, partial
/// panel when the block is read in place (which depends on the tiles' width `nr`); returns
/// whether it is read in place.
///
/// # Safety
///
/// As [`block`]; rows `ic..ic + mc` lie in `x.rows`, `mc <= MC` and `mc <= x.rows.len()`.
#[inline(always)]
unsafe fn pack_rows<E: Elem>(x: &Block<E>, ic: usize, mc: usize, nr: usize) -> bool {
    let (mr, kc, a, a_pack) = (E::MR, x.kc, x.a, x.a_pack);
    // An A block whose columns are contiguous is read in place when each of its panels
    // meets few B panels, or when the block fits in L1 anyway: then packing would cost more
    // than it saves (a packed panel is contiguous, so reused panels avoid cache-set conflicts
    // of strided columns). Only its last, partial panel of rows is then packed, with zero
    // rows added. Other layouts are packed block by block.
    let direct = a.rs == 1 && (x.n <= 4 * nr || mc * kc * size_of::<E>() <= L1_BLOCK);
    let full = mc / mr * mr;
    if !direct {
        // SAFETY: rows ic..ic + mc lie in `x.rows`, so the `mc x kc` block from row ic is inside
        // A's depth block; mc <= MC and mc <= x.rows.len() (the contract), so `a_pack` holds
        // its `ceil(mc / MR)` panels.
        unsafe { pack_a::<E>(mc, kc, a.ptr.offset(ic as isize * a.rs), a.rs, a.cs, a_pack) };
    } else if full < mc {
        let first = (ic + full) as isize;
        // SAFETY: rows ic + full..ic + mc are inside A's depth block, whose row stride is 1
        // here (`direct`); their one panel fits in `a_pack`.
        unsafe { pack_a::<E>(mc - full, kc, a.ptr.offset(first), 1, a.cs, a_pack) };
    }
    direct
}

/// Every tile of rows `ic..ic + mc` of C and the panels `x.cols`, by the micro-kernel, with A
/// read in place if `direct`, else from the panels packed in `a_pack`.
///
/// # Safety
///
/// As [`block`]; rows `ic..ic + mc` lie in `x.rows`, and [`pack_rows`] has just packed them and
/// returned `direct`; `x.cols` are panels of `nr(ISA)` columns and the CPU has the features of
/// `ISA`.
#[inline(always)]
unsafe fn tiles<E: Elem, const ISA: u8>(x: &Block<E>, ic: usize, mc: usize, direct: bool) {
    let (mr, nr, kc, n) = (E::MR, nr(ISA), x.kc, x.n);
    let (alpha, a, b, beta, c, ldc, a_pack) = (x.alpha, x.a, x.b, x.beta, x.c, x.ldc, x.a_pack);
    for q in x.cols.clone() {
        let j = q * nr;
        let tile_cols = nr.min(n - j);
        // SAFETY: q < ceil(n / nr), so j = q * nr < n: column j of B's depth block is inside
        // it, and so are the `tile_cols` columns from it.
        let bp = unsafe { b.ptr.offset(j as isize * b.cs) };
        // Two lines of the next mini-batch per tile, spread through the product.
        super::prefetch::prefetch_some(2 * mc.div_ceil(mr));
        let mut i = 0;
        while i < mc {
            let tile_rows = mr.min(mc - i);
            let (ap, lda) = if direct && tile_rows == mr {
                // SAFETY: ic + i < m, and A's row stride is 1 (`direct`): row ic + i of its
                // depth block is at `ic + i`, inside it.
                (unsafe { a.ptr.add(ic + i) }, a.cs)
            } else if direct {
                (a_pack as *const E, mr as isize)
            } else {
                // SAFETY: i < mc is a multiple of MR, so panel i / MR of the packed block
                // starts at `i * kc`, inside `a_pack`.
                (unsafe { a_pack.add(i * kc) as *const E }, mr as isize)
            };
            // SAFETY: row ic + i < m and column j < n of C: inside it.
            let ct = unsafe { c.add(j * ldc + ic + i) };
            if mc - i >= 2 * mr {
                // The next panel: MR rows on when read in place, the next packed panel else.
                let next = if direct { mr } else { mr * kc } as isize;
                // SAFETY: as for one tile below, for the panels of rows ic + i.. and
                // ic + i + MR..ic + i + 2 * MR <= ic + mc, both full and both read in place or
                // both packed (only a last, partial panel is packed when `direct`), `next`
                // elements apart; their tiles are this chunk's own.
                unsafe {
                    E::tiles::<ISA, 2>(
                        tile_cols, kc, alpha, ap, next, lda, bp, b.rs, b.cs, beta, ct, ldc,
                    )
                };
                i += 2 * mr;
                continue;
            }
            if tile_rows == mr {
                // SAFETY: the A panel is `MR x kc` with leading dimension `lda` (rows
                // ic + i..ic + i + MR <= m of A read in place, or a packed panel), B's block
                // `kc x tile_cols` from `bp`, and the `MR x tile_cols` tile at `ct` is inside
                // C and this chunk's own; tile_cols <= nr(ISA), and the CPU has the features of
                // `ISA` (contract).
                unsafe {
                    E::tile::<ISA>(tile_cols, kc, alpha, ap, lda, bp, b.rs, b.cs, beta, ct, ldc)
                };
            } else {
                // SAFETY: the A panel is packed (`MR x kc`, leading dimension `lda` = MR, rows
                // past `tile_rows` zero), B's block as above, and the `tile_rows x tile_cols`
                // tile at `ct` is inside C and this chunk's own; `ISA` as above.
                unsafe { last_rows::<E, ISA>(x, ap, lda, bp, ct, tile_rows, tile_cols) };
            }
            i += mr;
        }
    }
}

/// The last rows of a column of tiles, fewer than `MR`: a full tile into a local buffer, then
/// the valid part into C.
///
/// # Safety
///
/// `ap` is a packed `MR x kc` panel (leading dimension `lda`) whose rows past `tile_rows` are
/// zero, `bp` B's `kc x tile_cols` block with the strides of `x.b`, and `ct` the
/// `tile_rows x tile_cols` tile of C with leading dimension `x.ldc`, which nothing else
/// references; `tile_cols <= nr(ISA)` and the CPU has the features of `ISA`.
#[inline(always)]
unsafe fn last_rows<E: Elem, const ISA: u8>(
    x: &Block<E>,
    ap: *const E,
    lda: isize,
    bp: *const E,
    ct: *mut E,
    tile_rows: usize,
    tile_cols: usize,
) {
    let (mr, kc, alpha, b, beta, ldc) = (E::MR, x.kc, x.alpha, x.b, x.beta, x.ldc);
    let mut tile = [E::zero(); MAX_TILE];
    let out = tile.as_mut_ptr();
    // SAFETY: the A panel is packed (`MR x kc`, rows past `tile_rows` zero) and B's block is
    // `kc x tile_cols` (the contract); `tile` holds MAX_TILE >= MR * nr(ISA) elements, an
    // `MR x tile_cols` tile with leading dimension MR.
    unsafe {
        E::tile::<ISA>(
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
        )
    };
    for jj in 0..tile_cols {
        for ii in 0..tile_rows {
            // SAFETY: ii < tile_rows and jj < tile_cols: inside this chunk's tile of C, which
            // nothing else references.
            let out = unsafe { &mut *ct.add(jj * ldc + ii) };
            let v = alpha * tile[jj * mr + ii];
            *out = if beta == E::zero() {
                v
            } else {
                v + beta * *out
            };
        }
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
