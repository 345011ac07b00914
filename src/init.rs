//! Weight initialisers.
//!
//! Every initialiser draws from the generator it is given, filling the `inputs x outputs` matrix
//! in row-major order, as NumPy fills `np.random.random((3, 4))`. With a [`NumpyRng`](crate::NumpyRng)
//! seeded like the book, [`BookUniform`] reproduces the book's weights layer after layer.

use std::fmt::Debug;

use rand::Rng;

use crate::rng::numpy_random;
use crate::{Float, Matrix};

/// Produces the initial weights (and bias) of a layer from `fan_in` inputs to `fan_out` outputs.
pub trait Initializer<T: Float>: Debug + Send + Sync {
    /// The `fan_in x fan_out` weight matrix.
    fn weights(&self, fan_in: usize, fan_out: usize, rng: &mut dyn Rng) -> Matrix<T>;

    /// The `1 x fan_out` bias. Zeros unless the initialiser says otherwise.
    fn bias(&self, fan_out: usize, rng: &mut dyn Rng) -> Matrix<T> {
        let _ = rng;
        Matrix::zeros(1, fan_out)
    }
}

/// Fills a matrix in row-major order from `draw`.
fn row_major<T: Float>(rows: usize, cols: usize, mut draw: impl FnMut() -> f64) -> Matrix<T> {
    let v: Vec<T> = (0..rows * cols).map(|_| T::of(draw())).collect();
    Matrix::from_row_slice(rows, cols, &v)
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
    fn weights(&self, fan_in: usize, fan_out: usize, rng: &mut dyn Rng) -> Matrix<T> {
        row_major(fan_in, fan_out, || 2.0 * numpy_random(rng) - 1.0)
    }
}

/// Glorot (Xavier) uniform, Keras's default for dense layers: `U(-a, a)`,
/// `a = sqrt(6 / (fan_in + fan_out))`; zero bias.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GlorotUniform;

impl<T: Float> Initializer<T> for GlorotUniform {
    fn weights(&self, fan_in: usize, fan_out: usize, rng: &mut dyn Rng) -> Matrix<T> {
        let a = (6.0 / (fan_in + fan_out).max(1) as f64).sqrt();
        row_major(fan_in, fan_out, || -a + 2.0 * a * numpy_random(rng))
    }
}

/// Every weight equal to one value (zero bias).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Constant(pub f64);

impl<T: Float> Initializer<T> for Constant {
    fn weights(&self, fan_in: usize, fan_out: usize, _rng: &mut dyn Rng) -> Matrix<T> {
        Matrix::from_element(fan_in, fan_out, T::of(self.0))
    }
}
