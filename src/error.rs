//! The crate's error type.
//!
//! Everything a user can get wrong (shapes, NaN, labels, hyperparameters, files) comes back as an
//! [`Error`] whose variant names what was wrong and where; nothing a user passes in panics.

/// Result alias used by every fallible function of the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong when building, training, checking or saving a network.
///
/// Variants are structured so that a program can react to them (`match` on the layer index, the
/// shapes, the row) and their `Display` text says the same thing in words.
///
/// ```
/// use backprop::prelude::*;
///
/// // A layer that expects 5 inputs after one that gives 4:
/// let err = Sequential::<f64>::builder(3)
///     .dense(4, Relu)
///     .add(Dense::zeros(5, 1)?)
///     .build()
///     .unwrap_err();
/// assert!(matches!(err, Error::LayerShape { layer: 1, expected: 5, actual: 4, .. }));
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A layer's input width does not match the width of what feeds it.
    #[error(
        "layer {layer} ({name}) expects {expected} inputs, but {actual} arrive from the layer before it"
    )]
    LayerShape {
        /// Index of the layer in the model (0 = first).
        layer: usize,
        /// The layer's name, e.g. `Dense`.
        name: String,
        /// Input width the layer expects.
        expected: usize,
        /// Width that arrives from the previous layer (or the model's input width).
        actual: usize,
    },
    /// A matrix has the wrong shape.
    #[error("{what}: expected shape {expected:?} (rows, columns), got {actual:?}")]
    Shape {
        /// What the matrix is, e.g. `"inputs"` or `"weights of layer 0"`.
        what: String,
        /// Expected `(rows, columns)`; a `usize::MAX` entry means "any".
        expected: (usize, usize),
        /// The shape that was given.
        actual: (usize, usize),
    },
    /// Inputs and targets have different numbers of rows.
    #[error("inputs have {inputs} rows but targets have {targets}")]
    RowMismatch {
        /// Rows of the input matrix.
        inputs: usize,
        /// Rows of the target matrix.
        targets: usize,
    },
    /// A value is NaN or infinite.
    #[error("{what} has a non-finite value ({value}) at row {row}, column {col}")]
    NonFinite {
        /// Which matrix, e.g. `"inputs"`.
        what: String,
        /// Row of the offending value.
        row: usize,
        /// Column of the offending value.
        col: usize,
        /// The value, as `f64`.
        value: f64,
    },
    /// A target value a loss cannot accept (e.g. a binary cross-entropy target outside `[0, 1]`).
    #[error("{loss}: invalid target {value} at row {row}, column {col}: {reason}")]
    InvalidTarget {
        /// Name of the loss.
        loss: &'static str,
        /// Row of the offending target.
        row: usize,
        /// Column of the offending target.
        col: usize,
        /// The value, as `f64`.
        value: f64,
        /// Why it is invalid.
        reason: &'static str,
    },
    /// A class label is not an integer in `0..classes`.
    #[error("label {label} at row {row} is not a class index in 0..{classes}")]
    InvalidLabel {
        /// Row of the offending label.
        row: usize,
        /// The label, as `f64`.
        label: f64,
        /// Number of classes.
        classes: usize,
    },
    /// A class name that a [`LabelEncoder`](crate::data::LabelEncoder) was not fitted on.
    #[error("label {label:?} at row {row} is not one of the {classes} known classes")]
    UnknownClass {
        /// Position of the offending label.
        row: usize,
        /// The label as given.
        label: String,
        /// Number of known classes.
        classes: usize,
    },
    /// A model that cannot be right as built: a layer without outputs, or an output layer and a
    /// loss that do not go together; the message says what to use instead.
    #[error("{}{problem} cannot be right: {instead}", layer.map_or(String::new(), |l| format!("layer {l}: ")))]
    Build {
        /// The layer at fault, if one is.
        layer: Option<usize>,
        /// What is wrong, e.g. `"a Softmax output with BinaryCrossEntropy"`.
        problem: String,
        /// What to use instead.
        instead: &'static str,
    },
    /// A data set, batch or model has nothing in it.
    #[error("{what} is empty")]
    Empty {
        /// What is empty.
        what: &'static str,
    },
    /// A hyperparameter or setting is outside its valid range.
    #[error("invalid {name} = {value}: {reason}")]
    InvalidParameter {
        /// Name of the setting, e.g. `"learning rate"`.
        name: &'static str,
        /// The value given, as `f64`.
        value: f64,
        /// What a valid value looks like.
        reason: &'static str,
    },
    /// A layer index is out of range.
    #[error("layer index {index} is out of range: the model has {layers} layers")]
    LayerIndex {
        /// The index asked for.
        index: usize,
        /// Number of layers in the model.
        layers: usize,
    },
    /// A layer has no parameter of that name.
    #[error("layer {layer} has no parameter named {name:?}")]
    NoSuchParameter {
        /// Index of the layer.
        layer: usize,
        /// The parameter name asked for.
        name: String,
    },
    /// A call needs an earlier one first (e.g. `backward` before any `forward`).
    #[error("not ready: {reason}")]
    NotReady {
        /// What is missing.
        reason: &'static str,
    },
    /// Training produced a non-finite loss or gradient, or an update that would leave a non-finite
    /// parameter; the model's parameters are exactly those from before the failing step.
    #[error("training diverged at epoch {epoch}, step {step}: {what}{} became non-finite; the parameters are those from before that step", layer.map_or(String::new(), |l| format!(" of layer {l}")))]
    Diverged {
        /// Epoch (0-based) of the failing step; 0 for [`Sequential::step`](crate::Sequential::step).
        epoch: usize,
        /// Step (0-based, counted within the epoch) that failed; 0 for
        /// [`Sequential::step`](crate::Sequential::step).
        step: usize,
        /// What became non-finite: `"loss"` or `"gradient"` (a parameter's gradient), found before
        /// the optimizer was called; or, for finite gradients, `"parameter"` (a value the
        /// optimizer's update left) or `"optimizer state"` (a buffer such as Adam's
        /// `exp_avg_sq`). In every case the parameters and the optimizer's state, step count
        /// included, are exactly as they were before the step.
        what: &'static str,
        /// The layer whose gradient, parameter or optimizer state became non-finite (`None` for
        /// the loss).
        layer: Option<usize>,
    },
    /// A layer broke the [`Layer`](crate::Layer) contract: it lists more parameters than a layer
    /// may have, or its input or output width changed after the model was built.
    #[error("layer {layer} ({name}) cannot be used: {reason}")]
    InvalidLayer {
        /// Index of the layer in the model.
        layer: usize,
        /// The layer's name.
        name: String,
        /// What it did wrong.
        reason: String,
    },
    /// Reading or writing a file failed.
    #[error("I/O error on {path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// The operating system's message.
        message: String,
    },
    /// A file's contents are not in the expected format.
    #[error("{path}: bad format: {reason}")]
    Format {
        /// The file (or a description of the source).
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A file was written by a newer version of the format than this crate reads.
    #[error(
        "{path}: written in format version {found}, but this version of the crate reads versions up to {supported}; upgrade the crate to load it"
    )]
    FormatVersion {
        /// The file.
        path: String,
        /// The version the file declares.
        found: u64,
        /// The newest version this crate reads.
        supported: u64,
    },
    /// A file holds another float type than the one asked for.
    #[error("{path}: the file holds {found} parameters, but a model of {expected} was asked for")]
    FloatType {
        /// The file.
        path: String,
        /// The float type asked for (`"f32"` or `"f64"`).
        expected: &'static str,
        /// The float type in the file, as written there.
        found: String,
    },
    /// A matrix is too large to allocate: its number of entries overflows `usize`, its bytes exceed
    /// what one allocation may hold (`isize::MAX`), or the allocator refused it.
    #[error("{what}: a {rows} x {cols} matrix is too large to allocate")]
    TooLarge {
        /// What the matrix is, e.g. `"weights of layer 0"`.
        what: String,
        /// Rows asked for.
        rows: usize,
        /// Columns asked for.
        cols: usize,
    },
    /// A model holds a part (layer, activation or loss) that cannot be saved: the crate's own
    /// have a file format, and a layer or activation of one's own needs to describe itself
    /// (`config`) to be saved.
    #[error(
        "cannot save {what}: only the crate's own layers, activations and losses, and layers and activations that describe themselves (config), can be saved"
    )]
    Unsupported {
        /// The part, e.g. `"layer 1 (Dropout)"`.
        what: String,
    },
    /// A saved model holds a layer or activation of one's own that the registry given to the load
    /// does not know: register how to build it (`io::Registry`) and load with
    /// `Sequential::load_with`.
    #[error(
        "{path}: layer {layer} is built with the {what} {name:?}, which is not registered: register how to build it (io::Registry) and load with load_with"
    )]
    NotRegistered {
        /// The file.
        path: String,
        /// The layer that needs it.
        layer: usize,
        /// `"layer"` or `"activation"`.
        what: &'static str,
        /// The name the file gives it.
        name: String,
    },
}

impl Error {
    /// A saved model names a layer or activation that no registration says how to build.
    #[cfg(feature = "safetensors")]
    pub(crate) fn not_registered(path: &str, layer: usize, what: &'static str, name: &str) -> Self {
        Error::NotRegistered {
            path: path.to_string(),
            layer,
            what,
            name: name.to_string(),
        }
    }

    /// Shorthand for [`Error::InvalidParameter`].
    pub(crate) fn param(name: &'static str, value: f64, reason: &'static str) -> Self {
        Error::InvalidParameter {
            name,
            value,
            reason,
        }
    }
}
