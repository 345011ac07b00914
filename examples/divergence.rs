//! Large inputs make the weights blow up, and the divergence guard keeps the last good ones.
//!
//! Chapter 6 says the streetlight matrix may hold dimmer values, or scalar multiples of them
//! (seed 003, "Can also be scalar multiples": `streetlights_multiple = streetlights_dimmer * 20`),
//! and the study notes (seed 000) add that we scale inputs to be "reasonably small" so that the
//! weight estimation doesn't blow up on us. This example shows both halves of that sentence with
//! the chapter's one-layer network (`weights = [0.5, 0.48, -0.7]`, `alpha = 0.1`, stochastic
//! gradient descent over the six rows):
//!
//! 1. on the 0/1 streetlights it learns, as in the book;
//! 2. on `streetlights_dimmer * 20` every update overshoots more than the last, until a value
//!    overflows: `fit` stops with `Error::Diverged`, naming the epoch and step, and the model keeps
//!    the weights from before that step, so it still predicts;
//! 3. with `alpha` divided by 20² the same data trains again.
//!
//! Run with `cargo run --example divergence`.

use backprop::prelude::*;
use nalgebra::DMatrix;

/// The chapter's single-layer network with the book's starting weights.
fn network() -> Result<Sequential<f64>> {
    let mut model = Sequential::<f64>::builder(3)
        .bias(false)
        .dense(1, Identity)
        .build()?;
    // weights = np.array([0.5, 0.48, -0.7])
    model.set_weights(0, DMatrix::from_column_slice(3, 1, &[0.5, 0.48, -0.7]))?;
    Ok(model)
}

fn main() -> Result<()> {
    // streetlights (seed 003) and walk_vs_stop = np.array([0, 1, 0, 1, 1, 0])
    let streetlights = DMatrix::from_row_slice(
        6,
        3,
        &[
            1., 0., 1., 0., 1., 1., 0., 0., 1., 1., 1., 1., 0., 1., 1., 1., 0., 1.,
        ],
    );
    let walk_vs_stop = DMatrix::from_column_slice(6, 1, &[0., 1., 0., 1., 1., 0.]);
    // streetlights_dimmer (seed 003), and streetlights_multiple = streetlights_dimmer * 20
    let streetlights_dimmer = DMatrix::from_row_slice(
        6,
        3,
        &[
            0.9, 0.0, 1., 0.2, 0.8, 1., 0.1, 0.0, 1., 0.8, 0.9, 1., 0.1, 0.7, 1., 0.9, 0.1, 0.,
        ],
    );
    let streetlights_multiple = &streetlights_dimmer * 20.0;
    let alpha = 0.1;

    println!("1. streetlights (0/1), alpha = {alpha}:");
    let mut model = network()?;
    let history = model.fit(
        &streetlights,
        &walk_vs_stop,
        &mut Sgd::new(alpha)?,
        &Fit::new(40),
    )?;
    println!(
        "   epoch 40 error {:.12}",
        history.loss.last().copied().unwrap_or(f64::NAN)
    );
    println!("   weights {:?}", model.weights(0)?.as_slice());

    println!("\n2. streetlights_dimmer * 20, alpha = {alpha}:");
    let mut model = network()?;
    let mut opt = Sgd::new(alpha)?;
    let history = model.fit(
        &streetlights_multiple,
        &walk_vs_stop,
        &mut opt,
        &Fit::new(10),
    )?;
    for (epoch, loss) in history.loss.iter().enumerate() {
        println!("   epoch {epoch} error {loss:.6e}");
    }
    println!("   the error grows each epoch; training on for up to 1000 more epochs:");
    match model.fit(
        &streetlights_multiple,
        &walk_vs_stop,
        &mut opt,
        &Fit::new(1000),
    ) {
        Err(err @ Error::Diverged { .. }) => println!("   guard: {err}"),
        Err(other) => return Err(other),
        Ok(_) => println!("   (did not diverge)"),
    }
    let weights = model.weights(0)?;
    println!("   last good weights {:?}", weights.as_slice());
    println!("   all finite: {}", weights.iter().all(|w| w.is_finite()));
    let prediction = model.predict(&streetlights_multiple)?;
    println!("   the model still predicts: {:?}", prediction.as_slice());

    let scaled = alpha / 400.0;
    println!("\n3. streetlights_dimmer * 20, alpha = {alpha} / 20^2 = {scaled}:");
    let mut model = network()?;
    let history = model.fit(
        &streetlights_multiple,
        &walk_vs_stop,
        &mut Sgd::new(scaled)?,
        &Fit::new(200),
    )?;
    println!(
        "   epoch 200 error {:.12}",
        history.loss.last().copied().unwrap_or(f64::NAN)
    );
    println!("   weights {:?}", model.weights(0)?.as_slice());
    Ok(())
}
