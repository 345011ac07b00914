//! The hmkcode two-layer check from the chapter-6 study notebook ("Coding up a fully functional
//! multilayered neural network"), after the book's "Backpropagation: Long Distance Error
//! Attribution" (pages 119-120).
//!
//! The notebook checks backpropagation against hmkcode's "Backpropagation Step by Step": two
//! inputs `[2, 3]`, a linear hidden layer of two nodes, one linear output, goal 1, `alpha = 0.05`:
//!
//! ```text
//! weights_0_1 = np.array([[0.11, 0.12], [0.21, 0.08]])
//! weights_1_2 = np.array([[0.14], [0.15]])
//! for iteration in range(2):
//!     layer_1 = np.dot(input, weights_0_1)
//!     output = np.dot(layer_1, weights_1_2)
//!     error = np.sum((output - goal_pred) ** 2)
//!     layer_2_delta = (output - goal_pred)
//!     layer_1_delta = layer_2_delta.dot(weights_1_2.T)
//!     weights_1_2 -= alpha * layer_1.T.dot(layer_2_delta)
//!     weights_0_1 -= alpha * input.T.dot(layer_1_delta)
//!     if(iteration % 10 == 0):
//!         print("Error:" + str(error))
//! print(weights_0_1)
//! print(weights_1_2)
//! ```
//!
//! The notebook leaves the cell unrun. Its output, computed independently with numpy (see
//! `tests/golden/ch06.py`), is `Error:0.654481` (Python 2 style; Python 3 prints
//! `0.6544809999999999`) and the weights `[[0.13430449 0.14474386] [0.24645674 0.11711579]]`,
//! `[[0.20875287] [0.19021335]]`. hmkcode's page rounds the first iteration to a prediction of
//! 0.191, an error of 0.327 (its error is half the squared difference, like this crate's
//! `SquaredError` loss) and new weights w1 ... w6 = .12, .23, .13, .10, .17, .17, then a prediction of 0.26.
//!
//! Run with `cargo run --example ch06_06_hmkcode_two_layer_check`.

use backprop::book::{self, py2_str};
use backprop::prelude::*;

fn main() -> Result<()> {
    let input = Matrix::from_row_slice(1, 2, &[2.0, 3.0]);
    let goal_pred = Matrix::from_element(1, 1, 1.0);
    let alpha = 0.05;
    let hidden_size = 2;

    let mut model = Sequential::<f64>::builder(2)
        .bias(false)
        .dense(hidden_size, Identity) // layer_1 = np.dot(input, weights_0_1)
        .dense(1, Identity) // output = np.dot(layer_1, weights_1_2)
        .loss(SquaredError)
        .build()?;
    model.set_weights(0, Matrix::from_row_slice(2, 2, &[0.11, 0.12, 0.21, 0.08]))?;
    model.set_weights(1, Matrix::from_column_slice(2, 1, &[0.14, 0.15]))?;
    let mut sgd = Sgd::new(alpha)?;

    let mut steps = Vec::new();

    for iteration in 0..2 {
        let output = model.forward(&input)?.into_owned();
        let layer_1 = model.layer_output(1)?.into_owned();
        // error = np.sum((output - goal_pred) ** 2)
        let error = SquaredError::sum_of_squares(&output, &goal_pred);
        // layer_2_delta = output - goal_pred; layer_1_delta = layer_2_delta.dot(weights_1_2.T);
        // the model's own loss is hmkcode's error, ½ (output - goal_pred)²
        let half_error = model.backward(&goal_pred)?;
        // weights_1_2 -= alpha * layer_1.T.dot(layer_2_delta), and the same for weights_0_1
        model.update(&mut sgd)?;
        if iteration % 10 == 0 {
            println!("Error:{}", py2_str(error));
        }
        steps.push((
            layer_1,
            output[(0, 0)],
            half_error,
            hmkcode_weights(&model)?,
        ));
    }
    println!("{}", book::array(model.weights(0)?));
    println!("{}", book::array(model.weights(1)?));

    println!("\nstep by step, as hmkcode lays it out:");
    for (iteration, (layer_1, output, half_error, w)) in steps.iter().enumerate() {
        println!("iteration {iteration}:");
        println!(
            "  h1, h2                     = {}",
            book::array(layer_1).vector()
        );
        println!("  prediction                 = {}", py2_str(*output));
        println!("  error, ½ (prediction - 1)² = {}", py2_str(*half_error));
        let rounded: Vec<String> = w.iter().map(|w| format!("{w:.2}")).collect();
        println!("  new w1 ... w6              = {}", book::array(w).vector());
        println!("  rounded as hmkcode         = {}", rounded.join(" "));
    }
    Ok(())
}

/// hmkcode's w1 ... w6: w1, w2 lead from the two inputs to h1 (the first column of
/// `weights_0_1`), w3, w4 to h2, and w5, w6 from h1, h2 to the output.
fn hmkcode_weights(model: &Sequential<f64>) -> Result<Matrix<f64>> {
    let w: Vec<f64> = model
        .weights(0)?
        .iter()
        .chain(model.weights(1)?.iter())
        .copied()
        .collect();
    Ok(Matrix::from_row_slice(1, 6, &w))
}
