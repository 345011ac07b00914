//! The lecture notebook (seed 004, `shared/seeds/004_b70f1e4c68371b93.txt`) reproduced through
//! the crate: every number it prints for forward propagation on the digits, the perceptron's
//! AND/OR/XOR, the softmax and the three losses on the digits, and the activation functions.
//!
//! The examples `lecture_01_perceptron` to `lecture_04_activation_functions` run the same code
//! (their shared pieces live in `examples/lecture_common`, included here).
//!
//! Golden values are the notebook's printed outputs, copied verbatim below with their line
//! numbers in 004; two further values come from numpy, by this script (numpy 2.4, scikit-learn
//! 1.9, whose `load_digits()` matches the bundled `data/digits.csv`):
//!
//! ```python
//! import numpy as np
//! from sklearn.datasets import load_digits
//! images = load_digits().data
//! def sigmoid(z): return 1/(1+np.e**(-z))
//! np.random.seed(42); w_1 = np.random.uniform(-.1,.1,(64,4))
//! z_1 = w_1.T.dot(images.T)
//! np.random.seed(42); w_2 = np.random.uniform(-.1,.1,(4,1))
//! print((sigmoid(w_2.T.dot(z_1)) > .5).sum())           # 137, as the notebook prints
//! print((sigmoid(w_2.T.dot(sigmoid(z_1))) > .5).sum())  # 1678: a_1 fed forward instead
//! ```

#[path = "../examples/lecture_common/mod.rs"]
mod lecture_common;

use backprop::data::argmax_rows;
use backprop::prelude::*;
use lecture_common::numpy::{array_repr, int_array_repr_1d};
use lecture_common::*;

// ----- the notebook's printed arrays (seed 004), verbatim ---------------------------------------

/// `eight_by_eight_image`: seed 004, lines 222-229.
const EIGHT_BY_EIGHT_IMAGE: &str = "\
array([[ 0.,  0.,  5., 13.,  9.,  1.,  0.,  0.],
       [ 0.,  0., 13., 15., 10., 15.,  5.,  0.],
       [ 0.,  3., 15.,  2.,  0., 11.,  8.,  0.],
       [ 0.,  4., 12.,  0.,  0.,  8.,  8.,  0.],
       [ 0.,  5.,  8.,  0.,  0.,  9.,  8.,  0.],
       [ 0.,  4., 11.,  0.,  1., 12.,  7.,  0.],
       [ 0.,  2., 14.,  5., 10., 12.,  0.,  0.],
       [ 0.,  0.,  6., 13., 10.,  0.,  0.,  0.]])";

/// `eight_by_eight_image.reshape(-1,1)`: seed 004, lines 257-320.
const RESHAPED: &str = "\
array([[ 0.],
       [ 0.],
       [ 5.],
       [13.],
       [ 9.],
       [ 1.],
       [ 0.],
       [ 0.],
       [ 0.],
       [ 0.],
       [13.],
       [15.],
       [10.],
       [15.],
       [ 5.],
       [ 0.],
       [ 0.],
       [ 3.],
       [15.],
       [ 2.],
       [ 0.],
       [11.],
       [ 8.],
       [ 0.],
       [ 0.],
       [ 4.],
       [12.],
       [ 0.],
       [ 0.],
       [ 8.],
       [ 8.],
       [ 0.],
       [ 0.],
       [ 5.],
       [ 8.],
       [ 0.],
       [ 0.],
       [ 9.],
       [ 8.],
       [ 0.],
       [ 0.],
       [ 4.],
       [11.],
       [ 0.],
       [ 1.],
       [12.],
       [ 7.],
       [ 0.],
       [ 0.],
       [ 2.],
       [14.],
       [ 5.],
       [10.],
       [12.],
       [ 0.],
       [ 0.],
       [ 0.],
       [ 0.],
       [ 6.],
       [13.],
       [10.],
       [ 0.],
       [ 0.],
       [ 0.]])";

/// `images`: seed 004, lines 337-343.
const IMAGES: &str = "\
array([[ 0.,  0.,  5., ...,  0.,  0.,  0.],
       [ 0.,  0.,  0., ..., 10.,  0.,  0.],
       [ 0.,  0.,  0., ..., 16.,  9.,  0.],
       ...,
       [ 0.,  0.,  1., ...,  6.,  0.,  0.],
       [ 0.,  0.,  2., ..., 12.,  0.,  0.],
       [ 0.,  0., 10., ..., 12.,  1.,  0.]])";

/// `images.T`: seed 004, lines 356-362.
const IMAGES_T: &str = "\
array([[ 0.,  0.,  0., ...,  0.,  0.,  0.],
       [ 0.,  0.,  0., ...,  0.,  0.,  0.],
       [ 5.,  0.,  0., ...,  1.,  2., 10.],
       ...,
       [ 0., 10., 16., ...,  6., 12., 12.],
       [ 0.,  0.,  9., ...,  0.,  0.,  1.],
       [ 0.,  0.,  0., ...,  0.,  0.,  0.]])";

/// `w_1[:10]`: seed 004, lines 383-392.
const W_1_FIRST_TEN: &str = "\
array([[-0.02509198],
       [ 0.09014286],
       [ 0.04639879],
       [ 0.0197317 ],
       [-0.06879627],
       [-0.0688011 ],
       [-0.08838328],
       [ 0.07323523],
       [ 0.020223  ],
       [ 0.04161452]])";

/// `images.T[-5:]`: seed 004, lines 410-414.
const IMAGES_T_LAST_FIVE: &str = "\
array([[13., 11.,  3., ...,  9., 12., 12.],
       [10., 16., 11., ..., 13., 16., 14.],
       [ 0., 10., 16., ...,  6., 12., 12.],
       [ 0.,  0.,  9., ...,  0.,  0.,  1.],
       [ 0.,  0.,  0., ...,  0.,  0.,  0.]])";

/// `w_1.T.dot(images.T)`: seed 004, lines 428-429.
const Z_1_ONE_NEURON: &str = "\
array([[-1.11477398,  2.00446732,  1.57488402, ...,  1.02274619,
        -2.65746847, -1.01276836]])";

/// `a_1 = sigmoid(z_1); a_1`: seed 004, lines 460-461.
const A_1_ONE_NEURON: &str = "\
array([[0.24698194, 0.88126532, 0.82847875, ..., 0.73550718, 0.06553018,
        0.26643843]])";

/// `np.random.seed(42); w_1 = np.random.uniform(-.1,.1, (64,4)); w_1`: seed 004, lines 488-551.
const W_1_FOUR_NEURONS: &str = "\
array([[-0.02509198,  0.09014286,  0.04639879,  0.0197317 ],
       [-0.06879627, -0.0688011 , -0.08838328,  0.07323523],
       [ 0.020223  ,  0.04161452, -0.0958831 ,  0.09398197],
       [ 0.06648853, -0.05753218, -0.06363501, -0.0633191 ],
       [-0.03915155,  0.00495129, -0.013611  , -0.04175417],
       [ 0.02237058, -0.07210123, -0.04157107, -0.02672763],
       [-0.008786  ,  0.05703519, -0.06006524,  0.00284689],
       [ 0.01848291, -0.09070992,  0.02150897, -0.06589518],
       [-0.08698968,  0.08977711,  0.09312641,  0.06167947],
       [-0.03907725, -0.08046558,  0.03684661, -0.0119695 ],
       [-0.07559235, -0.00096462, -0.0931223 ,  0.08186408],
       [-0.048244  ,  0.03250446, -0.03765778,  0.0040136 ],
       [ 0.00934206, -0.06302911,  0.09391693,  0.05502656],
       [ 0.08789979,  0.07896547,  0.01958   ,  0.08437485],
       [-0.0823015 , -0.06080343, -0.09095454, -0.03493393],
       [-0.02226454, -0.04573019,  0.0657475 , -0.02864933],
       [-0.0438131 ,  0.00853922, -0.07181516,  0.0604394 ],
       [-0.08508987,  0.09737739,  0.05444895, -0.06025686],
       [-0.09889558,  0.06309229,  0.04137147,  0.04580143],
       [ 0.05425407, -0.08519107, -0.02830685, -0.07682619],
       [ 0.07262069,  0.02465963, -0.0338204 , -0.08728833],
       [-0.03780354, -0.03496334,  0.04592124,  0.02751149],
       [ 0.07744255, -0.00555701, -0.07608115,  0.04264896],
       [ 0.05215701,  0.01225544,  0.05419344, -0.00124088],
       [ 0.00454657, -0.0144918 , -0.09491617, -0.07842171],
       [-0.09371416,  0.02728208, -0.0371288 ,  0.00171414],
       [ 0.08151329, -0.05014155, -0.01792342,  0.05111023],
       [-0.05424037, -0.08460402, -0.04204971, -0.06775574],
       [ 0.08593953,  0.06162408,  0.02668075,  0.07429212],
       [ 0.06073442, -0.06268599,  0.0785118 ,  0.00786845],
       [ 0.06148803,  0.07921826, -0.03639931, -0.07798962],
       [-0.05441297, -0.01457844,  0.06360295,  0.07214612],
       [-0.09860957,  0.00214946, -0.0165178 , -0.05557844],
       [-0.07602693, -0.03247697,  0.08858194, -0.03535941],
       [ 0.00375812,  0.04060379, -0.02727408,  0.09435642],
       [ 0.09248946, -0.04964354, -0.0005503 , -0.03982434],
       [-0.0430319 , -0.09262261,  0.02191287,  0.0005358 ],
       [-0.08970425, -0.04427071,  0.08165318, -0.05208762],
       [-0.07102103, -0.00210945,  0.09713009, -0.05158895],
       [ 0.03442711,  0.05232392, -0.05247249,  0.04564327],
       [-0.02644337,  0.02646117,  0.02670594,  0.00715494],
       [-0.08194205,  0.0670605 , -0.03584399, -0.0626963 ],
       [-0.09184497,  0.01817859,  0.03551287, -0.09668243],
       [ 0.00241861, -0.05470084,  0.02903456, -0.06512671],
       [ 0.03818755, -0.02265293,  0.087346  , -0.07249581],
       [-0.03178673, -0.0773053 ,  0.08493872,  0.07546787],
       [-0.04841167,  0.03199681,  0.06344444,  0.01104016],
       [ 0.00593012, -0.05162954, -0.08137945,  0.07944315],
       [ 0.08008361,  0.02662029, -0.03219404, -0.03015809],
       [ 0.04519114,  0.07942205,  0.07741728,  0.05597511],
       [ 0.02840633, -0.08317201, -0.06767426,  0.07971084],
       [ 0.02128581, -0.09816059, -0.07970569,  0.03270035],
       [-0.09898768, -0.06783839,  0.00974676,  0.03837904],
       [ 0.03039225, -0.05514614,  0.04243584, -0.05255018],
       [-0.03492006,  0.04929828,  0.02992658,  0.06984468],
       [ 0.03152258,  0.01366172, -0.08126505, -0.02645684],
       [-0.04695953, -0.05120207,  0.09460211, -0.02138046],
       [ 0.07840931,  0.02622773,  0.05896226,  0.00052742],
       [ 0.01538078, -0.00149646, -0.0609514 ,  0.04449042],
       [-0.04384553, -0.09513681,  0.02909446, -0.06457786],
       [ 0.08809172,  0.09078572,  0.08297288, -0.02596826],
       [-0.09690868,  0.08566371, -0.01436317,  0.09333096],
       [ 0.092724  ,  0.07060189, -0.04111022, -0.02298045],
       [ 0.07022733, -0.0366156 , -0.06610145,  0.01136025]])";

/// `a_1 = sigmoid(z_1+b_1); a_1`: seed 004, lines 569-576.
const A_1_FOUR_NEURONS: &str = "\
array([[3.59462173e-02, 9.63628877e-01, 4.77342989e-01, ...,
        2.76159105e-01, 2.46262672e-01, 7.26458363e-02],
       [3.73693562e-02, 1.59409117e-04, 9.45090648e-03, ...,
        3.81072071e-05, 2.60076382e-03, 1.01253415e-03],
       [8.72297692e-01, 9.22069900e-01, 8.73739041e-01, ...,
        8.88422698e-01, 9.89890473e-01, 8.77486074e-01],
       [9.35265146e-01, 5.08299415e-02, 6.53151747e-01, ...,
        2.79547157e-01, 9.79695284e-01, 9.03811215e-01]])";

/// `y_true`: seed 004, lines 678-678.
const Y_TRUE: &str = "\
array([1, 0, 1, ..., 1, 0, 1])";

// ----- reading the printed arrays ---------------------------------------------------------------

/// The numbers of a printed array in printed order (a summary's `...` skipped), each with the
/// tolerance its printing allows: NumPy rounds to 8 decimals (`0.0197317` is `0.01973170`), or to
/// 8 decimals of the mantissa in scientific notation; `13.` is a whole number.
fn printed_numbers(text: &str) -> Vec<(f64, f64)> {
    text.split(|c: char| !(c.is_ascii_digit() || ".-+e".contains(c)))
        .filter_map(|token| {
            let value: f64 = token.parse().ok()?;
            let (mantissa, exp) = match token.split_once('e') {
                Some((m, e)) => (m, e.parse::<i32>().expect("exponent")),
                None => (token, 0),
            };
            let decimals = mantissa.split_once('.').map_or(0, |(_, f)| f.len());
            let tol = if decimals == 0 && exp == 0 {
                0.0
            } else {
                0.5e-8 * 10f64.powi(exp)
            };
            Some((value, tol))
        })
        .collect()
}

/// The indices NumPy shows along an axis of `n` items: all, or the first and last 3 of a
/// summarised array.
fn shown(n: usize, summarised: bool) -> Vec<usize> {
    if summarised && n > 6 {
        vec![0, 1, 2, n - 3, n - 2, n - 1]
    } else {
        (0..n).collect()
    }
}

/// The entries NumPy shows of `m` (more than 1000 entries are summarised), in row-major order.
fn shown_values(m: &Matrix<f64>) -> Vec<f64> {
    let summarised = m.len() > 1000;
    let cols = shown(m.ncols(), summarised);
    shown(m.nrows(), summarised)
        .into_iter()
        .flat_map(|r| cols.iter().map(move |&c| m[(r, c)]))
        .collect()
}

/// Every number printed in `golden` equals the matching entry of `m` to the printed precision.
fn assert_printed(what: &str, golden: &str, m: &Matrix<f64>) {
    let printed = printed_numbers(golden);
    let ours = shown_values(m);
    assert_eq!(printed.len(), ours.len(), "{what}: numbers printed");
    for (k, ((g, tol), v)) in printed.iter().zip(&ours).enumerate() {
        assert!(
            (v - g).abs() <= tol * (1.0 + 1e-9),
            "{what}, number {k}: {v} is not the printed {g} (to within {tol})"
        );
    }
}

// ----- snippet 12: the sigmoid neuron and forward propagation -----------------------------------

/// `np.random.seed(42); np.random.uniform(-.1, .1, (rows, cols))`.
fn seeded_uniform(rows: usize, cols: usize) -> Matrix<f64> {
    uniform(&mut NumpyRng::new(SEED), -0.1, 0.1, rows, cols)
}

/// `z_1 = w_1.T.dot(images.T) + b_1` with `b_1 = 0`, by a `Dense` layer in a `Sequential`; rows
/// are samples, so this is the notebook's `z_1.T`.
fn z_1(images: &Matrix<f64>, w_1: &Matrix<f64>) -> Matrix<f64> {
    let b_1 = Matrix::zeros(1, w_1.ncols());
    let layer = Dense::from_weights(w_1.clone(), Some(b_1)).unwrap();
    let model = Sequential::builder(64).add(layer).build().unwrap();
    model.predict(images).unwrap()
}

/// `sigmoid(z)` by the crate's `Sigmoid`.
fn sigmoid(z: &Matrix<f64>) -> Matrix<f64> {
    let mut a = z.clone();
    Sigmoid.forward(a.as_view_mut());
    a
}

#[test]
fn digits_are_the_arrays_the_notebook_prints() {
    let (images, _) = digits_data().unwrap();
    let eight_by_eight_image = Matrix::from_row_slice(8, 8, images.row(0).transpose().as_slice());
    assert_printed(
        "eight_by_eight_image",
        EIGHT_BY_EIGHT_IMAGE,
        &eight_by_eight_image,
    );
    assert_printed(
        "reshape(-1,1)",
        RESHAPED,
        &Matrix::from_column_slice(64, 1, images.row(0).transpose().as_slice()),
    );
    assert_printed("images", IMAGES, &images);
    assert_printed("images.T", IMAGES_T, &images.transpose());
    assert_printed(
        "images.T[-5:]",
        IMAGES_T_LAST_FIVE,
        &images.columns(59, 5).transpose(),
    );
}

#[test]
fn numpy_generator_draws_the_notebooks_weights() {
    // np.random.seed(42); w_1 = np.random.uniform(-.1,.1,64).reshape(-1,1); w_1[:10]
    let w_1 = seeded_uniform(64, 1);
    assert_printed("w_1[:10]", W_1_FIRST_TEN, &w_1.rows(0, 10).into_owned());
    // np.random.seed(42); w_1 = np.random.uniform(-.1,.1, (64,4)): row-major order, so its first
    // column is not the 64 draws above.
    let w_1 = seeded_uniform(64, 4);
    assert_printed("w_1 (64x4)", W_1_FOUR_NEURONS, &w_1);
    // w_2 = np.random.uniform(-.1,.1,(4,1)) after seeding 42 again: the first four draws.
    let w_2 = seeded_uniform(4, 1);
    assert_eq!(w_2.as_slice(), w_1.row(0).transpose().as_slice());
}

#[test]
fn one_sigmoid_neuron_gives_the_printed_z_1_and_a_1() {
    let (images, _) = digits_data().unwrap();
    let z_1 = z_1(&images, &seeded_uniform(64, 1));
    assert_printed("w_1.T.dot(images.T)", Z_1_ONE_NEURON, &z_1.transpose());
    assert_printed(
        "a_1 = sigmoid(z_1)",
        A_1_ONE_NEURON,
        &sigmoid(&z_1).transpose(),
    );
}

#[test]
fn four_sigmoid_neurons_give_the_printed_a_1() {
    let (images, _) = digits_data().unwrap();
    let z_1 = z_1(&images, &seeded_uniform(64, 4));
    // z_1.shape prints (4, 1797) (004, line 694): the crate's z_1 is its transpose.
    assert_eq!(z_1.transpose().shape(), (4, 1797));
    // a_1 = sigmoid(z_1 + b_1) with b_1 = np.zeros((4, 1)).
    assert_printed(
        "a_1 (4 neurons)",
        A_1_FOUR_NEURONS,
        &sigmoid(&z_1).transpose(),
    );
}

#[test]
fn even_odd_target_is_the_printed_y_true() {
    let (_, target) = digits_data().unwrap();
    let y_true = even(&target);
    let printed: Vec<i64> = printed_numbers(Y_TRUE)
        .iter()
        .map(|(v, _)| *v as i64)
        .collect();
    assert_eq!(printed, [1, 0, 1, 1, 0, 1]);
    let n = y_true.len();
    assert_eq!(
        [
            y_true[0],
            y_true[1],
            y_true[2],
            y_true[n - 3],
            y_true[n - 2],
            y_true[n - 1]
        ],
        printed[..]
    );
}

#[test]
fn sigmoid_output_fed_z_1_counts_137_as_printed() {
    let (images, _) = digits_data().unwrap();
    let (w_1, b_1) = (seeded_uniform(64, 4), Matrix::zeros(1, 4));
    let (w_2, beta_2) = (seeded_uniform(4, 1), Matrix::zeros(1, 1));
    let network = |hidden: Dense<f64>| {
        Sequential::builder(64)
            .add(hidden)
            .add(
                Dense::from_weights(w_2.clone(), Some(beta_2.clone()))
                    .unwrap()
                    .with_activation(Sigmoid),
            )
            .build()
            .unwrap()
    };
    // As written: z_2 = w_2.T.dot(z_1), the hidden layer without its sigmoid.
    let hidden = Dense::from_weights(w_1.clone(), Some(b_1.clone())).unwrap();
    let a_2 = network(hidden).predict(&images).unwrap();
    let y_hat_sum = a_2.iter().filter(|&&a| a > 0.5).count();
    assert_eq!(y_hat_sum, 137); // y_hat.sum(), 004 line 719
    // No output sits so close to 0.5 that rounding could flip the count: |z_2| > 1e-4 (numpy's
    // smallest |z_2| is 1.59e-4).
    assert!(a_2.iter().all(|&a| (a - 0.5).abs() > 2e-5));

    // With a_1 fed forward, as the text intends: 1678 (numpy, script at the top).
    let hidden = Dense::from_weights(w_1, Some(b_1))
        .unwrap()
        .with_activation(Sigmoid);
    let a_2 = network(hidden).predict(&images).unwrap();
    assert_eq!(a_2.iter().filter(|&&a| a > 0.5).count(), 1678);
}

#[test]
fn arrays_print_exactly_as_in_the_notebook() {
    let (images, target) = digits_data().unwrap();
    let eight_by_eight_image = Matrix::from_row_slice(8, 8, images.row(0).transpose().as_slice());
    let w_1 = seeded_uniform(64, 1);
    let z_1_one = z_1(&images, &w_1);
    let z_1_four = z_1(&images, &seeded_uniform(64, 4));
    let cases = [
        (array_repr(&eight_by_eight_image), EIGHT_BY_EIGHT_IMAGE),
        (array_repr(&images.row(0).transpose()), RESHAPED),
        (array_repr(&images), IMAGES),
        (array_repr(&images.transpose()), IMAGES_T),
        (array_repr(&w_1.rows(0, 10)), W_1_FIRST_TEN),
        (
            array_repr(&images.columns(59, 5).transpose()),
            IMAGES_T_LAST_FIVE,
        ),
        (array_repr(&z_1_one.transpose()), Z_1_ONE_NEURON),
        (array_repr(&sigmoid(&z_1_one).transpose()), A_1_ONE_NEURON),
        (array_repr(&seeded_uniform(64, 4)), W_1_FOUR_NEURONS),
        (
            array_repr(&sigmoid(&z_1_four).transpose()),
            A_1_FOUR_NEURONS,
        ),
        (int_array_repr_1d(&even(&target)), Y_TRUE),
    ];
    for (ours, printed) in cases {
        assert_eq!(ours, printed);
    }
}

// ----- snippet 11: the perceptron ----------------------------------------------------------------

/// The model's outputs for the four rows of a truth table.
fn outputs(model: &mut Sequential<f64>) -> Vec<f64> {
    model.predict(&gate_inputs()).unwrap().as_slice().to_vec()
}

#[test]
fn perceptron_rule_learns_and_and_or() {
    for (name, gate) in [("AND", AND), ("OR", OR)] {
        let mut model = perceptron().unwrap();
        let mistakes = train_perceptron(&mut model, &gate_inputs(), &gate_goal(gate), 100).unwrap();
        assert_eq!(mistakes.last(), Some(&0), "{name}: {mistakes:?}");
        assert_eq!(outputs(&mut model), gate, "{name}");
    }
}

#[test]
fn perceptron_rule_cannot_learn_xor() {
    let mut model = perceptron().unwrap();
    let mistakes = train_perceptron(&mut model, &gate_inputs(), &gate_goal(XOR), 100).unwrap();
    assert_eq!(mistakes.len(), 100);
    assert!(mistakes.iter().all(|&m| m > 0), "{mistakes:?}");
    // No weights do better than 3 of 4: w.x + b > 0 at (0,1) and (1,0) but not at (0,0) means
    // w1 + b > 0, w2 + b > 0, b <= 0, so w1 + w2 + b > 0 and (1,1) fires too.
    let right = outputs(&mut model)
        .iter()
        .zip(XOR)
        .filter(|(o, y)| **o == *y)
        .count();
    assert!(right <= 3);
}

#[test]
fn perceptron_rule_is_rosenblatts_update() {
    // From w = 0, b = 0 the row (1, 1) with goal 1 does not fire (0 > 0 is false), so one step
    // of w += alpha (y - y_hat) x, b += alpha (y - y_hat) gives w = (alpha, alpha), b = alpha.
    let mut model = perceptron().unwrap();
    let x = Matrix::from_row_slice(1, 2, &[1.0, 1.0]);
    let y = Matrix::from_element(1, 1, 1.0);
    model
        .step(&x, &y, &mut Sgd::new(PERCEPTRON_ALPHA).unwrap())
        .unwrap();
    assert_eq!(model.weights(0).unwrap().as_slice(), [PERCEPTRON_ALPHA; 2]);
    assert_eq!(model.param(0, "bias").unwrap()[(0, 0)], PERCEPTRON_ALPHA);
    // A row it already gets right changes nothing.
    let before = model.weights(0).unwrap().clone();
    model
        .step(&x, &y, &mut Sgd::new(PERCEPTRON_ALPHA).unwrap())
        .unwrap();
    assert_eq!(model.weights(0).unwrap(), &before);
}

#[test]
fn perceptron_rule_rejects_targets_other_than_0_and_1() {
    let mut model = perceptron().unwrap();
    let y = Matrix::from_column_slice(4, 1, &[0.0, 1.0, 0.5, 1.0]);
    let err = model
        .fit(
            &gate_inputs(),
            &y,
            &mut Sgd::new(0.1).unwrap(),
            &Fit::new(1),
        )
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidTarget { row: 2, col: 0, .. }),
        "{err}"
    );
}

#[test]
fn gradient_descent_through_a_step_gets_a_zero_weight_delta() {
    let mut model = Sequential::builder(2)
        .init(Constant(0.5))
        .dense(1, Step)
        .loss(Mse)
        .build()
        .unwrap();
    model.forward(&gate_inputs()).unwrap();
    let loss = model.backward(&gate_goal(AND)).unwrap();
    assert!(loss > 0.0); // (0,1) and (1,0) fire wrongly, yet
    assert!(model.weight_delta(0).unwrap().iter().all(|&g| g == 0.0));
    assert!(model.grad(0, "bias").unwrap().iter().all(|&g| g == 0.0));
}

#[test]
fn three_layer_network_learns_xor() {
    let mut model = xor_network().unwrap();
    let (x, y) = (gate_inputs(), gate_goal(XOR));
    let mut sgd = Sgd::new(XOR_ALPHA).unwrap();
    let history = model
        .fit(&x, &y, &mut sgd, &Fit::new(XOR_EPOCHS).full())
        .unwrap();
    assert!(
        history.loss.last().unwrap() < &0.05,
        "{:?}",
        history.loss.last()
    );
    let fired: Vec<f64> = outputs(&mut model)
        .iter()
        .map(|&o| f64::from(o > 0.5))
        .collect();
    assert_eq!(fired, XOR);
}

// ----- snippet 13: softmax and the three losses on the digits ------------------------------------

/// `(first epoch's loss, last epoch's loss)` and the trained model.
fn trained(
    outputs: usize,
    f: impl Activation<f64>,
    loss: impl Loss<f64>,
    x: &Matrix<f64>,
    y: &Matrix<f64>,
) -> (Sequential<f64>, f64, f64) {
    let mut model = digits_network(outputs, f, loss).unwrap();
    let losses = train_digits(&mut model, x, y).unwrap();
    assert_eq!(losses.len(), EPOCHS);
    (model, losses[0], losses[EPOCHS - 1])
}

#[test]
fn split_keeps_each_digits_share() {
    let split = digits_split(SEED).unwrap();
    assert_eq!((split.train.len(), split.test.len()), (1438, 359));
    // 178 zeros in the whole set: round(0.2 * 178) = 36 of them in the test set.
    let zeros = argmax_rows(split.test.targets())
        .iter()
        .filter(|&&l| l == 0)
        .count();
    assert_eq!(zeros, 36);
}

#[test]
fn softmax_network_with_categorical_cross_entropy_beats_95_percent() {
    let split = digits_split(SEED).unwrap();
    let (x, y) = (split.train.inputs(), split.train.targets());
    let (model, first, last) = trained(10, Softmax, CategoricalCrossEntropy, x, y);
    assert!(last < first / 10.0, "loss {first} -> {last}");
    let probabilities = model.predict(split.test.inputs()).unwrap();
    for row in probabilities.row_iter() {
        assert!((row.sum() - 1.0).abs() < 1e-12);
    }
    let predicted = argmax_rows(&probabilities);
    let goal = argmax_rows(split.test.targets());
    let right = predicted.iter().zip(&goal).filter(|(p, g)| p == g).count();
    let accuracy = right as f64 / goal.len() as f64;
    assert!(accuracy > 0.95, "test accuracy {accuracy}");
}

#[test]
fn sigmoid_network_with_binary_cross_entropy_learns_even_or_odd() {
    let split = digits_split(SEED).unwrap();
    let even = |targets: &Matrix<f64>| {
        let labels = argmax_rows(targets);
        Matrix::from_iterator(
            labels.len(),
            1,
            labels.iter().map(|&l| f64::from(l % 2 == 0)),
        )
    };
    let (y_train, y_test) = (even(split.train.targets()), even(split.test.targets()));
    let (model, first, last) = trained(
        1,
        Sigmoid,
        BinaryCrossEntropy,
        split.train.inputs(),
        &y_train,
    );
    assert!(last < first / 5.0, "loss {first} -> {last}");
    let a_2 = model.predict(split.test.inputs()).unwrap();
    let right = a_2
        .iter()
        .zip(y_test.iter())
        .filter(|(a, y)| f64::from(**a > 0.5) == **y)
        .count();
    let accuracy = right as f64 / y_test.len() as f64;
    assert!(accuracy > 0.9, "test accuracy {accuracy}");
}

#[test]
fn linear_network_with_mse_regresses_the_digit_value() {
    let split = digits_split(SEED).unwrap();
    let value = |targets: &Matrix<f64>| {
        let labels = argmax_rows(targets);
        Matrix::from_iterator(labels.len(), 1, labels.iter().map(|&l| l as f64 / 9.0))
    };
    let (y_train, y_test) = (value(split.train.targets()), value(split.test.targets()));
    let (model, first, last) = trained(1, Identity, Mse, split.train.inputs(), &y_train);
    assert!(last < first / 5.0, "loss {first} -> {last}");
    // Far better than always guessing the training mean.
    let mean = y_train.mean();
    let baseline = y_test.iter().map(|y| (y - mean).powi(2)).sum::<f64>() / y_test.len() as f64;
    let mse = model.evaluate(split.test.inputs(), &y_test).unwrap();
    assert!(mse < baseline / 2.0, "test mse {mse}, baseline {baseline}");
}

// ----- snippet 14: activation functions and the vanishing gradient -------------------------------

/// Closed forms written out here, apart from the crate: the notebook's
/// `1/(1+math.e**(-z))` and `(np.exp(X) - np.exp(-X)) / (np.exp(X) + np.exp(-X))`, and the
/// derivatives as functions of `z` (the crate takes them from the output).
fn closed_form(name: &str, z: f64) -> (f64, f64) {
    match name {
        "step" => (f64::from(z > 0.0), 0.0),
        "sigmoid" => (
            1.0 / (1.0 + (-z).exp()),
            (-z).exp() / (1.0 + (-z).exp()).powi(2),
        ),
        "tanh" => (
            (z.exp() - (-z).exp()) / (z.exp() + (-z).exp()),
            1.0 / z.cosh().powi(2),
        ),
        "relu" => (z.max(0.0), f64::from(z > 0.0)),
        other => panic!("no closed form for {other}"),
    }
}

#[test]
fn activation_table_matches_closed_forms() {
    let z = [-10.0, -5.0, -2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 5.0, 10.0];
    let names: Vec<_> = notebook_activations().iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["step", "sigmoid", "tanh", "relu"]);
    for (name, f) in notebook_activations() {
        let (value, slope) = values_and_slopes(f.as_ref(), &z);
        for (i, &zi) in z.iter().enumerate() {
            let (v, s) = closed_form(name, zi);
            assert!(
                (value[i] - v).abs() <= 1e-12 * v.abs().max(1e-3),
                "{name}({zi}) = {}, not {v}",
                value[i]
            );
            assert!(
                (slope[i] - s).abs() <= 1e-9 * s.abs().max(1e-6),
                "{name}'({zi}) = {}, not {s}",
                slope[i]
            );
        }
    }
    // The notebook's points: the sigmoid's slope is at most 1/4, and flat for large |z|.
    let (_, slope) = values_and_slopes(&Sigmoid, &z);
    assert_eq!(slope[5], 0.25);
    assert!(slope[0] < 1e-4 && slope[10] < 1e-4);
}

#[test]
fn linspace_is_numpys() {
    let z = linspace(-10.0, 10.0, 1000);
    assert_eq!((z[0], z[999]), (-10.0, 10.0));
    // numpy: np.linspace(-10, 10, 1000)[3] and [500]
    assert_eq!(z[3], -9.93993993993994);
    assert_eq!(z[500], 0.010010010010010006);
}

#[test]
fn sigmoid_gradient_vanishes_through_depth_and_relu_keeps_it() {
    // Independently: through layers z_i = w a_{i-1} (a_{-1} = x), a_i = f(z_i), the delta at the
    // first layer is the last layer's times w f'(z_i) for every layer but the last.
    let expected = |f_and_slope: fn(f64) -> (f64, f64), n: usize, w: f64, x: f64| {
        let (mut a, mut ratio) = (x, 1.0);
        for i in 0..n {
            let (next, slope) = f_and_slope(w * a);
            if i + 1 < n {
                ratio *= w * slope;
            }
            a = next;
        }
        ratio
    };
    let sigmoid = |z: f64| closed_form("sigmoid", z);
    let tanh = |z: f64| closed_form("tanh", z);
    for n in [1, 2, 3, 5, 10, 20] {
        for w in [1.0, 5.0] {
            let ours = reaches_first_layer(Sigmoid, n, w, 1.0).unwrap();
            let want = expected(sigmoid, n, w, 1.0);
            assert!(
                (ours - want).abs() <= 1e-10 * want,
                "sigmoid n={n} w={w}: {ours} vs {want}"
            );
        }
        let ours = reaches_first_layer(Tanh, n, 1.0, 1.0).unwrap();
        let want = expected(tanh, n, 1.0, 1.0);
        assert!(
            (ours - want).abs() <= 1e-10 * want,
            "tanh n={n}: {ours} vs {want}"
        );
        // sigmoid' <= 1/4: at most (1/4)^(n-1) gets through with weights of 1.
        assert!(reaches_first_layer(Sigmoid, n, 1.0, 1.0).unwrap() <= 0.25_f64.powi(n as i32 - 1));
        assert_eq!(reaches_first_layer(Relu, n, 1.0, 1.0).unwrap(), 1.0);
    }
    assert!(reaches_first_layer(Sigmoid, 10, 1.0, 1.0).unwrap() < 1e-5);
}
