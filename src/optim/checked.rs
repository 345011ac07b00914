//! What the divergence guard of training knows about the crate's own optimizers.
//!
//! A user's [`Optimizer`] is the algorithm and nothing more; the guard then copies the parameters
//! and the state before each step and puts them back if the step leaves anything NaN or infinite.
//! The crate's optimizers also implement [`Checked`], which lets the guard skip those copies.

use std::any::Any;

use super::state::Core;
use super::{Adagrad, Adam, AdamW, RmsProp, Sgd};
use crate::{Error, Float, Matrix, Optimizer, Result, Sequential};

/// A crate optimizer that can judge its own updates and hand over its state without a copy.
pub(crate) trait Checked<T: Float>: Optimizer<T> {
    /// The learning rate, step count and per-parameter buffers.
    fn core(&self) -> &Core<T>;

    /// The same, writable.
    fn core_mut(&mut self) -> &mut Core<T>;

    /// Buffers kept per parameter once it has been updated.
    fn buffers(&self) -> usize;

    /// Whether the update of parameter `index` at the next step is sure to leave the parameter
    /// and its state finite, judged without changing anything; `false` for a NaN or infinite
    /// gradient and before a parameter's first update.
    fn stays_finite(&self, index: usize, value: &Matrix<T>, grad: &Matrix<T>) -> bool;

    /// Whether a parameter or buffer that is not finite stays so in every later update, so that a
    /// run of steps can be checked for divergence once, at its end.
    fn end_checkable(&self) -> bool {
        false
    }
}

impl<T: Float> dyn Checked<T> + '_ {
    /// Whether every parameter of `model` has its state, so that further updates create none,
    /// and the state [fits](Self::fits) the model.
    pub(crate) fn ready(&self, model: &Sequential<T>) -> bool {
        let count = model.parameters().count();
        self.buffers() == 0
            || (self.core().slots.cover(count, self.buffers()) && self.fits(model).is_ok())
    }

    /// Whether the state has no buffers past the first `count` parameters (a state of a larger
    /// model has).
    pub(crate) fn at_most(&self, count: usize) -> bool {
        self.core().slots.params() <= count
    }

    /// Checks that the state belongs to `model`: every buffer has its parameter's shape, and
    /// there are none for parameters the model does not have. An optimizer used with another
    /// model, or given another model's state, fails here before anything changes.
    ///
    /// # Errors
    ///
    /// [`Error::Shape`] naming the first parameter whose buffers have another shape;
    /// [`Error::Format`] for buffers of parameters past the model's last.
    pub(crate) fn fits(&self, model: &Sequential<T>) -> Result<()> {
        let slots = &self.core().slots;
        let mut count = 0;
        for (index, (layer, p)) in model.parameters().enumerate() {
            count += 1;
            if let Some(actual) = slots.mismatch(index, p.value.shape()) {
                return Err(Error::Shape {
                    what: format!(
                        "optimizer state of parameter {index} (layer {layer} {}): the optimizer \
                         was used with another model or given another model's state; reset it",
                        p.name
                    ),
                    expected: p.value.shape(),
                    actual,
                });
            }
        }
        if !self.at_most(count) {
            return Err(Error::Format {
                path: "optimizer state".into(),
                reason: format!(
                    "buffers for {} parameters, but the model has {count}: the optimizer was \
                     used with another model or given another model's state; reset it",
                    slots.params()
                ),
            });
        }
        Ok(())
    }

    /// The values [`save`](Self::save) copies once every parameter (`values` in all) has its state.
    pub(crate) fn state_len(&self, values: usize) -> usize {
        self.buffers() * values
    }

    /// Copies the buffers into `into`; returns the step count.
    pub(crate) fn save(&self, into: &mut Vec<T>) -> u64 {
        self.core().slots.save_into(into);
        self.core().step
    }

    /// Puts back what [`save`](Self::save) copied, if no state was created since.
    pub(crate) fn restore(&mut self, from: &[T], step: u64) {
        let core = self.core_mut();
        core.slots.restore_from(from);
        core.step = step;
    }

    /// Whether every buffer is finite.
    pub(crate) fn state_finite(&self) -> bool {
        self.core().slots.all_finite()
    }
}

/// `opt` as one of the crate's optimizers, or back as it is.
pub(crate) fn checked<T: Float>(
    opt: &mut dyn Optimizer<T>,
) -> Result<&mut dyn Checked<T>, &mut dyn Optimizer<T>> {
    /// Whether `opt` is an `O`.
    fn is<T: Float, O: Optimizer<T>>(opt: &dyn Optimizer<T>) -> bool {
        let any: &dyn Any = opt;
        any.is::<O>()
    }
    /// `opt` as an `O`, which it is.
    fn cast<T: Float, O: Checked<T>>(opt: &mut dyn Optimizer<T>) -> &mut dyn Checked<T> {
        let any: &mut dyn Any = opt;
        any.downcast_mut::<O>().expect("checked by `is`")
    }
    if is::<T, Sgd<T>>(opt) {
        Ok(cast::<T, Sgd<T>>(opt))
    } else if is::<T, Adam<T>>(opt) {
        Ok(cast::<T, Adam<T>>(opt))
    } else if is::<T, AdamW<T>>(opt) {
        Ok(cast::<T, AdamW<T>>(opt))
    } else if is::<T, RmsProp<T>>(opt) {
        Ok(cast::<T, RmsProp<T>>(opt))
    } else if is::<T, Adagrad<T>>(opt) {
        Ok(cast::<T, Adagrad<T>>(opt))
    } else {
        Err(opt)
    }
}

/// The divergence guard's question: will this update stay finite?
#[cfg(test)]
mod tests {
    use super::Checked;
    use crate::{Adagrad, Adam, AdamW, Optimizer, RmsProp, Sgd};
    use nalgebra::DMatrix;
    use proptest::prelude::*;

    /// Whether every parameter and state entry is finite.
    fn all_finite<O: Optimizer<f64>>(w: &DMatrix<f64>, opt: &O) -> bool {
        w.iter().all(|v| v.is_finite())
            && opt
                .state()
                .tensors
                .iter()
                .all(|t| t.value.iter().all(|v| v.is_finite()))
    }

    /// After two ordinary updates (so that the state exists), asks the question for gradient `g`,
    /// then takes the step on a copy: a `true` must never come with a non-finite gradient or be
    /// followed by a non-finite value, and for moderate values the answer must be `true` (or the
    /// guard would copy everything).
    fn check<O: Checked<f64> + Clone>(opt: O, w: &[f64], g: &[f64], lr: f64) {
        let mut opt = opt;
        let mut w = DMatrix::from_row_slice(1, w.len(), w);
        let g = DMatrix::from_row_slice(1, g.len(), g);
        let warm = DMatrix::from_element(1, w.len(), 0.5);
        for _ in 0..2 {
            opt.begin_step();
            opt.update(0, &mut w, &warm);
        }
        if !all_finite(&w, &opt) {
            return;
        }
        opt.set_learning_rate(lr).unwrap();
        let claim = opt.stays_finite(0, &w, &g);
        let moderate = w.iter().chain(g.iter()).all(|v| v.abs() < 1e3) && lr <= 1.0;
        let mut taken = opt.clone();
        let mut after = w.clone();
        taken.begin_step();
        taken.update(0, &mut after, &g);
        if claim {
            assert!(all_finite(&after, &taken), "{opt:?} vouched for {w} - {g}");
            // The guard does not scan the gradients of a vouched step.
            assert!(g.iter().all(|v| v.is_finite()), "{opt:?} vouched for {g}");
        }
        if moderate {
            assert!(claim, "{opt:?} refused moderate values {w} - {g}");
        }
    }

    fn value() -> impl Strategy<Value = f64> {
        prop_oneof![
            -10.0..10.0f64,
            prop::sample::select(vec![1e150, -1e160, 1e300, -1e307, f64::MAX, 0.0]),
            prop::sample::select(vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY]),
        ]
    }

    proptest! {
        #[test]
        fn a_yes_is_always_right_and_moderate_values_get_one(
            w in prop::collection::vec(value(), 1..12),
            g in prop::collection::vec(value(), 12),
            lr in prop::sample::select(vec![1e-3, 0.5, 1e10, 1e300, f64::MAX]),
        ) {
            let g = &g[..w.len()];
            check(Sgd::new(0.1).unwrap(), &w, g, lr);
            check(Sgd::new(0.1).unwrap().weight_decay(0.1).unwrap(), &w, g, lr);
            check(Sgd::new(0.1).unwrap().momentum(0.9).unwrap().nesterov(true).unwrap(), &w, g, lr);
            check(RmsProp::new(0.1).unwrap(), &w, g, lr);
            check(RmsProp::new(0.1).unwrap().centered(true).momentum(0.9).unwrap(), &w, g, lr);
            check(Adagrad::new(0.1).unwrap().weight_decay(0.1).unwrap(), &w, g, lr);
            check(Adam::new(0.1).unwrap(), &w, g, lr);
            check(Adam::new(0.1).unwrap().weight_decay(0.1).unwrap(), &w, g, lr);
            check(AdamW::new(0.1).unwrap(), &w, g, lr);
            // A large eps: `step_size * m` overflows before the division by eps brings it down.
            check(Adam::new(0.1).unwrap().eps(1e160).unwrap(), &w, g, lr);
            check(AdamW::new(0.1).unwrap().eps(1e300).unwrap(), &w, g, lr);
        }
    }
}
