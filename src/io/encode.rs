//! Encoding: a model, and optionally an optimizer's state, as the bytes of a safetensors file.

use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::fmt::Display;

use safetensors::tensor::TensorView;

use super::checksum::{self, checksum};
use super::{
    BYTES, CUSTOM, FORMAT, MODEL_VERSION, OPTIMIZER_VERSION, STATE, STATE_PREFIX, SavedOptimizer,
    dtype_of, format_error, is_buffer_name,
};
use crate::activation::{Config, builtin, is_builtin};
use crate::layer::Dropout;
use crate::validate::check_finite;
use crate::{
    Activation, BinaryCrossEntropy, CategoricalCrossEntropy, Dense, Error, Float, Layer, Loss,
    Matrix, Mse, Result, Sequential, SquaredError,
};

/// The string metadata of a file being written.
type Metadata = HashMap<String, String>;

/// The tensors of a file being written: (name, shape, little-endian bytes), row-major as
/// safetensors and numpy expect.
type Tensors = Vec<(String, Vec<usize>, Vec<u8>)>;

/// The model's part of a saved file, plus the optimizer state if `opt` is given.
pub(super) fn encode<T: Float>(
    model: &Sequential<T>,
    opt: Option<&SavedOptimizer<T>>,
) -> Result<Vec<u8>> {
    let mut meta = header(model, opt.is_some())?;
    let mut tensors = Tensors::new();
    for i in 0..model.len() {
        encode_layer(model, i, &mut meta, &mut tensors)?;
    }
    if let Some(opt) = opt {
        encode_optimizer(model, opt, &mut meta, &mut tensors)?;
    }
    serialize::<T>(&tensors, meta)
}

/// The metadata that describes the whole file and model: format, version, float type, input
/// width, number of layers and loss.
fn header<T: Float>(model: &Sequential<T>, with_optimizer: bool) -> Result<Metadata> {
    let mut meta = Metadata::new();
    let mut put = |k: String, v: String| {
        meta.insert(k, v);
    };
    put("format".into(), FORMAT.into());
    let version = if with_optimizer {
        OPTIMIZER_VERSION
    } else {
        MODEL_VERSION
    };
    put("format_version".into(), version.to_string());
    put("dtype".into(), T::NAME.into());
    put("inputs".into(), model.input_size().to_string());
    put("layers".into(), model.len().to_string());
    put("loss".into(), loss_name(model.loss_fn())?.into());
    Ok(meta)
}

/// Adds layer `i`'s metadata and tensors; a layer that is not one of the crate's is unsupported.
fn encode_layer<T: Float>(
    model: &Sequential<T>,
    i: usize,
    meta: &mut Metadata,
    tensors: &mut Tensors,
) -> Result<()> {
    if let Some(dropout) = model.layer_as::<Dropout<T>>(i) {
        let width = dropout.input_size().to_string();
        meta.insert(format!("layer.{i}.kind"), "Dropout".into());
        meta.insert(format!("layer.{i}.inputs"), width.clone());
        meta.insert(format!("layer.{i}.outputs"), width);
        // Rust prints the shortest decimal that parses back to the same f64.
        meta.insert(format!("layer.{i}.rate"), dropout.rate().to_string());
        return Ok(());
    }
    match model.layer_as::<Dense<T>>(i) {
        Some(dense) => encode_dense(i, dense, meta, tensors),
        None => encode_own_layer(i, model.layer(i)?, meta, tensors),
    }
}

/// Adds the metadata and tensors of layer `i`, a layer of one's own that describes itself: its
/// name as its kind, its settings and its parameters.
fn encode_own_layer<T: Float>(
    i: usize,
    layer: &dyn Layer<T>,
    meta: &mut Metadata,
    tensors: &mut Tensors,
) -> Result<()> {
    let kind = layer.name();
    let what = || format!("layer {i} ({kind})");
    let Some(config) = layer.config() else {
        return Err(Error::Unsupported { what: what() });
    };
    if matches!(kind, "Dense" | "Dropout") || kind.is_empty() {
        return Err(unsupported(what(), "its name is empty or the crate's own"));
    }
    put_config(meta, &format!("layer.{i}.config."), &config, what)?;
    meta.insert(format!("layer.{i}.kind"), kind.into());
    meta.insert(format!("layer.{i}.inputs"), layer.input_size().to_string());
    meta.insert(
        format!("layer.{i}.outputs"),
        layer.output_size().to_string(),
    );
    let mut names = HashSet::new();
    for p in (0..).map_while(|k| layer.param(k)) {
        if !is_buffer_name(p.name) || !names.insert(p.name) {
            let reason = format!(
                "parameter {:?} is not a new name of letters, digits and _",
                p.name
            );
            return Err(unsupported(what(), reason));
        }
        check_finite(&format!("layer {i} {}", p.name), p.value.as_view())?;
        let shape = vec![p.value.nrows(), p.value.ncols()];
        tensors.push((
            format!("layer.{i}.{}", p.name),
            shape,
            le_bytes_row_major(p.value),
        ));
    }
    Ok(())
}

/// An [`Error::Unsupported`] for `what`, saying why.
fn unsupported(what: String, why: impl Display) -> Error {
    Error::Unsupported {
        what: format!("{what}: {why}"),
    }
}

/// Writes `config` as metadata keys `{prefix}{key}`, after checking every key's characters.
fn put_config(
    meta: &mut Metadata,
    prefix: &str,
    config: &Config,
    what: impl Fn() -> String,
) -> Result<()> {
    for (key, value) in config.iter() {
        if !is_buffer_name(key) {
            return Err(unsupported(
                what(),
                format!("setting {key:?} is not named with letters, digits and _"),
            ));
        }
        meta.insert(format!("{prefix}{key}"), value.into());
    }
    Ok(())
}

/// Adds dense layer `i`'s metadata and tensors, after checking that its activation is one of the
/// crate's and its parameters are finite.
fn encode_dense<T: Float>(
    i: usize,
    dense: &Dense<T>,
    meta: &mut Metadata,
    tensors: &mut Tensors,
) -> Result<()> {
    let (activation, config) = match dense.activation() {
        Some(f) => describe_activation(i, f)?,
        None => ("Identity", Config::new()),
    };
    let w = dense.weights();
    check_finite(&format!("layer {i} weights"), w.as_view())?;
    if let Some(b) = dense.bias() {
        check_finite(&format!("layer {i} bias"), b.as_view())?;
    }
    meta.insert(format!("layer.{i}.kind"), "Dense".into());
    meta.insert(format!("layer.{i}.inputs"), w.nrows().to_string());
    meta.insert(format!("layer.{i}.outputs"), w.ncols().to_string());
    meta.insert(
        format!("layer.{i}.bias"),
        dense.bias().is_some().to_string(),
    );
    meta.insert(format!("layer.{i}.activation"), activation.into());
    put_config(meta, &format!("layer.{i}.activation."), &config, || {
        format!("the activation of layer {i} ({activation})")
    })?;
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
    Ok(())
}

/// The safetensors file holding `tensors` and `meta`, and the checksum of both.
fn serialize<T: Float>(tensors: &Tensors, mut meta: Metadata) -> Result<Vec<u8>> {
    let dtype = dtype_of::<T>();
    let sum = checksum(
        meta.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        tensors
            .iter()
            .map(|(name, shape, data)| (name.as_str(), dtype, &shape[..], &data[..])),
    );
    meta.insert(checksum::KEY.into(), sum);
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

/// Adds an optimizer's metadata and buffers to a file being written, after checking them against
/// the model. Buffers have their parameter's tensor shape (`[outputs]` for a bias).
fn encode_optimizer<T: Float>(
    model: &Sequential<T>,
    opt: &SavedOptimizer<T>,
    meta: &mut Metadata,
    tensors: &mut Tensors,
) -> Result<()> {
    let lr = opt.learning_rate;
    if !(lr.finite() && lr >= T::zero()) {
        return Err(Error::param(
            "learning rate",
            lr.as_f64(),
            "must be finite and not negative",
        ));
    }
    let params = model.params();
    let shapes: Vec<(usize, usize)> = params.iter().map(|(_, _, m)| m.shape()).collect();
    opt.state.check_shapes(&shapes)?;
    // Buffer names in order of first appearance, and sets that keep the checks linear.
    let mut buffers: Vec<&str> = Vec::new();
    let mut listed: HashSet<&str> = HashSet::new();
    let mut written: HashSet<(usize, &str)> = HashSet::with_capacity(opt.state.tensors.len());
    for t in &opt.state.tensors {
        let what = format!("optimizer buffer {:?} of parameter {}", t.name, t.index);
        if !is_buffer_name(&t.name) {
            return Err(format_error(
                STATE,
                format!("{what}: a name must be ASCII letters, digits and _"),
            ));
        }
        if !written.insert((t.index, t.name.as_str())) {
            return Err(format_error(STATE, format!("{what} appears twice")));
        }
        check_finite(&what, t.value.as_view())?;
        if listed.insert(&t.name) {
            buffers.push(&t.name);
        }
        let (rows, cols) = t.value.shape();
        let shape = if params[t.index].1 == "bias" {
            vec![cols]
        } else {
            vec![rows, cols]
        };
        tensors.push((
            format!("{STATE_PREFIX}{}.{}", t.index, t.name),
            shape,
            le_bytes_row_major(&t.value),
        ));
    }
    meta.insert("optimizer".into(), opt.kind.unwrap_or(CUSTOM).into());
    meta.insert("optimizer.step".into(), opt.state.step.to_string());
    meta.insert("optimizer.learning_rate".into(), shortest(lr));
    meta.insert("optimizer.buffers".into(), buffers.join(","));
    Ok(())
}

/// The name and settings under which layer `i`'s activation `f` is saved: one of the crate's,
/// or one of one's own that describes itself under a name that is not the crate's.
fn describe_activation<T: Float>(
    i: usize,
    f: &dyn Activation<T>,
) -> Result<(&'static str, Config)> {
    let name = f.name();
    let what = || format!("the activation of layer {i} ({name})");
    let Some(config) = f.config() else {
        return Err(unsupported(
            what(),
            "it does not describe itself (Activation::config)",
        ));
    };
    if !is_builtin(f) && (name.is_empty() || builtin::<T>(name, &Config::new()).is_some()) {
        return Err(unsupported(what(), "its name is empty or the crate's own"));
    }
    Ok((name, config))
}

/// The name of one of the crate's own losses; any other is unsupported.
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

/// The shortest decimal that reads back as `v` in `T` (`0.01`, not the `f64` digits of the `f32`
/// nearest to 0.01), with an exponent for very large or small values, as Python's `float()` reads.
fn shortest<T: Float>(v: T) -> String {
    if T::NAME == "f32" {
        format!("{:?}", v.as_f64() as f32)
    } else {
        format!("{:?}", v.as_f64())
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
