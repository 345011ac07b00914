//! [`SequentialBuilder`]: layers added one by one, shapes checked once when the model is built.

use std::any::Any;

use rand::Rng;

use super::{Sequential, params};
use crate::validate::check_finite;
use crate::{
    Activation, BinaryCrossEntropy, CategoricalCrossEntropy, Dense, Error, Float, GlorotUniform,
    Initializer, Layer, Loss, NumpyRng, Result, Softmax, SquaredError,
};

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
    /// Whether `build` refuses output layers and losses that cannot go together.
    check_pairing: bool,
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
    /// [`build`](Self::build) as [`Error::TooLarge`], and 0 units as [`Error::Build`] naming the
    /// layer.
    pub fn dense(mut self, units: usize, f: impl Activation<T>) -> Self {
        if self.error.is_some() {
            // `build` reports the first problem; nothing after it is drawn or allocated.
            return self;
        }
        if units == 0 {
            self.error = Some(no_outputs(self.layers.len(), "Dense with 0 units"));
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

    /// [`add`](Self::add) for a layer already boxed (one a loaded file describes).
    #[cfg(feature = "safetensors")]
    pub(crate) fn add_boxed(mut self, layer: Box<dyn Layer<T>>) -> Self {
        self.layers.push(layer);
        self
    }

    /// Sets the loss (default: [`SquaredError`], the book's).
    pub fn loss(mut self, loss: impl Loss<T>) -> Self {
        self.loss = Box::new(loss);
        self
    }

    /// Whether [`build`](Self::build) refuses an output layer and a loss that cannot go together
    /// (default `true`); `false` lets such a model through, e.g. to exercise a loss's unfused
    /// path with a softmax's probabilities on purpose.
    ///
    /// ```
    /// use backprop::prelude::*;
    /// let model = Sequential::<f64>::builder(2).dense(3, Softmax).loss(BinaryCrossEntropy)
    ///     .check_pairing(false).build();
    /// assert!(model.is_ok());
    /// ```
    pub fn check_pairing(mut self, on: bool) -> Self {
        self.check_pairing = on;
        self
    }

    /// Checks the shapes and builds the model.
    ///
    /// # Errors
    ///
    /// The first invalid setting given to the builder (e.g. [`Error::InvalidParameter`] for a
    /// dropout rate outside `[0, 1)`, [`Error::TooLarge`] for a layer too large to allocate);
    /// [`Error::Empty`] without layers or with a zero input width;
    /// [`Error::LayerShape`] naming the
    /// first layer whose input width differs from the output width of the layer before it;
    /// [`Error::NonFinite`] for a parameter that is NaN or infinite; [`Error::Shape`] for a
    /// parameter whose gradient has another shape; [`Error::InvalidLayer`] for a layer that lists
    /// more than [`Sequential::MAX_LAYER_PARAMS`] parameters; [`Error::Build`], saying what to
    /// use instead, for a layer without outputs and for an output layer and a loss that cannot
    /// go together:
    ///
    /// - a [`Softmax`] output with [`BinaryCrossEntropy`], which treats the outputs as
    ///   independent yes/no probabilities that a softmax cannot give;
    /// - [`CategoricalCrossEntropy`] over one output, which cannot tell classes apart
    ///
    /// (unless [`check_pairing(false)`](Self::check_pairing) says otherwise).
    ///
    /// ```
    /// use backprop::prelude::*;
    /// let err = Sequential::<f64>::builder(4).dense(3, Softmax).loss(BinaryCrossEntropy).build()
    ///     .unwrap_err();
    /// assert!(matches!(err, Error::Build { layer: Some(0), .. }));
    /// assert!(err.to_string().contains("use CategoricalCrossEntropy"), "{err}");
    ///
    /// let err = Sequential::<f64>::builder(4).dense(8, Relu).dense(0, Relu).build().unwrap_err();
    /// assert!(err.to_string().starts_with("layer 1: Dense with 0 units"), "{err}");
    /// # Ok::<(), Error>(())
    /// ```
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
        let mut param_counts = Vec::with_capacity(self.layers.len());
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
                return Err(no_outputs(i, &format!("{} with 0 outputs", layer.name())));
            }
            if layer.activation().is_some_and(|f| f.needs_input())
                && !(layer.as_ref() as &dyn Any).is::<Dense<T>>()
            {
                return Err(Error::Build {
                    layer: Some(i),
                    problem: format!(
                        "{} with an activation that takes its derivative from its input",
                        layer.name()
                    ),
                    instead: "only a Dense layer keeps its input for the activation; a layer of \
                              your own applies such an activation in its forward and backward \
                              passes and returns None from Layer::activation",
                });
            }
            let count = params::count_params(layer.as_ref(), i)?;
            for p in params::layer_params(layer.as_ref(), count) {
                check_finite(&format!("layer {i} {}", p.name), p.value.as_view())?;
                params::check_gradient_shape(i, p.name, p.value, p.grad)?;
            }
            param_counts.push(count);
            width = layer.output_size();
        }
        if self.check_pairing {
            self.pairing()?;
        }
        let n = self.layers.len();
        let widths = std::iter::once(self.inputs)
            .chain(self.layers.iter().map(|l| l.output_size()))
            .collect();
        let fused_output = (self.layers.last())
            .and_then(|l| l.activation())
            .is_some_and(|f| self.loss.fuses_with(f));
        Ok(Sequential {
            fused_output,
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
            param_counts,
        })
    }
}

impl<T: Float> SequentialBuilder<T> {
    /// [`Error::Build`] naming the output layer if it and the loss cannot go together (see
    /// [`build`](Self::build)).
    fn pairing(&self) -> Result<()> {
        let (Some(layer), outputs) = (self.layers.last(), self.layers.len()) else {
            return Ok(());
        };
        let output = Some(outputs - 1);
        let softmax = (layer.activation()).is_some_and(|f| (f as &dyn Any).is::<Softmax>());
        let loss = self.loss.as_ref() as &dyn Any;
        let error = |problem: &str, instead| Error::Build {
            layer: output,
            problem: problem.to_owned(),
            instead,
        };
        if softmax && loss.is::<BinaryCrossEntropy>() {
            return Err(error(
                "a Softmax output with BinaryCrossEntropy",
                "use CategoricalCrossEntropy with Softmax for one class per row, or Sigmoid \
                 outputs with BinaryCrossEntropy for independent yes/no outputs",
            ));
        }
        if layer.output_size() == 1 && loss.is::<CategoricalCrossEntropy>() {
            return Err(error(
                "CategoricalCrossEntropy over 1 output",
                "use one Sigmoid output with BinaryCrossEntropy for two classes, or one unit \
                 per class with Softmax",
            ));
        }
        Ok(())
    }
}

/// The error of layer `layer` without outputs.
fn no_outputs(layer: usize, problem: &str) -> Error {
    Error::Build {
        layer: Some(layer),
        problem: problem.to_owned(),
        instead: "give every layer at least one output",
    }
}

impl<T: Float> Sequential<T> {
    /// The most parameters (matrices, as [`Layer::param`] lists them) one layer may have;
    /// [`build`](SequentialBuilder::build) refuses a layer with more.
    pub const MAX_LAYER_PARAMS: usize = params::MAX_LAYER_PARAMS;

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
            check_pairing: true,
        }
    }
}
