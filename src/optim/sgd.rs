//! Stochastic gradient descent, with optional momentum, Nesterov momentum and weight decay.

use super::checked::Checked;
use super::state::{Core, check_non_negative, check_unit, core_access, core_methods};
use crate::validate::all_finite_zip;
use crate::{Error, Float, Matrix, Optimizer, OptimizerState, Result};

/// Gradient descent: the book's `weights -= alpha * weight_delta`, optionally with momentum,
/// Nesterov momentum and an L2 penalty.
///
/// The algorithm of PyTorch's `torch.optim.SGD` with `dampening = 0` (`g` is the gradient, `w` the
/// parameter, `b` the momentum buffer, zero before the first step, `mu` the momentum,
/// `lambda` the weight decay):
///
/// ```text
/// g  = weight_delta + lambda * w             (only if weight_decay > 0)
/// b  = mu * b + g                            (only if momentum > 0)
/// g  = g + mu * b   if nesterov,   g = b   otherwise
/// w -= alpha * g
/// ```
///
/// With the defaults (no momentum, no weight decay) this is exactly the book's update. The state
/// is one buffer per parameter, `"momentum_buffer"`, when momentum is on.
///
/// ```
/// use backprop::prelude::*;
/// use nalgebra::DMatrix;
///
/// let mut sgd = Sgd::<f64>::new(0.1)?.momentum(0.9)?.nesterov(true)?;
/// assert_eq!(sgd.learning_rate(), 0.1);
/// let mut w = DMatrix::from_element(1, 1, 1.0);
/// let g = DMatrix::from_element(1, 1, 1.0);
/// sgd.begin_step();
/// sgd.update(0, &mut w, &g); // b = 1, g = 1 + 0.9 * 1
/// assert!((w[(0, 0)] - (1.0 - 0.1 * 1.9)).abs() < 1e-15);
///
/// assert!(Sgd::<f64>::new(-1.0).is_err());
/// assert!(Sgd::<f64>::new(f64::NAN).is_err());
/// assert!(Sgd::<f64>::new(0.1)?.nesterov(true).is_err()); // Nesterov needs momentum
/// # Ok::<(), backprop::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Sgd<T: Float> {
    core: Core<T>,
    momentum: T,
    nesterov: bool,
    weight_decay: T,
}

const MOMENTUM: &[&str] = &["momentum_buffer"];

impl<T: Float> Sgd<T> {
    /// Gradient descent with learning rate `alpha`, no momentum and no weight decay.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] unless `alpha` is finite and positive.
    pub fn new(alpha: T) -> Result<Self> {
        Ok(Sgd {
            core: Core::new(alpha)?,
            momentum: T::zero(),
            nesterov: false,
            weight_decay: T::zero(),
        })
    }

    /// Sets the momentum `mu` (PyTorch's `momentum`; 0 turns it off). Switching momentum on or off
    /// forgets the state.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] unless `0 <= mu < 1`, or if `mu` is 0 while Nesterov is on.
    pub fn momentum(mut self, mu: T) -> Result<Self> {
        check_unit("momentum", mu)?;
        if self.nesterov && mu == T::zero() {
            return Err(Error::param(
                "momentum",
                0.0,
                "Nesterov momentum needs a momentum above 0",
            ));
        }
        if (mu > T::zero()) != (self.momentum > T::zero()) {
            self.core.reset();
        }
        self.momentum = mu;
        Ok(self)
    }

    /// Turns Nesterov momentum on or off (PyTorch's `nesterov`). Set the momentum first.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] when turning it on without momentum.
    pub fn nesterov(mut self, on: bool) -> Result<Self> {
        if on && self.momentum == T::zero() {
            return Err(Error::param(
                "nesterov",
                1.0,
                "Nesterov momentum needs a momentum above 0",
            ));
        }
        self.nesterov = on;
        Ok(self)
    }

    /// Sets the L2 penalty `lambda` (PyTorch's `weight_decay`): `lambda * w` is added to the
    /// gradient, the gradient of `lambda/2 * |w|^2`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] unless `lambda` is finite and not negative.
    pub fn weight_decay(mut self, lambda: T) -> Result<Self> {
        self.weight_decay = check_non_negative("weight decay", lambda)?;
        Ok(self)
    }

    fn names(&self) -> &'static [&'static str] {
        if self.momentum > T::zero() {
            MOMENTUM
        } else {
            &[]
        }
    }
}

impl<T: Float> Optimizer<T> for Sgd<T> {
    core_methods!();

    fn update(&mut self, index: usize, value: &mut Matrix<T>, grad: &Matrix<T>) {
        assert_eq!(value.shape(), grad.shape(), "gradient shape");
        let (alpha, mu, lambda) = (self.core.lr, self.momentum, self.weight_decay);
        let w = value.as_mut_slice();
        let g = grad.as_slice();
        if mu == T::zero() {
            // weights -= alpha * weight_delta
            crate::linalg::vectorized_for(w.len(), || plain_update(w, g, alpha, lambda));
            return;
        }
        let nesterov = self.nesterov;
        let [b] = self.core.slots.get(index, grad, &[T::zero()]) else {
            unreachable!("one buffer")
        };
        for ((w, &g), b) in w.iter_mut().zip(g).zip(b.as_mut_slice()) {
            (*w, *b) = momentum_step(*w, g, *b, alpha, mu, lambda, nesterov);
        }
    }
}

impl<T: Float> Checked<T> for Sgd<T> {
    core_access!();

    fn stays_finite(&self, index: usize, value: &Matrix<T>, grad: &Matrix<T>) -> bool {
        let (alpha, mu, lambda) = (self.core.lr, self.momentum, self.weight_decay);
        if mu == T::zero() {
            let (w, g) = (value.as_slice(), grad.as_slice());
            if value.shape() != grad.shape() {
                return false;
            }
            // The test of lambda outside the loop, as in `plain_update`.
            return crate::linalg::vectorized_for(w.len(), || {
                if lambda == T::zero() {
                    all_finite_zip([w, g], |[w, g]| plain_value(w, g, alpha, T::zero()))
                } else {
                    all_finite_zip([w, g], |[w, g]| plain_value(w, g, alpha, lambda))
                }
            });
        }
        let Some((w, g, buffers)) = self.core.slots.with_buffers(index, value, grad) else {
            return false;
        };
        let nesterov = self.nesterov;
        all_finite_zip([w, g, buffers.buffer(0)], |[w, g, b]| {
            let (w, b) = momentum_step(w, g, b, alpha, mu, lambda, nesterov);
            w + b
        })
    }

    /// Without momentum a weight that is not finite stays so (`w - alpha * g`), and there is no
    /// buffer.
    fn end_checkable(&self) -> bool {
        self.momentum == T::zero()
    }
}

/// One weight and its momentum buffer after a step with momentum (PyTorch's SGD, dampening 0).
#[inline(always)]
fn momentum_step<T: Float>(w: T, g: T, b: T, alpha: T, mu: T, lambda: T, nesterov: bool) -> (T, T) {
    let g = g + lambda * w;
    let b = mu * b + g;
    let d = if nesterov { g + mu * b } else { b };
    (w - alpha * d, b)
}

/// A step without momentum: `w -= alpha * (g + lambda * w)`, the decay term left out when `lambda`
/// is zero (as PyTorch does).
#[inline(always)]
fn plain_update<T: Float>(w: &mut [T], g: &[T], alpha: T, lambda: T) {
    if lambda == T::zero() {
        // The same function with a constant zero, so that the test leaves the loop.
        for (w, &g) in w.iter_mut().zip(g) {
            *w = plain_value(*w, g, alpha, T::zero());
        }
    } else {
        for (w, &g) in w.iter_mut().zip(g) {
            *w = plain_value(*w, g, alpha, lambda);
        }
    }
}

/// One weight after a step without momentum.
#[inline(always)]
fn plain_value<T: Float>(w: T, g: T, alpha: T, lambda: T) -> T {
    if lambda == T::zero() {
        w - alpha * g
    } else {
        w - alpha * (g + lambda * w)
    }
}
