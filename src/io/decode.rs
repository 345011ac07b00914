//! Decoding: the bytes of a saved file back into a model and its optimizer state, with every check
//! that a truncated, corrupted or hostile file needs.

use std::collections::{HashMap, HashSet};

use safetensors::tensor::{Dtype, Metadata, SafeTensorError, SafeTensors};

use super::checksum::{self, checksum};
use super::registry::{Registry, SavedTensors};
use super::{
    CUSTOM, FORMAT, FORMAT_VERSION, KINDS, LoadOptions, OPTIMIZER_VERSION, STATE_PREFIX,
    SavedOptimizer, dtype_of, format_error, is_buffer_name,
};
use crate::activation::{Config, builtin};
use crate::layer::Dropout;
use crate::optim::StateTensor;
use crate::validate::check_finite;
use crate::{
    Activation, BinaryCrossEntropy, CategoricalCrossEntropy, Dense, Error, Float, Matrix, Mse,
    OptimizerState, Result, Sequential, SequentialBuilder, SquaredError,
};

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

/// The tensors of a parsed file: the header's list of them and the bytes after the header.
struct Tensors<'a> {
    header: &'a Metadata,
    data: &'a [u8],
    /// Every tensor's name, sorted.
    names: Vec<String>,
}

impl<'a> Tensors<'a> {
    /// The type, shape and bytes of tensor `name`, if the file has it.
    fn get(&self, name: &str) -> Option<(Dtype, &'a [usize], &'a [u8])> {
        let info = self.header.info(name)?;
        let (start, end) = info.data_offsets;
        // The parser has checked the offsets against the data's length; `get` keeps this total.
        Some((info.dtype, &info.shape, self.data.get(start..end)?))
    }
}

/// The model of a saved file and its optimizer state, if it has one, all checked within the
/// limits of `options`.
pub(super) fn decode<T: Float>(
    bytes: &[u8],
    path: &str,
    options: &LoadOptions,
    registry: Option<&Registry<T>>,
) -> Result<(Sequential<T>, Option<SavedOptimizer<T>>)> {
    // The header's length is the file's first 8 bytes: a long header is refused unparsed.
    if let Some(&len) = bytes.first_chunk::<8>() {
        let len = u64::from_le_bytes(len);
        if len > options.header_limit() {
            return Err(format_error(
                path,
                format!(
                    "a header of {len} bytes, above the limit of {} (LoadOptions::max_header_bytes)",
                    options.header_limit()
                ),
            ));
        }
    }
    // The header is parsed once, here; the tensors are read from `bytes` where they are.
    let (len, header) = SafeTensors::read_metadata(bytes).map_err(|e: SafeTensorError| {
        format_error(path, format!("not a readable safetensors file: {e}"))
    })?;
    let Some(map) = header.metadata() else {
        return Err(format_error(
            path,
            "no metadata: not a saved backprop model",
        ));
    };
    let meta = Meta { map, path };
    let version = check_format::<T>(&meta)?;
    let mut names = header.offset_keys();
    names.sort_unstable();
    let file = Tensors {
        header: &header,
        data: bytes.get(8 + len..).unwrap_or_default(),
        names,
    };
    verify_checksum(&meta, &file)?;
    let (builder, used) = decode_layers::<T>(&file, &meta, options.layer_limit(), registry)?;
    let model = with_loss(builder, &meta)?
        .build()
        .map_err(|e| format_error(path, e.to_string()))?;
    let (opt, opt_tensors) = decode_optimizer(&file, &meta, version, &model)?;
    if file.names.len() != used.len() + opt_tensors {
        let extra: Vec<&str> = file
            .names
            .iter()
            .map(String::as_str)
            .filter(|n| !(used.contains(*n) || opt.is_some() && is_state_tensor(n)))
            .collect();
        return Err(format_error(
            path,
            format!("unexpected tensors {}", some_of(&extra)),
        ));
    }
    Ok((model, opt))
}

/// The first few of `names`, and how many more there are: an error message stays short.
fn some_of(names: &[&str]) -> String {
    const SHOWN: usize = 10;
    if names.len() <= SHOWN {
        format!("{names:?}")
    } else {
        format!("{:?} and {} more", &names[..SHOWN], names.len() - SHOWN)
    }
}

/// Checks the file's `checksum` against its contents; a file without one (written before
/// checksums) passes.
fn verify_checksum(meta: &Meta<'_>, file: &Tensors<'_>) -> Result<()> {
    let Some(stored) = meta.map.get(checksum::KEY) else {
        return Ok(());
    };
    if !checksum::is_understood(stored) {
        return Err(format_error(
            meta.path,
            format!("checksum {stored:?} is not \"crc32:\" and eight lowercase hex digits"),
        ));
    }
    let mut tensors = Vec::with_capacity(file.names.len());
    for name in &file.names {
        let Some((dtype, shape, data)) = file.get(name) else {
            return Err(format_error(
                meta.path,
                format!("tensor {name:?} is missing"),
            ));
        };
        tensors.push((name.as_str(), dtype, shape, data));
    }
    let pairs = meta.map.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    let computed = checksum(pairs, tensors);
    if computed != *stored {
        return Err(format_error(
            meta.path,
            format!(
                "checksum mismatch: the file says {stored}, its contents give {computed}: it is corrupted"
            ),
        ));
    }
    Ok(())
}

/// The file's format version, after checking that it holds a model of this format, of a version
/// this crate reads, with parameters of type `T`.
fn check_format<T: Float>(meta: &Meta<'_>) -> Result<u64> {
    let path = meta.path;
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
    Ok(version)
}

/// A builder holding the file's layers, each checked against the width it receives, with the
/// names of the tensors they take.
fn decode_layers<T: Float>(
    file: &Tensors<'_>,
    meta: &Meta<'_>,
    max_layers: usize,
    registry: Option<&Registry<T>>,
) -> Result<(SequentialBuilder<T>, HashSet<String>)> {
    let path = meta.path;
    let inputs = meta.number("inputs")?;
    let layers = meta.number("layers")?;
    if layers > max_layers {
        return Err(format_error(
            path,
            format!(
                "{layers} layers declared, above the limit of {max_layers} (LoadOptions::max_layers)"
            ),
        ));
    }
    // Every layer has several metadata entries: this bounds the loop by the file's own contents.
    if layers == 0 || layers > meta.map.len() {
        return Err(format_error(
            path,
            format!(
                "{layers} layers declared in {} metadata entries",
                meta.map.len()
            ),
        ));
    }
    let mut settings = Settings::of(meta, layers);
    let mut used = HashSet::new();
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
            "Dense" => {
                let activation = settings.take(i, ACTIVATION);
                let dense = decode_dense(file, meta, i, (n_in, n_out), &mut used)?;
                let name = meta.get(&format!("layer.{i}.activation"))?;
                let f = decode_activation(meta, i, name, &activation, registry)?;
                builder = builder.add(dense.with_boxed_activation(f));
                width = n_out;
            }
            "Dropout" => builder = builder.add(decode_dropout::<T>(meta, i, n_in, n_out)?),
            _ => {
                let config = settings.take(i, CONFIG);
                let tensors = settings.tensors(file, path, (i, kind), &mut used)?;
                let layer =
                    decode_own_layer(meta, (i, kind), (n_in, n_out), config, tensors, registry)?;
                builder = builder.add_boxed(layer);
                width = n_out;
            }
        }
    }
    Ok((builder, used))
}

/// Dropout layer `i`, which maps `n_in` inputs to `n_out` outputs, from its rate.
fn decode_dropout<T: Float>(
    meta: &Meta<'_>,
    i: usize,
    n_in: usize,
    n_out: usize,
) -> Result<Dropout<T>> {
    let path = meta.path;
    let rate = meta.get(&format!("layer.{i}.rate"))?;
    let p: f64 = rate
        .parse()
        .map_err(|_| format_error(path, format!("layer {i} rate {rate:?} is not a number")))?;
    if n_out != n_in {
        return Err(format_error(
            path,
            format!("dropout layer {i} maps {n_in} inputs to {n_out} outputs"),
        ));
    }
    Dropout::new(n_in, p, 0).map_err(|e| format_error(path, format!("layer {i}: {e}")))
}

/// Dense layer `i`, which maps `n_in` inputs to `n_out` outputs, from its tensors (whose names go
/// into `used`) and activation.
fn decode_dense<T: Float>(
    file: &Tensors<'_>,
    meta: &Meta<'_>,
    i: usize,
    (n_in, n_out): (usize, usize),
    used: &mut HashSet<String>,
) -> Result<Dense<T>> {
    let path = meta.path;
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
    let name = format!("layer.{i}.weights");
    let weights = tensor::<T>(file, path, &name, (n_in, n_out), false)?;
    used.insert(name);
    let bias = if has_bias {
        let name = format!("layer.{i}.bias");
        let bias = tensor::<T>(file, path, &name, (1, n_out), true)?;
        used.insert(name);
        Some(bias)
    } else {
        None
    };
    Dense::from_weights(weights, bias).map_err(|e| format_error(path, format!("layer {i}: {e}")))
}

/// The activation `name` of layer `i` with its `config`: one of the crate's, else one `registry`
/// builds.
fn decode_activation<T: Float>(
    meta: &Meta<'_>,
    i: usize,
    name: &str,
    config: &Config,
    registry: Option<&Registry<T>>,
) -> Result<Box<dyn Activation<T>>> {
    let built = builtin(name, config).or_else(|| registry?.build_activation(name, config));
    let Some(built) = built else {
        return Err(Error::not_registered(meta.path, i, "activation", name));
    };
    built.map_err(|e| format_error(meta.path, format!("layer {i} activation {name:?}: {e}")))
}

/// Layer `i` of one's own, of kind `kind`, built by `registry` from its settings and tensors, and
/// checked to take every tensor and to have the sizes the file declares.
fn decode_own_layer<T: Float>(
    meta: &Meta<'_>,
    (i, kind): (usize, &str),
    (n_in, n_out): (usize, usize),
    config: Config,
    mut tensors: SavedTensors<T>,
    registry: Option<&Registry<T>>,
) -> Result<Box<dyn crate::Layer<T>>> {
    let path = meta.path;
    let Some(built) = registry.and_then(|r| r.build_layer(kind, &config, &mut tensors)) else {
        return Err(Error::not_registered(path, i, "layer", kind));
    };
    let layer = built.map_err(|e| format_error(path, format!("layer {i} ({kind}): {e}")))?;
    let left: Vec<&str> = tensors.names().collect();
    if !left.is_empty() {
        return Err(format_error(
            path,
            format!(
                "layer {i} ({kind}) did not take the tensors {}",
                some_of(&left)
            ),
        ));
    }
    if (layer.input_size(), layer.output_size()) != (n_in, n_out) {
        return Err(format_error(
            path,
            format!(
                "layer {i} ({kind}) was built {} x {}, the file says {n_in} x {n_out}",
                layer.input_size(),
                layer.output_size()
            ),
        ));
    }
    Ok(layer)
}

/// Which settings of a layer: its activation's or its own.
const ACTIVATION: &str = "activation";
/// See [`ACTIVATION`].
const CONFIG: &str = "config";

/// The settings (`layer.{i}.activation.{key}`, `layer.{i}.config.{key}`) and tensor names
/// (`layer.{i}.{name}`) of every layer, gathered in one pass over the file, so that reading
/// them stays linear in its length.
struct Settings {
    configs: HashMap<(usize, &'static str), Config>,
    tensors: HashMap<usize, Vec<String>>,
}

impl Settings {
    fn of(meta: &Meta<'_>, layers: usize) -> Self {
        let mut configs: HashMap<(usize, &'static str), Config> = HashMap::new();
        for (key, value) in meta.map {
            let Some((i, rest)) = layer_key(key, layers) else {
                continue;
            };
            for part in [ACTIVATION, CONFIG] {
                // Metadata keys are unique, so each setting is new to its layer's Config.
                if let Some(name) = rest.strip_prefix(part).and_then(|r| r.strip_prefix('.')) {
                    configs
                        .entry((i, part))
                        .or_default()
                        .push(name, value.clone());
                }
            }
        }
        Self {
            configs,
            tensors: HashMap::new(),
        }
    }

    /// Layer `i`'s settings of `part`, none if it has none.
    fn take(&mut self, i: usize, part: &'static str) -> Config {
        let mut config = self.configs.remove(&(i, part)).unwrap_or_default();
        config.sort();
        config
    }

    /// Layer `i`'s tensors as matrices of their saved `[rows, cols]` shapes, each finite; their
    /// names go into `used`.
    fn tensors<T: Float>(
        &mut self,
        file: &Tensors<'_>,
        path: &str,
        (i, kind): (usize, &str),
        used: &mut HashSet<String>,
    ) -> Result<SavedTensors<T>> {
        if self.tensors.is_empty() {
            for name in &file.names {
                if let Some((k, _)) = layer_key(name, usize::MAX) {
                    self.tensors.entry(k).or_default().push(name.clone());
                }
            }
        }
        let mut out = Vec::new();
        for name in self.tensors.get(&i).into_iter().flatten() {
            let shape = file.get(name).map(|(_, shape, _)| shape);
            let Some(&[rows, cols]) = shape else {
                return Err(format_error(
                    path,
                    format!("tensor {name:?} has shape {shape:?}, not [rows, cols]"),
                ));
            };
            let m = tensor::<T>(file, path, name, (rows, cols), false)?;
            check_finite(name, m.as_view()).map_err(|e| format_error(path, e.to_string()))?;
            let (_, short) = layer_key(name, usize::MAX).unwrap_or((i, name));
            out.push((short.to_string(), m));
            used.insert(name.to_string());
        }
        Ok(SavedTensors::new(kind, out))
    }
}

/// `(i, rest)` for a key `layer.{i}.{rest}` with `i` below `layers`.
fn layer_key(key: &str, layers: usize) -> Option<(usize, &str)> {
    let (index, rest) = key.strip_prefix("layer.")?.split_once('.')?;
    let i = parse_index(index)?;
    (i < layers).then_some((i, rest))
}

/// `builder` with the file's loss.
fn with_loss<T: Float>(
    builder: SequentialBuilder<T>,
    meta: &Meta<'_>,
) -> Result<SequentialBuilder<T>> {
    Ok(match meta.get("loss")? {
        "SquaredError" => builder.loss(SquaredError),
        "Mse" => builder.loss(Mse),
        "BinaryCrossEntropy" => builder.loss(BinaryCrossEntropy),
        "CategoricalCrossEntropy" => builder.loss(CategoricalCrossEntropy),
        other => return Err(format_error(meta.path, format!("unknown loss {other:?}"))),
    })
}

/// Whether `name` is the name of an optimizer-state tensor.
fn is_state_tensor(name: &str) -> bool {
    name.starts_with(STATE_PREFIX)
}

/// One of the crate's optimizers, as [`KINDS`] lists it: its name and the buffers it can keep.
type Kind = &'static (&'static str, &'static [&'static str]);

/// An optimizer buffer read from a file: (parameter index, position in the buffer list, value).
type Buffer<T> = (usize, usize, Matrix<T>);

/// The optimizer state of a parsed file, checked against the file's `model`, and the number of
/// tensors it takes; `None` if the file has no optimizer state.
fn decode_optimizer<T: Float>(
    file: &Tensors<'_>,
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
    let kind = optimizer_kind(path, kind)?;
    let (step, learning_rate) = hyperparameters::<T>(meta)?;
    let list = meta.get("optimizer.buffers")?;
    let buffers = buffer_names(path, list, kind)?;
    let params = model.params();
    let found = state_tensors(file, path, &params, &buffers, list)?;
    check_buffers(path, &found, &buffers, list, kind.is_some())?;
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

/// The crate's optimizer the `optimizer` metadata names, `None` for one from outside the crate.
fn optimizer_kind(path: &str, kind: &str) -> Result<Option<Kind>> {
    if kind == CUSTOM {
        return Ok(None);
    }
    let known = KINDS.iter().find(|(name, _)| *name == kind);
    let known = known.ok_or_else(|| format_error(path, format!("unknown optimizer {kind:?}")))?;
    Ok(Some(known))
}

/// The optimizer's step count and learning rate (finite and not negative).
fn hyperparameters<T: Float>(meta: &Meta<'_>) -> Result<(u64, T)> {
    let path = meta.path;
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
    Ok((step, learning_rate))
}

/// The buffer names in `list` (the `optimizer.buffers` metadata), each well-formed and listed once,
/// and for one of the crate's optimizers, among its buffers and in its order.
fn buffer_names<'a>(path: &str, list: &'a str, kind: Option<Kind>) -> Result<Vec<&'a str>> {
    let buffers: Vec<&str> = if list.is_empty() {
        Vec::new()
    } else {
        list.split(',').collect()
    };
    let mut seen = HashSet::with_capacity(buffers.len());
    for name in &buffers {
        if !is_buffer_name(name) || !seen.insert(*name) {
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
    Ok(buffers)
}

/// Every optimizer-state tensor of the file, each named for a parameter of `params` and a buffer
/// of `buffers`, of its parameter's shape and finite; sorted by parameter, then buffer.
fn state_tensors<T: Float>(
    file: &Tensors<'_>,
    path: &str,
    params: &[(usize, &str, &Matrix<T>)],
    buffers: &[&str],
    list: &str,
) -> Result<Vec<Buffer<T>>> {
    let position: HashMap<&str, usize> = buffers.iter().enumerate().map(|(k, b)| (*b, k)).collect();
    let mut found: Vec<Buffer<T>> = Vec::new();
    for name in file.names.iter().filter(|n| is_state_tensor(n)) {
        let parsed = name[STATE_PREFIX.len()..]
            .split_once('.')
            .and_then(|(index, buffer)| Some((parse_index(index)?, buffer)));
        let Some((index, buffer)) = parsed else {
            return Err(format_error(
                path,
                format!("tensor {name:?} is not named optimizer.{{parameter}}.{{buffer}}"),
            ));
        };
        let Some(&k) = position.get(buffer) else {
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
    Ok(found)
}

/// Checks that some parameter has each listed buffer and, if `complete` (one of the crate's
/// optimizers), that every parameter with a buffer has all of them.
fn check_buffers<T: Float>(
    path: &str,
    found: &[Buffer<T>],
    buffers: &[&str],
    list: &str,
    complete: bool,
) -> Result<()> {
    let mut has = vec![false; buffers.len()];
    for f in found {
        has[f.1] = true;
    }
    if let Some((k, name)) = buffers.iter().enumerate().find(|&(k, _)| !has[k]) {
        return Err(format_error(
            path,
            format!("optimizer buffer {name:?} (number {k}) is listed, but no parameter has it"),
        ));
    }
    if complete {
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
    Ok(())
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
    file: &Tensors<'_>,
    path: &str,
    name: &str,
    (rows, cols): (usize, usize),
    vector: bool,
) -> Result<Matrix<T>> {
    let shape = if vector { vec![cols] } else { vec![rows, cols] };
    let (dtype, found, data) = file
        .get(name)
        .ok_or_else(|| format_error(path, format!("tensor {name:?} is missing")))?;
    if dtype != dtype_of::<T>() {
        return Err(Error::FloatType {
            path: path.to_string(),
            expected: T::NAME,
            found: format!("{dtype} (tensor {name:?})"),
        });
    }
    if found != shape {
        return Err(format_error(
            path,
            format!("tensor {name:?} has shape {found:?}, the architecture says {shape:?}"),
        ));
    }
    let size = std::mem::size_of::<T>();
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

/// Reads what `encode::shortest` writes, rounding once, to `T`.
fn parse_float<T: Float>(s: &str) -> Option<T> {
    if T::NAME == "f32" {
        s.parse::<f32>().ok().map(|v| T::of(f64::from(v)))
    } else {
        s.parse::<f64>().ok().map(T::of)
    }
}
