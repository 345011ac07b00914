//! [`Registry`]: how to build the layers and activations of one's own that a saved model names.

use std::collections::HashMap;
use std::fmt;

use crate::activation::Config;
use crate::{Activation, Error, Float, Layer, Matrix, Result};

/// Builds an activation from its saved settings.
type ActivationFn<T> = Box<dyn Fn(&Config) -> Result<Box<dyn Activation<T>>> + Send + Sync>;

/// Builds a layer from its saved settings and tensors.
type LayerFn<T> =
    Box<dyn Fn(&Config, &mut SavedTensors<T>) -> Result<Box<dyn Layer<T>>> + Send + Sync>;

/// How to build, by name, the layers and activations of one's own that a saved model holds;
/// given to [`Sequential::load_with`](crate::Sequential::load_with).
///
/// Saving needs no registry: a layer or activation that describes itself (returns `Some` from
/// [`Layer::config`] or [`Activation::config`]) is written under its `name` with its settings
/// (and a layer's [parameters](Layer::param) as tensors). Loading looks the name up here (the
/// crate's own names come first); a name that is not registered is
/// [`Error::NotRegistered`], naming it.
///
/// ```
/// use backprop::activation::Config;
/// use backprop::io::Registry;
/// use backprop::prelude::*;
/// use nalgebra::DMatrix;
///
/// /// A hard-limited identity: `f(z) = clamp(z, -limit, limit)`.
/// #[derive(Debug, Clone)]
/// struct Clamp { limit: f64 }
/// impl Activation<f64> for Clamp {
///     fn name(&self) -> &'static str { "Clamp" }
///     fn forward(&self, mut z: MatrixViewMut<'_, f64>) {
///         z.apply(|x| *x = x.clamp(-self.limit, self.limit));
///     }
///     fn backward(&self, a: MatrixView<'_, f64>, mut delta: MatrixViewMut<'_, f64>) {
///         delta.zip_apply(&a, |d, a| if a.abs() >= self.limit { *d = 0.0 });
///     }
///     fn config(&self) -> Option<Config> { Some(Config::new().with("limit", self.limit)) }
/// }
///
/// let model = Sequential::<f64>::builder(2).seed(1).dense(3, Clamp { limit: 0.5 })
///     .dense(1, Identity).build()?;
/// let path = std::env::temp_dir().join(format!("backprop-registry-{}.safetensors", std::process::id()));
/// model.save(&path)?;
///
/// // Without a registration the load names what is missing ...
/// assert!(matches!(Sequential::<f64>::load(&path),
///                  Err(Error::NotRegistered { name, .. }) if name == "Clamp"));
/// // ... with one, the model comes back as it was.
/// let registry = Registry::new().activation("Clamp", |c| Ok(Clamp { limit: c.parse("limit")? }));
/// let loaded = Sequential::<f64>::load_with(&path, &registry)?;
/// let x = DMatrix::from_row_slice(1, 2, &[0.3, -2.0]);
/// assert_eq!(model.predict(&x)?, loaded.predict(&x)?);
/// std::fs::remove_file(&path).unwrap();
/// # Ok::<(), Error>(())
/// ```
pub struct Registry<T: Float> {
    activations: HashMap<String, ActivationFn<T>>,
    layers: HashMap<String, LayerFn<T>>,
}

impl<T: Float> Registry<T> {
    /// A registry that knows nothing beyond the crate's own layers and activations.
    pub fn new() -> Self {
        Self {
            activations: HashMap::new(),
            layers: HashMap::new(),
        }
    }

    /// Registers how to build the activation saved under `name` (its
    /// [`Activation::name`]) from its settings; a later registration of the name replaces it.
    pub fn activation<A: Activation<T>>(
        mut self,
        name: &str,
        build: impl Fn(&Config) -> Result<A> + Send + Sync + 'static,
    ) -> Self {
        let build: ActivationFn<T> = Box::new(move |c| Ok(Box::new(build(c)?)));
        self.activations.insert(name.to_string(), build);
        self
    }

    /// Registers how to build the layer saved under `kind` (its [`Layer::name`]) from its
    /// settings and its parameter tensors, which it [takes](SavedTensors::take) by name (every
    /// one of them, or the load refuses the file); a later registration of the kind replaces it.
    pub fn layer<L: Layer<T>>(
        mut self,
        kind: &str,
        build: impl Fn(&Config, &mut SavedTensors<T>) -> Result<L> + Send + Sync + 'static,
    ) -> Self {
        let build: LayerFn<T> = Box::new(move |c, t| Ok(Box::new(build(c, t)?)));
        self.layers.insert(kind.to_string(), build);
        self
    }

    /// The activation `name` built from `config`, `None` if `name` is not registered.
    pub(super) fn build_activation(
        &self,
        name: &str,
        config: &Config,
    ) -> Option<Result<Box<dyn Activation<T>>>> {
        self.activations.get(name).map(|build| build(config))
    }

    /// The layer `kind` built from `config` and `tensors`, `None` if `kind` is not registered.
    pub(super) fn build_layer(
        &self,
        kind: &str,
        config: &Config,
        tensors: &mut SavedTensors<T>,
    ) -> Option<Result<Box<dyn Layer<T>>>> {
        self.layers.get(kind).map(|build| build(config, tensors))
    }
}

impl<T: Float> Default for Registry<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Float> fmt::Debug for Registry<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut activations: Vec<&str> = self.activations.keys().map(String::as_str).collect();
        let mut layers: Vec<&str> = self.layers.keys().map(String::as_str).collect();
        activations.sort_unstable();
        layers.sort_unstable();
        f.debug_struct("Registry")
            .field("activations", &activations)
            .field("layers", &layers)
            .finish()
    }
}

/// The parameter tensors a saved layer of one's own had, by their [`Param::name`](crate::layer::Param),
/// each checked finite; the function registered for the layer [takes](Self::take) them.
///
/// ```
/// use backprop::activation::Config;
/// use backprop::io::{self, Registry, SavedTensors};
/// use backprop::layer::{Param, ParamMut};
/// use backprop::prelude::*;
/// use nalgebra::DMatrix;
///
/// /// Adds a learned row to its input, then scales by a fixed `gain`.
/// #[derive(Debug, Clone)]
/// struct Shift { shift: DMatrix<f64>, grad: DMatrix<f64>, gain: f64 }
///
/// impl Layer<f64> for Shift {
///     fn name(&self) -> &str { "Shift" }
///     fn input_size(&self) -> usize { self.shift.ncols() }
///     fn output_size(&self) -> usize { self.shift.ncols() }
///     fn forward(&self, input: MatrixView<'_, f64>, mut output: MatrixViewMut<'_, f64>) {
///         for (r, mut row) in output.row_iter_mut().enumerate() {
///             row.copy_from(&((input.row(r) + &self.shift) * self.gain));
///         }
///     }
///     fn backward(&mut self, _: MatrixView<'_, f64>, delta: MatrixView<'_, f64>,
///                 grad_input: Option<MatrixViewMut<'_, f64>>) {
///         self.grad.copy_from(&(delta.row_sum() * self.gain));
///         if let Some(mut g) = grad_input { g.copy_from(&(delta * self.gain)); }
///     }
///     fn param(&self, k: usize) -> Option<Param<'_, f64>> {
///         (k == 0).then_some(Param { name: "shift", value: &self.shift, grad: &self.grad })
///     }
///     fn param_mut(&mut self, k: usize) -> Option<ParamMut<'_, f64>> {
///         (k == 0).then_some(ParamMut { name: "shift", value: &mut self.shift, grad: &mut self.grad })
///     }
///     // What a saved file needs besides the parameters.
///     fn config(&self) -> Option<Config> { Some(Config::new().with("gain", self.gain)) }
/// }
///
/// fn load_shift(config: &Config, tensors: &mut SavedTensors<f64>) -> Result<Shift> {
///     let shift = tensors.take("shift")?;
///     let grad = DMatrix::zeros(1, shift.ncols());
///     Ok(Shift { shift, grad, gain: config.parse("gain")? })
/// }
///
/// let shift = Shift { shift: DMatrix::from_row_slice(1, 2, &[0.5, -1.0]),
///                     grad: DMatrix::zeros(1, 2), gain: 2.0 };
/// let model = Sequential::<f64>::builder(2).add(shift).dense(1, Sigmoid).build()?;
/// let bytes = io::to_bytes(&model)?;
/// let loaded = io::from_bytes_with(&bytes, &Registry::new().layer("Shift", load_shift))?;
/// let x = DMatrix::from_row_slice(1, 2, &[1.0, 3.0]);
/// assert_eq!(model.predict(&x)?, loaded.predict(&x)?);
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug)]
pub struct SavedTensors<T: Float> {
    kind: String,
    tensors: Vec<(String, Matrix<T>)>,
}

impl<T: Float> SavedTensors<T> {
    pub(super) fn new(kind: &str, tensors: Vec<(String, Matrix<T>)>) -> Self {
        Self {
            kind: kind.to_string(),
            tensors,
        }
    }

    /// Removes and returns the tensor `name`, with the shape its parameter had.
    ///
    /// # Errors
    ///
    /// [`Error::Format`] naming the tensor if the file has no such tensor for this layer (or it
    /// was taken already).
    pub fn take(&mut self, name: &str) -> Result<Matrix<T>> {
        match self.tensors.iter().position(|(n, _)| n == name) {
            Some(k) => Ok(self.tensors.swap_remove(k).1),
            None => Err(Error::Format {
                path: "saved tensors".into(),
                reason: format!("the {} layer has no tensor {name:?}", self.kind),
            }),
        }
    }

    /// The names of the tensors not taken yet.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.iter().map(|(n, _)| n.as_str())
    }
}
