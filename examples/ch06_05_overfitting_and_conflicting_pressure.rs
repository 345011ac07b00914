//! Chapter 6, "Up and Down Pressure" (pages 111-112), "Edge Case: Overfitting" (page 113) and
//! "Edge Case: Conflicting Pressure" (pages 114-115).
//!
//! The book explains what the streetlight network learned with a "Weight Pressure" table: each
//! training example pushes a weight up (`+`, towards 1) when its light is on and the answer is
//! WALK, down (`-`, towards 0) when its light is on and the answer is STOP, and not at all (`0`)
//! when its light is off. The middle column is all `+` or `0`; the right column has as many `+` as
//! `-` (conflicting pressure), so the right weight only goes to 0 once the other two have absorbed
//! the correlation. The book prints no numbers for these pages; its two edge cases are shown here
//! with a `Sequential` model:
//!
//! - overfitting: with the far left weight at 0.5 and the far right at -0.5 the first streetlight
//!   is predicted perfectly, the error is 0 and learning stops, yet the second streetlight is
//!   predicted badly; a network trained on one streetlight (or two) fails on the others;
//! - conflicting pressure: over the training of page 108 the middle weight, pushed only upward,
//!   reaches 1 within five passes; the far right weight, pushed up as often as down, only shrinks
//!   towards 0 after that, as the middle weight absorbs the correlation (and drags the left
//!   weight down with it).
//!
//! Finally the table of the new 4-streetlight data set (pages 115-116, trained from page 125 on)
//! shows every weight pushed up as often as down: no single light correlates with the answer.
//!
//! The pressure table is read off the library: with every prediction at 0.5 (weights 0, bias 0.5),
//! the sign of each example's `weight_delta` is the book's pressure (`weights -= alpha *
//! weight_delta`, so a negative `weight_delta` is upward pressure).
//!
//! Run with `cargo run --example ch06_05_overfitting_and_conflicting_pressure`.

use backprop::book::{self, py2_str};
use backprop::prelude::*;

/// The book's weight-pressure table of a data set, one row of `+`, `-` and `0` per example.
fn weight_pressure(
    streetlights: &Matrix<f64>,
    walk_vs_stop: &Matrix<f64>,
) -> Result<Vec<Vec<char>>> {
    let lights = streetlights.ncols();
    let mut model = Sequential::<f64>::builder(lights)
        .init(Constant(0.0))
        .dense(1, Identity)
        .build()?;
    model.set_param(0, "bias", Matrix::from_element(1, 1, 0.5))?; // every prediction is 0.5
    let mut table = Vec::new();
    for row in 0..streetlights.nrows() {
        model.forward(&streetlights.rows(row, 1).into_owned())?;
        model.backward(&walk_vs_stop.rows(row, 1).into_owned())?;
        let weight_delta = model.weight_delta(0)?;
        let signs = weight_delta
            .iter()
            .map(|&d| match d.partial_cmp(&0.0) {
                Some(std::cmp::Ordering::Less) => '+',
                Some(std::cmp::Ordering::Greater) => '-',
                _ => '0',
            })
            .collect();
        table.push(signs);
    }
    Ok(table)
}

fn print_pressure(streetlights: &Matrix<f64>, walk_vs_stop: &Matrix<f64>) -> Result<()> {
    let table = weight_pressure(streetlights, walk_vs_stop)?;
    println!("Training Data        Weight Pressure");
    for (row, signs) in table.iter().enumerate() {
        let lights: Vec<String> = streetlights
            .row(row)
            .iter()
            .map(|v| v.to_string())
            .collect();
        let signs: Vec<String> = signs.iter().map(char::to_string).collect();
        println!(
            "{}  ->  {}           {}",
            lights.join(" "),
            walk_vs_stop[(row, 0)],
            signs.join(" ")
        );
    }
    for column in 0..streetlights.ncols() {
        let up = table.iter().filter(|s| s[column] == '+').count();
        let down = table.iter().filter(|s| s[column] == '-').count();
        println!("  weight {column}: {up} up, {down} down");
    }
    Ok(())
}

/// A one-layer streetlight network with the book's starting weights `[0.5, 0.48, -0.7]`.
fn streetlight_network() -> Result<Sequential<f64>> {
    let mut model = Sequential::<f64>::builder(3)
        .bias(false)
        .dense(1, Identity)
        .loss(SquaredError)
        .build()?;
    model.set_weights(0, Matrix::from_column_slice(3, 1, &[0.5, 0.48, -0.7]))?;
    Ok(model)
}

/// Predictions for every streetlight next to the answer, and the book's summed error.
fn print_predictions(
    model: &mut Sequential<f64>,
    streetlights: &Matrix<f64>,
    walk_vs_stop: &Matrix<f64>,
) -> Result<()> {
    let prediction = model.predict(streetlights)?;
    for row in 0..streetlights.nrows() {
        println!(
            "  streetlight {row}: prediction {:>8.4}, goal {}",
            prediction[(row, 0)],
            walk_vs_stop[(row, 0)]
        );
    }
    println!(
        "  Error (all six):{}",
        py2_str(SquaredError::sum_of_squares(&prediction, walk_vs_stop))
    );
    Ok(())
}

fn main() -> Result<()> {
    let alpha = 0.1;
    // [[1, 0, 1], [0, 1, 1], [0, 0, 1], [1, 1, 1], [0, 1, 1], [1, 0, 1]] and [0, 1, 0, 1, 1, 0]
    let (streetlights, walk_vs_stop) = book::streetlights();

    println!("== Up and down pressure (pages 111-112) ==");
    print_pressure(&streetlights, &walk_vs_stop)?;

    println!("\n== Edge case: overfitting (page 113) ==");
    let mut model = streetlight_network()?;
    let mut sgd = Sgd::new(alpha)?;
    // "What if our far left weight was 0.5 and our far right weight was -0.5?"
    model.set_weights(0, Matrix::from_column_slice(3, 1, &[0.5, 0.0, -0.5]))?;
    let layer_0 = streetlights.rows(0, 1).into_owned();
    let goal = walk_vs_stop.rows(0, 1).into_owned();
    let prediction = model.forward(&layer_0)?.into_owned();
    model.backward(&goal)?;
    println!(
        "weights [0.5, 0, -0.5], streetlight 0 [1, 0, 1]: Prediction:{} Error:{}",
        py2_str(prediction[(0, 0)]),
        py2_str(SquaredError::sum_of_squares(&prediction, &goal))
    );
    println!(
        "  weight_delta = {}  (nothing left to learn)",
        book::array(model.weight_delta(0)?).vector()
    );
    // "let's take a look at the second training example"
    let layer_0 = streetlights.rows(1, 1).into_owned();
    let goal = walk_vs_stop.rows(1, 1).into_owned();
    let prediction = model.forward(&layer_0)?.into_owned();
    model.backward(&goal)?;
    println!(
        "streetlight 1 [0, 1, 1], goal 1: Prediction:{} Error:{}",
        py2_str(prediction[(0, 0)]),
        py2_str(SquaredError::sum_of_squares(&prediction, &goal))
    );
    model.update(&mut sgd)?;
    println!(
        "  one step on it bumps the right weight up, the left one unchanged: {}",
        book::array(model.weights(0)?).vector()
    );

    // Train on the first streetlight, the first two, or all six; then predict all six.
    let subsets = [
        (1, 20, "streetlight 0 alone (20 iterations, as page 107)"),
        (2, 200, "streetlights 0 and 1 alone (200 iterations)"),
        (6, 40, "all six (40 iterations, as page 108)"),
    ];
    for (rows, iterations, what) in subsets {
        println!("\ntrained on {what}:");
        let mut model = streetlight_network()?;
        let seen = streetlights.rows(0, rows).into_owned();
        let seen_goals = walk_vs_stop.rows(0, rows).into_owned();
        model.fit(&seen, &seen_goals, &mut sgd, &Fit::new(iterations))?;
        println!("  weights = {}", book::array(model.weights(0)?).vector());
        print_predictions(&mut model, &streetlights, &walk_vs_stop)?;
    }

    println!("\n== Edge case: conflicting pressure (pages 114-115) ==");
    println!("the weights during the training of page 108 (left, middle, right):");
    let mut model = streetlight_network()?;
    for iteration in 1..=40 {
        model.fit(&streetlights, &walk_vs_stop, &mut sgd, &Fit::new(1))?;
        if [1, 2, 3, 5, 10, 15, 20, 30, 40].contains(&iteration) {
            println!(
                "  iteration {iteration:>2}: {}",
                book::array(model.weights(0)?).vector()
            );
        }
    }

    println!("\nthe new 4-streetlight data set (pages 115-116) has no correlation in any column:");
    // [[1, 0, 1], [0, 1, 1], [0, 0, 1], [1, 1, 1]] and [1, 1, 0, 0]
    let (streetlights, walk_vs_stop) = book::new_streetlights();
    print_pressure(&streetlights, &walk_vs_stop)?;
    println!("(every weight is pushed up as often as down: see ch06_10_linear_vs_nonlinear)");
    Ok(())
}
