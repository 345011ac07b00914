//! The [`Sequential`] model: layers in a row, trained by the chapter's delta rule.
//!
//! `mod.rs` holds the model and what can be read from it; `builder.rs` builds it, `pass.rs` runs
//! the delta rule (forward, backward, update) on validated data, and `params.rs` walks the
//! parameters. Training loops over it live in [`crate::train`].

mod builder;
mod infer;
mod params;
mod pass;
mod summary;

use std::any::Any;

pub use builder::SequentialBuilder;
pub use infer::{Evaluation, Workspace};
pub(crate) use params::{check_gradient_shape, count_params, layer_params};
pub(crate) use pass::derivative_from;
pub use summary::{LayerSummary, Summary};

use crate::linalg::view;
use crate::validate::check_finite;
use crate::{Error, Float, Layer, Loss, Matrix, MatrixView, Result};

/// Rows per forward pass in [`Sequential::predict`] and [`Sequential::evaluate`], which bounds
/// their memory on large data sets.
pub(crate) const CHUNK: usize = 1024;

/// Layers applied one after another, with a loss: forward, backward and update in one place.
///
/// A model is `Clone`, `Send` and `Sync`: [`predict`](Sequential::predict) and
/// [`evaluate`](Sequential::evaluate) take `&self`, so one model behind an
/// [`Arc`](std::sync::Arc) serves several threads, each predicting with the same bits as alone.
///
/// After a forward and backward pass every intermediate value of the book can be read:
///
/// | book | `Sequential` |
/// |---|---|
/// | `layer_0` | [`layer_output(0)`](Sequential::layer_output) (the input batch) |
/// | `layer_1`, `layer_2` | `layer_output(1)`, `layer_output(2)` |
/// | `layer_2_delta` | [`delta(1)`](Sequential::delta) (of the second dense layer) |
/// | `layer_1_delta` (after `relu2deriv`) | `delta(0)` |
/// | `weights_0_1`, `weights_1_2` | [`weights(0)`](Sequential::weights), `weights(1)` |
/// | `weight_delta_0_1` | [`weight_delta(0)`](Sequential::weight_delta) |
///
/// ```
/// use backprop::prelude::*;
/// use nalgebra::DMatrix;
///
/// let streetlights = DMatrix::from_row_slice(4, 3, &[1., 0., 1., 0., 1., 1., 0., 0., 1., 1., 1., 1.]);
/// let walk_vs_stop = DMatrix::from_column_slice(4, 1, &[1., 1., 0., 0.]);
///
/// let mut model = Sequential::<f64>::builder(3)
///     .rng(NumpyRng::new(1))        // np.random.seed(1)
///     .init(BookUniform)            // 2*np.random.random((3,4)) - 1
///     .bias(false)
///     .dense(4, Relu)               // layer_1 = relu(layer_0 . weights_0_1)
///     .dense(1, Identity)           // layer_2 = layer_1 . weights_1_2
///     .build()
///     .unwrap();
///
/// let history = model
///     .fit(&streetlights, &walk_vs_stop, &mut Sgd::new(0.2).unwrap(), &Fit::new(60).stochastic())
///     .unwrap();
/// assert!(history.loss.last().unwrap() < &1e-4);
/// ```
#[derive(Debug, Clone)]
pub struct Sequential<T: Float> {
    inputs: usize,
    layers: Vec<Box<dyn Layer<T>>>,
    loss: Box<dyn Loss<T>>,
    /// `outputs[0]` is the input batch, `outputs[i + 1]` the output of layer `i`
    /// (column-major, `rows x width`, reused from batch to batch).
    outputs: Vec<Vec<T>>,
    /// `deltas[i]` is layer `i`'s delta (`rows x output width`).
    deltas: Vec<Vec<T>>,
    /// `widths[0]` is the input width, `widths[i + 1]` the output width of layer `i`.
    widths: Vec<usize>,
    /// Rows of the batch held in `outputs`.
    rows: usize,
    /// Whether `deltas` and the layers' gradients belong to the batch in `outputs`.
    has_gradients: bool,
    /// Whether the loss gives the output delta itself, fused with the output activation
    /// ([`Loss::fuses_with`]), decided when the model is built.
    fused_output: bool,
    /// Whether the layers are in training mode (dropout active) or inference mode.
    training: bool,
    /// `param_counts[i]` is the number of parameters of layer `i`, counted when the model was
    /// built: the parameter walk asks a layer for no more, so a layer that never answers `None`
    /// cannot make it endless.
    param_counts: Vec<usize>,
    /// The epochs of the last `fit` that failed during training (see
    /// [`take_interrupted_history`](Sequential::take_interrupted_history)).
    pub(crate) interrupted: Option<crate::History<T>>,
}

impl<T: Float> Sequential<T> {
    /// Width of the input rows.
    pub fn input_size(&self) -> usize {
        self.inputs
    }

    /// Width of the output rows (the last layer's output width when the model was built).
    pub fn output_size(&self) -> usize {
        self.widths[self.layers.len()]
    }

    /// Number of layers.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// `false`: a built model has at least one layer.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// The loss the model is trained on.
    pub fn loss_fn(&self) -> &dyn Loss<T> {
        self.loss.as_ref()
    }

    // ----- checks at the boundary -------------------------------------------------------------

    /// Checks a batch of inputs, and that every layer still has the widths the model was built
    /// with (the buffers are sized by them).
    pub(crate) fn check_inputs(&self, x: MatrixView<'_, T>) -> Result<()> {
        self.check_widths()?;
        if x.nrows() == 0 {
            return Err(Error::Empty { what: "inputs" });
        }
        if x.ncols() != self.inputs {
            return Err(Error::Shape {
                what: "inputs".into(),
                expected: (x.nrows(), self.inputs),
                actual: x.shape(),
            });
        }
        check_finite("inputs", x)
    }

    pub(crate) fn check_targets(&self, rows: usize, y: MatrixView<'_, T>) -> Result<()> {
        if y.nrows() != rows {
            return Err(Error::RowMismatch {
                inputs: rows,
                targets: y.nrows(),
            });
        }
        self.loss.check_targets(self.output_size(), y)
    }

    /// [`Error::InvalidLayer`] for the first layer whose input or output width is no longer the
    /// one it had when the model was built (a user's layer may change it).
    fn check_widths(&self) -> Result<()> {
        let changed = self.layers.iter().enumerate().find_map(|(i, l)| {
            let (input, output) = (l.input_size(), l.output_size());
            let (built_in, built_out) = (self.widths[i], self.widths[i + 1]);
            (input != built_in || output != built_out).then(|| Error::InvalidLayer {
                layer: i,
                name: l.name().to_string(),
                reason: format!(
                    "it was built with {built_in} inputs and {built_out} outputs, and now \
                     reports {input} and {output}"
                ),
            })
        });
        changed.map_or(Ok(()), Err)
    }

    fn check_layer(&self, index: usize) -> Result<()> {
        if index >= self.layers.len() {
            return Err(Error::LayerIndex {
                index,
                layers: self.layers.len(),
            });
        }
        Ok(())
    }

    // ----- introspection ----------------------------------------------------------------------

    /// The layer at `index`.
    ///
    /// # Errors
    ///
    /// [`Error::LayerIndex`] if there is no such layer.
    pub fn layer(&self, index: usize) -> Result<&dyn Layer<T>> {
        self.check_layer(index)?;
        Ok(self.layers[index].as_ref())
    }

    /// The layer at `index` as its concrete type, e.g. `model.layer_as::<Dense<f64>>(0)`.
    pub fn layer_as<L: Layer<T>>(&self, index: usize) -> Option<&L> {
        let layer: &dyn Any = self.layers.get(index)?.as_ref();
        layer.downcast_ref::<L>()
    }

    /// The values of the last forward pass: `layer_output(0)` is the input batch (`layer_0`),
    /// `layer_output(i + 1)` the output of layer `i` (`layer_1`, `layer_2`, ...).
    ///
    /// # Errors
    ///
    /// [`Error::LayerIndex`] past the output; [`Error::NotReady`] before any forward pass.
    pub fn layer_output(&self, index: usize) -> Result<MatrixView<'_, T>> {
        if index > self.layers.len() {
            return Err(Error::LayerIndex {
                index,
                layers: self.layers.len() + 1,
            });
        }
        if self.rows == 0 {
            return Err(Error::NotReady {
                reason: "no forward pass has run",
            });
        }
        Ok(view(&self.outputs[index], self.rows, self.widths[index]))
    }

    /// The delta of layer `index` from the last backward pass: the gradient of the loss at the
    /// layer's pre-activation values, the book's `layer_{index+1}_delta` (after `relu2deriv`).
    ///
    /// # Errors
    ///
    /// [`Error::LayerIndex`] for a bad index; [`Error::NotReady`] before a backward pass.
    pub fn delta(&self, index: usize) -> Result<MatrixView<'_, T>> {
        self.check_layer(index)?;
        if !self.has_gradients {
            return Err(Error::NotReady {
                reason: "no backward pass has run since the last forward pass",
            });
        }
        Ok(view(&self.deltas[index], self.rows, self.widths[index + 1]))
    }

    /// The parameter `name` of layer `index` (e.g. `"weights"`, `"bias"`).
    ///
    /// # Errors
    ///
    /// [`Error::LayerIndex`], or [`Error::NoSuchParameter`] if the layer has no such parameter.
    pub fn param(&self, index: usize, name: &str) -> Result<&Matrix<T>> {
        Ok(self.find_param(index, name)?.0)
    }

    /// The gradient of parameter `name` of layer `index` from the last backward pass.
    ///
    /// # Errors
    ///
    /// As [`param`](Self::param).
    pub fn grad(&self, index: usize, name: &str) -> Result<&Matrix<T>> {
        Ok(self.find_param(index, name)?.1)
    }

    fn find_param(&self, index: usize, name: &str) -> Result<(&Matrix<T>, &Matrix<T>)> {
        self.check_layer(index)?;
        self.layer_params(index)
            .find(|p| p.name == name)
            .map(|p| (p.value, p.grad))
            .ok_or_else(|| Error::NoSuchParameter {
                layer: index,
                name: name.to_string(),
            })
    }

    /// The weights of layer `index` (the book's `weights_0_1` is `weights(0)`).
    ///
    /// # Errors
    ///
    /// As [`param`](Self::param).
    pub fn weights(&self, index: usize) -> Result<&Matrix<T>> {
        self.param(index, "weights")
    }

    /// The weight delta of layer `index` from the last backward pass (`weight_delta_0_1` is
    /// `weight_delta(0)`), averaged over the batch.
    ///
    /// # Errors
    ///
    /// As [`param`](Self::param).
    pub fn weight_delta(&self, index: usize) -> Result<&Matrix<T>> {
        self.grad(index, "weights")
    }

    /// Replaces parameter `name` of layer `index`.
    ///
    /// # Errors
    ///
    /// As [`param`](Self::param), plus [`Error::Shape`] for a matrix of another shape and
    /// [`Error::NonFinite`] for NaN or infinity; the model is unchanged on error.
    pub fn set_param(&mut self, index: usize, name: &str, value: Matrix<T>) -> Result<()> {
        self.find_param(index, name)?;
        let what = format!("layer {index} {name}");
        let (mut value, mut result) = (Some(value), Ok(()));
        let count = self.param_counts[index];
        params::each_layer_param_mut(self.layers[index].as_mut(), count, &mut |p| {
            if p.name == name
                && let Some(v) = value.take()
            {
                result = crate::layer::set_checked(&what, p.value, v);
            }
        });
        result
    }

    /// Replaces the weights of layer `index` (the book hard-codes `[0.5, 0.48, -0.7]`).
    ///
    /// # Errors
    ///
    /// As [`set_param`](Self::set_param).
    pub fn set_weights(&mut self, index: usize, value: Matrix<T>) -> Result<()> {
        self.set_param(index, "weights", value)
    }

    /// The output of the last forward pass (validated state: a forward pass has run).
    pub(crate) fn output(&self) -> MatrixView<'_, T> {
        let width = self.output_size();
        view(&self.outputs[self.layers.len()], self.rows, width)
    }
}
