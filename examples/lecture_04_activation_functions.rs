//! Lecture notebook (seed 004), "Different Activation Functions": step, sigmoid, tanh and ReLU,
//! their derivatives, and the vanishing gradient.
//!
//! > One problem with tanh (and sigmoid), is that if our input is large, then the slope of the
//! > activation function flattens out. When conducting backpropogation, we will use the
//! > derivative of the activation function as one of our terms multiplied by a learning rate to
//! > determine how big a step to take when adjusting our weights. If our derivative is close to
//! > zero, the step will be very small [...]. This is called the **vanishing gradient** problem.
//!
//! > [ReLU:] the constant gradient leads to faster learning in comparison to sigmoid and tanh,
//! > which come close to 0 with large positive and negative values.
//!
//! The notebook plots each function (`examples/activation_plots.rs` draws them); this example
//! prints them and their derivatives as a table, each value from the crate's [`Activation`]
//! impls: `forward` gives `f(z)` and `backward` of a delta of 1 gives `f'(z)`, computed from the
//! output as the book's `relu2deriv(layer_1)` is. The step is the perceptron's (see
//! `lecture_01_perceptron`); its slope is 0 wherever it has one.
//!
//! Then the vanishing gradient through depth: a chain of one-neuron [`Dense`] layers, each with
//! weight `w` and the same activation, backpropagated by [`Sequential`]. The delta that reaches
//! the first layer is the output layer's delta times `w f'(.)` of every layer in between; a
//! sigmoid's slope is at most 1/4, so through `n` layers it shrinks at least like `(w/4)^(n-1)`,
//! and large weights saturate the sigmoid and make it vanish faster (the notebook's reason to
//! start from small weights). ReLU passes it on unchanged.
//!
//! ```text
//! cargo run --example lecture_04_activation_functions
//! ```

mod lecture_common;

use backprop::prelude::*;
use lecture_common::{notebook_activations, reaches_first_layer, values_and_slopes};

/// The points of the table.
const Z: [f64; 11] = [-10.0, -5.0, -2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 5.0, 10.0];
/// Depths of the vanishing-gradient table.
const DEPTHS: [usize; 6] = [1, 2, 3, 5, 10, 20];

/// `x` as `1.2345e-06`.
fn sci(x: f64) -> String {
    let s = format!("{x:.4e}");
    let (mantissa, exp) = s.split_once('e').expect("{:e} has an exponent");
    let exp: i32 = exp.parse().expect("integer exponent");
    format!(
        "{mantissa}e{}{:02}",
        if exp < 0 { '-' } else { '+' },
        exp.abs()
    )
}

fn main() -> Result<()> {
    let activations = notebook_activations();
    let columns: Vec<_> = activations
        .iter()
        .map(|(name, f)| (name, values_and_slopes(f.as_ref(), &Z)))
        .collect();

    print!("{:>6} |", "z");
    for (name, _) in &columns {
        print!(" {:>9} {:>9} |", name, format!("{name}'"));
    }
    println!();
    for (i, z) in Z.iter().enumerate() {
        print!("{z:>6.1} |");
        for (_, (value, slope)) in &columns {
            // + 0.0 shows relu's -0.0 (numpy's too: (z > 0) * z) as 0.
            print!(" {:>9.6} {:>9.6} |", value[i] + 0.0, slope[i] + 0.0);
        }
        println!();
    }
    println!(
        "\nAt z = 0 the step jumps and has no slope; relu'(0) is 0 here, as the book's \
         relu2deriv(output) = output > 0 gives."
    );
    println!(
        "sigmoid' is at most 0.25 (at z = 0) and tanh' at most 1; both are near 0 for |z| >= 5: \
         the slope that scales every weight update vanishes."
    );

    println!("\nHow much of the output layer's delta reaches the first of n layers (input 1):");
    println!(
        "{:>3} | {:>12} {:>12} {:>12} {:>12} | {:>12}",
        "n", "sigmoid w=1", "sigmoid w=5", "tanh w=1", "relu w=1", "(1/4)^(n-1)"
    );
    for n in DEPTHS {
        println!(
            "{n:>3} | {:>12} {:>12} {:>12} {:>12} | {:>12}",
            sci(reaches_first_layer(Sigmoid, n, 1.0, 1.0)?),
            sci(reaches_first_layer(Sigmoid, n, 5.0, 1.0)?),
            sci(reaches_first_layer(Tanh, n, 1.0, 1.0)?),
            sci(reaches_first_layer(Relu, n, 1.0, 1.0)?),
            sci(0.25_f64.powi(n as i32 - 1))
        );
    }
    println!(
        "\nThrough sigmoids the first layers learn orders of magnitude more slowly than the last; \
         with large weights the sigmoids saturate and almost nothing gets through; ReLU keeps 1."
    );
    Ok(())
}
