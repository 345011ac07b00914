//! Chapter 6, "Building Our Neural Network" (page 107): learning one streetlight.
//!
//! The book starts from the weights `[0.5, 0.48, -0.7]` and teaches a single weighted sum the first
//! streetlight, `[1, 0, 1]` -> 0 (STOP), twenty times with `alpha = 0.1`:
//!
//! ```text
//! for iteration in range(20):
//!     prediction = input.dot(weights)
//!     error = (goal_prediction - prediction) ** 2
//!     delta = prediction - goal_prediction
//!     weights = weights - (alpha * (input * delta))
//!     print "Error:" + str(error) + " Prediction:" + str(prediction)
//! ```
//!
//! The reading notes print the run: `Error: 0.03999999999999998 Prediction:-0.19999999999999996`
//! down to `Error: 8.307674973656916e-06 Prediction:-0.002882303761517324` (Python 3). This
//! example prints the same numbers the way the book's Python 2 `str()` does (`Error:0.04
//! Prediction:-0.2`). The weighted sum is a `Dense` layer without bias; the book's `delta` is the
//! output delta of the `SquaredError` loss and `weights - alpha * input * delta` is `Sgd`.
//!
//! Run with `cargo run --example ch06_02_learning_one_streetlight`.

use backprop::book::{self, py2_str};
use backprop::prelude::*;

fn main() -> Result<()> {
    let alpha = 0.1;
    // [[1, 0, 1], [0, 1, 1], [0, 0, 1], [1, 1, 1], [0, 1, 1], [1, 0, 1]] and [0, 1, 0, 1, 1, 0]
    let (streetlights, walk_vs_stop) = book::streetlights();

    // prediction = input.dot(weights): one weighted sum, no bias.
    let mut model = Sequential::<f64>::builder(3)
        .bias(false)
        .dense(1, Identity)
        .loss(SquaredError)
        .build()?;
    // weights = np.array([0.5, 0.48, -0.7])
    model.set_weights(0, Matrix::from_column_slice(3, 1, &[0.5, 0.48, -0.7]))?;
    let mut sgd = Sgd::new(alpha)?;

    let input = streetlights.rows(0, 1).into_owned(); // [1, 0, 1]
    let goal_prediction = walk_vs_stop.rows(0, 1).into_owned(); // 0, i.e. "stop"

    for _iteration in 0..20 {
        let prediction = model.forward(&input)?.into_owned();
        // error = (goal_prediction - prediction) ** 2
        let error = SquaredError::sum_of_squares(&prediction, &goal_prediction);
        // delta = prediction - goal_prediction; weight_delta = input * delta
        model.backward(&goal_prediction)?;
        // weights = weights - (alpha * weight_delta)
        model.update(&mut sgd)?;
        println!(
            "Error:{} Prediction:{}",
            py2_str(error),
            py2_str(prediction[(0, 0)])
        );
    }
    println!("\nweights = {}", book::array(model.weights(0)?).vector());
    Ok(())
}
