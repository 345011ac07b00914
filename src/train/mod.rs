//! Training settings and the loop over epochs: [`Fit`], [`History`], early stopping, callbacks.
//!
//! # How `fit` runs
//!
//! ```text
//! Sequential::fit(x, y, opt, fit)
//!  └ Plan::new                      train/plan.rs: every setting and shape checked, buffers sized,
//!     │                             the optimizer put behind the Guard, end-of-epoch check chosen,
//!     │                             and whether one checked run may span all remaining epochs
//!     └ for each epoch              train/mod.rs: schedule, validation, history, checkpoint
//!        │                          (train/checkpoint.rs), callback, early stopping
//!        │                          (train/stopping.rs), progress (train/progress.rs)
//!        └ batches::epoch           train/batches.rs: the one batch loop (`each_batch`), in order
//!           │  (or batches::epochs  or reshuffled, summing loss and correct rows
//!           │   for the remaining epochs at once)
//!           └ Guard::step           train/guard.rs: divergence checked at every step, or
//!              │  (or unchecked_step  at the end of the epoch and replayed step by step if needed)
//!              │   between begin_run/end_run)
//!              ├ forward_rows       model/pass.rs: layer_1 = f(layer_0 . weights_0_1), per layer
//!              ├ backward_unchecked model/pass.rs: the loss's delta, then the delta rule per layer
//!              └ update_unchecked   model/pass.rs + model/params.rs: every parameter, walked in
//!                                   order, handed to Optimizer::update
//! ```
//!
//! Elsewhere: layers (`layer/`) own their parameters and gradients, the model (`model/`) owns the
//! activations and deltas that the book prints and predicts through `&self` (`model/infer.rs`);
//! optimizers (`optim/`) know nothing of the loop, and the guard learns what it needs about the
//! crate's own through the crate-private `optim::Checked`. Products and element-wise loops are in
//! `linalg/`, saving and loading in `io/` (encode, decode, atomic write).

use std::sync::Arc;

mod batches;
mod checkpoint;
mod guard;
mod plan;
mod progress;
mod stopping;

pub(crate) use guard::Guard;
pub use stopping::EarlyStopping;

use checkpoint::Checkpoint;
use plan::Plan;
use progress::Progress;
use stopping::Watch;

#[cfg(doc)]
use crate::Error;
use crate::optim::Schedule;
use crate::{Float, Matrix, Optimizer, Result, Sequential};

/// A callback after every epoch, which sees the epoch's figures and the model (see
/// [`Sequential::fit_with`]).
type Callback<'c, T> = &'c mut dyn FnMut(&Epoch<T>, &Sequential<T>) -> Control;

/// How many rows feed each update: the chapter's three flavours of gradient descent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Descent {
    /// One row per update (the chapter's first networks).
    Stochastic,
    /// `n` rows per update, weight deltas averaged; a last, smaller batch takes the leftover rows.
    MiniBatch(usize),
    /// All rows per update, weight deltas averaged.
    Full,
}

/// Settings for [`Sequential::fit`]: epochs, gradient-descent flavour, shuffling, validation,
/// early stopping, metrics and progress.
///
/// The defaults are the book's: rows in order, no validation, nothing printed.
///
/// ```
/// use backprop::{Descent, EarlyStopping, Fit};
/// let fit = Fit::new(40)
///     .mini_batch(32)
///     .shuffle(7)
///     .validation_split(0.2)
///     .early_stopping(EarlyStopping::new(5))
///     .accuracy(true);
/// assert_eq!(fit.descent, Descent::MiniBatch(32));
/// ```
#[derive(Debug, Clone)]
pub struct Fit {
    /// Passes over the training rows in this call.
    pub epochs: usize,
    /// Rows per update.
    pub descent: Descent,
    /// Seed of a reshuffle of the training rows before every epoch; `None` keeps them in order.
    pub shuffle: Option<u32>,
    /// Fraction of rows, taken from the end before any shuffling (as Keras does), held out for
    /// validation.
    pub validation_split: Option<f64>,
    /// Hold out the validation split per class, each class giving its last rows
    /// ([`stratified_rows`](crate::data::stratified_rows)), so that a class-sorted file still
    /// validates on every class; classes are read from the targets as the
    /// [`metrics`](crate::metrics) read them.
    pub stratify: bool,
    /// Stop when the monitored loss stops improving.
    pub early_stopping: Option<EarlyStopping>,
    /// Record classification accuracy per epoch (training accuracy is counted on each batch
    /// before its update, as Keras reports it).
    pub accuracy: bool,
    /// Report progress on standard error: a progress bar with the `progress` cargo feature, one
    /// line per epoch without it.
    pub progress: bool,
    /// Learning-rate schedule, applied at the start of every epoch from the optimizer's rate when
    /// `fit` is called or [`base_learning_rate`](Self#structfield.base_learning_rate) (as
    /// PyTorch's schedulers step once per epoch), and told each epoch's monitored loss at its
    /// end ([`Schedule::observe`]).
    pub schedule: Option<Arc<dyn Schedule>>,
    /// Rescale every step's gradients to a global norm of at most this (PyTorch's
    /// `clip_grad_norm_` between backward and update).
    pub clip_grad_norm: Option<f64>,
    /// The number of the first epoch of this call (0 for a fresh run): see
    /// [`Fit::initial_epoch`].
    pub initial_epoch: usize,
    /// The rate the schedule starts from: `None` takes the optimizer's rate when `fit` is called
    /// (see [`Fit::resume`]).
    pub base_learning_rate: Option<f64>,
    /// Where to save the model of the best epoch so far: see [`Fit::checkpoint`].
    #[cfg(feature = "safetensors")]
    pub checkpoint: Option<std::path::PathBuf>,
}

impl Fit {
    /// `epochs` passes of stochastic gradient descent, rows in order.
    pub fn new(epochs: usize) -> Self {
        Fit {
            epochs,
            descent: Descent::Stochastic,
            shuffle: None,
            validation_split: None,
            stratify: false,
            early_stopping: None,
            accuracy: false,
            progress: false,
            schedule: None,
            clip_grad_norm: None,
            initial_epoch: 0,
            base_learning_rate: None,
            #[cfg(feature = "safetensors")]
            checkpoint: None,
        }
    }

    /// Clips every step's gradients to a global norm of at most `max_norm`.
    pub fn clip_grad_norm(mut self, max_norm: f64) -> Self {
        self.clip_grad_norm = Some(max_norm);
        self
    }

    /// One row per update.
    pub fn stochastic(mut self) -> Self {
        self.descent = Descent::Stochastic;
        self
    }

    /// `n` rows per update.
    pub fn mini_batch(mut self, n: usize) -> Self {
        self.descent = Descent::MiniBatch(n);
        self
    }

    /// All rows per update.
    pub fn full(mut self) -> Self {
        self.descent = Descent::Full;
        self
    }

    /// Reshuffles the training rows before every epoch, from `seed`.
    pub fn shuffle(mut self, seed: u32) -> Self {
        self.shuffle = Some(seed);
        self
    }

    /// Holds out the last `fraction` of the rows for validation.
    pub fn validation_split(mut self, fraction: f64) -> Self {
        self.validation_split = Some(fraction);
        self
    }

    /// Stratifies the [`validation_split`](Self::validation_split) by class (see
    /// [`Fit::stratify`](Self#structfield.stratify)): the training rows then come in their
    /// file order without each class's last rows.
    ///
    /// ```
    /// use backprop::prelude::*;
    /// use nalgebra::DMatrix;
    /// // Sorted by class: a plain 25% split would validate on class 1 only.
    /// let x = DMatrix::from_fn(8, 1, |r, _| r as f64);
    /// let y = DMatrix::from_fn(8, 2, |r, c| f64::from(u8::from((r >= 4) == (c == 1))));
    /// let mut model = Sequential::<f64>::builder(1).dense(2, Softmax)
    ///     .loss(CategoricalCrossEntropy).build()?;
    /// let fit = Fit::new(1).validation_split(0.25).stratify(true).accuracy(true);
    /// let history = model.fit(&x, &y, &mut Sgd::new(0.1)?, &fit)?;
    /// assert_eq!(history.val_loss.len(), 1);
    /// # Ok::<(), backprop::Error>(())
    /// ```
    pub fn stratify(mut self, on: bool) -> Self {
        self.stratify = on;
        self
    }

    /// Stops early as `stop` says.
    pub fn early_stopping(mut self, stop: EarlyStopping) -> Self {
        self.early_stopping = Some(stop);
        self
    }

    /// Records accuracy per epoch.
    pub fn accuracy(mut self, on: bool) -> Self {
        self.accuracy = on;
        self
    }

    /// Reports progress on standard error.
    pub fn progress(mut self, on: bool) -> Self {
        self.progress = on;
        self
    }

    /// Sets the learning rate of every epoch from `schedule`.
    ///
    /// ```
    /// use backprop::prelude::*;
    /// use backprop::optim::StepLr;
    /// use nalgebra::DMatrix;
    /// let (x, y) = (DMatrix::from_element(2, 1, 1.0), DMatrix::from_element(2, 1, 0.5));
    /// let mut model = Sequential::<f64>::builder(1).dense(1, Identity).build()?;
    /// let mut sgd = Sgd::new(0.1)?;
    /// let fit = Fit::new(4).full().schedule(StepLr::new(2, 0.5)?);
    /// let history = model.fit(&x, &y, &mut sgd, &fit)?;
    /// assert_eq!(history.learning_rate, vec![0.1, 0.1, 0.05, 0.05]);
    /// # Ok::<(), backprop::Error>(())
    /// ```
    pub fn schedule(mut self, schedule: impl Schedule + 'static) -> Self {
        self.schedule = Some(Arc::new(schedule));
        self
    }

    /// Numbers this call's epochs from `epoch`, to go on with a run that trained epochs
    /// `0..epoch`: the schedule gives the rates of epochs `epoch..`, the shuffle goes on with the
    /// order of epoch `epoch` (the orders of the epochs before are drawn again and skipped, which
    /// takes about as long as shuffling their rows, without training), and the history, the
    /// callback, early stopping's best epoch and [`Error::Diverged`] count from `epoch`.
    /// [`epochs`](Self#structfield.epochs) stays the number of epochs this call trains (Keras's
    /// `epochs` is the last one instead).
    ///
    /// A schedule computes from [`base_learning_rate`](Self::base_learning_rate) if set, else
    /// from the optimizer's rate when `fit` is called, which after a scheduled run is the last
    /// epoch's rate, not the first: [`resume`](Self::resume) sets both from the run's history.
    ///
    /// ```
    /// use backprop::prelude::*;
    /// use nalgebra::DMatrix;
    /// let (x, y) = (DMatrix::from_element(2, 1, 1.0), DMatrix::from_element(2, 1, 0.5));
    /// let mut model = Sequential::<f64>::builder(1).dense(1, Identity).build()?;
    /// let mut seen = Vec::new();
    /// let fit = Fit::new(3).full().initial_epoch(10);
    /// let history = model.fit_with(&x, &y, None, &mut Sgd::new(0.1)?, &fit, &mut |epoch, _| {
    ///     seen.push(epoch.epoch);
    ///     Control::Continue
    /// })?;
    /// assert_eq!(seen, [10, 11, 12]);
    /// assert_eq!((history.initial_epoch, history.next_epoch()), (10, 13));
    /// # Ok::<(), backprop::Error>(())
    /// ```
    pub fn initial_epoch(mut self, epoch: usize) -> Self {
        self.initial_epoch = epoch;
        self
    }

    /// The rate a schedule starts from, instead of the optimizer's rate when `fit` is called.
    pub fn base_learning_rate(mut self, lr: f64) -> Self {
        self.base_learning_rate = Some(lr);
        self
    }

    /// Goes on where the run that returned `history` stopped: its next epoch number
    /// ([`initial_epoch`](Self::initial_epoch)) and the rate its schedule started from
    /// ([`base_learning_rate`](Self::base_learning_rate)). With the same model and optimizer,
    /// `n` epochs and then `m` more this way give the same bits as `n + m` epochs in one call
    /// (validation, a callback and a stateless schedule included).
    ///
    /// ```
    /// use backprop::prelude::*;
    /// use backprop::optim::StepLr;
    /// use nalgebra::DMatrix;
    /// let x = DMatrix::from_fn(6, 2, |r, c| (r + c) as f64 / 6.0);
    /// let y = DMatrix::from_fn(6, 1, |r, _| r as f64 / 6.0);
    /// let model = Sequential::<f64>::builder(2).seed(1).dense(3, Tanh).dense(1, Identity).build()?;
    /// let fit = Fit::new(4).mini_batch(2).shuffle(7).schedule(StepLr::new(3, 0.5)?);
    /// // Four epochs in one call ...
    /// let (mut once, mut sgd) = (model.clone(), Sgd::new(0.1)?);
    /// let all = once.fit(&x, &y, &mut sgd, &fit)?;
    /// // ... or two, then two more.
    /// let (mut twice, mut sgd) = (model.clone(), Sgd::new(0.1)?);
    /// let first = twice.fit(&x, &y, &mut sgd, &Fit { epochs: 2, ..fit.clone() })?;
    /// let rest = twice.fit(&x, &y, &mut sgd, &Fit { epochs: 2, ..fit.clone() }.resume(&first))?;
    /// assert_eq!(once.weights(0)?, twice.weights(0)?);
    /// assert_eq!(rest.initial_epoch, 2);
    /// assert_eq!([first.learning_rate, rest.learning_rate].concat(), all.learning_rate);
    /// # Ok::<(), backprop::Error>(())
    /// ```
    pub fn resume<T: Float>(mut self, history: &History<T>) -> Self {
        self.initial_epoch = history.next_epoch();
        self.base_learning_rate = Some(history.base_learning_rate);
        self
    }

    /// Saves the model to `path` ([`Sequential::save`], atomically) at the end of every epoch
    /// whose monitored loss (the validation loss when there is validation data, else the
    /// training loss) is lower than that of every earlier epoch of the call, so that `path`
    /// holds the best epoch's model: the first epoch always writes it (unless its loss is NaN),
    /// later ones only when they improve. It writes after the epoch's validation, before the
    /// callback and early stopping look at the epoch; the model saved is the one that was
    /// measured, with every update of the epoch applied.
    ///
    /// ```
    /// use backprop::prelude::*;
    /// use nalgebra::DMatrix;
    /// let path = std::env::temp_dir().join(format!("checkpoint-doc-{}.safetensors", std::process::id()));
    /// let x = DMatrix::from_row_slice(4, 1, &[0., 1., 2., 3.]);
    /// let y = DMatrix::from_row_slice(4, 1, &[1., 3., 5., 7.]);
    /// let mut model = Sequential::<f64>::builder(1).dense(1, Identity).build()?;
    /// let fit = Fit::new(20).full().checkpoint(&path);
    /// let history = model.fit(&x, &y, &mut Sgd::new(0.05)?, &fit)?;
    /// // The loss fell every epoch, so the last epoch was the best.
    /// assert!(history.loss.windows(2).all(|w| w[1] < w[0]));
    /// assert_eq!(Sequential::<f64>::load(&path)?.weights(0)?, model.weights(0)?);
    /// std::fs::remove_file(&path).ok();
    /// # Ok::<(), backprop::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `fit` checks before it trains that the model can be saved ([`Error::Unsupported`] for a
    /// layer, activation or loss that is not the crate's own) and that the directory of `path`
    /// exists ([`Error::Io`]); the model is unchanged then. A save that fails later returns its
    /// [`Error::Io`] and ends training after that epoch (its updates stay applied, and the
    /// history up to it is kept for
    /// [`take_interrupted_history`](Sequential::take_interrupted_history)); the file an earlier
    /// epoch wrote at `path` stays as it was.
    #[cfg(feature = "safetensors")]
    pub fn checkpoint(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.checkpoint = Some(path.into());
        self
    }
}

/// What one epoch measured, handed to the callback of [`Sequential::fit_with`].
#[derive(Debug, Clone, PartialEq)]
pub struct Epoch<T: Float> {
    /// Epoch number, from [`Fit::initial_epoch`] (0 unless set).
    pub epoch: usize,
    /// Mean training loss: each batch's loss before its update, weighted by its rows.
    pub loss: T,
    /// The learning rate the epoch trained with.
    pub learning_rate: T,
    /// Training accuracy, if [`Fit::accuracy`] is on.
    pub accuracy: Option<f64>,
    /// Validation loss after the epoch, if there is validation data.
    pub val_loss: Option<T>,
    /// Validation accuracy after the epoch, if there is validation data and accuracy is on.
    pub val_accuracy: Option<f64>,
}

/// What a callback tells the training loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Go on with the next epoch.
    Continue,
    /// Stop after this epoch.
    Stop,
}

/// What [`Sequential::fit`] measured, one entry per epoch run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct History<T: Float> {
    /// Mean training loss per epoch (see [`Epoch::loss`]), in the loss's own units: with
    /// [`SquaredError`](crate::SquaredError) that is half the mean of the book's
    /// `(pred - goal) ** 2`, so the book's `error_for_all_lights` is `2 * rows * loss`.
    pub loss: Vec<T>,
    /// Training accuracy per epoch (empty unless [`Fit::accuracy`]).
    pub accuracy: Vec<f64>,
    /// Validation loss per epoch (empty without validation data).
    pub val_loss: Vec<T>,
    /// Validation accuracy per epoch (empty without validation data or accuracy).
    pub val_accuracy: Vec<f64>,
    /// The learning rate of each epoch.
    pub learning_rate: Vec<T>,
    /// The epoch whose weights the model ends with, when early stopping restored them.
    pub best_epoch: Option<usize>,
    /// Whether early stopping or a callback ended training before the last epoch.
    pub stopped_early: bool,
    /// The number of the first epoch recorded ([`Fit::initial_epoch`]): entry `i` of each
    /// vector is epoch `initial_epoch + i`.
    pub initial_epoch: usize,
    /// The rate the schedule started from (the optimizer's rate when the run began, unless
    /// [`Fit::base_learning_rate`] said otherwise); [`Fit::resume`] carries it on.
    pub base_learning_rate: f64,
}

impl<T: Float> History<T> {
    /// Room for `epochs` epochs of losses and rates (up to a bound: a callback may stop a long
    /// run early), so that recording an epoch seldom grows a vector.
    fn with_capacity(epochs: usize) -> Self {
        let n = epochs.min(1 << 16);
        History {
            loss: Vec::with_capacity(n),
            learning_rate: Vec::with_capacity(n),
            ..History::default()
        }
    }

    /// The number of the epoch after the last one recorded: where [`Fit::resume`] goes on.
    pub fn next_epoch(&self) -> usize {
        self.initial_epoch + self.loss.len()
    }

    /// The history as CSV, one line per epoch after a header: `epoch,loss,learning_rate`, then
    /// `accuracy`, `val_loss` and `val_accuracy` for those recorded. Numbers are written in
    /// full (the shortest form that reads back to the same value), epochs as
    /// [`initial_epoch`](Self#structfield.initial_epoch) numbers them.
    ///
    /// ```
    /// use backprop::History;
    /// let history = History::<f64> {
    ///     loss: vec![0.5, 0.25],
    ///     learning_rate: vec![0.1, 0.05],
    ///     val_loss: vec![0.75, 0.5],
    ///     initial_epoch: 3,
    ///     ..History::default()
    /// };
    /// assert_eq!(
    ///     history.to_csv(),
    ///     "epoch,loss,learning_rate,val_loss\n3,0.5,0.1,0.75\n4,0.25,0.05,0.5\n"
    /// );
    /// ```
    pub fn to_csv(&self) -> String {
        use std::fmt::Write;
        // The optional columns recorded for every epoch (a vector is either full or empty).
        let full = |len: usize| len > 0 && len == self.loss.len();
        let (accuracy, val_loss) = (full(self.accuracy.len()), full(self.val_loss.len()));
        let val_accuracy = full(self.val_accuracy.len());
        let mut csv = String::from("epoch,loss,learning_rate");
        for (on, name) in [
            (accuracy, ",accuracy"),
            (val_loss, ",val_loss"),
            (val_accuracy, ",val_accuracy"),
        ] {
            if on {
                csv += name;
            }
        }
        csv.push('\n');
        for (i, loss) in self.loss.iter().enumerate() {
            // Writing to a String cannot fail.
            let _ = write!(csv, "{},{loss}", self.initial_epoch + i);
            match self.learning_rate.get(i) {
                Some(lr) => _ = write!(csv, ",{lr}"),
                None => csv.push(','),
            }
            if accuracy {
                _ = write!(csv, ",{}", self.accuracy[i]);
            }
            if val_loss {
                _ = write!(csv, ",{}", self.val_loss[i]);
            }
            if val_accuracy {
                _ = write!(csv, ",{}", self.val_accuracy[i]);
            }
            csv.push('\n');
        }
        csv
    }

    /// Writes [`to_csv`](Self::to_csv) to `path` atomically, as [`Sequential::save`] writes a
    /// model: an earlier file at `path` is replaced only once the new one is complete on disk.
    ///
    /// ```
    /// use backprop::prelude::*;
    /// use nalgebra::DMatrix;
    /// let path = std::env::temp_dir().join(format!("history-doc-{}.csv", std::process::id()));
    /// let (x, y) = (DMatrix::from_element(2, 1, 1.0), DMatrix::from_element(2, 1, 0.5));
    /// let mut model = Sequential::<f64>::builder(1).dense(1, Identity).build()?;
    /// let history = model.fit(&x, &y, &mut Sgd::new(0.1)?, &Fit::new(3).full())?;
    /// history.write_csv(&path)?;
    /// let csv = std::fs::read_to_string(&path).unwrap();
    /// assert_eq!(csv.lines().count(), 4);
    /// assert!(csv.starts_with("epoch,loss,learning_rate\n0,"));
    /// std::fs::remove_file(&path).ok();
    /// # Ok::<(), backprop::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the file cannot be written (the directory is missing or read-only,
    /// `path` is a directory); the earlier file at `path` is then untouched.
    #[cfg(feature = "safetensors")]
    pub fn write_csv(&self, path: impl AsRef<std::path::Path>) -> Result<()> {
        crate::io::write_bytes_atomic(path.as_ref(), self.to_csv().as_bytes())
    }

    /// Appends an epoch's figures.
    #[inline]
    fn record(&mut self, log: &Epoch<T>) {
        self.loss.push(log.loss);
        self.learning_rate.push(log.learning_rate);
        if let Some(a) = log.accuracy {
            self.accuracy.push(a);
        }
        if let Some(v) = log.val_loss {
            self.val_loss.push(v);
        }
        if let Some(a) = log.val_accuracy {
            self.val_accuracy.push(a);
        }
    }
}

impl<T: Float> Sequential<T> {
    /// Trains on the rows of `x` against `y` as `fit` says, and returns the per-epoch history.
    ///
    /// With the default settings this is the chapter's loop: every epoch visits the rows in order,
    /// one update per row ([`Fit::stochastic`]), per `n` rows ([`Fit::mini_batch`]) or per epoch
    /// ([`Fit::full`]), weight deltas averaged over the rows of each update.
    ///
    /// ```
    /// use backprop::prelude::*;
    /// use nalgebra::DMatrix;
    /// let x = DMatrix::from_row_slice(4, 2, &[0., 0., 0., 1., 1., 0., 1., 1.]);
    /// let y = DMatrix::from_column_slice(4, 1, &[0., 1., 1., 0.]); // XOR
    /// let mut model = Sequential::<f64>::builder(2)
    ///     .seed(3)
    ///     .dense(8, Tanh)
    ///     .dense(1, Sigmoid)
    ///     .loss(BinaryCrossEntropy)
    ///     .build()?;
    /// let history = model.fit(&x, &y, &mut Sgd::new(0.5)?, &Fit::new(2000).full().accuracy(true))?;
    /// assert_eq!(history.accuracy.last(), Some(&1.0));
    /// # Ok::<(), backprop::Error>(())
    /// ```
    ///
    /// Every step is guarded: if its loss or a gradient is NaN or infinite, or its update would
    /// leave a parameter or the optimizer's state so, training stops with the model's parameters
    /// and the optimizer's state exactly as they were before that step (the last good ones), and
    /// the error says where.
    ///
    /// ```
    /// use backprop::prelude::*;
    /// use nalgebra::DMatrix;
    ///
    /// // Inputs of about 20 with alpha 0.1: each update overshoots more than the last.
    /// let x = DMatrix::from_row_slice(2, 2, &[18.0, 20.0, 2.0, 20.0]);
    /// let y = DMatrix::from_row_slice(2, 1, &[0.0, 1.0]);
    /// let mut model = Sequential::<f64>::builder(2).bias(false).dense(1, Identity).build()?;
    /// let err = model.fit(&x, &y, &mut Sgd::new(0.1)?, &Fit::new(1000)).unwrap_err();
    /// assert!(matches!(err, Error::Diverged { .. }));
    /// assert!(model.weights(0)?.iter().all(|w| w.is_finite()));
    /// assert!(model.predict(&x)?.iter().all(|p| p.is_finite()));
    /// # Ok::<(), Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The input and target errors of [`step`](Self::step), checked once before any update;
    /// [`Error::InvalidParameter`] for a mini-batch of 0 rows or a validation split outside
    /// `(0, 1)`; [`Error::Empty`] if the split (stratified or not) leaves no training or no
    /// validation rows;
    /// [`Error::TooLarge`] if the buffers for a batch (or, when shuffling, the row order and the
    /// gathered batch) cannot be allocated; the model is unchanged when one of these is
    /// returned. [`Error::Diverged`] with the epoch and the step within it (both from 0) when a
    /// step diverges as described above; the steps before it stay applied (early stopping does
    /// not restore its best weights then), and the history of the epochs before it is kept for
    /// [`take_interrupted_history`](Self::take_interrupted_history).
    pub fn fit(
        &mut self,
        x: &Matrix<T>,
        y: &Matrix<T>,
        opt: &mut dyn Optimizer<T>,
        fit: &Fit,
    ) -> Result<History<T>> {
        self.fit_inner((x, y), None, opt, fit, None)
    }

    /// [`fit`](Self::fit) with an explicit validation set (used instead of
    /// [`Fit::validation_split`]) and a callback after every epoch that can stop training.
    ///
    /// The callback gets the epoch's figures and the model as the epoch left it, read-only, so
    /// that it can evaluate, predict, save or log; it runs after the epoch's validation, schedule
    /// and checkpoint, before early stopping.
    ///
    /// ```
    /// use backprop::prelude::*;
    /// use nalgebra::DMatrix;
    /// let x = DMatrix::from_row_slice(4, 1, &[0., 1., 2., 3.]);
    /// let y = DMatrix::from_row_slice(4, 1, &[1., 3., 5., 7.]); // y = 2x + 1
    /// let far = DMatrix::from_element(1, 1, 10.0);
    /// let mut model = Sequential::<f64>::builder(1).dense(1, Identity).build()?;
    /// let mut far_off = Vec::new();
    /// let history = model.fit_with(&x, &y, None, &mut Sgd::new(0.05)?, &Fit::new(10_000).full(),
    ///     &mut |_epoch, model| {
    ///         // How far the prediction at x = 10 is from 21, a point outside the training data.
    ///         let off = model.predict(&far).map_or(f64::NAN, |p| (p[(0, 0)] - 21.0).abs());
    ///         far_off.push(off);
    ///         if off < 1e-3 { Control::Stop } else { Control::Continue }
    ///     })?;
    /// assert!(history.stopped_early && history.loss.len() < 10_000);
    /// assert_eq!(far_off.len(), history.loss.len());
    /// # Ok::<(), backprop::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`fit`](Self::fit), and the same input and target errors for the validation set.
    pub fn fit_with(
        &mut self,
        x: &Matrix<T>,
        y: &Matrix<T>,
        validation: Option<(&Matrix<T>, &Matrix<T>)>,
        opt: &mut dyn Optimizer<T>,
        fit: &Fit,
        on_epoch: &mut dyn FnMut(&Epoch<T>, &Sequential<T>) -> Control,
    ) -> Result<History<T>> {
        self.fit_inner((x, y), validation, opt, fit, Some(on_epoch))
    }

    /// [`fit_with`](Self::fit_with), with or without a callback.
    fn fit_inner(
        &mut self,
        (x, y): (&Matrix<T>, &Matrix<T>),
        validation: Option<(&Matrix<T>, &Matrix<T>)>,
        opt: &mut dyn Optimizer<T>,
        fit: &Fit,
        mut on_epoch: Option<Callback<'_, T>>,
    ) -> Result<History<T>> {
        self.interrupted = None;
        if let (true, None, Some(fraction)) = (fit.stratify, validation, fit.validation_split) {
            // The rows reordered once into owned matrices, then an explicit validation set.
            let [x, y, xv, yv] = plan::stratified(self, x, y, fraction)?;
            let fit = Fit {
                validation_split: None,
                ..fit.clone()
            };
            return self.fit_inner((&x, &y), Some((&xv, &yv)), opt, &fit, on_epoch);
        }
        let mut plan = Plan::new(self, (x, y), validation, opt, fit, on_epoch.is_some())?;
        let mut checkpoint = Checkpoint::new(fit, self)?;
        let mut watch = fit.early_stopping.map(Watch::new);
        let (first, end) = (fit.initial_epoch, plan.end);
        let mut progress = Progress::new(fit.progress, (first, end), plan.batches.count());
        let mut history = History::with_capacity(fit.epochs);
        let base_lr = match fit.base_learning_rate {
            Some(lr) => lr,
            None => plan.guard.optimizer().learning_rate().as_f64(),
        };
        (history.initial_epoch, history.base_learning_rate) = (first, base_lr);
        let mut epoch = first;
        while epoch < end {
            if plan.whole_runs && self.remaining_epochs(&mut plan, fit, epoch, &mut history) {
                break;
            }
            progress.begin_epoch(epoch);
            let log = match self.train_epoch(&mut plan, fit, epoch, base_lr, &mut progress) {
                Ok(log) => log,
                Err(e) => return self.interrupt(history, e),
            };
            history.record(&log);
            progress.epoch(&log);
            let monitored = log.val_loss.unwrap_or(log.loss).as_f64();
            if let Some(schedule) = &fit.schedule {
                schedule.observe(epoch, monitored);
            }
            if let Err(e) = checkpoint.epoch(self, monitored) {
                return self.interrupt(history, e);
            }
            let mut stop = on_epoch
                .as_mut()
                .is_some_and(|f| f(&log, &*self) == Control::Stop);
            if let Some(w) = &mut watch {
                stop |= w.epoch(self, epoch, monitored);
            }
            if stop && epoch + 1 < end {
                history.stopped_early = true;
                break;
            }
            epoch += 1;
        }
        progress.finish();
        history.best_epoch = watch.and_then(|w| w.finish(self));
        Ok(history)
    }

    /// Ends a `fit` with `error` after the epochs in `history`, which stay readable through
    /// [`take_interrupted_history`](Self::take_interrupted_history).
    fn interrupt(&mut self, history: History<T>, error: crate::Error) -> Result<History<T>> {
        self.interrupted = Some(history);
        Err(error)
    }

    /// Epochs `first..` of a plan that allows it as one run checked at its end; whether they
    /// ran (and are recorded). A run that would diverge is undone, and the plan then takes its
    /// epochs one by one, which finds the step with the same bits.
    fn remaining_epochs(
        &mut self,
        plan: &mut Plan<'_, '_, T>,
        fit: &Fit,
        first: usize,
        history: &mut History<T>,
    ) -> bool {
        let epochs = (plan.end - first, fit.accuracy);
        match batches::epochs(
            self,
            &mut plan.batches,
            &mut plan.guard,
            epochs,
            &mut plan.sums,
        ) {
            batches::Run::Done => {}
            // The optimizer creates its state in the next epoch's first step, taken guarded.
            batches::Run::NotReady => return false,
            batches::Run::Failed => {
                plan.whole_runs = false;
                return false;
            }
        }
        let rows = plan.batches.rows();
        let learning_rate = plan.guard.optimizer().learning_rate();
        for (k, sums) in plan.sums.iter().enumerate() {
            history.record(&Epoch {
                epoch: first + k,
                loss: sums.loss / T::of_usize(rows),
                learning_rate,
                accuracy: fit.accuracy.then(|| sums.correct as f64 / rows as f64),
                val_loss: None,
                val_accuracy: None,
            });
        }
        true
    }

    /// Epoch `epoch` of a plan: its learning rate from the schedule, its batches, and the
    /// validation measured after it.
    fn train_epoch(
        &mut self,
        plan: &mut Plan<'_, '_, T>,
        fit: &Fit,
        epoch: usize,
        base_lr: f64,
        progress: &mut Progress,
    ) -> Result<Epoch<T>> {
        if let Some(schedule) = &fit.schedule {
            let lr = T::of(schedule.learning_rate(base_lr, epoch));
            plan.guard.optimizer().set_learning_rate(lr)?;
        }
        let end_checked = plan.end_checked;
        let sums = batches::epoch(
            self,
            &mut plan.batches,
            &mut plan.guard,
            (end_checked, fit.accuracy),
            progress,
        )
        .map_err(|(step, d)| d.at(epoch, step))?;
        let rows = plan.batches.rows();
        let mut log = Epoch {
            epoch,
            loss: sums.loss / T::of_usize(rows),
            learning_rate: plan.guard.optimizer().learning_rate(),
            accuracy: fit.accuracy.then(|| sums.correct as f64 / rows as f64),
            val_loss: None,
            val_accuracy: None,
        };
        if let Some((xv, yv)) = plan.validation {
            let (val_loss, val_correct) = self.measure(xv, yv, fit.accuracy, &mut plan.workspace);
            log.val_loss = Some(val_loss);
            log.val_accuracy = fit.accuracy.then(|| val_correct as f64 / xv.nrows() as f64);
        }
        Ok(log)
    }

    /// The epochs that the last [`fit`](Self::fit) or [`fit_with`](Self::fit_with) completed
    /// before it returned an error during training (a [`Error::Diverged`] step, a schedule's
    /// rate refused by the optimizer, or a [checkpoint](Fit::checkpoint) that could not be
    /// written, whose epoch is included), taken out of the model; `None` after a call that
    /// succeeded or failed before its first epoch.
    ///
    /// ```
    /// use backprop::prelude::*;
    /// use nalgebra::DMatrix;
    ///
    /// // Inputs of about 20 with alpha 0.1: each update overshoots more than the last.
    /// let x = DMatrix::from_row_slice(2, 2, &[18.0, 20.0, 2.0, 20.0]);
    /// let y = DMatrix::from_row_slice(2, 1, &[0.0, 1.0]);
    /// let mut model = Sequential::<f64>::builder(2).bias(false).dense(1, Identity).build()?;
    /// let err = model.fit(&x, &y, &mut Sgd::new(0.1)?, &Fit::new(1000)).unwrap_err();
    /// let Error::Diverged { epoch, .. } = err else { panic!("{err}") };
    /// let history = model.take_interrupted_history().unwrap();
    /// assert_eq!(history.loss.len(), epoch); // every epoch before the diverging one
    /// assert!(history.loss.windows(2).all(|w| w[1] > w[0])); // the loss grew all along
    /// assert!(model.take_interrupted_history().is_none());
    /// # Ok::<(), Error>(())
    /// ```
    pub fn take_interrupted_history(&mut self) -> Option<History<T>> {
        self.interrupted.take()
    }
}
