//! Every number the chapter-6 sources print, reproduced through the crate's API.
//!
//! Golden values come from the seed documents in `shared/seeds/` (the file and section are named
//! beside each) or, where the seeds print nothing or too few digits, from the independent numpy
//! script `tests/golden/ch06.py` (its output is `tests/golden/ch06.txt`).
//!
//! Tolerances: a value printed in full (Python 3 `repr`, 16-17 digits) must match to a relative
//! error of 1e-9; a value printed by numpy with 8 decimals must match to 5e-9 (half the last
//! printed digit); a value printed by Python 2 (`str()`, 12 significant digits) must print the
//! same string through [`book::py2_str`].
//!
//! Seeds: `000` is the study notebook, `001` the chapter's text, `003` the reading notes.

use backprop::book::{self, py2_str};
use backprop::prelude::*;

// ----- helpers --------------------------------------------------------------------------------

/// A value printed in full precision: relative error at most 1e-9.
#[track_caller]
fn assert_full(actual: f64, expected: f64, what: &str) {
    let err = (actual - expected).abs();
    assert!(
        err <= 1e-9 * expected.abs(),
        "{what}: {actual:e} differs from {expected:e} by {err:e} (relative {:e})",
        err / expected.abs()
    );
}

/// A value printed by numpy with 8 decimals: within half of the last printed digit.
#[track_caller]
fn assert_8dp(actual: f64, expected: f64, what: &str) {
    assert!(
        (actual - expected).abs() <= 5e-9 + 1e-15,
        "{what}: {actual} does not round to the printed {expected}"
    );
}

/// A matrix printed by numpy with 8 decimals, given row by row.
#[track_caller]
fn assert_matrix_8dp(actual: MatrixView<'_, f64>, expected: &[f64], what: &str) {
    let (rows, cols) = actual.shape();
    assert_eq!(
        rows * cols,
        expected.len(),
        "{what}: shape {:?}",
        actual.shape()
    );
    for r in 0..rows {
        for c in 0..cols {
            assert_8dp(
                actual[(r, c)],
                expected[r * cols + c],
                &format!("{what}[{r}, {c}]"),
            );
        }
    }
}

/// A matrix compared entry by entry at full precision, given row by row.
#[track_caller]
fn assert_matrix_full(actual: MatrixView<'_, f64>, expected: &[f64], what: &str) {
    let (rows, cols) = actual.shape();
    assert_eq!(
        rows * cols,
        expected.len(),
        "{what}: shape {:?}",
        actual.shape()
    );
    for r in 0..rows {
        for c in 0..cols {
            let e = expected[r * cols + c];
            if e == 0.0 {
                assert_eq!(actual[(r, c)], 0.0, "{what}[{r}, {c}]");
            } else {
                assert_full(actual[(r, c)], e, &format!("{what}[{r}, {c}]"));
            }
        }
    }
}

/// numpy's text with every run of whitespace made one space, as the seeds' extraction shows it.
fn collapsed(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The page-107 network: one weighted sum with the weights `[0.5, 0.48, -0.7]`.
fn page_107_network() -> Sequential<f64> {
    let mut model = Sequential::<f64>::builder(3)
        .bias(false)
        .dense(1, Identity)
        .loss(SquaredError)
        .build()
        .unwrap();
    model
        .set_weights(0, Matrix::from_column_slice(3, 1, &[0.5, 0.48, -0.7]))
        .unwrap();
    model
}

/// The network of pages 125-130: seed 1, `hidden_size` ReLU nodes, one linear output.
fn deep_network(rng: NumpyRng, hidden_size: usize) -> Sequential<f64> {
    Sequential::builder(3)
        .rng(rng)
        .init(BookUniform)
        .bias(false)
        .dense(hidden_size, Relu)
        .dense(1, Identity)
        .loss(SquaredError)
        .build()
        .unwrap()
}

/// One row through `forward`, `backward`, `update`: returns (prediction, the book's error).
fn train_row(
    model: &mut Sequential<f64>,
    x: &Matrix<f64>,
    y: &Matrix<f64>,
    row: usize,
    sgd: &mut Sgd<f64>,
) -> (f64, f64) {
    let layer_0 = x.rows(row, 1).into_owned();
    let goal = y.rows(row, 1).into_owned();
    let prediction = model.forward(&layer_0).unwrap().into_owned();
    let error = SquaredError::sum_of_squares(&prediction, &goal);
    model.backward(&goal).unwrap();
    model.update(sgd).unwrap();
    (prediction[(0, 0)], error)
}

// ----- the generator --------------------------------------------------------------------------

#[test]
fn generator_matches_numpy_seed_1() {
    // np.random.seed(1); np.random.random() (the known value of the issue tracker; numpy 2.4).
    assert_eq!(NumpyRng::new(1).random(), 0.417022004702574);
    // np.random.seed(1); 2*np.random.random((3,4)) - 1, first row (tests/golden/ch06.txt,
    // snippet7_weights_0_1, which agrees with the issue tracker's values).
    let w = NumpyRng::new(1)
        .random_matrix(3, 4)
        .unwrap()
        .map(|u| 2.0 * u - 1.0);
    let first_row = [
        -0.165955990594852,
        0.4406489868843162,
        -0.9997712503653102,
        -0.39533485473632046,
    ];
    for (c, &e) in first_row.iter().enumerate() {
        assert_eq!(w[(0, c)], e, "column {c}");
    }
}

#[test]
fn book_uniform_draws_the_seeded_weights_of_003() {
    // 003, "View initialized weights": seed 1, hidden_size 3.
    let model = deep_network(NumpyRng::new(1), 3);
    assert_matrix_8dp(
        model.weights(0).unwrap().as_view(),
        &[
            -0.16595599,
            0.44064899,
            -0.99977125, //
            -0.39533485,
            -0.70648822,
            -0.81532281, //
            -0.62747958,
            -0.30887855,
            -0.20646505,
        ],
        "weights_0_1",
    );
    assert_matrix_8dp(
        model.weights(1).unwrap().as_view(),
        &[0.07763347, -0.16161097, 0.370439],
        "weights_1_2",
    );
    // 003, "Your first deep neural network": hidden_size 4, weights printed in the step-by-step
    // cells, which drew after the 16 numbers of the cell before (tests/golden/ch06.py shows the
    // same matrices come from numpy's stream continued past those draws).
    let mut rng = NumpyRng::new(1);
    for _ in 0..16 {
        rng.random();
    }
    let model = deep_network(rng, 4);
    assert_matrix_8dp(
        model.weights(0).unwrap().as_view(),
        &[
            -0.1653904,
            0.11737966,
            -0.71922612,
            -0.60379702, //
            0.60148914,
            0.93652315,
            -0.37315164,
            0.38464523, //
            0.7527783,
            0.78921333,
            -0.82991158,
            -0.92189043,
        ],
        "weights_0_1 (003, page 125)",
    );
    assert_matrix_8dp(
        model.weights(1).unwrap().as_view(),
        &[-0.66033916, 0.75628501, -0.80330633, -0.15778475],
        "weights_1_2 (003, page 125)",
    );
}

// ----- snippet 1: the matrices ----------------------------------------------------------------

#[test]
fn snippet_1_scalar_multiples_print_as_in_003() {
    // 003, "Streetlights example": streetlights_dimmer * 10 and * 20.
    let a = Matrix::from_row_slice(
        6,
        3,
        &[
            0.9, 0.0, 1.0, 0.2, 0.8, 1.0, 0.1, 0.0, 1.0, 0.8, 0.9, 1.0, 0.1, 0.7, 1.0, 0.9, 0.1,
            0.0,
        ],
    );
    assert_eq!(
        collapsed(&book::array(&(&a * 10.0)).repr()),
        "array([[ 9., 0., 10.], [ 2., 8., 10.], [ 1., 0., 10.], [ 8., 9., 10.], [ 1., 7., 10.], [ 9., 1., 0.]])"
    );
    assert_eq!(
        collapsed(&book::array(&(&a * 20.0)).repr()),
        "array([[18., 0., 20.], [ 4., 16., 20.], [ 2., 0., 20.], [16., 18., 20.], [ 2., 14., 20.], [18., 2., 0.]])"
    );
}

// ----- snippet 2: learning one streetlight ----------------------------------------------------

#[test]
fn snippet_2_one_streetlight_twenty_iterations() {
    // 003, "Building at neural network": (error, prediction) of each of the 20 iterations.
    let printed = [
        (0.03999999999999998, -0.19999999999999996),
        (0.025599999999999973, -0.15999999999999992),
        (0.01638399999999997, -0.1279999999999999),
        (0.010485759999999964, -0.10239999999999982),
        (0.006710886399999962, -0.08191999999999977),
        (0.004294967295999976, -0.06553599999999982),
        (0.002748779069439994, -0.05242879999999994),
        (0.0017592186044416036, -0.04194304000000004),
        (0.0011258999068426293, -0.03355443200000008),
        (0.0007205759403792803, -0.02684354560000002),
        (0.0004611686018427356, -0.021474836479999926),
        (0.0002951479051793508, -0.01717986918399994),
        (0.00018889465931478573, -0.013743895347199997),
        (0.00012089258196146188, -0.010995116277759953),
        (7.737125245533561e-05, -0.008796093022207963),
        (4.951760157141604e-05, -0.007036874417766459),
        (3.169126500570676e-05, -0.0056294995342132115),
        (2.028240960365233e-05, -0.004503599627370569),
        (1.298074214633813e-05, -0.003602879701896544),
        (8.307674973656916e-06, -0.002882303761517324),
    ];
    let (streetlights, walk_vs_stop) = book::streetlights();
    let mut model = page_107_network();
    let mut sgd = Sgd::new(0.1).unwrap();
    for (iteration, &(error, prediction)) in printed.iter().enumerate() {
        let (p, e) = train_row(&mut model, &streetlights, &walk_vs_stop, 0, &mut sgd);
        assert_full(p, prediction, &format!("prediction {iteration}"));
        assert_full(e, error, &format!("error {iteration}"));
    }
}

// ----- snippet 3: the whole data set ----------------------------------------------------------

/// One pass over the six streetlights as printed: its number (from 1), each row's
/// `(error, prediction)` and the total `error_for_all_lights`.
type Pass = (usize, [(f64, f64); 6], f64);

/// 003, "Learning the whole dataset": passes 1, 2, 39 and 40.
const SNIPPET_3_PASSES: [Pass; 4] = [
    (
        1,
        [
            (0.03999999999999998, -0.19999999999999996),
            (1.44, -0.19999999999999996),
            (0.31359999999999993, -0.5599999999999999),
            (0.14745599999999992, 0.6160000000000001),
            (0.6842598400000001, 0.17279999999999995),
            (0.030807270400000003, 0.17552),
        ],
        2.6561231104,
    ),
    (
        2,
        [
            (0.019716653055999997, 0.14041599999999999),
            (0.48073921463296004, 0.3066464),
            (0.11912040471029758, -0.34513824),
            (4.4054335374336594e-05, 1.006637344),
            (0.2719586253784771, 0.4785034751999999),
            (0.07129122555848956, 0.26700416768),
        ],
        0.9628701776715985,
    ),
    (
        39,
        [
            (5.705876310825877e-06, -0.002388697618122871),
            (5.2801809843946525e-06, 0.9977021355600483),
            (0.0003218187196733748, -0.01793930655497516),
            (0.00026288646758276113, 1.0162137740080082),
            (1.0805129612468648e-05, 0.9967128843019345),
            (7.847193319322342e-06, -0.0028012842268006904),
        ],
        0.0006143435674831474,
    ),
    (
        40,
        [
            (5.022203724366299e-06, -0.0022410273814405524),
            (4.517586152808343e-06, 0.9978745386023716),
            (0.00027960068413413554, -0.016721264429884947),
            (0.00022839509133955668, 1.0151127459893812),
            (9.307331052303591e-06, 0.9969492081270097),
            (6.893876881709479e-06, -0.0026256193329783125),
        ],
        0.00053373677328488,
    ),
];

#[test]
fn snippet_3_whole_dataset_forty_iterations() {
    let (streetlights, walk_vs_stop) = book::streetlights();
    let mut model = page_107_network();
    let mut sgd = Sgd::new(0.1).unwrap();
    let mut totals = Vec::new();
    let mut passes = Vec::new();
    for _ in 0..40 {
        let pass: Vec<(f64, f64)> = (0..6)
            .map(|row| train_row(&mut model, &streetlights, &walk_vs_stop, row, &mut sgd))
            .collect();
        totals.push(pass.iter().map(|&(_, e)| e).sum::<f64>());
        passes.push(pass);
    }
    for (number, rows, total) in SNIPPET_3_PASSES {
        for (row, &(error, prediction)) in rows.iter().enumerate() {
            let (p, e) = passes[number - 1][row];
            assert_full(
                p,
                prediction,
                &format!("pass {number}, row {row}, prediction"),
            );
            assert_full(e, error, &format!("pass {number}, row {row}, error"));
        }
        assert_full(
            totals[number - 1],
            total,
            &format!("pass {number}, error_for_all_lights"),
        );
    }
    // 000, cell 2, third pass: the predictions of the first three rows (Python 3 repr).
    for (row, prediction) in [0.213603334144, 0.5347420299776, -0.26067345110016]
        .into_iter()
        .enumerate()
    {
        assert_full(
            passes[2][row].0,
            prediction,
            &format!("pass 3, row {row}, prediction (000)"),
        );
    }
    // 001, page 108: the book's Python 2 output, first two and last two lines.
    assert_eq!(py2_str(totals[0]), "2.6561231104");
    assert_eq!(py2_str(totals[1]), "0.962870177672");
    assert_eq!(py2_str(totals[38]), "0.000614343567483");
    assert_eq!(py2_str(totals[39]), "0.000533736773285");

    // The final weights: tests/golden/ch06.txt, snippet3_final_weights; page 110 (001) draws them
    // rounded as .01, 1.0 and -.0.
    let weights = model.weights(0).unwrap();
    assert_matrix_full(
        weights.as_view(),
        &[
            0.013892275998855057,
            1.0138146999001432,
            -0.015992771465237705,
        ],
        "final weights",
    );
    assert_eq!(format!("{:.2}", weights[(0, 0)]), "0.01");
    assert_eq!(format!("{:.1}", weights[(1, 0)]), "1.0");
    assert_eq!(format!("{:.1}", weights[(2, 0)]), "-0.0");
}

#[test]
fn snippet_3_per_row_errors_print_as_numpy_arrays_in_000() {
    // 000, cell 2: `MSE: [0.04]` ... for the first pass, and the first four of the second pass;
    // the notebook prints each error as a one-element numpy array.
    let printed = [
        "[0.04]",
        "[1.44]",
        "[0.3136]",
        "[0.147456]",
        "[0.68425984]",
        "[0.03080727]",
        "[0.01971665]",
        "[0.48073921]",
        "[0.1191204]",
        "[4.40543354e-05]",
        "[0.27195863]",
        "[0.07129123]",
        "[0.04562638]",
        "[0.21646498]",
    ];
    let (streetlights, walk_vs_stop) = book::streetlights();
    let mut model = page_107_network();
    let mut sgd = Sgd::new(0.1).unwrap();
    for (step, &text) in printed.iter().enumerate() {
        let (_, error) = train_row(&mut model, &streetlights, &walk_vs_stop, step % 6, &mut sgd);
        let mse = Matrix::from_element(1, 1, error);
        assert_eq!(book::array(&mse).vector().to_string(), text, "step {step}");
    }
}

#[test]
fn snippet_3_through_fit_gives_the_same_errors() {
    // Sequential::fit runs the book's loop; its History holds ½ Σ (p - g)² / rows per pass, so the
    // book's error_for_all_lights is 2 * 6 times it. Golden: 003 as above.
    let (streetlights, walk_vs_stop) = book::streetlights();
    let mut model = page_107_network();
    let history = model
        .fit(
            &streetlights,
            &walk_vs_stop,
            &mut Sgd::new(0.1).unwrap(),
            &Fit::new(40).stochastic(),
        )
        .unwrap();
    for (number, _, total) in SNIPPET_3_PASSES {
        assert_full(
            12.0 * history.loss[number - 1],
            total,
            &format!("pass {number}"),
        );
    }
}

// ----- snippet 6: the hmkcode check -----------------------------------------------------------

#[test]
fn snippet_6_hmkcode_two_layer_linear_check() {
    let input = Matrix::from_row_slice(1, 2, &[2.0, 3.0]);
    let goal_pred = Matrix::from_element(1, 1, 1.0);
    let mut model = Sequential::<f64>::builder(2)
        .bias(false)
        .dense(2, Identity)
        .dense(1, Identity)
        .loss(SquaredError)
        .build()
        .unwrap();
    model
        .set_weights(0, Matrix::from_row_slice(2, 2, &[0.11, 0.12, 0.21, 0.08]))
        .unwrap();
    model
        .set_weights(1, Matrix::from_column_slice(2, 1, &[0.14, 0.15]))
        .unwrap();
    let mut sgd = Sgd::new(0.05).unwrap();

    // tests/golden/ch06.txt: snippet6_output_i, snippet6_error_i.
    let golden = [
        (0.191, 0.6544809999999999),
        (0.2557457808075, 0.5539143427858378),
    ];
    for (iteration, (output, error)) in golden.into_iter().enumerate() {
        let prediction = model.forward(&input).unwrap().into_owned();
        assert_full(prediction[(0, 0)], output, &format!("output {iteration}"));
        assert_full(
            SquaredError::sum_of_squares(&prediction, &goal_pred),
            error,
            "error",
        );
        let half = model.backward(&goal_pred).unwrap();
        if iteration == 0 {
            // hmkcode.com/ai/backpropagation-step-by-step (linked from 000) rounds its first pass
            // to h1 = .85, h2 = .48, prediction .191 and error ½ (.191 - 1)² = .327.
            assert_matrix_full(model.layer_output(1).unwrap(), &[0.85, 0.48], "h1, h2");
            assert_eq!(format!("{half:.3}"), "0.327");
        }
        model.update(&mut sgd).unwrap();
        if iteration == 0 {
            // hmkcode's new weights w1 ... w6 = .12 .23 .13 .10 .17 .17 (w1, w2 lead to h1).
            let w: Vec<String> = model
                .weights(0)
                .unwrap()
                .iter()
                .chain(model.weights(1).unwrap().iter())
                .map(|w| format!("{w:.2}"))
                .collect();
            assert_eq!(w, ["0.12", "0.23", "0.13", "0.10", "0.17", "0.17"]);
        }
    }
    // The notebook prints the error of iteration 0 only (iteration % 10 == 0), then the weights.
    assert_eq!(py2_str(0.6544809999999999), "0.654481");
    assert_matrix_full(
        model.weights(0).unwrap().as_view(),
        &[
            0.1343044911378336,
            0.14474385727987166,
            0.24645673670675042,
            0.11711578591980748,
        ],
        "weights_0_1",
    );
    assert_matrix_full(
        model.weights(1).unwrap().as_view(),
        &[0.20875286688381792, 0.1902133468693378],
        "weights_1_2",
    );
}

// ----- snippet 7: the forward pass of page 125 ------------------------------------------------

#[test]
fn snippet_7_forward_pass_seed_1() {
    let (streetlights, _) = book::new_streetlights();
    let layer_0 = streetlights.rows(0, 1).into_owned();
    // tests/golden/ch06.txt: snippet7_* (np.random.seed(1), hidden_size 4).
    let mut model = deep_network(NumpyRng::new(1), 4);
    assert_matrix_full(
        model.weights(0).unwrap().as_view(),
        &[
            -0.165955990594852,
            0.4406489868843162,
            -0.9997712503653102,
            -0.39533485473632046,
            -0.7064882183657739,
            -0.8153228104624044,
            -0.6274795772446582,
            -0.3088785459139045,
            -0.20646505153866013,
            0.07763346800671389,
            -0.1616109711934104,
            0.370439000793519,
        ],
        "weights_0_1",
    );
    assert_matrix_full(
        model.weights(1).unwrap().as_view(),
        &[
            -0.5910955005369651,
            0.7562348727818908,
            -0.9452248136041477,
            0.34093502035680445,
        ],
        "weights_1_2",
    );
    let layer_2 = model.forward(&layer_0).unwrap()[(0, 0)];
    assert_full(layer_2, 0.3919432663396042, "layer_2");
    assert_matrix_full(
        model.layer_output(1).unwrap(),
        &[0.0, 0.5182824548910301, 0.0, 0.0],
        "layer_1",
    );
}

#[test]
fn snippet_7_values_printed_in_003_come_from_the_continued_stream() {
    // 003, "Your first deep neural network": layer_1 and layer_2 of the step-by-step cells.
    let (streetlights, _) = book::new_streetlights();
    let layer_0 = streetlights.rows(0, 1).into_owned();
    let mut rng = NumpyRng::new(1);
    for _ in 0..16 {
        rng.random();
    }
    let mut model = deep_network(rng, 4);
    let layer_2 = model.forward(&layer_0).unwrap().into_owned();
    assert_matrix_8dp(
        model.layer_output(1).unwrap(),
        &[0.58738791, 0.90659298, -0.0, -0.0],
        "layer_1",
    );
    assert_8dp(layer_2[(0, 0)], 0.29776744, "layer_2");
    // tests/golden/ch06.txt: snippet7_notes_layer_2.
    assert_full(layer_2[(0, 0)], 0.2977674418961295, "layer_2 (numpy)");
    // numpy shows the zeroed nodes as -0. (relu multiplies by False); so does the model.
    assert_eq!(
        collapsed(&book::array(model.layer_output(1).unwrap()).vector().repr()),
        "array([ 0.58738791, 0.90659298, -0. , -0. ])"
    );
}

// ----- snippet 8: one iteration of backpropagation --------------------------------------------

#[test]
fn snippet_8_one_iteration_of_backpropagation() {
    // 003, "One iteration of backprop" (its walk_stop is [[1, 1, 0, 1]].T, the book's
    // [[1, 1, 0, 0]].T; only the first row, goal 1, is used).
    let (lights, walk_stop) = book::new_streetlights();
    let mut model = deep_network(NumpyRng::new(1), 3);
    let weights_1_2 = model.weights(1).unwrap().clone();
    let layer_0 = lights.rows(0, 1).into_owned();
    let goal = walk_stop.rows(0, 1).into_owned();

    let layer_2 = model.forward(&layer_0).unwrap().into_owned();
    assert_matrix_8dp(model.layer_output(0).unwrap(), &[1.0, 0.0, 1.0], "layer_0");
    assert_matrix_8dp(
        model.layer_output(1).unwrap(),
        &[-0.0, 0.13177044, -0.0],
        "layer_1",
    );
    assert_8dp(layer_2[(0, 0)], -0.02129555, "layer_2");
    assert_full(
        SquaredError::sum_of_squares(&layer_2, &goal),
        1.0430445982842722,
        "layer_2_error",
    );

    model.backward(&goal).unwrap();
    let layer_2_delta = model.delta(1).unwrap().into_owned();
    assert_8dp(layer_2_delta[(0, 0)], -1.02129555, "layer_2_delta");
    let before_relu2deriv = &layer_2_delta * weights_1_2.transpose();
    assert_matrix_8dp(
        before_relu2deriv.as_view(),
        &[-0.07928672, 0.16505257, -0.3783277],
        "layer_1_delta before relu2deriv",
    );
    assert_matrix_8dp(
        model.delta(0).unwrap(),
        &[-0.0, 0.16505257, -0.0],
        "layer_1_delta",
    );
    assert_matrix_8dp(
        model.weight_delta(1).unwrap().as_view(),
        &[0.0, -0.13457656, 0.0],
        "weight_delta_1_2",
    );
    assert_matrix_8dp(
        model.weight_delta(0).unwrap().as_view(),
        &[0.0, 0.16505257, 0.0, 0.0, 0.0, 0.0, 0.0, 0.16505257, 0.0],
        "weight_delta_0_1",
    );

    model.update(&mut Sgd::new(0.2).unwrap()).unwrap();
    assert_matrix_8dp(
        model.weights(1).unwrap().as_view(),
        &[0.07763347, -0.13469566, 0.370439],
        "weights_1_2 updated",
    );
    assert_matrix_8dp(
        model.weights(0).unwrap().as_view(),
        &[
            -0.16595599,
            0.40763847,
            -0.99977125, //
            -0.39533485,
            -0.70648822,
            -0.81532281, //
            -0.62747958,
            -0.34188906,
            -0.20646505,
        ],
        "weights_0_1 updated",
    );
}

#[test]
fn snippet_8_arrays_print_as_in_003() {
    // 003, "One iteration of backprop": the cells' output, whitespace collapsed by the extraction.
    let (lights, walk_stop) = book::new_streetlights();
    let mut model = deep_network(NumpyRng::new(1), 3);
    assert_eq!(
        collapsed(&book::array(model.weights(0).unwrap()).repr()),
        "array([[-0.16595599, 0.44064899, -0.99977125], [-0.39533485, -0.70648822, -0.81532281], \
         [-0.62747958, -0.30887855, -0.20646505]])"
    );
    assert_eq!(
        collapsed(&book::array(model.weights(1).unwrap()).repr()),
        "array([[ 0.07763347], [-0.16161097], [ 0.370439 ]])"
    );
    model.forward(&lights.rows(0, 1).into_owned()).unwrap();
    model.backward(&walk_stop.rows(0, 1).into_owned()).unwrap();
    let repr = |m: MatrixView<'_, f64>| collapsed(&book::array(m).repr());
    assert_eq!(
        collapsed(&book::array(model.layer_output(0).unwrap()).ints().repr()),
        "array([[1, 0, 1]])"
    );
    assert_eq!(
        repr(model.layer_output(1).unwrap()),
        "array([[-0. , 0.13177044, -0. ]])"
    );
    assert_eq!(
        repr(model.layer_output(2).unwrap()),
        "array([[-0.02129555]])"
    );
    assert_eq!(repr(model.delta(1).unwrap()), "array([[-1.02129555]])");
    assert_eq!(
        repr(model.delta(0).unwrap()),
        "array([[-0. , 0.16505257, -0. ]])"
    );
    assert_eq!(
        repr(model.weight_delta(1).unwrap().as_view()),
        "array([[ 0. ], [-0.13457656], [ 0. ]])"
    );
    assert_eq!(
        repr(model.weight_delta(0).unwrap().as_view()),
        "array([[0. , 0.16505257, 0. ], [0. , 0. , 0. ], [0. , 0.16505257, 0. ]])"
    );
}

// ----- snippet 9: putting it all together -----------------------------------------------------

/// 003, "Backpropogation in code": the six printed errors in Python 3; 001, page 130: the same
/// in Python 2.
const PAGE_130: [(f64, &str); 6] = [
    (0.6342311598444467, "0.634231159844"),
    (0.35838407676317513, "0.358384076763"),
    (0.0830183113303298, "0.0830183113303"),
    (0.006467054957103705, "0.0064670549571"),
    (0.0003292669000750734, "0.000329266900075"),
    (1.5055622665134859e-05, "1.50556226651e-05"),
];

#[test]
fn snippet_9_three_layer_relu_network() {
    let (streetlights, walk_vs_stop) = book::new_streetlights();
    let mut model = deep_network(NumpyRng::new(1), 4);
    let mut sgd = Sgd::new(0.2).unwrap();
    let mut printed = Vec::new();
    for iteration in 0..60 {
        let layer_2_error: f64 = (0..4)
            .map(|i| train_row(&mut model, &streetlights, &walk_vs_stop, i, &mut sgd).1)
            .sum();
        if iteration % 10 == 9 {
            printed.push(layer_2_error);
        }
    }
    for (k, (&actual, (full, python2))) in printed.iter().zip(PAGE_130).enumerate() {
        assert_full(actual, full, &format!("Error line {k}"));
        assert_eq!(py2_str(actual), python2, "Error line {k}");
    }
}

#[test]
fn snippet_9_through_fit_gives_the_same_errors() {
    // Sequential::fit runs page 130's loop; History holds ½ Σ (p - g)² / 4, the book's error / 8.
    let (streetlights, walk_vs_stop) = book::new_streetlights();
    let mut model = deep_network(NumpyRng::new(1), 4);
    let mut sgd = Sgd::new(0.2).unwrap();
    let history = model
        .fit(
            &streetlights,
            &walk_vs_stop,
            &mut sgd,
            &Fit::new(60).stochastic(),
        )
        .unwrap();
    for (k, (full, _)) in PAGE_130.into_iter().enumerate() {
        assert_full(
            8.0 * history.loss[10 * k + 9],
            full,
            &format!("Error line {k}"),
        );
    }
}

// ----- snippet 10: linear vs nonlinear --------------------------------------------------------

#[test]
fn snippet_10_without_relu_the_network_does_not_learn() {
    // tests/golden/ch06.txt: snippet10_linear_error_60 and _1000.
    let (streetlights, walk_vs_stop) = book::new_streetlights();
    let mut model = Sequential::<f64>::builder(3)
        .seed(1)
        .init(BookUniform)
        .bias(false)
        .dense(4, Identity)
        .dense(1, Identity)
        .build()
        .unwrap();
    let history = model
        .fit(
            &streetlights,
            &walk_vs_stop,
            &mut Sgd::new(0.2).unwrap(),
            &Fit::new(1000),
        )
        .unwrap();
    assert_full(8.0 * history.loss[59], 1.3602144081069918, "error after 60");
    assert_full(
        8.0 * history.loss[999],
        1.324346852608294,
        "error after 1000",
    );
}
