//! Layers: the pieces a [`Sequential`](crate::Sequential) model stacks.
//!
//! A layer maps a batch `input` (rows = samples) to an `output` and, going back, turns the delta
//! at its output into weight deltas and the delta for the layer before it:
//!
//! ```text
//! forward:   layer_1       = f(layer_0 . weights_0_1 + bias_1)
//! backward:  layer_0_delta = layer_1_delta . weights_0_1.T
//!            weight_delta  = layer_0.T . layer_1_delta
//! ```
//!
//! The model owns the activations and deltas (so it can show them, and so nothing allocates in the
//! training loop); a layer owns its parameters and their gradients.

mod dense;
mod dropout;

use std::any::Any;
use std::fmt::Debug;

pub use crate::activation::Config;
pub use dense::Dense;
pub(crate) use dense::set_checked;
pub use dropout::Dropout;

use crate::{Activation, Float, Matrix, MatrixView, MatrixViewMut};

/// One parameter of a layer and its gradient from the last backward pass.
#[derive(Debug)]
pub struct Param<'a, T: Float> {
    /// Name, e.g. `"weights"` or `"bias"`.
    pub name: &'static str,
    /// Current value.
    pub value: &'a Matrix<T>,
    /// `dL/dvalue` from the last backward pass (the book's `weight_delta`).
    pub grad: &'a Matrix<T>,
}

/// One parameter of a layer, writable, with its gradient.
#[derive(Debug)]
pub struct ParamMut<'a, T: Float> {
    /// Name, e.g. `"weights"` or `"bias"`.
    pub name: &'static str,
    /// Current value, to be updated by an optimizer.
    pub value: &'a mut Matrix<T>,
    /// `dL/dvalue` from the last backward pass (writable so that gradients can be clipped).
    pub grad: &'a mut Matrix<T>,
}

/// Clones a boxed layer, so that models clone; implemented for every layer that is [`Clone`].
pub trait CloneLayer<T: Float> {
    /// A boxed copy.
    fn clone_box(&self) -> Box<dyn Layer<T>>;
}

impl<T: Float, L: Layer<T> + Clone> CloneLayer<T> for L {
    fn clone_box(&self) -> Box<dyn Layer<T>> {
        Box::new(self.clone())
    }
}

impl<T: Float> Clone for Box<dyn Layer<T>> {
    fn clone(&self) -> Self {
        self.as_ref().clone_box()
    }
}

/// A layer of a network. Object safe: a [`Sequential`](crate::Sequential) holds `Box<dyn Layer<T>>`,
/// and you can implement it for your own layers.
///
/// The model calls, for a batch of `n` rows:
///
/// 1. [`forward_train`](Layer::forward_train) with `input: n x input_size` and
///    `output: n x output_size` (to be overwritten) when it trains, or [`forward`](Layer::forward)
///    (through `&self`, so that a shared model can predict from several threads) when it predicts;
/// 2. after `forward_train`, [`backward`](Layer::backward) with the same `input` and the layer's
///    `delta`: the gradient of
///    the loss with respect to the layer's pre-activation values if [`activation`](Layer::activation)
///    returns `Some` (the model applies the activation's derivative, as the book's
///    `* relu2deriv(layer_1)` does), otherwise with respect to its output. The layer stores its
///    parameter gradients and, if `grad_input` is `Some`, writes `dL/dinput` there.
///
/// Shapes are validated by the model before these calls; an implementation may panic on shapes
/// that do not match its sizes. A layer is [`Clone`] (so that models clone) and `Send + Sync`
/// (so that a model can be shared between threads).
///
/// ```
/// use backprop::prelude::*;
/// use backprop::layer::{Param, ParamMut};
/// use nalgebra::DMatrix;
///
/// /// Multiplies every input by one learned scalar.
/// #[derive(Debug, Clone)]
/// struct Scale { width: usize, s: DMatrix<f64>, grad: DMatrix<f64> }
///
/// impl Layer<f64> for Scale {
///     fn name(&self) -> &str { "Scale" }
///     fn input_size(&self) -> usize { self.width }
///     fn output_size(&self) -> usize { self.width }
///     fn forward(&self, input: MatrixView<'_, f64>, mut output: MatrixViewMut<'_, f64>) {
///         output.copy_from(&(input * self.s[(0, 0)]));
///     }
///     fn backward(&mut self, input: MatrixView<'_, f64>, delta: MatrixView<'_, f64>,
///                 grad_input: Option<MatrixViewMut<'_, f64>>) {
///         self.grad[(0, 0)] = input.dot(&delta);
///         if let Some(mut g) = grad_input { g.copy_from(&(delta * self.s[(0, 0)])); }
///     }
///     fn param(&self, k: usize) -> Option<Param<'_, f64>> {
///         (k == 0).then(|| Param { name: "s", value: &self.s, grad: &self.grad })
///     }
///     fn param_mut(&mut self, k: usize) -> Option<ParamMut<'_, f64>> {
///         (k == 0).then(|| ParamMut { name: "s", value: &mut self.s, grad: &mut self.grad })
///     }
/// }
///
/// let mut model = Sequential::builder(2)
///     .add(Scale { width: 2, s: DMatrix::from_element(1, 1, 0.5), grad: DMatrix::zeros(1, 1) })
///     .dense(1, Identity)
///     .build()
///     .unwrap();
/// let x = DMatrix::from_row_slice(2, 2, &[1.0, 2.0, 3.0, 4.0]);
/// let y = DMatrix::from_row_slice(2, 1, &[1.0, 0.0]);
/// let report = gradcheck::check_model(&mut model, &x, &y).unwrap();
/// assert!(report.max_rel() < 1e-6);
/// ```
pub trait Layer<T: Float>: CloneLayer<T> + Any + Debug + Send + Sync {
    /// Short name, e.g. `"Dense"`.
    fn name(&self) -> &str;

    /// Width of the input rows.
    fn input_size(&self) -> usize;

    /// Width of the output rows.
    fn output_size(&self) -> usize;

    /// The activation applied last in [`forward`](Layer::forward), if any; the model applies its
    /// derivative before [`backward`](Layer::backward), and may fuse it with the loss.
    fn activation(&self) -> Option<&dyn Activation<T>> {
        None
    }

    /// Computes `output` (`n x output_size`) from `input` (`n x input_size`) for inference.
    fn forward(&self, input: MatrixView<'_, T>, output: MatrixViewMut<'_, T>);

    /// [`forward`](Layer::forward) in a training step, before [`backward`](Layer::backward): a
    /// layer that keeps something of the pass for the way back (dropout's mask) overrides it.
    fn forward_train(&mut self, input: MatrixView<'_, T>, output: MatrixViewMut<'_, T>) {
        self.forward(input, output);
    }

    /// Stores the parameter gradients for `delta` and writes `dL/dinput` into `grad_input`.
    fn backward(
        &mut self,
        input: MatrixView<'_, T>,
        delta: MatrixView<'_, T>,
        grad_input: Option<MatrixViewMut<'_, T>>,
    );

    /// The `k`-th parameter (`k = 0, 1, ...`), or `None` past the last. Layers without parameters
    /// keep the default.
    fn param(&self, k: usize) -> Option<Param<'_, T>> {
        let _ = k;
        None
    }

    /// The `k`-th parameter, writable.
    fn param_mut(&mut self, k: usize) -> Option<ParamMut<'_, T>> {
        let _ = k;
        None
    }

    /// Switches between training and inference behaviour (for layers such as dropout).
    fn set_training(&mut self, training: bool) {
        let _ = training;
    }

    /// Prepares for batches of up to `rows` rows. A layer that keeps buffers sized by the batch
    /// allocates them here, so that a batch too large for memory is an error before training
    /// starts instead of an aborted process; the model calls it before it changes anything.
    ///
    /// # Errors
    ///
    /// [`Error::TooLarge`](crate::Error::TooLarge) if the buffers cannot be allocated.
    fn reserve(&mut self, rows: usize) -> crate::Result<()> {
        let _ = rows;
        Ok(())
    }

    /// The settings a saved model keeps to build this layer again, or `None` (the default) if it
    /// cannot be saved. A layer of one's own that returns `Some` is saved under its
    /// [`name`](Layer::name), with its settings and its [parameters](Layer::param) as tensors, and
    /// loads with an `io::Registry` that knows that name (the registered function also restores
    /// the layer's activation, if it has one). See `Sequential::load_with`.
    fn config(&self) -> Option<crate::activation::Config> {
        None
    }
}
