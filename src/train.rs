//! Training settings and the loop over epochs: [`Fit`], [`History`], early stopping, callbacks.

use std::sync::Arc;

use crate::metrics::count_correct;
use crate::model::{Divergence, EndCheckedRun};
use crate::optim::{ClipGradNorm, Schedule};
use crate::{Error, Float, Matrix, MatrixView, NumpyRng, Optimizer, Result, Sequential};

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

/// Stops training when the monitored loss has not improved for `patience` epochs.
///
/// The monitored loss is the validation loss when there is validation data, else the training
/// loss. With `restore_best` (the default) the model ends with the weights of its best epoch.
///
/// ```
/// use backprop::EarlyStopping;
/// let stop = EarlyStopping::new(5).min_delta(1e-4);
/// assert!(stop.restore_best);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EarlyStopping {
    /// Training stops after this many epochs in a row without improvement (as Keras counts).
    pub patience: usize,
    /// A loss must fall by more than this to count as an improvement.
    pub min_delta: f64,
    /// Restore the best epoch's weights at the end.
    pub restore_best: bool,
}

impl EarlyStopping {
    /// Stops after `patience` epochs without improvement, restoring the best weights.
    pub fn new(patience: usize) -> Self {
        EarlyStopping {
            patience,
            min_delta: 0.0,
            restore_best: true,
        }
    }

    /// Sets the smallest decrease that counts as an improvement.
    pub fn min_delta(mut self, min_delta: f64) -> Self {
        self.min_delta = min_delta;
        self
    }

    /// Whether to restore the best epoch's weights at the end.
    pub fn restore_best(mut self, restore: bool) -> Self {
        self.restore_best = restore;
        self
    }
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
    /// Passes over the training rows.
    pub epochs: usize,
    /// Rows per update.
    pub descent: Descent,
    /// Seed of a reshuffle of the training rows before every epoch; `None` keeps them in order.
    pub shuffle: Option<u32>,
    /// Fraction of rows, taken from the end before any shuffling (as Keras does), held out for
    /// validation.
    pub validation_split: Option<f64>,
    /// Stop when the monitored loss stops improving.
    pub early_stopping: Option<EarlyStopping>,
    /// Record classification accuracy per epoch (training accuracy is counted on each batch
    /// before its update, as Keras reports it).
    pub accuracy: bool,
    /// Report progress on standard error: a progress bar with the `progress` cargo feature, one
    /// line per epoch without it.
    pub progress: bool,
    /// Learning-rate schedule, applied at the start of every epoch from the optimizer's rate when
    /// `fit` is called (as PyTorch's schedulers step once per epoch).
    pub schedule: Option<Arc<dyn Schedule>>,
    /// Rescale every step's gradients to a global norm of at most this (PyTorch's
    /// `clip_grad_norm_` between backward and update).
    pub clip_grad_norm: Option<f64>,
}

impl Fit {
    /// `epochs` passes of stochastic gradient descent, rows in order.
    pub fn new(epochs: usize) -> Self {
        Fit {
            epochs,
            descent: Descent::Stochastic,
            shuffle: None,
            validation_split: None,
            early_stopping: None,
            accuracy: false,
            progress: false,
            schedule: None,
            clip_grad_norm: None,
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
}

/// What one epoch measured, handed to the callback of [`Sequential::fit_with`].
#[derive(Debug, Clone, PartialEq)]
pub struct Epoch<T: Float> {
    /// Epoch number, from 0.
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

/// Bookkeeping of early stopping.
struct Watch<T: Float> {
    rule: EarlyStopping,
    best: f64,
    best_epoch: usize,
    waited: usize,
    weights: Vec<Matrix<T>>,
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
    /// `(0, 1)`; [`Error::Empty`] if the split leaves no training or no validation rows;
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
        self.fit_with(x, y, None, opt, fit, &mut |_| Control::Continue)
    }

    /// [`fit`](Self::fit) with an explicit validation set (used instead of
    /// [`Fit::validation_split`]) and a callback after every epoch that can stop training.
    ///
    /// ```
    /// use backprop::prelude::*;
    /// use nalgebra::DMatrix;
    /// let x = DMatrix::from_row_slice(4, 1, &[0., 1., 2., 3.]);
    /// let y = DMatrix::from_row_slice(4, 1, &[1., 3., 5., 7.]); // y = 2x + 1
    /// let mut model = Sequential::<f64>::builder(1).dense(1, Identity).build()?;
    /// let history = model.fit_with(&x, &y, None, &mut Sgd::new(0.05)?, &Fit::new(10_000).full(),
    ///     &mut |epoch| if epoch.loss < 1e-6 { Control::Stop } else { Control::Continue })?;
    /// assert!(history.stopped_early && history.loss.len() < 10_000);
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
        on_epoch: &mut dyn FnMut(&Epoch<T>) -> Control,
    ) -> Result<History<T>> {
        self.interrupted = None;
        self.check_inputs(x.as_view())?;
        self.check_targets(x.nrows(), y.as_view())?;
        // Training rows and validation rows.
        let (train_rows, val) = match (validation, fit.validation_split) {
            (Some((xv, yv)), _) => {
                self.check_inputs(xv.as_view())?;
                self.check_targets(xv.nrows(), yv.as_view())?;
                (x.nrows(), Some((xv.as_view(), yv.as_view())))
            }
            (None, Some(f)) => {
                if !(f > 0.0 && f < 1.0) {
                    return Err(Error::param(
                        "validation split",
                        f,
                        "must be strictly between 0 and 1",
                    ));
                }
                // Keras: the first floor(n * (1 - f)) rows train, the rest validate.
                let n_train = (x.nrows() as f64 * (1.0 - f)).floor() as usize;
                if n_train == 0 {
                    return Err(Error::Empty {
                        what: "training rows after the validation split",
                    });
                }
                if n_train == x.nrows() {
                    return Err(Error::Empty {
                        what: "validation rows after the validation split",
                    });
                }
                let n_val = x.nrows() - n_train;
                (
                    n_train,
                    Some((x.rows(n_train, n_val), y.rows(n_train, n_val))),
                )
            }
            (None, None) => (x.nrows(), None),
        };
        let batch = match fit.descent {
            Descent::Stochastic => 1,
            Descent::Full => train_rows,
            Descent::MiniBatch(0) => {
                return Err(Error::param("batch size", 0.0, "must be at least 1"));
            }
            Descent::MiniBatch(b) => b.min(train_rows),
        };
        if let Some(stop) = &fit.early_stopping
            && !(stop.min_delta >= 0.0 && stop.min_delta.is_finite())
        {
            return Err(Error::param(
                "early stopping min_delta",
                stop.min_delta,
                "must be finite and non-negative",
            ));
        }

        // Every buffer for the largest batch, training or measuring, before anything changes.
        let val_rows = val.map_or(0, |(xv, _)| crate::model::CHUNK.min(xv.nrows()));
        self.reserve(batch.max(val_rows))?;
        let mut shuffled = fit
            .shuffle
            .map(|seed| Shuffled::new(seed, train_rows, batch, x.ncols(), y.ncols()))
            .transpose()?;
        let mut watch = fit.early_stopping.map(|rule| Watch {
            rule,
            best: f64::INFINITY,
            best_epoch: 0,
            waited: 0,
            weights: Vec::new(),
        });
        let mut progress = Progress::new(fit.progress, fit.epochs);
        let clip = fit
            .clip_grad_norm
            .map(|max| ClipGradNorm::new(T::of(max)))
            .transpose()?;
        let mut history = History::with_capacity(fit.epochs);
        let base_lr = opt.learning_rate().as_f64();
        // With nothing to do between epochs that needs the model, the fused loop of small
        // networks runs them all in one call (its setup is then paid once).
        if batch == 1
            && clip.is_none()
            && shuffled.is_none()
            && val.is_none()
            && watch.is_none()
            && fit.schedule.is_none()
            && let Some(done) = self.fit_fused(
                x.rows(0, train_rows),
                y.rows(0, train_rows),
                opt,
                fit,
                on_epoch,
                &mut progress,
            )
        {
            return done;
        }
        for epoch in 0..fit.epochs {
            if let Some(schedule) = &fit.schedule
                && let Err(e) = opt.set_learning_rate(T::of(schedule.learning_rate(base_lr, epoch)))
            {
                self.interrupted = Some(history);
                return Err(e);
            }
            let ran = match &mut shuffled {
                None => self.epoch(
                    x.rows(0, train_rows),
                    y.rows(0, train_rows),
                    batch,
                    fit.accuracy,
                    opt,
                    clip.as_ref(),
                ),
                Some(s) => s.epoch(self, x, y, fit.accuracy, opt, clip.as_ref()),
            };
            let (loss, correct) = match ran {
                Ok(ran) => ran,
                Err((step, d)) => {
                    // The epochs before stay readable through `take_interrupted_history`.
                    self.interrupted = Some(history);
                    return Err(d.at(epoch, step));
                }
            };
            let mut log = Epoch {
                epoch,
                loss,
                learning_rate: opt.learning_rate(),
                accuracy: fit.accuracy.then(|| correct as f64 / train_rows as f64),
                val_loss: None,
                val_accuracy: None,
            };
            if let Some((xv, yv)) = val {
                let (val_loss, val_correct) = self.measure(xv, yv, fit.accuracy);
                log.val_loss = Some(val_loss);
                log.val_accuracy = fit.accuracy.then(|| val_correct as f64 / xv.nrows() as f64);
            }
            history.record(&log);
            progress.epoch(&log);

            let mut stop = on_epoch(&log) == Control::Stop;
            if let Some(w) = &mut watch {
                let monitored = log.val_loss.unwrap_or(log.loss).as_f64();
                if monitored < w.best - w.rule.min_delta {
                    w.best = monitored;
                    w.best_epoch = epoch;
                    w.waited = 0;
                    if w.rule.restore_best {
                        self.snapshot_into(&mut w.weights);
                    }
                } else {
                    w.waited += 1;
                    stop |= w.waited >= w.rule.patience;
                }
            }
            if stop && epoch + 1 < fit.epochs {
                history.stopped_early = true;
                break;
            }
        }
        progress.finish();
        if let Some(w) = watch
            && w.rule.restore_best
            && !w.weights.is_empty()
        {
            self.restore(&w.weights);
            history.best_epoch = Some(w.best_epoch);
        }
        Ok(history)
    }

    /// Every epoch of a [`fit_with`](Self::fit_with) without validation, early stopping, a
    /// schedule or shuffling in one call of the fused loop; `None` (nothing done) if that loop
    /// does not take the model.
    fn fit_fused(
        &mut self,
        x: MatrixView<'_, T>,
        y: MatrixView<'_, T>,
        opt: &mut dyn Optimizer<T>,
        fit: &Fit,
        on_epoch: &mut dyn FnMut(&Epoch<T>) -> Control,
        progress: &mut Progress,
    ) -> Option<Result<History<T>>> {
        let mut history = History::with_capacity(fit.epochs);
        let learning_rate = opt.learning_rate();
        let train_rows = x.nrows();
        let mut record = |epoch, total: T, correct| {
            let log = Epoch {
                epoch,
                loss: total / T::of_usize(train_rows),
                learning_rate,
                accuracy: fit.accuracy.then(|| correct as f64 / train_rows as f64),
                val_loss: None,
                val_accuracy: None,
            };
            history.record(&log);
            progress.epoch(&log);
            let stop = on_epoch(&log) == Control::Stop && epoch + 1 < fit.epochs;
            history.stopped_early |= stop;
            stop
        };
        match self.fused_epochs(x, y, opt, fit.accuracy, fit.epochs, &mut record)? {
            Ok(()) => {
                progress.finish();
                Some(Ok(history))
            }
            Err((epoch, step, d)) => {
                self.interrupted = Some(history);
                Some(Err(d.at(epoch, step)))
            }
        }
    }

    /// The epochs that the last [`fit`](Self::fit) or [`fit_with`](Self::fit_with) completed
    /// before it returned an error during training (a [`Error::Diverged`] step, or a schedule's
    /// rate refused by the optimizer), taken out of the model; `None` after a call that
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

    /// One epoch over validated rows in order; returns the mean loss and the rows classified right,
    /// or the step (batch index) that diverged.
    fn epoch(
        &mut self,
        x: MatrixView<'_, T>,
        y: MatrixView<'_, T>,
        batch: usize,
        accuracy: bool,
        opt: &mut dyn Optimizer<T>,
        clip: Option<&ClipGradNorm<T>>,
    ) -> std::result::Result<(T, usize), (usize, Divergence)> {
        let n = x.nrows();
        if batch == 1 && clip.is_none() {
            let mut ran = (T::zero(), 0);
            let mut keep = |_, total, correct| {
                ran = (total, correct);
                false
            };
            if let Some(epoch) = self.fused_epochs(x, y, opt, accuracy, 1, &mut keep) {
                return match epoch {
                    Ok(()) => Ok((ran.0 / T::of_usize(n), ran.1)),
                    Err((_, step, d)) => Err((step, d)),
                };
            }
        }
        let (mut total, mut correct, mut start) = (T::zero(), 0, 0);
        // Steps checked at the end of the epoch where the model and optimizer allow it; else, or
        // after a run that would have diverged, steps checked one by one (see `end_checked_run`).
        let mut end_checked = clip.is_none();
        while start < n {
            if end_checked {
                match self.end_checked_run(x, y, (start, total, correct), batch, accuracy, opt) {
                    EndCheckedRun::Done(t, c) => {
                        (total, correct) = (t, c);
                        break;
                    }
                    // The optimizer creates its state in this step: take it guarded.
                    EndCheckedRun::NotReady => {}
                    EndCheckedRun::Failed | EndCheckedRun::Unsupported => end_checked = false,
                }
            }
            let rows = batch.min(n - start);
            let yb = y.rows(start, rows);
            // Only the last batch is copied into the model (as `layer_output(0)`).
            let last = start + rows == n;
            let loss = self
                .train_batch(x.rows(start, rows), yb, opt, clip, last)
                .map_err(|d| (start / batch, d))?;
            if accuracy {
                correct += count_correct(self.output(), yb);
            }
            total += loss * T::of_usize(rows);
            start += rows;
        }
        Ok((total / T::of_usize(n), correct))
    }

    /// Loss and correctly classified rows of validated data, in chunks, in inference mode (no
    /// training state changes).
    pub(crate) fn measure(
        &mut self,
        x: MatrixView<'_, T>,
        y: MatrixView<'_, T>,
        accuracy: bool,
    ) -> (T, usize) {
        self.set_mode(false);
        let (mut total, mut correct, mut start) = (T::zero(), 0, 0);
        while start < x.nrows() {
            let rows = crate::model::CHUNK.min(x.nrows() - start);
            let yb = y.rows(start, rows);
            self.forward_unchecked(x.rows(start, rows));
            total += self.loss_fn().loss(self.output(), yb) * T::of_usize(rows);
            if accuracy {
                correct += count_correct(self.output(), yb);
            }
            start += rows;
        }
        (total / T::of_usize(x.nrows()), correct)
    }
}

/// Reshuffled epochs: a permutation of the training rows and batch buffers, made once.
struct Shuffled<T: Float> {
    rng: NumpyRng,
    order: Vec<usize>,
    batch: usize,
    xb: Matrix<T>,
    yb: Matrix<T>,
}

impl<T: Float> Shuffled<T> {
    /// The order and batch buffers, or [`Error::TooLarge`] if the allocator refuses them.
    fn new(seed: u32, rows: usize, batch: usize, x_cols: usize, y_cols: usize) -> Result<Self> {
        let mut order = crate::size::filled_vec("shuffled row order", rows, 1, 0)?;
        order.iter_mut().enumerate().for_each(|(i, o)| *o = i);
        Ok(Shuffled {
            rng: NumpyRng::new(seed),
            order,
            batch,
            xb: crate::size::zeros("shuffled input batch", batch, x_cols)?,
            yb: crate::size::zeros("shuffled target batch", batch, y_cols)?,
        })
    }

    /// One epoch in a fresh random order; rows are gathered into the reused batch buffers.
    fn epoch(
        &mut self,
        model: &mut Sequential<T>,
        x: &Matrix<T>,
        y: &Matrix<T>,
        accuracy: bool,
        opt: &mut dyn Optimizer<T>,
        clip: Option<&ClipGradNorm<T>>,
    ) -> std::result::Result<(T, usize), (usize, Divergence)> {
        crate::data::shuffle_indices(&mut self.order, &mut self.rng);
        let n = self.order.len();
        let (mut total, mut correct) = (T::zero(), 0);
        for (step, chunk) in self.order.chunks(self.batch).enumerate() {
            for (b, &r) in chunk.iter().enumerate() {
                self.xb.row_mut(b).copy_from(&x.row(r));
                self.yb.row_mut(b).copy_from(&y.row(r));
            }
            let rows = chunk.len();
            let yb = self.yb.rows(0, rows);
            let loss = model
                .train_batch(self.xb.rows(0, rows), yb, opt, clip, true)
                .map_err(|d| (step, d))?;
            if accuracy {
                correct += count_correct(model.output(), yb);
            }
            total += loss * T::of_usize(rows);
        }
        Ok((total / T::of_usize(n), correct))
    }
}

/// Progress on standard error: a bar with the `progress` feature, else a line per epoch.
struct Progress {
    on: bool,
    epochs: usize,
    #[cfg(feature = "progress")]
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    fn new(on: bool, epochs: usize) -> Self {
        #[cfg(feature = "progress")]
        let bar = on.then(|| {
            let bar = indicatif::ProgressBar::new(epochs as u64);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{bar:30} epoch {pos}/{len} {msg} [{elapsed_precise}]",
            ) {
                bar.set_style(style);
            }
            bar
        });
        Progress {
            on,
            epochs,
            #[cfg(feature = "progress")]
            bar,
        }
    }

    /// Shows an epoch, if on (a test inlined into the training loop; the display is not).
    #[inline]
    fn epoch<T: Float>(&mut self, log: &Epoch<T>) {
        if self.on {
            self.show(log);
        }
    }

    #[cold]
    #[inline(never)]
    fn show<T: Float>(&mut self, log: &Epoch<T>) {
        let mut msg = format!("loss {:.4}", log.loss.as_f64());
        if let Some(a) = log.accuracy {
            msg += &format!(" acc {a:.4}");
        }
        if let Some(v) = log.val_loss {
            msg += &format!(" val_loss {:.4}", v.as_f64());
        }
        if let Some(a) = log.val_accuracy {
            msg += &format!(" val_acc {a:.4}");
        }
        #[cfg(feature = "progress")]
        if let Some(bar) = &self.bar {
            bar.set_message(msg);
            bar.inc(1);
            return;
        }
        eprintln!("epoch {}/{} {msg}", log.epoch + 1, self.epochs);
    }

    fn finish(&mut self) {
        #[cfg(feature = "progress")]
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}
