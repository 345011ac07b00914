//! Inference through `&self`: predictions and losses of a model that may be shared between
//! threads, in chunks of rows, with buffers of the caller's or of the call's own.

use std::any::Any;
use std::cell::RefCell;

use super::{CHUNK, Sequential};
use crate::linalg::{view, view_mut};
use crate::metrics::count_correct;
use crate::{Error, Float, Matrix, MatrixView, Result};

/// Buffers for [`Sequential::predict_into`]: two layers' outputs for a chunk of rows, grown on
/// first use and reused, so that repeated predictions allocate nothing.
///
/// A workspace belongs to one caller at a time; threads sharing a model each keep their own.
#[derive(Debug, Clone, Default)]
pub struct Workspace<T: Float> {
    buffers: [Vec<T>; 2],
}

impl<T: Float> Workspace<T> {
    /// An empty workspace.
    pub fn new() -> Self {
        Workspace {
            buffers: [Vec::new(), Vec::new()],
        }
    }
}

/// What [`Sequential::evaluate_metrics`] measures over a data set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evaluation<T: Float> {
    /// The loss, a mean over the rows (as [`Sequential::evaluate`] gives it).
    pub loss: T,
    /// The fraction of rows whose predicted class is the target's class.
    pub accuracy: f64,
}

thread_local! {
    /// The workspace of this thread's last `predict` or `evaluate`, kept for the next call (of
    /// any model of the same float type), so repeated calls allocate nothing.
    static WORKSPACE: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
}

/// `f` with this thread's kept workspace for `T`, or a fresh one if the thread has none (or is
/// already using it, from inside a layer's own call to `predict`).
fn with_thread_workspace<T: Float, R>(f: impl FnOnce(&mut Workspace<T>) -> R) -> R {
    WORKSPACE.with(|cell| {
        let Ok(mut kept) = cell.try_borrow_mut() else {
            return f(&mut Workspace::new());
        };
        if let Some(ws) = kept
            .as_mut()
            .and_then(|ws| ws.downcast_mut::<Workspace<T>>())
        {
            return f(ws);
        }
        let mut ws = Workspace::new();
        let result = f(&mut ws);
        *kept = Some(Box::new(ws));
        result
    })
}

impl<T: Float> Sequential<T> {
    /// The model's outputs for every row of `x`, in inference mode (dropout is the identity).
    ///
    /// Takes `&self`: a model behind an [`Arc`](std::sync::Arc) predicts from several threads at
    /// once, with the same bits as from one. Each thread keeps the buffers of its last call (two
    /// layer outputs of at most 1 024 rows) for the next; [`predict_into`](Self::predict_into)
    /// takes buffers of the caller's instead.
    ///
    /// # Errors
    ///
    /// [`Error::Shape`] if `x` does not have [`input_size`](Self::input_size) columns,
    /// [`Error::Empty`] without rows, [`Error::NonFinite`] for NaN or infinity,
    /// [`Error::TooLarge`] if the predictions or the buffers cannot be allocated.
    pub fn predict(&self, x: &Matrix<T>) -> Result<Matrix<T>> {
        self.check_inputs(x.as_view())?;
        let mut out = crate::size::zeros("predictions", x.nrows(), self.output_size())?;
        with_thread_workspace(|ws| self.predict_into(x, &mut out, ws))?;
        Ok(out)
    }

    /// [`predict`](Self::predict) into `out` (`rows x output_size`), with the buffers of `ws`:
    /// once `ws` has seen a batch this large, nothing is allocated.
    ///
    /// ```
    /// use backprop::prelude::*;
    /// use backprop::model::Workspace;
    /// use nalgebra::DMatrix;
    /// let model = Sequential::<f32>::builder(3).seed(1).dense(4, Relu).dense(2, Softmax).build()?;
    /// let x = DMatrix::from_element(5, 3, 0.5);
    /// let (mut out, mut ws) = (DMatrix::zeros(5, 2), Workspace::new());
    /// model.predict_into(&x, &mut out, &mut ws)?;
    /// assert_eq!(out, model.predict(&x)?);
    /// # Ok::<(), backprop::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`predict`](Self::predict), and [`Error::Shape`] if `out` is not `rows x output_size`;
    /// `out` is unchanged on error.
    pub fn predict_into(
        &self,
        x: &Matrix<T>,
        out: &mut Matrix<T>,
        ws: &mut Workspace<T>,
    ) -> Result<()> {
        self.check_inputs(x.as_view())?;
        let expected = (x.nrows(), self.output_size());
        if out.shape() != expected {
            return Err(Error::Shape {
                what: "predictions".into(),
                expected,
                actual: out.shape(),
            });
        }
        self.reserve_workspace(ws, x.nrows())?;
        let mut start = 0;
        while start < x.nrows() {
            let rows = CHUNK.min(x.nrows() - start);
            let pred = self.infer(x.rows(start, rows), ws);
            out.rows_mut(start, rows).copy_from(&pred);
            start += rows;
        }
        Ok(())
    }

    /// The predicted class of every row of `x`: the column of the largest output (the first of
    /// equal maxima, as numpy's `argmax`), or, for a model with one output (a sigmoid), 1 when it
    /// is at least 0.5 and 0 otherwise; as [`metrics`](crate::metrics) reads predictions.
    ///
    /// ```
    /// use backprop::prelude::*;
    /// use nalgebra::DMatrix;
    /// let mut model = Sequential::<f64>::builder(2).bias(false).dense(3, Softmax).build()?;
    /// model.set_weights(0, DMatrix::from_row_slice(2, 3, &[1.0, 0.0, 0.0, 0.0, 0.0, 1.0]))?;
    /// let x = DMatrix::from_row_slice(3, 2, &[2.0, 0.0, 0.0, 2.0, -1.0, -1.0]);
    /// assert_eq!(model.predict_classes(&x)?, [0, 2, 1]);
    /// # Ok::<(), backprop::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`predict`](Self::predict).
    pub fn predict_classes(&self, x: &Matrix<T>) -> Result<Vec<usize>> {
        Ok(crate::metrics::predicted_classes(
            self.predict(x)?.as_view(),
        ))
    }

    /// The loss over a whole data set (a mean over its rows, like a batch loss), in inference mode.
    ///
    /// # Errors
    ///
    /// The input errors of [`predict`](Self::predict) and the target errors of
    /// [`step`](Self::step).
    pub fn evaluate(&self, x: &Matrix<T>, y: &Matrix<T>) -> Result<T> {
        Ok(self.checked_measure(x, y, false)?.0)
    }

    /// The loss and the classification accuracy over a whole data set, in inference mode: Keras's
    /// `model.evaluate(x, y)` with `metrics=["accuracy"]`.
    ///
    /// The loss is [`evaluate`](Self::evaluate)'s; the accuracy is the fraction of rows whose
    /// predicted class ([`predict_classes`](Self::predict_classes)) is the target's class, read
    /// as the [`metrics`](crate::metrics) read targets (it means little for a regression).
    ///
    /// ```
    /// use backprop::prelude::*;
    /// use nalgebra::DMatrix;
    /// let mut model = Sequential::<f64>::builder(1).bias(false).dense(1, Sigmoid)
    ///     .loss(BinaryCrossEntropy).build()?;
    /// model.set_weights(0, DMatrix::from_element(1, 1, 2.0))?;
    /// let x = DMatrix::from_column_slice(4, 1, &[-1.0, -0.5, 0.5, 1.0]);
    /// let y = DMatrix::from_column_slice(4, 1, &[0.0, 1.0, 1.0, 1.0]);
    /// let scores = model.evaluate_metrics(&x, &y)?;
    /// assert_eq!(scores.accuracy, 0.75);
    /// assert_eq!(scores.loss, model.evaluate(&x, &y)?);
    /// # Ok::<(), backprop::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`evaluate`](Self::evaluate).
    pub fn evaluate_metrics(&self, x: &Matrix<T>, y: &Matrix<T>) -> Result<Evaluation<T>> {
        let (loss, correct) = self.checked_measure(x, y, true)?;
        Ok(Evaluation {
            loss,
            accuracy: correct as f64 / x.nrows() as f64,
        })
    }

    /// [`measure`](Self::measure) of data checked here, with buffers of its own.
    fn checked_measure(&self, x: &Matrix<T>, y: &Matrix<T>, accuracy: bool) -> Result<(T, usize)> {
        self.check_inputs(x.as_view())?;
        self.check_targets(x.nrows(), y.as_view())?;
        with_thread_workspace(|ws| {
            self.reserve_workspace(ws, x.nrows())?;
            Ok(self.measure(x.as_view(), y.as_view(), accuracy, ws))
        })
    }

    /// Sizes `ws` for chunks of up to `rows` rows.
    pub(crate) fn reserve_workspace(&self, ws: &mut Workspace<T>, rows: usize) -> Result<()> {
        // The inputs are read where they lie: the buffers hold the layers' outputs only.
        let widest = self.widths[1..].iter().copied().max().unwrap_or(0);
        for buf in &mut ws.buffers {
            crate::size::grow(buf, "inference buffers", CHUNK.min(rows), widest, T::zero())?;
        }
        Ok(())
    }

    /// Loss and correctly classified rows of validated data, in chunks, in inference mode.
    pub(crate) fn measure(
        &self,
        x: MatrixView<'_, T>,
        y: MatrixView<'_, T>,
        accuracy: bool,
        ws: &mut Workspace<T>,
    ) -> (T, usize) {
        let (mut total, mut correct, mut start) = (T::zero(), 0, 0);
        while start < x.nrows() {
            let rows = CHUNK.min(x.nrows() - start);
            let yb = y.rows(start, rows);
            let pred = self.infer(x.rows(start, rows), ws);
            total += self.loss.loss(pred, yb) * T::of_usize(rows);
            if accuracy {
                correct += count_correct(pred, yb);
            }
            start += rows;
        }
        (total / T::of_usize(x.nrows()), correct)
    }

    /// The forward pass of validated rows (at most a chunk, for which `ws` is sized) through
    /// [`Layer::forward`](crate::Layer::forward), the layers' outputs alternating between the two
    /// buffers; the output.
    fn infer<'w>(&self, x: MatrixView<'_, T>, ws: &'w mut Workspace<T>) -> MatrixView<'w, T> {
        let rows = x.nrows();
        let [a, b] = &mut ws.buffers;
        let (mut input, mut output) = (a, b);
        for (i, layer) in self.layers.iter().enumerate() {
            let out = view_mut(output, rows, self.widths[i + 1]);
            // layer_1 = relu(layer_0.dot(weights_0_1))
            match i {
                0 => layer.forward(x, out),
                _ => layer.forward(view(input, rows, self.widths[i]), out),
            }
            std::mem::swap(&mut input, &mut output);
        }
        view(input, rows, self.output_size())
    }
}
