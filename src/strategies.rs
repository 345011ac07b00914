//! [proptest](mod@proptest) strategies for property-testing gradients: random matrices, batches
//! of inputs with matching targets, and small random models (the `proptest` feature).
//!
//! With these, checking your own layer against finite differences on many random inputs takes a
//! few lines: generate its parameters, an input batch and an upstream delta, and hand them to
//! [`gradcheck::check_layer`](crate::gradcheck::check_layer):
//!
//! ```
//! use backprop::layer::{Param, ParamMut};
//! use backprop::prelude::*;
//! use backprop::strategies;
//! use proptest::prelude::*;
//!
//! /// A user's layer: `y = x * scale + shift`, one scale and shift per column.
//! #[derive(Debug, Clone)]
//! struct Affine {
//!     scale: Matrix<f64>,
//!     shift: Matrix<f64>,
//!     d_scale: Matrix<f64>,
//!     d_shift: Matrix<f64>,
//! }
//!
//! impl Layer<f64> for Affine {
//!     fn name(&self) -> &str { "Affine" }
//!     fn input_size(&self) -> usize { self.scale.ncols() }
//!     fn output_size(&self) -> usize { self.scale.ncols() }
//!     fn forward(&self, input: MatrixView<'_, f64>, mut output: MatrixViewMut<'_, f64>) {
//!         for (r, c) in (0..input.nrows()).flat_map(|r| (0..input.ncols()).map(move |c| (r, c))) {
//!             output[(r, c)] = input[(r, c)] * self.scale[c] + self.shift[c];
//!         }
//!     }
//!     fn backward(&mut self, input: MatrixView<'_, f64>, delta: MatrixView<'_, f64>,
//!                 grad_input: Option<MatrixViewMut<'_, f64>>) {
//!         for c in 0..input.ncols() {
//!             self.d_scale[c] = input.column(c).dot(&delta.column(c));
//!             self.d_shift[c] = delta.column(c).sum();
//!         }
//!         if let Some(mut g) = grad_input {
//!             for c in 0..delta.ncols() {
//!                 g.column_mut(c).copy_from(&(delta.column(c) * self.scale[c]));
//!             }
//!         }
//!     }
//!     fn param(&self, k: usize) -> Option<Param<'_, f64>> {
//!         let (name, value, grad) = match k {
//!             0 => ("scale", &self.scale, &self.d_scale),
//!             1 => ("shift", &self.shift, &self.d_shift),
//!             _ => return None,
//!         };
//!         Some(Param { name, value, grad })
//!     }
//!     fn param_mut(&mut self, k: usize) -> Option<ParamMut<'_, f64>> {
//!         let (name, value, grad) = match k {
//!             0 => ("scale", &mut self.scale, &mut self.d_scale),
//!             1 => ("shift", &mut self.shift, &mut self.d_shift),
//!             _ => return None,
//!         };
//!         Some(ParamMut { name, value, grad })
//!     }
//! }
//!
//! let width = 3;
//! proptest!(|(scale in strategies::matrix(1, width, -2.0..2.0)?,
//!             shift in strategies::matrix(1, width, -1.0..1.0)?,
//!             input in strategies::matrix(4, width, -1.0..1.0)?,
//!             upstream in strategies::matrix(4, width, -1.0..1.0)?)| {
//!     let (d_scale, d_shift) = (Matrix::zeros(1, width), Matrix::zeros(1, width));
//!     let mut layer = Affine { scale, shift, d_scale, d_shift };
//!     let report = gradcheck::check_layer(&mut layer, &input, &upstream)?;
//!     prop_assert!(report.max_rel() < 1e-7, "{}", report);
//! });
//! # Ok::<(), backprop::Error>(())
//! ```
//!
//! To check a whole model, draw one with [`model`] and a batch for it with
//! [`inputs_and_targets`], both for the same [`Targets`]. Random models with ReLU layers meet
//! kinks often (a ReLU layer whose units are all off for a row gives the next layer
//! pre-activations equal to its bias, which starts at exactly 0), so skip those entries (see
//! [`gradcheck`](crate::gradcheck#kinks)):
//!
//! ```
//! use backprop::gradcheck::{GradCheck, KinkPolicy};
//! use backprop::prelude::*;
//! use backprop::strategies::{self, Targets};
//! use proptest::prelude::*;
//!
//! let targets = Targets::OneHot(3);
//! let check = GradCheck::for_type::<f64>().kinks(KinkPolicy::Skip);
//! proptest!(|(mut model in strategies::model::<f64>(4, 0..=2, 1..=5, targets)?,
//!             (x, y) in strategies::inputs_and_targets::<f64>(1..=6, 4, targets)?)| {
//!     let report = check.model(&mut model, &x, &y)?;
//!     prop_assert!(report.max_rel() < 1e-6, "{}", report);
//! });
//! # Ok::<(), backprop::Error>(())
//! ```
//!
//! Every function checks its arguments and returns [`Error::InvalidParameter`] for a range with
//! nothing in it, so that a mistake shows as an error rather than a panic inside proptest.

use std::ops::{Range, RangeInclusive};

use proptest::prelude::*;

use crate::size::checked_len;
use crate::{
    BinaryCrossEntropy, CategoricalCrossEntropy, Error, Float, Identity, Matrix, Relu, Result,
    Sequential, SequentialBuilder, Sigmoid, Softmax, SquaredError, Tanh,
    activation::{Elu, Gelu, LeakyRelu, Silu, Softplus},
};

/// The targets of a batch, and the output layer and loss a [`model`] gets for them.
///
/// ```
/// use backprop::strategies::Targets;
/// assert_eq!(Targets::Classes(4).width(), 1);   // one column of class indices
/// assert_eq!(Targets::Classes(4).outputs(), 4); // one softmax output per class
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Targets {
    /// `width` values in `[-1, 1)`; the model ends in any built-in activation but Softmax, with
    /// [`SquaredError`].
    Real(usize),
    /// `width` values in `[0, 1)`; the model ends in [`Sigmoid`] with [`BinaryCrossEntropy`].
    Unit(usize),
    /// One-hot rows over this many classes (at least 2); the model ends in [`Softmax`] with
    /// [`CategoricalCrossEntropy`].
    OneHot(usize),
    /// One column of class indices `0..classes` (at least 2 classes); the model ends in
    /// [`Softmax`] with [`CategoricalCrossEntropy`].
    Classes(usize),
}

impl Targets {
    /// Columns of the target matrix.
    pub fn width(&self) -> usize {
        match *self {
            Targets::Classes(_) => 1,
            Targets::Real(w) | Targets::Unit(w) | Targets::OneHot(w) => w,
        }
    }

    /// Outputs of the model's last layer.
    pub fn outputs(&self) -> usize {
        match *self {
            Targets::Real(w) | Targets::Unit(w) | Targets::OneHot(w) | Targets::Classes(w) => w,
        }
    }

    fn validate(&self) -> Result<()> {
        match *self {
            Targets::Real(0) | Targets::Unit(0) => {
                Err(Error::param("target width", 0.0, "must be at least 1"))
            }
            Targets::OneHot(k) | Targets::Classes(k) if k < 2 => Err(Error::param(
                "number of classes",
                k as f64,
                "must be at least 2",
            )),
            _ => Ok(()),
        }
    }

    /// Targets for `rows` rows.
    fn strategy<T: Float>(self, rows: usize) -> BoxedStrategy<Matrix<T>> {
        match self {
            Targets::Real(w) => values(rows, w, -1.0..1.0).boxed(),
            Targets::Unit(w) => values(rows, w, 0.0..1.0).boxed(),
            Targets::OneHot(k) => proptest::collection::vec(0..k, rows)
                .prop_map(move |labels| {
                    Matrix::from_fn(rows, k, |r, c| T::of(f64::from(u8::from(labels[r] == c))))
                })
                .boxed(),
            Targets::Classes(k) => proptest::collection::vec(0..k, rows)
                .prop_map(move |labels| Matrix::from_fn(rows, 1, |r, _| T::of(labels[r] as f64)))
                .boxed(),
        }
    }
}

/// `rows x cols` matrices of values drawn uniformly from `range`.
///
/// ```
/// use backprop::strategies;
/// use proptest::prelude::*;
///
/// proptest!(|(m in strategies::matrix::<f32>(2, 3, -0.5..0.5)?)| {
///     prop_assert_eq!(m.shape(), (2, 3));
///     prop_assert!(m.iter().all(|v| (-0.5..=0.5).contains(v)));
/// });
/// assert!(strategies::matrix::<f64>(2, 3, 1.0..1.0).is_err()); // nothing in the range
/// # Ok::<(), backprop::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::InvalidParameter`] unless `range` is finite with `start < end`; [`Error::TooLarge`]
/// for a size that cannot be allocated.
pub fn matrix<T: Float>(
    rows: usize,
    cols: usize,
    range: Range<f64>,
) -> Result<impl Strategy<Value = Matrix<T>>> {
    if !(range.start.is_finite() && range.end.is_finite() && range.start < range.end) {
        return Err(Error::param(
            "matrix value range start",
            range.start,
            "must be finite and below a finite end",
        ));
    }
    checked_len::<f64>("matrix", rows, cols)?;
    Ok(values(rows, cols, range))
}

/// [`matrix`] without the checks.
fn values<T: Float>(
    rows: usize,
    cols: usize,
    range: Range<f64>,
) -> impl Strategy<Value = Matrix<T>> {
    proptest::collection::vec(range, rows * cols)
        .prop_map(move |v| Matrix::from_fn(rows, cols, |r, c| T::of(v[r * cols + c])))
}

/// A batch of `rows` rows (drawn from the range): inputs in `[-1, 1)`, `inputs` wide, and
/// targets as `targets` says.
///
/// ```
/// use backprop::strategies::{self, Targets};
/// use proptest::prelude::*;
///
/// proptest!(|((x, y) in strategies::inputs_and_targets::<f64>(1..=8, 3, Targets::Classes(4))?)| {
///     prop_assert_eq!(x.nrows(), y.nrows());
///     prop_assert_eq!((x.ncols(), y.ncols()), (3, 1));
///     prop_assert!(y.iter().all(|&c| c == c.round() && (0.0..4.0).contains(&c)));
/// });
/// # Ok::<(), backprop::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::InvalidParameter`] for a row range outside `1..` or empty, no inputs, a target width
/// of 0 or fewer than 2 classes; [`Error::TooLarge`] for sizes that cannot be allocated.
pub fn inputs_and_targets<T: Float>(
    rows: RangeInclusive<usize>,
    inputs: usize,
    targets: Targets,
) -> Result<impl Strategy<Value = (Matrix<T>, Matrix<T>)>> {
    let (lo, hi) = (*rows.start(), *rows.end());
    if lo == 0 || lo > hi {
        return Err(Error::param(
            "batch rows start",
            lo as f64,
            "must be at least 1 and at most the end of the range",
        ));
    }
    at_least_one("number of inputs", inputs)?;
    targets.validate()?;
    checked_len::<f64>("inputs", hi, inputs)?;
    checked_len::<f64>("targets", hi, targets.outputs())?;
    Ok((lo..=hi).prop_flat_map(move |n| (values(n, inputs, -1.0..1.0), targets.strategy(n))))
}

/// Small random models: `inputs` wide, with a number of hidden [`Dense`](crate::Dense) layers
/// from `hidden`, each with a width from `widths`, one of the built-in activations and a bias or
/// not, then the output layer and loss that `targets` calls for; initialised from a random seed.
///
/// ```
/// use backprop::strategies::{self, Targets};
/// use proptest::prelude::*;
///
/// proptest!(|(model in strategies::model::<f32>(3, 1..=2, 2..=4, Targets::Unit(2))?)| {
///     prop_assert!((2..=3).contains(&model.len()));
///     prop_assert_eq!(model.output_size(), 2);
/// });
/// # Ok::<(), backprop::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::InvalidParameter`] for no inputs, an empty range, a width range that allows 0, a
/// target width of 0 or fewer than 2 classes.
pub fn model<T: Float>(
    inputs: usize,
    hidden: RangeInclusive<usize>,
    widths: RangeInclusive<usize>,
    targets: Targets,
) -> Result<impl Strategy<Value = Sequential<T>>> {
    at_least_one("number of inputs", inputs)?;
    if hidden.is_empty() {
        return Err(Error::param(
            "hidden layers start",
            *hidden.start() as f64,
            "must be at most the end of the range",
        ));
    }
    if *widths.start() == 0 || widths.is_empty() {
        return Err(Error::param(
            "layer widths start",
            *widths.start() as f64,
            "must be at least 1 and at most the end of the range",
        ));
    }
    targets.validate()?;
    let layer = (widths, activation(), any::<bool>());
    let layers = proptest::collection::vec(layer, hidden);
    let head = (activation(), any::<bool>(), any::<u32>());
    Ok(
        (layers, head).prop_filter_map("the model builds", move |(layers, (out, bias, seed))| {
            let mut b = Sequential::<T>::builder(inputs).seed(seed);
            for (width, f, bias) in layers {
                b = f.dense(b.bias(bias), width);
            }
            let b = b.bias(bias);
            // Softmax over a regression's outputs would tie them together: Identity instead.
            let out = if out == Act::Softmax {
                Act::Identity
            } else {
                out
            };
            let b = match targets {
                Targets::Real(w) => out.dense(b, w).loss(SquaredError),
                Targets::Unit(w) => b.dense(w, Sigmoid).loss(BinaryCrossEntropy),
                Targets::OneHot(k) | Targets::Classes(k) => {
                    b.dense(k, Softmax).loss(CategoricalCrossEntropy)
                }
            };
            b.build().ok()
        }),
    )
}

/// The built-in activations a random layer may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    Identity,
    Relu,
    Sigmoid,
    Tanh,
    Softmax,
    LeakyRelu,
    Elu,
    GeluExact,
    GeluTanh,
    Silu,
    Softplus,
}

impl Act {
    /// Adds a dense layer of `width` units with this activation.
    fn dense<T: Float>(self, b: SequentialBuilder<T>, width: usize) -> SequentialBuilder<T> {
        match self {
            Act::Identity => b.dense(width, Identity),
            Act::Relu => b.dense(width, Relu),
            Act::Sigmoid => b.dense(width, Sigmoid),
            Act::Tanh => b.dense(width, Tanh),
            Act::Softmax => b.dense(width, Softmax),
            Act::LeakyRelu => b.dense(width, LeakyRelu::default()),
            Act::Elu => b.dense(width, Elu::default()),
            Act::GeluExact => b.dense(width, Gelu::Exact),
            Act::GeluTanh => b.dense(width, Gelu::Tanh),
            Act::Silu => b.dense(width, Silu),
            Act::Softplus => b.dense(width, Softplus),
        }
    }
}

fn activation() -> impl Strategy<Value = Act> {
    prop_oneof![
        Just(Act::Identity),
        Just(Act::Relu),
        Just(Act::Sigmoid),
        Just(Act::Tanh),
        Just(Act::Softmax),
        Just(Act::LeakyRelu),
        Just(Act::Elu),
        Just(Act::GeluExact),
        Just(Act::GeluTanh),
        Just(Act::Silu),
        Just(Act::Softplus),
    ]
}

fn at_least_one(name: &'static str, n: usize) -> Result<()> {
    if n == 0 {
        return Err(Error::param(name, 0.0, "must be at least 1"));
    }
    Ok(())
}
