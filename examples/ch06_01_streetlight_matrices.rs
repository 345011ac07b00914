//! Chapter 6, "Matrices and the Matrix Relationship" and "Creating a Matrix or Two in Python"
//! (pages 103-106).
//!
//! The book writes the six streetlights it watched as a matrix, one row per observation and one
//! column per light, and what people did as a second matrix (1 = WALK, 0 = STOP):
//!
//! ```text
//! streetlights = np.array([[1, 0, 1], [0, 1, 1], [0, 0, 1], [1, 1, 1], [0, 1, 1], [1, 0, 1]])
//! walk_vs_stop = np.array([[0], [1], [0], [1], [1], [0]])
//! ```
//!
//! Lights on dimmers give "Streetlight Matrix A"; B = 10 A and C = 20 A are scalar multiples that
//! hold the same pattern. The study notebook prints the shapes `(6, 3)` and `(6, 1)`; the reading
//! notes print B and C as numpy arrays. Here the matrices feed a `Sequential` network with three
//! inputs: any of them is a valid input, and a linear network's outputs scale with the matrix.
//!
//! Run with `cargo run --example ch06_01_streetlight_matrices`.

use backprop::book;
use backprop::prelude::*;

fn main() -> Result<()> {
    let streetlights = Matrix::from_row_slice(
        6,
        3,
        &[
            1., 0., 1., //
            0., 1., 1., //
            0., 0., 1., //
            1., 1., 1., //
            0., 1., 1., //
            1., 0., 1.,
        ],
    );
    let walk_vs_stop = Matrix::from_column_slice(6, 1, &[0., 1., 0., 1., 1., 0.]);

    // The same data set comes with the crate, for the other examples.
    assert_eq!(
        (streetlights.clone(), walk_vs_stop.clone()),
        book::streetlights()
    );

    // print(streetlights.shape); print(walk_vs_stop.shape)
    println!("{:?}", streetlights.shape());
    println!("{:?}", walk_vs_stop.shape());
    println!(
        "streetlights =\n{}",
        book::array(&streetlights).ints().repr()
    );
    println!(
        "walk_vs_stop =\n{}",
        book::array(&walk_vs_stop).ints().repr()
    );

    // Streetlight Matrix A: the lights on dimmers (page 104).
    let streetlights_dimmer = Matrix::from_row_slice(
        6,
        3,
        &[
            0.9, 0.0, 1.0, //
            0.2, 0.8, 1.0, //
            0.1, 0.0, 1.0, //
            0.8, 0.9, 1.0, //
            0.1, 0.7, 1.0, //
            0.9, 0.1, 0.0,
        ],
    );
    // B = A * 10 and C = A * 20 (pages 104-105).
    let streetlights_multiple_10 = &streetlights_dimmer * 10.0;
    let streetlights_multiple_20 = &streetlights_dimmer * 20.0;
    println!(
        "\nstreetlights_dimmer (A) =\n{}",
        book::array(&streetlights_dimmer).repr()
    );
    println!(
        "streetlights_dimmer * 10 (B) =\n{}",
        book::array(&streetlights_multiple_10).repr()
    );
    println!(
        "streetlights_dimmer * 20 (C) =\n{}",
        book::array(&streetlights_multiple_20).repr()
    );

    // A network reads rows of three lights: every one of these matrices is a valid input.
    let model = Sequential::<f64>::builder(3)
        .seed(1)
        .init(BookUniform)
        .bias(false)
        .dense(1, Identity)
        .build()?;
    let weights = model.weights(0)?.clone();
    println!("\nweights (seed 1) = {}", book::array(&weights).vector());
    let prediction_a = model.predict(&streetlights_dimmer)?;
    let prediction_b = model.predict(&streetlights_multiple_10)?;
    let prediction_c = model.predict(&streetlights_multiple_20)?;
    println!("prediction shape for A, B, C: {:?}", prediction_a.shape());
    println!(
        "predictions for A:        {}",
        book::array(&prediction_a).vector()
    );
    println!(
        "predictions for B / 10:   {}",
        book::array(&(prediction_b / 10.0)).vector()
    );
    println!(
        "predictions for C / 20:   {}",
        book::array(&(prediction_c / 20.0)).vector()
    );

    // The pattern is in the rows and columns; a matrix with two lights per row is not this data.
    let two_lights = streetlights.columns(0, 2).into_owned();
    match model.predict(&two_lights) {
        Err(e) => println!("\na {:?} matrix is rejected: {e}", two_lights.shape()),
        Ok(_) => unreachable!("the model checks the input width"),
    }
    Ok(())
}
