//! Adagrad: each weight's step shrinks with the sum of its squared gradients.

use super::checked::Checked;
use super::state::{Core, check_non_negative, check_positive, core_access, core_methods};
use crate::validate::all_finite_zip;
use crate::{Float, Matrix, Optimizer, OptimizerState, Result};

/// Adagrad, the algorithm of PyTorch's `torch.optim.Adagrad`.
///
/// With `g` the gradient, `w` the parameter, `s` the running sum of `g^2` (`"sum"`, starting at
/// `initial_accumulator_value`) and `t` the step (1 at the first step):
///
/// ```text
/// lr_t = lr / (1 + (t - 1) * lr_decay)
/// g    = weight_delta + lambda * w                (only if weight_decay > 0)
/// s    = s + g^2
/// w   -= lr_t * g / (sqrt(s) + eps)
/// ```
///
/// Defaults as PyTorch: `lr = 0.01`, `lr_decay = 0`, `weight_decay = 0`,
/// `initial_accumulator_value = 0`, `eps = 1e-10`. (Keras starts the sum at 0.1 and uses
/// `eps = 1e-7`.)
///
/// ```
/// use backprop::prelude::*;
/// use nalgebra::DMatrix;
///
/// let mut opt = Adagrad::<f64>::new(0.1)?;
/// let mut w = DMatrix::from_element(1, 1, 1.0);
/// for _ in 0..2 {
///     opt.begin_step();
///     opt.update(0, &mut w, &DMatrix::from_element(1, 1, 3.0));
/// }
/// // s = 9, then 18: w = 1 - 0.1 * 3/3 - 0.1 * 3/sqrt(18)
/// assert!((w[(0, 0)] - (0.9 - 0.3 / 18f64.sqrt())).abs() < 1e-9);
/// assert!(Adagrad::<f64>::new(0.1)?.lr_decay(-1.0).is_err());
/// # Ok::<(), backprop::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Adagrad<T: Float> {
    core: Core<T>,
    lr_decay: T,
    weight_decay: T,
    initial_accumulator_value: T,
    eps: T,
}

const SUM: &[&str] = &["sum"];

impl<T: Float> Default for Adagrad<T> {
    /// PyTorch's defaults: `lr = 0.01`, `eps = 1e-10`, everything else 0.
    fn default() -> Self {
        Adagrad {
            core: Core::new(T::of(0.01)).expect("valid default"),
            lr_decay: T::zero(),
            weight_decay: T::zero(),
            initial_accumulator_value: T::zero(),
            eps: T::of(1e-10),
        }
    }
}

impl<T: Float> Adagrad<T> {
    /// Adagrad with learning rate `lr` and PyTorch's other defaults.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`](crate::Error::InvalidParameter) unless `lr` is finite and
    /// positive.
    pub fn new(lr: T) -> Result<Self> {
        Ok(Adagrad {
            core: Core::new(lr)?,
            ..Self::default()
        })
    }

    /// Sets `lr_decay`: the rate at step `t` is `lr / (1 + (t - 1) * lr_decay)` (default 0).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`](crate::Error::InvalidParameter) unless finite and not negative.
    pub fn lr_decay(mut self, lr_decay: T) -> Result<Self> {
        self.lr_decay = check_non_negative("lr decay", lr_decay)?;
        Ok(self)
    }

    /// Sets the L2 penalty `lambda` (PyTorch's `weight_decay`), added to the gradient as
    /// `lambda * w`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`](crate::Error::InvalidParameter) unless finite and not negative.
    pub fn weight_decay(mut self, lambda: T) -> Result<Self> {
        self.weight_decay = check_non_negative("weight decay", lambda)?;
        Ok(self)
    }

    /// Sets the value the sum of squares starts from (default 0; Keras uses 0.1). Applies to
    /// parameters whose state is created after this call.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`](crate::Error::InvalidParameter) unless finite and not negative.
    pub fn initial_accumulator_value(mut self, value: T) -> Result<Self> {
        self.initial_accumulator_value = check_non_negative("initial accumulator value", value)?;
        Ok(self)
    }

    /// Sets `eps`, added to the square root of the sum (default 1e-10).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`](crate::Error::InvalidParameter) unless finite and positive.
    pub fn eps(mut self, eps: T) -> Result<Self> {
        self.eps = check_positive("eps", eps)?;
        Ok(self)
    }

    fn names(&self) -> &'static [&'static str] {
        SUM
    }

    /// The learning rate at step `t` (at least 1): `lr / (1 + (t - 1) * lr_decay)`.
    fn rate(&self, t: u64) -> T {
        let t = t.max(1);
        T::of(self.core.lr.as_f64() / (1.0 + (t - 1) as f64 * self.lr_decay.as_f64()))
    }
}

impl<T: Float> Optimizer<T> for Adagrad<T> {
    core_methods!();

    fn update(&mut self, index: usize, value: &mut Matrix<T>, grad: &Matrix<T>) {
        assert_eq!(value.shape(), grad.shape(), "gradient shape");
        let (lr, lambda, eps) = (self.rate(self.core.t()), self.weight_decay, self.eps);
        let init = [self.initial_accumulator_value];
        let [sum] = self.core.slots.get(index, grad, &init) else {
            unreachable!("one buffer")
        };
        let pairs = value.as_mut_slice().iter_mut().zip(grad.as_slice());
        for ((w, &g), s) in pairs.zip(sum.as_mut_slice()) {
            (*w, *s) = adagrad_step(*w, g, *s, lr, lambda, eps);
        }
    }
}

impl<T: Float> Checked<T> for Adagrad<T> {
    core_access!();

    fn stays_finite(&self, index: usize, value: &Matrix<T>, grad: &Matrix<T>) -> bool {
        let Some((w, g, buffers)) = self.core.slots.with_buffers(index, value, grad) else {
            return false;
        };
        let (lr, lambda, eps) = (self.rate(self.core.step + 1), self.weight_decay, self.eps);
        let sum = buffers.buffer(0);
        all_finite_zip([w, g, sum], |[w, g, s]| {
            let (w, s) = adagrad_step(w, g, s, lr, lambda, eps);
            w + s
        })
    }
}

/// One weight and its sum of squares after a step.
#[inline(always)]
fn adagrad_step<T: Float>(w: T, g: T, s: T, lr: T, lambda: T, eps: T) -> (T, T) {
    let g = g + lambda * w;
    let s = s + g * g;
    (w - lr * g / (s.sqrt() + eps), s)
}
