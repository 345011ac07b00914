//! Chapter 6, "Learning the whole dataset!" (page 108) and "Neural Networks Learn Correlation"
//! (page 110): stochastic gradient descent over all six streetlights.
//!
//! The same weighted sum as page 107 (weights `[0.5, 0.48, -0.7]`, `alpha = 0.1`) now learns every
//! streetlight in turn, forty times over, adding up the error of each pass:
//!
//! ```text
//! for iteration in range(40):
//!     error_for_all_lights = 0
//!     for row_index in range(len(walk_vs_stop)):
//!         input = streetlights[row_index]
//!         goal_prediction = walk_vs_stop[row_index]
//!         prediction = input.dot(weights)
//!         error = (goal_prediction - prediction) ** 2
//!         error_for_all_lights += error
//!         delta = prediction - goal_prediction
//!         weights = weights - (alpha * (input * delta))
//!     print "Prediction:" + str(prediction)
//!     print "Error:" + str(error_for_all_lights) + "\n"
//! ```
//!
//! The book prints `Error:2.6561231104`, `Error:0.962870177672`, ..., `Error:0.000614343567483`,
//! `Error:0.000533736773285` (the reading notes print the same in Python 3's 17 digits). Page 110
//! then shows the final weights, roughly `.01`, `1.0` and `-.0`: the network found that the middle
//! light alone tells WALK from STOP. (The PDF's code lost its indentation; the program above is the
//! one whose output matches the printed numbers, as in the reading notes.)
//!
//! Run with `cargo run --example ch06_03_learning_the_whole_dataset`.

use backprop::book::{self, py2_str};
use backprop::prelude::*;

fn main() -> Result<()> {
    let alpha = 0.1;
    // [[1, 0, 1], [0, 1, 1], [0, 0, 1], [1, 1, 1], [0, 1, 1], [1, 0, 1]] and [0, 1, 0, 1, 1, 0]
    let (streetlights, walk_vs_stop) = book::streetlights();

    let mut model = Sequential::<f64>::builder(3)
        .bias(false)
        .dense(1, Identity)
        .loss(SquaredError)
        .build()?;
    model.set_weights(0, Matrix::from_column_slice(3, 1, &[0.5, 0.48, -0.7]))?;
    let mut sgd = Sgd::new(alpha)?;

    for _iteration in 0..40 {
        let mut error_for_all_lights = 0.0;
        let mut prediction = 0.0;
        for row_index in 0..walk_vs_stop.nrows() {
            let input = streetlights.rows(row_index, 1).into_owned();
            let goal_prediction = walk_vs_stop.rows(row_index, 1).into_owned();
            let layer_1 = model.forward(&input)?.into_owned();
            prediction = layer_1[(0, 0)];
            error_for_all_lights += SquaredError::sum_of_squares(&layer_1, &goal_prediction);
            model.backward(&goal_prediction)?; // delta = prediction - goal_prediction
            model.update(&mut sgd)?; // weights = weights - (alpha * (input * delta))
        }
        println!("Prediction:{}", py2_str(prediction));
        println!("Error:{}\n", py2_str(error_for_all_lights));
    }

    // Page 110: the weights after training. The middle light carries the correlation.
    let weights = model.weights(0)?;
    println!("weights = {}", book::array(weights).vector());
    println!(
        "rounded as on page 110: left {:.2}, middle {:.1}, right {:.1}",
        weights[(0, 0)],
        weights[(1, 0)],
        weights[(2, 0)]
    );
    Ok(())
}
