//! The one batch loop of training: an epoch's batches, in order or reshuffled, each trained by a
//! step of the [`Guard`], with the epoch's loss and correct rows summed in one place.

use super::guard::{Divergence, Guard};
use super::progress::Progress;
use crate::metrics::count_correct;
use crate::{Float, Matrix, MatrixView, NumpyRng, Result, Sequential};

/// Where an epoch's batches come from: views of the training rows in order, or rows gathered in
/// a fresh random order every epoch.
pub(crate) struct Batches<'d, T: Float> {
    x: MatrixView<'d, T>,
    y: MatrixView<'d, T>,
    batch: usize,
    shuffled: Option<Shuffled<T>>,
    /// Whether the next batch is prefetched while a step trains (rows in order, data larger than
    /// the caches; data that fits in them, as the digits do, is there already).
    prefetch: bool,
}

/// A permutation of the training rows and the buffers its batches are gathered into, made once.
struct Shuffled<T: Float> {
    rng: NumpyRng,
    order: Vec<usize>,
    xb: Matrix<T>,
    yb: Matrix<T>,
}

impl<'d, T: Float> Batches<'d, T> {
    /// Batches of `batch` rows of `x` and `y` (a last, smaller one takes the leftover rows),
    /// reshuffled every epoch from `shuffle`'s seed if given.
    ///
    /// # Errors
    ///
    /// [`Error::TooLarge`](crate::Error::TooLarge) if the row order or the batch buffers of a
    /// shuffle cannot be allocated.
    pub(crate) fn new(
        x: MatrixView<'d, T>,
        y: MatrixView<'d, T>,
        batch: usize,
        shuffle: Option<u32>,
    ) -> Result<Self> {
        let rows = x.nrows();
        let shuffled = match shuffle {
            None => None,
            Some(seed) => {
                let mut order = crate::size::filled_vec("shuffled row order", rows, 1, 0)?;
                order.iter_mut().enumerate().for_each(|(i, o)| *o = i);
                Some(Shuffled {
                    rng: NumpyRng::new(seed),
                    order,
                    xb: crate::size::zeros("shuffled input batch", batch, x.ncols())?,
                    yb: crate::size::zeros("shuffled target batch", batch, y.ncols())?,
                })
            }
        };
        let prefetch = shuffled.is_none() && rows * x.ncols() * size_of::<T>() > 4 << 20;
        Ok(Batches {
            x,
            y,
            batch,
            shuffled,
            prefetch,
        })
    }

    /// Training rows.
    pub(crate) fn rows(&self) -> usize {
        self.x.nrows()
    }

    /// Batches per epoch.
    pub(crate) fn count(&self) -> usize {
        self.rows().div_ceil(self.batch)
    }

    /// Draws and skips the orders of the first `epochs` epochs, so that the next epoch is
    /// shuffled as epoch `epochs` of a run from the start is.
    pub(crate) fn skip_epochs(&mut self, epochs: usize) {
        for _ in 0..epochs {
            self.begin_epoch();
        }
    }

    /// Starts an epoch: a fresh order when shuffling.
    pub(crate) fn begin_epoch(&mut self) {
        if let Some(s) = &mut self.shuffled {
            crate::data::shuffle_indices(&mut s.order, &mut s.rng);
        }
    }

    /// Rows of batch `k`.
    fn range(&self, k: usize) -> (usize, usize) {
        let start = k * self.batch;
        (start, self.batch.min(self.rows() - start))
    }

    /// Batch `k` of the epoch (gathered into the shuffle's buffers when shuffling).
    fn get(&mut self, k: usize) -> (MatrixView<'_, T>, MatrixView<'_, T>) {
        let (start, rows) = self.range(k);
        match &mut self.shuffled {
            None => (self.x.rows(start, rows), self.y.rows(start, rows)),
            Some(s) => {
                for (b, &r) in s.order[start..start + rows].iter().enumerate() {
                    s.xb.row_mut(b).copy_from(&self.x.row(r));
                    s.yb.row_mut(b).copy_from(&self.y.row(r));
                }
                (s.xb.rows(0, rows), s.yb.rows(0, rows))
            }
        }
    }

    /// Lets the rows of batch `k` arrive from memory while the products of a step run.
    fn prefetch(&self, k: usize) {
        if self.prefetch && k < self.count() {
            let (start, rows) = self.range(k);
            crate::linalg::prefetch_during_products(&self.x.rows(start, rows));
        }
    }
}

/// What an epoch sums: batch losses weighted by their rows, and rows classified right.
#[derive(Clone, Copy)]
pub(crate) struct Sums<T> {
    pub(crate) loss: T,
    pub(crate) correct: usize,
}

/// One epoch: every batch trained by a step of `guard`, checked at the end of the epoch where the
/// guard and the model allow it (`end_checked`), else at every step, and shown to `progress`.
/// Returns the sums, or the step that diverged.
pub(crate) fn epoch<T: Float>(
    model: &mut Sequential<T>,
    batches: &mut Batches<'_, T>,
    guard: &mut Guard<'_, T>,
    (end_checked, accuracy): (bool, bool),
    progress: &mut Progress,
) -> std::result::Result<Sums<T>, (usize, Divergence)> {
    batches.begin_epoch();
    let count = batches.count();
    let mut sums = Sums {
        loss: T::zero(),
        correct: 0,
    };
    let mut from = 0;
    if end_checked {
        // A step in which the optimizer creates its state is taken guarded.
        while from < count && !guard.begin_run(model) {
            each_batch(
                model,
                batches,
                from..from + 1,
                (accuracy, &mut *progress),
                &mut sums,
                |m, x, y, keep| guard.step(m, x, y, keep),
            )?;
            from += 1;
        }
        if from < count {
            let before = sums;
            let ran = each_batch(
                model,
                batches,
                from..count,
                (accuracy, &mut *progress),
                &mut sums,
                |m, x, y, keep| guard.unchecked_step(m, x, y, keep).ok_or(()),
            );
            if guard.end_run(model, ran.is_ok()) {
                return Ok(sums);
            }
            // Undone: replayed below with every step checked, which finds the diverging one.
            sums = before;
        }
    }
    each_batch(
        model,
        batches,
        from..count,
        (accuracy, progress),
        &mut sums,
        |m, x, y, keep| guard.step(m, x, y, keep),
    )?;
    Ok(sums)
}

/// What a run of whole epochs checked at its end did.
pub(crate) enum Run {
    /// Every epoch ran; their sums are in the caller's vector.
    Done,
    /// Nothing: the optimizer still creates state for some parameter.
    NotReady,
    /// Nothing: a step would have diverged; parameters and state are as before.
    Failed,
}

/// Epochs of batches in order (no shuffle) as one run checked at its end, for fits in which
/// nothing between epochs looks at the model: each epoch's sums are pushed to `sums`.
pub(crate) fn epochs<T: Float>(
    model: &mut Sequential<T>,
    batches: &mut Batches<'_, T>,
    guard: &mut Guard<'_, T>,
    (epochs, accuracy): (usize, bool),
    sums: &mut Vec<Sums<T>>,
) -> Run {
    debug_assert!(batches.shuffled.is_none(), "a shuffle cannot be replayed");
    if !guard.begin_run(model) {
        return Run::NotReady;
    }
    sums.clear();
    let count = batches.count();
    let mut finite = true;
    for _ in 0..epochs {
        let mut epoch = Sums {
            loss: T::zero(),
            correct: 0,
        };
        let ran = each_batch(
            model,
            batches,
            0..count,
            (accuracy, &mut Progress::off()),
            &mut epoch,
            |m, x, y, keep| guard.unchecked_step(m, x, y, keep).ok_or(()),
        );
        if ran.is_err() {
            finite = false;
            break;
        }
        sums.push(epoch);
    }
    if guard.end_run(model, finite) {
        Run::Done
    } else {
        Run::Failed
    }
}

/// The batch loop: trains batches `steps` with `step` (given the model, the batch and whether to
/// keep the batch as `layer_output(0)`, which only the epoch's last batch is), adds their
/// figures to `sums` (correct rows counted if `accuracy`) and counts each for `progress`; stops
/// at the first step that fails, with its index.
fn each_batch<T: Float, E>(
    model: &mut Sequential<T>,
    batches: &mut Batches<'_, T>,
    steps: std::ops::Range<usize>,
    (accuracy, progress): (bool, &mut Progress),
    sums: &mut Sums<T>,
    mut step: impl FnMut(
        &mut Sequential<T>,
        MatrixView<'_, T>,
        MatrixView<'_, T>,
        bool,
    ) -> std::result::Result<T, E>,
) -> std::result::Result<(), (usize, E)> {
    let last = batches.count() - 1;
    let mut result = Ok(());
    for k in steps {
        batches.prefetch(k + 1);
        let (x, y) = batches.get(k);
        match step(model, x, y, k == last) {
            Ok(loss) => {
                if accuracy {
                    sums.correct += count_correct(model.output(), y);
                }
                sums.loss += loss * T::of_usize(y.nrows());
                progress.batch();
            }
            Err(e) => {
                result = Err((k, e));
                break;
            }
        }
    }
    crate::linalg::stop_prefetching();
    result
}

#[cfg(all(test, feature = "progress"))]
mod tests {
    use super::*;
    use crate::{Identity, Sgd};

    #[test]
    fn every_batch_of_an_epoch_moves_the_progress_bar() {
        let mut model = Sequential::<f64>::builder(1)
            .dense(1, Identity)
            .build()
            .unwrap();
        let (x, y) = (Matrix::from_element(10, 1, 1.0), Matrix::zeros(10, 1));
        let mut sgd = Sgd::new(0.1).unwrap();
        let mut guard = Guard::new(&mut sgd, None);
        let mut batches = Batches::new(x.as_view(), y.as_view(), 3, Some(1)).unwrap();
        model.reserve(3).unwrap();
        let mut progress = Progress::new(true, (0, 2), batches.count());
        for end_checked in [false, true] {
            epoch(
                &mut model,
                &mut batches,
                &mut guard,
                (end_checked, false),
                &mut progress,
            )
            .unwrap();
        }
        // Four batches (3 + 3 + 3 + 1 rows) per epoch.
        assert_eq!(progress.batches_done(), 8);
    }
}
