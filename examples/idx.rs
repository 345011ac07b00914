//! Train on images and labels in IDX files, the format MNIST comes in.
//!
//! ```text
//! cargo run --release --example idx [-- DIR]
//! ```
//!
//! `DIR` holds MNIST's four files, decompressed (`train-images-idx3-ubyte`,
//! `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`). Without it,
//! the example first writes the bundled 8x8 digits in that format (1 497 training and 300 test
//! images, pixels 0..16 scaled to 0..255) into a temporary directory, so it runs offline. A
//! network with one hidden ReLU layer is then trained on the pixels divided by 255, with the
//! labels as class indices, and its accuracy on the test files printed.

use std::path::{Path, PathBuf};

use backprop::data::{digits, read_idx_images, read_idx_labels};
use backprop::metrics::accuracy;
use backprop::prelude::*;
use nalgebra::DMatrix;

const FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let given = std::env::args_os().nth(1).map(PathBuf::from);
    let dir = match &given {
        Some(dir) => dir.clone(),
        None => write_digits_as_idx()?,
    };
    let path = |name: &str| dir.join(name);
    let x_train = read_idx_images::<f32>(path(FILES[0]))? / 255.0;
    let y_train = labels_column(&read_idx_labels(path(FILES[1]))?);
    let x_test = read_idx_images::<f32>(path(FILES[2]))? / 255.0;
    let y_test = labels_column(&read_idx_labels(path(FILES[3]))?);
    if given.is_none() {
        std::fs::remove_dir_all(&dir)?; // the files the example wrote, read into memory now
    }
    println!(
        "{}: {} training and {} test images of {} pixels",
        dir.display(),
        x_train.nrows(),
        x_test.nrows(),
        x_train.ncols()
    );

    let mut model = Sequential::<f32>::builder(x_train.ncols())
        .seed(0)
        .dense(128, Relu)
        .dense(10, Softmax)
        .loss(CategoricalCrossEntropy) // targets are class indices
        .build()?;
    let fit = Fit::new(20).mini_batch(64).shuffle(1);
    let history = model.fit(&x_train, &y_train, &mut Adam::new(1e-3)?, &fit)?;
    println!(
        "trained {} epochs, final training loss {:.4}",
        history.loss.len(),
        history.loss.last().copied().unwrap_or(f32::NAN)
    );
    let test_accuracy = accuracy(&model.predict(&x_test)?, &y_test)?;
    println!("test accuracy {:.2}%", 100.0 * test_accuracy);
    Ok(())
}

/// Class indices as the one-column target matrix categorical cross-entropy accepts.
fn labels_column(labels: &[usize]) -> DMatrix<f32> {
    DMatrix::from_iterator(labels.len(), 1, labels.iter().map(|&l| l as f32))
}

/// Writes the bundled digits as the four IDX files (the last 300 images as the test set) into a
/// fresh temporary directory, and returns it.
fn write_digits_as_idx() -> Result<PathBuf, Box<dyn std::error::Error>> {
    let digits = digits::<f32>()?;
    let dir = std::env::temp_dir().join(format!("backprop-idx-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let split = digits.len() - 300;
    let pixels = |rows: std::ops::Range<usize>| -> Vec<u8> {
        rows.flat_map(|r| {
            digits
                .images()
                .row(r)
                .iter()
                .map(|&p| (p * 16.0).min(255.0) as u8)
                .collect::<Vec<_>>()
        })
        .collect()
    };
    let labels = |rows: std::ops::Range<usize>| -> Vec<u8> {
        digits.labels()[rows].iter().map(|&l| l as u8).collect()
    };
    write_idx(
        &dir.join(FILES[0]),
        0x0803,
        &[split, 8, 8],
        &pixels(0..split),
    )?;
    write_idx(&dir.join(FILES[1]), 0x0801, &[split], &labels(0..split))?;
    let test = digits.len() - split;
    write_idx(
        &dir.join(FILES[2]),
        0x0803,
        &[test, 8, 8],
        &pixels(split..digits.len()),
    )?;
    write_idx(
        &dir.join(FILES[3]),
        0x0801,
        &[test],
        &labels(split..digits.len()),
    )?;
    println!("no directory given: wrote the bundled digits as IDX files");
    Ok(dir)
}

/// One IDX file: the magic number and the sizes as big-endian `u32`s, then the bytes.
fn write_idx(path: &Path, magic: u32, sizes: &[usize], data: &[u8]) -> std::io::Result<()> {
    let mut bytes = magic.to_be_bytes().to_vec();
    for &size in sizes {
        bytes.extend((size as u32).to_be_bytes());
    }
    bytes.extend(data);
    std::fs::write(path, bytes)
}
