//! Times `fit` on a small and a large model, to measure what the divergence guard costs per step.
//!
//! Every training step checks the loss and every gradient for NaN and infinity, and asks the
//! optimizer whether its update stays finite (copying the parameters and its state first only when
//! it cannot say), so that a diverging step can be undone exactly. This prints the time per step of
//!
//! - the chapter's network (3-4-1, ReLU, f64, one row per step: overhead-bound), and
//! - a 784-256-128-10 softmax network (f32, batches of 128: compute-bound);
//!
//! run it on two versions of the crate to compare them:
//! `cargo bench --bench guard_cost -- [small|large] [repeats]`. Timings on a busy machine are noisy;
//! `valgrind --tool=callgrind --toggle-collect='*Sequential*fit*'` on the built bench (the path
//! `cargo bench --bench guard_cost --no-run` prints) counts the instructions of `fit` alone, which
//! repeat exactly. Run by `cargo test --benches` (without `--bench`), it times the small network once.

use std::time::Instant;

use backprop::prelude::*;
use nalgebra::DMatrix;

/// Best time per step over `repeats` runs of `fit`, in nanoseconds.
fn time_per_step<T: Float>(
    model: &mut Sequential<T>,
    x: &Matrix<T>,
    y: &Matrix<T>,
    fit: &Fit,
    steps: usize,
    repeats: usize,
) -> Result<f64> {
    let mut sgd = Sgd::new(T::of(1e-3))?;
    let mut best = f64::INFINITY;
    for _ in 0..repeats {
        let start = Instant::now();
        model.fit(x, y, &mut sgd, fit)?;
        best = best.min(start.elapsed().as_secs_f64() * 1e9 / steps as f64);
    }
    Ok(best)
}

fn main() -> Result<()> {
    let all: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` appends `--bench`; `cargo test --benches` does not, and gets a short smoke run.
    let benching = all.iter().any(|a| a == "--bench");
    let args: Vec<&String> = all.iter().filter(|a| *a != "--bench").collect();
    if !benching && args.is_empty() {
        return small(1);
    }
    let which = args.first().map_or("", |a| a.as_str());
    let repeats = args.get(1).and_then(|r| r.parse().ok()).unwrap_or(5);
    if which != "large" {
        small(repeats)?;
    }
    if which != "small" {
        large(repeats)?;
    }
    Ok(())
}

fn small(repeats: usize) -> Result<()> {
    // Small: the streetlights, 3-4-1, one row per step.
    let streetlights =
        DMatrix::from_row_slice(4, 3, &[1., 0., 1., 0., 1., 1., 0., 0., 1., 1., 1., 1.]);
    let walk_vs_stop = DMatrix::from_column_slice(4, 1, &[1., 1., 0., 0.]);
    let mut small = Sequential::<f64>::builder(3)
        .seed(1)
        .init(BookUniform)
        .bias(false)
        .dense(4, Relu)
        .dense(1, Identity)
        .build()?;
    let epochs = 50_000;
    let ns = time_per_step(
        &mut small,
        &streetlights,
        &walk_vs_stop,
        &Fit::new(epochs),
        epochs * 4,
        repeats,
    )?;
    println!("small 3-4-1 f64, batch 1:          {ns:10.1} ns per step");
    Ok(())
}

fn large(repeats: usize) -> Result<()> {
    // Large: 784-256-128-10, f32, batches of 128 on 2048 rows of seeded noise.
    let mut rng = NumpyRng::new(7);
    let rows = 2048;
    let x = rng.random_matrix(rows, 784)?.map(|v| v as f32);
    let labels = DMatrix::from_fn(rows, 1, |r, _| (r % 10) as f32);
    let mut large = Sequential::<f32>::builder(784)
        .seed(2)
        .dense(256, Relu)
        .dense(128, Relu)
        .dense(10, Softmax)
        .loss(CategoricalCrossEntropy)
        .build()?;
    let epochs = 3;
    let ns = time_per_step(
        &mut large,
        &x,
        &labels,
        &Fit::new(epochs).mini_batch(128),
        epochs * rows / 128,
        repeats,
    )?;
    println!(
        "large 784-256-128-10 f32, batch 128: {:10.1} us per step",
        ns / 1e3
    );
    Ok(())
}
