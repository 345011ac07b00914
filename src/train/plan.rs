//! The plan of a `fit`: every setting checked, every buffer allocated and the way each epoch is
//! checked for divergence decided, once, before anything changes.

use super::batches::{Batches, Sums};
use super::guard::Guard;
use super::{Descent, Fit};
use crate::model::Workspace;
use crate::optim::ClipGradNorm;
use crate::{Dense, Error, Float, Matrix, MatrixView, Optimizer, Result, Sequential};

/// Validation rows: inputs and targets.
pub(crate) type Validation<'d, T> = (MatrixView<'d, T>, MatrixView<'d, T>);

/// How a `fit` runs.
pub(crate) struct Plan<'d, 'o, T: Float> {
    /// The training rows, batched.
    pub(crate) batches: Batches<'d, T>,
    /// The rows measured after every epoch, if any, and the buffers that measure them.
    pub(crate) validation: Option<Validation<'d, T>>,
    pub(crate) workspace: Workspace<T>,
    /// The optimizer and gradient clipping, behind the divergence guard.
    pub(crate) guard: Guard<'o, T>,
    /// Whether epochs are checked for divergence at their end rather than at every step.
    pub(crate) end_checked: bool,
    /// Whether a run checked at its end may span every remaining epoch: nothing between epochs
    /// looks at the model or the optimizer (no validation, early stopping, schedule, callback or
    /// progress) and the rows come in order, so that a failed run can be replayed.
    pub(crate) whole_runs: bool,
    /// Each epoch's sums in such a run.
    pub(crate) sums: Vec<Sums<T>>,
    /// One past the number of the call's last epoch.
    pub(crate) end: usize,
}

impl<'d, 'o, T: Float> Plan<'d, 'o, T> {
    /// Checks `fit`'s settings and the data against `model`, and sizes every buffer for the
    /// largest batch, training or measuring, before anything changes.
    pub(crate) fn new(
        model: &mut Sequential<T>,
        (x, y): (&'d Matrix<T>, &'d Matrix<T>),
        validation: Option<(&'d Matrix<T>, &'d Matrix<T>)>,
        opt: &'o mut dyn Optimizer<T>,
        fit: &Fit,
        callback: bool,
    ) -> Result<Self> {
        model.check_inputs(x.as_view())?;
        model.check_targets(x.nrows(), y.as_view())?;
        let (train_rows, validation) = split(model, x, y, validation, fit.validation_split)?;
        let end = fit.initial_epoch.checked_add(fit.epochs).ok_or_else(|| {
            Error::param(
                "initial epoch",
                fit.initial_epoch as f64,
                "plus the epochs must not overflow the epoch count",
            )
        })?;
        let batch = batch_size(fit.descent, train_rows)?;
        if let Some(stop) = &fit.early_stopping
            && !(stop.min_delta >= 0.0 && stop.min_delta.is_finite())
        {
            return Err(Error::param(
                "early stopping min_delta",
                stop.min_delta,
                "must be finite and non-negative",
            ));
        }
        let clip = fit
            .clip_grad_norm
            .map(|max| ClipGradNorm::new(T::of(max)))
            .transpose()?;
        model.reserve(batch)?;
        let mut workspace = Workspace::new();
        if let Some((xv, _)) = validation {
            model.reserve_workspace(&mut workspace, xv.nrows())?;
        }
        let mut batches = Batches::new(
            x.rows(0, train_rows),
            y.rows(0, train_rows),
            batch,
            fit.shuffle,
        )?;
        batches.skip_epochs(fit.initial_epoch);
        let guard = Guard::new(opt, clip);
        // Replaying a run of steps needs layers without state of their own: a `Dropout` layer
        // would draw other masks the second time.
        let replayable = (0..model.len()).all(|i| model.layer_as::<Dense<T>>(i).is_some());
        let end_checked = replayable && guard.end_checkable();
        let whole_runs = end_checked
            && !callback
            && validation.is_none()
            && fit.early_stopping.is_none()
            && fit.schedule.is_none()
            && fit.shuffle.is_none()
            && !fit.progress
            && !super::Checkpoint::wanted(fit);
        // Made for every such fit, whatever its epochs, so that one costs the same allocations as
        // any other.
        let sums = match whole_runs {
            true => Vec::with_capacity(fit.epochs.min(1 << 16)),
            false => Vec::new(),
        };
        Ok(Plan {
            end,
            end_checked,
            whole_runs,
            sums,
            batches,
            validation,
            workspace,
            guard,
        })
    }
}

/// Rows per update for `descent` over `train_rows` rows.
fn batch_size(descent: Descent, train_rows: usize) -> Result<usize> {
    match descent {
        Descent::Stochastic => Ok(1),
        Descent::Full => Ok(train_rows),
        Descent::MiniBatch(0) => Err(Error::param("batch size", 0.0, "must be at least 1")),
        Descent::MiniBatch(b) => Ok(b.min(train_rows)),
    }
}

/// The training rows and the validation data: given, split off the end (as Keras does), or none.
fn split<'d, T: Float>(
    model: &Sequential<T>,
    x: &'d Matrix<T>,
    y: &'d Matrix<T>,
    validation: Option<(&'d Matrix<T>, &'d Matrix<T>)>,
    fraction: Option<f64>,
) -> Result<(usize, Option<Validation<'d, T>>)> {
    match (validation, fraction) {
        (Some((xv, yv)), _) => {
            model.check_inputs(xv.as_view())?;
            model.check_targets(xv.nrows(), yv.as_view())?;
            Ok((x.nrows(), Some((xv.as_view(), yv.as_view()))))
        }
        (None, Some(f)) => {
            check_split(f)?;
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
            Ok((
                n_train,
                Some((x.rows(n_train, n_val), y.rows(n_train, n_val))),
            ))
        }
        (None, None) => Ok((x.nrows(), None)),
    }
}

/// A validation split must be strictly between 0 and 1 (NaN is not).
fn check_split(f: f64) -> Result<()> {
    if f > 0.0 && f < 1.0 {
        return Ok(());
    }
    Err(Error::param(
        "validation split",
        f,
        "must be strictly between 0 and 1",
    ))
}

/// The training and validation rows of a stratified validation split, copied out in row order:
/// `[x, y, x_val, y_val]` (see [`Fit::stratify`]).
pub(super) fn stratified<T: Float>(
    model: &Sequential<T>,
    x: &Matrix<T>,
    y: &Matrix<T>,
    f: f64,
) -> Result<[Matrix<T>; 4]> {
    model.check_inputs(x.as_view())?;
    model.check_targets(x.nrows(), y.as_view())?;
    check_split(f)?;
    let labels = crate::metrics::target_classes(y.as_view(), model.output_size());
    // The data module's emptiness errors, in the words of a validation split.
    let (train, val) = crate::data::stratified_rows(&labels, f).map_err(|e| match e {
        Error::Empty { what: "test set" } => Error::Empty {
            what: "validation rows after the validation split",
        },
        Error::Empty { .. } => Error::Empty {
            what: "training rows after the validation split",
        },
        e => e,
    })?;
    Ok([
        x.select_rows(&train),
        y.select_rows(&train),
        x.select_rows(&val),
        y.select_rows(&val),
    ])
}
