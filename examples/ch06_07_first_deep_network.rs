//! Chapter 6, "Our First "Deep" Neural Network" (page 125): the forward pass.
//!
//! The book seeds numpy, draws two weight matrices and makes one prediction through a hidden
//! layer of four ReLU nodes:
//!
//! ```text
//! np.random.seed(1)
//! def relu(x): return (x > 0) * x
//! hidden_size = 4
//! weights_0_1 = 2*np.random.random((3,hidden_size)) - 1
//! weights_1_2 = 2*np.random.random((hidden_size,1)) - 1
//! layer_0 = streetlights[0]
//! layer_1 = relu(np.dot(layer_0,weights_0_1))
//! layer_2 = np.dot(layer_1,weights_1_2)
//! ```
//!
//! The book prints nothing on this page. With seed 1 the weights start
//! `[[-0.16595599, 0.44064899, -0.99977125, -0.39533485], ...]`, `layer_1` is
//! `[-0., 0.51828245, -0., -0.]` and `layer_2` is `[0.39194327]` (numpy, `tests/golden/ch06.py`).
//!
//! The reading notes print other numbers for this page (`weights_0_1` starting
//! `[[-0.1653904, 0.11737966, ...`, `layer_1 = [0.58738791, 0.90659298, -0., -0.]`,
//! `layer_2 = [0.29776744]`). Those weights are not the first draws after `np.random.seed(1)`:
//! the notebook had already drawn `weights_0_1` and `weights_1_2` once (3 x 4 + 4 x 1 = 16
//! numbers) in the cell before, and its step-by-step cells drew the next 16 from the same stream.
//! numpy confirms it (`np.random.seed(1)`, draw the 16 numbers, then `2*np.random.random((3,4))-1`
//! gives exactly the printed matrix), and so does this example, by continuing one `NumpyRng`.
//!
//! Run with `cargo run --example ch06_07_first_deep_network`.

use backprop::book;
use backprop::prelude::*;

/// The page-125 network: `relu(layer_0 . weights_0_1) . weights_1_2`, weights drawn from `rng`.
fn deep_network(rng: NumpyRng, hidden_size: usize) -> Result<Sequential<f64>> {
    Sequential::builder(3)
        .rng(rng)
        .init(BookUniform) // 2*np.random.random((rows, cols)) - 1, layer after layer
        .bias(false)
        .dense(hidden_size, Relu) // layer_1 = relu(np.dot(layer_0, weights_0_1))
        .dense(1, Identity) // layer_2 = np.dot(layer_1, weights_1_2)
        .build()
}

/// Runs `layer_0` forward and prints the weights and every layer, as notebook cells show them.
fn forward_and_print(model: &mut Sequential<f64>, layer_0: &Matrix<f64>) -> Result<()> {
    println!("weights_0_1 =\n{}", book::array(model.weights(0)?).repr());
    println!("weights_1_2 =\n{}", book::array(model.weights(1)?).repr());
    model.forward(layer_0)?;
    // streetlights[0] is a 1-D array in the book, so each layer prints as one.
    println!(
        "layer_0 = {}",
        book::array(model.layer_output(0)?).vector().ints().repr()
    );
    println!(
        "layer_1 = {}",
        book::array(model.layer_output(1)?).vector().repr()
    );
    println!(
        "layer_2 = {}",
        book::array(model.layer_output(2)?).vector().repr()
    );
    Ok(())
}

fn main() -> Result<()> {
    let hidden_size = 4;
    // [[1, 0, 1], [0, 1, 1], [0, 0, 1], [1, 1, 1]] and [1, 1, 0, 0]
    let (streetlights, _walk_vs_stop) = book::new_streetlights();
    let layer_0 = streetlights.rows(0, 1).into_owned();

    println!("np.random.seed(1), as on page 125:");
    let mut model = deep_network(NumpyRng::new(1), hidden_size)?;
    forward_and_print(&mut model, &layer_0)?;

    println!("\nthe same stream, after the 16 numbers an earlier cell drew (the reading notes):");
    let mut rng = NumpyRng::new(1);
    for _ in 0..(3 * hidden_size + hidden_size) {
        rng.random();
    }
    let mut model = deep_network(rng, hidden_size)?;
    forward_and_print(&mut model, &layer_0)?;
    Ok(())
}
