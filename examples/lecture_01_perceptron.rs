//! Lecture notebook (seed 004), "Individual Neurons": the perceptron.
//!
//! > The perceptron in its original form took binary inputs and predicted a binary outcome.
//! > [...] output = 0 if w.x + b <= 0, 1 if w.x + b > 0.
//! > The problem with the above perceptron is that it does not allow for an effective method of
//! > learning.
//!
//! The notebook draws the step, `y = [1 if output > 0 else 0 for output in z]` over
//! `z = np.linspace(-10, 10, 1000)`, and notes that its slope is zero wherever it has one. This
//! example shows both halves of that story with the crate's own types:
//!
//! 1. `Step` (in `lecture_common`) is an [`Activation`]: gradient descent through it gets a weight
//!    delta of exactly zero, so it cannot learn.
//! 2. Rosenblatt's perceptron rule, `w += alpha (y - y_hat) x`, is its own update, not a gradient.
//!    `PerceptronRule` hands `y_hat - y` to a [`Sequential`] as the output delta, and [`Sgd`] then
//!    applies exactly that rule. It learns AND and OR, and cannot learn XOR: no line separates
//!    XOR's ones from its zeros.
//! 3. A 3-layer network (input, a hidden layer of sigmoid neurons, a sigmoid output) learns XOR.
//!
//! ```text
//! cargo run --example lecture_01_perceptron
//! ```

mod lecture_common;

use backprop::prelude::*;
use lecture_common::{
    AND, OR, PERCEPTRON_ALPHA, Step, XOR, XOR_ALPHA, XOR_EPOCHS, gate_goal, gate_inputs, linspace,
    perceptron, train_perceptron, values_and_slopes, xor_network,
};

/// Prints a truth table next to the model's outputs and returns how many rows it gets right.
fn truth_table(model: &mut Sequential<f64>, x: &Matrix<f64>, y: &Matrix<f64>) -> Result<usize> {
    let y_hat = model.predict(x)?;
    println!("    x1 x2 | goal | output");
    let mut right = 0;
    for r in 0..x.nrows() {
        // A sigmoid output is read as fired above 0.5; a step output is already 0 or 1.
        let out = y_hat[(r, 0)];
        let fired = f64::from(out > 0.5);
        right += usize::from(fired == y[(r, 0)]);
        let out = if out.fract() == 0.0 {
            format!("{out}")
        } else {
            format!("{out:.4}")
        };
        println!(
            "     {}  {} |   {}  | {out}",
            x[(r, 0)],
            x[(r, 1)],
            y[(r, 0)]
        );
    }
    Ok(right)
}

fn learn_gate(name: &str, outputs: [f64; 4], max_epochs: usize) -> Result<()> {
    let (x, y) = (gate_inputs(), gate_goal(outputs));
    let mut model = perceptron()?;
    let mistakes = train_perceptron(&mut model, &x, &y, max_epochs)?;
    let w = model.weights(0)?;
    let b = model.param(0, "bias")?[(0, 0)];
    let shown: Vec<String> = mistakes.iter().take(12).map(|m| m.to_string()).collect();
    let more = if mistakes.len() > 12 { ", ..." } else { "" };
    println!("\n{name}: mistakes per epoch: {}{more}", shown.join(", "));
    match mistakes.last() {
        Some(0) => println!("  learned in {} epochs", mistakes.len()),
        _ => println!("  still wrong after {max_epochs} epochs"),
    }
    println!(
        "  w = [{:.1}, {:.1}], b = {b:.1}   (output = 1 if w.x + b > 0)",
        w[(0, 0)],
        w[(1, 0)]
    );
    let right = truth_table(&mut model, &x, &y)?;
    println!("  {right} of 4 rows right");
    Ok(())
}

fn main() -> Result<()> {
    println!("The perceptron's activation: output = 1 if w.x + b > 0 else 0");
    // z = np.linspace(-10,10,1000); y = [1 if output > 0 else 0 for output in z]
    let z = linspace(-10.0, 10.0, 1000);
    let (y, slope) = values_and_slopes(&Step, &z);
    let first = y
        .iter()
        .position(|&v| v == 1.0)
        .expect("the step fires for z > 0");
    println!(
        "  over np.linspace(-10, 10, 1000) it fires for {} of the {} z, from z = {:.8} on",
        y.iter().filter(|&&v| v == 1.0).count(),
        z.len(),
        z[first]
    );
    println!(
        "  its slope is 0 at all of them: max |step'(z)| = {}",
        slope.iter().fold(0.0_f64, |m, s| m.max(s.abs()))
    );

    // Gradient descent through the step: the weight delta is zero, there is nothing to follow.
    let (x, y) = (gate_inputs(), gate_goal(AND));
    let mut through_step = Sequential::builder(2)
        .init(Constant(0.5))
        .dense(1, Step)
        .loss(Mse)
        .build()?;
    through_step.forward(&x)?;
    let error = through_step.backward(&y)?;
    let wd = through_step.weight_delta(0)?;
    println!(
        "\nGradient descent on AND through the step (weights 0.5, Mse {error:.2}): \
         weight_delta = [{}, {}]",
        wd[(0, 0)],
        wd[(1, 0)]
    );
    println!("  small changes in the weights do not change the output: nothing to learn from");

    println!(
        "\nThe perceptron rule instead: w += alpha * (y - y_hat) * x, b += alpha * (y - y_hat), \
         alpha = {PERCEPTRON_ALPHA}, one row at a time, weights and bias starting at 0"
    );
    learn_gate("AND", AND, 100)?;
    learn_gate("OR", OR, 100)?;
    learn_gate("XOR", XOR, 100)?;
    println!(
        "  no line w.x + b = 0 puts (0,1) and (1,0) on one side and (0,0), (1,1) on the other"
    );

    // The 3-layer network: a hidden layer of sigmoid neurons makes XOR learnable.
    let (x, y) = (gate_inputs(), gate_goal(XOR));
    let mut model = xor_network()?;
    println!("\nA 3-layer network: {}", lecture_common::describe(&model));
    println!("  full-batch gradient descent, alpha = {XOR_ALPHA}, {XOR_EPOCHS} epochs");
    let mut sgd = Sgd::new(XOR_ALPHA)?;
    let history = model.fit(&x, &y, &mut sgd, &Fit::new(XOR_EPOCHS).full())?;
    for (epoch, loss) in history.loss.iter().enumerate() {
        if epoch % 250 == 0 || epoch + 1 == XOR_EPOCHS {
            println!("  epoch {:>4}: loss {loss:.6}", epoch + 1);
        }
    }
    let right = truth_table(&mut model, &x, &y)?;
    println!("  XOR: {right} of 4 rows right");
    Ok(())
}
