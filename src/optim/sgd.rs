//! Plain stochastic gradient descent.

use crate::{Error, Float, Matrix, Optimizer, Result};

/// Gradient descent with a fixed learning rate: the book's `weights -= alpha * weight_delta`.
///
/// ```text
/// weights_1_2 -= alpha * weight_delta_1_2
/// ```
///
/// ```
/// use backprop::Sgd;
/// let sgd = Sgd::<f64>::new(0.1).unwrap();
/// assert_eq!(sgd.learning_rate(), 0.1);
/// assert!(Sgd::<f64>::new(-1.0).is_err());
/// assert!(Sgd::<f64>::new(f64::NAN).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sgd<T: Float> {
    alpha: T,
}

impl<T: Float> Sgd<T> {
    /// Gradient descent with learning rate `alpha`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] unless `alpha` is finite and positive.
    pub fn new(alpha: T) -> Result<Self> {
        if !(alpha.finite() && alpha > T::zero()) {
            return Err(Error::param(
                "learning rate",
                alpha.as_f64(),
                "must be finite and positive",
            ));
        }
        Ok(Sgd { alpha })
    }

    /// The learning rate `alpha`.
    pub fn learning_rate(&self) -> T {
        self.alpha
    }
}

impl<T: Float> Optimizer<T> for Sgd<T> {
    fn update(&mut self, _index: usize, value: &mut Matrix<T>, grad: &Matrix<T>) {
        // weights -= alpha * weight_delta
        let alpha = self.alpha;
        value.zip_apply(grad, |w, g| *w -= alpha * g);
    }
}
