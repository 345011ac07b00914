//! Chapter 6, "Putting it all together" (page 130): the full 3-layer ReLU network.
//!
//! The program the book asks you to memorise: seed 1, four hidden ReLU nodes, `alpha = 0.2`, the
//! four streetlights that no single light explains, sixty iterations of stochastic gradient
//! descent, the summed error printed every ten:
//!
//! ```text
//! for iteration in xrange(60):
//!     layer_2_error = 0
//!     for i in xrange(len(streetlights)):
//!         layer_0 = streetlights[i:i+1]
//!         layer_1 = relu(np.dot(layer_0,weights_0_1))
//!         layer_2 = np.dot(layer_1,weights_1_2)
//!         layer_2_error += np.sum((layer_2 - walk_vs_stop[i:i+1]) ** 2)
//!         layer_2_delta = (layer_2 - walk_vs_stop[i:i+1])
//!         layer_1_delta=layer_2_delta.dot(weights_1_2.T)*relu2deriv(layer_1)
//!         weights_1_2 -= alpha * layer_1.T.dot(layer_2_delta)
//!         weights_0_1 -= alpha * layer_0.T.dot(layer_1_delta)
//!     if(iteration % 10 == 9):
//!         print "Error:" + str(layer_2_error)
//! ```
//!
//! The book prints:
//!
//! ```text
//! Error:0.634231159844
//! Error:0.358384076763
//! Error:0.0830183113303
//! Error:0.0064670549571
//! Error:0.000329266900075
//! Error:1.50556226651e-05
//! ```
//!
//! (Python 3 in the reading notes: `0.6342311598444467` ... `1.5055622665134859e-05`.) The loop
//! body is `forward`, `backward` and `update` of one `Sequential`; `Sequential::fit` with
//! `Fit::new(60).stochastic()` runs the same loop in one call.
//!
//! Run with `cargo run --example ch06_09_putting_it_all_together`.

use backprop::book::{self, py2_str};
use backprop::prelude::*;

fn main() -> Result<()> {
    // [[1, 0, 1], [0, 1, 1], [0, 0, 1], [1, 1, 1]] and [1, 1, 0, 0]
    let (streetlights, walk_vs_stop) = book::new_streetlights();
    let alpha = 0.2;
    let hidden_size = 4;

    let mut model = Sequential::<f64>::builder(3)
        .seed(1) // np.random.seed(1)
        .init(BookUniform) // weights_0_1, then weights_1_2 = 2*np.random.random(...) - 1
        .bias(false)
        .dense(hidden_size, Relu) // layer_1 = relu(np.dot(layer_0, weights_0_1))
        .dense(1, Identity) // layer_2 = np.dot(layer_1, weights_1_2)
        .loss(SquaredError) // layer_2_delta = layer_2 - walk_vs_stop[i:i+1]
        .build()?;
    let mut sgd = Sgd::new(alpha)?;

    for iteration in 0..60 {
        let mut layer_2_error = 0.0;
        for i in 0..streetlights.nrows() {
            let layer_0 = streetlights.rows(i, 1).into_owned();
            let goal = walk_vs_stop.rows(i, 1).into_owned();
            let layer_2 = model.forward(&layer_0)?.into_owned();
            layer_2_error += SquaredError::sum_of_squares(&layer_2, &goal);
            model.backward(&goal)?; // layer_2_delta, layer_1_delta (with relu2deriv), weight deltas
            model.update(&mut sgd)?; // weights_1_2 -= alpha * ..., weights_0_1 -= alpha * ...
        }
        if iteration % 10 == 9 {
            println!("Error:{}", py2_str(layer_2_error));
        }
    }

    println!(
        "\nlayer_2 for each streetlight = {}",
        book::array(&model.predict(&streetlights)?).vector()
    );
    println!(
        "walk_vs_stop                 = {}",
        book::array(&walk_vs_stop).vector().ints()
    );
    Ok(())
}
