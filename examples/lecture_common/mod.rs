//! What the lecture-notebook examples share (and their tests check): the perceptron's step
//! activation and learning rule, the notebook's seeded draws and data, the networks it talks
//! about, and NumPy-style printing.
//!
//! The lecture notebook is seed 004 of the crate's source documents; the examples are
//! `lecture_01_perceptron` to `lecture_04_activation_functions` and `activation_plots`.

// Each example uses a part of this module.
#![allow(dead_code)]

pub mod numpy;

use std::any::Any;

use backprop::data::{Dataset, digits};
use backprop::prelude::*;

// ----- the perceptron ------------------------------------------------------------------------

/// The perceptron's activation: `output = 1 if w . x + b > 0 else 0`.
///
/// ```text
/// step(z)       = 1 if z > 0 else 0
/// step2deriv(a) = 0          (the slope is 0 wherever it exists; at z = 0 it has none)
/// ```
///
/// Its `backward` is honest: it multiplies the delta by the slope, 0, so gradient descent through
/// a step learns nothing. That is the notebook's point: "the slope of the activation function is
/// zero in all places except when z = 0". The perceptron learns with its own rule instead,
/// [`PerceptronRule`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Step;

impl<T: Float> Activation<T> for Step {
    fn name(&self) -> &'static str {
        "Step"
    }
    fn forward(&self, mut z: MatrixViewMut<'_, T>) {
        // output = 1 if z > 0 else 0 (NaN does not fire)
        z.apply(|x| *x = if *x > T::zero() { T::one() } else { T::zero() });
    }
    fn backward(&self, _output: MatrixView<'_, T>, mut delta: MatrixViewMut<'_, T>) {
        // delta *= step2deriv(output) = 0
        delta.fill(T::zero());
    }
}

/// Rosenblatt's perceptron learning rule, given to a [`Sequential`] in the place of a loss.
///
/// ```text
/// w += alpha * (y - y_hat) * x        b += alpha * (y - y_hat)
/// ```
///
/// This is not the gradient of any loss through the step (whose slope is 0): it is the
/// perceptron's own update. It plugs into the crate where a loss meets its output activation:
/// with a [`Step`] output, [`Loss::fused_delta`] hands back `y_hat - y` as the output delta, so
/// the dense layer's `weight_delta = x.T . (y_hat - y)` and [`Sgd`]'s
/// `w -= alpha * weight_delta` is exactly the rule above (averaged over the rows of a batch).
///
/// Its value is [`Mse`]'s, `mean (y_hat - y)^2`, which for outputs and targets of 0 or 1 is the
/// error rate; [`Loss::gradient`] is [`Mse`]'s too, used only with an output other than [`Step`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PerceptronRule;

impl<T: Float> Loss<T> for PerceptronRule {
    fn name(&self) -> &'static str {
        "PerceptronRule"
    }
    fn check_targets(&self, outputs: usize, targets: MatrixView<'_, T>) -> Result<()> {
        // Width, finite values in [0, 1]; then only the ends of that range.
        BinaryCrossEntropy.check_targets(outputs, targets)?;
        for r in 0..targets.nrows() {
            for c in 0..targets.ncols() {
                let y = targets[(r, c)];
                if y != T::zero() && y != T::one() {
                    return Err(Error::InvalidTarget {
                        loss: "PerceptronRule",
                        row: r,
                        col: c,
                        value: y.as_f64(),
                        reason: "a perceptron's targets are 0 or 1",
                    });
                }
            }
        }
        Ok(())
    }
    fn loss(&self, pred: MatrixView<'_, T>, target: MatrixView<'_, T>) -> T {
        // mean (y_hat - y)^2: the error rate when both are 0 or 1
        Mse.loss(pred, target)
    }
    fn gradient(
        &self,
        pred: MatrixView<'_, T>,
        target: MatrixView<'_, T>,
        grad: MatrixViewMut<'_, T>,
    ) {
        Mse.gradient(pred, target, grad);
    }
    fn fuses_with(&self, activation: &dyn Activation<T>) -> bool {
        let activation: &dyn Any = activation;
        activation.is::<Step>()
    }
    fn fused_delta(
        &self,
        pred: MatrixView<'_, T>,
        target: MatrixView<'_, T>,
        mut delta: MatrixViewMut<'_, T>,
    ) {
        // delta = y_hat - y (over the batch size): the perceptron rule, not a gradient
        let inv = T::one() / T::of_usize(pred.len());
        delta.copy_from(&pred);
        delta.zip_apply(&target, |d, y| *d = (*d - y) * inv);
    }
}

/// The four rows of a two-input truth table: `x1, x2` in 0/1.
pub fn gate_inputs() -> Matrix<f64> {
    Matrix::from_row_slice(4, 2, &[0., 0., 0., 1., 1., 0., 1., 1.])
}

/// The outputs of AND, OR and XOR for the rows of [`gate_inputs`].
pub const AND: [f64; 4] = [0., 0., 0., 1.];
/// See [`AND`].
pub const OR: [f64; 4] = [0., 1., 1., 1.];
/// See [`AND`].
pub const XOR: [f64; 4] = [0., 1., 1., 0.];

/// A goal column from a truth table.
pub fn gate_goal(outputs: [f64; 4]) -> Matrix<f64> {
    Matrix::from_column_slice(4, 1, &outputs)
}

/// Learning rate of the perceptron rule.
pub const PERCEPTRON_ALPHA: f64 = 0.1;

/// One perceptron: two inputs, a weight each and a bias, all starting at 0, and a step output,
/// trained by the perceptron rule.
pub fn perceptron() -> Result<Sequential<f64>> {
    Sequential::builder(2)
        .init(Constant(0.0))
        .dense(1, Step)
        .loss(PerceptronRule)
        .build()
}

/// Runs the perceptron rule one row at a time, epoch after epoch, until an epoch makes no
/// mistake or `max_epochs` have passed; returns the mistakes made in each epoch.
pub fn train_perceptron(
    model: &mut Sequential<f64>,
    x: &Matrix<f64>,
    y: &Matrix<f64>,
    max_epochs: usize,
) -> Result<Vec<usize>> {
    let mut sgd = Sgd::new(PERCEPTRON_ALPHA)?;
    let mut mistakes = Vec::new();
    for _ in 0..max_epochs {
        // The epoch's loss is its error rate: the mean over the rows of (y_hat - y)^2.
        let history = model.fit(x, y, &mut sgd, &Fit::new(1).stochastic())?;
        let wrong = (history.loss[0] * x.nrows() as f64).round() as usize;
        mistakes.push(wrong);
        if wrong == 0 {
            break;
        }
    }
    Ok(mistakes)
}

/// The 3-layer network (input, hidden, output) that learns XOR: 2 inputs, 4 sigmoid neurons,
/// one sigmoid output, binary cross-entropy; weights drawn as the book does (seed 1, `2u - 1`).
pub fn xor_network() -> Result<Sequential<f64>> {
    Sequential::builder(2)
        .seed(1)
        .init(BookUniform)
        .dense(4, Sigmoid)
        .dense(1, Sigmoid)
        .loss(BinaryCrossEntropy)
        .build()
}

/// Epochs and learning rate that train [`xor_network`] (full-batch gradient descent).
pub const XOR_EPOCHS: usize = 2000;
/// See [`XOR_EPOCHS`].
pub const XOR_ALPHA: f64 = 1.0;

// ----- the notebook's seeded draws and the digits -----------------------------------------------

/// `np.random.uniform(lo, hi, (rows, cols))`: drawn one after another from NumPy's generator and
/// laid out in row-major (C) order, as NumPy fills an array.
pub fn uniform(rng: &mut NumpyRng, lo: f64, hi: f64, rows: usize, cols: usize) -> Matrix<f64> {
    let draws: Vec<f64> = (0..rows * cols).map(|_| rng.uniform(lo, hi)).collect();
    Matrix::from_row_slice(rows, cols, &draws)
}

/// The seed of every draw in the notebook: `np.random.seed(42)`.
pub const SEED: u32 = 42;

/// The notebook's `digits.data` (raw pixels 0 to 16, one image per row) and `digits.target`.
pub fn digits_data() -> Result<(Matrix<f64>, Vec<usize>)> {
    Ok(digits::<f64>()?.into_parts())
}

/// The notebook's even/odd target: `y_true = (digits.target % 2 == 0).astype(int)`.
pub fn even(labels: &[usize]) -> Vec<i64> {
    labels.iter().map(|&l| i64::from(l % 2 == 0)).collect()
}

/// The bundled digits (pixels scaled to `[0, 1]`), split 80/20 with each digit keeping its share
/// in both halves, the rows drawn from `NumpyRng::new(seed)`; targets one-hot.
pub struct DigitsSplit {
    /// Training images and one-hot targets.
    pub train: Dataset<f64>,
    /// Test images and one-hot targets.
    pub test: Dataset<f64>,
}

/// The fraction of the digits held out for testing.
pub const TEST_FRACTION: f64 = 0.2;

/// See [`DigitsSplit`].
pub fn digits_split(seed: u32) -> Result<DigitsSplit> {
    let digits = digits::<f64>()?;
    let data = digits.to_dataset_one_hot();
    let (train, test) =
        data.stratified_split(digits.labels(), TEST_FRACTION, &mut NumpyRng::new(seed))?;
    Ok(DigitsSplit { train, test })
}

/// Width of the hidden layer of the digits networks.
pub const HIDDEN: usize = 32;
/// Epochs, mini-batch size and learning rate of the digits networks.
pub const EPOCHS: usize = 30;
/// See [`EPOCHS`].
pub const BATCH: usize = 16;
/// See [`EPOCHS`].
pub const ALPHA: f64 = 0.1;

/// `64 -> HIDDEN (tanh) -> outputs (f)`, trained on `loss`, weights Glorot-uniform from seed 42.
pub fn digits_network(
    outputs: usize,
    f: impl Activation<f64>,
    loss: impl Loss<f64>,
) -> Result<Sequential<f64>> {
    Sequential::builder(64)
        .seed(SEED)
        .dense(HIDDEN, Tanh)
        .dense(outputs, f)
        .loss(loss)
        .build()
}

/// Trains a digits network with mini-batch gradient descent; returns the loss of each epoch.
pub fn train_digits(
    model: &mut Sequential<f64>,
    x: &Matrix<f64>,
    y: &Matrix<f64>,
) -> Result<Vec<f64>> {
    let mut sgd = Sgd::new(ALPHA)?;
    Ok(model
        .fit(x, y, &mut sgd, &Fit::new(EPOCHS).mini_batch(BATCH))?
        .loss)
}

/// The layers of a model in words: `64 -> Dense(32, Tanh) -> Dense(10, Softmax); loss ...`.
pub fn describe(model: &Sequential<f64>) -> String {
    let mut s = model.input_size().to_string();
    for i in 0..model.len() {
        let layer = model.layer(i).expect("index below len");
        let f = layer.activation().map_or("none", |f| f.name());
        s += &format!(" -> {}({}, {f})", layer.name(), layer.output_size());
    }
    s + &format!("; loss {}", model.loss_fn().name())
}

// ----- activation functions ---------------------------------------------------------------------

/// The activations the notebook draws, in its order.
pub fn notebook_activations() -> Vec<(&'static str, Box<dyn Activation<f64>>)> {
    vec![
        ("step", Box::new(Step)),
        ("sigmoid", Box::new(Sigmoid)),
        ("tanh", Box::new(Tanh)),
        ("relu", Box::new(Relu)),
    ]
}

/// `f(z)` and `f'(z)` at every `z`, through the activation's own `forward` and `backward` (one
/// sample per row; the slope is `backward` of a delta of 1, taken from the output).
pub fn values_and_slopes(f: &dyn Activation<f64>, z: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let mut a = Matrix::from_column_slice(z.len(), 1, z);
    f.forward(a.as_view_mut());
    let mut slope = Matrix::from_element(z.len(), 1, 1.0);
    f.backward(a.as_view(), slope.as_view_mut());
    (a.as_slice().to_vec(), slope.as_slice().to_vec())
}

/// `np.linspace(lo, hi, n)` for `n >= 2`: `lo + i * step`, the last point exactly `hi`.
pub fn linspace(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let step = (hi - lo) / (n - 1) as f64;
    (0..n)
        .map(|i| if i + 1 == n { hi } else { lo + i as f64 * step })
        .collect()
}

/// How much of the last layer's delta reaches the first layer of a chain of `n` one-neuron
/// layers with weight `w` and activation `f`, for the input `x`: `delta(0) / delta(n-1)`, read
/// from the model after one backward pass (the loss only scales both deltas; it must not be 0).
pub fn reaches_first_layer<A>(f: A, n: usize, w: f64, x: f64) -> Result<f64>
where
    A: Activation<f64> + Copy,
{
    let mut builder = Sequential::builder(1).init(Constant(w)).bias(false);
    for _ in 0..n {
        builder = builder.dense(1, f);
    }
    let mut chain = builder.loss(Mse).build()?;
    chain.forward(&Matrix::from_element(1, 1, x))?;
    chain.backward(&Matrix::zeros(1, 1))?;
    Ok(chain.delta(0)?[(0, 0)] / chain.delta(n - 1)?[(0, 0)])
}
