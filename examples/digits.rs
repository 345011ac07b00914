//! Train a softmax network on the bundled 8x8 handwritten digits and report how well it reads
//! digits it has never seen.
//!
//! ```text
//! cargo run --release --example digits [-- OUTPUT.svg]
//! ```
//!
//! 1797 images (the UCI optdigits test set, bundled with the crate) are split 80/20, stratified
//! by class with a fixed seed. A 64-128-10 network (ReLU hidden layer, softmax output, categorical
//! cross-entropy on class indices) is trained with Adam on mini-batches of 32, reshuffled every
//! epoch. The test set's loss and accuracy are recorded after every epoch for the curves only
//! (nothing is chosen by them). The example prints the progress, the test accuracy and the
//! confusion matrix, and draws the curves to an SVG file (`target/digits_training.svg` by default).

use std::path::{Path, PathBuf};
use std::time::Instant;

use backprop::data::digits;
use backprop::metrics::{accuracy, confusion_matrix};
use backprop::prelude::*;
use plotters::prelude::*;

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let out: PathBuf = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/digits_training.svg"));

    // Pixels 0..16 scaled to [0, 1], as `load_digits().data / 16`; targets are class indices.
    let digits = digits::<f32>()?;
    let data = digits.to_dataset_labels();
    let (train, test) = data.stratified_split(digits.labels(), 0.2, &mut NumpyRng::new(42))?;
    println!(
        "digits: {} images, {} for training, {} for testing",
        data.len(),
        train.len(),
        test.len()
    );

    let mut model = Sequential::<f32>::builder(64)
        .seed(0)
        .dense(128, Relu)
        .dense(10, Softmax)
        .loss(CategoricalCrossEntropy)
        .build()?;
    let fit = Fit::new(60)
        .mini_batch(32)
        .shuffle(1)
        .accuracy(true)
        .progress(true);
    let mut adam = Adam::new(1e-3)?;
    let started = Instant::now();
    let history = model.fit_with(
        train.inputs(),
        train.targets(),
        Some((test.inputs(), test.targets())),
        &mut adam,
        &fit,
        &mut |_, _| Control::Continue,
    )?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "trained {} epochs in {seconds:.2} s (with a pass over the test set after each)",
        history.loss.len()
    );

    let predicted = model.predict(test.inputs())?;
    let test_accuracy = accuracy(&predicted, test.targets())?;
    println!(
        "test loss {:.4}",
        model.evaluate(test.inputs(), test.targets())?
    );
    println!("test accuracy {:.2}%", 100.0 * test_accuracy);
    println!(
        "\nconfusion matrix (test set):\n{}",
        confusion_matrix(&predicted, test.targets())?
    );

    plot(&history, &out)?;
    println!("loss and accuracy curves written to {}", out.display());
    Ok(())
}

/// Draws training and test loss (left) and accuracy (right) per epoch.
fn plot(history: &History<f32>, out: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1000, 420)).into_drawing_area();
        root.fill(&WHITE)?;
        let (left, right) = root.split_horizontally(500);
        let epochs = history.loss.len() as f64;

        let series = |v: &[f32]| -> Vec<(f64, f64)> {
            v.iter()
                .enumerate()
                .map(|(i, &y)| (i as f64 + 1.0, y as f64))
                .collect()
        };
        let max_loss = history
            .loss
            .iter()
            .chain(&history.val_loss)
            .fold(0.0f32, |m, &v| m.max(v)) as f64;
        let mut chart = ChartBuilder::on(&left)
            .caption("loss (categorical cross-entropy)", ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(1.0..epochs.max(2.0), 0.0..max_loss * 1.05)?;
        chart.configure_mesh().x_desc("epoch").draw()?;
        chart
            .draw_series(LineSeries::new(series(&history.loss), &BLUE))?
            .label("training")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
        chart
            .draw_series(LineSeries::new(series(&history.val_loss), &RED))?
            .label("test")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED));
        chart.configure_series_labels().border_style(BLACK).draw()?;

        let acc = |v: &[f64]| -> Vec<(f64, f64)> {
            v.iter()
                .enumerate()
                .map(|(i, &y)| (i as f64 + 1.0, y))
                .collect()
        };
        let low = history
            .accuracy
            .iter()
            .chain(&history.val_accuracy)
            .fold(1.0f64, |m, &v| m.min(v));
        let mut chart = ChartBuilder::on(&right)
            .caption("accuracy", ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(1.0..epochs.max(2.0), (low - 0.02).max(0.0)..1.0)?;
        chart.configure_mesh().x_desc("epoch").draw()?;
        chart
            .draw_series(LineSeries::new(acc(&history.accuracy), &BLUE))?
            .label("training")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
        chart
            .draw_series(LineSeries::new(acc(&history.val_accuracy), &RED))?
            .label("test")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .border_style(BLACK)
            .draw()?;
        root.present()?;
    }
    write_atomically(out, svg.as_bytes())
}

/// Writes `bytes` to a temporary file beside `path`, then renames it over `path`, so a failed
/// write never leaves a half-written file behind.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("svg.tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}
