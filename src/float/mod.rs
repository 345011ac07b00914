//! The one float bound of the crate.

use std::fmt::{Debug, Display, LowerExp};

use nalgebra::RealField;

mod exp;

pub(crate) mod sealed {
    /// Keeps [`Float`](super::Float) to `f32` and `f64`, and holds what the crate needs of each
    /// that is not part of the public trait.
    pub trait Sealed {
        /// `exp(self)` within one ulp, in straight-line code that vectorizes (see `exp.rs`).
        fn exp_vec(self) -> Self;
    }
    impl Sealed for f32 {
        #[inline(always)]
        fn exp_vec(self) -> f32 {
            super::exp::exp_f32(self)
        }
    }
    impl Sealed for f64 {
        #[inline(always)]
        fn exp_vec(self) -> f64 {
            super::exp::exp_f64(self)
        }
    }
}

/// The element type of every matrix in the crate: `f32` or `f64`.
///
/// One bound keeps signatures short (`Sequential<T: Float>`). `f64` reproduces the book's numbers
/// bit for bit; `f32` is the fast path. The trait is sealed: the crate's matrix-product kernels
/// exist for exactly these two types.
///
/// ```
/// use backprop::Float;
/// fn half<T: Float>(x: T) -> T { x * T::of(0.5) }
/// assert_eq!(half(3.0_f32), 1.5);
/// assert_eq!(half(3.0_f64).as_f64(), 1.5);
/// ```
pub trait Float:
    RealField + Copy + Default + Debug + Display + LowerExp + Send + Sync + 'static + sealed::Sealed
{
    /// `"f32"` or `"f64"`.
    const NAME: &'static str;

    /// Converts from `f64` (rounding to nearest for `f32`): `T::of(0.5)`.
    fn of(x: f64) -> Self;

    /// Converts to `f64` (exact).
    fn as_f64(self) -> f64;

    /// Converts a count or index.
    #[inline]
    fn of_usize(n: usize) -> Self {
        Self::of(n as f64)
    }

    /// `true` unless the value is NaN or infinite.
    #[inline]
    fn finite(self) -> bool {
        self.as_f64().is_finite()
    }
}

macro_rules! impl_float {
    ($t:ty, $name:literal) => {
        impl Float for $t {
            const NAME: &'static str = $name;

            #[inline]
            fn of(x: f64) -> Self {
                x as $t
            }

            #[inline]
            fn as_f64(self) -> f64 {
                self as f64
            }

            #[inline]
            fn finite(self) -> bool {
                self.is_finite()
            }
        }
    };
}

impl_float!(f32, "f32");
impl_float!(f64, "f64");
