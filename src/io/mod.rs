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
//! | `layer.{i}.activation` | `Relu` | a dense layer's: `Identity`, `Relu`, `Sigmoid`, `Tanh`, `Softmax`, `LeakyRelu`, `Elu`, `Gelu`, `Silu`, `Softplus`, or the name of one's own (see [`Registry`]) |
//! | `layer.{i}.activation.{key}` | `0.01` | a setting of that activation: `slope` (LeakyRelu), `alpha` (Elu), `approximate` (Gelu: `none` or `tanh`), or one's own [`Config`](crate::activation::Config) |
//! | `layer.{i}.config.{key}` | `4` | a setting of a layer of one's own, whose `kind` is its name and whose parameters are tensors `layer.{i}.{name}` of shape `[rows, cols]` |
//! | `layer.{i}.rate` | `0.2` | a dropout layer's rate (it has no tensors) |
//! | `optimizer` | `Adam` | with optimizer state only: `Sgd`, `RmsProp`, `Adagrad`, `Adam`, `AdamW`, or `custom` for an optimizer from outside the crate |
//! | `optimizer.step` | `120` | the optimizer's step count ([`OptimizerState::step`], Adam's `t`) |
//! | `optimizer.learning_rate` | `0.001` | its learning rate when saved |
//! | `optimizer.buffers` | `exp_avg,exp_avg_sq` | the names of its buffers, in its order (empty before the first step or for a stateless optimizer) |
//! | `checksum` | `crc32:5e1f03a7` | a CRC-32 of everything else the file says (below); files written before it was added have none and still load |
//!
//! **Checksum.** A load recomputes the `checksum` and refuses a file whose value differs with
//! [`Error::Format`], so that a changed byte anywhere (a tensor's, a dropout rate's, a step
//! count's) is an error rather than another model. The CRC-32 (IEEE, as Python's `zlib.crc32`)
//! runs over the metadata pairs other than `checksum`, in byte order of their keys, then the
//! tensors in byte order of their names; each string or byte run is preceded by its length as a
//! little-endian `u64`: for a pair, the key and the value; for a tensor, its name, its type
//! (`F32` or `F64`), its shape (a run of one little-endian `u64` per dimension) and its bytes.
//!
//! A loaded [`Dropout`] layer draws its masks from a generator seeded with 0: the masks of further
//! training differ from those the saved model would have drawn (predictions do not use them).
//!
//! The crate's own layers, activations and losses can be saved, and layers and activations of
//! one's own that describe themselves ([`Layer::config`](crate::Layer::config),
//! [`Activation::config`](crate::Activation::config)); they load with a [`Registry`] that says how
//! to build them ([`load_with`]). Anything else gives [`Error::Unsupported`] when saved, and a
//! name the registry does not know gives [`Error::NotRegistered`] when loaded.
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
//! stray `.backprop-{16 hex digits}.tmp` file remains beside it). A short temporary name keeps
//! every valid file name savable; a save holds a lock on its temporary file, and removes those
//! of this pattern (and of the earlier `.{name}.{pid}.{n}.tmp` one) that are more than a minute
//! old and locked by no one, so that the files of a killed save do not pile up.
//!
//! **Checked loads.** [`load`] refuses a truncated, corrupted or mismatched file with a typed error
//! ([`Error::Format`], [`Error::FormatVersion`], [`Error::FloatType`], [`Error::Io`]): it never
//! panics and never returns a partly built model. The tensors' sizes are checked against the
//! file's length before anything is allocated for them, and every check takes time linear in
//! the file's length.
//!
//! **Limits.** A load refuses what is not a regular file (a FIFO, a device such as `/dev/zero`, a
//! directory) with [`Error::Io`] before opening it, so it never blocks, and, as
//! [`LoadOptions`] documents, files longer than 2 GiB, headers longer than 16 MiB and more than
//! 1024 layers with [`Error::Format`]: a load then never costs more than a small multiple of the
//! file's length in memory. [`LoadOptions`] raises or lowers these limits.
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
//! from math import erf
//!
//! activations = {  # each takes z and the activation's settings (layer.{i}.activation.{key})
//!     "Identity": lambda z, s: z,
//!     "Relu": lambda z, s: np.maximum(z, 0),
//!     "Sigmoid": lambda z, s: 1 / (1 + np.exp(-z)),
//!     "Tanh": lambda z, s: np.tanh(z),
//!     "Softmax": lambda z, s: np.exp(z - z.max(1, keepdims=True))
//!     / np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True),
//!     "LeakyRelu": lambda z, s: np.where(z > 0, z, float(s["slope"]) * z),
//!     "Elu": lambda z, s: np.where(z > 0, z, float(s["alpha"]) * np.expm1(np.minimum(z, 0))),
//!     "Gelu": lambda z, s: 0.5 * z * (1 + np.tanh(np.sqrt(2 / np.pi) * (z + 0.044715 * z**3)))
//!     if s["approximate"] == "tanh" else 0.5 * z * (1 + np.vectorize(erf)(z / np.sqrt(2))),
//!     "Silu": lambda z, s: z / (1 + np.exp(-z)),
//!     "Softplus": lambda z, s: np.where(z > 20, z, np.log1p(np.exp(np.minimum(z, 20)))),
//! }
//! layer = np.array([[1.0, 0.0, 1.0]])               # layer_0
//! for i in range(int(meta["layers"])):
//!     if meta[f"layer.{i}.kind"] == "Dropout":
//!         continue                                   # identity when predicting
//!     layer = layer @ tensors[f"layer.{i}.weights"]  # layer_0.dot(weights_0_1)
//!     if meta[f"layer.{i}.bias"] == "true":
//!         layer = layer + tensors[f"layer.{i}.bias"]
//!     prefix = f"layer.{i}.activation."
//!     settings = {k[len(prefix):]: v for k, v in meta.items() if k.startswith(prefix)}
//!     layer = activations[meta[f"layer.{i}.activation"]](layer, settings)
//! print(layer)                                       # the model's predict()
//! ```
//!
//! [safetensors]: https://huggingface.co/docs/safetensors
//! [`Dense`]: crate::Dense
//! [`Dropout`]: crate::layer::Dropout

mod atomic;
mod checksum;
mod decode;
mod encode;
mod limits;
mod open;
mod registry;

pub(crate) use self::atomic::write_bytes_atomic;
pub use self::limits::LoadOptions;
pub(crate) use self::open::read_regular;
pub use self::registry::{Registry, SavedTensors};

use std::any::Any;
use std::io::{self, Write};
use std::path::Path;

use safetensors::tensor::Dtype;

use self::atomic::write_atomic;
use self::encode::encode;
use crate::{
    Adagrad, Adam, AdamW, Error, Float, Optimizer, OptimizerState, Result, RmsProp, Sequential, Sgd,
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

    /// Loads a model saved by [`save`](Self::save) that holds layers or activations of one's
    /// own, built by `registry`: see [`load_with`] and [`Registry`].
    ///
    /// # Errors
    ///
    /// As [`load_with`].
    pub fn load_with(path: impl AsRef<Path>, registry: &Registry<T>) -> Result<Self> {
        load_with(path, registry)
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

/// Loads a model saved by [`save`] whose parameters are of type `T`, within the default
/// [`LoadOptions`].
///
/// A file saved by [`save_with_optimizer`] loads too: its optimizer state is checked like the rest
/// of the file, then dropped (use [`load_with_optimizer`] to keep it).
///
/// # Errors
///
/// [`Error::Io`] if the file cannot be read or is not a regular file (a FIFO, a device or a
/// directory is refused before it is opened); [`Error::FormatVersion`] if it was written by a
/// newer format version; [`Error::FloatType`] if it holds the other float type;
/// [`Error::Format`] if it is beyond a limit of [`LoadOptions`], truncated, corrupted (its
/// checksum differs), not a saved model, or inconsistent (sizes that do not chain, tensors that
/// do not match the architecture, NaN or infinite parameters).
pub fn load<T: Float>(path: impl AsRef<Path>) -> Result<Sequential<T>> {
    LoadOptions::default().load(path)
}

/// [`load`], with the layers and activations of one's own that the file names built by
/// `registry` (within the default [`LoadOptions`]).
///
/// # Errors
///
/// As [`load`], and [`Error::NotRegistered`] naming a layer or activation that the file names
/// but neither the crate nor `registry` knows; [`Error::Format`] if a registered function fails
/// (its error is in the message), leaves a tensor of its layer untaken, or builds a layer of
/// other sizes than the file declares.
pub fn load_with<T: Float>(
    path: impl AsRef<Path>,
    registry: &Registry<T>,
) -> Result<Sequential<T>> {
    LoadOptions::default().load_with(path, registry)
}

/// [`from_bytes`], with `registry` as for [`load_with`].
///
/// # Errors
///
/// As [`load_with`], except [`Error::Io`].
pub fn from_bytes_with<T: Float>(bytes: &[u8], registry: &Registry<T>) -> Result<Sequential<T>> {
    LoadOptions::default().from_bytes_with(bytes, registry)
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
    LoadOptions::default().from_bytes(bytes)
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
    LoadOptions::default().load_with_optimizer(path)
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
    LoadOptions::default().from_bytes_with_optimizer(bytes)
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

/// The safetensors type of `T`'s tensors.
fn dtype_of<T: Float>() -> Dtype {
    if T::NAME == "f32" {
        Dtype::F32
    } else {
        Dtype::F64
    }
}

// ----- errors ---------------------------------------------------------------------------------

/// An [`Error::Format`] about the file (or source) `path`.
fn format_error(path: &str, reason: impl Into<String>) -> Error {
    Error::Format {
        path: path.to_string(),
        reason: reason.into(),
    }
}

/// An [`Error::Io`] about `path`, saying what was being done when `e` happened.
fn io_error(path: &Path, doing: &str, e: &io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        message: format!("{doing}: {e}"),
    }
}
