//! The book, line by line: chapter 6's numpy code in this crate, the examples that reproduce every
//! printed number, and the two printers that make the output look like the book's.
//!
//! # From numpy to `backprop`
//!
//! The chapter's programs keep every value in a named numpy array and write each step by hand. A
//! [`Sequential`](crate::Sequential) model runs the same steps and keeps the same values, so each
//! line has a counterpart you can call or read:
//!
//! | the book (numpy) | `backprop` |
//! |---|---|
//! | `streetlights = np.array([[1, 0, 1], ...])`, `walk_vs_stop = ...` | [`let (streetlights, walk_vs_stop) = book::streetlights()`](streetlights) (pages 103-108) or [`book::new_streetlights()`](new_streetlights) (pages 115-130) |
//! | `np.random.seed(1)` | [`Sequential::builder(3).seed(1)`](crate::SequentialBuilder::seed), or [`NumpyRng::new(1)`](crate::NumpyRng::new) |
//! | `2*np.random.random((3,4)) - 1` | [`.init(BookUniform)`](crate::BookUniform) then `.dense(4, ...)`; by hand `NumpyRng::random_matrix(3, 4)?.map(\|u\| 2.0 * u - 1.0)` |
//! | `weights = np.array([0.5, 0.48, -0.7])` | [`model.set_weights(0, Matrix::from_column_slice(3, 1, &[0.5, 0.48, -0.7]))`](crate::Sequential::set_weights) |
//! | `np.dot(layer_0, weights_0_1)` | a [`Dense`](crate::Dense) layer without bias: `.bias(false).dense(4, Identity)` |
//! | `relu(x)` = `(x > 0) * x` | [`Relu`](crate::Relu): `.dense(4, Relu)` |
//! | `relu2deriv(output)` = `output > 0` | [`Relu`](crate::Relu)'s [`backward`](crate::Activation::backward), applied by [`model.backward`](crate::Sequential::backward) from `layer_1` (the output), as the book does |
//! | `layer_0 = streetlights[i:i+1]` | `streetlights.rows(i, 1).into_owned()`; afterwards [`model.layer_output(0)`](crate::Sequential::layer_output) |
//! | `layer_1`, `layer_2` (forward pass) | [`model.forward(&layer_0)?`](crate::Sequential::forward) returns `layer_2`; `model.layer_output(1)`, `model.layer_output(2)` |
//! | `error = np.sum((layer_2 - goal) ** 2)` | [`SquaredError::sum_of_squares(&layer_2, &goal)`](crate::SquaredError::sum_of_squares) (the model's own loss is half of it, see [`SquaredError`](crate::SquaredError)) |
//! | `layer_2_delta = layer_2 - walk_vs_stop[i:i+1]` | the [`SquaredError`](crate::SquaredError) loss; after [`model.backward(&goal)?`](crate::Sequential::backward) read [`model.delta(1)`](crate::Sequential::delta) |
//! | `layer_2_delta.dot(weights_1_2.T)` | done inside [`Dense`](crate::Dense)'s backward pass; to see it before `relu2deriv`: `model.delta(1)? * model.weights(1)?.transpose()` |
//! | `layer_1_delta = ... * relu2deriv(layer_1)` | [`model.delta(0)`](crate::Sequential::delta) |
//! | `weight_delta_1_2 = layer_1.T.dot(layer_2_delta)` | [`model.weight_delta(1)`](crate::Sequential::weight_delta) (averaged over the rows of a batch) |
//! | `weights -= alpha * weight_delta` | [`Sgd::new(alpha)?`](crate::Sgd::new) and [`model.update(&mut sgd)?`](crate::Sequential::update) |
//! | all of the above for one row | [`model.step(&layer_0, &goal, &mut sgd)?`](crate::Sequential::step) |
//! | `for i in range(len(streetlights))` inside `for iteration in range(60)` | [`model.fit(&streetlights, &walk_vs_stop, &mut sgd, &Fit::new(60).stochastic())`](crate::Sequential::fit) |
//! | full / batch gradient descent (average `weight_delta` over rows) | [`Fit::new(n).full()`](crate::Fit::full), [`Fit::new(n).mini_batch(8)`](crate::Fit::mini_batch) |
//! | `print "Error:" + str(error)` (Python 2) | `println!("Error:{}", book::py2_str(error))` ([`py2_str`]) |
//! | `print(weights_0_1)`, a notebook cell showing `weights_0_1` | `println!("{}", book::array(&weights_0_1))`, `book::array(&weights_0_1).repr()` ([`array()`]) |
//!
//! One difference in bookkeeping: the book's printed `error` is `Σ (pred - goal)²`, while the
//! model's [`SquaredError`](crate::SquaredError) loss is `½ Σ (pred - goal)²` averaged over the rows,
//! whose gradient is exactly the book's `layer_2_delta = pred - goal` for one row. The examples
//! print the book's number with `SquaredError::sum_of_squares`.
//!
//! # The examples
//!
//! Each example runs next to one section of the chapter and prints what the book prints, in the
//! book's format (Python 2 printed floats with 12 significant digits: `Error:0.634231159844`).
//!
//! | example | book section (page) | what it shows | command |
//! |---|---|---|---|
//! | `ch06_01_streetlight_matrices` | Matrices and the Matrix Relationship; Creating a Matrix or Two in Python (pp. 103-106) | the streetlight data set, the dimmer matrix A and its multiples B = 10A, C = 20A, their shapes | `cargo run --example ch06_01_streetlight_matrices` |
//! | `ch06_02_learning_one_streetlight` | Building Our Neural Network (p. 107) | weights `[0.5, 0.48, -0.7]`, alpha 0.1, 20 iterations on one streetlight: error and prediction each time | `cargo run --example ch06_02_learning_one_streetlight` |
//! | `ch06_03_learning_the_whole_dataset` | Learning the whole dataset! (p. 108); Neural Networks Learn Correlation (p. 110) | stochastic gradient descent over the six streetlights, 40 iterations: `Error:2.6561231104` ... `Error:0.000533736773285`, and the final weights (middle light near 1) | `cargo run --example ch06_03_learning_the_whole_dataset` |
//! | `ch06_04_full_batch_stochastic` | Full / Batch / Stochastic Gradient Descent (p. 109) | the page-108 network trained by `fit` three ways side by side; the stochastic column repeats page 108 | `cargo run --example ch06_04_full_batch_stochastic` |
//! | `ch06_05_overfitting_and_conflicting_pressure` | Up and Down Pressure; Edge Case: Overfitting; Edge Case: Conflicting Pressure (pp. 111-115) | the weight pressure table, weights that fit one or two streetlights and fail the others, and the middle weight settling before the conflicted right weight shrinks | `cargo run --example ch06_05_overfitting_and_conflicting_pressure` |
//! | `ch06_06_hmkcode_two_layer_check` | study notebook, "Coding up a fully functional multilayered neural network" (hmkcode's backpropagation step by step) | a linear two-layer network, input `[2, 3]`, goal 1, alpha 0.05, two iterations, weights printed | `cargo run --example ch06_06_hmkcode_two_layer_check` |
//! | `ch06_07_first_deep_network` | Our First "Deep" Neural Network (p. 125) | the forward pass with seed 1 and 4 hidden units: `weights_0_1`, `weights_1_2`, `layer_1`, `layer_2`; and why the reading notes print other weights (the seed-1 stream drawn a second time) | `cargo run --example ch06_07_first_deep_network` |
//! | `ch06_08_one_iteration_of_backprop` | One Iteration of Backpropagation (pp. 128-129) | seed 1, 3 hidden units: `layer_0`, `layer_1`, `layer_2`, error, `layer_2_delta`, `layer_1_delta` before and after `relu2deriv`, weight deltas, updated weights | `cargo run --example ch06_08_one_iteration_of_backprop` |
//! | `ch06_09_putting_it_all_together` | Putting it all together (p. 130) | the 3-layer ReLU network, 60 iterations: `Error:0.634231159844` ... `Error:1.50556226651e-05` | `cargo run --example ch06_09_putting_it_all_together` |
//! | `ch06_10_linear_vs_nonlinear` | Linear vs Non-Linear; Why The Neural Network Still Doesn't Work; The Secret to "Sometimes Correlation" (pp. 121-123) | two linear layers collapse to one; without ReLU the network cannot learn the 4-row streetlights, with ReLU it does | `cargo run --example ch06_10_linear_vs_nonlinear` |
//!
//! # The data and printing like the book
//!
//! [`streetlights`] and [`new_streetlights`] are the chapter's two data sets.
//!
//! [`py2_str`] formats a float as Python 2's `str()` did (`%.12g`, plus `.0` for whole numbers), so
//! `"Error:" + str(error)` reads the same. [`array()`] prints a matrix as numpy does, either as
//! `print(a)` shows it ([`Display`](std::fmt::Display)) or as a notebook cell shows it
//! ([`NpArray::repr`]).

use std::fmt;

use crate::{Float, Matrix, MatrixView};

/// The chapter's first data set (pages 103-106): six streetlights and whether people walked.
///
/// Returns `(streetlights, walk_vs_stop)`, one row per observation:
///
/// ```text
/// streetlights = np.array([[1, 0, 1], [0, 1, 1], [0, 0, 1], [1, 1, 1], [0, 1, 1], [1, 0, 1]])
/// walk_vs_stop = np.array([[0], [1], [0], [1], [1], [0]])          (1 = WALK, 0 = STOP)
/// ```
///
/// The middle light alone decides: a single weighted sum learns it (page 108).
///
/// ```
/// let (streetlights, walk_vs_stop) = backprop::book::streetlights::<f64>();
/// assert_eq!(streetlights.shape(), (6, 3));
/// assert_eq!(streetlights.column(1), walk_vs_stop.column(0));
/// ```
pub fn streetlights<T: Float>() -> (Matrix<T>, Matrix<T>) {
    let lights = [
        1., 0., 1., 0., 1., 1., 0., 0., 1., 1., 1., 1., 0., 1., 1., 1., 0., 1.,
    ];
    let walk = [0., 1., 0., 1., 1., 0.];
    (
        Matrix::from_row_slice(6, 3, &lights.map(T::of)),
        Matrix::from_column_slice(6, 1, &walk.map(T::of)),
    )
}

/// The chapter's second data set (pages 115-130): four streetlights that no single light explains.
///
/// Returns `(streetlights, walk_vs_stop)`:
///
/// ```text
/// streetlights = np.array([[1, 0, 1], [0, 1, 1], [0, 0, 1], [1, 1, 1]])
/// walk_vs_stop = np.array([[1, 1, 0, 0]]).T
/// ```
///
/// WALK when exactly one of the first two lights is on: a linear network cannot learn it, a
/// network with a ReLU hidden layer can (pages 121-130).
///
/// ```
/// let (streetlights, walk_vs_stop) = backprop::book::new_streetlights::<f64>();
/// assert_eq!((streetlights.shape(), walk_vs_stop.shape()), ((4, 3), (4, 1)));
/// ```
pub fn new_streetlights<T: Float>() -> (Matrix<T>, Matrix<T>) {
    let lights = [1., 0., 1., 0., 1., 1., 0., 0., 1., 1., 1., 1.];
    let walk = [1., 1., 0., 0.];
    (
        Matrix::from_row_slice(4, 3, &lights.map(T::of)),
        Matrix::from_column_slice(4, 1, &walk.map(T::of)),
    )
}

/// A float as Python 2's `str()` printed it: 12 significant digits (`%.12g`), and `.0` appended
/// to a whole number.
///
/// ```text
/// py2_str(x) = "%.12g" % x        (then "1" -> "1.0"; exponents as e-05, e+16)
/// ```
///
/// The book's programs ran on Python 2, so `print "Error:" + str(layer_2_error)` shows
/// 12 digits where Python 3 shows up to 17:
///
/// ```
/// use backprop::book::py2_str;
/// assert_eq!(py2_str(0.6342311598444467), "0.634231159844");   // page 130
/// assert_eq!(py2_str(1.5055622665134859e-05), "1.50556226651e-05");
/// assert_eq!(py2_str(0.03999999999999998), "0.04");
/// assert_eq!(py2_str(2.0), "2.0");
/// assert_eq!(py2_str(f64::NAN), "nan");
/// ```
pub fn py2_str<T: Float>(x: T) -> String {
    let x = x.as_f64();
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.into();
    }
    let s = format_g(x, 12);
    if s.contains(['.', 'e']) { s } else { s + ".0" }
}

/// C's `%.{precision}g`: the shorter of fixed and exponent notation, trailing zeros removed.
fn format_g(x: f64, precision: usize) -> String {
    // The exponent after rounding to `precision` significant digits decides the notation.
    let e_form = format!("{:.*e}", precision - 1, x);
    let (mantissa, exp) = e_form.split_once('e').expect("exponent form");
    let exp: i32 = exp.parse().expect("exponent");
    if exp < -4 || exp >= precision as i32 {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim_fraction(mantissa), exp.abs())
    } else {
        let decimals = (precision as i32 - 1 - exp) as usize;
        trim_fraction(&format!("{x:.decimals$}")).to_string()
    }
}

/// Removes trailing zeros of a fraction, and the point if nothing follows it.
fn trim_fraction(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// Starts printing a matrix as numpy prints an array; see [`NpArray`].
///
/// ```
/// use backprop::book;
/// use nalgebra::DMatrix;
///
/// let layer_1 = DMatrix::from_row_slice(1, 3, &[-0.0, 0.13177044, -0.0]);
/// assert_eq!(book::array(&layer_1).repr(), "array([[-0.        ,  0.13177044, -0.        ]])");
/// assert_eq!(book::array(&layer_1).to_string(), "[[-0.          0.13177044 -0.        ]]");
/// ```
pub fn array<'a, T: Float>(a: impl Into<MatrixView<'a, T>>) -> NpArray<'a, T> {
    NpArray {
        a: a.into(),
        vector: false,
        ints: false,
    }
}

/// A matrix printed as numpy prints a `float64` (or integer) array with its default options.
///
/// [`Display`](fmt::Display) gives what `print(a)` shows (`[[0.5 1. ]]`), [`repr`](NpArray::repr)
/// what a notebook cell shows (`array([[0.5, 1. ]])`). Numbers follow numpy's `maxprec` mode with
/// precision 8: each value with as few digits as identify it, at most 8 decimals, the columns
/// padded to a common width; scientific notation when a non-zero magnitude is below `1e-4`, at
/// least `1e8`, or the largest is over 1000 times the smallest.
///
/// ```
/// use backprop::book;
/// use nalgebra::DMatrix;
///
/// let weights_1_2 = DMatrix::from_column_slice(3, 1, &[0.07763346680836, -0.16161097, 0.370439]);
/// assert_eq!(
///     book::array(&weights_1_2).repr(),
///     "array([[ 0.07763347],\n       [-0.16161097],\n       [ 0.370439  ]])"
/// );
/// let layer_0 = DMatrix::from_row_slice(1, 3, &[1.0, 0.0, 1.0]);
/// assert_eq!(book::array(&layer_0).vector().ints().repr(), "array([1, 0, 1])");
/// let mse = DMatrix::from_element(1, 1, 4.4054335374336594e-05);
/// assert_eq!(book::array(&mse).vector().to_string(), "[4.40543354e-05]");
/// ```
///
/// Rows wider than numpy's 75-character lines are not wrapped, and large arrays are not
/// summarised with `...`: the chapter's arrays are small.
#[derive(Debug, Clone, Copy)]
pub struct NpArray<'a, T: Float> {
    a: MatrixView<'a, T>,
    vector: bool,
    ints: bool,
}

impl<T: Float> NpArray<'_, T> {
    /// Prints the entries, row after row, as a 1-D array, like the book's `streetlights[0]` or
    /// `np.array([0.5, 0.48, -0.7])`.
    pub fn vector(mut self) -> Self {
        self.vector = true;
        self
    }

    /// Prints the entries as an integer array (rounded to whole numbers), like the book's
    /// `streetlights`, which numpy holds as integers.
    pub fn ints(mut self) -> Self {
        self.ints = true;
        self
    }

    /// What a notebook cell shows for the array: `array([[...], [...]])`.
    pub fn repr(&self) -> String {
        if self.a.is_empty() {
            let dtype = if self.ints { "int64" } else { "float64" };
            return if self.vector {
                format!("array([], dtype={dtype})")
            } else {
                let (r, c) = self.a.shape();
                format!("array([], shape=({r}, {c}), dtype={dtype})")
            };
        }
        format!("array({})", self.layout(", ", ",\n       "))
    }

    /// The nested brackets, with `sep` between numbers and `row_sep` between rows.
    fn layout(&self, sep: &str, row_sep: &str) -> String {
        let (rows, cols) = self.a.shape();
        let values: Vec<f64> = (0..rows)
            .flat_map(|r| (0..cols).map(move |c| (r, c)))
            .map(|(r, c)| self.a[(r, c)].as_f64())
            .collect();
        let cells = if self.ints {
            int_cells(&values)
        } else {
            float_cells(&values)
        };
        if self.vector {
            return format!("[{}]", cells.join(sep));
        }
        let lines: Vec<String> = cells
            .chunks(cols)
            .map(|row| format!("[{}]", row.join(sep)))
            .collect();
        format!("[{}]", lines.join(row_sep))
    }
}

impl<T: Float> fmt::Display for NpArray<'_, T> {
    /// What `print(a)` shows: `[[a b]\n [c d]]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.a.is_empty() {
            return f.write_str("[]");
        }
        f.write_str(&self.layout(" ", "\n "))
    }
}

/// numpy's integer cells: right-aligned to the widest.
fn int_cells(values: &[f64]) -> Vec<String> {
    let strs: Vec<String> = values
        .iter()
        .map(|v| format!("{}", v.round() as i64))
        .collect();
    pad_cells(strs)
}

fn pad_cells(strs: Vec<String>) -> Vec<String> {
    let width = strs.iter().map(String::len).max().unwrap_or(0);
    strs.into_iter().map(|s| format!("{s:>width$}")).collect()
}

/// numpy's float cells (`maxprec`, precision 8): positional or scientific for the whole array.
fn float_cells(values: &[f64]) -> Vec<String> {
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    let magnitudes = finite.iter().map(|v| v.abs()).filter(|&v| v != 0.0);
    let (lo, hi) = magnitudes.fold((f64::INFINITY, 0.0_f64), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let scientific = hi > 0.0 && (hi >= 1e8 || lo < 1e-4 || hi / lo > 1e3);

    // Split each finite value into integer part (with sign), fraction and exponent.
    let parts: Vec<(String, String, Option<i32>)> = finite
        .iter()
        .map(|&v| {
            if scientific {
                let s = format!("{v:.8e}");
                let (m, e) = s.split_once('e').expect("exponent form");
                let (i, frac) = split_point(m);
                (
                    i,
                    frac.trim_end_matches('0').to_string(),
                    Some(e.parse().expect("exponent")),
                )
            } else {
                let (i, frac) = split_point(&format!("{v:.8}"));
                (i, frac.trim_end_matches('0').to_string(), None)
            }
        })
        .collect();
    let pad_left = parts.iter().map(|p| p.0.len()).max().unwrap_or(1);
    let pad_right = parts.iter().map(|p| p.1.len()).max().unwrap_or(0);
    let exp_digits = parts
        .iter()
        .filter_map(|p| p.2)
        .map(|e| e.unsigned_abs().to_string().len().max(2))
        .max()
        .unwrap_or(2);

    let mut cells = Vec::with_capacity(values.len());
    let mut next = parts.into_iter();
    for &v in values {
        if !v.is_finite() {
            cells.push(String::new()); // filled below, once the width is known
            continue;
        }
        let (int, frac, exp) = next.next().expect("one part per finite value");
        cells.push(match exp {
            // Scientific: the mantissa's fraction is padded with zeros, as numpy does.
            Some(e) => {
                let sign = if e < 0 { '-' } else { '+' };
                let e = e.unsigned_abs();
                format!("{int:>pad_left$}.{frac:0<pad_right$}e{sign}{e:0>exp_digits$}")
            }
            // Positional: the fraction is padded with spaces.
            None => format!("{int:>pad_left$}.{frac:<pad_right$}"),
        });
    }
    let width = cells.iter().map(String::len).max().unwrap_or(0).max(3);
    for (cell, &v) in cells.iter_mut().zip(values) {
        if !v.is_finite() {
            let s = if v.is_nan() {
                "nan"
            } else if v > 0.0 {
                "inf"
            } else {
                "-inf"
            };
            *cell = format!("{s:>width$}");
        }
    }
    cells
}

fn split_point(s: &str) -> (String, String) {
    match s.split_once('.') {
        Some((i, f)) => (i.to_string(), f.to_string()),
        None => (s.to_string(), String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::DMatrix;

    #[test]
    fn py2_str_switches_to_exponent_as_percent_g() {
        // Python 2.7: str(1e-05) == '1e-05', str(0.0001) == '0.0001', str(1e16) == '1e+16',
        // str(123456789012.0) == '123456789012.0', str(1234567890123.0) == '1.23456789012e+12',
        // str(-0.0) == '-0.0', str(0.1 + 0.2) == '0.3'.
        assert_eq!(py2_str(1e-5), "1e-05");
        assert_eq!(py2_str(0.0001), "0.0001");
        assert_eq!(py2_str(1e16), "1e+16");
        assert_eq!(py2_str(123456789012.0), "123456789012.0");
        assert_eq!(py2_str(1234567890123.0), "1.23456789012e+12");
        assert_eq!(py2_str(-0.0), "-0.0");
        assert_eq!(py2_str(0.1 + 0.2), "0.3");
        assert_eq!(py2_str(f64::NEG_INFINITY), "-inf");
        assert_eq!(py2_str(9.9999999999995), "10.0");
    }

    #[test]
    fn numpy_pads_mixed_signs_and_integers() {
        // numpy 2.x: repr(np.array([[9., 0., 10.], [2., 8., 10.]]))
        let b = DMatrix::from_row_slice(2, 3, &[9.0, 0.0, 10.0, 2.0, 8.0, 10.0]);
        assert_eq!(
            array(&b).repr(),
            "array([[ 9.,  0., 10.],\n       [ 2.,  8., 10.]])"
        );
        // print(np.array([0.5, 0.48, -0.7]))
        let w = DMatrix::from_row_slice(1, 3, &[0.5, 0.48, -0.7]);
        assert_eq!(array(&w).vector().to_string(), "[ 0.5   0.48 -0.7 ]");
        // repr(np.array([1e-5, 2.5e-5, np.nan]))
        let s = DMatrix::from_row_slice(1, 3, &[1e-5, 2.5e-5, f64::NAN]);
        assert_eq!(
            array(&s).vector().repr(),
            "array([1.0e-05, 2.5e-05,     nan])"
        );
        let e = DMatrix::<f64>::zeros(0, 3);
        assert_eq!(array(&e).repr(), "array([], shape=(0, 3), dtype=float64)");
    }
}
