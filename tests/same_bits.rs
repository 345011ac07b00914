//! Seeded training gives the same bits on every CPU: prints a digest of the weights after two
//! seeded runs on the bundled digits, which `.ci/run` compares between one and two threads on
//! x86-64 and an aarch64 build run under emulation.
//!
//! ```text
//! digest w2-sgd-f32 <16 hex digits>     digest tanh-adam-f64 <16 hex digits>
//! ```
//!
//! On its own the test checks that each run trained (the loss fell) and that a second run in the
//! same process gives the same digest.

use backprop::prelude::*;
use nalgebra::DMatrix;

/// FNV-1a over the bits of every parameter, in the order of `Sequential::parameters`.
fn digest<T: Float>(model: &Sequential<T>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (_, p) in model.parameters() {
        for v in p.value.iter() {
            for byte in v.as_f64().to_bits().to_le_bytes() {
                h = (h ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
    }
    h
}

/// W2's network and optimizer (64-128-10, ReLU, softmax with cross-entropy, SGD 0.05, batches of
/// 32), for three epochs: the blocked products, the fused output delta and `exp`.
fn w2_sgd_f32() -> Result<(Sequential<f32>, f64, f64)> {
    let (x, labels) = backprop::data::digits::<f32>()?
        .to_dataset_labels()
        .into_parts();
    let mut model = Sequential::<f32>::builder(64)
        .seed(0)
        .init(GlorotUniform)
        .loss(CategoricalCrossEntropy)
        .dense(128, Relu)
        .dense(10, Softmax)
        .build()?;
    let before = model.evaluate(&x, &labels)?.as_f64();
    model.fit(
        &x,
        &labels,
        &mut Sgd::new(0.05)?,
        &Fit::new(3).mini_batch(32),
    )?;
    let after = model.evaluate(&x, &labels)?.as_f64();
    Ok((model, before, after))
}

/// An f64 network through `tanh`, `exp` and Adam's square roots, on one-hot targets, shuffled.
fn tanh_adam_f64() -> Result<(Sequential<f64>, f64, f64)> {
    let (x, labels) = backprop::data::digits::<f64>()?
        .to_dataset_labels()
        .into_parts();
    let one_hot = DMatrix::from_fn(x.nrows(), 10, |r, c| {
        f64::from(labels[(r, 0)] as usize == c)
    });
    let mut model = Sequential::<f64>::builder(64)
        .seed(7)
        .init(GlorotUniform)
        .loss(CategoricalCrossEntropy)
        .dense(32, Tanh)
        .dense(10, Softmax)
        .build()?;
    let before = model.evaluate(&x, &one_hot)?;
    let fit = Fit::new(2).mini_batch(64).shuffle(3);
    model.fit(&x, &one_hot, &mut Adam::new(1e-3)?, &fit)?;
    let after = model.evaluate(&x, &one_hot)?;
    Ok((model, before, after))
}

fn main() -> Result<()> {
    let (model, before, after) = w2_sgd_f32()?;
    assert!(
        after < before,
        "w2-sgd-f32 did not train: {before} -> {after}"
    );
    let again = w2_sgd_f32()?.0;
    assert_eq!(
        digest(&model),
        digest(&again),
        "w2-sgd-f32 differs between runs"
    );
    println!("digest w2-sgd-f32 {:016x}", digest(&model));

    let (model, before, after) = tanh_adam_f64()?;
    assert!(
        after < before,
        "tanh-adam-f64 did not train: {before} -> {after}"
    );
    let again = tanh_adam_f64()?.0;
    assert_eq!(
        digest(&model),
        digest(&again),
        "tanh-adam-f64 differs between runs"
    );
    println!("digest tanh-adam-f64 {:016x}", digest(&model));
    Ok(())
}
