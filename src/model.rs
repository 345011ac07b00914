//! The [`Sequential`] model: layers in a row, trained by the chapter's delta rule.

mod fused;

use std::any::Any;

use rand::Rng;

use crate::linalg::{copy, view, view_mut};
use crate::optim::{ClipGradNorm, Clipped, global_norm};
use crate::validate::{all_finite, check_finite};
use crate::{
    Activation, Dense, Error, Float, GlorotUniform, Initializer, Layer, Loss, Matrix, MatrixView,
    NumpyRng, Optimizer, Result, SquaredError,
};

/// Rows per forward pass in [`Sequential::predict`] and [`Sequential::evaluate`], which bounds
/// their memory on large data sets.
pub(crate) const CHUNK: usize = 1024;

/// Layers applied one after another, with a loss: forward, backward and update in one place.
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
#[derive(Debug)]
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
    /// Whether the layers are in training mode (dropout active) or inference mode.
    training: bool,
    /// Whether the first layer is a [`Dense`], which reads a training batch where it lies.
    dense_first: bool,
    /// The epochs of the last `fit` that failed during training (see
    /// [`take_interrupted_history`](Sequential::take_interrupted_history)).
    pub(crate) interrupted: Option<crate::History<T>>,
    /// Every parameter as it was before the update in progress, so that the divergence guard can
    /// put them back (reused from step to step).
    snapshot: Vec<T>,
    /// The optimizer's state as it was before a run of steps checked at its end.
    opt_snapshot: Vec<T>,
    /// Each layer's activation when the model can train through the fused loop of small networks
    /// (see `fused.rs`); fixed when the model is built.
    fused: Option<Vec<crate::activation::Elementwise>>,
}

/// Builds a [`Sequential`], checking that consecutive layers fit.
///
/// Layers added with [`dense`](SequentialBuilder::dense) take their input width from the layer
/// before and draw their weights from the builder's initialiser and generator, in order, so one
/// seed fixes every weight.
#[derive(Debug)]
pub struct SequentialBuilder<T: Float> {
    inputs: usize,
    layers: Vec<Box<dyn Layer<T>>>,
    loss: Box<dyn Loss<T>>,
    init: Box<dyn Initializer<T>>,
    rng: NumpyRng,
    bias: bool,
    /// The first invalid setting, reported by `build`.
    error: Option<Error>,
}

impl<T: Float> SequentialBuilder<T> {
    /// Sets the generator that initialises the following [`dense`](Self::dense) layers
    /// (default: `NumpyRng::new(0)`).
    pub fn rng(mut self, rng: NumpyRng) -> Self {
        self.rng = rng;
        self
    }

    /// Seeds the generator: `seed(1)` is `rng(NumpyRng::new(1))`, the book's `np.random.seed(1)`.
    pub fn seed(self, seed: u32) -> Self {
        self.rng(NumpyRng::new(seed))
    }

    /// Sets the initialiser of the following [`dense`](Self::dense) layers (default:
    /// [`GlorotUniform`], as Keras).
    pub fn init(mut self, init: impl Initializer<T> + 'static) -> Self {
        self.init = Box::new(init);
        self
    }

    /// Whether the following [`dense`](Self::dense) layers have a bias (default `true`; the
    /// chapter's networks have none).
    pub fn bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }

    /// Appends a [`Dense`] layer of `units` outputs with activation `f`, its input width taken from
    /// the previous layer.
    ///
    /// A size that cannot be allocated (`inputs x units` weights) is reported by
    /// [`build`](Self::build) as [`Error::TooLarge`], as are zero sizes ([`Error::Empty`]).
    pub fn dense(mut self, units: usize, f: impl Activation<T>) -> Self {
        if self.error.is_some() {
            // `build` reports the first problem; nothing after it is drawn or allocated.
            return self;
        }
        let fan_in = self.layers.last().map_or(self.inputs, |l| l.output_size());
        match self.dense_layer(fan_in, units) {
            Ok(d) => self.layers.push(Box::new(d.with_activation(f))),
            Err(e) => self.error = Some(e),
        }
        self
    }

    /// A dense layer from `fan_in` inputs to `units` outputs, drawn by the initialiser.
    fn dense_layer(&mut self, fan_in: usize, units: usize) -> Result<Dense<T>> {
        let layer = self.layers.len();
        let named = |part: &'static str| {
            move |e| match e {
                Error::TooLarge { rows, cols, .. } => Error::TooLarge {
                    what: format!("{part} of layer {layer}"),
                    rows,
                    cols,
                },
                e => e,
            }
        };
        let rng: &mut dyn Rng = &mut self.rng;
        let weights = self
            .init
            .weights(fan_in, units, rng)
            .map_err(named("weights"))?;
        let bias = if self.bias {
            Some(
                self.init
                    .bias(units, &mut self.rng)
                    .map_err(named("bias"))?,
            )
        } else {
            None
        };
        Dense::from_weights(weights, bias)
    }

    /// Appends a [`Dropout`](crate::layer::Dropout) layer of rate `p` over the previous layer's
    /// outputs, its mask generator seeded from the builder's generator.
    pub fn dropout(mut self, p: f64) -> Self {
        let width = self.layers.last().map_or(self.inputs, |l| l.output_size());
        let seed = self.rng.next_u32();
        match crate::layer::Dropout::new(width, p, seed) {
            Ok(d) => self.layers.push(Box::new(d)),
            Err(e) => {
                self.error.get_or_insert(e);
            }
        }
        self
    }

    /// Appends any layer.
    #[allow(clippy::should_implement_trait)] // `add` as in Keras's `model.add(layer)`
    pub fn add(mut self, layer: impl Layer<T>) -> Self {
        self.layers.push(Box::new(layer));
        self
    }

    /// Sets the loss (default: [`SquaredError`], the book's).
    pub fn loss(mut self, loss: impl Loss<T>) -> Self {
        self.loss = Box::new(loss);
        self
    }

    /// Checks the shapes and builds the model.
    ///
    /// # Errors
    ///
    /// The first invalid setting given to the builder (e.g. [`Error::InvalidParameter`] for a
    /// dropout rate outside `[0, 1)`, [`Error::TooLarge`] for a layer too large to allocate);
    /// [`Error::Empty`] without layers or with a zero width;
    /// [`Error::LayerShape`] naming the
    /// first layer whose input width differs from the output width of the layer before it;
    /// [`Error::NonFinite`] for a parameter that is NaN or infinite.
    pub fn build(self) -> Result<Sequential<T>> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.layers.is_empty() {
            return Err(Error::Empty {
                what: "model (no layers)",
            });
        }
        if self.inputs == 0 {
            return Err(Error::Empty {
                what: "model input width",
            });
        }
        let mut width = self.inputs;
        for (i, layer) in self.layers.iter().enumerate() {
            if layer.input_size() != width {
                return Err(Error::LayerShape {
                    layer: i,
                    name: layer.name().to_string(),
                    expected: layer.input_size(),
                    actual: width,
                });
            }
            if layer.output_size() == 0 {
                return Err(Error::Empty {
                    what: "layer output width",
                });
            }
            let mut k = 0;
            while let Some(p) = layer.param(k) {
                check_finite(&format!("layer {i} {}", p.name), p.value.as_view())?;
                k += 1;
            }
            width = layer.output_size();
        }
        let n = self.layers.len();
        let widths = std::iter::once(self.inputs)
            .chain(self.layers.iter().map(|l| l.output_size()))
            .collect();
        let fused = Sequential::fusable(&self.layers, self.loss.as_ref());
        let first: &dyn Any = self.layers[0].as_ref();
        let dense_first = first.is::<Dense<T>>();
        Ok(Sequential {
            fused,
            dense_first,
            interrupted: None,
            widths,
            inputs: self.inputs,
            layers: self.layers,
            loss: self.loss,
            outputs: vec![Vec::new(); n + 1],
            deltas: vec![Vec::new(); n],
            rows: 0,
            has_gradients: false,
            training: true,
            snapshot: Vec::new(),
            opt_snapshot: Vec::new(),
        })
    }
}

impl<T: Float> Sequential<T> {
    /// Starts a model whose input rows have `inputs` columns.
    pub fn builder(inputs: usize) -> SequentialBuilder<T> {
        SequentialBuilder {
            inputs,
            layers: Vec::new(),
            loss: Box::new(SquaredError),
            init: Box::new(GlorotUniform),
            rng: NumpyRng::new(0),
            bias: true,
            error: None,
        }
    }

    /// Width of the input rows.
    pub fn input_size(&self) -> usize {
        self.inputs
    }

    /// Width of the output rows.
    pub fn output_size(&self) -> usize {
        self.layers.last().map_or(self.inputs, |l| l.output_size())
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

    /// Total number of trainable values.
    pub fn num_parameters(&self) -> usize {
        let mut n = 0;
        for layer in &self.layers {
            let mut k = 0;
            while let Some(p) = layer.param(k) {
                n += p.value.len();
                k += 1;
            }
        }
        n
    }

    // ----- checks at the boundary -------------------------------------------------------------

    pub(crate) fn check_inputs(&self, x: MatrixView<'_, T>) -> Result<()> {
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

    fn check_layer(&self, index: usize) -> Result<()> {
        if index >= self.layers.len() {
            return Err(Error::LayerIndex {
                index,
                layers: self.layers.len(),
            });
        }
        Ok(())
    }

    // ----- the delta rule, on validated data --------------------------------------------------

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
    fn fit_rows(&mut self, rows: usize) {
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
    fn forward_rows(&mut self, x: MatrixView<'_, T>, in_place: bool) {
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
            layer.forward(input, view_mut(&mut after[0], rows, widths[i + 1]));
        }
    }

    /// Copies a batch (of rows the buffers are sized for) into `layer_output(0)`.
    fn store_input(&mut self, x: MatrixView<'_, T>) {
        copy(
            &mut view_mut(&mut self.outputs[0], x.nrows(), self.widths[0]),
            &x,
        );
    }

    /// Backward pass for validated targets of the batch in the buffers; returns the batch loss.
    /// `x` is the batch when the forward pass read it in place.
    fn backward_unchecked(&mut self, y: MatrixView<'_, T>, x: Option<MatrixView<'_, T>>) -> T {
        let rows = self.rows;
        let widths = &self.widths;
        let last = self.layers.len() - 1;
        let pred = view(&self.outputs[last + 1], rows, widths[last + 1]);
        let loss = self.loss.loss(pred, y);
        // layer_2_delta = layer_2 - goal  (through the loss, and the output activation)
        let delta = view_mut(&mut self.deltas[last], rows, widths[last + 1]);
        self.loss
            .output_delta(self.layers[last].activation(), pred, y, delta);
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
                    f.backward(input, grad_in);
                }
            }
        }
        self.has_gradients = true;
        loss
    }

    /// Hands every parameter and its gradient to the optimizer.
    fn update_unchecked(&mut self, opt: &mut dyn Optimizer<T>) {
        opt.begin_step();
        let mut index = 0;
        for layer in &mut self.layers {
            let mut k = 0;
            while let Some(p) = layer.param_mut(k) {
                // weights_0_1 -= alpha * weight_delta_0_1
                opt.update(index, p.value, p.grad);
                index += 1;
                k += 1;
            }
        }
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

    /// One guarded training step on validated rows: forward, backward, and an update that is
    /// applied only if the loss, every gradient and every updated parameter are finite. On
    /// divergence every parameter is exactly as before the step.
    ///
    /// Unless `keep_input` is set, a first [`Dense`] layer reads `x` where it lies (so the batch
    /// is not copied) and [`layer_output(0)`](Self::layer_output) is left as it was: a training
    /// loop keeps the input of its last batch only. A diverging step always keeps it.
    pub(crate) fn train_batch(
        &mut self,
        x: MatrixView<'_, T>,
        y: MatrixView<'_, T>,
        opt: &mut dyn Optimizer<T>,
        clip: Option<&ClipGradNorm<T>>,
        keep_input: bool,
    ) -> std::result::Result<T, Divergence> {
        let in_place = !keep_input && self.dense_first;
        let result = self.guarded_step(x, y, opt, clip, in_place);
        if in_place && result.is_err() {
            self.store_input(x);
        }
        result
    }

    fn guarded_step(
        &mut self,
        x: MatrixView<'_, T>,
        y: MatrixView<'_, T>,
        opt: &mut dyn Optimizer<T>,
        clip: Option<&ClipGradNorm<T>>,
        in_place: bool,
    ) -> std::result::Result<T, Divergence> {
        self.set_mode(true);
        self.forward_rows(x, in_place);
        let loss = self.backward_unchecked(y, in_place.then_some(x));
        // Checked before the optimizer changes anything, so that its state stays clean too.
        if !loss.finite() {
            return Err(self.diverged("loss", None));
        }
        if let Some(clip) = clip {
            if let Some(layer) = self.first_nonfinite_gradient() {
                return Err(self.diverged("gradient", Some(layer)));
            }
            if self.clip_unchecked(clip).is_err() {
                // Finite gradients whose squares overflow even in f64.
                return Err(self.diverged("gradient", None));
            }
        }
        self.update_guarded(opt)?;
        Ok(loss)
    }

    /// The in-order steps of an epoch from row `start` on, checked for divergence once, at the
    /// end, instead of before every update: for plain [`Sgd`], [`Adam`](crate::Adam) and
    /// [`AdamW`](crate::AdamW) on a model of [`Dense`] layers (see [`EndChecked`](crate::optim::EndChecked)).
    ///
    /// From a copy of the parameters and of the optimizer's state, every step updates without
    /// asking the optimizer, and the run stands only if every batch loss and, at the end, every
    /// parameter and state buffer is finite. As these optimizers keep a value that is not finite
    /// so, the end shows any step that the guard would have stopped; then the parameters and the
    /// state are put back and the caller runs the steps again with the guard at every step,
    /// which finds the step, with the same bits.
    ///
    /// Takes the first row of the run and the epoch's loss sum (batch losses weighted by their
    /// rows) and rows classified right so far, which it goes on adding to in the same order.
    pub(crate) fn end_checked_run(
        &mut self,
        x: MatrixView<'_, T>,
        y: MatrixView<'_, T>,
        (start, total, correct): (usize, T, usize),
        batch: usize,
        accuracy: bool,
        opt: &mut dyn Optimizer<T>,
    ) -> EndCheckedRun<T> {
        let Some(checked) = crate::optim::end_checked(opt) else {
            return EndCheckedRun::Unsupported;
        };
        // A `Dropout` layer would draw other masks the second time, and other layers may keep
        // state of their own.
        if !self
            .layers
            .iter()
            .all(|l| (l.as_ref() as &dyn Any).is::<Dense<T>>())
        {
            return EndCheckedRun::Unsupported;
        }
        if !checked.ready(self.param_layers().count()) {
            // Room for the copy of the state that the step about to be taken creates, so that
            // the steps after it allocate nothing.
            let len = checked.state_len(self.num_parameters());
            self.opt_snapshot
                .reserve(len.saturating_sub(self.opt_snapshot.len()));
            return EndCheckedRun::NotReady;
        }
        let steps = checked.save(&mut self.opt_snapshot);
        self.copy_params_to_snapshot();
        self.set_mode(true);
        let n = x.nrows();
        let (mut total, mut correct, mut start) = (total, correct, start);
        let mut finite = true;
        // Data that fits in the caches (as the digits do) is there already.
        let prefetch = n * x.ncols() * size_of::<T>() > 4 << 20;
        while start < n {
            let rows = batch.min(n - start);
            let yb = y.rows(start, rows);
            // As `train_batch`: only the last batch is copied into the model.
            let in_place = start + rows < n && self.dense_first;
            let xb = x.rows(start, rows);
            if prefetch && start + rows < n {
                // The next batch's rows arrive from memory while this one trains.
                let next = x.rows(start + rows, batch.min(n - start - rows));
                crate::linalg::prefetch_during_products(&next);
            }
            self.forward_rows(xb, in_place);
            let loss = self.backward_unchecked(yb, in_place.then_some(xb));
            if !loss.finite() {
                finite = false;
                break;
            }
            self.update_unchecked(opt);
            if accuracy {
                correct += crate::metrics::count_correct(self.output(), yb);
            }
            total += loss * T::of_usize(rows);
            start += rows;
        }
        crate::linalg::stop_prefetching();
        let checked = crate::optim::end_checked(opt).expect("checked above");
        if finite && self.first_nonfinite_param().is_none() && checked.state_finite() {
            return EndCheckedRun::Done(total, correct);
        }
        self.restore_snapshot();
        checked.restore(&self.opt_snapshot, steps);
        EndCheckedRun::Failed
    }

    /// Marks the stored gradients unusable (so [`update`](Self::update) refuses them) and names
    /// what diverged.
    fn diverged(&mut self, what: &'static str, layer: Option<usize>) -> Divergence {
        self.has_gradients = false;
        Divergence { what, layer }
    }

    /// The first layer with a NaN or infinite gradient, if any.
    fn first_nonfinite_gradient(&self) -> Option<usize> {
        self.layers.iter().position(|layer| {
            (0..)
                .map_while(|k| layer.param(k))
                .any(|p| !all_finite(p.grad.as_slice()))
        })
    }

    /// [`update_unchecked`](Self::update_unchecked), guarded: if the optimizer cannot vouch that
    /// every parameter and its state stay finite ([`Optimizer::update_stays_finite`]), a NaN or
    /// infinite gradient is reported before anything changes; otherwise the parameters and the
    /// optimizer's state are copied first, and put back if the update leaves anything NaN or
    /// infinite, and the step is reported as diverged.
    fn update_guarded(
        &mut self,
        opt: &mut dyn Optimizer<T>,
    ) -> std::result::Result<(), Divergence> {
        let mut index = 0;
        let mut vouched = true;
        'check: for layer in &self.layers {
            let mut k = 0;
            while let Some(p) = layer.param(k) {
                if !opt.update_stays_finite(index, p.value, p.grad) {
                    vouched = false;
                    break 'check;
                }
                index += 1;
                k += 1;
            }
        }
        if vouched {
            // A `true` also means that every gradient is finite (the contract), so the gradients
            // need no scan of their own.
            self.update_unchecked(opt);
            return Ok(());
        }
        if let Some(layer) = self.first_nonfinite_gradient() {
            return Err(self.diverged("gradient", Some(layer)));
        }
        // Copies taken only here (for the crate's optimizers: a first step, or a step near
        // overflow); a stateless optimizer's state is empty and costs nothing.
        let before = opt.state();
        self.copy_params_to_snapshot();
        self.update_unchecked(opt);
        // The crate's optimizers answer for their state in place; others hand over a copy.
        let state_finite = crate::optim::end_checked(opt).map(|c| c.state_finite());
        let failed = match self.first_nonfinite_param() {
            Some(layer) => Some(("parameter", layer)),
            None if state_finite == Some(true) => None,
            None => self
                .first_nonfinite_state(&opt.state())
                .map(|layer| ("optimizer state", layer)),
        };
        match failed {
            None => Ok(()),
            Some((what, layer)) => {
                self.restore_snapshot();
                // `before` came from this optimizer a moment ago, so it is accepted back.
                let _ = opt.load_state(&before);
                Err(self.diverged(what, Some(layer)))
            }
        }
    }

    /// The layer of each parameter, in update order.
    fn param_layers(&self) -> impl Iterator<Item = usize> + '_ {
        self.layers
            .iter()
            .enumerate()
            .flat_map(|(i, layer)| (0..).map_while(move |k| layer.param(k)).map(move |_| i))
    }

    /// Copies every parameter, in update order, into the snapshot.
    fn copy_params_to_snapshot(&mut self) {
        let total = self.num_parameters();
        if self.snapshot.len() != total {
            // Only on the first copy (or after a parameter changed size).
            self.snapshot.resize(total, T::zero());
        }
        let mut at = 0;
        for layer in &self.layers {
            let mut k = 0;
            while let Some(p) = layer.param(k) {
                let n = p.value.len();
                if let Some(saved) = self.snapshot.get_mut(at..at + n) {
                    saved.copy_from_slice(p.value.as_slice());
                }
                at += n;
                k += 1;
            }
        }
    }

    /// Copies the snapshot back over the parameters.
    fn restore_snapshot(&mut self) {
        let mut at = 0;
        for layer in &mut self.layers {
            let mut k = 0;
            while let Some(p) = layer.param_mut(k) {
                let n = p.value.len();
                if let Some(saved) = self.snapshot.get(at..at + n) {
                    p.value.as_mut_slice().copy_from_slice(saved);
                }
                at += n;
                k += 1;
            }
        }
    }

    /// The first layer with a NaN or infinite parameter, if any.
    fn first_nonfinite_param(&self) -> Option<usize> {
        self.layers.iter().position(|layer| {
            (0..)
                .map_while(|k| layer.param(k))
                .any(|p| !all_finite(p.value.as_slice()))
        })
    }

    /// The first layer whose parameter has a NaN or infinite buffer in `state`, if any.
    fn first_nonfinite_state(&self, state: &crate::OptimizerState<T>) -> Option<usize> {
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
    /// [`Error::NotReady`] if no backward pass followed the last forward pass.
    pub fn update(&mut self, opt: &mut dyn Optimizer<T>) -> Result<()> {
        if !self.has_gradients {
            return Err(Error::NotReady {
                reason: "update needs a backward pass after the last forward pass",
            });
        }
        self.update_unchecked(opt);
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

    /// Every parameter's gradient from the last backward pass, in optimizer order.
    pub fn params_grads(&self) -> impl Iterator<Item = &Matrix<T>> {
        self.layers
            .iter()
            .flat_map(|layer| (0..).map_while(move |k| layer.param(k)).map(|p| p.grad))
    }

    fn clip_unchecked(&mut self, clip: &ClipGradNorm<T>) -> Result<Clipped<T>> {
        let norm = global_norm(self.params_grads());
        let scale = clip.scale(norm)?;
        if scale < T::one() {
            for layer in &mut self.layers {
                let mut k = 0;
                while let Some(p) = layer.param_mut(k) {
                    *p.grad *= scale;
                    k += 1;
                }
            }
        }
        Ok(Clipped { norm, scale })
    }

    /// One training step on a batch: forward, backward and update. Returns the loss measured
    /// before the update.
    ///
    /// # Errors
    ///
    /// The errors of [`forward`](Self::forward) and [`backward`](Self::backward); the model is
    /// unchanged when one is returned. [`Error::Diverged`] (with epoch and step 0) if the loss or a
    /// gradient is NaN or infinite, or the update would leave a parameter or the optimizer's state
    /// so: the parameters and the optimizer's state are then exactly as before the call, and
    /// [`update`](Self::update) refuses the stored gradients.
    pub fn step(&mut self, x: &Matrix<T>, y: &Matrix<T>, opt: &mut dyn Optimizer<T>) -> Result<T> {
        self.check_inputs(x.as_view())?;
        self.check_targets(x.nrows(), y.as_view())?;
        self.reserve(x.nrows())?;
        self.train_batch(x.as_view(), y.as_view(), opt, None, true)
            .map_err(|d| d.at(0, 0))
    }

    /// The model's outputs for every row of `x`, in inference mode (dropout off; no training
    /// state is changed).
    ///
    /// # Errors
    ///
    /// The errors of [`forward`](Self::forward).
    pub fn predict(&mut self, x: &Matrix<T>) -> Result<Matrix<T>> {
        self.check_inputs(x.as_view())?;
        let out_width = self.output_size();
        let mut out = crate::size::zeros("predictions", x.nrows(), out_width)?;
        self.reserve(CHUNK.min(x.nrows()))?;
        self.set_mode(false);
        let mut start = 0;
        while start < x.nrows() {
            let rows = CHUNK.min(x.nrows() - start);
            self.forward_unchecked(x.rows(start, rows));
            out.rows_mut(start, rows).copy_from(&view(
                &self.outputs[self.layers.len()],
                rows,
                out_width,
            ));
            start += rows;
        }
        Ok(out)
    }

    /// The loss over a whole data set (a mean over its rows, like a batch loss), in inference mode.
    ///
    /// # Errors
    ///
    /// The errors of [`step`](Self::step).
    pub fn evaluate(&mut self, x: &Matrix<T>, y: &Matrix<T>) -> Result<T> {
        self.check_inputs(x.as_view())?;
        self.check_targets(x.nrows(), y.as_view())?;
        self.reserve(CHUNK.min(x.nrows()))?;
        Ok(self.measure(x.as_view(), y.as_view(), false).0)
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
        let width = if index == 0 {
            self.inputs
        } else {
            self.layers[index - 1].output_size()
        };
        Ok(view(&self.outputs[index], self.rows, width))
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
        Ok(view(
            &self.deltas[index],
            self.rows,
            self.layers[index].output_size(),
        ))
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
        let layer = self.layers[index].as_ref();
        let mut k = 0;
        while let Some(p) = layer.param(k) {
            if p.name == name {
                return Ok((p.value, p.grad));
            }
            k += 1;
        }
        Err(Error::NoSuchParameter {
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
        self.check_layer(index)?;
        let layer = self.layers[index].as_mut();
        let mut k = 0;
        while let Some(p) = layer.param_mut(k) {
            if p.name == name {
                let what = format!("layer {index} {name}");
                return crate::layer::set_checked(&what, p.value, value);
            }
            k += 1;
        }
        Err(Error::NoSuchParameter {
            layer: index,
            name: name.to_string(),
        })
    }

    /// Replaces the weights of layer `index` (the book hard-codes `[0.5, 0.48, -0.7]`).
    ///
    /// # Errors
    ///
    /// As [`set_param`](Self::set_param).
    pub fn set_weights(&mut self, index: usize, value: Matrix<T>) -> Result<()> {
        self.set_param(index, "weights", value)
    }

    /// Every parameter of every layer: `(layer index, name, value)`, in optimizer order.
    pub fn params(&self) -> Vec<(usize, &'static str, &Matrix<T>)> {
        let mut all = Vec::new();
        for (i, layer) in self.layers.iter().enumerate() {
            let mut k = 0;
            while let Some(p) = layer.param(k) {
                all.push((i, p.name, p.value));
                k += 1;
            }
        }
        all
    }

    /// Mutable access to the layers, for the gradient checker.
    pub(crate) fn layers_mut(&mut self) -> &mut [Box<dyn Layer<T>>] {
        &mut self.layers
    }

    /// The output of the last forward pass (validated state: a forward pass has run).
    pub(crate) fn output(&self) -> MatrixView<'_, T> {
        let width = self.output_size();
        view(&self.outputs[self.layers.len()], self.rows, width)
    }

    /// Copies every parameter into `into` (reusing its matrices when the shapes agree).
    pub(crate) fn snapshot_into(&self, into: &mut Vec<Matrix<T>>) {
        let params = self.params();
        into.truncate(params.len());
        for (k, (_, _, value)) in params.into_iter().enumerate() {
            match into.get_mut(k) {
                Some(m) if m.shape() == value.shape() => m.copy_from(value),
                Some(m) => *m = value.clone(),
                None => into.push(value.clone()),
            }
        }
    }

    /// Writes back parameters taken by [`snapshot_into`](Self::snapshot_into).
    pub(crate) fn restore(&mut self, from: &[Matrix<T>]) {
        let mut values = from.iter();
        for layer in &mut self.layers {
            let mut k = 0;
            while let Some(p) = layer.param_mut(k) {
                if let Some(v) = values.next() {
                    p.value.copy_from(v);
                }
                k += 1;
            }
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

    /// Validates, then runs forward and backward (gradients stored, no update).
    pub(crate) fn gradients(&mut self, x: &Matrix<T>, y: &Matrix<T>) -> Result<T> {
        self.check_inputs(x.as_view())?;
        self.check_targets(x.nrows(), y.as_view())?;
        self.reserve(x.nrows())?;
        self.set_mode(false);
        self.forward_unchecked(x.as_view());
        Ok(self.backward_unchecked(y.as_view(), None))
    }
}

/// What the divergence guard found non-finite in a training step.
/// What [`Sequential::end_checked_run`] did.
pub(crate) enum EndCheckedRun<T> {
    /// Every step, with the epoch's loss sum and rows classified right (when asked).
    Done(T, usize),
    /// Nothing: a step would have diverged; parameters and state are as before.
    Failed,
    /// Nothing: the optimizer has no state yet for some parameter (take a guarded step first).
    NotReady,
    /// Nothing: not a model or optimizer this handles.
    Unsupported,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Divergence {
    what: &'static str,
    layer: Option<usize>,
}

impl Divergence {
    /// The error for this divergence at `epoch` and `step`.
    pub(crate) fn at(self, epoch: usize, step: usize) -> Error {
        Error::Diverged {
            epoch,
            step,
            what: self.what,
            layer: self.layer,
        }
    }
}

impl<T: Float> dyn Loss<T> {
    /// `dL/d(pre-activation)` of the output layer: fused with the activation when the loss knows
    /// a simpler exact form, else the loss gradient through the activation's derivative.
    pub(crate) fn output_delta(
        &self,
        activation: Option<&dyn Activation<T>>,
        pred: MatrixView<'_, T>,
        y: MatrixView<'_, T>,
        mut delta: nalgebra::DMatrixViewMut<'_, T>,
    ) {
        match activation {
            Some(f) => {
                if !self.fused_delta(f, pred, y, delta.as_view_mut()) {
                    self.gradient(pred, y, delta.as_view_mut());
                    f.backward(pred, delta);
                }
            }
            None => self.gradient(pred, y, delta),
        }
    }
}
