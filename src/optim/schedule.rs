//! Learning-rate schedules: the learning rate as a function of the epoch.

use std::f64::consts::PI;
use std::fmt::Debug;

use super::state::check_lr;
use crate::{Error, Float, Optimizer, Result};

/// A learning-rate schedule: the rate to use during epoch `epoch` (0 = the first) when training
/// started with rate `base`.
///
/// The schedules here give PyTorch's closed forms for `torch.optim.lr_scheduler`, where epoch `e`
/// is the number of `scheduler.step()` calls made before the epoch. Implement the trait for your
/// own schedule; [`LrScheduler`] applies one to an optimizer.
pub trait Schedule: Debug + Send + Sync {
    /// The learning rate for epoch `epoch`, from the initial rate `base`.
    fn learning_rate(&self, base: f64, epoch: usize) -> f64;
}

/// Multiplies the rate by `gamma` every `step_size` epochs, as PyTorch's `StepLR`.
///
/// ```text
/// lr(e) = base * gamma^floor(e / step_size)
/// ```
///
/// ```
/// use backprop::optim::{Schedule, StepLr};
/// let s = StepLr::new(30, 0.1)?;
/// assert_eq!(s.learning_rate(0.05, 29), 0.05);
/// assert!((s.learning_rate(0.05, 30) - 0.005).abs() < 1e-15);
/// # Ok::<(), backprop::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepLr {
    step_size: usize,
    gamma: f64,
}

impl StepLr {
    /// Decay by `gamma` every `step_size` epochs.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] if `step_size` is 0 or `gamma` is not finite and positive.
    pub fn new(step_size: usize, gamma: f64) -> Result<Self> {
        if step_size == 0 {
            return Err(Error::param("step size", 0.0, "must be at least 1 epoch"));
        }
        Ok(StepLr {
            step_size,
            gamma: positive_gamma(gamma)?,
        })
    }
}

impl Schedule for StepLr {
    fn learning_rate(&self, base: f64, epoch: usize) -> f64 {
        base * self.gamma.powf((epoch / self.step_size) as f64)
    }
}

/// Multiplies the rate by `gamma` every epoch, as PyTorch's `ExponentialLR`.
///
/// ```text
/// lr(e) = base * gamma^e
/// ```
///
/// ```
/// use backprop::optim::{ExponentialLr, Schedule};
/// let s = ExponentialLr::new(0.5)?;
/// assert_eq!(s.learning_rate(0.1, 3), 0.0125);
/// # Ok::<(), backprop::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExponentialLr {
    gamma: f64,
}

impl ExponentialLr {
    /// Decay by `gamma` each epoch.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] unless `gamma` is finite and positive.
    pub fn new(gamma: f64) -> Result<Self> {
        Ok(ExponentialLr {
            gamma: positive_gamma(gamma)?,
        })
    }
}

impl Schedule for ExponentialLr {
    fn learning_rate(&self, base: f64, epoch: usize) -> f64 {
        base * self.gamma.powf(epoch as f64)
    }
}

/// Half a cosine from the initial rate down to `eta_min` over `t_max` epochs, as PyTorch's
/// `CosineAnnealingLR` (without restarts).
///
/// ```text
/// lr(e) = eta_min + (base - eta_min) * (1 + cos(pi * e / t_max)) / 2
/// ```
///
/// The rate reaches `eta_min` at epoch `t_max`; after it the formula goes on, back up the
/// cosine, as PyTorch's closed form does.
///
/// ```
/// use backprop::optim::{CosineAnnealingLr, Schedule};
/// let s = CosineAnnealingLr::new(10, 0.0)?;
/// assert_eq!(s.learning_rate(0.1, 0), 0.1);
/// assert!((s.learning_rate(0.1, 5) - 0.05).abs() < 1e-15);
/// assert!(s.learning_rate(0.1, 10).abs() < 1e-15);
/// # Ok::<(), backprop::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CosineAnnealingLr {
    t_max: usize,
    eta_min: f64,
}

impl CosineAnnealingLr {
    /// Anneal to `eta_min` over `t_max` epochs.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] if `t_max` is 0 or `eta_min` is not finite and not negative.
    pub fn new(t_max: usize, eta_min: f64) -> Result<Self> {
        if t_max == 0 {
            return Err(Error::param("t_max", 0.0, "must be at least 1 epoch"));
        }
        Ok(CosineAnnealingLr {
            t_max,
            eta_min: check_lr(eta_min)?,
        })
    }
}

impl Schedule for CosineAnnealingLr {
    fn learning_rate(&self, base: f64, epoch: usize) -> f64 {
        let phase = PI * epoch as f64 / self.t_max as f64;
        self.eta_min + (base - self.eta_min) * (1.0 + phase.cos()) / 2.0
    }
}

fn positive_gamma(gamma: f64) -> Result<f64> {
    if gamma.is_finite() && gamma > 0.0 {
        Ok(gamma)
    } else {
        Err(Error::param("gamma", gamma, "must be finite and positive"))
    }
}

/// Applies a [`Schedule`] to an optimizer, from the learning rate the optimizer had when the
/// scheduler was made.
///
/// Call [`apply`](LrScheduler::apply) at the start of every epoch `e` (0-based), before its
/// first update; this is what PyTorch's `scheduler.step()` at the end of each epoch amounts to.
///
/// ```
/// use backprop::prelude::*;
/// use backprop::optim::{LrScheduler, StepLr};
///
/// let mut sgd = Sgd::<f64>::new(0.1)?.momentum(0.9)?;
/// let scheduler = LrScheduler::new(StepLr::new(2, 0.5)?, &sgd);
/// let mut rates = Vec::new();
/// for epoch in 0..5 {
///     rates.push(scheduler.apply(&mut sgd, epoch)?);
///     // ... train one epoch ...
/// }
/// assert_eq!(rates, [0.1, 0.1, 0.05, 0.05, 0.025]);
/// # Ok::<(), backprop::Error>(())
/// ```
#[derive(Debug)]
pub struct LrScheduler<T: Float> {
    schedule: Box<dyn Schedule>,
    base: T,
}

impl<T: Float> LrScheduler<T> {
    /// A scheduler whose initial rate is `opt`'s current learning rate.
    pub fn new(schedule: impl Schedule + 'static, opt: &dyn Optimizer<T>) -> Self {
        LrScheduler {
            schedule: Box::new(schedule),
            base: opt.learning_rate(),
        }
    }

    /// The initial learning rate the schedule starts from.
    pub fn base_lr(&self) -> T {
        self.base
    }

    /// The learning rate for epoch `epoch`.
    pub fn learning_rate(&self, epoch: usize) -> T {
        T::of(self.schedule.learning_rate(self.base.as_f64(), epoch))
    }

    /// Sets `opt`'s learning rate for epoch `epoch` and returns it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] if the schedule gives a rate the optimizer rejects (negative,
    /// or overflowing to infinity); the optimizer keeps its rate.
    pub fn apply(&self, opt: &mut dyn Optimizer<T>, epoch: usize) -> Result<T> {
        let lr = self.learning_rate(epoch);
        opt.set_learning_rate(lr)?;
        Ok(lr)
    }
}
