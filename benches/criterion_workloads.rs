//! The three training workloads (see `benches/workloads.rs`), shortened so that criterion can
//! repeat them: W1 for 2 000 epochs instead of 20 000, W2 for 3 epochs instead of 30, and W3 on
//! the first 6 400 of its 60 000 rows (50 steps of 128).
//!
//! ```text
//! cargo bench --bench criterion_workloads
//! ```
//!
//! The model is rebuilt outside the timed routine, so every sample trains from the same weights.

use std::hint::black_box;

use backprop::prelude::*;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use nalgebra::DMatrix;
use rand::RngExt;

fn w1(c: &mut Criterion) {
    let x = DMatrix::from_row_slice(4, 3, &[1., 0., 1., 0., 1., 1., 0., 0., 1., 1., 1., 1.]);
    let y = DMatrix::from_column_slice(4, 1, &[1., 1., 0., 0.]);
    let build = || {
        Sequential::<f64>::builder(3)
            .seed(1)
            .init(BookUniform)
            .bias(false)
            .dense(4, Relu)
            .dense(1, Identity)
            .build()
            .expect("valid model")
    };
    let fit = Fit::new(2_000).stochastic();
    c.bench_function("w1 book-sgd f64, 2000 epochs x 4 rows", |b| {
        b.iter_batched(
            build,
            |mut model| {
                let mut sgd = Sgd::new(0.2).expect("valid rate");
                black_box(model.fit(&x, &y, &mut sgd, &fit).expect("trains"))
            },
            BatchSize::LargeInput,
        )
    });
}

/// A Glorot-uniform softmax classifier with ReLU hidden layers.
fn classifier(widths: &[usize]) -> Sequential<f32> {
    let mut b = Sequential::<f32>::builder(widths[0])
        .seed(0)
        .loss(CategoricalCrossEntropy);
    for &w in &widths[1..widths.len() - 1] {
        b = b.dense(w, Relu);
    }
    b.dense(widths[widths.len() - 1], Softmax)
        .build()
        .expect("valid model")
}

fn w2(c: &mut Criterion) {
    let (x, y) = backprop::data::digits::<f32>()
        .expect("bundled data")
        .to_dataset_labels()
        .into_parts();
    let fit = Fit::new(3).mini_batch(32);
    let mut group = c.benchmark_group("w2");
    group.sample_size(20);
    group.bench_function("digits-mlp f32, 3 epochs of batches of 32", |b| {
        b.iter_batched(
            || classifier(&[64, 128, 10]),
            |mut model| {
                let mut sgd = Sgd::new(0.05).expect("valid rate");
                black_box(model.fit(&x, &y, &mut sgd, &fit).expect("trains"))
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn w3(c: &mut Criterion) {
    let rows = 6_400;
    let mut rng = NumpyRng::new(0);
    let x = DMatrix::<f32>::from_fn(rows, 784, |_, _| RngExt::random::<f32>(&mut rng));
    let y = DMatrix::<f32>::from_fn(rows, 1, |_, _| rng.random_range(0..10u8) as f32);
    let fit = Fit::new(1).mini_batch(128);
    let mut group = c.benchmark_group("w3");
    group.sample_size(10);
    group.bench_function("mnist-shaped f32 Adam, 50 batches of 128", |b| {
        b.iter_batched(
            || classifier(&[784, 256, 128, 10]),
            |mut model| {
                let mut adam = Adam::new(1e-3).expect("valid rate");
                black_box(model.fit(&x, &y, &mut adam, &fit).expect("trains"))
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, w1, w2, w3);
criterion_main!(benches);
