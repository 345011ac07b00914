//! Saving and loading a [`Sequential`] model: one [safetensors] file, written atomically.
//!
//! A saved model is a standard safetensors file: the parameters are its tensors and the
//! architecture is in its string metadata, so any safetensors reader (Python's included) sees the
//! weights, and [`load`] rebuilds exactly the model that was saved, bit for bit.
//!
//! | tensor | shape | what |
//! |---|---|---|
//! | `layer.{i}.weights` | `[inputs, outputs]` | layer `i`'s weights, row-major, as the book's `weights_0_1` |
//! | `layer.{i}.bias` | `[outputs]` | layer `i`'s bias, if it has one |
//! | `optimizer.{k}.{buffer}` | as parameter `k`'s tensor | with [`save_with_optimizer`] only: the optimizer's buffer `buffer` (e.g. `exp_avg`) of parameter `k` |
//!
//! | metadata key | example | meaning |
//! |---|---|---|
//! | `format` | `backprop.Sequential` | what the file holds |
//! | `format_version` | `1` | `1` for a model, `2` for a model with optimizer state; a version above [`FORMAT_VERSION`] is refused with [`Error::FormatVersion`] |
//! | `dtype` | `f64` | the float type of every tensor (`F32` or `F64` in safetensors terms) |
//! | `inputs` | `3` | width of the input rows |
//! | `layers` | `2` | number of layers |
//! | `loss` | `SquaredError` | `SquaredError`, `Mse`, `BinaryCrossEntropy` or `CategoricalCrossEntropy` |
//! | `layer.{i}.kind` | `Dense` | the layer type: [`Dense`] or [`Dropout`] |
//! | `layer.{i}.inputs`, `layer.{i}.outputs` | `3`, `4` | its sizes |
//! | `layer.{i}.bias` | `true` | whether a dense layer has a bias |
//! | `layer.{i}.activation` | `Relu` | a dense layer's: `Identity`, `Relu`, `Sigmoid`, `Tanh` or `Softmax` |
//! | `layer.{i}.rate` | `0.2` | a dropout layer's rate (it has no tensors) |
//! | `optimizer` | `Adam` | with optimizer state only: `Sgd`, `RmsProp`, `Adagrad`, `Adam`, `AdamW`, or `custom` for an optimizer from outside the crate |
//! | `optimizer.step` | `120` | the optimizer's step count ([`OptimizerState::step`], Adam's `t`) |
//! | `optimizer.learning_rate` | `0.001` | its learning rate when saved |
//! | `optimizer.buffers` | `exp_avg,exp_avg_sq` | the names of its buffers, in its order (empty before the first step or for a stateless optimizer) |
//!
//! A loaded [`Dropout`] layer draws its masks from a generator seeded with 0: the masks of further
//! training differ from those the saved model would have drawn (predictions do not use them).
//!
//! Only the crate's own layers, activations and losses can be saved (the file must say how to
//! rebuild them); anything else gives [`Error::Unsupported`].
//!
//! **Optimizer state.** [`save_with_optimizer`] also stores an optimizer's step count, learning
//! rate and per-parameter buffers ([`Optimizer::state`]), so that training can stop and resume
//! exactly where it was; [`load_with_optimizer`] returns them as a [`SavedOptimizer`], checked
//! against the model (every buffer has its parameter's shape and finite values), and
//! [`Optimizer::load_state`] (or [`SavedOptimizer::restore`]) puts them back into an optimizer
//! built with the same settings (the hyperparameters other than the learning rate are not
//! saved). Parameter `k` is the `k`-th entry of [`Sequential::params`]: layer by layer, weights
//! before bias. Such a file declares format version 2, so that older versions of the crate,
//! which read version 1, refuse it with [`Error::FormatVersion`] instead of a puzzling format
//! error; a model saved without optimizer state is still version 1. [`load`] reads either and
//! checks the whole file, optimizer state included, before dropping that state.
//!
//! **Atomic writes.** [`save`] writes the whole file to a new temporary file in the same directory,
//! flushes it to disk (`fsync`), renames it over the target and flushes the directory. A crash, a
//! full disk or a failed write at any point leaves the earlier file at `path` untouched (at worst a
//! stray `.{name}.*.tmp` file remains beside it).
//!
//! **Checked loads.** [`load`] refuses a truncated, corrupted or mismatched file with a typed error
//! ([`Error::Format`], [`Error::FormatVersion`], [`Error::FloatType`], [`Error::Io`]): it never
//! panics and never returns a partly built model. The tensors' sizes are checked against the
//! file's length before anything is allocated for them.
//!
//! ```
//! use backprop::prelude::*;
//! use nalgebra::DMatrix;
//!
//! let mut model = Sequential::<f64>::builder(3).seed(1).dense(4, Relu).dense(1, Sigmoid)
//!     .loss(BinaryCrossEntropy).build()?;
//! let path = std::env::temp_dir().join(format!("backprop-io-doc-{}.safetensors", std::process::id()));
//! model.save(&path)?;
//! let mut loaded = Sequential::<f64>::load(&path)?;
//! let x = DMatrix::from_row_slice(1, 3, &[1.0, 0.0, 1.0]);
//! assert_eq!(model.predict(&x)?, loaded.predict(&x)?);
//! // The file holds f64 parameters: asking for f32 is an error, not a silent conversion.
//! assert!(matches!(Sequential::<f32>::load(&path), Err(Error::FloatType { .. })));
//! # std::fs::remove_file(&path).unwrap();
//! # Ok::<(), Error>(())
//! ```
//!
//! Training, saving with Adam's state, and resuming as if nothing had happened:
//!
//! ```
//! use backprop::prelude::*;
//! use nalgebra::DMatrix;
//!
//! let x = DMatrix::from_row_slice(4, 3, &[1., 0., 1., 0., 1., 1., 0., 0., 1., 1., 1., 1.]);
//! let y = DMatrix::from_column_slice(4, 1, &[1., 1., 0., 0.]);
//! let mut model = Sequential::<f64>::builder(3).seed(1).dense(4, Relu).dense(1, Identity).build()?;
//! let mut adam = Adam::new(0.01)?.betas(0.8, 0.99)?;
//! for _ in 0..5 {
//!     model.step(&x, &y, &mut adam)?;
//! }
//! let path = std::env::temp_dir().join(format!("backprop-io-adam-{}.safetensors", std::process::id()));
//! model.save_with_optimizer(&adam, &path)?;
//!
//! let (mut resumed, saved) = Sequential::<f64>::load_with_optimizer(&path)?;
//! let saved = saved.expect("the file holds optimizer state");
//! assert_eq!((saved.kind, saved.state.step), (Some("Adam"), 5));
//! let mut resumed_adam = Adam::new(saved.learning_rate)?.betas(0.8, 0.99)?; // the same settings
//! resumed_adam.load_state(&saved.state)?;
//!
//! // One more step on both pairs: the same weights, to the last bit.
//! model.step(&x, &y, &mut adam)?;
//! resumed.step(&x, &y, &mut resumed_adam)?;
//! for ((_, _, a), (_, _, b)) in model.params().into_iter().zip(resumed.params()) {
//!     let bits = |m: &DMatrix<f64>| m.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
//!     assert_eq!(bits(a), bits(b));
//! }
//! assert_eq!(adam.state(), resumed_adam.state());
//! # std::fs::remove_file(&path).unwrap();
//! # Ok::<(), Error>(())
//! ```
//!
//! **From Python**, with `pip install safetensors numpy` (see also the README):
//!
//! ```python
//! import numpy as np
//! from safetensors import safe_open
//!
//! with safe_open("model.safetensors", framework="np") as f:
//!     meta = f.metadata()
//!     tensors = {name: f.get_tensor(name) for name in f.keys()}
//!
//! activations = {
//!     "Identity": lambda z: z,
//!     "Relu": lambda z: np.maximum(z, 0),
//!     "Sigmoid": lambda z: 1 / (1 + np.exp(-z)),
//!     "Tanh": np.tanh,
//!     "Softmax": lambda z: np.exp(z - z.max(1, keepdims=True))
//!     / np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True),
//! }
//! layer = np.array([[1.0, 0.0, 1.0]])               # layer_0
//! for i in range(int(meta["layers"])):
//!     if meta[f"layer.{i}.kind"] == "Dropout":
//!         continue                                   # identity when predicting
//!     layer = layer @ tensors[f"layer.{i}.weights"]  # layer_0.dot(weights_0_1)
//!     if meta[f"layer.{i}.bias"] == "true":
//!         layer = layer + tensors[f"layer.{i}.bias"]
//!     layer = activations[meta[f"layer.{i}.activation"]](layer)
//! print(layer)                                       # the model's predict()
//! ```
//!
//! [safetensors]: https://huggingface.co/docs/safetensors

mod atomic;
mod encode;

use std::any::Any;
use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors};

use self::atomic::write_atomic;
use self::encode::encode;
use crate::validate::check_finite;

use crate::layer::Dropout;
use crate::optim::StateTensor;
use crate::{
    Adagrad, Adam, AdamW, BinaryCrossEntropy, CategoricalCrossEntropy, Dense, Error, Float,
    Identity, Matrix, Mse, Optimizer, OptimizerState, Relu, Result, RmsProp, Sequential, Sgd,
    Sigmoid, Softmax, SquaredError, Tanh,
};

/// The newest version of the file format, the one this crate reads up to: [`save`] writes
/// version 1 (a model), [`save_with_optimizer`] version 2 (a model and an optimizer's state).
pub const FORMAT_VERSION: u64 = 2;

/// The version of a file without optimizer state, readable by every version of the crate.
const MODEL_VERSION: u64 = 1;

/// The first version whose files may hold optimizer state.
const OPTIMIZER_VERSION: u64 = 2;

/// The `format` metadata value of a saved [`Sequential`].
const FORMAT: &str = "backprop.Sequential";

/// What [`from_bytes`] calls its source in errors.
const BYTES: &str = "<bytes>";

impl<T: Float> Sequential<T> {
    /// Saves the model to `path` atomically: see [`save`].
    ///
    /// # Errors
    ///
    /// As [`save`].
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        save(self, path)
    }

    /// Loads a model saved by [`save`](Self::save): see [`load`].
    ///
    /// # Errors
    ///
    /// As [`load`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        load(path)
    }

    /// Saves the model and the state of the optimizer that trains it: see
    /// [`save_with_optimizer`].
    ///
    /// # Errors
    ///
    /// As [`save_with_optimizer`].
    pub fn save_with_optimizer(
        &self,
        opt: &dyn Optimizer<T>,
        path: impl AsRef<Path>,
    ) -> Result<()> {
        save_with_optimizer(self, opt, path)
    }

    /// Loads a model and the optimizer state saved with it: see [`load_with_optimizer`].
    ///
    /// # Errors
    ///
    /// As [`load_with_optimizer`].
    pub fn load_with_optimizer(
        path: impl AsRef<Path>,
    ) -> Result<(Self, Option<SavedOptimizer<T>>)> {
        load_with_optimizer(path)
    }
}

/// Saves `model` (architecture and parameters) to `path` as a safetensors file, atomically: the
/// earlier file at `path`, if any, is replaced only once the new one is complete on disk, and the
/// new file takes its permissions. (If `path` is a symbolic link, the link itself is replaced.)
///
/// # Errors
///
/// [`Error::Unsupported`] if the model holds a layer, activation or loss that is not the crate's
/// own; [`Error::NonFinite`] if a parameter is NaN or infinite (such a file could not be loaded);
/// [`Error::Io`] if the file cannot be written (the directory is missing or read-only, `path`
/// is a directory, the disk is full). On error the earlier file at `path` is untouched.
pub fn save<T: Float>(model: &Sequential<T>, path: impl AsRef<Path>) -> Result<()> {
    let bytes = to_bytes(model)?;
    write_atomic(path.as_ref(), &bytes, |file, bytes| file.write_all(bytes))
}

/// Loads a model saved by [`save`] whose parameters are of type `T`.
///
/// A file saved by [`save_with_optimizer`] loads too: its optimizer state is checked like the rest
/// of the file, then dropped (use [`load_with_optimizer`] to keep it).
///
/// # Errors
///
/// [`Error::Io`] if the file cannot be read; [`Error::FormatVersion`] if it was written by a newer
/// format version; [`Error::FloatType`] if it holds the other float type; [`Error::Format`] if it
/// is truncated, corrupted, not a saved model, or inconsistent (sizes that do not chain, tensors
/// that do not match the architecture, NaN or infinite parameters).
pub fn load<T: Float>(path: impl AsRef<Path>) -> Result<Sequential<T>> {
    let path = path.as_ref();
    load_with_optimizer(path).map(|(model, _)| model)
}

/// The file [`save`] writes, as bytes.
///
/// # Errors
///
/// [`Error::Unsupported`] and [`Error::NonFinite`] as for [`save`].
pub fn to_bytes<T: Float>(model: &Sequential<T>) -> Result<Vec<u8>> {
    encode(model, None)
}

/// Rebuilds a model from the bytes of a saved file (see [`load`]).
///
/// # Errors
///
/// As [`load`], except [`Error::Io`]; errors name the source `<bytes>`.
pub fn from_bytes<T: Float>(bytes: &[u8]) -> Result<Sequential<T>> {
    decode(bytes, BYTES).map(|(model, _)| model)
}

/// Saves `model` and the state of `opt`, the optimizer that trains it, to `path`, atomically as
/// [`save`] does, so that training can resume exactly where it stopped.
///
/// The file holds what [`save`] writes and, as the [module documentation](self) lists, `opt`'s
/// kind (one of the crate's optimizers, or `custom`), its step count, its learning rate and every
/// per-parameter buffer of [`Optimizer::state`]. The other hyperparameters (betas, momentum, ...)
/// are not saved: restore into an optimizer built with the same settings.
///
/// # Errors
///
/// As [`save`], and: [`Error::Shape`] or [`Error::Format`] if a buffer does not fit the model's
/// parameters ([`OptimizerState::check_shapes`]), or a buffer name is not made of ASCII letters,
/// digits and `_`, or appears twice for one parameter; [`Error::NonFinite`] for a NaN or infinite
/// buffer entry; [`Error::InvalidParameter`] for a learning rate that is not finite and
/// non-negative. On error the earlier file at `path` is untouched.
pub fn save_with_optimizer<T: Float>(
    model: &Sequential<T>,
    opt: &dyn Optimizer<T>,
    path: impl AsRef<Path>,
) -> Result<()> {
    let bytes = to_bytes_with_optimizer(model, opt)?;
    write_atomic(path.as_ref(), &bytes, |file, bytes| file.write_all(bytes))
}

/// Loads a model and, if the file has one, the optimizer state saved with it by
/// [`save_with_optimizer`] (`None` for a file written by [`save`]).
///
/// Everything is checked before anything is returned: the model as by [`load`], and the state's
/// step count, learning rate, buffer names (well-formed, each once per parameter, those of the
/// named optimizer) and buffers (each of its parameter's shape, as
/// [`OptimizerState::check_shapes`] checks, and finite). Restore the state with
/// [`Optimizer::load_state`] or [`SavedOptimizer::restore`].
///
/// # Errors
///
/// As [`load`]; [`Error::Format`] also for any inconsistency in the optimizer state.
pub fn load_with_optimizer<T: Float>(
    path: impl AsRef<Path>,
) -> Result<(Sequential<T>, Option<SavedOptimizer<T>>)> {
    let path = path.as_ref();
    let bytes = fs::read(path).map_err(|e| io_error(path, "reading", &e))?;
    decode(&bytes, &path.display().to_string())
}

/// The file [`save_with_optimizer`] writes, as bytes.
///
/// # Errors
///
/// As [`save_with_optimizer`], except [`Error::Io`].
pub fn to_bytes_with_optimizer<T: Float>(
    model: &Sequential<T>,
    opt: &dyn Optimizer<T>,
) -> Result<Vec<u8>> {
    let saved = SavedOptimizer {
        kind: kind_of(opt),
        learning_rate: opt.learning_rate(),
        state: opt.state(),
    };
    encode(model, Some(&saved))
}

/// Rebuilds a model and its optimizer state from the bytes of a saved file (see
/// [`load_with_optimizer`]).
///
/// # Errors
///
/// As [`load_with_optimizer`], except [`Error::Io`]; errors name the source `<bytes>`.
pub fn from_bytes_with_optimizer<T: Float>(
    bytes: &[u8],
) -> Result<(Sequential<T>, Option<SavedOptimizer<T>>)> {
    decode(bytes, BYTES)
}

/// An optimizer's state as read back from a file by [`load_with_optimizer`]: what an optimizer
/// needs to continue the training it was saved from.
///
/// ```
/// use backprop::prelude::*;
/// use nalgebra::DMatrix;
///
/// let mut model = Sequential::<f32>::builder(2).seed(3).dense(1, Sigmoid).build()?;
/// let (x, y) = (DMatrix::from_element(3, 2, 0.5), DMatrix::from_element(3, 1, 1.0));
/// let mut sgd = Sgd::new(0.1)?.momentum(0.9)?;
/// model.step(&x, &y, &mut sgd)?;
/// let bytes = backprop::io::to_bytes_with_optimizer(&model, &sgd)?;
///
/// let (_, saved) = backprop::io::from_bytes_with_optimizer::<f32>(&bytes)?;
/// let saved = saved.unwrap();
/// assert_eq!(saved.kind, Some("Sgd"));
/// assert!(saved.state.get(0, "momentum_buffer").is_some()); // parameter 0: layer 0's weights
/// let mut fresh = Sgd::new(0.5)?.momentum(0.9)?;
/// saved.restore(&mut fresh)?;                            // learning rate and state
/// assert_eq!((fresh.learning_rate(), fresh.state()), (0.1, sgd.state()));
/// // State saved from one kind of optimizer does not go into another.
/// assert!(saved.restore(&mut Adam::<f32>::default()).is_err());
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SavedOptimizer<T: Float> {
    /// The optimizer's type if it is one of the crate's: `"Sgd"`, `"RmsProp"`, `"Adagrad"`,
    /// `"Adam"` or `"AdamW"`; `None` for an optimizer from outside the crate.
    pub kind: Option<&'static str>,
    /// Its learning rate when it was saved (after any schedule had changed it).
    pub learning_rate: T,
    /// Its step count and buffers, ordered by parameter index, then in the order of its buffer
    /// names; every buffer has been checked against the loaded model's parameters.
    pub state: OptimizerState<T>,
}

impl<T: Float> SavedOptimizer<T> {
    /// Puts the saved learning rate and state into `opt`, an optimizer built with the settings of
    /// the saved one: [`Optimizer::set_learning_rate`], then [`Optimizer::load_state`].
    ///
    /// # Errors
    ///
    /// [`Error::Format`] if `opt` is one of the crate's optimizers and the state was saved from
    /// another kind; otherwise the errors of `set_learning_rate` and `load_state` (e.g. for a
    /// buffer `opt` does not keep, such as Adam's `exp_avg` for an `Sgd`). On error `opt` is
    /// unchanged.
    pub fn restore(&self, opt: &mut dyn Optimizer<T>) -> Result<()> {
        if let (Some(saved), Some(target)) = (self.kind, kind_of(opt))
            && saved != target
        {
            return Err(format_error(
                STATE,
                format!("saved from {saved}, it cannot be restored into {target}"),
            ));
        }
        let before = opt.learning_rate();
        opt.set_learning_rate(self.learning_rate)?;
        if let Err(e) = opt.load_state(&self.state) {
            // The rate was accepted before, so putting it back succeeds.
            let _ = opt.set_learning_rate(before);
            return Err(e);
        }
        Ok(())
    }
}

// ----- names of the crate's own parts ---------------------------------------------------------

/// The crate's optimizers and the names of the buffers each can keep, in its order (it keeps some
/// of them depending on its settings: `Sgd` a momentum buffer only with momentum, `RmsProp` a
/// momentum buffer and a gradient average only with momentum and centering).
const KINDS: [(&str, &[&str]); 5] = [
    ("Sgd", &["momentum_buffer"]),
    ("RmsProp", &["square_avg", "momentum_buffer", "grad_avg"]),
    ("Adagrad", &["sum"]),
    ("Adam", &["exp_avg", "exp_avg_sq"]),
    ("AdamW", &["exp_avg", "exp_avg_sq"]),
];

/// The `optimizer` metadata value of an optimizer from outside the crate.
const CUSTOM: &str = "custom";

/// The start of every optimizer-state tensor's name.
const STATE_PREFIX: &str = "optimizer.";

/// What errors about an optimizer state being saved call it.
const STATE: &str = "optimizer state";

/// The name of `opt`'s type, if it is one of the crate's optimizers (the type itself is checked,
/// not a name it gives).
fn kind_of<T: Float>(opt: &dyn Optimizer<T>) -> Option<&'static str> {
    let any: &dyn Any = opt;
    if any.is::<Sgd<T>>() {
        Some("Sgd")
    } else if any.is::<RmsProp<T>>() {
        Some("RmsProp")
    } else if any.is::<Adagrad<T>>() {
        Some("Adagrad")
    } else if any.is::<Adam<T>>() {
        Some("Adam")
    } else if any.is::<AdamW<T>>() {
        Some("AdamW")
    } else {
        None
    }
}

/// A buffer name the file format can hold: ASCII letters, digits and `_`, as PyTorch's.
fn is_buffer_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn with_activation<T: Float>(layer: Dense<T>, name: &str) -> Option<Dense<T>> {
    Some(match name {
        "Identity" => layer.with_activation(Identity),
        "Relu" => layer.with_activation(Relu),
        "Sigmoid" => layer.with_activation(Sigmoid),
        "Tanh" => layer.with_activation(Tanh),
        "Softmax" => layer.with_activation(Softmax),
        _ => return None,
    })
}

fn dtype_of<T: Float>() -> Dtype {
    if T::NAME == "f32" {
        Dtype::F32
    } else {
        Dtype::F64
    }
}

/// Reads what [`shortest`] writes, rounding once, to `T`.
fn parse_float<T: Float>(s: &str) -> Option<T> {
    if T::NAME == "f32" {
        s.parse::<f32>().ok().map(|v| T::of(f64::from(v)))
    } else {
        s.parse::<f64>().ok().map(T::of)
    }
}

// ----- decoding -------------------------------------------------------------------------------

fn format_error(path: &str, reason: impl Into<String>) -> Error {
    Error::Format {
        path: path.to_string(),
        reason: reason.into(),
    }
}

/// Reads the metadata of a parsed file, naming the file and the key in errors.
struct Meta<'a> {
    map: &'a HashMap<String, String>,
    path: &'a str,
}

impl Meta<'_> {
    fn get(&self, key: &str) -> Result<&str> {
        self.map
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| format_error(self.path, format!("metadata key {key:?} is missing")))
    }

    fn number(&self, key: &str) -> Result<usize> {
        let v = self.get(key)?;
        v.parse().map_err(|_| {
            format_error(
                self.path,
                format!("metadata {key:?} = {v:?} is not a count"),
            )
        })
    }
}

/// The model of a saved file and its optimizer state, if it has one, all checked.
fn decode<T: Float>(
    bytes: &[u8],
    path: &str,
) -> Result<(Sequential<T>, Option<SavedOptimizer<T>>)> {
    let file = SafeTensors::deserialize(bytes)
        .map_err(|e| format_error(path, format!("not a readable safetensors file: {e}")))?;
    let (_, header) = SafeTensors::read_metadata(bytes)
        .map_err(|e| format_error(path, format!("not a readable safetensors file: {e}")))?;
    let Some(map) = header.metadata() else {
        return Err(format_error(
            path,
            "no metadata: not a saved backprop model",
        ));
    };
    let meta = Meta { map, path };

    let format = meta.get("format")?;
    if format != FORMAT {
        return Err(format_error(
            path,
            format!("format is {format:?}, not {FORMAT:?}"),
        ));
    }
    let version = meta.get("format_version")?;
    let version: u64 = version
        .parse()
        .map_err(|_| format_error(path, format!("format_version {version:?} is not a number")))?;
    if version > FORMAT_VERSION {
        return Err(Error::FormatVersion {
            path: path.to_string(),
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    if version == 0 {
        return Err(format_error(path, "format_version 0 does not exist"));
    }
    let dtype = meta.get("dtype")?;
    if dtype != T::NAME {
        return Err(Error::FloatType {
            path: path.to_string(),
            expected: T::NAME,
            found: dtype.to_string(),
        });
    }

    let inputs = meta.number("inputs")?;
    let layers = meta.number("layers")?;
    // Every layer has several metadata entries: this bounds the loop by the file's own contents.
    if layers == 0 || layers > map.len() {
        return Err(format_error(
            path,
            format!("{layers} layers declared in {} metadata entries", map.len()),
        ));
    }
    let mut expected_tensors = 0;
    let mut builder = Sequential::<T>::builder(inputs);
    let mut width = inputs;
    for i in 0..layers {
        let kind = meta.get(&format!("layer.{i}.kind"))?;
        let n_in = meta.number(&format!("layer.{i}.inputs"))?;
        let n_out = meta.number(&format!("layer.{i}.outputs"))?;
        if n_in != width {
            return Err(format_error(
                path,
                format!("layer {i} takes {n_in} inputs but receives {width}"),
            ));
        }
        match kind {
            "Dense" => {}
            "Dropout" => {
                let rate = meta.get(&format!("layer.{i}.rate"))?;
                let p: f64 = rate.parse().map_err(|_| {
                    format_error(path, format!("layer {i} rate {rate:?} is not a number"))
                })?;
                if n_out != n_in {
                    return Err(format_error(
                        path,
                        format!("dropout layer {i} maps {n_in} inputs to {n_out} outputs"),
                    ));
                }
                let dropout = Dropout::new(n_in, p, 0)
                    .map_err(|e| format_error(path, format!("layer {i}: {e}")))?;
                builder = builder.add(dropout);
                continue;
            }
            _ => {
                return Err(format_error(
                    path,
                    format!("layer {i} has unknown kind {kind:?}"),
                ));
            }
        }
        let has_bias = match meta.get(&format!("layer.{i}.bias"))? {
            "true" => true,
            "false" => false,
            other => {
                return Err(format_error(
                    path,
                    format!("layer {i} bias is {other:?}, not \"true\" or \"false\""),
                ));
            }
        };
        let weights = tensor::<T>(
            &file,
            path,
            &format!("layer.{i}.weights"),
            (n_in, n_out),
            false,
        )?;
        expected_tensors += 1;
        let bias = if has_bias {
            expected_tensors += 1;
            Some(tensor::<T>(
                &file,
                path,
                &format!("layer.{i}.bias"),
                (1, n_out),
                true,
            )?)
        } else {
            None
        };
        let activation = meta.get(&format!("layer.{i}.activation"))?;
        let dense = Dense::from_weights(weights, bias)
            .map_err(|e| format_error(path, format!("layer {i}: {e}")))?;
        let dense = with_activation(dense, activation).ok_or_else(|| {
            format_error(
                path,
                format!("layer {i} has unknown activation {activation:?}"),
            )
        })?;
        builder = builder.add(dense);
        width = n_out;
    }
    builder = match meta.get("loss")? {
        "SquaredError" => builder.loss(SquaredError),
        "Mse" => builder.loss(Mse),
        "BinaryCrossEntropy" => builder.loss(BinaryCrossEntropy),
        "CategoricalCrossEntropy" => builder.loss(CategoricalCrossEntropy),
        other => return Err(format_error(path, format!("unknown loss {other:?}"))),
    };
    let model = builder
        .build()
        .map_err(|e| format_error(path, e.to_string()))?;
    let (opt, opt_tensors) = decode_optimizer(&file, &meta, version, &model)?;
    if file.len() != expected_tensors + opt_tensors {
        let mut extra: Vec<&str> = file
            .names()
            .into_iter()
            .filter(|n| !(is_expected_tensor(n, layers) || opt.is_some() && is_state_tensor(n)))
            .collect();
        extra.sort_unstable();
        return Err(format_error(path, format!("unexpected tensors {extra:?}")));
    }
    Ok((model, opt))
}

fn is_expected_tensor(name: &str, layers: usize) -> bool {
    (0..layers).any(|i| name == format!("layer.{i}.weights") || name == format!("layer.{i}.bias"))
}

fn is_state_tensor(name: &str) -> bool {
    name.starts_with(STATE_PREFIX)
}

/// The optimizer state of a parsed file, checked against the file's `model`, and the number of
/// tensors it takes; `None` if the file has no optimizer state.
fn decode_optimizer<T: Float>(
    file: &SafeTensors<'_>,
    meta: &Meta<'_>,
    version: u64,
    model: &Sequential<T>,
) -> Result<(Option<SavedOptimizer<T>>, usize)> {
    let path = meta.path;
    let Some(kind) = meta.map.get("optimizer") else {
        return Ok((None, 0));
    };
    if version < OPTIMIZER_VERSION {
        return Err(format_error(
            path,
            format!("optimizer state in a format version {version} file"),
        ));
    }
    let kind = if kind == CUSTOM {
        None
    } else {
        let known = KINDS.iter().find(|(name, _)| name == kind);
        Some(known.ok_or_else(|| format_error(path, format!("unknown optimizer {kind:?}")))?)
    };
    let step = meta.get("optimizer.step")?;
    let step: u64 = step
        .parse()
        .map_err(|_| format_error(path, format!("optimizer.step {step:?} is not a count")))?;
    let lr = meta.get("optimizer.learning_rate")?;
    let learning_rate = parse_float::<T>(lr)
        .filter(|v| v.finite() && *v >= T::zero())
        .ok_or_else(|| {
            format_error(
                path,
                format!("optimizer.learning_rate {lr:?} is not a finite, non-negative number"),
            )
        })?;

    let list = meta.get("optimizer.buffers")?;
    let buffers: Vec<&str> = if list.is_empty() {
        Vec::new()
    } else {
        list.split(',').collect()
    };
    for (k, name) in buffers.iter().enumerate() {
        if !is_buffer_name(name) || buffers[..k].contains(name) {
            return Err(format_error(
                path,
                format!("optimizer.buffers {list:?}: {name:?} is not a new buffer name"),
            ));
        }
    }
    if let Some((name, known)) = kind {
        // The named optimizer's buffers, or some of them, in its order.
        let mut order = known.iter();
        if !buffers.iter().all(|b| order.any(|n| n == b)) {
            return Err(format_error(
                path,
                format!("optimizer.buffers {list:?} are not {name}'s (some of {known:?})"),
            ));
        }
    }

    let params = model.params();
    let mut names: Vec<&str> = file
        .names()
        .into_iter()
        .filter(|n| is_state_tensor(n))
        .collect();
    names.sort_unstable();
    // (parameter index, position in `buffers`, value)
    let mut found: Vec<(usize, usize, Matrix<T>)> = Vec::with_capacity(names.len());
    for name in names {
        let parsed = name[STATE_PREFIX.len()..]
            .split_once('.')
            .and_then(|(index, buffer)| Some((parse_index(index)?, buffer)));
        let Some((index, buffer)) = parsed else {
            return Err(format_error(
                path,
                format!("tensor {name:?} is not named optimizer.{{parameter}}.{{buffer}}"),
            ));
        };
        let Some(k) = buffers.iter().position(|b| *b == buffer) else {
            return Err(format_error(
                path,
                format!("tensor {name:?}: {buffer:?} is not in optimizer.buffers {list:?}"),
            ));
        };
        let Some((_, param, value)) = params.get(index) else {
            return Err(format_error(
                path,
                format!(
                    "tensor {name:?} belongs to parameter {index}, but the model has {}",
                    params.len()
                ),
            ));
        };
        let m = tensor::<T>(file, path, name, value.shape(), *param == "bias")?;
        check_finite(name, m.as_view()).map_err(|e| format_error(path, e.to_string()))?;
        found.push((index, k, m));
    }
    found.sort_unstable_by_key(|&(index, k, _)| (index, k));
    if let Some((k, name)) = buffers
        .iter()
        .enumerate()
        .find(|&(k, _)| !found.iter().any(|f| f.1 == k))
    {
        return Err(format_error(
            path,
            format!("optimizer buffer {name:?} (number {k}) is listed, but no parameter has it"),
        ));
    }
    if kind.is_some() {
        // The crate's optimizers keep every buffer for each parameter they have updated.
        for group in found.chunk_by(|a, b| a.0 == b.0) {
            if group.len() != buffers.len() {
                return Err(format_error(
                    path,
                    format!(
                        "parameter {} has {} of the optimizer buffers {list:?}",
                        group[0].0,
                        group.len()
                    ),
                ));
            }
        }
    }
    let count = found.len();
    let state = OptimizerState {
        step,
        tensors: found
            .into_iter()
            .map(|(index, k, value)| StateTensor {
                index,
                name: buffers[k].to_string(),
                value,
            })
            .collect(),
    };
    let shapes: Vec<(usize, usize)> = params.iter().map(|(_, _, m)| m.shape()).collect();
    state
        .check_shapes(&shapes)
        .map_err(|e| format_error(path, e.to_string()))?;
    let saved = SavedOptimizer {
        kind: kind.map(|&(name, _)| name),
        learning_rate,
        state,
    };
    Ok((Some(saved), count))
}

/// A parameter index written as `to_string` writes it: digits, no sign, no leading zero.
fn parse_index(s: &str) -> Option<usize> {
    let canonical = s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    if canonical { s.parse().ok() } else { None }
}

/// The tensor `name` as a `rows x cols` matrix, after checking its type and its shape
/// (`[rows, cols]`, or `[cols]` for a `vector`). Its values are NaN-checked by the caller (for
/// parameters, by the layer constructor).
fn tensor<T: Float>(
    file: &SafeTensors<'_>,
    path: &str,
    name: &str,
    (rows, cols): (usize, usize),
    vector: bool,
) -> Result<Matrix<T>> {
    let shape = if vector { vec![cols] } else { vec![rows, cols] };
    let view = file
        .tensor(name)
        .map_err(|_| format_error(path, format!("tensor {name:?} is missing")))?;
    if view.dtype() != dtype_of::<T>() {
        return Err(Error::FloatType {
            path: path.to_string(),
            expected: T::NAME,
            found: format!("{} (tensor {name:?})", view.dtype()),
        });
    }
    if view.shape() != shape {
        return Err(format_error(
            path,
            format!(
                "tensor {name:?} has shape {:?}, the architecture says {shape:?}",
                view.shape()
            ),
        ));
    }
    let size = std::mem::size_of::<T>();
    let data = view.data();
    // The parser has checked this already; checking again keeps the slicing below obviously safe.
    if Some(data.len()) != rows.checked_mul(cols).and_then(|n| n.checked_mul(size)) {
        return Err(format_error(
            path,
            format!("tensor {name:?} holds {} bytes", data.len()),
        ));
    }
    let values: Vec<T> = data
        .chunks_exact(size)
        .map(|b| {
            if size == 4 {
                T::of(f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64)
            } else {
                T::of(f64::from_le_bytes([
                    b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
                ]))
            }
        })
        .collect();
    Ok(Matrix::from_row_slice(rows, cols, &values))
}

// ----- errors -------------------------------------------------------------------------------

fn io_error(path: &Path, doing: &str, e: &io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        message: format!("{doing}: {e}"),
    }
}
