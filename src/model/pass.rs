//! The delta rule on validated data: forward, backward and update, and the public training API
//! of one batch (`forward`, `backward`, `update`, `clip_gradients`, `step`).

use super::Sequential;
use crate::linalg::{copy, view, view_mut};
use crate::optim::{ClipGradNorm, Clipped, global_norm};
use crate::{Activation, Dense, Error, Float, Layer, Matrix, MatrixView, Optimizer, Result};

/// What `layer`'s activation `f` takes its derivative from: the layer's `output`, as the book's
/// `relu2deriv(layer_1)`, or for an activation that needs its input, the `z` a [`Dense`] layer
/// kept in its training pass (`build` accepts such activations on dense layers only).
#[inline]
pub(crate) fn derivative_from<'a, T: Float>(
    layer: &'a dyn Layer<T>,
    f: &dyn Activation<T>,
    output: MatrixView<'a, T>,
) -> MatrixView<'a, T> {
    if f.needs_input() {
        let dense = (layer as &dyn std::any::Any).downcast_ref::<Dense<T>>();
        if let Some(z) = dense.and_then(|d| d.pre_activation(output.nrows())) {
            return z;
        }
    }
    output
}

impl<T: Float> Sequential<T> {
    /// Sizes every buffer, the model's and the layers', for batches of up to `rows` rows before
    /// anything else changes, so that a batch too large for memory is an error, not an abort.
    pub(crate) fn reserve(&mut self, rows: usize) -> Result<()> {
        let buffers = (self.outputs.iter_mut().zip(&self.widths))
            .chain(self.deltas.iter_mut().zip(&self.widths[1..]));
        for (buf, &width) in buffers {
            crate::size::grow(buf, "layer outputs", rows, width, T::zero())?;
        }
        self.layers.iter_mut().try_for_each(|l| l.reserve(rows))
    }

    /// Sets the batch size to `rows`. Every public path has [`reserve`](Self::reserve)d the
    /// buffers for it already; growing them here only backs that up.
    pub(crate) fn fit_rows(&mut self, rows: usize) {
        if rows != self.rows {
            self.reserve(rows).expect("buffers for the batch");
            self.rows = rows;
        }
    }

    /// Forward pass of validated rows: `layer_{i+1} = layer_i(layer_i)`.
    pub(crate) fn forward_unchecked(&mut self, x: MatrixView<'_, T>) {
        self.forward_rows(x, false);
    }

    /// [`forward_unchecked`](Self::forward_unchecked); with `in_place` the first layer reads `x`
    /// where it lies instead of a copy in the buffers, and the backward pass must be given `x`.
    pub(crate) fn forward_rows(&mut self, x: MatrixView<'_, T>, in_place: bool) {
        let rows = x.nrows();
        self.fit_rows(rows);
        self.has_gradients = false;
        if !in_place {
            // layer_0 = x, kept so that it can be read back and used by the backward pass.
            self.store_input(x);
        }
        let widths = &self.widths;
        for (i, layer) in self.layers.iter_mut().enumerate() {
            let (before, after) = self.outputs.split_at_mut(i + 1);
            let input = match i {
                0 if in_place => x,
                _ => view(&before[i], rows, widths[i]),
            };
            // layer_1 = relu(layer_0.dot(weights_0_1))
            layer.forward_train(input, view_mut(&mut after[0], rows, widths[i + 1]));
        }
    }

    /// Copies a batch (of rows the buffers are sized for) into `layer_output(0)`.
    pub(crate) fn store_input(&mut self, x: MatrixView<'_, T>) {
        copy(
            &mut view_mut(&mut self.outputs[0], x.nrows(), self.widths[0]),
            &x,
        );
    }

    /// Backward pass for validated targets of the batch in the buffers; returns the batch loss.
    /// `x` is the batch when the forward pass read it in place.
    pub(crate) fn backward_unchecked(
        &mut self,
        y: MatrixView<'_, T>,
        x: Option<MatrixView<'_, T>>,
    ) -> T {
        let rows = self.rows;
        let widths = &self.widths;
        let last = self.layers.len() - 1;
        let pred = view(&self.outputs[last + 1], rows, widths[last + 1]);
        // layer_2_delta = layer_2 - goal  (through the loss, and the output activation)
        let delta = view_mut(&mut self.deltas[last], rows, widths[last + 1]);
        let loss = match self.layers[last].activation() {
            _ if self.fused_output => {
                self.loss.fused_delta(pred, y, delta);
                self.loss.loss(pred, y)
            }
            Some(f) => {
                let mut delta = delta;
                let loss = self.loss.loss_and_gradient(pred, y, delta.as_view_mut());
                f.backward(derivative_from(&*self.layers[last], f, pred), delta);
                loss
            }
            None => self.loss.loss_and_gradient(pred, y, delta),
        };
        for i in (0..=last).rev() {
            let (lower, upper) = self.deltas.split_at_mut(i);
            let delta = view(&upper[0], rows, widths[i + 1]);
            let input = match (i, x) {
                (0, Some(x)) => x,
                _ => view(&self.outputs[i], rows, widths[i]),
            };
            if i == 0 {
                // weight_delta_0_1 = layer_0.T.dot(layer_1_delta); layer_0 needs no delta.
                self.layers[i].backward(input, delta, None);
            } else {
                // layer_1_delta = layer_2_delta.dot(weights_1_2.T)
                let mut grad_in = view_mut(&mut lower[i - 1], rows, widths[i]);
                self.layers[i].backward(input, delta, Some(grad_in.as_view_mut()));
                if let Some(f) = self.layers[i - 1].activation() {
                    // layer_1_delta *= relu2deriv(layer_1)
                    f.backward(derivative_from(&*self.layers[i - 1], f, input), grad_in);
                }
            }
        }
        self.has_gradients = true;
        loss
    }

    /// Hands every parameter and its gradient to the optimizer.
    ///
    /// The callers have checked the shapes; a parameter whose gradient has another shape all the
    /// same (a user's layer answering `param` and `param_mut` differently) is left out, and named
    /// in an [`Error::Shape`], rather than handed to an optimizer that may panic on it.
    pub(crate) fn update_unchecked(&mut self, opt: &mut dyn Optimizer<T>) -> Result<()> {
        opt.begin_step();
        let mut skipped = false;
        self.each_param_mut(|_, index, p| {
            if p.value.shape() == p.grad.shape() {
                // weights_0_1 -= alpha * weight_delta_0_1
                opt.update(index, p.value, p.grad);
            } else {
                skipped = true;
            }
        });
        // The error is made apart, so that the loop above stays small.
        match skipped {
            false => Ok(()),
            true => Err(self.check_gradient_shapes().err().unwrap_or(Error::Shape {
                what: "a gradient that changed shape during the update".into(),
                expected: (usize::MAX, usize::MAX),
                actual: (usize::MAX, usize::MAX),
            })),
        }
    }

    /// [`update_unchecked`](Self::update_unchecked) with an optimizer the model does not know,
    /// which might resize a parameter: the parameters and their shapes are copied into `params`
    /// and `shapes` first, and if a shape changed, every parameter is put back.
    ///
    /// # Errors
    ///
    /// [`Error::Shape`] naming the first parameter the optimizer resized (or whose gradient has
    /// another shape); the parameters are then as before the call.
    pub(crate) fn update_user(
        &mut self,
        opt: &mut dyn Optimizer<T>,
        params: &mut Vec<T>,
        shapes: &mut Vec<(usize, usize)>,
    ) -> Result<()> {
        self.copy_params_to(params);
        self.param_shapes_into(shapes);
        let result = self
            .update_unchecked(opt)
            .and_then(|()| self.check_param_shapes(shapes));
        if result.is_err() {
            self.restore_params_shaped(params, shapes);
        }
        result
    }

    /// Marks the stored gradients unusable, so that [`update`](Self::update) refuses them.
    pub(crate) fn discard_gradients(&mut self) {
        self.has_gradients = false;
    }

    /// Puts every layer in training or inference mode (a no-op when already there, so the
    /// training loop pays one comparison per step).
    pub(crate) fn set_mode(&mut self, training: bool) {
        if self.training != training {
            for layer in &mut self.layers {
                layer.set_training(training);
            }
            self.training = training;
        }
    }

    /// Loss of validated `x`, `y` without touching gradients state beyond the buffers.
    pub(crate) fn loss_unchecked(&mut self, x: MatrixView<'_, T>, y: MatrixView<'_, T>) -> T {
        self.set_mode(false);
        self.forward_unchecked(x);
        let width = self.output_size();
        self.loss
            .loss(view(&self.outputs[self.layers.len()], self.rows, width), y)
    }

    /// Validates, then runs forward and backward (gradients stored, no update); every gradient
    /// has its parameter's shape.
    pub(crate) fn gradients(&mut self, x: &Matrix<T>, y: &Matrix<T>) -> Result<T> {
        self.check_inputs(x.as_view())?;
        self.check_targets(x.nrows(), y.as_view())?;
        self.reserve(x.nrows())?;
        self.set_mode(false);
        self.forward_unchecked(x.as_view());
        let loss = self.backward_unchecked(y.as_view(), None);
        self.check_gradient_shapes()?;
        Ok(loss)
    }

    // ----- public training API ----------------------------------------------------------------

    /// Runs a forward pass in training mode (dropout active) and returns the output (the book's
    /// `layer_2`).
    ///
    /// # Errors
    ///
    /// [`Error::Shape`] if `x` does not have [`input_size`](Self::input_size) columns,
    /// [`Error::Empty`] without rows, [`Error::NonFinite`] for NaN or infinity,
    /// [`Error::TooLarge`] if the layers' buffers for a batch of that many rows cannot be
    /// allocated (nothing is changed then).
    pub fn forward(&mut self, x: &Matrix<T>) -> Result<MatrixView<'_, T>> {
        self.check_inputs(x.as_view())?;
        self.reserve(x.nrows())?;
        self.set_mode(true);
        self.forward_unchecked(x.as_view());
        Ok(self.layer_output(self.layers.len()).expect("output exists"))
    }

    /// Backpropagates the loss of the last [`forward`](Self::forward) batch against `y`, storing
    /// every delta and weight delta (nothing is updated), and returns the batch loss.
    ///
    /// # Errors
    ///
    /// [`Error::NotReady`] before any forward pass; [`Error::RowMismatch`] if `y` has a different
    /// number of rows; the loss's target errors (shape, non-finite, out-of-range values).
    pub fn backward(&mut self, y: &Matrix<T>) -> Result<T> {
        if self.rows == 0 {
            return Err(Error::NotReady {
                reason: "backward needs a forward pass first",
            });
        }
        self.check_targets(self.rows, y.as_view())?;
        Ok(self.backward_unchecked(y.as_view(), None))
    }

    /// Applies the optimizer to the gradients of the last [`backward`](Self::backward).
    ///
    /// # Errors
    ///
    /// [`Error::NotReady`] if no backward pass followed the last forward pass. Before anything
    /// changes: [`Error::Shape`] if a gradient has another shape than its parameter (a user's
    /// layer), or if one of the crate's optimizers holds state for another model's parameters
    /// ([`Error::Format`] if it holds state for more parameters than the model has). After the
    /// update of an optimizer that is not the crate's: [`Error::Shape`] if it changed a
    /// parameter's shape; every parameter and the optimizer's state are then put back.
    pub fn update(&mut self, opt: &mut dyn Optimizer<T>) -> Result<()> {
        if !self.has_gradients {
            return Err(Error::NotReady {
                reason: "update needs a backward pass after the last forward pass",
            });
        }
        self.check_gradient_shapes()?;
        match crate::optim::checked(opt) {
            Ok(opt) => {
                opt.fits(self)?;
                self.update_unchecked(opt)?;
            }
            Err(opt) => {
                let before = opt.state();
                if let Err(e) = self.update_user(opt, &mut Vec::new(), &mut Vec::new()) {
                    // `before` came from this optimizer a moment ago, so it is accepted back.
                    let _ = opt.load_state(&before);
                    return Err(e);
                }
            }
        }
        self.has_gradients = false;
        Ok(())
    }

    /// Rescales the gradients of the last [`backward`](Self::backward) so that their global norm
    /// (over every parameter of every layer) is at most `clip`'s, as PyTorch's
    /// `clip_grad_norm_`; returns the norm before clipping and the factor applied.
    ///
    /// ```
    /// use backprop::prelude::*;
    /// use backprop::ClipGradNorm;
    /// use nalgebra::DMatrix;
    /// let mut model = Sequential::<f64>::builder(2).dense(1, Identity).build()?;
    /// model.forward(&DMatrix::from_row_slice(1, 2, &[3.0, 4.0]))?;
    /// model.backward(&DMatrix::from_element(1, 1, 100.0))?;
    /// let clipped = model.clip_gradients(&ClipGradNorm::new(1.0)?)?;
    /// assert!(clipped.norm > 1.0 && clipped.scale < 1.0);
    /// let norm = backprop::optim::global_norm(model.params_grads());
    /// assert!((norm - 1.0).abs() < 1e-5);
    /// # Ok::<(), backprop::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::NotReady`] if no backward pass followed the last forward pass; [`Error::NonFinite`]
    /// if the norm is not finite (then nothing is changed).
    pub fn clip_gradients(&mut self, clip: &ClipGradNorm<T>) -> Result<Clipped<T>> {
        if !self.has_gradients {
            return Err(Error::NotReady {
                reason: "clipping needs a backward pass after the last forward pass",
            });
        }
        self.clip_unchecked(clip)
    }

    pub(crate) fn clip_unchecked(&mut self, clip: &ClipGradNorm<T>) -> Result<Clipped<T>> {
        let norm = global_norm(self.params_grads());
        let scale = clip.scale(norm)?;
        if scale < T::one() {
            self.each_param_mut(|_, _, p| *p.grad *= scale);
        }
        Ok(Clipped { norm, scale })
    }

    /// One training step on a batch: forward, backward and update. Returns the loss measured
    /// before the update.
    ///
    /// # Errors
    ///
    /// The errors of [`forward`](Self::forward), [`backward`](Self::backward) and
    /// [`update`](Self::update) (a gradient of another shape, an optimizer holding another
    /// model's state, a user's optimizer that resized a parameter); the model's parameters and
    /// the optimizer's state are unchanged when one is returned. [`Error::Diverged`] (with epoch and step 0) if the loss or a
    /// gradient is NaN or infinite, or the update would leave a parameter or the optimizer's state
    /// so: the parameters and the optimizer's state are then exactly as before the call, and
    /// [`update`](Self::update) refuses the stored gradients.
    pub fn step(&mut self, x: &Matrix<T>, y: &Matrix<T>, opt: &mut dyn Optimizer<T>) -> Result<T> {
        self.check_inputs(x.as_view())?;
        self.check_targets(x.nrows(), y.as_view())?;
        self.reserve(x.nrows())?;
        crate::train::Guard::new(opt, None)
            .step(self, x.as_view(), y.as_view(), true)
            .map_err(|d| d.at(0, 0))
    }
}
