//! The parameter walk: every parameter of every layer, in the order the optimizer numbers them
//! (layer by layer, each layer's [`Layer::param`](crate::Layer::param) order).
//!
//! Updating, the divergence guard, clipping, saving, early stopping and the gradient checker all
//! go through [`Sequential::parameters`] or its mutable twin, so the order is defined once.

use super::Sequential;
use crate::layer::{Param, ParamMut};
use crate::validate::all_finite;
use crate::{Error, Float, Layer, Matrix, Result};

/// The most parameters one layer may list: [`SequentialBuilder::build`](super::SequentialBuilder::build)
/// and the gradient checker refuse a layer whose [`param`](Layer::param) answers more (one that
/// never answers `None` would make the walk endless).
pub(crate) const MAX_LAYER_PARAMS: usize = 1024;

/// How many parameters `layer` (layer `index` of a model) lists, asking for at most one more
/// than [`MAX_LAYER_PARAMS`].
///
/// # Errors
///
/// [`Error::InvalidLayer`] if it lists more than [`MAX_LAYER_PARAMS`].
pub(crate) fn count_params<T: Float>(layer: &dyn Layer<T>, index: usize) -> Result<usize> {
    let n = (0..=MAX_LAYER_PARAMS)
        .take_while(|&k| layer.param(k).is_some())
        .count();
    if n > MAX_LAYER_PARAMS {
        return Err(Error::InvalidLayer {
            layer: index,
            name: layer.name().to_string(),
            reason: format!(
                "it lists more than {MAX_LAYER_PARAMS} parameters (`param(k)` must return `None` \
                 past the last)"
            ),
        });
    }
    Ok(n)
}

/// The first `count` parameters of one layer, in its order (fewer if it answers `None` before).
pub(crate) fn layer_params<T: Float>(
    layer: &dyn Layer<T>,
    count: usize,
) -> impl Iterator<Item = Param<'_, T>> {
    (0..count).map_while(move |k| layer.param(k))
}

/// Calls `f` with each of the first `count` parameters of one layer, writable, in its order.
pub(crate) fn each_layer_param_mut<T: Float>(
    layer: &mut dyn Layer<T>,
    count: usize,
    f: &mut impl FnMut(ParamMut<'_, T>),
) {
    for k in 0..count {
        match layer.param_mut(k) {
            Some(p) => f(p),
            None => break,
        }
    }
}

/// [`Error::Shape`] for a gradient whose shape differs from its parameter's.
pub(crate) fn check_gradient_shape<T: Float>(
    layer: usize,
    name: &str,
    value: &Matrix<T>,
    grad: &Matrix<T>,
) -> Result<()> {
    if value.shape() == grad.shape() {
        return Ok(());
    }
    Err(Error::Shape {
        what: format!("gradient of layer {layer} {name} (it must have the parameter's shape)"),
        expected: value.shape(),
        actual: grad.shape(),
    })
}

impl<T: Float> Sequential<T> {
    /// Every parameter with the index of its layer, in the order the optimizer numbers them.
    ///
    /// ```
    /// use backprop::prelude::*;
    /// let model = Sequential::<f64>::builder(3).dense(4, Relu).dense(1, Identity).build()?;
    /// let names: Vec<_> = model.parameters().map(|(layer, p)| (layer, p.name)).collect();
    /// assert_eq!(names, [(0, "weights"), (0, "bias"), (1, "weights"), (1, "bias")]);
    /// # Ok::<(), backprop::Error>(())
    /// ```
    pub fn parameters(&self) -> impl Iterator<Item = (usize, Param<'_, T>)> {
        (self.layers.iter().zip(&self.param_counts))
            .enumerate()
            .flat_map(|(i, (layer, &n))| layer_params(layer.as_ref(), n).map(move |p| (i, p)))
    }

    /// The parameters of layer `index`, in its order.
    pub(crate) fn layer_params(&self, index: usize) -> impl Iterator<Item = Param<'_, T>> {
        layer_params(self.layers[index].as_ref(), self.param_counts[index])
    }

    /// Calls `f` with every parameter, writable, its layer index and its optimizer index, in
    /// the order of [`parameters`](Self::parameters).
    pub(crate) fn each_param_mut(&mut self, mut f: impl FnMut(usize, usize, ParamMut<'_, T>)) {
        let mut index = 0;
        let layers = self.layers.iter_mut().zip(&self.param_counts);
        for (i, (layer, &count)) in layers.enumerate() {
            each_layer_param_mut(layer.as_mut(), count, &mut |p| {
                f(i, index, p);
                index += 1;
            });
        }
    }

    /// Total number of trainable values.
    pub fn num_parameters(&self) -> usize {
        self.parameters().map(|(_, p)| p.value.len()).sum()
    }

    /// Every parameter's gradient from the last backward pass, in optimizer order.
    pub fn params_grads(&self) -> impl Iterator<Item = &Matrix<T>> {
        self.parameters().map(|(_, p)| p.grad)
    }

    /// Every parameter of every layer: `(layer index, name, value)`, in optimizer order.
    pub fn params(&self) -> Vec<(usize, &'static str, &Matrix<T>)> {
        self.parameters()
            .map(|(i, p)| (i, p.name, p.value))
            .collect()
    }

    /// Copies every parameter into `into` (reusing its matrices when the shapes agree).
    pub(crate) fn snapshot_into(&self, into: &mut Vec<Matrix<T>>) {
        let count = self.parameters().count();
        into.truncate(count);
        for (k, (_, p)) in self.parameters().enumerate() {
            match into.get_mut(k) {
                Some(m) if m.shape() == p.value.shape() => m.copy_from(p.value),
                Some(m) => *m = p.value.clone(),
                None => into.push(p.value.clone()),
            }
        }
    }

    /// Writes back parameters taken by [`snapshot_into`](Self::snapshot_into).
    pub(crate) fn restore(&mut self, from: &[Matrix<T>]) {
        self.each_param_mut(|_, index, p| {
            if let Some(v) = from.get(index) {
                p.value.copy_from(v);
            }
        });
    }

    /// Copies every parameter, in optimizer order, into one flat buffer (which allocates only
    /// while it grows).
    pub(crate) fn copy_params_to(&self, into: &mut Vec<T>) {
        into.clear();
        for (_, p) in self.parameters() {
            into.extend_from_slice(p.value.as_slice());
        }
    }

    /// Copies a buffer filled by [`copy_params_to`](Self::copy_params_to) back over the
    /// parameters.
    pub(crate) fn restore_params_from(&mut self, from: &[T]) {
        let mut at = 0;
        self.each_param_mut(|_, _, p| {
            let n = p.value.len();
            if let Some(saved) = from.get(at..at + n) {
                p.value.as_mut_slice().copy_from_slice(saved);
            }
            at += n;
        });
    }

    /// Checks that every parameter's gradient has the parameter's shape, as an optimizer needs
    /// (a user's layer may store another).
    ///
    /// # Errors
    ///
    /// [`Error::Shape`] naming the first parameter whose gradient differs.
    pub(crate) fn check_gradient_shapes(&mut self) -> Result<()> {
        let mut result = Ok(());
        self.each_param_mut(|layer, _, p| {
            if result.is_ok() {
                result = check_gradient_shape(layer, p.name, p.value, p.grad);
            }
        });
        result
    }

    /// Every parameter's shape, in optimizer order, into `into`.
    pub(crate) fn param_shapes_into(&self, into: &mut Vec<(usize, usize)>) {
        into.clear();
        into.extend(self.parameters().map(|(_, p)| p.value.shape()));
    }

    /// Checks, after an optimizer the model does not know updated the parameters, that each
    /// kept its shape from `shapes` (taken by [`param_shapes_into`](Self::param_shapes_into)).
    ///
    /// # Errors
    ///
    /// [`Error::Shape`] naming the first parameter whose shape changed.
    pub(crate) fn check_param_shapes(&mut self, shapes: &[(usize, usize)]) -> Result<()> {
        let mut result = Ok(());
        self.each_param_mut(|layer, index, p| {
            let expected = shapes.get(index).copied().unwrap_or((0, 0));
            if result.is_ok() && p.value.shape() != expected {
                result = Err(Error::Shape {
                    what: format!(
                        "layer {layer} {} after the optimizer's update (an optimizer must not \
                         change a parameter's shape)",
                        p.name
                    ),
                    expected,
                    actual: p.value.shape(),
                });
            }
        });
        result
    }

    /// [`restore_params_from`](Self::restore_params_from) for parameters that may have been
    /// resized: each is put back with its shape from `shapes`.
    pub(crate) fn restore_params_shaped(&mut self, from: &[T], shapes: &[(usize, usize)]) {
        let mut at = 0;
        self.each_param_mut(|_, index, p| {
            let Some(&(rows, cols)) = shapes.get(index) else {
                return;
            };
            let n = rows * cols;
            if let Some(saved) = from.get(at..at + n) {
                if p.value.shape() == (rows, cols) {
                    p.value.as_mut_slice().copy_from_slice(saved);
                } else {
                    *p.value = Matrix::from_column_slice(rows, cols, saved);
                }
            }
            at += n;
        });
    }

    /// The layer of each parameter, in optimizer order.
    pub(crate) fn param_layers(&self) -> impl Iterator<Item = usize> + '_ {
        self.parameters().map(|(i, _)| i)
    }

    /// The first layer with a NaN or infinite parameter, if any.
    pub(crate) fn first_nonfinite_param(&self) -> Option<usize> {
        self.parameters()
            .find(|(_, p)| !all_finite(p.value.as_slice()))
            .map(|(i, _)| i)
    }

    /// The first layer with a NaN or infinite gradient, if any.
    pub(crate) fn first_nonfinite_gradient(&self) -> Option<usize> {
        self.parameters()
            .find(|(_, p)| !all_finite(p.grad.as_slice()))
            .map(|(i, _)| i)
    }

    /// The first layer whose parameter has a NaN or infinite buffer in `state`, if any.
    pub(crate) fn first_nonfinite_state(&self, state: &crate::OptimizerState<T>) -> Option<usize> {
        let bad = state
            .tensors
            .iter()
            .filter(|t| !all_finite(t.value.as_slice()))
            .map(|t| t.index)
            .min()?;
        // An index the model does not have cannot come from its own update; name the last layer.
        Some(
            self.param_layers()
                .nth(bad)
                .unwrap_or(self.layers.len() - 1),
        )
    }

    /// Mutable access to the layers, for the gradient checker.
    pub(crate) fn layers_mut(&mut self) -> &mut [Box<dyn Layer<T>>] {
        &mut self.layers
    }
}
