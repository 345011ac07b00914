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
//!
//! | metadata key | example | meaning |
//! |---|---|---|
//! | `format` | `backprop.Sequential` | what the file holds |
//! | `format_version` | `1` | [`FORMAT_VERSION`]; a newer file is refused with [`Error::FormatVersion`] |
//! | `dtype` | `f64` | the float type of every tensor (`F32` or `F64` in safetensors terms) |
//! | `inputs` | `3` | width of the input rows |
//! | `layers` | `2` | number of layers |
//! | `loss` | `SquaredError` | `SquaredError`, `Mse`, `BinaryCrossEntropy` or `CategoricalCrossEntropy` |
//! | `layer.{i}.kind` | `Dense` | the layer type: [`Dense`] or [`Dropout`] |
//! | `layer.{i}.inputs`, `layer.{i}.outputs` | `3`, `4` | its sizes |
//! | `layer.{i}.bias` | `true` | whether a dense layer has a bias |
//! | `layer.{i}.activation` | `Relu` | a dense layer's: `Identity`, `Relu`, `Sigmoid`, `Tanh` or `Softmax` |
//! | `layer.{i}.rate` | `0.2` | a dropout layer's rate (it has no tensors) |
//!
//! A loaded [`Dropout`] layer draws its masks from a generator seeded with 0: the masks of further
//! training differ from those the saved model would have drawn (predictions do not use them).
//!
//! Only the crate's own layers, activations and losses can be saved (the file must say how to
//! rebuild them); anything else gives [`Error::Unsupported`]. Optimizer state is not saved yet.
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
//! **From Python**, with `pip install safetensors numpy` (see also `docs/io-python.md`):
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

use std::any::Any;
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::validate::check_finite;

use crate::layer::Dropout;
use crate::{
    Activation, BinaryCrossEntropy, CategoricalCrossEntropy, Dense, Error, Float, Identity, Layer,
    Loss, Matrix, Mse, Relu, Result, Sequential, Sigmoid, Softmax, SquaredError, Tanh,
};

/// The version of the file format that [`save`] writes and the newest that [`load`] reads.
pub const FORMAT_VERSION: u64 = 1;

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
/// # Errors
///
/// [`Error::Io`] if the file cannot be read; [`Error::FormatVersion`] if it was written by a newer
/// format version; [`Error::FloatType`] if it holds the other float type; [`Error::Format`] if it
/// is truncated, corrupted, not a saved model, or inconsistent (sizes that do not chain, tensors
/// that do not match the architecture, NaN or infinite parameters).
pub fn load<T: Float>(path: impl AsRef<Path>) -> Result<Sequential<T>> {
    let path = path.as_ref();
    let bytes = fs::read(path).map_err(|e| io_error(path, "reading", &e))?;
    decode(&bytes, &path.display().to_string())
}

/// The file [`save`] writes, as bytes.
///
/// # Errors
///
/// [`Error::Unsupported`] and [`Error::NonFinite`] as for [`save`].
pub fn to_bytes<T: Float>(model: &Sequential<T>) -> Result<Vec<u8>> {
    let dtype = dtype_of::<T>();
    let mut meta = HashMap::new();
    let mut put = |k: String, v: String| {
        meta.insert(k, v);
    };
    put("format".into(), FORMAT.into());
    put("format_version".into(), FORMAT_VERSION.to_string());
    put("dtype".into(), T::NAME.into());
    put("inputs".into(), model.input_size().to_string());
    put("layers".into(), model.len().to_string());
    put("loss".into(), loss_name(model.loss_fn())?.into());

    // (name, shape, little-endian bytes), row-major as safetensors and numpy expect.
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for i in 0..model.len() {
        if let Some(dropout) = model.layer_as::<Dropout<T>>(i) {
            let width = dropout.input_size().to_string();
            put(format!("layer.{i}.kind"), "Dropout".into());
            put(format!("layer.{i}.inputs"), width.clone());
            put(format!("layer.{i}.outputs"), width);
            // Rust prints the shortest decimal that parses back to the same f64.
            put(format!("layer.{i}.rate"), dropout.rate().to_string());
            continue;
        }
        let Some(dense) = model.layer_as::<Dense<T>>(i) else {
            let name = model.layer(i).map(|l| l.name().to_string())?;
            return Err(Error::Unsupported {
                what: format!("layer {i} ({name})"),
            });
        };
        let activation = dense
            .activation()
            .map(activation_name)
            .unwrap_or(Some("Identity"))
            .ok_or_else(|| Error::Unsupported {
                what: format!(
                    "the activation of layer {i} ({})",
                    dense.activation().map_or("?", |f| f.name())
                ),
            })?;
        let w = dense.weights();
        check_finite(&format!("layer {i} weights"), w.as_view())?;
        if let Some(b) = dense.bias() {
            check_finite(&format!("layer {i} bias"), b.as_view())?;
        }
        put(format!("layer.{i}.kind"), "Dense".into());
        put(format!("layer.{i}.inputs"), w.nrows().to_string());
        put(format!("layer.{i}.outputs"), w.ncols().to_string());
        put(
            format!("layer.{i}.bias"),
            dense.bias().is_some().to_string(),
        );
        put(format!("layer.{i}.activation"), activation.into());
        tensors.push((
            format!("layer.{i}.weights"),
            vec![w.nrows(), w.ncols()],
            le_bytes_row_major(w),
        ));
        if let Some(b) = dense.bias() {
            tensors.push((
                format!("layer.{i}.bias"),
                vec![b.len()],
                le_bytes_row_major(b),
            ));
        }
    }
    let views = tensors
        .iter()
        .map(|(name, shape, data)| {
            TensorView::new(dtype, shape.clone(), data).map(|v| (name.as_str(), v))
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| format_error(BYTES, format!("cannot lay out a tensor: {e}")))?;
    safetensors::serialize(views, Some(meta))
        .map_err(|e| format_error(BYTES, format!("cannot serialize: {e}")))
}

/// Rebuilds a model from the bytes of a saved file (see [`load`]).
///
/// # Errors
///
/// As [`load`], except [`Error::Io`]; errors name the source `<bytes>`.
pub fn from_bytes<T: Float>(bytes: &[u8]) -> Result<Sequential<T>> {
    decode(bytes, BYTES)
}

// ----- names of the crate's own parts ---------------------------------------------------------

fn activation_name<T: Float>(f: &dyn Activation<T>) -> Option<&'static str> {
    let f = f as &dyn Any;
    if f.is::<Identity>() {
        Some("Identity")
    } else if f.is::<Relu>() {
        Some("Relu")
    } else if f.is::<Sigmoid>() {
        Some("Sigmoid")
    } else if f.is::<Tanh>() {
        Some("Tanh")
    } else if f.is::<Softmax>() {
        Some("Softmax")
    } else {
        None
    }
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

fn loss_name<T: Float>(loss: &dyn Loss<T>) -> Result<&'static str> {
    let any = loss as &dyn Any;
    if any.is::<SquaredError>() {
        Ok("SquaredError")
    } else if any.is::<Mse>() {
        Ok("Mse")
    } else if any.is::<BinaryCrossEntropy>() {
        Ok("BinaryCrossEntropy")
    } else if any.is::<CategoricalCrossEntropy>() {
        Ok("CategoricalCrossEntropy")
    } else {
        Err(Error::Unsupported {
            what: format!("the loss ({})", loss.name()),
        })
    }
}

// ----- encoding -------------------------------------------------------------------------------

fn dtype_of<T: Float>() -> Dtype {
    if T::NAME == "f32" {
        Dtype::F32
    } else {
        Dtype::F64
    }
}

/// The matrix's values in row-major order, little-endian. Conversions through `f64` are exact
/// for both float types.
fn le_bytes_row_major<T: Float>(m: &Matrix<T>) -> Vec<u8> {
    let mut out = Vec::with_capacity(m.len() * std::mem::size_of::<T>());
    for r in 0..m.nrows() {
        for c in 0..m.ncols() {
            let v = m[(r, c)].as_f64();
            if T::NAME == "f32" {
                out.extend_from_slice(&(v as f32).to_le_bytes());
            } else {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
    }
    out
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

fn decode<T: Float>(bytes: &[u8], path: &str) -> Result<Sequential<T>> {
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
    if file.len() != expected_tensors {
        let mut extra: Vec<&str> = file
            .names()
            .into_iter()
            .filter(|n| !is_expected_tensor(n, layers))
            .collect();
        extra.sort_unstable();
        return Err(format_error(path, format!("unexpected tensors {extra:?}")));
    }
    builder = match meta.get("loss")? {
        "SquaredError" => builder.loss(SquaredError),
        "Mse" => builder.loss(Mse),
        "BinaryCrossEntropy" => builder.loss(BinaryCrossEntropy),
        "CategoricalCrossEntropy" => builder.loss(CategoricalCrossEntropy),
        other => return Err(format_error(path, format!("unknown loss {other:?}"))),
    };
    builder
        .build()
        .map_err(|e| format_error(path, e.to_string()))
}

fn is_expected_tensor(name: &str, layers: usize) -> bool {
    (0..layers).any(|i| name == format!("layer.{i}.weights") || name == format!("layer.{i}.bias"))
}

/// The tensor `name` as a `rows x cols` matrix, after checking its type and its shape
/// (`[rows, cols]`, or `[cols]` for a `vector`). Its values are NaN-checked by the layer
/// constructor.
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

// ----- atomic writes --------------------------------------------------------------------------

fn io_error(path: &Path, doing: &str, e: &io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        message: format!("{doing}: {e}"),
    }
}

/// Distinguishes the temporary files of concurrent saves from one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` through a temporary file in the same directory: `write` fills it,
/// then it is synced, renamed over `path`, and the directory is synced. On any failure the
/// temporary file is removed and `path` is untouched.
fn write_atomic(
    path: &Path,
    bytes: &[u8],
    write: impl FnOnce(&mut File, &[u8]) -> io::Result<()>,
) -> Result<()> {
    if path.is_dir() {
        return Err(Error::Io {
            path: path.display().to_string(),
            message: "the path is a directory, not a file".into(),
        });
    }
    let Some(name) = path.file_name() else {
        return Err(Error::Io {
            path: path.display().to_string(),
            message: "the path does not name a file".into(),
        });
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let (tmp, mut file) = create_temp(&dir, &name.to_string_lossy())
        .map_err(|e| io_error(path, "creating a temporary file beside it", &e))?;
    // The new file keeps the permissions of the one it replaces (a private file stays private).
    let kept = match fs::metadata(path) {
        Ok(old) => file.set_permissions(old.permissions()),
        Err(_) => Ok(()),
    };
    let written = kept
        .and_then(|()| write(&mut file, bytes))
        .map_err(|e| io_error(path, "writing", &e))
        .and_then(|()| file.sync_all().map_err(|e| io_error(path, "syncing", &e)));
    drop(file);
    let renamed =
        written.and_then(|()| fs::rename(&tmp, path).map_err(|e| io_error(path, "renaming", &e)));
    if let Err(e) = renamed {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(&dir).map_err(|e| io_error(path, "syncing its directory", &e))
}

/// Creates `.{name}.{pid}.{n}.tmp` in `dir`, never reusing an existing file.
fn create_temp(dir: &Path, name: &str) -> io::Result<(PathBuf, File)> {
    let pid = std::process::id();
    loop {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{name}.{pid}.{n}.tmp"));
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(file) => return Ok((tmp, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Makes a rename in `dir` durable (on Unix; elsewhere the rename is all there is).
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("backprop-io-unit-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn leftovers(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect()
    }

    #[test]
    fn a_write_that_fails_half_way_keeps_the_old_file_and_no_temporary() {
        let dir = scratch("half");
        let path = dir.join("model.safetensors");
        fs::write(&path, b"old contents").unwrap();
        // A full disk: half the bytes go out, then the write fails.
        let err = write_atomic(&path, &[7u8; 1000], |file, bytes| {
            file.write_all(&bytes[..500])?;
            Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "no space left on device",
            ))
        })
        .unwrap_err();
        assert!(matches!(&err, Error::Io { message, .. } if message.contains("no space")));
        assert_eq!(fs::read(&path).unwrap(), b"old contents");
        assert!(leftovers(&dir).is_empty());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_crash_before_the_rename_leaves_the_old_file_and_the_next_save_works() {
        let dir = scratch("crash");
        let path = dir.join("model.safetensors");
        fs::write(&path, b"old contents").unwrap();
        // A process that died mid-write leaves its temporary file behind...
        let (tmp, mut file) = create_temp(&dir, "model.safetensors").unwrap();
        file.write_all(b"half a mod").unwrap();
        drop(file);
        assert_eq!(fs::read(&path).unwrap(), b"old contents");
        // ...which neither blocks nor is mistaken for the next save.
        write_atomic(&path, b"new contents", |f, b| f.write_all(b)).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new contents");
        assert_eq!(fs::read(&tmp).unwrap(), b"half a mod");
        fs::remove_dir_all(&dir).unwrap();
    }
}
