//! The fully connected layer of the chapter.

use super::{Layer, Param, ParamMut};
use crate::linalg::{Op, add_row, column_sums, copy, gemm, view, view_mut};
use crate::size;
use crate::{Activation, Error, Float, Identity, Matrix, MatrixView, MatrixViewMut, Result};

/// What errors call a dense layer's matrices.
const WEIGHTS: &str = "dense layer weights";
const BIAS: &str = "dense layer bias";
const PRE: &str = "dense layer pre-activations";

/// A fully connected layer: `layer_1 = f(layer_0 . weights_0_1 + bias)`.
///
/// Weights are `inputs x outputs`, as in the book (`weights_0_1 = 2*np.random.random((3,4)) - 1`
/// is a `Dense` from 3 to 4). The bias is optional (the chapter has none).
///
/// ```
/// use backprop::prelude::*;
/// use nalgebra::DMatrix;
///
/// // The book's first weights: one output, three inputs, no bias.
/// let layer = Dense::<f64>::from_weights(DMatrix::from_column_slice(3, 1, &[0.5, 0.48, -0.7]), None)
///     .unwrap();
/// assert_eq!((layer.input_size(), layer.output_size()), (3, 1));
/// assert_eq!(layer.weights()[(1, 0)], 0.48);
/// ```
#[derive(Debug, Clone)]
pub struct Dense<T: Float> {
    weights: Matrix<T>,
    bias: Option<Matrix<T>>,
    weight_delta: Matrix<T>,
    bias_delta: Option<Matrix<T>>,
    activation: Box<dyn Activation<T>>,
    /// `z = layer_0 . weights + bias` of the last training pass (column-major, `rows x outputs`
    /// at its front), kept only for an activation that [needs its input](Activation::needs_input).
    pre: Vec<T>,
}

impl<T: Float> Dense<T> {
    /// A layer with all weights (and the bias) zero and no activation.
    ///
    /// ```
    /// use backprop::prelude::*;
    ///
    /// let layer = Dense::<f32>::zeros(3, 2)?;
    /// assert_eq!((layer.input_size(), layer.output_size()), (3, 2));
    /// assert!(matches!(Dense::<f32>::zeros(usize::MAX, 2), Err(Error::TooLarge { .. })));
    /// # Ok::<(), Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::TooLarge`] if `inputs x outputs` weights cannot be allocated.
    pub fn zeros(inputs: usize, outputs: usize) -> Result<Self> {
        Ok(Dense {
            weights: size::zeros(WEIGHTS, inputs, outputs)?,
            bias: Some(size::zeros(BIAS, 1, outputs)?),
            weight_delta: size::zeros(WEIGHTS, inputs, outputs)?,
            bias_delta: Some(size::zeros(BIAS, 1, outputs)?),
            activation: Box::new(Identity),
            pre: Vec::new(),
        })
    }

    /// A layer with the given `inputs x outputs` weights and optional `1 x outputs` bias, no
    /// activation.
    ///
    /// # Errors
    ///
    /// [`Error::Shape`] if the bias is not `1 x outputs`, [`Error::NonFinite`] for NaN or infinity,
    /// [`Error::Empty`] for a matrix without entries, [`Error::TooLarge`] if there is no memory
    /// left for the gradients (matrices of the same shapes).
    pub fn from_weights(weights: Matrix<T>, bias: Option<Matrix<T>>) -> Result<Self> {
        if weights.is_empty() {
            return Err(Error::Empty { what: "weights" });
        }
        crate::validate::check_finite("weights", weights.as_view())?;
        let outputs = weights.ncols();
        if let Some(b) = &bias {
            if b.shape() != (1, outputs) {
                return Err(Error::Shape {
                    what: "bias".into(),
                    expected: (1, outputs),
                    actual: b.shape(),
                });
            }
            crate::validate::check_finite("bias", b.as_view())?;
        }
        let bias_delta = match bias {
            Some(_) => Some(size::zeros(BIAS, 1, outputs)?),
            None => None,
        };
        Ok(Dense {
            weight_delta: size::zeros(WEIGHTS, weights.nrows(), outputs)?,
            bias_delta,
            weights,
            bias,
            activation: Box::new(Identity),
            pre: Vec::new(),
        })
    }

    /// The same layer with activation `f` applied to its output.
    pub fn with_activation(mut self, f: impl Activation<T>) -> Self {
        self.activation = Box::new(f);
        self
    }

    /// [`with_activation`](Self::with_activation) for an activation already boxed (one built
    /// from a saved file's name).
    #[cfg(feature = "safetensors")]
    pub(crate) fn with_boxed_activation(mut self, f: Box<dyn Activation<T>>) -> Self {
        self.activation = f;
        self
    }

    /// The pre-activation values `z` of the last training pass of `rows` rows, if the layer keeps
    /// them (only for an activation that [needs its input](Activation::needs_input)).
    pub(crate) fn pre_activation(&self, rows: usize) -> Option<MatrixView<'_, T>> {
        let n = rows * self.output_size();
        (self.activation.needs_input() && self.pre.len() >= n)
            .then(|| view(&self.pre, rows, self.output_size()))
    }

    /// `layer_1 = layer_0.dot(weights_0_1) + bias`, before the activation.
    fn linear(&self, input: MatrixView<'_, T>, output: &mut MatrixViewMut<'_, T>) {
        let weights = self.weights.as_view();
        gemm(T::one(), Op::n(&input), Op::n(&weights), T::zero(), output);
        if let Some(b) = &self.bias {
            // layer_1 += bias   (broadcast over the rows)
            add_row(output, b.as_slice());
        }
    }

    /// The same layer without a bias.
    pub fn without_bias(mut self) -> Self {
        self.bias = None;
        self.bias_delta = None;
        self
    }

    /// The weights, `inputs x outputs` (the book's `weights_0_1`).
    pub fn weights(&self) -> &Matrix<T> {
        &self.weights
    }

    /// The bias, `1 x outputs`, if the layer has one.
    pub fn bias(&self) -> Option<&Matrix<T>> {
        self.bias.as_ref()
    }

    /// The weight gradient of the last backward pass: `layer_0.T . layer_1_delta`.
    pub fn weight_delta(&self) -> &Matrix<T> {
        &self.weight_delta
    }

    /// The bias gradient of the last backward pass: the column sums of the delta.
    pub fn bias_delta(&self) -> Option<&Matrix<T>> {
        self.bias_delta.as_ref()
    }

    /// Replaces the weights.
    ///
    /// # Errors
    ///
    /// [`Error::Shape`] unless `weights` is `inputs x outputs`; [`Error::NonFinite`] for NaN or
    /// infinity. The layer is unchanged on error.
    pub fn set_weights(&mut self, weights: Matrix<T>) -> Result<()> {
        set_checked("weights", &mut self.weights, weights)
    }

    /// Replaces the bias.
    ///
    /// # Errors
    ///
    /// [`Error::Shape`] unless `bias` is `1 x outputs` and the layer has a bias;
    /// [`Error::NonFinite`] for NaN or infinity.
    pub fn set_bias(&mut self, bias: Matrix<T>) -> Result<()> {
        match &mut self.bias {
            Some(b) => set_checked("bias", b, bias),
            None => Err(Error::Shape {
                what: "bias (this layer has none)".into(),
                expected: (0, 0),
                actual: bias.shape(),
            }),
        }
    }
}

/// Overwrites `slot` with `value` after checking its shape and values.
pub(crate) fn set_checked<T: Float>(
    what: &str,
    slot: &mut Matrix<T>,
    value: Matrix<T>,
) -> Result<()> {
    if value.shape() != slot.shape() {
        return Err(Error::Shape {
            what: what.into(),
            expected: slot.shape(),
            actual: value.shape(),
        });
    }
    crate::validate::check_finite(what, value.as_view())?;
    *slot = value;
    Ok(())
}

impl<T: Float> Layer<T> for Dense<T> {
    fn name(&self) -> &str {
        "Dense"
    }

    fn input_size(&self) -> usize {
        self.weights.nrows()
    }

    fn output_size(&self) -> usize {
        self.weights.ncols()
    }

    fn activation(&self) -> Option<&dyn Activation<T>> {
        Some(self.activation.as_ref())
    }

    fn forward(&self, input: MatrixView<'_, T>, mut output: MatrixViewMut<'_, T>) {
        // layer_1 = layer_0.dot(weights_0_1) + bias
        self.linear(input, &mut output);
        // layer_1 = relu(layer_1)
        self.activation.forward(output);
    }

    fn forward_train(&mut self, input: MatrixView<'_, T>, mut output: MatrixViewMut<'_, T>) {
        if !self.activation.needs_input() {
            return self.forward(input, output);
        }
        self.linear(input, &mut output);
        // z is kept for f'(z); `reserve` has sized the buffer (growing here only backs that up
        // for a caller that did not reserve).
        let (rows, cols) = output.shape();
        if self.pre.len() < rows * cols {
            self.pre.resize(rows * cols, T::zero());
        }
        copy(&mut view_mut(&mut self.pre, rows, cols), &output.as_view());
        self.activation.forward(output);
    }

    fn reserve(&mut self, rows: usize) -> Result<()> {
        if self.activation.needs_input() {
            let outputs = self.weights.ncols();
            size::grow(&mut self.pre, PRE, rows, outputs, T::zero())?;
        }
        Ok(())
    }

    fn backward(
        &mut self,
        input: MatrixView<'_, T>,
        delta: MatrixView<'_, T>,
        grad_input: Option<MatrixViewMut<'_, T>>,
    ) {
        // weight_delta_0_1 = layer_0.T.dot(layer_1_delta)   (delta carries 1/batch: an average)
        let mut weight_delta = self.weight_delta.as_view_mut();
        gemm(
            T::one(),
            Op::t(&input),
            Op::n(&delta),
            T::zero(),
            &mut weight_delta,
        );
        if let Some(bias_delta) = &mut self.bias_delta {
            // bias_delta = layer_1_delta.sum(axis=0)
            column_sums(&delta, bias_delta.as_mut_slice());
        }
        if let Some(mut layer_0_delta) = grad_input {
            // layer_0_delta = layer_1_delta.dot(weights_0_1.T)
            let weights = self.weights.as_view();
            gemm(
                T::one(),
                Op::n(&delta),
                Op::t(&weights),
                T::zero(),
                &mut layer_0_delta,
            );
        }
    }

    fn param(&self, k: usize) -> Option<Param<'_, T>> {
        match (k, &self.bias, &self.bias_delta) {
            (0, _, _) => Some(Param {
                name: "weights",
                value: &self.weights,
                grad: &self.weight_delta,
            }),
            (1, Some(b), Some(g)) => Some(Param {
                name: "bias",
                value: b,
                grad: g,
            }),
            _ => None,
        }
    }

    fn param_mut(&mut self, k: usize) -> Option<ParamMut<'_, T>> {
        match (k, &mut self.bias, &mut self.bias_delta) {
            (0, _, _) => Some(ParamMut {
                name: "weights",
                value: &mut self.weights,
                grad: &mut self.weight_delta,
            }),
            (1, Some(b), Some(g)) => Some(ParamMut {
                name: "bias",
                value: b,
                grad: g,
            }),
            _ => None,
        }
    }
}
