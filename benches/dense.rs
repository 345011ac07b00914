//! Forward and backward passes of one `Dense` layer at the shapes of the benchmark workloads.
//!
//! ```text
//! cargo bench --bench dense
//! ```
//!
//! Each case is `rows x inputs -> outputs`: forward is `layer_1 = f(layer_0 . weights + bias)`,
//! backward is `weight_delta = layer_0.T . delta`, the bias gradient, and
//! `layer_0_delta = delta . weights.T`. Throughput is reported in multiply-adds of the products.

use std::hint::black_box;

use backprop::prelude::*;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use nalgebra::DMatrix;

/// A layer with deterministic weights in [-0.5, 0.5] and zero bias.
fn layer<T: Float>(inputs: usize, outputs: usize) -> Dense<T> {
    let w = DMatrix::from_fn(inputs, outputs, |i, j| {
        T::of(((i * 31 + j * 17) % 97) as f64 / 97.0 - 0.5)
    });
    Dense::from_weights(w, Some(DMatrix::zeros(1, outputs)))
        .expect("finite weights")
        .with_activation(Relu)
}

fn inputs<T: Float>(rows: usize, cols: usize) -> DMatrix<T> {
    DMatrix::from_fn(rows, cols, |i, j| {
        T::of(((i * 13 + j * 7) % 23) as f64 / 23.0)
    })
}

fn cases<T: Float>(c: &mut Criterion, shapes: &[(&str, usize, usize, usize)]) {
    let mut group = c.benchmark_group(format!("dense_{}", T::NAME));
    for &(name, rows, n_in, n_out) in shapes {
        let mut dense = layer::<T>(n_in, n_out);
        let x = inputs::<T>(rows, n_in);
        let mut out = DMatrix::<T>::zeros(rows, n_out);
        let delta = inputs::<T>(rows, n_out);
        let mut grad_in = DMatrix::<T>::zeros(rows, n_in);
        let id = format!("{name} {rows}x{n_in}->{n_out}");
        group.throughput(Throughput::Elements((rows * n_in * n_out) as u64));
        group.bench_function(BenchmarkId::new("forward", &id), |b| {
            b.iter(|| {
                dense.forward(black_box(x.as_view()), out.as_view_mut());
                black_box(&out);
            })
        });
        group.throughput(Throughput::Elements((2 * rows * n_in * n_out) as u64));
        group.bench_function(BenchmarkId::new("backward", &id), |b| {
            b.iter(|| {
                dense.backward(
                    black_box(x.as_view()),
                    black_box(delta.as_view()),
                    Some(grad_in.as_view_mut()),
                );
                black_box(&grad_in);
            })
        });
    }
    group.finish();
}

fn dense(c: &mut Criterion) {
    // The book's first layer, one row (W1); the digits network's layers (W2); the first and
    // second layers of the MNIST-shaped network (W3).
    let shapes = [
        ("book", 1, 3, 4),
        ("digits-1", 32, 64, 128),
        ("digits-2", 32, 128, 10),
        ("mnist-1", 128, 784, 256),
        ("mnist-2", 128, 256, 128),
    ];
    cases::<f32>(c, &shapes);
    cases::<f64>(c, &shapes[..3]);
}

criterion_group!(benches, dense);
criterion_main!(benches);
