//! Gradient clipping by global norm.

use crate::{Error, Float, Matrix, Result};

/// The global (Euclidean) norm of a set of gradients: all their entries taken as one vector.
///
/// ```text
/// norm = sqrt( sum over every matrix, every entry, of g^2 )
/// ```
///
/// Summed in `f64`, so `f32` gradients do not overflow on the way.
///
/// ```
/// use backprop::optim::global_norm;
/// use nalgebra::DMatrix;
/// let a = DMatrix::from_row_slice(1, 2, &[3.0_f64, 0.0]);
/// let b = DMatrix::from_element(1, 1, 4.0);
/// assert_eq!(global_norm([&a, &b]), 5.0);
/// ```
pub fn global_norm<'a, T: Float>(grads: impl IntoIterator<Item = &'a Matrix<T>>) -> T {
    T::of(norm_f64(grads))
}

fn norm_f64<'a, T: Float>(grads: impl IntoIterator<Item = &'a Matrix<T>>) -> f64 {
    let sum: f64 = grads
        .into_iter()
        .flat_map(|g| g.iter())
        .map(|g| g.as_f64() * g.as_f64())
        .sum();
    sum.sqrt()
}

/// What [`ClipGradNorm::apply`] did: the norm before clipping and the factor applied.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Clipped<T: Float> {
    /// The global norm of the gradients before clipping (what PyTorch's `clip_grad_norm_`
    /// returns).
    pub norm: T,
    /// The factor every gradient was multiplied by: 1 when the norm was within the limit.
    pub scale: T,
}

/// Gradient clipping by global norm, as PyTorch's `torch.nn.utils.clip_grad_norm_` (2-norm).
///
/// If the norm of all the gradients together exceeds `max_norm`, every gradient is scaled by the
/// same factor, so the direction of the whole step is kept and only its length is limited:
///
/// ```text
/// norm  = sqrt(sum of every g^2)
/// scale = min(1, max_norm / (norm + 1e-6))
/// g    *= scale                                    (for every gradient matrix)
/// ```
///
/// Unlike PyTorch's default (`error_if_nonfinite=False`), a NaN or infinite gradient is an error
/// and nothing is scaled.
///
/// # How a model uses it
///
/// Clipping needs the norm of *all* gradients before *any* parameter is updated, so a model that
/// clips does, after the backward pass and before [`Optimizer::begin_step`](crate::Optimizer::begin_step):
///
/// 1. `let norm = global_norm(every parameter's grad)`, then
///    `let scale = clip.scale(norm)?` (a non-finite norm stops the step before any change);
/// 2. multiplies every gradient by `scale` (or hands `scale * grad` to
///    [`Optimizer::update`](crate::Optimizer::update)) when `scale < 1`.
///
/// With gradients you hold yourself, [`apply`](ClipGradNorm::apply) does both.
///
/// ```
/// use backprop::optim::ClipGradNorm;
/// use nalgebra::DMatrix;
///
/// let clip = ClipGradNorm::new(1.0)?;
/// let mut a = DMatrix::from_row_slice(1, 2, &[3.0_f64, 0.0]);
/// let mut b = DMatrix::from_element(1, 1, 4.0);
/// let done = clip.apply(&mut [&mut a, &mut b])?;
/// assert_eq!(done.norm, 5.0);
/// assert!((a[(0, 0)] - 0.6).abs() < 1e-6 && (b[(0, 0)] - 0.8).abs() < 1e-6);
/// assert!(ClipGradNorm::<f64>::new(0.0).is_err());
/// # Ok::<(), backprop::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClipGradNorm<T: Float> {
    max_norm: T,
}

impl<T: Float> ClipGradNorm<T> {
    /// Clip to a global norm of at most `max_norm`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] unless `max_norm` is finite and positive.
    pub fn new(max_norm: T) -> Result<Self> {
        if max_norm.finite() && max_norm > T::zero() {
            Ok(ClipGradNorm { max_norm })
        } else {
            Err(Error::param(
                "max norm",
                max_norm.as_f64(),
                "must be finite and positive",
            ))
        }
    }

    /// The largest global norm allowed.
    pub fn max_norm(&self) -> T {
        self.max_norm
    }

    /// The factor for gradients of global norm `norm`: `min(1, max_norm / (norm + 1e-6))`.
    ///
    /// # Errors
    ///
    /// [`Error::NonFinite`] if `norm` is NaN or infinite (some gradient is); its row and column
    /// are 0, since the norm alone does not say where.
    pub fn scale(&self, norm: T) -> Result<T> {
        self.scale_f64(norm.as_f64())
    }

    fn scale_f64(&self, norm: f64) -> Result<T> {
        if !norm.is_finite() {
            return Err(Error::NonFinite {
                what: "global gradient norm".to_string(),
                row: 0,
                col: 0,
                value: norm,
            });
        }
        let coef = self.max_norm.as_f64() / (norm + 1e-6);
        Ok(T::of(coef.min(1.0)))
    }

    /// Clips `grads` in place to a global norm of at most `max_norm`, as `clip_grad_norm_`.
    ///
    /// # Errors
    ///
    /// [`Error::NonFinite`] naming the first NaN or infinite entry (`what` is `"gradient k"`, the
    /// position in `grads`); then no gradient is changed.
    pub fn apply(&self, grads: &mut [&mut Matrix<T>]) -> Result<Clipped<T>> {
        for (k, g) in grads.iter().enumerate() {
            if let Some((pos, v)) = g.iter().enumerate().find(|(_, v)| !v.finite()) {
                return Err(Error::NonFinite {
                    what: format!("gradient {k}"),
                    row: pos % g.nrows(),
                    col: pos / g.nrows(),
                    value: v.as_f64(),
                });
            }
        }
        let norm = norm_f64(grads.iter().map(|g| &**g));
        let scale = self.scale_f64(norm)?;
        if scale < T::one() {
            for g in grads.iter_mut() {
                g.scale_mut(scale);
            }
        }
        Ok(Clipped {
            norm: T::of(norm),
            scale,
        })
    }
}
