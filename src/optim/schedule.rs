//! Learning-rate schedules: the learning rate as a function of the epoch.

use std::f64::consts::PI;
use std::fmt::Debug;
use std::sync::Mutex;

use super::state::check_lr;
use crate::{Error, Float, Optimizer, Result};

/// A learning-rate schedule: the rate to use during epoch `epoch` (0 = the first) when training
/// started with rate `base`.
///
/// The schedules here give PyTorch's closed forms for `torch.optim.lr_scheduler`, where epoch `e`
/// is the number of `scheduler.step()` calls made before the epoch. Implement the trait for your
/// own schedule; [`LrScheduler`] applies one to an optimizer.
///
/// A schedule that follows a metric (as [`ReduceLrOnPlateau`] does) also implements
/// [`observe`](Schedule::observe), which `fit` calls at the end of every epoch with the
/// monitored loss, before it asks for the next epoch's rate:
///
/// ```text
/// for each epoch e:   lr = schedule.learning_rate(base, e);  train;  schedule.observe(e, loss)
/// ```
///
/// Such a schedule keeps its state behind `&self` (a `Mutex`), since [`Fit`](crate::Fit) shares
/// it: a clone of a `Fit` shares the state too, which is what
/// [`Fit::resume`](crate::Fit::resume) needs.
pub trait Schedule: Debug + Send + Sync {
    /// The learning rate for epoch `epoch`, from the initial rate `base`.
    fn learning_rate(&self, base: f64, epoch: usize) -> f64;

    /// Takes note of `loss`, the monitored loss at the end of epoch `epoch` (the validation loss
    /// when there is validation data, else the training loss). The schedules that are functions
    /// of the epoch alone ignore it, as this default does.
    fn observe(&self, epoch: usize, loss: f64) {
        let _ = (epoch, loss);
    }
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

/// Scales the rate linearly from `start_factor * base` to `end_factor * base` over
/// `total_iters` epochs, then keeps it there, as PyTorch's `LinearLR`: a warm-up when
/// `start_factor < end_factor`.
///
/// ```text
/// lr(e) = base * (start_factor + (end_factor - start_factor) * min(e, total_iters) / total_iters)
/// ```
///
/// This is PyTorch's closed form; its `scheduler.step()` multiplies the previous rate by a
/// ratio instead, which agrees to within a few units in the last place
/// (`tests/golden/schedules.py` prints PyTorch's rates, which `tests/steer.rs` checks).
///
/// ```
/// use backprop::optim::{LinearLr, Schedule};
/// // Warm up from a quarter of the rate to all of it over 4 epochs.
/// let s = LinearLr::new(0.25, 1.0, 4)?;
/// let factors: Vec<f64> = (0..6).map(|e| s.learning_rate(1.0, e)).collect();
/// assert_eq!(factors, [0.25, 0.4375, 0.625, 0.8125, 1.0, 1.0]);
/// # Ok::<(), backprop::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinearLr {
    start_factor: f64,
    end_factor: f64,
    total_iters: usize,
}

impl LinearLr {
    /// From `start_factor` times the rate to `end_factor` times it over `total_iters` epochs.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] unless `start_factor` is in `(0, 1]`, `end_factor` in
    /// `[0, 1]` (PyTorch's bounds) and `total_iters` at least 1.
    pub fn new(start_factor: f64, end_factor: f64, total_iters: usize) -> Result<Self> {
        if !(start_factor > 0.0 && start_factor <= 1.0) {
            return Err(Error::param(
                "start factor",
                start_factor,
                "must be greater than 0 and at most 1",
            ));
        }
        if !(0.0..=1.0).contains(&end_factor) {
            return Err(Error::param(
                "end factor",
                end_factor,
                "must be between 0 and 1",
            ));
        }
        if total_iters == 0 {
            return Err(Error::param("total_iters", 0.0, "must be at least 1 epoch"));
        }
        Ok(LinearLr {
            start_factor,
            end_factor,
            total_iters,
        })
    }
}

impl Schedule for LinearLr {
    fn learning_rate(&self, base: f64, epoch: usize) -> f64 {
        let done = epoch.min(self.total_iters) as f64 / self.total_iters as f64;
        base * (self.start_factor + (self.end_factor - self.start_factor) * done)
    }
}

/// Multiplies the rate by `factor` when the monitored loss has not improved for more than
/// `patience` epochs, as PyTorch's `ReduceLROnPlateau` with `mode='min'` and
/// `threshold_mode='rel'`.
///
/// At the end of every epoch ([`Schedule::observe`], which `fit` calls with the validation loss
/// when there is validation data, else the training loss):
///
/// ```text
/// improved     = loss < best * (1 - threshold)          (best starts at infinity)
/// if improved:   best = loss, bad = 0     else: bad += 1
/// if cooldown_left > 0:  cooldown_left -= 1, bad = 0
/// if bad > patience:     lr = max(lr * factor, min_lr)  (only if that lowers it by more than
///                        1e-8), cooldown_left = cooldown, bad = 0
/// ```
///
/// The rate of epoch 0 is `base`, and asking for epoch 0's rate starts the schedule afresh, so
/// that one `ReduceLrOnPlateau` can serve run after run; a run that goes on with
/// [`Fit::resume`](crate::Fit::resume) (or a clone of its `Fit`) keeps its state. The default
/// settings are PyTorch's: `threshold` 1e-4, `cooldown` 0, `min_lr` 0.
///
/// ```
/// use backprop::optim::{ReduceLrOnPlateau, Schedule};
/// let s = ReduceLrOnPlateau::new(0.5, 1)?;
/// let mut rates = Vec::new();
/// for (epoch, loss) in [1.0, 0.5, 0.5, 0.5, 0.5, 0.4].into_iter().enumerate() {
///     rates.push(s.learning_rate(0.1, epoch));
///     s.observe(epoch, loss);
/// }
/// // Two epochs without improvement are more than a patience of 1: the rate halves.
/// assert_eq!(rates, [0.1, 0.1, 0.1, 0.1, 0.05, 0.05]);
/// # Ok::<(), backprop::Error>(())
/// ```
#[derive(Debug)]
pub struct ReduceLrOnPlateau {
    factor: f64,
    patience: usize,
    threshold: f64,
    cooldown: usize,
    min_lr: f64,
    state: Mutex<Plateau>,
}

/// Where a [`ReduceLrOnPlateau`] is: PyTorch's `best`, `num_bad_epochs`, `cooldown_counter`, and
/// the current rate (`None` until the first is asked for).
#[derive(Debug, Clone, Copy)]
struct Plateau {
    best: f64,
    bad: usize,
    cooldown_left: usize,
    lr: Option<f64>,
}

impl Plateau {
    const FRESH: Plateau = Plateau {
        best: f64::INFINITY,
        bad: 0,
        cooldown_left: 0,
        lr: None,
    };
}

/// PyTorch's `eps`: a reduction smaller than this is not made.
const PLATEAU_EPS: f64 = 1e-8;

impl ReduceLrOnPlateau {
    /// Multiplies the rate by `factor` after more than `patience` epochs without improvement.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] unless `factor` is in `(0, 1)` (PyTorch refuses 1 and more).
    pub fn new(factor: f64, patience: usize) -> Result<Self> {
        if !(factor > 0.0 && factor < 1.0) {
            return Err(Error::param(
                "factor",
                factor,
                "must be greater than 0 and less than 1",
            ));
        }
        Ok(ReduceLrOnPlateau {
            factor,
            patience,
            threshold: 1e-4,
            cooldown: 0,
            min_lr: 0.0,
            state: Mutex::new(Plateau::FRESH),
        })
    }

    /// A loss improves only if it is below `best * (1 - threshold)`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] unless `threshold` is finite and in `[0, 1)`.
    pub fn threshold(mut self, threshold: f64) -> Result<Self> {
        if !(0.0..1.0).contains(&threshold) {
            return Err(Error::param(
                "threshold",
                threshold,
                "must be at least 0 and less than 1",
            ));
        }
        self.threshold = threshold;
        Ok(self)
    }

    /// Epochs after a reduction during which bad epochs are not counted.
    pub fn cooldown(mut self, epochs: usize) -> Self {
        self.cooldown = epochs;
        self
    }

    /// The rate is never reduced below `min_lr`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] unless `min_lr` is finite and not negative.
    pub fn min_lr(mut self, min_lr: f64) -> Result<Self> {
        self.min_lr = check_lr(min_lr)?;
        Ok(self)
    }

    /// The state, even if a thread panicked while holding it (every update leaves it whole).
    fn state(&self) -> std::sync::MutexGuard<'_, Plateau> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Schedule for ReduceLrOnPlateau {
    fn learning_rate(&self, base: f64, epoch: usize) -> f64 {
        let mut state = self.state();
        if epoch == 0 {
            *state = Plateau::FRESH;
        }
        *state.lr.get_or_insert(base)
    }

    fn observe(&self, _epoch: usize, loss: f64) {
        let mut s = self.state();
        if loss < s.best * (1.0 - self.threshold) {
            s.best = loss;
            s.bad = 0;
        } else {
            s.bad += 1;
        }
        if s.cooldown_left > 0 {
            s.cooldown_left -= 1;
            s.bad = 0;
        }
        if s.bad > self.patience {
            if let Some(old) = s.lr {
                let new = (old * self.factor).max(self.min_lr);
                if old - new > PLATEAU_EPS {
                    s.lr = Some(new);
                }
            }
            s.cooldown_left = self.cooldown;
            s.bad = 0;
        }
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

    /// Hands the monitored loss at the end of epoch `epoch` to the schedule (see
    /// [`Schedule::observe`]); call it after each epoch, before [`apply`](Self::apply) for the
    /// next.
    ///
    /// ```
    /// use backprop::prelude::*;
    /// use backprop::optim::{LrScheduler, ReduceLrOnPlateau};
    ///
    /// let mut sgd = Sgd::<f64>::new(0.1)?;
    /// let scheduler = LrScheduler::new(ReduceLrOnPlateau::new(0.5, 0)?, &sgd);
    /// let mut rates = Vec::new();
    /// for (epoch, loss) in [1.0, 0.5, 0.5, 0.5].into_iter().enumerate() {
    ///     rates.push(scheduler.apply(&mut sgd, epoch)?);
    ///     // ... train one epoch, measure its loss ...
    ///     scheduler.observe(epoch, loss);
    /// }
    /// assert_eq!(rates, [0.1, 0.1, 0.1, 0.05]);
    /// # Ok::<(), backprop::Error>(())
    /// ```
    pub fn observe(&self, epoch: usize, loss: f64) {
        self.schedule.observe(epoch, loss);
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
