//! `backprop`: typed dense neural networks on [nalgebra], whose backpropagation is the delta rule
//! of *Grokking Deep Learning*, chapter 6, made visible, exact and fast.
//!
//! The chapter teaches a network to read streetlights. A layer is a weighted sum followed by an
//! activation; the error at the output is `pred - goal`; each layer's delta is the delta above it
//! sent back through the weights and multiplied by the activation's slope; each weight moves by
//! its input times the delta:
//!
//! ```text
//! layer_1          = relu(layer_0 . weights_0_1)
//! layer_2          = layer_1 . weights_1_2
//! layer_2_delta    = layer_2 - walk_vs_stop
//! layer_1_delta    = layer_2_delta . weights_1_2.T * relu2deriv(layer_1)
//! weights_1_2     -= alpha * layer_1.T . layer_2_delta
//! weights_0_1     -= alpha * layer_0.T . layer_1_delta
//! ```
//!
//! Each line is a piece of this crate: [`Dense`] layers (weights `inputs x outputs`, as in the
//! book) with an [`Activation`], a [`Loss`] that produces the output delta, an [`Optimizer`] that
//! applies the weight delta, and a [`Sequential`] model that runs them in order and lets you read
//! every `layer_i`, `layer_i_delta` and `weight_delta` afterwards. Rows are samples, so one row is
//! stochastic gradient descent and many rows are a (mini-)batch whose weight deltas are averaged.
//! The [`gradcheck`] module proves every gradient against finite differences, for your own layers,
//! activations and losses too.
//!
//! ```
//! use backprop::prelude::*;
//! use nalgebra::DMatrix;
//!
//! // Seed 003, pages 128-129: one iteration of backpropagation.
//! let mut model = Sequential::<f64>::builder(3)
//!     .seed(1)                 // np.random.seed(1)
//!     .init(BookUniform)       // 2*np.random.random((3, hidden_size)) - 1
//!     .bias(false)
//!     .dense(3, Relu)
//!     .dense(1, Identity)
//!     .build()?;
//! let layer_0 = DMatrix::from_row_slice(1, 3, &[1.0, 0.0, 1.0]);
//! let goal = DMatrix::from_element(1, 1, 1.0);
//! model.step(&layer_0, &goal, &mut Sgd::new(0.2)?)?;
//! let layer_2 = model.layer_output(2)?[(0, 0)];
//! assert!((layer_2 - -0.02129555).abs() < 1e-8);          // the book's layer_2
//! let layer_1_delta = model.delta(0)?;
//! assert!((layer_1_delta[(0, 1)] - 0.16505257).abs() < 1e-8);
//! # Ok::<(), backprop::Error>(())
//! ```
#![deny(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod activation;
pub mod book;
pub mod data;
pub mod error;
pub mod float;
pub mod gradcheck;
pub mod init;
#[cfg(feature = "safetensors")]
pub mod io;
// Without saving and loading, `io` is only the careful file reader that the CSV and IDX readers use.
#[cfg(not(feature = "safetensors"))]
#[path = "io/open.rs"]
mod io;
pub mod layer;
mod linalg;
pub mod loss;
pub mod metrics;
pub mod model;
pub mod optim;
pub mod rng;
mod size;
#[cfg(feature = "proptest")]
#[cfg_attr(docsrs, doc(cfg(feature = "proptest")))]
pub mod strategies;
pub mod train;
pub mod validate;

pub use activation::{Activation, Identity, Relu, Sigmoid, Softmax, Tanh};
pub use activation::{Elu, Gelu, LeakyRelu, Silu, Softplus};
pub use error::{Error, Result};
pub use float::Float;
pub use init::{
    BookUniform, Constant, GlorotNormal, GlorotUniform, HeNormal, HeUniform, Initializer, Normal,
    Uniform, Zeros,
};
pub use layer::{Dense, Layer};
pub use loss::{BinaryCrossEntropy, CategoricalCrossEntropy, Loss, Mse, SquaredError};
pub use model::{Sequential, SequentialBuilder};
pub use optim::{
    Adagrad, Adam, AdamW, ClipGradNorm, CosineAnnealingLr, ExponentialLr, LrScheduler, Optimizer,
    OptimizerState, RmsProp, Schedule, Sgd, StepLr,
};
pub use optim::{LinearLr, ReduceLrOnPlateau};
pub use rng::NumpyRng;

/// The `rand` this crate is built on (version 0.10), whose [`Rng`](rand::Rng) trait
/// [`Dataset::shuffle`](data::Dataset::shuffle), [`split`](data::Dataset::split),
/// [`stratified_split`](data::Dataset::stratified_split) and the [`Initializer`]s take. Use its
/// traits and generators (`backprop::rand::rngs::SmallRng`, or [`NumpyRng`]) rather than those of
/// the `rand` your own crate depends on: if that is another major version, its generators do not
/// implement this `Rng`, and the compiler's error does not say that the versions differ.
///
/// ```
/// use backprop::data::Dataset;
/// use backprop::rand::{RngExt, SeedableRng, rngs::SmallRng};
/// use nalgebra::DMatrix;
///
/// let mut rng = SmallRng::seed_from_u64(5);
/// let x = DMatrix::from_fn(10, 2, |_, _| rng.random::<f64>());
/// let data = Dataset::new(x, DMatrix::zeros(10, 1))?;
/// let (train, test) = data.split(0.2, &mut rng)?;
/// assert_eq!((train.len(), test.len()), (8, 2));
/// # Ok::<(), backprop::Error>(())
/// ```
pub use rand;

pub use train::{Control, Descent, EarlyStopping, Epoch, Fit, History};

/// A dynamically sized matrix; rows are samples.
pub type Matrix<T> = nalgebra::DMatrix<T>;
/// A borrowed, possibly strided view of a [`Matrix`] (e.g. a mini-batch of rows).
pub type MatrixView<'a, T> = nalgebra::DMatrixView<'a, T>;
/// A mutable view of a [`Matrix`].
pub type MatrixViewMut<'a, T> = nalgebra::DMatrixViewMut<'a, T>;

/// Everything needed to build, train and check a network: `use backprop::prelude::*;`.
pub mod prelude {
    pub use crate::gradcheck;
    pub use crate::{
        Activation, BinaryCrossEntropy, BookUniform, CategoricalCrossEntropy, Constant, Control,
        Dense, Descent, EarlyStopping, Epoch, Error, Fit, Float, GlorotUniform, History, Identity,
        Initializer, Layer, Loss, Matrix, MatrixView, MatrixViewMut, Mse, NumpyRng, Optimizer,
        Relu, Result, Sequential, SequentialBuilder, Sgd, Sigmoid, Softmax, SquaredError, Tanh,
    };
    pub use crate::{
        Adagrad, Adam, AdamW, GlorotNormal, HeNormal, HeUniform, Normal, OptimizerState, RmsProp,
        Uniform, Zeros,
    };
    pub use crate::{Elu, Gelu, LeakyRelu, Silu, Softplus};
}

/// The README's code blocks, run as doctests so the README stays true.
#[doc = include_str!("../README.md")]
#[cfg(all(doctest, feature = "safetensors", feature = "digits"))]
pub struct ReadmeDoctests;
