//! Element-wise work on long slices shared between the product threads.
//!
//! An optimizer's update of a 784 x 256 layer is some 200 000 independent element updates with a
//! square root and a division each; split in equal parts, it runs on every core like the products
//! do. The parts are handed over through one uncontended lock each, so no `unsafe` is needed.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// Entries below which a slice is processed on the calling thread: under this, waking the other
/// threads costs more than it saves.
const PARALLEL_MIN: usize = 1 << 15;

/// The most parts a slice is split into (the pool's thread limit).
const MAX_PARTS: usize = 8;

/// Slices (or tuples of slices of one length) that can be cut in two at an index.
pub(crate) trait Split: Sized + Send {
    /// The entries in each slice.
    fn len(&self) -> usize;
    /// The entries before `mid`, and those from `mid` on.
    fn split_at(self, mid: usize) -> (Self, Self);
}

impl<T: Send + Sync> Split for &[T] {
    fn len(&self) -> usize {
        <[T]>::len(self)
    }
    fn split_at(self, mid: usize) -> (Self, Self) {
        <[T]>::split_at(self, mid)
    }
}

impl<T: Send> Split for &mut [T] {
    fn len(&self) -> usize {
        <[T]>::len(self)
    }
    fn split_at(self, mid: usize) -> (Self, Self) {
        self.split_at_mut(mid)
    }
}

macro_rules! split_tuple {
    ($($name:ident $var:ident $index:tt),+) => {
        impl<$($name: Split),+> Split for ($($name,)+) {
            fn len(&self) -> usize {
                let lens = [$(self.$index.len()),+];
                lens.into_iter().min().unwrap_or(0)
            }
            fn split_at(self, mid: usize) -> (Self, Self) {
                $(let $var = self.$index.split_at(mid);)+
                (($($var.0,)+), ($($var.1,)+))
            }
        }
    };
}
split_tuple!(A a 0, B b 1);
split_tuple!(A a 0, B b 1, C c 2);
split_tuple!(A a 0, B b 1, C c 2, D d 3);

/// Runs `task` on `data` cut into one part per product thread when it is long (and the
/// `threading` feature is on), else on the whole of it here. The parts are contiguous and in
/// order; `task` must not depend on where a part starts.
pub(crate) fn for_parts<S: Split>(data: S, task: &(dyn Fn(S) + Sync)) {
    let len = data.len();
    let parts = threads()
        .min(MAX_PARTS)
        .min(len / (PARALLEL_MIN / 2))
        .max(1);
    if len < PARALLEL_MIN || parts == 1 {
        task(data);
        return;
    }
    // Cut front to back into nearly equal parts, each behind its own lock.
    let mut slots: [Mutex<Option<S>>; MAX_PARTS] = std::array::from_fn(|_| Mutex::new(None));
    let mut rest = Some(data);
    for (p, slot) in slots.iter_mut().enumerate().take(parts) {
        let Some(r) = rest.take() else { break };
        let size = r.len() / (parts - p);
        let (part, tail) = r.split_at(size);
        *slot.get_mut().unwrap_or_else(|e| e.into_inner()) = Some(part);
        rest = Some(tail);
    }
    super::blocked::run_tasks(parts, &|p| {
        let part = slots[p].lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(part) = part {
            task(part);
        }
    });
}

/// Whether `check` holds for every part of `data` (see [`for_parts`]).
pub(crate) fn all_parts<S: Split>(data: S, check: &(dyn Fn(S) -> bool + Sync)) -> bool {
    let ok = AtomicBool::new(true);
    for_parts(data, &|part| {
        if !check(part) {
            ok.store(false, Ordering::Relaxed);
        }
    });
    ok.into_inner()
}

fn threads() -> usize {
    #[cfg(feature = "threading")]
    return super::pool::threads();
    #[cfg(not(feature = "threading"))]
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_is_visited_once_in_parts_that_keep_the_order() {
        for len in [
            0,
            1,
            100,
            PARALLEL_MIN - 1,
            PARALLEL_MIN,
            3 * PARALLEL_MIN + 7,
        ] {
            let mut a: Vec<u64> = (0..len as u64).collect();
            let b: Vec<u64> = (0..len as u64).map(|i| 2 * i).collect();
            for_parts((a.as_mut_slice(), b.as_slice()), &|(a, b)| {
                for (x, &y) in a.iter_mut().zip(b) {
                    *x += y;
                }
            });
            assert!(
                a.iter().enumerate().all(|(i, &x)| x == 3 * i as u64),
                "{len}"
            );
            assert!(all_parts(a.as_slice(), &|p| p.iter().all(|x| x % 3 == 0)));
            let bad = len / 2;
            if len > 0 {
                a[bad] += 1;
                assert!(!all_parts(a.as_slice(), &|p| p.iter().all(|x| x % 3 == 0)));
            }
        }
    }
}
