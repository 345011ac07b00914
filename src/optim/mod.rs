//! Optimizers: how a weight delta becomes a weight update.
//!
//! The model hands every parameter to the optimizer once per step, numbered in a stable order
//! (layer by layer, each layer's [`param`](crate::Layer::param) order), so an optimizer can keep
//! per-parameter state such as momentum or Adam's moments, indexed by that number.
//!
//! Every optimizer here follows the algorithm PyTorch documents for its namesake in `torch.optim`
//! (same hyperparameter names and defaults, same state names), and is tested against values
//! computed with PyTorch for its first steps:
//!
//! | here | PyTorch | default learning rate |
//! | --- | --- | --- |
//! | [`Sgd`] (momentum, Nesterov, weight decay) | `SGD` (dampening 0) | none: you choose |
//! | [`RmsProp`] | `RMSprop` | 0.01 |
//! | [`Adagrad`] | `Adagrad` | 0.01 |
//! | [`Adam`] | `Adam` | 0.001 |
//! | [`AdamW`] | `AdamW` | 0.001 |
//!
//! Learning-rate [schedules](Schedule) ([`StepLr`], [`ExponentialLr`], [`CosineAnnealingLr`],
//! [`LinearLr`], [`ReduceLrOnPlateau`]) change the rate between epochs through [`Optimizer::set_learning_rate`], and [`ClipGradNorm`]
//! rescales all gradients together when their global norm is too large.

mod adagrad;
mod adam;
mod checked;
mod clip;
mod rmsprop;
mod schedule;
mod sgd;
mod state;

use std::any::Any;
use std::fmt::Debug;

pub use adagrad::Adagrad;
pub use adam::{Adam, AdamW};
pub(crate) use checked::{Checked, checked};
pub use clip::{ClipGradNorm, Clipped, global_norm};
pub use rmsprop::RmsProp;
pub use schedule::{CosineAnnealingLr, ExponentialLr, LrScheduler, Schedule, StepLr};
pub use schedule::{LinearLr, ReduceLrOnPlateau};
pub use sgd::Sgd;
pub(crate) use state::Core;
pub use state::{OptimizerState, StateTensor};

use crate::{Float, Matrix, Result};

/// Updates parameters from their gradients.
///
/// # The contract
///
/// For one update of a whole model the model calls [`begin_step`](Optimizer::begin_step) once,
/// then [`update`](Optimizer::update) for every parameter, in the same order every time:
///
/// - `index` numbers the parameters stably (`0, 1, 2, ...` in the model's layer and parameter
///   order), so per-parameter state is kept by index;
/// - state (momentum, moments, accumulators) is created at a parameter's first update, the only
///   time an optimizer allocates; before that, [`state`](Optimizer::state) has no buffers;
/// - [`state`](Optimizer::state) returns everything that the next update depends on apart from the
///   hyperparameters and the learning rate, and [`load_state`](Optimizer::load_state) restores it,
///   so restoring a snapshot and repeating a step gives bit-identical results;
/// - [`reset`](Optimizer::reset) forgets the state, as if no step had been taken.
///
/// That is all training needs: [`fit`](crate::Sequential::fit) and
/// [`step`](crate::Sequential::step) guard a step of your optimizer by copying the parameters and
/// [`state`](Optimizer::state) first, and put both back if the step leaves anything NaN or
/// infinite (the crate's own optimizers judge their updates in advance and skip the copies).
///
/// ```
/// use backprop::prelude::*;
/// use nalgebra::DMatrix;
///
/// /// Gradient descent that also counts its steps.
/// #[derive(Debug)]
/// struct Counting { alpha: f64, steps: usize }
/// impl Optimizer<f64> for Counting {
///     fn begin_step(&mut self) { self.steps += 1; }
///     fn update(&mut self, _index: usize, value: &mut DMatrix<f64>, grad: &DMatrix<f64>) {
///         *value -= grad * self.alpha;
///     }
///     fn learning_rate(&self) -> f64 { self.alpha }
///     fn set_learning_rate(&mut self, lr: f64) -> Result<()> {
///         self.alpha = lr;
///         Ok(())
///     }
/// }
///
/// let mut model = Sequential::<f64>::builder(1).dense(1, Identity).build().unwrap();
/// let (x, y) = (DMatrix::from_element(1, 1, 1.0), DMatrix::from_element(1, 1, 2.0));
/// let mut opt = Counting { alpha: 0.1, steps: 0 };
/// model.step(&x, &y, &mut opt).unwrap();
/// assert_eq!(opt.steps, 1);
/// ```
pub trait Optimizer<T: Float>: Any + Debug + Send {
    /// Called once at the start of every update of the whole model (e.g. to advance Adam's `t`).
    fn begin_step(&mut self) {}

    /// Updates one parameter in place. `index` numbers the model's parameters, the same every step.
    ///
    /// # Panics
    ///
    /// May panic if `grad` does not have `value`'s shape, or if the state kept (or
    /// [restored](Optimizer::load_state)) for `index` has another shape; the model never does
    /// this: it checks both before it calls `update` (see [`OptimizerState::check_shapes`]).
    ///
    /// An implementation must not change `value`'s shape: for an optimizer that is not the
    /// crate's, the model compares every parameter's shape after the update and, if one
    /// changed, puts every parameter back and returns [`Error::Shape`](crate::Error::Shape).
    fn update(&mut self, index: usize, value: &mut Matrix<T>, grad: &Matrix<T>);

    /// Forgets any per-parameter state and the step count, as if no step had been taken.
    fn reset(&mut self) {}

    /// The current learning rate (PyTorch's `lr`, the book's `alpha`).
    fn learning_rate(&self) -> T;

    /// Sets the learning rate used from the next update on (a [`Schedule`] calls this between
    /// epochs); the state is kept.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`](crate::Error::InvalidParameter) if `lr` is not finite or is
    /// negative (the optimizers of this crate accept 0, as PyTorch does); the rate is unchanged.
    fn set_learning_rate(&mut self, lr: T) -> Result<()>;

    /// A snapshot of the step count and every per-parameter buffer. Stateless optimizers return
    /// an empty state.
    fn state(&self) -> OptimizerState<T> {
        OptimizerState::default()
    }

    /// Restores a snapshot taken by [`state`](Optimizer::state) (of an optimizer of the same kind
    /// and settings), replacing the current state.
    ///
    /// # Errors
    ///
    /// [`Error::Format`](crate::Error::Format) if the state has buffers this optimizer does not
    /// keep, a parameter with only some of its buffers, a buffer twice, parameters with buffers
    /// that are not numbered `0..n` without gaps (as a model's updates create them), or a
    /// negative entry in a sum of squares (`"exp_avg_sq"`, `"square_avg"`, `"sum"`);
    /// [`Error::NonFinite`](crate::Error::NonFinite) for a NaN or infinite entry. On error the
    /// optimizer is unchanged. The default accepts only a state without buffers.
    ///
    /// An optimizer cannot know the shapes of the model it will update: the model compares the
    /// state with its parameters at the next [`step`](crate::Sequential::step),
    /// [`update`](crate::Sequential::update) or [`fit`](crate::Sequential::fit), and refuses a
    /// state of another model with a typed error before anything changes.
    fn load_state(&mut self, state: &OptimizerState<T>) -> Result<()> {
        state::Slots::default().import(&[], state)
    }
}
