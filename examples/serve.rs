//! Save a trained model, load it, and serve predictions from several threads sharing it.
//!
//! ```text
//! cargo run --release --example serve [-- THREADS]
//! ```
//!
//! Trains a 64-32-10 network on the bundled digits for a few epochs, saves it atomically to a
//! safetensors file, loads it back, and shares the loaded model between threads (4 by default)
//! through an `Arc`: `predict` takes `&self`, so no lock is needed. Each thread predicts its own
//! share of the rows, one row per call as a server would, and the example checks that every
//! answer has the bits of the same call made on one thread, and the class of the batch
//! prediction of all rows.

use std::sync::Arc;
use std::time::Instant;

use backprop::data::{argmax_rows, digits};
use backprop::prelude::*;
use nalgebra::DMatrix;

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let threads: usize = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 4,
    };
    let data = digits::<f32>()?.to_dataset_labels();
    let mut model = Sequential::<f32>::builder(64)
        .seed(0)
        .dense(32, Relu)
        .dense(10, Softmax)
        .loss(CategoricalCrossEntropy)
        .build()?;
    model.fit(
        data.inputs(),
        data.targets(),
        &mut Adam::new(1e-3)?,
        &Fit::new(10).mini_batch(32),
    )?;

    let path =
        std::env::temp_dir().join(format!("backprop-serve-{}.safetensors", std::process::id()));
    model.save(&path)?;
    let loaded = Arc::new(Sequential::<f32>::load(&path)?);
    std::fs::remove_file(&path)?;
    println!(
        "saved and loaded a model of {} parameters",
        loaded.summary().total_params()
    );

    let x = data.inputs();
    let one_row = |model: &Sequential<f32>, r: usize| model.predict(&x.rows(r, 1).into_owned());
    let sequential = (0..x.nrows())
        .map(|r| one_row(&model, r))
        .collect::<Result<Vec<_>, Error>>()?;
    let classes = loaded.predict_classes(x)?;
    let started = Instant::now();
    let share = x.nrows().div_ceil(threads);
    let answers = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let model = Arc::clone(&loaded);
                s.spawn(move || -> Result<Vec<(usize, DMatrix<f32>)>, Error> {
                    let rows = t * share..((t + 1) * share).min(x.nrows());
                    rows.map(|r| Ok((r, one_row(&model, r)?))).collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a prediction thread panicked"))
            .collect::<Result<Vec<_>, Error>>()
    })?;
    let seconds = started.elapsed().as_secs_f64();
    let answers: Vec<_> = answers.into_iter().flatten().collect();
    let same_bits = answers.iter().all(|(r, row)| *row == sequential[*r]);
    let same_class = answers
        .iter()
        .all(|(r, row)| argmax_rows(row)[0] == classes[*r]);
    println!(
        "{threads} threads answered {} one-row requests in {:.1} ms",
        answers.len(),
        seconds * 1e3
    );
    println!("same bits as on one thread: {same_bits}; same classes as one batch: {same_class}");
    if answers.len() != x.nrows() || !same_bits || !same_class {
        return Err("the threads' answers differ from one thread's".into());
    }
    Ok(())
}
