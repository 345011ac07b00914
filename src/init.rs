//! Weight initialisers.
//!
//! Every initialiser draws from the generator it is given, filling the `inputs x outputs` matrix
//! in row-major order, as NumPy fills `np.random.random((3, 4))`. With a [`NumpyRng`](crate::NumpyRng)
//! seeded like the book, [`BookUniform`] reproduces the book's weights layer after layer, and
//! [`Uniform`] and [`Normal`] reproduce `np.random.uniform` and `np.random.normal`.
//!
//! | initialiser | weights | as |
//! | --- | --- | --- |
//! | [`Zeros`], [`Constant`] | one value | `torch.nn.init.zeros_`, `constant_` |
//! | [`Uniform`] | `U(lo, hi)` | `np.random.uniform`, `torch.nn.init.uniform_` |
//! | [`Normal`] | `N(mean, std^2)` | `np.random.normal`, `torch.nn.init.normal_` |
//! | [`BookUniform`] | `U(-1, 1)` | the book's `2*np.random.random((m, n)) - 1` |
//! | [`GlorotUniform`] | `U(-a, a)`, `a = sqrt(6 / (fan_in + fan_out))` | `xavier_uniform_`, Keras `glorot_uniform` |
//! | [`GlorotNormal`] | `N(0, 2 / (fan_in + fan_out))` | `xavier_normal_` |
//! | [`HeUniform`] | `U(-a, a)`, `a = sqrt(6 / fan_in)` | `kaiming_uniform_(nonlinearity="relu")`, Keras `he_uniform` |
//! | [`HeNormal`] | `N(0, 2 / fan_in)` | `kaiming_normal_(nonlinearity="relu")` |
//!
//! `fan_in` is the number of inputs of the layer (the rows of its weights) and `fan_out` the number
//! of outputs (the columns); every bias starts at zero. To start from given weights, use
//! [`Dense::from_weights`](crate::Dense::from_weights).

use std::fmt::Debug;

use rand::Rng;

use crate::rng::numpy_random;
use crate::size;
use crate::{Error, Float, Matrix, Result};

/// Produces the initial weights (and bias) of a layer from `fan_in` inputs to `fan_out` outputs.
///
/// The generator is any [`backprop::rand::Rng`](crate::rand): a [`NumpyRng`](crate::NumpyRng), or
/// one from the `rand` that backprop re-exports (another version's generators do not implement its
/// trait).
///
/// Sizes come from users (the builder's [`dense`](crate::SequentialBuilder::dense)), so an
/// initialiser answers a size it cannot allocate with an error rather than a panic.
///
/// ```
/// use backprop::prelude::*;
///
/// let w: Matrix<f64> = GlorotUniform.weights(3, 4, &mut NumpyRng::new(1))?;
/// assert_eq!(w.shape(), (3, 4));
/// let too_large = <GlorotUniform as Initializer<f64>>::weights(&GlorotUniform, usize::MAX, 2, &mut NumpyRng::new(1));
/// assert!(matches!(too_large, Err(Error::TooLarge { rows: usize::MAX, cols: 2, .. })));
/// # Ok::<(), Error>(())
/// ```
pub trait Initializer<T: Float>: Debug + Send + Sync {
    /// The `fan_in x fan_out` weight matrix.
    ///
    /// # Errors
    ///
    /// [`Error::TooLarge`] if a `fan_in x fan_out` matrix cannot be allocated (the crate's
    /// initialisers check this before drawing anything).
    fn weights(&self, fan_in: usize, fan_out: usize, rng: &mut dyn Rng) -> Result<Matrix<T>>;

    /// The `1 x fan_out` bias. Zeros unless the initialiser says otherwise.
    ///
    /// # Errors
    ///
    /// [`Error::TooLarge`] if a `1 x fan_out` matrix cannot be allocated.
    fn bias(&self, fan_out: usize, rng: &mut dyn Rng) -> Result<Matrix<T>> {
        let _ = rng;
        size::zeros(BIAS, 1, fan_out)
    }
}

/// What errors call the matrices of an initialiser.
const WEIGHTS: &str = "initial weights";
const BIAS: &str = "initial bias";

/// Fills a `rows x cols` weight matrix in row-major order from `draw`.
fn row_major<T: Float>(
    rows: usize,
    cols: usize,
    mut draw: impl FnMut() -> f64,
) -> Result<Matrix<T>> {
    size::row_major(WEIGHTS, rows, cols, || T::of(draw()))
}

/// `fan_in + fan_out`, at least 1, in `f64` (where the sum cannot overflow).
fn fan_sum(fan_in: usize, fan_out: usize) -> f64 {
    (fan_in as f64 + fan_out as f64).max(1.0)
}

/// The book's `2 * np.random.random((fan_in, fan_out)) - 1`: uniform in `[-1, 1)`.
///
/// ```
/// use backprop::prelude::*;
/// // np.random.seed(1); weights_0_1 = 2*np.random.random((3,3)) - 1 (seed 003, page 128)
/// let model = Sequential::<f64>::builder(3)
///     .rng(NumpyRng::new(1))
///     .init(BookUniform)
///     .bias(false)
///     .dense(3, Relu)
///     .dense(1, Identity)
///     .build()
///     .unwrap();
/// assert!((model.weights(0).unwrap()[(0, 0)] - -0.16595599).abs() < 1e-8);
/// assert!((model.weights(1).unwrap()[(2, 0)] - 0.370439).abs() < 1e-8);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BookUniform;

impl<T: Float> Initializer<T> for BookUniform {
    fn weights(&self, fan_in: usize, fan_out: usize, rng: &mut dyn Rng) -> Result<Matrix<T>> {
        row_major(fan_in, fan_out, || 2.0 * numpy_random(rng) - 1.0)
    }
}

/// Glorot (Xavier) uniform, Keras's default for dense layers and PyTorch's `xavier_uniform_`
/// (gain 1); zero bias.
///
/// ```text
/// weights ~ U(-a, a),   a = sqrt(6 / (fan_in + fan_out))
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GlorotUniform;

impl<T: Float> Initializer<T> for GlorotUniform {
    fn weights(&self, fan_in: usize, fan_out: usize, rng: &mut dyn Rng) -> Result<Matrix<T>> {
        let a = (6.0 / fan_sum(fan_in, fan_out)).sqrt();
        symmetric_uniform(fan_in, fan_out, a, rng)
    }
}

/// Glorot (Xavier) normal, PyTorch's `xavier_normal_` (gain 1); zero bias.
///
/// ```text
/// weights ~ N(0, std^2),   std = sqrt(2 / (fan_in + fan_out))
/// ```
///
/// Keras's `glorot_normal` draws from a normal truncated at two standard deviations instead.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GlorotNormal;

impl<T: Float> Initializer<T> for GlorotNormal {
    fn weights(&self, fan_in: usize, fan_out: usize, rng: &mut dyn Rng) -> Result<Matrix<T>> {
        let std = (2.0 / fan_sum(fan_in, fan_out)).sqrt();
        normal_matrix(fan_in, fan_out, 0.0, std, rng)
    }
}

/// He (Kaiming) uniform for ReLU layers: PyTorch's `kaiming_uniform_` with `mode="fan_in"` and
/// `nonlinearity="relu"` (gain `sqrt(2)`), the same as Keras's `he_uniform`; zero bias.
///
/// ```text
/// weights ~ U(-a, a),   a = gain * sqrt(3 / fan_in) = sqrt(6 / fan_in)
/// ```
///
/// (PyTorch's `nn.Linear` uses `kaiming_uniform_` with `a = sqrt(5)`, gain `sqrt(1/3)`, for its
/// own default instead.)
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeUniform;

impl<T: Float> Initializer<T> for HeUniform {
    fn weights(&self, fan_in: usize, fan_out: usize, rng: &mut dyn Rng) -> Result<Matrix<T>> {
        let a = (6.0 / fan_in.max(1) as f64).sqrt();
        symmetric_uniform(fan_in, fan_out, a, rng)
    }
}

/// He (Kaiming) normal for ReLU layers: PyTorch's `kaiming_normal_` with `mode="fan_in"` and
/// `nonlinearity="relu"` (gain `sqrt(2)`); zero bias.
///
/// ```text
/// weights ~ N(0, std^2),   std = gain / sqrt(fan_in) = sqrt(2 / fan_in)
/// ```
///
/// Keras's `he_normal` draws from a normal truncated at two standard deviations instead.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeNormal;

impl<T: Float> Initializer<T> for HeNormal {
    fn weights(&self, fan_in: usize, fan_out: usize, rng: &mut dyn Rng) -> Result<Matrix<T>> {
        let std = (2.0 / fan_in.max(1) as f64).sqrt();
        normal_matrix(fan_in, fan_out, 0.0, std, rng)
    }
}

/// Every weight zero (and zero bias), as `torch.nn.init.zeros_`.
///
/// A network whose hidden weights are all equal cannot break the symmetry between its hidden
/// units; zeros suit a single layer or a test.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Zeros;

impl<T: Float> Initializer<T> for Zeros {
    fn weights(&self, fan_in: usize, fan_out: usize, _rng: &mut dyn Rng) -> Result<Matrix<T>> {
        size::zeros(WEIGHTS, fan_in, fan_out)
    }
}

/// Uniform in `[lo, hi)`, drawn as `np.random.uniform(lo, hi, (fan_in, fan_out))` draws; zero
/// bias.
///
/// ```text
/// weight = lo + (hi - lo) * random()          random() in [0, 1), NumPy's 53-bit formula
/// ```
///
/// ```
/// use backprop::prelude::*;
/// use backprop::init::Uniform;
///
/// // np.random.seed(42); np.random.uniform(-.1, .1, (64, 4))[0, :2]
/// let w: Matrix<f64> = Uniform::new(-0.1, 0.1)?.weights(64, 4, &mut NumpyRng::new(42))?;
/// assert!((w[(0, 0)] - -0.02509198).abs() < 1e-8);
/// assert!((w[(0, 1)] - 0.09014286).abs() < 1e-8);
/// assert!(Uniform::new(1.0, 1.0).is_err());
/// # Ok::<(), backprop::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Uniform {
    lo: f64,
    hi: f64,
}

impl Uniform {
    /// Uniform in `[lo, hi)`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] unless `lo < hi` and `lo`, `hi` and `hi - lo` are finite.
    pub fn new(lo: f64, hi: f64) -> Result<Self> {
        if !lo.is_finite() {
            return Err(Error::param("lo", lo, "must be finite"));
        }
        if !(hi.is_finite() && hi > lo && (hi - lo).is_finite()) {
            return Err(Error::param(
                "hi",
                hi,
                "must be finite, above lo, and hi - lo must be finite",
            ));
        }
        Ok(Uniform { lo, hi })
    }
}

impl<T: Float> Initializer<T> for Uniform {
    fn weights(&self, fan_in: usize, fan_out: usize, rng: &mut dyn Rng) -> Result<Matrix<T>> {
        let (lo, range) = (self.lo, self.hi - self.lo);
        row_major(fan_in, fan_out, || lo + range * numpy_random(rng))
    }
}

/// Normal with mean `mean` and standard deviation `std`, drawn as
/// `np.random.normal(mean, std, (fan_in, fan_out))` draws; zero bias.
///
/// Standard normal values come in pairs from NumPy's legacy polar (Marsaglia) form of the
/// Box-Muller transform, on [NumPy's `random()`](crate::NumpyRng::random):
///
/// ```text
/// repeat: x1 = 2*random() - 1,  x2 = 2*random() - 1,  r2 = x1^2 + x2^2   until 0 < r2 < 1
/// f = sqrt(-2 ln(r2) / r2);     the pair is f*x2, then f*x1
/// weight = mean + std * z
/// ```
///
/// With a fresh [`NumpyRng`](crate::NumpyRng) seeded as `np.random.seed(s)`, one matrix equals
/// `np.random.normal(mean, std, (fan_in, fan_out))`. NumPy keeps the unused half of the last
/// pair for its next call; this initialiser does not, so a second matrix matches NumPy only when
/// the first had an even number of entries.
///
/// ```
/// use backprop::prelude::*;
/// use backprop::init::Normal;
///
/// // np.random.seed(1); np.random.normal(0.5, 2.0, (3, 3))[0]
/// let w: Matrix<f64> = Normal::new(0.5, 2.0)?.weights(3, 3, &mut NumpyRng::new(1))?;
/// assert!((w[(0, 0)] - 3.74869073).abs() < 1e-8);
/// assert!((w[(0, 1)] - -0.72351283).abs() < 1e-8);
/// assert!(Normal::new(0.0, -1.0).is_err());
/// # Ok::<(), backprop::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Normal {
    mean: f64,
    std: f64,
}

impl Normal {
    /// Normal with mean `mean` and standard deviation `std`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] unless `mean` is finite and `std` is finite and not negative.
    pub fn new(mean: f64, std: f64) -> Result<Self> {
        if !mean.is_finite() {
            return Err(Error::param("mean", mean, "must be finite"));
        }
        if !(std.is_finite() && std >= 0.0) {
            return Err(Error::param(
                "standard deviation",
                std,
                "must be finite and not negative",
            ));
        }
        Ok(Normal { mean, std })
    }
}

impl<T: Float> Initializer<T> for Normal {
    fn weights(&self, fan_in: usize, fan_out: usize, rng: &mut dyn Rng) -> Result<Matrix<T>> {
        normal_matrix(fan_in, fan_out, self.mean, self.std, rng)
    }
}

/// A `rows x cols` matrix uniform in `[-a, a)`: `np.random.uniform(-a, a, (rows, cols))`.
fn symmetric_uniform<T: Float>(
    rows: usize,
    cols: usize,
    a: f64,
    rng: &mut dyn Rng,
) -> Result<Matrix<T>> {
    row_major(rows, cols, || -a + 2.0 * a * numpy_random(rng))
}

/// A `rows x cols` matrix of `mean + std * z`, `z` standard normal from NumPy's legacy polar
/// method, in row-major order.
fn normal_matrix<T: Float>(
    rows: usize,
    cols: usize,
    mean: f64,
    std: f64,
    rng: &mut dyn Rng,
) -> Result<Matrix<T>> {
    let mut spare: Option<f64> = None;
    row_major(rows, cols, || {
        let z = spare.take().unwrap_or_else(|| {
            let (x1, x2, r2) = loop {
                let x1 = 2.0 * numpy_random(rng) - 1.0;
                let x2 = 2.0 * numpy_random(rng) - 1.0;
                let r2 = x1 * x1 + x2 * x2;
                if r2 < 1.0 && r2 != 0.0 {
                    break (x1, x2, r2);
                }
            };
            let f = (-2.0 * r2.ln() / r2).sqrt();
            spare = Some(f * x1);
            f * x2
        });
        mean + std * z
    })
}

/// Every weight equal to one value (zero bias).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Constant(pub f64);

impl<T: Float> Initializer<T> for Constant {
    fn weights(&self, fan_in: usize, fan_out: usize, _rng: &mut dyn Rng) -> Result<Matrix<T>> {
        size::filled(WEIGHTS, fan_in, fan_out, T::of(self.0))
    }
}
