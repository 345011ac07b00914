//! The prefetch stream: the columns of the next mini-batch, brought into this thread's caches a
//! few cache lines at a time while its products run.

use std::cell::Cell;

use nalgebra::DMatrixView;

use crate::Float;

/// A cache line's size in bytes.
const LINE: usize = 64;

/// Cache lines waiting to be prefetched: the columns of a matrix, in order.
#[derive(Clone, Copy)]
// Prefetches are issued on x86-64 only (aarch64 has no stable prefetch intrinsic).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
struct Stream {
    /// The next line's address.
    next: usize,
    /// The last byte of the current column.
    end: usize,
    /// The current column and the number of columns.
    col: usize,
    cols: usize,
    /// The first column's address, the distance between columns and a column's length, in bytes.
    base: usize,
    stride: usize,
    bytes: usize,
}

#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
impl Stream {
    const NONE: Stream = Stream {
        next: 0,
        end: 0,
        col: 0,
        cols: 0,
        base: 0,
        stride: 0,
        bytes: 0,
    };

    /// Every line of `a`'s columns.
    fn of<T: Float>(a: &DMatrixView<'_, T>) -> Stream {
        let (rows, cols) = a.shape();
        if rows == 0 || cols == 0 {
            return Stream::NONE;
        }
        let base = a.as_ptr() as usize;
        let bytes = rows * size_of::<T>();
        Stream {
            next: base & !(LINE - 1),
            end: base + bytes - 1,
            col: 0,
            cols,
            base,
            stride: a.strides().1 * size_of::<T>(),
            bytes,
        }
    }

    /// Hands up to `lines` line addresses, in order, to `issue`.
    fn advance(&mut self, lines: usize, mut issue: impl FnMut(usize)) {
        for _ in 0..lines {
            if self.col >= self.cols {
                return;
            }
            issue(self.next);
            self.next += LINE;
            if self.next > self.end {
                self.col += 1;
                let first = self.base + self.col * self.stride;
                self.next = first & !(LINE - 1);
                self.end = first + self.bytes - 1;
            }
        }
    }
}

thread_local! {
    /// What this thread's products prefetch as they go.
    static STREAM: Cell<Stream> = const { Cell::new(Stream::NONE) };
}

/// Asks the CPU to bring the columns of `a` (the next mini-batch, whose rows are spread over the
/// whole data set) into this thread's caches, a few lines per tile of this thread's next
/// products: issued all at once, the prefetches fill the queue of cache misses and stall the
/// thread for as long as memory takes to answer. Only a hint: it never faults, whatever becomes
/// of `a`, and [`stop_prefetching`] drops what is left.
pub(crate) fn prefetch_during_products<T: Float>(a: &DMatrixView<'_, T>) {
    STREAM.with(|s| s.set(Stream::of(a)));
}

/// Drops the prefetches still waiting on this thread.
pub(crate) fn stop_prefetching() {
    STREAM.with(|s| s.set(Stream::NONE));
}

/// Issues up to `lines` of this thread's waiting prefetches (called once per column of tiles).
#[inline]
pub(crate) fn prefetch_some(lines: usize) {
    #[cfg(target_arch = "x86_64")]
    STREAM.with(|cell| {
        let mut s = cell.get();
        if s.col >= s.cols {
            return;
        }
        s.advance(lines, |addr| {
            use std::arch::x86_64::{_MM_HINT_T1, _mm_prefetch};
            // SAFETY: SSE is part of every x86_64 CPU, and a prefetch never faults and reads
            // nothing the program sees, whatever the address: it only hints.
            unsafe { _mm_prefetch::<_MM_HINT_T1>(addr as *const i8) };
        });
        cell.set(s);
    });
    #[cfg(not(target_arch = "x86_64"))]
    let _ = lines;
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::DMatrix;

    #[test]
    fn prefetch_stream_visits_the_lines_of_each_column_in_order() {
        let m = DMatrix::<f32>::zeros(100, 7);
        for (r0, rows, c0, cols) in [(3, 40, 1, 5), (0, 100, 0, 7), (17, 1, 6, 1), (5, 0, 0, 3)] {
            let v = m.view((r0, c0), (rows, cols));
            let mut s = Stream::of(&v);
            let mut got = Vec::new();
            // A few lines at a time, as the products ask for them.
            for _ in 0..100 {
                s.advance(3, |addr| got.push(addr));
            }
            // Column by column (a line two columns share is visited for each).
            let mut want = Vec::new();
            for j in 0..cols {
                let mut lines: Vec<usize> = (0..rows)
                    .map(|i| &v[(i, j)] as *const f32 as usize & !63)
                    .collect();
                lines.dedup();
                want.extend(lines);
            }
            assert_eq!(got, want, "rows {r0}+{rows}, columns {c0}+{cols}");
        }
    }
}
