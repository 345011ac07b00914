//! The benchmark workloads (`benches/README.md`), timed through the public API.
//!
//! ```text
//! cargo bench --bench workloads -- w1|w2|w3|w4|w4-floor [--reps N]
//! ```
//!
//! prints one JSON line, e.g.
//! `{"peer":"backprop","workload":"w2","seconds":0.041,"final_loss":0.107,"threads":2,"dtype":"f32"}`.
//!
//! * **w1** (book-sgd, f64): the chapter's streetlight network 3-4-1, ReLU, no bias, weights from
//!   `np.random.seed(1)` through `NumpyRng` and `BookUniform`, squared error, `Sgd` 0.2,
//!   20 000 epochs of stochastic descent (80 000 single-row steps).
//! * **w2** (digits-mlp, f32): the bundled 8x8 digits divided by 16, 64-128-10 with biases,
//!   Glorot uniform, ReLU then softmax with categorical cross-entropy on class indices, `Sgd` 0.05,
//!   mini-batches of 32 rows in order (the last one has 5), 30 epochs.
//! * **w3** (mnist-shaped, f32): 60 000 x 784 synthetic uniform inputs and uniform labels 0..9,
//!   784-256-128-10 with biases, Glorot uniform, softmax with categorical cross-entropy, Adam 1e-3
//!   (eps 1e-8), mini-batches of 128 rows in order, one epoch.
//!
//! * **w4** (mnist-shaped inference, f32): W3's network, untrained, predicting the first 10 000
//!   rows of W3's data through `predict(&self)`: `w4a` the rows in 10 batches of 1 000 (rows per
//!   second), `w4b` one row per call (median and 99th percentile per call), each from one thread
//!   and from two threads sharing one model through an `Arc`; four JSON lines.
//! * **w4-floor**: the floor W4a is measured against: the rows per second that `matrixmultiply`
//!   (nalgebra's product, with its threads) reaches on W4a's three products alone, each at its
//!   median rate over batches of about 20 ms, no bias, activation or allocation.
//!
//! Only training is timed (`fit`); data, model construction and the final loss are outside the
//! timer. `final_loss` is W1's `Σ (pred - y)²` over the four rows and W2/W3's mean cross-entropy
//! over the whole set, evaluated after training. With `--reps N` the training runs `N` times from
//! the same initial weights and `seconds` is the median (`seconds_min`/`seconds_max` are added).

use std::time::Instant;

use backprop::prelude::*;
use nalgebra::DMatrix;
use rand::RngExt;

/// The initial weights WORKLOADS.md lists for `np.random.seed(1)`, row-major.
const W01: [f64; 12] = [
    -0.165955990594852,
    0.4406489868843162,
    -0.9997712503653102,
    -0.39533485473632046,
    -0.7064882183657739,
    -0.8153228104624044,
    -0.6274795772446582,
    -0.3088785459139045,
    -0.20646505153866013,
    0.07763346800671389,
    -0.1616109711934104,
    0.370439000793519,
];
const W12: [f64; 4] = [
    -0.5910955005369651,
    0.7562348727818908,
    -0.9452248136041477,
    0.34093502035680445,
];

/// One timed training run: seconds and the final loss.
struct Run {
    seconds: f64,
    final_loss: f64,
}

fn main() -> Result<()> {
    // `cargo bench` appends `--bench` to the arguments it passes; it selects nothing here.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let workload = args.first().map(String::as_str).unwrap_or("w1");
    let reps = match args.iter().position(|a| a == "--reps") {
        Some(i) => args
            .get(i + 1)
            .and_then(|s| s.parse::<usize>().ok())
            .filter(|&n| n > 0)
            .unwrap_or_else(|| usage()),
        None => 1,
    };
    let (dtype, runs) = match workload {
        "w1" => ("f64", repeat(reps, w1)?),
        "w2" => ("f32", repeat(reps, w2_setup()?)?),
        "w3" => ("f32", repeat(reps, w3_setup())?),
        "w4" => return w4(),
        "w4-floor" => return w4_floor(),
        _ => usage(),
    };
    let mut secs: Vec<f64> = runs.iter().map(|r| r.seconds).collect();
    secs.sort_by(f64::total_cmp);
    let median = secs[secs.len() / 2];
    let final_loss = runs[runs.len() / 2].final_loss;
    let mut line = format!(
        "{{\"peer\":\"backprop\",\"workload\":\"{workload}\",\"seconds\":{median:.9},\
         \"final_loss\":{final_loss:e},\"threads\":{},\"dtype\":\"{dtype}\"",
        threads()
    );
    if reps > 1 {
        line += &format!(
            ",\"seconds_min\":{:.9},\"seconds_max\":{:.9},\"reps\":{reps}",
            secs[0],
            secs[secs.len() - 1]
        );
    }
    println!("{line}}}");
    Ok(())
}

fn usage() -> ! {
    eprintln!("usage: cargo bench --bench workloads -- w1|w2|w3|w4 [--reps N]");
    std::process::exit(2)
}

/// The thread count the products may use: `MATMUL_NUM_THREADS`, else the number of cores, or 1
/// without the `threading` feature.
fn threads() -> usize {
    if !cfg!(feature = "threading") {
        return 1;
    }
    std::env::var("MATMUL_NUM_THREADS")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1)
}

fn repeat(reps: usize, mut run: impl FnMut() -> Result<Run>) -> Result<Vec<Run>> {
    (0..reps).map(|_| run()).collect()
}

/// W1: 20 000 epochs of the chapter's per-row loop.
fn w1() -> Result<Run> {
    let streetlights =
        DMatrix::from_row_slice(4, 3, &[1., 0., 1., 0., 1., 1., 0., 0., 1., 1., 1., 1.]);
    let walk_vs_stop = DMatrix::from_column_slice(4, 1, &[1., 1., 0., 0.]);
    let mut model = Sequential::<f64>::builder(3)
        .seed(1) // np.random.seed(1)
        .init(BookUniform) // 2*np.random.random((3,4)) - 1
        .bias(false)
        .dense(4, Relu) // layer_1 = relu(layer_0.dot(weights_0_1))
        .dense(1, Identity) // layer_2 = layer_1.dot(weights_1_2)
        .loss(SquaredError) // layer_2_delta = layer_2 - walk_vs_stop
        .build()?;
    assert_eq!(*model.weights(0)?, DMatrix::from_row_slice(3, 4, &W01));
    assert_eq!(*model.weights(1)?, DMatrix::from_row_slice(4, 1, &W12));
    let mut sgd = Sgd::new(0.2)?;
    let fit = Fit::new(20_000).stochastic();

    let start = Instant::now();
    model.fit(&streetlights, &walk_vs_stop, &mut sgd, &fit)?;
    let seconds = start.elapsed().as_secs_f64();

    let pred = model.predict(&streetlights)?;
    let final_loss = SquaredError::sum_of_squares(&pred, &walk_vs_stop);
    Ok(Run {
        seconds,
        final_loss,
    })
}

/// A Glorot-uniform softmax classifier of the given widths, biases on.
fn classifier(widths: &[usize]) -> Result<Sequential<f32>> {
    let mut builder = Sequential::<f32>::builder(widths[0])
        .seed(0)
        .init(GlorotUniform)
        .loss(CategoricalCrossEntropy);
    for &w in &widths[1..widths.len() - 1] {
        builder = builder.dense(w, Relu);
    }
    builder.dense(widths[widths.len() - 1], Softmax).build()
}

/// Trains a fresh classifier on `x`, `labels` and reports the time and the mean cross-entropy.
fn train_classifier(
    widths: &[usize],
    x: &DMatrix<f32>,
    labels: &DMatrix<f32>,
    opt: &mut dyn Optimizer<f32>,
    fit: &Fit,
) -> Result<Run> {
    let mut model = classifier(widths)?;
    let start = Instant::now();
    model.fit(x, labels, opt, fit)?;
    let seconds = start.elapsed().as_secs_f64();
    let final_loss = model.evaluate(x, labels)?.as_f64();
    Ok(Run {
        seconds,
        final_loss,
    })
}

/// W2's data, then a closure that trains on it.
fn w2_setup() -> Result<impl FnMut() -> Result<Run>> {
    let digits = backprop::data::digits::<f32>()?.to_dataset_labels();
    let (x, labels) = digits.into_parts();
    Ok(move || {
        let mut sgd = Sgd::new(0.05)?;
        train_classifier(
            &[64, 128, 10],
            &x,
            &labels,
            &mut sgd,
            &Fit::new(30).mini_batch(32),
        )
    })
}

/// W3's synthetic data, then a closure that trains on it.
/// W3's inputs and labels: uniform values and classes from a seeded generator.
fn w3_data() -> (DMatrix<f32>, DMatrix<f32>) {
    let (rows, cols) = (60_000, 784);
    let mut rng = NumpyRng::new(0);
    let x = DMatrix::<f32>::from_fn(rows, cols, |_, _| RngExt::random::<f32>(&mut rng));
    let labels = DMatrix::<f32>::from_fn(rows, 1, |_, _| rng.random_range(0..10u8) as f32);
    (x, labels)
}

fn w3_setup() -> impl FnMut() -> Result<Run> {
    let (x, labels) = w3_data();
    move || {
        // Adam: lr 1e-3, betas (0.9, 0.999), eps 1e-8.
        let mut opt = Adam::new(1e-3)?.betas(0.9, 0.999)?.eps(1e-8)?;
        train_classifier(
            &[784, 256, 128, 10],
            &x,
            &labels,
            &mut opt,
            &Fit::new(1).mini_batch(128),
        )
    }
}

/// W4: inference with W3's network, from one thread and from two sharing the model.
fn w4() -> Result<()> {
    let model = std::sync::Arc::new(classifier(&[784, 256, 128, 10])?);
    let x = w3_data().0.rows(0, 10_000).into_owned();
    // Batches of 1 000 rows and single rows, built outside the timer.
    let batches: Vec<DMatrix<f32>> = (0..10)
        .map(|b| x.rows(b * 1000, 1000).into_owned())
        .collect();
    let singles: Vec<DMatrix<f32>> = (0..x.nrows()).map(|r| x.rows(r, 1).into_owned()).collect();
    for threads in [1, 2] {
        let (seconds, checksum) = timed_predictions(&model, &batches, threads)?;
        println!(
            "{{\"peer\":\"backprop\",\"workload\":\"w4a\",\"threads\":{threads},\
             \"rows_per_second\":{:.0},\"checksum\":{checksum:.3}}}",
            x.nrows() as f64 / seconds
        );
    }
    for threads in [1, 2] {
        let mut calls = per_call_times(&model, &singles, threads)?;
        calls.sort_by(f64::total_cmp);
        let at = |q: f64| calls[((calls.len() as f64 * q) as usize).min(calls.len() - 1)] * 1e6;
        println!(
            "{{\"peer\":\"backprop\",\"workload\":\"w4b\",\"threads\":{threads},\
             \"median_us\":{:.2},\"p99_us\":{:.2}}}",
            at(0.5),
            at(0.99)
        );
    }
    Ok(())
}

/// W4a's floor: `matrixmultiply` on the products of one 1 000-row batch through W3's network.
fn w4_floor() -> Result<()> {
    let (rows, widths) = (1000, [784, 256, 128, 10]);
    let mut seconds_per_batch = 0.0;
    for w in widths.windows(2) {
        let (k, n) = (w[0], w[1]);
        let a = vec![0.5f32; rows * k];
        let b = vec![0.25f32; k * n];
        let mut c = vec![0.0f32; rows * n];
        let mut product = || {
            // SAFETY: row-major `rows x k`, `k x n` and `rows x n` buffers of those sizes.
            unsafe {
                matrixmultiply::sgemm(
                    rows,
                    k,
                    n,
                    1.0,
                    a.as_ptr(),
                    k as isize,
                    1,
                    b.as_ptr(),
                    n as isize,
                    1,
                    0.0,
                    c.as_mut_ptr(),
                    n as isize,
                    1,
                )
            }
        };
        // Batches of about 20 ms, the median of 15 (as the benchmark suite's GEMM floor).
        let start = Instant::now();
        product();
        let per_call = start.elapsed().as_secs_f64().max(1e-7);
        let calls = ((0.02 / per_call) as usize).max(1);
        let mut batches: Vec<f64> = (0..15)
            .map(|_| {
                let start = Instant::now();
                (0..calls).for_each(|_| product());
                start.elapsed().as_secs_f64() / calls as f64
            })
            .collect();
        batches.sort_by(f64::total_cmp);
        seconds_per_batch += batches[batches.len() / 2];
        std::hint::black_box(&c);
    }
    println!(
        "{{\"peer\":\"floor\",\"workload\":\"w4a\",\"threads\":{},\
         \"rows_per_second\":{:.0}}}",
        threads(),
        rows as f64 / seconds_per_batch
    );
    Ok(())
}

/// Predicts every batch, the batches shared out between `threads` threads that share one model;
/// the wall seconds and the sum of every predicted probability.
fn timed_predictions(
    model: &std::sync::Arc<Sequential<f32>>,
    batches: &[DMatrix<f32>],
    threads: usize,
) -> Result<(f64, f64)> {
    let share = batches.len().div_ceil(threads);
    let start = Instant::now();
    let sums = std::thread::scope(|s| {
        let handles: Vec<_> = batches
            .chunks(share)
            .map(|part| {
                let model = std::sync::Arc::clone(model);
                s.spawn(move || -> Result<f64> {
                    part.iter()
                        .map(|b| Ok(model.predict(b)?.sum() as f64))
                        .sum()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a prediction thread panicked"))
            .collect::<Result<Vec<f64>>>()
    })?;
    Ok((start.elapsed().as_secs_f64(), sums.iter().sum()))
}

/// The seconds of each one-row `predict`, the rows shared out between `threads` threads that
/// share one model.
fn per_call_times(
    model: &std::sync::Arc<Sequential<f32>>,
    rows: &[DMatrix<f32>],
    threads: usize,
) -> Result<Vec<f64>> {
    let share = rows.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = rows
            .chunks(share)
            .map(|part| {
                let model = std::sync::Arc::clone(model);
                s.spawn(move || -> Result<Vec<f64>> {
                    part.iter()
                        .map(|row| {
                            let start = Instant::now();
                            model.predict(row)?;
                            Ok(start.elapsed().as_secs_f64())
                        })
                        .collect()
                })
            })
            .collect();
        let mut all = Vec::new();
        for h in handles {
            all.extend(h.join().expect("a prediction thread panicked")?);
        }
        Ok(all)
    })
}
