//! Training and prediction into a workspace allocate nothing in the steady state.
//!
//! A counting global allocator wraps the system one. After the first step of a given batch size
//! (which sizes the model's buffers and the product's packing space), further `step` calls and
//! further epochs of `fit` (including a short last batch) must not allocate at all. Every
//! activation and every loss is covered, in `f32` and `f64`, with and without bias, at a tiny
//! shape (the book's plain loops) and at one large enough for the blocked, threaded product, with
//! plain gradient descent and with Adam; every optimizer is also run on a network with dropout.
//!
//! The binary has no test harness (`harness = false` in `Cargo.toml`): the allocator counts every
//! thread, so that the product's worker threads are counted too, and libtest's own threads would
//! otherwise allocate at times while a section is being counted.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use backprop::prelude::*;
use nalgebra::DMatrix;

/// Counts every allocation (and reallocation) made by any thread while `ARMED` is set.
struct Counting;

static ARMED: AtomicBool = AtomicBool::new(false);
static COUNT: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` unchanged; the counters are atomics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ARMED.load(Ordering::Relaxed) {
            COUNT.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if ARMED.load(Ordering::Relaxed) {
            COUNT.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if ARMED.load(Ordering::Relaxed) {
            COUNT.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Number of allocations `f` makes.
fn allocations<R>(f: impl FnOnce() -> R) -> (usize, R) {
    COUNT.store(0, Ordering::SeqCst);
    ARMED.store(true, Ordering::SeqCst);
    let r = f();
    ARMED.store(false, Ordering::SeqCst);
    (COUNT.load(Ordering::SeqCst), r)
}

/// The activations, by name, so one loop can build each.
const ACTIVATIONS: [&str; 10] = [
    "Identity",
    "Relu",
    "Sigmoid",
    "Tanh",
    "Softmax", // derivative from the output
    "LeakyRelu",
    "Elu",
    "Gelu",
    "Silu",
    "Softplus", // derivative from the kept input
];

fn dense<T: Float>(b: SequentialBuilder<T>, units: usize, f: &str) -> SequentialBuilder<T> {
    match f {
        "Identity" => b.dense(units, Identity),
        "Relu" => b.dense(units, Relu),
        "Sigmoid" => b.dense(units, Sigmoid),
        "Tanh" => b.dense(units, Tanh),
        "Softmax" => b.dense(units, Softmax),
        "LeakyRelu" => b.dense(units, LeakyRelu::default()),
        "Elu" => b.dense(units, Elu::default()),
        "Gelu" => b.dense(units, Gelu::Exact),
        "Silu" => b.dense(units, Silu),
        "Softplus" => b.dense(units, Softplus),
        _ => unreachable!(),
    }
}

/// What the output layer, the loss and the targets look like.
#[derive(Debug, Clone, Copy)]
enum Head {
    SquaredError(&'static str),
    Mse(&'static str),
    /// Binary cross-entropy after the given activation (fused with Sigmoid).
    Bce(&'static str),
    /// Categorical cross-entropy on one-hot rows after the given activation (fused with Softmax).
    CceOneHot(&'static str),
    /// Categorical cross-entropy on a column of class indices after softmax (fused).
    CceIndex,
}

const HEADS: [Head; 9] = [
    Head::SquaredError("Identity"),
    Head::SquaredError("Relu"),
    Head::SquaredError("Softmax"),
    Head::Mse("Tanh"),
    Head::Bce("Sigmoid"),
    // Unfused: probabilities from a softmax (an identity output would not be probabilities).
    Head::Bce("Softmax"),
    Head::CceOneHot("Softmax"),
    Head::CceOneHot("Sigmoid"),
    Head::CceIndex,
];

fn model<T: Float>(widths: &[usize], hidden: &str, head: Head, bias: bool) -> Sequential<T> {
    let mut b = Sequential::<T>::builder(widths[0]).seed(3).bias(bias);
    for &w in &widths[1..widths.len() - 1] {
        b = dense(b, w, hidden);
    }
    let out = widths[widths.len() - 1];
    let b = match head {
        Head::SquaredError(f) => dense(b, out, f).loss(SquaredError),
        Head::Mse(f) => dense(b, out, f).loss(Mse),
        // The builder refuses a softmax with binary cross-entropy unless told otherwise: this
        // head exercises the loss's unfused path on purpose.
        Head::Bce(f) => dense(b, out, f)
            .loss(BinaryCrossEntropy)
            .check_pairing(false),
        Head::CceOneHot(f) => dense(b, out, f).loss(CategoricalCrossEntropy),
        Head::CceIndex => b.dense(out, Softmax).loss(CategoricalCrossEntropy),
    };
    b.build().unwrap()
}

/// Inputs in [-1, 1] and targets of the kind the head's loss takes.
fn data<T: Float>(
    rows: usize,
    inputs: usize,
    outputs: usize,
    head: Head,
) -> (Matrix<T>, Matrix<T>) {
    let x = DMatrix::from_fn(rows, inputs, |r, c| {
        T::of((((r * 7 + c * 13) % 17) as f64) / 8.0 - 1.0)
    });
    let class = |r: usize| (r * 5 + 1) % outputs;
    let y = match head {
        Head::SquaredError(_) | Head::Mse(_) => DMatrix::from_fn(rows, outputs, |r, c| {
            T::of(((r + 2 * c) % 5) as f64 * 0.3 - 0.5)
        }),
        Head::Bce(_) => DMatrix::from_fn(rows, outputs, |r, c| T::of(((r + c) % 3) as f64 * 0.5)),
        Head::CceOneHot(_) => DMatrix::from_fn(rows, outputs, |r, c| {
            if class(r) == c { T::one() } else { T::zero() }
        }),
        Head::CceIndex => DMatrix::from_fn(rows, 1, |r, _| T::of(class(r) as f64)),
    };
    (x, y)
}

/// Describes every case that allocated in the steady state.
fn check<T: Float>(
    widths: &[usize],
    batch: usize,
    rows: usize,
    heads: &[Head],
    failures: &mut Vec<String>,
) {
    for hidden in ACTIVATIONS {
        for &head in heads {
            for bias in [true, false] {
                let case = format!(
                    "{} widths {widths:?} batch {batch} hidden {hidden} head {head:?} bias {bias}",
                    T::NAME
                );
                let (inputs, outputs) = (widths[0], widths[widths.len() - 1]);
                let mut sgd = Sgd::new(T::of(0.01)).unwrap();

                // Adam keeps two moments per parameter, created on its first update.
                let mut adam = Adam::new(T::of(0.001)).unwrap();
                let mut m = model::<T>(widths, hidden, head, bias);
                let (x, y) = data::<T>(batch, inputs, outputs, head);
                m.step(&x, &y, &mut adam).unwrap();
                let (n, _) = allocations(|| m.step(&x, &y, &mut adam).unwrap());
                if n != 0 {
                    failures.push(format!("{case}: {n} allocations in a step with Adam"));
                }

                // `step`: the first call sizes the buffers; the next ones must not allocate.
                let mut m = model::<T>(widths, hidden, head, bias);
                let (x, y) = data::<T>(batch, inputs, outputs, head);
                m.step(&x, &y, &mut sgd).unwrap();
                let (n, loss) = allocations(|| {
                    let mut loss = T::zero();
                    for _ in 0..3 {
                        loss = m.step(&x, &y, &mut sgd).unwrap();
                    }
                    loss
                });
                assert!(loss.finite(), "{case}: loss {loss}");
                if n != 0 {
                    failures.push(format!("{case}: {n} allocations in 3 steps"));
                }

                // `fit`: once the batch sizes have been seen, more epochs cost no allocation
                // beyond what one call of `fit` itself makes (its history).
                let mut m = model::<T>(widths, hidden, head, bias);
                let (x, y) = data::<T>(rows, inputs, outputs, head);
                let fit = |epochs| Fit::new(epochs).mini_batch(batch);
                m.fit(&x, &y, &mut sgd, &fit(1)).unwrap();
                let (one, _) = allocations(|| m.fit(&x, &y, &mut sgd, &fit(1)).unwrap());
                let (four, h) = allocations(|| m.fit(&x, &y, &mut sgd, &fit(4)).unwrap());
                assert_eq!(h.loss.len(), 4, "{case}");
                if four != one {
                    failures.push(format!(
                        "{case}: fit allocates {one} times for one epoch and {four} for four"
                    ));
                }
                // The same with Adam, whose epochs are checked at their end from a copy of its
                // moments: a fresh model's first epoch (state created in its first step) costs
                // what any other does once the copy has room.
                let mut m = model::<T>(widths, hidden, head, bias);
                let mut adam = Adam::new(T::of(0.001)).unwrap();
                let (first, _) = allocations(|| m.fit(&x, &y, &mut adam, &fit(1)).unwrap());
                let (one, _) = allocations(|| m.fit(&x, &y, &mut adam, &fit(1)).unwrap());
                let (four, _) = allocations(|| m.fit(&x, &y, &mut adam, &fit(4)).unwrap());
                if four != one {
                    failures.push(format!(
                        "{case}: fit with Adam allocates {one} times for one epoch and {four} for \
                         four (the first fit: {first})"
                    ));
                }
            }
        }
    }
}

/// Every optimizer of the crate, on a network with a dropout layer: steps after the first.
fn check_optimizers<T: Float>(widths: &[usize], batch: usize, failures: &mut Vec<String>) {
    let lr = T::of(0.01);
    let optimizers: Vec<(&str, Box<dyn Optimizer<T>>)> = vec![
        ("Sgd", Box::new(Sgd::new(lr).unwrap())),
        (
            "Sgd momentum nesterov",
            Box::new(
                Sgd::new(lr)
                    .unwrap()
                    .momentum(T::of(0.9))
                    .unwrap()
                    .nesterov(true)
                    .unwrap(),
            ),
        ),
        (
            "RmsProp",
            Box::new(RmsProp::new(lr).unwrap().momentum(T::of(0.9)).unwrap()),
        ),
        ("Adagrad", Box::new(Adagrad::new(lr).unwrap())),
        ("Adam", Box::new(Adam::new(lr).unwrap())),
        ("AdamW", Box::new(AdamW::new(lr).unwrap())),
    ];
    for (name, mut opt) in optimizers {
        let (inputs, outputs) = (widths[0], widths[widths.len() - 1]);
        let mut m = Sequential::<T>::builder(inputs)
            .seed(5)
            .dense(widths[1], Relu)
            .dropout(0.25)
            .dense(outputs, Softmax)
            .loss(CategoricalCrossEntropy)
            .build()
            .unwrap();
        let (x, y) = data::<T>(batch, inputs, outputs, Head::CceIndex);
        m.step(&x, &y, opt.as_mut()).unwrap();
        let (n, _) = allocations(|| {
            for _ in 0..3 {
                m.step(&x, &y, opt.as_mut()).unwrap();
            }
        });
        if n != 0 {
            failures.push(format!(
                "{} widths {widths:?} batch {batch} dropout, {name}: {n} allocations in 3 steps",
                T::NAME
            ));
        }
    }
}

fn main() {
    training_steps_do_not_allocate_after_the_first();
    println!("alloc: training steps do not allocate after the first ... ok");
    predictions_into_a_grown_workspace_do_not_allocate();
    println!("alloc: predictions into a grown workspace do not allocate ... ok");
}

/// `predict_into` with a workspace that has seen a batch this large allocates nothing, for a
/// tiny network and one with a dropout layer and more rows than one chunk of the forward pass.
fn predictions_into_a_grown_workspace_do_not_allocate() {
    use backprop::model::Workspace;
    for (widths, rows) in [([3usize, 4, 2], 1usize), ([70, 96, 10], 1500)] {
        let model = Sequential::<f32>::builder(widths[0])
            .seed(2)
            .dense(widths[1], Relu)
            .dropout(0.5)
            .dense(widths[2], Softmax)
            .build()
            .unwrap();
        let x = DMatrix::from_fn(rows, widths[0], |r, c| ((r * 3 + c) % 7) as f32 / 7.0);
        let (mut out, mut ws) = (DMatrix::zeros(rows, widths[2]), Workspace::new());
        model.predict_into(&x, &mut out, &mut ws).unwrap();
        let first = out.clone();
        let (n, _) = allocations(|| {
            for _ in 0..3 {
                model.predict_into(&x, &mut out, &mut ws).unwrap();
            }
        });
        assert_eq!(
            n, 0,
            "widths {widths:?}, {rows} rows: {n} allocations in 3 predictions"
        );
        assert_eq!(out, first);
        // `predict` keeps its buffers on the thread: after a first call of this size, a call
        // allocates its result alone.
        assert_eq!(model.predict(&x).unwrap(), first);
        let (n, pred) = allocations(|| model.predict(&x).unwrap());
        assert_eq!(n, 1, "widths {widths:?}: predict made {n} allocations");
        assert_eq!(pred, first);
    }
}

fn training_steps_do_not_allocate_after_the_first() {
    // The counter works: a fresh vector is one allocation.
    let (n, v) = allocations(|| vec![1u8; 16]);
    assert_eq!((n, v.len()), (1, 16));

    let mut failures = Vec::new();
    // Tiny shapes: the book's 3-4-1 network, one row at a time and four rows; fit with batches of
    // 3 over 4 rows leaves a last batch of one row.
    check::<f64>(&[3, 4, 2], 1, 4, &HEADS, &mut failures);
    check::<f64>(&[3, 4, 2], 3, 4, &HEADS, &mut failures);
    check::<f32>(&[3, 4, 2], 3, 4, &HEADS, &mut failures);
    // Shapes for the blocked product: batches of 40 over 90 rows leave a last batch of 10.
    check::<f32>(&[70, 96, 10], 40, 90, &HEADS, &mut failures);
    check::<f64>(&[70, 96, 10], 40, 90, &HEADS, &mut failures);
    // Products of more than 2^20 multiply-adds (40 x 300 x 200), which the `threading` feature
    // shares between threads.
    let heads = [Head::CceIndex, Head::SquaredError("Identity")];
    check::<f32>(&[300, 200, 10], 40, 90, &heads, &mut failures);
    check::<f64>(&[300, 200, 10], 40, 90, &heads[..1], &mut failures);
    // Every optimizer, with a dropout layer.
    check_optimizers::<f64>(&[3, 4, 2], 1, &mut failures);
    check_optimizers::<f32>(&[70, 96, 10], 40, &mut failures);
    assert!(
        failures.is_empty(),
        "{} cases allocated:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
