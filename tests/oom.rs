//! A batch whose buffers the allocator refuses is an `Error::TooLarge`, not an aborted process,
//! and the model is left as it was.
//!
//! A global allocator refuses every request above a limit while the limit is set. The binary has
//! no test harness (`harness = false` in `Cargo.toml`), so that no other thread allocates while
//! the limit is on.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use backprop::data::one_hot;
use backprop::layer::{Dropout, Layer};
use backprop::prelude::*;
use nalgebra::DMatrix;

/// Refuses (returns null for) any allocation larger than `LIMIT` bytes.
struct Refusing;

static LIMIT: AtomicUsize = AtomicUsize::new(usize::MAX);

// SAFETY: every method forwards to `System` unchanged, or returns null, which `GlobalAlloc`
// allows to mean "refused".
unsafe impl GlobalAlloc for Refusing {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > LIMIT.load(Ordering::Relaxed) {
            return std::ptr::null_mut();
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > LIMIT.load(Ordering::Relaxed) {
            return std::ptr::null_mut();
        }
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > LIMIT.load(Ordering::Relaxed) {
            return std::ptr::null_mut();
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Refusing = Refusing;

/// Runs `f` with allocations above 1 MiB refused.
fn refused<R>(f: impl FnOnce() -> R) -> R {
    LIMIT.store(1 << 20, Ordering::SeqCst);
    let r = f();
    LIMIT.store(usize::MAX, Ordering::SeqCst);
    r
}

/// Every parameter's bits, to show that a refused call changed nothing.
fn param_bits(model: &Sequential<f32>) -> Vec<Vec<u32>> {
    model
        .params()
        .iter()
        .map(|(_, _, p)| p.iter().map(|v| v.to_bits()).collect())
        .collect()
}

fn main() {
    // 8 -> 512 -> dropout -> 10: a batch of 4096 rows needs 8 MiB of hidden outputs (and a
    // chunk of 1024 rows, as `predict` and `evaluate` take them, 2 MiB), while the data (128 KiB
    // of inputs) and the parameters (20 KiB) are small.
    let rows = 4096;
    let x = DMatrix::<f32>::from_fn(rows, 8, |r, c| ((r * 7 + c * 3) % 11) as f32 / 11.0 - 0.5);
    let labels: Vec<usize> = (0..rows).map(|r| r % 10).collect();
    let y = one_hot::<f32>(&labels, 10).unwrap();
    let mut model = Sequential::<f32>::builder(8)
        .seed(1)
        .dense(512, Relu)
        .dropout(0.5)
        .dense(10, Softmax)
        .loss(CategoricalCrossEntropy)
        .build()
        .unwrap();
    let mut opt = Adam::new(1e-3).unwrap();
    let before = param_bits(&model);
    let too_large = |what: &str, r: Result<()>| match r {
        Err(Error::TooLarge { .. }) => {}
        other => panic!("{what}: expected Error::TooLarge, got {other:?}"),
    };

    too_large("forward", refused(|| model.forward(&x).map(|_| ())));
    too_large("step", refused(|| model.step(&x, &y, &mut opt).map(|_| ())));
    let full = Fit::new(2).full();
    too_large(
        "fit",
        refused(|| model.fit(&x, &y, &mut opt, &full).map(|_| ())),
    );
    too_large("predict", refused(|| model.predict(&x).map(|_| ())));
    too_large("evaluate", refused(|| model.evaluate(&x, &y).map(|_| ())));
    assert_eq!(
        param_bits(&model),
        before,
        "a refused call changed the parameters"
    );
    assert!(
        matches!(model.update(&mut opt), Err(Error::NotReady { .. })),
        "a refused call left gradients to apply"
    );

    // A layer's own batch buffers (dropout's mask) are reserved the same way.
    let mut dropout = Dropout::<f32>::new(512, 0.5, 1).unwrap();
    too_large(
        "Dropout::reserve",
        refused(|| Layer::<f32>::reserve(&mut dropout, rows)),
    );
    Layer::<f32>::reserve(&mut dropout, rows).unwrap();

    // Without the limit the same calls succeed, from the same parameters.
    let loss = model.step(&x, &y, &mut opt).unwrap();
    assert!(loss.is_finite());
    assert_ne!(param_bits(&model), before);
    model.fit(&x, &y, &mut opt, &full).unwrap();
    assert_eq!(model.predict(&x).unwrap().shape(), (rows, 10));

    // A shuffled fit's own buffers: the row order of 200 000 rows (1.6 MB of indices) is refused,
    // while every buffer of the model (one column of 200 000 rows: 800 KB) is granted.
    let rows = 200_000;
    let x = DMatrix::<f32>::from_fn(rows, 1, |r, _| (r % 13) as f32 / 13.0);
    let y = x.map(|v| 2.0 * v);
    let mut line = Sequential::<f32>::builder(1)
        .seed(1)
        .dense(1, Identity)
        .loss(Mse)
        .build()
        .unwrap();
    let mut opt = Sgd::new(0.1).unwrap();
    let shuffled = Fit::new(1).full().shuffle(7);
    let before = param_bits(&line);
    match refused(|| line.fit(&x, &y, &mut opt, &shuffled)) {
        Err(Error::TooLarge { what, .. }) => assert_eq!(what, "shuffled row order"),
        other => panic!("shuffled fit: expected Error::TooLarge, got {other:?}"),
    }
    assert_eq!(param_bits(&line), before, "a refused fit changed the line");
    line.fit(&x, &y, &mut opt, &shuffled).unwrap();
    assert_ne!(param_bits(&line), before);

    println!("oom: buffers the allocator refuses are Error::TooLarge ... ok");
}
