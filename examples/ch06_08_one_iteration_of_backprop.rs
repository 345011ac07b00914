//! Chapter 6, "One Iteration of Backpropagation" (pages 128-129).
//!
//! The book walks through one training step of a network with three hidden ReLU nodes, seed 1,
//! `alpha = 0.2`, on the first streetlight `[1, 0, 1]` (goal 1, WALK):
//!
//! ```text
//! 1 weights_0_1 = 2*np.random.random((3,hidden_size)) - 1
//!   weights_1_2 = 2*np.random.random((hidden_size,1)) - 1
//! 2 layer_0 = lights[0:1]
//!   layer_1 = relu(np.dot(layer_0,weights_0_1))
//!   layer_2 = np.dot(layer_1,weights_1_2)
//!   error = (layer_2-walk_stop[0:1])**2
//!   layer_2_delta=(layer_2-walk_stop[0:1])
//! 3 layer_1_delta=layer_2_delta.dot(weights_1_2.T)
//!   layer_1_delta *= relu2deriv(layer_1)
//! 4 weight_delta_1_2 = layer_1.T.dot(layer_2_delta)
//!   weight_delta_0_1 = layer_0.T.dot(layer_1_delta)
//!   weights_1_2 -= alpha * weight_delta_1_2
//!   weights_0_1 -= alpha * weight_delta_0_1
//! ```
//!
//! The figures round `layer_1` to `.13`, `layer_2` to `-.02` and the error to `1.04` (and draw
//! `layer_1_delta` as `-.17`, in page 126's opposite sign convention `walk_vs_stop - layer_2`).
//! The reading notes print every array:
//! `layer_1 = [[-0., 0.13177044, -0.]]`, `layer_2 = [[-0.02129555]]`, error `1.0430445982842722`,
//! `layer_2_delta = [[-1.02129555]]`, `layer_1_delta = [[-0.07928672, 0.16505257, -0.3783277]]`
//! and `[[-0., 0.16505257, -0.]]` after `relu2deriv`, the weight deltas and the updated weights.
//! Here one `forward`, one `backward` and one `update` of a `Sequential` compute them all, and the
//! model's introspection reads each one back; only `layer_1_delta` before `relu2deriv` is formed
//! by hand from `layer_2_delta` and `weights_1_2`, because the model stores deltas after it.
//!
//! Run with `cargo run --example ch06_08_one_iteration_of_backprop`.

use backprop::book::{self, py2_str};
use backprop::prelude::*;

fn main() -> Result<()> {
    // 1. Initialize the network's weights and data.
    // [[1, 0, 1], [0, 1, 1], [0, 0, 1], [1, 1, 1]] and [1, 1, 0, 0]
    let (lights, walk_stop) = book::new_streetlights();
    let alpha = 0.2;
    let hidden_size = 3;
    let mut model = Sequential::<f64>::builder(3)
        .seed(1) // np.random.seed(1)
        .init(BookUniform) // 2*np.random.random((3,hidden_size)) - 1, then (hidden_size,1)
        .bias(false)
        .dense(hidden_size, Relu)
        .dense(1, Identity)
        .loss(SquaredError)
        .build()?;
    let mut sgd = Sgd::new(alpha)?;
    println!(
        "walk_stop[0:1] = {}",
        book::array(walk_stop.rows(0, 1)).ints().repr()
    );
    println!("weights_0_1 =\n{}", book::array(model.weights(0)?).repr());
    println!("weights_1_2 =\n{}", book::array(model.weights(1)?).repr());

    // 2. PREDICT & COMPARE: make a prediction, calculate the output error and delta.
    let layer_0 = lights.rows(0, 1).into_owned();
    let goal = walk_stop.rows(0, 1).into_owned();
    let layer_2 = model.forward(&layer_0)?.into_owned();
    println!(
        "\nlayer_0 = {}",
        book::array(model.layer_output(0)?).ints().repr()
    );
    println!("layer_1 = {}", book::array(model.layer_output(1)?).repr());
    println!("layer_2 = {}", book::array(&layer_2).repr());
    let error = SquaredError::sum_of_squares(&layer_2, &goal);
    println!("error = {}", py2_str(error));

    // layer_2_delta = layer_2 - walk_stop[0:1]; everything below is computed by this one call.
    model.backward(&goal)?;
    let layer_2_delta = model.delta(1)?;
    println!("layer_2_delta = {}", book::array(layer_2_delta).repr());

    // 3. LEARN: backpropagate from layer_2 to layer_1.
    // layer_1_delta = layer_2_delta.dot(weights_1_2.T), before relu2deriv
    let layer_1_delta_before = layer_2_delta * model.weights(1)?.transpose();
    println!(
        "\nlayer_1_delta = {}",
        book::array(&layer_1_delta_before).repr()
    );
    // layer_1_delta *= relu2deriv(layer_1)
    println!(
        "layer_1_delta *= relu2deriv(layer_1): {}",
        book::array(model.delta(0)?).repr()
    );

    // 4. LEARN: generate weight deltas and update weights.
    println!(
        "\nweight_delta_1_2 =\n{}",
        book::array(model.weight_delta(1)?).repr()
    );
    println!(
        "weight_delta_0_1 =\n{}",
        book::array(model.weight_delta(0)?).repr()
    );
    model.update(&mut sgd)?; // weights -= alpha * weight_delta, for both layers
    println!(
        "weights_1_2 -= alpha * weight_delta_1_2:\n{}",
        book::array(model.weights(1)?).repr()
    );
    println!(
        "weights_0_1 -= alpha * weight_delta_0_1:\n{}",
        book::array(model.weights(0)?).repr()
    );
    Ok(())
}
