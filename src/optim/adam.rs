//! Adam and AdamW: steps scaled by bias-corrected running moments of the gradient.

use super::checked::Checked;
use super::state::{
    Core, check_non_negative, check_positive, check_unit, core_access, core_methods,
};
use crate::linalg::{all_parts, for_parts};
use crate::validate::all_finite_zip;
use crate::{Float, Matrix, Optimizer, OptimizerState, Result};

const MOMENTS: &[&str] = &["exp_avg", "exp_avg_sq"];

/// Adam, the algorithm of PyTorch's `torch.optim.Adam` (Kingma and Ba, 2015), the optimizer the
/// lecture notebook uses through Keras.
///
/// With `g` the gradient, `w` the parameter, `m` and `v` the running means of `g` and `g^2`
/// (`"exp_avg"`, `"exp_avg_sq"`, zero before the first step) and `t` the step (1 at the first
/// step):
///
/// ```text
/// g  = weight_delta + lambda * w                 (only if weight_decay > 0: an L2 penalty)
/// m  = beta1 * m + (1 - beta1) * g
/// v  = beta2 * v + (1 - beta2) * g^2
/// m^ = m / (1 - beta1^t)                          (bias correction)
/// v^ = v / (1 - beta2^t)
/// w -= lr * m^ / (sqrt(v^) + eps)
/// ```
///
/// Defaults as PyTorch: `lr = 0.001`, `betas = (0.9, 0.999)`, `eps = 1e-8`, `weight_decay = 0`.
/// Keras's `Adam` has the same rule and defaults except `eps = 1e-7`: `.eps(1e-7)`.
///
/// ```
/// use backprop::prelude::*;
/// use nalgebra::DMatrix;
///
/// let mut adam = Adam::<f64>::new(0.1)?.eps(1e-7)?;
/// let mut w = DMatrix::from_element(1, 1, 1.0);
/// adam.begin_step();
/// adam.update(0, &mut w, &DMatrix::from_element(1, 1, -4.0));
/// // m^ = -4, v^ = 16: the first step is lr * sign(g), whatever the gradient's size
/// assert!((w[(0, 0)] - (1.0 + 0.1 * 4.0 / (4.0 + 1e-7))).abs() < 1e-12);
/// assert!(Adam::<f64>::new(0.1)?.betas(0.9, 1.0).is_err());
/// # Ok::<(), backprop::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Adam<T: Float> {
    core: Core<T>,
    beta1: T,
    beta2: T,
    eps: T,
    weight_decay: T,
    /// AdamW: decay the weights directly instead of adding to the gradient.
    decoupled: bool,
}

impl<T: Float> Default for Adam<T> {
    /// PyTorch's defaults: `lr = 0.001`, `betas = (0.9, 0.999)`, `eps = 1e-8`, no weight decay.
    fn default() -> Self {
        Adam {
            core: Core::new(T::of(0.001)).expect("valid default"),
            beta1: T::of(0.9),
            beta2: T::of(0.999),
            eps: T::of(1e-8),
            weight_decay: T::zero(),
            decoupled: false,
        }
    }
}

impl<T: Float> Adam<T> {
    /// Adam with learning rate `lr` and PyTorch's other defaults.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`](crate::Error::InvalidParameter) unless `lr` is finite and
    /// positive.
    pub fn new(lr: T) -> Result<Self> {
        Ok(Adam {
            core: Core::new(lr)?,
            ..Self::default()
        })
    }

    /// Sets the decay rates of the two moments (default `(0.9, 0.999)`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`](crate::Error::InvalidParameter) unless both are in `[0, 1)`.
    pub fn betas(mut self, beta1: T, beta2: T) -> Result<Self> {
        self.beta1 = check_unit("beta1", beta1)?;
        self.beta2 = check_unit("beta2", beta2)?;
        Ok(self)
    }

    /// Sets `eps`, added to `sqrt(v^)` (default 1e-8; Keras uses 1e-7).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`](crate::Error::InvalidParameter) unless finite and positive.
    pub fn eps(mut self, eps: T) -> Result<Self> {
        self.eps = check_positive("eps", eps)?;
        Ok(self)
    }

    /// Sets the L2 penalty `lambda` (PyTorch's `weight_decay` for `Adam`): `lambda * w` is added to
    /// the gradient before the moments. For decoupled weight decay use [`AdamW`].
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`](crate::Error::InvalidParameter) unless finite and not negative.
    pub fn weight_decay(mut self, lambda: T) -> Result<Self> {
        self.weight_decay = check_non_negative("weight decay", lambda)?;
        Ok(self)
    }

    fn names(&self) -> &'static [&'static str] {
        MOMENTS
    }
}

impl<T: Float> Optimizer<T> for Adam<T> {
    core_methods!();

    fn update(&mut self, index: usize, value: &mut Matrix<T>, grad: &Matrix<T>) {
        assert_eq!(value.shape(), grad.shape(), "gradient shape");
        // Scalars in f64, as PyTorch computes them in Python floats.
        let t = self.core.t().min(i32::MAX as u64) as i32;
        let (lr, beta1, beta2) = (
            self.core.lr.as_f64(),
            self.beta1.as_f64(),
            self.beta2.as_f64(),
        );
        let step_size = T::of(lr / (1.0 - beta1.powi(t)));
        let inv_sqrt_bc2 = T::of(1.0 / (1.0 - beta2.powi(t)).sqrt());
        let (b1, b2, eps, lambda) = (self.beta1, self.beta2, self.eps, self.weight_decay);
        let one = T::one();
        let decoupled = self.decoupled;
        // AdamW: w *= 1 - lr * lambda, before the Adam step.
        let keep = T::of(1.0 - lr * lambda.as_f64());
        let coupled = if decoupled { T::zero() } else { lambda };
        let [m, v] = self.core.slots.get(index, grad, &[T::zero(), T::zero()]) else {
            unreachable!("two buffers")
        };
        let data = (
            value.as_mut_slice(),
            grad.as_slice(),
            m.as_mut_slice(),
            v.as_mut_slice(),
        );
        // Long parameters are shared between the product threads, part by part.
        for_parts(data, &|(w, g, m, v)| {
            crate::linalg::vectorized(|| {
                if decoupled {
                    w.iter_mut().for_each(|w| *w *= keep);
                }
                for ((w, &g), (m, v)) in w.iter_mut().zip(g).zip(m.iter_mut().zip(v.iter_mut())) {
                    let g = g + coupled * *w;
                    *m = b1 * *m + (one - b1) * g;
                    *v = b2 * *v + (one - b2) * g * g;
                    // w -= lr * m^ / (sqrt(v^) + eps), with the corrections folded into the scalars
                    *w -= step_size * *m / (v.sqrt() * inv_sqrt_bc2 + eps);
                }
            })
        });
    }
}

impl<T: Float> Checked<T> for Adam<T> {
    core_access!();

    /// Judged from a bound rather than the update itself, which saves the square roots and
    /// divisions: the moments are computed exactly, and as `sqrt(v^) + eps >= eps`, a weight moves
    /// by at most `lr / (1 - beta1^t) * |m| / eps`; the answer is `true` if the moments are
    /// finite, `v` is not negative (its square root is taken), the numerator
    /// `lr / (1 - beta1^t) * m` is finite (it overflows first when `eps` is large), and every
    /// weight plus that bound stays below half the largest float.
    fn stays_finite(&self, index: usize, value: &Matrix<T>, grad: &Matrix<T>) -> bool {
        let Some((w, g, buffers)) = self.core.slots.with_buffers(index, value, grad) else {
            return false;
        };
        let (m, v) = (buffers.buffer(0), buffers.buffer(1));
        let t = (self.core.step + 1).min(i32::MAX as u64) as i32;
        let lr = self.core.lr.as_f64();
        // As `update` computes it.
        let step_size = T::of(lr / (1.0 - self.beta1.as_f64().powi(t)));
        let reach = T::of(lr / (1.0 - self.beta1.as_f64().powi(t)) / self.eps.as_f64());
        let keep = if self.decoupled {
            T::of(1.0 - lr * self.weight_decay.as_f64())
        } else {
            T::one()
        };
        let coupled = if self.decoupled {
            T::zero()
        } else {
            self.weight_decay
        };
        let (b1, b2, one, two) = (self.beta1, self.beta2, T::one(), T::of(2.0));
        let (zero, nan) = (T::zero(), T::of(f64::NAN));
        all_parts((w, g, m, v), &|(w, g, m, v)| {
            crate::linalg::vectorized(|| {
                all_finite_zip([w, g, m, v], |[w, g, m, v]| {
                    let g = g + coupled * w;
                    let m = b1 * m + (one - b1) * g;
                    let v = b2 * v + (one - b2) * g * g;
                    // Infinite (so not finite) when the bound reaches half the largest float.
                    let bound = ((w * keep).abs() + reach * m.abs()) * two + step_size * m.abs();
                    // A select, not a branch: NaN (refused) for a negative `v`.
                    let v = if v < zero { nan } else { v };
                    v + bound
                })
            })
        })
    }

    /// Adam's moments stay NaN or infinite once they are (`beta * m + (1 - beta) * g`), and so
    /// does a weight (`w - step * m / (sqrt(v) + eps)`, after `w *= keep` for AdamW).
    fn end_checkable(&self) -> bool {
        true
    }
}

/// AdamW: Adam with decoupled weight decay (Loshchilov and Hutter, 2019), the algorithm of
/// PyTorch's `torch.optim.AdamW`.
///
/// The weights shrink by `lr * lambda` of themselves at every step, separately from the gradient,
/// so the decay is not rescaled by Adam's per-weight step sizes; then the [`Adam`] step follows
/// with the plain gradient:
///
/// ```text
/// w *= 1 - lr * lambda
/// m  = beta1 * m + (1 - beta1) * weight_delta
/// v  = beta2 * v + (1 - beta2) * weight_delta^2
/// w -= lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)
/// ```
///
/// Defaults as PyTorch: `lr = 0.001`, `betas = (0.9, 0.999)`, `eps = 1e-8`,
/// `weight_decay = 0.01`. The state is Adam's.
///
/// ```
/// use backprop::prelude::*;
/// use nalgebra::DMatrix;
///
/// let mut opt = AdamW::<f64>::new(0.1)?.weight_decay(0.5)?;
/// let mut w = DMatrix::from_element(1, 1, 2.0);
/// opt.begin_step();
/// opt.update(0, &mut w, &DMatrix::from_element(1, 1, 0.0)); // no gradient: only the decay
/// assert!((w[(0, 0)] - 2.0 * (1.0 - 0.1 * 0.5)).abs() < 1e-15);
/// # Ok::<(), backprop::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct AdamW<T: Float>(Adam<T>);

impl<T: Float> Default for AdamW<T> {
    /// PyTorch's defaults: `lr = 0.001`, `betas = (0.9, 0.999)`, `eps = 1e-8`,
    /// `weight_decay = 0.01`.
    fn default() -> Self {
        AdamW(Adam {
            weight_decay: T::of(0.01),
            decoupled: true,
            ..Adam::default()
        })
    }
}

impl<T: Float> AdamW<T> {
    /// AdamW with learning rate `lr` and PyTorch's other defaults (weight decay 0.01).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`](crate::Error::InvalidParameter) unless `lr` is finite and
    /// positive.
    pub fn new(lr: T) -> Result<Self> {
        let mut opt = Self::default();
        opt.0.core = Core::new(lr)?;
        Ok(opt)
    }

    /// Sets the decay rates of the two moments (default `(0.9, 0.999)`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`](crate::Error::InvalidParameter) unless both are in `[0, 1)`.
    pub fn betas(self, beta1: T, beta2: T) -> Result<Self> {
        self.0.betas(beta1, beta2).map(AdamW)
    }

    /// Sets `eps`, added to `sqrt(v^)` (default 1e-8).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`](crate::Error::InvalidParameter) unless finite and positive.
    pub fn eps(self, eps: T) -> Result<Self> {
        self.0.eps(eps).map(AdamW)
    }

    /// Sets the decoupled weight decay `lambda` (default 0.01): `w *= 1 - lr * lambda` each step.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`](crate::Error::InvalidParameter) unless finite and not negative.
    pub fn weight_decay(self, lambda: T) -> Result<Self> {
        self.0.weight_decay(lambda).map(AdamW)
    }
}

impl<T: Float> Optimizer<T> for AdamW<T> {
    fn begin_step(&mut self) {
        self.0.begin_step();
    }

    fn update(&mut self, index: usize, value: &mut Matrix<T>, grad: &Matrix<T>) {
        self.0.update(index, value, grad);
    }

    fn reset(&mut self) {
        self.0.reset();
    }

    fn learning_rate(&self) -> T {
        self.0.learning_rate()
    }

    fn set_learning_rate(&mut self, lr: T) -> Result<()> {
        self.0.set_learning_rate(lr)
    }

    fn state(&self) -> OptimizerState<T> {
        self.0.state()
    }

    fn load_state(&mut self, state: &OptimizerState<T>) -> Result<()> {
        self.0.load_state(state)
    }
}

/// AdamW is an [`Adam`] inside, and judged as one.
impl<T: Float> Checked<T> for AdamW<T> {
    fn core(&self) -> &Core<T> {
        self.0.core()
    }

    fn core_mut(&mut self) -> &mut Core<T> {
        self.0.core_mut()
    }

    fn buffers(&self) -> usize {
        self.0.buffers()
    }

    fn stays_finite(&self, index: usize, value: &Matrix<T>, grad: &Matrix<T>) -> bool {
        self.0.stays_finite(index, value, grad)
    }

    fn end_checkable(&self) -> bool {
        self.0.end_checkable()
    }
}
