//! Activation functions: `f` and its derivative side by side.
//!
//! The derivative is taken from the activation's **output**, as the book's `relu2deriv(layer_1)`
//! does, so a layer never keeps its pre-activation values. `backward` turns a gradient with respect
//! to the output into one with respect to the input, in place:
//!
//! ```text
//! forward:   layer_1 = f(z)                   (z = layer_0 . weights_0_1)
//! backward:  layer_1_delta *= f'(layer_1)     (element-wise; softmax uses its Jacobian)
//! ```
//!
//! Some activations have no derivative that their output determines (GELU, SiLU, Softplus: two
//! inputs can give one output with different slopes). Such an activation says so with
//! [`Activation::needs_input`]; a [`Dense`](crate::Dense) layer then keeps `z` from its training
//! forward pass (in a buffer sized with the others) and `backward` receives `z` instead:
//!
//! ```text
//! backward:  layer_1_delta *= f'(z)           (LeakyRelu, Elu, Gelu, Silu, Softplus)
//! ```

use std::any::Any;
use std::fmt::Debug;

use crate::{Float, MatrixView, MatrixViewMut, linalg};

mod config;
mod from_input;

pub use config::Config;
pub use from_input::{Elu, Gelu, LeakyRelu, Silu, Softplus};
#[cfg(feature = "safetensors")]
pub(crate) use from_input::{builtin, is_builtin};

/// An activation function applied to a layer's pre-activation values.
///
/// Implement it for your own activation; the gradient checker
/// ([`gradcheck::check_activation`](crate::gradcheck::check_activation)) verifies it.
///
/// ```
/// use backprop::prelude::*;
/// use nalgebra::DMatrix;
///
/// /// Leaky ReLU with slope 0.1 below zero.
/// #[derive(Debug, Clone)]
/// struct Leaky;
/// impl<T: Float> Activation<T> for Leaky {
///     fn name(&self) -> &'static str { "Leaky" }
///     fn forward(&self, mut z: MatrixViewMut<'_, T>) {
///         z.apply(|x| if *x < T::zero() { *x *= T::of(0.1) });
///     }
///     fn backward(&self, output: MatrixView<'_, T>, mut delta: MatrixViewMut<'_, T>) {
///         delta.zip_apply(&output, |d, a| if a < T::zero() { *d *= T::of(0.1) });
///     }
/// }
///
/// let z = DMatrix::from_row_slice(1, 3, &[-1.0, 0.5, 2.0]);
/// let report = gradcheck::check_activation(&Leaky, &z, &DMatrix::repeat(1, 3, 1.0)).unwrap();
/// assert!(report.max_rel() < 1e-6);
/// ```
pub trait Activation<T: Float>: CloneActivation<T> + Any + Debug + Send + Sync {
    /// Short name, e.g. `"Relu"`.
    fn name(&self) -> &'static str;

    /// `a = f(z)`, in place, for every row of `z`.
    fn forward(&self, z: MatrixViewMut<'_, T>);

    /// `delta = dL/da` on entry, `dL/dz` on return, computed from `from`: the output `a = f(z)`,
    /// or the input `z` if [`needs_input`](Activation::needs_input) says so.
    fn backward(&self, from: MatrixView<'_, T>, delta: MatrixViewMut<'_, T>);

    /// Whether [`backward`](Activation::backward) reads the input `z` instead of the output
    /// (`false`, the book's way, unless overridden). A layer keeps `z` only for an activation that
    /// asks for it, so the others cost nothing more.
    ///
    /// ```
    /// use backprop::prelude::*;
    /// assert!(!<Relu as Activation<f64>>::needs_input(&Relu));  // relu2deriv(layer_1)
    /// assert!(<Silu as Activation<f64>>::needs_input(&Silu));   // f'(z) = s(z) (1 + z (1 - s(z)))
    /// ```
    fn needs_input(&self) -> bool {
        false
    }

    /// The settings a saved model keeps to build this activation again, or `None` (the default)
    /// if it cannot be saved. An activation of one's own that returns `Some` is saved under its
    /// [`name`](Activation::name) and loads with an `io::Registry` that knows that
    /// name; the crate's own return their parameters (e.g. `LeakyRelu`'s `slope`).
    ///
    /// ```
    /// use backprop::prelude::*;
    /// let leaky = LeakyRelu::new(0.2)?;
    /// let config = <LeakyRelu as Activation<f32>>::config(&leaky).unwrap();
    /// assert_eq!(config.get("slope")?, "0.2");
    /// # Ok::<(), backprop::Error>(())
    /// ```
    fn config(&self) -> Option<Config> {
        None
    }
}

/// Clones a boxed activation, so that layers and models clone; implemented for every activation
/// that is [`Clone`].
pub trait CloneActivation<T: Float> {
    /// A boxed copy.
    fn clone_box(&self) -> Box<dyn Activation<T>>;
}

impl<T: Float, A: Activation<T> + Clone> CloneActivation<T> for A {
    fn clone_box(&self) -> Box<dyn Activation<T>> {
        Box::new(self.clone())
    }
}

impl<T: Float> Clone for Box<dyn Activation<T>> {
    fn clone(&self) -> Self {
        self.as_ref().clone_box()
    }
}

/// `f(z) = z`; `f'(a) = 1`. A linear layer, like the book's `layer_2`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Identity;

impl<T: Float> Activation<T> for Identity {
    fn name(&self) -> &'static str {
        "Identity"
    }
    fn config(&self) -> Option<Config> {
        Some(Config::new())
    }
    fn forward(&self, _z: MatrixViewMut<'_, T>) {}
    fn backward(&self, _output: MatrixView<'_, T>, _delta: MatrixViewMut<'_, T>) {}
}

/// Rectified linear unit, the book's `relu`.
///
/// ```text
/// relu(x)          = (x > 0) * x
/// relu2deriv(out)  = out > 0
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Relu;

impl<T: Float> Activation<T> for Relu {
    fn name(&self) -> &'static str {
        "Relu"
    }
    fn config(&self) -> Option<Config> {
        Some(Config::new())
    }
    fn forward(&self, mut z: MatrixViewMut<'_, T>) {
        linalg::apply(&mut z, |x| *x = Elementwise::Relu.forward(*x));
    }
    fn backward(&self, output: MatrixView<'_, T>, mut delta: MatrixViewMut<'_, T>) {
        linalg::zip_apply(&mut delta, &output, |d, a| {
            *d = Elementwise::Relu.backward(*d, a)
        });
    }
}

/// numpy's boolean-to-float conversion: 1 for `true`, 0 for `false`.
#[inline(always)]
fn mask<T: Float>(b: bool) -> T {
    if b { T::one() } else { T::zero() }
}

/// Logistic sigmoid, computed without overflow for inputs of any magnitude.
///
/// ```text
/// sigmoid(z)        = 1 / (1 + exp(-z))     (as exp(z) / (1 + exp(z)) for z < 0)
/// sigmoid2deriv(a)  = a * (1 - a)
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sigmoid;

impl Sigmoid {
    /// The sigmoid of one value.
    ///
    /// ```
    /// use backprop::Sigmoid;
    /// assert_eq!(Sigmoid::of(0.0_f64), 0.5);
    /// assert_eq!(Sigmoid::of(-1e4_f64), 0.0);
    /// assert_eq!(Sigmoid::of(1e4_f32), 1.0);
    /// ```
    #[inline]
    pub fn of<T: Float>(z: T) -> T {
        if z >= T::zero() {
            T::one() / (T::one() + (-z).exp())
        } else {
            let e = z.exp();
            e / (T::one() + e)
        }
    }
}

impl<T: Float> Activation<T> for Sigmoid {
    fn name(&self) -> &'static str {
        "Sigmoid"
    }
    fn config(&self) -> Option<Config> {
        Some(Config::new())
    }
    fn forward(&self, mut z: MatrixViewMut<'_, T>) {
        linalg::apply(&mut z, |x| *x = Elementwise::Sigmoid.forward(*x));
    }
    fn backward(&self, output: MatrixView<'_, T>, mut delta: MatrixViewMut<'_, T>) {
        linalg::zip_apply(&mut delta, &output, |d, a| {
            *d = Elementwise::Sigmoid.backward(*d, a)
        });
    }
}

/// Hyperbolic tangent.
///
/// ```text
/// tanh(z)        = (exp(z) - exp(-z)) / (exp(z) + exp(-z))
/// tanh2deriv(a)  = 1 - a^2
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tanh;

impl<T: Float> Activation<T> for Tanh {
    fn name(&self) -> &'static str {
        "Tanh"
    }
    fn config(&self) -> Option<Config> {
        Some(Config::new())
    }
    fn forward(&self, mut z: MatrixViewMut<'_, T>) {
        linalg::apply(&mut z, |x| *x = Elementwise::Tanh.forward(*x));
    }
    fn backward(&self, output: MatrixView<'_, T>, mut delta: MatrixViewMut<'_, T>) {
        linalg::zip_apply(&mut delta, &output, |d, a| {
            *d = Elementwise::Tanh.backward(*d, a)
        });
    }
}

/// The built-in activations that act on each value alone: each one's `f` and `f'` side by side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Elementwise {
    Relu,
    Sigmoid,
    Tanh,
}

impl Elementwise {
    /// `f(z)`.
    #[inline(always)]
    pub(crate) fn forward<T: Float>(self, z: T) -> T {
        match self {
            // relu(x) = (x > 0) * x, as numpy computes it: the mask is 1 or 0 and the product
            // keeps numpy's -0.0 and NaN bit for bit. Without a branch the loop vectorises.
            Elementwise::Relu => z * mask(z > T::zero()),
            Elementwise::Sigmoid => Sigmoid::of(z),
            Elementwise::Tanh => z.tanh(),
        }
    }

    /// `delta * f'(z)`, with `f'` taken from the output `a = f(z)`.
    #[inline(always)]
    pub(crate) fn backward<T: Float>(self, delta: T, a: T) -> T {
        match self {
            // relu2deriv(output) = output > 0 (false for NaN, as in numpy)
            Elementwise::Relu => delta * mask(a > T::zero()),
            // output * (1 - output)
            Elementwise::Sigmoid => delta * (a * (T::one() - a)),
            // 1 - output^2
            Elementwise::Tanh => delta * (T::one() - a * a),
        }
    }
}

/// Softmax over each row: the outputs of a row are positive and sum to 1.
///
/// The row maximum is subtracted before `exp`, so no input magnitude overflows. The backward pass
/// is the exact Jacobian-vector product:
///
/// ```text
/// softmax(z)_j  = exp(z_j - max z) / sum_k exp(z_k - max z)
/// dL/dz_j       = a_j * (dL/da_j - sum_k dL/da_k * a_k)
/// ```
///
/// Paired with [`CategoricalCrossEntropy`](crate::CategoricalCrossEntropy) the output delta is
/// fused to `(pred - goal) / batch`, which stays exact when probabilities saturate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Softmax;

impl<T: Float> Activation<T> for Softmax {
    fn name(&self) -> &'static str {
        "Softmax"
    }
    fn config(&self) -> Option<Config> {
        Some(Config::new())
    }
    fn forward(&self, mut z: MatrixViewMut<'_, T>) {
        // With an `exp` that vectorizes (within one ulp of the C library's).
        linalg::vectorized(|| softmax_rows(&mut z));
    }
    fn backward(&self, output: MatrixView<'_, T>, mut delta: MatrixViewMut<'_, T>) {
        // dL/dz_j = a_j * (dL/da_j - sum_k dL/da_k * a_k), by blocks of rows as in `forward`.
        let (rows, cols) = delta.shape();
        let mut r0 = 0;
        while r0 < rows {
            let n = ROW_BLOCK.min(rows - r0);
            let mut d = delta.rows_mut(r0, n);
            let a = output.rows(r0, n);
            let mut dot = [T::zero(); ROW_BLOCK];
            for j in 0..cols {
                let (dj, aj) = (linalg::column_mut(&mut d, j), linalg::column(&a, j));
                for ((s, &dv), &av) in dot.iter_mut().zip(dj.iter()).zip(aj) {
                    *s += dv * av;
                }
            }
            for j in 0..cols {
                let (dj, aj) = (linalg::column_mut(&mut d, j), linalg::column(&a, j));
                for ((dv, &av), &s) in dj.iter_mut().zip(aj).zip(&dot) {
                    *dv = av * (*dv - s);
                }
            }
            r0 += n;
        }
    }
}

/// Softmax of each row of `z` in place. Rows are strided in a column-major view, so blocks of
/// rows are processed column by column, with each row's running max and sum on the stack.
#[inline(always)]
fn softmax_rows<T: Float>(z: &mut MatrixViewMut<'_, T>) {
    let (rows, cols) = z.shape();
    let mut r0 = 0;
    while r0 < rows {
        let n = ROW_BLOCK.min(rows - r0);
        let mut block = z.rows_mut(r0, n);
        let mut max = [T::of(f64::NEG_INFINITY); ROW_BLOCK];
        let mut sum = [T::zero(); ROW_BLOCK];
        for j in 0..cols {
            for (m, &x) in max.iter_mut().zip(linalg::column_mut(&mut block, j).iter()) {
                if x > *m {
                    *m = x;
                }
            }
        }
        for j in 0..cols {
            let col = linalg::column_mut(&mut block, j);
            for ((x, &m), s) in col.iter_mut().zip(&max).zip(&mut sum) {
                *x = (*x - m).exp_vec();
                *s += *x;
            }
        }
        for j in 0..cols {
            let col = linalg::column_mut(&mut block, j);
            for (x, &s) in col.iter_mut().zip(&sum) {
                *x /= s;
            }
        }
        r0 += n;
    }
}

/// Rows handled together by [`Softmax`] (its per-row sums live on the stack).
const ROW_BLOCK: usize = 64;

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::DMatrix;

    #[test]
    fn sigmoid_and_softmax_are_finite_for_huge_inputs() {
        let mut z = DMatrix::from_row_slice(2, 3, &[1e4, -1e4, 0.0, -1e4, -1e4, 1e4_f64]);
        Sigmoid.forward(z.as_view_mut());
        assert!(z.iter().all(|x| x.is_finite()));
        assert_eq!(z[(0, 0)], 1.0);
        assert_eq!(z[(0, 1)], 0.0);
        let mut z = DMatrix::from_row_slice(2, 3, &[1e4, -1e4, 0.0, -1e4, -1e4, 1e4_f32]);
        Softmax.forward(z.as_view_mut());
        assert!(z.iter().all(|x| x.is_finite()));
        assert_eq!(z[(0, 0)], 1.0);
        assert_eq!(z[(1, 2)], 1.0);
    }

    #[test]
    fn softmax_rows_sum_to_one() {
        // Independent: softmax([1, 2, 3]) = exp([1,2,3]) / sum(exp([1,2,3])).
        let mut z = DMatrix::from_row_slice(1, 3, &[1.0, 2.0, 3.0_f64]);
        Softmax.forward(z.as_view_mut());
        let e: Vec<f64> = [1.0_f64, 2.0, 3.0].iter().map(|x| x.exp()).collect();
        let s: f64 = e.iter().sum();
        for j in 0..3 {
            approx::assert_relative_eq!(z[(0, j)], e[j] / s, epsilon = 1e-15);
        }
    }
}
