//! Chapter 6, "Full / Batch / Stochastic Gradient Descent" (page 109).
//!
//! The book names three ways to learn a whole data set:
//!
//! - *stochastic* gradient descent updates the weights after every example (what page 108 did);
//! - *(full) gradient descent* averages the `weight_delta` over the entire data set and updates
//!   once per pass;
//! - *batch* gradient descent updates after every `n` examples, averaging over the batch.
//!
//! The book prints no numbers for this page. Here the page-108 network (weights
//! `[0.5, 0.48, -0.7]`, `alpha = 0.1`, the six streetlights, 40 passes) is trained the three ways
//! with `Sequential::fit`, whose `Fit` setting is the only difference. Each column is the book's
//! `error_for_all_lights`: `Σ (prediction - goal)²` over the predictions made during the pass,
//! which is `2 * rows * History::loss` because the model's loss is `½ Σ (prediction - goal)²`
//! averaged over the rows. The stochastic column repeats page 108's numbers (`Error:2.6561231104`
//! ... `Error:0.000533736773285`); averaging makes fewer, gentler updates, so full descent learns
//! more slowly at the same `alpha`.
//!
//! Run with `cargo run --example ch06_04_full_batch_stochastic`.

use backprop::book::{self, py2_str};
use backprop::prelude::*;

fn main() -> Result<()> {
    let alpha = 0.1;
    // [[1, 0, 1], [0, 1, 1], [0, 0, 1], [1, 1, 1], [0, 1, 1], [1, 0, 1]] and [0, 1, 0, 1, 1, 0]
    let (streetlights, walk_vs_stop) = book::streetlights();
    let rows = streetlights.nrows() as f64;

    let methods = [
        ("stochastic", Fit::new(40).stochastic(), 6),
        ("batch of 2", Fit::new(40).mini_batch(2), 3),
        ("full", Fit::new(40).full(), 1),
    ];
    let mut errors = Vec::new();
    let mut final_weights = Vec::new();
    for (name, fit, updates_per_pass) in &methods {
        let mut model = Sequential::<f64>::builder(3)
            .bias(false)
            .dense(1, Identity)
            .loss(SquaredError)
            .build()?;
        model.set_weights(0, Matrix::from_column_slice(3, 1, &[0.5, 0.48, -0.7]))?;
        let history = model.fit(&streetlights, &walk_vs_stop, &mut Sgd::new(alpha)?, fit)?;
        // error_for_all_lights = Σ (prediction - goal)² = 2 * rows * mean(½ (prediction - goal)²)
        errors.push(
            history
                .loss
                .iter()
                .map(|l| 2.0 * rows * l)
                .collect::<Vec<_>>(),
        );
        final_weights.push((*name, *updates_per_pass, model.weights(0)?.clone()));
    }

    println!(
        "{:>9}  {:<24}{:<24}{}",
        "iteration", methods[0].0, methods[1].0, methods[2].0
    );
    for iteration in [1, 2, 3, 5, 10, 20, 30, 39, 40] {
        let cells: Vec<String> = errors
            .iter()
            .map(|e| format!("Error:{}", py2_str(e[iteration - 1])))
            .collect();
        println!(
            "{iteration:>9}  {:<24}{:<24}{}",
            cells[0], cells[1], cells[2]
        );
    }

    println!("\nafter 40 passes:");
    for (name, updates_per_pass, weights) in &final_weights {
        println!(
            "{name:>10}: {:>3} updates, weights = {}",
            40 * updates_per_pass,
            book::array(weights).vector()
        );
    }
    Ok(())
}
