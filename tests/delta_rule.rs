//! The delta rule of chapter 6, step by step, against the numbers the book prints, and the three
//! flavours of gradient descent against each other.

use backprop::prelude::*;
use nalgebra::DMatrix;

/// Entry-wise `|a - b| <= tol`, with a message naming the quantity.
fn close(what: &str, a: &DMatrix<f64>, b: &DMatrix<f64>, tol: f64) {
    assert_eq!(a.shape(), b.shape(), "{what}: shape");
    for (x, y) in a.iter().zip(b.iter()) {
        assert!(
            (x - y).abs() <= tol,
            "{what}: {a} differs from the book's {b} by more than {tol}"
        );
    }
}

fn rows(r: usize, c: usize, v: &[f64]) -> DMatrix<f64> {
    DMatrix::from_row_slice(r, c, v)
}

// Seed 003 (reading notes), section "One iteration of backprop" (the book's pages 128-129):
// np.random.seed(1); hidden_size = 3; alpha = 0.2; lights[0:1] = [[1, 0, 1]]; goal 1.
// Every array below is printed there with 8 decimals; the error is printed in full.
fn book_weights_0_1() -> DMatrix<f64> {
    rows(
        3,
        3,
        &[
            -0.16595599,
            0.44064899,
            -0.99977125,
            -0.39533485,
            -0.70648822,
            -0.81532281,
            -0.62747958,
            -0.30887855,
            -0.20646505,
        ],
    )
}
fn book_weights_1_2() -> DMatrix<f64> {
    rows(3, 1, &[0.07763347, -0.16161097, 0.370439])
}

/// Runs one step from `model` and compares every printed quantity with tolerance `tol`.
fn one_iteration_matches_the_book(mut model: Sequential<f64>, tol: f64) {
    let layer_0 = rows(1, 3, &[1.0, 0.0, 1.0]);
    let walk_stop_0 = rows(1, 1, &[1.0]);
    let mut sgd = Sgd::new(0.2).unwrap();

    model.forward(&layer_0).unwrap();
    model.backward(&walk_stop_0).unwrap();

    close(
        "layer_0",
        &model.layer_output(0).unwrap().clone_owned(),
        &layer_0,
        0.0,
    );
    close(
        "layer_1",
        &model.layer_output(1).unwrap().clone_owned(),
        &rows(1, 3, &[-0.0, 0.13177044, -0.0]),
        tol,
    );
    let layer_2 = model.layer_output(2).unwrap().clone_owned();
    close("layer_2", &layer_2, &rows(1, 1, &[-0.02129555]), tol);
    // layer_2_error += np.sum((layer_2 - walk_vs_stop[0:1]) ** 2)  ->  1.0430445982842722
    let error = SquaredError::sum_of_squares(&layer_2, &walk_stop_0);
    assert!(
        (error - 1.0430445982842722).abs() <= 2.0 * tol,
        "error {error}"
    );
    close(
        "layer_2_delta",
        &model.delta(1).unwrap().clone_owned(),
        &rows(1, 1, &[-1.02129555]),
        tol,
    );
    // layer_1_delta = layer_2_delta.dot(weights_1_2.T), before relu2deriv:
    let before = model.delta(1).unwrap() * model.weights(1).unwrap().transpose();
    close(
        "layer_1_delta before relu2deriv",
        &before,
        &rows(1, 3, &[-0.07928672, 0.16505257, -0.3783277]),
        tol,
    );
    close(
        "layer_1_delta",
        &model.delta(0).unwrap().clone_owned(),
        &rows(1, 3, &[-0.0, 0.16505257, -0.0]),
        tol,
    );
    close(
        "weight_delta_1_2",
        model.weight_delta(1).unwrap(),
        &rows(3, 1, &[0.0, -0.13457656, 0.0]),
        tol,
    );
    close(
        "weight_delta_0_1",
        model.weight_delta(0).unwrap(),
        &rows(
            3,
            3,
            &[0.0, 0.16505257, 0.0, 0.0, 0.0, 0.0, 0.0, 0.16505257, 0.0],
        ),
        tol,
    );

    model.update(&mut sgd).unwrap();
    close(
        "weights_1_2 after",
        model.weights(1).unwrap(),
        &rows(3, 1, &[0.07763347, -0.13469566, 0.370439]),
        tol,
    );
    close(
        "weights_0_1 after",
        model.weights(0).unwrap(),
        &rows(
            3,
            3,
            &[
                -0.16595599,
                0.40763847,
                -0.99977125,
                -0.39533485,
                -0.70648822,
                -0.81532281,
                -0.62747958,
                -0.34188906,
                -0.20646505,
            ],
        ),
        tol,
    );
}

#[test]
fn one_iteration_from_the_seeded_generator() {
    let model = Sequential::<f64>::builder(3)
        .seed(1)
        .init(BookUniform)
        .bias(false)
        .dense(3, Relu)
        .dense(1, Identity)
        .build()
        .unwrap();
    // The generator draws the printed weights (8 decimals: within half a unit of the last digit).
    close(
        "weights_0_1",
        model.weights(0).unwrap(),
        &book_weights_0_1(),
        5e-9,
    );
    close(
        "weights_1_2",
        model.weights(1).unwrap(),
        &book_weights_1_2(),
        5e-9,
    );
    // Printed values are rounded to 8 decimals: 1e-8 covers the rounding of both sides.
    one_iteration_matches_the_book(model, 1e-8);
}

#[test]
fn one_iteration_from_the_printed_weights() {
    let mut model = Sequential::<f64>::builder(3)
        .bias(false)
        .dense(3, Relu)
        .dense(1, Identity)
        .build()
        .unwrap();
    model.set_weights(0, book_weights_0_1()).unwrap();
    model.set_weights(1, book_weights_1_2()).unwrap();
    // Starting from weights rounded to 8 decimals, each printed value is a sum or product of
    // two or three rounded numbers: 2e-8 bounds the accumulated rounding.
    one_iteration_matches_the_book(model, 2e-8);
}

fn streetlights() -> (DMatrix<f64>, DMatrix<f64>) {
    // Seed 001/003: the 6-row streetlight data set and walk_vs_stop.
    let x = rows(
        6,
        3,
        &[
            1., 0., 1., 0., 1., 1., 0., 0., 1., 1., 1., 1., 0., 1., 1., 1., 0., 1.,
        ],
    );
    let y = rows(6, 1, &[0., 1., 0., 1., 1., 0.]);
    (x, y)
}

fn deep_model(seed: u32, bias: bool) -> Sequential<f64> {
    Sequential::<f64>::builder(3)
        .seed(seed)
        .bias(bias)
        .dense(4, Tanh)
        .dense(2, Relu)
        .dense(1, Sigmoid)
        .loss(BinaryCrossEntropy)
        .build()
        .unwrap()
}

#[test]
fn mini_batch_of_one_is_bit_identical_to_stochastic() {
    let (x, y) = streetlights();
    let mut a = deep_model(5, true);
    let mut b = deep_model(5, true);
    let ha = a
        .fit(
            &x,
            &y,
            &mut Sgd::new(0.3).unwrap(),
            &Fit::new(25).stochastic(),
        )
        .unwrap();
    let hb = b
        .fit(
            &x,
            &y,
            &mut Sgd::new(0.3).unwrap(),
            &Fit::new(25).mini_batch(1),
        )
        .unwrap();
    assert_eq!(ha, hb);
    assert_eq!(a.params(), b.params());
    // And training changed something, so the comparison is not between two untouched models.
    assert_ne!(a.params(), deep_model(5, true).params());
}

#[test]
fn full_batch_weight_delta_is_the_mean_of_per_row_weight_deltas() {
    let (x, y) = streetlights();
    for bias in [false, true] {
        let mut model = deep_model(11, bias);
        let names: Vec<(usize, &str)> = model.params().iter().map(|(l, n, _)| (*l, *n)).collect();

        // Per-row weight deltas, one row at a time (no update in between).
        let mut sums: Vec<DMatrix<f64>> = Vec::new();
        for r in 0..x.nrows() {
            model.forward(&x.rows(r, 1).clone_owned()).unwrap();
            model.backward(&y.rows(r, 1).clone_owned()).unwrap();
            for (k, (l, n)) in names.iter().enumerate() {
                let g = model.grad(*l, n).unwrap().clone();
                if r == 0 { sums.push(g) } else { sums[k] += g }
            }
        }
        model.forward(&x).unwrap();
        model.backward(&y).unwrap();
        for (k, (l, n)) in names.iter().enumerate() {
            let mean = &sums[k] / x.nrows() as f64;
            let full = model.grad(*l, n).unwrap();
            approx::assert_relative_eq!(full, &mean, epsilon = 1e-15, max_relative = 1e-12);
        }
    }
}

#[test]
fn full_batch_fit_is_one_update_per_epoch_with_the_mean_delta() {
    let (x, y) = streetlights();
    let mut a = deep_model(3, true);
    a.fit(&x, &y, &mut Sgd::new(0.5).unwrap(), &Fit::new(1).full())
        .unwrap();
    // The same update by hand: mean gradient over all rows, one step.
    let mut b = deep_model(3, true);
    b.forward(&x).unwrap();
    b.backward(&y).unwrap();
    let expected: Vec<DMatrix<f64>> = b
        .params()
        .iter()
        .map(|(l, n, w)| *w - b.grad(*l, n).unwrap() * 0.5)
        .collect();
    let got: Vec<DMatrix<f64>> = a.params().into_iter().map(|(_, _, w)| w.clone()).collect();
    assert_eq!(got, expected);
}

#[test]
fn mini_batches_take_rows_in_order_with_a_short_last_batch() {
    let (x, y) = streetlights();
    let mut a = deep_model(9, true);
    a.fit(
        &x,
        &y,
        &mut Sgd::new(0.1).unwrap(),
        &Fit::new(1).mini_batch(4),
    )
    .unwrap();
    let mut b = deep_model(9, true);
    let mut sgd = Sgd::new(0.1).unwrap();
    b.step(
        &x.rows(0, 4).clone_owned(),
        &y.rows(0, 4).clone_owned(),
        &mut sgd,
    )
    .unwrap();
    b.step(
        &x.rows(4, 2).clone_owned(),
        &y.rows(4, 2).clone_owned(),
        &mut sgd,
    )
    .unwrap();
    assert_eq!(a.params(), b.params());
}
