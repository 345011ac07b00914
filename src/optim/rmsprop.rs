//! RMSProp: gradient descent divided by a running root mean square of the gradient.

use super::checked::Checked;
use super::state::{
    Core, check_non_negative, check_positive, check_unit, core_access, core_methods,
};
use crate::validate::all_finite_zip;
use crate::{Float, Matrix, Optimizer, OptimizerState, Result};

/// RMSProp, the algorithm of PyTorch's `torch.optim.RMSprop`.
///
/// With `g` the gradient, `w` the parameter, `v` the running mean of `g^2` (`"square_avg"`),
/// `a` the running mean of `g` (`"grad_avg"`, only when centered) and `b` the momentum buffer
/// (`"momentum_buffer"`, only with momentum), all zero before the first step:
///
/// ```text
/// g  = weight_delta + lambda * w                   (only if weight_decay > 0)
/// v  = alpha_v * v + (1 - alpha_v) * g^2           (alpha_v: the smoothing constant "alpha")
/// a  = alpha_v * a + (1 - alpha_v) * g             (only if centered)
/// d  = sqrt(v - a^2) + eps   if centered,   d = sqrt(v) + eps   otherwise
/// b  = mu * b + g / d,   w -= lr * b                (if momentum > 0)
/// w -= lr * g / d                                   (otherwise)
/// ```
///
/// Defaults as PyTorch: `lr = 0.01`, `alpha = 0.99`, `eps = 1e-8`, no momentum, not centered, no
/// weight decay. Keras's `RMSprop` differs: `rho = 0.9`, `lr = 0.001`, and its `eps` (1e-7) is
/// added inside the square root; set `alpha(0.9)` and `eps(1e-7)` to come close.
///
/// ```
/// use backprop::prelude::*;
/// use nalgebra::DMatrix;
///
/// let mut opt = RmsProp::<f64>::default();
/// let mut w = DMatrix::from_element(1, 1, 1.0);
/// opt.begin_step();
/// opt.update(0, &mut w, &DMatrix::from_element(1, 1, 2.0));
/// // v = 0.01 * 4, w = 1 - 0.01 * 2 / (sqrt(0.04) + 1e-8)
/// assert!((w[(0, 0)] - (1.0 - 0.01 * 2.0 / (0.2 + 1e-8))).abs() < 1e-15);
/// assert!(RmsProp::<f64>::new(0.01)?.alpha(1.0).is_err());
/// # Ok::<(), backprop::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RmsProp<T: Float> {
    core: Core<T>,
    alpha: T,
    eps: T,
    momentum: T,
    centered: bool,
    weight_decay: T,
}

impl<T: Float> Default for RmsProp<T> {
    /// PyTorch's defaults: `lr = 0.01`, `alpha = 0.99`, `eps = 1e-8`.
    fn default() -> Self {
        RmsProp {
            core: Core::new(T::of(0.01)).expect("valid default"),
            alpha: T::of(0.99),
            eps: T::of(1e-8),
            momentum: T::zero(),
            centered: false,
            weight_decay: T::zero(),
        }
    }
}

impl<T: Float> RmsProp<T> {
    /// RMSProp with learning rate `lr` and PyTorch's other defaults.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`](crate::Error::InvalidParameter) unless `lr` is finite and
    /// positive.
    pub fn new(lr: T) -> Result<Self> {
        Ok(RmsProp {
            core: Core::new(lr)?,
            ..Self::default()
        })
    }

    /// Sets the smoothing constant `alpha` of the running mean of `g^2` (default 0.99).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`](crate::Error::InvalidParameter) unless `0 <= alpha < 1`.
    pub fn alpha(mut self, alpha: T) -> Result<Self> {
        self.alpha = check_unit("alpha", alpha)?;
        Ok(self)
    }

    /// Sets `eps`, added to the root mean square (default 1e-8).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`](crate::Error::InvalidParameter) unless `eps` is finite and
    /// positive.
    pub fn eps(mut self, eps: T) -> Result<Self> {
        self.eps = check_positive("eps", eps)?;
        Ok(self)
    }

    /// Sets the momentum `mu` (default 0, off). Switching it on or off forgets the state.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`](crate::Error::InvalidParameter) unless `0 <= mu < 1`.
    pub fn momentum(mut self, mu: T) -> Result<Self> {
        check_unit("momentum", mu)?;
        if (mu > T::zero()) != (self.momentum > T::zero()) {
            self.core.reset();
        }
        self.momentum = mu;
        Ok(self)
    }

    /// Centered RMSProp: divides by an estimate of the gradient's standard deviation instead of
    /// its root mean square. Switching it on or off forgets the state.
    pub fn centered(mut self, on: bool) -> Self {
        if on != self.centered {
            self.core.reset();
        }
        self.centered = on;
        self
    }

    /// Sets the L2 penalty `lambda` (PyTorch's `weight_decay`), added to the gradient as
    /// `lambda * w`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`](crate::Error::InvalidParameter) unless `lambda` is finite and
    /// not negative.
    pub fn weight_decay(mut self, lambda: T) -> Result<Self> {
        self.weight_decay = check_non_negative("weight decay", lambda)?;
        Ok(self)
    }

    fn names(&self) -> &'static [&'static str] {
        match (self.momentum > T::zero(), self.centered) {
            (false, false) => &["square_avg"],
            (true, false) => &["square_avg", "momentum_buffer"],
            (false, true) => &["square_avg", "grad_avg"],
            (true, true) => &["square_avg", "momentum_buffer", "grad_avg"],
        }
    }
}

impl<T: Float> Optimizer<T> for RmsProp<T> {
    core_methods!();

    fn update(&mut self, index: usize, value: &mut Matrix<T>, grad: &Matrix<T>) {
        assert_eq!(value.shape(), grad.shape(), "gradient shape");
        let hyper = self.hyper();
        let (with_momentum, centered) = (hyper.mu > T::zero(), self.centered);
        let count = self.names().len();
        let zeros = [T::zero(); 3];
        let buffers = self.core.slots.get(index, grad, &zeros[..count]);
        let (square_avg, rest) = buffers.split_first_mut().expect("square_avg");
        let square_avg = square_avg.as_mut_slice();
        let mut rest = rest.iter_mut().map(|m| m.as_mut_slice());
        let mut momentum_buf = if with_momentum { rest.next() } else { None };
        let mut grad_avg = if centered { rest.next() } else { None };
        let pairs = value.as_mut_slice().iter_mut().zip(grad.as_slice());
        for (i, (w, &g)) in pairs.enumerate() {
            let a = grad_avg.as_deref().map(|a| a[i]);
            let b = momentum_buf.as_deref().map(|b| b[i]);
            let next = hyper.step(*w, g, square_avg[i], a, b);
            (*w, square_avg[i]) = (next.w, next.v);
            if let (Some(buf), Some(a)) = (grad_avg.as_deref_mut(), next.a) {
                buf[i] = a;
            }
            if let (Some(buf), Some(b)) = (momentum_buf.as_deref_mut(), next.b) {
                buf[i] = b;
            }
        }
    }
}

impl<T: Float> Checked<T> for RmsProp<T> {
    core_access!();

    fn stays_finite(&self, index: usize, value: &Matrix<T>, grad: &Matrix<T>) -> bool {
        let Some((w, g, buffers)) = self.core.slots.with_buffers(index, value, grad) else {
            return false;
        };
        let hyper = self.hyper();
        let square_avg = buffers.buffer(0);
        let mut k = 1;
        let mut next_buffer = |on: bool| {
            on.then(|| {
                k += 1;
                buffers.buffer(k - 1)
            })
        };
        let momentum_buf = next_buffer(hyper.mu > T::zero());
        let grad_avg = next_buffer(self.centered);
        // Absent buffers are read from `w` and ignored.
        let (a, b) = (grad_avg.unwrap_or(w), momentum_buf.unwrap_or(w));
        let (centered, with_momentum) = (grad_avg.is_some(), momentum_buf.is_some());
        all_finite_zip([w, g, square_avg, a, b], |[w, g, v, a, b]| {
            let next = hyper.step(w, g, v, centered.then_some(a), with_momentum.then_some(b));
            let zero = T::zero();
            next.w + next.v + next.a.unwrap_or(zero) + next.b.unwrap_or(zero)
        })
    }
}

/// The scalars of one RMSProp step.
#[derive(Clone, Copy)]
struct Hyper<T: Float> {
    lr: T,
    alpha: T,
    eps: T,
    mu: T,
    lambda: T,
}

/// One weight and its buffers after a step.
struct Next<T> {
    w: T,
    v: T,
    a: Option<T>,
    b: Option<T>,
}

impl<T: Float> RmsProp<T> {
    fn hyper(&self) -> Hyper<T> {
        Hyper {
            lr: self.core.lr,
            alpha: self.alpha,
            eps: self.eps,
            mu: self.momentum,
            lambda: self.weight_decay,
        }
    }
}

impl<T: Float> Hyper<T> {
    /// One weight `w` with gradient `g`, square average `v`, gradient average `a` (centered) and
    /// momentum buffer `b` (with momentum), after a step.
    #[inline(always)]
    fn step(self, w: T, g: T, v: T, a: Option<T>, b: Option<T>) -> Next<T> {
        let one = T::one();
        let g = g + self.lambda * w;
        let v = self.alpha * v + (one - self.alpha) * g * g;
        let mut var = v;
        let a = a.map(|a| {
            let a = self.alpha * a + (one - self.alpha) * g;
            // Never below 0, where rounding could otherwise make sqrt return NaN.
            var = (var - a * a).max(T::zero());
            a
        });
        let d = var.sqrt() + self.eps;
        match b {
            Some(b) => {
                let b = self.mu * b + g / d;
                Next {
                    w: w - self.lr * b,
                    v,
                    a,
                    b: Some(b),
                }
            }
            None => Next {
                w: w - self.lr * g / d,
                v,
                a,
                b: None,
            },
        }
    }
}
