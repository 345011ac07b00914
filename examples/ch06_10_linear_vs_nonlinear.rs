//! Chapter 6, "Linear vs Non-Linear" (page 121), "Why The Neural Network Still Doesn't Work"
//! (page 122) and "The Secret to "Sometimes Correlation"" (page 123).
//!
//! The book's argument, in three steps:
//!
//! 1. Two multiplications in a row are one multiplication: `1 * 0.25 * 0.9 = 0.225` and
//!    `1 * 0.225 = 0.225` (and the same for the input -1.0). "For any 3-layer network we create,
//!    there's a 2-layer network that has identical behavior."
//! 2. So stacking weighted sums adds nothing: "If we trained the 3 layer network as it is now, it
//!    would NOT converge" on the new streetlights, where no light correlates with WALK/STOP.
//! 3. Turning a hidden node off whenever it would be negative (`relu`) gives it "sometimes
//!    correlation", and the same network learns (page 130's `Error:1.50556226651e-05`).
//!
//! The book prints no numbers for pages 121-123. Here each step runs on `Sequential` models: a
//! stacked pair of one-weight layers against one layer of weight 0.225; a seed-1 linear 3-layer
//! network against the 2-layer network with the product of its weights; and page 130's network
//! trained with `Identity` and with `Relu` hidden layers. Without ReLU the summed error settles
//! near 1.32 (after 1000 iterations it is 1.32434685261, as numpy computes too; predicting 0.5
//! for every streetlight would already give 1.0); with ReLU it falls to `1.50556226651e-05` in
//! 60 iterations, page 130's last line.
//!
//! Run with `cargo run --example ch06_10_linear_vs_nonlinear`.

use backprop::book::{self, py2_str};
use backprop::prelude::*;

/// Page 130's network with the hidden activation `f`: seed 1, four hidden nodes, no bias.
fn three_layer_network(f: impl Activation<f64>) -> Result<Sequential<f64>> {
    Sequential::builder(3)
        .seed(1)
        .init(BookUniform)
        .bias(false)
        .dense(4, f)
        .dense(1, Identity)
        .loss(SquaredError)
        .build()
}

/// One pass of page 130's loop over the rows; returns the summed `layer_2_error`.
fn train_one_pass(
    model: &mut Sequential<f64>,
    streetlights: &Matrix<f64>,
    walk_vs_stop: &Matrix<f64>,
    sgd: &mut Sgd<f64>,
) -> Result<f64> {
    let mut layer_2_error = 0.0;
    for i in 0..streetlights.nrows() {
        let layer_0 = streetlights.rows(i, 1).into_owned();
        let goal = walk_vs_stop.rows(i, 1).into_owned();
        let layer_2 = model.forward(&layer_0)?.into_owned();
        layer_2_error += SquaredError::sum_of_squares(&layer_2, &goal);
        model.backward(&goal)?;
        model.update(sgd)?;
    }
    Ok(layer_2_error)
}

fn main() -> Result<()> {
    println!("== Two multiplications are one (page 121) ==");
    let mut stacked = Sequential::<f64>::builder(1)
        .bias(false)
        .dense(1, Identity)
        .dense(1, Identity)
        .build()?;
    stacked.set_weights(0, Matrix::from_element(1, 1, 0.25))?;
    stacked.set_weights(1, Matrix::from_element(1, 1, 0.9))?;
    let mut single = Sequential::<f64>::builder(1)
        .bias(false)
        .dense(1, Identity)
        .build()?;
    single.set_weights(0, Matrix::from_element(1, 1, 0.225))?;
    let inputs = Matrix::from_column_slice(2, 1, &[1.0, -1.0]);
    println!(
        "inputs [1.0, -1.0], weights 0.25 then 0.9: {}",
        book::array(&stacked.predict(&inputs)?).vector()
    );
    println!(
        "inputs [1.0, -1.0], weight 0.225:          {}",
        book::array(&single.predict(&inputs)?).vector()
    );

    println!("\n== Why the neural network still doesn't work (page 122) ==");
    // [[1, 0, 1], [0, 1, 1], [0, 0, 1], [1, 1, 1]] and [1, 1, 0, 0]
    let (streetlights, walk_vs_stop) = book::new_streetlights();
    let mut linear = three_layer_network(Identity)?;
    // The 2-layer network with identical behaviour: weights_0_1 . weights_1_2.
    let collapsed = linear.weights(0)? * linear.weights(1)?;
    let mut two_layer = Sequential::<f64>::builder(3)
        .bias(false)
        .dense(1, Identity)
        .build()?;
    two_layer.set_weights(0, collapsed.clone())?;
    println!(
        "weights_0_1 . weights_1_2 = {}",
        book::array(&collapsed).vector()
    );
    println!(
        "3-layer linear network: {}",
        book::array(&linear.predict(&streetlights)?).vector()
    );
    println!(
        "2-layer network:        {}",
        book::array(&two_layer.predict(&streetlights)?).vector()
    );

    println!("\n== Training page 130's network without and with relu (alpha 0.2) ==");
    let mut nonlinear = three_layer_network(Relu)?;
    let mut sgd = Sgd::new(0.2)?;
    println!("iteration  linear (Identity)           nonlinear (Relu)");
    for iteration in 0..1000 {
        let linear_error = train_one_pass(&mut linear, &streetlights, &walk_vs_stop, &mut sgd)?;
        let relu_error = train_one_pass(&mut nonlinear, &streetlights, &walk_vs_stop, &mut sgd)?;
        let shown = iteration % 10 == 9 && (iteration < 60 || iteration % 100 == 99);
        if shown {
            let linear_cell = format!("Error:{}", py2_str(linear_error));
            let relu_cell = format!("Error:{}", py2_str(relu_error));
            println!("{:>9}  {linear_cell:<28}{relu_cell}", iteration + 1);
        }
    }
    println!("\nafter 1000 iterations, for walk_vs_stop = [1 1 0 0]:");
    println!(
        "linear layer_2:    {}",
        book::array(&linear.predict(&streetlights)?).vector()
    );
    println!(
        "nonlinear layer_2: {}",
        book::array(&nonlinear.predict(&streetlights)?).vector()
    );
    Ok(())
}
