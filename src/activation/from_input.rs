//! The activations whose derivative is taken from their input `z` (PyTorch's definitions), and
//! the names under which every built-in activation is saved.
//!
//! Each `f` and `f'` follow the formulas (and the order of operations) of PyTorch's CPU kernels,
//! so that both agree to a few units in the last place; `tests/activations.rs` checks them
//! against values PyTorch computed.

#[cfg(feature = "safetensors")]
use std::any::Any;
use std::f64::consts::{FRAC_1_SQRT_2, FRAC_2_SQRT_PI, SQRT_2};

use super::{Activation, Config};
#[cfg(feature = "safetensors")]
use super::{Identity, Relu, Sigmoid, Softmax, Tanh};
use crate::{Error, Float, MatrixView, MatrixViewMut, Result, linalg};

/// Leaky ReLU, PyTorch's `LeakyReLU(negative_slope)`: a small slope below zero instead of none.
///
/// ```text
/// f(z)  = z     if z > 0,   slope * z  otherwise
/// f'(z) = 1     if z > 0,   slope      otherwise   (slope at 0, as PyTorch)
/// ```
///
/// ```
/// use backprop::prelude::*;
/// use nalgebra::DMatrix;
///
/// let mut z = DMatrix::from_row_slice(1, 3, &[-2.0, 0.0, 3.0]);
/// Activation::<f64>::forward(&LeakyRelu::new(0.1)?, z.as_view_mut());
/// assert_eq!(z.as_slice(), &[-0.2, 0.0, 3.0]);
/// assert_eq!(LeakyRelu::default().slope(), 0.01);           // PyTorch's default
/// assert!(LeakyRelu::new(f64::NAN).is_err());
/// # Ok::<(), backprop::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LeakyRelu {
    slope: f64,
}

impl LeakyRelu {
    /// A leaky ReLU with slope `slope` below zero (any finite value, as PyTorch allows).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] if `slope` is NaN or infinite.
    pub fn new(slope: f64) -> Result<Self> {
        check_finite("slope", slope)?;
        Ok(Self { slope })
    }

    /// The slope below zero.
    pub fn slope(&self) -> f64 {
        self.slope
    }
}

impl Default for LeakyRelu {
    /// Slope 0.01, PyTorch's `negative_slope` default.
    fn default() -> Self {
        Self { slope: 0.01 }
    }
}

impl<T: Float> Activation<T> for LeakyRelu {
    fn name(&self) -> &'static str {
        "LeakyRelu"
    }
    fn forward(&self, mut z: MatrixViewMut<'_, T>) {
        let slope = T::of(self.slope);
        linalg::apply(&mut z, |x| {
            if *x <= T::zero() {
                *x *= slope;
            }
        });
    }
    fn backward(&self, z: MatrixView<'_, T>, mut delta: MatrixViewMut<'_, T>) {
        let slope = T::of(self.slope);
        linalg::zip_apply(&mut delta, &z, |d, z| {
            if z <= T::zero() {
                *d *= slope;
            }
        });
    }
    fn needs_input(&self) -> bool {
        true
    }
    fn config(&self) -> Option<Config> {
        Some(Config::new().with("slope", self.slope))
    }
}

/// Exponential linear unit, PyTorch's `ELU(alpha)`: smooth below zero, saturating at `-alpha`.
///
/// ```text
/// f(z)  = z     if z > 0,   alpha * (exp(z) - 1)  otherwise
/// f'(z) = 1     if z > 0,   alpha * exp(z)        otherwise
/// ```
///
/// ```
/// use backprop::prelude::*;
/// use nalgebra::DMatrix;
///
/// let mut z = DMatrix::from_row_slice(1, 2, &[-1e3, 2.0]);
/// Activation::<f64>::forward(&Elu::default(), z.as_view_mut());
/// assert_eq!(z.as_slice(), &[-1.0, 2.0]);                   // alpha = 1
/// assert_eq!(Elu::new(0.5)?.alpha(), 0.5);
/// assert!(Elu::new(f64::INFINITY).is_err());
/// # Ok::<(), backprop::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Elu {
    alpha: f64,
}

impl Elu {
    /// An ELU that tends to `-alpha` below zero.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] if `alpha` is NaN or infinite.
    pub fn new(alpha: f64) -> Result<Self> {
        check_finite("alpha", alpha)?;
        Ok(Self { alpha })
    }

    /// The value `-alpha` approached far below zero.
    pub fn alpha(&self) -> f64 {
        self.alpha
    }
}

impl Default for Elu {
    /// `alpha = 1`, PyTorch's default.
    fn default() -> Self {
        Self { alpha: 1.0 }
    }
}

impl<T: Float> Activation<T> for Elu {
    fn name(&self) -> &'static str {
        "Elu"
    }
    fn forward(&self, mut z: MatrixViewMut<'_, T>) {
        let alpha = T::of(self.alpha);
        linalg::apply(&mut z, |x| {
            if *x <= T::zero() {
                *x = x.exp_m1() * alpha;
            }
        });
    }
    fn backward(&self, z: MatrixView<'_, T>, mut delta: MatrixViewMut<'_, T>) {
        let alpha = T::of(self.alpha);
        linalg::zip_apply(&mut delta, &z, |d, z| {
            if z <= T::zero() {
                *d = *d * alpha * z.exp();
            }
        });
    }
    fn needs_input(&self) -> bool {
        true
    }
    fn config(&self) -> Option<Config> {
        Some(Config::new().with("alpha", self.alpha))
    }
}

/// Gaussian error linear unit, PyTorch's `GELU(approximate)`: `z` weighted by the standard normal
/// distribution function `Phi(z)`, exactly (with `erf`) or by PyTorch's `tanh` approximation.
///
/// ```text
/// Exact:  f(z)  = z * Phi(z),   Phi(z) = 0.5 (1 + erf(z / sqrt 2)) = 0.5 erfc(-z / sqrt 2)
///         f'(z) = Phi(z) + z * exp(-z^2 / 2) / sqrt(2 pi)
/// Tanh:   f(z)  = 0.5 z (1 + tanh(u)),   u = sqrt(2 / pi) (z + 0.044715 z^3)
///         f'(z) = 0.5 (1 + tanh(u)) + 0.5 z (1 - tanh(u)^2) sqrt(2 / pi) (1 + 3 * 0.044715 z^2)
/// ```
///
/// `Phi(z)` is computed as `erfc(-z / sqrt 2) / 2`, which keeps its relative accuracy far below
/// zero, where PyTorch's `1 + erf(z / sqrt 2)` cancels (at `z = -5` in `f32` PyTorch's value is
/// 17% off); elsewhere the two agree to a few units in the last place. `erfc` comes from the
/// [`libm`](https://docs.rs/libm) crate, a port of musl's, within about one unit in the last
/// place in `f32` and `f64`.
///
/// ```
/// use backprop::prelude::*;
/// use nalgebra::DMatrix;
///
/// let mut z = DMatrix::from_row_slice(1, 3, &[-30.0, 0.0, 1.0]);
/// Activation::<f64>::forward(&Gelu::Exact, z.as_view_mut());
/// // -30 Phi(-30), with Phi(-30) = 4.90671392714e-198 (PyTorch's formula gives 0 here).
/// assert!((z[(0, 0)] / (-30.0 * 4.90671392714e-198) - 1.0).abs() < 1e-11);
/// assert_eq!(z[(0, 1)], 0.0);
/// assert!((z[(0, 2)] - 0.8413447460685429).abs() < 1e-15);    // Phi(1)
/// let mut z = DMatrix::from_row_slice(1, 1, &[1.0_f32]);
/// Activation::<f32>::forward(&Gelu::Tanh, z.as_view_mut());
/// assert!((z[(0, 0)] - 0.841192).abs() < 1e-6);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Gelu {
    /// `z * Phi(z)` with `erf` (PyTorch's `approximate='none'`, the default).
    #[default]
    Exact,
    /// The `tanh` approximation (PyTorch's `approximate='tanh'`).
    Tanh,
}

/// `sqrt(2 / pi)`, computed as PyTorch writes it.
const GELU_TANH_BETA: f64 = SQRT_2 * FRAC_2_SQRT_PI * 0.5;
/// The cubic coefficient of the `tanh` approximation.
const GELU_TANH_KAPPA: f64 = 0.044715;
/// `1 / sqrt(2 pi)`, the standard normal density at 0, computed as PyTorch writes it.
const GELU_PDF: f64 = FRAC_2_SQRT_PI * FRAC_1_SQRT_2 * 0.5;

impl<T: Float> Activation<T> for Gelu {
    fn name(&self) -> &'static str {
        "Gelu"
    }
    fn forward(&self, mut z: MatrixViewMut<'_, T>) {
        let half = T::of(0.5);
        match self {
            Gelu::Exact => linalg::apply(&mut z, |x| *x = *x * normal_cdf(*x)),
            Gelu::Tanh => {
                let (beta, kappa) = (T::of(GELU_TANH_BETA), T::of(GELU_TANH_KAPPA));
                linalg::apply(&mut z, |x| {
                    let inner = beta * (*x + kappa * (*x * *x * *x));
                    *x = half * *x * (T::one() + inner.tanh());
                });
            }
        }
    }
    fn backward(&self, z: MatrixView<'_, T>, mut delta: MatrixViewMut<'_, T>) {
        let half = T::of(0.5);
        match self {
            Gelu::Exact => {
                let pdf = T::of(GELU_PDF);
                linalg::zip_apply(&mut delta, &z, |d, x| {
                    let density = pdf * (x * x * T::of(-0.5)).exp();
                    *d *= normal_cdf(x) + x * density;
                });
            }
            Gelu::Tanh => {
                let (beta, kappa) = (T::of(GELU_TANH_BETA), T::of(GELU_TANH_KAPPA));
                linalg::zip_apply(&mut delta, &z, |d, x| {
                    let x_sq = x * x;
                    let tanh_inner = (beta * (x + kappa * (x_sq * x))).tanh();
                    let left = half * x;
                    let right = T::one() + tanh_inner;
                    let left_derivative = half * right;
                    let right_derivative = left
                        * (T::one() - tanh_inner * tanh_inner)
                        * beta
                        * (T::one() + T::of(3.0) * kappa * x_sq);
                    *d *= left_derivative + right_derivative;
                });
            }
        }
    }
    fn needs_input(&self) -> bool {
        true
    }
    fn config(&self) -> Option<Config> {
        let approximate = match self {
            Gelu::Exact => "none",
            Gelu::Tanh => "tanh",
        };
        Some(Config::new().with("approximate", approximate))
    }
}

/// Sigmoid linear unit (swish), PyTorch's `SiLU`: `z` weighted by its sigmoid.
///
/// ```text
/// f(z)  = z * s(z) = z / (1 + exp(-z))
/// f'(z) = s(z) * (1 + z * (1 - s(z)))
/// ```
///
/// ```
/// use backprop::prelude::*;
/// use nalgebra::DMatrix;
///
/// let mut z = DMatrix::from_row_slice(1, 3, &[-1e3, 0.0, 1e3]);
/// Activation::<f64>::forward(&Silu, z.as_view_mut());
/// assert_eq!(z.as_slice(), &[0.0, 0.0, 1e3]);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Silu;

impl<T: Float> Activation<T> for Silu {
    fn name(&self) -> &'static str {
        "Silu"
    }
    fn forward(&self, mut z: MatrixViewMut<'_, T>) {
        linalg::apply(&mut z, |x| *x = *x / (T::one() + (-*x).exp()));
    }
    fn backward(&self, z: MatrixView<'_, T>, mut delta: MatrixViewMut<'_, T>) {
        linalg::zip_apply(&mut delta, &z, |d, x| {
            let s = T::one() / (T::one() + (-x).exp());
            *d = *d * s * (T::one() + x * (T::one() - s));
        });
    }
    fn needs_input(&self) -> bool {
        true
    }
    fn config(&self) -> Option<Config> {
        Some(Config::new())
    }
}

/// Softplus, PyTorch's `Softplus()` (`beta = 1`, `threshold = 20`): a smooth ReLU, linear above
/// the threshold so that `exp` never overflows.
///
/// ```text
/// f(z)  = z  if z > 20,   ln(1 + exp(z))          otherwise
/// f'(z) = 1  if z > 20,   exp(z) / (exp(z) + 1)   otherwise
/// ```
///
/// ```
/// use backprop::prelude::*;
/// use nalgebra::DMatrix;
///
/// let mut z = DMatrix::from_row_slice(1, 3, &[-1e3, 0.0, 1e3]);
/// Activation::<f64>::forward(&Softplus, z.as_view_mut());
/// assert_eq!(z.as_slice(), &[0.0, std::f64::consts::LN_2, 1e3]);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Softplus;

/// PyTorch's default `threshold`: above it softplus is the identity.
const SOFTPLUS_THRESHOLD: f64 = 20.0;

impl<T: Float> Activation<T> for Softplus {
    fn name(&self) -> &'static str {
        "Softplus"
    }
    fn forward(&self, mut z: MatrixViewMut<'_, T>) {
        let threshold = T::of(SOFTPLUS_THRESHOLD);
        linalg::apply(&mut z, |x| {
            if *x <= threshold {
                *x = x.exp().ln_1p();
            }
        });
    }
    fn backward(&self, z: MatrixView<'_, T>, mut delta: MatrixViewMut<'_, T>) {
        let threshold = T::of(SOFTPLUS_THRESHOLD);
        linalg::zip_apply(&mut delta, &z, |d, x| {
            if x <= threshold {
                let e = x.exp();
                *d = *d * e / (e + T::one());
            }
        });
    }
    fn needs_input(&self) -> bool {
        true
    }
    fn config(&self) -> Option<Config> {
        Some(Config::new())
    }
}

/// The standard normal distribution function `Phi(x) = erfc(-x / sqrt 2) / 2`, in `T`'s own
/// precision and accurate relative to its value for every `x`.
#[inline(always)]
fn normal_cdf<T: Float>(x: T) -> T {
    let t = -x * T::of(FRAC_1_SQRT_2);
    // Both conversions are exact: `t` is an `f32` when `T` is.
    let erfc = if T::NAME == "f32" {
        T::of(f64::from(libm::erfcf(t.as_f64() as f32)))
    } else {
        T::of(libm::erfc(t.as_f64()))
    };
    T::of(0.5) * erfc
}

/// [`Error::InvalidParameter`] unless `value` is finite.
fn check_finite(name: &'static str, value: f64) -> Result<()> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(Error::param(name, value, "must be finite"))
    }
}

/// Whether `f` is one of the crate's own activations (its type, not the name it gives).
#[cfg(feature = "safetensors")]
pub(crate) fn is_builtin<T: Float>(f: &dyn Activation<T>) -> bool {
    let f: &dyn Any = f;
    f.is::<Identity>()
        || f.is::<Relu>()
        || f.is::<Sigmoid>()
        || f.is::<Tanh>()
        || f.is::<Softmax>()
        || f.is::<LeakyRelu>()
        || f.is::<Elu>()
        || f.is::<Gelu>()
        || f.is::<Silu>()
        || f.is::<Softplus>()
}

/// The crate's activation saved as `name` with `config`, `None` if `name` is not one of the crate's.
///
/// # Errors
///
/// [`Error::Format`] for a setting it does not have or a value it cannot take.
#[cfg(feature = "safetensors")]
pub(crate) fn builtin<T: Float>(
    name: &str,
    config: &Config,
) -> Option<Result<Box<dyn Activation<T>>>> {
    let keys: &[&str] = match name {
        "Identity" | "Relu" | "Sigmoid" | "Tanh" | "Softmax" | "Silu" | "Softplus" => &[],
        "LeakyRelu" => &["slope"],
        "Elu" => &["alpha"],
        "Gelu" => &["approximate"],
        _ => return None,
    };
    let bad = |reason: String| Error::Format {
        path: "settings".into(),
        reason: format!("activation {name}: {reason}"),
    };
    if let Some((key, _)) = config.iter().find(|(k, _)| !keys.contains(k)) {
        return Some(Err(bad(format!("no setting {key:?}"))));
    }
    let param = |e: Error| bad(e.to_string());
    let f: Result<Box<dyn Activation<T>>> = (|| {
        Ok(match name {
            "Identity" => Box::new(Identity) as Box<dyn Activation<T>>,
            "Relu" => Box::new(Relu),
            "Sigmoid" => Box::new(Sigmoid),
            "Tanh" => Box::new(Tanh),
            "Softmax" => Box::new(Softmax),
            "Silu" => Box::new(Silu),
            "Softplus" => Box::new(Softplus),
            "LeakyRelu" => Box::new(LeakyRelu::new(config.parse("slope")?).map_err(param)?),
            "Elu" => Box::new(Elu::new(config.parse("alpha")?).map_err(param)?),
            _ => Box::new(match config.get("approximate")? {
                "none" => Gelu::Exact,
                "tanh" => Gelu::Tanh,
                other => return Err(bad(format!("approximate {other:?} is not none or tanh"))),
            }),
        })
    })();
    Some(f)
}
