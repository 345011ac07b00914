//! Early stopping: the monitored loss, the patience, and the best epoch's weights.

use crate::{Float, Matrix, Sequential};

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

/// The bookkeeping of early stopping during one `fit`.
pub(crate) struct Watch<T: Float> {
    rule: EarlyStopping,
    best: f64,
    best_epoch: usize,
    waited: usize,
    weights: Vec<Matrix<T>>,
}

impl<T: Float> Watch<T> {
    /// Watches for `rule`.
    pub(crate) fn new(rule: EarlyStopping) -> Self {
        Watch {
            rule,
            best: f64::INFINITY,
            best_epoch: 0,
            waited: 0,
            weights: Vec::new(),
        }
    }

    /// Takes note of epoch `epoch`'s monitored loss (keeping the model's weights if it is the
    /// best so far and they are to be restored); whether to stop.
    pub(crate) fn epoch(&mut self, model: &Sequential<T>, epoch: usize, monitored: f64) -> bool {
        if monitored < self.best - self.rule.min_delta {
            self.best = monitored;
            self.best_epoch = epoch;
            self.waited = 0;
            if self.rule.restore_best {
                model.snapshot_into(&mut self.weights);
            }
            false
        } else {
            self.waited += 1;
            self.waited >= self.rule.patience
        }
    }

    /// Restores the best epoch's weights, if asked to; the epoch.
    pub(crate) fn finish(self, model: &mut Sequential<T>) -> Option<usize> {
        if !self.rule.restore_best || self.weights.is_empty() {
            return None;
        }
        model.restore(&self.weights);
        Some(self.best_epoch)
    }
}
