//! Loss functions: the error the network minimises and the delta that starts backpropagation.
//!
//! Every loss here is a **mean over the rows of the batch** of a per-row value, so the delta it
//! returns carries a factor `1 / batch` and the weight delta `layer_1.T . delta` is the batch
//! average, as in the chapter's full and mini-batch gradient descent. With one row and one output
//! the book's delta is exact: `delta = pred - goal` ([`SquaredError`]).
//!
//! | loss | value (per batch of `n` rows, `k` outputs) | Keras | PyTorch |
//! |---|---|---|---|
//! | [`SquaredError`] | `mean_rows( ½ Σ_k (pred - goal)² )` | (none) | (none) |
//! | [`Mse`] | `mean_rows( mean_k (pred - goal)² )` | `MeanSquaredError` | `MSELoss()` |
//! | [`BinaryCrossEntropy`] | `mean_rows( mean_k -[y ln p + (1-y) ln(1-p)] )` | `BinaryCrossentropy` | `BCELoss()` |
//! | [`CategoricalCrossEntropy`] | `mean_rows( -Σ_k y_k ln p_k )` | `CategoricalCrossentropy` | `CrossEntropyLoss()` on logits |

use std::any::Any;
use std::fmt::Debug;

use crate::validate::{check_finite, check_width};
use crate::{
    Activation, Error, Float, MatrixView, MatrixViewMut, Result, Sigmoid, Softmax, linalg,
};

/// Logarithms are clamped below at -100, as PyTorch's `BCELoss` does, so a probability of exactly
/// 0 gives a large finite loss instead of infinity.
const LOG_FLOOR: f64 = -100.0;
/// Divisors are kept above this, as PyTorch's `BCELoss` backward does.
const DIV_FLOOR: f64 = 1e-12;

/// Clones a boxed loss, so that models clone; implemented for every loss that is [`Clone`].
pub trait CloneLoss<T: Float> {
    /// A boxed copy.
    fn clone_box(&self) -> Box<dyn Loss<T>>;
}

impl<T: Float, L: Loss<T> + Clone> CloneLoss<T> for L {
    fn clone_box(&self) -> Box<dyn Loss<T>> {
        Box::new(self.clone())
    }
}

impl<T: Float> Clone for Box<dyn Loss<T>> {
    fn clone(&self) -> Self {
        self.as_ref().clone_box()
    }
}

/// A loss: its value on a batch and its gradient with respect to the predictions.
///
/// The value must be a mean over rows (so that losses of batches combine by weighted averages) and
/// `gradient` must be its exact gradient; the gradient checker
/// ([`gradcheck::check_loss`](crate::gradcheck::check_loss)) verifies both for your own losses.
pub trait Loss<T: Float>: CloneLoss<T> + Any + Debug + Send + Sync {
    /// Short name, e.g. `"Mse"`.
    fn name(&self) -> &'static str;

    /// Checks that `targets` can be compared with predictions of `outputs` columns.
    ///
    /// The default accepts finite targets of exactly `outputs` columns.
    ///
    /// # Errors
    ///
    /// [`Error::Shape`] for a wrong number of columns, [`Error::NonFinite`] for NaN or infinity,
    /// and loss-specific errors for values the loss cannot take.
    fn check_targets(&self, outputs: usize, targets: MatrixView<'_, T>) -> Result<()> {
        check_width(outputs, targets)?;
        check_finite("targets", targets)
    }

    /// The loss value of a batch (a mean over its rows).
    fn loss(&self, pred: MatrixView<'_, T>, target: MatrixView<'_, T>) -> T;

    /// Writes `dL/dpred` into `grad` (same shape as `pred`).
    fn gradient(
        &self,
        pred: MatrixView<'_, T>,
        target: MatrixView<'_, T>,
        grad: MatrixViewMut<'_, T>,
    );

    /// [`gradient`](Loss::gradient) into `grad`, then returns [`loss`](Loss::loss): what a
    /// training step asks of the loss. Override it to compute both in one pass; the results must
    /// be those of the two methods ([`gradcheck::check_loss`](crate::gradcheck::check_loss)
    /// compares them).
    fn loss_and_gradient(
        &self,
        pred: MatrixView<'_, T>,
        target: MatrixView<'_, T>,
        grad: MatrixViewMut<'_, T>,
    ) -> T {
        self.gradient(pred, target, grad);
        self.loss(pred, target)
    }

    /// Whether this loss has a simpler exact delta at the pre-activation of the output layer when
    /// that layer's activation is `activation` (sigmoid with binary cross-entropy, softmax with
    /// categorical cross-entropy). Asked once, when the model is built; the default is `false`.
    fn fuses_with(&self, activation: &dyn Activation<T>) -> bool {
        let _ = activation;
        false
    }

    /// Writes `dL/dz`, the gradient at the output's pre-activation values, into `delta`; called
    /// instead of [`gradient`](Loss::gradient) and the activation's backward pass when
    /// [`fuses_with`](Loss::fuses_with) said so for the output activation.
    ///
    /// # Panics
    ///
    /// The default panics: a loss that fuses with an activation must say how.
    fn fused_delta(
        &self,
        pred: MatrixView<'_, T>,
        target: MatrixView<'_, T>,
        delta: MatrixViewMut<'_, T>,
    ) {
        let _ = (pred, target, delta);
        unimplemented!(
            "{} fuses with an activation but has no fused_delta",
            self.name()
        )
    }
}

fn ln_clamped<T: Float>(x: T) -> T {
    let floor = T::of(LOG_FLOOR);
    if x > T::zero() {
        let l = x.ln();
        if l > floor { l } else { floor }
    } else {
        floor
    }
}

fn floor_div<T: Float>(x: T) -> T {
    let f = T::of(DIV_FLOOR);
    if x > f { x } else { f }
}

/// The book's squared error: `½ Σ (pred - goal)²` per row, averaged over the rows.
///
/// Its delta is exactly the book's `delta = prediction - goal_prediction` (divided by the batch
/// size, so that full and mini-batch descent average their weight deltas):
///
/// ```text
/// value  = 1/n Σ_rows ½ Σ_k (pred - goal)²
/// delta  = (pred - goal) / n
/// ```
///
/// The book prints `error = (goal_prediction - prediction) ** 2`, which is twice this value;
/// [`SquaredError::sum_of_squares`] gives the printed number.
///
/// ```
/// use backprop::prelude::*;
/// use nalgebra::DMatrix;
/// let pred = DMatrix::from_element(1, 1, 0.85_f64);
/// let goal = DMatrix::from_element(1, 1, 1.0);
/// let mut delta = DMatrix::zeros(1, 1);
/// SquaredError.gradient(pred.as_view(), goal.as_view(), delta.as_view_mut());
/// assert!((delta[(0, 0)] - (0.85 - 1.0)).abs() < 1e-15);              // pred - goal
/// assert!((SquaredError::sum_of_squares(&pred, &goal) - 0.0225).abs() < 1e-15);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SquaredError;

impl SquaredError {
    /// `Σ (pred - goal)²` over every entry: the error the book prints.
    pub fn sum_of_squares<T: Float>(pred: &nalgebra::DMatrix<T>, goal: &nalgebra::DMatrix<T>) -> T {
        pred.iter()
            .zip(goal.iter())
            .fold(T::zero(), |s, (&p, &g)| s + (p - g) * (p - g))
    }
}

impl<T: Float> Loss<T> for SquaredError {
    fn name(&self) -> &'static str {
        "SquaredError"
    }
    fn loss(&self, pred: MatrixView<'_, T>, target: MatrixView<'_, T>) -> T {
        let n = T::of_usize(pred.nrows());
        let s = linalg::zip_fold(&pred, &target, T::zero(), |s, p, g| s + (p - g) * (p - g));
        s * T::of(0.5) / n
    }
    fn gradient(
        &self,
        pred: MatrixView<'_, T>,
        target: MatrixView<'_, T>,
        mut grad: MatrixViewMut<'_, T>,
    ) {
        let inv_n = T::one() / T::of_usize(pred.nrows());
        // delta = pred - goal (over the batch size)
        linalg::zip_map(&mut grad, &pred, &target, |p, g| (p - g) * inv_n);
    }
    fn loss_and_gradient(
        &self,
        pred: MatrixView<'_, T>,
        target: MatrixView<'_, T>,
        mut grad: MatrixViewMut<'_, T>,
    ) -> T {
        let n = T::of_usize(pred.nrows());
        let inv_n = T::one() / n;
        let s = linalg::zip_map_fold(&mut grad, &pred, &target, T::zero(), |s, p, g| {
            let d = p - g;
            (s + d * d, d * inv_n)
        });
        s * T::of(0.5) / n
    }
}

/// Mean squared error, as Keras `MeanSquaredError` and PyTorch `MSELoss()` compute it.
///
/// ```text
/// value  = 1/(n k) Σ_rows Σ_k (pred - goal)²
/// delta  = 2 (pred - goal) / (n k)
/// ```
///
/// With one output and one row the value is the book's printed `error`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mse;

impl<T: Float> Loss<T> for Mse {
    fn name(&self) -> &'static str {
        "Mse"
    }
    fn loss(&self, pred: MatrixView<'_, T>, target: MatrixView<'_, T>) -> T {
        let s = linalg::zip_fold(&pred, &target, T::zero(), |s, p, g| s + (p - g) * (p - g));
        s / T::of_usize(pred.len())
    }
    fn gradient(
        &self,
        pred: MatrixView<'_, T>,
        target: MatrixView<'_, T>,
        mut grad: MatrixViewMut<'_, T>,
    ) {
        let scale = T::of(2.0) / T::of_usize(pred.len());
        // delta = 2 (pred - goal) / (n k)
        linalg::zip_map(&mut grad, &pred, &target, |p, g| (p - g) * scale);
    }
    fn loss_and_gradient(
        &self,
        pred: MatrixView<'_, T>,
        target: MatrixView<'_, T>,
        mut grad: MatrixViewMut<'_, T>,
    ) -> T {
        let scale = T::of(2.0) / T::of_usize(pred.len());
        let s = linalg::zip_map_fold(&mut grad, &pred, &target, T::zero(), |s, p, g| {
            let d = p - g;
            (s + d * d, d * scale)
        });
        s / T::of_usize(pred.len())
    }
}

/// Binary cross-entropy of probabilities `p` (e.g. a [`Sigmoid`] output) against targets in `[0, 1]`.
///
/// Computed as Keras `BinaryCrossentropy` and PyTorch `BCELoss()` do (mean over outputs and rows);
/// logarithms are clamped at -100 as in PyTorch, so a saturated probability gives a finite loss.
///
/// ```text
/// value  = -1/(n k) Σ [ y ln p + (1 - y) ln(1 - p) ]
/// delta  = (p - y) / (p (1 - p)) / (n k)            (p (1 - p) floored at 1e-12)
/// fused with Sigmoid, at the pre-activation:  delta = (p - y) / (n k)
/// ```
///
/// With one sigmoid output and one row the fused delta is the book's `pred - goal`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BinaryCrossEntropy;

impl<T: Float> Loss<T> for BinaryCrossEntropy {
    fn name(&self) -> &'static str {
        "BinaryCrossEntropy"
    }
    fn check_targets(&self, outputs: usize, targets: MatrixView<'_, T>) -> Result<()> {
        check_width(outputs, targets)?;
        check_finite("targets", targets)?;
        for r in 0..targets.nrows() {
            for c in 0..targets.ncols() {
                let y = targets[(r, c)];
                if y < T::zero() || y > T::one() {
                    return Err(Error::InvalidTarget {
                        loss: "BinaryCrossEntropy",
                        row: r,
                        col: c,
                        value: y.as_f64(),
                        reason: "binary cross-entropy targets must lie in [0, 1]",
                    });
                }
            }
        }
        Ok(())
    }
    fn loss(&self, pred: MatrixView<'_, T>, target: MatrixView<'_, T>) -> T {
        let s = linalg::zip_fold(&pred, &target, T::zero(), |s, p, y| {
            s - (y * ln_clamped(p) + (T::one() - y) * ln_clamped(T::one() - p))
        });
        s / T::of_usize(pred.len())
    }
    fn gradient(
        &self,
        pred: MatrixView<'_, T>,
        target: MatrixView<'_, T>,
        mut grad: MatrixViewMut<'_, T>,
    ) {
        let inv = T::one() / T::of_usize(pred.len());
        // delta = (p - y) / (p (1 - p)) / (n k)
        linalg::zip_map(&mut grad, &pred, &target, |p, y| {
            (p - y) / floor_div(p * (T::one() - p)) * inv
        });
    }
    fn fuses_with(&self, activation: &dyn Activation<T>) -> bool {
        (activation as &dyn Any).is::<Sigmoid>()
    }
    fn fused_delta(
        &self,
        pred: MatrixView<'_, T>,
        target: MatrixView<'_, T>,
        mut delta: MatrixViewMut<'_, T>,
    ) {
        let inv = T::one() / T::of_usize(pred.len());
        // delta = pred - goal, at the sigmoid's input
        linalg::zip_map(&mut delta, &pred, &target, |p, y| (p - y) * inv);
    }
}

/// Categorical cross-entropy of row-wise probability distributions (e.g. a [`Softmax`] output).
///
/// Targets are either distributions (one-hot rows, each row non-negative and summing to 1) or a
/// single column of class indices `0..k`, which saves building one-hot matrices.
///
/// ```text
/// value  = -1/n Σ_rows Σ_k y_k ln p_k                    (ln clamped at -100)
/// delta  = -y / p / n                                     (p floored at 1e-12)
/// fused with Softmax, at the pre-activation (logits):  delta = (p - y) / n
/// ```
///
/// The value is Keras's `CategoricalCrossentropy` (and `SparseCategoricalCrossentropy` for class
/// indices); the fused delta is the gradient PyTorch's `CrossEntropyLoss` gives for the logits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CategoricalCrossEntropy;

impl CategoricalCrossEntropy {
    /// The target probability of class `j` in row `r`.
    #[inline]
    fn y<T: Float>(target: &MatrixView<'_, T>, r: usize, j: usize) -> T {
        if target.ncols() == 1 {
            // class index column (validated by `check_targets`)
            if target[(r, 0)].as_f64() as usize == j {
                T::one()
            } else {
                T::zero()
            }
        } else {
            target[(r, j)]
        }
    }

    fn sparse<T: Float>(pred: &MatrixView<'_, T>, target: &MatrixView<'_, T>) -> bool {
        target.ncols() == 1 && pred.ncols() > 1
    }
}

impl<T: Float> Loss<T> for CategoricalCrossEntropy {
    fn name(&self) -> &'static str {
        "CategoricalCrossEntropy"
    }
    fn check_targets(&self, outputs: usize, targets: MatrixView<'_, T>) -> Result<()> {
        check_finite("targets", targets)?;
        if targets.ncols() == 1 && outputs > 1 {
            for r in 0..targets.nrows() {
                let y = targets[(r, 0)];
                let f = y.as_f64();
                if f < 0.0 || f.fract() != 0.0 || f >= outputs as f64 {
                    return Err(Error::InvalidLabel {
                        row: r,
                        label: f,
                        classes: outputs,
                    });
                }
            }
            return Ok(());
        }
        check_width(outputs, targets)?;
        let tol = T::of(1e-4).max(T::default_epsilon().sqrt());
        for r in 0..targets.nrows() {
            let mut sum = T::zero();
            for c in 0..targets.ncols() {
                let y = targets[(r, c)];
                if y < T::zero() {
                    return Err(Error::InvalidTarget {
                        loss: "CategoricalCrossEntropy",
                        row: r,
                        col: c,
                        value: y.as_f64(),
                        reason: "categorical cross-entropy targets must be non-negative",
                    });
                }
                sum += y;
            }
            if (sum - T::one()).abs() > tol {
                return Err(Error::InvalidTarget {
                    loss: "CategoricalCrossEntropy",
                    row: r,
                    col: targets.ncols().saturating_sub(1),
                    value: sum.as_f64(),
                    reason: "each row of categorical cross-entropy targets must sum to 1 (the value is the row sum)",
                });
            }
        }
        Ok(())
    }
    fn loss(&self, pred: MatrixView<'_, T>, target: MatrixView<'_, T>) -> T {
        let mut s = T::zero();
        for r in 0..pred.nrows() {
            if Self::sparse(&pred, &target) {
                let j = target[(r, 0)].as_f64() as usize;
                s -= ln_clamped(pred[(r, j)]);
            } else {
                for j in 0..pred.ncols() {
                    let y = target[(r, j)];
                    if y != T::zero() {
                        s -= y * ln_clamped(pred[(r, j)]);
                    }
                }
            }
        }
        s / T::of_usize(pred.nrows())
    }
    fn gradient(
        &self,
        pred: MatrixView<'_, T>,
        target: MatrixView<'_, T>,
        mut grad: MatrixViewMut<'_, T>,
    ) {
        let inv_n = T::one() / T::of_usize(pred.nrows());
        for j in 0..pred.ncols() {
            for r in 0..pred.nrows() {
                let y = Self::y(&target, r, j);
                grad[(r, j)] = -y / floor_div(pred[(r, j)]) * inv_n;
            }
        }
    }
    fn fuses_with(&self, activation: &dyn Activation<T>) -> bool {
        (activation as &dyn Any).is::<Softmax>()
    }
    fn fused_delta(
        &self,
        pred: MatrixView<'_, T>,
        target: MatrixView<'_, T>,
        mut delta: MatrixViewMut<'_, T>,
    ) {
        let inv_n = T::one() / T::of_usize(pred.nrows());
        // delta = pred - goal, at the softmax's input
        if Self::sparse(&pred, &target) {
            linalg::copy(&mut delta, &pred);
            for r in 0..pred.nrows() {
                let j = target[(r, 0)].as_f64() as usize;
                delta[(r, j)] -= T::one();
            }
            linalg::apply(&mut delta, |d| *d *= inv_n);
        } else {
            linalg::zip_map(&mut delta, &pred, &target, |p, y| (p - y) * inv_n);
        }
    }
}
