//! RMSProp: gradient descent divided by a running root mean square of the gradient.

use super::state::{Core, check_non_negative, check_positive, check_unit, core_methods};
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
        let (lr, alpha, eps) = (self.core.lr, self.alpha, self.eps);
        let (mu, lambda) = (self.momentum, self.weight_decay);
        let (with_momentum, centered) = (mu > T::zero(), self.centered);
        let count = self.names().len();
        let zeros = [T::zero(); 3];
        let buffers = self.core.slots.get(index, grad, &zeros[..count]);
        let (square_avg, rest) = buffers.split_first_mut().expect("square_avg");
        let square_avg = square_avg.as_mut_slice();
        let mut rest = rest.iter_mut().map(|m| m.as_mut_slice());
        let mut momentum_buf = if with_momentum { rest.next() } else { None };
        let mut grad_avg = if centered { rest.next() } else { None };
        let one = T::one();
        let pairs = value.as_mut_slice().iter_mut().zip(grad.as_slice());
        for (i, (w, &g)) in pairs.enumerate() {
            let g = g + lambda * *w;
            let v = &mut square_avg[i];
            *v = alpha * *v + (one - alpha) * g * g;
            let mut var = *v;
            if let Some(a) = grad_avg.as_deref_mut() {
                a[i] = alpha * a[i] + (one - alpha) * g;
                // Never below 0, where rounding could otherwise make sqrt return NaN.
                var = (var - a[i] * a[i]).max(T::zero());
            }
            let d = var.sqrt() + eps;
            if let Some(b) = momentum_buf.as_deref_mut() {
                b[i] = mu * b[i] + g / d;
                *w -= lr * b[i];
            } else {
                *w -= lr * g / d;
            }
        }
    }
}
