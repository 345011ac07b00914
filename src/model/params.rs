//! The parameter walk: every parameter of every layer, in the order the optimizer numbers them
//! (layer by layer, each layer's [`Layer::param`](crate::Layer::param) order).
//!
//! Updating, the divergence guard, clipping, saving, early stopping and the gradient checker all
//! go through [`Sequential::parameters`] or its mutable twin, so the order is defined once.

use super::Sequential;
use crate::layer::{Param, ParamMut};
use crate::validate::all_finite;
use crate::{Float, Layer, Matrix};

/// The parameters of one layer, in its order.
pub(crate) fn layer_params<T: Float>(layer: &dyn Layer<T>) -> impl Iterator<Item = Param<'_, T>> {
    (0..).map_while(move |k| layer.param(k))
}

/// Calls `f` with each parameter of one layer, writable, in its order.
pub(crate) fn each_layer_param_mut<T: Float>(
    layer: &mut dyn Layer<T>,
    f: &mut impl FnMut(ParamMut<'_, T>),
) {
    let mut k = 0;
    while let Some(p) = layer.param_mut(k) {
        f(p);
        k += 1;
    }
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
        self.layers
            .iter()
            .enumerate()
            .flat_map(|(i, layer)| layer_params(layer.as_ref()).map(move |p| (i, p)))
    }

    /// Calls `f` with every parameter, writable, its layer index and its optimizer index, in
    /// the order of [`parameters`](Self::parameters).
    pub(crate) fn each_param_mut(&mut self, mut f: impl FnMut(usize, usize, ParamMut<'_, T>)) {
        let mut index = 0;
        for (i, layer) in self.layers.iter_mut().enumerate() {
            each_layer_param_mut(layer.as_mut(), &mut |p| {
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
