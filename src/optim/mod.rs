//! Optimizers: how a weight delta becomes a weight update.
//!
//! The model hands every parameter to the optimizer once per step, numbered in a stable order
//! (layer by layer, each layer's [`param`](crate::Layer::param) order), so an optimizer can keep
//! per-parameter state such as momentum or Adam's moments, indexed by that number.

mod sgd;

use std::fmt::Debug;

pub use sgd::Sgd;

use crate::{Float, Matrix};

/// Updates parameters from their gradients.
///
/// ```
/// use backprop::prelude::*;
/// use nalgebra::DMatrix;
///
/// /// Gradient descent that also counts its steps.
/// #[derive(Debug, Default)]
/// struct Counting { steps: usize }
/// impl Optimizer<f64> for Counting {
///     fn begin_step(&mut self) { self.steps += 1; }
///     fn update(&mut self, _index: usize, value: &mut DMatrix<f64>, grad: &DMatrix<f64>) {
///         *value -= grad * 0.1;
///     }
/// }
///
/// let mut model = Sequential::<f64>::builder(1).dense(1, Identity).build().unwrap();
/// let (x, y) = (DMatrix::from_element(1, 1, 1.0), DMatrix::from_element(1, 1, 2.0));
/// let mut opt = Counting::default();
/// model.step(&x, &y, &mut opt).unwrap();
/// assert_eq!(opt.steps, 1);
/// ```
pub trait Optimizer<T: Float>: Debug + Send {
    /// Called once at the start of every update of the whole model (e.g. to advance Adam's `t`).
    fn begin_step(&mut self) {}

    /// Updates one parameter in place. `index` numbers the model's parameters, the same every step.
    fn update(&mut self, index: usize, value: &mut Matrix<T>, grad: &Matrix<T>);

    /// Forgets any per-parameter state, as if no step had been taken.
    fn reset(&mut self) {}
}
